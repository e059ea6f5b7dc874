/*
 * Spool record -> Langfuse payload (see include/sllmp/langfuse.h, docs/internals/spool.md
 * "Langfuse mapping", protocols.md §4).
 *
 * The output is written as text into the caller's buffer. The parts of a record used on several
 * spans or events (params, input, output, the trace's metadata, the usage and cost maps, the
 * generation's metadata) are printed once per conversion into a prep_t and copied from there:
 * raw into legacy bodies, escaped into OTLP string attributes.
 */
#include "sllmp/langfuse.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CUT_MARKER   "[truncated by sllmp: "
#define MIN_CUT_KEEP 64
/*
 * A trace's name, at most (§4.4: trace-create refuses a longer one). In bytes, cut between
 * characters: Langfuse counts UTF-16 units, of which a UTF-8 string never has more than bytes.
 */
#define TRACE_NAME_MAX 1000

/* ---------------------------------------------------------------- writer */

/* Appends that stop at the buffer's maximum: err is set once and the rest are no-ops. */
typedef struct {
    sllmp_buf_t *b;
    int err;
} w_t;

static void
put(w_t *w, const char *s, size_t n)
{
    if (!w->err && sllmp_buf_append(w->b, s, n) < 0) {
        w->err = 1;
    }
}

static void
puts_(w_t *w, const char *s)
{
    put(w, s, strlen(s));
}

/*
 * s as the body of a JSON string: runs of plain bytes are copied in one append. Each ill-formed
 * UTF-8 sequence becomes \ufffd: a record may hold a byte a client sent or a message cut
 * mid-character, and one such byte must not make the whole export invalid JSON.
 */
static void
esc(w_t *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[6];
        size_t elen, skip, k;

        if (c >= 0x80) {
            k = sllmp_utf8_char(s + i, n - i, &skip);
            if (k > 0) {
                i += k - 1;
                continue;
            }
            put(w, s + run, i - run);
            put(w, "\\ufffd", 6);
            i += skip - 1;
            run = i + 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        put(w, s + run, i - run);
        run = i + 1;
        e[0] = '\\';
        elen = 2;
        switch (c) {
        case '"':
            e[1] = '"';
            break;
        case '\\':
            e[1] = '\\';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            elen = 6;
            break;
        }
        put(w, e, elen);
    }
    put(w, s + run, n - run);
}

/* "s" */
static void
qstr(w_t *w, const char *s)
{
    put(w, "\"", 1);
    esc(w, s, strlen(s));
    put(w, "\"", 1);
}

static void
put_i64(w_t *w, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", (long long)v);

    put(w, num, (size_t)n);
}

/* The shortest of %.15g / %.17g that reads back as the same double. */
static void
put_num(w_t *w, double v)
{
    char num[32];
    int n;

    if (!isfinite(v)) {
        put(w, "0", 1);
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        n = snprintf(num, sizeof(num), "%.0f", v);
    } else {
        n = snprintf(num, sizeof(num), "%.15g", v);
        if (strtod(num, NULL) != v) {
            n = snprintf(num, sizeof(num), "%.17g", v);
        }
    }
    put(w, num, (size_t)n);
}

/* ---------------------------------------------------------------- record access */

static const char *
rstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int
rtrue(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* A number field as an integer; def when absent, not a number, or past +-2^62 (a damaged
 * record: converting a double out of int64_t's range is undefined). */
static int64_t
rec_int(const cJSON *o, const char *key, int64_t def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsNumber(v) || !(v->valuedouble > -4.6e18 && v->valuedouble < 4.6e18)) {
        return def;
    }
    return (int64_t)v->valuedouble;
}

static int
is_hex(const char *s, size_t len)
{
    int nonzero = 0;

    if (s == NULL || strlen(s) != len) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

const char *
sllmp_langfuse_check(const cJSON *rec)
{
    const cJSON *v, *attempts, *a;

    if (!cJSON_IsObject(rec)) {
        return "not a JSON object";
    }
    v = cJSON_GetObjectItemCaseSensitive(rec, "v");
    if (!cJSON_IsNumber(v)) {
        return "no version (v)";
    }
    if (v->valuedouble != 1) {
        return "unknown version";
    }
    if (!is_hex(rstr(rec, "trace_id"), 32)) {
        return "trace_id is not 32 hex digits";
    }
    if (!is_hex(rstr(rec, "span_id"), 16)) {
        return "span_id is not 16 hex digits";
    }
    if (cJSON_GetObjectItemCaseSensitive(rec, "parent_span_id") != NULL &&
        !is_hex(rstr(rec, "parent_span_id"), 16)) {
        return "parent_span_id is not 16 hex digits";
    }
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(rec, "start_us")) ||
        !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(rec, "end_us")) ||
        rec_int(rec, "start_us", -1) < 0 || rec_int(rec, "end_us", -1) < 0) {
        return "start_us or end_us missing";
    }
    attempts = cJSON_GetObjectItemCaseSensitive(rec, "attempts");
    if (attempts != NULL && !cJSON_IsArray(attempts)) {
        return "attempts is not a list";
    }
    cJSON_ArrayForEach(a, attempts)
    {
        if (!is_hex(rstr(a, "span_id"), 16)) {
            return "an attempt's span_id is not 16 hex digits";
        }
    }
    return NULL;
}

