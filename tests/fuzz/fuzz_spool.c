/*
 * A spool record as `sllmp upload` finds it in new/: any bytes, since a disk error, a partial
 * copy or another program can leave anything there. The whole input is the file. It goes through
 * the uploader's own prepare() (src/upload.c: parse, sllmp_langfuse_check, the ids the answer
 * reader maps events back by, the conversion at SLLMP_LF_MAX_RECORD_BYTES) for both APIs; when
 * check() accepts it, through the OTLP and legacy builders at several max_bytes (small ones too)
 * and with buffer maximums; and, checked or not, through sllmp_langfuse_cut at several keeps.
 *
 * The builders are not called on a record check() refused: their contract is "one checked
 * record" (langfuse.h), and prepare(), their only caller, never calls them after a refusal.
 *
 * Properties, beyond no crash, leak or UB:
 * - prepare() refuses exactly what does not parse ("corrupt record: not JSON"), what check()
 *   refuses ("corrupt record: " and its reason) and what the builder leaves over
 *   SLLMP_LF_MAX_RECORD_BYTES even cut ("too large after cutting: N bytes ..."); otherwise it
 *   keeps the span id and attempt ids check() validated, counts the parts (1 + attempts spans,
 *   2 + attempts events) and holds what the builder writes;
 * - a batch (open, the fragment twice joined by a comma as build_body joins records, close) is
 *   JSON that parses, with the record's spans or events in order, twice, and UTF-8 whatever
 *   bytes the record's strings held;
 * - OTLP (protocols.md §4.10): the record's trace id, hex span ids, the generation first and each
 *   attempt its child; kind 3; times as decimal strings, the end never before the start;
 *   attributes a list of {key, value:{stringValue|arrayValue:{values}}} with known keys, none
 *   twice; usage_details, cost_details, model.parameters and metadata JSON strings of objects,
 *   usage counts integers >= 0, costs >= 0; trace input and output only when not trace_joined;
 *   status code 2 exactly when the level is ERROR;
 * - legacy (§4.2-4.5): a trace-create, a generation-create and a span-create per attempt, with
 *   the event ids "<observation id>-<type>" the 207 reader maps back, the body ids they name, no
 *   member twice, and metadata.batch_size the number of events;
 * - the same record converts to the same bytes;
 * - an output over max_bytes has its input, output and members of metadata and params cut as
 *   short as the cut goes (at MIN_CUT_KEEP nothing is left to cut), when max_bytes leaves room
 *   for a cut at all;
 * - a buffer maximum reached gives -1 and the buffer as it was on entry;
 * - a cut (of input, output, and each member of metadata and params, which stay objects with
 *   their members in order) leaves what was short enough as it was, and makes what was longer a
 *   string: a prefix of the old text, at most keep bytes, never ending inside a UTF-8 sequence,
 *   then the marker with the bytes cut; the same cut again changes nothing.
 */
#include "fuzz.h"

#include "../../src/langfuse.c"
#include "../../src/upload.c"

#define PREFIX "PREFIX" /* what the buffer held before: it must stay */

static const size_t max_bytes[] = {SLLMP_LF_MAX_RECORD_BYTES, 4096, 1000, 300, 130, 129, 40, 0};
static const size_t keeps[] = {0, 1, 3, 64, 200};

