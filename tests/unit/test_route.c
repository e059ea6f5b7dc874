/*
 * The attempt loop's decisions (src/route.c) and their configuration: which failures are
 * retried, cooled down and fallen back from; which deployment each strategy picks; how long a
 * retry waits; router_settings and fallbacks as LiteLLM writes them.
 */
#include "sllmp/conf.h"
#include "sllmp/route.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static sllmp_conf_t *
load(const char *text)
{
    char *err = NULL;
    sllmp_conf_t *c = sllmp_conf_load("t.yaml", text, strlen(text), &err);

    if (c == NULL) {
        fail_msg("config refused: %s", err);
    }
    return c;
}

static void
expect_error(const char *text, const char *want)
{
    char *err = NULL;
    sllmp_conf_t *c = sllmp_conf_load("t.yaml", text, strlen(text), &err);

    assert_null(c);
    assert_non_null(err);
    if (strstr(err, want) == NULL) {
        fail_msg("error '%s' does not contain '%s'", err, want);
    }
    free(err);
}

static void
test_classify(void **state)
{
    sllmp_route_verdict_t v;

    (void)state;
    v = sllmp_route_classify(SLLMP_ERR_PROVIDER_RATE_LIMIT, 429, NULL, NULL);
    assert_true(v.retryable);
    assert_int_equal(v.outcome, SLLMP_ROUTE_COOL);
    assert_int_equal(v.fallback, SLLMP_FB_GENERIC);
    for (sllmp_err_t e = SLLMP_ERR_PROVIDER; e <= SLLMP_ERR_TIMEOUT; e++) {
        if (e == SLLMP_ERR_PROVIDER || e == SLLMP_ERR_PROVIDER_UNAVAILABLE ||
            e == SLLMP_ERR_TIMEOUT) {
            v = sllmp_route_classify(e, 500, NULL, NULL);
            assert_true(v.retryable);
            assert_int_equal(v.outcome, SLLMP_ROUTE_FAIL);
        }
    }
    v = sllmp_route_classify(SLLMP_ERR_PROVIDER_AUTH, 401, NULL, NULL);
    assert_false(v.retryable);
    assert_int_equal(v.outcome, SLLMP_ROUTE_COOL);
    assert_int_equal(v.fallback, SLLMP_FB_GENERIC);
    /* out of credit: not again on that account, but another deployment or model may have it */
    v = sllmp_route_classify(SLLMP_ERR_PROVIDER_QUOTA, 429, "insufficient_quota", NULL);
    assert_false(v.retryable);
    assert_int_equal(v.outcome, SLLMP_ROUTE_COOL);
    assert_int_equal(v.fallback, SLLMP_FB_GENERIC);

    /* a plain bad request: the client's fault, nothing helps */
    v = sllmp_route_classify(SLLMP_ERR_PROVIDER_BAD_REQUEST, 400, "invalid_value",
                             "temperature must be at most 2");
    assert_false(v.retryable);
    assert_int_equal(v.outcome, SLLMP_ROUTE_NEUTRAL);
    assert_int_equal(v.fallback, -1);

    /* context windows, in each provider's words */
    v = sllmp_route_classify(SLLMP_ERR_PROVIDER_BAD_REQUEST, 400, "context_length_exceeded",
                             "This model's maximum context length is 128000 tokens.");
    assert_int_equal(v.fallback, SLLMP_FB_CONTEXT_WINDOW);
    assert_false(v.retryable);
    v = sllmp_route_classify(SLLMP_ERR_PROVIDER_BAD_REQUEST, 400, "invalid_request_error",
                             "prompt is too long: 210000 tokens > 200000 maximum");
    assert_int_equal(v.fallback, SLLMP_FB_CONTEXT_WINDOW);
    v = sllmp_route_classify(SLLMP_ERR_PROVIDER_BAD_REQUEST, 400, NULL,
                             "The input token count (1200000) exceeds the maximum number of "
                             "tokens allowed (1048576).");
    assert_int_equal(v.fallback, SLLMP_FB_CONTEXT_WINDOW);
    v = sllmp_route_classify(SLLMP_ERR_CONTEXT_WINDOW, 400, NULL, NULL);
    assert_int_equal(v.fallback, SLLMP_FB_CONTEXT_WINDOW);

    /* content policy: OpenAI's code, Azure's content_filter */
    v = sllmp_route_classify(SLLMP_ERR_PROVIDER_BAD_REQUEST, 400, "content_filter",
                             "The response was filtered due to the prompt triggering Azure "
                             "OpenAI's content management policy.");
    assert_int_equal(v.fallback, SLLMP_FB_CONTENT_POLICY);
    v = sllmp_route_classify(SLLMP_ERR_PROVIDER_BAD_REQUEST, 400, "content_policy_violation",
                             "Your request was rejected.");
    assert_int_equal(v.fallback, SLLMP_FB_CONTENT_POLICY);

    /* the deployment's model gone at the provider: another one may answer */
    v = sllmp_route_classify(SLLMP_ERR_PROVIDER_BAD_REQUEST, 404, "model_not_found", "gone");
    assert_int_equal(v.fallback, SLLMP_FB_GENERIC);
    assert_int_equal(v.outcome, SLLMP_ROUTE_COOL);

    /* the gateway's own refusals and a departed client: nothing */
    v = sllmp_route_classify(SLLMP_ERR_CLIENT_GONE, 0, NULL, NULL);
    assert_false(v.retryable);
    assert_int_equal(v.fallback, -1);
    v = sllmp_route_classify(SLLMP_ERR_BUDGET, 0, NULL, NULL);
    assert_int_equal(v.fallback, -1);
}

