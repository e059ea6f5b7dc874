/*
 * sllmp_buf_t: an owned, growable, always NUL-terminated byte buffer with a hard maximum.
 * Appends past the maximum fail with -1 and leave the buffer as it was.
 */
#ifndef SLLMP_BUF_H
#define SLLMP_BUF_H

#include "sllmp/types.h"
#include "sllmp/util.h"

typedef struct {
    char *ptr; /* NULL until the first append; then NUL-terminated */
    size_t len;
    size_t cap;
    size_t max; /* 0 = no maximum */
} sllmp_buf_t;

void sllmp_buf_init(sllmp_buf_t *b, size_t max);
int sllmp_buf_append(sllmp_buf_t *b, const void *data, size_t n);
int sllmp_buf_appends(sllmp_buf_t *b, const char *s);
int sllmp_buf_printf(sllmp_buf_t *b, const char *fmt, ...) SLLMP_PRINTF(2, 3);
/* Appends s as the body of a JSON string (no quotes), escaped; each ill-formed UTF-8 sequence
 * becomes \ufffd, so the JSON is valid whatever bytes a client or an upstream sent. */
int sllmp_buf_json_escape(sllmp_buf_t *b, const char *s, size_t n);
/* Appends s with each ill-formed UTF-8 sequence replaced by U+FFFD (its three bytes). */
int sllmp_buf_append_utf8(sllmp_buf_t *b, const char *s, size_t n);
/* Drops the first n bytes. */
void sllmp_buf_consume(sllmp_buf_t *b, size_t n);
void sllmp_buf_reset(sllmp_buf_t *b);
void sllmp_buf_free(sllmp_buf_t *b);
/* "" when empty, never NULL */
const char *sllmp_buf_cstr(const sllmp_buf_t *b);

#endif
