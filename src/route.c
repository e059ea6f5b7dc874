/*
 * The attempt loop's decisions (include/sllmp/route.h): classify a failure, pick a deployment,
 * size a backoff. No I/O here.
 */
#include "sllmp/route.h"

#include <limits.h>
#include <math.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- tags */

static int
has_tag(const sllmp_deployment_t *d, const char *tag)
{
    for (size_t i = 0; i < d->ntags; i++) {
        if (strcmp(d->tags[i], tag) == 0) {
            return 1;
        }
    }
    return 0;
}

/* LiteLLM's is_valid_deployment_tag: one tag in common, or (match_all) every tag of the
 * request among the deployment's. */
static int
tags_match(const sllmp_deployment_t *d, const char *const *tags, size_t ntags, int match_all)
{
    for (size_t i = 0; i < ntags; i++) {
        int has = has_tag(d, tags[i]);

        if (has && !match_all) {
            return 1;
        }
        if (!has && match_all) {
            return 0;
        }
    }
    return match_all && ntags > 0;
}

size_t
sllmp_route_tag_filter(const sllmp_router_conf_t *rc, const sllmp_deployment_t *const *deps,
                       size_t n, const char *const *tags, size_t ntags, int *keep)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        keep[i] = !rc->tag_filtering ||
                  (ntags > 0 && tags_match(deps[i], tags, ntags, rc->tag_match_all));
        k += (size_t)keep[i];
    }
    if (!rc->tag_filtering || (ntags > 0 && k > 0)) {
        return k;
    }
    /* nothing matched, or no tags to match: the "default" deployments */
    for (size_t i = 0; i < n; i++) {
        keep[i] = has_tag(deps[i], "default");
        k += (size_t)keep[i];
    }
    if (k == 0 && ntags == 0) {
        for (size_t i = 0; i < n; i++) {
            keep[i] = 1;
        }
        k = n;
    }
    return k;
}

/* ---------------------------------------------------------------- classify */

