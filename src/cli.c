/*
 * build/sllmp: the command-line tool.
 *
 *   sllmp check [CONFIG]   validate a config (default: $SLLMP_CONFIG, else the embedded one)
 *                          and print what was understood; exit 1 with file:line:column if bad
 *   sllmp version
 */
#include "sllmp/conf.h"

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
                 "  version          print the version\n");
    return out == stderr ? 2 : 0;
}

static int
check(const char *path)
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
        return 1;
    }
    sllmp_conf_describe(c, stdout);
    printf("ok\n");
    sllmp_conf_unref(c);
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
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("sllmp 0.1.0\n");
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        return usage(stdout);
    }
    return usage(stderr);
}
