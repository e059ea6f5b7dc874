/*
 * Anthropic's Messages API through chat completions (src/messages_xlate.c): the request into
 * a chat request, an unstreamed chat.completion into a Message, and chat chunks into
 * Anthropic's events. Golden tests compared structurally (cJSON_Compare: key order does not
 * matter, an extra or missing field does).
 *
 * JSON in this file is written with single quotes, turned into double quotes before parsing.
 */
#include "sllmp/messages.h"
#include "sllmp/buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_helpers.h"

/* ---- request ---------------------------------------------------------------------------- */

static cJSON *
to_chat(const char *req_sq, sllmp_xerr_t *e)
{
    cJSON *req = parse_sq(req_sq), *copy = cJSON_Duplicate(req, 1);
    cJSON *chat = sllmp_messages_to_chat(req, e);

    assert_true(cJSON_Compare(req, copy, 1)); /* the input is left as it was */
    cJSON_Delete(req);
    cJSON_Delete(copy);
    return chat;
}

static void
assert_chat(const char *req_sq, const char *want_sq)
{
    sllmp_xerr_t e;
    cJSON *chat = to_chat(req_sq, &e);

    if (chat == NULL) {
        fail_msg("refused: %s", e.message);
    }
    assert_json(chat, want_sq);
    cJSON_Delete(chat);
}

static void
assert_refused(const char *req_sq, const char *param)
{
    sllmp_xerr_t e;
    cJSON *chat = to_chat(req_sq, &e);

    assert_null(chat);
    assert_string_equal(e.param, param);
    assert_non_null(strstr(e.message, param));
}

static void
test_request_plain(void **state)
{
    (void)state;
    assert_chat("{'model':'m','max_tokens':10,'temperature':0.5,'top_p':0.9,'top_k':3,"
                "'stream':true,'stop_sequences':['X'],'metadata':{'user_id':'u1'},"
                "'service_tier':'auto','cache_control':{'type':'ephemeral'},"
                "'system':'sys','messages':[{'role':'user','content':'hi'}]}",
                "{'model':'m','max_tokens':10,'temperature':0.5,'top_p':0.9,'stream':true,"
                "'stop':['X'],'user':'u1','messages':[{'role':'system','content':'sys'},"
                "{'role':'user','content':'hi'}]}");
    /* system blocks joined; an empty stop list and a null system say nothing */
    assert_chat("{'model':'m','max_tokens':1,'stop_sequences':[],"
                "'system':[{'type':'text','text':'a'},{'type':'text','text':'b',"
                "'cache_control':{'type':'ephemeral'}}],"
                "'messages':[{'role':'user','content':'hi'}]}",
                "{'model':'m','max_tokens':1,'messages':[{'role':'system','content':'a\\n\\nb'},"
                "{'role':'user','content':'hi'}]}");
    assert_refused("{'model':'m','system':[{'type':'image'}],'messages':[]}", "system.0");
}

static void
test_request_user_blocks(void **state)
{
    (void)state;
    assert_chat(
        "{'model':'m','messages':[{'role':'user','content':["
        "{'type':'text','text':'look','cache_control':{'type':'ephemeral'}},"
        "{'type':'image','source':{'type':'base64','media_type':'image/png','data':'AAA'}},"
        "{'type':'image','source':{'type':'url','url':'https://x/y.png'}},"
        "{'type':'document','title':'a.pdf','source':{'type':'base64',"
        "'media_type':'application/pdf','data':'JVBE'}},"
        "{'type':'document','source':{'type':'text','media_type':'text/plain','data':'doc'}}"
        "]}]}",
        "{'model':'m','messages':[{'role':'user','content':["
        "{'type':'text','text':'look'},"
        "{'type':'image_url','image_url':{'url':'data:image/png;base64,AAA'}},"
        "{'type':'image_url','image_url':{'url':'https://x/y.png'}},"
        "{'type':'file','file':{'file_data':'data:application/pdf;base64,JVBE',"
        "'filename':'a.pdf'}},{'type':'text','text':'doc'}]}]}");
    assert_refused("{'model':'m','messages':[{'role':'user','content':[{'type':'image',"
                   "'source':{'type':'file','file_id':'f1'}}]}]}",
                   "messages.0.content.0.source");
    assert_refused("{'model':'m','messages':[{'role':'user','content':[{'type':'document',"
                   "'source':{'type':'url','url':'https://x/a.pdf'}}]}]}",
                   "messages.0.content.0.source");
    assert_refused("{'model':'m','messages':[{'role':'user','content':['x',"
                   "{'type':'search_result'}]}]}",
                   "messages.0.content.0.type");
    assert_refused("{'model':'m','messages':[{'role':'user','content':7}]}", "messages.0.content");
}

