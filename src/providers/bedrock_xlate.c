/*
 * AWS Bedrock translators (protocols.md §3.3): OpenAI chat <-> Converse / ConverseStream, and
 * OpenAI embeddings <-> the InvokeModel bodies of Amazon Titan and Cohere embedding models.
 *
 * Converse is stricter than OpenAI in ways clients never see elsewhere: turns must alternate
 * user / assistant (so consecutive same-role turns are merged, and tool results travel in user
 * turns), text blocks may not be blank (empty or whitespace-only text is left out, for every
 * model), and Bedrock never fetches URLs (an http image is a 400 from us rather than a
 * confusing one from AWS). Claude adds its own rule behind Converse: a final assistant turn (a
 * prefill) may not end in whitespace, so for Anthropic models it is stripped as the Anthropic
 * translator does (sllmp_anthropic_strip_prefill). Whitespace-only stop sequences, which
 * Anthropic's own API refuses, are still sent: nothing public shows that Bedrock hands them to
 * Claude as they are rather than dealing with them itself.
 *
 * Reasoning, for Anthropic models (a model id with "anthropic.": anthropic.claude-..., the
 * inference profiles us.anthropic.claude-..., an ARN naming one), as LiteLLM's
 * AmazonConverseConfig does it (litellm/llms/bedrock/chat/converse_transformation.py and
 * BedrockConverseMessagesProcessor in litellm_core_utils/prompt_templates/factory.py):
 *  - reasoning_effort -> additionalModelRequestFields {"thinking": {"type": "enabled",
 *    "budget_tokens": N}}, with the Anthropic translator's budgets and side rules, from the same
 *    functions (sllmp_anthropic_thinking_budget / _allowed): no thinking for none, nor when the
 *    tool choice forces a tool, nor when the last assistant turn has toolUse without its signed
 *    reasoning first; with thinking, inferenceConfig loses temperature and topP (Claude refuses
 *    them with thinking; Converse has no topK) and maxTokens is at least budget + 1024 (from
 *    SLLMP_ANTHROPIC_DEFAULT_MAX when the client set none, as for Anthropic). Where LiteLLM
 *    differs (it turns a forced tool choice into auto rather than leaving thinking off, and
 *    makes maxTokens budget + 4096 when none is given), the Anthropic translator's rule is
 *    kept, so Claude is asked the same way directly and through Bedrock. As there, a Claude
 *    released after Opus 4.6 never gets temperature or topP (sllmp_anthropic_strict_sampling).
 *  - An assistant message's thinking_blocks (LiteLLM's, as our answers give them) go first in
 *    its turn as reasoningContent blocks: {"reasoningText": {"text", "signature"}} for a signed
 *    thinking entry, {"redactedContent": data} for a redacted one (the base64 Bedrock gave, as
 *    it is). Only those fields are read, so a streamed entry's "index" is never sent; an entry
 *    without its signature (or data) is left out, as Bedrock would refuse it.
 * Other models take neither: reasoning_effort means something else to each family (LiteLLM
 * maps it to reasoningConfig for Nova 2, passes it to gpt-oss), and Claude's signed reasoning
 * would be refused by them; both are left out, as before.
 *
 * Prompt caching: an Anthropic-style cache_control (LiteLLM's clients put it on a content part,
 * on a message whose content is a string, on a tool call, on a tool) becomes a Converse
 * cachePoint block, {"cachePoint": {"type": "default"}}, right after the block it marks, where
 * LiteLLM puts it (_get_cache_point_block, add_cache_point_tool_block): in system, in a turn's
 * content (after a text, an image, a toolUse), in toolConfig.tools after the toolSpec, and for
 * a tool message after its toolResult (a toolResult's own content takes no cachePoint:
 * ToolResultContentBlock has no such member). Unlike LiteLLM, a part that sends no block
 * (blank text) sends no cachePoint either, which would mark the block before it. Only models
 * that cache get them, since Bedrock refuses a cachePoint from others ("You invoked an
 * unsupported model or your request did not allow prompt caching"): Anthropic models in all
 * those places, Amazon Nova ("amazon.nova" in the id) in system and turns but not after tool
 * definitions nor tool results (AWS's table of cacheable fields has no tools for Nova).
 * cache_control's ttl is not sent: only some Claude models take "1h", and the default (five
 * minutes) is refused by none.
 *
 * response_format (json_object, json_schema) has no Converse field: as LiteLLM does it, the
 * model is made to call a tool, SLLMP_BEDROCK_JSON_TOOL, whose input schema is the schema
 * (response_format() below says when it is forced), and in JSON mode (sllmp_bedrock_json_mode)
 * the answer's translators make that call's input the content: unstreamed, the input alone
 * (text beside it is left out, as LiteLLM does, so that the content parses) and a tool_use stop
 * is "stop" unless calls of the client's own tools are left; streamed, its input deltas are
 * content deltas as they come (LiteLLM makes a whole unstreamed call and fakes the stream),
 * "{}" for a call that sent none. LiteLLM also unwraps an input whose only key is "properties"
 * (a model echoing the schema's shape); that is not done here, as it would change the answer
 * to a schema that has such a property, and could not be done while streaming.
 */
#include "sllmp/translate.h"
#include "sllmp/util.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The text of a tool result that had none (the built-in mock provider's word for it too). */
#define SLLMP_BEDROCK_EMPTY_RESULT "(empty)"

/* Fills *e and returns NULL, for `return xfail(...)` from the translators. */
static void *xfail(sllmp_xerr_t *e, const char *param, const char *fmt, ...) SLLMP_PRINTF(3, 4);

static void *
xfail(sllmp_xerr_t *e, const char *param, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL) {
        return NULL;
    }
    snprintf(e->param, sizeof(e->param), "%s", param != NULL ? param : "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Request                                                                                  */

typedef struct {
    cJSON *messages;
    cJSON *system;
    sllmp_xerr_t *e;
    int anthropic; /* an Anthropic model: thinking_blocks go back, reasoning_effort is mapped */
    int strict;    /* a Claude model after Opus 4.6: no temperature, no topP */
    int cache;     /* cachePoint blocks in system and messages (Anthropic and Nova models) */
    int cache_all; /* and after tool definitions and tool results too (Anthropic models) */
    char param[96];
} conv_t;

static const char *param(conv_t *c, const char *fmt, ...) SLLMP_PRINTF(2, 3);

/* The error's param path, formatted into c->param. */
static const char *
param(conv_t *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->param, sizeof(c->param), fmt, ap);
    va_end(ap);
    return c->param;
}

/* Adds a text block; 0 when the text is blank and nothing was added. */
static int
add_text(cJSON *blocks, const char *text)
{
    cJSON *b;

    /* Converse rejects blank text blocks, whitespace-only ones too ("The text field in the
     * ContentBlock object at messages.1.content.0 is blank"), whatever the model */
    if (text == NULL || sllmp_blank(text)) {
        return 0;
    }
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "text", text);
    cJSON_AddItemToArray(blocks, b);
    return 1;
}

/* Whether o (a part, a message, a tool) carries a prompt-caching breakpoint. */
static int
has_cache_control(const cJSON *o)
{
    return cJSON_IsObject(sllmp_json_get(o, "cache_control"));
}

