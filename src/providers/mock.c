/*
 * The built-in mock provider (`model: mock/<anything>`): answers in-process with the last user
 * message, so `make run` works with no key and no network. Streamed, one word per chunk, with
 * `mock_delay_ms` between chunks, in exactly OpenAI's chunk shapes (protocols.md §1.4).
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/translate.h"
#include "sllmp/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The text of the last user message; parts of type text are joined with spaces. */
static const char *
last_user_text(sllmp_req_t *r)
{
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
    const cJSON *m, *last = NULL;
    sllmp_buf_t b;

    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");

        if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0) {
            last = m;
        }
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");

    if (cJSON_IsString(content)) {
        return content->valuestring[0] ? content->valuestring : "(empty)";
    }
    sllmp_buf_init(&b, 0);
    if (cJSON_IsArray(content)) {
        const cJSON *part;

        cJSON_ArrayForEach(part, content)
        {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");

            if (cJSON_IsString(text)) {
                if (b.len > 0) {
                    sllmp_buf_append(&b, " ", 1);
                }
                sllmp_buf_appends(&b, text->valuestring);
            }
        }
    }
    const char *out = b.len ? sllmp_arena_strdup(r->arena, b.ptr) : "(empty)";

    sllmp_buf_free(&b);
    return out;
}

static cJSON *
usage_json(long prompt, long completion)
{
    cJSON *u = cJSON_CreateObject();

    cJSON_AddNumberToObject(u, "prompt_tokens", (double)prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)completion);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(prompt + completion));
    return u;
}

static cJSON *
chunk_json(sllmp_req_t *r, const char *id, long created)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddStringToObject(c, "id", id);
    cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(c, "created", (double)created);
    cJSON_AddStringToObject(c, "model", r->model);
    cJSON_AddStringToObject(c, "system_fingerprint", "fp_sllmp_mock");
    return c;
}

