/*
 * The local limit store: one memory-mapped file (MAP_SHARED) for every process of the host, its
 * state changed under one process-shared robust mutex that lives in the file. The tables have a
 * fixed size, so nothing in the shared area is ever allocated:
 *
 *   header    magic, version, the layout's sizes, the boot, the mutex, allocation   4 KiB
 *   slots     uint32_t[LOCAL_NSLOTS]: open addressing by hash of the id          512 KiB
 *   subjects  subj_t[LOCAL_NSUBJECTS]: counters, list heads, the spend report    17 MiB
 *   entries   ent_t[LOCAL_NENTRIES]: rpm log, tpm log and lease entries          64 MiB
 *
 * Every reference is an index + 1, so 0 means none and a file of zeros (what ftruncate gives)
 * is an empty store. Subjects and entries are handed out from a high-water mark first and a
 * free list after, so the pages of a fresh file stay untouched until needed: the file is sparse,
 * and only what has been used takes disk or memory.
 *
 * Each subject has three FIFO lists of entries, doubly linked so that settle and cancel unlink
 * from the middle: the rpm log and the tpm log (appended at now, dropped from the head once out
 * of the window) and the leases (renewable, so expired by scanning; their number is bounded by
 * the requests in flight). A lease keeps the references of its request's rpm and tpm entries,
 * checked against the entry's owner and reservation id before use since those entries may have
 * left the window and been reused.
 *
 * A deployment's routing state is a subject too ("route:<name>"): its attempts in flight are
 * leases of amount 0 on its lease list, and the moving averages, the failure count and the
 * cooldown are fields of its subj_t. The sweep keeps it while a cooldown runs or failures are
 * counted in their window, and its averages for LOCAL_ROUTE_MS after its last attempt
 * (less when subjects are short: see gc).
 *
 * The file outlives processes and boots. A file that is not ours is never written; ours of
 * another version or layout is initialised again in place, grown and never shrunk, as other
 * processes may still map it; after a reboot the first open resets the lock (see boot_check).
 */
#include "sllmp/limits.h"
#include "sllmp/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCAL_MAGIC     UINT64_C(0x4d494c504d4c4c53) /* "SLLMPLIM" in the file */
#define LOCAL_VERSION   3
#define LOCAL_NSUBJECTS 65536
#define LOCAL_NSLOTS    (2 * LOCAL_NSUBJECTS) /* at most half full: short probes, always a hole */
#define LOCAL_NENTRIES  1048576
#define LOCAL_HDR_SIZE  4096
#define LOCAL_GC_MS     1000 /* a full sweep when a table is full, at most this often */
#define LOCAL_LOCK_MS   1000 /* the lock is held for microseconds: longer means a stopped holder */
#define LOCAL_ROUTE_MS  86400000 /* a route's averages outlive its last attempt by this */

enum { L_RPM, L_TPM, L_LEASE, L_N };

/* subj_t.flags: its last reserve or settle had a budget; a route's averages are set */
enum { S_BUDGET = 1, S_LAT = 2, S_TTFT = 4 };

typedef struct {
    uint32_t next, prev; /* in the subject's list (next also in the free list) */
    uint32_t owner;      /* the subject, 0 when free */
    uint32_t list;       /* L_RPM, L_TPM or L_LEASE */
    uint32_t seen;       /* the repair pass that last reached it */
    uint32_t rpm_ref;    /* a lease: its request's rpm entry (a hint, checked before use) */
    uint32_t tpm_ref;    /* a lease: its request's tpm entry (likewise) */
    uint32_t unused;
    int64_t t;         /* rpm, tpm: when recorded; lease: when it expires (ms) */
    int64_t amount;    /* tpm: tokens; lease: the cost it holds (nano-USD) */
    uint64_t resid[2]; /* the reservation, 128 bits */
} ent_t;

typedef struct {
    char id[SLLMP_SUBJECT_MAX]; /* "" when free */
    uint32_t hash;
    uint32_t head[L_N], tail[L_N], count[L_N];
    uint32_t next_free;
    uint32_t flags;        /* S_BUDGET */
    int64_t tpm_total;     /* sum of the tpm entries */
    int64_t reserved_nano; /* sum of the leases */
    int64_t lease_min;     /* no lease expires before this, so most calls skip the scan */
    int64_t win_start, win_period;
    int64_t spent_nano, requests, tokens_in, tokens_out;
    /* a route (see the route_* calls); the times are ms, 0 when unset */
    int64_t route_ms;          /* its last begin or end */
    int64_t lat_ms, ttft_ms;   /* the moving averages, when S_LAT and S_TTFT say so */
    int64_t fail_start, fails; /* the failure window's start and its count */
    int64_t cool_until;        /* the end of its cooldown */
} subj_t;

/*
 * magic and version keep their offsets in every version, so that any version tells its own
 * files from others. version is stored last by init and is 0 before: a file whose init was cut
 * short is ours of another version, initialised again.
 */
typedef struct {
    uint64_t magic;
    uint32_t version;
    uint32_t hdr_size, subj_size, ent_size, nslots, nsubjects, nentries;
    uint64_t file_size;
    char boot_id[40]; /* of the boot that last opened the file; "" when unknown */
    pthread_mutex_t lock;
    uint32_t subj_hw, subj_free, subj_live;
    uint32_t ent_hw, ent_free, ent_nfree;
    uint32_t epoch; /* of repair passes */
    int64_t gc_ms;
} hdr_t;

#define OFF_SLOTS ((size_t)LOCAL_HDR_SIZE)
#define OFF_SUBJ  (OFF_SLOTS + LOCAL_NSLOTS * sizeof(uint32_t))
#define OFF_ENT   (OFF_SUBJ + LOCAL_NSUBJECTS * sizeof(subj_t))
#define FILE_SIZE (OFF_ENT + LOCAL_NENTRIES * sizeof(ent_t))

_Static_assert(sizeof(hdr_t) <= LOCAL_HDR_SIZE, "the header fits its page");
_Static_assert(sizeof(subj_t) % 8 == 0 && sizeof(ent_t) % 8 == 0, "tables stay aligned");

/* One mapping per file per process, shared by every handle of the process. */
typedef struct mapping {
    struct mapping *next;
    dev_t dev;
    ino_t ino;
    unsigned refs;
    void *base;
    hdr_t *hdr;
    uint32_t *slots;
    subj_t *subj;
    ent_t *ent;
} mapping_t;

typedef struct {
    sllmp_store_t base;
    mapping_t *m;
} local_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static mapping_t *registry;
static const char *boot_id_path = "/proc/sys/kernel/random/boot_id"; /* tests point it away */

static subj_t *
sub_at(const mapping_t *m, uint32_t ref)
{
    return &m->subj[ref - 1];
}

static ent_t *
ent_at(const mapping_t *m, uint32_t ref)
{
    return &m->ent[ref - 1];
}

static int64_t
clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static uint32_t
hash_id(const char *id)
{
    return sllmp_fnv1a(0, id);
}

