/*
 * Chat completions through OpenAI's Responses API, for the models that have no other (the codex
 * and -pro models, or any deployment routed so): a chat request -> a Responses request, and
 * the Response (or its events) -> a chat.completion (or its chunks). include/sllmp/translate.h
 * has the contract; pure, like the other translators.
 *
 * Decisions where the contract is silent, taken as a LiteLLM user would expect:
 *  - store is false unless the client says otherwise: a chat completion is not kept by OpenAI
 *    by default, and the Responses API would keep it.
 *  - System and developer messages go as input messages of their role, in their place (the
 *    Responses API takes them there), not joined into instructions.
 *  - stop, seed, frequency_penalty, presence_penalty, logit_bias, prediction and
 *    stream_options are dropped: the Responses API has none of them (usage always comes with
 *    response.completed). n > 1, audio output and custom tools are a 400.
 *  - The answer's reasoning summaries are its reasoning_content (LiteLLM's field); encrypted
 *    reasoning is not asked for (a chat client has no way to send it back).
 */
#include "sllmp/translate.h"

#include <stdio.h>
#include <string.h>

/* ---- the request ------------------------------------------------------------------------ */

/* The text of a content that is a string or text parts; NULL (e filled) for anything else. */
static int
text_content(const cJSON *content, sllmp_buf_t *out, sllmp_xerr_t *e, int i)
{
    const cJSON *part;
    int k = 0;

    if (cJSON_IsString(content)) {
        sllmp_buf_appends(out, content->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        return sllmp_json_given(content) ? sllmp_xerr(e, "must be a string or an array of parts.",
                                                      "messages[%d].content", i)
                                         : 0;
    }
    cJSON_ArrayForEach(part, content)
    {
        const char *t = sllmp_json_str(part, "text");

        if (!sllmp_str_is(sllmp_json_str(part, "type"), "text") || t == NULL) {
            return sllmp_xerr(e, "must be a text part here.", "messages[%d].content[%d]", i, k);
        }
        sllmp_buf_appends(out, t);
        k++;
    }
    return 0;
}

/* A user (or system) content part -> its Responses input part. */
static cJSON *
input_part(const cJSON *part, sllmp_xerr_t *e, int i, int k)
{
    const char *type = sllmp_json_str(part, "type");
    cJSON *out = cJSON_CreateObject();

    if (sllmp_str_is(type, "text") && sllmp_json_str(part, "text") != NULL) {
        cJSON_AddStringToObject(out, "type", "input_text");
        cJSON_AddStringToObject(out, "text", sllmp_json_str(part, "text"));
    } else if (sllmp_str_is(type, "image_url")) {
        const cJSON *img = sllmp_json_get(part, "image_url");
        const char *url = cJSON_IsString(img) ? img->valuestring : sllmp_json_str(img, "url");
        const char *detail = sllmp_json_str(img, "detail");

        if (url == NULL) {
            cJSON_Delete(out);
            sllmp_xerr(e, "must have a url.", "messages[%d].content[%d].image_url", i, k);
            return NULL;
        }
        cJSON_AddStringToObject(out, "type", "input_image");
        cJSON_AddStringToObject(out, "image_url", url);
        cJSON_AddStringToObject(out, "detail", detail != NULL ? detail : "auto");
    } else if (sllmp_str_is(type, "file") && cJSON_IsObject(sllmp_json_get(part, "file"))) {
        const cJSON *f = sllmp_json_get(part, "file"), *m;

        cJSON_AddStringToObject(out, "type", "input_file");
        cJSON_ArrayForEach(m, f)
        {
            /* file_data, file_id, filename: the same names */
            cJSON_AddItemToObject(out, m->string, cJSON_Duplicate(m, 1));
        }
    } else if (sllmp_str_is(type, "input_audio")) {
        cJSON_Delete(out);
        out = cJSON_Duplicate(part, 1); /* the same shape on both sides */
    } else {
        cJSON_Delete(out);
        sllmp_xerr(e, "is a part the Responses API does not take.", "messages[%d].content[%d]", i,
                   k);
        return NULL;
    }
    return out;
}

/* A message item {"type":"message","role","content":[parts]}. */
static cJSON *
message_item(cJSON *items, const char *role)
{
    cJSON *m = cJSON_CreateObject();

    cJSON_AddItemToArray(items, m);
    cJSON_AddStringToObject(m, "type", "message");
    cJSON_AddStringToObject(m, "role", role);
    return cJSON_AddArrayToObject(m, "content");
}

static int
user_message(cJSON *items, const char *role, const cJSON *content, sllmp_xerr_t *e, int i)
{
    cJSON *parts = message_item(items, role), *p;
    const cJSON *part;
    int k = 0;

    if (cJSON_IsString(content)) {
        p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "input_text");
        cJSON_AddStringToObject(p, "text", content->valuestring);
        cJSON_AddItemToArray(parts, p);
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        return sllmp_xerr(e, "must be a string or an array of parts.", "messages[%d].content", i);
    }
    cJSON_ArrayForEach(part, content)
    {
        if ((p = input_part(part, e, i, k++)) == NULL) {
            return -1;
        }
        cJSON_AddItemToArray(parts, p);
    }
    return 0;
}

