/*
 * Responses request -> chat completions request (src/responses_request.c, the contract in
 * include/sllmp/responses.h): golden tests comparing whole JSON trees (cJSON_Compare), so key
 * order does not matter and an extra or missing member does; every refusal with its param.
 *
 * JSON in this file is written with single quotes, turned into double quotes before parsing
 * (sq()).
 */
#include "sllmp/responses.h"
#include "sllmp/translate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_helpers.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* The request translated, checking on the way that the input is left as it was. */
static cJSON *
xlate_json(const cJSON *in, sllmp_xerr_t *e)
{
    cJSON *copy = cJSON_Duplicate(in, 1), *out;

    memset(e, 0x5a, sizeof(*e)); /* garbage: the translator must clear it */
    out = sllmp_responses_to_chat(in, e);
    assert_true(cJSON_Compare(in, copy, 1));
    cJSON_Delete(copy);
    if (out == NULL) {
        assert_non_null(memchr(e->param, '\0', sizeof(e->param)));
        assert_non_null(memchr(e->message, '\0', sizeof(e->message)));
        assert_true(e->message[0] != '\0');
    }
    return out;
}

static cJSON *
xlate(const char *req, sllmp_xerr_t *e)
{
    cJSON *in = parse_sq(req), *out = xlate_json(in, e);

    cJSON_Delete(in);
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

/* The request must be refused with `param`, the message naming it. */
static void
assert_refused(const char *req, const char *param)
{
    sllmp_xerr_t e;
    cJSON *out = xlate(req, &e);

    if (out != NULL) {
        char *s = cJSON_PrintUnformatted(out);

        print_error("request:    %s\ntranslated: %s\n", req, s);
        free(s);
        cJSON_Delete(out);
        fail_msg("expected a refusal on %s", param);
    }
    if (strcmp(e.param, param) != 0) {
        fail_msg("refused on '%s' (%s), expected '%s', for %s", e.param, e.message, param, req);
    }
    assert_non_null(strstr(e.message, param));
}

/* ---- input ------------------------------------------------------------------------------ */

static void
test_string_input(void **state)
{
    (void)state;
    assert_request("{'model':'gpt-4.1','input':'Hello'}",
                   "{'model':'gpt-4.1','messages':[{'role':'user','content':'Hello'}]}");
    /* no model: none is made up (validate.c says it is missing) */
    assert_request("{'input':''}", "{'messages':[{'role':'user','content':''}]}");
}

static void
test_instructions(void **state)
{
    (void)state;
    assert_request("{'model':'m','instructions':'Be brief.','input':'Hi'}",
                   "{'model':'m','messages':[{'role':'system','content':'Be brief.'},"
                   "{'role':'user','content':'Hi'}]}");
    /* first, before the items, whatever their roles */
    assert_request("{'model':'m','instructions':'Be brief.','input':[{'role':'developer',"
                   "'content':'d'},{'role':'user','content':'u'}]}",
                   "{'model':'m','messages':[{'role':'system','content':'Be brief.'},"
                   "{'role':'developer','content':'d'},{'role':'user','content':'u'}]}");
    /* null and empty: no system message */
    assert_request("{'model':'m','instructions':null,'input':'Hi'}",
                   "{'model':'m','messages':[{'role':'user','content':'Hi'}]}");
    assert_request("{'model':'m','instructions':'','input':'Hi'}",
                   "{'model':'m','messages':[{'role':'user','content':'Hi'}]}");
}

static void
test_message_items(void **state)
{
    (void)state;
    assert_request(
        "{'model':'m','input':["
        "{'role':'user','content':'no type'},"
        "{'type':'message','role':'system','content':'sys'},"
        "{'type':'message','role':'developer','status':'completed','content':["
        "{'type':'input_text','text':'dev'}]},"
        "{'type':'message','role':'user','content':[{'type':'input_text','text':'a'},"
        "{'type':'input_text','text':'b','prompt_cache_breakpoint':{'mode':'explicit'}}]},"
        "{'type':'message','role':'assistant','content':'plain'},"
        "{'type':'message','id':'msg_1','status':'completed','role':'assistant','phase':"
        "'final_answer','content':[{'type':'output_text','text':'Hel','annotations':[],"
        "'logprobs':[]},{'type':'output_text','text':'lo','annotations':[]}]},"
        "{'role':'assistant','content':[{'type':'refusal','refusal':'No.'}]},"
        "{'role':'assistant','content':[{'type':'input_text','text':'t'},"
        "{'type':'refusal','refusal':'r1'},{'type':'refusal','refusal':'r2'}]},"
        "{'role':'assistant','content':[]}]}",
        "{'model':'m','messages':["
        "{'role':'user','content':'no type'},"
        "{'role':'system','content':'sys'},"
        "{'role':'developer','content':[{'type':'text','text':'dev'}]},"
        "{'role':'user','content':[{'type':'text','text':'a'},"
        "{'type':'text','text':'b','prompt_cache_breakpoint':{'mode':'explicit'}}]},"
        "{'role':'assistant','content':'plain'},"
        "{'role':'assistant','content':'Hello'},"
        "{'role':'assistant','content':null,'refusal':'No.'},"
        "{'role':'assistant','content':'t','refusal':'r1r2'},"
        "{'role':'assistant','content':null}]}");
}

static void
test_images_files_audio(void **state)
{
    (void)state;
    assert_request(
        "{'model':'m','input':[{'role':'user','content':["
        "{'type':'input_text','text':'What is this?'},"
        "{'type':'input_image','image_url':'https://x.test/a.png','detail':'high'},"
        "{'type':'input_image','image_url':'data:image/png;base64,iVBO','detail':null,"
        "'file_id':null},"
        "{'type':'input_image','image_url':'https://x.test/b.png','detail':'original'},"
        "{'type':'input_file','file_data':'data:application/pdf;base64,JVBE','filename':"
        "'a.pdf','detail':'low'},"
        "{'type':'input_file','file_data':'JVBE','file_id':null,'filename':null},"
        "{'type':'input_audio','input_audio':{'data':'UklG','format':'wav'}}]}]}",
        "{'model':'m','messages':[{'role':'user','content':["
        "{'type':'text','text':'What is this?'},"
        "{'type':'image_url','image_url':{'url':'https://x.test/a.png','detail':'high'}},"
        "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBO'}},"
        "{'type':'image_url','image_url':{'url':'https://x.test/b.png','detail':'original'}},"
        "{'type':'file','file':{'file_data':'data:application/pdf;base64,JVBE','filename':"
        "'a.pdf'}},"
        "{'type':'file','file':{'file_data':'JVBE'}},"
        "{'type':'input_audio','input_audio':{'data':'UklG','format':'wav'}}]}]}");
}

/* The output of one answer, sent back: reasoning, a message and calls make one assistant
 * message; results are tool messages; a call after a result opens a new assistant message. */
static void
test_function_calls_merged(void **state)
{
    (void)state;
    assert_request(
        "{'model':'m','input':["
        "{'role':'user','content':'Weather in Paris and Rome?'},"
        "{'type':'reasoning','id':'rs_1','summary':[{'type':'summary_text','text':'think'}],"
        "'encrypted_content':'gAAA'},"
        "{'type':'message','role':'assistant','content':[{'type':'output_text','text':"
        "'Checking.','annotations':[]}]},"
        "{'type':'reasoning','id':'rs_2','summary':[]},"
        "{'type':'function_call','id':'fc_1','call_id':'call_1','name':'weather','arguments':"
        "'{\\'city\\':\\'Paris\\'}','status':'completed'},"
        "{'type':'function_call','call_id':'call_2','name':'weather','arguments':"
        "'{\\'city\\':\\'Rome\\'}'},"
        "{'type':'function_call_output','call_id':'call_1','output':'18C'},"
        "{'type':'function_call_output','call_id':'call_2','output':["
        "{'type':'input_text','text':'21'},{'type':'input_text','text':'C'}],'status':null},"
        "{'type':'function_call','call_id':'call_3','name':'time','arguments':'{}'},"
        "{'type':'function_call_output','call_id':'call_3','output':''},"
        "{'role':'assistant','content':'Done.'},"
        "{'type':'function_call','call_id':'call_4','name':'t','arguments':''},"
        "{'role':'user','content':'thanks'},"
        "{'type':'function_call','call_id':'call_5','name':'t','arguments':'{}'}]}",
        "{'model':'m','messages':["
        "{'role':'user','content':'Weather in Paris and Rome?'},"
        "{'role':'assistant','content':'Checking.','tool_calls':["
        "{'id':'call_1','type':'function','function':{'name':'weather','arguments':"
        "'{\\'city\\':\\'Paris\\'}'}},"
        "{'id':'call_2','type':'function','function':{'name':'weather','arguments':"
        "'{\\'city\\':\\'Rome\\'}'}}]},"
        "{'role':'tool','tool_call_id':'call_1','content':'18C'},"
        "{'role':'tool','tool_call_id':'call_2','content':[{'type':'text','text':'21'},"
        "{'type':'text','text':'C'}]},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'call_3','type':'function',"
        "'function':{'name':'time','arguments':'{}'}}]},"
        "{'role':'tool','tool_call_id':'call_3','content':''},"
        "{'role':'assistant','content':'Done.','tool_calls':[{'id':'call_4','type':'function',"
        "'function':{'name':'t','arguments':''}}]},"
        "{'role':'user','content':'thanks'},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'call_5','type':'function',"
        "'function':{'name':'t','arguments':'{}'}}]}]}");
}

static void
test_reasoning_dropped(void **state)
{
    (void)state;
    assert_request("{'model':'m','input':[{'type':'reasoning','id':'rs_1','summary':[]},"
                   "{'role':'user','content':'go on'}]}",
                   "{'model':'m','messages':[{'role':'user','content':'go on'}]}");
    /* with nothing else there is no message to send */
    assert_refused("{'model':'m','input':[{'type':'reasoning','id':'rs_1','summary':[]}]}",
                   "input");
    assert_request("{'model':'m','instructions':'i','input':[]}",
                   "{'model':'m','messages':[{'role':'system','content':'i'}]}");
}

/* ---- tools ------------------------------------------------------------------------------ */

static void
test_tools(void **state)
{
    (void)state;
    assert_request(
        "{'model':'m','input':'x','tools':["
        "{'type':'function','name':'weather','description':'Get it','parameters':{'type':"
        "'object','properties':{'city':{'type':'string'}},'required':['city']},'strict':true,"
        "'defer_loading':false,'output_schema':null},"
        "{'type':'function','name':'now','parameters':null,'strict':null,'description':null}],"
        "'tool_choice':'required','parallel_tool_calls':false}",
        "{'model':'m','messages':[{'role':'user','content':'x'}],'tools':["
        "{'type':'function','function':{'name':'weather','description':'Get it','parameters':"
        "{'type':'object','properties':{'city':{'type':'string'}},'required':['city']},"
        "'strict':true}},"
        "{'type':'function','function':{'name':'now'}}],"
        "'tool_choice':'required','parallel_tool_calls':false}");
}

static void
test_tool_choice(void **state)
{
    (void)state;
    static const char *const strings[] = {"auto", "none", "required"};
    char req[256], want[256];

    for (size_t k = 0; k < 3; k++) {
        snprintf(req, sizeof(req),
                 "{'model':'m','input':'x','tools':[{'type':'function','name':'f','parameters':"
                 "{},'strict':false}],'tool_choice':'%s'}",
                 strings[k]);
        snprintf(want, sizeof(want),
                 "{'model':'m','messages':[{'role':'user','content':'x'}],'tools':[{'type':"
                 "'function','function':{'name':'f','parameters':{},'strict':false}}],"
                 "'tool_choice':'%s'}",
                 strings[k]);
        assert_request(req, want);
    }
    assert_request("{'model':'m','input':'x','tools':[{'type':'function','name':'f'}],"
                   "'tool_choice':{'type':'function','name':'f'}}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}],'tools':[{'type':"
                   "'function','function':{'name':'f'}}],'tool_choice':{'type':'function',"
                   "'function':{'name':'f'}}}");
    assert_request(
        "{'model':'m','input':'x','tools':[{'type':'function','name':'f'},{'type':'function',"
        "'name':'g'}],'tool_choice':{'type':'allowed_tools','mode':'required','tools':["
        "{'type':'function','name':'g'}]}}",
        "{'model':'m','messages':[{'role':'user','content':'x'}],'tools':[{'type':'function',"
        "'function':{'name':'f'}},{'type':'function','function':{'name':'g'}}],'tool_choice':"
        "{'type':'allowed_tools','allowed_tools':{'mode':'required','tools':[{'type':"
        "'function','function':{'name':'g'}}]}}}");
    /* no tools (none, null, []): no tool_choice, no parallel_tool_calls (OpenAI's chat API
     * refuses them without tools) */
    assert_request("{'model':'m','input':'x','tools':[],'tool_choice':'auto',"
                   "'parallel_tool_calls':true}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}]}");
    assert_request("{'model':'m','input':'x','tools':null,'tool_choice':{'type':'function',"
                   "'name':'f'},'parallel_tool_calls':false}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}]}");
    assert_request("{'model':'m','input':'x','tool_choice':null,'parallel_tool_calls':null}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}]}");
}

/* ---- text, reasoning, limits, other members --------------------------------------------- */

static void
test_text_format(void **state)
{
    (void)state;
    assert_request("{'model':'m','input':'x','text':{'format':{'type':'json_object'}}}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}],"
                   "'response_format':{'type':'json_object'}}");
    assert_request(
        "{'model':'m','input':'x','text':{'format':{'type':'json_schema','name':'person',"
        "'description':'A person','schema':{'type':'object','properties':{'n':{'type':"
        "'string'}},'additionalProperties':false},'strict':true},'verbosity':'low'}}",
        "{'model':'m','messages':[{'role':'user','content':'x'}],'response_format':{'type':"
        "'json_schema','json_schema':{'name':'person','description':'A person','schema':"
        "{'type':'object','properties':{'n':{'type':'string'}},'additionalProperties':false},"
        "'strict':true}},'verbosity':'low'}");
    assert_request("{'model':'m','input':'x','text':{'format':{'type':'json_schema','name':'p',"
                   "'schema':{},'strict':null,'description':null}}}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}],'response_format':"
                   "{'type':'json_schema','json_schema':{'name':'p','schema':{}}}}");
    /* text: nothing */
    assert_request("{'model':'m','input':'x','text':{'format':{'type':'text'},'verbosity':null}}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}]}");
    assert_request("{'model':'m','input':'x','text':null}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}]}");
}

static void
test_limits_reasoning_logprobs(void **state)
{
    (void)state;
    assert_request("{'model':'m','input':'x','max_output_tokens':1000,'reasoning':{'effort':"
                   "'high','summary':'auto'},'top_logprobs':5}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}],"
                   "'max_completion_tokens':1000,'reasoning_effort':'high','logprobs':true,"
                   "'top_logprobs':5}");
    assert_request("{'model':'m','input':'x','max_output_tokens':null,'reasoning':{'effort':null},"
                   "'top_logprobs':0}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}],'logprobs':true,"
                   "'top_logprobs':0}");
    assert_request("{'model':'m','input':'x','reasoning':null,'top_logprobs':null}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}]}");
}

static void
test_members_copied_and_dropped(void **state)
{
    (void)state;
    assert_request(
        "{'model':'m','input':'x','temperature':0.2,'top_p':0.9,'user':'u1','metadata':{'k':"
        "'v'},'stream':true,'service_tier':'flex','prompt_cache_key':'pk','safety_identifier':"
        "'sid','seed':7,'my_extra':{'a':[1]},"
        "'store':true,'include':['reasoning.encrypted_content'],'truncation':'auto',"
        "'background':false,'stream_options':{'include_obfuscation':false},'max_tool_calls':3,"
        "'prompt_cache_retention':'24h','previous_response_id':null,'conversation':null,"
        "'prompt':null,'context_management':[{'type':'compaction'}],'n':2}",
        "{'model':'m','messages':[{'role':'user','content':'x'}],'temperature':0.2,'top_p':0.9,"
        "'user':'u1','metadata':{'k':'v'},'stream':true,'service_tier':'flex',"
        "'prompt_cache_key':'pk','safety_identifier':'sid','seed':7,'my_extra':{'a':[1]}}");
    assert_request("{'model':'m','input':'x','background':null}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}]}");
    /* the answer's logprobs, asked for with include alone */
    assert_request("{'model':'m','input':'x','include':['reasoning.encrypted_content',"
                   "'message.output_text.logprobs']}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}],'logprobs':true}");
    assert_request("{'model':'m','input':'x','include':'message.output_text.logprobs'}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}]}");
}

/* A member of the translation's is its own, whatever the client sends by that name; one it
 * does not produce is the client's. */
static void
test_translation_wins(void **state)
{
    (void)state;
    assert_request("{'model':'m','input':'x','messages':[{'role':'user','content':'evil'}],"
                   "'max_output_tokens':5,'max_completion_tokens':9,'response_format':{'type':"
                   "'json_object'},'text':{'format':{'type':'json_schema','name':'n','schema':"
                   "{}}}}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}],"
                   "'max_completion_tokens':5,'response_format':{'type':'json_schema',"
                   "'json_schema':{'name':'n','schema':{}}}}");
    assert_request("{'model':'m','input':'x','response_format':{'type':'json_object'},"
                   "'reasoning_effort':'low','max_tokens':7}",
                   "{'model':'m','messages':[{'role':'user','content':'x'}],'response_format':"
                   "{'type':'json_object'},'reasoning_effort':'low','max_tokens':7}");
}

/* The translation goes on through a provider's translator as any chat request does. */
static void
test_feeds_provider_translator(void **state)
{
    sllmp_xerr_t e;
    cJSON *chat, *ant;

    (void)state;
    chat = xlate("{'model':'m','instructions':'sys','input':[{'role':'user','content':'q'},"
                 "{'type':'function_call','call_id':'c1','name':'f','arguments':'{}'},"
                 "{'type':'function_call_output','call_id':'c1','output':[{'type':"
                 "'input_text','text':'ok'}]}],'tools':[{'type':'function','name':'f',"
                 "'parameters':{'type':'object'},'strict':true}],'max_output_tokens':100}",
                 &e);
    assert_non_null(chat);
    ant = sllmp_anthropic_request(chat, "claude-test", &e);
    if (ant == NULL) {
        fail_msg("anthropic refused: %s", e.message);
    }
    assert_json(ant, "{'model':'claude-test','system':[{'type':'text','text':'sys'}],"
                     "'messages':[{'role':'user','content':[{'type':'text','text':'q'}]},"
                     "{'role':'assistant','content':[{'type':'tool_use','id':'c1','name':'f',"
                     "'input':{}}]},{'role':'user','content':[{'type':'tool_result',"
                     "'tool_use_id':'c1','content':[{'type':'text','text':'ok'}]}]}],"
                     "'tools':[{'name':'f','input_schema':{'type':'object'}}],"
                     "'max_tokens':100}");
    cJSON_Delete(ant);
    cJSON_Delete(chat);
}

/* ---- refusals --------------------------------------------------------------------------- */

static void
test_refused_stored_state(void **state)
{
    (void)state;
    assert_refused("{'model':'m','input':'x','previous_response_id':'resp_1'}",
                   "previous_response_id");
    assert_refused("{'model':'m','input':'x','conversation':'conv_1'}", "conversation");
    assert_refused("{'model':'m','input':'x','conversation':{'id':'conv_1'}}", "conversation");
    assert_refused("{'model':'m','input':'x','background':true}", "background");
    assert_refused("{'model':'m','input':'x','background':'yes'}", "background");
    assert_refused("{'model':'m','input':'x','prompt':{'id':'pmpt_1','version':'2'}}", "prompt");
    assert_refused("{'model':'m','input':[{'type':'item_reference','id':'msg_1'}]}",
                   "input[0].type");
    assert_refused("{'model':'m','input':[{'role':'user','content':'a'},{'id':'msg_1'}]}",
                   "input[1]");
    assert_refused("{'model':'m','input':[{'id':'msg_1','type':null}]}", "input[0]");
}

static void
test_refused_input(void **state)
{
    (void)state;
    assert_refused("{'model':'m'}", "input");
    assert_refused("{'model':'m','input':null}", "input");
    assert_refused("{'model':'m','input':5}", "input");
    assert_refused("{'model':'m','input':{'role':'user','content':'x'}}", "input");
    assert_refused("{'model':'m','input':[]}", "input");
    assert_refused("{'model':'m','input':'x','instructions':5}", "instructions");
    assert_refused("{'model':'m','input':['hi']}", "input[0]");
    assert_refused("{'model':'m','input':[null]}", "input[0]");
    assert_refused("{'model':'m','input':[{'type':5,'role':'user','content':'x'}]}",
                   "input[0].type");
    assert_refused("{'model':'m','input':[{'role':'user','content':'x'},{'type':"
                   "'web_search_call','id':'ws_1','status':'completed'}]}",
                   "input[1].type");
    assert_refused("{'model':'m','input':[{'type':'computer_call_output','call_id':'c',"
                   "'output':{}}]}",
                   "input[0].type");
    assert_refused("{'model':'m','input':[{'type':'custom_tool_call','call_id':'c','name':'n',"
                   "'input':'i'}]}",
                   "input[0].type");
    assert_refused("{'model':'m','input':[{'type':'message','content':'x'}]}", "input[0].role");
    assert_refused("{'model':'m','input':[{'role':'tool','content':'x'}]}", "input[0].role");
    assert_refused("{'model':'m','input':[{'role':7,'content':'x'}]}", "input[0].role");
    assert_refused("{'model':'m','input':[{'role':'user'}]}", "input[0].content");
    assert_refused("{'model':'m','input':[{'role':'user','content':5}]}", "input[0].content");
    assert_refused("{'model':'m','input':[{'role':'assistant','content':null}]}",
                   "input[0].content");
}

static void
test_refused_parts(void **state)
{
    (void)state;
    assert_refused("{'model':'m','input':[{'role':'user','content':['x']}]}",
                   "input[0].content[0]");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'text':'x'}]}]}",
                   "input[0].content[0].type");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_text',"
                   "'text':5}]}]}",
                   "input[0].content[0].text");
    assert_refused("{'model':'m','input':[{'role':'system','content':[{'type':'input_text',"
                   "'text':'a'},{'type':'output_text','text':'b'}]}]}",
                   "input[0].content[1].type");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_image',"
                   "'file_id':'file-1','detail':'auto'}]}]}",
                   "input[0].content[0].file_id");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_image',"
                   "'image_url':5}]}]}",
                   "input[0].content[0].image_url");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_image',"
                   "'image_url':null,'detail':'auto'}]}]}",
                   "input[0].content[0].image_url");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_image',"
                   "'image_url':'https://x','detail':3}]}]}",
                   "input[0].content[0].detail");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_file',"
                   "'file_id':'file-1'}]}]}",
                   "input[0].content[0].file_id");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_file',"
                   "'file_url':'https://x.test/a.pdf'}]}]}",
                   "input[0].content[0].file_url");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_file'}]}]}",
                   "input[0].content[0].file_data");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_file',"
                   "'file_data':[]}]}]}",
                   "input[0].content[0].file_data");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_file',"
                   "'file_data':'JVBE','filename':5}]}]}",
                   "input[0].content[0].filename");
    assert_refused("{'model':'m','input':[{'role':'user','content':[{'type':'input_audio',"
                   "'input_audio':'UklG'}]}]}",
                   "input[0].content[0].input_audio");
    /* an assistant message: text and refusal only */
    assert_refused("{'model':'m','input':[{'role':'assistant','content':[{'type':'input_image',"
                   "'image_url':'https://x'}]}]}",
                   "input[0].content[0].type");
    assert_refused("{'model':'m','input':[{'role':'assistant','content':[{'type':'output_text',"
                   "'text':null}]}]}",
                   "input[0].content[0].text");
    assert_refused("{'model':'m','input':[{'role':'assistant','content':[{'type':'refusal',"
                   "'refusal':1}]}]}",
                   "input[0].content[0].refusal");
    assert_refused("{'model':'m','input':[{'role':'assistant','content':[{'type':[]}]}]}",
                   "input[0].content[0].type");
    assert_refused("{'model':'m','input':[{'role':'assistant','content':[3]}]}",
                   "input[0].content[0]");
}

