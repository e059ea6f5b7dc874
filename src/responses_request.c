/*
 * A Responses request -> a chat completions request (include/sllmp/responses.h has the
 * contract). Pure: cJSON in, cJSON out; the input is never modified.
 *
 * Decisions where the contract is silent, taken as a LiteLLM user would expect:
 *  - An empty instructions string sends no system message (providers refuse empty text).
 *  - An assistant message's text parts (output_text, and input_text, which the SDK's
 *    EasyInputMessage allows) are joined with nothing between them, as the streamed deltas of
 *    one answer would be; with no text part its content is null. A user, system or developer
 *    message takes input parts only (input_text, input_image, input_file, input_audio), as
 *    OpenAI's Responses API does.
 *  - input_audio parts (ResponseInputAudio) go as they are: chat's input_audio part has the
 *    same shape. prompt_cache_breakpoint on a part goes along too (chat's parts take it).
 *  - Image detail is copied as given ("original" included: the upstream judges).
 *  - Dropped items (reasoning) do not separate an assistant message from the function calls
 *    after it: [message, reasoning, function_call] is one assistant message, as the output of
 *    one answer was.
 *  - An empty tools array sends no tools, and with no tools tool_choice and
 *    parallel_tool_calls are not sent either: OpenAI's chat API refuses both without tools,
 *    where its Responses API takes them.
 *  - tool_choice {"type":"allowed_tools","mode","tools":[{"type":"function","name"}]} becomes
 *    chat's {"type":"allowed_tools","allowed_tools":{"mode","tools":[{"type":"function",
 *    "function":{"name"}}]}}; naming a tool that is not a function in it is a 400.
 *  - A member the gateway produces (messages, max_completion_tokens, response_format, ...) is
 *    the translation's even when the client also sends one of that name.
 *  - Numbers are type-checked here (so the error names the Responses parameter, not the chat
 *    one validate.c would name): max_output_tokens an integer from 1, top_logprobs an
 *    integer from 0 to 20.
 *  - An input that leaves no message at all (an empty array, or reasoning items alone, and no
 *    instructions) is a 400 on input.
 */
#include "sllmp/responses.h"
#include "sllmp/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---------------------------------------------------------------------- */

static int
is_integer(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
           v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9.007199254740992e15;
}

/* The refusal of an item or part of a type the chat side cannot carry, quoting (a short
 * piece of) the type. */
static int
bad_type(sllmp_xerr_t *e, const char *type, const char *what, const char *param)
{
    char why[200];

    snprintf(why, sizeof(why), "is '%.*s', %s", sllmp_utf8_prec(type, 40), type, what);
    return sllmp_xerr(e, why, "%s", param);
}

/* Copies obj's member `name` into out under `as` when it is a string; -1 (with *e) when it is
 * there, not null and not a string. */
static int
opt_string(const cJSON *obj, const char *name, cJSON *out, const char *as, sllmp_xerr_t *e,
           const char *param)
{
    const cJSON *v = sllmp_json_get(obj, name);

    if (cJSON_IsString(v)) {
        cJSON_AddStringToObject(out, as, v->valuestring);
    } else if (sllmp_json_given(v)) {
        return sllmp_xerr(e, "must be a string.", "%s.%s", param, name);
    }
    return 0;
}

/* ---- content parts ---------------------------------------------------------------------- */

static void
copy_breakpoint(cJSON *out, const cJSON *part)
{
    const cJSON *bp = sllmp_json_get(part, "prompt_cache_breakpoint");

    if (cJSON_IsObject(bp)) {
        cJSON_AddItemToObject(out, "prompt_cache_breakpoint", cJSON_Duplicate(bp, 1));
    }
}

static cJSON *
text_part(const char *text, const cJSON *part)
{
    cJSON *p = cJSON_CreateObject();

    cJSON_AddStringToObject(p, "type", "text");
    cJSON_AddStringToObject(p, "text", text);
    copy_breakpoint(p, part);
    return p;
}

/* input_image -> an image_url part; by URL (or data URL) only. */
static cJSON *
image_part(const cJSON *part, const char *param, sllmp_xerr_t *e)
{
    const cJSON *url = sllmp_json_get(part, "image_url"), *detail = sllmp_json_get(part, "detail");
    cJSON *p, *iu;

    if (!cJSON_IsString(url)) {
        if (sllmp_json_given(url)) {
            sllmp_xerr(e, "must be a string.", "%s.image_url", param);
        } else if (sllmp_json_given(sllmp_json_get(part, "file_id"))) {
            sllmp_xerr(
                e,
                "is not supported: sllmp has no file store; send the image as image_url (a URL "
                "or a base64 data URL).",
                "%s.file_id", param);
        } else {
            sllmp_xerr(e, "is required.", "%s.image_url", param);
        }
        return NULL;
    }
    if (sllmp_json_given(detail) && !cJSON_IsString(detail)) {
        sllmp_xerr(e, "must be a string.", "%s.detail", param);
        return NULL;
    }
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "image_url");
    iu = cJSON_AddObjectToObject(p, "image_url");
    cJSON_AddStringToObject(iu, "url", url->valuestring);
    if (cJSON_IsString(detail)) {
        cJSON_AddStringToObject(iu, "detail", detail->valuestring);
    }
    copy_breakpoint(p, part);
    return p;
}

