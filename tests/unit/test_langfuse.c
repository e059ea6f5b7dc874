/*
 * Spool record -> Langfuse payload (src/langfuse.c): the OTLP attributes and legacy events of a
 * record, exactly; the 1 MB cut; usage keys per provider; the checks that mark a record corrupt.
 */
#include "sllmp/langfuse.h"

#include <regex.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define TRACE  "5b8efff798038103d269b633813fc60c"
#define SPAN   "eee19b7ec3c1b174"
#define PARENT "00f067aa0ba902b7"
#define ATT1   "1111111111111111"
#define ATT2   "2222222222222222"

/* A full record as src/middleware/trace.c writes it (docs/internals/spool.md). */
static const char RECORD[] =
    "{\"v\":1,\"request_id\":\"req-1\",\"trace_id\":\"" TRACE "\",\"span_id\":\"" SPAN "\","
    "\"trace_joined\":false,\"trace_name\":\"chat\",\"name\":\"chat.completions\","
    "\"user\":\"u-123\",\"session\":\"s-9\",\"tags\":[\"proxy\",\"eu\"],"
    "\"metadata\":{\"key_name\":\"k1\",\"team\":\"research\",\"request_id\":\"req-1\"},"
    "\"environment\":\"production\",\"release\":\"r1\",\"version\":\"v7\","
    "\"endpoint\":\"/v1/chat/completions\",\"stream\":true,\"model\":\"fast\","
    "\"response_model\":\"gpt-4o-2024-08-06\",\"provider\":\"openai\",\"deployment\":\"fast\","
    "\"upstream_model\":\"gpt-4o\",\"params\":{\"temperature\":0.2,\"max_tokens\":256,"
    "\"stream\":true},\"capture\":\"full\","
    "\"input\":[{\"role\":\"user\",\"content\":\"Hi \\\"you\\\"\\n\"}],"
    "\"output\":{\"role\":\"assistant\",\"content\":\"Hello!\"},"
    "\"usage\":{\"input\":500,\"cache_read\":1500,\"cache_write\":0,\"output\":200,"
    "\"reasoning\":100,\"estimated\":false},"
    "\"cost\":{\"input\":0.00125,\"cache_read\":0.001875,\"cache_write\":0,\"output\":0.002,"
    "\"reasoning\":0.001,\"total\":0.006125},"
    "\"start_us\":1755000000000000,\"first_token_us\":1755000000350000,"
    "\"end_us\":1755000001500000,\"status\":200,\"level\":\"DEFAULT\",\"client_gone\":false,"
    "\"attempts\":[{\"span_id\":\"" ATT1 "\",\"name\":\"upstream openai\",\"provider\":\"openai\","
    "\"deployment\":\"fast\",\"model\":\"gpt-4o\",\"start_us\":1755000000001000,"
    "\"end_us\":1755000000200000,\"status\":503,\"level\":\"ERROR\",\"error\":\"overloaded\"},"
    "{\"span_id\":\"" ATT2 "\",\"name\":\"upstream openai\",\"provider\":\"openai\","
    "\"deployment\":\"fast\",\"model\":\"gpt-4o\",\"start_us\":1755000000210000,"
    "\"end_us\":1755000001490000,\"status\":200,\"level\":\"DEFAULT\"}]}";

static cJSON *
record(const char *patch_key, const char *patch_json)
{
    cJSON *r = cJSON_Parse(RECORD);

    assert_non_null(r);
    if (patch_key != NULL) {
        cJSON *v = cJSON_Parse(patch_json);

        assert_non_null(v);
        if (cJSON_GetObjectItemCaseSensitive(r, patch_key) != NULL) {
            cJSON_ReplaceItemInObjectCaseSensitive(r, patch_key, v);
        } else {
            cJSON_AddItemToObject(r, patch_key, v);
        }
    }
    return r;
}

/* The whole export of one record, parsed. */
static cJSON *
otel_export(cJSON *rec, int *nspans)
{
    sllmp_buf_t b;
    cJSON *doc;
    int n;

    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_langfuse_otel_open(&b), 0);
    n = sllmp_langfuse_otel_spans(rec, SLLMP_LF_MAX_RECORD_BYTES, &b);
    assert_int_equal(sllmp_langfuse_otel_close(&b), 0);
    doc = cJSON_Parse(sllmp_buf_cstr(&b));
    if (doc == NULL) {
        fail_msg("not JSON: %s", sllmp_buf_cstr(&b));
    }
    sllmp_buf_free(&b);
    if (nspans != NULL) {
        *nspans = n;
    }
    return doc;
}

static cJSON *
spans_of(cJSON *doc)
{
    cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "resourceSpans"), 0);
    cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0);

    return cJSON_GetObjectItem(ss, "spans");
}

static cJSON *
span_by_id(cJSON *doc, const char *id)
{
    cJSON *s;

    cJSON_ArrayForEach(s, spans_of(doc))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(s, "spanId")), id) == 0) {
            return s;
        }
    }
    fail_msg("no span %s", id);
    return NULL;
}

/* The value object of attribute key, or NULL. Fails on a duplicate key. */
static cJSON *
attr(const cJSON *span, const char *key)
{
    cJSON *a, *found = NULL;

    cJSON_ArrayForEach(a, cJSON_GetObjectItem(span, "attributes"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(a, "key")), key) == 0) {
            if (found != NULL) {
                fail_msg("attribute %s twice", key);
            }
            found = cJSON_GetObjectItem(a, "value");
        }
    }
    return found;
}