static void
test_request_tool_round_trip(void **state)
{
    (void)state;
    assert_chat(
        "{'model':'m','messages':[{'role':'user','content':'go'},"
        "{'role':'assistant','content':[{'type':'thinking','thinking':'hmm','signature':'S1'},"
        "{'type':'thinking','thinking':'unsigned','signature':''},"
        "{'type':'thinking','thinking':'no signature at all'},"
        "{'type':'redacted_thinking','data':'R1'},{'type':'text','text':'Let me '},"
        "{'type':'text','text':'check.'},"
        "{'type':'tool_use','id':'toolu_1','name':'f','input':{'a':1}},"
        "{'type':'tool_use','id':'toolu_2','name':'g','input':{}}]},"
        "{'role':'user','content':[{'type':'text','text':'after'},"
        "{'type':'tool_result','tool_use_id':'toolu_1','content':'one'},"
        "{'type':'tool_result','tool_use_id':'toolu_2','is_error':true,'content':["
        "{'type':'text','text':'bad'},{'type':'image','source':{'type':'base64',"
        "'media_type':'image/gif','data':'R0'}},{'type':'text','text':'worse'}]}]}]}",
        "{'model':'m','messages':[{'role':'user','content':'go'},"
        "{'role':'assistant','content':'Let me check.','tool_calls':["
        "{'id':'toolu_1','type':'function','function':{'name':'f','arguments':'{\\'a\\':1}'}},"
        "{'id':'toolu_2','type':'function','function':{'name':'g','arguments':'{}'}}],"
        "'thinking_blocks':[{'type':'thinking','thinking':'hmm','signature':'S1'},"
        "{'type':'redacted_thinking','data':'R1'}]},"
        "{'role':'tool','tool_call_id':'toolu_1','content':'one'},"
        "{'role':'tool','tool_call_id':'toolu_2','content':'bad\\nworse'},"
        "{'role':'user','content':[{'type':'text','text':'after'},"
        "{'type':'image_url','image_url':{'url':'data:image/gif;base64,R0'}}]}]}");
    /* calls alone: content null; a tool_use without an id is refused */
    assert_chat("{'model':'m','messages':[{'role':'assistant','content':[{'type':'tool_use',"
                "'id':'t','name':'f','input':{}}]},{'role':'user','content':["
                "{'type':'tool_result','tool_use_id':'t'}]}]}",
                "{'model':'m','messages':[{'role':'assistant','content':null,'tool_calls':["
                "{'id':'t','type':'function','function':{'name':'f','arguments':'{}'}}]},"
                "{'role':'tool','tool_call_id':'t','content':''}]}");
    assert_refused("{'model':'m','messages':[{'role':'assistant','content':[{'type':'tool_use',"
                   "'name':'f','input':{}}]}]}",
                   "messages.0.content.0");
    assert_refused("{'model':'m','messages':[{'role':'user','content':[{'type':'tool_result'}"
                   "]}]}",
                   "messages.0.content.0.tool_use_id");
}

