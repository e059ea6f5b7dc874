/*
 * The middleware of the table (src/middleware/table.c), one per file, and the helpers some of
 * them share with the endpoints outside the pipeline.
 */
#ifndef SLLMP_MIDDLEWARE_H
#define SLLMP_MIDDLEWARE_H

#include "sllmp/limits.h"
#include "sllmp/pipeline.h"

extern const sllmp_middleware_t sllmp_mw_auth;
extern const sllmp_middleware_t sllmp_mw_validate;
extern const sllmp_middleware_t sllmp_mw_router;
extern const sllmp_middleware_t sllmp_mw_usage;
extern const sllmp_middleware_t sllmp_mw_cost;
extern const sllmp_middleware_t sllmp_mw_provider;
extern const sllmp_middleware_t sllmp_mw_access_log;
extern const sllmp_middleware_t sllmp_mw_limits;
extern const sllmp_middleware_t sllmp_mw_trace;
extern const sllmp_middleware_t sllmp_mw_responses;
extern const sllmp_middleware_t sllmp_mw_messages;
extern const sllmp_middleware_t sllmp_mw_cache;

/* GET /cache/ping, POST /cache/delete and /cache/flushall (what: "ping", "delete",
 * "flushall"): LiteLLM's cache management; deleting takes the master key. */
void sllmp_cache_endpoint(sllmp_req_t *r, const char *what);

/* Closes a thread's limit stores (sllmp_worker_free). */
void sllmp_limits_cache_free(sllmp_limits_cache_t *lc);

/* The thread's store for r's config (Redis or the local file), opened on first use; NULL when
 * it cannot be opened (tried again after a second). */
sllmp_store_t *sllmp_thread_store(sllmp_req_t *r);

/* validate's step for POST /v1/responses: the conversation made whole from the kept responses
 * it refers to, then translated; r->json becomes the chat request, r->responses the client's. */
sllmp_rc_t sllmp_responses_prepare(sllmp_req_t *r);

/* validate's step for POST /v1/messages (once its Anthropic shape is checked) to a model whose
 * first deployment has no Messages API: r->json becomes the chat translation, r->messages the
 * client's body, kind CHAT (include/sllmp/messages.h). Nothing for Anthropic's own models. */
sllmp_rc_t sllmp_messages_prepare(sllmp_req_t *r);

/* A /v1/messages request passed through (kind MESSAGES) falling back to a model whose
 * deployments have no Messages API: translated as validate does for such a model (kind CHAT
 * from then on). 0; -1, and r as it was, when it does not translate (Anthropic's server tools,
 * a document by URL, ...). */
int sllmp_messages_translate(sllmp_req_t *r);

/* A request passed through (kind RESPONSES) falling back to a model whose deployments have no
 * Responses API: translated into the chat completion it stands for, as validate does for such a
 * model (kind CHAT from then on, its answer kept here). 0; -1, and r as it was, when it cannot
 * be: it names the upstream's own state (previous_response_id, item_reference), which no other
 * provider has, or something only a Responses API takes (hosted or custom tools, ...). */
int sllmp_responses_translate(sllmp_req_t *r);

/* LiteLLM's request tags into r->tags (once), as its proxy gathers them: the body's `tags` and
 * `metadata.tags` (lists of strings; anything else carries none), the x-litellm-tags header
 * (comma-separated), and the key's tags; each once, at most 64. For tag routing, and the
 * trace record's tags. */
void sllmp_request_tags(sllmp_req_t *r);

/* OpenAI's conversations API, forwarded to the upstream that keeps each conversation (rest:
 * what follows /v1/conversations/, NULL for POST /v1/conversations, which the first deployment
 * with the Responses API makes); a conversation belongs to the key that made it. */
void sllmp_conversations_endpoint(sllmp_req_t *r, const char *rest);

/* GET and DELETE /v1/responses/{id} (and GET .../{id}/input_items): a kept response. */
void sllmp_responses_endpoint(sllmp_req_t *r, const char *rest);

/* The limit store pre found for r (the routing state lives there too); NULL when it could
 * not be opened. */
sllmp_store_t *sllmp_limits_store(sllmp_req_t *r);

/*
 * An attempt is about to go to deployment d: reserves d's own rpm/tpm (litellm_params), when
 * it has any. 0: go ahead; 1: d refused it (r->err says why: the 429 of that limit, or 503
 * when the store is unreachable and the limit fails closed); the router tries another.
 */
