/*
 * Chat completions through the Responses API (src/providers/responses_xlate.c, the contract in
 * include/sllmp/translate.h): the chat request as a Responses request, the Response as a
 * chat.completion, and its events as chat chunks. Golden tests on whole JSON trees; JSON is
 * written with single quotes (sq()).
 */
#include "sllmp/translate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_helpers.h"

/* ---- the request ------------------------------------------------------------------------ */

static cJSON *
to_responses(const char *req_sq, sllmp_xerr_t *e)
{
    cJSON *in = parse_sq(req_sq), *copy = cJSON_Duplicate(in, 1), *out;

    memset(e, 0x5a, sizeof(*e)); /* garbage: the translator must clear it */
    out = sllmp_chat_to_responses(in, "gpt-5-codex", e);
    assert_true(cJSON_Compare(in, copy, 1));
    if (out == NULL) {
        assert_non_null(memchr(e->param, '\0', sizeof(e->param)));
        assert_true(e->message[0] != '\0');
    }
    cJSON_Delete(in);
    cJSON_Delete(copy);
    return out;
}

static void
test_request_whole(void **state)
{
    sllmp_xerr_t e;
    cJSON *out;

    (void)state;
    out = to_responses(
        "{'model':'codex','stream':true,'temperature':0.3,'user':'u1','stop':['x'],'seed':1,"
        "'stream_options':{'include_usage':true},'max_tokens':10,'max_completion_tokens':20,"
        "'reasoning_effort':'high','verbosity':'low','logprobs':true,'top_logprobs':2,"
        "'parallel_tool_calls':false,'frequency_penalty':0.5,'prompt_cache_key':'k',"
        "'messages':["
        "{'role':'developer','content':'rules'},"
        "{'role':'user','content':[{'type':'text','text':'look'},"
        "{'type':'image_url','image_url':{'url':'https://x/i.png','detail':'low'}},"
        "{'type':'file','file':{'file_id':'file-1'}}]},"
        "{'role':'assistant','content':'calling','tool_calls':[{'id':'call_1','type':"
        "'function','function':{'name':'f','arguments':'{\\\"a\\\":1}'}}]},"
        "{'role':'tool','tool_call_id':'call_1','content':[{'type':'text','text':'42'}]},"
        "{'role':'assistant','content':null,'refusal':'no'}],"
        "'tools':[{'type':'function','function':{'name':'f','description':'d',"
        "'parameters':{'type':'object'},'strict':true}}],"
        "'tool_choice':{'type':'function','function':{'name':'f'}},"
        "'response_format':{'type':'json_schema','json_schema':{'name':'n','schema':"
        "{'type':'object'},'strict':true}}}",
        &e);
    assert_non_null(out);
    assert_json(out,
                "{'model':'gpt-5-codex','stream':true,'temperature':0.3,'user':'u1',"
                "'max_output_tokens':20,'reasoning':{'effort':'high'},"
                "'include':['message.output_text.logprobs'],'top_logprobs':2,"
                "'parallel_tool_calls':false,'prompt_cache_key':'k','store':false,"
                "'input':["
                "{'type':'message','role':'developer','content':[{'type':'input_text',"
                "'text':'rules'}]},"
                "{'type':'message','role':'user','content':[{'type':'input_text','text':'look'},"
                "{'type':'input_image','image_url':'https://x/i.png','detail':'low'},"
                "{'type':'input_file','file_id':'file-1'}]},"
                "{'type':'message','role':'assistant','content':[{'type':'output_text',"
                "'text':'calling','annotations':[]}]},"
                "{'type':'function_call','call_id':'call_1','name':'f','arguments':"
                "'{\\\"a\\\":1}'},"
                "{'type':'function_call_output','call_id':'call_1','output':'42'},"
                "{'type':'message','role':'assistant','content':[{'type':'refusal',"
                "'refusal':'no'}]}],"
                "'tools':[{'type':'function','name':'f','description':'d','parameters':"
                "{'type':'object'},'strict':true}],"
                "'tool_choice':{'type':'function','name':'f'},"
                "'text':{'format':{'type':'json_schema','name':'n','schema':{'type':'object'},"
                "'strict':true},'verbosity':'low'}}");
    cJSON_Delete(out);
    /* store: the client's true goes on */
    out = to_responses("{'store':true,'messages':[{'role':'user','content':'a'}],"
                       "'response_format':{'type':'json_object'}}",
                       &e);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(out, "store")));
    assert_json(cJSON_GetObjectItem(out, "text"), "{'format':{'type':'json_object'}}");
    cJSON_Delete(out);
}

