/*
 * A request as the core sees it, and the I/O interface the front (fcgi/) provides.
 *
 * The core never includes fcgiapp.h: the front hands it an sllmp_io_t (FastCGI, CGI, or the
 * tests' loopback harness) and the core reads params and body and writes the response through
 * it. One thread runs one request from sllmp_handle() to its return.
 */
#ifndef SLLMP_REQ_H
#define SLLMP_REQ_H

#include "sllmp/arena.h"
#include "sllmp/buf.h"
#include "sllmp/error.h"
#include "sllmp/types.h"
#include "sllmp/usage.h"

#include <cjson/cJSON.h>
#include <stdint.h>

struct sllmp_io_s {
    void *ctx;
    /* A CGI/FastCGI parameter ("REQUEST_METHOD", "HTTP_AUTHORIZATION"), NULL when absent. */
    const char *(*param)(void *ctx, const char *name);
    /* Reads up to n bytes of the body: > 0 bytes read, 0 at the end, -1 on error. */
    long (*read)(void *ctx, char *buf, size_t n);
    /* Buffers n bytes of output: 0, or -1 once the client is known to be gone. */
    int (*write)(void *ctx, const char *buf, size_t n);
    /* Sends what is buffered: 0, or -1 when the client (web server) is gone. */
    int (*flush)(void *ctx);
    /* Cheap non-blocking check: 1 when the client (web server) has hung up. May be NULL. */
    int (*gone)(void *ctx);
    /* Ends the response for the web server (the client sees it complete) while the request's
     * parameters stay readable, so `complete` work (the trace's fsync) costs the client no
     * latency. Nothing is written after it. May be NULL. */
    void (*end)(void *ctx);
};

/* One call to an upstream (retries and fallbacks make several): a child span of the trace. */
typedef struct {
    const sllmp_deployment_t *dep;
    int64_t start_ms; /* monotonic */
    int64_t end_ms;
    int status;      /* the upstream's HTTP status, 0 when none came */
    sllmp_err_t err; /* SLLMP_OK when it answered */
    const char *error;
} sllmp_attempt_t;

#define SLLMP_ATTEMPTS_MAX 16

/* What the client asked for: the front door it came through. */
typedef enum {
    SLLMP_KIND_CHAT = 0,     /* POST /v1/chat/completions */
    SLLMP_KIND_COMPLETIONS,  /* POST /v1/completions (legacy) */
    SLLMP_KIND_EMBEDDINGS,   /* POST /v1/embeddings */
    SLLMP_KIND_MESSAGES,     /* POST /v1/messages: Anthropic's API, answered in its shapes */
    SLLMP_KIND_COUNT_TOKENS, /* POST /v1/messages/count_tokens: Anthropic's token count, in its
                              * shapes too; no generation (no limits, cost or trace record) */
    SLLMP_KIND_RESPONSES,    /* POST /v1/responses to a model whose deployments speak the
                              * Responses API (responses_api): passed through as it is, answered
                              * in the upstream's own shapes. To other models a Responses request
                              * is kind CHAT with responses_api set (the translation). */
    SLLMP_KIND_IMAGES,       /* POST /v1/images/generations: passed through to OpenAI-compatible
                              * and Azure deployments, never streamed */
    SLLMP_KIND_MODERATIONS   /* POST /v1/moderations: passed through to OpenAI-compatible
                              * deployments; costs nothing */
} sllmp_kind_t;

#define SLLMP_REQ_MAGIC 0x5e11a9u
#define SLLMP_MW_MAX    16

struct sllmp_req_s {
    unsigned magic;
    sllmp_arena_t *arena;
    sllmp_io_t *io;
    sllmp_conf_t *conf; /* a reference, released at the end of the request */
    sllmp_worker_ctx_t *worker;

    char id[129];     /* X-Request-ID */
    int64_t start_ms; /* monotonic */
    int64_t start_wall_ms;
    int64_t start_wall_us; /* the same instant in microseconds, for traces */
    int64_t headers_ms;    /* when the status line went out, 0 before */
    int64_t last_flush_ms; /* when bytes last went out to the web server (a flush), 0 before:
                            * heartbeats count the client's quiet from it */
    int64_t first_token_ms;
    int64_t end_ms;
    int64_t start_us; /* monotonic, for the metrics and X-Sllmp-Overhead-Ms */
    int64_t end_us;   /* when the response was complete (before the trace's fsync) */
    int64_t wait_us;  /* spent waiting on upstreams: their data, and the waits between retries */

