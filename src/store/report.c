/*
 * `sllmp usage`: spend and requests per key, team, user, the gateway's budget, deployment and
 * model, read from the store the config names, for the current windows.
 */
#include "sllmp/conf.h"
#include "sllmp/limits.h"
#include "sllmp/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    sllmp_subject_t *s;
    size_t n, cap;
} list_t;

/* Adds a subject once; id, when not NULL, is its store id (else made from kind and name). */
static sllmp_subject_t *
push(list_t *l, const char *kind, const char *name, const sllmp_limits_t *lim, const char *known)
{
    char id[SLLMP_SUBJECT_MAX];

    if (known != NULL) {
        snprintf(id, sizeof(id), "%s", known);
    } else {
        sllmp_subject_id(id, kind, name);
    }
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->s[i].id, id) == 0) {
            return &l->s[i];
        }
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->s = sllmp_xrealloc(l->s, l->cap * sizeof(*l->s));
    }
    sllmp_subject_t *s = &l->s[l->n++];

    memset(s, 0, sizeof(*s));
    memcpy(s->id, id, sizeof(id));
    s->lim.budget_nano = -1;
    if (lim != NULL) {
        s->lim = *lim;
    }
    s->report_period_s = 86400;
    return s;
}

typedef struct {
    list_t *l;
    const sllmp_conf_t *c;
} found_t;

/*
 * A user the store knows of: limited by its own entry or by "*". A name the store keeps as a
 * digest ("user:~<hex>") is matched against the configured names by their digests.
 */
static void
found_user(const char *id, void *arg)
{
    found_t *f = arg;
    const sllmp_limit_entry_t *e = NULL;

    for (size_t i = 0; i < f->c->nusers; i++) {
        char cid[SLLMP_SUBJECT_MAX];

        sllmp_subject_id(cid, "user", f->c->users[i].name);
        if (strcmp(cid, id) == 0 && strcmp(f->c->users[i].name, "*") != 0) {
            e = &f->c->users[i];
        }
    }
    if (e == NULL) {
        e = sllmp_conf_user(f->c, "*");
    }
    push(f->l, "user", id + 5, e ? &e->lim : NULL, id);
}

static void
collect(const sllmp_conf_t *c, sllmp_store_t *st, list_t *l)
{
    found_t f = {l, c};

    for (size_t i = 0; i < c->nkeys; i++) {
        push(l, "key", c->keys[i].name, &c->keys[i].lim, NULL);
    }
    for (size_t i = 0; i < c->nteams; i++) {
        push(l, "team", c->teams[i].name, &c->teams[i].lim, NULL);
    }
    for (size_t i = 0; i < c->nkeys; i++) {
        if (c->keys[i].team != NULL) {
            push(l, "team", c->keys[i].team, NULL, NULL);
        }
    }
    for (size_t i = 0; i < c->nusers; i++) {
        if (strcmp(c->users[i].name, "*") != 0) {
            push(l, "user", c->users[i].name, &c->users[i].lim, NULL);
        }
    }
    if (c->nusers > 0) {
        st->ops->each(st, "user:", found_user, &f);
    }
    if (sllmp_limits_any(&c->global)) {
        push(l, "global", "all", &c->global, NULL);
    }
    for (size_t i = 0; i < c->ndeployments; i++) {
        const sllmp_deployment_t *d = &c->deployments[i];

        /* the limits sllmp_limits_attempt() reserves on it */
        if (d->rpm > 0 || d->tpm > 0 || d->max_parallel > 0) {
            sllmp_limits_t lim = {d->rpm, d->tpm, d->max_parallel, -1, 0};
            push(l, "dep", d->model_name, &lim, d->subject);
        }
    }
    for (size_t i = 0; i < c->ndeployments; i++) {
        const char *name = c->deployments[i].model_name;
        size_t first = 0;

        /* a model group (entries sharing a model_name) is one model in the report */
        while (strcmp(c->deployments[first].model_name, name) != 0) {
            first++;
        }
        if (first == i) {
            push(l, "model", name, NULL, NULL);
        }
    }
}