/* 32 hex digits as 128 bits; anything else (the caller's own ids) by its SHA-256. */
static void
resid_parse(const char *id, uint64_t out[2])
{
    size_t len = strnlen(id, SLLMP_RESID_MAX);
    int ok = len == SLLMP_RESID_MAX - 1;

    out[0] = out[1] = 0;
    for (size_t i = 0; ok && i < len; i++) {
        int v = sllmp_hexval(id[i]);

        ok = v >= 0;
        out[i / 16] = out[i / 16] << 4 | (uint64_t)(v & 15);
    }
    if (!ok) {
        unsigned char sha[32];

        sllmp_sha256(id, len, sha);
        memcpy(out, sha, 2 * sizeof(uint64_t));
    }
}

static int
resid_eq(const ent_t *e, const uint64_t rid[2])
{
    return e->resid[0] == rid[0] && e->resid[1] == rid[1];
}

/* ---- the lock ---- */

static void repair(mapping_t *m);

static int
store_lock(mapping_t *m)
{
    struct timespec ts;
    int rc;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += LOCAL_LOCK_MS / 1000;
    rc = pthread_mutex_timedlock(&m->hdr->lock, &ts);
    if (rc == EOWNERDEAD) {
        /* its holder was killed, maybe halfway through a change: rebuild what it could have
         * left inconsistent, then carry on */
        repair(m);
        pthread_mutex_consistent(&m->hdr->lock);
        return 0;
    }
    return rc == 0 ? 0 : -1;
}

static void
store_unlock(mapping_t *m)
{
    pthread_mutex_unlock(&m->hdr->lock);
}

/* ---- subjects ---- */

/* The slot holding id, or the hole where it would go; UINT32_MAX only in a corrupt table. */
static uint32_t
slot_of(const mapping_t *m, const char *id, uint32_t h)
{
    uint32_t i = h & (LOCAL_NSLOTS - 1);

    for (uint32_t probes = 0; probes < LOCAL_NSLOTS; probes++) {
        uint32_t r = m->slots[i];

        if (r == 0) {
            return i;
        }
        if (r <= LOCAL_NSUBJECTS && sub_at(m, r)->hash == h && strcmp(sub_at(m, r)->id, id) == 0) {
            return i;
        }
        i = (i + 1) & (LOCAL_NSLOTS - 1);
    }
    return UINT32_MAX;
}

/* The subject's reference, created when asked and there is room; 0 otherwise. */
static uint32_t
subject_find(mapping_t *m, const char *id, int create)
{
    hdr_t *hd = m->hdr;
    uint32_t h = hash_id(id), i = slot_of(m, id, h), r;
    subj_t *s;

    if (i == UINT32_MAX) {
        return 0;
    }
    if (m->slots[i] != 0 || !create) {
        return m->slots[i];
    }
    if (hd->subj_free != 0) {
        r = hd->subj_free;
        hd->subj_free = sub_at(m, r)->next_free;
    } else if (hd->subj_hw < LOCAL_NSUBJECTS) {
        r = ++hd->subj_hw;
    } else {
        return 0;
    }
    s = sub_at(m, r);
    memset(s, 0, sizeof(*s));
    memcpy(s->id, id, strlen(id) + 1); /* checked to fit by ids_valid */
    s->hash = h;
    hd->subj_live++;
    m->slots[i] = r;
    return r;
}

/* Removes a subject with empty lists; linear probing needs the later slots shifted back. */
static void
subject_delete(mapping_t *m, uint32_t r)
{
    hdr_t *hd = m->hdr;
    subj_t *s = sub_at(m, r);
    uint32_t mask = LOCAL_NSLOTS - 1, i = slot_of(m, s->id, s->hash), j = i;

    if (i == UINT32_MAX || m->slots[i] != r) {
        return;
    }
    m->slots[i] = 0;
    for (;;) {
        uint32_t rj, home;

        j = (j + 1) & mask;
        rj = m->slots[j];
        if (rj == 0) {
            break;
        }
        home = sub_at(m, rj)->hash & mask;
        /* stays unless the hole at i lies between its home and j, cyclically */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j)) {
            continue;
        }
        m->slots[i] = rj;
        m->slots[j] = 0;
        i = j;
    }
    memset(s, 0, sizeof(*s));
    s->next_free = hd->subj_free;
    hd->subj_free = r;
    hd->subj_live--;
}

/* ---- entries ---- */

static uint32_t
entries_free(const mapping_t *m)
{
    return m->hdr->ent_nfree + (LOCAL_NENTRIES - m->hdr->ent_hw);
}

/* Appends to the tail of a subject's list; 0 when the pool is empty. */
static uint32_t
ent_append(mapping_t *m, uint32_t sref, uint32_t list, int64_t t, int64_t amount,
           const uint64_t rid[2])
{
    hdr_t *hd = m->hdr;
    subj_t *s = sub_at(m, sref);
    uint32_t r;
    ent_t *e;

    if (hd->ent_free != 0) {
        r = hd->ent_free;
        hd->ent_free = ent_at(m, r)->next;
        hd->ent_nfree--;
    } else if (hd->ent_hw < LOCAL_NENTRIES) {
        r = ++hd->ent_hw;
    } else {
        return 0;
    }
    e = ent_at(m, r);
    memset(e, 0, sizeof(*e));
    e->owner = sref;
    e->list = list;
    e->t = t;
    e->amount = amount;
    e->resid[0] = rid[0];
    e->resid[1] = rid[1];
    e->prev = s->tail[list];
    /* filled before it is linked, so a holder killed here leaves only a leak repair reclaims */
    if (s->tail[list] != 0) {
        ent_at(m, s->tail[list])->next = r;
    } else {
        s->head[list] = r;
    }
    s->tail[list] = r;
    s->count[list]++;
    if (list == L_TPM) {
        s->tpm_total += amount;
    } else if (list == L_LEASE) {
        s->lease_min = s->count[list] == 1 || t < s->lease_min ? t : s->lease_min;
        s->reserved_nano += amount;
    }
    return r;
}

static void
ent_remove(mapping_t *m, uint32_t r)
{
    hdr_t *hd = m->hdr;
    ent_t *e = ent_at(m, r);
    subj_t *s = sub_at(m, e->owner);

    if (e->prev != 0) {
        ent_at(m, e->prev)->next = e->next;
    } else {
        s->head[e->list] = e->next;
    }
    if (e->next != 0) {
        ent_at(m, e->next)->prev = e->prev;
    } else {
        s->tail[e->list] = e->prev;
    }
    s->count[e->list]--;
    if (e->list == L_TPM) {
        s->tpm_total -= e->amount;
    } else if (e->list == L_LEASE) {
        s->reserved_nano -= e->amount;
    }
    memset(e, 0, sizeof(*e));
    e->next = hd->ent_free;
    hd->ent_free = r;
    hd->ent_nfree++;
}

/*
 * The entry of reservation rid in a list: the hint when it still is that entry, else a scan
 * from the tail, where the requests in flight are.
 */
