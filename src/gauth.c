/*
 * Google OAuth 2.0 access tokens (see gauth.h).
 *
 * A service account's token: the JWT bearer grant of RFC 7523, as Google documents it for
 * server-to-server use: header {"alg":"RS256","typ":"JWT","kid":private_key_id}, claims iss
 * (client_email), scope, aud (token_uri), iat and exp (an hour later), signed with the key's
 * RSA key over SHA-256; POSTed form-encoded as grant_type=urn:ietf:params:oauth:grant-type:
 * jwt-bearer&assertion=<jwt>. gcloud's authorized_user credentials: grant_type=refresh_token
 * with client_id, client_secret and refresh_token, at https://oauth2.googleapis.com/token. The
 * answer of both, and of the metadata server: {"access_token", "expires_in", "token_type"}.
 */
#include "sllmp/gauth.h"
#include "sllmp/buf.h"
#include "sllmp/log.h"
#include "sllmp/req.h"
#include "sllmp/translate.h"
#include "sllmp/upstream.h"
#include "sllmp/util.h"

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOOGLE_TOKEN_URI "https://oauth2.googleapis.com/token"
#define TOKEN_LIFE       3600
#define REFRESH_BEFORE   225 /* seconds before expiry a token is replaced (google-auth's) */
#define CACHE_SLOTS      16

static char *
member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(v) && v->valuestring[0] != '\0' ? sllmp_xstrdup(v->valuestring) : NULL;
}

/* Refuses a passphrase prompt: a key file's key is never encrypted, and no terminal is ours. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static void
set_id(sllmp_gcred_t *c, const char *a, const char *b)
{
    unsigned char md[32];
    char *who = sllmp_xasprintf("%d\n%s\n%s\n%s", (int)c->kind, a ? a : "", b ? b : "",
                                c->token_uri ? c->token_uri : "");

    sllmp_sha256(who, strlen(who), md);
    free(who);
    for (int i = 0; i < 16; i++) {
        snprintf(c->id + 2 * i, 3, "%02x", md[i]);
    }
}

sllmp_gcred_t *
sllmp_gcred_parse(const char *json, size_t n, char *why, size_t whylen)
{
    cJSON *o = cJSON_ParseWithLength(json, n);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    sllmp_gcred_t *c;

    if (!cJSON_IsObject(o)) {
        snprintf(why, whylen, "they are not a JSON object (a key file's text, or its path)");
        cJSON_Delete(o);
        return NULL;
    }
    c = sllmp_xcalloc(1, sizeof(*c));
    if (cJSON_IsString(type) && strcmp(type->valuestring, "service_account") == 0) {
        char *pem = member(o, "private_key");
        BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;

        c->kind = SLLMP_GCRED_SERVICE_ACCOUNT;
        c->client_email = member(o, "client_email");
        c->private_key_id = member(o, "private_key_id");
        c->project = member(o, "project_id");
        c->token_uri = member(o, "token_uri");
        if (bio != NULL) {
            c->pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
            BIO_free(bio);
        }
        sllmp_secret_free(pem);
        if (c->client_email == NULL || c->pkey == NULL) {
            snprintf(why, whylen, "the service account key has %s",
                     c->client_email == NULL ? "no client_email" : "no readable private_key");
            goto bad;
        }
        set_id(c, c->client_email, c->private_key_id);
    } else if (cJSON_IsString(type) && strcmp(type->valuestring, "authorized_user") == 0) {
        c->kind = SLLMP_GCRED_USER;
        c->client_id = member(o, "client_id");
        c->client_secret = member(o, "client_secret");
        c->refresh_token = member(o, "refresh_token");
        c->quota_project = member(o, "quota_project_id");
        if (c->quota_project != NULL &&
            strspn(c->quota_project, "abcdefghijklmnopqrstuvwxyz0123456789-.:") !=
                strlen(c->quota_project)) {
            /* it goes into a header line: a project id or nothing */
            free(c->quota_project);
            c->quota_project = NULL;
        }
        c->project = c->quota_project != NULL ? sllmp_xstrdup(c->quota_project) : NULL;
        c->token_uri = member(o, "token_uri");
        if (c->client_id == NULL || c->client_secret == NULL || c->refresh_token == NULL) {
            snprintf(why, whylen,
                     "authorized_user credentials need client_id, client_secret and "
                     "refresh_token");
            goto bad;
        }
        set_id(c, c->client_id, c->refresh_token);
    } else {
        snprintf(why, whylen,
                 "their type is not service_account or authorized_user (gcloud's "
                 "external_account and impersonated credentials are not supported)");
        goto bad;
    }
    if (c->token_uri == NULL) {
        c->token_uri = sllmp_xstrdup(GOOGLE_TOKEN_URI);
    }
    cJSON_Delete(o);
    return c;
bad:
    cJSON_Delete(o);
    sllmp_gcred_free(c);
    return NULL;
}

sllmp_gcred_t *
sllmp_gcred_metadata(const char *host)
{
    sllmp_gcred_t *c = sllmp_xcalloc(1, sizeof(*c));

    c->kind = SLLMP_GCRED_METADATA;
    c->token_uri =
        sllmp_xasprintf("http://%s/computeMetadata/v1/instance/service-accounts/default/token",
                        host != NULL && *host != '\0' ? host : "metadata.google.internal");
    set_id(c, NULL, NULL);
    return c;
}

