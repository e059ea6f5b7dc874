/*
 * The local limit store: exact limits, settle corrections, leases, budgets, many processes on
 * one file, a holder killed inside the lock, a lock left held by a previous boot, files that are
 * not ours or of another version, full tables; the routing state of deployments; and the helpers
 * shared with the Redis store.
 */
#include "sllmp/limits.h"
#include "sllmp/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* included, not linked, to reach the lock, the header and the tables */
#include "../../src/store/local.c"
#include "store_helpers.h"

typedef struct {
    char dir[64];
    char path[96];
    char fresh[96]; /* for a test that creates its own */
    sllmp_store_t *s;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = sllmp_xcalloc(1, sizeof(*f));
    char err[256] = "";

    snprintf(f->dir, sizeof(f->dir), "/tmp/sllmp-local-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/limits", f->dir);
    snprintf(f->fresh, sizeof(f->fresh), "%s/fresh", f->dir);
    f->s = sllmp_store_local_open(f->path, err, sizeof(err));
    if (f->s == NULL) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    if (f->s != NULL) {
        f->s->ops->close(f->s);
    }
    unlink(f->path);
    unlink(f->fresh);
    rmdir(f->dir);
    free(f);
    return 0;
}

static mapping_t *
map_of(sllmp_store_t *s)
{
    return ((local_t *)s)->m;
}

/* Reserves on one subject: the verdict, after asserting the call itself worked. */
static sllmp_verdict_t
reserve1(sllmp_store_t *s, const sllmp_subject_t *subj, const sllmp_reservation_t *res)
{
    sllmp_verdict_t v;

    assert_int_equal(s->ops->reserve(s, subj, 1, res, &v), 0);
    return v;
}

static sllmp_subject_usage_t
usage1(sllmp_store_t *s, const sllmp_subject_t *subj)
{
    sllmp_subject_usage_t u;

    assert_int_equal(s->ops->usage(s, subj, &u), 0);
    return u;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0) {
    }
}

/* Every list is consistent with its counts and totals; every entry is reachable or free. */
static void
assert_consistent(sllmp_store_t *s)
{
    mapping_t *m = map_of(s);
    hdr_t *hd = m->hdr;
    uint32_t reachable = 0, live = 0, nfree = 0;

    assert_int_equal(store_lock(m), 0);
    for (uint32_t r = 1; r <= hd->subj_hw; r++) {
        subj_t *sj = sub_at(m, r);

        if (sj->id[0] == '\0') {
            continue;
        }
        live++;
        assert_int_equal(subject_find(m, sj->id, 0), r);
        for (uint32_t k = 0; k < L_N; k++) {
            uint32_t n = 0, prev = 0;
            int64_t sum = 0;

            for (uint32_t e = sj->head[k]; e != 0; e = ent_at(m, e)->next) {
                assert_int_equal(ent_at(m, e)->owner, r);
                assert_int_equal(ent_at(m, e)->list, k);
                assert_int_equal(ent_at(m, e)->prev, prev);
                sum += ent_at(m, e)->amount;
                prev = e;
                n++;
                assert_true(n <= LOCAL_NENTRIES);
            }
            assert_int_equal(sj->tail[k], prev);
            assert_int_equal(sj->count[k], n);
            if (k == L_TPM) {
                assert_int_equal(sj->tpm_total, sum);
            } else if (k == L_LEASE) {
                assert_int_equal(sj->reserved_nano, sum);
            }
            reachable += n;
        }
    }
    for (uint32_t e = hd->ent_free; e != 0; e = ent_at(m, e)->next) {
        assert_int_equal(ent_at(m, e)->owner, 0);
        nfree++;
        assert_true(nfree <= LOCAL_NENTRIES);
    }
    assert_int_equal(live, hd->subj_live);
    assert_int_equal(nfree, hd->ent_nfree);
    assert_int_equal(reachable + nfree, hd->ent_hw);
    store_unlock(m);
}

/* ---- the shared helpers ---- */