static const char *
attr_s(const cJSON *span, const char *key)
{
    cJSON *v = attr(span, key);

    if (v == NULL) {
        return NULL;
    }
    assert_non_null(cJSON_GetObjectItem(v, "stringValue"));
    return cJSON_GetStringValue(cJSON_GetObjectItem(v, "stringValue"));
}

/* Compares a JSON string attribute with the expected JSON, as JSON (key order included). */
static void
assert_attr_json(const cJSON *span, const char *key, const char *want)
{
    const char *got = attr_s(span, key);

    if (got == NULL) {
        fail_msg("attribute %s missing", key);
    }
    if (strcmp(got, want) != 0) {
        fail_msg("%s: got %s, want %s", key, got, want);
    }
}

static void
test_otel_generation_attributes(void **state)
{
    cJSON *rec = record(NULL, NULL);
    int n;
    cJSON *doc = otel_export(rec, &n);
    cJSON *g = span_by_id(doc, SPAN);

    (void)state;
    assert_int_equal(n, 3);
    assert_int_equal(cJSON_GetArraySize(spans_of(doc)), 3);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(g, "traceId")), TRACE);
    assert_null(cJSON_GetObjectItem(g, "parentSpanId"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(g, "name")), "chat.completions");
    assert_int_equal(cJSON_GetObjectItem(g, "kind")->valueint, 3);
    /* decimal strings of nanoseconds */
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(g, "startTimeUnixNano")),
                        "1755000000000000000");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(g, "endTimeUnixNano")),
                        "1755000001500000000");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(g, "status"), "code")->valueint, 1);

    assert_string_equal(attr_s(g, "langfuse.observation.type"), "generation");
    assert_string_equal(attr_s(g, "langfuse.observation.level"), "DEFAULT");
    assert_string_equal(attr_s(g, "langfuse.observation.model.name"), "gpt-4o");
    assert_attr_json(g, "langfuse.observation.model.parameters",
                     "{\"temperature\":0.2,\"max_tokens\":256,\"stream\":true}");
    assert_attr_json(g, "langfuse.observation.input",
                     "[{\"role\":\"user\",\"content\":\"Hi \\\"you\\\"\\n\"}]");
    assert_attr_json(g, "langfuse.observation.output",
                     "{\"role\":\"assistant\",\"content\":\"Hello!\"}");
    /* OpenAI-family keys, disjoint buckets, each token once */
    assert_attr_json(g, "langfuse.observation.usage_details",
                     "{\"input\":500,\"input_cached_tokens\":1500,\"output\":200,"
                     "\"output_reasoning_tokens\":100}");
    assert_attr_json(g, "langfuse.observation.cost_details",
                     "{\"input\":0.00125,\"input_cached_tokens\":0.001875,\"output\":0.002,"
                     "\"output_reasoning_tokens\":0.001,\"total\":0.006125}");
    assert_string_equal(attr_s(g, "langfuse.observation.completion_start_time"),
                        "2025-08-12T12:00:00.350000Z");
    assert_string_equal(attr_s(g, "langfuse.version"), "v7");
    assert_null(attr(g, "langfuse.observation.status_message"));
    /* the trace's input and output: the trace is ours */
    assert_attr_json(g, "langfuse.trace.input",
                     "[{\"role\":\"user\",\"content\":\"Hi \\\"you\\\"\\n\"}]");
    assert_attr_json(g, "langfuse.trace.output", "{\"role\":\"assistant\",\"content\":\"Hello!\"}");
    assert_attr_json(g, "langfuse.observation.metadata",
                     "{\"request_id\":\"req-1\",\"endpoint\":\"/v1/chat/completions\","
                     "\"status\":200,\"stream\":true,\"provider\":\"openai\",\"deployment\":"
                     "\"fast\",\"requested_model\":\"fast\",\"response_model\":"
                     "\"gpt-4o-2024-08-06\",\"capture\":\"full\"}");
    cJSON_Delete(doc);
    cJSON_Delete(rec);
}

static void
assert_trace_attrs(const cJSON *s, int joined)
{
    cJSON *tags = attr(s, "langfuse.trace.tags");
    cJSON *vals;

    if (joined) {
        assert_null(attr(s, "langfuse.trace.name"));
    } else {
        assert_string_equal(attr_s(s, "langfuse.trace.name"), "chat");
    }
    assert_string_equal(attr_s(s, "user.id"), "u-123");
    assert_string_equal(attr_s(s, "session.id"), "s-9");
    assert_string_equal(attr_s(s, "langfuse.environment"), "production");
    assert_string_equal(attr_s(s, "langfuse.release"), "r1");
    assert_attr_json(s, "langfuse.trace.metadata",
                     "{\"key_name\":\"k1\",\"team\":\"research\",\"request_id\":\"req-1\"}");
    assert_non_null(tags);
    vals = cJSON_GetObjectItem(cJSON_GetObjectItem(tags, "arrayValue"), "values");
    assert_int_equal(cJSON_GetArraySize(vals), 2);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(vals, 0), "stringValue")),
        "proxy");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(vals, 1), "stringValue")),
        "eu");
}

