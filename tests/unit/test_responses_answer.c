/*
 * The answer side of the Responses API bridge (src/responses_answer.c): the Response object and
 * its echoes, an unstreamed chat.completion into a Response, and the stream translator from
 * chat.completion.chunk objects into Responses events. Golden tests compared structurally
 * (cJSON_Compare: key order does not matter, an extra or missing field does); every stream also
 * goes through responses_events.h, which holds it to what openai-node's ResponseStream
 * accumulates.
 *
 * JSON in this file is written with single quotes, turned into double quotes before parsing.
 */
#include "sllmp/responses.h"
#include "sllmp/usage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_helpers.h"

#include "responses_events.h"

#define RESP_ID "resp_abc123"
#define CREATED 1741569952L
#define MODEL   "gpt-test"

/* ---- helpers ---------------------------------------------------------------------------- */

/* The Response with the echoes of a request that set none of them. */
#define RESPONSE(status, error, incomplete, output, usage)                                         \
    "{'id':'resp_abc123','object':'response','created_at':1741569952,'status':'" status "',"       \
    "'error':" error ",'incomplete_details':" incomplete ",'instructions':null,"                   \
    "'max_output_tokens':null,'model':'gpt-test','output':" output ","                             \
    "'parallel_tool_calls':true,'previous_response_id':null,"                                      \
    "'reasoning':{'effort':null,'summary':null},'store':false,'temperature':null,"                 \
    "'text':{'format':{'type':'text'}},'tool_choice':'auto','tools':[],'top_p':null,"              \
    "'truncation':'disabled','usage':" usage ",'metadata':{}}"

#define COMPLETED(output, usage) RESPONSE("completed", "null", "null", output, usage)

/* ResponseUsage for the usage U_IN below (10 prompt tokens, 5 completion tokens). */
#define USAGE                                                                                      \
    "{'input_tokens':10,'input_tokens_details':{'cached_tokens':0,'cache_write_tokens':0},"        \
    "'output_tokens':5,'output_tokens_details':{'reasoning_tokens':0},'total_tokens':15}"

static const sllmp_usage_t U_IN = {.input = 10, .output = 5, .seen = 1};

#define PLAIN_REQ "{'model':'gpt-test','input':'hi'}"

/* A chat.completion of one choice with message MSG and finish FINISH (no usage). */
#define COMPLETION(msg, finish)                                                                    \
    "{'id':'chatcmpl-1','object':'chat.completion','created':1,'model':'up',"                      \
    "'choices':[{'index':0,'message':" msg ",'logprobs':null,'finish_reason':'" finish "'}]}"

static sllmp_responses_meta_t
meta_of(const cJSON *req)
{
    sllmp_responses_meta_t m = {.req = req, .id = RESP_ID, .created_at = CREATED, .model = MODEL};

    return m;
}

/* from_chat of the completion (single-quoted) for the request, u as given. */
static cJSON *
answer(const char *req_sq, const char *completion_sq, const sllmp_usage_t *u)
{
    cJSON *req = parse_sq(req_sq), *c = parse_sq(completion_sq), *copy = cJSON_Duplicate(c, 1);
    sllmp_responses_meta_t m = meta_of(req);
    cJSON *r = sllmp_responses_from_chat(&m, c, u);

    assert_true(cJSON_Compare(c, copy, 1)); /* the input is left as it was */
    cJSON_Delete(req);
    cJSON_Delete(c);
    cJSON_Delete(copy);
    return r;
}

static void
assert_answer(const char *completion_sq, const sllmp_usage_t *u, const char *want)
{
    cJSON *r = answer(PLAIN_REQ, completion_sq, u);

    assert_non_null(r);
    assert_json(r, want);
    cJSON_Delete(r);
}

/* ---- unstreamed ----------------------------------------------------------------------------- */

static void
test_answer_text(void **state)
{
    (void)state;
    assert_answer(COMPLETION("{'role':'assistant','content':'Hello there'}", "stop"), &U_IN,
                  COMPLETED("[{'id':'msg_abc12300','type':'message','status':'completed',"
                            "'content':[{'type':'output_text','annotations':[],'logprobs':[],"
                            "'text':'Hello there'}],'role':'assistant'}]",
                            USAGE));
}

static void
test_answer_refusal(void **state)
{
    (void)state;
    assert_answer(
        COMPLETION("{'role':'assistant','content':null,'refusal':'I can\\'t help.'}", "stop"),
        &U_IN,
        COMPLETED("[{'id':'msg_abc12300','type':'message','status':'completed',"
                  "'content':[{'type':'refusal','refusal':'I can\\'t help.'}],"
                  "'role':'assistant'}]",
                  USAGE));
}

static void
test_answer_tool_calls(void **state)
{
    (void)state;
    /* a call without an id gets one; object arguments are printed; a custom tool is skipped */
    assert_answer(
        COMPLETION("{'role':'assistant','content':null,'tool_calls':["
                   "{'id':'call_A','type':'function','function':{'name':'get_weather',"
                   "'arguments':'{\\'city\\':\\'Paris\\'}'}},"
                   "{'type':'custom','custom':{'name':'x','input':'y'}},"
                   "{'type':'function','function':{'name':'now','arguments':{'tz':'UTC'}}},"
                   "{'id':'call_C','type':'function','function':{'name':'noargs'}}]}",
                   "tool_calls"),
        &U_IN,
        COMPLETED("[{'id':'fc_abc12300','type':'function_call','status':'completed',"
                  "'arguments':'{\\'city\\':\\'Paris\\'}','call_id':'call_A','name':'get_weather'},"
                  "{'id':'fc_abc12301','type':'function_call','status':'completed',"
                  "'arguments':'{\\'tz\\':\\'UTC\\'}','call_id':'call_abc12301','name':'now'},"
                  "{'id':'fc_abc12302','type':'function_call','status':'completed',"
                  "'arguments':'','call_id':'call_C','name':'noargs'}]",
                  USAGE));
}

