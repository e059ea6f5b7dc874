/*
 * Validation of a chat completion request (protocols.md §1.1-1.2), before anything costs money.
 * Unknown fields pass: the API grows every month. Known fields must have the documented type,
 * and an error names the offending field in `param` (e.g. `messages[2].content`).
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int
sllmp_json_depth(const char *s, size_t n, int max)
{
    int depth = 0, deepest = 0, in_str = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = 0;
            }
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > max) {
                    return deepest;
                }
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return deepest;
}

static int
is_integer(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
           v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9.007199254740992e15;
}

/* A number within [lo, hi], or null. */
static sllmp_rc_t
number(sllmp_req_t *r, const cJSON *body, const char *name, double lo, double hi, int integer)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);

    if (v == NULL || cJSON_IsNull(v)) {
        return SLLMP_GO_ON;
    }
    if (!cJSON_IsNumber(v) || (integer && !is_integer(v))) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, name, "'%s' must be %s.", name,
                              integer ? "an integer" : "a number");
    }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, name, "'%s' must be between %g and %g.",
                              name, lo, hi);
    }
    return SLLMP_GO_ON;
}

/* A field of one of the JSON types in mask (cJSON_* flags), or absent. */
static sllmp_rc_t
typed(sllmp_req_t *r, const cJSON *obj, const char *name, int mask, const char *what,
      const char *param)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (v == NULL || (v->type & 0xff & mask)) {
        return SLLMP_GO_ON;
    }
    return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, param, "'%s' must be %s.", param, what);
}

static sllmp_rc_t
content_parts(sllmp_req_t *r, const cJSON *content, int i)
{
    int k = 0;
    const cJSON *part;

    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        char param[64];

        snprintf(param, sizeof(param), "messages[%d].content[%d]", i, k);
        if (!cJSON_IsObject(part) || !cJSON_IsString(type)) {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, param,
                                  "'%s' must be an object with a string 'type'.", param);
        }
        if (strcmp(type->valuestring, "text") == 0 &&
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(part, "text"))) {
            snprintf(param, sizeof(param), "messages[%d].content[%d].text", i, k);
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, param, "'%s' must be a string.",
                                  param);
        }
        k++;
    }
    return SLLMP_GO_ON;
}

static sllmp_rc_t
message(sllmp_req_t *r, const cJSON *m, int i)
{
    static const char *const roles[] = {"system",    "developer", "user",
                                        "assistant", "tool",      "function"};
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    char param[64];
    size_t k;

    snprintf(param, sizeof(param), "messages[%d]", i);
    if (!cJSON_IsObject(m)) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, param, "'%s' must be an object.", param);
    }
    snprintf(param, sizeof(param), "messages[%d].role", i);
    if (role == NULL) {
        return sllmp_req_fail(r, SLLMP_ERR_MISSING_PARAM, param,
                              "Missing required parameter: '%s'.", param);
    }
    for (k = 0; k < sizeof(roles) / sizeof(roles[0]); k++) {
        if (cJSON_IsString(role) && strcmp(role->valuestring, roles[k]) == 0) {
            break;
        }
    }
    if (k == sizeof(roles) / sizeof(roles[0])) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, param,
                              "'%s' must be one of system, developer, user, assistant, tool.",
                              param);
    }
    int assistant = strcmp(roles[k], "assistant") == 0;
    int function = strcmp(roles[k], "function") == 0;

    snprintf(param, sizeof(param), "messages[%d].content", i);
    if (content == NULL) {
        int has_calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls") != NULL ||
                        cJSON_GetObjectItemCaseSensitive(m, "function_call") != NULL;

        if (!(assistant && has_calls)) {
            return sllmp_req_fail(r, SLLMP_ERR_MISSING_PARAM, param,
                                  "Missing required parameter: '%s'.", param);
        }
    } else if (cJSON_IsNull(content)) {
        if (!assistant && !function) {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, param,
                                  "'%s' must be a string or an array of content parts.", param);
        }
    } else if (cJSON_IsArray(content)) {
        if (content_parts(r, content, i) != SLLMP_GO_ON) {
            return SLLMP_ERROR;
        }
    } else if (!cJSON_IsString(content)) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, param,
                              "'%s' must be a string or an array of content parts.", param);
    }
    if (strcmp(roles[k], "tool") == 0) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");

        snprintf(param, sizeof(param), "messages[%d].tool_call_id", i);
        if (!cJSON_IsString(id)) {
            return sllmp_req_fail(r, id ? SLLMP_ERR_INVALID_PARAM : SLLMP_ERR_MISSING_PARAM, param,
                                  "'%s' must be a string.", param);
        }
    }
    snprintf(param, sizeof(param), "messages[%d].name", i);
    if (typed(r, m, "name", cJSON_String, "a string", param) != SLLMP_GO_ON) {
        return SLLMP_ERROR;
    }
    snprintf(param, sizeof(param), "messages[%d].tool_calls", i);
    return typed(r, m, "tool_calls", cJSON_Array | cJSON_NULL, "an array", param);
}

