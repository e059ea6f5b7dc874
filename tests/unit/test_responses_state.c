/*
 * Kept responses (commit 7054efa): the records and the expansion of a request's conversation
 * (src/responses_state.c, include/sllmp/responses.h "kept responses"), and where the records
 * are kept (src/keep.c, include/sllmp/keep.h) when the limits store is local: files under a
 * mkdtemp directory, and never the files when the store should be Redis.
 *
 * keep.c is included, so the quota tests can start from a fresh sweep (its state is
 * process-global and sweeps at most once a minute): each sets swept_at to 0 itself, so the
 * order of the tests does not matter.
 *
 * JSON in this file is written with single quotes, turned into double quotes before parsing
 * (sq()).
 */
#include "sllmp/conf.h"
#include "sllmp/keep.h"
#include "sllmp/responses.h"

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
#include <unistd.h>
#include <cmocka.h>

#include "json_helpers.h"

#include "../../src/keep.c"
#include "fake_docs.h"

#define HEX32 "0123456789abcdef0123456789abcdef"
#define RID   "resp_" HEX32
#define RID2  "resp_fedcba9876543210fedcba9876543210"
#define RID3  "resp_ffffffffffffffffffffffffffffffff"
#define TTL   3600L
#define MIB   (1024 * 1024)

static char top[] = "/tmp/sllmp-keep-XXXXXX";

#include "tmp_top.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* ---- sllmp_responses_expand ------------------------------------------------------------- */

/* A find for the tests: the items of `items` by id; `fails` makes it the failing store. */
typedef struct {
    cJSON *items;
    int fails;
    int calls;
    char last[128];
} finder_t;

static int
find(void *ud, const char *id, const cJSON **item)
{
    finder_t *f = ud;
    const cJSON *it;

    f->calls++;
    snprintf(f->last, sizeof(f->last), "%s", id);
    if (f->fails) {
        return -1;
    }
    cJSON_ArrayForEach(it, f->items)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "id");

        if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0) {
            *item = it;
            return 1;
        }
    }
    return 0;
}

/* The request (single-quoted) expanded with prev (single-quoted, NULL for none), for a
 * Responses API upstream when native, checking on the way that neither is changed; NULL with
 * *e on failure. */
static cJSON *
expand_as(const char *req_sq, const char *prev_sq, finder_t *f, int native, sllmp_xerr_t *e)
{
    cJSON *req = parse_sq(req_sq), *prev = prev_sq != NULL ? parse_sq(prev_sq) : NULL;
    cJSON *req_copy = cJSON_Duplicate(req, 1), *prev_copy = cJSON_Duplicate(prev, 1), *out;

    memset(e, 0x5a, sizeof(*e)); /* garbage: expand must clear it */
    out = sllmp_responses_expand(req, prev, find, f, native, e);
    assert_true(cJSON_Compare(req, req_copy, 1));
    if (prev != NULL) {
        assert_true(cJSON_Compare(prev, prev_copy, 1));
    }
    assert_non_null(memchr(e->param, '\0', sizeof(e->param)));
    assert_non_null(memchr(e->message, '\0', sizeof(e->message)));
    cJSON_Delete(req);
    cJSON_Delete(req_copy);
    cJSON_Delete(prev);
    cJSON_Delete(prev_copy);
    return out;
}

static cJSON *
expand_sq(const char *req_sq, const char *prev_sq, finder_t *f, sllmp_xerr_t *e)
{
    return expand_as(req_sq, prev_sq, f, 0, e);
}

/* For a Responses API upstream the kept items go without ids, and reasoning only with its
 * encrypted_content; through chat completions they go as they were kept. */
static void
test_expand_native_kept_items(void **state)
{
    static const char prev[] =
        "{'owner':'','context':[{'type':'message','role':'user','content':'a',"
        "'id':'msg_0123456789abcdef0123456789abcdefi0'}],"
        "'response':{'id':'resp_0123456789abcdef0123456789abcdef','output':["
        "{'type':'reasoning','id':'rs_1','summary':[]},"
        "{'type':'reasoning','id':'rs_2','summary':[],'encrypted_content':'ENC'},"
        "{'type':'message','id':'msg_3','role':'assistant','content':[{'type':'output_text',"
        "'text':'b'}]}]}}";
    static const char req[] =
        "{'model':'m','previous_response_id':'resp_0123456789abcdef0123456789abcdef',"
        "'input':'next'}";
    finder_t f = {0};
    sllmp_xerr_t e;
    cJSON *out;

    (void)state;
    out = expand_as(req, prev, &f, 1, &e);
    assert_non_null(out);
    assert_json(out, "{'model':'m','input':["
                     "{'type':'message','role':'user','content':'a'},"
                     "{'type':'reasoning','summary':[],'encrypted_content':'ENC'},"
                     "{'type':'message','role':'assistant','content':[{'type':'output_text',"
                     "'text':'b'}]},"
                     "{'type':'message','role':'user','content':'next'}]}");
    cJSON_Delete(out);
    out = expand_as(req, prev, &f, 0, &e);
    assert_non_null(out);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "input")), 5);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
                            cJSON_GetArrayItem(cJSON_GetObjectItem(out, "input"), 1), "id")),
                        "rs_1");
    cJSON_Delete(out);
}

