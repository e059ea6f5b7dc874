/*
 * Gemini translation (src/providers/gemini_xlate.c): golden requests from protocols.md §3.1,
 * answers, usage buckets, streams and embeddings.
 */
#include "sllmp/translate.h"
#include "sllmp/usage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static cJSON *
parse(const char *json)
{
    cJSON *j = cJSON_Parse(json);

    if (j == NULL) {
        fail_msg("test JSON does not parse: %s", json);
    }
    return j;
}

/* Structural comparison (member order does not matter); prints both sides on a mismatch. */
static void
assert_json(const cJSON *got, const char *want_json)
{
    cJSON *want = parse(want_json);

    if (!cJSON_Compare(got, want, 1)) {
        char *g = cJSON_PrintUnformatted(got), *w = cJSON_PrintUnformatted(want);

        print_error("got:  %s\nwant: %s\n", g != NULL ? g : "(null)", w);
        cJSON_free(g);
        cJSON_free(w);
        cJSON_Delete(want);
        fail();
    }
    cJSON_Delete(want);
}

/* json translated for model (a Gemini 2.5 one when NULL) */
static cJSON *
request_for(const char *model, const char *json, sllmp_xerr_t *e)
{
    cJSON *req = parse(json);
    cJSON *body;

    memset(e, 0, sizeof(*e));
    body = sllmp_gemini_request(req, model != NULL ? model : "gemini-2.5-flash", e);
    cJSON_Delete(req);
    return body;
}

static cJSON *
request(const char *json, sllmp_xerr_t *e)
{
    return request_for(NULL, json, e);
}

/* The translation of json for model, which must succeed, compared with want. */
static void
assert_request_for(const char *model, const char *json, const char *want)
{
    sllmp_xerr_t e;
    cJSON *body = request_for(model, json, &e);

    if (body == NULL) {
        fail_msg("request refused: %s (%s)", e.message, e.param);
    }
    assert_json(body, want);
    cJSON_Delete(body);
}

/* The translation of json, which must succeed, compared with want. */
static void
assert_request(const char *json, const char *want)
{
    sllmp_xerr_t e;
    cJSON *body = request(json, &e);

    if (body == NULL) {
        fail_msg("request refused: %s (%s)", e.message, e.param);
    }
    assert_json(body, want);
    cJSON_Delete(body);
}

/* The translation of json, which must fail with param. */
static void
assert_refused(const char *json, const char *param)
{
    sllmp_xerr_t e;
    cJSON *body = request(json, &e);

    assert_null(body);
    assert_string_equal(e.param, param);
    assert_true(e.message[0] != '\0');
}

static cJSON *
response(const char *json, sllmp_usage_t *u)
{
    cJSON *resp = parse(json);
    cJSON *out;

    memset(u, 0, sizeof(*u));
    out = sllmp_gemini_response(resp, "gemini-test", 1700000000, u);
    cJSON_Delete(resp);
    assert_non_null(out);
    return out;
}

static const cJSON *
at(const cJSON *o, const char *path)
{
    /* "choices.0.message.content": members and array indices split by dots */
    char buf[256], *tok, *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok != NULL && o != NULL;
         tok = strtok_r(NULL, ".", &save)) {
        if (tok[0] >= '0' && tok[0] <= '9') {
            o = cJSON_GetArrayItem(o, (int)strtol(tok, NULL, 10));
        } else {
            o = cJSON_GetObjectItemCaseSensitive(o, tok);
        }
    }
    if (o == NULL) {
        fail_msg("no %s", path);
    }
    return o;
}

static const char *
str_at(const cJSON *o, const char *path)
{
    const cJSON *v = at(o, path);

    if (!cJSON_IsString(v)) {
        fail_msg("%s is not a string", path);
    }
    return v->valuestring;
}

static long
num_at(const cJSON *o, const char *path)
{
    const cJSON *v = at(o, path);

    if (!cJSON_IsNumber(v)) {
        fail_msg("%s is not a number", path);
    }
    return (long)v->valuedouble;
}

/* ------------------------------------------------------------------ requests */

static void
test_request_documented_example(void **state)
{
    (void)state;
    /* protocols.md §3.1's request, from the OpenAI request that means it */
    assert_request(
        "{\"model\":\"gemini-2.5-flash\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"You are\\u2026\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}}]},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
        "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18C\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"Current weather\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}],"
        "\"tool_choice\":\"auto\",\"temperature\":0.2,\"top_p\":0.9,\"top_k\":40,"
        "\"max_tokens\":512,\"stop\":[\"END\"],\"n\":1,\"seed\":1,"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"w\","
        "\"schema\":{\"type\":\"object\",\"properties\":{\"t\":{\"type\":\"string\"}}}}},"
        "\"stream\":true,\"user\":\"u1\"}",

        "{\"systemInstruction\":{\"parts\":[{\"text\":\"You are\\u2026\"}]},"
        "\"contents\":["
        "{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"},"
        "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}}]},"
        "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"get_weather\","
        "\"args\":{\"city\":\"Paris\"}}}]},"
        "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"get_weather\","
        "\"response\":{\"result\":\"18C\"}}}]}],"
        "\"tools\":[{\"functionDeclarations\":[{\"name\":\"get_weather\","
        "\"description\":\"Current weather\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}]}],"
        "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"AUTO\"}},"
        "\"generationConfig\":{\"temperature\":0.2,\"topP\":0.9,\"topK\":40,"
        "\"maxOutputTokens\":512,\"stopSequences\":[\"END\"],\"candidateCount\":1,\"seed\":1,"
        "\"responseMimeType\":\"application/json\",\"responseSchema\":{\"type\":\"object\","
        "\"properties\":{\"t\":{\"type\":\"string\"}}}}}");
}

static void
test_request_roles_merged_and_config(void **state)
{
    (void)state;
    /* system and developer text in order; consecutive users merged; http image -> fileData */
    assert_request(
        "{\"messages\":[{\"role\":\"system\",\"content\":\"A\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"B\"}]},"
        "{\"role\":\"user\",\"content\":\"one\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":"
        "{\"url\":\"https://x.test/cat.PNG?size=2\"}},{\"type\":\"image_url\",\"image_url\":"
        "{\"url\":\"https://x.test/photo\"}}]},"
        "{\"role\":\"assistant\",\"content\":\"ok\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"more\"}]}],"
        "\"max_tokens\":10,\"max_completion_tokens\":20,\"stop\":\"X\","
        "\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"reasoning_effort\":\"medium\","
        "\"response_format\":{\"type\":\"json_object\"},\"tool_choice\":\"required\","
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",

        "{\"systemInstruction\":{\"parts\":[{\"text\":\"A\"},{\"text\":\"B\"}]},"
        "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"one\"},"
        "{\"fileData\":{\"mimeType\":\"image/png\",\"fileUri\":\"https://x.test/cat.PNG?size=2\"}},"
        "{\"fileData\":{\"mimeType\":\"image/jpeg\",\"fileUri\":\"https://x.test/photo\"}}]},"
        "{\"role\":\"model\",\"parts\":[{\"text\":\"ok\"},{\"text\":\"more\"}]}],"
        "\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\"}]}],"
        "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\"}},"
        "\"generationConfig\":{\"maxOutputTokens\":20,\"stopSequences\":[\"X\"],"
        "\"presencePenalty\":0.5,\"frequencyPenalty\":-0.5,"
        "\"responseMimeType\":\"application/json\",\"thinkingConfig\":{\"thinkingBudget\":2048,"
        "\"includeThoughts\":true}}}");

    /* no toolConfig without tools: Gemini refuses it */
    assert_request("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"reasoning_effort\":\"none\",\"tool_choice\":\"none\"}",
                   "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
                   "\"generationConfig\":{\"thinkingConfig\":{\"thinkingBudget\":0}}}");

    assert_request("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tool_choice\":\"none\","
                   "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
                   "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
                   "\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\"}]}],"
                   "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"NONE\"}}}");

    /* minimal is LiteLLM's 128 tokens, which Gemini 2.5 Pro (that cannot think less) takes */
    assert_request("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"reasoning_effort\":\"minimal\"}",
                   "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
                   "\"generationConfig\":{\"thinkingConfig\":{\"thinkingBudget\":128,"
                   "\"includeThoughts\":true}}}");

    /* system text alone goes as the user's turn: Gemini needs contents */
    assert_request("{\"messages\":[{\"role\":\"system\",\"content\":\"Only me\"}]}",
                   "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Only me\"}]}]}");

    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"reasoning_effort\":\"extreme\"}",
                   "reasoning_effort");
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"tool_choice\":7}",
                   "tool_choice");
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                   "\"image_url\":{\"url\":\"data:image/png,notbase64\"}}]}]}",
                   "messages[0].content[0].image_url.url");
    assert_refused("{\"messages\":[{\"role\":\"critic\",\"content\":\"q\"}]}", "messages[0].role");
    assert_refused("{\"messages\":[]}", "messages");
}

/* The thinkingConfig a request with these members (JSON without braces) gets for model. */
static void
assert_thinking(const char *model, const char *members, const char *want)
{
    char json[512], out[512];

    snprintf(json, sizeof(json), "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],%s}",
             members);
    snprintf(out, sizeof(out),
             "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
             "\"generationConfig\":{\"thinkingConfig\":%s}}",
             want);
    assert_request_for(model, json, out);
}

/* Gemini 3 takes thinkingLevel (LiteLLM's mapping): it cannot stop thinking, so none is its
 * least level with no thoughts shown; Gemini 3 Pro has low and high only, Flash minimal too
 * (not 3.7 and 3.8 Flash, which refuse it); Gemini 2 keeps its budgets. */