static void
test_request_refused(void **state)
{
    static const struct {
        const char *req;
        const char *param;
    } cases[] = {
        {"{'n':2,'messages':[]}", "n"},
        {"{'audio':{'voice':'x'},'messages':[]}", "audio"},
        {"{'modalities':['text','audio'],'messages':[]}", "modalities"},
        {"{'functions':[{'name':'f'}],'messages':[]}", "functions"},
        {"{'messages':{}}", "messages"},
        {"{'messages':[{'role':'function','name':'f','content':'x'}]}", "messages[0].role"},
        {"{'messages':[{'role':'user','content':[{'type':'video'}]}]}", "messages[0].content[0]"},
        {"{'messages':[{'role':'user','content':7}]}", "messages[0].content"},
        {"{'messages':[{'role':'tool','content':'x'}]}", "messages[0].tool_call_id"},
        {"{'messages':[{'role':'assistant','tool_calls':[{'type':'function'}]}]}",
         "messages[0].tool_calls[0]"},
        {"{'messages':[],'tools':[{'type':'custom','custom':{'name':'p'}}]}", "tools[0]"},
        {"{'messages':[],'tool_choice':{'type':'allowed_tools'}}", "tool_choice"},
        {"{'messages':[],'response_format':{'type':'yaml'}}", "response_format"},
    };
    sllmp_xerr_t e;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *out = to_responses(cases[i].req, &e);

        if (out != NULL || strcmp(e.param, cases[i].param) != 0) {
            fail_msg("%s: param '%s' (%s), want '%s'", cases[i].req, e.param, e.message,
                     cases[i].param);
        }
    }
}

/* ---- the answer ------------------------------------------------------------------------- */

static void
test_answer(void **state)
{
    cJSON *resp = parse_sq(
        "{'id':'resp_1','object':'response','status':'completed','output':["
        "{'type':'reasoning','id':'rs_1','summary':[{'type':'summary_text','text':'hm'}]},"
        "{'type':'message','role':'assistant','content':[{'type':'output_text','text':'a'},"
        "{'type':'output_text','text':'b'}]},"
        "{'type':'web_search_call','id':'ws_1'},"
        "{'type':'function_call','call_id':'call_9','name':'f','arguments':'{}'}],"
        "'usage':{'input_tokens':100,'input_tokens_details':{'cached_tokens':40},"
        "'output_tokens':30,'output_tokens_details':{'reasoning_tokens':10}}}");
    sllmp_usage_t u;
    cJSON *out;

    (void)state;
    out = sllmp_responses_to_chat_answer(resp, "codex", 1700000000, &u);
    assert_json(out, "{'id':'resp_1','object':'chat.completion','created':1700000000,"
                     "'model':'codex','choices':[{'index':0,'message':{'role':'assistant',"
                     "'content':'ab','refusal':null,'reasoning_content':'hm','tool_calls':["
                     "{'id':'call_9','type':'function','function':{'name':'f','arguments':"
                     "'{}'}}]},'logprobs':null,'finish_reason':'tool_calls'}],"
                     "'usage':{'prompt_tokens':100,'completion_tokens':30,'total_tokens':130,"
                     "'prompt_tokens_details':{'cached_tokens':40},"
                     "'completion_tokens_details':{'reasoning_tokens':10}}}");
    assert_int_equal(u.input, 60);
    assert_int_equal(u.cache_read, 40);
    assert_int_equal(u.output, 20);
    assert_int_equal(u.reasoning, 10);
    cJSON_Delete(out);
    cJSON_Delete(resp);

    /* cut by max_output_tokens: length; by the content filter: content_filter; a refusal */
    resp = parse_sq("{'status':'incomplete','incomplete_details':{'reason':'max_output_tokens'},"
                    "'output':[{'type':'message','content':[{'type':'output_text','text':'x'}]}]}");
    out = sllmp_responses_to_chat_answer(resp, "m", 1, NULL);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(out, "choices"), 0), "finish_reason")),
        "length");
    cJSON_Delete(out);
    cJSON_Delete(resp);
    resp = parse_sq("{'status':'incomplete','incomplete_details':{'reason':'content_filter'},"
                    "'output':[{'type':'message','content':[{'type':'refusal','refusal':'no'}]}]}");
    out = sllmp_responses_to_chat_answer(resp, "m", 1, NULL);
    assert_json(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "choices"), 0),
                "{'index':0,'message':{'role':'assistant','content':null,'refusal':'no'},"
                "'logprobs':null,'finish_reason':'content_filter'}");
    cJSON_Delete(out);
    cJSON_Delete(resp);
    /* no Response */
    resp = parse_sq("{'error':{'message':'x'}}");
    assert_null(sllmp_responses_to_chat_answer(resp, "m", 1, NULL));
    cJSON_Delete(resp);
}

