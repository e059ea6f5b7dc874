/*
 * The trace record: one per request (but a token count, which generates nothing), written to
 * the spool at `complete` whatever the outcome (docs/internals/spool.md has the format;
 * `sllmp upload` turns it into Langfuse spans).
 *
 *   pre       the ids: the client's trace (traceparent, X-Trace-ID, LiteLLM metadata) or a new
 *             one; X-Trace-ID goes back in the response.
 *   on_chunk  a stream's answer, put together again (content, reasoning_content,
 *             thinking_blocks and tool calls of choice 0, as an unstreamed answer's message has
 *             them) when the capture policy keeps outputs.
 *   complete  the record: built, redacted (the configured patterns, and every key the gateway
 *             knows of, wherever it appears), written. It runs after the limits settled and
 *             after the web server was told the response is over, so the fsync costs the
 *             client nothing.
 */
#include "sllmp/conf.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"
#include "sllmp/spool.h"
#include "sllmp/translate.h"
#include "sllmp/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REDACTED "[REDACTED]"

typedef struct {
    int ids;
    char trace_id[33];
    char span_id[17];
    char parent[17];
    int joined;
    const char *raw_trace_id; /* an X-Trace-ID that was not 32 hex: kept in the metadata */

    /* a stream's answer */
    int cap_known;
    sllmp_capture_t cap;
    sllmp_buf_t content;
    int content_seen;
    sllmp_buf_t reasoning; /* reasoning_content */
    int reasoning_seen;
    cJSON *thinking_blocks; /* the entries, as the chunks carried them */
    cJSON *tool_calls;      /* by index */
    struct block_s *blocks; /* /v1/messages: the content blocks, by index (BLOCKS_MAX) */
    cJSON *items;           /* /v1/responses passed through: the output of the last Response */
    char *response_model;
} trace_t;

/* A content block of a streamed /v1/messages answer: as content_block_start gave it, with
 * what its deltas carried gathered apart (a text, a thinking, a tool's input JSON). */
#define BLOCKS_MAX 128

typedef struct block_s {
    cJSON *block;
    const char *field; /* "text", "thinking" or "input" (from partial_json) */
    sllmp_buf_t acc;
} block_t;

static int
is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int
all_zero(const char *s)
{
    return strspn(s, "0") == strlen(s);
}

static void
lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] = (char)tolower((unsigned char)src[i]);
    }
    dst[n] = '\0';
}

/*
 * A client's trace id as a W3C one: 32 hex as is, a UUID without its dashes; anything else is
 * hashed, so the same id always names the same trace (the original goes in the metadata).
 */
static int
trace_id_from(trace_t *t, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char hex[33];
    size_t k = 0;

    if (n == 0 || n > 800) {
        return 0;
    }
    if (n == 32 && is_hex(s, 32)) {
        lower_copy(t->trace_id, s, 32);
    } else if (n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-') {
        for (size_t i = 0; i < n && k < 32; i++) {
            if (s[i] != '-') {
                hex[k++] = s[i];
            }
        }
        if (k != 32 || !is_hex(hex, 32)) {
            return 0;
        }
        lower_copy(t->trace_id, hex, 32);
    } else {
        unsigned char sha[32];

        sllmp_sha256(s, n, sha);
        for (int i = 0; i < 16; i++) {
            snprintf(t->trace_id + 2 * i, 3, "%02x", sha[i]);
        }
        t->raw_trace_id = s;
    }
    if (all_zero(t->trace_id)) {
        return 0;
    }
    t->joined = 1;
    return 1;
}

/* traceparent: version-traceid-parentid-flags (W3C Trace Context). */
static int
traceparent(trace_t *t, const char *s)
{
    if (s == NULL || strlen(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' ||
        !is_hex(s, 2) || !is_hex(s + 3, 32) || !is_hex(s + 36, 16) ||
        strncasecmp(s, "ff", 2) == 0) {
        return 0;
    }
    lower_copy(t->trace_id, s + 3, 32);
    lower_copy(t->parent, s + 36, 16);
    if (all_zero(t->trace_id) || all_zero(t->parent)) {
        t->trace_id[0] = t->parent[0] = '\0';
        return 0;
    }
    t->joined = 1;
    return 1;
}

/* metadata.<name> of the request when it is a non-empty string, else dflt. */
static const char *
md_string(const sllmp_req_t *r, const char *name, const char *dflt)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(r->json, "metadata");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, name);

    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : dflt;
}

/*
 * metadata.<name> for the record. Without a valid key the body's metadata counts for nothing:
 * whoever can reach the gateway must not fill the spool (and Langfuse) with what they choose.
 */
static const char *
rec_string(const sllmp_req_t *r, const char *name, const char *dflt)
{
    return r->authenticated ? md_string(r, name, dflt) : dflt;
}

static void
buf_free(void *p)
{
    sllmp_buf_free(p);
}

/* The stream's tool calls, unless the record took them. */
static void
tool_calls_free(void *p)
{
    trace_t *t = p;

    cJSON_Delete(t->tool_calls);
}

static void
thinking_blocks_free(void *p)
{
    trace_t *t = p;

    cJSON_Delete(t->thinking_blocks);
}

static void
items_free(void *p)
{
    trace_t *t = p;

    cJSON_Delete(t->items);
}

/* Items of /v1/responses as a record keeps them: without encrypted_content (opaque to a reader,
 * and large). Returns items. */
static cJSON *
record_items(cJSON *items)
{
    cJSON *item;

    cJSON_ArrayForEach(item, items)
    {
        cJSON_DeleteItemFromObjectCaseSensitive(item, "encrypted_content");
    }
    return items;
}

/* /v1/responses passed through: the Response of a last event has the whole output. */
static void
native_response(sllmp_req_t *r, trace_t *t, const cJSON *ev)
{
    const char *type = sllmp_json_str(ev, "type");
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(ev, "response");
    const char *model = sllmp_json_str(resp, "model");

    if (t->response_model == NULL && model != NULL && *model != '\0') {
        t->response_model = sllmp_arena_strdup(r->arena, model);
    }
    if (t->cap != SLLMP_CAPTURE_FULL || type == NULL ||
        (strcmp(type, "response.completed") != 0 && strcmp(type, "response.incomplete") != 0 &&
         strcmp(type, "response.failed") != 0)) {
        return;
    }
    if (t->items == NULL) {
        sllmp_arena_cleanup_add(r->arena, items_free, t);
    }
    cJSON_Delete(t->items);
    t->items = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(resp, "output"), 1);
}

static void
blocks_free(void *p)
{
    trace_t *t = p;

    for (int i = 0; i < BLOCKS_MAX; i++) {
        cJSON_Delete(t->blocks[i].block);
        sllmp_buf_free(&t->blocks[i].acc);
    }
}

