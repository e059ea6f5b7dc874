/*
 * The stream translators (Anthropic, Gemini, Bedrock, and the Responses API's for chat through
 * it) on any sequence of upstream events, fed through an xstream set up as the adapters do.
 * Input: byte 0 picks the provider (% 3; from 0xf0 on, the Responses API: "type\tjson" or the
 * json's own type) and
 * whether the stream is finished at the end even when the provider never said it was over;
 * byte 1 is the chunk whose emit() stops the translator (0: none); the rest is one event a line,
 * "event\tjson" (Anthropic's event name, Bedrock's :event-type; Gemini takes the whole line as
 * its data). Lines that are not JSON are skipped, as the adapters skip them.
 *
 * Properties: every chunk is a chat.completion.chunk of the stream (id, created, model) with a
 * "choices" array: one choice {index, delta, logprobs, finish_reason} or none and the usage
 * object; logprobs null but on a content chunk (Gemini's, in OpenAI's shape); index 0 but for
 * Gemini's candidates (0 .. SLLMP_XSTREAM_CHOICES - 1); each choice begins with its role
 * chunk, choice 0's first of all; at most one finish chunk (empty delta) a choice and one usage
 * chunk, which comes after the finish of each choice that began; tool calls (each choice's)
 * and thinking_blocks entries are numbered in order, a thought signature (extra_content) only
 * on a call's first fragment; an event returns 0, -1 with the error fields set and nothing emitted,
 * or emit's value once emit stopped it, and nothing is emitted after that; the usage chunk gives
 * back through sllmp_usage_from_openai() exactly the buckets in ->usage, none negative; the stream
 * frees cleanly wherever it stopped.
 */
#include "fuzz.h"
#include "sllmp/translate.h"
#include "sllmp/usage.h"

#define STOP    7 /* emit's value when it stops the translator: neither 0 nor -1 */
#define MODEL   "fuzz-model"
#define CREATED 1700000000L

typedef struct {
    int stop_at;  /* the chunk number whose emit returns STOP; 0 never */
    int provider; /* 0 Anthropic, 1 Gemini, 2 Bedrock, 3 the Responses API */
    int chunks;   /* chunks emitted */
    int stopped;  /* emit returned STOP */
    int usages;   /* usage chunks */
    int entries;  /* thinking_blocks entries */
    int in_call;  /* chunks emitted by the current event */
    /* each choice's: */
    int started[SLLMP_XSTREAM_CHOICES];  /* its role chunk went out */
    int finishes[SLLMP_XSTREAM_CHOICES]; /* chunks with a finish_reason */
    int tools[SLLMP_XSTREAM_CHOICES];    /* tool calls started (a fragment with an id) */
    const sllmp_xstream_t *x;
} state_t;

/* Whether every choice that began, and choice 0, sent its finish chunk. */
static int
all_finished(const state_t *st)
{
    for (int i = 0; i < SLLMP_XSTREAM_CHOICES; i++) {
        if ((i == 0 || st->started[i]) && st->finishes[i] != 1) {
            return 0;
        }
    }
    return 1;
}

static void
check_usage_chunk(state_t *st, const cJSON *chunk)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
    sllmp_usage_t back;
    double prompt, completion;

    fuzz_check(cJSON_IsObject(u));
    fuzz_check(all_finished(st)); /* the finish chunks went first */
    fuzz_check(++st->usages == 1);
    prompt = fuzz_num(u, "prompt_tokens");
    completion = fuzz_num(u, "completion_tokens");
    fuzz_check(prompt >= 0 && completion >= 0);
    fuzz_check(fuzz_num(u, "total_tokens") == prompt + completion);
    fuzz_check(fuzz_num(cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details"),
                        "cached_tokens") >= 0);
    fuzz_check(fuzz_num(cJSON_GetObjectItemCaseSensitive(u, "completion_tokens_details"),
                        "reasoning_tokens") >= 0);
    /* it says exactly what ->usage holds (unless its sums are past the most a count is taken
     * for, when reading it back cuts them) */
    if (sllmp_usage_prompt(&st->x->usage) > SLLMP_USAGE_MAX ||
        sllmp_usage_completion(&st->x->usage) > SLLMP_USAGE_MAX) {
        return;
    }
    memset(&back, 0, sizeof(back));
    sllmp_usage_from_openai(&back, u);
    fuzz_check(back.input == st->x->usage.input);
    fuzz_check(back.cache_read == st->x->usage.cache_read);
    fuzz_check(back.cache_write == st->x->usage.cache_write);
    fuzz_check(back.output == st->x->usage.output);
    fuzz_check(back.reasoning == st->x->usage.reasoning);
}

