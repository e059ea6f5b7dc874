/*
 * Google's OAuth 2.0 access tokens, for Vertex AI (src/providers/vertex.c).
 *
 * Three kinds of credentials, as google-auth finds them: a service account's JSON key (a JWT
 * signed with its RS256 key is exchanged at its token_uri), gcloud's application default
 * credentials (type authorized_user: a refresh token exchanged at Google's token endpoint), and
 * the metadata server of a Google Cloud machine (a GET with Metadata-Flavor: Google). A token is
 * cached per process until 3 min 45 s before it expires (google-auth's margin); a 401 from Vertex
 * forgets it.
 */
#ifndef SLLMP_GAUTH_H
#define SLLMP_GAUTH_H

#include "sllmp/types.h"

#include <stddef.h>
#include <stdint.h>

#define SLLMP_GAUTH_SCOPE "https://www.googleapis.com/auth/cloud-platform"

typedef enum {
    SLLMP_GCRED_SERVICE_ACCOUNT = 1,
    SLLMP_GCRED_USER,    /* gcloud auth application-default login */
    SLLMP_GCRED_METADATA /* a Google Cloud machine's own service account */
} sllmp_gcred_kind_t;

/* Credentials, read once at load; every string but the ids is a secret, never logged. */
typedef struct sllmp_gcred_s {
    sllmp_gcred_kind_t kind;
    char *client_email; /* service account */
    char *private_key_id;
    void *pkey;      /* its private key (an EVP_PKEY) */
    char *token_uri; /* where tokens come from; the metadata server's token URL */
    char *project;   /* the project they name: a key's project_id, gcloud's quota_project_id */
    char *client_id; /* authorized_user */
    char *client_secret;
    char *refresh_token;
    char *quota_project; /* authorized_user: sent as x-goog-user-project */
    char id[33];         /* hex of a digest of whose they are: the token cache's key */
} sllmp_gcred_t;

/*
 * Credentials from the text of a JSON key file (service_account or authorized_user). NULL with
 * a reason in why (which never quotes the text) when they are none or incomplete.
 */
sllmp_gcred_t *sllmp_gcred_parse(const char *json, size_t n, char *why, size_t whylen);
/* The metadata server's, at host (GCE_METADATA_HOST; NULL: metadata.google.internal). */
sllmp_gcred_t *sllmp_gcred_metadata(const char *host);
void sllmp_gcred_free(sllmp_gcred_t *c);

/* A service account's signed JWT asserting itself for scope at now (seconds since the epoch),
 * valid an hour; malloc'd, NULL when the key cannot sign. */
char *sllmp_gauth_jwt(const sllmp_gcred_t *c, const char *scope, int64_t now);

/* The form body of the token request (not for the metadata server's GET); malloc'd or NULL. */
char *sllmp_gauth_token_form(const sllmp_gcred_t *c, int64_t now);

/* Reads a token endpoint's answer: 0 with *token malloc'd and *expires_in in seconds (3600 when
 * it says none), -1 when it holds no access token. */
int sllmp_gauth_token_parse(const char *body, size_t n, char **token, long *expires_in);

/*
 * The Authorization header line of a call for c, from the cache or a token fetched now (through
 * r's upstream handle and timeouts), in r's arena. NULL when none came: r failed (a refused
 * grant is the deployment's credentials refused, as a provider's 401).
 */
const char *sllmp_gauth_header(sllmp_req_t *r, const sllmp_gcred_t *c);

/* Forgets c's cached token (Vertex refused it). */
void sllmp_gauth_forget(const sllmp_gcred_t *c);

#endif
