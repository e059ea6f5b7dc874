/*
 * The response cache's data (commit 564b24e; include/sllmp/cache.h): the key of a request, a
 * stream made whole (sllmp_cache_asm_*), what is worth keeping, an answer replayed as chunks,
 * and the files shelf of src/keep.c (a file's mtime is the instant it expires; max_mb is the
 * quota). The configuration is tests/unit/test_conf.c's.
 *
 * keep.c is included, so each shelf test can start from a fresh sweep (its state is
 * process-global and sweeps at most once a minute): each sets swept_at[SHELF_CACHE] to 0
 * itself, so the order of the tests does not matter.
 *
 * JSON in this file is written with single quotes, turned into double quotes before parsing
 * (sq()); a \\' in a C string is an escaped quote inside a JSON string.
 */
#include "sllmp/cache.h"
#include "sllmp/conf.h"
#include "sllmp/translate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "json_helpers.h"

#include "../../src/keep.c"
#include "fake_docs.h"

#define HEX  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define HEX3 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define MIB  (1024 * 1024)

static char top[] = "/tmp/sllmp-cache-XXXXXX";

#include "tmp_top.h"

/* ---- the key ------------------------------------------------------------------------------ */

/* The key of body (single-quoted) for group, checked to be 64 lowercase hex digits. */
static void
key_of(const char *body, const char *group, char hex[65])
{
    cJSON *b = parse_sq(body);

    memset(hex, 'x', 65);
    assert_int_equal(sllmp_cache_key(b, group, hex), 0);
    cJSON_Delete(b);
    assert_int_equal(strlen(hex), 64);
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)hex[i]) || isupper((unsigned char)hex[i])) {
            fail_msg("key %s: '%c' is no lowercase hex digit", hex, hex[i]);
        }
    }
}

static void
assert_same_key(const char *a, const char *b, const char *group)
{
    char ka[65], kb[65];

    key_of(a, group, ka);
    key_of(b, group, kb);
    if (strcmp(ka, kb) != 0) {
        fail_msg("different keys for\n  %s\n  %s", a, b);
    }
}

static void
assert_other_key(const char *a, const char *b, const char *ga, const char *gb)
{
    char ka[65], kb[65];

    key_of(a, ga, ka);
    key_of(b, gb, kb);
    if (strcmp(ka, kb) == 0) {
        fail_msg("the same key for\n  %s (%s)\n  %s (%s)", a, ga, b, gb);
    }
}

/* Members in another order, at any depth, are the same request; the order of a list is not. */
static void
test_key_member_order(void **state)
{
    static const char a[] =
        "{'model':'m','temperature':0.5,'messages':[{'role':'user','content':'hi'}],"
        "'response_format':{'type':'json_schema','json_schema':{'name':'x','schema':"
        "{'type':'object','properties':{'a':{'type':'string'},'b':{'type':'number'}}}}}}";
    static const char b[] =
        "{'response_format':{'json_schema':{'schema':{'properties':{'b':{'type':'number'},"
        "'a':{'type':'string'}},'type':'object'},'name':'x'},'type':'json_schema'},"
        "'messages':[{'content':'hi','role':'user'}],'temperature':0.5,'model':'m'}";
    char k[65];

    (void)state;
    assert_same_key(a, b, "g");
    assert_other_key("{'model':'m','messages':[{'role':'user','content':'a'},"
                     "{'role':'user','content':'b'}]}",
                     "{'model':'m','messages':[{'role':'user','content':'b'},"
                     "{'role':'user','content':'a'}]}",
                     "g", "g");
    /* SHA-256 of the canonical text {"a":{"c":3,"d":2},"b":1,"model":"g"} (sha256sum) */
    key_of("{'b':1,'model':'deployment','a':{'d':2,'c':3}}", "g", k);
    assert_string_equal(k, "a8791b063e6c7bd15b5d08da76e18208b7753a8fdf70b4488a315bd1cea7db80");
}

/* What changes the answer changes the key: the parameters, the user, the messages, the model
 * group (and only the group: an alias and its target share the key). */
