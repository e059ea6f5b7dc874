/*
 * A hostile or broken OpenAI-compatible upstream: whole requests through sllmp_handle() with the
 * in-memory fake io of tests/unit/harness.h, to an `openai/` deployment whose api_base is a
 * canned HTTP server on a loopback socket in a thread of this process (127.0.0.1, an ephemeral
 * port, one connection at a time), which answers with the fuzzed bytes and closes.
 *
 * A socket rather than the parsers driven directly: the whole path is the target (libcurl's
 * framing and header callback, the Retry-After and x-ratelimit-* pass-through, the status
 * mapping of sllmp_upstream_fail, the SSE parser, the on_chunk filters, post, the error writer
 * and the trace record), and one loopback connection per input still runs well over a thousand
 * inputs a second.
 *
 * Input: byte 0 is the client's request: bits 0-1 the endpoint (chat twice, embeddings, legacy
 * completions), bit 2 "stream": true, bits 3-4 stream_options (none, include_usage true, false,
 * null), bit 5 the config with sllmp.buffer_streams, bit 6 the deployment captured as
 * `metadata` instead of `full`, bit 7 a client that leaves after 1-3 flushes (byte 1's high
 * bits). Byte 1 (low 5 bits) is the upstream's status line from a fixed list (200 most often;
 * 400, 401, 403, 404, 418, 422, 429 with or without Retry-After / retry-after-ms, 408, 500,
 * 502, 503, 529, 201, 204, 302, 100 Continue then 200, HTTP/1.0 200, a 200 with x-ratelimit
 * headers), or 31: the rest of the input is the whole raw response, status line and headers
 * included. Byte 2: bits 0-1 the Content-Type (JSON, SSE, none, SSE with a charset), bits 2-3
 * the framing (Content-Length, one chunk, chunks of 3-24 bytes (bits 4-6), close-delimited),
 * bit 7 the body written in pieces, one per SSE event, a little apart. The rest is the body.
 * One answer goes through before the first input, so that every input runs on an easy handle
 * that already did a transfer, as in a worker.
 *
 * Properties of the client's answer: it starts with "Status: NNN", one head of header lines
 * without stray CR, LF or NUL, a right Content-Length; the status fits the upstream's as
 * docs/internals/http-contract.md says (4xx the same but 401/403 -> 502 provider_auth_error
 * without the upstream's words, 408 -> 504, 429 -> 429 with the upstream's Retry-After and
 * retry-after-ms, 529 -> 503, other 5xx and 3xx -> 502, a 2xx -> 200 or 502); "JSON" below is
 * one value and nothing after it but whitespace, as src/http.c asks of a request; a 200 JSON
 * answer is the upstream's body byte for byte and a JSON object; an error is OpenAI-shaped; a
 * stream is a 200 that ends with [DONE], with only single-line JSON events, each as the
 * upstream sent it or printed again, comments, and at most one error event (the last) before
 * it; on a stream that did not fail the cost comment comes just before [DONE]; a usage-only
 * chunk (choices []) reaches the client only when it asked for include_usage; x-sllmp-cost-usd,
 * header or comment, is a non-negative decimal. The upstream got the deployment's model, its
 * key, and include_usage on a stream. The provider key and the master key never appear in the
 * client's answer unless the upstream's own bytes spelled them (an answer goes out as the
 * provider wrote it) and never after a 401/403. Exactly one trace record per request: JSON,
 * with neither key in any string or member name whatever the upstream said, the client's
 * status (unless it left), its stream flag, no input or output when captured as metadata,
 * usage and cost never negative, and the cost the client was told.
 */
#include "fuzz.h"
#include "fuzz_io.h"
#include "../http_peer.h"
#include "sllmp/conf.h"
#include "sllmp/core.h"
#include "sllmp/req.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define MASTER_KEY   "sk-fuzz-master-0123456789"
#define PROVIDER_KEY "sk-upstream-secret-0123456789"

static const char *const keys[] = {MASTER_KEY, PROVIDER_KEY};

