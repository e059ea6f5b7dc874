/*
 * Shared by the targets that run whole requests through sllmp_handle() with the fake io of
 * tests/unit/harness.h (fuzz_request, fuzz_upstream): their run directory and two configs, one
 * worker, and reading the captured answer.
 */
#ifndef SLLMP_FUZZ_IO_H
#define SLLMP_FUZZ_IO_H

#include "fuzz.h"
#include "sllmp/core.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../unit/harness.h"

/* The run directory (SLLMP_RUNDIR, the configs' spool under it), its spool's new/, the two
 * config files, and the worker that serves every input. */
static char rundir[] = "/tmp/sllmp-fuzz-XXXXXX";
static char spool_new[sizeof(rundir) + 16];
static char *conf_paths[2];
static sllmp_worker_ctx_t *worker;

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

/*
 * A FastCGI response as the worker wrote it: "Status: NNN ...", headers, a blank line, the
 * body. Checks that shape; returns the status, with the head's length (its last CRLF included)
 * in *hlen and the body in *body, *blen. The head holds no NUL.
 */
static __attribute__((unused)) int
split_output(const char *out, size_t len, size_t *hlen, const char **body, size_t *blen)
{
    const char *sep;

    fuzz_check(len >= 12 && strncmp(out, "Status: ", 8) == 0);
    fuzz_check(out[8] >= '1' && out[8] <= '5' && out[9] >= '0' && out[9] <= '9' && out[10] >= '0' &&
               out[10] <= '9' && (out[11] == ' ' || out[11] == '\r'));
    sep = memmem(out, len, "\r\n\r\n", 4);
    fuzz_check(sep != NULL);
    *hlen = (size_t)(sep - out) + 2;
    *body = sep + 4;
    *blen = len - (size_t)(*body - out);
    fuzz_check(memchr(out, '\0', *hlen) == NULL);
    return (out[8] - '0') * 100 + (out[9] - '0') * 10 + (out[10] - '0');
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

static void
stack_cleanup(void)
{
    nftw(rundir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    for (int i = 0; i < 2; i++) {
        unlink(conf_paths[i]);
        free(conf_paths[i]);
    }
}

/* Makes the run directory, removed at exit, and points SLLMP_RUNDIR at it. */
static __attribute__((unused)) void
stack_dir(void)
{
    fuzz_quiet();
    if (mkdtemp(rundir) == NULL) {
        abort();
    }
    atexit(stack_cleanup);
    setenv("SLLMP_RUNDIR", rundir, 1);
    snprintf(spool_new, sizeof(spool_new), "%s/spool/new", rundir);
}

/* Takes the next trace record out of the spool: 1 with its bytes in *b (sllmp_buf_free() it),
 * the file removed; 0 when there is none left. */
static __attribute__((unused)) int
spool_take(DIR *d, sllmp_buf_t *b)
{
    struct dirent *e;

    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[sizeof(spool_new) + 300];
        char chunk[65536];
        size_t n;
        FILE *fp;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", spool_new, e->d_name);
        if ((fp = fopen(path, "r")) == NULL) {
            continue;
        }
        sllmp_buf_init(b, 0);
        while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
            sllmp_buf_append(b, chunk, n);
        }
        fclose(fp);
        unlink(path);
        return 1;
    }
    return 0;
}

/* Writes the two configs (the first one is SLLMP_CONFIG's) and starts the core and the worker. */
static __attribute__((unused)) void
stack_start(const char *conf0, const char *conf1)
{
    conf_paths[0] = write_temp(conf0);
    conf_paths[1] = write_temp(conf1);
    setenv("SLLMP_CONFIG", conf_paths[0], 1);
    if (sllmp_core_init() != 0) {
        abort();
    }
    worker = sllmp_worker_new(0);
    fuzz_quiet(); /* after the configs' log_level */
}

#endif
