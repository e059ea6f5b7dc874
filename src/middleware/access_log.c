/*
 * One line per request at `info`: who, which model, status, times, tokens. Never keys, never
 * bodies. (The JSON access log with its own file comes with the metrics work.)
 */
#include "sllmp/conf.h"
#include "sllmp/error.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"

#include <string.h>

/* The model as the client named it, unless it holds a key (a client's slip must not log one). */
static const char *
model_name(sllmp_req_t *r)
{
    const char *keys[2] = {sllmp_auth_presented_key(r), r->conf ? r->conf->master_key : NULL};

    if (r->model == NULL) {
        return "-";
    }
    for (int i = 0; i < 2; i++) {
        if (keys[i] != NULL && strlen(keys[i]) >= 4 && strstr(r->model, keys[i]) != NULL) {
            return "[REDACTED]";
        }
    }
    return r->model;
}

static void
access_complete(sllmp_req_t *r, void *mw_conf)
{
    int64_t now = sllmp_now_ms();

    (void)mw_conf;
    r->end_ms = now;
    sllmp_log(r->id, SLLMP_LOG_INFO,
              "%s %s model=%s status=%d%s%s%s stream=%d ms=%lld ttft_ms=%lld tokens=%ld/%ld%s "
              "cost_usd=%.8f",
              r->method ? r->method : "-", r->path ? r->path : "-", model_name(r), r->status,
              r->client_gone ? " client_gone" : "", r->err != SLLMP_OK ? " error=" : "",
              r->err != SLLMP_OK ? sllmp_err_info(r->err)->name + 10 : "", r->stream,
              (long long)(now - r->start_ms),
              (long long)(r->first_token_ms ? r->first_token_ms - r->start_ms : -1),
              sllmp_usage_prompt(&r->usage), sllmp_usage_completion(&r->usage),
              r->usage.estimated ? " estimated" : "", r->cost_usd);
}

const sllmp_middleware_t sllmp_mw_access_log = {
    .name = "access_log",
    .complete = access_complete,
};