static const char conf_text[] =
    "model_list:\n"
    "  - model_name: up\n"
    "    litellm_params: {model: openai/up-model, api_base: \"http://127.0.0.1:%d/v1\",\n"
    "                     api_key: " PROVIDER_KEY "}\n"
    "    model_info: {input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}\n"
    "  - model_name: upmeta\n"
    "    litellm_params: {model: openai/up-model, api_base: \"http://127.0.0.1:%d/v1\",\n"
    "                     api_key: " PROVIDER_KEY "}\n"
    "    model_info: {input_cost_per_token: 0.5, output_cost_per_token: 0.25, capture: metadata}\n"
    "general_settings: {master_key: " MASTER_KEY "}\n"
    "router_settings: {num_retries: 0}\n"
    "sllmp:\n"
    "  spool: {dir: %s/spool, fsync: false}\n"
    "  langfuse: {capture: full}\n"
    "  access_log: off\n"
    "  timeouts: {connect_ms: 1000, first_byte_ms: 1500, idle_ms: 1500, total_ms: 3000}\n"
    "%s";

/* ------------------------------------------------------------------ the canned upstream */

typedef struct {
    int code;         /* what the client should see follows from it; 0: raw */
    const char *head; /* status line and extra header lines, each ending in CRLF */
    int http10;       /* no chunked framing under HTTP/1.0 */
} status_t;

