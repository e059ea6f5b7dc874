/*
 * Routing, first step: the model name the client asked for -> its group of deployments (a
 * model_name, a model_group_alias, else the wildcard pattern that serves the name), one of
 * which must serve this kind of request. Which one answers is the attempt loop's choice.
 */
#include "sllmp/buf.h"
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/route.h"

#include <string.h>

#define TAGS_MAX 64 /* of one request; more are ignored */

/* tag, unless tags already has it (or is full). */
static void
tag_add(sllmp_req_t *r, const char *tag, size_t len)
{
    if (len == 0 || r->ntags >= TAGS_MAX) {
        return;
    }
    for (size_t i = 0; i < r->ntags; i++) {
        if (strncmp(r->tags[i], tag, len) == 0 && r->tags[i][len] == '\0') {
            return;
        }
    }
    r->tags[r->ntags++] = sllmp_arena_strndup(r->arena, tag, len);
}

static void
tag_list_add(sllmp_req_t *r, const cJSON *list)
{
    const cJSON *t;

    if (!cJSON_IsArray(list)) {
        return;
    }
    cJSON_ArrayForEach(t, list)
    {
        if (cJSON_IsString(t)) {
            tag_add(r, t->valuestring, strlen(t->valuestring));
        }
    }
}

void
sllmp_request_tags(sllmp_req_t *r)
{
    const cJSON *body = cJSON_IsObject(r->json) ? r->json : NULL;
    const char *h = sllmp_req_param(r, "HTTP_X_LITELLM_TAGS");

    if (r->tags != NULL) {
        return;
    }
    r->tags = sllmp_arena_calloc(r->arena, TAGS_MAX * sizeof(*r->tags));
    r->ntags = 0;
    tag_list_add(r, cJSON_GetObjectItemCaseSensitive(body, "tags"));
    tag_list_add(r, cJSON_GetObjectItemCaseSensitive(
                        cJSON_GetObjectItemCaseSensitive(body, "metadata"), "tags"));
    while (h != NULL && *h != '\0') {
        size_t len = strcspn(h, ",");
        const char *t = h, *end = h + len;

        while (t < end && (*t == ' ' || *t == '\t')) {
            t++;
        }
        while (end > t && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        tag_add(r, t, (size_t)(end - t));
        h += len + (h[len] == ',');
    }
    for (size_t i = 0; r->key != NULL && i < r->key->ntags; i++) {
        tag_add(r, r->key->tags[i], strlen(r->key->tags[i]));
    }
}

/* The request's tags as LiteLLM prints them: ['a', 'b']. */
static const char *
tag_text(sllmp_req_t *r)
{
    sllmp_buf_t b;
    const char *s;

    sllmp_buf_init(&b, 0);
    sllmp_buf_append(&b, "[", 1);
    for (size_t i = 0; i < r->ntags; i++) {
        sllmp_buf_printf(&b, "%s'%s'", i ? ", " : "", r->tags[i]);
    }
    sllmp_buf_append(&b, "]", 1);
    s = sllmp_arena_strdup(r->arena, b.ptr);
    sllmp_buf_free(&b);
    return s;
}

static sllmp_rc_t
router_pre(sllmp_req_t *r, void *mw_conf)
{
    const sllmp_deployment_t *group[SLLMP_GROUP_MAX];
    const char *name = sllmp_conf_route_name(r->conf, r->model);
    size_t n = name != NULL ? sllmp_conf_group(r->conf, name, group, SLLMP_GROUP_MAX) : 0, k = 0;
    int keep[SLLMP_GROUP_MAX], filtered = 0;

    (void)mw_conf;
    r->group = name;
    /* a wildcard pattern's deployments as they serve this name: its model, and so its price */
    for (size_t i = 0; i < n; i++) {
        group[i] = sllmp_deployment_for(group[i], name, r->arena);
    }
    if (r->conf->router.tag_filtering) {
        sllmp_request_tags(r);
    }
    /* LiteLLM's tag routing: only the deployments the request's tags allow */
    if (sllmp_route_tag_filter(&r->conf->router, group, n, r->tags, r->ntags, keep) < n) {
        for (size_t i = 0; i < n; i++) {
            if (keep[i]) {
                group[k++] = group[i];
            }
        }
        n = k;
        filtered = 1; /* some were left out */
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
    if ((r->dep != NULL || filtered) && !sllmp_key_allows(r->key, r->model) &&
        !sllmp_key_allows(r->key, r->group)) {
        return sllmp_req_fail(r, SLLMP_ERR_PERMISSION, "model",
                              "This API key is not allowed to use the model '%.*s'.",
                              sllmp_utf8_prec(r->model, 200), r->model);
    }
    if (r->dep == NULL && filtered) {
        /* LiteLLM's words (RouterErrors.no_deployments_with_tag_routing), and its proxy's 401 */
        r->err_code = "no_deployments_with_tag_routing";
        return sllmp_req_fail(r, SLLMP_ERR_AUTH, NULL,
                              "Not allowed to access model due to tags configuration. Passed "
                              "model=%.*s and tags=%s",
                              sllmp_utf8_prec(r->model, 200), r->model, tag_text(r));
    }
    if (r->dep == NULL) {
        return sllmp_req_fail(r, SLLMP_ERR_MODEL_NOT_FOUND, "model",
                              "The model '%.*s' does not exist or is not configured on this "
                              "gateway.",
                              sllmp_utf8_prec(r->model, 200), r->model);
    }
    if (!sllmp_provider_serves(r->dep, r->kind)) {
        static const char *const what[] = {"/v1/chat/completions",
                                           "/v1/completions",
                                           "/v1/embeddings",
                                           "/v1/messages",
                                           "/v1/messages/count_tokens",
                                           "/v1/responses",
                                           "/v1/images/generations",
                                           "/v1/moderations"};
        /* who does serve it, where only some providers do */
        static const char *const who[] = {
            [SLLMP_KIND_MESSAGES] = " /v1/messages is served by anthropic/ deployments and "
                                    "bedrock/ deployments of Anthropic models.",
            [SLLMP_KIND_COMPLETIONS] = " /v1/completions is served by OpenAI-compatible and "
                                       "Azure deployments.",
            [SLLMP_KIND_IMAGES] = " /v1/images/generations is served by OpenAI-compatible and "
                                  "Azure deployments.",
            [SLLMP_KIND_MODERATIONS] = " /v1/moderations is served by OpenAI-compatible "
                                       "deployments (Azure OpenAI has no moderations API)."};

        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "model",
                              "The model '%.*s' (provider %s) is not served on %s.%s",
                              sllmp_utf8_prec(r->model, 200), r->model, r->dep->provider_name,
                              what[r->kind], who[r->kind] != NULL ? who[r->kind] : "");
    }
    return SLLMP_GO_ON;
}

const sllmp_middleware_t sllmp_mw_router = {
    .name = "router",
    .pre = router_pre,
};
