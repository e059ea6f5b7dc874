/*
 * The readiness checks behind GET /ready.
 */
#ifndef SLLMP_READY_H
#define SLLMP_READY_H

#include "sllmp/buf.h"
#include "sllmp/types.h"

/* Appends the JSON answer to out; returns 1 when ready, 0 otherwise. */
int sllmp_ready_check(const sllmp_conf_t *c, sllmp_buf_t *out);

/*
 * PINGs the Redis at url ("redis://[:password@]host[:port][/db]" or "unix:///path") within
 * timeout_ms. 0, or -1 with a reason (never the password) in why.
 */
int sllmp_redis_ping(const char *url, long timeout_ms, char *why, size_t whylen);

#endif