static void
test_key_what_counts(void **state)
{
    static const char base[] = "{'model':'m','messages':[{'role':'user','content':'hi'}],"
                               "'temperature':0.5}";

    (void)state;
    assert_other_key(base,
                     "{'model':'m','messages':[{'role':'user','content':'hi'}],"
                     "'temperature':0.7}",
                     "g", "g");
    assert_other_key(base,
                     "{'model':'m','messages':[{'role':'user','content':'hi'}],"
                     "'temperature':0.5,'user':'u1'}",
                     "g", "g");
    assert_other_key("{'model':'m','messages':[],'user':'u1'}",
                     "{'model':'m','messages':[],'user':'u2'}", "g", "g");
    assert_other_key(base,
                     "{'model':'m','messages':[{'role':'user','content':'hi!'}],"
                     "'temperature':0.5}",
                     "g", "g");
    assert_other_key(base, base, "g1", "g2");
    assert_other_key(base, base, "g", NULL);
    assert_same_key(base,
                    "{'model':'alias','messages':[{'role':'user','content':'hi'}],"
                    "'temperature':0.5}",
                    "g");
    /* left out at the top only: a tool's own metadata is part of the request */
    assert_other_key("{'model':'m','tools':[{'type':'function','function':{'name':'f'}}]}",
                     "{'model':'m','tools':[{'type':'function','function':{'name':'f',"
                     "'metadata':{'a':1},'stream':true}}]}",
                     "g", "g");
}

/* How it is streamed, what the client notes for itself and the gateway's own settings are not
 * in the key. */
static void
test_key_left_out(void **state)
{
    static const char base[] = "{'model':'m','messages':[{'role':'user','content':'hi'}]}";
    static const char *const extra[] = {
        "'stream':true",
        "'stream_options':{'include_usage':true}",
        "'metadata':{'trace':'t1','redis_namespace':'n'}",
        "'cache':{'no-cache':true,'ttl':5}",
        "'caching':true",
        "'cache_key':'mine'",
        "'ttl':30",
        "'litellm_metadata':{'a':1}",
        "'tags':['a','b']",
        "'num_retries':3",
        "'fallbacks':['other']",
        "'timeout':12",
        "'mock_response':'hello'",
        "'mock_testing_fallbacks':true",
        "'mock_anything':1",
    };
    char with[512];

    (void)state;
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        snprintf(with, sizeof(with), "{%s,%s", extra[i], base + 1);
        assert_same_key(base, with, "g");
    }
    snprintf(with, sizeof(with), "{%s,%s,%s,%s", extra[0], extra[2], extra[8], base + 1);
    assert_same_key(base, with, "g");
}

/* ---- streams made whole ------------------------------------------------------------------- */

/* The answer of the chunks (single-quoted, NULL-terminated), each taken. */
static cJSON *
assemble(const char *const *chunks)
{
    sllmp_cache_asm_t a = {NULL};

    for (size_t i = 0; chunks[i] != NULL; i++) {
        cJSON *c = parse_sq(chunks[i]);

        if (sllmp_cache_asm_add(&a, c) != 0) {
            fail_msg("chunk %zu refused: %s", i, chunks[i]);
        }
        cJSON_Delete(c);
    }
    return sllmp_cache_asm_take(&a);
}

#define CHUNK(rest)                                                                                \
    "{'id':'chatcmpl-1','object':'chat.completion.chunk','created':1700000000,'model':'gpt-x',"    \
    "'system_fingerprint':'fp_1'," rest "}"
#define TOK_HEL "{'token':'Hel','logprob':-0.25,'bytes':[72,101,108],'top_logprobs':[]}"
#define TOK_LO  "{'token':'lo','logprob':-0.5,'bytes':[108,111],'top_logprobs':[]}"

/* Two choices (n=2): one with reasoning, text and logprobs, one with two tool calls whose
 * arguments come in pieces, interleaved; each its finish_reason; then the usage. */
