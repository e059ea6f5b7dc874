/*
 * Anthropic Messages <-> OpenAI chat translation (src/providers/anthropic_xlate.c): golden tests
 * from the examples of protocols.md §2, compared structurally (cJSON_Compare), so key order does
 * not matter and an extra or missing field does.
 *
 * JSON in this file is written with single quotes, turned into double quotes before parsing
 * (sq()); \' stands for an escaped quote inside a JSON string.
 */
#include "sllmp/sse.h"
#include "sllmp/translate.h"
#include "sllmp/usage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_helpers.h"

#define MODEL "claude-test"

/* ---- helpers ---------------------------------------------------------------------------- */

/* The request translated, checking on the way that the input is left as it was. */
static cJSON *
xlate(const char *req, sllmp_xerr_t *e)
{
    cJSON *in = parse_sq(req), *copy = cJSON_Duplicate(in, 1), *out;

    memset(e, 0x5a, sizeof(*e)); /* garbage: the translator must clear it */
    out = sllmp_anthropic_request(in, MODEL, e);
    assert_true(cJSON_Compare(in, copy, 1));
    cJSON_Delete(in);
    cJSON_Delete(copy);
    return out;
}

/* The request must translate to exactly `want`. */
static void
assert_request(const char *req, const char *want)
{
    sllmp_xerr_t e;
    cJSON *out = xlate(req, &e);

    if (out == NULL) {
        fail_msg("translation failed: %s (param %s)", e.message, e.param);
    }
    assert_json(out, want);
    cJSON_Delete(out);
}

/* The request must be refused with `param`; returns nothing, checks the message names it. */
static void
assert_refused(const char *req, const char *param)
{
    sllmp_xerr_t e;
    cJSON *out = xlate(req, &e);

    if (out != NULL) {
        char *s = cJSON_PrintUnformatted(out);

        print_error("translated: %s\n", s);
        free(s);
        cJSON_Delete(out);
        fail_msg("expected a refusal on %s", param);
    }
    assert_string_equal(e.param, param);
    assert_true(strlen(e.message) > 0);
    assert_true(memchr(e.message, '\0', sizeof(e.message)) != NULL);
    assert_non_null(strstr(e.message, param));
}

/* ---- streams: the real SSE parser feeds the translator, chunks are collected ---------------- */

typedef struct {
    sllmp_xstream_t x;
    cJSON *chunks;
    int rc;        /* the first non-zero translator return */
    int stop_at;   /* > 0: emit returns 7 on that chunk (1-based) */
    int events;    /* events fed */
    int after_err; /* events that came after the translator said stop */
} feed_t;

static int
collect(void *ud, const cJSON *chunk)
{
    feed_t *f = ud;

    cJSON_AddItemToArray(f->chunks, cJSON_Duplicate(chunk, 1));
    if (f->stop_at > 0 && cJSON_GetArraySize(f->chunks) == f->stop_at) {
        return 7;
    }
    return 0;
}

static int
on_event(void *ud, const char *event, size_t elen, const char *data, size_t dlen)
{
    feed_t *f = ud;
    cJSON *j = cJSON_ParseWithLength(data, dlen);
    int rc;

    (void)elen;
    assert_non_null(j);
    f->events++;
    if (f->rc != 0) {
        f->after_err++;
        cJSON_Delete(j);
        return 0;
    }
    rc = sllmp_anthropic_stream_event(&f->x, event, j);
    cJSON_Delete(j);
    if (rc != 0) {
        f->rc = rc;
    }
    return 0;
}

static void
feed_init(feed_t *f)
{
    memset(f, 0, sizeof(*f));
    f->chunks = cJSON_CreateArray();
    f->x.emit = collect;
    f->x.ud = f;
    f->x.model = "client-model";
    f->x.created = 1741569952;
    f->x.id = "chatcmpl-fallback";
}

/* Feeds an SSE text (single-quoted JSON) in pieces of 7 bytes, as from a socket. */
static void
feed(feed_t *f, const char *sse_sq)
{
    char *text = sq(sse_sq);
    size_t n = strlen(text), off;
    sllmp_sse_t p;

    sllmp_sse_init(&p, 1 << 20, on_event, f);
    for (off = 0; off < n; off += 7) {
        assert_int_equal(sllmp_sse_feed(&p, text + off, n - off < 7 ? n - off : 7), 0);
    }
    sllmp_sse_free(&p);
    free(text);
}

static void
feed_free(feed_t *f)
{
    sllmp_xstream_free(&f->x);
    cJSON_Delete(f->chunks);
}

/* Chunk i's choices[0].delta must be `delta`, and its finish_reason `finish` (NULL: null). */
static void
assert_delta(const feed_t *f, int i, const char *delta, const char *finish)
{
    const cJSON *c = cJSON_GetArrayItem(f->chunks, i);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0);
    const cJSON *fr = cJSON_GetObjectItem(ch, "finish_reason");

    if (ch == NULL) {
        fail_msg("chunk %d has no choice", i);
    }
    assert_json(cJSON_GetObjectItem(ch, "delta"), delta);
    if (finish == NULL) {
        assert_true(cJSON_IsNull(fr));
    } else {
        assert_true(cJSON_IsString(fr));
        assert_string_equal(fr->valuestring, finish);
    }
}

/* The usage chunk (which must be the last) -> buckets, through the OpenAI reader. */
static sllmp_usage_t
usage_of_last(const feed_t *f)
{
    const cJSON *c = cJSON_GetArrayItem(f->chunks, cJSON_GetArraySize(f->chunks) - 1);
    sllmp_usage_t u;

    memset(&u, 0, sizeof(u));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c, "choices")), 0);
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(c, "usage")));
    sllmp_usage_from_openai(&u, cJSON_GetObjectItem(c, "usage"));
    return u;
}

/* The usual opening of a stream: message msg_1, 25 input tokens. */
#define MESSAGE_START                                                                              \
    "event: message_start\n"                                                                       \
    "data: {'type':'message_start','message':{'id':'msg_1','type':'message','role':'assistant',"   \
    "'model':'claude-x','content':[],'stop_reason':null,'stop_sequence':null,"                     \
    "'usage':{'input_tokens':25,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"      \
    "'output_tokens':1}}}\n\n"

/* ---- responses ---------------------------------------------------------------------------- */

static void
test_response_golden(void **state)
{
    /* protocols.md §2.3, verbatim */
    cJSON *msg = parse_sq(
        "{'id':'msg_01','type':'message','role':'assistant','model':'claude-x',"
        " 'content':[{'type':'text','text':'Hi','citations':null},"
        "            "
        "{'type':'tool_use','id':'toolu_01','name':'get_weather','input':{'city':'Paris'}}],"
        " 'stop_reason':'tool_use','stop_sequence':null,'stop_details':null,"
        " 'usage':{'input_tokens':25,'output_tokens':40,"
        "          'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
        "          'cache_creation':{'ephemeral_5m_input_tokens':0,'ephemeral_1h_input_tokens':0},"
        "          'service_tier':'standard','server_tool_use':null,'output_tokens_details':null,"
        "          'inference_geo':null}}");
    sllmp_usage_t u;
    cJSON *out = sllmp_anthropic_response(msg, "my-model", 1741569952, &u);

    (void)state;
    assert_json(out, "{'id':'msg_01','object':'chat.completion','created':1741569952,"
                     "'model':'my-model','choices':[{'index':0,'message':{'role':'assistant',"
                     "'content':'Hi','refusal':null,'tool_calls':[{'id':'toolu_01','type':"
                     "'function','function':{'name':'get_weather','arguments':"
                     "'{\\'city\\':\\'Paris\\'}'}}]},'logprobs':null,'finish_reason':"
                     "'tool_calls'}],'usage':{'prompt_tokens':25,'completion_tokens':40,"
                     "'total_tokens':65,'prompt_tokens_details':{'cached_tokens':0},"
                     "'completion_tokens_details':{'reasoning_tokens':0}}}");
    assert_int_equal(u.input, 25);
    assert_int_equal(u.output, 40);
    assert_int_equal(u.cache_read + u.cache_write + u.reasoning, 0);
    assert_true(u.seen);
    cJSON_Delete(out);
    cJSON_Delete(msg);
}

