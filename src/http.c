/*
 * The request entry point: one call of sllmp_handle() serves one whole request.
 *
 * It names the request (X-Request-ID), picks its config (SLLMP_CONFIG from the vhost's FastCGI
 * parameters, else the process environment, else the embedded default), applies CORS, routes
 * by REQUEST_URI (the same under lighttpd, mod_proxy_fcgi, mod_fcgid and CGI), and either
 * answers itself (health, ready, models, preflight, 404, 405) or reads the body and runs the
 * pipeline. Everything the request allocated lives in the thread's arena, reset at the end.
 */
#include "sllmp/conf.h"
#include "sllmp/core.h"
#include "sllmp/log.h"
#include "sllmp/metrics.h"
#include "sllmp/middleware.h"
#include "sllmp/pipeline.h"
#include "sllmp/ready.h"
#include "sllmp/req.h"
#include "sllmp/usage.h"
#include "sllmp/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <errno.h> /* program_invocation_name */
#include <string.h>
#include <sys/stat.h>
#include <strings.h>

typedef enum {
    EP_HEALTH,
    EP_READY,
    EP_MODELS,
    EP_MODEL,
    EP_METRICS,
    EP_CHAT,
    EP_COMPLETIONS,
    EP_EMBEDDINGS,
    EP_IMAGES,
    EP_MODERATIONS,
    EP_MESSAGES,
    EP_COUNT_TOKENS,
    EP_RESPONSES,
    EP_COMPACT,
    EP_RESPONSE,
    EP_CONVERSATIONS,
    EP_CONVERSATION,
    EP_CACHE
} endpoint_t;

typedef struct {
    const char *path;
    int prefix; /* matches path + "<id>" */
    const char *method;
    endpoint_t ep;
} route_t;

static const route_t routes[] = {
    {"/health", 0, "GET", EP_HEALTH},
    {"/ready", 0, "GET", EP_READY},
    /* LiteLLM's probes, so that a deployment's liveness and readiness checks carry over */
    {"/health/liveliness", 0, "GET", EP_HEALTH},
    {"/health/liveness", 0, "GET", EP_HEALTH},
    {"/health/readiness", 0, "GET", EP_READY},
    {"/metrics", 0, "GET", EP_METRICS},
    {"/v1/models", 0, "GET", EP_MODELS},
    {"/models", 0, "GET", EP_MODELS},
    {"/v1/models/", 1, "GET", EP_MODEL},
    {"/models/", 1, "GET", EP_MODEL},
    {"/v1/chat/completions", 0, "POST", EP_CHAT},
    {"/chat/completions", 0, "POST", EP_CHAT},
    {"/v1/completions", 0, "POST", EP_COMPLETIONS},
    {"/completions", 0, "POST", EP_COMPLETIONS},
    {"/v1/embeddings", 0, "POST", EP_EMBEDDINGS},
    {"/embeddings", 0, "POST", EP_EMBEDDINGS},
    {"/v1/images/generations", 0, "POST", EP_IMAGES},
    {"/images/generations", 0, "POST", EP_IMAGES},
    {"/v1/moderations", 0, "POST", EP_MODERATIONS},
    {"/moderations", 0, "POST", EP_MODERATIONS},
    {"/v1/messages", 0, "POST", EP_MESSAGES}, /* Anthropic's; its SDKs add the /v1 themselves */
    {"/v1/messages/count_tokens", 0, "POST", EP_COUNT_TOKENS},
    {"/v1/responses", 0, "POST", EP_RESPONSES},
    {"/responses", 0, "POST", EP_RESPONSES},
    /* the Responses API's compaction (Codex's), before the routes of a kept response's id */
    {"/v1/responses/compact", 0, "POST", EP_COMPACT},
    {"/responses/compact", 0, "POST", EP_COMPACT},
    /* a kept response, its input_items, its cancel (sllmp_responses_endpoint sorts them) */
    {"/v1/responses/", 1, "GET, POST, DELETE", EP_RESPONSE},
    {"/responses/", 1, "GET, POST, DELETE", EP_RESPONSE},
    /* OpenAI's conversations, kept by the upstream that made them */
    {"/v1/conversations", 0, "POST", EP_CONVERSATIONS},
    {"/conversations", 0, "POST", EP_CONVERSATIONS},
    {"/v1/conversations/", 1, "GET, POST, DELETE", EP_CONVERSATION},
    {"/conversations/", 1, "GET, POST, DELETE", EP_CONVERSATION},
    /* LiteLLM's management of its response cache */
    {"/cache/ping", 0, "GET", EP_CACHE},
    {"/cache/delete", 0, "POST", EP_CACHE},
    {"/cache/flushall", 0, "POST", EP_CACHE},
};