/* The end, never before the start (Langfuse refuses a span that ends before it starts). */
static int64_t
end_of(const cJSON *o, int64_t start)
{
    int64_t end = rec_int(o, "end_us", start);

    return end < start ? start : end;
}

int
sllmp_langfuse_anthropic(const cJSON *rec)
{
    const char *p = rstr(rec, "provider");
    const char *m = rstr(rec, "upstream_model");

    if (p != NULL && strcasecmp(p, "anthropic") == 0) {
        return 1;
    }
    /* a Claude model behind another provider (Bedrock, a gateway) is priced with these keys */
    return m != NULL && strcasestr(m, "claude") != NULL;
}

void
sllmp_langfuse_iso(int64_t us, int digits, char *out)
{
    /* the date and time of the last second this thread formatted: most calls are in it */
    static __thread time_t last_sec;
    static __thread int last_set;
    static __thread char last[24];
    time_t sec = (time_t)(us / 1000000);
    int64_t frac = us % 1000000;
    int nd = digits == 3 ? 3 : 6;

    if (frac < 0) {
        frac += 1000000;
        sec--;
    }
    if (!last_set || sec != last_sec) {
        struct tm tm;

        gmtime_r(&sec, &tm);
        if (strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
            snprintf(last, sizeof(last), "0000-00-00T00:00:00");
        }
        last_sec = sec;
        last_set = 1;
    }
    memcpy(out, last, 19);
    out[19] = '.';
    frac /= nd == 3 ? 1000 : 1;
    for (int i = nd; i > 0; i--) {
        out[19 + i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    memcpy(out + 20 + nd, "Z", 2);
}

/* ---------------------------------------------------------------- what is shared by parts */

typedef struct {
    char *params;  /* JSON text of the model parameters; NULL when there are none */
    char *input;   /* the input: its JSON text, or the string itself when it is one */
    int input_str; /* input is a JSON string (its text is raw, not JSON) */
    char *output;
    int output_str;
    char *tmeta;       /* the trace's metadata, JSON text; NULL when empty */
    sllmp_buf_t usage; /* usageDetails, JSON text */
    sllmp_buf_t cost;  /* costDetails, JSON text; empty when the cost is unknown */
    sllmp_buf_t gmeta; /* the generation's metadata, JSON text */
} prep_t;

static char *
print_item(const cJSON *item, int *is_str)
{
    *is_str = 0;
    if (item == NULL || cJSON_IsNull(item)) {
        return NULL;
    }
    if (cJSON_IsString(item)) {
        *is_str = 1;
        return sllmp_xstrdup(item->valuestring);
    }
    return cJSON_PrintUnformatted(item);
}

/* "key":value for a map of numbers, the first without a comma. */
static void
map_int(w_t *w, int *first, const char *key, int64_t v)
{
    put(w, *first ? "\"" : ",\"", *first ? 1 : 2);
    puts_(w, key);
    put(w, "\":", 2);
    put_i64(w, v < 0 ? 0 : v);
    *first = 0;
}

static void
map_num(w_t *w, int *first, const char *key, double v)
{
    put(w, *first ? "\"" : ",\"", *first ? 1 : 2);
    puts_(w, key);
    put(w, "\":", 2);
    put_num(w, v < 0 || !isfinite(v) ? 0 : v);
    *first = 0;
}

/* "key":"v" with at most the first n bytes of v. */
static void
map_strn(w_t *w, int *first, const char *key, const char *v, size_t n)
{
    if (v == NULL) {
        return;
    }
    put(w, *first ? "\"" : ",\"", *first ? 1 : 2);
    puts_(w, key);
    put(w, "\":\"", 3);
    esc(w, v, n);
    put(w, "\"", 1);
    *first = 0;
}

static void
map_str(w_t *w, int *first, const char *key, const char *v)
{
    map_strn(w, first, key, v, v != NULL ? strlen(v) : 0);
}

/*
 * JSON text (cJSON's printing of a part of the record) as it is, but with each ill-formed UTF-8
 * sequence as \ufffd: cJSON copies a string's bytes unchecked, and above 0x7f it writes nothing
 * but the bytes of strings, so the escape always lands inside a string.
 */
static void
put_json(w_t *w, const char *s)
{
    size_t n = strlen(s), i = 0, ok, skip;

    while (i < n) {
        ok = sllmp_utf8_valid(s + i, n - i);
        put(w, s + i, ok);
        i += ok;
        if (i < n) {
            sllmp_utf8_char(s + i, n - i, &skip);
            put(w, "\\ufffd", 6);
            i += skip;
        }
    }
}

static void
map_raw(w_t *w, int *first, const char *key, const char *json)
{
    put(w, *first ? "\"" : ",\"", *first ? 1 : 2);
    puts_(w, key);
    put(w, "\":", 2);
    put_json(w, json);
    *first = 0;
}

/*
 * usage_details / cost_details under Langfuse's keys (§4.7): input and output always, the cache
 * and reasoning buckets when they are not zero; the cost has the same keys plus total.
 */
static void
usage_cost(const cJSON *rec, prep_t *p)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(rec, "usage");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(rec, "cost");
    int anth = sllmp_langfuse_anthropic(rec);
    static const char *const bucket[] = {"input", "cache_read", "cache_write", "output",
                                         "reasoning"};
    const char *const lf_key[] = {"input", anth ? "input_cache_read" : "input_cached_tokens",
                                  "input_cache_creation", "output", "output_reasoning_tokens"};
    int use[5];
    w_t wu = {&p->usage, 0}, wc = {&p->cost, 0};
    int fu = 1, fc = 1;

    for (int i = 0; i < 5; i++) {
        const cJSON *cv = cJSON_GetObjectItemCaseSensitive(c, bucket[i]);

        use[i] = i == 0 || i == 3 || rec_int(u, bucket[i], 0) > 0 ||
                 (cJSON_IsNumber(cv) && cv->valuedouble > 0);
    }
    put(&wu, "{", 1);
    for (int i = 0; i < 5; i++) {
        if (use[i]) {
            map_int(&wu, &fu, lf_key[i], rec_int(u, bucket[i], 0));
        }
    }
    put(&wu, "}", 1);
    if (!cJSON_IsObject(c)) {
        return;
    }
    put(&wc, "{", 1);
    for (int i = 0; i < 5; i++) {
        const cJSON *cv = cJSON_GetObjectItemCaseSensitive(c, bucket[i]);

        if (use[i] && cJSON_IsNumber(cv)) {
            map_num(&wc, &fc, lf_key[i], cv->valuedouble);
        }
    }
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "total"))) {
        map_num(&wc, &fc, "total", cJSON_GetObjectItemCaseSensitive(c, "total")->valuedouble);
    }
    put(&wc, "}", 1);
}

