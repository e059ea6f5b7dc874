/*
 * Limits and spend (include/sllmp/limits.h has the semantics).
 *
 * pre       reserves the request's worst case on every subject it falls under: its key, the
 *           key's team, the end user (when `users:` has an entry for them or a "*"), the
 *           gateway as a whole (litellm_settings.max_budget), the deployment (litellm_params
 *           rpm/tpm). Refused: a 429 with Retry-After and the
 *           x-ratelimit-* headers; the subjects that had said yes are cancelled.
 * keepalive renews the leases of a long request.
 * complete  settles with the actual usage and cost, and reports the spend of the key, team,
 *           user and model, whatever the outcome.
 *
 * The store is one per accept thread (Redis connection or the local file), cached by what the
 * config asks for. When it cannot be reached, each limit kind follows sllmp.redis.on_error:
 * open lets the request through (logged), closed answers 503 limits_unavailable.
 */
#include "sllmp/conf.h"
#include "sllmp/core.h"
#include "sllmp/limits.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"
#include "sllmp/usage.h"
#include "sllmp/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUBJECTS 6
#define STORES       4 /* stores cached per thread (one per distinct config backend) */

/* ---------------------------------------------------------------- per-thread stores */

typedef struct {
    char ident[4200];
    sllmp_store_t *store;
    int64_t failed_at; /* the open failed: not retried for a second */
} cached_store_t;

struct sllmp_limits_cache_s {
    cached_store_t c[STORES];
    int next;
};

sllmp_store_t *
sllmp_thread_store(sllmp_req_t *r)
{
    sllmp_worker_ctx_t *w = r->worker;
    char ident[sizeof(((cached_store_t *)0)->ident)];
    char err[256];
    cached_store_t *slot;

    if (w == NULL) {
        return NULL;
    }
    if (w->limits == NULL) {
        w->limits = sllmp_xcalloc(1, sizeof(*w->limits));
    }
    sllmp_store_ident(r->conf, ident, sizeof(ident));
    slot = NULL;
    for (int i = 0; i < STORES && slot == NULL; i++) {
        if (strcmp(w->limits->c[i].ident, ident) == 0) {
            slot = &w->limits->c[i];
        }
    }
    if (slot != NULL && (slot->store != NULL || sllmp_now_ms() - slot->failed_at < 1000)) {
        return slot->store; /* open, or failed to open less than a second ago */
    }
    if (slot == NULL) {
        slot = &w->limits->c[w->limits->next];
        w->limits->next = (w->limits->next + 1) % STORES;
        if (slot->store != NULL) {
            slot->store->ops->close(slot->store);
        }
        memset(slot, 0, sizeof(*slot));
        snprintf(slot->ident, sizeof(slot->ident), "%s", ident);
    }
    slot->store = sllmp_store_open(r->conf, err, sizeof(err));
    if (slot->store == NULL) {
        slot->failed_at = sllmp_now_ms();
        sllmp_log(r->id, SLLMP_LOG_ERROR, "limits store: %s", err);
    }
    return slot->store;
}

void
sllmp_limits_cache_free(sllmp_limits_cache_t *lc)
{
    if (lc == NULL) {
        return;
    }
    for (int i = 0; i < STORES; i++) {
        if (lc->c[i].store != NULL) {
            lc->c[i].store->ops->close(lc->c[i].store);
        }
    }
    free(lc);
}

/* ---------------------------------------------------------------- the request's subjects */

typedef struct {
    sllmp_subject_t subj[MAX_SUBJECTS];
    const char *label[MAX_SUBJECTS]; /* "key alice", for messages */
    size_t nlimited;                 /* subj[0 .. nlimited) have limits */
    size_t n;                        /* and the rest only get the spend report */
    sllmp_reservation_t res;
    sllmp_store_t *store;
    int reserved; /* subj[0 .. nlimited) hold (or, after a store failure, may hold) it */
    int cancel;   /* answered 503 after a store failure: undo what may have been recorded */
    int skip;     /* refused by a limit, or no store at all: settle nothing */
    int costed;   /* res holds the worst case */

    /* the deployment of the current attempt, when it has rpm/tpm of its own: reserved per
     * attempt, as retries and fallbacks move the request between deployments */
    sllmp_subject_t dep;
    char dep_res[SLLMP_RESID_MAX];
    int dep_held; /* dep holds dep_res, settled at complete with what the answer used */
    void (*also)(sllmp_req_t *r); /* another keepalive to run with ours (the router's) */
} lim_ctx_t;