/* ---- the stream ------------------------------------------------------------------------- */

typedef struct {
    cJSON *chunks;
} sink_t;

static int
sink(void *ud, const cJSON *chunk)
{
    sink_t *k = ud;

    cJSON_AddItemToArray(k->chunks, cJSON_Duplicate(chunk, 1));
    return 0;
}

static int
feed(sllmp_xstream_t *s, const char *type, const char *data_sq)
{
    cJSON *data = parse_sq(data_sq);
    int rc = sllmp_responses_chat_event(s, type, data);

    cJSON_Delete(data);
    return rc;
}

static void
test_stream(void **state)
{
    sink_t k = {cJSON_CreateArray()};
    sllmp_xstream_t s;
    sllmp_usage_t u;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.emit = sink;
    s.ud = &k;
    s.model = "codex";
    s.created = 5;
    s.id = "chatcmpl-x";
    assert_int_equal(feed(&s, "response.created", "{'response':{'id':'resp_7','output':[]}}"), 0);
    assert_int_equal(feed(&s, "response.in_progress", "{'response':{'id':'resp_7'}}"), 0);
    assert_int_equal(
        feed(&s, "response.reasoning_summary_text.delta", "{'output_index':0,'delta':'hm'}"), 0);
    assert_int_equal(feed(&s, "response.output_text.delta", "{'output_index':1,'delta':'Hi'}"), 0);
    assert_int_equal(feed(&s, "response.output_item.added",
                          "{'output_index':2,'item':{'type':'function_call','call_id':'call_1',"
                          "'name':'f','arguments':''}}"),
                     0);
    assert_int_equal(
        feed(&s, "response.function_call_arguments.delta", "{'output_index':2,'delta':'{}'}"), 0);
    assert_int_equal(
        feed(&s, "response.output_item.done", "{'output_index':2,'item':{'type':'function_call'}}"),
        0);
    assert_int_equal(feed(&s, "response.completed",
                          "{'response':{'status':'completed','output':[{'type':'function_call'}],"
                          "'usage':{'input_tokens':9,'output_tokens':4}}}"),
                     0);
    assert_true(s.ended);
    /* nothing after the last event */
    assert_int_equal(feed(&s, "response.output_text.delta", "{'delta':'late'}"), 0);
    assert_json(k.chunks,
                "[{'id':'resp_7','object':'chat.completion.chunk','created':5,'model':'codex',"
                "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'logprobs':null,"
                "'finish_reason':null}]},"
                "{'id':'resp_7','object':'chat.completion.chunk','created':5,'model':'codex',"
                "'choices':[{'index':0,'delta':{'reasoning_content':'hm'},'logprobs':null,"
                "'finish_reason':null}]},"
                "{'id':'resp_7','object':'chat.completion.chunk','created':5,'model':'codex',"
                "'choices':[{'index':0,'delta':{'content':'Hi'},'logprobs':null,"
                "'finish_reason':null}]},"
                "{'id':'resp_7','object':'chat.completion.chunk','created':5,'model':'codex',"
                "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'id':'call_1','type':"
                "'function','function':{'name':'f','arguments':''}}]},'logprobs':null,"
                "'finish_reason':null}]},"
                "{'id':'resp_7','object':'chat.completion.chunk','created':5,'model':'codex',"
                "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':"
                "{'arguments':'{}'}}]},'logprobs':null,'finish_reason':null}]},"
                "{'id':'resp_7','object':'chat.completion.chunk','created':5,'model':'codex',"
                "'choices':[{'index':0,'delta':{},'logprobs':null,'finish_reason':'tool_calls'}]},"
                "{'id':'resp_7','object':'chat.completion.chunk','created':5,'model':'codex',"
                "'choices':[],'usage':{'prompt_tokens':9,'completion_tokens':4,'total_tokens':13,"
                "'prompt_tokens_details':{'cached_tokens':0},"
                "'completion_tokens_details':{'reasoning_tokens':0}}}]");
    memset(&u, 0, sizeof(u));
    sllmp_usage_from_openai(&u, cJSON_GetObjectItem(cJSON_GetArrayItem(k.chunks, 6), "usage"));
    assert_memory_equal(&u, &s.usage, sizeof(u));
    sllmp_xstream_free(&s);
    cJSON_Delete(k.chunks);
}

