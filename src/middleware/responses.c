/*
 * POST /v1/responses, answered in the Responses shapes (include/sllmp/responses.h): validate
 * has put the chat translation of the client's body in r->json, so the whole pipeline runs as
 * for a chat completion; this middleware turns the answer back. It comes after usage and cost
 * in the table: its on_chunk sees the chunks once they are counted (the usage chunk is already
 * dropped: the usage goes out in response.completed), its post the final usage and cost.
 *
 *   on_chunk  each chat chunk becomes the Responses events it stands for, sent in its place
 *   post      a stream's closing events and response.completed; an unstreamed chat.completion
 *             becomes the Response object
 *   error     once the stream has started: an "error" event and response.failed end it, in
 *             place of the chat error event and [DONE]
 *
 * And the kept responses (include/sllmp/keep.h): validate calls sllmp_responses_prepare, which
 * makes the conversation whole from the responses previous_response_id and item_reference name
 * (the caller's own only: a record belongs to the key that made it) before the translation;
 * post keeps the answer, before its last byte goes out (a client that sends the next turn at
 * once finds it), unless the request said store: false. A response that cannot be kept is
 * still answered (logged now and then).
 */
#include "sllmp/arena.h"
#include "sllmp/conf.h"
#include "sllmp/error.h"
#include "sllmp/keep.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/pipeline.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"
#include "sllmp/responses.h"
#include "sllmp/route.h"
#include "sllmp/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sllmp_rstream_t s;
    sllmp_buf_t out;  /* the framed events of one call of the translator */
    char id[40];      /* "resp_" and 32 hex digits */
    cJSON *expanded;  /* the request made whole: its input is the context to keep; NULL when
                       * nothing is kept */
    int prepended;    /* the items the expansion put before the client's own */
    cJSON *loaded;    /* the records read for this request */
    cJSON *completed; /* streamed: the Response that response.completed carries */
    /* kind RESPONSES (passed through): what a failure of ours needs to end the stream as the
     * upstream would (error and response.failed events) */
    cJSON *created; /* the Response of response.created / response.in_progress */
    double seq;     /* the last event's sequence_number, -1 before */
    int kept;       /* the upstream's answer is recorded (keep_passed) */
} responses_t;

static void
responses_free(void *data)
{
    responses_t *x = data;

    sllmp_rstream_free(&x->s);
    sllmp_buf_free(&x->out);
    cJSON_Delete(x->expanded);
    cJSON_Delete(x->loaded);
    cJSON_Delete(x->completed);
    cJSON_Delete(x->created);
}

static int
framed(void *ud, const char *type, const cJSON *data)
{
    responses_t *x = ud;

    if (sllmp_sse_frame(&x->out, type, data) != 0) {
        return -1;
    }
    if (strcmp(type, "response.completed") == 0 || strcmp(type, "response.incomplete") == 0) {
        cJSON_Delete(x->completed);
        x->completed = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(data, "response"), 1);
    }
    return 0;
}

static responses_t *
responses_of(sllmp_req_t *r)
{
    int i = sllmp_middleware_index(&sllmp_mw_responses);
    responses_t *x = r->mw_ctx[i];

    if (x == NULL) {
        x = sllmp_arena_alloc(r->arena, sizeof(*x));
        memset(x, 0, sizeof(*x));
        memcpy(x->id, "resp_", 5);
        sllmp_random_hex(x->id + 5, 16);
        sllmp_buf_init(&x->out, 0);
        x->seq = -1;
        x->s.meta.req = r->responses;
        x->s.meta.id = x->id;
        x->s.meta.created_at = (long)(r->start_wall_ms / 1000);
        x->s.emit = framed;
        x->s.ud = x;
        sllmp_arena_cleanup_add(r->arena, responses_free, x);
        r->mw_ctx[i] = x;
    }
    x->s.meta.model = r->model; /* validate makes x, before the router names the model */
    sllmp_buf_reset(&x->out);
    return x;
}

/* ---------------------------------------------------------------- kept responses */

/* this file's warnings, at most every 10 s a thread */
static _Thread_local int64_t last_warned;

static void
warn_now_and_then(sllmp_req_t *r, const char *what)
{
    sllmp_warn_rarely(r->id, &last_warned, what);
}

static const char *
owner_of(const sllmp_req_t *r)
{
    const char *name = sllmp_auth_key_name(r);

    return name != NULL ? name : "";
}


/*
 * The kept response id, when it is the caller's: 1 and *rec (held in the array *loaded, made on
 * first use, until the caller frees it), 0 when there is none (or another key's: *foreign set
 * then, when foreign is not NULL), -1 when the store failed. A record already in *loaded is not
 * read again.
 */
