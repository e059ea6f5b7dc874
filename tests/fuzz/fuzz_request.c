/*
 * Whole client requests through sllmp_handle() with the loopback harness, against the built-in
 * mock provider: never a crash, and the answer keeps its contract.
 *
 * The first four input bytes pick the request's shape from fixed lists (path, method, how the
 * key is sent, which headers, which config, a client that leaves mid-stream); the rest is the
 * body (with path selector 15, its first line is the REQUEST_URI). Checked on every answer:
 * it starts with "Status: NNN"; a Content-Length is the body's length; a JSON body parses, and
 * a non-2xx one is an error with string error.message and error.type, in UTF-8 whatever bytes the
 * request held; a stream ends with
 * [DONE] (an error event before it, if any), or Anthropic's message_stop or error event on
 * /v1/messages; no key sent or configured appears in the output unless the body holds it (the
 * mock echoes it), nor ever in a trace record of the spool, which must be JSON and UTF-8.
 */
#include "fuzz.h"
#include "fuzz_io.h"
#include "sllmp/conf.h"
#include "sllmp/core.h"
#include "sllmp/req.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#define MASTER_KEY  "sk-fuzz-secret-0123456789"
#define VIRTUAL_KEY "sk-fuzz-virtual-abcdef0123"
#define WRONG_KEY   "sk-fuzz-wrong-9876543210"
#define TRACE_ID    "not hex, " MASTER_KEY

/* The providers' secrets, and where they are: nothing listens on port 1, the call fails fast */
#define PROVIDER_KEY "sk-fuzz-provider-0123456789"
#define AWS_SECRET   "fuzzAwsSecretKey0123456789"
#define DEAD         "http://127.0.0.1:1"

static const char *const keys[] = {MASTER_KEY, VIRTUAL_KEY, WRONG_KEY, PROVIDER_KEY, AWS_SECRET};

/* The flushed config: a master key, a virtual key, full traces with a redaction pattern. */
static const char conf_flushed[] =
    "model_list:\n"
    "  - model_name: m\n"
    "    litellm_params: {model: mock/echo, mock_delay_ms: 0}\n"
    "  - model_name: m2\n"
    "    litellm_params: {model: mock/echo, mock_delay_ms: 0}\n"
    "    model_info: {input_cost_per_token: 0.000001, output_cost_per_token: 0.000002,\n"
    "                 capture: metadata}\n"
    "  - model_name: claude\n"
    "    litellm_params: {model: anthropic/claude-sonnet-4-5, api_base: \"" DEAD "\",\n"
    "                     api_key: " PROVIDER_KEY "}\n"
    "  - model_name: gem\n"
    "    litellm_params: {model: gemini/gemini-2.5-flash, api_base: \"" DEAD "\",\n"
    "                     api_key: " PROVIDER_KEY "}\n"
    "  - model_name: gemb\n"
    "    litellm_params: {model: gemini/text-embedding-004, api_base: \"" DEAD "\",\n"
    "                     api_key: " PROVIDER_KEY "}\n"
    "  - model_name: br\n"
    "    litellm_params: {model: bedrock/anthropic.claude-3-5-haiku-20241022-v1:0,\n"
    "                     aws_bedrock_runtime_endpoint: \"" DEAD "\", aws_region_name: us-east-1,\n"
    "                     aws_access_key_id: AKIAFUZZ0123, aws_secret_access_key: " AWS_SECRET "}\n"
    "  - model_name: brembed\n"
    "    litellm_params: {model: bedrock/cohere.embed-english-v3,\n"
    "                     aws_bedrock_runtime_endpoint: \"" DEAD "\", aws_region_name: us-east-1,\n"
    "                     aws_access_key_id: AKIAFUZZ0123, aws_secret_access_key: " AWS_SECRET "}\n"
    "  - model_name: oai\n"
    "    litellm_params: {model: openai/gpt-4o-mini, api_base: \"" DEAD "/v1\",\n"
    "                     api_key: " PROVIDER_KEY "}\n"
    "general_settings: {master_key: " MASTER_KEY "}\n"
    "router_settings: {num_retries: 0}\n"
    "keys:\n"
    "  - {name: v1, key: " VIRTUAL_KEY ", models: [m, claude, gem], user: owner1}\n"
    "sllmp:\n"
    "  max_body_bytes: 65536\n"
    "  spool: {dir: %s/spool, fsync: false}\n"
    "  langfuse: {capture: full, redact: [\"secret[0-9]+\"]}\n"
    "  access_log: off\n"
    "  timeouts: {connect_ms: 500, first_byte_ms: 1000, idle_ms: 1000, total_ms: 2000}\n"
    "  cors: {origins: [https://ok.example]}\n";