static void
test_asm_chat(void **state)
{
    static const char *const chunks[] = {
        CHUNK("'choices':[{'index':0,'delta':{'role':'assistant','content':''},'logprobs':null,"
              "'finish_reason':null}]"),
        CHUNK("'choices':[{'index':0,'delta':{'reasoning_content':'Think'},'finish_reason':null}"
              "]"),
        CHUNK("'choices':[{'index':1,'delta':{'role':'assistant','content':null,'tool_calls':["
              "{'index':0,'id':'call_a','type':'function','function':{'name':'get_weather',"
              "'arguments':''}}]},'finish_reason':null}]"),
        CHUNK("'choices':[{'index':0,'delta':{'reasoning_content':'ing.'},'finish_reason':null}]"),
        CHUNK("'choices':[{'index':0,'delta':{'content':'Hel'},'logprobs':{'content':[" TOK_HEL
              "]},'finish_reason':null}]"),
        CHUNK("'choices':[{'index':1,'delta':{'tool_calls':[{'index':0,'function':{"
              "'arguments':'{\\'city\\':'}}]},'finish_reason':null}]"),
        CHUNK("'choices':[{'index':0,'delta':{'content':'lo'},'logprobs':{'content':[" TOK_LO
              "]},'finish_reason':null}]"),
        CHUNK("'choices':[{'index':1,'delta':{'tool_calls':[{'index':1,'id':'call_b',"
              "'type':'function','function':{'name':'get_time','arguments':''}},"
              "{'index':0,'function':{'arguments':'\\'Paris\\'}'}}]},'finish_reason':null}]"),
        CHUNK("'choices':[{'index':1,'delta':{'tool_calls':[{'index':1,'function':{"
              "'arguments':'{}'}}]},'finish_reason':null}]"),
        CHUNK("'choices':[{'index':0,'delta':{},'logprobs':null,'finish_reason':'stop'}]"),
        CHUNK("'choices':[{'index':1,'delta':{},'finish_reason':'tool_calls'}]"),
        CHUNK("'choices':[],'usage':{'prompt_tokens':9,'completion_tokens':12,"
              "'total_tokens':21}"),
        NULL,
    };
    cJSON *resp;

    (void)state;
    resp = assemble(chunks);
    assert_json(resp, "{'id':'chatcmpl-1','object':'chat.completion','created':1700000000,"
                      "'model':'gpt-x','system_fingerprint':'fp_1','choices':["
                      "{'index':0,'message':{'role':'assistant','content':'Hello',"
                      "'reasoning_content':'Thinking.'},'logprobs':{'content':[" TOK_HEL "," TOK_LO
                      "]},'finish_reason':'stop'},"
                      "{'index':1,'message':{'role':'assistant','content':null,'tool_calls':["
                      "{'id':'call_a','type':'function','function':{'name':'get_weather',"
                      "'arguments':'{\\'city\\':\\'Paris\\'}'}},"
                      "{'id':'call_b','type':'function','function':{'name':'get_time',"
                      "'arguments':'{}'}}]},'logprobs':null,'finish_reason':'tool_calls'}],"
                      "'usage':{'prompt_tokens':9,'completion_tokens':12,'total_tokens':21}}");
    cJSON_Delete(resp);
}

/* A text completion's chunks (object text_completion too) make a text_completion. */
static void
test_asm_text(void **state)
{
    static const char *const chunks[] = {
        "{'id':'cmpl-1','object':'text_completion','created':5,'model':'davinci','choices':["
        "{'index':0,'text':'Hel','logprobs':null,'finish_reason':null}]}",
        "{'id':'cmpl-1','object':'text_completion','created':5,'model':'davinci','choices':["
        "{'index':0,'text':'lo','logprobs':null,'finish_reason':null}]}",
        "{'id':'cmpl-1','object':'text_completion','created':5,'model':'davinci','choices':["
        "{'index':0,'text':'','logprobs':null,'finish_reason':'length'}]}",
        "{'id':'cmpl-1','object':'text_completion','created':5,'model':'davinci','choices':[],"
        "'usage':{'prompt_tokens':1,'completion_tokens':2,'total_tokens':3}}",
        NULL,
    };
    cJSON *resp;

    (void)state;
    resp = assemble(chunks);
    assert_json(resp, "{'id':'cmpl-1','object':'text_completion','created':5,'model':'davinci',"
                      "'choices':[{'index':0,'text':'Hello','logprobs':null,"
                      "'finish_reason':'length'}],"
                      "'usage':{'prompt_tokens':1,'completion_tokens':2,'total_tokens':3}}");
    cJSON_Delete(resp);
}

