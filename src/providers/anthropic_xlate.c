/*
 * OpenAI chat <-> Anthropic Messages translation (protocols.md §2.6, §2.7), pure: cJSON in,
 * cJSON out (include/sllmp/translate.h). The rules follow LiteLLM's, since that is what the
 * clients migrating to us were getting, with the places where we decided otherwise said below.
 *
 * Decisions, in one place:
 *  - n > 1 is a 400: Anthropic answers once, and n answers billed as one would be a lie.
 *  - The legacy functions API (a `function` message, an assistant `function_call`, the
 *    `functions` / `function_call` parameters) is a 400. Its messages carry no call ids, and
 *    Anthropic pairs every tool_use with a tool_result by id; inventing ids, or skipping the
 *    messages, would send a conversation that is not the client's. The client can use tools.
 *  - Text blocks that are empty or only whitespace are never sent (Anthropic rejects empty
 *    ones, and a whitespace-only one carries nothing); a message left with no blocks is not
 *    sent either, so its neighbours may merge.
 *  - A request whose messages are all system/developer (or empty) is a 400: Anthropic needs at
 *    least one message.
 *  - audio parts, file_id references, non-base64 data URLs, images other than jpeg, png, gif
 *    and webp (data:image/jpg is taken as image/jpeg) and tools other than functions are 400s:
 *    dropping them would answer a different question than the one asked.
 *  - tool_choice and parallel_tool_calls are dropped when no tools go upstream: Anthropic
 *    rejects a tool_choice without tools.
 *  - response_format json_object is dropped (Anthropic has no schemaless JSON mode; the prompt
 *    asks for JSON or not); json_schema becomes output_config.format, and one whose schema is
 *    there but not an object is a 400 (OpenAI's too), not JSON of any shape.
 *  - reasoning_effort: minimal/low 1024, medium 2048, high/xhigh/max 4096 thinking tokens
 *    (LiteLLM's constants; none: no thinking). Thinking removes temperature, top_p and top_k
 *    (Anthropic rejects them with thinking) and raises max_tokens to at least budget + 1024
 *    (the budget counts toward max_tokens; 1024 leaves room for the answer). Thinking is not
 *    turned on when tool_choice forces a tool, nor when the last assistant turn has tool_use
 *    without the thinking block Anthropic wants first there (the client did not send LiteLLM's
 *    thinking_blocks back): both would be a 400 from Anthropic.
 *  - user (or safety_identifier) -> metadata.user_id unless it looks like an email address
 *    (Anthropic asks for an opaque id, no PII).
 *  - Tool definitions keep name, description, parameters and cache_control; `strict` is dropped
 *    (older models reject it).
 *  - Thinking and redacted_thinking blocks become LiteLLM's reasoning_content and thinking_blocks,
 *    unstreamed and streamed alike (include/sllmp/translate.h has the chunk shapes).
 */
#include "sllmp/translate.h"
#include "sllmp/util.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers ---------------------------------------------------------------------- */

static cJSON *
text_block(const char *text)
{
    cJSON *b = cJSON_CreateObject();

    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddStringToObject(b, "text", text);
    return b;
}

/* Prompt caching breakpoints on OpenAI parts go to the Anthropic block, as LiteLLM does. */
static void
copy_cache_control(cJSON *block, const cJSON *part)
{
    const cJSON *cc = sllmp_json_get(part, "cache_control");

    if (cJSON_IsObject(cc)) {
        cJSON_AddItemToObject(block, "cache_control", cJSON_Duplicate(cc, 1));
    }
}

/* ---- the conversation being built --------------------------------------------------------- */

/*
 * Anthropic wants user and assistant turns alternating, and tool_result blocks first in their
 * user turn. OpenAI messages are added one block at a time; consecutive blocks of one role form
 * one turn, whose tool results are kept apart until the turn is closed.
 */
typedef struct {
    cJSON *messages;  /* closed turns */
    const char *role; /* the open turn's role ("user", "assistant"); NULL when none */
    cJSON *results;   /* its tool_result blocks */
    cJSON *blocks;    /* its other blocks */
} turns_t;

static void
turn_close(turns_t *t)
{
    cJSON *m, *content, *b;

    if (t->role == NULL) {
        return;
    }
    m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", t->role);
    content = cJSON_AddArrayToObject(m, "content");
    while ((b = cJSON_DetachItemFromArray(t->results, 0)) != NULL) {
        cJSON_AddItemToArray(content, b);
    }
    while ((b = cJSON_DetachItemFromArray(t->blocks, 0)) != NULL) {
        cJSON_AddItemToArray(content, b);
    }
    cJSON_AddItemToArray(t->messages, m);
    t->role = NULL;
}

/* Adds block (owned from now on) to the turn of `role`, opening one if the role changes. */
static void
turn_add(turns_t *t, const char *role, cJSON *block, int result)
{
    if (t->role != NULL && strcmp(t->role, role) != 0) {
        turn_close(t);
    }
    t->role = role;
    cJSON_AddItemToArray(result ? t->results : t->blocks, block);
}

/* ---- content parts -------------------------------------------------------------------------- */

/*
 * A data: URL's media type and base64 payload. 0, or -1 when it is not a base64 data URL.
 */
static int
data_url(const char *url, char *media, size_t mlen, const char **payload)
{
    const char *p = url + 5, *semi, *comma;

    if (strncmp(url, "data:", 5) != 0 || (comma = strchr(p, ',')) == NULL) {
        return -1;
    }
    semi = memchr(p, ';', (size_t)(comma - p));
    if (semi == NULL || (size_t)(semi - p) >= mlen || comma - semi != 7 ||
        strncmp(semi, ";base64", 7) != 0) {
        return -1;
    }
    memcpy(media, p, (size_t)(semi - p));
    media[semi - p] = '\0';
    *payload = comma + 1;
    return 0;
}

static cJSON *
base64_block(const char *type, const char *media, const char *data)
{
    cJSON *b = cJSON_CreateObject(), *src;

    cJSON_AddStringToObject(b, "type", type);
    src = cJSON_AddObjectToObject(b, "source");
    cJSON_AddStringToObject(src, "type", "base64");
    cJSON_AddStringToObject(src, "media_type", media);
    cJSON_AddStringToObject(src, "data", data);
    return b;
}

