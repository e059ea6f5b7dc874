/*
 * Authentication. With general_settings.master_key set, or virtual keys under `keys:`, every API
 * call must carry a key as `Authorization: Bearer <key>` (or `api-key` / `x-api-key`, as the
 * Azure and Anthropic SDKs send it). The master key is compared in constant time; a virtual
 * key is looked up by its SHA-256, compared in constant time against every configured key (the
 * time depends on how many keys there are, never on which one matched or how close a guess was).
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"

#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *
sllmp_auth_presented_key(sllmp_req_t *r)
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

const char *
sllmp_auth_key_name(const sllmp_req_t *r)
{
    if (r->key != NULL) {
        return r->key->name;
    }
    return r->authenticated && r->conf != NULL && r->conf->master_key != NULL ? "master" : NULL;
}

sllmp_rc_t
sllmp_auth_check(sllmp_req_t *r)
{
    const sllmp_conf_t *c = r->conf;
    const sllmp_key_t *found = NULL;
    unsigned char sha[32];
    const char *got;

    if (c->master_key == NULL && c->nkeys == 0) {
        r->authenticated = 1;
        return SLLMP_GO_ON;
    }
    got = sllmp_auth_presented_key(r);
    if (got == NULL || *got == '\0') {
        return sllmp_req_fail(r, SLLMP_ERR_AUTH, NULL,
                              "Missing API key. Send it as Authorization: Bearer <key>.");
    }
    if (c->master_key != NULL &&
        sllmp_ct_equal(got, strlen(got), c->master_key, strlen(c->master_key))) {
        r->authenticated = 1;
        return SLLMP_GO_ON;
    }
    sllmp_sha256(got, strlen(got), sha);
    for (size_t i = 0; i < c->nkeys; i++) {
        if (CRYPTO_memcmp(sha, c->keys[i].sha256, 32) == 0) {
            found = &c->keys[i];
        }
    }
    if (found == NULL) {
        return sllmp_req_fail(r, SLLMP_ERR_AUTH, NULL, "Incorrect API key provided.");
    }
    if (found->expires != 0 && time(NULL) >= found->expires) {
        return sllmp_req_fail(r, SLLMP_ERR_AUTH, NULL, "This API key has expired.");
    }
    r->key = found; /* its `user` is the fallback of validate, after OpenAI's `user` */
    r->authenticated = 1;
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
