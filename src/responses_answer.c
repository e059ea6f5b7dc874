/*
 * The answer side of the Responses API bridge (include/sllmp/responses.h): the Response object
 * and its echoes of the request, an unstreamed chat.completion turned into a Response, and the
 * streamed translator from chat.completion.chunk objects to Responses events.
 *
 * Item ids are the response id's part after its first '_' with a prefix ("rs_", "msg_", "fc_")
 * and the item's output index in hex after it, so output_item.added, output_item.done and the
 * final Response name an item alike, and the same chat answer gets the same ids streamed or not.
 */
#include "sllmp/responses.h"
#include "sllmp/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kinds of item the stream translator may have open (sllmp_rstream_t.open). */
enum { OPEN_NONE, OPEN_REASONING, OPEN_TEXT, OPEN_REFUSAL, OPEN_CALL };

#define ID_MAX 128

/* a itself when it is an array, else NULL (for cJSON_ArrayForEach, which would walk an
 * object's members) */
static const cJSON *
array(const cJSON *a)
{
    return cJSON_IsArray(a) ? a : NULL;
}

/* A string member, NULL when absent or of another type. */

/* A string member that is not empty, else NULL. */
static const char *
text_of(const cJSON *o, const char *name)
{
    const char *s = sllmp_json_str(o, name);

    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* prefix + the hex part of the response id + the ordinal in hex ("msg_" "5f3a..." "01"). */
static void
item_id(char *out, size_t len, const char *prefix, const char *resp_id, int ordinal)
{
    const char *hex = resp_id != NULL ? resp_id : "";
    const char *us = strchr(hex, '_');

    if (us != NULL) {
        hex = us + 1;
    }
    snprintf(out, len, "%s%.96s%02x", prefix, hex, (unsigned)ordinal);
}

/* ---- the Response object ------------------------------------------------------------------ */

/* A copy of the request's member when check accepts it, else NULL. */
static cJSON *
echo(const cJSON *req, const char *name, cJSON_bool (*check)(const cJSON *))
{
    const cJSON *v = sllmp_json_get(req, name);

    return v != NULL && check(v) ? cJSON_Duplicate(v, 1) : NULL;
}

static cJSON_bool
is_tool_choice(const cJSON *v)
{
    return cJSON_IsString(v) || cJSON_IsObject(v);
}

/* member name: a copy of the request's when check accepts it, else fallback (taken; NULL: null) */
static void
add_echo(cJSON *o, const cJSON *req, const char *name, cJSON_bool (*check)(const cJSON *),
         cJSON *fallback)
{
    cJSON *v = echo(req, name, check);

    if (v != NULL) {
        cJSON_Delete(fallback);
    } else {
        v = fallback != NULL ? fallback : cJSON_CreateNull();
    }
    cJSON_AddItemToObject(o, name, v);
}

/* A string or null member of the request's object `parent`. */
static void
add_str_or_null(cJSON *o, const char *name, const cJSON *parent, const char *member)
{
    const char *s = sllmp_json_str(parent, member);

    if (s != NULL) {
        cJSON_AddStringToObject(o, name, s);
    } else {
        cJSON_AddNullToObject(o, name);
    }
}

/* ResponseUsage for u. */
static cJSON *
usage_json(const sllmp_usage_t *u)
{
    cJSON *o = cJSON_CreateObject(), *d;
    long in = sllmp_usage_prompt(u), out = sllmp_usage_completion(u);

    cJSON_AddNumberToObject(o, "input_tokens", (double)in);
    d = cJSON_AddObjectToObject(o, "input_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", (double)u->cache_read);
    /* required by the SDK's InputTokensDetails (openai-node 6.x) */
    cJSON_AddNumberToObject(d, "cache_write_tokens", (double)u->cache_write);
    cJSON_AddNumberToObject(o, "output_tokens", (double)out);
    d = cJSON_AddObjectToObject(o, "output_tokens_details");
    cJSON_AddNumberToObject(d, "reasoning_tokens", (double)u->reasoning);
    cJSON_AddNumberToObject(o, "total_tokens", (double)(in + out));
    return o;
}

cJSON *
sllmp_responses_object(const sllmp_responses_meta_t *m, const char *status, const char *incomplete,
                       const char *err_code, const char *err_message, cJSON *output,
                       const sllmp_usage_t *u)
{
    const cJSON *req = m->req, *text = sllmp_json_get(req, "text"),
                *reasoning = sllmp_json_get(req, "reasoning");
    cJSON *o = cJSON_CreateObject(), *x;

    cJSON_AddStringToObject(o, "id", m->id != NULL ? m->id : "");
    cJSON_AddStringToObject(o, "object", "response");
    cJSON_AddNumberToObject(o, "created_at", (double)m->created_at);
    cJSON_AddStringToObject(o, "status", status);
    if (strcmp(status, "failed") == 0) {
        x = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(x, "code", err_code != NULL ? err_code : "server_error");
        cJSON_AddStringToObject(x, "message", err_message != NULL ? err_message : "");
    } else {
        cJSON_AddNullToObject(o, "error");
    }
    if (strcmp(status, "incomplete") == 0 && incomplete != NULL) {
        x = cJSON_AddObjectToObject(o, "incomplete_details");
        cJSON_AddStringToObject(x, "reason", incomplete);
    } else {
        cJSON_AddNullToObject(o, "incomplete_details");
    }
    add_echo(o, req, "instructions", cJSON_IsString, NULL);
    add_echo(o, req, "max_output_tokens", cJSON_IsNumber, NULL);
    cJSON_AddStringToObject(o, "model", m->model != NULL ? m->model : "");
    cJSON_AddItemToObject(o, "output", output != NULL ? output : cJSON_CreateArray());
    add_echo(o, req, "parallel_tool_calls", cJSON_IsBool, cJSON_CreateTrue());
    add_echo(o, req, "previous_response_id", cJSON_IsString, cJSON_CreateNull());
    x = cJSON_AddObjectToObject(o, "reasoning");
    add_str_or_null(x, "effort", reasoning, "effort");
    add_str_or_null(x, "summary", reasoning,
                    sllmp_json_str(reasoning, "summary") != NULL ? "summary" : "generate_summary");
    cJSON_AddBoolToObject(o, "store", m->store);
    add_echo(o, req, "temperature", cJSON_IsNumber, NULL);
    x = cJSON_AddObjectToObject(o, "text");
    if (cJSON_IsObject(sllmp_json_get(text, "format"))) {
        cJSON_AddItemToObject(x, "format", cJSON_Duplicate(sllmp_json_get(text, "format"), 1));
    } else {
        cJSON_AddStringToObject(cJSON_AddObjectToObject(x, "format"), "type", "text");
    }
    if (sllmp_json_str(text, "verbosity") != NULL) {
        cJSON_AddStringToObject(x, "verbosity", sllmp_json_str(text, "verbosity"));
    }
    add_echo(o, req, "tool_choice", is_tool_choice, cJSON_CreateString("auto"));
    add_echo(o, req, "tools", cJSON_IsArray, cJSON_CreateArray());
    add_echo(o, req, "top_p", cJSON_IsNumber, NULL);
    cJSON_AddStringToObject(o, "truncation", "disabled");
    cJSON_AddItemToObject(o, "usage", u != NULL ? usage_json(u) : cJSON_CreateNull());
    if (sllmp_json_str(req, "user") != NULL) {
        cJSON_AddStringToObject(o, "user", sllmp_json_str(req, "user"));
    }
    add_echo(o, req, "metadata", cJSON_IsObject, cJSON_CreateObject());
    return o;
}

/* ---- items, shared by both directions -------------------------------------------------------- */

/* The status and incomplete reason for a chat finish_reason (NULL or "": none given). */
static const char *
status_of(const char *finish, const char **incomplete)
{
    *incomplete = NULL;
    if (finish != NULL && strcmp(finish, "length") == 0) {
        *incomplete = "max_output_tokens";
    } else if (finish != NULL && strcmp(finish, "content_filter") == 0) {
        *incomplete = "content_filter";
    }
    return *incomplete != NULL ? "incomplete" : "completed";
}

/* A reasoning item; with thinking_blocks entries (not NULL, not empty), its
 * encrypted_content carries them (SLLMP_THINKING_PREFIX), each without a stream's "index". */
static cJSON *
reasoning_item(const char *id, const char *text, const cJSON *blocks)
{
    cJSON *it = cJSON_CreateObject(), *summary, *part;

    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "type", "reasoning");
    summary = cJSON_AddArrayToObject(it, "summary");
    if (text != NULL) {
        part = cJSON_CreateObject();
        cJSON_AddStringToObject(part, "type", "summary_text");
        cJSON_AddStringToObject(part, "text", text);
        cJSON_AddItemToArray(summary, part);
    }
    if (cJSON_GetArraySize(blocks) > 0) {
        cJSON *copy = cJSON_Duplicate(blocks, 1), *b;
        char *json, *enc;

        cJSON_ArrayForEach(b, copy)
        {
            cJSON_DeleteItemFromObjectCaseSensitive(b, "index");
        }
        json = cJSON_PrintUnformatted(copy);
        enc = sllmp_xasprintf("%s%s", SLLMP_THINKING_PREFIX, json);
        cJSON_AddStringToObject(it, "encrypted_content", enc);
        free(enc);
        cJSON_free(json);
        cJSON_Delete(copy);
    }
    return it;
}

