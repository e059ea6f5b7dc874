/*
 * Anthropic's Messages API through chat completions (include/sllmp/messages.h): the request
 * one way, the answer and its events the other. Pure: cJSON in, cJSON out.
 */
#include "sllmp/messages.h"
#include "sllmp/buf.h"
#include "sllmp/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ request */

/* One image block's source as an image_url part; NULL with *e filled. */
static cJSON *
image_part(const cJSON *block, const char *param, sllmp_xerr_t *e)
{
    const cJSON *src = sllmp_json_get(block, "source");
    const char *type = sllmp_json_str(src, "type");
    cJSON *part;
    char *url;

    if (sllmp_str_is(type, "base64")) {
        const char *mt = sllmp_json_str(src, "media_type"), *data = sllmp_json_str(src, "data");

        if (mt == NULL || data == NULL) {
            sllmp_xerr(e, "needs media_type and data.", "%s.source", param);
            return NULL;
        }
        url = sllmp_xasprintf("data:%s;base64,%s", mt, data);
    } else if (sllmp_str_is(type, "url") && sllmp_json_str(src, "url") != NULL) {
        url = sllmp_xstrdup(sllmp_json_str(src, "url"));
    } else {
        sllmp_xerr(e, "must be a base64 or url source (a file id needs Anthropic's Files API).",
                   "%s.source", param);
        return NULL;
    }
    part = cJSON_CreateObject();
    cJSON_AddStringToObject(part, "type", "image_url");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(part, "image_url"), "url", url);
    free(url);
    return part;
}

/* A document block: a base64 PDF as a file part, plain text as a text part. */
static cJSON *
document_part(const cJSON *block, const char *param, sllmp_xerr_t *e)
{
    const cJSON *src = sllmp_json_get(block, "source");
    const char *type = sllmp_json_str(src, "type"), *data = sllmp_json_str(src, "data");
    const char *mt = sllmp_json_str(src, "media_type");
    cJSON *part = cJSON_CreateObject(), *file;
    char *url;

    if (sllmp_str_is(type, "base64") && data != NULL) {
        url = sllmp_xasprintf("data:%s;base64,%s", mt != NULL ? mt : "application/pdf", data);
        cJSON_AddStringToObject(part, "type", "file");
        file = cJSON_AddObjectToObject(part, "file");
        cJSON_AddStringToObject(file, "file_data", url);
        if (sllmp_json_str(block, "title") != NULL) {
            cJSON_AddStringToObject(file, "filename", sllmp_json_str(block, "title"));
        }
        free(url);
        return part;
    }
    if (sllmp_str_is(type, "text") && data != NULL) {
        cJSON_AddStringToObject(part, "type", "text");
        cJSON_AddStringToObject(part, "text", data);
        return part;
    }
    cJSON_Delete(part);
    sllmp_xerr(e,
               "must be a base64 or text source here (a url or file document needs "
               "Anthropic's own API).",
               "%s.source", param);
    return NULL;
}

static cJSON *
text_part(const char *text)
{
    cJSON *part = cJSON_CreateObject();

    cJSON_AddStringToObject(part, "type", "text");
    cJSON_AddStringToObject(part, "text", text);
    return part;
}

/* The text of a tool_result's content (a string, or blocks whose texts are joined); its images
 * go to `images`. -1 with *e filled. */