static void
test_request_gemini3_thinking_level(void **state)
{
    static const struct {
        const char *model, *effort, *want;
    } cases[] = {
        {"gemini-3-pro-preview", "none", "{\"thinkingLevel\":\"low\",\"includeThoughts\":false}"},
        {"gemini-3-pro-preview", "minimal", "{\"thinkingLevel\":\"low\",\"includeThoughts\":true}"},
        {"gemini-3-pro-preview", "low", "{\"thinkingLevel\":\"low\",\"includeThoughts\":true}"},
        {"gemini-3-pro-preview", "medium", "{\"thinkingLevel\":\"high\",\"includeThoughts\":true}"},
        {"gemini-3-pro-preview", "high", "{\"thinkingLevel\":\"high\",\"includeThoughts\":true}"},
        {"gemini-3.1-pro-preview", "medium",
         "{\"thinkingLevel\":\"medium\",\"includeThoughts\":true}"},
        {"gemini-3.1-pro-preview", "minimal",
         "{\"thinkingLevel\":\"low\",\"includeThoughts\":true}"},
        {"gemini-3-flash-preview", "none",
         "{\"thinkingLevel\":\"minimal\",\"includeThoughts\":false}"},
        {"gemini-3-flash-preview", "minimal",
         "{\"thinkingLevel\":\"minimal\",\"includeThoughts\":true}"},
        {"gemini-3-flash-preview", "medium",
         "{\"thinkingLevel\":\"medium\",\"includeThoughts\":true}"},
        {"gemini-3.1-flash-lite-preview", "minimal",
         "{\"thinkingLevel\":\"minimal\",\"includeThoughts\":true}"},
        {"gemini-3.7-flash", "minimal", "{\"thinkingLevel\":\"low\",\"includeThoughts\":true}"},
        {"gemini-3.8-flash", "none", "{\"thinkingLevel\":\"low\",\"includeThoughts\":false}"},
        {"gemini-2.5-pro", "minimal", "{\"thinkingBudget\":128,\"includeThoughts\":true}"},
        /* Flash-Lite's least is 512 (Google refuses 128), LiteLLM's minimal for it */
        {"gemini-2.5-flash-lite", "minimal", "{\"thinkingBudget\":512,\"includeThoughts\":true}"},
        {"gemini-flash-lite-latest", "minimal",
         "{\"thinkingBudget\":512,\"includeThoughts\":true}"},
        {"gemini-2.5-flash", "high", "{\"thinkingBudget\":4096,\"includeThoughts\":true}"},
        /* LiteLLM's own "disable" is none: no thinking where the model can stop, no thoughts */
        {"gemini-2.5-flash", "disable", "{\"thinkingBudget\":0}"},
        {"gemini-3-flash-preview", "disable",
         "{\"thinkingLevel\":\"minimal\",\"includeThoughts\":false}"},
    };
    char members[64];
    sllmp_xerr_t e;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(members, sizeof(members), "\"reasoning_effort\":\"%s\"", cases[i].effort);
        assert_thinking(cases[i].model, members, cases[i].want);
    }
    /* no level above high (LiteLLM refuses xhigh and max for Gemini too) */
    for (int k = 0; k < 2; k++) {
        cJSON *body = request_for("gemini-3-pro-preview",
                                  k == 0 ? "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                                           "\"reasoning_effort\":\"xhigh\"}"
                                         : "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                                           "\"reasoning_effort\":\"max\"}",
                                  &e);

        assert_null(body);
        assert_string_equal(e.param, "reasoning_effort");
    }
}

/* Anthropic's thinking parameter, as LiteLLM maps it for Gemini: budget_tokens as Gemini 2's
 * thinkingBudget, thoughts shown when enabled with a budget that is not 0; Gemini 3 takes no
 * budget, only whether to show thoughts. Sent with reasoning_effort, it wins on Gemini 2 and
 * is refused on Gemini 3 (LiteLLM: "Cannot specify both"). */
static void
test_request_thinking_param(void **state)
{
    static const struct {
        const char *model, *members, *want;
    } cases[] = {
        {NULL, "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048}",
         "{\"thinkingBudget\":2048,\"includeThoughts\":true}"},
        {NULL, "\"thinking\":{\"type\":\"enabled\"}", "{\"includeThoughts\":true}"},
        {NULL, "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":0}", "{\"thinkingBudget\":0}"},
        {NULL, "\"thinking\":{\"type\":\"disabled\",\"budget_tokens\":0}",
         "{\"thinkingBudget\":0}"},
        {NULL, "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":-1}",
         "{\"thinkingBudget\":-1,\"includeThoughts\":true}"},
        {NULL,
         "\"reasoning_effort\":\"high\",\"thinking\":{\"type\":\"enabled\","
         "\"budget_tokens\":1024}",
         "{\"thinkingBudget\":1024,\"includeThoughts\":true}"},
        {"gemini-3-pro-preview", "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048}",
         "{\"includeThoughts\":true}"},
        {"gemini-3-pro-preview", "\"thinking\":{\"type\":\"enabled\"}",
         "{\"includeThoughts\":false}"},
        {"gemini-3-flash-preview", "\"thinking\":{\"type\":\"disabled\"}",
         "{\"includeThoughts\":false}"},
    };
    static const struct {
        const char *model, *members, *param;
    } refused[] = {
        {"gemini-3-pro-preview",
         "\"reasoning_effort\":\"low\",\"thinking\":{\"type\":\"enabled\","
         "\"budget_tokens\":1024}",
         "thinking"},
        {NULL, "\"thinking\":\"on\"", "thinking"},
        {NULL, "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":\"lots\"}",
         "thinking.budget_tokens"},
        {NULL, "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1.5}",
         "thinking.budget_tokens"},
    };
    char json[512];
    sllmp_xerr_t e;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_thinking(cases[i].model != NULL ? cases[i].model : "gemini-2.5-flash",
                        cases[i].members, cases[i].want);
    }
    /* disabled without a budget says nothing (LiteLLM's empty thinkingConfig): the model's
     * default, and the reasoning_effort beside it goes as on LiteLLM */
    assert_request("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"reasoning_effort\":\"high\",\"thinking\":{\"type\":\"disabled\"}}",
                   "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}]}");
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        cJSON *body;

        snprintf(json, sizeof(json), "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],%s}",
                 refused[i].members);
        body = request_for(refused[i].model, json, &e);
        assert_null(body);
        assert_string_equal(e.param, refused[i].param);
        assert_true(e.message[0] != '\0');
    }
}

static void
test_request_tool_round_trip(void **state)
{
    (void)state;
    /* two calls answered by two tool messages: one user turn, names found by tool_call_id;
     * a JSON object result is the response itself, anything else is wrapped */
    assert_request(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"weather and time?\"},"
        "{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":["
        "{\"id\":\"call_w\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"call_t\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
        "\"arguments\":\"\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_t\",\"content\":\"{\\\"time\\\":\\\"12:00\\\"}"
        "\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_w\",\"content\":[{\"type\":\"text\","
        "\"text\":\"[1,2]\"}]},"
        "{\"role\":\"user\",\"content\":\"thanks\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_time\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{}}}}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}}",

        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"weather and time?\"}]},"
        "{\"role\":\"model\",\"parts\":[{\"text\":\"Checking.\"},"
        "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}},"
        "{\"functionCall\":{\"name\":\"get_time\",\"args\":{}}}]},"
        "{\"role\":\"user\",\"parts\":["
        "{\"functionResponse\":{\"name\":\"get_time\",\"response\":{\"time\":\"12:00\"}}},"
        "{\"functionResponse\":{\"name\":\"get_weather\",\"response\":{\"result\":\"[1,2]\"}}},"
        "{\"text\":\"thanks\"}]}],"
        "\"tools\":[{\"functionDeclarations\":[{\"name\":\"get_time\"}]}],"
        "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\","
        "\"allowedFunctionNames\":[\"get_time\"]}}}");
}

/* A call's thought signature comes back from, first found: extra_content.google (Google's
 * OpenAI shape), the call's provider_specific_fields, its function's, or the id after
 * "__thought__" (LiteLLM's); a tool message finds its call by the id before the separator,
 * whichever side has it. */
static void
test_request_thought_signature_sources(void **state)
{
    (void)state;
    assert_request(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"call_a__thought__ID1\",\"type\":\"function\",\"function\":{\"name\":\"fa\","
        "\"arguments\":\"{}\",\"provider_specific_fields\":{\"thought_signature\":\"F1\"}},"
        "\"extra_content\":{\"google\":{\"thought_signature\":\"E1\"}},"
        "\"provider_specific_fields\":{\"thought_signature\":\"P1\"}},"
        "{\"id\":\"call_b__thought__ID2\",\"type\":\"function\",\"function\":{\"name\":\"fb\","
        "\"arguments\":\"{}\",\"provider_specific_fields\":{\"thought_signature\":\"F2\"}},"
        "\"provider_specific_fields\":{\"thought_signature\":\"P2\"}},"
        "{\"id\":\"call_c__thought__ID3\",\"type\":\"function\",\"function\":{\"name\":\"fc\","
        "\"arguments\":\"{}\",\"provider_specific_fields\":{\"thought_signature\":\"F3\"}}},"
        "{\"id\":\"call_d__thought__ID4\",\"type\":\"function\",\"function\":{\"name\":\"fd\","
        "\"arguments\":\"{}\"}},"
        "{\"id\":\"call_e\",\"type\":\"function\",\"function\":{\"name\":\"fe\","
        "\"arguments\":\"{}\"}},"
        "{\"id\":\"call_f__thought__\",\"type\":\"function\",\"function\":{\"name\":\"ff\","
        "\"arguments\":\"{}\"},\"extra_content\":{\"google\":{\"thought_signature\":\"\"}}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":\"1\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_b__thought__ID2\",\"content\":\"2\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_c__thought__other\",\"content\":\"3\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_d\",\"content\":\"4\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_e__thought__ID5\",\"content\":\"5\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_f\",\"content\":\"6\"}]}",

        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]},"
        "{\"role\":\"model\",\"parts\":["
        "{\"functionCall\":{\"name\":\"fa\",\"args\":{}},\"thoughtSignature\":\"E1\"},"
        "{\"functionCall\":{\"name\":\"fb\",\"args\":{}},\"thoughtSignature\":\"P2\"},"
        "{\"functionCall\":{\"name\":\"fc\",\"args\":{}},\"thoughtSignature\":\"F3\"},"
        "{\"functionCall\":{\"name\":\"fd\",\"args\":{}},\"thoughtSignature\":\"ID4\"},"
        "{\"functionCall\":{\"name\":\"fe\",\"args\":{}}},"
        "{\"functionCall\":{\"name\":\"ff\",\"args\":{}}}]},"
        "{\"role\":\"user\",\"parts\":["
        "{\"functionResponse\":{\"name\":\"fa\",\"response\":{\"result\":\"1\"}}},"
        "{\"functionResponse\":{\"name\":\"fb\",\"response\":{\"result\":\"2\"}}},"
        "{\"functionResponse\":{\"name\":\"fc\",\"response\":{\"result\":\"3\"}}},"
        "{\"functionResponse\":{\"name\":\"fd\",\"response\":{\"result\":\"4\"}}},"
        "{\"functionResponse\":{\"name\":\"fe\",\"response\":{\"result\":\"5\"}}},"
        "{\"functionResponse\":{\"name\":\"ff\",\"response\":{\"result\":\"6\"}}}]}]}");
}

