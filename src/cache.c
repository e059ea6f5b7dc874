/* The response cache's data (include/sllmp/cache.h): keys, streams made whole, and replayed. */
#include "sllmp/cache.h"
#include "sllmp/provider.h"
#include "sllmp/translate.h"
#include "sllmp/util.h"

#include <stdlib.h>
#include <string.h>

/* A choice's or a tool call's index (0 when it has none). */
static int
index_of(const cJSON *o)
{
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, "index");

    return cJSON_IsNumber(i) && i->valuedouble >= 0 && i->valuedouble < 1e6 ? i->valueint : 0;
}

/* ---------------------------------------------------------------- the key */

/* Members that never change the answer, besides LiteLLM's own (sllmp_litellm_only): whether
 * and how it is streamed, what the client notes for itself, the cache's own controls. */
static int
not_keyed(const char *name)
{
    static const char *const names[] = {"stream", "stream_options",  "metadata", "cache_key",
                                        "ttl",    "litellm_metadata"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(names[i], name) == 0) {
            return 1;
        }
    }
    return strncmp(name, "mock_", 5) == 0 || sllmp_litellm_only(name);
}

static int
by_name(const void *a, const void *b)
{
    return strcmp((*(cJSON *const *)a)->string, (*(cJSON *const *)b)->string);
}

/* A copy of v with every object's members sorted by name, so that two bodies that differ only
 * in their order share a key. top: v is the body (not_keyed members left out). NULL: no memory. */
static cJSON *
canonical(const cJSON *v, int top)
{
    cJSON *out, **kids, *c;
    size_t n = 0, k = 0;

    if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
        return cJSON_Duplicate(v, 0);
    }
    out = cJSON_IsObject(v) ? cJSON_CreateObject() : cJSON_CreateArray();
    cJSON_ArrayForEach(c, v)
    {
        n++;
    }
    kids = n > 0 ? calloc(n, sizeof(*kids)) : NULL;
    if (out == NULL || (n > 0 && kids == NULL)) {
        cJSON_Delete(out);
        free(kids);
        return NULL;
    }
    cJSON_ArrayForEach(c, v)
    {
        if (!(top && not_keyed(c->string))) {
            kids[k++] = (cJSON *)c;
        }
    }
    if (cJSON_IsObject(v) && k > 1) {
        qsort(kids, k, sizeof(*kids), by_name);
    }
    for (size_t i = 0; i < k; i++) {
        cJSON *copy = canonical(kids[i], 0);

        if (copy == NULL) {
            cJSON_Delete(out);
            out = NULL;
            break;
        }
        if (cJSON_IsObject(v)) {
            cJSON_AddItemToObject(out, kids[i]->string, copy);
        } else {
            cJSON_AddItemToArray(out, copy);
        }
    }
    free(kids);
    return out;
}

int
sllmp_cache_key(const cJSON *body, const char *group, char hex[65])
{
    cJSON *c = canonical(body, 1);
    unsigned char md[32];
    char *text;

    if (c == NULL) {
        return -1;
    }
    /* the model group, not the deployment: every deployment of a group answers for it */
    cJSON_DeleteItemFromObjectCaseSensitive(c, "model");
    cJSON_AddStringToObject(c, "model", group != NULL ? group : "");
    text = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    if (text == NULL) {
        return -1;
    }
    sllmp_sha256(text, strlen(text), md);
    cJSON_free(text);
    sllmp_hex(md, 32, hex);
    return 0;
}

/* ---------------------------------------------------------------- streams made whole */

/* An answer's or a chunk's frame: from's id, created, model and fingerprint (nulls too with
 * nulls set), `object`, and an empty choices. */
static cJSON *
frame(const cJSON *from, const char *object, int nulls)
{
    static const char *const kept[] = {"id", "created", "model", "system_fingerprint"};
    cJSON *c = cJSON_CreateObject();

    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, kept[i]);

        if (v != NULL && (nulls || !cJSON_IsNull(v))) {
            cJSON_AddItemToObject(c, kept[i], cJSON_Duplicate(v, 1));
        }
    }
    cJSON_AddStringToObject(c, "object", object);
    cJSON_AddArrayToObject(c, "choices");
    return c;
}

/* Appends the string s to member name of o (made when missing or null). */
static void
append_str(cJSON *o, const char *name, const char *s)
{
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(o, name);

    if (cJSON_IsString(cur)) {
        char *joined = sllmp_xasprintf("%s%s", cur->valuestring, s);

        cJSON_ReplaceItemInObjectCaseSensitive(o, name, cJSON_CreateString(joined));
        free(joined);
    } else if (cur != NULL) {
        cJSON_ReplaceItemInObjectCaseSensitive(o, name, cJSON_CreateString(s));
    } else {
        cJSON_AddStringToObject(o, name, s);
    }
}