/* What is no chunk is refused and leaves the assembler as it was; nothing makes no answer. */
static void
test_asm_not_a_chunk(void **state)
{
    static const char *const bad[] = {
        "{'id':'chatcmpl-1','object':'chat.completion','choices':[]}",
        "{'error':{'message':'boom','type':'server_error'}}",
        "{'object':7,'choices':[]}",
        "[]",
    };
    sllmp_cache_asm_t a = {NULL};
    cJSON *c;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = parse_sq(bad[i]);
        assert_int_equal(sllmp_cache_asm_add(&a, c), -1);
        cJSON_Delete(c);
        assert_null(a.resp);
    }
    assert_null(sllmp_cache_asm_take(&a));

    c = parse_sq(CHUNK("'choices':[{'index':0,'delta':{'content':'x'}}]"));
    assert_int_equal(sllmp_cache_asm_add(&a, c), 0);
    cJSON_Delete(c);
    c = parse_sq("{'object':'chat.completion','choices':[]}");
    assert_int_equal(sllmp_cache_asm_add(&a, c), -1);
    cJSON_Delete(c);
    sllmp_cache_asm_free(&a); /* what it held goes (ASan) */
    assert_null(a.resp);
    assert_null(sllmp_cache_asm_take(&a));
}

/* ---- answers replayed --------------------------------------------------------------------- */

/* resp (single-quoted) replayed as chunks, nchunks of them, made whole again: the same. */
static void
round_trip(const char *text, int nchunks)
{
    cJSON *resp = parse_sq(text), *chunks = sllmp_cache_chunks(resp), *back;
    const char *object = sllmp_json_str(resp, "object");
    sllmp_cache_asm_t a = {NULL};
    const cJSON *c;

    assert_non_null(chunks);
    assert_int_equal(cJSON_GetArraySize(chunks), nchunks);
    cJSON_ArrayForEach(c, chunks)
    {
        assert_string_equal(sllmp_json_str(c, "object"), strcmp(object, "chat.completion") == 0
                                                             ? "chat.completion.chunk"
                                                             : "text_completion");
        assert_string_equal(sllmp_json_str(c, "id"), sllmp_json_str(resp, "id"));
        assert_int_equal(sllmp_cache_asm_add(&a, c), 0);
    }
    back = sllmp_cache_asm_take(&a);
    if (!cJSON_Compare(back, resp, 1)) {
        char *g = cJSON_PrintUnformatted(back), *w = cJSON_PrintUnformatted(resp);

        print_error("got:  %s\nwant: %s\n", g, w);
        free(g);
        free(w);
        fail();
    }
    cJSON_Delete(back);
    cJSON_Delete(chunks);
    cJSON_Delete(resp);
}

static void
test_chunks_round_trip(void **state)
{
    (void)state;
    /* two choices: two chunks each, then the usage's */
    round_trip("{'id':'chatcmpl-9','object':'chat.completion','created':1,'model':'gpt-x',"
               "'system_fingerprint':'fp_9','choices':["
               "{'index':0,'message':{'role':'assistant','content':'Hello',"
               "'reasoning_content':'Thinking.'},'logprobs':{'content':[" TOK_HEL "," TOK_LO
               "]},'finish_reason':'stop'},"
               "{'index':1,'message':{'role':'assistant','content':null,'tool_calls':["
               "{'id':'call_a','type':'function','function':{'name':'get_weather',"
               "'arguments':'{\\'city\\':\\'Paris\\'}'}},"
               "{'id':'call_b','type':'function','function':{'name':'get_time',"
               "'arguments':'{}'}}]},'logprobs':null,'finish_reason':'tool_calls'}],"
               "'usage':{'prompt_tokens':9,'completion_tokens':12,'total_tokens':21,"
               "'completion_tokens_details':{'reasoning_tokens':3}}}",
               5);
    round_trip("{'id':'chatcmpl-8','object':'chat.completion','created':2,'model':'m',"
               "'choices':[{'index':0,'message':{'role':'assistant','content':null,"
               "'refusal':'I cannot.'},'logprobs':null,'finish_reason':'stop'}]}",
               2);
    round_trip("{'id':'cmpl-7','object':'text_completion','created':3,'model':'davinci',"
               "'choices':[{'index':0,'text':'Hello','logprobs':null,'finish_reason':'length'}],"
               "'usage':{'prompt_tokens':1,'completion_tokens':2,'total_tokens':3}}",
               3);
}

