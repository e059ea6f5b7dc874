/*
 * Per-request arena: bump allocation in blocks, a cleanup list run LIFO on reset, and the
 * first block kept for the next request. Request code almost never calls free().
 * Not thread-safe: one arena per request (per accept thread).
 */
#ifndef SLLMP_ARENA_H
#define SLLMP_ARENA_H

#include "sllmp/types.h"
#include "sllmp/util.h"

typedef void sllmp_cleanup_f(void *data);

struct sllmp_arena_block_s;
struct sllmp_arena_cleanup_s;

struct sllmp_arena_s {
    struct sllmp_arena_block_s *head;       /* current block; ->next are older ones */
    struct sllmp_arena_cleanup_s *cleanups; /* LIFO */
    size_t block_size;
    size_t total; /* bytes handed out since the last reset */
};

void sllmp_arena_init(sllmp_arena_t *a, size_t block_size);

/* Aborts on OOM; the memory is 16-byte aligned and lives until the next reset. */
void *sllmp_arena_alloc(sllmp_arena_t *a, size_t n) SLLMP_MALLOC;
void *sllmp_arena_calloc(sllmp_arena_t *a, size_t n) SLLMP_MALLOC;
char *sllmp_arena_strdup(sllmp_arena_t *a, const char *s) SLLMP_MALLOC;
char *sllmp_arena_strndup(sllmp_arena_t *a, const char *s, size_t n) SLLMP_MALLOC;
char *sllmp_arena_printf(sllmp_arena_t *a, const char *fmt, ...) SLLMP_PRINTF(2, 3) SLLMP_MALLOC;

/* Runs fn(data) at the next reset (or destroy), after the cleanups added later. */
void sllmp_arena_cleanup_add(sllmp_arena_t *a, sllmp_cleanup_f *fn, void *data);

/* Runs the cleanups, frees every block but the first. */
void sllmp_arena_reset(sllmp_arena_t *a);

/* Reset and free the first block too. */
void sllmp_arena_destroy(sllmp_arena_t *a);

#endif