static void
test_request_tools_and_choice(void **state)
{
    (void)state;
    assert_chat(
        "{'model':'m','messages':[{'role':'user','content':'x'}],'tools':[{'name':'f',"
        "'description':'d','input_schema':{'type':'object','properties':{'a':{'type':'string'}}},"
        "'cache_control':{'type':'ephemeral'}},{'type':'custom','name':'g','strict':true}],"
        "'tool_choice':{'type':'tool','name':'f','disable_parallel_tool_use':true}}",
        "{'model':'m','messages':[{'role':'user','content':'x'}],'tools':["
        "{'type':'function','function':{'name':'f','description':'d','parameters':{"
        "'type':'object','properties':{'a':{'type':'string'}}}}},"
        "{'type':'function','function':{'name':'g','parameters':{'type':'object',"
        "'properties':{}},'strict':true}}],"
        "'tool_choice':{'type':'function','function':{'name':'f'}},'parallel_tool_calls':false}");
    assert_chat("{'model':'m','messages':[],'tools':[{'name':'f'}],'tool_choice':{'type':'any'}}",
                "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f',"
                "'parameters':{'type':'object','properties':{}}}}],'tool_choice':'required'}");
    assert_chat("{'model':'m','messages':[],'tools':[{'name':'f'}],'tool_choice':{'type':'none'}}",
                "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f',"
                "'parameters':{'type':'object','properties':{}}}}],'tool_choice':'none'}");
    /* without tools, no tool_choice (chat refuses one) */
    assert_chat("{'model':'m','messages':[],'tool_choice':{'type':'auto'}}",
                "{'model':'m','messages':[]}");
    assert_refused("{'model':'m','messages':[],'tools':[{'type':'bash_20250124','name':'bash'}]}",
                   "tools.0.type");
    assert_refused("{'model':'m','messages':[],'tools':[{'description':'x'}]}", "tools.0.name");
    assert_refused("{'model':'m','messages':[],'tools':[{'name':'f'}],'tool_choice':{'type':'x'}}",
                   "tool_choice");
}

static void
test_request_thinking_and_format(void **state)
{
    (void)state;
    assert_chat("{'model':'m','messages':[],'thinking':{'type':'enabled','budget_tokens':1024}}",
                "{'model':'m','messages':[],'reasoning_effort':'low'}");
    assert_chat("{'model':'m','messages':[],'thinking':{'type':'enabled','budget_tokens':2048}}",
                "{'model':'m','messages':[],'reasoning_effort':'medium'}");
    assert_chat("{'model':'m','messages':[],'thinking':{'type':'enabled','budget_tokens':31999}}",
                "{'model':'m','messages':[],'reasoning_effort':'high'}");
    assert_chat("{'model':'m','messages':[],'thinking':{'type':'adaptive'}}",
                "{'model':'m','messages':[]}");
    assert_chat("{'model':'m','messages':[],'thinking':{'type':'enabled','budget_tokens':1024},"
                "'output_config':{'effort':'max','format':{'type':'json_schema',"
                "'schema':{'type':'object'}}}}",
                "{'model':'m','messages':[],'reasoning_effort':'xhigh','response_format':{"
                "'type':'json_schema','json_schema':{'name':'output','schema':{'type':'object'},"
                "'strict':true}}}");
    assert_chat("{'model':'m','messages':[],'output_format':{'type':'json_schema',"
                "'schema':{'type':'object'}}}",
                "{'model':'m','messages':[],'response_format':{'type':'json_schema',"
                "'json_schema':{'name':'output','schema':{'type':'object'},'strict':true}}}");
}

/* ---- answer ----------------------------------------------------------------------------- */

static const sllmp_messages_meta_t META = {.id = "msg_1", .model = "asked"};

#define COMPLETION(msg, finish)                                                                    \
    "{'id':'chatcmpl-1','object':'chat.completion','created':1,'model':'up',"                      \
    "'choices':[{'index':0,'message':" msg ",'finish_reason':'" finish "'}],"                      \
    "'usage':{'prompt_tokens':10,'completion_tokens':4,"                                           \
    "'prompt_tokens_details':{'cached_tokens':3},"                                                 \
    "'completion_tokens_details':{'reasoning_tokens':1}}}"