/* An empty message item (content [] to fill). */
static cJSON *
message_item(const char *id, const char *status)
{
    cJSON *it = cJSON_CreateObject();

    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "type", "message");
    cJSON_AddStringToObject(it, "status", status);
    cJSON_AddArrayToObject(it, "content");
    cJSON_AddStringToObject(it, "role", "assistant");
    return it;
}

/* An output_text part; logprobs taken (NULL: []). */
static cJSON *
text_part(const char *text, cJSON *logprobs)
{
    cJSON *p = cJSON_CreateObject();

    cJSON_AddStringToObject(p, "type", "output_text");
    cJSON_AddArrayToObject(p, "annotations");
    cJSON_AddItemToObject(p, "logprobs", logprobs != NULL ? logprobs : cJSON_CreateArray());
    cJSON_AddStringToObject(p, "text", text);
    return p;
}

static cJSON *
refusal_part(const char *text)
{
    cJSON *p = cJSON_CreateObject();

    cJSON_AddStringToObject(p, "type", "refusal");
    cJSON_AddStringToObject(p, "refusal", text);
    return p;
}

/* A chat tool call's Gemini thought signature (extra_content.google.thought_signature), NULL
 * when none. */
static const char *
thought_signature(const cJSON *call)
{
    const char *sig = sllmp_json_str(
        sllmp_json_get(sllmp_json_get(call, "extra_content"), "google"), "thought_signature");

    return sig != NULL && *sig != '\0' ? sig : NULL;
}

