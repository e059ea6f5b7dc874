/*
 * AWS Bedrock (protocols.md §3.3): /v1/chat/completions through Converse and ConverseStream,
 * /v1/messages for Anthropic models and /v1/embeddings (Titan, Cohere) through InvokeModel,
 * /v1/messages/count_tokens for Anthropic models through CountTokens.
 * Requests are signed with SigV4 (src/providers/sigv4.c), or carry a Bedrock API key as a
 * Bearer token; streams come as the binary AWS event stream (src/providers/eventstream.c),
 * never SSE.
 */
#include "sllmp/conf.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/messages.h"
#include "sllmp/translate.h"
#include "sllmp/upstream.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MESSAGE  (16 * 1024 * 1024)
#define COHERE_BATCH 96 /* texts per Cohere call */

typedef struct {
    sllmp_req_t *r;
    sllmp_evs_t evs;
    sllmp_xstream_t x;
    int native; /* InvokeModel stream of Anthropic events, for /v1/messages */
    int events;
    int stopped; /* native: message_stop went on */
} stream_t;

/* An exception or error frame (or an Anthropic error event) ends the stream as r's error. */
static int
frame_failed(stream_t *s, const sllmp_evs_msg_t *m)
{
    cJSON *json = cJSON_ParseWithLength(m->payload, m->payload_len);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(json, "message");
    const char *type = m->exception_type[0] ? m->exception_type : m->error_code;
    int rc = sllmp_provider_stream_error(s->r, sllmp_bedrock_exception_status(type), type,
                                         cJSON_IsString(msg) ? msg->valuestring : NULL);

    cJSON_Delete(json);
    return rc;
}

/* One Anthropic event from InvokeModelWithResponseStream: {"bytes": base64 of its JSON}. */
static int
native_chunk(stream_t *s, const cJSON *payload)
{
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(payload, "bytes");
    size_t n = cJSON_IsString(bytes) ? strlen(bytes->valuestring) : 0;
    unsigned char *raw;
    int len, rc = 0;
    cJSON *ev;
    const cJSON *type;

    if (n == 0 || n % 4 != 0) {
        sllmp_req_fail(s->r, SLLMP_ERR_PROVIDER, NULL, "The provider sent a malformed event.");
        return 1;
    }
    raw = sllmp_xmalloc(n / 4 * 3 + 1);
    len = EVP_DecodeBlock(raw, (const unsigned char *)bytes->valuestring, (int)n);
    /* EVP_DecodeBlock counts the padding as bytes */
    for (size_t i = n; len > 0 && i > 0 && bytes->valuestring[i - 1] == '='; i--) {
        len--;
    }
    ev = len > 0 ? cJSON_ParseWithLength((const char *)raw, (size_t)len) : NULL;
    type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "error") == 0) {
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(ev, "error");
        const cJSON *et = cJSON_GetObjectItemCaseSensitive(err, "type");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
        sllmp_xstream_t x;

        memset(&x, 0, sizeof(x));
        sllmp_anthropic_stream_event(&x, "error", ev);
        rc = sllmp_provider_stream_error(s->r, x.err_status ? x.err_status : 500,
                                         cJSON_IsString(et) ? et->valuestring : NULL,
                                         cJSON_IsString(msg) ? msg->valuestring : NULL);
    } else if (!cJSON_IsString(type)) {
        sllmp_req_fail(s->r, SLLMP_ERR_PROVIDER, NULL, "The provider sent a malformed event.");
        rc = 1;
    } else if (strcmp(type->valuestring, "ping") != 0) {
        rc = sllmp_provider_native_event(s->r, type->valuestring, ev, (const char *)raw,
                                         (size_t)len, &s->stopped);
    }
    cJSON_Delete(ev);
    free(raw);
    return rc;
}

