/*
 * The response cache (LiteLLM's litellm_settings.cache; include/sllmp/cache.h).
 *
 *   llm_call  before the provider: a request the cache takes (its kind among
 *             cache_params.supported_call_types, from /v1/chat/completions, /v1/completions or
 *             /v1/embeddings) is looked up under its key; a hit is the answer (FINISHED), sent
 *             as the stored body, or replayed as a stream's chunks through the pipeline. A miss
 *             goes on to the provider.
 *   on_chunk  a miss's stream, made whole as it goes (before usage hides the usage chunk).
 *   post      a miss's answer is kept, for the request's ttl.
 *
 * The controls are LiteLLM's: the body's `cache` object (ttl, s-maxage or s-max-age, no-cache:
 * do not read, no-store: do not keep, namespace, use-cache: with mode default_off, the only way
 * in), replaced as a whole by the key's metadata.cache (ttl, s-maxage, no-cache, no-store), and
 * Cache-Control's s-maxage as the ttl when none is set. A hit costs nothing (sllmp_req_cost),
 * keeps the stored answer's usage (so tokens per minute count it, as LiteLLM's do) and says
 * `x-sllmp-cache: hit`; every answer the cache took part in names its key in
 * `x-litellm-cache-key`. A failing store is a miss, never a failed request.
 */
#include "sllmp/cache.h"
#include "sllmp/conf.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/translate.h"
#include "sllmp/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An integer member of o, 0 when it is none. */
static long long
json_int(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

typedef struct {
    int no_cache, no_store, use_cache;
    long ttl_s, max_age_s; /* 0: none */
    const char *ns;        /* the request's namespace, NULL: none */
} controls_t;

typedef struct {
    char name[65]; /* where the answer is kept: SHA-256 of the key */
    int store;     /* a miss whose answer is to be kept */
    long ttl_s;
    sllmp_cache_asm_t asm_;
} cache_ctx_t;

/* Where the answer under the visible key lives (the shelf's name): its SHA-256, in hex, so that
 * any namespace or client's cache_key makes a safe file and Redis name. */
static void
shelf_name(const char *key, char name[65])
{
    unsigned char md[32];

    sllmp_sha256(key, strlen(key), md);
    sllmp_hex(md, 32, name);
}

/* What the body's or the key's `cache` object says; 0, or -1 with r failed. */
static int
read_controls(sllmp_req_t *r, const cJSON *o, controls_t *ct, int from_key)
{
    static const char *const bools[] = {"no-cache", "no-store", "use-cache"};
    int *flags[] = {&ct->no_cache, &ct->no_store, &ct->use_cache};
    const cJSON *v;

    if (o == NULL || cJSON_IsNull(o)) {
        return 0;
    }
    if (!cJSON_IsObject(o)) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "cache",
                              "cache must be an object of cache controls (ttl, s-maxage, "
                              "no-cache, no-store, namespace)") != 0
                   ? -1
                   : 0;
    }
    /* a key's controls are LiteLLM's SupportedCacheControls only */
    for (size_t i = 0; i < (from_key ? 2 : 3); i++) {
        *flags[i] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, bools[i]));
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "ttl");
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 366.0 * 86400) {
        ct->ttl_s = (long)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "s-maxage");
    if (v == NULL) {
        v = cJSON_GetObjectItemCaseSensitive(o, "s-max-age");
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= 0) {
        /* 0 accepts nothing stored: a fresh answer, kept for the next */
        ct->max_age_s = v->valuedouble < 1 ? -1 : (long)v->valuedouble;
    }
    if (!from_key && sllmp_json_str(o, "namespace") != NULL) {
        ct->ns = sllmp_json_str(o, "namespace");
    }
    return 0;
}