/* The choice of the answer with `index`, made when it is new. */
static cJSON *
choice_at(cJSON *resp, int index, int chat)
{
    cJSON *choices = cJSON_GetObjectItemCaseSensitive(resp, "choices"), *ch;

    cJSON_ArrayForEach(ch, choices)
    {
        if (index_of(ch) == index) {
            return ch;
        }
    }
    ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", index);
    if (chat) {
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");

        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddNullToObject(msg, "content");
    } else {
        cJSON_AddStringToObject(ch, "text", "");
    }
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    return ch;
}

/* A streamed tool call's piece (its index, then id, name and arguments as they come). */
static void
merge_tool_call(cJSON *msg, const cJSON *piece)
{
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"), *call = NULL, *c;
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(piece, "function");
    int index = index_of(piece), i = 0;

    if (calls == NULL) {
        calls = cJSON_AddArrayToObject(msg, "tool_calls");
    }
    cJSON_ArrayForEach(c, calls)
    {
        if (i++ == index) {
            call = c;
        }
    }
    while (call == NULL) { /* the calls come in index order; a gap gets empty ones */
        call = cJSON_CreateObject();
        cJSON_AddStringToObject(call, "id", "");
        cJSON_AddStringToObject(call, "type", "function");
        cJSON *f = cJSON_AddObjectToObject(call, "function");

        cJSON_AddStringToObject(f, "name", "");
        cJSON_AddStringToObject(f, "arguments", "");
        cJSON_AddItemToArray(calls, call);
        call = i++ == index ? call : NULL;
    }
    if (sllmp_json_str(piece, "id") != NULL) {
        append_str(call, "id", sllmp_json_str(piece, "id"));
    }
    if (sllmp_json_str(fn, "name") != NULL) {
        append_str(cJSON_GetObjectItemCaseSensitive(call, "function"), "name",
                   sllmp_json_str(fn, "name"));
    }
    if (sllmp_json_str(fn, "arguments") != NULL) {
        append_str(cJSON_GetObjectItemCaseSensitive(call, "function"), "arguments",
                   sllmp_json_str(fn, "arguments"));
    }
}

/* One chunk's choice into the answer's. */
static void
merge_choice(cJSON *into, const cJSON *ch, int chat)
{
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ch, "delta"), *f, *calls;
    const cJSON *finish = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(ch, "logprobs");
    cJSON *msg = cJSON_GetObjectItemCaseSensitive(into, "message");

    if (chat) {
        static const char *const texts[] = {"content", "reasoning_content", "refusal"};

        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
            if (sllmp_json_str(delta, texts[i]) != NULL) {
                append_str(msg, texts[i], sllmp_json_str(delta, texts[i]));
            }
        }
        if ((f = cJSON_GetObjectItemCaseSensitive(delta, "role")) != NULL && cJSON_IsString(f)) {
            cJSON_ReplaceItemInObjectCaseSensitive(msg, "role", cJSON_CreateString(f->valuestring));
        }
        calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
        cJSON_ArrayForEach(f, calls)
        {
            merge_tool_call(msg, f);
        }
    } else if (sllmp_json_str(ch, "text") != NULL) {
        append_str(into, "text", sllmp_json_str(ch, "text"));
    }
    if (cJSON_IsString(finish)) {
        cJSON_ReplaceItemInObjectCaseSensitive(into, "finish_reason",
                                               cJSON_CreateString(finish->valuestring));
    }
    /* chat's logprobs come as lists of tokens: the answer's is their sum */
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(lp, "content"), *tok;

    if (chat && cJSON_IsArray(content)) {
        cJSON *have = cJSON_GetObjectItemCaseSensitive(into, "logprobs");

        if (!cJSON_IsObject(have)) {
            have = cJSON_CreateObject();
            cJSON_AddArrayToObject(have, "content");
            cJSON_ReplaceItemInObjectCaseSensitive(into, "logprobs", have);
        }
        cJSON_ArrayForEach(tok, content)
        {
            cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(have, "content"),
                                 cJSON_Duplicate(tok, 1));
        }
    }
}

int
sllmp_cache_asm_add(sllmp_cache_asm_t *a, const cJSON *chunk)
{
    const char *object = sllmp_json_str(chunk, "object");
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices"), *ch;
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
    int chat;

    if (object == NULL ||
        (strcmp(object, "chat.completion.chunk") != 0 && strcmp(object, "text_completion") != 0)) {
        return -1;
    }
    chat = object[0] == 'c';
    if (a->resp == NULL) {
        a->resp = frame(chunk, chat ? "chat.completion" : "text_completion", 0);
    }
    cJSON_ArrayForEach(ch, choices)
    {
        merge_choice(choice_at(a->resp, index_of(ch), chat), ch, chat);
    }
    if (cJSON_IsObject(usage)) {
        cJSON_DeleteItemFromObjectCaseSensitive(a->resp, "usage");
        cJSON_AddItemToObject(a->resp, "usage", cJSON_Duplicate(usage, 1));
    }
    return 0;
}

