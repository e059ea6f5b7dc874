/*
 * OpenAI-compatible upstreams: OpenAI itself, vLLM, Ollama, LM Studio, Groq, Mistral, any base
 * URL that speaks /chat/completions (protocols.md §1, §3.4), Azure OpenAI (§3.2: the
 * deployment in the path, api-version in the query, the key in `api-key`), and Vertex AI's
 * partner models at its OpenAI-compatible endpoint (a Google access token for the key). The same
 * pass-through serves /v1/completions and /v1/embeddings.
 *
 * The client's body goes upstream with `model` replaced by the deployment's and, for streams,
 * stream_options.include_usage forced on, except for Azure api-versions that predate
 * stream_options and for Mistral (they refuse it: the client's own is left out too, and its
 * include_usage is answered with the upstream's usage or an estimate). Parameters a provider takes
 * under another name or not at all are mapped as LiteLLM maps them (param_map: max_tokens for
 * OpenAI's reasoning models, Mistral's names). Streamed answers are parsed
 * event by event; each event goes through the pipeline's on_chunk filters to the client at once. An
 * `error` object inside a 200 stream ends the call as a provider error.
 */
#include "sllmp/conf.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/sse.h"
#include "sllmp/translate.h"
#include "sllmp/upstream.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

#define MAX_EVENT (8 * 1024 * 1024)

typedef struct {
    sllmp_req_t *r;
    sllmp_sse_t sse;
    int done;     /* [DONE] came */
    int finished; /* a choice came with its finish_reason */
    cJSON *head;  /* id, object, created and model of the first chunk passed on, for a usage
                   * chunk of the gateway's own to repeat */
} stream_t;

/* One JSON value and nothing after it but whitespace, or NULL: a client's parser would take no
 * less (an answer or an event goes on as the provider wrote it). */
static cJSON *
parse_whole(const char *s, size_t n)
{
    int trailing;
    cJSON *json = sllmp_json_parse(s, n, &trailing);

    if (trailing) {
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}

static int
on_event(void *ud, const char *event, size_t elen, const char *data, size_t dlen)
{
    stream_t *s = ud;
    sllmp_req_t *r = s->r;
    sllmp_chunk_t chunk = {data, dlen, NULL, 0, 0, NULL, NULL, 0};
    sllmp_rc_t rc;

    (void)elen;
    if (s->done) {
        return 0;
    }
    if (dlen == 6 && memcmp(data, "[DONE]", 6) == 0) {
        s->done = 1;
        chunk.done = 1;
        return sllmp_pipeline_chunk(r, &chunk) == SLLMP_ERROR;
    }
    if ((chunk.json = sllmp_provider_event_object(r, data, dlen)) == NULL) {
        return 0;
    }
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(chunk.json, "error");
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk.json, "choices");

    if (err == NULL && cJSON_IsArray(choices) && cJSON_GetArraySize(choices) == 0 &&
        !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(chunk.json, "usage"))) {
        /* Azure opens with a chunk of content-filter results and no choices: clients that
         * index choices[0] would fail on it (protocols.md §0.6) */
        cJSON_Delete(chunk.json);
        return 0;
    }

    if (err != NULL || strcmp(event, "error") == 0) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");

        sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL, "%s",
                       cJSON_IsString(msg) ? msg->valuestring : "The provider failed mid-stream.");
        cJSON_Delete(chunk.json);
        return 1;
    }
    if (s->head == NULL) {
        static const char *const keys[] = {"id", "object", "created", "model"};

        s->head = cJSON_CreateObject();
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(chunk.json, keys[i]);

            if (cJSON_IsString(v) || cJSON_IsNumber(v)) {
                cJSON_AddItemToObject(s->head, keys[i], cJSON_Duplicate(v, 0));
            }
        }
    }
    char *text = NULL;
    const cJSON *ch;

    cJSON_ArrayForEach(ch, choices)
    {
        s->finished |= cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ch, "finish_reason"));
    }
    if (memchr(data, '\n', dlen) != NULL) {
        /* data lines joined by "\n" would go out as one line of JSON and others that are no
         * event at all: printed again, on one line */
        text = cJSON_PrintUnformatted(chunk.json);
        chunk.data = text;
        chunk.len = strlen(text);
    }
    rc = sllmp_pipeline_chunk(r, &chunk);
    cJSON_free(text);
    cJSON_Delete(chunk.json);
    return rc == SLLMP_ERROR;
}

/*
 * `metadata` is the gateway's (LiteLLM's trace names, tags as lists): it goes upstream only as
 * OpenAI takes it, strings for a stored completion (`store: true`), as LiteLLM does.
 */
static int
metadata_goes_upstream(const cJSON *body)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(body, "metadata");
    const cJSON *kv;
    int strings = cJSON_IsObject(md);

    cJSON_ArrayForEach(kv, md)
    {
        strings &= cJSON_IsString(kv);
    }
    return strings && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "store"));
}

/* Mistral's API: under mistral/, or at its hosts under another prefix. */
static int
mistral(const sllmp_deployment_t *d)
{
    return (d->provider_name != NULL && strcmp(d->provider_name, "mistral") == 0) ||
           (d->api_base != NULL && strstr(d->api_base, ".mistral.ai/") != NULL);
}

