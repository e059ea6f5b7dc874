/*
 * Allocation that aborts on OOM, assertions, clocks, randomness, small string helpers.
 */
#include "sllmp/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

static void SLLMP_NORETURN
oom(size_t n)
{
    fprintf(stderr, "sllmp: out of memory allocating %zu bytes\n", n);
    abort();
}

void *
sllmp_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL) {
        oom(n);
    }
    return p;
}

void *
sllmp_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL) {
        oom(nmemb * size);
    }
    return p;
}

void *
sllmp_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL) {
        oom(n);
    }
    return q;
}

char *
sllmp_xstrdup(const char *s)
{
    return sllmp_xstrndup(s, strlen(s));
}

char *
sllmp_xstrndup(const char *s, size_t n)
{
    char *p = sllmp_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
sllmp_xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    SLLMP_ASSERT(n >= 0);
    p = sllmp_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void
sllmp_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "sllmp: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

int64_t
sllmp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
sllmp_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
sllmp_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
sllmp_wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
random_fill(unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);

        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "sllmp: getrandom failed: %s\n", strerror(errno));
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

/*
 * Small draws (ids: a request's, a trace's, its spans', a reservation's, a spool file's; four to
 * six a request) come from a per-thread buffer filled by getrandom, so a request makes one
 * getrandom call in about a dozen instead of several. Bytes are wiped as they are handed out.
 * A fork child must not hand out what its parent will: forks bump a generation that empties
 * every buffer of the child.
 */
#define RANDOM_BUF 256

static unsigned long random_gen;
static pthread_once_t random_once = PTHREAD_ONCE_INIT;
static __thread struct {
    unsigned char b[RANDOM_BUF];
    size_t left;
    unsigned long gen;
} rnd;

static void
random_forked(void)
{
    __atomic_add_fetch(&random_gen, 1, __ATOMIC_RELAXED);
}

static void
random_init(void)
{
    pthread_atfork(NULL, NULL, random_forked);
}

void
sllmp_random(void *buf, size_t n)
{
    unsigned long gen;

    if (n > RANDOM_BUF / 4) {
        random_fill(buf, n);
        return;
    }
    pthread_once(&random_once, random_init);
    gen = __atomic_load_n(&random_gen, __ATOMIC_RELAXED);
    if (rnd.gen != gen || rnd.left < n) {
        random_fill(rnd.b, RANDOM_BUF);
        rnd.left = RANDOM_BUF;
        rnd.gen = gen;
    }
    rnd.left -= n;
    memcpy(buf, rnd.b + rnd.left, n);
    memset(rnd.b + rnd.left, 0, n);
}

int
sllmp_hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

void
sllmp_random_hex(char *out, size_t n)
{
    unsigned char raw[64];

    SLLMP_ASSERT(n <= sizeof(raw));
    sllmp_random(raw, n);
    sllmp_hex(raw, n, out);
}

void
sllmp_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void
sllmp_secret_free(char *secret)
{
    if (secret != NULL) {
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
}

int
sllmp_ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Walk the expected string's length whatever the input's, so timing tells nothing. */
    unsigned char diff = (unsigned char)(alen != blen);

    for (size_t i = 0; i < blen; i++) {
        unsigned char ca = i < alen ? (unsigned char)a[i] : 0;

        diff |= (unsigned char)(ca ^ (unsigned char)b[i]);
    }
    return diff == 0;
}

