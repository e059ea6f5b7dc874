/*
 * Limits and spend: the store interface shared by the Redis backend (src/store/redis.c) and the
 * local one (src/store/local.c, a memory-mapped file shared by every process of one host).
 *
 * A *subject* is what a limit is counted against: a virtual key, a user, a team, the whole
 * gateway ("global:all", litellm_settings.max_budget), a deployment, or a model (models carry
 * no limits, only the spend report). Each subject has its own state,
 * changed atomically (one Lua script under one hash tag in Redis; under one process-shared lock
 * in the local file), so the limits are exact under any concurrency:
 *
 *   rpm       a sliding-window log of the requests of the last 60 s: a request is let in only
 *             while fewer than rpm were let in during the last 60 s. Never fixed windows.
 *   tpm       the same log weighted by tokens: a request reserves its worst case (prompt
 *             estimate + max_tokens) and its entry is corrected to the actual usage at settle.
 *             A reservation larger than tpm is counted as tpm (it waits for an empty minute).
 *   parallel  the leases alive: one per request from reserve to settle.
 *   budget    spend in the current budget window + the cost reserved by the leases alive +
 *             this request's worst-case cost must not pass the budget. Windows are fixed and
 *             aligned to UTC: 1h, 1d (midnight UTC), 7d (Monday 00:00 UTC), 30d (30-day blocks
 *             since the epoch), or total (never resets). A refusal that only the reserved cost
 *             causes (spend + this request's cost fits) is "held": it passes once the requests
 *             in flight settle, so it is not final.
 *
 * Every reservation is a lease that expires (lease_ms) unless renewed or settled, so a worker
 * killed mid-request frees its parallel slot and its reserved budget by itself; its rpm and tpm
 * entries stay counted, as the request did happen.
 *
 * Time is the store's: Redis TIME for Redis, CLOCK_REALTIME for the local file, so the clocks of
 * the application hosts do not matter. Money is counted in nano-USD (int64) so sums are exact.
 */
#ifndef SLLMP_LIMITS_H
#define SLLMP_LIMITS_H

#include "sllmp/buf.h"
#include "sllmp/types.h"

#include <stdint.h>
#include <stdio.h>

typedef enum {
    SLLMP_LIM_RPM = 0,
    SLLMP_LIM_TPM,
    SLLMP_LIM_PARALLEL,
    SLLMP_LIM_BUDGET,
    SLLMP_LIM_NKINDS
} sllmp_limit_kind_t;

#define SLLMP_NANO_PER_USD 1000000000.0
#define SLLMP_SUBJECT_MAX  100   /* bytes of a subject id, NUL included */
#define SLLMP_RESID_MAX    33    /* a reservation id: 32 hex characters + NUL */
#define SLLMP_LIMIT_WINDOW 60000 /* ms, the rpm and tpm window */

/* The limits of one subject; 0 (or budget < 0) means that kind is not limited. */
typedef struct {
    long rpm;
    long tpm;
    long parallel;
    int64_t budget_nano;  /* < 0: no budget */
    long budget_period_s; /* 0: total (never resets); else 3600, 86400, 604800 or
                           * SLLMP_PERIOD_MONTH */
} sllmp_limits_t;

/*
 * A subject with its limits. id is "<kind>:<name>", e.g. "key:alice", "user:bob", "team:eng",
 * "dep:gpt-4o:3fa9c1d2e4b5a6f7", "model:gpt-4o"; made by sllmp_subject_id(), so it holds only
 * [A-Za-z0-9._@:-] (no hash-tag braces) and fits SLLMP_SUBJECT_MAX.
 * report_period_s is the window of the spend report when there is no budget (default 86400).
 */
typedef struct {
    char id[SLLMP_SUBJECT_MAX];
    sllmp_limits_t lim;
    long report_period_s;
} sllmp_subject_t;

