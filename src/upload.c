/*
 * `sllmp upload` (see include/sllmp/upload.h and docs/internals/spool.md).
 *
 * A run: list new/ once, sorted by name (the names sort by time), and recount the spool's size
 * from that listing. Then batch after batch: claim records in order (open, flock LOCK_EX|LOCK_NB,
 * then check the file is still linked at its path, since another run may have deleted or moved it
 * since the listing), convert each into its payload fragment and send the batch. What Langfuse
 * accepted is unlinked while its lock is still held; what it rejected for good is renamed into
 * failed/ with a .reason beside it; everything else is just closed, which releases the claim.
 * A killed run releases its claims the same way, through the kernel.
 *
 * Failures:
 *   network, timeout, 429, 5xx (not 501)  back off and resend (full jitter, Retry-After wins);
 *                                         when the wait no longer fits in the time budget the run
 *                                         stops (Langfuse is down: the next batch would fare no
 *                                         better) and leaves everything
 *   401, 403                              stop, leave everything, exit 3
 *   400, 413                              the batch holds a bad or huge record: split it in
 *                                         halves down to single records; a single one still
 *                                         refused goes to failed/
 *   207 (legacy)                          per event: 2xx accepted, >= 500, 429 and 408
 *                                         resent, any other status failed/; a record is gone
 *                                         once each of its own events was accepted, once; all
 *                                         refused as "Event type not accepted" (Langfuse v4
 *                                         events_only) stops the run
 *   anything else                         stop and leave everything (a wrong host, a proxy)
 *
 * A record whose spans or events take more than SLLMP_LF_MAX_RECORD_BYTES even after the cut
 * (src/langfuse.c) goes to failed/ before it is sent ("too large after cutting"), so no request
 * is ever over SLLMP_LF_MAX_BATCH_BYTES.
 */
#include "sllmp/upload.h"
#include "sllmp/buf.h"
#include "sllmp/conf.h"
#include "sllmp/langfuse.h"
#include "sllmp/spool.h"
#include "sllmp/upstream.h"
#include "sllmp/util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 5000
#define REQUEST_TIMEOUT_MS 30000
#define MIN_REQUEST_MS     1000 /* no request is started with less of the budget left */
#define BACKOFF_BASE_MS    500
#define BACKOFF_CAP_MS     30000
#define PROGRESS_EVERY_MS  200
#define MAX_RECORD_FILE    (64 * 1024 * 1024)
#define MAX_RESPONSE       (1024 * 1024)
#define MAX_MESSAGE        1000
#define BATCH_OVERHEAD     512 /* the export or batch around the fragments */
#define REJECT_STREAK      10  /* refusals in a row that look like our fault or Langfuse's */

typedef enum { PENDING = 0, SENT, FAILED, LEFT } rec_state_t;

typedef struct {
    char *name; /* in new/, "<unique name>.json" */
    int fd;     /* open and locked (-1 in a dry run: nothing is claimed) */
    int64_t bytes;
    char *frag; /* the record's spans or events, comma-separated */
    size_t fraglen;
    int nparts;
    char span_id[17];
    char (*attempt_ids)[17]; /* legacy: span-create events map back by these */
    int nattempts;
    int retried;
    rec_state_t state;
    /* legacy answer, per event */
    int ok, bad, again;
    unsigned char *acked; /* nparts: which events came back accepted (ok counts each once) */
    char *why;            /* the first permanent error */
} rec_t;

typedef enum { GO_ON = 0, STOP_DOWN, STOP_BUDGET, STOP_AUTH, STOP_OTHER } stop_t;

typedef struct {
    const sllmp_conf_t *c;
    const sllmp_upload_opts_t *o;
    const char *dir;
    int legacy;
    int newfd;
    int failedfd; /* opened when first needed */

    CURL *curl;
    struct curl_slist *headers;
    char *url;
    char curl_err[CURL_ERROR_SIZE];
    sllmp_buf_t body;
    sllmp_buf_t resp;
    sllmp_buf_t scratch;

    int64_t t0, deadline;
    int backoff_n; /* consecutive retryable failures */
    int streak;    /* records refused for good since the last one accepted */
    stop_t stop;
    long sent, retried, failed, left, requests;
    long todo; /* listed and not yet dealt with, for the progress line */
    long claimed;
    int tty;
    int progress_shown;
    int64_t last_progress;

    rec_t *recs;
    size_t nrecs;
    size_t batch_max;
} run_t;

/* ---------------------------------------------------------------- arguments */

void
sllmp_upload_usage(FILE *out)
{
    fprintf(
        out,
        "usage: sllmp upload [--config FILE] [--dry-run] [--max-time SECONDS] [--quiet]\n"
        "                    [--limit N]\n\n"
        "Sends the trace spool (sllmp.spool.dir) to Langfuse (sllmp.langfuse), deleting each\n"
        "record once Langfuse accepted it. For cron: see deploy/cron/.\n\n"
        "  --config FILE       the gateway's config (default: $SLLMP_CONFIG, else built-in)\n"
        "  --dry-run           print each request's payload on stdout; send and delete nothing\n"
        "  --max-time SECONDS  the run's time budget, waits included (default 50)\n"
        "  --quiet             no progress; the summary only when something was left\n"
        "  --limit N           at most N records\n\n"
        "exit: 0 nothing left that could be sent, 1 records left (Langfuse unavailable or\n"
        "out of time), 2 usage or configuration error, 3 Langfuse rejected the keys\n");
}

