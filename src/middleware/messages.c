/*
 * POST /v1/messages to a model without Anthropic's API, answered in the Messages shapes
 * (include/sllmp/messages.h): validate calls sllmp_messages_prepare, which puts the chat
 * translation of the client's body in r->json (kind CHAT from then on), so the whole pipeline
 * runs as for a chat completion; this middleware turns the answer back. Like responses, it
 * comes after usage and cost: its on_chunk sees the chunks once counted, its post the final
 * usage.
 *
 *   on_chunk  each chat chunk becomes the events it stands for, sent in its place
 *   post      a stream's closing events (message_delta with the usage, message_stop); an
 *             unstreamed chat.completion becomes the Message
 *
 * Failures need nothing here: sllmp_anthropic_shaped() makes them Anthropic's error body, or
 * its "error" event once the stream has started.
 */
#include "sllmp/arena.h"
#include "sllmp/conf.h"
#include "sllmp/error.h"
#include "sllmp/log.h"
#include "sllmp/messages.h"
#include "sllmp/middleware.h"
#include "sllmp/pipeline.h"
#include "sllmp/req.h"
#include "sllmp/route.h"
#include "sllmp/util.h"

#include <string.h>

typedef struct {
    sllmp_mstream_t s;
    sllmp_buf_t out; /* the framed events of one call of the translator */
    char id[40];     /* "msg_" and 24 hex digits */
} messages_t;

static void
messages_free(void *data)
{
    messages_t *x = data;

    sllmp_buf_free(&x->out);
}

static void
json_free(void *p)
{
    cJSON_Delete(p);
}

static int
framed(void *ud, const char *type, const cJSON *data)
{
    messages_t *x = ud;

    return sllmp_sse_frame(&x->out, type, data);
}

static messages_t *
messages_of(sllmp_req_t *r)
{
    int i = sllmp_middleware_index(&sllmp_mw_messages);
    messages_t *x = r->mw_ctx[i];

    if (x == NULL) {
        x = sllmp_arena_alloc(r->arena, sizeof(*x));
        memset(x, 0, sizeof(*x));
        memcpy(x->id, "msg_", 4);
        sllmp_random_hex(x->id + 4, 12);
        sllmp_buf_init(&x->out, 0);
        x->s.meta.id = x->id;
        x->s.emit = framed;
        x->s.ud = x;
        sllmp_arena_cleanup_add(r->arena, messages_free, x);
        r->mw_ctx[i] = x;
    }
    x->s.meta.model = r->model;
    sllmp_buf_reset(&x->out);
    return x;
}

int
sllmp_anthropic_shaped(const sllmp_req_t *r)
{
    return r->kind == SLLMP_KIND_MESSAGES || r->kind == SLLMP_KIND_COUNT_TOKENS ||
           r->messages != NULL;
}

/* Whether the model's deployments take the Messages API as it is: the first of its group (the
 * one the router stands the request on) decides, as it serves this name (a pattern's copy:
 * a vertex_ai pattern is Claude for claude names, a bedrock one for anthropic. ids). A model not
 * configured stays as it is too: the router answers it. */
static int
native(const sllmp_req_t *r)
{
    const sllmp_deployment_t *group[SLLMP_GROUP_MAX];
    const char *model = sllmp_json_str(r->json, "model");
    const char *name = model != NULL ? sllmp_conf_route_name(r->conf, model) : NULL;

    return name == NULL || sllmp_conf_group(r->conf, name, group, SLLMP_GROUP_MAX) <= 0 ||
           sllmp_deployment_for(group[0], name, r->arena)->messages_api;
}

/* r (kind MESSAGES) as the chat request it stands for; -1 and r as it was when it does not
 * translate, *xe saying why (or validate_chat's failure in r->err). */
static int
translate(sllmp_req_t *r, sllmp_xerr_t *xe)
{
    cJSON *native = r->json, *chat;

    memset(xe, 0, sizeof(*xe));
    if ((chat = sllmp_messages_to_chat(native, xe)) == NULL) {
        return -1;
    }
    r->json = chat;
    r->messages = native;
    r->kind = SLLMP_KIND_CHAT;
    if (sllmp_validate_chat(r) != SLLMP_GO_ON) {
        cJSON_Delete(chat);
        r->json = native;
        r->messages = NULL;
        r->kind = SLLMP_KIND_MESSAGES;
        return -1;
    }
    sllmp_arena_cleanup_add(r->arena, json_free, chat);
    return 0;
}

sllmp_rc_t
sllmp_messages_prepare(sllmp_req_t *r)
{
    sllmp_xerr_t xe;

    if (native(r) || translate(r, &xe) == 0) {
        return SLLMP_GO_ON;
    }
    if (r->err != SLLMP_OK) {
        return SLLMP_ERROR; /* the translation is no chat request validate takes */
    }
    return sllmp_req_fail(r, SLLMP_ERR_INVALID_PARAM, xe.param[0] ? xe.param : NULL, "%s",
                          xe.message);
}

int
sllmp_messages_translate(sllmp_req_t *r)
{
    sllmp_xerr_t xe;

    return r->kind == SLLMP_KIND_MESSAGES ? translate(r, &xe) : 0;
}

static sllmp_rc_t
messages_chunk(sllmp_req_t *r, void *mw_conf, sllmp_chunk_t *chunk)
{
    messages_t *x;

    (void)mw_conf;
    if (r->messages == NULL) {
        return SLLMP_GO_ON;
    }
    if (chunk->json == NULL) {
        chunk->drop = 1; /* [DONE] is not Anthropic's */
        return SLLMP_GO_ON;
    }
    x = messages_of(r);
    if (sllmp_mstream_chunk(&x->s, chunk->json) != 0) {
        return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
    }
    sllmp_chunk_events(chunk, x->out.ptr, x->out.len);
    return SLLMP_GO_ON;
}

static sllmp_rc_t
messages_post(sllmp_req_t *r, void *mw_conf)
{
    messages_t *x;
    cJSON *chat, *msg;
    int rc;

    (void)mw_conf;
    if (r->messages == NULL) {
        return SLLMP_GO_ON;
    }
    x = messages_of(r);
    if (r->stream) {
        if (sllmp_mstream_finish(&x->s, &r->usage) != 0) {
            return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
        }
        if (x->out.len > 0 && sllmp_sse_raw(r, x->out.ptr, x->out.len) < 0) {
            return sllmp_req_fail(r, SLLMP_ERR_CLIENT_GONE, NULL, NULL);
        }
        return SLLMP_GO_ON;
    }
    chat = cJSON_ParseWithLength(r->resp_body.ptr, r->resp_body.len);
    msg = sllmp_messages_from_chat(&x->s.meta, chat, &r->usage);
    cJSON_Delete(chat);
    rc = sllmp_resp_body_json(r, msg);
    cJSON_Delete(msg);
    if (rc != 0) {
        sllmp_log(r->id, SLLMP_LOG_ERROR, "the chat answer did not translate into a Message");
        return sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
    }
    return SLLMP_GO_ON;
}

const sllmp_middleware_t sllmp_mw_messages = {
    .name = "messages",
    .on_chunk = messages_chunk,
    .post = messages_post,
};