/* What one request asks of every subject. */
typedef struct {
    char id[SLLMP_RESID_MAX]; /* random, unique per request (not the client's X-Request-ID) */
    int64_t tokens;           /* worst-case tokens, for tpm */
    int64_t cost_nano;        /* worst-case cost, for the budget */
    int64_t lease_ms;
} sllmp_reservation_t;

/* The answer of reserve for one subject. */
typedef struct {
    int allowed;
    sllmp_limit_kind_t refused; /* which limit said no, when !allowed */
    int64_t retry_after_ms;     /* when it may succeed; -1: not by waiting (total budget, or a
                                   reservation that can never fit) */
    int held; /* a budget refusal only the cost reserved by requests in flight causes: it fits
                 once they settle; retry_after_ms is when the first of their leases expires */
    /* for the x-ratelimit-* headers; limit 0 when that kind is not limited. After a successful
     * reserve, remaining counts this request as taken. reset = ms until the window is whole. */
    int64_t req_limit, req_remaining, req_reset_ms;
    int64_t tok_limit, tok_remaining, tok_reset_ms;
} sllmp_verdict_t;

/* What a subject looks like now, for `sllmp usage`. */
typedef struct {
    char id[SLLMP_SUBJECT_MAX];
    int64_t requests_1m;    /* requests in the last 60 s (when rpm is limited, else -1) */
    int64_t tokens_1m;      /* tokens in the last 60 s (when tpm is limited, else -1) */
    int64_t in_flight;      /* leases alive (when parallel or budget is limited, else -1) */
    int64_t reserved_nano;  /* cost reserved by the leases alive */
    int64_t window_start_s; /* UTC seconds; the window of the fields below */
    long window_period_s;   /* 0: total */
    int64_t spent_nano;     /* settled in the window */
    int64_t requests;       /* settled in the window */
    int64_t tokens_in;      /* settled in the window: prompt tokens */
    int64_t tokens_out;     /* settled in the window: completion tokens */
} sllmp_subject_usage_t;

/*
 * The routing state of one deployment (issue 7), shared like the limits by every process of the
 * host (local file) or every host (Redis). Ids are made by sllmp_subject_id(.., "route", ..).
 */
typedef struct {
    int64_t in_flight;  /* attempts under way: leases alive */
    int64_t latency_ms; /* moving average of unstreamed attempts' total time; -1: none yet */
    int64_t ttft_ms;    /* moving average of streamed attempts' time to first byte; -1: none */
    int64_t cool_ms;    /* ms until its cooldown ends; 0: not cooling down */
    int64_t fails;      /* failures counted in the current failure window (60 s) */
} sllmp_route_state_t;

/* How an attempt ended, for route_end. */
typedef enum {
    SLLMP_ROUTE_OK = 0, /* answered: the moving average takes ms */
    SLLMP_ROUTE_FAIL,   /* a failure that counts towards a cooldown (5xx, timeout, network) */
    SLLMP_ROUTE_COOL,   /* a failure that cools it down at once (429, 401, 403, 404) */
    SLLMP_ROUTE_NEUTRAL /* says nothing of the deployment (a bad request, a client gone) */
} sllmp_route_outcome_t;

#define SLLMP_ROUTE_ALPHA    0.25  /* weight of a new sample in the moving averages */
#define SLLMP_ROUTE_FAIL_WIN 60000 /* ms: failures older than this are forgotten */
/* A timed-out attempt counts in the moving average as an answer this many times slower than
 * the wait it cost (LiteLLM records a flat 1000 s): behind any deployment that answers within
 * the timeout, and back in front after a few quick answers once it gets traffic again. */
#define SLLMP_ROUTE_TIMEOUT_PENALTY 10

typedef struct sllmp_store_s sllmp_store_t;

/*
 * A backend. Every call may fail with -1 (store unreachable, timed out, file unusable): the
 * caller applies the on_error policy. Calls never block longer than the configured timeouts.
 * A store is used by one thread at a time (each accept thread opens its own).
 */