/* Whether method is one of a route's ("GET", "GET, DELETE"); HEAD goes where GET does. */
static int
method_allowed(const route_t *rt, const char *method)
{
    size_t n = strlen(method);

    if (n == 0) {
        return 0;
    }
    if (strcmp(method, "HEAD") == 0) {
        method = "GET";
        n = 3;
    }
    for (const char *p = rt->method; (p = strstr(p, method)) != NULL; p += n) {
        if ((p == rt->method || p[-1] == ' ') && (p[n] == '\0' || p[n] == ',')) {
            return 1;
        }
    }
    return 0;
}

static const route_t *
route(const char *path)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        size_t n = strlen(routes[i].path);

        if (routes[i].prefix ? strncmp(path, routes[i].path, n) == 0 && path[n] != '\0'
                             : strcmp(path, routes[i].path) == 0) {
            return &routes[i];
        }
    }
    return NULL;
}

static int
valid_request_id(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 128) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return 0;
        }
    }
    return 1;
}

/* The Origin, when CORS allows it: r->origin is set to what Access-Control-Allow-Origin says. */
static int
cors_allowed(sllmp_req_t *r, const char *origin)
{
    for (size_t i = 0; i < r->conf->ncors_origins; i++) {
        const char *o = r->conf->cors_origins[i];

        if (strcmp(o, "*") == 0) {
            r->origin = "*";
            return 1;
        }
        if (strcasecmp(o, origin) == 0) {
            r->origin = sllmp_arena_strdup(r->arena, origin);
            return 1;
        }
    }
    return 0;
}