/* The window's start in UTC ("2026-11-21T00:00:00Z"); "" for a total window. */
static void
window_since(const sllmp_subject_usage_t *u, char *buf, size_t len)
{
    time_t t = (time_t)u->window_start_s;
    struct tm tm;

    buf[0] = '\0';
    if (u->window_period_s > 0) {
        gmtime_r(&t, &tm);
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
}

static cJSON *
as_json(const sllmp_subject_t *s, const sllmp_subject_usage_t *u)
{
    cJSON *o = cJSON_CreateObject();
    char since[32];

    window_since(u, since, sizeof(since));
    cJSON_AddStringToObject(o, "subject", s->id);
    cJSON_AddStringToObject(o, "window", sllmp_period_name(u->window_period_s));
    if (*since) {
        cJSON_AddStringToObject(o, "since", since);
    }
    cJSON_AddNumberToObject(o, "spent_usd", (double)u->spent_nano / SLLMP_NANO_PER_USD);
    cJSON_AddNumberToObject(o, "requests", (double)u->requests);
    cJSON_AddNumberToObject(o, "tokens_in", (double)u->tokens_in);
    cJSON_AddNumberToObject(o, "tokens_out", (double)u->tokens_out);
    if (s->lim.budget_nano >= 0) {
        cJSON_AddNumberToObject(o, "budget_usd", (double)s->lim.budget_nano / SLLMP_NANO_PER_USD);
        cJSON_AddNumberToObject(o, "reserved_usd", (double)u->reserved_nano / SLLMP_NANO_PER_USD);
    }
    if (u->requests_1m >= 0) {
        cJSON_AddNumberToObject(o, "requests_last_minute", (double)u->requests_1m);
        cJSON_AddNumberToObject(o, "rpm", (double)s->lim.rpm);
    }
    if (u->tokens_1m >= 0) {
        cJSON_AddNumberToObject(o, "tokens_last_minute", (double)u->tokens_1m);
        cJSON_AddNumberToObject(o, "tpm", (double)s->lim.tpm);
    }
    if (u->in_flight >= 0) {
        cJSON_AddNumberToObject(o, "in_flight", (double)u->in_flight);
        if (s->lim.parallel > 0) {
            cJSON_AddNumberToObject(o, "max_parallel", (double)s->lim.parallel);
        }
    }
    return o;
}

static void
as_text(FILE *out, const sllmp_subject_t *s, const sllmp_subject_usage_t *u)
{
    char since[40];

    window_since(u, since, sizeof(since));
    fprintf(out, "%-32s %s%s%s: requests %lld, spent $%.6f, tokens %lld in / %lld out", s->id,
            sllmp_period_name(u->window_period_s), *since ? " since " : "", since,
            (long long)u->requests, (double)u->spent_nano / SLLMP_NANO_PER_USD,
            (long long)u->tokens_in, (long long)u->tokens_out);
    if (s->lim.budget_nano >= 0) {
        fprintf(out, ", budget $%g (reserved $%.6f)",
                (double)s->lim.budget_nano / SLLMP_NANO_PER_USD,
                (double)u->reserved_nano / SLLMP_NANO_PER_USD);
    }
    if (u->requests_1m >= 0) {
        fprintf(out, "; last minute %lld/%ld requests", (long long)u->requests_1m, s->lim.rpm);
    }
    if (u->tokens_1m >= 0) {
        fprintf(out, "; last minute %lld/%ld tokens", (long long)u->tokens_1m, s->lim.tpm);
    }
    if (u->in_flight >= 0) {
        fprintf(out, "; in flight %lld", (long long)u->in_flight);
        if (s->lim.parallel > 0) {
            fprintf(out, "/%ld", s->lim.parallel);
        }
    }
    fputc('\n', out);
}

int
sllmp_usage_report(const sllmp_conf_t *c, int json, FILE *out, FILE *err)
{
    char msg[4200];
    sllmp_store_t *st;
    list_t l = {NULL, 0, 0};
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    int rc = 0;

    /* a report reads: it never creates the local file (nor a root-owned one the pool then
     * cannot open) */
    if (sllmp_store_local_path(c, msg, sizeof(msg)) == 0 && access(msg, F_OK) < 0) {
        fprintf(err,
                "sllmp usage: no limits file at %s (set SLLMP_RUNDIR to the pool's runtime "
                "directory, or sllmp.limits.local_file)\n",
                msg);
        cJSON_Delete(arr);
        return 1;
    }
    /* nor initialises again one of another version, which would wipe what the pool counts */
    if (sllmp_store_local_path(c, msg, sizeof(msg)) == 0) {
        char path[sizeof(msg)];

        memcpy(path, msg, sizeof(path));
        st = sllmp_store_local_attach(path, msg, sizeof(msg));
    } else {
        st = sllmp_store_open(c, msg, sizeof(msg));
    }
    if (st == NULL) {
        fprintf(err, "sllmp usage: %s\n", msg);
        cJSON_Delete(arr);
        return 1;
    }
    collect(c, st, &l);
    for (size_t i = 0; i < l.n; i++) {
        sllmp_subject_usage_t u;

        if (st->ops->usage(st, &l.s[i], &u) < 0) {
            fprintf(err, "sllmp usage: the %s store cannot be read\n", st->ops->name);
            rc = 1;
            break;
        }
        if (json) {
            cJSON_AddItemToArray(arr, as_json(&l.s[i], &u));
        } else {
            as_text(out, &l.s[i], &u);
        }
    }
    if (json && rc == 0) {
        char *text = cJSON_Print(arr);

        fprintf(out, "%s\n", text);
        cJSON_free(text);
    }
    cJSON_Delete(arr);
    free(l.s);
    st->ops->close(st);
    return rc;
}