/* Adds a subject; id, when not NULL, is its store id (else made from kind and name). */
static void
add(sllmp_req_t *r, lim_ctx_t *x, const char *kind, const char *name, const sllmp_limits_t *lim,
    const char *id)
{
    sllmp_subject_t s;
    size_t at;

    memset(&s, 0, sizeof(s));
    if (id != NULL) {
        snprintf(s.id, sizeof(s.id), "%s", id);
    } else {
        sllmp_subject_id(s.id, kind, name);
    }
    if (lim != NULL) {
        s.lim = *lim;
    } else {
        s.lim.budget_nano = -1;
    }
    s.report_period_s = 86400;
    if (sllmp_limits_any(&s.lim)) {
        /* limited subjects first: shift the report-only ones up */
        at = x->nlimited++;
        memmove(&x->subj[at + 1], &x->subj[at], (x->n - at) * sizeof(s));
        memmove(&x->label[at + 1], &x->label[at], (x->n - at) * sizeof(x->label[0]));
    } else {
        at = x->n;
    }
    x->subj[at] = s;
    x->label[at] = strcmp(kind, "global") == 0
                       ? "the gateway (every request)"
                       : sllmp_arena_printf(r->arena, "%s %s",
                                            strcmp(kind, "dep") == 0 ? "deployment" : kind, name);
    x->n++;
}

static void
subjects(sllmp_req_t *r, lim_ctx_t *x)
{
    const sllmp_conf_t *c = r->conf;
    const sllmp_key_t *k = r->key;
    const sllmp_limit_entry_t *e;

    if (k != NULL) {
        add(r, x, "key", k->name, &k->lim, NULL);
        if (k->team != NULL) {
            e = sllmp_conf_team(c, k->team);
            add(r, x, "team", k->team, e ? &e->lim : NULL, NULL);
        }
    }
    e = sllmp_conf_user(c, r->user);
    if (e != NULL) {
        add(r, x, "user", r->user, &e->lim, NULL);
    }
    if (sllmp_limits_any(&c->global)) {
        add(r, x, "global", "all", &c->global, NULL);
    }
    /* the deployment's own rpm/tpm: per attempt (sllmp_limits_attempt); the model's spend
     * report: the model that answered, set again at complete */
    add(r, x, "model", r->dep->model_name, NULL, NULL);
}

/*
 * nano-USD for the store, from a double: 0 for nothing, less or NaN; past NANO_MAX (an absurd
 * price times a huge max_tokens, or an infinite one) NANO_MAX, which is more than any budget the
 * config takes ($1e9), so such a request fits in no budget. llround() of a double out of range
 * is undefined (LLONG_MIN on x86-64): a negative cost that every budget let through.
 */
#define NANO_MAX INT64_C(1000000000000000001)

static int64_t
nano(double v)
{
    if (!(v > 0)) {
        return 0;
    }
    return v >= (double)NANO_MAX ? NANO_MAX : (int64_t)llround(v);
}

/* A body's limit on what the answer writes: max_completion_tokens, else max_tokens (NULL or a
 * non-number when neither is). */
static const cJSON *
max_out(const cJSON *body)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(body, "max_completion_tokens");

    if (!cJSON_IsNumber(mt)) {
        mt = cJSON_GetObjectItemCaseSensitive(body, "max_output_tokens"); /* /v1/responses */
    }
    return cJSON_IsNumber(mt) ? mt : cJSON_GetObjectItemCaseSensitive(body, "max_tokens");
}

/* Tokens one image may be counted for: gpt-image-1's most (high quality, 1024x1536). */
#define IMAGE_TOKENS 6240

/* The most one choice may write: max_tokens (the request's, else the deployment's default),
 * else sllmp.limits.reserve_max_tokens; an image's IMAGE_TOKENS; nothing for an embedding or
 * a moderation. */