static sllmp_rc_t
metadata(sllmp_req_t *r, const cJSON *body)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(body, "metadata");
    const cJSON *kv;

    if (md == NULL || cJSON_IsNull(md)) {
        return SLLMP_GO_ON;
    }
    if (!cJSON_IsObject(md)) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "metadata",
                              "'metadata' must be an object or null.");
    }
    cJSON_ArrayForEach(kv, md)
    {
        /* OpenAI wants strings; LiteLLM clients send lists (tags) and objects: keep them. */
        if (strlen(kv->string) > 64) {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "metadata",
                                  "'metadata' keys must be at most 64 characters.");
        }
    }
    return SLLMP_GO_ON;
}

sllmp_rc_t
sllmp_validate_chat(sllmp_req_t *r)
{
    const cJSON *body = r->json;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(body, "messages");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(body, "user");
    const cJSON *m;
    int i = 0;

    if (model == NULL || cJSON_IsNull(model)) {
        return sllmp_req_fail(r, SLLMP_ERR_MISSING_PARAM, "model",
                              "Missing required parameter: 'model'.");
    }
    if (!cJSON_IsString(model) || model->valuestring[0] == '\0') {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "model",
                              "'model' must be a non-empty string.");
    }
    if (messages == NULL) {
        return sllmp_req_fail(r, SLLMP_ERR_MISSING_PARAM, "messages",
                              "Missing required parameter: 'messages'.");
    }
    if (!cJSON_IsArray(messages)) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "messages",
                              "'messages' must be an array.");
    }
    if (cJSON_GetArraySize(messages) == 0) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "messages",
                              "'messages' must contain at least one message.");
    }
    cJSON_ArrayForEach(m, messages)
    {
        if (message(r, m, i++) != SLLMP_GO_ON) {
            return SLLMP_ERROR;
        }
    }
    if (stream != NULL && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "stream", "'stream' must be a boolean.");
    }
    r->stream = cJSON_IsTrue(stream);
    if (so != NULL && !cJSON_IsNull(so)) {
        const cJSON *iu = cJSON_GetObjectItemCaseSensitive(so, "include_usage");

        if (!cJSON_IsObject(so)) {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "stream_options",
                                  "'stream_options' must be an object or null.");
        }
        if (!r->stream) {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "stream_options",
                                  "The 'stream_options' parameter is only allowed when 'stream' "
                                  "is enabled.");
        }
        if (iu != NULL && !cJSON_IsBool(iu) && !cJSON_IsNull(iu)) {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "stream_options.include_usage",
                                  "'stream_options.include_usage' must be a boolean.");
        }
        r->client_wants_usage = cJSON_IsTrue(iu);
    }
    if (number(r, body, "temperature", 0, 2, 0) || number(r, body, "top_p", 0, 1, 0) ||
        number(r, body, "n", 1, 128, 1) || number(r, body, "max_tokens", 1, 1e12, 1) ||
        number(r, body, "max_completion_tokens", 1, 1e12, 1) ||
        number(r, body, "presence_penalty", -2, 2, 0) ||
        number(r, body, "frequency_penalty", -2, 2, 0) ||
        number(r, body, "top_logprobs", 0, 20, 1) || number(r, body, "seed", -9.2e18, 9.2e18, 1) ||
        typed(r, body, "stop", cJSON_String | cJSON_Array | cJSON_NULL,
              "a string, an array of strings or null", "stop") ||
        typed(r, body, "user", cJSON_String | cJSON_NULL, "a string", "user") ||
        typed(r, body, "tools", cJSON_Array | cJSON_NULL, "an array", "tools") ||
        typed(r, body, "tool_choice", cJSON_String | cJSON_Object | cJSON_NULL,
              "a string or an object", "tool_choice") ||
        typed(r, body, "response_format", cJSON_Object | cJSON_NULL, "an object",
              "response_format") ||
        typed(r, body, "logprobs", cJSON_True | cJSON_False | cJSON_NULL, "a boolean",
              "logprobs") ||
        typed(r, body, "parallel_tool_calls", cJSON_True | cJSON_False | cJSON_NULL, "a boolean",
              "parallel_tool_calls") ||
        metadata(r, body)) {
        return SLLMP_ERROR;
    }
    /* a copy: the provider may replace the body's model */
    r->model = sllmp_arena_strdup(r->arena, model->valuestring);
    if (r->user == NULL && cJSON_IsString(user)) {
        r->user = user->valuestring;
    }
    if (r->user == NULL && r->key != NULL) {
        r->user = r->key->user;
    }
    return SLLMP_GO_ON;
}

static sllmp_rc_t
validate_pre(sllmp_req_t *r, void *mw_conf)
{
    (void)mw_conf;
    return sllmp_validate_chat(r);
}

const sllmp_middleware_t sllmp_mw_validate = {
    .name = "validate",
    .pre = validate_pre,
};
