/*
 * One error enum, one table: code -> HTTP status -> OpenAI error.type / error.code ->
 * retryable or not. Every client-visible failure is rendered from this table.
 */
#ifndef SLLMP_ERROR_H
#define SLLMP_ERROR_H

#include "sllmp/types.h"

typedef enum {
    SLLMP_OK = 0,
    SLLMP_ERR_INVALID_JSON,         /* 400 */
    SLLMP_ERR_JSON_TOO_DEEP,        /* 400 */
    SLLMP_ERR_MISSING_PARAM,        /* 400 */
    SLLMP_ERR_INVALID_PARAM,        /* 400 */
    SLLMP_ERR_CONTEXT_WINDOW,       /* 400 */
    SLLMP_ERR_CONTENT_POLICY,       /* 400 */
    SLLMP_ERR_AUTH,                 /* 401 */
    SLLMP_ERR_PERMISSION,           /* 403 */
    SLLMP_ERR_ORIGIN,               /* 403 */
    SLLMP_ERR_NOT_FOUND,            /* 404 */
    SLLMP_ERR_MODEL_NOT_FOUND,      /* 404 */
    SLLMP_ERR_METHOD,               /* 405 */
    SLLMP_ERR_TOO_BIG,              /* 413 */
    SLLMP_ERR_RATE_LIMITED,         /* 429, the gateway's own limit */
    SLLMP_ERR_BUDGET,               /* 429, not retryable */
    SLLMP_ERR_BUDGET_HELD,          /* 429, retryable: held by requests in flight */
    SLLMP_ERR_PROVIDER_BAD_REQUEST, /* upstream 4xx passed on with its own status */
    SLLMP_ERR_PROVIDER_RATE_LIMIT,  /* 429, retryable */
    SLLMP_ERR_PROVIDER_QUOTA,       /* 429, not retryable: the provider account's credit or
                                     * spend limit is used up */
    SLLMP_ERR_PROVIDER_AUTH,        /* 502: the gateway's provider key was refused */
    SLLMP_ERR_PROVIDER,             /* 502 */
    SLLMP_ERR_PROVIDER_UNAVAILABLE, /* 503, retryable */
    SLLMP_ERR_TIMEOUT,              /* 504, retryable */
    SLLMP_ERR_NOT_READY,            /* 503 */
    SLLMP_ERR_LIMITS_UNAVAILABLE,   /* 503, the limit store is down and the limit fails closed */
    SLLMP_ERR_INTERNAL,             /* 500 */
    SLLMP_ERR_CLIENT_GONE,          /* 499, never sent */
    SLLMP_ERR__COUNT                /* never use */
} sllmp_err_t;

typedef struct {
    const char *name;    /* "SLLMP_ERR_TIMEOUT", for logs */
    int status;          /* HTTP status */
    const char *type;    /* OpenAI error.type */
    const char *code;    /* OpenAI error.code, NULL for null */
    int retryable;       /* x-should-retry */
    const char *message; /* default message */
} sllmp_err_info_t;

/* Never NULL: an out-of-range code asserts. */
const sllmp_err_info_t *sllmp_err_info(sllmp_err_t e);

/* HTTP reason phrase for a status ("Bad Request"); "Unknown" for the rest. */
const char *sllmp_http_reason(int status);

#endif
