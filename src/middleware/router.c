/*
 * Routing, first step: the model name the client asked for -> its group of deployments (a
 * model_name, a model_group_alias, else the wildcard pattern that serves the name), one of
 * which must serve this kind of request. Which one answers is the attempt loop's choice.
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/route.h"

#include <string.h>

static sllmp_rc_t
router_pre(sllmp_req_t *r, void *mw_conf)
{
    const sllmp_deployment_t *group[SLLMP_GROUP_MAX];
    const char *name = sllmp_conf_route_name(r->conf, r->model);
    size_t n = name != NULL ? sllmp_conf_group(r->conf, name, group, SLLMP_GROUP_MAX) : 0;

    (void)mw_conf;
    r->group = name;
    /* a wildcard pattern's deployments as they serve this name: its model, and so its price */
    for (size_t i = 0; i < n; i++) {
        group[i] = sllmp_deployment_for(group[i], name, r->arena);
    }
    /* the group's first deployment that serves this kind stands for it until the attempt loop
     * (provider.c) picks one: the limits price the worst case with it */
    r->dep = n > 0 ? group[0] : NULL;
    for (size_t i = 0; i < n; i++) {
        if (sllmp_provider_serves(group[i], r->kind)) {
            r->dep = group[i];
            break;
        }
    }
    /* an alias is allowed by its own name or by its group's */
    if (r->dep != NULL && !sllmp_key_allows(r->key, r->model) &&
        !sllmp_key_allows(r->key, r->group)) {
        return sllmp_req_fail(r, SLLMP_ERR_PERMISSION, "model",
                              "This API key is not allowed to use the model '%.*s'.",
                              sllmp_utf8_prec(r->model, 200), r->model);
    }
    if (r->dep == NULL) {
        return sllmp_req_fail(r, SLLMP_ERR_MODEL_NOT_FOUND, "model",
                              "The model '%.*s' does not exist or is not configured on this "
                              "gateway.",
                              sllmp_utf8_prec(r->model, 200), r->model);
    }
    if (!sllmp_provider_serves(r->dep, r->kind)) {
        static const char *const what[] = {
            "/v1/chat/completions", "/v1/completions",           "/v1/embeddings",
            "/v1/messages",         "/v1/messages/count_tokens", "/v1/responses"};

        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "model",
                              "The model '%.*s' (provider %s) is not served on %s.%s",
                              sllmp_utf8_prec(r->model, 200), r->model, r->dep->provider_name,
                              what[r->kind],
                              r->kind == SLLMP_KIND_MESSAGES
                                  ? " /v1/messages is served by anthropic/ deployments and "
                                    "bedrock/ deployments of Anthropic models."
                              : r->kind == SLLMP_KIND_COMPLETIONS
                                  ? " /v1/completions is served by OpenAI-compatible and Azure "
                                    "deployments."
                                  : "");
    }
    return SLLMP_GO_ON;
}

const sllmp_middleware_t sllmp_mw_router = {
    .name = "router",
    .pre = router_pre,
};