/* What the generation observation carries beside the trace's metadata. */
static void
gen_meta(const cJSON *rec, prep_t *p)
{
    w_t w = {&p->gmeta, 0};
    int first = 1;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(rec, "error");
    const char *model = rstr(rec, "model"), *resp = rstr(rec, "response_model");

    put(&w, "{", 1);
    map_str(&w, &first, "request_id", rstr(rec, "request_id"));
    map_str(&w, &first, "endpoint", rstr(rec, "endpoint"));
    map_int(&w, &first, "status", rec_int(rec, "status", 0));
    map_raw(&w, &first, "stream", rtrue(rec, "stream") ? "true" : "false");
    map_str(&w, &first, "provider", rstr(rec, "provider"));
    map_str(&w, &first, "deployment", rstr(rec, "deployment"));
    map_str(&w, &first, "requested_model", model);
    map_str(&w, &first, "response_model", resp);
    map_str(&w, &first, "capture", rstr(rec, "capture"));
    if (rtrue(rec, "client_gone")) {
        map_raw(&w, &first, "client_gone", "true");
    }
    if (rtrue(cJSON_GetObjectItemCaseSensitive(rec, "usage"), "estimated")) {
        map_raw(&w, &first, "usage_estimated", "true");
    }
    if (cJSON_IsObject(err)) {
        map_str(&w, &first, "error_type", rstr(err, "type"));
        map_str(&w, &first, "error_code", rstr(err, "code"));
    }
    put(&w, "}", 1);
}