/*
 * Whether the deployment takes stream_options. Azure's classic API knows it from
 * 2024-09-01-preview on (GA 2024-10-21); older api-versions (2024-06-01, 2024-02-01, 2023-05-15
 * are common in LiteLLM configs) answer any body that has it with 400 "Unrecognized request
 * argument supplied: stream_options". An api-version is YYYY-MM-DD[-preview], so dates compare
 * as strings; one of another shape ("preview", "latest") is newer than the dated ones.
 * Mistral's API refuses every field it does not know (422 extra_forbidden), stream_options
 * among them, and puts a stream's usage on its last chunk unasked.
 */
static int
takes_stream_options(const sllmp_deployment_t *d)
{
    const char *v = d->api_version;

    if (mistral(d)) {
        return 0;
    }
    if (d->provider != SLLMP_PROVIDER_AZURE || v == NULL) {
        return 1; /* NULL: Azure's v1 API, OpenAI's own */
    }
    for (int i = 0; i < 10; i++) {
        int dash = i == 4 || i == 7;

        if (dash ? v[i] != '-' : !(v[i] >= '0' && v[i] <= '9')) {
            return 1;
        }
    }
    return strncmp(v, "2024-09-01", 10) >= 0;
}

/*
 * What LiteLLM's clients put in a body for LiteLLM itself, never for the provider: its router's
 * per-request settings, its mocks, caching and guardrails, credentials and prices it would use
 * instead of the deployment's. LiteLLM takes them out; OpenAI refuses a body with any of them
 * (400 "Unrecognized request argument supplied"). The gateway does not act on them either.
 */
static const char *const litellm_only[] = {
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "disable_fallbacks",
    "num_retries",
    "max_retries",
    "timeout",
    "stream_timeout",
    "mock_response",
    "mock_tool_calls",
    "mock_timeout",
    "mock_testing_fallbacks",
    "mock_testing_context_fallbacks",
    "mock_testing_content_policy_fallbacks",
    "mock_testing_rate_limit_error",
    "caching",
    "cache",
    "no-log",
    "litellm_metadata",
    "litellm_trace_id",
    "litellm_session_id",
    "guardrails",
    "tags",
    "api_key",
    "api_base",
    "base_url",
    "api_version",
    "drop_params",
    "input_cost_per_token",
    "output_cost_per_token",
    NULL,
};

