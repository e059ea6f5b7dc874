/*
 * llm_call: the attempt loop (retries, load balancing, cooldowns, fallbacks; the decisions are
 * in src/route.c) handing each attempt to the adapter of its deployment's provider.
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/log.h"
#include "sllmp/route.h"
#include "sllmp/util.h"

#include <stdio.h>
#include <string.h>

/* An OpenAI-compatible base URL with OpenAI's API beyond chat; Vertex AI's OpenAI-compatible
 * endpoint (a partner model with Google credentials) has chat completions only. */
static int
openai_api(const sllmp_deployment_t *d)
{
    return d->provider == SLLMP_PROVIDER_OPENAI && d->gcp == NULL;
}

int
sllmp_provider_serves(const sllmp_deployment_t *d, int kind)
{
    switch ((sllmp_kind_t)kind) {
    case SLLMP_KIND_CHAT:
        return 1;
    case SLLMP_KIND_COMPLETIONS:
    case SLLMP_KIND_IMAGES:
        return openai_api(d) || d->provider == SLLMP_PROVIDER_AZURE;
    case SLLMP_KIND_EMBEDDINGS:
        return d->provider != SLLMP_PROVIDER_ANTHROPIC;
    case SLLMP_KIND_MESSAGES:
        return d->messages_api;
    case SLLMP_KIND_COUNT_TOKENS:
        return 1; /* Anthropic's own count where the provider has one, else the estimate */
    case SLLMP_KIND_RESPONSES:
        return d->responses_api;
    case SLLMP_KIND_MODERATIONS:
        return openai_api(d); /* Azure OpenAI has no moderations API */
    }
    return 0;
}

static sllmp_rc_t
call_kind(sllmp_req_t *r)
{
    sllmp_provider_t p = r->dep->provider;

    switch (r->kind) {
    case SLLMP_KIND_CHAT:
        switch (p) {
        case SLLMP_PROVIDER_OPENAI:
        case SLLMP_PROVIDER_AZURE:
            return r->dep->chat_via_responses ? sllmp_provider_openai_via_responses(r)
                                              : sllmp_provider_openai_chat(r);
        case SLLMP_PROVIDER_MOCK:
            return sllmp_provider_mock_chat(r);
        case SLLMP_PROVIDER_ANTHROPIC:
            return sllmp_provider_anthropic_chat(r);
        case SLLMP_PROVIDER_GEMINI:
            return sllmp_provider_gemini_chat(r);
        case SLLMP_PROVIDER_BEDROCK:
            return sllmp_provider_bedrock_chat(r);
        }
        break;
    case SLLMP_KIND_COMPLETIONS:
    case SLLMP_KIND_IMAGES:
    case SLLMP_KIND_MODERATIONS:
        return sllmp_provider_openai_chat(r); /* the router let only OpenAI and Azure through */
    case SLLMP_KIND_EMBEDDINGS:
        switch (p) {
        case SLLMP_PROVIDER_GEMINI:
            return sllmp_provider_gemini_embeddings(r);
        case SLLMP_PROVIDER_BEDROCK:
            return sllmp_provider_bedrock_embeddings(r);
        case SLLMP_PROVIDER_MOCK:
            return sllmp_provider_mock_embeddings(r);
        default:
            return sllmp_provider_openai_chat(r);
        }
    case SLLMP_KIND_MESSAGES:
        return p == SLLMP_PROVIDER_BEDROCK ? sllmp_provider_bedrock_messages(r)
                                           : sllmp_provider_anthropic_messages(r);
    case SLLMP_KIND_COUNT_TOKENS:
        if (p == SLLMP_PROVIDER_ANTHROPIC) {
            return sllmp_provider_anthropic_count_tokens(r);
        }
        if (p == SLLMP_PROVIDER_BEDROCK && r->dep->messages_api) {
            return sllmp_provider_bedrock_count_tokens(r);
        }
        return sllmp_provider_count_estimate(r);
    case SLLMP_KIND_RESPONSES:
        return sllmp_provider_openai_responses(r); /* the router let only responses_api through */
    }
    return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
}