static long
worst_choice(const sllmp_req_t *r)
{
    const cJSON *mt = max_out(r->json);

    switch (r->kind) {
    case SLLMP_KIND_EMBEDDINGS:
    case SLLMP_KIND_MODERATIONS:
        return 0;
    case SLLMP_KIND_IMAGES:
        return IMAGE_TOKENS;
    case SLLMP_KIND_CHAT:
    case SLLMP_KIND_COMPLETIONS:
        if (!cJSON_IsNumber(mt) && r->dep->defaults != NULL) {
            mt = max_out(r->dep->defaults); /* the deployment's own, which the request goes with */
        }
        break;
    default:
        break;
    }
    return cJSON_IsNumber(mt) && mt->valuedouble >= 1 && mt->valuedouble < 1e9
               ? (long)mt->valuedouble
               : r->conf->reserve_max_tokens;
}

/* The worst case: the prompt as estimated, the most it may write (for each of the n choices,
 * or images), at the dearest prices; a moderation costs nothing. */
static void
worst_case(sllmp_req_t *r, sllmp_reservation_t *res)
{
    const sllmp_price_t *p = &r->dep->price;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(r->json, "n");
    long prompt = sllmp_estimate_tokens(sllmp_req_prompt_chars(r));
    long out = worst_choice(r), images = r->kind == SLLMP_KIND_IMAGES;
    double in_price = p->input, out_price = p->output;
    double per_image =
        r->dep->cost[SLLMP_COST_PER_IMAGE] > 0 ? r->dep->cost[SLLMP_COST_PER_IMAGE] : 0;

    if (cJSON_IsNumber(n) && n->valuedouble > 1 && n->valuedouble <= 128) {
        out *= (long)n->valuedouble; /* n choices: each may write max_tokens */
        images *= (long)n->valuedouble;
    }
    if (p->cache_write > in_price) {
        in_price = p->cache_write;
    }
    if (p->reasoning > out_price) {
        out_price = p->reasoning;
    }
    res->tokens = prompt + out;
    /* USD per 1M tokens -> nano-USD per token is x 1000; USD -> nano-USD x 1e9 */
    res->cost_nano = (p->known || per_image > 0) && r->kind != SLLMP_KIND_MODERATIONS
                         ? nano(((double)prompt * in_price + (double)out * out_price) * 1000.0 +
                                (double)images * per_image * 1e9)
                         : 0;
}

/* ---------------------------------------------------------------- answers */

static void
header_num(sllmp_req_t *r, const char *name, int64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    sllmp_resp_header(r, name, buf);
}

static void
header_dur(sllmp_req_t *r, const char *name, int64_t ms)
{
    char buf[32];

    sllmp_duration_format(ms, buf, sizeof(buf));
    sllmp_resp_header(r, name, buf);
}

/* x-ratelimit-*: of the subject with the fewest requests (tokens) left. */
static void
ratelimit_headers(sllmp_req_t *r, const sllmp_verdict_t *v, size_t n)
{
    const sllmp_verdict_t *req = NULL, *tok = NULL;

    for (size_t i = 0; i < n; i++) {
        if (v[i].allowed < 0) {
            continue;
        }
        if (v[i].req_limit > 0 && (req == NULL || v[i].req_remaining < req->req_remaining)) {
            req = &v[i];
        }
        if (v[i].tok_limit > 0 && (tok == NULL || v[i].tok_remaining < tok->tok_remaining)) {
            tok = &v[i];
        }
    }
    if (req != NULL) {
        header_num(r, "x-ratelimit-limit-requests", req->req_limit);
        header_num(r, "x-ratelimit-remaining-requests", req->req_remaining);
        header_dur(r, "x-ratelimit-reset-requests", req->req_reset_ms);
    }
    if (tok != NULL) {
        header_num(r, "x-ratelimit-limit-tokens", tok->tok_limit);
        header_num(r, "x-ratelimit-remaining-tokens", tok->tok_remaining);
        header_dur(r, "x-ratelimit-reset-tokens", tok->tok_reset_ms);
    }
}

static const char *
period_words(long s)
{
    return s == 3600                 ? "per hour"
           : s == 86400              ? "per day (UTC)"
           : s == 604800             ? "per week (UTC)"
           : s == SLLMP_PERIOD_MONTH ? "per month (UTC)"
                                     : "in total";
}

