/*
 * Usage from the stream. The gateway always asks the upstream for usage
 * (stream_options.include_usage), so it knows what a stream cost; the usage-only chunk
 * ("choices": []) goes on to the client only when the client asked for it itself, since clients
 * that did not ask may index choices[0] (protocols.md §0.6).
 */
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"

void
sllmp_usage_read(sllmp_req_t *r, const cJSON *usage)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(usage, "total_tokens");

    if (!cJSON_IsObject(usage)) {
        return;
    }
    r->usage_seen = 1;
    r->prompt_tokens = cJSON_IsNumber(p) ? (long)p->valuedouble : 0;
    r->completion_tokens = cJSON_IsNumber(c) ? (long)c->valuedouble : 0;
    r->total_tokens =
        cJSON_IsNumber(t) ? (long)t->valuedouble : r->prompt_tokens + r->completion_tokens;
}

static sllmp_rc_t
usage_chunk(sllmp_req_t *r, void *mw_conf, sllmp_chunk_t *chunk)
{
    const cJSON *usage, *choices;

    (void)mw_conf;
    if (chunk->json == NULL) {
        return SLLMP_GO_ON;
    }
    usage = cJSON_GetObjectItemCaseSensitive(chunk->json, "usage");
    if (cJSON_IsObject(usage)) {
        sllmp_usage_read(r, usage);
        choices = cJSON_GetObjectItemCaseSensitive(chunk->json, "choices");
        if (!r->client_wants_usage && cJSON_IsArray(choices) && cJSON_GetArraySize(choices) == 0) {
            chunk->drop = 1;
        }
    }
    return SLLMP_GO_ON;
}

const sllmp_middleware_t sllmp_mw_usage = {
    .name = "usage",
    .on_chunk = usage_chunk,
};