/* input_file -> a file part; by its data only. */
static cJSON *
file_part(const cJSON *part, const char *param, sllmp_xerr_t *e)
{
    const cJSON *data = sllmp_json_get(part, "file_data");
    cJSON *p, *f;

    if (!cJSON_IsString(data)) {
        if (sllmp_json_given(data)) {
            sllmp_xerr(e, "must be a string.", "%s.file_data", param);
        } else if (sllmp_json_given(sllmp_json_get(part, "file_id"))) {
            sllmp_xerr(e, "is not supported: sllmp has no file store; send the file as file_data.",
                       "%s.file_id", param);
        } else if (sllmp_json_given(sllmp_json_get(part, "file_url"))) {
            sllmp_xerr(e,
                       "is not supported: sllmp does not fetch files; send the file as file_data.",
                       "%s.file_url", param);
        } else {
            sllmp_xerr(e, "is required.", "%s.file_data", param);
        }
        return NULL;
    }
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "file");
    f = cJSON_AddObjectToObject(p, "file");
    cJSON_AddStringToObject(f, "file_data", data->valuestring);
    if (opt_string(part, "filename", f, "filename", e, param) != 0) {
        cJSON_Delete(p);
        return NULL;
    }
    copy_breakpoint(p, part);
    return p;
}

/* input_audio -> chat's input_audio part, the same shape. */
static cJSON *
audio_part(const cJSON *part, const char *param, sllmp_xerr_t *e)
{
    const cJSON *audio = sllmp_json_get(part, "input_audio");
    cJSON *p;

    if (!cJSON_IsObject(audio)) {
        sllmp_xerr(e, "must be an object {data, format}.", "%s.input_audio", param);
        return NULL;
    }
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "input_audio");
    cJSON_AddItemToObject(p, "input_audio", cJSON_Duplicate(audio, 1));
    copy_breakpoint(p, part);
    return p;
}

/*
 * One part of a user, system or developer message (or of a function_call_output when
 * text_only) -> a chat part. NULL with *e filled when it cannot be carried.
 */
static cJSON *
input_part(const cJSON *part, const char *param, int text_only, sllmp_xerr_t *e)
{
    const char *type = sllmp_json_str(part, "type");
    char tparam[96];

    if (!cJSON_IsObject(part)) {
        sllmp_xerr(e, "must be an object.", "%s", param);
        return NULL;
    }
    if (type == NULL) {
        sllmp_xerr(e, "must be a string.", "%s.type", param);
        return NULL;
    }
    if (sllmp_str_is(type, "input_text")) {
        const cJSON *text = sllmp_json_get(part, "text");

        if (!cJSON_IsString(text)) {
            sllmp_xerr(e, "must be a string.", "%s.text", param);
            return NULL;
        }
        return text_part(text->valuestring, part);
    }
    snprintf(tparam, sizeof(tparam), "%s.type", param);
    if (text_only) {
        bad_type(e, type,
                 "a part a tool result cannot carry through chat completions (input_text).",
                 tparam);
        return NULL;
    }
    if (sllmp_str_is(type, "input_image")) {
        return image_part(part, param, e);
    }
    if (sllmp_str_is(type, "input_file")) {
        return file_part(part, param, e);
    }
    if (sllmp_str_is(type, "input_audio")) {
        return audio_part(part, param, e);
    }
    bad_type(e, type,
             "a content part this message cannot carry (input_text, input_image, input_file, "
             "input_audio).",
             tparam);
    return NULL;
}

/* ---- the messages being built ----------------------------------------------------------- */

typedef struct {
    cJSON *messages;
    cJSON *calls_to; /* the assistant message the next function_call joins; NULL: a new one */
    sllmp_xerr_t *e;
    char param[96];
    cJSON *thinking; /* thinking_blocks of reasoning items, for the next assistant message */
} conv_t;

/* The error's param prefix, formatted into c->param. */
static const char *param(conv_t *c, const char *fmt, ...) SLLMP_PRINTF(2, 3);

static const char *
param(conv_t *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->param, sizeof(c->param), fmt, ap);
    va_end(ap);
    return c->param;
}

static cJSON *
add_message(conv_t *c, const char *role)
{
    cJSON *m = cJSON_CreateObject();

    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddItemToArray(c->messages, m);
    c->calls_to = NULL;
    if (strcmp(role, "assistant") == 0 && c->thinking != NULL) {
        cJSON_AddItemToObject(m, "thinking_blocks", c->thinking); /* the reasoning before it */
    } else {
        cJSON_Delete(c->thinking); /* reasoning no assistant message followed */
    }
    c->thinking = NULL;
    return m;
}