/*
 * /v1/messages through chat: Anthropic's max_tokens is a ceiling its clients set high (Claude
 * Code asks 32000, its subagents too), which a model that writes less (gpt-4o: 16384) refuses
 * with a 400. For this attempt it is cut to the deployment's model_info.max_output_tokens; the
 * value it had, to put back, or -1 when nothing was cut.
 */
static double
output_ceiling(sllmp_req_t *r)
{
    cJSON *mt = cJSON_GetObjectItemCaseSensitive(r->json, "max_tokens");
    double was;

    if (r->messages == NULL || r->dep->max_output_tokens <= 0 || !cJSON_IsNumber(mt) ||
        mt->valuedouble <= (double)r->dep->max_output_tokens) {
        return -1;
    }
    was = mt->valuedouble;
    cJSON_SetNumberValue(mt, (double)r->dep->max_output_tokens);
    return was;
}

/* One call of the deployment r->dep, with its request defaults (litellm_params temperature,
 * max_tokens, ...) in a chat or completions request that has none of its own, for this
 * attempt only: a fallback to another deployment gets that one's. */
static sllmp_rc_t
call(sllmp_req_t *r)
{
    const char *added[SLLMP_DEP_DEFAULTS_MAX];
    double was = output_ceiling(r);
    size_t n = 0;
    sllmp_rc_t rc;

    /* not a compaction's: it generates nothing, and takes none of them (a 400) */
    if (r->kind == SLLMP_KIND_CHAT || r->kind == SLLMP_KIND_COMPLETIONS ||
        (r->kind == SLLMP_KIND_RESPONSES && !r->responses_compact)) {
        n = sllmp_dep_defaults_add(r->dep, r->json, r->kind == SLLMP_KIND_RESPONSES, added);
    }
    rc = call_kind(r);
    sllmp_dep_defaults_remove(r->json, added, n);
    if (was >= 0) {
        cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(r->json, "max_tokens"), was);
    }
    return rc;
}

/* ---------------------------------------------------------------- the attempt loop */

typedef struct {
    sllmp_store_t *store;          /* the shared routing state; NULL when unreachable */
    const sllmp_deployment_t *dep; /* of the attempt under way */
    char resid[SLLMP_RESID_MAX];   /* its in-flight lease */
    int leased;
    size_t hdr_len; /* the response headers before any attempt added its own */
} route_ctx_t;

static uint64_t
rnd64(void)
{
    uint64_t v;

    sllmp_random(&v, sizeof(v));
    return v;
}

static route_ctx_t *
ctx_of(sllmp_req_t *r)
{
    return r->mw_ctx[sllmp_middleware_index(&sllmp_mw_provider)];
}

/* A long attempt keeps its in-flight lease, so least-busy counts it. */
static void
route_keepalive(sllmp_req_t *r)
{
    route_ctx_t *x = ctx_of(r);

    if (x != NULL && x->leased && x->store != NULL) {
        x->store->ops->route_begin(x->store, x->dep->route_id, x->resid, r->conf->lease_ms);
    }
}

/* What one attempt leaves on r goes before the next: the error, the usage, the body, the
 * upstream's headers, and a deployment's limit refusal (sllmp_limit_rejections_total counts
 * requests a limit answered, not those another deployment then did). Nothing has reached the
 * client (the caller checked r->chunks). */
static void
reset_attempt(sllmp_req_t *r, route_ctx_t *x)
{
    r->limit_refused = 0;
    r->err = SLLMP_OK;
    r->err_status = 0;
    r->err_message = r->err_param = r->err_type = r->err_code = NULL;
    r->retry_after = r->retry_after_ms = NULL;
    r->upstream_wait_ms = 0;
    r->upstream_status = 0;
    memset(&r->usage, 0, sizeof(r->usage));
    r->completion_chars = 0;
    r->first_token_ms = 0;
    sllmp_buf_reset(&r->resp_body);
    if (!r->headers_sent && r->resp_headers.len > x->hdr_len) {
        r->resp_headers.len = x->hdr_len;
        r->resp_headers.ptr[x->hdr_len] = '\0';
    }
}

