/*
 * Google Gemini generateContent <-> OpenAI chat completions, and batchEmbedContents <-> OpenAI
 * embeddings (protocols.md §3.1; interface in include/sllmp/translate.h). Pure: cJSON in, cJSON
 * out; the adapter does the HTTP.
 *
 * Choices made here, where Gemini and OpenAI do not line up:
 *  - Gemini wants user and model turns to alternate, so consecutive messages that land on the
 *    same role (user + tool results, two assistants) are merged into one turn.
 *  - A request with system messages only gets them as a user turn: Gemini rejects an empty
 *    `contents`.
 *  - responseSchema and functionDeclarations.parameters take Google's OpenAPI subset, which
 *    rejects any keyword it does not know (400 "Unknown name": "additionalProperties",
 *    "$schema", "$defs", "$ref", "const", ...): the others are dropped, everywhere a schema
 *    can nest, but never a property that happens to carry such a name; local $refs (Pydantic
 *    writes one for each nested model) are inlined, and a recursive one is refused (400).
 *    A function whose parameters are an object without properties sends no parameters:
 *    Gemini rejects an OBJECT schema with empty properties. A schema with such an object
 *    elsewhere (Pydantic's dict[str, str]: additionalProperties alone), which the Schema
 *    cannot say, goes instead in Google's JSON Schema field (responseJsonSchema,
 *    parametersJsonSchema), additionalProperties kept, refs inlined all the same.
 *  - MALFORMED_FUNCTION_CALL (the model tried to call a tool and produced nothing usable) maps
 *    to "stop": no tool call reaches the client, so "tool_calls" would lie, and it is no
 *    filter either. Unknown and unspecified reasons are "stop" too, as LiteLLM does.
 *  - A functionCall part's thoughtSignature (which newer models need echoed back, or they
 *    answer the next turn of a tool loop with a 400) goes out twice on the call (in
 *    unstreamed answers; on its first fragment in streams): as
 *    tool_calls[].extra_content.google.thought_signature, the shape Google's own OpenAI
 *    endpoint uses, and in the id, "<id>__thought__<signature>" (SLLMP_THOUGHT_SEP), as
 *    LiteLLM does, since clients that rebuild the assistant message from id, name and
 *    arguments alone (LangChain, most agent frameworks) drop extra_content. It comes back
 *    onto the functionCall part from the first found of extra_content.google, the call's or
 *    its function's provider_specific_fields.thought_signature (LiteLLM's) and the id after
 *    the separator; tool messages find their call by the id before it. To a Gemini 3 model
 *    (which refuses a model turn whose first call has none), the first call of an assistant
 *    message that has none gets Google's dummy, "skip_thought_signature_validator": history
 *    the model did not write (a conversation begun on another model) then goes through.
 *    Signatures on text parts are not kept: OpenAI's message has no place for them, and
 *    Gemini enforces the signatures of function calls only.
 */
#include "sllmp/translate.h"
#include "sllmp/util.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------------- errors */

static int xparam(sllmp_xerr_t *e, const char *fmt, ...) SLLMP_PRINTF(2, 3);
static int xmsg(sllmp_xerr_t *e, const char *fmt, ...) SLLMP_PRINTF(2, 3);