/* The call_id of a function_call item: the chat call's id, with its thought signature after
 * SLLMP_THOUGHT_SEP when it has one (malloc'd). An id that carries a signature already (the
 * Gemini translator's ids do, as LiteLLM's) is the call_id as it is: the signature goes once. */
static char *
call_id_of(const char *id, const char *sig)
{
    return sig != NULL && strstr(id, SLLMP_THOUGHT_SEP) == NULL
               ? sllmp_xasprintf("%s" SLLMP_THOUGHT_SEP "%s", id, sig)
               : sllmp_xstrdup(id);
}

/* Whether a chat fragment's id names the call whose item has call_id (its signature aside). */
static int
same_call(const char *id, const char *call_id)
{
    size_t n = strlen(id);

    return call_id != NULL && strncmp(id, call_id, n) == 0 &&
           (call_id[n] == '\0' ||
            strncmp(call_id + n, SLLMP_THOUGHT_SEP, strlen(SLLMP_THOUGHT_SEP)) == 0);
}

static cJSON *
call_item(const char *id, const char *call_id, const char *name, const char *args,
          const char *status)
{
    cJSON *it = cJSON_CreateObject();

    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "type", "function_call");
    cJSON_AddStringToObject(it, "status", status);
    cJSON_AddStringToObject(it, "arguments", args);
    cJSON_AddStringToObject(it, "call_id", call_id);
    cJSON_AddStringToObject(it, "name", name);
    return it;
}

/* Copies the logprob entries (objects) of a chat choice's logprobs.content onto array to. */
static void
add_logprobs(cJSON *to, const cJSON *choice_logprobs)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, array(sllmp_json_get(choice_logprobs, "content")))
    {
        if (cJSON_IsObject(e)) {
            cJSON_AddItemToArray(to, cJSON_Duplicate(e, 1));
        }
    }
}

