/*
 * Whole requests through sllmp_handle() and the pipeline with the loopback harness: routing,
 * validation (JSON transforms and `param`), the mock provider streamed and not, the usage chunk
 * policy, a departed client, CORS, the OpenAI upstream body rewrite, and held streams
 * (sllmp.buffer_streams) against the mock and a canned upstream on a loopback socket.
 */
#include "sllmp/conf.h"
#include "sllmp/core.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <cmocka.h>

#include "harness.h"
#include "../http_peer.h"

/* upstream_body() is static: reach it by inclusion */
#include "../../src/providers/openai.c"

static char *conf_path;
static char *conf_buffered; /* the same with sllmp.buffer_streams: true */
static sllmp_worker_ctx_t *worker;

static char rundir[] = "/tmp/sllmp-unit-XXXXXX";

static char spool[sizeof(rundir) + 16];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/*
 * A canned OpenAI upstream on a loopback socket, one connection at a time, chosen by the model
 * name in the request: canned-ok streams a whole answer, canned-err fails after two events,
 * canned-late429 is silent for 350 ms (heartbeats go out meanwhile) and then answers 429.
 */
static int up_port;
static pthread_t up_thread;

#define CANNED_CHUNK(delta, finish)                                                                \
    "data: {\"id\":\"chatcmpl-canned\",\"object\":\"chat.completion.chunk\",\"created\":"          \
    "1700000000,\"model\":\"canned\",\"choices\":[{\"index\":0,\"delta\":" delta                   \
    ",\"logprobs\":null,\"finish_reason\":" finish "}]}\n\n"

static const char canned_head[] = "HTTP/1.1 200 OK\r\n"
                                  "Content-Type: text/event-stream\r\n"
                                  "Connection: close\r\n\r\n";
static const char canned_start[] = CANNED_CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null")
    CANNED_CHUNK("{\"content\":\"Hello\"}", "null");
static const char canned_rest[] = CANNED_CHUNK("{\"content\":\" world\"}", "null") CANNED_CHUNK(
    "{}",
    "\"stop\"") "data: "
                "{\"id\":\"chatcmpl-canned\",\"object\":\"chat.completion.chunk\",\"created\":"
                "1700000000,\"model\":\"canned\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
                "\"completion_tokens\":2,\"total_tokens\":7}}\n\n"
                "data: [DONE]\n\n";
static const char canned_error[] =
    "data: {\"error\":{\"message\":\"canned failure\",\"type\":\"server_error\"}}\n\n";
static const char canned_429[] = "HTTP/1.1 429 Too Many Requests\r\n"
                                 "Content-Type: application/json\r\n"
                                 "Retry-After: 7\r\n"
                                 "Content-Length: 80\r\n"
                                 "Connection: close\r\n\r\n"
                                 "{\"error\":{\"message\":\"slow down\",\"type\":\"requests\","
                                 "\"code\":\"rate_limit_exceeded\"}}";

static void
serve(int fd)
{
    char req[16384];

    if (peer_read_request(fd, req, sizeof(req)) == 0) {
        return;
    }
    if (strstr(req, "canned-late429") != NULL) {
        struct timespec ts = {0, 350 * 1000000L};

        nanosleep(&ts, NULL);
        peer_sends(fd, canned_429);
        return;
    }
    peer_sends(fd, canned_head);
    peer_sends(fd, canned_start);
    peer_sends(fd, strstr(req, "canned-err") != NULL ? canned_error : canned_rest);
}

static void
upstream_start(void)
{
    up_port = peer_start(serve, &up_thread);
    assert_true(up_port > 0);
}

static char *
config_text(const char *extra)
{
    return sllmp_xasprintf("model_list:\n"
                           "  - model_name: m\n"
                           "    litellm_params: {model: mock/echo, mock_delay_ms: 0}\n"
                           "  - model_name: slow\n"
                           "    litellm_params: {model: mock/echo, mock_delay_ms: 120}\n"
                           "  - model_name: up\n"
                           "    litellm_params: {model: openai/real-name, api_base: "
                           "\"http://127.0.0.1:1/v1\"}\n"
                           "  - model_name: canned\n"
                           "    litellm_params: {model: openai/canned-ok, api_base: "
                           "\"http://127.0.0.1:%d/v1\"}\n"
                           "  - model_name: canned-err\n"
                           "    litellm_params: {model: openai/canned-err, api_base: "
                           "\"http://127.0.0.1:%d/v1\"}\n"
                           "  - model_name: canned-late429\n"
                           "    litellm_params: {model: openai/canned-late429, api_base: "
                           "\"http://127.0.0.1:%d/v1\"}\n"
                           "  - model_name: img\n"
                           "    litellm_params: {model: openai/gpt-image-1, api_base: "
                           "\"http://127.0.0.1:1/v1\"}\n"
                           "  - model_name: claude\n"
                           "    litellm_params: {model: anthropic/claude-x, api_key: sk-a, "
                           "api_base: \"http://127.0.0.1:1\"}\n"
                           "  - model_name: az\n"
                           "    litellm_params: {model: azure/echo, api_key: az-k, api_version: "
                           "2024-10-21, api_base: \"http://127.0.0.1:1\"}\n"
                           "general_settings: {master_key: sk-master}\n"
                           "router_settings: {num_retries: 0}\n" /* one attempt: test_route.c */
                           "keys:\n"
                           "  - {name: k1, key: sk-k1, models: [m], user: owner1}\n"
                           "  - {name: old, key: sk-old, expires: 2020-01-01}\n"
                           "sllmp:\n"
                           "  max_body_bytes: 2048\n"
                           "  max_json_depth: 8\n"
                           "  heartbeat_ms: 100\n"
                           "  spool: {dir: %s}\n"
                           "  cors: {origins: [https://ok.example]}\n"
                           "%s",
                           up_port, up_port, up_port, spool, extra);
}