static void
test_refused_calls(void **state)
{
    (void)state;
    assert_refused("{'model':'m','input':[{'type':'function_call','name':'f','arguments':'{}'}]}",
                   "input[0].call_id");
    assert_refused("{'model':'m','input':[{'type':'function_call','call_id':'c','arguments':"
                   "'{}'}]}",
                   "input[0].name");
    assert_refused("{'model':'m','input':[{'type':'function_call','call_id':'c','name':'f',"
                   "'arguments':{'a':1}}]}",
                   "input[0].arguments");
    assert_refused("{'model':'m','input':[{'type':'function_call_output','output':'x'}]}",
                   "input[0].call_id");
    assert_refused("{'model':'m','input':[{'type':'function_call_output','call_id':'c'}]}",
                   "input[0].output");
    assert_refused("{'model':'m','input':[{'type':'function_call_output','call_id':'c',"
                   "'output':5}]}",
                   "input[0].output");
    assert_refused("{'model':'m','input':[{'type':'function_call_output','call_id':'c',"
                   "'output':[{'type':'input_text','text':'a'},{'type':'input_image',"
                   "'image_url':'https://x'}]}]}",
                   "input[0].output[1].type");
    assert_refused("{'model':'m','input':[{'type':'function_call_output','call_id':'c',"
                   "'output':[{'type':'input_text'}]}]}",
                   "input[0].output[0].text");
    assert_refused("{'model':'m','input':[{'type':'function_call_output','call_id':'c',"
                   "'output':[7]}]}",
                   "input[0].output[0]");
}