#define MESSAGE(content, stop, usage)                                                              \
    "{'id':'msg_1','type':'message','role':'assistant','model':'asked','content':" content ","     \
    "'stop_reason':'" stop "','stop_sequence':null,'usage':" usage "}"

#define OWN_USAGE                                                                                  \
    "{'input_tokens':7,'cache_creation_input_tokens':0,'cache_read_input_tokens':3,"               \
    "'output_tokens':4}"

static void
assert_answer(const char *completion_sq, const sllmp_usage_t *u, const char *want_sq)
{
    cJSON *c = parse_sq(completion_sq), *copy = cJSON_Duplicate(c, 1);
    cJSON *m = sllmp_messages_from_chat(&META, c, u);

    assert_true(cJSON_Compare(c, copy, 1));
    assert_json(m, want_sq);
    cJSON_Delete(m);
    cJSON_Delete(c);
    cJSON_Delete(copy);
}

static void
test_answer_text_and_usage(void **state)
{
    sllmp_usage_t u = {.input = 5, .cache_read = 2, .cache_write = 1, .output = 6, .reasoning = 3};

    (void)state;
    assert_answer(COMPLETION("{'role':'assistant','content':'hi'}", "stop"), NULL,
                  MESSAGE("[{'type':'text','text':'hi'}]", "end_turn", OWN_USAGE));
    /* the gateway's usage wins over the completion's */
    assert_answer(COMPLETION("{'role':'assistant','content':'hi'}", "length"), &u,
                  MESSAGE("[{'type':'text','text':'hi'}]", "max_tokens",
                          "{'input_tokens':5,'cache_creation_input_tokens':1,"
                          "'cache_read_input_tokens':2,'output_tokens':9}"));
    assert_answer(
        COMPLETION("{'role':'assistant','content':null,'refusal':'no'}", "content_filter"), NULL,
        MESSAGE("[{'type':'text','text':'no'}]", "refusal", OWN_USAGE));
    assert_answer(COMPLETION("{'role':'assistant','content':''}", "stop"), NULL,
                  MESSAGE("[]", "end_turn", OWN_USAGE));
}

static void
test_answer_thinking_and_tools(void **state)
{
    (void)state;
    /* LiteLLM's thinking_blocks as they are (reasoning_content then says nothing more) */
    assert_answer(
        COMPLETION("{'role':'assistant','content':'ok','reasoning_content':'hmm',"
                   "'thinking_blocks':[{'type':'thinking','thinking':'hmm','signature':'S'},"
                   "{'type':'redacted_thinking','data':'R'},{'type':'other'}],"
                   "'tool_calls':[{'id':'c1','type':'function','function':{'name':'f',"
                   "'arguments':'{\\'a\\':[1]}'}},{'id':'c2','type':'function','function':{"
                   "'name':'g','arguments':'not json'}}]}",
                   "tool_calls"),
        NULL,
        MESSAGE("[{'type':'thinking','thinking':'hmm','signature':'S'},"
                "{'type':'redacted_thinking','data':'R'},{'type':'text','text':'ok'},"
                "{'type':'tool_use','id':'c1','name':'f','input':{'a':[1]}},"
                "{'type':'tool_use','id':'c2','name':'g','input':{}}]",
                "tool_use", OWN_USAGE));
    /* reasoning alone: one unsigned thinking block; calls under "stop" are still tool_use */
    assert_answer(COMPLETION("{'role':'assistant','content':null,'reasoning_content':'r',"
                             "'tool_calls':[{'id':'c','function':{'name':'f','arguments':''}}]}",
                             "stop"),
                  NULL,
                  MESSAGE("[{'type':'thinking','thinking':'r','signature':''},"
                          "{'type':'tool_use','id':'c','name':'f','input':{}}]",
                          "tool_use", OWN_USAGE));
    assert_null(sllmp_messages_from_chat(&META, NULL, NULL));
    {
        cJSON *c = parse_sq("{'choices':[{'index':0}]}");

        assert_null(sllmp_messages_from_chat(&META, c, NULL));
        cJSON_Delete(c);
    }
}