static void
test_answer_reasoning_text_and_call(void **state)
{
    (void)state;
    assert_answer(COMPLETION("{'role':'assistant','reasoning_content':'Think first.',"
                             "'thinking_blocks':[{'type':'thinking','thinking':'Think first.',"
                             "'signature':'sig'}],'content':'Done.','tool_calls':["
                             "{'id':'call_1','type':'function','function':{'name':'f',"
                             "'arguments':'{}'}}]}",
                             "tool_calls"),
                  &U_IN,
                  COMPLETED("[{'id':'rs_abc12300','type':'reasoning','summary':[{'type':"
                            "'summary_text','text':'Think first.'}],'encrypted_content':"
                            "'" SLLMP_THINKING_PREFIX "[{\\'type\\':\\'thinking\\',"
                            "\\'thinking\\':\\'Think first.\\',\\'signature\\':"
                            "\\'sig\\'}]'},"
                            "{'id':'msg_abc12301','type':'message','status':'completed',"
                            "'content':[{'type':'output_text','annotations':[],'logprobs':[],"
                            "'text':'Done.'}],'role':'assistant'},"
                            "{'id':'fc_abc12302','type':'function_call','status':'completed',"
                            "'arguments':'{}','call_id':'call_1','name':'f'}]",
                            USAGE));
    /* "reasoning" (some OpenAI-compatible servers) as well; content as text parts */
    assert_answer(COMPLETION("{'role':'assistant','reasoning':'Hm.','content':[{'type':'text',"
                             "'text':'a'},{'type':'image_url'},{'type':'text','text':'b'}]}",
                             "stop"),
                  &U_IN,
                  COMPLETED("[{'id':'rs_abc12300','type':'reasoning','summary':[{'type':"
                            "'summary_text','text':'Hm.'}]},"
                            "{'id':'msg_abc12301','type':'message','status':'completed',"
                            "'content':[{'type':'output_text','annotations':[],'logprobs':[],"
                            "'text':'ab'}],'role':'assistant'}]",
                            USAGE));
}

static void
test_answer_length_is_incomplete(void **state)
{
    (void)state;
    assert_answer(COMPLETION("{'role':'assistant','content':'Once upon a'}", "length"), &U_IN,
                  RESPONSE("incomplete", "null", "{'reason':'max_output_tokens'}",
                           "[{'id':'msg_abc12300','type':'message','status':'incomplete',"
                           "'content':[{'type':'output_text','annotations':[],'logprobs':[],"
                           "'text':'Once upon a'}],'role':'assistant'}]",
                           USAGE));
    /* cut in the reasoning: nothing but the reasoning, which has no status */
    assert_answer(
        COMPLETION("{'role':'assistant','content':'','reasoning_content':'Hm'}", "length"), &U_IN,
        RESPONSE("incomplete", "null", "{'reason':'max_output_tokens'}",
                 "[{'id':'rs_abc12300','type':'reasoning','summary':[{'type':"
                 "'summary_text','text':'Hm'}]}]",
                 USAGE));
}

static void
test_answer_content_filter(void **state)
{
    (void)state;
    assert_answer(COMPLETION("{'role':'assistant','content':null}", "content_filter"), &U_IN,
                  RESPONSE("incomplete", "null", "{'reason':'content_filter'}", "[]", USAGE));
    /* no choice at all: nothing, completed */
    assert_answer("{'object':'chat.completion','choices':[]}", &U_IN, COMPLETED("[]", USAGE));
}

static void
test_answer_usage(void **state)
{
    sllmp_usage_t u = {
        .input = 10, .cache_read = 90, .cache_write = 5, .output = 20, .reasoning = 30, .seen = 1};

    (void)state;
    assert_answer(COMPLETION("{'role':'assistant','content':'x'}", "stop"), &u,
                  COMPLETED("[{'id':'msg_abc12300','type':'message','status':'completed',"
                            "'content':[{'type':'output_text','annotations':[],'logprobs':[],"
                            "'text':'x'}],'role':'assistant'}]",
                            "{'input_tokens':105,'input_tokens_details':{'cached_tokens':90,"
                            "'cache_write_tokens':5},'output_tokens':50,"
                            "'output_tokens_details':{'reasoning_tokens':30},'total_tokens':155}"));
    /* no usage given: the completion's own, else null */
    assert_answer("{'object':'chat.completion','choices':[],'usage':{'prompt_tokens':100,"
                  "'completion_tokens':40,'total_tokens':140,'prompt_tokens_details':"
                  "{'cached_tokens':60},'completion_tokens_details':{'reasoning_tokens':25}}}",
                  NULL,
                  COMPLETED("[]", "{'input_tokens':100,'input_tokens_details':{'cached_tokens':60,"
                                  "'cache_write_tokens':0},'output_tokens':40,"
                                  "'output_tokens_details':{'reasoning_tokens':25},"
                                  "'total_tokens':140}"));
    assert_answer("{'object':'chat.completion','choices':[]}", NULL, COMPLETED("[]", "null"));
}

static void
test_answer_logprobs(void **state)
{
    (void)state;
    assert_answer("{'object':'chat.completion','choices':[{'index':0,'message':{'role':"
                  "'assistant','content':'Hi'},'logprobs':{'content':[{'token':'Hi','logprob':"
                  "-0.5,'bytes':[72,105],'top_logprobs':[{'token':'Hi','logprob':-0.5,'bytes':"
                  "[72,105]}]}],'refusal':null},'finish_reason':'stop'}]}",
                  &U_IN,
                  COMPLETED("[{'id':'msg_abc12300','type':'message','status':'completed',"
                            "'content':[{'type':'output_text','annotations':[],'logprobs':["
                            "{'token':'Hi','logprob':-0.5,'bytes':[72,105],'top_logprobs':"
                            "[{'token':'Hi','logprob':-0.5,'bytes':[72,105]}]}],'text':'Hi'}],"
                            "'role':'assistant'}]",
                            USAGE));
}

