/*
 * Allocation that aborts on OOM, assertions that stay on, small helpers.
 */
#ifndef SLLMP_UTIL_H
#define SLLMP_UTIL_H

#include "sllmp/types.h"

#include <stdarg.h>
#include <stdint.h>

/* The version `sllmp version` prints and the uploader announces to Langfuse. */
#define SLLMP_VERSION "0.1.0"

#define SLLMP_NORETURN     __attribute__((noreturn))
#define SLLMP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define SLLMP_MALLOC       __attribute__((malloc, returns_nonnull))

/* Out of memory is not an error path: these print and abort. */
void *sllmp_xmalloc(size_t n) SLLMP_MALLOC;
void *sllmp_xcalloc(size_t nmemb, size_t size) SLLMP_MALLOC;
void *sllmp_xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
char *sllmp_xstrdup(const char *s) SLLMP_MALLOC;
char *sllmp_xstrndup(const char *s, size_t n) SLLMP_MALLOC;
char *sllmp_xasprintf(const char *fmt, ...) SLLMP_PRINTF(1, 2) SLLMP_MALLOC;

void sllmp_assert_fail(const char *expr, const char *file, int line) SLLMP_NORETURN;

/* Invariants, never input. Stays on in release builds. */
#define SLLMP_ASSERT(e) ((e) ? (void)0 : sllmp_assert_fail(#e, __FILE__, __LINE__))

/* Monotonic milliseconds, and wall-clock milliseconds since the epoch. */
int64_t sllmp_now_ms(void);
int64_t sllmp_now_us(void); /* monotonic microseconds */
int64_t sllmp_wall_ms(void);
int64_t sllmp_wall_us(void);

/*
 * Fill buf with n random bytes from getrandom; aborts if the kernel cannot give them. Draws of
 * up to 64 bytes come through a per-thread buffer, emptied in the child of a fork() (glibc's
 * atfork handlers; a raw clone or vfork child that does not exec is not covered: none here).
 */
void sllmp_random(void *buf, size_t n);

/* Hex of n random bytes into out (2n+1 bytes, NUL-terminated). */
void sllmp_random_hex(char *out, size_t n);

/* n bytes as 2n lowercase hex digits and a NUL. */
void sllmp_hex(const unsigned char *in, size_t n, char *out);

/* The value of a hex digit, either case; -1 for anything else. */
int sllmp_hexval(char c);

/*
 * A file of the pool's runtime directory: `set` when the config names one, else
 * $SLLMP_RUNDIR/name, else var/name (relative to the working directory).
 */
/* mkdir -p with mode 0700 for what it creates. 0, or -1 with errno. */
int sllmp_mkdirs(const char *dir);

void sllmp_rundir_file(const char *set, const char *name, char *buf, size_t len);

/* An address range for access lists: "10.0.0.0/8", "::1", "192.168.1.7". */
typedef struct {
    int family; /* AF_INET or AF_INET6 */
    int bits;
    unsigned char addr[16];
} sllmp_cidr_t;

/* 0, or -1 when s is no address or range. */
int sllmp_cidr_parse(const char *s, sllmp_cidr_t *out);
/* 1 when the address (a REMOTE_ADDR; an IPv4-mapped IPv6 counts as IPv4) is in one of the n. */
int sllmp_cidr_match(const sllmp_cidr_t *list, size_t n, const char *addr);

/* n, or less, so that s[0..n) ends on a UTF-8 character boundary (s has at least n bytes and
 * s[n] is readable: the cut falls before the character that s[n] continues). */
size_t sllmp_utf8_floor(const char *s, size_t n);

/*
 * The length (1-4) of the well-formed UTF-8 character at the start of s[0..n), n >= 1; 0 when it
 * is ill-formed (a stray continuation byte, a character cut short, an overlong form, a surrogate,
 * past U+10FFFF), and then *skip is the length of its maximal subpart: the bytes one U+FFFD
 * stands for (Unicode's "substitution of maximal subparts", as Python and browsers decode).
 */
size_t sllmp_utf8_char(const char *s, size_t n, size_t *skip);

/* The length of the longest prefix of s[0..n) that is well-formed UTF-8 (n when all of it is). */
size_t sllmp_utf8_valid(const char *s, size_t n);

/* For "%.*s": the precision that prints at most max bytes of the string s and no part of a
 * character, so a message that quotes a client's text at most so long stays UTF-8. */
int sllmp_utf8_prec(const char *s, size_t max);

/* FNV-1a of s, from the offset basis xor seed: short-table hashing. */
uint32_t sllmp_fnv1a(uint32_t seed, const char *s);

/* Frees a NUL-terminated secret (a key, a password) after wiping it; NULL is fine. */
void sllmp_secret_free(char *secret);

/* Constant-time comparison of two byte strings; the lengths may differ. */
int sllmp_ct_equal(const char *a, size_t alen, const char *b, size_t blen);

/* SHA-256 of n bytes (OpenSSL). */
void sllmp_sha256(const void *data, size_t n, unsigned char out[32]);

/* Standard base64 (with padding) of n bytes, malloc'd and NUL-terminated. */
char *sllmp_base64(const void *data, size_t n);

/* Case-insensitive comparison of a view with a NUL-terminated string. */
int sllmp_str_ieq(sllmp_str_t s, const char *lit);

/* 1 when s is "" or only whitespace (isspace): the text that the providers refuse as a content
 * block or a stop sequence, and that carries nothing worth sending. */
int sllmp_blank(const char *s);

/* Parse a decimal integer from the whole string; 0 on success, -1 otherwise. */
int sllmp_parse_long(const char *s, long *out);

#endif
