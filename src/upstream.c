/*
 * Upstream HTTP through libcurl (see include/sllmp/upstream.h and deployment.md §6).
 *
 * Each accept thread owns one multi handle, whose connection cache keeps connections alive,
 * and one easy handle, reused (a new one per transfer with libcurl before 8.1.0, whose reuse
 * can write to freed memory: see sllmp_upstream_run); DNS and TLS session caches are shared by
 * the process through a share handle (never connections: libcurl does not support sharing
 * those across threads).
 *
 * Time limits: CURLOPT_CONNECTTIMEOUT_MS for the handshake; first byte and idle limits are
 * checked between waits (the thread drives its easy handle through its own multi handle and
 * waits at most TICK_MS at a time) against the time data last arrived; CURLOPT_TIMEOUT_MS only
 * as the overall cap. The same check sends SSE heartbeats to a streaming client that has been
 * sent nothing for heartbeat_ms (upstream bytes it never gets, such as keep-alive comments and
 * Anthropic's pings, do not count) and asks the front whether the client is still there, so a
 * departed client stops the upstream within TICK_MS even while no token flows.
 */
#include "sllmp/upstream.h"
#include "sllmp/buf.h"
#include "sllmp/conf.h"
#include "sllmp/core.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_UPSTREAM_BODY (64 * 1024 * 1024)

static CURLSH *share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
static int easy_per_transfer; /* libcurl before 8.1.0: see sllmp_upstream_run */

static void
lock_cb(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    (void)h, (void)a, (void)u;
    pthread_mutex_lock(&share_locks[d]);
}

static void
unlock_cb(CURL *h, curl_lock_data d, void *u)
{
    (void)h, (void)u;
    pthread_mutex_unlock(&share_locks[d]);
}

int
sllmp_upstream_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        return -1;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_init(&share_locks[i], NULL);
    }
    share = curl_share_init();
    if (share == NULL) {
        return -1;
    }
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, lock_cb);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, unlock_cb);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    easy_per_transfer = curl_version_info(CURLVERSION_NOW)->version_num < 0x080100;
    return 0;
}

void
sllmp_upstream_global_fini(void)
{
    if (share != NULL) {
        curl_share_cleanup(share);
        share = NULL;
    }
    curl_global_cleanup();
}

static size_t header_cb(char *buf, size_t size, size_t n, void *ud);
static size_t write_cb(char *data, size_t size, size_t n, void *ud);

/* One per thread: an easy handle driven by its own multi handle, whose connection cache keeps
 * upstream connections alive from one request to the next. */
typedef struct {
    CURL *easy;
    CURLM *multi;
} handle_t;

/* An easy handle with the options every request shares. */
static CURL *
easy_new(void)
{
    CURL *easy = curl_easy_init();

    SLLMP_ASSERT(easy != NULL);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_SHARE, share);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "sllmp/0.1");
    return easy;
}

void *
sllmp_upstream_handle_new(void)
{
    handle_t *h = sllmp_xcalloc(1, sizeof(*h));

    h->easy = easy_new();
    h->multi = curl_multi_init();
    SLLMP_ASSERT(h->multi != NULL);
    return h;
}

void
sllmp_upstream_handle_free(void *p)
{
    handle_t *h = p;

    if (h != NULL) {
        curl_easy_cleanup(h->easy);
        curl_multi_cleanup(h->multi);
        free(h);
    }
}

typedef struct {
    sllmp_req_t *r;
    sllmp_upstream_call_t *call;
    sllmp_timeouts_t t;
    int64_t start;
    int64_t last_data; /* the upstream's last bytes: the idle timeout */
    int64_t last_ping; /* a held stream's pings flush nothing: their own cadence */
    int64_t last_gone_check;
    int got_body;
    int in_2xx;
    sllmp_err_t abort_reason;
} xfer_t;