/* counts of picks over many random numbers */
static void
pick_counts(const sllmp_router_conf_t *rc, const sllmp_deployment_t *const *deps, size_t n,
            const sllmp_route_state_t *st, const int *ok, int stream, int *counts, int rounds)
{
    uint64_t x = 88172645463325252ULL;

    memset(counts, 0, n * sizeof(int));
    for (int i = 0; i < rounds; i++) {
        int k;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        k = sllmp_route_pick(rc, deps, n, st, ok, stream, x);
        assert_true(k >= -1 && k < (int)n);
        if (k >= 0) {
            counts[k]++;
        }
    }
}

static void
test_pick_shuffle_weights(void **state)
{
    sllmp_router_conf_t rc = {0};
    sllmp_deployment_t d[3];
    const sllmp_deployment_t *deps[3] = {&d[0], &d[1], &d[2]};
    int ok[3] = {1, 1, 1}, counts[3];

    (void)state;
    memset(d, 0, sizeof(d));
    rc.strategy = SLLMP_STRATEGY_SHUFFLE;
    /* uniform */
    pick_counts(&rc, deps, 3, NULL, ok, 0, counts, 30000);
    for (int i = 0; i < 3; i++) {
        assert_in_range(counts[i], 9000, 11000);
    }
    /* weight wins over rpm; a deployment without one weighs 1 */
    d[0].weight = 8;
    d[1].weight = 1;
    d[2].rpm = 1000;
    pick_counts(&rc, deps, 3, NULL, ok, 0, counts, 30000);
    assert_in_range(counts[0], 23000, 25000);
    assert_in_range(counts[1], 2300, 3700);
    assert_in_range(counts[2], 2300, 3700);
    /* rpm when no weight */
    d[0].weight = d[1].weight = 0;
    d[0].rpm = 100;
    d[1].rpm = 300;
    d[2].rpm = 600;
    pick_counts(&rc, deps, 3, NULL, ok, 0, counts, 30000);
    assert_in_range(counts[0], 2300, 3700);
    assert_in_range(counts[2], 17000, 19000);
    /* LiteLLM's weights: fractions count, an explicit 0 is never picked while another weighs
     * more; all explicit 0: equal shares */
    memset(d, 0, sizeof(d));
    d[0].weight = 0.7, d[0].weight_set = 1;
    d[1].weight = 0, d[1].weight_set = 1;
    d[2].weight = 0.3, d[2].weight_set = 1;
    pick_counts(&rc, deps, 3, NULL, ok, 0, counts, 30000);
    assert_in_range(counts[0], 20000, 22000);
    assert_int_equal(counts[1], 0);
    assert_in_range(counts[2], 8000, 10000);
    d[0].weight = d[2].weight = 0;
    pick_counts(&rc, deps, 3, NULL, ok, 0, counts, 30000);
    for (int i = 0; i < 3; i++) {
        assert_in_range(counts[i], 9000, 11000);
    }
    /* an unusable one is never picked; none usable: -1 */
    ok[2] = 0;
    pick_counts(&rc, deps, 3, NULL, ok, 0, counts, 1000);
    assert_int_equal(counts[2], 0);
    assert_int_equal(counts[0] + counts[1], 1000);
    ok[0] = ok[1] = 0;
    assert_int_equal(sllmp_route_pick(&rc, deps, 3, NULL, ok, 0, 7), -1);
}