/*
 * A data URL's image media type as Anthropic takes it: lower case (MIME types are
 * case-insensitive, Anthropic's list is not), and image/jpg, a common spelling it refuses, as
 * image/jpeg. -1 for any type outside its four (image/jpeg, png, gif, webp).
 */
static int
image_media(char *media, size_t mlen)
{
    static const char *const types[] = {"image/jpeg", "image/png", "image/gif", "image/webp"};

    for (char *p = media; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    if (strcmp(media, "image/jpg") == 0) {
        snprintf(media, mlen, "image/jpeg");
    }
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        if (strcmp(media, types[t]) == 0) {
            return 0;
        }
    }
    return -1;
}

/* An image_url part -> image block (or a document block for a PDF data URL). */
static int
image_part(const cJSON *part, int i, int k, cJSON **out, sllmp_xerr_t *e)
{
    const cJSON *iu = sllmp_json_get(part, "image_url");
    const char *url = cJSON_IsString(iu) ? iu->valuestring : sllmp_json_str(iu, "url");
    const char *payload;
    char media[64];

    if (url == NULL) {
        return sllmp_xerr(e, "must be a string.", "messages[%d].content[%d].image_url.url", i, k);
    }
    if (strncmp(url, "data:", 5) == 0) {
        if (data_url(url, media, sizeof(media), &payload) != 0) {
            return sllmp_xerr(e, "must be a base64 data URL (data:image/png;base64,...).",
                              "messages[%d].content[%d].image_url.url", i, k);
        }
        if (strncasecmp(media, "image/", 6) == 0) {
            if (image_media(media, sizeof(media)) != 0) {
                return sllmp_xerr(
                    e, "has an image type Anthropic does not take (jpeg, png, gif, webp).",
                    "messages[%d].content[%d].image_url.url", i, k);
            }
            *out = base64_block("image", media, payload);
        } else if (strcasecmp(media, "application/pdf") == 0) {
            snprintf(media, sizeof(media), "application/pdf");
            *out = base64_block("document", media, payload);
        } else {
            return sllmp_xerr(e, "has a media type Anthropic does not take as an image.",
                              "messages[%d].content[%d].image_url.url", i, k);
        }
    } else if (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) {
        cJSON *src;

        *out = cJSON_CreateObject();
        cJSON_AddStringToObject(*out, "type", "image");
        src = cJSON_AddObjectToObject(*out, "source");
        cJSON_AddStringToObject(src, "type", "url");
        cJSON_AddStringToObject(src, "url", url);
    } else {
        return sllmp_xerr(e, "must be an http(s) URL or a base64 data URL.",
                          "messages[%d].content[%d].image_url.url", i, k);
    }
    copy_cache_control(*out, part);
    return 0;
}

/* A file part -> document block: file_data only (a data URL, or bare base64 taken as PDF). */
static int
file_part(const cJSON *part, int i, int k, cJSON **out, sllmp_xerr_t *e)
{
    const cJSON *f = sllmp_json_get(part, "file");
    const char *data = sllmp_json_str(f, "file_data"), *payload;
    char media[64];

    if (data == NULL) {
        return sllmp_xerr(e, "must carry file_data: file ids cannot be sent to Anthropic.",
                          "messages[%d].content[%d].file", i, k);
    }
    if (strncmp(data, "data:", 5) == 0) {
        if (data_url(data, media, sizeof(media), &payload) != 0) {
            return sllmp_xerr(e, "must be a base64 data URL or base64.",
                              "messages[%d].content[%d].file.file_data", i, k);
        }
    } else {
        snprintf(media, sizeof(media), "application/pdf");
        payload = data;
    }
    if (strncasecmp(media, "image/", 6) != 0) {
        *out = base64_block("document", media, payload);
    } else if (image_media(media, sizeof(media)) == 0) {
        *out = base64_block("image", media, payload);
    } else {
        return sllmp_xerr(e, "has an image type Anthropic does not take (jpeg, png, gif, webp).",
                          "messages[%d].content[%d].file.file_data", i, k);
    }
    copy_cache_control(*out, part);
    return 0;
}

/*
 * One part of a user (or tool) message -> *out, an Anthropic block, or NULL when there is
 * nothing to send (blank text). -1 with *e filled when the part cannot go to Anthropic.
 */
static int
user_part(const cJSON *part, int i, int k, cJSON **out, sllmp_xerr_t *e)
{
    const char *type = sllmp_json_str(part, "type");

    *out = NULL;
    if (sllmp_str_is(type, "text")) {
        const char *text = sllmp_json_str(part, "text");

        if (text == NULL) {
            return sllmp_xerr(e, "must be a string.", "messages[%d].content[%d].text", i, k);
        }
        if (!sllmp_blank(text)) {
            *out = text_block(text);
            copy_cache_control(*out, part);
        }
        return 0;
    }
    if (sllmp_str_is(type, "image_url")) {
        return image_part(part, i, k, out, e);
    }
    if (sllmp_str_is(type, "file")) {
        return file_part(part, i, k, out, e);
    }
    if (sllmp_str_is(type, "input_audio")) {
        return sllmp_xerr(e, "is audio, which Anthropic models do not take.",
                          "messages[%d].content[%d]", i, k);
    }
    return sllmp_xerr(e, "has a content part type this model does not take.",
                      "messages[%d].content[%d].type", i, k);
}

/*
 * A string content's one text block, with the message's own cache_control: LiteLLM copies a
 * message-level breakpoint onto it (parts carry their own). NULL when the string is blank.
 */
static cJSON *
string_block(const cJSON *m, const char *text)
{
    cJSON *b;

    if (sllmp_blank(text)) {
        return NULL;
    }
    b = text_block(text);
    copy_cache_control(b, m);
    return b;
}