static int
assistant_message(cJSON *items, const cJSON *m, sllmp_xerr_t *e, int i)
{
    const cJSON *calls = sllmp_json_get(m, "tool_calls"), *call;
    const char *refusal = sllmp_json_str(m, "refusal");
    sllmp_buf_t text;
    int k = 0, rc;

    sllmp_buf_init(&text, 0);
    rc = text_content(sllmp_json_get(m, "content"), &text, e, i);
    if (rc == 0 && (text.len > 0 || refusal != NULL)) {
        cJSON *parts = message_item(items, "assistant"), *p = cJSON_CreateObject();

        cJSON_AddItemToArray(parts, p);
        if (text.len > 0) {
            cJSON_AddStringToObject(p, "type", "output_text");
            cJSON_AddStringToObject(p, "text", sllmp_buf_cstr(&text));
            cJSON_AddArrayToObject(p, "annotations");
        } else {
            cJSON_AddStringToObject(p, "type", "refusal");
            cJSON_AddStringToObject(p, "refusal", refusal);
        }
    }
    sllmp_buf_free(&text);
    if (rc != 0) {
        return rc;
    }
    cJSON_ArrayForEach(call, calls)
    {
        const cJSON *fn = sllmp_json_get(call, "function"), *args = sllmp_json_get(fn, "arguments");
        const char *id = sllmp_json_str(call, "id"), *name = sllmp_json_str(fn, "name");
        cJSON *item;

        if (id == NULL || name == NULL || (sllmp_json_given(args) && !cJSON_IsString(args))) {
            return sllmp_xerr(e, "must be a function call with a string id, name and arguments.",
                              "messages[%d].tool_calls[%d]", i, k);
        }
        item = cJSON_CreateObject();
        cJSON_AddItemToArray(items, item);
        cJSON_AddStringToObject(item, "type", "function_call");
        cJSON_AddStringToObject(item, "call_id", id);
        cJSON_AddStringToObject(item, "name", name);
        cJSON_AddStringToObject(item, "arguments", cJSON_IsString(args) ? args->valuestring : "");
        k++;
    }
    return 0;
}

static int
messages(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *list = sllmp_json_get(req, "messages"), *m;
    cJSON *items = cJSON_AddArrayToObject(body, "input");
    int i = 0;

    if (!cJSON_IsArray(list)) {
        return sllmp_xerr(e, "must be an array.", "messages");
    }
    cJSON_ArrayForEach(m, list)
    {
        const char *role = sllmp_json_str(m, "role");
        const cJSON *content = sllmp_json_get(m, "content");
        int rc;

        if (sllmp_str_is(role, "user") || sllmp_str_is(role, "system") ||
            sllmp_str_is(role, "developer")) {
            rc = user_message(items, role, content, e, i);
        } else if (sllmp_str_is(role, "assistant")) {
            rc = assistant_message(items, m, e, i);
        } else if (sllmp_str_is(role, "tool")) {
            const char *id = sllmp_json_str(m, "tool_call_id");
            sllmp_buf_t text;
            cJSON *item;

            if (id == NULL) {
                return sllmp_xerr(e, "must be a string.", "messages[%d].tool_call_id", i);
            }
            sllmp_buf_init(&text, 0);
            rc = text_content(content, &text, e, i);
            item = cJSON_CreateObject();
            cJSON_AddItemToArray(items, item);
            cJSON_AddStringToObject(item, "type", "function_call_output");
            cJSON_AddStringToObject(item, "call_id", id);
            cJSON_AddStringToObject(item, "output", sllmp_buf_cstr(&text));
            sllmp_buf_free(&text);
        } else {
            /* the legacy function role has no call id to pair it with */
            return sllmp_xerr(e, "must be system, developer, user, assistant or tool here.",
                              "messages[%d].role", i);
        }
        if (rc != 0) {
            return rc;
        }
        i++;
    }
    return 0;
}

