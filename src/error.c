/*
 * The error table: the one place that decides what a failure looks like to a client.
 * Statuses and types follow OpenAI's (protocols.md §1.5) so SDKs pick the right error class.
 */
#include "sllmp/error.h"
#include "sllmp/util.h"

#define E(code, status, type, ocode, retry, msg) [code] = {#code, status, type, ocode, retry, msg}

static const sllmp_err_info_t table[SLLMP_ERR__COUNT] = {
    E(SLLMP_OK, 200, NULL, NULL, 0, "ok"),
    E(SLLMP_ERR_INVALID_JSON, 400, "invalid_request_error", "invalid_json", 0,
      "We could not parse the JSON body of your request."),
    E(SLLMP_ERR_JSON_TOO_DEEP, 400, "invalid_request_error", "json_too_deep", 0,
      "The JSON body of your request is nested too deeply."),
    E(SLLMP_ERR_MISSING_PARAM, 400, "invalid_request_error", "missing_required_parameter", 0,
      "A required parameter is missing."),
    E(SLLMP_ERR_INVALID_PARAM, 400, "invalid_request_error", "invalid_value", 0,
      "A parameter has an invalid value."),
    E(SLLMP_ERR_CONTEXT_WINDOW, 400, "invalid_request_error", "context_length_exceeded", 0,
      "The request exceeds the model's context window."),
    E(SLLMP_ERR_CONTENT_POLICY, 400, "invalid_request_error", "content_policy_violation", 0,
      "The request was rejected by the provider's content policy."),
    E(SLLMP_ERR_AUTH, 401, "invalid_request_error", "invalid_api_key", 0,
      "Incorrect or missing API key. Send it as Authorization: Bearer <key>."),
    E(SLLMP_ERR_PERMISSION, 403, "invalid_request_error", "permission_denied", 0,
      "This key is not allowed to do that."),
    E(SLLMP_ERR_ORIGIN, 403, "invalid_request_error", "origin_not_allowed", 0,
      "This origin is not allowed by the gateway's CORS settings."),
    E(SLLMP_ERR_NOT_FOUND, 404, "invalid_request_error", "not_found", 0, "Unknown path."),
    E(SLLMP_ERR_MODEL_NOT_FOUND, 404, "invalid_request_error", "model_not_found", 0,
      "The model does not exist or is not configured on this gateway."),
    E(SLLMP_ERR_METHOD, 405, "invalid_request_error", "method_not_allowed", 0,
      "Method not allowed for this path."),
    E(SLLMP_ERR_TOO_BIG, 413, "invalid_request_error", "request_too_large", 0,
      "The request body is too large."),
    E(SLLMP_ERR_RATE_LIMITED, 429, "requests", "rate_limit_exceeded", 1, "Rate limit exceeded."),
    E(SLLMP_ERR_BUDGET, 429, "budget_exceeded", "budget_exceeded", 0, "Budget exceeded."),
    /* the same to a client that only reads the type or code (its budget is what is short), but
     * x-should-retry says true: the requests in flight hold their worst cases for a moment */
    E(SLLMP_ERR_BUDGET_HELD, 429, "budget_exceeded", "budget_exceeded", 1,
      "Budget held by requests in flight."),
    E(SLLMP_ERR_PROVIDER_BAD_REQUEST, 400, "invalid_request_error", NULL, 0,
      "The provider rejected the request."),
    E(SLLMP_ERR_PROVIDER_RATE_LIMIT, 429, "requests", "rate_limit_exceeded", 1,
      "The provider's rate limit was reached."),
    /* OpenAI's own words for it (protocols.md 1.5): an SDK that reads type or code knows that
     * waiting does not help, as x-should-retry: false tells the others */
    E(SLLMP_ERR_PROVIDER_QUOTA, 429, "insufficient_quota", "insufficient_quota", 0,
      "The provider's quota for this model is used up."),
    E(SLLMP_ERR_PROVIDER_AUTH, 502, "server_error", "provider_auth_error", 0,
      "The provider refused the gateway's credentials."),
    E(SLLMP_ERR_PROVIDER, 502, "server_error", "provider_error", 1,
      "The provider returned an error."),
    E(SLLMP_ERR_PROVIDER_UNAVAILABLE, 503, "server_error", "provider_unavailable", 1,
      "The provider could not be reached."),
    E(SLLMP_ERR_TIMEOUT, 504, "server_error", "timeout", 1, "The provider did not answer in time."),
    E(SLLMP_ERR_NOT_READY, 503, "server_error", "not_ready", 1, "The gateway is not ready."),
    E(SLLMP_ERR_LIMITS_UNAVAILABLE, 503, "server_error", "limits_unavailable", 1,
      "The gateway cannot check this key's limits right now."),
    E(SLLMP_ERR_INTERNAL, 500, "server_error", "internal_error", 1,
      "The gateway had an internal error."),
    E(SLLMP_ERR_CLIENT_GONE, 499, "server_error", "client_gone", 0, "The client went away."),
};

const sllmp_err_info_t *
sllmp_err_info(sllmp_err_t e)
{
    SLLMP_ASSERT((unsigned)e < SLLMP_ERR__COUNT);
    SLLMP_ASSERT(table[e].name != NULL);
    return &table[e];
}

const char *
sllmp_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}
