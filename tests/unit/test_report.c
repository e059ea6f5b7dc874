/*
 * `sllmp usage` (src/store/report.c): what it lists, read from the local store the config names,
 * against what the gateway counts there.
 */
#include "sllmp/conf.h"
#include "sllmp/limits.h"
#include "sllmp/util.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../src/store/report.c"

typedef struct {
    char dir[64];
    char file[96];
    sllmp_conf_t *c;
    sllmp_store_t *st;
} fixture_t;

static int
teardown(void **state)
{
    fixture_t *f = *state;

    if (f->st != NULL) {
        f->st->ops->close(f->st);
    }
    sllmp_conf_unref(f->c);
    unlink(f->file);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The config (its local_file in a directory of its own) and its store. */
static fixture_t *
open_with(void **state, const char *yaml_tail)
{
    fixture_t *f = sllmp_xcalloc(1, sizeof(*f));
    char *yaml, *err = NULL, msg[256] = "";

    *state = f;
    snprintf(f->dir, sizeof(f->dir), "/tmp/sllmp-report-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->file, sizeof(f->file), "%s/limits", f->dir);
    yaml = sllmp_xasprintf("sllmp:\n"
                           "  limits:\n"
                           "    backend: local\n"
                           "    local_file: %s\n"
                           "%s",
                           f->file, yaml_tail);
    f->c = sllmp_conf_load("t.yaml", yaml, strlen(yaml), &err);
    free(yaml);
    if (f->c == NULL) {
        fail_msg("config: %s", err);
    }
    f->st = sllmp_store_open(f->c, msg, sizeof(msg));
    if (f->st == NULL) {
        fail_msg("store: %s", msg);
    }
    return f;
}

/* `sllmp usage --json`, parsed. */
static cJSON *
report_json(fixture_t *f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cJSON *arr;

    assert_int_equal(sllmp_usage_report(f->c, 1, out, stderr), 0);
    fclose(out);
    arr = cJSON_Parse(text);
    free(text);
    assert_non_null(arr);
    return arr;
}

static const cJSON *
row(const cJSON *arr, const char *subject)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "subject");

        if (cJSON_IsString(s) && strcmp(s->valuestring, subject) == 0) {
            return it;
        }
    }
    return NULL;
}

static double
num(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (!cJSON_IsNumber(v)) {
        fail_msg("no number %s", name);
    }
    return v->valuedouble;
}

/* A deployment limited only by max_parallel_requests: its requests in flight are reported. */
static void
test_deployment_parallel(void **state)
{
    fixture_t *f = open_with(state, "model_list:\n"
                                    "  - model_name: par\n"
                                    "    litellm_params:\n"
                                    "      model: openai/llama3\n"
                                    "      api_base: http://127.0.0.1:9/v1\n"
                                    "      max_parallel_requests: 2\n");
    const sllmp_deployment_t *d = &f->c->deployments[0];
    sllmp_subject_t dep;
    sllmp_reservation_t res = {"", 10, 0, 60000};
    sllmp_verdict_t v;
    const cJSON *r;
    cJSON *arr;

    /* what sllmp_limits_attempt reserves for an attempt on it */
    memset(&dep, 0, sizeof(dep));
    snprintf(dep.id, sizeof(dep.id), "%s", d->subject);
    dep.lim = (sllmp_limits_t){d->rpm, d->tpm, d->max_parallel, -1, 0};
    dep.report_period_s = 86400;
    sllmp_random_hex(res.id, 16);
    assert_int_equal(f->st->ops->reserve(f->st, &dep, 1, &res, &v), 0);
    assert_true(v.allowed);

    arr = report_json(f);
    r = row(arr, d->subject);
    assert_non_null(r);
    assert_int_equal((int)num(r, "in_flight"), 1);
    assert_int_equal((int)num(r, "max_parallel"), 2);
    cJSON_Delete(arr);
}

/*
 * A limits file of another version (the pool not restarted yet after an upgrade, or the other
 * way round): the report must not initialise it again, which would wipe the pool's counts and
 * spend under it. It says so and leaves the file as it is.
 */
static void
test_other_version_left_alone(void **state)
{
    fixture_t *f = open_with(state, "model_list:\n"
                                    "  - model_name: m\n"
                                    "    litellm_params:\n"
                                    "      model: openai/llama3\n"
                                    "      api_base: http://127.0.0.1:9/v1\n");
    struct {
        uint64_t magic;
        uint32_t version;
    } old = {UINT64_C(0x4d494c504d4c4c53), 2}, back;
    char *text = NULL, *errs = NULL;
    size_t len = 0, elen = 0;
    FILE *out, *err;
    int fd;

    f->st->ops->close(f->st);
    f->st = NULL;
    fd = open(f->file, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &old, sizeof(old), 0), sizeof(old));
    close(fd);

    out = open_memstream(&text, &len);
    err = open_memstream(&errs, &elen);
    assert_int_equal(sllmp_usage_report(f->c, 1, out, err), 1);
    fclose(out);
    fclose(err);
    assert_non_null(strstr(errs, "another version"));
    free(text);
    free(errs);
    fd = open(f->file, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &back, sizeof(back), 0), sizeof(back));
    close(fd);
    assert_int_equal(back.version, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_deployment_parallel, teardown),
        cmocka_unit_test_teardown(test_other_version_left_alone, teardown),
    };

    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
