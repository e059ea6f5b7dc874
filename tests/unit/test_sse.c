/*
 * SSE parser: WHATWG rules under every way the bytes can be split.
 */
#include "sllmp/sse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

typedef struct {
    char events[32][256];
    char types[32][64];
    int n;
} seen_t;

static int
collect(void *ud, const char *event, size_t elen, const char *data, size_t dlen)
{
    seen_t *s = ud;

    snprintf(s->types[s->n], sizeof(s->types[0]), "%.*s", (int)elen, event);
    snprintf(s->events[s->n], sizeof(s->events[0]), "%.*s", (int)dlen, data);
    s->n++;
    return 0;
}

/* Feeds text in pieces of `step` bytes (0: all at once). */
static void
feed(seen_t *s, const char *text, size_t step)
{
    sllmp_sse_t p;
    size_t n = strlen(text);

    memset(s, 0, sizeof(*s));
    sllmp_sse_init(&p, 4096, collect, s);
    if (step == 0) {
        assert_int_equal(sllmp_sse_feed(&p, text, n), 0);
    } else {
        for (size_t i = 0; i < n; i += step) {
            assert_int_equal(sllmp_sse_feed(&p, text + i, i + step > n ? n - i : step), 0);
        }
    }
    sllmp_sse_free(&p);
}

static void
test_openai_stream_any_split(void **state)
{
    const char *text = "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n: keep-alive\n\ndata: [DONE]\n\n";
    seen_t s;

    (void)state;
    for (size_t step = 0; step <= 7; step++) {
        feed(&s, text, step);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.events[0], "{\"a\":1}");
        assert_string_equal(s.events[1], "{\"b\":2}");
        assert_string_equal(s.events[2], "[DONE]");
        assert_string_equal(s.types[0], "");
    }
}

static void
test_line_endings(void **state)
{
    seen_t s;

    (void)state;
    for (size_t step = 0; step <= 3; step++) {
        feed(&s, "data: crlf\r\n\r\ndata: cr\r\rdata: lf\n\n", step);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.events[0], "crlf");
        assert_string_equal(s.events[1], "cr");
        assert_string_equal(s.events[2], "lf");
    }
}

static void
test_fields(void **state)
{
    seen_t s;

    (void)state;
    /* named events, multi-line data joined with \n, one leading space dropped, no-space form,
     * unknown fields and id/retry ignored, empty data still an event */
    feed(&s, "event: message_start\ndata: a\ndata:  b\nid: 7\nretry: 10\nfoo: bar\n\n"
             "data:x\n\ndata\n\nevent: ping\n\n", 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.types[0], "message_start");
    assert_string_equal(s.events[0], "a\n b");
    assert_string_equal(s.events[1], "x");
    assert_string_equal(s.events[2], "");
    assert_string_equal(s.types[2], "");
}

static void
test_bom_and_unterminated(void **state)
{
    seen_t s;

    (void)state;
    for (size_t step = 0; step <= 2; step++) {
        feed(&s, "\xEF\xBB\xBF" "data: one\n\ndata: never dispatched", step);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.events[0], "one");
    }
}

static void
test_too_big(void **state)
{
    sllmp_sse_t p;
    seen_t s;
    char big[200];

    (void)state;
    memset(&s, 0, sizeof(s));
    memset(big, 'x', sizeof(big));
    sllmp_sse_init(&p, 64, collect, &s);
    assert_int_equal(sllmp_sse_feed(&p, "data: ", 6), 0);
    assert_int_equal(sllmp_sse_feed(&p, big, sizeof(big)), -1);
    sllmp_sse_free(&p);
}

static int
stop_at_second(void *ud, const char *event, size_t elen, const char *data, size_t dlen)
{
    int *n = ud;

    (void)event, (void)elen, (void)data, (void)dlen;
    return ++*n == 2 ? 42 : 0;
}

static void
test_callback_stops(void **state)
{
    sllmp_sse_t p;
    int n = 0;

    (void)state;
    sllmp_sse_init(&p, 1024, stop_at_second, &n);
    assert_int_equal(sllmp_sse_feed(&p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27), 42);
    assert_int_equal(n, 2);
    sllmp_sse_free(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_stream_any_split),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_bom_and_unterminated),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_callback_stops),
    };

    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