static trace_t *
trace_of(sllmp_req_t *r)
{
    int i = sllmp_middleware_index(&sllmp_mw_trace);
    trace_t *t = r->mw_ctx[i];

    if (t == NULL) {
        t = sllmp_arena_alloc(r->arena, sizeof(*t));
        memset(t, 0, sizeof(*t));
        sllmp_buf_init(&t->content, 0);
        sllmp_arena_cleanup_add(r->arena, buf_free, &t->content);
        sllmp_buf_init(&t->reasoning, 0);
        sllmp_arena_cleanup_add(r->arena, buf_free, &t->reasoning);
        r->mw_ctx[i] = t;
    }
    if (!t->ids) {
        const char *parent = md_string(r, "parent_observation_id", NULL);

        t->ids = 1;
        if (!traceparent(t, sllmp_req_param(r, "HTTP_TRACEPARENT")) &&
            !trace_id_from(t, sllmp_req_param(r, "HTTP_X_TRACE_ID")) &&
            !trace_id_from(t, md_string(r, "existing_trace_id", NULL)) &&
            !trace_id_from(t, md_string(r, "trace_id", NULL))) {
            sllmp_random_hex(t->trace_id, 16);
        }
        if (t->parent[0] == '\0' && parent != NULL && strlen(parent) == 16 && is_hex(parent, 16)) {
            lower_copy(t->parent, parent, 16);
        }
        sllmp_random_hex(t->span_id, 8);
    }
    return t;
}

static sllmp_rc_t
trace_pre(sllmp_req_t *r, void *mw_conf)
{
    (void)mw_conf;
    sllmp_resp_header(r, "X-Trace-ID", trace_of(r)->trace_id);
    return SLLMP_GO_ON;
}

static sllmp_capture_t
capture(sllmp_req_t *r, trace_t *t)
{
    if (!t->cap_known) {
        t->cap = sllmp_capture_policy(r->conf, r->key, r->dep);
        /* no valid key, no bodies: nobody may fill the spool (and Langfuse) with their text */
        if (!r->authenticated && t->cap > SLLMP_CAPTURE_METADATA) {
            t->cap = SLLMP_CAPTURE_METADATA;
        }
        t->cap_known = 1;
    }
    return t->cap;
}

/* Appends a streamed tool-call delta to the call of its index. */
static void
merge_tool_call(trace_t *t, const cJSON *delta)
{
    const cJSON *index = cJSON_GetObjectItemCaseSensitive(delta, "index");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(delta, "function");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(delta, "id");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
    cJSON *call = NULL, *f;
    int idx = cJSON_IsNumber(index) ? index->valueint : 0;

    if (idx < 0 || idx > 127) {
        return;
    }
    for (cJSON *c = t->tool_calls ? t->tool_calls->child : NULL; c != NULL; c = c->next) {
        if (cJSON_GetObjectItemCaseSensitive(c, "index")->valueint == idx) {
            call = c;
        }
    }
    if (call == NULL) {
        call = cJSON_CreateObject();
        cJSON_AddNumberToObject(call, "index", idx);
        cJSON_AddStringToObject(call, "id", "");
        cJSON_AddStringToObject(call, "type", "function");
        f = cJSON_AddObjectToObject(call, "function");
        cJSON_AddStringToObject(f, "name", "");
        cJSON_AddStringToObject(f, "arguments", "");
        cJSON_AddItemToArray(t->tool_calls, call);
    }
    f = cJSON_GetObjectItemCaseSensitive(call, "function");
    if (cJSON_IsString(id)) {
        cJSON_ReplaceItemInObjectCaseSensitive(call, "id", cJSON_CreateString(id->valuestring));
    }
    /* Gemini's thought signature rides on a call's first fragment: the record keeps it as an
     * unstreamed answer's call has it */
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(delta, "extra_content");

    if (cJSON_IsObject(extra) && !cJSON_HasObjectItem(call, "extra_content")) {
        cJSON_AddItemToObject(call, "extra_content", cJSON_Duplicate(extra, 1));
    }
    const struct {
        const char *key;
        const cJSON *add;
    } parts[] = {{"name", name}, {"arguments", args}};

    for (size_t i = 0; i < 2; i++) {
        if (cJSON_IsString(parts[i].add)) {
            const cJSON *was = cJSON_GetObjectItemCaseSensitive(f, parts[i].key);
            char *joined = sllmp_xasprintf("%s%s", was->valuestring, parts[i].add->valuestring);

            cJSON_ReplaceItemInObjectCaseSensitive(f, parts[i].key, cJSON_CreateString(joined));
            free(joined);
        }
    }
}

/* Anthropic's events: each content block as an unstreamed Message has it (its text, its
 * thinking and signature, a tool's input), from its content_block_start and deltas. */
static void
native_block(sllmp_req_t *r, trace_t *t, const cJSON *ev)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    const cJSON *index = cJSON_GetObjectItemCaseSensitive(ev, "index");
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ev, "delta");
    int i = cJSON_IsNumber(index) ? index->valueint : -1;
    block_t *b;

    if (!cJSON_IsString(type) || i < 0 || i >= BLOCKS_MAX) {
        return;
    }
    if (t->blocks == NULL) {
        t->blocks = sllmp_arena_calloc(r->arena, BLOCKS_MAX * sizeof(block_t));
        for (int k = 0; k < BLOCKS_MAX; k++) {
            sllmp_buf_init(&t->blocks[k].acc, 0);
        }
        sllmp_arena_cleanup_add(r->arena, blocks_free, t);
    }
    b = &t->blocks[i];
    if (strcmp(type->valuestring, "content_block_start") == 0) {
        const cJSON *cb = cJSON_GetObjectItemCaseSensitive(ev, "content_block");

        if (cJSON_IsObject(cb) && b->block == NULL) {
            b->block = cJSON_Duplicate(cb, 1);
        }
        return;
    }
    if (strcmp(type->valuestring, "content_block_delta") != 0 || b->block == NULL) {
        return;
    }
    static const struct {
        const char *delta, *field;
    } fields[] = {{"text", "text"}, {"thinking", "thinking"}, {"partial_json", "input"}};
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(delta, "signature");

    for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(delta, fields[k].delta);

        if (cJSON_IsString(v) && (b->field == NULL || b->field == fields[k].field)) {
            b->field = fields[k].field;
            sllmp_buf_appends(&b->acc, v->valuestring);
        }
    }
    if (cJSON_IsString(sig)) {
        /* sent whole, once, at the end of a thinking block */
        cJSON_DeleteItemFromObjectCaseSensitive(b->block, "signature");
        cJSON_AddStringToObject(b->block, "signature", sig->valuestring);
    }
}