/* Cache-Control: s-maxage=N, which LiteLLM's proxy reads as the ttl. 0 when none. */
static long
header_ttl(sllmp_req_t *r)
{
    const char *h = sllmp_req_param(r, "HTTP_CACHE_CONTROL");
    const char *p = h != NULL ? strstr(h, "s-maxage=") : NULL;
    long v = 0;

    if (p != NULL) {
        p += 9;
        while (*p >= '0' && *p <= '9' && v < 366L * 86400) {
            v = v * 10 + (*p++ - '0');
        }
    }
    return v <= 366L * 86400 ? v : 0;
}

/* Whether the key lets its requests set each control of o (its allowed_cache_controls). 1, or
 * 0 with r failed: LiteLLM's 403. */
static int
allowed(sllmp_req_t *r, const cJSON *o)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, (cJSON_IsObject(o) && r->key != NULL ? o : NULL))
    {
        size_t i = 0;

        while (i < r->key->ncache_controls && strcmp(r->key->cache_controls[i], c->string) != 0) {
            i++;
        }
        if (r->key->ncache_controls > 0 && i == r->key->ncache_controls) {
            sllmp_req_fail(r, SLLMP_ERR_PERMISSION, "cache",
                           "Not allowed to set %.*s as a cache control. Contact admin to change "
                           "permissions.",
                           sllmp_utf8_prec(c->string, 64), c->string);
            return 0;
        }
    }
    return 1;
}

/* The request's controls: the key's metadata.cache, else the body's cache; Cache-Control's
 * s-maxage as the ttl when neither sets one (LiteLLM's proxy makes it a ttl of the request's,
 * which a key's controls do not replace). 0 or -1 (failed). */
static int
controls(sllmp_req_t *r, controls_t *ct)
{
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(r->json, "cache");
    cJSON *md = NULL;
    const cJSON *kc = NULL;
    int rc;

    memset(ct, 0, sizeof(*ct));
    if (!allowed(r, body)) {
        return -1;
    }
    if (r->key != NULL && r->key->metadata_json != NULL) {
        md = cJSON_Parse(r->key->metadata_json);
        kc = cJSON_GetObjectItemCaseSensitive(md, "cache");
    }
    rc = cJSON_IsObject(kc) ? read_controls(r, kc, ct, 1) : read_controls(r, body, ct, 0);
    cJSON_Delete(md);
    if (rc == 0 && ct->ttl_s == 0) {
        ct->ttl_s = header_ttl(r);
    }
    return rc;
}

/* Whether the cache takes r's kind of request. */
static int
takes(const sllmp_req_t *r, const sllmp_cache_conf_t *cc)
{
    switch (r->kind) {
    case SLLMP_KIND_CHAT:
        /* Responses and Messages translated to chat are answered in their shapes, with their
         * own ids and kept state: not from a chat answer stored for someone else */
        return (cc->kinds & SLLMP_CACHE_CHAT) && !r->responses_api && r->messages == NULL;
    case SLLMP_KIND_COMPLETIONS:
        return (cc->kinds & SLLMP_CACHE_COMPLETIONS) != 0;
    case SLLMP_KIND_EMBEDDINGS:
        return (cc->kinds & SLLMP_CACHE_EMBEDDINGS) != 0;
    default:
        return 0;
    }
}

/* The key as the client sees it (x-litellm-cache-key): its own cache_key, else the namespace
 * (the request's, its metadata.redis_namespace, cache_params') and the hash. NULL: no memory. */
static const char *
visible_key(sllmp_req_t *r, const controls_t *ct)
{
    const char *own = sllmp_json_str(r->json, "cache_key");
    const char *ns = ct->ns;
    char hex[65];

    if (own != NULL && *own != '\0' && strlen(own) <= 256) {
        return own;
    }
    if (sllmp_cache_key(r->json, r->group, hex) < 0) {
        return NULL;
    }
    if (ns == NULL) {
        ns = sllmp_json_str(cJSON_GetObjectItemCaseSensitive(r->json, "metadata"),
                            "redis_namespace");
    }
    if (ns == NULL) {
        ns = r->conf->cache.ns;
    }
    return ns != NULL && *ns != '\0' ? sllmp_arena_printf(r->arena, "%s:%s", ns, hex)
                                     : sllmp_arena_printf(r->arena, "%s", hex);
}

