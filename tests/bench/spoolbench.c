/*
 * The cost of one trace record: T threads each write N records of S bytes through
 * sllmp_spool_write() (what `complete` does), with and without fsync, into a spool under DIR.
 * Prints one line per run:
 *
 *   spool fsync=1 threads=16 records=8000 bytes=2048 rec_per_s=9500 p50_us=1400 p99_us=4100
 *
 *   spoolbench DIR [THREADS [RECORDS_PER_THREAD [BYTES]]]
 */
#include "sllmp/spool.h"
#include "sllmp/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *dir;
    int fsync;
    long n;
    const char *rec;
    size_t len;
    int64_t *lat_us; /* n per thread */
} job_t;

static int64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *
writer(void *arg)
{
    job_t *j = arg;

    for (long i = 0; i < j->n; i++) {
        int64_t t0 = now_us();

        if (sllmp_spool_write(j->dir, j->rec, j->len, j->fsync, 0, NULL) != SLLMP_SPOOL_WRITTEN) {
            fprintf(stderr, "spoolbench: a write failed\n");
            exit(1);
        }
        j->lat_us[i] = now_us() - t0;
    }
    return NULL;
}

static int
cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void
run(const char *base, int fsync, int threads, long n, size_t len)
{
    char dir[4096];
    char *rec = sllmp_xmalloc(len);
    pthread_t *tid = sllmp_xcalloc((size_t)threads, sizeof(*tid));
    job_t *jobs = sllmp_xcalloc((size_t)threads, sizeof(*jobs));
    int64_t *lat = sllmp_xcalloc((size_t)threads * (size_t)n, sizeof(*lat));
    int64_t t0, dt;
    long total = (long)threads * n;

    snprintf(dir, sizeof(dir), "%s/spool-fsync%d", base, fsync);
    memset(rec, 'x', len);
    rec[0] = '{';
    rec[len - 2] = '}';
    rec[len - 1] = '\n';
    t0 = now_us();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job_t){dir, fsync, n, rec, len, lat + (size_t)i * (size_t)n};
        pthread_create(&tid[i], NULL, writer, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
    }
    dt = now_us() - t0;
    qsort(lat, (size_t)total, sizeof(*lat), cmp);
    printf("spool fsync=%d threads=%d records=%ld bytes=%zu rec_per_s=%.0f p50_us=%lld "
           "p99_us=%lld\n",
           fsync, threads, total, len, (double)total * 1e6 / (double)(dt > 0 ? dt : 1),
           (long long)lat[total / 2], (long long)lat[total * 99 / 100]);
    free(rec);
    free(tid);
    free(jobs);
    free(lat);
}

int
main(int argc, char **argv)
{
    int threads = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 16;
    long n = argc > 3 ? strtol(argv[3], NULL, 10) : 500;
    size_t len = argc > 4 ? (size_t)strtol(argv[4], NULL, 10) : 2048;

    if (argc < 2 || threads < 1 || n < 1 || len < 4) {
        fprintf(stderr, "usage: spoolbench DIR [THREADS [RECORDS_PER_THREAD [BYTES]]]\n");
        return 2;
    }
    if (getenv("SPOOLBENCH_RENAME") != NULL) {
        sllmp_spool_use_rename(1); /* the tmp/-and-rename way, as without O_TMPFILE */
    }
    run(argv[1], 0, threads, n, len);
    run(argv[1], 1, threads, n, len);
    return 0;
}