int
sllmp_upload_args(sllmp_upload_opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    o->max_time = 50;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        size_t n = strcspn(a, "=");

        if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = 1;
            continue;
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            sllmp_upload_usage(stdout);
            return 0;
        }
        if (a[n] == '=') {
            v = a + n + 1;
        } else if (i + 1 < argc) {
            v = argv[i + 1];
        }
        if (strncmp(a, "--config", n) == 0 && n == 8 && v != NULL) {
            o->config = v;
        } else if (strncmp(a, "--max-time", n) == 0 && n == 10 && v != NULL) {
            char *end;

            o->max_time = strtod(v, &end);
            if (*v == '\0' || *end != '\0' || !(o->max_time > 0) || o->max_time > 86400) {
                fprintf(stderr, "sllmp upload: --max-time wants seconds (> 0), got '%s'\n", v);
                return SLLMP_UPLOAD_USAGE;
            }
        } else if (strncmp(a, "--limit", n) == 0 && n == 7 && v != NULL) {
            if (sllmp_parse_long(v, &o->limit) < 0 || o->limit < 1) {
                fprintf(stderr, "sllmp upload: --limit wants a count (>= 1), got '%s'\n", v);
                return SLLMP_UPLOAD_USAGE;
            }
        } else {
            fprintf(stderr, "sllmp upload: unknown or incomplete argument '%s'\n\n", a);
            sllmp_upload_usage(stderr);
            return SLLMP_UPLOAD_USAGE;
        }
        if (a[n] != '=') {
            i++;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------- small helpers */

static int64_t
left_ms(const run_t *r)
{
    return r->deadline - sllmp_now_ms();
}

/* Prints a message from Langfuse (or curl) safely: one line, bounded, never the secret. */
static char *
clean_message(const run_t *r, const char *s, size_t n)
{
    const char *sk = r->c->langfuse.secret_key;
    size_t skl = sk ? strlen(sk) : 0;
    sllmp_buf_t b;

    sllmp_buf_init(&b, 0);
    for (size_t i = 0; i < n && b.len < MAX_MESSAGE; i++) {
        char ch = s[i];

        if (skl >= 4 && i + skl <= n && memcmp(s + i, sk, skl) == 0) {
            sllmp_buf_appends(&b, "[REDACTED]");
            i += skl - 1;
            continue;
        }
        if (ch == '\n' || ch == '\r' || ch == '\t') {
            ch = ' ';
        }
        if ((unsigned char)ch >= 0x20 || ch < 0) {
            sllmp_buf_append(&b, &ch, 1);
        }
    }
    if (b.len >= MAX_MESSAGE) {
        sllmp_buf_appends(&b, "...");
    }
    return b.ptr ? b.ptr : sllmp_xstrdup("");
}

/* Langfuse's message from an error body: "message: error" where it has them, else the text. */
static char *
body_message(const run_t *r, const char *body, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    char *text = NULL, *out;

    if (cJSON_IsString(m) || cJSON_IsString(e)) {
        text = sllmp_xasprintf("%s%s%s", cJSON_IsString(m) ? m->valuestring : "",
                               cJSON_IsString(m) && cJSON_IsString(e) ? ": " : "",
                               cJSON_IsString(e) ? e->valuestring : "");
    } else if (j != NULL) {
        text = cJSON_PrintUnformatted(j);
    }
    cJSON_Delete(j);
    if (text != NULL) {
        out = clean_message(r, text, strlen(text));
        free(text);
        return out;
    }
    return clean_message(r, body, len);
}

static void
progress(run_t *r, int force)
{
    int64_t now = sllmp_now_ms();

    if (!r->tty || r->o->quiet || (!force && now - r->last_progress < PROGRESS_EVERY_MS)) {
        return;
    }
    r->last_progress = now;
    r->progress_shown = 1;
    fprintf(stderr, "\rsllmp upload: sent %ld, retried %ld, failed %ld, %ld to go (%.1fs)\033[K",
            r->sent, r->retried, r->failed, r->todo, (double)(now - r->t0) / 1000.0);
    fflush(stderr);
}

/* A message line, clearing the progress line first. */
static void SLLMP_PRINTF(2, 3) say(run_t *r, const char *fmt, ...)
{
    va_list ap;

    if (r->progress_shown) {
        fputs("\r\033[K", stderr);
        r->progress_shown = 0;
    }
    fputs("sllmp upload: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void
sleep_ms(run_t *r, int64_t ms)
{
    int64_t end = sllmp_now_ms() + ms;

    for (int64_t now = sllmp_now_ms(); now < end; now = sllmp_now_ms()) {
        int64_t step = end - now < PROGRESS_EVERY_MS ? end - now : PROGRESS_EVERY_MS;
        struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};

        nanosleep(&ts, NULL);
        progress(r, 0);
    }
}

/* Full jitter: uniform in [0, min(cap, base * 2^n)]. */
static int64_t
backoff_ms(int n)
{
    int64_t ceil_ms = BACKOFF_BASE_MS;
    uint32_t rnd;

    for (int i = 0; i < n && ceil_ms < BACKOFF_CAP_MS; i++) {
        ceil_ms *= 2;
    }
    if (ceil_ms > BACKOFF_CAP_MS) {
        ceil_ms = BACKOFF_CAP_MS;
    }
    sllmp_random(&rnd, sizeof(rnd));
    return (int64_t)(rnd % (uint32_t)(ceil_ms + 1));
}

static void
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;

        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && want > 65536) {
            rl.rlim_cur = 65536;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
}

static size_t
batch_max(void)
{
    struct rlimit rl;
    size_t n = SLLMP_UPLOAD_BATCH_RECORDS;

    /* one descriptor per claimed record, plus a few for curl, the directories and stdio */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < n + 64) {
        n = rl.rlim_cur > 96 ? rl.rlim_cur - 64 : 32;
    }
    return n;
}

/* ---------------------------------------------------------------- listing */

typedef struct {
    char **names;
    size_t n, cap;
    int64_t bytes;
} listing_t;

