/*
 * Bedrock: SigV4 against AWS's published example and an independent implementation, the AWS
 * event-stream decoder against frames encoded here by hand, and the Converse and embeddings
 * translators against golden bodies.
 */
#include "sllmp/translate.h"
#include "sllmp/usage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../eventstream_enc.h"

/* ---- helpers ---- */

static cJSON *
parse(const char *json)
{
    cJSON *j = cJSON_Parse(json);

    if (j == NULL) {
        fail_msg("test JSON does not parse: %s", json);
    }
    return j;
}

/* Fails with both texts unless got equals the JSON in want (key order aside). */
static void
assert_json(const cJSON *got, const char *want)
{
    cJSON *w = parse(want);

    if (!cJSON_Compare(got, w, 1)) {
        char *g = cJSON_PrintUnformatted(got);

        print_error("got:  %s\nwant: %s\n", g ? g : "(null)", want);
        cJSON_free(g);
        cJSON_Delete(w);
        fail();
    }
    cJSON_Delete(w);
}

/* ---- SigV4 ---- */

static void
test_sigv4_aws_example(void **state)
{
    /* the IAM ListUsers example of AWS's "Create a signed AWS API request" */
    const sllmp_kv_t h[] = {
        {"x-amz-date", "20150830T123600Z"},
        {"host", "iam.amazonaws.com"},
        {"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
    };
    char out[512];

    (void)state;
    assert_int_equal(sllmp_sigv4_authorization(
                         "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1",
                         "iam", "GET", "/", "Action=ListUsers&Version=2010-05-08", h, 3, "", 0,
                         "20150830T123600Z", out, sizeof(out)),
                     0);
    assert_string_equal(out, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
                             "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
                             "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6"
                             "f2b5d7");
    /* too small an output is an error, not a cut header */
    assert_int_equal(sllmp_sigv4_authorization("AKIDEXAMPLE", "x", "us-east-1", "iam", "GET", "/",
                                               "", h, 3, NULL, 0, "20150830T123600Z", out, 40),
                     -1);
}

static void
test_sigv4_bedrock_path_double_encoded(void **state)
{
    /* signature computed by an independent Python (hashlib/hmac) signer for the same inputs;
     * the canonical URI it signed is /model/anthropic.claude-x-v1%253A0/converse, and the
     * token's blanks are trimmed and collapsed */
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}]}";
    const sllmp_kv_t h[] = {
        {"x-amz-security-token", "  tok   en  "},
        {"x-amz-date", "20260102T030405Z"},
        {"host", "bedrock-runtime.us-east-1.amazonaws.com"},
        {"content-type", "application/json"},
    };
    char out[512];

    (void)state;
    assert_int_equal(sllmp_sigv4_authorization("AKIDMOCK", "mocksecret", "us-east-1", "bedrock",
                                               "POST", "/model/anthropic.claude-x-v1%3A0/converse",
                                               "", h, 4, body, strlen(body), "20260102T030405Z",
                                               out, sizeof(out)),
                     0);
    assert_string_equal(out, "AWS4-HMAC-SHA256 Credential=AKIDMOCK/20260102/us-east-1/bedrock/"
                             "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                             "x-amz-security-token, Signature=27ecb12e9c9b364f57597ce1b51e8ea8d7d5"
                             "edafde12eafee7fb7a4a860bc3bd");
}

static void
test_aws_uri_encode_and_date(void **state)
{
    sllmp_buf_t b;
    char d[17];

    (void)state;
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_aws_uri_encode(&b, "a b/c:d~e_f.g-h%3A+", 19, 0), 0);
    assert_string_equal(sllmp_buf_cstr(&b), "a%20b%2Fc%3Ad~e_f.g-h%253A%2B");
    sllmp_buf_reset(&b);
    assert_int_equal(sllmp_aws_uri_encode(&b, "/model/x%3A0/converse", 21, 1), 0);
    assert_string_equal(sllmp_buf_cstr(&b), "/model/x%253A0/converse");
    sllmp_buf_reset(&b);
    assert_int_equal(sllmp_aws_uri_encode(&b, "\xc3\xa9", 2, 1), 0);
    assert_string_equal(sllmp_buf_cstr(&b), "%C3%A9");
    sllmp_buf_free(&b);
    sllmp_amz_date(1440938160, d);
    assert_string_equal(d, "20150830T123600Z");
}

/* ---- CRC-32 and the event stream ---- */

static void
test_crc32(void **state)
{
    (void)state;
    assert_int_equal(sllmp_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(sllmp_crc32(sllmp_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    assert_int_equal(sllmp_crc32(0, "", 0), 0);
}

/* Test-only frames (tests/eventstream_enc.h). hdrs: string headers as name, value, ..., NULL.
 * odd: add one header of every other value type first, which the decoder must step over.
 * Returns the frame's length. */
static size_t
frame(unsigned char *out, const char *const *hdrs, int odd, const char *payload, size_t plen)
{
    sllmp_buf_t h, f;
    size_t total;

    sllmp_buf_init(&h, 0);
    sllmp_buf_init(&f, 0);
    if (odd) {
        static const struct {
            int type;
            size_t len;
        } t[] = {{0, 0}, {1, 0}, {2, 1}, {3, 2}, {4, 4}, {5, 8}, {8, 8}, {9, 16}};
        unsigned char v[16];

        memset(v, 0xA5, sizeof(v));
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
            unsigned char type = (unsigned char)t[i].type;

            sllmp_buf_append(&h, "\x03odd", 4);
            sllmp_buf_append(&h, &type, 1);
            sllmp_buf_append(&h, v, t[i].len);
        }
        /* bytes (type 6), u16 length */
        sllmp_buf_append(&h, "\001b\006\000\003\000\001\002", 8);
    }
    for (; hdrs != NULL && *hdrs != NULL; hdrs += 2) {
        es_header(&h, hdrs[0], hdrs[1], strlen(hdrs[1]));
    }
    es_frame(&f, h.ptr, h.len, payload, plen);
    total = f.len;
    memcpy(out, f.ptr, total);
    sllmp_buf_free(&h);
    sllmp_buf_free(&f);
    return total;
}

static size_t
event_frame(unsigned char *out, const char *event_type, const char *json)
{
    const char *h[] = {
        ":event-type", event_type, ":content-type", "application/json", ":message-type",
        "event",       NULL};

    return frame(out, h, 0, json, strlen(json));
}

#define MAX_SEEN 64

typedef struct {
    int n;
    char line[MAX_SEEN][512]; /* "type|event|exception|error|payload" */
    int stop_at;              /* > 0: the callback returns 7 on that message */
} seen_t;

static int
on_msg(void *ud, const sllmp_evs_msg_t *m)
{
    seen_t *s = ud;

    assert_true(s->n < MAX_SEEN);
    snprintf(s->line[s->n], sizeof(s->line[0]), "%s|%s|%s|%s|%.*s", m->message_type, m->event_type,
             m->exception_type, m->error_code, (int)m->payload_len, m->payload);
    s->n++;
    return s->stop_at > 0 && s->n == s->stop_at ? 7 : 0;
}

/* Three frames: an event with odd headers, an exception, an empty-payload error. */
static size_t
three_frames(unsigned char *buf)
{
    const char *h1[] = {":message-type", "event", ":event-type", "contentBlockDelta", NULL};
    const char *h2[] = {":message-type", "exception", ":exception-type", "throttlingException",
                        NULL};
    const char *h3[] = {":message-type", "error", ":error-code", "InternalFailure", NULL};
    const char *p1 = "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"},\"p\":\"abcdef\"}";
    const char *p2 = "{\"message\":\"Too many requests\"}";
    size_t n = 0;

    n += frame(buf + n, h1, 1, p1, strlen(p1));
    n += frame(buf + n, h2, 0, p2, strlen(p2));
    n += frame(buf + n, h3, 0, "", 0);
    return n;
}

static void
check_three(const seen_t *s)
{
    assert_int_equal(s->n, 3);
    assert_string_equal(s->line[0], "event|contentBlockDelta|||{\"contentBlockIndex\":0,"
                                    "\"delta\":{\"text\":\"Hi\"},\"p\":\"abcdef\"}");
    assert_string_equal(s->line[1],
                        "exception||throttlingException||{\"message\":\"Too many requests\"}");
    assert_string_equal(s->line[2], "error|||InternalFailure|");
}

static void
test_evs_whole_bytewise_and_every_split(void **state)
{
    unsigned char buf[2048];
    size_t n = three_frames(buf);
    sllmp_evs_t p;
    seen_t s;

    (void)state;
    memset(&s, 0, sizeof(s));
    sllmp_evs_init(&p, 4096, on_msg, &s);
    assert_int_equal(sllmp_evs_feed(&p, (const char *)buf, n), 0);
    check_three(&s);
    assert_int_equal(p.buf.len, 0);
    sllmp_evs_free(&p);

    memset(&s, 0, sizeof(s));
    sllmp_evs_init(&p, 4096, on_msg, &s);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sllmp_evs_feed(&p, (const char *)buf + i, 1), 0);
    }
    check_three(&s);
    sllmp_evs_free(&p);

    for (size_t k = 0; k <= n; k++) {
        memset(&s, 0, sizeof(s));
        sllmp_evs_init(&p, 4096, on_msg, &s);
        assert_int_equal(sllmp_evs_feed(&p, (const char *)buf, k), 0);
        assert_int_equal(sllmp_evs_feed(&p, (const char *)buf + k, n - k), 0);
        check_three(&s);
        sllmp_evs_free(&p);
    }
    /* three pieces, every second cut a prime step after the first */
    for (size_t a = 0; a <= n; a += 3) {
        for (size_t b = a; b <= n; b += 7) {
            memset(&s, 0, sizeof(s));
            sllmp_evs_init(&p, 4096, on_msg, &s);
            assert_int_equal(sllmp_evs_feed(&p, (const char *)buf, a), 0);
            assert_int_equal(sllmp_evs_feed(&p, (const char *)buf + a, b - a), 0);
            assert_int_equal(sllmp_evs_feed(&p, (const char *)buf + b, n - b), 0);
            check_three(&s);
            sllmp_evs_free(&p);
        }
    }
}

/* Feeds buf whole and byte by byte: both must give rc after `before` messages. */
static void
feed_both_ways(const unsigned char *buf, size_t n, size_t max, int rc, int before, const char *why)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        sllmp_evs_t p;
        seen_t s;
        int got = 0;

        memset(&s, 0, sizeof(s));
        sllmp_evs_init(&p, max, on_msg, &s);
        if (bytewise) {
            for (size_t i = 0; i < n && got == 0; i++) {
                got = sllmp_evs_feed(&p, (const char *)buf + i, 1);
            }
        } else {
            got = sllmp_evs_feed(&p, (const char *)buf, n);
        }
        assert_int_equal(got, rc);
        assert_int_equal(s.n, before);
        if (why != NULL) {
            assert_non_null(strstr(p.error, why));
            /* and it stays failed: the stream cannot be resynchronised */
            assert_int_equal(sllmp_evs_feed(&p, (const char *)buf, n), -1);
        }
        sllmp_evs_free(&p);
    }
}