/* For a Responses API upstream what is not kept here goes as it is: a previous_response_id
 * with no record (prev NULL) and an item_reference find does not know; one it knows is
 * replaced (without its id). Through chat completions the unknown one is a 400. */
static void
test_expand_native_unknown_goes_on(void **state)
{
    static const char req[] =
        "{'model':'m','previous_response_id':'resp_upstream',"
        "'input':[{'type':'item_reference','id':'msg_unknown'},"
        "{'type':'item_reference','id':'msg_known'},{'role':'user','content':'q'}]}";
    finder_t f = {0};
    sllmp_xerr_t e;
    cJSON *out;

    (void)state;
    f.items = parse_sq("[{'type':'message','id':'msg_known','role':'assistant','content':'x'}]");
    out = expand_as(req, NULL, &f, 1, &e);
    assert_non_null(out);
    assert_json(out, "{'model':'m','previous_response_id':'resp_upstream','input':["
                     "{'type':'item_reference','id':'msg_unknown'},"
                     "{'type':'message','role':'assistant','content':'x'},"
                     "{'role':'user','content':'q'}]}");
    cJSON_Delete(out);
    out = expand_as(req, NULL, &f, 0, &e);
    assert_null(out);
    assert_string_equal(e.param, "input[0]");
    f.fails = 1; /* a store that fails is a failure either way */
    assert_null(expand_as(req, NULL, &f, 1, &e));
    assert_string_equal(e.message, "");
    cJSON_Delete(f.items);
}

static void
test_expand_string_input(void **state)
{
    finder_t f = {0};
    sllmp_xerr_t e;
    cJSON *out;

    (void)state;
    out = expand_sq("{'model':'m','input':'Hello','temperature':0.5}", NULL, &f, &e);
    assert_non_null(out);
    /* content stays a string (812e669) */
    assert_json(out, "{'model':'m','temperature':0.5,"
                     "'input':[{'type':'message','role':'user','content':'Hello'}]}");
    assert_int_equal(f.calls, 0);
    cJSON_Delete(out);
}

static void
test_expand_array_input_copied(void **state)
{
    static const char req[] =
        "{'model':'m','input':[{'role':'user','content':'a'},"
        "{'type':'function_call_output','call_id':'c1','output':'42'},"
        "{'type':'message','role':'assistant','id':'msg_x','content':[{'type':'output_text',"
        "'text':'b'}]}, 'text item?']}";
    finder_t f = {0};
    sllmp_xerr_t e;
    cJSON *out, *want = parse_sq(req);

    (void)state;
    out = expand_sq(req, NULL, &f, &e);
    assert_non_null(out);
    assert_true(cJSON_Compare(out, want, 1));
    assert_int_equal(f.calls, 0); /* a message with an id is no reference */
    cJSON_Delete(want);
    cJSON_Delete(out);
}

/* prev's context, then prev's output, then the request's own items; previous_response_id
 * goes, every other member stays. */
static void
test_expand_prev_first(void **state)
{
    static const char prev[] =
        "{'owner':'k','context':[{'type':'message','role':'user','content':'one','id':'msg_ai0'},"
        "{'type':'message','role':'user','content':'two','id':'msg_ai1'}],"
        "'response':{'id':'resp_a','output':[{'type':'function_call','id':'fc_a00',"
        "'call_id':'c1','name':'f','arguments':'{}'},{'type':'message','id':'msg_a01',"
        "'role':'assistant','content':[{'type':'output_text','text':'three'}]}]}}";
    finder_t f = {0};
    sllmp_xerr_t e;
    cJSON *out;

    (void)state;
    out = expand_sq("{'model':'m','previous_response_id':'resp_a','store':true,"
                    "'instructions':'be brief','input':[{'type':'function_call_output',"
                    "'call_id':'c1','output':'ok'},{'role':'user','content':'four'}]}",
                    prev, &f, &e);
    assert_non_null(out);
    assert_json(out, "{'model':'m','store':true,'instructions':'be brief','input':["
                     "{'type':'message','role':'user','content':'one','id':'msg_ai0'},"
                     "{'type':'message','role':'user','content':'two','id':'msg_ai1'},"
                     "{'type':'function_call','id':'fc_a00','call_id':'c1','name':'f',"
                     "'arguments':'{}'},"
                     "{'type':'message','id':'msg_a01','role':'assistant','content':[{'type':"
                     "'output_text','text':'three'}]},"
                     "{'type':'function_call_output','call_id':'c1','output':'ok'},"
                     "{'role':'user','content':'four'}]}");
    cJSON_Delete(out);

    /* a string input after prev too */
    out = expand_sq("{'model':'m','previous_response_id':'resp_a','input':'four'}", prev, &f, &e);
    assert_non_null(out);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "input")), 5);
    assert_json(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "input"), 4),
                "{'type':'message','role':'user','content':'four'}");
    assert_null(cJSON_GetObjectItem(out, "previous_response_id"));
    cJSON_Delete(out);
}