typedef struct {
    const char *name; /* "redis", "local" */

    /*
     * For each of the n subjects, in order: drops what expired, checks every limited kind,
     * and when all pass records the reservation (rpm entry, tpm entry of res->tokens, a lease
     * expiring in res->lease_ms holding res->cost_nano). out[i] gets the verdict. A subject
     * that refuses records nothing; the subjects before it keep their reservation (the caller
     * cancels them). Returns 0 when every verdict is in out (allowed or not), -1 on failure.
     * The subjects after a refusing one may be left unchecked (local: nothing recorded, the
     * verdict allowed = 0 with the refusal's kind and retry, limits 0) or checked and recorded
     * on their own (Redis): the caller cancels every subject whose verdict is allowed.
     */
    int (*reserve)(sllmp_store_t *s, const sllmp_subject_t *subj, size_t n,
                   const sllmp_reservation_t *res, sllmp_verdict_t *out);

    /*
     * Ends a reservation on each subject: the lease goes (its reserved cost returns), the tpm
     * entry becomes `tokens` (added at now when the entry already left the window and
     * tokens > 0), and the window's spend report gets cost_nano, one request, tokens_in and
     * tokens_out. Subjects that had no reservation (models, unlimited keys) get only the report.
     * cancel != 0 instead undoes the reservation entirely (rpm and tpm entries removed, nothing
     * reported): for a request refused by a later subject.
     */
    int (*settle)(sllmp_store_t *s, const sllmp_subject_t *subj, size_t n, const char *resid,
                  int64_t tokens, int64_t cost_nano, int64_t tokens_in, int64_t tokens_out,
                  int cancel);

    /* Pushes the lease of a reservation to now + lease_ms (a long stream). */
    int (*renew)(sllmp_store_t *s, const sllmp_subject_t *subj, size_t n, const char *resid,
                 int64_t lease_ms);

    /* The state of one subject (expired entries dropped first). 0, or -1. */
    int (*usage)(sllmp_store_t *s, const sllmp_subject_t *subj, sllmp_subject_usage_t *out);

    /* Calls fn with the id of every subject the store holds whose id starts with prefix. */
    int (*each)(sllmp_store_t *s, const char *prefix, void (*fn)(const char *id, void *arg),
                void *arg);

    /* ---- routing (issue 7) ---- */

    /* The state of n deployments, in order (expired leases dropped; a deployment never seen
     * reads in_flight 0, latency -1, ttft -1, cool 0, fails 0). 0, or -1. */
    int (*route_state)(sllmp_store_t *s, const char *const *ids, size_t n,
                       sllmp_route_state_t *out);

    /* An attempt starts, or renews its lease: the lease resid on the deployment expires at
     * now + lease_ms (created, or pushed back when it exists). 0, or -1. */
    int (*route_begin)(sllmp_store_t *s, const char *id, const char *resid, int64_t lease_ms);

    /*
     * An attempt ended: its lease goes, then by outcome: OK feeds ms into the moving average
     * of its kind (ttft when stream, else latency; the first sample sets it); FAIL counts one
     * failure (the count restarts when its window, opened by its first failure, is older than
     * SLLMP_ROUTE_FAIL_WIN) and, when the count passes allowed_fails, cools the deployment
     * down for cooldown_ms and restarts the count; COOL cools it down at once. A FAIL or COOL
     * with ms >= 0 also feeds ms into the average as an OK does (the caller's penalty for a
     * timeout); ms < 0: no sample. A cooldown never shortens one already running. Returns 1
     * when this call started a cooldown, 0 when not, -1 on failure.
     */
    int (*route_end)(sllmp_store_t *s, const char *id, const char *resid,
                     sllmp_route_outcome_t outcome, int stream, int64_t ms, long allowed_fails,
                     int64_t cooldown_ms);

    /* ---- kept documents (the Responses API's stored responses); Redis only, NULL here in
     * the local backend (which keeps them in files: include/sllmp/keep.h) ---- */

    /* The document `name` into out (appended): 1, 0 when there is none, -1 on failure. */
    int (*doc_get)(sllmp_store_t *s, const char *name, sllmp_buf_t *out);
    /* Sets it, expiring in ttl_s seconds. 0, or -1. */
    int (*doc_put)(sllmp_store_t *s, const char *name, const char *data, size_t len, long ttl_s);
    /* Deletes it: 1, 0 when there was none, -1 on failure. */
    int (*doc_del)(sllmp_store_t *s, const char *name);
    /* Deletes every document whose name starts with prefix: how many, or -1 on failure. */
    long (*doc_flush)(sllmp_store_t *s, const char *prefix);

    void (*close)(sllmp_store_t *s);
} sllmp_store_ops_t;

