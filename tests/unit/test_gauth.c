/*
 * gauth.c: Google credentials read from their JSON, the service account's JWT (verified here
 * with the key's public half, as Google's token endpoint checks it), the token request's form
 * and the token endpoint's answer.
 */
#include "sllmp/gauth.h"
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
#include <cmocka.h>

static EVP_PKEY *key;
static char *key_pem;

static int
make_key(void **state)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long n;

    (void)state;
    key = EVP_RSA_gen(2048);
    if (key == NULL || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
        return -1;
    }
    n = BIO_get_mem_data(bio, &p);
    key_pem = sllmp_xstrndup(p, (size_t)n);
    BIO_free(bio);
    return 0;
}

static int
free_key(void **state)
{
    (void)state;
    EVP_PKEY_free(key);
    free(key_pem);
    return 0;
}

/* A service account key file's text, with token_uri when not NULL. */
static char *
sa_json(const char *email, const char *pem, const char *token_uri)
{
    cJSON *o = cJSON_CreateObject();
    char *text;

    cJSON_AddStringToObject(o, "type", "service_account");
    cJSON_AddStringToObject(o, "project_id", "proj-1");
    cJSON_AddStringToObject(o, "private_key_id", "kid123");
    if (pem != NULL) {
        cJSON_AddStringToObject(o, "private_key", pem);
    }
    if (email != NULL) {
        cJSON_AddStringToObject(o, "client_email", email);
    }
    if (token_uri != NULL) {
        cJSON_AddStringToObject(o, "token_uri", token_uri);
    }
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* base64url (no padding) decoded into a malloc'd buffer; *n its length. */
static unsigned char *
unb64url(const char *s, size_t len, size_t *n)
{
    size_t padded = (len + 3) / 4 * 4;
    char *std = calloc(1, padded + 1);
    unsigned char *out = calloc(1, padded);
    int got;

    for (size_t i = 0; i < len; i++) {
        std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    }
    for (size_t i = len; i < padded; i++) {
        std[i] = '=';
    }
    got = EVP_DecodeBlock(out, (unsigned char *)std, (int)padded);
    assert_true(got >= 0);
    *n = (size_t)got - (padded - len); /* EVP_DecodeBlock counts the padding */
    free(std);
    return out;
}

static cJSON *
part_json(const char *s, size_t len)
{
    size_t n;
    unsigned char *raw = unb64url(s, len, &n);
    cJSON *o = cJSON_ParseWithLength((char *)raw, n);

    free(raw);
    assert_non_null(o);
    return o;
}

static void
test_service_account_jwt(void **state)
{
    char *text = sa_json("svc@proj-1.iam.gserviceaccount.com", key_pem, "http://127.0.0.1:9/token");
    char why[256] = "";
    sllmp_gcred_t *c = sllmp_gcred_parse(text, strlen(text), why, sizeof(why));
    char *jwt, *dot1, *dot2;
    cJSON *h, *claims;
    unsigned char *sig;
    size_t siglen;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    (void)state;
    assert_non_null(c);
    assert_int_equal(c->kind, SLLMP_GCRED_SERVICE_ACCOUNT);
    assert_string_equal(c->project, "proj-1");
    assert_string_equal(c->token_uri, "http://127.0.0.1:9/token");
    assert_int_equal(strlen(c->id), 32);
    jwt = sllmp_gauth_jwt(c, SLLMP_GAUTH_SCOPE, 1700000000);
    assert_non_null(jwt);
    assert_null(strchr(jwt, '='));
    dot1 = strchr(jwt, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    assert_non_null(dot2);
    h = part_json(jwt, (size_t)(dot1 - jwt));
    assert_string_equal(cJSON_GetObjectItem(h, "alg")->valuestring, "RS256");
    assert_string_equal(cJSON_GetObjectItem(h, "typ")->valuestring, "JWT");
    assert_string_equal(cJSON_GetObjectItem(h, "kid")->valuestring, "kid123");
    claims = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    assert_string_equal(cJSON_GetObjectItem(claims, "iss")->valuestring,
                        "svc@proj-1.iam.gserviceaccount.com");
    assert_string_equal(cJSON_GetObjectItem(claims, "scope")->valuestring,
                        "https://www.googleapis.com/auth/cloud-platform");
    /* google-auth's audience, not the key's token_uri */
    assert_string_equal(cJSON_GetObjectItem(claims, "aud")->valuestring,
                        "https://oauth2.googleapis.com/token");
    assert_true(cJSON_GetObjectItem(claims, "iat")->valuedouble == 1700000000);
    assert_true(cJSON_GetObjectItem(claims, "exp")->valuedouble == 1700003600);
    /* RS256 over "header.claims" with the key's public half */
    sig = unb64url(dot2 + 1, strlen(dot2 + 1), &siglen);
    assert_int_equal(siglen, 256);
    assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestVerify(ctx, sig, siglen, (unsigned char *)jwt, (size_t)(dot2 - jwt)),
                     1);
    /* and not over anything else */
    jwt[1] ^= 1;
    assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_not_equal(
        EVP_DigestVerify(ctx, sig, siglen, (unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    EVP_MD_CTX_free(ctx);
    free(sig);
    cJSON_Delete(h);
    cJSON_Delete(claims);
    free(jwt);
    sllmp_gcred_free(c);
    cJSON_free(text);
}

static void
test_service_account_form(void **state)
{
    char *text = sa_json("svc@p.iam.gserviceaccount.com", key_pem, NULL);
    char why[256];
    sllmp_gcred_t *c = sllmp_gcred_parse(text, strlen(text), why, sizeof(why));
    char *form;
    const char *prefix =
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";

    (void)state;
    assert_non_null(c);
    assert_string_equal(c->token_uri, "https://oauth2.googleapis.com/token"); /* the default */
    form = sllmp_gauth_token_form(c, 1700000000);
    assert_non_null(form);
    assert_memory_equal(form, prefix, strlen(prefix));
    /* the JWT's three parts follow, in base64url's alphabet: nothing to escape */
    assert_int_equal(strspn(form + strlen(prefix),
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
                     strlen(form + strlen(prefix)));
    free(form);
    sllmp_gcred_free(c);
    cJSON_free(text);
}

static void
test_authorized_user(void **state)
{
    const char *text = "{\"type\":\"authorized_user\",\"client_id\":\"cid.apps\","
                       "\"client_secret\":\"s&cret\",\"refresh_token\":\"1//0gAB+c\","
                       "\"quota_project_id\":\"billing-proj\"}";
    const char *bad_quota = "{\"type\":\"authorized_user\",\"client_id\":\"a\","
                            "\"client_secret\":\"b\",\"refresh_token\":\"c\","
                            "\"quota_project_id\":\"x\\r\\nEvil: 1\"}";
    char why[256];
    sllmp_gcred_t *c = sllmp_gcred_parse(text, strlen(text), why, sizeof(why));
    char *form;

    (void)state;
    assert_non_null(c);
    assert_int_equal(c->kind, SLLMP_GCRED_USER);
    assert_string_equal(c->quota_project, "billing-proj");
    assert_string_equal(c->project, "billing-proj");
    assert_string_equal(c->token_uri, "https://oauth2.googleapis.com/token");
    form = sllmp_gauth_token_form(c, 0);
    assert_string_equal(form, "grant_type=refresh_token&client_id=cid.apps&client_secret=s%26cret"
                              "&refresh_token=1%2F%2F0gAB%2Bc");
    free(form);
    sllmp_gcred_free(c);
    /* a quota project that would end its header line is left out */
    c = sllmp_gcred_parse(bad_quota, strlen(bad_quota), why, sizeof(why));
    assert_non_null(c);
    assert_null(c->quota_project);
    sllmp_gcred_free(c);
}

static void
test_refused_credentials(void **state)
{
    static const char *const bad[] = {
        "not json",
        "[1]",
        "{\"type\":\"external_account\"}",
        "{\"type\":\"service_account\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nSECRETX\\n"
        "-----END PRIVATE KEY-----\\n\",\"client_email\":\"a@b\"}",
        "{\"type\":\"authorized_user\",\"client_id\":\"a\",\"refresh_token\":\"SECRETX\"}",
        NULL};
    char *no_email = sa_json(NULL, key_pem, NULL);
    char why[256];

    (void)state;
    for (int i = 0; bad[i] != NULL; i++) {
        why[0] = '\0';
        assert_null(sllmp_gcred_parse(bad[i], strlen(bad[i]), why, sizeof(why)));
        assert_true(why[0] != '\0');
        assert_null(strstr(why, "SECRETX")); /* the reason never quotes the text */
    }
    assert_null(sllmp_gcred_parse(no_email, strlen(no_email), why, sizeof(why)));
    assert_non_null(strstr(why, "client_email"));
    cJSON_free(no_email);
}

static void
test_token_answer(void **state)
{
    const char *ok =
        "{\"access_token\":\"ya29.abc\",\"expires_in\":3599,\"token_type\":\"Bearer\"}";
    const char *no_life = "{\"access_token\":\"ya29.x\"}";
    const char *crlf = "{\"access_token\":\"ya29.x\\r\\nX-Evil: 1\",\"expires_in\":10}";
    const char *none = "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT\"}";
    char *t = NULL;
    long e = 0;

    (void)state;
    assert_int_equal(sllmp_gauth_token_parse(ok, strlen(ok), &t, &e), 0);
    assert_string_equal(t, "ya29.abc");
    assert_int_equal(e, 3599);
    free(t);
    assert_int_equal(sllmp_gauth_token_parse(no_life, strlen(no_life), &t, &e), 0);
    assert_int_equal(e, 3600);
    free(t);
    assert_int_equal(sllmp_gauth_token_parse(crlf, strlen(crlf), &t, &e), -1);
    assert_int_equal(sllmp_gauth_token_parse(none, strlen(none), &t, &e), -1);
    assert_int_equal(sllmp_gauth_token_parse("", 0, &t, &e), -1);
}

static void
test_metadata_server(void **state)
{
    sllmp_gcred_t *a = sllmp_gcred_metadata(NULL), *b = sllmp_gcred_metadata("127.0.0.1:8123");

    (void)state;
    assert_string_equal(
        a->token_uri,
        "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/"
        "token");
    assert_string_equal(
        b->token_uri,
        "http://127.0.0.1:8123/computeMetadata/v1/instance/service-accounts/default/token");
    assert_null(sllmp_gauth_token_form(a, 0)); /* a GET, no form */
    assert_string_not_equal(a->id, b->id);
    sllmp_gcred_free(a);
    sllmp_gcred_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_account_jwt), cmocka_unit_test(test_service_account_form),
        cmocka_unit_test(test_authorized_user),     cmocka_unit_test(test_refused_credentials),
        cmocka_unit_test(test_token_answer),        cmocka_unit_test(test_metadata_server),
    };

    return cmocka_run_group_tests(tests, make_key, free_key);
}