static void
test_refused_tools(void **state)
{
    (void)state;
    assert_refused("{'model':'m','input':'x','tools':{'type':'function','name':'f'}}", "tools");
    assert_refused("{'model':'m','input':'x','tools':[{'type':'function','name':'f'},{'type':"
                   "'web_search'}]}",
                   "tools[1].type");
    assert_refused("{'model':'m','input':'x','tools':[{'type':'file_search','vector_store_ids':"
                   "['vs_1']}]}",
                   "tools[0].type");
    assert_refused("{'model':'m','input':'x','tools':[{'type':'custom','name':'c'}]}",
                   "tools[0].type");
    assert_refused("{'model':'m','input':'x','tools':[{'name':'f'}]}", "tools[0].type");
    assert_refused("{'model':'m','input':'x','tools':['f']}", "tools[0]");
    assert_refused("{'model':'m','input':'x','tools':[{'type':'function'}]}", "tools[0].name");
    assert_refused("{'model':'m','input':'x','tools':[{'type':'function','name':'f',"
                   "'parameters':'{}'}]}",
                   "tools[0].parameters");
    assert_refused("{'model':'m','input':'x','tools':[{'type':'function','name':'f','strict':"
                   "'yes'}]}",
                   "tools[0].strict");
    assert_refused("{'model':'m','input':'x','tools':[{'type':'function','name':'f',"
                   "'description':5}]}",
                   "tools[0].description");
    assert_refused("{'model':'m','input':'x','tool_choice':'any'}", "tool_choice");
    assert_refused("{'model':'m','input':'x','tool_choice':5}", "tool_choice");
    assert_refused("{'model':'m','input':'x','tool_choice':{'type':'web_search_preview'}}",
                   "tool_choice.type");
    assert_refused("{'model':'m','input':'x','tool_choice':{'type':'mcp','server_label':'d'}}",
                   "tool_choice.type");
    assert_refused("{'model':'m','input':'x','tool_choice':{'type':'custom','name':'c'}}",
                   "tool_choice.type");
    assert_refused("{'model':'m','input':'x','tool_choice':{'name':'f'}}", "tool_choice.type");
    assert_refused("{'model':'m','input':'x','tool_choice':{'type':'function'}}",
                   "tool_choice.name");
    assert_refused("{'model':'m','input':'x','tool_choice':{'type':'allowed_tools','mode':"
                   "'auto','tools':[{'type':'function','name':'f'},{'type':'image_generation'}]}}",
                   "tool_choice.tools[1].type");
    assert_refused("{'model':'m','input':'x','tool_choice':{'type':'allowed_tools','mode':"
                   "'auto','tools':[{'type':'function'}]}}",
                   "tool_choice.tools[0].name");
    assert_refused("{'model':'m','input':'x','tool_choice':{'type':'allowed_tools','tools':[]}}",
                   "tool_choice.mode");
    assert_refused("{'model':'m','input':'x','tool_choice':{'type':'allowed_tools','mode':"
                   "'auto'}}",
                   "tool_choice.tools");
}

