/*
 * Writing the answer: status line and headers once, then body bytes; errors rendered from the
 * error table, as JSON before the headers went out and as an SSE event after.
 *
 * sllmp.buffer_streams holds a stream: behind mod_fcgid without FcgidOutputBufferSize 0 events
 * would reach the client in 64 KiB lumps anyway, and a timeout there can append Apache's HTML
 * error page to a chunked SSE body that has started. So the SSE writers append to r->held, and
 * the [DONE] event sends status, headers, Content-Length and the whole body in one piece. The
 * upstream call, the events and every hook run exactly as for a flushed stream (headers_sent is
 * set as for one, so cost still writes its SSE comment), and the body is byte for byte what
 * would have been flushed, less the heartbeats.
 */
#include "sllmp/conf.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"
#include "sllmp/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_MESSAGE 1023 /* bytes of an error message: a longer one is cut */

void
sllmp_resp_header(sllmp_req_t *r, const char *name, const char *value)
{
    /* a held stream's headers go out with it: one added meanwhile is still sent */
    if (r->headers_sent && !r->stream_held) {
        return;
    }
    /* Header injection guard: a name is an RFC 9110 token, a value has no control character
     * but HTAB (an upstream's x-ratelimit-* value goes through here) */
    if (*name == '\0' || name[strspn(name, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ")] != '\0') {
        return;
    }
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            return;
        }
    }
    sllmp_buf_appends(&r->resp_headers, name);
    sllmp_buf_append(&r->resp_headers, ": ", 2);
    sllmp_buf_appends(&r->resp_headers, value);
    sllmp_buf_append(&r->resp_headers, "\r\n", 2);
}

/* Takes the header lines called name out of those to be sent. */
static void
drop_header(sllmp_req_t *r, const char *name)
{
    sllmp_buf_t *h = &r->resp_headers;
    size_t n = strlen(name), i = 0;

    while (i < h->len) {
        char *eol = memchr(h->ptr + i, '\n', h->len - i);
        size_t end = eol != NULL ? (size_t)(eol - h->ptr) + 1 : h->len;

        if (end - i > n && h->ptr[i + n] == ':' && strncasecmp(h->ptr + i, name, n) == 0) {
            memmove(h->ptr + i, h->ptr + end, h->len - end + 1); /* its NUL too */
            h->len -= end - i;
        } else {
            i = end;
        }
    }
}

int
sllmp_resp_start(sllmp_req_t *r, int status, const char *content_type)
{
    char head[512];
    int64_t overhead = sllmp_req_overhead_us(r);
    int n;

    SLLMP_ASSERT(!r->headers_sent);
    r->status = status;
    r->headers_sent = 1;
    r->headers_ms = sllmp_now_ms();
    /* for a stream, both are the times to its first event */
    n = snprintf(head, sizeof(head),
                 "Status: %d %s\r\n"
                 "Content-Type: %s\r\n"
                 "X-Request-ID: %s\r\n"
                 "X-Duration-Ms: %lld\r\n"
                 "X-Sllmp-Overhead-Ms: %lld.%03lld\r\n",
                 status, sllmp_http_reason(status), content_type, r->id,
                 (long long)(r->headers_ms - r->start_ms), (long long)(overhead / 1000),
                 (long long)(overhead % 1000));
    /* what fits: the request id is checked and bounded, so nothing is cut in practice */
    sllmp_resp_write(r, head, n < 0 ? 0 : (size_t)n < sizeof(head) ? (size_t)n : sizeof(head) - 1);
    if (r->origin != NULL) {
        /* an allowed origin is as long as the config makes it: never through head[] */
        static const char expose[] =
            "\r\nAccess-Control-Expose-Headers: X-Request-ID, X-Trace-ID, X-Duration-Ms, "
            "X-Sllmp-Overhead-Ms, Retry-After, "
            "x-ratelimit-limit-requests, x-ratelimit-remaining-requests, "
            "x-ratelimit-reset-requests, x-ratelimit-limit-tokens, "
            "x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens\r\n"
            "Vary: Origin\r\n";

        sllmp_resp_write(r, "Access-Control-Allow-Origin: ", 29);
        sllmp_resp_write(r, r->origin, strlen(r->origin));
        sllmp_resp_write(r, expose, sizeof(expose) - 1);
    }
    if (r->resp_headers.len > 0) {
        sllmp_resp_write(r, r->resp_headers.ptr, r->resp_headers.len);
    }
    return sllmp_resp_write(r, "\r\n", 2);
}

