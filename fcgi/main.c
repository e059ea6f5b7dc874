/*
 * sllmp.fcgi: the FastCGI responder (architecture.md decision 2, deployment.md §1, §4).
 *
 * The web server, spawn-fcgi or systemd hands over the listening socket on fd 0.
 *
 *   master   the first process: loads the config (refusing to start on a bad one), forks
 *            `workers` children, replaces any that die, and on SIGHUP reloads the config and
 *            replaces the whole generation (new workers start accepting at once; the old ones
 *            finish their streams, then exit). SIGTERM/SIGINT: drain every worker, then exit.
 *   worker   runs `threads` accept threads. Each thread waits on fd 0 through its own epoll set
 *            with EPOLLEXCLUSIVE (one idle thread woken per connection, no thundering herd),
 *            then calls FCGX_Accept_r on the non-blocking listening socket, so a thread is never
 *            stuck in accept() and draining never drops a connection that was already taken:
 *            a thread leaves its loop only between requests. A worker drains and exits after
 *            `max_requests`, or on SIGTERM, or when the master dies (PR_SET_PDEATHSIG).
 *
 * With `workers: 0` there is no master. Started by mod_fcgid (which runs one request per process
 * and supervises itself) there is neither a master nor more than one thread. When fd 0 is not
 * a socket the binary is a plain CGI program: one request from the environment and stdin, the
 * answer on stdout, exit.
 */
#include "io.h"

#include "sllmp/conf.h"
#include "sllmp/core.h"
#include "sllmp/log.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 512

/* ---------------------------------------------------------------- worker */

typedef struct {
    int id;
    pthread_t tid;
} thread_t;

static int wake_fd = -1; /* eventfd: readable once the worker drains */
static long max_requests;
static long served; /* atomic */
static int alive;   /* accept threads still running, under mu */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void
start_drain(void)
{
    uint64_t one = 1;

    if (!__atomic_exchange_n(&sllmp_draining, 1, __ATOMIC_ACQ_REL)) {
        if (write(wake_fd, &one, sizeof(one)) < 0) {
            /* the threads still see the flag within their next wake-up */
        }
    }
}

/*
 * Ends a request without libfcgi's lingering close (shutdown, then up to 2 s of poll() until the
 * server closes: one more sleep and wake-up per request). The lingering close is there so a peer
 * still sending does not get a reset; once FCGI_STDIN has been read to its end the server sends
 * nothing more, so after draining it a plain close() loses nothing. FCGX_Detach() is what makes
 * FCGX_Finish_r() close without the shutdown; the request is still finished normally (the
 * buffered output, the end of the stream and FCGI_END_REQUEST all go out).
 */
static void
finish(FCGX_Request *req)
{
    char sink[4096];
    int budget = 256; /* at most 1 MiB of a body nobody read */

    while (budget-- > 0 && FCGX_GetStr(sink, sizeof(sink), req->in) > 0) {
    }
    if (FCGX_GetError(req->in) == 0 && FCGX_HasSeenEOF(req->in) == EOF) {
        FCGX_Detach(req);
    }
    FCGX_Finish_r(req);
}

static void *
accept_loop(void *arg)
{
    thread_t *t = arg;
    sllmp_worker_ctx_t *w = sllmp_worker_new(t->id);
    FCGX_Request req;
    fcgi_io_ctx_t ctx = {&req};
    sllmp_io_t io;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = 0};
    int ep = epoll_create1(EPOLL_CLOEXEC);

    SLLMP_ASSERT(ep >= 0);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) {
        sllmp_log(NULL, SLLMP_LOG_ERROR, "epoll on fd 0: %s", strerror(errno));
        start_drain();
    }
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, wake_fd, &ev);
    FCGX_InitRequest(&req, 0, 0);
    fcgi_io_init(&io, &ctx);

    while (!__atomic_load_n(&sllmp_draining, __ATOMIC_ACQUIRE)) {
        struct epoll_event got[2];
        int n = epoll_wait(ep, got, 2, -1), listen_ready = 0;

        for (int i = 0; i < n; i++) {
            listen_ready |= got[i].data.fd == 0;
        }
        /* Woken for a connection, a thread takes it even when its worker began to drain
         * meanwhile: EPOLLEXCLUSIVE woke it instead of the new generation's threads, which stay
         * asleep, so a connection left here would wait in the backlog for the next one (seen
         * as a request hanging through a reload). The drain waits for it like any other. */
        if (!listen_ready) {
            continue;
        }
        int rc = FCGX_Accept_r(&req);

        if (rc < 0) {
            if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR && rc != -ECONNABORTED) {
                sllmp_log(NULL, SLLMP_LOG_WARN, "FCGX_Accept_r: %d", rc);
                struct timespec ts = {0, 10000000};

                nanosleep(&ts, NULL);
            }
            continue;
        }
        sllmp_handle(&io, w);
        finish(&req);
        w->requests++;
        if (max_requests > 0 && __atomic_add_fetch(&served, 1, __ATOMIC_ACQ_REL) >= max_requests) {
            sllmp_log(NULL, SLLMP_LOG_INFO, "served %ld requests: recycling", max_requests);
            start_drain();
        }
    }
    FCGX_Free(&req, 1);
    close(ep);
    sllmp_worker_free(w);
    pthread_mutex_lock(&mu);
    alive--;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static int
