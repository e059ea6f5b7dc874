/*
 * nullfcgi: the cheapest possible FastCGI responder, to measure what lighttpd plus the
 * FastCGI hop cost on their own (the ceiling any responder behind them can reach).
 *
 * Started like sllmp.fcgi (spawn-fcgi hands it the listening socket as fd 0): forks
 * NULLFCGI_PROCS (default 4) single-threaded children that each read the request body
 * and answer GET /health with {"status":"ok"} and anything else with a fixed
 * chat.completion. No upstream call, no JSON parsing. SIGTERM to the master stops all.
 *
 * Build: gcc -std=c11 -O2 -Wall -o nullfcgi nullfcgi.c -lfcgi
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char completion[] =
    "{\"id\":\"chatcmpl-null\",\"object\":\"chat.completion\",\"created\":1741569952,"
    "\"model\":\"bench\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Hello.\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,\"total_tokens\":14}}";

static void serve(void)
{
    FCGX_Request r;
    char buf[8192];
    FCGX_Init();
    FCGX_InitRequest(&r, 0, 0);
    while (FCGX_Accept_r(&r) >= 0) {
        while (FCGX_GetStr(buf, sizeof buf, r.in) > 0) {}
        const char *uri = FCGX_GetParam("REQUEST_URI", r.envp);
        if (uri && strncmp(uri, "/health", 7) == 0)
            FCGX_PutS("Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"status\":\"ok\"}", r.out);
        else {
            FCGX_PutS("Status: 200 OK\r\nContent-Type: application/json\r\n\r\n", r.out);
            FCGX_PutStr(completion, (int)sizeof completion - 1, r.out);
        }
        FCGX_Finish_r(&r);
    }
}

static pid_t kids[64];
static int nkids;

static void on_term(int sig)
{
    for (int i = 0; i < nkids; i++) kill(kids[i], sig); /* main() reaps them, then exits */
}

int main(void)
{
    const char *e = getenv("NULLFCGI_PROCS");
    int n = e ? atoi(e) : 4;
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    struct sigaction sa = { .sa_handler = on_term };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            serve();
            _exit(0);
        }
        if (p > 0) kids[nkids++] = p;
    }
    for (;;)
        if (wait(NULL) < 0 && errno != EINTR) break;
    return 0;
}