static void
prep_init(const cJSON *rec, prep_t *p)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(rec, "params");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(rec, "metadata");

    memset(p, 0, sizeof(*p));
    sllmp_buf_init(&p->usage, 0);
    sllmp_buf_init(&p->cost, 0);
    sllmp_buf_init(&p->gmeta, 0);
    if (cJSON_IsObject(params) && params->child != NULL) {
        p->params = cJSON_PrintUnformatted(params);
    }
    if (cJSON_IsObject(meta) && meta->child != NULL) {
        p->tmeta = cJSON_PrintUnformatted(meta);
    }
    p->input = print_item(cJSON_GetObjectItemCaseSensitive(rec, "input"), &p->input_str);
    p->output = print_item(cJSON_GetObjectItemCaseSensitive(rec, "output"), &p->output_str);
    usage_cost(rec, p);
    gen_meta(rec, p);
}

static void
prep_free(prep_t *p)
{
    free(p->params);
    free(p->input);
    free(p->output);
    free(p->tmeta);
    sllmp_buf_free(&p->usage);
    sllmp_buf_free(&p->cost);
    sllmp_buf_free(&p->gmeta);
}

/* ---------------------------------------------------------------- the cut */

/* Bytes already cut from a string that ends with the marker (its prefix length in *keep). */
static size_t
previous_cut(const char *s, size_t len, size_t *prefix)
{
    const char *m;
    char *end;
    unsigned long long n;

    *prefix = len;
    if (len < sizeof(CUT_MARKER) + 6 || memcmp(s + len - 7, " bytes]", 7) != 0) {
        return 0;
    }
    m = s + len - 7;
    while (m > s && m[-1] >= '0' && m[-1] <= '9') {
        m--;
    }
    if ((size_t)(m - s) < sizeof(CUT_MARKER) - 1 ||
        memcmp(m - (sizeof(CUT_MARKER) - 1), CUT_MARKER, sizeof(CUT_MARKER) - 1) != 0) {
        return 0;
    }
    n = strtoull(m, &end, 10);
    *prefix = (size_t)(m - (sizeof(CUT_MARKER) - 1) - s);
    return (size_t)n;
}

/*
 * Replaces item (a member of parent; NULL: none) with a string of the start of its text and the
 * marker when its text is longer than keep; a string's text is the string itself. 1: it was cut.
 */
static int
cut_item(cJSON *parent, cJSON *item, size_t keep)
{
    int is_str;
    char *text = print_item(item, &is_str);
    size_t len, before = 0, prefix, kept;
    char *cut;
    cJSON *s;

    if (text == NULL) {
        return 0;
    }
    len = strlen(text);
    if (is_str) {
        before = previous_cut(text, len, &prefix);
        len = prefix; /* the text without the old marker */
    }
    if (len <= keep) { /* short enough (an earlier cut stays as it is) */
        free(text);
        return 0;
    }
    kept = sllmp_utf8_floor(text, keep);
    cut = sllmp_xasprintf("%.*s" CUT_MARKER "%zu bytes]", (int)kept, text, before + (len - kept));
    s = cJSON_CreateString(cut);
    /* the member keeps its name: the replacement takes it over from the item it replaces */
    s->string = item->string;
    s->type |= item->type & cJSON_StringIsConst;
    item->string = NULL;
    cJSON_ReplaceItemViaPointer(parent, item, s);
    free(cut);
    free(text);
    return 1;
}

/* Cuts each member of rec's object key (metadata, params) that is longer than keep: the object
 * stays an object, as Langfuse wants metadata and modelParameters, and short members stay whole. */
static int
cut_members(cJSON *rec, const char *key, size_t keep)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(rec, key);
    cJSON *m, *next;
    int n = 0;

    if (!cJSON_IsObject(o)) {
        return 0;
    }
    for (m = o->child; m != NULL; m = next) {
        next = m->next;
        n += cut_item(o, m, keep);
    }
    return n;
}

int
sllmp_langfuse_cut(cJSON *rec, size_t keep)
{
    cJSON *in = cJSON_GetObjectItemCaseSensitive(rec, "input");
    cJSON *out = cJSON_GetObjectItemCaseSensitive(rec, "output");

    return cut_item(rec, in, keep) + cut_item(rec, out, keep) + cut_members(rec, "metadata", keep) +
           cut_members(rec, "params", keep);
}

/* ---------------------------------------------------------------- OTLP */

typedef struct {
    w_t *w;
    int first;
} attrs_t;