/* r's failure, kept while something else may overwrite it. */
typedef struct {
    sllmp_err_t err;
    int status;
    const char *message, *param, *type, *code, *retry_after, *retry_after_ms;
    int limit_refused;
} failure_t;

static void
failure_keep(const sllmp_req_t *r, failure_t *f)
{
    *f = (failure_t){r->err,      r->err_status,  r->err_message,    r->err_param,    r->err_type,
                     r->err_code, r->retry_after, r->retry_after_ms, r->limit_refused};
}

static void
failure_restore(sllmp_req_t *r, const failure_t *f)
{
    r->err = f->err;
    r->err_status = f->status;
    r->err_message = f->message;
    r->err_param = f->param;
    r->err_type = f->type;
    r->err_code = f->code;
    r->retry_after = f->retry_after;
    r->retry_after_ms = f->retry_after_ms;
    r->limit_refused = f->limit_refused; /* the provider's failure is the answer, not the limit */
}

/* The deployment that answered, for the client (before the headers go out). */
void
sllmp_route_headers(sllmp_req_t *r)
{
    char n[16];

    if (r->headers_sent || r->nattempts == 0) {
        return;
    }
    if (r->err == SLLMP_OK && r->dep != NULL) {
        sllmp_resp_header(r, "x-sllmp-model-id", r->dep->id);
    }
    snprintf(n, sizeof(n), "%d", r->nattempts);
    sllmp_resp_header(r, "x-sllmp-attempts", n);
}

/*
 * What r's failure on d means for routing. A wildcard pattern's model is the client's choice:
 * the provider not knowing it (404) is the client's doing, not the deployment's model gone, so
 * it cools nothing (the route state is shared by every model the pattern serves: one bad name
 * would turn them all away) and goes to no other deployment.
 */
static sllmp_route_verdict_t
classify(const sllmp_req_t *r, const sllmp_deployment_t *d)
{
    sllmp_route_verdict_t v =
        sllmp_route_classify(r->err, r->upstream_status, r->err_code, r->err_message);

    if (d->pattern && r->err == SLLMP_ERR_PROVIDER_BAD_REQUEST && r->upstream_status == 404) {
        v.outcome = SLLMP_ROUTE_NEUTRAL;
        v.fallback = -1;
    }
    return v;
}

/* One call to d: an attempt, kept for the trace (a child span of the request) and told to the
 * shared state (in flight while it runs; then latency, or a failure towards a cooldown). */
