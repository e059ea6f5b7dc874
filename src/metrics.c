/*
 * Prometheus metrics of the whole pool: one shared file, a slot per process, summed by /metrics.
 *
 *   header   magic, version, the layout's sizes, values handed out             4 KiB
 *   slots    slot_t[MET_NSLOTS]: the process counting there, its gauge         16 KiB
 *   series   series_t[MET_NSERIES]: family + label set -> its values' index    1 MiB
 *   values   uint64_t[MET_NSLOTS][MET_NVALUES]: every slot's counters          32 MiB
 *
 * The file is sparse: only the pages of the slots and values in use take memory. Nothing here
 * takes a lock on the way of a request. A series is found by open addressing on a hash of its
 * family and labels; a missing one is claimed with a compare-and-swap on its state, written,
 * then published (S_READY, release), so processes that race for the same one agree on it.
 * Counters are atomic adds into the caller's own slot (no cache line is shared between
 * processes); a process takes its slot at its first count: a slot whose process is dead (a
 * recycled or crashed worker, the last CGI), else a fresh one. The values of a slot are never
 * cleared, so what a dead process counted stays in the sums and its successor counts on from
 * there: counters survive recycling and never go back. Only the gauge of requests in flight
 * belongs to the process, and a dead process's is left out of the sum and cleared on takeover.
 *
 * Costs count in nano-USD and times in microseconds, so that every value is an integer add.
 */
#include "sllmp/metrics.h"
#include "sllmp/conf.h"
#include "sllmp/core.h"
#include "sllmp/error.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"
#include "sllmp/spool.h"
#include "sllmp/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MET_MAGIC   UINT64_C(0x54454d504d4c4c53) /* "SLLMPMET" in the file */
#define MET_VERSION 1
#define MET_NSLOTS  256
#define MET_NSERIES 4096 /* a power of two */
#define MET_NVALUES 16384
#define MET_HDR     4096
#define MET_LABELS  240
#define MET_VALUE   120 /* a label value is cut to this many bytes */

/* A series' state; S_BUSY | pid while that process writes it (taken over should it die). */
enum { S_FREE = 0, S_READY, S_FULL };
#define S_BUSY    0x80000000u
#define S_PID_MAX 0x7fffffff

typedef struct {
    uint32_t state;  /* S_*: set by compare-and-swap, S_READY published with release */
    uint32_t family; /* fam_t */
    uint32_t hash;
    uint32_t base; /* its first value, the same index in every slot */
    char labels[MET_LABELS];
} series_t;

typedef struct {
    int32_t pid;    /* the process counting here; 0 while the slot was never taken */
    uint32_t used;  /* 1 once taken: its values count in the sums from then on */
    uint64_t start; /* the process's start time (/proc/<pid>/stat), against reused pids */
    int64_t active; /* its requests in flight */
    int64_t unused[5];
} slot_t;

typedef struct {
    uint64_t magic;
    uint32_t version; /* stored last by init: 0 while an init is cut short */
    uint32_t hdr_size, slot_size, series_size, nslots, nseries, nvalues;
    uint32_t values_used; /* handed out to series (atomic) */
    uint64_t file_size;
    uint64_t series_dropped; /* counts that found no room for their series (atomic) */
} hdr_t;

#define OFF_SLOTS  ((size_t)MET_HDR)
#define OFF_SERIES (OFF_SLOTS + MET_NSLOTS * sizeof(slot_t))
#define OFF_VALUES (OFF_SERIES + MET_NSERIES * sizeof(series_t))
#define FILE_SIZE  (OFF_VALUES + (size_t)MET_NSLOTS * MET_NVALUES * sizeof(uint64_t))

_Static_assert(sizeof(hdr_t) <= MET_HDR, "the header fits its page");
_Static_assert(sizeof(series_t) == 256 && sizeof(slot_t) == 64, "tables stay aligned");

/* ---- the families ---- */

typedef enum {
    F_REQUESTS,
    F_DURATION,
    F_TTFT,
    F_OVERHEAD,
    F_TOKENS,
    F_COST,
    F_KEY_REQUESTS,
    F_KEY_TOKENS,
    F_KEY_COST,
    F_ERRORS,
    F_REJECTIONS,
    F_RETRIES,
    F_N
} fam_t;

/* histogram bounds, microseconds */
static const int64_t le_request[] = {5000,     10000,    25000,    50000,     100000,
                                     250000,   500000,   1000000,  2500000,   5000000,
                                     10000000, 30000000, 60000000, 120000000, 300000000};
static const int64_t le_overhead[] = {100,   250,   500,   1000,   2500,   5000,
                                      10000, 25000, 50000, 100000, 250000, 1000000};

typedef struct {
    const char *name;
    const char *help;
    int histogram;
    int nano; /* a counter of nano-USD, shown in USD */
    const int64_t *le;
    int nle;
} family_t;