/* Both forms of item_reference become a copy of what find returns; an object with a role and
 * an id is a message, not a reference. */
static void
test_expand_item_reference(void **state)
{
    finder_t f = {0};
    sllmp_xerr_t e;
    cJSON *out;

    (void)state;
    f.items = parse_sq("[{'type':'message','id':'msg_A00','role':'assistant',"
                       "'content':[{'type':'output_text','text':'A'}]},"
                       "{'type':'function_call','id':'fc_A01','call_id':'c','name':'g',"
                       "'arguments':'{}'}]");
    out = expand_sq("{'model':'m','input':[{'role':'user','content':'q'},"
                    "{'type':'item_reference','id':'msg_A00'},"
                    "{'id':'fc_A01'},"
                    "{'role':'assistant','id':'msg_B00','content':'mine'}]}",
                    NULL, &f, &e);
    assert_non_null(out);
    assert_int_equal(f.calls, 2);
    assert_json(out, "{'model':'m','input':[{'role':'user','content':'q'},"
                     "{'type':'message','id':'msg_A00','role':'assistant',"
                     "'content':[{'type':'output_text','text':'A'}]},"
                     "{'type':'function_call','id':'fc_A01','call_id':'c','name':'g',"
                     "'arguments':'{}'},"
                     "{'role':'assistant','id':'msg_B00','content':'mine'}]}");
    /* a copy: the finder's items can go before the expansion */
    cJSON_Delete(f.items);
    f.items = NULL;
    assert_json(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "input"), 1),
                "{'type':'message','id':'msg_A00','role':'assistant',"
                "'content':[{'type':'output_text','text':'A'}]}");
    cJSON_Delete(out);
}

static void
test_expand_reference_not_found(void **state)
{
    finder_t f = {0};
    sllmp_xerr_t e;
    cJSON *out;

    (void)state;
    f.items = parse_sq("[{'type':'message','id':'msg_A00','role':'user','content':'x'}]");
    out = expand_sq("{'model':'m','input':[{'role':'user','content':'q'},"
                    "{'type':'item_reference','id':'msg_A00'},{'id':'msg_nope'}]}",
                    NULL, &f, &e);
    assert_null(out);
    assert_string_equal(e.param, "input[2]");
    assert_string_equal(e.message, "Item with id 'msg_nope' not found.");
    assert_string_equal(f.last, "msg_nope");

    /* the index is the request's own, not counting prev's items */
    out = expand_sq("{'model':'m','previous_response_id':'resp_a',"
                    "'input':[{'type':'item_reference','id':'x'}]}",
                    "{'context':[{'role':'user','content':'a'}],'response':{'output':[]}}", &f, &e);
    assert_null(out);
    assert_string_equal(e.param, "input[0]");
    assert_string_equal(e.message, "Item with id 'x' not found.");

    /* an item_reference without a string id names what is wrong, not the store */
    out = expand_sq("{'model':'m','input':[{'role':'user','content':'q'},"
                    "{'type':'item_reference','idl':'msg_A00'}]}",
                    NULL, &f, &e);
    assert_null(out);
    assert_string_equal(e.param, "input[1].id");
    assert_string_equal(e.message, "'input[1].id' must be a string.");
    cJSON_Delete(f.items);
}

static void
test_expand_find_fails(void **state)
{
    finder_t f = {.fails = 1};
    sllmp_xerr_t e;
    cJSON *out;

    (void)state;
    out =
        expand_sq("{'model':'m','input':[{'type':'item_reference','id':'msg_A00'}]}", NULL, &f, &e);
    assert_null(out);
    assert_int_equal(f.calls, 1);
    assert_string_equal(e.message, ""); /* the store failed: the caller's 503 */
}

static void
test_expand_bad_input(void **state)
{
    static const char *const reqs[] = {"{'model':'m'}", "{'model':'m','input':null}",
                                       "{'model':'m','input':7}",
                                       "{'model':'m','input':{'role':'user','content':'x'}}"};
    finder_t f = {0};
    sllmp_xerr_t e;

    (void)state;
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        assert_null(expand_sq(reqs[i], NULL, &f, &e));
        assert_string_equal(e.param, "input");
        assert_non_null(strstr(e.message, "must be a string or an array"));
    }
    assert_int_equal(f.calls, 0);
}