int
sllmp_resp_write(sllmp_req_t *r, const char *data, size_t len)
{
    if (r->client_gone) {
        return -1;
    }
    if (r->stream_held) {
        return sllmp_buf_append(&r->held, data, len);
    }
    if (r->io->write(r->io->ctx, data, len) < 0) {
        r->client_gone = 1;
        return -1;
    }
    return 0;
}

void
sllmp_resp_end(sllmp_req_t *r)
{
    if (!r->ended && r->io->end != NULL) {
        r->ended = 1;
        r->io->end(r->io->ctx);
    }
}

int
sllmp_resp_flush(sllmp_req_t *r)
{
    int64_t t0;
    int rc;

    if (r->client_gone) {
        return -1;
    }
    if (r->stream_held) {
        return 0; /* nothing held is in the front's buffer, and nothing may go out early */
    }
    /* a slow reader holds the flush up: waiting on the client is not the gateway's own time */
    t0 = sllmp_now_us();
    rc = r->io->flush(r->io->ctx);
    r->wait_us += sllmp_now_us() - t0;
    if (rc < 0 || (r->io->gone != NULL && r->io->gone(r->io->ctx))) {
        r->client_gone = 1;
        return -1;
    }
    r->last_flush_ms = sllmp_now_ms();
    return 0;
}

int
sllmp_resp_send(sllmp_req_t *r, int status, const char *content_type, const char *body, size_t len)
{
    char cl[64];

    snprintf(cl, sizeof(cl), "%zu", len);
    sllmp_resp_header(r, "Content-Length", cl);
    sllmp_resp_start(r, status, content_type);
    sllmp_resp_write(r, body, len);
    r->finished = 1;
    /* No flush: the front sends what is buffered together with its end-of-request records in
     * one write when the request finishes (a server that has the whole answer may hang up at
     * once, and a separate end-of-request write would then fail). */
    return r->client_gone ? -1 : 0;
}

int
sllmp_req_fail(sllmp_req_t *r, sllmp_err_t err, const char *param, const char *fmt, ...)
{
    r->err = err;
    /* an upstream's param too may quote anything */
    r->err_param = param ? sllmp_arena_strdup(r->arena, sllmp_redacted(r, param)) : NULL;
    if (fmt != NULL) {
        char *full = NULL, *msg;
        va_list ap;
        size_t len;

        va_start(ap, fmt);
        if (vasprintf(&full, fmt, ap) < 0) {
            full = NULL;
        }
        va_end(ap);
        /* the keys out before the cut: one cut in two would leave its start (an upstream's
         * words may quote one) */
        msg = sllmp_arena_strdup(r->arena, sllmp_redacted(r, full != NULL ? full : ""));
        free(full);
        len = strlen(msg);
        if (len > MAX_MESSAGE) {
            /* a cut inside a character takes it whole (sllmp_utf8_floor) */
            len = sllmp_utf8_floor(msg, MAX_MESSAGE);
        }
        msg[len] = '\0';
        if (sllmp_utf8_valid(msg, len) == len) {
            r->err_message = sllmp_arena_strdup(r->arena, msg);
        } else {
            /* bytes a client or an upstream sent that are not UTF-8: the message goes into
             * the client's error JSON and the trace record, both of which must be UTF-8 */
            sllmp_buf_t b;

            sllmp_buf_init(&b, 0);
            sllmp_buf_append_utf8(&b, msg, len);
            r->err_message = sllmp_arena_strdup(r->arena, b.ptr);
            sllmp_buf_free(&b);
        }
    } else {
        r->err_message = NULL;
    }
    return 2; /* SLLMP_ERROR, without making this file depend on pipeline.h */
}