static int
hex_n(const char *s, size_t n)
{
    if (s == NULL || strlen(s) != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static const char *
str_of(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static int
same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The same JSON text (or both absent). */
static int
same_json(const cJSON *a, const cJSON *b)
{
    char *ta = a ? cJSON_PrintUnformatted(a) : NULL, *tb = b ? cJSON_PrintUnformatted(b) : NULL;
    int eq = (ta == NULL && tb == NULL) || (ta && tb && strcmp(ta, tb) == 0);

    free(ta);
    free(tb);
    return eq;
}

/* No member name twice in an object. */
static void
check_unique(const cJSON *o)
{
    for (const cJSON *a = o->child; a != NULL; a = a->next) {
        for (const cJSON *b = a->next; b != NULL; b = b->next) {
            fuzz_check(a->string != NULL && b->string != NULL && strcmp(a->string, b->string) != 0);
        }
    }
}

/* A JSON object of integers >= 0 (usage) or numbers >= 0 (cost), as text or as a node. */
static void
check_map(const cJSON *m, int integers)
{
    const cJSON *v;

    fuzz_check(cJSON_IsObject(m));
    check_unique(m);
    cJSON_ArrayForEach(v, m)
    {
        fuzz_check(cJSON_IsNumber(v) && v->valuedouble >= 0);
        if (integers) {
            fuzz_check(v->valuedouble == floor(v->valuedouble));
        }
    }
}

static void
check_map_text(const char *text, int integers)
{
    cJSON *m = cJSON_Parse(text);

    check_map(m, integers);
    cJSON_Delete(m);
}

static void
check_object_text(const char *text)
{
    cJSON *m = cJSON_Parse(text);

    fuzz_check(cJSON_IsObject(m));
    cJSON_Delete(m);
}

/* A decimal nanosecond time ("<us>000"): its microseconds. */
static long long
nanos(const cJSON *span, const char *key)
{
    const char *s = str_of(span, key);
    size_t n;
    char *end;
    long long us;

    fuzz_check(s != NULL);
    n = strlen(s);
    fuzz_check(n > 3 && strcmp(s + n - 3, "000") == 0);
    us = strtoll(s, &end, 10);
    fuzz_check(end == s + n && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')));
    return us; /* (the nanoseconds may be past int64: the microseconds are what is compared) */
}

static const char *const attr_keys[] = {
    "langfuse.observation.type",
    "langfuse.observation.level",
    "langfuse.observation.status_message",
    "langfuse.observation.model.name",
    "langfuse.observation.model.parameters",
    "langfuse.observation.input",
    "langfuse.observation.output",
    "langfuse.observation.usage_details",
    "langfuse.observation.cost_details",
    "langfuse.observation.completion_start_time",
    "langfuse.observation.metadata",
    "langfuse.version",
    "langfuse.trace.name",
    "user.id",
    "session.id",
    "langfuse.trace.tags",
    "langfuse.trace.metadata",
    "langfuse.environment",
    "langfuse.release",
    "langfuse.trace.input",
    "langfuse.trace.output",
};

/* An attribute value: exactly one of the kinds of §4.10. */
static void
check_value(const cJSON *v, int nested)
{
    const cJSON *k;

    fuzz_check(cJSON_IsObject(v) && v->child != NULL && v->child->next == NULL);
    k = v->child;
    if (strcmp(k->string, "stringValue") == 0) {
        fuzz_check(cJSON_IsString(k));
    } else if (strcmp(k->string, "arrayValue") == 0 && !nested) {
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(k, "values"), *e;

        fuzz_check(cJSON_IsObject(k) && cJSON_GetArraySize(k) == 1 && cJSON_IsArray(vals));
        cJSON_ArrayForEach(e, vals)
        {
            check_value(e, 1);
        }
    } else {
        fuzz_check(!"an attribute value of a kind sllmp does not write");
    }
}

/* The attributes of a span; returns the value of key (NULL: absent). */
static const char *
attr(const cJSON *span, const char *key)
{
    const cJSON *a;

    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(span, "attributes"))
    {
        if (same(str_of(a, "key"), key)) {
            return str_of(cJSON_GetObjectItemCaseSensitive(a, "value"), "stringValue");
        }
    }
    return NULL;
}

static int
has_attr(const cJSON *span, const char *key)
{
    const cJSON *a;

    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(span, "attributes"))
    {
        if (same(str_of(a, "key"), key)) {
            return 1;
        }
    }
    return 0;
}

static void
check_span(const cJSON *rec, const cJSON *span, const cJSON *at)
{
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(span, "attributes"), *a, *b;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(span, "status");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(span, "kind");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");
    const char *level, *text;

    check_unique(span);
    fuzz_check(same(str_of(span, "traceId"), str_of(rec, "trace_id")));
    fuzz_check(hex_n(str_of(span, "traceId"), 32));
    fuzz_check(hex_n(str_of(span, "spanId"), 16));
    if (at == NULL) {
        fuzz_check(same(str_of(span, "spanId"), str_of(rec, "span_id")));
        if (cJSON_GetObjectItemCaseSensitive(rec, "parent_span_id") != NULL) {
            fuzz_check(same(str_of(span, "parentSpanId"), str_of(rec, "parent_span_id")));
        } else {
            fuzz_check(cJSON_GetObjectItemCaseSensitive(span, "parentSpanId") == NULL);
        }
    } else {
        fuzz_check(same(str_of(span, "spanId"), str_of(at, "span_id")));
        fuzz_check(same(str_of(span, "parentSpanId"), str_of(rec, "span_id")));
    }
    fuzz_check(str_of(span, "name") != NULL);
    fuzz_check(cJSON_IsNumber(kind) && kind->valuedouble == 3);
    fuzz_check(nanos(span, "endTimeUnixNano") >= nanos(span, "startTimeUnixNano"));
    fuzz_check(cJSON_IsArray(attrs));
    cJSON_ArrayForEach(a, attrs)
    {
        const char *key = str_of(a, "key");
        int known = 0;

        fuzz_check(cJSON_IsObject(a) && cJSON_GetArraySize(a) == 2 && key != NULL);
        for (size_t i = 0; i < sizeof(attr_keys) / sizeof(*attr_keys); i++) {
            known |= strcmp(key, attr_keys[i]) == 0;
        }
        fuzz_check(known);
        check_value(cJSON_GetObjectItemCaseSensitive(a, "value"), 0);
        for (b = a->next; b != NULL; b = b->next) {
            fuzz_check(!same(key, str_of(b, "key")));
        }
    }
    fuzz_check(same(attr(span, "langfuse.observation.type"), at ? "span" : "generation"));
    level = attr(span, "langfuse.observation.level");
    fuzz_check(level != NULL);
    fuzz_check(cJSON_IsObject(status) && cJSON_IsNumber(code));
    fuzz_check(code->valuedouble == (strcmp(level, "ERROR") == 0 ? 2 : 1));
    if ((text = attr(span, "langfuse.observation.usage_details")) != NULL) {
        check_map_text(text, 1);
    }
    if ((text = attr(span, "langfuse.observation.cost_details")) != NULL) {
        check_map_text(text, 0);
    }
    if ((text = attr(span, "langfuse.observation.model.parameters")) != NULL) {
        check_object_text(text);
    }
    if ((text = attr(span, "langfuse.observation.metadata")) != NULL) {
        check_object_text(text);
    }
    if ((text = attr(span, "langfuse.trace.metadata")) != NULL) {
        check_object_text(text);
    }
    if (at == NULL) {
        fuzz_check(attr(span, "langfuse.observation.usage_details") != NULL);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "trace_joined"))) {
        fuzz_check(!has_attr(span, "langfuse.trace.input"));
        fuzz_check(!has_attr(span, "langfuse.trace.output"));
        fuzz_check(!has_attr(span, "langfuse.trace.name"));
    }
}