/* Gemini 3 refuses a model turn whose first functionCall has no thought signature (history
 * it did not write: a conversation begun on another model, a client that dropped it): that
 * part gets Google's documented dummy, "skip_thought_signature_validator". Only the first
 * call of each assistant message, only when it has none, only for Gemini 3. */
static void
test_request_gemini3_dummy_signature(void **state)
{
    static const char req[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"content\":\"Let me see.\",\"tool_calls\":["
        "{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"fa\","
        "\"arguments\":\"{}\"}},"
        "{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"fb\","
        "\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":\"1\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_b\",\"content\":\"2\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"call_c__thought__SIG\",\"type\":\"function\",\"function\":{\"name\":\"fc\","
        "\"arguments\":\"{}\"}},"
        "{\"id\":\"call_d\",\"type\":\"function\",\"function\":{\"name\":\"fd\","
        "\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_c\",\"content\":\"3\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_d\",\"content\":\"4\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"call_e\",\"type\":\"function\",\"function\":{\"name\":\"fe\","
        "\"arguments\":\"{}\"}},"
        "{\"id\":\"call_f\",\"type\":\"function\",\"function\":{\"name\":\"ff\","
        "\"arguments\":\"{}\"},\"extra_content\":{\"google\":{\"thought_signature\":\"S2\"}}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_e\",\"content\":\"5\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_f\",\"content\":\"6\"},"
        "{\"role\":\"assistant\",\"content\":\"Done.\"}]}";
    static const char want[] =
        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]},"
        "{\"role\":\"model\",\"parts\":[{\"text\":\"Let me see.\"},"
        "{\"functionCall\":{\"name\":\"fa\",\"args\":{}}%s},"
        "{\"functionCall\":{\"name\":\"fb\",\"args\":{}}}]},"
        "{\"role\":\"user\",\"parts\":["
        "{\"functionResponse\":{\"name\":\"fa\",\"response\":{\"result\":\"1\"}}},"
        "{\"functionResponse\":{\"name\":\"fb\",\"response\":{\"result\":\"2\"}}}]},"
        "{\"role\":\"model\",\"parts\":["
        "{\"functionCall\":{\"name\":\"fc\",\"args\":{}},\"thoughtSignature\":\"SIG\"},"
        "{\"functionCall\":{\"name\":\"fd\",\"args\":{}}}]},"
        "{\"role\":\"user\",\"parts\":["
        "{\"functionResponse\":{\"name\":\"fc\",\"response\":{\"result\":\"3\"}}},"
        "{\"functionResponse\":{\"name\":\"fd\",\"response\":{\"result\":\"4\"}}}]},"
        "{\"role\":\"model\",\"parts\":["
        "{\"functionCall\":{\"name\":\"fe\",\"args\":{}}%s},"
        "{\"functionCall\":{\"name\":\"ff\",\"args\":{}},\"thoughtSignature\":\"S2\"}]},"
        "{\"role\":\"user\",\"parts\":["
        "{\"functionResponse\":{\"name\":\"fe\",\"response\":{\"result\":\"5\"}}},"
        "{\"functionResponse\":{\"name\":\"ff\",\"response\":{\"result\":\"6\"}}}]},"
        "{\"role\":\"model\",\"parts\":[{\"text\":\"Done.\"}]}]}";
    static const char dummy[] = ",\"thoughtSignature\":\"skip_thought_signature_validator\"";
    char buf[sizeof(want) + 2 * sizeof(dummy)];

    (void)state;
    snprintf(buf, sizeof(buf), want, dummy, dummy);
    assert_request_for("gemini-3-flash-preview", req, buf);
    assert_request_for("gemini-3.1-pro-preview", req, buf);
    /* other models: what the client sent, and nothing made up */
    snprintf(buf, sizeof(buf), want, "", "");
    assert_request_for("gemini-2.5-pro", req, buf);
    /* the legacy function_call is a model turn's first call too */
    assert_request_for(
        "gemini-3-pro-preview",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"f\","
        "\"arguments\":\"{}\"}},{\"role\":\"function\",\"name\":\"f\",\"content\":\"1\"}]}",
        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]},"
        "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{}},"
        "\"thoughtSignature\":\"skip_thought_signature_validator\"}]},"
        "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"f\","
        "\"response\":{\"result\":\"1\"}}}]}]}");
}

static void
test_request_legacy_functions(void **state)
{
    (void)state;
    /* the legacy functions API, whose function messages and function_call turns are
     * translated: its functions are declarations too, its function_call the tool_choice */
    assert_request(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"role\":\"function\",\"name\":\"get_weather\",\"content\":\"18C\"}],"
        "\"functions\":[{\"name\":\"get_weather\",\"description\":\"Weather\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}],"
        "\"function_call\":{\"name\":\"get_weather\"}}",

        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"weather?\"}]},"
        "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"get_weather\","
        "\"args\":{\"city\":\"Paris\"}}}]},"
        "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"get_weather\","
        "\"response\":{\"result\":\"18C\"}}}]}],"
        "\"tools\":[{\"functionDeclarations\":[{\"name\":\"get_weather\",\"description\":"
        "\"Weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{"
        "\"type\":\"string\"}}}}]}],"
        "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\","
        "\"allowedFunctionNames\":[\"get_weather\"]}}}");
    assert_request("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"functions\":[{\"name\":\"f\"}],\"function_call\":\"none\"}",
                   "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
                   "\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\"}]}],"
                   "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"NONE\"}}}");
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"functions\":[{\"description\":\"no name\"}]}",
                   "functions[0].name");
}

static void
test_request_unknown_tool_call_id(void **state)
{
    (void)state;
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                   "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_a\",\"type\":"
                   "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                   "{\"role\":\"tool\",\"tool_call_id\":\"call_zzz\",\"content\":\"x\"}]}",
                   "messages[2].tool_call_id");
    /* the ids before the separator must be the same, not one a prefix of the other */
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                   "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_ab__thought__S\","
                   "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                   "{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":\"x\"}]}",
                   "messages[2].tool_call_id");
    assert_refused(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_ab\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_a__thought__S\",\"content\":\"x\"}]}",
        "messages[2].tool_call_id");
    /* a later call with that id does not count */
    assert_refused(
        "{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":\"x\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_a\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]}",
        "messages[0].tool_call_id");
}

static void
test_request_invalid_arguments(void **state)
{
    (void)state;
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                   "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\","
                   "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"id\":\"b\",\"type\":"
                   "\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"x\\\":\"}}]}]}",
                   "messages[1].tool_calls[1].function.arguments");
    /* valid JSON that is no object cannot be args either */
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                   "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\","
                   "\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
                   "messages[1].tool_calls[0].function.arguments");
}