static int
on_message(void *ud, const sllmp_evs_msg_t *m)
{
    stream_t *s = ud;
    cJSON *json;
    int rc;

    if (strcmp(m->message_type, "exception") == 0 || strcmp(m->message_type, "error") == 0) {
        return frame_failed(s, m);
    }
    json = cJSON_ParseWithLength(m->payload, m->payload_len);
    if (json == NULL) {
        sllmp_log(s->r->id, SLLMP_LOG_WARN, "upstream sent an event that is not JSON; skipped");
        return 0;
    }
    s->events++;
    if (s->native) {
        rc = strcmp(m->event_type, "chunk") == 0 ? native_chunk(s, json) : 0;
    } else {
        rc = sllmp_bedrock_stream_event(&s->x, m->event_type, json);
        if (rc < 0) {
            rc =
                sllmp_provider_stream_error(s->r, s->x.err_status, s->x.err_type, s->x.err_message);
        }
    }
    cJSON_Delete(json);
    return rc != 0;
}

/*
 * POSTs body to {api_base}/model/{id}/{op}, signed. SLLMP_GO_ON with c->resp when there is an
 * answer to read.
 */
static sllmp_rc_t
call_model(sllmp_req_t *r, const char *id, const char *op, const char *body, stream_t *s,
           sllmp_upstream_call_t *c)
{
    const sllmp_deployment_t *d = r->dep;
    const char *base = d->api_base;
    const char *auth_start = strstr(base, "://") + 3;
    const char *base_path = strchr(auth_start, '/');
    char *authority = base_path != NULL ? sllmp_arena_strndup(r->arena, auth_start,
                                                              (size_t)(base_path - auth_start))
                                        : sllmp_arena_strdup(r->arena, auth_start);
    const char *headers[8];
    int nh = 0;
    sllmp_buf_t path;
    char amz_date[17], sig[1024];
    sllmp_err_t err;
    sllmp_rc_t rc;

    memset(c, 0, sizeof(*c));
    sllmp_buf_init(&path, 0);
    sllmp_buf_appends(&path, base_path != NULL ? base_path : "");
    sllmp_buf_appends(&path, "/model/");
    sllmp_aws_uri_encode(&path, id, strlen(id), 0); /* an ARN's '/' too */
    sllmp_buf_printf(&path, "/%s", op);
    c->url = sllmp_arena_printf(r->arena, "%.*s%s%s", (int)(auth_start - base), base, authority,
                                sllmp_buf_cstr(&path));
    headers[nh++] = "Content-Type: application/json";
    /* the Host signed is the Host sent, whatever libcurl would make of the URL's port */
    headers[nh++] = sllmp_arena_printf(r->arena, "Host: %s", authority);
    headers[nh++] = s->native || strcmp(op, "converse-stream") != 0
                        ? "Accept: application/json"
                        : "Accept: application/vnd.amazon.eventstream";
    if (d->api_key != NULL) {
        headers[nh++] = sllmp_arena_printf(r->arena, "Authorization: Bearer %s", d->api_key);
    } else {
        sllmp_kv_t kv[4];
        size_t nkv = 0;

        sllmp_amz_date(time(NULL), amz_date);
        kv[nkv++] = (sllmp_kv_t){"content-type", "application/json"};
        kv[nkv++] = (sllmp_kv_t){"host", authority};
        kv[nkv++] = (sllmp_kv_t){"x-amz-date", amz_date};
        if (d->aws.session_token != NULL) {
            kv[nkv++] = (sllmp_kv_t){"x-amz-security-token", d->aws.session_token};
            headers[nh++] =
                sllmp_arena_printf(r->arena, "x-amz-security-token: %s", d->aws.session_token);
        }
        if (sllmp_sigv4_authorization(d->aws.access_key_id, d->aws.secret_access_key, d->aws.region,
                                      "bedrock", "POST", sllmp_buf_cstr(&path), "", kv, nkv, body,
                                      strlen(body), amz_date, sig, sizeof(sig)) < 0) {
            sllmp_buf_free(&path);
            return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
        }
        headers[nh++] = sllmp_arena_printf(r->arena, "x-amz-date: %s", amz_date);
        headers[nh++] = sllmp_arena_printf(r->arena, "Authorization: %s", sig);
        OPENSSL_cleanse(sig, sizeof(sig));
    }
    headers[nh] = NULL;
    sllmp_buf_free(&path);
    c->body = body;
    c->body_len = strlen(body);
    c->headers = headers;
    s->r = r;
    sllmp_evs_init(&s->evs, MAX_MESSAGE, on_message, s);
    err = sllmp_provider_run(r, c, sllmp_provider_feed_evs, &s->evs);
    sllmp_evs_free(&s->evs);
    rc = sllmp_provider_end(r, c, err, s->events);
    if (rc != SLLMP_GO_ON) {
        sllmp_buf_free(&c->resp);
    }
    return rc;
}