static void
test_answer_echoes(void **state)
{
    cJSON *r;

    (void)state;
    r = answer("{'model':'gpt-test','input':'hi','instructions':'Be brief.',"
               "'max_output_tokens':300,'metadata':{'k':'v'},'parallel_tool_calls':false,"
               "'reasoning':{'effort':'low','summary':'auto'},'temperature':0.2,'top_p':0.9,"
               "'text':{'format':{'type':'json_schema','name':'out','schema':{'type':'object'},"
               "'strict':true},'verbosity':'low'},'tool_choice':{'type':'function','name':'f'},"
               "'tools':[{'type':'function','name':'f','description':'d','parameters':"
               "{'type':'object'},'strict':true}],'user':'u-1','store':true,'truncation':'auto'}",
               COMPLETION("{'role':'assistant','content':null}", "stop"), NULL);
    assert_json(r, "{'id':'resp_abc123','object':'response','created_at':1741569952,"
                   "'status':'completed','error':null,'incomplete_details':null,"
                   "'instructions':'Be brief.','max_output_tokens':300,'model':'gpt-test',"
                   "'output':[],'parallel_tool_calls':false,'previous_response_id':null,"
                   "'reasoning':{'effort':'low','summary':'auto'},'store':false,"
                   "'temperature':0.2,'text':{'format':{'type':'json_schema','name':'out',"
                   "'schema':{'type':'object'},'strict':true},'verbosity':'low'},"
                   "'tool_choice':{'type':'function','name':'f'},'tools':[{'type':'function',"
                   "'name':'f','description':'d','parameters':{'type':'object'},'strict':true}],"
                   "'top_p':0.9,'truncation':'disabled','usage':null,'user':'u-1',"
                   "'metadata':{'k':'v'}}");
    cJSON_Delete(r);
    /* ill-typed echoes fall back; generate_summary stands for summary; no request at all */
    r = answer("{'instructions':5,'max_output_tokens':'x','metadata':[],'tools':{},"
               "'tool_choice':3,'parallel_tool_calls':'no','temperature':null,'user':7,"
               "'reasoning':{'generate_summary':'concise'},'text':{'format':'text'}}",
               COMPLETION("{'role':'assistant','content':null}", "stop"), NULL);
    assert_json(r, "{'id':'resp_abc123','object':'response','created_at':1741569952,"
                   "'status':'completed','error':null,'incomplete_details':null,"
                   "'instructions':null,'max_output_tokens':null,'model':'gpt-test','output':[],"
                   "'parallel_tool_calls':true,'previous_response_id':null,'reasoning':"
                   "{'effort':null,'summary':'concise'},'store':false,'temperature':null,"
                   "'text':{'format':{'type':'text'}},'tool_choice':'auto','tools':[],"
                   "'top_p':null,'truncation':'disabled','usage':null,'metadata':{}}");
    cJSON_Delete(r);
}

static void
test_object_failed_and_no_request(void **state)
{
    sllmp_responses_meta_t m = {.req = NULL, .id = "resp_x", .created_at = 5, .model = NULL};
    cJSON *r;

    (void)state;
    r = sllmp_responses_object(&m, "failed", NULL, "rate_limit_exceeded", "slow down", NULL, NULL);
    assert_json(r, "{'id':'resp_x','object':'response','created_at':5,'status':'failed',"
                   "'error':{'code':'rate_limit_exceeded','message':'slow down'},"
                   "'incomplete_details':null,'instructions':null,'max_output_tokens':null,"
                   "'model':'','output':[],'parallel_tool_calls':true,"
                   "'previous_response_id':null,'reasoning':{'effort':null,'summary':null},"
                   "'store':false,'temperature':null,'text':{'format':{'type':'text'}},"
                   "'tool_choice':'auto','tools':[],'top_p':null,'truncation':'disabled',"
                   "'usage':null,'metadata':{}}");
    cJSON_Delete(r);
}

static void
test_answer_not_a_completion(void **state)
{
    static const char *const bad[] = {
        "[]",
        "'x'",
        "{'object':'chat.completion'}",
        "{'object':'chat.completion','choices':{}}",
        "{'object':'chat.completion.chunk','choices':[]}",
        "{'object':7,'choices':[]}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *r = answer(PLAIN_REQ, bad[i], &U_IN);

        if (r != NULL) {
            cJSON_Delete(r);
            fail_msg("translated: %s", bad[i]);
        }
    }
    /* ill-typed members inside a completion: no crash, nothing taken from them */
    assert_answer("{'choices':[{'index':0,'message':{'content':5,'refusal':[],'reasoning_content':"
                  "{},'tool_calls':[1,{'function':'f'},{'function':{'name':3,'arguments':4}}]},"
                  "'finish_reason':9,'logprobs':'x'}]}",
                  &U_IN,
                  COMPLETED("[{'id':'fc_abc12300','type':'function_call','status':'completed',"
                            "'arguments':'','call_id':'call_abc12300','name':''}]",
                            USAGE));
}

/* ---- streams -------------------------------------------------------------------------------- */

typedef struct {
    sllmp_rstream_t s;
    cJSON *events; /* each event's data as emitted */
    rcheck_t check;
    int stop_at; /* > 0: emit returns 7 on that event (1-based) */
    cJSON *req;
} rfeed_t;

static int
collect(void *ud, const char *type, const cJSON *data)
{
    rfeed_t *f = ud;

    cJSON_AddItemToArray(f->events, cJSON_Duplicate(data, 1));
    if (rcheck_event(&f->check, type, data) != 0) {
        fail_msg("stream check: %s", f->check.why);
    }
    if (f->stop_at > 0 && cJSON_GetArraySize(f->events) == f->stop_at) {
        return 7;
    }
    return 0;
}

static void
rfeed_init(rfeed_t *f, const char *req_sq)
{
    memset(f, 0, sizeof(*f));
    f->events = cJSON_CreateArray();
    f->req = parse_sq(req_sq != NULL ? req_sq : PLAIN_REQ);
    f->s.meta = meta_of(f->req);
    f->s.emit = collect;
    f->s.ud = f;
}

static void
rfeed_free(rfeed_t *f)
{
    sllmp_rstream_free(&f->s);
    rcheck_free(&f->check);
    cJSON_Delete(f->events);
    cJSON_Delete(f->req);
}

/* Feeds chunks (single-quoted JSON, NULL-terminated); returns the last non-zero return or 0. */
static int
chunks(rfeed_t *f, ...)
{
    va_list ap;
    const char *c;
    int rc = 0;

    va_start(ap, f);
    while ((c = va_arg(ap, const char *)) != NULL) {
        cJSON *j = parse_sq(c);
        int r = sllmp_rstream_chunk(&f->s, j);

        cJSON_Delete(j);
        if (r != 0) {
            rc = r;
        }
    }
    va_end(ap);
    return rc;
}

