/*
 * Kept responses: the stored state behind the Responses API's previous_response_id,
 * item_reference and GET /v1/responses/{id} (sllmp.responses), as JSON documents named by
 * their response id (sllmp_keep_id_ok; any other name is never found).
 *
 * Where: in Redis when the limits store is Redis (one string per response with a TTL, so every
 * host of the gateway sees it), else in files under sllmp.responses.dir (0700; files 0600,
 * written whole to a temporary name and renamed, so a reader never sees half a document). A
 * file older than the TTL is not found; each process sweeps the expired files at most once a
 * minute, and measures the directory then: past sllmp.responses.max_mb, nothing more is kept
 * until the sweep finds room (a response is still answered, it is only not kept).
 *
 * st is the thread's limit store (sllmp_thread_store), NULL when it could not be opened.
 */
#ifndef SLLMP_KEEP_H
#define SLLMP_KEEP_H

#include "sllmp/buf.h"
#include "sllmp/limits.h"

/* 1 and the document appended to out, 0 when there is none (or it expired), -1 on failure. */
int sllmp_keep_get(const sllmp_conf_t *c, sllmp_store_t *st, const char *id, sllmp_buf_t *out);

/* 0, 1 when it was not kept because the quota is full, -1 on failure. */
int sllmp_keep_put(const sllmp_conf_t *c, sllmp_store_t *st, const char *id, const char *data,
                   size_t len);

/* 1 deleted, 0 there was none, -1 on failure. */
int sllmp_keep_del(const sllmp_conf_t *c, sllmp_store_t *st, const char *id);

/* Whether id is a name a kept response (or conversation) can have: "resp_" (or "conv_") and 16
 * to 120 letters and digits (the gateway's own are 32 lowercase hex digits; an upstream's, kept
 * for the responses it answered and the conversations it made, are longer). */
int sllmp_keep_id_ok(const char *id);

#endif