/*
 * Appends a cachePoint to `blocks` when `marked` is true (see the top of the file): it caches
 * everything up to the block before it, so it goes right after the block the client marked.
 */
static void
add_cache_point(cJSON *blocks, int marked)
{
    cJSON *b;

    if (!marked) {
        return;
    }
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "cachePoint"), "type", "default");
    cJSON_AddItemToArray(blocks, b);
}

/*
 * Adds blocks to the conversation as a turn of `role`, merged into the last turn when that has
 * the same role (Converse wants strict alternation). Takes blocks; an empty list adds nothing.
 */
static void
add_turn(cJSON *messages, const char *role, cJSON *blocks)
{
    int n = cJSON_GetArraySize(messages);
    cJSON *last = n > 0 ? cJSON_GetArrayItem(messages, n - 1) : NULL;
    const cJSON *last_role = sllmp_json_get(last, "role");
    cJSON *msg;

    if (cJSON_GetArraySize(blocks) == 0) {
        cJSON_Delete(blocks);
        return;
    }
    if (cJSON_IsString(last_role) && strcmp(last_role->valuestring, role) == 0) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");

        while (cJSON_GetArraySize(blocks) > 0) {
            cJSON_AddItemToArray(content, cJSON_DetachItemFromArray(blocks, 0));
        }
        cJSON_Delete(blocks);
        return;
    }
    msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", role);
    cJSON_AddItemToObject(msg, "content", blocks);
    cJSON_AddItemToArray(messages, msg);
}

/* A data: URL as a Converse image block; NULL with *e filled otherwise. */
static cJSON *
image_block(conv_t *c, const char *url, int i, int j)
{
    static const struct {
        const char *media;
        const char *format;
    } formats[] = {{"image/png", "png"},
                   {"image/jpeg", "jpeg"},
                   {"image/jpg", "jpeg"},
                   {"image/gif", "gif"},
                   {"image/webp", "webp"}};
    const char *format = NULL, *semi, *comma;
    cJSON *b, *img, *src;
    size_t mlen;

    if (strncmp(url, "data:", 5) != 0) {
        return xfail(c->e, param(c, "messages[%d].content[%d].image_url.url", i, j),
                     "Bedrock cannot fetch image URLs; send the image inline as a "
                     "data:image/...;base64 URL.");
    }
    url += 5;
    comma = strchr(url, ',');
    semi = strchr(url, ';');
    if (comma == NULL || semi == NULL || semi > comma || strncmp(semi, ";base64,", 8) != 0) {
        return xfail(c->e, param(c, "messages[%d].content[%d].image_url.url", i, j),
                     "An image data URL must be base64: data:image/png;base64,...");
    }
    mlen = (size_t)(semi - url);
    for (size_t k = 0; k < sizeof(formats) / sizeof(formats[0]); k++) {
        if (strlen(formats[k].media) == mlen && strncasecmp(url, formats[k].media, mlen) == 0) {
            format = formats[k].format;
            break;
        }
    }
    if (format == NULL) {
        return xfail(c->e, param(c, "messages[%d].content[%d].image_url.url", i, j),
                     "Bedrock takes png, jpeg, gif and webp images only.");
    }
    b = cJSON_CreateObject();
    img = cJSON_AddObjectToObject(b, "image");
    cJSON_AddStringToObject(img, "format", format);
    src = cJSON_AddObjectToObject(img, "source");
    cJSON_AddStringToObject(src, "bytes", comma + 1);
    return b;
}

/*
 * Message m's content (a string or an array of parts) as Converse blocks appended to `blocks`.
 * Images only where images allowed (user turns). With `points`, a marked part's block, or a
 * marked message's one string block, is followed by a cachePoint (for models that take it);
 * a tool result's content goes without, since Converse takes none there. -1 with *e filled
 * when a part cannot go.
 */
static int
content_blocks(conv_t *c, const cJSON *m, int i, int images, int points, cJSON *blocks)
{
    const cJSON *content = sllmp_json_get(m, "content"), *part;
    int j = 0;

    points = points && c->cache;
    if (content == NULL || cJSON_IsNull(content)) {
        return 0;
    }
    if (cJSON_IsString(content)) {
        /* a breakpoint can only sit on a part, so LiteLLM takes a message-level one for the
         * string's block (as the Anthropic translator does since de7a118) */
        if (add_text(blocks, content->valuestring)) {
            add_cache_point(blocks, points && has_cache_control(m));
        }
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        xfail(c->e, param(c, "messages[%d].content", i),
              "content must be a string or an array of content parts.");
        return -1;
    }
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = sllmp_json_get(part, "type");
        const char *t = cJSON_IsString(type) ? type->valuestring : "";

        if (strcmp(t, "text") == 0 || strcmp(t, "refusal") == 0) {
            const cJSON *text = sllmp_json_get(part, t);

            if (!cJSON_IsString(text)) {
                xfail(c->e, param(c, "messages[%d].content[%d].%s", i, j, t),
                      "A %s part needs a string %s.", t, t);
                return -1;
            }
            if (add_text(blocks, text->valuestring)) {
                add_cache_point(blocks, points && has_cache_control(part));
            }
        } else if (strcmp(t, "image_url") == 0 && images) {
            const cJSON *iu = sllmp_json_get(part, "image_url");
            const cJSON *url = cJSON_IsString(iu) ? iu : sllmp_json_get(iu, "url");
            cJSON *b;

            if (!cJSON_IsString(url)) {
                xfail(c->e, param(c, "messages[%d].content[%d].image_url.url", i, j),
                      "An image_url part needs a url.");
                return -1;
            }
            if ((b = image_block(c, url->valuestring, i, j)) == NULL) {
                return -1;
            }
            cJSON_AddItemToArray(blocks, b);
            add_cache_point(blocks, points && has_cache_control(part));
        } else {
            xfail(c->e, param(c, "messages[%d].content[%d].type", i, j),
                  "Content parts of type '%.*s' are not supported for this model.",
                  sllmp_utf8_prec(t, 40), t);
            return -1;
        }
        j++;
    }
    return 0;
}

/* An assistant's tool_calls as toolUse blocks; -1 with *e filled for bad arguments. */
static int
tool_use_blocks(conv_t *c, const cJSON *calls, int i, cJSON *blocks)
{
    const cJSON *call;
    int j = 0;

    cJSON_ArrayForEach(call, calls)
    {
        const cJSON *id = sllmp_json_get(call, "id"), *fn = sllmp_json_get(call, "function");
        const cJSON *name = sllmp_json_get(fn, "name");
        cJSON *input, *b, *tu;

        if (!cJSON_IsString(id) || !cJSON_IsString(name)) {
            xfail(c->e, param(c, "messages[%d].tool_calls[%d]", i, j),
                  "A tool call needs an id and a function name.");
            return -1;
        }
        /* the Anthropic translator's rule and words: a toolUse input is an object too */
        input = sllmp_tool_input(sllmp_json_get(fn, "arguments"));
        if (input == NULL) {
            xfail(c->e, param(c, "messages[%d].tool_calls[%d].function.arguments", i, j),
                  "'%s' must be a JSON object encoded as a string (Bedrock takes tool input as "
                  "an object).",
                  c->param);
            return -1;
        }
        b = cJSON_CreateObject();
        tu = cJSON_AddObjectToObject(b, "toolUse");
        /* a Gemini thought signature in the id (a conversation begun there): toolUseId takes
         * [a-zA-Z0-9_-], 64 at most, so the id before it goes, as on the toolResult */
        cJSON_AddItemToObject(tu, "toolUseId", sllmp_bare_tool_id(id->valuestring));
        cJSON_AddStringToObject(tu, "name", name->valuestring);
        cJSON_AddItemToObject(tu, "input", input);
        cJSON_AddItemToArray(blocks, b);
        /* a breakpoint on a tool call (LiteLLM's shape of an Anthropic tool_use's) */
        add_cache_point(blocks, c->cache && has_cache_control(call));
        j++;
    }
    return 0;
}