/* A reasoning item: its signed thinking (encrypted_content the answer made, see
 * SLLMP_THINKING_PREFIX) for the assistant message after it; anything else is dropped, the chat
 * side having no way to send it back. A reasoning item between an assistant message and its
 * calls leaves them one message. */
static int
reasoning_item(conv_t *c, const cJSON *item)
{
    const char *enc = sllmp_json_str(item, "encrypted_content");
    size_t n = strlen(SLLMP_THINKING_PREFIX);
    cJSON *blocks = NULL, *b, *to;

    if (enc == NULL || strncmp(enc, SLLMP_THINKING_PREFIX, n) != 0 ||
        !cJSON_IsArray(blocks = cJSON_Parse(enc + n))) {
        cJSON_Delete(blocks);
        return 0;
    }
    /* the assistant message its calls join when one is open, else the next one */
    to = c->calls_to != NULL ? cJSON_GetObjectItemCaseSensitive(c->calls_to, "thinking_blocks")
                             : c->thinking;
    if (to == NULL) {
        to = cJSON_CreateArray();
        if (c->calls_to != NULL) {
            cJSON_AddItemToObject(c->calls_to, "thinking_blocks", to);
        } else {
            c->thinking = to;
        }
    }
    while ((b = cJSON_DetachItemFromArray(blocks, 0)) != NULL) {
        if (cJSON_IsObject(b)) {
            cJSON_AddItemToArray(to, b);
        } else {
            cJSON_Delete(b);
        }
    }
    cJSON_Delete(blocks);
    return 0;
}

/* An assistant message item: text parts as one string, refusal parts as "refusal". */
static int
assistant_message(conv_t *c, const cJSON *item, int i)
{
    const cJSON *content = sllmp_json_get(item, "content"), *part;
    sllmp_buf_t text, refusal;
    int k = 0, texts = 0, refusals = 0, rc = 0;
    cJSON *m;

    if (cJSON_IsString(content)) {
        m = add_message(c, "assistant");
        cJSON_AddStringToObject(m, "content", content->valuestring);
        c->calls_to = m;
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        return sllmp_xerr(c->e, "must be a string or an array of content parts.",
                          "input[%d].content", i);
    }
    sllmp_buf_init(&text, 0);
    sllmp_buf_init(&refusal, 0);
    cJSON_ArrayForEach(part, content)
    {
        const char *type = sllmp_json_str(part, "type");
        const cJSON *v;

        if (!cJSON_IsObject(part)) {
            rc = sllmp_xerr(c->e, "must be an object.", "input[%d].content[%d]", i, k);
            break;
        }
        if (sllmp_str_is(type, "output_text") || sllmp_str_is(type, "input_text")) {
            v = sllmp_json_get(part, "text");
            if (!cJSON_IsString(v)) {
                rc = sllmp_xerr(c->e, "must be a string.", "input[%d].content[%d].text", i, k);
                break;
            }
            sllmp_buf_appends(&text, v->valuestring);
            texts++;
        } else if (sllmp_str_is(type, "refusal")) {
            v = sllmp_json_get(part, "refusal");
            if (!cJSON_IsString(v)) {
                rc = sllmp_xerr(c->e, "must be a string.", "input[%d].content[%d].refusal", i, k);
                break;
            }
            sllmp_buf_appends(&refusal, v->valuestring);
            refusals++;
        } else if (type == NULL) {
            rc = sllmp_xerr(c->e, "must be a string.", "input[%d].content[%d].type", i, k);
            break;
        } else {
            rc = bad_type(c->e, type,
                          "a content part an assistant message cannot carry (output_text, "
                          "refusal).",
                          param(c, "input[%d].content[%d].type", i, k));
            break;
        }
        k++;
    }
    if (rc == 0) {
        m = add_message(c, "assistant");
        if (texts > 0) {
            cJSON_AddStringToObject(m, "content", sllmp_buf_cstr(&text));
        } else {
            cJSON_AddNullToObject(m, "content");
        }
        if (refusals > 0) {
            cJSON_AddStringToObject(m, "refusal", sllmp_buf_cstr(&refusal));
        }
        c->calls_to = m;
    }
    sllmp_buf_free(&text);
    sllmp_buf_free(&refusal);
    return rc;
}