/* ---- records ------------------------------------------------------------------------------ */

static void
test_record_ids(void **state)
{
    cJSON *ctx, *resp, *resp_copy, *rec;

    (void)state;
    ctx = parse_sq("[{'type':'message','role':'user','content':'a'},"
                   "{'role':'system','content':'b'},"
                   "{'type':'function_call','call_id':'c','name':'f','arguments':'{}'},"
                   "{'type':'function_call_output','call_id':'c','output':'1'},"
                   "{'type':'reasoning','summary':[]},"
                   "{'type':'message','role':'user','content':'kept','id':'mine_1'},"
                   "{'type':'something_else'},"
                   "{'role':'user','content':'k'},{'role':'user','content':'l'},"
                   "{'role':'user','content':'m'},{'role':'user','content':'n'},"
                   "{'role':'user','content':'o'},{'role':'user','content':'p'},"
                   "{'type':'function_call_output','call_id':'d','output':'2'},"
                   "{'type':'message','role':'user','content':'x','id':null}]");
    resp = parse_sq("{'id':'" RID "','object':'response','output':[{'type':'message',"
                    "'id':'msg_" HEX32 "00','role':'assistant','content':[]}]}");
    resp_copy = cJSON_Duplicate(resp, 1);
    rec = sllmp_responses_record("key-a", ctx, resp);
    assert_non_null(rec);
    assert_true(cJSON_Compare(resp, resp_copy, 1)); /* not taken, not changed */
    assert_json(rec,
                "{'owner':'key-a','response':{'id':'" RID "','object':'response','output':[{'type':"
                "'message','id':'msg_" HEX32 "00','role':'assistant','content':[]}]},'context':["
                "{'type':'message','role':'user','content':'a','id':'msg_" HEX32 "i0'},"
                "{'role':'system','content':'b','id':'msg_" HEX32 "i1'},"
                "{'type':'function_call','call_id':'c','name':'f','arguments':'{}','id':'fc_" HEX32
                "i2'},"
                "{'type':'function_call_output','call_id':'c','output':'1','id':'fco_" HEX32 "i3'},"
                "{'type':'reasoning','summary':[],'id':'rs_" HEX32 "i4'},"
                "{'type':'message','role':'user','content':'kept','id':'mine_1'},"
                "{'type':'something_else','id':'item_" HEX32 "i6'},"
                "{'role':'user','content':'k','id':'msg_" HEX32 "i7'},"
                "{'role':'user','content':'l','id':'msg_" HEX32 "i8'},"
                "{'role':'user','content':'m','id':'msg_" HEX32 "i9'},"
                "{'role':'user','content':'n','id':'msg_" HEX32 "ia'},"
                "{'role':'user','content':'o','id':'msg_" HEX32 "ib'},"
                "{'role':'user','content':'p','id':'msg_" HEX32 "ic'},"
                "{'type':'function_call_output','call_id':'d','output':'2','id':'fco_" HEX32 "id'},"
                "{'type':'message','role':'user','content':'x','id':'msg_" HEX32 "ie'}]}");
    /* the context is the record's now (taken): the same tree */
    assert_ptr_equal(cJSON_GetObjectItem(rec, "context"), ctx);
    assert_ptr_not_equal(cJSON_GetObjectItem(rec, "response"), resp);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
    cJSON_Delete(resp_copy);

    /* no context, no owner */
    resp = parse_sq("{'id':'" RID "','output':[]}");
    rec = sllmp_responses_record(NULL, NULL, resp);
    assert_json(rec, "{'owner':'','context':[],'response':{'id':'" RID "','output':[]}}");
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_record_item(void **state)
{
    cJSON *rec = parse_sq("{'owner':'','context':[{'role':'user','content':'c','id':'dup'},"
                          "{'role':'user','content':'d','id':'only_ctx'}],"
                          "'response':{'id':'" RID "','output':[{'type':'message',"
                          "'id':'dup','content':'o'},{'type':'function_call','id':'only_out'}]}}");
    const cJSON *it;

    (void)state;
    it = sllmp_responses_record_item(rec, "dup"); /* the context first */
    assert_non_null(it);
    assert_ptr_equal(it, cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "context"), 0));
    it = sllmp_responses_record_item(rec, "only_ctx");
    assert_ptr_equal(it, cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "context"), 1));
    it = sllmp_responses_record_item(rec, "only_out");
    assert_ptr_equal(
        it,
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "response"), "output"), 1));
    assert_null(sllmp_responses_record_item(rec, "absent"));
    assert_null(sllmp_responses_record_item(rec, "only"));
    cJSON_Delete(rec);
}

