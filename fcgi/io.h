/*
 * The fronts' adapters from a FastCGI request, or a CGI process, to the core's sllmp_io_t.
 */
#ifndef SLLMP_FCGI_IO_H
#define SLLMP_FCGI_IO_H

#include "sllmp/req.h"

#include <fcgiapp.h>

typedef struct {
    FCGX_Request *req;
} fcgi_io_ctx_t;

/* io->ctx must point at a fcgi_io_ctx_t whose req is the accepted request. */
void fcgi_io_init(sllmp_io_t *io, fcgi_io_ctx_t *ctx);

/* Plain CGI: the process environment, stdin and stdout. */
void cgi_io_init(sllmp_io_t *io);

#endif