/*
 * An assistant message's LiteLLM thinking_blocks as reasoningContent blocks appended to
 * `blocks` (see the top of the file): the entry's own fields only, never its "index".
 */
static void
reasoning_blocks(const cJSON *tb, cJSON *blocks)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, tb)
    {
        const cJSON *type = sllmp_json_get(item, "type"), *text = sllmp_json_get(item, "thinking");
        const cJSON *sig = sllmp_json_get(item, "signature"), *data = sllmp_json_get(item, "data");
        const char *t = cJSON_IsString(type) ? type->valuestring : "";
        cJSON *b, *rc;

        if (strcmp(t, "thinking") == 0 && cJSON_IsString(sig) && *sig->valuestring != '\0') {
            cJSON *rt;

            b = cJSON_CreateObject();
            rc = cJSON_AddObjectToObject(b, "reasoningContent");
            rt = cJSON_AddObjectToObject(rc, "reasoningText");
            cJSON_AddStringToObject(rt, "text", cJSON_IsString(text) ? text->valuestring : "");
            cJSON_AddStringToObject(rt, "signature", sig->valuestring);
        } else if (strcmp(t, "redacted_thinking") == 0 && cJSON_IsString(data) &&
                   *data->valuestring != '\0') {
            b = cJSON_CreateObject();
            rc = cJSON_AddObjectToObject(b, "reasoningContent");
            cJSON_AddStringToObject(rc, "redactedContent", data->valuestring);
        } else {
            continue; /* unsigned, empty, or not reasoning: nothing Bedrock would take */
        }
        cJSON_AddItemToArray(blocks, b);
    }
}

/* A tool message as a toolResult block. */
static cJSON *
tool_result_block(conv_t *c, const cJSON *m, int i)
{
    const cJSON *id = sllmp_json_get(m, "tool_call_id");
    cJSON *b, *tr, *inner = cJSON_CreateArray();

    if (!cJSON_IsString(id)) {
        cJSON_Delete(inner);
        return xfail(c->e, param(c, "messages[%d].tool_call_id", i),
                     "A tool message needs a tool_call_id.");
    }
    if (content_blocks(c, m, i, 0, 0, inner) < 0) {
        cJSON_Delete(inner);
        return NULL;
    }
    if (cJSON_GetArraySize(inner) == 0) {
        /* An empty (or blank) result: the Anthropic translator leaves its content out, but
         * Converse requires toolResult.content, and refuses a blank text there as anywhere
         * (Claude: "text content blocks must be non-empty"). A word that says it is empty. */
        add_text(inner, SLLMP_BEDROCK_EMPTY_RESULT);
    }
    b = cJSON_CreateObject();
    tr = cJSON_AddObjectToObject(b, "toolResult");
    cJSON_AddItemToObject(tr, "toolUseId", sllmp_bare_tool_id(id->valuestring));
    cJSON_AddItemToObject(tr, "content", inner);
    cJSON_AddStringToObject(tr, "status", "success");
    return b;
}

/* One OpenAI message into c->messages or c->system; -1 with *e filled. */
static int
add_message(conv_t *c, const cJSON *m, int i)
{
    const cJSON *role = sllmp_json_get(m, "role");
    const char *r = cJSON_IsString(role) ? role->valuestring : "";
    cJSON *blocks = cJSON_CreateArray();

    if (strcmp(r, "system") == 0 || strcmp(r, "developer") == 0) {
        if (content_blocks(c, m, i, 0, 1, blocks) < 0) {
            goto fail;
        }
        while (cJSON_GetArraySize(blocks) > 0) {
            cJSON_AddItemToArray(c->system, cJSON_DetachItemFromArray(blocks, 0));
        }
        cJSON_Delete(blocks);
        return 0;
    }
    if (strcmp(r, "user") == 0) {
        if (content_blocks(c, m, i, 1, 1, blocks) < 0) {
            goto fail;
        }
        add_turn(c->messages, "user", blocks);
        return 0;
    }
    if (strcmp(r, "assistant") == 0) {
        const cJSON *calls = sllmp_json_get(m, "tool_calls");

        if (c->anthropic) {
            reasoning_blocks(sllmp_json_get(m, "thinking_blocks"), blocks); /* first in the turn */
        }
        if (content_blocks(c, m, i, 0, 1, blocks) < 0 ||
            (cJSON_IsArray(calls) && tool_use_blocks(c, calls, i, blocks) < 0)) {
            goto fail;
        }
        add_turn(c->messages, "assistant", blocks);
        return 0;
    }
    if (strcmp(r, "tool") == 0) {
        cJSON *b = tool_result_block(c, m, i);
        const cJSON *part;
        int marked = has_cache_control(m);

        if (b == NULL) {
            goto fail;
        }
        cJSON_AddItemToArray(blocks, b);
        /* as LiteLLM: a mark on the message or on any of its parts, after the whole result */
        cJSON_ArrayForEach(part, sllmp_json_get(m, "content")) /* a string has no parts */
        {
            marked |= has_cache_control(part);
        }
        add_cache_point(blocks, c->cache_all && marked);
        add_turn(c->messages, "user", blocks);
        return 0;
    }
    xfail(c->e, param(c, "messages[%d].role", i),
          "Messages with role '%.*s' are not supported for this model.", sllmp_utf8_prec(r, 32), r);
fail:
    cJSON_Delete(blocks);
    return -1;
}

