/*
 * Configuration: LiteLLM's format accepted, sllmp's section read, errors with file:line:column,
 * unknown keys warned about, secrets from the environment, the cache reloading a changed file.
 */
#include "sllmp/conf.h"
#include "sllmp/arena.h"
#include "sllmp/gauth.h"
#include "sllmp/log.h"
#include "sllmp/provider.h"
#include "sllmp/route.h"
#include "sllmp/req.h"
#include "sllmp/upstream.h"
#include "sllmp/util.h"

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static sllmp_conf_t *
load(const char *text, char **err)
{
    return sllmp_conf_load("t.yaml", text, strlen(text), err);
}

static void
expect_error(const char *text, const char *want)
{
    char *err = NULL;
    sllmp_conf_t *c = load(text, &err);

    assert_null(c);
    assert_non_null(err);
    if (strstr(err, want) == NULL) {
        fail_msg("error '%s' does not contain '%s'", err, want);
    }
    free(err);
}

static int
has_warning(const sllmp_conf_t *c, const char *want)
{
    for (size_t i = 0; i < c->nwarnings; i++) {
        if (strstr(c->warnings[i], want) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* What `sllmp check` prints of c, into buf. */
static void
describe(const sllmp_conf_t *c, char *buf, size_t size)
{
    FILE *f = fmemopen(buf, size - 1, "w");

    memset(buf, 0, size);
    sllmp_conf_describe(c, f);
    fclose(f);
}

/* Which deployments are sent POST /v1/responses as it is: openai/ and azure/ (LiteLLM's rule),
 * any OpenAI-compatible one that lists /v1/responses in model_info.supported_endpoints, none
 * that leaves it out, and never a provider without the Responses API (warned). */
static void
test_responses_api(void **state)
{
    static const char text[] =
        "model_list:\n"
        "  - {model_name: a, litellm_params: {model: openai/gpt-5}}\n"
        "  - {model_name: b, litellm_params: {model: azure/dep, api_base: 'https://x.example',"
        " api_version: '2025-04-01-preview'}}\n"
        "  - {model_name: c, litellm_params: {model: hosted_vllm/qwen}}\n"
        "  - model_name: d\n"
        "    model_info: {supported_endpoints: [/v1/chat/completions, /v1/responses]}\n"
        "    litellm_params: {model: hosted_vllm/qwen}\n"
        "  - model_name: e\n"
        "    litellm_params: {model: openai/echo, api_base: 'http://127.0.0.1:1/v1'}\n"
        "    model_info: {supported_endpoints: [/v1/chat/completions]}\n"
        "  - model_name: f\n"
        "    model_info: {supported_endpoints: /responses}\n"
        "    litellm_params: {model: anthropic/claude-sonnet-4-5}\n"
        "  - {model_name: g, litellm_params: {model: mock/echo}}\n";
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load(text, &err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 7);
    assert_true(c->deployments[0].responses_api);
    assert_true(c->deployments[1].responses_api);
    assert_false(c->deployments[2].responses_api);
    assert_true(c->deployments[3].responses_api);
    assert_false(c->deployments[4].responses_api);
    assert_false(c->deployments[5].responses_api);
    assert_false(c->deployments[6].responses_api);
    assert_true(has_warning(c, "model 'f': anthropic/ has no Responses API"));
    sllmp_conf_unref(c);
    expect_error("model_list:\n  - model_name: a\n    litellm_params: {model: openai/x}\n"
                 "    model_info: {supported_endpoints: {a: 1}}\n",
                 "t.yaml:4:");
}

/* Which deployments take chat completions through their Responses API: LiteLLM's responses/
 * route (openai/ and azure/, the route gone from the model sent), and OpenAI's own models that
 * have no chat completions, on OpenAI's API only. */
static void
test_chat_via_responses(void **state)
{
    static const char text[] =
        "model_list:\n"
        "  - {model_name: a, litellm_params: {model: openai/responses/gpt-4.1,"
        " api_base: 'http://127.0.0.1:1/v1'}}\n"
        "  - {model_name: b, litellm_params: {model: azure/responses/o_series/dep,"
        " api_base: 'https://x.example'}}\n"
        "  - {model_name: c, litellm_params: {model: openai/gpt-5-codex}}\n"
        "  - {model_name: d, litellm_params: {model: openai/o3-pro-2025-06-10}}\n"
        "  - {model_name: e, litellm_params: {model: openai/gpt-5.2-pro}}\n"
        "  - {model_name: f, litellm_params: {model: openai/gpt-5}}\n"
        "  - {model_name: g, litellm_params: {model: openai/gpt-5-codex,"
        " api_base: 'http://127.0.0.1:1/v1'}}\n"
        "  - {model_name: h, litellm_params: {model: openrouter/openai/gpt-5-pro}}\n"
        "  - {model_name: i, litellm_params: {model: openai/gpt-4o-mini-search-preview}}\n";
    static const int want[] = {1, 1, 1, 1, 1, 0, 0, 0, 0};
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load(text, &err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 9);
    for (size_t i = 0; i < 9; i++) {
        if (c->deployments[i].chat_via_responses != want[i]) {
            fail_msg("%s: chat_via_responses %d", c->deployments[i].model_name,
                     c->deployments[i].chat_via_responses);
        }
    }
    assert_string_equal(c->deployments[0].model, "gpt-4.1");
    assert_string_equal(c->deployments[1].model, "dep");
    assert_true(c->deployments[1].reasoning);
    sllmp_conf_unref(c);
}

/* sllmp.responses: the kept Responses answers; defaults, durations and their errors. */
static void
test_responses_section(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load("sllmp: {}\n", &err);
    assert_non_null(c);
    assert_int_equal(c->responses_store, 1);
    assert_int_equal(c->responses_ttl_s, 30L * 86400);
    assert_int_equal(c->responses_max_mb, 1024);
    assert_non_null(c->responses_dir);
    sllmp_conf_unref(c);

    c = load("sllmp:\n  responses: {store: false, ttl: 12h, dir: /tmp/kept, max_mb: 7}\n", &err);
    assert_non_null(c);
    assert_int_equal(c->responses_store, 0);
    assert_int_equal(c->responses_ttl_s, 12L * 3600);
    assert_string_equal(c->responses_dir, "/tmp/kept");
    assert_int_equal(c->responses_max_mb, 7);
    sllmp_conf_unref(c);

    static const struct {
        const char *ttl;
        long want;
    } ok[] = {{"90m", 5400}, {"600s", 600}, {"600", 600}, {"366d", 366L * 86400}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char text[128];

        snprintf(text, sizeof(text), "sllmp:\n  responses: {ttl: %s}\n", ok[i].ttl);
        c = load(text, &err);
        assert_non_null(c);
        assert_int_equal(c->responses_ttl_s, ok[i].want);
        sllmp_conf_unref(c);
    }
    expect_error("sllmp:\n  responses:\n    ttl: 2w\n",
                 "t.yaml:3:10: sllmp.responses.ttl must be a duration such as 30d");
    expect_error("sllmp:\n  responses:\n    ttl: 30dd\n", "t.yaml:3:10: sllmp.responses.ttl");
    expect_error("sllmp:\n  responses:\n    ttl: -5m\n", "t.yaml:3:10: sllmp.responses.ttl");
    expect_error("sllmp:\n  responses:\n    ttl: 59s\n",
                 "t.yaml:3:10: sllmp.responses.ttl must be between 60s and 366d");
    expect_error("sllmp:\n  responses:\n    ttl: 99999999999999999999d\n",
                 "t.yaml:3:10: sllmp.responses.ttl");
    expect_error("sllmp:\n  responses:\n    ttl: 367d\n", "must be between 60s and 366d");
    expect_error("sllmp:\n  responses:\n    store: maybe\n", "t.yaml:3:12: sllmp.responses.store");
    expect_error("sllmp:\n  responses:\n    max_mb: 0\n", "t.yaml:3:13: sllmp.responses.max_mb");
    c = load("sllmp:\n  responses: {keep: 1}\n", &err);
    assert_non_null(c);
    assert_true(has_warning(c, "unknown key sllmp.responses.keep"));
    sllmp_conf_unref(c);
}

static void
test_litellm_file_unchanged(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    setenv("SLLMP_TEST_KEY", "sk-from-env", 1);
    c = load("model_list:\n"
             "  - model_name: gpt-4o\n"
             "    litellm_params:\n"
             "      model: openai/gpt-4o\n"
             "      api_key: os.environ/SLLMP_TEST_KEY\n"
             "      rpm: 60\n"
             "      max_parallel_requests: 4\n"
             "  - model_name: local\n"
             "    litellm_params:\n"
             "      model: openai/llama3\n"
             "      api_base: http://127.0.0.1:11434/v1/\n"
             "litellm_settings:\n"
             "  drop_params: true\n"
             "  cache: true\n"
             "general_settings:\n"
             "  master_key: sk-1234\n"
             "  database_url: postgres://x\n",
             &err);
    assert_null(err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 2);
    assert_string_equal(c->deployments[0].model_name, "gpt-4o");
    assert_string_equal(c->deployments[0].model, "gpt-4o");
    assert_string_equal(c->deployments[0].api_key, "sk-from-env");
    assert_string_equal(c->deployments[0].api_base, "https://api.openai.com/v1");
    assert_string_equal(c->deployments[1].api_base, "http://127.0.0.1:11434/v1");
    assert_null(c->deployments[1].api_key);
    assert_string_equal(c->master_key, "sk-1234");
    assert_false(has_warning(c, "litellm_params.rpm"));
    assert_int_equal(c->deployments[0].rpm, 60);
    assert_int_equal(c->deployments[0].max_parallel, 4);
    assert_int_equal(c->deployments[1].max_parallel, 0);
    /* the subject: the alias and 8 hex digits of where the deployment points */
    assert_int_equal(strncmp(c->deployments[0].subject, "dep:gpt-4o.", 11), 0);
    assert_int_equal(strlen(c->deployments[0].subject), 19);
    assert_string_not_equal(c->deployments[0].subject, c->deployments[1].subject);
    assert_false(has_warning(c, "drop_params")); /* what sllmp does anyway */
    /* LiteLLM's cache with no cache_params is Redis: with none here, files on this host */
    assert_true(has_warning(c, "t.yaml:14:10: litellm_settings.cache: no Redis is configured"));
    assert_int_equal(c->cache.type, SLLMP_CACHE_FILES);
    assert_true(has_warning(c, "t.yaml:17:3: general_settings.database_url"));
    assert_non_null(sllmp_conf_find(c, "local", 5));
    assert_null(sllmp_conf_find(c, "loca", 4));
    sllmp_conf_unref(c);
}

/* The request req (JSON) as the one deployment of the litellm_params YAML params would send
 * it with its request defaults (sllmp_dep_defaults_add), checked to come out whole again
 * (sllmp_dep_defaults_remove); the printed JSON, to be freed. */
static char *
with_defaults_as(const char *params, const char *req_json, int responses)
{
    char *err = NULL,
         *yaml = sllmp_xasprintf("model_list:\n"
                                 "  - model_name: a\n"
                                 "    litellm_params:\n"
                                 "      model: openai/a\n"
                                 "%s",
                                 params),
         *out, *back;
    const char *added[SLLMP_DEP_DEFAULTS_MAX];
    sllmp_conf_t *c = load(yaml, &err);
    cJSON *req = cJSON_Parse(req_json);
    size_t n;

    assert_non_null(c);
    assert_false(has_warning(c, "litellm_params"));
    n = sllmp_dep_defaults_add(&c->deployments[0], req, responses, added);
    out = cJSON_PrintUnformatted(req);
    sllmp_dep_defaults_remove(req, added, n);
    back = cJSON_PrintUnformatted(req);
    assert_string_equal(back, req_json);
    free(back);
    cJSON_Delete(req);
    sllmp_conf_unref(c);
    free(yaml);
    return out;
}

static char *
with_defaults(const char *params, const char *req_json)
{
    return with_defaults_as(params, req_json, 0);
}

/* litellm_params request defaults: typed at load (a quoted number is one, as LiteLLM coerces),
 * put into a request only where it has none of its own, and taken out again */
static void
test_dep_defaults(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    char *out;

    (void)state;
    out = with_defaults("      temperature: \"0.5\"\n"
                        "      max_tokens: 100\n"
                        "      stop: END\n"
                        "      response_format: {type: json_object}\n",
                        "{\"model\":\"a\",\"temperature\":1,\"max_completion_tokens\":9}");
    assert_string_equal(out, "{\"model\":\"a\",\"temperature\":1,\"max_completion_tokens\":9,"
                             "\"stop\":\"END\",\"response_format\":{\"type\":\"json_object\"}}");
    free(out);
    /* a Responses API request takes them under its names, and not the chat-only ones */
    out = with_defaults_as("      temperature: 0.5\n"
                           "      max_tokens: 100\n"
                           "      reasoning_effort: low\n"
                           "      stop: END\n"
                           "      seed: 7\n",
                           "{\"model\":\"a\",\"input\":\"x\"}", 1);
    assert_string_equal(out, "{\"model\":\"a\",\"input\":\"x\",\"temperature\":0.5,"
                             "\"max_output_tokens\":100,\"reasoning\":{\"effort\":\"low\"}}");
    free(out);
    out = with_defaults_as("      max_tokens: 100\n      reasoning_effort: low\n",
                           "{\"max_output_tokens\":5,\"reasoning\":{\"effort\":\"high\"}}", 1);
    assert_string_equal(out, "{\"max_output_tokens\":5,\"reasoning\":{\"effort\":\"high\"}}");
    free(out);

    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: openai/a, temperature: hot}\n",
             &err);
    assert_null(c);
    assert_non_null(strstr(err, "t.yaml:3:52: litellm_params.temperature must be a number"));
    free(err);
    err = NULL;
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: openai/a, stop: [1, 2]}\n",
             &err);
    assert_null(c);
    assert_non_null(strstr(err, "stop must be a string or a list of strings"));
    free(err);
}

/* litellm_params.extra_body: its members go into the body of an OpenAI-compatible deployment
 * (not model, messages, stream, ...: what makes the request what it is); another provider
 * ignores it, warned */
static void
test_dep_extra_body(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    char *out;

    (void)state;
    out = with_defaults("      extra_body: {chat_template_kwargs: {enable_thinking: false}, "
                        "top_k: 5, stream: true, model: b}\n",
                        "{\"model\":\"a\",\"top_k\":9}");
    assert_string_equal(out, "{\"model\":\"a\",\"top_k\":9,"
                             "\"chat_template_kwargs\":{\"enable_thinking\":false}}");
    free(out);
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params:\n"
             "      model: anthropic/claude-sonnet-4-5\n"
             "      api_key: k\n"
             "      extra_body: {top_k: 5}\n",
             &err);
    assert_non_null(c);
    assert_true(has_warning(c, "t.yaml:6:19: litellm_params.extra_body goes to OpenAI-compatible"));
    assert_null(cJSON_GetObjectItemCaseSensitive(c->deployments[0].defaults, "extra_body"));
    sllmp_conf_unref(c);
}

/* general_settings.max_request_size_mb is the body limit in MiB unless sllmp's own is given */
static void
test_max_request_size_mb(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load("general_settings:\n  max_request_size_mb: 2.5\n", &err);
    assert_non_null(c);
    assert_int_equal(c->max_body_bytes, 2621440);
    assert_false(has_warning(c, "max_request_size_mb"));
    sllmp_conf_unref(c);
    c = load("sllmp:\n  max_body_bytes: 4096\ngeneral_settings:\n  max_request_size_mb: 2\n", &err);
    assert_non_null(c);
    assert_int_equal(c->max_body_bytes, 4096);
    sllmp_conf_unref(c);
    c = load("general_settings:\n  max_request_size_mb: big\n", &err);
    assert_null(c);
    assert_non_null(strstr(err, "t.yaml:2:24: general_settings.max_request_size_mb must be"));
    free(err);
}

/* A request default's string is read as any litellm_params string is (os.environ/, ${NAME}), as
 * LiteLLM resolves os.environ/ in every value: never sent as the variable's name */
static void
test_dep_defaults_env(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    char *out;

    (void)state;
    setenv("SLLMP_TEST_EFFORT", "low", 1);
    setenv("SLLMP_TEST_TEMP", "0.25", 1);
    setenv("SLLMP_TEST_STOP", "END", 1);
    out = with_defaults("      reasoning_effort: os.environ/SLLMP_TEST_EFFORT\n"
                        "      temperature: ${SLLMP_TEST_TEMP}\n"
                        "      stop: os.environ/SLLMP_TEST_STOP\n",
                        "{\"model\":\"a\"}");
    assert_string_equal(out, "{\"model\":\"a\",\"reasoning_effort\":\"low\",\"temperature\":0.25,"
                             "\"stop\":\"END\"}");
    free(out);

    unsetenv("SLLMP_TEST_EFFORT");
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params:\n"
             "      model: openai/a\n"
             "      reasoning_effort: os.environ/SLLMP_TEST_EFFORT\n",
             &err);
    assert_null(c);
    assert_non_null(strstr(err, "environment variable SLLMP_TEST_EFFORT is not set"));
    free(err);
    unsetenv("SLLMP_TEST_TEMP");
    unsetenv("SLLMP_TEST_STOP");
}

/* A request default that is null is none (LiteLLM passes None: not sent), and a boolean is any
 * YAML 1.1 boolean word, as LiteLLM's YAML and sllmp's other booleans read it */
static void
test_dep_defaults_null_and_bool_words(void **state)
{
    char *out;

    (void)state;
    out = with_defaults("      temperature: 0.5\n"
                        "      temperature: null\n"
                        "      max_tokens: ~\n"
                        "      logprobs: True\n"
                        "      parallel_tool_calls: no\n",
                        "{\"model\":\"a\"}");
    assert_string_equal(out, "{\"model\":\"a\",\"logprobs\":true,\"parallel_tool_calls\":false}");
    free(out);
}

/* drop_params, global or a deployment's, is what sllmp does anyway: true is silent, false warned */
static void
test_drop_params(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: openai/a, drop_params: true}\n"
             "  - model_name: b\n"
             "    litellm_params: {model: openai/b, drop_params: false}\n"
             "litellm_settings:\n"
             "  drop_params: true\n",
             &err);
    assert_non_null(c);
    assert_false(has_warning(c, "drop_params is not supported"));
    assert_true(has_warning(c, "t.yaml:5:52: litellm_params.drop_params: false is not how"));
    assert_false(has_warning(c, "litellm_settings.drop_params"));
    sllmp_conf_unref(c);
}

/* LiteLLM's set_verbose (litellm_settings, or the Router's): false is sllmp's own quiet default,
 * true its debug log level, unless sllmp.log_level says otherwise (before or after it). */
