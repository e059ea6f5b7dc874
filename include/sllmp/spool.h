/*
 * The trace spool: a maildir-like directory of one-record files (docs/internals/spool.md).
 *
 * Writers (the pool, at `complete`) make a record nameless in tmp/ (O_TMPFILE; else a named file
 * there), sync it, give it its name in new/ (a link; else a rename) and sync new/. The uploader
 * claims files in new/ with flock and deletes them once Langfuse took them. spool.state, mapped by
 * every process, holds the approximate size of new/ for the quota and the counters of written and
 * dropped records.
 */
#ifndef SLLMP_SPOOL_H
#define SLLMP_SPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t bytes;   /* in new/ (approximate between recounts) */
    int64_t records; /* in new/ (approximate) */
    int64_t dropped; /* ever: quota full or the write failed */
    int64_t written; /* ever */
} sllmp_spool_stats_t;

typedef enum {
    SLLMP_SPOOL_WRITTEN = 0,
    SLLMP_SPOOL_FULL,  /* over the quota: not written, counted as dropped */
    SLLMP_SPOOL_FAILED /* the filesystem refused (logged): counted as dropped */
} sllmp_spool_rc_t;

/*
 * Writes one record (len bytes) as a new file of the spool at dir, durably when fsync is set.
 * max_bytes is the quota (0: none). Thread-safe; never blocks on anything but the disk. The
 * reason of a failure is logged (throttled) under reqid.
 */
sllmp_spool_rc_t sllmp_spool_write(const char *dir, const char *data, size_t len, int fsync,
                                   int64_t max_bytes, const char *reqid);

/*
 * on: every later write takes the tmp/-and-rename way, as on a filesystem without O_TMPFILE or
 * a system without /proc (the tests use it to cover that way).
 */
void sllmp_spool_use_rename(int on);

/* Creates dir and its subdirectories (0700) when missing. 0, or -1 with errno. */
int sllmp_spool_prepare(const char *dir);

/* The counters of spool.state; 0, or -1 when the spool has none yet (all zero then). */
int sllmp_spool_stats(const char *dir, sllmp_spool_stats_t *out);

/* For the uploader: subtracts what it deleted (or moved to failed/) from new/'s size. */
void sllmp_spool_forget(const char *dir, int64_t bytes, int64_t records);

/* For the uploader: sets new/'s size to what it counted. */
void sllmp_spool_recount(const char *dir, int64_t bytes, int64_t records);

#endif