/* The choice of index 0 among choices (an entry without an index counts as 0), else NULL. */
static const cJSON *
choice0(const cJSON *choices)
{
    const cJSON *c, *idx;

    if (!cJSON_IsArray(choices)) {
        return NULL;
    }
    cJSON_ArrayForEach(c, choices)
    {
        idx = sllmp_json_get(c, "index");
        if (cJSON_IsObject(c) && (idx == NULL || (cJSON_IsNumber(idx) && idx->valuedouble == 0))) {
            return c;
        }
    }
    return NULL;
}

/* A message's or a delta's reasoning text: LiteLLM's reasoning_content, or the "reasoning"
 * string some OpenAI-compatible servers send instead. NULL when none or empty. */
static const char *
reasoning_of(const cJSON *o)
{
    const char *r = text_of(o, "reasoning_content");

    return r != NULL ? r : text_of(o, "reasoning");
}

/* ---- unstreamed ---------------------------------------------------------------------------- */

/* A message's content as one string into b: the string, or the text of its text parts. */
static void
content_text(sllmp_buf_t *b, const cJSON *content)
{
    const cJSON *p;

    if (cJSON_IsString(content)) {
        sllmp_buf_appends(b, content->valuestring);
        return;
    }
    cJSON_ArrayForEach(p, array(content))
    {
        const char *type = sllmp_json_str(p, "type");

        if ((type == NULL || strcmp(type, "text") == 0) && sllmp_json_str(p, "text") != NULL) {
            sllmp_buf_appends(b, sllmp_json_str(p, "text"));
        }
    }
}

/* A chat tool call's arguments as a string: the string, an object printed, else "". */
static char *
call_args(const cJSON *args)
{
    if (cJSON_IsString(args)) {
        return sllmp_xstrdup(args->valuestring);
    }
    if (cJSON_IsObject(args)) {
        char *p = cJSON_PrintUnformatted(args), *s = sllmp_xstrdup(p != NULL ? p : "{}");

        cJSON_free(p);
        return s;
    }
    return sllmp_xstrdup("");
}

static void
add_calls(cJSON *output, const sllmp_responses_meta_t *m, const cJSON *calls)
{
    const cJSON *c, *fn;
    char id[ID_MAX], call_id[ID_MAX];

    cJSON_ArrayForEach(c, array(calls))
    {
        const char *cid = text_of(c, "id"), *name;
        char *args, *full;
        int n = cJSON_GetArraySize(output);

        fn = sllmp_json_get(c, "function");
        if (!cJSON_IsObject(fn)) {
            continue; /* not a function call (chat's custom tools are never asked for) */
        }
        name = sllmp_json_str(fn, "name");
        item_id(id, sizeof(id), "fc_", m->id, n);
        if (cid == NULL) {
            item_id(call_id, sizeof(call_id), "call_", m->id, n);
            cid = call_id;
        }
        args = call_args(sllmp_json_get(fn, "arguments"));
        full = call_id_of(cid, thought_signature(c));
        cJSON_AddItemToArray(output,
                             call_item(id, full, name != NULL ? name : "", args, "completed"));
        free(full);
        free(args);
    }
}