static void
test_pick_cooldown_and_state(void **state)
{
    sllmp_router_conf_t rc = {0};
    sllmp_deployment_t d[3];
    const sllmp_deployment_t *deps[3] = {&d[0], &d[1], &d[2]};
    sllmp_route_state_t st[3];
    int ok[3] = {1, 1, 1}, counts[3];

    (void)state;
    memset(d, 0, sizeof(d));
    memset(st, 0, sizeof(st));
    for (int i = 0; i < 3; i++) {
        st[i].latency_ms = st[i].ttft_ms = -1;
    }
    /* cooling: out, whatever the strategy */
    st[1].cool_ms = 4000;
    for (int s = 0; s < 3; s++) {
        rc.strategy = (sllmp_strategy_t)s;
        pick_counts(&rc, deps, 3, st, ok, 0, counts, 2000);
        assert_int_equal(counts[1], 0);
    }
    /* every one cooling: none */
    st[0].cool_ms = st[2].cool_ms = 10;
    assert_int_equal(sllmp_route_pick(&rc, deps, 3, st, ok, 0, 1), -1);
    /* unless cooldowns are off */
    rc.disable_cooldowns = 1;
    assert_true(sllmp_route_pick(&rc, deps, 3, st, ok, 0, 1) >= 0);
    rc.disable_cooldowns = 0;
    memset(st, 0, sizeof(st));

    /* least-busy: the fewest in flight; ties at random */
    rc.strategy = SLLMP_STRATEGY_LEAST_BUSY;
    st[0].in_flight = 5;
    st[1].in_flight = 2;
    st[2].in_flight = 2;
    pick_counts(&rc, deps, 3, st, ok, 0, counts, 4000);
    assert_int_equal(counts[0], 0);
    assert_in_range(counts[1], 1700, 2300);
    st[2].in_flight = 1;
    pick_counts(&rc, deps, 3, st, ok, 0, counts, 100);
    assert_int_equal(counts[2], 100);

    /* latency: unmeasured first, then the lowest of the request's kind */
    rc.strategy = SLLMP_STRATEGY_LATENCY;
    st[0].latency_ms = 900;
    st[0].ttft_ms = 100;
    st[1].latency_ms = 300;
    st[1].ttft_ms = 500;
    st[2].latency_ms = -1;
    st[2].ttft_ms = -1;
    assert_int_equal(sllmp_route_pick(&rc, deps, 3, st, ok, 0, 3), 2);
    st[2].latency_ms = 600;
    st[2].ttft_ms = 700;
    assert_int_equal(sllmp_route_pick(&rc, deps, 3, st, ok, 0, 3), 1); /* unstreamed: total */
    assert_int_equal(sllmp_route_pick(&rc, deps, 3, st, ok, 1, 3), 0); /* streamed: ttft */
    /* a deployment measured only on the other kind is compared by that */
    st[0].ttft_ms = -1;
    assert_int_equal(sllmp_route_pick(&rc, deps, 3, st, ok, 1, 3), 1);
}

/* LiteLLM's litellm_params.order: the strategy picks among the lowest order available only;
 * one without an order comes after every order. */
static void
test_pick_order(void **state)
{
    sllmp_router_conf_t rc = {0};
    sllmp_deployment_t d[4];
    const sllmp_deployment_t *deps[4] = {&d[0], &d[1], &d[2], &d[3]};
    sllmp_route_state_t st[4];
    int ok[4] = {1, 1, 1, 1}, counts[4];

    (void)state;
    memset(d, 0, sizeof(d));
    memset(st, 0, sizeof(st));
    d[0].order = 2;
    d[0].weight = 1000; /* a weight never lifts a deployment over a lower order */
    d[1].order = 1;
    d[2].order = 1;
    d[3].order = 0;
    assert_int_equal(sllmp_route_order(&d[3]), LONG_MAX);
    assert_int_equal(sllmp_route_tier(&rc, deps, 4, NULL, ok), 1);
    for (int s = 0; s < 3; s++) {
        rc.strategy = (sllmp_strategy_t)s;
        pick_counts(&rc, deps, 4, st, ok, 0, counts, 2000);
        assert_int_equal(counts[0], 0);
        assert_int_equal(counts[3], 0);
        assert_int_equal(counts[1] + counts[2], 2000);
    }
    rc.strategy = SLLMP_STRATEGY_SHUFFLE;
    /* the lowest order unavailable (failed, refused, cooling): the next one */
    ok[1] = 0;
    st[2].cool_ms = 1000;
    assert_int_equal(sllmp_route_tier(&rc, deps, 4, st, ok), 2);
    pick_counts(&rc, deps, 4, st, ok, 0, counts, 100);
    assert_int_equal(counts[0], 100);
    /* cooldowns off: cooling counts as available */
    rc.disable_cooldowns = 1;
    assert_int_equal(sllmp_route_tier(&rc, deps, 4, st, ok), 1);
    assert_int_equal(sllmp_route_pick(&rc, deps, 4, st, ok, 0, 5), 2);
    rc.disable_cooldowns = 0;
    /* then those without an order */
    ok[0] = 0;
    assert_int_equal(sllmp_route_tier(&rc, deps, 4, st, ok), LONG_MAX);
    assert_int_equal(sllmp_route_pick(&rc, deps, 4, st, ok, 0, 5), 3);
    ok[3] = 0;
    assert_int_equal(sllmp_route_tier(&rc, deps, 4, st, ok), -1);
    assert_int_equal(sllmp_route_pick(&rc, deps, 4, st, ok, 0, 5), -1);
    /* no order anywhere: all of them, as before */
    memset(d, 0, sizeof(d));
    memset(st, 0, sizeof(st));
    ok[0] = ok[1] = ok[2] = ok[3] = 1;
    pick_counts(&rc, deps, 4, st, ok, 0, counts, 4000);
    for (int i = 0; i < 4; i++) {
        assert_in_range(counts[i], 800, 1200);
    }
}

