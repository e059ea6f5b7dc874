/*
 * The response cache: LiteLLM's `litellm_settings.cache` (conf: sllmp_cache_conf_t). An answer
 * to a chat completion, a text completion or an embeddings request is kept under a key made of
 * the model group and the request's parameters, and the same request finds it while it lives,
 * streamed or not (src/middleware/cache.c runs it; this is the data, pure but for the shelf).
 *
 * The key: SHA-256 (hex) of the request's body in a canonical form (every member sorted by
 * name, at every depth), with `model` the model group and without what does not change the
 * answer (stream, stream_options, metadata, the gateway's own settings such as cache, tags,
 * fallbacks or timeouts); "namespace:" before it when a namespace applies. A client's
 * `cache_key` is the key as it is. A stored answer is a line of JSON, {"v": 1, "kind": <its
 * front door>, "created": <epoch seconds>}, then the answer's text as the client got it
 * (unstreamed; a stream made whole, printed).
 */
#ifndef SLLMP_CACHE_H
#define SLLMP_CACHE_H

#include "sllmp/buf.h"
#include "sllmp/limits.h"

#include <cjson/cJSON.h>

/* The key of body to model group `group`, as 64 hex digits and a NUL. 0, or -1 (no memory). */
int sllmp_cache_key(const cJSON *body, const char *group, char hex[65]);

/*
 * A streamed answer made whole, chunk by chunk: what the same request unstreamed would have
 * answered (chat.completion, or text_completion when the chunks are a text completion's).
 */
typedef struct {
    cJSON *resp; /* NULL until the first chunk */
} sllmp_cache_asm_t;

/* Adds one chunk (a parsed `data:` object). 0, or -1 when it is no chunk of either kind. */
int sllmp_cache_asm_add(sllmp_cache_asm_t *a, const cJSON *chunk);

/* The answer, handed to the caller (NULL when nothing came); a is empty again. */
cJSON *sllmp_cache_asm_take(sllmp_cache_asm_t *a);

void sllmp_cache_asm_free(sllmp_cache_asm_t *a);

/* Whether an answer says something worth keeping: a choice with text, a refusal, reasoning or a
 * tool call, or (embeddings) data. */
int sllmp_cache_worth_keeping(const cJSON *resp);

/* The chunks a stream of answer resp is made of, in order (an array of chunk objects, [DONE]
 * not among them): per choice one with everything and one with its finish_reason, then one
 * with the usage when resp has one. NULL when resp is neither a chat.completion nor a
 * text_completion. */
cJSON *sllmp_cache_chunks(const cJSON *resp);

/* ---- the shelf (src/keep.c): in Redis when cache_params.type is redis, else in files ---- */

/* 1 and the envelope appended to out, 0 when there is none (or it expired), -1 on failure. */
int sllmp_cache_get(const sllmp_conf_t *c, sllmp_store_t *st, const char *hex, sllmp_buf_t *out);

/* 0, 1 when it was not kept because the quota is full, -1 on failure. */
int sllmp_cache_put(const sllmp_conf_t *c, sllmp_store_t *st, const char *hex, const char *data,
                    size_t len, long ttl_s);

/* 1 deleted, 0 there was none, -1 on failure. */
int sllmp_cache_del(const sllmp_conf_t *c, sllmp_store_t *st, const char *hex);

/* Every cached answer deleted: how many, or -1 on failure. */
long sllmp_cache_flush(const sllmp_conf_t *c, sllmp_store_t *st);

#endif