cJSON *
sllmp_responses_from_chat(const sllmp_responses_meta_t *m, const cJSON *completion,
                          const sllmp_usage_t *u)
{
    const cJSON *type = sllmp_json_get(completion, "object"), *choice, *msg;
    const char *reasoning, *refusal, *incomplete, *status;
    cJSON *output, *last, *res;
    sllmp_buf_t text;
    sllmp_usage_t own;
    char id[ID_MAX];

    if (!cJSON_IsObject(completion) || !cJSON_IsArray(sllmp_json_get(completion, "choices")) ||
        (type != NULL &&
         !(cJSON_IsString(type) && strcmp(type->valuestring, "chat.completion") == 0))) {
        return NULL;
    }
    choice = choice0(sllmp_json_get(completion, "choices"));
    msg = sllmp_json_get(choice, "message");
    output = cJSON_CreateArray();

    reasoning = reasoning_of(msg);
    if (reasoning != NULL || cJSON_GetArraySize(sllmp_json_get(msg, "thinking_blocks")) > 0) {
        item_id(id, sizeof(id), "rs_", m->id, cJSON_GetArraySize(output));
        /* a redacted block alone: an empty summary part, as the stream has one */
        cJSON_AddItemToArray(output, reasoning_item(id, reasoning != NULL ? reasoning : "",
                                                    array(sllmp_json_get(msg, "thinking_blocks"))));
    }
    sllmp_buf_init(&text, 0);
    content_text(&text, sllmp_json_get(msg, "content"));
    refusal = text_of(msg, "refusal");
    if (text.len > 0 || refusal != NULL) {
        cJSON *it, *content, *lp = NULL;

        item_id(id, sizeof(id), "msg_", m->id, cJSON_GetArraySize(output));
        it = message_item(id, "completed");
        content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (text.len > 0) {
            lp = cJSON_CreateArray();
            add_logprobs(lp, sllmp_json_get(choice, "logprobs"));
            cJSON_AddItemToArray(content, text_part(sllmp_buf_cstr(&text), lp));
        }
        if (refusal != NULL) {
            cJSON_AddItemToArray(content, refusal_part(refusal));
        }
        cJSON_AddItemToArray(output, it);
    }
    sllmp_buf_free(&text);
    add_calls(output, m, sllmp_json_get(msg, "tool_calls"));

    status = status_of(sllmp_json_str(choice, "finish_reason"), &incomplete);
    /* the item the answer was cut in is incomplete, as OpenAI marks it */
    last = cJSON_GetArrayItem(output, cJSON_GetArraySize(output) - 1);
    if (incomplete != NULL && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(last, "status"))) {
        cJSON_ReplaceItemInObjectCaseSensitive(last, "status", cJSON_CreateString("incomplete"));
    }
    if (u == NULL && cJSON_IsObject(sllmp_json_get(completion, "usage"))) {
        memset(&own, 0, sizeof(own));
        sllmp_usage_from_openai(&own, sllmp_json_get(completion, "usage"));
        u = &own;
    }
    res = sllmp_responses_object(m, status, incomplete, NULL, NULL, output, u);
    return res;
}

/* ---- streamed ------------------------------------------------------------------------------ */

static cJSON *
event(const char *type)
{
    cJSON *e = cJSON_CreateObject();

    cJSON_AddStringToObject(e, "type", type);
    return e;
}

/* Sends ev (taken) with the next sequence number; nothing once emit stopped the translator. */
static int
send(sllmp_rstream_t *s, cJSON *ev)
{
    const char *type = sllmp_json_str(ev, "type");
    int rc = 0;

    if (s->stopped == 0) {
        cJSON_AddNumberToObject(ev, "sequence_number", (double)s->seq++);
        rc = s->emit != NULL ? s->emit(s->ud, type, ev) : 0;
        if (rc != 0) {
            s->stopped = rc;
        }
    }
    cJSON_Delete(ev);
    return s->stopped;
}

static cJSON *
closed_items(sllmp_rstream_t *s)
{
    if (s->items == NULL) {
        s->items = cJSON_CreateArray();
    }
    return s->items;
}

/* An event about the open item: its item_id and output_index. */
static cJSON *
item_event(sllmp_rstream_t *s, const char *type)
{
    cJSON *e = event(type);

    cJSON_AddStringToObject(e, "item_id", sllmp_json_str(s->item, "id"));
    cJSON_AddNumberToObject(e, "output_index", cJSON_GetArraySize(closed_items(s)));
    return e;
}

/* response.created and response.in_progress, once. */
static int
start(sllmp_rstream_t *s)
{
    static const char *const types[] = {"response.created", "response.in_progress"};

    if (s->started) {
        return s->stopped;
    }
    s->started = 1;
    for (size_t i = 0; i < 2; i++) {
        cJSON *e = event(types[i]);

        cJSON_AddItemToObject(
            e, "response",
            sllmp_responses_object(&s->meta, "in_progress", NULL, NULL, NULL, NULL, NULL));
        send(s, e);
    }
    return s->stopped;
}

static cJSON *
summary_part(const char *text)
{
    cJSON *p = cJSON_CreateObject();

    cJSON_AddStringToObject(p, "type", "summary_text");
    cJSON_AddStringToObject(p, "text", text);
    return p;
}