int
sllmp_litellm_only(const char *name)
{
    for (int i = 0; litellm_only[i] != NULL; i++) {
        if (strcmp(litellm_only[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * OpenAI's reasoning models (o1, o3-mini, o4-mini-2025-04-16, gpt-5, gpt-5-mini, gpt-5.1, but
 * not gpt-5-chat-latest, a chat model) refuse max_tokens: 400 "Unsupported parameter:
 * 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead." Which
 * model it is: model_info.base_model when the entry names one, else the upstream model, in
 * which the family may stand anywhere after a non-alphanumeric character ("ft:o4-mini:...", an
 * Azure deployment called "prod-o3-mini"); an Azure deployment of another name says it with
 * LiteLLM's azure/o_series/ or azure/gpt5_series/ route (d->reasoning), or with base_model.
 */
static int
reasoning_model(const sllmp_deployment_t *d)
{
    const char *m = d->base_model != NULL ? d->base_model : d->model;

    if (d->provider != SLLMP_PROVIDER_AZURE &&
        (d->provider_name == NULL || strcmp(d->provider_name, "openai") != 0)) {
        return 0;
    }
    if (d->reasoning) {
        return 1;
    }
    for (size_t i = 0; m[i] != '\0'; i++) {
        const char *p = m + i;

        if (i > 0 && isalnum((unsigned char)m[i - 1])) {
            continue;
        }
        if (p[0] == 'o' && p[1] >= '1' && p[1] <= '9' && !isalnum((unsigned char)p[2])) {
            return 1;
        }
        if (strncmp(p, "gpt-5", 5) == 0 && !isdigit((unsigned char)p[5]) &&
            strncmp(p, "gpt-5-chat", 10) != 0) {
            return 1;
        }
    }
    return 0;
}

/* Llama on Vertex AI's OpenAI-compatible endpoint, whose request LiteLLM's VertexAILlama3Config
 * writes with max_tokens. */
static int
vertex_llama(const sllmp_deployment_t *d)
{
    return d->gcp != NULL && strstr(d->model, "llama") != NULL;
}

/*
 * Parameters an upstream takes under another name (to), or not at all (to NULL), as LiteLLM
 * maps them. When the client sent both names, the one under `to` goes up and the other is
 * left out, unless from_wins. Chat requests only: the legacy completions API keeps max_tokens.
 */
static const struct {
    int (*applies)(const sllmp_deployment_t *d);
    const char *from;
    const char *to;
    int from_wins;
} param_map[] = {
    {reasoning_model, "max_tokens", "max_completion_tokens", 0},
    /* Mistral's request model forbids every field it does not define (422 extra_forbidden):
     * it has max_tokens and random_seed, and no user; max_completion_tokens, what the gateway
     * reserves for, wins over max_tokens (LiteLLM's priority too) */
    {mistral, "max_completion_tokens", "max_tokens", 1},
    {mistral, "seed", "random_seed", 0},
    {mistral, "user", NULL, 0},
    /* OpenAI's, about its own service, not the answer: without them the answer is the same */
    {mistral, "store", NULL, 0},
    {mistral, "service_tier", NULL, 0},
    {mistral, "safety_identifier", NULL, 0},
    {mistral, "prompt_cache_key", NULL, 0},
    /* the client's max_completion_tokens wins over its max_tokens, as in LiteLLM */
    {vertex_llama, "max_completion_tokens", "max_tokens", 1},
};

#define NMAP (sizeof(param_map) / sizeof(param_map[0]))

static int
has_role(const cJSON *m, const char *want)
{
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");

    return cJSON_IsString(role) && strcmp(role->valuestring, want) == 0;
}

static int
is_tool(const cJSON *m)
{
    return has_role(m, "tool");
}

/* xAI's API: under xai/, or at its hosts under another prefix. */
static int
xai(const sllmp_deployment_t *d)
{
    return (d->provider_name != NULL && strcmp(d->provider_name, "xai") == 0) ||
           (d->api_base != NULL && strstr(d->api_base, ".x.ai/") != NULL);
}

/* Whether the upstream refuses m's `name`: Mistral's on any but a tool message (422
 * extra_forbidden at messages.N.user.name), xAI's on any but a user message (400 "Only messages
 * of role 'user' can have a name"). LiteLLM's MistralConfig and XAIChatConfig leave them out
 * alike. */
static int
name_refused(const sllmp_deployment_t *d, const cJSON *m)
{
    return (mistral(d) && !is_tool(m)) || (xai(d) && !has_role(m, "user"));
}

/* Whether the id (a tool call's, or a tool message's tool_call_id) carries a Gemini thought
 * signature after SLLMP_THOUGHT_SEP. */
static int
signed_id(const cJSON *id)
{
    return cJSON_IsString(id) && id->valuestring[sllmp_thought_id_len(id->valuestring)] != '\0';
}

/* A tool call id member without its signature. */
static void
bare(cJSON *o, const char *name)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, name);

    if (signed_id(id)) {
        cJSON_ReplaceItemInObjectCaseSensitive(o, name, sllmp_bare_tool_id(id->valuestring));
    }
}

/*
 * The messages as the upstream takes them, NULL when they are so already. Tool call ids lose a
 * Gemini thought signature (a conversation begun on Gemini): OpenAI refuses ids over 40
 * characters ("string_above_max_length"), and LiteLLM sends signatures to Gemini alone. A
 * message's `name` the upstream refuses is left out (name_refused). The caller deletes it.
 */
static cJSON *
upstream_messages(const sllmp_req_t *r, const cJSON *body)
{
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(body, "messages"), *m, *call;
    int names = 0, ids = 0;
    cJSON *copy, *c;

    if (r->kind != SLLMP_KIND_CHAT) {
        return NULL;
    }
    cJSON_ArrayForEach(m, messages)
    {
        names |= cJSON_HasObjectItem(m, "name") && name_refused(r->dep, m);
        ids |= signed_id(cJSON_GetObjectItemCaseSensitive(m, "tool_call_id"));
        cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
        {
            ids |= signed_id(cJSON_GetObjectItemCaseSensitive(call, "id"));
        }
    }
    if (!names && !ids) {
        return NULL;
    }
    copy = cJSON_Duplicate(messages, 1);
    cJSON_ArrayForEach(c, copy)
    {
        cJSON *tc;

        if (names && name_refused(r->dep, c)) {
            cJSON_DeleteItemFromObjectCaseSensitive(c, "name");
        }
        bare(c, "tool_call_id");
        cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(c, "tool_calls"))
        {
            bare(tc, "id");
        }
    }
    return copy;
}

/* Moves body's member name (when it has one) into held, an array made on first use. */
static void
hold(cJSON *body, const char *name, cJSON **held)
{
    cJSON *f = cJSON_DetachItemFromObjectCaseSensitive(body, name);

    if (f != NULL) {
        *held = *held != NULL ? *held : cJSON_CreateArray();
        cJSON_AddItemToArray(*held, f);
    }
}

/*
 * The body to send upstream: the client's, with the deployment's model and usage asked for
 * (*asked 0 when the deployment cannot be asked for it) and its parameters under the names the
 * upstream takes (param_map). What must not go upstream is held out while the body is printed
 * and put back after, what param_map renamed deleted: the trace reads metadata and the
 * parameters at complete, and a fallback deployment may take stream_options or max_tokens.
 */
static char *
upstream_body(sllmp_req_t *r, int *asked)
{
    cJSON *body = r->json;
    cJSON *held = NULL, *f;
    /* members put in for the upstream: param_map's names, then the messages (upstream_messages) */
    const char *added[NMAP + 1] = {NULL};
    char *text;

    *asked = 0;
    for (int i = 0; litellm_only[i] != NULL; i++) {
        hold(body, litellm_only[i], &held);
    }
    cJSON_ReplaceItemInObjectCaseSensitive(body, "model", cJSON_CreateString(r->dep->model));
    if (r->stream && r->kind != SLLMP_KIND_EMBEDDINGS && !takes_stream_options(r->dep)) {
        /* the client's stream_options too: the upstream would refuse the request for it, and
         * its include_usage is answered with the estimate (usage_estimated) */
        hold(body, "stream_options", &held);
    } else if (r->stream && r->kind != SLLMP_KIND_EMBEDDINGS) {
        cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");

        *asked = 1;
        if (!cJSON_IsObject(so)) {
            so = cJSON_CreateObject();
            if (cJSON_HasObjectItem(body, "stream_options")) {
                cJSON_ReplaceItemInObjectCaseSensitive(body, "stream_options", so);
            } else {
                cJSON_AddItemToObject(body, "stream_options", so);
            }
        }
        if (cJSON_HasObjectItem(so, "include_usage")) {
            cJSON_ReplaceItemInObjectCaseSensitive(so, "include_usage", cJSON_CreateTrue());
        } else {
            cJSON_AddTrueToObject(so, "include_usage");
        }
    }
    if (!metadata_goes_upstream(body)) {
        hold(body, "metadata", &held);
    }
    for (size_t i = 0; r->kind == SLLMP_KIND_CHAT && i < NMAP; i++) {
        const char *from = param_map[i].from, *to = param_map[i].to;

        if (cJSON_GetObjectItemCaseSensitive(body, from) == NULL || !param_map[i].applies(r->dep)) {
            continue;
        }
        if (to != NULL &&
            (cJSON_GetObjectItemCaseSensitive(body, to) == NULL || param_map[i].from_wins)) {
            hold(body, to, &held);
            cJSON_AddItemToObject(body, to,
                                  cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(body, from), 1));
            added[i] = to;
        }
        hold(body, from, &held); /* renamed, or left out (to NULL, or given under to too) */
    }
    if ((f = upstream_messages(r, body)) != NULL) {
        hold(body, "messages", &held);
        cJSON_AddItemToObject(body, "messages", f);
        added[NMAP] = "messages";
    }
    text = cJSON_PrintUnformatted(body);
    for (size_t i = 0; i < NMAP + 1; i++) {
        if (added[i] != NULL) {
            cJSON_DeleteItemFromObjectCaseSensitive(body, added[i]);
        }
    }
    while (held != NULL && (f = cJSON_DetachItemFromArray(held, 0)) != NULL) {
        cJSON_AddItemToObject(body, f->string, f);
    }
    cJSON_Delete(held);
    return text;
}