static void
test_response_thinking_cache_and_no_text(void **state)
{
    cJSON *msg = parse_sq(
        "{'id':'msg_02','type':'message','role':'assistant','model':'claude-x',"
        " 'content':[{'type':'thinking','thinking':'Let me see.','signature':'sig=='},"
        "            {'type':'server_tool_use','id':'srvtoolu_1','name':'web_search','input':{}},"
        "            {'type':'tool_use','id':'toolu_02','name':'get_time','input':{}}],"
        " 'stop_reason':'max_tokens','stop_sequence':null,"
        " 'usage':{'input_tokens':10,'output_tokens':7,'cache_creation_input_tokens':100,"
        "          'cache_read_input_tokens':200}}");
    sllmp_usage_t u;
    cJSON *out = sllmp_anthropic_response(msg, "m", 5, &u);

    (void)state;
    assert_json(out, "{'id':'msg_02','object':'chat.completion','created':5,'model':'m',"
                     "'choices':[{'index':0,'message':{'role':'assistant','content':null,"
                     "'refusal':null,'reasoning_content':'Let me see.','thinking_blocks':"
                     "[{'type':'thinking','thinking':'Let me see.','signature':'sig=='}],"
                     "'tool_calls':[{'id':'toolu_02','type':'function','function':{'name':"
                     "'get_time','arguments':'{}'}}]},'logprobs':null,'finish_reason':'length'}],"
                     "'usage':{'prompt_tokens':310,'completion_tokens':7,'total_tokens':317,"
                     "'prompt_tokens_details':{'cached_tokens':200,'cache_write_tokens':100},"
                     "'completion_tokens_details':{'reasoning_tokens':0}}}");
    assert_int_equal(u.input, 10);
    assert_int_equal(u.cache_read, 200);
    assert_int_equal(u.cache_write, 100);
    assert_int_equal(u.output, 7);
    cJSON_Delete(out);
    cJSON_Delete(msg);

    /* not a Message */
    msg = parse_sq("{'type':'error','error':{'type':'api_error','message':'x'}}");
    assert_null(sllmp_anthropic_response(msg, "m", 5, &u));
    cJSON_Delete(msg);
    msg = parse_sq("{'type':'message','content':'not a list'}");
    assert_null(sllmp_anthropic_response(msg, "m", 5, &u));
    cJSON_Delete(msg);
}

static void
test_finish_reasons(void **state)
{
    (void)state;
    assert_string_equal(sllmp_anthropic_finish("end_turn"), "stop");
    assert_string_equal(sllmp_anthropic_finish("stop_sequence"), "stop");
    assert_string_equal(sllmp_anthropic_finish("max_tokens"), "length");
    assert_string_equal(sllmp_anthropic_finish("model_context_window_exceeded"), "length");
    assert_string_equal(sllmp_anthropic_finish("tool_use"), "tool_calls");
    assert_string_equal(sllmp_anthropic_finish("refusal"), "content_filter");
    assert_string_equal(sllmp_anthropic_finish("pause_turn"), "stop");
    assert_string_equal(sllmp_anthropic_finish("something_new"), "stop");
    assert_string_equal(sllmp_anthropic_finish(NULL), "stop");
}

static void
test_usage_merge_present_fields_replace(void **state)
{
    sllmp_usage_t u = {1, 2, 3, 4, 99, 0, 1};
    cJSON *j = parse_sq("{'output_tokens':15,'cache_read_input_tokens':null}");

    (void)state;
    sllmp_anthropic_usage_merge(&u, j);
    assert_int_equal(u.input, 1);
    assert_int_equal(u.cache_read, 2); /* null is absent */
    assert_int_equal(u.cache_write, 3);
    assert_int_equal(u.output, 15);
    assert_int_equal(u.reasoning, 0);
    assert_true(u.seen);
    assert_false(u.estimated);
    cJSON_Delete(j);
}

/* ---- streams ------------------------------------------------------------------------------ */

static void
test_stream_full_text(void **state)
{
    feed_t f;
    sllmp_usage_t u;

    (void)state;
    feed_init(&f);
    feed(&f, MESSAGE_START "event: content_block_start\n"
                           "data: {'type':'content_block_start','index':0,"
                           "'content_block':{'type':'text','text':''}}\n\n"
                           "event: ping\ndata: {'type':'ping'}\n\n"
                           "event: content_block_delta\n"
                           "data: {'type':'content_block_delta','index':0,"
                           "'delta':{'type':'text_delta','text':'Hello'}}\n\n"
                           "event: content_block_delta\r\n"
                           "data: {'type':'content_block_delta','index':0,"
                           "'delta':{'type':'text_delta','text':' world'}}\r\n\r\n"
                           "event: content_block_stop\n"
                           "data: {'type':'content_block_stop','index':0}\n\n"
                           "event: message_delta\n"
                           "data: {'type':'message_delta','delta':{'stop_reason':'end_turn',"
                           "'stop_sequence':null},'usage':{'output_tokens':15}}\n\n"
                           "event: brand_new_event\ndata: {'type':'brand_new_event'}\n\n"
                           "event: message_stop\ndata: {'type':'message_stop'}\n\n");
    assert_int_equal(f.rc, 0);
    assert_int_equal(f.events, 9);
    assert_int_equal(cJSON_GetArraySize(f.chunks), 5);
    /* the whole first chunk, then the deltas */
    assert_json(cJSON_GetArrayItem(f.chunks, 0),
                "{'id':'msg_1','object':'chat.completion.chunk','created':1741569952,"
                "'model':'client-model','choices':[{'index':0,'delta':{'role':'assistant',"
                "'content':''},'logprobs':null,'finish_reason':null}]}");
    assert_delta(&f, 1, "{'content':'Hello'}", NULL);
    assert_delta(&f, 2, "{'content':' world'}", NULL);
    assert_delta(&f, 3, "{}", "stop");
    assert_json(cJSON_GetArrayItem(f.chunks, 4),
                "{'id':'msg_1','object':'chat.completion.chunk','created':1741569952,"
                "'model':'client-model','choices':[],'usage':{'prompt_tokens':25,"
                "'completion_tokens':15,'total_tokens':40,'prompt_tokens_details':"
                "{'cached_tokens':0},'completion_tokens_details':{'reasoning_tokens':0}}}");
    assert_true(f.x.ended);
    u = usage_of_last(&f);
    assert_int_equal(u.input, 25);
    assert_int_equal(u.output, 15);
    feed_free(&f);
}

static void
test_stream_tool_fragment(void **state)
{
    /* protocols.md §2.4's fragment, verbatim: the tool is block 1 but the first call, index 0 */
    feed_t f;
    cJSON *args;

    (void)state;
    feed_init(&f);
    feed(&f, "event: content_block_start\n"
             "data: {'type':'content_block_start','index':1,'content_block':{'type':'tool_use',"
             "'id':'toolu_01','name':'get_weather','input':{}}}\n\n"
             "event: content_block_delta\n"
             "data: {'type':'content_block_delta','index':1,'delta':{'type':'input_json_delta',"
             "'partial_json':'{\\'city\\': \\'Pa'}}\n\n"
             "event: content_block_delta\n"
             "data: {'type':'content_block_delta','index':1,'delta':{'type':'input_json_delta',"
             "'partial_json':'ris\\'}'}}\n\n"
             "event: content_block_stop\n"
             "data: {'type':'content_block_stop','index':1}\n\n"
             "event: message_delta\n"
             "data: {'type':'message_delta','delta':{'stop_reason':'tool_use','stop_sequence':"
             "null},'usage':{'output_tokens':41}}\n\n");
    assert_int_equal(f.rc, 0);
    assert_int_equal(cJSON_GetArraySize(f.chunks), 5);
    /* no message_start: the role chunk still comes first, with the fallback id */
    assert_delta(&f, 0, "{'role':'assistant','content':''}", NULL);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(f.chunks, 0), "id")->valuestring,
                        "chatcmpl-fallback");
    assert_delta(&f, 1,
                 "{'tool_calls':[{'index':0,'id':'toolu_01','type':'function','function':"
                 "{'name':'get_weather','arguments':''}}]}",
                 NULL);
    assert_delta(
        &f, 2, "{'tool_calls':[{'index':0,'function':{'arguments':'{\\'city\\': \\'Pa'}}]}", NULL);
    assert_delta(&f, 3, "{'tool_calls':[{'index':0,'function':{'arguments':'ris\\'}'}}]}", NULL);
    assert_delta(&f, 4, "{}", "tool_calls");
    /* the fragments join into the arguments */
    args = parse_sq("{'city': 'Paris'}");
    {
        char joined[64];
        cJSON *j;

        snprintf(joined, sizeof(joined), "%s%s", "{\"city\": \"Pa", "ris\"}");
        j = cJSON_Parse(joined);
        assert_true(cJSON_Compare(j, args, 1));
        cJSON_Delete(j);
    }
    cJSON_Delete(args);
    assert_int_equal(f.x.usage.output, 41);
    assert_false(f.x.ended);
    feed_free(&f);
}