/* A refusal streams as chat's refusal deltas. */
static void
test_stream_refusal(void **state)
{
    sink_t k = {cJSON_CreateArray()};
    sllmp_xstream_t s;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.emit = sink;
    s.ud = &k;
    s.id = "chatcmpl-x";
    assert_int_equal(feed(&s, "response.refusal.delta", "{'output_index':0,'delta':'no'}"), 0);
    assert_int_equal(cJSON_GetArraySize(k.chunks), 2); /* the role chunk, then the refusal */
    assert_json(
        cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(k.chunks, 1), "choices"), 0),
            "delta"),
        "{'refusal':'no'}");
    sllmp_xstream_free(&s);
    cJSON_Delete(k.chunks);
}

static void
test_stream_failures(void **state)
{
    sink_t k = {cJSON_CreateArray()};
    sllmp_xstream_t s;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.emit = sink;
    s.ud = &k;
    assert_int_equal(feed(&s, "response.failed",
                          "{'response':{'status':'failed','error':{'code':'rate_limit_exceeded',"
                          "'message':'slow down'}}}"),
                     -1);
    assert_int_equal(s.err_status, 429);
    assert_string_equal(s.err_type, "rate_limit_exceeded");
    assert_string_equal(s.err_message, "slow down");
    memset(&s, 0, sizeof(s));
    s.emit = sink;
    s.ud = &k;
    assert_int_equal(feed(&s, "error", "{'type':'error','code':'','message':''}"), -1);
    assert_int_equal(s.err_status, 500);
    assert_string_equal(s.err_type, "server_error");
    assert_string_equal(s.err_message, "The provider failed mid-stream.");
    assert_int_equal(cJSON_GetArraySize(k.chunks), 0); /* nothing emitted for either */
    cJSON_Delete(k.chunks);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_whole),   cmocka_unit_test(test_request_refused),
        cmocka_unit_test(test_answer),          cmocka_unit_test(test_stream),
        cmocka_unit_test(test_stream_failures), cmocka_unit_test(test_stream_refusal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