static const status_t statuses[32] = {
    {200, "HTTP/1.1 200 OK\r\n", 0},
    {200, "HTTP/1.1 200 OK\r\n", 0},
    {200, "HTTP/1.1 200 OK\r\n", 0},
    {200, "HTTP/1.1 200 OK\r\n", 0},
    {200, "HTTP/1.1 200 OK\r\n", 0},
    {200, "HTTP/1.1 200 OK\r\n", 0},
    {200, "HTTP/1.1 200 OK\r\n", 0},
    {200, "HTTP/1.1 200 OK\r\n", 0},
    {200, "HTTP/1.1 200 OK\r\n", 0},
    {200, "HTTP/1.1 200\r\n", 0},
    {400, "HTTP/1.1 400 Bad Request\r\n", 0},
    {401, "HTTP/1.1 401 Unauthorized\r\n", 0},
    {403, "HTTP/1.1 403 Forbidden\r\n", 0},
    {404, "HTTP/1.1 404 Not Found\r\n", 0},
    {422, "HTTP/1.1 422 Unprocessable Entity\r\n", 0},
    {429, "HTTP/1.1 429 Too Many Requests\r\n", 0},
    {429, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n", 0},
    {429, "HTTP/1.1 429 Too Many Requests\r\nretry-after-ms: 1500\r\n", 0},
    {429, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nretry-after-ms: 2500\r\n", 0},
    {500, "HTTP/1.1 500 Internal Server Error\r\n", 0},
    {502, "HTTP/1.1 502 Bad Gateway\r\n", 0},
    {503, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n", 0},
    {529, "HTTP/1.1 529 Overloaded\r\n", 0},
    {408, "HTTP/1.1 408 Request Timeout\r\n", 0},
    {418, "HTTP/1.1 418 I'm a teapot\r\n", 0},
    {201, "HTTP/1.1 201 Created\r\n", 0},
    {204, "HTTP/1.1 204 No Content\r\n", 0},
    {302, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\n", 0},
    {200, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 0},
    {200, "HTTP/1.0 200 OK\r\n", 1},
    {200,
     "HTTP/1.1 200 OK\r\nx-ratelimit-remaining-requests: 99\r\n"
     "x-ratelimit-reset-tokens: 6m0s\r\n",
     0},
    {0, NULL, 0},
};

static const char *const ctypes[4] = {"Content-Type: application/json\r\n",
                                      "Content-Type: text/event-stream\r\n", "",
                                      "Content-Type: text/event-stream; charset=utf-8\r\n"};

static int up_port;
static pthread_mutex_t up_lock = PTHREAD_MUTEX_INITIALIZER;

/* What the next connection gets (a copy per connection: an old one may still be writing). */
static sllmp_buf_t up_resp;
static int up_split; /* one write per SSE event, a little apart */
static unsigned up_gen;

/* The last request the upstream read, and the input it was read for. */
static sllmp_buf_t up_req;
static unsigned up_req_gen;

static void
serve(int fd)
{
    char req[65536];
    size_t len = peer_read_request(fd, req, sizeof(req));
    sllmp_buf_t resp;
    unsigned gen;
    int split;

    if (len == 0) {
        return;
    }
    pthread_mutex_lock(&up_lock);
    gen = up_gen;
    split = up_split;
    sllmp_buf_init(&resp, 0);
    sllmp_buf_append(&resp, up_resp.ptr, up_resp.len);
    sllmp_buf_reset(&up_req);
    sllmp_buf_append(&up_req, req, len);
    up_req_gen = gen;
    pthread_mutex_unlock(&up_lock);

    if (!split) {
        peer_send(fd, resp.ptr, resp.len);
    } else {
        /* up to 8 pieces, cut after a blank line, 200 us apart */
        const char *p = resp.ptr, *stop = resp.ptr + resp.len;

        for (int i = 0; i < 8 && p < stop; i++) {
            const char *e = memmem(p, (size_t)(stop - p), "\n\n", 2);
            size_t n = e != NULL && i < 7 ? (size_t)(e + 2 - p) : (size_t)(stop - p);
            struct timespec ts = {0, 200 * 1000L};

            peer_send(fd, p, n);
            p += n;
            nanosleep(&ts, NULL);
        }
    }
    sllmp_buf_free(&resp);
    shutdown(fd, SHUT_WR);
}

static void
upstream_start(void)
{
    pthread_t t;

    sllmp_buf_init(&up_resp, 0);
    sllmp_buf_init(&up_req, 0);
    up_port = peer_start(serve, &t);
    if (up_port == 0) {
        abort();
    }
    pthread_detach(t);
}

/* ------------------------------------------------------------------------------ setup */

static void
init(void)
{
    char flushed[4096], held[4096];

    stack_dir();
    upstream_start();
    snprintf(flushed, sizeof(flushed), conf_text, up_port, up_port, rundir, "");
    snprintf(held, sizeof(held), conf_text, up_port, up_port, rundir, "  buffer_streams: true\n");
    stack_start(flushed, held);
}

/* ------------------------------------------------------------------------------ checks */

/* What the client saw, for the trace record to agree with. */
typedef struct {
    int status;
    int gone;
    int stream;
    int meta;      /* captured as metadata: no input, no output */
    char cost[64]; /* x-sllmp-cost-usd, header or comment; "" when none */
} seen_t;

static seen_t seen;

/* One JSON value and nothing after it but whitespace (what a client's parser takes, and what
 * src/http.c asks of a request), or NULL. */
static cJSON *
json_whole(const char *s, size_t n)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);

    while (j != NULL && end < s + n && *end != '\0' && strchr(" \t\r\n", *end) != NULL) {
        end++;
    }
    if (j != NULL && end != s + n) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static void
check_secrets(const cJSON *j)
{
    for (; j != NULL; j = j->next) {
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            fuzz_check(j->string == NULL || strstr(j->string, keys[i]) == NULL);
            fuzz_check(!cJSON_IsString(j) || strstr(j->valuestring, keys[i]) == NULL);
        }
        check_secrets(j->child);
    }
}

/* A record agrees with the answer: its status, stream, capture; usage and cost never negative,
 * and the cost the client was told. */
static void
check_record(const cJSON *rec)
{
    static const char *const buckets[5] = {"input", "cache_read", "cache_write", "output",
                                           "reasoning"};
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(rec, "usage");
    const cJSON *cost = cJSON_GetObjectItemCaseSensitive(rec, "cost");

    if (!seen.gone) {
        fuzz_check(fuzz_num(rec, "status") == seen.status);
    }
    fuzz_check(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "stream")) == seen.stream);
    if (seen.meta) {
        fuzz_check(cJSON_GetObjectItemCaseSensitive(rec, "input") == NULL);
        fuzz_check(cJSON_GetObjectItemCaseSensitive(rec, "output") == NULL);
    }
    for (int i = 0; i < 5; i++) {
        fuzz_check(fuzz_num(usage, buckets[i]) >= 0);
        fuzz_check(fuzz_num(cost, buckets[i]) >= 0);
    }
    if (seen.cost[0] != '\0') {
        double told = strtod(seen.cost, NULL), total = fuzz_num(cost, "total");

        fuzz_check(total >= 0);
        fuzz_check(told - total <= 1e-10 + 1e-9 * total && total - told <= 1e-10 + 1e-9 * total);
    }
}

