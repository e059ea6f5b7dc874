/*
 * Process and thread setup of the core, called by the fronts (fcgi/, tests).
 */
#ifndef SLLMP_CORE_H
#define SLLMP_CORE_H

#include "sllmp/arena.h"
#include "sllmp/types.h"

struct sllmp_worker_ctx_s {
    int id;
    void *curl;          /* upstream handle, one per thread, reused (keep-alive, TLS resumption) */
    sllmp_arena_t arena; /* reset after every request */
    long requests;
    sllmp_limits_cache_t *limits; /* this thread's limit stores (src/middleware/limits.c) */
};

/* Once per process, before any thread: libcurl, cJSON hooks, the middleware. 0 or -1. */
int sllmp_core_init(void);
void sllmp_core_fini(void);

/* Per accept thread. */
sllmp_worker_ctx_t *sllmp_worker_new(int id);
void sllmp_worker_free(sllmp_worker_ctx_t *w);

/* Set by the front while draining: new requests are still served, heartbeats keep going. */
extern volatile int sllmp_draining;

#endif