/* A message item of role user, system or developer. */
static int
input_message(conv_t *c, const cJSON *item, int i, const char *role)
{
    const cJSON *content = sllmp_json_get(item, "content"), *part;
    cJSON *parts, *m;
    int k = 0;

    if (cJSON_IsString(content)) {
        m = add_message(c, role);
        cJSON_AddStringToObject(m, "content", content->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        return sllmp_xerr(c->e, "must be a string or an array of content parts.",
                          "input[%d].content", i);
    }
    parts = cJSON_CreateArray();
    cJSON_ArrayForEach(part, content)
    {
        cJSON *p = input_part(part, param(c, "input[%d].content[%d]", i, k), 0, c->e);

        if (p == NULL) {
            cJSON_Delete(parts);
            return -1;
        }
        cJSON_AddItemToArray(parts, p);
        k++;
    }
    m = add_message(c, role);
    cJSON_AddItemToObject(m, "content", parts);
    return 0;
}

static int
message_item(conv_t *c, const cJSON *item, int i)
{
    const cJSON *role = sllmp_json_get(item, "role");
    const char *r = cJSON_IsString(role) ? role->valuestring : NULL;

    if (sllmp_str_is(r, "assistant")) {
        return assistant_message(c, item, i);
    }
    if (sllmp_str_is(r, "user") || sllmp_str_is(r, "system") || sllmp_str_is(r, "developer")) {
        return input_message(c, item, i,
                             sllmp_str_is(r, "user")     ? "user"
                             : sllmp_str_is(r, "system") ? "system"
                                                         : "developer");
    }
    if (r == NULL) {
        return sllmp_xerr(c->e, "must be one of user, system, developer, assistant.",
                          "input[%d].role", i);
    }
    return bad_type(c->e, r, "not a role (user, system, developer, assistant).",
                    param(c, "input[%d].role", i));
}

/* A function_call item: a tool call of the assistant message before it, or of a new one. */
static int
function_call(conv_t *c, const cJSON *item, int i)
{
    static const char *const fields[] = {"call_id", "name", "arguments"};
    const cJSON *v[3];
    const char *sig;
    cJSON *calls, *call, *fn;

    for (int f = 0; f < 3; f++) {
        v[f] = sllmp_json_get(item, fields[f]);
        if (!cJSON_IsString(v[f])) {
            return sllmp_xerr(c->e, "must be a string.", "input[%d].%s", i, fields[f]);
        }
    }
    if (c->calls_to == NULL) {
        cJSON *m = add_message(c, "assistant");

        cJSON_AddNullToObject(m, "content");
        c->calls_to = m;
    }
    calls = cJSON_GetObjectItemCaseSensitive(c->calls_to, "tool_calls");
    if (calls == NULL) {
        calls = cJSON_AddArrayToObject(c->calls_to, "tool_calls");
    }
    call = cJSON_CreateObject();
    /* the id before a separator; a Gemini thought signature after it goes where the answer put
     * it */
    cJSON_AddItemToObject(call, "id", sllmp_bare_tool_id(v[0]->valuestring));
    if ((sig = sllmp_thought_signature(v[0]->valuestring)) != NULL) {
        cJSON *g =
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(call, "extra_content"), "google");

        cJSON_AddStringToObject(g, "thought_signature", sig);
    }
    cJSON_AddStringToObject(call, "type", "function");
    fn = cJSON_AddObjectToObject(call, "function");
    cJSON_AddStringToObject(fn, "name", v[1]->valuestring);
    cJSON_AddStringToObject(fn, "arguments", v[2]->valuestring);
    cJSON_AddItemToArray(calls, call);
    return 0;
}

/* A function_call_output item -> a tool message (output a string, or input_text parts). */
static int
function_call_output(conv_t *c, const cJSON *item, int i)
{
    const cJSON *id = sllmp_json_get(item, "call_id"), *out = sllmp_json_get(item, "output"), *part;
    cJSON *content, *m;
    int k = 0;

    if (!cJSON_IsString(id)) {
        return sllmp_xerr(c->e, "must be a string.", "input[%d].call_id", i);
    }
    if (cJSON_IsString(out)) {
        content = cJSON_CreateString(out->valuestring);
    } else if (cJSON_IsArray(out)) {
        content = cJSON_CreateArray();
        cJSON_ArrayForEach(part, out)
        {
            cJSON *p = input_part(part, param(c, "input[%d].output[%d]", i, k), 1, c->e);

            if (p == NULL) {
                cJSON_Delete(content);
                return -1;
            }
            cJSON_AddItemToArray(content, p);
            k++;
        }
    } else {
        return sllmp_xerr(c->e, "must be a string or an array of input_text parts.",
                          "input[%d].output", i);
    }
    m = add_message(c, "tool");
    cJSON_AddItemToObject(m, "tool_call_id", sllmp_bare_tool_id(id->valuestring));
    cJSON_AddItemToObject(m, "content", content);
    return 0;
}