/* Announces a new item of kind (output_item.added, and its part's added event). For a call:
 * its chat index, id (NULL: one is made up) and name. */
static int
open_item(sllmp_rstream_t *s, int kind, int index, const char *call_id, const char *name,
          const char *sig)
{
    int n = cJSON_GetArraySize(closed_items(s));
    char id[ID_MAX], cid[ID_MAX], *full;
    cJSON *e;

    switch (kind) {
    case OPEN_REASONING:
        item_id(id, sizeof(id), "rs_", s->meta.id, n);
        s->item = reasoning_item(id, NULL, NULL);
        break;
    case OPEN_TEXT:
    case OPEN_REFUSAL:
        item_id(id, sizeof(id), "msg_", s->meta.id, n);
        s->item = message_item(id, "in_progress");
        break;
    default:
        item_id(id, sizeof(id), "fc_", s->meta.id, n);
        if (call_id == NULL) {
            item_id(cid, sizeof(cid), "call_", s->meta.id, n);
            call_id = cid;
        }
        full = call_id_of(call_id, sig);
        s->item = call_item(id, full, name != NULL ? name : "", "", "in_progress");
        free(full);
        s->call_index = index;
        break;
    }
    s->open = kind;
    sllmp_buf_reset(&s->text);
    cJSON_Delete(s->logprobs);
    s->logprobs = kind == OPEN_TEXT ? cJSON_CreateArray() : NULL;

    e = event("response.output_item.added");
    cJSON_AddNumberToObject(e, "output_index", n);
    cJSON_AddItemToObject(e, "item", cJSON_Duplicate(s->item, 1));
    send(s, e);
    if (kind == OPEN_REASONING) {
        e = item_event(s, "response.reasoning_summary_part.added");
        cJSON_AddNumberToObject(e, "summary_index", 0);
        cJSON_AddItemToObject(e, "part", summary_part(""));
        send(s, e);
    } else if (kind == OPEN_TEXT || kind == OPEN_REFUSAL) {
        e = item_event(s, "response.content_part.added");
        cJSON_AddNumberToObject(e, "content_index", 0);
        cJSON_AddItemToObject(e, "part",
                              kind == OPEN_TEXT ? text_part("", NULL) : refusal_part(""));
        send(s, e);
    }
    return s->stopped;
}

/* Closes the open item (its done events, then output_item.done) with status for a message or
 * a call ("completed", or "incomplete" when the answer was cut in it); it joins the items. */
static int
close_item(sllmp_rstream_t *s, const char *status)
{
    const char *text = sllmp_buf_cstr(&s->text);
    cJSON *e, *done = NULL, *part;
    int n = cJSON_GetArraySize(closed_items(s));

    if (s->open == OPEN_NONE) {
        return s->stopped;
    }
    switch (s->open) {
    case OPEN_REASONING:
        e = item_event(s, "response.reasoning_summary_text.done");
        cJSON_AddNumberToObject(e, "summary_index", 0);
        cJSON_AddStringToObject(e, "text", text);
        send(s, e);
        e = item_event(s, "response.reasoning_summary_part.done");
        cJSON_AddNumberToObject(e, "summary_index", 0);
        cJSON_AddItemToObject(e, "part", summary_part(text));
        send(s, e);
        done = reasoning_item(sllmp_json_str(s->item, "id"), text, s->thinking);
        cJSON_Delete(s->thinking);
        s->thinking = NULL;
        break;
    case OPEN_TEXT:
    case OPEN_REFUSAL:
        if (s->open == OPEN_TEXT) {
            part = text_part(text, s->logprobs);
            s->logprobs = NULL;
            e = item_event(s, "response.output_text.done");
            cJSON_AddNumberToObject(e, "content_index", 0);
            cJSON_AddStringToObject(e, "text", text);
            cJSON_AddItemToObject(e, "logprobs",
                                  cJSON_Duplicate(cJSON_GetObjectItem(part, "logprobs"), 1));
        } else {
            part = refusal_part(text);
            e = item_event(s, "response.refusal.done");
            cJSON_AddNumberToObject(e, "content_index", 0);
            cJSON_AddStringToObject(e, "refusal", text);
        }
        send(s, e);
        e = item_event(s, "response.content_part.done");
        cJSON_AddNumberToObject(e, "content_index", 0);
        cJSON_AddItemToObject(e, "part", cJSON_Duplicate(part, 1));
        send(s, e);
        done = message_item(sllmp_json_str(s->item, "id"), status);
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(done, "content"), part);
        break;
    default:
        e = item_event(s, "response.function_call_arguments.done");
        cJSON_AddStringToObject(e, "name", sllmp_json_str(s->item, "name"));
        cJSON_AddStringToObject(e, "arguments", text);
        send(s, e);
        done = call_item(sllmp_json_str(s->item, "id"), sllmp_json_str(s->item, "call_id"),
                         sllmp_json_str(s->item, "name"), text, status);
        break;
    }
    cJSON_AddItemToArray(s->items, done);
    cJSON_Delete(s->item);
    s->item = NULL;
    s->open = OPEN_NONE;
    sllmp_buf_reset(&s->text);

    e = event("response.output_item.done");
    cJSON_AddNumberToObject(e, "output_index", n);
    cJSON_AddItemToObject(e, "item", cJSON_Duplicate(done, 1));
    return send(s, e);
}