/* call_model() on the deployment's model: an inference profile's or provisioned throughput's
 * ARN, else the model. */
static sllmp_rc_t
call(sllmp_req_t *r, const char *op, const char *body, stream_t *s, sllmp_upstream_call_t *c)
{
    const sllmp_deployment_t *d = r->dep;

    return call_model(r, d->model_id != NULL ? d->model_id : d->model, op, body, s, c);
}

sllmp_rc_t
sllmp_provider_bedrock_chat(sllmp_req_t *r)
{
    sllmp_xerr_t xe;
    const char *body =
        sllmp_provider_body(r, sllmp_bedrock_request(r->json, r->dep->model, &xe), &xe);
    sllmp_upstream_call_t c;
    stream_t s;
    sllmp_rc_t rc;

    if (body == NULL) {
        return SLLMP_ERROR;
    }
    memset(&s, 0, sizeof(s));
    sllmp_provider_xstream_init(r, &s.x);
    s.x.json_mode = sllmp_bedrock_json_mode(r->json);
    rc = call(r, r->stream ? "converse-stream" : "converse", body, &s, &c);
    if (rc != SLLMP_GO_ON) {
        sllmp_xstream_free(&s.x);
        return rc;
    }
    if (r->stream) {
        rc = sllmp_provider_xstream_end(r, &s.x);
    } else {
        cJSON *resp = cJSON_ParseWithLength(c.resp.ptr, c.resp.len);

        rc = sllmp_provider_answer(r, sllmp_bedrock_response(resp, r->model, (long)time(NULL),
                                                             &r->usage,
                                                             sllmp_bedrock_json_mode(r->json)));
        cJSON_Delete(resp);
    }
    sllmp_xstream_free(&s.x);
    sllmp_buf_free(&c.resp);
    return rc;
}

/* Anthropic's own body as InvokeModel wants it for Claude (no model, no stream, its
 * anthropic_version, the anthropic-beta header's flags as anthropic_beta, of the metadata only
 * Anthropic's user_id). The caller deletes it. */
static cJSON *
invoke_body(sllmp_req_t *r)
{
    cJSON *req = cJSON_Duplicate(r->json, 1);

    cJSON_DeleteItemFromObjectCaseSensitive(req, "model");
    cJSON_DeleteItemFromObjectCaseSensitive(req, "stream");
    cJSON_DeleteItemFromObjectCaseSensitive(req, "anthropic_version");
    sllmp_messages_bare_ids(req); /* Bedrock takes Anthropic's ids */
    cJSON_AddStringToObject(req, "anthropic_version", SLLMP_BEDROCK_ANTHROPIC_VERSION);
    if (cJSON_HasObjectItem(req, "metadata")) {
        cJSON *md = sllmp_anthropic_metadata(cJSON_GetObjectItemCaseSensitive(req, "metadata"));

        cJSON_DeleteItemFromObjectCaseSensitive(req, "metadata");
        if (md != NULL) {
            cJSON_AddItemToObject(req, "metadata", md);
        }
    }
    /* the client's beta flags are part of its request, as for Anthropic (anthropic.c), but
     * InvokeModel takes them in the body, and only those Bedrock knows (betas.c); a body's own
     * anthropic_beta is Bedrock's field already, meant for it */
    sllmp_bedrock_anthropic_beta(
        req, sllmp_betas_for(r, SLLMP_BETA_BEDROCK, sllmp_req_param(r, "HTTP_ANTHROPIC_BETA")));
    return req;
}