/* The streamed /v1/messages answer: {"role": "assistant", "content": [blocks]}. */
static void
native_output(trace_t *t, cJSON *rec)
{
    cJSON *content = NULL;

    for (int i = 0; t->blocks != NULL && i < BLOCKS_MAX; i++) {
        block_t *b = &t->blocks[i];
        cJSON *v = NULL;

        if (b->block == NULL) {
            continue;
        }
        if (b->field != NULL && strcmp(b->field, "input") == 0 && b->acc.len == 0) {
            v = NULL; /* a tool without arguments: its start's input ({}) */
        } else if (b->field != NULL && strcmp(b->field, "input") == 0) {
            int trailing;

            /* a tool's input as JSON; the text as it came when it is cut or broken */
            v = sllmp_json_parse(sllmp_buf_cstr(&b->acc), b->acc.len, &trailing);
            if (v == NULL || trailing) {
                cJSON_Delete(v);
                v = cJSON_CreateString(sllmp_buf_cstr(&b->acc));
            }
        } else if (b->field != NULL) {
            /* a start's text (empty, in practice) then the deltas' */
            const cJSON *was = cJSON_GetObjectItemCaseSensitive(b->block, b->field);
            char *joined = sllmp_xasprintf("%s%s", cJSON_IsString(was) ? was->valuestring : "",
                                           sllmp_buf_cstr(&b->acc));

            v = cJSON_CreateString(joined);
            free(joined);
        }
        if (v != NULL) {
            cJSON_DeleteItemFromObjectCaseSensitive(b->block, b->field);
            cJSON_AddItemToObject(b->block, b->field, v);
        }
        if (content == NULL) {
            cJSON *out = cJSON_AddObjectToObject(rec, "output");

            cJSON_AddStringToObject(out, "role", "assistant");
            content = cJSON_AddArrayToObject(out, "content");
        }
        cJSON_AddItemToArray(content, b->block);
        b->block = NULL; /* the record owns it now; the cleanup sees NULL */
    }
}

static sllmp_rc_t
trace_chunk(sllmp_req_t *r, void *mw_conf, sllmp_chunk_t *chunk)
{
    trace_t *t = trace_of(r);
    const cJSON *model, *choice;

    (void)mw_conf;
    if (chunk->json == NULL || capture(r, t) == SLLMP_CAPTURE_NONE) {
        return SLLMP_GO_ON;
    }
    if (r->kind == SLLMP_KIND_RESPONSES) {
        native_response(r, t, chunk->json);
        return SLLMP_GO_ON;
    }
    model = cJSON_GetObjectItemCaseSensitive(chunk->json, "model");
    if (t->response_model == NULL && cJSON_IsString(model) && model->valuestring[0]) {
        t->response_model = sllmp_arena_strdup(r->arena, model->valuestring);
    }
    if (t->cap != SLLMP_CAPTURE_FULL) {
        return SLLMP_GO_ON;
    }
    if (r->kind == SLLMP_KIND_MESSAGES) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(chunk->json, "message");

        model = cJSON_GetObjectItemCaseSensitive(msg, "model");
        if (t->response_model == NULL && cJSON_IsString(model) && model->valuestring[0]) {
            t->response_model = sllmp_arena_strdup(r->arena, model->valuestring);
        }
        native_block(r, t, chunk->json);
        return SLLMP_GO_ON;
    }
    cJSON_ArrayForEach(choice, cJSON_GetObjectItemCaseSensitive(chunk->json, "choices"))
    {
        const cJSON *index = cJSON_GetObjectItemCaseSensitive(choice, "index");
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
        const cJSON *content = delta != NULL ? cJSON_GetObjectItemCaseSensitive(delta, "content")
                                             : cJSON_GetObjectItemCaseSensitive(choice, "text");
        const cJSON *reasoning = cJSON_GetObjectItemCaseSensitive(delta, "reasoning_content");
        const cJSON *call, *block;

        if (cJSON_IsNumber(index) && index->valueint != 0) {
            continue; /* n > 1: the record keeps the first choice of a stream */
        }
        if (cJSON_IsString(content)) {
            sllmp_buf_appends(&t->content, content->valuestring);
            t->content_seen = 1;
        }
        if (cJSON_IsString(reasoning)) {
            sllmp_buf_appends(&t->reasoning, reasoning->valuestring);
            t->reasoning_seen = 1;
        }
        cJSON_ArrayForEach(block, cJSON_GetObjectItemCaseSensitive(delta, "thinking_blocks"))
        {
            cJSON *b = cJSON_Duplicate(block, 1);

            if (t->thinking_blocks == NULL) {
                t->thinking_blocks = cJSON_CreateArray();
                sllmp_arena_cleanup_add(r->arena, thinking_blocks_free, t);
            }
            cJSON_DeleteItemFromObjectCaseSensitive(b, "index"); /* the stream's, not the block's */
            cJSON_AddItemToArray(t->thinking_blocks, b);
        }
        cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(delta, "tool_calls"))
        {
            if (t->tool_calls == NULL) {
                t->tool_calls = cJSON_CreateArray();
                sllmp_arena_cleanup_add(r->arena, tool_calls_free, t);
            }
            merge_tool_call(t, call);
        }
    }
    return SLLMP_GO_ON;
}

/* ---------------------------------------------------------------- redaction */

typedef struct {
    const char **secrets; /* in the arena */
    size_t nsecrets;
    size_t cap;
    const sllmp_langfuse_conf_t *lf;
} redactor_t;

static void
add_secret(redactor_t *x, const char *s)
{
    /* keys shorter than this would blank out ordinary words */
    if (s != NULL && strlen(s) >= 4 && x->nsecrets < x->cap) {
        x->secrets[x->nsecrets++] = s;
    }
}

/* s with every secret and every pattern's match replaced; NULL when nothing matched. */
static char *
redact_string(const redactor_t *x, const char *s)
{
    sllmp_buf_t b;
    char *cur = NULL;
    int changed = 0;

    for (size_t i = 0; i < x->nsecrets; i++) {
        const char *src = cur ? cur : s;
        const char *hit = strstr(src, x->secrets[i]);
        size_t slen = strlen(x->secrets[i]);

        if (hit == NULL) {
            continue;
        }
        sllmp_buf_init(&b, 0);
        while (hit != NULL) {
            sllmp_buf_append(&b, src, (size_t)(hit - src));
            sllmp_buf_appends(&b, REDACTED);
            src = hit + slen;
            hit = strstr(src, x->secrets[i]);
        }
        sllmp_buf_appends(&b, src);
        free(cur);
        cur = b.ptr;
        changed = 1;
    }
    for (size_t i = 0; i < x->lf->nredact; i++) {
        const char *src = cur ? cur : s;
        regmatch_t m;
        int eflags = 0, hits = 0;

        const char *end = src + strlen(src);

        sllmp_buf_init(&b, 0);
        sllmp_buf_append(&b, "", 0);
        /* REG_STARTEND: each call looks at [src, end) and does not measure the rest again,
         * so a long text with many matches costs one pass, not one pass per match */
        while (src < end) {
            m.rm_so = 0;
            m.rm_eo = end - src;
            if (regexec(&x->lf->redact[i], src, 1, &m, eflags | REG_STARTEND) != 0) {
                break;
            }
            if (m.rm_eo == m.rm_so) {
                /* an empty match: keep the text up to it and one character, look further */
                sllmp_buf_append(&b, src, (size_t)m.rm_so + 1);
                src += m.rm_so + 1;
            } else {
                sllmp_buf_append(&b, src, (size_t)m.rm_so);
                sllmp_buf_appends(&b, REDACTED);
                src += m.rm_eo;
                hits++;
            }
            eflags = REG_NOTBOL;
        }
        if (hits == 0) {
            sllmp_buf_free(&b);
            continue;
        }
        sllmp_buf_appends(&b, src);
        free(cur);
        cur = b.ptr;
        changed = 1;
    }
    return changed ? cur : NULL;
}