static int
tool_result_content(const cJSON *content, sllmp_buf_t *text, cJSON *images, const char *param,
                    sllmp_xerr_t *e)
{
    const cJSON *b;
    int k = 0;

    if (content == NULL || cJSON_IsNull(content)) {
        return 0;
    }
    if (cJSON_IsString(content)) {
        sllmp_buf_appends(text, content->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        return sllmp_xerr(e, "must be a string or a list of blocks.", "%s.content", param);
    }
    cJSON_ArrayForEach(b, content)
    {
        const char *type = sllmp_json_str(b, "type");
        char sub[96];

        snprintf(sub, sizeof(sub), "%s.content.%d", param, k++);
        if (sllmp_str_is(type, "text")) {
            if (text->len > 0) {
                sllmp_buf_appends(text, "\n");
            }
            sllmp_buf_appends(text, sllmp_json_str(b, "text") ? sllmp_json_str(b, "text") : "");
        } else if (sllmp_str_is(type, "image")) {
            cJSON *p = image_part(b, sub, e);

            if (p == NULL) {
                return -1;
            }
            cJSON_AddItemToArray(images, p);
        } else if (sllmp_str_is(type, "document")) {
            cJSON *p = document_part(b, sub, e);

            if (p == NULL) {
                return -1;
            }
            cJSON_AddItemToArray(images, p);
        } else {
            /* search results and the like: their text is what the model can use */
            char *s = cJSON_PrintUnformatted(b);

            if (text->len > 0) {
                sllmp_buf_appends(text, "\n");
            }
            sllmp_buf_appends(text, s != NULL ? s : "");
            cJSON_free(s);
        }
    }
    return 0;
}

/* A user turn: its tool results as tool messages, then a user message of the other blocks. */
static int
user_turn(cJSON *out, const cJSON *content, int i, sllmp_xerr_t *e)
{
    cJSON *parts, *m;
    const cJSON *b;
    int k = 0;

    if (cJSON_IsString(content)) {
        m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", content->valuestring);
        cJSON_AddItemToArray(out, m);
        return 0;
    }
    parts = cJSON_CreateArray();
    cJSON_ArrayForEach(b, content)
    {
        const char *type = sllmp_json_str(b, "type");
        char param[64];
        cJSON *p = NULL;

        snprintf(param, sizeof(param), "messages.%d.content.%d", i, k++);
        if (sllmp_str_is(type, "text")) {
            const char *t = sllmp_json_str(b, "text");

            if (t == NULL) {
                cJSON_Delete(parts);
                return sllmp_xerr(e, "must be a string.", "%s.text", param);
            }
            p = text_part(t);
        } else if (sllmp_str_is(type, "image")) {
            p = image_part(b, param, e);
        } else if (sllmp_str_is(type, "document")) {
            p = document_part(b, param, e);
        } else if (sllmp_str_is(type, "tool_result")) {
            const char *id = sllmp_json_str(b, "tool_use_id");
            sllmp_buf_t text;

            if (id == NULL) {
                cJSON_Delete(parts);
                return sllmp_xerr(e, "is required.", "%s.tool_use_id", param);
            }
            sllmp_buf_init(&text, 0);
            if (tool_result_content(sllmp_json_get(b, "content"), &text, parts, param, e) != 0) {
                sllmp_buf_free(&text);
                cJSON_Delete(parts);
                return -1;
            }
            m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "tool");
            cJSON_AddStringToObject(m, "tool_call_id", id);
            cJSON_AddStringToObject(m, "content", sllmp_buf_cstr(&text));
            sllmp_buf_free(&text);
            cJSON_AddItemToArray(out, m);
            continue;
        } else if (sllmp_str_is(type, "thinking") || sllmp_str_is(type, "redacted_thinking")) {
            continue; /* not the user's to say */
        } else {
            cJSON_Delete(parts);
            return sllmp_xerr(e, "is a block type this model cannot take through chat completions.",
                              "%s.type", param);
        }
        if (p == NULL) {
            cJSON_Delete(parts);
            return -1;
        }
        cJSON_AddItemToArray(parts, p);
    }
    if (cJSON_GetArraySize(parts) == 0) {
        cJSON_Delete(parts);
        return 0;
    }
    m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddItemToObject(m, "content", parts);
    cJSON_AddItemToArray(out, m);
    return 0;
}

/* An assistant turn: its text as content, tool_use as tool_calls, signed thinking as LiteLLM's
 * thinking_blocks. */