static uint32_t
ent_find(const mapping_t *m, uint32_t sref, uint32_t list, const uint64_t rid[2], uint32_t hint)
{
    if (hint != 0 && hint <= m->hdr->ent_hw) {
        const ent_t *e = ent_at(m, hint);

        if (e->owner == sref && e->list == list && resid_eq(e, rid)) {
            return hint;
        }
    }
    for (uint32_t r = sub_at(m, sref)->tail[list]; r != 0; r = ent_at(m, r)->prev) {
        if (resid_eq(ent_at(m, r), rid)) {
            return r;
        }
    }
    return 0;
}

/* Drops the rpm and tpm entries that left the window and the leases that expired. */
static void
expire(mapping_t *m, uint32_t sref, int64_t now)
{
    subj_t *s = sub_at(m, sref);

    for (uint32_t k = L_RPM; k <= L_TPM; k++) {
        while (s->head[k] != 0 && ent_at(m, s->head[k])->t <= now - SLLMP_LIMIT_WINDOW) {
            ent_remove(m, s->head[k]);
        }
    }
    if (s->count[L_LEASE] > 0 && now >= s->lease_min) {
        int64_t min = INT64_MAX;
        uint32_t next;

        for (uint32_t r = s->head[L_LEASE]; r != 0; r = next) {
            next = ent_at(m, r)->next;
            if (ent_at(m, r)->t <= now) {
                ent_remove(m, r);
            } else if (ent_at(m, r)->t < min) {
                min = ent_at(m, r)->t;
            }
        }
        s->lease_min = min;
    }
}

/*
 * Brings a subject to now: expired entries dropped, a new window's report started, and whether
 * it has a budget noted for the sweep. For the calls that change a subject (reserve, settle,
 * renew), whose caller knows its limits; usage only reads.
 */
static int64_t
refresh(mapping_t *m, uint32_t sref, const sllmp_subject_t *subj, int64_t now)
{
    subj_t *s = sub_at(m, sref);
    long period = sllmp_report_period(subj);
    int64_t ws = sllmp_window_start(now / 1000, period);

    expire(m, sref, now);
    s->flags = subj->lim.budget_nano >= 0 ? s->flags | S_BUDGET : s->flags & ~(uint32_t)S_BUDGET;
    /* the same start means the same spend whatever the period (both count from there) */
    if (ws != s->win_start) {
        s->spent_nano = s->requests = s->tokens_in = s->tokens_out = 0;
        s->win_start = ws;
    }
    s->win_period = period;
    return ws;
}

/*
 * When a table is full: drops what expired in every subject and deletes the subjects left
 * with nothing to keep: empty lists and an empty or ended report. When subjects are short,
 * also those whose report is all they hold and who have no budget (a model, a user or a key
 * without one): their report only feeds `sllmp usage`, and losing the figures of its current
 * window is better than refusing the subjects that carry limits. A budget's spend is kept
 * until its window ends, as it is what the budget counts.
 *
 * A route is kept while it cools down or counts failures in their window, and its moving
 * averages for LOCAL_ROUTE_MS after its last attempt; when subjects are short, its averages
 * alone do not keep it (they only steer the choice among deployments, and start again from
 * the next attempt).
 */
static void
gc(mapping_t *m, int64_t now, int evict_reports)
{
    hdr_t *hd = m->hdr;

    if (now >= hd->gc_ms && now - hd->gc_ms < LOCAL_GC_MS) {
        return;
    }
    hd->gc_ms = now;
    for (uint32_t r = 1; r <= hd->subj_hw; r++) {
        subj_t *s = sub_at(m, r);
        int idle, report, route;

        if (s->id[0] == '\0') {
            continue;
        }
        expire(m, r, now);
        idle = s->count[L_RPM] == 0 && s->count[L_TPM] == 0 && s->count[L_LEASE] == 0;
        /* a report worth keeping: something in a window that has not ended (or a total) */
        report =
            (s->spent_nano | s->requests | s->tokens_in | s->tokens_out) != 0 &&
            (s->win_period <= 0 || sllmp_window_end(s->win_start, s->win_period) * 1000 > now) &&
            (!evict_reports || (s->flags & S_BUDGET));
        route =
            s->cool_until > now || (s->fails != 0 && now - s->fail_start < SLLMP_ROUTE_FAIL_WIN) ||
            ((s->flags & (S_LAT | S_TTFT)) && now - s->route_ms < LOCAL_ROUTE_MS && !evict_reports);
        if (idle && !report && !route) {
            subject_delete(m, r);
        }
    }
}

static int
ensure_room(mapping_t *m, uint32_t need_subjects, uint32_t need_entries, int64_t now)
{
    for (int pass = 0; pass < 2; pass++) {
        if (LOCAL_NSUBJECTS - m->hdr->subj_live >= need_subjects &&
            entries_free(m) >= need_entries) {
            return 0;
        }
        if (pass == 0) {
            gc(m, now, LOCAL_NSUBJECTS - m->hdr->subj_live < need_subjects);
        }
    }
    return -1;
}

/* ---- repair, after a holder of the lock died ---- */

/*
 * Follows one subject's lists from their heads, cutting them where they stop making sense.
 * Returns the highest entry reached.
 */
static uint32_t
relink(mapping_t *m, uint32_t sref, uint32_t epoch)
{
    subj_t *s = sub_at(m, sref);
    uint32_t top = 0;

    s->tpm_total = s->reserved_nano = 0;
    s->lease_min = INT64_MIN; /* the next call scans the leases */
    for (uint32_t k = 0; k < L_N; k++) {
        uint32_t prev = 0, n = 0, r = s->head[k];

        while (r != 0 && r <= m->hdr->ent_hw && ent_at(m, r)->seen != epoch &&
               ent_at(m, r)->owner == sref && ent_at(m, r)->list == k) {
            ent_t *e = ent_at(m, r);

            e->seen = epoch;
            e->prev = prev;
            top = r > top ? r : top;
            if (k == L_TPM) {
                s->tpm_total += e->amount;
            } else if (k == L_LEASE) {
                s->reserved_nano += e->amount;
            }
            prev = r;
            n++;
            r = e->next;
        }
        if (prev != 0) {
            ent_at(m, prev)->next = 0;
        } else {
            s->head[k] = 0;
        }
        s->tail[k] = prev;
        s->count[k] = n;
    }
    return top;
}

/*
 * Rebuilds everything derived: the slots from the subjects, each list's links, counts and
 * totals from its head, and both free lists from what nothing reaches; the entries past the
 * last one reached go back above the high-water mark (handed out zeroed), so the pages are
 * those in use. O(used tables), and only after a crash inside the lock or a reboot. A route's
 * fields derive from nothing, so they stay as they are (a holder killed between two of them
 * loses at most the effect of that attempt's end).
 */
