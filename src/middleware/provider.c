/*
 * llm_call: hands the request to the adapter of its deployment's provider.
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/util.h"

int
sllmp_provider_serves(const sllmp_deployment_t *d, int kind)
{
    switch ((sllmp_kind_t)kind) {
    case SLLMP_KIND_CHAT:
        return 1;
    case SLLMP_KIND_COMPLETIONS:
        return d->provider == SLLMP_PROVIDER_OPENAI || d->provider == SLLMP_PROVIDER_AZURE;
    case SLLMP_KIND_EMBEDDINGS:
        return d->provider != SLLMP_PROVIDER_ANTHROPIC;
    case SLLMP_KIND_MESSAGES:
        return d->messages_api;
    }
    return 0;
}

static sllmp_rc_t
call(sllmp_req_t *r)
{
    sllmp_provider_t p = r->dep->provider;

    switch (r->kind) {
    case SLLMP_KIND_CHAT:
        switch (p) {
        case SLLMP_PROVIDER_OPENAI:
        case SLLMP_PROVIDER_AZURE:
            return sllmp_provider_openai_chat(r);
        case SLLMP_PROVIDER_MOCK:
            return sllmp_provider_mock_chat(r);
        case SLLMP_PROVIDER_ANTHROPIC:
            return sllmp_provider_anthropic_chat(r);
        case SLLMP_PROVIDER_GEMINI:
            return sllmp_provider_gemini_chat(r);
        case SLLMP_PROVIDER_BEDROCK:
            return sllmp_provider_bedrock_chat(r);
        }
        break;
    case SLLMP_KIND_COMPLETIONS:
        return sllmp_provider_openai_chat(r); /* the router let only OpenAI and Azure through */
    case SLLMP_KIND_EMBEDDINGS:
        switch (p) {
        case SLLMP_PROVIDER_GEMINI:
            return sllmp_provider_gemini_embeddings(r);
        case SLLMP_PROVIDER_BEDROCK:
            return sllmp_provider_bedrock_embeddings(r);
        case SLLMP_PROVIDER_MOCK:
            return sllmp_provider_mock_embeddings(r);
        default:
            return sllmp_provider_openai_chat(r);
        }
    case SLLMP_KIND_MESSAGES:
        return p == SLLMP_PROVIDER_BEDROCK ? sllmp_provider_bedrock_messages(r)
                                           : sllmp_provider_anthropic_messages(r);
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