static cJSON *
choice(cJSON *c, const char *role, const char *content, const char *finish)
{
    cJSON *choices = cJSON_AddArrayToObject(c, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON *delta = cJSON_AddObjectToObject(ch, "delta");

    cJSON_AddNumberToObject(ch, "index", 0);
    if (role != NULL) {
        cJSON_AddStringToObject(delta, "role", role);
    }
    if (content != NULL) {
        cJSON_AddStringToObject(delta, "content", content);
    }
    cJSON_AddNullToObject(ch, "logprobs");
    if (finish != NULL) {
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    } else {
        cJSON_AddNullToObject(ch, "finish_reason");
    }
    cJSON_AddItemToArray(choices, ch);
    return ch;
}

/* Sends one chunk through the pipeline; consumes c. */
static sllmp_rc_t
emit(sllmp_req_t *r, cJSON *c)
{
    char *text = cJSON_PrintUnformatted(c);
    sllmp_chunk_t chunk = {text, strlen(text), c, 0, 0, NULL, NULL, 0};
    sllmp_rc_t rc = sllmp_pipeline_chunk(r, &chunk);

    cJSON_free(text);
    cJSON_Delete(c);
    return rc;
}

static sllmp_rc_t
stream(sllmp_req_t *r, const char *text, const char *id, long created, long prompt)
{
    const char *p = text;
    int first = 1;
    cJSON *c;

    c = chunk_json(r, id, created);
    choice(c, "assistant", "", NULL);
    if (r->client_wants_usage) {
        cJSON_AddNullToObject(c, "usage");
    }
    if (emit(r, c) != SLLMP_GO_ON) {
        return SLLMP_ERROR;
    }
    while (*p) {
        const char *end;
        char *word;

        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        end = strchr(p, ' ');
        if (end == NULL) {
            end = p + strlen(p);
        }
        if (sllmp_provider_pause(r, r->dep->mock_delay_ms, 1) < 0) {
            return sllmp_req_fail(r, SLLMP_ERR_CLIENT_GONE, NULL, NULL);
        }
        word = sllmp_arena_printf(r->arena, "%s%.*s", first ? "" : " ", (int)(end - p), p);
        first = 0;
        c = chunk_json(r, id, created);
        choice(c, NULL, word, NULL);
        if (r->client_wants_usage) {
            cJSON_AddNullToObject(c, "usage");
        }
        if (emit(r, c) != SLLMP_GO_ON) {
            return SLLMP_ERROR;
        }
        p = end;
    }
    c = chunk_json(r, id, created);
    choice(c, NULL, NULL, "stop");
    if (r->client_wants_usage) {
        cJSON_AddNullToObject(c, "usage");
    }
    if (emit(r, c) != SLLMP_GO_ON) {
        return SLLMP_ERROR;
    }
    c = chunk_json(r, id, created);
    cJSON_AddArrayToObject(c, "choices");
    cJSON_AddItemToObject(c, "usage", usage_json(prompt, sllmp_estimate_tokens(strlen(text))));
    if (emit(r, c) != SLLMP_GO_ON) {
        return SLLMP_ERROR;
    }
    sllmp_chunk_t done = {"[DONE]", 6, NULL, 1, 0, NULL, NULL, 0};

    return sllmp_pipeline_chunk(r, &done) == SLLMP_GO_ON ? SLLMP_FINISHED : SLLMP_ERROR;
}

sllmp_rc_t
sllmp_provider_mock_chat(sllmp_req_t *r)
{
    const char *text = last_user_text(r);
    long created = (long)time(NULL);
    long prompt = sllmp_estimate_tokens(
        sllmp_prompt_chars(cJSON_GetObjectItemCaseSensitive(r->json, "messages")));
    char hex[25], *id;

    sllmp_random_hex(hex, 12);
    id = sllmp_arena_printf(r->arena, "chatcmpl-%s", hex);
    if (r->stream) {
        return stream(r, text, id, created, prompt);
    }
    cJSON *c = cJSON_CreateObject();
    cJSON *choices, *ch, *msg;
    long completion = sllmp_estimate_tokens(strlen(text));

    cJSON_AddStringToObject(c, "id", id);
    cJSON_AddStringToObject(c, "object", "chat.completion");
    cJSON_AddNumberToObject(c, "created", (double)created);
    cJSON_AddStringToObject(c, "model", r->model);
    cJSON_AddStringToObject(c, "system_fingerprint", "fp_sllmp_mock");
    choices = cJSON_AddArrayToObject(c, "choices");
    ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    msg = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", text);
    cJSON_AddNullToObject(msg, "refusal");
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", "stop");
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddItemToObject(c, "usage", usage_json(prompt, completion));
    sllmp_usage_from_openai(&r->usage, cJSON_GetObjectItemCaseSensitive(c, "usage"));

    char *text_out = cJSON_PrintUnformatted(c);

    sllmp_buf_appends(&r->resp_body, text_out);
    cJSON_free(text_out);
    cJSON_Delete(c);
    r->first_token_ms = sllmp_now_ms();
    return SLLMP_FINISHED;
}

/*
 * Embeddings from the mock: a deterministic unit vector per text (8 dimensions, or
 * `dimensions`), so `make run` can try /v1/embeddings with no provider. Token-id inputs are
 * embedded by their JSON text.
 */
sllmp_rc_t
sllmp_provider_mock_embeddings(sllmp_req_t *r)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->json, "input");
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(r->json, "dimensions");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(r->json, "encoding_format");
    int base64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
    int n =
        cJSON_IsNumber(dims) && dims->valueint >= 1 && dims->valueint <= 4096 ? dims->valueint : 8;
    long prompt = sllmp_estimate_tokens(sllmp_req_prompt_chars(r));
    cJSON *out = cJSON_CreateObject();
    cJSON *data;
    const cJSON *e;
    int index = 0;
    char *text;

    cJSON_AddStringToObject(out, "object", "list");
    data = cJSON_AddArrayToObject(out, "data");
    for (e = cJSON_IsArray(in) && !cJSON_IsNumber(cJSON_GetArrayItem(in, 0)) ? in->child : in;
         e != NULL; e = e == in ? NULL : e->next) {
        char *src = cJSON_IsString(e) ? NULL : cJSON_PrintUnformatted(e);
        const char *s = src != NULL ? src : e->valuestring;
        unsigned char sha[32];
        cJSON *vec = cJSON_CreateArray(), *item = cJSON_CreateObject();
        double norm = 0;

        sllmp_sha256(s, strlen(s), sha);
        for (int i = 0; i < n; i++) {
            double x = (double)sha[i % 32] - 127.5;

            norm += x * x;
        }
        for (int i = 0; i < n; i++) {
            /* float precision, so base64 and float answers carry the same numbers */
            float x = (float)(((double)sha[i % 32] - 127.5) / sqrt(norm));

            cJSON_AddItemToArray(vec, cJSON_CreateNumber((double)x));
        }
        cJSON_free(src);
        cJSON_AddStringToObject(item, "object", "embedding");
        cJSON_AddNumberToObject(item, "index", index++);
        if (base64) {
            char *b64 = sllmp_embedding_base64(vec);

            cJSON_AddStringToObject(item, "embedding", b64);
            free(b64);
            cJSON_Delete(vec);
        } else {
            cJSON_AddItemToObject(item, "embedding", vec);
        }
        cJSON_AddItemToArray(data, item);
    }
    cJSON_AddStringToObject(out, "model", r->model);
    cJSON_AddItemToObject(out, "usage", usage_json(prompt, 0));
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "usage"),
                                            "completion_tokens");
    sllmp_usage_from_openai(&r->usage, cJSON_GetObjectItemCaseSensitive(out, "usage"));
    text = cJSON_PrintUnformatted(out);
    sllmp_buf_appends(&r->resp_body, text);
    cJSON_free(text);
    cJSON_Delete(out);
    r->first_token_ms = sllmp_now_ms();
    return SLLMP_FINISHED;
}
