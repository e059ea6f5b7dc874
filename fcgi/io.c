/*
 * FastCGI and CGI adapters (architecture.md decision 1, deployment.md §1).
 *
 * FastCGI: FCGX_PutStr only fills an 8 KiB buffer, FCGX_FFlush returns -1 once and 0 ever
 * after, so "the client is gone" is read from FCGX_GetError() after every flush (sticky EPIPE).
 * While nothing is written (a slow first token), poll() on the connection with POLLRDHUP tells
 * whether the web server hung up.
 */
#include "io.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *
fcgi_param(void *ctx, const char *name)
{
    fcgi_io_ctx_t *c = ctx;

    return FCGX_GetParam(name, c->req->envp);
}

static long
fcgi_read(void *ctx, char *buf, size_t n)
{
    fcgi_io_ctx_t *c = ctx;
    int got = FCGX_GetStr(buf, n > 65536 ? 65536 : (int)n, c->req->in);

    if (got == 0 && FCGX_GetError(c->req->in) != 0) {
        return -1;
    }
    return got;
}

static int
fcgi_write(void *ctx, const char *buf, size_t n)
{
    fcgi_io_ctx_t *c = ctx;

    if (FCGX_PutStr(buf, (int)n, c->req->out) < 0 || FCGX_GetError(c->req->out) != 0) {
        return -1;
    }
    return 0;
}

static int
fcgi_flush(void *ctx)
{
    fcgi_io_ctx_t *c = ctx;

    FCGX_FFlush(c->req->out);
    return FCGX_GetError(c->req->out) != 0 ? -1 : 0;
}

static int
fcgi_gone(void *ctx)
{
    fcgi_io_ctx_t *c = ctx;
    struct pollfd p = {c->req->ipcFd, POLLIN | POLLRDHUP, 0};

    if (FCGX_GetError(c->req->out) != 0) {
        return 1;
    }
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
        return 1;
    }
    return 0;
}

/*
 * Closing err and out sends the end of the stream and FCGI_END_REQUEST (libfcgi's
 * WriteCloseRecords), so the server completes the response now; the params stay allocated
 * until FCGX_Finish_r. What is left of the body is read first, as finish() in main.c does.
 */
static void
fcgi_end(void *ctx)
{
    fcgi_io_ctx_t *c = ctx;
    char sink[4096];
    int budget = 256;

    while (budget-- > 0 && FCGX_GetStr(sink, sizeof(sink), c->req->in) > 0) {
    }
    FCGX_FClose(c->req->err);
    FCGX_FClose(c->req->out);
}

void
fcgi_io_init(sllmp_io_t *io, fcgi_io_ctx_t *ctx)
{
    io->ctx = ctx;
    io->param = fcgi_param;
    io->read = fcgi_read;
    io->write = fcgi_write;
    io->flush = fcgi_flush;
    io->gone = fcgi_gone;
    io->end = fcgi_end;
}

/* ---------------------------------------------------------------- CGI */

static const char *
cgi_param(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

static long
cgi_read(void *ctx, char *buf, size_t n)
{
    (void)ctx;
    for (;;) {
        ssize_t got = read(STDIN_FILENO, buf, n);

        if (got < 0 && errno == EINTR) {
            continue;
        }
        return got < 0 ? -1 : (long)got;
    }
}

static int
cgi_write(void *ctx, const char *buf, size_t n)
{
    (void)ctx;
    return fwrite(buf, 1, n, stdout) == n ? 0 : -1;
}

static int
cgi_flush(void *ctx)
{
    (void)ctx;
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

/*
 * No io->end under CGI: the web server takes EOF on our stdout as the end of the script and
 * sends SIGTERM (lighttpd's cgi_connection_close, Apache's cleanup), which would kill the
 * trace record half-written. The client waits for the record's fsync instead.
 */

void
cgi_io_init(sllmp_io_t *io)
{
    io->ctx = NULL;
    io->param = cgi_param;
    io->read = cgi_read;
    io->write = cgi_write;
    io->flush = cgi_flush;
    io->gone = NULL;
    io->end = NULL;
}