static void
test_refused_members(void **state)
{
    (void)state;
    assert_refused("{'model':'m','input':'x','text':'json'}", "text");
    assert_refused("{'model':'m','input':'x','text':{'format':'json_object'}}", "text.format");
    assert_refused("{'model':'m','input':'x','text':{'format':{}}}", "text.format.type");
    assert_refused("{'model':'m','input':'x','text':{'format':{'type':'xml'}}}",
                   "text.format.type");
    assert_refused("{'model':'m','input':'x','text':{'format':{'type':'json_schema','schema':"
                   "{}}}}",
                   "text.format.name");
    assert_refused("{'model':'m','input':'x','text':{'format':{'type':'json_schema','name':'n',"
                   "'schema':'{}'}}}",
                   "text.format.schema");
    assert_refused("{'model':'m','input':'x','text':{'format':{'type':'json_schema','name':'n',"
                   "'schema':{},'strict':1}}}",
                   "text.format.strict");
    assert_refused("{'model':'m','input':'x','text':{'format':{'type':'json_schema','name':'n',"
                   "'schema':{},'description':[]}}}",
                   "text.format.description");
    assert_refused("{'model':'m','input':'x','text':{'verbosity':2}}", "text.verbosity");
    assert_refused("{'model':'m','input':'x','reasoning':'high'}", "reasoning");
    assert_refused("{'model':'m','input':'x','reasoning':{'effort':3}}", "reasoning.effort");
    assert_refused("{'model':'m','input':'x','max_output_tokens':'100'}", "max_output_tokens");
    assert_refused("{'model':'m','input':'x','max_output_tokens':0}", "max_output_tokens");
    assert_refused("{'model':'m','input':'x','max_output_tokens':1.5}", "max_output_tokens");
    assert_refused("{'model':'m','input':'x','max_output_tokens':1e300}", "max_output_tokens");
    assert_refused("{'model':'m','input':'x','top_logprobs':21}", "top_logprobs");
    assert_refused("{'model':'m','input':'x','top_logprobs':-1}", "top_logprobs");
    assert_refused("{'model':'m','input':'x','top_logprobs':true}", "top_logprobs");
}