static int
load(sllmp_req_t *r, cJSON **loaded, const char *id, const cJSON **rec, int *foreign)
{
    const char *owner;
    cJSON *it, *parsed;
    sllmp_buf_t b;
    int rc;

    cJSON_ArrayForEach(it, *loaded)
    {
        const char *rid = sllmp_json_str(cJSON_GetObjectItemCaseSensitive(it, "response"), "id");

        if (rid != NULL && strcmp(rid, id) == 0) {
            *rec = it;
            return 1;
        }
    }
    sllmp_buf_init(&b, 0);
    rc = sllmp_keep_get(r->conf, sllmp_thread_store(r), id, &b);
    if (rc <= 0) {
        sllmp_buf_free(&b);
        if (rc < 0) {
            warn_now_and_then(r, "the response store failed: previous_response_id and "
                                 "item_reference get a 503");
        }
        return rc;
    }
    parsed = cJSON_ParseWithLength(b.ptr, b.len);
    sllmp_buf_free(&b);
    owner = sllmp_json_str(parsed, "owner");
    if (owner == NULL || strcmp(owner, owner_of(r)) != 0) {
        if (owner == NULL) {
            sllmp_log(r->id, SLLMP_LOG_WARN, "the kept response %s does not parse", id);
        } else if (foreign != NULL) {
            *foreign = 1;
        }
        cJSON_Delete(parsed);
        return 0;
    }
    if (*loaded == NULL) {
        *loaded = cJSON_CreateArray();
    }
    cJSON_AddItemToArray(*loaded, parsed);
    *rec = parsed;
    return 1;
}

static int
find_item(void *ud, const char *id, const cJSON **item)
{
    sllmp_req_t *r = ud;
    responses_t *x = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_responses)];
    char rid[38];
    const cJSON *rec;
    int rc;

    if (sllmp_responses_item_response(id, rid) < 0) {
        return 0;
    }
    rc = load(r, &x->loaded, rid, &rec, NULL);
    if (rc <= 0) {
        return rc;
    }
    *item = sllmp_responses_record_item(rec, id);
    return *item != NULL;
}

static sllmp_rc_t
store_failed(sllmp_req_t *r)
{
    r->retry_after = "1";
    r->err_code = "store_unavailable";
    return sllmp_req_fail(r, SLLMP_ERR_LIMITS_UNAVAILABLE, NULL,
                          "The response store is unreachable, so previous_response_id and "
                          "item_reference cannot be resolved. Try again shortly.");
}

/* The GET, DELETE and conversation endpoints' answer when the store is unreachable. */
static void
store_down(sllmp_req_t *r)
{
    store_failed(r);
    r->err_message = "The response store is unreachable. Try again shortly.";
    sllmp_resp_error(r);
}

/* A translation error's "input[N]..." names an item of the expanded input: the client's own
 * index is N less the items put before them. */
static const char *
client_param(responses_t *x, const char *param, char *out, size_t len)
{
    char *end;
    long n;

    if (x->prepended == 0 || strncmp(param, "input[", 6) != 0) {
        return param;
    }
    n = strtol(param + 6, &end, 10);
    if (end == param + 6 || *end != ']' || n < x->prepended) {
        return param;
    }
    snprintf(out, len, "input[%ld%s", n - x->prepended, end);
    return out;
}

/* x->expanded: r's body made whole with the record prev (NULL: none) and the item_references
 * of ours (native: for a Responses API upstream); an error names the client's own input. */
static sllmp_rc_t
expand_with(sllmp_req_t *r, responses_t *x, const cJSON *prev, int native)
{
    sllmp_xerr_t xe;
    char name[128];

    x->prepended = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(prev, "context")) +
                   cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                       cJSON_GetObjectItemCaseSensitive(prev, "response"), "output"));
    x->expanded = sllmp_responses_expand(r->json, prev, find_item, r, native, &xe);
    if (x->expanded != NULL) {
        return SLLMP_GO_ON;
    }
    if (xe.message[0] == '\0') {
        return store_failed(r);
    }
    return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, client_param(x, xe.param, name, sizeof(name)),
                          "%s", xe.message);
}

/* Whether a request names an item of ours in an item_reference (the ids our records give
 * items: 32 hex digits and a short index after the prefix; an upstream's, OpenAI's 48 hex
 * digits, are not looked for). */
static int
names_our_items(const cJSON *req)
{
    const cJSON *item;
    char rid[38];

    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(req, "input"))
    {
        const char *type = sllmp_json_str(item, "type"), *id = sllmp_json_str(item, "id");
        const char *us = id != NULL ? strchr(id, '_') : NULL;

        if ((type == NULL || strcmp(type, "item_reference") == 0) && us != NULL &&
            strspn(us + 1, "0123456789abcdef") <= 40 &&
            sllmp_responses_item_response(id, rid) == 0) {
            return 1;
        }
    }
    return 0;
}

static sllmp_rc_t
previous_not_found(sllmp_req_t *r, const char *pid)
{
    r->err_code = "previous_response_not_found";
    return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "previous_response_id",
                          "Previous response with id '%.*s' not found.", sllmp_utf8_prec(pid, 100),
                          pid);
}

