/*
 * The OpenAI chunk emitters shared by the stream translators (include/sllmp/translate.h), and
 * the usage object they all end with. One place decides the chunk shapes, so Anthropic, Gemini
 * and Bedrock streams look alike to the client and to the pipeline's on_chunk filters.
 */
#include "sllmp/translate.h"
#include "sllmp/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
sllmp_xerr(sllmp_xerr_t *e, const char *why, const char *pfmt, ...)
{
    va_list ap;

    if (e == NULL) {
        return -1;
    }
    va_start(ap, pfmt);
    vsnprintf(e->param, sizeof(e->param), pfmt, ap);
    va_end(ap);
    if (e->param[0] != '\0') {
        snprintf(e->message, sizeof(e->message), "'%s' %s", e->param, why);
    } else {
        snprintf(e->message, sizeof(e->message), "%s", why);
    }
    return -1;
}

const cJSON *
sllmp_json_get(const cJSON *obj, const char *name)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

int
sllmp_json_given(const cJSON *v)
{
    return v != NULL && !cJSON_IsNull(v);
}

int
sllmp_str_is(const char *s, const char *lit)
{
    return s != NULL && strcmp(s, lit) == 0;
}

const char *
sllmp_json_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

size_t
sllmp_thought_id_len(const char *id)
{
    const char *sep = strstr(id, SLLMP_THOUGHT_SEP);

    return sep != NULL ? (size_t)(sep - id) : strlen(id);
}

const char *
sllmp_thought_signature(const char *id)
{
    const char *sig = id + sllmp_thought_id_len(id);

    if (*sig == '\0' || sig[strlen(SLLMP_THOUGHT_SEP)] == '\0') {
        return NULL;
    }
    return sig + strlen(SLLMP_THOUGHT_SEP);
}

cJSON *
sllmp_bare_tool_id(const char *id)
{
    char *bare = sllmp_xstrndup(id, sllmp_thought_id_len(id));
    cJSON *s = cJSON_CreateString(bare);

    free(bare);
    return s;
}

cJSON *
sllmp_usage_to_openai(const sllmp_usage_t *u)
{
    cJSON *o = cJSON_CreateObject();
    long prompt = sllmp_usage_prompt(u), completion = sllmp_usage_completion(u);
    cJSON *pd, *cd;

    cJSON_AddNumberToObject(o, "prompt_tokens", (double)prompt);
    cJSON_AddNumberToObject(o, "completion_tokens", (double)completion);
    cJSON_AddNumberToObject(o, "total_tokens", (double)(prompt + completion));
    pd = cJSON_AddObjectToObject(o, "prompt_tokens_details");
    cJSON_AddNumberToObject(pd, "cached_tokens", (double)u->cache_read);
    if (u->cache_write > 0) {
        cJSON_AddNumberToObject(pd, "cache_write_tokens", (double)u->cache_write);
    }
    cd = cJSON_AddObjectToObject(o, "completion_tokens_details");
    cJSON_AddNumberToObject(cd, "reasoning_tokens", (double)u->reasoning);
    return o;
}

static const char *
stream_id(const sllmp_xstream_t *s)
{
    if (s->id_buf[0] != '\0') {
        return s->id_buf;
    }
    return s->id != NULL ? s->id : "chatcmpl-sllmp";
}

/* A chunk with one choice; *delta is the choice's delta to fill. */
static cJSON *
chunk(sllmp_xstream_t *s, cJSON **delta, const char *finish)
{
    cJSON *c = cJSON_CreateObject();
    cJSON *choices, *ch;

    cJSON_AddStringToObject(c, "id", stream_id(s));
    cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(c, "created", (double)s->created);
    cJSON_AddStringToObject(c, "model", s->model != NULL ? s->model : "");
    choices = cJSON_AddArrayToObject(c, "choices");
    ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", s->choice);
    *delta = cJSON_AddObjectToObject(ch, "delta");
    cJSON_AddNullToObject(ch, "logprobs");
    if (finish != NULL) {
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    } else {
        cJSON_AddNullToObject(ch, "finish_reason");
    }
    return c;
}

static int
emit(sllmp_xstream_t *s, cJSON *c)
{
    int rc = s->emit != NULL ? s->emit(s->ud, c) : 0;

    cJSON_Delete(c);
    return rc;
}