static void
test_duration_format(void **state)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {{0, "0ms"},          {12, "12ms"},     {999, "999ms"},   {1000, "1s"},
                 {1500, "1.5s"},      {1250, "1.25s"},  {1001, "1.001s"}, {59999, "59.999s"},
                 {60000, "1m0s"},     {360000, "6m0s"}, {61500, "1m1s"},  {3600000, "1h0m0s"},
                 {3723000, "1h2m3s"}, {-5, "0ms"}};
    char buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sllmp_duration_format(cases[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
}

static void
test_period_parse(void **state)
{
    (void)state;
    assert_int_equal(sllmp_period_parse("1h"), 3600);
    assert_int_equal(sllmp_period_parse("1d"), 86400);
    assert_int_equal(sllmp_period_parse("7d"), 604800);
    assert_string_equal(sllmp_period_name(604800), "7d");
    assert_string_equal(sllmp_period_name(0), "total");
    assert_int_equal(sllmp_period_parse("30d"), SLLMP_PERIOD_MONTH);
    assert_int_equal(sllmp_period_parse("total"), 0);
    /* LiteLLM's spellings of the same windows */
    assert_int_equal(sllmp_period_parse("1w"), 604800);
    assert_int_equal(sllmp_period_parse("24h"), 86400);
    assert_int_equal(sllmp_period_parse("60m"), 3600);
    assert_int_equal(sllmp_period_parse("1mo"), SLLMP_PERIOD_MONTH);
    assert_string_equal(sllmp_period_name(SLLMP_PERIOD_MONTH), "30d");
    assert_int_equal(sllmp_period_parse("2d"), -1);
    assert_int_equal(sllmp_period_parse("1m"), -1); /* LiteLLM's minute */
    assert_int_equal(sllmp_period_parse(""), -1);
    assert_int_equal(sllmp_period_parse("1H"), -1);
}

static void
test_window_start(void **state)
{
    /* 2024-05-15 13:45:10 UTC, a Wednesday */
    int64_t t = 1715780710;

    (void)state;
    assert_int_equal(sllmp_window_start(t, 3600), 1715778000);   /* 13:00 */
    assert_int_equal(sllmp_window_start(t, 86400), 1715731200);  /* midnight */
    assert_int_equal(sllmp_window_start(t, 604800), 1715558400); /* Monday 2024-05-13 */
    assert_int_equal(sllmp_window_start(1715558400, 604800), 1715558400);
    assert_int_equal(sllmp_window_start(1715558399, 604800), 1715558400 - 604800);
    assert_int_equal(sllmp_window_start(t, 0), 0);
    assert_true(sllmp_window_end(0, 0) == INT64_MAX);
    assert_int_equal(sllmp_window_end(1715778000, 3600), 1715781600);
    /* 30d is the calendar month, as LiteLLM's monthly reset on the 1st */
    assert_int_equal(sllmp_window_start(t, SLLMP_PERIOD_MONTH), 1714521600); /* 2024-05-01 */
    assert_int_equal(sllmp_window_end(1714521600, SLLMP_PERIOD_MONTH), 1717200000);
    assert_int_equal(sllmp_window_start(1709208000, SLLMP_PERIOD_MONTH), 1706745600); /* 02-29 */
    assert_int_equal(sllmp_window_end(1706745600, SLLMP_PERIOD_MONTH), 1709251200);
    assert_int_equal(sllmp_window_start(1709251199, SLLMP_PERIOD_MONTH), 1706745600);
    assert_int_equal(sllmp_window_start(1709251200, SLLMP_PERIOD_MONTH), 1709251200);
    assert_int_equal(sllmp_window_start(1704067199, SLLMP_PERIOD_MONTH), 1701388800); /* Dec */
    assert_int_equal(sllmp_window_end(1701388800, SLLMP_PERIOD_MONTH), 1704067200);
    assert_int_equal(sllmp_window_end(4105123200, SLLMP_PERIOD_MONTH), 4107542400); /* 2100-02 */
    /* every day from 1970 to 2250 against the C library's calendar */
    for (int64_t day = 0; day < 102000; day++) {
        time_t at = (time_t)(day * 86400 + (day * 7919) % 86400);
        struct tm tm;
        int64_t start = sllmp_window_start((int64_t)at, SLLMP_PERIOD_MONTH);

        gmtime_r(&at, &tm);
        if (start != (day - (tm.tm_mday - 1)) * 86400) {
            fail_msg("day %lld: month starts at %lld", (long long)day, (long long)start);
        }
        if (tm.tm_mday == 1 && day > 0 &&
            sllmp_window_end(sllmp_window_start((int64_t)at - 86400, SLLMP_PERIOD_MONTH),
                             SLLMP_PERIOD_MONTH) != day * 86400) {
            fail_msg("day %lld: the previous month does not end here", (long long)day);
        }
    }
}

static void
test_subject_id(void **state)
{
    char id[SLLMP_SUBJECT_MAX], want[SLLMP_SUBJECT_MAX], longname[200];
    unsigned char sha[32];

    (void)state;
    sllmp_subject_id(id, "key", "alice");
    assert_string_equal(id, "key:alice");
    sllmp_subject_id(id, "user", "bob@example.com");
    assert_string_equal(id, "user:bob@example.com");

    /* braces would choose a Redis hash tag: hashed */
    sllmp_subject_id(id, "user", "{x}");
    sllmp_sha256("{x}", 3, sha);
    snprintf(want, sizeof(want), "user:~");
    for (int i = 0; i < 16; i++) {
        snprintf(want + 6 + 2 * i, 3, "%02x", sha[i]);
    }
    assert_string_equal(id, want);
    assert_int_equal(strlen(id), 5 + 1 + 32);

    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    sllmp_subject_id(id, "team", longname);
    assert_int_equal(strncmp(id, "team:~", 6), 0);
    assert_int_equal(strlen(id), 5 + 1 + 32);
    sllmp_subject_id(id, "team", "");
    assert_int_equal(strncmp(id, "team:~", 6), 0);
}

/* ---- the file ---- */

static void
test_open_file(void **state)
{
    fixture_t *f = *state;
    struct stat st;
    char err[256] = "";
    sllmp_store_t *again;

    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal((uint64_t)st.st_size, FILE_SIZE);
    assert_string_equal(f->s->ops->name, "local");
    /* sparse: a new file takes the pages of its header, not its size */
    assert_true((uint64_t)st.st_blocks * 512 < 1024 * 1024);

    /* a second handle of the process shares the mapping */
    again = sllmp_store_local_open(f->path, err, sizeof(err));
    assert_non_null(again);
    assert_ptr_equal(map_of(again), map_of(f->s));
    assert_int_equal(map_of(f->s)->refs, 2);
    again->ops->close(again);
    assert_int_equal(map_of(f->s)->refs, 1);

    assert_null(sllmp_store_local_open("/nonexistent-dir/limits", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent-dir/limits"));
}

/* A file of size bytes holding a header of ours with only its magic and version. */
static void
write_ours(const char *path, uint32_t version, uint64_t size)
{
    hdr_t hd;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    memset(&hd, 0, sizeof(hd));
    hd.magic = LOCAL_MAGIC;
    hd.version = version;
    assert_int_equal(pwrite(fd, &hd, sizeof(hd), 0), sizeof(hd));
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    close(fd);
}

static uint64_t
file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* A file that is not ours is refused with a clear message and left as it was. */
static void
test_open_foreign(void **state)
{
    fixture_t *f = *state;
    static const char text[] = "not a limit store";
    char err[256] = "", want[256], back[sizeof(text)] = "";
    sllmp_store_t *s;
    FILE *fp;

    fp = fopen(f->fresh, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_null(sllmp_store_local_open(f->fresh, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "%s is not an sllmp limits file; remove it or choose another "
             "sllmp.limits.local_file",
             f->fresh);
    assert_string_equal(err, want);
    fp = fopen(f->fresh, "r");
    assert_non_null(fp);
    assert_int_equal(fread(back, 1, sizeof(back), fp), sizeof(text) - 1);
    fclose(fp);
    assert_string_equal(back, text);

    /* the size of ours makes no difference */
    assert_int_equal(truncate(f->fresh, (off_t)FILE_SIZE), 0);
    err[0] = '\0';
    assert_null(sllmp_store_local_open(f->fresh, err, sizeof(err)));
    assert_string_equal(err, want);
    assert_int_equal(file_size(f->fresh), FILE_SIZE);

    /* nor a file that is not a regular one */
    assert_null(sllmp_store_local_open("/dev/null", err, sizeof(err)));
    assert_non_null(strstr(err, "is not an sllmp limits file"));

    /* empty, or zeros only (an initialisation cut short before its header): initialised */
    assert_int_equal(truncate(f->fresh, 0), 0);
    s = sllmp_store_local_open(f->fresh, err, sizeof(err));
    assert_non_null(s);
    s->ops->close(s);
    assert_int_equal(file_size(f->fresh), FILE_SIZE);
    assert_int_equal(truncate(f->fresh, 0), 0);
    assert_int_equal(truncate(f->fresh, 100), 0);
    s = sllmp_store_local_open(f->fresh, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(map_of(s)->hdr->version, LOCAL_VERSION);
    s->ops->close(s);
    assert_int_equal(file_size(f->fresh), FILE_SIZE);
}

/*
 * Ours of another version or layout: initialised again in place, grown, never truncated (other
 * processes may map it); one larger than this layout is refused.
 */
static void
test_open_other_version(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:v", 1, 0, 0, -1, 0);
    sllmp_reservation_t res = reservation(0, 0, 1000);
    mapping_t *m = map_of(f->s), *saved;
    unsigned char junk[64], back[64], zeros[64] = {0};
    char err[256] = "";
    sllmp_store_t *s;
    int fd;

    /* still mapped by a process of the older version (the fixture's mapping, hidden from the
     * registry so that this open maps the file anew) */
    assert_true(reserve1(f->s, &k, &res).allowed);
    assert_false(reserve1(f->s, &k, &res).allowed);
    m->hdr->version = 1;
    saved = registry;
    registry = NULL;
    s = sllmp_store_local_open(f->path, err, sizeof(err));
    assert_non_null(s);
    assert_ptr_not_equal(map_of(s), m);
    assert_int_equal(map_of(s)->hdr->version, LOCAL_VERSION);
    assert_true(reserve1(s, &k, &res).allowed);        /* the old log is gone */
    assert_false(reserve1(f->s, &k, &res).allowed);    /* one file, seen by both */
    assert_int_equal(m->ent[LOCAL_NENTRIES - 1].t, 0); /* its last page: no SIGBUS */
    assert_consistent(s);
    s->ops->close(s);
    registry = saved;

    /* an older, smaller one: grown, the old tables zeroed */
    write_ours(f->fresh, 1, FILE_SIZE / 4);
    memset(junk, 0xa5, sizeof(junk));
    fd = open(f->fresh, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)OFF_SUBJ), sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)(FILE_SIZE / 4 - sizeof(junk))),
                     sizeof(junk));
    close(fd);
    s = sllmp_store_local_open(f->fresh, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(file_size(f->fresh), FILE_SIZE);
    fd = open(f->fresh, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, back, sizeof(back), (off_t)OFF_SUBJ), sizeof(back));
    assert_memory_equal(back, zeros, sizeof(back));
    assert_int_equal(pread(fd, back, sizeof(back), (off_t)(FILE_SIZE / 4 - sizeof(junk))),
                     sizeof(back));
    assert_memory_equal(back, zeros, sizeof(back));
    close(fd);
    assert_true(reserve1(s, &k, &res).allowed);
    assert_consistent(s);
    s->ops->close(s);

    /* an initialisation cut short (ours, version 0 until it ends): initialised */
    write_ours(f->fresh, 0, FILE_SIZE);
    s = sllmp_store_local_open(f->fresh, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(map_of(s)->hdr->version, LOCAL_VERSION);
    s->ops->close(s);

    /* larger than this layout: it would have to shrink, so it is refused and left alone */
    write_ours(f->fresh, 1, FILE_SIZE + 4096);
    assert_null(sllmp_store_local_open(f->fresh, err, sizeof(err)));
    assert_int_equal(strncmp(err, f->fresh, strlen(f->fresh)), 0);
    assert_non_null(strstr(err, "remove it"));
    assert_int_equal(file_size(f->fresh), FILE_SIZE + 4096);
}

/*
 * After a power loss the lock can name a thread of the previous boot, which the kernel never
 * reports dead, so every call would time out. The first open of the next boot resets it and
 * repairs; the counts survive.
 */
static void
test_reboot_resets_lock(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:boot", 10, 0, 0, 1000, 86400);
    sllmp_reservation_t a = reservation(0, 300, 60000), b = reservation(0, 100, 60000);
    static const char old_boot[] = "00000000-0000-0000-0000-000000000000";
    const char *real_path = boot_id_path;
    char err[256] = "", boot[40];
    mapping_t *m = map_of(f->s);
    uint32_t epoch = m->hdr->epoch;
    sllmp_subject_usage_t u;
    int64_t t0;

    boot_id_read(boot, sizeof(boot));
    if (boot[0] == '\0') {
        skip(); /* no boot id here: nothing to test */
    }
    assert_string_equal(m->hdr->boot_id, boot);
    assert_true(reserve1(f->s, &k, &a).allowed);
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, a.id, 0, 300, 1, 2, 0), 0);
    assert_true(reserve1(f->s, &k, &b).allowed);

    /* as a power loss leaves it: another boot's id, the lock held by one of its threads (an id
     * above any thread id of this boot) */
    snprintf(m->hdr->boot_id, sizeof(m->hdr->boot_id), "%s", old_boot);
    m->hdr->lock.__data.__lock = 0x3ffffffe;
    assert_int_equal(f->s->ops->usage(f->s, &k, &u), -1); /* timed out: what was fixed */

    /* an unreadable boot id changes nothing */
    f->s->ops->close(f->s);
    boot_id_path = "/nonexistent-dir/boot_id";
    f->s = sllmp_store_local_open(f->path, err, sizeof(err));
    boot_id_path = real_path;
    assert_non_null(f->s);
    m = map_of(f->s);
    assert_string_equal(m->hdr->boot_id, old_boot);
    assert_int_equal(m->hdr->lock.__data.__lock & 0x3fffffff, 0x3ffffffe);
    f->s->ops->close(f->s);

    /* the next boot's first open */
    f->s = sllmp_store_local_open(f->path, err, sizeof(err));
    assert_non_null(f->s);
    m = map_of(f->s);
    assert_string_equal(m->hdr->boot_id, boot);
    assert_int_equal(m->hdr->epoch, epoch + 1);
    t0 = sllmp_wall_ms();
    u = usage1(f->s, &k);
    assert_true(sllmp_wall_ms() - t0 < LOCAL_LOCK_MS / 2);
    assert_int_equal(u.requests_1m, 2);
    assert_int_equal(u.in_flight, 1);
    assert_int_equal(u.reserved_nano, 100);
    assert_int_equal(u.spent_nano, 300);
    assert_int_equal(u.requests, 1);
    assert_int_equal(u.tokens_out, 2);
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, b.id, 0, 100, 0, 0, 0), 0);
    assert_int_equal(usage1(f->s, &k).spent_nano, 400);
    assert_consistent(f->s);
}

/* ---- the limits ---- */

static void
test_rpm_exact(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:rpm", 5, 0, 0, -1, 0);
    sllmp_verdict_t v;

    for (int i = 0; i < 5; i++) {
        sllmp_reservation_t res = reservation(10, 0, 1000);

        v = reserve1(f->s, &k, &res);
        assert_true(v.allowed);
        assert_int_equal(v.req_limit, 5);
        assert_int_equal(v.req_remaining, 4 - i);
        assert_true(v.req_reset_ms > 59000 && v.req_reset_ms <= 60000);
        assert_int_equal(v.tok_limit, 0); /* tpm not limited */
    }
    sllmp_reservation_t res = reservation(10, 0, 1000);

    v = reserve1(f->s, &k, &res);
    assert_false(v.allowed);
    assert_int_equal(v.refused, SLLMP_LIM_RPM);
    assert_true(v.retry_after_ms > 0 && v.retry_after_ms <= 60000);
    assert_int_equal(v.req_remaining, 0);
    /* the refusal recorded nothing */
    assert_int_equal(usage1(f->s, &k).requests_1m, 5);
    assert_int_equal(usage1(f->s, &k).tokens_1m, -1);
    assert_int_equal(usage1(f->s, &k).in_flight, -1);

    /* lowering the limit: the place frees when enough old entries left, not the oldest */
    k.lim.rpm = 3;
    v = reserve1(f->s, &k, &res);
    assert_false(v.allowed);
    assert_true(v.retry_after_ms > 0 && v.retry_after_ms <= 60000);
    assert_consistent(f->s);
}