/* Whether the model's group has a deployment of that upstream account. */
static int
group_has_account(const sllmp_req_t *r, const char *account)
{
    const sllmp_deployment_t *group[SLLMP_GROUP_MAX];
    const char *model = sllmp_json_str(r->json, "model");
    const char *name = model != NULL ? sllmp_conf_route_name(r->conf, model) : NULL;
    size_t n = name != NULL ? sllmp_conf_group(r->conf, name, group, SLLMP_GROUP_MAX) : 0;

    for (size_t i = 0; i < n; i++) {
        if (strcmp(group[i]->account, account) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Kind RESPONSES: a conversation (an id, or {"id"}) made through the gateway is the key's
 * that made it (another's is not found) and goes to a deployment of the account that keeps it;
 * one the gateway never saw goes as it is. */
static sllmp_rc_t
conversation_state(sllmp_req_t *r, responses_t *x)
{
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(r->json, "conversation");
    const char *id = cJSON_IsString(conv) ? conv->valuestring : sllmp_json_str(conv, "id");
    const cJSON *rec = NULL;
    int foreign = 0, rc;

    if (!sllmp_keep_id_ok(id)) {
        return SLLMP_GO_ON;
    }
    rc = load(r, &x->loaded, id, &rec, &foreign);
    if (rc < 0) {
        return store_failed(r);
    }
    if (foreign) {
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "conversation",
                              "Conversation with id '%.*s' not found.", sllmp_utf8_prec(id, 128),
                              id);
    }
    if (rc > 0 && sllmp_json_str(rec, "account") != NULL &&
        group_has_account(r, sllmp_json_str(rec, "account"))) {
        r->pin_account = sllmp_arena_strdup(r->arena, sllmp_json_str(rec, "account"));
    }
    return SLLMP_GO_ON;
}

/*
 * Kind RESPONSES: what the request names of the kept responses. A previous_response_id that
 * an upstream answered (a record {owner, account}) stays as it is, and the request goes to a
 * deployment of that upstream account, which keeps it; one answered through chat completions
 * (a record with its context), and item_references of ours, make the conversation whole for
 * the upstream; another key's is not found; an unknown one goes as it is (the upstream's, the
 * gateway never saw it).
 */
static sllmp_rc_t
native_state(sllmp_req_t *r, responses_t *x)
{
    const char *pid = sllmp_json_str(r->json, "previous_response_id");
    const cJSON *prev = NULL;
    int foreign = 0, rc;

    if (sllmp_keep_id_ok(pid)) {
        rc = load(r, &x->loaded, pid, &prev, &foreign);
        if (rc < 0) {
            return store_failed(r);
        }
        if (foreign) {
            return previous_not_found(r, pid);
        }
        if (rc > 0 && sllmp_json_str(prev, "account") != NULL) {
            if (group_has_account(r, sllmp_json_str(prev, "account"))) {
                r->pin_account = sllmp_arena_strdup(r->arena, sllmp_json_str(prev, "account"));
            }
            prev = NULL;
        }
    }
    if (conversation_state(r, x) != SLLMP_GO_ON) {
        return SLLMP_ERROR;
    }
    if (prev == NULL && !names_our_items(r->json)) {
        return SLLMP_GO_ON;
    }
    if (expand_with(r, x, prev, 1) != SLLMP_GO_ON) {
        return SLLMP_ERROR;
    }
    r->json = x->expanded;
    return SLLMP_GO_ON;
}

/* Makes the conversation whole for the translation; x->expanded is the expanded request. */
static sllmp_rc_t
expand(sllmp_req_t *r, responses_t *x)
{
    const cJSON *req = r->json,
                *pid = cJSON_GetObjectItemCaseSensitive(req, "previous_response_id");
    const cJSON *prev = NULL;

    if (pid != NULL && !cJSON_IsNull(pid)) {
        int rc;

        if (!cJSON_IsString(pid)) {
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "previous_response_id",
                                  "'previous_response_id' must be a string.");
        }
        rc = load(r, &x->loaded, pid->valuestring, &prev, NULL);
        if (rc < 0) {
            return store_failed(r);
        }
        if (rc == 0) {
            return previous_not_found(r, pid->valuestring);
        }
        if (sllmp_json_str(prev, "account") != NULL) {
            /* its conversation is the upstream's, which this model's provider cannot read */
            return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "previous_response_id",
                                  "Previous response with id '%.*s' was answered by a "
                                  "provider's own Responses API, which keeps its conversation: "
                                  "continue it on a model of that provider, or send the whole "
                                  "conversation as input.",
                                  sllmp_utf8_prec(pid->valuestring, 100), pid->valuestring);
        }
    }
    if (expand_with(r, x, prev, 0) != SLLMP_GO_ON) {
        return SLLMP_ERROR;
    }
    x->s.meta.store = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(req, "store"));
    return SLLMP_GO_ON;
}

static void
json_free(void *p)
{
    cJSON_Delete(p);
}

/* Whether the model's deployments take the Responses API as it is: the first of its group
 * (the one the router stands the request on) decides for the request. */
static int
native(const sllmp_req_t *r)
{
    const sllmp_deployment_t *group[SLLMP_GROUP_MAX];
    const char *model = sllmp_json_str(r->json, "model");
    const char *name = model != NULL ? sllmp_conf_route_name(r->conf, model) : NULL;

    return name != NULL && sllmp_conf_group(r->conf, name, group, SLLMP_GROUP_MAX) > 0 &&
           group[0]->responses_api;
}