/*
 * The usage chunk ("choices": [], before [DONE]) a client that asked for include_usage gets from
 * OpenAI, for an upstream that could not be asked for it: the usage estimated as for any
 * upstream that reports none. It goes through the on_chunk filters as the upstream's would;
 * r->usage is then cleared again, so that the trace and the cost know it for an estimate.
 */
static sllmp_rc_t
usage_estimated(sllmp_req_t *r, const stream_t *s)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(s->head, "id");
    const cJSON *object = cJSON_GetObjectItemCaseSensitive(s->head, "object");
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(s->head, "created");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(s->head, "model");
    cJSON *c = cJSON_CreateObject();
    sllmp_chunk_t chunk = {NULL, 0, c, 0, 0, NULL, NULL, 0};
    char *text;
    sllmp_rc_t rc;

    cJSON_AddStringToObject(c, "id", cJSON_IsString(id) ? id->valuestring : "chatcmpl-sllmp");
    cJSON_AddStringToObject(c, "object",
                            cJSON_IsString(object)              ? object->valuestring
                            : r->kind == SLLMP_KIND_COMPLETIONS ? "text_completion"
                                                                : "chat.completion.chunk");
    cJSON_AddNumberToObject(c, "created",
                            cJSON_IsNumber(created) ? created->valuedouble
                                                    : (double)(sllmp_wall_ms() / 1000));
    cJSON_AddStringToObject(c, "model", cJSON_IsString(model) ? model->valuestring : r->model);
    cJSON_AddArrayToObject(c, "choices");
    sllmp_usage_estimate(r);
    cJSON_AddItemToObject(c, "usage", sllmp_usage_to_openai(&r->usage));
    text = cJSON_PrintUnformatted(c);
    chunk.data = text;
    chunk.len = strlen(text);
    rc = sllmp_pipeline_chunk(r, &chunk);
    memset(&r->usage, 0, sizeof(r->usage));
    cJSON_free(text);
    cJSON_Delete(c);
    return rc;
}

/*
 * The status a 200 that is no answer but an error object stands for: OpenRouter answers a
 * failure after the model began with 200 {"error": {"code": 502, "message": ...}} (its docs:
 * "errors and debugging"), and some compatible servers do the same with their own codes. The
 * error's code when it is an HTTP status (a number, or a string of one as Azure writes them),
 * else 502; 0 for an answer (one with choices or data, whatever else it carries).
 */
static int
error_in_200(const cJSON *json)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(json, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    long status = 0;

    if (!(cJSON_IsObject(err) || cJSON_IsString(err)) || cJSON_HasObjectItem(json, "choices") ||
        cJSON_HasObjectItem(json, "data") || cJSON_HasObjectItem(json, "output")) {
        return 0;
    }
    if (cJSON_IsNumber(code) && code->valuedouble >= 400 && code->valuedouble < 600) {
        status = (long)code->valuedouble;
    } else if (cJSON_IsString(code) && sllmp_parse_long(code->valuestring, &status) != 0) {
        status = 0;
    }
    return status >= 400 && status < 600 ? (int)status : 502;
}