static void
akey(attrs_t *a, const char *key)
{
    puts_(a->w, a->first ? "{\"key\":\"" : ",{\"key\":\"");
    puts_(a->w, key);
    a->first = 0;
}

/* A string attribute of at most the first n bytes of v. */
static void
attr_strn(attrs_t *a, const char *key, const char *v, size_t n)
{
    if (v == NULL) {
        return;
    }
    akey(a, key);
    puts_(a->w, "\",\"value\":{\"stringValue\":\"");
    esc(a->w, v, n);
    puts_(a->w, "\"}}");
}

static void
attr_str(attrs_t *a, const char *key, const char *v)
{
    attr_strn(a, key, v, v != NULL ? strlen(v) : 0);
}

/*
 * The trace's name cut to TRACE_NAME_MAX for both APIs. Only the legacy limit is documented, but
 * a trace is the same entity whichever way it came, and a refusal of an OTLP span's trace after
 * the 200 would never be seen. The record keeps the name whole.
 */
static size_t
trace_name_len(const char *name)
{
    return name != NULL ? (size_t)sllmp_utf8_prec(name, TRACE_NAME_MAX) : 0;
}

static void
span_head(w_t *w, const char *trace_id, const char *span_id, const char *parent, const char *name,
          int64_t start_us, int64_t end_us)
{
    puts_(w, "{\"traceId\":\"");
    puts_(w, trace_id);
    puts_(w, "\",\"spanId\":\"");
    puts_(w, span_id);
    if (parent != NULL) {
        puts_(w, "\",\"parentSpanId\":\"");
        puts_(w, parent);
    }
    puts_(w, "\",\"name\":");
    qstr(w, name);
    puts_(w, ",\"kind\":3,\"startTimeUnixNano\":\"");
    put_i64(w, start_us);
    puts_(w, "000\",\"endTimeUnixNano\":\"");
    put_i64(w, end_us);
    puts_(w, "000\",\"attributes\":[");
}

static void
span_tail(w_t *w, const char *level, const char *message)
{
    if (level != NULL && strcmp(level, "ERROR") == 0) {
        puts_(w, "],\"status\":{\"code\":2");
        if (message != NULL) {
            puts_(w, ",\"message\":");
            qstr(w, message);
        }
        puts_(w, "}}");
    } else {
        puts_(w, "],\"status\":{\"code\":1}}");
    }
}

/* The trace's attributes, on every span of the record (v4 model, §4.10). */
static void
trace_attrs(attrs_t *a, const cJSON *rec, const prep_t *p)
{
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(rec, "tags");

    if (!rtrue(rec, "trace_joined")) {
        const char *name = rstr(rec, "trace_name");

        attr_strn(a, "langfuse.trace.name", name, trace_name_len(name));
    }
    attr_str(a, "user.id", rstr(rec, "user"));
    attr_str(a, "session.id", rstr(rec, "session"));
    if (cJSON_GetArraySize(tags) > 0) {
        const cJSON *t;
        int first = 1;

        akey(a, "langfuse.trace.tags");
        puts_(a->w, "\",\"value\":{\"arrayValue\":{\"values\":[");
        cJSON_ArrayForEach(t, tags)
        {
            if (cJSON_IsString(t)) {
                puts_(a->w, first ? "{\"stringValue\":" : ",{\"stringValue\":");
                qstr(a->w, t->valuestring);
                put(a->w, "}", 1);
                first = 0;
            }
        }
        puts_(a->w, "]}}}");
    }
    attr_str(a, "langfuse.trace.metadata", p->tmeta);
    attr_str(a, "langfuse.environment", rstr(rec, "environment"));
    attr_str(a, "langfuse.release", rstr(rec, "release"));
}