/* chat's {"type":"function","function":{name,...}} -> {"type":"function",name,...} */
static int
tools(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *list = sllmp_json_get(req, "tools"), *tool;
    cJSON *out;
    int k = 0;

    if (!sllmp_json_given(list)) {
        return 0;
    }
    if (!cJSON_IsArray(list)) {
        return sllmp_xerr(e, "must be an array.", "tools");
    }
    out = cJSON_AddArrayToObject(body, "tools");
    cJSON_ArrayForEach(tool, list)
    {
        const cJSON *fn = sllmp_json_get(tool, "function"), *m;
        cJSON *t;

        if (!sllmp_str_is(sllmp_json_str(tool, "type"), "function") ||
            sllmp_json_str(fn, "name") == NULL) {
            return sllmp_xerr(e, "must be a function tool with a name.", "tools[%d]", k);
        }
        t = cJSON_CreateObject();
        cJSON_AddItemToArray(out, t);
        cJSON_AddStringToObject(t, "type", "function");
        cJSON_ArrayForEach(m, fn)
        {
            /* name, description, parameters, strict: the same names, one level up */
            cJSON_AddItemToObject(t, m->string, cJSON_Duplicate(m, 1));
        }
        k++;
    }
    return 0;
}

static int
tool_choice(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *tc = sllmp_json_get(req, "tool_choice");
    const char *name = sllmp_json_str(sllmp_json_get(tc, "function"), "name");
    cJSON *out;

    if (!sllmp_json_given(tc)) {
        return 0;
    }
    if (cJSON_IsString(tc)) {
        cJSON_AddItemToObject(body, "tool_choice", cJSON_Duplicate(tc, 1));
        return 0;
    }
    if (!sllmp_str_is(sllmp_json_str(tc, "type"), "function") || name == NULL) {
        return sllmp_xerr(e, "must be auto, none, required or a function by name.", "tool_choice");
    }
    out = cJSON_AddObjectToObject(body, "tool_choice");
    cJSON_AddStringToObject(out, "type", "function");
    cJSON_AddStringToObject(out, "name", name);
    return 0;
}

/* response_format -> text.format; verbosity -> text.verbosity */
static int
text_config(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *rf = sllmp_json_get(req, "response_format"),
                *verbosity = sllmp_json_get(req, "verbosity");
    const char *type = sllmp_json_str(rf, "type");
    cJSON *text = NULL, *format, *m;

    if (sllmp_json_given(rf) && !sllmp_str_is(type, "text")) {
        text = cJSON_AddObjectToObject(body, "text");
        format = cJSON_AddObjectToObject(text, "format");
        if (sllmp_str_is(type, "json_object")) {
            cJSON_AddStringToObject(format, "type", "json_object");
        } else if (sllmp_str_is(type, "json_schema") &&
                   cJSON_IsObject(sllmp_json_get(rf, "json_schema"))) {
            cJSON_AddStringToObject(format, "type", "json_schema");
            cJSON_ArrayForEach(m, sllmp_json_get(rf, "json_schema"))
            {
                /* name, schema, strict, description: one level up */
                cJSON_AddItemToObject(format, m->string, cJSON_Duplicate(m, 1));
            }
        } else {
            return sllmp_xerr(e, "must be text, json_object or json_schema.", "response_format");
        }
    }
    if (sllmp_json_given(verbosity)) {
        if (text == NULL) {
            text = cJSON_AddObjectToObject(body, "text");
        }
        cJSON_AddItemToObject(text, "verbosity", cJSON_Duplicate(verbosity, 1));
    }
    return 0;
}