static void
test_request_schema_keys_stripped(void **state)
{
    (void)state;
    /* additionalProperties and $schema go at every level a schema nests; a property that is
     * merely named so stays */
    assert_request(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\","
        "\"strict\":true,\"schema\":{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
        "\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"additionalProperties\":{\"type\":\"string\"},"
        "\"list\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"additionalProperties\":false,\"properties\":{\"n\":{\"type\":\"integer\"}}}},"
        "\"either\":{\"anyOf\":[{\"type\":\"object\",\"additionalProperties\":true,"
        "\"properties\":{\"x\":{\"type\":\"string\"}}},"
        "{\"type\":\"null\"}]}},\"required\":[\"list\"]}}},"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{"
        "\"type\":\"object\",\"additionalProperties\":false,\"$schema\":\"x\","
        "\"properties\":{\"o\":{\"type\":\"object\",\"additionalProperties\":{\"type\":"
        "\"string\"},\"properties\":{\"k\":{\"type\":\"string\"}}}}}}}]}",

        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
        "\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"o\":{\"type\":\"object\","
        "\"properties\":{\"k\":{\"type\":\"string\"}}}}}}]}],"
        "\"generationConfig\":{\"responseMimeType\":\"application/json\",\"responseSchema\":{"
        "\"type\":\"object\",\"properties\":{"
        "\"additionalProperties\":{\"type\":\"string\"},"
        "\"list\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"properties\":{\"n\":{\"type\":\"integer\"}}}},"
        "\"either\":{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"x\":{\"type\":"
        "\"string\"}}},{\"type\":\"null\"}]}},"
        "\"required\":[\"list\"]}}}");
}

/* An object without properties (Pydantic's dict[str, str]: additionalProperties alone) is
 * what Google's Schema refuses ("properties: should be non-empty for OBJECT type") and cannot
 * say: such a schema goes whole in the JSON Schema field (responseJsonSchema,
 * parametersJsonSchema), its $refs inlined and keywords Google does not take there dropped,
 * additionalProperties kept. A function taking no arguments still sends no parameters. */
static void
test_request_schema_free_form_objects(void **state)
{
    (void)state;
    assert_request(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\","
        "\"schema\":{\"$schema\":\"x\",\"$defs\":{\"Tags\":{\"type\":\"object\","
        "\"additionalProperties\":{\"type\":\"string\",\"pattern\":\"^a\"}}},"
        "\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"tags\":{\"$ref\":\"#/$defs/Tags\"},\"kind\":{\"const\":\"k\"},"
        "\"note\":{\"type\":[\"string\",\"null\"],\"default\":null},"
        "\"more\":{\"anyOf\":[{\"type\":\"object\",\"additionalProperties\":true},"
        "{\"type\":\"null\"}]}},\"required\":[\"tags\"]}}},"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"kw\",\"parameters\":{"
        "\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"none\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"nested\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"meta\":{\"type\":\"object\"}}}}}]}",

        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
        "\"tools\":[{\"functionDeclarations\":["
        "{\"name\":\"kw\",\"parametersJsonSchema\":{\"type\":\"object\","
        "\"additionalProperties\":{\"type\":\"integer\"}}},"
        "{\"name\":\"none\"},"
        "{\"name\":\"nested\",\"parametersJsonSchema\":{\"type\":\"object\","
        "\"properties\":{\"meta\":{\"type\":\"object\"}}}}]}],"
        "\"generationConfig\":{\"responseMimeType\":\"application/json\","
        "\"responseJsonSchema\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"properties\":{\"tags\":{\"type\":\"object\","
        "\"additionalProperties\":{\"type\":\"string\"}},\"kind\":{\"enum\":[\"k\"]},"
        "\"note\":{\"type\":[\"string\",\"null\"]},"
        "\"more\":{\"anyOf\":[{\"type\":\"object\",\"additionalProperties\":true},"
        "{\"type\":\"null\"}]}},\"required\":[\"tags\"]}}}");
}

static void
test_request_schema_refs_inlined(void **state)
{
    (void)state;
    /* what openai-python's .parse() sends for a Pydantic model with a nested one: $defs and
     * $refs, which Google's Schema does not know (400 "Unknown name"), inlined; keywords it
     * does not know dropped, const as enum, oneOf as anyOf, a list of types as one + nullable;
     * a $ref's own description wins over its target's */
    assert_request(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"Plan\","
        "\"strict\":true,\"schema\":{\"$defs\":{\"Step\":{\"type\":\"object\","
        "\"title\":\"Step\",\"description\":\"one step\",\"additionalProperties\":false,"
        "\"properties\":{\"n\":{\"type\":\"integer\",\"exclusiveMinimum\":0},"
        "\"kind\":{\"const\":\"step\",\"type\":\"string\"}},\"required\":[\"n\"]}},"
        "\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"steps\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/Step\"},"
        "\"examples\":[[]]},"
        "\"first\":{\"$ref\":\"#/$defs/Step\",\"description\":\"the first\"},"
        "\"note\":{\"type\":[\"string\",\"null\"]},"
        "\"either\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}},"
        "\"required\":[\"steps\"]}}},"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"s\":{\"$ref\":\"#/definitions/S\"}},"
        "\"definitions\":{\"S\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]}}}}}]}",

        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
        "\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\","
        "\"enum\":[\"a\",\"b\"]}}}}]}],"
        "\"generationConfig\":{\"responseMimeType\":\"application/json\",\"responseSchema\":{"
        "\"type\":\"object\",\"properties\":{"
        "\"steps\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"title\":\"Step\","
        "\"description\":\"one step\",\"properties\":{\"n\":{\"type\":\"integer\"},"
        "\"kind\":{\"enum\":[\"step\"],\"type\":\"string\"}},\"required\":[\"n\"]}},"
        "\"first\":{\"type\":\"object\",\"title\":\"Step\",\"description\":\"the first\","
        "\"properties\":{\"n\":{\"type\":\"integer\"},"
        "\"kind\":{\"enum\":[\"step\"],\"type\":\"string\"}},\"required\":[\"n\"]},"
        "\"note\":{\"type\":\"string\",\"nullable\":true},"
        "\"either\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}},"
        "\"required\":[\"steps\"]}}}");

    /* a recursive model cannot be inlined; a $ref elsewhere cannot be followed: 400, not a
     * schema Google refuses */
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                   "\"name\":\"T\",\"schema\":{\"$ref\":\"#/$defs/Tree\",\"$defs\":{\"Tree\":{"
                   "\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\","
                   "\"items\":{\"$ref\":\"#/$defs/Tree\"}}}}}}}}}",
                   "response_format.json_schema.schema");
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                   "\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":"
                   "{\"$ref\":\"https://example.com/x.json\"}}}}}]}",
                   "tools[0].function.parameters");
    /* a schema that is not an object (a string holding one, a list) is refused, as OpenAI
     * refuses it, rather than dropped for JSON of any shape */
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                   "\"name\":\"T\",\"schema\":\"{\\\"type\\\":\\\"object\\\"}\"}}}",
                   "response_format.json_schema.schema");
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                   "\"name\":\"T\",\"schema\":[{\"type\":\"object\"}]}}}",
                   "response_format.json_schema.schema");
    /* no schema, or null: JSON of any shape, as before */
    assert_request("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                   "\"name\":\"T\",\"schema\":null}}}",
                   "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
                   "\"generationConfig\":{\"responseMimeType\":\"application/json\"}}");
}

/* $defs D0..D(n-1), each an array of arrays (deep levels) of the next, the last a string. */
static char *
chained_schema(int n, int deep)
{
    size_t cap = 256 + (size_t)n * (size_t)(deep * 40 + 80), len = 0;
    char *s = malloc(cap);

    assert_non_null(s);
    len += (size_t)snprintf(s + len, cap - len,
                            "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                            "\"name\":\"T\",\"schema\":{\"$ref\":\"#/$defs/D0\",\"$defs\":{");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(s + len, cap - len, "%s\"D%d\":", i ? "," : "", i);
        for (int j = 0; j < deep; j++) {
            len += (size_t)snprintf(s + len, cap - len, "{\"type\":\"array\",\"items\":");
        }
        if (i + 1 < n) {
            len += (size_t)snprintf(s + len, cap - len, "{\"$ref\":\"#/$defs/D%d\"}", i + 1);
        } else {
            len += (size_t)snprintf(s + len, cap - len, "{\"type\":\"string\"}");
        }
        for (int j = 0; j < deep; j++) {
            len += (size_t)snprintf(s + len, cap - len, "}");
        }
    }
    snprintf(s + len, cap - len, "}}}}}");
    return s;
}

static void
test_request_schema_depth_bounded(void **state)
{
    sllmp_xerr_t e;
    cJSON *out;
    char *s;

    (void)state;
    /* 30 $refs, each to a schema nested 40 deep (as deep as a body may be): inlined, 1,200
     * levels, which would recurse past a worker thread's stack once the body limit is raised */
    s = chained_schema(30, 40);
    assert_refused(s, "response_format.json_schema.schema");
    free(s);
    /* what real schemas nest is far less: 4 refs of 20 levels */
    s = chained_schema(4, 20);
    out = request(s, &e);
    assert_non_null(out);
    cJSON_Delete(out);
    free(s);
}

/* ------------------------------------------------------------------ answers */

static void
test_response_thinking_usage(void **state)
{
    sllmp_usage_t u;
    cJSON *out;

    (void)state;
    out = response("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
                   "{\"text\":\"Let me think.\",\"thought\":true},{\"text\":\"Hello\"},"
                   "{\"text\":\" there\"}]},\"finishReason\":\"STOP\",\"index\":0}],"
                   "\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":10,"
                   "\"thoughtsTokenCount\":50,\"totalTokenCount\":72},"
                   "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r-abc\"}",
                   &u);
    assert_string_equal(str_at(out, "id"), "r-abc");
    assert_string_equal(str_at(out, "object"), "chat.completion");
    assert_string_equal(str_at(out, "model"), "gemini-test");
    assert_int_equal(num_at(out, "created"), 1700000000);
    assert_string_equal(str_at(out, "choices.0.message.content"), "Hello there");
    assert_string_equal(str_at(out, "choices.0.message.reasoning_content"), "Let me think.");
    assert_string_equal(str_at(out, "choices.0.finish_reason"), "stop");
    assert_int_equal(u.output, 10);
    assert_int_equal(u.reasoning, 50);
    assert_int_equal(u.input, 12);
    assert_true(u.seen);
    assert_int_equal(num_at(out, "usage.completion_tokens"), 60);
    assert_int_equal(num_at(out, "usage.completion_tokens_details.reasoning_tokens"), 50);
    assert_int_equal(num_at(out, "usage.prompt_tokens"), 12);
    assert_int_equal(num_at(out, "usage.total_tokens"), 72);
    cJSON_Delete(out);
}

static void
test_response_cached_tokens(void **state)
{
    sllmp_usage_t u;
    cJSON *out;

    (void)state;
    /* promptTokenCount includes the cached tokens; the tool-use prompt is input too */
    out = response("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},"
                   "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":1000,"
                   "\"cachedContentTokenCount\":800,\"toolUsePromptTokenCount\":7,"
                   "\"candidatesTokenCount\":5,\"totalTokenCount\":1012}}",
                   &u);
    assert_int_equal(u.input, 207);
    assert_int_equal(u.cache_read, 800);
    assert_int_equal(u.cache_write, 0);
    assert_int_equal(u.output, 5);
    assert_int_equal(num_at(out, "usage.prompt_tokens"), 1007);
    assert_int_equal(num_at(out, "usage.prompt_tokens_details.cached_tokens"), 800);
    /* no responseId: a chatcmpl- id is made up */
    assert_true(strncmp(str_at(out, "id"), "chatcmpl-", 9) == 0);
    assert_true(strlen(str_at(out, "id")) > 9);
    cJSON_Delete(out);
}

static void
test_response_blocked_prompt(void **state)
{
    sllmp_usage_t u;
    cJSON *out;

    (void)state;
    out = response("{\"promptFeedback\":{\"blockReason\":\"SAFETY\",\"safetyRatings\":[]},"
                   "\"usageMetadata\":{\"promptTokenCount\":9,\"totalTokenCount\":9}}",
                   &u);
    assert_int_equal(cJSON_GetArraySize(at(out, "choices")), 1);
    assert_string_equal(str_at(out, "choices.0.finish_reason"), "content_filter");
    assert_string_equal(str_at(out, "choices.0.message.content"), "");
    assert_string_equal(str_at(out, "choices.0.message.role"), "assistant");
    assert_int_equal(u.input, 9);
    cJSON_Delete(out);
}

