/*
 * Google Gemini through the Generative Language API (protocols.md §3.1): generateContent and
 * streamGenerateContent?alt=sse (without alt=sse Google streams a JSON array, not SSE), and
 * batchEmbedContents for /v1/embeddings. The key goes in x-goog-api-key, never in the URL,
 * where logs would keep it.
 */
#include "sllmp/conf.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/sse.h"
#include "sllmp/translate.h"
#include "sllmp/upstream.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_EVENT    (8 * 1024 * 1024)
#define GEMINI_BATCH 100 /* batchEmbedContents' limit */
#define VERTEX_BATCH 250 /* :predict's: "up to 250 input texts" */

typedef struct {
    sllmp_req_t *r;
    sllmp_sse_t sse;
    sllmp_xstream_t x;
    int events;
} stream_t;

static int
on_event(void *ud, const char *event, size_t elen, const char *data, size_t dlen)
{
    stream_t *s = ud;
    cJSON *json = sllmp_provider_event_object(s->r, data, dlen);
    int rc;

    (void)event, (void)elen;
    if (json == NULL) {
        return 0;
    }
    s->events++;
    rc = sllmp_gemini_stream_event(&s->x, json);
    if (rc < 0) {
        sllmp_req_t *r = s->r;
        int64_t ms;

        rc = sllmp_provider_stream_error(r, s->x.err_status, s->x.err_type, s->x.err_message);
        /* a RESOURCE_EXHAUSTED event's RetryInfo, as error_details() reads a 429's body */
        if (r->err == SLLMP_ERR_PROVIDER_RATE_LIMIT &&
            (ms = sllmp_gemini_retry_delay_ms(json)) >= 0) {
            r->retry_after_ms = sllmp_arena_printf(r->arena, "%lld", (long long)ms);
            r->retry_after = sllmp_arena_printf(r->arena, "%lld", (long long)(ms + 999) / 1000);
            r->upstream_wait_ms = ms;
        }
    }
    cJSON_Delete(json);
    return rc != 0;
}

/*
 * What Gemini says in an error body that its status does not:
 *  - when to come back (a google.rpc.RetryInfo), not in a header: when no Retry-After came,
 *    that delay becomes the call's, and so the client's Retry-After (whole seconds, rounded
 *    up) and retry-after-ms, and the router's wait before a retry;
 *  - that the key is wrong, with a 400 (ErrorInfo reason API_KEY_INVALID): the deployment's
 *    credentials, not the client's request, as a 401 would be.
 */
static void
error_details(sllmp_upstream_call_t *c)
{
    cJSON *body;
    int64_t ms = -1;

    if ((c->status != 429 && c->status != 400) || c->resp.len == 0) {
        return;
    }
    body = cJSON_ParseWithLength(c->resp.ptr, c->resp.len);
    if (c->status == 400) {
        c->key_refused = sllmp_gemini_key_refused(body);
    } else if (c->retry_after[0] == '\0' && c->retry_after_ms[0] == '\0') {
        /* only a 429's wait reaches the client and the router (sllmp_upstream_fail) */
        ms = sllmp_gemini_retry_delay_ms(body);
    }
    cJSON_Delete(body);
    if (ms >= 0) {
        snprintf(c->retry_after_ms, sizeof(c->retry_after_ms), "%lld", (long long)ms);
        snprintf(c->retry_after, sizeof(c->retry_after), "%lld", (long long)((ms + 999) / 1000));
    }
}

/* POSTs body to models/{model}:{method}; SLLMP_GO_ON with c->resp when there is an answer. */
static sllmp_rc_t
call(sllmp_req_t *r, const char *body, const char *method, stream_t *s, sllmp_upstream_call_t *c)
{
    const sllmp_deployment_t *d = r->dep;
    const char *headers[6];
    int nh = 0;
    sllmp_err_t err;
    sllmp_rc_t rc;

    memset(c, 0, sizeof(*c));
    headers[nh++] = "Content-Type: application/json";
    headers[nh++] = sllmp_arena_printf(r->arena, "X-Request-ID: %s", r->id);
    if (d->gcp != NULL) {
        if (sllmp_vertex_auth(r, headers, &nh) < 0) {
            return SLLMP_ERROR;
        }
        c->url = sllmp_vertex_url(r, NULL, method);
    } else {
        sllmp_buf_t model;
        const char *host = strstr(d->api_base, "://");
        const char *path = host != NULL ? strchr(host + 3, '/') : NULL;

        if (d->api_key != NULL) {
            headers[nh++] = sllmp_arena_printf(r->arena, "x-goog-api-key: %s", d->api_key);
        }
        sllmp_buf_init(&model, 0);
        sllmp_aws_uri_encode(&model, d->model, strlen(d->model), 1);
        /* the API version is the base's when its path names one (".../v1beta", ".../v1") */
        c->url = sllmp_arena_printf(r->arena, "%s%s/models/%s:%s", d->api_base,
                                    path != NULL && strncmp(path, "/v1", 3) == 0 ? "" : "/v1beta",
                                    sllmp_buf_cstr(&model), method);
        sllmp_buf_free(&model);
    }
    headers[nh] = NULL;
    c->body = body;
    c->body_len = strlen(body);
    c->headers = headers;
    s->r = r;
    sllmp_sse_init(&s->sse, MAX_EVENT, on_event, s);
    err = sllmp_provider_run(r, c, sllmp_provider_feed_sse, &s->sse);
    sllmp_sse_free(&s->sse);
    if (err == SLLMP_OK) {
        error_details(c);
    }
    rc = sllmp_provider_end(r, c, err, s->events);
    if (rc != SLLMP_GO_ON) {
        sllmp_buf_free(&c->resp);
    }
    return rc;
}