static int
assistant_turn(cJSON *out, const cJSON *content, int i, sllmp_xerr_t *e)
{
    cJSON *m = cJSON_CreateObject(), *calls = NULL, *thinking = NULL;
    sllmp_buf_t text;
    const cJSON *b;
    int k = 0;

    cJSON_AddStringToObject(m, "role", "assistant");
    if (cJSON_IsString(content)) {
        cJSON_AddStringToObject(m, "content", content->valuestring);
        cJSON_AddItemToArray(out, m);
        return 0;
    }
    sllmp_buf_init(&text, 0);
    cJSON_ArrayForEach(b, content)
    {
        const char *type = sllmp_json_str(b, "type");
        char param[64];

        snprintf(param, sizeof(param), "messages.%d.content.%d", i, k++);
        if (sllmp_str_is(type, "text")) {
            sllmp_buf_appends(&text, sllmp_json_str(b, "text") ? sllmp_json_str(b, "text") : "");
        } else if (sllmp_str_is(type, "tool_use")) {
            const char *id = sllmp_json_str(b, "id"), *name = sllmp_json_str(b, "name");
            const cJSON *input = sllmp_json_get(b, "input");
            cJSON *call, *fn;
            char *args;

            if (id == NULL || name == NULL) {
                sllmp_buf_free(&text);
                cJSON_Delete(m);
                cJSON_Delete(calls);
                cJSON_Delete(thinking);
                return sllmp_xerr(e, "needs an id and a name.", "%s", param);
            }
            args = cJSON_IsObject(input) ? cJSON_PrintUnformatted(input) : NULL;
            call = cJSON_CreateObject();
            cJSON_AddStringToObject(call, "id", id);
            cJSON_AddStringToObject(call, "type", "function");
            fn = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(fn, "name", name);
            cJSON_AddStringToObject(fn, "arguments", args != NULL ? args : "{}");
            cJSON_free(args);
            if (calls == NULL) {
                calls = cJSON_CreateArray();
            }
            cJSON_AddItemToArray(calls, call);
        } else if ((sllmp_str_is(type, "thinking") && sllmp_json_str(b, "signature") != NULL &&
                    !sllmp_blank(sllmp_json_str(b, "signature"))) ||
                   (sllmp_str_is(type, "redacted_thinking") && sllmp_json_str(b, "data") != NULL)) {
            cJSON *entry = cJSON_CreateObject();

            cJSON_AddStringToObject(entry, "type", type);
            if (sllmp_str_is(type, "thinking")) {
                const char *t = sllmp_json_str(b, "thinking");

                cJSON_AddStringToObject(entry, "thinking", t != NULL ? t : "");
                cJSON_AddStringToObject(entry, "signature", sllmp_json_str(b, "signature"));
            } else {
                cJSON_AddStringToObject(entry, "data", sllmp_json_str(b, "data"));
            }
            if (thinking == NULL) {
                thinking = cJSON_CreateArray();
            }
            cJSON_AddItemToArray(thinking, entry);
        }
        /* unsigned thinking, and the results of Anthropic's server tools: nothing to send */
    }
    if (text.len > 0 || calls == NULL) {
        cJSON_AddStringToObject(m, "content", sllmp_buf_cstr(&text));
    } else {
        cJSON_AddNullToObject(m, "content");
    }
    sllmp_buf_free(&text);
    if (calls != NULL) {
        cJSON_AddItemToObject(m, "tool_calls", calls);
    }
    if (thinking != NULL) {
        cJSON_AddItemToObject(m, "thinking_blocks", thinking);
    }
    cJSON_AddItemToArray(out, m);
    return 0;
}

static int
system_message(cJSON *out, const cJSON *system, sllmp_xerr_t *e)
{
    sllmp_buf_t text;
    const cJSON *b;
    cJSON *m;
    int k = 0;

    if (system == NULL || cJSON_IsNull(system)) {
        return 0;
    }
    sllmp_buf_init(&text, 0);
    if (cJSON_IsString(system)) {
        sllmp_buf_appends(&text, system->valuestring);
    } else {
        cJSON_ArrayForEach(b, system)
        {
            const char *t = sllmp_json_str(b, "text");

            if (!sllmp_str_is(sllmp_json_str(b, "type"), "text") || t == NULL) {
                sllmp_buf_free(&text);
                return sllmp_xerr(e, "must be a text block.", "system.%d", k);
            }
            if (text.len > 0) {
                sllmp_buf_appends(&text, "\n\n");
            }
            sllmp_buf_appends(&text, t);
            k++;
        }
    }
    if (text.len > 0) {
        m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "system");
        cJSON_AddStringToObject(m, "content", sllmp_buf_cstr(&text));
        cJSON_AddItemToArray(out, m);
    }
    sllmp_buf_free(&text);
    return 0;
}

