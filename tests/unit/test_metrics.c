/*
 * The pool's metrics (src/metrics.c) and the access log (src/middleware/access_log.c): whole
 * requests through sllmp_handle() with the loopback harness, counted by forked processes into
 * one file and summed by GET /metrics; slots taken over from dead processes; the address and
 * token checks; a full series table; the access log's lines and its reopening after rotation.
 */
#include "harness.h"

#include "../../src/metrics.c"
#include "../../src/middleware/access_log.c"

#include "sllmp/core.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <cmocka.h>

static char rundir[] = "/tmp/sllmp-metrics-XXXXXX";
static char conf_path[512], log_path[512];
static sllmp_worker_ctx_t *worker;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
write_conf(const char *path, const char *extra)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f,
            "model_list:\n"
            "  - model_name: m\n"
            "    litellm_params: {model: mock/echo, mock_delay_ms: 0}\n"
            "  - model_name: 'q\"uote'\n"
            "    litellm_params: {model: mock/echo, mock_delay_ms: 0}\n"
            "general_settings: {master_key: sk-master-metrics}\n"
            "keys:\n"
            "  - {name: k1, key: sk-virtual-k1-secret, rpm: 1}\n"
            "sllmp:\n"
            "  spool: {dir: %s/spool, fsync: false}\n"
            "  access_log: %s\n"
            "%s",
            rundir, log_path, extra);
    fclose(f);
}

static int
setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(rundir));
    setenv("SLLMP_RUNDIR", rundir, 1); /* metrics.db goes there */
    snprintf(conf_path, sizeof(conf_path), "%s/sllmp.yaml", rundir);
    snprintf(log_path, sizeof(log_path), "%s/access.log", rundir);
    write_conf(conf_path, "");
    setenv("SLLMP_CONFIG", conf_path, 1);
    assert_int_equal(sllmp_core_init(), 0);
    worker = sllmp_worker_new(0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sllmp_worker_free(worker);
    sllmp_core_fini();
    sllmp_conf_cache_flush();
    nftw(rundir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static int
request(fake_io_t *f, const char *uri, const char *key, const char *addr, const char *body)
{
    char auth[128];
    const char *params[] = {"REQUEST_METHOD",
                            body ? "POST" : "GET",
                            "REQUEST_URI",
                            uri,
                            "REMOTE_ADDR",
                            addr ? addr : "127.0.0.1",
                            key ? "HTTP_AUTHORIZATION" : NULL,
                            auth,
                            NULL};
    sllmp_io_t io;

    snprintf(auth, sizeof(auth), "Bearer %s", key ? key : "");
    fake_init(f, &io, params, body);
    sllmp_handle(&io, worker);
    return fake_status(f);
}

static int
chat(const char *model, const char *key)
{
    fake_io_t f;
    char body[256];
    int st;

    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":"
             "\"one two three\"}]}",
             model);
    st = request(&f, "/v1/chat/completions", key ? key : "sk-master-metrics", NULL, body);
    sllmp_buf_free(&f.out);
    return st;
}

/* The exposition through GET /metrics from loopback. */
static char *
scrape(void)
{
    fake_io_t f;
    char *text;

    assert_int_equal(request(&f, "/metrics", NULL, "127.0.0.1", NULL), 200);
    assert_non_null(strstr(sllmp_buf_cstr(&f.out), "Content-Type: text/plain; version=0.0.4"));
    text = strdup(fake_body(&f));
    sllmp_buf_free(&f.out);
    return text;
}

/* The value of the sample line that starts with `series ` (-1 when there is none). */
static double
sample(const char *text, const char *series)
{
    size_t n = strlen(series);

    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            return strtod(p + n + 1, NULL);
        }
    }
    return -1;
}

static double
scraped(const char *series)
{
    char *text = scrape();
    double v = sample(text, series);

    free(text);
    return v;
}

#define REQ_M "sllmp_requests_total{model=\"m\",provider=\"sllmp\",status=\"200\"}"