static void
repair(mapping_t *m)
{
    hdr_t *hd = m->hdr;
    uint32_t epoch = ++hd->epoch, top = 0;

    if (hd->subj_hw > LOCAL_NSUBJECTS) {
        hd->subj_hw = LOCAL_NSUBJECTS;
    }
    if (hd->ent_hw > LOCAL_NENTRIES) {
        hd->ent_hw = LOCAL_NENTRIES;
    }
    memset(m->slots, 0, LOCAL_NSLOTS * sizeof(uint32_t));
    hd->subj_free = hd->subj_live = 0;
    for (uint32_t r = hd->subj_hw; r >= 1; r--) {
        subj_t *s = sub_at(m, r);

        if (s->id[0] != '\0' && memchr(s->id, '\0', sizeof(s->id)) != NULL) {
            uint32_t i;

            s->hash = hash_id(s->id);
            i = slot_of(m, s->id, s->hash);
            if (i != UINT32_MAX && m->slots[i] == 0) {
                uint32_t t;

                m->slots[i] = r;
                hd->subj_live++;
                t = relink(m, r, epoch);
                top = t > top ? t : top;
                continue;
            }
        }
        memset(s, 0, sizeof(*s)); /* free, garbled, or a duplicate */
        s->next_free = hd->subj_free;
        hd->subj_free = r;
    }
    hd->ent_free = hd->ent_nfree = 0;
    hd->ent_hw = top;
    for (uint32_t r = hd->ent_hw; r >= 1; r--) {
        ent_t *e = ent_at(m, r);

        if (e->seen != epoch) {
            memset(e, 0, sizeof(*e));
            e->next = hd->ent_free;
            hd->ent_free = r;
            hd->ent_nfree++;
        }
    }
}

/* ---- the operations ---- */

static int
ids_valid(const sllmp_subject_t *subj, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (subj[i].id[0] == '\0' || memchr(subj[i].id, '\0', SLLMP_SUBJECT_MAX) == NULL) {
            return 0;
        }
    }
    return 1;
}

static int
needs_lease(const sllmp_limits_t *lim)
{
    return lim->parallel > 0 || lim->budget_nano >= 0;
}

/* ms until the oldest entry of a list leaves the window; 0 when the list is empty */
static int64_t
reset_ms(const mapping_t *m, uint32_t head, int64_t now)
{
    if (head == 0) {
        return 0;
    }
    return clamp64(ent_at(m, head)->t + SLLMP_LIMIT_WINDOW - now, 0, SLLMP_LIMIT_WINDOW);
}

/* The x-ratelimit-* figures: what remains and when the oldest entry leaves the window. */
static void
fill_headers(const mapping_t *m, const subj_t *s, const sllmp_limits_t *lim, int64_t now,
             sllmp_verdict_t *v)
{
    if (lim->rpm > 0) {
        v->req_limit = lim->rpm;
        v->req_remaining = lim->rpm > s->count[L_RPM] ? lim->rpm - s->count[L_RPM] : 0;
        v->req_reset_ms = reset_ms(m, s->head[L_RPM], now);
    }
    if (lim->tpm > 0) {
        v->tok_limit = lim->tpm;
        v->tok_remaining = lim->tpm > s->tpm_total ? lim->tpm - s->tpm_total : 0;
        v->tok_reset_ms = reset_ms(m, s->head[L_TPM], now);
    }
}

/* ms until an entry recorded at t leaves the window (at least 1: it is still in it) */
static int64_t
until_out(int64_t t, int64_t now)
{
    return clamp64(t + SLLMP_LIMIT_WINDOW - now, 1, SLLMP_LIMIT_WINDOW);
}

/* ms until the first lease of a subject expires (at least 1: a lease is alive until then) */
static int64_t
first_expiry(const mapping_t *m, const subj_t *s, int64_t now)
{
    int64_t min = INT64_MAX;

    for (uint32_t r = s->head[L_LEASE]; r != 0; r = ent_at(m, r)->next) {
        min = ent_at(m, r)->t < min ? ent_at(m, r)->t : min;
    }
    return min - now < 1 ? 1 : min - now;
}

/* Checks rpm, tpm, parallel, budget in that order; 1 when all pass, else fills the refusal. */
static int
check(const mapping_t *m, uint32_t sref, const sllmp_subject_t *subj,
      const sllmp_reservation_t *res, int64_t now, int64_t ws, sllmp_verdict_t *v)
{
    const sllmp_limits_t *lim = &subj->lim;
    const subj_t *s = sub_at(m, sref);

    if (lim->rpm > 0 && s->count[L_RPM] >= lim->rpm) {
        /* a place frees when the (count - rpm + 1)th oldest leaves: the oldest unless the
         * limit was lowered */
        uint32_t r = s->head[L_RPM];

        for (int64_t skip = (int64_t)s->count[L_RPM] - lim->rpm; skip > 0; skip--) {
            r = ent_at(m, r)->next;
        }
        v->refused = SLLMP_LIM_RPM;
        v->retry_after_ms = until_out(ent_at(m, r)->t, now);
        return 0;
    }
    if (lim->tpm > 0) {
        int64_t cost = res->tokens < 0 ? 0 : res->tokens < lim->tpm ? res->tokens : lim->tpm;

        if (s->tpm_total + cost > lim->tpm) {
            int64_t left = s->tpm_total;
            uint32_t r;

            for (r = s->head[L_TPM]; r != 0; r = ent_at(m, r)->next) {
                left -= ent_at(m, r)->amount;
                if (left + cost <= lim->tpm) {
                    break;
                }
            }
            v->refused = SLLMP_LIM_TPM;
            v->retry_after_ms = r != 0 ? until_out(ent_at(m, r)->t, now) : SLLMP_LIMIT_WINDOW;
            return 0;
        }
    }
    if (lim->parallel > 0 && s->count[L_LEASE] >= lim->parallel) {
        v->refused = SLLMP_LIM_PARALLEL;
        v->retry_after_ms = first_expiry(m, s, now);
        return 0;
    }
    if (lim->budget_nano >= 0) {
        int64_t cost = res->cost_nano < 0 ? 0 : res->cost_nano;

        if (s->spent_nano + s->reserved_nano + cost > lim->budget_nano) {
            v->refused = SLLMP_LIM_BUDGET;
            if (s->spent_nano + cost <= lim->budget_nano) {
                /* only the worst cases reserved by the requests in flight stand in the way, and
                 * they go when those end (or their leases expire), not with the window */
                v->held = 1;
                v->retry_after_ms = first_expiry(m, s, now);
                return 0;
            }
            /* a total budget never resets, and a request costing more than the budget fits
             * in no window */
            v->retry_after_ms = -1;
            if (lim->budget_period_s > 0 && cost <= lim->budget_nano) {
                int64_t end_ms = sllmp_window_end(ws, lim->budget_period_s) * 1000;

                v->retry_after_ms = end_ms - now < 1 ? 1 : end_ms - now;
            }
            return 0;
        }
    }
    return 1;
}

static void
record(mapping_t *m, uint32_t sref, const sllmp_limits_t *lim, const sllmp_reservation_t *res,
       const uint64_t rid[2], int64_t now)
{
    uint32_t rpm_ref = 0, tpm_ref = 0;

    if (lim->rpm > 0) {
        rpm_ref = ent_append(m, sref, L_RPM, now, 0, rid);
    }
    if (lim->tpm > 0) {
        tpm_ref = ent_append(m, sref, L_TPM, now, res->tokens < 0 ? 0 : res->tokens, rid);
    }
    if (needs_lease(lim)) {
        int64_t lease_ms = res->lease_ms < 0 ? 0 : res->lease_ms;
        uint32_t r = ent_append(m, sref, L_LEASE, now + lease_ms,
                                res->cost_nano < 0 ? 0 : res->cost_nano, rid);

        if (r != 0) {
            ent_at(m, r)->rpm_ref = rpm_ref;
            ent_at(m, r)->tpm_ref = tpm_ref;
        }
    }
}

