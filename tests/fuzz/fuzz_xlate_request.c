/*
 * The request translators (include/sllmp/translate.h) on any JSON: an OpenAI chat or embeddings
 * request into Anthropic Messages, Gemini generateContent and batchEmbedContents, Bedrock
 * Converse (for an Anthropic model and another) and Bedrock InvokeModel (Titan, Cohere).
 *
 * Never a crash, a leak or undefined behaviour; each result is JSON that prints and parses
 * again, and a refusal (NULL) says why in the sllmp_xerr_t; the input is never modified.
 * Input that is not JSON is skipped.
 */
#include "fuzz.h"
#include "sllmp/translate.h"

static const char *const bedrock_models[] = {
    "anthropic.claude-3-5-haiku-20241022-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "amazon.nova-pro-v1:0", "meta.llama3-70b-instruct-v1:0"};

/* Garbage, as the unit tests do: a translator that refuses must write both fields. */
static void
xerr_reset(sllmp_xerr_t *e)
{
    memset(e, 0x5a, sizeof(*e));
}

/* A translator's answer: JSON that prints and parses again, or a reason. Consumes out. */
static void
check(cJSON *out, const sllmp_xerr_t *e)
{
    if (out == NULL) {
        fuzz_check(e->message[0] != '\0');
        fuzz_check(memchr(e->message, '\0', sizeof(e->message)) != NULL);
        fuzz_check(memchr(e->param, '\0', sizeof(e->param)) != NULL);
        return;
    }
    fuzz_reparses(out);
    cJSON_Delete(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *req, *out;
    sllmp_xerr_t e;
    char *before, *after;
    int n;

    fuzz_quiet();
    req = cJSON_ParseWithLength((const char *)data, size);
    if (req == NULL) {
        return 0;
    }
    /* printed, not cJSON_Compare(): that one fails on duplicate member names */
    before = cJSON_PrintUnformatted(req);
    fuzz_check(before != NULL);
    (void)sllmp_anthropic_thinking_allowed(req);

    xerr_reset(&e);
    out = sllmp_anthropic_request(req, "claude-sonnet-4-5", &e);
    if (out != NULL) {
        (void)sllmp_anthropic_thinking_allowed(out);
    }
    check(out, &e);

    xerr_reset(&e);
    check(sllmp_gemini_request(req, "gemini-2.5-flash", &e), &e);

    xerr_reset(&e);
    check(sllmp_chat_to_responses(req, "gpt-5-codex", &e), &e);

    xerr_reset(&e);
    check(sllmp_gemini_request(req, "gemini-3-pro-preview", &e), &e);

    for (size_t i = 0; i < sizeof(bedrock_models) / sizeof(bedrock_models[0]); i++) {
        xerr_reset(&e);
        out = sllmp_bedrock_request(req, bedrock_models[i], &e);
        if (out != NULL) {
            (void)sllmp_anthropic_thinking_allowed(out);
        }
        check(out, &e);
    }

    xerr_reset(&e);
    check(sllmp_gemini_embed_request(req, "text-embedding-004", &e), &e);
    xerr_reset(&e);
    check(sllmp_gemini_embed_request(req, "models/gemini-embedding-001", &e), &e);
    xerr_reset(&e);
    check(sllmp_vertex_embed_request(req, 1, 2, &e), &e);

    n = sllmp_embed_input_count(req);
    fuzz_check(n == -1 || n >= 1);
    for (int k = 0; k < 2; k++) {
        sllmp_bedrock_embed_t kind =
            k == 0 ? SLLMP_BEDROCK_EMBED_TITAN : SLLMP_BEDROCK_EMBED_COHERE;
        int firsts[] = {0, n - 1, n, -1};

        for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
            int count = kind == SLLMP_BEDROCK_EMBED_TITAN ? 1 : n - firsts[i];

            xerr_reset(&e);
            out = sllmp_bedrock_embed_request(kind, req, firsts[i], count, &e);
            /* in range exactly when the input is texts and the slice lies within them */
            fuzz_check((out != NULL) ==
                       (n >= 1 && firsts[i] >= 0 && count >= 1 && firsts[i] + count <= n));
            check(out, &e);
        }
    }

    /* inputs are never modified */
    after = cJSON_PrintUnformatted(req);
    fuzz_check(after != NULL && strcmp(before, after) == 0);
    cJSON_free(before);
    cJSON_free(after);
    cJSON_Delete(req);
    return 0;
}
