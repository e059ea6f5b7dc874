/*
 * fastmock: a small, fast OpenAI-compatible upstream for benchmarks.
 *
 * One process, one epoll loop (optionally N forked copies sharing the listening
 * socket), HTTP/1.1 with keep-alive and pipelining, on 127.0.0.1 only.
 *
 *   POST /v1/chat/completions  (also /chat/completions)
 *       body read fully (Content-Length or chunked); if it contains "stream":true
 *       the answer is SSE (chunked transfer encoding): --chunks chat.completion.chunk
 *       events of one word each, --delay-ms apart (the first one at once), then a
 *       finish_reason chunk, a usage chunk with "choices":[] and "data: [DONE]".
 *       Otherwise one fixed chat.completion JSON.
 *   GET /health               200 {"status":"ok"}
 *   GET /stats                200 {"connections":accepted,"open":n,"requests":n,"streams":n}
 *                             (this process's counters; with --procs, one process's)
 *   anything else             404 OpenAI-shaped error
 *
 * The delays are timers in the loop: streams wait in a FIFO ordered by due time
 * (every wait is the same length, so appending keeps it sorted), no thread per
 * connection.
 *
 *   fastmock [--port N] [--port-file PATH] [--chunks N] [--delay-ms D] [--procs P]
 *
 * --port 0 (the default) picks a free port; --port-file receives it once listening.
 * Build: gcc -std=c11 -O2 -Wall -o fastmock fastmock.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_BODY_BYTES (64 * 1024 * 1024)

static int opt_chunks = 40;
static int opt_delay_ms = 50;

static const char *words[] = {
    "Lorem", "ipsum", "dolor", "sit", "amet,", "consectetur", "adipiscing", "elit,",
    "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et",
    "dolore", "magna", "aliqua.", "Ut", "enim", "ad", "minim", "veniam,",
};
#define NWORDS (sizeof words / sizeof words[0])

static const char completion_body[] =
    "{\"id\":\"chatcmpl-fastmock\",\"object\":\"chat.completion\",\"created\":1741569952,"
    "\"model\":\"bench\",\"system_fingerprint\":\"fp_fastmock\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"Hello from fastmock.\",\"refusal\":null,"
    "\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4,\"total_tokens\":16,"
    "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}";

static const char health_body[] = "{\"status\":\"ok\"}";
static const char notfound_body[] =
    "{\"error\":{\"message\":\"fastmock: unknown path\",\"type\":\"invalid_request_error\","
    "\"param\":null,\"code\":\"not_found\"}}";
static const char badreq_body[] =
    "{\"error\":{\"message\":\"fastmock: bad request\",\"type\":\"invalid_request_error\","
    "\"param\":null,\"code\":\"invalid_request\"}}";

/* ---- growable byte buffer ---- */

typedef struct {
    char *p;
    size_t len, cap, off; /* off: bytes already consumed from the front */
} buf_t;