static void
check_delta(state_t *st, int choice, const cJSON *delta, int finish)
{
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
    const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(delta, "thinking_blocks");

    fuzz_check(cJSON_IsObject(delta));
    fuzz_check(st->chunks > 1 || choice == 0); /* choice 0 begins the stream */
    if (!st->started[choice]) {
        /* the role chunk, exactly */
        st->started[choice] = 1;
        fuzz_check(cJSON_GetArraySize(delta) == 2);
        fuzz_check(sllmp_json_str(delta, "role") != NULL &&
                   strcmp(sllmp_json_str(delta, "role"), "assistant") == 0);
        fuzz_check(sllmp_json_str(delta, "content") != NULL &&
                   *sllmp_json_str(delta, "content") == '\0');
        return;
    }
    fuzz_check(cJSON_GetObjectItemCaseSensitive(delta, "role") == NULL);
    if (finish) {
        fuzz_check(cJSON_GetArraySize(delta) == 0);
        return;
    }
    fuzz_check(cJSON_GetArraySize(delta) == 1); /* one piece a chunk */
    if (calls != NULL) {
        const cJSON *call = cJSON_GetArrayItem(calls, 0);
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        const cJSON *extra = cJSON_GetObjectItemCaseSensitive(call, "extra_content");
        int index = (int)fuzz_num(call, "index");

        fuzz_check(cJSON_IsArray(calls) && cJSON_GetArraySize(calls) == 1);
        fuzz_check(cJSON_IsObject(fn));
        fuzz_check(sllmp_json_str(fn, "arguments") != NULL);
        if (cJSON_GetObjectItemCaseSensitive(call, "id") != NULL) {
            /* the first fragment: the next ordinal, with id, type and name */
            fuzz_check(index == st->tools[choice]++);
            fuzz_check(sllmp_json_str(call, "id") != NULL && *sllmp_json_str(call, "id") != '\0');
            fuzz_check(sllmp_json_str(call, "type") != NULL &&
                       strcmp(sllmp_json_str(call, "type"), "function") == 0);
            fuzz_check(sllmp_json_str(fn, "name") != NULL);
            fuzz_check(*sllmp_json_str(fn, "arguments") == '\0');
            if (extra != NULL) {
                /* a Gemini thought signature, as the unstreamed answer carries it */
                const cJSON *google = cJSON_GetObjectItemCaseSensitive(extra, "google");
                const char *sig = sllmp_json_str(google, "thought_signature"),
                           *id = sllmp_json_str(call, "id");

                fuzz_check(cJSON_GetArraySize(extra) == 1 && cJSON_GetArraySize(google) == 1);
                fuzz_check(sig != NULL && *sig != '\0');
                /* and at the end of the id, after the separator, as LiteLLM carries it */
                fuzz_check(strlen(id) > strlen(sig) + strlen(SLLMP_THOUGHT_SEP));
                fuzz_check(strcmp(id + strlen(id) - strlen(sig), sig) == 0);
                fuzz_check(strncmp(id + strlen(id) - strlen(sig) - strlen(SLLMP_THOUGHT_SEP),
                                   SLLMP_THOUGHT_SEP, strlen(SLLMP_THOUGHT_SEP)) == 0);
            }
        } else {
            fuzz_check(index >= 0 && index < st->tools[choice]);
            fuzz_check(*sllmp_json_str(fn, "arguments") != '\0');
            fuzz_check(extra == NULL); /* on the first fragment only */
        }
    } else if (blocks != NULL) {
        const cJSON *e = cJSON_GetArrayItem(blocks, 0);
        const char *type = sllmp_json_str(e, "type");

        fuzz_check(cJSON_IsArray(blocks) && cJSON_GetArraySize(blocks) == 1);
        fuzz_check((int)fuzz_num(e, "index") == st->entries++);
        fuzz_check(type != NULL);
        if (strcmp(type, "thinking") == 0) {
            fuzz_check(sllmp_json_str(e, "thinking") != NULL);
            fuzz_check(sllmp_json_str(e, "signature") != NULL &&
                       *sllmp_json_str(e, "signature") != '\0');
        } else {
            fuzz_check(strcmp(type, "redacted_thinking") == 0);
            fuzz_check(sllmp_json_str(e, "data") != NULL && *sllmp_json_str(e, "data") != '\0');
        }
    } else {
        const char *v = sllmp_json_str(delta, "content");

        if (v == NULL) {
            v = sllmp_json_str(delta, "reasoning_content");
        }
        fuzz_check(v != NULL); /* "" sends nothing, but a cJSON string may hold a NUL first */
    }
}

