/*
 * Staying up when providers do not (issue 7): the decisions of the attempt loop in
 * src/middleware/provider.c, kept pure here so the unit tests can hold them to their word.
 *
 *   classify  what a failed attempt means: retry it? cool its deployment down? which fallback
 *             list applies?
 *   pick      which deployment of a model group the next attempt goes to, by the routing
 *             strategy and the state the pool shares (in flight, latency, cooldowns)
 *   backoff   how long to wait before retrying the same deployment
 */
#ifndef SLLMP_ROUTE_H
#define SLLMP_ROUTE_H

#include "sllmp/conf.h"
#include "sllmp/error.h"
#include "sllmp/limits.h"

#include <stdint.h>

#define SLLMP_GROUP_MAX 32 /* deployments of one model name that the router looks at */

/* What a failed attempt means. */
typedef struct {
    int retryable;                 /* worth another attempt in the same group */
    sllmp_route_outcome_t outcome; /* for the deployment's shared state */
    int fallback;                  /* a sllmp_fb_kind_t, or -1: no fallback helps */
} sllmp_route_verdict_t;

/*
 * err, the upstream's status (0: none), and the error's code and message as r holds them.
 * Retryable: 429, 5xx, 529, timeouts, network failures. Context-window and content-policy
 * refusals are told apart (by OpenAI's codes, Azure's content_filter, and the providers'
 * words) for their own fallback lists; any other 4xx is the request's fault: no retry, no
 * fallback. The provider refusing the gateway's credentials is not retried but falls back.
 */
sllmp_route_verdict_t sllmp_route_classify(sllmp_err_t err, int status, const char *code,
                                           const char *message);

/*
 * LiteLLM's tag routing (router_settings.enable_tag_filtering): which of the n deployments of a
 * group a request carrying tags[0..ntags) may go to. keep[i] is set to 1 or 0; returns how many
 * are kept. Off: every one. A request with tags: the deployments whose litellm_params.tags hold
 * one of them (every one of them with tag_filtering_match_any: false); when none does, those
 * tagged "default"; when there are none either, none (the request is refused). A request
 * without tags: the deployments tagged "default", else every one. As LiteLLM's
 * get_deployments_for_tag, but over the group as configured, cooling or not: a deployment
 * cooling down never sends a request to one its tags do not allow.
 */
size_t sllmp_route_tag_filter(const sllmp_router_conf_t *rc, const sllmp_deployment_t *const *deps,
                              size_t n, const char *const *tags, size_t ntags, int *keep);

/*
 * LiteLLM's litellm_params.order: the lowest order among the deployments usable[i] that are
 * not cooling down (st as for sllmp_route_pick()), LONG_MAX when the lowest is a deployment
 * without one (those come after every order), -1 when there is none.
 */
long sllmp_route_tier(const sllmp_router_conf_t *rc, const sllmp_deployment_t *const *deps,
                      size_t n, const sllmp_route_state_t *st, const int *usable);

/* d's place in that ranking: its order, LONG_MAX without one. */
long sllmp_route_order(const sllmp_deployment_t *d);

/*
 * The index (into deps) of the deployment for the next attempt, or -1 when none can take it.
 * usable[i] is 0 for a deployment the request may not use (it has failed in this request, or
 * its limits refused it); a cooling one (st[i].cool_ms > 0, unless cooldowns are off) is left
 * out too, and so is every one of a higher order than the lowest left (sllmp_route_tier()).
 * st may be NULL (the shared state is unreachable): every usable one counts as idle.
 * rnd is a random number.
 *   simple-shuffle   weighted random: by weight when any deployment of the group sets one,
 *                    else by rpm, else by tpm, else uniform (a deployment without the
 *                    group's measure weighs 1)
 *   least-busy       the fewest attempts in flight; ties at random
 *   latency          the lowest moving average (time to first byte when stream, else total
 *                    time; the other one when a deployment has only that); a deployment
 *                    without any sample first, so that each gets measured; ties at random
 */
int sllmp_route_pick(const sllmp_router_conf_t *rc, const sllmp_deployment_t *const *deps, size_t n,
                     const sllmp_route_state_t *st, const int *usable, int stream, uint64_t rnd);

/*
 * LiteLLM's retry_policy: the RetryPolicy class of a failure (err, the upstream's status, and
 * the fallback list sllmp_route_classify() gave it), or -1 when it is none of them.
 */
int sllmp_route_retry_class(sllmp_err_t err, int status, int fallback);

/*
 * The retries the retry policy gives a failure of class cls (-1: none) on model group `group`:
 * model_group_retry_policy's entry for the group when there is one, else retry_policy; -1 when
 * the policy does not say (num_retries applies).
 */
long sllmp_route_policy_retries(const sllmp_router_conf_t *rc, const char *group, int cls);

/*
 * LiteLLM's allowed_fails_policy: what a failure of class cls (sllmp_route_retry_class(); -1:
 * none) whose classification gave outcome does to its deployment's shared state, with
 * *allowed_fails the failures it may have (in the 60 s window) before it cools down. A class
 * the policy names counts towards a cooldown with its own allowed fails, in place of the
 * immediate cooldown of a 429 or a refused key and of router_settings.allowed_fails; a class it
 * does not name keeps outcome and allowed_fails. An account out of credit (err) still cools at
 * once (waiting does not refill it), and what says nothing of the deployment (NEUTRAL: a 400)
 * stays so.
 */
sllmp_route_outcome_t sllmp_route_fail_outcome(const sllmp_router_conf_t *rc, sllmp_err_t err,
                                               int cls, sllmp_route_outcome_t outcome,
                                               long *allowed_fails);

/*
 * How long to wait before retry number `retry` (1 for the first) of one deployment: the
 * exponential backoff (backoff_base_ms doubling, at most backoff_max_ms) with full jitter over
 * its upper half, at least router_settings.retry_after, and at least the upstream's
 * Retry-After (retry_after_ms >= 0). -1 when the upstream asks for longer than
 * retry_after_max_ms: not worth waiting for.
 */
int64_t sllmp_route_backoff(const sllmp_router_conf_t *rc, int retry, int64_t retry_after_ms,
                            uint64_t rnd);

#endif