/* A refusal quotes a short piece of the client's text at most, and no part of a character. */
static void
test_refusal_quotes_little(void **state)
{
    sllmp_xerr_t e;
    char req[4200], type[4001];
    cJSON *in, *out;
    const char *q;

    (void)state;
    for (size_t k = 0; k + 1 < sizeof(type); k += 2) {
        memcpy(type + k, "\xc3\xa9", 2); /* é */
    }
    type[sizeof(type) - 1] = '\0';
    snprintf(req, sizeof(req), "{\"model\":\"m\",\"input\":[{\"type\":\"%s\"}]}", type);
    in = cJSON_Parse(req);
    out = xlate_json(in, &e);
    cJSON_Delete(in);
    assert_null(out);
    assert_string_equal(e.param, "input[0].type");
    q = strchr(e.message, '\xc3');
    assert_non_null(q);
    assert_true(strlen(e.message) < 200);
    /* 40 bytes at most, whole characters only */
    assert_int_equal(strspn(q, "\xc3\xa9"), 40);
    assert_int_equal(q[40], '\'');
}

/* The translator's own edges: no *e, not an object, a great many items. */
static void
test_edges(void **state)
{
    sllmp_xerr_t e;
    cJSON *in, *out, *input, *calls;
    const int n = 100000;

    (void)state;
    in = parse_sq("{'model':'m','input':5}");
    assert_null(sllmp_responses_to_chat(in, NULL));
    cJSON_Delete(in);
    in = parse_sq("{'model':'m','input':'x'}");
    out = sllmp_responses_to_chat(in, NULL);
    assert_non_null(out);
    cJSON_Delete(out);
    cJSON_Delete(in);
    assert_null(sllmp_responses_to_chat(NULL, &e));
    assert_string_equal(e.param, "");
    in = parse_sq("[{'model':'m','input':'x'}]");
    assert_null(xlate_json(in, &e));
    cJSON_Delete(in);

    /* 100,000 consecutive calls: one assistant message, in linear time */
    in = parse_sq("{'model':'m','input':[]}");
    input = cJSON_GetObjectItemCaseSensitive(in, "input");
    for (int k = 0; k < n; k++) {
        cJSON *fc = cJSON_CreateObject();
        char id[32];

        snprintf(id, sizeof(id), "call_%d", k);
        cJSON_AddStringToObject(fc, "type", "function_call");
        cJSON_AddStringToObject(fc, "call_id", id);
        cJSON_AddStringToObject(fc, "name", "f");
        cJSON_AddStringToObject(fc, "arguments", "{}");
        cJSON_AddItemToArray(input, fc);
    }
    out = sllmp_responses_to_chat(in, &e);
    assert_non_null(out);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "messages")), 1);
    calls = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "messages"), 0), "tool_calls");
    assert_int_equal(cJSON_GetArraySize(calls), n);
    cJSON_Delete(out);
    cJSON_Delete(in);

    /* a great many members, of the translation's names among them: linear too */
    in = parse_sq("{'model':'m','input':'x'}");
    for (int k = 0; k < n; k++) {
        char name[32];

        snprintf(name, sizeof(name), "x%d", k);
        cJSON_AddNumberToObject(in, name, k);
        cJSON_AddNumberToObject(in, "logprobs", k);
    }
    out = sllmp_responses_to_chat(in, &e);
    assert_non_null(out);
    assert_int_equal(cJSON_GetArraySize(out), 2 + 2 * n);
    cJSON_Delete(out);
    cJSON_Delete(in);
}