static int
cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
list_new(run_t *r, listing_t *l)
{
    int fd = dup(r->newfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    memset(l, 0, sizeof(*l));
    if (d == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        struct stat st;

        if (e->d_name[0] == '.' || len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0) {
            continue;
        }
        if (fstatat(r->newfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 1024;
            l->names = sllmp_xrealloc(l->names, l->cap * sizeof(*l->names));
        }
        l->names[l->n++] = sllmp_xstrdup(e->d_name);
        l->bytes += st.st_size;
    }
    closedir(d);
    if (l->n > 1) {
        qsort(l->names, l->n, sizeof(*l->names), cmp_name);
    }
    return 0;
}

/*
 * tmp/ holds what a writer was writing when it died (maildir's rule: older than 36 hours is
 * garbage, nothing is writing it any more). Removed here, since nothing else reads tmp/.
 */
static void
sweep_tmp(const run_t *r)
{
    char *path = sllmp_xasprintf("%s/tmp", r->dir);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    time_t old = time(NULL) - 36 * 3600;
    struct dirent *e;
    long n = 0;

    free(path);
    if (d == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;

        if (e->d_name[0] != '.' && fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode) && st.st_mtime < old && unlinkat(fd, e->d_name, 0) == 0) {
            n++;
        }
    }
    closedir(d);
    if (n > 0) {
        fprintf(stderr, "sllmp upload: removed %ld unfinished record%s older than 36 h from tmp/\n",
                n, n == 1 ? "" : "s");
    }
}

/* ---------------------------------------------------------------- claims */

typedef enum { CLAIM_OK = 0, CLAIM_SKIP, CLAIM_CORRUPT } claim_t;

/*
 * Opens and locks new/<name> and reads it into r->scratch. SKIP when it is gone or another run
 * holds it. In a dry run nothing is locked.
 */
static claim_t
claim(run_t *r, rec_t *rec, const char *name, const char **why)
{
    struct stat st, st2;
    int fd = openat(r->newfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    size_t got = 0;

    rec->fd = -1;
    if (fd < 0) {
        return CLAIM_SKIP;
    }
    if (!r->o->dry_run && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return CLAIM_SKIP;
    }
    /* still linked, and at this path: another run may have deleted or moved it meanwhile */
    if (fstat(fd, &st) < 0 || st.st_nlink == 0 || !S_ISREG(st.st_mode) ||
        fstatat(r->newfd, name, &st2, AT_SYMLINK_NOFOLLOW) < 0 || st2.st_ino != st.st_ino ||
        st2.st_dev != st.st_dev) {
        close(fd);
        return CLAIM_SKIP;
    }
    rec->fd = fd;
    rec->bytes = st.st_size;
    if (st.st_size > MAX_RECORD_FILE) {
        *why = "larger than 64 MB";
        return CLAIM_CORRUPT;
    }
    sllmp_buf_reset(&r->scratch);
    if (sllmp_buf_append(&r->scratch, "", 0) < 0) {
        return CLAIM_SKIP;
    }
    while (got < (size_t)st.st_size) {
        char tmp[65536];
        ssize_t n = pread(fd, tmp, sizeof(tmp), (off_t)got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        sllmp_buf_append(&r->scratch, tmp, (size_t)n);
        got += (size_t)n;
    }
    if (got != (size_t)st.st_size) {
        *why = "could not be read whole";
        return CLAIM_CORRUPT;
    }
    return CLAIM_OK;
}

static void
release(rec_t *rec)
{
    if (rec->fd >= 0) {
        close(rec->fd);
        rec->fd = -1;
    }
}

static void
rec_free(rec_t *rec)
{
    release(rec);
    free(rec->name);
    free(rec->frag);
    free(rec->attempt_ids);
    free(rec->acked);
    free(rec->why);
    memset(rec, 0, sizeof(*rec));
    rec->fd = -1;
}

/* ---------------------------------------------------------------- outcomes */

static void
accepted(run_t *r, rec_t *rec)
{
    if (!r->o->dry_run && unlinkat(r->newfd, rec->name, 0) < 0 && errno != ENOENT) {
        say(r, "cannot delete %s/new/%s: %s (it will be sent again)", r->dir, rec->name,
            strerror(errno));
    }
    release(rec);
    rec->state = SENT;
    r->sent++;
    r->todo--;
    r->streak = 0;
}

static int
failed_dir(run_t *r)
{
    char *path;

    if (r->failedfd >= 0) {
        return r->failedfd;
    }
    path = sllmp_xasprintf("%s/failed", r->dir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        say(r, "cannot create %s: %s", path, strerror(errno));
    } else {
        r->failedfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r->failedfd < 0) {
            say(r, "cannot open %s: %s", path, strerror(errno));
        }
    }
    free(path);
    return r->failedfd;
}

/*
 * Moves a rejected record to failed/<name>.json with failed/<name>.reason beside it (the reason
 * first, so a crash in between leaves a record that is simply sent again). status 0: corrupt.
 */
static void
reject(run_t *r, rec_t *rec, int status, const char *why)
{
    char now[32], base[256], reason[300], tmp[320];
    size_t blen = strlen(rec->name) - 5; /* without .json */
    int dfd, fd, ok;
    char *line;

    r->todo--;
    r->failed++;
    rec->state = FAILED;
    if (status != 0) {
        r->streak++; /* a corrupt file is surely bad; a refusal may be systematic */
    }
    if (r->o->dry_run) {
        say(r, "would move %s to failed/: %s", rec->name, why);
        return;
    }
    dfd = failed_dir(r);
    snprintf(base, sizeof(base), "%.*s", (int)blen, rec->name);
    snprintf(reason, sizeof(reason), "%s.reason", base);
    snprintf(tmp, sizeof(tmp), ".%s.reason.tmp", base);
    sllmp_langfuse_iso(sllmp_wall_ms() * 1000, 3, now);
    line = status ? sllmp_xasprintf("%s HTTP %d: %s\n", now, status, why)
                  : sllmp_xasprintf("%s %s\n", now, why);
    fd = dfd >= 0 ? openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    ok = fd >= 0 && write(fd, line, strlen(line)) == (ssize_t)strlen(line);
    if (fd >= 0 && close(fd) < 0) {
        ok = 0;
    }
    if (!ok || renameat(dfd, tmp, dfd, reason) < 0) {
        say(r, "cannot move %s to %s/failed/: %s (left in new/)", rec->name, r->dir,
            strerror(errno));
        if (dfd >= 0) {
            unlinkat(dfd, tmp, 0);
        }
        ok = 0;
    } else if (renameat(r->newfd, rec->name, dfd, rec->name) < 0) {
        say(r, "cannot move %s to %s/failed/: %s (left in new/)", rec->name, r->dir,
            strerror(errno));
        unlinkat(dfd, reason, 0); /* no reason without its record */
        ok = 0;
    }
    if (!ok) {
        rec->state = LEFT;
        r->failed--;
        r->left++;
    }
    free(line);
    release(rec);
}

/*
 * Stops the run when Langfuse refused REJECT_STREAK records in a row for good: a refusal of
 * everything (a change on either side) must not move the whole spool to failed/.
 */
static int
too_many_refusals(run_t *r, const char *msg)
{
    if (r->streak < REJECT_STREAK || r->stop != GO_ON) {
        return 0;
    }
    say(r,
        "Langfuse refused the last %d records one by one (last: %s); that looks like a problem "
        "of sllmp or Langfuse rather than of the records: stopping (those are in %s/failed/)",
        r->streak, msg, r->dir);
    r->stop = STOP_OTHER;
    return 1;
}

/* ---------------------------------------------------------------- HTTP */

static size_t
write_cb(char *data, size_t size, size_t n, void *ud)
{
    sllmp_buf_t *b = ud;

    (void)sllmp_buf_append(b, data, size * n); /* past the maximum it is dropped, not failed */
    return size * n;
}

static void
wipe_headers(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p != NULL; p = p->next) {
        explicit_bzero(p->data, strlen(p->data));
    }
    curl_slist_free_all(h);
}

static int
http_init(run_t *r)
{
    const sllmp_langfuse_conf_t *lf = &r->c->langfuse;
    char *auth;

    r->curl = curl_easy_init();
    if (r->curl == NULL) {
        return -1;
    }
    r->url = sllmp_xasprintf("%s%s", lf->host,
                             r->legacy ? "/api/public/ingestion" : "/api/public/otel/v1/traces");
    auth = sllmp_langfuse_auth_header(lf->public_key, lf->secret_key);
    r->headers = curl_slist_append(NULL, auth);
    explicit_bzero(auth, strlen(auth));
    free(auth);
    r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    if (!r->legacy) {
        r->headers = curl_slist_append(r->headers, "x-langfuse-ingestion-version: 4");
    }
    r->headers = curl_slist_append(r->headers, "X-Langfuse-Sdk-Name: sllmp");
    r->headers = curl_slist_append(r->headers, "X-Langfuse-Sdk-Version: " SLLMP_VERSION);
    r->headers = curl_slist_append(r->headers, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(r->curl, CURLOPT_URL, r->url);
    curl_easy_setopt(r->curl, CURLOPT_CAINFO, sllmp_ca_file(r->c));
    curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(r->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(r->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "sllmp/" SLLMP_VERSION);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &r->resp);
    curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->curl_err);
    return 0;
}

static void
http_fini(run_t *r)
{
    if (r->curl != NULL) {
        curl_easy_cleanup(r->curl);
    }
    wipe_headers(r->headers);
    free(r->url);
}

/* POSTs r->body. The HTTP status, or 0 with r->curl_err set for a network error or timeout. */
static long
post(run_t *r, int64_t *retry_after_ms)
{
    int64_t budget = left_ms(r);
    long status = 0;
    curl_off_t ra = 0;
    CURLcode rc;

    *retry_after_ms = -1;
    sllmp_buf_reset(&r->resp);
    r->curl_err[0] = '\0';
    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, r->body.ptr);
    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
    /* at most REQUEST_TIMEOUT_MS, and never past the end of the budget */
    if (budget > REQUEST_TIMEOUT_MS) {
        budget = REQUEST_TIMEOUT_MS;
    } else if (budget < MIN_REQUEST_MS) {
        budget = MIN_REQUEST_MS;
    }
    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, (long)budget);
    r->requests++;
    rc = curl_easy_perform(r->curl);
    if (rc != CURLE_OK) {
        if (r->curl_err[0] == '\0') {
            snprintf(r->curl_err, sizeof(r->curl_err), "%s", curl_easy_strerror(rc));
        }
        return 0;
    }
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(r->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0) {
        *retry_after_ms = (int64_t)ra * 1000;
    }
    return status;
}