cJSON *
sllmp_cache_asm_take(sllmp_cache_asm_t *a)
{
    cJSON *r = a->resp;

    a->resp = NULL;
    return r;
}

void
sllmp_cache_asm_free(sllmp_cache_asm_t *a)
{
    cJSON_Delete(a->resp);
    a->resp = NULL;
}

int
sllmp_cache_worth_keeping(const cJSON *resp)
{
    const cJSON *ch, *data = cJSON_GetObjectItemCaseSensitive(resp, "data");

    if (cJSON_IsArray(data)) {
        return cJSON_GetArraySize(data) > 0;
    }
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(resp, "choices"))
    {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
        const char *text = sllmp_json_str(msg != NULL ? msg : ch, msg != NULL ? "content" : "text");

        if ((text != NULL && *text != '\0') || sllmp_json_str(msg, "refusal") != NULL ||
            sllmp_json_str(msg, "reasoning_content") != NULL ||
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(msg, "tool_calls")) > 0) {
            return 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- answers replayed */


/* The first chunk of a chat choice: the whole message as one delta. */
static cJSON *
chat_delta(const cJSON *msg)
{
    static const char *const kept[] = {"role", "content", "reasoning_content", "refusal"};
    cJSON *d = cJSON_CreateObject(), *call;
    int k = 0;

    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, kept[i]);

        if (v != NULL && (i == 0 || !cJSON_IsNull(v))) {
            cJSON_AddItemToObject(d, kept[i], cJSON_Duplicate(v, 1));
        }
    }
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");

    if (cJSON_GetArraySize(calls) > 0) {
        cJSON *out = cJSON_AddArrayToObject(d, "tool_calls");

        cJSON_ArrayForEach(call, calls)
        {
            cJSON *c = cJSON_Duplicate(call, 1);

            /* an upstream's unstreamed call may have one already: a member twice is no JSON */
            cJSON_DeleteItemFromObjectCaseSensitive(c, "index");
            cJSON_AddNumberToObject(c, "index", k++);
            cJSON_AddItemToArray(out, c);
        }
    }
    return d;
}

cJSON *
sllmp_cache_chunks(const cJSON *resp)
{
    const char *object = sllmp_json_str(resp, "object");
    const cJSON *ch, *usage = cJSON_GetObjectItemCaseSensitive(resp, "usage");
    cJSON *out;
    int chat;

    if (object == NULL ||
        (strcmp(object, "chat.completion") != 0 && strcmp(object, "text_completion") != 0)) {
        return NULL;
    }
    chat = object[0] == 'c';
    out = cJSON_CreateArray();
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(resp, "choices"))
    {
        for (int last = 0; last < 2; last++) {
            cJSON *c = frame(resp, chat ? "chat.completion.chunk" : "text_completion", 1),
                  *one = cJSON_CreateObject();
            const cJSON *finish = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");

            cJSON_AddNumberToObject(one, "index", index_of(ch));
            if (chat) {
                cJSON_AddItemToObject(
                    one, "delta",
                    last ? cJSON_CreateObject()
                         : chat_delta(cJSON_GetObjectItemCaseSensitive(ch, "message")));
            } else {
                cJSON_AddStringToObject(
                    one, "text",
                    last ? "" : (sllmp_json_str(ch, "text") ? sllmp_json_str(ch, "text") : ""));
            }
            cJSON_AddItemToObject(
                one, "logprobs",
                last ? cJSON_CreateNull()
                     : cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(ch, "logprobs"), 1));
            if (cJSON_GetObjectItemCaseSensitive(one, "logprobs") == NULL) {
                cJSON_AddNullToObject(one, "logprobs");
            }
            cJSON_AddItemToObject(one, "finish_reason",
                                  last && finish != NULL ? cJSON_Duplicate(finish, 1)
                                                         : cJSON_CreateNull());
            cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(c, "choices"), one);
            cJSON_AddItemToArray(out, c);
        }
    }
    if (cJSON_IsObject(usage)) {
        cJSON *c = frame(resp, chat ? "chat.completion.chunk" : "text_completion", 1);

        cJSON_AddItemToObject(c, "usage", cJSON_Duplicate(usage, 1));
        cJSON_AddItemToArray(out, c);
    }
    return out;
}