/* Anthropic's error type for a status (protocols.md §2.5). */
static const char *
anthropic_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    case 504:
        return "timeout_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

/* The error's message. A provider's error text, passed on, may quote the key it was sent (or
 * the client's): sllmp_req_fail() redacted every key the gateway knows from it as it was set,
 * as in a trace record; the table's own messages hold none. */
static const char *
error_message(sllmp_req_t *r, const sllmp_err_info_t *e)
{
    return r->err_message ? r->err_message : e->message;
}

/* /v1/messages and its count_tokens: {"type":"error","error":{"type","message"},"request_id"},
 * as Anthropic's SDKs read it. */
static void
error_json_anthropic(sllmp_req_t *r, sllmp_buf_t *b)
{
    const sllmp_err_info_t *e = sllmp_err_info(r->err);
    const char *msg = error_message(r, e);
    const char *type = anthropic_type(r->err_status ? r->err_status : e->status);

    sllmp_buf_appends(b, "{\"type\":\"error\",\"error\":{\"type\":\"");
    sllmp_buf_appends(b, type);
    sllmp_buf_appends(b, "\",\"message\":\"");
    sllmp_buf_json_escape(b, msg, strlen(msg));
    sllmp_buf_appends(b, "\"},\"request_id\":\"");
    sllmp_buf_json_escape(b, r->id, strlen(r->id));
    sllmp_buf_appends(b, "\"}");
}

static void
error_json(sllmp_req_t *r, sllmp_buf_t *b)
{
    if (sllmp_anthropic_shaped(r)) {
        error_json_anthropic(r, b);
        return;
    }

    const sllmp_err_info_t *e = sllmp_err_info(r->err);
    const char *msg = error_message(r, e);
    const char *type = r->err_type ? r->err_type : e->type;
    const char *code = r->err_code ? r->err_code : e->code;

    sllmp_buf_appends(b, "{\"error\":{\"message\":\"");
    sllmp_buf_json_escape(b, msg, strlen(msg));
    sllmp_buf_appends(b, "\",\"type\":\"");
    sllmp_buf_json_escape(b, type, strlen(type));
    sllmp_buf_appends(b, "\",\"param\":");
    if (r->err_param != NULL) {
        sllmp_buf_append(b, "\"", 1);
        sllmp_buf_json_escape(b, r->err_param, strlen(r->err_param));
        sllmp_buf_append(b, "\"", 1);
    } else {
        sllmp_buf_appends(b, "null");
    }
    sllmp_buf_appends(b, ",\"code\":");
    if (code != NULL) {
        sllmp_buf_append(b, "\"", 1);
        sllmp_buf_json_escape(b, code, strlen(code));
        sllmp_buf_append(b, "\"", 1);
    } else {
        sllmp_buf_appends(b, "null");
    }
    sllmp_buf_appends(b, "}}");
}

void
sllmp_resp_error(sllmp_req_t *r)
{
    const sllmp_err_info_t *e = sllmp_err_info(r->err);
    sllmp_buf_t b;

    if (r->stream_held) {
        /*
         * Nothing of a held stream has gone out: drop it, and the failure is answered as one
         * before the first event, JSON with its real status (and Retry-After), not an SSE
         * error event under a 200 that cannot change. buffer_streams' other gain.
         */
        sllmp_buf_free(&r->held);
        r->stream_held = 0;
        r->stream_started = 0;
        r->headers_sent = 0;
        /* set at the first held event, when this attempt's answer was to be the client's */
        drop_header(r, "x-sllmp-model-id");
    }
    if (r->err == SLLMP_ERR_CLIENT_GONE || r->client_gone) {
        r->status = r->headers_sent ? r->status : 499;
        return;
    }
    if (r->finished) {
        return; /* a stream that ended with its own error events (Responses' response.failed) */
    }
    sllmp_buf_init(&b, 0);
    error_json(r, &b);
    if (r->headers_sent) {
        /* Too late for a status: tell the stream, then end it the OpenAI way. */
        if (r->stream_started && sllmp_anthropic_shaped(r)) {
            sllmp_sse_event(r, "error", b.ptr, b.len);
            sllmp_sse_end(r);
        } else if (r->stream_started) {
            sllmp_sse_data(r, b.ptr, b.len);
            sllmp_sse_data(r, "[DONE]", 6);
        }
    } else {
        int status = r->err_status ? r->err_status : e->status;

        sllmp_resp_header(r, "x-should-retry", e->retryable ? "true" : "false");
        if (r->retry_after != NULL) {
            sllmp_resp_header(r, "Retry-After", r->retry_after);
        }
        if (r->retry_after_ms != NULL) {
            sllmp_resp_header(r, "retry-after-ms", r->retry_after_ms);
        }
        sllmp_resp_send(r, status, "application/json", b.ptr, b.len);
    }
    r->finished = 1;
    sllmp_buf_free(&b);
}

