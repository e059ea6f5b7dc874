/*
 * The spool's writing side: both ways of making a record (a nameless file linked into new/, and
 * the tmp/-and-rename way of systems without O_TMPFILE), from many threads at once, a spool
 * removed under the writers, the quota, and the modes of what is made.
 */
#include "sllmp/spool.h"

#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define THREADS 8
#define EACH    25

static char top[] = "/tmp/sllmp-spool-XXXXXX";

#include "tmp_top.h"

typedef struct {
    const char *dir;
    int id;
    int failed;
} writer_t;

static void *
writer(void *arg)
{
    writer_t *w = arg;
    char rec[256], reqid[32];

    for (int i = 0; i < EACH; i++) {
        int n = snprintf(rec, sizeof(rec), "{\"writer\":%d,\"n\":%d,\"pad\":\"%0*d\"}", w->id, i,
                         64 + i, 0);

        snprintf(reqid, sizeof(reqid), "w%d-%d", w->id, i);
        if (sllmp_spool_write(w->dir, rec, (size_t)n, i % 2, 0, reqid) != SLLMP_SPOOL_WRITTEN) {
            w->failed++;
        }
    }
    return NULL;
}

/* The files of dir/sub: their count; each is checked to be one whole record, mode 0600. */
static int
check_records(const char *dir, const char *sub, int seen[THREADS][EACH])
{
    char path[4096];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    d = opendir(path);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char file[8192], text[512];
        struct stat sb;
        FILE *f;
        size_t len;
        int w, i;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        assert_int_equal(stat(file, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        assert_int_equal(sb.st_nlink, 1);
        f = fopen(file, "r");
        assert_non_null(f);
        len = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[len] = '\0';
        assert_int_equal(sscanf(text, "{\"writer\":%d,\"n\":%d,", &w, &i), 2);
        assert_true(w >= 0 && w < THREADS && i >= 0 && i < EACH);
        assert_int_equal(len, strlen(text));
        assert_int_equal(len, (size_t)snprintf(NULL, 0, "{\"writer\":%d,\"n\":%d,\"pad\":\"%0*d\"}",
                                               w, i, 64 + i, 0));
        seen[w][i]++;
        n++;
    }
    closedir(d);
    return n;
}

static void
many_writers(const char *dir)
{
    pthread_t t[THREADS];
    writer_t w[THREADS];
    int seen[THREADS][EACH];
    struct stat sb;

    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < THREADS; i++) {
        w[i] = (writer_t){.dir = dir, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, writer, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failed, 0);
    }
    assert_int_equal(check_records(dir, "new", seen), THREADS * EACH);
    for (int i = 0; i < THREADS; i++) {
        for (int j = 0; j < EACH; j++) {
            assert_int_equal(seen[i][j], 1);
        }
    }
    memset(seen, 0, sizeof(seen));
    assert_int_equal(check_records(dir, "tmp", seen), 0); /* nothing left behind */
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    sllmp_spool_stats_t st;
    assert_int_equal(sllmp_spool_stats(dir, &st), 0);
    assert_int_equal(st.records, THREADS * EACH);
    assert_int_equal(st.written, THREADS * EACH);
    assert_int_equal(st.dropped, 0);
}

/* The records in dir/new. */
static int
count_new(const char *dir)
{
    char path[4200];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(path, sizeof(path), "%s/new", dir);
    d = opendir(path);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* A spool removed while the process holds its directories open is made again at the next write. */
static void
removed_under_us(const char *dir)
{
    static const char rec[] = "{\"writer\":0}";

    for (int fsync = 0; fsync < 2; fsync++) {
        assert_int_equal(sllmp_spool_write(dir, rec, sizeof(rec) - 1, fsync, 0, "r"),
                         SLLMP_SPOOL_WRITTEN);
        rm_rf(dir);
        assert_int_equal(sllmp_spool_write(dir, rec, sizeof(rec) - 1, fsync, 0, "r"),
                         SLLMP_SPOOL_WRITTEN);
        assert_int_equal(count_new(dir), 1);
    }
}

/* Many writers, then a removed spool, in fresh directories named after the way. */
static void
both_cases(const char *way, int rename_way)
{
    char dir[64];

    sllmp_spool_use_rename(rename_way);
    snprintf(dir, sizeof(dir), "%s/%s", top, way);
    many_writers(dir);
    snprintf(dir, sizeof(dir), "%s/%s-removed", top, way);
    removed_under_us(dir);
    sllmp_spool_use_rename(0);
}

static void
test_linked(void **state)
{
    (void)state;
    both_cases("linked", 0);
}

static void
test_renamed(void **state)
{
    (void)state;
    both_cases("renamed", 1);
}

static void
test_quota(void **state)
{
    char dir[64];
    sllmp_spool_stats_t st;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/quota", top);
    assert_int_equal(sllmp_spool_write(dir, "0123456789", 10, 0, 25, "q"), SLLMP_SPOOL_WRITTEN);
    assert_int_equal(sllmp_spool_write(dir, "0123456789", 10, 0, 25, "q"), SLLMP_SPOOL_WRITTEN);
    assert_int_equal(sllmp_spool_write(dir, "0123456789", 10, 0, 25, "q"), SLLMP_SPOOL_FULL);
    assert_int_equal(sllmp_spool_stats(dir, &st), 0);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.bytes, 20);
    assert_int_equal(st.dropped, 1);
}

/* Writers at once never take the spool past its quota together. */
#define QUOTA_THREADS 8
#define QUOTA_REC     1000
#define QUOTA_MAX     (20 * QUOTA_REC)

typedef struct {
    const char *dir;
    int written;
} quota_writer_t;

static void *
quota_writer(void *arg)
{
    quota_writer_t *w = arg;
    static char rec[QUOTA_REC];

    memset(rec, 'x', sizeof(rec));
    for (int i = 0; i < 20; i++) {
        w->written +=
            sllmp_spool_write(w->dir, rec, sizeof(rec), 0, QUOTA_MAX, "q") == SLLMP_SPOOL_WRITTEN;
    }
    return NULL;
}

static void
test_quota_concurrent(void **state)
{
    char dir[64], path[128];
    pthread_t t[QUOTA_THREADS];
    quota_writer_t w[QUOTA_THREADS];
    sllmp_spool_stats_t st;
    int written = 0;
    long bytes = 0;
    struct dirent *e;
    DIR *d;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/quota-mt", top);
    for (int i = 0; i < QUOTA_THREADS; i++) {
        w[i].dir = dir;
        w[i].written = 0;
        assert_int_equal(pthread_create(&t[i], NULL, quota_writer, &w[i]), 0);
    }
    for (int i = 0; i < QUOTA_THREADS; i++) {
        pthread_join(t[i], NULL);
        written += w[i].written;
    }
    snprintf(path, sizeof(path), "%s/new", dir);
    d = opendir(path);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        struct stat sb;
        char file[512];

        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        if (e->d_name[0] != '.' && stat(file, &sb) == 0) {
            bytes += (long)sb.st_size;
        }
    }
    closedir(d);
    assert_int_equal(written, QUOTA_MAX / QUOTA_REC);
    assert_int_equal(bytes, QUOTA_MAX);
    assert_int_equal(sllmp_spool_stats(dir, &st), 0);
    assert_int_equal(st.bytes, QUOTA_MAX);
    assert_int_equal(st.dropped, QUOTA_THREADS * 20 - QUOTA_MAX / QUOTA_REC);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linked),
        cmocka_unit_test(test_renamed),
        cmocka_unit_test(test_quota),
        cmocka_unit_test(test_quota_concurrent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