static int
input_item(conv_t *c, const cJSON *item, int i)
{
    const cJSON *t = sllmp_json_get(item, "type");
    const char *type = cJSON_IsString(t) ? t->valuestring : NULL;

    if (!cJSON_IsObject(item)) {
        return sllmp_xerr(c->e, "must be an object.", "input[%d]", i);
    }
    if (sllmp_json_given(t) && type == NULL) {
        return sllmp_xerr(c->e, "must be a string.", "input[%d].type", i);
    }
    if (type == NULL || sllmp_str_is(type, "message")) {
        /* ItemReference's type is optional too: {"id"} alone is one */
        if (type == NULL && sllmp_json_get(item, "role") == NULL &&
            sllmp_json_given(sllmp_json_get(item, "id"))) {
            return sllmp_xerr(
                c->e,
                "is an item reference, which needs kept responses, and this gateway keeps "
                "none (sllmp.responses.store is false): send the item itself (as clients do "
                "with store: false).",
                "input[%d]", i);
        }
        return message_item(c, item, i);
    }
    if (sllmp_str_is(type, "function_call")) {
        return function_call(c, item, i);
    }
    if (sllmp_str_is(type, "function_call_output")) {
        return function_call_output(c, item, i);
    }
    if (sllmp_str_is(type, "reasoning")) {
        return reasoning_item(c, item);
    }
    if (sllmp_str_is(type, "item_reference")) {
        return sllmp_xerr(
            c->e,
            "is item_reference, which needs kept responses, and this gateway keeps none "
            "(sllmp.responses.store is false): send the item itself (as clients do with "
            "store: false).",
            "input[%d].type", i);
    }
    return bad_type(c->e, type,
                    "an item sllmp cannot carry through chat completions (message, "
                    "function_call, function_call_output, reasoning).",
                    param(c, "input[%d].type", i));
}

static int
messages(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *instr = sllmp_json_get(req, "instructions"), *input = sllmp_json_get(req, "input"),
                *items, *item;
    conv_t c = {cJSON_CreateArray(), NULL, e, "", NULL};
    int i = 0;

    if (sllmp_json_given(instr) && !cJSON_IsString(instr)) {
        cJSON_Delete(c.messages);
        return sllmp_xerr(e, "must be a string.", "instructions");
    }
    if (!cJSON_IsString(input) && !cJSON_IsArray(input)) {
        cJSON_Delete(c.messages);
        return sllmp_xerr(e, "must be a string or an array of input items.", "input");
    }
    if (cJSON_IsString(instr) && instr->valuestring[0] != '\0') {
        cJSON_AddStringToObject(add_message(&c, "system"), "content", instr->valuestring);
    }
    if (cJSON_IsString(input)) {
        cJSON_AddStringToObject(add_message(&c, "user"), "content", input->valuestring);
    }
    items = cJSON_IsArray(input) ? input : NULL;
    cJSON_ArrayForEach(item, items)
    {
        if (input_item(&c, item, i) != 0) {
            cJSON_Delete(c.messages);
            cJSON_Delete(c.thinking);
            return -1;
        }
        i++;
    }
    cJSON_Delete(c.thinking); /* reasoning at the end: no assistant message took it */
    if (cJSON_GetArraySize(c.messages) == 0) {
        cJSON_Delete(c.messages);
        return sllmp_xerr(e, "must hold at least one message.", "input");
    }
    cJSON_AddItemToObject(body, "messages", c.messages);
    return 0;
}

/* ---- tools ------------------------------------------------------------------------------ */

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
    if (cJSON_GetArraySize(list) == 0) {
        return 0;
    }
    out = cJSON_AddArrayToObject(body, "tools");
    cJSON_ArrayForEach(tool, list)
    {
        const char *type = sllmp_json_str(tool, "type");
        const cJSON *name = sllmp_json_get(tool, "name"),
                    *params = sllmp_json_get(tool, "parameters");
        const cJSON *strict = sllmp_json_get(tool, "strict");
        cJSON *t, *fn;
        char p[32];

        if (!cJSON_IsObject(tool)) {
            return sllmp_xerr(e, "must be an object.", "tools[%d]", k);
        }
        snprintf(p, sizeof(p), "tools[%d].type", k);
        if (type == NULL) {
            return sllmp_xerr(e, "must be a string.", "%s", p);
        }
        if (!sllmp_str_is(type, "function")) {
            return bad_type(e, type,
                            "a tool sllmp cannot run: hosted tools need OpenAI's servers; only "
                            "function tools go through chat completions.",
                            p);
        }
        if (!cJSON_IsString(name)) {
            return sllmp_xerr(e, "must be a string.", "tools[%d].name", k);
        }
        if (sllmp_json_given(params) && !cJSON_IsObject(params)) {
            return sllmp_xerr(e, "must be a JSON Schema object.", "tools[%d].parameters", k);
        }
        if (sllmp_json_given(strict) && !cJSON_IsBool(strict)) {
            return sllmp_xerr(e, "must be a boolean.", "tools[%d].strict", k);
        }
        t = cJSON_CreateObject();
        cJSON_AddItemToArray(out, t);
        cJSON_AddStringToObject(t, "type", "function");
        fn = cJSON_AddObjectToObject(t, "function");
        cJSON_AddStringToObject(fn, "name", name->valuestring);
        snprintf(p, sizeof(p), "tools[%d]", k);
        if (opt_string(tool, "description", fn, "description", e, p) != 0) {
            return -1;
        }
        if (sllmp_json_given(params)) {
            cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(params, 1));
        }
        if (sllmp_json_given(strict)) {
            cJSON_AddBoolToObject(fn, "strict", cJSON_IsTrue(strict));
        }
        k++;
    }
    return 0;
}

