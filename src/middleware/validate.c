/*
 * Validation of a chat completion request (protocols.md §1.1-1.2), before anything costs money.
 * Unknown fields pass: the API grows every month. Known fields must have the documented type,
 * and an error names the offending field in `param` (e.g. `messages[2].content`).
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"
#include "sllmp/responses.h"
#include "sllmp/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

cJSON *
sllmp_json_parse(const char *s, size_t n, int *trailing)
{
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(s, n, &end, 0);

    while (json != NULL && end < s + n && *end != '\0' && strchr(" \t\r\n", *end) != NULL) {
        end++;
    }
    *trailing = json != NULL && end != s + n;
    return json;
}

int
sllmp_json_has_nul(const char *s, size_t n)
{
    if (memchr(s, '\0', n) != NULL) {
        return 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == '\\') {
            if (s[i + 1] == 'u' && i + 6 <= n && memcmp(s + i + 2, "0000", 4) == 0) {
                return 1;
            }
            i++; /* the escaped character: "\\u0000" is a backslash, then text */
        }
    }
    return 0;
}

/* One name's position among the members of an object, for sorting by name, then position. */
typedef struct {
    cJSON *item;
    size_t pos;
} member_t;

static int
member_cmp(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    int c = strcmp(x->item->string, y->item->string);

    return c != 0 ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* The members of one object that a later member of the same name replaces, removed: pairwise
 * for a small object, sorted for a large one (a body of many names must not take n^2). */
static void
last_wins(cJSON *obj)
{
    size_t n = 0, i = 0;
    member_t *ms;
    cJSON *m, *next;

    cJSON_ArrayForEach(m, obj)
    {
        if (m->string == NULL) {
            return;
        }
        n++;
    }
    if (n <= 16) {
        for (m = obj->child; m != NULL; m = next) {
            next = m->next;
            for (const cJSON *o = next; o != NULL; o = o->next) {
                if (strcmp(m->string, o->string) == 0) {
                    cJSON_Delete(cJSON_DetachItemViaPointer(obj, m));
                    break;
                }
            }
        }
        return;
    }
    ms = sllmp_xmalloc(n * sizeof(*ms));
    cJSON_ArrayForEach(m, obj)
    {
        ms[i].item = m;
        ms[i].pos = i;
        i++;
    }
    qsort(ms, n, sizeof(*ms), member_cmp);
    for (i = 0; i + 1 < n; i++) {
        if (strcmp(ms[i].item->string, ms[i + 1].item->string) == 0) {
            cJSON_Delete(cJSON_DetachItemViaPointer(obj, ms[i].item));
        }
    }
    free(ms);
}

void
sllmp_json_last_wins(cJSON *v)
{
    cJSON *c;

    if (cJSON_IsObject(v)) {
        last_wins(v);
    }
    cJSON_ArrayForEach(c, v)
    {
        sllmp_json_last_wins(c);
    }
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

/* `model`: a non-empty string. */
static sllmp_rc_t
model_field(sllmp_req_t *r, const cJSON *body)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");

    if (model == NULL || cJSON_IsNull(model)) {
        return sllmp_req_fail(r, SLLMP_ERR_MISSING_PARAM, "model",
                              "Missing required parameter: 'model'.");
    }
    if (!cJSON_IsString(model) || model->valuestring[0] == '\0') {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "model",
                              "'model' must be a non-empty string.");
    }
    return SLLMP_GO_ON;
}

/* What every kind ends with: the model's name kept, the end user found (X-User-ID, else `user`
 * as the kind names it, else the key's). */
static sllmp_rc_t
accepted(sllmp_req_t *r, const cJSON *body, const cJSON *user)
{
    r->model =
        sllmp_arena_strdup(r->arena, cJSON_GetObjectItemCaseSensitive(body, "model")->valuestring);
    if (r->user == NULL && cJSON_IsString(user)) {
        r->user = user->valuestring;
    }
    if (r->user == NULL && r->key != NULL) {
        r->user = r->key->user;
    }
    return SLLMP_GO_ON;
}