static int
setup(void **state)
{
    char *text;

    (void)state;
    assert_non_null(mkdtemp(rundir)); /* the local limit store and the spool go there */
    setenv("SLLMP_RUNDIR", rundir, 1);
    snprintf(spool, sizeof(spool), "%s/spool", rundir);
    upstream_start();
    text = config_text("");
    conf_path = write_temp(text);
    free(text);
    text = config_text("  buffer_streams: true\n");
    conf_buffered = write_temp(text);
    free(text);
    setenv("SLLMP_CONFIG", conf_path, 1);
    assert_int_equal(sllmp_core_init(), 0);
    worker = sllmp_worker_new(0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sllmp_worker_free(worker);
    sllmp_core_fini();
    sllmp_conf_cache_flush();
    peer_stop(up_thread);
    unlink(conf_path);
    free(conf_path);
    unlink(conf_buffered);
    free(conf_buffered);
    nftw(rundir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

#define AUTH "HTTP_AUTHORIZATION", "Bearer sk-master"

static void
run(fake_io_t *f, const char *const *params, const char *body)
{
    sllmp_io_t io;

    fake_init(f, &io, params, body);
    sllmp_handle(&io, worker);
}

static void
post(fake_io_t *f, const char *body)
{
    static const char *const params[] = {"REQUEST_METHOD",       "POST", "REQUEST_URI",
                                         "/v1/chat/completions", AUTH,   NULL};

    run(f, params, body);
}

static cJSON *
body_json(const fake_io_t *f)
{
    cJSON *j = cJSON_Parse(fake_body(f));

    assert_non_null(j);
    return j;
}

/* The error a POST of body to uri is answered with: its status, code and param (NULL: null). */
static void
expect_error_at(const char *uri, const char *body, int status, const char *code, const char *param)
{
    const char *const params[] = {"REQUEST_METHOD", "POST", "REQUEST_URI", uri, AUTH, NULL};
    fake_io_t f;
    cJSON *j, *e;

    run(&f, params, body);
    assert_int_equal(fake_status(&f), status);
    j = body_json(&f);
    e = cJSON_GetObjectItem(j, "error");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, code);
    if (param != NULL) {
        assert_string_equal(cJSON_GetObjectItem(e, "param")->valuestring, param);
    } else {
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "param")));
    }
    assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "message")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "type")));
    cJSON_Delete(j);
    sllmp_buf_free(&f.out);
}

static void
expect_error(const char *body, int status, const char *code, const char *param)
{
    expect_error_at("/v1/chat/completions", body, status, code, param);
}

static void
test_unstreamed_echo(void **state)
{
    fake_io_t f;
    cJSON *j;

    (void)state;
    post(&f, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"},"
             "{\"type\":\"text\",\"text\":\"world\"}]}],\"metadata\":null,\"user\":\"u1\"}");
    assert_int_equal(fake_status(&f), 200);
    assert_non_null(strstr(f.out.ptr, "X-Request-ID: "));
    assert_non_null(strstr(f.out.ptr, "X-Duration-Ms: "));
    j = body_json(&f);
    assert_string_equal(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion");
    cJSON *msg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    assert_string_equal(cJSON_GetObjectItem(msg, "content")->valuestring, "hello world");
    assert_non_null(cJSON_GetObjectItem(j, "usage"));
    cJSON_Delete(j);
    sllmp_buf_free(&f.out);
}

/* Counts `data: ` events and whether one has "choices":[] */
static int
count_events(const char *s, int *usage_chunks)
{
    int n = 0;

    *usage_chunks = 0;
    for (const char *p = strstr(s, "data: "); p; p = strstr(p + 1, "\n\ndata: ")) {
        n++;
        const char *end = strstr(p + 1, "\n\n");

        if (end && memmem(p, (size_t)(end - p), "\"choices\":[]", 12)) {
            (*usage_chunks)++;
        }
    }
    return n;
}

static void
test_streamed_usage_policy(void **state)
{
    fake_io_t f;
    int usage;

    (void)state;
    post(&f, "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"a b "
             "c\"}]}");
    assert_int_equal(fake_status(&f), 200);
    assert_non_null(strstr(f.out.ptr, "Content-Type: text/event-stream\r\n"));
    assert_non_null(strstr(f.out.ptr, "Cache-Control: no-cache\r\n"));
    assert_non_null(strstr(f.out.ptr, "X-Accel-Buffering: no\r\n"));
    /* role chunk, 3 words, finish chunk, [DONE]; the usage chunk was not asked for */
    assert_int_equal(count_events(fake_body(&f), &usage), 6);
    assert_int_equal(usage, 0);
    assert_non_null(strstr(f.out.ptr, "data: [DONE]\n\n"));
    assert_true(f.flushes >= 6); /* one flush per event */
    sllmp_buf_free(&f.out);

    post(&f, "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
             "\"messages\":[{\"role\":\"user\",\"content\":\"a b c\"}]}");
    assert_int_equal(count_events(fake_body(&f), &usage), 7);
    assert_int_equal(usage, 1);
    /* the usage chunk comes last, right before [DONE] */
    const char *u = strstr(f.out.ptr, "\"choices\":[]");
    assert_non_null(u);
    assert_null(strstr(u, "\"delta\""));
    sllmp_buf_free(&f.out);
}

static void
test_client_gone_mid_stream(void **state)
{
    static const char *const params[] = {"REQUEST_METHOD",       "POST", "REQUEST_URI",
                                         "/v1/chat/completions", AUTH,   NULL};
    sllmp_io_t io;
    fake_io_t f;
    int usage;

    (void)state;
    fake_init(&f, &io, params,
              "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
              "\"content\":\"1 2 3 4 5 6 7 8 9 10 11 12\"}]}");
    f.gone_after_flushes = 3;
    sllmp_handle(&io, worker);
    /* the provider stopped: nothing after the departure, and no [DONE] */
    assert_true(count_events(fake_body(&f), &usage) <= 3);
    assert_null(strstr(f.out.ptr, "[DONE]"));
    sllmp_buf_free(&f.out);
}

static void
test_bad_input(void **state)
{
    char big[3000];

    (void)state;
    expect_error("{not json", 400, "invalid_json", NULL);
    expect_error("[1,2]", 400, "invalid_json", NULL);
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]} trailing",
                 400, "invalid_json", NULL);
    expect_error("{} {}", 400, "invalid_json", NULL);
    expect_error("{\"a\":[[[[[[[[[[1]]]]]]]]]]}", 400, "json_too_deep", NULL);
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400,
                 "missing_required_parameter", "model");
    expect_error("{\"model\":\"m\"}", 400, "missing_required_parameter", "messages");
    expect_error("{\"model\":7,\"messages\":[]}", 400, "invalid_value", "model");
    expect_error("{\"model\":\"m\",\"messages\":\"hi\"}", 400, "invalid_value", "messages");
    expect_error("{\"model\":\"m\",\"messages\":[]}", 400, "invalid_value", "messages");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
                 "{\"role\":\"robot\",\"content\":\"x\"}]}",
                 400, "invalid_value", "messages[1].role");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", 400,
                 "missing_required_parameter", "messages[0].content");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400,
                 "invalid_value", "messages[0].content");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", 400,
                 "missing_required_parameter", "messages[0].tool_call_id");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"temperature\":\"hot\"}",
                 400, "invalid_value", "temperature");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"temperature\":3}",
                 400, "invalid_value", "temperature");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"n\":1.5}",
                 400, "invalid_value", "n");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"stream\":\"yes\"}",
                 400, "invalid_value", "stream");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"stream_options\":{\"include_usage\":true}}",
                 400, "invalid_value", "stream_options");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"metadata\":[1]}",
                 400, "invalid_value", "metadata");
    expect_error("{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404,
                 "model_not_found", "model");
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    big[sizeof(big) - 1] = '\0';
    expect_error(big, 413, "request_too_large", NULL);
}

