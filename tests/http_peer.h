/*
 * A test's own HTTP upstream on 127.0.0.1 (a free port), one connection at a time on a thread
 * of its own: the unit tests' canned provider (tests/unit/test_pipeline.c) and the fuzzer's
 * hostile one (tests/fuzz/fuzz_upstream.c). The caller's serve() reads the request with
 * peer_read_request() and answers with peer_send(); the connection is closed after it.
 */
#ifndef SLLMP_TEST_HTTP_PEER_H
#define SLLMP_TEST_HTTP_PEER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef void peer_serve_f(int fd);

static int peer_fd = -1;
static peer_serve_f *peer_serve;

static __attribute__((unused)) void
peer_send(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

        if (k <= 0) {
            return;
        }
        s += k;
        n -= (size_t)k;
    }
}

static __attribute__((unused)) void
peer_sends(int fd, const char *s)
{
    peer_send(fd, s, strlen(s));
}

/*
 * One request into req (NUL-terminated): its headers, then Content-Length bytes of body, a
 * "100 Continue" sent first when it asks for one; as much as fits of a longer one. Its length;
 * 0 when the client went away before it was whole.
 */
static __attribute__((unused)) size_t
peer_read_request(int fd, char *req, size_t size)
{
    size_t len = 0;
    const char *end = NULL, *cl;

    while (len < size - 1) {
        ssize_t k = recv(fd, req + len, size - 1 - len, 0);

        if (k <= 0) {
            return 0;
        }
        len += (size_t)k;
        req[len] = '\0';
        if (end == NULL && (end = strstr(req, "\r\n\r\n")) != NULL &&
            strcasestr(req, "Expect: 100-continue") != NULL) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

            peer_send(fd, cont, sizeof(cont) - 1);
        }
        cl = strcasestr(req, "Content-Length:");
        if (end != NULL && cl != NULL && len >= (size_t)(end + 4 - req) + strtoul(cl + 15, 0, 10)) {
            break;
        }
    }
    return len;
}

static void *
peer_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(peer_fd, NULL, NULL);
        int one = 1;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            return NULL; /* shut down by peer_stop() */
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        peer_serve(fd);
        close(fd);
    }
}

/* Listens and starts the thread: the port, or 0 when that failed. */
static __attribute__((unused)) int
peer_start(peer_serve_f *serve, pthread_t *thread)
{
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    peer_serve = serve;
    peer_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (peer_fd < 0 || bind(peer_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(peer_fd, 16) != 0 || getsockname(peer_fd, (struct sockaddr *)&sa, &salen) != 0 ||
        pthread_create(thread, NULL, peer_main, NULL) != 0) {
        return 0;
    }
    return ntohs(sa.sin_port);
}

/* Ends the thread (accept() returns) and closes the socket. */
static __attribute__((unused)) void
peer_stop(pthread_t thread)
{
    shutdown(peer_fd, SHUT_RDWR);
    pthread_join(thread, NULL);
    close(peer_fd);
    peer_fd = -1;
}

#endif