/* Every key the request and the config know of (the client's, the master key, the providers'
 * and Langfuse's) and the configured patterns. The list lives in r's arena. */
static void
redactor_init(sllmp_req_t *r, redactor_t *x)
{
    const sllmp_conf_t *c = r->conf;
    const sllmp_langfuse_conf_t *lf = &c->langfuse;

    memset(x, 0, sizeof(*x));
    x->lf = lf;
    x->cap = 4 * c->ndeployments + 4;
    x->secrets = sllmp_arena_alloc(r->arena, x->cap * sizeof(*x->secrets));
    add_secret(x, sllmp_auth_presented_key(r));
    add_secret(x, c->master_key);
    for (size_t i = 0; i < c->ndeployments; i++) {
        add_secret(x, c->deployments[i].api_key);
        add_secret(x, c->deployments[i].aws.secret_access_key);
        add_secret(x, c->deployments[i].aws.session_token);
        add_secret(x, c->deployments[i].aws.access_key_id);
    }
    add_secret(x, lf->secret_key);
    add_secret(x, lf->public_key);
}

const char *
sllmp_redacted(sllmp_req_t *r, const char *s)
{
    redactor_t x;
    char *out;
    const char *copy;

    if (s == NULL || r->conf == NULL) {
        return s;
    }
    redactor_init(r, &x);
    out = redact_string(&x, s);
    if (out == NULL) {
        return s;
    }
    copy = sllmp_arena_strdup(r->arena, out);
    free(out);
    return copy;
}

static void
redact(const redactor_t *x, cJSON *j)
{
    for (cJSON *c = j; c != NULL; c = c->next) {
        if (c->string != NULL && !(c->type & cJSON_StringIsConst)) {
            /* a member's name too: metadata and params take any name a client sends */
            char *name = redact_string(x, c->string);

            if (name != NULL) {
                cJSON_free(c->string);
                c->string = cJSON_malloc(strlen(name) + 1);
                memcpy(c->string, name, strlen(name) + 1);
                free(name);
            }
        }
        if (cJSON_IsString(c)) {
            char *s = redact_string(x, c->valuestring);

            if (s != NULL) {
                cJSON_free(c->valuestring);
                c->valuestring = cJSON_malloc(strlen(s) + 1);
                memcpy(c->valuestring, s, strlen(s) + 1);
                free(s);
            }
        } else if (c->child != NULL) {
            redact(x, c->child);
        }
    }
}

/* Redacts one item (and its children), not its siblings. */
static void
redact_item(const redactor_t *x, cJSON *item)
{
    cJSON *next;

    if (item == NULL) {
        return;
    }
    next = item->next;
    item->next = NULL;
    redact(x, item);
    item->next = next;
}

/* ---------------------------------------------------------------- the record */

static void
add_str(cJSON *o, const char *name, const char *v)
{
    if (v != NULL && *v != '\0') {
        cJSON_AddStringToObject(o, name, v);
    }
}

/*
 * Numbers go in as raw text: cJSON prints a number with sprintf, reads it back with sscanf and
 * may print it again, which made the numbers the dearest part of a record.
 */
static void
add_int(cJSON *o, const char *name, int64_t v)
{
    char text[24];

    snprintf(text, sizeof(text), "%lld", (long long)v);
    cJSON_AddRawToObject(o, name, text);
}

static void
add_usd(cJSON *o, const char *name, double v)
{
    char text[32];

    /* 17 significant digits read back as the same double; never NaN or inf (costs are sums) */
    snprintf(text, sizeof(text), "%.17g", v);
    cJSON_AddRawToObject(o, name, text);
}

static int64_t
wall_us(const sllmp_req_t *r, int64_t mono_ms)
{
    return r->start_wall_us + (mono_ms - r->start_ms) * 1000;
}

/* Request fields that are model parameters, as values Langfuse takes (no nested objects). */
/*
 * A request field that may hold a credential: a client's own provider key (LiteLLM lets clients
 * send api_key and friends in the body), extra_headers, an MCP server's authorization_token.
 * None is a sampling parameter; the record keeps none of them (the redactor only knows the keys
 * of the config and of the request's authentication).
 */
static int
credential_field(const char *name)
{
    static const char *const exact[] = {"key",           "token",       "headers",
                                        "extra_headers", "mcp_servers", NULL};
    static const char *const inside[] = {"secret",     "password", "authorization",
                                         "credential", "api_key",  NULL};
    size_t n = strlen(name);

    for (int i = 0; exact[i] != NULL; i++) {
        if (strcasecmp(name, exact[i]) == 0) {
            return 1;
        }
    }
    for (int i = 0; inside[i] != NULL; i++) {
        if (strcasestr(name, inside[i]) != NULL) {
            return 1;
        }
    }
    /* aws_access_key_id, x_key, a session or bearer token (max_tokens ends in "_tokens") */
    return (n >= 4 && strcasecmp(name + n - 4, "_key") == 0) ||
           (n >= 6 && strcasecmp(name + n - 6, "_token") == 0) || strcasestr(name, "_key_") != NULL;
}

static cJSON *
params(const cJSON *body)
{
    /*
     * What carries the user's text is the input, the capture policy's, never a parameter:
     * messages, prompt (/v1/completions), input (/v1/embeddings, /v1/responses), system
     * (/v1/messages), instructions (/v1/responses), prediction (predicted outputs: the
     * document being edited) and suffix (/v1/completions: the text after the insertion).
     * Capture metadata means no messages and no answer.
     */
    static const char *const skip[] = {
        "messages", "model",        "metadata", "user",       "tools",  "functions",      "prompt",
        "input",    "instructions", "system",   "prediction", "suffix", "stream_options", NULL,
    };
    cJSON *p = cJSON_CreateObject();
    const cJSON *f;

    cJSON_ArrayForEach(f, body)
    {
        int skipped = 0, strings = 1;
        const cJSON *e;

        for (int i = 0; skip[i] != NULL; i++) {
            skipped |= strcmp(f->string, skip[i]) == 0;
        }
        if (skipped || credential_field(f->string)) {
            continue;
        }
        if (cJSON_IsArray(f)) {
            cJSON_ArrayForEach(e, f)
            {
                strings &= cJSON_IsString(e);
            }
        }
        if (cJSON_IsObject(f) || (cJSON_IsArray(f) && !strings)) {
            char *text = cJSON_PrintUnformatted(f);

            cJSON_AddStringToObject(p, f->string, text);
            cJSON_free(text);
        } else {
            cJSON_AddItemToObject(p, f->string, cJSON_Duplicate(f, 1));
        }
    }
    return p;
}