static void
test_rpm_window_slides(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:slide", 2, 0, 0, -1, 0);
    sllmp_reservation_t res = reservation(0, 0, 1000);
    mapping_t *m = map_of(f->s);
    subj_t *sj;

    assert_true(reserve1(f->s, &k, &res).allowed);
    assert_true(reserve1(f->s, &k, &res).allowed);
    assert_false(reserve1(f->s, &k, &res).allowed);
    /* age the oldest entry to just past the window: one place frees, not two */
    sj = sub_at(m, subject_find(m, k.id, 0));
    ent_at(m, sj->head[L_RPM])->t -= SLLMP_LIMIT_WINDOW;
    assert_true(reserve1(f->s, &k, &res).allowed);
    assert_false(reserve1(f->s, &k, &res).allowed);
    assert_int_equal(usage1(f->s, &k).requests_1m, 2);
    assert_consistent(f->s);
}

static void
test_cancel_undoes(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:cancel", 2, 1000, 0, -1, 0);
    sllmp_reservation_t a = reservation(300, 0, 1000), b = reservation(300, 0, 1000);

    assert_true(reserve1(f->s, &k, &a).allowed);
    assert_true(reserve1(f->s, &k, &b).allowed);
    assert_int_equal(reserve1(f->s, &k, &a).refused, SLLMP_LIM_RPM);
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, a.id, 0, 0, 0, 0, 1), 0);
    assert_int_equal(usage1(f->s, &k).requests_1m, 1);
    assert_int_equal(usage1(f->s, &k).tokens_1m, 300);
    assert_int_equal(usage1(f->s, &k).requests, 0); /* nothing reported */
    assert_true(reserve1(f->s, &k, &a).allowed);
    /* cancelling what is not there changes nothing */
    assert_int_equal(
        f->s->ops->settle(f->s, &k, 1, "0123456789abcdef0123456789abcdef", 0, 0, 0, 0, 1), 0);
    assert_int_equal(usage1(f->s, &k).requests_1m, 2);
    assert_consistent(f->s);
}

static void
test_tpm_corrected_at_settle(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:tpm", 0, 1000, 0, -1, 0);
    sllmp_reservation_t a = reservation(600, 0, 1000), b = reservation(600, 0, 1000);
    sllmp_verdict_t v;

    v = reserve1(f->s, &k, &a);
    assert_true(v.allowed);
    assert_int_equal(v.tok_limit, 1000);
    assert_int_equal(v.tok_remaining, 400);
    assert_int_equal(v.req_limit, 0);
    v = reserve1(f->s, &k, &b);
    assert_false(v.allowed);
    assert_int_equal(v.refused, SLLMP_LIM_TPM);
    assert_true(v.retry_after_ms > 0 && v.retry_after_ms <= 60000);

    /* a used only 100 of its 600: the refund makes room for b */
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, a.id, 100, 0, 60, 40, 0), 0);
    assert_int_equal(usage1(f->s, &k).tokens_1m, 100);
    v = reserve1(f->s, &k, &b);
    assert_true(v.allowed);
    assert_int_equal(v.tok_remaining, 300);

    /* a correction upwards counts too */
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, b.id, 900, 0, 0, 0, 0), 0);
    assert_int_equal(usage1(f->s, &k).tokens_1m, 1000);
    assert_int_equal(usage1(f->s, &k).requests, 2);
    assert_int_equal(usage1(f->s, &k).tokens_in, 60);
    assert_int_equal(usage1(f->s, &k).tokens_out, 40);
    assert_consistent(f->s);
}

static void
test_tpm_oversized_and_settle_after_window(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:big", 0, 1000, 0, -1, 0);
    sllmp_reservation_t big = reservation(5000, 0, 1000), small = reservation(1, 0, 1000);
    mapping_t *m = map_of(f->s);
    subj_t *sj;
    sllmp_verdict_t v;

    /* more than tpm waits for an empty minute, then counts as tpm and is recorded whole */
    v = reserve1(f->s, &k, &big);
    assert_true(v.allowed);
    assert_int_equal(usage1(f->s, &k).tokens_1m, 5000);
    assert_int_equal(v.tok_remaining, 0);
    v = reserve1(f->s, &k, &small);
    assert_false(v.allowed);
    assert_int_equal(v.refused, SLLMP_LIM_TPM);

    /* the entry leaves the window before settle: the actual usage is added at now */
    sj = sub_at(m, subject_find(m, k.id, 0));
    ent_at(m, sj->head[L_TPM])->t -= SLLMP_LIMIT_WINDOW;
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, big.id, 700, 0, 0, 0, 0), 0);
    assert_int_equal(usage1(f->s, &k).tokens_1m, 700);
    assert_true(reserve1(f->s, &k, &small).allowed);
    assert_consistent(f->s);
}

static void
test_parallel_leases(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:par", 0, 0, 2, -1, 0);
    sllmp_reservation_t a = reservation(0, 0, 50), b = reservation(0, 0, 50);
    sllmp_reservation_t c = reservation(0, 0, 60000), d = reservation(0, 0, 60000);
    sllmp_verdict_t v;

    assert_true(reserve1(f->s, &k, &a).allowed);
    assert_true(reserve1(f->s, &k, &b).allowed);
    assert_int_equal(usage1(f->s, &k).in_flight, 2);
    v = reserve1(f->s, &k, &c);
    assert_false(v.allowed);
    assert_int_equal(v.refused, SLLMP_LIM_PARALLEL);
    assert_true(v.retry_after_ms >= 1 && v.retry_after_ms <= 50);

    /* the leases of a killed worker expire by themselves */
    sleep_ms(80);
    assert_true(reserve1(f->s, &k, &c).allowed);
    assert_true(reserve1(f->s, &k, &d).allowed);
    assert_false(reserve1(f->s, &k, &a).allowed);

    /* settle frees the slot */
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, c.id, 0, 0, 0, 0, 0), 0);
    assert_int_equal(usage1(f->s, &k).in_flight, 1);
    assert_true(reserve1(f->s, &k, &a).allowed);
    assert_consistent(f->s);
}

static void
test_renew_keeps_lease(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:renew", 0, 0, 1, -1, 0);
    sllmp_reservation_t a = reservation(0, 0, 50), b = reservation(0, 0, 50);

    assert_true(reserve1(f->s, &k, &a).allowed);
    assert_int_equal(f->s->ops->renew(f->s, &k, 1, a.id, 60000), 0);
    sleep_ms(80);
    assert_int_equal(reserve1(f->s, &k, &b).refused, SLLMP_LIM_PARALLEL);
    /* renewing shorter works too */
    assert_int_equal(f->s->ops->renew(f->s, &k, 1, a.id, 20), 0);
    sleep_ms(40);
    assert_true(reserve1(f->s, &k, &b).allowed);
    /* an expired lease is not revived */
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, b.id, 0, 0, 0, 0, 1), 0);
    assert_int_equal(f->s->ops->renew(f->s, &k, 1, a.id, 60000), 0);
    assert_int_equal(usage1(f->s, &k).in_flight, 0);
    assert_consistent(f->s);
}

static void
test_budget(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:budget", 0, 0, 0, 1000, 86400);
    sllmp_reservation_t a = reservation(0, 600, 60000), b = reservation(0, 500, 60000);
    sllmp_reservation_t c = reservation(0, 300, 60000), d = reservation(0, 1, 60000);
    sllmp_subject_usage_t u;
    sllmp_verdict_t v;
    int64_t now = sllmp_wall_ms();

    assert_true(reserve1(f->s, &k, &a).allowed);
    u = usage1(f->s, &k);
    assert_int_equal(u.reserved_nano, 600);
    assert_int_equal(u.in_flight, 1);
    assert_int_equal(u.window_period_s, 86400);
    assert_int_equal(u.window_start_s, sllmp_window_start(now / 1000, 86400));

    /* 0 spent + 600 reserved + 500 > 1000, but 0 + 500 fits: held by a, not spent; it may pass
     * when a's lease expires at the latest */
    v = reserve1(f->s, &k, &b);
    assert_false(v.allowed);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);
    assert_true(v.held);
    assert_true(v.retry_after_ms >= 1 && v.retry_after_ms <= 60000);
    assert_true(v.retry_after_ms > 60000 - 2000);

    /* a cost 300: 300 spent + 0 reserved + 500 fits */
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, a.id, 0, 300, 10, 20, 0), 0);
    u = usage1(f->s, &k);
    assert_int_equal(u.spent_nano, 300);
    assert_int_equal(u.reserved_nano, 0);
    assert_int_equal(u.requests, 1);
    assert_int_equal(u.tokens_in, 10);
    assert_int_equal(u.tokens_out, 20);
    assert_true(reserve1(f->s, &k, &b).allowed);
    /* 300 + 500 + 300 > 1000: held by b */
    v = reserve1(f->s, &k, &c);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);
    assert_true(v.held);
    /* exactly at the budget passes: 300 + 500 + 200 */
    c.cost_nano = 200;
    assert_true(reserve1(f->s, &k, &c).allowed);

    /* all spent (300 + 500 + 200): the refusal stands until the next midnight UTC */
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, b.id, 0, 500, 0, 0, 0), 0);
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, c.id, 0, 200, 0, 0, 0), 0);
    now = sllmp_wall_ms();
    v = reserve1(f->s, &k, &d);
    assert_false(v.allowed);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);
    assert_false(v.held);
    assert_true(v.retry_after_ms >= 1 && v.retry_after_ms <= 86400000);
    assert_true(llabs(now + v.retry_after_ms -
                      (sllmp_window_start(now / 1000, 86400) + 86400) * 1000) < 2000);

    /* more than the whole budget never fits: -1 */
    sllmp_subject_t k2 = subject("key:budget2", 0, 0, 0, 1000, 86400);
    sllmp_reservation_t huge = reservation(0, 1001, 60000);

    v = reserve1(f->s, &k2, &huge);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);
    assert_int_equal(v.retry_after_ms, -1);
    assert_false(v.held);
    assert_consistent(f->s);
}