/* ---------------------------------------------------------------- one batch */

static size_t
pending_in(const run_t *r, size_t lo, size_t hi)
{
    size_t n = 0;

    for (size_t i = lo; i < hi; i++) {
        n += r->recs[i].state == PENDING;
    }
    return n;
}

/* The request body of the pending records of [lo, hi). */
static void
build_body(run_t *r, size_t lo, size_t hi)
{
    size_t parts = 0;
    int first = 1;

    sllmp_buf_reset(&r->body);
    if (r->legacy) {
        sllmp_langfuse_legacy_open(&r->body);
    } else {
        sllmp_langfuse_otel_open(&r->body);
    }
    for (size_t i = lo; i < hi; i++) {
        rec_t *rec = &r->recs[i];

        if (rec->state != PENDING) {
            continue;
        }
        if (!first) {
            sllmp_buf_append(&r->body, ",", 1);
        }
        sllmp_buf_append(&r->body, rec->frag, rec->fraglen);
        parts += (size_t)rec->nparts;
        first = 0;
    }
    if (r->legacy) {
        sllmp_langfuse_legacy_close(&r->body, parts);
    } else {
        sllmp_langfuse_otel_close(&r->body);
    }
}

/* A retryable failure: waits, or stops the run when the wait does not fit in the budget. */
static int
retry_or_stop(run_t *r, size_t lo, size_t hi, const char *why, int64_t retry_after_ms)
{
    int64_t wait = retry_after_ms >= 0 ? retry_after_ms : backoff_ms(r->backoff_n);

    r->backoff_n++;
    if (wait + MIN_REQUEST_MS > left_ms(r)) {
        say(r, "Langfuse at %s is unavailable (%s); giving up for this run after %d %s", r->url,
            why, r->backoff_n, r->backoff_n == 1 ? "try" : "tries");
        r->stop = STOP_DOWN;
        return -1;
    }
    for (size_t i = lo; i < hi; i++) {
        if (r->recs[i].state == PENDING && !r->recs[i].retried) {
            r->recs[i].retried = 1;
            r->retried++;
        }
    }
    sleep_ms(r, wait);
    return 0;
}