/* What is refused, dropped, or produced above: never copied as it is. */
static int
consumed(const char *name)
{
    static const char *const names[] = {"model",
                                        "messages",
                                        "tools",
                                        "tool_choice",
                                        "response_format",
                                        "verbosity",
                                        "max_tokens",
                                        "max_completion_tokens",
                                        "reasoning_effort",
                                        "logprobs",
                                        "top_logprobs",
                                        "n",
                                        "stop",
                                        "seed",
                                        "frequency_penalty",
                                        "presence_penalty",
                                        "logit_bias",
                                        "prediction",
                                        "stream_options",
                                        "modalities",
                                        "audio",
                                        "functions",
                                        "function_call",
                                        "store"};

    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        if (strcmp(name, names[k]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
refused(const cJSON *req, sllmp_xerr_t *e)
{
    const cJSON *n = sllmp_json_get(req, "n"), *mod, *m;

    if (cJSON_IsNumber(n) && n->valuedouble > 1) {
        return sllmp_xerr(e, "must be 1: the Responses API gives one answer.", "n");
    }
    if (sllmp_json_given(sllmp_json_get(req, "audio"))) {
        return sllmp_xerr(e, "is not supported by the Responses API.", "audio");
    }
    if (sllmp_json_given(sllmp_json_get(req, "functions")) ||
        sllmp_json_given(sllmp_json_get(req, "function_call"))) {
        return sllmp_xerr(e, "is the legacy functions API: send tools instead.", "functions");
    }
    mod = sllmp_json_get(req, "modalities");
    cJSON_ArrayForEach(m, mod)
    {
        if (cJSON_IsString(m) && strcmp(m->valuestring, "audio") == 0) {
            return sllmp_xerr(e, "cannot ask for audio from the Responses API.", "modalities");
        }
    }
    return 0;
}

cJSON *
sllmp_chat_to_responses(const cJSON *req, const char *model, sllmp_xerr_t *e)
{
    const cJSON *max = sllmp_json_get(req, "max_completion_tokens"), *m;
    const cJSON *effort = sllmp_json_get(req, "reasoning_effort"),
                *store = sllmp_json_get(req, "store");
    cJSON *body;

    if (e != NULL) {
        memset(e, 0, sizeof(*e));
    }
    if (!cJSON_IsObject(req)) {
        sllmp_xerr(e, "The request body must be a JSON object.", "%s", "");
        return NULL;
    }
    if (refused(req, e) != 0) {
        return NULL;
    }
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "model", model);
    if (messages(req, body, e) != 0 || tools(req, body, e) != 0 || tool_choice(req, body, e) != 0 ||
        text_config(req, body, e) != 0) {
        cJSON_Delete(body);
        return NULL;
    }
    if (!cJSON_IsNumber(max)) {
        max = sllmp_json_get(req, "max_tokens");
    }
    if (cJSON_IsNumber(max)) {
        cJSON_AddNumberToObject(body, "max_output_tokens", max->valuedouble);
    }
    if (cJSON_IsString(effort)) {
        cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "reasoning"), "effort",
                                effort->valuestring);
    }
    if (cJSON_IsTrue(sllmp_json_get(req, "logprobs"))) {
        cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "include"),
                             cJSON_CreateString("message.output_text.logprobs"));
        if (cJSON_IsNumber(sllmp_json_get(req, "top_logprobs"))) {
            cJSON_AddNumberToObject(body, "top_logprobs",
                                    sllmp_json_get(req, "top_logprobs")->valuedouble);
        }
    }
    cJSON_AddBoolToObject(body, "store", cJSON_IsTrue(store));
    cJSON_ArrayForEach(m, req)
    {
        /* temperature, top_p, user, metadata, parallel_tool_calls, stream, service_tier,
         * prompt_cache_key, safety_identifier, and the client's extra parameters */
        if (m->string != NULL && !consumed(m->string) && !cJSON_HasObjectItem(body, m->string)) {
            cJSON_AddItemToObject(body, m->string, cJSON_Duplicate(m, 1));
        }
    }
    return body;
}

/* ---- the answer ------------------------------------------------------------------------- */

