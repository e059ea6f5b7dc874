/*
 * What the provider adapters share: the request body, feeding a streamed answer to its parser
 * (SSE or the AWS event stream), handing translated chunks to the pipeline, turning an
 * in-stream failure into the request's error, finishing a call whatever went wrong, and
 * keeping an unstreamed answer for the client.
 */
#include "sllmp/conf.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/gauth.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/sse.h"
#include "sllmp/upstream.h"

#include <string.h>
#include <strings.h>
#include <time.h>

const char *
sllmp_provider_body(sllmp_req_t *r, cJSON *req, const sllmp_xerr_t *xe)
{
    char *body;

    if (req == NULL && xe == NULL) {
        sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL); /* out of memory */
        return NULL;
    }
    if (req == NULL) {
        sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, xe->param[0] ? xe->param : NULL, "%s",
                       xe->message);
        return NULL;
    }
    body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    sllmp_arena_cleanup_add(r->arena, cJSON_free, body);
    return body;
}

/* Sleeps ms, waking every 50 ms to notice a departed client and to send a stream heartbeats
 * when the delay is longer than heartbeat_ms, as a real upstream's silence would get. */
int
sllmp_provider_pause(sllmp_req_t *r, long ms, int heartbeats)
{
    long quiet = 0;

    while (ms > 0) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};

        int64_t t0 = sllmp_now_us();

        nanosleep(&ts, NULL);
        r->wait_us += sllmp_now_us() - t0;
        sllmp_req_keepalive(r, sllmp_now_ms());
        ms -= step;
        quiet += step;
        if (r->io->gone != NULL && r->io->gone(r->io->ctx)) {
            r->client_gone = 1;
            return -1;
        }
        if (heartbeats && r->stream && quiet >= r->conf->heartbeat_ms) {
            quiet = 0;
            if (sllmp_sse_ping(r) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

int
sllmp_provider_feed_sse(sllmp_req_t *r, void *parser, const char *data, size_t n)
{
    int rc = sllmp_sse_feed(parser, data, n);

    if (rc < 0) {
        sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL, "The provider sent an oversized event.");
    }
    return rc;
}

int
sllmp_provider_feed_evs(sllmp_req_t *r, void *parser, const char *data, size_t n)
{
    sllmp_evs_t *evs = parser;
    int rc = sllmp_evs_feed(evs, data, n);

    if (rc < 0) {
        sllmp_log(r->id, SLLMP_LOG_WARN, "event stream: %s", evs->error);
        sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL, "The provider sent a malformed event stream.");
    }
    return rc;
}

typedef struct {
    sllmp_req_t *r;
    sllmp_provider_feed_f *feed;
    void *parser;
} feeder_t;

static int
feed_data(void *ud, const char *data, size_t n)
{
    feeder_t *f = ud;

    return f->feed(f->r, f->parser, data, n) != 0;
}

/*
 * Vertex AI refused the access token with a 401 (revoked, or expired before its time): it is
 * forgotten, a new one is asked for, and the call goes once more with it, as google-auth's
 * clients refresh and send again. Nothing of a 401 has reached the client. When no new token
 * comes, the 401 stands (and r says why the token endpoint refused).
 */
static sllmp_err_t
again_with_new_token(sllmp_req_t *r, sllmp_upstream_call_t *c)
{
    const char *headers[24], *line;
    const char *const *had = c->headers;
    size_t n = 0;
    sllmp_err_t err;

    sllmp_gauth_forget(r->dep->gcp);
    if ((line = sllmp_gauth_header(r, r->dep->gcp)) == NULL) {
        return SLLMP_OK;
    }
    for (const char *const *hp = had; *hp != NULL && n + 1 < sizeof(headers) / sizeof(*headers);
         hp++) {
        headers[n++] = strncasecmp(*hp, "Authorization:", 14) == 0 ? line : *hp;
    }
    headers[n] = NULL;
    sllmp_log(r->id, SLLMP_LOG_INFO,
              "model %s: Vertex AI refused the access token (401); "
              "sending again with a new one",
              r->dep->model_name);
    sllmp_buf_free(&c->resp);
    c->headers = headers;
    err = sllmp_upstream_run(r, c);
    c->headers = had;
    return err;
}

sllmp_err_t
sllmp_provider_run(sllmp_req_t *r, sllmp_upstream_call_t *c, sllmp_provider_feed_f *feed,
                   void *parser)
{
    feeder_t f = {r, feed, parser};
    sllmp_err_t err;

    if (r->stream && feed != NULL) {
        c->on_data = feed_data;
        c->ud = &f;
    }
    err = sllmp_upstream_run(r, c);
    if (err == SLLMP_OK && c->status == 401 && r->dep->gcp != NULL) {
        err = again_with_new_token(r, c);
    }
    return err;
}