static void
test_otel_trace_attrs_on_every_span_and_attempts_children(void **state)
{
    cJSON *rec = record(NULL, NULL);
    cJSON *doc = otel_export(rec, NULL);
    cJSON *s, *a1 = span_by_id(doc, ATT1), *a2 = span_by_id(doc, ATT2);

    (void)state;
    cJSON_ArrayForEach(s, spans_of(doc))
    {
        assert_trace_attrs(s, 0);
    }
    /* the attempts: children of the generation, of type span, in order */
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a1, "parentSpanId")), SPAN);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a2, "parentSpanId")), SPAN);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a1, "traceId")), TRACE);
    assert_string_equal(attr_s(a1, "langfuse.observation.type"), "span");
    assert_string_equal(attr_s(a1, "langfuse.observation.level"), "ERROR");
    assert_string_equal(attr_s(a1, "langfuse.observation.status_message"), "overloaded");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(a1, "status"), "code")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(a2, "status"), "code")->valueint, 1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a1, "startTimeUnixNano")),
                        "1755000000001000000");
    assert_attr_json(a1, "langfuse.observation.metadata",
                     "{\"provider\":\"openai\",\"deployment\":\"fast\",\"model\":\"gpt-4o\","
                     "\"status\":503}");
    /* the trace's input and output only on the generation */
    assert_null(attr(a1, "langfuse.trace.input"));
    assert_null(attr(a1, "langfuse.observation.input"));
    /* resource and scope */
    {
        cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "resourceSpans"), 0);
        cJSON *res = cJSON_GetObjectItem(rs, "resource");
        cJSON *scope = cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0), "scope");

        assert_string_equal(attr_s(res, "service.name"), "sllmp");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(scope, "name")), "sllmp");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(scope, "version")),
                            SLLMP_VERSION);
    }
    cJSON_Delete(doc);
    cJSON_Delete(rec);
}

static void
test_otel_joined_trace_has_no_name_input_output(void **state)
{
    cJSON *rec = record("trace_joined", "true");
    cJSON *doc;
    cJSON *s;

    (void)state;
    cJSON_AddStringToObject(rec, "parent_span_id", PARENT);
    doc = otel_export(rec, NULL);
    cJSON_ArrayForEach(s, spans_of(doc))
    {
        assert_trace_attrs(s, 1);
        assert_null(attr(s, "langfuse.trace.input"));
        assert_null(attr(s, "langfuse.trace.output"));
    }
    s = span_by_id(doc, SPAN);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(s, "parentSpanId")), PARENT);
    /* the generation keeps its own input and output */
    assert_non_null(attr(s, "langfuse.observation.input"));
    cJSON_Delete(doc);
    cJSON_Delete(rec);
}

static void
test_otel_error_status(void **state)
{
    cJSON *rec = record("level", "\"ERROR\"");
    cJSON *doc, *g, *st;

    (void)state;
    cJSON_AddStringToObject(rec, "status_message", "upstream failed: 502");
    doc = otel_export(rec, NULL);
    g = span_by_id(doc, SPAN);
    st = cJSON_GetObjectItem(g, "status");
    assert_int_equal(cJSON_GetObjectItem(st, "code")->valueint, 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "message")),
                        "upstream failed: 502");
    assert_string_equal(attr_s(g, "langfuse.observation.level"), "ERROR");
    assert_string_equal(attr_s(g, "langfuse.observation.status_message"), "upstream failed: 502");
    cJSON_Delete(doc);
    cJSON_Delete(rec);

    /* WARNING is no OTLP error: level attribute only */
    rec = record("level", "\"WARNING\"");
    doc = otel_export(rec, NULL);
    g = span_by_id(doc, SPAN);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(g, "status"), "code")->valueint, 1);
    assert_string_equal(attr_s(g, "langfuse.observation.level"), "WARNING");
    cJSON_Delete(doc);
    cJSON_Delete(rec);
}

static void
test_otel_metadata_capture_has_no_io_and_no_cost(void **state)
{
    cJSON *rec = record(NULL, NULL);
    cJSON *doc, *g;

    (void)state;
    cJSON_DeleteItemFromObject(rec, "input");
    cJSON_DeleteItemFromObject(rec, "output");
    cJSON_DeleteItemFromObject(rec, "cost");
    doc = otel_export(rec, NULL);
    g = span_by_id(doc, SPAN);
    assert_null(attr(g, "langfuse.observation.input"));
    assert_null(attr(g, "langfuse.observation.output"));
    assert_null(attr(g, "langfuse.trace.input"));
    assert_null(attr(g, "langfuse.observation.cost_details"));
    assert_non_null(attr(g, "langfuse.observation.usage_details"));
    cJSON_Delete(doc);
    cJSON_Delete(rec);
}

static void
test_anthropic_keys(void **state)
{
    cJSON *rec = record("provider", "\"anthropic\"");
    cJSON *doc, *g;

    (void)state;
    cJSON_ReplaceItemInObject(rec, "usage",
                              cJSON_Parse("{\"input\":100,\"cache_read\":2000,\"cache_write\":500,"
                                          "\"output\":200,\"reasoning\":0,\"estimated\":false}"));
    cJSON_ReplaceItemInObject(rec, "cost",
                              cJSON_Parse("{\"input\":0.0003,\"cache_read\":0.0006,"
                                          "\"cache_write\":0.001875,\"output\":0.003,"
                                          "\"reasoning\":0,\"total\":0.005775}"));
    assert_true(sllmp_langfuse_anthropic(rec));
    doc = otel_export(rec, NULL);
    g = span_by_id(doc, SPAN);
    assert_attr_json(g, "langfuse.observation.usage_details",
                     "{\"input\":100,\"input_cache_read\":2000,\"input_cache_creation\":500,"
                     "\"output\":200}");
    assert_attr_json(g, "langfuse.observation.cost_details",
                     "{\"input\":0.0003,\"input_cache_read\":0.0006,\"input_cache_creation\":"
                     "0.001875,\"output\":0.003,\"total\":0.005775}");
    cJSON_Delete(doc);
    cJSON_Delete(rec);

    /* a Claude model behind another provider gets the same keys; gpt does not */
    rec = record("upstream_model", "\"us.anthropic.claude-sonnet-4-5\"");
    assert_true(sllmp_langfuse_anthropic(rec));
    cJSON_Delete(rec);
    rec = record(NULL, NULL);
    assert_false(sllmp_langfuse_anthropic(rec));
    cJSON_Delete(rec);
}