struct sllmp_store_s {
    const sllmp_store_ops_t *ops;
};

/* Redis: "redis://[:password@]host[:port][/db]" or "unix:///path[?db=N]"; timeouts in ms. */
sllmp_store_t *sllmp_store_redis_open(const char *url, long connect_timeout_ms, long timeout_ms,
                                      char *err, size_t errlen);

/* The local backend on the file at path (created 0600 when missing). */
sllmp_store_t *sllmp_store_local_open(const char *path, char *err, size_t errlen);

/* The same on a file the pool already uses, for readers (`sllmp usage`): NULL with a message
 * when it is missing or not this version's, which it never creates nor initialises again. */
sllmp_store_t *sllmp_store_local_attach(const char *path, char *err, size_t errlen);

/*
 * The store a config asks for: Redis when sllmp.redis.url is set (or backend: redis), else the
 * local file (sllmp.limits.local_file, else $SLLMP_RUNDIR/limits.db, else var/limits.db).
 * ident gets a string that differs when the store would (to cache one store per thread).
 */
sllmp_store_t *sllmp_store_open(const sllmp_conf_t *c, char *err, size_t errlen);
void sllmp_store_ident(const sllmp_conf_t *c, char *buf, size_t len);

/* Whether the config's store is Redis (else the local file). */
int sllmp_store_is_redis(const sllmp_conf_t *c);

/* The local file the config uses: 0 and the path, or -1 when it uses Redis. */
int sllmp_store_local_path(const sllmp_conf_t *c, char *buf, size_t len);

/* `sllmp usage`: one line (or a JSON array entry) per key, team, user, deployment and model. */
int sllmp_usage_report(const sllmp_conf_t *c, int json, FILE *out, FILE *err);

/* Makes "<kind>:<name>" with characters outside [A-Za-z0-9._@-] or a long name replaced by
 * "~" and the first 32 hex digits of the name's SHA-256. */
void sllmp_subject_id(char out[SLLMP_SUBJECT_MAX], const char *kind, const char *name);

/* The period of a subject's spend report: its budget's when it has one, else report_period_s
 * (default 86400). */
long sllmp_report_period(const sllmp_subject_t *s);

/* The period "30d" (and "1mo"): the UTC calendar month, as LiteLLM resets monthly budgets on
 * the 1st. Its code is 30 days' seconds; its windows last 28 to 31 days. */
#define SLLMP_PERIOD_MONTH 2592000

/* The start (UTC seconds) of the window of `period_s` (0: total -> 0) that holds now_s: hours,
 * UTC days, weeks from Monday, calendar months. */
int64_t sllmp_window_start(int64_t now_s, long period_s);

/* The end of the window that starts at start_s (the next one's start); INT64_MAX for a total. */
int64_t sllmp_window_end(int64_t start_s, long period_s);

/* Parses "1h", "1d", "7d", "30d", "total" (and LiteLLM's "60m", "24h", "1w", "1mo") into seconds
 * (total: 0); -1 when not one of them. */
long sllmp_period_parse(const char *s);

/* The inverse: "1h", "1d", "7d", "30d", "total" (any other period reads "total"). */
const char *sllmp_period_name(long period_s);

/* Formats ms as a Go duration, as OpenAI's x-ratelimit-reset-* headers: "12ms", "1s", "6m0s". */
void sllmp_duration_format(int64_t ms, char *buf, size_t len);

#endif