static void buf_reserve(buf_t *b, size_t extra)
{
    if (b->off && b->off == b->len) b->off = b->len = 0;
    if (b->len + extra <= b->cap) return;
    if (b->off) { /* compact first */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { perror("fastmock: realloc"); exit(1); }
    b->p = p;
    b->cap = cap;
}

static void buf_add(buf_t *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void buf_printf(buf_t *b, const char *fmt, ...)
{
    for (;;) {
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < room) { b->len += (size_t)n; return; }
        buf_reserve(b, (size_t)n + 1);
    }
}

static void buf_free(buf_t *b) { free(b->p); memset(b, 0, sizeof *b); }

/* ---- connections ---- */

typedef struct conn {
    int fd;
    buf_t in, out;
    int want_out;          /* EPOLLOUT registered */
    int close_after;       /* close once out is flushed */
    /* streaming state */
    int streaming;         /* a stream is in progress: no further requests parsed */
    int stream_next;       /* index of the next chunk to send */
    uint64_t due_ms;
    struct conn *tprev, *tnext;
    int in_timer;
    unsigned long stream_id;
} conn_t;

static int epfd;
static conn_t *timer_head, *timer_tail;
static unsigned long stream_counter;
static unsigned long long stat_requests, stat_streams, stat_conns, stat_open;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void timer_remove(conn_t *c)
{
    if (!c->in_timer) return;
    if (c->tprev) c->tprev->tnext = c->tnext; else timer_head = c->tnext;
    if (c->tnext) c->tnext->tprev = c->tprev; else timer_tail = c->tprev;
    c->tprev = c->tnext = NULL;
    c->in_timer = 0;
}

static void timer_append(conn_t *c, uint64_t due)
{
    timer_remove(c);
    c->due_ms = due;
    c->tprev = timer_tail;
    c->tnext = NULL;
    if (timer_tail) timer_tail->tnext = c; else timer_head = c;
    timer_tail = c;
    c->in_timer = 1;
}

static void conn_close(conn_t *c)
{
    timer_remove(c);
    stat_open--;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

static void set_events(conn_t *c, int want_out)
{
    if (c->want_out == want_out) return;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0),
                              .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want_out;
}

/* Writes what it can; returns -1 when the connection is gone (and closed). */
static int conn_flush(conn_t *c)
{
    while (c->out.len > c->out.off) {
        ssize_t n = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
        if (n > 0) { c->out.off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { set_events(c, 1); return 0; }
        conn_close(c);
        return -1;
    }
    c->out.off = c->out.len = 0;
    set_events(c, 0);
    if (c->close_after && !c->streaming) { conn_close(c); return -1; }
    return 0;
}

static void respond_fixed(conn_t *c, int status, const char *reason, const char *body, size_t n)
{
    buf_printf(&c->out,
               "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
               "x-request-id: fastmock\r\n%s\r\n",
               status, reason, n, c->close_after ? "Connection: close\r\n" : "");
    buf_add(&c->out, body, n);
}

/* One SSE event as one HTTP chunk. */
static void add_event(conn_t *c, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) return;
    buf_printf(&c->out, "%x\r\n", n);
    buf_add(&c->out, tmp, (size_t)n);
    buf_add(&c->out, "\r\n", 2);
}

#define CHUNK_HEAD "{\"id\":\"chatcmpl-fm%lu\",\"object\":\"chat.completion.chunk\",\"created\":1741569952," \
                   "\"model\":\"bench\",\"system_fingerprint\":\"fp_fastmock\","

/* Sends chunk number c->stream_next (and the tail after the last); schedules the next. */
static void stream_step(conn_t *c)
{
    int i = c->stream_next;
    if (i < opt_chunks) {
        const char *w = words[i % NWORDS];
        add_event(c, "data: " CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{%s\"content\":\"%s%s\"},"
                     "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
                  c->stream_id, i == 0 ? "\"role\":\"assistant\"," : "", i == 0 ? "" : " ", w);
        c->stream_next = ++i;
    }
    if (i < opt_chunks) {
        if (opt_delay_ms > 0) { timer_append(c, now_ms() + (uint64_t)opt_delay_ms); return; }
        stream_step(c); /* no delay: everything at once */
        return;
    }
    add_event(c, "data: " CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                 "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n", c->stream_id);
    add_event(c, "data: " CHUNK_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
                 "\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n",
              c->stream_id, opt_chunks, 12 + opt_chunks);
    add_event(c, "data: [DONE]\n\n");
    buf_add(&c->out, "0\r\n\r\n", 5);
    c->streaming = 0;
    timer_remove(c);
}

static void start_stream(conn_t *c)
{
    stat_streams++;
    c->streaming = 1;
    c->stream_next = 0;
    c->stream_id = ++stream_counter;
    buf_printf(&c->out,
               "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
               "Transfer-Encoding: chunked\r\nx-request-id: fastmock\r\n%s\r\n",
               c->close_after ? "Connection: close\r\n" : "");
    stream_step(c);
}

/* Finds "stream" : true in the body without parsing JSON. */
static int wants_stream(const char *b, size_t n)
{
    static const char key[] = "\"stream\"";
    const size_t kl = sizeof key - 1;
    for (size_t i = 0; i + kl <= n; i++) {
        if (b[i] != '"' || memcmp(b + i, key, kl) != 0) continue;
        size_t j = i + kl;
        while (j < n && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r' || b[j] == '\n')) j++;
        if (j >= n || b[j] != ':') continue;
        j++;
        while (j < n && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r' || b[j] == '\n')) j++;
        if (n - j >= 4 && memcmp(b + j, "true", 4) == 0) return 1;
    }
    return 0;
}

static const char *memfind(const char *h, size_t hn, const char *needle)
{
    return memmem(h, hn, needle, strlen(needle));
}

/* Decodes a chunked body in place starting at p (n bytes available; the caller passes a
 * copy, so a partial decode can simply be thrown away).
 * Returns bytes consumed (>0) when complete, 0 when more data is needed, -1 on error;
 * *outlen gets the decoded length (decoded bytes are written at p). */
static long dechunk(char *p, size_t n, size_t *outlen)
{
    size_t r = 0, w = 0;
    for (;;) {
        const char *eol = memfind(p + r, n - r, "\r\n");
        if (!eol) return 0;
        char *end;
        unsigned long sz = strtoul(p + r, &end, 16);
        if (end == p + r) return -1;
        size_t line_end = (size_t)(eol - p) + 2;
        if (sz == 0) {
            /* trailers until an empty line */
            size_t q = line_end;
            for (;;) {
                const char *e2 = memfind(p + q, n - q, "\r\n");
                if (!e2) return 0;
                if (e2 == p + q) { *outlen = w; return (long)(q + 2); }
                q = (size_t)(e2 - p) + 2;
            }
        }
        if (sz > MAX_BODY_BYTES || n - line_end < sz + 2) return sz > MAX_BODY_BYTES ? -1 : 0;
        memmove(p + w, p + line_end, sz);
        w += sz;
        r = line_end + sz + 2;
    }
}

/* Handles every complete request in c->in. Returns -1 if the connection was closed. */
static int process(conn_t *c)
{
    while (!c->streaming && !c->close_after) {
        char *base = c->in.p + c->in.off;
        size_t avail = c->in.len - c->in.off;
        if (avail == 0) break;
        const char *hend = memfind(base, avail, "\r\n\r\n");
        if (!hend) {
            if (avail > MAX_HEADER_BYTES) { conn_close(c); return -1; }
            break;
        }
        size_t hlen = (size_t)(hend - base) + 4;

        /* request line */
        const char *sp1 = memchr(base, ' ', hlen);
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', hlen - (size_t)(sp1 + 1 - base)) : NULL;
        if (!sp1 || !sp2) { conn_close(c); return -1; }
        size_t mlen = (size_t)(sp1 - base);
        const char *path = sp1 + 1;
        size_t plen = (size_t)(sp2 - path);
        const char *q = memchr(path, '?', plen);
        if (q) plen = (size_t)(q - path);
        int http10 = (size_t)(hend - sp2) >= 9 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;

        /* headers we care about */
        long clen = -1;
        int chunked = 0, conn_close_hdr = 0, keep_alive_hdr = 0, expect = 0;
        const char *line = memchr(base, '\n', hlen);
        while (line && line + 1 < hend) {
            line++;
            const char *le = memchr(line, '\n', (size_t)(hend + 2 - line));
            if (!le) break;
            size_t ll = (size_t)(le - line);
            const char *colon = memchr(line, ':', ll);
            if (colon) {
                size_t nl = (size_t)(colon - line);
                const char *v = colon + 1;
                while (*v == ' ' || *v == '\t') v++;
                size_t vl = (size_t)(le - v);
                while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' ')) vl--;
                if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) clen = strtol(v, NULL, 10);
                else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0)
                    chunked = memmem(v, vl, "chunked", 7) != NULL;
                else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
                    if (vl >= 5 && strncasecmp(v, "close", 5) == 0) conn_close_hdr = 1;
                    if (vl >= 10 && strncasecmp(v, "keep-alive", 10) == 0) keep_alive_hdr = 1;
                } else if (nl == 6 && strncasecmp(line, "expect", 6) == 0)
                    expect = vl >= 12 && strncasecmp(v, "100-continue", 12) == 0;
            }
            line = le;
        }

        /* body */
        const char *body = base + hlen;
        size_t blen = 0, consumed = hlen;
        if (chunked) {
            size_t raw = avail - hlen;
            char *copy = malloc(raw ? raw : 1);
            memcpy(copy, body, raw);
            size_t dl = 0;
            long used = dechunk(copy, raw, &dl);
            if (used < 0) { free(copy); conn_close(c); return -1; }
            if (used == 0) {
                free(copy);
                if (expect && !c->out.len) { buf_add(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                                             if (conn_flush(c) < 0) return -1; }
                break;
            }
            memcpy(base + hlen, copy, dl); /* decoded body is never longer than the raw one */
            free(copy);
            blen = dl;
            consumed = hlen + (size_t)used;
        } else if (clen > 0) {
            if (clen > MAX_BODY_BYTES) { conn_close(c); return -1; }
            if (avail - hlen < (size_t)clen) {
                /* Expect: 100-continue, answered once (the header stays in the buffer) */
                if (expect && avail == hlen) {
                    buf_add(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                    if (conn_flush(c) < 0) return -1;
                }
                buf_reserve(&c->in, (size_t)clen - (avail - hlen));
                break;
            }
            blen = (size_t)clen;
            consumed = hlen + blen;
        }

        stat_requests++;
        c->close_after = conn_close_hdr || (http10 && !keep_alive_hdr);
        int is_post = mlen == 4 && memcmp(base, "POST", 4) == 0;
        int is_get = mlen == 3 && memcmp(base, "GET", 3) == 0;
        int chat = (plen == 20 && memcmp(path, "/v1/chat/completions", 20) == 0) ||
                   (plen == 17 && memcmp(path, "/chat/completions", 17) == 0);
        int stream = chat && is_post && wants_stream(body, blen);
        c->in.off += consumed;

        if (chat && is_post) {
            if (blen == 0) respond_fixed(c, 400, "Bad Request", badreq_body, sizeof badreq_body - 1);
            else if (stream) start_stream(c);
            else respond_fixed(c, 200, "OK", completion_body, sizeof completion_body - 1);
        } else if (is_get && plen == 7 && memcmp(path, "/health", 7) == 0) {
            respond_fixed(c, 200, "OK", health_body, sizeof health_body - 1);
        } else if (is_get && plen == 6 && memcmp(path, "/stats", 6) == 0) {
            char st[256];
            int n = snprintf(st, sizeof st, "{\"connections\":%llu,\"open\":%llu,\"requests\":%llu,"
                             "\"streams\":%llu}", stat_conns, stat_open, stat_requests, stat_streams);
            respond_fixed(c, 200, "OK", st, (size_t)n);
        } else {
            respond_fixed(c, 404, "Not Found", notfound_body, sizeof notfound_body - 1);
        }
    }
    return conn_flush(c);
}

static void on_readable(conn_t *c)
{
    for (;;) {
        buf_reserve(&c->in, 16384);
        ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (n > 0) {
            c->in.len += (size_t)n;
            if ((size_t)n < 16384) break; /* probably drained; level-triggered anyway */
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        conn_close(c); /* EOF or error; a stream in progress is abandoned */
        return;
    }
    process(c);
}

static void fire_timers(void)
{
    uint64_t now = now_ms();
    while (timer_head && timer_head->due_ms <= now) {
        conn_t *c = timer_head;
        timer_remove(c);
        stream_step(c);
        if (conn_flush(c) < 0) continue;
        if (!c->streaming) process(c); /* pipelined requests waiting behind the stream */
    }
}

static int listen_fd = -1;

static void accept_all(void)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) { perror("fastmock: accept"); }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = calloc(1, sizeof *c);
        if (!c) { close(fd); return; }
        c->fd = fd;
        stat_conns++;
        stat_open++;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) { close(fd); free(c); continue; }
    }
}

