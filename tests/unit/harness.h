/*
 * Loopback harness for unit tests: a fake sllmp_io_t that serves params and a body from memory
 * and captures the output, so whole requests run through sllmp_handle() without sockets.
 */
#ifndef SLLMP_TEST_HARNESS_H
#define SLLMP_TEST_HARNESS_H

#include "sllmp/buf.h"
#include "sllmp/req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *const *params; /* name, value, name, value, ..., NULL */
    const char *body;
    size_t body_pos;
    sllmp_buf_t out;
    int flushes;
    int gone_after_flushes; /* > 0: the client leaves after that many flushes */
    int ended;              /* io->end() calls */
} fake_io_t;

static __attribute__((unused)) const char *
fake_param(void *ctx, const char *name)
{
    fake_io_t *f = ctx;

    for (const char *const *p = f->params; p && *p; p += 2) {
        if (strcmp(p[0], name) == 0) {
            return p[1];
        }
    }
    return NULL;
}

static __attribute__((unused)) long
fake_read(void *ctx, char *buf, size_t n)
{
    fake_io_t *f = ctx;
    size_t left = f->body ? strlen(f->body) - f->body_pos : 0;

    if (n > left) {
        n = left;
    }
    if (n > 1000) {
        n = 1000; /* arrive in pieces, as from a socket */
    }
    memcpy(buf, f->body + f->body_pos, n);
    f->body_pos += n;
    return (long)n;
}

static __attribute__((unused)) int
fake_gone(void *ctx)
{
    fake_io_t *f = ctx;

    return f->gone_after_flushes > 0 && f->flushes >= f->gone_after_flushes;
}

static __attribute__((unused)) int
fake_write(void *ctx, const char *buf, size_t n)
{
    fake_io_t *f = ctx;

    if (fake_gone(f)) {
        return -1;
    }
    return sllmp_buf_append(&f->out, buf, n);
}

static __attribute__((unused)) int
fake_flush(void *ctx)
{
    fake_io_t *f = ctx;

    f->flushes++;
    return fake_gone(f) ? -1 : 0;
}

static void
fake_end(void *ctx)
{
    fake_io_t *f = ctx;

    f->ended++;
}

static __attribute__((unused)) void
fake_init(fake_io_t *f, sllmp_io_t *io, const char *const *params, const char *body)
{
    memset(f, 0, sizeof(*f));
    f->params = params;
    f->body = body;
    sllmp_buf_init(&f->out, 0);
    io->ctx = f;
    io->param = fake_param;
    io->read = fake_read;
    io->write = fake_write;
    io->flush = fake_flush;
    io->gone = fake_gone;
    io->end = fake_end;
}

/* Status code from the captured "Status: NNN" line, or -1. */
static __attribute__((unused)) int
fake_status(const fake_io_t *f)
{
    const char *s = sllmp_buf_cstr(&f->out);

    return strncmp(s, "Status: ", 8) == 0 ? atoi(s + 8) : -1;
}

static __attribute__((unused)) const char *
fake_body(const fake_io_t *f)
{
    const char *s = strstr(sllmp_buf_cstr(&f->out), "\r\n\r\n");

    return s ? s + 4 : "";
}

/* Writes text to a fresh temporary file and returns its malloc'd path. */
static __attribute__((unused)) char *
write_temp(const char *text)
{
    char *path = strdup("/tmp/sllmp-test-XXXXXX");
    int fd = mkstemp(path);

    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        abort();
    }
    close(fd);
    return path;
}

#endif