/* The hit's answer (its text, as it was sent): the body as it is, or its stream replayed
 * through the pipeline. */
static sllmp_rc_t
serve(sllmp_req_t *r, const char *text, size_t len)
{
    cJSON *resp = cJSON_ParseWithLength(text, len);
    sllmp_rc_t rc = SLLMP_FINISHED;

    if (resp == NULL) {
        return SLLMP_GO_ON; /* not what was kept (a file damaged): a miss */
    }
    r->cache_hit = 1;
    sllmp_resp_header(r, "x-sllmp-cache", "hit");
    if (r->stream) {
        cJSON *chunks = sllmp_cache_chunks(resp), *c;
        sllmp_chunk_t done = {"[DONE]", 6, NULL, 1, 0, NULL, NULL, 0};

        rc = chunks == NULL ? sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL) : SLLMP_FINISHED;
        cJSON_ArrayForEach(c, chunks)
        {
            if (rc == SLLMP_FINISHED && sllmp_provider_emit(r, c) != 0) {
                rc = SLLMP_ERROR;
            }
        }
        cJSON_Delete(chunks);
        if (rc == SLLMP_FINISHED && sllmp_pipeline_chunk(r, &done) != SLLMP_GO_ON) {
            rc = SLLMP_ERROR;
        }
    } else {
        /* the stored bytes: numbers printed again could move by their last digit */
        sllmp_buf_append(&r->resp_body, text, len);
        sllmp_usage_from_openai(&r->usage, cJSON_GetObjectItemCaseSensitive(resp, "usage"));
        r->first_token_ms = sllmp_now_ms();
    }
    cJSON_Delete(resp);
    return rc;
}

/*
 * The stored answer under name into out (its text), when there is one young enough: 1; else 0
 * (a store that fails is a miss, logged). What is stored: a line of JSON, {"v": 1, "kind":
 * <sllmp_kind_t>, "created": <epoch seconds>}, then the answer's text as it was sent.
 */
static int
lookup(sllmp_req_t *r, const char *name, long max_age_s, sllmp_buf_t *out)
{
    sllmp_buf_t b;
    const char *nl;
    cJSON *meta;
    int rc, fresh;

    sllmp_buf_init(&b, 0);
    rc = sllmp_cache_get(r->conf, sllmp_thread_store(r), name, &b);
    if (rc < 0) {
        sllmp_log(r->id, SLLMP_LOG_WARN, "the response cache could not be read: a miss");
    }
    nl = rc > 0 ? memchr(b.ptr, '\n', b.len) : NULL;
    meta = nl != NULL ? cJSON_ParseWithLength(b.ptr, (size_t)(nl - b.ptr)) : NULL;
    /* kept for the same front door: a client's own cache_key may name another's answer */
    fresh =
        json_int(meta, "v") == 1 && json_int(meta, "kind") == (long long)r->kind &&
        (max_age_s == 0 || (max_age_s > 0 && time(NULL) - json_int(meta, "created") <= max_age_s));
    if (fresh) {
        sllmp_buf_append(out, nl + 1, b.len - (size_t)(nl + 1 - b.ptr));
    }
    cJSON_Delete(meta);
    sllmp_buf_free(&b);
    return fresh;
}

static void
asm_free(void *p)
{
    sllmp_cache_asm_free(p);
}