static void
test_evs_bad_frames(void **state)
{
    unsigned char buf[2048], bad[2048];
    const char *h[] = {":message-type", "event", NULL};
    size_t n = three_frames(buf), first, len;

    (void)state;
    first = (size_t)buf[3] | (size_t)buf[2] << 8;

    /* a corrupted prelude CRC of the second frame: the first still goes out */
    memcpy(bad, buf, n);
    bad[first + 8] ^= 0x01;
    feed_both_ways(bad, n, 4096, -1, 1, "prelude CRC");

    /* a corrupted payload byte: the message CRC catches it */
    memcpy(bad, buf, n);
    bad[first - 6] ^= 0x20;
    feed_both_ways(bad, n, 4096, -1, 0, "message CRC");

    /* a corrupted message CRC itself */
    memcpy(bad, buf, n);
    bad[n - 1] ^= 0xFF;
    feed_both_ways(bad, n, 4096, -1, 2, "message CRC");

    /* a message over the maximum is refused from its prelude alone */
    feed_both_ways(buf, n, first - 1, -1, 0, "too large");
    feed_both_ways(buf, first, first, 0, 1, NULL);

    /* total_len below 16, with a valid prelude CRC */
    memset(bad, 0, sizeof(bad));
    es_put32(bad, 12);
    es_put32(bad + 8, sllmp_crc32(0, bad, 8));
    feed_both_ways(bad, 16, 4096, -1, 0, "shorter");

    /* headers_len larger than the message leaves room for */
    len = frame(bad, h, 0, "x", 1);
    es_put32(bad + 4, (uint32_t)(len - 15));
    es_put32(bad + 8, sllmp_crc32(0, bad, 8));
    es_put32(bad + len - 4, sllmp_crc32(0, bad, len - 4));
    feed_both_ways(bad, len, 4096, -1, 0, "headers longer");

    /* a string header whose length runs past the header block (CRCs fixed up) */
    len = frame(bad, h, 0, "{}", 2);
    bad[12 + 1 + 13 + 1 + 1] = 40; /* ":message-type" value length 5 -> 40 */
    es_put32(bad + len - 4, sllmp_crc32(0, bad, len - 4));
    feed_both_ways(bad, len, 4096, -1, 0, "runs past");

    /* an unknown value type */
    len = frame(bad, h, 0, "{}", 2);
    bad[12 + 1 + 13] = 42;
    es_put32(bad + len - 4, sllmp_crc32(0, bad, len - 4));
    feed_both_ways(bad, len, 4096, -1, 0, "value type");
}

static void
test_evs_callback_stops(void **state)
{
    unsigned char buf[2048];
    size_t n = three_frames(buf);
    sllmp_evs_t p;
    seen_t s;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.stop_at = 2;
    sllmp_evs_init(&p, 4096, on_msg, &s);
    assert_int_equal(sllmp_evs_feed(&p, (const char *)buf, n), 7);
    assert_int_equal(s.n, 2);
    sllmp_evs_free(&p);
}

/* ---- Converse request ---- */

static void
test_converse_request_tool_round_trip(void **state)
{
    sllmp_xerr_t e;
    cJSON *req = parse(
        "{\"model\":\"m\",\"max_completion_tokens\":512,\"max_tokens\":9,\"temperature\":0.2,"
        "\"top_p\":0.9,\"stop\":\"END\",\"n\":1,\"stream\":true,\"seed\":4,"
        "\"messages\":["
        "{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Use tools.\"}]},"
        "{\"role\":\"user\",\"content\":\"Weather?\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Here:\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0=\"}}]},"
        "{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":["
        "{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"t2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
        "\"arguments\":\"\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"18C\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"t2\",\"content\":[{\"type\":\"text\","
        "\"text\":\"noon\"}]},"
        "{\"role\":\"user\",\"content\":\"Thanks\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"Weather\",\"parameters\":{\"type\":\"object\",\"properties\":"
        "{\"city\":{\"type\":\"string\"}}}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}],"
        "\"tool_choice\":\"required\"}");
    cJSON *out = sllmp_bedrock_request(req, "amazon.nova-pro-v1:0", &e);

    (void)state;
    assert_non_null(out);
    assert_json(
        out, "{\"messages\":["
             "{\"role\":\"user\",\"content\":[{\"text\":\"Weather?\"},{\"text\":\"Here:\"},"
             "{\"image\":{\"format\":\"png\",\"source\":{\"bytes\":\"iVBORw0=\"}}}]},"
             "{\"role\":\"assistant\",\"content\":[{\"text\":\"Checking.\"},"
             "{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"get_weather\","
             "\"input\":{\"city\":\"Paris\"}}},"
             "{\"toolUse\":{\"toolUseId\":\"t2\",\"name\":\"get_time\",\"input\":{}}}]},"
             "{\"role\":\"user\",\"content\":["
             "{\"toolResult\":{\"toolUseId\":\"t1\",\"content\":[{\"text\":\"18C\"}],"
             "\"status\":\"success\"}},"
             "{\"toolResult\":{\"toolUseId\":\"t2\",\"content\":[{\"text\":\"noon\"}],"
             "\"status\":\"success\"}},"
             "{\"text\":\"Thanks\"}]}],"
             "\"system\":[{\"text\":\"Be brief.\"},{\"text\":\"Use tools.\"}],"
             "\"inferenceConfig\":{\"maxTokens\":512,\"temperature\":0.2,\"topP\":0.9,"
             "\"stopSequences\":[\"END\"]},"
             "\"toolConfig\":{\"tools\":["
             "{\"toolSpec\":{\"name\":\"get_weather\",\"description\":\"Weather\",\"inputSchema\":"
             "{\"json\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}},"
             "{\"toolSpec\":{\"name\":\"get_time\",\"inputSchema\":{\"json\":{\"type\":\"object\","
             "\"properties\":{}}}}}],"
             "\"toolChoice\":{\"any\":{}}}}");
    cJSON_Delete(out);
    cJSON_Delete(req);
}


/* A conversation begun on Gemini carries its thought signatures in the tool call ids
 * ("<id>__thought__<base64>"), which Bedrock refuses (toolUseId: ^[a-zA-Z0-9_-]+$, at most 64
 * characters): the id before the separator goes, on the toolUse and its toolResult alike,
 * whichever side the client kept the signature on. */
static void
test_converse_request_gemini_thought_ids(void **state)
{
    sllmp_xerr_t e;
    cJSON *req = parse(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"call_1__thought__CiQBxoV9mb2NrLWdlbWluaS10aG91Z2h0LXNpZ25hdHVyZQ+/x==\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"},"
        "\"extra_content\":{\"google\":{\"thought_signature\":\"CiQBxoV9mb2NrLWdlbWluaS10aG91Z2h0"
        "LXNpZ25hdHVyZQ+/x==\"}}},"
        "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"g\","
        "\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"1\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2__thought__Zm9v\",\"content\":\"2\"}]}");
    cJSON *out = sllmp_bedrock_request(req, "anthropic.claude-sonnet-4-v1:0", &e);

    (void)state;
    if (out == NULL) {
        fail_msg("refused: %s (%s)", e.message, e.param);
    }
    assert_json(out, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"q\"}]},"
                     "{\"role\":\"assistant\",\"content\":["
                     "{\"toolUse\":{\"toolUseId\":\"call_1\",\"name\":\"f\",\"input\":{}}},"
                     "{\"toolUse\":{\"toolUseId\":\"call_2\",\"name\":\"g\",\"input\":{}}}]},"
                     "{\"role\":\"user\",\"content\":["
                     "{\"toolResult\":{\"toolUseId\":\"call_1\",\"content\":[{\"text\":\"1\"}],"
                     "\"status\":\"success\"}},"
                     "{\"toolResult\":{\"toolUseId\":\"call_2\",\"content\":[{\"text\":\"2\"}],"
                     "\"status\":\"success\"}}]}]}");
    cJSON_Delete(out);
    cJSON_Delete(req);
}
static void
test_converse_request_choices_and_minimal(void **state)
{
    sllmp_xerr_t e;
    cJSON *req, *out;

    (void)state;
    /* minimal: no inferenceConfig, no system, no toolConfig */
    req = parse("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
    out = sllmp_bedrock_request(req, "amazon.nova-pro-v1:0", &e);
    assert_json(out, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}]}");
    cJSON_Delete(out);
    cJSON_Delete(req);

    /* max_tokens alone, stop as a list, a named tool, auto */
    req = parse("{\"max_tokens\":7,\"stop\":[\"a\",\"\",\"b\"],"
                "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}}");
    out = sllmp_bedrock_request(req, "amazon.nova-pro-v1:0", &e);
    assert_json(cJSON_GetObjectItem(out, "inferenceConfig"),
                "{\"maxTokens\":7,\"stopSequences\":[\"a\",\"b\"]}");
    assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "toolConfig"), "toolChoice"),
                "{\"tool\":{\"name\":\"f\"}}");
    cJSON_Delete(out);
    cJSON_ReplaceItemInObject(req, "tool_choice", cJSON_CreateString("auto"));
    out = sllmp_bedrock_request(req, "amazon.nova-pro-v1:0", &e);
    assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "toolConfig"), "toolChoice"),
                "{\"auto\":{}}");
    cJSON_Delete(out);
    /* none: the tools stay (a history with toolUse needs them), no toolChoice */
    cJSON_ReplaceItemInObject(req, "tool_choice", cJSON_CreateString("none"));
    out = sllmp_bedrock_request(req, "amazon.nova-pro-v1:0", &e);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "toolConfig"), "tools"));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "toolConfig"), "toolChoice"));
    cJSON_Delete(out);
    cJSON_Delete(req);
}

/* The request must fail with param (and a message naming why). */
static void
expect_400(const char *json, const char *param, const char *in_message)
{
    sllmp_xerr_t e;
    cJSON *req = parse(json);
    cJSON *out;

    memset(&e, 0, sizeof(e));
    out = sllmp_bedrock_request(req, "amazon.nova-pro-v1:0", &e);
    if (out != NULL) {
        char *t = cJSON_PrintUnformatted(out);

        print_error("translated, want a 400: %s\n", t);
        cJSON_free(t);
        cJSON_Delete(out);
        fail();
    }
    assert_string_equal(e.param, param);
    assert_non_null(strstr(e.message, in_message));
    cJSON_Delete(req);
}

static void
test_converse_request_errors(void **state)
{
    (void)state;
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\","
               "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\","
               "\"arguments\":\"{}\"}},{\"id\":\"b\",\"type\":\"function\",\"function\":"
               "{\"name\":\"f\",\"arguments\":\"{city:\"}}]}]}",
               "messages[1].tool_calls[1].function.arguments", "JSON");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\"},"
               "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.test/a.png\"}}]}]}",
               "messages[0].content[1].image_url.url", "cannot fetch");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
               "\"image_url\":{\"url\":\"data:image/tiff;base64,AAAA\"}}]}]}",
               "messages[0].content[0].image_url.url", "png");
    /* valid JSON that is not an object cannot be a toolUse input */
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\","
               "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\","
               "\"arguments\":\"[1]\"}}]}]}",
               "messages[1].tool_calls[0].function.arguments", "object");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\","
               "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\","
               "\"arguments\":\"{} {}\"}}]}]}",
               "messages[1].tool_calls[0].function.arguments", "object");
    expect_400("{\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "n", "one");
    expect_400("{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "messages[0].tool_call_id",
               "tool_call_id");
    expect_400("{\"messages\":[{\"role\":\"system\",\"content\":\"only\"}]}", "messages", "user");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"always\","
               "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
               "tool_choice", "required");
}

/* ---- Converse request: reasoning (Anthropic models) ---- */

#define CLAUDE "us.anthropic.claude-sonnet-4-20250514-v1:0"
#define NOVA   "amazon.nova-pro-v1:0"

/* The Converse body for the request JSON req and model model_id. */
static cJSON *
converse(const char *req_json, const char *model_id)
{
    sllmp_xerr_t e;
    cJSON *req = parse(req_json);
    cJSON *out;

    memset(&e, 0, sizeof(e));
    out = sllmp_bedrock_request(req, model_id, &e);
    if (out == NULL) {
        fail_msg("not translated: %s (%s)", e.message, e.param);
    }
    cJSON_Delete(req);
    return out;
}

/* The Converse body of req_json for model_id: its second message (the first answer) is want. */
static void
expect_second_message(const char *req_json, const char *model_id, const char *want)
{
    cJSON *out = converse(req_json, model_id);

    assert_json(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "messages"), 1), want);
    cJSON_Delete(out);
}