sllmp_rc_t
sllmp_responses_prepare(sllmp_req_t *r)
{
    responses_t *x;
    sllmp_xerr_t xe;
    cJSON *chat;

    r->responses = r->json;
    x = responses_of(r);
    if (r->responses_compact && cJSON_IsObject(r->json) && !native(r) &&
        sllmp_json_str(r->json, "model") != NULL &&
        sllmp_conf_route_name(r->conf, sllmp_json_str(r->json, "model")) != NULL) {
        /* the compaction is the upstream's own: nothing to translate it into */
        return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "model",
                              "The model '%.*s' has no Responses API of its own: "
                              "/v1/responses/compact is served by openai/ and azure/ "
                              "deployments (and those whose model_info.supported_endpoints "
                              "lists /v1/responses).",
                              sllmp_utf8_prec(sllmp_json_str(r->json, "model"), 200),
                              sllmp_json_str(r->json, "model"));
    }
    if (cJSON_IsObject(r->json) && (native(r) || r->responses_compact)) {
        /* sent as it is; what it names of ours goes in whole (nothing is kept of its answer:
         * the upstream keeps it, when the client asks it to) */
        r->kind = SLLMP_KIND_RESPONSES;
        return r->conf->responses_store ? native_state(r, x) : SLLMP_GO_ON;
    }
    if (r->conf->responses_store && cJSON_IsObject(r->json) && expand(r, x) != SLLMP_GO_ON) {
        return SLLMP_ERROR;
    }
    chat = sllmp_responses_to_chat(x->expanded != NULL ? x->expanded : r->json, &xe);
    if (chat == NULL) {
        char name[128];

        return xe.message[0] == '\0'
                   ? sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL)
                   : sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM,
                                    xe.param[0] ? client_param(x, xe.param, name, sizeof(name))
                                                : NULL,
                                    "%s", xe.message);
    }
    sllmp_arena_cleanup_add(r->arena, json_free, chat);
    r->json = chat;
    return SLLMP_GO_ON;
}

int
sllmp_responses_translate(sllmp_req_t *r)
{
    responses_t *x = responses_of(r);
    cJSON *native = r->json, *chat;
    sllmp_xerr_t xe;

    if (r->kind != SLLMP_KIND_RESPONSES) {
        return 0;
    }
    /* the upstream's previous_response_id or item_reference: no translation (ours were
     * expanded in validate) */
    chat = sllmp_responses_to_chat(native, &xe);
    if (chat == NULL) {
        return -1;
    }
    r->json = chat;
    r->kind = SLLMP_KIND_CHAT;
    if (sllmp_validate_chat(r) != SLLMP_GO_ON) {
        cJSON_Delete(chat);
        r->json = native;
        r->kind = SLLMP_KIND_RESPONSES;
        return -1;
    }
    sllmp_arena_cleanup_add(r->arena, json_free, chat);
    r->pin_account = NULL; /* no upstream's state goes along (it would not translate) */
    if (x->expanded == NULL && r->conf->responses_store) {
        /* what is kept of the answer: its input as items (nothing here refers to any) */
        x->expanded = sllmp_responses_expand(native, NULL, find_item, r, 0, &xe);
    }
    /* kept as any translated answer (also when validate made it whole from a record) */
    x->s.meta.store =
        x->expanded != NULL && !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(native, "store"));
    return 0;
}

/* Keeps the answer (post, before its end goes out). */
static void
keep(sllmp_req_t *r, responses_t *x, const cJSON *response)
{
    cJSON *rec;
    char *text;
    int rc;

    if (!x->s.meta.store || x->expanded == NULL || response == NULL) {
        return;
    }
    /* the expanded request has served its turn (translated in validate): its input goes to
     * the record as it is, not copied */
    rec = sllmp_responses_record(
        owner_of(r), cJSON_DetachItemFromObjectCaseSensitive(x->expanded, "input"), response);
    text = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    rc = text != NULL ? sllmp_keep_put(r->conf, sllmp_thread_store(r), x->id, text, strlen(text))
                      : -1;
    cJSON_free(text);
    if (rc < 0) {
        warn_now_and_then(r, "a response could not be kept (the response store failed): a "
                             "previous_response_id naming it will not be found");
    } else if (rc > 0) {
        warn_now_and_then(r, "a response was not kept: sllmp.responses.max_mb is reached");
    }
}

/* ---------------------------------------------------------------- GET and DELETE */

/* The first deployment with the Responses API of that upstream account (any account: NULL);
 * NULL when there is none. */
static const sllmp_deployment_t *
account_deployment(const sllmp_conf_t *c, const char *account)
{
    for (size_t i = 0; i < c->ndeployments; i++) {
        const sllmp_deployment_t *d = &c->deployments[i];

        if (d->responses_api && (account == NULL || strcmp(d->account, account) == 0)) {
            return d;
        }
    }
    return NULL;
}

/* Whether method is one of the list's ("GET, DELETE"), whole. */
static int
method_listed(const char *list, const char *method)
{
    size_t n = strlen(method);

    for (const char *p = list; n > 0 && (p = strstr(p, method)) != NULL; p += n) {
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ',')) {
            return 1;
        }
    }
    return 0;
}

/* Whether the method goes with what follows the id ("", "/input_items", "/cancel"); else the
 * 404 or 405 (with Allow) has gone out. */
