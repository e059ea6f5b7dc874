/*
 * Per-request arena (see include/sllmp/arena.h).
 *
 * Blocks are chained newest first. An allocation larger than a quarter of the block size gets a
 * block of its own, so big bodies do not waste the rest of a block. Reset runs the cleanups in
 * reverse order of registration, frees every block but the oldest (the first, of the default
 * size) and keeps that one for the next request, so a steady stream of small requests does not
 * touch malloc at all.
 */
#include "sllmp/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16

struct sllmp_arena_block_s {
    struct sllmp_arena_block_s *next;
    size_t size;
    size_t used;
    _Alignas(ALIGN) unsigned char data[];
};

struct sllmp_arena_cleanup_s {
    struct sllmp_arena_cleanup_s *next;
    sllmp_cleanup_f *fn;
    void *data;
};

static struct sllmp_arena_block_s *
block_new(size_t size)
{
    struct sllmp_arena_block_s *b = sllmp_xmalloc(sizeof(*b) + size);

    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void
sllmp_arena_init(sllmp_arena_t *a, size_t block_size)
{
    a->block_size = block_size ? block_size : 16384;
    a->head = NULL;
    a->cleanups = NULL;
    a->total = 0;
}

void *
sllmp_arena_alloc(sllmp_arena_t *a, size_t n)
{
    struct sllmp_arena_block_s *b = a->head;
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);

    if (need == 0) {
        need = ALIGN;
    }
    if (b == NULL || b->size - b->used < need) {
        if (need > a->block_size / 4 && b != NULL) {
            /* Big: a block of its own, behind the current one so its free space stays usable. */
            struct sllmp_arena_block_s *big = block_new(need);

            big->used = need;
            big->next = b->next;
            b->next = big;
            a->total += need;
            return big->data;
        }
        b = block_new(need > a->block_size ? need : a->block_size);
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;

    b->used += need;
    a->total += need;
    return p;
}

void *
sllmp_arena_calloc(sllmp_arena_t *a, size_t n)
{
    void *p = sllmp_arena_alloc(a, n);

    memset(p, 0, n);
    return p;
}

char *
sllmp_arena_strndup(sllmp_arena_t *a, const char *s, size_t n)
{
    char *p = sllmp_arena_alloc(a, n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
sllmp_arena_strdup(sllmp_arena_t *a, const char *s)
{
    return sllmp_arena_strndup(a, s, strlen(s));
}

char *
sllmp_arena_printf(sllmp_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    SLLMP_ASSERT(n >= 0);
    p = sllmp_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void
sllmp_arena_cleanup_add(sllmp_arena_t *a, sllmp_cleanup_f *fn, void *data)
{
    struct sllmp_arena_cleanup_s *c = sllmp_arena_alloc(a, sizeof(*c));

    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
}

static void
run_cleanups(sllmp_arena_t *a)
{
    /* A cleanup may add another; loop until the list stays empty. */
    while (a->cleanups != NULL) {
        struct sllmp_arena_cleanup_s *c = a->cleanups;

        a->cleanups = c->next;
        c->fn(c->data);
    }
}

void
sllmp_arena_reset(sllmp_arena_t *a)
{
    struct sllmp_arena_block_s *b, *keep = NULL;

    run_cleanups(a);
    b = a->head;
    while (b != NULL) {
        struct sllmp_arena_block_s *next = b->next;

        if (next == NULL && b->size == a->block_size) {
            keep = b;
        } else {
            free(b);
        }
        b = next;
    }
    if (keep != NULL) {
        keep->used = 0;
    }
    a->head = keep;
    a->total = 0;
}

void
sllmp_arena_destroy(sllmp_arena_t *a)
{
    sllmp_arena_reset(a);
    free(a->head);
    a->head = NULL;
}