static int
inference_config(conv_t *c, const cJSON *req, cJSON *body)
{
    const cJSON *max = sllmp_json_get(req, "max_completion_tokens"), *v,
                *stop = sllmp_json_get(req, "stop");
    cJSON *ic = cJSON_CreateObject();

    if (!cJSON_IsNumber(max)) {
        max = sllmp_json_get(req, "max_tokens");
    }
    if (cJSON_IsNumber(max)) {
        /* past any model's limit, Bedrock says so; kept in range for the conversion */
        double m = max->valuedouble > INT_MAX   ? INT_MAX
                   : max->valuedouble < INT_MIN ? INT_MIN
                                                : max->valuedouble;

        cJSON_AddNumberToObject(ic, "maxTokens", (double)(long)m);
    }
    if (cJSON_IsNumber(v = sllmp_json_get(req, "temperature")) && !c->strict) {
        cJSON_AddNumberToObject(ic, "temperature", v->valuedouble);
    }
    if (cJSON_IsNumber(v = sllmp_json_get(req, "top_p")) && !c->strict) {
        cJSON_AddNumberToObject(ic, "topP", v->valuedouble);
    }
    if (cJSON_IsString(stop) || cJSON_IsArray(stop)) {
        cJSON *seqs = cJSON_CreateArray();

        if (cJSON_IsString(stop)) {
            if (*stop->valuestring != '\0') {
                cJSON_AddItemToArray(seqs, cJSON_CreateString(stop->valuestring));
            }
        } else {
            cJSON_ArrayForEach(v, stop)
            {
                if (!cJSON_IsString(v)) {
                    cJSON_Delete(seqs);
                    cJSON_Delete(ic);
                    xfail(c->e, "stop", "stop must be a string or an array of strings.");
                    return -1;
                }
                if (*v->valuestring != '\0') {
                    cJSON_AddItemToArray(seqs, cJSON_CreateString(v->valuestring));
                }
            }
        }
        if (cJSON_GetArraySize(seqs) > 0) {
            cJSON_AddItemToObject(ic, "stopSequences", seqs);
        } else {
            cJSON_Delete(seqs);
        }
    }
    if (ic->child != NULL) {
        cJSON_AddItemToObject(body, "inferenceConfig", ic);
    } else {
        cJSON_Delete(ic);
    }
    return 0;
}

static int
tool_config(conv_t *c, const cJSON *req, cJSON *body)
{
    const cJSON *tools = sllmp_json_get(req, "tools"), *choice = sllmp_json_get(req, "tool_choice"),
                *t;
    cJSON *tc, *list, *tch = NULL;
    int j = 0;

    if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0) {
        return 0;
    }
    list = cJSON_CreateArray();
    cJSON_ArrayForEach(t, tools)
    {
        const cJSON *type = sllmp_json_get(t, "type"), *fn = sllmp_json_get(t, "function");
        const cJSON *name = sllmp_json_get(fn, "name"), *desc = sllmp_json_get(fn, "description");
        const cJSON *params = sllmp_json_get(fn, "parameters");
        cJSON *spec, *ts, *schema;

        if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0 ||
            !cJSON_IsString(name)) {
            cJSON_Delete(list);
            xfail(c->e, param(c, "tools[%d]", j),
                  "Only function tools with a name are supported for this model.");
            return -1;
        }
        spec = cJSON_CreateObject();
        ts = cJSON_AddObjectToObject(spec, "toolSpec");
        cJSON_AddStringToObject(ts, "name", name->valuestring);
        if (cJSON_IsString(desc) && *desc->valuestring != '\0') {
            cJSON_AddStringToObject(ts, "description", desc->valuestring);
        }
        schema = cJSON_AddObjectToObject(ts, "inputSchema");
        if (cJSON_IsObject(params)) {
            cJSON_AddItemToObject(schema, "json", cJSON_Duplicate(params, 1));
        } else {
            cJSON *js = cJSON_AddObjectToObject(schema, "json");

            cJSON_AddStringToObject(js, "type", "object");
            cJSON_AddObjectToObject(js, "properties");
        }
        cJSON_AddItemToArray(list, spec);
        /* LiteLLM reads the tool's own cache_control, beside "function" */
        add_cache_point(list, c->cache_all && has_cache_control(t));
        j++;
    }
    if (cJSON_IsString(choice)) {
        if (strcmp(choice->valuestring, "auto") == 0) {
            tch = cJSON_CreateObject();
            cJSON_AddObjectToObject(tch, "auto");
        } else if (strcmp(choice->valuestring, "required") == 0) {
            tch = cJSON_CreateObject();
            cJSON_AddObjectToObject(tch, "any");
        } else if (strcmp(choice->valuestring, "none") == 0) {
            /* Converse has no "none": the tools stay, unforced, since a history with toolUse
             * blocks is rejected without a toolConfig */
        } else {
            cJSON_Delete(list);
            xfail(c->e, "tool_choice", "tool_choice must be none, auto, required or a function.");
            return -1;
        }
    } else if (cJSON_IsObject(choice)) {
        const cJSON *name = sllmp_json_get(sllmp_json_get(choice, "function"), "name");

        if (!cJSON_IsString(name)) {
            cJSON_Delete(list);
            xfail(c->e, "tool_choice", "tool_choice needs function.name.");
            return -1;
        }
        tch = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(tch, "tool"), "name", name->valuestring);
    }
    tc = cJSON_AddObjectToObject(body, "toolConfig");
    cJSON_AddItemToObject(tc, "tools", list);
    if (tch != NULL) {
        cJSON_AddItemToObject(tc, "toolChoice", tch);
    }
    return 0;
}

/*
 * reasoning_effort for an Anthropic model, once the rest of the body is built (see the top of
 * the file): additionalModelRequestFields.thinking, and inferenceConfig made to suit it.
 */
static void
thinking(const cJSON *req, cJSON *body)
{
    const cJSON *effort = sllmp_json_get(req, "reasoning_effort");
    long budget =
        sllmp_anthropic_thinking_budget(cJSON_IsString(effort) ? effort->valuestring : NULL);
    double max = SLLMP_ANTHROPIC_DEFAULT_MAX;
    cJSON *ic, *th, *v;

    if (budget <= 0 || !sllmp_anthropic_thinking_allowed(body)) {
        return;
    }
    th = cJSON_AddObjectToObject(cJSON_AddObjectToObject(body, "additionalModelRequestFields"),
                                 "thinking");
    cJSON_AddStringToObject(th, "type", "enabled");
    cJSON_AddNumberToObject(th, "budget_tokens", (double)budget);
    ic = cJSON_GetObjectItemCaseSensitive(body, "inferenceConfig");
    if (ic == NULL) {
        ic = cJSON_AddObjectToObject(body, "inferenceConfig");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ic, "temperature");
    cJSON_DeleteItemFromObjectCaseSensitive(ic, "topP");
    v = cJSON_GetObjectItemCaseSensitive(ic, "maxTokens");
    if (cJSON_IsNumber(v)) {
        max = v->valuedouble;
    }
    if (max < (double)(budget + SLLMP_ANTHROPIC_THINKING_ROOM)) {
        max = (double)(budget + SLLMP_ANTHROPIC_THINKING_ROOM);
    }
    if (v != NULL) {
        cJSON_SetNumberValue(v, max);
    } else {
        cJSON_AddNumberToObject(ic, "maxTokens", max);
    }
}

/*
 * Whether Converse can force a tool on the model: ToolChoice's any and tool are Claude's,
 * Mistral Large's and Nova's (AWS's ToolChoice reference; LiteLLM asks its model map, which
 * says the same of Bedrock's models). Others get the JSON tool unforced.
 */
static int
forces_tools(const char *model_id)
{
    return model_id != NULL &&
           (strstr(model_id, "anthropic.") != NULL || strstr(model_id, "amazon.nova") != NULL ||
            strstr(model_id, "mistral.") != NULL);
}