/*
 * Looks up an observation id among the batch's records: the record's index, or -1. Answers come
 * in batch order, so the search starts where the last one was found (*hint).
 */
static long
find_obs(const run_t *r, size_t lo, size_t hi, const char *id, size_t len, size_t *hint)
{
    if (len != 16 || hi <= lo) {
        return -1;
    }
    for (size_t j = 0; j < hi - lo; j++) {
        size_t i = lo + (*hint - lo + j) % (hi - lo);
        const rec_t *rec = &r->recs[i];

        if (memcmp(rec->span_id, id, 16) == 0) {
            *hint = i;
            return (long)i;
        }
        for (int k = 0; k < rec->nattempts; k++) {
            if (memcmp(rec->attempt_ids[k], id, 16) == 0) {
                *hint = i;
                return (long)i;
            }
        }
    }
    return -1;
}

/* The record an event id ("<observation id>-<type>") belongs to; -1 when none. */
static long
event_rec(const run_t *r, size_t lo, size_t hi, const char *eid, size_t *hint)
{
    const char *dash = strchr(eid, '-');

    return dash ? find_obs(r, lo, hi, eid, (size_t)(dash - eid), hint) : -1;
}

/*
 * Counts an accepted event of rec (eid "<observation id>-<type>", its id matched by event_rec)
 * once, and only an event rec sent: its trace-create, generation-create or an attempt's
 * span-create. An answer naming an event twice, or one rec has not, must not stand for another.
 */
static void
ack(rec_t *rec, const char *eid)
{
    const char *type = eid + 17;
    int part = -1;

    if (memcmp(eid, rec->span_id, 16) == 0 && strcmp(type, "trace-create") == 0) {
        part = 0;
    } else if (memcmp(eid, rec->span_id, 16) == 0 && strcmp(type, "generation-create") == 0) {
        part = 1;
    } else if (strcmp(type, "span-create") == 0) {
        for (int k = 0; k < rec->nattempts && part < 0; k++) {
            if (memcmp(eid, rec->attempt_ids[k], 16) == 0 && !rec->acked[2 + k]) {
                part = 2 + k; /* (two attempts with one id: each of their events counts) */
            }
        }
    }
    if (part >= 0 && part < rec->nparts && !rec->acked[part]) {
        rec->acked[part] = 1;
        rec->ok++;
    }
}

static int
not_accepted_v4(const cJSON *e)
{
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
    const char *x = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "error"));

    return (m && strstr(m, "Event type not accepted")) || (x && strstr(x, "not accepted"));
}

/*
 * Reads a 207 of the legacy endpoint: per record, accepted when every event is, resent when one
 * got >= 500 (or no answer), failed/ when one was refused for good. 0, or -1 when the run stops.
 */
static int
legacy_answer(run_t *r, size_t lo, size_t hi, size_t nevents)
{
    cJSON *j = cJSON_ParseWithLength(r->resp.ptr ? r->resp.ptr : "", r->resp.len);
    const cJSON *succ = cJSON_GetObjectItemCaseSensitive(j, "successes");
    const cJSON *errs = cJSON_GetObjectItemCaseSensitive(j, "errors");
    const cJSON *e;
    size_t nv4 = 0, nerr = 0, hint = lo;
    int again = 0;

    if (!cJSON_IsArray(succ) || !cJSON_IsArray(errs)) {
        /* not Langfuse's answer (a proxy, a web page): nothing is known to have arrived */
        char *text =
            clean_message(r, r->resp.ptr ? r->resp.ptr : "", r->resp.len > 200 ? 200 : r->resp.len);

        say(r,
            "unexpected answer from %s (no successes/errors): %s; stopping, nothing was "
            "deleted",
            r->url, text);
        free(text);
        cJSON_Delete(j);
        r->stop = STOP_OTHER;
        return -1;
    }
    for (size_t i = lo; i < hi; i++) {
        r->recs[i].ok = r->recs[i].bad = r->recs[i].again = 0;
        free(r->recs[i].acked);
        r->recs[i].acked = sllmp_xcalloc((size_t)r->recs[i].nparts, 1);
        free(r->recs[i].why);
        r->recs[i].why = NULL;
    }
    cJSON_ArrayForEach(e, succ)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "id"));
        long k = id ? event_rec(r, lo, hi, id, &hint) : -1;

        if (k >= 0) {
            ack(&r->recs[k], id);
        }
    }
    cJSON_ArrayForEach(e, errs)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "id"));
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "status");
        int status = cJSON_IsNumber(st) ? st->valueint : 500; /* valueint: cut to int's range */
        long k = id ? event_rec(r, lo, hi, id, &hint) : -1;
        rec_t *rec;

        nerr++;
        nv4 += status == 400 && not_accepted_v4(e);
        if (k < 0) {
            continue;
        }
        rec = &r->recs[k];
        if (status >= 500 || status == 429 || status == 408) {
            rec->again++;
        } else if (status >= 300 || status < 200) { /* only a 2xx says accepted */
            rec->bad++;
            if (rec->why == NULL) {
                char *text = cJSON_PrintUnformatted(e);

                rec->why = body_message(r, text, strlen(text));
                free(text);
            }
        } else {
            ack(rec, id);
        }
    }
    cJSON_Delete(j);
    if (nv4 > 0 && nv4 == nerr && nerr == nevents) {
        say(r, "this Langfuse no longer accepts legacy ingestion (every event came back "
               "\"Event type not accepted\"); set sllmp.langfuse.api: otel");
        r->stop = STOP_OTHER;
        return -1;
    }
    {
        size_t nok = 0, nbad = 0;

        for (size_t i = lo; i < hi; i++) {
            const rec_t *rec = &r->recs[i];

            if (rec->state == PENDING) {
                nok += rec->ok >= rec->nparts && rec->again == 0 && rec->bad == 0;
                nbad += rec->again == 0 && rec->bad > 0 && rec->ok + rec->bad >= rec->nparts;
            }
        }
        if (nok == 0 && nbad >= REJECT_STREAK && nbad == pending_in(r, lo, hi)) {
            const rec_t *first = &r->recs[lo];

            while (first->state != PENDING) {
                first++;
            }
            say(r,
                "Langfuse refused every event of all %zu records of a batch (first: %s); that "
                "looks like a problem of sllmp or Langfuse rather than of the records: stopping, "
                "nothing was moved",
                nbad, first->why ? first->why : "?");
            r->stop = STOP_OTHER;
            return -1;
        }
    }
    for (size_t i = lo; i < hi; i++) {
        rec_t *rec = &r->recs[i];

        if (rec->state != PENDING) {
            continue;
        }
        if (rec->ok >= rec->nparts && rec->again == 0 && rec->bad == 0) {
            accepted(r, rec);
        } else if (rec->again > 0 || rec->ok + rec->bad < rec->nparts) {
            again = 1; /* resent whole: its event ids make that harmless */
        } else {
            char *why = sllmp_xasprintf("event refused: %s", rec->why ? rec->why : "?");

            reject(r, rec, 207, why);
            too_many_refusals(r, why);
            free(why);
        }
    }
    return r->stop != GO_ON ? -1 : again;
}