static void
test_images_and_moderations_refused(void **state)
{
    static const char images[] = "/v1/images/generations", mod[] = "/v1/moderations";

    (void)state;
    expect_error_at(images, "{\"model\":\"img\"}", 400, "missing_required_parameter", "prompt");
    expect_error_at(images, "{\"model\":\"img\",\"prompt\":null}", 400,
                    "missing_required_parameter", "prompt");
    expect_error_at(images, "{\"model\":\"img\",\"prompt\":[\"a\"]}", 400, "invalid_value",
                    "prompt");
    expect_error_at(images, "{\"model\":\"img\",\"prompt\":\"\"}", 400, "invalid_value", "prompt");
    expect_error_at(images, "{\"model\":\"img\",\"prompt\":\"a\",\"n\":0}", 400, "invalid_value",
                    "n");
    expect_error_at(images, "{\"model\":\"img\",\"prompt\":\"a\",\"n\":1.5}", 400, "invalid_value",
                    "n");
    expect_error_at(images, "{\"model\":\"img\",\"prompt\":\"a\",\"size\":1024}", 400,
                    "invalid_value", "size");
    expect_error_at(images, "{\"model\":\"img\",\"prompt\":\"a\",\"stream\":true}", 400,
                    "invalid_value", "stream");
    expect_error_at("/images/generations", "{\"prompt\":\"a\"}", 400, "missing_required_parameter",
                    "model");
    expect_error_at(images, "{\"model\":\"nope\",\"prompt\":\"a\"}", 404, "model_not_found",
                    "model");
    expect_error_at(images, "{\"model\":\"claude\",\"prompt\":\"a\"}", 400, "invalid_value",
                    "model");
    expect_error_at(images, "{\"model\":\"m\",\"prompt\":\"a\"}", 400, "invalid_value", "model");
    expect_error_at(mod, "{\"model\":\"img\"}", 400, "missing_required_parameter", "input");
    expect_error_at(mod, "{\"model\":\"img\",\"input\":7}", 400, "invalid_value", "input");
    expect_error_at(mod, "{\"model\":\"img\",\"input\":[]}", 400, "invalid_value", "input");
    expect_error_at(mod, "{\"model\":\"img\",\"input\":[\"a\",{\"type\":\"text\"}]}", 400,
                    "invalid_value", "input");
    expect_error_at(mod, "{\"model\":\"img\",\"input\":[{\"text\":\"a\"}]}", 400, "invalid_value",
                    "input");
    /* no model, and none of OpenAI's default names configured */
    expect_error_at("/moderations", "{\"input\":\"a\"}", 400, "missing_required_parameter",
                    "model");
    expect_error_at(mod, "{\"model\":\"az\",\"input\":\"a\"}", 400, "invalid_value", "model");
    expect_error_at(mod, "{\"model\":\"claude\",\"input\":[\"a\"]}", 400, "invalid_value", "model");
}

static void
test_trace_cut_images(void **state)
{
    cJSON *data = cJSON_Parse("[{\"b64_json\":\"aGVsbG8gd29ybGQ=\",\"revised_prompt\":\"p\"},"
                              "{\"url\":\"https://x.example/a.png\"},{\"b64_json\":null},7]");
    char *text;

    (void)state;
    assert_non_null(data);
    sllmp_trace_cut_images(data);
    text = cJSON_PrintUnformatted(data);
    assert_string_equal(text,
                        "[{\"b64_json\":\"[b64_json: 16 characters]\",\"revised_prompt\":"
                        "\"p\"},{\"url\":\"https://x.example/a.png\"},{\"b64_json\":null},7]");
    cJSON_free(text);
    sllmp_trace_cut_images(NULL); /* an answer without data */
    cJSON_Delete(data);
}