static int
local_reserve(sllmp_store_t *st, const sllmp_subject_t *subj, size_t n,
              const sllmp_reservation_t *res, sllmp_verdict_t *out)
{
    mapping_t *m = ((local_t *)st)->m;
    uint32_t need_subjects = 0, need_entries = 0;
    uint64_t rid[2];
    int64_t now;

    if (!ids_valid(subj, n)) {
        return -1;
    }
    resid_parse(res->id, rid);
    if (store_lock(m) < 0) {
        return -1;
    }
    now = sllmp_wall_ms();
    /* room for all of it first, so that running out records nothing */
    for (size_t i = 0; i < n; i++) {
        need_subjects += subject_find(m, subj[i].id, 0) == 0;
        need_entries += (subj[i].lim.rpm > 0) + (subj[i].lim.tpm > 0) + needs_lease(&subj[i].lim);
    }
    if (ensure_room(m, need_subjects, need_entries, now) < 0) {
        store_unlock(m);
        return -1;
    }
    for (size_t i = 0, refused = n; i < n; i++) {
        uint32_t sref = subject_find(m, subj[i].id, 1);
        int64_t ws;

        if (sref == 0) {
            store_unlock(m);
            return -1;
        }
        ws = refresh(m, sref, &subj[i], now);
        memset(&out[i], 0, sizeof(out[i]));
        if (!check(m, sref, &subj[i], res, now, ws, &out[i])) {
            fill_headers(m, sub_at(m, sref), &subj[i].lim, now, &out[i]);
            refused = refused < n ? refused : i;
            continue; /* the later subjects are checked too, as Redis does: each its refusal */
        }
        if (refused < n) {
            /* it would fit, but the request does not run: nothing recorded, the refusal
             * carried */
            out[i].refused = out[refused].refused;
            out[i].retry_after_ms = out[refused].retry_after_ms;
            out[i].held = out[refused].held;
            continue;
        }
        record(m, sref, &subj[i].lim, res, rid, now);
        out[i].allowed = 1;
        fill_headers(m, sub_at(m, sref), &subj[i].lim, now, &out[i]);
    }
    store_unlock(m);
    return 0;
}

static int
local_settle(sllmp_store_t *st, const sllmp_subject_t *subj, size_t n, const char *resid,
             int64_t tokens, int64_t cost_nano, int64_t tokens_in, int64_t tokens_out, int cancel)
{
    mapping_t *m = ((local_t *)st)->m;
    uint32_t need_subjects = 0;
    uint64_t rid[2];
    int64_t now;
    int rc = 0;

    if (!ids_valid(subj, n)) {
        return -1;
    }
    resid_parse(resid, rid);
    tokens = tokens < 0 ? 0 : tokens;
    if (store_lock(m) < 0) {
        return -1;
    }
    now = sllmp_wall_ms();
    /*
     * Full tables do not stop a settle: the leases are released and the reports recorded
     * whatever happens. A sweep first when room is short; then only a subject that is new and
     * finds no room loses its report (and the call returns -1 once the rest is done), and a
     * tpm entry to add again finding the pool empty is skipped (cancel needs no room at all).
     */
    if (!cancel) {
        for (size_t i = 0; i < n; i++) {
            need_subjects += subject_find(m, subj[i].id, 0) == 0;
        }
        (void)ensure_room(m, need_subjects, (uint32_t)n, now);
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t sref = subject_find(m, subj[i].id, !cancel), lease, tpm, rpm_hint = 0,
                 tpm_hint = 0;
        subj_t *s;

        if (sref == 0) {
            /* cancel: nothing was ever recorded there; settle: no room for a new subject */
            rc = cancel ? rc : -1;
            continue;
        }
        refresh(m, sref, &subj[i], now);
        s = sub_at(m, sref);
        lease = ent_find(m, sref, L_LEASE, rid, 0);
        if (lease != 0) {
            rpm_hint = ent_at(m, lease)->rpm_ref;
            tpm_hint = ent_at(m, lease)->tpm_ref;
            ent_remove(m, lease);
        }
        tpm = ent_find(m, sref, L_TPM, rid, tpm_hint);
        if (cancel) {
            uint32_t rpm = ent_find(m, sref, L_RPM, rid, rpm_hint);

            if (rpm != 0) {
                ent_remove(m, rpm);
            }
            if (tpm != 0) {
                ent_remove(m, tpm);
            }
            continue;
        }
        if (tpm != 0) {
            s->tpm_total += tokens - ent_at(m, tpm)->amount;
            ent_at(m, tpm)->amount = tokens;
        } else if (tokens > 0 && subj[i].lim.tpm > 0) {
            /* its entry left the window: added again at now, unless the pool is empty */
            (void)ent_append(m, sref, L_TPM, now, tokens, rid);
        }
        s->spent_nano += cost_nano;
        s->requests++;
        s->tokens_in += tokens_in;
        s->tokens_out += tokens_out;
    }
    store_unlock(m);
    return rc;
}

static int
local_renew(sllmp_store_t *st, const sllmp_subject_t *subj, size_t n, const char *resid,
            int64_t lease_ms)
{
    mapping_t *m = ((local_t *)st)->m;
    uint64_t rid[2];
    int64_t now;

    if (!ids_valid(subj, n)) {
        return -1;
    }
    resid_parse(resid, rid);
    if (store_lock(m) < 0) {
        return -1;
    }
    now = sllmp_wall_ms();
    for (size_t i = 0; i < n; i++) {
        uint32_t sref = subject_find(m, subj[i].id, 0), lease;

        if (sref == 0) {
            continue;
        }
        refresh(m, sref, &subj[i], now); /* an expired lease is gone, not revived */
        lease = ent_find(m, sref, L_LEASE, rid, 0);
        if (lease != 0) {
            subj_t *s = sub_at(m, sref);

            ent_at(m, lease)->t = now + (lease_ms < 0 ? 0 : lease_ms);
            s->lease_min = ent_at(m, lease)->t < s->lease_min ? ent_at(m, lease)->t : s->lease_min;
        }
    }
    store_unlock(m);
    return 0;
}

/*
 * What refresh would leave of a subject's lists at now, counted without dropping anything: the
 * rpm and tpm entries past the expired ones at the head, and the leases not expired.
 */