static void
test_budget_held_by_leases(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:held", 0, 0, 0, 1000, 0);
    sllmp_reservation_t a = reservation(0, 700, 300), a2 = reservation(0, 200, 60000);
    sllmp_reservation_t b = reservation(0, 500, 60000), c = reservation(0, 500, 60000);
    sllmp_verdict_t v;

    assert_true(reserve1(f->s, &k, &a).allowed);
    assert_true(reserve1(f->s, &k, &a2).allowed);
    /* 0 + 900 + 500 > 1000 though nothing is spent: held, even by a total budget (-1 would say
     * never), until the first lease (a's) expires */
    v = reserve1(f->s, &k, &b);
    assert_false(v.allowed);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);
    assert_true(v.held);
    assert_true(v.retry_after_ms >= 1 && v.retry_after_ms <= 300);

    /* a's worker died: its lease expired, its worst case is no longer held */
    sleep_ms(350);
    assert_true(reserve1(f->s, &k, &b).allowed);

    /* a2 cost 600: 600 spent + 500 held (b) + 500; 600 + 500 alone does not fit either */
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, a2.id, 0, 600, 0, 0, 0), 0);
    v = reserve1(f->s, &k, &c);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);
    assert_false(v.held);
    assert_int_equal(v.retry_after_ms, -1);
    assert_consistent(f->s);
}

static void
test_budget_total(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:total", 0, 0, 0, 1000, 0);
    sllmp_reservation_t a = reservation(0, 900, 60000), b = reservation(0, 200, 60000);
    sllmp_verdict_t v;

    assert_true(reserve1(f->s, &k, &a).allowed);
    assert_int_equal(f->s->ops->settle(f->s, &k, 1, a.id, 0, 900, 0, 0, 0), 0);
    v = reserve1(f->s, &k, &b);
    assert_false(v.allowed);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);
    assert_int_equal(v.retry_after_ms, -1);
    assert_false(v.held);
    assert_int_equal(usage1(f->s, &k).window_period_s, 0);
    assert_int_equal(usage1(f->s, &k).window_start_s, 0);
    assert_int_equal(usage1(f->s, &k).spent_nano, 900);
}

static void
test_check_order(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:order", 1, 10, 1, 0, 86400);
    sllmp_reservation_t a = reservation(100, 5, 60000);

    /* everything refuses: rpm is reported first, and so on down */
    assert_true(
        reserve1(f->s, &k, &(sllmp_reservation_t){.id = "first", .tokens = 5, .lease_ms = 60000})
            .allowed);
    assert_int_equal(reserve1(f->s, &k, &a).refused, SLLMP_LIM_RPM);
    k.lim.rpm = 0;
    assert_int_equal(reserve1(f->s, &k, &a).refused, SLLMP_LIM_TPM);
    k.lim.tpm = 0;
    assert_int_equal(reserve1(f->s, &k, &a).refused, SLLMP_LIM_PARALLEL);
    k.lim.parallel = 0;
    assert_int_equal(reserve1(f->s, &k, &a).refused, SLLMP_LIM_BUDGET);
}

static void
test_subjects_in_order(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t subj[3] = {subject("key:k1", 10, 0, 0, -1, 0),
                               subject("team:t1", 1, 0, 0, -1, 0),
                               subject("model:m1", 0, 0, 0, -1, 0)};
    sllmp_reservation_t a = reservation(0, 0, 1000), b = reservation(0, 0, 1000);
    sllmp_verdict_t out[3];

    assert_int_equal(f->s->ops->reserve(f->s, subj, 3, &a, out), 0);
    assert_true(out[0].allowed && out[1].allowed && out[2].allowed);
    assert_int_equal(out[2].req_limit, 0);

    /* the team refuses: the key keeps its reservation until the caller cancels it, the model
     * after it is not touched and carries the refusal */
    assert_int_equal(f->s->ops->reserve(f->s, subj, 3, &b, out), 0);
    assert_true(out[0].allowed);
    assert_false(out[1].allowed);
    assert_int_equal(out[1].refused, SLLMP_LIM_RPM);
    assert_false(out[2].allowed);
    assert_int_equal(out[2].refused, SLLMP_LIM_RPM);
    assert_int_equal(out[2].retry_after_ms, out[1].retry_after_ms);
    assert_int_equal(usage1(f->s, &subj[0]).requests_1m, 2);
    assert_int_equal(usage1(f->s, &subj[1]).requests_1m, 1);
    assert_int_equal(f->s->ops->settle(f->s, subj, 3, b.id, 0, 0, 0, 0, 1), 0);
    assert_int_equal(usage1(f->s, &subj[0]).requests_1m, 1);
    assert_int_equal(usage1(f->s, &subj[1]).requests_1m, 1);

    /* settle reports on every subject, the model included */
    assert_int_equal(f->s->ops->settle(f->s, subj, 3, a.id, 7, 123, 3, 4, 0), 0);
    for (int i = 0; i < 3; i++) {
        sllmp_subject_usage_t u = usage1(f->s, &subj[i]);

        assert_int_equal(u.requests, 1);
        assert_int_equal(u.spent_nano, 123);
        assert_int_equal(u.tokens_in, 3);
        assert_int_equal(u.tokens_out, 4);
        assert_int_equal(u.window_period_s, 86400); /* no budget: the default report period */
    }
    assert_int_equal(usage1(f->s, &subj[2]).requests_1m, -1);
    assert_int_equal(usage1(f->s, &subj[2]).in_flight, -1);
    assert_consistent(f->s);
}

static void
test_report_window_resets(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t m1 = subject("model:win", 0, 0, 0, -1, 0);
    mapping_t *m = map_of(f->s);
    sllmp_subject_usage_t u;
    subj_t *sj;

    m1.report_period_s = 3600;
    assert_int_equal(f->s->ops->settle(f->s, &m1, 1, "r1", 0, 50, 1, 2, 0), 0);
    u = usage1(f->s, &m1);
    assert_int_equal(u.window_period_s, 3600);
    assert_int_equal(u.spent_nano, 50);

    /* the stored window is the previous hour's: the report starts again */
    sj = sub_at(m, subject_find(m, m1.id, 0));
    sj->win_start -= 3600;
    u = usage1(f->s, &m1);
    assert_int_equal(u.spent_nano, 0);
    assert_int_equal(u.requests, 0);
    assert_int_equal(u.tokens_in, 0);
    assert_int_equal(u.tokens_out, 0);
    assert_int_equal(u.window_start_s, sllmp_window_start(sllmp_wall_ms() / 1000, 3600));

    /* the same start under another period keeps the figures (both count from there) */
    assert_int_equal(f->s->ops->settle(f->s, &m1, 1, "r2", 0, 70, 0, 0, 0), 0);
    sj->win_start = 0;
    m1.lim.budget_nano = 1000; /* a total budget: its window starts at 0 */
    m1.lim.budget_period_s = 0;
    assert_int_equal(usage1(f->s, &m1).spent_nano, 70);
}

/*
 * usage only reads. `sllmp usage` may ask with another period than the gateway's (the default
 * report period, for a subject it could not match to its config): it then sees an empty window
 * and the budget's spend stays whole.
 */
static void
test_usage_reads_only(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t week = subject("key:week", 0, 0, 0, 1000, 604800), day, hour;
    sllmp_subject_t ro = subject("key:ro", 5, 100, 0, -1, 0);
    sllmp_reservation_t a = reservation(0, 600, 60000), b = reservation(0, 500, 60000);
    sllmp_reservation_t c = reservation(10, 0, 60000), d = reservation(20, 0, 60000);
    mapping_t *m = map_of(f->s);
    int64_t now = sllmp_wall_ms() / 1000, week_start = sllmp_window_start(now, 604800);
    sllmp_subject_usage_t u;
    sllmp_verdict_t v;
    subj_t before, *sj;

    assert_true(reserve1(f->s, &week, &a).allowed);
    assert_int_equal(f->s->ops->settle(f->s, &week, 1, a.id, 0, 600, 0, 0, 0), 0);
    sj = sub_at(m, subject_find(m, week.id, 0));
    memcpy(&before, sj, sizeof(before));

    day = week;
    day.lim.budget_nano = -1;
    day.lim.budget_period_s = 0;
    day.report_period_s = 86400;
    hour = day;
    hour.report_period_s = 3600;
    u = usage1(f->s, &day);
    assert_int_equal(u.window_period_s, 86400);
    assert_int_equal(u.window_start_s, sllmp_window_start(now, 86400));
    /* on a Monday the day starts with the week: the same start, the same figures */
    assert_int_equal(u.spent_nano, u.window_start_s == week_start ? 600 : 0);
    u = usage1(f->s, &hour);
    assert_int_equal(u.window_start_s, sllmp_window_start(now, 3600));
    assert_int_equal(u.spent_nano, u.window_start_s == week_start ? 600 : 0);
    assert_memory_equal(&before, sj, sizeof(before));

    /* the gateway's view is whole: the spend still counts against the budget */
    u = usage1(f->s, &week);
    assert_int_equal(u.window_start_s, week_start);
    assert_int_equal(u.spent_nano, 600);
    assert_int_equal(u.requests, 1);
    v = reserve1(f->s, &week, &b);
    assert_false(v.allowed);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);

    /* an ended window shows as the current one, empty, and is not reset either */
    sj->win_start -= 604800;
    memcpy(&before, sj, sizeof(before));
    u = usage1(f->s, &week);
    assert_int_equal(u.window_start_s, week_start);
    assert_int_equal(u.spent_nano, 0);
    assert_int_equal(u.requests, 0);
    assert_memory_equal(&before, sj, sizeof(before));

    /* expired entries are not counted, and not dropped */
    assert_true(reserve1(f->s, &ro, &c).allowed);
    assert_true(reserve1(f->s, &ro, &d).allowed);
    sj = sub_at(m, subject_find(m, ro.id, 0));
    ent_at(m, sj->head[L_RPM])->t -= SLLMP_LIMIT_WINDOW;
    ent_at(m, sj->head[L_TPM])->t -= SLLMP_LIMIT_WINDOW;
    u = usage1(f->s, &ro);
    assert_int_equal(u.requests_1m, 1);
    assert_int_equal(u.tokens_1m, 20);
    assert_int_equal(sj->count[L_RPM], 2);
    assert_int_equal(sj->tpm_total, 30);
    assert_consistent(f->s);
}