/* ---------------------------------------------------------------- legacy */

static cJSON *
legacy_batch(cJSON *rec, int *nevents)
{
    sllmp_buf_t b;
    cJSON *doc;
    int n;

    sllmp_buf_init(&b, 0);
    sllmp_langfuse_legacy_open(&b);
    n = sllmp_langfuse_legacy_events(rec, SLLMP_LF_MAX_RECORD_BYTES, &b);
    assert_true(n > 0);
    sllmp_langfuse_legacy_close(&b, (size_t)n);
    doc = cJSON_Parse(sllmp_buf_cstr(&b));
    if (doc == NULL) {
        fail_msg("not JSON: %s", sllmp_buf_cstr(&b));
    }
    sllmp_buf_free(&b);
    *nevents = n;
    return doc;
}

static void
assert_iso(const char *s, int digits)
{
    regex_t re;
    char pat[128];

    snprintf(pat, sizeof(pat),
             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{%d}Z$", digits);
    assert_int_equal(regcomp(&re, pat, REG_EXTENDED | REG_NOSUB), 0);
    if (s == NULL || regexec(&re, s, 0, NULL, 0) != 0) {
        regfree(&re);
        fail_msg("not ISO-8601 with %d digits and an offset: %s", digits, s ? s : "(null)");
    }
    regfree(&re);
}

static void
test_legacy_events(void **state)
{
    cJSON *rec = record(NULL, NULL);
    int n;
    cJSON *doc = legacy_batch(rec, &n);
    cJSON *batch = cJSON_GetObjectItem(doc, "batch");
    cJSON *meta = cJSON_GetObjectItem(doc, "metadata");
    cJSON *ev, *body;
    static const char *const ids[] = {SPAN "-trace-create", SPAN "-generation-create",
                                      ATT1 "-span-create", ATT2 "-span-create"};
    static const char *const types[] = {"trace-create", "generation-create", "span-create",
                                        "span-create"};
    int i = 0;

    (void)state;
    assert_int_equal(n, 4);
    assert_int_equal(cJSON_GetArraySize(batch), 4);
    assert_int_equal(cJSON_GetObjectItem(meta, "batch_size")->valueint, 4);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(meta, "sdk_name")), "sllmp");
    cJSON_ArrayForEach(ev, batch)
    {
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "id")), ids[i]);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type")), types[i]);
        /* the envelope: milliseconds and an offset, at the record's end */
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "timestamp")),
                            "2025-08-12T12:00:01.500Z");
        i++;
    }
    body = cJSON_GetObjectItem(cJSON_GetArrayItem(batch, 0), "body");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "id")), TRACE);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "name")), "chat");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "userId")), "u-123");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "sessionId")), "s-9");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "environment")),
                        "production");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(body, "tags")), 2);
    assert_non_null(cJSON_GetObjectItem(body, "input"));
    assert_non_null(cJSON_GetObjectItem(body, "output"));
    assert_iso(cJSON_GetStringValue(cJSON_GetObjectItem(body, "timestamp")), 6);

    body = cJSON_GetObjectItem(cJSON_GetArrayItem(batch, 1), "body");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "id")), SPAN);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "traceId")), TRACE);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "startTime")),
                        "2025-08-12T12:00:00.000000Z");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "endTime")),
                        "2025-08-12T12:00:01.500000Z");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "completionStartTime")),
                        "2025-08-12T12:00:00.350000Z");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "model")), "gpt-4o");
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(body, "usageDetails"), "input_cached_tokens")
            ->valueint,
        1500);
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(body, "modelParameters")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(body, "costDetails")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "level")), "DEFAULT");

    body = cJSON_GetObjectItem(cJSON_GetArrayItem(batch, 2), "body");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "id")), ATT1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "parentObservationId")),
                        SPAN);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "level")), "ERROR");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "statusMessage")),
                        "overloaded");
    cJSON_Delete(doc);
    cJSON_Delete(rec);
}

static void
test_legacy_joined_trace(void **state)
{
    cJSON *rec = record("trace_joined", "true");
    int n;
    cJSON *doc = legacy_batch(rec, &n);
    cJSON *body =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "batch"), 0), "body");

    (void)state;
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "id")), TRACE);
    assert_null(cJSON_GetObjectItem(body, "name"));
    assert_null(cJSON_GetObjectItem(body, "input"));
    assert_null(cJSON_GetObjectItem(body, "output"));
    assert_null(cJSON_GetObjectItem(body, "timestamp"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(body, "userId")), "u-123");
    cJSON_Delete(doc);
    cJSON_Delete(rec);
}