void
sllmp_gcred_free(sllmp_gcred_t *c)
{
    if (c == NULL) {
        return;
    }
    EVP_PKEY_free(c->pkey);
    free(c->client_email);
    free(c->private_key_id);
    free(c->token_uri);
    free(c->project);
    free(c->client_id);
    sllmp_secret_free(c->client_secret);
    sllmp_secret_free(c->refresh_token);
    free(c->quota_project);
    free(c);
}

/* base64url without padding (RFC 7515 §2) of n bytes, appended to b. */
static void
b64url(sllmp_buf_t *b, const void *data, size_t n)
{
    char *s = sllmp_base64(data, n);
    size_t len = strlen(s);

    while (len > 0 && s[len - 1] == '=') {
        len--;
    }
    for (size_t i = 0; i < len; i++) {
        s[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    }
    sllmp_buf_append(b, s, len);
    free(s);
}

static void
b64url_json(sllmp_buf_t *b, cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);

    b64url(b, text, strlen(text));
    cJSON_free(text);
    cJSON_Delete(o);
}

char *
sllmp_gauth_jwt(const sllmp_gcred_t *c, const char *scope, int64_t now)
{
    cJSON *h = cJSON_CreateObject(), *claims = cJSON_CreateObject();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t siglen = 0;
    sllmp_buf_t b;
    char *jwt = NULL;

    cJSON_AddStringToObject(h, "alg", "RS256");
    cJSON_AddStringToObject(h, "typ", "JWT");
    if (c->private_key_id != NULL) {
        cJSON_AddStringToObject(h, "kid", c->private_key_id);
    }
    cJSON_AddStringToObject(claims, "iss", c->client_email);
    cJSON_AddStringToObject(claims, "scope", scope);
    /* google-auth's audience, whatever token_uri the key names (it posts there) */
    cJSON_AddStringToObject(claims, "aud", GOOGLE_TOKEN_URI);
    cJSON_AddNumberToObject(claims, "iat", (double)now);
    cJSON_AddNumberToObject(claims, "exp", (double)(now + TOKEN_LIFE));
    sllmp_buf_init(&b, 0);
    b64url_json(&b, h);
    sllmp_buf_appends(&b, ".");
    b64url_json(&b, claims);
    if (ctx != NULL && c->pkey != NULL &&
        EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, c->pkey) == 1 &&
        EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)b.ptr, b.len) == 1) {
        sig = sllmp_xmalloc(siglen);
        if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)b.ptr, b.len) == 1) {
            sllmp_buf_appends(&b, ".");
            b64url(&b, sig, siglen);
            jwt = sllmp_xstrdup(sllmp_buf_cstr(&b));
        }
        free(sig);
    }
    EVP_MD_CTX_free(ctx);
    sllmp_buf_free(&b);
    return jwt;
}

static void
form_field(sllmp_buf_t *b, const char *name, const char *value)
{
    sllmp_buf_printf(b, "%s%s=", b->len > 0 ? "&" : "", name);
    sllmp_aws_uri_encode(b, value, strlen(value), 0);
}

char *
sllmp_gauth_token_form(const sllmp_gcred_t *c, int64_t now)
{
    sllmp_buf_t b;
    char *jwt, *form;

    sllmp_buf_init(&b, 0);
    if (c->kind == SLLMP_GCRED_SERVICE_ACCOUNT) {
        if ((jwt = sllmp_gauth_jwt(c, SLLMP_GAUTH_SCOPE, now)) == NULL) {
            sllmp_buf_free(&b);
            return NULL;
        }
        form_field(&b, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
        form_field(&b, "assertion", jwt);
        free(jwt);
    } else if (c->kind == SLLMP_GCRED_USER) {
        form_field(&b, "grant_type", "refresh_token");
        form_field(&b, "client_id", c->client_id);
        form_field(&b, "client_secret", c->client_secret);
        form_field(&b, "refresh_token", c->refresh_token);
    } else {
        sllmp_buf_free(&b);
        return NULL;
    }
    form = sllmp_xstrdup(sllmp_buf_cstr(&b));
    OPENSSL_cleanse(b.ptr, b.len);
    sllmp_buf_free(&b);
    return form;
}

int
sllmp_gauth_token_parse(const char *body, size_t n, char **token, long *expires_in)
{
    cJSON *o = cJSON_ParseWithLength(body, n);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "access_token");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "expires_in");
    int rc = -1;

    /* a token goes into a header line: nothing that would end it */
    if (cJSON_IsString(t) && t->valuestring[0] != '\0' && strpbrk(t->valuestring, "\r\n") == NULL) {
        *token = sllmp_xstrdup(t->valuestring);
        *expires_in = cJSON_IsNumber(e) && e->valuedouble > 0 && e->valuedouble < 1e7
                          ? (long)e->valuedouble
                          : TOKEN_LIFE;
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

/* ---- the process's cache ---- */

typedef struct {
    char id[33];
    char *token;
    int64_t until; /* wall seconds after which it is replaced */
} slot_t;

static slot_t slots[CACHE_SLOTS];
static unsigned next_slot;
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

/* The cached token of c still good at now, copied into the arena, or NULL. */
static const char *
cached(sllmp_req_t *r, const sllmp_gcred_t *c, int64_t now)
{
    const char *line = NULL;

    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (slots[i].token != NULL && strcmp(slots[i].id, c->id) == 0 && now < slots[i].until) {
            line = sllmp_arena_printf(r->arena, "Authorization: Bearer %s", slots[i].token);
            break;
        }
    }
    pthread_mutex_unlock(&cache_mu);
    return line;
}