/* The trace records: exactly one, JSON, no key in it. Removed. */
static void
check_spool(int want)
{
    DIR *d = opendir(spool_new);
    sllmp_buf_t b;
    int n = 0;

    while (spool_take(d, &b)) {
        n++;
        cJSON *rec = json_whole(b.ptr, b.len);

        fuzz_check(rec != NULL);
        check_secrets(rec);
        check_record(rec);
        cJSON_Delete(rec);
        sllmp_buf_free(&b);
    }
    if (d != NULL) {
        closedir(d);
    }
    fuzz_check(n == want);
}

/* USD as cost writes it: digits, at most one point, no sign, no exponent. */
static void
check_usd(const char *s, size_t n)
{
    int points = 0;

    fuzz_check(n > 0 && s[0] != '.');
    for (size_t i = 0; i < n; i++) {
        fuzz_check((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && ++points == 1));
    }
}

static const char *
error_code(const cJSON *j)
{
    const cJSON *c =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "code");

    return cJSON_IsString(c) ? c->valuestring : "";
}

typedef struct {
    int stream;       /* the client asked for a stream */
    int wants_usage;  /* ... with stream_options.include_usage */
    int gone;         /* the client leaves mid-answer */
    int code;         /* the upstream's status, 0 when raw */
    const char *body; /* the upstream's body (raw: the whole response) */
    size_t blen;
} expect_t;

/* A stream: [DONE] last, before it JSON events as the upstream sent them, comments, and at
 * most one error event, last; the cost comment before [DONE] when nothing failed. */
static void
check_stream(const expect_t *x, const char *body, size_t len)
{
    static const char done[] = "data: [DONE]\n\n";
    static const char cost[] = ": x-sllmp-cost-usd ";
    const char *p = body, *end = body + len;
    const char *last_comment = NULL;
    int errors = 0;

    fuzz_check(len >= sizeof(done) - 1 && memcmp(end - 14, done, 14) == 0);
    end -= 14;
    while (p < end) {
        const char *e = memmem(p, (size_t)(end - p), "\n\n", 2);

        fuzz_check(e != NULL);
        fuzz_check(errors == 0); /* nothing after an error event but [DONE] */
        if (*p == ':') {
            fuzz_check(memchr(p, '\n', (size_t)(e - p)) == NULL);
            last_comment = p;
            if ((size_t)(e - p) > sizeof(cost) - 1 && memcmp(p, cost, sizeof(cost) - 1) == 0) {
                check_usd(p + sizeof(cost) - 1, (size_t)(e - p) - (sizeof(cost) - 1));
                snprintf(seen.cost, sizeof(seen.cost), "%.*s",
                         (int)((size_t)(e - p) - (sizeof(cost) - 1)), p + sizeof(cost) - 1);
            }
            p = e + 2;
            continue;
        }
        fuzz_check(strncmp(p, "data: ", 6) == 0);
        last_comment = NULL;
        /* one line of JSON */
        fuzz_check(memchr(p, '\n', (size_t)(e - p)) == NULL);
        fuzz_check(memchr(p, '\r', (size_t)(e - p)) == NULL);
        cJSON *j = json_whole(p + 6, (size_t)(e - p - 6));
        const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");

        fuzz_check(j != NULL);
        if (cJSON_GetObjectItemCaseSensitive(j, "error") != NULL) {
            check_error_json(j);
            errors++;
        } else {
            /* a chunk goes on as the upstream wrote it, or printed again on one line */
            char *again = cJSON_PrintUnformatted(j);

            fuzz_check(
                x->code == 0 || memmem(x->body, x->blen, p + 6, (size_t)(e - p - 6)) ||
                (strlen(again) == (size_t)(e - p - 6) && memcmp(again, p + 6, strlen(again)) == 0));
            cJSON_free(again);
        }
        if (cJSON_IsArray(choices) && cJSON_GetArraySize(choices) == 0 && errors == 0) {
            /* the usage-only chunk, and only when the client asked for it */
            fuzz_check(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "usage")));
            fuzz_check(x->wants_usage);
        }
        cJSON_Delete(j);
        p = e + 2;
    }
    if (errors == 0 && !x->gone) {
        fuzz_check(last_comment != NULL && strncmp(last_comment, cost, sizeof(cost) - 1) == 0);
    }
}