/* The events' types must be exactly the list (NULL-terminated); sequence numbers 0, 1, ... */
static void
assert_types(const rfeed_t *f, ...)
{
    va_list ap;
    const char *t;
    int i = 0;

    va_start(ap, f);
    while ((t = va_arg(ap, const char *)) != NULL) {
        const cJSON *e = cJSON_GetArrayItem(f->events, i);
        const cJSON *type = cJSON_GetObjectItem(e, "type");

        if (e == NULL) {
            fail_msg("event %d missing (want %s)", i, t);
        }
        if (!cJSON_IsString(type) || strcmp(type->valuestring, t) != 0) {
            fail_msg("event %d: %s, want %s", i, cJSON_IsString(type) ? type->valuestring : "?", t);
        }
        assert_int_equal(cJSON_GetObjectItem(e, "sequence_number")->valuedouble, i);
        i++;
    }
    va_end(ap);
    if (cJSON_GetArraySize(f->events) != i) {
        char *s = cJSON_PrintUnformatted(cJSON_GetArrayItem(f->events, i));

        print_error("first extra event: %s\n", s);
        free(s);
        fail_msg("%d events, want %d", cJSON_GetArraySize(f->events), i);
    }
}

static const cJSON *
ev(const rfeed_t *f, int i)
{
    return cJSON_GetArrayItem(f->events, i);
}

/* The stream's final Response must equal from_chat's for the same answer, unstreamed. */
static void
assert_same_as_unstreamed(const rfeed_t *f, const char *completion_sq, const sllmp_usage_t *u)
{
    const cJSON *last = ev(f, cJSON_GetArraySize(f->events) - 1);
    cJSON *r = answer(PLAIN_REQ, completion_sq, u);

    assert_non_null(r);
    if (!cJSON_Compare(cJSON_GetObjectItem(last, "response"), r, 1)) {
        char *a = cJSON_PrintUnformatted(cJSON_GetObjectItem(last, "response"));
        char *b = cJSON_PrintUnformatted(r);

        print_error("streamed:   %s\nunstreamed: %s\n", a, b);
        free(a);
        free(b);
        cJSON_Delete(r);
        fail();
    }
    cJSON_Delete(r);
}

#define CHUNK(delta, finish)                                                                       \
    "{'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'up',"                \
    "'choices':[{'index':0,'delta':" delta ",'logprobs':null,'finish_reason':" finish "}]}"
#define ROLE        CHUNK("{'role':'assistant','content':''}", "null")
#define C(delta)    CHUNK(delta, "null")
#define FIN(reason) CHUNK("{}", "'" reason "'")
#define USAGE_CHUNK                                                                                \
    "{'id':'chatcmpl-1','object':'chat.completion.chunk','created':1,'model':'up','choices':[],"   \
    "'usage':{'prompt_tokens':10,'completion_tokens':5,'total_tokens':15}}"

#define IN_PROGRESS RESPONSE("in_progress", "null", "null", "[]", "null")

static void
test_stream_text(void **state)
{
    rfeed_t f;

    (void)state;
    rfeed_init(&f, NULL);
    assert_int_equal(chunks(&f, ROLE, C("{'content':'Hel'}"), C("{'content':'lo'}"), FIN("stop"),
                            USAGE_CHUNK, NULL),
                     0);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_types(&f, "response.created", "response.in_progress", "response.output_item.added",
                 "response.content_part.added", "response.output_text.delta",
                 "response.output_text.delta", "response.output_text.done",
                 "response.content_part.done", "response.output_item.done", "response.completed",
                 NULL);
    assert_json(ev(&f, 0),
                "{'type':'response.created','sequence_number':0,'response':" IN_PROGRESS "}");
    assert_json(ev(&f, 1), "{'type':'response.in_progress','sequence_number':1,'response':"
                           "" IN_PROGRESS "}");
    assert_json(ev(&f, 2), "{'type':'response.output_item.added','sequence_number':2,"
                           "'output_index':0,'item':{'id':'msg_abc12300','type':'message',"
                           "'status':'in_progress','content':[],'role':'assistant'}}");
    assert_json(ev(&f, 3), "{'type':'response.content_part.added','sequence_number':3,"
                           "'item_id':'msg_abc12300','output_index':0,'content_index':0,'part':"
                           "{'type':'output_text','annotations':[],'logprobs':[],'text':''}}");
    assert_json(ev(&f, 4), "{'type':'response.output_text.delta','sequence_number':4,"
                           "'item_id':'msg_abc12300','output_index':0,'content_index':0,"
                           "'delta':'Hel','logprobs':[]}");
    assert_json(ev(&f, 6), "{'type':'response.output_text.done','sequence_number':6,"
                           "'item_id':'msg_abc12300','output_index':0,'content_index':0,"
                           "'text':'Hello','logprobs':[]}");
    assert_json(ev(&f, 7), "{'type':'response.content_part.done','sequence_number':7,"
                           "'item_id':'msg_abc12300','output_index':0,'content_index':0,'part':"
                           "{'type':'output_text','annotations':[],'logprobs':[],'text':'Hello'}}");
    assert_json(ev(&f, 8), "{'type':'response.output_item.done','sequence_number':8,"
                           "'output_index':0,'item':{'id':'msg_abc12300','type':'message',"
                           "'status':'completed','content':[{'type':'output_text',"
                           "'annotations':[],'logprobs':[],'text':'Hello'}],'role':'assistant'}}");
    assert_json(ev(&f, 9),
                "{'type':'response.completed','sequence_number':9,'response':" COMPLETED(
                    "[{'id':'msg_abc12300','type':'message','status':'completed','content':"
                    "[{'type':'output_text','annotations':[],'logprobs':[],'text':'Hello'}],"
                    "'role':'assistant'}]",
                    USAGE) "}");
    assert_same_as_unstreamed(&f, COMPLETION("{'role':'assistant','content':'Hello'}", "stop"),
                              &U_IN);
    /* nothing after the end */
    assert_int_equal(chunks(&f, C("{'content':'late'}"), NULL), 0);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_int_equal(sllmp_rstream_fail(&f.s, NULL, "x"), 0);
    assert_int_equal(cJSON_GetArraySize(f.events), 10);
    rfeed_free(&f);
}