int sllmp_limits_attempt(sllmp_req_t *r, const sllmp_deployment_t *d);
/*
 * The attempt failed. Refused or unanswered: its deployment reservation counts the request and
 * no tokens. Its answer had begun (a chunk, a usage, a 2xx): the reservation is kept and the
 * limits' complete settles it with the usage the key gets, unless another attempt comes first
 * (sllmp_limits_attempt then settles it like a refused one).
 */
void sllmp_limits_attempt_failed(sllmp_req_t *r);
/* No attempt ran at all (every deployment refused): complete cancels the key's reservation. */
void sllmp_limits_unused(sllmp_req_t *r);
/* x-sllmp-model-id (the deployment that answered) and x-sllmp-attempts, while the headers
 * have not gone out: at an answer's first chunk, an unstreamed answer, or the final error. */
void sllmp_route_headers(sllmp_req_t *r);

/* Runs fn with the limits' lease renewal (r->keepalive), every lease_ms / 3. */
void sllmp_limits_keepalive_also(sllmp_req_t *r, void (*fn)(sllmp_req_t *r));

/* The request's trace id (32 hex), "" when its trace has none. */
const char *sllmp_trace_id(sllmp_req_t *r);

/* An image generation's `data` as a trace record keeps it: each image's b64_json (megabytes of
 * a picture) replaced by "[b64_json: <n> characters]"; its url and revised_prompt stay. */
void sllmp_trace_cut_images(cJSON *data);

/*
 * s with every key the gateway knows of (the client's, the master key, the providers',
 * Langfuse's) and every match of sllmp.langfuse.redact replaced by [REDACTED]: s itself when
 * nothing matched, else a copy in r's arena. For what a client sent that goes to a log.
 */
const char *sllmp_redacted(sllmp_req_t *r, const char *s);

/* Writes r's access log line (sllmp.access_log), once, when the request is over. */
void sllmp_access_log(sllmp_req_t *r);

/* Set by the front under mod_fcgid and CGI: no access log unless the YAML names one. */
extern int sllmp_access_log_quiet;

/* The key the client sent (Authorization: Bearer, api-key, x-api-key), or NULL. */
const char *sllmp_auth_presented_key(sllmp_req_t *r);

/* The name of the key r authenticated with: a virtual key's name, "master" for the master
 * key; NULL for none (or an open gateway). */
const char *sllmp_auth_key_name(const sllmp_req_t *r);

/* The master-key check, also used by GET /v1/models. SLLMP_GO_ON or SLLMP_ERROR. */
sllmp_rc_t sllmp_auth_check(sllmp_req_t *r);

/*
 * Checks a chat completion body and fills r->model, r->stream, r->client_wants_usage, r->user.
 * SLLMP_GO_ON or SLLMP_ERROR with the offending `param`. r->json must be set.
 */
sllmp_rc_t sllmp_validate_chat(sllmp_req_t *r);

/* Characters of the text of every message (string contents and text parts), for estimates. */
size_t sllmp_prompt_chars(const cJSON *messages);
/* The characters of r's prompt, whatever its kind (messages, prompt, input, system). */
size_t sllmp_req_prompt_chars(const sllmp_req_t *r);

/* The input tokens of an Anthropic Messages body (system, messages, tools), estimated as
 * usage is (4 characters a token), base64 images and documents at a flat 1600: at least 1. */
long sllmp_count_tokens_estimate(const cJSON *body);

/* Fills r->usage with an estimate (marked so) when the upstream reported none. */
void sllmp_usage_estimate(sllmp_req_t *r);

/* The cost in USD of r's answer as its usage stands (estimated or not): its tokens at the
 * deployment's price; a moderation nothing; an image generation as sllmp_cost_images says. */
double sllmp_req_cost(const sllmp_req_t *r);

/* Depth of the deepest array/object in a JSON text (strings skipped); stops past max. */
int sllmp_json_depth(const char *s, size_t n, int max);

/* The JSON value a text starts with (NULL when none), *trailing set when anything but
 * whitespace follows it: a client's body and an upstream's answer are one value and no more,
 * which cJSON alone does not check. */
cJSON *sllmp_json_parse(const char *s, size_t n, int *trailing);

/* Whether a JSON text holds a NUL character, raw or as \u0000: cJSON ends the string there,
 * and what follows in it would be lost without a word. */
int sllmp_json_has_nul(const char *s, size_t n);

/* Of the members of an object (v's and those within) that share a name, all but the last are
 * removed, as Python's json reads them (LiteLLM, most providers): what the gateway checks,
 * routes and prices by is then what the upstream reads. */
void sllmp_json_last_wins(cJSON *v);

#endif