/* Keeps token (taken) as c's until until. */
static void
keep(const sllmp_gcred_t *c, char *token, int64_t until)
{
    slot_t *s = NULL;

    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < CACHE_SLOTS && s == NULL; i++) {
        if (strcmp(slots[i].id, c->id) == 0) {
            s = &slots[i];
        }
    }
    if (s == NULL) {
        s = &slots[next_slot++ % CACHE_SLOTS];
        memcpy(s->id, c->id, sizeof(s->id));
    }
    sllmp_secret_free(s->token);
    s->token = token;
    s->until = until;
    pthread_mutex_unlock(&cache_mu);
}

void
sllmp_gauth_forget(const sllmp_gcred_t *c)
{
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (strcmp(slots[i].id, c->id) == 0) {
            sllmp_secret_free(slots[i].token);
            slots[i].token = NULL;
        }
    }
    pthread_mutex_unlock(&cache_mu);
}

/* What a token endpoint that refused said (OAuth's error and error_description: no secret), for
 * the log. */
static void
log_refusal(sllmp_req_t *r, const sllmp_upstream_call_t *call)
{
    cJSON *o = cJSON_ParseWithLength(call->resp.ptr, call->resp.len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "error_description");

    sllmp_log(r->id, SLLMP_LOG_WARN, "google token for %s: HTTP %d %.64s %.200s",
              r->dep != NULL ? r->dep->model_name : "?", call->status,
              cJSON_IsString(e) ? e->valuestring : "", cJSON_IsString(d) ? d->valuestring : "");
    cJSON_Delete(o);
}

const char *
sllmp_gauth_header(sllmp_req_t *r, const sllmp_gcred_t *c)
{
    int64_t now = sllmp_wall_ms() / 1000;
    const char *line = cached(r, c, now);
    const char *headers[4] = {NULL};
    sllmp_upstream_call_t call;
    char *form = NULL, *token = NULL;
    long expires_in = 0;
    sllmp_err_t err;

    if (line != NULL) {
        return line;
    }
    memset(&call, 0, sizeof(call));
    call.url = c->token_uri;
    call.bare = 1;
    if (c->kind == SLLMP_GCRED_METADATA) {
        call.method = "GET";
        headers[0] = "Metadata-Flavor: Google";
    } else {
        if ((form = sllmp_gauth_token_form(c, now)) == NULL) {
            sllmp_req_fail(r, SLLMP_ERR_PROVIDER_AUTH, NULL,
                           "The service account key of model '%.*s' could not sign.",
                           sllmp_utf8_prec(r->model, 200), r->model);
            return NULL;
        }
        headers[0] = "Content-Type: application/x-www-form-urlencoded";
        headers[1] = "Accept: application/json";
        call.body = form;
        call.body_len = strlen(form);
    }
    call.headers = headers;
    err = sllmp_upstream_run(r, &call);
    sllmp_secret_free(form);
    if (err != SLLMP_OK) {
        sllmp_req_fail(r, err, NULL, NULL);
    } else if (call.status >= 200 && call.status < 300 &&
               sllmp_gauth_token_parse(call.resp.ptr, call.resp.len, &token, &expires_in) == 0) {
        line = sllmp_arena_printf(r->arena, "Authorization: Bearer %s", token);
        keep(c, token, now + expires_in - (expires_in > 2 * REFRESH_BEFORE ? REFRESH_BEFORE : 0));
    } else if (call.status == 400 || call.status == 401 || call.status == 403) {
        /* invalid_grant, invalid_client, a deleted or disabled key: the gateway's credentials */
        log_refusal(r, &call);
        sllmp_req_fail(r, SLLMP_ERR_PROVIDER_AUTH, NULL,
                       "Google refused the credentials of model '%.*s' (HTTP %d).",
                       sllmp_utf8_prec(r->model, 200), r->model, call.status);
    } else {
        log_refusal(r, &call);
        sllmp_req_fail(r, SLLMP_ERR_PROVIDER_UNAVAILABLE, NULL,
                       "No Google access token for model '%.*s' (HTTP %d from %s).",
                       sllmp_utf8_prec(r->model, 200), r->model, call.status,
                       c->kind == SLLMP_GCRED_METADATA ? "the metadata server"
                                                       : "the token endpoint");
    }
    if (call.resp.ptr != NULL) {
        OPENSSL_cleanse(call.resp.ptr, call.resp.len);
    }
    sllmp_buf_free(&call.resp);
    return line;
}