static void
otel_generation(w_t *w, const cJSON *rec, const prep_t *p)
{
    int64_t start = rec_int(rec, "start_us", 0);
    const char *level = rstr(rec, "level");
    const char *model = rstr(rec, "upstream_model");
    const char *name = rstr(rec, "name");
    attrs_t a = {w, 1};
    char iso[32];

    if (model == NULL) {
        model = rstr(rec, "response_model") ? rstr(rec, "response_model") : rstr(rec, "model");
    }
    span_head(w, rstr(rec, "trace_id"), rstr(rec, "span_id"), rstr(rec, "parent_span_id"),
              name ? name : "chat.completions", start, end_of(rec, start));
    attr_str(&a, "langfuse.observation.type", "generation");
    attr_str(&a, "langfuse.observation.level", level ? level : "DEFAULT");
    attr_str(&a, "langfuse.observation.status_message", rstr(rec, "status_message"));
    attr_str(&a, "langfuse.observation.model.name", model);
    attr_str(&a, "langfuse.observation.model.parameters", p->params);
    attr_str(&a, "langfuse.observation.input", p->input);
    attr_str(&a, "langfuse.observation.output", p->output);
    attr_str(&a, "langfuse.observation.usage_details", sllmp_buf_cstr(&p->usage));
    if (p->cost.len > 0) {
        attr_str(&a, "langfuse.observation.cost_details", sllmp_buf_cstr(&p->cost));
    }
    if (rec_int(rec, "first_token_us", -1) >= 0) {
        sllmp_langfuse_iso(rec_int(rec, "first_token_us", 0), 6, iso);
        attr_str(&a, "langfuse.observation.completion_start_time", iso);
    }
    attr_str(&a, "langfuse.observation.metadata", sllmp_buf_cstr(&p->gmeta));
    attr_str(&a, "langfuse.version", rstr(rec, "version"));
    trace_attrs(&a, rec, p);
    if (!rtrue(rec, "trace_joined")) {
        attr_str(&a, "langfuse.trace.input", p->input);
        attr_str(&a, "langfuse.trace.output", p->output);
    }
    span_tail(w, level, rstr(rec, "status_message"));
}

/* An attempt's error: a string, or anything else as its JSON text (malloc'd; NULL: none). */
static char *
attempt_error(const cJSON *at)
{
    int is_str;

    return print_item(cJSON_GetObjectItemCaseSensitive(at, "error"), &is_str);
}

static void
attempt_meta(w_t *w, const cJSON *at)
{
    int first = 1;

    put(w, "{", 1);
    map_str(w, &first, "provider", rstr(at, "provider"));
    map_str(w, &first, "deployment", rstr(at, "deployment"));
    map_str(w, &first, "model", rstr(at, "model"));
    map_str(w, &first, "model_id", rstr(at, "model_id"));
    map_int(w, &first, "status", rec_int(at, "status", 0));
    put(w, "}", 1);
}

static void
otel_attempt(w_t *w, const cJSON *rec, const cJSON *at, const prep_t *p, sllmp_buf_t *scratch)
{
    int64_t start = rec_int(at, "start_us", rec_int(rec, "start_us", 0));
    const char *level = rstr(at, "level");
    const char *name = rstr(at, "name");
    char *error = attempt_error(at);
    attrs_t a = {w, 1};
    w_t sw = {scratch, 0};

    span_head(w, rstr(rec, "trace_id"), rstr(at, "span_id"), rstr(rec, "span_id"),
              name ? name : "upstream", start, end_of(at, start));
    attr_str(&a, "langfuse.observation.type", "span");
    attr_str(&a, "langfuse.observation.level", level ? level : "DEFAULT");
    attr_str(&a, "langfuse.observation.status_message", error);
    sllmp_buf_reset(scratch);
    attempt_meta(&sw, at);
    attr_str(&a, "langfuse.observation.metadata", sllmp_buf_cstr(scratch));
    trace_attrs(&a, rec, p);
    span_tail(w, level, error);
    free(error);
}

static int
otel_once(cJSON *rec, w_t *w)
{
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(rec, "attempts");
    const cJSON *at;
    sllmp_buf_t scratch;
    prep_t p;
    int n = 1;

    prep_init(rec, &p);
    sllmp_buf_init(&scratch, 0);
    otel_generation(w, rec, &p);
    cJSON_ArrayForEach(at, attempts)
    {
        put(w, ",", 1);
        otel_attempt(w, rec, at, &p, &scratch);
        n++;
    }
    sllmp_buf_free(&scratch);
    prep_free(&p);
    return n;
}

typedef int convert_f(cJSON *rec, w_t *w);

/*
 * Converts, then cuts what is longer than keep (input, output, the members of metadata and
 * params; see sllmp_langfuse_cut) and converts again while it is too big, halving keep each
 * time: the longest parts are cut first and a part shorter than the final keep stays whole,
 * whichever part it is that makes the record big. What does not fit even at MIN_CUT_KEEP (huge
 * tags, names, a model) stays in out as it is, longer than max_bytes: the caller decides.
 */
static int
convert_fitting(cJSON *rec, size_t max_bytes, sllmp_buf_t *out, convert_f *fn)
{
    size_t start = out->len;
    size_t keep = max_bytes / 2;
    w_t w = {out, 0};
    int n = fn(rec, &w);

    while (!w.err && out->len - start > max_bytes && keep > MIN_CUT_KEEP) {
        keep /= 2;
        if (sllmp_langfuse_cut(rec, keep) == 0) {
            continue; /* nothing that long: cut shorter (at MIN_CUT_KEEP it goes as it is) */
        }
        out->len = start;
        out->ptr[start] = '\0';
        n = fn(rec, &w);
    }
    if (w.err) {
        out->len = start;
        if (out->ptr != NULL) {
            out->ptr[start] = '\0';
        }
        return -1;
    }
    return n;
}