static void
test_set_verbose(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load("litellm_settings: {set_verbose: false}\n"
             "router_settings: {set_verbose: false}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->log_level, SLLMP_LOG_INFO);
    assert_int_equal(c->nwarnings, 0);
    sllmp_conf_unref(c);
    c = load("litellm_settings: {set_verbose: true}\n", &err);
    assert_non_null(c);
    assert_int_equal(c->log_level, SLLMP_LOG_DEBUG);
    assert_int_equal(c->nwarnings, 0);
    sllmp_conf_unref(c);
    c = load("router_settings: {set_verbose: 'True'}\n", &err);
    assert_non_null(c);
    assert_int_equal(c->log_level, SLLMP_LOG_DEBUG);
    sllmp_conf_unref(c);
    c = load("sllmp: {log_level: warn}\n"
             "litellm_settings: {set_verbose: true}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->log_level, SLLMP_LOG_WARN);
    sllmp_conf_unref(c);
    c = load("litellm_settings: {set_verbose: true}\n"
             "sllmp: {log_level: error}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->log_level, SLLMP_LOG_ERROR);
    sllmp_conf_unref(c);
    expect_error("litellm_settings: {set_verbose: loud}\n",
                 "t.yaml:1:33: litellm_settings.set_verbose");
}

/* LiteLLM's callbacks: langfuse (and langfuse_otel) are the spool and `sllmp upload`, prometheus
 * is /metrics, both always on; any other is warned about by name, with its place. */
static void
test_callbacks(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load("litellm_settings:\n"
             "  success_callback: [langfuse, langfuse_otel]\n"
             "  failure_callback: [\"langfuse\", sentry]\n"
             "  callbacks: [prometheus, otel]\n"
             "  service_callback: []\n",
             &err);
    assert_non_null(c);
    assert_true(has_warning(c, "t.yaml:3:34: litellm_settings.failure_callback: 'sentry' is not "
                               "supported by sllmp and is ignored"));
    assert_true(has_warning(c, "t.yaml:4:27: litellm_settings.callbacks: 'otel' is not"));
    assert_false(has_warning(c, "'langfuse"));
    assert_false(has_warning(c, "prometheus"));
    assert_int_equal(c->nwarnings, 3); /* and service_callback, as any unknown key */
    sllmp_conf_unref(c);
    c = load("litellm_settings: {callbacks: custom_callbacks.proxy_handler_instance}\n", &err);
    assert_non_null(c);
    assert_true(has_warning(c, "'custom_callbacks.proxy_handler_instance' is not supported"));
    sllmp_conf_unref(c);
    c = load("litellm_settings: {success_callback: null}\n", &err);
    assert_non_null(c);
    assert_int_equal(c->nwarnings, 0);
    sllmp_conf_unref(c);
    expect_error("litellm_settings: {callbacks: {a: 1}}\n",
                 "t.yaml:1:31: litellm_settings.callbacks must be a list of names, not a mapping");
}

/* LiteLLM's router_settings Redis: the pool's unless sllmp.redis.url names one; rediss:// and
 * an unset variable leave it out, warned; a bad redis_url is refused with its place. */
static void
test_router_settings_redis(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    unsetenv("SLLMP_TEST_UNSET_REDIS");
    c = load("router_settings:\n"
             "  redis_host: 10.0.0.5\n"
             "  redis_port: \"6380\"\n"
             "  redis_password: s3:c@r/t\n",
             &err);
    assert_non_null(c);
    assert_string_equal(c->redis_url, "redis://:s3:c@r/t@10.0.0.5:6380/0");
    assert_false(has_warning(c, "redis"));
    sllmp_conf_unref(c);

    c = load("router_settings:\n"
             "  redis_host: 10.0.0.5\n"
             "sllmp:\n"
             "  redis: {url: \"redis://127.0.0.1:7000/1\"}\n",
             &err);
    assert_non_null(c);
    assert_string_equal(c->redis_url, "redis://127.0.0.1:7000/1");
    assert_true(has_warning(c, "t.yaml:2:15: router_settings.redis_host is ignored"));
    sllmp_conf_unref(c);

    c = load("router_settings:\n"
             "  redis_url: redis://cache.internal:6379/2\n",
             &err);
    assert_non_null(c);
    assert_string_equal(c->redis_url, "redis://cache.internal:6379/2");
    sllmp_conf_unref(c);

    c = load("router_settings:\n"
             "  redis_url: rediss://cache.internal:6380\n",
             &err);
    assert_non_null(c);
    assert_null(c->redis_url);
    assert_true(has_warning(c, "rediss:// (TLS) is not supported"));
    sllmp_conf_unref(c);

    c = load("router_settings:\n"
             "  redis_host: os.environ/SLLMP_TEST_UNSET_REDIS\n"
             "  redis_port: 6379\n",
             &err);
    assert_non_null(c);
    assert_null(c->redis_url);
    assert_true(has_warning(c, "SLLMP_TEST_UNSET_REDIS is not set"));
    sllmp_conf_unref(c);

    c = load("router_settings:\n"
             "  redis_url: http://cache.internal\n",
             &err);
    assert_null(c);
    assert_non_null(err);
    assert_non_null(strstr(err, "t.yaml:2:14: router_settings.redis_url must start with"));
    free(err);
}

static void
test_sllmp_section(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load("sllmp:\n"
             "  workers: 3\n"
             "  threads: 7\n"
             "  max_requests: 100\n"
             "  max_body_bytes: 2048\n"
             "  heartbeat_ms: 250\n"
             "  timeouts: {connect_ms: 11, first_byte_ms: 22, idle_ms: 33, total_ms: 44}\n"
             "  spool: {dir: /tmp/sp}\n"
             "  redis: {url: redis://127.0.0.1:6390/0}\n"
             "  cors: {origins: [https://a.example, https://b.example]}\n"
             "  log_level: debug\n"
             "  frobnicate: 1\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->workers, 3);
    assert_int_equal(c->threads, 7);
    assert_int_equal(c->max_requests, 100);
    assert_int_equal(c->max_body_bytes, 2048);
    assert_int_equal(c->heartbeat_ms, 250);
    assert_int_equal(c->timeouts.connect_ms, 11);
    assert_int_equal(c->timeouts.first_byte_ms, 22);
    assert_int_equal(c->timeouts.idle_ms, 33);
    assert_int_equal(c->timeouts.total_ms, 44);
    assert_string_equal(c->spool_dir, "/tmp/sp");
    assert_string_equal(c->redis_url, "redis://127.0.0.1:6390/0");
    assert_int_equal(c->ncors_origins, 2);
    assert_string_equal(c->cors_origins[1], "https://b.example");
    assert_int_equal(c->log_level, 3);
    assert_true(has_warning(c, "t.yaml:12:3: unknown key sllmp.frobnicate"));
    sllmp_conf_unref(c);
}

static void
test_defaults_and_empty(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c = load("", &err);

    (void)state;
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 0);
    assert_int_equal(c->workers, 2);
    assert_int_equal(c->max_json_depth, 64);
    assert_null(c->master_key);
    sllmp_conf_unref(c);

    /* empty and null lists are lists with nothing in them */
    c = load("model_list:\nkeys: ~\nsllmp:\n  cors: {origins: []}\n", &err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments + c->nkeys + c->ncors_origins, 0);
    sllmp_conf_unref(c);
}

static void
test_errors_name_the_place(void **state)
{
    (void)state;
    expect_error("sllmp:\n  workers: many\n", "t.yaml:2:12: sllmp.workers must be an integer");
    expect_error("sllmp:\n  threads: 0\n", "t.yaml:2:12: sllmp.threads must be between 1 and");
    expect_error("sllmp:\n  log_level: loud\n", "t.yaml:2:14: sllmp.log_level");
    expect_error("model_list:\n  - model_name: x\n", "t.yaml:2:5: model 'x' has no litellm_params");
    expect_error("model_list:\n  - litellm_params: {model: openai/x}\n",
                 "t.yaml:2:5: model_list entry has no model_name");
    expect_error("model_list: {a: 1}\n", "t.yaml:1:13: model_list must be a list");
    expect_error("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, "
                 "api_base: ftp://x}\n",
                 "t.yaml:3:49: litellm_params.api_base must start with");
    expect_error("a: [1, 2\n", "t.yaml:2:1: YAML error");
    expect_error("- 1\n- 2\n", "t.yaml:1:1: the configuration must be a mapping");
    unsetenv("SLLMP_SURELY_UNSET");
    expect_error("general_settings:\n  master_key: os.environ/SLLMP_SURELY_UNSET\n",
                 "t.yaml:2:15: general_settings.master_key: environment variable "
                 "SLLMP_SURELY_UNSET is not set");
    expect_error("sllmp:\n  redis: {url: http://x}\n", "t.yaml:2:16: sllmp.redis.url");
    /* a price past any model's: .inf, or a typo in the exponent, would make costs absurd */
    expect_error("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x}\n"
                 "    model_info: {input_cost_per_token: .inf}\n",
                 "t.yaml:4:40: input_cost_per_token must be a number of USD per token");
    expect_error("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x}\n"
                 "    model_info: {output_cost_per_token: 2.5e6}\n",
                 "t.yaml:4:41: output_cost_per_token must be");
}

static void
test_langfuse_and_capture(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    setenv("SLLMP_TEST_LF_PK", "pk-lf-1", 1);
    unsetenv("SLLMP_TEST_LF_SK");
    c = load("model_list:\n"
             "  - model_name: open\n"
             "    litellm_params: {model: mock/echo}\n"
             "  - model_name: private\n"
             "    litellm_params: {model: mock/echo}\n"
             "    model_info: {capture: none}\n"
             "keys:\n"
             "  - {name: a, key: sk-aaaa, capture: metadata}\n"
             "  - {name: b, key: sk-bbbb, capture: full}\n"
             "  - {name: c, key: sk-cccc}\n"
             "litellm_settings: {turn_off_message_logging: true, success_callback: [langfuse]}\n"
             "sllmp:\n"
             "  spool: {dir: /tmp/x, fsync: false, max_mb: 5}\n"
             "  langfuse:\n"
             "    host: http://127.0.0.1:3000/\n"
             "    public_key: os.environ/SLLMP_TEST_LF_PK\n"
             "    secret_key: os.environ/SLLMP_TEST_LF_SK\n"
             "    api: legacy\n"
             "    environment: prod-eu\n"
             "    release: r1\n"
             "    redact: ['[0-9]{4}', 'secret']\n",
             &err);
    assert_null(err);
    assert_non_null(c);
    assert_int_equal(c->spool_fsync, 0);
    assert_int_equal(c->spool_max_mb, 5);
    assert_string_equal(c->langfuse.host, "http://127.0.0.1:3000");
    assert_string_equal(c->langfuse.public_key, "pk-lf-1");
    assert_null(c->langfuse.secret_key); /* unset: only the uploader needs it, and says so */
    assert_string_equal(c->langfuse.unset_secret, "SLLMP_TEST_LF_SK");
    assert_int_equal(c->langfuse.api, SLLMP_LF_LEGACY);
    assert_string_equal(c->langfuse.environment, "prod-eu");
    assert_int_equal(c->langfuse.nredact, 2);
    /* LiteLLM's turn_off_message_logging: no messages unless sllmp.langfuse.capture says */
    assert_int_equal(c->langfuse.capture, SLLMP_CAPTURE_METADATA);
    /* the key's and the model's own settings; the more restrictive when both are set */
    assert_int_equal(sllmp_capture_policy(c, &c->keys[1], &c->deployments[0]), SLLMP_CAPTURE_FULL);
    assert_int_equal(sllmp_capture_policy(c, &c->keys[0], &c->deployments[0]),
                     SLLMP_CAPTURE_METADATA);
    assert_int_equal(sllmp_capture_policy(c, &c->keys[1], &c->deployments[1]), SLLMP_CAPTURE_NONE);
    assert_int_equal(sllmp_capture_policy(c, &c->keys[2], &c->deployments[0]),
                     SLLMP_CAPTURE_METADATA);
    assert_int_equal(sllmp_capture_policy(c, NULL, NULL), SLLMP_CAPTURE_METADATA);
    sllmp_conf_unref(c);

    c = load("litellm_settings: {turn_off_message_logging: true}\n"
             "sllmp: {langfuse: {capture: full}}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->langfuse.capture, SLLMP_CAPTURE_FULL);
    assert_int_equal(c->langfuse.api, SLLMP_LF_OTEL);
    assert_string_equal(c->langfuse.host, "https://cloud.langfuse.com");
    assert_null(c->langfuse.public_key);
    sllmp_conf_unref(c);

    /* LiteLLM's Langfuse variables, from the environment or environment_variables, fill what
     * sllmp.langfuse leaves out; what it sets wins */
    setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-env", 1);
    setenv("LANGFUSE_HOST", "http://127.0.0.1:3001/", 1);
    c = load("litellm_settings: {success_callback: [langfuse]}\n"
             "environment_variables: {LANGFUSE_SECRET_KEY: sk-lf-file}\n",
             &err);
    assert_non_null(c);
    assert_string_equal(c->langfuse.host, "http://127.0.0.1:3001");
    assert_string_equal(c->langfuse.public_key, "pk-lf-env");
    assert_string_equal(c->langfuse.secret_key, "sk-lf-file");
    sllmp_conf_unref(c);
    c = load("sllmp: {langfuse: {host: 'https://lf.example', public_key: pk-own}}\n", &err);
    assert_non_null(c);
    assert_string_equal(c->langfuse.host, "https://lf.example");
    assert_string_equal(c->langfuse.public_key, "pk-own");
    sllmp_conf_unref(c);
    unsetenv("LANGFUSE_HOST");
    setenv("LANGFUSE_BASE_URL", "cloud.langfuse.com", 1); /* not a URL: warned, not taken */
    c = load("model_list: []\n", &err);
    assert_non_null(c);
    assert_string_equal(c->langfuse.host, "https://cloud.langfuse.com");
    assert_true(has_warning(c, "LANGFUSE_BASE_URL is not an http"));
    sllmp_conf_unref(c);
    unsetenv("LANGFUSE_BASE_URL");
    unsetenv("LANGFUSE_PUBLIC_KEY");

    expect_error("sllmp:\n  langfuse:\n    redact: ['ok', '(unclosed']\n",
                 "t.yaml:3:20: sllmp.langfuse.redact: not a POSIX extended regular expression");
    expect_error("sllmp:\n  langfuse: {capture: some}\n",
                 "t.yaml:2:23: sllmp.langfuse.capture must be full, metadata or none");
    expect_error("sllmp:\n  langfuse: {environment: Prod}\n",
                 "t.yaml:2:27: sllmp.langfuse.environment must be");
    expect_error("sllmp:\n  langfuse: {environment: langfuse-x}\n", "environment must be");
    expect_error("sllmp:\n  langfuse: {api: grpc}\n", "t.yaml:2:19: sllmp.langfuse.api");
    expect_error("sllmp:\n  langfuse: {host: cloud.langfuse.com}\n", "must start with http");
    expect_error("keys:\n  - {name: a, key: sk-a, capture: all}\n", "keys[].capture must be");
    expect_error("sllmp:\n  spool: {fsync: maybe}\n", "t.yaml:2:18: sllmp.spool.fsync must be");
}

static void
test_unset_key_leaves_model_out(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    unsetenv("SLLMP_SURELY_UNSET");
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: openai/a, api_key: os.environ/SLLMP_SURELY_UNSET}\n"
             "  - model_name: b\n"
             "    litellm_params: {model: mock/b, mock_delay_ms: 5}\n"
             "  - model_name: c\n"
             "    litellm_params: {model: sagemaker/c}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 1);
    assert_int_equal(c->ndisabled, 2);
    assert_string_equal(c->deployments[0].model_name, "b");
    assert_int_equal(c->deployments[0].provider, SLLMP_PROVIDER_MOCK);
    assert_int_equal(c->deployments[0].mock_delay_ms, 5);
    assert_true(has_warning(c, "SLLMP_SURELY_UNSET is not set: model 'a' is left out"));
    assert_true(has_warning(c, "provider 'sagemaker'"));
    sllmp_conf_unref(c);
}

static void
test_env_expansion(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    setenv("SLLMP_TEST_DIR", "/srv/x", 1);
    unsetenv("SLLMP_FROM_FILE");
    c = load("environment_variables:\n  SLLMP_FROM_FILE: sk-file\n"
             "general_settings: {master_key: os.environ/SLLMP_FROM_FILE}\n"
             "sllmp:\n  spool: {dir: \"${SLLMP_TEST_DIR}/spool\"}\n",
             &err);
    assert_non_null(c);
    assert_string_equal(c->spool_dir, "/srv/x/spool");
    assert_string_equal(c->master_key, "sk-file");
    sllmp_conf_unref(c);
}

static void
test_duplicate_keys_last_wins(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    /* as PyYAML (LiteLLM) reads it: the last value of a key given twice counts, and each earlier
     * one is warned about with its place (they used to be read too, and leaked) */
    (void)state;
    unsetenv("SLLMP_DUP_VAR");
    c = load("environment_variables:\n  SLLMP_DUP_VAR: first\n  SLLMP_DUP_VAR: second\n"
             "general_settings: {master_key: os.environ/SLLMP_DUP_VAR}\n"
             "sllmp:\n  workers: 3\n  spool: {dir: /a}\n  workers: 5\n"
             "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a}\n"
             "model_list:\n  - model_name: b\n    litellm_params: {model: openai/b}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->workers, 5);
    assert_string_equal(c->spool_dir, "/a");
    assert_string_equal(c->master_key, "second");
    assert_int_equal(c->ndeployments, 1);
    assert_string_equal(c->deployments[0].model_name, "b");
    assert_true(has_warning(c, "t.yaml:6:3: workers is given again below: this one is ignored"));
    assert_true(has_warning(c, "t.yaml:9:1: model_list is given again below"));
    sllmp_conf_unref(c);
}

static void
test_merge_keys(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    /* PyYAML's (LiteLLM's) merge keys: the mapping's own keys first, then the first source's,
     * then the next; they used to be warned about and dropped, and the deployment went to
     * api.openai.com */
    (void)state;
    c = load("x-local: &local\n"
             "  api_base: http://127.0.0.1:8000/v1\n"
             "  api_key: sk-local\n"
             "  rpm: 5\n"
             "x-more: &more\n"
             "  api_base: http://127.0.0.1:9999/v1\n"
             "  tpm: 700\n"
             "  rpm: 9\n"
             "model_list:\n"
             "  - model_name: a\n"
             "    litellm_params:\n"
             "      <<: [*local, *more]\n"
             "      model: openai/a\n"
             "      rpm: 7\n"
             "  - model_name: b\n"
             "    litellm_params: {<<: *more, model: openai/b}\n"
             "sllmp: &s {workers: 3}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 2);
    assert_string_equal(c->deployments[0].api_base, "http://127.0.0.1:8000/v1");
    assert_string_equal(c->deployments[0].api_key, "sk-local");
    assert_int_equal(c->deployments[0].rpm, 7);
    assert_int_equal(c->deployments[0].tpm, 700);
    assert_string_equal(c->deployments[1].api_base, "http://127.0.0.1:9999/v1");
    assert_int_equal(c->deployments[1].rpm, 9);
    assert_false(has_warning(c, "<<"));
    sllmp_conf_unref(c);

    /* two << keys: the later one wins, as PyYAML has it (within one list, the first) */
    c = load("x-a: &a {api_base: 'http://a', rpm: 1}\n"
             "x-b: &b {api_base: 'http://b', tpm: 2}\n"
             "x-c: &c {api_base: 'http://c', rpm: 3, tpm: 3}\n"
             "model_list:\n"
             "  - model_name: m\n"
             "    litellm_params: {<<: *a, <<: [*b, *c], model: openai/m}\n",
             &err);
    assert_non_null(c);
    assert_string_equal(c->deployments[0].api_base, "http://b");
    assert_int_equal(c->deployments[0].tpm, 2);
    assert_int_equal(c->deployments[0].rpm, 3);
    sllmp_conf_unref(c);

    expect_error("model_list:\n  - model_name: a\n    litellm_params: {<<: 3, model: openai/a}\n",
                 "t.yaml:3:26: a merge (<<) takes a mapping or a list of mappings, not a scalar");
    /* a mapping merged into itself ends, with nothing added */
    c = load("sllmp: &s {workers: 3, x: {<<: *s}}\n", &err);
    if (c != NULL) {
        sllmp_conf_unref(c);
    }
    free(err);
}

static void
test_bare_model_names(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    /* a model without a provider prefix: OpenAI's and Anthropic's names as LiteLLM infers them;
     * any other is left out, not sent to api.openai.com with the entry's (say Anthropic) key */
    (void)state;
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: claude-3-opus-20240229, api_key: sk-ant}\n"
             "  - model_name: b\n"
             "    litellm_params: {model: gpt-4o-mini, api_key: sk-oai}\n"
             "  - model_name: c\n"
             "    litellm_params: {model: o3-mini, api_key: sk-oai}\n"
             "  - model_name: d\n"
             "    litellm_params: {model: gemini-1.5-pro, api_key: sk-g}\n"
             "  - model_name: e\n"
             "    litellm_params: {model: llama3, api_base: 'http://127.0.0.1:1/v1'}\n"
             "  - model_name: f\n"
             "    litellm_params: {model: o3mini, api_key: sk-oai}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 3);
    assert_int_equal(c->deployments[0].provider, SLLMP_PROVIDER_ANTHROPIC);
    assert_string_equal(c->deployments[0].api_base, "https://api.anthropic.com");
    assert_string_equal(c->deployments[0].model, "claude-3-opus-20240229");
    assert_int_equal(c->deployments[1].provider, SLLMP_PROVIDER_OPENAI);
    assert_string_equal(c->deployments[1].model, "gpt-4o-mini");
    assert_string_equal(c->deployments[2].model, "o3-mini");
    assert_true(has_warning(c, "t.yaml:9:29: litellm_params.model 'gemini-1.5-pro' names no "
                               "provider: write gemini/gemini-1.5-pro"));
    assert_true(has_warning(c, "'llama3' names no provider: write openai/llama3"));
    assert_true(has_warning(c, "'o3mini' names no provider"));
    sllmp_conf_unref(c);
}

/* LiteLLM's litellm_params.custom_llm_provider names the provider of a model written without
 * it (get_llm_provider() puts it in front unless the model already starts with it). */
static void
test_custom_llm_provider(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load("model_list:\n"
             "  - model_name: vllm\n"
             "    litellm_params:\n"
             "      model: meta-llama/Llama-3.1-8B-Instruct\n"
             "      custom_llm_provider: openai\n"
             "      api_base: http://127.0.0.1:8000/v1\n"
             "  - model_name: same\n"
             "    litellm_params: {model: openai/gpt-4o, custom_llm_provider: openai,"
             " api_key: sk-o}\n"
             "  - model_name: claude\n"
             "    litellm_params: {model: claude-x, custom_llm_provider: anthropic, api_key: k}\n"
             "  - model_name: \"any/*\"\n"
             "    litellm_params: {model: \"*\", custom_llm_provider: hosted_vllm,"
             " api_base: 'http://127.0.0.1:8001'}\n"
             "  - model_name: nope\n"
             "    litellm_params: {model: m, custom_llm_provider: sagemaker}\n",
             &err);
    assert_null(err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 4);
    assert_int_equal(c->deployments[0].provider, SLLMP_PROVIDER_OPENAI);
    assert_string_equal(c->deployments[0].model, "meta-llama/Llama-3.1-8B-Instruct");
    assert_string_equal(c->deployments[0].api_base, "http://127.0.0.1:8000/v1");
    assert_string_equal(c->deployments[1].model, "gpt-4o"); /* not openai/openai/gpt-4o */
    assert_int_equal(c->deployments[2].provider, SLLMP_PROVIDER_ANTHROPIC);
    assert_string_equal(c->deployments[2].model, "claude-x");
    assert_true(c->deployments[3].pattern);
    assert_string_equal(c->deployments[3].provider_name, "hosted_vllm");
    assert_false(has_warning(c, "custom_llm_provider"));
    assert_true(has_warning(c, "provider 'sagemaker' is not supported"));
    sllmp_conf_unref(c);
}

/* LiteLLM's wildcard routing: what the '*' of model_name matched fills the model's. */
static void
test_wildcard_match(void **state)
{
    size_t at = 9, len = 9;

    (void)state;
    assert_true(sllmp_pattern_match("openai/*", "openai/gpt-4o", &at, &len));
    assert_int_equal(at, 7);
    assert_int_equal(len, 6);
    assert_true(sllmp_pattern_match("*", "a/b/c", &at, &len)); /* '/' too */
    assert_int_equal(at, 0);
    assert_int_equal(len, 5);
    assert_true(sllmp_pattern_match("fo::*:static", "fo::hi:static", &at, &len));
    assert_int_equal(at, 4);
    assert_int_equal(len, 2);
    assert_true(sllmp_pattern_match("exact", "exact", &at, &len));
    assert_false(sllmp_pattern_match("exact", "exact2", &at, &len));
    assert_false(sllmp_pattern_match("openai/*", "openai/", &at, &len)); /* nothing for it */
    assert_false(sllmp_pattern_match("openai/*", "anthropic/x", &at, &len));
    assert_false(sllmp_pattern_match("a*a", "a", &at, &len)); /* prefix and suffix overlap */
    assert_false(sllmp_pattern_match("openai/*", "openai/*", &at, &len)); /* never a '*' */
    assert_false(sllmp_pattern_match("*", "*", &at, &len));
    /* no "." or ".." segment: a URL would resolve it to a model the pattern does not serve */
    assert_false(sllmp_pattern_match("flash/*", "flash/x/../pro", &at, &len));
    assert_false(sllmp_pattern_match("flash/*", "flash/..", &at, &len));
    assert_false(sllmp_pattern_match("*", "./x", &at, &len));
    assert_false(sllmp_pattern_match("*", "a/./b", &at, &len));
    assert_true(sllmp_pattern_match("*", "a..b/.c/d.", &at, &len)); /* dots inside are fine */
    assert_true(sllmp_pattern_match("bedrock/*", "bedrock/anthropic.claude-3-5-haiku", &at, &len));
}

static void
test_wildcard_routing(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    sllmp_arena_t a;
    const sllmp_deployment_t *g[4], *d;
    sllmp_key_t k = {0};
    char pat[] = "openai/*", name[] = "anthropic/claude-3-5-haiku";
    char *only[] = {pat, name};

    (void)state;
    c = load("model_list:\n"
             "  - model_name: '*'\n"
             "    litellm_params: {model: 'openai/*', api_key: x}\n"
             "  - model_name: 'openai/*'\n"
             "    litellm_params: {model: 'openai/*', api_key: x, rpm: 5}\n"
             "  - model_name: 'openai/*'\n"
             "    litellm_params: {model: 'openai/*', api_key: y}\n"
             "  - model_name: 'openai/gpt-4*'\n"
             "    litellm_params: {model: 'azure/gpt-4*', api_key: x, api_base: 'https://a.b'}\n"
             "  - model_name: 'my-org/*'\n"
             "    litellm_params: {model: 'openai/*', api_key: x}\n"
             "    model_info: {id: org, output_cost_per_token: 0.001}\n"
             "  - model_name: openai/gpt-4o-mini\n"
             "    litellm_params: {model: 'openai/gpt-4o-mini', api_key: x}\n"
             "  - model_name: 'b/*'\n"
             "    litellm_params: {model: 'bedrock/converse/*', api_key: x, aws_region_name: r}\n"
             "  - model_name: 'fixed-*'\n"
             "    litellm_params: {model: 'openai/gpt-4o-mini', api_key: x}\n"
             "router_settings:\n"
             "  model_group_alias: {cheap: openai/o3-mini}\n"
             "  fallbacks: [{'openai/*': [anthropic-x]}, {openai/o1: [my-org/o1]}]\n",
             &err);
    assert_null(err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 8);
    assert_true(c->deployments[0].pattern);
    assert_string_equal(c->deployments[0].model, "*");
    assert_false(c->deployments[5].pattern);
    /* no load-time "no price" warning for a model not yet known */
    assert_false(has_warning(c, "no price"));
    assert_true(c->deployments[1].price_per_model);
    assert_false(c->deployments[7].price_per_model); /* its model has no '*': priced once */

    /* exact names, then aliases, then the longest pattern; "*" last */
    assert_string_equal(sllmp_conf_route_name(c, "openai/gpt-4o-mini"), "openai/gpt-4o-mini");
    assert_ptr_equal(sllmp_conf_serving(c, "openai/gpt-4o-mini"), &c->deployments[5]);
    assert_string_equal(sllmp_conf_route_name(c, "cheap"), "openai/o3-mini");
    assert_string_equal(sllmp_conf_route_name(c, "openai/o1"), "openai/o1");
    assert_ptr_equal(sllmp_conf_serving(c, "openai/o1"), &c->deployments[1]);
    assert_ptr_equal(sllmp_conf_serving(c, "openai/gpt-4.1"), &c->deployments[3]);
    assert_ptr_equal(sllmp_conf_serving(c, "my-org/o1"), &c->deployments[4]);
    assert_ptr_equal(sllmp_conf_serving(c, "mistral/x"), &c->deployments[0]);
    assert_ptr_equal(sllmp_conf_serving(c, "openai/x"), &c->deployments[1]);
    assert_null(sllmp_conf_route_name(c, "openai/*")); /* the pattern itself is no model */

    /* a pattern's entries are one group, as any model_name's */
    assert_int_equal(sllmp_conf_group(c, "openai/o1", g, 4), 2);
    assert_ptr_equal(g[0], &c->deployments[1]);
    assert_ptr_equal(g[1], &c->deployments[2]);
    assert_int_equal(sllmp_conf_group(c, "cheap-not", g, 4), 1); /* "*" */

    /* a deployment as it serves one name: model, price and messages_api of that model; the
     * rest (id, limits, routing state) its own */
    sllmp_arena_init(&a, 4096);
    d = sllmp_deployment_for(&c->deployments[1], "openai/gpt-4o-mini", &a);
    assert_ptr_not_equal(d, &c->deployments[1]);
    assert_string_equal(d->model, "gpt-4o-mini");
    assert_string_equal(d->litellm_model, "openai/gpt-4o-mini");
    assert_string_equal(d->model_name, "openai/*");
    assert_string_equal(d->id, c->deployments[1].id);
    assert_string_equal(d->route_id, c->deployments[1].route_id);
    assert_int_equal(d->rpm, 5);
    assert_true(d->price.known);
    assert_true(d->price.input > 0.1 && d->price.input < 0.2);
    assert_string_equal(c->deployments[1].model, "*"); /* the config's is untouched */
    d = sllmp_deployment_for(&c->deployments[0], "anthropic/claude-x", &a);
    assert_string_equal(d->model, "anthropic/claude-x"); /* "*" keeps it all, as LiteLLM */
    assert_int_equal(d->provider, SLLMP_PROVIDER_OPENAI);
    assert_false(d->price.known);
    d = sllmp_deployment_for(&c->deployments[4], "my-org/gpt-4o-mini", &a);
    assert_string_equal(d->model, "gpt-4o-mini");
    assert_string_equal(d->id, "org");
    assert_true(d->price.input > 0.1 && d->price.input < 0.2);
    assert_true(d->price.output > 999 && d->price.output < 1001); /* model_info over it */
    /* chat through the Responses API for the model it serves: OpenAI's that has no chat
     * completions, and LiteLLM's responses/ route (gone from the model sent) */
    d = sllmp_deployment_for(&c->deployments[1], "openai/o3-pro", &a);
    assert_true(d->chat_via_responses);
    d = sllmp_deployment_for(&c->deployments[1], "openai/responses/gpt-4.1", &a);
    assert_string_equal(d->model, "gpt-4.1");
    assert_true(d->chat_via_responses);
    d = sllmp_deployment_for(&c->deployments[1], "openai/gpt-4.1", &a);
    assert_false(d->chat_via_responses);
    d = sllmp_deployment_for(&c->deployments[3], "openai/gpt-4o-mini", &a);
    assert_string_equal(d->model, "gpt-4o-mini"); /* Azure's deployment name */
    assert_true(d->price.known);
    d = sllmp_deployment_for(&c->deployments[6], "b/converse/anthropic.claude-3", &a);
    assert_string_equal(d->model, "anthropic.claude-3");
    assert_true(d->messages_api);
    assert_false(c->deployments[6].messages_api);
    d = sllmp_deployment_for(&c->deployments[7], "fixed-a", &a);
    assert_string_equal(d->model, "gpt-4o-mini");
    assert_ptr_equal(sllmp_deployment_for(&c->deployments[5], "openai/gpt-4o-mini", &a),
                     &c->deployments[5]);
    sllmp_arena_destroy(&a);

    /* fallbacks: a pattern's list for each model it serves, unless the model has its own */
    assert_null(sllmp_conf_fallback(c, SLLMP_FB_GENERIC, "openai/gpt-4.1")); /* gpt-4* has none */
    assert_string_equal(sllmp_conf_fallback(c, SLLMP_FB_GENERIC, "openai/o3")->to[0],
                        "anthropic-x");
    assert_string_equal(sllmp_conf_fallback(c, SLLMP_FB_GENERIC, "openai/o1")->to[0], "my-org/o1");

    /* keys: a pattern allows each name it matches; a name allows itself */
    k.models = only;
    k.nmodels = 2;
    assert_true(sllmp_key_allows(&k, "openai/gpt-4o"));
    assert_true(sllmp_key_allows(&k, "openai/*"));
    assert_true(sllmp_key_allows(&k, "anthropic/claude-3-5-haiku"));
    assert_false(sllmp_key_allows(&k, "anthropic/claude-3-opus"));
    assert_false(sllmp_key_allows(&k, "my-org/gpt-4o"));
    sllmp_conf_unref(c);

    /* refused: two stars, a star with nothing to fill it, a fallback to a pattern */
    expect_error("model_list:\n"
                 "  - model_name: 'a/*/*'\n"
                 "    litellm_params: {model: 'openai/*', api_key: x}\n",
                 "t.yaml:2:17: model_name 'a/*/*' has more than one '*'");
    expect_error("model_list:\n"
                 "  - model_name: 'a/*'\n"
                 "    litellm_params: {model: 'openai/*-*', api_key: x}\n",
                 "t.yaml:3:29: litellm_params.model 'openai/*-*' has more than one '*'");
    expect_error("model_list:\n"
                 "  - model_name: any\n"
                 "    litellm_params: {model: 'anthropic/*', api_key: x}\n",
                 "t.yaml:3:29: litellm_params.model 'anthropic/*' has a '*' but model_name "
                 "'any' has none");
    expect_error("model_list:\n"
                 "  - {model_name: 'a/*', litellm_params: {model: 'openai/*', api_key: x}}\n"
                 "  - {model_name: b, litellm_params: {model: 'openai/b', api_key: x}}\n"
                 "router_settings:\n"
                 "  fallbacks: [{b: ['a/*']}]\n",
                 "t.yaml:5:19: fallbacks: fallback model 'a/*' is a wildcard "
                 "pattern, not a model");
    expect_error("model_list:\n"
                 "  - {model_name: 'a/*', litellm_params: {model: 'openai/*', api_key: x}}\n"
                 "router_settings:\n"
                 "  model_group_alias: {x: 'a/*'}\n",
                 "is a wildcard pattern, not a model");
}

static void
test_litellm_spellings(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    char big[8192];
    size_t n = 0;

    (void)state;
    /* access_log: YAML's false in any spelling is off, not a file named "no" */
    c = load("sllmp: {access_log: No}\n", &err);
    assert_non_null(c);
    assert_null(c->access_log);
    sllmp_conf_unref(c);
    c = load("sllmp: {access_log: 'off'}\n", &err);
    assert_non_null(c);
    assert_null(c->access_log);
    sllmp_conf_unref(c);
    expect_error("sllmp: {access_log: True}\n", "t.yaml:1:21: sllmp.access_log is a file");

    /* numbers quoted or from the environment, as LiteLLM coerces them */
    setenv("SLLMP_T_RPM", "42", 1);
    unsetenv("SLLMP_T_UNSET");
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: openai/a, api_key: x, rpm: os.environ/SLLMP_T_RPM,\n"
             "                     tpm: '900', timeout: \"7\"}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->deployments[0].rpm, 42);
    assert_int_equal(c->deployments[0].tpm, 900);
    assert_int_equal(c->deployments[0].timeout_ms, 7000);
    sllmp_conf_unref(c);
    expect_error("model_list:\n  - model_name: a\n"
                 "    litellm_params: {model: openai/a, rpm: os.environ/SLLMP_T_UNSET}\n",
                 "t.yaml:3:44: litellm_params.rpm: environment variable SLLMP_T_UNSET is not set");
    expect_error(
        "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a, rpm: 'x'}\n",
        "must be an integer");

    /* more deployments in one group than the router looks at: refused, not silently unused */
    n += (size_t)snprintf(big + n, sizeof(big) - n, "model_list:\n");
    for (int i = 0; i <= SLLMP_GROUP_MAX; i++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n,
                              "  - {model_name: g, litellm_params: {model: openai/m%d}}\n", i);
    }
    expect_error(big, "t.yaml:34:5: model_name 'g' has more than 32 deployments");
}

static void
test_metadata_aliases_bounded(void **state)
{
    /* a key's metadata made JSON: an alias inside itself, or aliases of aliases multiplying a
     * node past 10,000 values, is refused where it starts (it overflowed the stack, or took
     * gigabytes) */
    (void)state;
    expect_error("keys:\n  - name: k\n    key_sha256: "
                 "1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549\n"
                 "    metadata: &m {self: *m}\n",
                 "t.yaml:4:15: keys[].metadata is nested deeper than 64 levels");
    expect_error("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
                 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                 "keys:\n  - name: k\n    key_sha256: "
                 "1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549\n"
                 "    metadata: {big: *d}\n",
                 "more than 10000 values");
}

static void
test_embedded_default(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    unsetenv("OPENAI_API_KEY");
    c = sllmp_conf_load_embedded(&err);
    assert_non_null(c);
    assert_non_null(sllmp_conf_find(c, "mock", 4));
    assert_null(sllmp_conf_find(c, "gpt-4o-mini", 11));
    sllmp_conf_unref(c);
    setenv("OPENAI_API_KEY", "sk-test", 1);
    c = sllmp_conf_load_embedded(&err);
    assert_non_null(sllmp_conf_find(c, "gpt-4o-mini", 11));
    sllmp_conf_unref(c);
    unsetenv("OPENAI_API_KEY");
}

/* Without spool.dir: $SLLMP_RUNDIR/spool, else beside the YAML, never the working directory
 * (the web space under mod_fcgid and CGI); the embedded config: var/spool. */
static void
test_default_spool_dir(void **state)
{
    char *path = write_temp("sllmp:\n  workers: 1\n");
    char *err = NULL, *old = getenv("SLLMP_RUNDIR") ? strdup(getenv("SLLMP_RUNDIR")) : NULL;
    sllmp_conf_t *c;

    (void)state;
    unsetenv("SLLMP_RUNDIR");
    c = sllmp_conf_load(path, NULL, 0, &err);
    assert_non_null(c);
    assert_string_equal(c->spool_dir, "/tmp/spool");
    sllmp_conf_unref(c);

    setenv("SLLMP_RUNDIR", "/srv/run", 1);
    c = sllmp_conf_load(path, NULL, 0, &err);
    assert_non_null(c);
    assert_string_equal(c->spool_dir, "/srv/run/spool");
    sllmp_conf_unref(c);

    unsetenv("SLLMP_RUNDIR");
    c = sllmp_conf_load_embedded(&err);
    assert_non_null(c);
    assert_string_equal(c->spool_dir, "var/spool");
    sllmp_conf_unref(c);

    /* named in the YAML: as written */
    c = load("sllmp:\n  spool: {dir: rel/sp}\n", &err);
    assert_non_null(c);
    assert_string_equal(c->spool_dir, "rel/sp");
    sllmp_conf_unref(c);
    if (old != NULL) {
        setenv("SLLMP_RUNDIR", old, 1);
        free(old);
    }
    unlink(path);
    free(path);
}

/* The CA file: libcurl's own when it exists, else another distribution's, else none. */
static void
test_ca_probe(void **state)
{
    char *a = write_temp("x"), *b = write_temp("y");
    const char *none[] = {NULL};
    const char *list[] = {"/nonexistent/1.pem", a, b, NULL};

    (void)state;
    assert_null(sllmp_ca_probe(b, list)); /* the built-in file is there */
    assert_string_equal(sllmp_ca_probe("/nonexistent/ca.crt", list), a);
    assert_null(sllmp_ca_probe("/nonexistent/ca.crt", none));
    unlink(a);
    unlink(b);
    free(a);
    free(b);
}

static void
test_cache_reloads_changed_file(void **state)
{
    char *path =
        write_temp("model_list:\n  - model_name: one\n    litellm_params: {model: mock/x}\n");
    char *err = NULL;
    sllmp_conf_t *a, *b, *c;
    FILE *f;

    (void)state;
    a = sllmp_conf_get(path, &err);
    assert_non_null(a);
    assert_non_null(sllmp_conf_find(a, "one", 3));
    b = sllmp_conf_get(path, &err);
    assert_ptr_equal(a, b); /* parsed once */
    sllmp_conf_unref(b);

    /* a broken edit keeps the last good version */
    sleep(1);
    f = fopen(path, "w");
    fputs("model_list: [oops\n", f);
    fclose(f);
    usleep(1100 * 1000);
    b = sllmp_conf_get(path, &err);
    assert_ptr_equal(a, b);
    sllmp_conf_unref(b);

    f = fopen(path, "w");
    fputs("model_list:\n  - model_name: two\n    litellm_params: {model: mock/x}\n", f);
    fclose(f);
    usleep(1100 * 1000);
    c = sllmp_conf_get(path, &err);
    assert_non_null(c);
    assert_ptr_not_equal(a, c);
    assert_non_null(sllmp_conf_find(c, "two", 3));
    assert_non_null(sllmp_conf_find(a, "one", 3)); /* the old one lives while referenced */
    sllmp_conf_unref(a);
    sllmp_conf_unref(c);
    sllmp_conf_cache_flush();
    unlink(path);
    free(path);
}

static void
test_describe_hides_secrets(void **state)
{
    char *err = NULL;
    char buf[4096] = "";
    sllmp_conf_t *c;

    (void)state;
    c = load("model_list:\n  - model_name: a\n    litellm_params: {model: openai/a, api_key: "
             "sk-visible-nowhere}\n"
             "general_settings: {master_key: sk-master-nowhere}\n"
             "sllmp: {redis: {url: \"redis://:hunter2@10.0.0.1:6379/0\"}}\n",
             &err);
    assert_non_null(c);
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "redis: redis://***@10.0.0.1:6379/0"));
    assert_null(strstr(buf, "hunter2"));
    assert_null(strstr(buf, "sk-visible-nowhere"));
    assert_null(strstr(buf, "sk-master-nowhere"));
    sllmp_conf_unref(c);
}

static void
test_upstream_headers(void **state)
{
    char *err = NULL;
    char buf[4096] = "";
    sllmp_conf_t *c;
    const sllmp_deployment_t *d;

    (void)state;
    setenv("SLLMP_T_HDR", "hdr-value-nowhere", 1);
    unsetenv("SLLMP_T_UNSET");
    c = load(
        "model_list:\n"
        "  - model_name: a\n"
        "    litellm_params:\n"
        "      model: openai/a\n"
        "      organization: org-1\n"
        "      extra_headers: {X-Title: app, openai-organization: org-2,\n"
        "                      X-Key: os.environ/SLLMP_T_HDR}\n"
        "  - model_name: b\n"
        "    litellm_params: {model: anthropic/b, organization: org-1,\n"
        "                     headers: {anthropic-beta: x}}\n"
        "  - model_name: c\n"
        "    litellm_params: {model: azure/c, api_base: 'https://r.example',\n"
        "                     api_key: k, azure_ad_token: t}\n"
        "  - model_name: d\n"
        "    litellm_params: {model: azure/d, api_base: 'https://r.example',\n"
        "                     azure_ad_token: tok}\n"
        "  - model_name: e\n"
        "    litellm_params: {model: openai/e, extra_headers: {X: os.environ/SLLMP_T_UNSET}}\n",
        &err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 4);
    d = &c->deployments[0];
    /* the organization's header gives way to extra_headers' of the same name */
    assert_int_equal(d->nheaders, 3);
    assert_string_equal(d->headers[0], "openai-organization: org-2");
    assert_string_equal(d->headers[1], "X-Title: app");
    assert_string_equal(d->headers[2], "X-Key: hdr-value-nowhere");
    assert_null(d->headers[3]);
    d = &c->deployments[1];
    assert_int_equal(d->nheaders, 1);
    assert_string_equal(d->headers[0], "anthropic-beta: x");
    assert_true(has_warning(c, "t.yaml:9:56: litellm_params.organization is for OpenAI"));
    assert_int_equal(c->deployments[2].nheaders, 0); /* the api key wins, as in LiteLLM */
    assert_true(has_warning(c, "model 'c' has an api key"));
    assert_int_equal(c->deployments[3].nheaders, 1);
    assert_string_equal(c->deployments[3].headers[0], "Authorization: Bearer tok");
    assert_true(has_warning(c, "environment variable SLLMP_T_UNSET is not set: model 'e'"));
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "headers openai-organization X-Title X-Key"));
    assert_null(strstr(buf, "hdr-value-nowhere"));
    assert_null(strstr(buf, "Bearer tok"));
    sllmp_conf_unref(c);

    expect_error("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, "
                 "extra_headers: {Host: h}}\n",
                 "t.yaml:3:55: model 'x': the Host header is not one a config may set");
    expect_error("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, "
                 "extra_headers: {\"X-A\": \"a\\r\\nX-B: b\"}}\n",
                 "t.yaml:3:55: model 'x': the value of header X-A has a control character");
    expect_error("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, "
                 "extra_headers: {\"X A\": b}}\n",
                 "t.yaml:3:55: model 'x': 'X A' is not an HTTP header name");
    expect_error("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, "
                 "extra_headers: [a]}\n",
                 "t.yaml:3:54: litellm_params.extra_headers must be a mapping");
    expect_error("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, "
                 "extra_headers: {X-A: ~}}\n",
                 "t.yaml:3:60: litellm_params.extra_headers.X-A has no value");
    /* Bedrock signs these with SigV4: another value would break the signature */
    expect_error("model_list:\n  - model_name: x\n    litellm_params: {model: bedrock/x, "
                 "aws_region_name: us-east-1, aws_access_key_id: a, aws_secret_access_key: s,\n"
                 "      extra_headers: {X-Amz-Date: d}}\n",
                 "t.yaml:4:23: model 'x': the X-Amz-Date header is part of the AWS signature");
}