static void
test_backoff(void **state)
{
    sllmp_router_conf_t rc = {0};

    (void)state;
    rc.backoff_base_ms = 500;
    rc.backoff_max_ms = 8000;
    rc.retry_after_max_ms = 30000;
    for (uint64_t x = 0; x < 2000; x += 7) {
        int64_t w1 = sllmp_route_backoff(&rc, 1, -1, x);
        int64_t w3 = sllmp_route_backoff(&rc, 3, -1, x * 31 + 5);
        int64_t w9 = sllmp_route_backoff(&rc, 9, -1, x * 17 + 1);

        assert_in_range(w1, 250, 500);
        assert_in_range(w3, 1000, 2000);
        assert_in_range(w9, 4000, 8000); /* capped */
    }
    /* jitter: not every wait is the same */
    assert_int_not_equal(sllmp_route_backoff(&rc, 2, -1, 1), sllmp_route_backoff(&rc, 2, -1, 400));
    /* the upstream's Retry-After, when longer, and within bounds */
    assert_int_equal(sllmp_route_backoff(&rc, 1, 7000, 3), 7000);
    assert_in_range(sllmp_route_backoff(&rc, 1, 10, 3), 250, 500);
    assert_int_equal(sllmp_route_backoff(&rc, 1, 31000, 3), -1);
    /* router_settings.retry_after: the least wait */
    rc.retry_after_ms = 2000;
    assert_int_equal(sllmp_route_backoff(&rc, 1, -1, 3), 2000);
}

/* LiteLLM's tag routing (get_deployments_for_tag): the deployments a request's tags allow. */
static void
test_tag_filter(void **state)
{
    sllmp_router_conf_t rc = {0};
    sllmp_deployment_t d[4];
    const sllmp_deployment_t *deps[4] = {&d[0], &d[1], &d[2], &d[3]};
    char t_free[] = "free", t_paid[] = "paid", t_eu[] = "eu", t_default[] = "default";
    char *free_[] = {t_free}, *paid[] = {t_paid, t_eu}, *dflt[] = {t_default};
    const char *tags[2];
    int keep[4];

    (void)state;
    memset(d, 0, sizeof(d));
    d[0].tags = free_;
    d[0].ntags = 1;
    d[1].tags = paid;
    d[1].ntags = 2;
    d[2].tags = dflt;
    d[2].ntags = 1;
    /* d[3] has no tags */
    tags[0] = "paid";
    /* off: every deployment, whatever the tags */
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 4, tags, 1, keep), 4);
    rc.tag_filtering = 1;
    /* a tag: the deployments that have it */
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 4, tags, 1, keep), 1);
    assert_true(keep[1] && !keep[0] && !keep[2] && !keep[3]);
    /* match any (LiteLLM's default): one tag in common is enough */
    tags[1] = "free";
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 4, tags, 2, keep), 2);
    assert_true(keep[0] && keep[1] && !keep[2]);
    /* tag_filtering_match_any: false: every tag of the request */
    rc.tag_match_all = 1;
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 4, tags, 2, keep), 1);
    assert_true(keep[2]); /* none has both: the "default" ones */
    tags[1] = "eu";
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 4, tags, 2, keep), 1);
    assert_true(keep[1]);
    rc.tag_match_all = 0;
    /* no deployment has the tag: the "default" ones */
    tags[0] = "gold";
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 4, tags, 1, keep), 1);
    assert_true(keep[2] && !keep[3]);
    /* untagged: the "default" ones */
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 4, NULL, 0, keep), 1);
    assert_true(keep[2]);
    /* without a "default" one: untagged go anywhere, an unmatched tag nowhere */
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 2, NULL, 0, keep), 2);
    assert_true(keep[0] && keep[1]);
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 2, tags, 1, keep), 0);
    assert_true(!keep[0] && !keep[1]);
    deps[0] = &d[3];
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 1, tags, 1, keep), 0);
    assert_int_equal(sllmp_route_tag_filter(&rc, deps, 1, NULL, 0, keep), 1);
}

static const char models[] = "model_list:\n"
                             "  - model_name: gpt\n"
                             "    litellm_params: {model: mock/a, weight: 2.5, num_retries: 1,\n"
                             "                     cooldown_time: 2.5}\n"
                             "    model_info: {id: east-1}\n"
                             "  - model_name: gpt\n"
                             "    litellm_params: {model: mock/b}\n"
                             "  - model_name: claude\n"
                             "    litellm_params: {model: mock/c}\n"
                             "  - model_name: big\n"
                             "    litellm_params: {model: mock/d}\n";

