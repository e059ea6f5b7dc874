/*
 * POST /v1/responses, answered in the Responses shapes (include/sllmp/responses.h): validate
 * has put the chat translation of the client's body in r->json, so the whole pipeline runs as
 * for a chat completion; this middleware turns the answer back. It comes after usage and cost
 * in the table: its on_chunk sees the chunks once they are counted (the usage chunk is already
 * dropped: the usage goes out in response.completed), its post the final usage and cost.
 *
 *   on_chunk  each chat chunk becomes the Responses events it stands for, sent in its place
 *   post      a stream's closing events and response.completed; an unstreamed chat.completion
 *             becomes the Response object
 *   error     once the stream has started: an "error" event and response.failed end it, in
 *             place of the chat error event and [DONE]
 */
#include "sllmp/arena.h"
#include "sllmp/error.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/pipeline.h"
#include "sllmp/req.h"
#include "sllmp/responses.h"
#include "sllmp/util.h"

#include <string.h>

typedef struct {
    sllmp_rstream_t s;
    sllmp_buf_t out; /* the framed events of one call of the translator */
    char id[40];     /* "resp_" and 32 hex digits */
} responses_t;

static void
responses_free(void *data)
{
    responses_t *x = data;

    sllmp_rstream_free(&x->s);
    sllmp_buf_free(&x->out);
}

static int
framed(void *ud, const char *type, const cJSON *data)
{
    responses_t *x = ud;
    char *text = cJSON_PrintUnformatted(data);

    if (text == NULL) {
        return -1;
    }
    sllmp_buf_appends(&x->out, "event: ");
    sllmp_buf_appends(&x->out, type);
    sllmp_buf_appends(&x->out, "\ndata: ");
    sllmp_buf_appends(&x->out, text);
    sllmp_buf_appends(&x->out, "\n\n");
    cJSON_free(text);
    return 0;
}

static responses_t *
responses_of(sllmp_req_t *r)
{
    int i = sllmp_middleware_index(&sllmp_mw_responses);
    responses_t *x = r->mw_ctx[i];

    if (x == NULL) {
        x = sllmp_arena_alloc(r->arena, sizeof(*x));
        memset(x, 0, sizeof(*x));
        memcpy(x->id, "resp_", 5);
        sllmp_random_hex(x->id + 5, 16);
        sllmp_buf_init(&x->out, 0);
        x->s.meta.req = r->responses;
        x->s.meta.id = x->id;
        x->s.meta.created_at = (long)(r->start_wall_ms / 1000);
        x->s.meta.model = r->model;
        x->s.emit = framed;
        x->s.ud = x;
        sllmp_arena_cleanup_add(r->arena, responses_free, x);
        r->mw_ctx[i] = x;
    }
    sllmp_buf_reset(&x->out);
    return x;
}

/* The events the translator framed go out now (post and error: not as a chunk's). */
static sllmp_rc_t
send_events(sllmp_req_t *r, responses_t *x, int rc)
{
    if (rc != 0) {
        return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
    }
    if (x->out.len > 0 && sllmp_sse_raw(r, x->out.ptr, x->out.len) < 0) {
        return sllmp_req_fail(r, SLLMP_ERR_CLIENT_GONE, NULL, NULL);
    }
    return SLLMP_GO_ON;
}

static sllmp_rc_t
responses_chunk(sllmp_req_t *r, void *mw_conf, sllmp_chunk_t *chunk)
{
    responses_t *x;

    (void)mw_conf;
    if (r->responses == NULL) {
        return SLLMP_GO_ON;
    }
    if (chunk->json == NULL) {
        chunk->drop = 1; /* nothing but JSON chunks reach this far; [DONE] is not ours to send */
        return SLLMP_GO_ON;
    }
    x = responses_of(r);
    if (sllmp_rstream_chunk(&x->s, chunk->json) != 0) {
        return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
    }
    if (x->out.len == 0) {
        chunk->drop = 1;
    } else {
        chunk->sse = x->out.ptr;
        chunk->sse_len = x->out.len;
    }
    return SLLMP_GO_ON;
}

static sllmp_rc_t
responses_post(sllmp_req_t *r, void *mw_conf)
{
    responses_t *x;
    cJSON *chat, *resp;
    char *text;

    (void)mw_conf;
    if (r->responses == NULL) {
        return SLLMP_GO_ON;
    }
    x = responses_of(r);
    if (r->stream) {
        return send_events(r, x, sllmp_rstream_finish(&x->s, &r->usage));
    }
    chat = cJSON_ParseWithLength(r->resp_body.ptr, r->resp_body.len);
    resp = sllmp_responses_from_chat(&x->s.meta, chat, &r->usage);
    cJSON_Delete(chat);
    text = resp ? cJSON_PrintUnformatted(resp) : NULL;
    cJSON_Delete(resp);
    if (text == NULL) {
        sllmp_log(r->id, SLLMP_LOG_ERROR, "the chat answer did not translate into a Response");
        return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
    }
    sllmp_buf_reset(&r->resp_body);
    sllmp_buf_appends(&r->resp_body, text);
    cJSON_free(text);
    return SLLMP_GO_ON;
}

static sllmp_rc_t
responses_error(sllmp_req_t *r, void *mw_conf)
{
    const sllmp_err_info_t *e = sllmp_err_info(r->err);
    const char *code = r->err_code ? r->err_code : e->code ? e->code : e->type;
    responses_t *x;

    (void)mw_conf;
    if (r->responses == NULL) {
        return SLLMP_GO_ON;
    }
    if (r->err_param != NULL) {
        /* an upstream's param names the chat request it was sent; the client knows another */
        char name[128];
        const char *p = sllmp_responses_param(r->responses, r->err_param, name, sizeof(name));

        if (p != r->err_param) {
            r->err_param = sllmp_arena_strdup(r->arena, p);
        }
    }
    /* before the stream (or while it is held, which is then dropped) the error is JSON with
     * its status, the same as chat's */
    if (!r->stream_started || r->stream_held || r->client_gone || r->err == SLLMP_ERR_CLIENT_GONE) {
        return SLLMP_GO_ON;
    }
    x = responses_of(r);
    if (sllmp_rstream_fail(&x->s, code, r->err_message ? r->err_message : e->message) == 0 &&
        (x->out.len == 0 || sllmp_sse_raw(r, x->out.ptr, x->out.len) == 0)) {
        sllmp_sse_end(r);
    }
    r->finished = 1; /* sllmp_resp_error adds nothing: the error went out as events */
    return SLLMP_GO_ON;
}

const sllmp_middleware_t sllmp_mw_responses = {
    .name = "responses",
    .on_chunk = responses_chunk,
    .post = responses_post,
    .error = responses_error,
};