/* LiteLLM sends both litellm_params.headers and extra_headers (headers.update(extra_headers)):
 * neither map is dropped, and extra_headers wins for a name in both, whichever is written first. */
static void
test_headers_and_extra_headers_merge(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    const sllmp_deployment_t *d;

    (void)state;
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params:\n"
             "      model: openai/a\n"
             "      extra_headers: {X-B: from-extra, X-Both: extra}\n"
             "      headers: {X-A: from-headers, x-both: headers}\n"
             "  - model_name: b\n"
             "    litellm_params:\n"
             "      model: openai/b\n"
             "      headers: {X-A: from-headers, x-both: headers}\n"
             "      extra_headers: {X-B: from-extra, X-Both: extra}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 2);
    for (size_t i = 0; i < 2; i++) {
        d = &c->deployments[i];
        assert_int_equal(d->nheaders, 3);
        assert_string_equal(d->headers[0], "X-A: from-headers");
        assert_string_equal(d->headers[1], "X-Both: extra");
        assert_string_equal(d->headers[2], "X-B: from-extra");
    }
    sllmp_conf_unref(c);

    /* a message names the key that was written */
    expect_error("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, "
                 "headers: [a]}\n",
                 "t.yaml:3:48: litellm_params.headers must be a mapping");
}

static void
test_buffer_streams(void **state)
{
    char *err = NULL;
    char buf[4096] = "";
    sllmp_conf_t *c;

    (void)state;
    c = load("sllmp: {workers: 1}\n", &err);
    assert_non_null(c);
    assert_int_equal(c->buffer_streams, 0); /* flushed event by event unless asked */
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "streams: flushed event by event\n"));
    sllmp_conf_unref(c);

    c = load("sllmp:\n  buffer_streams: true\n", &err);
    assert_non_null(c);
    assert_int_equal(c->buffer_streams, 1);
    assert_int_equal(c->buffer_streams_max_ms, 30000); /* below FcgidIOTimeout's 40 s */
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "streams: held, each sent whole at its end with Content-Length"));
    assert_non_null(strstr(buf, "one not done after 30000 ms goes on flushed"));
    sllmp_conf_unref(c);
    c = load("sllmp:\n  buffer_streams: true\n  buffer_streams_max_ms: 500\n", &err);
    assert_non_null(c);
    assert_int_equal(c->buffer_streams_max_ms, 500);
    sllmp_conf_unref(c);
    expect_error("sllmp:\n  buffer_streams_max_ms: 5\n",
                 "t.yaml:2:26: sllmp.buffer_streams_max_ms must be between 100 and");

    c = load("sllmp:\n  buffer_streams: false\n", &err);
    assert_non_null(c);
    assert_int_equal(c->buffer_streams, 0);
    sllmp_conf_unref(c);

    c = load("sllmp: {buffer_streams: Yes}\n", &err);
    assert_non_null(c);
    assert_int_equal(c->buffer_streams, 1);
    sllmp_conf_unref(c);

    expect_error("sllmp:\n  buffer_streams: maybe\n",
                 "t.yaml:2:19: sllmp.buffer_streams must be true or false");
    expect_error("sllmp:\n  workers: 1\n  buffer_streams: 1\n",
                 "t.yaml:3:19: sllmp.buffer_streams must be true or false");
    expect_error("sllmp: {buffer_streams: [true]}\n",
                 "t.yaml:1:25: sllmp.buffer_streams must be true or false");
}

