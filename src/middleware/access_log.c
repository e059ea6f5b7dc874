/*
 * The end of every request: its metrics, then one JSON line in the access log
 * (sllmp.access_log: stderr, a file, or off). Who, which model, status, times, tokens, cost;
 * never a body or a message, and what a client sent (ids, path, user, model) redacted as the
 * trace record is: no key the gateway knows of, wherever it hides.
 *
 * Under mod_fcgid and CGI stderr is the host's error log: the default (stderr) is off there
 * (sllmp_access_log_quiet), an access_log the YAML names is written.
 *
 * A file is opened with O_APPEND and each line goes out in one write(), so the lines of every
 * process of the pool interleave whole. Rotation needs no signal: once a second at most, a
 * process checks whether the path still names the file it holds, and reopens it when not (a
 * logrotate `create`, or a plain mv); copytruncate works as well.
 */
#include "sllmp/conf.h"
#include "sllmp/error.h"
#include "sllmp/langfuse.h"
#include "sllmp/log.h"
#include "sllmp/metrics.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_FILES 8 /* distinct access log files per process; a config names one */

int sllmp_access_log_quiet;

typedef struct {
    char *path;
    int fd;
    dev_t dev;
    ino_t ino;
    int64_t checked_ms;
} logfile_t;

static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;
static logfile_t files[LOG_FILES];