static sllmp_rc_t
cache_llm_call(sllmp_req_t *r, void *mw_conf)
{
    const sllmp_cache_conf_t *cc = &r->conf->cache;
    cache_ctx_t *x;
    controls_t ct;
    const char *key;
    sllmp_buf_t hit;

    (void)mw_conf;
    if (cc->type == SLLMP_CACHE_OFF || !takes(r, cc) || r->json == NULL) {
        return SLLMP_GO_ON;
    }
    if (controls(r, &ct) < 0) {
        return SLLMP_ERROR;
    }
    if ((cc->default_off && !ct.use_cache) || (key = visible_key(r, &ct)) == NULL) {
        return SLLMP_GO_ON;
    }
    x = sllmp_arena_calloc(r->arena, sizeof(*x));
    shelf_name(key, x->name);
    x->ttl_s = ct.ttl_s > 0 ? ct.ttl_s : cc->ttl_s;
    r->mw_ctx[sllmp_middleware_index(&sllmp_mw_cache)] = x;
    r->cache_key = key;
    sllmp_resp_header(r, "x-litellm-cache-key", key);
    sllmp_buf_init(&hit, 0);
    if (!ct.no_cache && lookup(r, x->name, ct.max_age_s, &hit) > 0) {
        sllmp_rc_t rc = serve(r, hit.ptr, hit.len);

        sllmp_buf_free(&hit);
        if (rc != SLLMP_GO_ON) {
            return rc;
        }
    }
    sllmp_buf_free(&hit);
    sllmp_resp_header(r, "x-sllmp-cache", "miss");
    x->store = !ct.no_store;
    if (x->store && r->stream) {
        sllmp_arena_cleanup_add(r->arena, asm_free, &x->asm_);
    }
    return SLLMP_GO_ON;
}

static sllmp_rc_t
cache_chunk(sllmp_req_t *r, void *mw_conf, sllmp_chunk_t *chunk)
{
    cache_ctx_t *x = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_cache)];

    (void)mw_conf;
    if (x != NULL && x->store && chunk->json != NULL &&
        sllmp_cache_asm_add(&x->asm_, chunk->json) < 0) {
        x->store = 0; /* not a chunk it knows: nothing whole to keep */
    }
    return SLLMP_GO_ON;
}

static sllmp_rc_t
cache_post(sllmp_req_t *r, void *mw_conf)
{
    cache_ctx_t *x = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_cache)];
    cJSON *resp;
    char *text = NULL;
    sllmp_buf_t b;

    (void)mw_conf;
    /* kept only when the group asked for answered (not a fallback's model) */
    if (x == NULL || !x->store || r->cache_hit || r->fell_back) {
        return SLLMP_GO_ON;
    }
    resp = r->stream ? sllmp_cache_asm_take(&x->asm_)
                     : cJSON_ParseWithLength(r->resp_body.ptr, r->resp_body.len);
    if (resp == NULL || !sllmp_cache_worth_keeping(resp)) {
        cJSON_Delete(resp);
        return SLLMP_GO_ON;
    }
    if (r->stream && (text = cJSON_PrintUnformatted(resp)) == NULL) {
        cJSON_Delete(resp);
        return SLLMP_GO_ON;
    }
    cJSON_Delete(resp);
    sllmp_buf_init(&b, 0);
    sllmp_buf_printf(&b, "{\"v\":1,\"kind\":%d,\"created\":%lld}\n", (int)r->kind,
                     (long long)time(NULL));
    if (text != NULL) {
        sllmp_buf_appends(&b, text);
    } else {
        sllmp_buf_append(&b, r->resp_body.ptr, r->resp_body.len);
    }
    cJSON_free(text);
    if (sllmp_cache_put(r->conf, sllmp_thread_store(r), x->name, b.ptr, b.len, x->ttl_s) < 0) {
        sllmp_log(r->id, SLLMP_LOG_WARN, "the response cache could not keep an answer");
    }
    sllmp_buf_free(&b);
    return SLLMP_GO_ON;
}

const sllmp_middleware_t sllmp_mw_cache = {
    .name = "cache",
    .llm_call = cache_llm_call,
    .on_chunk = cache_chunk,
    .post = cache_post,
};

/* ---------------------------------------------------------------- /cache/... */