worker_main(const sllmp_conf_t *conf, int supervised, int nthreads)
{
    sigset_t set;
    pthread_attr_t attr;
    thread_t *threads;
    int flags;

    if (supervised) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1) {
            return 0; /* the master died before we got here */
        }
    }
    max_requests = conf->max_requests;
    if (sllmp_core_init() < 0) {
        sllmp_log(NULL, SLLMP_LOG_ERROR, "core initialisation failed");
        return 1;
    }
    FCGX_Init();
    /* libfcgi installs an empty SIGPIPE handler without SA_RESTART: any slow call of the thread
     * could then see EINTR. Ignoring it gives the same EPIPE on writes to a departed server. */
    signal(SIGPIPE, SIG_IGN);
    flags = fcntl(0, F_GETFL);
    fcntl(0, F_SETFL, flags | O_NONBLOCK);
    wake_fd = eventfd(0, EFD_CLOEXEC);
    SLLMP_ASSERT(wake_fd >= 0);

    /* Signals stay blocked in every thread; this main thread takes them with sigtimedwait. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    threads = sllmp_xcalloc((size_t)nthreads, sizeof(thread_t));
    alive = nthreads;
    for (int i = 0; i < nthreads; i++) {
        threads[i].id = i;
        if (pthread_create(&threads[i].tid, &attr, accept_loop, &threads[i]) != 0) {
            sllmp_log(NULL, SLLMP_LOG_ERROR, "cannot start thread %d: %s", i, strerror(errno));
            alive = i;
            nthreads = i;
            break;
        }
        pthread_detach(threads[i].tid);
    }
    pthread_attr_destroy(&attr);

    while (!__atomic_load_n(&sllmp_draining, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 250000000};
        int sig = sigtimedwait(&set, NULL, &ts);

        if (sig == SIGQUIT) {
            _exit(0);
        }
        if (sig > 0) {
            start_drain();
        }
    }

    /* Drain: no new requests; wait for the ones in flight, up to drain_timeout_ms. */
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += conf->drain_timeout_ms / 1000;
    deadline.tv_nsec += (conf->drain_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (alive > 0) {
        if (pthread_cond_timedwait(&cv, &mu, &deadline) == ETIMEDOUT) {
            sllmp_log(NULL, SLLMP_LOG_WARN, "drain timeout: %d requests still running are cut",
                      alive);
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    _exit(0);
}

/* ---------------------------------------------------------------- master */

typedef struct {
    pid_t pid;
    int generation;
} child_t;

static child_t children[MAX_WORKERS];
static int nchildren;

/* The workers' line to the master: paths of the files only vhosts name (see hear()). */
static int ear[2] = {-1, -1};

static pid_t
spawn(const sllmp_conf_t *conf, int generation)
{
    pid_t pid = fork();

    if (pid < 0) {
        sllmp_log(NULL, SLLMP_LOG_ERROR, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        if (ear[0] >= 0) {
            close(ear[0]);
            sllmp_conf_tell_to(ear[1]);
        }
        _exit(worker_main(conf, 1, conf->threads));
    }
    for (int i = 0; i < MAX_WORKERS; i++) {
        if (children[i].pid == 0) {
            children[i].pid = pid;
            children[i].generation = generation;
            nchildren++;
            break;
        }
    }
    return pid;
}

static int
count_generation(int generation)
{
    int n = 0;

    for (int i = 0; i < MAX_WORKERS; i++) {
        n += children[i].pid != 0 && children[i].generation == generation;
    }
    return n;
}

static void
signal_all(int sig, int except_generation)
{
    for (int i = 0; i < MAX_WORKERS; i++) {
        if (children[i].pid != 0 && children[i].generation != except_generation) {
            kill(children[i].pid, sig);
        }
    }
}

/*
 * The paths workers tell of (one line each, written whole): files that only a vhost names
 * (SLLMP_CONFIG as a FastCGI parameter), which the master follows from then on as it follows
 * its own, so that a worker it forks after a broken edit of one starts from its last good
 * version rather than answering 500 for that vhost.
 */
static void
hear(void)
{
    static char buf[2 * PIPE_BUF];
    static size_t have;
    ssize_t n;

    while (ear[0] >= 0 && (n = read(ear[0], buf + have, sizeof(buf) - 1 - have)) > 0) {
        char *line = buf, *nl;

        have += (size_t)n;
        buf[have] = '\0';
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            sllmp_conf_follow(line);
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof(buf) - 1) {
            have = 0; /* no line is that long: lost in the middle of one */
        }
    }
}

static int
master_main(sllmp_conf_t *conf)
{
    sigset_t set;
    int generation = 1, stopping = 0, nworkers = conf->workers;
    int64_t crash_window = 0;
    int crashes = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGQUIT);
    sigprocmask(SIG_BLOCK, &set, NULL);

    sllmp_log(NULL, SLLMP_LOG_INFO, "master %d: %d workers x %d threads, config %s", (int)getpid(),
              conf->workers, conf->threads, conf->path);
    if (pipe2(ear, O_CLOEXEC | O_NONBLOCK) < 0) {
        sllmp_log(NULL, SLLMP_LOG_WARN, "pipe: %s (files only vhosts name are not followed)",
                  strerror(errno));
        ear[0] = ear[1] = -1;
    }
    for (int i = 0; i < nworkers; i++) {
        spawn(conf, generation);
    }
    for (;;) {
        struct timespec ts = {1, 0};
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &ts);

        if (!stopping) {
            /*
             * Workers follow the file on their own (sllmp_conf_get checks it every second); the
             * master does too, so that a worker it forks (a crash, max_requests) starts from the
             * newest version that loaded, not the one of start-up, and a broken edit after it
             * does not bring an older version back. The same holds for the files vhosts name
             * that workers tell of.
             */
            hear();
            sllmp_conf_follow_all();
        }
        if (sig == SIGCHLD || sig < 0) {
            int status;
            pid_t pid;

            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                int gen = 0;

                for (int i = 0; i < MAX_WORKERS; i++) {
                    if (children[i].pid == pid) {
                        gen = children[i].generation;
                        children[i].pid = 0;
                        nchildren--;
                    }
                }
                if (WIFSIGNALED(status)) {
                    sllmp_log(NULL, SLLMP_LOG_WARN, "worker %d killed by signal %d", (int)pid,
                              WTERMSIG(status));
                    int64_t now = sllmp_now_ms();

                    if (now - crash_window > 10000) {
                        crash_window = now;
                        crashes = 0;
                    }
                    crashes++;
                } else if (WEXITSTATUS(status) != 0) {
                    sllmp_log(NULL, SLLMP_LOG_WARN, "worker %d exited with %d", (int)pid,
                              WEXITSTATUS(status));
                }
                if (!stopping && gen == generation) {
                    if (crashes > 10) {
                        /* crash loop: slow down rather than fork-bomb the host */
                        struct timespec pause = {1, 0};

                        nanosleep(&pause, NULL);
                    }
                    spawn(conf, generation);
                }
            }
            if (stopping && nchildren == 0) {
                sllmp_log(NULL, SLLMP_LOG_INFO, "master %d: all workers done, exiting",
                          (int)getpid());
                return 0;
            }
            /* a generation may be short after failed forks */
            while (!stopping && count_generation(generation) < nworkers &&
                   spawn(conf, generation) > 0) {
            }
        } else if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
            if (stopping || sig == SIGQUIT) {
                signal_all(SIGQUIT, -1);
            } else {
                sllmp_log(NULL, SLLMP_LOG_INFO, "master %d: draining %d workers", (int)getpid(),
                          nchildren);
                signal_all(SIGTERM, -1);
            }
            stopping = 1;
            if (nchildren == 0) {
                return 0;
            }
        } else if (sig == SIGHUP && !stopping) {
            char *err = NULL;
            sllmp_conf_t *fresh;

            fresh = sllmp_conf_reload(NULL, &err);
            if (fresh == NULL) {
                sllmp_log(NULL, SLLMP_LOG_ERROR, "reload refused, keeping the running workers: %s",
                          err);
                free(err);
                continue;
            }
            sllmp_conf_unref(conf);
            conf = fresh;
            sllmp_log_level = conf->log_level;
            if (conf->workers > 0) {
                nworkers = conf->workers;
            } else {
                /* a master cannot become the single process workers: 0 asks for */
                sllmp_log(NULL, SLLMP_LOG_WARN,
                          "workers: 0 (one process, no master) applies at start only; keeping %d "
                          "workers",
                          nworkers);
            }
            generation++;
            sllmp_log(NULL, SLLMP_LOG_INFO, "master %d: reloaded %s, starting generation %d",
                      (int)getpid(), conf->path, generation);
            for (int i = 0; i < nworkers; i++) {
                spawn(conf, generation);
            }
            signal_all(SIGTERM, generation);
        }
    }
}