/* system and developer message m's content -> text blocks appended to `system`. */
static int
system_message(const cJSON *m, int i, cJSON *system, sllmp_xerr_t *e)
{
    const cJSON *content = sllmp_json_get(m, "content"), *part;
    int k = 0;

    if (cJSON_IsString(content)) {
        cJSON *b = string_block(m, content->valuestring);

        if (b != NULL) {
            cJSON_AddItemToArray(system, b);
        }
        return 0;
    }
    cJSON_ArrayForEach(part, content)
    {
        const char *text = sllmp_json_str(part, "text");

        if (!sllmp_str_is(sllmp_json_str(part, "type"), "text") || text == NULL) {
            return sllmp_xerr(e, "must be a text part: system messages take text only.",
                              "messages[%d].content[%d]", i, k);
        }
        if (!sllmp_blank(text)) {
            cJSON *b = text_block(text);

            copy_cache_control(b, part);
            cJSON_AddItemToArray(system, b);
        }
        k++;
    }
    return 0;
}

static int
user_message(turns_t *t, const cJSON *m, int i, sllmp_xerr_t *e)
{
    const cJSON *content = sllmp_json_get(m, "content"), *part;
    int k = 0;

    if (cJSON_IsString(content)) {
        cJSON *b = string_block(m, content->valuestring);

        if (b != NULL) {
            turn_add(t, "user", b, 0);
        }
        return 0;
    }
    cJSON_ArrayForEach(part, content)
    {
        cJSON *b;

        if (user_part(part, i, k, &b, e) != 0) {
            return -1;
        }
        if (b != NULL) {
            turn_add(t, "user", b, 0);
        }
        k++;
    }
    return 0;
}

/* A tool message -> a tool_result block in the user turn (content a string or blocks). */
static int
tool_message(turns_t *t, const cJSON *m, int i, sllmp_xerr_t *e)
{
    const char *id = sllmp_json_str(m, "tool_call_id");
    const cJSON *content = sllmp_json_get(m, "content"), *part;
    cJSON *r;
    int k = 0;

    if (id == NULL || sllmp_thought_id_len(id) == 0) {
        return sllmp_xerr(e, "must be the id of the tool call it answers.",
                          "messages[%d].tool_call_id", i);
    }
    r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", "tool_result");
    /* a Gemini thought signature in the id: the id before it, as on its tool_use */
    cJSON_AddItemToObject(r, "tool_use_id", sllmp_bare_tool_id(id));
    if (cJSON_IsString(content)) {
        /* empty content is left out, which Anthropic takes (an empty text would not be) */
        if (!sllmp_blank(content->valuestring)) {
            cJSON_AddStringToObject(r, "content", content->valuestring);
        }
    } else if (cJSON_IsArray(content)) {
        cJSON *blocks = cJSON_CreateArray();

        cJSON_ArrayForEach(part, content)
        {
            cJSON *b;

            if (user_part(part, i, k, &b, e) != 0) {
                cJSON_Delete(blocks);
                cJSON_Delete(r);
                return -1;
            }
            if (b != NULL) {
                cJSON_AddItemToArray(blocks, b);
            }
            k++;
        }
        if (cJSON_GetArraySize(blocks) > 0) {
            cJSON_AddItemToObject(r, "content", blocks);
        } else {
            cJSON_Delete(blocks);
        }
    }
    turn_add(t, "user", r, 1);
    return 0;
}

cJSON *
sllmp_tool_input(const cJSON *args)
{
    cJSON *in;

    if (args == NULL || cJSON_IsNull(args)) {
        return cJSON_CreateObject();
    }
    if (cJSON_IsObject(args)) {
        return cJSON_Duplicate(args, 1); /* some clients send the object itself */
    }
    if (!cJSON_IsString(args)) {
        return NULL;
    }
    if (sllmp_blank(args->valuestring)) {
        return cJSON_CreateObject(); /* a call without arguments, as some clients send it */
    }
    /* the whole text: an object followed by more ("{} {}") is not JSON */
    in = cJSON_ParseWithOpts(args->valuestring, NULL, 1);
    if (!cJSON_IsObject(in)) {
        cJSON_Delete(in);
        return NULL;
    }
    return in;
}

static int
assistant_message(turns_t *t, const cJSON *m, int i, sllmp_xerr_t *e)
{
    const cJSON *content = sllmp_json_get(m, "content"), *calls = sllmp_json_get(m, "tool_calls");
    const cJSON *tb = sllmp_json_get(m, "thinking_blocks"), *item;
    int k = 0;

    if (sllmp_json_get(m, "function_call") != NULL &&
        !cJSON_IsNull(sllmp_json_get(m, "function_call"))) {
        return sllmp_xerr(e,
                          "is the legacy function calling API, which this model does not take; use "
                          "tools and tool_calls.",
                          "messages[%d].function_call", i);
    }
    /* LiteLLM's thinking_blocks, echoed by its clients: they go first, with the fields that
     * are Anthropic's (signed as they are; a streamed entry's "index" is ours) */
    cJSON_ArrayForEach(item, tb)
    {
        static const char *const fields[] = {"type", "thinking", "signature", "data"};
        const char *type = sllmp_json_str(item, "type");
        cJSON *b;

        if (!sllmp_str_is(type, "thinking") && !sllmp_str_is(type, "redacted_thinking")) {
            continue;
        }
        b = cJSON_CreateObject();
        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
            const cJSON *v = sllmp_json_get(item, fields[f]);

            if (v != NULL) {
                cJSON_AddItemToObject(b, fields[f], cJSON_Duplicate(v, 1));
            }
        }
        turn_add(t, "assistant", b, 0);
    }
    if (cJSON_IsString(content)) {
        cJSON *b = string_block(m, content->valuestring);

        if (b != NULL) {
            turn_add(t, "assistant", b, 0);
        }
    } else {
        cJSON_ArrayForEach(item, content)
        {
            const char *type = sllmp_json_str(item, "type"), *text = sllmp_json_str(item, "text");

            if (sllmp_str_is(type, "text") && text != NULL) {
                if (!sllmp_blank(text)) {
                    cJSON *b = text_block(text);

                    copy_cache_control(b, item);
                    turn_add(t, "assistant", b, 0);
                }
            } else if (!sllmp_str_is(type, "refusal")) {
                /* a refusal part is the model's own "I can't": not worth resending */
                return sllmp_xerr(e, "must be a text or refusal part.", "messages[%d].content[%d]",
                                  i, k);
            }
            k++;
        }
    }
    k = 0;
    cJSON_ArrayForEach(item, calls)
    {
        const cJSON *fn = sllmp_json_get(item, "function");
        const char *id = sllmp_json_str(item, "id"), *name = sllmp_json_str(fn, "name"),
                   *type = sllmp_json_str(item, "type");
        cJSON *b, *input;

        if (type != NULL && strcmp(type, "function") != 0) {
            return sllmp_xerr(e, "must be \"function\".", "messages[%d].tool_calls[%d].type", i, k);
        }
        if (id == NULL || sllmp_thought_id_len(id) == 0) {
            return sllmp_xerr(e,
                              "is required: Anthropic pairs each tool call with its result by id.",
                              "messages[%d].tool_calls[%d].id", i, k);
        }
        if (name == NULL || *name == '\0') {
            return sllmp_xerr(e, "must be a non-empty string.",
                              "messages[%d].tool_calls[%d].function.name", i, k);
        }
        input = sllmp_tool_input(sllmp_json_get(fn, "arguments"));
        if (input == NULL) {
            return sllmp_xerr(
                e,
                "must be a JSON object encoded as a string (Anthropic takes tool input "
                "as an object).",
                "messages[%d].tool_calls[%d].function.arguments", i, k);
        }
        b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "tool_use");
        /* a Gemini thought signature in the id (a conversation begun there): Anthropic's ids
         * take [a-zA-Z0-9_-] only, so the id before it goes, as on the tool_result */
        cJSON_AddItemToObject(b, "id", sllmp_bare_tool_id(id));
        cJSON_AddStringToObject(b, "name", name);
        cJSON_AddItemToObject(b, "input", input);
        turn_add(t, "assistant", b, 0);
        k++;
    }
    return 0;
}