    /* what was asked */
    sllmp_kind_t kind;
    const char *method;
    const char *path; /* REQUEST_URI without the query string */
    sllmp_str_t body;
    cJSON *json;             /* parsed body, owned by the arena's cleanup list */
    int responses_api;       /* POST /v1/responses: kind CHAT inside, answered in the Responses
                              * shapes (src/middleware/responses.c), or kind RESPONSES */
    const char *pin_account; /* kind RESPONSES continuing a response an upstream keeps: only
                              * the deployments of that account (sllmp_deployment_t.account) */
    int responses_compact;   /* POST /v1/responses/compact: kind RESPONSES, to the upstream's
                              * /responses/compact, never streamed */
    cJSON *responses;        /* its body as the client sent it, once validate has put its chat
                              * translation (or, kind RESPONSES, the body to send) in json */
    cJSON *messages;         /* POST /v1/messages to a model without Anthropic's API: the body as
                              * the client sent it, once validate has put its chat translation
                              * in json (kind CHAT); answered in the Messages shapes
                              * (src/middleware/messages.c). NULL otherwise */
    const char *model;       /* as the client named it */
    const char *group;   /* the model group routed to: model, or the model_group_alias's target */
    const char *user;    /* X-User-ID, else OpenAI `user`, else the key's `user` */
    const char *session; /* X-Session-ID */
    const char *origin;  /* Origin, when CORS allows it */
    int stream;
    int client_wants_usage; /* stream_options.include_usage from the client */
    const sllmp_deployment_t *dep;
    const char **tags; /* LiteLLM's request tags, for tag routing: the body's tags and
                        * metadata.tags, x-litellm-tags, the key's; NULL unless
                        * router_settings.enable_tag_filtering */
    size_t ntags;
    const sllmp_key_t *key; /* the virtual key used, NULL for the master key or none */
    int authenticated;      /* a valid key (or an open gateway): the trace may keep bodies */

    /* the answer */
    sllmp_buf_t resp_headers; /* extra "Name: value\r\n" lines, before the headers go out */
    sllmp_buf_t resp_body;    /* an unstreamed answer, sent after post */
    int status;
    int headers_sent;   /* also while a stream is held: the hooks treat it as any stream */
    int stream_started; /* SSE headers sent: errors become SSE events */
    int stream_held;    /* sllmp.buffer_streams: the SSE body collects in `held` and goes out
                         * whole, with Content-Length, at [DONE]; nothing has gone out yet */
    sllmp_buf_t held;
    int client_gone;
    int finished; /* a response (success or error) is complete */
    int ended;    /* sllmp_resp_end() ran: the web server has the whole response */

    /* the failure, when there is one */
    sllmp_err_t err;
    int err_status; /* overrides the table's status when non-zero */
    const char *err_message;
    const char *err_param;
    const char *err_type;       /* overrides the table's type when non-NULL */
    const char *err_code;       /* overrides the table's code when non-NULL */
    const char *retry_after;    /* seconds, sent as Retry-After */
    const char *retry_after_ms; /* sent as retry-after-ms (OpenAI SDKs prefer it) */
    int64_t upstream_wait_ms;   /* what the upstream itself asked to wait before a retry (its
                                 * Retry-After, Gemini's RetryInfo); 0: nothing. Apart from
                                 * retry_after, which may be the gateway's own hint */

    /* what the upstream said */
    int upstream_status;
    sllmp_usage_t usage;     /* normalised; estimated when the upstream gave none */
    size_t completion_chars; /* streamed content, for the estimate */
    long images;             /* the images of an unstreamed /v1/images/generations answer (its
                              * `data`), for a per-image price */
    double cost_usd;
    int fell_back;         /* the answer is a fallback model group's */
    int cache_hit;         /* answered from the response cache: it costs nothing */
    const char *cache_key; /* the cache's key for it (x-litellm-cache-key), NULL: not cached */
    long chunks;
    sllmp_attempt_t attempts[SLLMP_ATTEMPTS_MAX];
    int nattempts;
    int limit_refused; /* the sllmp_limit_kind_t + 1 of the gateway's limit that refused it */
    int metrics_slot;  /* the metrics slot counting it as in flight, + 1 */
    int logged;        /* its access log line is written */

    /* Called by whatever waits on the upstream (at least every 200 ms) once keepalive_at has
     * passed: the limits renew their leases on long requests. */
    void (*keepalive)(sllmp_req_t *r);
    int64_t keepalive_at; /* monotonic ms */