/* Under files_lock: the file's descriptor, (re)opened when the path names another file now. */
static int
file_fd(const char *path, int64_t now)
{
    logfile_t *f = NULL;
    struct stat st;

    for (int i = 0; i < LOG_FILES && f == NULL; i++) {
        if (files[i].path == NULL) {
            files[i].path = sllmp_xstrdup(path);
            files[i].fd = -1;
        }
        if (strcmp(files[i].path, path) == 0) {
            f = &files[i];
        }
    }
    if (f == NULL) {
        return -1;
    }
    if (f->checked_ms != 0 && now - f->checked_ms < 1000) {
        return f->fd; /* and a file that would not open is tried again a second later */
    }
    f->checked_ms = now;
    if (f->fd >= 0 && stat(path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino) {
        return f->fd;
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (f->fd >= 0 && fstat(f->fd, &st) == 0) {
        f->dev = st.st_dev;
        f->ino = st.st_ino;
    }
    return f->fd;
}

static void
write_line(sllmp_req_t *r, const char *dest, const char *line, size_t len)
{
    static _Thread_local int64_t warned;
    int64_t now = sllmp_now_ms();
    ssize_t n;
    int fd;

    if (strcmp(dest, "stderr") == 0) {
        n = write(STDERR_FILENO, line, len);
    } else {
        pthread_mutex_lock(&files_lock);
        fd = file_fd(dest, now);
        n = fd < 0 ? -1 : write(fd, line, len);
        pthread_mutex_unlock(&files_lock);
    }
    if (n < 0 && (warned == 0 || now - warned > 60000)) {
        warned = now;
        sllmp_log(r->id, SLLMP_LOG_WARN, "access log %s: %s", dest, strerror(errno));
    }
}

/* What a client sent is cut to this many bytes (at a character boundary): a line stays well
 * under PIPE_BUF, so that lines of several processes on one stderr pipe never interleave. */
#define FIELD_MAX 256

/* ,"name": */
static void
add_name(sllmp_buf_t *b, const char *name)
{
    sllmp_buf_append(b, ",\"", 2);
    sllmp_buf_appends(b, name);
    sllmp_buf_append(b, "\":", 2);
}

static void
add_str(sllmp_buf_t *b, const char *name, const char *v)
{
    size_t n;

    if (v == NULL) {
        return;
    }
    n = strlen(v);
    if (n > FIELD_MAX) {
        n = sllmp_utf8_floor(v, FIELD_MAX);
    }
    add_name(b, name);
    sllmp_buf_append(b, "\"", 1);
    sllmp_buf_json_escape(b, v, n);
    sllmp_buf_append(b, "\"", 1);
}

/* The digits of v into b, at least width of them. (No printf: a line is written per request,
 * and its numbers were most of its cost.) */
static void
add_dec(sllmp_buf_t *b, uint64_t v, int width)
{
    char d[24];
    int i = sizeof(d);

    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
        width--;
    } while ((v > 0 || width > 0) && i > 0);
    sllmp_buf_append(b, d + i, sizeof(d) - (size_t)i);
}

/* v / 10^decimals, with that many digits after the point. */
static void
add_fixed_value(sllmp_buf_t *b, int64_t v, int decimals)
{
    uint64_t scale = 1, mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    for (int i = 0; i < decimals; i++) {
        scale *= 10;
    }
    if (v < 0) {
        sllmp_buf_append(b, "-", 1);
    }
    add_dec(b, mag / scale, 1);
    if (decimals > 0) {
        sllmp_buf_append(b, ".", 1);
        add_dec(b, mag % scale, decimals);
    }
}

/* ,"name":v / 10^decimals */
static void
add_fixed(sllmp_buf_t *b, const char *name, int64_t v, int decimals)
{
    add_name(b, name);
    add_fixed_value(b, v, decimals);
}

static void
add_int(sllmp_buf_t *b, const char *name, int64_t v)
{
    add_fixed(b, name, v, 0);
}

static void
add_ms(sllmp_buf_t *b, const char *name, int64_t us)
{
    add_fixed(b, name, us, 3);
}

void
sllmp_access_log(sllmp_req_t *r)
{
    const sllmp_conf_t *c = r->conf;
    const char *dest = c ? c->access_log : "stderr";
    char when[40];

    if (sllmp_access_log_quiet && (c == NULL || !c->access_log_set)) {
        dest = NULL; /* stderr is the web server's error log: a line only when asked for */
    }
    sllmp_buf_t b;

    if (r->logged || dest == NULL) {
        return;
    }
    r->logged = 1;
    sllmp_req_mark_end(r);
    sllmp_buf_init(&b, 0);
    sllmp_langfuse_iso(r->start_wall_us, 3, when);
    sllmp_buf_append(&b, "{\"time\":\"", 9);
    sllmp_buf_appends(&b, when);
    sllmp_buf_append(&b, "\"", 1);
    /* whatever a client sent goes through the trace's redaction: it may hold a key */
    add_str(&b, "request_id", sllmp_redacted(r, r->id));
    if (*sllmp_trace_id(r)) {
        add_str(&b, "trace_id", sllmp_trace_id(r));
    }
    add_str(&b, "remote_addr", sllmp_req_param(r, "REMOTE_ADDR"));
    add_str(&b, "method", r->method);
    add_str(&b, "path", sllmp_redacted(r, r->path));
    add_int(&b, "status", r->client_gone ? 499 : r->status);
    add_str(&b, "key", sllmp_auth_key_name(r));
    add_str(&b, "team", r->key ? r->key->team : NULL);
    add_str(&b, "user", sllmp_redacted(r, r->user));
    add_str(&b, "model", sllmp_redacted(r, r->model));
    if (r->dep != NULL) {
        add_str(&b, "deployment", r->dep->model_name);
        add_str(&b, "provider", r->dep->provider_name);
    }
    if (r->model != NULL) {
        sllmp_buf_appends(&b, r->stream ? ",\"stream\":true" : ",\"stream\":false");
        add_int(&b, "attempts", r->nattempts);
    }
    add_str(&b, "cache", r->cache_key == NULL ? NULL : r->cache_hit ? "hit" : "miss");
    add_ms(&b, "duration_ms", r->end_us - r->start_us);
    if (r->first_token_ms > 0) {
        add_ms(&b, "ttft_ms", (r->first_token_ms - r->start_ms) * 1000);
    }
    add_ms(&b, "overhead_ms", sllmp_req_overhead_us(r));
    if (r->model != NULL) {
        const sllmp_usage_t *u = &r->usage;
        double nano = r->cost_usd * 1e9; /* written with 9 decimals, as %.9f would */

        sllmp_buf_appends(&b, ",\"tokens\":{\"input\":");
        add_fixed_value(&b, u->input, 0);
        add_int(&b, "cache_read", u->cache_read);
        add_int(&b, "cache_write", u->cache_write);
        add_int(&b, "output", u->output);
        add_int(&b, "reasoning", u->reasoning);
        sllmp_buf_appends(&b, u->estimated ? ",\"estimated\":true}" : ",\"estimated\":false}");
        if (nano > -9e18 && nano < 9e18) {
            add_fixed(&b, "cost_usd", llround(nano), 9);
        } else {
            sllmp_buf_printf(&b, ",\"cost_usd\":%.9f", r->cost_usd);
        }
    }
    sllmp_buf_appends(&b, r->client_gone ? ",\"client_gone\":true" : ",\"client_gone\":false");
    if (r->err != SLLMP_OK) {
        add_str(&b, "error", sllmp_err_info(r->err)->code);
    }
    sllmp_buf_append(&b, "}\n", 2);
    write_line(r, dest, b.ptr, b.len);
    sllmp_buf_free(&b);
}

/* The metrics count the request before its response ends (a client that scrapes next sees
 * it); the log line is written after, by sllmp_handle(), so its write costs the client nothing. */
static void
access_complete(sllmp_req_t *r, void *mw_conf)
{
    (void)mw_conf;
    sllmp_metrics_request_end(r);
}

const sllmp_middleware_t sllmp_mw_access_log = {
    .name = "access_log",
    .complete = access_complete,
};