/* {"type":"function","function":{"name"}} */
static cJSON *
function_choice(const char *name)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddStringToObject(c, "type", "function");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(c, "function"), "name", name);
    return c;
}

/* allowed_tools {mode, tools: [{type: function, name}]} -> chat's allowed_tools. */
static cJSON *
allowed_tools(const cJSON *tc, sllmp_xerr_t *e)
{
    const cJSON *mode = sllmp_json_get(tc, "mode"), *list = sllmp_json_get(tc, "tools"), *tool;
    cJSON *out, *at, *names;
    int k = 0;

    if (!cJSON_IsString(mode)) {
        sllmp_xerr(e, "must be a string.", "tool_choice.mode");
        return NULL;
    }
    if (!cJSON_IsArray(list)) {
        sllmp_xerr(e, "must be an array.", "tool_choice.tools");
        return NULL;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "type", "allowed_tools");
    at = cJSON_AddObjectToObject(out, "allowed_tools");
    cJSON_AddStringToObject(at, "mode", mode->valuestring);
    names = cJSON_AddArrayToObject(at, "tools");
    cJSON_ArrayForEach(tool, list)
    {
        const char *type = sllmp_json_str(tool, "type");
        const cJSON *name = sllmp_json_get(tool, "name");
        char p[48];

        snprintf(p, sizeof(p), "tool_choice.tools[%d].type", k);
        if (type == NULL) {
            sllmp_xerr(e, "must be a string.", "%s", p);
        } else if (!sllmp_str_is(type, "function")) {
            bad_type(e, type, "a tool sllmp cannot run; only function tools can be allowed.", p);
        } else if (!cJSON_IsString(name)) {
            sllmp_xerr(e, "must be a string.", "tool_choice.tools[%d].name", k);
        } else {
            cJSON_AddItemToArray(names, function_choice(name->valuestring));
            k++;
            continue;
        }
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* tool_choice (and parallel_tool_calls), sent only with tools. */
static int
tool_choice(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *tc = sllmp_json_get(req, "tool_choice"),
                *ptc = sllmp_json_get(req, "parallel_tool_calls");
    cJSON *out = NULL;

    if (cJSON_IsString(tc)) {
        if (!sllmp_str_is(tc->valuestring, "auto") && !sllmp_str_is(tc->valuestring, "none") &&
            !sllmp_str_is(tc->valuestring, "required")) {
            return sllmp_xerr(e, "must be auto, none, required or an object.", "tool_choice");
        }
        out = cJSON_CreateString(tc->valuestring);
    } else if (cJSON_IsObject(tc)) {
        const char *type = sllmp_json_str(tc, "type");
        const cJSON *name = sllmp_json_get(tc, "name");

        if (type == NULL) {
            return sllmp_xerr(e, "must be a string.", "tool_choice.type");
        }
        if (sllmp_str_is(type, "function")) {
            if (!cJSON_IsString(name)) {
                return sllmp_xerr(e, "must be a string.", "tool_choice.name");
            }
            out = function_choice(name->valuestring);
        } else if (sllmp_str_is(type, "allowed_tools")) {
            if ((out = allowed_tools(tc, e)) == NULL) {
                return -1;
            }
        } else {
            return bad_type(e, type,
                            "a tool sllmp cannot run; tool_choice may name function tools only.",
                            "tool_choice.type");
        }
    } else if (sllmp_json_given(tc)) {
        return sllmp_xerr(e, "must be a string or an object.", "tool_choice");
    }
    if (sllmp_json_get(body, "tools") == NULL) {
        cJSON_Delete(out); /* OpenAI's chat API refuses both without tools */
        return 0;
    }
    if (out != NULL) {
        cJSON_AddItemToObject(body, "tool_choice", out);
    }
    if (ptc != NULL) {
        cJSON_AddItemToObject(body, "parallel_tool_calls", cJSON_Duplicate(ptc, 1));
    }
    return 0;
}

/* ---- text, reasoning, limits ------------------------------------------------------------ */

/* text.format -> response_format; text.verbosity -> verbosity. */
static int
text_config(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *text = sllmp_json_get(req, "text"), *fmt = sllmp_json_get(text, "format");
    const char *type = sllmp_json_str(fmt, "type");

    if (!sllmp_json_given(text)) {
        return 0;
    }
    if (!cJSON_IsObject(text)) {
        return sllmp_xerr(e, "must be an object.", "text");
    }
    if (sllmp_json_given(fmt) && !cJSON_IsObject(fmt)) {
        return sllmp_xerr(e, "must be an object.", "text.format");
    }
    if (sllmp_json_given(fmt) && type == NULL) {
        return sllmp_xerr(e, "must be a string.", "text.format.type");
    }
    if (sllmp_str_is(type, "json_object")) {
        cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "response_format"), "type",
                                "json_object");
    } else if (sllmp_str_is(type, "json_schema")) {
        const cJSON *name = sllmp_json_get(fmt, "name"), *schema = sllmp_json_get(fmt, "schema");
        const cJSON *strict = sllmp_json_get(fmt, "strict");
        cJSON *rf, *js;

        if (!cJSON_IsString(name)) {
            return sllmp_xerr(e, "must be a string.", "text.format.name");
        }
        if (!cJSON_IsObject(schema)) {
            return sllmp_xerr(e, "must be a JSON Schema object.", "text.format.schema");
        }
        if (sllmp_json_given(strict) && !cJSON_IsBool(strict)) {
            return sllmp_xerr(e, "must be a boolean.", "text.format.strict");
        }
        rf = cJSON_CreateObject();
        cJSON_AddStringToObject(rf, "type", "json_schema");
        js = cJSON_AddObjectToObject(rf, "json_schema");
        cJSON_AddStringToObject(js, "name", name->valuestring);
        if (opt_string(fmt, "description", js, "description", e, "text.format") != 0) {
            cJSON_Delete(rf);
            return -1;
        }
        cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(schema, 1));
        if (sllmp_json_given(strict)) {
            cJSON_AddBoolToObject(js, "strict", cJSON_IsTrue(strict));
        }
        cJSON_AddItemToObject(body, "response_format", rf);
    } else if (type != NULL && !sllmp_str_is(type, "text")) {
        return bad_type(e, type, "not a text format (text, json_object, json_schema).",
                        "text.format.type");
    }
    return opt_string(text, "verbosity", body, "verbosity", e, "text");
}

