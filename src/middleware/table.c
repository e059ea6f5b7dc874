/*
 * The order of the middleware: one list, read top to bottom for pre, llm_call, on_chunk, post
 * and error, bottom to top for complete. Add a middleware here and nowhere else.
 */
#include "sllmp/middleware.h"

const sllmp_middleware_t *const sllmp_middleware_table[] = {
    &sllmp_mw_trace,      /* pre: trace ids; on_chunk: the answer; complete: the spool record,
                           * after the response ended */
    &sllmp_mw_access_log, /* complete: the metrics, before the response ends (a client that
                           * scrapes next sees its request counted); the log line comes after */
    &sllmp_mw_auth,       /* pre: the master key */
    &sllmp_mw_validate,   /* pre: the body's shape */
    &sllmp_mw_router,     /* pre: model name -> deployment */
    &sllmp_mw_limits,     /* pre: reserve rpm, tpm, parallel, budget; complete: settle */
    &sllmp_mw_cache,      /* llm_call: a cached answer; on_chunk, post: keep a new one (its
                           * chunks before usage hides the usage chunk) */
    &sllmp_mw_usage,      /* on_chunk: record usage, hide the usage chunk nobody asked for */
    &sllmp_mw_cost,       /* post: estimate missing usage, price it, x-sllmp-cost-usd */
    &sllmp_mw_responses,  /* on_chunk, post, error: /v1/responses' answer in its shapes, from
                           * the chunks as counted and the usage as priced */
    &sllmp_mw_messages,   /* on_chunk, post: /v1/messages through chat, in its shapes */
    &sllmp_mw_provider,   /* llm_call: the provider adapter */
    NULL,
};
