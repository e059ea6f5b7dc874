/*
 * Anthropic Messages (protocols.md §2): /v1/chat/completions translated both ways
 * (src/providers/anthropic_xlate.c), and /v1/messages passed through as it is, with the
 * deployment's model, the gateway's key, and usage read on the way.
 *
 * POST /v1/messages/count_tokens ("Count tokens in a Message", Anthropic's API reference):
 * the headers of /v1/messages (x-api-key, anthropic-version 2023-06-01, anthropic-beta
 * optional; Claude Code adds ?beta=true to the URL, as for its Messages calls), a body of
 * /v1/messages without max_tokens: model and messages required; system, tools, tool_choice,
 * thinking and the newer output_config, context_management, mcp_servers optional. max_tokens,
 * stream, metadata and the sampling knobs are refused ("<field>: Extra inputs are not
 * permitted"). 200 {"input_tokens": N} (with context management, a context_management member
 * as well); errors in Anthropic's error shape (§2.5). Server tools, the MCP connector and
 * url/file image or document sources are refused there (400) though Messages takes them. It
 * is free, and rate-limited apart from Messages. Forwarded here with the deployment's model and
 * key, the client's anthropic-beta and ?beta=true; its body otherwise as it came.
 */
#include "sllmp/conf.h"
#include "sllmp/log.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/sse.h"
#include "sllmp/messages.h"
#include "sllmp/translate.h"
#include "sllmp/upstream.h"

#include <string.h>
#include <time.h>

#define MAX_EVENT (8 * 1024 * 1024)
/* Claude on Vertex AI: the API version goes in the body, the model in the URL */
#define VERTEX_VERSION "vertex-2023-10-16"

typedef struct {
    sllmp_req_t *r;
    sllmp_sse_t sse;
    sllmp_xstream_t x; /* chat: the translator */
    int events;
    int stopped; /* /v1/messages: message_stop went on */
} stream_t;

/* Anthropic's event type: the `event:` name, else the data's own `type`. */
static const char *
event_type(const char *event, const cJSON *data)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(data, "type");

    if (event != NULL && *event != '\0') {
        return event;
    }
    return cJSON_IsString(type) ? type->valuestring : "";
}

/* An `error` event after the 200: the request's error (Anthropic's SSE error shape). */
static int
stream_failed(sllmp_req_t *r, const cJSON *data)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(data, "error");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(err, "type");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
    sllmp_xstream_t x;

    /* the translator knows the statuses of Anthropic's error types */
    memset(&x, 0, sizeof(x));
    sllmp_anthropic_stream_event(&x, "error", data);
    return sllmp_provider_stream_error(r, x.err_status ? x.err_status : 500,
                                       cJSON_IsString(type) ? type->valuestring : NULL,
                                       cJSON_IsString(msg) ? msg->valuestring : NULL);
}

static int
on_chat_event(void *ud, const char *event, size_t elen, const char *data, size_t dlen)
{
    stream_t *s = ud;
    cJSON *json = sllmp_provider_event_object(s->r, data, dlen);
    int rc;

    (void)elen;
    if (json == NULL) {
        return 0;
    }
    s->events++;
    if (strcmp(event_type(event, json), "error") == 0) {
        rc = stream_failed(s->r, json);
    } else {
        rc = sllmp_anthropic_stream_event(&s->x, event, json);
        if (rc < 0) {
            rc =
                sllmp_provider_stream_error(s->r, s->x.err_status, s->x.err_type, s->x.err_message);
        }
    }
    cJSON_Delete(json);
    return rc != 0;
}

/* /v1/messages: each event goes on as it came, under its own name. */
static int
on_native_event(void *ud, const char *event, size_t elen, const char *data, size_t dlen)
{
    stream_t *s = ud;
    cJSON *json = sllmp_provider_event_object(s->r, data, dlen);
    const char *type;
    int rc = 0;

    (void)elen;
    if (json == NULL) {
        return 0;
    }
    s->events++;
    type = event_type(event, json);
    if (strcmp(type, "error") == 0) {
        rc = stream_failed(s->r, json);
    } else if (strcmp(type, "ping") != 0) {
        /* pings are the gateway's to send (heartbeats), not forwarded one for one */
        rc = sllmp_provider_native_event(s->r, type, json, data, dlen, &s->stopped);
    }
    cJSON_Delete(json);
    return rc;
}