/* The batch around a fragment (twice, as two records are joined); rec: its ids, uncut. */
static void
check_otel(const cJSON *rec, const char *frag, size_t len, int n)
{
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(rec, "attempts");
    sllmp_buf_t b;
    cJSON *doc;
    const cJSON *spans, *s;
    int i = 0;

    fuzz_check(sllmp_utf8_valid(frag, len) == len);
    sllmp_buf_init(&b, 0);
    fuzz_check(sllmp_langfuse_otel_open(&b) == 0);
    sllmp_buf_append(&b, frag, len);
    sllmp_buf_append(&b, ",", 1);
    sllmp_buf_append(&b, frag, len);
    fuzz_check(sllmp_langfuse_otel_close(&b) == 0);
    doc = cJSON_ParseWithOpts(b.ptr, NULL, 1);
    fuzz_check(doc != NULL);
    spans = fuzz_otlp_spans(doc);
    fuzz_check(cJSON_GetArraySize(spans) == 2 * n);
    cJSON_ArrayForEach(s, spans)
    {
        int k = i++ % n;

        check_span(rec, s, k == 0 ? NULL : cJSON_GetArrayItem(attempts, k - 1));
    }
    cJSON_Delete(doc);
    sllmp_buf_free(&b);
}

static void
check_event(const cJSON *ev, const char *obs, const char *type, const char *body_id)
{
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(ev, "body");
    char *id = sllmp_xasprintf("%s-%s", obs, type);

    fuzz_check(cJSON_IsObject(ev) && cJSON_GetArraySize(ev) == 4);
    check_unique(ev);
    fuzz_check(same(str_of(ev, "id"), id));
    fuzz_check(same(str_of(ev, "type"), type));
    fuzz_check(str_of(ev, "timestamp") != NULL);
    fuzz_check(cJSON_IsObject(body));
    check_unique(body);
    fuzz_check(same(str_of(body, "id"), body_id));
    free(id);
}

