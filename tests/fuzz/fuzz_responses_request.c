/*
 * The Responses request translator (include/sllmp/responses.h) on any JSON, and its chat
 * request on through the Anthropic and Gemini request translators.
 *
 * Never a crash, a leak or undefined behaviour; a result is JSON that prints and parses again,
 * a chat request with a non-empty messages array of known roles, tool messages answering a
 * call id, assistant tool calls well formed, and none of the Responses members that are
 * translated or dropped; a refusal (NULL) says why in the sllmp_xerr_t; the input is never
 * modified. Input that is not JSON is skipped.
 *
 * The kept-response expansion too, with a store that has every "msg_..." item, none named
 * "miss..." and fails on "fail...": its result holds an input array without a reference or a
 * previous_response_id, and translates as a request would; its record gives every item an id.
 */
#include "fuzz.h"
#include "sllmp/responses.h"
#include "sllmp/translate.h"

static void
xerr_reset(sllmp_xerr_t *e)
{
    memset(e, 0x5a, sizeof(*e));
}

/* The shape of a translated chat request. */
static void
check_chat(const cJSON *chat)
{
    static const char *const gone[] = {
        "input",          "instructions",      "text",
        "reasoning",      "max_output_tokens", "previous_response_id",
        "conversation",   "background",        "prompt",
        "store",          "include",           "truncation",
        "stream_options", "max_tool_calls",    "prompt_cache_retention"};
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(chat, "messages"), *m;

    fuzz_check(cJSON_IsObject(chat));
    fuzz_check(cJSON_IsArray(messages) && cJSON_GetArraySize(messages) > 0);
    cJSON_ArrayForEach(m, messages)
    {
        const char *role = sllmp_json_str(m, "role");
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), *call;

        fuzz_check(sllmp_str_is(role, "system") || sllmp_str_is(role, "developer") ||
                   sllmp_str_is(role, "user") || sllmp_str_is(role, "assistant") ||
                   sllmp_str_is(role, "tool"));
        fuzz_check(cJSON_HasObjectItem(m, "content"));
        if (sllmp_str_is(role, "tool")) {
            fuzz_check(sllmp_json_str(m, "tool_call_id") != NULL);
        }
        fuzz_check(calls == NULL ||
                   (sllmp_str_is(role, "assistant") && cJSON_GetArraySize(calls) > 0));
        cJSON_ArrayForEach(call, calls)
        {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");

            fuzz_check(sllmp_json_str(call, "id") != NULL &&
                       sllmp_str_is(sllmp_json_str(call, "type"), "function"));
            fuzz_check(sllmp_json_str(fn, "name") != NULL &&
                       sllmp_json_str(fn, "arguments") != NULL);
        }
    }
    for (size_t k = 0; k < sizeof(gone) / sizeof(gone[0]); k++) {
        fuzz_check(cJSON_GetObjectItemCaseSensitive(chat, gone[k]) == NULL);
    }
    /* tool_choice and parallel_tool_calls only with tools */
    if (cJSON_GetObjectItemCaseSensitive(chat, "tools") == NULL) {
        fuzz_check(cJSON_GetObjectItemCaseSensitive(chat, "tool_choice") == NULL);
        fuzz_check(cJSON_GetObjectItemCaseSensitive(chat, "parallel_tool_calls") == NULL);
    }
}

static int
find(void *ud, const char *id, const cJSON **item)
{
    static cJSON *kept;

    (void)ud;
    if (kept == NULL) {
        kept = cJSON_Parse("{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"k\"}");
    }
    if (strncmp(id, "fail", 4) == 0) {
        return -1;
    }
    *item = kept;
    return strncmp(id, "miss", 4) != 0;
}

static void
check_expansion(const cJSON *req)
{
    const cJSON *input, *item;
    cJSON *x, *chat, *resp, *rec;
    sllmp_xerr_t e;

    xerr_reset(&e);
    x = sllmp_responses_expand(req, NULL, find, NULL, 0, &e);
    if (x == NULL) {
        fuzz_check(memchr(e.message, '\0', sizeof(e.message)) != NULL);
        fuzz_check(memchr(e.param, '\0', sizeof(e.param)) != NULL);
        return;
    }
    fuzz_reparses(x);
    input = cJSON_GetObjectItemCaseSensitive(x, "input");
    fuzz_check(cJSON_IsArray(input));
    fuzz_check(cJSON_GetObjectItemCaseSensitive(x, "previous_response_id") == NULL);
    cJSON_ArrayForEach(item, input)
    {
        fuzz_check(!sllmp_str_is(sllmp_json_str(item, "type"), "item_reference"));
    }
    chat = sllmp_responses_to_chat(x, &e);
    if (chat != NULL) {
        check_chat(chat);
        cJSON_Delete(chat);
    }
    resp = cJSON_Parse("{\"id\":\"resp_0123456789abcdef0123456789abcdef\",\"output\":[]}");
    rec = sllmp_responses_record("owner", cJSON_Duplicate(input, 1), resp);
    fuzz_reparses(rec);
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(rec, "context"))
    {
        fuzz_check(!cJSON_IsObject(item) || sllmp_json_str(item, "id") != NULL);
    }
    cJSON_Delete(rec);
    cJSON_Delete(resp);
    cJSON_Delete(x);
    /* for a Responses API upstream: the items found go without ids, the unknown stay */
    xerr_reset(&e);
    x = sllmp_responses_expand(req, NULL, find, NULL, 1, &e);
    if (x == NULL) {
        fuzz_check(memchr(e.message, '\0', sizeof(e.message)) != NULL);
        return;
    }
    fuzz_reparses(x);
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(x, "input"))
    {
        fuzz_check(!sllmp_str_is(sllmp_json_str(item, "type"), "item_reference") ||
                   sllmp_json_str(item, "id") != NULL);
    }
    cJSON_Delete(x);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *req, *chat;
    sllmp_xerr_t e;
    char *before, *after;
    int refused;

    fuzz_quiet();
    req = cJSON_ParseWithLength((const char *)data, size);
    if (req == NULL) {
        return 0;
    }
    /* printed, not cJSON_Compare(): that one fails on duplicate member names */
    before = cJSON_PrintUnformatted(req);
    fuzz_check(before != NULL);

    xerr_reset(&e);
    chat = sllmp_responses_to_chat(req, &e);
    refused = chat == NULL;
    if (chat == NULL) {
        fuzz_check_refusal(&e);
    } else {
        fuzz_reparses(chat);
        check_chat(chat);
        xerr_reset(&e);
        fuzz_check_translated(sllmp_anthropic_request(chat, "claude-sonnet-4-5", &e), &e);
        xerr_reset(&e);
        fuzz_check_translated(sllmp_gemini_request(chat, "gemini-2.5-flash", &e), &e);
        cJSON_Delete(chat);
    }
    check_expansion(req);
    /* without an sllmp_xerr_t: the same answer, NULL or not */
    chat = sllmp_responses_to_chat(req, NULL);
    fuzz_check((chat == NULL) == refused);
    cJSON_Delete(chat);

    after = cJSON_PrintUnformatted(req);
    fuzz_check(after != NULL && strcmp(before, after) == 0);
    cJSON_free(before);
    cJSON_free(after);
    cJSON_Delete(req);
    return 0;
}
