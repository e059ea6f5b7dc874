/*
 * The AWS event stream (application/vnd.amazon.eventstream, protocols.md §3.3): the binary
 * framing Bedrock's ConverseStream and InvokeModelWithResponseStream answer with. It is not
 * SSE, so it gets its own decoder.
 *
 * A message is
 *   total_len u32 BE | headers_len u32 BE | prelude_crc u32 BE (CRC-32 of the 8 bytes before)
 *   | headers | payload | message_crc u32 BE (CRC-32 of everything before it)
 * and a header is name_len u8, name, value_type u8, then a value whose length the type gives.
 *
 * The decoder works on the caller's bytes directly while whole messages arrive, and copies into
 * its buffer only the tail of a message split across reads, so a message is copied at most once.
 */
#include "sllmp/translate.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define PRELUDE_LEN 12
#define MIN_MSG_LEN 16 /* the prelude and the message CRC */

/* The largest message when the caller sets no maximum. */
#define DEFAULT_MAX (16 * 1024 * 1024)

/* ---- CRC-32 ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
    /* reflected IEEE 802.3 polynomial, as zlib */
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        crc_table[i] = c;
    }
}

uint32_t
sllmp_crc32(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;

    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

/* ---- decoder ---- */

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void
sllmp_evs_init(sllmp_evs_t *p, size_t max, sllmp_evs_f *cb, void *ud)
{
    memset(p, 0, sizeof(*p));
    sllmp_buf_init(&p->buf, 0);
    p->max = max != 0 ? max : DEFAULT_MAX;
    p->cb = cb;
    p->ud = ud;
}

void
sllmp_evs_free(sllmp_evs_t *p)
{
    sllmp_buf_free(&p->buf);
}

static int
fail(sllmp_evs_t *p, const char *why)
{
    snprintf(p->error, sizeof(p->error), "%s", why);
    return -1;
}

/* Checks the prelude at b (PRELUDE_LEN bytes) and gives the message's total length. */
static int
prelude(sllmp_evs_t *p, const unsigned char *b, size_t *total)
{
    uint32_t tl = be32(b), hl = be32(b + 4);

    if (sllmp_crc32(0, b, 8) != be32(b + 8)) {
        return fail(p, "event stream: prelude CRC mismatch");
    }
    if (tl < MIN_MSG_LEN) {
        return fail(p, "event stream: message shorter than its prelude");
    }
    if (tl > p->max) {
        return fail(p, "event stream: message too large");
    }
    if (hl > tl - MIN_MSG_LEN) {
        return fail(p, "event stream: headers longer than the message");
    }
    *total = tl;
    return 0;
}

/* A header value into a fixed buffer, cut to fit (the values we read are short names). */
static void
copy_value(char *dst, size_t cap, const unsigned char *v, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static int
name_is(const unsigned char *name, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(name, lit, n) == 0;
}

/* One whole message at b (total bytes, prelude already checked): CRC, headers, callback. */
static int
message(sllmp_evs_t *p, const unsigned char *b, size_t total)
{
    char message_type[32] = "", event_type[128] = "", exception_type[128] = "",
         error_code[128] = "";
    sllmp_evs_msg_t m;
    size_t hl = be32(b + 4), pos = PRELUDE_LEN, end = PRELUDE_LEN + hl;

    if (sllmp_crc32(0, b, total - 4) != be32(b + total - 4)) {
        return fail(p, "event stream: message CRC mismatch");
    }
    while (pos < end) {
        const unsigned char *name;
        size_t nlen, vlen;
        int type;

        nlen = b[pos++];
        if (end - pos < nlen + 1) {
            return fail(p, "event stream: a header runs past the header block");
        }
        name = b + pos;
        pos += nlen;
        type = b[pos++];
        /* the value's length, by type; only strings are kept */
        switch (type) {
        case 0: /* bool true */
        case 1: /* bool false */
            vlen = 0;
            break;
        case 2: /* byte */
            vlen = 1;
            break;
        case 3: /* short */
            vlen = 2;
            break;
        case 4: /* int */
            vlen = 4;
            break;
        case 5: /* long */
        case 8: /* timestamp (ms) */
            vlen = 8;
            break;
        case 9: /* uuid */
            vlen = 16;
            break;
        case 6: /* bytes */
        case 7: /* string */
            if (end - pos < 2) {
                return fail(p, "event stream: a header runs past the header block");
            }
            vlen = (size_t)b[pos] << 8 | b[pos + 1];
            pos += 2;
            break;
        default:
            return fail(p, "event stream: unknown header value type");
        }
        if (end - pos < vlen) {
            return fail(p, "event stream: a header runs past the header block");
        }
        if (type == 7) {
            if (name_is(name, nlen, ":message-type")) {
                copy_value(message_type, sizeof(message_type), b + pos, vlen);
            } else if (name_is(name, nlen, ":event-type")) {
                copy_value(event_type, sizeof(event_type), b + pos, vlen);
            } else if (name_is(name, nlen, ":exception-type")) {
                copy_value(exception_type, sizeof(exception_type), b + pos, vlen);
            } else if (name_is(name, nlen, ":error-code")) {
                copy_value(error_code, sizeof(error_code), b + pos, vlen);
            }
        }
        pos += vlen;
    }
    m.message_type = message_type;
    m.event_type = event_type;
    m.exception_type = exception_type;
    m.error_code = error_code;
    m.payload = (const char *)b + end;
    m.payload_len = total - end - 4;
    return p->cb != NULL ? p->cb(p->ud, &m) : 0;
}

int
sllmp_evs_feed(sllmp_evs_t *p, const char *data, size_t n)
{
    const unsigned char *d = (const unsigned char *)data;
    size_t total;
    int rc;

    if (p->error[0] != '\0') {
        return -1; /* the stream is out of step after a bad frame: no way to resync */
    }
    while (n > 0) {
        if (p->buf.len > 0) {
            /* a message begun by an earlier feed: top up to the prelude, then to its end */
            size_t need = PRELUDE_LEN, take;

            if (p->buf.len >= PRELUDE_LEN &&
                prelude(p, (const unsigned char *)p->buf.ptr, &need) < 0) {
                return -1;
            }
            take = need - p->buf.len < n ? need - p->buf.len : n;
            sllmp_buf_append(&p->buf, d, take);
            d += take;
            n -= take;
            if (p->buf.len < need) {
                return 0;
            }
            if (need == PRELUDE_LEN) {
                if (prelude(p, (const unsigned char *)p->buf.ptr, &total) < 0) {
                    return -1;
                }
                continue;
            }
            rc = message(p, (const unsigned char *)p->buf.ptr, p->buf.len);
            sllmp_buf_reset(&p->buf);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (n < PRELUDE_LEN) {
            sllmp_buf_append(&p->buf, d, n);
            return 0;
        }
        if (prelude(p, d, &total) < 0) {
            return -1;
        }
        if (n < total) {
            sllmp_buf_append(&p->buf, d, n);
            return 0;
        }
        if ((rc = message(p, d, total)) != 0) {
            return rc;
        }
        d += total;
        n -= total;
    }
    return 0;
}