/* An unstreamed 200's body: FINISHED and *json (the caller's to free) when it is an answer;
 * else r's error (a body that is no JSON object, or an error object in a 200, classified,
 * retried and reported as the status it names). */
static sllmp_rc_t
whole_answer(sllmp_req_t *r, sllmp_upstream_call_t *call, cJSON **json)
{
    *json = parse_whole(sllmp_buf_cstr(&call->resp), call->resp.len);
    if (*json == NULL || !cJSON_IsObject(*json)) {
        return sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                              "The provider's answer is not a JSON object.");
    }
    if ((call->status = error_in_200(*json)) != 0) {
        return sllmp_upstream_fail(r, call);
    }
    return SLLMP_FINISHED;
}

/* LiteLLM's Azure api_version "preview" and "latest" name the v1 API (and go in its query), as
 * "v1" does (conf.c makes that one NULL); the classic paths know only dated versions. */
static int
azure_v1_version(const char *v)
{
    return v != NULL && (strcmp(v, "preview") == 0 || strcmp(v, "latest") == 0);
}

/* Where the request goes: {api_base}/<endpoint>, or Azure's deployment path. */
static const char *
upstream_url(sllmp_req_t *r, int responses, const char *stored)
{
    const sllmp_deployment_t *d = r->dep;
    const char *ep = stored != NULL                      ? stored
                     : responses && r->responses_compact ? "responses/compact"
                     : responses                         ? "responses"
                     : r->kind == SLLMP_KIND_EMBEDDINGS  ? "embeddings"
                     : r->kind == SLLMP_KIND_COMPLETIONS ? "completions"
                     : r->kind == SLLMP_KIND_IMAGES      ? "images/generations"
                     : r->kind == SLLMP_KIND_MODERATIONS ? "moderations"
                                                         : "chat/completions";

    if (d->provider != SLLMP_PROVIDER_AZURE) {
        return sllmp_arena_printf(r->arena, "%s/%s", d->api_base, ep);
    }
    if (responses && d->api_version != NULL && !azure_v1_version(d->api_version) &&
        strncmp(d->api_version, "2025-03-01", 10) >= 0) {
        /* a dated version's Responses API (from 2025-03-01-preview) is not under the
         * deployment: the body's model names it. Older versions (the default 2024-10-21 among
         * them) have none: the v1 API's, below */
        return sllmp_arena_printf(r->arena, "%s/openai/%s?api-version=%s", d->api_base, ep,
                                  d->api_version);
    }
    if (responses && d->api_version != NULL && !azure_v1_version(d->api_version)) {
        return sllmp_arena_printf(r->arena, "%s%s/%s", d->api_base,
                                  strstr(d->api_base, "/openai/v1") != NULL ? "" : "/openai/v1",
                                  ep);
    }
    if (d->api_version != NULL && !azure_v1_version(d->api_version)) {
        sllmp_buf_t dep;
        const char *url;

        /* a deployment name is the customer's: one path segment, encoded */
        sllmp_buf_init(&dep, 0);
        sllmp_aws_uri_encode(&dep, d->model, strlen(d->model), 0);
        url = sllmp_arena_printf(r->arena, "%s/openai/deployments/%s/%s?api-version=%s",
                                 d->api_base, sllmp_buf_cstr(&dep), ep, d->api_version);
        sllmp_buf_free(&dep);
        return url;
    }
    /* the v1 API: OpenAI's own paths under /openai/v1 */
    return sllmp_arena_printf(r->arena, "%s%s/%s%s%s", d->api_base,
                              strstr(d->api_base, "/openai/v1") != NULL ? "" : "/openai/v1", ep,
                              d->api_version != NULL ? "?api-version=" : "",
                              d->api_version != NULL ? d->api_version : "");
}

/* The call of r->dep with body (to its Responses API when responses); headers has room for
 * 6. 0, or -1 with r failed (no access token for Vertex AI). */
static int
call_init(sllmp_req_t *r, sllmp_upstream_call_t *call, const char **headers, const char *body,
          int responses)
{
    const sllmp_deployment_t *d = r->dep;
    int nh = 0;

    memset(call, 0, sizeof(*call));
    headers[nh++] = "Content-Type: application/json";
    headers[nh++] = r->stream ? "Accept: text/event-stream" : "Accept: application/json";
    headers[nh++] = sllmp_arena_printf(r->arena, "X-Request-ID: %s", r->id);
    if (d->gcp != NULL) {
        /* Vertex AI's OpenAI-compatible endpoint: its access token is the key */
        if (sllmp_vertex_auth(r, headers, &nh) < 0) {
            headers[nh] = NULL;
            return -1;
        }
    } else if (d->api_key != NULL) {
        headers[nh++] = d->provider == SLLMP_PROVIDER_AZURE
                            ? sllmp_arena_printf(r->arena, "api-key: %s", d->api_key)
                            : sllmp_arena_printf(r->arena, "Authorization: Bearer %s", d->api_key);
    }
    headers[nh] = NULL;
    call->url = upstream_url(r, responses, NULL);
    call->body = body;
    call->body_len = strlen(body);
    call->headers = headers;
    return 0;
}