static void
test_same_record_same_bytes(void **state)
{
    cJSON *a = record(NULL, NULL), *b = record(NULL, NULL);
    sllmp_buf_t x, y;

    (void)state;
    sllmp_buf_init(&x, 0);
    sllmp_buf_init(&y, 0);
    sllmp_langfuse_otel_spans(a, SLLMP_LF_MAX_RECORD_BYTES, &x);
    sllmp_langfuse_otel_spans(b, SLLMP_LF_MAX_RECORD_BYTES, &y);
    assert_string_equal(sllmp_buf_cstr(&x), sllmp_buf_cstr(&y));
    sllmp_buf_reset(&x);
    sllmp_buf_reset(&y);
    sllmp_langfuse_legacy_events(a, SLLMP_LF_MAX_RECORD_BYTES, &x);
    sllmp_langfuse_legacy_events(b, SLLMP_LF_MAX_RECORD_BYTES, &y);
    assert_string_equal(sllmp_buf_cstr(&x), sllmp_buf_cstr(&y));
    sllmp_buf_free(&x);
    sllmp_buf_free(&y);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* ---------------------------------------------------------------- the cut */

static cJSON *
big_record(size_t n)
{
    char *text = malloc(n + 1);
    cJSON *rec = record(NULL, NULL);
    cJSON *in = cJSON_CreateArray(), *msg = cJSON_CreateObject();

    memset(text, 'x', n);
    memcpy(text, "\xc3\xa9\xc3\xa9", 4); /* some UTF-8 at the start */
    text[n] = '\0';
    cJSON_AddStringToObject(msg, "role", "user");
    cJSON_AddStringToObject(msg, "content", text);
    cJSON_AddItemToArray(in, msg);
    cJSON_ReplaceItemInObject(rec, "input", in);
    free(text);
    return rec;
}

/* N of the marker at the end of s; -1 when there is none. */
static long
marker_n(const char *s)
{
    const char *m = strstr(s, "[truncated by sllmp: ");
    long n;

    if (m == NULL || sscanf(m, "[truncated by sllmp: %ld bytes]", &n) != 1) {
        return -1;
    }
    assert_string_equal(strstr(m, " bytes]"), " bytes]");
    return n;
}

static void
test_cut_record_over_1mb(void **state)
{
    size_t big = 2 * 1000 * 1000;
    cJSON *rec = big_record(big);
    sllmp_buf_t b;
    cJSON *doc, *g;
    const char *in;
    long n;
    char *orig = cJSON_PrintUnformatted(cJSON_GetObjectItem(rec, "input"));
    size_t orig_len = strlen(orig);

    (void)state;
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_langfuse_otel_spans(rec, SLLMP_LF_MAX_RECORD_BYTES, &b), 3);
    assert_true(b.len <= SLLMP_LF_MAX_RECORD_BYTES);
    assert_true(b.len > SLLMP_LF_MAX_RECORD_BYTES / 4); /* cut to fit, not to nothing */
    sllmp_buf_free(&b);
    /* the record now holds a string: the start of the JSON text and the marker */
    in = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "input"));
    assert_non_null(in);
    n = marker_n(in);
    assert_true(n > 0);
    /* what was kept plus what was cut is the original */
    assert_int_equal((size_t)(strstr(in, "[truncated by sllmp: ") - in) + (size_t)n, orig_len);
    assert_memory_equal(in, orig, 20);
    /* the small output is untouched */
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(rec, "output")));
    doc = otel_export(rec, NULL);
    g = span_by_id(doc, SPAN);
    assert_string_equal(attr_s(g, "langfuse.observation.input"), in); /* a string as is */
    cJSON_Delete(doc);
    free(orig);
    cJSON_Delete(rec);

    /* legacy: the events fit too */
    rec = big_record(big);
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_langfuse_legacy_events(rec, SLLMP_LF_MAX_RECORD_BYTES, &b), 4);
    assert_true(b.len <= SLLMP_LF_MAX_RECORD_BYTES);
    assert_true(marker_n(cJSON_GetStringValue(cJSON_GetObjectItem(rec, "input"))) > 0);
    sllmp_buf_free(&b);
    cJSON_Delete(rec);
}

static void
test_cut_counts_and_utf8(void **state)
{
    cJSON *rec = record("input", "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"");
    const char *s;

    (void)state;
    /* here input and output alone (metadata and params have their own test) */
    cJSON_DeleteItemFromObject(rec, "metadata");
    cJSON_DeleteItemFromObject(rec, "params");
    /* 10 bytes of UTF-8; keep 5 must not split the third character; the output is cut too */
    assert_int_equal(sllmp_langfuse_cut(rec, 5), 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(rec, "output")),
                        "{\"rol[truncated by sllmp: 34 bytes]");
    cJSON_DeleteItemFromObject(rec, "output");
    s = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "input"));
    assert_string_equal(s, "\xc3\xa9\xc3\xa9[truncated by sllmp: 6 bytes]");
    /* a cut of a cut counts everything cut */
    assert_int_equal(sllmp_langfuse_cut(rec, 2), 1);
    s = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "input"));
    assert_string_equal(s, "\xc3\xa9[truncated by sllmp: 8 bytes]");
    /* nothing to cut: untouched */
    assert_int_equal(sllmp_langfuse_cut(rec, 100000), 0);
    cJSON_Delete(rec);
}