static void
test_stream_two_tools_openai_indices(void **state)
{
    feed_t f;
    int i;

    (void)state;
    feed_init(&f);
    feed(&f, MESSAGE_START
         "event: content_block_start\n"
         "data: "
         "{'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}\n\n"
         "event: content_block_delta\n"
         "data: "
         "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'Checking.'}}"
         "\n\n"
         "event: content_block_stop\ndata: {'type':'content_block_stop','index':0}\n\n"
         "event: content_block_start\n"
         "data: {'type':'content_block_start','index':1,'content_block':{'type':'tool_use',"
         "'id':'toolu_a','name':'get_weather','input':{}}}\n\n"
         "event: content_block_delta\n"
         "data: {'type':'content_block_delta','index':1,'delta':{'type':'input_json_delta',"
         "'partial_json':''}}\n\n"
         "event: content_block_delta\n"
         "data: {'type':'content_block_delta','index':1,'delta':{'type':'input_json_delta',"
         "'partial_json':'{\\'city\\':\\'Paris\\'}'}}\n\n"
         "event: content_block_stop\ndata: {'type':'content_block_stop','index':1}\n\n"
         "event: content_block_start\n"
         "data: {'type':'content_block_start','index':2,'content_block':{'type':'tool_use',"
         "'id':'toolu_b','name':'get_time','input':{}}}\n\n"
         "event: content_block_stop\ndata: {'type':'content_block_stop','index':2}\n\n"
         "event: message_delta\n"
         "data: {'type':'message_delta','delta':{'stop_reason':'tool_use','stop_sequence':null},"
         "'usage':{'output_tokens':60}}\n\n"
         "event: message_stop\ndata: {'type':'message_stop'}\n\n");
    assert_int_equal(f.rc, 0);
    assert_int_equal(cJSON_GetArraySize(f.chunks), 8);
    assert_delta(&f, 0, "{'role':'assistant','content':''}", NULL);
    assert_delta(&f, 1, "{'content':'Checking.'}", NULL);
    assert_delta(&f, 2,
                 "{'tool_calls':[{'index':0,'id':'toolu_a','type':'function','function':"
                 "{'name':'get_weather','arguments':''}}]}",
                 NULL);
    assert_delta(&f, 3,
                 "{'tool_calls':[{'index':0,'function':{'arguments':"
                 "'{\\'city\\':\\'Paris\\'}'}}]}",
                 NULL);
    assert_delta(&f, 4,
                 "{'tool_calls':[{'index':1,'id':'toolu_b','type':'function','function':"
                 "{'name':'get_time','arguments':''}}]}",
                 NULL);
    /* no input_json_delta at all: the arguments are {} */
    assert_delta(&f, 5, "{'tool_calls':[{'index':1,'function':{'arguments':'{}'}}]}", NULL);
    assert_delta(&f, 6, "{}", "tool_calls");
    for (i = 0; i < 8; i++) {
        const cJSON *c = cJSON_GetArrayItem(f.chunks, i);

        assert_string_equal(cJSON_GetObjectItem(c, "id")->valuestring, "msg_1");
        assert_string_equal(cJSON_GetObjectItem(c, "model")->valuestring, "client-model");
    }
    assert_int_equal(usage_of_last(&f).output, 60);
    feed_free(&f);
}

static void
test_stream_argless_tool(void **state)
{
    /* only an empty input_json_delta, which is no argument text either */
    feed_t f;

    (void)state;
    feed_init(&f);
    feed(&f, MESSAGE_START "event: content_block_start\n"
                           "data: {'type':'content_block_start','index':0,'content_block':"
                           "{'type':'tool_use','id':'toolu_c','name':'now','input':{}}}\n\n"
                           "event: content_block_delta\n"
                           "data: {'type':'content_block_delta','index':0,'delta':"
                           "{'type':'input_json_delta','partial_json':''}}\n\n"
                           "event: content_block_stop\n"
                           "data: {'type':'content_block_stop','index':0}\n\n");
    assert_int_equal(f.rc, 0);
    assert_int_equal(cJSON_GetArraySize(f.chunks), 3);
    assert_delta(&f, 1,
                 "{'tool_calls':[{'index':0,'id':'toolu_c','type':'function','function':"
                 "{'name':'now','arguments':''}}]}",
                 NULL);
    assert_delta(&f, 2, "{'tool_calls':[{'index':0,'function':{'arguments':'{}'}}]}", NULL);
    feed_free(&f);
}

/* The arguments of tool call `index` joined from every fragment, as a client joins them. */
static char *
joined_args(const feed_t *f, int index)
{
    sllmp_buf_t args;
    const cJSON *c, *call, *v;
    char *out;

    sllmp_buf_init(&args, 0);
    cJSON_ArrayForEach(c, f->chunks)
    {
        const cJSON *delta =
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0), "delta");

        cJSON_ArrayForEach(call, cJSON_GetObjectItem(delta, "tool_calls"))
        {
            v = cJSON_GetObjectItem(cJSON_GetObjectItem(call, "function"), "arguments");
            if (cJSON_GetObjectItem(call, "index")->valueint == index && cJSON_IsString(v)) {
                sllmp_buf_appends(&args, v->valuestring);
            }
        }
    }
    out = strdup(sllmp_buf_cstr(&args));
    sllmp_buf_free(&args);
    return out;
}

/* A tool_use block at provider index `block`, with arguments or without, to its stop. */
static void
feed_tool_block(feed_t *f, long block, int with_args)
{
    sllmp_buf_t sse;

    sllmp_buf_init(&sse, 0);
    sllmp_buf_printf(&sse,
                     MESSAGE_START "event: content_block_start\n"
                                   "data: {'type':'content_block_start','index':%ld,"
                                   "'content_block':{'type':'tool_use','id':'toolu_1','name':'f',"
                                   "'input':{}}}\n\n",
                     block);
    if (with_args) {
        sllmp_buf_printf(&sse,
                         "event: content_block_delta\n"
                         "data: {'type':'content_block_delta','index':%ld,'delta':"
                         "{'type':'input_json_delta','partial_json':'{\\'q\\':1}'}}\n\n",
                         block);
    }
    sllmp_buf_printf(&sse,
                     "event: content_block_stop\n"
                     "data: {'type':'content_block_stop','index':%ld}\n\n"
                     "event: message_delta\n"
                     "data: {'type':'message_delta','delta':{'stop_reason':'tool_use',"
                     "'stop_sequence':null},'usage':{'output_tokens':9}}\n\n"
                     "event: message_stop\ndata: {'type':'message_stop'}\n\n",
                     block);
    feed(f, sllmp_buf_cstr(&sse));
    sllmp_buf_free(&sse);
}

/* Web search citations and interleaved thinking take Anthropic past 128 content blocks: a tool
 * block there gets its arguments as any other, whatever its index. */
static void
test_stream_tool_block_index_unbounded(void **state)
{
    static const long blocks[] = {0, 1, 127, 128, 129, 1000, 2147483647};
    feed_t f;
    char *args;

    (void)state;
    for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
        feed_init(&f);
        feed_tool_block(&f, blocks[i], 1);
        assert_int_equal(f.rc, 0);
        args = joined_args(&f, 0);
        if (strcmp(args, "{\"q\":1}") != 0) {
            fail_msg("block %ld: arguments '%s'", blocks[i], args);
        }
        free(args);
        feed_free(&f);

        /* no input_json_delta at all: "{}" at the block's stop */
        feed_init(&f);
        feed_tool_block(&f, blocks[i], 0);
        assert_int_equal(f.rc, 0);
        args = joined_args(&f, 0);
        if (strcmp(args, "{}") != 0) {
            fail_msg("block %ld without input: arguments '%s'", blocks[i], args);
        }
        free(args);
        feed_free(&f);
    }
}

static void
test_stream_error_after_text(void **state)
{
    feed_t f;

    (void)state;
    feed_init(&f);
    feed(&f, MESSAGE_START "event: content_block_start\n"
                           "data: {'type':'content_block_start','index':0,"
                           "'content_block':{'type':'text','text':''}}\n\n"
                           "event: content_block_delta\n"
                           "data: {'type':'content_block_delta','index':0,"
                           "'delta':{'type':'text_delta','text':'Hel'}}\n\n"
                           "event: error\n"
                           "data: {'type':'error','error':{'type':'overloaded_error',"
                           "'message':'Overloaded'}}\n\n");
    assert_int_equal(f.rc, -1);
    assert_int_equal(f.x.err_status, 503);
    assert_string_equal(f.x.err_type, "overloaded_error");
    assert_string_equal(f.x.err_message, "Overloaded");
    /* the role and the text, nothing for the error: no finish, no usage */
    assert_int_equal(cJSON_GetArraySize(f.chunks), 2);
    assert_delta(&f, 1, "{'content':'Hel'}", NULL);
    assert_false(f.x.finish_sent);
    assert_false(f.x.usage_sent);
    feed_free(&f);
}