static void
test_converse_request_reasoning_effort(void **state)
{
    static const struct {
        const char *effort;
        const char *max_tokens; /* "" for none */
        const char *want_ic;    /* the inferenceConfig */
        int budget;             /* 0: no thinking */
    } cases[] = {
        /* temperature and topP go, maxTokens rises to budget + 1024 */
        {"medium", ",\"max_tokens\":100", "{\"maxTokens\":3072,\"stopSequences\":[\"END\"]}", 2048},
        {"low", ",\"max_completion_tokens\":9000",
         "{\"maxTokens\":9000,\"stopSequences\":[\"END\"]}", 1024},
        {"minimal", "", "{\"maxTokens\":4096,\"stopSequences\":[\"END\"]}", 1024},
        /* no max_tokens: 4096 (as for Anthropic), raised to budget + 1024 */
        {"high", "", "{\"maxTokens\":5120,\"stopSequences\":[\"END\"]}", 4096},
        {"xhigh", ",\"max_tokens\":5000", "{\"maxTokens\":5120,\"stopSequences\":[\"END\"]}", 4096},
        /* none, or an effort nobody knows: no thinking, the request as it was */
        {"none", ",\"max_tokens\":100",
         "{\"maxTokens\":100,\"temperature\":0.5,\"topP\":0.9,\"stopSequences\":[\"END\"]}", 0},
        {"bogus", "", "{\"temperature\":0.5,\"topP\":0.9,\"stopSequences\":[\"END\"]}", 0},
    };
    char req[512];

    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        cJSON *out;

        snprintf(req, sizeof(req),
                 "{\"reasoning_effort\":\"%s\",\"temperature\":0.5,\"top_p\":0.9,\"stop\":"
                 "\"END\"%s,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
                 cases[k].effort, cases[k].max_tokens);
        out = converse(req, CLAUDE);
        assert_json(cJSON_GetObjectItem(out, "inferenceConfig"), cases[k].want_ic);
        if (cases[k].budget > 0) {
            char want[128];

            snprintf(want, sizeof(want),
                     "{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":%d}}", cases[k].budget);
            assert_json(cJSON_GetObjectItem(out, "additionalModelRequestFields"), want);
        } else {
            assert_null(cJSON_GetObjectItem(out, "additionalModelRequestFields"));
        }
        cJSON_Delete(out);
    }

    /* the base model id, and an ARN naming an Anthropic model, are Anthropic models too */
    for (int k = 0; k < 2; k++) {
        cJSON *out = converse("{\"reasoning_effort\":\"low\",\"messages\":[{\"role\":\"user\","
                              "\"content\":\"Hi\"}]}",
                              k == 0 ? "anthropic.claude-3-7-sonnet-20250219-v1:0"
                                     : "arn:aws:bedrock:us-east-1:123456789012:"
                                       "inference-profile/us.anthropic.claude-opus-4-v1:0");

        assert_json(out, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}],"
                         "\"inferenceConfig\":{\"maxTokens\":4096},"
                         "\"additionalModelRequestFields\":{\"thinking\":{\"type\":\"enabled\","
                         "\"budget_tokens\":1024}}}");
        cJSON_Delete(out);
    }
}

static void
test_converse_request_reasoning_effort_not_anthropic(void **state)
{
    /* Nova, Llama, DeepSeek...: reasoning_effort means something else to each; left out, and
     * so are Claude's thinking_blocks, which they would refuse */
    static const char *const models[] = {"amazon.nova-pro-v1:0", "us.meta.llama3-3-70b-v1:0",
                                         "us.deepseek.r1-v1:0", NULL};
    static const char *const req =
        "{\"reasoning_effort\":\"high\",\"temperature\":0.5,\"max_tokens\":100,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},"
        "{\"role\":\"assistant\",\"content\":\"Hello\",\"thinking_blocks\":[{\"type\":"
        "\"thinking\",\"thinking\":\"hm\",\"signature\":\"EqQBsig==\"}]},"
        "{\"role\":\"user\",\"content\":\"Again\"}]}";
    cJSON *out;

    (void)state;
    for (size_t k = 0; k < sizeof(models) / sizeof(models[0]); k++) {
        out = converse(req, models[k]);
        assert_json(out, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]},"
                         "{\"role\":\"assistant\",\"content\":[{\"text\":\"Hello\"}]},"
                         "{\"role\":\"user\",\"content\":[{\"text\":\"Again\"}]}],"
                         "\"inferenceConfig\":{\"maxTokens\":100,\"temperature\":0.5}}");
        cJSON_Delete(out);
    }
    /* the same request for Claude: both go */
    out = converse(req, CLAUDE);
    assert_json(out, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]},"
                     "{\"role\":\"assistant\",\"content\":[{\"reasoningContent\":{"
                     "\"reasoningText\":{\"text\":\"hm\",\"signature\":\"EqQBsig==\"}}},"
                     "{\"text\":\"Hello\"}]},"
                     "{\"role\":\"user\",\"content\":[{\"text\":\"Again\"}]}],"
                     "\"inferenceConfig\":{\"maxTokens\":5120},"
                     "\"additionalModelRequestFields\":{\"thinking\":{\"type\":\"enabled\","
                     "\"budget_tokens\":4096}}}");
    cJSON_Delete(out);
}

static void
test_converse_request_strict_sampling(void **state)
{
    /* Claude after Opus 4.6 refuses temperature and top_p (protocols.md §0.9): dropped for it,
     * on every id form; kept for Claude 4.6 and older, and for other families */
    static const char *const strict[] = {"anthropic.claude-opus-4-7-v1:0",
                                         "us.anthropic.claude-sonnet-5-20270101-v1:0",
                                         "global.anthropic.claude-haiku-4-8-v1:0"};
    static const char *const kept[] = {"anthropic.claude-opus-4-6-v1:0",
                                       "us.anthropic.claude-sonnet-4-20250514-v1:0",
                                       "anthropic.claude-3-5-sonnet-20240620-v1:0",
                                       "amazon.nova-pro-v1:0", "us.meta.claude-7-like-v1:0"};
    static const char *const req = "{\"temperature\":0.5,\"top_p\":0.9,\"max_tokens\":100,"
                                   "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
    cJSON *out;

    (void)state;
    for (size_t k = 0; k < sizeof(strict) / sizeof(strict[0]); k++) {
        out = converse(req, strict[k]);
        assert_json(cJSON_GetObjectItem(out, "inferenceConfig"), "{\"maxTokens\":100}");
        cJSON_Delete(out);
    }
    for (size_t k = 0; k < sizeof(kept) / sizeof(kept[0]); k++) {
        out = converse(req, kept[k]);
        assert_json(cJSON_GetObjectItem(out, "inferenceConfig"),
                    "{\"maxTokens\":100,\"temperature\":0.5,\"topP\":0.9}");
        cJSON_Delete(out);
    }
}

/* A tool-call continuation: the assistant turn (its thinking_blocks given as `blocks`, a JSON
 * array or "" for none), its tool result, and reasoning_effort low. */
static cJSON *
continuation(const char *blocks, const char *model_id)
{
    char req[2048];

    snprintf(req, sizeof(req),
             "{\"reasoning_effort\":\"low\",\"temperature\":0.3,\"messages\":["
             "{\"role\":\"user\",\"content\":\"Weather?\"},"
             "{\"role\":\"assistant\",\"content\":\"Checking.\"%s%s,\"tool_calls\":["
             "{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
             "\"arguments\":\"{}\"}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"18C\"}],"
             "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}]}",
             *blocks ? ",\"thinking_blocks\":" : "", blocks);
    return converse(req, model_id);
}

static void
test_converse_request_thinking_blocks_go_back(void **state)
{
    /* as a stream gave them: each with its "index", which Bedrock must not get; an unsigned
     * entry, an empty redacted one and an unknown type cannot go */
    cJSON *out = continuation(
        "[{\"type\":\"thinking\",\"thinking\":\"Let me think.\",\"signature\":\"EqQBsig==\","
        "\"index\":0},{\"type\":\"redacted_thinking\",\"data\":\"RW1vS0FoZ0I=\",\"index\":1},"
        "{\"type\":\"thinking\",\"thinking\":\"unsigned\",\"index\":2},"
        "{\"type\":\"redacted_thinking\",\"data\":\"\"},{\"type\":\"text\",\"text\":\"x\"}]",
        CLAUDE);

    (void)state;
    assert_json(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "messages"), 1),
                "{\"role\":\"assistant\",\"content\":["
                "{\"reasoningContent\":{\"reasoningText\":{\"text\":\"Let me think.\","
                "\"signature\":\"EqQBsig==\"}}},"
                "{\"reasoningContent\":{\"redactedContent\":\"RW1vS0FoZ0I=\"}},"
                "{\"text\":\"Checking.\"},"
                "{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"get_weather\",\"input\":{}}}]}");
    /* the turn with toolUse starts with its signed block: thinking stays on */
    assert_json(cJSON_GetObjectItem(out, "additionalModelRequestFields"),
                "{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024}}");
    assert_json(cJSON_GetObjectItem(out, "inferenceConfig"), "{\"maxTokens\":4096}");
    cJSON_Delete(out);

    /* a redacted block alone is a thinking block too */
    out = continuation("[{\"type\":\"redacted_thinking\",\"data\":\"RW1vS0FoZ0I=\"}]", CLAUDE);
    assert_non_null(cJSON_GetObjectItem(out, "additionalModelRequestFields"));
    cJSON_Delete(out);
}

static void
test_converse_request_tool_continuation_without_block(void **state)
{
    /* no thinking_blocks, or none that can go: Bedrock would refuse thinking ("Expected
     * thinking or redacted_thinking, but found tool_use"), so it stays off, and so the
     * sampling the client asked for stays */
    static const char *const blocks[] = {
        "", "[]", "[{\"type\":\"thinking\",\"thinking\":\"unsigned\",\"index\":0}]"};

    (void)state;
    for (size_t k = 0; k < sizeof(blocks) / sizeof(blocks[0]); k++) {
        cJSON *out = continuation(blocks[k], CLAUDE);
        const cJSON *asst = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "messages"), 1);

        assert_null(cJSON_GetObjectItem(out, "additionalModelRequestFields"));
        assert_json(cJSON_GetObjectItem(out, "inferenceConfig"), "{\"temperature\":0.3}");
        assert_json(cJSON_GetArrayItem(cJSON_GetObjectItem(asst, "content"), 0),
                    "{\"text\":\"Checking.\"}");
        cJSON_Delete(out);
    }

    /* a tool the client forces: no thinking either (Claude refuses forced tool use with it) */
    {
        cJSON *out = converse(
            "{\"reasoning_effort\":\"high\",\"tool_choice\":\"required\",\"messages\":"
            "[{\"role\":\"user\",\"content\":\"Weather?\"}],\"tools\":[{\"type\":\"function\","
            "\"function\":{\"name\":\"get_weather\"}}]}",
            CLAUDE);

        assert_null(cJSON_GetObjectItem(out, "additionalModelRequestFields"));
        assert_null(cJSON_GetObjectItem(out, "inferenceConfig"));
        cJSON_Delete(out);
    }

    /* a last assistant turn without toolUse needs no block: thinking is on */
    {
        cJSON *out = converse("{\"reasoning_effort\":\"medium\",\"messages\":["
                              "{\"role\":\"user\",\"content\":\"Hi\"},"
                              "{\"role\":\"assistant\",\"content\":\"Hello\"},"
                              "{\"role\":\"user\",\"content\":\"Again\"}]}",
                              CLAUDE);

        assert_json(cJSON_GetObjectItem(out, "additionalModelRequestFields"),
                    "{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048}}");
        cJSON_Delete(out);
    }
}