#define SHA_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static void
test_teams_users_and_limit_settings(void **state)
{
    static const char text[] = "teams:\n"
                               "  - name: eng\n"
                               "    tpm: 1000\n"
                               "    budget_usd: 0.5\n"
                               "users:\n"
                               "  - name: bob\n"
                               "    rpm: 2\n"
                               "  - name: \"*\"\n"
                               "    max_parallel: 3\n"
                               "    budget_period: total\n"
                               "sllmp:\n"
                               "  redis:\n"
                               "    url: redis://127.0.0.1:1/0\n"
                               "    timeout_ms: 30\n"
                               "    on_error: {rpm: closed, budget: open}\n"
                               "  limits:\n"
                               "    backend: local\n"
                               "    lease_ms: 1500\n"
                               "    reserve_max_tokens: 99\n";
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load(text, &err);
    assert_null(err);
    assert_non_null(c);
    assert_int_equal(c->nteams, 1);
    assert_int_equal(sllmp_conf_team(c, "eng")->lim.tpm, 1000);
    assert_int_equal(sllmp_conf_team(c, "eng")->lim.budget_nano, 500000000LL);
    assert_null(sllmp_conf_team(c, "ops"));
    assert_int_equal(sllmp_conf_user(c, "bob")->lim.rpm, 2);
    assert_string_equal(sllmp_conf_user(c, "carol")->name, "*");
    assert_int_equal(sllmp_conf_user(c, "carol")->lim.parallel, 3);
    assert_null(sllmp_conf_user(c, NULL));
    assert_int_equal(c->redis_timeout_ms, 30);
    assert_int_equal(c->redis_connect_timeout_ms, 100);
    assert_true(c->fail_closed[SLLMP_LIM_RPM]);
    assert_false(c->fail_closed[SLLMP_LIM_TPM]);
    assert_false(c->fail_closed[SLLMP_LIM_BUDGET]);
    assert_int_equal(c->limits_backend, SLLMP_BACKEND_LOCAL);
    assert_int_equal(c->lease_ms, 1500);
    assert_int_equal(c->reserve_max_tokens, 99);
    sllmp_conf_unref(c);

    c = load("users:\n  - name: a\n  - name: a\n", &err);
    assert_null(c);
    assert_non_null(strstr(err, "t.yaml:3:5: users 'a' is listed twice"));
    free(err);
    c = load("keys:\n  - key_sha256: " SHA_HELLO "\n    budget_period: 2d\n", &err);
    assert_null(c);
    assert_non_null(strstr(err, "t.yaml:3:20: keys[].budget_period must be one of"));
    free(err);
    c = load("keys:\n  - {name: a, key: os.environ/SLLMP_TEST_KEY}\n"
             "  - {name: a, key_sha256: " SHA_HELLO "}\n",
             &err);
    assert_null(c);
    assert_non_null(strstr(err, "t.yaml:3:5: two keys are named 'a' (line 2)"));
    free(err);
    c = load("sllmp:\n  limits:\n    lease_ms: 500\n", &err);
    assert_null(c);
    assert_non_null(strstr(err, "t.yaml:3:15: sllmp.limits.lease_ms"));
    free(err);
    c = load("sllmp:\n  redis:\n    on_error: {rpm: maybe}\n", &err);
    assert_null(c);
    assert_non_null(strstr(err, "t.yaml:3:21: sllmp.redis.on_error values must be open or closed"));
    free(err);
}

static void
test_keys(void **state)
{
    static const char text[] =
        "keys:\n"
        "  - name: alice\n"
        "    key: os.environ/SLLMP_TEST_ALICE\n"
        "    user: alice\n"
        "    team: research\n"
        "    models: [m1, m2]\n"
        "    rpm: 60\n"
        "    budget_usd: 12.5\n"
        "    budget_period: 7d\n"
        "    expires: 2031-02-03T04:05:06Z\n"
        "    metadata: {cost_center: 42, tags: [a, b], note: hi}\n"
        "  - key_sha256: 2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824\n";
    char *err = NULL;
    unsigned char sha[32];
    sllmp_conf_t *c;

    (void)state;
    setenv("SLLMP_TEST_ALICE", "sk-alice", 1);
    c = load(text, &err);
    assert_non_null(c);
    assert_int_equal(c->nkeys, 2);
    sllmp_sha256("sk-alice", 8, sha);
    assert_memory_equal(c->keys[0].sha256, sha, 32);
    assert_string_equal(c->keys[0].name, "alice");
    assert_string_equal(c->keys[0].user, "alice");
    assert_string_equal(c->keys[0].team, "research");
    assert_int_equal(c->keys[0].nmodels, 2);
    assert_int_equal(c->keys[0].lim.rpm, 60);
    assert_int_equal(c->keys[0].lim.budget_nano, 12500000000LL);
    assert_int_equal(c->keys[0].lim.budget_period_s, 604800);
    assert_int_equal(c->keys[1].lim.budget_nano, -1);
    assert_false(sllmp_limits_any(&c->keys[1].lim));
    assert_int_equal((long)c->keys[0].expires, 1927857906L);
    assert_string_equal(c->keys[0].metadata_json,
                        "{\"cost_center\":42,\"tags\":[\"a\",\"b\"],\"note\":\"hi\"}");
    assert_true(sllmp_key_allows(&c->keys[0], "m2"));
    assert_false(sllmp_key_allows(&c->keys[0], "m3"));
    assert_true(sllmp_key_allows(&c->keys[1], "anything"));
    assert_true(sllmp_key_allows(NULL, "anything"));
    sllmp_sha256("hello", 5, sha); /* the upper-case digest above is SHA-256("hello") */
    assert_memory_equal(c->keys[1].sha256, sha, 32);
    assert_string_equal(c->keys[1].name, "key-2");
    assert_false(has_warning(c, "not enforced"));
    sllmp_conf_unref(c);

    expect_error("keys:\n  - name: x\n", "t.yaml:2:5: a keys entry needs `key`");
    expect_error("keys:\n  - key_sha256: abc\n", "t.yaml:2:17: keys[].key_sha256 must be 64 hex");
    expect_error("keys:\n  - {key: a, expires: soon}\n", "t.yaml:2:23: keys[].expires must be");
    expect_error("keys:\n  - {key: a, budget_period: 2w}\n", "t.yaml:2:29: keys[].budget_period");
    expect_error("keys:\n  - {key: a}\n  - {key: a}\n", "t.yaml:3:5: key 'key-2' is the same key");
}

/* A service account key file for Vertex AI's tests: path in buf. */
static void
write_sa_key(char *buf, size_t len, const char *project)
{
    EVP_PKEY *k = EVP_RSA_gen(1024);
    BIO *bio = BIO_new(BIO_s_mem());
    cJSON *o = cJSON_CreateObject();
    char *pem, *text;
    long n;
    FILE *f;

    assert_non_null(k);
    assert_true(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL));
    n = BIO_get_mem_data(bio, &pem);
    cJSON_AddStringToObject(o, "type", "service_account");
    if (project != NULL) {
        cJSON_AddStringToObject(o, "project_id", project);
    }
    cJSON_AddStringToObject(o, "client_email", "svc@p.iam.gserviceaccount.com");
    pem = sllmp_xstrndup(pem, (size_t)n);
    cJSON_AddStringToObject(o, "private_key", pem);
    free(pem);
    text = cJSON_PrintUnformatted(o);
    snprintf(buf, len, "/tmp/sllmp-test-sa-%d.json", (int)getpid());
    f = fopen(buf, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    cJSON_free(text);
    cJSON_Delete(o);
    BIO_free(bio);
    EVP_PKEY_free(k);
}

static void
unset_google_env(void)
{
    static const char *const names[] = {
        "VERTEXAI_CREDENTIALS", "VERTEX_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS",
        "VERTEXAI_PROJECT",     "VERTEX_PROJECT",     "GOOGLE_CLOUD_PROJECT",
        "GCLOUD_PROJECT",       "VERTEXAI_LOCATION",  "VERTEX_LOCATION",
        "VERTEXAI_API_BASE",    "VERTEX_API_BASE",    "CLOUDSDK_CONFIG",
        "GCE_METADATA_HOST",    "GCE_METADATA_ROOT",  NULL};

    for (int i = 0; names[i] != NULL; i++) {
        unsetenv(names[i]);
    }
    setenv("HOME", "/nonexistent-sllmp-home", 1); /* no gcloud credentials of the machine's */
}

/* vertex_ai/: credentials from a key file, project and location, the URL's root by location,
 * Claude or Gemini by the name, LiteLLM's api_base forms, prices as Google's and Anthropic's. */
static void
test_vertex_ai(void **state)
{
    char key[128], *yaml, *err = NULL;
    const char *home = getenv("HOME");
    char *saved_home = home != NULL ? strdup(home) : NULL;
    sllmp_conf_t *c;
    const sllmp_deployment_t *d;
    sllmp_arena_t arena, *a = &arena;

    (void)state;
    sllmp_arena_init(a, 4096);
    unset_google_env();
    write_sa_key(key, sizeof(key), "key-proj");
    setenv("MY_VERTEX_FILE", key, 1);
    yaml = sllmp_xasprintf(
        "model_list:\n"
        "  - {model_name: g, litellm_params: {model: vertex_ai/gemini-2.5-flash, "
        "vertex_credentials: %s, vertex_project: p-1, vertex_location: us-east5}}\n"
        "  - {model_name: k, litellm_params: {model: vertex_ai/claude-sonnet-4-5@20250929, "
        "vertex_credentials: os.environ/MY_VERTEX_FILE}}\n"
        "  - {model_name: gl, litellm_params: {model: vertex_ai/gemini/gemini-2.5-pro, "
        "vertex_ai_credentials: %s, vertex_ai_location: global}}\n"
        "  - {model_name: us, litellm_params: {model: vertex_ai_beta/gemini-2.5-flash, "
        "vertex_credentials: %s, vertex_location: us}}\n"
        "  - {model_name: full, litellm_params: {model: vertex_ai/gemini-2.5-flash, "
        "vertex_credentials: %s, api_base: 'http://127.0.0.1:9/v1/projects/x/locations/y/"
        "publishers/google/models/gemini-2.5-flash'}}\n"
        "  - {model_name: host, litellm_params: {model: vertex_ai/gemini-2.5-flash, "
        "vertex_credentials: %s, api_base: 'http://127.0.0.1:9/'}}\n"
        "  - {model_name: dom, litellm_params: {model: vertex_ai/gemini-2.5-flash, "
        "vertex_credentials: %s, vertex_project: 'example.com:proj'}}\n"
        "  - {model_name: mistral, litellm_params: {model: vertex_ai/mistral-large@2411-001, "
        "vertex_credentials: %s}}\n"
        "  - {model_name: \"vx/*\", litellm_params: {model: \"vertex_ai/*\", "
        "vertex_credentials: %s}}\n",
        key, key, key, key, key, key, key, key);
    c = load(yaml, &err);
    assert_null(err);
    assert_non_null(c);
    d = sllmp_conf_find(c, "g", 1);
    assert_int_equal(d->provider, SLLMP_PROVIDER_GEMINI);
    assert_string_equal(d->provider_name, "vertex_ai");
    assert_non_null(d->gcp);
    assert_int_equal(d->gcp->kind, SLLMP_GCRED_SERVICE_ACCOUNT);
    assert_string_equal(d->api_base,
                        "https://us-east5-aiplatform.googleapis.com/v1/projects/p-1/locations/"
                        "us-east5");
    assert_false(d->messages_api);
    assert_true(d->price.input > 0); /* gemini/gemini-2.5-flash's */
    d = sllmp_conf_find(c, "k", 1);
    assert_int_equal(d->provider, SLLMP_PROVIDER_ANTHROPIC);
    assert_true(d->messages_api);
    assert_string_equal(d->model, "claude-sonnet-4-5@20250929");
    /* the key's project, the default location */
    assert_string_equal(d->api_base, "https://us-central1-aiplatform.googleapis.com/v1/projects/"
                                     "key-proj/locations/us-central1");
    assert_true(d->price.input == 3.0 && d->price.cache_write == 3.75);
    d = sllmp_conf_find(c, "gl", 2);
    assert_string_equal(d->model, "gemini-2.5-pro");
    assert_string_equal(d->api_base,
                        "https://aiplatform.googleapis.com/v1/projects/key-proj/locations/global");
    d = sllmp_conf_find(c, "us", 2);
    assert_string_equal(d->provider_name, "vertex_ai");
    assert_string_equal(d->api_base,
                        "https://aiplatform.us.rep.googleapis.com/v1/projects/key-proj/locations/"
                        "us");
    d = sllmp_conf_find(c, "full", 4);
    assert_true(d->vertex_model_url);
    d = sllmp_conf_find(c, "host", 4);
    assert_false(d->vertex_model_url);
    assert_string_equal(d->api_base,
                        "http://127.0.0.1:9/v1/projects/key-proj/locations/us-central1");
    /* a domain-scoped project is a path segment like any */
    assert_string_equal(sllmp_conf_find(c, "dom", 3)->api_base,
                        "https://us-central1-aiplatform.googleapis.com/v1/projects/"
                        "example.com:proj/locations/us-central1");
    assert_null(sllmp_conf_find(c, "mistral", 7));
    assert_true(has_warning(c, "partner model 'mistral-large@2411-001' is not supported"));
    /* a pattern's model is Claude or Gemini by the name asked for */
    d = sllmp_conf_find(c, "vx/*", 4);
    assert_non_null(d);
    assert_true(d->pattern);
    assert_int_equal(sllmp_deployment_for(d, "vx/claude-opus-4@20250514", a)->provider,
                     SLLMP_PROVIDER_ANTHROPIC);
    assert_true(sllmp_deployment_for(d, "vx/claude-opus-4@20250514", a)->messages_api);
    assert_int_equal(sllmp_deployment_for(d, "vx/gemini-2.5-pro", a)->provider,
                     SLLMP_PROVIDER_GEMINI);
    assert_false(sllmp_deployment_for(d, "vx/gemini-2.5-pro", a)->messages_api);
    sllmp_conf_unref(c);
    free(yaml);

    /* credentials that are none: refused at their line */
    static const char cred_not_one[] =
        "model_list:\n"
        "  - model_name: v\n"
        "    litellm_params: {model: vertex_ai/gemini-2.5-flash, vertex_project: p,\n"
        "                     vertex_credentials: '{\"type\": \"service_account\"}'}\n";

    expect_error(cred_not_one, "t.yaml:4:");
    expect_error(cred_not_one, "no client_email");
    expect_error("model_list:\n"
                 "  - {model_name: v, litellm_params: {model: vertex_ai/gemini-2.5-flash, "
                 "vertex_project: p, vertex_credentials: /nonexistent/sa.json}}\n",
                 "cannot open");
    expect_error("model_list:\n"
                 "  - {model_name: v, litellm_params: {model: vertex_ai/gemini-2.5-flash, "
                 "vertex_project: 'Bad/Project'}}\n",
                 "project 'Bad/Project'");

    /* no credentials anywhere: the metadata server's; without a project the model waits */
    setenv("GCE_METADATA_HOST", "127.0.0.1:1", 1);
    c = load("model_list:\n"
             "  - {model_name: a, litellm_params: {model: vertex_ai/gemini-2.5-flash}}\n"
             "  - {model_name: b, litellm_params: {model: vertex_ai/gemini-2.5-flash, "
             "vertex_project: p}}\n",
             &err);
    assert_non_null(c);
    assert_null(sllmp_conf_find(c, "a", 1));
    assert_true(has_warning(c, "model 'a' has no Google Cloud project"));
    d = sllmp_conf_find(c, "b", 1);
    assert_true(has_warning(c, "model 'b' has no Google credentials"));
    assert_int_equal(d->gcp->kind, SLLMP_GCRED_METADATA);
    assert_non_null(strstr(d->gcp->token_uri, "http://127.0.0.1:1/computeMetadata/"));
    sllmp_conf_unref(c);
    unset_google_env();
    unlink(key);
    unsetenv("MY_VERTEX_FILE");
    if (saved_home != NULL) {
        setenv("HOME", saved_home, 1);
        free(saved_home);
    }
    sllmp_arena_destroy(a);
}

/* Anthropic's beta flags on Vertex AI and Bedrock: the built-in table (LiteLLM's), the
 * configuration's rules before it, unknown flags held back, each name once. */
static void
test_anthropic_betas(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    sllmp_req_t r;
    sllmp_arena_t a;
    int known = -1;

    (void)state;
    c = load("sllmp:\n"
             "  anthropic_betas:\n"
             "    vertex_ai: {effort-2025-11-24: effort-2025-11-24, web-search-2025-03-05: null}\n"
             "    bedrock: {my-flag-2027-01-01: their-flag}\n"
             "    azure_ai: {x: y}\n",
             &err);
    assert_non_null(c);
    assert_true(has_warning(c, "sllmp.anthropic_betas.azure_ai is ignored"));
    assert_int_equal(c->nbetas, 3);
    memset(&r, 0, sizeof(r));
    sllmp_arena_init(&a, 4096);
    r.arena = &a;
    strcpy(r.id, "t");

    /* the table alone */
    assert_null(sllmp_betas_for(&r, SLLMP_BETA_VERTEX, NULL));
    assert_string_equal(sllmp_betas_for(&r, SLLMP_BETA_VERTEX,
                                        " claude-code-20250219, interleaved-thinking-2025-05-14 ,"
                                        "effort-2025-11-24,,advanced-tool-use-2025-11-20,"
                                        "tool-search-tool-2025-10-19"),
                        "interleaved-thinking-2025-05-14,tool-search-tool-2025-10-19");
    assert_string_equal(sllmp_betas_for(&r, SLLMP_BETA_BEDROCK,
                                        "interleaved-thinking-2025-05-14,effort-2025-11-24,"
                                        "context-1m-2025-08-07"),
                        "effort-2025-11-24,context-1m-2025-08-07");
    assert_null(sllmp_betas_for(&r, SLLMP_BETA_VERTEX, "oauth-2025-04-20, x\ty, web-search"));
    assert_null(sllmp_beta_on(NULL, SLLMP_BETA_VERTEX, "claude-code-20250219", 20, &known));
    assert_int_equal(known, 0);
    assert_null(sllmp_beta_on(NULL, SLLMP_BETA_VERTEX, "effort-2025-11-24", 17, &known));
    assert_int_equal(known, 1);

    /* the configuration's rules go first */
    r.conf = c;
    assert_string_equal(sllmp_betas_for(&r, SLLMP_BETA_VERTEX,
                                        "effort-2025-11-24,web-search-2025-03-05,"
                                        "context-1m-2025-08-07"),
                        "effort-2025-11-24,context-1m-2025-08-07");
    assert_string_equal(sllmp_betas_for(&r, SLLMP_BETA_BEDROCK, "my-flag-2027-01-01"),
                        "their-flag");
    assert_null(sllmp_betas_for(&r, SLLMP_BETA_VERTEX, "my-flag-2027-01-01"));
    sllmp_arena_destroy(&a);
    sllmp_conf_unref(c);

    expect_error("sllmp: {anthropic_betas: {vertex_ai: {'a,b': x}}}\n",
                 "t.yaml:1:39: "
                 "sllmp.anthropic_betas: 'a,b' is not a beta flag");
    expect_error("sllmp: {anthropic_betas: {bedrock: {a: [x]}}}\n",
                 "t.yaml:1:40: sllmp.anthropic_betas: a must be the flag's name on the host");
    expect_error("sllmp: {anthropic_betas: [vertex_ai]}\n", "t.yaml:1:26: sllmp.anthropic_betas");
}

