/*
 * llm_call: hands the request to the adapter of its deployment's provider.
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/util.h"

static sllmp_rc_t
call(sllmp_req_t *r)
{
    switch (r->dep->provider) {
    case SLLMP_PROVIDER_OPENAI:
        return sllmp_provider_openai_chat(r);
    case SLLMP_PROVIDER_MOCK:
        return sllmp_provider_mock_chat(r);
    }
    return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
}

/* Each call is an attempt, kept for the trace (a child span of the request). */
static sllmp_rc_t
provider_call(sllmp_req_t *r, void *mw_conf)
{
    sllmp_attempt_t *a = r->nattempts < SLLMP_ATTEMPTS_MAX ? &r->attempts[r->nattempts++] : NULL;
    sllmp_rc_t rc;

    (void)mw_conf;
    if (a != NULL) {
        a->dep = r->dep;
        a->start_ms = sllmp_now_ms();
    }
    rc = call(r);
    if (a != NULL) {
        a->end_ms = sllmp_now_ms();
        a->status = r->dep->provider == SLLMP_PROVIDER_MOCK && r->err == SLLMP_OK
                        ? 200
                        : r->upstream_status;
        a->err = r->err;
        a->error = r->err != SLLMP_OK ? r->err_message : NULL;
    }
    return rc;
}

const sllmp_middleware_t sllmp_mw_provider = {
    .name = "provider",
    .llm_call = provider_call,
};