static sllmp_rc_t
attempt(sllmp_req_t *r, route_ctx_t *x, const sllmp_deployment_t *d, size_t group_size)
{
    sllmp_attempt_t *a = &r->attempts[r->nattempts++];
    const sllmp_router_conf_t *rc = &r->conf->router;
    sllmp_route_outcome_t outcome;
    long allowed = rc->allowed_fails;
    sllmp_rc_t res;
    int64_t ms;

    r->dep = d;
    x->dep = d;
    if (d->pattern && !d->price.known) {
        /* LiteLLM's wildcards serve models nobody listed: said once a process and pattern, as
         * such a model costs 0 and so escapes every budget */
        int first = __atomic_exchange_n(d->unpriced_flag, 1, __ATOMIC_RELAXED) == 0;

        sllmp_log(r->id, first ? SLLMP_LOG_WARN : SLLMP_LOG_DEBUG,
                  "%s/%s (for %s) has no price in conf/pricing.yaml: its cost counts as 0 and no "
                  "budget limits it (give the entry model_info prices)%s",
                  d->provider_name, d->model, d->model_name,
                  first ? "; said once for this pattern" : "");
    }
    memset(a, 0, sizeof(*a));
    a->dep = d;
    a->start_ms = sllmp_now_ms();
    /* a group of one has nothing to choose from and is never cooled down: its state would cost
     * each request three store calls (three Redis round trips) for nothing */
    if (x->store != NULL && group_size > 1) {
        sllmp_random_hex(x->resid, 16);
        x->leased =
            x->store->ops->route_begin(x->store, d->route_id, x->resid, r->conf->lease_ms) == 0;
    }
    res = call(r);
    a->end_ms = sllmp_now_ms();
    a->status = d->provider == SLLMP_PROVIDER_MOCK && r->err == SLLMP_OK ? 200 : r->upstream_status;
    a->err = r->err;
    a->error = r->err != SLLMP_OK ? r->err_message : NULL;
    if (x->store == NULL || group_size < 2) {
        return res;
    }
    if (res != SLLMP_ERROR) {
        outcome = SLLMP_ROUTE_OK;
        ms = r->stream && r->first_token_ms > a->start_ms ? r->first_token_ms - a->start_ms
                                                          : a->end_ms - a->start_ms;
    } else {
        sllmp_route_verdict_t v = classify(r, d);

        /* LiteLLM's allowed_fails_policy: the failures of its class before a cooldown */
        outcome = sllmp_route_fail_outcome(
            rc, r->err, sllmp_route_retry_class(r->err, r->upstream_status, v.fallback), v.outcome,
            &allowed);
        /* a timeout's time says the deployment is slow (without a sample of it, it would come
         * first for latency-based routing); a refusal in 1 ms or a 500 says nothing of its
         * speed, and a 408 is the provider's own clock: cooldowns see to those */
        ms = r->err == SLLMP_ERR_TIMEOUT && r->upstream_status != 408
                 ? (a->end_ms - a->start_ms) * SLLMP_ROUTE_TIMEOUT_PENALTY
                 : -1;
        if (r->client_gone) {
            outcome = SLLMP_ROUTE_NEUTRAL; /* the client's doing */
        }
    }
    if (x->store->ops->route_end(x->store, d->route_id, x->leased ? x->resid : "-", outcome,
                                 r->stream, ms, allowed,
                                 d->cooldown_ms >= 0 ? d->cooldown_ms : rc->cooldown_ms) == 1) {
        sllmp_log(r->id, SLLMP_LOG_WARN, "deployment %s (%s) cools down for %ld ms", d->model_name,
                  d->id, d->cooldown_ms >= 0 ? d->cooldown_ms : rc->cooldown_ms);
    }
    x->leased = 0;
    return res;
}

/* The deployments of model that can serve r, at most SLLMP_GROUP_MAX: those r's tags allow
 * (LiteLLM's tag routing, over the whole group: which kind each serves does not change which
 * the tags allow), of the upstream account r is pinned to, that serve r's kind. */
static size_t
gather(sllmp_req_t *r, const char *model, const sllmp_deployment_t **deps)
{
    const sllmp_deployment_t *all[SLLMP_GROUP_MAX];
    size_t n = sllmp_conf_group(r->conf, model, all, SLLMP_GROUP_MAX), k = 0;
    int tagged[SLLMP_GROUP_MAX];

    for (size_t i = 0; i < n; i++) {
        /* a wildcard pattern's deployment as it serves model: what it may serve depends on it */
        all[i] = sllmp_deployment_for(all[i], model, r->arena);
    }
    sllmp_route_tag_filter(&r->conf->router, all, n, r->tags, r->ntags, tagged);
    for (size_t i = 0; i < n; i++) {
        const sllmp_deployment_t *d = all[i];

        if (!tagged[i]) {
            continue;
        }
        if (r->pin_account != NULL && strcmp(d->account, r->pin_account) != 0) {
            continue; /* not the upstream account that keeps the response it continues */
        }
        if (sllmp_provider_serves(d, r->kind)) {
            deps[k++] = d;
        }
    }
    return k;
}

/* Milliseconds the upstream asked to wait, -1 when it did not say. Not r->retry_after: that
 * may be the gateway's own hint to the client ("1" on a refused connection), which a retry
 * here, going after its backoff anyway, has no reason to wait for. */
static int64_t
asked_wait(const sllmp_req_t *r)
{
    return r->upstream_wait_ms > 0 ? r->upstream_wait_ms : -1;
}