/* The held config: buffer_streams, an open gateway, small limits. */
static const char conf_held[] = "model_list:\n"
                                "  - model_name: m\n"
                                "    litellm_params: {model: mock/echo, mock_delay_ms: 0}\n"
                                "  - model_name: m2\n"
                                "    litellm_params: {model: mock/echo, mock_delay_ms: 0}\n"
                                "sllmp:\n"
                                "  buffer_streams: true\n"
                                "  max_body_bytes: 2048\n"
                                "  max_json_depth: 8\n"
                                "  spool: {dir: %s/spool, fsync: false}\n"
                                "  langfuse: {capture: full}\n"
                                "  access_log: off\n"
                                "  cors: {origins: [\"*\"]}\n";

static const char *const paths[] = {"/v1/chat/completions",
                                    "/chat/completions",
                                    "/v1/embeddings",
                                    "/v1/models",
                                    "/health",
                                    "/v1/messages",
                                    "/v1/completions",
                                    "/v1/models/m",
                                    "/ready",
                                    "/metrics",
                                    "/v1/chat/completions?x=1&y",
                                    "/embeddings",
                                    "/v2/x",
                                    "/v1/models/",
                                    "/v1/chat/completions/",
                                    NULL /* from the input */};

static const char *const methods[] = {"POST",    "POST", "POST", "POST", "GET",
                                      "OPTIONS", "HEAD", "PUT",  NULL};

typedef struct {
    fake_io_t f; /* first: the harness's callbacks get this same ctx */
    const char *body;
    size_t len;
    size_t pos;
} body_io_t;

/* The harness reads a C string; the fuzzer's body may hold NULs. */
static long
body_read(void *ctx, char *buf, size_t n)
{
    body_io_t *b = ctx;

    if (n > b->len - b->pos) {
        n = b->len - b->pos;
    }
    if (n > 1000) {
        n = 1000;
    }
    memcpy(buf, b->body + b->pos, n);
    b->pos += n;
    return (long)n;
}

static void
init(void)
{
    char flushed[4096], held[4096];

    stack_dir();
    snprintf(flushed, sizeof(flushed), conf_flushed, rundir);
    snprintf(held, sizeof(held), conf_held, rundir);
    stack_start(flushed, held);
}

/*
 * No string and no member name of j holds a secret. The decoded text, not the JSON: "\f" and
 * the letters after it can spell a key that no string holds.
 */
static void
check_secrets(const cJSON *j, const char *const *secrets, size_t nsecrets)
{
    for (; j != NULL; j = j->next) {
        for (size_t i = 0; i < nsecrets; i++) {
            fuzz_check(j->string == NULL || strstr(j->string, secrets[i]) == NULL);
            fuzz_check(!cJSON_IsString(j) || strstr(j->valuestring, secrets[i]) == NULL);
        }
        check_secrets(j->child, secrets, nsecrets);
    }
}

/* Each trace record: JSON, and none of the secrets in it whatever the body said. Removed. */
static void
check_spool(const char *const *secrets, size_t nsecrets)
{
    DIR *d = opendir(spool_new);
    sllmp_buf_t b;

    while (spool_take(d, &b)) {
        cJSON *rec = cJSON_ParseWithLength(b.ptr, b.len);

        fuzz_check(rec != NULL);
        fuzz_check(sllmp_utf8_valid(b.ptr, b.len) == b.len);
        check_secrets(rec, secrets, nsecrets);
        cJSON_Delete(rec);
        sllmp_buf_free(&b);
    }
    if (d != NULL) {
        closedir(d);
    }
}

/* The last SSE event's text (from its first line), or NULL when the body has none. */
static const char *
last_event(const char *body, size_t len, size_t *elen)
{
    const char *end = body + len;
    const char *start;

    if (len < 2 || memcmp(end - 2, "\n\n", 2) != 0) {
        return NULL;
    }
    start = end - 2;
    while (start > body && !(start - body >= 2 && start[-1] == '\n' && start[-2] == '\n')) {
        start--;
    }
    *elen = (size_t)(end - start);
    return start;
}