/*
 * The index of the last block of content that is not a Converse cachePoint, -1 when there is
 * none: a cachePoint only marks the end of the block before it, which stays the turn's last.
 */
static int
last_block(const cJSON *content)
{
    int k = cJSON_GetArraySize(content) - 1;

    while (k >= 0 && sllmp_json_get(cJSON_GetArrayItem(content, k), "cachePoint") != NULL) {
        k--;
    }
    return k;
}

/*
 * A final assistant message is a prefill that Claude continues, and it rejects one ending in
 * whitespace: strip it, dropping text blocks (and the message) left empty. Shared with the
 * Bedrock translator, hence both block shapes, and the cachePoint blocks after a Converse
 * text, which are looked past (Bedrock makes them that text's cache_control).
 */
void
sllmp_anthropic_strip_prefill(cJSON *messages)
{
    cJSON *last = cJSON_GetArrayItem(messages, cJSON_GetArraySize(messages) - 1);
    cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");

    if (!sllmp_str_is(sllmp_json_str(last, "role"), "assistant")) {
        return;
    }
    for (;;) {
        int k = last_block(content);
        cJSON *b = cJSON_GetArrayItem(content, k);
        cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
        const char *type = sllmp_json_str(b, "type");
        size_t len;

        /* Anthropic's {"type":"text","text"}, Converse's {"text"} */
        if (k < 0 || !cJSON_IsString(text) || (type != NULL && !sllmp_str_is(type, "text"))) {
            break;
        }
        len = strlen(text->valuestring);
        while (len > 0 && isspace((unsigned char)text->valuestring[len - 1])) {
            len--;
        }
        if (len > 0) {
            char *s = sllmp_xstrndup(text->valuestring, len);

            cJSON_ReplaceItemInObjectCaseSensitive(b, "text", cJSON_CreateString(s));
            free(s);
            break;
        }
        cJSON_DeleteItemFromArray(content, k);
    }
    /* a turn of cachePoints alone would mark nothing, and Converse wants content in a turn */
    if (last_block(content) < 0) {
        cJSON_DeleteItemFromArray(messages, cJSON_GetArraySize(messages) - 1);
    }
}

static int
messages(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *m;
    cJSON *system = cJSON_CreateArray();
    turns_t t = {cJSON_CreateArray(), NULL, cJSON_CreateArray(), cJSON_CreateArray()};
    int i = 0, rc = 0;

    cJSON_ArrayForEach(m, sllmp_json_get(req, "messages"))
    {
        const char *role = sllmp_json_str(m, "role");

        if (sllmp_str_is(role, "system") || sllmp_str_is(role, "developer")) {
            rc = system_message(m, i, system, e);
        } else if (sllmp_str_is(role, "user")) {
            rc = user_message(&t, m, i, e);
        } else if (sllmp_str_is(role, "assistant")) {
            rc = assistant_message(&t, m, i, e);
        } else if (sllmp_str_is(role, "tool")) {
            rc = tool_message(&t, m, i, e);
        } else if (sllmp_str_is(role, "function")) {
            rc = sllmp_xerr(e,
                            "is the legacy function calling API, which this model does not take; "
                            "use tools and tool messages.",
                            "messages[%d].role", i);
        } else {
            rc = sllmp_xerr(e, "must be one of system, developer, user, assistant, tool.",
                            "messages[%d].role", i);
        }
        if (rc != 0) {
            break;
        }
        i++;
    }
    turn_close(&t);
    cJSON_Delete(t.results);
    cJSON_Delete(t.blocks);
    if (rc == 0) {
        sllmp_anthropic_strip_prefill(t.messages);
        if (cJSON_GetArraySize(t.messages) == 0) {
            rc = sllmp_xerr(e, "must contain at least one user or assistant message with content.",
                            "messages");
        }
    }
    if (rc != 0) {
        cJSON_Delete(system);
        cJSON_Delete(t.messages);
        return -1;
    }
    if (cJSON_GetArraySize(system) > 0) {
        cJSON_AddItemToObject(body, "system", system);
    } else {
        cJSON_Delete(system);
    }
    cJSON_AddItemToObject(body, "messages", t.messages);
    return 0;
}

/* ---- parameters ------------------------------------------------------------------------------ */

/* A number field: 1 and *out when present (null counts as absent). */
static int
number(const cJSON *obj, const char *name, double *out)
{
    const cJSON *v = sllmp_json_get(obj, name);

    if (!cJSON_IsNumber(v)) {
        return 0;
    }
    *out = v->valuedouble;
    return 1;
}