static void
test_response_function_calls(void **state)
{
    sllmp_usage_t u;
    cJSON *out;
    const char *id0, *id1;

    (void)state;
    /* Gemini says STOP; a functionCall makes it tool_calls. No ids: made up, distinct. */
    out = response("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
                   "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}},"
                   "{\"functionCall\":{\"name\":\"get_time\"},\"thoughtSignature\":\"c2ln\"},"
                   "{\"functionCall\":{\"id\":\"fc-7\",\"name\":\"third\",\"args\":{}}},"
                   "{\"functionCall\":{\"id\":\"fc-8\",\"name\":\"fourth\"},"
                   "\"thoughtSignature\":\"c2lnMg==\"}]},"
                   "\"finishReason\":\"STOP\"}]}",
                   &u);
    assert_string_equal(str_at(out, "choices.0.finish_reason"), "tool_calls");
    assert_true(cJSON_IsNull(at(out, "choices.0.message.content")));
    id0 = str_at(out, "choices.0.message.tool_calls.0.id");
    id1 = str_at(out, "choices.0.message.tool_calls.1.id");
    assert_true(strncmp(id0, "call_", 5) == 0 && strlen(id0) == 29);
    assert_true(strncmp(id1, "call_", 5) == 0);
    assert_string_not_equal(id0, id1);
    assert_string_equal(str_at(out, "choices.0.message.tool_calls.2.id"), "fc-7");
    assert_string_equal(str_at(out, "choices.0.message.tool_calls.0.type"), "function");
    assert_string_equal(str_at(out, "choices.0.message.tool_calls.0.function.name"), "get_weather");
    assert_string_equal(str_at(out, "choices.0.message.tool_calls.0.function.arguments"),
                        "{\"city\":\"Paris\"}");
    assert_string_equal(str_at(out, "choices.0.message.tool_calls.1.function.arguments"), "{}");
    assert_string_equal(
        str_at(out, "choices.0.message.tool_calls.1.extra_content.google.thought_signature"),
        "c2ln");
    /* a signed call's id carries the signature too, after "__thought__", as LiteLLM's does,
     * for the clients that send back id, name and arguments only */
    assert_true(strlen(id1) == 29 + strlen("__thought__c2ln") &&
                strcmp(id1 + 29, "__thought__c2ln") == 0);
    assert_string_equal(str_at(out, "choices.0.message.tool_calls.3.id"),
                        "fc-8__thought__c2lnMg==");
    assert_string_equal(
        str_at(out, "choices.0.message.tool_calls.3.extra_content.google.thought_signature"),
        "c2lnMg==");
    assert_false(u.seen); /* no usageMetadata */
    cJSON_Delete(out);
}

static void
test_response_finish_reasons_and_candidates(void **state)
{
    static const char *const cases[][2] = {
        {"STOP", "stop"},
        {"MAX_TOKENS", "length"},
        {"SAFETY", "content_filter"},
        {"RECITATION", "content_filter"},
        {"BLOCKLIST", "content_filter"},
        {"PROHIBITED_CONTENT", "content_filter"},
        {"SPII", "content_filter"},
        {"IMAGE_SAFETY", "content_filter"},
        {"LANGUAGE", "content_filter"},
        {"MALFORMED_FUNCTION_CALL", "stop"},
        {"OTHER", "stop"},
        {"SOMETHING_NEW", "stop"},
    };
    sllmp_usage_t u;
    cJSON *out;
    char json[256];

    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        snprintf(json, sizeof(json),
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
                 "\"finishReason\":\"%s\"}]}",
                 cases[k][0]);
        out = response(json, &u);
        if (strcmp(str_at(out, "choices.0.finish_reason"), cases[k][1]) != 0) {
            fail_msg("%s -> %s, want %s", cases[k][0], str_at(out, "choices.0.finish_reason"),
                     cases[k][1]);
        }
        cJSON_Delete(out);
    }
    /* candidateCount 2: two choices, indices 0 and 1 */
    out = response("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"one\"}]},"
                   "\"finishReason\":\"STOP\"},{\"content\":{\"parts\":[{\"text\":\"two\"}]},"
                   "\"finishReason\":\"MAX_TOKENS\",\"index\":1}]}",
                   &u);
    assert_int_equal(cJSON_GetArraySize(at(out, "choices")), 2);
    assert_int_equal(num_at(out, "choices.1.index"), 1);
    assert_string_equal(str_at(out, "choices.1.message.content"), "two");
    assert_string_equal(str_at(out, "choices.1.finish_reason"), "length");
    cJSON_Delete(out);
}

/* logprobs and top_logprobs go up as LiteLLM maps them (responseLogprobs, logprobs), and a
 * candidate's logprobsResult comes back as its choice's logprobs.content, OpenAI's shape. */
static void
test_logprobs(void **state)
{
    sllmp_usage_t u;
    cJSON *out;

    (void)state;
    assert_request("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"logprobs\":true,\"top_logprobs\":2}",
                   "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
                   "\"generationConfig\":{\"logprobs\":2,\"responseLogprobs\":true}}");
    assert_request("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"logprobs\":false,\"top_logprobs\":null}",
                   "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}],"
                   "\"generationConfig\":{\"responseLogprobs\":false}}");
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"logprobs\":1}",
                   "logprobs");
    assert_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                   "\"top_logprobs\":\"2\"}",
                   "top_logprobs");

    /* Google's JSON leaves out a logProbability of 0; each step's top candidates are its
     * top_logprobs (none past the steps topCandidates has); bytes are the token's UTF-8 */
    out = response("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi \u00e9\"}]},"
                   "\"finishReason\":\"STOP\",\"logprobsResult\":{\"topCandidates\":["
                   "{\"candidates\":[{\"token\":\"Hi\"},{\"token\":\"Hey\","
                   "\"logProbability\":-2.5}]}],\"chosenCandidates\":[{\"token\":\"Hi\"},"
                   "{\"token\":\" \u00e9\",\"logProbability\":-0.25}],"
                   "\"logProbabilitySum\":-0.25}},{\"content\":{\"parts\":[{\"text\":\"b\"}]},"
                   "\"index\":1}]}",
                   &u);
    assert_json(at(out, "choices.0.logprobs"),
                "{\"content\":[{\"token\":\"Hi\",\"logprob\":0,\"bytes\":[72,105],"
                "\"top_logprobs\":[{\"token\":\"Hi\",\"logprob\":0,\"bytes\":[72,105]},"
                "{\"token\":\"Hey\",\"logprob\":-2.5,\"bytes\":[72,101,121]}]},"
                "{\"token\":\" \u00e9\",\"logprob\":-0.25,\"bytes\":[32,195,169],"
                "\"top_logprobs\":[]}],\"refusal\":null}");
    assert_true(cJSON_IsNull(at(out, "choices.1.logprobs"))); /* none asked for that one */
    cJSON_Delete(out);
}

/* ------------------------------------------------------------------ streams */

typedef struct {
    cJSON *chunks;
    int stop_at; /* > 0: emit returns 7 at that chunk */
} sink_t;

static int
collect(void *ud, const cJSON *chunk)
{
    sink_t *k = ud;

    cJSON_AddItemToArray(k->chunks, cJSON_Duplicate(chunk, 1));
    if (k->stop_at > 0 && cJSON_GetArraySize(k->chunks) == k->stop_at) {
        return 7;
    }
    return 0;
}

static void
stream_init(sllmp_xstream_t *s, sink_t *k)
{
    memset(s, 0, sizeof(*s));
    memset(k, 0, sizeof(*k));
    k->chunks = cJSON_CreateArray();
    s->emit = collect;
    s->ud = k;
    s->model = "gemini-test";
    s->created = 1700000000;
    s->id = "chatcmpl-fallback";
}

static int
feed(sllmp_xstream_t *s, const char *json)
{
    cJSON *d = parse(json);
    int rc = sllmp_gemini_stream_event(s, d);

    cJSON_Delete(d);
    return rc;
}

static void
test_stream_text_cumulative_usage(void **state)
{
    sllmp_xstream_t s;
    sllmp_usage_t back;
    sink_t k;
    const cJSON *c;
    int n;

    (void)state;
    stream_init(&s, &k);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                              "[{\"text\":\"Hel\"}]}}],\"usageMetadata\":{\"promptTokenCount\":10,"
                              "\"candidatesTokenCount\":1,\"totalTokenCount\":11},"
                              "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"resp-1\"}"),
                     0);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                              "[{\"text\":\"x\",\"thought\":true},{\"text\":\"lo\"}]}}],"
                              "\"usageMetadata\":{\"promptTokenCount\":10,"
                              "\"candidatesTokenCount\":2,\"totalTokenCount\":12},"
                              "\"responseId\":\"resp-1\"}"),
                     0);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                              "[{\"text\":\"!\"}]},\"finishReason\":\"STOP\"}],"
                              "\"usageMetadata\":{\"promptTokenCount\":10,"
                              "\"cachedContentTokenCount\":4,\"candidatesTokenCount\":3,"
                              "\"thoughtsTokenCount\":4,\"totalTokenCount\":17},"
                              "\"responseId\":\"resp-1\"}"),
                     0);
    assert_true(s.ended);
    assert_int_equal(sllmp_xstream_finish(&s), 0);

    /* role, Hel, the thought (reasoning, not content), lo, !, finish, usage */
    n = cJSON_GetArraySize(k.chunks);
    assert_int_equal(n, 7);
    cJSON_ArrayForEach(c, k.chunks)
    {
        assert_string_equal(str_at(c, "id"), "resp-1");
        assert_string_equal(str_at(c, "object"), "chat.completion.chunk");
        assert_string_equal(str_at(c, "model"), "gemini-test");
    }
    assert_string_equal(str_at(k.chunks, "0.choices.0.delta.role"), "assistant");
    assert_string_equal(str_at(k.chunks, "1.choices.0.delta.content"), "Hel");
    assert_json(at(k.chunks, "2.choices.0.delta"), "{\"reasoning_content\":\"x\"}");
    assert_string_equal(str_at(k.chunks, "3.choices.0.delta.content"), "lo");
    assert_string_equal(str_at(k.chunks, "4.choices.0.delta.content"), "!");
    assert_string_equal(str_at(k.chunks, "5.choices.0.finish_reason"), "stop");
    assert_int_equal(cJSON_GetArraySize(at(k.chunks, "6.choices")), 0);

    /* the last usageMetadata, not a sum */
    assert_int_equal(s.usage.input, 6);
    assert_int_equal(s.usage.cache_read, 4);
    assert_int_equal(s.usage.output, 3);
    assert_int_equal(s.usage.reasoning, 4);
    assert_int_equal(num_at(k.chunks, "6.usage.prompt_tokens"), 10);
    assert_int_equal(num_at(k.chunks, "6.usage.completion_tokens"), 7);

    /* the usage chunk reads back into the same buckets */
    memset(&back, 0, sizeof(back));
    sllmp_usage_from_openai(&back, at(k.chunks, "6.usage"));
    assert_int_equal(back.input, s.usage.input);
    assert_int_equal(back.cache_read, s.usage.cache_read);
    assert_int_equal(back.cache_write, s.usage.cache_write);
    assert_int_equal(back.output, s.usage.output);
    assert_int_equal(back.reasoning, s.usage.reasoning);
    sllmp_xstream_free(&s);
    cJSON_Delete(k.chunks);
}

