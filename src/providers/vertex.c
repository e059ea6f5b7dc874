/*
 * Google Vertex AI: where a vertex_ai/ deployment's calls go and how they sign in. The bodies
 * are Gemini's (src/providers/gemini.c) and Anthropic's (src/providers/anthropic.c), which call
 * these when r->dep->gcp is set.
 *
 * Gemini: POST {root}/publishers/google/models/{model}:generateContent (streamGenerateContent?
 * alt=sse), a tuned model's endpoint at {root}/endpoints/{id}:...; Claude: {root}/publishers/
 * anthropic/models/{model}:rawPredict (streamRawPredict), its token count at .../models/
 * count-tokens:rawPredict; the root https://{location}-aiplatform.googleapis.com/v1/projects/
 * {project}/locations/{location}. Every call carries an OAuth access token (gauth.h).
 * Partner models of Vertex's OpenAI-compatible endpoint (Llama, DeepSeek, Qwen, gpt-oss) are
 * OpenAI's (src/providers/openai.c) at {root}/endpoints/openapi, signed in here too.
 */
#include "sllmp/conf.h"
#include "sllmp/gauth.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"

#include <string.h>

/* A model's name as a path segment: Claude's '@' (claude-sonnet-4@20250514) stays as it is. */
static void
segment(sllmp_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~@", c) != NULL) {
            sllmp_buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};

            sllmp_buf_append(b, e, 3);
        }
    }
}

const char *
sllmp_vertex_url(sllmp_req_t *r, const char *model, const char *method)
{
    const sllmp_deployment_t *d = r->dep;
    const char *url;
    sllmp_buf_t b;

    sllmp_buf_init(&b, 0);
    if (d->vertex_model_url) {
        /* LiteLLM's api_base names the model: another model (count-tokens) replaces it */
        const char *last = strrchr(d->api_base, '/');

        if (model == NULL) {
            sllmp_buf_appends(&b, d->api_base);
        } else {
            sllmp_buf_append(&b, d->api_base, (size_t)(last + 1 - d->api_base));
            segment(&b, model);
        }
    } else {
        model = model != NULL ? model : d->model;
        sllmp_buf_appends(&b, d->api_base);
        if (strspn(model, "0123456789") == strlen(model)) {
            sllmp_buf_appends(&b, "/endpoints/"); /* a tuned model's endpoint, as LiteLLM */
        } else if (d->provider == SLLMP_PROVIDER_ANTHROPIC) {
            sllmp_buf_appends(&b, "/publishers/anthropic/models/");
        } else {
            sllmp_buf_appends(&b, "/publishers/google/models/");
        }
        segment(&b, model);
    }
    url = sllmp_arena_printf(r->arena, "%s:%s", sllmp_buf_cstr(&b), method);
    sllmp_buf_free(&b);
    return url;
}

int
sllmp_vertex_auth(sllmp_req_t *r, const char **headers, int *nh)
{
    const sllmp_gcred_t *c = r->dep->gcp;
    const char *line = sllmp_gauth_header(r, c);

    if (line == NULL) {
        return -1;
    }
    headers[(*nh)++] = line;
    if (c->quota_project != NULL) {
        /* gcloud's user credentials bill the project they name, as google-auth's apply() */
        headers[(*nh)++] =
            sllmp_arena_printf(r->arena, "x-goog-user-project: %s", c->quota_project);
    }
    return 0;
}