/* ---- stream ----------------------------------------------------------------------------- */

typedef struct {
    cJSON *events; /* every event's data */
    int stop_at;   /* the event number (from 1) whose emit returns 7; 0 never */
} sink_t;

static int
collect(void *ud, const char *type, const cJSON *data)
{
    sink_t *k = ud;

    assert_string_equal(type, cJSON_GetObjectItemCaseSensitive(data, "type")->valuestring);
    cJSON_AddItemToArray(k->events, cJSON_Duplicate(data, 1));
    return cJSON_GetArraySize(k->events) == k->stop_at ? 7 : 0;
}

#define START                                                                                      \
    "{'type':'message_start','message':{'id':'msg_1','type':'message','role':'assistant',"         \
    "'model':'asked','content':[],'stop_reason':null,'stop_sequence':null,"                        \
    "'usage':{'input_tokens':0,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"       \
    "'output_tokens':0}}},{'type':'ping'}"

#define CHUNK(delta, finish)                                                                       \
    "{'object':'chat.completion.chunk','choices':[{'index':0,'delta':" delta                       \
    ",'finish_reason':" finish "}]}"

/* Feeds the chunks (a JSON array, single-quoted) and finishes with u; the events must be want. */
static void
assert_stream(const char *chunks_sq, const sllmp_usage_t *u, const char *want_sq)
{
    cJSON *chunks = parse_sq(chunks_sq), *c;
    sink_t k = {.events = cJSON_CreateArray()};
    sllmp_mstream_t s;

    memset(&s, 0, sizeof(s));
    s.meta = META;
    s.emit = collect;
    s.ud = &k;
    cJSON_ArrayForEach(c, chunks)
    {
        assert_int_equal(sllmp_mstream_chunk(&s, c), 0);
    }
    assert_int_equal(sllmp_mstream_finish(&s, u), 0);
    cJSON_ArrayForEach(c, k.events)
    {
        /* a made-up id (test_stream_made_up_id) reads 'ID' in the goldens */
        cJSON *b = cJSON_GetObjectItemCaseSensitive(c, "content_block");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "id");

        if (cJSON_IsString(id) && strncmp(id->valuestring, "toolu_", 6) == 0) {
            cJSON_ReplaceItemInObjectCaseSensitive(b, "id", cJSON_CreateString("ID"));
        }
    }
    assert_json(k.events, want_sq);
    cJSON_Delete(k.events);
    cJSON_Delete(chunks);
}

#define END(stop, usage)                                                                           \
    "{'type':'message_delta','delta':{'stop_reason':'" stop "','stop_sequence':null},"             \
    "'usage':" usage "},{'type':'message_stop'}"

#define ZERO_USAGE                                                                                 \
    "{'input_tokens':0,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"               \
    "'output_tokens':0}"

static void
test_stream_text(void **state)
{
    sllmp_usage_t u = {.input = 4, .output = 2};

    (void)state;
    assert_stream(
        "[" CHUNK(
            "{'role':'assistant','content':''}",
            "null") ","
                    "{'choices':[{'index':1,'delta':{'content':'other choice'}}]}," CHUNK(
                        "{'content':'Hel'}",
                        "null") "," CHUNK("{'content':'lo'}",
                                          "null") "," CHUNK("{}",
                                                            "'stop'") ",{'choices':[],'usage':{'"
                                                                      "prompt_tokens':4}}]",
        &u,
        "[" START ",{'type':'content_block_start','index':0,'content_block':{"
        "'type':'text','text':''}},"
        "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta',"
        "'text':'Hel'}},{'type':'content_block_delta','index':0,'delta':{"
        "'type':'text_delta','text':'lo'}},{'type':'content_block_stop','index':0}," END(
            "end_turn", "{'input_tokens':4,'cache_creation_input_tokens':0,"
                        "'cache_read_input_tokens':0,'output_tokens':2}") "]");
    /* nothing at all: still a whole message */
    assert_stream("[]", NULL, "[" START "," END("end_turn", ZERO_USAGE) "]");
}