sllmp_rc_t
sllmp_provider_openai_chat(sllmp_req_t *r)
{
    sllmp_upstream_call_t call;
    stream_t s;
    const char *headers[6];
    sllmp_err_t err;
    sllmp_rc_t rc;
    int usage_asked;
    char *body = upstream_body(r, &usage_asked);

    sllmp_arena_cleanup_add(r->arena, cJSON_free, body);
    if (call_init(r, &call, headers, body, 0) < 0) {
        return SLLMP_ERROR;
    }
    s.r = r;
    s.done = s.finished = 0;
    s.head = NULL;
    sllmp_sse_init(&s.sse, MAX_EVENT, on_event, &s);
    err = sllmp_provider_run(r, &call, sllmp_provider_feed_sse, &s.sse);
    sllmp_sse_free(&s.sse);
    /* a streamed 200 with neither an event sent on nor [DONE] was no event stream (some
     * servers ignore "stream") */
    rc = sllmp_provider_end(r, &call, err, s.done || r->chunks > 0);
    if (rc == SLLMP_GO_ON && r->stream && !s.done && !s.finished) {
        /* the connection ended cleanly (EOF, a last chunk) but the answer did not: a cut that
         * must not reach the client as a whole answer; a server that leaves out [DONE] still
         * says finish_reason */
        rc = sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                            "The provider's stream ended before the answer was complete.");
    } else if (rc == SLLMP_GO_ON && r->stream) {
        rc = SLLMP_FINISHED;
        if (!usage_asked && r->client_wants_usage && !r->usage.seen &&
            usage_estimated(r, &s) == SLLMP_ERROR) {
            rc = SLLMP_ERROR; /* the client left */
        } else if (r->chunks == 0) {
            /* [DONE] after nothing a client gets (events skipped or dropped): still a stream,
             * an empty one, not a call that finished without an answer */
            sllmp_route_headers(r);
            if (sllmp_sse_begin(r) < 0) {
                rc = sllmp_req_fail(r, SLLMP_ERR_CLIENT_GONE, NULL, NULL);
            }
        }
    } else if (rc == SLLMP_GO_ON) {
        cJSON *json = NULL;

        rc = whole_answer(r, &call, &json);
        if (rc == SLLMP_FINISHED) {
            const cJSON *ch;

            if (r->kind == SLLMP_KIND_IMAGES) {
                /* gpt-image's usage has the Responses API's names (input_tokens, ...) */
                sllmp_usage_from_responses(&r->usage,
                                           cJSON_GetObjectItemCaseSensitive(json, "usage"));
                r->images = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(json, "data"));
            } else {
                sllmp_usage_from_openai(&r->usage, cJSON_GetObjectItemCaseSensitive(json, "usage"));
            }
            cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(json, "choices"))
            {
                const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
                const cJSON *content = msg != NULL
                                           ? cJSON_GetObjectItemCaseSensitive(msg, "content")
                                           : cJSON_GetObjectItemCaseSensitive(ch, "text");

                if (cJSON_IsString(content)) {
                    r->completion_chars += strlen(content->valuestring);
                }
            }
            /* the answer goes out as the provider wrote it; post may still add headers */
            r->resp_body = call.resp;
            sllmp_buf_init(&call.resp, 0);
            r->first_token_ms = sllmp_now_ms();
        }
        cJSON_Delete(json);
    }
    cJSON_Delete(s.head);
    sllmp_buf_free(&call.resp);
    return rc;
}

/* ---------------------------------------------------------------- /v1/responses, natively */

typedef struct {
    sllmp_req_t *r;
    sllmp_sse_t sse;
    int ended;         /* response.completed, response.incomplete or response.failed came */
    char failure[512]; /* response.failed's (or an error event's) message; "" when none */
} rstream_t;

/* A failure the upstream reported in its own events (they went on to the client as they
 * came): its message, for the record. */
static void
rfailure(rstream_t *s, const cJSON *err, const char *fallback)
{
    const char *msg = sllmp_json_str(err, "message");

    if (s->failure[0] == '\0') {
        snprintf(s->failure, sizeof(s->failure), "%.*s",
                 msg != NULL ? sllmp_utf8_prec(msg, 500) : (int)strlen(fallback),
                 msg != NULL ? msg : fallback);
    }
}

/* The upstream's words of a failure (an error event's, a Response's error): what must never
 * reach the client (the key it was sent, quoted back; sllmp.langfuse.redact) replaced, as in
 * the gateway's own errors. 1 when anything was. */
static int
redact_error(sllmp_req_t *r, cJSON *err)
{
    static const char *const names[] = {"message", "param", "code"};
    int changed = 0;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(err, names[i]);
        const char *text = cJSON_IsString(v) ? sllmp_redacted(r, v->valuestring) : NULL;

        if (text != NULL && text != v->valuestring) {
            cJSON_ReplaceItemInObjectCaseSensitive(err, names[i], cJSON_CreateString(text));
            changed = 1;
        }
    }
    return changed;
}

/* Each event goes on as it came, under its name (a failure's words redacted); the usage
 * middleware reads the counts. */