/* sllmp.buffer_streams */
static int
buffered(const sllmp_req_t *r)
{
    return r->conf != NULL && r->conf->buffer_streams;
}

/* Held long enough: a server that reads nothing for FcgidIOTimeout (40 s by default) would
 * answer with its own error page, so a long stream goes on flushed (and heartbeats resume). */
static int
hold_over(const sllmp_req_t *r)
{
    return sllmp_now_ms() - r->start_ms >= r->conf->buffer_streams_max_ms;
}

/* The held part goes out as the start of an ordinary stream. */
static int
held_release(sllmp_req_t *r)
{
    r->stream_held = 0;
    r->headers_sent = 0;
    sllmp_resp_header(r, "Cache-Control", "no-cache");
    sllmp_resp_header(r, "X-Accel-Buffering", "no");
    sllmp_resp_start(r, 200, "text/event-stream");
    if (r->held.len > 0) {
        sllmp_resp_write(r, r->held.ptr, r->held.len);
    }
    sllmp_buf_free(&r->held);
    return sllmp_resp_flush(r);
}

static void
held_free(void *data)
{
    sllmp_buf_free(data);
}

/* The held stream, ended by [DONE], goes out in one piece; the front sends it at the end of
 * the request, as any whole answer (sllmp_resp_send). */
static int
held_send(sllmp_req_t *r)
{
    int rc;

    r->stream_held = 0;
    r->headers_sent = 0;
    sllmp_resp_header(r, "Cache-Control", "no-cache");
    sllmp_resp_header(r, "X-Accel-Buffering", "no");
    rc = sllmp_resp_send(r, 200, "text/event-stream", r->held.ptr, r->held.len);
    sllmp_buf_free(&r->held);
    return rc;
}

int
sllmp_sse_begin(sllmp_req_t *r)
{
    if (r->stream_started) {
        return r->client_gone ? -1 : 0;
    }
    r->stream_started = 1;
    if (buffered(r) && !hold_over(r)) {
        r->stream_held = 1;
        r->headers_sent = 1;
        sllmp_buf_init(&r->held, 0);
        sllmp_arena_cleanup_add(r->arena, held_free, &r->held);
        return r->client_gone ? -1 : 0;
    }
    sllmp_resp_header(r, "Cache-Control", "no-cache");
    sllmp_resp_header(r, "X-Accel-Buffering", "no");
    sllmp_resp_start(r, 200, "text/event-stream");
    return sllmp_resp_flush(r);
}

int
sllmp_sse_end(sllmp_req_t *r)
{
    if (!sllmp_anthropic_shaped(r) && !r->responses_api) {
        return sllmp_sse_data(r, "[DONE]", 6);
    }
    if (sllmp_sse_begin(r) < 0) {
        return -1;
    }
    return r->stream_held ? held_send(r) : sllmp_resp_flush(r);
}

/* Events written: a held stream keeps them (until it is held too long), else they go out. */
static int
sse_sent(sllmp_req_t *r)
{
    if (r->stream_held) {
        return hold_over(r) ? held_release(r) : 0;
    }
    return sllmp_resp_flush(r);
}