/*
 * The attempts on one model group: a first one, then up to num_retries more on retryable
 * failures, each going to a deployment that has not failed in this request when there is one
 * (at once), else to one that has (after the backoff, and its Retry-After). FINISHED, or
 * SLLMP_ERROR with *v telling what the last failure means.
 *
 * LiteLLM's litellm_params.order ranks the deployments: the attempts go to the lowest order
 * that has one available (not cooling down, within its limits, not refused for good), and
 * its retries stay there. When its attempts are spent, or none of it is available any more,
 * the next order gets attempts of its own (LiteLLM's order fallback, before the fallback
 * lists); never back to a lower one. Deployments without an order come after every order.
 */
static sllmp_rc_t
try_group(sllmp_req_t *r, route_ctx_t *x, const char *model, sllmp_route_verdict_t *v)
{
    const sllmp_router_conf_t *rc = &r->conf->router;
    const sllmp_deployment_t *deps[SLLMP_GROUP_MAX];
    const char *ids[SLLMP_GROUP_MAX];
    sllmp_route_state_t st[SLLMP_GROUP_MAX];
    int failed[SLLMP_GROUP_MAX] = {0}, refused[SLLMP_GROUP_MAX] = {0}, ok[SLLMP_GROUP_MAX];
    int hopeless[SLLMP_GROUP_MAX] = {0}; /* failed in a way a retry of it would not cure */
    int spent[SLLMP_GROUP_MAX] = {0};    /* of an order whose attempts are over */
    int live[SLLMP_GROUP_MAX];
    size_t n = gather(r, model, deps);
    int tries = 0; /* of the current order */
    long tier = -1, budget, policy;
    int64_t wait_asked = -1;
    failure_t saved;

    *v = (sllmp_route_verdict_t){0, SLLMP_ROUTE_NEUTRAL, SLLMP_FB_GENERIC};
    if (n == 0 && r->err != SLLMP_OK) {
        /* a fallback none of whose deployments the request's tags allow: the next one */
        sllmp_log(r->id, SLLMP_LOG_INFO, "not falling back to %s: no deployment for the tags",
                  model);
        return SLLMP_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = deps[i]->route_id;
    }
    while (r->nattempts < SLLMP_ATTEMPTS_MAX) {
        const sllmp_route_state_t *sp =
            x->store != NULL && n > 1 && x->store->ops->route_state(x->store, ids, n, st) == 0
                ? st
                : NULL;
        int same = 0, i;
        int64_t cool = 0;
        long t;

        for (size_t k = 0; k < n; k++) {
            live[k] = !refused[k] && !hopeless[k] && !spent[k];
        }
        t = sllmp_route_tier(rc, deps, n, sp, live);
        if (t >= 0 && t != tier) {
            /* the first order, or the next one: what is below it is over for this request */
            for (size_t k = 0; k < n; k++) {
                spent[k] |= sllmp_route_order(deps[k]) < t;
                live[k] &= !spent[k];
            }
            if (tier >= 0) {
                sllmp_log(r->id, SLLMP_LOG_INFO, "%s: going on to the deployments of order %ld",
                          model, t);
            }
            tier = t;
            tries = 0;
            wait_asked = -1;
        }
        for (size_t k = 0; k < n; k++) {
            ok[k] = live[k] && !failed[k] && sllmp_route_order(deps[k]) == tier;
        }
        i = sllmp_route_pick(rc, deps, n, sp, ok, r->stream, rnd64());
        if (i < 0 && tries > 0) {
            /* every other deployment of the order failed, or cools down: the same one again */
            for (size_t k = 0; k < n; k++) {
                ok[k] = live[k] && sllmp_route_order(deps[k]) == tier;
            }
            i = sllmp_route_pick(rc, deps, n, sp, ok, r->stream, rnd64());
            same = 1;
        }
        if (i < 0) {
            if (tries > 0 || r->err != SLLMP_OK) {
                return SLLMP_ERROR; /* the last failure (or limit refusal) stands */
            }
            for (size_t k = 0; sp != NULL && k < n; k++) {
                if (sp[k].cool_ms > 0 && (cool == 0 || sp[k].cool_ms < cool)) {
                    cool = sp[k].cool_ms;
                }
            }
            r->retry_after = sllmp_arena_printf(r->arena, "%lld", (long long)(cool + 999) / 1000);
            return sllmp_req_fail(r, SLLMP_ERR_PROVIDER_UNAVAILABLE, NULL,
                                  "Every deployment of model '%.*s' is cooling down after "
                                  "failures; try again in %lld s.",
                                  sllmp_utf8_prec(model, 200), model,
                                  (long long)(cool + 999) / 1000);
        }
        if (same) {
            int64_t wait = sllmp_route_backoff(rc, tries, wait_asked, rnd64());

            if (wait < 0) {
                sllmp_log(r->id, SLLMP_LOG_INFO,
                          "not retrying %s: the provider asks to wait %lld ms", model,
                          (long long)wait_asked);
                return SLLMP_ERROR;
            }
            /* no heartbeat starts a stream while it waits: the failure may still go out with
             * its own status (a stream a heartbeat started already gets them) */
            if (wait > 0 && sllmp_provider_pause(r, wait, r->stream_started) < 0) {
                v->fallback = -1; /* nobody is waiting for an answer any more */
                return sllmp_req_fail(r, SLLMP_ERR_CLIENT_GONE, NULL, NULL);
            }
        }
        failure_keep(r, &saved);
        if (sllmp_limits_attempt(r, deps[i]) != 0) {
            refused[i] = 1; /* its own rpm/tpm/parallel: another may have room */
            if (saved.err != SLLMP_OK) {
                /* a provider's failure tells the client more than our limit on the next try */
                failure_restore(r, &saved);
            } else {
                *v = (sllmp_route_verdict_t){1, SLLMP_ROUTE_NEUTRAL, SLLMP_FB_GENERIC};
            }
            continue;
        }
        reset_attempt(r, x);
        if (attempt(r, x, deps[i], n) != SLLMP_ERROR) {
            return SLLMP_FINISHED;
        }
        sllmp_limits_attempt_failed(r);
        failed[i] = 1;
        tries++;
        *v = classify(r, deps[i]);
        if (r->chunks > 0 || r->client_gone || r->err == SLLMP_ERR_CLIENT_GONE) {
            v->fallback = -1; /* the answer had begun, or nobody is waiting for one */
            return SLLMP_ERROR;
        }
        budget = deps[i]->num_retries >= 0 ? deps[i]->num_retries : rc->num_retries;
        policy = sllmp_route_policy_retries(
            rc, model, sllmp_route_retry_class(r->err, r->upstream_status, v->fallback));
        if (policy >= 0) {
            /* LiteLLM's retry_policy: this class's retries in place of num_retries, and a
             * class not retried otherwise (a 400, refused credentials) is then; an account out
             * of credit still never on its own deployment */
            budget = policy;
            v->retryable |= policy > 0 && r->err != SLLMP_ERR_PROVIDER_QUOTA;
        }
        /* the gateway's credentials refused, the model gone (cooled, not retried): another
         * deployment of the group may still answer, at once */
        hopeless[i] = !v->retryable;
        if (!v->retryable && v->outcome != SLLMP_ROUTE_COOL) {
            return SLLMP_ERROR;
        }
        if (tries > budget) {
            int more = 0;

            /* this order's attempts are spent: the next order's, if there is one */
            for (size_t k = 0; k < n; k++) {
                spent[k] |= sllmp_route_order(deps[k]) <= tier;
                more |= !spent[k] && !refused[k] && !hopeless[k];
            }
            if (!more) {
                return SLLMP_ERROR;
            }
            continue;
        }
        wait_asked = asked_wait(r);
        sllmp_log(r->id, SLLMP_LOG_INFO, "retrying %s after %s from %s (%d)", model,
                  sllmp_err_info(r->err)->name, deps[i]->id, r->upstream_status);
    }
    return SLLMP_ERROR;
}

