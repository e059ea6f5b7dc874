/*
 * Authentication: with general_settings.master_key set, every API call must carry it as
 * `Authorization: Bearer <key>` (or `api-key`/`x-api-key`, as Azure and Anthropic SDKs send it).
 * The comparison takes the same time whatever the input.
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"

#include <string.h>
#include <strings.h>

static const char *
presented_key(sllmp_req_t *r)
{
    /* Apache's rewrite fallback delivers the header as REDIRECT_HTTP_AUTHORIZATION */
    static const char *const params[] = {"HTTP_AUTHORIZATION", "REDIRECT_HTTP_AUTHORIZATION"};

    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        const char *v = sllmp_req_param(r, params[i]);

        if (v != NULL && strncasecmp(v, "Bearer ", 7) == 0) {
            v += 7;
            while (*v == ' ') {
                v++;
            }
            return v;
        }
    }
    const char *v = sllmp_req_param(r, "HTTP_API_KEY");

    return v != NULL ? v : sllmp_req_param(r, "HTTP_X_API_KEY");
}

sllmp_rc_t
sllmp_auth_check(sllmp_req_t *r)
{
    const char *want = r->conf->master_key;
    const char *got;

    if (want == NULL) {
        return SLLMP_GO_ON;
    }
    got = presented_key(r);
    if (got == NULL || *got == '\0') {
        return sllmp_req_fail(r, SLLMP_ERR_AUTH, NULL,
                              "Missing API key. Send it as Authorization: Bearer <key>.");
    }
    if (!sllmp_ct_equal(got, strlen(got), want, strlen(want))) {
        return sllmp_req_fail(r, SLLMP_ERR_AUTH, NULL, "Incorrect API key provided.");
    }
    return SLLMP_GO_ON;
}

static sllmp_rc_t
auth_pre(sllmp_req_t *r, void *mw_conf)
{
    (void)mw_conf;
    return sllmp_auth_check(r);
}

const sllmp_middleware_t sllmp_mw_auth = {
    .name = "auth",
    .pre = auth_pre,
};
