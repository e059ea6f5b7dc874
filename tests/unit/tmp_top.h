/*
 * A temporary directory for a group's tests: the includer defines `static char top[]` as a
 * mkdtemp template ("/tmp/sllmp-x-XXXXXX") before including this (after cmocka.h); setup makes
 * it, teardown removes it with all it holds. Used by test_spool, test_responses_state and
 * test_cache.
 */
#ifndef SLLMP_TEST_TMP_TOP_H
#define SLLMP_TEST_TMP_TOP_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static inline void
rm_rf(const char *dir)
{
    char cmd[4200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static inline int
exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static inline int
setup(void **state)
{
    (void)state;
    return mkdtemp(top) == NULL ? -1 : 0;
}

static inline int
teardown(void **state)
{
    (void)state;
    rm_rf(top);
    return 0;
}

#endif