    void *mw_ctx[SLLMP_MW_MAX];
};

/* The request's response is complete: end_ms and end_us are set, once. */
void sllmp_req_mark_end(sllmp_req_t *r);

/* X-Sllmp-Overhead-Ms so far: the time since arrival not spent waiting on an upstream. */
int64_t sllmp_req_overhead_us(const sllmp_req_t *r);

/* For the loops that wait on an upstream: runs r->keepalive when it is due. */
void sllmp_req_keepalive(sllmp_req_t *r, int64_t now_ms);

/* Adds a response header; ignored once the headers went out (a held stream's have not). */
void sllmp_resp_header(sllmp_req_t *r, const char *name, const char *value);

/* Sends the status line and headers: the standard ones, CORS, the added ones. 0 or -1 (gone). */
int sllmp_resp_start(sllmp_req_t *r, int status, const char *content_type);

/* Writes body bytes (buffered). 0 or -1 (client gone). */
int sllmp_resp_write(sllmp_req_t *r, const char *data, size_t len);

/*
 * Tells the web server the response is complete (io->end), once; nothing may be written after.
 * For `complete` work that the client need not wait for (the trace record's fsync).
 */
void sllmp_resp_end(sllmp_req_t *r);

/* Flushes to the client; -1 and r->client_gone set when the client has left. */
int sllmp_resp_flush(sllmp_req_t *r);

/* A whole response with a body in one go. */
int sllmp_resp_send(sllmp_req_t *r, int status, const char *content_type, const char *body,
                    size_t len);

/*
 * Records a failure on r and returns SLLMP_ERROR (as an int, for hooks). param may be NULL;
 * fmt NULL means the table's message. Strings are copied into the arena. The message is at most
 * 1023 bytes, cut between characters, and UTF-8 (ill-formed bytes become U+FFFD); a client's text
 * quoted in it is best clipped with "%.*s" and sllmp_utf8_prec().
 */
int sllmp_req_fail(sllmp_req_t *r, sllmp_err_t err, const char *param, const char *fmt, ...)
    SLLMP_PRINTF(4, 5);

/*
 * Renders r->err to the client: JSON with the right status, or an SSE error event + [DONE]
 * once a stream went out (a held stream has not: it is dropped and the error is JSON).
 */
void sllmp_resp_error(sllmp_req_t *r);

/*
 * Starts an SSE response if it has not started. 0 or -1. With sllmp.buffer_streams the stream
 * is held instead: the SSE writers append to r->held, and the [DONE] event sends it all.
 */
int sllmp_sse_begin(sllmp_req_t *r);
/* Writes whole SSE events (already framed: "event: ...\ndata: ...\n\n"...) and flushes. 0 or
 * -1 (client gone). */
int sllmp_sse_raw(sllmp_req_t *r, const char *text, size_t len);
/* Writes one `data: ...` event and flushes. 0 or -1 (client gone). */
int sllmp_sse_data(sllmp_req_t *r, const char *data, size_t len);
/* The same under `event: <name>` (Anthropic's named events); name NULL: sllmp_sse_data. */
int sllmp_sse_event(sllmp_req_t *r, const char *name, const char *data, size_t len);
/* A post hook's translation of the unstreamed answer: r's body becomes `body` printed. 0; -1
 * when it does not print (the body is left as it was). */
int sllmp_resp_body_json(sllmp_req_t *r, const cJSON *body);
/* Appends one framed event ("event: <name>\ndata: <data as JSON>\n\n") to out. 0 or -1. */
int sllmp_sse_frame(sllmp_buf_t *out, const char *name, const cJSON *data);
/* Whether r is answered in Anthropic's shapes (errors, the stream's end): /v1/messages, served
 * natively or through chat, and count_tokens. */
int sllmp_anthropic_shaped(const sllmp_req_t *r);
/* Ends a stream: `data: [DONE]` for the OpenAI kinds; nothing more for /v1/messages and
 * /v1/responses, whose last event (message_stop, response.completed) went out already (a held
 * stream is sent then). 0 or -1. */
int sllmp_sse_end(sllmp_req_t *r);
/* Writes an SSE comment heartbeat and flushes; nothing with buffer_streams. 0 or -1. */
int sllmp_sse_ping(sllmp_req_t *r);

/* A request parameter, or NULL. */
const char *sllmp_req_param(sllmp_req_t *r, const char *name);

/* Request entry point for the fronts: runs one whole request. */
void sllmp_handle(sllmp_io_t *io, sllmp_worker_ctx_t *w);

#endif