static void
test_stream_error_statuses(void **state)
{
    static const struct {
        const char *type;
        int status;
    } cases[] = {
        {"overloaded_error", 503},      {"rate_limit_error", 429},     {"api_error", 500},
        {"invalid_request_error", 400}, {"authentication_error", 401}, {"permission_error", 403},
        {"not_found_error", 404},       {"request_too_large", 413},    {"timeout_error", 504},
        {"billing_error", 402},         {"something_else", 500},
    };
    size_t k;

    (void)state;
    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char text[256];
        feed_t f;

        /* no event name: the type inside data says it is an error */
        snprintf(text, sizeof(text),
                 "data: {'type':'error','error':{'type':'%s','message':'m'}}\n\n", cases[k].type);
        feed_init(&f);
        feed(&f, text);
        assert_int_equal(f.rc, -1);
        assert_int_equal(f.x.err_status, cases[k].status);
        assert_string_equal(f.x.err_type, cases[k].type);
        assert_int_equal(cJSON_GetArraySize(f.chunks), 0);
        feed_free(&f);
    }
}

static void
test_stream_cumulative_usage_last_wins(void **state)
{
    feed_t f;
    sllmp_usage_t u;

    (void)state;
    feed_init(&f);
    /* two message_delta (server tools): counts are totals so far, not increments */
    feed(&f, MESSAGE_START "event: message_delta\n"
                           "data: {'type':'message_delta','delta':{'stop_reason':null},"
                           "'usage':{'output_tokens':5}}\n\n"
                           "event: message_delta\n"
                           "data: {'type':'message_delta','delta':{'stop_reason':'end_turn'},"
                           "'usage':{'output_tokens':12,'input_tokens':30}}\n\n"
                           "event: message_stop\ndata: {'type':'message_stop'}\n\n");
    assert_int_equal(f.rc, 0);
    u = usage_of_last(&f);
    assert_int_equal(u.output, 12);
    assert_int_equal(u.input, 30);
    assert_int_equal(f.x.usage.output, 12);
    /* role, finish, usage */
    assert_int_equal(cJSON_GetArraySize(f.chunks), 3);
    assert_delta(&f, 1, "{}", "stop");
    feed_free(&f);
}

static void
test_stream_usage_round_trip_with_cache(void **state)
{
    feed_t f;
    sllmp_usage_t u;
    const cJSON *usage;

    (void)state;
    feed_init(&f);
    feed(&f, "event: message_start\n"
             "data: {'type':'message_start','message':{'id':'msg_c','type':'message',"
             "'role':'assistant','content':[],'stop_reason':null,'usage':{'input_tokens':100,"
             "'cache_creation_input_tokens':500,'cache_read_input_tokens':2000,"
             "'output_tokens':1}}}\n\n"
             "event: message_delta\n"
             "data: {'type':'message_delta','delta':{'stop_reason':'max_tokens'},"
             "'usage':{'output_tokens':200}}\n\n"
             "event: message_stop\ndata: {'type':'message_stop'}\n\n");
    assert_int_equal(f.rc, 0);
    usage = cJSON_GetObjectItem(cJSON_GetArrayItem(f.chunks, 2), "usage");
    assert_json(usage, "{'prompt_tokens':2600,'completion_tokens':200,'total_tokens':2800,"
                       "'prompt_tokens_details':{'cached_tokens':2000,'cache_write_tokens':500},"
                       "'completion_tokens_details':{'reasoning_tokens':0}}");
    u = usage_of_last(&f);
    assert_int_equal(u.input, 100);
    assert_int_equal(u.cache_read, 2000);
    assert_int_equal(u.cache_write, 500);
    assert_int_equal(u.output, 200);
    assert_int_equal(u.reasoning, 0);
    assert_int_equal(u.input, f.x.usage.input);
    assert_int_equal(u.cache_read, f.x.usage.cache_read);
    assert_int_equal(u.cache_write, f.x.usage.cache_write);
    assert_int_equal(u.output, f.x.usage.output);
    assert_delta(&f, 1, "{}", "length");
    feed_free(&f);
}

static void
test_stream_emit_stop_and_after_stop(void **state)
{
    feed_t f;
    cJSON *j;

    (void)state;
    feed_init(&f);
    f.stop_at = 2; /* the client left at the first text chunk */
    feed(&f, MESSAGE_START "event: content_block_delta\n"
                           "data: {'type':'content_block_delta','index':0,"
                           "'delta':{'type':'text_delta','text':'a'}}\n\n"
                           "event: content_block_delta\n"
                           "data: {'type':'content_block_delta','index':0,"
                           "'delta':{'type':'text_delta','text':'b'}}\n\n");
    assert_int_equal(f.rc, 7);
    assert_int_equal(f.after_err, 1);
    feed_free(&f);

    /* after message_stop, nothing more is sent */
    feed_init(&f);
    feed(&f, MESSAGE_START "event: message_stop\ndata: {'type':'message_stop'}\n\n");
    assert_int_equal(cJSON_GetArraySize(f.chunks), 3);
    j = parse_sq("{'type':'content_block_delta','index':0,'delta':{'type':'text_delta',"
                 "'text':'late'}}");
    assert_int_equal(sllmp_anthropic_stream_event(&f.x, "content_block_delta", j), 0);
    assert_int_equal(cJSON_GetArraySize(f.chunks), 3);
    cJSON_Delete(j);
    feed_free(&f);
}

/* A thinking block as protocols.md §2.4 streams it (start with thinking "", thinking_delta...,
 * signature_delta just before the stop), then a text block. */
#define THINKING_THEN_TEXT                                                                         \
    "event: content_block_start\n"                                                                 \
    "data: {'type':'content_block_start','index':0,'content_block':{'type':'thinking',"            \
    "'thinking':''}}\n\n"                                                                          \
    "event: content_block_delta\n"                                                                 \
    "data: {'type':'content_block_delta','index':0,'delta':{'type':'thinking_delta',"              \
    "'thinking':'Let me '}}\n\n"                                                                   \
    "event: ping\ndata: {'type':'ping'}\n\n"                                                       \
    "event: content_block_delta\n"                                                                 \
    "data: {'type':'content_block_delta','index':0,'delta':{'type':'thinking_delta',"              \
    "'thinking':'think.'}}\n\n"                                                                    \
    "event: content_block_delta\n"                                                                 \
    "data: {'type':'content_block_delta','index':0,'delta':{'type':'signature_delta',"             \
    "'signature':'EqQBCkYsig=='}}\n\n"                                                             \
    "event: content_block_stop\n"                                                                  \
    "data: {'type':'content_block_stop','index':0}\n\n"                                            \
    "event: content_block_start\n"                                                                 \
    "data: {'type':'content_block_start','index':1,'content_block':{'type':'text','text':''}}\n\n" \
    "event: content_block_delta\n"                                                                 \
    "data: {'type':'content_block_delta','index':1,'delta':{'type':'text_delta','text':'Hi'}}\n\n" \
    "event: content_block_stop\n"                                                                  \
    "data: {'type':'content_block_stop','index':1}\n\n"                                            \
    "event: message_delta\n"                                                                       \
    "data: {'type':'message_delta','delta':{'stop_reason':'end_turn','stop_sequence':null},"       \
    "'usage':{'output_tokens':30}}\n\n"                                                            \
    "event: message_stop\ndata: {'type':'message_stop'}\n\n"

static void
test_stream_thinking_then_text(void **state)
{
    feed_t f;
    sllmp_usage_t u;

    (void)state;
    feed_init(&f);
    feed(&f, MESSAGE_START THINKING_THEN_TEXT);
    assert_int_equal(f.rc, 0);
    /* role, two reasoning deltas, the signed block, the text, finish, usage */
    assert_int_equal(cJSON_GetArraySize(f.chunks), 7);
    assert_delta(&f, 0, "{'role':'assistant','content':''}", NULL);
    assert_json(cJSON_GetArrayItem(f.chunks, 1),
                "{'id':'msg_1','object':'chat.completion.chunk','created':1741569952,"
                "'model':'client-model','choices':[{'index':0,'delta':{'reasoning_content':"
                "'Let me '},'logprobs':null,'finish_reason':null}]}");
    assert_delta(&f, 2, "{'reasoning_content':'think.'}", NULL);
    /* the block once, whole and signed, as the unstreamed answer's thinking_blocks has it */
    assert_json(cJSON_GetArrayItem(f.chunks, 3),
                "{'id':'msg_1','object':'chat.completion.chunk','created':1741569952,"
                "'model':'client-model','choices':[{'index':0,'delta':{'thinking_blocks':"
                "[{'type':'thinking','thinking':'Let me think.','signature':'EqQBCkYsig==',"
                "'index':0}]},"
                "'logprobs':null,'finish_reason':null}]}");
    assert_delta(&f, 4, "{'content':'Hi'}", NULL);
    assert_delta(&f, 5, "{}", "stop");
    /* the usage is Anthropic's, thinking or not (its output_tokens include the thinking) */
    assert_json(cJSON_GetArrayItem(f.chunks, 6),
                "{'id':'msg_1','object':'chat.completion.chunk','created':1741569952,"
                "'model':'client-model','choices':[],'usage':{'prompt_tokens':25,"
                "'completion_tokens':30,'total_tokens':55,'prompt_tokens_details':"
                "{'cached_tokens':0},'completion_tokens_details':{'reasoning_tokens':0}}}");
    u = usage_of_last(&f);
    assert_int_equal(u.output, 30);
    assert_int_equal(u.reasoning, 0);
    /* reasoning is not content: the estimate's character count is the answer's alone */
    assert_int_equal(f.x.text_chars, 2);
    feed_free(&f);
}