static void
test_cut_metadata_and_params_members(void **state)
{
    cJSON *rec = record("metadata", "{\"blob\":\"0123456789abcdef\",\"n\":[1,2,3,4,5,6,7,8],"
                                    "\"key_name\":\"k1\"}");
    cJSON *md, *params;

    (void)state;
    cJSON_ReplaceItemInObject(rec, "params",
                              cJSON_Parse("{\"temperature\":0.2,\"stop\":\"STOPSTOPSTOP\"}"));
    cJSON_DeleteItemFromObject(rec, "input");
    cJSON_DeleteItemFromObject(rec, "output");
    /* each member longer than keep, whatever its type, becomes a cut string under its name */
    assert_int_equal(sllmp_langfuse_cut(rec, 8), 3);
    md = cJSON_GetObjectItem(rec, "metadata");
    params = cJSON_GetObjectItem(rec, "params");
    assert_true(cJSON_IsObject(md));
    assert_true(cJSON_IsObject(params));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(md, "blob")),
                        "01234567[truncated by sllmp: 8 bytes]");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(md, "n")),
                        "[1,2,3,4[truncated by sllmp: 9 bytes]");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(md, "key_name")), "k1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(params, "stop")),
                        "STOPSTOP[truncated by sllmp: 4 bytes]");
    assert_true(cJSON_GetObjectItem(params, "temperature")->valuedouble == 0.2);
    /* the order of the members is kept; a member that is the last one is cut as well */
    assert_string_equal(md->child->string, "blob");
    assert_string_equal(md->child->next->next->string, "key_name");
    assert_ptr_equal(md->child->prev, md->child->next->next);
    cJSON_Delete(rec);
}

/* A long JSON string of n bytes of c. */
static cJSON *
long_string(size_t n, char c)
{
    char *text = malloc(n + 1);
    cJSON *s;

    memset(text, c, n);
    text[n] = '\0';
    s = cJSON_CreateString(text);
    free(text);
    return s;
}

static void
test_big_metadata_is_cut_not_the_input(void **state)
{
    /* 1.2 MB of client metadata goes on every span (3 here): that is what is cut, while an
     * input of 100 KB, no problem of its own, arrives whole */
    cJSON *rec = big_record(100 * 1000);
    cJSON *md = cJSON_GetObjectItem(rec, "metadata");
    cJSON *doc, *g, *a;
    char *in = cJSON_PrintUnformatted(cJSON_GetObjectItem(rec, "input"));
    sllmp_buf_t b;
    const char *blob;

    (void)state;
    cJSON_AddItemToObject(md, "blob", long_string(1200 * 1000, 'm'));
    cJSON_AddItemToObject(cJSON_GetObjectItem(rec, "params"), "logit_bias",
                          long_string(300 * 1000, 'p'));
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_langfuse_otel_spans(rec, SLLMP_LF_MAX_RECORD_BYTES, &b), 3);
    assert_true(b.len <= SLLMP_LF_MAX_RECORD_BYTES);
    sllmp_buf_free(&b);
    blob = cJSON_GetStringValue(cJSON_GetObjectItem(md, "blob"));
    assert_true(marker_n(blob) > 0);
    assert_true(marker_n(cJSON_GetStringValue(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "params"), "logit_bias"))) > 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(md, "key_name")), "k1");
    doc = otel_export(rec, NULL);
    g = span_by_id(doc, SPAN);
    assert_string_equal(attr_s(g, "langfuse.observation.input"), in);
    a = cJSON_Parse(attr_s(span_by_id(doc, ATT2), "langfuse.trace.metadata"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a, "blob")), blob);
    cJSON_Delete(a);
    cJSON_Delete(doc);
    free(in);
    cJSON_Delete(rec);
}

static void
test_what_the_cut_cannot_shrink_is_left_over_the_limit(void **state)
{
    /* tags are never cut: the spans are appended as they are and the caller sees the size */
    cJSON *rec = record(NULL, NULL);
    cJSON *tags = cJSON_CreateArray();
    sllmp_buf_t b;

    (void)state;
    cJSON_AddItemToArray(tags, long_string(600 * 1000, 't'));
    cJSON_ReplaceItemInObject(rec, "tags", tags);
    sllmp_buf_init(&b, 0);
    assert_int_equal(sllmp_langfuse_otel_spans(rec, SLLMP_LF_MAX_RECORD_BYTES, &b), 3);
    assert_true(b.len > 3 * 600 * 1000);
    sllmp_buf_reset(&b);
    assert_int_equal(sllmp_langfuse_legacy_events(rec, SLLMP_LF_MAX_RECORD_BYTES, &b), 4);
    assert_true(b.len > 600 * 1000 && b.len < SLLMP_LF_MAX_RECORD_BYTES); /* once, in the trace */
    sllmp_buf_free(&b);
    cJSON_Delete(rec);
}

static void
test_small_record_not_cut(void **state)
{
    cJSON *rec = record(NULL, NULL);
    sllmp_buf_t b;

    (void)state;
    sllmp_buf_init(&b, 0);
    sllmp_langfuse_otel_spans(rec, SLLMP_LF_MAX_RECORD_BYTES, &b);
    assert_null(strstr(sllmp_buf_cstr(&b), "truncated by sllmp"));
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(rec, "input")));
    sllmp_buf_free(&b);
    cJSON_Delete(rec);
}

/* ---------------------------------------------------------------- Langfuse's length limits */

