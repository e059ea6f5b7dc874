/*
 * The pipeline dispatcher: the one place that knows the order of the phases.
 *
 * At start-up the middleware table is flattened into one NULL-terminated slot array per phase
 * (lighttpd's plugins_call_init), so running a phase is a loop over the middleware that take
 * part in it: while a hook returns SLLMP_GO_ON, the next one runs.
 *
 *   pre       validate, authenticate, route. FINISHED: a middleware answered (skip to complete).
 *   llm_call  the first hook that does not return GO_ON owns the upstream call; FINISHED means
 *             the answer is there (streamed chunks went out through sllmp_pipeline_chunk, an
 *             unstreamed body waits in r's response buffer).
 *   post      usage, cost, settle: the whole answer is known, the unstreamed body not yet sent
 *             and a stream's [DONE] still held back, so post can still add headers or events.
 *   error     r->err is set; hooks may rewrite it; then the error goes out (JSON, or an SSE
 *             event when the stream had started).
 *   complete  always, in reverse table order, even for a client that left: metrics, logs,
 *             traces. Cannot fail.
 */
#include "sllmp/pipeline.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"
#include "sllmp/util.h"

#include <string.h>

_Static_assert(SLLMP_ERROR == 2, "sllmp_req_fail() returns 2 for SLLMP_ERROR");

typedef enum {
    PHASE_PRE = 0,
    PHASE_LLM_CALL,
    PHASE_ON_CHUNK,
    PHASE_POST,
    PHASE_ERROR,
    PHASE_COMPLETE,
    PHASE__COUNT
} phase_t;

typedef struct {
    const sllmp_middleware_t *mw;
    void *conf;
    int index;
} slot_t;

static slot_t slots[PHASE__COUNT][SLLMP_MW_MAX + 1];
static void *mw_confs[SLLMP_MW_MAX];
static int nmw;

static int
has_hook(const sllmp_middleware_t *mw, phase_t p)
{
    switch (p) {
    case PHASE_PRE:
        return mw->pre != NULL;
    case PHASE_LLM_CALL:
        return mw->llm_call != NULL;
    case PHASE_ON_CHUNK:
        return mw->on_chunk != NULL;
    case PHASE_POST:
        return mw->post != NULL;
    case PHASE_ERROR:
        return mw->error != NULL;
    case PHASE_COMPLETE:
        return mw->complete != NULL;
    default:
        return 0;
    }
}

int
sllmp_pipeline_init(void)
{
    int counts[PHASE__COUNT] = {0};

    nmw = 0;
    while (sllmp_middleware_table[nmw] != NULL) {
        const sllmp_middleware_t *mw = sllmp_middleware_table[nmw];

        SLLMP_ASSERT(nmw < SLLMP_MW_MAX);
        mw_confs[nmw] = NULL;
        if (mw->init != NULL && mw->init(&mw_confs[nmw]) < 0) {
            sllmp_log(NULL, SLLMP_LOG_ERROR, "middleware %s failed to initialise", mw->name);
            return -1;
        }
        nmw++;
    }
    for (phase_t p = 0; p < PHASE__COUNT; p++) {
        /* complete runs in reverse, to balance what pre set up */
        for (int k = 0; k < nmw; k++) {
            int i = p == PHASE_COMPLETE ? nmw - 1 - k : k;
            const sllmp_middleware_t *mw = sllmp_middleware_table[i];

            if (has_hook(mw, p)) {
                slots[p][counts[p]++] = (slot_t){mw, mw_confs[i], i};
            }
        }
        slots[p][counts[p]] = (slot_t){NULL, NULL, -1};
    }
    return 0;
}

void
sllmp_pipeline_fini(void)
{
    for (int i = nmw - 1; i >= 0; i--) {
        if (sllmp_middleware_table[i]->fini != NULL) {
            sllmp_middleware_table[i]->fini(mw_confs[i]);
        }
    }
    nmw = 0;
}

int
sllmp_middleware_index(const sllmp_middleware_t *mw)
{
    for (int i = 0; sllmp_middleware_table[i] != NULL; i++) {
        if (sllmp_middleware_table[i] == mw) {
            return i;
        }
    }
    SLLMP_ASSERT(!"middleware not in the table");
    return -1;
}