static void
test_stream_redacted_and_unsigned_thinking(void **state)
{
    feed_t f;

    (void)state;
    feed_init(&f);
    feed(&f, MESSAGE_START
         /* the API's own start carries signature "" too: nothing to send for it */
         "event: content_block_start\n"
         "data: {'type':'content_block_start','index':0,'content_block':{'type':'thinking',"
         "'thinking':'','signature':''}}\n\n"
         "event: content_block_delta\n"
         "data: {'type':'content_block_delta','index':0,'delta':{'type':'thinking_delta',"
         "'thinking':'unsigned'}}\n\n"
         "event: content_block_stop\n"
         "data: {'type':'content_block_stop','index':0}\n\n"
         /* redacted: whole in its start, no deltas */
         "event: content_block_start\n"
         "data: {'type':'content_block_start','index':1,'content_block':"
         "{'type':'redacted_thinking','data':'EmwKAhgBEgy3va3pzix'}}\n\n"
         "event: content_block_stop\n"
         "data: {'type':'content_block_stop','index':1}\n\n"
         /* a block whose text is not shown: the signature alone; the unsigned block's text
          * before it is not part of it */
         "event: content_block_start\n"
         "data: {'type':'content_block_start','index':2,'content_block':{'type':'thinking',"
         "'thinking':''}}\n\n"
         "event: content_block_delta\n"
         "data: {'type':'content_block_delta','index':2,'delta':{'type':'signature_delta',"
         "'signature':'sig2'}}\n\n"
         "event: content_block_stop\n"
         "data: {'type':'content_block_stop','index':2}\n\n"
         /* text in the start of a thinking block is reasoning too */
         "event: content_block_start\n"
         "data: {'type':'content_block_start','index':3,'content_block':{'type':'thinking',"
         "'thinking':'early'}}\n\n"
         "event: content_block_delta\n"
         "data: {'type':'content_block_delta','index':3,'delta':{'type':'signature_delta',"
         "'signature':'sig3'}}\n\n");
    assert_int_equal(f.rc, 0);
    assert_int_equal(cJSON_GetArraySize(f.chunks), 6);
    assert_delta(&f, 1, "{'reasoning_content':'unsigned'}", NULL);
    assert_delta(&f, 2,
                 "{'thinking_blocks':[{'type':'redacted_thinking','data':'EmwKAhgBEgy3va3pzix',"
                 "'index':0}]}",
                 NULL);
    assert_delta(&f, 3,
                 "{'thinking_blocks':[{'type':'thinking','thinking':'','signature':'sig2',"
                 "'index':1}]}",
                 NULL);
    assert_delta(&f, 4, "{'reasoning_content':'early'}", NULL);
    assert_delta(&f, 5,
                 "{'thinking_blocks':[{'type':'thinking','thinking':'early','signature':'sig3',"
                 "'index':2}]}",
                 NULL);
    assert_int_equal(f.x.text_chars, 0);
    feed_free(&f);
}

/* A block longer than SLLMP_XSTREAM_THINKING_MAX still streams, but gets no entry: cut, it
 * would not match its signature. The next block is whole again. */
static void
test_stream_thinking_too_long_for_an_entry(void **state)
{
    size_t piece = SLLMP_XSTREAM_THINKING_MAX / 2 + 1;
    char *big = malloc(piece + 1);
    feed_t f;
    cJSON *d, *sig, *stop;
    const cJSON *text;

    (void)state;
    assert_non_null(big);
    memset(big, 'x', piece);
    big[piece] = '\0';
    feed_init(&f);
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(d, "delta"), "type", "thinking_delta");
    cJSON_AddStringToObject(cJSON_GetObjectItem(d, "delta"), "thinking", big);
    sig = parse_sq("{'type':'content_block_delta','index':0,'delta':{'type':'signature_delta',"
                   "'signature':'s'}}");
    stop = parse_sq("{'type':'content_block_stop','index':0}");
    assert_int_equal(sllmp_anthropic_stream_event(&f.x, "content_block_delta", d), 0);
    assert_int_equal(sllmp_anthropic_stream_event(&f.x, "content_block_delta", d), 0);
    assert_int_equal(sllmp_anthropic_stream_event(&f.x, "content_block_delta", sig), 0);
    assert_int_equal(sllmp_anthropic_stream_event(&f.x, "content_block_stop", stop), 0);
    /* role, the two pieces; no entry */
    assert_int_equal(cJSON_GetArraySize(f.chunks), 3);
    text = cJSON_GetObjectItem(
        cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(f.chunks, 2), "choices"), 0),
            "delta"),
        "reasoning_content");
    assert_true(cJSON_IsString(text));
    assert_int_equal(strlen(text->valuestring), piece);
    cJSON_Delete(d);
    d = parse_sq("{'type':'content_block_delta','index':1,'delta':{'type':'thinking_delta',"
                 "'thinking':'short'}}");
    assert_int_equal(sllmp_anthropic_stream_event(&f.x, "content_block_delta", d), 0);
    assert_int_equal(sllmp_anthropic_stream_event(&f.x, "content_block_delta", sig), 0);
    assert_int_equal(cJSON_GetArraySize(f.chunks), 5);
    assert_delta(&f, 4,
                 "{'thinking_blocks':[{'type':'thinking','thinking':'short','signature':'s',"
                 "'index':0}]}",
                 NULL);
    cJSON_Delete(d);
    cJSON_Delete(sig);
    cJSON_Delete(stop);
    free(big);
    feed_free(&f);
}

/* ---- requests ----------------------------------------------------------------------------- */

static void
test_request_system_and_developer_merged(void **state)
{
    (void)state;
    assert_request("{'model':'x','messages':["
                   "{'role':'system','content':'You are terse.'},"
                   "{'role':'user','content':'Hi'},"
                   "{'role':'developer','content':[{'type':'text','text':'Answer in French.'},"
                   "  {'type':'text','text':''},{'type':'text','text':'No emoji.',"
                   "   'cache_control':{'type':'ephemeral'}}]},"
                   "{'role':'system','content':'   '},"
                   "{'role':'user','content':'Again'}],"
                   "'logprobs':true,'seed':3,'frequency_penalty':0.5,'presence_penalty':0.1,"
                   "'logit_bias':{'50256':-100},'metadata':{'trace_name':'t'},"
                   "'stream_options':{'include_usage':true},'service_tier':'auto','n':1}",
                   "{'model':'claude-test','max_tokens':4096,"
                   "'system':[{'type':'text','text':'You are terse.'},"
                   "  {'type':'text','text':'Answer in French.'},"
                   "  {'type':'text','text':'No emoji.','cache_control':{'type':'ephemeral'}}],"
                   "'messages':[{'role':'user','content':[{'type':'text','text':'Hi'},"
                   "  {'type':'text','text':'Again'}]}]}");
}

static void
test_request_message_cache_control(void **state)
{
    (void)state;
    /* a breakpoint on a message whose content is a string goes on its text block, as LiteLLM
     * puts it (system, user and assistant); a blank string still sends nothing */
    assert_request("{'model':'x','messages':["
                   "{'role':'system','content':'Long rules.','cache_control':{'type':'ephemeral'}},"
                   "{'role':'user','content':'Big document.',"
                   "  'cache_control':{'type':'ephemeral','ttl':'1h'}},"
                   "{'role':'assistant','content':'Read it.','cache_control':{'type':'ephemeral'}},"
                   "{'role':'user','content':' ','cache_control':{'type':'ephemeral'}},"
                   "{'role':'user','content':'Question?'}]}",
                   "{'model':'claude-test','max_tokens':4096,"
                   "'system':[{'type':'text','text':'Long rules.',"
                   "  'cache_control':{'type':'ephemeral'}}],"
                   "'messages':[{'role':'user','content':[{'type':'text','text':'Big document.',"
                   "  'cache_control':{'type':'ephemeral','ttl':'1h'}}]},"
                   "{'role':'assistant','content':[{'type':'text','text':'Read it.',"
                   "  'cache_control':{'type':'ephemeral'}}]},"
                   "{'role':'user','content':[{'type':'text','text':'Question?'}]}]}");
}