static void
preflight(sllmp_req_t *r, const route_t *rt)
{
    const char *want = sllmp_req_param(r, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS");
    char allow[128];

    snprintf(allow, sizeof(allow), "%s, OPTIONS", rt->method);
    sllmp_resp_header(r, "Allow", allow);
    if (r->origin != NULL) {
        sllmp_resp_header(r, "Access-Control-Allow-Methods", allow);
        sllmp_resp_header(r, "Access-Control-Allow-Headers",
                          want && *want ? want
                                        : "Authorization, Content-Type, X-User-ID, X-Session-ID, "
                                          "X-Request-ID, OpenAI-Organization, OpenAI-Project");
        sllmp_resp_header(r, "Access-Control-Max-Age", "600");
    }
    sllmp_resp_send(r, 204, "text/plain", "", 0);
}

/* One model object of GET /v1/models, after n others. */
static void
model_entry(sllmp_buf_t *b, int n, const char *id, long long created, const char *owner)
{
    sllmp_buf_appends(b, n ? ",{\"id\":\"" : "{\"id\":\"");
    sllmp_buf_json_escape(b, id, strlen(id));
    sllmp_buf_printf(b, "\",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"", created);
    sllmp_buf_json_escape(b, owner, strlen(owner));
    sllmp_buf_appends(b, "\"}");
}

/*
 * The models a wildcard entry d serves that the price table knows (its provider's, which its
 * model's '*' matches), each under the name a client asks for, when d is what serves that name
 * (no entry of its own, no more specific pattern) and the key may use it: as LiteLLM lists a
 * wildcard route's known models beside the route itself. Returns the new count.
 */
static int
pattern_models(sllmp_req_t *r, sllmp_buf_t *b, int found, const sllmp_deployment_t *d)
{
    const sllmp_conf_t *c = r->conf;
    size_t plen = strlen(d->provider_name), at, len;
    const char *star = strchr(d->model_name, '*'), *key;

    if (star == NULL || strchr(d->model, '*') == NULL) {
        return found;
    }
    for (size_t i = 0; (key = sllmp_price_key(i)) != NULL; i++) {
        if (strncmp(key, d->provider_name, plen) != 0 || key[plen] != '/' ||
            !sllmp_pattern_match(d->model, key + plen + 1, &at, &len)) {
            continue;
        }
        const char *name =
            sllmp_arena_printf(r->arena, "%.*s%.*s%s", (int)(star - d->model_name), d->model_name,
                               (int)len, key + plen + 1 + at, star + 1);

        if (sllmp_conf_serving(c, name) == d && sllmp_key_allows(r->key, name)) {
            model_entry(b, found++, name, (long long)c->loaded_at, d->provider_name);
        }
    }
    return found;
}

static void
models(sllmp_req_t *r, const char *one)
{
    const sllmp_conf_t *c = r->conf;
    sllmp_buf_t b;
    int found = 0;

    if (sllmp_auth_check(r) != SLLMP_GO_ON) {
        sllmp_resp_error(r);
        return;
    }
    sllmp_buf_init(&b, 0);
    if (one == NULL) {
        sllmp_buf_appends(&b, "{\"object\":\"list\",\"data\":[");
    }
    for (size_t i = 0; i < c->ndeployments; i++) {
        const sllmp_deployment_t *d = &c->deployments[i];
        int dup = 0;

        for (size_t k = 0; k < i; k++) {
            dup |= strcmp(c->deployments[k].model_name, d->model_name) == 0;
        }
        if (dup || (one != NULL && strcmp(one, d->model_name) != 0)) {
            continue;
        }
        if (sllmp_key_allows(r->key, d->model_name)) {
            model_entry(&b, found++, d->model_name, (long long)c->loaded_at, d->provider_name);
        }
        /* a key that may not use the pattern as a whole may still use names it serves (its
         * models list them): pattern_models() asks the key of each */
        if (one == NULL && d->pattern) {
            found = pattern_models(r, &b, found, d);
        }
    }
    /* a model_group_alias is a model to its clients (listed unless hidden; found by name) */
    for (size_t i = 0; i < c->router.naliases; i++) {
        const sllmp_alias_t *a = &c->router.aliases[i];
        const sllmp_deployment_t *d = sllmp_conf_serving(c, a->target);

        if ((one == NULL ? a->hidden : strcmp(one, a->name) != 0) ||
            !(sllmp_key_allows(r->key, a->name) || sllmp_key_allows(r->key, a->target))) {
            continue;
        }
        model_entry(&b, found++, a->name, (long long)c->loaded_at, d->provider_name);
    }
    /* a wildcard pattern is listed as written, then the models of the price table it serves
     * (pattern_models); any name it serves is a model when asked for */
    if (one != NULL && !found && sllmp_conf_route_name(c, one) == one &&
        sllmp_key_allows(r->key, one)) {
        model_entry(&b, found++, one, (long long)c->loaded_at,
                    sllmp_conf_serving(c, one)->provider_name);
    }
    if (one == NULL) {
        sllmp_buf_appends(&b, "]}");
        sllmp_resp_send(r, 200, "application/json", b.ptr, b.len);
    } else if (found) {
        sllmp_resp_send(r, 200, "application/json", b.ptr, b.len);
    } else {
        r->model = one;
        sllmp_req_fail(r, SLLMP_ERR_MODEL_NOT_FOUND, "model",
                       "The model '%.*s' does not exist or is not configured on this gateway.",
                       sllmp_utf8_prec(one, 200), one);
        sllmp_resp_error(r);
    }
    sllmp_buf_free(&b);
}

/* Reads the whole body within the limit; SLLMP_OK, or an error (the body is drained first). */
static sllmp_err_t
read_body(sllmp_req_t *r)
{
    long max = r->conf->max_body_bytes;
    long declared = 0;
    const char *cl = sllmp_req_param(r, "CONTENT_LENGTH");
    char *buf;
    size_t cap, len = 0;

    if (cl != NULL && *cl != '\0' && sllmp_parse_long(cl, &declared) < 0) {
        declared = 0;
    }
    cap = (size_t)(declared > 0 && declared <= max ? declared : 16384);
    buf = sllmp_arena_alloc(r->arena, cap + 1);
    for (;;) {
        if (len == cap) {
            if ((long)cap > max) {
                break;
            }
            size_t ncap = cap * 2 > (size_t)max + 1 ? (size_t)max + 1 : cap * 2;
            char *nbuf = sllmp_arena_alloc(r->arena, ncap + 1);

            memcpy(nbuf, buf, len);
            buf = nbuf;
            cap = ncap;
        }
        long n = r->io->read(r->io->ctx, buf + len, cap - len);

        if (n < 0) {
            return SLLMP_ERR_CLIENT_GONE;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    if ((long)len > max || declared > max) {
        /* Drain what the server still has for us (bounded), so it reads our answer. */
        char sink[16384];
        long drained = 0;

        while (drained < 64L * 1024 * 1024) {
            long n = r->io->read(r->io->ctx, sink, sizeof(sink));

            if (n <= 0) {
                break;
            }
            drained += n;
        }
        return SLLMP_ERR_TOO_BIG;
    }
    buf[len] = '\0';
    r->body.ptr = buf;
    r->body.len = len;
    return SLLMP_OK;
}

static void
json_delete(void *p)
{
    cJSON_Delete(p);
}

/* Reads the body as one JSON object into r->json (r's error set when it is none). */
static void
json_body(sllmp_req_t *r)
{
    sllmp_err_t err = read_body(r);

    if (err == SLLMP_ERR_TOO_BIG) {
        sllmp_req_fail(r, err, NULL, "The request body is larger than %ld bytes.",
                       r->conf->max_body_bytes);
    } else if (err != SLLMP_OK) {
        sllmp_req_fail(r, err, NULL, NULL);
    } else if (sllmp_json_depth(r->body.ptr, r->body.len, r->conf->max_json_depth) >
               r->conf->max_json_depth) {
        sllmp_req_fail(r, SLLMP_ERR_JSON_TOO_DEEP, NULL,
                       "The JSON body is nested deeper than %d levels.", r->conf->max_json_depth);
    } else if (sllmp_json_has_nul(r->body.ptr, r->body.len)) {
        sllmp_req_fail(r, SLLMP_ERR_INVALID_JSON, NULL,
                       "The request body holds a NUL character (\\u0000), which the gateway "
                       "cannot pass on.");
    } else {
        int trailing;

        r->json = sllmp_json_parse(r->body.ptr, r->body.len, &trailing);
        if (r->json != NULL) {
            sllmp_arena_cleanup_add(r->arena, json_delete, r->json);
            sllmp_json_last_wins(r->json);
        }
        if (trailing) {
            sllmp_req_fail(r, SLLMP_ERR_INVALID_JSON, NULL,
                           "The request body has data after its JSON value.");
        }
        if (r->err == SLLMP_OK && !cJSON_IsObject(r->json)) {
            sllmp_req_fail(r, SLLMP_ERR_INVALID_JSON, NULL,
                           r->json ? "The request body must be a JSON object."
                                   : "We could not parse the JSON body of your request.");
        }
    }
}

/* A request for the pipeline: chat, completions, embeddings, images, moderations, messages or a
 * token count (r->kind). */
static void
chat(sllmp_req_t *r)
{
    json_body(r);
    /* a request refused here still goes through the pipeline's error and complete phases */
    sllmp_metrics_request_begin(r);
    sllmp_pipeline_run(r);
}

/* SCRIPT_FILENAME names the running binary (a CGI, or mod_fcgid's process), through any link.
 * Without /proc (a jail), the path we were started by: web servers start scripts by full path. */
static int
script_is_us(const char *file)
{
    struct stat a, b;

    return file != NULL && stat(file, &a) == 0 &&
           (stat("/proc/self/exe", &b) == 0 || stat(program_invocation_name, &b) == 0) &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * The path of the URI with %XX decoded, as the server decodes PATH_INFO (an SDK sends
 * /v1/models/meta-llama%2FLlama-3 for the model meta-llama/Llama-3). An invalid escape or a
 * control character (%00, %0A: logs and messages quote the path) leaves the path as it came.
 */
static char *
decode_path(sllmp_req_t *r, const char *p, size_t len)
{
    char *out = sllmp_arena_alloc(r->arena, len + 1), *o = out;

    for (size_t i = 0; i < len; i++) {
        int hi, lo;

        if (p[i] != '%') {
            *o++ = p[i];
            continue;
        }
        if (i + 2 >= len || (hi = sllmp_hexval(p[i + 1])) < 0 ||
            (lo = sllmp_hexval(p[i + 2])) < 0 || hi < 2 || (hi == 7 && lo == 15)) {
            return sllmp_arena_strndup(r->arena, p, len);
        }
        *o++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

static const char *
request_path(sllmp_req_t *r)
{
    const char *uri = sllmp_req_param(r, "REQUEST_URI");
    const char *info = sllmp_req_param(r, "PATH_INFO");
    const char *q, *path;
    size_t len, ilen;

    if (uri == NULL || *uri == '\0') {
        /* plain CGI without REQUEST_URI: SCRIPT_NAME is the binary, PATH_INFO the rest */
        return info != NULL && *info != '\0' ? info : "/";
    }
    q = strchr(uri, '?');
    len = q ? (size_t)(q - uri) : strlen(uri);
    path = decode_path(r, uri, len);
    len = strlen(path);
    /*
     * Mounted under a prefix through a front controller (an .htaccess rewriting /~alice/v1/...
     * to sllmp.fcgi/v1/..., or a CGI at /cgi-bin/sllmp.cgi/v1/...): the URI is no route of
     * ours, PATH_INFO (the part after the binary, which the URI ends with) is. Only when the
     * server says the script is this very binary: lighttpd also splits other URIs into
     * SCRIPT_NAME and PATH_INFO (/v2 + /models), which must stay unknown paths.
     */
    if (route(path) == NULL && info != NULL && info[0] == '/' && (ilen = strlen(info)) <= len &&
        memcmp(path + len - ilen, info, ilen) == 0 && route(info) != NULL &&
        script_is_us(sllmp_req_param(r, "SCRIPT_FILENAME"))) {
        return info;
    }
    return path;
}

void
sllmp_handle(sllmp_io_t *io, sllmp_worker_ctx_t *w)
{
    sllmp_req_t req;
    sllmp_req_t *r = &req;
    char *errmsg = NULL;
    const char *rid, *origin;
    const route_t *rt;

    memset(r, 0, sizeof(*r));
    r->magic = SLLMP_REQ_MAGIC;
    r->arena = &w->arena;
    r->io = io;
    r->worker = w;
    r->start_us = sllmp_now_us();
    r->start_ms = r->start_us / 1000;
    r->start_wall_us = sllmp_wall_us();
    r->start_wall_ms = r->start_wall_us / 1000;
    sllmp_buf_init(&r->resp_headers, 64 * 1024);
    sllmp_buf_init(&r->resp_body, 0);

    rid = sllmp_req_param(r, "HTTP_X_REQUEST_ID");
    if (rid != NULL && valid_request_id(rid)) {
        snprintf(r->id, sizeof(r->id), "%s", rid);
    } else {
        sllmp_random_hex(r->id, 16);
    }
    r->method = sllmp_req_param(r, "REQUEST_METHOD");
    if (r->method == NULL) {
        r->method = "GET";
    }
    r->path = request_path(r);
    r->user = sllmp_req_param(r, "HTTP_X_USER_ID");
    r->session = sllmp_req_param(r, "HTTP_X_SESSION_ID");

    r->conf = sllmp_conf_get(sllmp_req_param(r, "SLLMP_CONFIG"), &errmsg);
    if (r->conf == NULL) {
        static const char not_ready[] =
            "{\"status\":\"not_ready\",\"checks\":{\"config\":\"failed\"},"
            "\"reasons\":[\"the configuration does not load (the error is in the log)\"]}";

        sllmp_log(r->id, SLLMP_LOG_ERROR, "no configuration: %s", errmsg);
        free(errmsg);
        rt = route(r->path);
        if (rt != NULL && rt->ep == EP_READY) {
            /* what /ready is for: a 503 with the reason, not an internal error */
            sllmp_resp_send(r, 503, "application/json", not_ready, sizeof(not_ready) - 1);
            goto out;
        }
        sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, "The gateway's configuration does not load.");
        sllmp_resp_error(r);
        goto out;
    }

    rt = route(r->path);
    origin = sllmp_req_param(r, "HTTP_ORIGIN");
    if (origin != NULL && *origin != '\0' && !cors_allowed(r, origin)) {
        if (strcmp(r->method, "OPTIONS") == 0 || rt != NULL) {
            sllmp_req_fail(r, SLLMP_ERR_ORIGIN, NULL, NULL);
            sllmp_resp_error(r);
            goto out;
        }
    }
    if (rt == NULL) {
        sllmp_req_fail(r, SLLMP_ERR_NOT_FOUND, NULL, "Unknown path: %.*s",
                       sllmp_utf8_prec(r->path, 200), r->path);
        sllmp_resp_error(r);
        goto out;
    }
    /* from here on, errors of /v1/messages (and its count_tokens) take Anthropic's shape */
    r->kind = rt->ep == EP_COMPLETIONS    ? SLLMP_KIND_COMPLETIONS
              : rt->ep == EP_EMBEDDINGS   ? SLLMP_KIND_EMBEDDINGS
              : rt->ep == EP_IMAGES       ? SLLMP_KIND_IMAGES
              : rt->ep == EP_MODERATIONS  ? SLLMP_KIND_MODERATIONS
              : rt->ep == EP_MESSAGES     ? SLLMP_KIND_MESSAGES
              : rt->ep == EP_COUNT_TOKENS ? SLLMP_KIND_COUNT_TOKENS
                                          : SLLMP_KIND_CHAT;
    r->responses_api = rt->ep == EP_RESPONSES || rt->ep == EP_COMPACT;
    r->responses_compact = rt->ep == EP_COMPACT;
    if (strcmp(r->method, "OPTIONS") == 0) {
        preflight(r, rt);
        goto out;
    }
    /* a kept response's paths have methods of their own (sllmp_responses_endpoint) */
    if (rt->ep != EP_RESPONSE && !method_allowed(rt, r->method)) {
        char allow[64];

        snprintf(allow, sizeof(allow), "%s, OPTIONS", rt->method);
        sllmp_resp_header(r, "Allow", allow);
        sllmp_req_fail(r, SLLMP_ERR_METHOD, NULL, "Method %.*s is not allowed for %s; use %s.",
                       sllmp_utf8_prec(r->method, 16), r->method, rt->path, rt->method);
        sllmp_resp_error(r);
        goto out;
    }
    switch (rt->ep) {
    case EP_HEALTH:
        sllmp_resp_send(r, 200, "application/json", SLLMP_STRLEN("{\"status\":\"ok\"}"));
        break;
    case EP_READY: {
        sllmp_buf_t b;

        sllmp_buf_init(&b, 0);
        int ok = sllmp_ready_check(r->conf, &b);

        sllmp_resp_send(r, ok ? 200 : 503, "application/json", b.ptr, b.len);
        sllmp_buf_free(&b);
        break;
    }
    case EP_MODELS:
        models(r, NULL);
        break;
    case EP_MODEL:
        models(r, r->path + strlen(rt->path));
        break;
    case EP_METRICS:
        sllmp_metrics_endpoint(r);
        break;
    case EP_CHAT:
    case EP_COMPLETIONS:
    case EP_EMBEDDINGS:
    case EP_IMAGES:
    case EP_MODERATIONS:
    case EP_MESSAGES:
    case EP_COUNT_TOKENS:
    case EP_RESPONSES:
    case EP_COMPACT:
        chat(r);
        break;
    case EP_RESPONSE:
        sllmp_responses_endpoint(r, r->path + strlen(rt->path));
        break;
    case EP_CONVERSATIONS:
    case EP_CONVERSATION:
        if (strcmp(r->method, "POST") == 0) {
            json_body(r);
        }
        if (r->err != SLLMP_OK) {
            sllmp_resp_error(r);
        } else {
            sllmp_conversations_endpoint(r, rt->ep == EP_CONVERSATION ? r->path + strlen(rt->path)
                                                                      : NULL);
        }
        break;
    case EP_CACHE:
        if (strcmp(rt->path, "/cache/delete") == 0) {
            json_body(r);
        }
        if (r->err != SLLMP_OK) {
            sllmp_resp_error(r);
        } else {
            sllmp_cache_endpoint(r, rt->path + strlen("/cache/"));
        }
        break;
    }
out:
    if (r->status == 0) {
        r->status = r->client_gone ? 499 : 500;
    }
    sllmp_access_log(r); /* every request's line, once its response ended */
    sllmp_buf_free(&r->resp_headers);
    sllmp_buf_free(&r->resp_body);
    sllmp_conf_unref(r->conf);
    sllmp_arena_reset(r->arena);
}