static void
test_item_response(void **state)
{
    static const char *const good[] = {"msg_" HEX32 "00", "fco_" HEX32 "i1f", "rs_" HEX32,
                                       "item_" HEX32 "ffff"};
    static const char *const bad[] = {
        "msg_0123456789abcdef0123456789abcde",    /* 31 hex */
        "msg_0123456789abcdef0123456789abcdei0",  /* 31 hex, then the index */
        "msg0123456789abcdef0123456789abcdef00",  /* no underscore */
        "msg_0123456789abcdef0123456789abcdeg00", /* not hex */
        "msg_0123456789ABCDEF0123456789abcdef00", /* uppercase */
        "",
        "_",
    };
    char out[38];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(out, 'x', sizeof(out));
        assert_int_equal(sllmp_responses_item_response(good[i], out), 0);
        assert_string_equal(out, RID);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sllmp_responses_item_response(bad[i], out) != -1) {
            fail_msg("accepted '%s'", bad[i]);
        }
    }
    assert_int_equal(sllmp_responses_item_response(NULL, out), -1);
}

/* An answer's items and the record's context items name the response they belong to. */
static void
test_round_trip(void **state)
{
    cJSON *req = parse_sq("{'model':'gpt-test','input':'hi'}"), *c, *r, *rec, *ctx;
    sllmp_responses_meta_t m = {
        .req = req, .id = RID, .created_at = 1, .model = "gpt-test", .store = 1};
    const cJSON *it;
    finder_t f = {0};
    sllmp_xerr_t e;
    char out[38];
    int n = 0;

    (void)state;
    c = parse_sq("{'id':'chatcmpl-1','object':'chat.completion','created':1,'model':'up',"
                 "'choices':[{'index':0,'message':{'role':'assistant','content':'Hi',"
                 "'reasoning_content':'think','tool_calls':[{'id':'call_1','type':'function',"
                 "'function':{'name':'f','arguments':'{}'}}]},'finish_reason':'tool_calls'}]}");
    r = sllmp_responses_from_chat(&m, c, NULL);
    assert_non_null(r);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r, "output"))
    {
        const char *id = cJSON_GetObjectItem(it, "id")->valuestring;

        memset(out, 'x', sizeof(out));
        assert_int_equal(sllmp_responses_item_response(id, out), 0);
        assert_string_equal(out, RID);
        n++;
    }
    assert_int_equal(n, 3); /* reasoning, message, call */

    /* and the expansion's context, once recorded, too; then a reference to each resolves */
    ctx = expand_sq("{'model':'m','input':'hi'}", NULL, &f, &e);
    rec = sllmp_responses_record("", cJSON_DetachItemFromObject(ctx, "input"), r);
    cJSON_Delete(ctx);
    n = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(rec, "context"))
    {
        const char *id = cJSON_GetObjectItem(it, "id")->valuestring;

        assert_int_equal(sllmp_responses_item_response(id, out), 0);
        assert_string_equal(out, RID);
        assert_ptr_equal(sllmp_responses_record_item(rec, id), it);
        n++;
    }
    assert_int_equal(n, 1);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "response"), "output"))
    {
        assert_ptr_equal(
            sllmp_responses_record_item(rec, cJSON_GetObjectItem(it, "id")->valuestring), it);
    }
    cJSON_Delete(rec);
    cJSON_Delete(r);
    cJSON_Delete(c);
    cJSON_Delete(req);
}

/* ---- the files -------------------------------------------------------------------------- */

/* A local-store config keeping its files in top/sub (parents included, made by the put). */
static sllmp_conf_t
conf_in(const char *sub, char *dir, size_t len, long max_mb)
{
    sllmp_conf_t c;

    memset(&c, 0, sizeof(c));
    snprintf(dir, len, "%s/%s", top, sub);
    c.responses_store = 1;
    c.responses_dir = dir;
    c.responses_ttl_s = TTL;
    c.responses_max_mb = max_mb;
    c.limits_backend = SLLMP_BACKEND_AUTO;
    assert_false(sllmp_store_is_redis(&c));
    return c;
}

/* The entries of dir other than . and .. */
static int
entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

