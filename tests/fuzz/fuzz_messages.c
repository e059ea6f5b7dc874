/*
 * Anthropic's Messages API through chat completions (include/sllmp/messages.h) on any input.
 * Byte 0 is the event whose emit() stops the stream translator (0: none); the rest is one JSON
 * value a line: the first is the client's Messages request, every other one a
 * chat.completion.chunk fed to the stream translator and, as a chat.completion, to
 * sllmp_messages_from_chat(). Lines that are not JSON are skipped.
 *
 * Properties: the request translates into a chat request (messages of known roles, tool
 * messages with an id, well-formed calls, no tool_choice without tools, none of the Messages
 * members chat has no place for) that the Anthropic and Gemini request translators take or
 * refuse with a reason, or is refused with a reason; the events follow Anthropic's grammar
 * (message_start then ping first; content blocks indexed from 0, one open at a time, deltas
 * only to the open one and of its kind; message_delta then message_stop last, nothing after);
 * once stopped, every call returns emit's value and nothing more goes out; from_chat's Message
 * prints and parses with a known stop_reason and usage never negative; inputs are never
 * modified; everything frees wherever it stopped. sllmp_messages_bare_ids leaves no tool id
 * with a signature and finds nothing more on a second pass.
 */
#include "fuzz.h"
#include "sllmp/messages.h"
#include "sllmp/translate.h"

#define STOP 7 /* emit's value when it stops the translator */

typedef struct {
    int stop_at; /* the event number whose emit returns STOP; 0 never */
    int events;
    int stopped;
    int ended;       /* message_stop went out */
    int open;        /* the open block's index + 1; 0 none */
    int next;        /* the next block's index */
    char kind[24];   /* the open block's type */
    int delta_after; /* message_delta went out */
} state_t;

static long
num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    fuzz_check(cJSON_IsNumber(v));
    return (long)v->valuedouble;
}

static void
check_usage(const cJSON *u)
{
    fuzz_check(num(u, "input_tokens") >= 0 && num(u, "output_tokens") >= 0);
    fuzz_check(num(u, "cache_read_input_tokens") >= 0);
    fuzz_check(num(u, "cache_creation_input_tokens") >= 0);
}

static int
known_stop(const char *s)
{
    return sllmp_str_is(s, "end_turn") || sllmp_str_is(s, "max_tokens") ||
           sllmp_str_is(s, "tool_use") || sllmp_str_is(s, "refusal");
}

/* The delta types a block of this kind takes. */
static int
delta_fits(const char *kind, const char *delta)
{
    if (sllmp_str_is(kind, "text")) {
        return sllmp_str_is(delta, "text_delta");
    }
    if (sllmp_str_is(kind, "thinking")) {
        return sllmp_str_is(delta, "thinking_delta") || sllmp_str_is(delta, "signature_delta");
    }
    return sllmp_str_is(kind, "tool_use") && sllmp_str_is(delta, "input_json_delta");
}