static void send_range(run_t *r, size_t lo, size_t hi);

/* Splits the pending records of [lo, hi) in halves and sends each. */
static void
send_halves(run_t *r, size_t lo, size_t hi, size_t n)
{
    size_t mid = lo, seen = 0;

    while (seen < n / 2) {
        seen += r->recs[mid++].state == PENDING;
    }
    send_range(r, lo, mid);
    send_range(r, mid, hi);
}

/*
 * OTLP's partial success: Langfuse stored the batch but nrej of its spans, and says not which.
 * A batch of one record goes to failed/ (sending it again would be refused again, and OTLP
 * says not to); a larger batch is sent again in halves until the refused records stand alone.
 * Spans sent twice keep their ids, which Langfuse stores once.
 */
static void
partial(run_t *r, size_t lo, size_t hi, size_t n, double nrej, const char *why)
{
    if (n > 1) {
        send_halves(r, lo, hi, n);
        return;
    }
    for (size_t i = lo; i < hi; i++) {
        if (r->recs[i].state == PENDING) {
            char *line = sllmp_xasprintf("%.0f of its %d span(s) rejected: %s", nrej,
                                         r->recs[i].nparts, why);

            say(r, "Langfuse rejected %s: %s", r->recs[i].name, line);
            reject(r, &r->recs[i], 200, line);
            too_many_refusals(r, line);
            free(line);
        }
    }
}

/* Sends the pending records of [lo, hi) until each is accepted, failed, or the run stops. */
static void
send_range(run_t *r, size_t lo, size_t hi)
{
    for (;;) {
        size_t n = pending_in(r, lo, hi);
        int64_t retry_after;
        long status;
        char *msg, *why;

        if (n == 0 || r->stop != GO_ON) {
            return;
        }
        build_body(r, lo, hi);
        if (r->o->dry_run) {
            fwrite(r->body.ptr, 1, r->body.len, stdout);
            fputc('\n', stdout);
            r->requests++;
            for (size_t i = lo; i < hi; i++) {
                if (r->recs[i].state == PENDING) {
                    release(&r->recs[i]);
                    r->recs[i].state = LEFT;
                    r->left++;
                    r->todo--;
                }
            }
            return;
        }
        status = post(r, &retry_after);
        progress(r, 0);
        if (status == 0 || status == 429 || status == 408 || (status >= 500 && status != 501)) {
            why = status == 0 ? sllmp_xstrdup(r->curl_err) : sllmp_xasprintf("HTTP %ld", status);
            if (retry_or_stop(r, lo, hi, why, retry_after) < 0) {
                free(why);
                return;
            }
            free(why);
            continue;
        }
        msg = body_message(r, r->resp.ptr ? r->resp.ptr : "", r->resp.len);
        if (status == 401 || status == 403) {
            say(r,
                "Langfuse at %s rejected the keys (HTTP %ld: %s); check "
                "sllmp.langfuse.public_key and secret_key; nothing was deleted",
                r->c->langfuse.host, status, msg);
            r->stop = STOP_AUTH;
            free(msg);
            return;
        }
        if (status == 400 || status == 413) {
            if (n == 1) {
                for (size_t i = lo; i < hi; i++) {
                    if (r->recs[i].state == PENDING) {
                        reject(r, &r->recs[i], (int)status, msg);
                    }
                }
                too_many_refusals(r, msg);
            } else {
                free(msg);
                send_halves(r, lo, hi, n);
                return;
            }
            free(msg);
            r->backoff_n = 0;
            return;
        }
        if (status >= 200 && status < 300 && !r->legacy) {
            const cJSON *ps;
            cJSON *j = cJSON_ParseWithLength(r->resp.ptr ? r->resp.ptr : "", r->resp.len);

            if (!cJSON_IsObject(j) && r->resp.len > 0) {
                /* a 2xx that is not OTLP's answer (a web page at a wrong host) proves nothing */
                say(r,
                    "unexpected answer from %s: HTTP %ld that is not JSON; stopping, nothing "
                    "was deleted",
                    r->url, status);
                cJSON_Delete(j);
                free(msg);
                r->stop = STOP_OTHER;
                return;
            }
            ps = cJSON_GetObjectItemCaseSensitive(j, "partialSuccess");
            if (ps != NULL) {
                const cJSON *rej = cJSON_GetObjectItemCaseSensitive(ps, "rejectedSpans");
                const char *em =
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ps, "errorMessage"));
                double nrej = cJSON_IsNumber(rej)   ? rej->valuedouble
                              : cJSON_IsString(rej) ? strtod(rej->valuestring, NULL)
                                                    : 0;

                if (nrej > 0) {
                    char *clean = clean_message(r, em ? em : "", em ? strlen(em) : 0);

                    cJSON_Delete(j);
                    free(msg);
                    partial(r, lo, hi, n, nrej, clean);
                    free(clean);
                    return;
                }
            }
            cJSON_Delete(j);
            for (size_t i = lo; i < hi; i++) {
                if (r->recs[i].state == PENDING) {
                    accepted(r, &r->recs[i]);
                }
            }
            r->backoff_n = 0;
            free(msg);
            return;
        }
        if (status >= 200 && status < 300 && r->legacy) {
            size_t nevents = 0;
            int rc;

            for (size_t i = lo; i < hi; i++) {
                nevents += r->recs[i].state == PENDING ? (size_t)r->recs[i].nparts : 0;
            }
            rc = legacy_answer(r, lo, hi, nevents);
            free(msg);
            if (rc < 0) {
                return;
            }
            if (rc > 0) {
                if (retry_or_stop(r, lo, hi, "events answered with 5xx", retry_after) < 0) {
                    return;
                }
                continue;
            }
            r->backoff_n = 0;
            return;
        }
        say(r,
            "unexpected answer from Langfuse at %s: HTTP %ld: %s; stopping, nothing was "
            "deleted",
            r->url, status, msg);
        free(msg);
        r->stop = STOP_OTHER;
        return;
    }
}