static void
test_conf_router(void **state)
{
    sllmp_conf_t *c;
    const sllmp_deployment_t *g[4];
    const sllmp_fallback_t *fb;
    char text[2048];

    (void)state;
    /* defaults: LiteLLM's */
    c = load(models);
    assert_int_equal(c->router.strategy, SLLMP_STRATEGY_SHUFFLE);
    assert_int_equal(c->router.num_retries, 2);
    assert_int_equal(c->router.allowed_fails, 3);
    assert_int_equal(c->router.cooldown_ms, 5000);
    assert_int_equal(sllmp_conf_group(c, "gpt", g, 4), 2);
    assert_string_equal(g[0]->id, "east-1");
    assert_true(g[0]->weight == 2.5 && g[0]->weight_set);
    assert_int_equal(g[0]->num_retries, 1);
    assert_int_equal(g[0]->cooldown_ms, 2500);
    assert_int_equal(g[1]->num_retries, -1);
    assert_int_equal(g[1]->cooldown_ms, -1);
    /* a made-up id: 16 hex, stable, different per deployment; the route ids differ too */
    assert_int_equal(strlen(g[1]->id), 16);
    assert_string_not_equal(g[0]->route_id, g[1]->route_id);
    assert_int_equal(strncmp(g[1]->route_id, "route:", 6), 0);
    assert_int_equal(sllmp_conf_group(c, "nope", g, 4), 0);
    assert_null(sllmp_conf_fallback(c, SLLMP_FB_GENERIC, "gpt"));
    sllmp_conf_unref(c);

    snprintf(text, sizeof(text),
             "%s"
             "router_settings:\n"
             "  routing_strategy: least-busy\n"
             "  num_retries: 4\n"
             "  allowed_fails: 1\n"
             "  cooldown_time: 30\n"
             "  retry_after: 0.5\n"
             "  fallbacks: [{\"gpt\": [\"claude\", \"big\"]}]\n"
             "litellm_settings:\n"
             "  context_window_fallbacks: [{gpt: big}]\n"
             "  content_policy_fallbacks:\n"
             "    - claude: [gpt]\n"
             "sllmp:\n"
             "  router: {backoff_ms: 10, backoff_max_ms: 100, max_retry_after_ms: 2000}\n",
             models);
    c = load(text);
    assert_int_equal(c->router.strategy, SLLMP_STRATEGY_LEAST_BUSY);
    assert_int_equal(c->router.num_retries, 4);
    assert_int_equal(c->router.allowed_fails, 1);
    assert_int_equal(c->router.cooldown_ms, 30000);
    assert_int_equal(c->router.retry_after_ms, 500);
    assert_int_equal(c->router.backoff_base_ms, 10);
    assert_int_equal(c->router.backoff_max_ms, 100);
    assert_int_equal(c->router.retry_after_max_ms, 2000);
    fb = sllmp_conf_fallback(c, SLLMP_FB_GENERIC, "gpt");
    assert_non_null(fb);
    assert_int_equal(fb->nto, 2);
    assert_string_equal(fb->to[0], "claude");
    assert_string_equal(fb->to[1], "big");
    fb = sllmp_conf_fallback(c, SLLMP_FB_CONTEXT_WINDOW, "gpt");
    assert_non_null(fb);
    assert_int_equal(fb->nto, 1);
    assert_string_equal(fb->to[0], "big");
    fb = sllmp_conf_fallback(c, SLLMP_FB_CONTENT_POLICY, "claude");
    assert_non_null(fb);
    assert_string_equal(fb->to[0], "gpt");
    assert_null(sllmp_conf_fallback(c, SLLMP_FB_CONTENT_POLICY, "gpt"));
    sllmp_conf_unref(c);

    /* the other strategies by name */
    snprintf(text, sizeof(text), "%srouter_settings: {routing_strategy: latency-based-routing}\n",
             models);
    c = load(text);
    assert_int_equal(c->router.strategy, SLLMP_STRATEGY_LATENCY);
    sllmp_conf_unref(c);
}