int
sllmp_langfuse_otel_spans(cJSON *rec, size_t max_bytes, sllmp_buf_t *out)
{
    return convert_fitting(rec, max_bytes, out, otel_once);
}

int
sllmp_langfuse_otel_open(sllmp_buf_t *out)
{
    return sllmp_buf_appends(
        out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
             "\"value\":{\"stringValue\":\"sllmp\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
             "\"sllmp\",\"version\":\"" SLLMP_VERSION "\"},\"spans\":[");
}

int
sllmp_langfuse_otel_close(sllmp_buf_t *out)
{
    return sllmp_buf_appends(out, "]}]}]}");
}

/* ---------------------------------------------------------------- legacy */

static void
event_head(w_t *w, const char *obs_id, const char *type, const char *ts)
{
    puts_(w, "{\"id\":\"");
    puts_(w, obs_id);
    put(w, "-", 1);
    puts_(w, type);
    puts_(w, "\",\"type\":\"");
    puts_(w, type);
    puts_(w, "\",\"timestamp\":\"");
    puts_(w, ts);
    puts_(w, "\",\"body\":{");
}

static void
map_time(w_t *w, int *first, const char *key, int64_t us)
{
    char iso[32];

    sllmp_langfuse_iso(us, 6, iso);
    map_str(w, first, key, iso);
}

/* input/output in a legacy body: the JSON itself, or a cut string as a string. */
static void
map_io(w_t *w, int *first, const char *key, const char *text, int is_str)
{
    if (text == NULL) {
        return;
    }
    if (is_str) {
        map_str(w, first, key, text);
    } else {
        map_raw(w, first, key, text);
    }
}

static void
legacy_trace(w_t *w, const cJSON *rec, const prep_t *p, const char *ts)
{
    int joined = rtrue(rec, "trace_joined");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(rec, "tags");
    int first = 1;

    event_head(w, rstr(rec, "span_id"), "trace-create", ts);
    map_str(w, &first, "id", rstr(rec, "trace_id"));
    if (!joined) {
        /* a joined trace is the client's: its time and name are theirs */
        const char *name = rstr(rec, "trace_name");

        map_time(w, &first, "timestamp", rec_int(rec, "start_us", 0));
        map_strn(w, &first, "name", name, trace_name_len(name));
    }
    map_str(w, &first, "userId", rstr(rec, "user"));
    map_str(w, &first, "sessionId", rstr(rec, "session"));
    map_str(w, &first, "release", rstr(rec, "release"));
    map_str(w, &first, "version", rstr(rec, "version"));
    map_str(w, &first, "environment", rstr(rec, "environment"));
    if (cJSON_GetArraySize(tags) > 0) {
        const cJSON *t;
        int tfirst = 1;

        puts_(w, ",\"tags\":[");
        cJSON_ArrayForEach(t, tags)
        {
            if (cJSON_IsString(t)) {
                if (!tfirst) {
                    put(w, ",", 1);
                }
                qstr(w, t->valuestring);
                tfirst = 0;
            }
        }
        put(w, "]", 1);
    }
    if (p->tmeta != NULL) {
        map_raw(w, &first, "metadata", p->tmeta);
    }
    if (!joined) {
        map_io(w, &first, "input", p->input, p->input_str);
        map_io(w, &first, "output", p->output, p->output_str);
    }
    puts_(w, "}}");
}