static int
stop_sequences(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *stop = sllmp_json_get(req, "stop"), *s;
    cJSON *seqs = cJSON_CreateArray();
    int k = 0;

    if (cJSON_IsString(stop)) {
        if (!sllmp_blank(stop->valuestring)) {
            cJSON_AddItemToArray(seqs, cJSON_CreateString(stop->valuestring));
        }
    } else if (cJSON_IsArray(stop)) {
        cJSON_ArrayForEach(s, stop)
        {
            if (!cJSON_IsString(s)) {
                cJSON_Delete(seqs);
                return sllmp_xerr(e, "must be a string.", "stop[%d]", k);
            }
            /* Anthropic rejects whitespace-only sequences; LiteLLM drops them */
            if (!sllmp_blank(s->valuestring)) {
                cJSON_AddItemToArray(seqs, cJSON_CreateString(s->valuestring));
            }
            k++;
        }
    }
    if (cJSON_GetArraySize(seqs) > 0) {
        cJSON_AddItemToObject(body, "stop_sequences", seqs);
    } else {
        cJSON_Delete(seqs);
    }
    return 0;
}

static int
tools(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *tool;
    cJSON *out;
    int k = 0;

    if (sllmp_json_get(req, "functions") != NULL &&
        !cJSON_IsNull(sllmp_json_get(req, "functions"))) {
        return sllmp_xerr(e,
                          "is the legacy function calling API, which this model does not take; use "
                          "tools.",
                          "functions");
    }
    if (!cJSON_IsArray(sllmp_json_get(req, "tools")) ||
        cJSON_GetArraySize(sllmp_json_get(req, "tools")) == 0) {
        return 0;
    }
    out = cJSON_AddArrayToObject(body, "tools");
    cJSON_ArrayForEach(tool, sllmp_json_get(req, "tools"))
    {
        const cJSON *fn = sllmp_json_get(tool, "function"),
                    *params = sllmp_json_get(fn, "parameters");
        const char *name = sllmp_json_str(fn, "name"), *desc = sllmp_json_str(fn, "description");
        cJSON *t;

        if (!sllmp_str_is(sllmp_json_str(tool, "type"), "function") || name == NULL ||
            *name == '\0') {
            return sllmp_xerr(e, "must be a function tool with a name.", "tools[%d]", k);
        }
        t = cJSON_CreateObject();
        cJSON_AddItemToArray(out, t);
        cJSON_AddStringToObject(t, "name", name);
        if (desc != NULL) {
            cJSON_AddStringToObject(t, "description", desc);
        }
        if (cJSON_IsObject(params)) {
            cJSON_AddItemToObject(t, "input_schema", cJSON_Duplicate(params, 1));
        } else {
            cJSON *schema = cJSON_AddObjectToObject(t, "input_schema");

            cJSON_AddStringToObject(schema, "type", "object");
            cJSON_AddObjectToObject(schema, "properties");
        }
        copy_cache_control(t, tool);
        k++;
    }
    return 0;
}

/* tool_choice and parallel_tool_calls -> Anthropic's tool_choice; only with tools. */
static int
tool_choice(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *tc = sllmp_json_get(req, "tool_choice");
    const cJSON *fc = sllmp_json_get(req, "function_call");
    cJSON *out = NULL;

    if (fc != NULL && !cJSON_IsNull(fc)) {
        return sllmp_xerr(e,
                          "is the legacy function calling API, which this model does not take; use "
                          "tool_choice.",
                          "function_call");
    }
    if (cJSON_IsString(tc)) {
        const char *type = sllmp_str_is(tc->valuestring, "required") ? "any" : tc->valuestring;

        if (!sllmp_str_is(type, "auto") && !sllmp_str_is(type, "any") &&
            !sllmp_str_is(type, "none")) {
            return sllmp_xerr(e, "must be none, auto, required or a function.", "tool_choice");
        }
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "type", type);
    } else if (cJSON_IsObject(tc)) {
        const char *name = sllmp_json_str(sllmp_json_get(tc, "function"), "name");

        if (!sllmp_str_is(sllmp_json_str(tc, "type"), "function") || name == NULL) {
            return sllmp_xerr(e,
                              "must be none, auto, required or {\"type\":\"function\",\"function\":"
                              "{\"name\":...}}.",
                              "tool_choice");
        }
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "type", "tool");
        cJSON_AddStringToObject(out, "name", name);
    } else if (tc != NULL && !cJSON_IsNull(tc)) {
        return sllmp_xerr(e, "must be a string or an object.", "tool_choice");
    }
    if (!cJSON_HasObjectItem(body, "tools")) {
        cJSON_Delete(out); /* Anthropic rejects tool_choice without tools */
        return 0;
    }
    if (cJSON_IsFalse(sllmp_json_get(req, "parallel_tool_calls"))) {
        if (out == NULL) {
            out = cJSON_CreateObject();
            cJSON_AddStringToObject(out, "type", "auto");
        }
        if (!sllmp_str_is(sllmp_json_str(out, "type"), "none")) {
            cJSON_AddTrueToObject(out, "disable_parallel_tool_use");
        }
    }
    if (out != NULL) {
        cJSON_AddItemToObject(body, "tool_choice", out);
    }
    return 0;
}

/* Anthropic wants an opaque id there, no PII: something@domain.tld is not sent. */
static int
looks_like_email(const char *s)
{
    const char *at = strchr(s, '@');

    return at != NULL && at > s && strchr(at + 1, '.') != NULL && at[1] != '.';
}

static void
user_id(const cJSON *req, cJSON *body)
{
    const char *user = sllmp_json_str(req, "user");
    cJSON *md;

    if (user == NULL || *user == '\0') {
        user = sllmp_json_str(req, "safety_identifier"); /* OpenAI's successor to `user` */
    }
    /* Anthropic takes at most 256 characters there; a longer one is not an opaque id anyway */
    if (user == NULL || *user == '\0' || strlen(user) > 256 || looks_like_email(user)) {
        return;
    }
    md = cJSON_AddObjectToObject(body, "metadata");
    cJSON_AddStringToObject(md, "user_id", user);
}

/* reasoning_effort -> thinking budget (see the top of the file); the Bedrock Converse
 * translator uses it too, for Anthropic models there. */