/* ---------------------------------------------------------------- CGI and main */

static int
cgi_main(void)
{
    sllmp_io_t io;
    sllmp_worker_ctx_t *w;

    signal(SIGPIPE, SIG_IGN);
    if (sllmp_core_init() < 0) {
        return 1;
    }
    sllmp_access_log_quiet = 1; /* stderr is the web server's error log */
    w = sllmp_worker_new(0);
    cgi_io_init(&io);
    sllmp_handle(&io, w);
    fflush(stdout);
    sllmp_worker_free(w);
    sllmp_core_fini();
    return 0;
}

/* Apache spawned us with a listening socket: that is mod_fcgid (mod_proxy_fcgi spawns nothing,
 * and a CGI gets no socket). Its process manager, an Apache child, is our parent; a suexec or
 * wrapper script in between execs in place and keeps it so. LiteSpeed, common on shared hosts,
 * honours the same .htaccess and runs its FastCGI processes the same way. */
static int
spawned_by_apache(void)
{
    char path[64], comm[32] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)getppid());
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    if (fgets(comm, sizeof(comm), f) == NULL) {
        comm[0] = '\0';
    }
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    /* httpd, httpd.worker, httpd.event; litespeed, lscgid, lshttpd */
    return strcmp(comm, "apache2") == 0 || strncmp(comm, "httpd", 5) == 0 ||
           strncmp(comm, "litespeed", 9) == 0 || strcmp(comm, "lscgid") == 0 ||
           strcmp(comm, "lshttpd") == 0;
}