/* LiteLLM's metadata names, read into the record's own fields rather than its metadata. */
static const char *const litellm_names[] = {
    "trace_user_id",
    "session_id",
    "tags",
    "generation_name",
    "trace_name",
    "trace_id",
    "existing_trace_id",
    "trace_metadata",
    "trace_release",
    "trace_version",
    "version",
    "parent_observation_id",
    "generation_id",
    NULL,
};

static cJSON *
metadata(sllmp_req_t *r, const trace_t *t)
{
    /* sent without a valid key (rec_string()), or refused by validation: nothing to read */
    const cJSON *md =
        r->authenticated ? cJSON_GetObjectItemCaseSensitive(r->json, "metadata") : NULL;
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(md, "trace_metadata");
    cJSON *out = cJSON_IsObject(tm) ? cJSON_Duplicate(tm, 1) : cJSON_CreateObject();
    const cJSON *f;

    if (!cJSON_IsObject(md)) {
        md = NULL;
    }
    cJSON_ArrayForEach(f, md)
    {
        int known = 0;

        for (int i = 0; litellm_names[i] != NULL; i++) {
            known |= strcmp(f->string, litellm_names[i]) == 0;
        }
        if (!known && !cJSON_HasObjectItem(out, f->string)) {
            cJSON_AddItemToObject(out, f->string, cJSON_Duplicate(f, 1));
        }
    }
    if (r->key != NULL) {
        cJSON_AddStringToObject(out, "key_name", r->key->name);
        add_str(out, "team", r->key->team);
    }
    cJSON_AddStringToObject(out, "request_id", r->id);
    add_str(out, "x_trace_id", t->raw_trace_id);
    if (r->cache_key != NULL) { /* LiteLLM's names */
        cJSON_AddBoolToObject(out, "cache_hit", r->cache_hit);
        cJSON_AddStringToObject(out, "cache_key", r->cache_key);
    }
    return out;
}

static void
usage_and_cost(sllmp_req_t *r, cJSON *rec)
{
    static const char *const names[5] = {"input", "cache_read", "cache_write", "output",
                                         "reasoning"};
    const long v[5] = {r->usage.input, r->usage.cache_read, r->usage.cache_write, r->usage.output,
                       r->usage.reasoning};
    cJSON *u = cJSON_AddObjectToObject(rec, "usage");

    for (int i = 0; i < 5; i++) {
        add_int(u, names[i], v[i]);
    }
    cJSON_AddBoolToObject(u, "estimated", r->usage.estimated);
    if (r->dep != NULL && (r->dep->price.known || r->cost_usd > 0)) {
        double b[5];
        double total = sllmp_cost_buckets(&r->usage, &r->dep->price, b);
        cJSON *c = cJSON_AddObjectToObject(rec, "cost");

        if (r->cache_hit) {
            memset(b, 0, sizeof(b)); /* a cached answer: no provider was paid */
            total = 0;
        } else if (total != r->cost_usd &&
                   (r->kind == SLLMP_KIND_IMAGES || r->kind == SLLMP_KIND_MODERATIONS)) {
            /* priced otherwise than by its tokens (sllmp_req_cost): a moderation at nothing,
             * images each at their price, all of it output */
            memset(b, 0, sizeof(b));
            b[3] = total = r->cost_usd;
        }

        for (int i = 0; i < 5; i++) {
            add_usd(c, names[i], b[i]);
        }
        add_usd(c, "total", total);
    }
}

/* A string member of o, "" when it is not one. */
static const char *
str_or(const cJSON *o, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

    return v != NULL ? v : "";
}

/* A Response's output items (POST /v1/responses) as the chat message they were made from,
 * so that the record's output is the same whether the answer was streamed or not. */
static void
responses_output(const cJSON *body, cJSON *rec)
{
    const cJSON *item, *part;
    sllmp_buf_t content, reasoning;
    cJSON *out, *calls = NULL;
    int text = 0, thought = 0;

    sllmp_buf_init(&content, 0);
    sllmp_buf_init(&reasoning, 0);
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(body, "output"))
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "type"));

        if (type == NULL) {
            continue;
        }
        if (strcmp(type, "function_call") == 0) {
            cJSON *c = cJSON_CreateObject(), *f;

            cJSON_AddStringToObject(c, "id", str_or(item, "call_id"));
            cJSON_AddStringToObject(c, "type", "function");
            f = cJSON_AddObjectToObject(c, "function");
            cJSON_AddStringToObject(f, "name", str_or(item, "name"));
            cJSON_AddStringToObject(f, "arguments", str_or(item, "arguments"));
            if (calls == NULL) {
                calls = cJSON_CreateArray();
            }
            cJSON_AddItemToArray(calls, c);
            continue;
        }
        int is_reasoning = strcmp(type, "reasoning") == 0;

        cJSON_ArrayForEach(
            part, cJSON_GetObjectItemCaseSensitive(item, is_reasoning ? "summary" : "content"))
        {
            const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(part, "text"));

            if (t != NULL) {
                sllmp_buf_appends(is_reasoning ? &reasoning : &content, t);
                *(is_reasoning ? &thought : &text) = 1;
            }
        }
    }
    if (text || thought || calls != NULL) {
        out = cJSON_AddObjectToObject(rec, "output");
        cJSON_AddStringToObject(out, "role", "assistant");
        if (text) {
            cJSON_AddStringToObject(out, "content", sllmp_buf_cstr(&content));
        } else {
            cJSON_AddNullToObject(out, "content");
        }
        if (thought) {
            cJSON_AddStringToObject(out, "reasoning_content", sllmp_buf_cstr(&reasoning));
        }
        if (calls != NULL) {
            cJSON_AddItemToObject(out, "tool_calls", calls);
        }
    }
    sllmp_buf_free(&content);
    sllmp_buf_free(&reasoning);
}

/* The member of the body that is a prompt-like kind's input: its text, recorded whole as the
 * record's input; NULL for the kinds with messages or items. */
static const char *
text_input(const sllmp_req_t *r)
{
    switch (r->kind) {
    case SLLMP_KIND_COMPLETIONS:
    case SLLMP_KIND_IMAGES:
        return "prompt";
    case SLLMP_KIND_EMBEDDINGS:
    case SLLMP_KIND_MODERATIONS:
        return "input";
    default:
        return NULL;
    }
}