static void
test_counts_and_exposition(void **state)
{
    double before = scraped(REQ_M), errors;
    fake_io_t f;
    char *text;

    (void)state;
    errors = scraped("sllmp_errors_total{type=\"invalid_json\"}");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(chat("m", NULL), 200);
    }
    assert_int_equal(request(&f, "/v1/chat/completions", "sk-master-metrics", NULL, "{nope"), 400);
    sllmp_buf_free(&f.out);
    text = scrape();
    assert_true(sample(text, REQ_M) == (before < 0 ? 0 : before) + 3);
    assert_true(sample(text, "sllmp_errors_total{type=\"invalid_json\"}") ==
                (errors < 0 ? 0 : errors) + 1);
    /* every histogram: +Inf equals _count, and the buckets never go down */
    assert_true(sample(text, "sllmp_request_duration_seconds_bucket{model=\"m\",le=\"+Inf\"}") ==
                sample(text, "sllmp_request_duration_seconds_count{model=\"m\"}"));
    assert_true(sample(text, "sllmp_request_duration_seconds_bucket{model=\"m\",le=\"10\"}") >=
                sample(text, "sllmp_request_duration_seconds_bucket{model=\"m\",le=\"5\"}"));
    assert_true(sample(text, "sllmp_tokens_total{model=\"m\",type=\"input\"}") > 0);
    assert_true(sample(text, "sllmp_key_requests_total{key=\"master\",status=\"200\"}") >= 3);
    assert_true(sample(text, "sllmp_overhead_seconds_count") >= 4);
    assert_true(sample(text, "sllmp_active_requests") == 0);
    assert_true(sample(text, "sllmp_processes") >= 1);
    assert_non_null(strstr(text, "# TYPE sllmp_request_duration_seconds histogram\n"));
    assert_non_null(strstr(text, "sllmp_upstream_retries_total 0\n"));
    /* a configured model name with a quote is escaped; one a client makes up is not a label */
    assert_int_equal(chat("q\\\"uote", NULL), 200);
    assert_int_equal(chat("made-up-model", NULL), 404);
    free(text);
    text = scrape();
    assert_true(sample(text, "sllmp_requests_total{model=\"q\\\"uote\",provider=\"sllmp\","
                             "status=\"200\"}") == 1);
    assert_null(strstr(text, "made-up-model"));
    assert_true(sample(text, "sllmp_requests_total{model=\"none\",provider=\"none\","
                             "status=\"404\"}") >= 1);
    free(text);
}

/* Children count into their own slots; the parent's scrape sums them, also after they died. */
static void
test_forked_processes_sum_and_survive(void **state)
{
    double before = scraped(REQ_M);
    char *err = NULL;
    sllmp_conf_t *c;
    seg_t *s;
    int used_before = 0, used_after = 0;

    (void)state;
    before = before < 0 ? 0 : before;
    c = sllmp_conf_get(NULL, &err);
    s = seg_get(c);
    sllmp_conf_unref(c);
    assert_non_null(s);
    for (int round = 0; round < 2; round++) {
        pid_t kids[3];
        int ready[2], go[2];
        char byte;

        /* the three live at once (one that exits early leaves its slot to the next) */
        assert_int_equal(pipe(ready), 0);
        assert_int_equal(pipe(go), 0);
        for (int i = 0; i < 3; i++) {
            kids[i] = fork();
            assert_true(kids[i] >= 0);
            if (kids[i] == 0) {
                int ok = 1;

                close(go[1]);
                worker = sllmp_worker_new(0);
                for (int j = 0; j < 2; j++) {
                    ok &= chat("m", NULL) == 200;
                }
                (void)!write(ready[1], "x", 1);
                (void)!read(go[0], &byte, 1); /* until the parent closes it */
                _exit(ok ? 0 : 1);
            }
        }
        close(ready[1]);
        close(go[0]);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(read(ready[0], &byte, 1), 1);
        }
        close(go[1]);
        close(ready[0]);
        for (int i = 0; i < 3; i++) {
            int st;

            assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        for (int i = 0; i < MET_NSLOTS; i++) {
            *(round == 0 ? &used_before : &used_after) += s->slots[i].used != 0;
        }
    }
    /* 12 requests by 6 processes that are all gone: still counted */
    assert_true(scraped(REQ_M) == before + 12);
    /* the second round took over the first round's slots instead of new ones */
    assert_int_equal(used_after, used_before);
}