static int
has_word(const char *s, const char *const *words)
{
    for (; s != NULL && *words != NULL; words++) {
        if (strcasestr(s, *words) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* What the providers say when a prompt does not fit (OpenAI and the compatible servers,
 * Anthropic, Gemini, Bedrock, Mistral, vLLM). */
static const char *const context_words[] = {
    "context_length_exceeded",  "context length",     "context window",
    "maximum context",          "prompt is too long", "input is too long",
    "too many input tokens",    "input too long",     "exceeds the maximum number of tokens",
    "maximum number of tokens", "token limit",        NULL};

/* ... and when their content policy refuses it (OpenAI, Azure's content_filter). */
static const char *const policy_words[] = {"content_policy_violation",
                                           "content_filter",
                                           "content management policy",
                                           "content policy",
                                           "responsibleaipolicyviolation",
                                           "safety system",
                                           NULL};

sllmp_route_verdict_t
sllmp_route_classify(sllmp_err_t err, int status, const char *code, const char *message)
{
    sllmp_route_verdict_t v = {0, SLLMP_ROUTE_NEUTRAL, -1};

    switch (err) {
    case SLLMP_ERR_PROVIDER_RATE_LIMIT:
        v.retryable = 1;
        v.outcome = SLLMP_ROUTE_COOL;
        v.fallback = SLLMP_FB_GENERIC;
        break;
    case SLLMP_ERR_PROVIDER:
    case SLLMP_ERR_PROVIDER_UNAVAILABLE:
    case SLLMP_ERR_TIMEOUT:
        v.retryable = 1;
        v.outcome = SLLMP_ROUTE_FAIL;
        v.fallback = SLLMP_FB_GENERIC;
        break;
    case SLLMP_ERR_PROVIDER_AUTH:
    case SLLMP_ERR_PROVIDER_QUOTA:
        /* the gateway's credentials for this deployment, or its account's credit: another try
         * will not fix them, another deployment (another account) or model may answer */
        v.outcome = SLLMP_ROUTE_COOL;
        v.fallback = SLLMP_FB_GENERIC;
        break;
    case SLLMP_ERR_CONTEXT_WINDOW:
        v.fallback = SLLMP_FB_CONTEXT_WINDOW;
        break;
    case SLLMP_ERR_CONTENT_POLICY:
        v.fallback = SLLMP_FB_CONTENT_POLICY;
        break;
    case SLLMP_ERR_PROVIDER_BAD_REQUEST:
        if (has_word(code, context_words) || has_word(message, context_words)) {
            v.fallback = SLLMP_FB_CONTEXT_WINDOW;
        } else if (has_word(code, policy_words) || has_word(message, policy_words)) {
            v.fallback = SLLMP_FB_CONTENT_POLICY;
        } else if (status == 404) {
            /* the deployment's model is gone at the provider: not the client's doing */
            v.outcome = SLLMP_ROUTE_COOL;
            v.fallback = SLLMP_FB_GENERIC;
        }
        break;
    default:
        /* the gateway's own refusals, the client leaving: nothing to retry */
        break;
    }
    return v;
}

int
sllmp_route_retry_class(sllmp_err_t err, int status, int fallback)
{
    switch (err) {
    case SLLMP_ERR_PROVIDER_AUTH:
        return status == 403 ? -1 : SLLMP_RETRY_AUTH; /* LiteLLM's 403 is PermissionDenied */
    case SLLMP_ERR_TIMEOUT:
        return SLLMP_RETRY_TIMEOUT;
    case SLLMP_ERR_PROVIDER_RATE_LIMIT:
    case SLLMP_ERR_PROVIDER_QUOTA:
        return SLLMP_RETRY_RATE_LIMIT;
    case SLLMP_ERR_PROVIDER:
        return status == 500 ? SLLMP_RETRY_INTERNAL : -1;
    case SLLMP_ERR_CONTENT_POLICY:
        return SLLMP_RETRY_CONTENT_POLICY;
    case SLLMP_ERR_CONTEXT_WINDOW:
        return SLLMP_RETRY_BAD_REQUEST; /* LiteLLM's ContextWindowExceededError is one */
    case SLLMP_ERR_PROVIDER_BAD_REQUEST:
        if (fallback == SLLMP_FB_CONTENT_POLICY) {
            return SLLMP_RETRY_CONTENT_POLICY;
        }
        return status == 400 ? SLLMP_RETRY_BAD_REQUEST : -1; /* 404, 422, ...: other classes */
    default:
        return -1;
    }
}

long
sllmp_route_policy_retries(const sllmp_router_conf_t *rc, const char *group, int cls)
{
    if (cls < 0 || cls >= SLLMP_RETRY_NCLASSES) {
        return -1;
    }
    for (size_t i = 0; group != NULL && i < rc->ngroup_policies; i++) {
        if (strcmp(rc->group_policies[i].group, group) == 0) {
            return rc->group_policies[i].policy.retries[cls];
        }
    }
    return rc->has_policy ? rc->policy.retries[cls] : -1;
}

sllmp_route_outcome_t
sllmp_route_fail_outcome(const sllmp_router_conf_t *rc, sllmp_err_t err, int cls,
                         sllmp_route_outcome_t outcome, long *allowed_fails)
{
    *allowed_fails = rc->allowed_fails;
    if (!rc->has_fails_policy || cls < 0 || cls >= SLLMP_RETRY_NCLASSES ||
        rc->fails_policy.retries[cls] < 0 || outcome == SLLMP_ROUTE_NEUTRAL ||
        outcome == SLLMP_ROUTE_OK || err == SLLMP_ERR_PROVIDER_QUOTA) {
        return outcome;
    }
    *allowed_fails = rc->fails_policy.retries[cls];
    return SLLMP_ROUTE_FAIL;
}

/* ---------------------------------------------------------------- pick */

static int
cooling(const sllmp_router_conf_t *rc, const sllmp_route_state_t *st, size_t i)
{
    return st != NULL && !rc->disable_cooldowns && st[i].cool_ms > 0;
}

static int64_t
measure(const sllmp_route_state_t *s, int stream)
{
    int64_t first = stream ? s->ttft_ms : s->latency_ms;

    return first >= 0 ? first : stream ? s->latency_ms : s->ttft_ms;
}

/* Shares in thousandths, so that LiteLLM's fractional weights (0.7) count as written. */
static uint64_t
weight_of(const sllmp_deployment_t *d, int by)
{
    double w = by == 0   ? (d->weight_set || d->weight > 0 ? d->weight : 1)
               : by == 1 ? (double)(d->rpm > 0 ? d->rpm : 1)
               : by == 2 ? (double)(d->tpm > 0 ? d->tpm : 1)
                         : 1;

    return (uint64_t)llround(w * 1000);
}

static int
shuffle(const sllmp_deployment_t *const *deps, size_t n, const int *ok, uint64_t rnd)
{
    int by = 3; /* 0 weight, 1 rpm, 2 tpm, 3 none */
    uint64_t total = 0, at;

    for (size_t i = 0; i < n && by > 0; i++) {
        if (deps[i]->weight_set || deps[i]->weight > 0) {
            by = 0;
        } else if (deps[i]->rpm > 0 && by > 1) {
            by = 1;
        } else if (deps[i]->tpm > 0 && by > 2) {
            by = 2;
        }
    }
    for (size_t i = 0; i < n; i++) {
        total += ok[i] ? weight_of(deps[i], by) : 0;
    }
    if (total == 0) {
        /* every usable one weighs 0 (an explicit weight: 0): equal shares rather than none */
        by = 3;
        for (size_t i = 0; i < n; i++) {
            total += ok[i] ? weight_of(deps[i], by) : 0;
        }
    }
    if (total == 0) {
        return -1;
    }
    at = rnd % total;
    for (size_t i = 0; i < n; i++) {
        uint64_t w = ok[i] ? weight_of(deps[i], by) : 0;

        if (at < w) {
            return (int)i;
        }
        at -= w;
    }
    return -1;
}

/* The usable deployment with the lowest key; ties broken by rnd. */
static int
lowest(const int64_t *key, const int *ok, size_t n, uint64_t rnd)
{
    int64_t best = INT64_MAX;
    size_t ties = 0, pick;

    for (size_t i = 0; i < n; i++) {
        if (ok[i] && key[i] < best) {
            best = key[i];
            ties = 0;
        }
        ties += ok[i] && key[i] == best;
    }
    if (ties == 0) {
        return -1;
    }
    pick = (size_t)(rnd % ties);
    for (size_t i = 0; i < n; i++) {
        if (ok[i] && key[i] == best && pick-- == 0) {
            return (int)i;
        }
    }
    return -1;
}

long
sllmp_route_order(const sllmp_deployment_t *d)
{
    return d->order > 0 ? d->order : LONG_MAX;
}

long
sllmp_route_tier(const sllmp_router_conf_t *rc, const sllmp_deployment_t *const *deps, size_t n,
                 const sllmp_route_state_t *st, const int *usable)
{
    long tier = -1;

    for (size_t i = 0; i < n && i < SLLMP_GROUP_MAX; i++) {
        if (usable[i] && !cooling(rc, st, i) && (tier < 0 || sllmp_route_order(deps[i]) < tier)) {
            tier = sllmp_route_order(deps[i]);
        }
    }
    return tier;
}

int
sllmp_route_pick(const sllmp_router_conf_t *rc, const sllmp_deployment_t *const *deps, size_t n,
                 const sllmp_route_state_t *st, const int *usable, int stream, uint64_t rnd)
{
    int ok[SLLMP_GROUP_MAX];
    int64_t key[SLLMP_GROUP_MAX];
    long tier;

    if (n > SLLMP_GROUP_MAX) {
        n = SLLMP_GROUP_MAX;
    }
    tier = sllmp_route_tier(rc, deps, n, st, usable);
    for (size_t i = 0; i < n; i++) {
        /* LiteLLM's order: the strategy chooses among the lowest order available only */
        ok[i] = usable[i] && !cooling(rc, st, i) && sllmp_route_order(deps[i]) == tier;
        key[i] = 0;
    }
    switch (st == NULL ? SLLMP_STRATEGY_SHUFFLE : rc->strategy) {
    case SLLMP_STRATEGY_LEAST_BUSY:
        for (size_t i = 0; i < n; i++) {
            key[i] = st[i].in_flight;
        }
        return lowest(key, ok, n, rnd);
    case SLLMP_STRATEGY_LATENCY:
        for (size_t i = 0; i < n; i++) {
            key[i] = measure(&st[i], stream); /* -1, no sample yet, comes first */
        }
        return lowest(key, ok, n, rnd);
    case SLLMP_STRATEGY_SHUFFLE:
        break;
    }
    return shuffle(deps, n, ok, rnd);
}

/* ---------------------------------------------------------------- backoff */

int64_t
sllmp_route_backoff(const sllmp_router_conf_t *rc, int retry, int64_t retry_after_ms, uint64_t rnd)
{
    int64_t cap = rc->backoff_base_ms, wait;

    if (retry_after_ms > rc->retry_after_max_ms) {
        return -1;
    }
    for (int i = 1; i < retry && cap < rc->backoff_max_ms; i++) {
        cap *= 2;
    }
    if (cap > rc->backoff_max_ms) {
        cap = rc->backoff_max_ms;
    }
    /* jitter over the upper half: retries of many requests spread out, none returns at once */
    wait = cap / 2 + (cap > 1 ? (int64_t)(rnd % (uint64_t)(cap - cap / 2 + 1)) : 0);
    if (wait < rc->retry_after_ms) {
        wait = rc->retry_after_ms;
    }
    if (wait < retry_after_ms) {
        wait = retry_after_ms;
    }
    return wait;
}
