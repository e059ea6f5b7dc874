/*
 * Incremental SSE parser (see include/sllmp/sse.h and protocols.md §5).
 *
 * Bytes are gathered into the current line; a line ends at LF, CR, or CRLF (a CR may arrive in
 * one feed and its LF in the next, hence after_cr). A complete line is then interpreted: blank
 * dispatches, ':' is a comment, else "field:value".
 */
#include "sllmp/sse.h"

#include <string.h>

void
sllmp_sse_init(sllmp_sse_t *p, size_t max, sllmp_sse_event_f *cb, void *ud)
{
    memset(p, 0, sizeof(*p));
    sllmp_buf_init(&p->line, max);
    sllmp_buf_init(&p->data, max);
    sllmp_buf_init(&p->event, 256);
    p->cb = cb;
    p->ud = ud;
}

void
sllmp_sse_free(sllmp_sse_t *p)
{
    sllmp_buf_free(&p->line);
    sllmp_buf_free(&p->data);
    sllmp_buf_free(&p->event);
}

static int
dispatch(sllmp_sse_t *p)
{
    int rc = 0;

    if (p->has_data) {
        size_t dlen = p->data.len;

        /* Every data line appended "\n"; the last one is not part of the data. */
        if (dlen > 0 && p->data.ptr[dlen - 1] == '\n') {
            dlen--;
        }
        rc = p->cb(p->ud, sllmp_buf_cstr(&p->event), p->event.len, sllmp_buf_cstr(&p->data), dlen);
    }
    sllmp_buf_reset(&p->data);
    sllmp_buf_reset(&p->event);
    p->has_data = 0;
    return rc;
}

static int
line(sllmp_sse_t *p, const char *s, size_t n)
{
    const char *colon;
    const char *value;
    size_t flen, vlen;

    if (n == 0) {
        return dispatch(p);
    }
    if (s[0] == ':') {
        return 0;
    }
    colon = memchr(s, ':', n);
    if (colon != NULL) {
        flen = (size_t)(colon - s);
        value = colon + 1;
        vlen = n - flen - 1;
        if (vlen > 0 && value[0] == ' ') {
            value++;
            vlen--;
        }
    } else {
        flen = n;
        value = "";
        vlen = 0;
    }
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        p->has_data = 1;
        if (sllmp_buf_append(&p->data, value, vlen) < 0 ||
            sllmp_buf_append(&p->data, "\n", 1) < 0) {
            return -1;
        }
    } else if (flen == 5 && memcmp(s, "event", 5) == 0) {
        sllmp_buf_reset(&p->event);
        if (sllmp_buf_append(&p->event, value, vlen) < 0) {
            return -1;
        }
    }
    /* id, retry and unknown fields: nothing a proxy needs */
    return 0;
}

int
sllmp_sse_feed(sllmp_sse_t *p, const char *buf, size_t n)
{
    size_t i = 0;

    if (!p->started) {
        /* A UTF-8 BOM may open the stream; it can arrive split, so wait for 3 bytes. */
        static const char bom[] = "\xEF\xBB\xBF";
        size_t have = p->line.len;

        while (have < 3 && i < n) {
            if (sllmp_buf_append(&p->line, &buf[i], 1) < 0) {
                return -1;
            }
            have++;
            i++;
        }
        if (have < 3 && memcmp(p->line.ptr, bom, have) == 0) {
            return 0;
        }
        p->started = 1;
        if (have >= 3 && memcmp(p->line.ptr, bom, 3) == 0) {
            sllmp_buf_consume(&p->line, 3);
        }
        /* The bytes taken may hold line ends: run them through the loop below. */
        {
            sllmp_buf_t pending = p->line;
            int rc;

            sllmp_buf_init(&p->line, pending.max);
            rc = pending.len ? sllmp_sse_feed(p, pending.ptr, pending.len) : 0;
            sllmp_buf_free(&pending);
            if (rc != 0) {
                return rc;
            }
        }
    }
    while (i < n) {
        char c = buf[i];

        if (p->after_cr) {
            p->after_cr = 0;
            if (c == '\n') {
                i++;
                continue;
            }
        }
        /* Take the run of ordinary bytes in one append. */
        const char *start = buf + i;
        size_t run = 0;

        while (i + run < n && start[run] != '\n' && start[run] != '\r') {
            run++;
        }
        if (run > 0) {
            if (sllmp_buf_append(&p->line, start, run) < 0) {
                return -1;
            }
            i += run;
            continue;
        }
        p->after_cr = (c == '\r');
        i++;
        int rc = line(p, sllmp_buf_cstr(&p->line), p->line.len);

        sllmp_buf_reset(&p->line);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