static size_t
header_cb(char *buf, size_t size, size_t n, void *ud)
{
    xfer_t *x = ud;
    size_t len = size * n;
    const char *colon;
    char name[64], value[256];
    size_t nlen, vlen;

    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        const char *sp = memchr(buf, ' ', len);

        /* a new status line (after a 100 or a redirect): forget the previous headers */
        x->call->status = sp ? (int)strtol(sp + 1, NULL, 10) : 0;
        x->in_2xx = x->call->status >= 200 && x->call->status < 300;
        x->call->retry_after[0] = '\0';
        x->call->retry_after_ms[0] = '\0';
        return len;
    }
    colon = memchr(buf, ':', len);
    if (colon == NULL || (size_t)(colon - buf) >= sizeof(name)) {
        return len;
    }
    nlen = (size_t)(colon - buf);
    memcpy(name, buf, nlen);
    name[nlen] = '\0';
    colon++;
    vlen = len - (size_t)(colon - buf);
    while (vlen > 0 && (*colon == ' ' || *colon == '\t')) {
        colon++, vlen--;
    }
    while (vlen > 0 &&
           (colon[vlen - 1] == '\r' || colon[vlen - 1] == '\n' || colon[vlen - 1] == ' ')) {
        vlen--;
    }
    if (vlen >= sizeof(value)) {
        return len;
    }
    memcpy(value, colon, vlen);
    value[vlen] = '\0';
    if (strncasecmp(name, "x-ratelimit-", 12) == 0) {
        if (!x->call->bare) {
            sllmp_resp_header(x->r, name, value);
        }
    } else if (strcasecmp(name, "retry-after") == 0) {
        long secs;

        if (sllmp_parse_long(value, &secs) == 0 && secs >= 0) {
            snprintf(x->call->retry_after, sizeof(x->call->retry_after), "%ld", secs);
        }
    } else if (strcasecmp(name, "retry-after-ms") == 0) {
        long ms;

        if (sllmp_parse_long(value, &ms) == 0 && ms >= 0) {
            snprintf(x->call->retry_after_ms, sizeof(x->call->retry_after_ms), "%ld", ms);
            if (x->call->retry_after[0] == '\0') {
                snprintf(x->call->retry_after, sizeof(x->call->retry_after), "%ld",
                         (ms + 999) / 1000);
            }
        }
    }
    return len;
}

static size_t
write_cb(char *data, size_t size, size_t n, void *ud)
{
    xfer_t *x = ud;
    size_t len = size * n;

    x->last_data = sllmp_now_ms();
    x->got_body = 1;
    if (x->in_2xx && x->call->on_data != NULL) {
        if (x->call->on_data(x->call->ud, data, len) != 0) {
            x->call->aborted_by_callback = 1;
            x->abort_reason = x->r->err != SLLMP_OK ? x->r->err : SLLMP_ERR_PROVIDER;
            return 0;
        }
        return len;
    }
    if (sllmp_buf_append(&x->call->resp, data, len) < 0) {
        x->abort_reason = SLLMP_ERR_PROVIDER;
        return 0;
    }
    return len;
}

/* How often a waiting transfer looks at the client and the clocks, at most. */
#define TICK_MS 200

/*
 * Between waits: is the client still there, did a timeout pass, is a heartbeat due? Returns -1
 * to abort (x->abort_reason set), else the milliseconds until the next thing to check.
 */
static long
tick(xfer_t *x)
{
    sllmp_req_t *r = x->r;
    const sllmp_conf_t *c = r->conf;
    const sllmp_timeouts_t *t = &x->t;
    int64_t now = sllmp_now_ms();
    int64_t quiet_since, next = TICK_MS;

    sllmp_req_keepalive(r, now);
    /* a poll() on the FastCGI connection: not on every wake-up of a busy transfer */
    if (now - x->last_gone_check >= TICK_MS / 2) {
        x->last_gone_check = now;
        if (r->client_gone || (r->io->gone != NULL && r->io->gone(r->io->ctx))) {
            r->client_gone = 1;
            x->abort_reason = SLLMP_ERR_CLIENT_GONE;
            return -1;
        }
    }
    if (!x->got_body) {
        if (now - x->start > t->first_byte_ms) {
            x->abort_reason = SLLMP_ERR_TIMEOUT;
            return -1;
        }
        next = x->start + t->first_byte_ms - now;
    } else {
        if (now - x->last_data > t->idle_ms) {
            x->abort_reason = SLLMP_ERR_TIMEOUT;
            return -1;
        }
        next = x->last_data + t->idle_ms - now;
    }
    if (r->stream && (x->call->status == 0 || x->in_2xx)) {
        /*
         * Quiet is what the client saw, not what the upstream sent: comments (OpenRouter's
         * ": OPENROUTER PROCESSING"), Anthropic's pings and dropped events reach no client,
         * and a client that is sent nothing keeps no FcgidIOTimeout at bay and, behind
         * lighttpd, is not noticed leaving (only a write finds out).
         */
        quiet_since = r->last_flush_ms > x->last_ping ? r->last_flush_ms : x->last_ping;
        if (quiet_since < x->start) {
            quiet_since = x->start;
        }
        if (now - quiet_since >= c->heartbeat_ms) {
            x->last_ping = now;
            quiet_since = now;
            if (sllmp_sse_ping(r) < 0) {
                x->abort_reason = SLLMP_ERR_CLIENT_GONE;
                return -1;
            }
        }
        if (quiet_since + c->heartbeat_ms - now < next) {
            next = quiet_since + c->heartbeat_ms - now;
        }
    }
    if (next > TICK_MS) {
        next = TICK_MS;
    }
    return next < 1 ? 1 : (long)next;
}

