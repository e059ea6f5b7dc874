/*
 * Usage from the stream. The gateway always asks the upstream for usage
 * (stream_options.include_usage), so it knows what a stream cost; the usage-only chunk
 * ("choices": []) goes on to the client only when the client asked for it itself, since clients
 * that did not ask may index choices[0] (protocols.md §0.6). The streamed content is measured
 * too, for the estimate when an upstream sends no usage at all.
 */
#include "sllmp/middleware.h"
#include "sllmp/req.h"
#include "sllmp/translate.h"
#include "sllmp/usage.h"

#include <string.h>

/*
 * /v1/messages streams Anthropic's events: usage in message_start and (cumulative) in each
 * message_delta. message_start's output_tokens is a placeholder (1): until a message_delta
 * counts the output, it is estimated from what was streamed (marked so), for a stream cut or
 * left by its client before the count came.
 */
static sllmp_rc_t
anthropic_event(sllmp_req_t *r, const cJSON *ev)
{
    static const char *const fields[] = {"text", "partial_json", "thinking"};
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ev, "delta");

    if (!cJSON_IsString(type)) {
        return SLLMP_GO_ON;
    }
    if (strcmp(type->valuestring, "message_start") == 0) {
        sllmp_anthropic_usage_merge(&r->usage,
                                    cJSON_GetObjectItemCaseSensitive(
                                        cJSON_GetObjectItemCaseSensitive(ev, "message"), "usage"));
        r->usage.estimated = r->usage.seen;
    } else if (strcmp(type->valuestring, "message_delta") == 0) {
        sllmp_anthropic_usage_merge(&r->usage, cJSON_GetObjectItemCaseSensitive(ev, "usage"));
    } else if (strcmp(type->valuestring, "content_block_delta") == 0) {
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(delta, fields[i]);

            if (cJSON_IsString(text)) {
                r->completion_chars += strlen(text->valuestring);
                break;
            }
        }
        if (r->usage.seen && r->usage.estimated &&
            sllmp_estimate_tokens(r->completion_chars) > r->usage.output) {
            r->usage.output = sllmp_estimate_tokens(r->completion_chars);
        }
    }
    return SLLMP_GO_ON;
}

/*
 * /v1/responses passed through (kind RESPONSES): the usage comes whole in the Response of the
 * last event (response.completed, response.incomplete, response.failed); the deltas are
 * measured until then, for the estimate of a stream that ends without it.
 */
static sllmp_rc_t
responses_event(sllmp_req_t *r, const cJSON *ev)
{
    const char *type = sllmp_json_str(ev, "type");
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(ev, "response");
    const char *delta = sllmp_json_str(ev, "delta");

    if (type == NULL) {
        return SLLMP_GO_ON;
    }
    if (delta != NULL && strstr(type, ".delta") != NULL) {
        r->completion_chars += strlen(delta);
    } else if (strcmp(type, "response.completed") == 0 ||
               strcmp(type, "response.incomplete") == 0 || strcmp(type, "response.failed") == 0) {
        sllmp_usage_from_responses(&r->usage, cJSON_GetObjectItemCaseSensitive(resp, "usage"));
    }
    return SLLMP_GO_ON;
}

static sllmp_rc_t
usage_chunk(sllmp_req_t *r, void *mw_conf, sllmp_chunk_t *chunk)
{
    const cJSON *usage, *choices, *choice;

    (void)mw_conf;
    if (chunk->json == NULL) {
        return SLLMP_GO_ON;
    }
    if (r->kind == SLLMP_KIND_MESSAGES) {
        return anthropic_event(r, chunk->json);
    }
    if (r->kind == SLLMP_KIND_RESPONSES) {
        return responses_event(r, chunk->json);
    }
    choices = cJSON_GetObjectItemCaseSensitive(chunk->json, "choices");
    cJSON_ArrayForEach(choice, choices)
    {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");

        if (content == NULL) {
            content = cJSON_GetObjectItemCaseSensitive(choice, "text"); /* legacy completions */
        }
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