static void
each_count(const char *id, void *arg)
{
    int *n = arg;

    assert_int_equal(strchr(id, ':') != NULL, 1);
    (*n)++;
}

static void
test_each_prefix(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t subj[3] = {subject("key:a", 0, 0, 0, -1, 0), subject("key:b", 0, 0, 0, -1, 0),
                               subject("user:c", 0, 0, 0, -1, 0)};
    int n = 0;

    assert_int_equal(f->s->ops->settle(f->s, subj, 3, "r", 0, 1, 0, 0, 0), 0);
    assert_int_equal(f->s->ops->each(f->s, "key:", each_count, &n), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(f->s->ops->each(f->s, "user:", each_count, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(f->s->ops->each(f->s, "", each_count, &n), 0);
    assert_int_equal(n, 3);
    n = 0;
    assert_int_equal(f->s->ops->each(f->s, "team:", each_count, &n), 0);
    assert_int_equal(n, 0);
}

/* ---- many processes ---- */

/*
 * Eight processes start at once on a file none of them has: one initialises it, and 100 of
 * their 400 requests pass.
 */
static void
test_processes_rpm_exact(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:shared", 100, 0, 0, -1, 0);
    sllmp_store_t *s;
    char err[256];
    pid_t pids[8];
    int gate[2], total = 0;

    assert_int_equal(pipe(gate), 0);
    for (int i = 0; i < 8; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            int allowed = 0;
            char c;

            close(gate[1]);
            if (read(gate[0], &c, 1) != 0) { /* returns at the parent's close */
                _exit(255);
            }
            s = sllmp_store_local_open(f->fresh, err, sizeof(err));
            for (int j = 0; s != NULL && j < 50; j++) {
                sllmp_reservation_t res = reservation(1, 0, 1000);
                sllmp_verdict_t v;

                if (s->ops->reserve(s, &k, 1, &res, &v) != 0) {
                    _exit(255);
                }
                allowed += v.allowed;
            }
            _exit(s == NULL ? 255 : allowed);
        }
    }
    close(gate[0]);
    close(gate[1]);
    for (int i = 0; i < 8; i++) {
        int status;

        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_not_equal(WEXITSTATUS(status), 255);
        total += WEXITSTATUS(status);
    }
    assert_int_equal(total, 100);
    s = sllmp_store_local_open(f->fresh, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(usage1(s, &k).requests_1m, 100);
    assert_consistent(s);
    s->ops->close(s);
}

static void
test_holder_killed_inside_lock(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:dead", 0, 1000, 2, -1, 0);
    sllmp_reservation_t a = reservation(100, 0, 60000), b = reservation(100, 0, 60000);
    mapping_t *m = map_of(f->s);
    uint32_t epoch = m->hdr->epoch;
    int status;
    pid_t pid;

    assert_true(reserve1(f->s, &k, &a).allowed);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* dies holding the lock, halfway through a change: an entry unlinked, not freed, the
         * count not updated */
        subj_t *sj;

        if (store_lock(m) != 0) {
            _exit(1);
        }
        sj = sub_at(m, subject_find(m, k.id, 0));
        sj->head[L_LEASE] = sj->tail[L_LEASE] = 0;
        raise(SIGKILL);
        _exit(2);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));

    /* the next call finds the owner dead, repairs and carries on (no deadlock, no -1) */
    assert_true(reserve1(f->s, &k, &b).allowed);
    assert_int_equal(m->hdr->epoch, epoch + 1);
    assert_consistent(f->s);
    /* the lost lease is gone for good; its tpm entry stays counted */
    assert_int_equal(usage1(f->s, &k).in_flight, 1);
    assert_int_equal(usage1(f->s, &k).tokens_1m, 200);
    assert_true(reserve1(f->s, &k, &a).allowed);
    assert_consistent(f->s);
}

static void
test_worker_killed_mid_operations(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:busy", 5000, 100000000, 0, 1000000000, 86400);
    sllmp_subject_t other = subject("key:other", 10, 0, 0, -1, 0);
    pid_t pids[3];

    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            for (;;) {
                sllmp_reservation_t res = reservation(10, 1, 60000);
                sllmp_verdict_t v;

                f->s->ops->reserve(f->s, &k, 1, &res, &v);
                f->s->ops->settle(f->s, &k, 1, res.id, 5, 0, 1, 1, (res.id[0] & 1) != 0);
            }
        }
    }
    sleep_ms(100);
    for (int i = 0; i < 3; i++) {
        int status;

        kill(pids[i], SIGKILL);
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    }
    for (int i = 0; i < 10; i++) {
        sllmp_reservation_t res = reservation(10, 1, 60000);
        sllmp_verdict_t v;

        assert_int_equal(f->s->ops->reserve(f->s, &k, 1, &res, &v), 0);
        assert_int_equal(f->s->ops->settle(f->s, &k, 1, res.id, 5, 0, 0, 0, 0), 0);
        assert_true(reserve1(f->s, &other, &res).allowed);
    }
    assert_true(usage1(f->s, &k).requests > 0);
    assert_consistent(f->s);
}

static void
test_repair_rebuilds(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:fix", 100, 1000, 10, -1, 0);
    mapping_t *m = map_of(f->s);
    subj_t *sj;

    for (int i = 0; i < 5; i++) {
        sllmp_reservation_t res = reservation(10, 0, 60000);

        assert_true(reserve1(f->s, &k, &res).allowed);
    }
    assert_int_equal(store_lock(m), 0);
    sj = sub_at(m, subject_find(m, k.id, 0));
    /* a cycle, wrong counts and totals, a lost free list, a hole in the slots */
    ent_at(m, sj->tail[L_RPM])->next = sj->head[L_RPM];
    sj->count[L_TPM] = 99;
    sj->tpm_total = -5;
    m->hdr->ent_free = 0;
    m->hdr->ent_nfree = 0;
    memset(m->slots, 0, LOCAL_NSLOTS * sizeof(uint32_t));
    repair(m);
    store_unlock(m);
    assert_consistent(f->s);
    assert_int_equal(usage1(f->s, &k).requests_1m, 5);
    assert_int_equal(usage1(f->s, &k).tokens_1m, 50);
    assert_int_equal(usage1(f->s, &k).in_flight, 5);
}

/* ---- full tables ---- */

static void
test_full_tables(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t x = subject("key:x", 0, 0, 0, -1, 0), y = subject("key:y", 0, 0, 0, -1, 0);
    sllmp_subject_t z = subject("key:z", 5, 0, 0, -1, 0);
    sllmp_reservation_t res = reservation(0, 0, 1000);
    mapping_t *m = map_of(f->s);
    hdr_t *hd = m->hdr;
    sllmp_verdict_t v;

    /* the entry pool used up (by entries nothing reaches): -1, and nothing recorded */
    assert_true(reserve1(f->s, &z, &res).allowed);
    hd->ent_hw = LOCAL_NENTRIES;
    assert_int_equal(f->s->ops->reserve(f->s, &z, 1, &res, &v), -1);
    assert_int_equal(usage1(f->s, &z).requests_1m, 1);
    repair(m); /* reclaims what nothing reaches */
    assert_int_equal(entries_free(m), LOCAL_NENTRIES - 1);
    assert_int_equal(hd->ent_hw, 1); /* z's entry is the last reached: the rest is untouched */
    assert_true(reserve1(f->s, &z, &res).allowed);
    assert_consistent(f->s);

    /* the subject table full: a sweep deletes the subjects with nothing to keep (x) */
    assert_true(reserve1(f->s, &x, &res).allowed);
    hd->subj_live = LOCAL_NSUBJECTS; /* z, x and the rest counted as taken */
    hd->gc_ms = 0;
    assert_true(reserve1(f->s, &y, &res).allowed);
    assert_int_equal(subject_find(m, x.id, 0), 0);
    /* no second sweep within LOCAL_GC_MS: -1 */
    assert_int_equal(f->s->ops->reserve(f->s, &x, 1, &res, &v), -1);
    hd->gc_ms = 0;
    assert_true(reserve1(f->s, &x, &res).allowed); /* y was empty */
    assert_int_equal(subject_find(m, y.id, 0), 0);
    assert_int_not_equal(subject_find(m, z.id, 0), 0); /* z holds entries */
    /* a subject with a budget and spend in its window is kept too */
    x.lim.budget_nano = 1000;
    x.lim.budget_period_s = 86400;
    assert_int_equal(f->s->ops->settle(f->s, &x, 1, res.id, 0, 1, 0, 0, 0), 0);
    hd->gc_ms = 0;
    assert_int_equal(f->s->ops->reserve(f->s, &y, 1, &res, &v), -1);
    assert_int_not_equal(subject_find(m, x.id, 0), 0);
}

/*
 * An empty entry pool does not stop a settle: the leases are released and the reports
 * recorded; only a tpm entry to add again may be skipped. Cancel needs no room. A subject new at
 * settle that finds no room loses its report (-1), the others are settled all the same.
 */