static sllmp_err_t
map_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return SLLMP_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return SLLMP_ERR_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return SLLMP_ERR_PROVIDER_UNAVAILABLE;
    default:
        return SLLMP_ERR_PROVIDER;
    }
}

const char *
sllmp_ca_probe(const char *builtin, const char *const *candidates)
{
    if (builtin == NULL || access(builtin, R_OK) == 0) {
        return NULL;
    }
    for (const char *const *p = candidates; *p != NULL; p++) {
        if (access(*p, R_OK) == 0) {
            return *p;
        }
    }
    return NULL;
}

static const char *probed_ca;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void
probe_ca(void)
{
    static const char *const others[] = {
        "/etc/pki/tls/certs/ca-bundle.crt",                  /* RHEL, CentOS, Alma, CloudLinux */
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* the same, newer */
        "/etc/ssl/ca-bundle.pem",                            /* openSUSE */
        "/etc/ssl/cert.pem",                                 /* Alpine, the BSDs */
        "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Arch */
        NULL};
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

    probed_ca = sllmp_ca_probe(v->cainfo, others);
}

const char *
sllmp_ca_file(const sllmp_conf_t *c)
{
    if (c != NULL && c->ca_file != NULL) {
        return c->ca_file;
    }
    pthread_once(&probe_once, probe_ca);
    return probed_ca;
}

void
sllmp_upstream_timeouts(const sllmp_req_t *r, sllmp_timeouts_t *t)
{
    const sllmp_deployment_t *d = r->dep;
    const sllmp_router_conf_t *rc = &r->conf->router;
    long ms = 0;

    *t = r->conf->timeouts;
    if (d != NULL && r->stream) {
        ms = d->stream_timeout_ms;
    }
    if (ms == 0 && d != NULL) {
        ms = d->timeout_ms;
    }
    if (ms == 0 && r->stream) {
        ms = rc->stream_timeout_ms;
    }
    if (ms == 0) {
        ms = rc->timeout_ms;
    }
    if (ms > 0) {
        t->first_byte_ms = ms;
        t->idle_ms = ms;
        if (ms < t->connect_ms) {
            t->connect_ms = ms;
        }
    }
}

/* Whether the deployment's own headers (litellm_params.extra_headers, ...) hold one of the name
 * of the "Name: value" line h, which then gives way. */
static int
replaced(const sllmp_deployment_t *d, const char *h)
{
    const char *colon = strchr(h, ':');
    size_t len = colon != NULL ? (size_t)(colon - h) : strlen(h);

    for (size_t i = 0; d != NULL && i < d->nheaders; i++) {
        if (strncasecmp(d->headers[i], h, len) == 0 && d->headers[i][len] == ':') {
            return 1;
        }
    }
    return 0;
}

/* A deployment's "Name: value" line h as libcurl takes it: "Name;" when the value is empty (or
 * blanks), which libcurl sends as "Name:", as LiteLLM does; "Name:" would have it leave the header
 * out. */
static const char *
curl_line(sllmp_req_t *r, const char *h)
{
    const char *colon = strchr(h, ':');

    if (colon == NULL || colon[1 + strspn(colon + 1, " \t")] != '\0') {
        return h;
    }
    return sllmp_arena_printf(r->arena, "%.*s;", (int)(colon - h), h);
}

