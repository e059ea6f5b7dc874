/*
 * Usage normalisation and cost: golden figures for the pitfalls other gateways got wrong.
 */
#include "sllmp/conf.h"
#include "sllmp/usage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static sllmp_usage_t
openai(const char *json)
{
    sllmp_usage_t u;
    cJSON *j = cJSON_Parse(json);

    memset(&u, 0, sizeof(u));
    assert_non_null(j);
    sllmp_usage_from_openai(&u, j);
    cJSON_Delete(j);
    return u;
}

static void
assert_usd(double got, double want)
{
    if (got < want - 1e-12 || got > want + 1e-12) {
        fail_msg("cost %.12f, want %.12f", got, want);
    }
}

static void
test_openai_cached_tokens_not_charged_twice(void **state)
{
    /* gpt-4o: $2.50 input, $1.25 cached input, $10 output per 1M */
    sllmp_price_t p = {2.50, 1.25, -1, 10.00, -1, 1};
    sllmp_usage_t u =
        openai("{\"prompt_tokens\":2000,\"completion_tokens\":300,"
               "\"total_tokens\":2300,\"prompt_tokens_details\":{\"cached_tokens\":1500},"
               "\"completion_tokens_details\":{\"reasoning_tokens\":0}}");

    (void)state;
    assert_int_equal(u.input, 500);
    assert_int_equal(u.cache_read, 1500);
    assert_int_equal(u.output, 300);
    assert_int_equal(sllmp_usage_prompt(&u), 2000);
    /* 500 x 2.50 + 1500 x 1.25 + 300 x 10, not 2000 x 2.50 + 1500 x 1.25 + ... */
    assert_usd(sllmp_cost(&u, &p), 0.006125);
}

static void
test_anthropic_cache_reads_and_writes_priced_apart(void **state)
{
    /* Claude Sonnet: $3 input, $0.30 cache read, $3.75 cache write, $15 output per 1M */
    sllmp_price_t p = {3.00, 0.30, 3.75, 15.00, -1, 1};
    cJSON *j = cJSON_Parse("{\"input_tokens\":100,\"cache_read_input_tokens\":2000,"
                           "\"cache_creation_input_tokens\":500,\"output_tokens\":200}");
    sllmp_usage_t u;

    (void)state;
    memset(&u, 0, sizeof(u));
    sllmp_usage_from_anthropic(&u, j);
    cJSON_Delete(j);
    assert_int_equal(u.input, 100); /* excludes both cache kinds: nothing subtracted */
    assert_int_equal(u.cache_read, 2000);
    assert_int_equal(u.cache_write, 500);
    assert_int_equal(sllmp_usage_prompt(&u), 2600);
    assert_usd(sllmp_cost(&u, &p), (100 * 3.00 + 2000 * 0.30 + 500 * 3.75 + 200 * 15.00) / 1e6);
}

static void
test_reasoning_counted_once(void **state)
{
    /* o3-mini-like: $1.10 input, $4.40 output; reasoning priced as output */
    sllmp_price_t p = {1.10, -1, -1, 4.40, -1, 1};
    sllmp_usage_t u = openai("{\"prompt_tokens\":100,\"completion_tokens\":1000,"
                             "\"completion_tokens_details\":{\"reasoning_tokens\":800}}");

    (void)state;
    assert_int_equal(u.output, 200);
    assert_int_equal(u.reasoning, 800);
    assert_int_equal(sllmp_usage_completion(&u), 1000);
    assert_usd(sllmp_cost(&u, &p), (100 * 1.10 + 1000 * 4.40) / 1e6);
    /* with a price of its own, reasoning uses it */
    p.reasoning = 8.80;
    assert_usd(sllmp_cost(&u, &p), (100 * 1.10 + 200 * 4.40 + 800 * 8.80) / 1e6);
}

static void
test_openai_cache_write_and_odd_figures(void **state)
{
    sllmp_price_t p = {1, 0.5, 2, 4, -1, 1};
    sllmp_usage_t u = openai("{\"prompt_tokens\":1000,\"completion_tokens\":10,"
                             "\"prompt_tokens_details\":{\"cached_tokens\":600,"
                             "\"cache_write_tokens\":300}}");

    (void)state;
    assert_int_equal(u.input, 100);
    assert_int_equal(u.cache_read, 600);
    assert_int_equal(u.cache_write, 300);
    assert_usd(sllmp_cost(&u, &p), (100 * 1 + 600 * 0.5 + 300 * 2 + 10 * 4) / 1e6);
    /* details larger than the totals never make a bucket negative */
    u = openai("{\"prompt_tokens\":10,\"completion_tokens\":5,"
               "\"prompt_tokens_details\":{\"cached_tokens\":50},"
               "\"completion_tokens_details\":{\"reasoning_tokens\":9}}");
    assert_true(u.input >= 0 && u.output >= 0);
    assert_int_equal(sllmp_usage_prompt(&u), 10);
    assert_int_equal(sllmp_usage_completion(&u), 5);
    /* embeddings: prompt only */
    u = openai("{\"prompt_tokens\":8,\"total_tokens\":8}");
    assert_int_equal(u.input, 8);
    assert_int_equal(sllmp_usage_completion(&u), 0);
}