/* The chunks themselves: the whole delta first, then the finish_reason alone, each tool call
 * with its index (once, even when the stored call had one), the usage with no choices. */
static void
test_chunks_shape(void **state)
{
    cJSON *resp = parse_sq("{'id':'c','object':'chat.completion','created':1,'model':'m',"
                           "'choices':[{'index':0,'message':{'role':'assistant','content':null,"
                           "'tool_calls':[{'index':0,'id':'a','type':'function','function':"
                           "{'name':'f','arguments':'{}'}},{'id':'b','type':'function',"
                           "'function':{'name':'g','arguments':'[]'}}]},"
                           "'finish_reason':'tool_calls'}],"
                           "'usage':{'prompt_tokens':1,'completion_tokens':1,'total_tokens':2}}");
    cJSON *chunks = sllmp_cache_chunks(resp), *emb;
    const cJSON *call, *m;

    (void)state;
    assert_non_null(chunks);
    assert_json(chunks,
                "[{'id':'c','object':'chat.completion.chunk','created':1,'model':'m','choices':["
                "{'index':0,'delta':{'role':'assistant','tool_calls':["
                "{'index':0,'id':'a','type':'function','function':{'name':'f','arguments':'{}'}},"
                "{'index':1,'id':'b','type':'function','function':{'name':'g',"
                "'arguments':'[]'}}]},'logprobs':null,'finish_reason':null}]},"
                "{'id':'c','object':'chat.completion.chunk','created':1,'model':'m','choices':["
                "{'index':0,'delta':{},'logprobs':null,'finish_reason':'tool_calls'}]},"
                "{'id':'c','object':'chat.completion.chunk','created':1,'model':'m','choices':[],"
                "'usage':{'prompt_tokens':1,'completion_tokens':1,'total_tokens':2}}]");
    /* cJSON_Compare does not see a member twice */
    cJSON_ArrayForEach(
        call, cJSON_GetObjectItem(
                  cJSON_GetObjectItem(
                      cJSON_GetArrayItem(
                          cJSON_GetObjectItem(cJSON_GetArrayItem(chunks, 0), "choices"), 0),
                      "delta"),
                  "tool_calls"))
    {
        int n = 0;

        cJSON_ArrayForEach(m, call)
        {
            n += strcmp(m->string, "index") == 0;
        }
        assert_int_equal(n, 1);
    }
    cJSON_Delete(chunks);
    cJSON_Delete(resp);

    emb = parse_sq("{'object':'list','data':[{'object':'embedding','index':0,'embedding':[1]}]}");
    assert_null(sllmp_cache_chunks(emb));
    cJSON_Delete(emb);
}

/* ---- worth keeping ------------------------------------------------------------------------ */

static int
worth(const char *resp)
{
    cJSON *r = parse_sq(resp);
    int w = sllmp_cache_worth_keeping(r);

    cJSON_Delete(r);
    return w;
}

static void
test_worth_keeping(void **state)
{
    (void)state;
    assert_false(worth("{'object':'chat.completion','choices':[{'index':0,'message':"
                       "{'role':'assistant','content':''},'finish_reason':'stop'}]}"));
    assert_false(worth("{'object':'chat.completion','choices':[{'index':0,'message':"
                       "{'role':'assistant','content':null,'tool_calls':[]}}]}"));
    assert_false(worth("{'object':'chat.completion','choices':[]}"));
    assert_false(worth("{'object':'chat.completion'}"));
    assert_true(worth("{'object':'chat.completion','choices':[{'index':0,'message':"
                      "{'role':'assistant','content':'hi'}}]}"));
    assert_true(worth("{'object':'chat.completion','choices':[{'index':0,'message':"
                      "{'role':'assistant','content':null,'tool_calls':[{'id':'a',"
                      "'type':'function','function':{'name':'f','arguments':'{}'}}]}}]}"));
    assert_true(worth("{'object':'chat.completion','choices':[{'index':0,'message':"
                      "{'role':'assistant','content':null,'refusal':'no'}}]}"));
    assert_true(worth("{'object':'chat.completion','choices':[{'index':0,'message':"
                      "{'role':'assistant','content':'','reasoning_content':'hmm'}}]}"));
    /* the second choice says something */
    assert_true(worth("{'object':'chat.completion','choices':[{'index':0,'message':"
                      "{'content':''}},{'index':1,'message':{'content':'x'}}]}"));
    assert_false(worth("{'object':'text_completion','choices':[{'index':0,'text':''}]}"));
    assert_true(worth("{'object':'text_completion','choices':[{'index':0,'text':'x'}]}"));
    assert_true(worth("{'object':'list','data':[{'object':'embedding','index':0,"
                      "'embedding':[0.5]}],'model':'e'}"));
    assert_false(worth("{'object':'list','data':[],'model':'e'}"));
}