/* ---------------------------------------------------------------- records */

/*
 * Parses, checks and converts the record in r->scratch into rec's fragment. NULL, or why it goes
 * to failed/ instead (malloc'd).
 */
static char *
prepare(run_t *r, rec_t *rec)
{
    cJSON *j = cJSON_ParseWithLength(r->scratch.ptr, r->scratch.len);
    const cJSON *attempts, *a;
    const char *why;
    sllmp_buf_t frag;
    int n;

    if (j == NULL) {
        return sllmp_xstrdup("corrupt record: not JSON");
    }
    why = sllmp_langfuse_check(j);
    if (why != NULL) {
        cJSON_Delete(j);
        return sllmp_xasprintf("corrupt record: %s", why);
    }
    memcpy(rec->span_id, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "span_id")), 16);
    rec->span_id[16] = '\0';
    attempts = cJSON_GetObjectItemCaseSensitive(j, "attempts");
    rec->nattempts = cJSON_GetArraySize(attempts);
    if (rec->nattempts > 0) {
        int k = 0;

        rec->attempt_ids = sllmp_xcalloc((size_t)rec->nattempts, sizeof(*rec->attempt_ids));
        cJSON_ArrayForEach(a, attempts)
        {
            /* the member check() validated: "SPAN_ID" before it may be anything */
            memcpy(rec->attempt_ids[k],
                   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "span_id")), 16);
            rec->attempt_ids[k++][16] = '\0';
        }
    }
    sllmp_buf_init(&frag, 0);
    n = r->legacy ? sllmp_langfuse_legacy_events(j, SLLMP_LF_MAX_RECORD_BYTES, &frag)
                  : sllmp_langfuse_otel_spans(j, SLLMP_LF_MAX_RECORD_BYTES, &frag);
    cJSON_Delete(j);
    SLLMP_ASSERT(n > 0); /* the buffer has no maximum */
    if (frag.len > SLLMP_LF_MAX_RECORD_BYTES) {
        /* what the cut does not shrink (tags, names, a model name of megabytes): sent, it would
         * take a request past the batch limit alone, so it is set aside instead */
        char *reason = sllmp_xasprintf("too large after cutting: %zu bytes (at most %d)", frag.len,
                                       SLLMP_LF_MAX_RECORD_BYTES);

        sllmp_buf_free(&frag);
        return reason;
    }
    rec->frag = frag.ptr;
    rec->fraglen = frag.len;
    rec->nparts = n;
    return NULL;
}

/* Settles a batch: whatever is still pending or claimed is released and counted as left. */
static void
settle(run_t *r)
{
    int64_t bytes = 0, records = 0;

    for (size_t i = 0; i < r->nrecs; i++) {
        rec_t *rec = &r->recs[i];

        if (rec->state == SENT || rec->state == FAILED) {
            bytes += rec->bytes;
            records++;
        } else if (rec->state == PENDING) {
            rec->state = LEFT;
            r->left++;
            r->todo--;
        }
        rec_free(rec);
    }
    if (records > 0 && !r->o->dry_run) {
        sllmp_spool_forget(r->dir, bytes, records);
    }
    r->nrecs = 0;
}

/*
 * Fills r->recs with the next batch from the listing, starting at *next. A record that would
 * take the batch over the size limit stays claimed in *carry for the next batch.
 */
static void
fill_batch(run_t *r, listing_t *l, size_t *next, rec_t *carry)
{
    size_t bytes = BATCH_OVERHEAD;

    if (carry->name != NULL) {
        r->recs[r->nrecs++] = *carry;
        bytes += carry->fraglen + 1;
        memset(carry, 0, sizeof(*carry));
        carry->fd = -1;
    }
    while (*next < l->n && r->nrecs < r->batch_max && r->stop == GO_ON) {
        rec_t rec;
        const char *why = NULL;
        char *reason = NULL;
        claim_t cl;

        if (r->o->limit > 0 && r->claimed >= r->o->limit) {
            break;
        }
        memset(&rec, 0, sizeof(rec));
        rec.name = l->names[*next];
        l->names[(*next)++] = NULL;
        cl = claim(r, &rec, rec.name, &why);
        if (cl == CLAIM_SKIP) {
            r->todo--;
            rec_free(&rec);
            continue;
        }
        r->claimed++;
        if (cl == CLAIM_OK) {
            reason = prepare(r, &rec);
        } else {
            reason = sllmp_xasprintf("corrupt record: %s", why);
        }
        if (reason != NULL) {
            rec.state = PENDING;
            reject(r, &rec, 0, reason);
            free(reason);
            if (rec.state == FAILED && !r->o->dry_run) {
                sllmp_spool_forget(r->dir, rec.bytes, 1);
            }
            rec_free(&rec);
            continue;
        }
        if (r->nrecs > 0 && bytes + rec.fraglen + 1 > SLLMP_LF_MAX_BATCH_BYTES) {
            *carry = rec;
            return;
        }
        bytes += rec.fraglen + 1;
        r->recs[r->nrecs++] = rec;
        progress(r, 0);
    }
}