static void
test_converse_request_tool_arguments(void **state)
{
    /* arguments as the Anthropic translator takes them: a JSON text of an object, the object
     * itself (some clients send it so), or none (absent, null, "", blank): {} */
    cJSON *out = converse(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\","
        "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":{\"city\":\"Paris\",\"days\":[1,2]}}},"
        "{\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":null}},"
        "{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
        "{\"id\":\"d\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\" \"}},"
        "{\"id\":\"e\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\" {\\\"x\\\":1} \"}}]}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
        NOVA);
    const cJSON *msgs = cJSON_GetObjectItem(out, "messages");
    const cJSON *turn = cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1), "content");
    static const char *const inputs[] = {"{\"city\":\"Paris\",\"days\":[1,2]}", "{}", "{}", "{}",
                                         "{\"x\":1}"};
    static const char *const bad[] = {"5", "true", "[1]", "\"[1]\"", "\"5\""};

    (void)state;
    for (int k = 0; k < 5; k++) {
        const cJSON *tu = cJSON_GetObjectItem(cJSON_GetArrayItem(turn, k), "toolUse");

        assert_json(cJSON_GetObjectItem(tu, "input"), inputs[k]);
    }
    cJSON_Delete(out);

    /* anything else is the client's 400, in the Anthropic translator's words */
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        char req[512];

        snprintf(req, sizeof(req),
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":"
                 "\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\","
                 "\"function\":{\"name\":\"f\",\"arguments\":%s}}]}]}",
                 bad[k]);
        expect_400(req, "messages[1].tool_calls[0].function.arguments",
                   "'messages[1].tool_calls[0].function.arguments' must be a JSON object");
    }
}

/* ---- Converse request: whitespace ---- */

static void
test_converse_request_blank_text_left_out(void **state)
{
    /* Converse refuses whitespace-only text blocks for every model ("The text field in the
     * ContentBlock object at messages.1.content.0 is blank"): the "\n\n" some clients put
     * beside tool_calls, blank system and user parts */
    static const char *const models[] = {NOVA, CLAUDE};
    const char *req =
        "{\"messages\":[{\"role\":\"system\",\"content\":\" \\n\"},"
        "{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"\\t\"},"
        "{\"type\":\"text\",\"text\":\"Be brief.\"}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather?\"},"
        "{\"type\":\"text\",\"text\":\"  \"}]},"
        "{\"role\":\"assistant\",\"content\":\"\\n\\n\",\"tool_calls\":[{\"id\":\"t1\","
        "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"18C\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"\\n\"}]},"
        "{\"role\":\"user\",\"content\":\"Thanks\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}]}";

    (void)state;
    for (size_t k = 0; k < sizeof(models) / sizeof(models[0]); k++) {
        cJSON *out = converse(req, models[k]);

        assert_json(cJSON_GetObjectItem(out, "system"), "[{\"text\":\"Be brief.\"}]");
        assert_json(cJSON_GetObjectItem(out, "messages"),
                    "[{\"role\":\"user\",\"content\":[{\"text\":\"Weather?\"}]},"
                    "{\"role\":\"assistant\",\"content\":[{\"toolUse\":{\"toolUseId\":\"t1\","
                    "\"name\":\"get_weather\",\"input\":{}}}]},"
                    "{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":\"t1\","
                    "\"content\":[{\"text\":\"18C\"}],\"status\":\"success\"}},"
                    "{\"text\":\"Thanks\"}]}]");
        cJSON_Delete(out);
    }
}

static void
test_converse_request_empty_tool_result(void **state)
{
    /* Converse requires toolResult.content and refuses blank text in it: an empty, blank or
     * partless result says "(empty)" */
    static const char *const contents[] = {"\"\"", "\" \\n\"", "[]",
                                           "[{\"type\":\"text\",\"text\":\"\"}]", "null"};

    (void)state;
    for (size_t k = 0; k < sizeof(contents) / sizeof(contents[0]); k++) {
        char req[1024];
        cJSON *out;

        snprintf(req, sizeof(req),
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Go\"},"
                 "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t1\",\"type\":\"function\","
                 "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                 "{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":%s}],"
                 "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
                 contents[k]);
        out = converse(req, k % 2 ? NOVA : CLAUDE);
        assert_json(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "messages"), 2),
                    "{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":\"t1\","
                    "\"content\":[{\"text\":\"(empty)\"}],\"status\":\"success\"}}]}");
        cJSON_Delete(out);
    }
}

static void
test_converse_request_claude_prefill_stripped(void **state)
{
    cJSON *out;

    (void)state;
    /* Claude refuses a final assistant turn ending in whitespace ("final assistant content
     * cannot end with trailing whitespace"), through Converse as directly */
    out = converse("{\"messages\":[{\"role\":\"user\",\"content\":\"JSON please\"},"
                   "{\"role\":\"assistant\",\"content\":\"```json\\n\"}]}",
                   CLAUDE);
    assert_json(cJSON_GetObjectItem(out, "messages"),
                "[{\"role\":\"user\",\"content\":[{\"text\":\"JSON please\"}]},"
                "{\"role\":\"assistant\",\"content\":[{\"text\":\"```json\"}]}]");
    cJSON_Delete(out);

    /* only its last text: earlier blocks keep their whitespace; a merged turn's last block
     * left blank goes, and the one before it is cut */
    expect_second_message(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Go\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"One \"},"
        "{\"type\":\"text\",\"text\":\"two \\t\"}]},"
        "{\"role\":\"assistant\",\"content\":\"three \"}]}",
        CLAUDE,
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"One \"},{\"text\":\"two \\t\"},"
        "{\"text\":\"three\"}]}");

    /* a history turn keeps its whitespace: the rule is the final turn's */
    expect_second_message("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},"
                          "{\"role\":\"assistant\",\"content\":\"Hello \"},"
                          "{\"role\":\"user\",\"content\":\"Again\"}]}",
                          CLAUDE, "{\"role\":\"assistant\",\"content\":[{\"text\":\"Hello \"}]}");

    /* a final toolUse ends the turn: nothing to strip before it */
    expect_second_message(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},"
        "{\"role\":\"assistant\",\"content\":\"Checking. \",\"tool_calls\":[{\"id\":"
        "\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
        "\"{}\"}}]}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
        CLAUDE,
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"Checking. \"},"
        "{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"f\",\"input\":{}}}]}");

    /* Nova has no such rule known: its prefill goes as the client wrote it */
    expect_second_message("{\"messages\":[{\"role\":\"user\",\"content\":\"JSON please\"},"
                          "{\"role\":\"assistant\",\"content\":\"```json\\n\"}]}",
                          NOVA, "{\"role\":\"assistant\",\"content\":[{\"text\":\"```json\\n\"}]}");

    /* whitespace-only stop sequences still go (see the top of bedrock_xlate.c) */
    out = converse("{\"stop\":[\"\\n\",\"END\"],\"messages\":[{\"role\":\"user\","
                   "\"content\":\"Hi\"}]}",
                   CLAUDE);
    assert_json(cJSON_GetObjectItem(out, "inferenceConfig"),
                "{\"stopSequences\":[\"\\n\",\"END\"]}");
    cJSON_Delete(out);
}

/* ---- Converse request: prompt caching ---- */

#define CP "{\"cachePoint\":{\"type\":\"default\"}}"

/* Every place a client marks a breakpoint (cache_control), as LiteLLM's clients do. */
static const char cache_req[] =
    "{\"messages\":["
    "{\"role\":\"system\",\"content\":\"Rules.\",\"cache_control\":{\"type\":\"ephemeral\"}},"
    "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"More.\"},"
    "{\"type\":\"text\",\"text\":\"Docs.\",\"cache_control\":{\"type\":\"ephemeral\"}}]},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Book.\","
    "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}},"
    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0=\"},"
    "\"cache_control\":{\"type\":\"ephemeral\"}},"
    "{\"type\":\"text\",\"text\":\" \",\"cache_control\":{\"type\":\"ephemeral\"}},"
    "{\"type\":\"text\",\"text\":\"Read it.\"}]},"
    "{\"role\":\"assistant\",\"content\":\"Done.\",\"cache_control\":{\"type\":\"ephemeral\"},"
    "\"tool_calls\":[{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
    "\"arguments\":\"{}\"},\"cache_control\":{\"type\":\"ephemeral\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"42\","
    "\"cache_control\":{\"type\":\"ephemeral\"}},"
    "{\"role\":\"user\",\"content\":\"Why?\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"},"
    "\"cache_control\":{\"type\":\"ephemeral\"}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"g\"}}]}";

#define TOOL_F                                                                                     \
    "{\"toolSpec\":{\"name\":\"f\",\"inputSchema\":{\"json\":{\"type\":\"object\","                \
    "\"properties\":{}}}}}"
#define TOOL_G                                                                                     \
    "{\"toolSpec\":{\"name\":\"g\",\"inputSchema\":{\"json\":{\"type\":\"object\","                \
    "\"properties\":{}}}}}"
#define IMAGE "{\"image\":{\"format\":\"png\",\"source\":{\"bytes\":\"iVBORw0=\"}}}"
#define RESULT                                                                                     \
    "{\"toolResult\":{\"toolUseId\":\"t1\",\"content\":[{\"text\":\"42\"}],"                       \
    "\"status\":\"success\"}}"

static void
test_converse_request_cache_points_claude(void **state)
{
    /* a cachePoint right after each block marked: system (a string message's one block, a
     * part), a turn's parts (text, image; a blank part sends neither block nor point), a
     * string message, a tool call, a tool result (after it: its content takes none), a tool
     * definition; no ttl */
    cJSON *out = converse(cache_req, CLAUDE);

    (void)state;
    assert_json(cJSON_GetObjectItem(out, "system"),
                "[{\"text\":\"Rules.\"}," CP ",{\"text\":\"More.\"},{\"text\":\"Docs.\"}," CP "]");
    assert_json(cJSON_GetObjectItem(out, "messages"),
                "[{\"role\":\"user\",\"content\":[{\"text\":\"Book.\"}," CP "," IMAGE "," CP
                ",{\"text\":\"Read it.\"}]},"
                "{\"role\":\"assistant\",\"content\":[{\"text\":\"Done.\"}," CP ","
                "{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"f\",\"input\":{}}}," CP "]},"
                "{\"role\":\"user\",\"content\":[" RESULT "," CP ",{\"text\":\"Why?\"}," CP "]}]");
    assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "toolConfig"), "tools"),
                "[" TOOL_F "," CP "," TOOL_G "]");
    cJSON_Delete(out);

    /* a mark on a tool message's part goes after the whole result too */
    out = converse("{\"messages\":[{\"role\":\"user\",\"content\":\"Go\"},"
                   "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t1\",\"type\":\"function\","
                   "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                   "{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":[{\"type\":\"text\","
                   "\"text\":\"42\",\"cache_control\":{\"type\":\"ephemeral\"}}]}],"
                   "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
                   CLAUDE);
    assert_json(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "messages"), 2),
                "{\"role\":\"user\",\"content\":[" RESULT "," CP "]}");
    cJSON_Delete(out);
}

static void
test_converse_request_cache_points_by_model(void **state)
{
    /* models that do not cache refuse a cachePoint: none goes */
    static const char *const none[] = {"meta.llama3-70b-instruct-v1:0",
                                       "mistral.mistral-large-2407-v1:0",
                                       "openai.gpt-oss-120b-1:0"};
    cJSON *out;

    (void)state;
    /* Nova: in system and turns, not after tool definitions nor tool results */
    out = converse(cache_req, "us.amazon.nova-pro-v1:0");
    assert_json(cJSON_GetObjectItem(out, "system"),
                "[{\"text\":\"Rules.\"}," CP ",{\"text\":\"More.\"},{\"text\":\"Docs.\"}," CP "]");
    assert_json(cJSON_GetObjectItem(out, "messages"),
                "[{\"role\":\"user\",\"content\":[{\"text\":\"Book.\"}," CP "," IMAGE "," CP
                ",{\"text\":\"Read it.\"}]},"
                "{\"role\":\"assistant\",\"content\":[{\"text\":\"Done.\"}," CP ","
                "{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"f\",\"input\":{}}}," CP "]},"
                "{\"role\":\"user\",\"content\":[" RESULT ",{\"text\":\"Why?\"}," CP "]}]");
    assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "toolConfig"), "tools"),
                "[" TOOL_F "," TOOL_G "]");
    cJSON_Delete(out);

    for (size_t k = 0; k < sizeof(none) / sizeof(none[0]); k++) {
        char *text;

        out = converse(cache_req, none[k]);
        text = cJSON_PrintUnformatted(out);
        assert_null(strstr(text, "cachePoint"));
        assert_null(strstr(text, "cache_control"));
        cJSON_free(text);
        assert_json(cJSON_GetObjectItem(out, "system"),
                    "[{\"text\":\"Rules.\"},{\"text\":\"More.\"},{\"text\":\"Docs.\"}]");
        cJSON_Delete(out);
    }
}