int
sllmp_resp_body_json(sllmp_req_t *r, const cJSON *body)
{
    char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;

    if (text == NULL) {
        return -1;
    }
    sllmp_buf_reset(&r->resp_body);
    sllmp_buf_appends(&r->resp_body, text);
    cJSON_free(text);
    return 0;
}

int
sllmp_sse_frame(sllmp_buf_t *out, const char *name, const cJSON *data)
{
    char *text = cJSON_PrintUnformatted(data);

    if (text == NULL) {
        return -1;
    }
    sllmp_buf_appends(out, "event: ");
    sllmp_buf_appends(out, name);
    sllmp_buf_appends(out, "\ndata: ");
    sllmp_buf_appends(out, text);
    sllmp_buf_appends(out, "\n\n");
    cJSON_free(text);
    return 0;
}

int
sllmp_sse_event(sllmp_req_t *r, const char *name, const char *data, size_t len)
{
    if (name == NULL) {
        return sllmp_sse_data(r, data, len);
    }
    if (sllmp_sse_begin(r) < 0) {
        return -1;
    }
    sllmp_resp_write(r, "event: ", 7);
    sllmp_resp_write(r, name, strlen(name));
    sllmp_resp_write(r, "\ndata: ", 7);
    sllmp_resp_write(r, data, len);
    sllmp_resp_write(r, "\n\n", 2);
    return sse_sent(r);
}

int
sllmp_sse_raw(sllmp_req_t *r, const char *text, size_t len)
{
    if (sllmp_sse_begin(r) < 0) {
        return -1;
    }
    sllmp_resp_write(r, text, len);
    return sse_sent(r);
}

int
sllmp_sse_data(sllmp_req_t *r, const char *data, size_t len)
{
    if (sllmp_sse_begin(r) < 0) {
        return -1;
    }
    sllmp_resp_write(r, "data: ", 6);
    sllmp_resp_write(r, data, len);
    sllmp_resp_write(r, "\n\n", 2);
    if (r->stream_held) {
        /* [DONE] is always the last event: the pipeline holds the provider's back until post
         * has run (sllmp_resp_error's follows an error, and a held stream is JSON by then) */
        if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
            return held_send(r);
        }
        return sse_sent(r);
    }
    return sllmp_resp_flush(r);
}

int
sllmp_sse_ping(sllmp_req_t *r)
{
    if (buffered(r) && (r->stream_held || !r->stream_started)) {
        /* A held ping keeps nothing alive, and before the first event it would start the
         * stream, so that a failing upstream could no longer answer with its status. With no
         * flush, a departed client is noticed only when the web server hangs up on us (the
         * waits poll io->gone()); accepted for buffer_streams. Past buffer_streams_max_ms the
         * stream is released and pinged as any other. */
        if (!hold_over(r)) {
            return r->client_gone ? -1 : 0;
        }
        if (r->stream_held && held_release(r) < 0) {
            return -1;
        }
    }
    if (sllmp_sse_begin(r) < 0) {
        return -1;
    }
    sllmp_resp_write(r, ": ping\n\n", 8);
    return sllmp_resp_flush(r);
}

const char *
sllmp_req_param(sllmp_req_t *r, const char *name)
{
    return r->io->param(r->io->ctx, name);
}

void
sllmp_req_keepalive(sllmp_req_t *r, int64_t now_ms)
{
    if (r->keepalive != NULL && now_ms >= r->keepalive_at) {
        r->keepalive(r);
    }
}

void
sllmp_req_mark_end(sllmp_req_t *r)
{
    if (r->end_us == 0) {
        r->end_us = sllmp_now_us();
        r->end_ms = r->end_us / 1000;
    }
}

int64_t
sllmp_req_overhead_us(const sllmp_req_t *r)
{
    int64_t t = (r->end_us ? r->end_us : sllmp_now_us()) - r->start_us - r->wait_us;

    return t > 0 ? t : 0;
}