/* `stream` and `stream_options` (chat and legacy completions). */
static sllmp_rc_t
stream_fields(sllmp_req_t *r, const cJSON *body)
{
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");

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
    return SLLMP_GO_ON;
}

/* A prompt or an embeddings input (protocols.md §1.8, §1.9): a string, an array of strings,
 * an array of token ids, or an array of arrays of token ids. */
static sllmp_rc_t
text_input(sllmp_req_t *r, const cJSON *body, const char *name, int allow_empty, int max_items)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(body, name);
    const cJSON *e;
    int n = 0, strings = 0, numbers = 0, arrays = 0;

    if (in == NULL || cJSON_IsNull(in)) {
        return sllmp_req_fail(r, SLLMP_ERR_MISSING_PARAM, name, "Missing required parameter: '%s'.",
                              name);
    }
    if (cJSON_IsString(in)) {
        if (!allow_empty && in->valuestring[0] == '\0') {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, name,
                                  "'%s' must not be an empty string.", name);
        }
        return SLLMP_GO_ON;
    }
    if (!cJSON_IsArray(in) || cJSON_GetArraySize(in) == 0) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, name,
                              "'%s' must be a string or a non-empty array of strings or token "
                              "ids.",
                              name);
    }
    cJSON_ArrayForEach(e, in)
    {
        n++;
        strings += cJSON_IsString(e);
        numbers += is_integer(e);
        if (cJSON_IsString(e) && !allow_empty && e->valuestring[0] == '\0') {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, name,
                                  "'%s[%d]' must not be an empty string.", name, n - 1);
        }
        if (cJSON_IsArray(e)) {
            const cJSON *t;
            int tokens = cJSON_GetArraySize(e) > 0;

            cJSON_ArrayForEach(t, e)
            {
                tokens &= is_integer(t);
            }
            arrays += tokens;
        }
    }
    /* a flat array of token ids is one input: its length counts tokens, not items */
    if (max_items > 0 && numbers != n && n > max_items) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, name, "'%s' must have at most %d items.",
                              name, max_items);
    }
    if (strings != n && numbers != n && arrays != n) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, name,
                              "'%s' must be a string, an array of strings, an array of token ids "
                              "or an array of arrays of token ids.",
                              name);
    }
    return SLLMP_GO_ON;
}

/* POST /v1/completions (legacy, protocols.md §1.9). */
static sllmp_rc_t
validate_completions(sllmp_req_t *r)
{
    const cJSON *body = r->json;

    if (model_field(r, body) || text_input(r, body, "prompt", 1, 0) || stream_fields(r, body) ||
        number(r, body, "temperature", 0, 2, 0) || number(r, body, "top_p", 0, 1, 0) ||
        number(r, body, "n", 1, 128, 1) || number(r, body, "max_tokens", 0, 1e12, 1) ||
        number(r, body, "logprobs", 0, 5, 1) || number(r, body, "best_of", 0, 20, 1) ||
        number(r, body, "presence_penalty", -2, 2, 0) ||
        number(r, body, "frequency_penalty", -2, 2, 0) ||
        typed(r, body, "stop", cJSON_String | cJSON_Array | cJSON_NULL,
              "a string, an array of strings or null", "stop") ||
        typed(r, body, "echo", cJSON_True | cJSON_False | cJSON_NULL, "a boolean", "echo") ||
        typed(r, body, "suffix", cJSON_String | cJSON_NULL, "a string", "suffix") ||
        typed(r, body, "user", cJSON_String | cJSON_NULL, "a string", "user") ||
        metadata(r, body)) {
        return SLLMP_ERROR;
    }
    return accepted(r, body, cJSON_GetObjectItemCaseSensitive(body, "user"));
}