static void
test_converse_request_cache_point_after_prefill(void **state)
{
    (void)state;
    /* a prefill's cachePoint marks its last text, which still loses its trailing whitespace
     * (Bedrock gives Claude the point as that text's cache_control) */
    expect_second_message("{\"messages\":[{\"role\":\"user\",\"content\":\"JSON please\"},"
                          "{\"role\":\"assistant\",\"content\":\"```json\\n\","
                          "\"cache_control\":{\"type\":\"ephemeral\"}}]}",
                          CLAUDE,
                          "{\"role\":\"assistant\",\"content\":[{\"text\":\"```json\"}," CP "]}");

    /* parts: the marked last one is cut, earlier ones keep their whitespace */
    expect_second_message(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Go\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"One \","
        "\"cache_control\":{\"type\":\"ephemeral\"}},{\"type\":\"text\",\"text\":"
        "\"two \\t\",\"cache_control\":{\"type\":\"ephemeral\"}}]}]}",
        CLAUDE,
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"One \"}," CP ",{\"text\":\"two\"}," CP
        "]}");
}

static void
test_strip_prefill_past_cache_points(void **state)
{
    cJSON *m;

    (void)state;
    /* a text left blank goes, the cachePoint after it stays to mark the one before */
    m = parse("[{\"role\":\"user\",\"content\":[{\"text\":\"Go\"}]},"
              "{\"role\":\"assistant\",\"content\":[{\"text\":\"One \"},{\"text\":\" \"}," CP
              "]}]");
    sllmp_anthropic_strip_prefill(m);
    assert_json(m, "[{\"role\":\"user\",\"content\":[{\"text\":\"Go\"}]},"
                   "{\"role\":\"assistant\",\"content\":[{\"text\":\"One\"}," CP "]}]");
    cJSON_Delete(m);

    /* a turn left with cachePoints alone is no turn */
    m = parse("[{\"role\":\"user\",\"content\":[{\"text\":\"Go\"}]},"
              "{\"role\":\"assistant\",\"content\":[{\"text\":\"\\n\"}," CP "," CP "]}]");
    sllmp_anthropic_strip_prefill(m);
    assert_json(m, "[{\"role\":\"user\",\"content\":[{\"text\":\"Go\"}]}]");
    cJSON_Delete(m);
}

/* ---- InvokeModel: the anthropic-beta header ---- */

static void
test_invoke_anthropic_beta(void **state)
{
    cJSON *body = parse("{\"max_tokens\":9}");

    (void)state;
    /* trimmed, empty ones skipped, each once */
    sllmp_bedrock_anthropic_beta(body, " context-1m-2025-08-07 , ,token-efficient-tools,"
                                       "context-1m-2025-08-07\t");
    assert_json(body, "{\"max_tokens\":9,\"anthropic_beta\":[\"context-1m-2025-08-07\","
                      "\"token-efficient-tools\"]}");
    cJSON_Delete(body);

    /* merged into the body's own list, without duplicates */
    body = parse("{\"anthropic_beta\":[\"b\",\"x\"]}");
    sllmp_bedrock_anthropic_beta(body, "a,b");
    assert_json(body, "{\"anthropic_beta\":[\"b\",\"x\",\"a\"]}");
    cJSON_Delete(body);

    /* nothing to add: no key made */
    body = parse("{}");
    sllmp_bedrock_anthropic_beta(body, NULL);
    sllmp_bedrock_anthropic_beta(body, "");
    sllmp_bedrock_anthropic_beta(body, " , ");
    assert_json(body, "{}");
    cJSON_Delete(body);

    /* not a list: left for Bedrock to refuse */
    body = parse("{\"anthropic_beta\":\"b\"}");
    sllmp_bedrock_anthropic_beta(body, "a");
    assert_json(body, "{\"anthropic_beta\":\"b\"}");
    cJSON_Delete(body);
}

/* ---- Converse response ---- */

/* ---- Converse request: response_format (LiteLLM's json_tool_call) ---- */

#define ASK       "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]"
#define FREE_FORM "{\"type\":\"object\",\"additionalProperties\":true,\"properties\":{}}"
#define JSON_TOOL(schema)                                                                          \
    "{\"toolSpec\":{\"name\":\"json_tool_call\",\"inputSchema\":{\"json\":" schema "}}}"
#define FORCED      "\"toolChoice\":{\"tool\":{\"name\":\"json_tool_call\"}}"
#define CLIENT_TOOL "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"
#define CLIENT_SPEC                                                                                \
    "{\"toolSpec\":{\"name\":\"f\",\"inputSchema\":{\"json\":{\"type\":\"object\","                \
    "\"properties\":{}}}}}"

/* The toolConfig of req_json's Converse body for model_id is want ("null": none). */
static void
expect_tool_config(const char *req_json, const char *model_id, const char *want)
{
    cJSON *out = converse(req_json, model_id);
    cJSON *tc = cJSON_GetObjectItem(out, "toolConfig");
    cJSON *null = cJSON_CreateNull();

    assert_json(tc != NULL ? tc : null, want);
    cJSON_Delete(null);
    cJSON_Delete(out);
}

static void
test_converse_request_response_format(void **state)
{
    (void)state;
    /* json_object: a tool taking any object, which the model must call */
    expect_tool_config("{" ASK ",\"response_format\":{\"type\":\"json_object\"}}", NOVA,
                       "{\"tools\":[" JSON_TOOL(FREE_FORM) "]," FORCED "}");
    /* json_schema: its schema (as it is) and description; name and strict are not sent */
    expect_tool_config(
        "{" ASK ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
        "\"name\":\"w\",\"description\":\"the weather\",\"strict\":true,\"schema\":{"
        "\"type\":\"object\",\"properties\":{\"t\":{\"type\":\"number\"}},"
        "\"required\":[\"t\"],\"additionalProperties\":false}}}}",
        CLAUDE,
        "{\"tools\":[{\"toolSpec\":{\"name\":\"json_tool_call\",\"description\":\"the weather\","
        "\"inputSchema\":{\"json\":{\"type\":\"object\",\"properties\":{\"t\":{\"type\":"
        "\"number\"}},\"required\":[\"t\"],\"additionalProperties\":false}}}}]," FORCED "}");
    /* a json_schema without a schema (or a null one) takes any object */
    expect_tool_config("{" ASK ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                       "{\"name\":\"w\",\"schema\":null}}}",
                       NOVA, "{\"tools\":[" JSON_TOOL(FREE_FORM) "]," FORCED "}");
    /* text, or none: nothing */
    expect_tool_config("{" ASK ",\"response_format\":{\"type\":\"text\"}}", NOVA, "null");
    expect_tool_config("{" ASK ",\"response_format\":null}", NOVA, "null");
    /* the client's tools come first, and without a tool_choice of its own the JSON tool is
     * forced */
    expect_tool_config("{" ASK "," CLIENT_TOOL ",\"response_format\":{\"type\":\"json_object\"}}",
                       NOVA, "{\"tools\":[" CLIENT_SPEC "," JSON_TOOL(FREE_FORM) "]," FORCED "}");
    /* its none (no tool of its own) forces the JSON tool too */
    expect_tool_config("{" ASK "," CLIENT_TOOL ",\"tool_choice\":\"none\","
                       "\"response_format\":{\"type\":\"json_object\"}}",
                       NOVA, "{\"tools\":[" CLIENT_SPEC "," JSON_TOOL(FREE_FORM) "]," FORCED "}");
    /* any other choice of its own wins, as in LiteLLM */
    expect_tool_config("{" ASK "," CLIENT_TOOL ",\"tool_choice\":\"auto\","
                       "\"response_format\":{\"type\":\"json_object\"}}",
                       NOVA,
                       "{\"tools\":[" CLIENT_SPEC
                       "," JSON_TOOL(FREE_FORM) "],"
                                                "\"toolChoice\":{\"auto\":{}}}");
    /* a model Converse cannot force a tool on gets the tool unforced */
    expect_tool_config("{" ASK ",\"response_format\":{\"type\":\"json_object\"}}",
                       "meta.llama3-1-70b-instruct-v1:0", "{\"tools\":[" JSON_TOOL(FREE_FORM) "]}");
    expect_tool_config("{" ASK ",\"response_format\":{\"type\":\"json_object\"}}",
                       "mistral.mistral-large-2407-v1:0",
                       "{\"tools\":[" JSON_TOOL(FREE_FORM) "]," FORCED "}");
}

static void
test_converse_request_response_format_and_thinking(void **state)
{
    cJSON *out;

    (void)state;
    /* thinking, which a forced tool would turn off, stays on; the tool is not forced (LiteLLM) */
    out = converse("{" ASK ",\"reasoning_effort\":\"low\","
                   "\"response_format\":{\"type\":\"json_object\"}}",
                   CLAUDE);
    assert_json(cJSON_GetObjectItem(out, "toolConfig"), "{\"tools\":[" JSON_TOOL(FREE_FORM) "]}");
    assert_json(cJSON_GetObjectItem(out, "additionalModelRequestFields"),
                "{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024}}");
    cJSON_Delete(out);
    /* where thinking would be off anyway (none), the tool is forced */
    expect_tool_config("{" ASK ",\"reasoning_effort\":\"none\","
                       "\"response_format\":{\"type\":\"json_object\"}}",
                       CLAUDE, "{\"tools\":[" JSON_TOOL(FREE_FORM) "]," FORCED "}");
}

static void
test_converse_request_response_format_errors(void **state)
{
    (void)state;
    expect_400("{" ASK ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
               "\"name\":\"w\",\"schema\":\"{\\\"type\\\":\\\"object\\\"}\"}}}",
               "response_format.json_schema.schema", "object");
    expect_400("{" ASK ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
               "\"name\":\"w\",\"schema\":[]}}}",
               "response_format.json_schema.schema", "object");
    expect_400("{" ASK ",\"response_format\":{\"type\":\"xml\"}}", "response_format.type",
               "json_schema");
    expect_400("{" ASK ",\"response_format\":{}}", "response_format.type", "json_schema");
    expect_400("{" ASK ",\"response_format\":\"json_object\"}", "response_format", "object");
    /* a tool of the client's by the JSON tool's name would be taken for the answer */
    expect_400("{" ASK ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"g\"}},"
               "{\"type\":\"function\",\"function\":{\"name\":\"json_tool_call\"}}],"
               "\"response_format\":{\"type\":\"json_object\"}}",
               "tools[1].function.name", "json_tool_call");
    /* without a response_format that name is the client's to use */
    expect_tool_config("{" ASK ",\"tools\":[{\"type\":\"function\",\"function\":{"
                       "\"name\":\"json_tool_call\"}}]}",
                       NOVA,
                       "{\"tools\":[" JSON_TOOL("{\"type\":\"object\",\"properties\":{}}") "]}");
}

