/*
 * GET /ready: the config loaded, the spool directory can be written, and Redis answers when
 * one is configured. Each failed check adds a reason; the answer is 503 when there is one.
 */
#include "sllmp/ready.h"
#include "sllmp/conf.h"
#include "sllmp/spool.h"
#include "sllmp/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
reason(sllmp_buf_t *reasons, const char *text)
{
    sllmp_buf_appends(reasons, reasons->len ? ",\"" : "\"");
    sllmp_buf_json_escape(reasons, text, strlen(text));
    sllmp_buf_append(reasons, "\"", 1);
}

int
sllmp_ready_check(const sllmp_conf_t *c, sllmp_buf_t *out)
{
    sllmp_buf_t reasons;
    const char *spool = "ok", *redis = "not configured";
    char why[512];

    sllmp_buf_init(&reasons, 0);
    if (sllmp_spool_prepare(c->spool_dir) < 0 || access(c->spool_dir, W_OK | X_OK) < 0) {
        snprintf(why, sizeof(why), "spool dir %s is not writable: %s", c->spool_dir,
                 strerror(errno));
        reason(&reasons, why);
        spool = "failed";
    }
    if (c->redis_url != NULL) {
        redis = "ok";
        if (sllmp_redis_ping(c->redis_url, 200, why, sizeof(why)) < 0) {
            reason(&reasons, why);
            redis = "failed";
        }
    }
    if (reasons.len == 0) {
        sllmp_buf_printf(out,
                         "{\"status\":\"ready\",\"checks\":{\"config\":\"ok\",\"spool\":\"%s\","
                         "\"redis\":\"%s\"}}",
                         spool, redis);
    } else {
        sllmp_buf_printf(out,
                         "{\"status\":\"not_ready\",\"checks\":{\"config\":\"ok\","
                         "\"spool\":\"%s\",\"redis\":\"%s\"},\"reasons\":[%s]}",
                         spool, redis, reasons.ptr);
    }
    int ready = reasons.len == 0;

    sllmp_buf_free(&reasons);
    return ready;
}