/* Whether r may change the cache: the master key, or anyone on a gateway without one. */
static int
admin(sllmp_req_t *r)
{
    if (sllmp_auth_check(r) != SLLMP_GO_ON) {
        return 0;
    }
    if (r->key != NULL && r->conf->master_key != NULL) {
        sllmp_req_fail(r, SLLMP_ERR_PERMISSION, NULL,
                       "Only the master key may delete cached answers.");
        return 0;
    }
    return 1;
}

/* GET /cache/ping: a probe answer written and read back. */
static void
ping(sllmp_req_t *r)
{
    const sllmp_cache_conf_t *cc = &r->conf->cache;
    sllmp_store_t *st = sllmp_thread_store(r);
    char name[65], body[256];
    sllmp_buf_t b;
    int ok;

    sllmp_random_hex(name, 32);
    sllmp_buf_init(&b, 0);
    ok = sllmp_cache_put(r->conf, st, name, "{}", 2, 10) == 0 &&
         sllmp_cache_get(r->conf, st, name, &b) == 1;
    sllmp_buf_free(&b);
    sllmp_cache_del(r->conf, st, name);
    if (!ok) {
        sllmp_req_fail(r, SLLMP_ERR_NOT_READY, NULL,
                       "Service Unhealthy: the %s cache could not keep and return an answer.",
                       cc->type_name);
        return;
    }
    snprintf(body, sizeof(body),
             "{\"status\":\"healthy\",\"cache_type\":\"%s\",\"ping_response\":true,"
             "\"set_cache_response\":\"success\"}",
             cc->type == SLLMP_CACHE_REDIS ? "redis" : cc->type_name);
    sllmp_resp_send(r, 200, "application/json", body, strlen(body));
}

/* POST /cache/delete {"keys": [...]}: the answers kept under those keys (x-litellm-cache-key). */
static void
delete_keys(sllmp_req_t *r)
{
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(r->json, "keys"), *k;
    static const char done[] = "{\"status\":\"success\"}";
    int failed = 0;

    if (!cJSON_IsArray(keys)) {
        sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "keys",
                       "keys must be a list of the cache keys to delete (x-litellm-cache-key).");
        return;
    }
    cJSON_ArrayForEach(k, keys)
    {
        char name[65];

        if (!cJSON_IsString(k)) {
            continue;
        }
        shelf_name(k->valuestring, name);
        failed |= sllmp_cache_del(r->conf, sllmp_thread_store(r), name) < 0;
    }
    if (failed) {
        sllmp_req_fail(r, SLLMP_ERR_NOT_READY, NULL, "Cache Delete Failed: the cache is down.");
        return;
    }
    sllmp_resp_send(r, 200, "application/json", done, sizeof(done) - 1);
}

void
sllmp_cache_endpoint(sllmp_req_t *r, const char *what)
{
    static const char done[] = "{\"status\":\"success\"}";

    if (r->conf->cache.type == SLLMP_CACHE_OFF) {
        if (sllmp_auth_check(r) == SLLMP_GO_ON) {
            sllmp_req_fail(r, SLLMP_ERR_NOT_READY, NULL,
                           "Cache not initialized: litellm_settings.cache is not true.");
        }
    } else if (strcmp(what, "ping") == 0) {
        if (sllmp_auth_check(r) == SLLMP_GO_ON) {
            ping(r);
        }
    } else if (admin(r) && strcmp(what, "delete") == 0) {
        delete_keys(r);
    } else if (r->err == SLLMP_OK) {
        if (sllmp_cache_flush(r->conf, sllmp_thread_store(r)) < 0) {
            sllmp_req_fail(r, SLLMP_ERR_NOT_READY, NULL, "Cache Flush Failed: the cache is down.");
        } else {
            sllmp_resp_send(r, 200, "application/json", done, sizeof(done) - 1);
        }
    }
    if (r->err != SLLMP_OK) {
        sllmp_resp_error(r);
    }
}