/* The next model of the fallback list that r may use. */
static const char *
next_fallback(sllmp_req_t *r, const sllmp_fallback_t *fb, size_t *next)
{
    while (*next < fb->nto) {
        const char *m = fb->to[(*next)++];

        if (strcmp(m, r->group) != 0 && sllmp_key_allows(r->key, m)) {
            return m;
        }
    }
    return NULL;
}

/* Whether r can go to the fallback model: a request passed through (/v1/responses, kind
 * RESPONSES; /v1/messages, kind MESSAGES) to a model none of whose deployments has that API
 * goes through chat completions, as validate would have sent it there
 * (sllmp_responses_translate, sllmp_messages_translate); one that cannot be translated skips
 * the model. */
static int
fallback_fits(sllmp_req_t *r, const char *model)
{
    const sllmp_deployment_t *deps[SLLMP_GROUP_MAX];
    int responses = r->kind == SLLMP_KIND_RESPONSES;
    failure_t saved;
    int rc;

    if ((!responses && r->kind != SLLMP_KIND_MESSAGES) || gather(r, model, deps) > 0) {
        return 1;
    }
    failure_keep(r, &saved);
    rc = responses ? sllmp_responses_translate(r) : sllmp_messages_translate(r);
    failure_restore(r, &saved); /* the failure that led here stays the answer's */
    if (rc < 0) {
        sllmp_log(r->id, SLLMP_LOG_INFO,
                  "not falling back to %s: it has no %s API and the request does not translate",
                  model, responses ? "Responses" : "Messages");
    }
    return rc == 0;
}

