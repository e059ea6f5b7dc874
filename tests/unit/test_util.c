/*
 * util.c: the random source (buffered per thread; a fork's child must never hand out the bytes its
 * parent will), SHA-256 (its implementation fetched once), and UTF-8: what is well-formed, where a
 * cut may fall, and what becomes U+FFFD (util.c, buf.c) as Python decodes it with "replace".
 */
#include "sllmp/util.h"
#include "sllmp/buf.h"

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

static void
test_utf8_char(void **state)
{
    static const struct {
        const char *s;
        size_t len, skip; /* len 0: ill-formed, skip bytes for one U+FFFD */
    } cases[] = {
        {"a", 1, 1},
        {"\xc3\xa9", 2, 1},
        {"\xe2\x82\xac", 3, 1},
        {"\xf0\x9f\x98\x80", 4, 1},
        {"\xf4\x8f\xbf\xbf", 4, 1}, /* U+10FFFF */
        {"\xc3", 0, 1},             /* cut at the end */
        {"\xc3'", 0, 1},            /* cut, then the rest of a message */
        {"\xe2\x82x", 0, 2},        /* a maximal subpart of two bytes, one U+FFFD */
        {"\xf0\x9f\x98", 0, 3},
        {"\x80", 0, 1},             /* a stray continuation byte */
        {"\xc0\xaf", 0, 1},         /* overlong */
        {"\xe0\x80\xaf", 0, 1},     /* overlong */
        {"\xed\xa0\x80", 0, 1},     /* a surrogate */
        {"\xf4\x90\x80\x80", 0, 1}, /* past U+10FFFF */
        {"\xf5\x80", 0, 1},
        {"\xff", 0, 1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t skip = 99;
        size_t got = sllmp_utf8_char(cases[i].s, strlen(cases[i].s), &skip);

        if (got != cases[i].len || (got == 0 && skip != cases[i].skip)) {
            fail_msg("case %zu: got %zu (skip %zu), want %zu (skip %zu)", i, got, skip,
                     cases[i].len, cases[i].skip);
        }
    }
    assert_int_equal(sllmp_utf8_valid("ab\xc3\xa9\x63", 5), 5);
    assert_int_equal(sllmp_utf8_valid("ab\xc3\xa9\xc3", 5), 4);
    assert_int_equal(sllmp_utf8_valid("\xed\xa0\x80", 3), 0);
}

static void
test_utf8_prec(void **state)
{
    char msg[64];

    (void)state;
    /* the 4th byte is the first of a character: the cut goes before it */
    assert_int_equal(sllmp_utf8_prec("aaa\xc3\xa9", 4), 3);
    assert_int_equal(sllmp_utf8_prec("aaa\xc3\xa9", 5), 5);
    assert_int_equal(sllmp_utf8_prec("aaa\xc3\xa9z", 5), 5);
    assert_int_equal(sllmp_utf8_prec("aa", 200), 2);
    assert_int_equal(sllmp_utf8_prec("\xe2\x82\xac\xe2\x82\xac", 5), 3);
    snprintf(msg, sizeof(msg), "model '%.*s'", sllmp_utf8_prec("aaa\xc3\xa9", 4), "aaa\xc3\xa9");
    assert_string_equal(msg, "model 'aaa'");
}

static void
test_utf8_replacement(void **state)
{
    sllmp_buf_t b;

    (void)state;
    sllmp_buf_init(&b, 0);
    sllmp_buf_json_escape(&b, "a\xc3'\"\xc3\xa9\xe2\x82x\xff\n", 11);
    assert_string_equal(sllmp_buf_cstr(&b), "a\\ufffd'\\\"\xc3\xa9\\ufffdx\\ufffd\\n");
    sllmp_buf_reset(&b);
    sllmp_buf_append_utf8(&b, "ok \xc3\xa9 \xed\xa0\x80 \xc3", 12);
    assert_string_equal(sllmp_buf_cstr(&b), "ok \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                                            "\xef\xbf\xbd");
    sllmp_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_differs_across_fork),
        cmocka_unit_test(test_random_never_repeats),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_blank),
        cmocka_unit_test(test_utf8_char),
        cmocka_unit_test(test_utf8_prec),
        cmocka_unit_test(test_utf8_replacement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