static void
count_live(const mapping_t *m, const subj_t *s, int64_t now, sllmp_subject_usage_t *out)
{
    uint32_t r;

    out->requests_1m = s->count[L_RPM];
    for (r = s->head[L_RPM]; r != 0 && ent_at(m, r)->t <= now - SLLMP_LIMIT_WINDOW;
         r = ent_at(m, r)->next) {
        out->requests_1m--;
    }
    out->tokens_1m = s->tpm_total;
    for (r = s->head[L_TPM]; r != 0 && ent_at(m, r)->t <= now - SLLMP_LIMIT_WINDOW;
         r = ent_at(m, r)->next) {
        out->tokens_1m -= ent_at(m, r)->amount;
    }
    for (r = s->head[L_LEASE]; r != 0; r = ent_at(m, r)->next) {
        if (ent_at(m, r)->t > now) {
            out->in_flight++;
            out->reserved_nano += ent_at(m, r)->amount;
        }
    }
}

/*
 * Reads only: `sllmp usage` may not know a subject's limits (nor so its period) as the gateway
 * does, and must not reset what the gateway counts. A stored window other than the current one
 * of the period asked (ended, or kept under another period) shows as an empty current window.
 */
static int
local_usage(sllmp_store_t *st, const sllmp_subject_t *subj, sllmp_subject_usage_t *out)
{
    mapping_t *m = ((local_t *)st)->m;
    const sllmp_limits_t *lim = &subj->lim;
    uint32_t sref;
    int64_t now;

    if (!ids_valid(subj, 1)) {
        return -1;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->id, subj->id, sizeof(out->id));
    if (store_lock(m) < 0) {
        return -1;
    }
    now = sllmp_wall_ms();
    out->window_period_s = sllmp_report_period(subj);
    out->window_start_s = sllmp_window_start(now / 1000, out->window_period_s);
    sref = subject_find(m, subj->id, 0); /* looking does not create */
    if (sref != 0) {
        const subj_t *s = sub_at(m, sref);

        count_live(m, s, now, out);
        /* the same start means the same spend whatever the period (both count from there) */
        if (s->win_start == out->window_start_s) {
            out->spent_nano = s->spent_nano;
            out->requests = s->requests;
            out->tokens_in = s->tokens_in;
            out->tokens_out = s->tokens_out;
        }
    }
    store_unlock(m);
    out->requests_1m = lim->rpm > 0 ? out->requests_1m : -1;
    out->tokens_1m = lim->tpm > 0 ? out->tokens_1m : -1;
    out->in_flight = needs_lease(lim) ? out->in_flight : -1;
    return 0;
}

static int
local_each(sllmp_store_t *st, const char *prefix, void (*fn)(const char *id, void *arg), void *arg)
{
    mapping_t *m = ((local_t *)st)->m;
    size_t plen = prefix ? strlen(prefix) : 0, n = 0, cap;
    char(*ids)[SLLMP_SUBJECT_MAX];

    if (store_lock(m) < 0) {
        return -1;
    }
    /* the ids are copied out so that fn runs without the lock (it may call usage) */
    cap = m->hdr->subj_live < LOCAL_NSUBJECTS ? m->hdr->subj_live : LOCAL_NSUBJECTS;
    ids = sllmp_xmalloc((cap > 0 ? cap : 1) * SLLMP_SUBJECT_MAX);
    for (uint32_t r = 1; r <= m->hdr->subj_hw && n < cap; r++) {
        const subj_t *s = sub_at(m, r);

        if (s->id[0] != '\0' && strncmp(s->id, prefix ? prefix : "", plen) == 0) {
            memcpy(ids[n++], s->id, SLLMP_SUBJECT_MAX);
        }
    }
    store_unlock(m);
    for (size_t i = 0; i < n; i++) {
        fn(ids[i], arg);
    }
    free(ids);
    return 0;
}

/* ---- routing ---- */

static int
route_id_valid(const char *id)
{
    return id != NULL && id[0] != '\0' && strnlen(id, SLLMP_SUBJECT_MAX) < SLLMP_SUBJECT_MAX;
}

/*
 * Brings a route to now: expired leases dropped, the count of a failure window that ended, an
 * ended cooldown, and the averages of a route idle for LOCAL_ROUTE_MS forgotten.
 */
static void
route_refresh(mapping_t *m, uint32_t sref, int64_t now)
{
    subj_t *s = sub_at(m, sref);

    expire(m, sref, now);
    if (s->fails != 0 && now - s->fail_start >= SLLMP_ROUTE_FAIL_WIN) {
        s->fails = s->fail_start = 0;
    }
    if (s->cool_until != 0 && s->cool_until <= now) {
        s->cool_until = 0;
    }
    if ((s->flags & (S_LAT | S_TTFT)) && now - s->route_ms >= LOCAL_ROUTE_MS) {
        s->flags &= ~(uint32_t)(S_LAT | S_TTFT);
        s->lat_ms = s->ttft_ms = 0;
    }
}

/* Feeds a sample into the moving average that flag marks as set; the first sample sets it. */
static void
route_mix(subj_t *s, uint32_t flag, int64_t *avg, int64_t ms)
{
    if (s->flags & flag) {
        /* rounded half up, as the Redis script does */
        *avg = (int64_t)floor((double)*avg + SLLMP_ROUTE_ALPHA * (double)(ms - *avg) + 0.5);
    } else {
        *avg = ms;
        s->flags |= flag;
    }
}

/* Cools a route down until now + cooldown_ms, never shortening a cooldown running: 1 when it
 * was not cooling down and now is, else 0. */
static int
route_cool(subj_t *s, int64_t now, int64_t cooldown_ms)
{
    int64_t until = now + cooldown_ms;
    int started;

    if (cooldown_ms <= 0 || until <= s->cool_until) {
        return 0;
    }
    started = s->cool_until <= now;
    s->cool_until = until;
    return started;
}

static int
local_route_state(sllmp_store_t *st, const char *const *ids, size_t n, sllmp_route_state_t *out)
{
    mapping_t *m = ((local_t *)st)->m;
    int64_t now;

    for (size_t i = 0; i < n; i++) {
        if (!route_id_valid(ids[i])) {
            return -1;
        }
    }
    if (store_lock(m) < 0) {
        return -1;
    }
    now = sllmp_wall_ms();
    for (size_t i = 0; i < n; i++) {
        uint32_t sref = subject_find(m, ids[i], 0); /* looking does not create */
        const subj_t *s;

        out[i].in_flight = out[i].cool_ms = out[i].fails = 0;
        out[i].latency_ms = out[i].ttft_ms = -1;
        if (sref == 0) {
            continue;
        }
        route_refresh(m, sref, now);
        s = sub_at(m, sref);
        out[i].in_flight = s->count[L_LEASE];
        out[i].latency_ms = s->flags & S_LAT ? s->lat_ms : -1;
        out[i].ttft_ms = s->flags & S_TTFT ? s->ttft_ms : -1;
        out[i].cool_ms = s->cool_until > now ? s->cool_until - now : 0;
        out[i].fails = s->fails;
    }
    store_unlock(m);
    return 0;
}