/*
 * llm_call: the model group the client named, with retries; then, when its failure is one a
 * fallback list is for (LiteLLM's fallbacks, context_window_fallbacks,
 * content_policy_fallbacks; the generic list when that kind has no list at all), each model
 * of that list in order, with retries of its own, until one answers. Never once the answer has
 * begun to reach the client: LiteLLM then asks a fallback to continue the text, a different
 * model's answer glued to half of another's; sllmp ends the stream with an error instead.
 */
static sllmp_rc_t
provider_call(sllmp_req_t *r, void *mw_conf)
{
    route_ctx_t *x = sllmp_arena_calloc(r->arena, sizeof(*x));
    const sllmp_fallback_t *fb = NULL;
    const char *model = r->group;
    sllmp_route_verdict_t v;
    size_t next = 0;
    sllmp_rc_t rc;

    (void)mw_conf;
    r->mw_ctx[sllmp_middleware_index(&sllmp_mw_provider)] = x;
    /* NULL for a token count, which the limits leave alone: its attempts neither read nor move
     * the routing state (a provider's 429 on count_tokens, rate-limited apart from its
     * Messages, cools no deployment that serves generations) */
    x->store = sllmp_limits_store(r);
    x->hdr_len = r->resp_headers.len;
    sllmp_limits_keepalive_also(r, route_keepalive);
    for (;;) {
        rc = try_group(r, x, model, &v);
        if (rc != SLLMP_ERROR) {
            r->fell_back = model != r->group;
            sllmp_route_headers(r);
            return rc;
        }
        if (v.fallback < 0 || r->client_gone || r->nattempts >= SLLMP_ATTEMPTS_MAX) {
            break;
        }
        if (fb == NULL) {
            /* LiteLLM's rule: a context-window or content-policy failure takes the generic
             * list only when there is no list of its own at all */
            fb = sllmp_conf_fallback(r->conf, (sllmp_fb_kind_t)v.fallback, r->group);
            if (fb == NULL && r->conf->router.nfallbacks[v.fallback] == 0) {
                fb = sllmp_conf_fallback(r->conf, SLLMP_FB_GENERIC, r->group);
            }
            if (fb == NULL) {
                break;
            }
        }
        const char *m = next_fallback(r, fb, &next);

        while (m != NULL && !fallback_fits(r, m)) {
            m = next_fallback(r, fb, &next);
        }
        if (m == NULL) {
            break;
        }
        sllmp_log(r->id, SLLMP_LOG_INFO, "falling back from %s to %s after %s", model, m,
                  sllmp_err_info(r->err)->name);
        model = m;
    }
    if (r->nattempts == 0) {
        sllmp_limits_unused(r); /* nothing ran: the key's reservation is undone */
    }
    sllmp_route_headers(r);
    return SLLMP_ERROR;
}

const sllmp_middleware_t sllmp_mw_provider = {
    .name = "provider",
    .llm_call = provider_call,
};