static void
test_conf_router_errors(void **state)
{
    char text[2048];

    (void)state;
    snprintf(text, sizeof(text), "%srouter_settings:\n  routing_strategy: fastest\n", models);
    expect_error(text, "t.yaml:13:21: router_settings.routing_strategy must be one of");
    snprintf(text, sizeof(text), "%srouter_settings:\n  fallbacks: [{gpt: [nope]}]\n", models);
    expect_error(text, "t.yaml:13:21: fallbacks: fallback model 'nope' is not in model_list");
    snprintf(text, sizeof(text), "%slitellm_settings:\n  fallbacks: [{nope: [gpt]}]\n", models);
    expect_error(text, "t.yaml:13:16: fallbacks: model 'nope' is not in model_list");
    snprintf(text, sizeof(text), "%srouter_settings:\n  fallbacks: {gpt: claude}\n", models);
    expect_error(text, "t.yaml:13:14: fallbacks must be a list");
    snprintf(text, sizeof(text), "%srouter_settings:\n  num_retries: 11\n", models);
    expect_error(text, "router_settings.num_retries must be between 0 and 10");
    snprintf(text, sizeof(text), "%srouter_settings:\n  cooldown_time: -1\n", models);
    expect_error(text, "router_settings.cooldown_time must be a number of seconds");
    expect_error("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n"
                 "    model_info: {id: \"a b\"}\n",
                 "t.yaml:4:22: model_info.id must be");
    expect_error("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n"
                 "    model_info: {id: one}\n"
                 "  - model_name: b\n    litellm_params: {model: mock/b}\n"
                 "    model_info: {id: one}\n",
                 "t.yaml:5:5: model_info.id 'one' is already the id of the model_list entry at "
                 "line 2");
}

static void
warned(const sllmp_conf_t *c, const char *want)
{
    for (size_t i = 0; i < c->nwarnings; i++) {
        if (strstr(c->warnings[i], want) != NULL) {
            return;
        }
    }
    fail_msg("no warning '%s'", want);
}

/* LiteLLM's retry_policy and model_group_retry_policy: the class of each failure, the retries
 * the policy gives it (the group's policy whole in place of the router's), read and shown. */
static void
test_retry_policy(void **state)
{
    sllmp_conf_t *c;
    char text[4096], buf[4096];
    FILE *f;

    (void)state;
    assert_int_equal(sllmp_route_retry_class(SLLMP_ERR_PROVIDER_BAD_REQUEST, 400, -1),
                     SLLMP_RETRY_BAD_REQUEST);
    assert_int_equal(
        sllmp_route_retry_class(SLLMP_ERR_PROVIDER_BAD_REQUEST, 400, SLLMP_FB_CONTEXT_WINDOW),
        SLLMP_RETRY_BAD_REQUEST);
    assert_int_equal(
        sllmp_route_retry_class(SLLMP_ERR_PROVIDER_BAD_REQUEST, 400, SLLMP_FB_CONTENT_POLICY),
        SLLMP_RETRY_CONTENT_POLICY);
    assert_int_equal(
        sllmp_route_retry_class(SLLMP_ERR_CONTENT_POLICY, 400, SLLMP_FB_CONTENT_POLICY),
        SLLMP_RETRY_CONTENT_POLICY);
    assert_int_equal(sllmp_route_retry_class(SLLMP_ERR_PROVIDER_BAD_REQUEST, 404, -1), -1);
    assert_int_equal(sllmp_route_retry_class(SLLMP_ERR_PROVIDER_AUTH, 401, 0), SLLMP_RETRY_AUTH);
    assert_int_equal(sllmp_route_retry_class(SLLMP_ERR_PROVIDER_AUTH, 403, 0), -1);
    assert_int_equal(sllmp_route_retry_class(SLLMP_ERR_TIMEOUT, 0, 0), SLLMP_RETRY_TIMEOUT);
    assert_int_equal(sllmp_route_retry_class(SLLMP_ERR_PROVIDER_RATE_LIMIT, 429, 0),
                     SLLMP_RETRY_RATE_LIMIT);
    assert_int_equal(sllmp_route_retry_class(SLLMP_ERR_PROVIDER_QUOTA, 429, 0),
                     SLLMP_RETRY_RATE_LIMIT);
    assert_int_equal(sllmp_route_retry_class(SLLMP_ERR_PROVIDER, 500, 0), SLLMP_RETRY_INTERNAL);
    assert_int_equal(sllmp_route_retry_class(SLLMP_ERR_PROVIDER, 502, 0), -1);
    assert_int_equal(sllmp_route_retry_class(SLLMP_ERR_PROVIDER_UNAVAILABLE, 503, 0), -1);

    /* none: num_retries */
    c = load(models);
    assert_int_equal(sllmp_route_policy_retries(&c->router, "gpt", SLLMP_RETRY_INTERNAL), -1);
    sllmp_conf_unref(c);

    snprintf(text, sizeof(text),
             "%s"
             "router_settings:\n"
             "  retry_policy:\n"
             "    InternalServerErrorRetries: 4\n"
             "    BadRequestErrorRetries: 0\n"
             "    TimeoutErrorRetries: null\n"
             "    NotFoundErrorRetries: 3\n"
             "  model_group_retry_policy:\n"
             "    claude: {RateLimitErrorRetries: 5}\n"
             "    nope: {RateLimitErrorRetries: 1}\n",
             models);
    c = load(text);
    assert_int_equal(sllmp_route_policy_retries(&c->router, "gpt", SLLMP_RETRY_INTERNAL), 4);
    assert_int_equal(sllmp_route_policy_retries(&c->router, "gpt", SLLMP_RETRY_BAD_REQUEST), 0);
    assert_int_equal(sllmp_route_policy_retries(&c->router, "gpt", SLLMP_RETRY_TIMEOUT), -1);
    assert_int_equal(sllmp_route_policy_retries(&c->router, "gpt", -1), -1);
    /* a group's policy replaces the router's whole, as in LiteLLM */
    assert_int_equal(sllmp_route_policy_retries(&c->router, "claude", SLLMP_RETRY_RATE_LIMIT), 5);
    assert_int_equal(sllmp_route_policy_retries(&c->router, "claude", SLLMP_RETRY_INTERNAL), -1);
    for (size_t i = 0; i < c->nwarnings; i++) {
        assert_null(strstr(c->warnings[i], "retry_policy is not supported"));
    }
    warned(c, "t.yaml:17:5: router_settings.retry_policy.NotFoundErrorRetries is not "
              "supported by sllmp");
    warned(c, "t.yaml:20:5: router_settings.model_group_retry_policy: 'nope' is not a model in "
              "model_list");
    f = fmemopen(buf, sizeof(buf) - 1, "w");
    sllmp_conf_describe(c, f);
    fclose(f);
    assert_non_null(strstr(buf,
                           "  retry_policy: BadRequestErrorRetries 0, InternalServerErrorRetries "
                           "4 (else num_retries)\n"));
    assert_non_null(strstr(buf, "  retry_policy of claude: RateLimitErrorRetries 5 (else "
                                "num_retries)\n"));
    sllmp_conf_unref(c);

    snprintf(text, sizeof(text),
             "%srouter_settings:\n  retry_policy: {RateLimitErrorRetries: 11}\n", models);
    expect_error(text, "t.yaml:13:41: router_settings.retry_policy.RateLimitErrorRetries must be "
                       "between 0 and 10");
    snprintf(text, sizeof(text), "%srouter_settings:\n  retry_policy: [1]\n", models);
    expect_error(text, "t.yaml:13:17: router_settings.retry_policy must be a mapping");
    snprintf(text, sizeof(text),
             "%srouter_settings:\n  model_group_retry_policy: {gpt: {TimeoutErrorRetries: x}}\n",
             models);
    expect_error(text,
                 "router_settings.model_group_retry_policy.gpt.TimeoutErrorRetries must be an "
                 "integer");
}