static void
test_stream_thinking_then_tools(void **state)
{
    (void)state;
    assert_stream(
        "[" CHUNK("{'reasoning_content':'hm'}", "null") "," CHUNK(
            "{'reasoning_content':'m'}",
            "nul"
            "l") "," CHUNK("{'thinking_blocks':[{'type':'thinking','thinking':'hmm','signature':'S'"
                           ","
                           "'index':0}]}",
                           "null") "," CHUNK("{'thinking_blocks':[{'type':'redacted_thinking','"
                                             "data':'R','index':"
                                             "1}]}",
                                             "null") "," CHUNK("{'thinking_blocks':[{'type':'"
                                                               "thinking','thinking':"
                                                               "'late','signature':'T',"
                                                               "'index':2}]}",
                                                               "null") "," CHUNK("{'tool_calls':[{'"
                                                                                 "index':0,'id':'"
                                                                                 "c1','type':'"
                                                                                 "function','"
                                                                                 "function'"
                                                                                 ":{'name':'f',"
                                                                                 "'arguments':''}}]"
                                                                                 "}",
                                                                                 "null") "," CHUNK("{'tool_calls':"
                                                                                                   "[{'index':0,'"
                                                                                                   "function':{'"
                                                                                                   "arguments':'{"
                                                                                                   "\\'a\\':'}}]}",
                                                                                                   "null") "," CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'1}'}}]}",
                                                                                                                     "null") "," CHUNK("{'tool_calls':[{'index':1,'function':{'name':'g','arguments':'{}'}}]}",
                                                                                                                                       "null") "," CHUNK("{}",
                                                                                                                                                         "'tool_calls'") "]",
        NULL,
        "[" START ","
        "{'type':'content_block_start','index':0,'content_block':{'type':'thinking',"
        "'thinking':'','signature':''}},"
        "{'type':'content_block_delta','index':0,'delta':{'type':'thinking_delta',"
        "'thinking':'hm'}},"
        "{'type':'content_block_delta','index':0,'delta':{'type':'thinking_delta',"
        "'thinking':'m'}},"
        "{'type':'content_block_delta','index':0,'delta':{'type':'signature_delta',"
        "'signature':'S'}},"
        "{'type':'content_block_stop','index':0},"
        "{'type':'content_block_start','index':1,'content_block':{'type':'redacted_thinking',"
        "'data':'R'}},{'type':'content_block_stop','index':1},"
        /* an entry with no reasoning_content before it brings its own text */
        "{'type':'content_block_start','index':2,'content_block':{'type':'thinking',"
        "'thinking':'','signature':''}},"
        "{'type':'content_block_delta','index':2,'delta':{'type':'thinking_delta',"
        "'thinking':'late'}},"
        "{'type':'content_block_delta','index':2,'delta':{'type':'signature_delta',"
        "'signature':'T'}},"
        "{'type':'content_block_stop','index':2},"
        "{'type':'content_block_start','index':3,'content_block':{'type':'tool_use','id':'c1',"
        "'name':'f','input':{}}},"
        "{'type':'content_block_delta','index':3,'delta':{'type':'input_json_delta',"
        "'partial_json':'{\\'a\\':'}},"
        "{'type':'content_block_delta','index':3,'delta':{'type':'input_json_delta',"
        "'partial_json':'1}'}},"
        "{'type':'content_block_stop','index':3},"
        "{'type':'content_block_start','index':4,'content_block':{'type':'tool_use','id':'ID',"
        "'name':'g','input':{}}},"
        "{'type':'content_block_delta','index':4,'delta':{'type':'input_json_delta',"
        "'partial_json':'{}'}},"
        "{'type':'content_block_stop','index':4}," END("tool_use", ZERO_USAGE) "]");
}