/* vertex_ai/'s partner models at Vertex's OpenAI-compatible endpoint (LiteLLM's prefixes):
 * OpenAI's API under the location's .../endpoints/openapi, the publisher's name for the body,
 * Vertex's prices; other partner models still left out. */
static void
test_vertex_ai_openapi(void **state)
{
    char key[128], *yaml, *err = NULL, buf[8192];
    sllmp_conf_t *c;
    const sllmp_deployment_t *d, *x;
    sllmp_arena_t arena, *a = &arena;

    (void)state;
    sllmp_arena_init(a, 4096);
    unset_google_env();
    write_sa_key(key, sizeof(key), "key-proj");
    yaml = sllmp_xasprintf(
        "model_list:\n"
        "  - {model_name: llama, litellm_params: {model: "
        "vertex_ai/meta/llama-4-maverick-17b-128e-instruct-maas, vertex_credentials: %s}}\n"
        "  - {model_name: oss, litellm_params: {model: vertex_ai/openai/gpt-oss-120b-maas, "
        "vertex_credentials: %s, vertex_location: global}}\n"
        "  - {model_name: qwen, litellm_params: {model: "
        "vertex_ai_beta/qwen/qwen3-235b-a22b-instruct-2507-maas, vertex_credentials: %s, "
        "vertex_location: us}}\n"
        "  - {model_name: ds, litellm_params: {model: vertex_ai/deepseek-ai/deepseek-r1-0528-maas, "
        "vertex_credentials: %s, api_base: 'http://127.0.0.1:9/'}}\n"
        "  - {model_name: ds2, litellm_params: {model: "
        "vertex_ai/deepseek-ai/deepseek-r1-0528-maas, "
        "vertex_credentials: %s, api_base: 'http://127.0.0.1:9/v1/projects/x/locations/y/"
        "endpoints/openapi'}}\n"
        "  - {model_name: ep, litellm_params: {model: vertex_ai/openai/1234567890, "
        "vertex_credentials: %s}}\n"
        "  - {model_name: \"vx/*\", litellm_params: {model: \"vertex_ai/*\", "
        "vertex_credentials: %s}}\n",
        key, key, key, key, key, key, key);
    c = load(yaml, &err);
    assert_null(err);
    assert_non_null(c);
    d = sllmp_conf_find(c, "llama", 5);
    assert_non_null(d);
    assert_int_equal(d->provider, SLLMP_PROVIDER_OPENAI);
    assert_string_equal(d->provider_name, "vertex_ai");
    assert_non_null(d->gcp);
    assert_null(d->api_key);
    assert_false(d->messages_api);
    assert_false(d->responses_api);
    assert_string_equal(d->model, "meta/llama-4-maverick-17b-128e-instruct-maas");
    assert_string_equal(d->api_base, "https://us-central1-aiplatform.googleapis.com/v1/projects/"
                                     "key-proj/locations/us-central1/endpoints/openapi");
    assert_true(d->price.input == 0.35 && d->price.output == 1.15);
    assert_true(sllmp_provider_serves(d, SLLMP_KIND_CHAT));
    assert_false(sllmp_provider_serves(d, SLLMP_KIND_COMPLETIONS));
    /* nor images or moderations: Vertex's endpoint has neither */
    assert_false(sllmp_provider_serves(d, SLLMP_KIND_IMAGES));
    assert_false(sllmp_provider_serves(d, SLLMP_KIND_MODERATIONS));
    d = sllmp_conf_find(c, "oss", 3);
    assert_string_equal(d->model, "openai/gpt-oss-120b-maas");
    assert_string_equal(d->api_base, "https://aiplatform.googleapis.com/v1/projects/key-proj/"
                                     "locations/global/endpoints/openapi");
    assert_true(d->price.input == 0.15 && d->price.output == 0.60);
    d = sllmp_conf_find(c, "qwen", 4);
    assert_int_equal(d->provider, SLLMP_PROVIDER_OPENAI);
    assert_string_equal(d->model, "qwen/qwen3-235b-a22b-instruct-2507-maas");
    assert_string_equal(d->api_base, "https://aiplatform.us.rep.googleapis.com/v1/projects/"
                                     "key-proj/locations/us/endpoints/openapi");
    /* a host of one's own, or the endpoint's whole base */
    assert_string_equal(sllmp_conf_find(c, "ds", 2)->api_base,
                        "http://127.0.0.1:9/v1/projects/key-proj/locations/us-central1/endpoints/"
                        "openapi");
    assert_string_equal(sllmp_conf_find(c, "ds2", 3)->api_base,
                        "http://127.0.0.1:9/v1/projects/x/locations/y/endpoints/openapi");
    /* a Model Garden endpoint of one's own is no partner model of these */
    assert_null(sllmp_conf_find(c, "ep", 2));
    assert_true(has_warning(c, "partner model 'openai/1234567890' is not supported"));
    /* a pattern's copy is one by the name asked for, at the endpoint under the root */
    d = sllmp_conf_find(c, "vx/*", 4);
    x = sllmp_deployment_for(d, "vx/meta/llama-4-maverick-17b-128e-instruct-maas", a);
    assert_int_equal(x->provider, SLLMP_PROVIDER_OPENAI);
    assert_string_equal(x->api_base, "https://us-central1-aiplatform.googleapis.com/v1/projects/"
                                     "key-proj/locations/us-central1/endpoints/openapi");
    assert_true(x->price.input == 0.35);
    assert_int_equal(sllmp_deployment_for(d, "vx/gemini-2.5-pro", a)->provider,
                     SLLMP_PROVIDER_GEMINI);
    /* sllmp check says where it goes and with what */
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "llama -> vertex_ai model 'meta/llama-4-maverick-17b-128e-"
                                "instruct-maas' at https://us-central1-aiplatform.googleapis.com/"
                                "v1/projects/key-proj/locations/us-central1/endpoints/openapi, "
                                "Google tokens of the service account "));
    sllmp_conf_unref(c);

    /* LiteLLM's api_base naming a model's URL: no URL of this endpoint */
    free(yaml);
    yaml = sllmp_xasprintf("model_list:\n"
                           "  - {model_name: v, litellm_params: {model: vertex_ai/meta/llama-x, "
                           "vertex_credentials: %s, api_base: 'http://127.0.0.1:9/v1/projects/"
                           "p/locations/l/publishers/meta/models/llama-x'}}\n",
                           key);
    expect_error(yaml, "names a model's URL");
    free(yaml);
    unset_google_env();
    unlink(key);
    sllmp_arena_destroy(a);
}

/* The providers by LiteLLM's prefixes: defaults, environment keys only for default hosts,
 * Azure's api-version, Bedrock's credentials and region. */
static void
test_providers(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    const sllmp_deployment_t *d;

    (void)state;
    setenv("GROQ_API_KEY", "gsk-env", 1);
    setenv("TOGETHER_API_KEY", "tgp-env", 1); /* Together's own name, LiteLLM's first */
    unsetenv("TOGETHERAI_API_KEY");
    setenv("ANTHROPIC_API_KEY", "sk-ant-env", 1);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_BEARER_TOKEN_BEDROCK");
    unsetenv("AZURE_API_VERSION");
    c = load("model_list:\n"
             "  - {model_name: g, litellm_params: {model: groq/llama-3.1-8b-instant}}\n"
             "  - {model_name: g2, litellm_params: {model: groq/x, api_base: 'http://h:1/v1'}}\n"
             "  - {model_name: o, litellm_params: {model: ollama/llama3, api_base: "
             "'http://127.0.0.1:11434'}}\n"
             "  - {model_name: o2, litellm_params: {model: ollama/llama3}}\n"
             "  - {model_name: oc, litellm_params: {model: ollama_chat/llama3, api_base: "
             "'http://127.0.0.1:11434/'}}\n"
             "  - {model_name: a, litellm_params: {model: anthropic/claude-sonnet-4-5}}\n"
             "  - {model_name: z, litellm_params: {model: azure/my-gpt, api_base: "
             "'https://r.openai.azure.com/', api_key: k},\n"
             "     model_info: {base_model: azure/gpt-4o-mini}}\n"
             "  - {model_name: z1, litellm_params: {model: azure/d, api_base: "
             "'https://r.openai.azure.com/openai/v1', api_key: k}}\n"
             "  - {model_name: zo, litellm_params: {model: azure/o_series/reasoner, api_base: "
             "'https://r.openai.azure.com', api_key: k}}\n"
             "  - {model_name: z5, litellm_params: {model: azure/gpt5_series/r5, api_base: "
             "'https://r.openai.azure.com', api_key: k}}\n"
             "  - {model_name: b, litellm_params: {model: bedrock/converse/anthropic.claude-3-"
             "haiku-20240307-v1:0, aws_access_key_id: AK, aws_secret_access_key: SK, "
             "aws_region_name: eu-west-1}}\n"
             "  - {model_name: b2, litellm_params: {model: bedrock/amazon.nova-micro-v1:0}}\n"
             "  - {model_name: bp, litellm_params: {model: bedrock/anthropic.claude-3-haiku-"
             "20240307-v1:0, model_id: 'arn:aws:bedrock:eu-west-1:123456789012:application-"
             "inference-profile/p1', aws_access_key_id: AK, aws_secret_access_key: SK, "
             "aws_region_name: eu-west-1}}\n"
             "  - {model_name: bp, litellm_params: {model: bedrock/anthropic.claude-3-haiku-"
             "20240307-v1:0, model_id: 'arn:aws:bedrock:eu-west-1:123456789012:application-"
             "inference-profile/p2', aws_access_key_id: AK, aws_secret_access_key: SK, "
             "aws_region_name: eu-west-1}}\n"
             "  - {model_name: gi, litellm_params: {model: groq/x, model_id: nope}}\n"
             "  - {model_name: m, litellm_params: {model: gemini/gemini-2.5-flash, api_key: x}}\n"
             "  - {model_name: d, litellm_params: {model: deepseek/deepseek-chat}}\n"
             "  - {model_name: t, litellm_params: {model: together_ai/meta-llama/Llama-3-8b}}\n",
             &err);
    assert_non_null(c);
    assert_null(err);
    d = sllmp_conf_find(c, "g", 1);
    assert_int_equal(d->provider, SLLMP_PROVIDER_OPENAI);
    assert_string_equal(d->provider_name, "groq");
    assert_string_equal(d->api_base, "https://api.groq.com/openai/v1");
    assert_string_equal(d->api_key, "gsk-env");
    /* another host: the provider's key from the environment never goes there */
    d = sllmp_conf_find(c, "g2", 2);
    assert_null(d->api_key);
    assert_string_equal(sllmp_conf_find(c, "o", 1)->api_base, "http://127.0.0.1:11434/v1");
    assert_string_equal(sllmp_conf_find(c, "o2", 2)->api_base, "http://localhost:11434/v1");
    d = sllmp_conf_find(c, "t", 1);
    assert_string_equal(d->model, "meta-llama/Llama-3-8b");
    assert_string_equal(d->api_base, "https://api.together.xyz/v1");
    assert_non_null(d->api_key);
    assert_string_equal(d->api_key, "tgp-env");
    /* LiteLLM's ollama_chat/: the same server, the same OpenAI API */
    d = sllmp_conf_find(c, "oc", 2);
    assert_non_null(d);
    assert_int_equal(d->provider, SLLMP_PROVIDER_OPENAI);
    assert_string_equal(d->provider_name, "ollama");
    assert_string_equal(d->model, "llama3");
    assert_string_equal(d->api_base, "http://127.0.0.1:11434/v1");
    d = sllmp_conf_find(c, "a", 1);
    assert_int_equal(d->provider, SLLMP_PROVIDER_ANTHROPIC);
    assert_true(d->messages_api);
    assert_string_equal(d->api_key, "sk-ant-env");
    assert_true(d->price.known);
    d = sllmp_conf_find(c, "z", 1);
    assert_int_equal(d->provider, SLLMP_PROVIDER_AZURE);
    assert_string_equal(d->api_base, "https://r.openai.azure.com");
    assert_string_equal(d->api_version, "2024-10-21");
    assert_true(d->price.known); /* base_model azure/gpt-4o-mini */
    /* kept for its parameters too */
    assert_string_equal(d->base_model, "azure/gpt-4o-mini");
    assert_false(d->reasoning);
    assert_null(sllmp_conf_find(c, "z1", 2)->api_version);
    assert_null(sllmp_conf_find(c, "z1", 2)->base_model);
    /* LiteLLM's routes for reasoning deployments: the URL names the deployment alone */
    d = sllmp_conf_find(c, "zo", 2);
    assert_string_equal(d->model, "reasoner");
    assert_true(d->reasoning);
    d = sllmp_conf_find(c, "z5", 2);
    assert_string_equal(d->model, "r5");
    assert_true(d->reasoning);
    d = sllmp_conf_find(c, "b", 1);
    assert_int_equal(d->provider, SLLMP_PROVIDER_BEDROCK);
    assert_string_equal(d->model, "anthropic.claude-3-haiku-20240307-v1:0");
    assert_string_equal(d->api_base, "https://bedrock-runtime.eu-west-1.amazonaws.com");
    assert_string_equal(d->aws.access_key_id, "AK");
    assert_true(d->messages_api);
    assert_true(d->price.known);
    assert_null(sllmp_conf_find(c, "b2", 2)); /* no credentials: left out */
    /* model_id: the URL's profile; model still says which model answers, and is priced */
    {
        const sllmp_deployment_t *p1 = NULL, *p2 = NULL;

        for (size_t i = 0; i < c->ndeployments; i++) {
            if (strcmp(c->deployments[i].model_name, "bp") == 0) {
                *(p1 == NULL ? &p1 : &p2) = &c->deployments[i];
            }
        }
        assert_non_null(p1);
        assert_non_null(p2);
        assert_string_equal(p1->model_id,
                            "arn:aws:bedrock:eu-west-1:123456789012:application-inference-"
                            "profile/p1");
        assert_string_equal(p1->model, "anthropic.claude-3-haiku-20240307-v1:0");
        assert_true(p1->messages_api);
        assert_true(p1->price.known);
        /* two profiles of one model are two deployments, each with its own limits */
        assert_string_not_equal(p1->id, p2->id);
        assert_string_not_equal(p1->subject, p2->subject);
        assert_null(sllmp_conf_find(c, "b", 1)->model_id);
    }
    assert_null(sllmp_conf_find(c, "gi", 2)->model_id);
    assert_true(has_warning(c, "model_id is only used by bedrock/ models: model 'gi' ignores it"));
    assert_true(has_warning(c, "model 'b2' has no AWS"));
    assert_string_equal(sllmp_conf_find(c, "m", 1)->api_base,
                        "https://generativelanguage.googleapis.com");
    assert_string_equal(sllmp_conf_find(c, "d", 1)->api_base, "https://api.deepseek.com/v1");
    assert_false(sllmp_conf_find(c, "d", 1)->messages_api);
    sllmp_conf_unref(c);
    unsetenv("GROQ_API_KEY");
    unsetenv("ANTHROPIC_API_KEY");

    expect_error("model_list:\n  - {model_name: z, litellm_params: {model: azure/x}}\n",
                 "azure/ needs litellm_params.api_base");

    /* LiteLLM's OPENAI_API_BASE and friends move a provider's default host, and its key goes
     * there with it; an entry's own api_base still wins and gets no key from the environment */
    setenv("OPENAI_API_BASE", "https://proxy.corp.example/v1/", 1);
    setenv("OPENAI_API_KEY", "sk-env-openai", 1);
    setenv("OLLAMA_API_BASE", "http://10.0.0.5:11434", 1);
    setenv("ANTHROPIC_BASE_URL", "api.anthropic.com", 1); /* no scheme: warned, not taken */
    c = load("model_list:\n"
             "  - {model_name: o, litellm_params: {model: openai/gpt-4o}}\n"
             "  - {model_name: own, litellm_params: {model: openai/gpt-4o, "
             "api_base: 'http://127.0.0.1:9/v1'}}\n"
             "  - {model_name: l, litellm_params: {model: ollama/llama3}}\n"
             "  - {model_name: a, litellm_params: {model: anthropic/claude-x, api_key: k}}\n",
             &err);
    assert_non_null(c);
    d = sllmp_conf_find(c, "o", 1);
    assert_string_equal(d->api_base, "https://proxy.corp.example/v1");
    assert_string_equal(d->api_key, "sk-env-openai");
    d = sllmp_conf_find(c, "own", 3);
    assert_string_equal(d->api_base, "http://127.0.0.1:9/v1");
    assert_null(d->api_key);
    assert_string_equal(sllmp_conf_find(c, "l", 1)->api_base, "http://10.0.0.5:11434/v1");
    assert_string_equal(sllmp_conf_find(c, "a", 1)->api_base, "https://api.anthropic.com");
    assert_true(has_warning(c, "the environment's api_base for anthropic/ is not an http"));
    sllmp_conf_unref(c);
    unsetenv("OPENAI_API_BASE");
    unsetenv("OPENAI_API_KEY");
    unsetenv("OLLAMA_API_BASE");
    unsetenv("ANTHROPIC_BASE_URL");
}

/* LiteLLM's OpenAI-compatible providers by their facts in LiteLLM (its
 * _get_openai_compatible_provider_info): default host, the variable that moves it, and the
 * key's variables in LiteLLM's order; NULL base: LiteLLM knows no default host. */
static const struct {
    const char *prefix, *base, *base_env, *key_env[4];
} litellm_openai_like[] = {
    {"xai", "https://api.x.ai/v1", "XAI_API_BASE", {"XAI_API_KEY"}},
    {"fireworks_ai",
     "https://api.fireworks.ai/inference/v1",
     "FIREWORKS_API_BASE",
     {"FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY", "FIREWORKSAI_API_KEY", "FIREWORKS_AI_TOKEN"}},
    {"perplexity",
     "https://api.perplexity.ai",
     "PERPLEXITY_API_BASE",
     {"PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"}},
    {"cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_BASE", {"CEREBRAS_API_KEY"}},
    {"deepinfra",
     "https://api.deepinfra.com/v1/openai",
     "DEEPINFRA_API_BASE",
     {"DEEPINFRA_API_KEY"}},
    {"nvidia_nim",
     "https://integrate.api.nvidia.com/v1",
     "NVIDIA_NIM_API_BASE",
     {"NVIDIA_NIM_API_KEY"}},
    {"sambanova", "https://api.sambanova.ai/v1", "SAMBANOVA_API_BASE", {"SAMBANOVA_API_KEY"}},
    {"moonshot", "https://api.moonshot.ai/v1", "MOONSHOT_API_BASE", {"MOONSHOT_API_KEY"}},
    {"dashscope",
     "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
     "DASHSCOPE_API_BASE",
     {"DASHSCOPE_API_KEY"}},
    {"github", "https://models.inference.ai.azure.com", "GITHUB_API_BASE", {"GITHUB_API_KEY"}},
    {"nebius", "https://api.studio.nebius.ai/v1", "NEBIUS_API_BASE", {"NEBIUS_API_KEY"}},
    {"novita", "https://api.novita.ai/v3/openai", "NOVITA_API_BASE", {"NOVITA_API_KEY"}},
    {"hyperbolic", "https://api.hyperbolic.xyz/v1", "HYPERBOLIC_API_BASE", {"HYPERBOLIC_API_KEY"}},
    {"featherless_ai",
     "https://api.featherless.ai/v1",
     "FEATHERLESS_API_BASE",
     {"FEATHERLESS_API_KEY"}},
    {"llamafile", "http://127.0.0.1:8080/v1", "LLAMAFILE_API_BASE", {"LLAMAFILE_API_KEY"}},
    {"lm_studio", NULL, "LM_STUDIO_API_BASE", {"LM_STUDIO_API_KEY"}},
    {"litellm_proxy", NULL, "LITELLM_PROXY_API_BASE", {"LITELLM_PROXY_API_KEY"}},
};

/* Loads d (<prefix>/m, the default host) and o (the entry's own host) and checks d's api_base
 * and key, and that o gets no key from the environment. */
