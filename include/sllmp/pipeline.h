/*
 * The pipeline: phases pre, llm_call, on_chunk, post, error, complete, run over one table of
 * middleware (src/middleware/table.c). A middleware is a struct of hooks; NULL means "not
 * participating". See docs/internals/pipeline.md.
 */
#ifndef SLLMP_PIPELINE_H
#define SLLMP_PIPELINE_H

#include "sllmp/error.h"
#include "sllmp/types.h"

#include <cjson/cJSON.h>

/* Exactly three hook return codes; the dispatcher owns the phase transitions. */
typedef enum {
    SLLMP_GO_ON = 0, /* next middleware */
    SLLMP_FINISHED,  /* the response is complete: skip to complete */
    SLLMP_ERROR      /* r->err is set: run error, then complete */
} sllmp_rc_t;

/* One upstream event on its way to the client. */
struct sllmp_chunk_s {
    const char *data; /* event data: a JSON object, or "[DONE]" */
    size_t len;
    cJSON *json;       /* parsed data, NULL when not JSON; the chunk's owner frees it */
    int done;          /* the [DONE] terminator */
    int drop;          /* set by a filter: do not send this one */
    const char *event; /* the SSE event name to send it under (Anthropic's), NULL: none */
    const char *sse;   /* set by a filter that reshapes the stream (Responses): whole SSE
                        * events, sent instead of this one; not kept past the filter's next call */
    size_t sse_len;
};

typedef sllmp_rc_t sllmp_hook_f(sllmp_req_t *r, void *mw_conf);
typedef sllmp_rc_t sllmp_chunk_f(sllmp_req_t *r, void *mw_conf, sllmp_chunk_t *chunk);
typedef void sllmp_done_f(sllmp_req_t *r, void *mw_conf);

struct sllmp_middleware_s {
    const char *name;
    int (*init)(void **mw_conf); /* once per process, before the accept loop; 0 or -1 */
    void (*fini)(void *mw_conf); /* at exit */
    sllmp_hook_f *pre;           /* validate, authenticate, limits, rewrite */
    sllmp_hook_f *llm_call;      /* the first that does not return GO_ON owns the call */
    sllmp_chunk_f *on_chunk;     /* every streamed event, in order */
    sllmp_hook_f *post;          /* the whole answer (or the end of the stream) is there */
    sllmp_hook_f *error;         /* r->err is set; may rewrite it */
    sllmp_done_f *complete;      /* always runs, in reverse order, cannot fail */
};

/* The table, in order; NULL-terminated. */
extern const sllmp_middleware_t *const sllmp_middleware_table[];

/* Once per process: init every middleware. 0 or -1. */
int sllmp_pipeline_init(void);
void sllmp_pipeline_fini(void);

/* Runs every phase for r (a chat completion). The response is complete when it returns. */
void sllmp_pipeline_run(sllmp_req_t *r);

/*
 * Called by the provider for each upstream event: runs the on_chunk filters, then sends the
 * chunk to the client unless a filter dropped it. Returns SLLMP_GO_ON, or SLLMP_ERROR with
 * r->err set (client gone, or a filter failed): the provider must then stop the upstream.
 */
sllmp_rc_t sllmp_pipeline_chunk(sllmp_req_t *r, sllmp_chunk_t *chunk);

/* A reshaping filter's answer: the whole SSE events in `events` (len bytes, the filter's, kept
 * until its next call) go out in the chunk's place; none (len 0): the chunk is dropped. */
void sllmp_chunk_events(sllmp_chunk_t *chunk, const char *events, size_t len);

/* Index of a middleware in the table, for r->mw_ctx[]. */
int sllmp_middleware_index(const sllmp_middleware_t *mw);

#endif