/* POST {api_base}{path} (/v1/messages, or its count_tokens with a query) with the deployment's
 * key; body is sent as it is. On Vertex AI: rawPredict (streamRawPredict) of the model, or of
 * count-tokens, with an access token. */
static sllmp_rc_t
call(sllmp_req_t *r, const char *path, const char *body, sllmp_sse_event_f *on_event, stream_t *s,
     sllmp_upstream_call_t *c)
{
    sllmp_err_t err;

    const sllmp_deployment_t *d = r->dep;
    const char *headers[8];
    const char *beta = sllmp_req_param(r, "HTTP_ANTHROPIC_BETA");
    int nh = 0;
    size_t blen = strlen(d->api_base);

    memset(c, 0, sizeof(*c));
    headers[nh++] = "Content-Type: application/json";
    headers[nh++] = r->stream ? "Accept: text/event-stream" : "Accept: application/json";
    headers[nh++] = sllmp_arena_printf(r->arena, "X-Request-ID: %s", r->id);
    if (d->gcp != NULL) {
        if (sllmp_vertex_auth(r, headers, &nh) < 0) {
            return SLLMP_ERROR;
        }
        /* Vertex refuses the flags it does not take, and any on count-tokens (context-1m,
         * web-search: both 400 there though its Messages take them) */
        beta =
            r->kind == SLLMP_KIND_COUNT_TOKENS ? NULL : sllmp_betas_for(r, SLLMP_BETA_VERTEX, beta);
    } else {
        headers[nh++] = "anthropic-version: " SLLMP_ANTHROPIC_VERSION;
        if (d->api_key != NULL) {
            headers[nh++] = sllmp_arena_printf(r->arena, "x-api-key: %s", d->api_key);
        }
    }
    if ((r->kind == SLLMP_KIND_MESSAGES || r->kind == SLLMP_KIND_COUNT_TOKENS) && beta != NULL &&
        strpbrk(beta, "\r\n") == NULL) {
        /* the client's beta flags are part of its request (Claude Code sends them) */
        headers[nh++] = sllmp_arena_printf(r->arena, "anthropic-beta: %.512s", beta);
    }
    headers[nh] = NULL;
    /* LiteLLM configs give either the host or the whole .../v1/messages URL */
    if (blen >= 12 && strcmp(d->api_base + blen - 12, "/v1/messages") == 0) {
        blen -= 12;
    }
    if (d->gcp != NULL && r->kind == SLLMP_KIND_COUNT_TOKENS) {
        c->url = sllmp_vertex_url(r, "count-tokens", "rawPredict");
    } else if (d->gcp != NULL) {
        c->url = sllmp_vertex_url(r, NULL, r->stream ? "streamRawPredict" : "rawPredict");
    } else {
        c->url = sllmp_arena_printf(r->arena, "%.*s%s", (int)blen, d->api_base, path);
    }
    c->body = body;
    c->body_len = strlen(body);
    c->headers = headers;
    s->r = r;
    sllmp_sse_init(&s->sse, MAX_EVENT, on_event, s);
    err = sllmp_provider_run(r, c, sllmp_provider_feed_sse, &s->sse);
    sllmp_sse_free(&s->sse);
    return sllmp_provider_end(r, c, err, s->events);
}

sllmp_rc_t
sllmp_provider_anthropic_chat(sllmp_req_t *r)
{
    sllmp_xerr_t xe;
    cJSON *req = sllmp_anthropic_request(r->json, r->dep->model, &xe);
    sllmp_upstream_call_t c;
    stream_t s;
    sllmp_rc_t rc;
    const char *body;

    if (req != NULL && r->dep->gcp != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(req, "model");
        cJSON_AddStringToObject(req, "anthropic_version", VERTEX_VERSION);
    }
    if ((body = sllmp_provider_body(r, req, &xe)) == NULL) {
        return SLLMP_ERROR;
    }
    memset(&s, 0, sizeof(s));
    sllmp_provider_xstream_init(r, &s.x);
    rc = call(r, "/v1/messages", body, on_chat_event, &s, &c);
    if (rc == SLLMP_GO_ON && r->stream) {
        rc = sllmp_provider_xstream_end(r, &s.x);
    } else if (rc == SLLMP_GO_ON) {
        cJSON *msg = cJSON_ParseWithLength(c.resp.ptr, c.resp.len);

        rc = sllmp_provider_answer(
            r, sllmp_anthropic_response(msg, r->model, (long)time(NULL), &r->usage));
        cJSON_Delete(msg);
    }
    sllmp_xstream_free(&s.x);
    sllmp_buf_free(&c.resp);
    return rc;
}