/* /v1/messages on Bedrock: Anthropic's own body through InvokeModel (invoke_body). */
sllmp_rc_t
sllmp_provider_bedrock_messages(sllmp_req_t *r)
{
    sllmp_upstream_call_t c;
    stream_t s;
    sllmp_rc_t rc;
    const char *body;

    if ((body = sllmp_provider_body(r, invoke_body(r), NULL)) == NULL) {
        return SLLMP_ERROR;
    }
    memset(&s, 0, sizeof(s));
    s.native = 1;
    rc = call(r, r->stream ? "invoke-with-response-stream" : "invoke", body, &s, &c);
    if (rc != SLLMP_GO_ON) {
        return rc;
    }
    rc = r->stream ? sllmp_provider_native_end(r, s.stopped)
                   : sllmp_provider_native_answer(r, &c.resp);
    sllmp_buf_free(&c.resp);
    return rc;
}

/*
 * /v1/messages/count_tokens on Bedrock, through CountTokens (AWS's API reference: CountTokens,
 * CountTokensInput, InvokeModelTokensRequest):
 *   POST /model/{modelId}/count-tokens  {"input": {"invokeModel": {"body": "<base64>"}}}
 *   200 {"inputTokens": N}; errors as every bedrock-runtime operation's (x-amzn-ErrorType,
 *   {"message"}): ValidationException, AccessDeniedException, ThrottlingException, ...
 * `input` is a union: invokeModel (the InvokeModel body, a blob, so base64 in the JSON) or
 * converse. modelId is a FoundationModelVersionIdentifier: a foundation model, not an
 * inference profile (us.anthropic.claude-..., or an application profile's ARN, are refused),
 * so the id asked for is the model's from "anthropic." on (LiteLLM's get_bedrock_base_model
 * strips the region prefix alike), never model_id. The body is the one InvokeModel gets for
 * /v1/messages, which Claude's schema checks as it would there: it needs max_tokens (and one
 * above thinking's budget), which the count's request has none of and which counts nothing:
 * the least that passes is put in (LiteLLM puts 1024). Answered in Anthropic's shape; a refusal
 * to count is answered with the gateway's estimate (sllmp_provider_count_estimate).
 */
sllmp_rc_t
sllmp_provider_bedrock_count_tokens(sllmp_req_t *r)
{
    const char *model = strstr(r->dep->model, "anthropic.");
    cJSON *req = invoke_body(r);
    const cJSON *budget = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(req, "thinking"), "budget_tokens");
    cJSON *wrap, *count = NULL;
    sllmp_upstream_call_t c;
    char *text, *b64;
    const char *body;
    stream_t s;
    sllmp_rc_t rc;

    if (!cJSON_HasObjectItem(req, "max_tokens")) {
        cJSON_AddNumberToObject(req, "max_tokens",
                                cJSON_IsNumber(budget) && budget->valuedouble >= 1 &&
                                        budget->valuedouble < 1e9
                                    ? (double)((long)budget->valuedouble + 1)
                                    : 1);
    }
    text = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    b64 = sllmp_base64(text, strlen(text));
    cJSON_free(text);
    wrap = cJSON_CreateObject();
    cJSON_AddStringToObject(
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(wrap, "input"), "invokeModel"), "body",
        b64);
    free(b64);
    if ((body = sllmp_provider_body(r, wrap, NULL)) == NULL) {
        return SLLMP_ERROR;
    }
    memset(&s, 0, sizeof(s));
    rc = call_model(r, model != NULL ? model : r->dep->model, "count-tokens", body, &s, &c);
    if (rc == SLLMP_ERROR && !r->client_gone &&
        (r->err == SLLMP_ERR_PROVIDER_BAD_REQUEST || r->err == SLLMP_ERR_PROVIDER_AUTH)) {
        /* CountTokens refused to count (a 4xx but 408 and 429: a model it does not count, an
         * IAM policy without bedrock:CountTokens, ...): the gateway's estimate answers, as
         * LiteLLM falls back to its local count. What is worth a retry (429, 5xx, a timeout)
         * goes on to the retries and fallbacks. */
        sllmp_log(r->id, SLLMP_LOG_INFO,
                  "model '%s': Bedrock's CountTokens refused the count (HTTP %d: %s); the "
                  "gateway's estimate answers",
                  r->dep->model_name, r->upstream_status,
                  r->err_message != NULL ? r->err_message : "no message");
        r->err = SLLMP_OK;
        r->err_status = 0;
        r->err_message = r->err_param = r->err_type = r->err_code = NULL;
        return sllmp_provider_count_estimate(r);
    }
    if (rc != SLLMP_GO_ON) {
        return rc;
    }
    wrap = cJSON_ParseWithLength(c.resp.ptr, c.resp.len);
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(wrap, "inputTokens"))) {
        count = cJSON_CreateObject();
        cJSON_AddNumberToObject(count, "input_tokens",
                                cJSON_GetObjectItemCaseSensitive(wrap, "inputTokens")->valuedouble);
    }
    rc = sllmp_provider_count_answer(r, count);
    cJSON_Delete(count);
    cJSON_Delete(wrap);
    sllmp_buf_free(&c.resp);
    return rc;
}