/*
 * response_format json_object / json_schema, once the client's tools are in the body, as
 * LiteLLM's AmazonConverseConfig does it (_translate_response_format_param): a tool named
 * SLLMP_BEDROCK_JSON_TOOL whose input schema is the schema (json_schema.schema as it is, its
 * description the tool's; for json_object, or a json_schema without one, any object:
 * {"type":"object","additionalProperties":true,"properties":{}}), forced with toolChoice.tool
 * unless the client chose its own tool_choice (none aside: Converse has no none, and the client
 * calling none of its tools leaves the JSON tool), the model cannot be forced (forces_tools), or
 * reasoning_effort turns Claude's thinking on, which a forced tool would turn off. The answer's
 * translators take that tool's input back as content (sllmp_bedrock_json_mode()). Unlike
 * LiteLLM, the client's tools come first (a cache_control on its last one still marks them all)
 * and one of them by the JSON tool's name is a 400, as its calls would be taken for the answer.
 */
static int
response_format(conv_t *c, const cJSON *req, const char *model_id, cJSON *body)
{
    const cJSON *rf = sllmp_json_get(req, "response_format"), *type = sllmp_json_get(rf, "type");
    const cJSON *js = sllmp_json_get(rf, "json_schema"), *schema = sllmp_json_get(js, "schema");
    const cJSON *desc = sllmp_json_get(js, "description"),
                *effort = sllmp_json_get(req, "reasoning_effort"), *t;
    cJSON *tc, *tools, *spec, *ts, *json;
    long budget;
    int j = 0, thinks;

    if (rf == NULL || cJSON_IsNull(rf)) {
        return 0;
    }
    if (!cJSON_IsObject(rf)) {
        xfail(c->e, "response_format", "response_format must be an object.");
        return -1;
    }
    if (!cJSON_IsString(type) ||
        (strcmp(type->valuestring, "text") != 0 && strcmp(type->valuestring, "json_object") != 0 &&
         strcmp(type->valuestring, "json_schema") != 0)) {
        xfail(c->e, "response_format.type",
              "response_format.type must be text, json_object or json_schema.");
        return -1;
    }
    if (strcmp(type->valuestring, "text") == 0) {
        return 0;
    }
    if (strcmp(type->valuestring, "json_object") == 0 || cJSON_IsNull(schema)) {
        schema = NULL;
    } else if (schema != NULL && !cJSON_IsObject(schema)) {
        /* OpenAI refuses it too */
        xfail(c->e, "response_format.json_schema.schema",
              "response_format.json_schema.schema must be a JSON Schema object.");
        return -1;
    }
    cJSON_ArrayForEach(t, sllmp_json_get(req, "tools"))
    {
        const cJSON *name = sllmp_json_get(sllmp_json_get(t, "function"), "name");

        if (cJSON_IsString(name) && strcmp(name->valuestring, SLLMP_BEDROCK_JSON_TOOL) == 0) {
            xfail(c->e, param(c, "tools[%d].function.name", j),
                  "A tool named " SLLMP_BEDROCK_JSON_TOOL
                  " cannot go with response_format on this model: the gateway answers in JSON "
                  "through a tool of that name.");
            return -1;
        }
        j++;
    }

    /* decided on the client's own tools, before the JSON tool joins them */
    budget = sllmp_anthropic_thinking_budget(cJSON_IsString(effort) ? effort->valuestring : NULL);
    thinks = c->anthropic && budget > 0 && sllmp_anthropic_thinking_allowed(body);

    tc = cJSON_GetObjectItemCaseSensitive(body, "toolConfig");
    if (tc == NULL) {
        tc = cJSON_AddObjectToObject(body, "toolConfig");
    }
    tools = cJSON_GetObjectItemCaseSensitive(tc, "tools");
    if (tools == NULL) {
        tools = cJSON_AddArrayToObject(tc, "tools");
    }
    spec = cJSON_CreateObject();
    ts = cJSON_AddObjectToObject(spec, "toolSpec");
    cJSON_AddStringToObject(ts, "name", SLLMP_BEDROCK_JSON_TOOL);
    if (cJSON_IsString(desc) && *desc->valuestring != '\0') {
        cJSON_AddStringToObject(ts, "description", desc->valuestring);
    }
    if (schema != NULL) {
        cJSON_AddItemToObject(cJSON_AddObjectToObject(ts, "inputSchema"), "json",
                              cJSON_Duplicate(schema, 1));
    } else {
        json = cJSON_AddObjectToObject(cJSON_AddObjectToObject(ts, "inputSchema"), "json");
        cJSON_AddStringToObject(json, "type", "object");
        cJSON_AddTrueToObject(json, "additionalProperties");
        cJSON_AddObjectToObject(json, "properties");
    }
    cJSON_AddItemToArray(tools, spec);
    if (cJSON_GetObjectItemCaseSensitive(tc, "toolChoice") == NULL && !thinks &&
        forces_tools(model_id)) {
        cJSON_AddStringToObject(
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(tc, "toolChoice"), "tool"), "name",
            SLLMP_BEDROCK_JSON_TOOL);
    }
    return 0;
}

int
sllmp_bedrock_json_mode(const cJSON *req)
{
    const cJSON *type = sllmp_json_get(sllmp_json_get(req, "response_format"), "type");

    return cJSON_IsString(type) && (strcmp(type->valuestring, "json_object") == 0 ||
                                    strcmp(type->valuestring, "json_schema") == 0);
}

cJSON *
sllmp_bedrock_request(const cJSON *req, const char *model_id, sllmp_xerr_t *e)
{
    const cJSON *msgs = sllmp_json_get(req, "messages"), *n = sllmp_json_get(req, "n"), *m;
    cJSON *body = cJSON_CreateObject();
    conv_t c;
    int i = 0;

    memset(&c, 0, sizeof(c));
    c.e = e;
    c.anthropic = model_id != NULL && strstr(model_id, "anthropic.") != NULL;
    c.strict = c.anthropic && sllmp_anthropic_strict_sampling(model_id);
    c.cache_all = c.anthropic;
    c.cache = c.anthropic || (model_id != NULL && strstr(model_id, "amazon.nova") != NULL);
    if (cJSON_IsNumber(n) && n->valuedouble > 1) {
        cJSON_Delete(body);
        return xfail(e, "n", "Bedrock returns one choice: n must be 1.");
    }
    if (!cJSON_IsArray(msgs)) {
        cJSON_Delete(body);
        return xfail(e, "messages", "messages must be an array.");
    }
    c.messages = cJSON_AddArrayToObject(body, "messages");
    c.system = cJSON_CreateArray();
    cJSON_ArrayForEach(m, msgs)
    {
        if (add_message(&c, m, i) < 0) {
            goto fail;
        }
        i++;
    }
    if (c.anthropic) {
        /* Claude's own rule, passed on by Converse; other models are not known to have it */
        sllmp_anthropic_strip_prefill(c.messages);
    }
    if (cJSON_GetArraySize(c.messages) == 0) {
        xfail(e, "messages", "The conversation needs at least one user message.");
        goto fail;
    }
    if (cJSON_GetArraySize(c.system) > 0) {
        cJSON_AddItemToObject(body, "system", c.system);
    } else {
        cJSON_Delete(c.system);
    }
    c.system = NULL;
    if (inference_config(&c, req, body) < 0 || tool_config(&c, req, body) < 0 ||
        response_format(&c, req, model_id, body) < 0) {
        goto fail;
    }
    if (c.anthropic) {
        thinking(req, body);
    }
    return body;
fail:
    cJSON_Delete(c.system);
    cJSON_Delete(body);
    return NULL;
}