/* The status the client gets for the upstream's, when nothing else went wrong. */
static void
check_status(const expect_t *x, int status, const cJSON *j, const char *head, size_t hlen)
{
    char v[64];
    int s = x->code;

    if (s >= 200 && s < 300) {
        fuzz_check(status == 200 || status == 502);
        if (status == 502) {
            fuzz_check(strcmp(error_code(j), "provider_error") == 0);
        }
    } else if (s == 401 || s == 403) {
        fuzz_check(status == 502 && strcmp(error_code(j), "provider_auth_error") == 0);
    } else if (s == 408) {
        fuzz_check(status == 504);
    } else if (s == 429) {
        fuzz_check(status == 429);
    } else if (s == 529) {
        fuzz_check(status == 503);
        fuzz_check(header(head, hlen, "Retry-After", v, sizeof(v)) != NULL);
    } else if (s >= 400 && s < 500) {
        fuzz_check(status == s);
    } else {
        fuzz_check(status == 502 && strcmp(error_code(j), "provider_error") == 0);
    }
}

static void
check_output(const expect_t *x, const status_t *st, const fake_io_t *f)
{
    const char *out = f->out.ptr;
    size_t len = f->out.len;
    const char *resp;
    size_t hlen, rlen;
    char ctype[128], clen[64], v[128];
    int status;

    status = split_output(out, len, &hlen, &resp, &rlen);
    seen.status = status;
    /* one head: its lines are "Name: value" with no CR, LF or NUL of their own */
    for (const char *p = out; p < out + hlen;) {
        const char *eol = memmem(p, (size_t)(out + hlen - p), "\r\n", 2);

        fuzz_check(eol != NULL);
        fuzz_check(memchr(p, '\r', (size_t)(eol - p)) == NULL);
        fuzz_check(memchr(p, '\n', (size_t)(eol - p)) == NULL);
        fuzz_check(memmem(p, (size_t)(eol - p), ": ", 2) != NULL);
        p = eol + 2;
    }

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        /* an answer goes out as the upstream wrote it (JSON escapes can spell a key in other
         * letters); never after a 401/403, whose words may quote the gateway's key */
        if ((x->code != 0 && !has(x->body, x->blen, keys[i]) &&
             memchr(x->body, '\\', x->blen) == NULL) ||
            x->code == 401 || x->code == 403) {
            fuzz_check(!has(out, len, keys[i]));
        }
    }
    if (header(out, hlen, "x-sllmp-cost-usd", v, sizeof(v)) != NULL) {
        check_usd(v, strlen(v));
        snprintf(seen.cost, sizeof(seen.cost), "%s", v);
    }
    if (header(out, hlen, "Content-Length", clen, sizeof(clen)) != NULL && !x->gone) {
        fuzz_check(strtoull(clen, NULL, 10) == rlen);
    }
    fuzz_check(header(out, hlen, "Content-Type", ctype, sizeof(ctype)) != NULL || x->gone);
    if (x->gone) {
        /* a client that left gets whatever had gone out; the checks above still hold */
        return;
    }
    if (strcmp(ctype, "text/event-stream") == 0) {
        fuzz_check(status == 200 && x->stream);
        if (x->code != 0) {
            fuzz_check(x->code >= 200 && x->code < 300);
        }
        check_stream(x, resp, rlen);
        return;
    }
    fuzz_check(strcmp(ctype, "application/json") == 0);
    cJSON *j = json_whole(resp, rlen);

    fuzz_check(j != NULL);
    if (status == 200) {
        /* the answer as the provider wrote it, and a JSON object */
        fuzz_check(!x->stream);
        fuzz_check(cJSON_IsObject(j));
        if (x->code != 0) {
            fuzz_check(x->code >= 200 && x->code < 300);
            fuzz_check(rlen == x->blen && memcmp(resp, x->body, rlen) == 0);
        }
        fuzz_check(header(out, hlen, "x-sllmp-cost-usd", v, sizeof(v)) != NULL);
    } else {
        check_error_json(j);
        fuzz_check(status >= 400);
        if (x->code != 0) {
            check_status(x, status, j, out, hlen);
        }
    }
    if (x->code == 429 && status == 429) {
        /* the upstream's Retry-After and retry-after-ms, and one derived from the ms alone */
        const char *ra = strstr(st->head, "Retry-After: ");
        const char *ms = strstr(st->head, "retry-after-ms: ");

        if (ra != NULL) {
            fuzz_check(header(out, hlen, "Retry-After", v, sizeof(v)) != NULL);
            fuzz_check(strncmp(v, ra + 13, strlen(v)) == 0 && ra[13 + strlen(v)] == '\r');
        } else if (ms != NULL) {
            fuzz_check(header(out, hlen, "Retry-After", v, sizeof(v)) != NULL);
            fuzz_check(strcmp(v, "2") == 0);
        }
        if (ms != NULL) {
            fuzz_check(header(out, hlen, "retry-after-ms", v, sizeof(v)) != NULL);
            fuzz_check(strncmp(v, ms + 16, strlen(v)) == 0 && ms[16 + strlen(v)] == '\r');
        }
    }
    cJSON_Delete(j);
}