static void
set_age(const char *path, long seconds)
{
    struct timespec ts[2];

    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= seconds;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void
test_keep_files(void **state)
{
    static const char doc[] = "{\"owner\":\"\",\"context\":[],\"response\":{\"id\":\"" RID "\"}}";
    char dir[256], parent[256], path[512];
    sllmp_conf_t c = conf_in("a/b/responses", dir, sizeof(dir), 1024);
    sllmp_buf_t b;
    struct stat st;
    mode_t old = umask(0); /* the modes are the code's own */

    (void)state;
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_keep_get(&c, NULL, RID, &b), 0); /* no dir yet */
    assert_int_equal(b.len, 0);
    assert_int_equal(sllmp_keep_del(&c, NULL, RID), 0);

    assert_int_equal(sllmp_keep_put(&c, NULL, RID, doc, sizeof(doc) - 1), 0);
    umask(old);
    assert_int_equal(sllmp_keep_get(&c, NULL, RID, &b), 1);
    assert_int_equal(b.len, sizeof(doc) - 1);
    assert_memory_equal(b.ptr, doc, sizeof(doc) - 1);
    sllmp_buf_reset(&b);

    snprintf(path, sizeof(path), "%s/%s.json", dir, RID);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    snprintf(parent, sizeof(parent), "%s/a", top);
    assert_int_equal(stat(parent, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(entries(dir), 1); /* no temporary file left */

    /* a second put replaces the document */
    assert_int_equal(sllmp_keep_put(&c, NULL, RID, "{}", 2), 0);
    assert_int_equal(sllmp_keep_get(&c, NULL, RID, &b), 1);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.ptr, "{}", 2);
    sllmp_buf_reset(&b);
    assert_int_equal(entries(dir), 1);

    /* another id is another file */
    assert_int_equal(sllmp_keep_get(&c, NULL, RID2, &b), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(sllmp_keep_put(&c, NULL, RID2, "[]", 2), 0);
    assert_int_equal(entries(dir), 2);

    assert_int_equal(sllmp_keep_del(&c, NULL, RID), 1);
    assert_false(exists(path));
    assert_int_equal(sllmp_keep_del(&c, NULL, RID), 0);
    assert_int_equal(sllmp_keep_get(&c, NULL, RID, &b), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(sllmp_keep_get(&c, NULL, RID2, &b), 1);
    assert_memory_equal(b.ptr, "[]", 2);
    assert_int_equal(sllmp_keep_del(&c, NULL, RID2), 1);
    assert_int_equal(entries(dir), 0);
    sllmp_buf_free(&b);
}

static void
test_keep_id_ok(void **state)
{
    static const char *const bad[] = {
        "../x",
        "resp_0123456789abcde", /* 15 */
        "resp_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        "0123456789abcdef0123456789abcdef0123456789", /* 121 */
        "resp_0123456789abcdef_123456789abcdef",
        "resp_0123456789abcdef-123456789abcdef",
        "resp_0123456789abcdef.json",
        "Resp_0123456789abcdef0123456789abcdef",
        "resp-0123456789abcdef0123456789abcdef",
        "resp_../../../../../../../../tmp/x1234",
        "resp_0123456789abcdef/0123456789abcdef",
        "resp_",
        "",
    };

    (void)state;
    assert_true(sllmp_keep_id_ok(RID));
    assert_true(sllmp_keep_id_ok(RID2));
    /* an upstream's: OpenAI's 48 hex digits, and letters too */
    assert_true(sllmp_keep_id_ok("resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"));
    assert_true(sllmp_keep_id_ok("resp_0123456789ABCDEFghij"));
    assert_false(sllmp_keep_id_ok(NULL));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sllmp_keep_id_ok(bad[i])) {
            fail_msg("accepted '%s'", bad[i]);
        }
    }
}

/* A name that is no response id is never a file: put -1, get and del 0, and nothing outside
 * the directory is read, made or removed. */
static void
test_keep_bad_ids_touch_nothing(void **state)
{
    static const char *const bad[] = {"../victim", "../../victim", "resp_0123456789abcde",
                                      "resp_0123456789ABCDEF0123456789abcde/",
                                      "resp_0123456789abcdef/../../victim"};
    char dir[256], victim[512], made[512];
    sllmp_conf_t c = conf_in("ids/responses", dir, sizeof(dir), 1024);
    sllmp_buf_t b;
    FILE *fp;

    (void)state;
    /* top/ids/victim.json is dir/../victim.json */
    assert_int_equal(sllmp_mkdirs(dir), 0);
    snprintf(victim, sizeof(victim), "%s/ids/victim.json", top);
    fp = fopen(victim, "w");
    assert_non_null(fp);
    fputs("secret", fp);
    fclose(fp);
    snprintf(made, sizeof(made), "%s/victim.json", top);

    sllmp_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sllmp_keep_get(&c, NULL, bad[i], &b), 0);
        assert_int_equal(b.len, 0);
        assert_int_equal(sllmp_keep_put(&c, NULL, bad[i], "{}", 2), -1);
        assert_int_equal(sllmp_keep_del(&c, NULL, bad[i]), 0);
        assert_true(exists(victim));
        assert_false(exists(made));
    }
    assert_int_equal(sllmp_keep_get(&c, NULL, NULL, &b), 0);
    assert_int_equal(sllmp_keep_put(&c, NULL, NULL, "{}", 2), -1);
    assert_int_equal(sllmp_keep_del(&c, NULL, NULL), 0);
    assert_int_equal(entries(dir), 0);
    sllmp_buf_free(&b);
}