static void
test_request_tool_round_trip(void **state)
{
    (void)state;
    assert_request(
        "{'model':'x','messages':["
        "{'role':'user','content':'Weather and time in Paris?'},"
        "{'role':'assistant','content':'Let me check.','tool_calls':["
        "  {'id':'call_1','type':'function','function':{'name':'get_weather',"
        "   'arguments':'{\\'city\\':\\'Paris\\'}'}},"
        "  {'id':'call_2','type':'function','function':{'name':'get_time','arguments':''}}]},"
        "{'role':'tool','tool_call_id':'call_1','content':'18C, sunny'},"
        "{'role':'user','content':'Also, be brief.'},"
        "{'role':'tool','tool_call_id':'call_2','content':[{'type':'text','text':'14:05'}]},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'call_3','type':'function',"
        "  'function':{'name':'get_time','arguments':'{}'}}]},"
        "{'role':'assistant','content':[{'type':'text','text':'One more.'},"
        "  {'type':'refusal','refusal':'no'}]},"
        "{'role':'tool','tool_call_id':'call_3','content':''}],"
        "'tools':[{'type':'function','function':{'name':'get_weather','description':'Weather.',"
        "  'parameters':{'type':'object','properties':{'city':{'type':'string'}},"
        "  'required':['city']},'strict':true}},"
        "  {'type':'function','function':{'name':'get_time'}}]}",
        "{'model':'claude-test','max_tokens':4096,'messages':["
        "{'role':'user','content':[{'type':'text','text':'Weather and time in Paris?'}]},"
        "{'role':'assistant','content':[{'type':'text','text':'Let me check.'},"
        "  {'type':'tool_use','id':'call_1','name':'get_weather','input':{'city':'Paris'}},"
        "  {'type':'tool_use','id':'call_2','name':'get_time','input':{}}]},"
        "{'role':'user','content':["
        "  {'type':'tool_result','tool_use_id':'call_1','content':'18C, sunny'},"
        "  "
        "{'type':'tool_result','tool_use_id':'call_2','content':[{'type':'text','text':'14:05'}]},"
        "  {'type':'text','text':'Also, be brief.'}]},"
        "{'role':'assistant','content':["
        "  {'type':'tool_use','id':'call_3','name':'get_time','input':{}},"
        "  {'type':'text','text':'One more.'}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'call_3'}]}],"
        "'tools':[{'name':'get_weather','description':'Weather.','input_schema':{'type':'object',"
        "  'properties':{'city':{'type':'string'}},'required':['city']}},"
        "  {'name':'get_time','input_schema':{'type':'object','properties':{}}}]}");
}

/* A conversation begun on Gemini carries its thought signatures in the tool call ids
 * ("<id>__thought__<base64>"), which Anthropic refuses (tool_use ids: ^[a-zA-Z0-9_-]+$): the
 * id before the separator goes, on the tool_use and its tool_result alike, whichever side the
 * client kept the signature on. */
static void
test_request_gemini_thought_ids(void **state)
{
    (void)state;
    assert_request(
        "{'model':'x','messages':[{'role':'user','content':'q'},"
        "{'role':'assistant','content':null,'tool_calls':["
        "  {'id':'call_1__thought__CiQ+x/Y=','type':'function','function':{'name':'f',"
        "   'arguments':'{}'},'extra_content':{'google':{'thought_signature':'CiQ+x/Y='}}},"
        "  {'id':'call_2','type':'function','function':{'name':'g','arguments':'{}'}},"
        "  {'id':'call_3__thought__Zm9v','type':'function','function':{'name':'h',"
        "   'arguments':'{}'}}]},"
        "{'role':'tool','tool_call_id':'call_1__thought__CiQ+x/Y=','content':'1'},"
        "{'role':'tool','tool_call_id':'call_2__thought__Zm9v','content':'2'},"
        "{'role':'tool','tool_call_id':'call_3','content':'3'}]}",
        "{'model':'claude-test','max_tokens':4096,'messages':["
        "{'role':'user','content':[{'type':'text','text':'q'}]},"
        "{'role':'assistant','content':["
        "  {'type':'tool_use','id':'call_1','name':'f','input':{}},"
        "  {'type':'tool_use','id':'call_2','name':'g','input':{}},"
        "  {'type':'tool_use','id':'call_3','name':'h','input':{}}]},"
        "{'role':'user','content':["
        "  {'type':'tool_result','tool_use_id':'call_1','content':'1'},"
        "  {'type':'tool_result','tool_use_id':'call_2','content':'2'},"
        "  {'type':'tool_result','tool_use_id':'call_3','content':'3'}]}]}");
    /* nothing before the separator is no id */
    assert_refused("{'model':'x','messages':[{'role':'user','content':'q'},"
                   "{'role':'assistant','content':null,'tool_calls':["
                   "  {'id':'__thought__Zm9v','type':'function','function':{'name':'f',"
                   "   'arguments':'{}'}}]}]}",
                   "messages[1].tool_calls[0].id");
    assert_refused("{'model':'x','messages':[{'role':'user','content':'q'},"
                   "{'role':'tool','tool_call_id':'__thought__Zm9v','content':'1'}]}",
                   "messages[1].tool_call_id");
}

static void
test_request_images(void **state)
{
    (void)state;
    assert_request("{'model':'x','messages':[{'role':'user','content':["
                   "{'type':'text','text':'What is this?'},"
                   "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0KGgo=',"
                   " 'detail':'high'}},"
                   "{'type':'image_url','image_url':{'url':'https://example.com/cat.jpg'}},"
                   "{'type':'file','file':{'filename':'a.pdf','file_data':"
                   " 'data:application/pdf;base64,JVBERi0='}}]}]}",
                   "{'model':'claude-test','max_tokens':4096,'messages':[{'role':'user','content':["
                   "{'type':'text','text':'What is this?'},"
                   "{'type':'image','source':{'type':'base64','media_type':'image/png',"
                   " 'data':'iVBORw0KGgo='}},"
                   "{'type':'image','source':{'type':'url','url':'https://example.com/cat.jpg'}},"
                   "{'type':'document','source':{'type':'base64','media_type':'application/pdf',"
                   " 'data':'JVBERi0='}}]}]}");
    /* Anthropic takes image/jpeg, png, gif and webp, spelt so: data:image/jpg (common) and
     * upper case are put right, other types refused by us rather than by Anthropic */
    assert_request("{'model':'x','messages':[{'role':'user','content':["
                   "{'type':'image_url','image_url':{'url':'data:image/jpg;base64,/9j/'}},"
                   "{'type':'image_url','image_url':{'url':'data:Image/PNG;base64,iVBO'}},"
                   "{'type':'file','file':{'file_data':'data:image/JPG;base64,/9j/'}},"
                   "{'type':'image_url','image_url':{'url':'data:Application/PDF;base64,JVBE'}}"
                   "]}]}",
                   "{'model':'claude-test','max_tokens':4096,'messages':[{'role':'user','content':["
                   "{'type':'image','source':{'type':'base64','media_type':'image/jpeg',"
                   " 'data':'/9j/'}},"
                   "{'type':'image','source':{'type':'base64','media_type':'image/png',"
                   " 'data':'iVBO'}},"
                   "{'type':'image','source':{'type':'base64','media_type':'image/jpeg',"
                   " 'data':'/9j/'}},"
                   "{'type':'document','source':{'type':'base64','media_type':'application/pdf',"
                   " 'data':'JVBE'}}]}]}");
    assert_refused("{'messages':[{'role':'user','content':[{'type':'text','text':'a'},"
                   "{'type':'image_url','image_url':{'url':'data:image/tiff;base64,SUkq'}}]}]}",
                   "messages[0].content[1].image_url.url");
    assert_refused("{'messages':[{'role':'user','content':[{'type':'file','file':"
                   "{'file_data':'data:image/svg+xml;base64,PHN2Zz4='}}]}]}",
                   "messages[0].content[0].file.file_data");
    assert_refused("{'messages':[{'role':'user','content':[{'type':'text','text':'a'},"
                   "{'type':'image_url','image_url':{'url':'data:image/png,rawbytes'}}]}]}",
                   "messages[0].content[1].image_url.url");
    assert_refused("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':"
                   "{'url':'ftp://example.com/x.png'}}]}]}",
                   "messages[0].content[0].image_url.url");
    assert_refused("{'messages':[{'role':'user','content':[{'type':'input_audio','input_audio':"
                   "{'data':'AAAA','format':'wav'}}]}]}",
                   "messages[0].content[0]");
    assert_refused("{'messages':[{'role':'user','content':[{'type':'file','file':"
                   "{'file_id':'file-1'}}]}]}",
                   "messages[0].content[0].file");
}