/* logprobs: null, or on a content chunk OpenAI's {"content": [{token, logprob, bytes,
 * top_logprobs}], "refusal": null} (Gemini's logprobsResult). */
static void
check_logprobs(const cJSON *ch)
{
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(ch, "logprobs");
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ch, "delta"), *e, *t;

    if (cJSON_IsNull(lp)) {
        return;
    }
    fuzz_check(cJSON_IsObject(lp) && cJSON_GetArraySize(lp) == 2);
    fuzz_check(sllmp_json_str(delta, "content") != NULL);
    fuzz_check(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(lp, "refusal")));
    fuzz_check(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(lp, "content")));
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(lp, "content"))
    {
        fuzz_check(sllmp_json_str(e, "token") != NULL);
        fuzz_num(e, "logprob");
        fuzz_check(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(e, "bytes")));
        fuzz_check(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(e, "top_logprobs")));
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(e, "top_logprobs"))
        {
            fuzz_check(sllmp_json_str(t, "token") != NULL);
            fuzz_num(t, "logprob");
            fuzz_check(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(t, "bytes")));
        }
    }
}

static int
emit(void *ud, const cJSON *chunk)
{
    state_t *st = ud;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");

    fuzz_check(!st->stopped); /* emit's non-zero stopped the translator */
    fuzz_reparses(chunk);
    st->chunks++;
    st->in_call++;
    fuzz_check(cJSON_IsObject(chunk));
    fuzz_check(sllmp_json_str(chunk, "object") != NULL &&
               strcmp(sllmp_json_str(chunk, "object"), "chat.completion.chunk") == 0);
    fuzz_check(sllmp_json_str(chunk, "id") != NULL && *sllmp_json_str(chunk, "id") != '\0');
    fuzz_check(sllmp_json_str(chunk, "model") != NULL &&
               strcmp(sllmp_json_str(chunk, "model"), MODEL) == 0);
    fuzz_check(fuzz_num(chunk, "created") == (double)CREATED);
    fuzz_check(cJSON_IsArray(choices));
    if (cJSON_GetArraySize(choices) == 0) {
        fuzz_check(st->chunks > 1);
        check_usage_chunk(st, chunk);
    } else {
        const cJSON *ch = cJSON_GetArrayItem(choices, 0);
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
        double index = fuzz_num(ch, "index");
        int i = (int)index;

        fuzz_check(cJSON_GetArraySize(choices) == 1);
        fuzz_check(st->usages == 0);
        fuzz_check(index == (double)i && i >= 0 && i < SLLMP_XSTREAM_CHOICES);
        fuzz_check(i == 0 || st->provider == 1); /* only Gemini has candidates */
        check_logprobs(ch);
        fuzz_check(cJSON_IsNull(fr) || cJSON_IsString(fr));
        if (cJSON_IsString(fr)) {
            fuzz_check(++st->finishes[i] == 1);
            fuzz_check(*fr->valuestring != '\0');
        }
        check_delta(st, i, cJSON_GetObjectItemCaseSensitive(ch, "delta"), cJSON_IsString(fr));
    }
    if (st->chunks == st->stop_at) {
        st->stopped = 1;
        return STOP;
    }
    return 0;
}