static int
on_response_event(void *ud, const char *event, size_t elen, const char *data, size_t dlen)
{
    rstream_t *s = ud;
    cJSON *json = sllmp_provider_event_object(s->r, data, dlen), *err = NULL;
    const char *type, *fallback = NULL;
    char *text = NULL;
    int stopped = 0, rc;

    (void)elen;
    if (json == NULL) {
        return 0;
    }
    type = event != NULL && *event != '\0' ? event : sllmp_json_str(json, "type");
    type = type != NULL ? type : "";
    if (strcmp(type, "response.failed") == 0) {
        err = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(json, "response"),
                                               "error");
        fallback = "The response failed.";
    } else if (strcmp(type, "error") == 0) {
        err = json; /* the SDKs end the stream at it: nothing after it is read */
        fallback = "The provider failed mid-stream.";
    }
    s->ended |= fallback != NULL || strcmp(type, "response.completed") == 0 ||
                strcmp(type, "response.incomplete") == 0;
    if (fallback != NULL) {
        rfailure(s, err, fallback);
        if (redact_error(s->r, err)) {
            text = cJSON_PrintUnformatted(json);
        }
    }
    rc = sllmp_provider_native_event(s->r, type, json, text != NULL ? text : data,
                                     text != NULL ? strlen(text) : dlen, &stopped);
    cJSON_free(text);
    cJSON_Delete(json);
    return rc;
}

/* The body for the upstream: the client's (made whole by the kept responses), its model the
 * deployment's. What is the gateway's is held out while it is printed, as for chat
 * (upstream_body): LiteLLM's own members, which the Responses API refuses as unknown parameters,
 * and a metadata that is not OpenAI's map of strings (LiteLLM's tags list). */
static char *
responses_body(sllmp_req_t *r)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(r->json, "metadata"), *kv;
    cJSON *held = NULL, *f;
    int strings = cJSON_IsObject(md);
    char *text;

    cJSON_ArrayForEach(kv, md)
    {
        strings &= cJSON_IsString(kv);
    }
    if (md != NULL && !strings && !cJSON_IsNull(md)) {
        hold(r->json, "metadata", &held);
    }
    for (int i = 0; litellm_only[i] != NULL; i++) {
        hold(r->json, litellm_only[i], &held);
    }
    while (cJSON_GetObjectItemCaseSensitive(r->json, "model") != NULL) {
        hold(r->json, "model", &held); /* each of them: a body may name two */
    }
    cJSON_AddStringToObject(r->json, "model", r->dep->model);
    text = cJSON_PrintUnformatted(r->json);
    cJSON_DeleteItemFromObjectCaseSensitive(r->json, "model");
    while (held != NULL && (f = cJSON_DetachItemFromArray(held, 0)) != NULL) {
        cJSON_AddItemToObject(r->json, f->string, f);
    }
    cJSON_Delete(held);
    return text;
}

/* The characters of strings named name in each member of list. */
static size_t
chars_of(const cJSON *list, const char *name)
{
    const cJSON *m;
    size_t n = 0;

    cJSON_ArrayForEach(m, list)
    {
        const char *v = sllmp_json_str(m, name);

        n += v != NULL ? strlen(v) : 0;
    }
    return n;
}

/* The characters of what an unstreamed Response wrote, for the estimate when it counts none:
 * text and refusals, summaries, call arguments and custom tool input. */
static size_t
response_chars(const cJSON *resp)
{
    const cJSON *output = cJSON_GetObjectItemCaseSensitive(resp, "output"), *item;
    size_t n = chars_of(output, "arguments") + chars_of(output, "input");

    cJSON_ArrayForEach(item, output)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");

        n += chars_of(content, "text") + chars_of(content, "refusal") +
             chars_of(cJSON_GetObjectItemCaseSensitive(item, "summary"), "text");
    }
    return n;
}

sllmp_rc_t
sllmp_provider_openai_responses(sllmp_req_t *r)
{
    sllmp_upstream_call_t call;
    rstream_t s;
    const char *headers[6];
    sllmp_err_t err;
    sllmp_rc_t rc;
    char *body = responses_body(r);

    sllmp_arena_cleanup_add(r->arena, cJSON_free, body);
    if (call_init(r, &call, headers, body, 1) < 0) {
        return SLLMP_ERROR;
    }
    memset(&s, 0, sizeof(s));
    s.r = r;
    sllmp_sse_init(&s.sse, MAX_EVENT, on_response_event, &s);
    err = sllmp_provider_run(r, &call, sllmp_provider_feed_sse, &s.sse);
    sllmp_sse_free(&s.sse);
    rc = sllmp_provider_end(r, &call, err, r->chunks > 0);
    if (rc == SLLMP_GO_ON && r->stream) {
        if (!s.ended) {
            /* the responses middleware ends the client's stream with response.failed */
            rc = sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL,
                                "The provider's stream ended before the response was complete.");
        } else if (s.failure[0] != '\0') {
            /* the client has the upstream's own failure events: the record says it failed,
             * nothing more goes out. A held stream (buffer_streams) has sent nothing: it is
             * dropped, and the failure goes out as JSON with its status, as chat's does */
            rc = sllmp_req_fail(r, SLLMP_ERR_PROVIDER, NULL, "%s", s.failure);
            r->finished = !r->stream_held;
        } else {
            rc = SLLMP_FINISHED;
        }
    } else if (rc == SLLMP_GO_ON) {
        cJSON *json = NULL;

        rc = whole_answer(r, &call, &json);
        if (rc == SLLMP_FINISHED) {
            sllmp_usage_from_responses(&r->usage, cJSON_GetObjectItemCaseSensitive(json, "usage"));
            r->completion_chars += response_chars(json);
            r->resp_body = call.resp;
            sllmp_buf_init(&call.resp, 0);
            r->first_token_ms = sllmp_now_ms();
        }
        cJSON_Delete(json);
    }
    sllmp_buf_free(&call.resp);
    return rc;
}