/* status and incomplete_details.reason -> finish_reason (calls: tool_calls). */
static const char *
finish_of(const cJSON *resp, int calls)
{
    const char *reason = sllmp_json_str(sllmp_json_get(resp, "incomplete_details"), "reason");

    if (sllmp_str_is(sllmp_json_str(resp, "status"), "incomplete")) {
        return sllmp_str_is(reason, "content_filter") ? "content_filter" : "length";
    }
    return calls ? "tool_calls" : "stop";
}

cJSON *
sllmp_responses_to_chat_answer(const cJSON *resp, const char *model, long created, sllmp_usage_t *u)
{
    const cJSON *item, *part;
    const char *id = sllmp_json_str(resp, "id");
    sllmp_usage_t local;
    sllmp_buf_t text, refusal, reasoning;
    cJSON *out, *calls = NULL;
    int has_text = 0, has_refusal = 0, has_reasoning = 0;

    if (!cJSON_IsObject(resp) || !cJSON_IsArray(sllmp_json_get(resp, "output"))) {
        return NULL;
    }
    if (u == NULL) {
        u = &local;
    }
    memset(u, 0, sizeof(*u));
    sllmp_usage_from_responses(u, sllmp_json_get(resp, "usage"));
    sllmp_buf_init(&text, 0);
    sllmp_buf_init(&refusal, 0);
    sllmp_buf_init(&reasoning, 0);
    cJSON_ArrayForEach(item, sllmp_json_get(resp, "output"))
    {
        const char *type = sllmp_json_str(item, "type");

        if (sllmp_str_is(type, "message")) {
            cJSON_ArrayForEach(part, sllmp_json_get(item, "content"))
            {
                const char *t = sllmp_json_str(part, "text"), *r = sllmp_json_str(part, "refusal");

                if (sllmp_str_is(sllmp_json_str(part, "type"), "output_text") && t != NULL) {
                    sllmp_buf_appends(&text, t);
                    has_text = 1;
                } else if (r != NULL) {
                    sllmp_buf_appends(&refusal, r);
                    has_refusal = 1;
                }
            }
        } else if (sllmp_str_is(type, "reasoning")) {
            cJSON_ArrayForEach(part, sllmp_json_get(item, "summary"))
            {
                const char *t = sllmp_json_str(part, "text");

                if (t != NULL) {
                    sllmp_buf_appends(&reasoning, t);
                    has_reasoning = 1;
                }
            }
        } else if (sllmp_str_is(type, "function_call")) {
            cJSON *call = cJSON_CreateObject(), *fn;
            const char *args = sllmp_json_str(item, "arguments");

            if (calls == NULL) {
                calls = cJSON_CreateArray();
            }
            cJSON_AddItemToArray(calls, call);
            cJSON_AddStringToObject(
                call, "id",
                sllmp_json_str(item, "call_id") != NULL ? sllmp_json_str(item, "call_id") : "");
            cJSON_AddStringToObject(call, "type", "function");
            fn = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(
                fn, "name",
                sllmp_json_str(item, "name") != NULL ? sllmp_json_str(item, "name") : "");
            cJSON_AddStringToObject(fn, "arguments", args != NULL ? args : "{}");
        }
        /* hosted tool calls (web_search_call, ...): nothing a chat client can take */
    }
    out = sllmp_chat_answer(
        &(sllmp_chat_answer_t){.id = id,
                               .model = model,
                               .created = created,
                               .content = has_text ? sllmp_buf_cstr(&text) : NULL,
                               .refusal = has_refusal ? sllmp_buf_cstr(&refusal) : NULL,
                               .reasoning = has_reasoning ? sllmp_buf_cstr(&reasoning) : NULL,
                               .tool_calls = calls,
                               .finish = finish_of(resp, calls != NULL),
                               .usage = u});
    sllmp_buf_free(&text);
    sllmp_buf_free(&refusal);
    sllmp_buf_free(&reasoning);
    return out;
}

/* ---- the stream ------------------------------------------------------------------------- */

/* An error code of the Responses API -> the HTTP status it stands for. */
static int
error_status(const char *code)
{
    if (sllmp_str_is(code, "rate_limit_exceeded")) {
        return 429;
    }
    if (sllmp_str_is(code, "server_is_overloaded") || sllmp_str_is(code, "slow_down")) {
        return 503;
    }
    if (code != NULL &&
        (strncmp(code, "invalid_", 8) == 0 || sllmp_str_is(code, "empty_image_file") ||
         sllmp_str_is(code, "image_too_large") || sllmp_str_is(code, "image_too_small") ||
         sllmp_str_is(code, "vector_store_timeout"))) {
        return 400;
    }
    return 500;
}