/* POST /v1/embeddings (protocols.md §1.8). */
static sllmp_rc_t
validate_embeddings(sllmp_req_t *r)
{
    const cJSON *body = r->json;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(body, "encoding_format");

    if (model_field(r, body) || text_input(r, body, "input", 0, 2048) ||
        number(r, body, "dimensions", 1, 1e6, 1) ||
        typed(r, body, "user", cJSON_String | cJSON_NULL, "a string", "user") ||
        metadata(r, body)) {
        return SLLMP_ERROR;
    }
    if (fmt != NULL && !cJSON_IsNull(fmt) &&
        !(cJSON_IsString(fmt) &&
          (strcmp(fmt->valuestring, "float") == 0 || strcmp(fmt->valuestring, "base64") == 0))) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "encoding_format",
                              "'encoding_format' must be 'float' or 'base64'.");
    }
    return accepted(r, body, cJSON_GetObjectItemCaseSensitive(body, "user"));
}

/* POST /v1/images/generations: what the gateway reads (the model, the prompt, n for the
 * limits' worst case); size, quality, style and the rest are the upstream's to judge. A stream
 * (gpt-image's partial images) is refused: its events are not passed through. */
static sllmp_rc_t
validate_images(sllmp_req_t *r)
{
    const cJSON *body = r->json;
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(body, "prompt");

    if (model_field(r, body)) {
        return SLLMP_ERROR;
    }
    if (prompt == NULL || cJSON_IsNull(prompt)) {
        return sllmp_req_fail(r, SLLMP_ERR_MISSING_PARAM, "prompt",
                              "Missing required parameter: 'prompt'.");
    }
    if (!cJSON_IsString(prompt) || prompt->valuestring[0] == '\0') {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "prompt",
                              "'prompt' must be a non-empty string.");
    }
    if (number(r, body, "n", 1, 10, 1) ||
        typed(r, body, "stream", cJSON_True | cJSON_False | cJSON_NULL, "a boolean", "stream") ||
        typed(r, body, "response_format", cJSON_String | cJSON_NULL, "a string",
              "response_format") ||
        typed(r, body, "size", cJSON_String | cJSON_NULL, "a string", "size") ||
        typed(r, body, "quality", cJSON_String | cJSON_NULL, "a string", "quality") ||
        typed(r, body, "user", cJSON_String | cJSON_NULL, "a string", "user") ||
        metadata(r, body)) {
        return SLLMP_ERROR;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "stream"))) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "stream",
                              "This gateway does not stream /v1/images/generations; leave "
                              "'stream' out.");
    }
    return accepted(r, body, cJSON_GetObjectItemCaseSensitive(body, "user"));
}

/* Moderations' `input`: a string, or a non-empty array of strings or of multi-modal parts
 * (objects with a `type`: text, image_url). */
static sllmp_rc_t
moderation_input(sllmp_req_t *r, const cJSON *body)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(body, "input");
    const cJSON *list = cJSON_IsArray(in) ? in : NULL, *e;
    int n = 0, strings = 0, parts = 0;

    if (in == NULL || cJSON_IsNull(in)) {
        return sllmp_req_fail(r, SLLMP_ERR_MISSING_PARAM, "input",
                              "Missing required parameter: 'input'.");
    }
    if (cJSON_IsString(in)) {
        return SLLMP_GO_ON;
    }
    cJSON_ArrayForEach(e, list)
    {
        n++;
        strings += cJSON_IsString(e);
        parts += cJSON_IsObject(e) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "type"));
    }
    if (n == 0 || (strings != n && parts != n)) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "input",
                              "'input' must be a string, a non-empty array of strings or a "
                              "non-empty array of input objects with a 'type'.");
    }
    return SLLMP_GO_ON;
}

/* OpenAI's default moderation models, in the order a request without `model` looks for them
 * among the gateway's (a model_name, an alias, a pattern's name). */
static const char *const moderation_defaults[] = {"omni-moderation-latest",
                                                  "text-moderation-latest", NULL};

/* POST /v1/moderations. `model` is optional in OpenAI's API (omni-moderation-latest); LiteLLM
 * sends a request without one to OpenAI with its own key. Here a request goes only where the
 * configuration says: to the first default model it serves, put in the body, else a 400. */