/* ---- the files shelf ---------------------------------------------------------------------- */

/* A config with the cache in files in top/sub (made by the first put), quota max_mb. */
static sllmp_conf_t
conf_in(const char *sub, char *dir, size_t len, long max_mb)
{
    sllmp_conf_t c;

    memset(&c, 0, sizeof(c));
    snprintf(dir, len, "%s/%s", top, sub);
    c.cache.type = SLLMP_CACHE_FILES;
    c.cache.type_name = "local";
    c.cache.dir = dir;
    c.cache.max_mb = max_mb;
    c.cache.ttl_s = 600;
    return c;
}

/* path's mtime moved to `seconds` from now (negative: the past). */
static void
set_mtime(const char *path, long seconds)
{
    struct timespec ts[2];

    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec += seconds;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void
test_files_put_get_del(void **state)
{
    static const char doc[] = "{\"v\":1,\"created\":1,\"response\":{\"id\":\"chatcmpl-1\"}}";
    char dir[256], path[512];
    sllmp_conf_t c = conf_in("a/cache", dir, sizeof(dir), 1);
    sllmp_buf_t b;
    struct stat st;
    time_t now = time(NULL);

    (void)state;
    swept_at[SHELF_CACHE] = 0;
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX, &b), 0); /* no dir yet */
    assert_int_equal(sllmp_cache_del(&c, NULL, HEX), 0);

    assert_int_equal(sllmp_cache_put(&c, NULL, HEX, doc, sizeof(doc) - 1, 60), 0);
    snprintf(path, sizeof(path), "%s/" HEX ".json", dir);
    assert_int_equal(stat(path, &st), 0);
    /* the mtime is when it expires */
    assert_true(st.st_mtime >= now + 60 && st.st_mtime <= time(NULL) + 60);
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX, &b), 1);
    assert_int_equal(b.len, sizeof(doc) - 1);
    assert_memory_equal(b.ptr, doc, sizeof(doc) - 1);
    sllmp_buf_reset(&b);
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX2, &b), 0);
    assert_int_equal(b.len, 0);

    /* a fresh answer overwrites */
    assert_int_equal(sllmp_cache_put(&c, NULL, HEX, "{}", 2, 60), 0);
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX, &b), 1);
    assert_string_equal(sllmp_buf_cstr(&b), "{}");
    sllmp_buf_reset(&b);

    assert_int_equal(sllmp_cache_del(&c, NULL, HEX), 1);
    assert_false(exists(path));
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX, &b), 0);
    assert_int_equal(sllmp_cache_del(&c, NULL, HEX), 0);
    sllmp_buf_free(&b);
}

/* An answer lives its ttl: once its mtime is past, it is gone (and its file with it). */
static void
test_files_expiry(void **state)
{
    char dir[256], path[512];
    sllmp_conf_t c = conf_in("expiry", dir, sizeof(dir), 1);
    sllmp_buf_t b;

    (void)state;
    swept_at[SHELF_CACHE] = 0;
    sllmp_buf_init(&b, 0);
    snprintf(path, sizeof(path), "%s/" HEX ".json", dir);
    assert_int_equal(sllmp_cache_put(&c, NULL, HEX, "{}", 2, 1), 0);
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX, &b), 1);
    sllmp_buf_reset(&b);
    set_mtime(path, -1);
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX, &b), 0);
    assert_int_equal(b.len, 0);
    assert_false(exists(path));

    /* the expiry instant itself is expired; a second later is not */
    assert_int_equal(sllmp_cache_put(&c, NULL, HEX, "{}", 2, 3600), 0);
    set_mtime(path, 0);
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX, &b), 0);
    assert_int_equal(sllmp_cache_put(&c, NULL, HEX, "{}", 2, 3600), 0);
    set_mtime(path, 5);
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX, &b), 1);
    sllmp_buf_free(&b);
}

