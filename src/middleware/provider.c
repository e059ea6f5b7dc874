/*
 * llm_call: hands the request to the adapter of its deployment's provider.
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"

static sllmp_rc_t
provider_call(sllmp_req_t *r, void *mw_conf)
{
    (void)mw_conf;
    switch (r->dep->provider) {
    case SLLMP_PROVIDER_OPENAI:
        return sllmp_provider_openai_chat(r);
    case SLLMP_PROVIDER_MOCK:
        return sllmp_provider_mock_chat(r);
    }
    return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
}

const sllmp_middleware_t sllmp_mw_provider = {
    .name = "provider",
    .llm_call = provider_call,
};