int
sllmp_provider_emit(void *ud, const cJSON *json)
{
    sllmp_req_t *r = ud;
    char *text = cJSON_PrintUnformatted(json);
    /* the filters only read the parsed chunk; the cast drops a const cJSON has no use for */
    sllmp_chunk_t chunk = {text, strlen(text), (cJSON *)(uintptr_t)json, 0, 0, NULL, NULL, 0};
    sllmp_rc_t rc = sllmp_pipeline_chunk(r, &chunk);

    cJSON_free(text);
    return rc == SLLMP_ERROR;
}

void
sllmp_provider_xstream_init(sllmp_req_t *r, sllmp_xstream_t *s)
{
    char hex[25];

    memset(s, 0, sizeof(*s));
    sllmp_random_hex(hex, 12);
    s->emit = sllmp_provider_emit;
    s->ud = r;
    s->model = r->model;
    s->created = (long)time(NULL);
    s->id = sllmp_arena_printf(r->arena, "chatcmpl-%s", hex);
}

int
sllmp_provider_stream_error(sllmp_req_t *r, int status, const char *type, const char *message)
{
    sllmp_err_t err = status == 429                    ? SLLMP_ERR_PROVIDER_RATE_LIMIT
                      : status == 503 || status == 529 ? SLLMP_ERR_PROVIDER_UNAVAILABLE
                      : status >= 400 && status < 500  ? SLLMP_ERR_PROVIDER_BAD_REQUEST
                                                       : SLLMP_ERR_PROVIDER;

    sllmp_log(r->id, SLLMP_LOG_WARN, "provider %s failed mid-stream: %s", r->dep->provider_name,
              type != NULL && *type ? type : "error");
    if (status == 401 || status == 403) {
        /* never the provider's words: an AWS signature error quotes the signed request */
        sllmp_req_fail(r, err, NULL, "The provider refused the gateway's credentials (%d).",
                       status);
    } else {
        sllmp_req_fail(r, err, NULL, "%s",
                       message != NULL && *message ? message : "The provider failed mid-stream.");
    }
    if (err == SLLMP_ERR_PROVIDER_BAD_REQUEST) {
        r->err_status = status;
    }
    if (err == SLLMP_ERR_PROVIDER_UNAVAILABLE || err == SLLMP_ERR_PROVIDER_RATE_LIMIT) {
        r->retry_after = "1";
    }
    return 1;
}

cJSON *
sllmp_provider_event_object(const sllmp_req_t *r, const char *data, size_t n)
{
    int trailing;
    cJSON *json = sllmp_json_parse(data, n, &trailing);

    if (!cJSON_IsObject(json) || trailing) {
        sllmp_log(r->id, SLLMP_LOG_WARN,
                  "upstream sent an event that is not one JSON object; skipped");
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}

sllmp_rc_t
sllmp_provider_end(sllmp_req_t *r, sllmp_upstream_call_t *call, sllmp_err_t err, int stream_events)
{
    r->upstream_status = call->status;
    if (err != SLLMP_OK) {
        if (r->err == SLLMP_OK || !call->aborted_by_callback) {
            sllmp_req_fail(r, err, NULL, NULL);
        }
        if (r->err == SLLMP_ERR_PROVIDER_UNAVAILABLE && r->retry_after == NULL) {
            r->retry_after = "1";
        }
        return SLLMP_ERROR;
    }
    if (call->status < 200 || call->status >= 300) {
        if (call->status == 401 && r->dep->gcp != NULL) {
            sllmp_gauth_forget(r->dep->gcp); /* expired or revoked early: the next call asks anew */
        }
        return sllmp_upstream_fail(r, call);
    }
    if (r->stream && stream_events == 0) {
        return sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                              "The provider answered a streamed request without any event.");
    }
    return SLLMP_GO_ON;
}

sllmp_rc_t
sllmp_provider_answer(sllmp_req_t *r, cJSON *answer)
{
    char *text;
    const cJSON *ch;

    if (answer == NULL) {
        return sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                              "The provider's answer could not be understood.");
    }
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(answer, "choices"))
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(ch, "message"), "content");

        if (cJSON_IsString(content)) {
            r->completion_chars += strlen(content->valuestring);
        }
    }
    text = cJSON_PrintUnformatted(answer);
    sllmp_buf_reset(&r->resp_body);
    sllmp_buf_appends(&r->resp_body, text);
    cJSON_free(text);
    cJSON_Delete(answer);
    r->first_token_ms = sllmp_now_ms();
    return SLLMP_FINISHED;
}

