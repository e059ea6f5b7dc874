/*
 * `sllmp upload`: drains the trace spool to Langfuse (docs/internals/spool.md), for cron.
 *
 * One run lists new/ (oldest first), claims records with flock, sends them in batches (at most
 * SLLMP_LF_MAX_BATCH_BYTES and SLLMP_UPLOAD_BATCH_RECORDS a request) and deletes each record only
 * once Langfuse accepted it. Retryable failures (network, 429, 5xx) back off within the run's time
 * budget; a record Langfuse rejects for good goes to failed/ with its reason beside it.
 */
#ifndef SLLMP_UPLOAD_H
#define SLLMP_UPLOAD_H

#include "sllmp/types.h"

#include <stdio.h>

/* Exit statuses of a run. */
#define SLLMP_UPLOAD_DONE  0 /* nothing left that could be sent */
#define SLLMP_UPLOAD_LEFT  1 /* records left: Langfuse unavailable, or the time budget ran out */
#define SLLMP_UPLOAD_USAGE 2 /* bad arguments or configuration */
#define SLLMP_UPLOAD_AUTH  3 /* Langfuse rejected the keys (401/403) */

#define SLLMP_UPLOAD_BATCH_RECORDS 1000

typedef struct {
    const char *config; /* --config; NULL: $SLLMP_CONFIG, else the embedded default */
    int dry_run;        /* print the payloads; claim, send and delete nothing */
    int quiet;          /* no progress, and no summary when everything was sent */
    double max_time;    /* seconds the run may take, waits included (default 50) */
    long limit;         /* at most this many records; 0: all */
} sllmp_upload_opts_t;

/*
 * Parses the arguments that follow `upload`. Returns -1 when the run should go ahead with *o,
 * else the exit status after printing (0 for --help, SLLMP_UPLOAD_USAGE for bad arguments).
 */
int sllmp_upload_args(sllmp_upload_opts_t *o, int argc, char **argv);

/* Prints the usage of `sllmp upload`. */
void sllmp_upload_usage(FILE *out);

/*
 * One run over the spool of c. Prints progress (on a terminal), messages and the summary line
 * on stderr, payloads on stdout with --dry-run. Never prints a key or the Authorization header.
 * Returns the exit status (SLLMP_UPLOAD_*).
 */
int sllmp_upload_run(const sllmp_conf_t *c, const sllmp_upload_opts_t *o);

#endif
