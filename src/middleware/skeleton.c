/*
 * The template for a new middleware: copy, rename, fill in only the hooks it needs, and add it
 * to src/middleware/table.c. Every hook is optional; NULL means "not taking part".
 *
 * Per-request state goes in r->mw_ctx[index] (allocated from r->arena), never in globals; the
 * configuration is read from r->conf, which is immutable.
 *
 * It is compiled with the rest, so it stays correct, but it is not in the table.
 */
#include "sllmp/middleware.h"
#include "sllmp/req.h"

static sllmp_rc_t
skeleton_pre(sllmp_req_t *r, void *mw_conf)
{
    (void)r;
    (void)mw_conf;
    return SLLMP_GO_ON; /* SLLMP_FINISHED: answered; SLLMP_ERROR: sllmp_req_fail() first */
}

static void
skeleton_complete(sllmp_req_t *r, void *mw_conf)
{
    (void)r;
    (void)mw_conf;
}

const sllmp_middleware_t sllmp_mw_skeleton = {
    .name = "skeleton",
    .pre = skeleton_pre,
    .complete = skeleton_complete,
};