long
sllmp_anthropic_thinking_budget(const char *effort)
{
    if (sllmp_str_is(effort, "minimal") || sllmp_str_is(effort, "low")) {
        return 1024;
    }
    if (sllmp_str_is(effort, "medium")) {
        return 2048;
    }
    if (sllmp_str_is(effort, "high") || sllmp_str_is(effort, "xhigh") ||
        sllmp_str_is(effort, "max")) {
        return 4096;
    }
    return 0; /* none, or unknown: no thinking */
}

/*
 * Whether Anthropic would take thinking with this conversation (see the top of the file). The
 * Bedrock Converse translator asks too, for Anthropic models there: the same rule, with
 * Converse's shapes ({"toolUse":...} and {"reasoningContent":...} blocks, toolConfig.toolChoice
 * {"any":{}} or {"tool":...}).
 */
int
sllmp_anthropic_thinking_allowed(const cJSON *body)
{
    const cJSON *tc = sllmp_json_get(body, "tool_choice"), *msgs = sllmp_json_get(body, "messages"),
                *m, *b;
    const cJSON *ctc = sllmp_json_get(sllmp_json_get(body, "toolConfig"), "toolChoice");
    const cJSON *last = NULL;
    int tool_use = 0;

    if (sllmp_str_is(sllmp_json_str(tc, "type"), "any") ||
        sllmp_str_is(sllmp_json_str(tc, "type"), "tool") || sllmp_json_get(ctc, "any") != NULL ||
        sllmp_json_get(ctc, "tool") != NULL) {
        return 0;
    }
    cJSON_ArrayForEach(m, msgs)
    {
        if (sllmp_str_is(sllmp_json_str(m, "role"), "assistant")) {
            last = m;
        }
    }
    cJSON_ArrayForEach(b, sllmp_json_get(last, "content"))
    {
        tool_use |= sllmp_str_is(sllmp_json_str(b, "type"), "tool_use") ||
                    sllmp_json_get(b, "toolUse") != NULL;
    }
    if (!tool_use) {
        return 1;
    }
    b = cJSON_GetArrayItem(sllmp_json_get(last, "content"), 0);
    return sllmp_str_is(sllmp_json_str(b, "type"), "thinking") ||
           sllmp_str_is(sllmp_json_str(b, "type"), "redacted_thinking") ||
           sllmp_json_get(b, "reasoningContent") != NULL;
}

static int
response_format(const cJSON *req, cJSON *body, sllmp_xerr_t *e)
{
    const cJSON *rf = sllmp_json_get(req, "response_format");
    const cJSON *schema = sllmp_json_get(sllmp_json_get(rf, "json_schema"), "schema");
    cJSON *oc, *fmt;

    if (!sllmp_str_is(sllmp_json_str(rf, "type"), "json_schema") || schema == NULL ||
        cJSON_IsNull(schema)) {
        return 0; /* text, json_object (no Anthropic equivalent), or a schema-less json_schema */
    }
    if (!cJSON_IsObject(schema)) {
        /* OpenAI refuses it too; dropped, the answer would be JSON of any shape */
        return sllmp_xerr(e, "must be a JSON Schema object.", "response_format.json_schema.schema");
    }
    oc = cJSON_AddObjectToObject(body, "output_config");
    fmt = cJSON_AddObjectToObject(oc, "format");
    cJSON_AddStringToObject(fmt, "type", "json_schema");
    cJSON_AddItemToObject(fmt, "schema", cJSON_Duplicate(schema, 1));
    return 0;
}

/*
 * Models released after Claude Opus 4.6 reject temperature other than 1, top_p under 0.99 and
 * any top_k with a 400 (protocols.md §0.9): for them the sampling knobs are dropped. Told by
 * the version in the id: claude-<family>-<major>-<minor>..., 4.7 and later, or 5 and later.
 */
int
sllmp_anthropic_strict_sampling(const char *model)
{
    const char *p = model != NULL ? strstr(model, "claude-") : NULL;
    long major = -1, minor = 0;

    if (p == NULL) {
        return 0;
    }
    for (p += 7; *p != '\0'; p++) {
        if (p[-1] == '-' && *p >= '0' && *p <= '9') {
            char *end;

            major = strtol(p, &end, 10);
            /* a minor version is one or two digits; a date (8 digits) is not one */
            if (end[0] == '-' && end[1] >= '0' && end[1] <= '9' &&
                strspn(end + 1, "0123456789") <= 2) {
                minor = strtol(end + 1, NULL, 10);
            }
            break;
        }
    }
    return major >= 5 || (major == 4 && minor >= 7);
}

cJSON *
sllmp_anthropic_request(const cJSON *req, const char *model, sllmp_xerr_t *e)
{
    cJSON *body;
    double v, max_tokens = SLLMP_ANTHROPIC_DEFAULT_MAX;
    long budget;

    if (e != NULL) {
        memset(e, 0, sizeof(*e));
    }
    if (!cJSON_IsObject(req) || !cJSON_IsArray(sllmp_json_get(req, "messages"))) {
        sllmp_xerr(e, "must be an array.", "messages");
        return NULL;
    }
    if (number(req, "n", &v) && v > 1) {
        sllmp_xerr(e, "must be 1: Anthropic models give one choice per request.", "n");
        return NULL;
    }
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "model", model != NULL ? model : "");
    if (messages(req, body, e) != 0 || stop_sequences(req, body, e) != 0 ||
        tools(req, body, e) != 0 || tool_choice(req, body, e) != 0) {
        cJSON_Delete(body);
        return NULL;
    }

    if (number(req, "max_completion_tokens", &v) || number(req, "max_tokens", &v)) {
        if (v < 0) {
            sllmp_xerr(e, "must not be negative.",
                       cJSON_IsNumber(sllmp_json_get(req, "max_completion_tokens"))
                           ? "max_completion_tokens"
                           : "max_tokens");
            cJSON_Delete(body);
            return NULL;
        }
        /* past any model's limit, Anthropic says so; kept in range for the conversion */
        max_tokens = v > INT_MAX ? INT_MAX : v;
    }
    budget = sllmp_anthropic_thinking_budget(sllmp_json_str(req, "reasoning_effort"));
    if (budget > 0 && sllmp_anthropic_thinking_allowed(body)) {
        cJSON *th = cJSON_AddObjectToObject(body, "thinking");

        cJSON_AddStringToObject(th, "type", "enabled");
        cJSON_AddNumberToObject(th, "budget_tokens", (double)budget);
        if (max_tokens < (double)(budget + SLLMP_ANTHROPIC_THINKING_ROOM)) {
            max_tokens = (double)(budget + SLLMP_ANTHROPIC_THINKING_ROOM);
        }
    } else if (!sllmp_anthropic_strict_sampling(model)) {
        /* Anthropic's temperature is 0..1 where OpenAI's is 0..2 */
        if (number(req, "temperature", &v)) {
            cJSON_AddNumberToObject(body, "temperature", v < 0 ? 0 : v > 1 ? 1 : v);
        }
        if (number(req, "top_p", &v)) {
            cJSON_AddNumberToObject(body, "top_p", v);
        }
        if (number(req, "top_k", &v)) {
            cJSON_AddNumberToObject(body, "top_k", v);
        }
    }
    cJSON_AddNumberToObject(body, "max_tokens", (double)(long)max_tokens);
    user_id(req, body);
    if (response_format(req, body, e) != 0) {
        cJSON_Delete(body);
        return NULL;
    }
    if (cJSON_IsTrue(sllmp_json_get(req, "stream"))) {
        cJSON_AddTrueToObject(body, "stream");
    }
    return body;
}

