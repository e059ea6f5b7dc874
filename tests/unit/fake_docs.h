/*
 * A limit store that keeps no documents but counts the calls to them and remembers the last
 * name and ttl: for the tests of keep.c's shelves in Redis (test_cache.c,
 * test_responses_state.c). Include after sllmp/limits.h.
 */
#ifndef SLLMP_TEST_FAKE_DOCS_H
#define SLLMP_TEST_FAKE_DOCS_H

#include <stdio.h>

typedef struct {
    sllmp_store_t base;
    int gets, puts, dels;
    long ttl;
    char name[128];
} fake_store_t;

static int
fake_get(sllmp_store_t *s, const char *name, sllmp_buf_t *out)
{
    fake_store_t *f = (fake_store_t *)s;

    f->gets++;
    snprintf(f->name, sizeof(f->name), "%s", name);
    return sllmp_buf_appends(out, "{\"from\":\"redis\"}") < 0 ? -1 : 1;
}

static int
fake_put(sllmp_store_t *s, const char *name, const char *data, size_t len, long ttl_s)
{
    fake_store_t *f = (fake_store_t *)s;

    (void)data;
    (void)len;
    f->puts++;
    f->ttl = ttl_s;
    snprintf(f->name, sizeof(f->name), "%s", name);
    return 0;
}

static int
fake_del(sllmp_store_t *s, const char *name)
{
    fake_store_t *f = (fake_store_t *)s;

    f->dels++;
    snprintf(f->name, sizeof(f->name), "%s", name);
    return 1;
}

#endif
