/*
 * post: usage settled and priced. When the upstream reported no usage the prompt and the answer
 * are estimated (and marked so). The cost goes to the client as `x-sllmp-cost-usd`: a header on
 * an unstreamed answer, an SSE comment `: x-sllmp-cost-usd <usd>` before [DONE] on a stream,
 * whose headers left before the cost was known (a held stream gets both).
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"
#include "sllmp/usage.h"

#include <stdio.h>
#include <string.h>

size_t
sllmp_prompt_chars(const cJSON *messages)
{
    const cJSON *m;
    size_t n = 0;

    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        const cJSON *part;

        if (cJSON_IsString(content)) {
            n += strlen(content->valuestring);
        } else if (cJSON_IsArray(content)) {
            cJSON_ArrayForEach(part, content)
            {
                const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");

                if (cJSON_IsString(text)) {
                    n += strlen(text->valuestring);
                }
            }
        }
    }
    return n;
}

/* Texts of a prompt or an embeddings input: a string or an array of strings (token ids count
 * as four characters each, one token). */
static size_t
input_chars(const cJSON *in)
{
    const cJSON *e;
    size_t n = 0;

    if (cJSON_IsString(in)) {
        return strlen(in->valuestring);
    }
    cJSON_ArrayForEach(e, in)
    {
        n += cJSON_IsString(e)  ? strlen(e->valuestring)
             : cJSON_IsArray(e) ? 4 * (size_t)cJSON_GetArraySize(e)
                                : 4;
    }
    return n;
}

/* Tokens a base64 image or document stands for in an estimate: Anthropic's largest image (about
 * 1.15 megapixels at 750 pixels a token). Its base64 read as text would count hundreds of
 * thousands of tokens for a screenshot, and fill the context a client measures with it. */
#define MEDIA_TOKENS 1600

/* Characters of what a model reads in v: strings, and with keys set the member names too (a
 * tool's schema, a tool call's input: JSON the model sees as text). A base64 source (an
 * Anthropic source's data, a Responses data: URL) counts as MEDIA_TOKENS in *media; signatures
 * and encrypted reasoning (opaque to the model's reader) not at all. */
static size_t
count_chars(const cJSON *v, int keys, long *media)
{
    const cJSON *c;
    size_t n = 0;

    if (cJSON_IsString(v)) {
        return strlen(v->valuestring);
    }
    cJSON_ArrayForEach(c, v)
    {
        if (c->string != NULL) {
            if (strcmp(c->string, "signature") == 0 ||
                strcmp(c->string, "encrypted_content") == 0) {
                continue;
            }
            if (cJSON_IsString(c) && strncmp(c->valuestring, "data:", 5) == 0 &&
                (strcmp(c->string, "image_url") == 0 || strcmp(c->string, "file_data") == 0)) {
                *media += MEDIA_TOKENS;
                continue;
            }
            if (strcmp(c->string, "source") == 0 &&
                cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "data"))) {
                *media += MEDIA_TOKENS;
                continue;
            }
            n += keys ? strlen(c->string) : 0;
        }
        n += count_chars(c, keys || (c->string != NULL && strcmp(c->string, "input") == 0), media);
    }
    return n;
}

