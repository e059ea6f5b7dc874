/*
 * The Redis limit store against a real redis-server (started here on a unix socket; the tests
 * skip when there is none), side by side with the local store: the same calls on both must give
 * the same answers (include/sllmp/limits.h). Also what only Redis has: the keys' TTLs.
 */
#include "sllmp/limits.h"
#include "sllmp/util.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* included, not linked, to reach the connection (TTLs, FLUSHALL) */
#include "../../src/store/redis.c"
#include "store_helpers.h"

enum { LOCAL, REDIS, NSTORES };

typedef struct {
    char dir[64];
    char sock[96];
    char file[96];
    pid_t redis;
    sllmp_store_t *st[NSTORES];
} fixture_t;

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0) {
    }
}

static int
group_setup(void **state)
{
    fixture_t *f = sllmp_xcalloc(1, sizeof(*f));
    struct stat st;

    snprintf(f->dir, sizeof(f->dir), "/tmp/sllmp-redis-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    snprintf(f->sock, sizeof(f->sock), "%s/redis.sock", f->dir);
    snprintf(f->file, sizeof(f->file), "%s/limits", f->dir);
    f->redis = fork();
    if (f->redis == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", f->sock, "--save", "",
               "--appendonly", "no", "--dir", f->dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && stat(f->sock, &st) < 0; i++) {
        if (waitpid(f->redis, NULL, WNOHANG) == f->redis) {
            f->redis = 0; /* no redis-server here: the tests skip */
            break;
        }
        sleep_ms(10);
    }
    *state = f;
    return 0;
}

static int
group_teardown(void **state)
{
    fixture_t *f = *state;

    if (f->redis > 0) {
        kill(f->redis, SIGTERM);
        waitpid(f->redis, NULL, 0);
    }
    unlink(f->sock);
    rmdir(f->dir);
    free(f);
    return 0;
}

static redisReply *
redis_do(fixture_t *f, const char *fmt, ...)
{
    rstore_t *s = (rstore_t *)f->st[REDIS];
    redisReply *rep;
    va_list ap;

    drain(s);
    assert_int_equal(connect_now(s), 0);
    va_start(ap, fmt);
    rep = redisvCommand(s->c, fmt, ap);
    va_end(ap);
    assert_non_null(rep);
    return rep;
}

/* Both stores, empty. */
static int
setup(void **state)
{
    fixture_t *f = *state;
    char url[128], err[256] = "";

    if (f->redis <= 0) {
        return 0;
    }
    unlink(f->file);
    f->st[LOCAL] = sllmp_store_local_open(f->file, err, sizeof(err));
    snprintf(url, sizeof(url), "unix://%s", f->sock);
    f->st[REDIS] = sllmp_store_redis_open(url, 1000, 1000, err, sizeof(err));
    if (f->st[LOCAL] == NULL || f->st[REDIS] == NULL) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    freeReplyObject(redis_do(f, "FLUSHALL"));
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    for (int i = 0; i < NSTORES; i++) {
        if (f->st[i] != NULL) {
            f->st[i]->ops->close(f->st[i]);
            f->st[i] = NULL;
        }
    }
    unlink(f->file);
    return 0;
}

#define NEED_REDIS(f)                                                                              \
    do {                                                                                           \
        if ((f)->redis <= 0) {                                                                     \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Times measured on two clocks, a few ms apart: equal within this. */
#define SLACK_MS 250

static void
assert_near(int64_t a, int64_t b)
{
    if ((a < 0) != (b < 0) || llabs(a - b) > SLACK_MS) {
        fail_msg("%lld and %lld differ", (long long)a, (long long)b);
    }
}

/* The same reserve on both stores: the verdicts must agree. The local one is returned. */
static sllmp_verdict_t
reserve2(fixture_t *f, const sllmp_subject_t *subj, const sllmp_reservation_t *res)
{
    sllmp_verdict_t v[NSTORES];

    for (int i = 0; i < NSTORES; i++) {
        memset(&v[i], 0, sizeof(v[i]));
        assert_int_equal(f->st[i]->ops->reserve(f->st[i], subj, 1, res, &v[i]), 0);
    }
    assert_int_equal(v[LOCAL].allowed, v[REDIS].allowed);
    if (!v[LOCAL].allowed) {
        assert_int_equal(v[LOCAL].refused, v[REDIS].refused);
        assert_int_equal(v[LOCAL].held, v[REDIS].held);
        assert_near(v[LOCAL].retry_after_ms, v[REDIS].retry_after_ms);
    }
    assert_int_equal(v[LOCAL].req_limit, v[REDIS].req_limit);
    assert_int_equal(v[LOCAL].req_remaining, v[REDIS].req_remaining);
    assert_near(v[LOCAL].req_reset_ms, v[REDIS].req_reset_ms);
    assert_int_equal(v[LOCAL].tok_limit, v[REDIS].tok_limit);
    assert_int_equal(v[LOCAL].tok_remaining, v[REDIS].tok_remaining);
    assert_near(v[LOCAL].tok_reset_ms, v[REDIS].tok_reset_ms);
    return v[LOCAL];
}

static void
settle2(fixture_t *f, const sllmp_subject_t *subj, const char *resid, int64_t tokens,
        int64_t cost_nano, int64_t tin, int64_t tout, int cancel)
{
    for (int i = 0; i < NSTORES; i++) {
        assert_int_equal(
            f->st[i]->ops->settle(f->st[i], subj, 1, resid, tokens, cost_nano, tin, tout, cancel),
            0);
    }
}

static void
renew2(fixture_t *f, const sllmp_subject_t *subj, const char *resid, int64_t lease_ms)
{
    for (int i = 0; i < NSTORES; i++) {
        assert_int_equal(f->st[i]->ops->renew(f->st[i], subj, 1, resid, lease_ms), 0);
    }
}

/* The same usage on both: they must agree. The local one is returned. */
static sllmp_subject_usage_t
usage2(fixture_t *f, const sllmp_subject_t *subj)
{
    sllmp_subject_usage_t u[NSTORES];

    for (int i = 0; i < NSTORES; i++) {
        assert_int_equal(f->st[i]->ops->usage(f->st[i], subj, &u[i]), 0);
    }
    assert_int_equal(u[LOCAL].requests_1m, u[REDIS].requests_1m);
    assert_int_equal(u[LOCAL].tokens_1m, u[REDIS].tokens_1m);
    assert_int_equal(u[LOCAL].in_flight, u[REDIS].in_flight);
    assert_int_equal(u[LOCAL].reserved_nano, u[REDIS].reserved_nano);
    assert_int_equal(u[LOCAL].window_start_s, u[REDIS].window_start_s);
    assert_int_equal(u[LOCAL].window_period_s, u[REDIS].window_period_s);
    assert_int_equal(u[LOCAL].spent_nano, u[REDIS].spent_nano);
    assert_int_equal(u[LOCAL].requests, u[REDIS].requests);
    assert_int_equal(u[LOCAL].tokens_in, u[REDIS].tokens_in);
    assert_int_equal(u[LOCAL].tokens_out, u[REDIS].tokens_out);
    return u[LOCAL];
}

/* ---- the same answers on both stores ---- */

static void
test_same_rpm_tpm_boundaries(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:edges", 3, 1000, 0, -1, 0);
    sllmp_reservation_t r[4];
    sllmp_verdict_t v;

    NEED_REDIS(f);
    for (int i = 0; i < 4; i++) {
        r[i] = reservation(i < 2 ? 400 : 200, 0, 60000);
    }
    assert_true(reserve2(f, &k, &r[0]).allowed);
    assert_true(reserve2(f, &k, &r[1]).allowed);
    /* 800 + 200 is exactly tpm: passes; then rpm is exactly reached */
    v = reserve2(f, &k, &r[2]);
    assert_true(v.allowed);
    assert_int_equal(v.tok_remaining, 0);
    assert_int_equal(v.req_remaining, 0);
    v = reserve2(f, &k, &r[3]);
    assert_int_equal(v.refused, SLLMP_LIM_RPM);
    /* a cancel gives the place back; the tpm is full */
    settle2(f, &k, r[2].id, 0, 0, 0, 0, 1);
    v = reserve2(f, &k, &r[3]);
    assert_true(v.allowed);
    settle2(f, &k, r[3].id, 0, 0, 0, 0, 1);
    r[3].tokens = 201;
    assert_int_equal(reserve2(f, &k, &r[3]).refused, SLLMP_LIM_TPM);

    /* settle larger than the reserve, then the same settle again */
    settle2(f, &k, r[0].id, 900, 5, 600, 300, 0);
    usage2(f, &k);
    settle2(f, &k, r[0].id, 900, 5, 600, 300, 0);
    assert_int_equal(usage2(f, &k).tokens_1m, 1300);
    settle2(f, &k, "0123456789abcdef0123456789abcdef", 0, 0, 0, 0, 1);
    usage2(f, &k);
}

static void
test_same_budget_boundaries(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:money", 0, 0, 0, 1000, 86400);
    sllmp_reservation_t a = reservation(0, 600, 60000), b = reservation(0, 400, 60000);
    sllmp_reservation_t c = reservation(0, 1, 60000);
    sllmp_verdict_t v;

    NEED_REDIS(f);
    assert_true(reserve2(f, &k, &a).allowed);
    v = reserve2(f, &k, &b); /* 600 + 400: exactly the budget */
    assert_true(v.allowed);
    v = reserve2(f, &k, &c);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);
    assert_true(v.held);
    /* a costs more than it reserved: 700 spent + 400 held */
    settle2(f, &k, a.id, 0, 700, 0, 0, 0);
    v = reserve2(f, &k, &c);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);
    assert_true(v.held);
    settle2(f, &k, b.id, 0, 400, 0, 0, 0);
    v = reserve2(f, &k, &c);
    assert_int_equal(v.refused, SLLMP_LIM_BUDGET);
    assert_false(v.held);
    assert_int_equal(usage2(f, &k).spent_nano, 1100);
    /* a request dearer than the budget never fits */
    c.cost_nano = 1001;
    assert_int_equal(reserve2(f, &k, &c).retry_after_ms, -1);
}

/* A lease that expired is gone: renewing it does not bring it back (on Redis, a lease of the
 * same subject that lasts longer keeps the expired one's key alive). */
static void
test_same_renew_after_expiry(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:revive", 0, 0, 2, 1000, 0);
    sllmp_reservation_t a = reservation(0, 500, 50), b = reservation(0, 300, 60000);
    sllmp_reservation_t c = reservation(0, 100, 60000);

    NEED_REDIS(f);
    assert_true(reserve2(f, &k, &a).allowed);
    assert_true(reserve2(f, &k, &b).allowed);
    sleep_ms(120); /* a's worker was stopped past its lease */
    renew2(f, &k, a.id, 60000);
    assert_int_equal(usage2(f, &k).in_flight, 1);
    assert_int_equal(usage2(f, &k).reserved_nano, 300);
    assert_true(reserve2(f, &k, &c).allowed);
    /* a settles late: its spend counts, the others' leases stay */
    settle2(f, &k, a.id, 0, 100, 0, 0, 0);
    assert_int_equal(usage2(f, &k).in_flight, 2);
    assert_int_equal(usage2(f, &k).spent_nano, 100);
}

/* A shorter lease after a longer one (lease_ms lowered by a reload) leaves the longer in force:
 * the subject's lease keys live as long as its longest lease, not its newest. */
static void
test_same_shorter_lease_keeps_longer(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:lease-down", 0, 0, 2, 1000, 0);
    sllmp_reservation_t a = reservation(0, 500, 60000), b = reservation(0, 300, 50);

    NEED_REDIS(f);
    assert_true(reserve2(f, &k, &a).allowed);
    assert_true(reserve2(f, &k, &b).allowed);
    sleep_ms(150); /* b's lease is over, a's is not */
    assert_int_equal(usage2(f, &k).in_flight, 1);
    assert_int_equal(usage2(f, &k).reserved_nano, 500);
    renew2(f, &k, b.id, 50); /* expired: not revived, and a's keep their expiry */
    sleep_ms(100);
    assert_int_equal(usage2(f, &k).in_flight, 1);
}

/* Negative amounts count as 0 on both (a caller's bug must not give tokens or money back). */
static void
test_same_negative_amounts(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:negative", 0, 100, 0, 1000, 0);
    sllmp_reservation_t a = reservation(-500, -5000, 60000), b = reservation(100, 1000, 60000);

    NEED_REDIS(f);
    assert_true(reserve2(f, &k, &a).allowed);
    assert_int_equal(usage2(f, &k).tokens_1m, 0);
    assert_int_equal(usage2(f, &k).reserved_nano, 0);
    assert_true(reserve2(f, &k, &b).allowed);
    settle2(f, &k, a.id, -50, 0, 0, 0, 0);
    assert_int_equal(usage2(f, &k).tokens_1m, 100);
}

/* ---- Redis only ---- */

/*
 * A total budget's spend never expires, even when the subject's report had a window before (a
 * key without a budget, or with a 1d one, that is then given a total budget): that window's
 * expiry must not carry over to the total.
 */
static void
test_total_spend_does_not_expire(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:later-total", 0, 0, 0, -1, 0);
    sllmp_reservation_t a = reservation(0, 10, 60000);
    redisReply *rep;

    NEED_REDIS(f);
    k.report_period_s = 86400;
    settle2(f, &k, "-", 0, 5, 0, 0, 0); /* no budget yet: the report of the UTC day */
    rep = redis_do(f, "PTTL {sllmp:key:later-total}:b");
    assert_true(rep->integer > 0);
    freeReplyObject(rep);

    k.lim.budget_nano = 1000; /* then a total budget */
    assert_true(reserve2(f, &k, &a).allowed);
    settle2(f, &k, a.id, 0, 10, 0, 0, 0);
    assert_int_equal(usage2(f, &k).spent_nano, 10);
    rep = redis_do(f, "PTTL {sllmp:key:later-total}:b");
    assert_int_equal(rep->integer, -1);
    freeReplyObject(rep);
}

static void
test_period_change_takes_its_expiry(void **state)
{
    fixture_t *f = *state;
    sllmp_subject_t k = subject("key:day-then-month", 0, 0, 0, 1000000, SLLMP_PERIOD_MONTH);
    int64_t w = sllmp_window_start((int64_t)time(NULL), SLLMP_PERIOD_MONTH);
    int64_t e = sllmp_window_end(w, SLLMP_PERIOD_MONTH);
    redisReply *rep;

    NEED_REDIS(f);
    k.report_period_s = SLLMP_PERIOD_MONTH;
    /* what a 1d budget left on the day a month's window starts: the same window start, a
     * two-day expiry */
    rep = redis_do(f, "HSET {sllmp:key:day-then-month}:b w %lld spent 5 req 1 tin 0 tout 0",
                   (long long)w);
    freeReplyObject(rep);
    rep = redis_do(f, "PEXPIRE {sllmp:key:day-then-month}:b 172800000");
    freeReplyObject(rep);
    assert_int_equal(f->st[REDIS]->ops->settle(f->st[REDIS], &k, 1, "-", 0, 7, 0, 0, 0), 0);
    rep = redis_do(f, "PTTL {sllmp:key:day-then-month}:b");
    /* the month's: until a month's length after its end, far past two days */
    assert_true(rep->integer > (2 * e - w) * 1000 - (int64_t)time(NULL) * 1000 - 5000);
    assert_true(rep->integer <= (2 * e - w) * 1000 - (int64_t)time(NULL) * 1000 + 5000);
    freeReplyObject(rep);
    rep = redis_do(f, "HGET {sllmp:key:day-then-month}:b spent");
    assert_string_equal(rep->str, "12"); /* the day's spend is in the month's */
    freeReplyObject(rep);
}

/* The script's calendar months are the C code's (the stores must agree on a budget's window):
 * month_of() of the script's head, run by Redis, on a day of every month from 1970 to 2250. */
static void
test_month_windows_agree(void **state)
{
    fixture_t *f = *state;
    enum { N = 3400 };
    static const char script[] =
        LUA_HEAD "local out = {}\n"
                 "for i = 1, #ARGV do out[i] = I(month_of(tonumber(ARGV[i]))) end\n"
                 "return out\n";
    const char **argv = calloc(N + 3, sizeof(*argv));
    char(*vals)[24] = calloc(N, sizeof(*vals));
    int64_t at[N];
    redisReply *rep;
    rstore_t *st;

    NEED_REDIS(f);
    st = (rstore_t *)f->st[REDIS];
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = "0";
    for (int i = 0; i < N; i++) {
        /* 30.4 days apart, at a time of day that moves: every month, near its edges too */
        at[i] = (int64_t)i * 2626560 + (int64_t)(i * 7919) % 86400;
        snprintf(vals[i], sizeof(vals[i]), "%lld", (long long)at[i]);
        argv[i + 3] = vals[i];
    }
    drain(st);
    assert_int_equal(connect_now(st), 0);
    rep = redisCommandArgv(st->c, N + 3, argv, NULL);
    assert_non_null(rep);
    if (rep->type != REDIS_REPLY_ARRAY) {
        fail_msg("EVAL: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "not an array");
    }
    assert_int_equal(rep->elements, N);
    for (int i = 0; i < N; i++) {
        long long got = strtoll(rep->element[i]->str, NULL, 10);

        if (got != sllmp_window_start(at[i], SLLMP_PERIOD_MONTH)) {
            fail_msg("%lld: the script says %lld, C %lld", (long long)at[i], got,
                     (long long)sllmp_window_start(at[i], SLLMP_PERIOD_MONTH));
        }
    }
    freeReplyObject(rep);
    free(vals);
    free(argv);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_same_rpm_tpm_boundaries),     T(test_same_budget_boundaries),
        T(test_same_renew_after_expiry),     T(test_same_negative_amounts),
        T(test_total_spend_does_not_expire), T(test_period_change_takes_its_expiry),
        T(test_month_windows_agree),         T(test_same_shorter_lease_keeps_longer),
    };
#undef T

    return cmocka_run_group_tests_name("limits_redis", tests, group_setup, group_teardown);
}