int
sllmp_xstream_start(sllmp_xstream_t *s)
{
    cJSON *delta;
    cJSON *c;

    if (s->started) {
        return 0;
    }
    s->started = 1;
    c = chunk(s, &delta, NULL);
    cJSON_AddStringToObject(delta, "role", "assistant");
    cJSON_AddStringToObject(delta, "content", "");
    return emit(s, c);
}

/* A chunk whose delta is {field: text} ("" sends nothing), with logprobs (taken; NULL: null);
 * the role chunk went out before. */
static int
string_delta(sllmp_xstream_t *s, const char *field, const char *text, size_t len, cJSON *logprobs)
{
    cJSON *delta, *c;
    char *copy;

    if (len == 0) {
        cJSON_Delete(logprobs);
        return 0;
    }
    c = chunk(s, &delta, NULL);
    copy = sllmp_xstrndup(text, len);
    cJSON_AddStringToObject(delta, field, copy);
    free(copy);
    if (logprobs != NULL) {
        cJSON_ReplaceItemInObjectCaseSensitive(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "choices"), 0), "logprobs",
            logprobs);
    }
    return emit(s, c);
}

int
sllmp_xstream_text(sllmp_xstream_t *s, const char *text, size_t len)
{
    return sllmp_xstream_text_logprobs(s, text, len, NULL);
}

int
sllmp_xstream_text_logprobs(sllmp_xstream_t *s, const char *text, size_t len, cJSON *logprobs)
{
    int rc = sllmp_xstream_start(s);

    if (rc != 0) {
        cJSON_Delete(logprobs);
        return rc;
    }
    s->text_chars += len;
    return string_delta(s, "content", text, len, logprobs);
}

int
sllmp_xstream_refusal(sllmp_xstream_t *s, const char *text, size_t len)
{
    int rc = sllmp_xstream_start(s);

    return rc != 0 ? rc : string_delta(s, "refusal", text, len, NULL);
}

int
sllmp_xstream_reasoning(sllmp_xstream_t *s, const char *text, size_t len)
{
    int rc = sllmp_xstream_start(s);

    if (rc != 0) {
        return rc;
    }
    /* kept for the block's signed entry, unless no signature will come or it grew too long */
    if (!s->unsigned_reasoning && !s->thinking_cut) {
        if (s->thinking.len + len > SLLMP_XSTREAM_THINKING_MAX) {
            s->thinking_cut = 1; /* the entry would not match its signature: none for it */
            sllmp_buf_free(&s->thinking);
        } else {
            sllmp_buf_append(&s->thinking, text, len);
        }
    }
    return string_delta(s, "reasoning_content", text, len, NULL);
}

cJSON *
sllmp_chat_answer(const sllmp_chat_answer_t *a)
{
    cJSON *out = cJSON_CreateObject(), *choice = cJSON_CreateObject(), *message;

    cJSON_AddStringToObject(out, "id", a->id != NULL ? a->id : "chatcmpl-sllmp");
    cJSON_AddStringToObject(out, "object", "chat.completion");
    cJSON_AddNumberToObject(out, "created", (double)a->created);
    cJSON_AddStringToObject(out, "model", a->model != NULL ? a->model : "");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "choices"), choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    message = cJSON_AddObjectToObject(choice, "message");
    cJSON_AddStringToObject(message, "role", "assistant");
    cJSON_AddItemToObject(message, "content",
                          a->content != NULL ? cJSON_CreateString(a->content) : cJSON_CreateNull());
    cJSON_AddItemToObject(message, "refusal",
                          a->refusal != NULL ? cJSON_CreateString(a->refusal) : cJSON_CreateNull());
    if (a->reasoning != NULL) {
        cJSON_AddStringToObject(message, "reasoning_content", a->reasoning);
    }
    if (a->thinking_blocks != NULL) {
        cJSON_AddItemToObject(message, "thinking_blocks", a->thinking_blocks);
    }
    if (a->tool_calls != NULL) {
        cJSON_AddItemToObject(message, "tool_calls", a->tool_calls);
    }
    cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddStringToObject(choice, "finish_reason", a->finish);
    cJSON_AddItemToObject(out, "usage", sllmp_usage_to_openai(a->usage));
    return out;
}

