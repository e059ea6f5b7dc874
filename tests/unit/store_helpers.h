/*
 * A subject and a reservation for the limit-store tests (test_limits_local.c,
 * test_limits_redis.c). Include after sllmp/limits.h and sllmp/util.h.
 */
#ifndef SLLMP_TEST_STORE_HELPERS_H
#define SLLMP_TEST_STORE_HELPERS_H

#include <string.h>

static sllmp_subject_t
subject(const char *id, long rpm, long tpm, long parallel, int64_t budget_nano, long period_s)
{
    sllmp_subject_t subj;

    memset(&subj, 0, sizeof(subj));
    snprintf(subj.id, sizeof(subj.id), "%s", id);
    subj.lim.rpm = rpm;
    subj.lim.tpm = tpm;
    subj.lim.parallel = parallel;
    subj.lim.budget_nano = budget_nano;
    subj.lim.budget_period_s = period_s;
    return subj;
}

static sllmp_reservation_t
reservation(int64_t tokens, int64_t cost_nano, int64_t lease_ms)
{
    sllmp_reservation_t res;

    sllmp_random_hex(res.id, 16);
    res.tokens = tokens;
    res.cost_nano = cost_nano;
    res.lease_ms = lease_ms;
    return res;
}

#endif