static int
sub_allowed(sllmp_req_t *r, const char *sub)
{
    static const struct {
        const char *sub;
        const char *methods;
    } subs[] = {{"", "GET, DELETE, OPTIONS"},
                {"/input_items", "GET, OPTIONS"},
                {"/cancel", "POST, OPTIONS"}};
    const char *m = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;

    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (strcmp(sub, subs[i].sub) != 0) {
            continue;
        }
        if (strcmp(m, "OPTIONS") != 0 && method_listed(subs[i].methods, m)) {
            return 1;
        }
        sllmp_resp_header(r, "Allow", subs[i].methods);
        sllmp_req_fail(r, SLLMP_ERR_METHOD, NULL, "Method %.*s is not allowed for %.*s.",
                       sllmp_utf8_prec(r->method, 16), r->method, sllmp_utf8_prec(r->path, 200),
                       r->path);
        sllmp_resp_error(r);
        return 0;
    }
    sllmp_req_fail(r, SLLMP_ERR_NOT_FOUND, NULL, "Unknown path: %.*s",
                   sllmp_utf8_prec(r->path, 200), r->path);
    sllmp_resp_error(r);
    return 0;
}

/* GET, DELETE (and GET .../input_items) of a response an upstream keeps: asked of a deployment
 * of its account (the client's query with it), answered as the upstream answers; a DELETE it
 * took (or a response it no longer has) removes the record too. */
static void
upstream_kept(sllmp_req_t *r, const char *id, const char *sub, const char *account)
{
    const sllmp_conf_t *c = r->conf;
    int status;

    r->dep = account_deployment(c, account);
    if (r->dep == NULL) {
        sllmp_req_fail(r, SLLMP_ERR_NOT_FOUND, NULL,
                       "Response with id '%.*s' not found: the provider that keeps it is no "
                       "longer configured.",
                       sllmp_utf8_prec(id, 128), id);
        sllmp_resp_error(r);
        return;
    }
    /* a HEAD asks what a GET answers (the server leaves its body out) */
    status = sllmp_provider_openai_forward(r, strcmp(r->method, "HEAD") == 0 ? "GET" : r->method,
                                           sllmp_arena_printf(r->arena, "responses/%s%s", id, sub),
                                           sllmp_req_param(r, "QUERY_STRING"), NULL, NULL);
    if (strcmp(r->method, "DELETE") == 0 && ((status >= 200 && status <= 299) || status == 404)) {
        sllmp_keep_del(r->conf, sllmp_thread_store(r), id);
    }
}

/* The value of name in the query string (not decoded: what is read here never needs it). */
static const char *
query(sllmp_req_t *r, const char *name, char *out, size_t len)
{
    const char *q = sllmp_req_param(r, "QUERY_STRING");
    size_t n = strlen(name);

    for (const char *p = q; p != NULL && *p != '\0';
         p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t v = strcspn(p + n + 1, "&");

            snprintf(out, len, "%.*s", (int)v, p + n + 1);
            return out;
        }
    }
    return NULL;
}

/*
 * An item of the context as input_items lists it: a message as the client may write it
 * ({"role", "content": "text"}, kept so to be sent on as it came) gets its "type": "message"
 * and its text as a content part (input_text, output_text for the assistant), as OpenAI lists
 * it and the SDKs' ResponseItem types have it.
 */
static cJSON *
listed_item(const cJSON *item)
{
    cJSON *out = cJSON_Duplicate(item, 1), *content, *part;
    const char *role = sllmp_json_str(out, "role");

    if (role == NULL || (sllmp_json_str(out, "type") != NULL &&
                         strcmp(sllmp_json_str(out, "type"), "message") != 0)) {
        return out;
    }
    if (sllmp_json_str(out, "type") == NULL) {
        cJSON_AddStringToObject(out, "type", "message");
    }
    content = cJSON_GetObjectItemCaseSensitive(out, "content");
    if (cJSON_IsString(content)) {
        int assistant = strcmp(role, "assistant") == 0;

        part = cJSON_CreateObject();
        cJSON_AddStringToObject(part, "type", assistant ? "output_text" : "input_text");
        cJSON_AddStringToObject(part, "text", content->valuestring);
        if (assistant) {
            cJSON_AddArrayToObject(part, "annotations");
        }
        content = cJSON_CreateArray();
        cJSON_AddItemToArray(content, part);
        cJSON_ReplaceItemInObjectCaseSensitive(out, "content", content);
    }
    return out;
}

/* GET .../{id}/input_items: the context, newest first unless order=asc, after an id, at most
 * limit (1 to 100, default 20) items, as OpenAI's list shape. */
static void
input_items(sllmp_req_t *r, const cJSON *rec)
{
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(rec, "context");
    int n = cJSON_GetArraySize(ctx), asc, start = 0, taken = 0;
    long limit = 20;
    char v[128];
    cJSON *list = cJSON_CreateObject(), *data;
    char *text;

    if (query(r, "limit", v, sizeof(v)) != NULL &&
        (sllmp_parse_long(v, &limit) < 0 || limit < 1 || limit > 100)) {
        cJSON_Delete(list);
        sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, "limit",
                       "'limit' must be an integer between 1 and 100.");
        sllmp_resp_error(r);
        return;
    }
    asc = query(r, "order", v, sizeof(v)) != NULL && strcmp(v, "asc") == 0;
    if (query(r, "after", v, sizeof(v)) != NULL) {
        for (int i = 0; i < n; i++) {
            const char *id = sllmp_json_str(cJSON_GetArrayItem(ctx, asc ? i : n - 1 - i), "id");

            if (id != NULL && strcmp(id, v) == 0) {
                start = i + 1;
            }
        }
    }
    cJSON_AddStringToObject(list, "object", "list");
    data = cJSON_AddArrayToObject(list, "data");
    for (int i = start; i < n && taken < limit; i++, taken++) {
        cJSON_AddItemToArray(data, listed_item(cJSON_GetArrayItem(ctx, asc ? i : n - 1 - i)));
    }
    if (taken > 0) {
        cJSON_AddStringToObject(list, "first_id",
                                sllmp_json_str(cJSON_GetArrayItem(data, 0), "id"));
        cJSON_AddStringToObject(list, "last_id",
                                sllmp_json_str(cJSON_GetArrayItem(data, taken - 1), "id"));
    } else {
        cJSON_AddNullToObject(list, "first_id");
        cJSON_AddNullToObject(list, "last_id");
    }
    cJSON_AddBoolToObject(list, "has_more", start + taken < n);
    text = cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    sllmp_resp_send(r, 200, "application/json", text, strlen(text));
    cJSON_free(text);
}