/* What the upstream was sent: the deployment's model and key, usage asked for on a stream. */
static void
check_request(unsigned gen, const char *path, int stream, int embeddings)
{
    const char *body;
    cJSON *j;

    pthread_mutex_lock(&up_lock);
    if (up_req_gen != gen) {
        pthread_mutex_unlock(&up_lock);
        return;
    }
    const char *req = sllmp_buf_cstr(&up_req);

    fuzz_check(strncmp(req, "POST ", 5) == 0 && strncmp(req + 5, path, strlen(path)) == 0);
    fuzz_check(strstr(req, "\r\nAuthorization: Bearer " PROVIDER_KEY "\r\n") != NULL);
    fuzz_check(strstr(req, MASTER_KEY) == NULL);
    body = strstr(req, "\r\n\r\n");
    fuzz_check(body != NULL);
    j = cJSON_Parse(body + 4);
    fuzz_check(j != NULL);
    fuzz_check(strcmp(cJSON_GetObjectItemCaseSensitive(j, "model")->valuestring, "up-model") == 0);
    if (stream && !embeddings) {
        fuzz_check(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "stream_options"), "include_usage")));
    }
    cJSON_Delete(j);
    pthread_mutex_unlock(&up_lock);
}

/* ------------------------------------------------------------------------------- input */