#define MET_NLE_REQUEST ((int)(sizeof(le_request) / sizeof(le_request[0])))
#define HIST(le)        1, 0, le, (int)(sizeof(le) / sizeof(le[0]))

static const family_t families[F_N] = {
    [F_REQUESTS] = {"sllmp_requests_total",
                    "Model requests finished, by the model asked for, the provider that answered "
                    "and the HTTP status (499: the client left).",
                    0, 0, NULL, 0},
    [F_DURATION] = {"sllmp_request_duration_seconds",
                    "Model requests from arrival to the end of the response.", HIST(le_request)},
    [F_TTFT] = {"sllmp_time_to_first_token_seconds",
                "From a request's arrival to the first token of its answer.", HIST(le_request)},
    [F_OVERHEAD] = {"sllmp_overhead_seconds",
                    "A request's time in the gateway: its duration less the time spent waiting on "
                    "upstreams, between retries and on a slow client.",
                    HIST(le_overhead)},
    [F_TOKENS] = {"sllmp_tokens_total", "Tokens by the model that answered and usage bucket.", 0, 0,
                  NULL, 0},
    [F_COST] = {"sllmp_cost_usd_total", "Cost in USD by the model that answered.", 0, 1, NULL, 0},
    [F_KEY_REQUESTS] = {"sllmp_key_requests_total",
                        "Model requests by virtual key name (master: the master key; none: no "
                        "key) and HTTP status.",
                        0, 0, NULL, 0},
    [F_KEY_TOKENS] = {"sllmp_key_tokens_total", "Tokens by virtual key name and usage bucket.", 0,
                      0, NULL, 0},
    [F_KEY_COST] = {"sllmp_key_cost_usd_total", "Cost in USD by virtual key name.", 0, 1, NULL, 0},
    [F_ERRORS] = {"sllmp_errors_total", "Failed model requests by error type.", 0, 0, NULL, 0},
    [F_REJECTIONS] = {"sllmp_limit_rejections_total",
                      "Requests refused by a limit of the gateway, by kind.", 0, 0, NULL, 0},
    [F_RETRIES] = {"sllmp_upstream_retries_total",
                   "Upstream attempts beyond each request's first (retries and fallbacks).", 0, 0,
                   NULL, 0},
};

static uint32_t
family_values(fam_t f)
{
    return families[f].histogram ? (uint32_t)families[f].nle + 2 : 1; /* buckets, count, sum */
}

/* ---- the segment ---- */

typedef struct seg {
    struct seg *next;
    dev_t dev;
    ino_t ino;
    void *base;
    hdr_t *hdr;
    slot_t *slots;
    series_t *series;
    uint64_t *values;
    int fd;   /* kept open to allocate the pages of a slot before they are touched */
    int slot; /* this process's; -1 until its first count (and after a fork), -2: none */
} seg_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static seg_t *registry;

static void
registry_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
}

static void
registry_parent(void)
{
    pthread_mutex_unlock(&registry_lock);
}

/* A forked worker is another process: it takes a slot of its own at its first count. */
static void
registry_child(void)
{
    for (seg_t *s = registry; s != NULL; s = s->next) {
        s->slot = -1;
    }
    pthread_mutex_unlock(&registry_lock);
}

static void
registry_init(void)
{
    pthread_atfork(registry_prepare, registry_parent, registry_child);
}

static int
header_ok(const hdr_t *h, uint64_t size)
{
    return h->magic == MET_MAGIC && h->version == MET_VERSION && h->hdr_size == sizeof(hdr_t) &&
           h->slot_size == sizeof(slot_t) && h->series_size == sizeof(series_t) &&
           h->nslots == MET_NSLOTS && h->nseries == MET_NSERIES && h->nvalues == MET_NVALUES &&
           h->file_size == FILE_SIZE && size == FILE_SIZE;
}

static void
header_init(hdr_t *h)
{
    memset(h, 0, sizeof(*h));
    h->magic = MET_MAGIC;
    h->hdr_size = sizeof(hdr_t);
    h->slot_size = sizeof(slot_t);
    h->series_size = sizeof(series_t);
    h->nslots = MET_NSLOTS;
    h->nseries = MET_NSERIES;
    h->nvalues = MET_NVALUES;
    h->file_size = FILE_SIZE;
    __atomic_store_n(&h->version, MET_VERSION, __ATOMIC_RELEASE);
}

/*
 * An empty file in place of one of another version or layout, which processes of the old
 * version may still map: they keep theirs (never truncated under them), new ones set this one
 * up as any new file.
 */
static int
replace_file(const char *path, char *err, size_t errlen)
{
    char tmp[4200];
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.%d.new", path, (int)getpid());
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        if (rename(tmp, path) == 0) {
            return 0;
        }
    }
    snprintf(err, errlen, "%s: %s", fd < 0 ? tmp : path, strerror(errno));
    unlink(tmp);
    return -1;
}