/* A piece of reasoning, text or refusal: the item of its kind opened if it is not the open
 * one, then its delta. chunk_logprobs: the choice's logprobs (text only). */
static int
piece(sllmp_rstream_t *s, int kind, const char *text, const cJSON *chunk_logprobs)
{
    static const char *const types[] = {
        [OPEN_REASONING] = "response.reasoning_summary_text.delta",
        [OPEN_TEXT] = "response.output_text.delta",
        [OPEN_REFUSAL] = "response.refusal.delta",
    };
    cJSON *e;

    if (s->open != kind &&
        (close_item(s, "completed") != 0 || open_item(s, kind, 0, NULL, NULL, NULL))) {
        return s->stopped;
    }
    sllmp_buf_appends(&s->text, text);
    e = item_event(s, types[kind]);
    if (kind == OPEN_REASONING) {
        cJSON_AddNumberToObject(e, "summary_index", 0);
    } else {
        cJSON_AddNumberToObject(e, "content_index", 0);
    }
    cJSON_AddStringToObject(e, "delta", text);
    if (kind == OPEN_TEXT) {
        cJSON *lp = cJSON_AddArrayToObject(e, "logprobs");

        add_logprobs(lp, chunk_logprobs);
        add_logprobs(s->logprobs, chunk_logprobs);
    }
    return send(s, e);
}

/* A thinking_blocks delta: its entries join the open reasoning item (one is opened for a
 * redacted block that came without text), for its encrypted_content. */
static int
thinking(sllmp_rstream_t *s, const cJSON *delta)
{
    const cJSON *b;

    if (s->open != OPEN_REASONING &&
        (close_item(s, "completed") != 0 || open_item(s, OPEN_REASONING, 0, NULL, NULL, NULL))) {
        return s->stopped;
    }
    if (s->thinking == NULL) {
        s->thinking = cJSON_CreateArray();
    }
    cJSON_ArrayForEach(b, sllmp_json_get(delta, "thinking_blocks"))
    {
        cJSON_AddItemToArray(s->thinking, cJSON_Duplicate(b, 1));
    }
    return s->stopped;
}

/* A tool_calls fragment: a new call (a later chat index, or an id other than the open call's)
 * is announced, argument text goes to the open call. A fragment of a call already closed (an
 * earlier index) is dropped: its item went out whole. */