/* A lease already there is pushed back without needing room; a new one needs an entry. */
static int
local_route_begin(sllmp_store_t *st, const char *id, const char *resid, int64_t lease_ms)
{
    mapping_t *m = ((local_t *)st)->m;
    uint32_t sref, lease = 0;
    uint64_t rid[2];
    int64_t now, until;
    int rc = -1;

    if (!route_id_valid(id)) {
        return -1;
    }
    resid_parse(resid, rid);
    if (store_lock(m) < 0) {
        return -1;
    }
    now = sllmp_wall_ms();
    until = now + (lease_ms < 0 ? 0 : lease_ms);
    sref = subject_find(m, id, 0);
    if (sref != 0) {
        route_refresh(m, sref, now); /* an expired lease is gone, and made anew */
        lease = ent_find(m, sref, L_LEASE, rid, 0);
    }
    if (lease != 0) {
        subj_t *s = sub_at(m, sref);

        ent_at(m, lease)->t = until;
        s->lease_min = until < s->lease_min ? until : s->lease_min;
    } else {
        /* the sweep may delete the subject when it holds nothing: found again after it */
        if (ensure_room(m, sref == 0, 1, now) < 0 || (sref = subject_find(m, id, 1)) == 0 ||
            ent_append(m, sref, L_LEASE, until, 0, rid) == 0) {
            goto out;
        }
    }
    sub_at(m, sref)->route_ms = now;
    rc = 0;
out:
    store_unlock(m);
    return rc;
}

static int
local_route_end(sllmp_store_t *st, const char *id, const char *resid, sllmp_route_outcome_t outcome,
                int stream, int64_t ms, long allowed_fails, int64_t cooldown_ms)
{
    mapping_t *m = ((local_t *)st)->m;
    uint32_t sref, lease;
    uint64_t rid[2];
    int64_t now;
    subj_t *s;
    int rc = 0;

    if (!route_id_valid(id) || (unsigned)outcome > SLLMP_ROUTE_NEUTRAL) {
        return -1;
    }
    resid_parse(resid, rid);
    if (outcome == SLLMP_ROUTE_OK && ms < 0) {
        ms = 0;
    }
    if (store_lock(m) < 0) {
        return -1;
    }
    now = sllmp_wall_ms();
    sref = subject_find(m, id, 0);
    if (sref == 0) {
        /* no lease to drop; a neutral end has nothing to record */
        if (outcome == SLLMP_ROUTE_NEUTRAL) {
            goto out;
        }
        if (ensure_room(m, 1, 0, now) < 0 || (sref = subject_find(m, id, 1)) == 0) {
            rc = -1;
            goto out;
        }
    }
    route_refresh(m, sref, now);
    lease = ent_find(m, sref, L_LEASE, rid, 0);
    if (lease != 0) {
        ent_remove(m, lease);
    }
    s = sub_at(m, sref);
    if (outcome != SLLMP_ROUTE_NEUTRAL && ms >= 0) {
        if (stream) {
            route_mix(s, S_TTFT, &s->ttft_ms, ms);
        } else {
            route_mix(s, S_LAT, &s->lat_ms, ms);
        }
    }
    switch (outcome) {
    case SLLMP_ROUTE_OK:
        break;
    case SLLMP_ROUTE_FAIL:
        if (s->fails == 0) {
            s->fail_start = now; /* the first failure opens the window */
        }
        if (++s->fails > (allowed_fails < 0 ? 0 : allowed_fails)) {
            s->fails = s->fail_start = 0;
            rc = route_cool(s, now, cooldown_ms);
        }
        break;
    case SLLMP_ROUTE_COOL:
        rc = route_cool(s, now, cooldown_ms);
        break;
    case SLLMP_ROUTE_NEUTRAL:
        break;
    }
    s->route_ms = now;
out:
    store_unlock(m);
    return rc;
}

/* ---- opening and closing ---- */

static void
registry_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
}

static void
registry_release(void)
{
    pthread_mutex_unlock(&registry_lock);
}

/* A fork while another thread opens or closes a store must not leave the child locked out. */
static void
registry_init(void)
{
    pthread_atfork(registry_prepare, registry_release, registry_release);
}

static int
header_ok(const hdr_t *hd, uint64_t size)
{
    return hd->magic == LOCAL_MAGIC && hd->version == LOCAL_VERSION &&
           hd->hdr_size == sizeof(hdr_t) && hd->subj_size == sizeof(subj_t) &&
           hd->ent_size == sizeof(ent_t) && hd->nslots == LOCAL_NSLOTS &&
           hd->nsubjects == LOCAL_NSUBJECTS && hd->nentries == LOCAL_NENTRIES &&
           hd->file_size == FILE_SIZE && size == FILE_SIZE;
}

static int
all_zero(const void *p, size_t len)
{
    const unsigned char *b = p;

    return len == 0 || (b[0] == 0 && memcmp(b, b + 1, len - 1) == 0);
}