static void
test_routes_and_auth(void **state)
{
    static const char *const health[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/health?x=1",
                                         NULL};
    static const char *const models_noauth[] = {"REQUEST_METHOD", "GET", "REQUEST_URI",
                                                "/v1/models", NULL};
    static const char *const models[] = {"REQUEST_METHOD", "GET", "REQUEST_URI",
                                         "/v1/models",     AUTH,  NULL};
    static const char *const wrongkey[] = {
        "REQUEST_METHOD",   "POST", "REQUEST_URI", "/chat/completions", "HTTP_AUTHORIZATION",
        "Bearer sk-mastex", NULL};
    static const char *const method[] = {"REQUEST_METHOD",       "GET", "REQUEST_URI",
                                         "/v1/chat/completions", AUTH,  NULL};
    static const char *const unknown[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/v2/x", NULL};
    fake_io_t f;

    (void)state;
    run(&f, health, NULL);
    assert_int_equal(fake_status(&f), 200);
    assert_string_equal(fake_body(&f), "{\"status\":\"ok\"}");
    sllmp_buf_free(&f.out);

    run(&f, models_noauth, NULL);
    assert_int_equal(fake_status(&f), 401);
    assert_non_null(strstr(f.out.ptr, "\"invalid_api_key\""));
    sllmp_buf_free(&f.out);

    run(&f, models, NULL);
    assert_int_equal(fake_status(&f), 200);
    assert_non_null(strstr(fake_body(&f), "{\"object\":\"list\",\"data\":[{\"id\":\"m\",\"object\":"
                                          "\"model\",\"created\":"));
    assert_non_null(strstr(fake_body(&f), "\"id\":\"up\""));
    sllmp_buf_free(&f.out);

    run(&f, wrongkey, "{}");
    assert_int_equal(fake_status(&f), 401);
    sllmp_buf_free(&f.out);

    run(&f, method, NULL);
    assert_int_equal(fake_status(&f), 405);
    assert_non_null(strstr(f.out.ptr, "Allow: POST, OPTIONS\r\n"));
    sllmp_buf_free(&f.out);

    run(&f, unknown, NULL);
    assert_int_equal(fake_status(&f), 404);
    assert_non_null(strstr(f.out.ptr, "\"not_found\""));
    sllmp_buf_free(&f.out);
}

static void
test_virtual_keys(void **state)
{
    static const char *const chat_k1[] = {
        "REQUEST_METHOD",     "POST",         "REQUEST_URI", "/v1/chat/completions",
        "HTTP_AUTHORIZATION", "Bearer sk-k1", NULL};
    static const char *const chat_old[] = {
        "REQUEST_METHOD",     "POST",          "REQUEST_URI", "/v1/chat/completions",
        "HTTP_AUTHORIZATION", "Bearer sk-old", NULL};
    static const char *const models_k1[] = {"REQUEST_METHOD", "GET",   "REQUEST_URI", "/v1/models",
                                            "HTTP_X_API_KEY", "sk-k1", NULL};
    fake_io_t f;

    (void)state;
    run(&f, chat_k1, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assert_int_equal(fake_status(&f), 200);
    sllmp_buf_free(&f.out);

    /* a model the key may not use: 403, even though it exists */
    run(&f, chat_k1, "{\"model\":\"up\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assert_int_equal(fake_status(&f), 403);
    assert_non_null(strstr(f.out.ptr, "\"code\":\"permission_denied\""));
    assert_non_null(strstr(f.out.ptr, "\"param\":\"model\""));
    sllmp_buf_free(&f.out);

    run(&f, chat_old, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assert_int_equal(fake_status(&f), 401);
    assert_non_null(strstr(f.out.ptr, "expired"));
    sllmp_buf_free(&f.out);

    /* the list shows what the key may use */
    run(&f, models_k1, NULL);
    assert_int_equal(fake_status(&f), 200);
    assert_non_null(strstr(fake_body(&f), "\"id\":\"m\""));
    assert_null(strstr(fake_body(&f), "\"id\":\"up\""));
    sllmp_buf_free(&f.out);
}

static void
test_cors(void **state)
{
    static const char *const ok[] = {"REQUEST_METHOD",
                                     "OPTIONS",
                                     "REQUEST_URI",
                                     "/v1/chat/completions",
                                     "HTTP_ORIGIN",
                                     "https://ok.example",
                                     "HTTP_ACCESS_CONTROL_REQUEST_METHOD",
                                     "POST",
                                     NULL};
    static const char *const bad[] = {
        "REQUEST_METHOD",       "OPTIONS", "REQUEST_URI", "/v1/chat/completions", "HTTP_ORIGIN",
        "https://evil.example", NULL};
    fake_io_t f;

    (void)state;
    run(&f, ok, NULL);
    assert_int_equal(fake_status(&f), 204);
    assert_non_null(strstr(f.out.ptr, "Access-Control-Allow-Origin: https://ok.example\r\n"));
    assert_non_null(strstr(f.out.ptr, "Access-Control-Allow-Methods: POST, OPTIONS\r\n"));
    assert_non_null(strstr(f.out.ptr, "Access-Control-Allow-Headers: "));
    sllmp_buf_free(&f.out);

    run(&f, bad, NULL);
    assert_int_equal(fake_status(&f), 403);
    assert_null(strstr(f.out.ptr, "Access-Control-Allow-Origin"));
    sllmp_buf_free(&f.out);
}

static void
test_upstream_body_rewrite(void **state)
{
    sllmp_req_t r;
    char name[] = "real-name", old_version[] = "2024-06-01", new_version[] = "2024-09-01-preview";
    sllmp_deployment_t d = {.model = name};
    sllmp_arena_t a;
    char *out;
    cJSON *j, *so;
    int asked;

    (void)state;
    memset(&r, 0, sizeof(r));
    sllmp_arena_init(&a, 0);
    r.arena = &a;
    r.dep = &d;
    r.stream = 1;
    r.json = cJSON_Parse("{\"model\":\"alias\",\"stream\":true,\"stream_options\":"
                         "{\"include_usage\":false,\"x\":1},\"messages\":[],\"extra\":\"kept\"}");
    out = upstream_body(&r, &asked);
    assert_int_equal(asked, 1);
    j = cJSON_Parse(out);
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "real-name");
    so = cJSON_GetObjectItem(j, "stream_options");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(so, "include_usage")));
    assert_int_equal(cJSON_GetObjectItem(so, "x")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(j, "extra")->valuestring, "kept");
    cJSON_Delete(j);
    cJSON_free(out);
    cJSON_Delete(r.json);

    /* no stream_options at all: added */
    r.json = cJSON_Parse("{\"model\":\"alias\",\"stream\":true,\"messages\":[]}");
    out = upstream_body(&r, &asked);
    assert_non_null(strstr(out, "\"stream_options\":{\"include_usage\":true}"));
    cJSON_free(out);
    cJSON_Delete(r.json);

    /* Azure before 2024-09-01-preview refuses stream_options: none goes, not even the
     * client's, which stays in the request for a fallback deployment */
    d.provider = SLLMP_PROVIDER_AZURE;
    d.api_version = old_version;
    r.json = cJSON_Parse("{\"model\":\"a\",\"stream\":true,\"messages\":[],"
                         "\"stream_options\":{\"include_usage\":true}}");
    out = upstream_body(&r, &asked);
    assert_int_equal(asked, 0);
    assert_null(strstr(out, "stream_options"));
    assert_non_null(cJSON_GetObjectItem(r.json, "stream_options"));
    cJSON_free(out);
    cJSON_Delete(r.json);
    d.api_version = new_version;
    r.json = cJSON_Parse("{\"model\":\"a\",\"stream\":true,\"messages\":[]}");
    out = upstream_body(&r, &asked);
    assert_int_equal(asked, 1);
    assert_non_null(strstr(out, "\"stream_options\":{\"include_usage\":true}"));
    cJSON_free(out);
    cJSON_Delete(r.json);
    d.provider = SLLMP_PROVIDER_OPENAI;
    d.api_version = NULL;

    /* unstreamed: no stream_options added */
    r.stream = 0;
    r.json = cJSON_Parse("{\"model\":\"alias\",\"messages\":[]}");
    out = upstream_body(&r, &asked);
    assert_int_equal(asked, 0);
    assert_null(strstr(out, "stream_options"));
    cJSON_free(out);
    cJSON_Delete(r.json);

    /* metadata is the gateway's: upstream only as OpenAI stores it (strings, store: true) */
    r.json = cJSON_Parse("{\"model\":\"a\",\"messages\":[],\"metadata\":{\"tags\":[\"x\"]}}");
    out = upstream_body(&r, &asked);
    assert_null(strstr(out, "metadata"));
    assert_non_null(cJSON_GetObjectItem(r.json, "metadata")); /* kept for the trace */
    cJSON_free(out);
    cJSON_Delete(r.json);
    r.json = cJSON_Parse("{\"model\":\"a\",\"messages\":[],\"store\":true,"
                         "\"metadata\":{\"k\":\"v\"}}");
    out = upstream_body(&r, &asked);
    assert_non_null(strstr(out, "\"metadata\":{\"k\":\"v\"}"));
    cJSON_free(out);
    cJSON_Delete(r.json);
    sllmp_arena_destroy(&a);
}

/* The body upstream_body() sends for body; r->json is the client's again after it. */
static cJSON *
sent_for(sllmp_req_t *r, const char *body)
{
    cJSON *before = cJSON_Parse(body), *j;
    int asked;
    char *out;

    r->json = cJSON_Parse(body);
    out = upstream_body(r, &asked);
    j = cJSON_Parse(out);
    cJSON_free(out);
    assert_non_null(j);
    /* limits, the trace and a fallback deployment see the client's parameters again (the
     * model aside, which is the deployment's from here on) */
    cJSON_DeleteItemFromObject(r->json, "model");
    cJSON_DeleteItemFromObject(before, "model");
    assert_true(cJSON_Compare(r->json, before, 1));
    cJSON_Delete(before);
    cJSON_Delete(r->json);
    r->json = NULL;
    return j;
}

static int
has(const cJSON *j, const char *name)
{
    return cJSON_HasObjectItem(j, name);
}

static int
num(const cJSON *j, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(j, name)->valueint;
}

static void
test_upstream_body_param_map(void **state)
{
    static const struct {
        const char *provider_name, *model, *base_model;
        sllmp_provider_t provider;
        int reasoning; /* the deployment's route flag */
        int maps;      /* max_tokens goes as max_completion_tokens */
    } cases[] = {
        {"openai", "o1", NULL, SLLMP_PROVIDER_OPENAI, 0, 1},
        {"openai", "o3-mini", NULL, SLLMP_PROVIDER_OPENAI, 0, 1},
        {"openai", "o4-mini-2025-04-16", NULL, SLLMP_PROVIDER_OPENAI, 0, 1},
        {"openai", "gpt-5", NULL, SLLMP_PROVIDER_OPENAI, 0, 1},
        {"openai", "gpt-5-mini-2025-08-07", NULL, SLLMP_PROVIDER_OPENAI, 0, 1},
        {"openai", "gpt-5.1", NULL, SLLMP_PROVIDER_OPENAI, 0, 1},
        {"openai", "ft:o4-mini-2025-04-16:acme::abc", NULL, SLLMP_PROVIDER_OPENAI, 0, 1},
        {"openai", "gpt-5-chat-latest", NULL, SLLMP_PROVIDER_OPENAI, 0, 0},
        {"openai", "gpt-4o", NULL, SLLMP_PROVIDER_OPENAI, 0, 0},
        {"openai", "gpt-4o-mini", NULL, SLLMP_PROVIDER_OPENAI, 0, 0},
        {"openai", "omni-moderation-latest", NULL, SLLMP_PROVIDER_OPENAI, 0, 0},
        {"openai", "my-ft", "openai/o3-mini", SLLMP_PROVIDER_OPENAI, 0, 1},
        /* not OpenAI's models, whatever they are called */
        {"groq", "o3-mini", NULL, SLLMP_PROVIDER_OPENAI, 0, 0},
        {"openrouter", "openai/gpt-5", NULL, SLLMP_PROVIDER_OPENAI, 0, 0},
        /* Azure: the deployment's name, base_model, LiteLLM's o_series/ route */
        {"azure", "o3-mini", NULL, SLLMP_PROVIDER_AZURE, 0, 1},
        {"azure", "prod-gpt-5-mini", NULL, SLLMP_PROVIDER_AZURE, 0, 1},
        {"azure", "demo1", NULL, SLLMP_PROVIDER_AZURE, 0, 0},
        {"azure", "reasoner", NULL, SLLMP_PROVIDER_AZURE, 0, 0},
        {"azure", "reasoner", "azure/o3-mini", SLLMP_PROVIDER_AZURE, 0, 1},
        {"azure", "o3-mini", "azure/gpt-4o", SLLMP_PROVIDER_AZURE, 0, 0},
        {"azure", "reasoner", NULL, SLLMP_PROVIDER_AZURE, 1, 1},
    };
    sllmp_req_t r;
    sllmp_deployment_t d;
    sllmp_arena_t a;
    cJSON *j;

    (void)state;
    memset(&r, 0, sizeof(r));
    sllmp_arena_init(&a, 0);
    r.arena = &a;
    r.dep = &d;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&d, 0, sizeof(d));
        d.provider_name = (char *)(uintptr_t)cases[i].provider_name;
        d.model = (char *)(uintptr_t)cases[i].model;
        d.base_model = (char *)(uintptr_t)cases[i].base_model;
        d.provider = cases[i].provider;
        d.reasoning = cases[i].reasoning;
        r.kind = SLLMP_KIND_CHAT;
        j = sent_for(&r, "{\"model\":\"a\",\"messages\":[],\"max_tokens\":50}");
        if (has(j, "max_tokens") == cases[i].maps ||
            has(j, "max_completion_tokens") != cases[i].maps) {
            fail_msg("%s/%s (base_model %s)", cases[i].provider_name, cases[i].model,
                     cases[i].base_model ? cases[i].base_model : "none");
        }
        assert_int_equal(num(j, cases[i].maps ? "max_completion_tokens" : "max_tokens"), 50);
        cJSON_Delete(j);
        /* both given: max_completion_tokens goes, max_tokens is left out */
        j = sent_for(&r, "{\"model\":\"a\",\"messages\":[],\"max_tokens\":50,"
                         "\"max_completion_tokens\":70}");
        assert_int_equal(num(j, "max_completion_tokens"), 70);
        assert_int_equal(has(j, "max_tokens"), !cases[i].maps);
        cJSON_Delete(j);
        /* the legacy completions API has max_tokens only */
        r.kind = SLLMP_KIND_COMPLETIONS;
        j = sent_for(&r, "{\"model\":\"a\",\"prompt\":\"x\",\"max_tokens\":50}");
        assert_int_equal(num(j, "max_tokens"), 50);
        assert_false(has(j, "max_completion_tokens"));
        cJSON_Delete(j);
    }

    /* Mistral: max_tokens, random_seed, no user; under mistral/ or at its host */
    for (int k = 0; k < 2; k++) {
        char base[] = "https://api.mistral.ai/v1/";

        memset(&d, 0, sizeof(d));
        d.provider_name = (char *)(uintptr_t)(k == 0 ? "mistral" : "openai");
        d.api_base = k == 0 ? NULL : base;
        d.model = (char *)(uintptr_t) "mistral-large-latest";
        r.kind = SLLMP_KIND_CHAT;
        j = sent_for(&r, "{\"model\":\"a\",\"messages\":[],\"max_completion_tokens\":50,"
                         "\"seed\":7,\"user\":\"u1\",\"tool_choice\":\"required\"}");
        assert_int_equal(num(j, "max_tokens"), 50);
        assert_int_equal(num(j, "random_seed"), 7);
        assert_false(has(j, "max_completion_tokens"));
        assert_false(has(j, "seed"));
        assert_false(has(j, "user"));
        /* Mistral takes "required" (its "any" is the deprecated name) */
        assert_string_equal(cJSON_GetObjectItem(j, "tool_choice")->valuestring, "required");
        cJSON_Delete(j);
        /* both: max_completion_tokens wins (what the limits reserved for); random_seed wins */
        j = sent_for(&r, "{\"model\":\"a\",\"messages\":[],\"max_completion_tokens\":50,"
                         "\"max_tokens\":90,\"seed\":7,\"random_seed\":8}");
        assert_int_equal(num(j, "max_tokens"), 50);
        assert_int_equal(num(j, "random_seed"), 8);
        assert_false(has(j, "max_completion_tokens"));
        assert_false(has(j, "seed"));
        cJSON_Delete(j);
        j = sent_for(&r, "{\"model\":\"a\",\"messages\":[],\"max_tokens\":90}");
        assert_int_equal(num(j, "max_tokens"), 90);
        cJSON_Delete(j);
        /* no name on its user, system and assistant messages; a tool message keeps its own
         * (sent_for: the client's messages are as they came after) */
        j = sent_for(&r,
                     "{\"model\":\"a\",\"messages\":[{\"role\":\"system\",\"name\":\"s\","
                     "\"content\":\"x\"},{\"role\":\"user\",\"name\":\"u\",\"content\":\"x\"},"
                     "{\"role\":\"tool\",\"name\":\"f\",\"tool_call_id\":\"c\",\"content\":\"x\"},"
                     "{\"name\":\"no-role\"}]}");
        {
            const cJSON *ms = cJSON_GetObjectItem(j, "messages");

            assert_int_equal(cJSON_GetArraySize(ms), 4);
            assert_false(has(cJSON_GetArrayItem(ms, 0), "name"));
            assert_false(has(cJSON_GetArrayItem(ms, 1), "name"));
            assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 2), "name")->valuestring,
                                "f");
            assert_false(has(cJSON_GetArrayItem(ms, 3), "name"));
            assert_string_equal(
                cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 1), "content")->valuestring, "x");
        }
        cJSON_Delete(j);
    }
    /* xAI: a name on user messages only; under xai/ or at its host; the rest of the body
     * (stream_options, max_completion_tokens) as it came */
    for (int k = 0; k < 2; k++) {
        char base[] = "https://api.x.ai/v1";

        memset(&d, 0, sizeof(d));
        d.provider_name = (char *)(uintptr_t)(k == 0 ? "xai" : "openai");
        d.api_base = k == 0 ? NULL : base;
        d.model = (char *)(uintptr_t) "grok-4";
        r.kind = SLLMP_KIND_CHAT;
        j = sent_for(
            &r, "{\"model\":\"a\",\"max_completion_tokens\":50,\"messages\":["
                "{\"role\":\"system\",\"name\":\"s\",\"content\":\"x\"},"
                "{\"role\":\"user\",\"name\":\"u\",\"content\":\"x\"},"
                "{\"role\":\"assistant\",\"name\":\"a\",\"content\":\"x\"},"
                "{\"role\":\"tool\",\"name\":\"f\",\"tool_call_id\":\"c\",\"content\":\"x\"}]}");
        {
            const cJSON *ms = cJSON_GetObjectItem(j, "messages");

            assert_int_equal(cJSON_GetArraySize(ms), 4);
            assert_false(has(cJSON_GetArrayItem(ms, 0), "name"));
            assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 1), "name")->valuestring,
                                "u");
            assert_false(has(cJSON_GetArrayItem(ms, 2), "name"));
            assert_false(has(cJSON_GetArrayItem(ms, 3), "name"));
            assert_int_equal(num(j, "max_completion_tokens"), 50);
        }
        cJSON_Delete(j);
    }
    /* other providers get the names as they came */
    memset(&d, 0, sizeof(d));
    d.provider_name = (char *)(uintptr_t) "openai";
    d.model = (char *)(uintptr_t) "gpt-4o";
    j = sent_for(&r, "{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"name\":\"u\","
                     "\"content\":\"x\"}]}");
    assert_true(has(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0), "name"));
    cJSON_Delete(j);
    sllmp_arena_destroy(&a);
}