static int
emit(void *ud, const char *type, const cJSON *data)
{
    state_t *st = ud;
    long index;

    fuzz_check(!st->stopped && !st->ended);
    fuzz_check(sllmp_str_is(sllmp_json_str(data, "type"), type));
    fuzz_reparses(data);
    st->events++;
    if (st->events == 1) {
        fuzz_check(sllmp_str_is(type, "message_start"));
        check_usage(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(data, "message"), "usage"));
    } else if (st->events == 2) {
        fuzz_check(sllmp_str_is(type, "ping"));
    } else if (sllmp_str_is(type, "content_block_start")) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(data, "content_block");

        fuzz_check(st->open == 0 && !st->delta_after);
        fuzz_check(num(data, "index") == st->next);
        snprintf(st->kind, sizeof(st->kind), "%s",
                 sllmp_json_str(b, "type") ? sllmp_json_str(b, "type") : "");
        fuzz_check(sllmp_str_is(st->kind, "text") || sllmp_str_is(st->kind, "thinking") ||
                   sllmp_str_is(st->kind, "redacted_thinking") ||
                   sllmp_str_is(st->kind, "tool_use"));
        st->open = ++st->next;
    } else if (sllmp_str_is(type, "content_block_delta")) {
        index = num(data, "index");
        fuzz_check(st->open != 0 && index == st->open - 1);
        fuzz_check(delta_fits(
            st->kind, sllmp_json_str(cJSON_GetObjectItemCaseSensitive(data, "delta"), "type")));
    } else if (sllmp_str_is(type, "content_block_stop")) {
        fuzz_check(st->open != 0 && num(data, "index") == st->open - 1);
        st->open = 0;
    } else if (sllmp_str_is(type, "message_delta")) {
        fuzz_check(st->open == 0 && !st->delta_after);
        fuzz_check(known_stop(
            sllmp_json_str(cJSON_GetObjectItemCaseSensitive(data, "delta"), "stop_reason")));
        check_usage(cJSON_GetObjectItemCaseSensitive(data, "usage"));
        st->delta_after = 1;
    } else if (sllmp_str_is(type, "message_stop")) {
        fuzz_check(st->delta_after);
        st->ended = 1;
    } else {
        fuzz_check(0); /* no other event */
    }
    if (st->events == st->stop_at) {
        st->stopped = 1;
        return STOP;
    }
    return 0;
}

static void
check_rc(const state_t *st, int rc)
{
    fuzz_check(rc == (st->stopped ? STOP : 0));
}

/* The shape of a translated chat request. */
static void
check_chat(const cJSON *chat)
{
    static const char *const gone[] = {"system",        "stop_sequences", "metadata",
                                       "thinking",      "top_k",          "output_config",
                                       "output_format", "container",      "service_tier"};
    const cJSON *m;

    fuzz_check(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(chat, "messages")));
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(chat, "messages"))
    {
        const char *role = sllmp_json_str(m, "role");
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), *call;

        fuzz_check(sllmp_str_is(role, "system") || sllmp_str_is(role, "user") ||
                   sllmp_str_is(role, "assistant") || sllmp_str_is(role, "tool"));
        fuzz_check(cJSON_HasObjectItem(m, "content"));
        if (sllmp_str_is(role, "tool")) {
            fuzz_check(sllmp_json_str(m, "tool_call_id") != NULL &&
                       sllmp_json_str(m, "content") != NULL);
        }
        fuzz_check(calls == NULL ||
                   (sllmp_str_is(role, "assistant") && cJSON_GetArraySize(calls) > 0));
        cJSON_ArrayForEach(call, calls)
        {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
            cJSON *args;

            fuzz_check(sllmp_json_str(call, "id") != NULL &&
                       sllmp_str_is(sllmp_json_str(call, "type"), "function"));
            fuzz_check(sllmp_json_str(fn, "name") != NULL &&
                       sllmp_json_str(fn, "arguments") != NULL);
            args = cJSON_Parse(sllmp_json_str(fn, "arguments"));
            fuzz_check(cJSON_IsObject(args));
            cJSON_Delete(args);
        }
    }
    for (size_t k = 0; k < sizeof(gone) / sizeof(gone[0]); k++) {
        fuzz_check(cJSON_GetObjectItemCaseSensitive(chat, gone[k]) == NULL);
    }
    if (cJSON_GetObjectItemCaseSensitive(chat, "tools") == NULL) {
        fuzz_check(cJSON_GetObjectItemCaseSensitive(chat, "tool_choice") == NULL);
        fuzz_check(cJSON_GetObjectItemCaseSensitive(chat, "parallel_tool_calls") == NULL);
    }
}

/* sllmp_messages_bare_ids on a copy: no tool id keeps a signature, and a second pass finds
 * nothing to cut. */