/* ---------------------------------------------------------------- the run */

static int
summary(run_t *r)
{
    int rc = SLLMP_UPLOAD_DONE;

    if (r->stop == STOP_AUTH) {
        rc = SLLMP_UPLOAD_AUTH;
    } else if (r->stop != GO_ON && r->left > 0) {
        rc = SLLMP_UPLOAD_LEFT;
    }
    if (r->progress_shown) {
        fputs("\r\033[K", stderr);
        r->progress_shown = 0;
    }
    if (!r->o->quiet || r->left > 0 || r->failed > 0 || rc != SLLMP_UPLOAD_DONE) {
        fprintf(stderr, "sllmp upload: sent %ld, retried %ld, failed %ld, left %ld (%.1fs%s)\n",
                r->sent, r->retried, r->failed, r->left, (double)(sllmp_now_ms() - r->t0) / 1000.0,
                r->o->dry_run ? ", dry run" : "");
    }
    return rc;
}

static int
keys_missing(const sllmp_conf_t *c)
{
    const sllmp_langfuse_conf_t *lf = &c->langfuse;

    if (lf->public_key != NULL && *lf->public_key && lf->secret_key != NULL && *lf->secret_key) {
        return 0;
    }
    if (lf->public_key == NULL || !*lf->public_key) {
        if (lf->unset_public != NULL) {
            fprintf(stderr,
                    "sllmp upload: sllmp.langfuse.public_key: environment variable %s is not "
                    "set\n",
                    lf->unset_public);
        } else {
            fprintf(stderr, "sllmp upload: sllmp.langfuse.public_key is not configured (nor "
                            "LANGFUSE_PUBLIC_KEY)\n");
        }
    }
    if (lf->secret_key == NULL || !*lf->secret_key) {
        if (lf->unset_secret != NULL) {
            fprintf(stderr,
                    "sllmp upload: sllmp.langfuse.secret_key: environment variable %s is not "
                    "set\n",
                    lf->unset_secret);
        } else {
            fprintf(stderr, "sllmp upload: sllmp.langfuse.secret_key is not configured (nor "
                            "LANGFUSE_SECRET_KEY)\n");
        }
    }
    return 1;
}

static void
cjson_hooks(void)
{
    cJSON_Hooks hooks = {sllmp_xmalloc, free};

    cJSON_InitHooks(&hooks);
}

int
sllmp_upload_run(const sllmp_conf_t *c, const sllmp_upload_opts_t *o)
{
    run_t r;
    listing_t l;
    rec_t carry;
    char *newdir;
    int rc;

    memset(&r, 0, sizeof(r));
    r.c = c;
    r.o = o;
    r.dir = c->spool_dir;
    r.legacy = c->langfuse.api == SLLMP_LF_LEGACY;
    r.failedfd = -1;
    r.t0 = sllmp_now_ms();
    r.deadline = r.t0 + (int64_t)(o->max_time * 1000);
    r.tty = isatty(STDERR_FILENO);
    if (!o->dry_run && keys_missing(c)) {
        return SLLMP_UPLOAD_USAGE;
    }
    cjson_hooks();
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    r.batch_max = batch_max();
    newdir = sllmp_xasprintf("%s/new", r.dir);
    r.newfd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r.newfd < 0) {
        fprintf(stderr,
                "sllmp upload: cannot open the spool's %s: %s (is sllmp.spool.dir the "
                "gateway's?); nothing to send\n",
                newdir, strerror(errno));
        free(newdir);
        return errno == ENOENT ? summary(&r) : SLLMP_UPLOAD_USAGE;
    }
    free(newdir);
    if (list_new(&r, &l) < 0) {
        fprintf(stderr, "sllmp upload: cannot list %s/new: %s\n", r.dir, strerror(errno));
        close(r.newfd);
        return SLLMP_UPLOAD_USAGE;
    }
    if (!o->dry_run) {
        sllmp_spool_recount(r.dir, l.bytes, (int64_t)l.n);
        sweep_tmp(&r);
    }
    r.todo = (long)l.n;
    if (!o->dry_run && l.n > 0) {
        if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK || http_init(&r) < 0) {
            fprintf(stderr, "sllmp upload: cannot initialise libcurl\n");
            close(r.newfd);
            return SLLMP_UPLOAD_LEFT;
        }
    }
    sllmp_buf_init(&r.body, 0);
    sllmp_buf_init(&r.resp, MAX_RESPONSE);
    sllmp_buf_init(&r.scratch, 0);
    r.recs = sllmp_xcalloc(r.batch_max, sizeof(*r.recs));
    memset(&carry, 0, sizeof(carry));
    carry.fd = -1;

    for (size_t next = 0; r.stop == GO_ON;) {
        if (left_ms(&r) < MIN_REQUEST_MS && !o->dry_run) {
            if (next < l.n || carry.name != NULL) {
                say(&r, "the time budget (--max-time %.0fs) is used up", o->max_time);
                r.stop = STOP_BUDGET;
            }
            break;
        }
        fill_batch(&r, &l, &next, &carry);
        if (r.nrecs == 0) {
            break;
        }
        send_range(&r, 0, r.nrecs);
        settle(&r);
        progress(&r, 0);
    }
    settle(&r);
    if (carry.name != NULL) {
        r.left++;
        rec_free(&carry);
    }
    /* what was never tried stays for the next run */
    for (size_t i = 0; i < l.n; i++) {
        if (l.names[i] != NULL) {
            r.left++;
            free(l.names[i]);
        }
    }
    free(l.names);
    free(r.recs);
    rc = summary(&r);
    if (r.curl != NULL) {
        http_fini(&r);
        curl_global_cleanup();
    }
    sllmp_buf_free(&r.body);
    sllmp_buf_free(&r.resp);
    sllmp_buf_free(&r.scratch);
    if (r.failedfd >= 0) {
        close(r.failedfd);
    }
    close(r.newfd);
    fflush(stdout);
    return rc;
}