/* Every member of a full request made each JSON type in turn: a chat request or a refusal
 * that says why, never a crash (under ASan in make unit-san). */
static void
test_wrong_types_everywhere(void **state)
{
    static const char *const values[] = {"null",  "true",   "0",     "-1",
                                         "1e300", "\"\"",   "\"x\"", "[]",
                                         "{}",    "[null]", "[{}]",  "{\"type\":null}"};
    cJSON *base = parse_sq(
        "{'model':'m','instructions':'i','input':[{'role':'user','content':[{'type':"
        "'input_text','text':'t'},{'type':'input_image','image_url':'u','detail':'low'},"
        "{'type':'input_file','file_data':'d','filename':'f'}]},{'type':'message','role':"
        "'assistant','content':[{'type':'output_text','text':'a'},{'type':'refusal','refusal':"
        "'r'}]},{'type':'function_call','call_id':'c','name':'n','arguments':'{}'},{'type':"
        "'function_call_output','call_id':'c','output':[{'type':'input_text','text':'o'}]},"
        "{'type':'reasoning','id':'r','summary':[]}],'tools':[{'type':'function','name':'f',"
        "'description':'d','parameters':{},'strict':true}],'tool_choice':{'type':"
        "'allowed_tools','mode':'auto','tools':[{'type':'function','name':'f'}]},'text':"
        "{'format':{'type':'json_schema','name':'n','schema':{},'strict':true,'description':"
        "'d'},'verbosity':'low'},'reasoning':{'effort':'low'},'max_output_tokens':10,"
        "'top_logprobs':2}");
    cJSON *stack[64];
    int depth = 0, tried = 0;

    (void)state;
    /* walk every value of the tree (depth-first, explicit stack of containers) */
    stack[depth++] = base;
    while (depth > 0) {
        cJSON *node = stack[--depth], *child;

        for (child = node->child; child != NULL; child = child->next) {
            cJSON saved;

            if (child->child != NULL && depth < 64) {
                stack[depth++] = child;
            }
            saved = *child;
            for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
                cJSON *val = cJSON_Parse(values[v]), *out;
                sllmp_xerr_t e;

                assert_non_null(val);
                /* swap the value in place (keeping the links and the name) */
                child->type = val->type;
                child->valuestring = val->valuestring;
                child->valueint = val->valueint;
                child->valuedouble = val->valuedouble;
                child->child = val->child;
                out = xlate_json(base, &e);
                if (out != NULL) {
                    char *s = cJSON_PrintUnformatted(out);

                    assert_non_null(s);
                    free(s);
                    cJSON_Delete(out);
                }
                child->type = saved.type;
                child->valuestring = saved.valuestring;
                child->valueint = saved.valueint;
                child->valuedouble = saved.valuedouble;
                child->child = saved.child;
                cJSON_Delete(val);
                tried++;
            }
        }
    }
    assert_true(tried > 500);
    cJSON_Delete(base);
}

