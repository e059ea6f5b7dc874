/*
 * A test's own AWS event-stream encoder (the framing Bedrock streams in, protocols.md): the
 * unit tests' frames (tests/unit/test_bedrock.c) and the fuzzer's (tests/fuzz/fuzz_eventstream.c).
 * A frame is a 12-byte prelude (total length, header length, CRC-32 of those 8 bytes), the
 * headers, the payload and a CRC-32 of everything before it; all integers big-endian.
 */
#ifndef SLLMP_TEST_EVENTSTREAM_ENC_H
#define SLLMP_TEST_EVENTSTREAM_ENC_H

#include "sllmp/buf.h"
#include "sllmp/translate.h"

#include <stdint.h>
#include <string.h>

static __attribute__((unused)) void
es_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A string header (value type 7, u16 length; a longer value is cut to 65535 bytes). */
static __attribute__((unused)) void
es_header(sllmp_buf_t *h, const char *name, const char *value, size_t vlen)
{
    unsigned char t[3];

    if (vlen > 0xffff) {
        vlen = 0xffff;
    }
    t[0] = (unsigned char)strlen(name);
    sllmp_buf_append(h, t, 1);
    sllmp_buf_appends(h, name);
    t[0] = 7;
    t[1] = (unsigned char)(vlen >> 8);
    t[2] = (unsigned char)vlen;
    sllmp_buf_append(h, t, 3);
    sllmp_buf_append(h, value, vlen);
}

/* One frame around a header block and a payload, appended to out, CRCs right. */
static __attribute__((unused)) void
es_frame(sllmp_buf_t *out, const void *h, size_t hl, const void *payload, size_t plen)
{
    unsigned char pre[12], crc[4];
    size_t start = out->len, total = 12 + hl + plen + 4;

    es_put32(pre, (uint32_t)total);
    es_put32(pre + 4, (uint32_t)hl);
    es_put32(pre + 8, sllmp_crc32(0, pre, 8));
    sllmp_buf_append(out, pre, 12);
    sllmp_buf_append(out, h, hl);
    sllmp_buf_append(out, payload, plen);
    es_put32(crc, sllmp_crc32(0, out->ptr + start, total - 4));
    sllmp_buf_append(out, crc, 4);
}

#endif