cJSON *
sllmp_thinking_entry(int index, const char *thinking, const char *signature, const char *data)
{
    int redacted = signature == NULL || *signature == '\0';
    cJSON *e;

    if (redacted && (data == NULL || *data == '\0')) {
        return NULL;
    }
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", redacted ? "redacted_thinking" : "thinking");
    if (index >= 0) {
        cJSON_AddNumberToObject(e, "index", index);
    }
    if (redacted) {
        cJSON_AddStringToObject(e, "data", data);
    } else {
        cJSON_AddStringToObject(e, "thinking", thinking != NULL ? thinking : "");
        cJSON_AddStringToObject(e, "signature", signature);
    }
    return e;
}

/* A chunk whose delta is {"thinking_blocks": [entry]}, the entry numbered with the stream's
 * count of them ("index", from 0), by which openai-python's stream helper puts two or more
 * together. */
static int
thinking_chunk(sllmp_xstream_t *s, const char *thinking, const char *signature, const char *data)
{
    cJSON *delta, *c = chunk(s, &delta, NULL);

    cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "thinking_blocks"),
                         sllmp_thinking_entry(s->thinking_entries++, thinking, signature, data));
    return emit(s, c);
}

/* The block's text is forgotten, to start the next one. */
static void
thinking_reset(sllmp_xstream_t *s)
{
    sllmp_buf_reset(&s->thinking);
    s->thinking_cut = 0;
}

int
sllmp_xstream_thinking_signature(sllmp_xstream_t *s, const char *signature)
{
    int rc;

    if ((rc = sllmp_xstream_start(s)) != 0 || signature == NULL || *signature == '\0') {
        return rc;
    }
    if (!s->thinking_cut) { /* a block too long to keep whole gets no entry */
        rc = thinking_chunk(s, sllmp_buf_cstr(&s->thinking), signature, NULL);
    }
    thinking_reset(s);
    return rc;
}

int
sllmp_xstream_redacted_thinking(sllmp_xstream_t *s, const char *data)
{
    int rc;

    if ((rc = sllmp_xstream_start(s)) != 0 || data == NULL || *data == '\0') {
        return rc;
    }
    return thinking_chunk(s, NULL, NULL, data);
}

/* A tool_calls delta with one call; *call is it. */
static cJSON *
tool_chunk(sllmp_xstream_t *s, int index, cJSON **call)
{
    cJSON *delta, *c = chunk(s, &delta, NULL);
    cJSON *calls = cJSON_AddArrayToObject(delta, "tool_calls");

    *call = cJSON_CreateObject();
    cJSON_AddItemToArray(calls, *call);
    cJSON_AddNumberToObject(*call, "index", index);
    return c;
}

/* Ends the open tool call, if any: one that sent no argument text gets "{}", which is what an
 * argument-less call means (protocols.md §2.4), where "" would not parse. */
static int
tool_close(sllmp_xstream_t *s)
{
    int rc = 0;

    if (s->tool_open && !s->tool_args) {
        rc = sllmp_xstream_tool_args(s, s->tool_block, "{}", 2);
    }
    s->tool_open = 0;
    s->tool_args = 0;
    return rc;
}

int
sllmp_xstream_tool_start(sllmp_xstream_t *s, int block, const char *id, const char *name,
                         const char *signature)
{
    cJSON *call, *fn, *c;
    int index, rc;
    char made[40], *signed_id = NULL;

    if ((rc = sllmp_xstream_start(s)) != 0 || (rc = tool_close(s)) != 0) {
        return rc;
    }
    index = s->tools++;
    s->tool_open = 1;
    s->tool_block = block;
    s->tool_args = 0;
    if (id == NULL || *id == '\0') {
        memcpy(made, "call_", 5);
        sllmp_random_hex(made + 5, 12);
        id = made;
    }
    if (signature != NULL && *signature != '\0') {
        /* in the id too, as LiteLLM carries it, for the clients that drop extra_content */
        signed_id = sllmp_xasprintf("%s" SLLMP_THOUGHT_SEP "%s", id, signature);
        id = signed_id;
    }
    c = tool_chunk(s, index, &call);
    cJSON_AddStringToObject(call, "id", id);
    free(signed_id);
    cJSON_AddStringToObject(call, "type", "function");
    fn = cJSON_AddObjectToObject(call, "function");
    cJSON_AddStringToObject(fn, "name", name != NULL ? name : "");
    cJSON_AddStringToObject(fn, "arguments", "");
    if (signature != NULL && *signature != '\0') {
        /* the shape of Google's own OpenAI endpoint, whose stream carries it on this fragment */
        cJSON *google =
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(call, "extra_content"), "google");

        cJSON_AddStringToObject(google, "thought_signature", signature);
    }
    return emit(s, c);
}