static void
check_legacy(const cJSON *rec, const char *frag, size_t len, int n)
{
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(rec, "attempts");
    const char *span = str_of(rec, "span_id"), *trace = str_of(rec, "trace_id");
    const cJSON *events, *ev, *bs;
    sllmp_buf_t b;
    cJSON *doc;
    int i = 0;

    fuzz_check(sllmp_utf8_valid(frag, len) == len);
    sllmp_buf_init(&b, 0);
    fuzz_check(sllmp_langfuse_legacy_open(&b) == 0);
    sllmp_buf_append(&b, frag, len);
    sllmp_buf_append(&b, ",", 1);
    sllmp_buf_append(&b, frag, len);
    fuzz_check(sllmp_langfuse_legacy_close(&b, 2 * (size_t)n) == 0);
    doc = cJSON_ParseWithOpts(b.ptr, NULL, 1);
    fuzz_check(doc != NULL);
    events = cJSON_GetObjectItemCaseSensitive(doc, "batch");
    bs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "metadata"),
                                          "batch_size");
    fuzz_check(cJSON_GetArraySize(events) == 2 * n);
    fuzz_check(cJSON_IsNumber(bs) && bs->valuedouble == 2 * n);
    cJSON_ArrayForEach(ev, events)
    {
        int k = i++ % n;
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(ev, "body");

        if (k == 0) {
            check_event(ev, span, "trace-create", trace);
        } else if (k == 1) {
            check_event(ev, span, "generation-create", span);
            fuzz_check(same(str_of(body, "traceId"), trace));
            check_map(cJSON_GetObjectItemCaseSensitive(body, "usageDetails"), 1);
            if (cJSON_GetObjectItemCaseSensitive(body, "costDetails") != NULL) {
                check_map(cJSON_GetObjectItemCaseSensitive(body, "costDetails"), 0);
            }
        } else {
            const char *at = str_of(cJSON_GetArrayItem(attempts, k - 2), "span_id");

            check_event(ev, at, "span-create", at);
            fuzz_check(same(str_of(body, "traceId"), trace));
            fuzz_check(same(str_of(body, "parentObservationId"), span));
        }
    }
    cJSON_Delete(doc);
    sllmp_buf_free(&b);
}

typedef int build_f(cJSON *rec, size_t max_bytes, sllmp_buf_t *out);

/* One builder at every max_bytes, then against buffer maximums. */
static void
builder(const cJSON *rec, int legacy)
{
    build_f *fn = legacy ? sllmp_langfuse_legacy_events : sllmp_langfuse_otel_spans;
    int parts =
        (legacy ? 2 : 1) + cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rec, "attempts"));
    size_t full = 0;
    char *first = NULL;
    int uncut = 0; /* converted whole at SLLMP_LF_MAX_RECORD_BYTES, no cut */

    for (size_t m = 0; m < sizeof(max_bytes) / sizeof(*max_bytes); m++) {
        cJSON *dup = cJSON_Duplicate(rec, 1);
        sllmp_buf_t out;
        int n;

        sllmp_buf_init(&out, 0);
        sllmp_buf_appends(&out, PREFIX);
        n = fn(dup, max_bytes[m], &out);
        fuzz_check(n == parts);
        fuzz_check(out.len > sizeof(PREFIX) - 1 &&
                   memcmp(out.ptr, PREFIX, sizeof(PREFIX) - 1) == 0);
        if (legacy) {
            check_legacy(rec, out.ptr + sizeof(PREFIX) - 1, out.len - (sizeof(PREFIX) - 1), n);
        } else {
            check_otel(rec, out.ptr + sizeof(PREFIX) - 1, out.len - (sizeof(PREFIX) - 1), n);
        }
        if (out.len - (sizeof(PREFIX) - 1) > max_bytes[m] && max_bytes[m] / 2 > MIN_CUT_KEEP) {
            /* too big after the cuts: input and output are as short as they go */
            fuzz_check(sllmp_langfuse_cut(dup, MIN_CUT_KEEP) == 0);
        }
        if (m == 0) {
            /* the same record, converted again, gives the same bytes */
            cJSON *again = cJSON_Duplicate(rec, 1);
            sllmp_buf_t out2;

            full = out.len - (sizeof(PREFIX) - 1);
            uncut = same_json(dup, rec);
            first = sllmp_xstrdup(out.ptr + sizeof(PREFIX) - 1);
            sllmp_buf_init(&out2, 0);
            fuzz_check(fn(again, max_bytes[m], &out2) == n);
            fuzz_check(out2.len == full && memcmp(out2.ptr, first, full) == 0);
            sllmp_buf_free(&out2);
            cJSON_Delete(again);
        }
        sllmp_buf_free(&out);
        cJSON_Delete(dup);
    }
    /* a buffer maximum: just enough, then too little */
    for (int tight = 0; tight < 2; tight++) {
        cJSON *dup = cJSON_Duplicate(rec, 1);
        sllmp_buf_t out;
        size_t cap = sizeof(PREFIX) - 1 + (tight ? full / 2 : full);
        int n;

        sllmp_buf_init(&out, cap);
        sllmp_buf_appends(&out, PREFIX);
        n = fn(dup, SLLMP_LF_MAX_RECORD_BYTES, &out);
        if (n == -1) {
            /* always when tight; when not, only if a first conversion before the cuts was more */
            fuzz_check(tight || !uncut);
            fuzz_check(out.len == sizeof(PREFIX) - 1 && strcmp(out.ptr, PREFIX) == 0);
        } else {
            fuzz_check(!tight && n == parts && out.len == cap);
            fuzz_check(memcmp(out.ptr + sizeof(PREFIX) - 1, first, full) == 0);
        }
        sllmp_buf_free(&out);
        cJSON_Delete(dup);
    }
    free(first);
}