static sllmp_rc_t
checked(sllmp_req_t *r, sllmp_rc_t rc, const slot_t *s)
{
    SLLMP_ASSERT(rc == SLLMP_GO_ON || rc == SLLMP_FINISHED || rc == SLLMP_ERROR);
    if (rc == SLLMP_ERROR && r->err == SLLMP_OK) {
        /* a hook that fails must say why; treat a silent one as our bug */
        sllmp_log(r->id, SLLMP_LOG_ERROR, "middleware %s failed without an error", s->mw->name);
        sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
    }
    return rc;
}

static sllmp_rc_t
run(sllmp_req_t *r, phase_t p)
{
    sllmp_rc_t rc = SLLMP_GO_ON;

    for (const slot_t *s = slots[p]; s->mw != NULL && rc == SLLMP_GO_ON; s++) {
        switch (p) {
        case PHASE_PRE:
            rc = checked(r, s->mw->pre(r, s->conf), s);
            break;
        case PHASE_LLM_CALL:
            rc = checked(r, s->mw->llm_call(r, s->conf), s);
            break;
        case PHASE_POST:
            rc = checked(r, s->mw->post(r, s->conf), s);
            break;
        case PHASE_ERROR:
            rc = checked(r, s->mw->error(r, s->conf), s);
            break;
        case PHASE_COMPLETE:
            s->mw->complete(r, s->conf);
            break;
        default:
            SLLMP_ASSERT(!"phase has no plain hooks");
        }
    }
    return rc;
}

sllmp_rc_t
sllmp_pipeline_chunk(sllmp_req_t *r, sllmp_chunk_t *chunk)
{
    for (const slot_t *s = slots[PHASE_ON_CHUNK]; s->mw != NULL; s++) {
        sllmp_rc_t rc = checked(r, s->mw->on_chunk(r, s->conf, chunk), s);

        if (rc == SLLMP_ERROR) {
            return rc;
        }
        if (rc == SLLMP_FINISHED || chunk->drop) {
            break;
        }
    }
    if (chunk->drop || chunk->done) {
        /* [DONE] is held back until post has run */
        return SLLMP_GO_ON;
    }
    if (r->chunks++ == 0) {
        sllmp_route_headers(r); /* this attempt's answer is the one the client gets */
    }
    if (r->first_token_ms == 0) {
        r->first_token_ms = sllmp_now_ms();
    }
    if ((chunk->sse != NULL ? sllmp_sse_raw(r, chunk->sse, chunk->sse_len)
                            : sllmp_sse_event(r, chunk->event, chunk->data, chunk->len)) < 0) {
        return sllmp_req_fail(r, SLLMP_ERR_CLIENT_GONE, NULL, NULL);
    }
    return SLLMP_GO_ON;
}

void
sllmp_chunk_events(sllmp_chunk_t *chunk, const char *events, size_t len)
{
    if (len == 0) {
        chunk->drop = 1;
    } else {
        chunk->sse = events;
        chunk->sse_len = len;
    }
}

void
sllmp_pipeline_run(sllmp_req_t *r)
{
    /* A request refused before the pipeline (body too big, not JSON) arrives with r->err set:
     * it goes straight to error, and complete still sees it. */
    sllmp_rc_t rc = r->err != SLLMP_OK ? SLLMP_ERROR : run(r, PHASE_PRE);

    if (rc == SLLMP_GO_ON) {
        rc = run(r, PHASE_LLM_CALL);
        if (rc == SLLMP_GO_ON) {
            sllmp_log(r->id, SLLMP_LOG_ERROR, "no middleware took the call");
            rc = sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
        }
        if (rc == SLLMP_FINISHED) {
            rc = run(r, PHASE_POST);
        }
    }
    if (rc == SLLMP_ERROR) {
        run(r, PHASE_ERROR);
        sllmp_resp_error(r);
    } else if (!r->finished && !r->client_gone) {
        if (r->stream_started) {
            sllmp_sse_end(r);
            r->finished = 1;
        } else if (r->resp_body.ptr != NULL) {
            sllmp_resp_send(r, 200, "application/json", r->resp_body.ptr, r->resp_body.len);
        } else {
            /* a provider that said FINISHED but left nothing to send: our bug, not a blank */
            sllmp_log(r->id, SLLMP_LOG_ERROR, "the call finished without an answer");
            sllmp_req_fail(r, SLLMP_ERR_INTERNAL, NULL, NULL);
            run(r, PHASE_ERROR);
            sllmp_resp_error(r);
        }
    }
    run(r, PHASE_COMPLETE);
}
