/*
 * AWS Signature Version 4 (protocols.md §3.3), for Bedrock: the canonical request, the string
 * to sign, the derived key chain and the Authorization header value.
 *
 * Two details decide whether AWS accepts a signature, and both bit other gateways: every
 * service but S3 signs the path URI-encoded once more than it goes on the wire (a Bedrock model
 * id's ':' travels as %3A and is signed as %253A), and the service name is "bedrock", not the
 * host's "bedrock-runtime" (the caller passes it).
 */
#include "sllmp/translate.h"
#include "sllmp/util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALGORITHM "AWS4-HMAC-SHA256"

void
sllmp_amz_date(time_t t, char out[17])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16) {
        /* years past 9999 only; keep the output a string */
        memcpy(out, "19700101T000000Z", 17);
    }
}

static int
unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

int
sllmp_aws_uri_encode(sllmp_buf_t *out, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[3];

        if (unreserved(c) || (keep_slash && c == '/')) {
            if (sllmp_buf_append(out, &s[i], 1) < 0) {
                return -1;
            }
            continue;
        }
        esc[0] = '%';
        esc[1] = hex[c >> 4];
        esc[2] = hex[c & 15];
        if (sllmp_buf_append(out, esc, 3) < 0) {
            return -1;
        }
    }
    return 0;
}

static void
hmac(const void *key, size_t klen, const void *data, size_t n, unsigned char out[32])
{
    unsigned int len = 32;

    if (HMAC(EVP_sha256(), key, (int)klen, data, n, out, &len) == NULL || len != 32) {
        fprintf(stderr, "sllmp: HMAC-SHA256 failed\n");
        abort();
    }
}

static int
header_cmp(const void *a, const void *b)
{
    const sllmp_kv_t *x = *(const sllmp_kv_t *const *)a;
    const sllmp_kv_t *y = *(const sllmp_kv_t *const *)b;

    return strcasecmp(x->name, y->name);
}

static int
blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A header value as SigV4 wants it: trimmed, inner runs of blanks as one space. */
static void
append_value(sllmp_buf_t *b, const char *v)
{
    int pending = 0;

    while (blank(*v)) {
        v++;
    }
    for (; *v != '\0'; v++) {
        if (blank(*v)) {
            pending = 1;
            continue;
        }
        if (pending) {
            sllmp_buf_append(b, " ", 1);
            pending = 0;
        }
        sllmp_buf_append(b, v, 1);
    }
}

static void
append_lower(sllmp_buf_t *b, const char *s)
{
    for (; *s != '\0'; s++) {
        char c = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;

        sllmp_buf_append(b, &c, 1);
    }
}

/* CanonicalHeaders into canon (each "name:value\n") and SignedHeaders into names. A name given
 * twice is signed once with its values joined by ',', as AWS does. */
static void
canonical_headers(const sllmp_kv_t *headers, size_t nheaders, sllmp_buf_t *canon,
                  sllmp_buf_t *names)
{
    const sllmp_kv_t **sorted = sllmp_xcalloc(nheaders ? nheaders : 1, sizeof(*sorted));

    for (size_t i = 0; i < nheaders; i++) {
        sorted[i] = &headers[i];
    }
    qsort(sorted, nheaders, sizeof(*sorted), header_cmp);
    for (size_t i = 0; i < nheaders; i++) {
        if (i > 0 && strcasecmp(sorted[i]->name, sorted[i - 1]->name) == 0) {
            /* replace the previous line's newline with the next value */
            canon->len--;
            sllmp_buf_append(canon, ",", 1);
        } else {
            if (names->len > 0) {
                sllmp_buf_append(names, ";", 1);
            }
            append_lower(names, sorted[i]->name);
            append_lower(canon, sorted[i]->name);
            sllmp_buf_append(canon, ":", 1);
        }
        append_value(canon, sorted[i]->value != NULL ? sorted[i]->value : "");
        sllmp_buf_append(canon, "\n", 1);
    }
    free(sorted);
}

int
sllmp_sigv4_authorization(const char *access_key, const char *secret_key, const char *region,
                          const char *service, const char *method, const char *path,
                          const char *query, const sllmp_kv_t *headers, size_t nheaders,
                          const void *body, size_t len, const char *amz_date, char *out,
                          size_t outlen)
{
    sllmp_buf_t creq, canon, names, key, sts;
    unsigned char digest[32], k1[32], k2[32];
    char body_hex[65], creq_hex[65], sig_hex[65], date[9];
    int n;

    sllmp_buf_init(&creq, 0);
    sllmp_buf_init(&canon, 0);
    sllmp_buf_init(&names, 0);
    sllmp_buf_init(&key, 0);
    sllmp_buf_init(&sts, 0);
    memcpy(date, amz_date, 8);
    date[8] = '\0';

    /* the canonical request */
    sllmp_sha256(body != NULL ? body : "", body != NULL ? len : 0, digest);
    sllmp_hex(digest, 32, body_hex);
    canonical_headers(headers, nheaders, &canon, &names);
    sllmp_buf_appends(&creq, method);
    sllmp_buf_append(&creq, "\n", 1);
    if (path == NULL || *path == '\0') {
        sllmp_buf_append(&creq, "/", 1);
    } else {
        /* the wire path's segments encoded again: '%' becomes %25, '/' stays */
        sllmp_aws_uri_encode(&creq, path, strlen(path), 1);
    }
    sllmp_buf_printf(&creq, "\n%s\n%s\n%s\n%s", query != NULL ? query : "", sllmp_buf_cstr(&canon),
                     sllmp_buf_cstr(&names), body_hex);
    sllmp_sha256(creq.ptr, creq.len, digest);
    sllmp_hex(digest, 32, creq_hex);

    /* the string to sign */
    sllmp_buf_printf(&sts, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date, region,
                     service, creq_hex);

    /* kDate, kRegion, kService, kSigning, then the signature; the keys are secrets too */
    sllmp_buf_printf(&key, "AWS4%s", secret_key);
    hmac(key.ptr, key.len, date, strlen(date), k1);
    OPENSSL_cleanse(key.ptr, key.len);
    hmac(k1, 32, region, strlen(region), k2);
    hmac(k2, 32, service, strlen(service), k1);
    hmac(k1, 32, "aws4_request", 12, k2);
    hmac(k2, 32, sts.ptr, sts.len, digest);
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    sllmp_hex(digest, 32, sig_hex);

    n = snprintf(out, outlen,
                 ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                           "Signature=%s",
                 access_key, date, region, service, sllmp_buf_cstr(&names), sig_hex);
    sllmp_buf_free(&creq);
    sllmp_buf_free(&canon);
    sllmp_buf_free(&names);
    sllmp_buf_free(&key);
    sllmp_buf_free(&sts);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