void
sllmp_bedrock_anthropic_beta(cJSON *body, const char *header)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "anthropic_beta");
    const char *p = header;

    if (header == NULL || (list != NULL && !cJSON_IsArray(list))) {
        return;
    }
    while (*p != '\0') {
        const char *next = p + strcspn(p, ","), *end = next;
        const cJSON *have;
        int dup = 0;

        while (p < end && isspace((unsigned char)*p)) {
            p++;
        }
        while (end > p && isspace((unsigned char)end[-1])) {
            end--;
        }
        cJSON_ArrayForEach(have, list)
        {
            if (cJSON_IsString(have) && strlen(have->valuestring) == (size_t)(end - p) &&
                strncmp(have->valuestring, p, (size_t)(end - p)) == 0) {
                dup = 1;
            }
        }
        if (end > p && !dup) {
            char *flag = sllmp_xstrndup(p, (size_t)(end - p));

            if (list == NULL) {
                list = cJSON_AddArrayToObject(body, "anthropic_beta");
            }
            cJSON_AddItemToArray(list, cJSON_CreateString(flag));
            free(flag);
        }
        p = *next == ',' ? next + 1 : next;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Response                                                                                 */

static const char *
finish_reason(const char *stop_reason)
{
    if (stop_reason == NULL) {
        return "stop";
    }
    if (strcmp(stop_reason, "max_tokens") == 0 ||
        strcmp(stop_reason, "model_context_window_exceeded") == 0) {
        return "length";
    }
    if (strcmp(stop_reason, "tool_use") == 0) {
        return "tool_calls";
    }
    if (strcmp(stop_reason, "guardrail_intervened") == 0 ||
        strcmp(stop_reason, "content_filtered") == 0) {
        return "content_filter";
    }
    return "stop"; /* end_turn, stop_sequence and whatever AWS adds later */
}

static long
num(const cJSON *o, const char *name)
{
    return sllmp_usage_count(sllmp_json_get(o, name));
}

/* Converse usage into buckets: inputTokens excludes cache reads and writes, as Anthropic's. */
static void
usage_from_bedrock(sllmp_usage_t *u, const cJSON *usage)
{
    if (!cJSON_IsObject(usage)) {
        return;
    }
    u->input = num(usage, "inputTokens");
    u->cache_read = num(usage, "cacheReadInputTokens");
    u->cache_write = num(usage, "cacheWriteInputTokens");
    u->output = num(usage, "outputTokens");
    u->reasoning = 0; /* counted inside outputTokens */
    u->seen = 1;
    u->estimated = 0;
}

/*
 * A reasoningContent block, as LiteLLM gives it (and as the Anthropic translator does): its
 * text joins *reasoning; a signed one ({"reasoningText":{"text","signature"}}) and a redacted
 * one ({"redactedContent"}) get a thinking_blocks entry, as in streams. An unsigned one (models
 * that reason without signing, DeepSeek) gets none: there is nothing to send back.
 */
static void
reasoning_block(const cJSON *think, sllmp_buf_t *reasoning, int *has_reasoning, cJSON **blocks)
{
    const cJSON *rt = sllmp_json_get(think, "reasoningText"), *text = sllmp_json_get(rt, "text");
    const cJSON *sig = sllmp_json_get(rt, "signature"),
                *redacted = sllmp_json_get(think, "redactedContent");
    cJSON *entry;

    if (cJSON_IsString(text)) {
        sllmp_buf_appends(reasoning, text->valuestring);
        *has_reasoning = 1;
    }
    entry = sllmp_thinking_entry(-1, cJSON_IsString(text) ? text->valuestring : NULL,
                                 cJSON_IsString(sig) ? sig->valuestring : NULL,
                                 cJSON_IsString(redacted) ? redacted->valuestring : NULL);
    if (entry != NULL) {
        if (*blocks == NULL) {
            *blocks = cJSON_CreateArray();
        }
        cJSON_AddItemToArray(*blocks, entry);
    }
}

cJSON *
sllmp_bedrock_response(const cJSON *resp, const char *model, long created, sllmp_usage_t *u,
                       int json_mode)
{
    const cJSON *msg = sllmp_json_get(sllmp_json_get(resp, "output"), "message");
    const cJSON *content = sllmp_json_get(msg, "content"),
                *stop = sllmp_json_get(resp, "stopReason"), *b;
    cJSON *out, *calls = NULL, *blocks = NULL;
    sllmp_buf_t text, reasoning, json;
    int has_reasoning = 0, has_json = 0;
    const char *finish;
    sllmp_usage_t local;
    char id[9 + 25];

    if (!cJSON_IsArray(content)) {
        return NULL;
    }
    if (u == NULL) {
        memset(&local, 0, sizeof(local)); /* an answer without usage leaves it at zero */
        u = &local;
    }
    sllmp_buf_init(&text, 0);
    sllmp_buf_init(&reasoning, 0);
    sllmp_buf_init(&json, 0);
    cJSON_ArrayForEach(b, content)
    {
        const cJSON *t = sllmp_json_get(b, "text"), *tu = sllmp_json_get(b, "toolUse");
        const cJSON *think = sllmp_json_get(b, "reasoningContent");

        if (cJSON_IsString(t)) {
            sllmp_buf_appends(&text, t->valuestring);
        } else if (cJSON_IsObject(tu) && json_mode && cJSON_IsString(sllmp_json_get(tu, "name")) &&
                   strcmp(sllmp_json_get(tu, "name")->valuestring, SLLMP_BEDROCK_JSON_TOOL) == 0) {
            /* response_format's tool: its input is the answer */
            char *in = sllmp_json_get(tu, "input") != NULL
                           ? cJSON_PrintUnformatted(sllmp_json_get(tu, "input"))
                           : NULL;

            sllmp_buf_appends(&json, in != NULL ? in : "{}");
            cJSON_free(in);
            has_json = 1;
        } else if (cJSON_IsObject(tu)) {
            const cJSON *tid = sllmp_json_get(tu, "toolUseId"), *name = sllmp_json_get(tu, "name");
            const cJSON *input = sllmp_json_get(tu, "input");
            cJSON *call = cJSON_CreateObject(), *fn;
            char *args = input != NULL ? cJSON_PrintUnformatted(input) : NULL;

            if (calls == NULL) {
                calls = cJSON_CreateArray();
            }
            cJSON_AddStringToObject(call, "id", cJSON_IsString(tid) ? tid->valuestring : "");
            cJSON_AddStringToObject(call, "type", "function");
            fn = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(fn, "name", cJSON_IsString(name) ? name->valuestring : "");
            cJSON_AddStringToObject(fn, "arguments", args != NULL ? args : "{}");
            cJSON_free(args);
            cJSON_AddItemToArray(calls, call);
        } else if (cJSON_IsObject(think)) {
            reasoning_block(think, &reasoning, &has_reasoning, &blocks);
        }
        /* anything newer: not part of an OpenAI message */
    }

    memcpy(id, "chatcmpl-", 9);
    sllmp_random_hex(id + 9, 12);
    finish = finish_reason(cJSON_IsString(stop) ? stop->valuestring : NULL);
    if (has_json && calls == NULL && strcmp(finish, "tool_calls") == 0) {
        finish = "stop"; /* the model answered; no tool call is left for the client */
    }
    usage_from_bedrock(u, sllmp_json_get(resp, "usage"));
    out = sllmp_chat_answer(&(sllmp_chat_answer_t){
        .id = id,
        .model = model,
        .created = created,
        /* the JSON alone, as LiteLLM gives it: a preamble would keep the content from parsing */
        .content = has_json       ? sllmp_buf_cstr(&json)
                   : text.len > 0 ? text.ptr
                                  : NULL,
        .reasoning = has_reasoning ? sllmp_buf_cstr(&reasoning) : NULL,
        .thinking_blocks = blocks,
        .tool_calls = calls,
        .finish = finish,
        .usage = u});
    sllmp_buf_free(&text);
    sllmp_buf_free(&reasoning);
    sllmp_buf_free(&json);
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Stream                                                                                   */

static int
block_index(const cJSON *payload)
{
    const cJSON *i = sllmp_json_get(payload, "contentBlockIndex");

    /* valueint: cJSON cuts it to int's range, where a cast of 1e300 would be undefined */
    return cJSON_IsNumber(i) ? i->valueint : -1;
}

/* The end of the JSON tool's block (JSON mode): an input that sent nothing is {}, as the
 * unstreamed answer has it. */
static int
json_stop(sllmp_xstream_t *s)
{
    s->json_open = 0;
    return s->json_args ? 0 : sllmp_xstream_text(s, "{}", 2);
}

int
sllmp_bedrock_stream_event(sllmp_xstream_t *s, const char *event_type, const cJSON *payload)
{
    const char *ev = event_type != NULL ? event_type : "";

    if (s->ended) {
        return 0; /* metadata is the last event: nothing goes out after its usage chunk */
    }
    if (strcmp(ev, "messageStart") == 0) {
        return sllmp_xstream_start(s);
    }
    if (strcmp(ev, "contentBlockStart") == 0) {
        const cJSON *tu = sllmp_json_get(sllmp_json_get(payload, "start"), "toolUse");

        if (cJSON_IsObject(tu)) {
            const cJSON *id = sllmp_json_get(tu, "toolUseId"), *name = sllmp_json_get(tu, "name");

            if (s->json_mode && cJSON_IsString(name) &&
                strcmp(name->valuestring, SLLMP_BEDROCK_JSON_TOOL) == 0) {
                /* response_format's tool: its input streams as content; an open block ends
                 * first, as a tool call's start would end it */
                int rc = s->tool_open   ? sllmp_xstream_block_stop(s, s->tool_block)
                         : s->json_open ? json_stop(s)
                                        : 0;

                s->json_open = 1;
                s->json_block = block_index(payload);
                s->json_args = 0;
                s->json_seen = 1;
                return rc;
            }
            if (s->json_open) {
                int rc = json_stop(s);

                if (rc != 0) {
                    return rc;
                }
            }
            return sllmp_xstream_tool_start(s, block_index(payload),
                                            cJSON_IsString(id) ? id->valuestring : NULL,
                                            cJSON_IsString(name) ? name->valuestring : NULL, NULL);
        }
        return 0;
    }
    if (strcmp(ev, "contentBlockDelta") == 0) {
        const cJSON *delta = sllmp_json_get(payload, "delta");
        const cJSON *text = sllmp_json_get(delta, "text");
        const cJSON *input = sllmp_json_get(sllmp_json_get(delta, "toolUse"), "input");
        const cJSON *think = sllmp_json_get(delta, "reasoningContent");

        if (cJSON_IsString(text)) {
            return sllmp_xstream_text(s, text->valuestring, strlen(text->valuestring));
        }
        if (cJSON_IsString(input) && s->json_open && block_index(payload) == s->json_block) {
            if (*input->valuestring == '\0') {
                return 0;
            }
            s->json_args = 1;
            return sllmp_xstream_text(s, input->valuestring, strlen(input->valuestring));
        }
        if (cJSON_IsString(input)) {
            return sllmp_xstream_tool_args(s, block_index(payload), input->valuestring,
                                           strlen(input->valuestring));
        }
        if (cJSON_IsObject(think)) {
            /* one of text, signature (the block's last delta) or redactedContent */
            const cJSON *v;

            if (cJSON_IsString(v = sllmp_json_get(think, "text"))) {
                return sllmp_xstream_reasoning(s, v->valuestring, strlen(v->valuestring));
            }
            if (cJSON_IsString(v = sllmp_json_get(think, "signature"))) {
                return sllmp_xstream_thinking_signature(s, v->valuestring);
            }
            if (cJSON_IsString(v = sllmp_json_get(think, "redactedContent"))) {
                return sllmp_xstream_redacted_thinking(s, v->valuestring);
            }
        }
        return 0; /* citations, ... */
    }
    if (strcmp(ev, "contentBlockStop") == 0) {
        if (s->json_open && block_index(payload) == s->json_block) {
            return json_stop(s);
        }
        return sllmp_xstream_block_stop(s, block_index(payload));
    }
    if (strcmp(ev, "messageStop") == 0) {
        const cJSON *stop = sllmp_json_get(payload, "stopReason");
        const char *finish = finish_reason(cJSON_IsString(stop) ? stop->valuestring : NULL);

        if (s->json_open) {
            int rc = json_stop(s);

            if (rc != 0) {
                return rc;
            }
        }
        if (s->json_seen && s->tools == 0 && strcmp(finish, "tool_calls") == 0) {
            finish = "stop"; /* the model answered; no tool call is left for the client */
        }
        return sllmp_xstream_finish_reason(s, finish);
    }
    if (strcmp(ev, "metadata") == 0) {
        usage_from_bedrock(&s->usage, sllmp_json_get(payload, "usage"));
        s->ended = 1;
        return sllmp_xstream_finish(s);
    }
    return 0; /* new event types: ignored, as AWS asks */
}

int
sllmp_bedrock_exception_status(const char *type)
{
    static const struct {
        const char *name;
        int status;
    } map[] = {
        {"throttlingException", 429},         {"modelNotReadyException", 429},
        {"validationException", 400},         {"serviceQuotaExceededException", 400},
        {"accessDeniedException", 403},       {"unrecognizedClientException", 403},
        {"invalidSignatureException", 403},   {"expiredTokenException", 403},
        {"resourceNotFoundException", 404},   {"modelTimeoutException", 408},
        {"modelStreamErrorException", 424},   {"modelErrorException", 424},
        {"serviceUnavailableException", 503}, {"internalServerException", 500},
    };
    size_t n;

    if (type == NULL) {
        return 500;
    }
    /* x-amzn-ErrorType may carry a namespace after ':'; HTTP errors capitalise the name */
    n = strcspn(type, ":");
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strlen(map[i].name) == n && strncasecmp(type, map[i].name, n) == 0) {
            return map[i].status;
        }
    }
    return 500;
}

