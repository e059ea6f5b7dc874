/*
 * build/sllmp: the command-line tool.
 *
 *   sllmp check [CONFIG]   validate a config (default: $SLLMP_CONFIG, else the embedded one)
 *                          and print what was understood; exit 1 with file:line:column if bad
 *   sllmp key new [NAME]   print a fresh virtual key, once, with the `keys:` entry to paste
 *   sllmp usage [--json] [CONFIG]
 *                          spend and requests per key, team, user, deployment and model in
 *                          the current windows, from the config's limit store
 *   sllmp upload [--config FILE] [--dry-run] [--max-time SECONDS] [--quiet] [--limit N]
 *                          send the trace spool to Langfuse (for cron; see deploy/cron/)
 *   sllmp spool [CONFIG]   the trace spool: records waiting, set aside, written and dropped
 *   sllmp version
 */
#include "sllmp/conf.h"
#include "sllmp/limits.h"
#include "sllmp/spool.h"
#include "sllmp/upload.h"
#include "sllmp/util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
usage(FILE *out)
{
    fprintf(out, "usage: sllmp <command> [args]\n\n"
                 "commands:\n"
                 "  check [CONFIG]   validate a configuration and print what was understood\n"
                 "                   (default: $SLLMP_CONFIG, else the built-in default)\n"
                 "  key new [NAME]   print a fresh virtual key (once) and its `keys:` entry;\n"
                 "                   only its SHA-256 goes in the config\n"
                 "  usage [--json] [CONFIG]\n"
                 "                   spend and requests per key, team, user, deployment and\n"
                 "                   model in the current windows (Redis or the local file)\n"
                 "  upload [--config FILE] [--dry-run] [--max-time SECONDS] [--quiet]\n"
                 "         [--limit N]\n"
                 "                   send the trace spool to Langfuse, deleting what it accepted\n"
                 "                   (for cron: exit 0 all sent, 1 records left, 3 keys rejected)\n"
                 "  spool [CONFIG]   the trace spool: records waiting and set aside (failed/),\n"
                 "                   written and dropped (quota full) since it was created\n"
                 "  version          print the version\n");
    return out == stderr ? 2 : 0;
}

/* The config at path, else $SLLMP_CONFIG, else the embedded one; NULL (reported) when bad. */
static sllmp_conf_t *
load(const char *path)
{
    char *err = NULL;
    sllmp_conf_t *c;

    if (path == NULL) {
        path = getenv("SLLMP_CONFIG");
    }
    c = path && *path ? sllmp_conf_load(path, NULL, 0, &err) : sllmp_conf_load_embedded(&err);
    if (c == NULL) {
        fprintf(stderr, "%s\n", err);
        free(err);
    }
    return c;
}

static int
usage_cmd(int argc, char **argv)
{
    int json = argc > 0 && strcmp(argv[0], "--json") == 0;
    sllmp_conf_t *c;
    int rc;

    if (argc - json > 1) {
        return usage(stderr);
    }
    c = load(argc - json == 1 ? argv[json] : NULL);
    if (c == NULL) {
        return 1;
    }
    rc = sllmp_usage_report(c, json, stdout, stderr);
    sllmp_conf_unref(c);
    return rc;
}

/* Files of dir ending in .json. */
static long
count_json(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    long n = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        n += e->d_name[0] != '.' && len > 5 && strcmp(e->d_name + len - 5, ".json") == 0;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static int
spool_cmd(const char *path)
{
    sllmp_conf_t *c = load(path);
    sllmp_spool_stats_t st;
    char *newdir, *failed;

    if (c == NULL) {
        return 1;
    }
    newdir = sllmp_xasprintf("%s/new", c->spool_dir);
    failed = sllmp_xasprintf("%s/failed", c->spool_dir);
    if (sllmp_spool_stats(c->spool_dir, &st) < 0) {
        printf("spool: %s (no record written yet)\n", c->spool_dir);
    } else {
        printf("spool: %s\n", c->spool_dir);
        printf("waiting: %ld records (%.1f of %ld MB)\n", count_json(newdir),
               (double)st.bytes / (1024.0 * 1024.0), c->spool_max_mb);
        printf("failed: %ld records set aside, reasons beside them in %s\n", count_json(failed),
               failed);
        printf("written: %lld, dropped: %lld (quota full or a write failed)\n",
               (long long)st.written, (long long)st.dropped);
    }
    free(newdir);
    free(failed);
    sllmp_conf_unref(c);
    return 0;
}

static int
upload_cmd(int argc, char **argv)
{
    sllmp_upload_opts_t o;
    sllmp_conf_t *c;
    int rc = sllmp_upload_args(&o, argc, argv);

    if (rc >= 0) {
        return rc;
    }
    c = load(o.config);
    if (c == NULL) {
        return SLLMP_UPLOAD_USAGE;
    }
    rc = sllmp_upload_run(c, &o);
    sllmp_conf_unref(c);
    return rc;
}

static int
check(const char *path)
{
    sllmp_conf_t *c = load(path);

    if (c == NULL) {
        return 1;
    }
    sllmp_conf_describe(c, stdout);
    printf("ok\n");
    sllmp_conf_unref(c);
    return 0;
}

static int
key_new(const char *name)
{
    char hex[49], key[64], digest[65];
    unsigned char sha[32];

    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.')) {
            fprintf(stderr, "sllmp key new: a name is letters, digits, '-', '_' and '.'\n");
            return 2;
        }
    }
    sllmp_random_hex(hex, 24);
    snprintf(key, sizeof(key), "sk-sllmp-%s", hex);
    sllmp_sha256(key, strlen(key), sha);
    for (int i = 0; i < 32; i++) {
        snprintf(digest + 2 * i, 3, "%02x", sha[i]);
    }
    printf("key: %s\n"
           "(shown once: give it to its user; the gateway keeps only its SHA-256)\n\n"
           "# paste under `keys:` in the config\n"
           "  - name: %s\n"
           "    key_sha256: %s\n"
           "    # user: alice\n"
           "    # team: research\n"
           "    # models: [gpt-4o-mini]\n"
           "    # expires: 2027-12-31\n",
           key, name, digest);
    explicit_bzero(key, sizeof(key));
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        return usage(stderr);
    }
    if (strcmp(argv[1], "check") == 0 && argc <= 3) {
        return check(argc == 3 ? argv[2] : NULL);
    }
    if (strcmp(argv[1], "key") == 0 && argc >= 3 && strcmp(argv[2], "new") == 0 && argc <= 4) {
        return key_new(argc == 4 ? argv[3] : "my-key");
    }
    if (strcmp(argv[1], "usage") == 0) {
        return usage_cmd(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "spool") == 0 && argc <= 3) {
        return spool_cmd(argc == 3 ? argv[2] : NULL);
    }
    if (strcmp(argv[1], "upload") == 0) {
        return upload_cmd(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("sllmp " SLLMP_VERSION "\n");
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        return usage(stdout);
    }
    return usage(stderr);
}