static int
tools(cJSON *chat, const cJSON *list, sllmp_xerr_t *e)
{
    const cJSON *t;
    cJSON *out;
    int k = 0;

    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
        return 0;
    }
    out = cJSON_AddArrayToObject(chat, "tools");
    cJSON_ArrayForEach(t, list)
    {
        const char *type = sllmp_json_str(t, "type"), *name = sllmp_json_str(t, "name");
        const cJSON *schema = sllmp_json_get(t, "input_schema");
        cJSON *tool, *fn;

        if (type != NULL && !sllmp_str_is(type, "custom")) {
            return sllmp_xerr(e,
                              "is one of Anthropic's server tools, which only Anthropic's "
                              "models run.",
                              "tools.%d.type", k);
        }
        if (name == NULL) {
            return sllmp_xerr(e, "is required.", "tools.%d.name", k);
        }
        tool = cJSON_CreateObject();
        cJSON_AddStringToObject(tool, "type", "function");
        fn = cJSON_AddObjectToObject(tool, "function");
        cJSON_AddStringToObject(fn, "name", name);
        if (sllmp_json_str(t, "description") != NULL) {
            cJSON_AddStringToObject(fn, "description", sllmp_json_str(t, "description"));
        }
        if (cJSON_IsObject(schema)) {
            cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(schema, 1));
        } else {
            cJSON *p = cJSON_AddObjectToObject(fn, "parameters");

            cJSON_AddStringToObject(p, "type", "object");
            cJSON_AddObjectToObject(p, "properties");
        }
        if (cJSON_IsBool(sllmp_json_get(t, "strict"))) {
            cJSON_AddBoolToObject(fn, "strict", cJSON_IsTrue(sllmp_json_get(t, "strict")));
        }
        cJSON_AddItemToArray(out, tool);
        k++;
    }
    return 0;
}

static int
tool_choice(cJSON *chat, const cJSON *tc, sllmp_xerr_t *e)
{
    const char *type = sllmp_json_str(tc, "type");

    if (tc == NULL || cJSON_IsNull(tc) || sllmp_json_get(chat, "tools") == NULL) {
        return 0; /* chat refuses a tool_choice without tools; Anthropic ignores it */
    }
    if (sllmp_str_is(type, "auto")) {
        cJSON_AddStringToObject(chat, "tool_choice", "auto");
    } else if (sllmp_str_is(type, "any")) {
        cJSON_AddStringToObject(chat, "tool_choice", "required");
    } else if (sllmp_str_is(type, "none")) {
        cJSON_AddStringToObject(chat, "tool_choice", "none");
    } else if (sllmp_str_is(type, "tool") && sllmp_json_str(tc, "name") != NULL) {
        cJSON *c = cJSON_AddObjectToObject(chat, "tool_choice");

        cJSON_AddStringToObject(c, "type", "function");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(c, "function"), "name",
                                sllmp_json_str(tc, "name"));
    } else {
        return sllmp_xerr(e, "must be auto, any, none, or tool with a name.", "tool_choice");
    }
    if (cJSON_IsTrue(sllmp_json_get(tc, "disable_parallel_tool_use"))) {
        cJSON_AddFalseToObject(chat, "parallel_tool_calls");
    }
    return 0;
}

/* thinking and output_config.effort -> reasoning_effort. */
static void
effort(cJSON *chat, const cJSON *req)
{
    const cJSON *th = sllmp_json_get(req, "thinking");
    const char *eff = sllmp_json_str(sllmp_json_get(req, "output_config"), "effort");

    if (eff != NULL) {
        cJSON_AddStringToObject(chat, "reasoning_effort", sllmp_str_is(eff, "max") ? "xhigh" : eff);
        return;
    }
    if (sllmp_str_is(sllmp_json_str(th, "type"), "enabled") &&
        cJSON_IsNumber(sllmp_json_get(th, "budget_tokens"))) {
        double b = sllmp_json_get(th, "budget_tokens")->valuedouble;

        cJSON_AddStringToObject(chat, "reasoning_effort",
                                b < 2048   ? "low"
                                : b < 4096 ? "medium"
                                           : "high");
    }
}

static void
output_format(cJSON *chat, const cJSON *req)
{
    const cJSON *f = sllmp_json_get(sllmp_json_get(req, "output_config"), "format");
    cJSON *rf, *js;

    if (f == NULL) {
        f = sllmp_json_get(req, "output_format"); /* the structured outputs beta's name */
    }
    if (!sllmp_str_is(sllmp_json_str(f, "type"), "json_schema") ||
        !cJSON_IsObject(sllmp_json_get(f, "schema"))) {
        return;
    }
    rf = cJSON_AddObjectToObject(chat, "response_format");
    cJSON_AddStringToObject(rf, "type", "json_schema");
    js = cJSON_AddObjectToObject(rf, "json_schema");
    cJSON_AddStringToObject(js, "name", "output");
    cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(sllmp_json_get(f, "schema"), 1));
    cJSON_AddTrueToObject(js, "strict");
}