/* A thought part is reasoning, as in unstreamed answers (reasoning_content, and no
 * thinking_blocks: Gemini's text parts carry no signature to send back). */
static void
test_stream_thought_is_reasoning(void **state)
{
    sllmp_xstream_t s;
    sink_t k;

    (void)state;
    stream_init(&s, &k);
    assert_int_equal(feed(&s,
                          "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                          "[{\"text\":\"**Weighing it**\\nThe user asks.\",\"thought\":true}]}}],"
                          "\"responseId\":\"resp-2\"}"),
                     0);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                              "[{\"text\":\"Hi\"}]},\"finishReason\":\"STOP\"}],"
                              "\"usageMetadata\":{\"promptTokenCount\":10,"
                              "\"candidatesTokenCount\":1,\"thoughtsTokenCount\":50,"
                              "\"totalTokenCount\":61},\"responseId\":\"resp-2\"}"),
                     0);
    assert_int_equal(sllmp_xstream_finish(&s), 0);
    assert_int_equal(cJSON_GetArraySize(k.chunks), 5);
    assert_json(at(k.chunks, "1"),
                "{\"id\":\"resp-2\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                "\"model\":\"gemini-test\",\"choices\":[{\"index\":0,\"delta\":"
                "{\"reasoning_content\":\"**Weighing it**\\nThe user asks.\"},\"logprobs\":null,"
                "\"finish_reason\":null}]}");
    assert_json(at(k.chunks, "2.choices.0.delta"), "{\"content\":\"Hi\"}");
    assert_string_equal(str_at(k.chunks, "3.choices.0.finish_reason"), "stop");
    assert_int_equal(s.thinking.len, 0); /* nothing will be signed: nothing kept */
    /* the usage is Gemini's: thoughts counted apart, in completion_tokens */
    assert_json(at(k.chunks, "4.usage"),
                "{\"prompt_tokens\":10,\"completion_tokens\":51,\"total_tokens\":61,"
                "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                "\"completion_tokens_details\":{\"reasoning_tokens\":50}}");
    assert_int_equal(s.text_chars, 2);
    sllmp_xstream_free(&s);
    cJSON_Delete(k.chunks);
}

static void
test_stream_two_function_calls(void **state)
{
    sllmp_xstream_t s;
    sink_t k;
    const char *id0, *id1;

    (void)state;
    stream_init(&s, &k);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                              "[{\"functionCall\":{\"name\":\"get_weather\",\"args\":"
                              "{\"city\":\"Paris\"}}}]}}]}"),
                     0);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                              "[{\"functionCall\":{\"name\":\"get_time\"}}]},"
                              "\"finishReason\":\"STOP\"}],\"usageMetadata\":"
                              "{\"promptTokenCount\":5,\"candidatesTokenCount\":8}}"),
                     0);
    assert_int_equal(sllmp_xstream_finish(&s), 0);
    /* role, start 0, args 0, start 1, args 1 ("{}"), finish, usage */
    assert_int_equal(cJSON_GetArraySize(k.chunks), 7);
    /* no responseId: the adapter's id */
    assert_string_equal(str_at(k.chunks, "0.id"), "chatcmpl-fallback");
    assert_int_equal(num_at(k.chunks, "1.choices.0.delta.tool_calls.0.index"), 0);
    assert_string_equal(str_at(k.chunks, "1.choices.0.delta.tool_calls.0.function.name"),
                        "get_weather");
    id0 = str_at(k.chunks, "1.choices.0.delta.tool_calls.0.id");
    assert_int_equal(num_at(k.chunks, "2.choices.0.delta.tool_calls.0.index"), 0);
    assert_string_equal(str_at(k.chunks, "2.choices.0.delta.tool_calls.0.function.arguments"),
                        "{\"city\":\"Paris\"}");
    assert_int_equal(num_at(k.chunks, "3.choices.0.delta.tool_calls.0.index"), 1);
    assert_string_equal(str_at(k.chunks, "3.choices.0.delta.tool_calls.0.function.name"),
                        "get_time");
    id1 = str_at(k.chunks, "3.choices.0.delta.tool_calls.0.id");
    assert_true(strncmp(id0, "call_", 5) == 0 && strncmp(id1, "call_", 5) == 0);
    assert_string_not_equal(id0, id1);
    assert_int_equal(num_at(k.chunks, "4.choices.0.delta.tool_calls.0.index"), 1);
    assert_string_equal(str_at(k.chunks, "4.choices.0.delta.tool_calls.0.function.arguments"),
                        "{}");
    assert_string_equal(str_at(k.chunks, "5.choices.0.finish_reason"), "tool_calls");
    assert_int_equal(num_at(k.chunks, "6.usage.completion_tokens"), 8);
    cJSON_Delete(k.chunks);
}

/* A functionCall part's thoughtSignature goes out on the first fragment of its call, in the
 * place and shape the unstreamed answer gives it (extra_content.google.thought_signature), so
 * a streaming agent can send it back; Gemini signs only the first of parallel calls. */
static void
test_stream_function_call_thought_signature(void **state)
{
    static const char *const answer =
        "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
        "{\"functionCall\":{\"name\":\"f\",\"args\":{}},\"thoughtSignature\":\"SIG123\"},"
        "{\"functionCall\":{\"name\":\"g\",\"args\":{\"a\":1}}}]},\"finishReason\":\"STOP\"}]}";
    sllmp_xstream_t s;
    sllmp_usage_t u;
    sink_t k;
    const char *id;
    cJSON *out;

    (void)state;
    out = response(answer, &u);
    stream_init(&s, &k);
    assert_int_equal(feed(&s, answer), 0);
    assert_int_equal(sllmp_xstream_finish(&s), 0);
    /* role, start f, args f ("{}"), start g, args g, finish, usage */
    assert_int_equal(cJSON_GetArraySize(k.chunks), 7);
    assert_json(at(k.chunks, "1.choices.0.delta.tool_calls.0.extra_content"),
                "{\"google\":{\"thought_signature\":\"SIG123\"}}");
    assert_true(cJSON_Compare(at(k.chunks, "1.choices.0.delta.tool_calls.0.extra_content"),
                              at(out, "choices.0.message.tool_calls.0.extra_content"), 1));
    assert_string_equal(str_at(k.chunks, "1.choices.0.delta.tool_calls.0.function.name"), "f");
    /* the later fragments of the call, and the unsigned call, carry none */
    assert_null(
        cJSON_GetObjectItem(at(k.chunks, "2.choices.0.delta.tool_calls.0"), "extra_content"));
    assert_null(
        cJSON_GetObjectItem(at(k.chunks, "3.choices.0.delta.tool_calls.0"), "extra_content"));
    assert_null(cJSON_GetObjectItem(at(out, "choices.0.message.tool_calls.1"), "extra_content"));
    assert_string_equal(str_at(k.chunks, "3.choices.0.delta.tool_calls.0.function.name"), "g");
    /* the id carries it as well, after "__thought__" (a made-up id, as the answer's is) */
    id = str_at(k.chunks, "1.choices.0.delta.tool_calls.0.id");
    assert_true(strlen(id) == 29 + strlen("__thought__SIG123") &&
                strcmp(id + 29, "__thought__SIG123") == 0);
    id = str_at(out, "choices.0.message.tool_calls.0.id");
    assert_true(strlen(id) == 29 + strlen("__thought__SIG123") &&
                strcmp(id + 29, "__thought__SIG123") == 0);
    assert_int_equal(strlen(str_at(k.chunks, "3.choices.0.delta.tool_calls.0.id")), 29);
    sllmp_xstream_free(&s);
    cJSON_Delete(k.chunks);
    cJSON_Delete(out);
}

/* candidateCount > 1: each candidate is the choice its index names (without one, its position
 * in the event), with its own role chunk, tool call ordinals and finish_reason; the stream is
 * over once every choice that began has finished. */