/*
 * Opens and maps the file, under flock so that two processes creating it at once agree. Empty
 * (or an init cut short): initialised; ours of another version: replaced; not ours: refused.
 */
static seg_t *
seg_map(const char *path, char *err, size_t errlen)
{
    for (int round = 0; round < 4; round++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        struct stat st, now;
        hdr_t h;
        ssize_t got = 0;
        void *base;
        seg_t *s;

        memset(&h, 0, sizeof(h));
        if (fd < 0 || flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0 ||
            (st.st_size > 0 && (got = pread(fd, &h, sizeof(h), 0)) < 0)) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return NULL;
        }
        if (stat(path, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
            close(fd); /* replaced while we waited for the lock: the new one it is */
            continue;
        }
        if (!header_ok(&h, (uint64_t)st.st_size)) {
            int rc;

            if (got >= (ssize_t)sizeof(h.magic) && h.magic != MET_MAGIC && h.magic != 0) {
                snprintf(err, errlen,
                         "%s is not an sllmp metrics file; remove it or set sllmp.metrics.file",
                         path);
                close(fd);
                return NULL;
            }
            if (h.magic == MET_MAGIC && h.version != 0) {
                rc = round < 3 ? replace_file(path, err, errlen) : -1;
            } else {
                /* new, or an init cut short: nothing but zeros after the header. The tables'
                 * pages get their disk now: a page of a shared mapping the disk has no room
                 * for would kill the process that touches it (SIGBUS) */
                header_init(&h);
                rc = ftruncate(fd, (off_t)FILE_SIZE) == 0 &&
                             (errno = posix_fallocate(fd, 0, (off_t)OFF_VALUES)) == 0 &&
                             pwrite(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h)
                         ? 0
                         : -1;
                if (rc < 0) {
                    snprintf(err, errlen, "%s: %s", path, strerror(errno));
                }
            }
            close(fd); /* and round again, to map what is there now */
            if (rc < 0) {
                return NULL;
            }
            continue;
        }
        base = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        /* explicitly: the mapping keeps the open file, and with it the lock, after close */
        flock(fd, LOCK_UN);
        if (base == MAP_FAILED) {
            snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
        s = sllmp_xcalloc(1, sizeof(*s));
        s->dev = st.st_dev;
        s->ino = st.st_ino;
        s->base = base;
        s->hdr = base;
        s->slots = (slot_t *)((char *)base + OFF_SLOTS);
        s->series = (series_t *)((char *)base + OFF_SERIES);
        s->values = (uint64_t *)((char *)base + OFF_VALUES);
        s->fd = fd;
        s->slot = -1;
        return s;
    }
    snprintf(err, errlen, "%s: changed while being set up", path);
    return NULL;
}

/* The segment of c, mapped at its first use and kept for the life of the process. */
static seg_t *
seg_get(const sllmp_conf_t *c)
{
    sllmp_conf_t *mc = (sllmp_conf_t *)(uintptr_t)c; /* the cache field only */
    seg_t *s = __atomic_load_n(&mc->metrics_seg, __ATOMIC_ACQUIRE);
    char path[4096], err[4400] = "";
    struct stat st;
    static _Thread_local int64_t failed, warned;
    int64_t now;

    if (s != NULL || !c->metrics_enabled) {
        return s;
    }
    now = sllmp_now_ms();
    if (failed != 0 && now - failed < 1000) {
        return NULL; /* a file that would not open is tried again a second later */
    }
    pthread_once(&registry_once, registry_init);
    sllmp_rundir_file(c->metrics_file, "metrics.db", path, sizeof(path));
    pthread_mutex_lock(&registry_lock);
    if (stat(path, &st) == 0) {
        for (s = registry; s != NULL; s = s->next) {
            if (s->dev == st.st_dev && s->ino == st.st_ino) {
                break;
            }
        }
    }
    if (s == NULL && (s = seg_map(path, err, sizeof(err))) != NULL) {
        s->next = registry;
        registry = s;
    }
    pthread_mutex_unlock(&registry_lock);
    if (s == NULL) {
        failed = now;
        if (warned == 0 || now - warned > 60000) {
            warned = now;
            sllmp_log(NULL, SLLMP_LOG_WARN, "metrics are not counted: %s", err);
        }
        return NULL;
    }
    __atomic_store_n(&mc->metrics_seg, s, __ATOMIC_RELEASE);
    return s;
}

/* ---- slots ---- */

/*
 * A process's start time in clock ticks after boot, 0 when /proc cannot tell; *dead set for a
 * zombie (a worker that died and is not reaped yet holds no requests).
 */
static uint64_t
proc_start(pid_t pid, int *dead)
{
    char path[64], buf[1024];
    ssize_t n;
    int fd;
    const char *p;
    unsigned long long v = 0;

    *dead = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    if (p != NULL && p[1] == ' ') {
        *dead = p[2] == 'Z' || p[2] == 'X'; /* field 3, the state */
    }
    /* starttime is field 22 */
    for (int field = 2; p != NULL && field < 22; field++) {
        p = strchr(p + 1, ' ');
    }
    if (p == NULL || sscanf(p + 1, "%llu", &v) != 1) {
        return 0;
    }
    return v;
}

/*
 * The slot's process is alive (a pid reused by another process does not count). A negative pid
 * is a process taking the slot over, which has not written its start time yet.
 */
static int
slot_alive(const slot_t *sl)
{
    int32_t pid = __atomic_load_n(&sl->pid, __ATOMIC_ACQUIRE);
    uint64_t start;
    int dead;

    if (pid == 0 || (kill(pid < 0 ? -pid : pid, 0) < 0 && errno == ESRCH)) {
        return 0;
    }
    if (pid < 0) {
        return 1;
    }
    start = proc_start(pid, &dead);
    if (dead) {
        return 0;
    }
    return start == 0 || sl->start == 0 || start == __atomic_load_n(&sl->start, __ATOMIC_ACQUIRE);
}

/* Takes slot i from the process `was` (0: a slot never used): its pid is -me while its start
 * time is written, so that nobody takes it for the dead process's meanwhile. */
static int
slot_take(seg_t *s, int i, int32_t was, int32_t me, uint64_t start)
{
    slot_t *sl = &s->slots[i];

    if (!__atomic_compare_exchange_n(&sl->pid, &was, -me, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        return 0;
    }
    __atomic_store_n(&sl->start, start, __ATOMIC_RELEASE);
    __atomic_store_n(&sl->active, 0, __ATOMIC_RELAXED); /* what the dead one held is not ours */
    __atomic_store_n(&sl->used, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&sl->pid, me, __ATOMIC_RELEASE);
    return 1;
}

/* This process's slot: a dead process's first (keeping the used slots few), else a new one. */
static int
slot_claim(seg_t *s)
{
    int32_t me = (int32_t)getpid();
    int dead;
    uint64_t start = proc_start(me, &dead);

    for (int i = 0; i < MET_NSLOTS; i++) {
        const slot_t *sl = &s->slots[i];
        int32_t pid = __atomic_load_n(&sl->pid, __ATOMIC_ACQUIRE);

        if (pid == me) {
            uint64_t was = __atomic_load_n(&sl->start, __ATOMIC_ACQUIRE);

            /* ours from an earlier mapping, or a dead process's with our (reused) pid */
            if (was == start || was == 0 || start == 0 || slot_take(s, i, me, me, start)) {
                return i;
            }
            continue;
        }
        if (pid != 0 && !slot_alive(&s->slots[i]) && slot_take(s, i, pid, me, start)) {
            return i;
        }
    }
    for (int i = 0; i < MET_NSLOTS; i++) {
        if (slot_take(s, i, 0, me, start)) {
            return i;
        }
    }
    /* every slot has a live process: share one, the adds are atomic */
    return (int)(me % MET_NSLOTS);
}

/* This process's values, NULL when it has no slot (the disk had no room for one). */
static uint64_t *
my_values(seg_t *s, int *slot)
{
    int i = __atomic_load_n(&s->slot, __ATOMIC_ACQUIRE);

    if (i == -1) {
        pthread_mutex_lock(&registry_lock);
        if ((i = s->slot) == -1) {
            const off_t len = (off_t)MET_NVALUES * (off_t)sizeof(uint64_t);
            int rc;

            i = slot_claim(s);
            /* its pages get their disk before they are touched (see seg_map) */
            rc = posix_fallocate(s->fd, (off_t)OFF_VALUES + (off_t)i * len, len);
            if (rc != 0) {
                sllmp_log(NULL, SLLMP_LOG_WARN, "metrics are not counted by this process: %s",
                          strerror(rc));
                i = -2;
            }
            __atomic_store_n(&s->slot, i, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&registry_lock);
    }
    if (slot != NULL) {
        *slot = i;
    }
    return i < 0 ? NULL : s->values + (size_t)i * MET_NVALUES;
}

/* ---- series ---- */

static uint32_t
series_hash(fam_t f, const char *labels)
{
    return sllmp_fnv1a((uint32_t)f, labels);
}

/* Writes a series claimed with S_BUSY and publishes it: its first value, or UINT32_MAX. */
static uint32_t
series_write(seg_t *s, series_t *se, fam_t f, uint32_t h, const char *labels)
{
    uint32_t n = family_values(f), base, st;

    base = __atomic_fetch_add(&s->hdr->values_used, n, __ATOMIC_RELAXED);
    se->family = (uint32_t)f;
    se->hash = h;
    se->base = base;
    snprintf(se->labels, sizeof(se->labels), "%s", labels);
    /* out of values: the entry stays, so that the series is not tried again */
    st = base + n <= MET_NVALUES ? S_READY : S_FULL;
    __atomic_store_n(&se->state, st, __ATOMIC_RELEASE);
    return st == S_READY ? base : UINT32_MAX;
}

/*
 * The index of the series' first value, created when new; UINT32_MAX when there is no room, or
 * when another process has been writing the entry for too long (that count is dropped rather
 * than a second entry of the same series made). An entry whose writer died is taken over.
 */
static uint32_t
series_find(seg_t *s, fam_t f, const char *labels)
{
    uint32_t h = series_hash(f, labels), i = h & (MET_NSERIES - 1);
    uint32_t busy_me = 0, at = UINT32_MAX;

    for (uint32_t probes = 0; probes < MET_NSERIES; probes++, i = (i + 1) & (MET_NSERIES - 1)) {
        series_t *se = &s->series[i];
        uint32_t st = __atomic_load_n(&se->state, __ATOMIC_ACQUIRE);

        if (st == S_FREE || (st & S_BUSY)) {
            busy_me = S_BUSY | ((uint32_t)getpid() & S_PID_MAX); /* only on the rare paths */
        }
        if (st == S_FREE) {
            if (__atomic_compare_exchange_n(&se->state, &st, busy_me, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                at = series_write(s, se, f, h, labels);
                break;
            }
        }
        /* another process is writing it, for microseconds: wait for it, a while at most */
        for (int spin = 0; (st & S_BUSY) && spin < 2000; spin++) {
            pid_t writer = (pid_t)(st & S_PID_MAX);

            if (kill(writer, 0) < 0 && errno == ESRCH) {
                if (__atomic_compare_exchange_n(&se->state, &st, busy_me, 0, __ATOMIC_ACQ_REL,
                                                __ATOMIC_ACQUIRE)) {
                    st = S_FREE; /* it died halfway: ours to write */
                    break;
                }
                continue;
            }
            sched_yield();
            st = __atomic_load_n(&se->state, __ATOMIC_ACQUIRE);
        }
        if (st == S_FREE) {
            at = series_write(s, se, f, h, labels); /* taken over from a dead writer */
            break;
        }
        if (st & S_BUSY) {
            break;
        }
        if (se->hash == h && se->family == (uint32_t)f && strcmp(se->labels, labels) == 0) {
            at = st == S_READY ? se->base : UINT32_MAX;
            break;
        }
    }
    if (at == UINT32_MAX) {
        __atomic_fetch_add(&s->hdr->series_dropped, 1, __ATOMIC_RELAXED);
    }
    return at;
}

static void
count(seg_t *s, fam_t f, const char *labels, uint64_t n)
{
    uint64_t *v = n > 0 ? my_values(s, NULL) : NULL;
    uint32_t at;

    if (v == NULL || (at = series_find(s, f, labels)) == UINT32_MAX) {
        return;
    }
    __atomic_fetch_add(&v[at], n, __ATOMIC_RELAXED);
}

/*
 * Buckets, then count and sum. The count is added before the bucket (release), and a reader
 * reads the buckets (acquire) before the count: +Inf is never below the last bucket.
 */
static void
observe(seg_t *s, fam_t f, const char *labels, int64_t us)
{
    const family_t *fm = &families[f];
    uint64_t *v = my_values(s, NULL);
    uint32_t at = v != NULL ? series_find(s, f, labels) : UINT32_MAX;
    int b = 0;

    if (at == UINT32_MAX) {
        return;
    }
    v += at;
    if (us < 0) {
        us = 0;
    }
    while (b < fm->nle && us > fm->le[b]) {
        b++;
    }
    __atomic_fetch_add(&v[fm->nle], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&v[fm->nle + 1], (uint64_t)us, __ATOMIC_RELAXED);
    if (b < fm->nle) {
        __atomic_fetch_add(&v[b], 1, __ATOMIC_RELEASE);
    }
}

/* ---- labels ---- */

typedef struct {
    char s[MET_LABELS];
    size_t len;
} labels_t;

/*
 * Appends name="value", escaped as the text format wants and cut to MET_VALUE bytes at a
 * character boundary (a cut UTF-8 sequence would fail the whole scrape). A label that does not
 * fit is left out whole.
 */
static void
label(labels_t *l, const char *name, const char *value)
{
    char v[2 * MET_VALUE + 1];
    size_t n = 0, in = strlen(value);
    int w;

    if (in > MET_VALUE) {
        in = sllmp_utf8_floor(value, MET_VALUE);
    }
    for (size_t i = 0; i < in; i++) {
        char ch = value[i];

        if (ch == '\\' || ch == '"') {
            v[n++] = '\\';
            v[n++] = ch;
        } else if (ch == '\n') {
            v[n++] = '\\';
            v[n++] = 'n';
        } else if ((unsigned char)ch >= 0x20) {
            v[n++] = ch;
        }
    }
    v[n] = '\0';
    w = snprintf(l->s + l->len, sizeof(l->s) - l->len, "%s%s=\"%s\"", l->len ? "," : "", name, v);
    if (w < 0 || (size_t)w >= sizeof(l->s) - l->len) {
        l->s[l->len] = '\0';
        return;
    }
    l->len += (size_t)w;
}

static const char *
labels1(labels_t *l, const char *n1, const char *v1)
{
    l->len = 0;
    l->s[0] = '\0';
    label(l, n1, v1);
    return l->s;
}

static const char *
labels2(labels_t *l, const char *n1, const char *v1, const char *n2, const char *v2)
{
    labels1(l, n1, v1);
    label(l, n2, v2);
    return l->s;
}

/* ---- counting a request ---- */

static const char *const token_types[5] = {"input", "cache_read", "cache_write", "output",
                                           "reasoning"};
static const char *const limit_kinds[SLLMP_LIM_NKINDS] = {"rpm", "tpm", "parallel", "budget"};

/* The model as configured (never a name a client made up: labels stay few; a wildcard
 * pattern's models are counted under the pattern), else "none". */
static const char *
model_label(const sllmp_req_t *r)
{
    const sllmp_deployment_t *d = r->group ? sllmp_conf_serving(r->conf, r->group) : NULL;

    return d != NULL ? d->model_name : "none";
}

static const char *
key_label(const sllmp_req_t *r)
{
    const char *name = sllmp_auth_key_name(r);

    return name != NULL ? name : "none";
}

void
sllmp_metrics_request_begin(sllmp_req_t *r)
{
    seg_t *s = seg_get(r->conf);
    int slot;

    if (s != NULL && my_values(s, &slot) != NULL) {
        __atomic_fetch_add(&s->slots[slot].active, 1, __ATOMIC_RELAXED);
        r->metrics_slot = slot + 1;
    }
}

void
sllmp_metrics_request_end(sllmp_req_t *r)
{
    seg_t *s = seg_get(r->conf);
    labels_t l;
    char status[16], err[64];
    const char *model = model_label(r), *key = key_label(r);
    const char *answered = r->dep ? r->dep->model_name : model;
    long tokens[5] = {r->usage.input, r->usage.cache_read, r->usage.cache_write, r->usage.output,
                      r->usage.reasoning};
    uint64_t nano = r->cost_usd > 0 ? (uint64_t)llround(r->cost_usd * 1e9) : 0;

    if (s == NULL) {
        return;
    }
    sllmp_req_mark_end(r);
    snprintf(status, sizeof(status), "%d", r->client_gone ? 499 : r->status ? r->status : 500);
    labels2(&l, "model", model, "provider", r->dep ? r->dep->provider_name : "none");
    label(&l, "status", status);
    count(s, F_REQUESTS, l.s, 1);
    count(s, F_KEY_REQUESTS, labels2(&l, "key", key, "status", status), 1);
    observe(s, F_DURATION, labels1(&l, "model", model), r->end_us - r->start_us);
    if (r->first_token_ms > 0) {
        observe(s, F_TTFT, labels1(&l, "model", model), (r->first_token_ms - r->start_ms) * 1000);
    }
    observe(s, F_OVERHEAD, "", sllmp_req_overhead_us(r));
    for (int i = 0; i < 5; i++) {
        if (tokens[i] > 0) {
            count(s, F_TOKENS, labels2(&l, "model", answered, "type", token_types[i]),
                  (uint64_t)tokens[i]);
            count(s, F_KEY_TOKENS, labels2(&l, "key", key, "type", token_types[i]),
                  (uint64_t)tokens[i]);
        }
    }
    count(s, F_COST, labels1(&l, "model", answered), nano);
    count(s, F_KEY_COST, labels1(&l, "key", key), nano);
    if (r->err != SLLMP_OK || r->client_gone) {
        const char *name = r->err != SLLMP_OK ? sllmp_err_info(r->err)->name + 10 : "CLIENT_GONE";
        size_t i = 0;

        for (; name[i] && i < sizeof(err) - 1; i++) {
            err[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
        }
        err[i] = '\0';
        count(s, F_ERRORS, labels1(&l, "type", err), 1);
    }
    if (r->limit_refused > 0 && r->limit_refused <= SLLMP_LIM_NKINDS) {
        count(s, F_REJECTIONS, labels1(&l, "kind", limit_kinds[r->limit_refused - 1]), 1);
    }
    if (r->nattempts > 1) {
        count(s, F_RETRIES, "", (uint64_t)(r->nattempts - 1));
    }
    if (r->metrics_slot > 0) {
        __atomic_fetch_sub(&s->slots[r->metrics_slot - 1].active, 1, __ATOMIC_RELAXED);
        r->metrics_slot = 0;
    }
}

/* ---- the exposition ---- */

/* An integer of millionths or billionths as a decimal: 1500000 (micro) -> "1.5". */
static const char *
fixed(char *n, size_t len, uint64_t v, uint64_t unit, int digits)
{
    int w = snprintf(n, len, "%llu.%0*llu", (unsigned long long)(v / unit), digits,
                     (unsigned long long)(v % unit));

    while (w > 0 && n[w - 1] == '0') {
        n[--w] = '\0';
    }
    if (w > 0 && n[w - 1] == '.') {
        n[--w] = '\0';
    }
    return n;
}

static void
print_head(sllmp_buf_t *b, const char *name, const char *help, const char *type)
{
    sllmp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{labels[,extra]} value-to-come */
static void
print_name(sllmp_buf_t *b, const char *name, const char *suffix, const char *labels,
           const char *extra)
{
    sllmp_buf_appends(b, name);
    sllmp_buf_appends(b, suffix);
    if (*labels || extra != NULL) {
        sllmp_buf_printf(b, "{%s%s%s}", labels, *labels && extra ? "," : "", extra ? extra : "");
    }
    sllmp_buf_append(b, " ", 1);
}

/* The sum over every slot ever used of the value at index at. */
static uint64_t
sum(const seg_t *s, const int *used, int nused, uint32_t at)
{
    uint64_t v = 0;

    for (int i = 0; i < nused; i++) {
        v += __atomic_load_n(&s->values[(size_t)used[i] * MET_NVALUES + at], __ATOMIC_ACQUIRE);
    }
    return v;
}

static void
print_series(sllmp_buf_t *b, const seg_t *s, const int *used, int nused, const series_t *se)
{
    const family_t *fm = &families[se->family];
    uint64_t cum = 0, n;
    char num[48], le[64];

    if (!fm->histogram) {
        print_name(b, fm->name, "", se->labels, NULL);
        n = sum(s, used, nused, se->base);
        if (fm->nano) {
            sllmp_buf_printf(b, "%s\n", fixed(num, sizeof(num), n, 1000000000, 9));
        } else {
            sllmp_buf_printf(b, "%llu\n", (unsigned long long)n);
        }
        return;
    }
    for (int i = 0; i < fm->nle; i++) {
        cum += sum(s, used, nused, se->base + (uint32_t)i);
        snprintf(le, sizeof(le), "le=\"%s\"",
                 fixed(num, sizeof(num), (uint64_t)fm->le[i], 1000000, 6));
        print_name(b, fm->name, "_bucket", se->labels, le);
        sllmp_buf_printf(b, "%llu\n", (unsigned long long)cum);
    }
    n = sum(s, used, nused, se->base + (uint32_t)fm->nle);
    n = n > cum ? n : cum;
    print_name(b, fm->name, "_bucket", se->labels, "le=\"+Inf\"");
    sllmp_buf_printf(b, "%llu\n", (unsigned long long)n);
    print_name(b, fm->name, "_sum", se->labels, NULL);
    sllmp_buf_printf(
        b, "%s\n",
        fixed(num, sizeof(num), sum(s, used, nused, se->base + (uint32_t)fm->nle + 1), 1000000, 6));
    print_name(b, fm->name, "_count", se->labels, NULL);
    sllmp_buf_printf(b, "%llu\n", (unsigned long long)n);
}

static const seg_t *sort_seg;

static int
series_cmp(const void *a, const void *b)
{
    const series_t *x = &sort_seg->series[*(const uint32_t *)a];
    const series_t *y = &sort_seg->series[*(const uint32_t *)b];

    if (x->family != y->family) {
        return x->family < y->family ? -1 : 1;
    }
    return strcmp(x->labels, y->labels);
}

static void
print_gauge(sllmp_buf_t *b, const char *name, const char *help, int64_t v)
{
    print_head(b, name, help, "gauge");
    sllmp_buf_printf(b, "%s %lld\n", name, (long long)v);
}

int
sllmp_metrics_render(const sllmp_conf_t *c, sllmp_buf_t *out)
{
    static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
    seg_t *s = seg_get(c);
    uint32_t *idx, n = 0;
    int used[MET_NSLOTS], nused = 0, live = 0;
    int64_t active = 0;
    sllmp_spool_stats_t sp;

    if (s == NULL) {
        return -1;
    }
    for (int i = 0; i < MET_NSLOTS; i++) {
        const slot_t *sl = &s->slots[i];

        if (__atomic_load_n(&sl->used, __ATOMIC_ACQUIRE)) {
            used[nused++] = i;
            if (slot_alive(sl)) {
                int64_t a = __atomic_load_n(&sl->active, __ATOMIC_RELAXED);

                live++;
                active += a > 0 ? a : 0;
            }
        }
    }
    idx = sllmp_xmalloc(MET_NSERIES * sizeof(*idx));
    for (uint32_t i = 0; i < MET_NSERIES; i++) {
        if (__atomic_load_n(&s->series[i].state, __ATOMIC_ACQUIRE) == S_READY &&
            s->series[i].family < F_N) {
            idx[n++] = i;
        }
    }
    pthread_mutex_lock(&sort_lock);
    sort_seg = s;
    qsort(idx, n, sizeof(*idx), series_cmp);
    pthread_mutex_unlock(&sort_lock);

    for (uint32_t f = 0, i = 0; f < F_N; f++) {
        const family_t *fm = &families[f];
        int any = 0;

        print_head(out, fm->name, fm->help, fm->histogram ? "histogram" : "counter");
        for (; i < n && s->series[idx[i]].family == f; i++) {
            print_series(out, s, used, nused, &s->series[idx[i]]);
            any = 1;
        }
        if (!any && f == F_RETRIES) {
            sllmp_buf_printf(out, "%s 0\n", fm->name); /* no labels: zero until the first */
        }
    }
    free(idx);
    print_gauge(out, "sllmp_active_requests", "Model requests in flight in the pool.", active);
    print_gauge(out, "sllmp_processes",
                "Live processes of the pool that have counted (served a request).", live);
    if (sllmp_spool_stats(c->spool_dir, &sp) < 0) {
        memset(&sp, 0, sizeof(sp));
    }
    print_gauge(out, "sllmp_spool_records", "Trace records waiting in the spool for sllmp upload.",
                sp.records > 0 ? sp.records : 0);
    print_head(out, "sllmp_spool_dropped_total",
               "Trace records not written: the spool's quota was full or the disk refused.",
               "counter");
    sllmp_buf_printf(out, "sllmp_spool_dropped_total %lld\n", (long long)sp.dropped);
    print_head(out, "sllmp_metrics_series_dropped_total",
               "Counts lost because the metrics file had no room for another series.", "counter");
    sllmp_buf_printf(
        out, "sllmp_metrics_series_dropped_total %llu\n",
        (unsigned long long)__atomic_load_n(&s->hdr->series_dropped, __ATOMIC_RELAXED));
    print_head(out, "sllmp_build_info", "The running version of sllmp.", "gauge");
    sllmp_buf_printf(out, "sllmp_build_info{version=\"%s\"} 1\n", SLLMP_VERSION);
    return 0;
}

/* ---- GET /metrics ---- */

/* The Bearer token of sllmp.metrics.token (as Authorization or Apache's rewritten
 * REDIRECT_HTTP_AUTHORIZATION, like an API key), compared in constant time. */
static int
token_ok(sllmp_req_t *r)
{
    const char *t = r->conf->metrics_token;
    const char *got = sllmp_auth_presented_key(r);

    return t != NULL && got != NULL && sllmp_ct_equal(got, strlen(got), t, strlen(t));
}

/* A request a proxy passed on: its REMOTE_ADDR is the proxy's (loopback for one on the same
 * host), not the client's, so the address says nothing of who asks. */
static int
proxied(sllmp_req_t *r)
{
    return sllmp_req_param(r, "HTTP_X_FORWARDED_FOR") != NULL ||
           sllmp_req_param(r, "HTTP_FORWARDED") != NULL ||
           sllmp_req_param(r, "HTTP_X_REAL_IP") != NULL;
}

void
sllmp_metrics_endpoint(sllmp_req_t *r)
{
    const sllmp_conf_t *c = r->conf;
    const char *addr = sllmp_req_param(r, "REMOTE_ADDR");
    sllmp_buf_t b;

    if (!c->metrics_enabled) {
        sllmp_req_fail(r, SLLMP_ERR_NOT_FOUND, NULL,
                       "Metrics are off here (sllmp.metrics.enabled is false).");
        sllmp_resp_error(r);
        return;
    }
    if (!token_ok(r) &&
        (proxied(r) || !sllmp_cidr_match(c->metrics_allow, c->nmetrics_allow, addr))) {
        if (c->metrics_token != NULL) {
            sllmp_resp_header(r, "WWW-Authenticate", "Bearer realm=\"sllmp metrics\"");
            sllmp_req_fail(r, SLLMP_ERR_AUTH, NULL,
                           "GET /metrics needs the Bearer token of sllmp.metrics.token from "
                           "an address outside sllmp.metrics.allow.");
        } else {
            sllmp_req_fail(r, SLLMP_ERR_PERMISSION, NULL,
                           "GET /metrics is not served to %.64s: see sllmp.metrics.allow.",
                           addr ? addr : "an unknown address");
        }
        sllmp_resp_error(r);
        return;
    }
    sllmp_buf_init(&b, 0);
    if (sllmp_metrics_render(c, &b) < 0) {
        sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL,
                       "The metrics file cannot be opened (see the log and sllmp.metrics.file).");
        sllmp_resp_error(r);
    } else {
        sllmp_resp_header(r, "Cache-Control", "no-store");
        sllmp_resp_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.ptr, b.len);
    }
    sllmp_buf_free(&b);
}
