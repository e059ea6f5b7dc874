/*
 * streamcli: a streaming chat-completions load client for the benchmark.
 *
 * Runs --requests streamed POSTs over --conns parallel connections (one epoll loop,
 * one connection per request, "Connection: close", so the end of a response is EOF),
 * and checks each answer: status 200, SSE events, content chunks, "data: [DONE]" last,
 * no error event. It times, per request, the time to the first "data:" event (TTFT,
 * from the start of connect()) and the whole stream.
 *
 *   streamcli --port P [--model bench] [--label NAME]
 *             [--port2 P --model2 M --label2 NAME]
 *             [--host 127.0.0.1] [--path /v1/chat/completions]
 *             [--conns C] [--requests N] [--timeout-s S] [--abort-ms MS]
 *
 * With --port2, requests alternate between the two targets (A, B, A, B, ...), so that
 * both see the same machine: the way to compare a direct TTFT with a proxied one.
 * --abort-ms closes each connection that long after its start (a client that gives up);
 * those count as "aborted", not as errors.
 *
 * Prints one line per target of key=value pairs (times in microseconds):
 *   label=... requests=N ok=N errors=N connect_err=N http_err=N incomplete=N error_event=N
 *   timeout=N aborted=N chunks_min=N chunks_max=N ttft_p50_us=N ttft_p99_us=N ttft_max_us=N
 *   total_p50_us=N total_p99_us=N wall_ms=N
 * Exit status 0 unless the arguments are wrong.
 *
 * Build: gcc -std=c11 -O2 -Wall -o streamcli streamcli.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int slot;
    char *req;
    size_t req_len, req_off;
    char *resp;
    size_t len, cap;
    uint64_t t_start, t_first, t_end;
    int connected;
    int tgt;             /* index into targets[] */
} cl_t;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, size_t n, double p)
{
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    if (i >= n) i = n - 1;
    return v[i];
}

/* Classification of one finished response. */
enum { RES_OK, RES_HTTP, RES_INCOMPLETE, RES_ERROR_EVENT };

/* De-chunks in place if needed; returns the body start and sets *blen. NULL if malformed. */
static char *body_of(char *r, size_t n, size_t *blen, int *chunked_ok)
{
    char *he = memmem(r, n, "\r\n\r\n", 4);
    if (!he) return NULL;
    char *b = he + 4;
    size_t raw = n - (size_t)(b - r);
    int chunked = 0;
    for (char *l = r; l < he; ) {
        char *e = memmem(l, (size_t)(he - l), "\r\n", 2);
        if (!e) e = he;
        if ((size_t)(e - l) > 18 && strncasecmp(l, "transfer-encoding:", 18) == 0 &&
            memmem(l, (size_t)(e - l), "chunked", 7))
            chunked = 1;
        l = e + 2;
    }
    *chunked_ok = 1;
    if (!chunked) { *blen = raw; return b; }
    size_t rd = 0, w = 0;
    *chunked_ok = 0;
    while (rd < raw) {
        char *eol = memmem(b + rd, raw - rd, "\r\n", 2);
        if (!eol) break;
        char *end;
        unsigned long sz = strtoul(b + rd, &end, 16);
        if (end == b + rd) break;
        size_t ls = (size_t)(eol - b) + 2;
        if (sz == 0) { *chunked_ok = 1; break; }
        if (raw - ls < sz) { memmove(b + w, b + ls, raw - ls); w += raw - ls; break; }
        memmove(b + w, b + ls, sz);
        w += sz;
        rd = ls + sz + 2;
    }
    *blen = w;
    return b;
}

static int classify(cl_t *c, int *nchunks)
{
    *nchunks = 0;
    if (c->len < 12 || memcmp(c->resp, "HTTP/1.", 7) != 0 || memcmp(c->resp + 9, "200", 3) != 0)
        return RES_HTTP;
    size_t blen;
    int chunked_ok;
    char *b = body_of(c->resp, c->len, &blen, &chunked_ok);
    if (!b) return RES_INCOMPLETE;
    int done = 0, err = 0;
    /* walk the events line by line */
    for (size_t i = 0; i < blen; ) {
        char *e = memchr(b + i, '\n', blen - i);
        size_t ll = e ? (size_t)(e - (b + i)) : blen - i;
        char *l = b + i;
        if (ll >= 6 && memcmp(l, "data: ", 6) == 0) {
            if (ll >= 12 && memcmp(l + 6, "[DONE]", 6) == 0) done = 1;
            else if (done) err = 1; /* anything after [DONE] is wrong */
            else if (memmem(l, ll, "\"error\"", 7) && !memmem(l, ll, "chat.completion.chunk", 21)) err = 1;
            else if (memmem(l, ll, "\"content\"", 9)) (*nchunks)++;
        }
        i += ll + 1;
    }
    if (err) return RES_ERROR_EVENT;
    if (!done || !chunked_ok) return RES_INCOMPLETE;
    return RES_OK;
}

