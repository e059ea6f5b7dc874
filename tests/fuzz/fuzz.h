/*
 * Shared by the libFuzzer targets (tests/fuzz/fuzz_*.c, built by `make fuzz` and replayed over
 * their corpus by `make test`). A target includes the .c under test when it needs its statics,
 * as the unit tests do, and fails with fuzz_check() when a property does not hold: a crash, a
 * sanitizer report or a broken property all stop libFuzzer with the input saved.
 */
#ifndef SLLMP_FUZZ_H
#define SLLMP_FUZZ_H

#include "sllmp/log.h"
#include "sllmp/translate.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string (free() it); embedded NULs stay. */
static __attribute__((unused)) char *
fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL) {
        abort();
    }
    if (size > 0) {
        memcpy(s, data, size);
    }
    s[size] = '\0';
    return s;
}

/* No log lines: they would bury libFuzzer's own output. */
static __attribute__((unused)) void
fuzz_quiet(void)
{
    sllmp_log_level = -1;
}

#define fuzz_check(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* j prints as JSON that parses again. */
static __attribute__((unused)) void
fuzz_reparses(const cJSON *j)
{
    char *text = cJSON_PrintUnformatted(j);
    cJSON *again;

    fuzz_check(text != NULL);
    again = cJSON_Parse(text);
    fuzz_check(again != NULL);
    cJSON_Delete(again);
    cJSON_free(text);
}

/* A translator's refusal: its message (never empty) and param are strings within their
 * buffers. */
static __attribute__((unused)) void
fuzz_check_refusal(const sllmp_xerr_t *e)
{
    fuzz_check(memchr(e->message, '\0', sizeof(e->message)) != NULL);
    fuzz_check(memchr(e->param, '\0', sizeof(e->param)) != NULL);
    fuzz_check(e->message[0] != '\0');
}

/* A provider translator's answer (taken): JSON that prints and parses again, or a reason. */
static __attribute__((unused)) void
fuzz_check_translated(cJSON *out, const sllmp_xerr_t *e)
{
    if (out == NULL) {
        fuzz_check_refusal(e);
        return;
    }
    fuzz_reparses(out);
    cJSON_Delete(out);
}

/* A member that must be a number: its value. */
static __attribute__((unused)) double
fuzz_num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    fuzz_check(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* An OTLP export's spans: resourceSpans[0].scopeSpans[0].spans (NULL when it has none). */
static __attribute__((unused)) const cJSON *
fuzz_otlp_spans(const cJSON *doc)
{
    const cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "resourceSpans"), 0);
    const cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rs, "scopeSpans"), 0);

    return cJSON_GetObjectItemCaseSensitive(ss, "spans");
}

#endif
