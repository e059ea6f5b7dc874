/*
 * Usage normalisation, prices and cost (see include/sllmp/usage.h).
 */
#include "sllmp/usage.h"
#include "sllmp/log.h"
#include "sllmp/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

long
sllmp_usage_count(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0)) {
        return 0;
    }
    /* a double past LONG_MAX cast to long is undefined */
    return v->valuedouble < (double)SLLMP_USAGE_MAX ? (long)v->valuedouble : SLLMP_USAGE_MAX;
}

static long
num(const cJSON *obj, const char *name)
{
    return sllmp_usage_count(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* OpenAI's counts (chat's and Responses' alike): cached and written are parts of the prompt,
 * reasoning of the completion. */
static void
from_totals(sllmp_usage_t *u, long prompt, long cached, long written, long completion,
            long reasoning)
{
    /* subsets of prompt and completion: never count them twice, never go negative */
    if (cached + written > prompt) {
        cached = prompt < cached ? prompt : cached;
        written = prompt - cached;
    }
    if (reasoning > completion) {
        reasoning = completion;
    }
    u->input = prompt - cached - written;
    u->cache_read = cached;
    u->cache_write = written;
    u->output = completion - reasoning;
    u->reasoning = reasoning;
    u->seen = 1;
    u->estimated = 0;
}

void
sllmp_usage_from_openai(sllmp_usage_t *u, const cJSON *usage)
{
    const cJSON *pd, *cd;

    if (!cJSON_IsObject(usage)) {
        return;
    }
    pd = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
    cd = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens_details");
    /* embeddings have prompt_tokens and total_tokens only */
    from_totals(u, num(usage, "prompt_tokens"), num(pd, "cached_tokens"),
                num(pd, "cache_write_tokens"), num(usage, "completion_tokens"),
                num(cd, "reasoning_tokens"));
}

void
sllmp_usage_from_responses(sllmp_usage_t *u, const cJSON *usage)
{
    const cJSON *in, *out;

    if (!cJSON_IsObject(usage)) {
        return;
    }
    in = cJSON_GetObjectItemCaseSensitive(usage, "input_tokens_details");
    out = cJSON_GetObjectItemCaseSensitive(usage, "output_tokens_details");
    from_totals(u, num(usage, "input_tokens"), num(in, "cached_tokens"),
                num(in, "cache_write_tokens"), num(usage, "output_tokens"),
                num(out, "reasoning_tokens"));
}

void
sllmp_usage_from_anthropic(sllmp_usage_t *u, const cJSON *usage)
{
    if (!cJSON_IsObject(usage)) {
        return;
    }
    /* input_tokens excludes both cache reads and cache writes: the buckets add up as they are */
    u->input = num(usage, "input_tokens");
    u->cache_read = num(usage, "cache_read_input_tokens");
    u->cache_write = num(usage, "cache_creation_input_tokens");
    u->output = num(usage, "output_tokens");
    u->reasoning = 0; /* Anthropic counts thinking inside output_tokens */
    u->seen = 1;
    u->estimated = 0;
}

long
sllmp_usage_prompt(const sllmp_usage_t *u)
{
    return u->input + u->cache_read + u->cache_write;
}

long
sllmp_usage_completion(const sllmp_usage_t *u)
{
    return u->output + u->reasoning;
}

double
sllmp_cost_buckets(const sllmp_usage_t *u, const sllmp_price_t *p, double out[5])
{
    double cr = p->cache_read >= 0 ? p->cache_read : p->input;
    double cw = p->cache_write >= 0 ? p->cache_write : p->input;
    double rs = p->reasoning >= 0 ? p->reasoning : p->output;

    if (!p->known) {
        out[0] = out[1] = out[2] = out[3] = out[4] = 0;
        return 0;
    }
    out[0] = (double)u->input * p->input / 1e6;
    out[1] = (double)u->cache_read * cr / 1e6;
    out[2] = (double)u->cache_write * cw / 1e6;
    out[3] = (double)u->output * p->output / 1e6;
    out[4] = (double)u->reasoning * rs / 1e6;
    /* summed as one expression over the tokens, so the total is the same as before */
    return ((double)u->input * p->input + (double)u->cache_read * cr + (double)u->cache_write * cw +
            (double)u->output * p->output + (double)u->reasoning * rs) /
           1e6;
}

double
sllmp_cost(const sllmp_usage_t *u, const sllmp_price_t *p)
{
    double b[5];

    return sllmp_cost_buckets(u, p, b);
}

double
sllmp_cost_images(const sllmp_usage_t *u, const sllmp_price_t *p, double per_image, long images)
{
    double tokens = u->seen ? sllmp_cost(u, p) : 0;

    return tokens > 0 || per_image <= 0 || images <= 0 ? tokens : per_image * (double)images;
}

void
sllmp_cost_format(double usd, char *buf, size_t len)
{
    size_t n;

    snprintf(buf, len, "%.10f", usd);
    n = strlen(buf);
    while (n > 1 && buf[n - 1] == '0') {
        buf[--n] = '\0';
    }
    if (n > 0 && buf[n - 1] == '.') {
        buf[--n] = '\0';
    }
}

long
sllmp_estimate_tokens(size_t chars)
{
    return (long)((chars + 3) / 4);
}

/* ---------------------------------------------------------------- the price table */

typedef struct {
    char *key;
    sllmp_price_t price;
} entry_t;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static entry_t *table;
static size_t ntable;

static double
price_value(yaml_document_t *doc, int id)
{
    yaml_node_t *n = yaml_document_get_node(doc, id);
    char *end;
    double v;

    if (n == NULL || n->type != YAML_SCALAR_NODE) {
        return -1;
    }
    v = strtod((const char *)n->data.scalar.value, &end);
    return *end == '\0' && v >= 0 ? v : -1;
}

static void
load_table(void)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root, *models = NULL;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)sllmp_pricing_text,
                                 sllmp_pricing_len);
    if (!yaml_parser_load(&parser, &doc)) {
        /* the build checks the file; this cannot happen with a released binary */
        sllmp_log(NULL, SLLMP_LOG_ERROR, "conf/pricing.yaml:%zu: %s", parser.problem_mark.line + 1,
                  parser.problem ? parser.problem : "YAML error");
        yaml_parser_delete(&parser);
        return;
    }
    root = yaml_document_get_root_node(&doc);
    for (yaml_node_pair_t *p =
             root && root->type == YAML_MAPPING_NODE ? root->data.mapping.pairs.start : NULL;
         p != NULL && p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);

        if (k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, "models") == 0) {
            models = yaml_document_get_node(&doc, p->value);
        }
    }
    if (models != NULL && models->type == YAML_MAPPING_NODE) {
        size_t cap = (size_t)(models->data.mapping.pairs.top - models->data.mapping.pairs.start);

        table = sllmp_xcalloc(cap ? cap : 1, sizeof(entry_t));
        for (yaml_node_pair_t *p = models->data.mapping.pairs.start;
             p < models->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(&doc, p->key);
            yaml_node_t *v = yaml_document_get_node(&doc, p->value);
            sllmp_price_t pr = {-1, -1, -1, -1, -1, 1};

            if (k->type != YAML_SCALAR_NODE || v->type != YAML_MAPPING_NODE) {
                continue;
            }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                const char *b =
                    (const char *)yaml_document_get_node(&doc, q->key)->data.scalar.value;
                double x = price_value(&doc, q->value);

                if (strcmp(b, "input") == 0) {
                    pr.input = x;
                } else if (strcmp(b, "cache_read") == 0) {
                    pr.cache_read = x;
                } else if (strcmp(b, "cache_write") == 0) {
                    pr.cache_write = x;
                } else if (strcmp(b, "output") == 0) {
                    pr.output = x;
                } else if (strcmp(b, "reasoning") == 0) {
                    pr.reasoning = x;
                }
            }
            if (pr.input < 0) {
                pr.input = 0;
            }
            if (pr.output < 0) {
                pr.output = 0;
            }
            table[ntable].key = sllmp_xstrdup((const char *)k->data.scalar.value);
            table[ntable].price = pr;
            ntable++;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
}

const char *
sllmp_price_key(size_t i)
{
    pthread_once(&once, load_table);
    return i < ntable ? table[i].key : NULL;
}

int
sllmp_price_lookup(const char *key, sllmp_price_t *p)
{
    pthread_once(&once, load_table);
    for (size_t i = 0; i < ntable; i++) {
        if (strcmp(table[i].key, key) == 0) {
            *p = table[i].price;
            return 0;
        }
    }
    return -1;
}