void
sllmp_responses_endpoint(sllmp_req_t *r, const char *rest)
{
    size_t idlen = strcspn(rest, "/");
    const char *sub = rest + idlen;
    char id[128];
    const cJSON *rec = NULL;
    cJSON *loaded = NULL;
    int rc;

    /* the path and its method first, as for every route */
    if (!sub_allowed(r, sub)) {
        return;
    }
    if (sllmp_auth_check(r) != SLLMP_GO_ON) {
        sllmp_resp_error(r);
        return;
    }
    snprintf(id, sizeof(id), "%.*s", (int)(idlen < sizeof(id) ? idlen : sizeof(id) - 1), rest);
    if (!r->conf->responses_store) {
        sllmp_req_fail(r, SLLMP_ERR_NOT_FOUND, NULL,
                       "Response with id '%.*s' not found: this gateway keeps no responses "
                       "(sllmp.responses.store is false).",
                       sllmp_utf8_prec(id, 64), id);
        sllmp_resp_error(r);
        return;
    }
    rc = load(r, &loaded, id, &rec, NULL);
    if (rc > 0 && sllmp_json_str(rec, "account") != NULL) {
        upstream_kept(r, id, sub, sllmp_json_str(rec, "account"));
        cJSON_Delete(loaded);
        return;
    }
    if (rc > 0 && strcmp(r->method, "DELETE") == 0) {
        rc = sllmp_keep_del(r->conf, sllmp_thread_store(r), id);
    }
    if (rc < 0) {
        store_down(r);
    } else if (rc == 0) {
        sllmp_req_fail(r, SLLMP_ERR_NOT_FOUND, NULL, "Response with id '%.*s' not found.",
                       sllmp_utf8_prec(id, 64), id);
        sllmp_resp_error(r);
    } else if (strcmp(sub, "/cancel") == 0) {
        /* answered while its client waited: nothing runs in the background to cancel */
        sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, NULL,
                       "Response with id '%.*s' is not a background response: only those can "
                       "be cancelled.",
                       sllmp_utf8_prec(id, 64), id);
        sllmp_resp_error(r);
    } else if (strcmp(r->method, "DELETE") == 0) {
        sllmp_buf_t b;

        sllmp_buf_init(&b, 0);
        sllmp_buf_printf(&b, "{\"id\":\"%s\",\"object\":\"response\",\"deleted\":true}", id);
        sllmp_resp_send(r, 200, "application/json", b.ptr, b.len);
        sllmp_buf_free(&b);
    } else if (*sub != '\0') {
        input_items(r, rec);
    } else {
        char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(rec, "response"));

        if (text != NULL) {
            sllmp_resp_send(r, 200, "application/json", text, strlen(text));
            cJSON_free(text);
        } else {
            sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
            sllmp_resp_error(r);
        }
    }
    cJSON_Delete(loaded);
}

/* The events the translator framed go out now (post and error: not as a chunk's). */
static sllmp_rc_t
send_events(sllmp_req_t *r, responses_t *x, int rc)
{
    if (rc != 0) {
        return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
    }
    if (x->out.len > 0 && sllmp_sse_raw(r, x->out.ptr, x->out.len) < 0) {
        return sllmp_req_fail(r, SLLMP_ERR_CLIENT_GONE, NULL, NULL);
    }
    return SLLMP_GO_ON;
}

/*
 * Kind RESPONSES: the Response an upstream answered and keeps (its store true): a record
 * {owner, account} under its id, so that the conversation is the key's alone, continues on a
 * deployment of that upstream account, and GET and DELETE reach it. Before the answer's end
 * goes out (a client's next turn finds it).
 */
static void
keep_passed(sllmp_req_t *r, responses_t *x, const cJSON *resp)
{
    const char *id = sllmp_json_str(resp, "id");
    cJSON *doc;
    char *text;
    int rc;

    if (!r->conf->responses_store || r->responses_compact || x->kept || !sllmp_keep_id_ok(id) ||
        cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(resp, "store")) ||
        cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r->json, "store"))) {
        return;
    }
    x->kept = 1;
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "owner", owner_of(r));
    cJSON_AddStringToObject(doc, "account", r->dep->account);
    text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    rc = sllmp_keep_put(r->conf, sllmp_thread_store(r), id, text, strlen(text));
    cJSON_free(text);
    if (rc != 0) {
        warn_now_and_then(r, "an upstream's response could not be recorded: another key may "
                             "continue it, and it may go to another upstream account");
    }
}