/* Sets e->param; returns -1 so a caller can `return xparam(...)`. */
static int
xparam(sllmp_xerr_t *e, const char *fmt, ...)
{
    va_list ap;

    if (e != NULL) {
        va_start(ap, fmt);
        vsnprintf(e->param, sizeof(e->param), fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Sets e->message; returns -1. */
static int
xmsg(sllmp_xerr_t *e, const char *fmt, ...)
{
    va_list ap;

    if (e != NULL) {
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---------------------------------------------------------------------------- helpers */

static long
get_count(const cJSON *o, const char *name)
{
    return sllmp_usage_count(sllmp_json_get(o, name));
}

static void
add_text_part(cJSON *parts, const char *text, size_t len)
{
    cJSON *p;
    char *copy;

    /* Gemini rejects an empty text part ("empty text parameter") */
    if (len == 0) {
        return;
    }
    p = cJSON_CreateObject();
    copy = sllmp_xstrndup(text, len);
    cJSON_AddStringToObject(p, "text", copy);
    free(copy);
    cJSON_AddItemToArray(parts, p);
}

/*
 * The text of an OpenAI content: a string, or an array of parts of which those of type "text"
 * (and "refusal" when allow_refusal) count; into *out. -1 with e filled on any other part.
 */
static int
content_text(const cJSON *content, int allow_refusal, sllmp_buf_t *out, int i, sllmp_xerr_t *e)
{
    const cJSON *part;
    int j = 0;

    if (!sllmp_json_given(content)) {
        return 0;
    }
    if (cJSON_IsString(content)) {
        sllmp_buf_appends(out, content->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        xmsg(e, "Message content must be a string or an array of content parts.");
        return xparam(e, "messages[%d].content", i);
    }
    cJSON_ArrayForEach(part, content)
    {
        const char *type = sllmp_json_str(part, "type");
        const char *text = NULL;

        if (type != NULL && strcmp(type, "text") == 0) {
            text = sllmp_json_str(part, "text");
        } else if (type != NULL && allow_refusal && strcmp(type, "refusal") == 0) {
            text = sllmp_json_str(part, "refusal");
        } else {
            xmsg(e, "Only text content parts are supported in this message.");
            return xparam(e, "messages[%d].content[%d]", i, j);
        }
        if (text == NULL) {
            xmsg(e, "A text content part needs a string \"text\".");
            return xparam(e, "messages[%d].content[%d]", i, j);
        }
        sllmp_buf_appends(out, text);
        j++;
    }
    return 0;
}

/* ------------------------------------------------------------------- media parts */

static int
has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* A MIME type from the file extension of a URL or file name, or dflt. */
static const char *
guess_mime(const char *name, const char *dflt)
{
    static const struct {
        const char *ext;
        const char *mime;
    } types[] = {
        {"png", "image/png"},   {"jpg", "image/jpeg"},      {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},   {"webp", "image/webp"},     {"heic", "image/heic"},
        {"heif", "image/heif"}, {"pdf", "application/pdf"}, {"txt", "text/plain"},
        {"mp3", "audio/mp3"},   {"wav", "audio/wav"},       {"ogg", "audio/ogg"},
        {"flac", "audio/flac"}, {"aac", "audio/aac"},       {"mp4", "video/mp4"},
        {"mov", "video/mov"},   {"webm", "video/webm"},     {"mpeg", "video/mpeg"},
    };
    const char *end = name + strcspn(name, "?#");
    const char *dot = NULL;

    for (const char *p = name; p < end; p++) {
        if (*p == '.') {
            dot = p;
        } else if (*p == '/') {
            dot = NULL;
        }
    }
    if (dot == NULL) {
        return dflt;
    }
    dot++;
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        size_t n = strlen(types[k].ext);

        if ((size_t)(end - dot) == n && strncasecmp(dot, types[k].ext, n) == 0) {
            return types[k].mime;
        }
    }
    return dflt;
}

/*
 * A "data:<mime>;base64,<data>" URL as an inlineData part, or NULL when it is not one (Gemini
 * takes base64 only, and needs the type).
 */
static cJSON *
data_url_part(const char *url)
{
    const char *meta, *comma, *semi;
    cJSON *p, *d;
    char *mime;

    if (!has_prefix_ci(url, "data:")) {
        return NULL;
    }
    meta = url + 5;
    comma = strchr(meta, ',');
    if (comma == NULL || comma - meta < 8 || strncasecmp(comma - 7, ";base64", 7) != 0) {
        return NULL;
    }
    semi = memchr(meta, ';', (size_t)(comma - meta));
    if (semi == meta) {
        return NULL;
    }
    p = cJSON_CreateObject();
    d = cJSON_AddObjectToObject(p, "inlineData");
    mime = sllmp_xstrndup(meta, (size_t)(semi - meta));
    cJSON_AddStringToObject(d, "mimeType", mime);
    free(mime);
    cJSON_AddStringToObject(d, "data", comma + 1);
    return p;
}

static cJSON *
inline_part(const char *mime, const char *data)
{
    cJSON *p = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(p, "inlineData");

    cJSON_AddStringToObject(d, "mimeType", mime);
    cJSON_AddStringToObject(d, "data", data);
    return p;
}

static cJSON *
file_part(const char *mime, const char *uri)
{
    cJSON *p = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(p, "fileData");

    cJSON_AddStringToObject(d, "mimeType", mime);
    cJSON_AddStringToObject(d, "fileUri", uri);
    return p;
}

/* One non-text user content part (image_url, input_audio, file) as a Gemini part. */
static cJSON *
media_part(const cJSON *part, const char *type, int i, int j, sllmp_xerr_t *e)
{
    if (strcmp(type, "image_url") == 0) {
        const cJSON *iu = sllmp_json_get(part, "image_url");
        const char *url = cJSON_IsString(iu) ? iu->valuestring : sllmp_json_str(iu, "url");
        cJSON *p;

        if (url == NULL) {
            xmsg(e, "An image_url part needs a url.");
            xparam(e, "messages[%d].content[%d].image_url.url", i, j);
            return NULL;
        }
        if (has_prefix_ci(url, "data:")) {
            if ((p = data_url_part(url)) == NULL) {
                xmsg(e, "An image data URL must be data:<mime type>;base64,<data>.");
                xparam(e, "messages[%d].content[%d].image_url.url", i, j);
            }
            return p;
        }
        if (has_prefix_ci(url, "http://") || has_prefix_ci(url, "https://") ||
            has_prefix_ci(url, "gs://")) {
            return file_part(guess_mime(url, "image/jpeg"), url);
        }
        xmsg(e, "An image URL must be an http(s) URL or a base64 data URL.");
        xparam(e, "messages[%d].content[%d].image_url.url", i, j);
        return NULL;
    }
    if (strcmp(type, "input_audio") == 0) {
        const cJSON *ia = sllmp_json_get(part, "input_audio");
        const char *data = sllmp_json_str(ia, "data"), *format = sllmp_json_str(ia, "format");
        char mime[32];

        if (data == NULL || format == NULL || strlen(format) > 16) {
            xmsg(e, "An input_audio part needs data and format.");
            xparam(e, "messages[%d].content[%d].input_audio", i, j);
            return NULL;
        }
        snprintf(mime, sizeof(mime), "audio/%s", format);
        return inline_part(mime, data);
    }
    if (strcmp(type, "file") == 0) {
        const cJSON *f = sllmp_json_get(part, "file");
        const char *data = sllmp_json_str(f, "file_data"), *name = sllmp_json_str(f, "filename");
        cJSON *p;

        if (data == NULL) {
            /* file_id names a file in OpenAI's store, which Gemini cannot read */
            xmsg(e, "A file part needs file_data; file_id is not supported by this provider.");
            xparam(e, "messages[%d].content[%d].file", i, j);
            return NULL;
        }
        if (has_prefix_ci(data, "data:")) {
            if ((p = data_url_part(data)) == NULL) {
                xmsg(e, "A file data URL must be data:<mime type>;base64,<data>.");
                xparam(e, "messages[%d].content[%d].file.file_data", i, j);
            }
            return p;
        }
        return inline_part(guess_mime(name != NULL ? name : "", "application/pdf"), data);
    }
    xmsg(e, "Unsupported content part type.");
    xparam(e, "messages[%d].content[%d].type", i, j);
    return NULL;
}

/* A user message's content into Gemini parts. */
static int
user_parts(cJSON *parts, const cJSON *content, int i, sllmp_xerr_t *e)
{
    const cJSON *part;
    int j = 0;

    if (!sllmp_json_given(content)) {
        return 0;
    }
    if (cJSON_IsString(content)) {
        add_text_part(parts, content->valuestring, strlen(content->valuestring));
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        xmsg(e, "Message content must be a string or an array of content parts.");
        return xparam(e, "messages[%d].content", i);
    }
    cJSON_ArrayForEach(part, content)
    {
        const char *type = sllmp_json_str(part, "type");
        cJSON *p;

        if (type == NULL) {
            xmsg(e, "A content part needs a type.");
            return xparam(e, "messages[%d].content[%d].type", i, j);
        }
        if (strcmp(type, "text") == 0) {
            const char *text = sllmp_json_str(part, "text");

            if (text == NULL) {
                xmsg(e, "A text content part needs a string \"text\".");
                return xparam(e, "messages[%d].content[%d].text", i, j);
            }
            add_text_part(parts, text, strlen(text));
        } else {
            if ((p = media_part(part, type, i, j, e)) == NULL) {
                return -1;
            }
            cJSON_AddItemToArray(parts, p);
        }
        j++;
    }
    return 0;
}

/* ------------------------------------------------------------------- schemas */

/*
 * The keywords of Google's Schema, an OpenAPI 3.0 subset. Its parser refuses any other name
 * with a 400 ("Unknown name"), so the others go: "additionalProperties", "$schema",
 * "$defs", "const", "oneOf", "exclusiveMinimum", ... (some are said otherwise below).
 */
static int
schema_key(const char *k)
{
    static const char *const keys[] = {
        "type",     "format",   "title",     "description",      "nullable",
        "enum",     "maxItems", "minItems",  "minProperties",    "maxProperties",
        "required", "pattern",  "minLength", "maxLength",        "example",
        "default",  "minimum",  "maximum",   "propertyOrdering",
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(k, keys[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * The keywords Google takes in its JSON Schema fields (responseJsonSchema,
 * parametersJsonSchema) besides those said otherwise below ($ref inlined, properties, items,
 * anyOf / oneOf, additionalProperties): "While the full JSON Schema may be sent, not all
 * features are supported", so the others go.
 */
static int
json_schema_key(const char *k)
{
    static const char *const keys[] = {
        "type",    "format",  "title",    "description",      "enum", "minItems", "maxItems",
        "minimum", "maximum", "required", "propertyOrdering",
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(k, keys[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The most schema objects one translated schema may have once its $refs are inlined, and the
 * most $refs inlined one inside another: past them it is refused, not sent */
#define SCHEMA_NODES_MAX 10000
#define SCHEMA_REFS_MAX  32
/* and the deepest it may nest, $refs inlined: 32 refs to schemas nested as deep as a body may
 * be would recurse past a worker thread's stack */
#define SCHEMA_DEPTH_MAX 128

typedef struct {
    const cJSON *root;                 /* where "#/$defs/..." points into */
    const char *refs[SCHEMA_REFS_MAX]; /* the $refs being inlined, outermost first */
    int nrefs;
    int nodes;
    int depth;
    sllmp_xerr_t *e;
    const char *param;
    int json; /* for responseJsonSchema / parametersJsonSchema, not Google's Schema */
} schema_ctx_t;

/* The schema a local $ref ("#/$defs/Name", "#/definitions/Name") names, or NULL. */
static const cJSON *
schema_ref(const cJSON *root, const char *ref)
{
    const char *name;
    const cJSON *defs;

    if (strncmp(ref, "#/$defs/", 8) == 0) {
        defs = sllmp_json_get(root, "$defs");
        name = ref + 8;
    } else if (strncmp(ref, "#/definitions/", 14) == 0) {
        defs = sllmp_json_get(root, "definitions");
        name = ref + 14;
    } else {
        return NULL;
    }
    return strchr(name, '/') != NULL || strchr(name, '~') != NULL ? NULL
                                                                  : sllmp_json_get(defs, name);
}

static cJSON *to_gemini_schema(const cJSON *src, schema_ctx_t *c);
static cJSON *schema_members(const cJSON *src, const cJSON *keys, schema_ctx_t *c);

/* src's "$ref" inlined: the schema it names, translated, with the $ref's own description and
 * title (which JSON Schema lets sit beside it) over the target's. */
static cJSON *
inline_ref(const cJSON *src, const char *ref, schema_ctx_t *c)
{
    static const char *const kept[] = {"description", "title"};
    const cJSON *target = schema_ref(c->root, ref);
    cJSON *out;

    for (int i = 0; i < c->nrefs; i++) {
        if (strcmp(c->refs[i], ref) == 0) {
            xmsg(c->e, "A recursive $ref (%.*s) cannot be sent to this provider.",
                 sllmp_utf8_prec(ref, 64), ref);
            xparam(c->e, "%s", c->param);
            return NULL;
        }
    }
    if (target == NULL || c->nrefs == SCHEMA_REFS_MAX) {
        xmsg(c->e,
             "Only $refs to the schema's own $defs or definitions are supported by this "
             "provider, %d deep at most.",
             SCHEMA_REFS_MAX);
        xparam(c->e, "%s", c->param);
        return NULL;
    }
    c->refs[c->nrefs++] = ref;
    out = to_gemini_schema(target, c);
    c->nrefs--;
    for (size_t i = 0; out != NULL && i < sizeof(kept) / sizeof(kept[0]); i++) {
        const char *v = sllmp_json_str(src, kept[i]);

        if (v != NULL) {
            cJSON_DeleteItemFromObjectCaseSensitive(out, kept[i]);
            cJSON_AddStringToObject(out, kept[i], v);
        }
    }
    return out;
}

/* A JSON schema's "type" as Google's: one name; ["string", "null"] is "string" + nullable. */
static void
schema_type(cJSON *out, const cJSON *type)
{
    const cJSON *t;
    const char *one = NULL;
    int null = 0;

    if (!cJSON_IsArray(type)) {
        cJSON_AddItemToObject(out, "type", cJSON_Duplicate(type, 1));
        return;
    }
    cJSON_ArrayForEach(t, type)
    {
        if (cJSON_IsString(t) && strcmp(t->valuestring, "null") == 0) {
            null = 1;
        } else if (cJSON_IsString(t) && one == NULL) {
            one = t->valuestring;
        }
    }
    cJSON_AddStringToObject(out, "type", one != NULL ? one : "null");
    if (null && one != NULL && sllmp_json_get(out, "nullable") == NULL) {
        cJSON_AddTrueToObject(out, "nullable");
    }
}

/*
 * A JSON schema as Google's Schema, recursively through the keywords that hold schemas
 * (properties, items, anyOf): the $refs inlined, the keywords it does not know dropped, a
 * "const" as a one-value "enum", "oneOf" as "anyOf" (close enough for generation), a list of
 * types as one. Property names are not keywords: a property called "additionalProperties"
 * stays. NULL with c->e filled when it cannot be.
 */
static cJSON *
to_gemini_schema(const cJSON *src, schema_ctx_t *c)
{
    const char *ref = sllmp_json_str(src, "$ref");
    cJSON *out;

    if (++c->nodes > SCHEMA_NODES_MAX || c->depth >= SCHEMA_DEPTH_MAX) {
        xmsg(c->e,
             "The schema is too large for this provider once its $refs are inlined "
             "(%d schemas, nested %d deep at most).",
             SCHEMA_NODES_MAX, SCHEMA_DEPTH_MAX);
        xparam(c->e, "%s", c->param);
        return NULL;
    }
    if (ref != NULL) {
        return inline_ref(src, ref, c);
    }
    c->depth++;
    out = schema_members(src, cJSON_IsObject(src) ? src : NULL, c);
    c->depth--;
    return out;
}

/* The members of src (keys: src when it is an object) as Google's; to_gemini_schema()'s part. */
static cJSON *
schema_members(const cJSON *src, const cJSON *keys, schema_ctx_t *c)
{
    const cJSON *k, *p;
    cJSON *out, *sub;

    out = cJSON_CreateObject();
    cJSON_ArrayForEach(k, keys)
    {
        sub = NULL;
        if (strcmp(k->string, "properties") == 0 && cJSON_IsObject(k)) {
            cJSON *props = cJSON_AddObjectToObject(out, "properties");

            cJSON_ArrayForEach(p, k)
            {
                if ((sub = to_gemini_schema(p, c)) == NULL) {
                    cJSON_Delete(out);
                    return NULL;
                }
                cJSON_AddItemToObject(props, p->string, sub);
            }
        } else if (strcmp(k->string, "items") == 0 && cJSON_IsObject(k)) {
            if ((sub = to_gemini_schema(k, c)) == NULL) {
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToObject(out, "items", sub);
        } else if ((strcmp(k->string, "anyOf") == 0 || strcmp(k->string, "oneOf") == 0) &&
                   cJSON_IsArray(k) && sllmp_json_get(out, "anyOf") == NULL) {
            cJSON *any = cJSON_AddArrayToObject(out, "anyOf");

            cJSON_ArrayForEach(p, k)
            {
                if ((sub = to_gemini_schema(p, c)) == NULL) {
                    cJSON_Delete(out);
                    return NULL;
                }
                cJSON_AddItemToArray(any, sub);
            }
        } else if (c->json && strcmp(k->string, "additionalProperties") == 0 && cJSON_IsObject(k)) {
            if ((sub = to_gemini_schema(k, c)) == NULL) {
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToObject(out, "additionalProperties", sub);
        } else if (c->json && strcmp(k->string, "additionalProperties") == 0 && cJSON_IsBool(k)) {
            cJSON_AddItemToObject(out, k->string, cJSON_Duplicate(k, 1));
        } else if (strcmp(k->string, "type") == 0 && !c->json) {
            schema_type(out, k);
        } else if (strcmp(k->string, "const") == 0 && sllmp_json_get(src, "enum") == NULL) {
            cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "enum"), cJSON_Duplicate(k, 1));
        } else if ((c->json ? json_schema_key(k->string) : schema_key(k->string)) &&
                   sllmp_json_get(out, k->string) == NULL) {
            cJSON_AddItemToObject(out, k->string, cJSON_Duplicate(k, 1));
        }
    }
    return out;
}

/* Whether a translated Schema has an OBJECT without properties, which Google refuses ("...
 * properties: should be non-empty for OBJECT type"): JSON Schema's free-form object
 * (additionalProperties, or nothing said), which its Schema cannot say. */
static int
open_object(const cJSON *gs, int depth)
{
    const char *type = sllmp_json_str(gs, "type");
    const cJSON *p;

    if (depth > SCHEMA_DEPTH_MAX) {
        return 0; /* past what to_gemini_schema() builds */
    }
    if (type != NULL && strcasecmp(type, "object") == 0 &&
        cJSON_GetArraySize(sllmp_json_get(gs, "properties")) == 0) {
        return 1;
    }
    cJSON_ArrayForEach(p, sllmp_json_get(gs, "properties"))
    {
        if (open_object(p, depth + 1)) {
            return 1;
        }
    }
    cJSON_ArrayForEach(p, sllmp_json_get(gs, "anyOf"))
    {
        if (open_object(p, depth + 1)) {
            return 1;
        }
    }
    return open_object(sllmp_json_get(gs, "items"), depth + 1);
}

/*
 * A copy of schema fit for Gemini; NULL with e filled (param names where) when it cannot be.
 * *json is set when it is for Google's JSON Schema field (responseJsonSchema,
 * parametersJsonSchema) rather than its Schema: when the schema has an object without
 * properties (Pydantic's dict[str, str]), which the Schema cannot say and refuses.
 */
static cJSON *
gemini_schema(const cJSON *schema, sllmp_xerr_t *e, const char *param, int *json)
{
    schema_ctx_t c;
    cJSON *out;

    memset(&c, 0, sizeof(c));
    c.root = schema;
    c.e = e;
    c.param = param;
    out = to_gemini_schema(schema, &c);
    *json = out != NULL && open_object(out, 0);
    if (*json) {
        cJSON_Delete(out);
        memset(&c, 0, sizeof(c));
        c.root = schema;
        c.e = e;
        c.param = param;
        c.json = 1;
        out = to_gemini_schema(schema, &c);
    }
    return out;
}

/* ------------------------------------------------------------------- messages */

/*
 * Appends parts (taken over) as a turn of role; merged into the last turn when it has the same
 * role. Empty parts are dropped: Gemini rejects a turn without parts.
 */
static void
add_turn(cJSON *contents, const char *role, cJSON *parts)
{
    cJSON *last = cJSON_GetArrayItem(contents, cJSON_GetArraySize(contents) - 1);
    const char *last_role = sllmp_json_str(last, "role");
    cJSON *turn, *p;

    if (cJSON_GetArraySize(parts) == 0) {
        cJSON_Delete(parts);
        return;
    }
    if (last_role != NULL && strcmp(last_role, role) == 0) {
        cJSON *dst = cJSON_GetObjectItemCaseSensitive(last, "parts");

        while ((p = cJSON_DetachItemFromArray(parts, 0)) != NULL) {
            cJSON_AddItemToArray(dst, p);
        }
        cJSON_Delete(parts);
        return;
    }
    turn = cJSON_CreateObject();
    cJSON_AddStringToObject(turn, "role", role);
    cJSON_AddItemToObject(turn, "parts", parts);
    cJSON_AddItemToArray(contents, turn);
}

/* Tool-call arguments (a JSON-encoded string) as the object Gemini's args wants. */
static cJSON *
parse_args(const cJSON *args)
{
    const char *s;
    cJSON *o;

    if (!sllmp_json_given(args)) {
        return cJSON_CreateObject();
    }
    if (cJSON_IsObject(args)) {
        return cJSON_Duplicate(args, 1); /* some clients send the object itself */
    }
    if (!cJSON_IsString(args)) {
        return NULL;
    }
    s = args->valuestring + strspn(args->valuestring, " \t\r\n");
    if (*s == '\0') {
        return cJSON_CreateObject(); /* "" for a call without arguments */
    }
    o = cJSON_ParseWithOpts(s, NULL, 1);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/*
 * The thought signature of a tool call (fn its function, or the legacy function_call), first
 * found: extra_content.google.thought_signature (Google's OpenAI shape), the call's
 * provider_specific_fields.thought_signature, the function's, or the id after
 * SLLMP_THOUGHT_SEP (LiteLLM's three). NULL when none ("" is none).
 */
static const char *
call_signature(const cJSON *fn, const cJSON *call)
{
    const char *found[3], *id = sllmp_json_str(call, "id");

    found[0] = sllmp_json_str(sllmp_json_get(sllmp_json_get(call, "extra_content"), "google"),
                              "thought_signature");
    found[1] =
        sllmp_json_str(sllmp_json_get(call, "provider_specific_fields"), "thought_signature");
    found[2] = sllmp_json_str(sllmp_json_get(fn, "provider_specific_fields"), "thought_signature");
    for (size_t n = 0; n < sizeof(found) / sizeof(found[0]); n++) {
        if (found[n] != NULL && *found[n] != '\0') {
            return found[n];
        }
    }
    return id != NULL ? sllmp_thought_signature(id) : NULL;
}

/* {"functionCall":{"name","args"}} for one OpenAI function call, with its thoughtSignature
 * when it has one. */
static cJSON *
function_call_part(const cJSON *fn, const cJSON *call, const char *where, int i, int k,
                   sllmp_xerr_t *e)
{
    const char *name = sllmp_json_str(fn, "name");
    const char *sig = call_signature(fn, call);
    cJSON *args, *p, *fc;

    if (name == NULL || *name == '\0') {
        xmsg(e, "A tool call needs a function name.");
        if (k >= 0) {
            xparam(e, "messages[%d].%s[%d].function.name", i, where, k);
        } else {
            xparam(e, "messages[%d].%s.name", i, where);
        }
        return NULL;
    }
    if ((args = parse_args(sllmp_json_get(fn, "arguments"))) == NULL) {
        xmsg(e, "Tool call arguments must be a JSON object.");
        if (k >= 0) {
            xparam(e, "messages[%d].%s[%d].function.arguments", i, where, k);
        } else {
            xparam(e, "messages[%d].%s.arguments", i, where);
        }
        return NULL;
    }
    p = cJSON_CreateObject();
    fc = cJSON_AddObjectToObject(p, "functionCall");
    cJSON_AddStringToObject(fc, "name", name);
    cJSON_AddItemToObject(fc, "args", args);
    if (sig != NULL) {
        cJSON_AddStringToObject(p, "thoughtSignature", sig);
    }
    return p;
}

/* Google's documented thoughtSignature for a function call Gemini did not make itself
 * (history from another model, a client that lost the signature), which Gemini 3 takes in
 * place of one. */
#define DUMMY_SIGNATURE "skip_thought_signature_validator"

/* A functionCall part just made for an assistant message; for Gemini 3 (gemini3), its first
 * one without a thoughtSignature gets the dummy: Gemini 3 refuses a model turn whose first
 * function call has none (400 "Function call ... is missing a thought_signature"). */
static void
add_call_part(cJSON *parts, cJSON *p, int gemini3, int *first)
{
    if (gemini3 && *first && sllmp_json_get(p, "thoughtSignature") == NULL) {
        cJSON_AddStringToObject(p, "thoughtSignature", DUMMY_SIGNATURE);
    }
    *first = 0;
    cJSON_AddItemToArray(parts, p);
}

/* An assistant message as model parts: its text, then one functionCall per tool call. gemini3:
 * the model is a Gemini 3 one (see add_call_part). */
static int
assistant_parts(cJSON *parts, const cJSON *m, int i, int gemini3, sllmp_xerr_t *e)
{
    const cJSON *calls = sllmp_json_get(m, "tool_calls"), *call;
    sllmp_buf_t text;
    cJSON *p;
    int k = 0, rc, first = 1;

    sllmp_buf_init(&text, 0);
    rc = content_text(sllmp_json_get(m, "content"), 1, &text, i, e);
    add_text_part(parts, sllmp_buf_cstr(&text), text.len);
    sllmp_buf_free(&text);
    if (rc != 0) {
        return rc;
    }
    if (sllmp_json_given(calls) && !cJSON_IsArray(calls)) {
        xmsg(e, "tool_calls must be an array.");
        return xparam(e, "messages[%d].tool_calls", i);
    }
    cJSON_ArrayForEach(call, calls)
    {
        if ((p = function_call_part(sllmp_json_get(call, "function"), call, "tool_calls", i, k,
                                    e)) == NULL) {
            return -1;
        }
        add_call_part(parts, p, gemini3, &first);
        k++;
    }
    if (cJSON_IsObject(sllmp_json_get(m, "function_call"))) {
        /* the legacy single call */
        if ((p = function_call_part(sllmp_json_get(m, "function_call"), NULL, "function_call", i,
                                    -1, e)) == NULL) {
            return -1;
        }
        add_call_part(parts, p, gemini3, &first);
    }
    return 0;
}

/* The function name of the tool call `id` in the assistant messages before messages[i]. The
 * ids are compared before SLLMP_THOUGHT_SEP: a client may send the signature on the call's id
 * and not on the tool message's, or the other way round. */
static const char *
tool_name(const cJSON *msgs, int i, const char *id)
{
    const char *found = NULL;
    const cJSON *m, *call;
    size_t len = sllmp_thought_id_len(id);
    int n = 0;

    cJSON_ArrayForEach(m, msgs)
    {
        if (n++ >= i) {
            break;
        }
        cJSON_ArrayForEach(call, sllmp_json_get(m, "tool_calls"))
        {
            const char *cid = sllmp_json_str(call, "id");

            if (cid != NULL && sllmp_thought_id_len(cid) == len && strncmp(cid, id, len) == 0) {
                /* the latest wins, should a client reuse ids */
                found = sllmp_json_str(sllmp_json_get(call, "function"), "name");
            }
        }
    }
    return found;
}

/*
 * {"functionResponse":{"name","response"}} for a tool (or legacy function) message. response
 * must be an object: the content itself when it is a JSON object, else {"result": content}.
 */
static cJSON *
function_response_part(const cJSON *msgs, const cJSON *m, int i, sllmp_xerr_t *e)
{
    const char *role = sllmp_json_str(m, "role");
    const char *name = NULL;
    sllmp_buf_t text;
    cJSON *p, *fr, *resp;

    if (strcmp(role, "tool") == 0) {
        const char *id = sllmp_json_str(m, "tool_call_id");

        if (id == NULL) {
            xmsg(e, "A tool message needs a tool_call_id.");
            xparam(e, "messages[%d].tool_call_id", i);
            return NULL;
        }
        name = tool_name(msgs, i, id);
        if (name == NULL) {
            /* some clients name the function on the tool message */
            name = sllmp_json_str(m, "name");
        }
        if (name == NULL || *name == '\0') {
            xmsg(e, "No earlier assistant tool call has the id '%.*s' this tool message answers.",
                 sllmp_utf8_prec(id, 64), id);
            xparam(e, "messages[%d].tool_call_id", i);
            return NULL;
        }
    } else {
        name = sllmp_json_str(m, "name");
        if (name == NULL || *name == '\0') {
            xmsg(e, "A function message needs a name.");
            xparam(e, "messages[%d].name", i);
            return NULL;
        }
    }
    sllmp_buf_init(&text, 0);
    if (content_text(sllmp_json_get(m, "content"), 0, &text, i, e) != 0) {
        sllmp_buf_free(&text);
        return NULL;
    }
    resp = cJSON_ParseWithOpts(sllmp_buf_cstr(&text), NULL, 1);
    if (!cJSON_IsObject(resp)) {
        cJSON_Delete(resp);
        resp = cJSON_CreateObject();
        cJSON_AddStringToObject(resp, "result", sllmp_buf_cstr(&text));
    }
    sllmp_buf_free(&text);
    p = cJSON_CreateObject();
    fr = cJSON_AddObjectToObject(p, "functionResponse");
    cJSON_AddStringToObject(fr, "name", name);
    cJSON_AddItemToObject(fr, "response", resp);
    return p;
}

/* System and developer text as systemInstruction parts, one per message or text part. */
static int
system_parts(cJSON *parts, const cJSON *content, int i, sllmp_xerr_t *e)
{
    const cJSON *part;
    sllmp_buf_t text;
    int rc;

    if (!cJSON_IsArray(content)) {
        sllmp_buf_init(&text, 0);
        rc = content_text(content, 0, &text, i, e);
        add_text_part(parts, sllmp_buf_cstr(&text), text.len);
        sllmp_buf_free(&text);
        return rc;
    }
    sllmp_buf_init(&text, 0);
    rc = content_text(content, 0, &text, i, e); /* checks that every part is text */
    sllmp_buf_free(&text);
    if (rc != 0) {
        return rc;
    }
    cJSON_ArrayForEach(part, content)
    {
        const char *t = sllmp_json_str(part, "text");

        add_text_part(parts, t, strlen(t));
    }
    return 0;
}

static int
messages(cJSON *body, const cJSON *req, const char *model, sllmp_xerr_t *e)
{
    const cJSON *msgs = sllmp_json_get(req, "messages"), *m;
    cJSON *contents = cJSON_AddArrayToObject(body, "contents");
    cJSON *sys = cJSON_CreateArray();
    int i = 0, gemini3 = strstr(model, "gemini-3") != NULL;

    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
        cJSON_Delete(sys);
        xmsg(e, "messages must be a non-empty array.");
        return xparam(e, "messages");
    }
    cJSON_ArrayForEach(m, msgs)
    {
        const char *role = sllmp_json_str(m, "role");
        cJSON *parts = cJSON_CreateArray(), *p;
        int rc = 0;

        if (role == NULL) {
            xmsg(e, "Each message needs a role.");
            rc = xparam(e, "messages[%d].role", i);
        } else if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            rc = system_parts(sys, sllmp_json_get(m, "content"), i, e);
        } else if (strcmp(role, "user") == 0) {
            if ((rc = user_parts(parts, sllmp_json_get(m, "content"), i, e)) == 0) {
                add_turn(contents, "user", parts);
                parts = NULL;
            }
        } else if (strcmp(role, "assistant") == 0) {
            if ((rc = assistant_parts(parts, m, i, gemini3, e)) == 0) {
                add_turn(contents, "model", parts);
                parts = NULL;
            }
        } else if (strcmp(role, "tool") == 0 || strcmp(role, "function") == 0) {
            if ((p = function_response_part(msgs, m, i, e)) == NULL) {
                rc = -1;
            } else {
                cJSON_AddItemToArray(parts, p);
                add_turn(contents, "user", parts);
                parts = NULL;
            }
        } else {
            xmsg(e, "Unknown message role '%.*s'.", sllmp_utf8_prec(role, 32), role);
            rc = xparam(e, "messages[%d].role", i);
        }
        cJSON_Delete(parts);
        if (rc != 0) {
            cJSON_Delete(sys);
            return -1;
        }
        i++;
    }
    if (cJSON_GetArraySize(contents) == 0 && cJSON_GetArraySize(sys) > 0) {
        /* system text alone: Gemini needs contents, so it goes as the user's turn */
        add_turn(contents, "user", sys);
        sys = NULL;
    }
    if (cJSON_GetArraySize(contents) == 0) {
        cJSON_Delete(sys);
        xmsg(e, "messages must contain at least one message with content.");
        return xparam(e, "messages");
    }
    if (cJSON_GetArraySize(sys) > 0) {
        cJSON *si = cJSON_CreateObject();

        cJSON_AddItemToObject(si, "parts", sys);
        /* systemInstruction goes first in the body, as Google documents it */
        cJSON_AddItemToObject(body, "systemInstruction", si);
        cJSON_DetachItemViaPointer(body, si); /* keeps its key */
        cJSON_InsertItemInArray(body, 0, si);
    } else {
        cJSON_Delete(sys);
    }
    return 0;
}

/* ------------------------------------------------------------------- tools */

/*
 * A function (a tool's "function", or an entry of the legacy "functions") as a Gemini
 * declaration; where names it for errors ("tools[0].function", "functions[0]").
 */
static cJSON *
declaration(const cJSON *fn, const char *where, sllmp_xerr_t *e)
{
    const cJSON *params = sllmp_json_get(fn, "parameters");
    const char *name = sllmp_json_str(fn, "name"), *desc = sllmp_json_str(fn, "description");
    cJSON *d, *schema;

    if (name == NULL || *name == '\0') {
        xmsg(e, "A function tool needs a name.");
        xparam(e, "%s.name", where);
        return NULL;
    }
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "name", name);
    if (desc != NULL) {
        cJSON_AddStringToObject(d, "description", desc);
    }
    if (cJSON_IsObject(params)) {
        const cJSON *props = sllmp_json_get(params, "properties"),
                    *more = sllmp_json_get(params, "additionalProperties");
        const char *ptype = sllmp_json_str(params, "type");
        char param[96];
        int json;

        /* no arguments (an OBJECT without properties is a 400 at Gemini): say nothing */
        if (ptype != NULL && strcmp(ptype, "object") == 0 && cJSON_GetArraySize(props) == 0 &&
            !cJSON_IsObject(more) && !cJSON_IsTrue(more)) {
            return d;
        }
        snprintf(param, sizeof(param), "%s.parameters", where);
        if ((schema = gemini_schema(params, e, param, &json)) == NULL) {
            cJSON_Delete(d);
            return NULL;
        }
        cJSON_AddItemToObject(d, json ? "parametersJsonSchema" : "parameters", schema);
    }
    return d;
}

/*
 * tools and tool_choice as functionDeclarations and toolConfig; the legacy functions and
 * function_call the same way (LiteLLM's rule: the answer has tool_calls either way).
 */
static int
tools(cJSON *body, const cJSON *req, sllmp_xerr_t *e)
{
    const cJSON *list = sllmp_json_get(req, "tools"), *funcs = sllmp_json_get(req, "functions"), *t;
    const cJSON *choice = sllmp_json_get(req, "tool_choice");
    const char *choice_name = "tool_choice";
    cJSON *decls = cJSON_CreateArray(), *d;
    char where[64];
    int k = 0;

    if (sllmp_json_given(list) && !cJSON_IsArray(list)) {
        cJSON_Delete(decls);
        xmsg(e, "tools must be an array.");
        return xparam(e, "tools");
    }
    if (sllmp_json_given(funcs) && !cJSON_IsArray(funcs)) {
        cJSON_Delete(decls);
        xmsg(e, "functions must be an array.");
        return xparam(e, "functions");
    }
    cJSON_ArrayForEach(t, list)
    {
        const char *type = sllmp_json_str(t, "type");

        if (type == NULL || strcmp(type, "function") != 0) {
            cJSON_Delete(decls);
            xmsg(e, "Only function tools are supported by this provider.");
            return xparam(e, "tools[%d].type", k);
        }
        snprintf(where, sizeof(where), "tools[%d].function", k);
        if ((d = declaration(sllmp_json_get(t, "function"), where, e)) == NULL) {
            cJSON_Delete(decls);
            return -1;
        }
        cJSON_AddItemToArray(decls, d);
        k++;
    }
    for (int j = 0; j < cJSON_GetArraySize(funcs); j++) {
        snprintf(where, sizeof(where), "functions[%d]", j);
        if ((d = declaration(cJSON_GetArrayItem(funcs, j), where, e)) == NULL) {
            cJSON_Delete(decls);
            return -1;
        }
        cJSON_AddItemToArray(decls, d);
        k++;
    }
    if (k > 0) {
        cJSON *tl = cJSON_AddArrayToObject(body, "tools");
        cJSON *one = cJSON_CreateObject();

        cJSON_AddItemToObject(one, "functionDeclarations", decls);
        cJSON_AddItemToArray(tl, one);
    } else {
        cJSON_Delete(decls);
    }

    if (!sllmp_json_given(choice) && sllmp_json_given(sllmp_json_get(req, "function_call"))) {
        /* the legacy one: "none", "auto" or {"name": ...} */
        choice = sllmp_json_get(req, "function_call");
        choice_name = "function_call";
    }
    if (sllmp_json_given(choice)) {
        const char *mode = NULL, *only = NULL;
        cJSON *fcc;

        if (cJSON_IsString(choice)) {
            if (strcmp(choice->valuestring, "auto") == 0) {
                mode = "AUTO";
            } else if (strcmp(choice->valuestring, "none") == 0) {
                mode = "NONE";
            } else if (strcmp(choice->valuestring, "required") == 0) {
                mode = "ANY";
            }
        } else if (cJSON_IsObject(choice)) {
            only = sllmp_json_str(sllmp_json_get(choice, "function"), "name");
            if (only == NULL && strcmp(choice_name, "function_call") == 0) {
                only = sllmp_json_str(choice, "name");
            }
            mode = only != NULL ? "ANY" : NULL;
        }
        if (mode == NULL) {
            xmsg(e,
                 "%s must be \"auto\", \"none\", \"required\" or "
                 "{\"type\":\"function\",\"function\":{\"name\":...}}.",
                 choice_name);
            return xparam(e, "%s", choice_name);
        }
        if (k == 0) {
            /* "Function calling config is set without function_declarations" is a 400 */
            return 0;
        }
        fcc = cJSON_AddObjectToObject(cJSON_AddObjectToObject(body, "toolConfig"),
                                      "functionCallingConfig");
        cJSON_AddStringToObject(fcc, "mode", mode);
        if (only != NULL) {
            cJSON_AddItemToArray(cJSON_AddArrayToObject(fcc, "allowedFunctionNames"),
                                 cJSON_CreateString(only));
        }
    }
    return 0;
}

/* ------------------------------------------------------------------- generationConfig */

/*
 * reasoning_effort as Gemini 3 (a "gemini-3" model, LiteLLM's test) takes it, as LiteLLM
 * sends it: a thinkingLevel, which these models have instead of a budget (one with a
 * thinkingBudget of 0, Gemini 2's "off", is a 400 for the Pro, which cannot stop thinking; a
 * request with both is a 400 for any). Gemini 3 Pro has low and high, later Pro models
 * medium too, Flash minimal as well, but not 3.7 and 3.8 Flash, which refuse it (LiteLLM
 * sends them low). none is the least level without thought summaries. NULL: not an effort.
 */
static const char *
thinking_level(const char *effort, const char *model, int *thoughts)
{
    /* Flash's least level, but for the two that refuse it */
    int minimal = strstr(model, "flash") != NULL && strstr(model, "gemini-3.7-flash") == NULL &&
                  strstr(model, "gemini-3.8-flash") == NULL;

    *thoughts = 1;
    if (strcmp(effort, "none") == 0) {
        *thoughts = 0;
        return minimal ? "minimal" : "low";
    }
    if (strcmp(effort, "minimal") == 0) {
        return minimal ? "minimal" : "low";
    }
    if (strcmp(effort, "low") == 0 || strcmp(effort, "high") == 0) {
        return effort;
    }
    if (strcmp(effort, "medium") == 0) {
        return strstr(model, "gemini-3-pro") != NULL ? "high" : "medium";
    }
    return NULL;
}

/* reasoning_effort as generationConfig.thinkingConfig: Gemini 3's level, or Gemini 2's
 * budget in LiteLLM's tokens. */
static int
effort_config(cJSON *gc, const cJSON *v, const char *model, sllmp_xerr_t *e)
{
    const char *effort, *level = NULL;
    long budget = -1;
    int thoughts = 0;
    cJSON *tc;

    effort = cJSON_IsString(v) ? v->valuestring : "";
    if (strcmp(effort, "disable") == 0) {
        effort = "none"; /* LiteLLM's word for it on Gemini: thinkingBudget 0, no thoughts */
    }
    if (strstr(model, "gemini-3") != NULL) {
        level = thinking_level(effort, model, &thoughts);
    } else if (strcmp(effort, "none") == 0) {
        budget = 0;
    } else if (strcmp(effort, "minimal") == 0) {
        /* LiteLLM's: the least the model takes, 512 on Flash-Lite (128 is a 400 there), 128
         * on the others (2.5 Pro cannot turn off) */
        budget = strstr(model, "flash-lite") != NULL ? 512 : 128;
    } else if (strcmp(effort, "low") == 0) {
        budget = 1024;
    } else if (strcmp(effort, "medium") == 0) {
        budget = 2048;
    } else if (strcmp(effort, "high") == 0) {
        budget = 4096;
    }
    if (level == NULL && budget < 0) {
        /* Gemini has nothing above high: LiteLLM refuses xhigh and max too */
        xmsg(e, "reasoning_effort must be none (or disable), minimal, low, medium or high.");
        return xparam(e, "reasoning_effort");
    }
    tc = cJSON_AddObjectToObject(gc, "thinkingConfig");
    if (level != NULL) {
        cJSON_AddStringToObject(tc, "thinkingLevel", level);
        cJSON_AddBoolToObject(tc, "includeThoughts", thoughts);
    } else {
        cJSON_AddNumberToObject(tc, "thinkingBudget", (double)budget);
        if (budget > 0) {
            /* Google sends no thought (reasoning_content) unless asked, as LiteLLM does */
            cJSON_AddTrueToObject(tc, "includeThoughts");
        }
    }
    return 0;
}

/*
 * Anthropic's thinking ({"type": "enabled", "budget_tokens": N} or {"type": "disabled"}) as
 * LiteLLM's _map_thinking_param gives it to Gemini: to Gemini 2 the budget as thinkingBudget
 * (0 turns thinking off where the model can; -1 is Google's dynamic), thought summaries asked
 * for when enabled with a budget that is not 0; to Gemini 3, which takes no budget, only
 * whether to show thoughts (enabled with a budget that is not 0), the level the model's own.
 * Disabled without a budget asks for nothing: the model's default.
 */
static int
thinking_param(cJSON *gc, const cJSON *th, const char *model, sllmp_xerr_t *e)
{
    const cJSON *bt = sllmp_json_get(th, "budget_tokens");
    const char *type = sllmp_json_str(th, "type");
    int enabled = type != NULL && strcmp(type, "enabled") == 0, has = sllmp_json_given(bt);
    double n = has && cJSON_IsNumber(bt) ? bt->valuedouble : 0;
    cJSON *tc;

    if (!cJSON_IsObject(th)) {
        xmsg(e, "thinking must be an object: {\"type\": \"enabled\", \"budget_tokens\": N} or "
                "{\"type\": \"disabled\"}.");
        return xparam(e, "thinking");
    }
    if (has && (!cJSON_IsNumber(bt) || n < INT_MIN || n > INT_MAX || n != (double)(int)n)) {
        xmsg(e, "thinking.budget_tokens must be an integer.");
        return xparam(e, "thinking.budget_tokens");
    }
    tc = cJSON_CreateObject();
    if (strstr(model, "gemini-3") != NULL) {
        cJSON_AddBoolToObject(tc, "includeThoughts", enabled && has && n != 0);
    } else {
        if (enabled && !(has && n == 0)) {
            cJSON_AddTrueToObject(tc, "includeThoughts");
        }
        if (has) {
            cJSON_AddNumberToObject(tc, "thinkingBudget", n);
        }
    }
    if (tc->child != NULL) {
        cJSON_AddItemToObject(gc, "thinkingConfig", tc);
    } else {
        cJSON_Delete(tc);
    }
    return 0;
}

/*
 * reasoning_effort and thinking as generationConfig.thinkingConfig. With both, as LiteLLM
 * reads them (reasoning_effort first): thinking's replaces reasoning_effort's for Gemini 2,
 * and Gemini 3 refuses the pair (LiteLLM: "Cannot specify both"), a level and a budget.
 */
static int
thinking_config(cJSON *gc, const cJSON *req, const char *model, sllmp_xerr_t *e)
{
    const cJSON *effort = sllmp_json_get(req, "reasoning_effort"),
                *th = sllmp_json_get(req, "thinking");

    if (sllmp_json_given(effort) && effort_config(gc, effort, model, e) != 0) {
        return -1;
    }
    if (!sllmp_json_given(th)) {
        return 0;
    }
    if (sllmp_json_given(effort) && strstr(model, "gemini-3") != NULL) {
        xmsg(e, "A Gemini 3 model takes reasoning_effort or thinking, not both.");
        return xparam(e, "thinking");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(gc, "thinkingConfig");
    return thinking_param(gc, th, model, e);
}

static int
generation_config(cJSON *body, const cJSON *req, const char *model, sllmp_xerr_t *e)
{
    static const struct {
        const char *openai;
        const char *gemini;
    } numbers[] = {
        {"temperature", "temperature"},
        {"top_p", "topP"},
        {"top_k", "topK"},
        {"max_tokens", "maxOutputTokens"},
        {"max_completion_tokens", "maxOutputTokens"}, /* after max_tokens: it wins */
        {"n", "candidateCount"},
        {"seed", "seed"},
        {"presence_penalty", "presencePenalty"},
        {"frequency_penalty", "frequencyPenalty"},
        {"top_logprobs", "logprobs"}, /* LiteLLM's names: OpenAI's logprobs is a boolean */
    };
    cJSON *gc = cJSON_CreateObject();
    const cJSON *v;

    for (size_t k = 0; k < sizeof(numbers) / sizeof(numbers[0]); k++) {
        v = sllmp_json_get(req, numbers[k].openai);
        if (!sllmp_json_given(v)) {
            continue;
        }
        if (!cJSON_IsNumber(v)) {
            cJSON_Delete(gc);
            xmsg(e, "%s must be a number.", numbers[k].openai);
            return xparam(e, "%s", numbers[k].openai);
        }
        cJSON_DeleteItemFromObjectCaseSensitive(gc, numbers[k].gemini);
        cJSON_AddNumberToObject(gc, numbers[k].gemini, v->valuedouble);
    }

    v = sllmp_json_get(req, "logprobs");
    if (cJSON_IsBool(v)) {
        cJSON_AddBoolToObject(gc, "responseLogprobs", cJSON_IsTrue(v));
    } else if (sllmp_json_given(v)) {
        cJSON_Delete(gc);
        xmsg(e, "logprobs must be a boolean.");
        return xparam(e, "logprobs");
    }

    v = sllmp_json_get(req, "stop");
    if (cJSON_IsString(v)) {
        cJSON_AddItemToArray(cJSON_AddArrayToObject(gc, "stopSequences"),
                             cJSON_CreateString(v->valuestring));
    } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) {
        const cJSON *s;
        cJSON *arr = cJSON_AddArrayToObject(gc, "stopSequences");

        cJSON_ArrayForEach(s, v)
        {
            if (!cJSON_IsString(s)) {
                cJSON_Delete(gc);
                xmsg(e, "stop must be a string or an array of strings.");
                return xparam(e, "stop");
            }
            cJSON_AddItemToArray(arr, cJSON_CreateString(s->valuestring));
        }
    } else if (sllmp_json_given(v) && !cJSON_IsArray(v)) {
        cJSON_Delete(gc);
        xmsg(e, "stop must be a string or an array of strings.");
        return xparam(e, "stop");
    }

    v = sllmp_json_get(req, "response_format");
    if (sllmp_json_given(v)) {
        const char *type = sllmp_json_str(v, "type");

        if (type == NULL) {
            type = "";
        }
        if (strcmp(type, "json_object") == 0) {
            cJSON_AddStringToObject(gc, "responseMimeType", "application/json");
        } else if (strcmp(type, "json_schema") == 0) {
            const cJSON *schema = sllmp_json_get(sllmp_json_get(v, "json_schema"), "schema");

            cJSON_AddStringToObject(gc, "responseMimeType", "application/json");
            if (cJSON_IsObject(schema)) {
                int json;
                cJSON *gs = gemini_schema(schema, e, "response_format.json_schema.schema", &json);

                if (gs == NULL) {
                    cJSON_Delete(gc);
                    return -1;
                }
                cJSON_AddItemToObject(gc, json ? "responseJsonSchema" : "responseSchema", gs);
            } else if (sllmp_json_given(schema)) {
                /* OpenAI refuses it too; dropped, the answer would be JSON of any shape */
                cJSON_Delete(gc);
                xmsg(e, "response_format.json_schema.schema must be a JSON Schema object.");
                return xparam(e, "response_format.json_schema.schema");
            }
        } else if (strcmp(type, "text") != 0) {
            cJSON_Delete(gc);
            xmsg(e, "response_format.type must be text, json_object or json_schema.");
            return xparam(e, "response_format.type");
        }
    }

    if (thinking_config(gc, req, model, e) != 0) {
        cJSON_Delete(gc);
        return -1;
    }

    if (gc->child != NULL) {
        cJSON_AddItemToObject(body, "generationConfig", gc);
    } else {
        cJSON_Delete(gc);
    }
    return 0;
}

cJSON *
sllmp_gemini_request(const cJSON *req, const char *model, sllmp_xerr_t *e)
{
    cJSON *body;

    if (e != NULL) {
        e->param[0] = '\0';
        e->message[0] = '\0';
    }
    if (!cJSON_IsObject(req)) {
        xmsg(e, "The request body must be a JSON object.");
        return NULL;
    }
    if (model == NULL) {
        model = "";
    }
    body = cJSON_CreateObject();
    if (messages(body, req, model, e) != 0 || tools(body, req, e) != 0 ||
        generation_config(body, req, model, e) != 0) {
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

/* ---------------------------------------------------------------------------- answers */

/* usageMetadata into the buckets. promptTokenCount includes the cached tokens; the tool-use
 * prompt is input too; candidatesTokenCount excludes thoughts. Replaces: the counts are
 * cumulative. */
static void
usage_from_gemini(sllmp_usage_t *u, const cJSON *md)
{
    long prompt, cached;

    if (!cJSON_IsObject(md)) {
        return;
    }
    prompt = get_count(md, "promptTokenCount");
    cached = get_count(md, "cachedContentTokenCount");
    if (cached > prompt) {
        cached = prompt;
    }
    u->input = prompt - cached + get_count(md, "toolUsePromptTokenCount");
    u->cache_read = cached;
    u->cache_write = 0;
    u->output = get_count(md, "candidatesTokenCount");
    u->reasoning = get_count(md, "thoughtsTokenCount");
    u->seen = 1;
    u->estimated = 0;
}

/* finishReason -> finish_reason (protocols.md §2.7's table; the file comment says why
 * MALFORMED_FUNCTION_CALL is "stop"). */
static const char *
finish_reason(const char *reason)
{
    static const char *const filtered[] = {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "LANGUAGE",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    };

    if (reason == NULL) {
        return "stop";
    }
    if (strcmp(reason, "MAX_TOKENS") == 0) {
        return "length";
    }
    for (size_t k = 0; k < sizeof(filtered) / sizeof(filtered[0]); k++) {
        if (strcmp(reason, filtered[k]) == 0) {
            return "content_filter";
        }
    }
    return "stop";
}

static int
blocked(const cJSON *resp)
{
    return sllmp_json_str(sllmp_json_get(resp, "promptFeedback"), "blockReason") != NULL;
}

/* "call_" and 24 random hex digits, as OpenAI's ids look. */
static void
make_call_id(char out[32])
{
    memcpy(out, "call_", 5);
    sllmp_random_hex(out + 5, 12);
}

/* The function call's id when Gemini gave one (newer models do), else a made-up one. */
static const char *
call_id(const cJSON *part, const cJSON *fc, char buf[32])
{
    const char *id = sllmp_json_str(fc, "id");

    if (id == NULL || *id == '\0') {
        id = sllmp_json_str(part, "id");
    }
    if (id == NULL || *id == '\0') {
        make_call_id(buf);
        id = buf;
    }
    return id;
}

static char *
args_json(const cJSON *fc)
{
    const cJSON *args = sllmp_json_get(fc, "args");

    return cJSON_IsObject(args) ? cJSON_PrintUnformatted(args) : sllmp_xstrdup("{}");
}

/* A token and its log probability as OpenAI's {token, logprob, bytes} (bytes: the token's
 * UTF-8). Google's JSON leaves out a logProbability of 0 and an empty token. */
static cJSON *
token_logprob(const cJSON *c)
{
    const char *t = sllmp_json_str(c, "token");
    const cJSON *lp = sllmp_json_get(c, "logProbability");
    cJSON *o = cJSON_CreateObject(), *bytes;

    if (t == NULL) {
        t = "";
    }
    cJSON_AddStringToObject(o, "token", t);
    cJSON_AddNumberToObject(o, "logprob", cJSON_IsNumber(lp) ? lp->valuedouble : 0);
    bytes = cJSON_AddArrayToObject(o, "bytes");
    for (const unsigned char *b = (const unsigned char *)t; *b != '\0'; b++) {
        cJSON_AddItemToArray(bytes, cJSON_CreateNumber(*b));
    }
    return o;
}

/*
 * A candidate's logprobsResult as its choice's logprobs, OpenAI's {"content": [...],
 * "refusal": null}, as LiteLLM maps it: an entry for each chosen token (chosenCandidates, one a
 * decoding step), whose top_logprobs are that step's topCandidates. NULL when it has none (not
 * asked for: responseLogprobs). In a stream, the tokens of the event's part of the answer.
 */
static cJSON *
choice_logprobs(const cJSON *cand)
{
    const cJSON *res = sllmp_json_get(cand, "logprobsResult");
    const cJSON *chosen = sllmp_json_get(res, "chosenCandidates"),
                *top = sllmp_json_get(res, "topCandidates");
    const cJSON *step = cJSON_IsArray(top) ? top->child : NULL, *c, *t;
    cJSON *out, *content;

    if (!cJSON_IsArray(chosen)) {
        return NULL;
    }
    out = cJSON_CreateObject();
    content = cJSON_AddArrayToObject(out, "content");
    cJSON_ArrayForEach(c, chosen)
    {
        cJSON *entry = token_logprob(c), *tops = cJSON_AddArrayToObject(entry, "top_logprobs");

        cJSON_ArrayForEach(t, sllmp_json_get(step, "candidates"))
        {
            cJSON_AddItemToArray(tops, token_logprob(t));
        }
        cJSON_AddItemToArray(content, entry);
        step = step != NULL ? step->next : NULL;
    }
    cJSON_AddNullToObject(out, "refusal");
    return out;
}

/* One candidate as an OpenAI choice with index `index`. */
static cJSON *
choice(const cJSON *cand, int index)
{
    const cJSON *part;
    sllmp_buf_t text, thought;
    cJSON *ch = cJSON_CreateObject(), *msg, *calls = NULL, *lp;

    sllmp_buf_init(&text, 0);
    sllmp_buf_init(&thought, 0);
    cJSON_AddNumberToObject(ch, "index", index);
    msg = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_ArrayForEach(part, sllmp_json_get(sllmp_json_get(cand, "content"), "parts"))
    {
        const cJSON *fc = sllmp_json_get(part, "functionCall");
        const char *t = sllmp_json_str(part, "text");

        if (cJSON_IsObject(fc)) {
            cJSON *call = cJSON_CreateObject(), *fn;
            const char *sig = sllmp_json_str(part, "thoughtSignature");
            char buf[32];
            char *args = args_json(fc);

            if (calls == NULL) {
                calls = cJSON_CreateArray();
            }
            if (sig != NULL && *sig != '\0') {
                /* in the id too, as LiteLLM carries it, for the clients that drop
                 * extra_content (the stream's tool start does the same) */
                char *id =
                    sllmp_xasprintf("%s" SLLMP_THOUGHT_SEP "%s", call_id(part, fc, buf), sig);

                cJSON_AddStringToObject(call, "id", id);
                free(id);
            } else {
                cJSON_AddStringToObject(call, "id", call_id(part, fc, buf));
            }
            cJSON_AddStringToObject(call, "type", "function");
            fn = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(fn, "name",
                                    sllmp_json_str(fc, "name") ? sllmp_json_str(fc, "name") : "");
            cJSON_AddStringToObject(fn, "arguments", args);
            cJSON_free(args);
            if (sig != NULL) {
                cJSON *g = cJSON_AddObjectToObject(cJSON_AddObjectToObject(call, "extra_content"),
                                                   "google");

                cJSON_AddStringToObject(g, "thought_signature", sig);
            }
            cJSON_AddItemToArray(calls, call);
        } else if (t != NULL) {
            sllmp_buf_appends(cJSON_IsTrue(sllmp_json_get(part, "thought")) ? &thought : &text, t);
        }
    }
    if (text.len > 0 || calls == NULL) {
        /* "" rather than null for an answer with nothing in it (a filtered one) */
        cJSON_AddStringToObject(msg, "content", sllmp_buf_cstr(&text));
    } else {
        cJSON_AddNullToObject(msg, "content");
    }
    cJSON_AddNullToObject(msg, "refusal");
    if (thought.len > 0) {
        cJSON_AddStringToObject(msg, "reasoning_content", sllmp_buf_cstr(&thought));
    }
    if (calls != NULL) {
        cJSON_AddItemToObject(msg, "tool_calls", calls);
    }
    lp = choice_logprobs(cand);
    if (lp != NULL) {
        cJSON_AddItemToObject(ch, "logprobs", lp);
    } else {
        cJSON_AddNullToObject(ch, "logprobs");
    }
    cJSON_AddStringToObject(ch, "finish_reason",
                            calls != NULL ? "tool_calls"
                                          : finish_reason(sllmp_json_str(cand, "finishReason")));
    sllmp_buf_free(&text);
    sllmp_buf_free(&thought);
    return ch;
}

cJSON *
sllmp_gemini_response(const cJSON *resp, const char *model, long created, sllmp_usage_t *u)
{
    const cJSON *cands = sllmp_json_get(resp, "candidates"), *cand;
    const char *rid = sllmp_json_str(resp, "responseId");
    sllmp_usage_t local;
    cJSON *out, *choices;
    char id[64];
    int n = 0;

    if (!cJSON_IsObject(resp) || sllmp_json_get(resp, "error") != NULL) {
        return NULL;
    }
    if (u == NULL) {
        memset(&local, 0, sizeof(local));
        u = &local;
    }
    usage_from_gemini(u, sllmp_json_get(resp, "usageMetadata"));
    out = cJSON_CreateObject();
    if (rid != NULL && *rid != '\0') {
        cJSON_AddStringToObject(out, "id", rid);
    } else {
        memcpy(id, "chatcmpl-", 9);
        sllmp_random_hex(id + 9, 12);
        cJSON_AddStringToObject(out, "id", id);
    }
    cJSON_AddStringToObject(out, "object", "chat.completion");
    cJSON_AddNumberToObject(out, "created", (double)created);
    cJSON_AddStringToObject(out, "model", model != NULL ? model : "");
    choices = cJSON_AddArrayToObject(out, "choices");
    cJSON_ArrayForEach(cand, cands)
    {
        cJSON_AddItemToArray(choices, choice(cand, n++));
    }
    if (n == 0) {
        /* no candidate: a blocked prompt (200 with promptFeedback.blockReason), or nothing */
        cJSON *ch = cJSON_CreateObject();
        cJSON *msg;

        cJSON_AddNumberToObject(ch, "index", 0);
        msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", "");
        cJSON_AddNullToObject(msg, "refusal");
        cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddStringToObject(ch, "finish_reason", blocked(resp) ? "content_filter" : "stop");
        cJSON_AddItemToArray(choices, ch);
    }
    cJSON_AddItemToObject(out, "usage", sllmp_usage_to_openai(u));
    return out;
}

/* ---------------------------------------------------------------------------- errors */

/* protobuf's largest Duration (10 000 years): anything longer is not one */
#define DURATION_MAX_S 315576000000LL

/*
 * A protobuf Duration in its JSON form, seconds with up to nine fraction digits and an "s"
 * ("37s", "1.5s", "0.000000001s"), as milliseconds rounded up; -1 for anything else: a sign
 * (a negative wait means nothing), no digits before the point or after it, no "s", other
 * units, spaces, more than nine fraction digits, more seconds than a Duration holds.
 */
static int64_t
duration_ms(const char *s)
{
    int64_t secs = 0, nanos = 0;
    int digits = 0, frac = 0;

    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        secs = secs * 10 + (*s - '0');
        if (secs > DURATION_MAX_S) {
            return -1;
        }
    }
    if (digits == 0) {
        return -1;
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, frac++) {
            if (frac == 9) {
                return -1;
            }
            nanos = nanos * 10 + (*s - '0');
        }
        if (frac == 0) {
            return -1;
        }
        for (int k = frac; k < 9; k++) {
            nanos *= 10;
        }
    }
    if (s[0] != 's' || s[1] != '\0') {
        return -1;
    }
    return secs * 1000 + (nanos + 999999) / 1000000;
}

int64_t
sllmp_gemini_retry_delay_ms(const cJSON *body)
{
    const cJSON *d;

    if (cJSON_IsArray(body)) {
        body = cJSON_GetArrayItem(body, 0); /* a streamed JSON array's error */
    }
    cJSON_ArrayForEach(d, sllmp_json_get(sllmp_json_get(body, "error"), "details"))
    {
        const char *type = sllmp_json_str(d, "@type"), *delay = sllmp_json_str(d, "retryDelay");
        const char *name = type != NULL ? strrchr(type, '/') : NULL;

        /* an Any's type is the last segment of its URL */
        if (name != NULL && strcmp(name + 1, "google.rpc.RetryInfo") == 0 && delay != NULL) {
            return duration_ms(delay);
        }
    }
    return -1;
}

int
sllmp_gemini_key_refused(const cJSON *body)
{
    const cJSON *d;

    if (cJSON_IsArray(body)) {
        body = cJSON_GetArrayItem(body, 0);
    }
    cJSON_ArrayForEach(d, sllmp_json_get(sllmp_json_get(body, "error"), "details"))
    {
        const char *type = sllmp_json_str(d, "@type"), *reason = sllmp_json_str(d, "reason");
        const char *name = type != NULL ? strrchr(type, '/') : NULL;

        /* API_KEY_INVALID (a key Google does not know), API_KEY_EXPIRED, ... */
        if (name != NULL && strcmp(name + 1, "google.rpc.ErrorInfo") == 0 && reason != NULL &&
            strncmp(reason, "API_KEY_", 8) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------- streams */

/* A Google RPC status name -> the HTTP status it stands for, when error.code is missing. */
static int
rpc_status_http(const char *status)
{
    static const struct {
        const char *name;
        int http;
    } map[] = {
        {"INVALID_ARGUMENT", 400},  {"FAILED_PRECONDITION", 400}, {"OUT_OF_RANGE", 400},
        {"UNAUTHENTICATED", 401},   {"PERMISSION_DENIED", 403},   {"NOT_FOUND", 404},
        {"ABORTED", 409},           {"ALREADY_EXISTS", 409},      {"RESOURCE_EXHAUSTED", 429},
        {"CANCELLED", 499},         {"UNIMPLEMENTED", 501},       {"UNAVAILABLE", 503},
        {"DEADLINE_EXCEEDED", 504},
    };

    for (size_t k = 0; status != NULL && k < sizeof(map) / sizeof(map[0]); k++) {
        if (strcmp(status, map[k].name) == 0) {
            return map[k].http;
        }
    }
    return 500;
}

static int
stream_error(sllmp_xstream_t *s, const cJSON *err)
{
    const cJSON *code = sllmp_json_get(err, "code");
    const char *status = sllmp_json_str(err, "status"), *msg = sllmp_json_str(err, "message");

    s->err_status = cJSON_IsNumber(code) && code->valueint >= 400 && code->valueint < 600
                        ? code->valueint
                        : rpc_status_http(status);
    /* an empty one is as good as none */
    snprintf(s->err_type, sizeof(s->err_type), "%s",
             status != NULL && *status != '\0' ? status : "INTERNAL");
    snprintf(s->err_message, sizeof(s->err_message), "%s",
             msg != NULL && *msg != '\0' ? msg : "The provider failed mid-stream.");
    return -1;
}

/* The synthetic block every function call uses: a Gemini call arrives whole in one part, so
 * it starts, gets its arguments and stops before the next, and one block serves them all. */
#define CALL_BLOCK 0

/* One candidate of a stream event as the current choice's chunks, its logprobs (the tokens
 * of this event) on the first content chunk; *finished set when it says why it stopped. */
static int
stream_candidate(sllmp_xstream_t *s, const cJSON *cand, int *finished)
{
    const cJSON *part, *fr;
    cJSON *lp = choice_logprobs(cand);
    int rc = 0;

    cJSON_ArrayForEach(part, sllmp_json_get(sllmp_json_get(cand, "content"), "parts"))
    {
        const cJSON *fc = sllmp_json_get(part, "functionCall");
        const char *t = sllmp_json_str(part, "text");

        if (cJSON_IsObject(fc)) {
            char buf[32];
            char *args = args_json(fc);

            rc = sllmp_xstream_tool_start(s, CALL_BLOCK, call_id(part, fc, buf),
                                          sllmp_json_str(fc, "name"),
                                          sllmp_json_str(part, "thoughtSignature"));
            if (rc == 0) {
                rc = sllmp_xstream_tool_args(s, CALL_BLOCK, args, strlen(args));
            }
            cJSON_free(args);
            if (rc == 0) {
                rc = sllmp_xstream_block_stop(s, CALL_BLOCK);
            }
        } else if (t != NULL && cJSON_IsTrue(sllmp_json_get(part, "thought"))) {
            /* thought summaries are reasoning, not content, as in unstreamed answers */
            s->unsigned_reasoning = 1; /* Gemini signs none: no thinking_blocks entry */
            rc = sllmp_xstream_reasoning(s, t, strlen(t));
        } else if (t != NULL && *t != '\0') {
            rc = sllmp_xstream_text_logprobs(s, t, strlen(t), lp);
            lp = NULL; /* taken */
        }
        if (rc != 0) {
            cJSON_Delete(lp);
            return rc;
        }
    }
    cJSON_Delete(lp); /* no content in this event: no place for them */
    fr = sllmp_json_get(cand, "finishReason");
    if (cJSON_IsString(fr) && strcmp(fr->valuestring, "FINISH_REASON_UNSPECIFIED") != 0) {
        *finished = 1;
        return sllmp_xstream_finish_reason(s, s->tools > 0 ? "tool_calls"
                                                           : finish_reason(fr->valuestring));
    }
    return 0;
}

/*
 * With candidateCount > 1 an event carries several candidates, each the choice its index
 * names (as LiteLLM reads it: the index, else the position in the event), as unstreamed
 * answers give them all. The stream is over once every choice that began has finished.
 */
int
sllmp_gemini_stream_event(sllmp_xstream_t *s, const cJSON *data)
{
    const cJSON *err, *cand, *idx;
    const char *rid;
    int rc, pos = 0, finished = 0;

    if (!cJSON_IsObject(data)) {
        return 0;
    }
    if ((err = sllmp_json_get(data, "error")) != NULL) {
        return stream_error(s, err);
    }
    rid = sllmp_json_str(data, "responseId");
    if (s->id_buf[0] == '\0' && rid != NULL && *rid != '\0') {
        snprintf(s->id_buf, sizeof(s->id_buf), "%s", rid);
    }
    if ((rc = sllmp_xstream_start(s)) != 0) {
        return rc;
    }
    if (sllmp_json_get(data, "usageMetadata") != NULL) {
        usage_from_gemini(&s->usage, sllmp_json_get(data, "usageMetadata"));
    }
    if (cJSON_GetArraySize(sllmp_json_get(data, "candidates")) == 0) {
        if (blocked(data)) {
            s->ended = 1;
            return sllmp_xstream_finish_reason(s, "content_filter");
        }
        return 0;
    }
    cJSON_ArrayForEach(cand, sllmp_json_get(data, "candidates"))
    {
        idx = sllmp_json_get(cand, "index");
        /* an index out of range is no choice's: skipped */
        if (sllmp_xstream_choice(s, cJSON_IsNumber(idx) ? idx->valueint : pos) == 0 &&
            (rc = stream_candidate(s, cand, &finished)) != 0) {
            return rc;
        }
        pos++;
    }
    sllmp_xstream_choice(s, 0);
    if (finished || s->ended) {
        s->ended = sllmp_xstream_open_choices(s) == 0;
    }
    return 0;
}

/* ---------------------------------------------------------------------------- embeddings */

/* The number of texts in input (a string or an array of non-empty strings); -1 otherwise
 * (token arrays, empty strings). */
static int
embed_texts(const cJSON *input)
{
    const cJSON *v;
    int n = 0;

    if (cJSON_IsString(input)) {
        return input->valuestring[0] != '\0' ? 1 : -1;
    }
    if (!cJSON_IsArray(input) || cJSON_GetArraySize(input) == 0) {
        return -1;
    }
    cJSON_ArrayForEach(v, input)
    {
        if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
            return -1;
        }
        n++;
    }
    return n;
}

/* One EmbedContentRequest of batchEmbedContents. */
static cJSON *
embed_one(const char *model, const char *text, const cJSON *dims)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *parts = cJSON_AddArrayToObject(cJSON_AddObjectToObject(r, "content"), "parts");

    cJSON_AddStringToObject(r, "model", model);
    add_text_part(parts, text, strlen(text));
    if (sllmp_json_given(dims)) {
        cJSON_AddNumberToObject(r, "outputDimensionality", dims->valuedouble);
    }
    return r;
}

/* What Google's embeddings take of an OpenAI request: 0, or -1 with e set. */
static int
embed_check(const cJSON *req, sllmp_xerr_t *e)
{
    const cJSON *input = sllmp_json_get(req, "input"), *dims = sllmp_json_get(req, "dimensions");
    const char *fmt = sllmp_json_str(req, "encoding_format");

    if (e != NULL) {
        e->param[0] = '\0';
        e->message[0] = '\0';
    }
    if (embed_texts(input) < 0) {
        xmsg(e, "input must be a non-empty string or an array of non-empty strings; token "
                "arrays are not supported by this provider.");
        xparam(e, "input");
        return -1;
    }
    /* the bound (validate's) before the cast: a double beyond long's range is undefined there */
    if (sllmp_json_given(dims) &&
        (!cJSON_IsNumber(dims) || dims->valuedouble < 1 || dims->valuedouble > 1e6 ||
         dims->valuedouble != (double)(long)dims->valuedouble)) {
        xmsg(e, "dimensions must be a positive integer.");
        xparam(e, "dimensions");
        return -1;
    }
    if (sllmp_json_given(sllmp_json_get(req, "encoding_format")) &&
        (fmt == NULL || (strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0))) {
        xmsg(e, "encoding_format must be float or base64.");
        xparam(e, "encoding_format");
        return -1;
    }
    return 0;
}

cJSON *
sllmp_gemini_embed_request(const cJSON *req, const char *model, sllmp_xerr_t *e)
{
    const cJSON *input = sllmp_json_get(req, "input"), *dims = sllmp_json_get(req, "dimensions"),
                *v;
    cJSON *body, *list;
    char *name;

    if (embed_check(req, e) < 0) {
        return NULL;
    }
    name = sllmp_xasprintf("%s%s", strncmp(model, "models/", 7) == 0 ? "" : "models/", model);
    body = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(body, "requests");
    if (cJSON_IsString(input)) {
        cJSON_AddItemToArray(list, embed_one(name, input->valuestring, dims));
    } else {
        cJSON_ArrayForEach(v, input)
        {
            cJSON_AddItemToArray(list, embed_one(name, v->valuestring, dims));
        }
    }
    free(name);
    return body;
}

cJSON *
sllmp_vertex_embed_request(const cJSON *req, int first, int count, sllmp_xerr_t *e)
{
    const cJSON *input = sllmp_json_get(req, "input"), *dims = sllmp_json_get(req, "dimensions");
    cJSON *body, *list;
    int n;

    if (embed_check(req, e) < 0) {
        return NULL;
    }
    n = cJSON_IsString(input) ? 1 : cJSON_GetArraySize(input);
    body = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(body, "instances");
    for (int i = first; i < n && i < first + count; i++) {
        const cJSON *v = cJSON_IsString(input) ? input : cJSON_GetArrayItem(input, i);

        cJSON *inst = cJSON_CreateObject();

        cJSON_AddStringToObject(inst, "content", v->valuestring);
        cJSON_AddItemToArray(list, inst);
    }
    if (sllmp_json_given(dims)) {
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(body, "parameters"), "outputDimensionality",
                                dims->valuedouble);
    }
    return body;
}

cJSON *
sllmp_gemini_embed_response(const cJSON *resp, const char *model, int base64, sllmp_usage_t *u)
{
    const cJSON *list = sllmp_json_get(resp, "embeddings"), *emb;
    const cJSON *preds = sllmp_json_get(resp, "predictions");
    cJSON *out, *data, *usage;
    sllmp_usage_t local;
    long tokens = 0;
    int i = 0;

    if (cJSON_IsArray(preds)) {
        list = preds; /* Vertex AI's :predict */
    } else if (!cJSON_IsArray(list)) {
        return NULL;
    }
    if (u == NULL) {
        memset(&local, 0, sizeof(local));
        u = &local;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "object", "list");
    data = cJSON_AddArrayToObject(out, "data");
    cJSON_ArrayForEach(emb, list)
    {
        const cJSON *values = sllmp_json_get(emb, "values"), *v;
        cJSON *item = cJSON_CreateObject();

        if (list == preds) {
            /* {"embeddings": {"values": [...], "statistics": {"token_count": N}}}; the REST
             * reference writes tokenCount */
            const cJSON *stats = sllmp_json_get(sllmp_json_get(emb, "embeddings"), "statistics");

            values = sllmp_json_get(sllmp_json_get(emb, "embeddings"), "values");
            tokens += get_count(stats, "token_count") + get_count(stats, "tokenCount");
        }

        cJSON_AddItemToArray(data, item);
        cJSON_AddStringToObject(item, "object", "embedding");
        cJSON_AddNumberToObject(item, "index", i++);
        if (!cJSON_IsArray(values)) {
            cJSON_Delete(out);
            return NULL;
        }
        if (base64) {
            char *b = sllmp_embedding_base64(values);

            if (b == NULL) {
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddStringToObject(item, "embedding", b);
            free(b);
        } else {
            cJSON *arr = cJSON_AddArrayToObject(item, "embedding");

            cJSON_ArrayForEach(v, values)
            {
                if (!cJSON_IsNumber(v)) {
                    cJSON_Delete(out);
                    return NULL;
                }
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(v->valuedouble));
            }
        }
    }
    cJSON_AddStringToObject(out, "model", model != NULL ? model : "");
    /*
     * batchEmbedContents reports no token count (Vertex's :predict does, per input). The caller
     * passes its estimate of the input in u->input (sllmp_estimate_tokens of the input
     * characters: this function never sees the request); a count in the answer wins.
     */
    if (list != preds) {
        tokens = get_count(sllmp_json_get(resp, "usageMetadata"), "promptTokenCount");
    }
    if (tokens > 0) {
        u->input = tokens;
        u->estimated = 0;
    } else {
        u->estimated = 1;
    }
    u->cache_read = u->cache_write = u->output = u->reasoning = 0;
    u->seen = 1;
    usage = cJSON_AddObjectToObject(out, "usage");
    cJSON_AddNumberToObject(usage, "prompt_tokens", (double)u->input);
    cJSON_AddNumberToObject(usage, "total_tokens", (double)u->input);
    return out;
}