static void
test_azure_api_version_takes_stream_options(void **state)
{
    static const struct {
        const char *version;
        int takes;
    } cases[] = {
        {"2023-05-15", 0},
        {"2024-02-01", 0},
        {"2024-06-01", 0},
        {"2024-08-01-preview", 0},
        {"2024-09-01-preview", 1},
        {"2024-10-21", 1},
        {"2025-04-01-preview", 1},
        {"preview", 1},
        {"2024-9-01", 1},
        {"", 1},
        {NULL, 1},
    };
    char name[] = "d", version[32];
    sllmp_deployment_t d = {.model = name, .provider = SLLMP_PROVIDER_AZURE};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        d.api_version = NULL; /* the v1 API */
        if (cases[i].version != NULL) {
            snprintf(version, sizeof(version), "%s", cases[i].version);
            d.api_version = version;
        }
        if (takes_stream_options(&d) != cases[i].takes) {
            fail_msg("api-version %s", cases[i].version ? cases[i].version : "(v1)");
        }
    }
    /* only Azure has api-versions */
    d.provider = SLLMP_PROVIDER_OPENAI;
    snprintf(version, sizeof(version), "2024-06-01");
    assert_true(takes_stream_options(&d));
}

/* Every record of the spool's new/, concatenated. */
static char *
spool_records(int *count)
{
    char dir[sizeof(spool) + 8];
    struct dirent *e;
    sllmp_buf_t b;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/new", spool);
    d = opendir(dir);
    *count = 0;
    sllmp_buf_init(&b, 0);
    sllmp_buf_append(&b, "", 0);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[sizeof(dir) + 300], chunk[65536];
        FILE *fp;
        size_t n;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        fp = fopen(path, "r");
        assert_non_null(fp);
        n = fread(chunk, 1, sizeof(chunk), fp);
        fclose(fp);
        sllmp_buf_append(&b, chunk, n);
        unlink(path);
        (*count)++;
    }
    if (d != NULL) {
        closedir(d);
    }
    return b.ptr;
}