static int
fd0_is_listening(void)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);

    return getpeername(0, (struct sockaddr *)&sa, &len) < 0 && errno == ENOTCONN;
}

int
main(int argc, char **argv)
{
    sllmp_conf_t *conf;
    char *err = NULL;

    /*
     * Under CGI the arguments are not ours: a query string without '=' comes as argv (RFC 3875
     * 4.4, as Apache's mod_cgi does), and "?-v" must not print a version where the headers go.
     */
    if (getenv("GATEWAY_INTERFACE") != NULL) {
        argc = 1;
    }
    if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
        printf("sllmp.fcgi " SLLMP_VERSION "\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr,
                "usage: %s  (started by spawn-fcgi, a web server, or as CGI)\n"
                "  the listening socket comes on fd 0; SLLMP_CONFIG names the YAML\n",
                argv[0]);
        return 2;
    }
    if (!fd0_is_listening()) {
        return cgi_main();
    }
    conf = sllmp_conf_get(NULL, &err);
    if (conf == NULL) {
        sllmp_log(NULL, SLLMP_LOG_ERROR, "refusing to start: %s", err);
        free(err);
        return 1;
    }
    sllmp_log_level = conf->log_level;
    if (spawned_by_apache()) {
        /*
         * mod_fcgid: it supervises its processes itself and sends each one request at a time,
         * so a master, workers and threads would only hold memory. Its processes start with
         * none of the vhost's variables (SLLMP_CONFIG comes with each request as a parameter),
         * so this is decided here rather than by `workers:`; and as the host's error log gets
         * our stderr, routine lines stay out of it unless SLLMP_CONFIG names a config at
         * start-up (the per-request YAML's log_level does not reach this process's level).
         */
        if (getenv("SLLMP_CONFIG") == NULL && sllmp_log_level > SLLMP_LOG_WARN) {
            sllmp_log_level = SLLMP_LOG_WARN;
        }
        sllmp_access_log_quiet = 1; /* unless the YAML names an access_log */
        return worker_main(conf, 0, 1);
    }
    if (conf->workers == 0) {
        return worker_main(conf, 0, conf->threads);
    }
    return master_main(conf);
}