/* The Responses API's ResponseUsage: the same buckets as chat's usage of the same call. */
static void
test_responses_usage_same_buckets(void **state)
{
    sllmp_price_t p = {2.50, 1.25, -1, 10.00, -1, 1};
    sllmp_usage_t chat = openai("{\"prompt_tokens\":2000,\"completion_tokens\":300,"
                                "\"prompt_tokens_details\":{\"cached_tokens\":1500},"
                                "\"completion_tokens_details\":{\"reasoning_tokens\":100}}");
    sllmp_usage_t u;
    cJSON *j = cJSON_Parse("{\"input_tokens\":2000,\"input_tokens_details\":{\"cached_tokens\":"
                           "1500},\"output_tokens\":300,\"output_tokens_details\":"
                           "{\"reasoning_tokens\":100},\"total_tokens\":2300}");

    (void)state;
    memset(&u, 0, sizeof(u));
    sllmp_usage_from_responses(&u, j);
    cJSON_Delete(j);
    assert_int_equal(u.input, 500);
    assert_int_equal(u.cache_read, 1500);
    assert_int_equal(u.output, 200);
    assert_int_equal(u.reasoning, 100);
    assert_true(u.seen);
    assert_memory_equal(&u, &chat, sizeof(u));
    assert_usd(sllmp_cost(&u, &p), sllmp_cost(&chat, &p));
    /* not an object: nothing read */
    memset(&u, 0, sizeof(u));
    sllmp_usage_from_responses(&u, NULL);
    assert_false(u.seen);
}

static void
test_unknown_price_costs_nothing_and_format(void **state)
{
    sllmp_price_t p = {0, -1, -1, 0, -1, 0};
    sllmp_usage_t u = openai("{\"prompt_tokens\":10,\"completion_tokens\":5}");
    char buf[64];

    (void)state;
    assert_usd(sllmp_cost(&u, &p), 0);
    sllmp_cost_format(0.006125, buf, sizeof(buf));
    assert_string_equal(buf, "0.006125");
    sllmp_cost_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "0");
    sllmp_cost_format(12.5, buf, sizeof(buf));
    assert_string_equal(buf, "12.5");
    sllmp_cost_format(0.00000000012, buf, sizeof(buf));
    assert_string_equal(buf, "0.0000000001");
}

static void
test_price_table_and_overrides(void **state)
{
    char *err = NULL;
    sllmp_price_t p;
    sllmp_conf_t *c;

    (void)state;
    /* the compiled-in table knows the default config's OpenAI models */
    assert_int_equal(sllmp_price_lookup("openai/gpt-4o-mini", &p), 0);
    assert_true(p.known && p.input > 0 && p.output > p.input);
    assert_int_equal(sllmp_price_lookup("openai/no-such-model", &p), -1);
    /* each provider's section of conf/pricing.yaml parsed, with the cache prices */
    assert_int_equal(sllmp_price_lookup("anthropic/claude-sonnet-4-5", &p), 0);
    assert_usd(p.cache_write, 3.75);
    assert_usd(p.cache_read, 0.30);
    assert_int_equal(sllmp_price_lookup("gemini/gemini-2.5-pro", &p), 0);
    assert_usd(p.output, 10.00);
    assert_int_equal(sllmp_price_lookup("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", &p),
                     0);
    assert_usd(p.input, 3.00);
    assert_int_equal(sllmp_price_lookup("azure/gpt-4o-mini", &p), 0);

    /* LiteLLM's per-token overrides, in model_info or litellm_params */
    static const char text[] = "model_list:\n"
                               "  - model_name: a\n"
                               "    litellm_params: {model: openai/gpt-4o-mini, "
                               "output_cost_per_token: 0.000002}\n"
                               "    model_info: {input_cost_per_token: 0.000001, "
                               "cache_read_input_token_cost: 0.0000005, id: x}\n"
                               "  - model_name: b\n"
                               "    litellm_params: {model: openai/unpriced}\n"
                               "  - model_name: m\n"
                               "    litellm_params: {model: mock/echo}\n"
                               "  - model_name: m2\n"
                               "    litellm_params: {model: mock/echo}\n"
                               "    model_info: {input_cost_per_token: 0.000003}\n";

    c = sllmp_conf_load("t.yaml", text, sizeof(text) - 1, &err);
    assert_non_null(c);
    assert_true(c->deployments[0].price.known);
    assert_usd(c->deployments[0].price.input, 1.0);
    assert_usd(c->deployments[0].price.output, 2.0);
    assert_usd(c->deployments[0].price.cache_read, 0.5);
    assert_false(c->deployments[1].price.known);
    assert_non_null(strstr(c->warnings[0], "model 'b' (openai/unpriced) has no price"));
    /* the mock is free, without a warning, unless model_info prices it (to try budgets) */
    assert_true(c->deployments[2].price.known);
    assert_usd(c->deployments[2].price.input, 0.0);
    assert_true(c->deployments[3].price.known);
    assert_usd(c->deployments[3].price.input, 3.0);
    assert_usd(c->deployments[3].price.output, 0.0);
    assert_int_equal(c->nwarnings, 1);
    sllmp_conf_unref(c);

    static const char bad[] = "model_list:\n  - model_name: a\n    litellm_params: "
                              "{model: openai/x, input_cost_per_token: cheap}\n";

    c = sllmp_conf_load("t.yaml", bad, sizeof(bad) - 1, &err);
    assert_null(c);
    assert_non_null(strstr(err, "t.yaml:3:61: input_cost_per_token must be a number"));
    free(err);
}