typedef struct {
    int port;
    const char *model, *label;
    char req[2048];
    int req_len;
    struct sockaddr_in addr;
    int requests;        /* assigned to this target */
    uint64_t *ttft, *total;
    size_t ngood;
    int ok, conn_err, http_err, incomplete, error_event, timeout, aborted;
    int chunks_min, chunks_max;
} target_t;

static target_t targets[2];
static int ntargets = 1;
static int ep;
static cl_t *cl;
static int started, finished;

/* Starts the next request on slot s (a connect that fails at once counts as finished). */
static void start_request(int s)
{
    cl_t *c = &cl[s];
    memset(c, 0, sizeof *c);
    c->slot = s;
    c->tgt = started % ntargets;
    target_t *t = &targets[c->tgt];
    c->req = t->req;
    c->req_len = (size_t)t->req_len;
    c->t_start = now_us();
    started++;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd >= 0) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&t->addr, sizeof t->addr) == 0 || errno == EINPROGRESS) {
            struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)s };
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            return;
        }
        close(c->fd);
    }
    c->fd = -1;
    t->conn_err++;
    finished++;
}

static void usage(void)
{
    fprintf(stderr, "usage: streamcli --port P [--model M] [--label L] [--port2 P --model2 M --label2 L]\n"
                    "                 [--host H] [--path P] [--conns C] [--requests N] [--timeout-s S]\n"
                    "                 [--abort-ms MS]\n");
    exit(2);
}