/* A process killed in the middle of a request does not leave a request in flight forever. */
static void
test_dead_process_active_not_counted(void **state)
{
    pid_t kid;
    int pipefd[2], st;
    char c;

    (void)state;
    assert_int_equal(pipe(pipefd), 0);
    kid = fork();
    if (kid == 0) {
        sllmp_req_t r;

        memset(&r, 0, sizeof(r));
        char *err = NULL;

        r.conf = sllmp_conf_get(NULL, &err);
        sllmp_metrics_request_begin(&r); /* and never the end */
        (void)!write(pipefd[1], "x", 1);
        pause();
        _exit(0);
    }
    close(pipefd[1]);
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    assert_true(scraped("sllmp_active_requests") == 1);
    kill(kid, SIGKILL);
    assert_int_equal(waitpid(kid, &st, 0), kid);
    assert_true(scraped("sllmp_active_requests") == 0);
    close(pipefd[0]);
}

static void
test_access_rules(void **state)
{
    char other[512];
    fake_io_t f;

    (void)state;
    /* defaults: loopback only */
    assert_int_equal(request(&f, "/metrics", NULL, "::1", NULL), 200);
    sllmp_buf_free(&f.out);
    assert_int_equal(request(&f, "/metrics", NULL, "::ffff:127.0.0.1", NULL), 200);
    sllmp_buf_free(&f.out);
    assert_int_equal(request(&f, "/metrics", NULL, "192.0.2.7", NULL), 403);
    assert_non_null(strstr(fake_body(&f), "\"type\""));
    assert_null(strstr(fake_body(&f), "sllmp_requests_total"));
    sllmp_buf_free(&f.out);

    /* a token, and a range */
    snprintf(other, sizeof(other), "%s/other.yaml", rundir);
    write_conf(other, "  metrics:\n    allow: [10.0.0.0/8]\n"
                      "    token: scrape-token-0123456789\n");
    setenv("SLLMP_CONFIG", other, 1);
    assert_int_equal(request(&f, "/metrics", NULL, "10.9.8.7", NULL), 200);
    sllmp_buf_free(&f.out);
    assert_int_equal(request(&f, "/metrics", NULL, "127.0.0.1", NULL), 401);
    assert_non_null(strstr(sllmp_buf_cstr(&f.out), "WWW-Authenticate: Bearer"));
    sllmp_buf_free(&f.out);
    assert_int_equal(request(&f, "/metrics", "scrape-token-012345678X", "192.0.2.7", NULL), 401);
    sllmp_buf_free(&f.out);
    assert_int_equal(request(&f, "/metrics", "scrape-token-0123456789", "192.0.2.7", NULL), 200);
    assert_non_null(strstr(fake_body(&f), "# TYPE sllmp_requests_total counter"));
    sllmp_buf_free(&f.out);
    /* the master key is no metrics token */
    assert_int_equal(request(&f, "/metrics", "sk-master-metrics", "192.0.2.7", NULL), 401);
    sllmp_buf_free(&f.out);

    /* off */
    write_conf(other, "  metrics: {enabled: false}\n");
    sllmp_conf_cache_flush();
    assert_int_equal(request(&f, "/metrics", NULL, "127.0.0.1", NULL), 404);
    sllmp_buf_free(&f.out);
    setenv("SLLMP_CONFIG", conf_path, 1);
    unlink(other);
}

static seg_t *
private_seg(const char *name)
{
    char path[600], err[4400] = "";
    seg_t *s;

    snprintf(path, sizeof(path), "%s/%s", rundir, name);
    s = seg_map(path, err, sizeof(err));
    if (s == NULL) {
        fail_msg("%s", err);
    }
    return s;
}

static void
seg_free(seg_t *s)
{
    munmap(s->base, FILE_SIZE);
    close(s->fd);
    free(s);
}

static uint32_t
nseries(const seg_t *s)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < MET_NSERIES; i++) {
        n += s->series[i].state != S_FREE;
    }
    return n;
}

static void
test_series_table_full(void **state)
{
    char labels[64];
    seg_t *s = private_seg("full.db");
    uint32_t n;

    (void)state;
    /* histograms take 17 values each: the values run out after 963 of them */
    for (int i = 0; i < 1000; i++) {
        snprintf(labels, sizeof(labels), "model=\"h%d\"", i);
        observe(s, F_DURATION, labels, 1000);
    }
    assert_int_equal(s->hdr->series_dropped, 1000 - MET_NVALUES / 17);
    /* a series without room is kept as such, not made again at each count */
    n = nseries(s);
    observe(s, F_DURATION, "model=\"h999\"", 1000);
    assert_int_equal(nseries(s), n);
    assert_int_equal(s->hdr->series_dropped, 1000 - MET_NVALUES / 17 + 1);
    /* then the table itself fills */
    for (int i = 0; i < MET_NSERIES; i++) {
        snprintf(labels, sizeof(labels), "model=\"x%d\"", i);
        count(s, F_COST, labels, 1);
    }
    assert_int_equal(nseries(s), MET_NSERIES);
    /* a series that exists still counts */
    count(s, F_DURATION, "model=\"h1\"", 0); /* nothing */
    observe(s, F_DURATION, "model=\"h1\"", 1000);
    assert_int_equal(s->values[(size_t)s->slot * MET_NVALUES +
                               series_find(s, F_DURATION, "model=\"h1\"") + MET_NLE_REQUEST],
                     2);
    seg_free(s);
}