/* Two keys of one provider are two deployments: ids, routing state and limits apart. */
/* LiteLLM's allowed_fails_policy: a named class counts towards a cooldown with its own allowed
 * fails (in place of a 429's immediate one and of allowed_fails); read, warned, shown. */
static void
test_allowed_fails_policy(void **state)
{
    sllmp_router_conf_t rc = {0};
    sllmp_conf_t *c;
    char text[2048], buf[4096];
    long allowed;
    FILE *f;

    (void)state;
    rc.allowed_fails = 3;
    /* no policy: as classified, with allowed_fails */
    assert_int_equal(sllmp_route_fail_outcome(&rc, SLLMP_ERR_PROVIDER_RATE_LIMIT,
                                              SLLMP_RETRY_RATE_LIMIT, SLLMP_ROUTE_COOL, &allowed),
                     SLLMP_ROUTE_COOL);
    assert_int_equal(allowed, 3);
    rc.has_fails_policy = 1;
    for (int i = 0; i < SLLMP_RETRY_NCLASSES; i++) {
        rc.fails_policy.retries[i] = -1;
    }
    rc.fails_policy.retries[SLLMP_RETRY_RATE_LIMIT] = 5;
    rc.fails_policy.retries[SLLMP_RETRY_INTERNAL] = 0;
    rc.fails_policy.retries[SLLMP_RETRY_BAD_REQUEST] = 0;
    /* a 429: counted, five allowed */
    assert_int_equal(sllmp_route_fail_outcome(&rc, SLLMP_ERR_PROVIDER_RATE_LIMIT,
                                              SLLMP_RETRY_RATE_LIMIT, SLLMP_ROUTE_COOL, &allowed),
                     SLLMP_ROUTE_FAIL);
    assert_int_equal(allowed, 5);
    /* a 500: none allowed */
    assert_int_equal(sllmp_route_fail_outcome(&rc, SLLMP_ERR_PROVIDER, SLLMP_RETRY_INTERNAL,
                                              SLLMP_ROUTE_FAIL, &allowed),
                     SLLMP_ROUTE_FAIL);
    assert_int_equal(allowed, 0);
    /* a class it does not name, none, a 400, an account out of credit: as before */
    assert_int_equal(sllmp_route_fail_outcome(&rc, SLLMP_ERR_TIMEOUT, SLLMP_RETRY_TIMEOUT,
                                              SLLMP_ROUTE_FAIL, &allowed),
                     SLLMP_ROUTE_FAIL);
    assert_int_equal(allowed, 3);
    assert_int_equal(
        sllmp_route_fail_outcome(&rc, SLLMP_ERR_PROVIDER_AUTH, -1, SLLMP_ROUTE_COOL, &allowed),
        SLLMP_ROUTE_COOL);
    assert_int_equal(sllmp_route_fail_outcome(&rc, SLLMP_ERR_PROVIDER_BAD_REQUEST,
                                              SLLMP_RETRY_BAD_REQUEST, SLLMP_ROUTE_NEUTRAL,
                                              &allowed),
                     SLLMP_ROUTE_NEUTRAL);
    assert_int_equal(sllmp_route_fail_outcome(&rc, SLLMP_ERR_PROVIDER_QUOTA, SLLMP_RETRY_RATE_LIMIT,
                                              SLLMP_ROUTE_COOL, &allowed),
                     SLLMP_ROUTE_COOL);

    snprintf(text, sizeof(text),
             "%srouter_settings:\n"
             "  allowed_fails_policy:\n"
             "    RateLimitErrorAllowedFails: 100\n"
             "    AuthenticationErrorAllowedFails: \"0\"\n"
             "    BadRequestErrorAllowedFails: 1000\n"
             "    NotFoundErrorAllowedFails: 1\n",
             models);
    c = load(text);
    assert_true(c->router.has_fails_policy);
    assert_int_equal(c->router.fails_policy.retries[SLLMP_RETRY_RATE_LIMIT], 100);
    assert_int_equal(c->router.fails_policy.retries[SLLMP_RETRY_AUTH], 0);
    assert_int_equal(c->router.fails_policy.retries[SLLMP_RETRY_TIMEOUT], -1);
    warned(c, "t.yaml:16:5: router_settings.allowed_fails_policy.BadRequestErrorAllowedFails has "
              "no effect");
    warned(c, "t.yaml:17:5: router_settings.allowed_fails_policy.NotFoundErrorAllowedFails is not "
              "supported");
    f = fmemopen(buf, sizeof(buf) - 1, "w");
    memset(buf, 0, sizeof(buf));
    sllmp_conf_describe(c, f);
    fclose(f);
    assert_non_null(strstr(buf, "  allowed_fails_policy: BadRequestErrorAllowedFails 1000, "
                                "AuthenticationErrorAllowedFails 0, RateLimitErrorAllowedFails 100 "
                                "(else allowed_fails or at once)\n"));
    sllmp_conf_unref(c);
    snprintf(text, sizeof(text),
             "%srouter_settings:\n  allowed_fails_policy: {TimeoutErrorAllowedFails: -1}\n",
             models);
    expect_error(text,
                 "t.yaml:13:52: router_settings.allowed_fails_policy.TimeoutErrorAllowedFails "
                 "must be between 0 and 1000000");
    snprintf(text, sizeof(text), "%srouter_settings:\n  allowed_fails_policy: [1]\n", models);
    expect_error(text, "t.yaml:13:25: router_settings.allowed_fails_policy must be a mapping");
}