sllmp_rc_t
sllmp_provider_native_answer(sllmp_req_t *r, sllmp_buf_t *resp)
{
    cJSON *msg = cJSON_ParseWithLength(resp->ptr, resp->len);
    const cJSON *block;

    if (!cJSON_IsObject(msg)) {
        cJSON_Delete(msg);
        return sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                              "The provider's answer is not a JSON object.");
    }
    sllmp_anthropic_usage_merge(&r->usage, cJSON_GetObjectItemCaseSensitive(msg, "usage"));
    cJSON_ArrayForEach(block, cJSON_GetObjectItemCaseSensitive(msg, "content"))
    {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(block, "text");

        if (cJSON_IsString(text)) {
            r->completion_chars += strlen(text->valuestring);
        }
    }
    cJSON_Delete(msg);
    r->resp_body = *resp;
    sllmp_buf_init(resp, 0);
    r->first_token_ms = sllmp_now_ms();
    return SLLMP_FINISHED;
}

sllmp_rc_t
sllmp_provider_xstream_end(sllmp_req_t *r, sllmp_xstream_t *s)
{
    if (r->err != SLLMP_OK) {
        return SLLMP_ERROR;
    }
    if (!s->ended) {
        /* cut before the provider said it was done (message_stop, finishReason, metadata): an
         * answer that may be missing its end is an error, not a "stop" */
        return sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                              "The provider's stream ended before the answer was complete.");
    }
    if (sllmp_xstream_finish(s) != 0) {
        return SLLMP_ERROR;
    }
    if (!s->usage.seen) {
        /* the usage chunk carried zeros the provider never reported: estimate instead */
        memset(&r->usage, 0, sizeof(r->usage));
    }
    return SLLMP_FINISHED;
}

int
sllmp_provider_native_event(sllmp_req_t *r, const char *type, const cJSON *json, const char *data,
                            size_t len, int *stopped)
{
    char *text = NULL;
    size_t n = strlen(type);
    sllmp_rc_t rc;

    /* an event name and data as the provider sent them go out in SSE framing: a name outside
     * Anthropic's and OpenAI's alphabet ("response.output_text.delta") or a line break in the
     * data would break (or forge) events */
    if (n == 0 || n > 64 || strspn(type, "abcdefghijklmnopqrstuvwxyz_.") != n) {
        sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL, "The provider sent a malformed event.");
        return 1;
    }
    if (memchr(data, '\n', len) != NULL || memchr(data, '\r', len) != NULL) {
        text = cJSON_PrintUnformatted(json);
        data = text;
        len = strlen(text);
    }
    if (strcmp(type, "message_stop") == 0) {
        *stopped = 1;
    }
    sllmp_chunk_t chunk = {data, len, (cJSON *)(uintptr_t)json, 0, 0, type, NULL, 0};

    rc = sllmp_pipeline_chunk(r, &chunk);
    cJSON_free(text);
    return rc == SLLMP_ERROR;
}

sllmp_rc_t
sllmp_provider_native_end(sllmp_req_t *r, int stopped)
{
    if (r->err != SLLMP_OK) {
        return SLLMP_ERROR;
    }
    if (!stopped) {
        return sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                              "The provider's stream ended before message_stop.");
    }
    return SLLMP_FINISHED;
}

sllmp_rc_t
sllmp_provider_count_answer(sllmp_req_t *r, const cJSON *count)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(count, "input_tokens");
    char *text;

    if (!cJSON_IsObject(count) || !cJSON_IsNumber(n) || n->valuedouble < 0 ||
        n->valuedouble > (double)SLLMP_USAGE_MAX) {
        return sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                              "The provider's token count could not be understood.");
    }
    /* Anthropic's answer as it came (with context management, it says more than the count) */
    text = cJSON_PrintUnformatted(count);
    sllmp_buf_reset(&r->resp_body);
    sllmp_buf_appends(&r->resp_body, text);
    cJSON_free(text);
    r->first_token_ms = sllmp_now_ms();
    return SLLMP_FINISHED;
}

sllmp_rc_t
sllmp_provider_count_estimate(sllmp_req_t *r)
{
    cJSON *count = cJSON_CreateObject();
    sllmp_rc_t rc;

    cJSON_AddNumberToObject(count, "input_tokens", (double)sllmp_count_tokens_estimate(r->json));
    rc = sllmp_provider_count_answer(r, count);
    cJSON_Delete(count);
    /* Anthropic's answer has no room to say so: a header does */
    sllmp_resp_header(r, "x-sllmp-tokens-estimated", "true");
    return rc;
}
