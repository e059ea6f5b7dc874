/*
 * Provider adapters: each turns r (a validated chat request routed to r->dep) into an answer,
 * streamed through sllmp_pipeline_chunk() or left in r->resp_body. They return SLLMP_FINISHED,
 * or SLLMP_ERROR with r->err set.
 */
#ifndef SLLMP_PROVIDER_H
#define SLLMP_PROVIDER_H

#include "sllmp/pipeline.h"
#include "sllmp/translate.h"
#include "sllmp/upstream.h"

/* OpenAI-compatible servers and Azure: chat, completions and embeddings, passed through. */
sllmp_rc_t sllmp_provider_openai_chat(sllmp_req_t *r);
/* POST /v1/responses to a deployment with the Responses API (responses_api): {api_base}/
 * responses (Azure: /openai/responses?api-version= for a dated version from 2025-03-01-preview,
 * which has it, else /openai/v1/responses), the body as the client sent it with the deployment's
 * model, each event passed on under its name (no [DONE]: the Responses API ends with
 * response.completed). */
sllmp_rc_t sllmp_provider_openai_responses(sllmp_req_t *r);
/* A chat request to a deployment whose model has no chat completions (chat_via_responses):
 * translated to the Responses API and back (sllmp_chat_to_responses and the answer's
 * translators in translate.h), streamed or not. */
sllmp_rc_t sllmp_provider_openai_via_responses(sllmp_req_t *r);
/* A call of r->dep's OpenAI API at path (under its base: "responses/<id>/cancel",
 * "conversations/<id>/items", ...) with the client's query, as method (a POST with body, or an
 * empty one), answered to the client: the upstream's 2xx as it came (its body also appended to
 * answer when not NULL), else its error as the gateway's. Returns the upstream's status, -1
 * when none came. */
int sllmp_provider_openai_forward(sllmp_req_t *r, const char *method, const char *path,
                                  const char *query, const sllmp_str_t *body, sllmp_buf_t *answer);
sllmp_rc_t sllmp_provider_mock_chat(sllmp_req_t *r);
sllmp_rc_t sllmp_provider_mock_embeddings(sllmp_req_t *r);
/* Anthropic: chat translated; /v1/messages and /v1/messages/count_tokens passed through. */
sllmp_rc_t sllmp_provider_anthropic_chat(sllmp_req_t *r);
sllmp_rc_t sllmp_provider_anthropic_messages(sllmp_req_t *r);
sllmp_rc_t sllmp_provider_anthropic_count_tokens(sllmp_req_t *r);
sllmp_rc_t sllmp_provider_gemini_chat(sllmp_req_t *r);
sllmp_rc_t sllmp_provider_gemini_embeddings(sllmp_req_t *r);
/* Bedrock: chat through Converse; /v1/messages and embeddings through InvokeModel; a token
 * count of an Anthropic model through CountTokens. */
sllmp_rc_t sllmp_provider_bedrock_chat(sllmp_req_t *r);
sllmp_rc_t sllmp_provider_bedrock_messages(sllmp_req_t *r);
sllmp_rc_t sllmp_provider_bedrock_count_tokens(sllmp_req_t *r);
sllmp_rc_t sllmp_provider_bedrock_embeddings(sllmp_req_t *r);

/* Vertex AI (src/providers/vertex.c), for deployments with Google credentials (d->gcp): the
 * URL of method (generateContent, streamRawPredict, ...) on r->dep's model, or on another
 * model of its publisher (Claude's "count-tokens"), in r's arena. */
const char *sllmp_vertex_url(sllmp_req_t *r, const char *model, const char *method);
/* Adds the Authorization line of an access token of r->dep's credentials (and gcloud user
 * credentials' x-goog-user-project) to headers at *nh: 0, or -1 with r failed. */
int sllmp_vertex_auth(sllmp_req_t *r, const char **headers, int *nh);

/* Anthropic's beta flags on Vertex AI and Bedrock (src/providers/betas.c), which refuse those
 * they do not take. sllmp_beta_on: flag's (len bytes) name on host, from sllmp.anthropic_betas
 * (c may be NULL) or the built-in table; NULL when it is not passed there (*known: whether a rule
 * or the table names it). sllmp_betas_for: the flags of a client's anthropic-beta header that
 * host takes, under its names, each once, comma-separated in r's arena; NULL when none is left
 * (or header is NULL). */
const char *sllmp_beta_on(const sllmp_conf_t *c, sllmp_beta_host_t host, const char *flag,
                          size_t len, int *known);
const char *sllmp_betas_for(sllmp_req_t *r, sllmp_beta_host_t host, const char *header);

/* /v1/messages/count_tokens of a model whose provider counts none (sllmp_count_tokens_estimate):
 * {"input_tokens": N} and x-sllmp-tokens-estimated: true. FINISHED. */