static void
test_ids_tell_keys_apart(void **state)
{
    sllmp_conf_t *c;
    const sllmp_deployment_t *g[3];

    (void)state;
    c = load("model_list:\n"
             "  - model_name: gpt\n"
             "    litellm_params: {model: openai/gpt-4o, api_key: sk-one-1111, rpm: 10}\n"
             "  - model_name: gpt\n"
             "    litellm_params: {model: openai/gpt-4o, api_key: sk-two-2222, rpm: 10}\n"
             "  - model_name: gpt\n"
             "    litellm_params: {model: openai/gpt-4o, api_key: sk-two-2222, rpm: 10,\n"
             "                     api_base: \"https://eu.example.com/v1\"}\n");
    assert_int_equal(sllmp_conf_group(c, "gpt", g, 3), 3);
    for (int i = 0; i < 3; i++) {
        for (int k = i + 1; k < 3; k++) {
            assert_string_not_equal(g[i]->id, g[k]->id);
            assert_string_not_equal(g[i]->route_id, g[k]->route_id);
            assert_string_not_equal(g[i]->subject, g[k]->subject);
        }
        /* nothing of the key in what is shown */
        assert_null(strstr(g[i]->id, "sk-"));
        assert_null(strstr(g[i]->subject, "sk-"));
    }
    sllmp_conf_unref(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_pick_shuffle_weights),
        cmocka_unit_test(test_pick_cooldown_and_state),
        cmocka_unit_test(test_pick_order),
        cmocka_unit_test(test_tag_filter),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_conf_router),
        cmocka_unit_test(test_conf_router_errors),
        cmocka_unit_test(test_retry_policy),
        cmocka_unit_test(test_allowed_fails_policy),
        cmocka_unit_test(test_ids_tell_keys_apart),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