void
sllmp_trace_cut_images(cJSON *data)
{
    cJSON *img;

    cJSON_ArrayForEach(img, data)
    {
        const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(img, "b64_json");

        if (cJSON_IsString(b64)) {
            char marker[64];

            snprintf(marker, sizeof(marker), "[b64_json: %zu characters]",
                     strlen(b64->valuestring));
            cJSON_ReplaceItemInObjectCaseSensitive(img, "b64_json", cJSON_CreateString(marker));
        }
    }
}

/* An answer that is no chat's, which the record keeps as it is but for what is no text: an
 * image generation's `data` (its pictures' base64 cut, sllmp_trace_cut_images), a
 * moderation's `results`. 1 when body was one (of those kinds or embeddings, which keep
 * nothing). */
static int
other_output(const sllmp_req_t *r, cJSON *body, cJSON *rec, int full)
{
    const char *name = r->kind == SLLMP_KIND_IMAGES        ? "data"
                       : r->kind == SLLMP_KIND_MODERATIONS ? "results"
                                                           : NULL;
    cJSON *out;

    if (name == NULL) {
        return r->kind == SLLMP_KIND_EMBEDDINGS;
    }
    out = cJSON_DetachItemFromObjectCaseSensitive(body, name);
    if (full && out != NULL) {
        if (r->kind == SLLMP_KIND_IMAGES) {
            sllmp_trace_cut_images(out);
        }
        cJSON_AddItemToObject(rec, "output", out);
    } else {
        cJSON_Delete(out);
    }
    return 1;
}

/* The answer of an unstreamed call, from the body that went to the client. */
static void
unstreamed_output(sllmp_req_t *r, trace_t *t, cJSON *rec, cJSON *md, int full)
{
    cJSON *body, *choices, *first, *msg;

    if (r->stream || r->resp_body.len == 0 || r->err != SLLMP_OK) {
        return;
    }
    body = cJSON_ParseWithLength(r->resp_body.ptr, r->resp_body.len);
    if (body == NULL) {
        return;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");

    if (cJSON_IsString(model) && model->valuestring[0]) {
        t->response_model = sllmp_arena_strdup(r->arena, model->valuestring);
    }
    if (r->kind == SLLMP_KIND_RESPONSES) {
        cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(body, "output");

        if (full && items != NULL) {
            cJSON_AddItemToObject(rec, "output", record_items(items));
        } else {
            cJSON_Delete(items);
        }
        cJSON_Delete(body);
        return;
    }
    if (r->responses != NULL) {
        if (full) {
            responses_output(body, rec);
        }
        cJSON_Delete(body);
        return;
    }
    if (other_output(r, body, rec, full)) {
        cJSON_Delete(body);
        return;
    }
    if (r->kind == SLLMP_KIND_MESSAGES || r->messages != NULL) {
        /* an Anthropic Message (also one translated from chat): its content blocks */
        cJSON *content = cJSON_DetachItemFromObjectCaseSensitive(body, "content");

        if (full && content != NULL) {
            cJSON *out = cJSON_AddObjectToObject(rec, "output");

            cJSON_AddStringToObject(out, "role", "assistant");
            cJSON_AddItemToObject(out, "content", content);
        } else {
            cJSON_Delete(content);
        }
        cJSON_Delete(body);
        return;
    }
    choices = cJSON_GetObjectItemCaseSensitive(body, "choices");
    first = cJSON_GetArrayItem(choices, 0);
    msg = cJSON_DetachItemFromObjectCaseSensitive(first, "message");
    if (msg == NULL && r->kind == SLLMP_KIND_COMPLETIONS) {
        msg = cJSON_DetachItemFromObjectCaseSensitive(first, "text");
    }
    if (full && msg != NULL) {
        cJSON_AddItemToObject(rec, "output", msg);
        if (cJSON_GetArraySize(choices) > 1) {
            cJSON *rest = cJSON_CreateArray();
            cJSON *c;

            cJSON_ArrayForEach(c, choices)
            {
                /* a legacy completion's choice has its text where chat's has a message */
                const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "message");

                if (m == NULL && r->kind == SLLMP_KIND_COMPLETIONS) {
                    m = cJSON_GetObjectItemCaseSensitive(c, "text");
                }
                if (c != first) {
                    cJSON_AddItemToArray(rest,
                                         m != NULL ? cJSON_Duplicate(m, 1) : cJSON_CreateNull());
                }
            }
            /* replaces a client's own metadata.choices rather than making a second member */
            cJSON_DeleteItemFromObjectCaseSensitive(md, "choices");
            cJSON_AddItemToObject(md, "choices", rest);
        }
    } else {
        cJSON_Delete(msg);
    }
    cJSON_Delete(body);
}

static void
streamed_output(trace_t *t, cJSON *rec)
{
    cJSON *out;

    if (!t->content_seen && !t->reasoning_seen && t->thinking_blocks == NULL &&
        t->tool_calls == NULL) {
        return;
    }
    out = cJSON_AddObjectToObject(rec, "output");
    cJSON_AddStringToObject(out, "role", "assistant");
    if (t->content_seen) {
        cJSON_AddStringToObject(out, "content", sllmp_buf_cstr(&t->content));
    } else {
        cJSON_AddNullToObject(out, "content");
    }
    if (t->reasoning_seen) {
        cJSON_AddStringToObject(out, "reasoning_content", sllmp_buf_cstr(&t->reasoning));
    }
    if (t->thinking_blocks != NULL) {
        cJSON_AddItemToObject(out, "thinking_blocks", t->thinking_blocks);
        t->thinking_blocks = NULL; /* the record owns it now; the cleanup sees NULL */
    }
    if (t->tool_calls != NULL) {
        cJSON *c;

        cJSON_ArrayForEach(c, t->tool_calls)
        {
            cJSON_DeleteItemFromObjectCaseSensitive(c, "index");
        }
        cJSON_AddItemToObject(out, "tool_calls", t->tool_calls);
        t->tool_calls = NULL; /* the record owns it now; the cleanup sees NULL */
    }
}

static void
attempts(sllmp_req_t *r, cJSON *rec)
{
    cJSON *list = cJSON_AddArrayToObject(rec, "attempts");

    for (int i = 0; i < r->nattempts; i++) {
        const sllmp_attempt_t *a = &r->attempts[i];
        cJSON *o = cJSON_CreateObject();
        char sid[17];

        sllmp_random_hex(sid, 8);
        cJSON_AddStringToObject(o, "span_id", sid);
        if (a->dep != NULL) {
            char *name = sllmp_xasprintf("%s/%s", a->dep->provider_name, a->dep->model);

            cJSON_AddStringToObject(o, "name", name);
            free(name);
            cJSON_AddStringToObject(o, "provider", a->dep->provider_name);
            cJSON_AddStringToObject(o, "deployment", a->dep->model_name);
            cJSON_AddStringToObject(o, "model", a->dep->model);
            cJSON_AddStringToObject(o, "model_id", a->dep->id);
        } else {
            cJSON_AddStringToObject(o, "name", "upstream");
        }
        add_int(o, "start_us", wall_us(r, a->start_ms));
        add_int(o, "end_us", wall_us(r, a->end_ms ? a->end_ms : a->start_ms));
        add_int(o, "status", a->status);
        cJSON_AddStringToObject(o, "level", a->err == SLLMP_OK ? "DEFAULT" : "ERROR");
        add_str(o, "error", a->error);
        cJSON_AddItemToArray(list, o);
    }
}

