/*
 * Usage and cost.
 *
 * Every provider's usage is normalised into five disjoint buckets, so each token is priced once
 * (protocols.md §0.4, §4.7): OpenAI's prompt_tokens includes its cached tokens and its
 * completion_tokens includes reasoning tokens, while Anthropic's input_tokens excludes cache
 * reads and writes. Prices are USD per 1M tokens per bucket (conf/pricing.yaml, overridable per
 * deployment with LiteLLM's model_info.*_cost_per_token).
 */
#ifndef SLLMP_USAGE_H
#define SLLMP_USAGE_H

#include "sllmp/types.h"

#include <cjson/cJSON.h>

typedef struct {
    long input;       /* prompt tokens neither read from nor written to a cache */
    long cache_read;  /* prompt tokens read from a cache */
    long cache_write; /* prompt tokens written to a cache */
    long output;      /* completion tokens that are not reasoning */
    long reasoning;   /* reasoning / thinking tokens */
    int seen;         /* the provider reported usage */
    int estimated;    /* some of it is our estimate */
} sllmp_usage_t;

/* USD per 1M tokens; a bucket without its own price (< 0) falls back as sllmp_cost() says. */
typedef struct {
    double input;
    double cache_read;  /* < 0: priced as input */
    double cache_write; /* < 0: priced as input */
    double output;
    double reasoning; /* < 0: priced as output */
    int known;        /* a price was found or configured */
} sllmp_price_t;

/* The most tokens one upstream count is taken for: a larger number (1e300 is valid JSON) is cut
 * to it, so that no count overflows a long and sums of buckets stay exact in a double. */
#define SLLMP_USAGE_MAX 1000000000000L

/* A token count from an upstream JSON value: 0 unless it is a number above 0, at most
 * SLLMP_USAGE_MAX. Every reader of a provider's usage takes its counts through this. */
long sllmp_usage_count(const cJSON *v);

/* Reads an OpenAI `usage` object (chat, streamed or not, and embeddings). */
void sllmp_usage_from_openai(sllmp_usage_t *u, const cJSON *usage);

/* Reads a Responses API `usage` object (ResponseUsage: input_tokens with
 * input_tokens_details.cached_tokens among them, output_tokens with
 * output_tokens_details.reasoning_tokens among them). */
void sllmp_usage_from_responses(sllmp_usage_t *u, const cJSON *usage);

/* Reads an Anthropic Messages `usage` object (counts are cumulative: the last one wins). */
void sllmp_usage_from_anthropic(sllmp_usage_t *u, const cJSON *usage);

long sllmp_usage_prompt(const sllmp_usage_t *u);     /* input + cache read + cache write */
long sllmp_usage_completion(const sllmp_usage_t *u); /* output + reasoning */

/* The cost in USD. */
double sllmp_cost(const sllmp_usage_t *u, const sllmp_price_t *p);

/*
 * The cost of an image generation: its tokens when the upstream counted them (gpt-image's
 * usage) and they have a price; else per_image USD (a deployment's
 * model_info.output_cost_per_image; < 0 none) for each of the `images` made; else 0 (an estimate
 * of the prompt is no price of a picture).
 */
double sllmp_cost_images(const sllmp_usage_t *u, const sllmp_price_t *p, double per_image,
                         long images);

/* The same, with the cost of each bucket (input, cache read, cache write, output, reasoning). */
double sllmp_cost_buckets(const sllmp_usage_t *u, const sllmp_price_t *p, double out[5]);

/* Formats a cost for a header: up to 10 decimals, no trailing zeros ("0.00012", "0"). */
void sllmp_cost_format(double usd, char *buf, size_t len);

/* Tokens in a text, estimated (4 characters a token, rounded up). */
long sllmp_estimate_tokens(size_t chars);

/*
 * The price table: conf/pricing.yaml compiled in. Looks up "<provider>/<model>" (LiteLLM's key,
 * e.g. "openai/gpt-4o-mini"); returns 0 and fills *p when found, -1 otherwise.
 */
int sllmp_price_lookup(const char *key, sllmp_price_t *p);

/* The table's i-th key ("openai/gpt-4o", in the file's order), NULL past its end. */
const char *sllmp_price_key(size_t i);
extern const char sllmp_pricing_text[];
extern const size_t sllmp_pricing_len;

#endif