sllmp_rc_t
sllmp_provider_gemini_chat(sllmp_req_t *r)
{
    sllmp_xerr_t xe;
    cJSON *req = sllmp_gemini_request(r->json, r->dep->model, &xe);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(r->json, "labels");
    const char *body;
    sllmp_upstream_call_t c;
    stream_t s;
    sllmp_rc_t rc;

    if (req != NULL && r->dep->gcp != NULL && cJSON_IsObject(labels)) {
        /* Vertex's own field, which its billing reports break costs down by: a client's goes
         * on, as LiteLLM passes it (the Gemini API knows no such field) */
        cJSON_AddItemToObject(req, "labels", cJSON_Duplicate(labels, 1));
    }
    if ((body = sllmp_provider_body(r, req, &xe)) == NULL) {
        return SLLMP_ERROR;
    }
    memset(&s, 0, sizeof(s));
    sllmp_provider_xstream_init(r, &s.x);
    rc = call(r, body, r->stream ? "streamGenerateContent?alt=sse" : "generateContent", &s, &c);
    if (rc != SLLMP_GO_ON) {
        sllmp_xstream_free(&s.x);
        return rc;
    }
    if (r->stream) {
        rc = sllmp_provider_xstream_end(r, &s.x);
    } else {
        cJSON *resp = cJSON_ParseWithLength(c.resp.ptr, c.resp.len);

        rc = sllmp_provider_answer(
            r, sllmp_gemini_response(resp, r->model, (long)time(NULL), &r->usage));
        cJSON_Delete(resp);
    }
    sllmp_xstream_free(&s.x);
    sllmp_buf_free(&c.resp);
    return rc;
}

/* The OpenAI list of an embeddings answer resp (taken). */
static sllmp_rc_t
embed_answer(sllmp_req_t *r, cJSON *resp)
{
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(r->json, "encoding_format");
    sllmp_rc_t rc;

    /* the estimate, unless the answer has a count */
    r->usage.input = sllmp_estimate_tokens(sllmp_req_prompt_chars(r));
    rc = sllmp_provider_answer(
        r, sllmp_gemini_embed_response(
               resp, r->model, cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0,
               &r->usage));
    cJSON_Delete(resp);
    return rc;
}

/* Vertex AI: :predict with at most 250 inputs, one a call for the gemini-embedding models
 * ("supports one instance per request"); their predictions are answered as one list. */
static sllmp_rc_t
vertex_embeddings(sllmp_req_t *r)
{
    int n = sllmp_embed_input_count(r->json);
    int per = strstr(r->dep->model, "gemini-embedding") != NULL ? 1 : VERTEX_BATCH;
    cJSON *all = cJSON_CreateObject(), *preds = cJSON_AddArrayToObject(all, "predictions");
    sllmp_upstream_call_t c;
    stream_t s;
    sllmp_rc_t rc = SLLMP_GO_ON;

    if (n > VERTEX_BATCH) {
        cJSON_Delete(all);
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "input",
                              "Vertex AI embeds at most %d inputs in one request.", VERTEX_BATCH);
    }
    for (int first = 0; rc == SLLMP_GO_ON && first < (n > 0 ? n : 1); first += per) {
        sllmp_xerr_t xe;
        const char *body =
            sllmp_provider_body(r, sllmp_vertex_embed_request(r->json, first, per, &xe), &xe);
        cJSON *resp, *p;

        if (body == NULL) {
            rc = SLLMP_ERROR;
            break;
        }
        memset(&s, 0, sizeof(s));
        if ((rc = call(r, body, "predict", &s, &c)) != SLLMP_GO_ON) {
            break;
        }
        resp = cJSON_ParseWithLength(c.resp.ptr, c.resp.len);
        sllmp_buf_free(&c.resp);
        p = cJSON_GetObjectItemCaseSensitive(resp, "predictions");
        if (!cJSON_IsArray(p)) {
            /* not an answer: neither is the whole (embed_answer() says so) */
            cJSON_DeleteItemFromObjectCaseSensitive(all, "predictions");
            cJSON_Delete(resp);
            break;
        }
        while (cJSON_GetArraySize(p) > 0) {
            cJSON_AddItemToArray(preds, cJSON_DetachItemFromArray(p, 0));
        }
        cJSON_Delete(resp);
    }
    if (rc != SLLMP_GO_ON) {
        cJSON_Delete(all);
        return rc;
    }
    return embed_answer(r, all);
}

sllmp_rc_t
sllmp_provider_gemini_embeddings(sllmp_req_t *r)
{
    sllmp_xerr_t xe;
    cJSON *req;
    sllmp_upstream_call_t c;
    stream_t s;
    sllmp_rc_t rc;
    const char *body;

    if (r->dep->gcp != NULL) {
        return vertex_embeddings(r);
    }
    req = sllmp_gemini_embed_request(r->json, r->dep->model, &xe);
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(req, "requests")) > GEMINI_BATCH) {
        cJSON_Delete(req);
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "input",
                              "Gemini embeds at most %d inputs in one request.", GEMINI_BATCH);
    }
    if ((body = sllmp_provider_body(r, req, &xe)) == NULL) {
        return SLLMP_ERROR;
    }
    memset(&s, 0, sizeof(s));
    rc = call(r, body, "batchEmbedContents", &s, &c);
    if (rc != SLLMP_GO_ON) {
        return rc;
    }
    rc = embed_answer(r, cJSON_ParseWithLength(c.resp.ptr, c.resp.len));
    sllmp_buf_free(&c.resp);
    return rc;
}
