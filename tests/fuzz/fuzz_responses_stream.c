/*
 * The Responses answer translators (src/responses_answer.c) on any chat answer. Input: byte 0
 * picks how the stream ends (% 3: finish with usage, finish without, fail); byte 1 is the event
 * whose emit() stops the translator (0: none); the rest is one JSON value a line: the first is
 * the client's Responses request (its echoes), every other one a chat.completion.chunk fed to
 * the stream and, as a chat.completion, to sllmp_responses_from_chat(). Lines that are not JSON
 * are skipped.
 *
 * Properties: the events hold to what openai-node's ResponseStream accumulates and more
 * (tests/unit/responses_events.h: response.created first, sequence numbers from 0, every item
 * event finds its item and part, done texts are their deltas, the terminal Response carries the
 * items as built, nothing after it); the stream ends with exactly one terminal event unless
 * emit stopped it; once stopped, every call returns emit's value and nothing more goes out;
 * from_chat's Response prints and parses, has the request's id and a known status, and its
 * usage is never negative; inputs are never modified; everything frees wherever it stopped.
 */
#include "fuzz.h"
#include "sllmp/responses.h"
#include "../unit/responses_events.h"

#define STOP 7 /* emit's value when it stops the translator */

typedef struct {
    int stop_at; /* the event number whose emit returns STOP; 0 never */
    int events;
    int stopped;
    rcheck_t check;
} state_t;

/* a and b print the same (cJSON_Compare is not used: it calls an object with a key given
 * twice different from its own copy) */
static void
same(const cJSON *a, const cJSON *b)
{
    char *x = cJSON_PrintUnformatted(a), *y = cJSON_PrintUnformatted(b);

    fuzz_check(x != NULL && y != NULL && strcmp(x, y) == 0);
    cJSON_free(x);
    cJSON_free(y);
}

static int
emit(void *ud, const char *type, const cJSON *data)
{
    state_t *st = ud;

    fuzz_check(!st->stopped);
    fuzz_reparses(data);
    if (rcheck_event(&st->check, type, data) != 0) {
        fprintf(stderr, "stream check: %s\n", st->check.why);
        fuzz_check(0);
    }
    if (++st->events == st->stop_at) {
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

static void
check_answer(const sllmp_responses_meta_t *m, const cJSON *completion)
{
    cJSON *copy = cJSON_Duplicate(completion, 1);
    cJSON *r = sllmp_responses_from_chat(m, completion, NULL);
    const cJSON *status, *usage;

    same(completion, copy);
    cJSON_Delete(copy);
    if (r == NULL) {
        return;
    }
    fuzz_reparses(r);
    fuzz_check(strcmp(cJSON_GetObjectItemCaseSensitive(r, "id")->valuestring, m->id) == 0);
    status = cJSON_GetObjectItemCaseSensitive(r, "status");
    fuzz_check(cJSON_IsString(status) && (strcmp(status->valuestring, "completed") == 0 ||
                                          strcmp(status->valuestring, "incomplete") == 0));
    fuzz_check(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r, "output")));
    usage = cJSON_GetObjectItemCaseSensitive(r, "usage");
    if (!cJSON_IsNull(usage)) {
        fuzz_check(fuzz_num(usage, "input_tokens") >= 0 && fuzz_num(usage, "output_tokens") >= 0);
        fuzz_check(fuzz_num(usage, "total_tokens") ==
                   fuzz_num(usage, "input_tokens") + fuzz_num(usage, "output_tokens"));
    }
    cJSON_Delete(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sllmp_rstream_t s;
    state_t st;
    cJSON *req = NULL;
    char *text, *line, *next;
    int ending, rc, first = 1;
    sllmp_usage_t u = {.input = 5, .cache_read = 3, .cache_write = 1, .output = 7, .reasoning = 2};

    if (size < 2) {
        return 0;
    }
    fuzz_quiet();
    ending = data[0] % 3;
    memset(&st, 0, sizeof(st));
    st.stop_at = data[1];
    memset(&s, 0, sizeof(s));
    s.meta.id = "resp_f00d";
    s.meta.created_at = 1700000000L;
    s.meta.model = "fuzz-model";
    s.emit = emit;
    s.ud = &st;

    text = fuzz_str(data + 2, size - 2);
    for (line = text; line != NULL; line = next) {
        cJSON *j;

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
            req = j;
            s.meta.req = req;
            continue;
        }
        {
            cJSON *copy = cJSON_Duplicate(j, 1);

            rc = sllmp_rstream_chunk(&s, j);
            check_rc(&st, rc);
            same(j, copy);
            cJSON_Delete(copy);
        }
        check_answer(&s.meta, j);
        cJSON_Delete(j);
    }
    if (ending == 2) {
        rc = sllmp_rstream_fail(&s, "server_error", "upstream failed");
    } else {
        rc = sllmp_rstream_finish(&s, ending == 0 ? &u : NULL);
    }
    check_rc(&st, rc);
    if (!st.stopped) {
        fuzz_check(st.check.terminal); /* exactly one terminal event: the checker refuses two */
    }
    /* after the end, or once stopped, nothing more */
    rc = sllmp_rstream_finish(&s, &u);
    check_rc(&st, rc);
    sllmp_rstream_free(&s);
    rcheck_free(&st.check);
    cJSON_Delete(req);
    free(text);
    return 0;
}