/* r->json printed for Vertex AI when r->dep is there: with its API version, and without the
 * model (count_tokens keeps it), which the URL names; r->json itself as it was. */
static char *
print_body(sllmp_req_t *r, int keep_model)
{
    cJSON *model = NULL, *version;
    char *text;

    if (r->dep->gcp == NULL) {
        return cJSON_PrintUnformatted(r->json);
    }
    if (!keep_model) {
        model = cJSON_DetachItemFromObjectCaseSensitive(r->json, "model");
    }
    /* Vertex's version, never a client's (nor two of them) */
    version = cJSON_DetachItemFromObjectCaseSensitive(r->json, "anthropic_version");
    cJSON_AddStringToObject(r->json, "anthropic_version", VERTEX_VERSION);
    text = cJSON_PrintUnformatted(r->json);
    cJSON_DeleteItemFromObjectCaseSensitive(r->json, "anthropic_version");
    if (version != NULL) {
        cJSON_AddItemToObject(r->json, "anthropic_version", version);
    }
    if (model != NULL) {
        cJSON_AddItemToObject(r->json, "model", model);
    }
    return text;
}

/* The client's Anthropic body with the deployment's model and Anthropic's part of the
 * metadata (the whole of it back after printing: the trace reads the gateway's part). */
static char *
native_body(sllmp_req_t *r)
{
    cJSON *md = cJSON_DetachItemFromObjectCaseSensitive(r->json, "metadata");
    cJSON *sent = sllmp_anthropic_metadata(md);
    char *text;

    cJSON_ReplaceItemInObjectCaseSensitive(r->json, "model", cJSON_CreateString(r->dep->model));
    sllmp_messages_bare_ids(r->json);
    if (sent != NULL) {
        cJSON_AddItemToObject(r->json, "metadata", sent);
    }
    text = print_body(r, 0);
    cJSON_DeleteItemFromObjectCaseSensitive(r->json, "metadata");
    if (md != NULL) {
        cJSON_AddItemToObject(r->json, "metadata", md);
    }
    return text;
}

sllmp_rc_t
sllmp_provider_anthropic_messages(sllmp_req_t *r)
{
    sllmp_upstream_call_t c;
    stream_t s;
    sllmp_rc_t rc;
    char *body = native_body(r);

    sllmp_arena_cleanup_add(r->arena, cJSON_free, body);
    memset(&s, 0, sizeof(s));
    rc = call(r, "/v1/messages", body, on_native_event, &s, &c);
    if (rc == SLLMP_GO_ON && r->stream) {
        rc = sllmp_provider_native_end(r, s.stopped);
    } else if (rc == SLLMP_GO_ON) {
        rc = sllmp_provider_native_answer(r, &c.resp);
    }
    sllmp_buf_free(&c.resp);
    return rc;
}

/* Whether the client's query has beta=true (Claude Code's, on the beta API's calls). */
static int
beta_query(sllmp_req_t *r)
{
    const char *uri = sllmp_req_param(r, "REQUEST_URI");
    const char *q = uri != NULL ? strchr(uri, '?') : NULL;

    while (q != NULL) {
        q++;
        if (strncmp(q, "beta=true", 9) == 0 && (q[9] == '\0' || q[9] == '&')) {
            return 1;
        }
        q = strchr(q, '&');
    }
    return 0;
}

sllmp_rc_t
sllmp_provider_anthropic_count_tokens(sllmp_req_t *r)
{
    sllmp_upstream_call_t c;
    stream_t s;
    sllmp_rc_t rc;
    const char *path;
    char *body;

    cJSON_ReplaceItemInObjectCaseSensitive(r->json, "model", cJSON_CreateString(r->dep->model));
    sllmp_messages_bare_ids(r->json);
    body = print_body(r, 1);
    sllmp_arena_cleanup_add(r->arena, cJSON_free, body);
    memset(&s, 0, sizeof(s));
    path = beta_query(r) ? "/v1/messages/count_tokens?beta=true" : "/v1/messages/count_tokens";
    rc = call(r, path, body, on_native_event, &s, &c);
    if (rc == SLLMP_GO_ON) {
        cJSON *count = cJSON_ParseWithLength(c.resp.ptr, c.resp.len);

        rc = sllmp_provider_count_answer(r, count);
        cJSON_Delete(count);
    }
    sllmp_buf_free(&c.resp);
    return rc;
}