static void
test_converse_response(void **state)
{
    cJSON *resp =
        parse("{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":["
              "{\"text\":\"Let me \"},{\"reasoningContent\":{\"reasoningText\":{\"text\":\"hm\"}}},"
              "{\"text\":\"check.\"},"
              "{\"toolUse\":{\"toolUseId\":\"tooluse_1\",\"name\":\"get_weather\","
              "\"input\":{\"city\":\"Paris\"}}}]}},"
              "\"stopReason\":\"tool_use\","
              "\"usage\":{\"inputTokens\":10,\"outputTokens\":20,\"totalTokens\":330,"
              "\"cacheReadInputTokens\":200,\"cacheWriteInputTokens\":100},"
              "\"metrics\":{\"latencyMs\":300}}");
    sllmp_usage_t u;
    cJSON *out, *id;

    (void)state;
    memset(&u, 0, sizeof(u));
    out = sllmp_bedrock_response(resp, "claude", 1700000000, &u, 0);
    assert_non_null(out);
    id = cJSON_DetachItemFromObject(out, "id");
    assert_true(cJSON_IsString(id));
    assert_int_equal(strlen(id->valuestring), 9 + 24);
    assert_memory_equal(id->valuestring, "chatcmpl-", 9);
    cJSON_Delete(id);
    assert_json(out, "{\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"claude\","
                     "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                     "\"content\":\"Let me check.\",\"refusal\":null,"
                     "\"reasoning_content\":\"hm\",\"tool_calls\":["
                     "{\"id\":\"tooluse_1\",\"type\":\"function\",\"function\":{\"name\":"
                     "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
                     "\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],"
                     "\"usage\":{\"prompt_tokens\":310,\"completion_tokens\":20,"
                     "\"total_tokens\":330,\"prompt_tokens_details\":{\"cached_tokens\":200,"
                     "\"cache_write_tokens\":100},\"completion_tokens_details\":"
                     "{\"reasoning_tokens\":0}}}");
    assert_int_equal(u.input, 10);
    assert_int_equal(u.cache_read, 200);
    assert_int_equal(u.cache_write, 100);
    assert_int_equal(u.output, 20);
    assert_true(u.seen);
    cJSON_Delete(out);
    cJSON_Delete(resp);
}

static void
test_converse_response_reasoning(void **state)
{
    /* Claude through Converse: a signed reasoning block, a redacted one, then the answer */
    cJSON *resp = parse("{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":["
                        "{\"reasoningContent\":{\"reasoningText\":{\"text\":\"Let me think.\","
                        "\"signature\":\"EqQBsig==\"}}},"
                        "{\"reasoningContent\":{\"redactedContent\":\"RW1vS0FoZ0I=\"}},"
                        "{\"text\":\"Hi\"}]}},\"stopReason\":\"end_turn\","
                        "\"usage\":{\"inputTokens\":10,\"outputTokens\":20,\"totalTokens\":30}}");
    cJSON *out;

    (void)state;
    out = sllmp_bedrock_response(resp, "claude", 1700000000, NULL, 0);
    assert_non_null(out);
    assert_json(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "choices"), 0), "message"),
        "{\"role\":\"assistant\",\"content\":\"Hi\",\"refusal\":null,"
        "\"reasoning_content\":\"Let me think.\",\"thinking_blocks\":["
        "{\"type\":\"thinking\",\"thinking\":\"Let me think.\",\"signature\":"
        "\"EqQBsig==\"},{\"type\":\"redacted_thinking\",\"data\":\"RW1vS0FoZ0I=\"}]}");
    /* the usage is Bedrock's, reasoning or not (outputTokens include it) */
    assert_json(cJSON_GetObjectItem(out, "usage"),
                "{\"prompt_tokens\":10,\"completion_tokens\":20,\"total_tokens\":30,"
                "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                "\"completion_tokens_details\":{\"reasoning_tokens\":0}}");
    cJSON_Delete(out);
    cJSON_Delete(resp);
}

/* The message and finish_reason of resp_json's answer in JSON mode (json_mode). */
static void
expect_json_answer(const char *resp_json, int json_mode, const char *message, const char *finish)
{
    cJSON *resp = parse(resp_json);
    cJSON *out = sllmp_bedrock_response(resp, "m", 1, NULL, json_mode);
    const cJSON *ch;

    assert_non_null(out);
    ch = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "choices"), 0);
    assert_json(cJSON_GetObjectItem(ch, "message"), message);
    assert_string_equal(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, finish);
    cJSON_Delete(out);
    cJSON_Delete(resp);
}

#define RESP(content, stop)                                                                        \
    "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[" content "]}},"                \
    "\"stopReason\":\"" stop "\",\"usage\":{\"inputTokens\":1,\"outputTokens\":2}}"
#define JSON_USE(input)                                                                            \
    "{\"toolUse\":{\"toolUseId\":\"tooluse_j\",\"name\":\"json_tool_call\",\"input\":" input "}}"

static void
test_converse_response_json_mode(void **state)
{
    (void)state;
    /* the tool's input is the content (a preamble is not: the content must parse), no
     * tool_calls, and the answer stopped, as OpenAI's json mode does */
    expect_json_answer(
        RESP("{\"text\":\"Here it is.\"}," JSON_USE("{\"t\":21.5,\"s\":\"sun\"}"), "tool_use"), 1,
        "{\"role\":\"assistant\",\"content\":\"{\\\"t\\\":21.5,\\\"s\\\":\\\"sun\\\"}\","
        "\"refusal\":null}",
        "stop");
    /* cut by max_tokens: still length */
    expect_json_answer(RESP(JSON_USE("{}"), "max_tokens"), 1,
                       "{\"role\":\"assistant\",\"content\":\"{}\",\"refusal\":null}", "length");
    /* with a call of one of the client's tools: that is a tool call, the JSON the content */
    expect_json_answer(RESP("{\"toolUse\":{\"toolUseId\":\"tooluse_f\",\"name\":\"f\",\"input\":"
                            "{\"x\":1}}}," JSON_USE("{\"a\":[1]}"),
                            "tool_use"),
                       1,
                       "{\"role\":\"assistant\",\"content\":\"{\\\"a\\\":[1]}\",\"refusal\":null,"
                       "\"tool_calls\":[{\"id\":\"tooluse_f\",\"type\":\"function\",\"function\":"
                       "{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}}]}",
                       "tool_calls");
    /* the model answered in text (the tool was not forced): that text */
    expect_json_answer(RESP("{\"text\":\"{\\\"a\\\":1}\"}", "end_turn"), 1,
                       "{\"role\":\"assistant\",\"content\":\"{\\\"a\\\":1}\",\"refusal\":null}",
                       "stop");
    /* without JSON mode the tool is any other (the client's own json_tool_call) */
    expect_json_answer(RESP(JSON_USE("{\"a\":1}"), "tool_use"), 0,
                       "{\"role\":\"assistant\",\"content\":null,\"refusal\":null,"
                       "\"tool_calls\":[{\"id\":\"tooluse_j\",\"type\":\"function\",\"function\":"
                       "{\"name\":\"json_tool_call\",\"arguments\":\"{\\\"a\\\":1}\"}}]}",
                       "tool_calls");
}

static void
test_converse_response_finish_reasons(void **state)
{
    static const char *const map[][2] = {
        {"end_turn", "stop"},
        {"stop_sequence", "stop"},
        {"max_tokens", "length"},
        {"tool_use", "tool_calls"},
        {"guardrail_intervened", "content_filter"},
        {"content_filtered", "content_filter"},
        {"something_new", "stop"},
    };
    char json[256];

    (void)state;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        cJSON *resp, *out;

        snprintf(json, sizeof(json),
                 "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[]}},"
                 "\"stopReason\":\"%s\",\"usage\":{\"inputTokens\":1,\"outputTokens\":0}}",
                 map[i][0]);
        resp = parse(json);
        out = sllmp_bedrock_response(resp, "m", 1, NULL, 0);
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "choices"), 0),
                                "finish_reason")
                ->valuestring,
            map[i][1]);
        /* no text: content is null */
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "choices"), 0),
                                "message"),
            "content")));
        cJSON_Delete(out);
        cJSON_Delete(resp);
    }
    /* not a Converse response */
    {
        cJSON *j = parse("{\"message\":\"Bad\"}");

        assert_null(sllmp_bedrock_response(j, "m", 1, NULL, 0));
        cJSON_Delete(j);
    }
}

/* ---- ConverseStream ---- */

typedef struct {
    int n;
    char chunk[MAX_SEEN][512];
    int stop_after; /* > 0: emit returns 5 once that many chunks went out */
} chunks_t;

static int
on_chunk(void *ud, const cJSON *c)
{
    chunks_t *k = ud;
    char *t = cJSON_PrintUnformatted(c);

    assert_true(k->n < MAX_SEEN);
    snprintf(k->chunk[k->n], sizeof(k->chunk[0]), "%s", t);
    cJSON_free(t);
    k->n++;
    return k->stop_after > 0 && k->n >= k->stop_after ? 5 : 0;
}

static void
stream_init(sllmp_xstream_t *s, chunks_t *k)
{
    memset(s, 0, sizeof(*s));
    memset(k, 0, sizeof(*k));
    s->emit = on_chunk;
    s->ud = k;
    s->model = "claude";
    s->created = 1700000000;
    s->id = "chatcmpl-test";
}

#define CHUNK_HEAD                                                                                 \
    "{\"id\":\"chatcmpl-test\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"       \
    "\"model\":\"claude\",\"choices\":[{\"index\":0,\"delta\":"
#define CHUNK(delta)      CHUNK_HEAD delta ",\"logprobs\":null,\"finish_reason\":null}]}"
#define CHUNK_FINISH(why) CHUNK_HEAD "{},\"logprobs\":null,\"finish_reason\":\"" why "\"}]}"

/* The ConverseStream of a text block and two tool blocks, the second without input. */
static const char *const tool_stream[][2] = {
    {"messageStart", "{\"role\":\"assistant\",\"p\":\"abcdefgh\"}"},
    {"contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hel\"},\"p\":\"ab\"}"},
    {"contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"lo\"}}"},
    {"contentBlockDelta",
     "{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":{\"text\":\"hm\"}}}"},
    {"contentBlockStop", "{\"contentBlockIndex\":0}"},
    {"contentBlockStart", "{\"contentBlockIndex\":1,\"start\":{\"toolUse\":{\"toolUseId\":"
                          "\"t1\",\"name\":\"get_weather\"}}}"},
    {"contentBlockDelta",
     "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"{\\\"city\\\":\"}}}"},
    {"contentBlockDelta",
     "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"\\\"Paris\\\"}\"}}}"},
    {"contentBlockStop", "{\"contentBlockIndex\":1}"},
    {"contentBlockStart", "{\"contentBlockIndex\":2,\"start\":{\"toolUse\":{\"toolUseId\":"
                          "\"t2\",\"name\":\"get_time\"}}}"},
    {"contentBlockStop", "{\"contentBlockIndex\":2}"},
    {"messageStop", "{\"stopReason\":\"tool_use\"}"},
    {"someFutureEvent", "{}"},
    {"metadata", "{\"usage\":{\"inputTokens\":10,\"outputTokens\":20,\"totalTokens\":330,"
                 "\"cacheReadInputTokens\":200,\"cacheWriteInputTokens\":100},"
                 "\"metrics\":{\"latencyMs\":321},\"p\":\"abc\"}"},
};
#define TOOL_STREAM_LEN (sizeof(tool_stream) / sizeof(tool_stream[0]))

static const char *const tool_chunks[] = {
    CHUNK("{\"role\":\"assistant\",\"content\":\"\"}"),
    CHUNK("{\"content\":\"Hel\"}"),
    CHUNK("{\"content\":\"lo\"}"),
    CHUNK("{\"reasoning_content\":\"hm\"}"),
    CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"t1\",\"type\":\"function\",\"function\":"
          "{\"name\":\"get_weather\",\"arguments\":\"\"}}]}"),
    CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}"),
    CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}"),
    CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"t2\",\"type\":\"function\",\"function\":"
          "{\"name\":\"get_time\",\"arguments\":\"\"}}]}"),
    CHUNK("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]}"),
    CHUNK_FINISH("tool_calls"),
};
#define TOOL_CHUNKS_LEN (sizeof(tool_chunks) / sizeof(tool_chunks[0]))