/* ---- responses ------------------------------------------------------------------------------- */

const char *
sllmp_anthropic_finish(const char *stop_reason)
{
    if (sllmp_str_is(stop_reason, "max_tokens") ||
        sllmp_str_is(stop_reason, "model_context_window_exceeded")) {
        return "length";
    }
    if (sllmp_str_is(stop_reason, "tool_use")) {
        return "tool_calls";
    }
    if (sllmp_str_is(stop_reason, "refusal")) {
        return "content_filter";
    }
    return "stop"; /* end_turn, stop_sequence, pause_turn, unknown, none */
}

void
sllmp_anthropic_usage_merge(sllmp_usage_t *u, const cJSON *usage)
{
    static const char *const names[] = {"input_tokens", "cache_read_input_tokens",
                                        "cache_creation_input_tokens", "output_tokens"};
    long *fields[4];
    size_t k;
    int any = 0;

    if (!cJSON_IsObject(usage)) {
        return;
    }
    fields[0] = &u->input; /* excludes cache reads and writes: no subtraction */
    fields[1] = &u->cache_read;
    fields[2] = &u->cache_write;
    fields[3] = &u->output; /* includes thinking, which Anthropic does not break out */
    for (k = 0; k < 4; k++) {
        const cJSON *v = sllmp_json_get(usage, names[k]);

        if (cJSON_IsNumber(v)) {
            *fields[k] = sllmp_usage_count(v);
            any = 1;
        }
    }
    if (any) {
        u->reasoning = 0;
        u->seen = 1;
        u->estimated = 0;
    }
}

cJSON *
sllmp_anthropic_metadata(const cJSON *md)
{
    const cJSON *uid = cJSON_IsObject(md) ? sllmp_json_get(md, "user_id") : NULL;
    cJSON *out;

    if (uid == NULL) {
        return NULL;
    }
    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "user_id", cJSON_Duplicate(uid, 1)); /* Anthropic judges it */
    return out;
}

cJSON *
sllmp_anthropic_response(const cJSON *msg, const char *model, long created, sllmp_usage_t *u)
{
    const cJSON *content = sllmp_json_get(msg, "content"), *b;
    const char *id = sllmp_json_str(msg, "id"), *type = sllmp_json_str(msg, "type");
    sllmp_usage_t local;
    sllmp_buf_t text, thinking;
    cJSON *out, *calls = NULL, *blocks = NULL;
    int has_text = 0, has_thinking = 0;

    if (!cJSON_IsObject(msg) || !cJSON_IsArray(content) ||
        (type != NULL && !sllmp_str_is(type, "message"))) {
        return NULL;
    }
    if (u == NULL) {
        u = &local;
    }
    memset(u, 0, sizeof(*u));
    sllmp_anthropic_usage_merge(u, sllmp_json_get(msg, "usage"));

    sllmp_buf_init(&text, 0);
    sllmp_buf_init(&thinking, 0);
    cJSON_ArrayForEach(b, content)
    {
        const char *bt = sllmp_json_str(b, "type"), *t = sllmp_json_str(b, "text"),
                   *th = sllmp_json_str(b, "thinking");
        const char *bid = sllmp_json_str(b, "id"), *name = sllmp_json_str(b, "name");

        if (sllmp_str_is(bt, "text") && t != NULL) {
            sllmp_buf_append(&text, t, strlen(t));
            has_text = 1;
        } else if (sllmp_str_is(bt, "tool_use")) {
            const cJSON *input = sllmp_json_get(b, "input");
            cJSON *call = cJSON_CreateObject(), *fn;
            char *args = cJSON_IsObject(input) ? cJSON_PrintUnformatted(input) : NULL;

            if (calls == NULL) {
                calls = cJSON_CreateArray();
            }
            cJSON_AddItemToArray(calls, call);
            cJSON_AddStringToObject(call, "id", bid != NULL ? bid : "");
            cJSON_AddStringToObject(call, "type", "function");
            fn = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(fn, "name", name != NULL ? name : "");
            cJSON_AddStringToObject(fn, "arguments", args != NULL ? args : "{}");
            cJSON_free(args);
        } else if (sllmp_str_is(bt, "thinking") || sllmp_str_is(bt, "redacted_thinking")) {
            /* LiteLLM's two fields: the text to show, and the blocks to send back signed */
            if (th != NULL) {
                sllmp_buf_append(&thinking, th, strlen(th));
                has_thinking = 1;
            }
            if (blocks == NULL) {
                blocks = cJSON_CreateArray();
            }
            cJSON_AddItemToArray(blocks, cJSON_Duplicate(b, 1));
        }
        /* server tool blocks, citations...: nothing an OpenAI client can take */
    }

    out = sllmp_chat_answer(
        &(sllmp_chat_answer_t){.id = id,
                               .model = model,
                               .created = created,
                               .content = has_text ? sllmp_buf_cstr(&text) : NULL,
                               .reasoning = has_thinking ? sllmp_buf_cstr(&thinking) : NULL,
                               .thinking_blocks = blocks,
                               .tool_calls = calls,
                               .finish = sllmp_anthropic_finish(sllmp_json_str(msg, "stop_reason")),
                               .usage = u});
    sllmp_buf_free(&text);
    sllmp_buf_free(&thinking);
    return out;
}