/* ---------------------------------------------------------------------------------------- */
/* Embeddings                                                                               */

sllmp_bedrock_embed_t
sllmp_bedrock_embed_kind(const char *model_id)
{
    return model_id != NULL && strstr(model_id, "cohere.embed") != NULL ? SLLMP_BEDROCK_EMBED_COHERE
                                                                        : SLLMP_BEDROCK_EMBED_TITAN;
}

int
sllmp_embed_input_count(const cJSON *req)
{
    const cJSON *in = sllmp_json_get(req, "input"), *v;
    int n = 0;

    if (cJSON_IsString(in)) {
        return *in->valuestring != '\0' ? 1 : -1;
    }
    if (!cJSON_IsArray(in)) {
        return -1;
    }
    cJSON_ArrayForEach(v, in)
    {
        if (!cJSON_IsString(v) || *v->valuestring == '\0') {
            return -1;
        }
        n++;
    }
    return n > 0 ? n : -1;
}

/* The text at index i of the input (a string counts as one). */
static const char *
input_text(const cJSON *in, int i)
{
    const cJSON *v = cJSON_IsString(in) ? (i == 0 ? in : NULL) : cJSON_GetArrayItem(in, i);

    return v != NULL && cJSON_IsString(v) ? v->valuestring : NULL;
}

