/*
 * The config loader on any YAML text: either a config or one error, never both, never a crash
 * or a leak. An error and each warning name the file first ("fuzz.yaml: ..."), and when they
 * have a position it is "fuzz.yaml:LINE:COL: " with both from 1. A config is consistent: each
 * deployment is found by its name and belongs to its group, and it describes itself.
 *
 * Hermetic: the environment is emptied once and holds only the variables set here, so
 * os.environ/NAME and ${NAME} resolve the same on every machine; and the YAML is said to be in
 * a fresh directory holding only inc.yaml, the one file an `include:` may reach (inputs that
 * could name a path elsewhere, with a '/' or an escape, are skipped).
 */
#include "fuzz.h"
#include "sllmp/conf.h"

static char path[64], inc[64]; /* DIR/fuzz.yaml (never written) and DIR/inc.yaml */

/* "fuzz.yaml: ..." or "fuzz.yaml:LINE:COL: ..." with LINE and COL from 1 (or inc.yaml's). */
static int
well_placed(const char *msg)
{
    const char *p;
    char *end;
    unsigned long line, col;

    if (msg != NULL && strncmp(msg, inc, strlen(inc)) == 0 && msg[strlen(inc)] == ':') {
        p = msg + strlen(inc) + 1;
    } else if (msg != NULL && strncmp(msg, path, strlen(path)) == 0 && msg[strlen(path)] == ':') {
        p = msg + strlen(path) + 1;
    } else {
        return 0;
    }
    if (*p == ' ') {
        return 1;
    }
    line = strtoul(p, &end, 10);
    if (end == p || *end != ':' || line < 1) {
        return 0;
    }
    p = end + 1;
    col = strtoul(p, &end, 10);
    return end != p && col >= 1 && end[0] == ':' && end[1] == ' ';
}

/*
 * glibc's regcomp() copies the tree under each `+` and `{n,m}` (a+ is a a*), so patterns such as
 * a+++...+ or ((a{1,99}){1,99}){1,99} take exponential memory. sllmp.langfuse.redact compiles
 * the operator's patterns as given (not changed, reported): inputs that could spell such a
 * pattern, with "redact" or an escape that could write it, are skipped. At most 6 `+` (or
 * escapes) and 2 bounds of one digit each stay: 9 * 9 * 2^6 copies at worst.
 */
static int
regex_bomb(const uint8_t *data, size_t size)
{
    int plus = 0, bounds = 0;

    if (memmem(data, size, "redact", 6) == NULL && memchr(data, '\\', size) == NULL) {
        return 0;
    }
    for (size_t i = 0; i < size; i++) {
        plus += data[i] == '+' || data[i] == '\\';
        if (data[i] == '{' || data[i] == ',') {
            size_t digits = 0;

            while (i + 1 + digits < size && data[i + 1 + digits] >= '0' &&
                   data[i + 1 + digits] <= '9') {
                digits++;
            }
            bounds += data[i] == '{' && (digits > 0 || (i + 1 < size && data[i + 1] == ','));
            if (digits > 1) {
                return 1;
            }
        }
    }
    return plus > 6 || bounds > 2;
}

/* An input whose `include:` could name a file outside the working directory. */
static int
includes_elsewhere(const uint8_t *data, size_t size)
{
    return memmem(data, size, "include", 7) != NULL &&
           (memchr(data, '/', size) != NULL || memchr(data, '\\', size) != NULL);
}

static void
cleanup(void)
{
    char *slash = strrchr(inc, '/');

    remove(inc);
    *slash = '\0';
    remove(inc);
}

static void
init(void)
{
    char dir[] = "/tmp/sllmp-fuzz-conf-XXXXXX";
    FILE *f;

    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(path, sizeof(path), "%s/fuzz.yaml", dir);
    snprintf(inc, sizeof(inc), "%s/inc.yaml", dir);
    if ((f = fopen(inc, "w")) == NULL) {
        abort();
    }
    fputs("model_list:\n  - model_name: inc\n    litellm_params: {model: mock/echo, rpm: 5}\n"
          "keys:\n  - {name: inc, key: os.environ/FUZZ_SECRET}\n"
          "general_settings: {master_key: os.environ/FUZZ_SECRET}\n"
          "router_settings: {fallbacks: [{inc: [other]}]}\n",
          f);
    fclose(f);
    atexit(cleanup);
    clearenv();
    setenv("OPENAI_API_KEY", "sk-fuzz-env-openai", 1);
    setenv("FUZZ_SECRET", "fuzz-secret-value", 1);
    setenv("AWS_REGION", "us-east-1", 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    static FILE *devnull;
    static char unset;
    char *errmsg = &unset; /* must be set either way */
    sllmp_conf_t *c;

    if (!inited) {
        init();
        devnull = fopen("/dev/null", "w");
        inited = 1;
    }
    if (regex_bomb(data, size) || includes_elsewhere(data, size)) {
        return 0;
    }
    fuzz_quiet();
    c = sllmp_conf_load(path, (const char *)data, size, &errmsg);
    if (c == NULL) {
        fuzz_check(errmsg != NULL && errmsg != &unset);
        fuzz_check(well_placed(errmsg));
        free(errmsg);
        return 0;
    }
    fuzz_check(errmsg == NULL);
    fuzz_check(c->refs == 1);
    fuzz_check(c->path != NULL && strcmp(c->path, path) == 0);
    for (size_t i = 0; i < c->nwarnings; i++) {
        fuzz_check(well_placed(c->warnings[i]));
    }
    for (size_t i = 0; i < c->ndeployments; i++) {
        const sllmp_deployment_t *d = &c->deployments[i], *group[64];
        size_t n;
        int member = 0;

        fuzz_check(d->model_name != NULL && d->model != NULL && d->provider_name != NULL);
        fuzz_check(sllmp_conf_find(c, d->model_name, strlen(d->model_name)) != NULL);
        n = sllmp_conf_group(c, d->model_name, group, 64);
        for (size_t k = 0; k < n; k++) {
            member |= group[k] == d;
        }
        fuzz_check(member || n == 64);
        (void)sllmp_conf_fallback(c, SLLMP_FB_GENERIC, d->model_name);
    }
    for (size_t i = 0; i < c->nkeys; i++) {
        for (size_t k = 0; k < c->nkeys && k < 4; k++) {
            (void)sllmp_key_allows(&c->keys[i], c->keys[k].name);
        }
        (void)sllmp_capture_policy(c, &c->keys[i], c->ndeployments ? &c->deployments[0] : NULL);
    }
    (void)sllmp_conf_user(c, "someone");
    if (devnull != NULL) {
        sllmp_conf_describe(c, devnull);
    }
    sllmp_conf_unref(c);
    return 0;
}
