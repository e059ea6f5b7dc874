/*
 * Shared by the targets that run whole requests through sllmp_handle() with the fake io of
 * tests/unit/harness.h (fuzz_request, fuzz_upstream): removing their run directory, and reading
 * the captured answer.
 */
#ifndef SLLMP_FUZZ_IO_H
#define SLLMP_FUZZ_IO_H

#include "fuzz.h"

#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* nftw() callback: removes each entry, the directory last (FTW_DEPTH). */
static __attribute__((unused)) int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static __attribute__((unused)) int
has(const char *s, size_t n, const char *needle)
{
    return memmem(s, n, needle, strlen(needle)) != NULL;
}

/* A header's value in the response head (NUL-terminated into v), or NULL. */
static __attribute__((unused)) const char *
header(const char *head, size_t hlen, const char *name, char *v, size_t vsize)
{
    size_t nlen = strlen(name);

    for (const char *p = head; p < head + hlen;) {
        const char *eol = memmem(p, (size_t)(head + hlen - p), "\r\n", 2);

        if (eol == NULL) {
            eol = head + hlen;
        }
        if ((size_t)(eol - p) > nlen + 1 && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            snprintf(v, vsize, "%.*s", (int)(eol - p - nlen - 2), p + nlen + 2);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

static __attribute__((unused)) void
check_error_json(const cJSON *j)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");

    fuzz_check(cJSON_IsObject(err));
    fuzz_check(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err, "message")));
    fuzz_check(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err, "type")));
}

#endif