static void
test_images_priced_by_tokens_else_per_image(void **state)
{
    /* gpt-image-1 as LiteLLM prices it: $5 input, $40 output (image tokens) per 1M */
    sllmp_price_t p = {5.00, 1.25, -1, 40.00, -1, 1};
    sllmp_price_t unpriced = {0, -1, -1, 0, -1, 0};
    sllmp_usage_t u, none;
    cJSON *j = cJSON_Parse("{\"input_tokens\":50,\"output_tokens\":4160,\"total_tokens\":4210,"
                           "\"input_tokens_details\":{\"text_tokens\":50,\"image_tokens\":0}}");

    (void)state;
    memset(&u, 0, sizeof(u));
    memset(&none, 0, sizeof(none));
    sllmp_usage_from_responses(&u, j);
    cJSON_Delete(j);
    /* its tokens, whatever the per-image price */
    assert_usd(sllmp_cost_images(&u, &p, 0.04, 1), (50 * 5.00 + 4160 * 40.00) / 1e6);
    assert_usd(sllmp_cost_images(&u, &p, -1, 1), (50 * 5.00 + 4160 * 40.00) / 1e6);
    /* no usage (dall-e-3), or tokens without a price: each image */
    assert_usd(sllmp_cost_images(&none, &p, 0.04, 3), 0.12);
    assert_usd(sllmp_cost_images(&u, &unpriced, 0.04, 2), 0.08);
    /* neither: nothing, not the prompt's estimate */
    none.input = 100;
    none.estimated = 1;
    assert_usd(sllmp_cost_images(&none, &p, -1, 2), 0);
    assert_usd(sllmp_cost_images(&none, &p, 0.04, 0), 0);
}

static void
test_output_cost_per_image_read(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    static const char text[] = "model_list:\n"
                               "  - model_name: dalle\n"
                               "    litellm_params: {model: openai/dall-e-3}\n"
                               "    model_info: {output_cost_per_image: 0.04}\n"
                               "  - model_name: dalle-params\n"
                               "    litellm_params: {model: openai/dall-e-2, "
                               "output_cost_per_image: 0.02}\n"
                               "  - model_name: mini\n"
                               "    litellm_params: {model: openai/gpt-4o-mini}\n";
    static const char bad[] = "model_list:\n  - model_name: a\n    litellm_params: "
                              "{model: openai/x, output_cost_per_image: 2000}\n";

    (void)state;
    c = sllmp_conf_load("t.yaml", text, sizeof(text) - 1, &err);
    assert_non_null(c);
    assert_usd(c->deployments[0].cost[SLLMP_COST_PER_IMAGE], 0.04);
    assert_usd(c->deployments[1].cost[SLLMP_COST_PER_IMAGE], 0.02);
    assert_true(c->deployments[2].cost[SLLMP_COST_PER_IMAGE] < 0);
    /* a per-image price is a price: no warning that the model costs nothing */
    assert_int_equal(c->nwarnings, 0);
    sllmp_conf_unref(c);
    c = sllmp_conf_load("t.yaml", bad, sizeof(bad) - 1, &err);
    assert_null(c);
    assert_non_null(strstr(err, "output_cost_per_image must be a number of USD per image"));
    free(err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_cached_tokens_not_charged_twice),
        cmocka_unit_test(test_anthropic_cache_reads_and_writes_priced_apart),
        cmocka_unit_test(test_reasoning_counted_once),
        cmocka_unit_test(test_responses_usage_same_buckets),
        cmocka_unit_test(test_openai_cache_write_and_odd_figures),
        cmocka_unit_test(test_unknown_price_costs_nothing_and_format),
        cmocka_unit_test(test_price_table_and_overrides),
        cmocka_unit_test(test_images_priced_by_tokens_else_per_image),
        cmocka_unit_test(test_output_cost_per_image_read),
    };

    return cmocka_run_group_tests_name("usage", tests, NULL, NULL);
}