/* The wait to tell the client of refusal v (ms; <= 0: none). */
static int64_t
retry_ms(const sllmp_verdict_t *v)
{
    if ((v->refused == SLLMP_LIM_PARALLEL || v->held) && v->retry_after_ms > 1000) {
        /* a slot frees (a held worst case goes) when any request ends, usually well before
         * its lease expires */
        return 1000;
    }
    return v->retry_after_ms;
}

/*
 * How long a refusal lasts, to tell the client of the one that lasts longest when several
 * subjects refuse: a spent budget first (it does not come back in seconds; never, for one a
 * request cannot fit), then the longest wait. A key's budget held by its requests in flight must
 * not answer "retry in a second" while its team's is spent.
 */
static int64_t
lasting(const sllmp_verdict_t *v)
{
    if (v->refused == SLLMP_LIM_BUDGET && !v->held) {
        return v->retry_after_ms < 0 ? INT64_MAX : INT64_MAX / 2 + v->retry_after_ms / 2;
    }
    return retry_ms(v);
}

static sllmp_rc_t
refuse(sllmp_req_t *r, const char *who, const sllmp_limits_t *lim, int64_t tokens,
       const sllmp_verdict_t *v)
{
    int64_t retry = retry_ms(v);
    char when[32] = "";
    sllmp_rc_t rc;

    r->limit_refused = (int)v->refused + 1;

    if (retry > 0) {
        sllmp_duration_format(retry, when, sizeof(when));
        r->retry_after = sllmp_arena_printf(r->arena, "%lld", (long long)((retry + 999) / 1000));
    }
    switch (v->refused) {
    case SLLMP_LIM_RPM:
        rc = sllmp_req_fail(r, SLLMP_ERR_RATE_LIMITED, NULL,
                            "Rate limit reached for %s: %ld requests per minute. "
                            "Try again in %s.",
                            who, lim->rpm, when);
        break;
    case SLLMP_LIM_TPM:
        rc = sllmp_req_fail(r, SLLMP_ERR_RATE_LIMITED, NULL,
                            "Rate limit reached for %s: %ld tokens per minute, and this request "
                            "may use %lld. Try again in %s.",
                            who, lim->tpm, (long long)tokens, when);
        r->err_type = "tokens";
        break;
    case SLLMP_LIM_PARALLEL:
        rc = sllmp_req_fail(r, SLLMP_ERR_RATE_LIMITED, NULL,
                            "Too many requests at once for %s: at most %ld in flight.", who,
                            lim->parallel);
        break;
    default:
        if (v->held) {
            /* what is spent leaves room for this request: the worst cases reserved by the
             * requests in flight do not, until they settle */
            rc = sllmp_req_fail(r, SLLMP_ERR_BUDGET_HELD, NULL,
                                "Budget exceeded for %s for now: $%g %s, held by requests in "
                                "flight; this request fits once they end. Try again in %s.",
                                who, (double)lim->budget_nano / SLLMP_NANO_PER_USD,
                                period_words(lim->budget_period_s), when);
            break;
        }
        rc = sllmp_req_fail(r, SLLMP_ERR_BUDGET, NULL, "Budget exceeded for %s: $%g %s%s%s.", who,
                            (double)lim->budget_nano / SLLMP_NANO_PER_USD,
                            period_words(lim->budget_period_s), retry > 0 ? "; it resets in " : "",
                            when);
        break;
    }
    /* a spent budget's Retry-After is a hint in hours; the retryable refusals get the exact ms */
    if ((v->refused != SLLMP_LIM_BUDGET || v->held) && retry > 0) {
        r->retry_after_ms = sllmp_arena_printf(r->arena, "%lld", (long long)retry);
    }
    return rc;
}

/* this file's warnings, at most every 10 s a thread */
static _Thread_local int64_t last_warned;

static void
warn_now_and_then(sllmp_req_t *r, const char *what)
{
    sllmp_warn_rarely(r->id, &last_warned, what);
}

/*
 * The store failed: closed kinds refuse, open ones let the request through. A reserve that
 * timed out may still have been recorded, so complete settles (or, refused, cancels) it all the
 * same: once the store answers again, nothing stays held and the spend is counted.
 */