size_t
sllmp_req_prompt_chars(const sllmp_req_t *r)
{
    const cJSON *b = r->json;

    switch (r->kind) {
    case SLLMP_KIND_COMPLETIONS:
        return input_chars(cJSON_GetObjectItemCaseSensitive(b, "prompt"));
    case SLLMP_KIND_EMBEDDINGS:
        return input_chars(cJSON_GetObjectItemCaseSensitive(b, "input"));
    case SLLMP_KIND_MESSAGES:
    case SLLMP_KIND_COUNT_TOKENS: {
        const cJSON *sys = cJSON_GetObjectItemCaseSensitive(b, "system");
        size_t n = sllmp_prompt_chars(cJSON_GetObjectItemCaseSensitive(b, "messages"));
        const cJSON *blk;

        if (cJSON_IsString(sys)) {
            n += strlen(sys->valuestring);
        }
        if (!cJSON_IsArray(sys)) {
            return n;
        }
        cJSON_ArrayForEach(blk, sys)
        {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(blk, "text");

            n += cJSON_IsString(text) ? strlen(text->valuestring) : 0;
        }
        return n;
    }
    case SLLMP_KIND_IMAGES:
        return input_chars(cJSON_GetObjectItemCaseSensitive(b, "prompt"));
    case SLLMP_KIND_MODERATIONS: /* input: strings, or parts with an image's data: URL */
    case SLLMP_KIND_RESPONSES: {
        long media = 0;
        size_t n = count_chars(cJSON_GetObjectItemCaseSensitive(b, "instructions"), 0, &media) +
                   count_chars(cJSON_GetObjectItemCaseSensitive(b, "input"), 0, &media);

        return n + 4 * (size_t)media; /* four characters a token, as the estimate reads them */
    }
    case SLLMP_KIND_CHAT:
        break;
    }
    return sllmp_prompt_chars(cJSON_GetObjectItemCaseSensitive(b, "messages"));
}

long
sllmp_count_tokens_estimate(const cJSON *body)
{
    long media = 0;
    size_t n = count_chars(cJSON_GetObjectItemCaseSensitive(body, "system"), 0, &media) +
               count_chars(cJSON_GetObjectItemCaseSensitive(body, "messages"), 0, &media) +
               count_chars(cJSON_GetObjectItemCaseSensitive(body, "tools"), 1, &media);
    long tokens = sllmp_estimate_tokens(n) + media;

    return tokens > 0 ? tokens : 1;
}

void
sllmp_usage_estimate(sllmp_req_t *r)
{
    if (r->usage.seen) {
        return;
    }
    memset(&r->usage, 0, sizeof(r->usage));
    r->usage.input = sllmp_estimate_tokens(sllmp_req_prompt_chars(r));
    r->usage.output = sllmp_estimate_tokens(r->completion_chars);
    r->usage.estimated = 1;
}

double
sllmp_req_cost(const sllmp_req_t *r)
{
    if (r->cache_hit) {
        return 0; /* no provider was asked */
    }
    switch (r->kind) {
    case SLLMP_KIND_MODERATIONS:
        return 0; /* OpenAI bills no moderation, nor does LiteLLM */
    case SLLMP_KIND_IMAGES:
        return sllmp_cost_images(&r->usage, &r->dep->price, r->dep->cost[SLLMP_COST_PER_IMAGE],
                                 r->images);
    default:
        return sllmp_cost(&r->usage, &r->dep->price);
    }
}

static sllmp_rc_t
cost_post(sllmp_req_t *r, void *mw_conf)
{
    char usd[64];

    (void)mw_conf;
    if (r->kind == SLLMP_KIND_COUNT_TOKENS) {
        /* a count generates nothing: Anthropic and Bedrock bill none, nor does the gateway */
        sllmp_resp_header(r, "x-sllmp-cost-usd", "0");
        return SLLMP_GO_ON;
    }
    sllmp_usage_estimate(r);
    r->cost_usd = sllmp_req_cost(r);
    sllmp_cost_format(r->cost_usd, usd, sizeof(usd));
    if (!r->headers_sent || r->stream_held) {
        /* a held stream (buffer_streams) has its headers still to send: the header too */
        sllmp_resp_header(r, "x-sllmp-cost-usd", usd);
    }
    if (r->headers_sent && r->stream_started && !r->client_gone) {
        char line[96];
        int n = snprintf(line, sizeof(line), ": x-sllmp-cost-usd %s\n\n", usd);

        sllmp_resp_write(r, line, (size_t)n);
    }
    return SLLMP_GO_ON;
}

const sllmp_middleware_t sllmp_mw_cost = {
    .name = "cost",
    .post = cost_post,
};
