/*
 * JSON in unit tests: written with single quotes (sq), parsed, and compared whatever the key
 * order (assert_json). Include after <cmocka.h>.
 */
#ifndef SLLMP_TEST_JSON_HELPERS_H
#define SLLMP_TEST_JSON_HELPERS_H

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* text with every ' made a " (malloc'd) */
static __attribute__((unused)) char *
sq(const char *text)
{
    char *s = strdup(text), *p;

    assert_non_null(s);
    for (p = s; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    return s;
}

static __attribute__((unused)) cJSON *
parse_sq(const char *text)
{
    char *s = sq(text);
    cJSON *j = cJSON_Parse(s);

    if (j == NULL) {
        fail_msg("test JSON does not parse: %s", s);
    }
    free(s);
    return j;
}

/* got must equal the JSON `want` (single-quoted), whatever the key order. */
static __attribute__((unused)) void
assert_json(const cJSON *got, const char *want)
{
    cJSON *w = parse_sq(want);

    if (!cJSON_Compare(got, w, 1)) {
        char *g = got != NULL ? cJSON_PrintUnformatted(got) : strdup("(null)");
        char *x = cJSON_PrintUnformatted(w);

        print_error("got:  %s\nwant: %s\n", g, x);
        free(g);
        free(x);
        cJSON_Delete(w);
        fail();
    }
    cJSON_Delete(w);
}

#endif