static char *
build(sllmp_req_t *r, trace_t *t, sllmp_capture_t cap)
{
    const sllmp_conf_t *c = r->conf;
    const sllmp_langfuse_conf_t *lf = &c->langfuse;
    cJSON *body = cJSON_IsObject(r->json) ? r->json : NULL; /* a body may be any JSON value */
    cJSON *rec = cJSON_CreateObject();
    cJSON *md = metadata(r, t);
    cJSON *tags = cJSON_CreateArray();
    const char *user = sllmp_req_param(r, "HTTP_X_USER_ID");
    const char *session = r->session;
    int status = r->client_gone ? 499 : r->status;
    int64_t end = r->end_ms ? r->end_ms : sllmp_now_ms();
    const char *model = NULL, *added[SLLMP_DEP_DEFAULTS_MAX];
    size_t nadded = 0;
    char *cut = NULL;
    redactor_t x;
    char *text;

    if (user == NULL || *user == '\0') {
        user = rec_string(r, "trace_user_id", NULL);
    }
    if (user == NULL && r->authenticated) {
        user = r->user; /* OpenAI's user, or the key's */
    }
    if (session == NULL || *session == '\0') {
        session = rec_string(r, "session_id", NULL);
    }
    if (r->authenticated) {
        /* the request's tags as LiteLLM gives Langfuse them: metadata's, the body's, the
         * x-litellm-tags header's and the key's */
        sllmp_request_tags(r);
        for (size_t i = 0; i < r->ntags; i++) {
            cJSON_AddItemToArray(tags, cJSON_CreateString(r->tags[i]));
        }
    }

    add_int(rec, "v", 1);
    cJSON_AddStringToObject(rec, "request_id", r->id);
    cJSON_AddStringToObject(rec, "trace_id", t->trace_id);
    cJSON_AddStringToObject(rec, "span_id", t->span_id);
    add_str(rec, "parent_span_id", t->parent);
    cJSON_AddBoolToObject(rec, "trace_joined", t->joined);
    cJSON_AddStringToObject(rec, "trace_name", rec_string(r, "trace_name", lf->trace_name));
    static const char *const kind_names[] = {"chat.completions",   "completions",  "embeddings",
                                             "messages",           "count_tokens", "responses",
                                             "images.generations", "moderations"};

    cJSON_AddStringToObject(rec, "name",
                            rec_string(r, "generation_name",
                                       r->responses_compact  ? "responses.compact"
                                       : r->responses_api    ? "responses"
                                       : r->messages != NULL ? "messages"
                                                             : kind_names[r->kind]));
    add_str(rec, "user", user);
    add_str(rec, "session", session);
    cJSON_AddItemToObject(rec, "tags", tags);
    cJSON_AddItemToObject(rec, "metadata", md);
    add_str(rec, "environment", lf->environment);
    add_str(rec, "release", rec_string(r, "trace_release", lf->release));
    add_str(rec, "version", rec_string(r, "version", rec_string(r, "trace_version", NULL)));
    cJSON_AddStringToObject(rec, "endpoint", r->path ? r->path : "");
    cJSON_AddBoolToObject(rec, "stream", r->stream);
    if (r->model != NULL) {
        model = r->model;
    } else if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "model"))) {
        /* refused before validation named it: what the body says */
        model = cJSON_GetObjectItemCaseSensitive(body, "model")->valuestring;
    }
    if (model != NULL && !r->authenticated) {
        /* without a valid key, 200 bytes at most: as much as the error message quotes */
        model = cut = sllmp_xstrndup(model, (size_t)sllmp_utf8_prec(model, 200));
    }
    add_str(rec, "model", model);
    free(cut);
    if (r->dep != NULL) {
        cJSON_AddStringToObject(rec, "provider", r->dep->provider_name);
        cJSON_AddStringToObject(rec, "deployment", r->dep->model_name);
        cJSON_AddStringToObject(rec, "upstream_model", r->dep->model);
    }
    /* the parameters the answer was made with: the deployment's request defaults too, which
     * provider.c puts in for each attempt only (those of the one that answered, or failed last) */
    if (r->nattempts > 0 && (r->kind == SLLMP_KIND_CHAT || r->kind == SLLMP_KIND_COMPLETIONS ||
                             (r->kind == SLLMP_KIND_RESPONSES && !r->responses_compact))) {
        nadded = sllmp_dep_defaults_add(r->dep, body, r->kind == SLLMP_KIND_RESPONSES, added);
    }
    cJSON_AddItemToObject(rec, "params", params(r->authenticated ? body : NULL));
    sllmp_dep_defaults_remove(body, added, nadded);
    cJSON_AddStringToObject(rec, "capture", sllmp_capture_name(cap));
    if (cap == SLLMP_CAPTURE_FULL && body != NULL && text_input(r) != NULL) {
        cJSON *in = cJSON_DetachItemFromObjectCaseSensitive(body, text_input(r));
        cJSON *suffix = r->kind == SLLMP_KIND_COMPLETIONS
                            ? cJSON_DetachItemFromObjectCaseSensitive(body, "suffix")
                            : NULL;

        if (suffix != NULL) {
            cJSON *o = cJSON_AddObjectToObject(rec, "input");

            cJSON_AddItemToObject(o, "prompt", in ? in : cJSON_CreateNull());
            cJSON_AddItemToObject(o, "suffix", suffix);
        } else if (in != NULL) {
            cJSON_AddItemToObject(rec, "input", in);
        }
    } else if (cap == SLLMP_CAPTURE_FULL && body != NULL && r->kind == SLLMP_KIND_RESPONSES) {
        /* the items as they went upstream; instructions and tools beside them when given */
        cJSON *in = cJSON_DetachItemFromObjectCaseSensitive(body, "input");
        cJSON *instructions = cJSON_DetachItemFromObjectCaseSensitive(body, "instructions");
        cJSON *tools = cJSON_DetachItemFromObjectCaseSensitive(body, "tools");

        if (cJSON_IsArray(in)) {
            record_items(in);
        }
        if (instructions != NULL || tools != NULL) {
            cJSON *o = cJSON_AddObjectToObject(rec, "input");

            if (instructions != NULL) {
                cJSON_AddItemToObject(o, "instructions", instructions);
            }
            cJSON_AddItemToObject(o, "input", in ? in : cJSON_CreateNull());
            if (tools != NULL) {
                cJSON_AddItemToObject(o, "tools", tools);
            }
        } else if (in != NULL) {
            cJSON_AddItemToObject(rec, "input", in);
        }
    } else if (cap == SLLMP_CAPTURE_FULL && body != NULL) {
        cJSON *messages = cJSON_DetachItemFromObjectCaseSensitive(body, "messages");
        cJSON *tools = cJSON_DetachItemFromObjectCaseSensitive(body, "tools");
        cJSON *system = cJSON_DetachItemFromObjectCaseSensitive(body, "system");
        cJSON *prediction = cJSON_DetachItemFromObjectCaseSensitive(body, "prediction");

        if (system != NULL) {
            /* /v1/messages: Anthropic's system prompt goes first, as an OpenAI system message */
            cJSON *m = cJSON_CreateObject();

            cJSON_AddStringToObject(m, "role", "system");
            cJSON_AddItemToObject(m, "content", system);
            if (messages == NULL) {
                messages = cJSON_CreateArray();
            }
            cJSON_InsertItemInArray(messages, 0, m);
        }
        if (tools != NULL || prediction != NULL) {
            cJSON *in = cJSON_AddObjectToObject(rec, "input");

            cJSON_AddItemToObject(in, "messages", messages ? messages : cJSON_CreateNull());
            if (tools != NULL) {
                cJSON_AddItemToObject(in, "tools", tools);
            }
            if (prediction != NULL) {
                cJSON_AddItemToObject(in, "prediction", prediction);
            }
        } else if (messages != NULL) {
            cJSON_AddItemToObject(rec, "input", messages);
        }
    }
    if (r->stream) {
        if (cap == SLLMP_CAPTURE_FULL && r->kind == SLLMP_KIND_RESPONSES) {
            if (t->items != NULL) {
                cJSON_AddItemToObject(rec, "output", record_items(t->items));
                t->items = NULL; /* the record's now; the cleanup sees NULL */
            }
        } else if (cap == SLLMP_CAPTURE_FULL && r->kind == SLLMP_KIND_MESSAGES) {
            native_output(t, rec);
        } else if (cap == SLLMP_CAPTURE_FULL) {
            streamed_output(t, rec);
        }
    } else {
        unstreamed_output(r, t, rec, md, cap == SLLMP_CAPTURE_FULL);
    }
    add_str(rec, "response_model", t->response_model);
    usage_and_cost(r, rec);
    add_int(rec, "start_us", r->start_wall_us);
    if (r->first_token_ms != 0) {
        add_int(rec, "first_token_us", wall_us(r, r->first_token_ms));
    }
    add_int(rec, "end_us", wall_us(r, end));
    add_int(rec, "status", status);
    if (r->err != SLLMP_OK || status >= 400) {
        const sllmp_err_info_t *info =
            sllmp_err_info(r->err != SLLMP_OK ? r->err : SLLMP_ERR_CLIENT_GONE);
        int st = r->err != SLLMP_OK ? (r->err_status ? r->err_status : info->status) : status;
        cJSON *e;

        cJSON_AddStringToObject(rec, "level", st >= 500 ? "ERROR" : "WARNING");
        cJSON_AddStringToObject(rec, "status_message",
                                r->err_message ? r->err_message : info->message);
        e = cJSON_AddObjectToObject(rec, "error");
        cJSON_AddStringToObject(e, "type", r->err_type ? r->err_type : info->type);
        if (r->err_code != NULL || info->code != NULL) {
            cJSON_AddStringToObject(e, "code", r->err_code ? r->err_code : info->code);
        }
    } else {
        cJSON_AddStringToObject(rec, "level", "DEFAULT");
    }
    cJSON_AddBoolToObject(rec, "client_gone", r->client_gone);
    attempts(r, rec);

    /* nothing a client or the config calls a key leaves the gateway, wherever it hides */
    redactor_init(r, &x);
    if (x.nsecrets > 0 || lf->nredact > 0) {
        /* every string of the record and every member name: a client may put a key in the
         * model, the trace name, X-Request-ID as well as in a message. The ids are ours. */
        static const char *const ours[] = {"trace_id", "span_id", "parent_span_id", NULL};
        cJSON *f;

        cJSON_ArrayForEach(f, rec)
        {
            int skip = 0;

            for (int i = 0; ours[i] != NULL; i++) {
                skip |= strcmp(f->string, ours[i]) == 0;
            }
            if (!skip) {
                redact_item(&x, f);
            }
        }
    }
    text = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    return text;
}