/* Kind RESPONSES: an upstream event going on as it came; what a failure would need is kept. */
static void
passed(sllmp_req_t *r, const sllmp_chunk_t *chunk)
{
    responses_t *x = responses_of(r);
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(chunk->json, "sequence_number");
    const char *type = sllmp_json_str(chunk->json, "type");

    if (cJSON_IsNumber(seq)) {
        x->seq = seq->valuedouble;
    }
    if (type != NULL &&
        (strcmp(type, "response.created") == 0 || strcmp(type, "response.in_progress") == 0)) {
        cJSON_Delete(x->created);
        x->created = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(chunk->json, "response"), 1);
    } else if (type != NULL && (strcmp(type, "response.completed") == 0 ||
                                strcmp(type, "response.incomplete") == 0)) {
        keep_passed(r, x, cJSON_GetObjectItemCaseSensitive(chunk->json, "response"));
    }
}

/* Kind RESPONSES: the stream the upstream began ends the way it would have on a failure, with
 * an error event and response.failed (the Response as it was created, status "failed"). */
static void
fail_passed(sllmp_req_t *r, const char *code, const char *message)
{
    responses_t *x = responses_of(r);
    cJSON *ev = cJSON_CreateObject(), *resp, *err;

    cJSON_AddStringToObject(ev, "type", "error");
    cJSON_AddStringToObject(ev, "code", code);
    cJSON_AddStringToObject(ev, "message", message);
    cJSON_AddNullToObject(ev, "param");
    cJSON_AddNumberToObject(ev, "sequence_number", ++x->seq);
    framed(x, "error", ev);
    cJSON_Delete(ev);
    resp = x->created != NULL ? cJSON_Duplicate(x->created, 1) : cJSON_CreateObject();
    if (!cJSON_HasObjectItem(resp, "id")) {
        cJSON_AddStringToObject(resp, "id", x->id);
        cJSON_AddStringToObject(resp, "object", "response");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(resp, "status");
    cJSON_AddStringToObject(resp, "status", "failed");
    cJSON_DeleteItemFromObjectCaseSensitive(resp, "error");
    err = cJSON_AddObjectToObject(resp, "error");
    cJSON_AddStringToObject(err, "code", code);
    cJSON_AddStringToObject(err, "message", message);
    ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "response.failed");
    cJSON_AddNumberToObject(ev, "sequence_number", ++x->seq);
    cJSON_AddItemToObject(ev, "response", resp);
    framed(x, "response.failed", ev);
    cJSON_Delete(ev);
}

static sllmp_rc_t
responses_chunk(sllmp_req_t *r, void *mw_conf, sllmp_chunk_t *chunk)
{
    responses_t *x;

    (void)mw_conf;
    if (r->responses == NULL) {
        return SLLMP_GO_ON;
    }
    if (r->kind == SLLMP_KIND_RESPONSES) {
        passed(r, chunk);
        return SLLMP_GO_ON;
    }
    if (chunk->json == NULL) {
        chunk->drop = 1; /* nothing but JSON chunks reach this far; [DONE] is not ours to send */
        return SLLMP_GO_ON;
    }
    x = responses_of(r);
    if (sllmp_rstream_chunk(&x->s, chunk->json) != 0) {
        return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
    }
    sllmp_chunk_events(chunk, x->out.ptr, x->out.len);
    return SLLMP_GO_ON;
}

static sllmp_rc_t
responses_post(sllmp_req_t *r, void *mw_conf)
{
    responses_t *x;
    cJSON *chat, *resp;
    int rc;

    (void)mw_conf;
    if (r->responses == NULL) {
        return SLLMP_GO_ON;
    }
    if (r->kind == SLLMP_KIND_RESPONSES) {
        /* the upstream's answer goes out as it came */
        if (!r->stream && r->conf->responses_store && !r->responses_compact) {
            cJSON *answer = cJSON_ParseWithLength(r->resp_body.ptr, r->resp_body.len);

            keep_passed(r, responses_of(r), answer);
            cJSON_Delete(answer);
        }
        return SLLMP_GO_ON;
    }
    x = responses_of(r);
    if (r->stream) {
        rc = sllmp_rstream_finish(&x->s, &r->usage);
        keep(r, x, x->completed);
        return send_events(r, x, rc);
    }
    chat = cJSON_ParseWithLength(r->resp_body.ptr, r->resp_body.len);
    resp = sllmp_responses_from_chat(&x->s.meta, chat, &r->usage);
    cJSON_Delete(chat);
    keep(r, x, resp);
    rc = sllmp_resp_body_json(r, resp);
    cJSON_Delete(resp);
    if (rc != 0) {
        sllmp_log(r->id, SLLMP_LOG_ERROR, "the chat answer did not translate into a Response");
        return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
    }
    return SLLMP_GO_ON;
}