static void
check_openai_like(const char *prefix, const char *base, const char *key)
{
    char text[512], *err = NULL;
    sllmp_conf_t *c;
    const sllmp_deployment_t *d;

    snprintf(text, sizeof(text),
             "model_list:\n"
             "  - {model_name: d, litellm_params: {model: %s/m}}\n"
             "  - {model_name: o, litellm_params: {model: %s/m, api_base: 'http://h:1/v1'}}\n",
             prefix, prefix);
    c = load(text, &err);
    if (c == NULL) {
        fail_msg("%s/: %s", prefix, err);
    }
    d = sllmp_conf_find(c, "d", 1);
    if (d == NULL) {
        fail_msg("%s/ is left out", prefix);
    }
    assert_int_equal(d->provider, SLLMP_PROVIDER_OPENAI);
    assert_string_equal(d->provider_name, prefix);
    if (strcmp(d->api_base, base) != 0) {
        fail_msg("%s/: api_base %s, not %s", prefix, d->api_base, base);
    }
    if (key == NULL ? d->api_key != NULL : d->api_key == NULL || strcmp(d->api_key, key) != 0) {
        fail_msg("%s/: api_key %s, not %s", prefix, d->api_key ? d->api_key : "none",
                 key ? key : "none");
    }
    d = sllmp_conf_find(c, "o", 1);
    assert_string_equal(d->api_base, "http://h:1/v1");
    if (d->api_key != NULL) {
        fail_msg("%s/: the environment's key goes to the entry's own host", prefix);
    }
    sllmp_conf_unref(c);
}

/* Each prefix: its default host, moved by its variable; its key from each of its variables,
 * never for a host the entry names; lm_studio/ and litellm_proxy/ need a host. */
static void
test_litellm_openai_like_providers(void **state)
{
    const size_t n = sizeof(litellm_openai_like) / sizeof(litellm_openai_like[0]);
    char text[256];

    (void)state;
    for (size_t i = 0; i < n; i++) {
        unsetenv(litellm_openai_like[i].base_env);
        for (size_t k = 0; k < 4 && litellm_openai_like[i].key_env[k] != NULL; k++) {
            unsetenv(litellm_openai_like[i].key_env[k]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *prefix = litellm_openai_like[i].prefix, *base = litellm_openai_like[i].base;
        const char *const *keys = litellm_openai_like[i].key_env;

        if (base == NULL) {
            snprintf(text, sizeof(text),
                     "model_list:\n  - {model_name: d, litellm_params: {model: %s/m}}\n", prefix);
            expect_error(text, "needs litellm_params.api_base");
        } else {
            check_openai_like(prefix, base, NULL);
        }
        /* each of the key's names, alone; the first wins over the others */
        for (size_t k = 0; k < 4 && keys[k] != NULL; k++) {
            setenv(keys[k], keys[k], 1);
            if (base != NULL) {
                check_openai_like(prefix, base, keys[0]);
            }
            if (k > 0) {
                unsetenv(keys[0]);
                if (base != NULL) {
                    check_openai_like(prefix, base, keys[k]);
                }
                unsetenv(keys[k]);
                setenv(keys[0], keys[0], 1);
            }
        }
        /* the environment's host, and the key with it */
        setenv(litellm_openai_like[i].base_env, "http://10.0.0.9:8/v1/", 1);
        check_openai_like(prefix, "http://10.0.0.9:8/v1", keys[0]);
        unsetenv(litellm_openai_like[i].base_env);
        for (size_t k = 0; k < 4 && keys[k] != NULL; k++) {
            unsetenv(keys[k]);
        }
    }
}

/* LiteLLM's short names of Fireworks' own models: sent as accounts/fireworks/models/<name>,
 * a model named by its account path as it is; a pattern's per request. */
static void
test_fireworks_model_names(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    sllmp_arena_t a;
    const sllmp_deployment_t *d;

    (void)state;
    c = load("model_list:\n"
             "  - {model_name: s, litellm_params: {model: fireworks_ai/llama-v3p1-8b-instruct, "
             "api_key: k}}\n"
             "  - {model_name: f, litellm_params: {model: fireworks_ai/accounts/acme/models/ft, "
             "api_key: k}}\n"
             "  - {model_name: 'fw/*', litellm_params: {model: 'fireworks_ai/*', api_key: k}}\n"
             "  - {model_name: g, litellm_params: {model: groq/llama-3.1-8b-instant, api_key: "
             "k}}\n",
             &err);
    assert_non_null(c);
    assert_string_equal(sllmp_conf_find(c, "s", 1)->model,
                        "accounts/fireworks/models/llama-v3p1-8b-instruct");
    assert_string_equal(sllmp_conf_find(c, "f", 1)->model, "accounts/acme/models/ft");
    assert_string_equal(sllmp_conf_find(c, "g", 1)->model, "llama-3.1-8b-instant");
    sllmp_arena_init(&a, 4096);
    d = sllmp_deployment_for(sllmp_conf_find(c, "fw/*", 4), "fw/qwen3-8b", &a);
    assert_string_equal(d->model, "accounts/fireworks/models/qwen3-8b");
    d = sllmp_deployment_for(sllmp_conf_find(c, "fw/*", 4), "fw/accounts/acme/models/ft", &a);
    assert_string_equal(d->model, "accounts/acme/models/ft");
    sllmp_arena_destroy(&a);
    sllmp_conf_unref(c);
}

/* LiteLLM's timeout / stream_timeout per deployment, request_timeout and router_settings'
 * timeout / stream_timeout for the others: first byte and idle, connect capped. */
static void
test_litellm_timeouts(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    sllmp_req_t r;
    sllmp_timeouts_t t;

    (void)state;
    c = load("model_list:\n"
             "  - {model_name: a, litellm_params: {model: openai/x, api_base: 'http://h:1/v1', "
             "timeout: 2.5, stream_timeout: 0.25}}\n"
             "  - {model_name: b, litellm_params: {model: openai/x, api_base: 'http://h:2/v1', "
             "timeout: 9000}}\n"
             "  - {model_name: c, litellm_params: {model: openai/x, api_base: 'http://h:3/v1'}}\n"
             "litellm_settings: {request_timeout: 600, drop_params: true}\n"
             "router_settings: {stream_timeout: 0.5}\n"
             "sllmp: {timeouts: {connect_ms: 3000, first_byte_ms: 100000, idle_ms: 50000}}\n",
             &err);
    assert_non_null(c);
    assert_null(err);
    assert_false(has_warning(c, "drop_params"));
    memset(&r, 0, sizeof(r));
    r.conf = c;

    r.dep = sllmp_conf_find(c, "a", 1);
    sllmp_upstream_timeouts(&r, &t);
    assert_int_equal(t.first_byte_ms, 2500);
    assert_int_equal(t.idle_ms, 2500);
    assert_int_equal(t.connect_ms, 2500); /* capped */
    assert_int_equal(t.total_ms, c->timeouts.total_ms);
    r.stream = 1; /* the deployment's stream_timeout first */
    sllmp_upstream_timeouts(&r, &t);
    assert_int_equal(t.first_byte_ms, 250);
    assert_int_equal(t.connect_ms, 250);

    r.dep = sllmp_conf_find(c, "b", 1); /* a stream: the deployment's timeout before the router's */
    sllmp_upstream_timeouts(&r, &t);
    assert_int_equal(t.first_byte_ms, 9000000);
    assert_int_equal(t.idle_ms, 9000000);
    assert_int_equal(t.connect_ms, 3000); /* never longer than sllmp's */

    r.dep = sllmp_conf_find(c, "c", 1); /* none of its own: the router's stream_timeout... */
    sllmp_upstream_timeouts(&r, &t);
    assert_int_equal(t.first_byte_ms, 500);
    r.stream = 0; /* ...and request_timeout unstreamed */
    sllmp_upstream_timeouts(&r, &t);
    assert_int_equal(t.first_byte_ms, 600000);
    assert_int_equal(t.idle_ms, 600000);
    sllmp_conf_unref(c);

    /* without any: sllmp.timeouts as they are */
    c = load("model_list:\n  - {model_name: c, litellm_params: {model: openai/x, "
             "api_base: 'http://h:3/v1'}}\nlitellm_settings: {drop_params: false}\n",
             &err);
    assert_non_null(c);
    assert_true(has_warning(c, "drop_params: false is not how sllmp works"));
    r.conf = c;
    r.dep = sllmp_conf_find(c, "c", 1);
    sllmp_upstream_timeouts(&r, &t);
    assert_int_equal(t.first_byte_ms, c->timeouts.first_byte_ms);
    assert_int_equal(t.idle_ms, c->timeouts.idle_ms);
    assert_int_equal(t.connect_ms, c->timeouts.connect_ms);
    sllmp_conf_unref(c);

    expect_error("model_list:\n  - {model_name: c, litellm_params: {model: openai/x, "
                 "timeout: 0}}\n",
                 "t.yaml:2:64: litellm_params.timeout must be at least 0.001 seconds");
    expect_error("litellm_settings: {request_timeout: -1}\n",
                 "litellm_settings.request_timeout must be a number of seconds");
    expect_error("router_settings: {stream_timeout: soon}\n",
                 "router_settings.stream_timeout must be a number of seconds");
}

/* litellm_settings.max_budget / budget_duration: the gateway's one budget. */
static void
test_litellm_global_budget(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load("litellm_settings: {max_budget: 12.5, budget_duration: 7d}\n", &err);
    assert_non_null(c);
    assert_null(err);
    assert_false(has_warning(c, "max_budget"));
    assert_int_equal(c->global.budget_nano, 12500000000LL);
    assert_int_equal(c->global.budget_period_s, 604800);
    assert_true(sllmp_limits_any(&c->global));
    sllmp_conf_unref(c);

    c = load("litellm_settings: {max_budget: 3}\n", &err); /* no duration: never resets */
    assert_non_null(c);
    assert_int_equal(c->global.budget_nano, 3000000000LL);
    assert_int_equal(c->global.budget_period_s, 0);
    sllmp_conf_unref(c);

    c = load("model_list: []\n", &err); /* none: no limit at all */
    assert_non_null(c);
    assert_false(sllmp_limits_any(&c->global));
    sllmp_conf_unref(c);

    c = load("litellm_settings: {budget_duration: 1d}\n", &err); /* a window of nothing */
    assert_non_null(c);
    assert_false(sllmp_limits_any(&c->global));
    assert_true(has_warning(c, "t.yaml:1:1: litellm_settings.budget_duration without max_budget"));
    sllmp_conf_unref(c);

    expect_error("litellm_settings: {max_budget: lots}\n",
                 "t.yaml:1:32: litellm_settings.max_budget must be a number of USD");
    /* LiteLLM's 1mo is the calendar month, as its 30d */
    c = load("litellm_settings:\n  max_budget: 1\n  budget_duration: 1mo\n", &err);
    assert_non_null(c);
    assert_int_equal(c->global.budget_period_s, SLLMP_PERIOD_MONTH);
    sllmp_conf_unref(c);
    expect_error("litellm_settings:\n  max_budget: 1\n  budget_duration: 2mo\n",
                 "t.yaml:3:20: litellm_settings.budget_duration must be one of 1h, 1d, 7d, "
                 "30d (a calendar month), total");
}

/* router_settings.model_group_alias: names routed to a group, checked against model_list. */
static void
test_model_group_alias(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;
    static const char models[] = "model_list:\n"
                                 "  - {model_name: a, litellm_params: {model: mock/echo}}\n"
                                 "  - {model_name: b, litellm_params: {model: mock/echo}}\n";
    char text[1024];

    (void)state;
    snprintf(text, sizeof(text),
             "%srouter_settings:\n  model_group_alias: {gpt-4: a, hid: {model: b, hidden: true}}\n",
             models);
    c = load(text, &err);
    assert_non_null(c);
    assert_null(err);
    assert_int_equal(c->router.naliases, 2);
    assert_string_equal(sllmp_conf_route_name(c, "gpt-4"), "a");
    assert_string_equal(sllmp_conf_route_name(c, "hid"), "b");
    assert_true(c->router.aliases[1].hidden);
    assert_false(c->router.aliases[0].hidden);
    assert_string_equal(sllmp_conf_route_name(c, "a"), "a");
    assert_null(sllmp_conf_route_name(c, "gpt-5"));
    assert_null(sllmp_conf_find(c, "gpt-4", 5)); /* an alias is no deployment */
    sllmp_conf_unref(c);

    /* a model left out for an unset variable: aliases and fallbacks to it are skipped, warned */
    c = load("model_list:\n"
             "  - {model_name: a, litellm_params: {model: mock/echo}}\n"
             "  - {model_name: gone, litellm_params: {model: openai/x, "
             "api_key: os.environ/SLLMP_TEST_UNSET_VAR}}\n"
             "router_settings:\n"
             "  model_group_alias: {old: gone}\n"
             "  fallbacks: [{a: [gone]}, {gone: [a]}]\n",
             &err);
    assert_non_null(c);
    assert_null(err);
    assert_int_equal(c->router.naliases, 0);
    assert_true(has_warning(c, "t.yaml:5:28: router_settings.model_group_alias: model 'gone' is "
                               "not in model_list (left out?): skipped"));
    assert_true(has_warning(c, "fallbacks: fallback model 'gone' is not in model_list (left "
                               "out?): skipped"));
    assert_true(has_warning(c, "fallbacks: model 'gone' is not in model_list (left out?)"));
    assert_int_equal(c->router.nfallbacks[SLLMP_FB_GENERIC], 1);
    assert_int_equal(c->router.fallbacks[SLLMP_FB_GENERIC][0].nto, 0);
    sllmp_conf_unref(c);

    snprintf(text, sizeof(text), "%srouter_settings: {model_group_alias: {gpt-4: c}}\n", models);
    expect_error(text, "t.yaml:4:46: router_settings.model_group_alias: model 'c' is not in "
                       "model_list");
    snprintf(text, sizeof(text), "%srouter_settings: {model_group_alias: {b: a}}\n", models);
    expect_error(text, "t.yaml:4:39: router_settings.model_group_alias: 'b' is a model_name "
                       "already");
    snprintf(text, sizeof(text), "%srouter_settings: {model_group_alias: {x: {hidden: true}}}\n",
             models);
    expect_error(text, "router_settings.model_group_alias: 'x' names no model");
    snprintf(text, sizeof(text),
             "%srouter_settings: {model_group_alias: {x: {model: a, hidden: maybe}}}\n", models);
    expect_error(text, "model_group_alias hidden");
}

/* ---------------------------------------------------------------- include */

/* A directory for the files of one test, and files written in it. */
static char *
temp_dir(void)
{
    char *d = strdup("/tmp/sllmp-include-XXXXXX");

    assert_non_null(mkdtemp(d));
    return d;
}

static char *
put(const char *dir, const char *name, const char *text)
{
    char *path = sllmp_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
rm_dir(char *dir)
{
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static sllmp_conf_t *
load_file(const char *path, char **err)
{
    *err = NULL;
    return sllmp_conf_load(path, NULL, 0, err);
}

/* The file is read whatever the working directory: relative entries start at the YAML's. */
static void
test_include_appends_lists_and_sets_keys(void **state)
{
    char *dir = temp_dir(), *err = NULL, *main, *sub = sllmp_xasprintf("%s/sub", dir), *abs;
    char text[4096], want[1200], buf[4096] = "";
    sllmp_conf_t *c;

    (void)state;
    assert_int_equal(mkdir(sub, 0700), 0);
    setenv("SLLMP_TEST_KEY", "sk-from-env", 1);
    free(put(dir, "sub/models.yaml",
             "model_list:\n"
             "  - model_name: b\n"
             "    litellm_params: {model: openai/b, api_key: os.environ/SLLMP_INC_KEY}\n"
             "keys:\n"
             "  - {name: k2, key_sha256: " SHA_HELLO "}\n"
             "environment_variables: {SLLMP_INC_KEY: sk-included}\n"));
    abs = put(dir, "router.yaml", "router_settings: {num_retries: 5}\n");
    snprintf(text, sizeof(text),
             "model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: mock/a}\n"
             "keys:\n"
             "  - {name: k1, key: os.environ/SLLMP_TEST_KEY}\n"
             "include:\n"
             "  - sub/models.yaml\n"
             "  - %s\n",
             abs);
    main = put(dir, "config.yaml", text);
    c = load_file(main, &err);
    assert_null(err);
    assert_non_null(c);
    /* model_list and keys: the included entries after the main file's */
    assert_int_equal(c->ndeployments, 2);
    assert_string_equal(c->deployments[0].model_name, "a");
    assert_string_equal(c->deployments[1].model_name, "b");
    /* environment_variables from an included file, for a reference in that file */
    assert_string_equal(c->deployments[1].api_key, "sk-included");
    assert_int_equal(c->nkeys, 2);
    assert_string_equal(c->keys[0].name, "k1");
    assert_string_equal(c->keys[1].name, "k2");
    /* a key the main file does not have is set */
    assert_int_equal(c->router.num_retries, 5);
    /* the files read, for reloads and `sllmp check` */
    assert_int_equal(c->nfiles, 3);
    assert_string_equal(c->files[0].path, main);
    snprintf(want, sizeof(want), "%s/sub/models.yaml", dir);
    assert_string_equal(c->files[1].path, want);
    assert_string_equal(c->files[2].path, abs);
    assert_true(c->files[1].ino != 0);
    /* `sllmp check` says which files it read */
    describe(c, buf, sizeof(buf));
    snprintf(text, sizeof(text), "config: %s\n  included: %s\n  included: %s\n", main, want, abs);
    assert_non_null(strstr(buf, text));
    assert_false(has_warning(c, "replaces"));
    assert_false(has_warning(c, "ignored"));
    sllmp_conf_unref(c);
    free(main);
    free(abs);
    free(sub);
    rm_dir(dir);
}

static void
test_include_single_string_and_mapping_replaced(void **state)
{
    char *dir = temp_dir(), *err = NULL, *main, *inc;
    char want[1200];
    sllmp_conf_t *c;

    (void)state;
    inc = put(dir, "settings.yaml",
              "general_settings:\n"
              "  master_key: sk-included\n"
              "sllmp:\n"
              "  threads: 3\n"
              "  bogus: 1\n");
    main = put(dir, "config.yaml",
               "general_settings:\n"
               "  master_key: sk-main\n"
               "sllmp: {workers: 7}\n"
               "include: settings.yaml\n");
    c = load_file(main, &err);
    assert_null(err);
    assert_non_null(c);
    /* as LiteLLM: the included mapping replaces the main file's whole */
    assert_string_equal(c->master_key, "sk-included");
    assert_int_equal(c->threads, 3);
    assert_int_equal(c->workers, 2); /* the main file's sllmp.workers went with it */
    snprintf(want, sizeof(want),
             "%s:1:1: general_settings replaces the whole general_settings at %s:1:1", inc, main);
    assert_true(has_warning(c, want));
    snprintf(want, sizeof(want), "%s:3:1: sllmp replaces the whole sllmp at %s:3:1", inc, main);
    assert_true(has_warning(c, want));
    /* a warning about the included file's content names that file */
    snprintf(want, sizeof(want), "%s:5:3: unknown key sllmp.bogus", inc);
    assert_true(has_warning(c, want));
    sllmp_conf_unref(c);
    free(main);
    free(inc);
    rm_dir(dir);
}

static void
test_include_errors_name_the_place(void **state)
{
    char *dir = temp_dir(), *err = NULL, *main, *inc, *other;
    char want[1200];

    (void)state;
    /* a missing file: the place of the entry that names it */
    main = put(dir, "config.yaml",
               "model_list: []\n"
               "include:\n"
               "  - missing.yaml\n");
    assert_null(load_file(main, &err));
    snprintf(want, sizeof(want),
             "%s:3:5: the included file %s/missing.yaml: cannot open: No such file", main, dir);
    assert_non_null(err);
    if (strstr(err, want) == NULL) {
        fail_msg("'%s' does not contain '%s'", err, want);
    }
    free(err);
    free(main);

    /* an error inside an included file: that file, its line and column */
    inc = put(dir, "models.yaml",
              "model_list:\n"
              "  - model_name: b\n"
              "    litellm_params: {model: mock/b, rpm: lots}\n");
    main = put(dir, "config.yaml", "include: [models.yaml]\n");
    assert_null(load_file(main, &err));
    snprintf(want, sizeof(want), "%s:3:42: ", inc);
    assert_non_null(err);
    if (strncmp(err, want, strlen(want)) != 0) {
        fail_msg("'%s' does not start with '%s'", err, want);
    }
    free(err);

    /* a YAML error in an included file */
    free(put(dir, "models.yaml", "model_list: [oops\n"));
    assert_null(load_file(main, &err));
    snprintf(want, sizeof(want), "%s:2:1: YAML error", inc);
    assert_non_null(strstr(err, want));
    free(err);

    /* not a mapping */
    free(put(dir, "models.yaml", "- a\n"));
    assert_null(load_file(main, &err));
    snprintf(want, sizeof(want), "%s:1:1: an included file must be a mapping, not a list", inc);
    assert_non_null(strstr(err, want));
    free(err);

    /* a list to append to something else */
    free(put(dir, "models.yaml",
             "model_list:\n  - {model_name: b, litellm_params: {model: "
             "mock/b}}\n"));
    free(put(dir, "config.yaml", "model_list: {a: 1}\ninclude: [models.yaml]\n"));
    assert_null(load_file(main, &err));
    snprintf(want, sizeof(want),
             "%s:1:1: model_list here is a list, to be appended to the model_list at %s:1:1; "
             "but that is a mapping",
             inc, main);
    assert_non_null(strstr(err, want));
    free(err);

    /* a model_info.id given in two files: the earlier one with its file */
    free(put(dir, "models.yaml",
             "model_list:\n  - {model_name: b, litellm_params: {model: "
             "mock/b}, model_info: {id: same}}\n"));
    free(put(dir, "config.yaml",
             "model_list:\n  - {model_name: a, litellm_params: {model: mock/a}, model_info: {id: "
             "same}}\ninclude: [models.yaml]\n"));
    assert_null(load_file(main, &err));
    snprintf(want, sizeof(want),
             "%s:2:5: model_info.id 'same' is already the id of the model_list entry at %s:2", inc,
             main);
    assert_non_null(strstr(err, want));
    free(err);

    /* what is not a path */
    free(put(dir, "config.yaml", "include: {models.yaml: 1}\n"));
    assert_null(load_file(main, &err));
    assert_non_null(strstr(err, "config.yaml:1:10: include must be a file path or a list"));
    free(err);
    free(put(dir, "config.yaml", "include: [\"\"]\n"));
    assert_null(load_file(main, &err));
    assert_non_null(strstr(err, "config.yaml:1:11: an include entry is the path of a YAML file"));
    free(err);
    other = sllmp_xasprintf("%s/sub", dir);
    assert_int_equal(mkdir(other, 0700), 0);
    free(put(dir, "config.yaml", "include: [sub]\n"));
    assert_null(load_file(main, &err));
    assert_non_null(strstr(err, "config.yaml:1:11: the included file"));
    assert_non_null(strstr(err, "not a regular file"));
    free(err);
    free(other);
    free(main);
    free(inc);
    rm_dir(dir);
}

/*
 * An included file's include: appended to the main file's list and read in turn, its paths
 * relative to the main file's directory (LiteLLM's loop); a loop is refused, not followed.
 */
static void
test_include_nested_and_loops(void **state)
{
    char *dir = temp_dir(), *err = NULL, *main, *sub = sllmp_xasprintf("%s/sub", dir), *inc;
    char want[1200];
    sllmp_conf_t *c;

    (void)state;
    assert_int_equal(mkdir(sub, 0700), 0);
    free(put(dir, "sub/a.yaml",
             "include: [sub/b.yaml]\n"
             "model_list:\n  - {model_name: a, litellm_params: {model: mock/a}}\n"));
    free(put(dir, "sub/b.yaml",
             "model_list:\n  - {model_name: b, litellm_params: {model: "
             "mock/b}}\n"));
    main = put(dir, "config.yaml",
               "include: [sub/a.yaml]\n"
               "model_list:\n  - {model_name: m, litellm_params: {model: mock/m}}\n");
    c = load_file(main, &err);
    assert_null(err);
    assert_non_null(c);
    assert_int_equal(c->ndeployments, 3);
    assert_string_equal(c->deployments[0].model_name, "m");
    assert_string_equal(c->deployments[1].model_name, "a");
    assert_string_equal(c->deployments[2].model_name, "b");
    assert_int_equal(c->nfiles, 3);
    sllmp_conf_unref(c);

    /* b includes a again: refused at the place of that entry */
    inc = put(dir, "sub/b.yaml", "include: [sub/a.yaml]\n");
    assert_null(load_file(main, &err));
    snprintf(want, sizeof(want), "%s:1:11: %s/sub/a.yaml is included already", inc, dir);
    assert_non_null(err);
    if (strstr(err, want) == NULL) {
        fail_msg("'%s' does not contain '%s'", err, want);
    }
    free(err);
    /* a file including the main one */
    free(put(dir, "sub/b.yaml", "include: [config.yaml]\n"));
    assert_null(load_file(main, &err));
    snprintf(want, sizeof(want), "%s:1:11: %s/config.yaml is the configuration itself", inc, dir);
    assert_non_null(strstr(err, want));
    free(err);
    /* and one including itself */
    free(put(dir, "config.yaml", "include: [config.yaml]\n"));
    assert_null(load_file(main, &err));
    assert_non_null(strstr(err, "config.yaml:1:11: "));
    assert_non_null(strstr(err, "config.yaml is the configuration itself"));
    free(err);
    free(inc);
    free(main);
    free(sub);
    rm_dir(dir);
}

/* A change to an included file reloads the config as one to the YAML itself does. */
static void
test_cache_reloads_changed_include(void **state)
{
    char *dir = temp_dir(), *err = NULL, *main;
    sllmp_conf_t *a, *b, *c;

    (void)state;
    free(put(dir, "models.yaml",
             "model_list:\n  - {model_name: one, litellm_params: {model: "
             "mock/x}}\n"));
    main = put(dir, "config.yaml", "include: [models.yaml]\n");
    a = sllmp_conf_get(main, &err);
    assert_non_null(a);
    assert_non_null(sllmp_conf_find(a, "one", 3));
    b = sllmp_conf_get(main, &err);
    assert_ptr_equal(a, b);
    sllmp_conf_unref(b);

    /* a broken edit of the included file keeps the last good version */
    sleep(1);
    free(put(dir, "models.yaml", "model_list: [oops\n"));
    usleep(1100 * 1000);
    b = sllmp_conf_get(main, &err);
    assert_ptr_equal(a, b);
    sllmp_conf_unref(b);

    free(put(dir, "models.yaml",
             "model_list:\n  - {model_name: two, litellm_params: {model: "
             "mock/x}}\n"));
    usleep(1100 * 1000);
    c = sllmp_conf_get(main, &err);
    assert_non_null(c);
    assert_ptr_not_equal(a, c);
    assert_non_null(sllmp_conf_find(c, "two", 3));
    sllmp_conf_unref(a);
    sllmp_conf_unref(c);

    /* the YAML names a file that is not there yet: loaded once it is */
    free(put(dir, "config.yaml", "include: [models.yaml, later.yaml]\n"));
    usleep(1100 * 1000);
    a = sllmp_conf_get(main, &err);
    assert_null(sllmp_conf_find(a, "three", 5));
    sllmp_conf_unref(a);
    free(put(dir, "later.yaml",
             "model_list:\n  - {model_name: three, litellm_params: {model: "
             "mock/x}}\n"));
    usleep(1100 * 1000);
    a = sllmp_conf_get(main, &err);
    assert_non_null(sllmp_conf_find(a, "three", 5));
    assert_non_null(sllmp_conf_find(a, "two", 3));
    sllmp_conf_unref(a);
    sllmp_conf_cache_flush();
    free(main);
    rm_dir(dir);
}

/*
 * A chmod (or chown) is a change: an included file the workers could not read (a failed reload,
 * logged once) is read again once its mode is fixed, though neither its contents nor its mtime
 * changed. As root the file stays readable throughout; what is tested is that its new mode is
 * seen at all.
 */
static void
test_cache_rereads_file_after_chmod(void **state)
{
    char *dir = temp_dir(), *err = NULL, *main, *models;
    sllmp_conf_t *a, *b;

    (void)state;
    models = put(dir, "models.yaml",
                 "model_list:\n  - {model_name: one, litellm_params: {model: mock/x}}\n");
    main = put(dir, "config.yaml", "include: [models.yaml]\n");
    a = sllmp_conf_get(main, &err);
    assert_non_null(a);
    usleep(20 * 1000); /* a ctime the chmod below moves */
    assert_int_equal(chmod(models, 0640), 0);
    usleep(1100 * 1000);
    b = sllmp_conf_get(main, &err);
    assert_non_null(b);
    assert_ptr_not_equal(a, b); /* read again */
    assert_non_null(sllmp_conf_find(b, "one", 3));
    sllmp_conf_unref(a);
    sllmp_conf_unref(b);
    sllmp_conf_cache_flush();
    free(models);
    free(main);
    rm_dir(dir);
}

/* LiteLLM's litellm_params.order: read, shown, refused with its place when not an order. */
static void
test_deployment_order(void **state)
{
    char *err = NULL;
    char buf[4096];
    sllmp_conf_t *c;

    (void)state;
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: mock/a, order: 2}\n"
             "  - model_name: a\n"
             "    litellm_params: {model: mock/b, order: \"1\"}\n"
             "  - model_name: a\n"
             "    litellm_params: {model: mock/c}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->deployments[0].order, 2);
    assert_int_equal(c->deployments[1].order, 1);
    assert_int_equal(c->deployments[2].order, 0);
    assert_false(has_warning(c, "order"));
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "model 'a', delay 50 ms, order 2, id"));
    assert_non_null(strstr(buf, "model 'b', delay 50 ms, order 1, id"));
    assert_null(strstr(buf, "model 'c', delay 50 ms, order"));
    sllmp_conf_unref(c);
    expect_error("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, order: 0}\n",
                 "t.yaml:3:44: litellm_params.order must be between 1 and 1000000, not 0");
    expect_error(
        "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, order: 1.5}\n",
        "t.yaml:3:44: litellm_params.order must be an integer");
}

/* Newer LiteLLM's model_info.order: the same order, litellm_params.order winning over it. */
static void
test_model_info_order(void **state)
{
    char *err = NULL;
    char buf[4096];
    sllmp_conf_t *c;

    (void)state;
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: mock/a}\n"
             "    model_info: {order: 2}\n"
             "  - model_name: a\n"
             "    model_info: {order: 3}\n"
             "    litellm_params: {model: mock/b, order: 1}\n"
             "  - model_name: a\n"
             "    litellm_params: {model: mock/c}\n"
             "    model_info: {order: null}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->deployments[0].order, 2);
    assert_int_equal(c->deployments[1].order, 1);
    assert_int_equal(c->deployments[2].order, 0);
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "model 'a', delay 50 ms, order 2, id"));
    sllmp_conf_unref(c);
    expect_error("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n"
                 "    model_info: {order: 0}\n",
                 "t.yaml:4:25: model_info.order must be between 1 and 1000000, not 0");
}