sllmp_err_t
sllmp_upstream_run(sllmp_req_t *r, sllmp_upstream_call_t *call)
{
    handle_t *hd = r->worker->curl;
    CURL *h;
    CURLM *m = hd->multi;
    int running = 1;
    const sllmp_conf_t *c = r->conf;
    struct curl_slist *hdrs = NULL;
    int64_t now = sllmp_now_ms();
    xfer_t x = {.r = r, .call = call, .start = now, .last_gone_check = now};
    CURLcode rc;

    sllmp_upstream_timeouts(r, &x.t);

    if (easy_per_transfer) {
        /* libcurl before 8.1.0 (Debian 12's 7.88.1) frees a transfer's stored headers at the
         * next one but keeps its pointer to the last (curl issue 11101): an answer whose first
         * header line is folded (starts with a blank) then appends to freed memory. A new easy
         * handle each time; the connections stay in the multi handle, sessions in the share. */
        curl_easy_cleanup(hd->easy);
        hd->easy = easy_new();
    }
    h = hd->easy;
    call->status = 0;
    call->retry_after[0] = '\0';
    call->retry_after_ms[0] = '\0';
    call->aborted_by_callback = 0;
    sllmp_buf_init(&call->resp, MAX_UPSTREAM_BODY);
    for (const char *const *hp = call->headers; hp != NULL && *hp != NULL; hp++) {
        if (call->bare || !replaced(r->dep, *hp)) {
            hdrs = curl_slist_append(hdrs, *hp);
        }
    }
    for (size_t i = 0; !call->bare && r->dep != NULL && i < r->dep->nheaders; i++) {
        hdrs = curl_slist_append(hdrs, curl_line(r, r->dep->headers[i]));
    }
    /* no "Expect: 100-continue" round trip for bodies over 1 KiB */
    hdrs = curl_slist_append(hdrs, "Expect:");

    /* Every request sets the same options, so the handle is not reset: what the previous
     * request set is overwritten here, and the constant ones were set once in handle_new. */
    curl_easy_setopt(h, CURLOPT_URL, call->url);
    curl_easy_setopt(h, CURLOPT_CAINFO, sllmp_ca_file(c));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, x.t.connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, x.t.total_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (call->method == NULL) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, call->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    } else {
        /* GET and DELETE of a response an upstream keeps; the next call sets POST again */
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                         strcmp(call->method, "GET") == 0 ? NULL : call->method);
    }
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);

    /* The multi interface instead of curl_easy_perform, so the waits between upstream data are
     * ours: timeouts and heartbeats run on time, not on libcurl's once-a-second progress. */
    rc = CURLE_OK;
    curl_multi_add_handle(m, h);
    while (running) {
        CURLMcode mc = curl_multi_perform(m, &running);
        int64_t waited;
        long wait;

        if (mc != CURLM_OK) {
            rc = CURLE_FAILED_INIT;
            break;
        }
        if (!running) {
            break;
        }
        wait = tick(&x);
        if (wait < 0) {
            rc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        waited = sllmp_now_us();
        curl_multi_poll(m, NULL, 0, (int)wait, NULL);
        r->wait_us += sllmp_now_us() - waited;
    }
    if (running == 0) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
                rc = msg->data.result;
            }
        }
    }
    curl_multi_remove_handle(m, h);
    curl_slist_free_all(hdrs);
    if (rc == CURLE_OK) {
        return SLLMP_OK;
    }
    if (x.abort_reason != SLLMP_OK) {
        return x.abort_reason;
    }
    sllmp_log(r->id, SLLMP_LOG_WARN, "upstream %s: %s", r->dep ? r->dep->model_name : "?",
              curl_easy_strerror(rc));
    return map_curl(rc);
}

/* Whether a 429's error object says the account is out of credit, not over a passing rate:
 * OpenAI's insufficient_quota (as type and code), Anthropic's monthly spend limit (a
 * rate_limit_error with details.error_code enforced_spend_limit_reached). protocols.md 1.5, 2.5:
 * not to be retried. */
static int
out_of_quota(const cJSON *err, const cJSON *type, const cJSON *code)
{
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(err, "details");
    const cJSON *ecode = cJSON_GetObjectItemCaseSensitive(details, "error_code");

    return (cJSON_IsString(type) && strcmp(type->valuestring, "insufficient_quota") == 0) ||
           (cJSON_IsString(code) && strcmp(code->valuestring, "insufficient_quota") == 0) ||
           (cJSON_IsString(ecode) &&
            strcmp(ecode->valuestring, "enforced_spend_limit_reached") == 0);
}

