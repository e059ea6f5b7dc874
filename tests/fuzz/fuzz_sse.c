/*
 * The SSE parser on any bytes: never a crash, and the same events whatever way the bytes are
 * split. The first input byte picks a split step (1..16 bytes); the rest is the stream, parsed
 * once whole and once in pieces of that step, and the two event lists must be equal.
 */
#include "fuzz.h"
#include "sllmp/buf.h"
#include "sllmp/sse.h"

#define MAX_EVENT 4096

static int
collect(void *ud, const char *event, size_t elen, const char *data, size_t dlen)
{
    sllmp_buf_t *b = ud;
    uint32_t n[2] = {(uint32_t)elen, (uint32_t)dlen};

    /* lengths first, so that no event can be read as two */
    sllmp_buf_append(b, (const char *)n, sizeof(n));
    sllmp_buf_append(b, event, elen);
    sllmp_buf_append(b, data, dlen);
    return 0;
}

static int
parse(const char *s, size_t n, size_t step, sllmp_buf_t *out)
{
    sllmp_sse_t p;
    int rc = 0;

    sllmp_sse_init(&p, MAX_EVENT, collect, out);
    for (size_t i = 0; i < n && rc == 0; i += step) {
        rc = sllmp_sse_feed(&p, s + i, i + step > n ? n - i : step);
    }
    sllmp_sse_free(&p);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sllmp_buf_t whole, split;
    int rw, rs;

    if (size < 1) {
        return 0;
    }
    fuzz_quiet();
    sllmp_buf_init(&whole, 0);
    sllmp_buf_init(&split, 0);
    rw = parse((const char *)data + 1, size - 1, size, &whole);
    rs = parse((const char *)data + 1, size - 1, 1 + data[0] % 16, &split);
    fuzz_check(rw == rs);
    if (rw == 0) {
        fuzz_check(whole.len == split.len);
        fuzz_check(whole.len == 0 || memcmp(whole.ptr, split.ptr, whole.len) == 0);
    }
    sllmp_buf_free(&whole);
    sllmp_buf_free(&split);
    return 0;
}