/* model_info.max_output_tokens: what the model writes at most (the ceiling of /v1/messages'
 * max_tokens through chat); LiteLLM's other model_info members stay metadata. */
static void
test_model_info_max_output_tokens(void **state)
{
    char *err = NULL;
    sllmp_conf_t *c;

    (void)state;
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: mock/a}\n"
             "    model_info: {max_output_tokens: 16384, max_input_tokens: 128000, max_tokens: 9}\n"
             "  - model_name: b\n"
             "    litellm_params: {model: mock/b}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->deployments[0].max_output_tokens, 16384);
    assert_int_equal(c->deployments[1].max_output_tokens, 0);
    sllmp_conf_unref(c);
    expect_error(
        "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n"
        "    model_info: {max_output_tokens: 0}\n",
        "t.yaml:4:37: model_info.max_output_tokens must be between 1 and 1000000000, not 0");
}

/* router_settings.default_max_parallel_requests: the max_parallel_requests of each deployment
 * that gives none, nor an rpm or tpm (LiteLLM sizes those by them), wherever it is written. */
static void
test_default_max_parallel_requests(void **state)
{
    static const char list[] = "model_list:\n"
                               "  - model_name: a\n"
                               "    litellm_params: {model: mock/a}\n"
                               "  - model_name: a\n"
                               "    litellm_params: {model: mock/b, max_parallel_requests: 3}\n"
                               "  - model_name: a\n"
                               "    litellm_params: {model: mock/c, max_parallel_requests: 0}\n"
                               "  - model_name: a\n"
                               "    litellm_params: {model: mock/d, rpm: 60}\n";
    static const char rs[] = "router_settings:\n  default_max_parallel_requests: 7\n";
    char *err = NULL;
    char text[1024], buf[4096];
    sllmp_conf_t *c;

    (void)state;
    for (int before = 0; before < 2; before++) {
        snprintf(text, sizeof(text), "%s%s", before ? rs : list, before ? list : rs);
        c = load(text, &err);
        assert_non_null(c);
        assert_int_equal(c->deployments[0].max_parallel, 7);
        assert_int_equal(c->deployments[1].max_parallel, 3);
        assert_int_equal(c->deployments[2].max_parallel, 0);
        assert_int_equal(c->deployments[3].max_parallel, 0);
        assert_false(has_warning(c, "default_max_parallel_requests"));
        describe(c, buf, sizeof(buf));
        assert_non_null(strstr(buf, "model 'a', delay 50 ms, at most 7 in flight, id"));
        sllmp_conf_unref(c);
    }
    /* none: no limit */
    c = load(list, &err);
    assert_non_null(c);
    assert_int_equal(c->deployments[0].max_parallel, 0);
    sllmp_conf_unref(c);
    expect_error("router_settings:\n  default_max_parallel_requests: -1\n",
                 "t.yaml:2:34: router_settings.default_max_parallel_requests must be between 0");
    expect_error("router_settings:\n  default_max_parallel_requests: many\n",
                 "t.yaml:2:34: router_settings.default_max_parallel_requests must be an integer");
}

/* A deployment's request defaults as JSON text (malloc'd; "null" when none). */
static char *
defaults_json(const sllmp_deployment_t *d)
{
    return d->defaults != NULL ? cJSON_PrintUnformatted(d->defaults) : strdup("null");
}

/* router_settings.default_litellm_params: the request defaults of each deployment that does not
 * give that parameter itself; its own win (max_tokens and max_completion_tokens as one);
 * extra_body for OpenAI-compatible ones only; what is not a request parameter is warned. */
static void
test_router_default_litellm_params(void **state)
{
    char *err = NULL;
    char buf[4096], *j;
    sllmp_conf_t *c;

    (void)state;
    c = load("router_settings:\n"
             "  default_litellm_params:\n"
             "    temperature: 0.2\n"
             "    max_tokens: 100\n"
             "    extra_body: {top_k: 5}\n"
             "    timeout: 5\n"
             "model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: openai/a, api_key: k}\n"
             "  - model_name: b\n"
             "    litellm_params: {model: openai/b, api_key: k, temperature: 1,\n"
             "                     max_completion_tokens: 7, extra_body: {top_k: 1}}\n"
             "  - model_name: c\n"
             "    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: k}\n",
             &err);
    assert_non_null(c);
    j = defaults_json(&c->deployments[0]);
    assert_string_equal(j, "{\"temperature\":0.2,\"max_tokens\":100,\"extra_body\":{\"top_k\":5}}");
    free(j);
    j = defaults_json(&c->deployments[1]);
    assert_string_equal(j, "{\"temperature\":1,\"max_completion_tokens\":7,\"extra_body\":{"
                           "\"top_k\":1}}");
    free(j);
    j = defaults_json(&c->deployments[2]);
    assert_string_equal(j, "{\"temperature\":0.2,\"max_tokens\":100}");
    free(j);
    assert_true(has_warning(c, "t.yaml:6:5: router_settings.default_litellm_params.timeout is not "
                               "supported by sllmp and is ignored"));
    assert_false(has_warning(c, "router_settings.default_litellm_params is not supported"));
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "request defaults {\"temperature\":0.2,\"max_tokens\":100}, id"));
    sllmp_conf_unref(c);
    expect_error("router_settings:\n  default_litellm_params: {temperature: hot}\n",
                 "t.yaml:2:41: router_settings.default_litellm_params.temperature must be a "
                 "number");
    expect_error("router_settings:\n  default_litellm_params: [temperature]\n",
                 "t.yaml:2:27: router_settings.default_litellm_params must be a mapping");
}

/* LiteLLM's tag routing: litellm_params.tags, router_settings.enable_tag_filtering and
 * tag_filtering_match_any, a key's tags (its own, or in its metadata as LiteLLM keeps them):
 * read, shown, refused with their place when not tags. */
static void
test_tags(void **state)
{
    char *err = NULL;
    char buf[4096];
    sllmp_conf_t *c;

    (void)state;
    c = load("model_list:\n"
             "  - model_name: a\n"
             "    litellm_params: {model: mock/a, tags: [free, default]}\n"
             "  - model_name: a\n"
             "    litellm_params: {model: mock/b, tags: paid}\n"
             "  - model_name: a\n"
             "    litellm_params: {model: mock/c}\n"
             "router_settings: {enable_tag_filtering: true, tag_filtering_match_any: false}\n"
             "keys:\n"
             "  - {name: k1, key: sk-k1-0123456789, tags: [teamA]}\n"
             "  - {name: k2, key: sk-k2-0123456789, metadata: {tags: [teamB, x], n: 1}}\n",
             &err);
    assert_non_null(c);
    assert_int_equal(c->deployments[0].ntags, 2);
    assert_string_equal(c->deployments[0].tags[0], "free");
    assert_string_equal(c->deployments[0].tags[1], "default");
    assert_int_equal(c->deployments[1].ntags, 1);
    assert_string_equal(c->deployments[1].tags[0], "paid");
    assert_int_equal(c->deployments[2].ntags, 0);
    assert_true(c->router.tag_filtering);
    assert_true(c->router.tag_match_all);
    assert_int_equal(c->keys[0].ntags, 1);
    assert_string_equal(c->keys[0].tags[0], "teamA");
    assert_int_equal(c->keys[1].ntags, 2);
    assert_string_equal(c->keys[1].tags[1], "x");
    assert_false(has_warning(c, "tag"));
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "model 'a', delay 50 ms, tags free, default, id"));
    assert_non_null(strstr(buf, "model 'b', delay 50 ms, tags paid, id"));
    assert_non_null(strstr(buf, "tag filtering: a tagged request goes to deployments with all "
                                "of its tags"));
    assert_non_null(strstr(buf, "k2, models: all, tags: teamB x"));
    sllmp_conf_unref(c);
    /* the defaults: off; on, a tag in common is enough */
    c = load("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n"
             "router_settings: {enable_tag_filtering: true}\n",
             &err);
    assert_non_null(c);
    assert_true(c->router.tag_filtering);
    assert_false(c->router.tag_match_all);
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "deployments with one of its tags"));
    sllmp_conf_unref(c);
    c = load("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n", &err);
    assert_false(c->router.tag_filtering);
    describe(c, buf, sizeof(buf));
    assert_null(strstr(buf, "tag filtering"));
    sllmp_conf_unref(c);
    expect_error("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, tags: "
                 "[{a: 1}]}\n",
                 "t.yaml:3:44: litellm_params.tags must be a string");
    expect_error("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, tags: "
                 "[\"\"]}\n",
                 "t.yaml:3:44: litellm_params.tags must not be empty");
    expect_error("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n"
                 "router_settings: {enable_tag_filtering: maybe}\n",
                 "t.yaml:4:41: router_settings.enable_tag_filtering must be");
    expect_error("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n"
                 "keys:\n  - {name: k, key: sk-k-0123456789, metadata: {tags: {a: b}}}\n",
                 "t.yaml:5:54: keys[].metadata.tags must be a list");
}

/* ---- the response cache (litellm_settings.cache, cache_params, sllmp.cache) ---- */

/* LiteLLM's Redis variables, which the cache reads when nothing else names a Redis. */
static void
unset_redis_env(void)
{
    unsetenv("REDIS_URL");
    unsetenv("REDIS_HOST");
    unsetenv("REDIS_PORT");
    unsetenv("REDIS_PASSWORD");
}

/* text loaded, or the test fails with the error. */
static sllmp_conf_t *
load_ok(const char *text)
{
    char *err = NULL;
    sllmp_conf_t *c = load(text, &err);

    if (c == NULL) {
        fail_msg("refused: %s", err);
    }
    return c;
}

#define REDIS_SET "sllmp:\n  redis: {url: \"redis://127.0.0.1:6390/0\"}\n"

/* The types: redis in the gateway's Redis (or files, warned, without one or with local
 * limits), local and disk in files, the other LiteLLM types warned and cached in files (or in
 * Redis for the Redis-based ones); anything else refused with its place. */
