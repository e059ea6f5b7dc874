/*
 * What both limit stores share: subject ids, budget windows, durations.
 */
#include "sllmp/limits.h"
#include "sllmp/conf.h"
#include "sllmp/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sllmp_subject_id(char out[SLLMP_SUBJECT_MAX], const char *kind, const char *name)
{
    size_t klen = strlen(kind), nlen = strlen(name);
    int plain = nlen > 0 && nlen <= 64 && klen + 1 + nlen < SLLMP_SUBJECT_MAX;

    for (size_t i = 0; plain && i < nlen; i++) {
        char ch = name[i];

        plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '.' || ch == '_' || ch == '@' || ch == '-';
    }
    if (plain) {
        memcpy(out, kind, klen);
        out[klen] = ':';
        memcpy(out + klen + 1, name, nlen + 1);
        return;
    }
    unsigned char sha[32];
    char hex[65];

    sllmp_sha256(name, nlen, sha);
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    }
    klen = klen < SLLMP_SUBJECT_MAX - 35 ? klen : SLLMP_SUBJECT_MAX - 35;
    memcpy(out, kind, klen);
    out[klen] = ':';
    out[klen + 1] = '~';
    memcpy(out + klen + 2, hex, 32);
    out[klen + 34] = '\0';
}

long
sllmp_report_period(const sllmp_subject_t *s)
{
    if (s->lim.budget_nano >= 0) {
        return s->lim.budget_period_s;
    }
    return s->report_period_s > 0 ? s->report_period_s : 86400;
}

/*
 * The first second of the UTC calendar month holding s (>= 0): its day of the month, from the
 * civil calendar counted in 400-year eras of years that begin on March 1st (so that February's
 * leap day is a year's last). The Redis script's month_of() is the same computation.
 */
static int64_t
month_start(int64_t s)
{
    int64_t z = s / 86400;
    int64_t zz = z + 719468; /* days since 0000-03-01 */
    int64_t era = zz / 146097;
    int64_t doe = zz - era * 146097;                                     /* day of the era */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* year of the era */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* day of the year */
    int64_t mp = (5 * doy + 2) / 153;                                    /* month, March = 0 */
    int64_t day = doy - (153 * mp + 2) / 5;                              /* of the month, 0.. */

    return (z - day) * 86400;
}

int64_t
sllmp_window_start(int64_t now_s, long period_s)
{
    /* weeks begin on Monday: 1970-01-01 was a Thursday, the first Monday 4 days later */
    int64_t offset = period_s == 604800 ? 4 * 86400 : 0;

    if (period_s <= 0 || now_s < 0) {
        return 0;
    }
    if (period_s == SLLMP_PERIOD_MONTH) {
        return month_start(now_s);
    }
    return (now_s - offset) / period_s * period_s + offset;
}

int64_t
sllmp_window_end(int64_t start_s, long period_s)
{
    if (period_s <= 0) {
        return INT64_MAX;
    }
    if (period_s == SLLMP_PERIOD_MONTH) {
        return month_start(start_s + 32 * 86400);
    }
    return start_s + period_s;
}

/* The first name of a period is how it is shown; the others are LiteLLM's spellings of it
 * (LiteLLM resets a 30d budget on the 1st of the month, as 1mo). */
static const struct {
    const char *name;
    long seconds;
} periods[] = {{"1h", 3600},
               {"60m", 3600},
               {"1d", 86400},
               {"24h", 86400},
               {"7d", 604800},
               {"1w", 604800},
               {"30d", SLLMP_PERIOD_MONTH},
               {"1mo", SLLMP_PERIOD_MONTH},
               {"total", 0}};

long
sllmp_period_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(periods) / sizeof(periods[0]); i++) {
        if (strcmp(s, periods[i].name) == 0) {
            return periods[i].seconds;
        }
    }
    return -1;
}

const char *
sllmp_period_name(long period_s)
{
    for (size_t i = 0; i < sizeof(periods) / sizeof(periods[0]); i++) {
        if (periods[i].seconds == period_s) {
            return periods[i].name;
        }
    }
    return "total";
}

void
sllmp_duration_format(int64_t ms, char *buf, size_t len)
{
    if (ms < 0) {
        ms = 0;
    }
    if (ms < 1000) {
        snprintf(buf, len, "%lldms", (long long)ms);
    } else if (ms < 60000) {
        if (ms % 1000 == 0) {
            snprintf(buf, len, "%llds", (long long)(ms / 1000));
        } else {
            snprintf(buf, len, "%lld.%03llds", (long long)(ms / 1000), (long long)(ms % 1000));
            /* Go prints the shortest form: 1.5s, not 1.500s */
            char *s = strchr(buf, 's');

            while (s != NULL && s[-1] == '0') {
                memmove(s - 1, s, strlen(s) + 1);
                s--;
            }
        }
    } else if (ms < 3600000) {
        snprintf(buf, len, "%lldm%llds", (long long)(ms / 60000), (long long)(ms % 60000 / 1000));
    } else {
        snprintf(buf, len, "%lldh%lldm%llds", (long long)(ms / 3600000),
                 (long long)(ms % 3600000 / 60000), (long long)(ms % 60000 / 1000));
    }
}

static int
use_redis(const sllmp_conf_t *c)
{
    return c->limits_backend == SLLMP_BACKEND_REDIS ||
           (c->limits_backend == SLLMP_BACKEND_AUTO && c->redis_url != NULL);
}

static void
local_path(const sllmp_conf_t *c, char *buf, size_t len)
{
    sllmp_rundir_file(c->limits_file, "limits.db", buf, len);
}

int
sllmp_store_is_redis(const sllmp_conf_t *c)
{
    return use_redis(c);
}

int
sllmp_store_local_path(const sllmp_conf_t *c, char *buf, size_t len)
{
    if (use_redis(c)) {
        return -1;
    }
    local_path(c, buf, len);
    return 0;
}

void
sllmp_store_ident(const sllmp_conf_t *c, char *buf, size_t len)
{
    if (use_redis(c)) {
        snprintf(buf, len, "redis %s %ld %ld", c->redis_url ? c->redis_url : "",
                 c->redis_connect_timeout_ms, c->redis_timeout_ms);
    } else {
        char path[4096];

        local_path(c, path, sizeof(path));
        snprintf(buf, len, "local %s", path);
    }
}

sllmp_store_t *
sllmp_store_open(const sllmp_conf_t *c, char *err, size_t errlen)
{
    char path[4096];

    if (use_redis(c)) {
        if (c->redis_url == NULL) {
            snprintf(err, errlen, "sllmp.limits.backend is redis but sllmp.redis.url is not set");
            return NULL;
        }
        return sllmp_store_redis_open(c->redis_url, c->redis_connect_timeout_ms,
                                      c->redis_timeout_ms, err, errlen);
    }
    local_path(c, path, sizeof(path));
    return sllmp_store_local_open(path, err, errlen);
}