static void
test_trace_record(void **state)
{
    static const char *const params[] = {"REQUEST_METHOD",
                                         "POST",
                                         "REQUEST_URI",
                                         "/v1/chat/completions",
                                         "HTTP_AUTHORIZATION",
                                         "Bearer sk-k1",
                                         "HTTP_X_TRACE_ID",
                                         "4BF92F3577B34DA6A3CE929D0E0E4736",
                                         NULL};
    fake_io_t f;
    char *text;
    cJSON *rec;
    int n;

    (void)state;
    free(spool_records(&n)); /* what earlier tests left */
    run(&f, params,
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"my key sk-k1 and sk-master\"}],\"temperature\":0.5}");
    assert_int_equal(fake_status(&f), 200);
    assert_int_equal(f.ended, 1); /* the response ended before complete wrote the record */
    sllmp_buf_free(&f.out);
    text = spool_records(&n);
    assert_int_equal(n, 1);
    assert_null(strstr(text, "sk-k1"));
    assert_null(strstr(text, "sk-master"));
    rec = cJSON_Parse(text);
    assert_non_null(rec);
    assert_string_equal(cJSON_GetObjectItem(rec, "trace_id")->valuestring,
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(rec, "trace_joined")));
    assert_string_equal(cJSON_GetObjectItem(rec, "user")->valuestring, "owner1");
    assert_string_equal(cJSON_GetObjectItem(rec, "level")->valuestring, "DEFAULT");
    assert_true(
        cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "params"), "temperature")->valuedouble == 0.5);
    assert_non_null(
        strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "output"), "content")->valuestring,
               "[REDACTED]"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(rec, "attempts")), 1);
    cJSON_Delete(rec);
    free(text);
}

static void
test_json_depth(void **state)
{
    (void)state;
    assert_int_equal(sllmp_json_depth("{}", 2, 10), 1);
    assert_int_equal(sllmp_json_depth("{\"a\":[{\"b\":[]}]}", 16, 10), 4);
    /* brackets inside strings, and escaped quotes, do not count */
    assert_int_equal(sllmp_json_depth("{\"a\":\"[[[[\\\"[[[\"}", 17, 10), 1);
    assert_int_equal(sllmp_json_depth("[[[[[[", 6, 3), 4);
}