/* 5000 us is in le="0.005" (le means <=), 5001 in le="0.01"; the buckets add up. */
static void
test_histogram_buckets(void **state)
{
    seg_t *s = private_seg("buckets.db");
    uint64_t *v;

    (void)state;
    observe(s, F_DURATION, "", 5000);
    observe(s, F_DURATION, "", 5001);
    observe(s, F_DURATION, "", 400000000); /* past the last bound: only in +Inf */
    v = s->values + (size_t)s->slot * MET_NVALUES + series_find(s, F_DURATION, "");
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 1);
    assert_int_equal(v[MET_NLE_REQUEST], 3);                           /* count */
    assert_int_equal(v[MET_NLE_REQUEST + 1], 5000 + 5001 + 400000000); /* sum, us */
    seg_free(s);
}

/* A writer that died halfway through a new series: the next process takes the entry over.
 * One alive but slow: the count is dropped, and no second entry of the series is made. */
static void
test_busy_series(void **state)
{
    seg_t *s = private_seg("busy.db");
    const char *labels = "model=\"busy\"";
    uint32_t home = series_hash(F_COST, labels) & (MET_NSERIES - 1), at;
    pid_t kid = fork();
    int st;

    (void)state;
    if (kid == 0) {
        _exit(0);
    }
    assert_int_equal(waitpid(kid, &st, 0), kid);
    s->series[home].state = S_BUSY | (uint32_t)kid;
    at = series_find(s, F_COST, labels);
    assert_true(at != UINT32_MAX);
    assert_int_equal(s->series[home].state, S_READY);
    assert_string_equal(s->series[home].labels, labels);

    labels = "model=\"slow\"";
    home = series_hash(F_COST, labels) & (MET_NSERIES - 1);
    s->series[home].state = S_BUSY | (uint32_t)getpid();
    assert_int_equal(series_find(s, F_COST, labels), UINT32_MAX);
    assert_int_equal(nseries(s), 2);
    assert_int_equal(s->hdr->series_dropped, 1);
    seg_free(s);
}

/* A slot under our pid but another start time was a dead process's (the pid was reused): it is
 * taken over, its requests in flight are not ours. */
static void
test_reused_pid_slot(void **state)
{
    seg_t *s = private_seg("reused.db");
    int dead;

    (void)state;
    s->slots[7].pid = (int32_t)getpid();
    s->slots[7].start = 1;
    s->slots[7].used = 1;
    s->slots[7].active = 5;
    assert_int_equal(slot_claim(s), 7);
    assert_int_equal(s->slots[7].start, proc_start(getpid(), &dead));
    assert_int_equal(s->slots[7].active, 0);
    assert_false(dead);
    seg_free(s);
}