static sllmp_rc_t
validate_moderations(sllmp_req_t *r)
{
    cJSON *body = r->json;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");

    if (model == NULL || cJSON_IsNull(model)) {
        const char *name = NULL;

        for (int i = 0; name == NULL && moderation_defaults[i] != NULL; i++) {
            if (sllmp_conf_route_name(r->conf, moderation_defaults[i]) != NULL) {
                name = moderation_defaults[i];
            }
        }
        if (name == NULL) {
            return sllmp_req_fail(r, SLLMP_ERR_MISSING_PARAM, "model",
                                  "Missing required parameter: 'model'. This gateway has no "
                                  "omni-moderation-latest or text-moderation-latest model to "
                                  "use when none is named.");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(body, "model");
        cJSON_AddStringToObject(body, "model", name);
    }
    if (model_field(r, body) || moderation_input(r, body) || metadata(r, body)) {
        return SLLMP_ERROR;
    }
    return accepted(r, body, NULL);
}

/* Anthropic's `messages`: a non-empty list of user and assistant turns, each with a string or a
 * list of content blocks. */
static sllmp_rc_t
anthropic_messages(sllmp_req_t *r, const cJSON *body)
{
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(body, "messages");
    const cJSON *m;
    int i = 0;

    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) {
        return sllmp_req_fail(r, messages ? SLLMP_ERR_INVALID_PARAM : SLLMP_ERR_MISSING_PARAM,
                              "messages", "messages: at least one message is required");
    }
    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        char param[48];

        snprintf(param, sizeof(param), "messages.%d", i++);
        if (!cJSON_IsObject(m) || !cJSON_IsString(role) ||
            (strcmp(role->valuestring, "user") != 0 &&
             strcmp(role->valuestring, "assistant") != 0)) {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, param,
                                  "%s.role: Input should be 'user' or 'assistant'", param);
        }
        if (!cJSON_IsString(content) && !cJSON_IsArray(content)) {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, param,
                                  "%s.content: Input should be a string or a list of content "
                                  "blocks",
                                  param);
        }
    }
    return SLLMP_GO_ON;
}

/* The prompt's other members, as /v1/messages and count_tokens both take them. */
static sllmp_rc_t
anthropic_prompt(sllmp_req_t *r, const cJSON *body)
{
    if (typed(r, body, "system", cJSON_String | cJSON_Array, "a string or a list of text blocks",
              "system") ||
        typed(r, body, "tools", cJSON_Array, "a list", "tools") ||
        typed(r, body, "tool_choice", cJSON_Object, "an object", "tool_choice")) {
        return SLLMP_ERROR;
    }
    return SLLMP_GO_ON;
}

/* POST /v1/messages: Anthropic's request (protocols.md §2.2), checked as far as the gateway
 * needs; the rest is the provider's to judge. */
static sllmp_rc_t
validate_messages(sllmp_req_t *r)
{
    const cJSON *body = r->json;
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(body, "metadata");
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(md, "user_id");

    if (model_field(r, body)) {
        return SLLMP_ERROR;
    }
    if (!cJSON_HasObjectItem(body, "max_tokens")) {
        return sllmp_req_fail(r, SLLMP_ERR_MISSING_PARAM, "max_tokens",
                              "max_tokens: Field required");
    }
    if (number(r, body, "max_tokens", 0, 1e9, 1) || anthropic_messages(r, body)) {
        return SLLMP_ERROR;
    }
    if (stream != NULL && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "stream",
                              "stream: Input should be a "
                              "valid boolean");
    }
    r->stream = cJSON_IsTrue(stream);
    if (number(r, body, "temperature", 0, 1, 0) || number(r, body, "top_p", 0, 1, 0) ||
        number(r, body, "top_k", 0, 1e9, 1) || anthropic_prompt(r, body) ||
        typed(r, body, "stop_sequences", cJSON_Array, "a list of strings", "stop_sequences") ||
        typed(r, body, "metadata", cJSON_Object | cJSON_NULL, "an object", "metadata")) {
        return SLLMP_ERROR;
    }
    return accepted(r, body, uid); /* Anthropic's metadata.user_id */
}