static int
call_fragment(sllmp_rstream_t *s, const cJSON *frag)
{
    const cJSON *idx = sllmp_json_get(frag, "index"), *fn = sllmp_json_get(frag, "function");
    const char *id = text_of(frag, "id"), *args = text_of(fn, "arguments");
    int index, fresh;
    cJSON *e;

    if (!cJSON_IsObject(frag)) {
        return s->stopped;
    }
    if (cJSON_IsNumber(idx)) {
        index = idx->valuedouble >= 0 && idx->valuedouble < 1e6 ? (int)idx->valuedouble : -1;
    } else {
        index = s->open == OPEN_CALL ? s->call_index : 0;
    }
    fresh = s->open != OPEN_CALL || index > s->call_index ||
            (id != NULL && !same_call(id, sllmp_json_str(s->item, "call_id")));
    if (!fresh && index < s->call_index) {
        return s->stopped;
    }
    if (fresh && (close_item(s, "completed") != 0 ||
                  open_item(s, OPEN_CALL, index, id, sllmp_json_str(fn, "name"),
                            thought_signature(frag)) != 0)) {
        return s->stopped;
    }
    if (args == NULL) {
        return s->stopped;
    }
    sllmp_buf_appends(&s->text, args);
    e = item_event(s, "response.function_call_arguments.delta");
    cJSON_AddStringToObject(e, "delta", args);
    return send(s, e);
}

int
sllmp_rstream_chunk(sllmp_rstream_t *s, const cJSON *chunk)
{
    const cJSON *choice, *delta, *calls, *c;
    const char *t, *finish;

    if (s->stopped != 0 || s->ended) {
        return s->stopped;
    }
    choice = choice0(sllmp_json_get(chunk, "choices"));
    if (choice == NULL) {
        return 0; /* usage-only, another choice's, or not a chunk */
    }
    if (start(s) != 0) {
        return s->stopped;
    }
    delta = sllmp_json_get(choice, "delta");
    if ((t = reasoning_of(delta)) != NULL && piece(s, OPEN_REASONING, t, NULL) != 0) {
        return s->stopped;
    }
    if (cJSON_GetArraySize(array(sllmp_json_get(delta, "thinking_blocks"))) > 0 &&
        thinking(s, delta) != 0) {
        return s->stopped;
    }
    if ((t = text_of(delta, "content")) != NULL &&
        piece(s, OPEN_TEXT, t, sllmp_json_get(choice, "logprobs")) != 0) {
        return s->stopped;
    }
    if ((t = text_of(delta, "refusal")) != NULL && piece(s, OPEN_REFUSAL, t, NULL) != 0) {
        return s->stopped;
    }
    calls = sllmp_json_get(delta, "tool_calls");
    cJSON_ArrayForEach(c, array(calls))
    {
        if (call_fragment(s, c) != 0) {
            return s->stopped;
        }
    }
    finish = text_of(choice, "finish_reason");
    if (finish != NULL) {
        snprintf(s->finish, sizeof(s->finish), "%s", finish);
    }
    return 0;
}

int
sllmp_rstream_finish(sllmp_rstream_t *s, const sllmp_usage_t *u)
{
    const char *incomplete, *status = status_of(s->finish, &incomplete);
    cJSON *e;

    if (s->stopped != 0 || s->ended) {
        return s->stopped;
    }
    s->ended = 1;
    if (start(s) != 0 || close_item(s, status) != 0) {
        return s->stopped;
    }
    e = event(incomplete != NULL ? "response.incomplete" : "response.completed");
    cJSON_AddItemToObject(e, "response",
                          sllmp_responses_object(&s->meta, status, incomplete, NULL, NULL,
                                                 cJSON_Duplicate(closed_items(s), 1), u));
    return send(s, e);
}

int
sllmp_rstream_fail(sllmp_rstream_t *s, const char *code, const char *message)
{
    cJSON *e;

    if (s->stopped != 0 || s->ended) {
        return s->stopped;
    }
    s->ended = 1;
    if (code == NULL) {
        code = "server_error";
    }
    if (message == NULL) {
        message = "";
    }
    if (start(s) != 0) {
        return s->stopped;
    }
    e = event("error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddNullToObject(e, "param");
    if (send(s, e) != 0) {
        return s->stopped;
    }
    e = event("response.failed");
    cJSON_AddItemToObject(e, "response",
                          sllmp_responses_object(&s->meta, "failed", NULL, code, message,
                                                 cJSON_Duplicate(closed_items(s), 1), NULL));
    return send(s, e);
}

void
sllmp_rstream_free(sllmp_rstream_t *s)
{
    cJSON_Delete(s->items);
    cJSON_Delete(s->item);
    cJSON_Delete(s->logprobs);
    cJSON_Delete(s->thinking);
    s->items = s->item = s->logprobs = s->thinking = NULL;
    sllmp_buf_free(&s->text);
    s->open = OPEN_NONE;
}