/* ---- streams --------------------------------------------------------------------------------- */

/* An Anthropic error type -> the HTTP status it stands for (529 overloaded -> 503). */
static int
error_status(const char *type)
{
    static const struct {
        const char *type;
        int status;
    } map[] = {
        {"invalid_request_error", 400}, {"authentication_error", 401},
        {"billing_error", 402},         {"permission_error", 403},
        {"not_found_error", 404},       {"request_too_large", 413},
        {"rate_limit_error", 429},      {"api_error", 500},
        {"overloaded_error", 503},      {"timeout_error", 504},
    };
    size_t k;

    for (k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
        if (sllmp_str_is(type, map[k].type)) {
            return map[k].status;
        }
    }
    return 500;
}

static int
block_index(const cJSON *data)
{
    const cJSON *v = sllmp_json_get(data, "index");

    return cJSON_IsNumber(v) ? v->valueint : -1;
}

static int
block_start(sllmp_xstream_t *s, const cJSON *data)
{
    const cJSON *cb = sllmp_json_get(data, "content_block");
    const char *type = sllmp_json_str(cb, "type"), *text = sllmp_json_str(cb, "text");
    int index = block_index(data), rc;

    if (sllmp_str_is(type, "text") && text != NULL) {
        return sllmp_xstream_text(s, text, strlen(text));
    }
    if (sllmp_str_is(type, "thinking")) {
        /* the text normally arrives as thinking_delta, the signature as signature_delta */
        text = sllmp_json_str(cb, "thinking");
        return text != NULL ? sllmp_xstream_reasoning(s, text, strlen(text)) : 0;
    }
    if (sllmp_str_is(type, "redacted_thinking")) {
        return sllmp_xstream_redacted_thinking(s, sllmp_json_str(cb, "data"));
    }
    if (!sllmp_str_is(type, "tool_use")) {
        return 0; /* server tools: nothing for an OpenAI client */
    }
    rc = sllmp_xstream_tool_start(s, index, sllmp_json_str(cb, "id"), sllmp_json_str(cb, "name"),
                                  NULL);
    if (rc == 0 && cJSON_GetArraySize(sllmp_json_get(cb, "input")) > 0) {
        /* input normally arrives as input_json_delta; a block that starts with it is whole */
        char *args = cJSON_PrintUnformatted(sllmp_json_get(cb, "input"));

        rc = sllmp_xstream_tool_args(s, index, args, strlen(args));
        cJSON_free(args);
    }
    return rc;
}

static int
block_delta(sllmp_xstream_t *s, const cJSON *data)
{
    const cJSON *d = sllmp_json_get(data, "delta");
    const char *type = sllmp_json_str(d, "type"), *v;

    if (sllmp_str_is(type, "text_delta") && (v = sllmp_json_str(d, "text")) != NULL) {
        return sllmp_xstream_text(s, v, strlen(v));
    }
    if (sllmp_str_is(type, "input_json_delta") && (v = sllmp_json_str(d, "partial_json")) != NULL) {
        return sllmp_xstream_tool_args(s, block_index(data), v, strlen(v));
    }
    if (sllmp_str_is(type, "thinking_delta") && (v = sllmp_json_str(d, "thinking")) != NULL) {
        return sllmp_xstream_reasoning(s, v, strlen(v));
    }
    if (sllmp_str_is(type, "signature_delta")) {
        return sllmp_xstream_thinking_signature(s, sllmp_json_str(d, "signature"));
    }
    /* citations_delta: no OpenAI chunk field for it */
    return 0;
}

static int
stream_error(sllmp_xstream_t *s, const cJSON *data)
{
    const cJSON *err = sllmp_json_get(data, "error");
    const char *type = sllmp_json_str(err, "type"), *msg = sllmp_json_str(err, "message");

    s->err_status = error_status(type);
    /* an empty one is as good as none */
    snprintf(s->err_type, sizeof(s->err_type), "%s",
             type != NULL && *type != '\0' ? type : "api_error");
    snprintf(s->err_message, sizeof(s->err_message), "%s",
             msg != NULL && *msg != '\0' ? msg : "The provider failed mid-stream.");
    return -1;
}

int
sllmp_anthropic_stream_event(sllmp_xstream_t *s, const char *event, const cJSON *data)
{
    const char *name = event;

    if (name == NULL || *name == '\0') {
        name = sllmp_json_str(data, "type"); /* the data repeats the event name */
    }
    if (sllmp_str_is(name, "error")) {
        return stream_error(s, data);
    }
    if (s->ended) {
        return 0;
    }
    if (sllmp_str_is(name, "message_start")) {
        const cJSON *msg = sllmp_json_get(data, "message");
        const char *id = sllmp_json_str(msg, "id");

        if (id != NULL) {
            snprintf(s->id_buf, sizeof(s->id_buf), "%s", id);
        }
        sllmp_anthropic_usage_merge(&s->usage, sllmp_json_get(msg, "usage"));
        return sllmp_xstream_start(s);
    }
    if (sllmp_str_is(name, "content_block_start")) {
        return block_start(s, data);
    }
    if (sllmp_str_is(name, "content_block_delta")) {
        return block_delta(s, data);
    }
    if (sllmp_str_is(name, "content_block_stop")) {
        return sllmp_xstream_block_stop(s, block_index(data));
    }
    if (sllmp_str_is(name, "message_delta")) {
        const char *reason = sllmp_json_str(sllmp_json_get(data, "delta"), "stop_reason");

        /* cumulative counts: the last one wins, never a sum */
        sllmp_anthropic_usage_merge(&s->usage, sllmp_json_get(data, "usage"));
        return reason != NULL ? sllmp_xstream_finish_reason(s, sllmp_anthropic_finish(reason)) : 0;
    }
    if (sllmp_str_is(name, "message_stop")) {
        s->ended = 1;
        return sllmp_xstream_finish(s);
    }
    return 0; /* ping, and event types added later */
}