static void
test_settle_with_full_pool(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t subj[3] = {subject("team:fp", 10, 0, 0, -1, 0),
                               subject("key:fp", 10, 0, 2, 1000, 86400),
                               subject("model:fp", 0, 0, 0, -1, 0)};
    sllmp_subject_t late[2] = {subj[1], subject("model:late", 0, 0, 0, -1, 0)};
    sllmp_reservation_t a = reservation(600, 100, 60000), b = reservation(10, 50, 60000);
    mapping_t *m = map_of(f->s);
    hdr_t *hd = m->hdr;
    sllmp_verdict_t out[3];
    sllmp_subject_usage_t u;
    uint32_t hw, live;

    assert_int_equal(f->s->ops->reserve(f->s, subj, 3, &a, out), 0);
    assert_true(out[0].allowed && out[1].allowed && out[2].allowed);
    assert_int_equal(f->s->ops->reserve(f->s, subj, 3, &b, out), 0);
    assert_true(out[0].allowed && out[1].allowed && out[2].allowed);
    hd->ent_hw = LOCAL_NENTRIES; /* used up by entries nothing reaches */

    /* tpm limited since the reservation (a reload): the tokens are added at now. The team
     * holds no lease and finds the pool empty: skipped. The key's lease, released first,
     * leaves it the room. */
    subj[0].lim.tpm = subj[1].lim.tpm = late[0].lim.tpm = 1000;
    assert_int_equal(f->s->ops->settle(f->s, subj, 3, a.id, 700, 100, 30, 40, 0), 0);
    u = usage1(f->s, &subj[0]);
    assert_int_equal(u.tokens_1m, 0);
    assert_int_equal(u.spent_nano, 100);
    assert_int_equal(u.requests, 1);
    u = usage1(f->s, &subj[1]);
    assert_int_equal(u.in_flight, 1);
    assert_int_equal(u.reserved_nano, 50);
    assert_int_equal(u.spent_nano, 100);
    assert_int_equal(u.requests, 1);
    assert_int_equal(u.tokens_in, 30);
    assert_int_equal(u.tokens_out, 40);
    assert_int_equal(u.tokens_1m, 700);
    assert_int_equal(u.requests_1m, 2);
    assert_int_equal(usage1(f->s, &subj[2]).spent_nano, 100);
    assert_int_equal(entries_free(m), 0);

    /* cancel */
    assert_int_equal(f->s->ops->settle(f->s, subj, 3, b.id, 0, 0, 0, 0, 1), 0);
    u = usage1(f->s, &subj[1]);
    assert_int_equal(u.in_flight, 0);
    assert_int_equal(u.reserved_nano, 0);
    assert_int_equal(u.requests_1m, 1);
    assert_int_equal(u.requests, 1);
    assert_int_equal(usage1(f->s, &subj[0]).requests_1m, 1);

    /* the subject table full too (the rest counted as taken), and no sweep due */
    hw = hd->subj_hw;
    live = hd->subj_live;
    hd->subj_hw = hd->subj_live = LOCAL_NSUBJECTS;
    hd->gc_ms = sllmp_wall_ms();
    assert_int_equal(f->s->ops->settle(f->s, late, 2, "-", 0, 5, 0, 0, 0), -1);
    assert_int_equal(usage1(f->s, &subj[1]).spent_nano, 105);
    assert_int_equal(subject_find(m, late[1].id, 0), 0);
    hd->subj_hw = hw;
    hd->subj_live = live;

    repair(m);
    assert_int_equal(hd->subj_live, 3);
    assert_consistent(f->s);
}

/*
 * When subjects are short, the sweep deletes the idle subjects whose report is all they hold
 * and that have no budget, even in their report's window; the spend of a budget stays. When
 * entries are short, reports stay: deleting them frees no entry.
 */
static void
test_sweep_evicts_reports(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t model = subject("model:rep", 0, 0, 0, -1, 0);
    sllmp_subject_t key = subject("key:bud", 0, 0, 0, 1000, 86400);
    sllmp_subject_t z = subject("key:z2", 5, 0, 0, -1, 0);
    sllmp_reservation_t res = reservation(0, 0, 1000);
    mapping_t *m = map_of(f->s);
    hdr_t *hd = m->hdr;
    sllmp_verdict_t v;

    assert_int_equal(f->s->ops->settle(f->s, &model, 1, "r1", 0, 5, 1, 1, 0), 0);
    assert_int_equal(f->s->ops->settle(f->s, &key, 1, "r2", 0, 7, 1, 1, 0), 0);
    assert_int_equal(sub_at(m, subject_find(m, model.id, 0))->flags & S_BUDGET, 0);
    assert_int_equal(sub_at(m, subject_find(m, key.id, 0))->flags & S_BUDGET, S_BUDGET);

    hd->ent_hw = LOCAL_NENTRIES;
    hd->gc_ms = 0;
    assert_int_equal(f->s->ops->reserve(f->s, &z, 1, &res, &v), -1);
    assert_int_not_equal(subject_find(m, model.id, 0), 0);
    repair(m);

    hd->subj_live = LOCAL_NSUBJECTS;
    hd->gc_ms = 0;
    assert_true(reserve1(f->s, &z, &res).allowed);
    assert_int_equal(subject_find(m, model.id, 0), 0);
    assert_int_not_equal(subject_find(m, key.id, 0), 0);
    assert_int_equal(usage1(f->s, &key).spent_nano, 7);

    /* the flag follows the last call: a budget removed makes the subject evictable */
    key.lim.budget_nano = -1;
    assert_int_equal(f->s->ops->settle(f->s, &key, 1, "r3", 0, 1, 0, 0, 0), 0);
    hd->gc_ms = 0;
    assert_true(reserve1(f->s, &model, &res).allowed);
    assert_int_equal(subject_find(m, key.id, 0), 0);
    repair(m);
    assert_consistent(f->s);
}

/* ---- routing ---- */

static sllmp_route_state_t
route1(sllmp_store_t *s, const char *id)
{
    const char *ids[1] = {id};
    sllmp_route_state_t st;

    memset(&st, 0x5a, sizeof(st)); /* every field must be written */
    assert_int_equal(s->ops->route_state(s, ids, 1, &st), 0);
    return st;
}

static int
route_end1(sllmp_store_t *s, const char *id, const char *resid, sllmp_route_outcome_t outcome,
           int stream, int64_t ms, long allowed_fails, int64_t cooldown_ms)
{
    return s->ops->route_end(s, id, resid, outcome, stream, ms, allowed_fails, cooldown_ms);
}

static subj_t *
route_subj(sllmp_store_t *s, const char *id)
{
    uint32_t r = subject_find(map_of(s), id, 0);

    assert_int_not_equal(r, 0);
    return sub_at(map_of(s), r);
}

/* Deployments never seen read as idle and unmeasured, and looking creates nothing. */
static void
test_route_unknown(void **state)
{
    fixture_t *f = *state;
    const char *ids[3] = {"route:a", "route:b", "route:c"};
    sllmp_route_state_t st[3];
    char longid[SLLMP_SUBJECT_MAX + 1];
    const char *bad[2] = {"route:a", longid};

    memset(st, 0x5a, sizeof(st));
    assert_int_equal(f->s->ops->route_state(f->s, ids, 3, st), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(st[i].in_flight, 0);
        assert_int_equal(st[i].latency_ms, -1);
        assert_int_equal(st[i].ttft_ms, -1);
        assert_int_equal(st[i].cool_ms, 0);
        assert_int_equal(st[i].fails, 0);
        assert_int_equal(subject_find(map_of(f->s), ids[i], 0), 0);
    }
    assert_int_equal(f->s->ops->route_state(f->s, ids, 0, st), 0);
    /* a neutral end of an attempt never begun records nothing */
    assert_int_equal(route_end1(f->s, "route:a", "x", SLLMP_ROUTE_NEUTRAL, 0, 5, 3, 1000), 0);
    assert_int_equal(subject_find(map_of(f->s), "route:a", 0), 0);
    assert_int_equal(map_of(f->s)->hdr->subj_live, 0);

    /* ids that cannot be subjects, and an outcome that is none */
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(f->s->ops->route_state(f->s, bad, 2, st), -1);
    assert_int_equal(f->s->ops->route_begin(f->s, "", "x", 1000), -1);
    assert_int_equal(f->s->ops->route_begin(f->s, longid, "x", 1000), -1);
    assert_int_equal(route_end1(f->s, longid, "x", SLLMP_ROUTE_OK, 0, 5, 3, 1000), -1);
    assert_int_equal(route_end1(f->s, "route:a", "x", (sllmp_route_outcome_t)4, 0, 5, 3, 1000), -1);
    assert_int_equal(map_of(f->s)->hdr->subj_live, 0);
}

/* Each attempt is a lease: begun, renewed by a second begin, gone at its end. */
static void
test_route_in_flight(void **state)
{
    fixture_t *f = *state;
    const char *ids[3] = {"route:other", "route:inf", "route:none"};
    sllmp_route_state_t st[3];

    assert_int_equal(f->s->ops->route_begin(f->s, "route:inf", "a", 60000), 0);
    assert_int_equal(f->s->ops->route_begin(f->s, "route:inf", "b", 60000), 0);
    assert_int_equal(f->s->ops->route_begin(f->s, "route:inf", "c", 60000), 0);
    assert_int_equal(f->s->ops->route_begin(f->s, "route:other", "a", 60000), 0);
    assert_int_equal(route1(f->s, "route:inf").in_flight, 3);
    assert_int_equal(f->s->ops->route_begin(f->s, "route:inf", "a", 60000), 0); /* renewed */
    assert_int_equal(route1(f->s, "route:inf").in_flight, 3);

    /* n deployments, in order */
    assert_int_equal(f->s->ops->route_state(f->s, ids, 3, st), 0);
    assert_int_equal(st[0].in_flight, 1);
    assert_int_equal(st[1].in_flight, 3);
    assert_int_equal(st[2].in_flight, 0);

    assert_int_equal(route_end1(f->s, "route:inf", "b", SLLMP_ROUTE_NEUTRAL, 0, 0, 3, 1000), 0);
    assert_int_equal(route1(f->s, "route:inf").in_flight, 2);
    /* an attempt that holds no lease (ended twice) takes none from the others */
    assert_int_equal(route_end1(f->s, "route:inf", "b", SLLMP_ROUTE_NEUTRAL, 0, 0, 3, 1000), 0);
    assert_int_equal(route1(f->s, "route:inf").in_flight, 2);
    assert_int_equal(route_end1(f->s, "route:inf", "a", SLLMP_ROUTE_OK, 0, 10, 3, 1000), 0);
    assert_int_equal(route_end1(f->s, "route:inf", "c", SLLMP_ROUTE_FAIL, 0, -1, 3, 1000), 0);
    assert_int_equal(route1(f->s, "route:inf").in_flight, 0);
    assert_int_equal(route1(f->s, "route:other").in_flight, 1);
    assert_int_equal(route_subj(f->s, "route:inf")->count[L_LEASE], 0);
    assert_consistent(f->s);
}