/* Past the TTL a file is not found, and the get removes it; short of it, it is found. */
static void
test_keep_expiry(void **state)
{
    char dir[256], path[512], path2[512];
    sllmp_conf_t c = conf_in("expiry", dir, sizeof(dir), 1024);
    sllmp_buf_t b;

    (void)state;
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_keep_put(&c, NULL, RID, "{\"a\":1}", 7), 0);
    assert_int_equal(sllmp_keep_put(&c, NULL, RID2, "{\"b\":2}", 7), 0);
    snprintf(path, sizeof(path), "%s/%s.json", dir, RID);
    snprintf(path2, sizeof(path2), "%s/%s.json", dir, RID2);
    set_age(path, TTL + 5);
    set_age(path2, TTL - 120);

    assert_int_equal(sllmp_keep_get(&c, NULL, RID, &b), 0);
    assert_int_equal(b.len, 0);
    assert_false(exists(path));
    assert_int_equal(sllmp_keep_get(&c, NULL, RID2, &b), 1);
    assert_memory_equal(b.ptr, "{\"b\":2}", 7);
    assert_true(exists(path2));
    sllmp_buf_free(&b);
}

/* A fresh sweep of an empty place: more than the quota is not kept, and nothing is written. */
static void
test_keep_quota_too_big(void **state)
{
    char dir[256];
    sllmp_conf_t c = conf_in("quota-big/responses", dir, sizeof(dir), 1);
    size_t len = MIB + 1;
    char *big = malloc(len);
    sllmp_buf_t b;

    (void)state;
    assert_non_null(big);
    memset(big, 'x', len);
    swept_at[SHELF_RESPONSES] = 0;
    assert_int_equal(sllmp_keep_put(&c, NULL, RID, big, len), 1);
    assert_false(exists(dir));
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_keep_get(&c, NULL, RID, &b), 0);
    sllmp_buf_free(&b);
    /* exactly the quota fits */
    assert_int_equal(sllmp_keep_put(&c, NULL, RID, big, MIB), 0);
    assert_true(exists(dir));
    assert_int_equal(sllmp_keep_put(&c, NULL, RID2, "{}", 2), 1);
    assert_int_equal(entries(dir), 1);
    free(big);
}

/* The sweep removes the expired files and measures the rest; what is written after counts
 * until the next sweep, which finds the room made by deletes. */
static void
test_keep_quota_sweep(void **state)
{
    char dir[256], path[512], old[512];
    sllmp_conf_t c = conf_in("quota-sweep", dir, sizeof(dir), 1);
    char *data = calloc(1, 2 * MIB);
    int fd;

    (void)state;
    assert_non_null(data);
    assert_int_equal(sllmp_mkdirs(dir), 0);
    /* an expired file of 2 MiB and a live one of 300 KiB */
    snprintf(old, sizeof(old), "%s/%s.json", dir, RID2);
    fd = open(old, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, 2 * MIB), 2 * MIB);
    close(fd);
    set_age(old, TTL + 5);
    snprintf(path, sizeof(path), "%s/resp_%032x.json", dir, 1);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, 300 * 1024), 300 * 1024);
    close(fd);

    /* what killed writers left: an hour-old temporary file goes, a fresh one stays (a writer
     * may be at work); neither counts */
    char left[512], fresh[512];

    snprintf(left, sizeof(left), "%s/.%s.0123456789abcdef", dir, RID3);
    snprintf(fresh, sizeof(fresh), "%s/.%s.fedcba9876543210", dir, RID3);
    fd = open(left, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, 1024), 1024);
    close(fd);
    set_age(left, 3600 + 5);
    fd = open(fresh, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);

    swept_at[SHELF_RESPONSES] = 0;
    assert_int_equal(sllmp_keep_put(&c, NULL, RID, data, 600 * 1024), 0);
    assert_false(exists(old));
    assert_false(exists(left));
    assert_true(exists(fresh));
    assert_int_equal(kept_bytes[SHELF_RESPONSES], 900 * 1024);
    /* 900 KiB + 200 KiB > 1 MiB */
    assert_int_equal(sllmp_keep_put(&c, NULL, RID2, data, 200 * 1024), 1);
    assert_false(exists(old));
    assert_int_equal(sllmp_keep_put(&c, NULL, RID2, data, 100 * 1024), 0);
    assert_int_equal(sllmp_keep_put(&c, NULL, RID3, data, 100 * 1024), 1);

    /* deleting makes room only at the next sweep, at most a minute later */
    assert_int_equal(sllmp_keep_del(&c, NULL, RID), 1);
    assert_int_equal(sllmp_keep_put(&c, NULL, RID, data, 500 * 1024), 1);
    swept_at[SHELF_RESPONSES] = sllmp_now_ms() - SWEEP_EVERY_MS;
    assert_int_equal(sllmp_keep_put(&c, NULL, RID, data, 500 * 1024), 0);
    assert_int_equal(kept_bytes[SHELF_RESPONSES], (300 + 100 + 500) * 1024);
    free(data);
}