static void
check_stream(const char *path, const char *body, size_t len)
{
    const char *ev;
    size_t elen = 0;

    ev = last_event(body, len, &elen);
    fuzz_check(ev != NULL);
    if (path != NULL && strcmp(path, "/v1/messages") == 0) {
        fuzz_check(strncmp(ev, "event: message_stop\n", 20) == 0 ||
                   strncmp(ev, "event: error\n", 13) == 0);
        return;
    }
    fuzz_check(elen == 14 && memcmp(ev, "data: [DONE]\n\n", 14) == 0);
    /* every event before it is a JSON chunk, a comment or an error, and an error is last */
    const char *p = body;
    int errors = 0;

    while (p < ev) {
        const char *e = memmem(p, (size_t)(ev - p), "\n\n", 2);

        fuzz_check(e != NULL);
        fuzz_check(errors == 0); /* nothing after an error event but [DONE] */
        if (strncmp(p, "data: ", 6) == 0) {
            cJSON *j = cJSON_ParseWithLength(p + 6, (size_t)(e - p - 6));

            fuzz_check(j != NULL);
            if (cJSON_GetObjectItemCaseSensitive(j, "error") != NULL) {
                check_error_json(j);
                errors++;
            }
            cJSON_Delete(j);
        } else {
            fuzz_check(*p == ':');
        }
        p = e + 2;
    }
}