/* This boot's id, "" when it cannot be read (no /proc). */
static void
boot_id_read(char *out, size_t len)
{
    int fd = open(boot_id_path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd < 0 ? -1 : read(fd, out, len - 1);

    if (fd >= 0) {
        close(fd);
    }
    out[got > 0 ? got : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

static int
lock_init(pthread_mutex_t *lock)
{
    pthread_mutexattr_t attr;
    int rc;

    if (pthread_mutexattr_init(&attr) != 0) {
        return -1;
    }
    rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
                 pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 ||
                 pthread_mutex_init(lock, &attr) != 0
             ? -1
             : 0;
    pthread_mutexattr_destroy(&attr);
    return rc;
}

/* On tables of zeros. The version last: until then the file is initialised again on open. */
static int
header_init(hdr_t *hd)
{
    memset(hd, 0, sizeof(*hd));
    hd->magic = LOCAL_MAGIC;
    if (lock_init(&hd->lock) < 0) {
        return -1;
    }
    hd->hdr_size = sizeof(hdr_t);
    hd->subj_size = sizeof(subj_t);
    hd->ent_size = sizeof(ent_t);
    hd->nslots = LOCAL_NSLOTS;
    hd->nsubjects = LOCAL_NSUBJECTS;
    hd->nentries = LOCAL_NENTRIES;
    hd->file_size = FILE_SIZE;
    boot_id_read(hd->boot_id, sizeof(hd->boot_id));
    __atomic_store_n(&hd->version, LOCAL_VERSION, __ATOMIC_RELEASE);
    return 0;
}

static void
mapping_view(mapping_t *m, void *base)
{
    m->base = base;
    m->hdr = base;
    m->slots = (uint32_t *)((char *)base + OFF_SLOTS);
    m->subj = (subj_t *)((char *)base + OFF_SUBJ);
    m->ent = (ent_t *)((char *)base + OFF_ENT);
}

/*
 * The file outlives the boot (systemd keeps it in /var/lib/sllmp): after a power loss its lock
 * may name a thread of the previous boot, which the kernel will never report dead, so that
 * every call would time out. So the first open of a boot (under flock: no process of this boot
 * uses the lock yet, since each one's first open comes here) initialises the lock again and
 * repairs what its holder may have left half done. A boot id that cannot be read changes
 * nothing, and one stored as unknown is only recorded: a lock is reset only when the file
 * surely comes from another boot.
 */
static int
boot_check(mapping_t *m)
{
    hdr_t *hd = m->hdr;
    char boot[sizeof(hd->boot_id)];

    boot_id_read(boot, sizeof(boot));
    if (boot[0] == '\0' || strncmp(boot, hd->boot_id, sizeof(hd->boot_id)) == 0) {
        return 0;
    }
    if (hd->boot_id[0] != '\0') {
        if (lock_init(&hd->lock) < 0 || pthread_mutex_lock(&hd->lock) != 0) {
            return -1;
        }
        repair(m);
        pthread_mutex_unlock(&hd->lock);
    }
    memcpy(hd->boot_id, boot, sizeof(boot));
    return 0;
}

/*
 * Zeros [from, to) of the file: holes punched, else the pages that are not zero written over
 * (the pages never used stay so).
 */
static void
zero_range(int fd, char *base, size_t from, size_t to)
{
    if (to <= from || fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)from,
                                (off_t)(to - from)) == 0) {
        return;
    }
    for (size_t off = from; off < to; off += LOCAL_HDR_SIZE) {
        size_t len = to - off < LOCAL_HDR_SIZE ? to - off : LOCAL_HDR_SIZE;

        if (!all_zero(base + off, len)) {
            memset(base + off, 0, len);
        }
    }
}

/*
 * Maps the file into m, under flock so that two processes opening a new file at once do not
 * both initialise it. What the file holds decides:
 *   nothing, or a header of zeros (an initialisation cut short)   initialised
 *   ours, this version and layout                                 used (see boot_check)
 *   ours, another version or layout                               initialised again in place
 *   anything else                                                 refused: not ours to clobber
 * A file is never truncated, as other processes may map it (a page past the end would kill
 * them with SIGBUS): it is grown to this layout, and one larger than it is refused.
 */
static int
map_file(int fd, const char *path, int attach, mapping_t *m, char *err, size_t errlen)
{
    union {
        hdr_t h;
        unsigned char b[LOCAL_HDR_SIZE];
    } head;
    struct stat st;
    ssize_t got = 0;
    void *base = MAP_FAILED;
    const char *what = "flock";
    int rc = -1;

    if (flock(fd, LOCK_EX) < 0) {
        snprintf(err, errlen, "%s: %s: %s", path, what, strerror(errno));
        return -1;
    }
    memset(&head, 0, sizeof(head));
    what = "fstat";
    if (fstat(fd, &st) < 0) {
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        goto foreign;
    }
    what = "read";
    if (st.st_size > 0 && (got = pread(fd, &head, sizeof(head), 0)) < 0) {
        goto fail;
    }
    if (!all_zero(head.b, (size_t)got)) {
        if ((size_t)got < sizeof(head.h.magic) || head.h.magic != LOCAL_MAGIC) {
            goto foreign;
        }
        if (header_ok(&head.h, (uint64_t)st.st_size)) {
            what = "mmap";
            base = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (base == MAP_FAILED) {
                goto fail;
            }
            mapping_view(m, base);
            what = "pthread_mutex_init";
            if (boot_check(m) < 0) {
                errno = EINVAL;
                goto fail;
            }
            rc = 0;
            goto out;
        }
    }
    /* new, cut short, or ours of another version or layout: initialised again in place */
    if (attach) {
        snprintf(err, errlen,
                 "%s is not an sllmp limits file of this version (the pool runs another "
                 "version, or has not used it yet); it is left as it is",
                 path);
        goto out;
    }
    if ((uint64_t)st.st_size > FILE_SIZE) {
        snprintf(err, errlen,
                 "%s is an sllmp limits file of another version, larger than this one's; remove "
                 "it (its limits and spend start afresh) or choose another "
                 "sllmp.limits.local_file",
                 path);
        goto out;
    }
    what = "ftruncate";
    if ((uint64_t)st.st_size < FILE_SIZE && ftruncate(fd, (off_t)FILE_SIZE) < 0) {
        goto fail;
    }
    what = "mmap";
    base = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        goto fail;
    }
    mapping_view(m, base);
    /* not this version any more (should this stop halfway), then the old tables gone */
    m->hdr->version = 0;
    zero_range(fd, base, LOCAL_HDR_SIZE, (size_t)st.st_size);
    what = "pthread_mutex_init";
    if (header_init(m->hdr) < 0) {
        errno = EINVAL;
        goto fail;
    }
    rc = 0;
    goto out;

foreign:
    snprintf(err, errlen,
             "%s is not an sllmp limits file; remove it or choose another "
             "sllmp.limits.local_file",
             path);
    goto out;
fail:
    snprintf(err, errlen, "%s: %s: %s", path, what, strerror(errno));
out:
    if (rc < 0 && base != MAP_FAILED) {
        munmap(base, FILE_SIZE);
    }
    flock(fd, LOCK_UN);
    return rc;
}

static const sllmp_store_ops_t local_ops;

static sllmp_store_t *
local_open(const char *path, int attach, char *err, size_t errlen)
{
    mapping_t *m;
    local_t *l;
    struct stat st;
    int fd;

    pthread_once(&registry_once, registry_init);
    fd = attach ? open(path, O_RDWR | O_CLOEXEC) : open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    pthread_mutex_lock(&registry_lock);
    for (m = registry; m != NULL; m = m->next) {
        if (m->dev == st.st_dev && m->ino == st.st_ino) {
            break;
        }
    }
    if (m == NULL) {
        m = sllmp_xcalloc(1, sizeof(*m));
        if (map_file(fd, path, attach, m, err, errlen) < 0) {
            pthread_mutex_unlock(&registry_lock);
            free(m);
            close(fd);
            return NULL;
        }
        m->dev = st.st_dev;
        m->ino = st.st_ino;
        m->next = registry;
        registry = m;
    }
    m->refs++;
    pthread_mutex_unlock(&registry_lock);
    close(fd);
    l = sllmp_xcalloc(1, sizeof(*l));
    l->base.ops = &local_ops;
    l->m = m;
    return &l->base;
}

sllmp_store_t *
sllmp_store_local_open(const char *path, char *err, size_t errlen)
{
    return local_open(path, 0, err, errlen);
}

sllmp_store_t *
sllmp_store_local_attach(const char *path, char *err, size_t errlen)
{
    return local_open(path, 1, err, errlen);
}

static void
local_close(sllmp_store_t *st)
{
    local_t *l = (local_t *)st;
    mapping_t *m = l->m;

    pthread_mutex_lock(&registry_lock);
    if (--m->refs == 0) {
        for (mapping_t **p = &registry; *p != NULL; p = &(*p)->next) {
            if (*p == m) {
                *p = m->next;
                break;
            }
        }
        munmap(m->base, FILE_SIZE);
        free(m);
    }
    pthread_mutex_unlock(&registry_lock);
    free(l);
}

static const sllmp_store_ops_t local_ops = {
    .name = "local",
    .reserve = local_reserve,
    .settle = local_settle,
    .renew = local_renew,
    .usage = local_usage,
    .each = local_each,
    .route_state = local_route_state,
    .route_begin = local_route_begin,
    .route_end = local_route_end,
    .close = local_close,
};