/* The text a cut works on: a string itself, anything else as JSON (NULL: nothing to cut). */
static char *
cut_text(const cJSON *item, int *is_str)
{
    *is_str = cJSON_IsString(item);
    if (item == NULL || cJSON_IsNull(item)) {
        return NULL;
    }
    return *is_str ? sllmp_xstrdup(item->valuestring) : cJSON_PrintUnformatted(item);
}

/* Does s end as a cut does ("...[truncated by sllmp: N bytes]")? Its length before, or -1. */
static long
marker_at(const char *s)
{
    const char *m = strstr(s, CUT_MARKER), *last = NULL;
    size_t n = strlen(s);

    for (; m != NULL; m = strstr(m + 1, CUT_MARKER)) {
        last = m;
    }
    if (last == NULL || n < 7 || strcmp(s + n - 7, " bytes]") != 0) {
        return -1;
    }
    for (const char *d = last + sizeof(CUT_MARKER) - 1; d < s + n - 7; d++) {
        if (*d < '0' || *d > '9') {
            return -1;
        }
    }
    return (long)(last - s);
}

static void
check_cut_one(const cJSON *before, const cJSON *after, size_t keep, int cut)
{
    int was_str, is_str;
    char *old = cut_text(before, &was_str), *now = cut_text(after, &is_str);
    size_t len;
    long oldm = -1, m;

    if (old == NULL) {
        fuzz_check(now == NULL);
        free(now);
        return;
    }
    fuzz_check(now != NULL);
    len = strlen(old);
    if (was_str && (oldm = marker_at(old)) >= 0) {
        len = (size_t)oldm;
    }
    if (len <= keep) {
        fuzz_check(!cut);
        fuzz_check(strcmp(old, now) == 0 && was_str == is_str);
    } else {
        fuzz_check(cut && is_str);
        m = marker_at(now);
        fuzz_check(m >= 0 && (size_t)m <= keep);
        fuzz_check(memcmp(old, now, (size_t)m) == 0);
        fuzz_check(m == 0 || ((unsigned char)old[m] & 0xC0) != 0x80);
        if (oldm < 0) {
            /* N: every byte cut off */
            fuzz_check(strtoull(now + m + sizeof(CUT_MARKER) - 1, NULL, 10) ==
                       strlen(old) - (size_t)m);
        }
    }
    free(old);
    free(now);
}

/* The members of object key (metadata, params) before and after a cut, pair by pair (names may
 * repeat): same names in the same order, each cut or not as check_cut_one says. How many cut. */
static int
check_cut_members(const cJSON *rec, const cJSON *dup, const char *key, size_t keep)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(rec, key);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(dup, key);
    const cJSON *a, *b;
    int n = 0;

    if (!cJSON_IsObject(o)) {
        fuzz_check(same_json(o, d));
        return 0;
    }
    fuzz_check(cJSON_IsObject(d) && cJSON_GetArraySize(o) == cJSON_GetArraySize(d));
    for (a = o->child, b = d->child; a != NULL && b != NULL; a = a->next, b = b->next) {
        int cut = !same_json(a, b);

        fuzz_check(same(a->string, b->string));
        check_cut_one(a, b, keep, cut);
        n += cut;
    }
    return n;
}