/* The chunks of tool_stream, then its usage chunk read back into buckets. */
static void
check_tool_chunks(const sllmp_xstream_t *s, const chunks_t *k)
{
    cJSON *last, *usage;
    sllmp_usage_t u;

    assert_int_equal(k->n, TOOL_CHUNKS_LEN + 1);
    for (size_t i = 0; i < TOOL_CHUNKS_LEN; i++) {
        assert_string_equal(k->chunk[i], tool_chunks[i]);
    }
    last = parse(k->chunk[TOOL_CHUNKS_LEN]);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(last, "choices")), 0);
    assert_string_equal(cJSON_GetObjectItem(last, "id")->valuestring, "chatcmpl-test");
    usage = cJSON_GetObjectItem(last, "usage");
    assert_int_equal(cJSON_GetObjectItem(usage, "prompt_tokens")->valueint, 310);
    memset(&u, 0, sizeof(u));
    sllmp_usage_from_openai(&u, usage);
    assert_int_equal(u.input, 10);
    assert_int_equal(u.cache_read, 200);
    assert_int_equal(u.cache_write, 100);
    assert_int_equal(u.output, 20);
    assert_int_equal(u.reasoning, 0);
    cJSON_Delete(last);
    assert_true(s->ended);
    assert_true(s->usage_sent);
    assert_string_equal(s->finish, "tool_calls");
}

/* Feeds n events ({name, JSON}) to s, each of which must be taken without an error. */
static void
feed_events(sllmp_xstream_t *s, const char *const (*events)[2], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cJSON *p = parse(events[i][1]);

        assert_int_equal(sllmp_bedrock_stream_event(s, events[i][0], p), 0);
        cJSON_Delete(p);
    }
}

/* The chunks k got are exactly want's n. */
static void
expect_chunks(const chunks_t *k, const char *const *want, size_t n)
{
    assert_int_equal(k->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(k->chunk[i], want[i]);
    }
}

static void
test_converse_stream_tools(void **state)
{
    sllmp_xstream_t s;
    chunks_t k;

    (void)state;
    stream_init(&s, &k);
    feed_events(&s, tool_stream, TOOL_STREAM_LEN);
    check_tool_chunks(&s, &k);
    sllmp_xstream_free(&s);
}

/* contentBlockIndex past 127 (Claude on Bedrock numbers its blocks as Anthropic does, citations
 * and thinking included), and a tool block that never got its stop: the next tool call ends it
 * with "{}", the text of an argument-less call, rather than leave it "", and a delta that comes
 * for it after that is dropped. */
static void
test_converse_stream_tool_block_indices(void **state)
{
    static const char *const events[][2] = {
        {"messageStart", "{\"role\":\"assistant\"}"},
        {"contentBlockStart", "{\"contentBlockIndex\":200,\"start\":{\"toolUse\":{\"toolUseId\":"
                              "\"t1\",\"name\":\"f\"}}}"},
        {"contentBlockDelta",
         "{\"contentBlockIndex\":200,\"delta\":{\"toolUse\":{\"input\":\"{\\\"q\\\":1}\"}}}"},
        {"contentBlockStop", "{\"contentBlockIndex\":200}"},
        {"contentBlockStart", "{\"contentBlockIndex\":201,\"start\":{\"toolUse\":{\"toolUseId\":"
                              "\"t2\",\"name\":\"g\"}}}"},
        {"contentBlockStart", "{\"contentBlockIndex\":202,\"start\":{\"toolUse\":{\"toolUseId\":"
                              "\"t3\",\"name\":\"h\"}}}"},
        {"contentBlockDelta",
         "{\"contentBlockIndex\":201,\"delta\":{\"toolUse\":{\"input\":\"{\\\"late\\\":1}\"}}}"},
        {"contentBlockDelta",
         "{\"contentBlockIndex\":202,\"delta\":{\"toolUse\":{\"input\":\"{\\\"r\\\":2}\"}}}"},
        {"contentBlockStop", "{\"contentBlockIndex\":202}"},
        {"messageStop", "{\"stopReason\":\"tool_use\"}"},
    };
    static const char *const want[] = {
        CHUNK("{\"role\":\"assistant\",\"content\":\"\"}"),
        CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"t1\",\"type\":\"function\",\"function\":"
              "{\"name\":\"f\",\"arguments\":\"\"}}]}"),
        CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"q\\\":1}\"}}]}"),
        CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"t2\",\"type\":\"function\",\"function\":"
              "{\"name\":\"g\",\"arguments\":\"\"}}]}"),
        CHUNK("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]}"),
        CHUNK("{\"tool_calls\":[{\"index\":2,\"id\":\"t3\",\"type\":\"function\",\"function\":"
              "{\"name\":\"h\",\"arguments\":\"\"}}]}"),
        CHUNK("{\"tool_calls\":[{\"index\":2,\"function\":{\"arguments\":\"{\\\"r\\\":2}\"}}]}"),
        CHUNK_FINISH("tool_calls"),
    };
    sllmp_xstream_t s;
    chunks_t k;

    (void)state;
    stream_init(&s, &k);
    feed_events(&s, events, sizeof(events) / sizeof(events[0]));
    expect_chunks(&k, want, sizeof(want) / sizeof(want[0]));
    sllmp_xstream_free(&s);
}

typedef struct {
    sllmp_xstream_t *s;
    int frames;
} pump_t;

/* An event-stream message into the stream translator, as the adapter does it. */
static int
pump(void *ud, const sllmp_evs_msg_t *m)
{
    pump_t *p = ud;
    cJSON *payload;
    int rc;

    assert_string_equal(m->message_type, "event");
    payload = cJSON_ParseWithLength(m->payload, m->payload_len);
    assert_non_null(payload);
    rc = sllmp_bedrock_stream_event(p->s, m->event_type, payload);
    cJSON_Delete(payload);
    p->frames++;
    return rc;
}

static void
test_converse_stream_from_frames_split_everywhere(void **state)
{
    unsigned char buf[8192];
    size_t n = 0;

    (void)state;
    for (size_t i = 0; i < TOOL_STREAM_LEN; i++) {
        n += event_frame(buf + n, tool_stream[i][0], tool_stream[i][1]);
    }
    assert_true(n < sizeof(buf));
    for (size_t cut = 0; cut <= n; cut += 5) {
        sllmp_xstream_t s;
        chunks_t k;
        sllmp_evs_t e;
        pump_t p = {&s, 0};

        stream_init(&s, &k);
        sllmp_evs_init(&e, 1 << 20, pump, &p);
        assert_int_equal(sllmp_evs_feed(&e, (const char *)buf, cut), 0);
        assert_int_equal(sllmp_evs_feed(&e, (const char *)buf + cut, n - cut), 0);
        assert_int_equal(p.frames, TOOL_STREAM_LEN);
        check_tool_chunks(&s, &k);
        sllmp_xstream_free(&s);
        sllmp_evs_free(&e);
    }
}

/* ConverseStream of Claude thinking: reasoningContent text deltas, the signature as the
 * block's last delta, a redacted block, then the answer. */