/* ---- Redis ---------------------------------------------------------------------------------- */

/* The store should be Redis: without one (or with one that keeps no documents) every call
 * fails, never the files (other hosts would not see them); with one, the calls go to it. */
static void
test_keep_redis(void **state)
{
    static char url[] = "redis://127.0.0.1:1";
    static const sllmp_store_ops_t no_docs = {0};
    static const sllmp_store_ops_t docs = {
        .doc_get = fake_get, .doc_put = fake_put, .doc_del = fake_del};
    char dir[256];
    sllmp_conf_t c = conf_in("redis/responses", dir, sizeof(dir), 1024);
    fake_store_t fake = {.base = {.ops = &no_docs}};
    sllmp_buf_t b;

    (void)state;
    sllmp_buf_init(&b, 0);
    for (int way = 0; way < 2; way++) {
        if (way == 0) {
            c.redis_url = url;
        } else {
            c.redis_url = NULL;
            c.limits_backend = SLLMP_BACKEND_REDIS;
        }
        assert_true(sllmp_store_is_redis(&c));
        swept_at[SHELF_RESPONSES] = 0;
        assert_int_equal(sllmp_keep_put(&c, NULL, RID, "{}", 2), -1);
        assert_int_equal(sllmp_keep_get(&c, NULL, RID, &b), -1);
        assert_int_equal(sllmp_keep_del(&c, NULL, RID), -1);
        assert_int_equal(sllmp_keep_put(&c, &fake.base, RID, "{}", 2), -1);
        assert_int_equal(sllmp_keep_get(&c, &fake.base, RID, &b), -1);
        assert_int_equal(sllmp_keep_del(&c, &fake.base, RID), -1);
        assert_int_equal(b.len, 0);
        assert_false(exists(dir));
        assert_int_equal(swept_at[SHELF_RESPONSES], 0); /* not even a sweep of the files */
    }

    fake.base.ops = &docs;
    assert_int_equal(sllmp_keep_put(&c, &fake.base, RID, "{}", 2), 0);
    assert_int_equal(fake.puts, 1);
    assert_int_equal(fake.ttl, TTL);
    assert_string_equal(fake.name, RID);
    assert_int_equal(sllmp_keep_get(&c, &fake.base, RID2, &b), 1);
    assert_int_equal(fake.gets, 1);
    assert_string_equal(fake.name, RID2);
    assert_string_equal(b.ptr, "{\"from\":\"redis\"}");
    assert_int_equal(sllmp_keep_del(&c, &fake.base, RID), 1);
    assert_int_equal(fake.dels, 1);
    /* a bad id does not reach the store either */
    assert_int_equal(sllmp_keep_get(&c, &fake.base, "../x", &b), 0);
    assert_int_equal(sllmp_keep_put(&c, &fake.base, "../x", "{}", 2), -1);
    assert_int_equal(sllmp_keep_del(&c, &fake.base, "../x"), 0);
    assert_int_equal(fake.gets + fake.puts + fake.dels, 3);
    assert_false(exists(dir));
    sllmp_buf_free(&b);
}

/* ---- main ----------------------------------------------------------------------------------- */

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_string_input),
        cmocka_unit_test(test_expand_native_kept_items),
        cmocka_unit_test(test_expand_native_unknown_goes_on),
        cmocka_unit_test(test_expand_array_input_copied),
        cmocka_unit_test(test_expand_prev_first),
        cmocka_unit_test(test_expand_item_reference),
        cmocka_unit_test(test_expand_reference_not_found),
        cmocka_unit_test(test_expand_find_fails),
        cmocka_unit_test(test_expand_bad_input),
        cmocka_unit_test(test_record_ids),
        cmocka_unit_test(test_record_item),
        cmocka_unit_test(test_item_response),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_keep_id_ok),
        cmocka_unit_test(test_keep_files),
        cmocka_unit_test(test_keep_bad_ids_touch_nothing),
        cmocka_unit_test(test_keep_expiry),
        cmocka_unit_test(test_keep_quota_too_big),
        cmocka_unit_test(test_keep_quota_sweep),
        cmocka_unit_test(test_keep_redis),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