/*
 * A validation error in FastAPI's shape, as Mistral answers a 422 ({"message": {"detail": [...]}})
 * and vLLM and other Python servers do ({"detail": [...]} or {"detail": "..."}): "messages.0.
 * content: Field required; ..." from the first three entries, in b (bounded: what does not fit
 * is left out), and the field of the first as *param. NULL when body has none. Each piece is
 * redacted (sllmp_redacted) before it is cut: a key the cut fell inside would leave its start.
 */
static const char *
detail_message(sllmp_req_t *r, const cJSON *body, sllmp_buf_t *b, const char **param)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "message");
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive(cJSON_IsObject(m) ? m : body, "detail");
    const cJSON *list = cJSON_IsArray(detail) ? detail : NULL, *e;
    int shown = 0;

    if (cJSON_IsString(detail)) {
        return detail->valuestring;
    }
    cJSON_ArrayForEach(e, list)
    {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "msg");
        const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "loc"), *l;
        const cJSON *locs = cJSON_IsArray(loc) ? loc : NULL;
        const char *sep = "", *text;

        if (!cJSON_IsString(msg) || shown == 3) {
            continue;
        }
        sllmp_buf_appends(b, shown++ > 0 ? "; " : "");
        cJSON_ArrayForEach(l, locs)
        {
            if (*sep == '\0' && cJSON_IsString(l) && strcmp(l->valuestring, "body") == 0) {
                continue; /* where FastAPI found it, not a name of the request */
            }
            if (cJSON_IsString(l)) {
                const char *name = sllmp_redacted(r, l->valuestring);

                sllmp_buf_printf(b, "%s%.*s", sep, sllmp_utf8_prec(name, 64), name);
                if (*sep == '\0' && shown == 1) {
                    *param = name;
                }
            } else if (cJSON_IsNumber(l)) {
                sllmp_buf_printf(b, "%s%d", sep, l->valueint);
            }
            sep = ".";
        }
        text = sllmp_redacted(r, msg->valuestring);
        sllmp_buf_printf(b, "%s%.*s", *sep ? ": " : "", sllmp_utf8_prec(text, 200), text);
    }
    return shown > 0 ? sllmp_buf_cstr(b) : NULL;
}

/* A provider's error member: body's "error", or that of the first of a list ([{"error": ...}],
 * as Vertex AI sends them); NULL when there is none. */
static cJSON *
error_member(const cJSON *body)
{
    const cJSON *e = cJSON_IsArray(body) ? cJSON_GetArrayItem(body, 0) : body;

    return cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "error") : NULL;
}

/* Google's words when it refuses Vertex AI's access token ("Vertex AI API has not been used
 * in project ...", a missing IAM permission, billing disabled): the operator's one clue, and
 * they quote no secret (Google never echoes a token). The log has them, never the client. */
static void
log_google_refusal(sllmp_req_t *r, const sllmp_upstream_call_t *call)
{
    cJSON *body = cJSON_ParseWithLength(call->resp.ptr, call->resp.len);
    const cJSON *err = error_member(body);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(err, "status");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");

    sllmp_log(r->id, SLLMP_LOG_WARN, "vertex %s: HTTP %d %.40s %.300s", r->dep->model_name,
              call->status, cJSON_IsString(status) ? status->valuestring : "",
              cJSON_IsString(msg) ? sllmp_redacted(r, msg->valuestring) : "");
    cJSON_Delete(body);
}