static void
trace_complete(sllmp_req_t *r, void *mw_conf)
{
    const sllmp_conf_t *c = r->conf;
    trace_t *t;
    sllmp_capture_t cap;
    char *text;
    size_t len;

    (void)mw_conf;
    /* a token count is no generation: nothing for Langfuse, and Claude Code's counts of its
     * whole context would double the spool */
    if (c == NULL || r->path == NULL || r->kind == SLLMP_KIND_COUNT_TOKENS) {
        return;
    }
    t = trace_of(r);
    cap = capture(r, t);
    if (cap == SLLMP_CAPTURE_NONE) {
        return;
    }
    sllmp_req_mark_end(r);
    /* The limits have settled (their complete ran before ours): the client may have its
     * answer now, and waits neither for the record's redaction nor for its fsync. */
    sllmp_resp_end(r);
    text = build(r, t, cap);
    len = strlen(text);
    if (sllmp_utf8_valid(text, len) != len) {
        /* cJSON takes a client's bytes that are not UTF-8 and prints them as they are; the
         * record is UTF-8 (spool.md), so each ill-formed sequence becomes U+FFFD. Above 0x7f
         * cJSON writes nothing but the bytes of strings: the JSON stays valid. */
        sllmp_buf_t b;

        sllmp_buf_init(&b, 0);
        sllmp_buf_append_utf8(&b, text, len);
        sllmp_buf_append(&b, "\n", 1);
        sllmp_spool_write(c->spool_dir, b.ptr, b.len, c->spool_fsync,
                          (int64_t)c->spool_max_mb * 1024 * 1024, r->id);
        sllmp_buf_free(&b);
        cJSON_free(text);
        return;
    }
    text[len] = '\n'; /* the record ends with a newline: replace the NUL, write len + 1 */
    sllmp_spool_write(c->spool_dir, text, len + 1, c->spool_fsync,
                      (int64_t)c->spool_max_mb * 1024 * 1024, r->id);
    cJSON_free(text);
}

const sllmp_middleware_t sllmp_mw_trace = {
    .name = "trace",
    .pre = trace_pre,
    .on_chunk = trace_chunk,
    .complete = trace_complete,
};

const char *
sllmp_trace_id(sllmp_req_t *r)
{
    const trace_t *t = r->mw_ctx[sllmp_middleware_index(&sllmp_mw_trace)];

    return t != NULL ? t->trace_id : "";
}