/* ---------------------------------------------------------------- held streams */

/* The harness's io with every write counted and the output watched while the call runs. */
typedef struct {
    fake_io_t f; /* first: the harness's callbacks get this same ctx */
    int writes;
    size_t last_write;
    int polls;               /* io->gone() calls: the provider waiting on its upstream/delay */
    size_t out_while_polled; /* the most output seen by then */
} watched_io_t;

static int
watched_write(void *ctx, const char *buf, size_t n)
{
    watched_io_t *w = ctx;

    w->writes++;
    w->last_write = n;
    return fake_write(&w->f, buf, n);
}

static int
watched_gone(void *ctx)
{
    watched_io_t *w = ctx;

    w->polls++;
    if (w->f.out.len > w->out_while_polled) {
        w->out_while_polled = w->f.out.len;
    }
    return fake_gone(&w->f);
}

/* A chat request with the flushed or the held (buffer_streams) configuration. */
static void
post_watched(watched_io_t *w, int held, const char *body)
{
    const char *params[] = {"REQUEST_METHOD",
                            "POST",
                            "REQUEST_URI",
                            "/v1/chat/completions",
                            AUTH,
                            "SLLMP_CONFIG",
                            held ? conf_buffered : conf_path,
                            NULL};
    sllmp_io_t io;

    memset(w, 0, sizeof(*w));
    fake_init(&w->f, &io, params, body);
    io.ctx = w;
    io.write = watched_write;
    io.gone = watched_gone;
    sllmp_handle(&io, worker);
    w->f.params = NULL; /* they were on this stack */
}

/* A response header's value (static), or NULL. */
static const char *
resp_header(const fake_io_t *f, const char *name)
{
    static char v[256];
    const char *s = sllmp_buf_cstr(&f->out);
    const char *end = strstr(s, "\r\n\r\n");
    size_t nlen = strlen(name);

    for (const char *p = s; p != NULL && p < end; p = strstr(p, "\r\n")) {
        p += p == s ? 0 : 2;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *e = strstr(p, "\r\n");

            snprintf(v, sizeof(v), "%.*s", (int)(e - p - nlen - 2), p + nlen + 2);
            return v;
        }
    }
    return NULL;
}

/* In place: the mock's random ids and the clock's seconds become zeros; pings are dropped. */
static char *
normalise(const char *body, int drop_pings)
{
    char *s = strdup(body), *p;

    for (p = s; (p = strstr(p, "chatcmpl-")) != NULL;) {
        for (p += 9; isxdigit((unsigned char)*p); p++) {
            *p = '0';
        }
    }
    for (p = s; (p = strstr(p, "\"created\":")) != NULL;) {
        for (p += 10; isdigit((unsigned char)*p); p++) {
            *p = '0';
        }
    }
    while (drop_pings && (p = strstr(s, ": ping\n\n")) != NULL) {
        memmove(p, p + 8, strlen(p + 8) + 1);
    }
    return s;
}

static void
test_held_stream_goes_out_whole(void **state)
{
    watched_io_t w;
    const char *body;
    int usage;

    (void)state;
    /* 120 ms between words, heartbeat 100 ms: a flushed stream would ping every word */
    post_watched(&w, 1,
                 "{\"model\":\"slow\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"one two three\"}]}");
    body = fake_body(&w.f);
    assert_int_equal(fake_status(&w.f), 200);
    assert_string_equal(resp_header(&w.f, "Content-Type"), "text/event-stream");
    assert_string_equal(resp_header(&w.f, "Cache-Control"), "no-cache");
    assert_non_null(resp_header(&w.f, "Content-Length"));
    assert_int_equal(strtoul(resp_header(&w.f, "Content-Length"), NULL, 10), strlen(body));
    /* nothing at all went out while the provider ran, then the body in one write */
    assert_true(w.polls >= 3);
    assert_int_equal(w.out_while_polled, 0);
    assert_int_equal(w.f.flushes, 0);
    assert_int_equal(w.last_write, strlen(body));
    assert_int_equal(w.f.ended, 1);
    /* role, three words, finish, [DONE]; the cost comment as on any stream; no pings */
    assert_int_equal(count_events(body, &usage), 6);
    assert_null(strstr(body, ": ping"));
    assert_non_null(strstr(body, ": x-sllmp-cost-usd 0\n\ndata: [DONE]\n\n"));
    assert_int_equal(strlen(strstr(body, "data: [DONE]\n\n")), 14);
    sllmp_buf_free(&w.f.out);
}

static void
test_held_body_is_the_flushed_body(void **state)
{
    static const char canned[] = "{\"model\":\"canned\",\"stream\":true,\"stream_options\":"
                                 "{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
                                 "\"content\":\"hi\"}]}";
    static const char slow[] = "{\"model\":\"slow\",\"stream\":true,\"stream_options\":"
                               "{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
                               "\"content\":\"a b c\"}]}";
    watched_io_t flushed, held;
    char *a, *b, *recs;
    cJSON *rec;
    int n, usage;

    (void)state;
    /* the same upstream events: the same bytes, usage chunk and cost comment included */
    free(spool_records(&n));
    post_watched(&flushed, 0, canned);
    post_watched(&held, 1, canned);
    assert_int_equal(fake_status(&flushed.f), 200);
    assert_int_equal(fake_status(&held.f), 200);
    assert_true(flushed.f.flushes >= 6);
    assert_null(resp_header(&flushed.f, "Content-Length"));
    assert_int_equal(count_events(fake_body(&held.f), &usage), 6);
    assert_int_equal(usage, 1);
    assert_non_null(strstr(fake_body(&held.f), "\"Hello\""));
    assert_string_equal(fake_body(&held.f), fake_body(&flushed.f));

    /* and the trace records agree: a stream, 200, the upstream's usage */
    recs = spool_records(&n);
    assert_int_equal(n, 2);
    for (const char *p = recs; n > 0; n--) {
        const char *end;

        rec = cJSON_ParseWithOpts(p, &end, 0); /* one record after the other */
        assert_non_null(rec);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(rec, "stream")));
        assert_int_equal(cJSON_GetObjectItem(rec, "status")->valueint, 200);
        assert_string_equal(cJSON_GetObjectItem(rec, "level")->valuestring, "DEFAULT");
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "usage"), "output")->valueint,
                         2);
        cJSON_Delete(rec);
        p = end;
    }
    free(recs);
    sllmp_buf_free(&flushed.f.out);
    sllmp_buf_free(&held.f.out);

    /* the mock, slow enough for heartbeats: the same but the pings (and its random ids) */
    post_watched(&flushed, 0, slow);
    post_watched(&held, 1, slow);
    assert_non_null(strstr(fake_body(&flushed.f), ": ping\n\n"));
    a = normalise(fake_body(&flushed.f), 1);
    b = normalise(fake_body(&held.f), 0);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(spool_records(&n));
    sllmp_buf_free(&flushed.f.out);
    sllmp_buf_free(&held.f.out);
}

