/*
 * Prometheus metrics of the whole pool (architecture.md §9).
 *
 * Every process counts into its own slot of one shared file (sllmp.metrics.file, by default
 * $SLLMP_RUNDIR/metrics.db), and GET /metrics sums the slots, so a scrape sees the pool whichever
 * worker answers. A slot outlives its process: a recycled or crashed worker's counts stay, and
 * the next process takes its slot over and goes on counting from there.
 */
#ifndef SLLMP_METRICS_H
#define SLLMP_METRICS_H

#include "sllmp/buf.h"
#include "sllmp/types.h"

/* A model request starts: sllmp_active_requests goes up until sllmp_metrics_request_end. */
void sllmp_metrics_request_begin(sllmp_req_t *r);

/* A model request (chat, completions, embeddings, messages) is over: counts what it did. */
void sllmp_metrics_request_end(sllmp_req_t *r);

/*
 * GET /metrics: checks the address or token (403/401, 404 when metrics are off) and answers
 * with the text format.
 */
void sllmp_metrics_endpoint(sllmp_req_t *r);

/* The exposition of c's segment into out: 0, or -1 when the segment cannot be opened. */
int sllmp_metrics_render(const sllmp_conf_t *c, sllmp_buf_t *out);

#endif
