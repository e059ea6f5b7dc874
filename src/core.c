/*
 * Process and thread setup of the core.
 */
#include "sllmp/core.h"
#include "sllmp/middleware.h"
#include "sllmp/pipeline.h"
#include "sllmp/upstream.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

volatile int sllmp_draining;

static void *
cjson_malloc(size_t n)
{
    return sllmp_xmalloc(n);
}

int
sllmp_core_init(void)
{
    cJSON_Hooks hooks = {cjson_malloc, free};

    cJSON_InitHooks(&hooks);
    if (sllmp_upstream_global_init() < 0) {
        return -1;
    }
    return sllmp_pipeline_init();
}

void
sllmp_core_fini(void)
{
    sllmp_pipeline_fini();
    sllmp_upstream_global_fini();
}

sllmp_worker_ctx_t *
sllmp_worker_new(int id)
{
    sllmp_worker_ctx_t *w = sllmp_xcalloc(1, sizeof(*w));

    w->id = id;
    w->curl = sllmp_upstream_handle_new();
    sllmp_arena_init(&w->arena, 16384);
    return w;
}

void
sllmp_worker_free(sllmp_worker_ctx_t *w)
{
    if (w == NULL) {
        return;
    }
    sllmp_upstream_handle_free(w->curl);
    sllmp_limits_cache_free(w->limits);
    sllmp_arena_destroy(&w->arena);
    free(w);
}