static void
test_held_stream_error_is_json(void **state)
{
    static const char mid[] = "{\"model\":\"canned-err\",\"stream\":true,\"messages\":"
                              "[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static const char late[] = "{\"model\":\"canned-late429\",\"stream\":true,\"messages\":"
                               "[{\"role\":\"user\",\"content\":\"hi\"}]}";
    watched_io_t w;
    cJSON *j, *e;
    int n, usage;

    (void)state;
    /* failing after two events: flushed, an SSE error event under the 200 already sent */
    post_watched(&w, 0, mid);
    assert_int_equal(fake_status(&w.f), 200);
    assert_int_equal(count_events(fake_body(&w.f), &usage), 4); /* 2, error, [DONE] */
    assert_non_null(strstr(fake_body(&w.f), "canned failure"));
    sllmp_buf_free(&w.f.out);

    /* held: nothing went out, so the failure is the provider's 502 as JSON */
    post_watched(&w, 1, mid);
    assert_int_equal(fake_status(&w.f), 502);
    assert_string_equal(resp_header(&w.f, "Content-Type"), "application/json");
    assert_null(resp_header(&w.f, "Cache-Control"));
    assert_null(strstr(fake_body(&w.f), "data:"));
    j = body_json(&w.f);
    e = cJSON_GetObjectItem(j, "error");
    assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "canned failure");
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, "provider_error");
    cJSON_Delete(j);
    assert_int_equal(strtoul(resp_header(&w.f, "Content-Length"), NULL, 10),
                     strlen(fake_body(&w.f)));
    sllmp_buf_free(&w.f.out);

    /* a silent upstream, then 429: flushed, heartbeats had started the stream... */
    post_watched(&w, 0, late);
    assert_int_equal(fake_status(&w.f), 200);
    assert_non_null(strstr(fake_body(&w.f), ": ping\n\n"));
    assert_non_null(strstr(fake_body(&w.f), "slow down"));
    sllmp_buf_free(&w.f.out);

    /* ...held, no heartbeat went out: the 429 with its Retry-After */
    post_watched(&w, 1, late);
    assert_true(w.polls >= 1);
    assert_int_equal(w.out_while_polled, 0);
    assert_int_equal(fake_status(&w.f), 429);
    assert_string_equal(resp_header(&w.f, "Retry-After"), "7");
    assert_string_equal(resp_header(&w.f, "x-should-retry"), "true");
    j = body_json(&w.f);
    e = cJSON_GetObjectItem(j, "error");
    assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "slow down");
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, "rate_limit_exceeded");
    cJSON_Delete(j);
    sllmp_buf_free(&w.f.out);
    free(spool_records(&n));
}

/* sllmp_req_fail: a message cut at its 1023 bytes goes before a character, never inside one;
 * bytes that are not UTF-8 become U+FFFD (the message goes to the client and the record). */
static void
test_fail_message_is_utf8(void **state)
{
    sllmp_req_t r;
    sllmp_arena_t a;
    char longer[1100];

    (void)state;
    memset(&r, 0, sizeof(r));
    sllmp_arena_init(&a, 0);
    r.arena = &a;
    memset(longer, 'a', 1022);
    memcpy(longer + 1022, "\xc3\xa9zzz", 6); /* bytes 1022 and 1023: the cut falls inside */
    longer[1028] = '\0';
    sllmp_req_fail(&r, SLLMP_ERR_PROVIDER_BAD_REQUEST, NULL, "%s", longer);
    assert_int_equal(strlen(r.err_message), 1022);
    assert_int_equal(strspn(r.err_message, "a"), 1022);
    memcpy(longer + 1021, "\xc3\xa9zzz", 6); /* 1021 a and the whole é fit */
    longer[1027] = '\0';
    sllmp_req_fail(&r, SLLMP_ERR_PROVIDER_BAD_REQUEST, NULL, "%s", longer);
    assert_int_equal(strlen(r.err_message), 1023);
    assert_string_equal(r.err_message + 1021, "\xc3\xa9");
    sllmp_req_fail(&r, SLLMP_ERR_MODEL_NOT_FOUND, NULL, "The model '%s' is \xc3", "x\xff");
    assert_string_equal(r.err_message, "The model 'x\xef\xbf\xbd' is \xef\xbf\xbd");
    sllmp_arena_destroy(&a);
}

/* sllmp_req_fail: a key in the message is redacted before the message is cut, so a key that
 * the cut at 1023 bytes falls inside leaves none of itself. */
static void
test_fail_message_redacted_before_cut(void **state)
{
    static const char yaml[] = "general_settings: {master_key: sk-master-0123456789abcdef}\n";
    static const char *const params[] = {NULL};
    sllmp_req_t r;
    sllmp_arena_t a;
    sllmp_io_t io;
    fake_io_t f;
    char *err = NULL, longer[1100];

    (void)state;
    memset(&r, 0, sizeof(r));
    fake_init(&f, &io, params, "");
    sllmp_arena_init(&a, 0);
    r.arena = &a;
    r.io = &io;
    r.conf = sllmp_conf_load("t.yaml", yaml, sizeof(yaml) - 1, &err);
    assert_non_null(r.conf);
    memset(longer, 'a', 1010);
    strcpy(longer + 1010, "sk-master-0123456789abcdef");
    sllmp_req_fail(&r, SLLMP_ERR_PROVIDER_BAD_REQUEST, NULL, "%s", longer);
    assert_null(strstr(r.err_message, "sk-master"));
    assert_int_equal(strspn(r.err_message, "a"), 1010);
    assert_true(strlen(r.err_message) <= 1023);
    sllmp_conf_unref((sllmp_conf_t *)r.conf);
    sllmp_buf_free(&f.out);
    sllmp_arena_destroy(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unstreamed_echo),
        cmocka_unit_test(test_streamed_usage_policy),
        cmocka_unit_test(test_client_gone_mid_stream),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_images_and_moderations_refused),
        cmocka_unit_test(test_trace_cut_images),
        cmocka_unit_test(test_routes_and_auth),
        cmocka_unit_test(test_virtual_keys),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_upstream_body_rewrite),
        cmocka_unit_test(test_upstream_body_param_map),
        cmocka_unit_test(test_azure_api_version_takes_stream_options),
        cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_trace_record),
        cmocka_unit_test(test_held_stream_goes_out_whole),
        cmocka_unit_test(test_held_body_is_the_flushed_body),
        cmocka_unit_test(test_held_stream_error_is_json),
        cmocka_unit_test(test_fail_message_is_utf8),
        cmocka_unit_test(test_fail_message_redacted_before_cut),
    };

    return cmocka_run_group_tests_name("pipeline", tests, setup, teardown);
}