static void
test_request_stop_sequences(void **state)
{
    (void)state;
    assert_request("{'messages':[{'role':'user','content':'a'}],'stop':['END',' ','\\n','###']}",
                   "{'model':'claude-test','max_tokens':4096,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'a'}]}],'stop_sequences':['END','###']}");
    assert_request("{'messages':[{'role':'user','content':'a'}],'stop':'STOP'}",
                   "{'model':'claude-test','max_tokens':4096,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'a'}]}],'stop_sequences':['STOP']}");
    /* only whitespace: no stop_sequences at all */
    assert_request("{'messages':[{'role':'user','content':'a'}],'stop':['  ']}",
                   "{'model':'claude-test','max_tokens':4096,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'a'}]}]}");
}

static void
test_request_max_tokens(void **state)
{
    (void)state;
    assert_request("{'messages':[{'role':'user','content':'a'}],'max_tokens':300}",
                   "{'model':'claude-test','max_tokens':300,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'a'}]}]}");
    /* max_completion_tokens wins over the deprecated max_tokens */
    assert_request("{'messages':[{'role':'user','content':'a'}],'max_tokens':300,"
                   "'max_completion_tokens':77}",
                   "{'model':'claude-test','max_tokens':77,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'a'}]}]}");
    /* null is absent: the default */
    assert_request("{'messages':[{'role':'user','content':'a'}],'max_tokens':null}",
                   "{'model':'claude-test','max_tokens':4096,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'a'}]}]}");
}

static void
test_request_sampling(void **state)
{
    (void)state;
    assert_request("{'messages':[{'role':'user','content':'a'}],'temperature':1.7,'top_p':0.9,"
                   "'top_k':40,'stream':true}",
                   "{'model':'claude-test','max_tokens':4096,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'a'}]}],'temperature':1,'top_p':0.9,"
                   "'top_k':40,'stream':true}");
    assert_request("{'messages':[{'role':'user','content':'a'}],'temperature':0.3,"
                   "'stream':false}",
                   "{'model':'claude-test','max_tokens':4096,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'a'}]}],'temperature':0.3}");
}

/* Models after Claude Opus 4.6 reject non-default sampling: the knobs are dropped for them. */
static void
test_request_sampling_strict_models(void **state)
{
    static const char *const strict[] = {"claude-opus-4-7", "claude-opus-4-7-20260416",
                                         "claude-sonnet-5", "claude-opus-4-8"};
    static const char *const lenient[] = {"claude-opus-4-6", "claude-3-7-sonnet-20250219",
                                          "claude-sonnet-4-20250514", "claude-mock"};
    cJSON *req = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
                             "\"temperature\":0.3,\"top_p\":0.5,\"top_k\":5}");
    sllmp_xerr_t e;

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        cJSON *out = sllmp_anthropic_request(req, strict[i], &e);

        assert_non_null(out);
        assert_null(cJSON_GetObjectItem(out, "temperature"));
        assert_null(cJSON_GetObjectItem(out, "top_p"));
        assert_null(cJSON_GetObjectItem(out, "top_k"));
        cJSON_Delete(out);
        out = sllmp_anthropic_request(req, lenient[i], &e);
        assert_non_null(out);
        assert_non_null(cJSON_GetObjectItem(out, "temperature"));
        assert_non_null(cJSON_GetObjectItem(out, "top_k"));
        cJSON_Delete(out);
    }
    cJSON_Delete(req);
}

#define TOOLS     "'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object'}}}]"
#define TOOLS_OUT "'tools':[{'name':'f','input_schema':{'type':'object'}}]"
#define USER_A    "'messages':[{'role':'user','content':'a'}]"
#define BASE_OUT                                                                                   \
    "'model':'claude-test','max_tokens':4096,'messages':[{'role':'user','content':[{'type':"       \
    "'text','text':'a'}]}]"

static void
test_request_tool_choice(void **state)
{
    (void)state;
    assert_request("{" USER_A "," TOOLS ",'tool_choice':'auto'}",
                   "{" BASE_OUT "," TOOLS_OUT ",'tool_choice':{'type':'auto'}}");
    assert_request("{" USER_A "," TOOLS ",'tool_choice':'required'}",
                   "{" BASE_OUT "," TOOLS_OUT ",'tool_choice':{'type':'any'}}");
    assert_request("{" USER_A "," TOOLS ",'tool_choice':'none'}",
                   "{" BASE_OUT "," TOOLS_OUT ",'tool_choice':{'type':'none'}}");
    assert_request("{" USER_A "," TOOLS ",'tool_choice':{'type':'function','function':"
                   "{'name':'f'}}}",
                   "{" BASE_OUT "," TOOLS_OUT ",'tool_choice':{'type':'tool','name':'f'}}");
    /* without tools, Anthropic would reject a tool_choice */
    assert_request("{" USER_A ",'tool_choice':'none','tools':[]}", "{" BASE_OUT "}");
    assert_refused("{" USER_A "," TOOLS ",'tool_choice':'sometimes'}", "tool_choice");
    assert_refused("{" USER_A ",'tools':[{'type':'custom','custom':{'name':'g'}}]}", "tools[0]");
}

static void
test_request_parallel_tool_calls_false(void **state)
{
    (void)state;
    assert_request("{" USER_A "," TOOLS ",'parallel_tool_calls':false}",
                   "{" BASE_OUT "," TOOLS_OUT ",'tool_choice':{'type':'auto',"
                   "'disable_parallel_tool_use':true}}");
    assert_request("{" USER_A "," TOOLS ",'parallel_tool_calls':false,'tool_choice':'required'}",
                   "{" BASE_OUT "," TOOLS_OUT ",'tool_choice':{'type':'any',"
                   "'disable_parallel_tool_use':true}}");
    assert_request("{" USER_A "," TOOLS ",'parallel_tool_calls':false,'tool_choice':'none'}",
                   "{" BASE_OUT "," TOOLS_OUT ",'tool_choice':{'type':'none'}}");
    assert_request("{" USER_A "," TOOLS ",'parallel_tool_calls':true}",
                   "{" BASE_OUT "," TOOLS_OUT "}");
}

static void
test_request_invalid_arguments(void **state)
{
    (void)state;
    assert_refused("{'messages':[{'role':'system','content':'s'},{'role':'user','content':'a'},"
                   "{'role':'assistant','tool_calls':[{'id':'c1','type':'function','function':"
                   "{'name':'f','arguments':'{\\'city\\': Paris}'}}]}]}",
                   "messages[2].tool_calls[0].function.arguments");
    /* valid JSON but not an object */
    assert_refused("{'messages':[{'role':'user','content':'a'},{'role':'assistant','tool_calls':["
                   "{'id':'c1','type':'function','function':{'name':'f','arguments':'{}'}},"
                   "{'id':'c2','type':'function','function':{'name':'f','arguments':'[1,2]'}}]}]}",
                   "messages[1].tool_calls[1].function.arguments");
    /* an object and more is not JSON (sllmp_tool_input, shared with Bedrock, reads it all) */
    assert_refused("{'messages':[{'role':'user','content':'a'},{'role':'assistant','tool_calls':["
                   "{'id':'c1','type':'function','function':{'name':'f','arguments':'{} {}'}}]}]}",
                   "messages[1].tool_calls[0].function.arguments");
    assert_refused("{'messages':[{'role':'user','content':'a'},{'role':'assistant','tool_calls':["
                   "{'type':'function','function':{'name':'f','arguments':'{}'}}]}]}",
                   "messages[1].tool_calls[0].id");
}

static void
test_request_refusals(void **state)
{
    (void)state;
    assert_refused("{'messages':[{'role':'user','content':'a'}],'n':2}", "n");
    assert_refused("{'messages':[{'role':'system','content':'only a system prompt'}]}", "messages");
    assert_refused("{'messages':[{'role':'user','content':'a'},{'role':'assistant',"
                   "'content':null,'function_call':{'name':'f','arguments':'{}'}}]}",
                   "messages[1].function_call");
    assert_refused("{'messages':[{'role':'user','content':'a'},{'role':'function','name':'f',"
                   "'content':'x'}]}",
                   "messages[1].role");
    assert_refused("{" USER_A ",'functions':[{'name':'f'}]}", "functions");
    assert_refused("{'messages':[{'role':'user','content':'a'},{'role':'tool','content':'x'}]}",
                   "messages[1].tool_call_id");
}

