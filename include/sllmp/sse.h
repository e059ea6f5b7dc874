/*
 * Incremental Server-Sent Events parser (WHATWG rules): bytes in, whole events out, however the
 * bytes were split. Accepts CRLF, LF and CR line ends, skips comments and a leading BOM, joins
 * multi-line data with "\n", drops one leading space of a value, ignores unknown fields, and
 * discards an unterminated event at the end.
 */
#ifndef SLLMP_SSE_H
#define SLLMP_SSE_H

#include "sllmp/buf.h"

/* One event: its type ("" when unnamed) and data. A non-zero return stops the parser. */
typedef int sllmp_sse_event_f(void *ud, const char *event, size_t elen, const char *data,
                              size_t dlen);

typedef struct {
    sllmp_buf_t line;  /* the line being read */
    sllmp_buf_t data;  /* data of the event being read */
    sllmp_buf_t event; /* its type */
    int has_data;      /* a data field was seen */
    int after_cr;      /* the previous byte ended a line with CR: a following LF is not a line */
    int started;       /* past the optional BOM */
    sllmp_sse_event_f *cb;
    void *ud;
} sllmp_sse_t;

/* max: the largest line and event accepted (bytes); past it sllmp_sse_feed returns -1. */
void sllmp_sse_init(sllmp_sse_t *p, size_t max, sllmp_sse_event_f *cb, void *ud);

/* 0, -1 when a line or event is too big, or the callback's non-zero value. */
int sllmp_sse_feed(sllmp_sse_t *p, const char *buf, size_t n);

void sllmp_sse_free(sllmp_sse_t *p);

#endif