static void
test_trace_name_cut_to_1000_bytes(void **state)
{
    /* 600 x 'é' (1200 bytes): cut between characters, the same in both APIs; the record keeps
     * the whole name */
    char name[1300];
    cJSON *rec = record(NULL, NULL);
    cJSON *doc, *events, *e;
    sllmp_buf_t b;
    const char *got;

    (void)state;
    for (int i = 0; i < 600; i++) {
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    }
    name[1200] = '\0';
    cJSON_ReplaceItemInObject(rec, "trace_name", cJSON_CreateString(name));
    doc = otel_export(rec, NULL);
    got = attr_s(span_by_id(doc, SPAN), "langfuse.trace.name");
    assert_int_equal(strlen(got), 1000);
    assert_memory_equal(got, name, 1000);
    assert_string_equal(attr_s(span_by_id(doc, ATT1), "langfuse.trace.name"), got);
    cJSON_Delete(doc);
    sllmp_buf_init(&b, 0);
    sllmp_buf_appends(&b, "[");
    sllmp_langfuse_legacy_events(rec, SLLMP_LF_MAX_RECORD_BYTES, &b);
    sllmp_buf_appends(&b, "]");
    events = cJSON_Parse(sllmp_buf_cstr(&b));
    e = cJSON_GetObjectItem(cJSON_GetArrayItem(events, 0), "body");
    assert_int_equal(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(e, "name"))), 1000);
    cJSON_Delete(events);
    sllmp_buf_free(&b);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(rec, "trace_name")), name);
    cJSON_Delete(rec);

    /* 1000 bytes exactly: whole */
    memset(name, 'n', 1000);
    name[1000] = '\0';
    rec = record(NULL, NULL);
    cJSON_ReplaceItemInObject(rec, "trace_name", cJSON_CreateString(name));
    doc = otel_export(rec, NULL);
    assert_string_equal(attr_s(span_by_id(doc, SPAN), "langfuse.trace.name"), name);
    cJSON_Delete(doc);
    cJSON_Delete(rec);
}

/* ---------------------------------------------------------------- bytes that are not UTF-8 */

static void
test_ill_formed_utf8_becomes_replacement(void **state)
{
    /* a message cut mid-character, a client's Latin-1 byte in the metadata, the input and the
     * params: the payload is UTF-8 all the same (one byte must not cost the whole export) */
    cJSON *rec = record("status_message", "\"The model 'aaa\xc3' does not exist\"");
    sllmp_buf_t b;
    cJSON *doc;

    (void)state;
    cJSON_ReplaceItemInObject(rec, "level", cJSON_CreateString("ERROR"));
    cJSON_AddItemToObject(cJSON_GetObjectItem(rec, "metadata"), "note",
                          cJSON_CreateString("caf\xe9 \xed\xa0\x80"));
    cJSON_AddItemToObject(cJSON_GetObjectItem(rec, "params"), "stop", cJSON_CreateString("\xff"));
    cJSON_ReplaceItemInObject(rec, "input",
                              cJSON_Parse("[{\"role\":\"user\",\"content\":"
                                          "\"\xe2\x82 \xc3\xa9\"}]"));
    cJSON_ReplaceItemInObject(rec, "tags", cJSON_Parse("[\"t\xc3\"]"));

    sllmp_buf_init(&b, 0);
    sllmp_langfuse_otel_spans(rec, SLLMP_LF_MAX_RECORD_BYTES, &b);
    assert_int_equal(sllmp_utf8_valid(b.ptr, b.len), b.len);
    assert_non_null(strstr(b.ptr, "The model 'aaa\\ufffd' does not exist"));
    assert_non_null(strstr(b.ptr, "caf\\ufffd \\ufffd\\ufffd\\ufffd"));
    assert_non_null(strstr(b.ptr, "\\ufffd \xc3\xa9")); /* the well-formed one stays */
    sllmp_buf_free(&b);
    doc = otel_export(rec, NULL);
    assert_string_equal(attr_s(span_by_id(doc, SPAN), "langfuse.observation.status_message"),
                        "The model 'aaa\xef\xbf\xbd' does not exist");
    cJSON_Delete(doc);

    /* legacy: metadata, params and input are written as JSON text, not escaped strings */
    sllmp_buf_init(&b, 0);
    sllmp_langfuse_legacy_events(rec, SLLMP_LF_MAX_RECORD_BYTES, &b);
    assert_int_equal(sllmp_utf8_valid(b.ptr, b.len), b.len);
    assert_non_null(strstr(b.ptr, "\"note\":\"caf\\ufffd \\ufffd\\ufffd\\ufffd\""));
    assert_non_null(strstr(b.ptr, "\"stop\":\"\\ufffd\""));
    assert_non_null(strstr(b.ptr, "\"tags\":[\"t\\ufffd\"]"));
    sllmp_buf_free(&b);
    cJSON_Delete(rec);
}

/* ---------------------------------------------------------------- checks, auth, times */