/* A lease not ended expires (a worker killed mid-attempt); a begin pushes it back. */
static void
test_route_lease_expires(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(f->s->ops->route_begin(f->s, "route:exp", "short", 100), 0);
    assert_int_equal(f->s->ops->route_begin(f->s, "route:exp", "long", 60000), 0);
    assert_int_equal(f->s->ops->route_begin(f->s, "route:exp", "renewed", 100), 0);
    assert_int_equal(route1(f->s, "route:exp").in_flight, 3);
    sleep_ms(50);
    assert_int_equal(f->s->ops->route_begin(f->s, "route:exp", "renewed", 1000), 0);
    sleep_ms(150);
    assert_int_equal(route1(f->s, "route:exp").in_flight, 2);
    assert_int_equal(route_subj(f->s, "route:exp")->count[L_LEASE], 2); /* dropped, not hidden */
    /* begun again after it expired: a new lease */
    assert_int_equal(f->s->ops->route_begin(f->s, "route:exp", "short", 60000), 0);
    assert_int_equal(route1(f->s, "route:exp").in_flight, 3);
    /* a lease of 0 ms is over at once */
    assert_int_equal(f->s->ops->route_begin(f->s, "route:exp", "zero", 0), 0);
    assert_int_equal(route1(f->s, "route:exp").in_flight, 3);
    assert_consistent(f->s);
}

/* OK samples: the first sets the average, the next mix in at SLLMP_ROUTE_ALPHA (rounded half
 * up); streamed attempts feed ttft, the others latency. */
static void
test_route_moving_average(void **state)
{
    fixture_t *f = *state;
    static const struct {
        int stream;
        int64_t ms, lat, ttft;
    } steps[] = {
        {0, 100, 100, -1},                  /* first: set */
        {0, 200, 125, -1},                  /* 100 + 0.25 * 100 */
        {0, 126, 125, -1},                  /* 125.25 */
        {0, 127, 126, -1},                  /* 125.5: half up */
        {1, 40, 126, 40},                   /* the first streamed sample leaves latency alone */
        {1, 80, 126, 50},  {1, 0, 126, 38}, /* 37.5 */
        {0, -8, 95, 38},                    /* a negative time counts as 0: 126 * 0.75 = 94.5 */
    };
    sllmp_route_state_t st;

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        char resid[8];

        snprintf(resid, sizeof(resid), "r%zu", i);
        assert_int_equal(f->s->ops->route_begin(f->s, "route:avg", resid, 60000), 0);
        assert_int_equal(route_end1(f->s, "route:avg", resid, SLLMP_ROUTE_OK, steps[i].stream,
                                    steps[i].ms, 3, 1000),
                         0);
        st = route1(f->s, "route:avg");
        assert_int_equal(st.latency_ms, steps[i].lat);
        assert_int_equal(st.ttft_ms, steps[i].ttft);
        assert_int_equal(st.in_flight, 0);
        assert_int_equal(st.fails, 0);
        assert_int_equal(st.cool_ms, 0);
    }
    /* an OK without a begin counts all the same */
    assert_int_equal(route_end1(f->s, "route:avg2", "x", SLLMP_ROUTE_OK, 0, 70, 3, 1000), 0);
    assert_int_equal(route1(f->s, "route:avg2").latency_ms, 70);
    assert_int_equal(route1(f->s, "route:avg2").ttft_ms, -1);

    /* a deployment idle for LOCAL_ROUTE_MS starts again from its next sample */
    route_subj(f->s, "route:avg")->route_ms -= LOCAL_ROUTE_MS;
    st = route1(f->s, "route:avg");
    assert_int_equal(st.latency_ms, -1);
    assert_int_equal(st.ttft_ms, -1);
    assert_int_equal(route_end1(f->s, "route:avg", "y", SLLMP_ROUTE_OK, 0, 300, 3, 1000), 0);
    assert_int_equal(route1(f->s, "route:avg").latency_ms, 300);
}

/* A failure with a time (the caller's penalty for a timeout) feeds the average of its kind as
 * an answer does; one with -1, or a neutral end, leaves the averages alone. */
static void
test_route_failure_sample(void **state)
{
    fixture_t *f = *state;
    sllmp_route_state_t st;

    assert_int_equal(route_end1(f->s, "route:fs", "a", SLLMP_ROUTE_OK, 0, 100, 5, 1000), 0);
    assert_int_equal(route_end1(f->s, "route:fs", "b", SLLMP_ROUTE_FAIL, 0, -1, 5, 1000), 0);
    assert_int_equal(route1(f->s, "route:fs").latency_ms, 100);
    assert_int_equal(route_end1(f->s, "route:fs", "c", SLLMP_ROUTE_FAIL, 0, 4100, 5, 1000), 0);
    st = route1(f->s, "route:fs");
    assert_int_equal(st.latency_ms, 1100); /* 100 + 0.25 * 4000 */
    assert_int_equal(st.ttft_ms, -1);
    assert_int_equal(st.fails, 2);
    assert_int_equal(route_end1(f->s, "route:fs", "d", SLLMP_ROUTE_NEUTRAL, 0, 9000, 5, 1000), 0);
    assert_int_equal(route1(f->s, "route:fs").latency_ms, 1100);
    /* a deployment never measured gets the penalty as its first sample: no longer first */
    assert_int_equal(route_end1(f->s, "route:fs2", "a", SLLMP_ROUTE_FAIL, 1, 5000, 5, 1000), 0);
    st = route1(f->s, "route:fs2");
    assert_int_equal(st.ttft_ms, 5000);
    assert_int_equal(st.latency_ms, -1);
    assert_int_equal(route_end1(f->s, "route:fs2", "b", SLLMP_ROUTE_COOL, 1, 1000, 5, 1000), 1);
    assert_int_equal(route1(f->s, "route:fs2").ttft_ms, 4000);
}

/* FAIL: allowed_fails failures pass, the next one cools the deployment down (1, once). */
static void
test_route_fail_cooldown(void **state)
{
    fixture_t *f = *state;
    sllmp_route_state_t st;
    int64_t c1, c2;
    int started = 0;

    assert_int_equal(route_end1(f->s, "route:f", "a", SLLMP_ROUTE_FAIL, 0, -1, 2, 200), 0);
    assert_int_equal(route1(f->s, "route:f").fails, 1);
    assert_int_equal(route_end1(f->s, "route:f", "b", SLLMP_ROUTE_FAIL, 0, -1, 2, 200), 0);
    st = route1(f->s, "route:f");
    assert_int_equal(st.fails, 2);
    assert_int_equal(st.cool_ms, 0);
    assert_int_equal(route_end1(f->s, "route:f", "c", SLLMP_ROUTE_FAIL, 0, -1, 2, 200), 1);
    st = route1(f->s, "route:f");
    assert_int_equal(st.fails, 0); /* the count restarts */
    assert_true(st.cool_ms > 100 && st.cool_ms <= 200);
    c1 = st.cool_ms;
    sleep_ms(50);
    c2 = route1(f->s, "route:f").cool_ms;
    assert_true(c2 < c1 && c2 > 0);
    sleep_ms(200);
    st = route1(f->s, "route:f");
    assert_int_equal(st.cool_ms, 0);
    assert_int_equal(st.fails, 0);
    assert_int_equal(st.latency_ms, -1); /* failures feed no average */

    /* failures go on during a cooldown: it is pushed back, never started twice */
    for (int i = 0; i < 9; i++) {
        int rc = route_end1(f->s, "route:f", "d", SLLMP_ROUTE_FAIL, 0, -1, 2, 60000 + i * 1000);

        assert_true(rc == 0 || rc == 1);
        started += rc;
        assert_int_equal(route1(f->s, "route:f").fails, (i + 1) % 3);
    }
    assert_int_equal(started, 1);
    assert_true(route1(f->s, "route:f").cool_ms > 67000); /* pushed back by the 9th */

    /* the window: a count whose first failure is older than SLLMP_ROUTE_FAIL_WIN restarts */
    assert_int_equal(route_end1(f->s, "route:w", "a", SLLMP_ROUTE_FAIL, 0, -1, 1, 200), 0);
    route_subj(f->s, "route:w")->fail_start -= SLLMP_ROUTE_FAIL_WIN;
    assert_int_equal(route1(f->s, "route:w").fails, 0);
    assert_int_equal(route_end1(f->s, "route:w", "b", SLLMP_ROUTE_FAIL, 0, -1, 1, 200), 0);
    assert_int_equal(route1(f->s, "route:w").fails, 1);
    assert_int_equal(route_end1(f->s, "route:w", "c", SLLMP_ROUTE_FAIL, 0, -1, 1, 200), 1);

    /* no failure allowed: the first cools it down; a cooldown of 0 ms cools nothing */
    assert_int_equal(route_end1(f->s, "route:z", "a", SLLMP_ROUTE_FAIL, 0, -1, 0, 200), 1);
    assert_true(route1(f->s, "route:z").cool_ms > 0);
    assert_int_equal(route_end1(f->s, "route:n", "a", SLLMP_ROUTE_FAIL, 0, -1, 0, 0), 0);
    assert_int_equal(route1(f->s, "route:n").cool_ms, 0);
    assert_int_equal(route1(f->s, "route:n").fails, 0);
    assert_consistent(f->s);
}