static void
test_request_prefill_stripped(void **state)
{
    (void)state;
    assert_request("{'messages':[{'role':'user','content':'Say a JSON object.'},"
                   "{'role':'assistant','content':'{\\n  '}]}",
                   "{'model':'claude-test','max_tokens':4096,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'Say a JSON object.'}]},"
                   "{'role':'assistant','content':[{'type':'text','text':'{'}]}]}");
    /* an earlier assistant turn keeps its whitespace; only the final one is a prefill */
    assert_request("{'messages':[{'role':'user','content':'a'},{'role':'assistant','content':'b '},"
                   "{'role':'user','content':'c'}]}",
                   "{'model':'claude-test','max_tokens':4096,'messages':["
                   "{'role':'user','content':[{'type':'text','text':'a'}]},"
                   "{'role':'assistant','content':[{'type':'text','text':'b '}]},"
                   "{'role':'user','content':[{'type':'text','text':'c'}]}]}");
    /* a prefill of only whitespace is no prefill */
    assert_request(
        "{'messages':[{'role':'user','content':'a'},{'role':'assistant','content':' \\n'}]}",
        "{" BASE_OUT "}");
}

static void
test_request_user_id(void **state)
{
    (void)state;
    assert_request("{" USER_A ",'user':'user-1234'}",
                   "{" BASE_OUT ",'metadata':{'user_id':'user-1234'}}");
    assert_request("{" USER_A ",'user':'jane.doe@example.com'}", "{" BASE_OUT "}");
    assert_request("{" USER_A ",'safety_identifier':'h-42'}",
                   "{" BASE_OUT ",'metadata':{'user_id':'h-42'}}");
    /* longer than Anthropic takes: not sent */
    {
        char req[512];

        snprintf(req, sizeof(req), "{" USER_A ",'user':'%0300d'}", 7);
        assert_request(req, "{" BASE_OUT "}");
    }
}

static void
test_request_reasoning_effort(void **state)
{
    (void)state;
    /* sampling knobs go (Anthropic rejects them with thinking); max_tokens makes room */
    assert_request("{" USER_A ",'reasoning_effort':'medium','temperature':0.2,'top_p':0.5,"
                   "'max_tokens':1000}",
                   "{'model':'claude-test','max_tokens':3072,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'a'}]}],'thinking':{'type':'enabled',"
                   "'budget_tokens':2048}}");
    assert_request("{" USER_A ",'reasoning_effort':'low'}",
                   "{" BASE_OUT ",'thinking':{'type':'enabled','budget_tokens':1024}}");
    assert_request("{" USER_A ",'reasoning_effort':'high','max_completion_tokens':9000}",
                   "{'model':'claude-test','max_tokens':9000,'messages':[{'role':'user',"
                   "'content':[{'type':'text','text':'a'}]}],'thinking':{'type':'enabled',"
                   "'budget_tokens':4096}}");
    assert_request("{" USER_A ",'reasoning_effort':'none','temperature':0.2}",
                   "{" BASE_OUT ",'temperature':0.2}");
    /* forced tool use and thinking do not go together: no thinking */
    assert_request("{" USER_A "," TOOLS ",'tool_choice':'required','reasoning_effort':'low'}",
                   "{" BASE_OUT "," TOOLS_OUT ",'tool_choice':{'type':'any'}}");
    /* continuing a tool call without the signed thinking block: no thinking */
    assert_request("{'messages':[{'role':'user','content':'a'},{'role':'assistant','tool_calls':"
                   "[{'id':'c1','type':'function','function':{'name':'f','arguments':'{}'}}]},"
                   "{'role':'tool','tool_call_id':'c1','content':'r'}]," TOOLS
                   ",'reasoning_effort':'low'}",
                   "{'model':'claude-test','max_tokens':4096,'messages':["
                   "{'role':'user','content':[{'type':'text','text':'a'}]},"
                   "{'role':'assistant','content':[{'type':'tool_use','id':'c1','name':'f',"
                   "'input':{}}]},{'role':'user','content':[{'type':'tool_result',"
                   "'tool_use_id':'c1','content':'r'}]}]," TOOLS_OUT "}");
    /* ... with it (LiteLLM's thinking_blocks, as a stream gave it: the "index" is not sent),
     * thinking stays on */
    assert_request("{'messages':[{'role':'user','content':'a'},{'role':'assistant','tool_calls':"
                   "[{'id':'c1','type':'function','function':{'name':'f','arguments':'{}'}}],"
                   "'thinking_blocks':[{'type':'thinking','thinking':'hm','signature':'s1',"
                   "'index':0}]},"
                   "{'role':'tool','tool_call_id':'c1','content':'r'}]," TOOLS
                   ",'reasoning_effort':'low'}",
                   "{'model':'claude-test','max_tokens':4096,'messages':["
                   "{'role':'user','content':[{'type':'text','text':'a'}]},"
                   "{'role':'assistant','content':[{'type':'thinking','thinking':'hm',"
                   "'signature':'s1'},{'type':'tool_use','id':'c1','name':'f','input':{}}]},"
                   "{'role':'user','content':[{'type':'tool_result','tool_use_id':'c1',"
                   "'content':'r'}]}]," TOOLS_OUT ",'thinking':{'type':'enabled',"
                   "'budget_tokens':1024}}");
}

static void
test_request_response_format(void **state)
{
    (void)state;
    assert_request("{" USER_A ",'response_format':{'type':'json_schema','json_schema':"
                   "{'name':'p','strict':true,'schema':{'type':'object','properties':"
                   "{'x':{'type':'integer'}}}}}}",
                   "{" BASE_OUT ",'output_config':{'format':{'type':'json_schema','schema':"
                   "{'type':'object','properties':{'x':{'type':'integer'}}}}}}");
    assert_request("{" USER_A ",'response_format':{'type':'json_object'}}", "{" BASE_OUT "}");
    /* a json_schema without a schema asks for nothing Anthropic can check; null is no schema */
    assert_request("{" USER_A ",'response_format':{'type':'json_schema','json_schema':"
                   "{'name':'p'}}}",
                   "{" BASE_OUT "}");
    assert_request("{" USER_A ",'response_format':{'type':'json_schema','json_schema':"
                   "{'name':'p','schema':null}}}",
                   "{" BASE_OUT "}");
    /* a schema that is not an object is refused, as OpenAI refuses it, not dropped */
    assert_refused("{" USER_A ",'response_format':{'type':'json_schema','json_schema':"
                   "{'name':'p','schema':'object'}}}",
                   "response_format.json_schema.schema");
    assert_refused("{" USER_A ",'response_format':{'type':'json_schema','json_schema':"
                   "{'name':'p','schema':[{'type':'object'}]}}}",
                   "response_format.json_schema.schema");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_golden),
        cmocka_unit_test(test_response_thinking_cache_and_no_text),
        cmocka_unit_test(test_finish_reasons),
        cmocka_unit_test(test_usage_merge_present_fields_replace),
        cmocka_unit_test(test_stream_full_text),
        cmocka_unit_test(test_stream_tool_fragment),
        cmocka_unit_test(test_stream_two_tools_openai_indices),
        cmocka_unit_test(test_stream_argless_tool),
        cmocka_unit_test(test_stream_tool_block_index_unbounded),
        cmocka_unit_test(test_stream_error_after_text),
        cmocka_unit_test(test_stream_error_statuses),
        cmocka_unit_test(test_stream_cumulative_usage_last_wins),
        cmocka_unit_test(test_stream_usage_round_trip_with_cache),
        cmocka_unit_test(test_stream_emit_stop_and_after_stop),
        cmocka_unit_test(test_stream_thinking_then_text),
        cmocka_unit_test(test_stream_redacted_and_unsigned_thinking),
        cmocka_unit_test(test_stream_thinking_too_long_for_an_entry),
        cmocka_unit_test(test_request_system_and_developer_merged),
        cmocka_unit_test(test_request_message_cache_control),
        cmocka_unit_test(test_request_tool_round_trip),
        cmocka_unit_test(test_request_gemini_thought_ids),
        cmocka_unit_test(test_request_images),
        cmocka_unit_test(test_request_stop_sequences),
        cmocka_unit_test(test_request_max_tokens),
        cmocka_unit_test(test_request_sampling),
        cmocka_unit_test(test_request_sampling_strict_models),
        cmocka_unit_test(test_request_tool_choice),
        cmocka_unit_test(test_request_parallel_tool_calls_false),
        cmocka_unit_test(test_request_invalid_arguments),
        cmocka_unit_test(test_request_refusals),
        cmocka_unit_test(test_request_prefill_stripped),
        cmocka_unit_test(test_request_user_id),
        cmocka_unit_test(test_request_reasoning_effort),
        cmocka_unit_test(test_request_response_format),
    };

    return cmocka_run_group_tests_name("anthropic", tests, NULL, NULL);
}