static void
check_buckets(const sllmp_usage_t *u)
{
    fuzz_check(u->input >= 0 && u->cache_read >= 0 && u->cache_write >= 0);
    fuzz_check(u->output >= 0 && u->reasoning >= 0);
}

/* One event's return: 0, -1 (an error, nothing emitted for it), or STOP once emit stopped. */
static void
check_rc(state_t *st, const sllmp_xstream_t *x, int rc)
{
    if (rc == -1) {
        fuzz_check(st->in_call == 0);
        fuzz_check(x->err_status >= 400 && x->err_status < 600);
        fuzz_check(x->err_type[0] != '\0' && x->err_message[0] != '\0');
    } else if (st->stopped) {
        fuzz_check(rc == STOP);
    } else {
        fuzz_check(rc == 0);
    }
    check_buckets(&x->usage);
}

static int
event(int provider, sllmp_xstream_t *x, const char *name, const cJSON *json)
{
    switch (provider) {
    case 0:
        return sllmp_anthropic_stream_event(x, name, json);
    case 1:
        return sllmp_gemini_stream_event(x, json);
    case 2:
        return sllmp_bedrock_stream_event(x, name, json);
    default: {
        /* the Responses API's events, named or typed (chat through /v1/responses) */
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(json, "type");

        return sllmp_responses_chat_event(x,
                                          *name != '\0'          ? name
                                          : cJSON_IsString(type) ? type->valuestring
                                                                 : "",
                                          json);
    }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sllmp_xstream_t x;
    state_t st;
    int provider, force_finish, rc = 0;
    char *text, *line, *next;

    if (size < 2) {
        return 0;
    }
    fuzz_quiet();
    provider = data[0] >= 0xf0 ? 3 : data[0] % 3; /* the seeds of 0..2 kept their meaning */
    force_finish = data[0] / 3 % 2;
    memset(&st, 0, sizeof(st));
    st.stop_at = data[1];
    st.provider = provider;
    st.x = &x;
    /* as sllmp_provider_xstream_init() */
    memset(&x, 0, sizeof(x));
    x.emit = emit;
    x.ud = &st;
    x.model = MODEL;
    x.created = CREATED;
    x.id = "chatcmpl-fuzz";
    x.json_mode = data[0] / 6 % 2; /* Bedrock's response_format */
    text = fuzz_str(data + 2, size - 2);
    for (line = text; line != NULL && rc == 0; line = next) {
        char *tab, *json_text = line;
        const char *name = "";
        cJSON *json;

        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (provider != 1 && (tab = strchr(line, '\t')) != NULL) {
            *tab = '\0';
            name = line;
            json_text = tab + 1;
        }
        if ((json = cJSON_Parse(json_text)) == NULL) {
            continue;
        }
        st.in_call = 0;
        rc = event(provider, &x, name, json);
        cJSON_Delete(json);
        check_rc(&st, &x, rc);
    }
    if (rc == 0 && (x.ended || force_finish)) {
        /* the end of the stream, as sllmp_provider_xstream_end() */
        st.in_call = 0;
        rc = sllmp_xstream_finish(&x);
        check_rc(&st, &x, rc);
        fuzz_check(rc != -1);
        if (rc == 0) {
            fuzz_check(all_finished(&st) && st.usages == 1);
        }
    }
    sllmp_xstream_free(&x);
    free(text);
    return 0;
}