int
sllmp_upstream_fail(sllmp_req_t *r, const sllmp_upstream_call_t *call)
{
    int s = call->status;
    cJSON *body = NULL, *err = NULL;
    const cJSON *msg = NULL, *type = NULL, *code = NULL, *param = NULL;
    int auth = s == 401 || s == 403 || call->key_refused;
    int rc;

    r->upstream_status = s;
    if (!auth && call->resp.len > 0) {
        body = cJSON_ParseWithLength(call->resp.ptr, call->resp.len);
        err = error_member(body);
        if (cJSON_IsObject(err)) {
            msg = cJSON_GetObjectItemCaseSensitive(err, "message");
            type = cJSON_GetObjectItemCaseSensitive(err, "type");
            code = cJSON_GetObjectItemCaseSensitive(err, "code");
            param = cJSON_GetObjectItemCaseSensitive(err, "param");
        } else if (cJSON_IsString(err)) {
            msg = err; /* Ollama and friends: {"error": "..."} */
        } else if (body != NULL) {
            msg = cJSON_GetObjectItemCaseSensitive(body, "message"); /* Bedrock: {"message"} */
        }
    }
    if (auth && r->dep != NULL && r->dep->gcp != NULL) {
        log_google_refusal(r, call);
    }
    if (auth) {
        /* Never the upstream's words: they may quote the key. */
        rc = sllmp_req_fail(r, SLLMP_ERR_PROVIDER_AUTH, NULL,
                            "The provider of model '%.*s' refused the gateway's credentials "
                            "(HTTP %d).",
                            sllmp_utf8_prec(r->model, 200), r->model, s);
    } else if (s == 429 && out_of_quota(err, type, code)) {
        rc = sllmp_req_fail(r, SLLMP_ERR_PROVIDER_QUOTA, NULL, "%s",
                            cJSON_IsString(msg) ? msg->valuestring
                                                : "The provider's quota is used up.");
    } else if (s == 429) {
        rc = sllmp_req_fail(r, SLLMP_ERR_PROVIDER_RATE_LIMIT, NULL, "%s",
                            cJSON_IsString(msg) ? msg->valuestring
                                                : "The provider's rate limit was reached.");
    } else if (s >= 400 && s < 500 && s != 408) {
        sllmp_buf_t b;
        const char *field = cJSON_IsString(param) ? param->valuestring : NULL;
        const char *words = cJSON_IsString(msg) ? msg->valuestring : NULL;

        sllmp_buf_init(&b, 1024);
        if (words == NULL && body != NULL) {
            words = detail_message(r, body, &b, &field);
        }
        rc = sllmp_req_fail(r, SLLMP_ERR_PROVIDER_BAD_REQUEST, field, "%s",
                            words != NULL ? words : "The provider rejected the request.");
        sllmp_buf_free(&b);
        r->err_status = s;
    } else if (s == 408) {
        rc = sllmp_req_fail(r, SLLMP_ERR_TIMEOUT, NULL, NULL);
    } else if (s == 529) {
        /* Anthropic's "overloaded": a 503 that OpenAI's SDKs retry, after its Retry-After */
        rc = sllmp_req_fail(r, SLLMP_ERR_PROVIDER_UNAVAILABLE, NULL,
                            "The provider of model '%.*s' is overloaded (HTTP 529).",
                            sllmp_utf8_prec(r->model, 200), r->model);
    } else {
        rc = sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                            "The provider of model '%.*s' returned HTTP %d.",
                            sllmp_utf8_prec(r->model, 200), r->model, s);
    }
    /* every status a client retries (protocols.md 1.5) may come with the wait it asks for: a
     * 503 "come back in 30 s" is as binding as a 429's, for the retry here and for the client
     * that gets this failure in the end */
    if (s == 408 || (s == 429 && r->err != SLLMP_ERR_PROVIDER_QUOTA) || s >= 500) {
        long v;

        if (call->retry_after[0]) {
            r->retry_after = sllmp_arena_strdup(r->arena, call->retry_after);
            if (sllmp_parse_long(call->retry_after, &v) == 0 && v > 0) {
                r->upstream_wait_ms = (int64_t)v * 1000;
            }
        }
        if (call->retry_after_ms[0]) {
            r->retry_after_ms = sllmp_arena_strdup(r->arena, call->retry_after_ms);
            if (sllmp_parse_long(call->retry_after_ms, &v) == 0 && v >= 0) {
                r->upstream_wait_ms = v; /* the finer of the two */
            }
        }
    }
    if (s == 529 && r->retry_after == NULL) {
        r->retry_after = "1"; /* Anthropic's overloaded says no wait: OpenAI SDKs' hint */
    }
    if (r->err == SLLMP_ERR_PROVIDER_QUOTA && !cJSON_IsString(code)) {
        /* Anthropic's spend limit: its type (rate_limit_error) would read as a passing limit
         * to an OpenAI client, the table's stays; its code says which limit */
        type = NULL;
        code = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(err, "details"),
                                                "error_code");
    }
    if (r->err == SLLMP_ERR_PROVIDER_RATE_LIMIT || r->err == SLLMP_ERR_PROVIDER_BAD_REQUEST ||
        r->err == SLLMP_ERR_PROVIDER_QUOTA) {
        if (cJSON_IsString(type)) {
            r->err_type = sllmp_arena_strdup(r->arena, type->valuestring);
        }
        if (cJSON_IsString(code)) {
            r->err_code = sllmp_arena_strdup(r->arena, code->valuestring);
        }
    }
    cJSON_Delete(body);
    return rc;
}