static void
test_stream_reasoning_then_text(void **state)
{
    rfeed_t f;

    (void)state;
    rfeed_init(&f, NULL);
    chunks(&f, ROLE, C("{'reasoning_content':'Let me '}"), C("{'reasoning_content':'think.'}"),
           C("{'thinking_blocks':[{'type':'thinking','thinking':'Let me think.','signature':'s',"
             "'index':0}]}"),
           C("{'content':'Hi'}"), FIN("stop"), NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_types(&f, "response.created", "response.in_progress", "response.output_item.added",
                 "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
                 "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
                 "response.reasoning_summary_part.done", "response.output_item.done",
                 "response.output_item.added", "response.content_part.added",
                 "response.output_text.delta", "response.output_text.done",
                 "response.content_part.done", "response.output_item.done", "response.completed",
                 NULL);
    assert_json(ev(&f, 2), "{'type':'response.output_item.added','sequence_number':2,"
                           "'output_index':0,'item':{'id':'rs_abc12300','type':'reasoning',"
                           "'summary':[]}}");
    assert_json(ev(&f, 3), "{'type':'response.reasoning_summary_part.added','sequence_number':3,"
                           "'item_id':'rs_abc12300','output_index':0,'summary_index':0,"
                           "'part':{'type':'summary_text','text':''}}");
    assert_json(ev(&f, 4), "{'type':'response.reasoning_summary_text.delta','sequence_number':4,"
                           "'item_id':'rs_abc12300','output_index':0,'summary_index':0,"
                           "'delta':'Let me '}");
    assert_json(ev(&f, 6), "{'type':'response.reasoning_summary_text.done','sequence_number':6,"
                           "'item_id':'rs_abc12300','output_index':0,'summary_index':0,"
                           "'text':'Let me think.'}");
    assert_json(ev(&f, 7), "{'type':'response.reasoning_summary_part.done','sequence_number':7,"
                           "'item_id':'rs_abc12300','output_index':0,'summary_index':0,"
                           "'part':{'type':'summary_text','text':'Let me think.'}}");
    /* the signed block, whole, in encrypted_content (its stream "index" left out) */
    assert_json(ev(&f, 8), "{'type':'response.output_item.done','sequence_number':8,"
                           "'output_index':0,'item':{'id':'rs_abc12300','type':'reasoning',"
                           "'summary':[{'type':'summary_text','text':'Let me think.'}],"
                           "'encrypted_content':'" SLLMP_THINKING_PREFIX "[{\\'type\\':"
                           "\\'thinking\\',\\'thinking\\':\\'Let me think.\\',"
                           "\\'signature\\':\\'s\\'}]'}}");
    assert_json(ev(&f, 10), "{'type':'response.content_part.added','sequence_number':10,"
                            "'item_id':'msg_abc12301','output_index':1,'content_index':0,'part':"
                            "{'type':'output_text','annotations':[],'logprobs':[],'text':''}}");
    assert_same_as_unstreamed(&f,
                              COMPLETION("{'role':'assistant','reasoning_content':'Let me think.',"
                                         "'thinking_blocks':[{'type':'thinking','thinking':"
                                         "'Let me think.','signature':'s'}],'content':'Hi'}",
                                         "stop"),
                              &U_IN);
    rfeed_free(&f);

    /* a redacted block without text opens its reasoning item */
    rfeed_init(&f, NULL);
    chunks(&f, ROLE, C("{'thinking_blocks':[{'type':'redacted_thinking','data':'ENC','index':0}]}"),
           C("{'content':'Hi'}"), FIN("stop"), NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_same_as_unstreamed(&f,
                              COMPLETION("{'role':'assistant','thinking_blocks':[{'type':"
                                         "'redacted_thinking','data':'ENC'}],'content':'Hi'}",
                                         "stop"),
                              &U_IN);
    rfeed_free(&f);
}

/* OpenAI's parallel calls: the first fragment of each with index, id, type and name, then
 * argument pieces. */
#define CALL_START(i, id, name)                                                                    \
    C("{'tool_calls':[{'index':" #i ",'id':'" id "','type':'function','function':{'name':'" name   \
      "','arguments':''}}]}")
#define CALL_ARGS(i, args)                                                                         \
    C("{'tool_calls':[{'index':" #i ",'function':{'arguments':'" args "'}}]}")

static void
test_stream_two_parallel_calls(void **state)
{
    rfeed_t f;

    (void)state;
    rfeed_init(&f, NULL);
    chunks(&f, CHUNK("{'role':'assistant','content':null}", "null"), CALL_START(0, "call_A", "f"),
           CALL_ARGS(0, "{\\'a\\':"), CALL_ARGS(0, "1}"), CALL_START(1, "call_B", "g"),
           CALL_ARGS(1, "{\\'b\\'"), CALL_ARGS(1, ":2}"), FIN("tool_calls"), USAGE_CHUNK, NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_types(&f, "response.created", "response.in_progress", "response.output_item.added",
                 "response.function_call_arguments.delta", "response.function_call_arguments.delta",
                 "response.function_call_arguments.done", "response.output_item.done",
                 "response.output_item.added", "response.function_call_arguments.delta",
                 "response.function_call_arguments.delta", "response.function_call_arguments.done",
                 "response.output_item.done", "response.completed", NULL);
    assert_json(ev(&f, 2), "{'type':'response.output_item.added','sequence_number':2,"
                           "'output_index':0,'item':{'id':'fc_abc12300','type':'function_call',"
                           "'status':'in_progress','arguments':'','call_id':'call_A','name':'f'}}");
    assert_json(ev(&f, 3), "{'type':'response.function_call_arguments.delta','sequence_number':3,"
                           "'item_id':'fc_abc12300','output_index':0,'delta':'{\\'a\\':'}");
    assert_json(ev(&f, 5), "{'type':'response.function_call_arguments.done','sequence_number':5,"
                           "'item_id':'fc_abc12300','output_index':0,'name':'f',"
                           "'arguments':'{\\'a\\':1}'}");
    assert_json(ev(&f, 11), "{'type':'response.output_item.done','sequence_number':11,"
                            "'output_index':1,'item':{'id':'fc_abc12301','type':'function_call',"
                            "'status':'completed','arguments':'{\\'b\\':2}','call_id':'call_B',"
                            "'name':'g'}}");
    assert_same_as_unstreamed(
        &f,
        COMPLETION("{'role':'assistant','content':null,'tool_calls':[{'id':'call_A','type':"
                   "'function','function':{'name':'f','arguments':'{\\'a\\':1}'}},{'id':'call_B',"
                   "'type':'function','function':{'name':'g','arguments':'{\\'b\\':2}'}}]}",
                   "tool_calls"),
        &U_IN);
    rfeed_free(&f);

    /* every call at index 0 with its own id (some OpenAI-compatible servers), ids repeated on
     * each fragment, and a stray fragment of a call already closed */
    rfeed_init(&f, NULL);
    chunks(&f, ROLE, CALL_START(1, "call_A", "f"), CALL_ARGS(1, "{}"),
           C("{'tool_calls':[{'index':1,'id':'call_A','function':{'arguments':''}}]}"),
           CALL_START(1, "call_B", "g"), CALL_ARGS(0, "junk"), CALL_ARGS(1, "{}"), NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, NULL), 0);
    assert_json(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(ev(&f, cJSON_GetArraySize(f.events) - 1), "response"), "output"),
        "[{'id':'fc_abc12300','type':'function_call','status':'completed','arguments':"
        "'{}','call_id':'call_A','name':'f'},{'id':'fc_abc12301','type':'function_call',"
        "'status':'completed','arguments':'{}','call_id':'call_B','name':'g'}]");
    rfeed_free(&f);
}

/* The unstreamed answer of the completion: its first item's call_id is want. */
static void
assert_first_call_id(const char *completion, const char *want)
{
    cJSON *r = answer(PLAIN_REQ, completion, &U_IN);

    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
                            cJSON_GetArrayItem(cJSON_GetObjectItem(r, "output"), 0), "call_id")),
                        want);
    cJSON_Delete(r);
}