static void
legacy_generation(w_t *w, const cJSON *rec, const prep_t *p, const char *ts)
{
    int64_t start = rec_int(rec, "start_us", 0);
    const char *model = rstr(rec, "upstream_model");
    const char *level = rstr(rec, "level");
    const char *name = rstr(rec, "name");
    int first = 1;

    if (model == NULL) {
        model = rstr(rec, "response_model") ? rstr(rec, "response_model") : rstr(rec, "model");
    }
    event_head(w, rstr(rec, "span_id"), "generation-create", ts);
    map_str(w, &first, "id", rstr(rec, "span_id"));
    map_str(w, &first, "traceId", rstr(rec, "trace_id"));
    map_str(w, &first, "parentObservationId", rstr(rec, "parent_span_id"));
    map_str(w, &first, "name", name ? name : "chat.completions");
    map_time(w, &first, "startTime", start);
    map_time(w, &first, "endTime", end_of(rec, start));
    if (rec_int(rec, "first_token_us", -1) >= 0) {
        map_time(w, &first, "completionStartTime", rec_int(rec, "first_token_us", 0));
    }
    map_str(w, &first, "model", model);
    if (p->params != NULL) {
        map_raw(w, &first, "modelParameters", p->params);
    }
    map_io(w, &first, "input", p->input, p->input_str);
    map_io(w, &first, "output", p->output, p->output_str);
    map_raw(w, &first, "usageDetails", sllmp_buf_cstr(&p->usage));
    if (p->cost.len > 0) {
        map_raw(w, &first, "costDetails", sllmp_buf_cstr(&p->cost));
    }
    map_str(w, &first, "level", level ? level : "DEFAULT");
    map_str(w, &first, "statusMessage", rstr(rec, "status_message"));
    map_raw(w, &first, "metadata", sllmp_buf_cstr(&p->gmeta));
    map_str(w, &first, "version", rstr(rec, "version"));
    map_str(w, &first, "environment", rstr(rec, "environment"));
    puts_(w, "}}");
}

static void
legacy_attempt(w_t *w, const cJSON *rec, const cJSON *at, const char *ts)
{
    int64_t start = rec_int(at, "start_us", rec_int(rec, "start_us", 0));
    const char *level = rstr(at, "level");
    const char *name = rstr(at, "name");
    char *error = attempt_error(at);
    int first = 1;

    event_head(w, rstr(at, "span_id"), "span-create", ts);
    map_str(w, &first, "id", rstr(at, "span_id"));
    map_str(w, &first, "traceId", rstr(rec, "trace_id"));
    map_str(w, &first, "parentObservationId", rstr(rec, "span_id"));
    map_str(w, &first, "name", name ? name : "upstream");
    map_time(w, &first, "startTime", start);
    map_time(w, &first, "endTime", end_of(at, start));
    map_str(w, &first, "level", level ? level : "DEFAULT");
    map_str(w, &first, "statusMessage", error);
    puts_(w, ",\"metadata\":");
    attempt_meta(w, at);
    map_str(w, &first, "environment", rstr(rec, "environment"));
    puts_(w, "}}");
    free(error);
}

static int
legacy_once(cJSON *rec, w_t *w)
{
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(rec, "attempts");
    const cJSON *at;
    char ts[32];
    prep_t p;
    int n = 2;

    prep_init(rec, &p);
    sllmp_langfuse_iso(end_of(rec, rec_int(rec, "start_us", 0)), 3, ts);
    legacy_trace(w, rec, &p, ts);
    put(w, ",", 1);
    legacy_generation(w, rec, &p, ts);
    cJSON_ArrayForEach(at, attempts)
    {
        put(w, ",", 1);
        legacy_attempt(w, rec, at, ts);
        n++;
    }
    prep_free(&p);
    return n;
}

int
sllmp_langfuse_legacy_events(cJSON *rec, size_t max_bytes, sllmp_buf_t *out)
{
    return convert_fitting(rec, max_bytes, out, legacy_once);
}

int
sllmp_langfuse_legacy_open(sllmp_buf_t *out)
{
    return sllmp_buf_appends(out, "{\"batch\":[");
}

int
sllmp_langfuse_legacy_close(sllmp_buf_t *out, size_t nevents)
{
    return sllmp_buf_printf(out,
                            "],\"metadata\":{\"batch_size\":%zu,\"sdk_name\":\"sllmp\","
                            "\"sdk_version\":\"" SLLMP_VERSION "\"}}",
                            nevents);
}

/* ---------------------------------------------------------------- auth */

char *
sllmp_langfuse_auth_header(const char *public_key, const char *secret_key)
{
    static const char prefix[] = "Authorization: Basic ";
    size_t pl = strlen(public_key), sl = strlen(secret_key);
    size_t n = pl + 1 + sl;
    unsigned char *pair = sllmp_xmalloc(n);
    char *out = sllmp_xmalloc(sizeof(prefix) + 4 * ((n + 2) / 3) + 1);

    memcpy(pair, public_key, pl);
    pair[pl] = ':';
    memcpy(pair + pl + 1, secret_key, sl);
    memcpy(out, prefix, sizeof(prefix) - 1);
    EVP_EncodeBlock((unsigned char *)out + sizeof(prefix) - 1, pair, (int)n);
    explicit_bzero(pair, n);
    free(pair);
    return out;
}