static int
stream_failed(sllmp_xstream_t *s, const cJSON *err, const char *fallback)
{
    const char *code = sllmp_json_str(err, "code"), *msg = sllmp_json_str(err, "message");

    if (code != NULL && *code == '\0') {
        code = NULL;
    }
    if (msg != NULL && *msg == '\0') {
        msg = NULL;
    }
    s->err_status = error_status(code);
    snprintf(s->err_type, sizeof(s->err_type), "%s", code != NULL ? code : "server_error");
    snprintf(s->err_message, sizeof(s->err_message), "%.*s",
             msg != NULL ? sllmp_utf8_prec(msg, 500) : (int)strlen(fallback),
             msg != NULL ? msg : fallback);
    return -1;
}

int
sllmp_responses_chat_event(sllmp_xstream_t *s, const char *type, const cJSON *data)
{
    const cJSON *item = sllmp_json_get(data, "item"), *resp = sllmp_json_get(data, "response");
    const cJSON *index = sllmp_json_get(data, "output_index");
    const char *delta = sllmp_json_str(data, "delta");
    int block = cJSON_IsNumber(index) && index->valuedouble >= 0 && index->valuedouble < 1e9
                    ? (int)index->valuedouble
                    : -1;

    if (s->ended) {
        return 0; /* nothing after the last event goes out (the finish and usage chunks did) */
    }
    if (sllmp_str_is(type, "response.created")) {
        const char *id = sllmp_json_str(resp, "id");

        if (id != NULL) {
            snprintf(s->id_buf, sizeof(s->id_buf), "%.*s", sllmp_utf8_prec(id, 100), id);
        }
        return sllmp_xstream_start(s);
    }
    if (sllmp_str_is(type, "response.output_text.delta") && delta != NULL) {
        s->text_chars += strlen(delta);
        return sllmp_xstream_text(s, delta, strlen(delta));
    }
    if (sllmp_str_is(type, "response.refusal.delta") && delta != NULL) {
        return sllmp_xstream_refusal(s, delta, strlen(delta));
    }
    if ((sllmp_str_is(type, "response.reasoning_summary_text.delta") ||
         sllmp_str_is(type, "response.reasoning_text.delta")) &&
        delta != NULL) {
        return sllmp_xstream_reasoning(s, delta, strlen(delta));
    }
    if (sllmp_str_is(type, "response.output_item.added") &&
        sllmp_str_is(sllmp_json_str(item, "type"), "function_call")) {
        return sllmp_xstream_tool_start(s, block, sllmp_json_str(item, "call_id"),
                                        sllmp_json_str(item, "name"), NULL);
    }
    if (sllmp_str_is(type, "response.function_call_arguments.delta") && delta != NULL) {
        s->text_chars += strlen(delta);
        return sllmp_xstream_tool_args(s, block, delta, strlen(delta));
    }
    if (sllmp_str_is(type, "response.output_item.done") &&
        sllmp_str_is(sllmp_json_str(item, "type"), "function_call")) {
        return sllmp_xstream_block_stop(s, block);
    }
    if (sllmp_str_is(type, "response.completed") || sllmp_str_is(type, "response.incomplete")) {
        const cJSON *it;
        int calls = 0, rc;

        cJSON_ArrayForEach(it, sllmp_json_get(resp, "output"))
        {
            calls |= sllmp_str_is(sllmp_json_str(it, "type"), "function_call");
        }
        memset(&s->usage, 0, sizeof(s->usage));
        sllmp_usage_from_responses(&s->usage, sllmp_json_get(resp, "usage"));
        s->ended = 1;
        rc = sllmp_xstream_finish_reason(s, finish_of(resp, calls));
        return rc != 0 ? rc : sllmp_xstream_finish(s);
    }
    if (sllmp_str_is(type, "response.failed")) {
        return stream_failed(s, sllmp_json_get(resp, "error"), "The response failed.");
    }
    if (sllmp_str_is(type, "error")) {
        return stream_failed(s, data, "The provider failed mid-stream.");
    }
    return 0; /* the events of parts and hosted tools: nothing more */
}