static volatile sig_atomic_t stop_flag;
static void on_term(int sig) { (void)sig; stop_flag = 1; }

static void serve(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) { perror("fastmock: epoll_create1"); exit(1); }
    static char listen_tag;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &listen_tag };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) { perror("fastmock: epoll_ctl"); exit(1); }

    struct epoll_event evs[512];
    while (!stop_flag) {
        int timeout = -1;
        if (timer_head) {
            uint64_t now = now_ms();
            timeout = timer_head->due_ms > now ? (int)(timer_head->due_ms - now) : 0;
        }
        int n = epoll_wait(epfd, evs, 512, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("fastmock: epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listen_tag) { accept_all(); continue; }
            conn_t *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (e & EPOLLOUT) {
                if (conn_flush(c) < 0) continue;
                if (!c->streaming && c->in.len > c->in.off && process(c) < 0) continue;
            }
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
        }
        fire_timers();
    }
    fprintf(stderr, "fastmock[%d]: %llu connections, %llu requests, %llu streams\n", (int)getpid(),
            stat_conns, stat_requests, stat_streams);
}

static void usage(void)
{
    fprintf(stderr, "usage: fastmock [--port N] [--port-file PATH] [--chunks N] [--delay-ms D] [--procs P]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int port = 0, procs = 1;
    const char *port_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--port") && v) { port = atoi(v); i++; }
        else if (!strcmp(a, "--port-file") && v) { port_file = v; i++; }
        else if (!strcmp(a, "--chunks") && v) { opt_chunks = atoi(v); i++; }
        else if (!strcmp(a, "--delay-ms") && v) { opt_delay_ms = atoi(v); i++; }
        else if (!strcmp(a, "--procs") && v) { procs = atoi(v); i++; }
        else usage();
    }
    if (opt_chunks < 1) opt_chunks = 1;
    if (opt_delay_ms < 0) opt_delay_ms = 0;
    if (procs < 1) procs = 1;

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_term };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) { perror("fastmock: socket"); return 1; }
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, (struct sockaddr *)&sin, sizeof sin) < 0) { perror("fastmock: bind"); return 1; }
    if (listen(listen_fd, 4096) < 0) { perror("fastmock: listen"); return 1; }
    socklen_t sl = sizeof sin;
    getsockname(listen_fd, (struct sockaddr *)&sin, &sl);
    port = ntohs(sin.sin_port);
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
            perror("fastmock: port file");
            return 1;
        }
    }
    fprintf(stderr, "fastmock: listening on 127.0.0.1:%d (chunks %d, delay %d ms, procs %d)\n",
            port, opt_chunks, opt_delay_ms, procs);

    if (procs == 1) { serve(); return 0; }
    pid_t *kids = calloc((size_t)procs, sizeof *kids);
    for (int i = 0; i < procs; i++) {
        pid_t p = fork();
        if (p == 0) { serve(); _exit(0); }
        kids[i] = p;
    }
    while (!stop_flag) pause();
    for (int i = 0; i < procs; i++) kill(kids[i], SIGTERM);
    while (wait(NULL) > 0) {}
    return 0;
}
