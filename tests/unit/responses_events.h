/*
 * A Responses event stream checked as openai-node's ResponseStream accumulates it
 * (lib/responses/ResponseAccumulator.mjs): the first event is response.created, every event
 * has "type" (the SSE event name it went out with) and the next sequence_number from 0;
 * output_item.added appends at output_index, and every other item event must find its item by
 * output_index, its part by content_index or summary_index, of the right type. Beyond the SDK:
 * each done text equals its deltas put together, output_item.done comes after its parts' done
 * events, and a response.completed or response.incomplete carries exactly the items as the
 * stream built them; nothing follows the terminal event. Shared by tests/unit and tests/fuzz.
 */
#ifndef SLLMP_TEST_RESPONSES_EVENTS_H
#define SLLMP_TEST_RESPONSES_EVENTS_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cJSON *snapshot; /* the Response as the SDK would hold it; NULL before response.created */
    long seq;        /* the next sequence_number */
    int terminal;    /* a response.completed, .incomplete or .failed went by */
    char why[256];   /* what broke, for the message */
} rcheck_t;

static __attribute__((unused)) const cJSON *
rc_get(const cJSON *o, const char *name)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

static __attribute__((unused)) const char *
rc_str(const cJSON *o, const char *name)
{
    const cJSON *v = rc_get(o, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static __attribute__((unused)) int
rc_is(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

#define RC_FAIL(...)                                                                               \
    do {                                                                                           \
        snprintf(c->why, sizeof(c->why), __VA_ARGS__);                                             \
        return -1;                                                                                 \
    } while (0)

/* The array member name of o, element at the event's index member; NULL when missing. */
static __attribute__((unused)) cJSON *
rc_at(const cJSON *o, const char *name, const cJSON *ev, const char *index_name)
{
    const cJSON *arr = rc_get(o, name), *i = rc_get(ev, index_name);

    if (!cJSON_IsArray(arr) || !cJSON_IsNumber(i) || i->valuedouble < 0 ||
        i->valuedouble >= cJSON_GetArraySize(arr)) {
        return NULL;
    }
    return cJSON_GetArrayItem(arr, (int)i->valuedouble);
}

/* Appends delta to the string member name of o. */
static __attribute__((unused)) void
rc_append(cJSON *o, const char *name, const char *delta)
{
    const char *old = rc_str(o, name);
    size_t n = (old ? strlen(old) : 0) + strlen(delta) + 1;
    char *s = malloc(n);

    snprintf(s, n, "%s%s", old ? old : "", delta);
    cJSON_ReplaceItemInObjectCaseSensitive(o, name, cJSON_CreateString(s));
    free(s);
}

/* One event as it went out (emit's type and data); 0, or -1 with c->why. */
static __attribute__((unused)) int
rcheck_event(rcheck_t *c, const char *type, const cJSON *ev)
{
    const cJSON *seq = rc_get(ev, "sequence_number"), *resp = rc_get(ev, "response");
    const char *delta = rc_str(ev, "delta");
    cJSON *out, *part;

    if (!rc_is(rc_str(ev, "type"), type)) {
        RC_FAIL("event %ld: type %s, data.type %s", c->seq, type, rc_str(ev, "type"));
    }
    if (!cJSON_IsNumber(seq) || seq->valuedouble != (double)c->seq) {
        RC_FAIL("event %ld (%s): sequence_number wrong", c->seq, type);
    }
    c->seq++;
    if (c->terminal) {
        RC_FAIL("%s after the terminal event", type);
    }
    if (c->snapshot == NULL && !rc_is(type, "response.created")) {
        RC_FAIL("first event %s, not response.created", type);
    }
    if (rc_is(type, "response.created") || rc_is(type, "response.in_progress") ||
        rc_is(type, "response.completed") || rc_is(type, "response.incomplete") ||
        rc_is(type, "response.failed")) {
        const char *want = rc_is(type, "response.completed")    ? "completed"
                           : rc_is(type, "response.incomplete") ? "incomplete"
                           : rc_is(type, "response.failed")     ? "failed"
                                                                : "in_progress";

        if (!cJSON_IsObject(resp) || !cJSON_IsArray(rc_get(resp, "output")) ||
            !rc_is(rc_str(resp, "status"), want) || !rc_is(rc_str(resp, "object"), "response")) {
            RC_FAIL("%s: not a Response of status %s", type, want);
        }
        if ((rc_is(want, "completed") || rc_is(want, "incomplete")) &&
            !cJSON_Compare(rc_get(c->snapshot, "output"), rc_get(resp, "output"), 1)) {
            RC_FAIL("%s: output is not the items the stream built", type);
        }
        if (rc_is(want, "in_progress") && cJSON_GetArraySize(rc_get(resp, "output")) != 0) {
            RC_FAIL("%s: output not []", type);
        }
        cJSON_Delete(c->snapshot);
        c->snapshot = cJSON_Duplicate(resp, 1);
        c->terminal = !rc_is(want, "in_progress");
        return 0;
    }
    if (rc_is(type, "error")) {
        if (!cJSON_IsString(rc_get(ev, "message")) || !cJSON_IsNull(rc_get(ev, "param")) ||
            !(cJSON_IsString(rc_get(ev, "code")) || cJSON_IsNull(rc_get(ev, "code")))) {
            RC_FAIL("error: not {code, message, param null}");
        }
        return 0;
    }
    if (rc_is(type, "response.output_item.added")) {
        const cJSON *oi = rc_get(ev, "output_index"), *item = rc_get(ev, "item");
        cJSON *output = cJSON_GetObjectItemCaseSensitive(c->snapshot, "output");

        if (!cJSON_IsNumber(oi) || oi->valuedouble != cJSON_GetArraySize(output) ||
            !cJSON_IsObject(item) || rc_str(item, "id") == NULL) {
            RC_FAIL("output_item.added: output_index or item wrong");
        }
        cJSON_AddItemToArray(output, cJSON_Duplicate(item, 1));
        return 0;
    }
    out = rc_at(c->snapshot, "output", ev, "output_index");
    if (out == NULL) {
        RC_FAIL("%s: missing output at its output_index", type);
    }
    if (rc_str(ev, "item_id") != NULL && !rc_is(rc_str(out, "id"), rc_str(ev, "item_id"))) {
        RC_FAIL("%s: item_id is not the item's at output_index", type);
    }
    if (rc_is(type, "response.output_item.done")) {
        const cJSON *item = rc_get(ev, "item");
        cJSON *mine = cJSON_Duplicate(out, 1), *theirs = cJSON_Duplicate(item, 1);

        /* what the deltas built is the item as done, but for its status, and a reasoning
         * item's encrypted_content, which no delta carries (the SDK takes the done item) */
        cJSON_DeleteItemFromObjectCaseSensitive(mine, "status");
        cJSON_DeleteItemFromObjectCaseSensitive(theirs, "status");
        if (rc_is(rc_str(theirs, "type"), "reasoning")) {
            cJSON_DeleteItemFromObjectCaseSensitive(theirs, "encrypted_content");
        }
        if (!cJSON_Compare(mine, theirs, 1)) {
            cJSON_Delete(mine);
            cJSON_Delete(theirs);
            RC_FAIL("output_item.done: the item is not what its events built");
        }
        cJSON_Delete(mine);
        cJSON_Delete(theirs);
        cJSON_ReplaceItemViaPointer(cJSON_GetObjectItemCaseSensitive(c->snapshot, "output"), out,
                                    cJSON_Duplicate(item, 1));
        return 0;
    }
    if (rc_is(type, "response.content_part.added")) {
        if (!rc_is(rc_str(out, "type"), "message") || !cJSON_IsObject(rc_get(ev, "part")) ||
            !cJSON_IsNumber(rc_get(ev, "content_index")) ||
            rc_get(ev, "content_index")->valuedouble !=
                cJSON_GetArraySize(rc_get(out, "content"))) {
            RC_FAIL("content_part.added: not on a message, or content_index wrong");
        }
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(out, "content"),
                             cJSON_Duplicate(rc_get(ev, "part"), 1));
        return 0;
    }
    if (rc_is(type, "response.reasoning_summary_part.added")) {
        if (!rc_is(rc_str(out, "type"), "reasoning") || !cJSON_IsObject(rc_get(ev, "part")) ||
            !cJSON_IsNumber(rc_get(ev, "summary_index")) ||
            rc_get(ev, "summary_index")->valuedouble !=
                cJSON_GetArraySize(rc_get(out, "summary"))) {
            RC_FAIL("reasoning_summary_part.added: not on reasoning, or summary_index wrong");
        }
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(out, "summary"),
                             cJSON_Duplicate(rc_get(ev, "part"), 1));
        return 0;
    }
    if (rc_is(type, "response.function_call_arguments.delta") ||
        rc_is(type, "response.function_call_arguments.done")) {
        if (!rc_is(rc_str(out, "type"), "function_call")) {
            RC_FAIL("%s: not on a function_call", type);
        }
        if (delta != NULL) {
            rc_append(out, "arguments", delta);
        } else if (!rc_is(rc_str(ev, "arguments"), rc_str(out, "arguments")) ||
                   !rc_is(rc_str(ev, "name"), rc_str(out, "name"))) {
            RC_FAIL("function_call_arguments.done: arguments or name are not the item's");
        }
        return 0;
    }
    if (rc_is(type, "response.reasoning_summary_text.delta") ||
        rc_is(type, "response.reasoning_summary_text.done") ||
        rc_is(type, "response.reasoning_summary_part.done")) {
        part = rc_at(out, "summary", ev, "summary_index");
        if (!rc_is(rc_str(out, "type"), "reasoning") || part == NULL) {
            RC_FAIL("%s: missing summary part", type);
        }
        if (delta != NULL) {
            rc_append(part, "text", delta);
        } else if (rc_str(ev, "text") != NULL && !rc_is(rc_str(ev, "text"), rc_str(part, "text"))) {
            RC_FAIL("%s: text is not its deltas", type);
        } else if (rc_get(ev, "part") != NULL && !cJSON_Compare(rc_get(ev, "part"), part, 1)) {
            RC_FAIL("%s: part is not what its deltas built", type);
        }
        return 0;
    }
    if (rc_is(type, "response.output_text.delta") || rc_is(type, "response.output_text.done") ||
        rc_is(type, "response.refusal.delta") || rc_is(type, "response.refusal.done") ||
        rc_is(type, "response.content_part.done")) {
        int text = strstr(type, "output_text") != NULL;
        const char *field = text ? "text" : "refusal";

        part = rc_at(out, "content", ev, "content_index");
        if (!rc_is(rc_str(out, "type"), "message") || part == NULL) {
            RC_FAIL("%s: missing content", type);
        }
        if (rc_is(type, "response.content_part.done")) {
            const cJSON *p = rc_get(ev, "part");
            cJSON *mine = cJSON_Duplicate(part, 1), *theirs = cJSON_Duplicate(p, 1);
            int same;

            cJSON_DeleteItemFromObjectCaseSensitive(mine, "logprobs");
            cJSON_DeleteItemFromObjectCaseSensitive(theirs, "logprobs");
            same = cJSON_Compare(mine, theirs, 1);
            cJSON_Delete(mine);
            cJSON_Delete(theirs);
            if (!same) {
                RC_FAIL("content_part.done: part is not what its deltas built");
            }
            cJSON_ReplaceItemViaPointer(cJSON_GetObjectItemCaseSensitive(out, "content"), part,
                                        cJSON_Duplicate(p, 1));
            return 0;
        }
        if (!rc_is(rc_str(part, "type"), text ? "output_text" : "refusal")) {
            RC_FAIL("%s: expected content to be %s, got %s", type, text ? "output_text" : "refusal",
                    rc_str(part, "type"));
        }
        if (text && !cJSON_IsArray(rc_get(ev, "logprobs"))) {
            RC_FAIL("%s: logprobs not an array", type);
        }
        if (delta != NULL) {
            rc_append(part, field, delta);
        } else if (!rc_is(rc_str(ev, field), rc_str(part, field))) {
            RC_FAIL("%s: %s is not its deltas", type, field);
        }
        return 0;
    }
    RC_FAIL("unhandled event %s", type);
}

static __attribute__((unused)) void
rcheck_free(rcheck_t *c)
{
    cJSON_Delete(c->snapshot);
    c->snapshot = NULL;
}

#undef RC_FAIL

#endif