static void
test_cache_types(void **state)
{
    static const char *const warned[] = {"s3", "gcs", "azure-blob", "qdrant-semantic"};
    char text[512];
    sllmp_conf_t *c;

    (void)state;
    unset_redis_env();
    c = load_ok("model_list: []\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_OFF);
    assert_false(has_warning(c, "cache"));
    sllmp_conf_unref(c);

    /* cache: true alone is LiteLLM's Redis; with none here, files */
    c = load_ok("litellm_settings:\n  cache: true\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_FILES);
    assert_string_equal(c->cache.type_name, "redis");
    assert_true(has_warning(c, "t.yaml:2:10: litellm_settings.cache: no Redis is configured "
                               "(sllmp.redis.url, cache_params.host or REDIS_HOST): answers are "
                               "cached in files, on this host only"));
    assert_null(c->redis_url);
    sllmp_conf_unref(c);

    c = load_ok(REDIS_SET "litellm_settings:\n  cache: true\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_REDIS);
    assert_false(has_warning(c, "cache"));
    sllmp_conf_unref(c);

    /* the Router's Redis is the gateway's */
    c = load_ok("router_settings: {redis_host: 10.0.0.5}\n"
                "litellm_settings:\n  cache: true\n  cache_params: {type: redis}\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_REDIS);
    assert_string_equal(c->redis_url, "redis://10.0.0.5:6379/0");
    sllmp_conf_unref(c);

    /* limits kept locally: so is the cache */
    c = load_ok("sllmp:\n  redis: {url: \"redis://127.0.0.1:6390/0\"}\n  limits: {backend: local}\n"
                "litellm_settings:\n  cache: true\n  cache_params: {type: redis}\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_FILES);
    assert_true(has_warning(c, "t.yaml:6:24: litellm_settings.cache: sllmp.limits.backend is "
                               "local: answers are cached in files, on this host only"));
    sllmp_conf_unref(c);

    c = load_ok(REDIS_SET "litellm_settings:\n  cache: true\n  cache_params: {type: "
                          "redis-semantic, similarity_threshold: 0.8}\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_REDIS);
    assert_string_equal(c->cache.type_name, "redis");
    assert_true(has_warning(c, "t.yaml:5:24: litellm_settings.cache_params.type redis-semantic "
                               "is not supported by sllmp: answers are cached by exact match, in "
                               "Redis"));
    assert_false(has_warning(c, "similarity_threshold"));
    sllmp_conf_unref(c);

    /* local: files, even with a Redis (a cache per process would miss in a pool) */
    c = load_ok(REDIS_SET "litellm_settings:\n  cache: true\n  cache_params: {type: local}\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_FILES);
    assert_string_equal(c->cache.type_name, "local");
    assert_false(has_warning(c, "cache"));
    sllmp_conf_unref(c);

    /* cache_params without a type: local */
    c = load_ok(REDIS_SET "litellm_settings:\n  cache: true\n  cache_params: {namespace: n}\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_FILES);
    assert_string_equal(c->cache.type_name, "local");
    sllmp_conf_unref(c);

    c = load_ok("litellm_settings:\n  cache: true\n"
                "  cache_params: {type: disk, disk_cache_dir: /tmp/dc}\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_FILES);
    assert_string_equal(c->cache.type_name, "disk");
    assert_string_equal(c->cache.dir, "/tmp/dc");
    assert_false(has_warning(c, "cache"));
    sllmp_conf_unref(c);

    for (size_t i = 0; i < sizeof(warned) / sizeof(warned[0]); i++) {
        snprintf(text, sizeof(text),
                 REDIS_SET "litellm_settings:\n  cache: true\n  cache_params: {type: %s}\n",
                 warned[i]);
        c = load_ok(text);
        assert_int_equal(c->cache.type, SLLMP_CACHE_FILES);
        assert_string_equal(c->cache.type_name, "local");
        snprintf(text, sizeof(text),
                 "t.yaml:5:24: litellm_settings.cache_params.type %s is not supported by sllmp: "
                 "answers are cached by exact match, in files",
                 warned[i]);
        assert_true(has_warning(c, text));
        sllmp_conf_unref(c);
    }

    expect_error("litellm_settings:\n  cache: true\n  cache_params: {type: memcached}\n",
                 "t.yaml:3:24: litellm_settings.cache_params.type must be redis, local or disk, "
                 "not 'memcached'");
    expect_error("litellm_settings:\n  cache: true\n  cache_params: {type: [redis]}\n",
                 "t.yaml:3:24: litellm_settings.cache_params.type must be a string, not a list");
    expect_error("litellm_settings:\n  cache: true\n  cache_params: [type]\n",
                 "t.yaml:3:17: litellm_settings.cache_params must be a mapping");
    expect_error("litellm_settings:\n  cache: sometimes\n", "t.yaml:2:10: litellm_settings.cache");
}

/* An answer's time: ttl, the type's own default_in_redis_ttl or default_in_memory_ttl before
 * it, else a minute in Redis and ten minutes in files; seconds, fractions rounded up, up to a
 * year; anything else refused with its place. */
static void
test_cache_ttl(void **state)
{
    static const char *const bad[] = {"0", "-5", "soon", "31622401", "[1]", "nan"};
    char text[256];
    sllmp_conf_t *c;

    (void)state;
    unset_redis_env();
    c = load_ok(REDIS_SET "litellm_settings:\n  cache: true\n");
    assert_int_equal(c->cache.ttl_s, 60);
    sllmp_conf_unref(c);
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {type: local}\n");
    assert_int_equal(c->cache.ttl_s, 600);
    sllmp_conf_unref(c);
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {type: disk}\n");
    assert_int_equal(c->cache.ttl_s, 600);
    sllmp_conf_unref(c);

    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {type: local, ttl: 120}\n");
    assert_int_equal(c->cache.ttl_s, 120);
    sllmp_conf_unref(c);
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {type: local, ttl: 0.5}\n");
    assert_int_equal(c->cache.ttl_s, 1);
    sllmp_conf_unref(c);
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {ttl: \"90.25\"}\n");
    assert_int_equal(c->cache.ttl_s, 91);
    sllmp_conf_unref(c);
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {ttl: 31622400}\n");
    assert_int_equal(c->cache.ttl_s, 31622400); /* a leap year */
    sllmp_conf_unref(c);
    setenv("SLLMP_TEST_CACHE_TTL", "300", 1);
    c = load_ok("litellm_settings:\n  cache: true\n"
                "  cache_params: {ttl: os.environ/SLLMP_TEST_CACHE_TTL}\n");
    assert_int_equal(c->cache.ttl_s, 300);
    sllmp_conf_unref(c);
    unsetenv("SLLMP_TEST_CACHE_TTL");

    /* the type's own default wins over ttl, in either order; another type's is only checked */
    c = load_ok(REDIS_SET "litellm_settings:\n  cache: true\n"
                          "  cache_params: {type: redis, ttl: 120, default_in_redis_ttl: 30,"
                          " default_in_memory_ttl: 45}\n");
    assert_int_equal(c->cache.ttl_s, 30);
    sllmp_conf_unref(c);
    c = load_ok(REDIS_SET "litellm_settings:\n  cache: true\n"
                          "  cache_params: {type: redis, default_in_redis_ttl: 30, ttl: 120}\n");
    assert_int_equal(c->cache.ttl_s, 30);
    sllmp_conf_unref(c);
    c = load_ok("litellm_settings:\n  cache: true\n"
                "  cache_params: {type: local, ttl: 120, default_in_memory_ttl: 45,"
                " default_in_redis_ttl: 30}\n");
    assert_int_equal(c->cache.ttl_s, 45);
    sllmp_conf_unref(c);
    c = load_ok("litellm_settings:\n  cache: true\n"
                "  cache_params: {type: local, default_in_redis_ttl: 30}\n");
    assert_int_equal(c->cache.ttl_s, 600);
    sllmp_conf_unref(c);
    c = load_ok("litellm_settings:\n  cache: true\n"
                "  cache_params: {type: disk, ttl: 70, default_in_memory_ttl: 45}\n");
    assert_int_equal(c->cache.ttl_s, 70);
    sllmp_conf_unref(c);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text),
                 "litellm_settings:\n  cache: true\n  cache_params: {type: local, ttl: %s}\n",
                 bad[i]);
        expect_error(text, "t.yaml:3:36: litellm_settings.cache_params.ttl must be a number of "
                           "seconds, more than 0 and at most a year");
    }
    expect_error("litellm_settings:\n  cache: true\n"
                 "  cache_params: {type: local, default_in_redis_ttl: 0}\n",
                 "t.yaml:3:53: litellm_settings.cache_params.default_in_redis_ttl must be a "
                 "number of seconds");
    expect_error("litellm_settings:\n  cache: true\n"
                 "  cache_params: {ttl: os.environ/SLLMP_TEST_CACHE_TTL}\n",
                 "t.yaml:3:23: litellm_settings.cache_params.ttl: environment variable "
                 "SLLMP_TEST_CACHE_TTL is not set");
}

/* mode, supported_call_types (LiteLLM's names of the calls, mapped to the front doors; the
 * others warned) and namespace. */
static void
test_cache_mode_call_types_namespace(void **state)
{
    static const struct {
        const char *list;
        unsigned kinds;
    } types[] = {
        {"[acompletion]", SLLMP_CACHE_CHAT},
        {"[completion]", SLLMP_CACHE_CHAT},
        {"[atext_completion]", SLLMP_CACHE_COMPLETIONS},
        {"[text_completion]", SLLMP_CACHE_COMPLETIONS},
        {"[aembedding]", SLLMP_CACHE_EMBEDDINGS},
        {"[embedding]", SLLMP_CACHE_EMBEDDINGS},
        {"[acompletion, aembedding]", SLLMP_CACHE_CHAT | SLLMP_CACHE_EMBEDDINGS},
        {"[]", 0},
    };
    char text[256];
    sllmp_conf_t *c;

    (void)state;
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {type: local}\n");
    assert_false(c->cache.default_off);
    assert_int_equal(c->cache.kinds,
                     SLLMP_CACHE_CHAT | SLLMP_CACHE_COMPLETIONS | SLLMP_CACHE_EMBEDDINGS);
    assert_null(c->cache.ns);
    sllmp_conf_unref(c);

    c = load_ok("litellm_settings:\n  cache: true\n"
                "  cache_params: {type: local, mode: default_off, namespace: team-a}\n");
    assert_true(c->cache.default_off);
    assert_string_equal(c->cache.ns, "team-a");
    sllmp_conf_unref(c);
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {mode: default_on}\n");
    assert_false(c->cache.default_off);
    sllmp_conf_unref(c);
    expect_error("litellm_settings:\n  cache: true\n  cache_params: {mode: sometimes}\n",
                 "t.yaml:3:24: litellm_settings.cache_params.mode must be default_on or "
                 "default_off");
    setenv("SLLMP_TEST_CACHE_NS", "from-env", 1);
    c = load_ok("litellm_settings:\n  cache: true\n"
                "  cache_params: {namespace: os.environ/SLLMP_TEST_CACHE_NS}\n");
    assert_string_equal(c->cache.ns, "from-env");
    sllmp_conf_unref(c);
    unsetenv("SLLMP_TEST_CACHE_NS");
    /* an empty namespace is none (keys without a prefix, and none in sllmp check) */
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {namespace: ''}\n");
    assert_null(c->cache.ns);
    sllmp_conf_unref(c);

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        snprintf(text, sizeof(text),
                 "litellm_settings:\n  cache: true\n  cache_params: {supported_call_types: %s}\n",
                 types[i].list);
        c = load_ok(text);
        assert_int_equal(c->cache.kinds, types[i].kinds);
        assert_false(has_warning(c, "supported_call_types"));
        sllmp_conf_unref(c);
    }
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params:\n"
                "    supported_call_types: [acompletion, atranscription]\n");
    assert_int_equal(c->cache.kinds, SLLMP_CACHE_CHAT);
    assert_true(has_warning(c, "t.yaml:4:41: litellm_settings.cache_params.supported_call_types: "
                               "sllmp caches no 'atranscription'"));
    sllmp_conf_unref(c);
    expect_error("litellm_settings:\n  cache: true\n"
                 "  cache_params: {supported_call_types: [{a: 1}]}\n",
                 "t.yaml:3:41: litellm_settings.cache_params.supported_call_types must list "
                 "names");
}

/* The Redis of cache_params (url, or host, port and password) becomes the gateway's when it
 * has none (the limits then live there too), else it is ignored, warned; without any, LiteLLM's
 * REDIS_URL or REDIS_HOST, REDIS_PORT and REDIS_PASSWORD. */
static void
test_cache_redis(void **state)
{
    sllmp_conf_t *c;

    (void)state;
    unset_redis_env();
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params:\n    type: redis\n"
                "    host: 10.0.0.7\n    port: 6381\n    password: pw\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_REDIS);
    assert_string_equal(c->redis_url, "redis://:pw@10.0.0.7:6381/0");
    assert_false(has_warning(c, "cache"));
    sllmp_conf_unref(c);

    c = load_ok("litellm_settings:\n  cache: true\n"
                "  cache_params: {type: redis, url: \"redis://cache.internal:6379/3\"}\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_REDIS);
    assert_string_equal(c->redis_url, "redis://cache.internal:6379/3");
    sllmp_conf_unref(c);

    setenv("SLLMP_TEST_CACHE_HOST", "10.0.0.8", 1);
    c = load_ok("litellm_settings:\n  cache: true\n"
                "  cache_params: {type: redis, host: os.environ/SLLMP_TEST_CACHE_HOST}\n");
    assert_string_equal(c->redis_url, "redis://10.0.0.8:6379/0");
    sllmp_conf_unref(c);
    unsetenv("SLLMP_TEST_CACHE_HOST");
    /* named but not set: LiteLLM has no Redis then (REDIS_HOST is not read instead) */
    setenv("REDIS_HOST", "10.9.9.9", 1);
    c = load_ok("litellm_settings:\n  cache: true\n"
                "  cache_params: {type: redis, host: os.environ/SLLMP_TEST_CACHE_HOST}\n");
    assert_null(c->redis_url);
    assert_int_equal(c->cache.type, SLLMP_CACHE_FILES);
    assert_true(has_warning(c, "t.yaml:3:37: litellm_settings.cache_params.host: environment "
                               "variable SLLMP_TEST_CACHE_HOST is not set: answers are cached in "
                               "files"));
    sllmp_conf_unref(c);
    unset_redis_env();

    /* the gateway has one: cache_params' is ignored */
    c = load_ok(REDIS_SET "litellm_settings:\n  cache: true\n"
                          "  cache_params: {type: redis, host: 10.0.0.7}\n");
    assert_string_equal(c->redis_url, "redis://127.0.0.1:6390/0");
    assert_int_equal(c->cache.type, SLLMP_CACHE_REDIS);
    assert_true(has_warning(c, "t.yaml:5:37: litellm_settings.cache_params.host is ignored: the "
                               "cache is in the gateway's Redis"));
    sllmp_conf_unref(c);
    expect_error("litellm_settings:\n  cache: true\n"
                 "  cache_params: {type: redis, url: \"http://cache.internal\"}\n",
                 "t.yaml:3:36: litellm_settings.cache_params.url must start with redis://");

    /* LiteLLM's variables, with cache: true alone */
    setenv("REDIS_HOST", "10.1.1.1", 1);
    setenv("REDIS_PORT", "6390", 1);
    setenv("REDIS_PASSWORD", "envpw", 1);
    c = load_ok("litellm_settings:\n  cache: true\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_REDIS);
    assert_string_equal(c->redis_url, "redis://:envpw@10.1.1.1:6390/0");
    assert_false(has_warning(c, "cache"));
    sllmp_conf_unref(c);
    setenv("REDIS_URL", "redis://from-url:6379/1", 1);
    c = load_ok("litellm_settings:\n  cache: true\n");
    assert_string_equal(c->redis_url, "redis://from-url:6379/1");
    sllmp_conf_unref(c);
    unsetenv("REDIS_URL");
    setenv("REDIS_PORT", "nope", 1);
    c = load_ok("litellm_settings:\n  cache: true\n");
    assert_null(c->redis_url);
    assert_int_equal(c->cache.type, SLLMP_CACHE_FILES);
    assert_true(has_warning(c, "no Redis is configured"));
    sllmp_conf_unref(c);
    /* a local cache reads none of them */
    setenv("REDIS_PORT", "6390", 1);
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {type: local}\n");
    assert_null(c->redis_url);
    sllmp_conf_unref(c);
    unset_redis_env();
}

/* cache_params without cache: true is ignored, warned; its unknown keys are warned, LiteLLM's
 * client settings (the gateway has its own) silently ignored. */
static void
test_cache_params_ignored(void **state)
{
    sllmp_conf_t *c;

    (void)state;
    c = load_ok("litellm_settings:\n  cache_params: {type: local}\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_OFF);
    assert_true(has_warning(c, "t.yaml:2:17: litellm_settings.cache_params is ignored: "
                               "litellm_settings.cache is not true"));
    sllmp_conf_unref(c);
    c = load_ok("litellm_settings:\n  cache: false\n  cache_params: {type: local}\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_OFF);
    assert_true(has_warning(c, "t.yaml:3:17: litellm_settings.cache_params is ignored"));
    sllmp_conf_unref(c);

    c = load_ok("litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n"
                "    max_connections: 10\n    socket_timeout: 5\n    ssl: true\n    db: 0\n"
                "    username: u\n    frobnicate: 1\n");
    assert_int_equal(c->cache.type, SLLMP_CACHE_FILES);
    assert_true(has_warning(c, "t.yaml:10:5: litellm_settings.cache_params.frobnicate is not "
                               "supported by sllmp and is ignored"));
    assert_int_equal(c->nwarnings, 1);
    sllmp_conf_unref(c);
}

/* sllmp.cache: the files' directory (before disk_cache_dir; default <rundir>/cache) and their
 * quota (default 256 MB). */
static void
test_cache_dir_and_quota(void **state)
{
    char *old = getenv("SLLMP_RUNDIR") ? strdup(getenv("SLLMP_RUNDIR")) : NULL;
    sllmp_conf_t *c;

    (void)state;
    setenv("SLLMP_RUNDIR", "/srv/run", 1);
    c = load_ok("litellm_settings:\n  cache: true\n  cache_params: {type: local}\n");
    assert_string_equal(c->cache.dir, "/srv/run/cache");
    assert_int_equal(c->cache.max_mb, 256);
    sllmp_conf_unref(c);

    c = load_ok("sllmp:\n  cache: {dir: /var/c, max_mb: 64, frob: 1}\n"
                "litellm_settings:\n  cache: true\n"
                "  cache_params: {type: disk, disk_cache_dir: /tmp/dc}\n");
    assert_string_equal(c->cache.dir, "/var/c");
    assert_int_equal(c->cache.max_mb, 64);
    assert_true(has_warning(c, "t.yaml:2:36: unknown key sllmp.cache.frob is ignored"));
    sllmp_conf_unref(c);
    expect_error("sllmp:\n  cache: {max_mb: 0}\n",
                 "t.yaml:2:19: sllmp.cache.max_mb must be between 1 and");
    expect_error("sllmp:\n  cache: {max_mb: lots}\n",
                 "t.yaml:2:19: sllmp.cache.max_mb must be an integer");
    expect_error("sllmp:\n  cache: {dir: \"\"}\n", "t.yaml:2:16: sllmp.cache.dir");
    expect_error("litellm_settings:\n  cache: true\n  cache_params: {type: disk, disk_cache_dir: "
                 "\"\"}\n",
                 "t.yaml:3:46: litellm_settings.cache_params.disk_cache_dir");
    unsetenv("SLLMP_RUNDIR");
    if (old != NULL) {
        setenv("SLLMP_RUNDIR", old, 1);
        free(old);
    }
}

/* sllmp check's cache line. */
static void
test_cache_describe(void **state)
{
    char buf[8192];
    sllmp_conf_t *c;

    (void)state;
    unset_redis_env();
    c = load_ok("model_list: []\n");
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "\ncache: off\n"));
    sllmp_conf_unref(c);

    c = load_ok(REDIS_SET "litellm_settings:\n  cache: true\n");
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "\ncache: in redis, ttl 60s; caches chat, text completions, "
                                "embeddings\n"));
    sllmp_conf_unref(c);

    c = load_ok("sllmp:\n  cache: {dir: /var/c, max_mb: 64}\n"
                "litellm_settings:\n  cache: true\n"
                "  cache_params: {type: local, ttl: 90, namespace: ns1, mode: default_off,"
                " supported_call_types: [acompletion, embedding]}\n");
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(buf, "\ncache: local, in files in /var/c (quota 64 MB), ttl 90s, "
                                "namespace ns1, only requests with cache.use-cache; caches chat, "
                                "embeddings\n"));
    sllmp_conf_unref(c);

    c = load_ok("sllmp:\n  cache: {dir: /var/c}\n"
                "litellm_settings:\n  cache: true\n  cache_params: {supported_call_types: []}\n");
    describe(c, buf, sizeof(buf));
    assert_non_null(strstr(
        buf, "\ncache: local, in files in /var/c (quota 256 MB), ttl 600s; caches nothing\n"));
    sllmp_conf_unref(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_litellm_file_unchanged),
        cmocka_unit_test(test_responses_section),
        cmocka_unit_test(test_responses_api),
        cmocka_unit_test(test_chat_via_responses),
        cmocka_unit_test(test_set_verbose),
        cmocka_unit_test(test_callbacks),
        cmocka_unit_test(test_sllmp_section),
        cmocka_unit_test(test_defaults_and_empty),
        cmocka_unit_test(test_errors_name_the_place),
        cmocka_unit_test(test_langfuse_and_capture),
        cmocka_unit_test(test_unset_key_leaves_model_out),
        cmocka_unit_test(test_providers),
        cmocka_unit_test(test_vertex_ai),
        cmocka_unit_test(test_anthropic_betas),
        cmocka_unit_test(test_vertex_ai_openapi),
        cmocka_unit_test(test_litellm_openai_like_providers),
        cmocka_unit_test(test_fireworks_model_names),
        cmocka_unit_test(test_litellm_timeouts),
        cmocka_unit_test(test_litellm_global_budget),
        cmocka_unit_test(test_model_group_alias),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_embedded_default),
        cmocka_unit_test(test_default_spool_dir),
        cmocka_unit_test(test_ca_probe),
        cmocka_unit_test(test_cache_reloads_changed_file),
        cmocka_unit_test(test_describe_hides_secrets),
        cmocka_unit_test(test_upstream_headers),
        cmocka_unit_test(test_headers_and_extra_headers_merge),
        cmocka_unit_test(test_buffer_streams),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_duplicate_keys_last_wins),
        cmocka_unit_test(test_merge_keys),
        cmocka_unit_test(test_bare_model_names),
        cmocka_unit_test(test_custom_llm_provider),
        cmocka_unit_test(test_litellm_spellings),
        cmocka_unit_test(test_wildcard_match),
        cmocka_unit_test(test_wildcard_routing),
        cmocka_unit_test(test_metadata_aliases_bounded),
        cmocka_unit_test(test_teams_users_and_limit_settings),
        cmocka_unit_test(test_include_appends_lists_and_sets_keys),
        cmocka_unit_test(test_include_single_string_and_mapping_replaced),
        cmocka_unit_test(test_include_errors_name_the_place),
        cmocka_unit_test(test_include_nested_and_loops),
        cmocka_unit_test(test_cache_reloads_changed_include),
        cmocka_unit_test(test_cache_rereads_file_after_chmod),
        cmocka_unit_test(test_router_settings_redis),
        cmocka_unit_test(test_drop_params),
        cmocka_unit_test(test_dep_defaults),
        cmocka_unit_test(test_max_request_size_mb),
        cmocka_unit_test(test_dep_extra_body),
        cmocka_unit_test(test_dep_defaults_env),
        cmocka_unit_test(test_dep_defaults_null_and_bool_words),
        cmocka_unit_test(test_deployment_order),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_model_info_order),
        cmocka_unit_test(test_model_info_max_output_tokens),
        cmocka_unit_test(test_default_max_parallel_requests),
        cmocka_unit_test(test_router_default_litellm_params),
        cmocka_unit_test(test_cache_types),
        cmocka_unit_test(test_cache_ttl),
        cmocka_unit_test(test_cache_mode_call_types_namespace),
        cmocka_unit_test(test_cache_redis),
        cmocka_unit_test(test_cache_params_ignored),
        cmocka_unit_test(test_cache_dir_and_quota),
        cmocka_unit_test(test_cache_describe),
    };

    return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