static sllmp_rc_t
responses_error(sllmp_req_t *r, void *mw_conf)
{
    const sllmp_err_info_t *e = sllmp_err_info(r->err);
    const char *code = r->err_code ? r->err_code : e->code ? e->code : e->type;
    responses_t *x;

    (void)mw_conf;
    if (r->responses == NULL || r->finished) {
        return SLLMP_GO_ON; /* finished: the upstream's own failure events went out */
    }
    if (r->err_param != NULL && r->kind != SLLMP_KIND_RESPONSES) {
        /* an upstream's param names the chat request it was sent; the client knows another */
        char name[128];
        const char *p = sllmp_responses_param(r->responses, r->err_param, name, sizeof(name));

        if (p != r->err_param) {
            r->err_param = sllmp_arena_strdup(r->arena, p);
        }
    }
    /* before the stream (or while it is held, which is then dropped) the error is JSON with
     * its status, the same as chat's */
    if (!r->stream_started || r->stream_held || r->client_gone || r->err == SLLMP_ERR_CLIENT_GONE) {
        return SLLMP_GO_ON;
    }
    x = responses_of(r);
    if (r->kind == SLLMP_KIND_RESPONSES) {
        fail_passed(r, code, r->err_message ? r->err_message : e->message);
        if (sllmp_sse_raw(r, x->out.ptr, x->out.len) == 0) {
            sllmp_sse_end(r);
        }
        r->finished = 1;
        return SLLMP_GO_ON;
    }
    if (sllmp_rstream_fail(&x->s, code, r->err_message ? r->err_message : e->message) == 0 &&
        (x->out.len == 0 || sllmp_sse_raw(r, x->out.ptr, x->out.len) == 0)) {
        sllmp_sse_end(r);
    }
    r->finished = 1; /* sllmp_resp_error adds nothing: the error went out as events */
    return SLLMP_GO_ON;
}

const sllmp_middleware_t sllmp_mw_responses = {
    .name = "responses",
    .on_chunk = responses_chunk,
    .post = responses_post,
    .error = responses_error,
};

/* ---------------------------------------------------------------- conversations */

/* A conversation an upstream made is recorded as {owner, account}, as its responses are. */
static void
keep_owned(sllmp_req_t *r, const char *id)
{
    cJSON *doc = cJSON_CreateObject();
    char *text;

    cJSON_AddStringToObject(doc, "owner", owner_of(r));
    cJSON_AddStringToObject(doc, "account", r->dep->account);
    text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (sllmp_keep_put(r->conf, sllmp_thread_store(r), id, text, strlen(text)) != 0) {
        warn_now_and_then(r, "a conversation could not be recorded: it cannot be reached "
                             "through the gateway");
    }
    cJSON_free(text);
}

void
sllmp_conversations_endpoint(sllmp_req_t *r, const char *rest)
{
    const char *query = sllmp_req_param(r, "QUERY_STRING");
    cJSON *loaded = NULL;
    const cJSON *rec = NULL;
    char id[128];
    size_t idlen;
    int rc;

    if (sllmp_auth_check(r) != SLLMP_GO_ON) {
        sllmp_resp_error(r);
        return;
    }
    if (!r->conf->responses_store) {
        sllmp_req_fail(r, SLLMP_ERR_NOT_FOUND, NULL,
                       "Conversations need the gateway to keep whose each one is, and it keeps "
                       "nothing (sllmp.responses.store is false).");
        sllmp_resp_error(r);
        return;
    }
    if (rest == NULL) {
        /* a new one, made by the first deployment with the Responses API */
        sllmp_buf_t answer;
        cJSON *made;

        r->dep = account_deployment(r->conf, NULL);
        if (r->dep == NULL) {
            sllmp_req_fail(r, SLLMP_ERR_NOT_FOUND, NULL,
                           "Conversations are kept by a provider's own Responses API, and no "
                           "deployment of this gateway has one (openai/ or azure/).");
            sllmp_resp_error(r);
            return;
        }
        sllmp_buf_init(&answer, 0);
        if (sllmp_provider_openai_forward(r, "POST", "conversations", query, &r->body, &answer) /
                100 ==
            2) {
            made = cJSON_ParseWithLength(answer.ptr, answer.len);
            if (sllmp_keep_id_ok(sllmp_json_str(made, "id"))) {
                keep_owned(r, sllmp_json_str(made, "id"));
            }
            cJSON_Delete(made);
        }
        sllmp_buf_free(&answer);
        return;
    }
    idlen = strcspn(rest, "/");
    snprintf(id, sizeof(id), "%.*s", (int)(idlen < sizeof(id) ? idlen : sizeof(id) - 1), rest);
    rc = load(r, &loaded, id, &rec, NULL);
    if (rc < 0) {
        store_down(r);
    } else if (rc == 0 || sllmp_json_str(rec, "account") == NULL ||
               (r->dep = account_deployment(r->conf, sllmp_json_str(rec, "account"))) == NULL) {
        sllmp_req_fail(r, SLLMP_ERR_NOT_FOUND, NULL, "Conversation with id '%.*s' not found.",
                       sllmp_utf8_prec(id, 128), id);
        sllmp_resp_error(r);
    } else {
        const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
        int status = sllmp_provider_openai_forward(
            r, method, sllmp_arena_printf(r->arena, "conversations/%s", rest), query, &r->body,
            NULL);

        if (strcmp(method, "DELETE") == 0 && rest[idlen] == '\0' &&
            (status / 100 == 2 || status == 404)) {
            sllmp_keep_del(r->conf, sllmp_thread_store(r), id);
        }
    }
    cJSON_Delete(loaded);
}