static int
reasoning(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *r = sllmp_json_get(req, "reasoning");

    if (!sllmp_json_given(r)) {
        return 0;
    }
    if (!cJSON_IsObject(r)) {
        return sllmp_xerr(e, "must be an object.", "reasoning");
    }
    return opt_string(r, "effort", body, "reasoning_effort", e, "reasoning");
}

/* Whether include asks for the answer's logprobs (OpenAI sends them only then). */
static int
include_logprobs(const cJSON *req)
{
    const cJSON *inc = sllmp_json_get(req, "include"), *v;

    if (!cJSON_IsArray(inc)) {
        return 0;
    }
    cJSON_ArrayForEach(v, inc)
    {
        if (cJSON_IsString(v) && strcmp(v->valuestring, "message.output_text.logprobs") == 0) {
            return 1;
        }
    }
    return 0;
}

/* max_output_tokens -> max_completion_tokens; top_logprobs -> logprobs + top_logprobs;
 * include message.output_text.logprobs -> logprobs. */
static int
limits(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *max = sllmp_json_get(req, "max_output_tokens"),
                *top = sllmp_json_get(req, "top_logprobs");

    if (sllmp_json_given(max)) {
        if (!is_integer(max) || max->valuedouble < 1 || max->valuedouble > 1e12) {
            return sllmp_xerr(e, "must be an integer from 1 to 1000000000000.",
                              "max_output_tokens");
        }
        cJSON_AddNumberToObject(body, "max_completion_tokens", max->valuedouble);
    }
    if (sllmp_json_given(top)) {
        if (!is_integer(top) || top->valuedouble < 0 || top->valuedouble > 20) {
            return sllmp_xerr(e, "must be an integer from 0 to 20.", "top_logprobs");
        }
        cJSON_AddTrueToObject(body, "logprobs");
        cJSON_AddNumberToObject(body, "top_logprobs", top->valuedouble);
    } else if (include_logprobs(req)) {
        cJSON_AddTrueToObject(body, "logprobs");
    }
    return 0;
}

/* ---- the request ------------------------------------------------------------------------ */

/* What needs stored state or a prompt template: a 400, whatever else the request holds. */
static int
refused(const cJSON *req, sllmp_xerr_t *e)
{
    const cJSON *bg = sllmp_json_get(req, "background");

    if (sllmp_json_given(sllmp_json_get(req, "previous_response_id"))) {
        return sllmp_xerr(
            e,
            "needs kept responses, and this gateway keeps none (sllmp.responses.store is "
            "false): send the whole conversation as input (as clients do with store: false).",
            "previous_response_id");
    }
    if (sllmp_json_given(sllmp_json_get(req, "conversation"))) {
        return sllmp_xerr(e,
                          "is not supported: sllmp keeps no conversation objects; send the whole "
                          "conversation as input.",
                          "conversation");
    }
    if (sllmp_json_given(bg) && !cJSON_IsBool(bg)) {
        return sllmp_xerr(e, "must be a boolean.", "background");
    }
    if (cJSON_IsTrue(bg)) {
        return sllmp_xerr(e, "is not supported: sllmp answers while the client waits.",
                          "background");
    }
    if (sllmp_json_given(sllmp_json_get(req, "prompt"))) {
        return sllmp_xerr(e,
                          "is not supported: prompt templates are stored by OpenAI; send the "
                          "instructions and input themselves.",
                          "prompt");
    }
    return 0;
}