static void
cuts(const cJSON *rec)
{
    for (size_t k = 0; k < sizeof(keeps) / sizeof(*keeps); k++) {
        cJSON *dup = cJSON_Duplicate(rec, 1);
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(rec, "input");
        const cJSON *outp = cJSON_GetObjectItemCaseSensitive(rec, "output");
        int n = sllmp_langfuse_cut(dup, keeps[k]), in_cut, out_cut;
        cJSON *again;

        fuzz_check(n >= 0);
        /* which were cut: the values that changed */
        in_cut = !same_json(in, cJSON_GetObjectItemCaseSensitive(dup, "input"));
        out_cut = !same_json(outp, cJSON_GetObjectItemCaseSensitive(dup, "output"));
        fuzz_check(in_cut + out_cut + check_cut_members(rec, dup, "metadata", keeps[k]) +
                       check_cut_members(rec, dup, "params", keeps[k]) ==
                   n);
        check_cut_one(in, cJSON_GetObjectItemCaseSensitive(dup, "input"), keeps[k], in_cut);
        check_cut_one(outp, cJSON_GetObjectItemCaseSensitive(dup, "output"), keeps[k], out_cut);
        again = cJSON_Duplicate(dup, 1);
        fuzz_check(sllmp_langfuse_cut(again, keeps[k]) == 0);
        fuzz_check(same_json(again, dup));
        cJSON_Delete(again);
        cJSON_Delete(dup);
    }
}

/* The uploader's own reading of the file, for one API. */
static void
uploader(const uint8_t *data, size_t size, const cJSON *rec, const char *reason, int legacy)
{
    run_t r;
    rec_t one;
    char *why;

    memset(&r, 0, sizeof(r));
    memset(&one, 0, sizeof(one));
    one.fd = -1;
    r.legacy = legacy;
    sllmp_buf_init(&r.scratch, 0);
    sllmp_buf_append(&r.scratch, data, size);
    if (r.scratch.ptr == NULL) {
        sllmp_buf_append(&r.scratch, "", 0);
    }
    why = prepare(&r, &one);
    if (rec == NULL) {
        fuzz_check(same(why, "corrupt record: not JSON"));
    } else if (reason != NULL) {
        fuzz_check(why != NULL && strncmp(why, "corrupt record: ", 16) == 0 &&
                   same(why + 16, reason));
    } else if (why != NULL) {
        /* only what is still too big after the cut */
        cJSON *dup = cJSON_Duplicate(rec, 1);
        sllmp_buf_t out;

        fuzz_check(strncmp(why, "too large after cutting: ", 25) == 0);
        sllmp_buf_init(&out, 0);
        (legacy ? sllmp_langfuse_legacy_events
                : sllmp_langfuse_otel_spans)(dup, SLLMP_LF_MAX_RECORD_BYTES, &out);
        fuzz_check(out.len > SLLMP_LF_MAX_RECORD_BYTES && one.frag == NULL);
        sllmp_buf_free(&out);
        cJSON_Delete(dup);
    } else {
        const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(rec, "attempts"), *a;
        cJSON *dup = cJSON_Duplicate(rec, 1);
        sllmp_buf_t out;
        int k = 0;

        fuzz_check(why == NULL);
        fuzz_check(same(one.span_id, str_of(rec, "span_id")));
        fuzz_check(one.nattempts == cJSON_GetArraySize(attempts));
        cJSON_ArrayForEach(a, attempts)
        {
            fuzz_check(same(one.attempt_ids[k++], str_of(a, "span_id")));
        }
        fuzz_check(one.nparts == (legacy ? 2 : 1) + one.nattempts);
        sllmp_buf_init(&out, 0);
        fuzz_check((legacy ? sllmp_langfuse_legacy_events : sllmp_langfuse_otel_spans)(
                       dup, SLLMP_LF_MAX_RECORD_BYTES, &out) == one.nparts);
        fuzz_check(one.fraglen == out.len && memcmp(one.frag, out.ptr, out.len) == 0);
        sllmp_buf_free(&out);
        cJSON_Delete(dup);
    }
    free(why);
    rec_free(&one);
    sllmp_buf_free(&r.scratch);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *rec;
    const char *reason;

    fuzz_quiet();
    rec = cJSON_ParseWithLength((const char *)data, size);
    reason = rec ? sllmp_langfuse_check(rec) : NULL;
    uploader(data, size, rec, reason, 0);
    uploader(data, size, rec, reason, 1);
    if (rec == NULL) {
        return 0;
    }
    cuts(rec);
    if (reason == NULL) {
        builder(rec, 0);
        builder(rec, 1);
    }
    cJSON_Delete(rec);
    return 0;
}