cJSON *
sllmp_messages_to_chat(const cJSON *req, sllmp_xerr_t *e)
{
    static const char *const same[] = {"model", "max_tokens", "temperature", "top_p", "stream"};
    cJSON *chat = cJSON_CreateObject(), *msgs;
    const cJSON *m, *stop;
    int i = 0;

    for (size_t k = 0; k < sizeof(same) / sizeof(same[0]); k++) {
        const cJSON *v = sllmp_json_get(req, same[k]);

        if (v != NULL && !cJSON_IsNull(v)) {
            cJSON_AddItemToObject(chat, same[k], cJSON_Duplicate(v, 1));
        }
    }
    msgs = cJSON_AddArrayToObject(chat, "messages");
    if (system_message(msgs, sllmp_json_get(req, "system"), e) != 0) {
        goto fail;
    }
    cJSON_ArrayForEach(m, sllmp_json_get(req, "messages"))
    {
        const char *role = sllmp_json_str(m, "role");
        const cJSON *content = sllmp_json_get(m, "content");
        int rc;

        if (!cJSON_IsString(content) && !cJSON_IsArray(content)) {
            sllmp_xerr(e, "must be a string or a list of content blocks.", "messages.%d.content",
                       i);
            goto fail;
        }
        rc = sllmp_str_is(role, "assistant") ? assistant_turn(msgs, content, i, e)
                                             : user_turn(msgs, content, i, e);
        if (rc != 0) {
            goto fail;
        }
        i++;
    }
    stop = sllmp_json_get(req, "stop_sequences");
    if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > 0) {
        cJSON_AddItemToObject(chat, "stop", cJSON_Duplicate(stop, 1));
    }
    if (tools(chat, sllmp_json_get(req, "tools"), e) != 0 ||
        tool_choice(chat, sllmp_json_get(req, "tool_choice"), e)) {
        goto fail;
    }
    effort(chat, req);
    output_format(chat, req);
    if (sllmp_json_str(sllmp_json_get(req, "metadata"), "user_id") != NULL) {
        cJSON_AddStringToObject(chat, "user",
                                sllmp_json_str(sllmp_json_get(req, "metadata"), "user_id"));
    }
    return chat;

fail:
    cJSON_Delete(chat);
    return NULL;
}

