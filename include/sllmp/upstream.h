/*
 * HTTP calls to providers through libcurl, with the thread's reused handle.
 *
 * Timeouts are connect, first byte, idle between data and an overall cap; never one
 * CURLOPT_TIMEOUT for everything. While the call waits, SSE heartbeats go to a streaming client
 * and a departed client aborts the transfer.
 */
#ifndef SLLMP_UPSTREAM_H
#define SLLMP_UPSTREAM_H

#include "sllmp/buf.h"
#include "sllmp/conf.h"
#include "sllmp/error.h"
#include "sllmp/types.h"

/* Body bytes of a 2xx answer as they arrive; non-zero aborts the transfer. */
typedef int sllmp_upstream_data_f(void *ud, const char *data, size_t n);

typedef struct {
    const char *url;
    const char *method; /* NULL: POST (of body); "GET" or "DELETE": no body */
    const char *body;
    size_t body_len;
    const char *const *headers;     /* NULL-terminated "Name: value" list */
    sllmp_upstream_data_f *on_data; /* NULL: the body is collected in ->resp */
    void *ud;
    /* not the provider's URL (a token endpoint): the deployment's own headers
     * (litellm_params.extra_headers, ...) stay out, and its x-ratelimit-* are not the client's */
    int bare;

    /* results */
    int status;              /* HTTP status, 0 when none came */
    sllmp_buf_t resp;        /* the body when on_data is NULL or the status is not 2xx */
    char retry_after[32];    /* Retry-After (seconds), or derived from retry-after-ms */
    char retry_after_ms[32]; /* retry-after-ms as the upstream sent it */
    int aborted_by_callback;
    /* set by the adapter: the answer, whatever its status, refuses the deployment's key (Google
     * says so with a 400), so it fails as a 401 would */
    int key_refused;
} sllmp_upstream_call_t;

/*
 * Runs the call. Returns SLLMP_OK when an HTTP answer came (whatever its status), else
 * SLLMP_ERR_TIMEOUT, SLLMP_ERR_PROVIDER_UNAVAILABLE, SLLMP_ERR_PROVIDER, or
 * SLLMP_ERR_CLIENT_GONE. The x-ratelimit-* headers of the answer are added to r's response.
 * The caller frees call->resp.
 */
sllmp_err_t sllmp_upstream_run(sllmp_req_t *r, sllmp_upstream_call_t *call);

/* The timeouts of r's call to r->dep: sllmp.timeouts, where LiteLLM's timeout (for a stream
 * its stream_timeout first; the deployment's, else the router's) replaces first_byte_ms and
 * idle_ms, and caps connect_ms. total_ms still bounds every call. */
void sllmp_upstream_timeouts(const sllmp_req_t *r, sllmp_timeouts_t *t);

/*
 * The CA certificates libcurl should verify providers (and Langfuse) against: sllmp.ca_file
 * when set; else NULL (libcurl's built-in file) when that file exists; else the first bundle
 * of the other distributions that exists, so that a binary built on Debian (make bundle) still
 * verifies TLS on a RHEL-family host, where /etc/ssl/certs/ca-certificates.crt is missing.
 */
const char *sllmp_ca_file(const sllmp_conf_t *c);

/* The probe behind it: NULL when builtin is readable, else the first readable candidate
 * (NULL-terminated list), else NULL. */
const char *sllmp_ca_probe(const char *builtin, const char *const *candidates);

/*
 * Turns a non-2xx upstream answer into r's error (status mapping of the contract), without ever
 * copying text the upstream sent with a 401/403 (or with call->key_refused). Returns SLLMP_ERROR
 * as an int.
 */
int sllmp_upstream_fail(sllmp_req_t *r, const sllmp_upstream_call_t *call);

/* Per-process libcurl setup (share handle for DNS and TLS sessions). */
int sllmp_upstream_global_init(void);
void sllmp_upstream_global_fini(void);
void *sllmp_upstream_handle_new(void);
void sllmp_upstream_handle_free(void *h);

#endif