int
sllmp_xstream_tool_args(sllmp_xstream_t *s, int block, const char *text, size_t len)
{
    cJSON *call, *fn, *c;
    char *copy;

    if (!s->tool_open || s->tool_block != block || len == 0) {
        return 0;
    }
    s->tool_args = 1;
    c = tool_chunk(s, s->tools - 1, &call);
    fn = cJSON_AddObjectToObject(call, "function");
    copy = sllmp_xstrndup(text, len);
    cJSON_AddStringToObject(fn, "arguments", copy);
    free(copy);
    s->text_chars += len;
    return emit(s, c);
}

int
sllmp_xstream_block_stop(sllmp_xstream_t *s, int block)
{
    int rc = 0;

    thinking_reset(s);
    if (s->tool_open && s->tool_block == block) {
        rc = tool_close(s);
    }
    return rc;
}

int
sllmp_xstream_finish_reason(sllmp_xstream_t *s, const char *reason)
{
    cJSON *delta, *c;
    int rc;

    if (s->finish_sent) {
        return 0;
    }
    snprintf(s->finish, sizeof(s->finish), "%s", reason != NULL ? reason : "stop");
    if ((rc = sllmp_xstream_start(s)) != 0) {
        return rc;
    }
    s->finish_sent = 1;
    c = chunk(s, &delta, s->finish);
    return emit(s, c);
}

static void
choice_save(const sllmp_xstream_t *s, sllmp_xchoice_t *c)
{
    c->started = s->started;
    c->tools = s->tools;
    c->tool_open = s->tool_open;
    c->tool_block = s->tool_block;
    c->tool_args = s->tool_args;
    memcpy(c->finish, s->finish, sizeof(c->finish));
    c->finish_sent = s->finish_sent;
}

static void
choice_load(sllmp_xstream_t *s, const sllmp_xchoice_t *c)
{
    s->started = c->started;
    s->tools = c->tools;
    s->tool_open = c->tool_open;
    s->tool_block = c->tool_block;
    s->tool_args = c->tool_args;
    memcpy(s->finish, c->finish, sizeof(s->finish));
    s->finish_sent = c->finish_sent;
}

int
sllmp_xstream_choice(sllmp_xstream_t *s, int index)
{
    if (index < 0 || index >= SLLMP_XSTREAM_CHOICES) {
        return -1;
    }
    if (index == s->choice) {
        return 0;
    }
    if (index >= s->nchoices || s->choice >= s->nchoices) {
        int n = (index > s->choice ? index : s->choice) + 1;

        s->choices = sllmp_xrealloc(s->choices, (size_t)n * sizeof(*s->choices));
        memset(s->choices + s->nchoices, 0, (size_t)(n - s->nchoices) * sizeof(*s->choices));
        s->nchoices = n;
    }
    choice_save(s, &s->choices[s->choice]);
    choice_load(s, &s->choices[index]);
    s->choice = index;
    return 0;
}

int
sllmp_xstream_open_choices(const sllmp_xstream_t *s)
{
    int n = s->started && !s->finish_sent;

    for (int i = 0; i < s->nchoices; i++) {
        if (i != s->choice && s->choices[i].started && !s->choices[i].finish_sent) {
            n++;
        }
    }
    return n;
}

int
sllmp_xstream_finish(sllmp_xstream_t *s)
{
    cJSON *c;
    int rc;

    for (int i = 0; i < (s->nchoices > 0 ? s->nchoices : 1); i++) {
        sllmp_xstream_choice(s, i);
        if (!s->finish_sent && (i == 0 || s->started) &&
            (rc = sllmp_xstream_finish_reason(s, s->finish[0] ? s->finish : "stop")) != 0) {
            return rc;
        }
    }
    sllmp_xstream_choice(s, 0);
    if (s->usage_sent) {
        return 0;
    }
    s->usage_sent = 1;
    c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", stream_id(s));
    cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(c, "created", (double)s->created);
    cJSON_AddStringToObject(c, "model", s->model != NULL ? s->model : "");
    cJSON_AddArrayToObject(c, "choices");
    cJSON_AddItemToObject(c, "usage", sllmp_usage_to_openai(&s->usage));
    return emit(s, c);
}

void
sllmp_xstream_free(sllmp_xstream_t *s)
{
    sllmp_buf_free(&s->thinking);
    s->thinking_cut = 0;
    free(s->choices);
    s->choices = NULL;
    s->nchoices = 0;
}