static void
check_output(const fake_io_t *f, const char *path, int gone, const char *input, size_t ilen)
{
    const char *out = f->out.ptr;
    size_t len = f->out.len;
    const char *resp;
    size_t hlen, rlen;
    char ctype[128], clen[64];
    int status;

    status = split_output(out, len, &hlen, &resp, &rlen);
    /* one head only: no header line may hold a line break of its own */

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        /* the mock echoes the body (JSON escapes can spell a key in other letters), X-Trace-ID
         * goes back as it came */
        if (!has(input, ilen, keys[i]) && memchr(input, '\\', ilen) == NULL &&
            strstr(TRACE_ID, keys[i]) == NULL) {
            fuzz_check(!has(out, len, keys[i]));
        }
    }
    if (header(out, hlen, "Content-Length", clen, sizeof(clen)) != NULL && !gone) {
        fuzz_check(strtoull(clen, NULL, 10) == rlen);
    }
    if (header(out, hlen, "Content-Type", ctype, sizeof(ctype)) == NULL) {
        fuzz_check(rlen == 0);
        return;
    }
    if (strcmp(ctype, "application/json") == 0 && !gone) {
        cJSON *j = cJSON_ParseWithLength(resp, rlen);

        fuzz_check(j != NULL);
        if ((status < 200 || status > 299) && !(path != NULL && strcmp(path, "/ready") == 0)) {
            check_error_json(j);
            fuzz_check(sllmp_utf8_valid(resp, rlen) == rlen);
        }
        cJSON_Delete(j);
    } else if (strcmp(ctype, "text/event-stream") == 0 && !gone) {
        fuzz_check(status == 200);
        check_stream(path, resp, rlen);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    const char *params[64];
    const char *secrets[4];
    size_t nsecrets = 0;
    int np = 0, held;
    body_io_t b;
    sllmp_io_t io;
    char *input, *body;
    const char *path;
    char clen[32];
    size_t blen;
    unsigned sel_path, sel_method, sel_auth, sel_hdr;

    if (!inited) {
        init();
        inited = 1;
    }
    if (size < 4) {
        return 0;
    }
    sel_path = data[0] & 15;
    sel_method = data[1] % (sizeof(methods) / sizeof(methods[0]));
    sel_auth = data[2];
    sel_hdr = data[3];
    input = fuzz_str(data + 4, size - 4);
    body = input;
    blen = size - 4;
    path = paths[sel_path];
    if (path == NULL) {
        char *nl = memchr(input, '\n', blen);

        path = input;
        if (nl != NULL) {
            *nl = '\0';
            body = nl + 1;
            blen -= (size_t)(body - input);
        } else {
            body = input + blen;
            blen = 0;
        }
    }

#define PARAM(n, v)                                                                                \
    do {                                                                                           \
        params[np++] = (n);                                                                        \
        params[np++] = (v);                                                                        \
    } while (0)

    if (methods[sel_method] != NULL) {
        PARAM("REQUEST_METHOD", methods[sel_method]);
    }
    PARAM("REQUEST_URI", path);
    held = (data[0] >> 4) & 1;
    PARAM("SLLMP_CONFIG", conf_paths[held]);
    if (!held) {
        /* the flushed config's master and provider keys; a virtual key is only known by its
         * hash, so the trace can redact it only when the request presents it */
        secrets[nsecrets++] = MASTER_KEY;
        secrets[nsecrets++] = PROVIDER_KEY;
        secrets[nsecrets++] = AWS_SECRET;
    }
    switch (sel_auth & 7) {
    case 0:
        break;
    case 1:
        PARAM("HTTP_AUTHORIZATION", "Bearer " MASTER_KEY);
        secrets[nsecrets++] = MASTER_KEY;
        break;
    case 2:
        PARAM("HTTP_AUTHORIZATION", "bearer    " MASTER_KEY);
        secrets[nsecrets++] = MASTER_KEY;
        break;
    case 3:
        PARAM("HTTP_X_API_KEY", VIRTUAL_KEY);
        secrets[nsecrets++] = VIRTUAL_KEY;
        break;
    case 4:
        PARAM("HTTP_API_KEY", VIRTUAL_KEY);
        secrets[nsecrets++] = VIRTUAL_KEY;
        break;
    case 5:
        PARAM("HTTP_AUTHORIZATION", "Bearer " WRONG_KEY);
        secrets[nsecrets++] = WRONG_KEY;
        break;
    case 6:
        PARAM("HTTP_AUTHORIZATION", "Basic c2stZnV6ejpzZWNyZXQ=");
        break;
    case 7:
        PARAM("REDIRECT_HTTP_AUTHORIZATION", "Bearer " VIRTUAL_KEY);
        secrets[nsecrets++] = VIRTUAL_KEY;
        break;
    }
    switch ((sel_auth >> 3) & 7) {
    case 1:
        snprintf(clen, sizeof(clen), "%zu", blen);
        PARAM("CONTENT_LENGTH", clen);
        break;
    case 2:
        PARAM("CONTENT_LENGTH", "0");
        break;
    case 3:
        PARAM("CONTENT_LENGTH", "99999999999999999999");
        break;
    case 4:
        PARAM("CONTENT_LENGTH", "-5");
        break;
    case 5:
        PARAM("CONTENT_LENGTH", "12x");
        break;
    default:
        break;
    }
    if ((sel_auth >> 6) & 1) {
        PARAM("CONTENT_TYPE", "application/json");
    }
    if ((sel_auth >> 7) & 1) {
        PARAM("PATH_INFO", "/v1/chat/completions");
    }
    if (sel_hdr & 1) {
        PARAM("HTTP_X_USER_ID", "fuzz-user");
    }
    if (sel_hdr & 2) {
        PARAM("HTTP_X_SESSION_ID", "fuzz-session");
    }
    switch ((sel_hdr >> 2) & 3) {
    case 1:
        PARAM("HTTP_ORIGIN", "https://ok.example");
        PARAM("HTTP_ACCESS_CONTROL_REQUEST_METHOD", "POST");
        PARAM("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "authorization, content-type, x-user-id");
        break;
    case 2:
        PARAM("HTTP_ORIGIN", "https://evil.example");
        break;
    case 3:
        PARAM("HTTP_ORIGIN", "");
        break;
    default:
        break;
    }
    switch ((sel_hdr >> 4) & 3) {
    case 1:
        PARAM("HTTP_X_TRACE_ID", "4BF92F3577B34DA6A3CE929D0E0E4736");
        break;
    case 2:
        PARAM("HTTP_TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        PARAM("HTTP_X_TRACE_ID", TRACE_ID);
        break;
    case 3:
        PARAM("HTTP_X_REQUEST_ID", "req-fuzz-1");
        PARAM("HTTP_ANTHROPIC_BETA", "interleaved-thinking-2025-05-14");
        break;
    default:
        break;
    }
    if (sel_hdr & 64) {
        PARAM("REMOTE_ADDR", "127.0.0.1");
        PARAM("HTTP_X_FORWARDED_FOR", "10.0.0.1");
    } else {
        PARAM("REMOTE_ADDR", "192.0.2.7");
    }
    params[np] = NULL;
#undef PARAM

    fake_init(&b.f, &io, params, NULL);
    b.body = body;
    b.len = blen;
    b.pos = 0;
    io.ctx = &b;
    io.read = body_read;
    if (sel_hdr & 128) {
        b.f.gone_after_flushes = 1 + (data[1] >> 4) % 3;
    }
    sllmp_handle(&io, worker);
    check_output(&b.f, path, b.f.gone_after_flushes > 0, (const char *)data + 4, size - 4);
    check_spool(secrets, nsecrets);
    sllmp_buf_free(&b.f.out);
    free(input);
    return 0;
}