/* max_mb is the quota of the files: what does not fit is not kept (1); the sweep removes the
 * expired answers and counts the others. */
static void
test_files_quota(void **state)
{
    char dir[256], old[512], live[512];
    sllmp_conf_t c = conf_in("quota", dir, sizeof(dir), 1);
    char *data = calloc(1, MIB + 1);
    sllmp_buf_t b;

    (void)state;
    assert_non_null(data);
    swept_at[SHELF_CACHE] = 0;
    assert_int_equal(sllmp_cache_put(&c, NULL, HEX, data, MIB + 1, 60), 1);
    assert_false(exists(dir));
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX, &b), 0);
    sllmp_buf_free(&b);
    assert_int_equal(sllmp_cache_put(&c, NULL, HEX, data, MIB, 60), 0); /* exactly the quota */
    assert_int_equal(sllmp_cache_put(&c, NULL, HEX2, "{}", 2, 60), 1);

    /* at the next sweep: the expired answer goes, the live one counts */
    snprintf(old, sizeof(old), "%s/" HEX ".json", dir);
    snprintf(live, sizeof(live), "%s/" HEX2 ".json", dir);
    set_mtime(old, -10);
    assert_int_equal(sllmp_mkdirs(dir), 0);
    FILE *f = fopen(live, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, 1000, f), 1000);
    fclose(f);
    set_mtime(live, 600);
    swept_at[SHELF_CACHE] = 0;
    assert_int_equal(sllmp_cache_put(&c, NULL, HEX3, data, MIB - 1000, 60), 0);
    assert_false(exists(old));
    assert_true(exists(live));
    assert_int_equal(kept_bytes[SHELF_CACHE], MIB);
    assert_int_equal(sllmp_cache_put(&c, NULL, HEX2, "{}", 2, 60), 1);
    free(data);
}

/* ---- in Redis ----------------------------------------------------------------------------- */

/* cache type redis: the documents cache:<hex> with the answer's ttl; without the store, a
 * failure, never the files. */
static void
test_redis_shelf(void **state)
{
    static const sllmp_store_ops_t docs = {
        .doc_get = fake_get, .doc_put = fake_put, .doc_del = fake_del};
    char dir[256];
    sllmp_conf_t c = conf_in("redis", dir, sizeof(dir), 1);
    fake_store_t fake = {.base = {.ops = &docs}};
    sllmp_buf_t b;

    (void)state;
    c.cache.type = SLLMP_CACHE_REDIS;
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_cache_put(&c, NULL, HEX, "{}", 2, 60), -1);
    assert_int_equal(sllmp_cache_get(&c, NULL, HEX, &b), -1);
    assert_int_equal(sllmp_cache_del(&c, NULL, HEX), -1);
    assert_false(exists(dir));

    assert_int_equal(sllmp_cache_put(&c, &fake.base, HEX, "{}", 2, 42), 0);
    assert_int_equal(fake.puts, 1);
    assert_int_equal(fake.ttl, 42);
    assert_string_equal(fake.name, "cache:" HEX);
    assert_int_equal(sllmp_cache_get(&c, &fake.base, HEX2, &b), 1);
    assert_string_equal(fake.name, "cache:" HEX2);
    assert_string_equal(sllmp_buf_cstr(&b), "{\"from\":\"redis\"}");
    assert_int_equal(sllmp_cache_del(&c, &fake.base, HEX), 1);
    assert_int_equal(fake.dels, 1);
    assert_false(exists(dir));
    sllmp_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_member_order),  cmocka_unit_test(test_key_what_counts),
        cmocka_unit_test(test_key_left_out),      cmocka_unit_test(test_asm_chat),
        cmocka_unit_test(test_asm_text),          cmocka_unit_test(test_asm_not_a_chunk),
        cmocka_unit_test(test_chunks_round_trip), cmocka_unit_test(test_chunks_shape),
        cmocka_unit_test(test_worth_keeping),     cmocka_unit_test(test_files_put_get_del),
        cmocka_unit_test(test_files_expiry),      cmocka_unit_test(test_files_quota),
        cmocka_unit_test(test_redis_shelf),
    };

    return cmocka_run_group_tests_name("cache", tests, setup, teardown);
}