static void
test_stream_candidates_are_choices(void **state)
{
    sllmp_xstream_t s;
    sink_t k;
    const cJSON *c;
    int seen[2][4] = {{0}}; /* per choice: role, content chunks, tool calls, finishes */

    (void)state;
    stream_init(&s, &k);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                              "[{\"text\":\"A\"}]}},{\"content\":{\"role\":\"model\",\"parts\":"
                              "[{\"functionCall\":{\"name\":\"f\",\"args\":{}}}]},\"index\":1}]}"),
                     0);
    assert_false(s.ended);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                              "[{\"text\":\"B\"}]},\"finishReason\":\"MAX_TOKENS\"}]}"),
                     0);
    assert_false(s.ended); /* the second choice is still going */
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                              "[]},\"finishReason\":\"STOP\",\"index\":1}],\"usageMetadata\":"
                              "{\"promptTokenCount\":5,\"candidatesTokenCount\":9}}"),
                     0);
    assert_true(s.ended);
    assert_int_equal(sllmp_xstream_finish(&s), 0);
    cJSON_ArrayForEach(c, k.chunks)
    {
        const cJSON *ch = cJSON_GetArrayItem(at(c, "choices"), 0), *delta;
        int i;

        if (ch == NULL) {
            continue; /* the usage chunk */
        }
        assert_int_equal(cJSON_GetArraySize(at(c, "choices")), 1);
        i = (int)num_at(ch, "index");
        assert_true(i == 0 || i == 1);
        delta = at(ch, "delta");
        seen[i][0] += cJSON_GetObjectItem(delta, "role") != NULL;
        seen[i][1] +=
            cJSON_GetObjectItem(delta, "content") != NULL && *str_at(delta, "content") != '\0';
        if (cJSON_GetObjectItem(delta, "tool_calls") != NULL) {
            assert_int_equal(num_at(delta, "tool_calls.0.index"), 0);
            seen[i][2]++;
        }
        if (cJSON_IsString(at(ch, "finish_reason"))) {
            assert_string_equal(str_at(ch, "finish_reason"), i == 0 ? "length" : "tool_calls");
            seen[i][3]++;
        }
    }
    /* choice 0: role, "A", "B", length; choice 1: role, the call (start, "{}"), tool_calls */
    assert_int_equal(seen[0][0], 1);
    assert_int_equal(seen[0][1], 2);
    assert_int_equal(seen[0][2], 0);
    assert_int_equal(seen[0][3], 1);
    assert_int_equal(seen[1][0], 1);
    assert_int_equal(seen[1][1], 0);
    assert_int_equal(seen[1][2], 2);
    assert_int_equal(seen[1][3], 1);
    /* one usage chunk, last */
    c = cJSON_GetArrayItem(k.chunks, cJSON_GetArraySize(k.chunks) - 1);
    assert_int_equal(cJSON_GetArraySize(at(c, "choices")), 0);
    assert_int_equal(num_at(c, "usage.completion_tokens"), 9);
    sllmp_xstream_free(&s);
    cJSON_Delete(k.chunks);

    /* a stream cut while a choice is unfinished is not over; an index out of range is
     * nobody's choice */
    stream_init(&s, &k);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"B\"}]},"
                              "\"finishReason\":\"STOP\"},{\"content\":{\"parts\":[{\"text\":"
                              "\"A\"}]},\"index\":1},{\"content\":{\"parts\":[{\"text\":\"x\"}]},"
                              "\"index\":100000},{\"content\":{\"parts\":[{\"text\":\"y\"}]},"
                              "\"index\":-1}]}"),
                     0);
    assert_false(s.ended);
    /* choice 0: role, "B", stop; choice 1: role, "A" */
    assert_int_equal(cJSON_GetArraySize(k.chunks), 5);
    sllmp_xstream_free(&s);
    cJSON_Delete(k.chunks);
}

/* A streamed candidate's logprobsResult (its tokens in that event) goes on its first content
 * chunk of the event, as OpenAI streams them; every other chunk has null. */
static void
test_stream_logprobs(void **state)
{
    sllmp_xstream_t s;
    sink_t k;

    (void)state;
    stream_init(&s, &k);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"},"
                              "{\"text\":\"!\"}]},\"logprobsResult\":{\"chosenCandidates\":"
                              "[{\"token\":\"Hi\",\"logProbability\":-1},{\"token\":\"!\"}],"
                              "\"topCandidates\":[]}},{\"content\":{\"parts\":[{\"text\":"
                              "\"Yo\"}]},\"index\":1,\"logprobsResult\":{\"chosenCandidates\":"
                              "[{\"token\":\"Yo\",\"logProbability\":-3}]}}]}"),
                     0);
    /* role 0, "Hi", "!", role 1, "Yo" */
    assert_int_equal(cJSON_GetArraySize(k.chunks), 5);
    assert_true(cJSON_IsNull(at(k.chunks, "0.choices.0.logprobs")));
    assert_json(at(k.chunks, "1.choices.0.logprobs"),
                "{\"content\":[{\"token\":\"Hi\",\"logprob\":-1,\"bytes\":[72,105],"
                "\"top_logprobs\":[]},{\"token\":\"!\",\"logprob\":0,\"bytes\":[33],"
                "\"top_logprobs\":[]}],\"refusal\":null}");
    assert_true(cJSON_IsNull(at(k.chunks, "2.choices.0.logprobs")));
    assert_true(cJSON_IsNull(at(k.chunks, "3.choices.0.logprobs")));
    assert_int_equal(num_at(k.chunks, "4.choices.0.index"), 1);
    assert_string_equal(str_at(k.chunks, "4.choices.0.logprobs.content.0.token"), "Yo");
    sllmp_xstream_free(&s);
    cJSON_Delete(k.chunks);
}

static void
test_stream_blocked_error_and_stop(void **state)
{
    sllmp_xstream_t s;
    sink_t k;

    (void)state;
    stream_init(&s, &k);
    assert_int_equal(feed(&s, "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},"
                              "\"usageMetadata\":{\"promptTokenCount\":3}}"),
                     0);
    assert_int_equal(sllmp_xstream_finish(&s), 0);
    assert_int_equal(cJSON_GetArraySize(k.chunks), 3); /* role, finish, usage */
    assert_string_equal(str_at(k.chunks, "1.choices.0.finish_reason"), "content_filter");
    cJSON_Delete(k.chunks);

    /* an error object: nothing emitted, -1, the status from error.code */
    stream_init(&s, &k);
    assert_int_equal(feed(&s, "{\"error\":{\"code\":429,\"message\":\"Resource has been "
                              "exhausted\",\"status\":\"RESOURCE_EXHAUSTED\"}}"),
                     -1);
    assert_int_equal(s.err_status, 429);
    assert_string_equal(s.err_type, "RESOURCE_EXHAUSTED");
    assert_string_equal(s.err_message, "Resource has been exhausted");
    assert_int_equal(cJSON_GetArraySize(k.chunks), 0);
    /* no code: from the RPC status */
    assert_int_equal(feed(&s, "{\"error\":{\"message\":\"m\",\"status\":\"UNAVAILABLE\"}}"), -1);
    assert_int_equal(s.err_status, 503);
    cJSON_Delete(k.chunks);

    /* emit's non-zero return stops the translator with that value */
    stream_init(&s, &k);
    k.stop_at = 2;
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"},"
                              "{\"text\":\"b\"}]}}]}"),
                     7);
    assert_int_equal(cJSON_GetArraySize(k.chunks), 2);
    cJSON_Delete(k.chunks);

    /* MAX_TOKENS ends the stream with length */
    stream_init(&s, &k);
    assert_int_equal(feed(&s, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
                              "\"finishReason\":\"MAX_TOKENS\"}]}"),
                     0);
    assert_string_equal(s.finish, "length");
    cJSON_Delete(k.chunks);
}

/* ------------------------------------------------------------------ errors */

/* The error body of a 429 whose RetryInfo says `delay` (a JSON value, as written). */
static int64_t
retry_ms(const char *delay)
{
    char json[512];
    cJSON *body;
    int64_t ms;

    snprintf(json, sizeof(json),
             "{\"error\":{\"code\":429,\"message\":\"quota\",\"status\":"
             "\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":"
             "\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[]},"
             "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":%s}]}}",
             delay);
    body = parse(json);
    ms = sllmp_gemini_retry_delay_ms(body);
    cJSON_Delete(body);
    return ms;
}

static void
test_retry_info(void **state)
{
    cJSON *body;

    (void)state;
    /* protobuf Durations: seconds, an optional fraction of up to 9 digits, "s"; rounded up */
    assert_int_equal(retry_ms("\"37s\""), 37000);
    assert_int_equal(retry_ms("\"1.5s\""), 1500);
    assert_int_equal(retry_ms("\"0s\""), 0);
    assert_int_equal(retry_ms("\"0.000000001s\""), 1);
    assert_int_equal(retry_ms("\"2.0001s\""), 2001);
    assert_int_equal(retry_ms("\"59.999999999s\""), 60000);
    assert_int_equal(retry_ms("\"315576000000s\""), 315576000000000LL); /* the largest */
    /* not Durations, or not waits */
    assert_int_equal(retry_ms("\"abc\""), -1);
    assert_int_equal(retry_ms("\"-3s\""), -1);
    assert_int_equal(retry_ms("\"+3s\""), -1);
    assert_int_equal(retry_ms("\"37\""), -1); /* no "s" */
    assert_int_equal(retry_ms("\"37ms\""), -1);
    assert_int_equal(retry_ms("\"37S\""), -1);
    assert_int_equal(retry_ms("\"37s \""), -1);
    assert_int_equal(retry_ms("\" 37s\""), -1);
    assert_int_equal(retry_ms("\"s\""), -1);
    assert_int_equal(retry_ms("\"\""), -1);
    assert_int_equal(retry_ms("\".5s\""), -1);
    assert_int_equal(retry_ms("\"5.s\""), -1);
    assert_int_equal(retry_ms("\"1.0000000001s\""), -1); /* ten fraction digits */
    assert_int_equal(retry_ms("\"1e3s\""), -1);
    assert_int_equal(retry_ms("\"315576000001s\""), -1);               /* past a Duration */
    assert_int_equal(retry_ms("\"99999999999999999999999999s\""), -1); /* would overflow */
    assert_int_equal(retry_ms("37"), -1);                              /* a number */
    assert_int_equal(retry_ms("null"), -1);
    assert_int_equal(retry_ms("{\"seconds\":37}"), -1);

    /* no RetryInfo, no details, not an error body */
    body = parse("{\"error\":{\"code\":429,\"details\":[{\"@type\":"
                 "\"type.googleapis.com/google.rpc.Help\",\"retryDelay\":\"3s\"}]}}");
    assert_int_equal(sllmp_gemini_retry_delay_ms(body), -1);
    cJSON_Delete(body);
    body = parse("{\"error\":{\"code\":503,\"status\":\"UNAVAILABLE\"}}");
    assert_int_equal(sllmp_gemini_retry_delay_ms(body), -1);
    cJSON_Delete(body);
    assert_int_equal(sllmp_gemini_retry_delay_ms(NULL), -1);
    /* the streamed JSON array form; and any host in the type URL */
    body = parse("[{\"error\":{\"code\":429,\"details\":[{\"@type\":"
                 "\"example.com/google.rpc.RetryInfo\",\"retryDelay\":\"4s\"}]}}]");
    assert_int_equal(sllmp_gemini_retry_delay_ms(body), 4000);
    cJSON_Delete(body);
}

