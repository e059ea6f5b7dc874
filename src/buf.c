/*
 * Owned, NUL-terminated, growable buffers with a hard maximum (see include/sllmp/buf.h).
 */
#include "sllmp/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sllmp_buf_init(sllmp_buf_t *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int
reserve(sllmp_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;

    if (need < b->len || (b->max && b->len + extra > b->max)) {
        return -1;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap < need) {
            cap *= 2;
        }
        b->ptr = sllmp_xrealloc(b->ptr, cap);
        b->cap = cap;
    }
    return 0;
}

int
sllmp_buf_append(sllmp_buf_t *b, const void *data, size_t n)
{
    if (reserve(b, n) < 0) {
        return -1;
    }
    if (n > 0) {
        memcpy(b->ptr + b->len, data, n);
    }
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int
sllmp_buf_appends(sllmp_buf_t *b, const char *s)
{
    return sllmp_buf_append(b, s, strlen(s));
}

int
sllmp_buf_printf(sllmp_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) < 0) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int
sllmp_buf_json_escape(sllmp_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 0;

        switch (c) {
        case '"':
            memcpy(esc, "\\\"", 2), elen = 2;
            break;
        case '\\':
            memcpy(esc, "\\\\", 2), elen = 2;
            break;
        case '\n':
            memcpy(esc, "\\n", 2), elen = 2;
            break;
        case '\r':
            memcpy(esc, "\\r", 2), elen = 2;
            break;
        case '\t':
            memcpy(esc, "\\t", 2), elen = 2;
            break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                elen = 6;
            } else if (c >= 0x80) {
                size_t skip, k = sllmp_utf8_char(s + i, n - i, &skip);

                if (k == 0) {
                    memcpy(esc, "\\ufffd", 6), elen = 6;
                    i += skip - 1;
                } else {
                    if (sllmp_buf_append(b, s + i, k)) {
                        return -1;
                    }
                    i += k - 1;
                    continue;
                }
            }
            break;
        }
        if (elen ? sllmp_buf_append(b, esc, elen) : sllmp_buf_append(b, &s[i], 1)) {
            return -1;
        }
    }
    return 0;
}

int
sllmp_buf_append_utf8(sllmp_buf_t *b, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t ok = sllmp_utf8_valid(s + i, n - i), skip;

        if (sllmp_buf_append(b, s + i, ok) < 0) {
            return -1;
        }
        i += ok;
        if (i < n) {
            sllmp_utf8_char(s + i, n - i, &skip);
            if (sllmp_buf_append(b, "\xef\xbf\xbd", 3) < 0) {
                return -1;
            }
            i += skip;
        }
    }
    return 0;
}

void
sllmp_buf_consume(sllmp_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->ptr, b->ptr + n, b->len - n);
        b->len -= n;
    }
    if (b->ptr != NULL) {
        b->ptr[b->len] = '\0';
    }
}

void
sllmp_buf_reset(sllmp_buf_t *b)
{
    b->len = 0;
    if (b->ptr != NULL) {
        b->ptr[0] = '\0';
    }
}

void
sllmp_buf_free(sllmp_buf_t *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

const char *
sllmp_buf_cstr(const sllmp_buf_t *b)
{
    return b->ptr ? b->ptr : "";
}