static sllmp_rc_t
store_failed(sllmp_req_t *r, lim_ctx_t *x)
{
    x->reserved = 1;
    for (size_t i = 0; i < x->nlimited; i++) {
        const sllmp_limits_t *l = &x->subj[i].lim;
        const int *closed = r->conf->fail_closed;

        if ((l->rpm > 0 && closed[SLLMP_LIM_RPM]) || (l->tpm > 0 && closed[SLLMP_LIM_TPM]) ||
            (l->parallel > 0 && closed[SLLMP_LIM_PARALLEL]) ||
            (l->budget_nano >= 0 && closed[SLLMP_LIM_BUDGET])) {
            r->retry_after = "1";
            x->cancel = 1;
            return sllmp_req_fail(r, SLLMP_ERR_LIMITS_UNAVAILABLE, NULL,
                                  "The limits of %s cannot be checked right now (the limit "
                                  "store is unreachable). Try again shortly.",
                                  x->label[i]);
        }
    }
    warn_now_and_then(r, "limit store unreachable: letting requests through (on_error: open)");
    return SLLMP_GO_ON;
}

static void
renew(sllmp_req_t *r)
{
    lim_ctx_t *x = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_limits)];
    int64_t lease = r->conf->lease_ms;

    r->keepalive_at = sllmp_now_ms() + lease / 3;
    if (x->reserved && x->store != NULL &&
        x->store->ops->renew(x->store, x->subj, x->nlimited, x->res.id, lease) < 0) {
        sllmp_log(r->id, SLLMP_LOG_WARN, "could not renew the limit leases");
    }
    if (x->dep_held && x->store->ops->renew(x->store, &x->dep, 1, x->dep_res, lease) < 0) {
        sllmp_log(r->id, SLLMP_LOG_WARN, "could not renew the deployment's limit lease");
    }
    if (x->also != NULL) {
        x->also(r);
    }
}

/* r's leases are renewed every lease_ms / 3 from now on (once is enough). */
static void
start_renewal(sllmp_req_t *r)
{
    if (r->keepalive == NULL) {
        r->keepalive = renew;
        r->keepalive_at = sllmp_now_ms() + r->conf->lease_ms / 3;
    }
}

static sllmp_rc_t
limits_pre(sllmp_req_t *r, void *mw_conf)
{
    lim_ctx_t *x;
    sllmp_verdict_t v[MAX_SUBJECTS];
    size_t refused = MAX_SUBJECTS;

    (void)mw_conf;
    if (r->kind == SLLMP_KIND_COUNT_TOKENS) {
        /* a token count generates nothing and costs nothing: no rpm, tpm, parallel or budget
         * of a key, a user or a deployment counts it, and no spend is reported. Without a
         * context, complete and the per-attempt hooks do nothing either */
        return SLLMP_GO_ON;
    }
    x = sllmp_arena_calloc(r->arena, sizeof(*x));
    r->mw_ctx[sllmp_middleware_index(&sllmp_mw_limits)] = x;
    subjects(r, x);
    x->store = sllmp_thread_store(r);
    if (x->store == NULL) {
        x->skip = 1;
        return x->nlimited ? store_failed(r, x) : SLLMP_GO_ON;
    }
    if (x->nlimited == 0) {
        return SLLMP_GO_ON;
    }
    sllmp_random_hex(x->res.id, 16);
    x->res.lease_ms = r->conf->lease_ms;
    worst_case(r, &x->res);
    x->costed = 1;
    for (size_t i = 0; i < MAX_SUBJECTS; i++) {
        memset(&v[i], 0, sizeof(v[i]));
        v[i].allowed = -1; /* not looked at */
    }
    if (x->store->ops->reserve(x->store, x->subj, x->nlimited, &x->res, v) < 0) {
        return store_failed(r, x);
    }
    for (size_t i = 0; i < x->nlimited; i++) {
        if (v[i].allowed == 0 &&
            (refused == MAX_SUBJECTS || lasting(&v[i]) > lasting(&v[refused]))) {
            refused = i;
        }
    }
    ratelimit_headers(r, v, x->nlimited);
    if (refused == MAX_SUBJECTS) {
        x->reserved = 1;
        start_renewal(r);
        return SLLMP_GO_ON;
    }
    /* undo what the others granted: this request will not run */
    for (size_t i = 0; i < x->nlimited; i++) {
        if (v[i].allowed == 1) {
            x->store->ops->settle(x->store, &x->subj[i], 1, x->res.id, 0, 0, 0, 0, 1);
        }
    }
    x->skip = 1;
    return refuse(r, x->label[refused], &x->subj[refused].lim, x->res.tokens, &v[refused]);
}