/* COOL cools down at once; no cooldown ever shortens one running. */
static void
test_route_cool(void **state)
{
    fixture_t *f = *state;
    sllmp_route_state_t st;
    int64_t until;

    assert_int_equal(f->s->ops->route_begin(f->s, "route:c", "a", 60000), 0);
    assert_int_equal(route_end1(f->s, "route:c", "a", SLLMP_ROUTE_COOL, 0, -1, 5, 5000), 1);
    st = route1(f->s, "route:c");
    assert_true(st.cool_ms > 4800 && st.cool_ms <= 5000);
    assert_int_equal(st.fails, 0); /* not counted as a failure */
    assert_int_equal(st.in_flight, 0);
    until = route_subj(f->s, "route:c")->cool_until;

    /* shorter ones, by COOL or by FAIL, leave it as it is */
    assert_int_equal(route_end1(f->s, "route:c", "b", SLLMP_ROUTE_COOL, 0, -1, 5, 200), 0);
    assert_int_equal(route_end1(f->s, "route:c", "c", SLLMP_ROUTE_FAIL, 0, -1, 0, 200), 0);
    assert_int_equal(route_subj(f->s, "route:c")->cool_until, until);
    sleep_ms(250);
    assert_true(route1(f->s, "route:c").cool_ms > 4500);

    /* a longer one pushes it back, but started nothing */
    assert_int_equal(route_end1(f->s, "route:c", "d", SLLMP_ROUTE_COOL, 0, -1, 5, 60000), 0);
    assert_true(route1(f->s, "route:c").cool_ms > 59000);

    /* after the end of a cooldown, the next one starts again */
    assert_int_equal(route_end1(f->s, "route:c2", "a", SLLMP_ROUTE_COOL, 0, -1, 5, 100), 1);
    sleep_ms(150);
    assert_int_equal(route1(f->s, "route:c2").cool_ms, 0);
    assert_int_equal(route_end1(f->s, "route:c2", "b", SLLMP_ROUTE_COOL, 0, -1, 5, 100), 1);
}

/* NEUTRAL ends the lease and changes nothing else. */
static void
test_route_neutral(void **state)
{
    fixture_t *f = *state;
    sllmp_route_state_t before, after;

    assert_int_equal(route_end1(f->s, "route:nt", "a", SLLMP_ROUTE_OK, 0, 100, 3, 60000), 0);
    assert_int_equal(route_end1(f->s, "route:nt", "b", SLLMP_ROUTE_OK, 1, 20, 3, 60000), 0);
    assert_int_equal(route_end1(f->s, "route:nt", "c", SLLMP_ROUTE_FAIL, 0, -1, 3, 60000), 0);
    assert_int_equal(f->s->ops->route_begin(f->s, "route:nt", "d", 60000), 0);
    before = route1(f->s, "route:nt");
    assert_int_equal(before.in_flight, 1);
    assert_int_equal(route_end1(f->s, "route:nt", "d", SLLMP_ROUTE_NEUTRAL, 1, 5000, 0, 60000), 0);
    after = route1(f->s, "route:nt");
    assert_int_equal(after.in_flight, 0);
    assert_int_equal(after.latency_ms, 100);
    assert_int_equal(after.ttft_ms, 20);
    assert_int_equal(after.fails, 1);
    assert_int_equal(after.cool_ms, 0);
}

/* Two processes see and change the same state. */
static void
test_route_processes(void **state)
{
    fixture_t *f = *state;
    sllmp_route_state_t st;
    pid_t pids[4];
    int status;

    pids[0] = fork();
    assert_true(pids[0] >= 0);
    if (pids[0] == 0) {
        char err[256];
        sllmp_store_t *s = sllmp_store_local_open(f->path, err, sizeof(err));
        int rc;

        if (s == NULL || s->ops->route_begin(s, "route:p", "held", 60000) != 0 ||
            s->ops->route_end(s, "route:p", "x", SLLMP_ROUTE_OK, 0, 300, 0, 0) != 0) {
            _exit(255);
        }
        rc = s->ops->route_end(s, "route:p", "y", SLLMP_ROUTE_FAIL, 0, -1, 0, 60000);
        _exit(rc);
    }
    assert_int_equal(waitpid(pids[0], &status, 0), pids[0]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1); /* the child started the cooldown */
    st = route1(f->s, "route:p");
    assert_int_equal(st.in_flight, 1);
    assert_int_equal(st.latency_ms, 300);
    assert_true(st.cool_ms > 59000);
    /* so this process's does not start one */
    assert_int_equal(route_end1(f->s, "route:p", "z", SLLMP_ROUTE_COOL, 0, -1, 0, 60000), 0);
    assert_int_equal(route_end1(f->s, "route:p", "held", SLLMP_ROUTE_NEUTRAL, 0, 0, 0, 0), 0);
    assert_int_equal(route1(f->s, "route:p").in_flight, 0);

    /* four at once, 50 attempts each: every lease counted */
    for (int i = 0; i < 4; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            for (int j = 0; j < 50; j++) {
                char resid[16];

                snprintf(resid, sizeof(resid), "%d-%d", i, j);
                if (f->s->ops->route_begin(f->s, "route:many", resid, 60000) != 0) {
                    _exit(255);
                }
            }
            _exit(0);
        }
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(route1(f->s, "route:many").in_flight, 200);
    assert_consistent(f->s);
}

/*
 * The sweep deletes a route with nothing to keep; it keeps a running cooldown, failures in
 * their window, and averages not idle (the averages alone only while subjects are not short).
 * Repair leaves the fields as they are.
 */
static void
test_route_sweep(void **state)
{
    fixture_t *f = *state;
    mapping_t *m = map_of(f->s);
    const char *ids[5] = {"route:s-idle", "route:s-cool", "route:s-fail", "route:s-avg",
                          "route:s-lease"};
    sllmp_route_state_t st;

    assert_int_equal(f->s->ops->route_begin(f->s, ids[0], "a", 60000), 0);
    assert_int_equal(route_end1(f->s, ids[0], "a", SLLMP_ROUTE_NEUTRAL, 0, 0, 3, 0), 0);
    assert_int_equal(route_end1(f->s, ids[1], "a", SLLMP_ROUTE_COOL, 0, -1, 3, 60000), 1);
    assert_int_equal(route_end1(f->s, ids[2], "a", SLLMP_ROUTE_FAIL, 0, -1, 3, 60000), 0);
    assert_int_equal(route_end1(f->s, ids[3], "a", SLLMP_ROUTE_OK, 1, 42, 3, 60000), 0);
    assert_int_equal(f->s->ops->route_begin(f->s, ids[4], "a", 60000), 0);
    assert_int_not_equal(subject_find(m, ids[0], 0), 0);

    /* repair keeps them */
    assert_int_equal(store_lock(m), 0);
    repair(m);
    store_unlock(m);
    assert_consistent(f->s);
    st = route1(f->s, ids[1]);
    assert_true(st.cool_ms > 59000);
    assert_int_equal(route1(f->s, ids[2]).fails, 1);
    assert_int_equal(route1(f->s, ids[3]).ttft_ms, 42);
    assert_int_equal(route1(f->s, ids[4]).in_flight, 1);

    assert_int_equal(store_lock(m), 0);
    m->hdr->gc_ms = 0;
    gc(m, sllmp_wall_ms(), 0);
    store_unlock(m);
    assert_int_equal(subject_find(m, ids[0], 0), 0);
    for (int i = 1; i < 5; i++) {
        assert_int_not_equal(subject_find(m, ids[i], 0), 0);
    }

    /* subjects short: the averages alone do not keep a route */
    assert_int_equal(store_lock(m), 0);
    m->hdr->gc_ms = 0;
    gc(m, sllmp_wall_ms(), 1);
    store_unlock(m);
    assert_int_equal(subject_find(m, ids[3], 0), 0);
    assert_int_equal(route1(f->s, ids[3]).ttft_ms, -1);

    /* ended: the cooldown, the failure window, the lease */
    route_subj(f->s, ids[1])->cool_until = sllmp_wall_ms() - 1;
    route_subj(f->s, ids[2])->fail_start -= SLLMP_ROUTE_FAIL_WIN;
    assert_int_equal(route_end1(f->s, ids[4], "a", SLLMP_ROUTE_NEUTRAL, 0, 0, 3, 0), 0);
    assert_int_equal(store_lock(m), 0);
    m->hdr->gc_ms = 0;
    gc(m, sllmp_wall_ms(), 0);
    store_unlock(m);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(subject_find(m, ids[i], 0), 0);
    }
    assert_int_equal(m->hdr->subj_live, 0);
    assert_consistent(f->s);
}

/* A new lease needs an entry: none left, -1 and nothing recorded; a renewal needs none. */
static void
test_route_full_pool(void **state)
{
    fixture_t *f = *state;
    mapping_t *m = map_of(f->s);
    hdr_t *hd = m->hdr;

    assert_int_equal(f->s->ops->route_begin(f->s, "route:full", "a", 60000), 0);
    hd->ent_hw = LOCAL_NENTRIES; /* used up by entries nothing reaches */
    hd->gc_ms = 0;
    assert_int_equal(f->s->ops->route_begin(f->s, "route:full", "b", 60000), -1);
    assert_int_equal(f->s->ops->route_begin(f->s, "route:full", "a", 60000), 0);
    assert_int_equal(route1(f->s, "route:full").in_flight, 1);
    /* ends need no entry */
    assert_int_equal(route_end1(f->s, "route:full", "a", SLLMP_ROUTE_OK, 0, 9, 3, 0), 0);
    assert_int_equal(route1(f->s, "route:full").latency_ms, 9);
    repair(m);
    assert_consistent(f->s);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_period_parse),
        cmocka_unit_test(test_window_start),
        cmocka_unit_test(test_subject_id),
        T(test_open_file),
        T(test_open_foreign),
        T(test_open_other_version),
        T(test_reboot_resets_lock),
        T(test_rpm_exact),
        T(test_rpm_window_slides),
        T(test_cancel_undoes),
        T(test_tpm_corrected_at_settle),
        T(test_tpm_oversized_and_settle_after_window),
        T(test_parallel_leases),
        T(test_renew_keeps_lease),
        T(test_budget),
        T(test_budget_total),
        T(test_budget_held_by_leases),
        T(test_check_order),
        T(test_subjects_in_order),
        T(test_report_window_resets),
        T(test_usage_reads_only),
        T(test_each_prefix),
        T(test_processes_rpm_exact),
        T(test_holder_killed_inside_lock),
        T(test_worker_killed_mid_operations),
        T(test_repair_rebuilds),
        T(test_full_tables),
        T(test_settle_with_full_pool),
        T(test_sweep_evicts_reports),
        T(test_route_unknown),
        T(test_route_in_flight),
        T(test_route_lease_expires),
        T(test_route_moving_average),
        T(test_route_failure_sample),
        T(test_route_fail_cooldown),
        T(test_route_cool),
        T(test_route_neutral),
        T(test_route_processes),
        T(test_route_sweep),
        T(test_route_full_pool),
    };
#undef T

    return cmocka_run_group_tests_name("limits_local", tests, NULL, NULL);
}