/* POST /v1/messages/count_tokens: the Messages request without max_tokens (model and messages
 * required; system, tools, tool_choice, thinking, ...). What Anthropic refuses there that
 * /v1/messages takes (max_tokens, stream, metadata: "Extra inputs are not permitted") is the
 * provider's to say, as the gateway forwards the body as it is. Never streamed. */
static sllmp_rc_t
validate_count_tokens(sllmp_req_t *r)
{
    const cJSON *body = r->json;

    if (model_field(r, body) || anthropic_messages(r, body) || anthropic_prompt(r, body)) {
        return SLLMP_ERROR;
    }
    r->stream = 0;
    return accepted(r, body, NULL);
}

sllmp_rc_t
sllmp_validate_chat(sllmp_req_t *r)
{
    const cJSON *body = r->json;
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(body, "messages");
    const cJSON *m;
    int i = 0;

    if (model_field(r, body)) {
        return SLLMP_ERROR;
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
    if (stream_fields(r, body) || number(r, body, "temperature", 0, 2, 0) ||
        number(r, body, "top_p", 0, 1, 0) || number(r, body, "n", 1, 128, 1) ||
        number(r, body, "max_tokens", 1, 1e12, 1) ||
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
    return accepted(r, body, cJSON_GetObjectItemCaseSensitive(body, "user"));
}

/* POST /v1/responses to a Responses API deployment: what the gateway itself reads (the model,
 * stream, the limits' max_output_tokens, the trace's user and metadata, input for the
 * estimate); the rest is the upstream's to judge, as it is sent there. */
static sllmp_rc_t
validate_responses(sllmp_req_t *r)
{
    const cJSON *body = r->json;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(body, "input");

    if (model_field(r, body)) {
        return SLLMP_ERROR;
    }
    if (input != NULL && !cJSON_IsNull(input) && !cJSON_IsString(input) && !cJSON_IsArray(input)) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "input",
                              "'input' must be a string or an array of input items.");
    }
    if (typed(r, body, "stream", cJSON_True | cJSON_False | cJSON_NULL, "a boolean", "stream") ||
        number(r, body, "max_output_tokens", 1, 1e12, 1) ||
        typed(r, body, "user", cJSON_String | cJSON_NULL, "a string", "user") ||
        typed(r, body, "instructions", cJSON_String | cJSON_Array | cJSON_NULL,
              "a string or an array of input items", "instructions") ||
        metadata(r, body)) {
        return SLLMP_ERROR;
    }
    r->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "stream"));
    if (r->stream && r->responses_compact) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "stream",
                              "/v1/responses/compact does not stream.");
    }
    return accepted(r, body, cJSON_GetObjectItemCaseSensitive(body, "user"));
}

static sllmp_rc_t
validate_pre(sllmp_req_t *r, void *mw_conf)
{
    (void)mw_conf;
    if (r->responses_api && r->responses == NULL && sllmp_responses_prepare(r) != SLLMP_GO_ON) {
        return SLLMP_ERROR;
    }
    switch (r->kind) {
    case SLLMP_KIND_COMPLETIONS:
        return validate_completions(r);
    case SLLMP_KIND_EMBEDDINGS:
        return validate_embeddings(r);
    case SLLMP_KIND_MESSAGES:
        return validate_messages(r) != SLLMP_GO_ON ? SLLMP_ERROR : sllmp_messages_prepare(r);
    case SLLMP_KIND_COUNT_TOKENS:
        return validate_count_tokens(r);
    case SLLMP_KIND_RESPONSES:
        return validate_responses(r);
    case SLLMP_KIND_IMAGES:
        return validate_images(r);
    case SLLMP_KIND_MODERATIONS:
        return validate_moderations(r);
    case SLLMP_KIND_CHAT:
        break;
    }
    return sllmp_validate_chat(r);
}

const sllmp_middleware_t sllmp_mw_validate = {
    .name = "validate",
    .pre = validate_pre,
};
