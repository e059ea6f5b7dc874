/*
 * Log lines to stderr: "2026-11-21T10:00:00.123Z sllmp[pid] LEVEL [reqid] message (file:line)".
 * One write(2) per line so lines of concurrent threads and processes do not interleave.
 */
#include "sllmp/log.h"
#include "sllmp/util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int sllmp_log_level = SLLMP_LOG_INFO;

static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void
sllmp_log_write(const char *reqid, sllmp_log_level_t level, const char *file, int line,
                const char *fmt, ...)
{
    char buf[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;
    int k;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    k = snprintf(buf + n, sizeof(buf) - n, ".%03ldZ sllmp[%d] %s %s%s%s", ts.tv_nsec / 1000000,
                 (int)getpid(), names[level], reqid ? "[" : "", reqid ? reqid : "",
                 reqid ? "] " : "");
    n += (size_t)k < sizeof(buf) - n ? (size_t)k : sizeof(buf) - n - 1;
    va_start(ap, fmt);
    k = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    va_end(ap);
    n += (k > 0 && (size_t)k < sizeof(buf) - n) ? (size_t)k : sizeof(buf) - n - 1;
    if (level >= SLLMP_LOG_DEBUG || level == SLLMP_LOG_ERROR) {
        const char *base = strrchr(file, '/');

        k = snprintf(buf + n, sizeof(buf) - n, " (%s:%d)", base ? base + 1 : file, line);
        n += (k > 0 && (size_t)k < sizeof(buf) - n) ? (size_t)k : sizeof(buf) - n - 1;
    }
    if (n >= sizeof(buf) - 1) {
        n = sizeof(buf) - 2;
    }
    buf[n++] = '\n';
    if (write(STDERR_FILENO, buf, n) < 0) {
        /* nowhere left to say it */
    }
}

int
sllmp_log_level_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
        if (strcasecmp(s, names[i]) == 0) {
            return i;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        return SLLMP_LOG_WARN;
    }
    return -1;
}

void
sllmp_warn_rarely(const char *reqid, int64_t *last, const char *what)
{
    int64_t now = sllmp_now_ms();

    if (now - *last >= 10000) {
        *last = now;
        sllmp_log(reqid, SLLMP_LOG_WARN, "%s", what);
    }
}