/* A Gemini thought signature rides in the call_id, streamed or not; a later fragment that
 * repeats the call's own id is the same call. */
static void
test_thought_signature_in_call_id(void **state)
{
    static const char completion[] =
        COMPLETION("{'role':'assistant','content':null,'tool_calls':[{'id':'call_G','type':"
                   "'function','function':{'name':'f','arguments':'{}'},'extra_content':"
                   "{'google':{'thought_signature':'SIG=='}}}]}",
                   "tool_calls");
    rfeed_t f;

    (void)state;
    assert_first_call_id(completion, "call_G" SLLMP_THOUGHT_SEP "SIG==");

    rfeed_init(&f, NULL);
    chunks(&f, ROLE,
           C("{'tool_calls':[{'index':0,'id':'call_G','type':'function','function':{'name':'f',"
             "'arguments':''},'extra_content':{'google':{'thought_signature':'SIG=='}}}]}"),
           C("{'tool_calls':[{'index':0,'id':'call_G','function':{'arguments':'{}'}}]}"),
           FIN("tool_calls"), NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_types(&f, "response.created", "response.in_progress", "response.output_item.added",
                 "response.function_call_arguments.delta", "response.function_call_arguments.done",
                 "response.output_item.done", "response.completed", NULL);
    assert_same_as_unstreamed(&f, completion, &U_IN);
    rfeed_free(&f);
}

/* The Gemini translator puts the signature in the chat call's id as well (LiteLLM's shape):
 * the call_id carries it once, streamed or not, and a later fragment repeating that id (or the
 * id before the separator) is still the same call. */
static void
test_thought_signature_already_in_id(void **state)
{
    static const char completion[] =
        COMPLETION("{'role':'assistant','content':null,'tool_calls':[{'id':'call_G__thought__SIG=="
                   "','type':'function','function':{'name':'f','arguments':'{}'},'extra_content':"
                   "{'google':{'thought_signature':'SIG=='}}}]}",
                   "tool_calls");
    rfeed_t f;

    (void)state;
    assert_first_call_id(completion, "call_G" SLLMP_THOUGHT_SEP "SIG==");

    rfeed_init(&f, NULL);
    chunks(&f, ROLE,
           C("{'tool_calls':[{'index':0,'id':'call_G__thought__SIG==','type':'function',"
             "'function':{'name':'f','arguments':''},'extra_content':{'google':"
             "{'thought_signature':'SIG=='}}}]}"),
           C("{'tool_calls':[{'index':0,'id':'call_G__thought__SIG==','function':{'arguments':"
             "'{'}}]}"),
           C("{'tool_calls':[{'index':0,'id':'call_G','function':{'arguments':'}'}}]}"),
           FIN("tool_calls"), NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_string_equal(cJSON_GetStringValue(
                            cJSON_GetObjectItem(cJSON_GetObjectItem(ev(&f, 2), "item"), "call_id")),
                        "call_G" SLLMP_THOUGHT_SEP "SIG==");
    assert_types(&f, "response.created", "response.in_progress", "response.output_item.added",
                 "response.function_call_arguments.delta", "response.function_call_arguments.delta",
                 "response.function_call_arguments.done", "response.output_item.done",
                 "response.completed", NULL);
    assert_same_as_unstreamed(&f, completion, &U_IN);
    rfeed_free(&f);
}

static void
test_stream_text_then_call(void **state)
{
    rfeed_t f;

    (void)state;
    rfeed_init(&f, NULL);
    chunks(&f, ROLE, C("{'content':'Let me check.'}"), CALL_START(0, "call_A", "f"),
           CALL_ARGS(0, "{}"), FIN("tool_calls"), NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_types(&f, "response.created", "response.in_progress", "response.output_item.added",
                 "response.content_part.added", "response.output_text.delta",
                 "response.output_text.done", "response.content_part.done",
                 "response.output_item.done", "response.output_item.added",
                 "response.function_call_arguments.delta", "response.function_call_arguments.done",
                 "response.output_item.done", "response.completed", NULL);
    assert_same_as_unstreamed(
        &f,
        COMPLETION("{'role':'assistant','content':'Let me check.','tool_calls':[{'id':'call_A',"
                   "'type':'function','function':{'name':'f','arguments':'{}'}}]}",
                   "tool_calls"),
        &U_IN);
    rfeed_free(&f);
}

static void
test_stream_refusal_and_logprobs(void **state)
{
    rfeed_t f;

    (void)state;
    rfeed_init(&f, NULL);
    chunks(&f, ROLE,
           "{'choices':[{'index':0,'delta':{'content':'Hi'},'logprobs':{'content':[{'token':'Hi',"
           "'logprob':-0.5,'bytes':[72,105],'top_logprobs':[]}]},'finish_reason':null}]}",
           C("{'refusal':'No.'}"), FIN("stop"), NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_types(
        &f, "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.output_item.added",
        "response.content_part.added", "response.refusal.delta", "response.refusal.done",
        "response.content_part.done", "response.output_item.done", "response.completed", NULL);
    assert_json(ev(&f, 4), "{'type':'response.output_text.delta','sequence_number':4,"
                           "'item_id':'msg_abc12300','output_index':0,'content_index':0,"
                           "'delta':'Hi','logprobs':[{'token':'Hi','logprob':-0.5,'bytes':[72,105],"
                           "'top_logprobs':[]}]}");
    assert_json(ev(&f, 5), "{'type':'response.output_text.done','sequence_number':5,"
                           "'item_id':'msg_abc12300','output_index':0,'content_index':0,"
                           "'text':'Hi','logprobs':[{'token':'Hi','logprob':-0.5,'bytes':[72,105],"
                           "'top_logprobs':[]}]}");
    assert_json(ev(&f, 9), "{'type':'response.content_part.added','sequence_number':9,"
                           "'item_id':'msg_abc12301','output_index':1,'content_index':0,"
                           "'part':{'type':'refusal','refusal':''}}");
    assert_json(ev(&f, 10), "{'type':'response.refusal.delta','sequence_number':10,"
                            "'item_id':'msg_abc12301','output_index':1,'content_index':0,"
                            "'delta':'No.'}");
    assert_json(ev(&f, 11), "{'type':'response.refusal.done','sequence_number':11,"
                            "'item_id':'msg_abc12301','output_index':1,'content_index':0,"
                            "'refusal':'No.'}");
    rfeed_free(&f);
}

static void
test_stream_incomplete(void **state)
{
    rfeed_t f;

    (void)state;
    rfeed_init(&f, NULL);
    chunks(&f, ROLE, C("{'content':'Once upon a'}"), FIN("length"), NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_types(&f, "response.created", "response.in_progress", "response.output_item.added",
                 "response.content_part.added", "response.output_text.delta",
                 "response.output_text.done", "response.content_part.done",
                 "response.output_item.done", "response.incomplete", NULL);
    assert_json(ev(&f, 7), "{'type':'response.output_item.done','sequence_number':7,"
                           "'output_index':0,'item':{'id':'msg_abc12300','type':'message',"
                           "'status':'incomplete','content':[{'type':'output_text',"
                           "'annotations':[],'logprobs':[],'text':'Once upon a'}],"
                           "'role':'assistant'}}");
    assert_same_as_unstreamed(
        &f, COMPLETION("{'role':'assistant','content':'Once upon a'}", "length"), &U_IN);
    rfeed_free(&f);

    /* content_filter with nothing said */
    rfeed_init(&f, NULL);
    chunks(&f, ROLE, FIN("content_filter"), NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_types(&f, "response.created", "response.in_progress", "response.incomplete", NULL);
    assert_json(ev(&f, 2),
                "{'type':'response.incomplete','sequence_number':2,'response':" RESPONSE(
                    "incomplete", "null", "{'reason':'content_filter'}", "[]", USAGE) "}");
    rfeed_free(&f);
}

static void
test_stream_fail(void **state)
{
    rfeed_t f;

    (void)state;
    /* before anything */
    rfeed_init(&f, NULL);
    assert_int_equal(sllmp_rstream_fail(&f.s, "server_error", "upstream went away"), 0);
    assert_types(&f, "response.created", "response.in_progress", "error", "response.failed", NULL);
    assert_json(ev(&f, 2), "{'type':'error','sequence_number':2,'code':'server_error',"
                           "'message':'upstream went away','param':null}");
    assert_json(ev(&f, 3), "{'type':'response.failed','sequence_number':3,'response':" RESPONSE(
                               "failed", "{'code':'server_error','message':'upstream went away'}",
                               "null", "[]", "null") "}");
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0); /* exactly one of them counts */
    assert_int_equal(cJSON_GetArraySize(f.events), 4);
    rfeed_free(&f);

    /* after a reasoning item and some text: the reasoning is done, the open message is not */
    rfeed_init(&f, NULL);
    chunks(&f, ROLE, C("{'reasoning_content':'Hm'}"), C("{'content':'Part'}"), NULL);
    assert_int_equal(sllmp_rstream_fail(&f.s, NULL, NULL), 0);
    assert_types(&f, "response.created", "response.in_progress", "response.output_item.added",
                 "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
                 "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
                 "response.output_item.done", "response.output_item.added",
                 "response.content_part.added", "response.output_text.delta", "error",
                 "response.failed", NULL);
    assert_json(ev(&f, 11), "{'type':'error','sequence_number':11,'code':'server_error',"
                            "'message':'','param':null}");
    assert_json(ev(&f, 12), "{'type':'response.failed','sequence_number':12,'response':" RESPONSE(
                                "failed", "{'code':'server_error','message':''}", "null",
                                "[{'id':'rs_abc12300','type':'reasoning','summary':[{'type':"
                                "'summary_text','text':'Hm'}]}]",
                                "null") "}");
    rfeed_free(&f);
}

static void
test_stream_emit_stops(void **state)
{
    rfeed_t f;

    (void)state;
    /* stopped at output_item.added: the delta of the same chunk does not go */
    rfeed_init(&f, NULL);
    f.stop_at = 3;
    assert_int_equal(chunks(&f, ROLE, C("{'content':'a'}"), NULL), 7);
    assert_int_equal(cJSON_GetArraySize(f.events), 3);
    assert_int_equal(chunks(&f, C("{'content':'b'}"), NULL), 7);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 7);
    assert_int_equal(sllmp_rstream_fail(&f.s, "x", "y"), 7);
    assert_int_equal(cJSON_GetArraySize(f.events), 3);
    rfeed_free(&f);

    /* stopped on response.created, by finish */
    rfeed_init(&f, NULL);
    f.stop_at = 1;
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 7);
    assert_int_equal(cJSON_GetArraySize(f.events), 1);
    rfeed_free(&f);

    /* stopped in the middle of closing an item (output_text.done), by the call that opens the
     * next: the rest of the close does not go, and everything is freed */
    rfeed_init(&f, NULL);
    f.stop_at = 6;
    assert_int_equal(
        chunks(&f, ROLE, C("{'content':'a'}"), CALL_START(0, "c", "f"), CALL_ARGS(0, "{}"), NULL),
        7);
    assert_int_equal(cJSON_GetArraySize(f.events), 6);
    rfeed_free(&f);

    /* stopped by the error event of fail: no response.failed */
    rfeed_init(&f, NULL);
    f.stop_at = 3;
    assert_int_equal(sllmp_rstream_fail(&f.s, "c", "m"), 7);
    assert_int_equal(cJSON_GetArraySize(f.events), 3);
    rfeed_free(&f);
}

static void
test_stream_other_choices_and_usage_chunks_ignored(void **state)
{
    rfeed_t f;

    (void)state;
    rfeed_init(&f, NULL);
    assert_int_equal(chunks(&f, USAGE_CHUNK,
                            "{'choices':[{'index':1,'delta':{'content':'other'},"
                            "'finish_reason':'length'}]}",
                            NULL),
                     0);
    assert_int_equal(cJSON_GetArraySize(f.events), 0); /* not even response.created */
    chunks(&f, ROLE,
           "{'choices':[{'index':1,'delta':{'content':'other'},'finish_reason':null},"
           "{'index':0,'delta':{'content':'mine'},'finish_reason':null}]}",
           "{'choices':[{'index':1,'delta':{},'finish_reason':'length'}]}",
           "{'choices':[{'index':1,'delta':{'tool_calls':[{'index':0,'id':'x','function':"
           "{'name':'f','arguments':'{}'}}]},'finish_reason':null}]}",
           C("{}"), FIN("stop"), USAGE_CHUNK, NULL);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_same_as_unstreamed(&f, COMPLETION("{'role':'assistant','content':'mine'}", "stop"),
                              &U_IN);
    rfeed_free(&f);
}

static void
test_stream_malformed_chunks(void **state)
{
    static const char *const bad[] = {
        "[]",
        "'chunk'",
        "null",
        "{}",
        "{'choices':{}}",
        "{'choices':{'index':0,'delta':{'content':'x'}}}",
        "{'choices':[1,'x',null,[]]}",
        "{'choices':[{'index':'0','delta':{'content':'x'}}]}",
        "{'choices':[{'index':0,'delta':'content'}]}",
        "{'choices':[{'index':0,'delta':{'content':5,'reasoning_content':[],'refusal':{}}}]}",
        "{'choices':[{'index':0,'delta':{'tool_calls':{'index':0}}}]}",
        "{'choices':[{'index':0,'delta':{'tool_calls':[1,'x',null]}}]}",
        "{'choices':[{'index':0,'delta':{'tool_calls':[{'index':'a','function':'f'}]}}]}",
        "{'choices':[{'index':0,'delta':{'tool_calls':[{'index':1e300,'id':5,"
        "'function':{'name':[],'arguments':7}}]}}]}",
        "{'choices':[{'index':0,'delta':{'tool_calls':[{'index':-1e300,'function':"
        "{'arguments':'x'}}]}}]}",
        "{'choices':[{'index':0,'delta':{'tool_calls':[{'index':2147483648,'function':"
        "{'arguments':'y'}}]}}]}",
        "{'choices':[{'index':0,'delta':{'content':'ok'},'finish_reason':7,'logprobs':'x'}]}",
        "{'choices':[{'index':0,'delta':{'content':'ok'},'logprobs':{'content':[1,{'token':'t'}]}}"
        "]}",
        "{'choices':[{'index':0,'delta':{},'finish_reason':'a_very_long_finish_reason_that_does_"
        "not_fit_in_thirty_two_bytes'}]}",
    };
    rfeed_t f;

    (void)state;
    rfeed_init(&f, "{'tools':5,'metadata':'x','text':[],'reasoning':'high'}");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *j = parse_sq(bad[i]);

        assert_int_equal(sllmp_rstream_chunk(&f.s, j), 0);
        cJSON_Delete(j);
    }
    assert_int_equal(sllmp_rstream_chunk(&f.s, NULL), 0);
    assert_int_equal(sllmp_rstream_finish(&f.s, &U_IN), 0);
    assert_string_equal(
        cJSON_GetObjectItem(ev(&f, cJSON_GetArraySize(f.events) - 1), "type")->valuestring,
        "response.completed");
    rfeed_free(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_text),
        cmocka_unit_test(test_answer_refusal),
        cmocka_unit_test(test_answer_tool_calls),
        cmocka_unit_test(test_answer_reasoning_text_and_call),
        cmocka_unit_test(test_answer_length_is_incomplete),
        cmocka_unit_test(test_answer_content_filter),
        cmocka_unit_test(test_answer_usage),
        cmocka_unit_test(test_answer_logprobs),
        cmocka_unit_test(test_answer_echoes),
        cmocka_unit_test(test_object_failed_and_no_request),
        cmocka_unit_test(test_answer_not_a_completion),
        cmocka_unit_test(test_stream_text),
        cmocka_unit_test(test_stream_reasoning_then_text),
        cmocka_unit_test(test_stream_two_parallel_calls),
        cmocka_unit_test(test_thought_signature_in_call_id),
        cmocka_unit_test(test_thought_signature_already_in_id),
        cmocka_unit_test(test_stream_text_then_call),
        cmocka_unit_test(test_stream_refusal_and_logprobs),
        cmocka_unit_test(test_stream_incomplete),
        cmocka_unit_test(test_stream_fail),
        cmocka_unit_test(test_stream_emit_stops),
        cmocka_unit_test(test_stream_other_choices_and_usage_chunks_ignored),
        cmocka_unit_test(test_stream_malformed_chunks),
    };

    return cmocka_run_group_tests_name("responses_answer", tests, NULL, NULL);
}