/* The tool_use block made up for a call without an id gets "toolu_" and 24 hex digits; the
 * goldens have 'ID' there, which assert_stream() puts in place before comparing. */
static void
test_stream_made_up_id(void **state)
{
    cJSON *c = parse_sq(CHUNK("{'tool_calls':[{'index':0,'function':{'name':'g'}}]}", "null"));
    sink_t k = {.events = cJSON_CreateArray()};
    sllmp_mstream_t s;
    const cJSON *b;
    const char *id;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.meta = META;
    s.emit = collect;
    s.ud = &k;
    assert_int_equal(sllmp_mstream_chunk(&s, c), 0);
    b = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(k.events, 2), "content_block");
    id = cJSON_GetObjectItemCaseSensitive(b, "id")->valuestring;
    assert_int_equal(strlen(id), 6 + 24);
    assert_int_equal(strncmp(id, "toolu_", 6), 0);
    assert_int_equal(strspn(id + 6, "0123456789abcdef"), 24);
    cJSON_Delete(c);
    cJSON_Delete(k.events);
}

static void
test_stream_emit_stops(void **state)
{
    cJSON *c = parse_sq(CHUNK("{'content':'a'}", "null"));
    sink_t k = {.events = cJSON_CreateArray(), .stop_at = 3};
    sllmp_mstream_t s;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.meta = META;
    s.emit = collect;
    s.ud = &k;
    /* message_start, ping, then the block's start returns 7: nothing more, ever */
    assert_int_equal(sllmp_mstream_chunk(&s, c), 7);
    assert_int_equal(sllmp_mstream_chunk(&s, c), 7);
    assert_int_equal(sllmp_mstream_finish(&s, NULL), 7);
    assert_int_equal(cJSON_GetArraySize(k.events), 3);
    cJSON_Delete(c);
    cJSON_Delete(k.events);
}

/* Anthropic's own API refuses a Gemini-signed id: the part before the separator goes. */
static void
test_bare_ids(void **state)
{
    cJSON *req = parse_sq("{'messages':[{'role':'user','content':'go'},"
                          "{'role':'assistant','content':[{'type':'text','text':'x'},"
                          "{'type':'tool_use','id':'call_1__thought__Q+/=','name':'f'},"
                          "{'type':'tool_use','id':'toolu_2','name':'g'}]},"
                          "{'role':'user','content':[{'type':'tool_result',"
                          "'tool_use_id':'call_1__thought__Q+/='},{'type':'tool_result',"
                          "'tool_use_id':'toolu_2'},{'type':'text','text':'__thought__'}]}]}");

    (void)state;
    assert_int_equal(sllmp_messages_bare_ids(req), 2);
    assert_json(req, "{'messages':[{'role':'user','content':'go'},"
                     "{'role':'assistant','content':[{'type':'text','text':'x'},"
                     "{'type':'tool_use','id':'call_1','name':'f'},"
                     "{'type':'tool_use','id':'toolu_2','name':'g'}]},"
                     "{'role':'user','content':[{'type':'tool_result','tool_use_id':'call_1'},"
                     "{'type':'tool_result','tool_use_id':'toolu_2'},"
                     "{'type':'text','text':'__thought__'}]}]}");
    assert_int_equal(sllmp_messages_bare_ids(req), 0);
    cJSON_Delete(req);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_plain),
        cmocka_unit_test(test_request_user_blocks),
        cmocka_unit_test(test_request_tool_round_trip),
        cmocka_unit_test(test_request_tools_and_choice),
        cmocka_unit_test(test_request_thinking_and_format),
        cmocka_unit_test(test_answer_text_and_usage),
        cmocka_unit_test(test_answer_thinking_and_tools),
        cmocka_unit_test(test_stream_text),
        cmocka_unit_test(test_stream_thinking_then_tools),
        cmocka_unit_test(test_stream_made_up_id),
        cmocka_unit_test(test_stream_emit_stops),
        cmocka_unit_test(test_bare_ids),
    };

    return cmocka_run_group_tests_name("messages", tests, NULL, NULL);
}