static void
test_file_versions(void **state)
{
    char path[600], err[4400] = "";
    seg_t *s, *s2;
    hdr_t h;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s/foreign.db", rundir);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_int_equal(write(fd, "not a metrics file at all", 25), 25);
    close(fd);
    assert_null(seg_map(path, err, sizeof(err)));
    assert_non_null(strstr(err, "is not an sllmp metrics file"));

    /* ours, another version: replaced by a fresh file */
    snprintf(path, sizeof(path), "%s/old.db", rundir);
    header_init(&h);
    h.version = MET_VERSION + 7;
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_int_equal(write(fd, &h, sizeof(h)), (ssize_t)sizeof(h));
    close(fd);
    s = seg_map(path, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(s->hdr->version, MET_VERSION);
    /* the mapping holds no lock: another open of the file (another process's) goes through,
     * where it used to wait forever (SIGALRM ends the test then) */
    alarm(5);
    s2 = seg_map(path, err, sizeof(err));
    alarm(0);
    assert_non_null(s2);
    seg_free(s2);
    seg_free(s);
}

static void
test_labels_and_numbers(void **state)
{
    labels_t l;
    char n[48];

    (void)state;
    assert_string_equal(labels2(&l, "model", "a\"b\\c\nd", "type", "input"),
                        "model=\"a\\\"b\\\\c\\nd\",type=\"input\"");
    {
        char longv[MET_VALUE + 8];

        memset(longv, 'a', MET_VALUE - 1);
        memcpy(longv + MET_VALUE - 1, "\xc3\xa9z", 4); /* an e-acute across the cut */
        labels1(&l, "m", longv);
        assert_int_equal(strlen(l.s), strlen("m=\"\"") + MET_VALUE - 1);
    }
    assert_string_equal(fixed(n, sizeof(n), 1500000, 1000000, 6), "1.5");
    assert_string_equal(fixed(n, sizeof(n), 100, 1000000, 6), "0.0001");
    assert_string_equal(fixed(n, sizeof(n), 300000000, 1000000, 6), "300");
    assert_string_equal(fixed(n, sizeof(n), 1234567891, 1000000000, 9), "1.234567891");
    for (int f = 0; f < F_N; f++) {
        for (int i = 1; i < families[f].nle; i++) {
            assert_true(families[f].le[i] > families[f].le[i - 1]);
        }
    }
}

static void
test_cidr(void **state)
{
    sllmp_cidr_t l[3];

    (void)state;
    assert_int_equal(sllmp_cidr_parse("10.0.0.0/8", &l[0]), 0);
    assert_int_equal(sllmp_cidr_parse("2001:db8::/32", &l[1]), 0);
    assert_int_equal(sllmp_cidr_parse("192.168.1.7", &l[2]), 0);
    assert_true(sllmp_cidr_match(l, 3, "10.200.3.4"));
    assert_false(sllmp_cidr_match(l, 3, "11.0.0.1"));
    assert_true(sllmp_cidr_match(l, 3, "2001:db8:1::5"));
    assert_false(sllmp_cidr_match(l, 3, "2001:db9::5"));
    assert_true(sllmp_cidr_match(l, 3, "192.168.1.7"));
    assert_true(sllmp_cidr_match(l, 3, "::ffff:192.168.1.7"));
    assert_false(sllmp_cidr_match(l, 3, "192.168.1.8"));
    assert_false(sllmp_cidr_match(l, 3, NULL));
    assert_false(sllmp_cidr_match(l, 3, "garbage"));
    /* the IPv4-mapped range is IPv4's; ::/0 is every IPv6 address */
    assert_int_equal(sllmp_cidr_parse("::ffff:0:0/96", &l[0]), 0);
    assert_int_equal(l[0].family, AF_INET);
    assert_int_equal(l[0].bits, 0);
    assert_true(sllmp_cidr_match(l, 1, "203.0.113.9"));
    assert_int_equal(sllmp_cidr_parse("::/0", &l[0]), 0);
    assert_true(sllmp_cidr_match(l, 1, "2001:db8::1"));
    assert_int_equal(sllmp_cidr_parse("10.0.0.0/33", &l[0]), -1);
    assert_int_equal(sllmp_cidr_parse("10.0.0.0/", &l[0]), -1);
    assert_int_equal(sllmp_cidr_parse("localhost", &l[0]), -1);
    assert_int_equal(sllmp_cidr_parse("10.0.0.0/8x", &l[0]), -1);
}

static void
expect_refused(const char *extra, const char *want)
{
    char path[600], *err = NULL;
    sllmp_conf_t *c;

    snprintf(path, sizeof(path), "%s/bad.yaml", rundir);
    write_conf(path, extra);
    c = sllmp_conf_load(path, NULL, 0, &err);
    assert_null(c);
    assert_non_null(err);
    if (strstr(err, want) == NULL) {
        fail_msg("error '%s' does not contain '%s'", err, want);
    }
    free(err);
    unlink(path);
}

static void
test_conf_refusals(void **state)
{
    (void)state;
    expect_refused("  metrics: {allow: [10.0.0.0/8, nowhere]}\n",
                   ":12:33: sllmp.metrics.allow: 'nowhere' is not an address");
    expect_refused("  metrics: {token: short}\n", "at least 16 characters");
    expect_refused("  metrics: {enabled: maybe}\n", "sllmp.metrics.enabled");
    expect_refused("  access_log: /nonexistent-dir/x/access.log\n",
                   "no directory /nonexistent-dir/x");
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 20);
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
test_access_log_lines(void **state)
{
    char rotated[600], *text;
    fake_io_t f;
    cJSON *j;

    (void)state;
    assert_int_equal(truncate(log_path, 0), 0); /* copytruncate's way: O_APPEND goes on at 0 */
    assert_int_equal(chat("m", "sk-virtual-k1-secret"), 200);
    text = read_file(log_path);
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1); /* one line, so far */
    j = cJSON_Parse(text);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "key")->valuestring, "k1");
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "m");
    assert_string_equal(cJSON_GetObjectItem(j, "provider")->valuestring, "sllmp");
    assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 200);
    assert_int_equal(strlen(cJSON_GetObjectItem(j, "request_id")->valuestring), 32);
    assert_int_equal(strlen(cJSON_GetObjectItem(j, "trace_id")->valuestring), 32);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "duration_ms")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "overhead_ms")));
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "tokens"), "input")->valueint > 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "client_gone")));
    /* the numbers' text: milliseconds with 3 decimals, USD with 9, as printf would write them */
    {
        char want[64];
        const char *at;
        double ms = cJSON_GetObjectItem(j, "duration_ms")->valuedouble;
        double usd = cJSON_GetObjectItem(j, "cost_usd")->valuedouble;

        assert_true(usd >= 0);
        snprintf(want, sizeof(want), "\"duration_ms\":%.3f,", ms);
        assert_non_null(strstr(text, want));
        snprintf(want, sizeof(want), "\"cost_usd\":%.9f,", usd);
        assert_non_null(strstr(text, want));
        at = strstr(text, "\"tokens\":{\"input\":");
        assert_non_null(at);
        assert_true(at[strlen("\"tokens\":{\"input\":")] >= '1');
    }
    /* never the key, never the message */
    assert_null(strstr(text, "sk-virtual-k1-secret"));
    assert_null(strstr(text, "one two three"));
    cJSON_Delete(j);
    free(text);

    /* a model name or a path that holds the client's key is not written; the rpm limit counts */
    assert_int_equal(request(&f, "/v1/x-sk-virtual-k1-secret", "sk-virtual-k1-secret", NULL, NULL),
                     404);
    sllmp_buf_free(&f.out);
    assert_int_equal(chat("sk-virtual-k1-secret", "sk-virtual-k1-secret"), 404);
    assert_int_equal(chat("m", "sk-virtual-k1-secret"), 429);
    text = read_file(log_path);
    assert_null(strstr(text, "sk-virtual-k1-secret"));
    assert_non_null(strstr(text, "\"model\":\"[REDACTED]\""));
    assert_non_null(strstr(text, "\"path\":\"/v1/x-[REDACTED]\""));
    assert_non_null(strstr(text, "\"status\":429"));
    assert_non_null(strstr(text, "\"error\":\"rate_limit_exceeded\""));
    free(text);
    assert_true(scraped("sllmp_limit_rejections_total{kind=\"rpm\"}") >= 1);

    /* requests outside the pipeline have lines too */
    assert_int_equal(request(&f, "/health", NULL, NULL, NULL), 200);
    sllmp_buf_free(&f.out);
    text = read_file(log_path);
    assert_non_null(strstr(text, "\"path\":\"/health\",\"status\":200"));
    free(text);

    /* rotated away: the next line goes to a new file at the path (checked once a second) */
    snprintf(rotated, sizeof(rotated), "%s.1", log_path);
    assert_int_equal(rename(log_path, rotated), 0);
    usleep(1100 * 1000);
    assert_int_equal(request(&f, "/health", NULL, NULL, NULL), 200);
    sllmp_buf_free(&f.out);
    text = read_file(log_path);
    assert_ptr_equal(strchr(text, '{'), text);
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_exposition),
        cmocka_unit_test(test_forked_processes_sum_and_survive),
        cmocka_unit_test(test_dead_process_active_not_counted),
        cmocka_unit_test(test_access_rules),
        cmocka_unit_test(test_series_table_full),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_busy_series),
        cmocka_unit_test(test_reused_pid_slot),
        cmocka_unit_test(test_file_versions),
        cmocka_unit_test(test_labels_and_numbers),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_conf_refusals),
        cmocka_unit_test(test_access_log_lines),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