/* Records a finished request (not a failed connect). */
static void record(cl_t *c)
{
    target_t *t = &targets[c->tgt];
    int nch;
    int k = classify(c, &nch);
    if (k == RES_OK) {
        t->ok++;
        if (t->chunks_min < 0 || nch < t->chunks_min) t->chunks_min = nch;
        if (nch > t->chunks_max) t->chunks_max = nch;
        if (c->t_first) {
            t->ttft[t->ngood] = c->t_first - c->t_start;
            t->total[t->ngood] = c->t_end - c->t_start;
            t->ngood++;
        }
    } else if (k == RES_HTTP) {
        if (++t->http_err <= 3) {
            size_t show = c->len < 300 ? c->len : 300;
            fprintf(stderr, "streamcli[%s]: non-200 answer: %.*s\n", t->label, (int)show,
                    c->resp ? c->resp : "");
        }
    } else if (k == RES_INCOMPLETE) {
        if (++t->incomplete <= 3) {
            size_t show = c->len < 200 ? c->len : 200;
            fprintf(stderr, "streamcli[%s]: incomplete stream (%zu bytes), tail: %.*s\n",
                    t->label, c->len, (int)show, c->resp ? c->resp + c->len - show : "");
        }
    } else {
        if (++t->error_event <= 3) {
            char *e = c->resp ? memmem(c->resp, c->len, "\"error\"", 7) : NULL;
            fprintf(stderr, "streamcli[%s]: error event: %.200s\n", t->label, e ? e : "?");
        }
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *path = "/v1/chat/completions";
    int conns = 1, requests = 1, timeout_s = 60, abort_ms = 0;
    targets[0].model = targets[1].model = "bench";
    targets[0].label = "a";
    targets[1].label = "b";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--port")) targets[0].port = atoi(v);
        else if (!strcmp(a, "--model")) targets[0].model = v;
        else if (!strcmp(a, "--label")) targets[0].label = v;
        else if (!strcmp(a, "--port2")) { targets[1].port = atoi(v); ntargets = 2; }
        else if (!strcmp(a, "--model2")) targets[1].model = v;
        else if (!strcmp(a, "--label2")) targets[1].label = v;
        else if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--path")) path = v;
        else if (!strcmp(a, "--conns")) conns = atoi(v);
        else if (!strcmp(a, "--requests")) requests = atoi(v);
        else if (!strcmp(a, "--timeout-s")) timeout_s = atoi(v);
        else if (!strcmp(a, "--abort-ms")) abort_ms = atoi(v);
        else usage();
        i++;
    }
    if (conns < 1 || requests < 1) usage();
    if (conns > requests) conns = requests;
    signal(SIGPIPE, SIG_IGN);

    for (int k = 0; k < ntargets; k++) {
        target_t *t = &targets[k];
        if (t->port <= 0) usage();
        char body[512];
        int bl = snprintf(body, sizeof body,
                          "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                          "\"content\":\"Say something, one word at a time.\"}]}", t->model);
        t->req_len = snprintf(t->req, sizeof t->req,
                              "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                              "Accept: text/event-stream\r\nAuthorization: Bearer bench\r\n"
                              "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                              path, host, t->port, bl, body);
        t->addr.sin_family = AF_INET;
        t->addr.sin_port = htons((uint16_t)t->port);
        if (inet_pton(AF_INET, host, &t->addr.sin_addr) != 1) {
            fprintf(stderr, "streamcli: bad host\n");
            return 2;
        }
        t->requests = requests / ntargets + (k < requests % ntargets);
        t->ttft = calloc((size_t)t->requests + 1, sizeof *t->ttft);
        t->total = calloc((size_t)t->requests + 1, sizeof *t->total);
        t->chunks_min = -1;
    }

    ep = epoll_create1(0);
    cl = calloc((size_t)conns, sizeof *cl);
    uint64_t t0 = now_us(), deadline = t0 + (uint64_t)timeout_s * 1000000u;

    for (int s = 0; s < conns && started < requests; s++) start_request(s);

    struct epoll_event evs[1024];
    while (finished < requests) {
        uint64_t now = now_us();
        if (now >= deadline) break;
        int wait_ms = (int)((deadline - now) / 1000) + 1;
        if (wait_ms > 1000) wait_ms = 1000;
        if (abort_ms > 0 && wait_ms > 5) wait_ms = 5;
        int n = epoll_wait(ep, evs, 1024, wait_ms);
        if (n < 0 && errno != EINTR) { perror("streamcli: epoll_wait"); break; }
        for (int i = 0; i < n; i++) {
            int s = (int)evs[i].data.u32;
            cl_t *c = &cl[s];
            if (c->fd < 0) continue;
            int done = 0, failed_connect = 0;
            if (evs[i].events & EPOLLOUT) {
                if (!c->connected) {
                    int err = 0;
                    socklen_t el = sizeof err;
                    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                    if (err) { failed_connect = 1; done = 1; }
                    else c->connected = 1;
                }
                while (!done && c->req_off < c->req_len) {
                    ssize_t w = write(c->fd, c->req + c->req_off, c->req_len - c->req_off);
                    if (w > 0) { c->req_off += (size_t)w; continue; }
                    if (w < 0 && errno == EAGAIN) break;
                    if (w < 0 && errno == EINTR) continue;
                    done = 1;
                    break;
                }
                if (!done && c->req_off == c->req_len) {
                    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)s };
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (!done && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                for (;;) {
                    if (c->cap - c->len < 8192) {
                        c->cap = c->cap ? c->cap * 2 : 16384;
                        c->resp = realloc(c->resp, c->cap);
                    }
                    ssize_t r = read(c->fd, c->resp + c->len, c->cap - c->len - 1);
                    if (r > 0) {
                        size_t old = c->len;
                        c->len += (size_t)r;
                        if (!c->t_first) {
                            c->resp[c->len] = 0;
                            size_t from = old > 6 ? old - 6 : 0;
                            if (memmem(c->resp + from, c->len - from, "data:", 5)) c->t_first = now_us();
                        }
                        continue;
                    }
                    if (r < 0 && errno == EINTR) continue;
                    if (r < 0 && errno == EAGAIN) break;
                    if (r < 0 && !c->connected) failed_connect = 1;
                    done = 1; /* EOF or error */
                    break;
                }
            }
            if (!done) continue;
            c->t_end = now_us();
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            finished++;
            if (failed_connect) targets[c->tgt].conn_err++;
            else record(c);
            free(c->resp);
            c->resp = NULL;
            if (started < requests) start_request(s);
        }
        if (abort_ms > 0) {
            uint64_t cut = now_us() - (uint64_t)abort_ms * 1000u;
            for (int s = 0; s < conns; s++) {
                cl_t *c = &cl[s];
                if (c->fd < 0 || c->t_start > cut) continue;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                finished++;
                targets[c->tgt].aborted++;
                free(c->resp);
                c->resp = NULL;
                if (started < requests) start_request(s);
            }
        }
    }
    for (int s = 0; s < conns; s++)
        if (cl[s].fd >= 0) {
            targets[cl[s].tgt].timeout++;
            close(cl[s].fd);
        }
    for (int k = started; k < requests; k++) targets[k % ntargets].timeout++; /* never started */
    uint64_t wall = now_us() - t0;

    for (int k = 0; k < ntargets; k++) {
        target_t *t = &targets[k];
        qsort(t->ttft, t->ngood, sizeof *t->ttft, cmp_u64);
        qsort(t->total, t->ngood, sizeof *t->total, cmp_u64);
        printf("label=%s requests=%d ok=%d errors=%d connect_err=%d http_err=%d incomplete=%d "
               "error_event=%d timeout=%d aborted=%d chunks_min=%d chunks_max=%d ttft_p50_us=%llu "
               "ttft_p99_us=%llu ttft_max_us=%llu total_p50_us=%llu total_p99_us=%llu wall_ms=%llu\n",
               t->label, t->requests, t->ok, t->requests - t->ok - t->aborted, t->conn_err,
               t->http_err, t->incomplete, t->error_event, t->timeout, t->aborted,
               t->chunks_min < 0 ? 0 : t->chunks_min, t->chunks_max,
               (unsigned long long)pct(t->ttft, t->ngood, 0.50),
               (unsigned long long)pct(t->ttft, t->ngood, 0.99),
               (unsigned long long)(t->ngood ? t->ttft[t->ngood - 1] : 0),
               (unsigned long long)pct(t->total, t->ngood, 0.50),
               (unsigned long long)pct(t->total, t->ngood, 0.99), (unsigned long long)(wall / 1000));
    }
    return 0;
}
