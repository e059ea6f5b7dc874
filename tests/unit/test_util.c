/*
 * util.c: the random source (buffered per thread; a fork's child must never hand out the bytes its
 * parent will) and SHA-256 (its implementation fetched once).
 */
#include "sllmp/util.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* After a fork, parent and child draw different ids, again and again. */
static void
test_random_differs_across_fork(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        char mine[33], theirs[33] = {0};
        int p[2];
        pid_t kid;

        sllmp_random_hex(mine, 4); /* part of the buffer used before the fork */
        assert_int_equal(pipe(p), 0);
        kid = fork();
        assert_true(kid >= 0);
        if (kid == 0) {
            char id[33];

            sllmp_random_hex(id, 16);
            _exit(write(p[1], id, 32) == 32 ? 0 : 1);
        }
        sllmp_random_hex(mine, 16);
        assert_int_equal(read(p[0], theirs, 32), 32);
        close(p[0]);
        close(p[1]);
        int st;
        assert_int_equal(waitpid(kid, &st, 0), kid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_string_not_equal(mine, theirs);
    }
}

static void *
draw(void *arg)
{
    char *out = arg;

    for (int i = 0; i < 100; i++) {
        sllmp_random_hex(out + 33 * i, 16);
    }
    return NULL;
}

/* Draws never repeat, within a thread, across threads and across a buffer's refills. */
static void
test_random_never_repeats(void **state)
{
    enum { T = 4, N = 100 };
    static char ids[T][N * 33];
    pthread_t t[T];
    unsigned char big[300], zero[300] = {0};

    (void)state;
    for (int i = 0; i < T; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, draw, ids[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(t[i], NULL);
    }
    for (int a = 0; a < T * N; a++) {
        const char *x = ids[a / N] + 33 * (a % N);

        assert_int_equal(strlen(x), 32);
        for (int b = a + 1; b < T * N; b++) {
            assert_string_not_equal(x, ids[b / N] + 33 * (b % N));
        }
    }
    sllmp_random(big, sizeof(big)); /* a large draw goes straight to the kernel */
    assert_memory_not_equal(big, zero, sizeof(big));
}

static void
test_sha256(void **state)
{
    static const unsigned char abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                          0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                          0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                          0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    unsigned char got[32];

    (void)state;
    sllmp_sha256("abc", 3, got);
    assert_memory_equal(got, abc, 32);
    sllmp_sha256("abd", 3, got);
    assert_memory_not_equal(got, abc, 32);
}

static void
test_blank(void **state)
{
    (void)state;
    assert_true(sllmp_blank(""));
    assert_true(sllmp_blank(" \t\r\n\v\f"));
    assert_false(sllmp_blank(" x "));
    assert_false(sllmp_blank("\n."));
    /* not ASCII whitespace: text, whatever the locale */
    assert_false(sllmp_blank("\xc2\xa0"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_differs_across_fork),
        cmocka_unit_test(test_random_never_repeats),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_blank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
