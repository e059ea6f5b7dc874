/*
 * One log macro. Lines go to stderr (which the spawner captures), one per event, with the level,
 * the pid, the request id when there is one and file:line. The level is checked before the
 * arguments are evaluated. Never log keys, and never bodies.
 */
#ifndef SLLMP_LOG_H
#define SLLMP_LOG_H

#include <stdint.h>

#include "sllmp/util.h"

typedef enum {
    SLLMP_LOG_ERROR = 0,
    SLLMP_LOG_WARN,
    SLLMP_LOG_INFO,
    SLLMP_LOG_DEBUG
} sllmp_log_level_t;

extern int sllmp_log_level;

void sllmp_log_write(const char *reqid, sllmp_log_level_t level, const char *file, int line,
                     const char *fmt, ...) SLLMP_PRINTF(5, 6);

/* A warning at most every 10 s for each *last (a caller's _Thread_local): an outage must not
 * flood the log. */
void sllmp_warn_rarely(const char *reqid, int64_t *last, const char *what);

/* Returns the level for "error", "warn", "info", "debug"; -1 otherwise. */
int sllmp_log_level_parse(const char *s);

#define sllmp_log(reqid, level, ...)                                                               \
    do {                                                                                           \
        if ((int)(level) <= sllmp_log_level) {                                                     \
            sllmp_log_write((reqid), (level), __FILE__, __LINE__, __VA_ARGS__);                    \
        }                                                                                          \
    } while (0)

#endif