/* ---- error params ----------------------------------------------------------------------- */

static void
check_param(const char *req_sq, const char *param, const char *want)
{
    cJSON *req = parse_sq(req_sq);
    char out[64];
    const char *got = sllmp_responses_param(req, param, out, sizeof(out));

    if (want == NULL) {
        assert_ptr_equal(got, param);
    } else {
        assert_string_equal(got, want);
    }
    cJSON_Delete(req);
}

static void
test_error_params(void **state)
{
    const char *plain = "{'model':'m','input':'x'}";

    (void)state;
    check_param(plain, "messages", "input");
    check_param(plain, "messages[3].content[0].text", "input");
    check_param(plain, "messages (Bearer [REDACTED])", "input");
    check_param("{'input':'x','messages':[]}", "messages", "input"); /* the translation's won */
    check_param("{'input':'x','max_output_tokens':5}", "max_completion_tokens",
                "max_output_tokens");
    check_param(plain, "max_tokens", "max_output_tokens");           /* a deployment's default */
    check_param("{'input':'x','max_tokens':5}", "max_tokens", NULL); /* the client's own */
    check_param("{'input':'x','text':{'format':{'type':'json_object'}}}", "response_format",
                "text.format");
    check_param("{'input':'x','text':{'format':{'type':'json_schema'}}}",
                "response_format.json_schema.schema", "text.format.schema");
    check_param("{'input':'x','response_format':{}}", "response_format", NULL);
    check_param("{'input':'x','reasoning':{'effort':'low'}}", "reasoning_effort",
                "reasoning.effort");
    check_param("{'input':'x','text':{'verbosity':'low'}}", "verbosity", "text.verbosity");
    check_param("{'input':'x','tools':[]}", "tools[2].function.parameters", "tools[2].parameters");
    check_param("{'input':'x','tools':[]}", "tools[2]", "tools[2]");
    check_param("{'input':'x'}", "tool_choice.function.name", "tool_choice.name");
    /* anything else as it is */
    check_param(plain, "seed", NULL);
    check_param(plain, "messagesx", NULL);
    check_param(plain, "toolsets", NULL);
    check_param(plain, "", NULL);
    assert_null(sllmp_responses_param(NULL, NULL, NULL, 0));
}