static void
test_key_refused(void **state)
{
    static const char *const yes[] = {
        /* what Google answers a wrong key with (HTTP 400 INVALID_ARGUMENT) */
        "{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API "
        "key.\",\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":"
        "\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\","
        "\"domain\":\"googleapis.com\"}]}}",
        "[{\"error\":{\"code\":400,\"details\":[{\"@type\":"
        "\"type.googleapis.com/google.rpc.LocalizedMessage\"},{\"@type\":"
        "\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_EXPIRED\"}]}}]",
    };
    static const char *const no[] = {
        "{\"error\":{\"code\":400,\"message\":\"Request contains an invalid argument.\","
        "\"status\":\"INVALID_ARGUMENT\"}}",
        "{\"error\":{\"code\":400,\"details\":[{\"@type\":"
        "\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"SOMETHING_ELSE\"}]}}",
        "{\"error\":{\"code\":400,\"details\":[{\"@type\":"
        "\"type.googleapis.com/google.rpc.BadRequest\",\"reason\":\"API_KEY_INVALID\"}]}}",
        "{\"error\":{\"details\":[{\"reason\":\"API_KEY_INVALID\"}]}}",
        "{\"error\":\"API_KEY_INVALID\"}",
        "[]",
    };
    cJSON *body;

    (void)state;
    for (size_t k = 0; k < sizeof(yes) / sizeof(yes[0]); k++) {
        body = parse(yes[k]);
        assert_true(sllmp_gemini_key_refused(body));
        cJSON_Delete(body);
    }
    for (size_t k = 0; k < sizeof(no) / sizeof(no[0]); k++) {
        body = parse(no[k]);
        assert_false(sllmp_gemini_key_refused(body));
        cJSON_Delete(body);
    }
    assert_false(sllmp_gemini_key_refused(NULL));
}

/* ------------------------------------------------------------------ embeddings */

static void
test_embeddings(void **state)
{
    sllmp_xerr_t e;
    sllmp_usage_t u;
    cJSON *req, *body, *resp, *out;

    (void)state;
    req = parse("{\"model\":\"emb\",\"input\":[\"hello\",\"world!\"],\"dimensions\":2,"
                "\"encoding_format\":\"base64\"}");
    body = sllmp_gemini_embed_request(req, "text-embedding-004", &e);
    cJSON_Delete(req);
    assert_non_null(body);
    assert_json(body, "{\"requests\":["
                      "{\"model\":\"models/text-embedding-004\",\"content\":{\"parts\":"
                      "[{\"text\":\"hello\"}]},\"outputDimensionality\":2},"
                      "{\"model\":\"models/text-embedding-004\",\"content\":{\"parts\":"
                      "[{\"text\":\"world!\"}]},\"outputDimensionality\":2}]}");
    cJSON_Delete(body);

    req = parse("{\"input\":\"one\"}");
    body = sllmp_gemini_embed_request(req, "models/gemini-embedding-001", &e);
    cJSON_Delete(req);
    assert_json(body, "{\"requests\":[{\"model\":\"models/gemini-embedding-001\","
                      "\"content\":{\"parts\":[{\"text\":\"one\"}]}}]}");
    cJSON_Delete(body);

    /* token arrays are OpenAI-only */
    memset(&e, 0, sizeof(e));
    req = parse("{\"input\":[[1,2,3]]}");
    assert_null(sllmp_gemini_embed_request(req, "m", &e));
    cJSON_Delete(req);
    assert_string_equal(e.param, "input");

    resp = parse("{\"embeddings\":[{\"values\":[1.0,-2.0]},{\"values\":[0.5,0.25]}]}");
    memset(&u, 0, sizeof(u));
    u.input = sllmp_estimate_tokens(11); /* the caller's estimate: "hello" + "world!" */
    out = sllmp_gemini_embed_response(resp, "emb", 1, &u);
    assert_non_null(out);
    assert_json(out, "{\"object\":\"list\",\"model\":\"emb\",\"data\":["
                     "{\"object\":\"embedding\",\"index\":0,\"embedding\":\"AACAPwAAAMA=\"},"
                     "{\"object\":\"embedding\",\"index\":1,\"embedding\":\"AAAAPwAAgD4=\"}],"
                     "\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}");
    assert_true(u.seen);
    assert_true(u.estimated);
    assert_int_equal(u.input, 3);
    cJSON_Delete(out);

    memset(&u, 0, sizeof(u));
    out = sllmp_gemini_embed_response(resp, "emb", 0, &u);
    assert_json(at(out, "data.0.embedding"), "[1.0,-2.0]");
    cJSON_Delete(out);
    cJSON_Delete(resp);

    resp = parse("{\"error\":{\"code\":400}}");
    assert_null(sllmp_gemini_embed_response(resp, "emb", 0, &u));
    cJSON_Delete(resp);
}

/* Vertex AI's :predict: a slice of the inputs as instances; predictions and their token
 * counts (snake_case as sent, camelCase as the REST reference writes it) back. */
static void
test_vertex_embeddings(void **state)
{
    sllmp_xerr_t e;
    sllmp_usage_t u;
    cJSON *req, *body, *resp, *out;

    (void)state;
    req = parse("{\"input\":[\"a\",\"b c\",\"d\"],\"dimensions\":4}");
    body = sllmp_vertex_embed_request(req, 1, 5, &e);
    assert_json(body, "{\"instances\":[{\"content\":\"b c\"},{\"content\":\"d\"}],"
                      "\"parameters\":{\"outputDimensionality\":4}}");
    cJSON_Delete(body);
    body = sllmp_vertex_embed_request(req, 0, 1, &e);
    assert_json(body, "{\"instances\":[{\"content\":\"a\"}],"
                      "\"parameters\":{\"outputDimensionality\":4}}");
    cJSON_Delete(body);
    cJSON_Delete(req);
    req = parse("{\"input\":\"one\"}");
    body = sllmp_vertex_embed_request(req, 0, 250, &e);
    assert_json(body, "{\"instances\":[{\"content\":\"one\"}]}");
    cJSON_Delete(body);
    cJSON_Delete(req);
    memset(&e, 0, sizeof(e));
    req = parse("{\"input\":[\"\"]}");
    assert_null(sllmp_vertex_embed_request(req, 0, 250, &e));
    assert_string_equal(e.param, "input");
    cJSON_Delete(req);

    resp = parse("{\"predictions\":[{\"embeddings\":{\"values\":[1.0],\"statistics\":"
                 "{\"token_count\":2,\"truncated\":false}}},{\"embeddings\":{\"values\":"
                 "[0.5],\"statistics\":{\"tokenCount\":3}}}]}");
    memset(&u, 0, sizeof(u));
    u.input = 99; /* the caller's estimate, which the counts replace */
    out = sllmp_gemini_embed_response(resp, "v", 0, &u);
    assert_json(out, "{\"object\":\"list\",\"data\":["
                     "{\"object\":\"embedding\",\"index\":0,\"embedding\":[1.0]},"
                     "{\"object\":\"embedding\",\"index\":1,\"embedding\":[0.5]}],"
                     "\"model\":\"v\",\"usage\":{\"prompt_tokens\":5,\"total_tokens\":5}}");
    assert_int_equal(u.input, 5);
    assert_false(u.estimated);
    cJSON_Delete(out);
    cJSON_Delete(resp);
    resp = parse("{\"predictions\":[{\"embeddings\":{}}]}");
    assert_null(sllmp_gemini_embed_response(resp, "v", 0, &u));
    cJSON_Delete(resp);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_documented_example),
        cmocka_unit_test(test_request_roles_merged_and_config),
        cmocka_unit_test(test_request_gemini3_thinking_level),
        cmocka_unit_test(test_request_thinking_param),
        cmocka_unit_test(test_request_tool_round_trip),
        cmocka_unit_test(test_request_legacy_functions),
        cmocka_unit_test(test_request_unknown_tool_call_id),
        cmocka_unit_test(test_request_thought_signature_sources),
        cmocka_unit_test(test_request_gemini3_dummy_signature),
        cmocka_unit_test(test_request_invalid_arguments),
        cmocka_unit_test(test_request_schema_keys_stripped),
        cmocka_unit_test(test_request_schema_free_form_objects),
        cmocka_unit_test(test_request_schema_refs_inlined),
        cmocka_unit_test(test_request_schema_depth_bounded),
        cmocka_unit_test(test_response_thinking_usage),
        cmocka_unit_test(test_response_cached_tokens),
        cmocka_unit_test(test_response_blocked_prompt),
        cmocka_unit_test(test_response_function_calls),
        cmocka_unit_test(test_response_finish_reasons_and_candidates),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_stream_text_cumulative_usage),
        cmocka_unit_test(test_stream_thought_is_reasoning),
        cmocka_unit_test(test_stream_two_function_calls),
        cmocka_unit_test(test_stream_function_call_thought_signature),
        cmocka_unit_test(test_stream_candidates_are_choices),
        cmocka_unit_test(test_stream_logprobs),
        cmocka_unit_test(test_stream_blocked_error_and_stop),
        cmocka_unit_test(test_retry_info),
        cmocka_unit_test(test_key_refused),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_vertex_embeddings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