static void
test_check_marks_corrupt(void **state)
{
    static const char *const bad[][2] = {
        {"v", "2"},
        {"v", "\"1\""},
        {"trace_id", "\"5B8EFFF798038103D269B633813FC60C\""},
        {"trace_id", "\"00000000000000000000000000000000\""},
        {"trace_id", "\"5b8e\""},
        {"span_id", "\"eee19b7ec3c1b17\""},
        {"parent_span_id", "\"xyz\""},
        {"start_us", "\"soon\""},
        {"attempts", "{}"},
        {"attempts", "[{\"span_id\":\"nope\"}]"},
    };
    cJSON *rec = record(NULL, NULL);

    (void)state;
    assert_null(sllmp_langfuse_check(rec));
    cJSON_Delete(rec);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rec = record(bad[i][0], bad[i][1]);
        if (sllmp_langfuse_check(rec) == NULL) {
            fail_msg("%s = %s passed the check", bad[i][0], bad[i][1]);
        }
        cJSON_Delete(rec);
    }
    rec = cJSON_Parse("[1,2]");
    assert_non_null(sllmp_langfuse_check(rec));
    cJSON_Delete(rec);
}

static void
test_auth_header(void **state)
{
    char *h = sllmp_langfuse_auth_header("pk-lf-1234", "sk-lf-5678");

    (void)state;
    /* base64("pk-lf-1234:sk-lf-5678") */
    assert_string_equal(h, "Authorization: Basic cGstbGYtMTIzNDpzay1sZi01Njc4");
    free(h);
    h = sllmp_langfuse_auth_header("a", "b"); /* padding */
    assert_string_equal(h, "Authorization: Basic YTpi");
    free(h);
}

static void *
iso_first(void *out)
{
    sllmp_langfuse_iso(-1, 6, out); /* a thread's first call, in the second before the epoch */
    return NULL;
}

static void
test_iso(void **state)
{
    char s[32];

    (void)state;
    sllmp_langfuse_iso(1755000000350123LL, 3, s);
    assert_string_equal(s, "2025-08-12T12:00:00.350Z");
    sllmp_langfuse_iso(1755000000350123LL, 6, s);
    assert_string_equal(s, "2025-08-12T12:00:00.350123Z");
    sllmp_langfuse_iso(0, 3, s);
    assert_string_equal(s, "1970-01-01T00:00:00.000Z");
    /* the same second again (the cached date), the next one, and back */
    sllmp_langfuse_iso(1755000000000001LL, 6, s);
    assert_string_equal(s, "2025-08-12T12:00:00.000001Z");
    sllmp_langfuse_iso(1755000000999999LL, 3, s);
    assert_string_equal(s, "2025-08-12T12:00:00.999Z");
    sllmp_langfuse_iso(1755000001000000LL, 3, s);
    assert_string_equal(s, "2025-08-12T12:00:01.000Z");
    sllmp_langfuse_iso(1755000000007000LL, 3, s);
    assert_string_equal(s, "2025-08-12T12:00:00.007Z");
    sllmp_langfuse_iso(-1, 6, s); /* a microsecond before the epoch */
    assert_string_equal(s, "1969-12-31T23:59:59.999999Z");
    pthread_t t;
    char fresh[32] = "";
    assert_int_equal(pthread_create(&t, NULL, iso_first, fresh), 0);
    pthread_join(t, NULL);
    assert_string_equal(fresh, "1969-12-31T23:59:59.999999Z");
}

static void
test_end_before_start_clamped(void **state)
{
    cJSON *rec = record("end_us", "1754999999000000");
    cJSON *doc = otel_export(rec, NULL);
    cJSON *g = span_by_id(doc, SPAN);

    (void)state;
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(g, "endTimeUnixNano")),
                        cJSON_GetStringValue(cJSON_GetObjectItem(g, "startTimeUnixNano")));
    cJSON_Delete(doc);
    cJSON_Delete(rec);
}

static void
test_buffer_maximum(void **state)
{
    cJSON *rec = record(NULL, NULL);
    sllmp_buf_t b;

    (void)state;
    sllmp_buf_init(&b, 100);
    sllmp_buf_appends(&b, "keep");
    assert_int_equal(sllmp_langfuse_otel_spans(rec, SLLMP_LF_MAX_RECORD_BYTES, &b), -1);
    assert_string_equal(sllmp_buf_cstr(&b), "keep"); /* back to its length on entry */
    sllmp_buf_free(&b);
    cJSON_Delete(rec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otel_generation_attributes),
        cmocka_unit_test(test_otel_trace_attrs_on_every_span_and_attempts_children),
        cmocka_unit_test(test_otel_joined_trace_has_no_name_input_output),
        cmocka_unit_test(test_otel_error_status),
        cmocka_unit_test(test_otel_metadata_capture_has_no_io_and_no_cost),
        cmocka_unit_test(test_anthropic_keys),
        cmocka_unit_test(test_legacy_events),
        cmocka_unit_test(test_legacy_joined_trace),
        cmocka_unit_test(test_same_record_same_bytes),
        cmocka_unit_test(test_cut_record_over_1mb),
        cmocka_unit_test(test_cut_counts_and_utf8),
        cmocka_unit_test(test_cut_metadata_and_params_members),
        cmocka_unit_test(test_big_metadata_is_cut_not_the_input),
        cmocka_unit_test(test_what_the_cut_cannot_shrink_is_left_over_the_limit),
        cmocka_unit_test(test_small_record_not_cut),
        cmocka_unit_test(test_trace_name_cut_to_1000_bytes),
        cmocka_unit_test(test_ill_formed_utf8_becomes_replacement),
        cmocka_unit_test(test_check_marks_corrupt),
        cmocka_unit_test(test_auth_header),
        cmocka_unit_test(test_iso),
        cmocka_unit_test(test_end_before_start_clamped),
        cmocka_unit_test(test_buffer_maximum),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
