/*
 * Usage from the stream. The gateway always asks the upstream for usage
 * (stream_options.include_usage), so it knows what a stream cost; the usage-only chunk
 * ("choices": []) goes on to the client only when the client asked for it itself, since clients
 * that did not ask may index choices[0] (protocols.md §0.6). The streamed content is measured
 * too, for the estimate when an upstream sends no usage at all.
 */
#include "sllmp/middleware.h"
#include "sllmp/req.h"
#include "sllmp/usage.h"

#include <string.h>

static sllmp_rc_t
usage_chunk(sllmp_req_t *r, void *mw_conf, sllmp_chunk_t *chunk)
{
    const cJSON *usage, *choices, *choice;

    (void)mw_conf;
    if (chunk->json == NULL) {
        return SLLMP_GO_ON;
    }
    choices = cJSON_GetObjectItemCaseSensitive(chunk->json, "choices");
    cJSON_ArrayForEach(choice, choices)
    {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");

        if (cJSON_IsString(content)) {
            r->completion_chars += strlen(content->valuestring);
        }
        if (calls != NULL) {
            /* tool-call arguments are output tokens too */
            char *text = cJSON_PrintUnformatted(calls);

            r->completion_chars += strlen(text);
            cJSON_free(text);
        }
    }
    usage = cJSON_GetObjectItemCaseSensitive(chunk->json, "usage");
    if (cJSON_IsObject(usage)) {
        sllmp_usage_from_openai(&r->usage, usage);
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