static void
check_bare_ids(const cJSON *req)
{
    cJSON *copy = cJSON_Duplicate(req, 1), *m, *b;

    sllmp_messages_bare_ids(copy);
    fuzz_reparses(copy);
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(copy, "messages"))
    {
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(m, "content"))
        {
            const char *id = sllmp_str_is(sllmp_json_str(b, "type"), "tool_use")
                                 ? sllmp_json_str(b, "id")
                                 : sllmp_json_str(b, "tool_use_id");

            fuzz_check(id == NULL || strstr(id, SLLMP_THOUGHT_SEP) == NULL ||
                       !(sllmp_str_is(sllmp_json_str(b, "type"), "tool_use") ||
                         sllmp_str_is(sllmp_json_str(b, "type"), "tool_result")));
        }
    }
    fuzz_check(sllmp_messages_bare_ids(copy) == 0);
    cJSON_Delete(copy);
}

static void
check_request(const cJSON *req)
{
    char *before = cJSON_PrintUnformatted(req), *after;
    sllmp_xerr_t e;
    cJSON *chat;

    fuzz_check(before != NULL);
    memset(&e, 0x5a, sizeof(e));
    chat = sllmp_messages_to_chat(req, &e);
    if (chat == NULL) {
        fuzz_check_refusal(&e);
    } else {
        fuzz_reparses(chat);
        check_chat(chat);
        memset(&e, 0x5a, sizeof(e));
        fuzz_check_translated(sllmp_anthropic_request(chat, "claude-sonnet-4-5", &e), &e);
        memset(&e, 0x5a, sizeof(e));
        fuzz_check_translated(sllmp_gemini_request(chat, "gemini-3-pro-preview", &e), &e);
        cJSON_Delete(chat);
    }
    after = cJSON_PrintUnformatted(req);
    fuzz_check(after != NULL && strcmp(before, after) == 0);
    cJSON_free(before);
    cJSON_free(after);
    check_bare_ids(req);
}

static void
check_answer(const cJSON *completion)
{
    sllmp_messages_meta_t m = {.id = "msg_f00d", .model = "fuzz-model"};
    cJSON *msg = sllmp_messages_from_chat(&m, completion, NULL);
    const cJSON *b;

    if (msg == NULL) {
        return;
    }
    fuzz_reparses(msg);
    fuzz_check(known_stop(sllmp_json_str(msg, "stop_reason")));
    check_usage(cJSON_GetObjectItemCaseSensitive(msg, "usage"));
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(msg, "content"))
    {
        if (sllmp_str_is(sllmp_json_str(b, "type"), "tool_use")) {
            fuzz_check(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(b, "input")));
        }
    }
    cJSON_Delete(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sllmp_mstream_t s;
    state_t st;
    char *text, *line, *next;
    int rc, first = 1;
    sllmp_usage_t u = {.input = 5, .cache_read = 3, .cache_write = 1, .output = 7, .reasoning = 2};

    if (size < 1) {
        return 0;
    }
    fuzz_quiet();
    memset(&st, 0, sizeof(st));
    st.stop_at = data[0];
    memset(&s, 0, sizeof(s));
    s.meta.id = "msg_f00d";
    s.meta.model = "fuzz-model";
    s.emit = emit;
    s.ud = &st;

    text = fuzz_str(data + 1, size - 1);
    for (line = text; line != NULL; line = next) {
        cJSON *j, *copy;

        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        j = cJSON_Parse(line);
        if (j == NULL) {
            continue;
        }
        if (first) {
            first = 0;
            check_request(j);
            cJSON_Delete(j);
            continue;
        }
        copy = cJSON_Duplicate(j, 1);
        rc = sllmp_mstream_chunk(&s, j);
        check_rc(&st, rc);
        {
            char *x = cJSON_PrintUnformatted(j), *y = cJSON_PrintUnformatted(copy);

            fuzz_check(x != NULL && y != NULL && strcmp(x, y) == 0);
            cJSON_free(x);
            cJSON_free(y);
        }
        cJSON_Delete(copy);
        check_answer(j);
        cJSON_Delete(j);
    }
    rc = sllmp_mstream_finish(&s, (data[0] & 1) ? &u : NULL);
    check_rc(&st, rc);
    if (!st.stopped) {
        fuzz_check(st.ended && st.open == 0);
    }
    free(text);
    return 0;
}