/*
 * Whether the last attempt's answer began or came back: something streamed, a usage reported,
 * or a 2xx. Only then is there usage to estimate and price. Providers do not bill a request they
 * refused (a 400 context_length_exceeded, a 429, a 5xx) or never answered, so it costs 0 in the
 * budgets, the spend report and, as they read r->usage and r->cost_usd after this complete, the
 * trace record, the access log and the metrics; it still counts as one request.
 */
static int
answered(const sllmp_req_t *r)
{
    return r->chunks > 0 || r->usage.seen ||
           (r->upstream_status >= 200 && r->upstream_status < 300);
}

static void
limits_complete(sllmp_req_t *r, void *mw_conf)
{
    lim_ctx_t *x = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_limits)];
    const sllmp_subject_t *s;
    size_t n;
    int64_t cost;

    (void)mw_conf;
    if (x == NULL || x->skip) {
        return;
    }
    r->keepalive = NULL;
    if (x->cancel && x->dep_held) {
        x->store->ops->settle(x->store, &x->dep, 1, x->dep_res, 0, 0, 0, 0, 1);
    }
    if (x->cancel) {
        x->store->ops->settle(x->store, x->subj, x->nlimited, x->res.id, 0, 0, 0, 0, 1);
        return;
    }
    if (answered(r)) {
        sllmp_usage_estimate(r); /* when post did not run: an error or a departed client */
        if (r->cost_usd == 0) {
            r->cost_usd = sllmp_req_cost(r);
        }
    }
    cost = nano(r->cost_usd * SLLMP_NANO_PER_USD);
    if (x->dep_held &&
        x->store->ops->settle(x->store, &x->dep, 1, x->dep_res,
                              sllmp_usage_prompt(&r->usage) + sllmp_usage_completion(&r->usage),
                              cost, sllmp_usage_prompt(&r->usage),
                              sllmp_usage_completion(&r->usage), 0) < 0) {
        warn_now_and_then(r, "could not settle a deployment's usage");
    }
    /* the spend report goes to the model that answered (a fallback's, after one) */
    sllmp_subject_id(x->subj[x->n - 1].id, "model", r->dep->model_name);
    /* only the reserved subjects can have a reservation to end; the others just report */
    s = x->reserved ? x->subj : x->subj + x->nlimited;
    n = x->reserved ? x->n : x->n - x->nlimited;
    if (n > 0 && x->store->ops->settle(
                     x->store, s, n, x->reserved ? x->res.id : "-",
                     sllmp_usage_prompt(&r->usage) + sllmp_usage_completion(&r->usage), cost,
                     sllmp_usage_prompt(&r->usage), sllmp_usage_completion(&r->usage), 0) < 0) {
        warn_now_and_then(r, "could not settle a request's usage: its leases expire by "
                             "themselves, its spend is not counted");
    }
}

sllmp_store_t *
sllmp_limits_store(sllmp_req_t *r)
{
    lim_ctx_t *x = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_limits)];

    return x != NULL ? x->store : NULL; /* pre looked it up for this request already */
}

/* ---------------------------------------------------------------- per attempt */

/* The store cannot answer for deployment d's rates: 1 with r failed (503) when they fail
 * closed, else 0 (logged now and then). */
static int
dep_unreachable(sllmp_req_t *r, const sllmp_deployment_t *d)
{
    const int *closed = r->conf->fail_closed;

    if ((d->rpm > 0 && closed[SLLMP_LIM_RPM]) || (d->tpm > 0 && closed[SLLMP_LIM_TPM])) {
        r->retry_after = "1";
        sllmp_req_fail(r, SLLMP_ERR_LIMITS_UNAVAILABLE, NULL,
                       "The limits of deployment %s cannot be checked right now (the limit "
                       "store is unreachable). Try again shortly.",
                       d->model_name);
        return 1;
    }
    warn_now_and_then(r, "limit store unreachable: letting requests through (on_error: open)");
    return 0;
}

