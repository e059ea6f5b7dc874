/*
 * The error table: complete, consistent, and shaped the way the contract says
 * (docs/internals/http-contract.md).
 */
#include "sllmp/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

static void
test_every_code_is_described(void **state)
{
    (void)state;
    for (int e = 1; e < SLLMP_ERR__COUNT; e++) {
        const sllmp_err_info_t *i = sllmp_err_info((sllmp_err_t)e);

        assert_non_null(i->name);
        assert_true(strncmp(i->name, "SLLMP_ERR_", 10) == 0);
        assert_non_null(i->type);
        assert_non_null(i->message);
        assert_true(i->status >= 400 && i->status <= 599);
        assert_string_not_equal(sllmp_http_reason(i->status), "Unknown");
    }
}

static void
test_contract(void **state)
{
    static const struct {
        sllmp_err_t e;
        int status;
        const char *code;
        int retry;
    } want[] = {
        {SLLMP_ERR_INVALID_JSON, 400, "invalid_json", 0},
        {SLLMP_ERR_JSON_TOO_DEEP, 400, "json_too_deep", 0},
        {SLLMP_ERR_MISSING_PARAM, 400, "missing_required_parameter", 0},
        {SLLMP_ERR_INVALID_PARAM, 400, "invalid_value", 0},
        {SLLMP_ERR_AUTH, 401, "invalid_api_key", 0},
        {SLLMP_ERR_ORIGIN, 403, "origin_not_allowed", 0},
        {SLLMP_ERR_NOT_FOUND, 404, "not_found", 0},
        {SLLMP_ERR_MODEL_NOT_FOUND, 404, "model_not_found", 0},
        {SLLMP_ERR_METHOD, 405, "method_not_allowed", 0},
        {SLLMP_ERR_TOO_BIG, 413, "request_too_large", 0},
        {SLLMP_ERR_RATE_LIMITED, 429, "rate_limit_exceeded", 1},
        {SLLMP_ERR_BUDGET, 429, "budget_exceeded", 0},
        {SLLMP_ERR_BUDGET_HELD, 429, "budget_exceeded", 1},
        {SLLMP_ERR_PROVIDER_RATE_LIMIT, 429, "rate_limit_exceeded", 1},
        {SLLMP_ERR_PROVIDER_QUOTA, 429, "insufficient_quota", 0},
        {SLLMP_ERR_PROVIDER_AUTH, 502, "provider_auth_error", 0},
        {SLLMP_ERR_PROVIDER, 502, "provider_error", 1},
        {SLLMP_ERR_PROVIDER_UNAVAILABLE, 503, "provider_unavailable", 1},
        {SLLMP_ERR_TIMEOUT, 504, "timeout", 1},
        {SLLMP_ERR_INTERNAL, 500, "internal_error", 1},
        {SLLMP_ERR_CLIENT_GONE, 499, "client_gone", 0},
    };

    (void)state;
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        const sllmp_err_info_t *i = sllmp_err_info(want[k].e);

        assert_int_equal(i->status, want[k].status);
        assert_string_equal(i->code, want[k].code);
        assert_int_equal(i->retryable, want[k].retry);
    }
    /* the OpenAI SDK picks its error class from the status; the type keeps its own names */
    assert_string_equal(sllmp_err_info(SLLMP_ERR_AUTH)->type, "invalid_request_error");
    assert_string_equal(sllmp_err_info(SLLMP_ERR_PROVIDER)->type, "server_error");
    /* a budget held by requests in flight is still the budget_exceeded a client knows */
    assert_string_equal(sllmp_err_info(SLLMP_ERR_BUDGET_HELD)->type,
                        sllmp_err_info(SLLMP_ERR_BUDGET)->type);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_is_described),
        cmocka_unit_test(test_contract),
    };

    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