sllmp_rc_t
sllmp_provider_bedrock_embeddings(sllmp_req_t *r)
{
    sllmp_bedrock_embed_t kind = sllmp_bedrock_embed_kind(r->dep->model);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(r->json, "encoding_format");
    int base64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
    int total = sllmp_embed_input_count(r->json);
    int step = kind == SLLMP_BEDROCK_EMBED_TITAN ? 1 : COHERE_BATCH;
    long tokens = 0;
    cJSON *out, *data;

    if (total < 0) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "input",
                              "Bedrock embedding models take text: 'input' must be a string or "
                              "an array of non-empty strings.");
    }
    if (total > COHERE_BATCH) {
        /* Titan takes one text a call: a bound on the calls one request makes */
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "input",
                              "Bedrock embeds at most %d inputs in one request.", COHERE_BATCH);
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "object", "list");
    data = cJSON_AddArrayToObject(out, "data");
    /* one call per text (Titan) or per batch (Cohere): the answer is whole or an error */
    for (int first = 0; first < total; first += step) {
        int count = total - first < step ? total - first : step;
        sllmp_xerr_t xe;
        cJSON *req = sllmp_bedrock_embed_request(kind, r->json, first, count, &xe);
        sllmp_upstream_call_t c;
        stream_t s;
        sllmp_rc_t rc;
        const char *body;
        cJSON *resp;
        int bad;

        if (strstr(r->dep->model, "titan-embed-text-v1") != NULL) {
            /* Titan's first version takes inputText and nothing else */
            cJSON_DeleteItemFromObjectCaseSensitive(req, "normalize");
            cJSON_DeleteItemFromObjectCaseSensitive(req, "dimensions");
        }
        if ((body = sllmp_provider_body(r, req, &xe)) == NULL) {
            cJSON_Delete(out);
            return SLLMP_ERROR;
        }
        memset(&s, 0, sizeof(s));
        rc = call(r, "invoke", body, &s, &c);
        if (rc != SLLMP_GO_ON) {
            cJSON_Delete(out);
            return rc;
        }
        resp = cJSON_ParseWithLength(c.resp.ptr, c.resp.len);
        bad = sllmp_bedrock_embed_response(kind, resp, first, base64, data, &tokens) < 0;
        cJSON_Delete(resp);
        sllmp_buf_free(&c.resp);
        if (bad) {
            cJSON_Delete(out);
            return sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                                  "The provider's answer could not be understood.");
        }
    }
    cJSON_AddStringToObject(out, "model", r->model);
    if (tokens > 0) {
        cJSON *u = cJSON_AddObjectToObject(out, "usage");

        cJSON_AddNumberToObject(u, "prompt_tokens", (double)tokens);
        cJSON_AddNumberToObject(u, "total_tokens", (double)tokens);
        sllmp_usage_from_openai(&r->usage, u);
    } else {
        /* Cohere reports no count: estimated, and said so in the trace */
        cJSON *u = cJSON_AddObjectToObject(out, "usage");

        sllmp_usage_estimate(r);
        cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->usage.input);
        cJSON_AddNumberToObject(u, "total_tokens", (double)r->usage.input);
    }
    return sllmp_provider_answer(r, out);
}