/* The upstream's whole answer into up_resp: head, Content-Type, framing, body. */
static void
make_response(const status_t *st, unsigned sel, const char *body, size_t blen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned framing = (sel >> 2) & 3;
    char line[64];

    sllmp_buf_reset(&up_resp);
    if (st->head == NULL) {
        sllmp_buf_append(&up_resp, body, blen);
        return;
    }
    if (st->http10 && (framing == 1 || framing == 2)) {
        framing = 0;
    }
    sllmp_buf_appends(&up_resp, st->head);
    sllmp_buf_appends(&up_resp, ctypes[sel & 3]);
    sllmp_buf_appends(&up_resp, "Connection: close\r\n");
    switch (framing) {
    case 0:
        snprintf(line, sizeof(line), "Content-Length: %zu\r\n\r\n", blen);
        sllmp_buf_appends(&up_resp, line);
        sllmp_buf_append(&up_resp, body, blen);
        break;
    case 1:
    case 2: {
        size_t step = framing == 1 ? (blen > 0 ? blen : 1) : 3 * (1 + ((sel >> 4) & 7));

        sllmp_buf_appends(&up_resp, "Transfer-Encoding: chunked\r\n\r\n");
        for (size_t i = 0; i < blen; i += step) {
            size_t n = blen - i < step ? blen - i : step;
            char h[20];
            int k = 0;

            for (int sh = 28; sh >= 0; sh -= 4) {
                if ((n >> sh) != 0 || sh == 0 || k > 0) {
                    h[k++] = hex[(n >> sh) & 15];
                }
            }
            sllmp_buf_append(&up_resp, h, (size_t)k);
            sllmp_buf_append(&up_resp, "\r\n", 2);
            sllmp_buf_append(&up_resp, body + i, n);
            sllmp_buf_append(&up_resp, "\r\n", 2);
        }
        sllmp_buf_appends(&up_resp, "0\r\n\r\n");
        break;
    }
    default:
        sllmp_buf_appends(&up_resp, "\r\n");
        sllmp_buf_append(&up_resp, body, blen);
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    static const char *const paths[4] = {"/v1/chat/completions", "/v1/chat/completions",
                                         "/v1/embeddings", "/v1/completions"};
    static const char *const ups[4] = {"/v1/chat/completions", "/v1/chat/completions",
                                       "/v1/embeddings", "/v1/completions"};
    static const char *const sos[4] = {"", ",\"stream_options\":{\"include_usage\":true}",
                                       ",\"stream_options\":{\"include_usage\":false}",
                                       ",\"stream_options\":null"};
    const char *params[16];
    char req[512];
    unsigned ep, so;
    int stream, held, meta, np = 0;
    const status_t *st;
    expect_t x;
    fake_io_t f;
    sllmp_io_t io;
    unsigned gen;

    if (!inited) {
        /* one answer first: every input then runs on an easy handle that already did a
         * transfer, as a worker's does (libcurl before 8.1.0 kept a stale pointer from it) */
        static const char warm[] = "\0\0\0{}";

        init();
        inited = 1;
        LLVMFuzzerTestOneInput((const uint8_t *)warm, sizeof(warm) - 1);
    }
    if (size < 3) {
        return 0;
    }
    ep = data[0] & 3;
    stream = (data[0] >> 2) & 1;
    so = (data[0] >> 3) & 3;
    held = (data[0] >> 5) & 1;
    meta = (data[0] >> 6) & 1;
    st = &statuses[data[1] & 31];
    if (!stream || ep == 2) {
        so = 0; /* stream_options without a stream is the client's mistake, not the upstream's */
    }
    if (ep == 2) {
        stream = 0;
    }
    snprintf(req, sizeof(req), "{\"model\":\"%s\",%s%s%s}", meta ? "upmeta" : "up",
             ep == 2   ? "\"input\":\"hello\""
             : ep == 3 ? "\"prompt\":\"hello\""
                       : "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]",
             stream ? ",\"stream\":true" : "", sos[so]);

    x.stream = stream;
    x.wants_usage = so == 1;
    x.code = st->code;
    x.body = (const char *)data + 3;
    x.blen = size - 3;

    pthread_mutex_lock(&up_lock);
    gen = ++up_gen;
    up_split = (data[2] >> 7) & 1;
    make_response(st, data[2], x.body, x.blen);
    pthread_mutex_unlock(&up_lock);

    params[np++] = "REQUEST_METHOD";
    params[np++] = "POST";
    params[np++] = "REQUEST_URI";
    params[np++] = paths[ep];
    params[np++] = "HTTP_AUTHORIZATION";
    params[np++] = "Bearer " MASTER_KEY;
    params[np++] = "SLLMP_CONFIG";
    params[np++] = conf_paths[held];
    params[np++] = "REMOTE_ADDR";
    params[np++] = "127.0.0.1";
    params[np] = NULL;
    fake_init(&f, &io, params, req);
    if (data[0] & 128) {
        f.gone_after_flushes = 1 + (data[1] >> 5) % 3;
    }
    sllmp_handle(&io, worker);
    x.gone = f.gone_after_flushes > 0 && f.flushes >= f.gone_after_flushes;
    memset(&seen, 0, sizeof(seen));
    seen.gone = x.gone;
    seen.stream = stream;
    seen.meta = meta;
    if (getenv("FUZZ_SHOW") != NULL) { /* FUZZ_SHOW=1 fuzz_upstream FILE: what went where */
        fprintf(stderr, "---- upstream:\n%.*s\n---- client:\n%.*s\n", (int)up_resp.len, up_resp.ptr,
                (int)f.out.len, f.out.ptr);
    }
    check_output(&x, st, &f);
    check_request(gen, ups[ep], stream, ep == 2);
    check_spool(1);
    sllmp_buf_free(&f.out);
    return 0;
}