static const char *const reasoning_stream[][2] = {
    {"messageStart", "{\"role\":\"assistant\"}"},
    {"contentBlockDelta",
     "{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":{\"text\":\"Let me \"}}}"},
    {"contentBlockDelta",
     "{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":{\"text\":\"think.\"}}}"},
    {"contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":"
                          "{\"signature\":\"EqQBsig==\"}}}"},
    {"contentBlockStop", "{\"contentBlockIndex\":0}"},
    {"contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":{\"reasoningContent\":"
                          "{\"redactedContent\":\"RW1vS0FoZ0I=\"}}}"},
    {"contentBlockStop", "{\"contentBlockIndex\":1}"},
    {"contentBlockDelta", "{\"contentBlockIndex\":2,\"delta\":{\"text\":\"Hi\"}}"},
    {"contentBlockStop", "{\"contentBlockIndex\":2}"},
    {"messageStop", "{\"stopReason\":\"end_turn\"}"},
    {"metadata", "{\"usage\":{\"inputTokens\":10,\"outputTokens\":20,\"totalTokens\":30},"
                 "\"metrics\":{\"latencyMs\":321}}"},
};

static void
test_converse_stream_reasoning(void **state)
{
    static const char *const want[] = {
        CHUNK("{\"role\":\"assistant\",\"content\":\"\"}"),
        CHUNK("{\"reasoning_content\":\"Let me \"}"),
        CHUNK("{\"reasoning_content\":\"think.\"}"),
        CHUNK("{\"thinking_blocks\":[{\"type\":\"thinking\",\"index\":0,\"thinking\":"
              "\"Let me think.\",\"signature\":\"EqQBsig==\"}]}"),
        CHUNK("{\"thinking_blocks\":[{\"type\":\"redacted_thinking\",\"index\":1,\"data\":"
              "\"RW1vS0FoZ0I=\"}]}"),
        CHUNK("{\"content\":\"Hi\"}"),
        CHUNK_FINISH("stop"),
        "{\"id\":\"chatcmpl-test\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        "\"model\":\"claude\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,"
        "\"completion_tokens\":20,\"total_tokens\":30,\"prompt_tokens_details\":"
        "{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
    };
    sllmp_xstream_t s;
    chunks_t k;

    (void)state;
    stream_init(&s, &k);
    feed_events(&s, reasoning_stream, sizeof(reasoning_stream) / sizeof(reasoning_stream[0]));
    expect_chunks(&k, want, sizeof(want) / sizeof(want[0]));
    assert_int_equal(s.text_chars, 2); /* reasoning is not content */
    sllmp_xstream_free(&s);
}

/* JSON mode: the json_tool_call's input streams as content, and the answer stops. */
static const char *const json_stream[][2] = {
    {"messageStart", "{\"role\":\"assistant\"}"},
    {"contentBlockStart", "{\"contentBlockIndex\":0,\"start\":{\"toolUse\":{\"toolUseId\":"
                          "\"tooluse_j\",\"name\":\"json_tool_call\"}}}"},
    {"contentBlockDelta",
     "{\"contentBlockIndex\":0,\"delta\":{\"toolUse\":{\"input\":\"{\\\"t\\\":\"}}}"},
    {"contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"toolUse\":{\"input\":\"21}\"}}}"},
    {"contentBlockStop", "{\"contentBlockIndex\":0}"},
    {"messageStop", "{\"stopReason\":\"tool_use\"}"},
    {"metadata", "{\"usage\":{\"inputTokens\":3,\"outputTokens\":4,\"totalTokens\":7}}"},
};

static void
test_converse_stream_json_mode(void **state)
{
    static const char *const want[] = {
        CHUNK("{\"role\":\"assistant\",\"content\":\"\"}"),
        CHUNK("{\"content\":\"{\\\"t\\\":\"}"),
        CHUNK("{\"content\":\"21}\"}"),
        CHUNK_FINISH("stop"),
    };
    static const char *const empty_input[][2] = {
        {"contentBlockStart", "{\"contentBlockIndex\":3,\"start\":{\"toolUse\":{\"toolUseId\":"
                              "\"tooluse_j\",\"name\":\"json_tool_call\"}}}"},
        {"contentBlockStop", "{\"contentBlockIndex\":3}"},
        {"messageStop", "{\"stopReason\":\"tool_use\"}"},
    };
    static const char *const want_empty[] = {
        CHUNK("{\"role\":\"assistant\",\"content\":\"\"}"),
        CHUNK("{\"content\":\"{}\"}"),
        CHUNK_FINISH("stop"),
    };
    sllmp_xstream_t s;
    chunks_t k;

    (void)state;
    stream_init(&s, &k);
    s.json_mode = 1;
    feed_events(&s, json_stream, sizeof(json_stream) / sizeof(json_stream[0]));
    assert_int_equal(k.n, 5); /* and the usage chunk */
    for (int i = 0; i < 4; i++) {
        assert_string_equal(k.chunk[i], want[i]);
    }
    assert_non_null(strstr(k.chunk[4], "\"choices\":[]"));
    sllmp_xstream_free(&s);

    /* a call with no input at all: the empty object, as the unstreamed answer gives it */
    stream_init(&s, &k);
    s.json_mode = 1;
    feed_events(&s, empty_input, sizeof(empty_input) / sizeof(empty_input[0]));
    expect_chunks(&k, want_empty, 3);
    sllmp_xstream_free(&s);

    /* beside a call of the client's own: that stays a tool call, and the finish tool_calls */
    stream_init(&s, &k);
    s.json_mode = 1;
    feed_events(&s, tool_stream, 9); /* text, reasoning, the get_weather call */
    feed_events(&s, empty_input, sizeof(empty_input) / sizeof(empty_input[0]));
    assert_string_equal(k.chunk[k.n - 2], CHUNK("{\"content\":\"{}\"}"));
    assert_string_equal(k.chunk[k.n - 1], CHUNK_FINISH("tool_calls"));
    assert_non_null(strstr(k.chunk[4], "get_weather"));
    sllmp_xstream_free(&s);

    /* without JSON mode it is a tool call like any other */
    stream_init(&s, &k);
    feed_events(&s, json_stream, sizeof(json_stream) / sizeof(json_stream[0]));
    assert_non_null(strstr(k.chunk[1], "\"name\":\"json_tool_call\""));
    assert_string_equal(k.chunk[k.n - 2], CHUNK_FINISH("tool_calls"));
    sllmp_xstream_free(&s);
}

static void
test_converse_stream_emit_stops(void **state)
{
    sllmp_xstream_t s;
    chunks_t k;
    cJSON *p = parse("{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}");

    (void)state;
    stream_init(&s, &k);
    k.stop_after = 2;
    /* no messageStart: the text delta sends the role chunk first, then its own, which stops */
    assert_int_equal(sllmp_bedrock_stream_event(&s, "contentBlockDelta", p), 5);
    assert_int_equal(k.n, 2);
    cJSON_Delete(p);
}

static void
test_exception_status(void **state)
{
    (void)state;
    assert_int_equal(sllmp_bedrock_exception_status("throttlingException"), 429);
    assert_int_equal(sllmp_bedrock_exception_status("ThrottlingException"), 429);
    assert_int_equal(sllmp_bedrock_exception_status("validationException"), 400);
    assert_int_equal(
        sllmp_bedrock_exception_status(
            "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        400);
    assert_int_equal(sllmp_bedrock_exception_status("modelStreamErrorException"), 424);
    assert_int_equal(sllmp_bedrock_exception_status("serviceUnavailableException"), 503);
    assert_int_equal(sllmp_bedrock_exception_status("internalServerException"), 500);
    assert_int_equal(sllmp_bedrock_exception_status("AccessDeniedException"), 403);
    assert_int_equal(sllmp_bedrock_exception_status("somethingNew"), 500);
    assert_int_equal(sllmp_bedrock_exception_status(NULL), 500);
}

/* ---- embeddings ---- */

static void
test_embed_requests(void **state)
{
    sllmp_xerr_t e;
    cJSON *req, *out;

    (void)state;
    assert_int_equal(sllmp_bedrock_embed_kind("amazon.titan-embed-text-v2:0"),
                     SLLMP_BEDROCK_EMBED_TITAN);
    assert_int_equal(sllmp_bedrock_embed_kind("cohere.embed-english-v3"),
                     SLLMP_BEDROCK_EMBED_COHERE);
    assert_int_equal(sllmp_bedrock_embed_kind("us.cohere.embed-multilingual-v3"),
                     SLLMP_BEDROCK_EMBED_COHERE);

    req = parse("{\"model\":\"e\",\"input\":[\"one\",\"two\",\"three\"],\"dimensions\":256}");
    assert_int_equal(sllmp_embed_input_count(req), 3);
    out = sllmp_bedrock_embed_request(SLLMP_BEDROCK_EMBED_TITAN, req, 1, 1, &e);
    assert_json(out, "{\"inputText\":\"two\",\"dimensions\":256,\"normalize\":true}");
    cJSON_Delete(out);
    out = sllmp_bedrock_embed_request(SLLMP_BEDROCK_EMBED_COHERE, req, 1, 2, &e);
    assert_json(out, "{\"texts\":[\"two\",\"three\"],\"input_type\":\"search_document\","
                     "\"truncate\":\"NONE\"}");
    cJSON_Delete(out);
    assert_null(sllmp_bedrock_embed_request(SLLMP_BEDROCK_EMBED_COHERE, req, 2, 2, &e));
    cJSON_Delete(req);

    req = parse("{\"input\":\"solo\"}");
    assert_int_equal(sllmp_embed_input_count(req), 1);
    out = sllmp_bedrock_embed_request(SLLMP_BEDROCK_EMBED_TITAN, req, 0, 1, &e);
    assert_json(out, "{\"inputText\":\"solo\",\"normalize\":true}");
    cJSON_Delete(out);
    cJSON_Delete(req);

    /* token arrays and bad inputs */
    req = parse("{\"input\":[1,2,3]}");
    assert_int_equal(sllmp_embed_input_count(req), -1);
    memset(&e, 0, sizeof(e));
    assert_null(sllmp_bedrock_embed_request(SLLMP_BEDROCK_EMBED_TITAN, req, 0, 1, &e));
    assert_string_equal(e.param, "input");
    assert_non_null(strstr(e.message, "token arrays"));
    cJSON_Delete(req);
    req = parse("{\"input\":[[1,2],[3]]}");
    memset(&e, 0, sizeof(e));
    assert_null(sllmp_bedrock_embed_request(SLLMP_BEDROCK_EMBED_COHERE, req, 0, 1, &e));
    assert_non_null(strstr(e.message, "token arrays"));
    cJSON_Delete(req);
    static const char *const bad[] = {"{\"input\":\"\"}", "{\"input\":[]}",
                                      "{\"input\":[\"a\",\"\"]}", "{\"input\":7}", "{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req = parse(bad[i]);
        assert_int_equal(sllmp_embed_input_count(req), -1);
        cJSON_Delete(req);
    }
}

static void
test_embed_responses_and_base64(void **state)
{
    cJSON *v = parse("[1.0,-2.0]"), *data = cJSON_CreateArray(), *resp;
    char *b64 = sllmp_embedding_base64(v);
    long tokens = 0;

    (void)state;
    assert_string_equal(b64, "AACAPwAAAMA=");
    free(b64);
    cJSON_Delete(v);
    v = parse("[0.5,0.25,-1.5]");
    b64 = sllmp_embedding_base64(v);
    assert_string_equal(b64, "AAAAPwAAgD4AAMC/");
    free(b64);
    cJSON_Delete(v);
    v = parse("[]");
    b64 = sllmp_embedding_base64(v);
    assert_string_equal(b64, "");
    free(b64);
    cJSON_Delete(v);

    resp = parse("{\"embedding\":[0.5,0.25],\"inputTextTokenCount\":4}");
    assert_int_equal(
        sllmp_bedrock_embed_response(SLLMP_BEDROCK_EMBED_TITAN, resp, 0, 0, data, &tokens), 0);
    cJSON_Delete(resp);
    resp = parse("{\"embedding\":[1.0,-2.0],\"inputTextTokenCount\":3}");
    assert_int_equal(
        sllmp_bedrock_embed_response(SLLMP_BEDROCK_EMBED_TITAN, resp, 1, 1, data, &tokens), 0);
    cJSON_Delete(resp);
    assert_int_equal(tokens, 7);
    resp = parse("{\"embeddings\":[[1.0],[-2.0]],\"id\":\"x\",\"response_type\":"
                 "\"embeddings_floats\",\"texts\":[\"a\",\"b\"]}");
    assert_int_equal(
        sllmp_bedrock_embed_response(SLLMP_BEDROCK_EMBED_COHERE, resp, 2, 0, data, &tokens), 0);
    cJSON_Delete(resp);
    assert_int_equal(tokens, 7); /* Cohere reports none */
    resp = parse("{\"embeddings\":{\"float\":[[0.5]]},\"id\":\"y\"}");
    assert_int_equal(
        sllmp_bedrock_embed_response(SLLMP_BEDROCK_EMBED_COHERE, resp, 4, 1, data, &tokens), 0);
    cJSON_Delete(resp);
    assert_json(data, "[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.5,0.25]},"
                      "{\"object\":\"embedding\",\"index\":1,\"embedding\":\"AACAPwAAAMA=\"},"
                      "{\"object\":\"embedding\",\"index\":2,\"embedding\":[1.0]},"
                      "{\"object\":\"embedding\",\"index\":3,\"embedding\":[-2.0]},"
                      "{\"object\":\"embedding\",\"index\":4,\"embedding\":\"AAAAPw==\"}]");

    /* malformed answers add nothing */
    static const char *const bad[] = {"{\"embeddings\":[[1.0],[\"x\"]]}", "{\"embeddings\":[]}",
                                      "{\"message\":\"throttled\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        resp = parse(bad[i]);
        assert_int_equal(
            sllmp_bedrock_embed_response(SLLMP_BEDROCK_EMBED_COHERE, resp, 0, 0, data, &tokens),
            -1);
        assert_int_equal(
            sllmp_bedrock_embed_response(SLLMP_BEDROCK_EMBED_TITAN, resp, 0, 0, data, &tokens), -1);
        cJSON_Delete(resp);
    }
    assert_int_equal(cJSON_GetArraySize(data), 5);
    cJSON_Delete(data);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_aws_example),
        cmocka_unit_test(test_sigv4_bedrock_path_double_encoded),
        cmocka_unit_test(test_aws_uri_encode_and_date),
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_evs_whole_bytewise_and_every_split),
        cmocka_unit_test(test_evs_bad_frames),
        cmocka_unit_test(test_evs_callback_stops),
        cmocka_unit_test(test_converse_request_tool_round_trip),
        cmocka_unit_test(test_converse_request_gemini_thought_ids),
        cmocka_unit_test(test_converse_request_choices_and_minimal),
        cmocka_unit_test(test_converse_request_errors),
        cmocka_unit_test(test_converse_request_tool_arguments),
        cmocka_unit_test(test_converse_request_reasoning_effort),
        cmocka_unit_test(test_converse_request_reasoning_effort_not_anthropic),
        cmocka_unit_test(test_converse_request_strict_sampling),
        cmocka_unit_test(test_converse_request_thinking_blocks_go_back),
        cmocka_unit_test(test_converse_request_tool_continuation_without_block),
        cmocka_unit_test(test_converse_request_blank_text_left_out),
        cmocka_unit_test(test_converse_request_claude_prefill_stripped),
        cmocka_unit_test(test_converse_request_empty_tool_result),
        cmocka_unit_test(test_converse_request_cache_points_claude),
        cmocka_unit_test(test_converse_request_cache_points_by_model),
        cmocka_unit_test(test_converse_request_cache_point_after_prefill),
        cmocka_unit_test(test_strip_prefill_past_cache_points),
        cmocka_unit_test(test_invoke_anthropic_beta),
        cmocka_unit_test(test_converse_request_response_format),
        cmocka_unit_test(test_converse_request_response_format_and_thinking),
        cmocka_unit_test(test_converse_request_response_format_errors),
        cmocka_unit_test(test_converse_response),
        cmocka_unit_test(test_converse_response_json_mode),
        cmocka_unit_test(test_converse_response_reasoning),
        cmocka_unit_test(test_converse_response_finish_reasons),
        cmocka_unit_test(test_converse_stream_tools),
        cmocka_unit_test(test_converse_stream_tool_block_indices),
        cmocka_unit_test(test_converse_stream_from_frames_split_everywhere),
        cmocka_unit_test(test_converse_stream_reasoning),
        cmocka_unit_test(test_converse_stream_json_mode),
        cmocka_unit_test(test_converse_stream_emit_stops),
        cmocka_unit_test(test_exception_status),
        cmocka_unit_test(test_embed_requests),
        cmocka_unit_test(test_embed_responses_and_base64),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