static int
bare_member(cJSON *o, const char *name)
{
    const char *id = sllmp_json_str(o, name);

    if (id == NULL || id[sllmp_thought_id_len(id)] == '\0') {
        return 0;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(o, name, sllmp_bare_tool_id(id));
    return 1;
}

int
sllmp_messages_bare_ids(cJSON *req)
{
    cJSON *m, *b;
    int n = 0;

    cJSON_ArrayForEach(m, sllmp_json_get(req, "messages"))
    {
        cJSON_ArrayForEach(b, sllmp_json_get(m, "content"))
        {
            const char *type = sllmp_json_str(b, "type");

            if (sllmp_str_is(type, "tool_use")) {
                n += bare_member(b, "id");
            } else if (sllmp_str_is(type, "tool_result")) {
                n += bare_member(b, "tool_use_id");
            }
        }
    }
    return n;
}

/* ------------------------------------------------------------------------ answer */

const char *
sllmp_messages_stop_reason(const char *finish, int has_tool_use)
{
    if (sllmp_str_is(finish, "length")) {
        return "max_tokens";
    }
    if (sllmp_str_is(finish, "content_filter")) {
        return "refusal";
    }
    if (has_tool_use || sllmp_str_is(finish, "tool_calls") ||
        sllmp_str_is(finish, "function_call")) {
        return "tool_use";
    }
    return "end_turn";
}

cJSON *
sllmp_messages_usage(const sllmp_usage_t *u)
{
    static const sllmp_usage_t none;
    cJSON *o = cJSON_CreateObject();

    if (u == NULL) {
        u = &none;
    }

    cJSON_AddNumberToObject(o, "input_tokens", (double)u->input);
    cJSON_AddNumberToObject(o, "cache_creation_input_tokens", (double)u->cache_write);
    cJSON_AddNumberToObject(o, "cache_read_input_tokens", (double)u->cache_read);
    cJSON_AddNumberToObject(o, "output_tokens", (double)(u->output + u->reasoning));
    return o;
}

/* The Message without content, stop_reason and usage. */
static cJSON *
message_head(const sllmp_messages_meta_t *m)
{
    cJSON *msg = cJSON_CreateObject();

    cJSON_AddStringToObject(msg, "id", m->id);
    cJSON_AddStringToObject(msg, "type", "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "model", m->model != NULL ? m->model : "");
    return msg;
}

static cJSON *
thinking_block(const char *thinking, const char *signature)
{
    cJSON *b = cJSON_CreateObject();

    cJSON_AddStringToObject(b, "type", "thinking");
    cJSON_AddStringToObject(b, "thinking", thinking != NULL ? thinking : "");
    cJSON_AddStringToObject(b, "signature", signature != NULL ? signature : "");
    return b;
}

/* A thinking_blocks entry as the content block it was, NULL for anything else. */
static cJSON *
entry_block(const cJSON *entry)
{
    const char *type = sllmp_json_str(entry, "type");
    cJSON *b;

    if (sllmp_str_is(type, "thinking")) {
        return thinking_block(sllmp_json_str(entry, "thinking"),
                              sllmp_json_str(entry, "signature"));
    }
    if (sllmp_str_is(type, "redacted_thinking") && sllmp_json_str(entry, "data") != NULL) {
        b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "redacted_thinking");
        cJSON_AddStringToObject(b, "data", sllmp_json_str(entry, "data"));
        return b;
    }
    return NULL;
}

static cJSON *
tool_use_block(const char *id, const char *name, const char *args)
{
    cJSON *b = cJSON_CreateObject();
    cJSON *input = args != NULL ? cJSON_Parse(args) : NULL;

    if (!cJSON_IsObject(input)) {
        cJSON_Delete(input);
        input = cJSON_CreateObject();
    }
    cJSON_AddStringToObject(b, "type", "tool_use");
    cJSON_AddStringToObject(b, "id", id != NULL ? id : "");
    cJSON_AddStringToObject(b, "name", name != NULL ? name : "");
    cJSON_AddItemToObject(b, "input", input);
    return b;
}

cJSON *
sllmp_messages_from_chat(const sllmp_messages_meta_t *m, const cJSON *completion,
                         const sllmp_usage_t *u)
{
    const cJSON *choice = cJSON_GetArrayItem(sllmp_json_get(completion, "choices"), 0);
    const cJSON *msg = sllmp_json_get(choice, "message"), *entry, *call;
    const char *text = sllmp_json_str(msg, "content");
    const char *reasoning = sllmp_json_str(msg, "reasoning_content");
    cJSON *out, *content;
    sllmp_usage_t own;
    int calls = 0;

    if (!cJSON_IsObject(msg)) {
        return NULL;
    }
    out = message_head(m);
    content = cJSON_AddArrayToObject(out, "content");
    cJSON_ArrayForEach(entry, sllmp_json_get(msg, "thinking_blocks"))
    {
        cJSON *b = entry_block(entry);

        if (b != NULL) {
            cJSON_AddItemToArray(content, b);
        }
    }
    if (cJSON_GetArraySize(content) == 0 && reasoning != NULL && *reasoning != '\0') {
        cJSON_AddItemToArray(content, thinking_block(reasoning, NULL));
    }
    if (text == NULL || *text == '\0') {
        text = sllmp_json_str(msg, "refusal");
    }
    if (text != NULL && *text != '\0') {
        cJSON *b = cJSON_CreateObject();

        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", text);
        cJSON_AddItemToArray(content, b);
    }
    cJSON_ArrayForEach(call, sllmp_json_get(msg, "tool_calls"))
    {
        const cJSON *fn = sllmp_json_get(call, "function");

        cJSON_AddItemToArray(content,
                             tool_use_block(sllmp_json_str(call, "id"), sllmp_json_str(fn, "name"),
                                            sllmp_json_str(fn, "arguments")));
        calls++;
    }
    cJSON_AddStringToObject(
        out, "stop_reason",
        sllmp_messages_stop_reason(sllmp_json_str(choice, "finish_reason"), calls > 0));
    cJSON_AddNullToObject(out, "stop_sequence");
    if (u == NULL) {
        memset(&own, 0, sizeof(own));
        sllmp_usage_from_openai(&own, sllmp_json_get(completion, "usage"));
        u = &own;
    }
    cJSON_AddItemToObject(out, "usage", sllmp_messages_usage(u));
    return out;
}

/* ------------------------------------------------------------------------ stream */

enum { OPEN_NONE, OPEN_TEXT, OPEN_THINKING, OPEN_TOOL };

/* An event object whose first member is "type". */
static cJSON *
event(const char *type)
{
    cJSON *e = cJSON_CreateObject();

    cJSON_AddStringToObject(e, "type", type);
    return e;
}

static int
emit(sllmp_mstream_t *s, cJSON *data)
{
    const char *type = sllmp_json_str(data, "type");
    int rc;

    if (s->stopped) {
        cJSON_Delete(data);
        return s->stopped;
    }
    rc = s->emit(s->ud, type, data);
    cJSON_Delete(data);
    if (rc != 0) {
        s->stopped = rc;
    }
    return rc;
}

static int
start(sllmp_mstream_t *s)
{
    cJSON *e, *msg;

    if (s->started) {
        return s->stopped;
    }
    s->started = 1;
    e = event("message_start");
    msg = message_head(&s->meta);
    cJSON_AddArrayToObject(msg, "content");
    cJSON_AddNullToObject(msg, "stop_reason");
    cJSON_AddNullToObject(msg, "stop_sequence");
    cJSON_AddItemToObject(msg, "usage", sllmp_messages_usage(NULL));
    cJSON_AddItemToObject(e, "message", msg);
    if (emit(s, e) != 0) {
        return s->stopped;
    }
    return emit(s, event("ping"));
}

static int
close_block(sllmp_mstream_t *s)
{
    cJSON *e;

    if (s->open == OPEN_NONE) {
        return s->stopped;
    }
    s->open = OPEN_NONE;
    e = event("content_block_stop");
    cJSON_AddNumberToObject(e, "index", s->blocks - 1);
    return emit(s, e);
}

/* Closes the open block and starts `block` (taken) as the next. */
static int
open_block(sllmp_mstream_t *s, int kind, cJSON *block)
{
    cJSON *e;

    if (close_block(s) != 0) {
        cJSON_Delete(block);
        return s->stopped;
    }
    e = event("content_block_start");
    cJSON_AddNumberToObject(e, "index", s->blocks++);
    cJSON_AddItemToObject(e, "content_block", block);
    s->open = kind;
    return emit(s, e);
}

/* A content_block_delta of the open block: {"type": type, member: text}. */
static int
delta(sllmp_mstream_t *s, const char *type, const char *member, const char *text)
{
    cJSON *e = event("content_block_delta"), *d;

    cJSON_AddNumberToObject(e, "index", s->blocks - 1);
    d = cJSON_AddObjectToObject(e, "delta");
    cJSON_AddStringToObject(d, "type", type);
    cJSON_AddStringToObject(d, member, text);
    return emit(s, e);
}

static int
text_delta(sllmp_mstream_t *s, const char *text)
{
    if (s->open != OPEN_TEXT) {
        cJSON *b = cJSON_CreateObject();

        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", "");
        if (open_block(s, OPEN_TEXT, b) != 0) {
            return s->stopped;
        }
    }
    return delta(s, "text_delta", "text", text);
}

static int
thinking_delta(sllmp_mstream_t *s, const char *text)
{
    if (s->open != OPEN_THINKING && open_block(s, OPEN_THINKING, thinking_block("", "")) != 0) {
        return s->stopped;
    }
    return delta(s, "thinking_delta", "thinking", text);
}

/* A thinking_blocks entry: the signature of the thinking block open (or one of its own). */
static int
thinking_entry(sllmp_mstream_t *s, const cJSON *entry)
{
    const char *type = sllmp_json_str(entry, "type");
    const char *sig = sllmp_json_str(entry, "signature");

    if (sllmp_str_is(type, "redacted_thinking")) {
        cJSON *b = entry_block(entry);

        return b != NULL && open_block(s, OPEN_THINKING, b) == 0 ? close_block(s) : s->stopped;
    }
    if (!sllmp_str_is(type, "thinking")) {
        return s->stopped;
    }
    if (s->open != OPEN_THINKING) {
        const char *t = sllmp_json_str(entry, "thinking");

        if (thinking_delta(s, t != NULL ? t : "") != 0) {
            return s->stopped;
        }
    }
    if (sig != NULL && *sig != '\0' && delta(s, "signature_delta", "signature", sig) != 0) {
        return s->stopped;
    }
    return close_block(s);
}

static int
tool_delta(sllmp_mstream_t *s, const cJSON *call)
{
    const cJSON *idx = sllmp_json_get(call, "index"), *fn = sllmp_json_get(call, "function");
    int index = cJSON_IsNumber(idx) ? idx->valueint : 0;
    const char *args = sllmp_json_str(fn, "arguments");

    if (s->open != OPEN_TOOL || index != s->call_index) {
        const char *id = sllmp_json_str(call, "id");
        char made[32];
        cJSON *b = cJSON_CreateObject();

        if (id == NULL || *id == '\0') {
            memcpy(made, "toolu_", 6);
            sllmp_random_hex(made + 6, 12);
            id = made;
        }
        cJSON_AddStringToObject(b, "type", "tool_use");
        cJSON_AddStringToObject(b, "id", id);
        cJSON_AddStringToObject(b, "name",
                                sllmp_json_str(fn, "name") ? sllmp_json_str(fn, "name") : "");
        cJSON_AddObjectToObject(b, "input");
        if (open_block(s, OPEN_TOOL, b) != 0) {
            return s->stopped;
        }
        s->call_index = index;
        s->tool_use = 1;
    }
    if (args != NULL && *args != '\0') {
        return delta(s, "input_json_delta", "partial_json", args);
    }
    return s->stopped;
}

int
sllmp_mstream_chunk(sllmp_mstream_t *s, const cJSON *chunk)
{
    const cJSON *choice = NULL, *c, *d, *entry, *call;
    const char *text;

    cJSON_ArrayForEach(c, sllmp_json_get(chunk, "choices"))
    {
        const cJSON *idx = sllmp_json_get(c, "index");

        if (!cJSON_IsNumber(idx) || idx->valueint == 0) {
            choice = c;
            break;
        }
    }
    if (choice == NULL || s->stopped) {
        return s->stopped;
    }
    if (start(s) != 0) {
        return s->stopped;
    }
    d = sllmp_json_get(choice, "delta");
    if ((text = sllmp_json_str(d, "reasoning_content")) != NULL && *text != '\0' &&
        thinking_delta(s, text) != 0) {
        return s->stopped;
    }
    cJSON_ArrayForEach(entry, sllmp_json_get(d, "thinking_blocks"))
    {
        if (thinking_entry(s, entry) != 0) {
            return s->stopped;
        }
    }
    if ((text = sllmp_json_str(d, "content")) != NULL && *text != '\0' &&
        text_delta(s, text) != 0) {
        return s->stopped;
    }
    if ((text = sllmp_json_str(d, "refusal")) != NULL && *text != '\0' &&
        text_delta(s, text) != 0) {
        return s->stopped;
    }
    cJSON_ArrayForEach(call, sllmp_json_get(d, "tool_calls"))
    {
        if (tool_delta(s, call) != 0) {
            return s->stopped;
        }
    }
    if ((text = sllmp_json_str(choice, "finish_reason")) != NULL) {
        snprintf(s->finish, sizeof(s->finish), "%s", text);
    }
    return s->stopped;
}

int
sllmp_mstream_finish(sllmp_mstream_t *s, const sllmp_usage_t *u)
{
    cJSON *e, *d;

    if (start(s) != 0 || close_block(s) != 0) {
        return s->stopped;
    }
    e = event("message_delta");
    d = cJSON_AddObjectToObject(e, "delta");
    cJSON_AddStringToObject(
        d, "stop_reason", sllmp_messages_stop_reason(s->finish[0] ? s->finish : NULL, s->tool_use));
    cJSON_AddNullToObject(d, "stop_sequence");
    cJSON_AddItemToObject(e, "usage", sllmp_messages_usage(u));
    if (emit(s, e) != 0) {
        return s->stopped;
    }
    return emit(s, event("message_stop"));
}