/* A call_id with a Gemini thought signature (as the answer made it): the chat call's id before
 * the separator, the signature where the Gemini translator reads it; the tool message's id the
 * same. */
static void
test_thought_signature_from_call_id(void **state)
{
    (void)state;
    assert_request(
        "{'model':'m','input':[{'role':'user','content':'q'},"
        "{'type':'function_call','call_id':'call_G__thought__SIG==','name':'f','arguments':'{}'},"
        "{'type':'function_call_output','call_id':'call_G__thought__SIG==','output':'ok'}]}",
        "{'model':'m','messages':[{'role':'user','content':'q'},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'call_G','extra_content':"
        "{'google':{'thought_signature':'SIG=='}},'type':'function','function':{'name':'f',"
        "'arguments':'{}'}}]},{'role':'tool','tool_call_id':'call_G','content':'ok'}]}");
}

/* The separator with nothing after it: no signature to send. */
static void
test_thought_separator_alone(void **state)
{
    (void)state;
    assert_request(
        "{'model':'m','input':[{'role':'user','content':'q'},"
        "{'type':'function_call','call_id':'call_G__thought__','name':'f','arguments':'{}'},"
        "{'type':'function_call_output','call_id':'call_G__thought__','output':'ok'}]}",
        "{'model':'m','messages':[{'role':'user','content':'q'},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'call_G','type':'function',"
        "'function':{'name':'f','arguments':'{}'}}]},"
        "{'role':'tool','tool_call_id':'call_G','content':'ok'}]}");
}

/* A reasoning item with the signed thinking the answer put in encrypted_content: the blocks on
 * the assistant message after it (or the one its calls join); other encrypted_content, and
 * reasoning no assistant message follows, are dropped. */
static void
test_thinking_from_encrypted_content(void **state)
{
    (void)state;
    assert_request(
        "{'model':'m','input':[{'role':'user','content':'q'},"
        "{'type':'reasoning','id':'rs_1','summary':[],'encrypted_content':'" SLLMP_THINKING_PREFIX
        "[{\\'type\\':\\'thinking\\',\\'thinking\\':\\'t\\',"
        "\\'signature\\':\\'S\\'}]'},"
        "{'type':'function_call','call_id':'c1','name':'f','arguments':'{}'},"
        "{'type':'function_call_output','call_id':'c1','output':'ok'},"
        "{'type':'message','role':'assistant','content':'a'},"
        "{'type':'reasoning','summary':[],'encrypted_content':'gAAAA-openai-own'},"
        "{'type':'reasoning','summary':[],'encrypted_content':'" SLLMP_THINKING_PREFIX
        "[{\\'type\\':\\'redacted_thinking\\',\\'data\\':"
        "\\'D\\'}]'},"
        "{'type':'function_call','call_id':'c2','name':'f','arguments':'{}'},"
        "{'type':'function_call_output','call_id':'c2','output':'ok'},"
        "{'type':'reasoning','summary':[],'encrypted_content':'" SLLMP_THINKING_PREFIX "[]'},"
        "{'role':'user','content':'next'}]}",
        "{'model':'m','messages':[{'role':'user','content':'q'},"
        "{'role':'assistant','thinking_blocks':[{'type':'thinking','thinking':'t','signature':"
        "'S'}],'content':null,'tool_calls':[{'id':'c1','type':'function','function':{'name':'f',"
        "'arguments':'{}'}}]},{'role':'tool','tool_call_id':'c1','content':'ok'},"
        "{'role':'assistant','content':'a','thinking_blocks':[{'type':'redacted_thinking',"
        "'data':'D'}],'tool_calls':[{'id':'c2','type':'function','function':{'name':'f',"
        "'arguments':'{}'}}]},{'role':'tool','tool_call_id':'c2','content':'ok'},"
        "{'role':'user','content':'next'}]}");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thought_signature_from_call_id),
        cmocka_unit_test(test_thought_separator_alone),
        cmocka_unit_test(test_thinking_from_encrypted_content),
        cmocka_unit_test(test_string_input),
        cmocka_unit_test(test_instructions),
        cmocka_unit_test(test_message_items),
        cmocka_unit_test(test_images_files_audio),
        cmocka_unit_test(test_function_calls_merged),
        cmocka_unit_test(test_reasoning_dropped),
        cmocka_unit_test(test_tools),
        cmocka_unit_test(test_tool_choice),
        cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_limits_reasoning_logprobs),
        cmocka_unit_test(test_members_copied_and_dropped),
        cmocka_unit_test(test_translation_wins),
        cmocka_unit_test(test_feeds_provider_translator),
        cmocka_unit_test(test_refused_stored_state),
        cmocka_unit_test(test_refused_input),
        cmocka_unit_test(test_refused_parts),
        cmocka_unit_test(test_refused_calls),
        cmocka_unit_test(test_refused_tools),
        cmocka_unit_test(test_refused_members),
        cmocka_unit_test(test_refusal_quotes_little),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_wrong_types_everywhere),
        cmocka_unit_test(test_error_params),
    };

    return cmocka_run_group_tests_name("responses_request", tests, NULL, NULL);
}