cJSON *
sllmp_bedrock_embed_request(sllmp_bedrock_embed_t kind, const cJSON *req, int first, int count,
                            sllmp_xerr_t *e)
{
    const cJSON *in = sllmp_json_get(req, "input"), *dims = sllmp_json_get(req, "dimensions");
    int total = sllmp_embed_input_count(req);
    cJSON *body;

    if (total < 0) {
        const cJSON *v = cJSON_IsArray(in) ? cJSON_GetArrayItem(in, 0) : NULL;

        if (cJSON_IsNumber(v) || cJSON_IsArray(v)) {
            return xfail(e, "input",
                         "Bedrock embedding models take text: token arrays are not supported.");
        }
        return xfail(e, "input",
                     "input must be a non-empty string or an array of non-empty "
                     "strings.");
    }
    if (first < 0 || count < 1 || first + count > total) {
        return xfail(e, "input", "input has %d texts.", total);
    }
    body = cJSON_CreateObject();
    if (kind == SLLMP_BEDROCK_EMBED_COHERE) {
        cJSON *texts = cJSON_AddArrayToObject(body, "texts");

        for (int i = first; i < first + count; i++) {
            cJSON_AddItemToArray(texts, cJSON_CreateString(input_text(in, i)));
        }
        cJSON_AddStringToObject(body, "input_type", "search_document");
        /* an over-long text is an error, as OpenAI makes it, never silently cut */
        cJSON_AddStringToObject(body, "truncate", "NONE");
        return body;
    }
    /* Titan embeds one text a call: the caller loops, count beyond 1 is ignored */
    cJSON_AddStringToObject(body, "inputText", input_text(in, first));
    /* within validate's bound: a double beyond long's range is undefined in the cast */
    if (cJSON_IsNumber(dims) && dims->valuedouble >= 1 && dims->valuedouble <= 1e6) {
        cJSON_AddNumberToObject(body, "dimensions", (double)(long)dims->valuedouble);
    }
    /* OpenAI's vectors are unit length; Titan's are only when asked */
    cJSON_AddTrueToObject(body, "normalize");
    return body;
}

static int
all_numbers(const cJSON *a)
{
    const cJSON *v;

    if (!cJSON_IsArray(a)) {
        return 0;
    }
    cJSON_ArrayForEach(v, a)
    {
        if (!cJSON_IsNumber(v)) {
            return 0;
        }
    }
    return 1;
}

char *
sllmp_embedding_base64(const cJSON *floats)
{
    int n = cJSON_GetArraySize(floats), i = 0;
    unsigned char *raw;
    char *out;
    const cJSON *v;

    if (!all_numbers(floats)) {
        return NULL;
    }
    raw = sllmp_xmalloc((size_t)n * 4 + 1);
    cJSON_ArrayForEach(v, floats)
    {
        float f = (float)v->valuedouble;
        uint32_t bits;

        memcpy(&bits, &f, 4);
        /* little-endian whatever the host is, as OpenAI's clients decode it */
        raw[i * 4] = (unsigned char)bits;
        raw[i * 4 + 1] = (unsigned char)(bits >> 8);
        raw[i * 4 + 2] = (unsigned char)(bits >> 16);
        raw[i * 4 + 3] = (unsigned char)(bits >> 24);
        i++;
    }
    out = sllmp_base64(raw, (size_t)n * 4);
    free(raw);
    return out;
}

/* One OpenAI embedding object for vector vec (copied). NULL when vec is not numbers. */
static cJSON *
embedding_item(const cJSON *vec, int index, int base64)
{
    cJSON *item;

    if (!all_numbers(vec)) {
        return NULL;
    }
    item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "object", "embedding");
    cJSON_AddNumberToObject(item, "index", index);
    if (base64) {
        char *b64 = sllmp_embedding_base64(vec);

        cJSON_AddStringToObject(item, "embedding", b64);
        free(b64);
    } else {
        cJSON_AddItemToObject(item, "embedding", cJSON_Duplicate(vec, 1));
    }
    return item;
}

int
sllmp_bedrock_embed_response(sllmp_bedrock_embed_t kind, const cJSON *resp, int first, int base64,
                             cJSON *data, long *input_tokens)
{
    cJSON *items = cJSON_CreateArray();
    const cJSON *vecs, *v;
    int i = 0;

    if (kind == SLLMP_BEDROCK_EMBED_TITAN) {
        cJSON *item = embedding_item(sllmp_json_get(resp, "embedding"), first, base64);

        if (item == NULL) {
            goto fail;
        }
        cJSON_AddItemToArray(items, item);
        if (input_tokens != NULL) {
            *input_tokens += num(resp, "inputTextTokenCount");
        }
    } else {
        vecs = sllmp_json_get(resp, "embeddings");
        if (cJSON_IsObject(vecs)) {
            /* embeddings_by_type, when embedding_types was asked for */
            vecs = sllmp_json_get(vecs, "float");
        }
        if (!cJSON_IsArray(vecs) || cJSON_GetArraySize(vecs) == 0) {
            goto fail;
        }
        cJSON_ArrayForEach(v, vecs)
        {
            cJSON *item = embedding_item(v, first + i, base64);

            if (item == NULL) {
                goto fail;
            }
            cJSON_AddItemToArray(items, item);
            i++;
        }
        /* Cohere's InvokeModel answer reports no token count: the caller estimates */
    }
    /* all or nothing: data is only touched once the whole answer made sense */
    while (cJSON_GetArraySize(items) > 0) {
        cJSON_AddItemToArray(data, cJSON_DetachItemFromArray(items, 0));
    }
    cJSON_Delete(items);
    return 0;
fail:
    cJSON_Delete(items);
    return -1;
}