/* Ends the deployment's reservation with nothing used: the provider saw the request (it counts
 * against the deployment's rpm), nothing more. */
static void
dep_settle_unused(sllmp_req_t *r, lim_ctx_t *x)
{
    if (x->store->ops->settle(x->store, &x->dep, 1, x->dep_res, 0, 0, 0, 0, 0) < 0) {
        warn_now_and_then(r, "could not settle a deployment's failed attempt");
    }
    x->dep_held = 0;
}

int
sllmp_limits_attempt(sllmp_req_t *r, const sllmp_deployment_t *d)
{
    lim_ctx_t *x = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_limits)];
    sllmp_verdict_t v;
    sllmp_reservation_t res;

    if (x == NULL) {
        return 0;
    }
    if (x->dep_held) {
        /* the last attempt failed after its answer came back (a 2xx, a usage; nothing
         * streamed) and kept its reservation for complete, which will see only this attempt's
         * usage (the router drops the last one's): it ends as a refused one does */
        dep_settle_unused(r, x);
    }
    if (d->rpm <= 0 && d->tpm <= 0 && d->max_parallel <= 0) {
        return 0;
    }
    if (x->store == NULL) {
        /* pre found no store (and complete will settle nothing): open, or closed */
        return dep_unreachable(r, d);
    }
    if (!x->costed) {
        worst_case(r, &x->res);
        x->costed = 1;
    }
    memset(&x->dep, 0, sizeof(x->dep));
    snprintf(x->dep.id, sizeof(x->dep.id), "%s", d->subject);
    x->dep.lim = (sllmp_limits_t){d->rpm, d->tpm, d->max_parallel, -1, 0};
    x->dep.report_period_s = 86400;
    res = x->res;
    sllmp_random_hex(res.id, 16);
    res.lease_ms = r->conf->lease_ms;
    memset(&v, 0, sizeof(v));
    if (x->store->ops->reserve(x->store, &x->dep, 1, &res, &v) < 0) {
        /* a reserve that timed out may still have been recorded: end it like a held one (the
         * attempt's outcome settles it, a refusal cancels it) */
        memcpy(x->dep_res, res.id, sizeof(x->dep_res));
        if (dep_unreachable(r, d)) {
            x->store->ops->settle(x->store, &x->dep, 1, x->dep_res, 0, 0, 0, 0, 1);
            return 1;
        }
        x->dep_held = 1;
        return 0;
    }
    if (!v.allowed) {
        refuse(r, sllmp_arena_printf(r->arena, "deployment %s", d->model_name), &x->dep.lim,
               res.tokens, &v);
        return 1;
    }
    memcpy(x->dep_res, res.id, sizeof(x->dep_res));
    x->dep_held = 1;
    start_renewal(r);
    return 0;
}

void
sllmp_limits_attempt_failed(sllmp_req_t *r)
{
    lim_ctx_t *x = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_limits)];

    if (x == NULL || !x->dep_held) {
        return;
    }
    if (answered(r)) {
        /* it failed after its answer began (closed mid-stream, an error event, the client
         * gone): complete settles the deployment with the usage the key is charged, estimated
         * the same way. Once a chunk went out no other attempt follows (try_group) */
        return;
    }
    dep_settle_unused(r, x);
}

void
sllmp_limits_unused(sllmp_req_t *r)
{
    lim_ctx_t *x = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_limits)];

    if (x != NULL && x->reserved) {
        x->cancel = 1;
    }
}

void
sllmp_limits_keepalive_also(sllmp_req_t *r, void (*fn)(sllmp_req_t *r))
{
    lim_ctx_t *x = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_limits)];

    if (x == NULL) {
        return;
    }
    x->also = fn;
    start_renewal(r);
}

const sllmp_middleware_t sllmp_mw_limits = {
    .name = "limits",
    .pre = limits_pre,
    .complete = limits_complete,
};