/* Fetched once: EVP_sha256() looks the implementation up again at every digest. EVP_MD_fetch
 * needs OpenSSL 3 (Debian 12 has 3.0). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_md == NULL) {
        fprintf(stderr, "sllmp: no SHA-256 in OpenSSL\n");
        abort();
    }
}

void
sllmp_sha256(const void *data, size_t n, unsigned char out[32])
{
    unsigned int len = 32;

    pthread_once(&sha256_once, sha256_fetch);
    if (EVP_Digest(data, n, out, &len, sha256_md, NULL) != 1 || len != 32) {
        fprintf(stderr, "sllmp: SHA-256 failed\n");
        abort();
    }
}

char *
sllmp_base64(const void *data, size_t n)
{
    char *out = sllmp_xmalloc((n + 2) / 3 * 4 + 1);

    SLLMP_ASSERT(n <= INT_MAX / 4 * 3);
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    return out;
}

int
sllmp_str_ieq(sllmp_str_t s, const char *lit)
{
    size_t n = strlen(lit);

    return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

int
sllmp_blank(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!isspace((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

int
sllmp_parse_long(const char *s, long *out)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0') {
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

void
sllmp_rundir_file(const char *set, const char *name, char *buf, size_t len)
{
    const char *rundir = getenv("SLLMP_RUNDIR");

    if (set != NULL) {
        snprintf(buf, len, "%s", set);
    } else if (rundir != NULL && *rundir != '\0') {
        snprintf(buf, len, "%s/%s", rundir, name);
    } else {
        snprintf(buf, len, "var/%s", name);
    }
}

int
sllmp_mkdirs(const char *dir)
{
    char path[4096];

    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) < 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it maps. */
static void
unmap_v4(sllmp_cidr_t *a)
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (a->family == AF_INET6 && memcmp(a->addr, prefix, 12) == 0) {
        memmove(a->addr, a->addr + 12, 4);
        a->family = AF_INET;
        a->bits = a->bits >= 96 ? a->bits - 96 : 0;
    }
}

int
sllmp_cidr_parse(const char *s, sllmp_cidr_t *out)
{
    char host[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
    long bits = -1;

    memset(out, 0, sizeof(*out));
    if (hlen == 0 || hlen >= sizeof(host)) {
        return -1;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        out->bits = 128;
    } else {
        return -1;
    }
    if (slash != NULL) {
        char *end;

        errno = 0;
        bits = strtol(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno != 0 || bits > out->bits) {
            return -1;
        }
        out->bits = (int)bits;
    }
    unmap_v4(out);
    return 0;
}

static int
cidr_contains(const sllmp_cidr_t *net, const sllmp_cidr_t *a)
{
    int full = net->bits / 8, rest = net->bits % 8;

    if (net->family != a->family || memcmp(net->addr, a->addr, (size_t)full) != 0) {
        return 0;
    }
    return rest == 0 || ((net->addr[full] ^ a->addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

int
sllmp_cidr_match(const sllmp_cidr_t *list, size_t n, const char *addr)
{
    sllmp_cidr_t a;

    if (addr == NULL || strchr(addr, '/') != NULL || sllmp_cidr_parse(addr, &a) < 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (cidr_contains(&list[i], &a)) {
            return 1;
        }
    }
    return 0;
}

size_t
sllmp_utf8_floor(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;
    }
    return n;
}

size_t
sllmp_utf8_char(const char *s, size_t n, size_t *skip)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range (Unicode table 3-7) */
    size_t need, i;

    *skip = 1;
    if (u[0] < 0x80) {
        return 1;
    }
    if (u[0] < 0xC2 || u[0] > 0xF4) {
        return 0; /* a continuation byte, an overlong lead (C0, C1) or past U+10FFFF */
    }
    need = u[0] < 0xE0 ? 2 : u[0] < 0xF0 ? 3 : 4;
    if (u[0] == 0xE0) {
        lo = 0xA0; /* overlong below */
    } else if (u[0] == 0xED) {
        hi = 0x9F; /* surrogates above */
    } else if (u[0] == 0xF0) {
        lo = 0x90;
    } else if (u[0] == 0xF4) {
        hi = 0x8F;
    }
    for (i = 1; i < need; i++) {
        if (i >= n || u[i] < lo || u[i] > hi) {
            *skip = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need;
}

size_t
sllmp_utf8_valid(const char *s, size_t n)
{
    size_t i = 0, skip;

    while (i < n) {
        size_t k;

        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        k = sllmp_utf8_char(s + i, n - i, &skip);
        if (k == 0) {
            break;
        }
        i += k;
    }
    return i;
}

int
sllmp_utf8_prec(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    return (int)(n <= max ? n : sllmp_utf8_floor(s, max));
}

uint32_t
sllmp_fnv1a(uint32_t seed, const char *s)
{
    uint32_t h = 2166136261u ^ seed;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}