sllmp_rc_t sllmp_provider_count_estimate(sllmp_req_t *r);
/* A provider's count of input tokens as /v1/messages/count_tokens answers it:
 * {"input_tokens": N}. FINISHED, or SLLMP_ERROR when count is not a token count. */
sllmp_rc_t sllmp_provider_count_answer(sllmp_req_t *r, const cJSON *count);

/* ---- shared by the adapters (src/providers/common.c) ---- */

/* The body of a translated request: req printed into the arena (and freed). req NULL (the
 * translation refused it): NULL, and r fails with a 400 naming xe's field (xe NULL: a 500). */
const char *sllmp_provider_body(sllmp_req_t *r, cJSON *req, const sllmp_xerr_t *xe);

/* A parser fed a streamed 2xx body: 0, or non-zero to stop (r failed when the stream is bad). */
typedef int sllmp_provider_feed_f(sllmp_req_t *r, void *parser, const char *data, size_t n);
/* SSE (parser: an sllmp_sse_t) and the AWS event stream (parser: an sllmp_evs_t). */
int sllmp_provider_feed_sse(sllmp_req_t *r, void *parser, const char *data, size_t n);
int sllmp_provider_feed_evs(sllmp_req_t *r, void *parser, const char *data, size_t n);
/* sllmp_upstream_run, a streamed request's 2xx body going to feed(parser). */
sllmp_err_t sllmp_provider_run(sllmp_req_t *r, sllmp_upstream_call_t *c,
                               sllmp_provider_feed_f *feed, void *parser);

/* Sleeps ms, waking every 50 ms to notice a departed client (-1, r->client_gone set), to
 * renew the leases and, with heartbeats, to send them to a stream after heartbeat_ms of
 * silence (the first one starts the stream: its status is 200 from then on). 0. */
int sllmp_provider_pause(sllmp_req_t *r, long ms, int heartbeats);

/* sllmp_xemit_f for the translators: prints the chunk and hands it to the pipeline (ud is r). */
int sllmp_provider_emit(void *ud, const cJSON *chunk);
/* A translator's state for r: emits to r's pipeline, model as asked, a made-up chunk id. */
void sllmp_provider_xstream_init(sllmp_req_t *r, sllmp_xstream_t *s);
/* A streamed event's data as one JSON object, or NULL (logged; the caller skips the event):
 * `data: null`, or an object with bytes after it, would crash a client SDK that reads every
 * event's fields, and is no provider's event. */
cJSON *sllmp_provider_event_object(const sllmp_req_t *r, const char *data, size_t n);
/* A failure inside a 200 stream (status as the provider meant it: 529 and 503 are retryable
 * 503s) becomes r's error. Returns 1, to stop the transfer. */
int sllmp_provider_stream_error(sllmp_req_t *r, int status, const char *type, const char *message);
/* After sllmp_upstream_run: the transfer's failure, a non-2xx answer, or a stream without one
 * event become r's error (SLLMP_ERROR); SLLMP_GO_ON when there is an answer to read. */
sllmp_rc_t sllmp_provider_end(sllmp_req_t *r, sllmp_upstream_call_t *call, sllmp_err_t err,
                              int stream_events);
/* Keeps a translated unstreamed answer (freed here) as the body for the client: FINISHED, or
 * SLLMP_ERROR when answer is NULL (the provider's answer made no sense). */
sllmp_rc_t sllmp_provider_answer(sllmp_req_t *r, cJSON *answer);

/* The end of a translated stream: the finish and usage chunks, or an error when the provider
 * never said it was done. */
sllmp_rc_t sllmp_provider_xstream_end(sllmp_req_t *r, sllmp_xstream_t *s);
/* /v1/messages: one Anthropic event (type, parsed and raw) forwarded under its name; sets
 * *stopped at message_stop. Returns non-zero to stop the transfer (r->err set). */
int sllmp_provider_native_event(sllmp_req_t *r, const char *type, const cJSON *json,
                                const char *data, size_t len, int *stopped);
/* The end of a forwarded stream: FINISHED, or an error when message_stop never came. */
sllmp_rc_t sllmp_provider_native_end(sllmp_req_t *r, int stopped);
/* An Anthropic Message answered to /v1/messages as it came (resp is taken): usage read. */
sllmp_rc_t sllmp_provider_native_answer(sllmp_req_t *r, sllmp_buf_t *resp);

/* Whether a body member is one of LiteLLM's own (its router's settings, mocks, caching,
 * credentials): the gateway passes none upstream and keys no cached answer by it. */
int sllmp_litellm_only(const char *name);

/* 1 when the deployment serves that kind of request (see provider.c). */
int sllmp_provider_serves(const sllmp_deployment_t *d, int kind);

#endif