/* The members translated (or refused) above, and those dropped: none is copied. */
static int
consumed(const char *name)
{
    static const char *const names[] = {"input",
                                        "instructions",
                                        "tools",
                                        "tool_choice",
                                        "parallel_tool_calls",
                                        "text",
                                        "reasoning",
                                        "top_logprobs",
                                        "max_output_tokens",
                                        "previous_response_id",
                                        "prompt",
                                        "background",
                                        "conversation",
                                        "store",
                                        "include",
                                        "truncation",
                                        "stream_options",
                                        "max_tool_calls",
                                        "prompt_cache_retention",
                                        "context_management",
                                        "n"}; /* one answer: the chat side would bill n */

    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        if (strcmp(name, names[k]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The members the translation may produce: the client's own of these names are not copied
 * when the translation has one. */
static const char *const produced[] = {
    "model",       "messages", "tools",           "tool_choice",      "parallel_tool_calls",
    "verbosity",   "logprobs", "response_format", "reasoning_effort", "max_completion_tokens",
    "top_logprobs"};

#define NPRODUCED (sizeof(produced) / sizeof(produced[0]))

/* Whether the member `name` of the request is the translation's (taken[] says which of
 * produced[] the body has). */
static int
taken_name(const char *name, const int *taken)
{
    for (size_t k = 0; k < NPRODUCED; k++) {
        if (strcmp(name, produced[k]) == 0) {
            return taken[k];
        }
    }
    return 0;
}

cJSON *
sllmp_responses_to_chat(const cJSON *req, sllmp_xerr_t *e)
{
    const cJSON *m;
    cJSON *body;
    int taken[NPRODUCED];

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
    if ((m = sllmp_json_get(req, "model")) != NULL) {
        cJSON_AddItemToObject(body, "model", cJSON_Duplicate(m, 1));
    }
    if (messages(req, body, e) != 0 || tools(req, body, e) != 0 || tool_choice(req, body, e) != 0 ||
        text_config(req, body, e) != 0 || reasoning(req, body, e) != 0 ||
        limits(req, body, e) != 0) {
        cJSON_Delete(body);
        return NULL;
    }
    /* the rest as it is (the client's extra parameters, as on chat), never over a member of the
     * translation; looked up once, before the copies (a body may hold a great many members) */
    for (size_t k = 0; k < NPRODUCED; k++) {
        taken[k] = sllmp_json_get(body, produced[k]) != NULL;
    }
    cJSON_ArrayForEach(m, req)
    {
        if (m->string != NULL && !consumed(m->string) && !taken_name(m->string, taken)) {
            cJSON_AddItemToObject(body, m->string, cJSON_Duplicate(m, 1));
        }
    }
    return body;
}

/* ---- error params ----------------------------------------------------------------------- */

const char *
sllmp_responses_param(const cJSON *req, const char *param, char *out, size_t len)
{
    /* chat member, the Responses member it came from (NULL: the client's own when sent), its
     * Responses name, the part of the rest dropped (the chat shape's own nesting) */
    static const struct {
        const char *chat, *from, *as, *nest;
    } map[] = {
        {"messages", "input", "input", NULL},
        {"max_completion_tokens", "max_output_tokens", "max_output_tokens", NULL},
        {"max_tokens", NULL, "max_output_tokens", NULL},
        {"response_format", "text", "text.format", ".json_schema"},
        {"reasoning_effort", "reasoning", "reasoning.effort", NULL},
        {"verbosity", "text", "text.verbosity", NULL},
        {"tools", "tools", "tools", ".function"},
        {"tool_choice", "tool_choice", "tool_choice", ".function"},
    };
    const char *rest;
    size_t n;

    if (param == NULL || out == NULL || len == 0) {
        return param;
    }
    for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
        n = strlen(map[k].chat);
        /* the whole param, or the member followed by its path ('\0' is in the set too) */
        if (strncmp(param, map[k].chat, n) != 0 || strchr("[. ", param[n]) == NULL) {
            continue;
        }
        /* the client's own member of that name went upstream as it was */
        if (strcmp(map[k].chat, map[k].as) != 0 && sllmp_json_get(req, map[k].chat) != NULL &&
            (map[k].from == NULL || sllmp_json_get(req, map[k].from) == NULL)) {
            return param;
        }
        rest = param + n;
        if (strcmp(map[k].chat, "messages") == 0) {
            rest = ""; /* chat message indexes are not the input items' */
        } else if (map[k].nest != NULL) {
            /* tools[3].function.name -> tools[3].name */
            const char *idx = rest[0] == '[' ? strchr(rest, ']') : NULL;
            size_t skip = idx != NULL ? (size_t)(idx + 1 - rest) : 0;
            size_t nl = strlen(map[k].nest);

            if (strncmp(rest + skip, map[k].nest, nl) == 0) {
                snprintf(out, len, "%s%.*s%s", map[k].as, (int)skip, rest, rest + skip + nl);
                return out;
            }
        }
        snprintf(out, len, "%s%s", map[k].as, rest);
        return out;
    }
    return param;
}