/* ---------------------------------------------------------------- chat through /responses */

typedef struct {
    sllmp_req_t *r;
    sllmp_sse_t sse;
    sllmp_xstream_t x;
    int events;
} bstream_t;

static int
on_bridge_event(void *ud, const char *event, size_t elen, const char *data, size_t dlen)
{
    bstream_t *s = ud;
    cJSON *json = sllmp_provider_event_object(s->r, data, dlen);
    const char *type;
    int rc;

    (void)elen;
    if (json == NULL) {
        return 0;
    }
    s->events++;
    type = event != NULL && *event != '\0' ? event : sllmp_json_str(json, "type");
    rc = sllmp_responses_chat_event(&s->x, type != NULL ? type : "", json);
    if (rc < 0) {
        rc = sllmp_provider_stream_error(s->r, s->x.err_status, s->x.err_type, s->x.err_message);
    }
    cJSON_Delete(json);
    return rc != 0;
}

/* A translated body without what is the gateway's (LiteLLM's own members, which the
 * translation copies as a client's extra parameters, and a metadata that is not OpenAI's map of
 * strings): the Responses API refuses them, as responses_body() knows. Returns body. */
static cJSON *
gateway_out(cJSON *body)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(body, "metadata"), *kv;
    int strings = 1;

    cJSON_ArrayForEach(kv, md)
    {
        strings &= cJSON_IsString(kv);
    }
    if (md != NULL && (!strings || !cJSON_IsObject(md))) {
        cJSON_DeleteItemFromObjectCaseSensitive(body, "metadata");
    }
    for (int i = 0; body != NULL && litellm_only[i] != NULL; i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(body, litellm_only[i]);
    }
    return body;
}

sllmp_rc_t
sllmp_provider_openai_via_responses(sllmp_req_t *r)
{
    sllmp_xerr_t xe;
    const char *body = sllmp_provider_body(
        r, gateway_out(sllmp_chat_to_responses(r->json, r->dep->model, &xe)), &xe);
    sllmp_upstream_call_t call;
    const char *headers[6];
    bstream_t s;
    sllmp_err_t err;
    sllmp_rc_t rc;

    if (body == NULL || call_init(r, &call, headers, body, 1) < 0) {
        return SLLMP_ERROR;
    }
    memset(&s, 0, sizeof(s));
    s.r = r;
    sllmp_provider_xstream_init(r, &s.x);
    sllmp_sse_init(&s.sse, MAX_EVENT, on_bridge_event, &s);
    err = sllmp_provider_run(r, &call, sllmp_provider_feed_sse, &s.sse);
    sllmp_sse_free(&s.sse);
    rc = sllmp_provider_end(r, &call, err, s.events);
    if (rc == SLLMP_GO_ON && r->stream) {
        rc = sllmp_provider_xstream_end(r, &s.x);
    } else if (rc == SLLMP_GO_ON) {
        cJSON *resp = parse_whole(sllmp_buf_cstr(&call.resp), call.resp.len);

        rc = sllmp_provider_answer(
            r, sllmp_responses_to_chat_answer(resp, r->model, (long)time(NULL), &r->usage));
        cJSON_Delete(resp);
    }
    sllmp_xstream_free(&s.x);
    sllmp_buf_free(&call.resp);
    return rc;
}

/* ---------------------------------------------------------------- a response it keeps */

int
sllmp_provider_openai_forward(sllmp_req_t *r, const char *method, const char *path,
                              const char *query, const sllmp_str_t *body, sllmp_buf_t *answer)
{
    sllmp_upstream_call_t call;
    const char *headers[6];
    const char *url;
    sllmp_err_t err;
    int status;

    if (call_init(r, &call, headers, "", 1) < 0) {
        sllmp_resp_error(r);
        return -1;
    }
    url = upstream_url(r, 1, path);
    if (query != NULL && *query != '\0') {
        url = sllmp_arena_printf(r->arena, "%s%c%s", url, strchr(url, '?') ? '&' : '?', query);
    }
    call.url = url;
    /* a POST with the client's body, or an empty one (a cancel); GET and DELETE with none */
    call.method = strcmp(method, "POST") == 0 ? NULL : method;
    call.body = body != NULL && body->ptr != NULL ? body->ptr : "";
    call.body_len = body != NULL && body->ptr != NULL ? body->len : 0;
    err = sllmp_upstream_run(r, &call);
    if (err != SLLMP_OK) {
        sllmp_req_fail(r, err, NULL, NULL);
        sllmp_resp_error(r);
        status = -1;
    } else if (call.status < 200 || call.status > 299) {
        sllmp_upstream_fail(r, &call);
        sllmp_resp_error(r);
        status = call.status;
    } else {
        if (answer != NULL) {
            sllmp_buf_append(answer, call.resp.ptr, call.resp.len);
        }
        sllmp_resp_send(r, call.status, "application/json", call.resp.ptr, call.resp.len);
        status = call.status;
    }
    sllmp_buf_free(&call.resp);
    return status;
}
