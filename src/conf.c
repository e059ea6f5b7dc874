/*
 * YAML configuration (see include/sllmp/conf.h).
 *
 * The file is parsed with libyaml's document API, so every node keeps its line and column and
 * every message can name them. The loader walks the tree once, filling a fresh sllmp_conf_t;
 * the first error stops it and the half-built object is thrown away, so a config is either
 * whole or absent.
 *
 * Secrets: `os.environ/NAME` (LiteLLM's spelling) and `${NAME}` are expanded from the process
 * environment, then from the file's own `environment_variables:` map (as LiteLLM does). A
 * deployment whose key names an unset variable is left out with a warning, so the default
 * config can list OpenAI models that appear only when OPENAI_API_KEY is set.
 *
 * `include:` (LiteLLM's) names more files whose top-level keys join the main file's before it
 * is read: their nodes are copied into the main document, and a table of node ids says which
 * file each came from, so every message names the file a value is written in.
 */
#include "sllmp/conf.h"
#include "sllmp/arena.h"
#include "sllmp/gauth.h"
#include "sllmp/route.h"
#include "sllmp/upstream.h"
#include "sllmp/buf.h"
#include "sllmp/log.h"
#include "sllmp/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <yaml.h>

#define MAX_CONF_BYTES (16 * 1024 * 1024)
#define SLLMP_ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@/-"

/* The nodes from id `first` on (up to the next span's) come from the conf's files[file]. */
typedef struct {
    int first;
    size_t file;
} span_t;

typedef struct {
    yaml_document_t *doc;
    sllmp_conf_t *c;
    span_t *spans; /* ascending first: the main file's nodes, then each included file's */
    size_t nspans;
    char *err;                                     /* the first error, "file:line:col: msg" */
    yaml_node_t *envvars;                          /* environment_variables: mapping, or NULL */
    int capture_set;                               /* sllmp.langfuse.capture was given */
    int lf_host_set, lf_public_set, lf_secret_set; /* sllmp.langfuse.host, ... were given */
    int logging_off;                               /* litellm_settings.turn_off_message_logging */
    int verbose;                                   /* LiteLLM's set_verbose: true */
    int log_level_set;                             /* sllmp.log_level was given */
    yaml_node_t *fallbacks[SLLMP_FB_NKINDS];       /* read once model_list is known */
    unsigned router_given;                         /* router_common keys router_settings gave */
    yaml_node_t *aliases;                          /* router_settings.model_group_alias, the same */
    yaml_node_t *default_fallbacks;                /* default_fallbacks: the generic list's "*" */
    yaml_node_t *rs_redis[4];  /* router_settings.redis_host, _port, _password, _url */
    long default_parallel;     /* router_settings.default_max_parallel_requests; 0: none */
    struct cJSON *rdefaults;   /* router_settings.default_litellm_params' request defaults */
    yaml_node_t *group_policy; /* router_settings.model_group_retry_policy, read at the end */
    int body_set;              /* sllmp.max_body_bytes was given */
    long litellm_body;         /* general_settings.max_request_size_mb in bytes; 0: not given */
    yaml_node_t *cache_on;     /* litellm_settings.cache, read at the end (cache_settings()) */
    yaml_node_t *cache_params; /* litellm_settings.cache_params, the same */
} loader_t;

/* ---------------------------------------------------------------- messages */

/* The index in the conf's files of the file node n was read from (0, the main one, for NULL). */
static size_t
file_of(const loader_t *L, const yaml_node_t *n)
{
    int id;

    if (n == NULL || n < L->doc->nodes.start || n >= L->doc->nodes.top) {
        return 0;
    }
    id = (int)(n - L->doc->nodes.start) + 1;
    for (size_t i = L->nspans; i-- > 0;) {
        if (id >= L->spans[i].first) {
            return L->spans[i].file;
        }
    }
    return 0;
}

/* "file:line:col" of node n, into buf. */
static const char *
locate(const loader_t *L, const yaml_node_t *n, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%zu:%zu", L->c->files[file_of(L, n)].path, n->start_mark.line + 1,
             n->start_mark.column + 1);
    return buf;
}

/* Where an earlier entry (files[file], line) is, said from node n: "line 7" in n's own file,
 * else "models.yaml:7". Into buf. */
static const char *
earlier(const loader_t *L, const yaml_node_t *n, int file, int line, char *buf, size_t size)
{
    if ((size_t)file == file_of(L, n)) {
        snprintf(buf, size, "line %d", line);
    } else {
        snprintf(buf, size, "%s:%d", L->c->files[file].path, line);
    }
    return buf;
}

__attribute__((format(printf, 3, 0))) static char *
vformat(const loader_t *L, const yaml_node_t *n, const char *fmt, va_list ap)
{
    char msg[1024];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n == NULL) {
        return sllmp_xasprintf("%s: %s", L->c->files[0].path, msg);
    }
    return sllmp_xasprintf("%s:%zu:%zu: %s", L->c->files[file_of(L, n)].path,
                           n->start_mark.line + 1, n->start_mark.column + 1, msg);
}

static int SLLMP_PRINTF(3, 4) fail(loader_t *L, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;

    if (L->err == NULL) {
        va_start(ap, fmt);
        L->err = vformat(L, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void SLLMP_PRINTF(3, 4) warn(loader_t *L, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    sllmp_conf_t *c = L->c;

    va_start(ap, fmt);
    c->warnings = sllmp_xrealloc(c->warnings, (c->nwarnings + 1) * sizeof(char *));
    c->warnings[c->nwarnings++] = vformat(L, n, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- node access */

static yaml_node_t *
node(loader_t *L, int id)
{
    return yaml_document_get_node(L->doc, id);
}

static const char *
scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int
is_null(const yaml_node_t *n)
{
    const char *s = scalar(n);

    if (s == NULL || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return 0;
    }
    return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static const char *
kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

static int
want(loader_t *L, const yaml_node_t *n, yaml_node_type_t t, const char *what)
{
    if (n->type != t) {
        return fail(L, n, "%s must be %s, not %s", what,
                    t == YAML_MAPPING_NODE    ? "a mapping"
                    : t == YAML_SEQUENCE_NODE ? "a list"
                                              : "a scalar",
                    kind(n));
    }
    return 0;
}

/* Iterates a mapping: for each pair calls fn(L, key, value, ud); stops at the first error. */
typedef int pair_f(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud);

static int
each_pair(loader_t *L, yaml_node_t *map, pair_f *fn, void *ud)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(L, p->key);
        yaml_node_t *v = node(L, p->value);
        const char *key = scalar(k);
        const yaml_node_pair_t *q;

        if (key == NULL) {
            return fail(L, k, "mapping keys must be scalars");
        }
        /* A key given again: its last value counts, as with LiteLLM's YAML loader. The earlier
         * ones are skipped, not read: the handlers set their fields, they do not replace them. */
        for (q = p + 1; q < map->data.mapping.pairs.top; q++) {
            const char *later = scalar(node(L, q->key));

            if (later != NULL && strcmp(later, key) == 0) {
                break;
            }
        }
        if (q < map->data.mapping.pairs.top) {
            warn(L, k, "%s is given again below: this one is ignored", key);
            continue;
        }
        if (fn(L, key, k, v, ud) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- merge keys */

/*
 * YAML 1.1 merge keys, which PyYAML (and so LiteLLM) applies: in a mapping, `<<: *base` (or
 * `<<: [*a, *b]`) adds the pairs of those mappings whose keys the mapping does not give itself,
 * the first source winning over the later ones. Done once on the whole document before it is
 * read, so every reader of a mapping sees the merged pairs and no `<<`. The added pairs share
 * the sources' nodes, so messages point at the lines where the values are written.
 */

#define MERGE_DEPTH 32 /* sources of sources... and the guard against an alias to itself */

static int
is_merge_key(const yaml_node_t *k)
{
    return k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           strcmp((const char *)k->data.scalar.value, "<<") == 0;
}

static int
has_key(loader_t *L, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = node(L, p->key);

        if (!is_merge_key(k) && scalar(k) != NULL && strcmp(scalar(k), key) == 0) {
            return 1;
        }
    }
    return 0;
}

static int merge_mapping(loader_t *L, int id, int depth);

/* Appends to mapping id the pairs of the mapping src that it lacks. */
static int
merge_from(loader_t *L, int id, int src, int depth)
{
    yaml_node_t *from = node(L, src);
    size_t n;

    if (from->type != YAML_MAPPING_NODE) {
        return fail(L, from, "a merge (<<) takes a mapping or a list of mappings, not %s",
                    kind(from));
    }
    if (merge_mapping(L, src, depth + 1) < 0) {
        return -1;
    }
    from = node(L, src);
    n = (size_t)(from->data.mapping.pairs.top - from->data.mapping.pairs.start);
    for (size_t i = 0; i < n; i++) {
        /* the document's arrays move when they grow: take the pointers anew every time */
        yaml_node_pair_t pair = node(L, src)->data.mapping.pairs.start[i];
        const char *key = scalar(node(L, pair.key));

        if (key != NULL && !has_key(L, node(L, id), key) &&
            !yaml_document_append_mapping_pair(L->doc, id, pair.key, pair.value)) {
            return fail(L, node(L, id), "out of memory merging mappings");
        }
    }
    return 0;
}

/* Resolves the merge keys of mapping id (and of the mappings they name), in place. */
static int
merge_mapping(loader_t *L, int id, int depth)
{
    yaml_node_t *map = node(L, id);
    size_t n, kept = 0;
    int *srcs = NULL, nsrcs = 0, rc = 0;

    if (depth > MERGE_DEPTH) {
        return fail(L, map, "merges (<<) nested more than %d deep, or a mapping merged into itself",
                    MERGE_DEPTH);
    }
    /*
     * Take the << pairs out first, their sources in the order they win (merge_from adds only
     * what is missing): as PyYAML, within one `<<: [*a, *b]` the first, but of two << keys the
     * later one.
     */
    n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t pair = map->data.mapping.pairs.start[i];
        yaml_node_t *v = node(L, pair.value);
        const yaml_node_item_t *items;
        int k;

        if (!is_merge_key(node(L, pair.key))) {
            map->data.mapping.pairs.start[kept++] = pair;
            continue;
        }
        if (v->type == YAML_SEQUENCE_NODE) {
            items = v->data.sequence.items.start;
            k = (int)(v->data.sequence.items.top - items);
        } else {
            items = &pair.value;
            k = 1;
        }
        srcs = sllmp_xrealloc(srcs, (size_t)(nsrcs + k + 1) * sizeof(int));
        memmove(srcs + k, srcs, (size_t)nsrcs * sizeof(int));
        for (int j = 0; j < k; j++) {
            srcs[j] = items[j];
        }
        nsrcs += k;
    }
    map->data.mapping.pairs.top = map->data.mapping.pairs.start + kept;
    for (int i = 0; i < nsrcs && rc == 0; i++) {
        rc = merge_from(L, id, srcs[i], depth);
    }
    free(srcs);
    return rc;
}

/* Resolves the merge keys of the mappings from node id `from` on. */
static int
merge_keys(loader_t *L, int from)
{
    int nodes = (int)(L->doc->nodes.top - L->doc->nodes.start);

    for (int id = from; id <= nodes; id++) { /* node ids start at 1 */
        if (node(L, id)->type == YAML_MAPPING_NODE && merge_mapping(L, id, 0) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- files and include */

/* Adds a file to a list, path taken: its stat when st is not NULL, else zeros. Its index. */
static size_t
add_file(sllmp_conf_file_t **files, size_t *n, char *path, const struct stat *st)
{
    sllmp_conf_file_t *f;

    *files = sllmp_xrealloc(*files, (*n + 1) * sizeof(**files));
    f = &(*files)[*n];
    memset(f, 0, sizeof(*f));
    f->path = path;
    if (st != NULL) {
        f->dev = st->st_dev;
        f->ino = st->st_ino;
        f->mtime = st->st_mtim;
        f->ctime = st->st_ctim;
        f->size = st->st_size;
    }
    return (*n)++;
}

static void
files_free(sllmp_conf_file_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].path);
    }
    free(f);
}

/*
 * The text of path, a regular file of at most MAX_CONF_BYTES (NUL-terminated, *len bytes), with
 * its stat in st; or NULL with *why (malloc'd) and st as far as it could be had (zeros: none).
 */
static char *
slurp(const char *path, struct stat *st, size_t *len, char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO named: no wait */
    char *buf;
    size_t got = 0;

    memset(st, 0, sizeof(*st));
    if (fd < 0) {
        int err = errno;

        if (stat(path, st) < 0) {
            memset(st, 0, sizeof(*st)); /* nothing there: a file appearing is a change */
        }
        *why = sllmp_xasprintf("cannot open: %s", strerror(err));
        return NULL;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_size > MAX_CONF_BYTES) {
        *why = sllmp_xstrdup("not a regular file of at most 16 MiB");
        close(fd);
        return NULL;
    }
    buf = sllmp_xmalloc((size_t)st->st_size + 1);
    while (got < (size_t)st->st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st->st_size - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;
}

static char *
yaml_error(const char *file, const yaml_parser_t *parser)
{
    return sllmp_xasprintf("%s:%zu:%zu: YAML error: %s%s%s", file, parser->problem_mark.line + 1,
                           parser->problem_mark.column + 1,
                           parser->problem ? parser->problem : "unknown",
                           parser->context ? " " : "", parser->context ? parser->context : "");
}

/*
 * Copies the nodes of inc (read from the conf's files[file]) to the end of the document, marks
 * and all. Returns the id its root has there, 0 when inc is empty, -1 on error.
 */
static int
graft(loader_t *L, yaml_document_t *inc, size_t file)
{
    int base = (int)(L->doc->nodes.top - L->doc->nodes.start);
    int n = (int)(inc->nodes.top - inc->nodes.start);

    if (n == 0) {
        return 0;
    }
    L->spans = sllmp_xrealloc(L->spans, (L->nspans + 1) * sizeof(*L->spans));
    L->spans[L->nspans++] = (span_t){base + 1, file};
    /* the nodes first, in order, so that node i of inc is base + i here ... */
    for (int i = 0; i < n; i++) {
        const yaml_node_t *s = &inc->nodes.start[i];
        int id = 0;

        if (s->type == YAML_SCALAR_NODE) {
            id = yaml_document_add_scalar(L->doc, s->tag, s->data.scalar.value,
                                          (int)s->data.scalar.length, s->data.scalar.style);
        } else if (s->type == YAML_SEQUENCE_NODE) {
            id = yaml_document_add_sequence(L->doc, s->tag, s->data.sequence.style);
        } else if (s->type == YAML_MAPPING_NODE) {
            id = yaml_document_add_mapping(L->doc, s->tag, s->data.mapping.style);
        }
        if (id != base + i + 1) {
            return fail(L, NULL, "out of memory reading %s", L->c->files[file].path);
        }
        node(L, id)->start_mark = s->start_mark;
        node(L, id)->end_mark = s->end_mark;
    }
    /* ... then what the collections hold, by those ids */
    for (int i = 0; i < n; i++) {
        const yaml_node_t *s = &inc->nodes.start[i];
        int ok = 1;

        if (s->type == YAML_SEQUENCE_NODE) {
            for (const yaml_node_item_t *it = s->data.sequence.items.start;
                 ok && it < s->data.sequence.items.top; it++) {
                ok = yaml_document_append_sequence_item(L->doc, base + i + 1, base + *it);
            }
        } else if (s->type == YAML_MAPPING_NODE) {
            for (const yaml_node_pair_t *p = s->data.mapping.pairs.start;
                 ok && p < s->data.mapping.pairs.top; p++) {
                ok = yaml_document_append_mapping_pair(L->doc, base + i + 1, base + p->key,
                                                       base + p->value);
            }
        }
        if (!ok) {
            return fail(L, NULL, "out of memory reading %s", L->c->files[file].path);
        }
    }
    return base + 1;
}

/*
 * Reads the file the include entry `item` names and copies it into the document: the id of its
 * root there, 0 when it holds nothing, -1 on error (with the entry's place when the file cannot
 * be read, else the place in the file).
 */
static int
read_include(loader_t *L, int item)
{
    yaml_node_t *n = node(L, item);
    const char *rel = scalar(n), *main = L->c->files[0].path, *slash = strrchr(main, '/');
    const char *path;
    char *text, *why = NULL;
    struct stat st;
    size_t len = 0, idx;
    yaml_parser_t parser;
    yaml_document_t inc;
    int root;

    if (rel == NULL || is_null(n) || *rel == '\0') {
        return fail(L, n, "an include entry is the path of a YAML file, not %s",
                    rel == NULL ? kind(n) : "an empty value");
    }
    /* LiteLLM's os.path.join(os.path.dirname(config), entry): an absolute entry as it is */
    idx = add_file(&L->c->files, &L->c->nfiles,
                   rel[0] == '/' || slash == NULL
                       ? sllmp_xstrdup(rel)
                       : sllmp_xasprintf("%.*s/%s", (int)(slash - main), main, rel),
                   NULL);
    path = L->c->files[idx].path;
    text = slurp(path, &st, &len, &why);
    L->c->files[idx].dev = st.st_dev; /* a missing file's zeros: a reload sees it appear */
    L->c->files[idx].ino = st.st_ino;
    L->c->files[idx].mtime = st.st_mtim;
    L->c->files[idx].ctime = st.st_ctim;
    L->c->files[idx].size = st.st_size;
    if (text == NULL) {
        fail(L, n, "the included file %s: %s", path, why);
        free(why);
        return -1;
    }
    for (size_t i = 0; i < idx; i++) {
        const sllmp_conf_file_t *f = &L->c->files[i];

        if (f->ino != 0 && f->dev == st.st_dev && f->ino == st.st_ino) {
            free(text);
            return fail(L, n, "%s is %s: each file is read once, so an include loop is refused",
                        path, i == 0 ? "the configuration itself" : "included already");
        }
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &inc)) {
        if (L->err == NULL) {
            L->err = yaml_error(path, &parser);
        }
        yaml_parser_delete(&parser);
        free(text);
        return -1;
    }
    root = graft(L, &inc, idx);
    yaml_document_delete(&inc);
    yaml_parser_delete(&parser);
    free(text);
    if (root > 0 && merge_keys(L, root) < 0) {
        return -1;
    }
    return root > 0 && is_null(node(L, root)) ? 0 : root;
}

/* Appends to the sequence todo what an `include:` value (node id v) names. */
static int
include_entries(loader_t *L, int todo, int v)
{
    yaml_node_t *n = node(L, v);
    size_t count;

    if (is_null(n)) {
        return 0;
    }
    if (n->type == YAML_SCALAR_NODE) { /* the docs' "a single file" */
        count = 1;
    } else if (n->type != YAML_SEQUENCE_NODE) {
        return fail(L, n, "include must be a file path or a list of them, not %s", kind(n));
    } else {
        count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    }
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *m = node(L, v);
        int item = m->type == YAML_SCALAR_NODE ? v : m->data.sequence.items.start[i];

        if (!yaml_document_append_sequence_item(L->doc, todo, item)) {
            return fail(L, m, "out of memory");
        }
    }
    return 0;
}

/* The index of the last pair of mapping id whose key is key, from pair `from` on; -1: none. */
static long
pair_of(loader_t *L, int id, const char *key, size_t from)
{
    const yaml_node_t *map = node(L, id);
    long at = -1;

    for (size_t i = from; map->data.mapping.pairs.start + i < map->data.mapping.pairs.top; i++) {
        const char *k = scalar(node(L, map->data.mapping.pairs.start[i].key));

        if (k != NULL && strcmp(k, key) == 0) {
            at = (long)i;
        }
    }
    return at;
}

/*
 * The top-level keys of an included file (its root, node r) into the main file's (node 1), as
 * LiteLLM's loop does: a list is appended to the list the key already has; anything else sets
 * the key, replacing what it had whole (warned: a mapping there is not merged key by key). Its
 * own `include:` entries join the list being read (todo).
 */
static int
join(loader_t *L, int r, int todo)
{
    size_t n;

    if (want(L, node(L, r), YAML_MAPPING_NODE, "an included file") < 0) {
        return -1;
    }
    n = (size_t)(node(L, r)->data.mapping.pairs.top - node(L, r)->data.mapping.pairs.start);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t pair = node(L, r)->data.mapping.pairs.start[i];
        yaml_node_t *k = node(L, pair.key), *v = node(L, pair.value), *had;
        yaml_node_pair_t *into;
        const char *key = scalar(k);
        char where[1200];
        long at;

        if (key == NULL) {
            return fail(L, k, "mapping keys must be scalars");
        }
        if (pair_of(L, r, key, i + 1) >= 0) { /* PyYAML keeps the last */
            warn(L, k, "%s is given again below: this one is ignored", key);
            continue;
        }
        if (strcmp(key, "include") == 0) {
            if (include_entries(L, todo, pair.value) < 0) {
                return -1;
            }
            continue;
        }
        at = pair_of(L, 1, key, 0);
        if (at < 0) {
            if (!yaml_document_append_mapping_pair(L->doc, 1, pair.key, pair.value)) {
                return fail(L, k, "out of memory");
            }
            continue;
        }
        into = &node(L, 1)->data.mapping.pairs.start[at];
        had = node(L, into->value);
        locate(L, node(L, into->key), where, sizeof(where));
        if (v->type == YAML_SEQUENCE_NODE && had->type == YAML_SEQUENCE_NODE) {
            size_t m = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);

            for (size_t j = 0; j < m; j++) {
                if (!yaml_document_append_sequence_item(
                        L->doc, into->value, node(L, pair.value)->data.sequence.items.start[j])) {
                    return fail(L, k, "out of memory");
                }
            }
        } else if (v->type == YAML_SEQUENCE_NODE && !is_null(had)) {
            return fail(L, k, "%s here is a list, to be appended to the %s at %s; but that is %s",
                        key, key, where, kind(had));
        } else {
            if (!is_null(had)) {
                warn(L, k,
                     "%s replaces the whole %s at %s (as in LiteLLM, an included file sets a "
                     "key anew; only lists are appended to)",
                     key, key, where);
            }
            into->value = pair.value;
        }
    }
    return 0;
}

/*
 * LiteLLM's top-level `include:` (proxy_server.py, _process_includes): a list of files (or one),
 * relative to the main file's directory, each a mapping whose keys are joined to the main
 * file's (join()) in the order listed. An included file's own `include:` entries are appended
 * to that list and read in turn, as LiteLLM's loop does (relative to the main file's directory
 * too); each file is read once, so that an include of itself or a loop is refused, never
 * followed. The `include` key itself is taken out.
 */
static int
includes(loader_t *L)
{
    yaml_node_t *root = node(L, 1), *given = NULL;
    yaml_node_pair_t *pairs = root->data.mapping.pairs.start;
    size_t n = (size_t)(root->data.mapping.pairs.top - pairs), kept = 0;
    int list = 0, todo;

    for (size_t i = 0; i < n; i++) {
        const char *k = scalar(node(L, pairs[i].key));

        if (k == NULL || strcmp(k, "include") != 0) {
            pairs[kept++] = pairs[i];
            continue;
        }
        if (given != NULL) {
            warn(L, given, "include is given again below: this one is ignored");
        }
        given = node(L, pairs[i].key);
        list = pairs[i].value;
    }
    root->data.mapping.pairs.top = pairs + kept;
    if (list == 0) {
        return 0;
    }
    todo = yaml_document_add_sequence(L->doc, NULL, YAML_ANY_SEQUENCE_STYLE);
    if (todo == 0) {
        return fail(L, NULL, "out of memory");
    }
    if (include_entries(L, todo, list) < 0) {
        return -1;
    }
    for (size_t i = 0;
         node(L, todo)->data.sequence.items.start + i < node(L, todo)->data.sequence.items.top;
         i++) {
        int root_id = read_include(L, node(L, todo)->data.sequence.items.start[i]);

        if (root_id < 0 || (root_id > 0 && join(L, root_id, todo) < 0)) {
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- values */

/* Whether s is an http:// or https:// URL (what api_base and the Langfuse host must be). */
static int
is_http_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* s without the '/'s it ends in: bases are joined with "/path". */
static void
strip_slashes(char *s)
{
    for (size_t n = strlen(s); n > 0 && s[n - 1] == '/'; n--) {
        s[n - 1] = '\0';
    }
}


static const char *
env_lookup(loader_t *L, const char *name, size_t len)
{
    char buf[256];

    if (len == 0 || len >= sizeof(buf)) {
        return NULL;
    }
    memcpy(buf, name, len);
    buf[len] = '\0';
    const char *v = getenv(buf);

    if (v != NULL) {
        return v;
    }
    if (L->envvars != NULL) {
        /* a name given twice: the last one, as for every other key (each_pair) */
        for (yaml_node_pair_t *p = L->envvars->data.mapping.pairs.top;
             p-- > L->envvars->data.mapping.pairs.start;) {
            const char *k = scalar(node(L, p->key));
            const char *val = scalar(node(L, p->value));

            if (k != NULL && val != NULL && strcmp(k, buf) == 0) {
                return val;
            }
        }
    }
    return NULL;
}

/*
 * A string value with environment references expanded. Returns 0 with *out malloc'd (or NULL
 * for a YAML null), 1 when it names an unset variable (*unset = its name, malloc'd), -1 on
 * error.
 */
static int
get_string(loader_t *L, yaml_node_t *n, const char *what, char **out, char **unset)
{
    const char *s = scalar(n);

    *out = NULL;
    if (unset != NULL) {
        *unset = NULL;
    }
    if (s == NULL) {
        return fail(L, n, "%s must be a string, not %s", what, kind(n));
    }
    if (is_null(n)) {
        return 0;
    }
    if (strncmp(s, "os.environ/", 11) == 0) {
        const char *v = env_lookup(L, s + 11, strlen(s + 11));

        if (v == NULL) {
            if (unset == NULL) {
                return fail(L, n, "%s: environment variable %s is not set", what, s + 11);
            }
            *unset = sllmp_xstrdup(s + 11);
            return 1;
        }
        *out = sllmp_xstrdup(v);
        return 0;
    }
    /* ${NAME} anywhere in the string */
    sllmp_buf_t b;
    const char *p = s;

    sllmp_buf_init(&b, 0);
    sllmp_buf_append(&b, "", 0);
    while (*p) {
        const char *open = strstr(p, "${");
        const char *close = open ? strchr(open, '}') : NULL;

        if (open == NULL || close == NULL) {
            sllmp_buf_appends(&b, p);
            break;
        }
        sllmp_buf_append(&b, p, (size_t)(open - p));
        const char *v = env_lookup(L, open + 2, (size_t)(close - open - 2));

        if (v == NULL) {
            char *name = sllmp_xstrndup(open + 2, (size_t)(close - open - 2));

            sllmp_buf_free(&b);
            if (unset == NULL) {
                int rc = fail(L, n, "%s: environment variable %s is not set", what, name);

                free(name);
                return rc;
            }
            *unset = name;
            return 1;
        }
        sllmp_buf_appends(&b, v);
        p = close + 1;
    }
    *out = b.ptr;
    return 0;
}

static int
get_str_required(loader_t *L, yaml_node_t *n, const char *what, char **out)
{
    if (get_string(L, n, what, out, NULL) < 0) {
        return -1;
    }
    if (*out == NULL || **out == '\0') {
        free(*out);
        *out = NULL;
        return fail(L, n, "%s must not be empty", what);
    }
    return 0;
}

/*
 * The text of a number in *s: the scalar, quoted or not, or the variable an os.environ/NAME
 * names, as LiteLLM resolves and coerces them; NULL for a node that is not a scalar. -1 when
 * the variable is not set.
 */
static int
number_text(loader_t *L, yaml_node_t *n, const char *what, const char **s)
{
    *s = scalar(n);
    if (*s != NULL && strncmp(*s, "os.environ/", 11) == 0 &&
        (*s = env_lookup(L, *s + 11, strlen(*s + 11))) == NULL) {
        return fail(L, n, "%s: environment variable %s is not set", what, scalar(n) + 11);
    }
    return 0;
}

/* 1 when s is one number and nothing else (strtod's syntax: fractions, exponents), in *out;
 * 0 otherwise (NULL too). */
static int
whole_number(const char *s, double *out)
{
    char *end;

    if (s == NULL) {
        return 0;
    }
    *out = strtod(s, &end);
    return end != s && *end == '\0';
}

static int
get_long(loader_t *L, yaml_node_t *n, const char *what, long min, long max, long *out)
{
    const char *s;
    long v;

    if (number_text(L, n, what, &s) < 0) {
        return -1;
    }
    if (s == NULL || sllmp_parse_long(s, &v) < 0) {
        return fail(L, n, "%s must be an integer", what);
    }
    if (v < min || v > max) {
        return fail(L, n, "%s must be between %ld and %ld, not %ld", what, min, max, v);
    }
    *out = v;
    return 0;
}

static int
get_int(loader_t *L, yaml_node_t *n, const char *what, long min, long max, int *out)
{
    long v;

    if (get_long(L, n, what, min, max, &v) < 0) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A number of seconds (LiteLLM's unit; fractions allowed) as ms, at most max_ms. */
static int
get_seconds_ms(loader_t *L, yaml_node_t *n, const char *what, long max_ms, long *out)
{
    const char *s;
    double v;

    if (number_text(L, n, what, &s) < 0) {
        return -1;
    }
    if (!whole_number(s, &v) || !(v >= 0) || v * 1000.0 > (double)max_ms) {
        return fail(L, n, "%s must be a number of seconds between 0 and %ld", what, max_ms / 1000);
    }
    *out = (long)(v * 1000.0 + 0.5);
    return 0;
}

/* LiteLLM's timeout, stream_timeout, request_timeout: seconds, more than 0, at most a day. */
static int
get_timeout(loader_t *L, yaml_node_t *n, const char *what, long *out_ms)
{
    if (get_seconds_ms(L, n, what, 86400000L, out_ms) < 0) {
        return -1;
    }
    if (*out_ms < 1) {
        return fail(L, n, "%s must be at least 0.001 seconds", what);
    }
    return 0;
}

/* YAML 1.1's boolean spellings, any case (LiteLLM's docs write True): 1, 0, or -1 for none */
static int
bool_word(const char *s)
{
    if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0) {
        return 1;
    }
    if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0) {
        return 0;
    }
    return -1;
}

static int
get_bool(loader_t *L, yaml_node_t *n, const char *what, int *out)
{
    const char *s = scalar(n);
    int b = s != NULL ? bool_word(s) : -1;

    *out = b > 0;
    return b < 0 ? fail(L, n, "%s must be true or false", what) : 0;
}

/* A list, or null for an empty one: its length in *len. 0, or -1 when it is something else. */
static int
list_len(loader_t *L, yaml_node_t *n, const char *what, size_t *len)
{
    *len = 0;
    if (is_null(n)) {
        return 0;
    }
    if (want(L, n, YAML_SEQUENCE_NODE, what) < 0) {
        return -1;
    }
    *len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    return 0;
}

static int
get_str_list(loader_t *L, yaml_node_t *n, const char *what, char ***out, size_t *count)
{
    if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
        /* a single string is a list of one */
        *out = sllmp_xcalloc(1, sizeof(char *));
        *count = 1;
        return get_str_required(L, n, what, &(*out)[0]);
    }
    size_t len;

    if (list_len(L, n, what, &len) < 0) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    *out = sllmp_xcalloc(len, sizeof(char *));
    *count = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        if (get_str_required(L, node(L, *it), what, &(*out)[*count]) < 0) {
            return -1;
        }
        (*count)++;
    }
    return 0;
}

/* A list get_str_list() read, freed (and emptied). */
static void
str_list_free(char ***list, size_t *count)
{
    for (size_t i = 0; i < *count; i++) {
        free((*list)[i]);
    }
    free(*list);
    *list = NULL;
    *count = 0;
}

/* LiteLLM's tags (of a deployment, of a key): a list of strings, or one. */
static int
get_tags(loader_t *L, yaml_node_t *n, const char *what, char ***out, size_t *count)
{
    str_list_free(out, count);
    if (is_null(n)) {
        return 0;
    }
    return get_str_list(L, n, what, out, count);
}

/* ---------------------------------------------------------------- capture policy */

static const char *const capture_names[] = {"unset", "none", "metadata", "full"};

static int
get_capture(loader_t *L, yaml_node_t *v, const char *what, sllmp_capture_t *out)
{
    const char *s = scalar(v);

    for (int i = SLLMP_CAPTURE_NONE; i <= SLLMP_CAPTURE_FULL; i++) {
        if (s != NULL && strcmp(s, capture_names[i]) == 0) {
            *out = (sllmp_capture_t)i;
            return 0;
        }
    }
    /* YAML 1.1 reads a bare `none`/`full` as strings; `false`/`off` as booleans: say so */
    return fail(L, v, "%s must be full, metadata or none", what);
}

const char *
sllmp_capture_name(sllmp_capture_t cap)
{
    return capture_names[cap <= SLLMP_CAPTURE_FULL ? cap : 0];
}

sllmp_capture_t
sllmp_capture_policy(const sllmp_conf_t *c, const sllmp_key_t *k, const sllmp_deployment_t *d)
{
    sllmp_capture_t kc = k != NULL ? k->capture : SLLMP_CAPTURE_UNSET;
    sllmp_capture_t dc = d != NULL ? d->capture : SLLMP_CAPTURE_UNSET;

    if (kc != SLLMP_CAPTURE_UNSET && dc != SLLMP_CAPTURE_UNSET) {
        return kc < dc ? kc : dc;
    }
    if (kc != SLLMP_CAPTURE_UNSET || dc != SLLMP_CAPTURE_UNSET) {
        return kc != SLLMP_CAPTURE_UNSET ? kc : dc;
    }
    return c->langfuse.capture;
}

/* ---------------------------------------------------------------- model_list */


static int submap(loader_t *L, yaml_node_t *v, const char *what, pair_f *fn, void *ud);

/* LiteLLM's price overrides: USD per token, by usage bucket; then USD per image made
 * (/v1/images/generations without a token count). */
#define PER_IMAGE SLLMP_COST_PER_IMAGE
static const char *const cost_keys[SLLMP_NCOSTS] = {
    "input_cost_per_token",  "cache_read_input_token_cost",     "cache_creation_input_token_cost",
    "output_cost_per_token", "output_cost_per_reasoning_token", "output_cost_per_image",
};

typedef struct {
    sllmp_deployment_t *d;
    int disabled;
    yaml_node_t *model_node;
    yaml_node_t *model_id_node;
    double cost[SLLMP_NCOSTS]; /* < 0: not set */
    char *base_model;     /* model_info.base_model: what an Azure deployment runs, for its price */
    int api_base_set;     /* the config gave api_base: no provider key from the environment */
    yaml_node_t *headers; /* litellm_params.headers */
    yaml_node_t *extra_headers;   /* litellm_params.extra_headers: sent too, winning a name */
    yaml_node_t *organization;    /* litellm_params.organization */
    yaml_node_t *azure_ad_token;  /* litellm_params.azure_ad_token */
    yaml_node_t *custom_provider; /* litellm_params.custom_llm_provider */
    yaml_node_t *extra_body;      /* litellm_params.extra_body (in d->defaults) */
    int sigv4;                    /* Bedrock with AWS credentials: its signed headers are fixed */
    yaml_node_t *endpoints;       /* model_info.supported_endpoints */
    char *vertex_credentials;     /* litellm_params.vertex_credentials: a path or JSON; secret */
    yaml_node_t *vertex_node;
    char *vertex_project; /* litellm_params.vertex_project */
    char *vertex_location;
} dep_ud_t;

/* A cost key of model_info or litellm_params: 1 when it was one (and read), 0 when not, -1. */
static int
cost_key(loader_t *L, dep_ud_t *u, const char *key, yaml_node_t *v)
{
    for (int i = 0; i < SLLMP_NCOSTS; i++) {
        if (strcmp(key, cost_keys[i]) == 0) {
            const char *s;
            double x;

            if (number_text(L, v, key, &s) < 0) {
                return -1;
            }
            /* at most $1,000 a token: inf and the like would make every cost and budget absurd */
            if (!whole_number(s, &x) || !(x >= 0 && x <= 1000)) {
                return fail(L, v, "%s must be a number of USD per %s from 0 to 1000 (e.g. %s)", key,
                            i == PER_IMAGE ? "image" : "token",
                            i == PER_IMAGE ? "0.04" : "0.0000025");
            }
            u->cost[i] = x;
            return 1;
        }
    }
    return 0;
}

static int
model_info_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    dep_ud_t *u = ud;

    (void)k;
    if (strcmp(key, "capture") == 0) {
        return get_capture(L, v, "model_info.capture", &u->d->capture);
    }
    if (strcmp(key, "base_model") == 0) {
        free(u->base_model);
        return get_string(L, v, "model_info.base_model", &u->base_model, NULL);
    }
    if (strcmp(key, "supported_endpoints") == 0) {
        u->endpoints = v; /* read once the provider is known (responses_api) */
        return 0;
    }
    if (strcmp(key, "order") == 0) {
        /* newer LiteLLM's place for it (models added through its API); litellm_params.order,
         * read after model_info, wins as there */
        return is_null(v) ? 0 : get_long(L, v, "model_info.order", 1, 1000000L, &u->d->order);
    }
    if (strcmp(key, "max_output_tokens") == 0) {
        return is_null(v) ? 0
                          : get_long(L, v, "model_info.max_output_tokens", 1, 1000000000L,
                                     &u->d->max_output_tokens);
    }
    if (strcmp(key, "id") == 0) {
        const char *s = scalar(v);

        /* it goes out as a header: printable ASCII only */
        if (s == NULL || *s == '\0' || strlen(s) > 128 || strspn(s, SLLMP_ID_CHARS) != strlen(s)) {
            return fail(L, v, "model_info.id must be 1 to 128 of [A-Za-z0-9._:@/-]");
        }
        free(u->d->id);
        u->d->id = sllmp_xstrdup(s);
        return 0;
    }
    /* other keys (mode, max_tokens, max_input_tokens, ...) are LiteLLM's UI metadata */
    return cost_key(L, ud, key, v) < 0 ? -1 : 0;
}

/* The price table's key: "<provider>/<model>"; model_info.base_model when given (LiteLLM's
 * "azure/gpt-4o", or a bare "gpt-4o" taken as the deployment's provider's). */
static char *
price_key(const dep_ud_t *u)
{
    const sllmp_deployment_t *d = u->d;

    if (u->base_model != NULL) {
        return strchr(u->base_model, '/') != NULL
                   ? sllmp_xstrdup(u->base_model)
                   : sllmp_xasprintf("%s/%s", d->provider_name, u->base_model);
    }
    return sllmp_xasprintf("%s/%s", d->provider_name, d->model);
}

/* Second tries: an Azure deployment named after its model is priced as OpenAI's model; a
 * Vertex AI model as Google's or Anthropic's own, which Vertex's list prices are (Claude's
 * "claude-sonnet-4@20250514" as "claude-sonnet-4-20250514", else "claude-sonnet-4"). */
static int
price_fallback(const sllmp_deployment_t *d, const char *base_model, sllmp_price_t *p)
{
    const char *m = base_model != NULL ? base_model : d->model;
    const char *slash = strchr(m, '/'), *at;
    char *key;
    int rc;

    m = slash != NULL ? slash + 1 : m;
    if (d->gcp != NULL && d->provider == SLLMP_PROVIDER_ANTHROPIC) {
        at = strchr(m, '@');
        key = at != NULL ? sllmp_xasprintf("anthropic/%.*s-%s", (int)(at - m), m, at + 1)
                         : sllmp_xasprintf("anthropic/%s", m);
        rc = sllmp_price_lookup(key, p) == 0;
        free(key);
        if (!rc && at != NULL) {
            key = sllmp_xasprintf("anthropic/%.*s", (int)(at - m), m);
            rc = sllmp_price_lookup(key, p) == 0;
            free(key);
        }
        return rc;
    }
    if ((d->provider != SLLMP_PROVIDER_AZURE && d->gcp == NULL) ||
        (d->gcp != NULL && d->provider == SLLMP_PROVIDER_OPENAI)) {
        return 0; /* Vertex's partner models have Vertex's prices, under vertex_ai/ */
    }
    key = sllmp_xasprintf("%s/%s", d->gcp != NULL ? "gemini" : "openai", m);
    rc = sllmp_price_lookup(key, p) == 0;
    free(key);
    return rc;
}

/* The price of d's model (key names it in the table): the table's entry, then model_info's
 * per-token overrides (cost, < 0 unset; the per-image price is read from d->cost itself). */
static void
price_compute(const sllmp_deployment_t *d, const char *key, const char *base_model,
              const double cost[SLLMP_NCOSTS], sllmp_price_t *p)
{
    int overridden = 0;

    if (d->provider == SLLMP_PROVIDER_MOCK) {
        /* free, unless model_info prices it (cache and reasoning as input and output then) */
        *p = (sllmp_price_t){0, -1, -1, 0, -1, 1};
    } else if (sllmp_price_lookup(key, p) < 0 && !price_fallback(d, base_model, p)) {
        *p = (sllmp_price_t){0, -1, -1, 0, -1, 0};
    }
    for (int i = 0; i < PER_IMAGE; i++) {
        if (cost[i] >= 0) {
            double per_million = cost[i] * 1e6;

            overridden = 1;
            switch (i) {
            case 0:
                p->input = per_million;
                break;
            case 1:
                p->cache_read = per_million;
                break;
            case 2:
                p->cache_write = per_million;
                break;
            case 3:
                p->output = per_million;
                break;
            default:
                p->reasoning = per_million;
                break;
            }
        }
    }
    if (overridden) {
        p->known = 1;
    }
}

/*
 * Whether the deployment is sent POST /v1/responses as it is (its server's own Responses API),
 * as LiteLLM decides: openai/ and azure/ deployments do; model_info.supported_endpoints, when
 * given, decides for any OpenAI-compatible deployment ("/v1/responses" or "/responses" in it:
 * natively; not in it: through chat completions). Anthropic, Gemini, Bedrock, the mock and
 * Vertex AI's OpenAI-compatible endpoint have no Responses API: theirs is always the
 * translation.
 */
static int
responses_api(loader_t *L, dep_ud_t *u)
{
    sllmp_deployment_t *d = u->d;
    char **list = NULL;
    size_t n = 0;
    int listed = 0, rc;

    d->responses_api =
        d->provider == SLLMP_PROVIDER_AZURE ||
        (d->provider == SLLMP_PROVIDER_OPENAI && strcmp(d->provider_name, "openai") == 0);
    if (u->endpoints == NULL || is_null(u->endpoints)) {
        return 0;
    }
    rc = get_str_list(L, u->endpoints, "model_info.supported_endpoints", &list, &n);
    for (size_t i = 0; i < n; i++) {
        listed |= strcmp(list[i], "/v1/responses") == 0 || strcmp(list[i], "/responses") == 0;
        free(list[i]);
    }
    free(list);
    if (rc < 0) {
        return -1;
    }
    if (listed && ((d->provider != SLLMP_PROVIDER_OPENAI && d->provider != SLLMP_PROVIDER_AZURE) ||
                   d->gcp != NULL)) {
        warn(L, u->endpoints,
             "model '%s': %s/ has no Responses API of its own; /v1/responses is served through "
             "chat completions",
             d->model_name, d->provider_name);
        listed = 0;
    }
    d->responses_api = listed;
    return 0;
}

/* Price of a deployment: the table's entry, then the deployment's own overrides. */
static void
resolve_price(loader_t *L, dep_ud_t *u)
{
    sllmp_deployment_t *d = u->d;
    char *key = price_key(u);

    memcpy(d->cost, u->cost, sizeof(d->cost));
    /* a pattern's models are known per request: each is priced then (sllmp_deployment_for) */
    d->price_per_model = d->pattern && u->base_model == NULL && strchr(d->model, '*') != NULL;
    price_compute(d, key, u->base_model, u->cost, &d->price);
    if (!d->price.known && !d->price_per_model && d->cost[PER_IMAGE] < 0) {
        warn(L, u->model_node,
             "model '%s' (%s) has no price in conf/pricing.yaml: its cost counts "
             "as 0 (set model_info.input_cost_per_token and output_cost_per_token)",
             d->model_name, key);
    }
    free(key);
}

/* LiteLLM's drop_params (litellm_settings, or a deployment's): sllmp always drops, translating
 * for a provider, what the provider does not take, unless dropping it would change the answer
 * (then the request is a 400); false is warned about. */
static int
drop_params(loader_t *L, yaml_node_t *v, const char *what)
{
    int drop;

    if (get_bool(L, v, what, &drop) < 0) {
        return -1;
    }
    if (!drop) {
        warn(L, v,
             "%s: false is not how sllmp works: translating for a provider, it drops a "
             "parameter the provider does not take unless dropping it would change the answer "
             "(then the request is a 400)",
             what);
    }
    return 0;
}

/* The most values, and the deepest nesting, a YAML node made JSON may have: aliases can repeat
 * a node exponentially often, or put a node inside itself. */
#define YAML_JSON_MAX_NODES 10000
#define YAML_JSON_MAX_DEPTH 64

static cJSON *yaml_json(loader_t *L, yaml_node_t *n, int depth, size_t *budget);

/* LiteLLM's request parameters a deployment may give (litellm_params), with the JSON type each
 * must have: the request's own win (sllmp_dep_defaults_add). */
static const struct {
    const char *name;
    int type; /* cJSON_Number, cJSON_String, cJSON_True (a boolean), cJSON_Object; cJSON_Array:
               * a string or a list of strings (stop) */
} dep_defaults[] = {
    {"temperature", cJSON_Number},
    {"top_p", cJSON_Number},
    {"top_k", cJSON_Number},
    {"max_tokens", cJSON_Number},
    {"max_completion_tokens", cJSON_Number},
    {"seed", cJSON_Number},
    {"presence_penalty", cJSON_Number},
    {"frequency_penalty", cJSON_Number},
    {"stop", cJSON_Array},
    {"reasoning_effort", cJSON_String},
    {"service_tier", cJSON_String},
    {"verbosity", cJSON_String},
    {"response_format", cJSON_Object},
    {"logit_bias", cJSON_Object},
    {"thinking", cJSON_Object},
    {"parallel_tool_calls", cJSON_True},
    {"logprobs", cJSON_True},
    {"top_logprobs", cJSON_Number},
    {"extra_body", cJSON_Object}, /* members for an OpenAI-compatible server (vLLM's ...) */
};

/* One request default of litellm_params (1 when key is one, -1 on error, 0 when not). section
 * names where it is written, for messages: "litellm_params", or the router's defaults. */
static int
dep_default(loader_t *L, sllmp_deployment_t *d, const char *section, const char *key,
            yaml_node_t *v)
{
    size_t budget = YAML_JSON_MAX_NODES, i, n = sizeof(dep_defaults) / sizeof(dep_defaults[0]);
    cJSON *j;
    int ok;

    for (i = 0; i < n && strcmp(key, dep_defaults[i].name) != 0; i++) {
    }
    if (i == n) {
        return 0;
    }
    if (is_null(v)) {
        /* LiteLLM passes None, which sends nothing: no default (nor an earlier one) */
        cJSON_DeleteItemFromObjectCaseSensitive(d->defaults, key);
        if (d->defaults != NULL && d->defaults->child == NULL) {
            cJSON_Delete(d->defaults);
            d->defaults = NULL;
        }
        return 1;
    }
    if ((j = yaml_json(L, v, 0, &budget)) == NULL) {
        return fail(L, v, "%s.%s is nested too deep or too large", section, key);
    }
    if (cJSON_IsString(j)) {
        /* os.environ/ and ${NAME} as in any string (LiteLLM resolves os.environ/ in every
         * litellm_params value): the variable's value is sent, never its name */
        char what[96], *s;

        snprintf(what, sizeof(what), "%s.%s", section, key);
        cJSON_Delete(j);
        if (get_string(L, v, what, &s, NULL) < 0) {
            return -1;
        }
        j = cJSON_CreateString(s != NULL ? s : "");
        free(s);
    }
    switch (dep_defaults[i].type) {
    case cJSON_Number:
        if (cJSON_IsString(j)) { /* quoted, or from a variable (LiteLLM coerces) */
            double num;

            if (!whole_number(j->valuestring, &num)) {
                cJSON_Delete(j);
                return fail(L, v, "%s.%s must be a number", section, key);
            }
            cJSON_Delete(j);
            j = cJSON_CreateNumber(num);
        }
        ok = cJSON_IsNumber(j);
        break;
    case cJSON_String:
        ok = cJSON_IsString(j);
        break;
    case cJSON_True:
        if (cJSON_IsString(j) && bool_word(j->valuestring) >= 0) {
            /* True, yes, off, ...: YAML 1.1's booleans, as LiteLLM's YAML and get_bool() read */
            int b = bool_word(j->valuestring);

            cJSON_Delete(j);
            j = cJSON_CreateBool(b);
        }
        ok = cJSON_IsBool(j);
        break;
    case cJSON_Object:
        ok = cJSON_IsObject(j);
        break;
    default: {
        const cJSON *e, *list = cJSON_IsArray(j) ? j : NULL;

        ok = cJSON_IsString(j) || list != NULL;
        cJSON_ArrayForEach(e, list)
        {
            ok &= cJSON_IsString(e);
        }
    }
    }
    if (!ok) {
        cJSON_Delete(j);
        return fail(L, v, "%s.%s must be %s", section, key,
                    dep_defaults[i].type == cJSON_Number   ? "a number"
                    : dep_defaults[i].type == cJSON_String ? "a string"
                    : dep_defaults[i].type == cJSON_True   ? "true or false"
                    : dep_defaults[i].type == cJSON_Object ? "a mapping"
                                                           : "a string or a list of strings");
    }
    if (d->defaults == NULL) {
        d->defaults = cJSON_CreateObject();
    }
    cJSON_DeleteItemFromObjectCaseSensitive(d->defaults, key); /* a key given twice: the last */
    cJSON_AddItemToObject(d->defaults, key, j);
    return 1;
}

/*
 * litellm_params.extra_body's members, as the OpenAI client LiteLLM calls merges them into the
 * body (vLLM's chat_template_kwargs, top_k, ...; only OpenAI-compatible deployments keep it):
 * each one the request has not got, never the members that make the request what it is.
 */
static size_t
extra_body_add(const cJSON *eb, cJSON *req, const char **added, size_t n)
{
    static const char *const fixed[] = {"model",  "messages",       "prompt", "input",
                                        "stream", "stream_options", NULL};
    const cJSON *m;

    cJSON_ArrayForEach(m, eb)
    {
        int skip = n == SLLMP_DEP_DEFAULTS_MAX || cJSON_HasObjectItem(req, m->string);

        for (int i = 0; !skip && fixed[i] != NULL; i++) {
            skip = strcmp(m->string, fixed[i]) == 0;
        }
        if (!skip) {
            cJSON_AddItemToObject(req, m->string, cJSON_Duplicate(m, 1));
            added[n++] = m->string;
        }
    }
    return n;
}

/* A request default as the Responses API names it: the same name for the parameters both APIs
 * take, max_output_tokens for the chat's limits, reasoning for reasoning_effort; NULL for a
 * chat-only one (stop, seed, penalties, ...), which the Responses API refuses. */
static const char *
responses_name(const char *name)
{
    static const char *const same[] = {"temperature",
                                       "top_p",
                                       "user",
                                       "parallel_tool_calls",
                                       "service_tier",
                                       "top_logprobs",
                                       "prompt_cache_key",
                                       "safety_identifier",
                                       NULL};

    if (strcmp(name, "max_tokens") == 0 || strcmp(name, "max_completion_tokens") == 0) {
        return "max_output_tokens";
    }
    if (strcmp(name, "reasoning_effort") == 0) {
        return "reasoning";
    }
    for (int i = 0; same[i] != NULL; i++) {
        if (strcmp(name, same[i]) == 0) {
            return same[i];
        }
    }
    return NULL;
}

size_t
sllmp_dep_defaults_add(const sllmp_deployment_t *d, cJSON *req, int responses, const char **added)
{
    const cJSON *e, *defaults = d != NULL && cJSON_IsObject(req) ? d->defaults : NULL;
    size_t n = 0;

    cJSON_ArrayForEach(e, defaults)
    {
        const char *name = e->string;

        if (strcmp(name, "extra_body") == 0) {
            n = extra_body_add(e, req, added, n);
            continue;
        }
        if (responses && (name = responses_name(e->string)) == NULL) {
            continue;
        }
        /* max_tokens and max_completion_tokens are one limit: either of the client's wins */
        int limit = strcmp(name, "max_tokens") == 0 || strcmp(name, "max_completion_tokens") == 0;

        if (n == SLLMP_DEP_DEFAULTS_MAX || cJSON_HasObjectItem(req, name) ||
            (limit && (cJSON_HasObjectItem(req, "max_tokens") ||
                       cJSON_HasObjectItem(req, "max_completion_tokens")))) {
            continue;
        }
        if (strcmp(name, "reasoning") == 0) {
            cJSON_AddItemToObject(cJSON_AddObjectToObject(req, "reasoning"), "effort",
                                  cJSON_Duplicate(e, 1));
        } else {
            cJSON_AddItemToObject(req, name, cJSON_Duplicate(e, 1));
        }
        added[n++] = name;
    }
    return n;
}

void
sllmp_dep_defaults_remove(cJSON *req, const char **added, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(req, added[i]);
    }
}

static int
litellm_param(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    dep_ud_t *u = ud;
    sllmp_deployment_t *d = u->d;

    if (strcmp(key, "model") == 0) {
        u->model_node = v;
        return get_str_required(L, v, "litellm_params.model", &d->litellm_model);
    }
    /* LiteLLM's other spellings of Vertex AI's */
    key = strcmp(key, "vertex_ai_credentials") == 0 ? "vertex_credentials"
          : strcmp(key, "vertex_ai_project") == 0   ? "vertex_project"
          : strcmp(key, "vertex_ai_location") == 0  ? "vertex_location"
                                                    : key;
    if (strcmp(key, "api_base") == 0 || strcmp(key, "base_url") == 0 ||
        strcmp(key, "aws_bedrock_runtime_endpoint") == 0) {
        free(d->api_base);
        if (get_string(L, v, "litellm_params.api_base", &d->api_base, NULL) < 0) {
            return -1;
        }
        u->api_base_set = d->api_base != NULL;
        if (d->api_base != NULL && !is_http_url(d->api_base)) {
            return fail(L, v, "litellm_params.api_base must start with http:// or https://");
        }
        return 0;
    }
    char **secret = strcmp(key, "api_key") == 0                 ? &d->api_key
                    : strcmp(key, "aws_access_key_id") == 0     ? &d->aws.access_key_id
                    : strcmp(key, "aws_secret_access_key") == 0 ? &d->aws.secret_access_key
                    : strcmp(key, "aws_session_token") == 0     ? &d->aws.session_token
                    : strcmp(key, "vertex_credentials") == 0    ? &u->vertex_credentials
                                                                : NULL;

    if (secret != NULL) {
        char *unset = NULL;
        char *what = sllmp_xasprintf("litellm_params.%s", key);
        int rc;

        if (secret == &u->vertex_credentials) {
            u->vertex_node = v;
        }

        sllmp_secret_free(*secret);
        rc = get_string(L, v, what, secret, &unset);
        free(what);
        if (rc == 1) {
            warn(L, v, "environment variable %s is not set: model '%s' is left out", unset,
                 d->model_name ? d->model_name : "?");
            free(unset);
            u->disabled = 1;
            return 0;
        }
        return rc;
    }
    if (strcmp(key, "headers") == 0) {
        u->headers = v; /* read once the provider is known (deployment_headers) */
        return 0;
    }
    if (strcmp(key, "extra_headers") == 0) {
        u->extra_headers = v;
        return 0;
    }
    if (strcmp(key, "organization") == 0) {
        u->organization = v;
        return 0;
    }
    if (strcmp(key, "azure_ad_token") == 0) {
        u->azure_ad_token = v;
        return 0;
    }
    if (strcmp(key, "custom_llm_provider") == 0) {
        u->custom_provider = v; /* applied once model is read (custom_provider()) */
        return 0;
    }
    if (strcmp(key, "vertex_project") == 0) {
        free(u->vertex_project);
        return get_string(L, v, "litellm_params.vertex_project", &u->vertex_project, NULL);
    }
    if (strcmp(key, "vertex_location") == 0) {
        free(u->vertex_location);
        return get_string(L, v, "litellm_params.vertex_location", &u->vertex_location, NULL);
    }
    if (strcmp(key, "aws_region_name") == 0) {
        free(d->aws.region);
        return get_string(L, v, "litellm_params.aws_region_name", &d->aws.region, NULL);
    }
    if (strcmp(key, "api_version") == 0) {
        free(d->api_version);
        return get_string(L, v, "litellm_params.api_version", &d->api_version, NULL);
    }
    if (strcmp(key, "model_id") == 0) {
        free(d->model_id);
        u->model_id_node = v;
        return get_string(L, v, "litellm_params.model_id", &d->model_id, NULL);
    }
    int c = cost_key(L, u, key, v);

    if (c != 0) {
        return c < 0 ? -1 : 0;
    }
    if (strcmp(key, "mock_delay_ms") == 0) {
        return get_long(L, v, "litellm_params.mock_delay_ms", 0, 60000, &d->mock_delay_ms);
    }
    if (strcmp(key, "rpm") == 0) {
        return get_long(L, v, "litellm_params.rpm", 0, 1000000000L, &d->rpm);
    }
    if (strcmp(key, "tpm") == 0) {
        return get_long(L, v, "litellm_params.tpm", 0, 1000000000L, &d->tpm);
    }
    if (strcmp(key, "max_parallel_requests") == 0) {
        return get_long(L, v, "litellm_params.max_parallel_requests", 0, 1000000L,
                        &d->max_parallel);
    }
    if (strcmp(key, "weight") == 0) {
        const char *t;

        if (number_text(L, v, "litellm_params.weight", &t) < 0) {
            return -1;
        }
        if (!whole_number(t, &d->weight) || !(d->weight >= 0) || d->weight > 1e6) {
            return fail(L, v, "litellm_params.weight must be a number from 0 to 1000000");
        }
        d->weight_set = 1;
        return 0;
    }
    if (strcmp(key, "num_retries") == 0) {
        return get_long(L, v, "litellm_params.num_retries", 0, 10, &d->num_retries);
    }
    if (strcmp(key, "order") == 0) {
        return get_long(L, v, "litellm_params.order", 1, 1000000L, &d->order);
    }
    if (strcmp(key, "tags") == 0) {
        return get_tags(L, v, "litellm_params.tags", &d->tags, &d->ntags);
    }
    if (strcmp(key, "cooldown_time") == 0) {
        return get_seconds_ms(L, v, "litellm_params.cooldown_time", 3600000L, &d->cooldown_ms);
    }
    if (strcmp(key, "timeout") == 0) {
        return get_timeout(L, v, "litellm_params.timeout", &d->timeout_ms);
    }
    if (strcmp(key, "stream_timeout") == 0) {
        return get_timeout(L, v, "litellm_params.stream_timeout", &d->stream_timeout_ms);
    }
    if (strcmp(key, "drop_params") == 0) {
        return drop_params(L, v, "litellm_params.drop_params");
    }
    if (strcmp(key, "extra_body") == 0) {
        u->extra_body = v;
    }
    int got = dep_default(L, d, "litellm_params", key, v);

    if (got != 0) {
        return got < 0 ? -1 : 0;
    }
    warn(L, k, "litellm_params.%s is not supported by sllmp and is ignored", key);
    return 0;
}

static int
deployment_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    dep_ud_t *u = ud;

    if (strcmp(key, "model_name") == 0) {
        return get_str_required(L, v, "model_name", &u->d->model_name);
    }
    if (strcmp(key, "litellm_params") == 0) {
        return 0; /* read after model_name, so messages can name the model */
    }
    if (strcmp(key, "model_info") == 0) {
        return submap(L, v, "model_info", model_info_key, u);
    }
    warn(L, k, "model_list entry key '%s' is not supported by sllmp and is ignored", key);
    return 0;
}

/*
 * The providers by LiteLLM's prefix: how each is spoken to, where it is by default, the
 * environment variables that move that default (as in LiteLLM: OPENAI_API_BASE, ...), and those
 * its key comes from when the entry names none. The key's are read only when the entry keeps
 * the default api_base, its own or the environment's: a provider key is never sent to a host
 * the entry names.
 */
static const struct {
    const char *prefix;
    sllmp_provider_t provider;
    const char *api_base;    /* NULL: the entry or base_env must give one (or it is derived) */
    const char *base_env[3]; /* the first set is the default api_base */
    const char *key_env[5];  /* the first set is read; none: local servers */
} providers[] = {
    {"openai",
     SLLMP_PROVIDER_OPENAI,
     "https://api.openai.com/v1",
     {"OPENAI_BASE_URL", "OPENAI_API_BASE"},
     {"OPENAI_API_KEY"}},
    {"text-completion-openai",
     SLLMP_PROVIDER_OPENAI,
     "https://api.openai.com/v1",
     {"OPENAI_BASE_URL", "OPENAI_API_BASE"},
     {"OPENAI_API_KEY"}},
    {"ollama", SLLMP_PROVIDER_OPENAI, "http://localhost:11434/v1", {"OLLAMA_API_BASE"}, {NULL}},
    /* LiteLLM's name for Ollama's chat API (its docs' advice for chat models): the same server */
    {"ollama_chat",
     SLLMP_PROVIDER_OPENAI,
     "http://localhost:11434/v1",
     {"OLLAMA_API_BASE"},
     {NULL}},
    {"hosted_vllm",
     SLLMP_PROVIDER_OPENAI,
     "http://localhost:8000/v1",
     {"HOSTED_VLLM_API_BASE"},
     {"HOSTED_VLLM_API_KEY"}},
    {"groq",
     SLLMP_PROVIDER_OPENAI,
     "https://api.groq.com/openai/v1",
     {"GROQ_API_BASE"},
     {"GROQ_API_KEY"}},
    {"mistral",
     SLLMP_PROVIDER_OPENAI,
     "https://api.mistral.ai/v1",
     {"MISTRAL_API_BASE"},
     {"MISTRAL_API_KEY"}},
    {"deepseek",
     SLLMP_PROVIDER_OPENAI,
     "https://api.deepseek.com/v1",
     {"DEEPSEEK_API_BASE"},
     {"DEEPSEEK_API_KEY"}},
    {"openrouter",
     SLLMP_PROVIDER_OPENAI,
     "https://openrouter.ai/api/v1",
     {"OPENROUTER_API_BASE"},
     {"OPENROUTER_API_KEY"}},
    /* the key by LiteLLM's names, in its order (Together's own docs say TOGETHER_API_KEY) */
    {"together_ai",
     SLLMP_PROVIDER_OPENAI,
     "https://api.together.xyz/v1",
     {"TOGETHER_AI_API_BASE"},
     {"TOGETHER_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_AI_TOKEN"}},
    {"xai", SLLMP_PROVIDER_OPENAI, "https://api.x.ai/v1", {"XAI_API_BASE"}, {"XAI_API_KEY"}},
    {"fireworks_ai",
     SLLMP_PROVIDER_OPENAI,
     "https://api.fireworks.ai/inference/v1",
     {"FIREWORKS_API_BASE"},
     {"FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY", "FIREWORKSAI_API_KEY", "FIREWORKS_AI_TOKEN"}},
    {"perplexity",
     SLLMP_PROVIDER_OPENAI,
     "https://api.perplexity.ai",
     {"PERPLEXITY_API_BASE"},
     {"PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"}},
    {"cerebras",
     SLLMP_PROVIDER_OPENAI,
     "https://api.cerebras.ai/v1",
     {"CEREBRAS_API_BASE"},
     {"CEREBRAS_API_KEY"}},
    {"deepinfra",
     SLLMP_PROVIDER_OPENAI,
     "https://api.deepinfra.com/v1/openai",
     {"DEEPINFRA_API_BASE"},
     {"DEEPINFRA_API_KEY"}},
    {"nvidia_nim",
     SLLMP_PROVIDER_OPENAI,
     "https://integrate.api.nvidia.com/v1",
     {"NVIDIA_NIM_API_BASE"},
     {"NVIDIA_NIM_API_KEY"}},
    {"sambanova",
     SLLMP_PROVIDER_OPENAI,
     "https://api.sambanova.ai/v1",
     {"SAMBANOVA_API_BASE"},
     {"SAMBANOVA_API_KEY"}},
    {"moonshot",
     SLLMP_PROVIDER_OPENAI,
     "https://api.moonshot.ai/v1",
     {"MOONSHOT_API_BASE"},
     {"MOONSHOT_API_KEY"}},
    /* Alibaba Cloud's international endpoint, LiteLLM's default */
    {"dashscope",
     SLLMP_PROVIDER_OPENAI,
     "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
     {"DASHSCOPE_API_BASE"},
     {"DASHSCOPE_API_KEY"}},
    /* GitHub Models at the endpoint LiteLLM defaults to */
    {"github",
     SLLMP_PROVIDER_OPENAI,
     "https://models.inference.ai.azure.com",
     {"GITHUB_API_BASE"},
     {"GITHUB_API_KEY"}},
    {"nebius",
     SLLMP_PROVIDER_OPENAI,
     "https://api.studio.nebius.ai/v1",
     {"NEBIUS_API_BASE"},
     {"NEBIUS_API_KEY"}},
    {"novita",
     SLLMP_PROVIDER_OPENAI,
     "https://api.novita.ai/v3/openai",
     {"NOVITA_API_BASE"},
     {"NOVITA_API_KEY"}},
    {"hyperbolic",
     SLLMP_PROVIDER_OPENAI,
     "https://api.hyperbolic.xyz/v1",
     {"HYPERBOLIC_API_BASE"},
     {"HYPERBOLIC_API_KEY"}},
    {"featherless_ai",
     SLLMP_PROVIDER_OPENAI,
     "https://api.featherless.ai/v1",
     {"FEATHERLESS_API_BASE"},
     {"FEATHERLESS_API_KEY"}},
    /* local servers that need no key but take one when it is set, as LiteLLM reads it */
    {"llamafile",
     SLLMP_PROVIDER_OPENAI,
     "http://127.0.0.1:8080/v1",
     {"LLAMAFILE_API_BASE"},
     {"LLAMAFILE_API_KEY"}},
    /* no default host, as in LiteLLM: the entry's api_base or the environment's */
    {"lm_studio", SLLMP_PROVIDER_OPENAI, NULL, {"LM_STUDIO_API_BASE"}, {"LM_STUDIO_API_KEY"}},
    {"litellm_proxy",
     SLLMP_PROVIDER_OPENAI,
     NULL,
     {"LITELLM_PROXY_API_BASE"},
     {"LITELLM_PROXY_API_KEY"}},
    {"azure", SLLMP_PROVIDER_AZURE, NULL, {NULL}, {"AZURE_API_KEY"}}, /* AZURE_API_BASE: below */
    {"anthropic",
     SLLMP_PROVIDER_ANTHROPIC,
     "https://api.anthropic.com",
     {"ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"},
     {"ANTHROPIC_API_KEY"}},
    {"gemini",
     SLLMP_PROVIDER_GEMINI,
     "https://generativelanguage.googleapis.com",
     {"GEMINI_API_BASE"},
     {"GEMINI_API_KEY"}},
    {"bedrock", SLLMP_PROVIDER_BEDROCK, NULL, {NULL}, {NULL}},
    /* Gemini, or Claude for a claude-* model (vertex_params()); vertex_ai_beta is LiteLLM's
     * name for the same generateContent API with context caching */
    {"vertex_ai", SLLMP_PROVIDER_GEMINI, NULL, {NULL}, {NULL}},
    {"vertex_ai_beta", SLLMP_PROVIDER_GEMINI, NULL, {NULL}, {NULL}},
    {"mock", SLLMP_PROVIDER_MOCK, NULL, {NULL}, {NULL}},
};

/* Copies the first of the environment variables that is set into *out, unless *out is set. */
static void
env_default(loader_t *L, char **out, const char *const *names)
{
    for (; *out == NULL && *names != NULL; names++) {
        const char *v = env_lookup(L, *names, strlen(*names));

        if (v != NULL && *v != '\0') {
            *out = sllmp_xstrdup(v);
        }
    }
}

/* An api_base with no path ("http://host:11434"), for servers whose OpenAI API is under /v1. */
static int
base_has_no_path(const char *base)
{
    const char *host = strstr(base, "://");

    return host != NULL && strchr(host + 3, '/') == NULL;
}

/* Azure and Bedrock: what their entries must say, and the defaults LiteLLM takes from the
 * environment. */
static int
provider_params(loader_t *L, dep_ud_t *u)
{
    sllmp_deployment_t *d = u->d;

    if (d->model_id != NULL && d->provider != SLLMP_PROVIDER_BEDROCK) {
        warn(L, u->model_id_node,
             "litellm_params.model_id is only used by bedrock/ models: model '%s' ignores it",
             d->model_name);
        free(d->model_id);
        d->model_id = NULL;
    }
    if (u->extra_body != NULL && cJSON_HasObjectItem(d->defaults, "extra_body") &&
        d->provider != SLLMP_PROVIDER_OPENAI && d->provider != SLLMP_PROVIDER_AZURE) {
        warn(L, u->extra_body,
             "litellm_params.extra_body goes to OpenAI-compatible servers only: model '%s' "
             "ignores it",
             d->model_name);
        cJSON_DeleteItemFromObjectCaseSensitive(d->defaults, "extra_body");
    }
    if (d->provider == SLLMP_PROVIDER_AZURE) {
        static const char *const base_env[] = {"AZURE_API_BASE", NULL};
        static const char *const version_env[] = {"AZURE_API_VERSION", NULL};

        env_default(L, &d->api_base, base_env);
        if (d->api_base == NULL) {
            return fail(L, u->model_node,
                        "model '%s': azure/ needs litellm_params.api_base "
                        "(https://<resource>.openai.azure.com)",
                        d->model_name);
        }
        env_default(L, &d->api_version, version_env);
        if (strstr(d->api_base, "/openai/v1") != NULL ||
            (d->api_version != NULL && strcmp(d->api_version, "v1") == 0)) {
            /* the v1 API: OpenAI's paths, no api-version */
            free(d->api_version);
            d->api_version = NULL;
        } else if (d->api_version == NULL) {
            d->api_version = sllmp_xstrdup("2024-10-21");
        }
    } else if (d->provider == SLLMP_PROVIDER_BEDROCK) {
        static const char *const region_env[] = {"AWS_REGION_NAME", "AWS_REGION",
                                                 "AWS_DEFAULT_REGION", NULL};
        static const char *const id_env[] = {"AWS_ACCESS_KEY_ID", NULL};
        static const char *const secret_env[] = {"AWS_SECRET_ACCESS_KEY", NULL};
        static const char *const token_env[] = {"AWS_SESSION_TOKEN", NULL};
        static const char *const bearer_env[] = {"AWS_BEARER_TOKEN_BEDROCK", NULL};

        env_default(L, &d->aws.region, region_env);
        if (d->aws.region == NULL) {
            /* like a key from an unset variable: the model waits for its environment */
            warn(L, u->model_node,
                 "model '%s' has no AWS region (litellm_params.aws_region_name, or "
                 "AWS_REGION_NAME / AWS_REGION in the environment): it is left out",
                 d->model_name);
            u->disabled = 1;
            return 0;
        }
        if (d->api_key == NULL && d->aws.access_key_id == NULL) {
            env_default(L, &d->aws.access_key_id, id_env);
            env_default(L, &d->aws.secret_access_key, secret_env);
            env_default(L, &d->aws.session_token, token_env);
            if (d->aws.access_key_id == NULL) {
                env_default(L, &d->api_key, bearer_env);
            }
        }
        if (d->api_key == NULL &&
            (d->aws.access_key_id == NULL || d->aws.secret_access_key == NULL)) {
            warn(L, u->model_node,
                 "model '%s' has no AWS credentials (aws_access_key_id and "
                 "aws_secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): it is "
                 "left out",
                 d->model_name);
            u->disabled = 1;
            return 0;
        }
        if (d->api_base == NULL) {
            d->api_base =
                sllmp_xasprintf("https://bedrock-runtime.%s.amazonaws.com", d->aws.region);
        }
        d->messages_api = strstr(d->model, "anthropic.") != NULL;
    }
    return 0;
}

/*
 * The provider LiteLLM infers for a model written without one, for the families sllmp speaks:
 * OpenAI's and Anthropic's own model names. NULL for any other name: LiteLLM itself refuses
 * most ("LLM Provider NOT provided"), reads a bare gemini-... as Vertex AI, and sending such a
 * model to OpenAI with whatever key the entry has (an Anthropic key, say) would be wrong.
 */
static const char *
bare_model_provider(const char *m)
{
    static const char *const openai[] = {"gpt-",
                                         "chatgpt-",
                                         "ft:gpt-",
                                         "text-embedding-",
                                         "omni-moderation",
                                         "text-moderation",
                                         "davinci-",
                                         "babbage-",
                                         "computer-use-"};

    for (size_t i = 0; i < sizeof(openai) / sizeof(openai[0]); i++) {
        if (strncmp(m, openai[i], strlen(openai[i])) == 0) {
            return "openai";
        }
    }
    /* the o-series: o1, o3-mini, o4-mini-2025-04-16 */
    if (m[0] == 'o' && m[1] >= '1' && m[1] <= '9' && (m[2] == '\0' || m[2] == '-')) {
        return "openai";
    }
    if (strncmp(m, "claude-", 7) == 0) {
        return "anthropic";
    }
    return NULL;
}

/* LiteLLM's route prefixes of a provider, cut from model in place; 1 when there was one. Bedrock's
 * (converse/, invoke/): sllmp picks Converse or InvokeModel by the endpoint. Azure's, for a
 * deployment whose name does not say it runs a reasoning model (o_series/, gpt5_series/): the URL
 * names the deployment alone. */
static const char *const bedrock_routes[] = {"converse/", "invoke/", NULL};
static const char *const azure_routes[] = {"o_series/", "gpt5_series/", NULL};
/* LiteLLM's route for a model served through the Responses API on chat completions */
static const char *const responses_routes[] = {"responses/", NULL};

/*
 * Whether an OpenAI model has no chat completions, only the Responses API (OpenAI's model
 * pages): the codex models (gpt-5-codex, gpt-5.1-codex-max, codex-mini-latest), the -pro ones
 * (o1-pro, o3-pro, gpt-5-pro, gpt-5.2-pro, and their dated names), deep research and computer
 * use.
 */
static int
responses_only(const char *model)
{
    size_t n = strlen(model);

    return strstr(model, "codex") != NULL || (n >= 4 && strcmp(model + n - 4, "-pro") == 0) ||
           strstr(model, "-pro-20") != NULL || strstr(model, "deep-research") != NULL ||
           strncmp(model, "computer-use", 12) == 0;
}

/* Whether chat goes to d's Responses API for its model: OpenAI's own models that have no chat
 * completions, on OpenAI's API. */
static int
openai_responses_only(const sllmp_deployment_t *d)
{
    return d->provider == SLLMP_PROVIDER_OPENAI && strcmp(d->provider_name, "openai") == 0 &&
           strcmp(d->api_base, "https://api.openai.com/v1") == 0 && responses_only(d->model);
}

/*
 * Whether d's model is one of Fireworks' own under a short name
 * (fireworks_ai/llama-v3p1-8b-instruct): LiteLLM sends any fireworks_ai/ model not named by its
 * account path as accounts/fireworks/models/<name>, the path Fireworks names its own models by. A
 * pattern's model is known per request (sllmp_deployment_for).
 */
static int
fireworks_short(const sllmp_deployment_t *d)
{
    return strcmp(d->provider_name, "fireworks_ai") == 0 &&
           strncmp(d->model, "accounts/", 9) != 0 && strchr(d->model, '*') == NULL;
}

#define FIREWORKS_MODELS "accounts/fireworks/models/"

static int
route_strip(char *model, const char *const *routes)
{
    for (; *routes != NULL; routes++) {
        size_t n = strlen(*routes);

        if (strncmp(model, *routes, n) == 0) {
            memmove(model, model + n, strlen(model + n) + 1);
            return 1;
        }
    }
    return 0;
}

/*
 * The partner models Vertex AI serves through its OpenAI-compatible endpoint (".../endpoints/
 * openapi/chat/completions", the model named in the body as publisher/model), by LiteLLM's
 * prefixes for its OpenAI-like handler: Llama, DeepSeek, Qwen and gpt-oss.
 */
static int
vertex_openapi_model(const char *model)
{
    static const char *const prefixes[] = {"meta/", "deepseek-ai/", "qwen/", "openai/gpt-oss-",
                                           NULL};

    for (int i = 0; prefixes[i] != NULL; i++) {
        if (strncmp(model, prefixes[i], strlen(prefixes[i])) == 0 &&
            model[strlen(prefixes[i])] != '\0') {
            return 1;
        }
    }
    return 0;
}

/*
 * A vertex_ai/ model: Claude (claude-*) through Anthropic's API at Google's URL, a partner
 * model of vertex_openapi_model() through the OpenAI-compatible endpoint, else Gemini's
 * generateContent; LiteLLM's vertex_ai/gemini/<id> names <id>. Also for a pattern's copies.
 */
static void
vertex_model(sllmp_deployment_t *d)
{
    const char *slash = strrchr(d->model, '/');

    if (strncmp(d->model, "gemini/", 7) == 0 && slash[1] != '\0') {
        memmove(d->model, slash + 1, strlen(slash + 1) + 1);
    }
    d->provider = strncmp(d->model, "claude", 6) == 0 ? SLLMP_PROVIDER_ANTHROPIC
                  : vertex_openapi_model(d->model)    ? SLLMP_PROVIDER_OPENAI
                                                      : SLLMP_PROVIDER_GEMINI;
    d->messages_api = d->provider == SLLMP_PROVIDER_ANTHROPIC;
}

/* Google's location names and project ids (a path segment, whose older domain-scoped form is
 * "example.com:proj"; a location is also part of a host name): letters, digits and '-'. */
static int
google_name(const char *s, int project)
{
    return *s != '\0' && strlen(s) <= 100 &&
           strspn(s, project ? "abcdefghijklmnopqrstuvwxyz0123456789-.:"
                             : "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s);
}

/*
 * Credentials given as LiteLLM takes them: a key file's JSON text, or its path (absolute, else
 * relative to the configuration's directory, else to the working directory). NULL with *why.
 */
static sllmp_gcred_t *
load_gcred(loader_t *L, const char *given, char **why)
{
    const char *main = L->c->files[0].path, *slash = strrchr(main, '/');
    char buf[256], *path = NULL, *text;
    struct stat st;
    size_t len = 0;
    sllmp_gcred_t *c;

    if (given[strspn(given, " \t\r\n")] == '{') {
        c = sllmp_gcred_parse(given, strlen(given), buf, sizeof(buf));
        *why = c == NULL ? sllmp_xstrdup(buf) : NULL;
        return c;
    }
    if (given[0] != '/' && slash != NULL) {
        path = sllmp_xasprintf("%.*s/%s", (int)(slash - main), main, given);
        if (access(path, F_OK) != 0) {
            free(path);
            path = NULL;
        }
    }
    text = slurp(path != NULL ? path : given, &st, &len, why);
    free(path);
    if (text == NULL) {
        return NULL;
    }
    c = sllmp_gcred_parse(text, len, buf, sizeof(buf));
    explicit_bzero(text, len);
    free(text);
    *why = c == NULL ? sllmp_xstrdup(buf) : NULL;
    return c;
}

/* The base URL of Vertex AI's OpenAI-compatible endpoint under a location's root (*base, which
 * is replaced), unless *base already is one: the OpenAI paths (chat/completions) follow it. */
static void
vertex_openapi_base(char **base)
{
    static const char tail[] = "/endpoints/openapi";
    size_t n = strlen(*base);
    char *b;

    if (n >= sizeof(tail) - 1 && strcmp(*base + n - (sizeof(tail) - 1), tail) == 0) {
        return;
    }
    b = sllmp_xasprintf("%s%s", *base, tail);
    free(*base);
    *base = b;
}

/*
 * Vertex AI's credentials, as LiteLLM and google-auth find them: litellm_params.
 * vertex_credentials, VERTEXAI_CREDENTIALS, the file GOOGLE_APPLICATION_CREDENTIALS names,
 * gcloud's application default credentials, else the metadata server of a Google Cloud
 * machine; the project (vertex_project, VERTEXAI_PROJECT, the credentials', GOOGLE_CLOUD_
 * PROJECT) and the location (vertex_location, VERTEXAI_LOCATION, us-central1); and where the
 * calls go (api_base: see conf.h).
 */
static int
vertex_params(loader_t *L, dep_ud_t *u)
{
    static const char *const cred_env[] = {"VERTEXAI_CREDENTIALS", "VERTEX_CREDENTIALS", NULL};
    static const char *const file_env[] = {"GOOGLE_APPLICATION_CREDENTIALS", NULL};
    static const char *const project_env[] = {"VERTEXAI_PROJECT", "VERTEX_PROJECT", NULL};
    static const char *const gproject_env[] = {"GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", NULL};
    static const char *const location_env[] = {"VERTEXAI_LOCATION", "VERTEX_LOCATION", NULL};
    static const char *const base_env[] = {"VERTEXAI_API_BASE", "VERTEX_API_BASE", NULL};
    static const char *const metadata_env[] = {"GCE_METADATA_HOST", "GCE_METADATA_ROOT", NULL};
    sllmp_deployment_t *d = u->d;
    yaml_node_t *at = u->vertex_node != NULL ? u->vertex_node : u->model_node;
    char *given = NULL, *why = NULL, *project = NULL, *location = NULL, *host = NULL;
    const char *from = "litellm_params.vertex_credentials";

    if (d->provider != SLLMP_PROVIDER_OPENAI &&
        (strchr(d->model, '/') != NULL || strncmp(d->model, "mistral", 7) == 0 ||
         strncmp(d->model, "codestral", 9) == 0 || strncmp(d->model, "jamba", 5) == 0)) {
        /* Mistral's and AI21's rawPredict, a Model Garden endpoint of one's own
         * (vertex_ai/openai/<id>), publishers LiteLLM routes nowhere else */
        warn(L, u->model_node,
             "Vertex AI's partner model '%s' is not supported by this version of sllmp (Gemini, "
             "Claude, and meta/, deepseek-ai/, qwen/ and openai/gpt-oss- models are): model "
             "'%s' is left out",
             d->model, d->model_name);
        u->disabled = 1;
        return 0;
    }
    if (d->api_key != NULL) {
        warn(L, u->model_node,
             "model '%s': vertex_ai/ models sign in with Google credentials "
             "(vertex_credentials); its api_key is not used",
             d->model_name);
        sllmp_secret_free(d->api_key);
        d->api_key = NULL;
    }
    if (u->vertex_credentials != NULL) {
        given = sllmp_xstrdup(u->vertex_credentials);
    }
    if (given == NULL && (env_default(L, &given, cred_env), given != NULL)) {
        from = "VERTEXAI_CREDENTIALS";
    }
    if (given == NULL && (env_default(L, &given, file_env), given != NULL)) {
        from = "GOOGLE_APPLICATION_CREDENTIALS";
    }
    if (given == NULL) {
        /* gcloud auth application-default login */
        const char *dir = getenv("CLOUDSDK_CONFIG"), *home = getenv("HOME");
        char *adc =
            dir != NULL && *dir != '\0'
                ? sllmp_xasprintf("%s/application_default_credentials.json", dir)
            : home != NULL && *home != '\0'
                ? sllmp_xasprintf("%s/.config/gcloud/application_default_credentials.json", home)
                : NULL;

        if (adc != NULL && access(adc, R_OK) == 0) {
            given = adc;
            from = "gcloud's application default credentials";
        } else {
            free(adc);
        }
    }
    if (given != NULL) {
        d->gcp = load_gcred(L, given, &why);
        sllmp_secret_free(given);
        if (d->gcp == NULL) {
            fail(L, at, "model '%s': the Google credentials of %s: %s", d->model_name, from, why);
            free(why);
            return -1;
        }
    } else {
        /* google-auth's last resort, right on a Google Cloud machine; said, since anywhere
         * else every call then fails to reach metadata.google.internal */
        warn(L, u->model_node,
             "model '%s' has no Google credentials (litellm_params.vertex_credentials, "
             "VERTEXAI_CREDENTIALS, GOOGLE_APPLICATION_CREDENTIALS or gcloud's application "
             "default credentials): it asks the metadata server of a Google Cloud machine",
             d->model_name);
        env_default(L, &host, metadata_env);
        d->gcp = sllmp_gcred_metadata(host);
        free(host);
    }
    if (u->vertex_project != NULL) {
        project = sllmp_xstrdup(u->vertex_project);
    }
    env_default(L, &project, project_env);
    if (project == NULL && d->gcp->project != NULL) {
        project = sllmp_xstrdup(d->gcp->project);
    }
    env_default(L, &project, gproject_env);
    if (project == NULL) {
        warn(L, u->model_node,
             "model '%s' has no Google Cloud project (litellm_params.vertex_project, or "
             "VERTEXAI_PROJECT in the environment): it is left out",
             d->model_name);
        u->disabled = 1;
        return 0;
    }
    if (u->vertex_location != NULL) {
        location = sllmp_xstrdup(u->vertex_location);
    }
    env_default(L, &location, location_env);
    if (location == NULL) {
        location = sllmp_xstrdup("us-central1");
    }
    if (!google_name(project, 1) || !google_name(location, 0)) {
        fail(L, u->model_node,
             "model '%s': the Google Cloud %s '%.64s' is not one (lowercase letters, digits "
             "and '-'; a project may be domain-scoped, example.com:name)",
             d->model_name, google_name(project, 1) ? "location" : "project",
             google_name(project, 1) ? location : project);
        free(project);
        free(location);
        return -1;
    }
    if (d->api_base == NULL) {
        env_default(L, &d->api_base, base_env);
        if (d->api_base != NULL) {
            strip_slashes(d->api_base);
        }
    }
    if (d->api_base != NULL && strstr(d->api_base, "/models/") != NULL &&
        d->provider == SLLMP_PROVIDER_OPENAI) {
        /* LiteLLM appends ":<the URL it would have used>" to it: no URL at all */
        fail(L, u->model_node,
             "model '%s': its api_base names a model's URL (.../models/...), which %s is not "
             "called at; give the host, or the URL up to .../locations/%s (or its "
             ".../endpoints/openapi)",
             d->model_name, d->model, location);
        free(project);
        free(location);
        return -1;
    }
    if (d->api_base != NULL && strstr(d->api_base, "/models/") != NULL) {
        d->vertex_model_url = 1; /* LiteLLM's: the whole URL up to ':generateContent' */
    } else if (d->api_base == NULL || strstr(d->api_base, "/locations/") == NULL) {
        /* the host of the location (its multi-region's for "us" and "eu"), or the api_base's */
        char *base = d->api_base != NULL ? d->api_base
                     : strcmp(location, "global") == 0
                         ? sllmp_xstrdup("https://aiplatform.googleapis.com")
                     : strchr(location, '-') == NULL
                         ? sllmp_xasprintf("https://aiplatform.%s.rep.googleapis.com", location)
                         : sllmp_xasprintf("https://%s-aiplatform.googleapis.com", location);

        d->api_base = sllmp_xasprintf("%s/v1/projects/%s/locations/%s", base, project, location);
        free(base);
    }
    if (d->provider == SLLMP_PROVIDER_OPENAI) {
        vertex_openapi_base(&d->api_base);
    }
    free(project);
    free(location);
    return 0;
}

static int
split_model(loader_t *L, dep_ud_t *u)
{
    sllmp_deployment_t *d = u->d;
    const char *m = d->litellm_model;
    const char *slash = strchr(m, '/');
    const char *prefix = slash ? m : bare_model_provider(m);
    size_t plen = slash ? (size_t)(slash - m) : prefix ? strlen(prefix) : 0;
    size_t i;
    int base_from_env = 0;

    if (prefix == NULL) {
        warn(L, u->model_node,
             "litellm_params.model '%s' names no provider: write %s/%s (or another provider's "
             "prefix); model '%s' is left out",
             m, strncmp(m, "gemini", 6) == 0 ? "gemini" : "openai", m, d->model_name);
        u->disabled = 1;
        return 0;
    }

    for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        if (strlen(providers[i].prefix) == plen &&
            strncmp(providers[i].prefix, prefix, plen) == 0) {
            break;
        }
    }
    if (i == sizeof(providers) / sizeof(providers[0])) {
        warn(L, u->model_node,
             "provider '%.*s' is not supported by this version of sllmp: model '%s' is left out",
             (int)plen, prefix, d->model_name);
        u->disabled = 1;
        return 0;
    }
    d->provider = providers[i].provider;
    d->model = sllmp_xstrdup(slash ? slash + 1 : m);
    if (d->provider == SLLMP_PROVIDER_MOCK) {
        d->provider_name = sllmp_xstrdup("sllmp");
    } else if (strcmp(providers[i].prefix, "text-completion-openai") == 0) {
        d->provider_name = sllmp_xstrdup("openai");
    } else if (strcmp(providers[i].prefix, "ollama_chat") == 0) {
        d->provider_name = sllmp_xstrdup("ollama");
    } else if (strncmp(providers[i].prefix, "vertex_ai", 9) == 0) {
        d->provider_name = sllmp_xstrdup("vertex_ai");
    } else {
        d->provider_name = sllmp_xstrdup(providers[i].prefix);
    }
    if (d->provider == SLLMP_PROVIDER_BEDROCK) {
        route_strip(d->model, bedrock_routes);
    }
    if (strcmp(d->provider_name, "vertex_ai") == 0) {
        vertex_model(d);
    }
    if (d->provider == SLLMP_PROVIDER_OPENAI || d->provider == SLLMP_PROVIDER_AZURE) {
        d->chat_via_responses = route_strip(d->model, responses_routes);
    }
    if (d->provider == SLLMP_PROVIDER_AZURE) {
        d->reasoning = route_strip(d->model, azure_routes);
    }
    if (*d->model == '\0') {
        return fail(L, u->model_node, "litellm_params.model '%s' names no model", m);
    }
    if (fireworks_short(d)) {
        char *full = sllmp_xasprintf(FIREWORKS_MODELS "%s", d->model);

        free(d->model);
        d->model = full;
    }
    if (d->api_base == NULL) {
        const char *fallback = providers[i].api_base;

        env_default(L, &d->api_base, providers[i].base_env);
        if (d->api_base != NULL && !is_http_url(d->api_base)) {
            warn(L, u->model_node,
                 "model '%s': the environment's api_base for %s/ is not an http:// or "
                 "https:// URL; %s%s",
                 d->model_name, providers[i].prefix, fallback ? fallback : "it is ignored",
                 fallback ? " is used" : "");
            free(d->api_base);
            d->api_base = NULL;
        }
        base_from_env = d->api_base != NULL;
        if (d->api_base == NULL && fallback != NULL) {
            d->api_base = sllmp_xstrdup(fallback);
        }
    }
    /* a server of the user's own (lm_studio/, litellm_proxy/): LiteLLM knows no default host;
     * Vertex AI's is its location's (vertex_params) */
    if (d->api_base == NULL && d->provider == SLLMP_PROVIDER_OPENAI &&
        strcmp(d->provider_name, "vertex_ai") != 0) {
        return fail(L, u->model_node,
                    "model '%s': %s/ needs litellm_params.api_base (or %s in the environment)",
                    d->model_name, providers[i].prefix, providers[i].base_env[0]);
    }
    if (d->api_base != NULL) {
        strip_slashes(d->api_base);
        if ((u->api_base_set || base_from_env) && d->provider == SLLMP_PROVIDER_OPENAI &&
            (strcmp(d->provider_name, "ollama") == 0 ||
             strcmp(d->provider_name, "hosted_vllm") == 0) &&
            base_has_no_path(d->api_base)) {
            /* LiteLLM configs say http://localhost:11434; the OpenAI API is under /v1 */
            char *b = sllmp_xasprintf("%s/v1", d->api_base);

            free(d->api_base);
            d->api_base = b;
        }
    }
    /* Azure's base is always the customer's own resource, which AZURE_API_KEY is for */
    if (d->api_key == NULL && (!u->api_base_set || d->provider == SLLMP_PROVIDER_AZURE)) {
        env_default(L, &d->api_key, providers[i].key_env);
    }
    d->messages_api = d->provider == SLLMP_PROVIDER_ANTHROPIC;
    if (strcmp(d->provider_name, "vertex_ai") == 0) {
        return provider_params(L, u) < 0 ? -1 : vertex_params(L, u);
    }
    /* OpenAI's own models that have no chat completions: chat goes through its Responses API */
    if (openai_responses_only(d)) {
        d->chat_via_responses = 1;
    }
    return provider_params(L, u);
}

static void
deployment_free(sllmp_deployment_t *d)
{
    free(d->model_name);
    free(d->litellm_model);
    free(d->provider_name);
    free(d->model);
    free(d->api_base);
    free(d->api_version);
    free(d->model_id);
    free(d->base_model);
    sllmp_secret_free(d->api_key);
    sllmp_secret_free(d->aws.access_key_id);
    sllmp_secret_free(d->aws.secret_access_key);
    sllmp_secret_free(d->aws.session_token);
    free(d->aws.region);
    sllmp_gcred_free(d->gcp);
    free(d->id);
    for (size_t i = 0; i < d->nheaders; i++) {
        sllmp_secret_free(d->headers[i]);
    }
    free(d->headers);
    str_list_free(&d->tags, &d->ntags);
    cJSON_Delete(d->defaults);
    memset(d, 0, sizeof(*d));
}

/* The deployment's limit subject: its alias and a digest of where it points, the same on every
 * host that has the same model_list entry. */
static void
deployment_subject(sllmp_deployment_t *d)
{
    unsigned char sha[32], ksha[32];
    char khex[17] = "";
    char *what, *name;

    /* what makes it a deployment of its own: where it points and as whom (two keys of one
     * provider have a rate limit each). The key enters as a digest of a digest, never itself */
    if (d->api_key != NULL || d->aws.access_key_id != NULL) {
        const char *k = d->api_key != NULL ? d->api_key : d->aws.access_key_id;

        sllmp_sha256(k, strlen(k), ksha);
        for (int i = 0; i < 8; i++) {
            snprintf(khex + 2 * i, 3, "%02x", ksha[i]);
        }
    }
    /* a model_id is where a Bedrock entry points: two profiles of one model are two deployments
     * (only a given one enters, so that the ids of entries without one stay as they were) */
    what = sllmp_xasprintf("%s|%s|%s|%s|%s%s%s", d->litellm_model, d->api_base ? d->api_base : "",
                           d->api_version ? d->api_version : "", d->aws.region ? d->aws.region : "",
                           khex, d->model_id ? "|" : "", d->model_id ? d->model_id : "");

    sllmp_sha256(what, strlen(what), sha);
    /* the upstream account: where, as whom (not which model), for the responses an upstream
     * keeps, which another deployment of the same account can continue */
    {
        char *acct = sllmp_xasprintf("%s|%s", d->api_base ? d->api_base : "", khex);
        unsigned char asha[32];

        sllmp_sha256(acct, strlen(acct), asha);
        for (int i = 0; i < 8; i++) {
            snprintf(d->account + 2 * i, 3, "%02x", asha[i]);
        }
        free(acct);
    }
    name = sllmp_xasprintf("%s.%02x%02x%02x%02x", d->model_name, sha[0], sha[1], sha[2], sha[3]);
    sllmp_subject_id(d->subject, "dep", name);
    free(name);
    if (d->id == NULL) {
        /* LiteLLM makes its model id from the deployment's parameters too: stable across hosts
         * and restarts, different for two deployments of one group */
        char *all = sllmp_xasprintf("%s|%s", d->model_name, what);

        sllmp_sha256(all, strlen(all), sha);
        d->id = sllmp_xasprintf("%02x%02x%02x%02x%02x%02x%02x%02x", sha[0], sha[1], sha[2], sha[3],
                                sha[4], sha[5], sha[6], sha[7]);
        free(all);
    }
    /* the routing state follows the id, so that model_info.id names it on every host */
    name = sllmp_xasprintf("%s.%s", d->model_name, d->id);
    sllmp_subject_id(d->route_id, "route", name);
    free(name);
    free(what);
}

/* The number of c in s. */
static size_t
count_char(const char *s, char c)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        n += *s == c;
    }
    return n;
}

/*
 * LiteLLM's wildcard routing: a model_name with a '*' (a pattern) serves each name it matches,
 * and the '*' of litellm_params.model stands for what it matched. One '*' each: LiteLLM fills
 * several in order, which makes "a*b*" ambiguous for names with more than one "b"; and a '*' in
 * the model without one in model_name would go upstream as is. 0, or -1 (failed).
 */
static int
wildcard(loader_t *L, yaml_node_t *entry, dep_ud_t *u)
{
    sllmp_deployment_t *d = u->d;
    yaml_node_t *name_node = entry;
    size_t in_name = count_char(d->model_name, '*'), in_model = count_char(d->litellm_model, '*');

    for (yaml_node_pair_t *p = entry->data.mapping.pairs.start; p < entry->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(node(L, p->key));

        if (k != NULL && strcmp(k, "model_name") == 0) {
            name_node = node(L, p->value);
        }
    }
    if (in_name > 1) {
        return fail(L, name_node, "model_name '%s' has more than one '*' (one is supported)",
                    d->model_name);
    }
    if (in_model > 1) {
        return fail(L, u->model_node,
                    "litellm_params.model '%s' has more than one '*' (one is supported)",
                    d->litellm_model);
    }
    if (in_model == 1 && in_name == 0) {
        return fail(L, u->model_node,
                    "litellm_params.model '%s' has a '*' but model_name '%s' has none: nothing "
                    "would stand for it (write model_name: \"%.*s*\", say)",
                    d->litellm_model, d->model_name,
                    (int)(strchr(d->litellm_model, '*') - d->litellm_model), d->litellm_model);
    }
    d->pattern = in_name == 1;
    d->unpriced_flag = &d->unpriced_seen;
    return 0;
}

/* ---------------------------------------------------------------- upstream headers */

#define HEADERS_MAX 32

/* RFC 9110 token characters: what a header name may hold */
#define TOKEN_CHARS "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* Headers libcurl or the HTTP exchange itself own: a config may not set them. */
static const char *const reserved_headers[] = {
    "host", "content-length", "transfer-encoding", "connection",       "expect", "upgrade",
    "te",   "trailer",        "keep-alive",        "proxy-connection", NULL,
};

/* Adds "name: value" to the deployment's headers, replacing an earlier one of that name. The
 * value may be a secret: no message names it. */
static int
header_add(loader_t *L, yaml_node_t *at, dep_ud_t *u, const char *name, const char *value)
{
    static const char *const signed_headers[] = {"authorization",        "content-type",
                                                 "x-amz-date",           "x-amz-security-token",
                                                 "x-amz-content-sha256", NULL};
    sllmp_deployment_t *d = u->d;
    size_t len = strlen(name);
    char *line;

    if (len == 0 || len > 256 || strspn(name, TOKEN_CHARS) != len) {
        return fail(L, at, "model '%s': '%.64s' is not an HTTP header name", d->model_name, name);
    }
    for (const char *const *r = reserved_headers; *r != NULL; r++) {
        if (strcasecmp(name, *r) == 0) {
            return fail(L, at, "model '%s': the %s header is not one a config may set",
                        d->model_name, name);
        }
    }
    for (const char *const *r = signed_headers; u->sigv4 && *r != NULL; r++) {
        if (strcasecmp(name, *r) == 0) {
            return fail(L, at, "model '%s': the %s header is part of the AWS signature",
                        d->model_name, name);
        }
    }
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            return fail(L, at, "model '%s': the value of header %s has a control character",
                        d->model_name, name);
        }
    }
    line = sllmp_xasprintf("%s: %s", name, value);
    for (size_t i = 0; i < d->nheaders; i++) {
        if (strncasecmp(d->headers[i], name, len) == 0 && d->headers[i][len] == ':') {
            sllmp_secret_free(d->headers[i]);
            d->headers[i] = line;
            return 0;
        }
    }
    if (d->nheaders == HEADERS_MAX) {
        sllmp_secret_free(line);
        return fail(L, at, "model '%s' has more than %d upstream headers", d->model_name,
                    HEADERS_MAX);
    }
    d->headers = sllmp_xrealloc(d->headers, (d->nheaders + 2) * sizeof(*d->headers));
    d->headers[d->nheaders++] = line;
    d->headers[d->nheaders] = NULL;
    return 0;
}

/* A header's value from the config (os.environ/ allowed): 0 and *out, 1 when its environment
 * variable is not set (the model is left out, as for api_key), -1. */
static int
header_value(loader_t *L, dep_ud_t *u, yaml_node_t *v, const char *what, char **out)
{
    char *unset = NULL;
    int rc = get_string(L, v, what, out, &unset);

    if (rc == 1) {
        warn(L, v, "environment variable %s is not set: model '%s' is left out", unset,
             u->d->model_name);
        free(unset);
        u->disabled = 1;
        return 1;
    }
    if (rc == 0 && *out == NULL) {
        return fail(L, v, "%s has no value", what);
    }
    return rc;
}

/* The headers of a map of them (litellm_params.headers or extra_headers, named what): 0, 1 when
 * the model is left out (an unset environment variable), -1. */
static int
header_map(loader_t *L, dep_ud_t *u, yaml_node_t *map, const char *what)
{
    char *v = NULL;
    int rc = 0;

    if (map == NULL || is_null(map)) {
        return 0;
    }
    if (want(L, map, YAML_MAPPING_NODE, what) < 0) {
        return -1;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(L, p->key);
        const char *name = scalar(k);

        if (name == NULL) {
            return fail(L, k, "%s: a header name must be a string", what);
        }
        char *field = sllmp_xasprintf("%s.%.64s", what, name);

        rc = header_value(L, u, node(L, p->value), field, &v);
        free(field);
        if (rc == 0) {
            rc = header_add(L, k, u, name, v);
            sllmp_secret_free(v);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* LiteLLM's organization (OpenAI-Organization), azure_ad_token (Azure's Bearer token, when no
 * api key is set, as LiteLLM) and extra_headers, once the provider is known. */
static int
deployment_headers(loader_t *L, dep_ud_t *u)
{
    sllmp_deployment_t *d = u->d;
    char *v = NULL;
    int rc = 0;

    if (u->organization != NULL) {
        if (d->provider != SLLMP_PROVIDER_OPENAI && d->provider != SLLMP_PROVIDER_AZURE) {
            warn(L, u->organization,
                 "litellm_params.organization is for OpenAI and Azure models: model '%s' "
                 "ignores it",
                 d->model_name);
        } else if ((rc = header_value(L, u, u->organization, "litellm_params.organization", &v)) ==
                   0) {
            rc = header_add(L, u->organization, u, "OpenAI-Organization", v);
            sllmp_secret_free(v);
        }
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
    }
    if (u->azure_ad_token != NULL) {
        if (d->provider != SLLMP_PROVIDER_AZURE) {
            warn(L, u->azure_ad_token,
                 "litellm_params.azure_ad_token is for azure/ models: model '%s' ignores it",
                 d->model_name);
        } else if (d->api_key != NULL) {
            warn(L, u->azure_ad_token,
                 "model '%s' has an api key (litellm_params.api_key or AZURE_API_KEY), which is "
                 "sent instead of litellm_params.azure_ad_token, as LiteLLM does",
                 d->model_name);
        } else if ((rc = header_value(L, u, u->azure_ad_token, "litellm_params.azure_ad_token",
                                      &v)) == 0) {
            char *bearer = sllmp_xasprintf("Bearer %s", v);

            rc = header_add(L, u->azure_ad_token, u, "Authorization", bearer);
            sllmp_secret_free(bearer);
            sllmp_secret_free(v);
        }
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
    }
    if (d->provider == SLLMP_PROVIDER_BEDROCK && d->api_key == NULL) {
        u->sigv4 = 1; /* the signed headers are the signature's (header_add) */
    }
    /* as LiteLLM's headers.update(extra_headers): both are sent, extra_headers' value wins */
    rc = header_map(L, u, u->headers, "litellm_params.headers");
    if (rc == 0) {
        rc = header_map(L, u, u->extra_headers, "litellm_params.extra_headers");
    }
    return rc < 0 ? -1 : 0;
}

/* LiteLLM's litellm_params.custom_llm_provider: the provider of a model written without it, put
 * in front of the model unless its first part already names it, as get_llm_provider() does. */
static int
custom_provider(loader_t *L, dep_ud_t *u)
{
    sllmp_deployment_t *d = u->d;
    const char *m = d->litellm_model;
    char *p = NULL;
    size_t plen;

    if (u->custom_provider == NULL) {
        return 0;
    }
    if (get_string(L, u->custom_provider, "litellm_params.custom_llm_provider", &p, NULL) < 0) {
        return -1;
    }
    if (p != NULL && strchr(p, '/') != NULL) {
        free(p);
        return fail(L, u->custom_provider,
                    "litellm_params.custom_llm_provider must be a provider's name (e.g. openai)");
    }
    plen = p != NULL ? strlen(p) : 0;
    if (plen > 0 && !(strncmp(m, p, plen) == 0 && (m[plen] == '/' || m[plen] == '\0'))) {
        char *with = sllmp_xasprintf("%s/%s", p, m);

        free(d->litellm_model);
        d->litellm_model = with;
    }
    free(p);
    return 0;
}

/* One model_list entry into u->d: 0, 1 when it is left out (warned), -1 (failed). */
static int
deployment(loader_t *L, yaml_node_t *entry, dep_ud_t *u)
{
    sllmp_deployment_t *d = u->d;
    yaml_node_t *params = NULL;

    if (want(L, entry, YAML_MAPPING_NODE, "a model_list entry") < 0) {
        return -1;
    }
    d->line = (int)entry->start_mark.line + 1;
    d->file = (int)file_of(L, entry);
    d->mock_delay_ms = 50;
    d->num_retries = -1;
    d->cooldown_ms = -1;
    d->max_parallel = -1; /* not given: router_settings.default_max_parallel_requests' */
    if (each_pair(L, entry, deployment_key, u) < 0) {
        return -1;
    }
    for (yaml_node_pair_t *p = entry->data.mapping.pairs.start; p < entry->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(node(L, p->key));

        if (k != NULL && strcmp(k, "litellm_params") == 0) {
            params = node(L, p->value);
        }
    }
    if (d->model_name == NULL) {
        return fail(L, entry, "model_list entry has no model_name");
    }
    if (params == NULL) {
        return fail(L, entry, "model '%s' has no litellm_params", d->model_name);
    }
    if (want(L, params, YAML_MAPPING_NODE, "litellm_params") < 0 ||
        each_pair(L, params, litellm_param, u) < 0) {
        return -1;
    }
    if (d->litellm_model == NULL) {
        return fail(L, params, "litellm_params of model has no 'model' (e.g. openai/gpt-4o-mini)");
    }
    if (custom_provider(L, u) < 0) {
        return -1;
    }
    if (wildcard(L, entry, u) < 0 || (!u->disabled && split_model(L, u) < 0) ||
        (!u->disabled && deployment_headers(L, u) < 0)) {
        return -1;
    }
    if (u->disabled) {
        return 1;
    }
    size_t same = 0;

    for (size_t i = 0; &L->c->deployments[i] < d; i++) {
        same += strcmp(L->c->deployments[i].model_name, d->model_name) == 0;
    }
    if (same >= SLLMP_GROUP_MAX) {
        /* the router picks among at most that many: the others would never be called */
        return fail(L, entry, "model_name '%s' has more than %d deployments", d->model_name,
                    SLLMP_GROUP_MAX);
    }
    for (size_t i = 0; d->id != NULL && &L->c->deployments[i] < d; i++) {
        const sllmp_deployment_t *o = &L->c->deployments[i];
        char at[1100];

        if (strcmp(o->id, d->id) == 0) {
            return fail(L, entry,
                        "model_info.id '%s' is already the id of the model_list entry at %s", d->id,
                        earlier(L, entry, o->file, o->line, at, sizeof(at)));
        }
    }
    if (responses_api(L, u) < 0) {
        return -1;
    }
    resolve_price(L, u);
    deployment_subject(d);
    d->base_model = u->base_model;
    u->base_model = NULL;
    return 0;
}

static int
model_list(loader_t *L, yaml_node_t *list)
{
    sllmp_conf_t *c = L->c;
    size_t len;

    if (list_len(L, list, "model_list", &len) < 0) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    c->deployments = sllmp_xcalloc(len ? len : 1, sizeof(sllmp_deployment_t));
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        sllmp_deployment_t *d = &c->deployments[c->ndeployments];
        dep_ud_t u = {.d = d, .cost = {-1, -1, -1, -1, -1, -1}};
        int rc = deployment(L, node(L, *it), &u);

        free(u.base_model);
        sllmp_secret_free(u.vertex_credentials);
        free(u.vertex_project);
        free(u.vertex_location);
        if (rc != 0) {
            deployment_free(d);
        }
        if (rc < 0) {
            return -1;
        }
        if (rc > 0) {
            c->ndisabled++;
            continue;
        }
        c->ndeployments++;
    }
    return 0;
}

/* ---------------------------------------------------------------- keys */

/* A YAML node as JSON (plain scalars that look like numbers, booleans or null become those);
 * NULL beyond the limits above, *budget counting the values left. */
static cJSON *
yaml_json(loader_t *L, yaml_node_t *n, int depth, size_t *budget)
{
    if (depth > YAML_JSON_MAX_DEPTH || *budget == 0) {
        return NULL;
    }
    (*budget)--;
    if (n->type == YAML_MAPPING_NODE) {
        cJSON *o = cJSON_CreateObject();

        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const char *k = scalar(node(L, p->key));
            cJSON *v;

            if (k != NULL) {
                if ((v = yaml_json(L, node(L, p->value), depth + 1, budget)) == NULL) {
                    cJSON_Delete(o);
                    return NULL;
                }
                cJSON_AddItemToObject(o, k, v);
            }
        }
        return o;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        cJSON *a = cJSON_CreateArray(), *v;

        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            if ((v = yaml_json(L, node(L, *it), depth + 1, budget)) == NULL) {
                cJSON_Delete(a);
                return NULL;
            }
            cJSON_AddItemToArray(a, v);
        }
        return a;
    }
    const char *s = scalar(n);
    double d;

    if (is_null(n)) {
        return cJSON_CreateNull();
    }
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            return cJSON_CreateBool(s[0] == 't');
        }
        if (whole_number(s, &d)) {
            return cJSON_CreateNumber(d);
        }
    }
    return cJSON_CreateString(s);
}

/* "2027-01-31" or "2027-01-31T12:00:00Z" (UTC) */
static int
parse_time(const char *s, time_t *out)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%d", &tm);
    if (end != NULL && *end == 'T') {
        end = strptime(end + 1, "%H:%M:%S", &tm);
        if (end != NULL && *end == 'Z') {
            end++;
        }
    }
    if (end == NULL || *end != '\0') {
        return -1;
    }
    *out = timegm(&tm);
    return 0;
}

static int
hex_sha256(const char *hex, unsigned char out[32])
{
    if (strlen(hex) != 64) {
        return -1;
    }
    for (int i = 0; i < 32; i++) {
        int hi = sllmp_hexval(hex[2 * i]), lo = sllmp_hexval(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* A budget in USD (what.key names it in the message): 1, or -1 on a bad value. */
static int
get_budget(loader_t *L, yaml_node_t *v, const char *what, const char *key, sllmp_limits_t *lim)
{
    const char *s;
    double usd;

    if (number_text(L, v, key, &s) < 0) {
        return -1;
    }
    if (!whole_number(s, &usd) || !(usd >= 0) || usd > 1e9) {
        return fail(L, v, "%s.%s must be a number of USD", what, key);
    }
    lim->budget_nano = llround(usd * SLLMP_NANO_PER_USD);
    return 1;
}

/* The window a budget resets after: 1, or -1 on a bad value. */
static int
get_budget_period(loader_t *L, yaml_node_t *v, const char *what, const char *key,
                  sllmp_limits_t *lim)
{
    const char *s = scalar(v);
    long period = s ? sllmp_period_parse(s) : -1;

    if (period < 0) {
        return fail(L, v, "%s.%s must be one of 1h, 1d, 7d, 30d (a calendar month), total", what,
                    key);
    }
    lim->budget_period_s = period;
    return 1;
}

/*
 * The limit fields keys, teams and users share: rpm, tpm, max_parallel, budget_usd,
 * budget_period. 1 when key was one of them, 0 when not, -1 on a bad value.
 */
static int
limit_field(loader_t *L, const char *what, const char *key, yaml_node_t *v, sllmp_limits_t *lim)
{
    if (strcmp(key, "rpm") == 0 || strcmp(key, "tpm") == 0 || strcmp(key, "max_parallel") == 0) {
        long *dst = key[0] == 'r' ? &lim->rpm : key[0] == 't' ? &lim->tpm : &lim->parallel;
        char name[64];

        snprintf(name, sizeof(name), "%s.%s", what, key);
        return get_long(L, v, name, 0, 1000000000L, dst) < 0 ? -1 : 1;
    }
    if (strcmp(key, "budget_usd") == 0) {
        return get_budget(L, v, what, key, lim);
    }
    if (strcmp(key, "budget_period") == 0) {
        return get_budget_period(L, v, what, key, lim);
    }
    return 0;
}

static void
limits_init(sllmp_limits_t *lim)
{
    memset(lim, 0, sizeof(*lim));
    lim->budget_nano = -1;
}

typedef struct {
    sllmp_key_t *k;
    int has_secret;
} key_ud_t;

static int
key_field(loader_t *L, const char *key, yaml_node_t *kn, yaml_node_t *v, void *ud)
{
    key_ud_t *u = ud;
    sllmp_key_t *k = u->k;

    if (strcmp(key, "name") == 0) {
        free(k->name);
        k->name = NULL;
        return get_str_required(L, v, "keys[].name", &k->name);
    }
    if (strcmp(key, "key") == 0 || strcmp(key, "key_sha256") == 0) {
        char *secret = NULL;
        int rc;

        if (u->has_secret) {
            return fail(L, kn, "a key has either `key` or `key_sha256`, once");
        }
        if (strcmp(key, "key") == 0) {
            const char *s = scalar(v);

            if (s != NULL && strncmp(s, "os.environ/", 11) != 0 && strstr(s, "${") == NULL) {
                warn(L, v,
                     "keys[].key is written in the file: prefer os.environ/NAME or "
                     "key_sha256 (`sllmp key new` prints one)");
            }
            if (get_str_required(L, v, "keys[].key", &secret) < 0) {
                return -1;
            }
            sllmp_sha256(secret, strlen(secret), k->sha256);
            sllmp_secret_free(secret);
        } else {
            rc = get_str_required(L, v, "keys[].key_sha256", &secret);
            if (rc < 0) {
                return -1;
            }
            rc = hex_sha256(secret, k->sha256);
            free(secret);
            if (rc < 0) {
                return fail(L, v, "keys[].key_sha256 must be 64 hex digits");
            }
        }
        u->has_secret = 1;
        return 0;
    }
    if (strcmp(key, "user") == 0) {
        return get_string(L, v, "keys[].user", &k->user, NULL);
    }
    if (strcmp(key, "team") == 0) {
        return get_string(L, v, "keys[].team", &k->team, NULL);
    }
    if (strcmp(key, "models") == 0) {
        return get_str_list(L, v, "keys[].models", &k->models, &k->nmodels);
    }
    if (strcmp(key, "tags") == 0) {
        return get_tags(L, v, "keys[].tags", &k->tags, &k->ntags);
    }
    if (strcmp(key, "allowed_cache_controls") == 0) {
        str_list_free(&k->cache_controls, &k->ncache_controls);
        return get_str_list(L, v, "keys[].allowed_cache_controls", &k->cache_controls,
                            &k->ncache_controls);
    }
    int lf = limit_field(L, "keys[]", key, v, &k->lim);

    if (lf != 0) {
        return lf < 0 ? -1 : 0;
    }
    if (strcmp(key, "expires") == 0) {
        const char *s = scalar(v);

        if (is_null(v)) {
            return 0;
        }
        if (s == NULL || parse_time(s, &k->expires) < 0) {
            return fail(L, v,
                        "keys[].expires must be a date (2027-01-31) or a UTC time "
                        "(2027-01-31T12:00:00Z)");
        }
        return 0;
    }
    if (strcmp(key, "capture") == 0) {
        return get_capture(L, v, "keys[].capture", &k->capture);
    }
    if (strcmp(key, "metadata") == 0) {
        size_t budget = YAML_JSON_MAX_NODES;
        cJSON *j = yaml_json(L, v, 0, &budget);

        if (j == NULL) {
            return fail(L, v,
                        "keys[].metadata is nested deeper than %d levels or has more than %d "
                        "values (YAML aliases count each time)",
                        YAML_JSON_MAX_DEPTH, YAML_JSON_MAX_NODES);
        }
        free(k->metadata_json);
        k->metadata_json = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        /* LiteLLM keeps a key's tags in its metadata */
        for (yaml_node_pair_t *p = v->type == YAML_MAPPING_NODE ? v->data.mapping.pairs.start
                                                                : NULL;
             p != NULL && p < v->data.mapping.pairs.top; p++) {
            const char *name = scalar(node(L, p->key));

            if (name != NULL && strcmp(name, "tags") == 0 &&
                get_tags(L, node(L, p->value), "keys[].metadata.tags", &k->tags, &k->ntags) < 0) {
                return -1;
            }
        }
        return 0;
    }
    warn(L, kn, "unknown key keys[].%s is ignored", key);
    return 0;
}

static void
key_free(sllmp_key_t *k)
{
    free(k->name);
    free(k->user);
    free(k->team);
    for (size_t i = 0; i < k->nmodels; i++) {
        free(k->models[i]);
    }
    free(k->models);
    str_list_free(&k->tags, &k->ntags);
    str_list_free(&k->cache_controls, &k->ncache_controls);
    free(k->metadata_json);
    explicit_bzero(k->sha256, sizeof(k->sha256));
}

static int
keys_list(loader_t *L, yaml_node_t *list)
{
    sllmp_conf_t *c = L->c;
    size_t len;

    if (list_len(L, list, "keys", &len) < 0) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    c->keys = sllmp_xcalloc(len ? len : 1, sizeof(sllmp_key_t));
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *entry = node(L, *it);
        sllmp_key_t *k = &c->keys[c->nkeys];
        key_ud_t u = {k, 0};

        if (want(L, entry, YAML_MAPPING_NODE, "a keys entry") < 0) {
            return -1;
        }
        k->line = (int)entry->start_mark.line + 1;
        k->file = (int)file_of(L, entry);
        limits_init(&k->lim);
        c->nkeys++; /* counted at once, so a failure below frees what was read */
        if (each_pair(L, entry, key_field, &u) < 0) {
            return -1;
        }
        if (!u.has_secret) {
            return fail(L, entry, "a keys entry needs `key` (os.environ/NAME) or `key_sha256`");
        }
        if (k->name == NULL) {
            k->name = sllmp_xasprintf("key-%zu", c->nkeys);
        }
        for (size_t i = 0; i + 1 < c->nkeys; i++) {
            if (memcmp(c->keys[i].sha256, k->sha256, 32) == 0) {
                return fail(L, entry, "key '%s' is the same key as '%s'", k->name, c->keys[i].name);
            }
            /* limits and spend are counted by name: two keys of one name would share them */
            if (strcmp(c->keys[i].name, k->name) == 0) {
                char at[1100];

                return fail(L, entry,
                            "two keys are named '%s' (%s): names must differ, as limits "
                            "and spend are counted per name",
                            k->name,
                            earlier(L, entry, c->keys[i].file, c->keys[i].line, at, sizeof(at)));
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- teams, users */

typedef struct {
    sllmp_limit_entry_t *e;
    const char *what;
} entry_ud_t;

static int
entry_field(loader_t *L, const char *key, yaml_node_t *kn, yaml_node_t *v, void *ud)
{
    entry_ud_t *u = ud;
    int lf;

    if (strcmp(key, "name") == 0 || strcmp(key, "team_id") == 0 || strcmp(key, "user_id") == 0) {
        char what[64];

        free(u->e->name);
        u->e->name = NULL;
        snprintf(what, sizeof(what), "%s.%s", u->what, key);
        return get_str_required(L, v, what, &u->e->name);
    }
    lf = limit_field(L, u->what, key, v, &u->e->lim);
    if (lf == 0) {
        warn(L, kn, "unknown key %s.%s is ignored", u->what, key);
    }
    return lf < 0 ? -1 : 0;
}

/* `teams:` or `users:`: a list of {name, rpm, tpm, max_parallel, budget_usd, budget_period}. */
static int
entries_list(loader_t *L, yaml_node_t *list, const char *what, sllmp_limit_entry_t **out,
             size_t *count)
{
    char item[32];
    size_t len;

    snprintf(item, sizeof(item), "%s[]", what);
    if (list_len(L, list, what, &len) < 0) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    *out = sllmp_xcalloc(len, sizeof(sllmp_limit_entry_t));
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *n = node(L, *it);
        sllmp_limit_entry_t *e = &(*out)[*count];
        entry_ud_t u = {e, item};

        if (want(L, n, YAML_MAPPING_NODE, item) < 0) {
            return -1;
        }
        e->line = (int)n->start_mark.line + 1;
        limits_init(&e->lim);
        (*count)++; /* counted at once, so a failure below frees what was read */
        if (each_pair(L, n, entry_field, &u) < 0) {
            return -1;
        }
        if (e->name == NULL) {
            return fail(L, n, "a %s entry needs a name", what);
        }
        for (size_t i = 0; i + 1 < *count; i++) {
            if (strcmp((*out)[i].name, e->name) == 0) {
                return fail(L, n, "%s '%s' is listed twice", what, e->name);
            }
        }
    }
    return 0;
}

static void
entries_free(sllmp_limit_entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
    }
    free(e);
}

/* ---------------------------------------------------------------- general_settings */

static int
general_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    (void)ud;
    if (strcmp(key, "master_key") == 0) {
        if (get_string(L, v, "general_settings.master_key", &L->c->master_key, NULL) < 0) {
            return -1;
        }
        if (L->c->master_key != NULL && *L->c->master_key == '\0') {
            return fail(L, v,
                        "general_settings.master_key is empty: remove it to run without a key");
        }
        return 0;
    }
    if (strcmp(key, "max_request_size_mb") == 0) {
        /* LiteLLM's body limit, in MiB (fractions allowed): sllmp.max_body_bytes unless that is
         * given (an oversized body is a 413 here, LiteLLM's a 400) */
        const char *t;
        double mb;

        if (number_text(L, v, "general_settings.max_request_size_mb", &t) < 0) {
            return -1;
        }
        if (!whole_number(t, &mb) || !(mb * 1048576.0 >= 1024) || mb * 1048576.0 > 1073741824.0) {
            return fail(L, v,
                        "general_settings.max_request_size_mb must be a number from 0.001 "
                        "to 1024");
        }
        L->litellm_body = (long)(mb * 1048576.0);
        return 0;
    }
    warn(L, k, "general_settings.%s is not supported by sllmp and is ignored", key);
    return 0;
}

/* ---------------------------------------------------------------- sllmp: */

static int
timeouts_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_timeouts_t *t = ud;
    const long day = 86400000L;

    if (strcmp(key, "connect_ms") == 0) {
        return get_long(L, v, "sllmp.timeouts.connect_ms", 1, 600000, &t->connect_ms);
    }
    if (strcmp(key, "first_byte_ms") == 0) {
        return get_long(L, v, "sllmp.timeouts.first_byte_ms", 1, day, &t->first_byte_ms);
    }
    if (strcmp(key, "idle_ms") == 0) {
        return get_long(L, v, "sllmp.timeouts.idle_ms", 1, day, &t->idle_ms);
    }
    if (strcmp(key, "total_ms") == 0) {
        return get_long(L, v, "sllmp.timeouts.total_ms", 1, day, &t->total_ms);
    }
    warn(L, k, "unknown key sllmp.timeouts.%s is ignored", key);
    return 0;
}

static int
spool_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    (void)ud;
    if (strcmp(key, "dir") == 0) {
        free(L->c->spool_dir);
        L->c->spool_dir = NULL;
        return get_str_required(L, v, "sllmp.spool.dir", &L->c->spool_dir);
    }
    if (strcmp(key, "fsync") == 0) {
        return get_bool(L, v, "sllmp.spool.fsync", &L->c->spool_fsync);
    }
    if (strcmp(key, "max_mb") == 0) {
        return get_long(L, v, "sllmp.spool.max_mb", 1, 1L << 30, &L->c->spool_max_mb);
    }
    warn(L, k, "unknown key sllmp.spool.%s is ignored", key);
    return 0;
}

/* "30d", "12h", "90m", "600s" or a number of seconds, between min_s and max_s. */
static int
get_duration_s(loader_t *L, yaml_node_t *n, const char *what, long min_s, long max_s, long *out)
{
    const char *s = n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
    char *end;
    long v, unit = 1;

    if (s == NULL || *s < '0' || *s > '9') {
        return fail(L, n, "%s must be a duration such as 30d, 12h, 90m or 600s", what);
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (*end != '\0' && end[1] == '\0') {
        unit = *end == 'd' ? 86400 : *end == 'h' ? 3600 : *end == 'm' ? 60 : *end == 's' ? 1 : 0;
        end += unit != 0;
    }
    if (errno != 0 || *end != '\0' || unit == 0) {
        return fail(L, n, "%s must be a duration such as 30d, 12h, 90m or 600s", what);
    }
    if (v > max_s / unit || v * unit < min_s) {
        return fail(L, n, "%s must be between %lds and %ldd", what, min_s, max_s / 86400);
    }
    *out = v * unit;
    return 0;
}

static int
responses_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    (void)ud;
    if (strcmp(key, "store") == 0) {
        return get_bool(L, v, "sllmp.responses.store", &L->c->responses_store);
    }
    if (strcmp(key, "ttl") == 0) {
        return get_duration_s(L, v, "sllmp.responses.ttl", 60, 366L * 86400,
                              &L->c->responses_ttl_s);
    }
    if (strcmp(key, "dir") == 0) {
        free(L->c->responses_dir);
        L->c->responses_dir = NULL;
        return get_str_required(L, v, "sllmp.responses.dir", &L->c->responses_dir);
    }
    if (strcmp(key, "max_mb") == 0) {
        return get_long(L, v, "sllmp.responses.max_mb", 1, 1L << 30, &L->c->responses_max_mb);
    }
    warn(L, k, "unknown key sllmp.responses.%s is ignored", key);
    return 0;
}

/* Langfuse's rule for environments, applied here so a bad one fails at load, not silently. */
static int
valid_environment(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 40 || strncmp(s, "langfuse", 8) == 0) {
        return 0;
    }
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static int
redact_list(loader_t *L, yaml_node_t *v)
{
    sllmp_langfuse_conf_t *lf = &L->c->langfuse;
    yaml_node_item_t *it;
    size_t i = 0;

    if (want(L, v, YAML_SEQUENCE_NODE, "sllmp.langfuse.redact") < 0) {
        return -1;
    }
    if (get_str_list(L, v, "sllmp.langfuse.redact", &lf->redact_src, &lf->nredact) < 0) {
        return -1; /* langfuse_free() frees what the list holds; nothing is compiled yet */
    }
    lf->redact = sllmp_xcalloc(lf->nredact ? lf->nredact : 1, sizeof(regex_t));
    for (it = v->data.sequence.items.start; i < lf->nredact; it++, i++) {
        int rc = regcomp(&lf->redact[i], lf->redact_src[i], REG_EXTENDED);

        if (rc != 0) {
            char why[128];

            regerror(rc, &lf->redact[i], why, sizeof(why));
            /* free what compiled so far; the rest is freed with the conf */
            for (size_t j = i; j < lf->nredact; j++) {
                free(lf->redact_src[j]);
            }
            lf->nredact = i;
            return fail(L, node(L, *it),
                        "sllmp.langfuse.redact: not a POSIX extended regular expression: %s", why);
        }
    }
    return 0;
}

static int
langfuse_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_langfuse_conf_t *lf = &L->c->langfuse;

    (void)ud;
    if (strcmp(key, "host") == 0) {
        L->lf_host_set = 1;
        free(lf->host);
        lf->host = NULL;
        if (get_str_required(L, v, "sllmp.langfuse.host", &lf->host) < 0) {
            return -1;
        }
        if (!is_http_url(lf->host)) {
            return fail(L, v, "sllmp.langfuse.host must start with http:// or https://");
        }
        strip_slashes(lf->host);
        return 0;
    }
    if (strcmp(key, "public_key") == 0) {
        L->lf_public_set = 1;
        free(lf->public_key);
        free(lf->unset_public);
        return get_string(L, v, "sllmp.langfuse.public_key", &lf->public_key, &lf->unset_public) < 0
                   ? -1
                   : 0;
    }
    if (strcmp(key, "secret_key") == 0) {
        L->lf_secret_set = 1;
        sllmp_secret_free(lf->secret_key);
        free(lf->unset_secret);
        return get_string(L, v, "sllmp.langfuse.secret_key", &lf->secret_key, &lf->unset_secret) < 0
                   ? -1
                   : 0;
    }
    if (strcmp(key, "api") == 0) {
        const char *s = scalar(v);

        if (s != NULL && strcmp(s, "otel") == 0) {
            lf->api = SLLMP_LF_OTEL;
        } else if (s != NULL && strcmp(s, "legacy") == 0) {
            lf->api = SLLMP_LF_LEGACY;
        } else {
            return fail(L, v, "sllmp.langfuse.api must be otel or legacy");
        }
        return 0;
    }
    if (strcmp(key, "capture") == 0) {
        L->capture_set = 1;
        return get_capture(L, v, "sllmp.langfuse.capture", &lf->capture);
    }
    if (strcmp(key, "environment") == 0) {
        free(lf->environment);
        if (get_string(L, v, "sllmp.langfuse.environment", &lf->environment, NULL) < 0) {
            return -1;
        }
        if (lf->environment != NULL && !valid_environment(lf->environment)) {
            return fail(L, v,
                        "sllmp.langfuse.environment must be 1-40 characters of a-z, 0-9, - and _, "
                        "not starting with 'langfuse' (Langfuse would file it as 'default')");
        }
        return 0;
    }
    if (strcmp(key, "release") == 0) {
        free(lf->release);
        return get_string(L, v, "sllmp.langfuse.release", &lf->release, NULL);
    }
    if (strcmp(key, "trace_name") == 0) {
        free(lf->trace_name);
        lf->trace_name = NULL;
        return get_str_required(L, v, "sllmp.langfuse.trace_name", &lf->trace_name);
    }
    if (strcmp(key, "redact") == 0) {
        if (lf->redact_src != NULL) {
            return fail(L, k, "sllmp.langfuse.redact is given twice");
        }
        return redact_list(L, v);
    }
    warn(L, k, "unknown key sllmp.langfuse.%s is ignored", key);
    return 0;
}

/* ---------------------------------------------------------------- router */

static const char *const fb_names[SLLMP_FB_NKINDS] = {"fallbacks", "context_window_fallbacks",
                                                      "content_policy_fallbacks"};

/* The keys router_common() reads besides the fallback lists; timeout and request_timeout are
 * one setting. */
static const char *const router_keys[] = {"num_retries",       "retry_after",      "allowed_fails",
                                          "cooldown_time",     "timeout",          "stream_timeout",
                                          "disable_cooldowns", "default_fallbacks"};

/* LiteLLM's Redis of the Router, in loader_t.rs_redis (see router_redis()). */
static const char *const rs_redis_keys[4] = {"redis_host", "redis_port", "redis_password",
                                             "redis_url"};

/* router_common()'s bit for key in loader_t.router_given, or -1 when it reads no such key. */
static int
router_key_bit(const char *key)
{
    size_t nkeys = sizeof(router_keys) / sizeof(router_keys[0]);

    if (strcmp(key, "request_timeout") == 0) {
        key = "timeout";
    }
    for (int i = 0; i < SLLMP_FB_NKINDS; i++) {
        if (strcmp(key, fb_names[i]) == 0) {
            return i;
        }
    }
    for (size_t i = 0; i < nkeys; i++) {
        if (strcmp(key, router_keys[i]) == 0) {
            return SLLMP_FB_NKINDS + (int)i;
        }
    }
    return -1;
}

/*
 * The keys LiteLLM takes under both router_settings and litellm_settings: 1 when key was one
 * (and read), 0 when not, -1 on error. As in LiteLLM, whose Router takes its own arguments over
 * litellm_settings' (`num_retries or litellm.num_retries`), router_settings wins whichever
 * section comes first: litellm_settings' value is still checked, into a scratch copy. The
 * fallback lists are read at the end, once model_list is known.
 */
static int
router_common(loader_t *L, const char *section, const char *key, yaml_node_t *v)
{
    sllmp_router_conf_t scratch, *rc = &L->c->router;
    int bit = router_key_bit(key);
    char what[96];
    int r;

    if (bit < 0) {
        return 0;
    }
    if (strcmp(section, "router_settings") == 0) {
        L->router_given |= 1u << bit;
    } else if (L->router_given & (1u << bit)) {
        memset(&scratch, 0, sizeof(scratch));
        rc = &scratch;
    }
    snprintf(what, sizeof(what), "%s.%s", section, key);
    if (bit < SLLMP_FB_NKINDS) {
        if (rc != &scratch) {
            L->fallbacks[bit] = v;
        }
        return 1;
    }
    if (strcmp(key, "default_fallbacks") == 0) {
        if (rc != &scratch) {
            L->default_fallbacks = v;
        }
        return 1;
    }
    if (strcmp(key, "num_retries") == 0) {
        r = get_long(L, v, what, 0, 10, &rc->num_retries);
    } else if (strcmp(key, "retry_after") == 0) {
        r = get_seconds_ms(L, v, what, 600000L, &rc->retry_after_ms);
    } else if (strcmp(key, "allowed_fails") == 0) {
        r = get_long(L, v, what, 0, 1000000L, &rc->allowed_fails);
    } else if (strcmp(key, "cooldown_time") == 0) {
        r = get_seconds_ms(L, v, what, 3600000L, &rc->cooldown_ms);
    } else if (strcmp(key, "timeout") == 0 || strcmp(key, "request_timeout") == 0) {
        r = get_timeout(L, v, what, &rc->timeout_ms);
    } else if (strcmp(key, "stream_timeout") == 0) {
        r = get_timeout(L, v, what, &rc->stream_timeout_ms);
    } else {
        r = get_bool(L, v, what, &rc->disable_cooldowns);
    }
    return r < 0 ? -1 : 1;
}

/*
 * A model named by a router setting (what): 1 when model_list has it or a pattern of it serves
 * it (one: it must be one model, not a pattern); 0 when it has not but
 * some entries were left out for unset variables (warned: the caller skips it, as the file may
 * be fine on a host with those variables); -1 (failed) otherwise. role: "model", "fallback
 * model".
 */
static int
router_model(loader_t *L, yaml_node_t *n, const char *what, const char *role, const char *name,
             int one)
{
    const sllmp_deployment_t *d = sllmp_conf_find(L->c, name, strlen(name));

    if (one && d != NULL && d->pattern) {
        /* what would its '*' stand for? A fallback or an alias is asked for by its own name */
        return fail(L, n, "%s: %s '%s' is a wildcard pattern, not a model: name one it serves",
                    what, role, name);
    }
    if (d != NULL || sllmp_conf_serving(L->c, name) != NULL) {
        return 1;
    }
    if (!L->c->ndisabled) {
        return fail(L, n, "%s: %s '%s' is not in model_list", what, role, name);
    }
    warn(L, n, "%s: %s '%s' is not in model_list (left out?): skipped", what, role, name);
    return 0;
}

/* The models of one fallback list's `to` (vn) that model_list has, kept in fb (those left out for
 * an unset key variable are skipped); 0, or -1 when one is unknown or a pattern. */
static int
fallback_to(loader_t *L, yaml_node_t *vn, const char *what, sllmp_fallback_t *fb)
{
    size_t keep = 0;

    if (is_null(vn) || get_str_list(L, vn, what, &fb->to, &fb->nto) < 0) {
        return is_null(vn) ? fail(L, vn, "%s: '%s' has no fallback models", what, fb->from) : -1;
    }
    for (size_t i = 0; i < fb->nto; i++) {
        int known = router_model(L, vn, what, "fallback model", fb->to[i], 1);

        if (known < 0) {
            return -1;
        }
        if (known) {
            fb->to[keep++] = fb->to[i];
        } else {
            free(fb->to[i]);
        }
    }
    fb->nto = keep;
    return 0;
}

/* One fallback list: [{from: [to, ...]}, ...] (a single string for `to` is a list of one). Each
 * model named must be in model_list; one left out for an unset key variable is skipped. */
static int
fallback_list(loader_t *L, sllmp_fb_kind_t kind, yaml_node_t *list)
{
    sllmp_router_conf_t *rc = &L->c->router;
    const char *what = fb_names[kind];
    size_t len, pairs = 0;

    if (list_len(L, list, what, &len) < 0) {
        return -1;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start;
         len > 0 && it < list->data.sequence.items.top; it++) {
        yaml_node_t *m = node(L, *it);

        if (want(L, m, YAML_MAPPING_NODE, "a fallbacks entry ({model: [fallback, ...]})") < 0) {
            return -1;
        }
        pairs += (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    }
    rc->fallbacks[kind] = sllmp_xcalloc(pairs ? pairs : 1, sizeof(sllmp_fallback_t));
    for (yaml_node_item_t *it = list->data.sequence.items.start;
         len > 0 && it < list->data.sequence.items.top; it++) {
        yaml_node_t *m = node(L, *it);

        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
             p++) {
            yaml_node_t *kn = node(L, p->key), *vn = node(L, p->value);
            const char *from = scalar(kn);
            sllmp_fallback_t *fb;
            int known;

            if (from == NULL || *from == '\0') {
                return fail(L, kn, "%s: a model name must be a string", what);
            }
            /* "*": LiteLLM's generic entry, for every model without a list of its own */
            known = strcmp(from, "*") == 0 ? 1 : router_model(L, kn, what, "model", from, 0);
            if (known <= 0) {
                if (known < 0) {
                    return -1;
                }
                continue;
            }
            fb = &rc->fallbacks[kind][rc->nfallbacks[kind]++];
            fb->from = sllmp_xstrdup(from);
            if (fallback_to(L, vn, what, fb) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/*
 * LiteLLM's default_fallbacks: [model, ...], the fallbacks of every model without a list of its
 * own. As LiteLLM's Router does, it becomes a last {"*": [...]} entry of `fallbacks` (which wins
 * over a "*" entry written there: the last one counts).
 */
static int
default_fallbacks(loader_t *L, yaml_node_t *list)
{
    sllmp_router_conf_t *rc = &L->c->router;
    size_t n = rc->nfallbacks[SLLMP_FB_GENERIC];
    sllmp_fallback_t *fb;

    if (is_null(list)) {
        return 0;
    }
    rc->fallbacks[SLLMP_FB_GENERIC] =
        sllmp_xrealloc(rc->fallbacks[SLLMP_FB_GENERIC], (n + 1) * sizeof(sllmp_fallback_t));
    fb = &rc->fallbacks[SLLMP_FB_GENERIC][n];
    memset(fb, 0, sizeof(*fb));
    fb->from = sllmp_xstrdup("*");
    rc->nfallbacks[SLLMP_FB_GENERIC]++;
    return fallback_to(L, list, "default_fallbacks", fb);
}

/* One model_group_alias entry: "alias": "model" or "alias": {model: "model", hidden: bool}. */
static int
alias_entry(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_router_conf_t *rc = &L->c->router;
    sllmp_alias_t a = {NULL, NULL, 0};
    yaml_node_t *target = v;
    int known;

    (void)ud;
    if (v->type == YAML_MAPPING_NODE) {
        target = NULL;
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
             p++) {
            const char *f = scalar(node(L, p->key));
            yaml_node_t *fv = node(L, p->value);

            if (f != NULL && strcmp(f, "model") == 0) {
                target = fv;
            } else if (f != NULL && strcmp(f, "hidden") == 0) {
                if (get_bool(L, fv, "router_settings.model_group_alias hidden", &a.hidden) < 0) {
                    return -1;
                }
            } else {
                warn(L, node(L, p->key), "router_settings.model_group_alias: '%s' is ignored",
                     f ? f : "?");
            }
        }
        if (target == NULL) {
            return fail(L, v, "router_settings.model_group_alias: '%s' names no model", key);
        }
    }
    if (get_str_required(L, target, "router_settings.model_group_alias", &a.target) < 0) {
        return -1;
    }
    if (sllmp_conf_find(L->c, key, strlen(key)) != NULL) {
        free(a.target);
        return fail(L, k, "router_settings.model_group_alias: '%s' is a model_name already", key);
    }
    known = router_model(L, target, "router_settings.model_group_alias", "model", a.target, 1);
    if (known <= 0) {
        free(a.target);
        return known;
    }
    a.name = sllmp_xstrdup(key); /* one given twice: each_pair() passes the last only */
    rc->aliases = sllmp_xrealloc(rc->aliases, (rc->naliases + 1) * sizeof(*rc->aliases));
    rc->aliases[rc->naliases++] = a;
    return 0;
}

/* A name of LiteLLM's callback lists: langfuse and langfuse_otel are what sllmp always does,
 * through the spool and `sllmp upload`, prometheus is /metrics, always counting; any other (a
 * logging service, a custom callback's Python path) is warned about by name. */
static int
callback_name(loader_t *L, const char *key, yaml_node_t *n)
{
    const char *name = scalar(n);

    if (name == NULL) {
        return fail(L, n, "litellm_settings.%s must list names, not %s", key, kind(n));
    }
    if (strcmp(name, "langfuse") != 0 && strcmp(name, "langfuse_otel") != 0 &&
        strcmp(name, "prometheus") != 0) {
        warn(L, n, "litellm_settings.%s: '%s' is not supported by sllmp and is ignored", key, name);
    }
    return 0;
}

/* success_callback, failure_callback or callbacks: a list of names (callbacks: one alone too). */
static int
callbacks(loader_t *L, const char *key, yaml_node_t *v)
{
    if (is_null(v)) {
        return 0;
    }
    if (v->type == YAML_SCALAR_NODE) {
        return callback_name(L, key, v);
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        return fail(L, v, "litellm_settings.%s must be a list of names, not %s", key, kind(v));
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        if (callback_name(L, key, node(L, *it)) < 0) {
            return -1;
        }
    }
    return 0;
}

/* LiteLLM's set_verbose (litellm_settings, or the Router's): true is sllmp's debug log level
 * unless sllmp.log_level is given; false is sllmp's own default, which is not verbose. */
static int
set_verbose(loader_t *L, const char *what, yaml_node_t *v)
{
    int on;

    if (get_bool(L, v, what, &on) < 0) {
        return -1;
    }
    L->verbose |= on;
    return 0;
}

static int
litellm_settings_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    (void)ud;
    if (strcmp(key, "turn_off_message_logging") == 0) {
        /* LiteLLM's switch for "no messages in the traces"; sllmp.langfuse.capture wins */
        return get_bool(L, v, "litellm_settings.turn_off_message_logging", &L->logging_off);
    }
    if (strcmp(key, "set_verbose") == 0) {
        return set_verbose(L, "litellm_settings.set_verbose", v);
    }
    if (strcmp(key, "success_callback") == 0 || strcmp(key, "failure_callback") == 0 ||
        strcmp(key, "callbacks") == 0) {
        return callbacks(L, key, v);
    }
    if (strcmp(key, "max_budget") == 0 || strcmp(key, "budget_duration") == 0) {
        /* LiteLLM's budget of the whole proxy: every request counts against it */
        int rc = key[0] == 'm' ? get_budget(L, v, "litellm_settings", key, &L->c->global)
                               : get_budget_period(L, v, "litellm_settings", key, &L->c->global);

        return rc < 0 ? -1 : 0;
    }
    if (strcmp(key, "drop_params") == 0) {
        return drop_params(L, v, "litellm_settings.drop_params");
    }
    if (strcmp(key, "cache") == 0 || strcmp(key, "cache_params") == 0) {
        *(key[5] == '\0' ? &L->cache_on : &L->cache_params) = v;
        return 0;
    }
    int rc = router_common(L, "litellm_settings", key, v);

    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }
    warn(L, k, "litellm_settings.%s is not supported by sllmp and is ignored", key);
    return 0;
}

/* LiteLLM's RetryPolicy fields, by sllmp_retry_class_t. */
static const char *const retry_names[SLLMP_RETRY_NCLASSES] = {
    "BadRequestErrorRetries", "AuthenticationErrorRetries",         "TimeoutErrorRetries",
    "RateLimitErrorRetries",  "ContentPolicyViolationErrorRetries", "InternalServerErrorRetries"};

/* The same classes in LiteLLM's AllowedFailsPolicy (router_settings.allowed_fails_policy). */
static const char *const fails_names[SLLMP_RETRY_NCLASSES] = {
    "BadRequestErrorAllowedFails",
    "AuthenticationErrorAllowedFails",
    "TimeoutErrorAllowedFails",
    "RateLimitErrorAllowedFails",
    "ContentPolicyViolationErrorAllowedFails",
    "InternalServerErrorAllowedFails"};

typedef struct {
    sllmp_retry_policy_t *policy;
    const char *what;         /* "router_settings.retry_policy", ... */
    const char *const *names; /* retry_names or fails_names */
    long max;                 /* of a value */
} policy_ud_t;

/* One field of a RetryPolicy (its retries) or of an AllowedFailsPolicy (null: not given). */
static int
policy_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    policy_ud_t *u = ud;
    char what[512];

    for (int i = 0; i < SLLMP_RETRY_NCLASSES; i++) {
        if (strcmp(key, u->names[i]) == 0) {
            snprintf(what, sizeof(what), "%s.%s", u->what, key);
            u->policy->retries[i] = -1;
            if (u->names == fails_names &&
                (i == SLLMP_RETRY_BAD_REQUEST || i == SLLMP_RETRY_CONTENT_POLICY)) {
                warn(L, k,
                     "%s has no effect: a 400 never cools a deployment down, in LiteLLM "
                     "either",
                     what);
            }
            return is_null(v) ? 0 : get_long(L, v, what, 0, u->max, &u->policy->retries[i]);
        }
    }
    warn(L, k, "%s.%s is not supported by sllmp and is ignored", u->what, key);
    return 0;
}

/* A RetryPolicy mapping into *p (every class not given: -1). */
static int
retry_policy(loader_t *L, yaml_node_t *v, const char *what, sllmp_retry_policy_t *p)
{
    policy_ud_t u = {p, what, retry_names, 10};

    for (int i = 0; i < SLLMP_RETRY_NCLASSES; i++) {
        p->retries[i] = -1;
    }
    return submap(L, v, what, policy_key, &u);
}

/* One entry of model_group_retry_policy: {group: RetryPolicy}. A group no model_list entry
 * (nor alias, nor pattern) serves is warned about: no request would ever use it. */
static int
group_policy(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_router_conf_t *rc = &L->c->router;
    sllmp_group_policy_t *g;
    char what[512];

    (void)ud;
    snprintf(what, sizeof(what), "router_settings.model_group_retry_policy.%s", key);
    rc->group_policies =
        sllmp_xrealloc(rc->group_policies, (rc->ngroup_policies + 1) * sizeof(*rc->group_policies));
    g = &rc->group_policies[rc->ngroup_policies++];
    g->group = sllmp_xstrdup(key);
    if (retry_policy(L, v, what, &g->policy) < 0) {
        return -1;
    }
    if (sllmp_conf_route_name(L->c, key) == NULL) {
        warn(L, k, "router_settings.model_group_retry_policy: '%s' is not a model in model_list",
             key);
    }
    return 0;
}

/* One request parameter of router_settings.default_litellm_params (a scratch deployment's
 * defaults hold them while they are read). */
static int
router_default(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_deployment_t scratch;
    int got;

    (void)ud;
    memset(&scratch, 0, sizeof(scratch));
    scratch.defaults = L->rdefaults;
    got = dep_default(L, &scratch, "router_settings.default_litellm_params", key, v);
    L->rdefaults = scratch.defaults;
    if (got == 0) {
        warn(L, k,
             "router_settings.default_litellm_params.%s is not supported by sllmp and is "
             "ignored",
             key);
    }
    return got < 0 ? -1 : 0;
}

static int
router_settings_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_router_conf_t *rc = &L->c->router;
    int got;

    (void)ud;
    if (strcmp(key, "routing_strategy") == 0) {
        const char *s = scalar(v);

        if (s != NULL && strcmp(s, "simple-shuffle") == 0) {
            rc->strategy = SLLMP_STRATEGY_SHUFFLE;
        } else if (s != NULL && strcmp(s, "least-busy") == 0) {
            rc->strategy = SLLMP_STRATEGY_LEAST_BUSY;
        } else if (s != NULL && strcmp(s, "latency-based-routing") == 0) {
            rc->strategy = SLLMP_STRATEGY_LATENCY;
        } else if (s != NULL && (strcmp(s, "usage-based-routing") == 0 ||
                                 strcmp(s, "usage-based-routing-v2") == 0 ||
                                 strcmp(s, "cost-based-routing") == 0)) {
            warn(L, v,
                 "router_settings.routing_strategy %s is not supported by sllmp: "
                 "simple-shuffle is used (deployment rpm/tpm limits still apply)",
                 s);
            rc->strategy = SLLMP_STRATEGY_SHUFFLE;
        } else {
            return fail(L, v,
                        "router_settings.routing_strategy must be one of simple-shuffle, "
                        "least-busy, latency-based-routing");
        }
        return 0;
    }
    if (strcmp(key, "model_group_alias") == 0) {
        L->aliases = v;
        return 0;
    }
    if (strcmp(key, "set_verbose") == 0) {
        return set_verbose(L, "router_settings.set_verbose", v);
    }
    if (strcmp(key, "retry_policy") == 0) {
        rc->has_policy = !is_null(v);
        return retry_policy(L, v, "router_settings.retry_policy", &rc->policy);
    }
    if (strcmp(key, "model_group_retry_policy") == 0) {
        L->group_policy = v; /* read once model_list is known */
        return 0;
    }
    if (strcmp(key, "allowed_fails_policy") == 0) {
        policy_ud_t u = {&rc->fails_policy, "router_settings.allowed_fails_policy", fails_names,
                         1000000L};

        rc->has_fails_policy = !is_null(v);
        for (int i = 0; i < SLLMP_RETRY_NCLASSES; i++) {
            rc->fails_policy.retries[i] = -1;
        }
        return submap(L, v, u.what, policy_key, &u);
    }
    if (strcmp(key, "default_litellm_params") == 0) {
        return is_null(v)
                   ? 0
                   : submap(L, v, "router_settings.default_litellm_params", router_default, NULL);
    }
    if (strcmp(key, "enable_tag_filtering") == 0) {
        return is_null(v)
                   ? 0
                   : get_bool(L, v, "router_settings.enable_tag_filtering", &rc->tag_filtering);
    }
    if (strcmp(key, "tag_filtering_match_any") == 0) {
        int any = 1;

        if (!is_null(v) && get_bool(L, v, "router_settings.tag_filtering_match_any", &any) < 0) {
            return -1;
        }
        rc->tag_match_all = !any;
        return 0;
    }
    if (strcmp(key, "default_max_parallel_requests") == 0) {
        return is_null(v) ? 0
                          : get_long(L, v, "router_settings.default_max_parallel_requests", 0,
                                     1000000L, &L->default_parallel);
    }
    got = router_common(L, "router_settings", key, v);
    if (got != 0) {
        return got < 0 ? -1 : 0;
    }
    for (int i = 0; i < 4; i++) {
        if (strcmp(key, rs_redis_keys[i]) == 0) {
            L->rs_redis[i] = v; /* read at the end: sllmp.redis.url may come later */
            return 0;
        }
    }
    warn(L, k, "router_settings.%s is not supported by sllmp and is ignored", key);
    return 0;
}

/*
 * router_settings.default_litellm_params: the request defaults of each deployment that does not
 * give that parameter itself (extra_body: an OpenAI-compatible one's only, whole). A deployment's
 * own litellm_params win: LiteLLM's Router merges these into the call's arguments, over the
 * deployment's (its code says it meant the deployment's to win); a default is what a deployment
 * has not said, and a deployment's own value is what its entry is for.
 */
static void
router_defaults(loader_t *L)
{
    for (size_t i = 0; L->rdefaults != NULL && i < L->c->ndeployments; i++) {
        sllmp_deployment_t *d = &L->c->deployments[i];
        const cJSON *e;

        cJSON_ArrayForEach(e, L->rdefaults)
        {
            /* max_tokens and max_completion_tokens are one limit: the deployment's either one */
            int limit = strcmp(e->string, "max_tokens") == 0 ||
                        strcmp(e->string, "max_completion_tokens") == 0;

            if (cJSON_HasObjectItem(d->defaults, e->string) ||
                (limit && (cJSON_HasObjectItem(d->defaults, "max_tokens") ||
                           cJSON_HasObjectItem(d->defaults, "max_completion_tokens"))) ||
                (strcmp(e->string, "extra_body") == 0 && d->provider != SLLMP_PROVIDER_OPENAI &&
                 d->provider != SLLMP_PROVIDER_AZURE)) {
                continue;
            }
            if (d->defaults == NULL) {
                d->defaults = cJSON_CreateObject();
            }
            cJSON_AddItemToObject(d->defaults, e->string, cJSON_Duplicate(e, 1));
        }
    }
}

/*
 * router_settings.default_max_parallel_requests: the max_parallel_requests of each deployment
 * that gives none, as LiteLLM's Router sizes its semaphore (calculate_max_parallel_requests):
 * a deployment's own max_parallel_requests first (0: no limit), else its rpm or tpm (which
 * LiteLLM makes the limit; sllmp limits those by the minute instead), else the default.
 */
static void
default_parallel(loader_t *L)
{
    for (size_t i = 0; i < L->c->ndeployments; i++) {
        sllmp_deployment_t *d = &L->c->deployments[i];

        if (d->max_parallel < 0) {
            d->max_parallel = d->rpm > 0 || d->tpm > 0 ? 0 : L->default_parallel;
        }
    }
}

static int on_error(loader_t *L, yaml_node_t *v);

/*
 * A Redis LiteLLM would connect to, from its settings: nodes are the url, host, port and
 * password (any NULL) under `section` (names: what it calls them). Unless sllmp.redis.url names
 * one, it becomes the pool's (the routing state, the limits and the cache then live there). A
 * variable that is not set leaves it out, as LiteLLM then has none (warned, with `otherwise`:
 * what the gateway does instead); rediss:// (TLS) is not supported here (warned too).
 */
static int
redis_from(loader_t *L, const char *section, const char *const names[4],
           yaml_node_t *const nodes[4], const char *otherwise)
{
    yaml_node_t *url = nodes[0], *host = nodes[1], *port = nodes[2], *pw = nodes[3],
                *given = url != NULL ? url : host;
    const char *name = names[url != NULL ? 0 : 1];
    char *h = NULL, *pass = NULL, *unset = NULL, what[96];
    long portn = 6379;
    int rc;

    if (given == NULL || is_null(given)) {
        if (port != NULL || pw != NULL) {
            warn(L, port != NULL ? port : pw, "%s.%s and %s are ignored without %s", section,
                 names[2], names[3], names[1]);
        }
        return 0;
    }
    if (L->c->redis_url != NULL) {
        warn(L, given, "%s.%s is ignored: sllmp.redis.url is set", section, name);
        return 0;
    }
    snprintf(what, sizeof(what), "%s.%s", section, name);
    rc = get_string(L, given, what, &h, &unset);
    if (rc < 0) {
        return -1;
    }
    if (rc > 0 || h == NULL || *h == '\0') {
        if (unset != NULL) {
            warn(L, given, "%s: environment variable %s is not set: %s", what, unset, otherwise);
        } else {
            warn(L, given, "%s is empty: %s", what, otherwise);
        }
        free(unset);
        free(h);
        return 0;
    }
    if (url != NULL) {
        if (strncmp(h, "rediss://", 9) == 0) {
            warn(L, url, "%s: rediss:// (TLS) is not supported: %s", what, otherwise);
            free(h);
            return 0;
        }
        if (strncmp(h, "redis://", 8) != 0 && strncmp(h, "unix://", 7) != 0) {
            free(h);
            return fail(L, url, "%s must start with redis:// or unix://", what);
        }
        L->c->redis_url = h;
        return 0;
    }
    snprintf(what, sizeof(what), "%s.%s", section, names[2]);
    if (port != NULL && get_long(L, port, what, 1, 65535, &portn) < 0) {
        free(h);
        return -1;
    }
    if (pw != NULL) {
        snprintf(what, sizeof(what), "%s.%s", section, names[3]);
        if (get_string(L, pw, what, &pass, &unset) < 0) {
            free(h);
            return -1;
        }
        if (unset != NULL) {
            warn(L, pw, "%s: environment variable %s is not set: no password is sent", what, unset);
            free(unset);
        }
    }
    /* the URL's parser takes the password as it is, up to the host's '@' (no %-escapes) */
    L->c->redis_url = pass != NULL && *pass != '\0'
                          ? sllmp_xasprintf("redis://:%s@%s:%ld/0", pass, h, portn)
                          : sllmp_xasprintf("redis://%s:%ld/0", h, portn);
    sllmp_secret_free(pass);
    free(h);
    return 0;
}

/* LiteLLM's router_settings.redis_url, or redis_host, redis_port and redis_password: the Redis
 * its Router instances share their state through. */
static int
router_redis(loader_t *L)
{
    static const char *const names[4] = {"redis_url", "redis_host", "redis_port", "redis_password"};
    yaml_node_t *const nodes[4] = {L->rs_redis[3], L->rs_redis[0], L->rs_redis[1], L->rs_redis[2]};

    return redis_from(L, "router_settings", names, nodes,
                      "the pool keeps its routing state in the local file");
}

/* ---------------------------------------------------------------- the response cache */

/* sllmp.cache: where the files of a cache in files go, and their quota. */
static int
sllmp_cache_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    (void)ud;
    if (strcmp(key, "dir") == 0) {
        free(L->c->cache.dir);
        L->c->cache.dir = NULL;
        return get_str_required(L, v, "sllmp.cache.dir", &L->c->cache.dir);
    }
    if (strcmp(key, "max_mb") == 0) {
        return get_long(L, v, "sllmp.cache.max_mb", 1, 1L << 30, &L->c->cache.max_mb);
    }
    warn(L, k, "unknown key sllmp.cache.%s is ignored", key);
    return 0;
}

/* A cache TTL: seconds (fractions round up), from 1 to a year. */
static int
cache_ttl(loader_t *L, yaml_node_t *n, const char *what, long *out)
{
    const char *s;
    double v;

    if (number_text(L, n, what, &s) < 0) {
        return -1;
    }
    if (!whole_number(s, &v) || !(v > 0) || v > 366.0 * 86400) {
        return fail(L, n, "%s must be a number of seconds, more than 0 and at most a year", what);
    }
    *out = (long)v + (v > (double)(long)v);
    return 0;
}

/* cache_params.supported_call_types: LiteLLM's names of the calls it caches (the proxy makes
 * the async ones), mapped to the front doors. */
static int
cache_call_types(loader_t *L, yaml_node_t *v, unsigned *kinds)
{
    static const struct {
        const char *name;
        unsigned kind;
    } map[] = {{"acompletion", SLLMP_CACHE_CHAT},
               {"completion", SLLMP_CACHE_CHAT},
               {"atext_completion", SLLMP_CACHE_COMPLETIONS},
               {"text_completion", SLLMP_CACHE_COMPLETIONS},
               {"aembedding", SLLMP_CACHE_EMBEDDINGS},
               {"embedding", SLLMP_CACHE_EMBEDDINGS}};
    const char *what = "litellm_settings.cache_params.supported_call_types";
    size_t n;

    if (list_len(L, v, what, &n) < 0) {
        return -1;
    }
    *kinds = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = node(L, v->data.sequence.items.start[i]);
        const char *name = scalar(e);
        size_t j = 0;

        if (name == NULL || is_null(e)) {
            return fail(L, e, "%s must list names, not %s", what, kind(e));
        }
        while (j < sizeof(map) / sizeof(map[0]) && strcmp(map[j].name, name) != 0) {
            j++;
        }
        if (j == sizeof(map) / sizeof(map[0])) {
            warn(L, e, "%s: sllmp caches no '%s' (only chat, text completions and embeddings)",
                 what, name);
        } else {
            *kinds |= map[j].kind;
        }
    }
    return 0;
}

/* What cache_params says that cache_settings() settles once all of it is read. */
typedef struct {
    yaml_node_t *redis[4]; /* url, host, port, password */
    long ttl;              /* ttl, 0 when not given */
    long type_ttl;         /* the type's own default_in_redis_ttl or default_in_memory_ttl */
} cache_read_t;

/* One setting of cache_params: into c->cache, or the cache_read_t at ud. */
static int
cache_param(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    static const char *const redis_keys[4] = {"url", "host", "port", "password"};
    static const char *const ignored[] = {"max_connections",
                                          "socket_timeout",
                                          "socket_connect_timeout",
                                          "username",
                                          "db",
                                          "redis_flush_size",
                                          "max_size_in_memory",
                                          "max_size_per_item",
                                          "similarity_threshold",
                                          "ssl",
                                          "ssl_cert_reqs",
                                          "ssl_check_hostname",
                                          "service_name",
                                          "namespace_prefix"};
    cache_read_t *rd = ud;
    sllmp_cache_conf_t *cc = &L->c->cache;
    char what[96];
    long scratch;

    snprintf(what, sizeof(what), "litellm_settings.cache_params.%s", key);
    if (strcmp(key, "type") == 0) {
        return 0; /* read first, by cache_settings() */
    }
    for (int i = 0; i < 4; i++) {
        if (strcmp(key, redis_keys[i]) == 0) {
            rd->redis[i] = v;
            return 0;
        }
    }
    if (strcmp(key, "ttl") == 0) {
        return cache_ttl(L, v, what, &rd->ttl);
    }
    if (strcmp(key, "default_in_redis_ttl") == 0 || strcmp(key, "default_in_memory_ttl") == 0) {
        /* the type's own default wins over ttl, as in LiteLLM; another type's is only checked */
        int mine =
            key[11] == 'r' ? cc->type == SLLMP_CACHE_REDIS : strcmp(cc->type_name, "local") == 0;

        return cache_ttl(L, v, what, mine ? &rd->type_ttl : &scratch);
    }
    if (strcmp(key, "namespace") == 0) {
        free(cc->ns);
        if (get_string(L, v, what, &cc->ns, NULL) < 0) {
            return -1;
        }
        if (cc->ns != NULL && *cc->ns == '\0') { /* none, as the requests read it */
            free(cc->ns);
            cc->ns = NULL;
        }
        return 0;
    }
    if (strcmp(key, "mode") == 0) {
        const char *m = scalar(v);

        if (m == NULL || (strcmp(m, "default_on") != 0 && strcmp(m, "default_off") != 0)) {
            return fail(L, v, "%s must be default_on or default_off", what);
        }
        cc->default_off = strcmp(m, "default_off") == 0;
        return 0;
    }
    if (strcmp(key, "supported_call_types") == 0) {
        return cache_call_types(L, v, &cc->kinds);
    }
    if (strcmp(key, "disk_cache_dir") == 0) {
        if (cc->dir == NULL) { /* sllmp.cache.dir wins */
            return get_str_required(L, v, what, &cc->dir);
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        if (strcmp(key, ignored[i]) == 0) {
            return 0; /* a client setting of LiteLLM's that the gateway has its own of */
        }
    }
    warn(L, k, "%s is not supported by sllmp and is ignored", what);
    return 0;
}

/* The Redis LiteLLM reads from the environment when its settings name none: REDIS_URL, else
 * REDIS_HOST, REDIS_PORT, REDIS_PASSWORD. */
static void
cache_env_redis(loader_t *L)
{
    const char *url = env_lookup(L, "REDIS_URL", 9), *host = env_lookup(L, "REDIS_HOST", 10);
    const char *port = env_lookup(L, "REDIS_PORT", 10), *pw = env_lookup(L, "REDIS_PASSWORD", 14);
    long portn = 6379;

    if (url != NULL && (strncmp(url, "redis://", 8) == 0 || strncmp(url, "unix://", 7) == 0)) {
        L->c->redis_url = sllmp_xstrdup(url);
    } else if (url == NULL && host != NULL && *host != '\0' &&
               (port == NULL ||
                (sllmp_parse_long(port, &portn) == 0 && portn > 0 && portn <= 65535))) {
        L->c->redis_url = pw != NULL && *pw != '\0'
                              ? sllmp_xasprintf("redis://:%s@%s:%ld/0", pw, host, portn)
                              : sllmp_xasprintf("redis://%s:%ld/0", host, portn);
    }
}

/*
 * litellm_settings.cache and cache_params, once the rest is read (the Redis may come from
 * router_settings or sllmp.redis). LiteLLM's types: redis (the gateway's one Redis: the one it
 * has, else the one cache_params or REDIS_* name, which then holds the limits too), local and
 * disk (files under sllmp.cache.dir, shared by the pool: a cache per process would miss most of
 * the time in a pool). The others (s3, gcs, semantic caches) are warned about and cached
 * exactly, in Redis for the Redis-based ones, else in files.
 */
static void
cache_settings(loader_t *L)
{
    static const char *const redis_names[4] = {"url", "host", "port", "password"};
    sllmp_cache_conf_t *cc = &L->c->cache;
    yaml_node_t *params = L->cache_params, *type = NULL;
    cache_read_t rd = {{NULL}, 0, 0};
    yaml_node_t **redis = rd.redis;
    const char *t;
    int on = 0;

    if (L->cache_on != NULL && get_bool(L, L->cache_on, "litellm_settings.cache", &on) < 0) {
        return;
    }
    if (!on) {
        if (params != NULL && !is_null(params)) {
            warn(L, params,
                 "litellm_settings.cache_params is ignored: litellm_settings.cache "
                 "is not true");
        }
        return;
    }
    if (params != NULL && !is_null(params) &&
        want(L, params, YAML_MAPPING_NODE, "litellm_settings.cache_params") < 0) {
        return;
    }
    if (params != NULL && !is_null(params)) {
        for (yaml_node_pair_t *p = params->data.mapping.pairs.start;
             p < params->data.mapping.pairs.top; p++) {
            const char *k = scalar(node(L, p->key));

            if (k != NULL && strcmp(k, "type") == 0) {
                type = node(L, p->value);
            }
        }
    }
    /* LiteLLM: cache on with no cache_params is Redis; cache_params without a type, in memory */
    t = type != NULL ? scalar(type) : params != NULL && !is_null(params) ? "local" : "redis";
    if (t == NULL || *t == '\0') {
        fail(L, type, "litellm_settings.cache_params.type must be a string, not %s", kind(type));
        return;
    }
    if (strcmp(t, "redis") == 0 || strcmp(t, "redis-semantic") == 0 ||
        strcmp(t, "valkey-semantic") == 0) {
        cc->type = SLLMP_CACHE_REDIS;
        cc->type_name = "redis";
    } else {
        cc->type = SLLMP_CACHE_FILES;
        cc->type_name = strcmp(t, "disk") == 0 ? "disk" : "local";
    }
    if (strcmp(t, "redis") != 0 && strcmp(t, "local") != 0 && strcmp(t, "disk") != 0) {
        static const char *const known[] = {
            "redis-semantic", "valkey-semantic", "qdrant-semantic", "s3", "gcs", "azure-blob"};
        size_t i = 0;

        while (i < sizeof(known) / sizeof(known[0]) && strcmp(known[i], t) != 0) {
            i++;
        }
        if (i == sizeof(known) / sizeof(known[0])) {
            fail(L, type,
                 "litellm_settings.cache_params.type must be redis, local or disk, not "
                 "'%s'",
                 t);
            return;
        }
        warn(L, type,
             "litellm_settings.cache_params.type %s is not supported by sllmp: answers are "
             "cached by exact match, in %s",
             t, cc->type == SLLMP_CACHE_REDIS ? "Redis" : "files");
    }
    cc->kinds = SLLMP_CACHE_CHAT | SLLMP_CACHE_COMPLETIONS | SLLMP_CACHE_EMBEDDINGS;
    if (params != NULL && !is_null(params) &&
        submap(L, params, "litellm_settings.cache_params", cache_param, &rd) < 0) {
        return;
    }
    /* LiteLLM's defaults: a minute in Redis, ten minutes in memory */
    cc->ttl_s = rd.type_ttl > 0                 ? rd.type_ttl
                : rd.ttl > 0                    ? rd.ttl
                : cc->type == SLLMP_CACHE_REDIS ? 60
                                                : 600;
    if (cc->type == SLLMP_CACHE_REDIS && L->c->redis_url == NULL) {
        if (redis_from(L, "litellm_settings.cache_params", redis_names, redis,
                       "answers are cached in files") < 0) {
            return;
        }
        if (L->c->redis_url == NULL && redis[0] == NULL && redis[1] == NULL) {
            cache_env_redis(L);
        }
    } else if (cc->type == SLLMP_CACHE_REDIS && (redis[0] != NULL || redis[1] != NULL)) {
        warn(L, redis[0] != NULL ? redis[0] : redis[1],
             "litellm_settings.cache_params.%s is ignored: the cache is in the gateway's Redis",
             redis[0] != NULL ? "url" : "host");
    }
    if (cc->type == SLLMP_CACHE_REDIS &&
        (L->c->redis_url == NULL || L->c->limits_backend == SLLMP_BACKEND_LOCAL)) {
        warn(L, type != NULL ? type : L->cache_on,
             "litellm_settings.cache: %s: answers are cached in files, on this host only",
             L->c->redis_url == NULL ? "no Redis is configured (sllmp.redis.url, "
                                       "cache_params.host or REDIS_HOST)"
                                     : "sllmp.limits.backend is local");
        cc->type = SLLMP_CACHE_FILES;
    }
}

static int
redis_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    (void)ud;
    if (strcmp(key, "url") == 0) {
        if (get_string(L, v, "sllmp.redis.url", &L->c->redis_url, NULL) < 0) {
            return -1;
        }
        if (L->c->redis_url != NULL && strncmp(L->c->redis_url, "redis://", 8) != 0 &&
            strncmp(L->c->redis_url, "unix://", 7) != 0) {
            return fail(L, v, "sllmp.redis.url must start with redis:// or unix://");
        }
        return 0;
    }
    if (strcmp(key, "timeout_ms") == 0) {
        return get_long(L, v, "sllmp.redis.timeout_ms", 1, 60000, &L->c->redis_timeout_ms);
    }
    if (strcmp(key, "connect_timeout_ms") == 0) {
        return get_long(L, v, "sllmp.redis.connect_timeout_ms", 1, 60000,
                        &L->c->redis_connect_timeout_ms);
    }
    if (strcmp(key, "on_error") == 0) {
        return on_error(L, v);
    }
    warn(L, k, "unknown key sllmp.redis.%s is ignored", key);
    return 0;
}

static const char *const limit_kinds[SLLMP_LIM_NKINDS] = {"rpm", "tpm", "parallel", "budget"};

static int
policy(loader_t *L, yaml_node_t *v, const char *what, int *closed)
{
    const char *s = scalar(v);

    if (s != NULL && strcmp(s, "open") == 0) {
        *closed = 0;
    } else if (s != NULL && strcmp(s, "closed") == 0) {
        *closed = 1;
    } else {
        return fail(L, v, "%s must be open or closed", what);
    }
    return 0;
}

static int
on_error_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    (void)ud;
    for (int i = 0; i < SLLMP_LIM_NKINDS; i++) {
        if (strcmp(key, limit_kinds[i]) == 0) {
            return policy(L, v, "sllmp.redis.on_error values", &L->c->fail_closed[i]);
        }
    }
    return fail(L, k, "sllmp.redis.on_error takes rpm, tpm, parallel and budget, not '%s'", key);
}

/* `on_error: open|closed` for every kind, or a map {rpm: open, ..., budget: closed}. */
static int
on_error(loader_t *L, yaml_node_t *v)
{
    int closed;

    if (v->type == YAML_MAPPING_NODE) {
        return each_pair(L, v, on_error_key, NULL);
    }
    if (policy(L, v, "sllmp.redis.on_error", &closed) < 0) {
        return -1;
    }
    for (int i = 0; i < SLLMP_LIM_NKINDS; i++) {
        L->c->fail_closed[i] = closed;
    }
    return 0;
}

static int
limits_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_conf_t *c = L->c;

    (void)ud;
    if (strcmp(key, "backend") == 0) {
        const char *s = scalar(v);

        if (s != NULL && strcmp(s, "auto") == 0) {
            c->limits_backend = SLLMP_BACKEND_AUTO;
        } else if (s != NULL && strcmp(s, "redis") == 0) {
            c->limits_backend = SLLMP_BACKEND_REDIS;
        } else if (s != NULL && strcmp(s, "local") == 0) {
            c->limits_backend = SLLMP_BACKEND_LOCAL;
        } else {
            return fail(L, v, "sllmp.limits.backend must be auto, redis or local");
        }
        return 0;
    }
    if (strcmp(key, "local_file") == 0) {
        free(c->limits_file);
        c->limits_file = NULL;
        return get_str_required(L, v, "sllmp.limits.local_file", &c->limits_file);
    }
    if (strcmp(key, "lease_ms") == 0) {
        /* renewed every lease/3 by a check that runs every 200 ms: a second at least */
        return get_long(L, v, "sllmp.limits.lease_ms", 1000, 86400000L, &c->lease_ms);
    }
    if (strcmp(key, "reserve_max_tokens") == 0) {
        return get_long(L, v, "sllmp.limits.reserve_max_tokens", 1, 10000000L,
                        &c->reserve_max_tokens);
    }
    warn(L, k, "unknown key sllmp.limits.%s is ignored", key);
    return 0;
}

static int
cors_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    (void)ud;
    if (strcmp(key, "origins") == 0) {
        return get_str_list(L, v, "sllmp.cors.origins", &L->c->cors_origins, &L->c->ncors_origins);
    }
    warn(L, k, "unknown key sllmp.cors.%s is ignored", key);
    return 0;
}

/* sllmp.anthropic_betas.<host>: flag: its name there, or null for not passed. */
static int
betas_flag(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_conf_t *c = L->c;
    const sllmp_beta_host_t *host = ud;
    const char *to = is_null(v) ? NULL : scalar(v);
    sllmp_beta_rule_t *b;

    if (!sllmp_beta_flag_plain(key, strlen(key))) {
        return fail(L, k,
                    "sllmp.anthropic_betas: '%.100s' is not a beta flag (letters, digits, "
                    "'-', '_' and '.')",
                    key);
    }
    if (!is_null(v) && (to == NULL || !sllmp_beta_flag_plain(to, strlen(to)))) {
        return fail(L, v,
                    "sllmp.anthropic_betas: %s must be the flag's name on the host, or null "
                    "to hold it back",
                    key);
    }
    c->betas = sllmp_xrealloc(c->betas, (c->nbetas + 1) * sizeof(*c->betas));
    b = &c->betas[c->nbetas++];
    b->host = *host;
    b->flag = sllmp_xstrdup(key);
    b->to = to != NULL ? sllmp_xstrdup(to) : NULL;
    return 0;
}

/* sllmp.anthropic_betas: LiteLLM's anthropic_beta_headers_config.json's shape, for the hosts
 * sllmp filters flags for (src/providers/betas.c). */
static int
betas_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    /* read only, but submap's ud is not const */
    static sllmp_beta_host_t vertex = SLLMP_BETA_VERTEX, bedrock = SLLMP_BETA_BEDROCK;

    (void)ud;
    if (strcmp(key, "vertex_ai") == 0) {
        return submap(L, v, "sllmp.anthropic_betas.vertex_ai", betas_flag, &vertex);
    }
    if (strcmp(key, "bedrock") == 0) {
        return submap(L, v, "sllmp.anthropic_betas.bedrock", betas_flag, &bedrock);
    }
    warn(L, k,
         "sllmp.anthropic_betas.%s is ignored: flags are chosen for vertex_ai and bedrock "
         "(Anthropic's own API gets them as the client sent them)",
         key);
    return 0;
}

static int
metrics_allow(loader_t *L, yaml_node_t *v)
{
    sllmp_conf_t *c = L->c;
    size_t len;

    if (v->type == YAML_SCALAR_NODE && !is_null(v)) {
        len = 1;
    } else if (list_len(L, v, "sllmp.metrics.allow", &len) < 0) {
        return -1;
    }
    free(c->metrics_allow);
    c->metrics_allow = sllmp_xcalloc(len ? len : 1, sizeof(*c->metrics_allow));
    c->nmetrics_allow = 0;
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *n = v->type == YAML_SCALAR_NODE ? v : node(L, v->data.sequence.items.start[i]);
        const char *s = scalar(n);

        if (s == NULL || sllmp_cidr_parse(s, &c->metrics_allow[i]) < 0) {
            return fail(L, n,
                        "sllmp.metrics.allow: '%s' is not an address or a range such as "
                        "10.0.0.0/8 or ::1",
                        s ? s : kind(n));
        }
        c->nmetrics_allow++;
    }
    return 0;
}

static int
metrics_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_conf_t *c = L->c;

    (void)ud;
    if (strcmp(key, "enabled") == 0) {
        return get_bool(L, v, "sllmp.metrics.enabled", &c->metrics_enabled);
    }
    if (strcmp(key, "allow") == 0) {
        return metrics_allow(L, v);
    }
    if (strcmp(key, "token") == 0) {
        char *unset = NULL;
        int rc;

        sllmp_secret_free(c->metrics_token);
        rc = get_string(L, v, "sllmp.metrics.token", &c->metrics_token, &unset);
        if (rc == 1) {
            /* no token then: only the allowed addresses scrape, which fails safe */
            warn(L, v,
                 "sllmp.metrics.token: environment variable %s is not set; /metrics "
                 "answers only the addresses of sllmp.metrics.allow",
                 unset);
        } else if (rc == 0 && c->metrics_token != NULL && strlen(c->metrics_token) < 16) {
            return fail(L, v, "sllmp.metrics.token must be at least 16 characters long");
        }
        free(unset);
        return rc < 0 ? -1 : 0;
    }
    if (strcmp(key, "file") == 0) {
        free(c->metrics_file);
        c->metrics_file = NULL;
        return get_str_required(L, v, "sllmp.metrics.file", &c->metrics_file);
    }
    warn(L, k, "unknown key sllmp.metrics.%s is ignored", key);
    return 0;
}

/* "stderr", "off" (or false, or null), or a file whose directory exists. */
static int
access_log(loader_t *L, yaml_node_t *v)
{
    sllmp_conf_t *c = L->c;
    const char *s = scalar(v);
    struct stat st;
    char *dir, *slash;
    int rc = 0;

    free(c->access_log);
    c->access_log = NULL;
    c->access_log_set = 1;
    if (is_null(v)) {
        return 0;
    }
    /* a plain (unquoted) boolean is not a file name: false, no, off in any case turn it off;
     * so do "off" and "false" quoted, as they always did */
    if (s != NULL && ((v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && bool_word(s) == 0) ||
                      strcmp(s, "off") == 0 || strcmp(s, "false") == 0)) {
        return 0;
    }
    if (s != NULL && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && bool_word(s) == 1) {
        return fail(L, v, "sllmp.access_log is a file, stderr or off, not %s", s);
    }
    if (get_str_required(L, v, "sllmp.access_log", &c->access_log) < 0) {
        return -1;
    }
    if (strcmp(c->access_log, "stderr") == 0) {
        return 0;
    }
    dir = sllmp_xstrdup(c->access_log);
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        free(dir);
        dir = sllmp_xstrdup(".");
    } else {
        slash[slash == dir] = '\0';
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        rc = fail(L, v, "sllmp.access_log: no directory %s for %s (or use stderr, or off)", dir,
                  c->access_log);
    }
    free(dir);
    return rc;
}

static int
submap(loader_t *L, yaml_node_t *v, const char *what, pair_f *fn, void *ud)
{
    if (is_null(v)) {
        return 0;
    }
    if (want(L, v, YAML_MAPPING_NODE, what) < 0) {
        return -1;
    }
    return each_pair(L, v, fn, ud);
}

/* sllmp.router: how retries wait (LiteLLM's settings are under router_settings). */
static int
sllmp_router_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_router_conf_t *rc = ud;

    if (strcmp(key, "backoff_ms") == 0) {
        return get_long(L, v, "sllmp.router.backoff_ms", 0, 60000, &rc->backoff_base_ms);
    }
    if (strcmp(key, "backoff_max_ms") == 0) {
        return get_long(L, v, "sllmp.router.backoff_max_ms", 0, 600000, &rc->backoff_max_ms);
    }
    if (strcmp(key, "max_retry_after_ms") == 0) {
        return get_long(L, v, "sllmp.router.max_retry_after_ms", 0, 600000,
                        &rc->retry_after_max_ms);
    }
    warn(L, k, "unknown key sllmp.router.%s is ignored", key);
    return 0;
}

static int
sllmp_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    sllmp_conf_t *c = L->c;

    (void)ud;
    if (strcmp(key, "workers") == 0) {
        return get_int(L, v, "sllmp.workers", 0, 256, &c->workers);
    }
    if (strcmp(key, "threads") == 0) {
        return get_int(L, v, "sllmp.threads", 1, 4096, &c->threads);
    }
    if (strcmp(key, "max_requests") == 0) {
        return get_long(L, v, "sllmp.max_requests", 0, 1000000000L, &c->max_requests);
    }
    if (strcmp(key, "max_body_bytes") == 0) {
        L->body_set = 1;
        return get_long(L, v, "sllmp.max_body_bytes", 1024, 1073741824L, &c->max_body_bytes);
    }
    if (strcmp(key, "max_json_depth") == 0) {
        return get_int(L, v, "sllmp.max_json_depth", 2, 1000, &c->max_json_depth);
    }
    if (strcmp(key, "heartbeat_ms") == 0) {
        return get_long(L, v, "sllmp.heartbeat_ms", 100, 600000, &c->heartbeat_ms);
    }
    if (strcmp(key, "ca_file") == 0) {
        free(c->ca_file);
        c->ca_file = NULL;
        if (get_str_required(L, v, "sllmp.ca_file", &c->ca_file) < 0) {
            return -1;
        }
        if (access(c->ca_file, R_OK) < 0) {
            return fail(L, v, "sllmp.ca_file: cannot read %s: %s", c->ca_file, strerror(errno));
        }
        return 0;
    }
    if (strcmp(key, "buffer_streams") == 0) {
        return get_bool(L, v, "sllmp.buffer_streams", &c->buffer_streams);
    }
    if (strcmp(key, "buffer_streams_max_ms") == 0) {
        return get_long(L, v, "sllmp.buffer_streams_max_ms", 100, 3600000L,
                        &c->buffer_streams_max_ms);
    }
    if (strcmp(key, "drain_timeout_ms") == 0) {
        return get_long(L, v, "sllmp.drain_timeout_ms", 0, 86400000L, &c->drain_timeout_ms);
    }
    if (strcmp(key, "timeouts") == 0) {
        return submap(L, v, "sllmp.timeouts", timeouts_key, &c->timeouts);
    }
    if (strcmp(key, "spool") == 0) {
        return submap(L, v, "sllmp.spool", spool_key, NULL);
    }
    if (strcmp(key, "responses") == 0) {
        return submap(L, v, "sllmp.responses", responses_key, NULL);
    }
    if (strcmp(key, "cache") == 0) {
        return submap(L, v, "sllmp.cache", sllmp_cache_key, NULL);
    }
    if (strcmp(key, "redis") == 0) {
        return submap(L, v, "sllmp.redis", redis_key, NULL);
    }
    if (strcmp(key, "langfuse") == 0) {
        return submap(L, v, "sllmp.langfuse", langfuse_key, NULL);
    }
    if (strcmp(key, "cors") == 0) {
        return submap(L, v, "sllmp.cors", cors_key, NULL);
    }
    if (strcmp(key, "anthropic_betas") == 0) {
        return submap(L, v, "sllmp.anthropic_betas", betas_key, NULL);
    }
    if (strcmp(key, "limits") == 0) {
        return submap(L, v, "sllmp.limits", limits_key, NULL);
    }
    if (strcmp(key, "router") == 0) {
        return submap(L, v, "sllmp.router", sllmp_router_key, &c->router);
    }
    if (strcmp(key, "metrics") == 0) {
        return submap(L, v, "sllmp.metrics", metrics_key, NULL);
    }
    if (strcmp(key, "access_log") == 0) {
        return access_log(L, v);
    }
    if (strcmp(key, "log_level") == 0) {
        const char *s = scalar(v);
        int lvl = s ? sllmp_log_level_parse(s) : -1;

        if (lvl < 0) {
            return fail(L, v, "sllmp.log_level must be one of error, warn, info, debug");
        }
        c->log_level = lvl;
        L->log_level_set = 1;
        return 0;
    }
    warn(L, k, "unknown key sllmp.%s is ignored", key);
    return 0;
}

/* ---------------------------------------------------------------- top level */

static int
top_key(loader_t *L, const char *key, yaml_node_t *k, yaml_node_t *v, void *ud)
{
    (void)ud;
    if (strcmp(key, "model_list") == 0) {
        return model_list(L, v);
    }
    if (strcmp(key, "general_settings") == 0) {
        return submap(L, v, "general_settings", general_key, NULL);
    }
    if (strcmp(key, "sllmp") == 0) {
        return submap(L, v, "sllmp", sllmp_key, NULL);
    }
    if (strcmp(key, "keys") == 0) {
        return keys_list(L, v);
    }
    if (strcmp(key, "teams") == 0) {
        return entries_list(L, v, "teams", &L->c->teams, &L->c->nteams);
    }
    if (strcmp(key, "users") == 0) {
        return entries_list(L, v, "users", &L->c->users, &L->c->nusers);
    }
    if (strcmp(key, "environment_variables") == 0) {
        return 0; /* read first, in load() */
    }
    if (strcmp(key, "litellm_settings") == 0) {
        if (submap(L, v, "litellm_settings", litellm_settings_key, NULL) < 0) {
            return -1;
        }
        if (L->c->global.budget_nano < 0 && L->c->global.budget_period_s != 0) {
            warn(L, k, "litellm_settings.budget_duration without max_budget limits nothing");
        }
        return 0;
    }
    if (strcmp(key, "router_settings") == 0) {
        return submap(L, v, "router_settings", router_settings_key, NULL);
    }
    warn(L, k, "unknown top-level key '%s' is ignored", key);
    return 0;
}

static void
defaults(sllmp_conf_t *c)
{
    c->refs = 1;
    c->workers = 2;
    c->threads = 16;
    c->max_requests = 0;
    c->max_body_bytes = 10L * 1024 * 1024;
    c->max_json_depth = 64;
    c->heartbeat_ms = 15000;
    c->buffer_streams = 0;
    c->buffer_streams_max_ms = 30000; /* inside mod_fcgid's default FcgidIOTimeout (40 s) */
    c->drain_timeout_ms = 300000;
    limits_init(&c->global);
    c->timeouts.connect_ms = 5000;
    c->timeouts.first_byte_ms = 120000;
    c->timeouts.idle_ms = 120000;
    c->timeouts.total_ms = 1800000;
    c->spool_dir = NULL; /* default_dir() once the YAML is read */
    c->spool_fsync = 1;
    c->spool_max_mb = 1024;
    c->responses_store = 1;
    c->responses_ttl_s = 30L * 86400; /* OpenAI keeps a response 30 days */
    c->responses_max_mb = 1024;
    c->cache.max_mb = 256;
    c->langfuse.host = sllmp_xstrdup("https://cloud.langfuse.com");
    c->langfuse.api = SLLMP_LF_OTEL;
    c->langfuse.capture = SLLMP_CAPTURE_FULL;
    c->langfuse.trace_name = sllmp_xstrdup("chat.completions");
    c->redis_timeout_ms = 50;
    c->redis_connect_timeout_ms = 100;
    c->fail_closed[SLLMP_LIM_BUDGET] = 1; /* money is not let through blind; rates are */
    c->lease_ms = 60000;
    c->reserve_max_tokens = 4096;
    c->router.strategy = SLLMP_STRATEGY_SHUFFLE;
    c->router.num_retries = 2; /* LiteLLM's default: three attempts in all */
    c->router.retry_after_ms = 0;
    c->router.backoff_base_ms = 500;
    c->router.backoff_max_ms = 8000;
    c->router.retry_after_max_ms = 60000; /* LiteLLM honours a Retry-After of up to 60 s */
    c->router.allowed_fails = 3;
    c->router.cooldown_ms = 5000;
    for (int i = 0; i < SLLMP_RETRY_NCLASSES; i++) {
        c->router.policy.retries[i] = -1;
    }
    c->log_level = SLLMP_LOG_INFO;
    c->metrics_enabled = 1;
    c->metrics_allow = sllmp_xcalloc(2, sizeof(*c->metrics_allow));
    sllmp_cidr_parse("127.0.0.0/8", &c->metrics_allow[0]);
    sllmp_cidr_parse("::1", &c->metrics_allow[1]);
    c->nmetrics_allow = 2;
    c->access_log = sllmp_xstrdup("stderr");
    c->loaded_at = time(NULL);
}

static void
langfuse_free(sllmp_langfuse_conf_t *lf)
{
    free(lf->host);
    free(lf->public_key);
    sllmp_secret_free(lf->secret_key);
    free(lf->unset_public);
    free(lf->unset_secret);
    free(lf->environment);
    free(lf->release);
    free(lf->trace_name);
    for (size_t i = 0; i < lf->nredact; i++) {
        if (lf->redact != NULL) {
            regfree(&lf->redact[i]);
        }
        free(lf->redact_src[i]);
    }
    free(lf->redact);
    free(lf->redact_src);
}

static void
conf_free(sllmp_conf_t *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->ndeployments; i++) {
        deployment_free(&c->deployments[i]);
    }
    free(c->deployments);
    sllmp_secret_free(c->master_key);
    for (size_t i = 0; i < c->nkeys; i++) {
        key_free(&c->keys[i]);
    }
    free(c->keys);
    for (size_t i = 0; i < c->ncors_origins; i++) {
        free(c->cors_origins[i]);
    }
    free(c->cors_origins);
    for (size_t i = 0; i < c->nbetas; i++) {
        free(c->betas[i].flag);
        free(c->betas[i].to);
    }
    free(c->betas);
    for (size_t i = 0; i < c->nwarnings; i++) {
        free(c->warnings[i]);
    }
    free(c->warnings);
    free(c->ca_file);
    free(c->spool_dir);
    free(c->responses_dir);
    free(c->cache.dir);
    free(c->cache.ns);
    langfuse_free(&c->langfuse);
    free(c->redis_url);
    free(c->limits_file);
    free(c->metrics_file);
    sllmp_secret_free(c->metrics_token);
    free(c->metrics_allow);
    free(c->access_log);
    entries_free(c->teams, c->nteams);
    entries_free(c->users, c->nusers);
    for (int k = 0; k < SLLMP_FB_NKINDS; k++) {
        for (size_t i = 0; i < c->router.nfallbacks[k]; i++) {
            sllmp_fallback_t *fb = &c->router.fallbacks[k][i];

            for (size_t j = 0; j < fb->nto; j++) {
                free(fb->to[j]);
            }
            free(fb->to);
            free(fb->from);
        }
        free(c->router.fallbacks[k]);
    }
    for (size_t i = 0; i < c->router.naliases; i++) {
        free(c->router.aliases[i].name);
        free(c->router.aliases[i].target);
    }
    free(c->router.aliases);
    for (size_t i = 0; i < c->router.ngroup_policies; i++) {
        free(c->router.group_policies[i].group);
    }
    free(c->router.group_policies);
    free(c->path);
    files_free(c->files, c->nfiles);
    free(c);
}

/*
 * The spool (and the kept responses) when the YAML names none: $SLLMP_RUNDIR/<name> (the
 * pool's runtime directory, set by make run and the systemd unit), else <name>/ beside the YAML
 * file, else var/<name> under the working directory. Not the working directory when there is a
 * YAML: under mod_fcgid and CGI that is the web space, and both hold prompts.
 */
static char *
default_dir(const char *yaml_file, const char *name)
{
    const char *rundir = getenv("SLLMP_RUNDIR");
    const char *slash = yaml_file ? strrchr(yaml_file, '/') : NULL;

    if (rundir != NULL && *rundir != '\0') {
        return sllmp_xasprintf("%s/%s", rundir, name);
    }
    if (slash != NULL) {
        return sllmp_xasprintf("%.*s/%s", (int)(slash - yaml_file), yaml_file, name);
    }
    return yaml_file != NULL ? sllmp_xstrdup(name) : sllmp_xasprintf("var/%s", name);
}

/*
 * LiteLLM's Langfuse callback reads LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_HOST
 * (the newer SDKs LANGFUSE_BASE_URL), from the environment or environment_variables: what
 * sllmp.langfuse does not set comes from them, so a LiteLLM setup traces unchanged.
 */
static void
langfuse_env_defaults(loader_t *L)
{
    sllmp_langfuse_conf_t *lf = &L->c->langfuse;
    const char *v, *name;

    if (!L->lf_host_set && ((v = env_lookup(L, name = "LANGFUSE_HOST", 13)) != NULL ||
                            (v = env_lookup(L, name = "LANGFUSE_BASE_URL", 17)) != NULL)) {
        if (is_http_url(v)) {
            free(lf->host);
            lf->host = sllmp_xstrdup(v);
            strip_slashes(lf->host);
        } else {
            warn(L, NULL, "%s is not an http:// or https:// URL; ignored (%s is used)", name,
                 lf->host);
        }
    }
    if (!L->lf_public_set && (v = env_lookup(L, "LANGFUSE_PUBLIC_KEY", 19)) != NULL && *v) {
        lf->public_key = sllmp_xstrdup(v);
    }
    if (!L->lf_secret_set && (v = env_lookup(L, "LANGFUSE_SECRET_KEY", 19)) != NULL && *v) {
        lf->secret_key = sllmp_xstrdup(v);
    }
}

/*
 * The config in text, read from file (st its stat; NULL: not from a file). On failure NULL with
 * *errmsg, and when failed is not NULL the files it read in *failed (caller frees).
 */
static sllmp_conf_t *
load_text(const char *file, const char *text, size_t len, const struct stat *st, char **errmsg,
          sllmp_conf_file_t **failed, size_t *nfailed)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    loader_t L = {.doc = &doc};
    sllmp_conf_t *c = sllmp_xcalloc(1, sizeof(*c));
    yaml_node_t *root = NULL;

    defaults(c);
    c->path = sllmp_xstrdup(file);
    add_file(&c->files, &c->nfiles, sllmp_xstrdup(file), st);
    L.c = c;
    L.spans = sllmp_xcalloc(1, sizeof(*L.spans));
    L.spans[0] = (span_t){1, 0};
    L.nspans = 1;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        L.err = yaml_error(file, &parser);
        yaml_parser_delete(&parser);
        goto out;
    }
    if (merge_keys(&L, 1) == 0) {
        root = yaml_document_get_root_node(&doc);
    }
    if (root != NULL && root->type == YAML_MAPPING_NODE && includes(&L) == 0) {
        root = yaml_document_get_root_node(&doc); /* the nodes moved as the included came in */
    }
    if (L.err != NULL || root == NULL || is_null(root)) {
        /* an empty file is a config with nothing in it: every default (or a merge failed) */
    } else if (want(&L, root, YAML_MAPPING_NODE, "the configuration") == 0) {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
             p++) {
            const char *k = scalar(node(&L, p->key));
            yaml_node_t *v = node(&L, p->value);

            if (k != NULL && strcmp(k, "environment_variables") == 0 && !is_null(v) &&
                want(&L, v, YAML_MAPPING_NODE, "environment_variables") == 0) {
                L.envvars = v;
            }
        }
        if (L.err == NULL) {
            each_pair(&L, root, top_key, NULL);
        }
        for (int i = 0; i < SLLMP_FB_NKINDS && L.err == NULL; i++) {
            if (L.fallbacks[i] != NULL) {
                fallback_list(&L, (sllmp_fb_kind_t)i, L.fallbacks[i]);
            }
        }
        if (L.err == NULL && L.default_fallbacks != NULL) {
            default_fallbacks(&L, L.default_fallbacks);
        }
        if (L.err == NULL) {
            router_redis(&L);
        }
        if (L.err == NULL) {
            cache_settings(&L);
        }
        if (L.litellm_body > 0 && !L.body_set) {
            c->max_body_bytes = L.litellm_body;
        }
        default_parallel(&L);
        router_defaults(&L);
        if (L.err == NULL && L.aliases != NULL && !is_null(L.aliases)) {
            submap(&L, L.aliases, "router_settings.model_group_alias", alias_entry, NULL);
        }
        if (L.err == NULL && L.group_policy != NULL) {
            submap(&L, L.group_policy, "router_settings.model_group_retry_policy", group_policy,
                   NULL);
        }
        if (L.logging_off && !L.capture_set) {
            c->langfuse.capture = SLLMP_CAPTURE_METADATA;
        }
        if (L.verbose && !L.log_level_set) {
            c->log_level = SLLMP_LOG_DEBUG;
        }
    }
    if (L.err == NULL) {
        langfuse_env_defaults(&L);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
out:
    free(L.spans);
    cJSON_Delete(L.rdefaults);
    if (L.err != NULL) {
        *errmsg = L.err;
        if (failed != NULL) {
            *failed = c->files;
            *nfailed = c->nfiles;
            c->files = NULL;
            c->nfiles = 0;
        }
        conf_free(c);
        return NULL;
    }
    if (c->spool_dir == NULL) {
        c->spool_dir = default_dir(st != NULL ? file : NULL, "spool");
    }
    if (c->responses_dir == NULL) {
        c->responses_dir = default_dir(st != NULL ? file : NULL, "responses");
    }
    if (c->cache.dir == NULL) {
        c->cache.dir = default_dir(st != NULL ? file : NULL, "cache");
    }
    return c;
}

/* sllmp_conf_load() of a file, and on failure what it read as load_text() gives it. */
static sllmp_conf_t *
load_path(const char *path, char **errmsg, sllmp_conf_file_t **failed, size_t *nfailed)
{
    struct stat st;
    size_t len = 0;
    char *why = NULL, *text = slurp(path, &st, &len, &why);
    sllmp_conf_t *c;

    if (text == NULL) {
        *errmsg = sllmp_xasprintf("%s: %s", path, why);
        free(why);
        if (failed != NULL) {
            *failed = NULL;
            *nfailed = 0;
            add_file(failed, nfailed, sllmp_xstrdup(path), &st);
        }
        return NULL;
    }
    c = load_text(path, text, len, &st, errmsg, failed, nfailed);
    free(text);
    return c;
}

sllmp_conf_t *
sllmp_conf_load(const char *path, const char *text, size_t textlen, char **errmsg)
{
    *errmsg = NULL;
    if (text != NULL) {
        return load_text(path, text, textlen, NULL, errmsg, NULL, NULL);
    }
    return load_path(path, errmsg, NULL, NULL);
}

sllmp_conf_t *
sllmp_conf_load_embedded(char **errmsg)
{
    *errmsg = NULL;
    return load_text("(embedded conf/sllmp.yaml)", sllmp_default_conf_text, sllmp_default_conf_len,
                     NULL, errmsg, NULL, NULL);
}

void
sllmp_conf_ref(sllmp_conf_t *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void
sllmp_conf_unref(sllmp_conf_t *c)
{
    if (c != NULL && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        conf_free(c);
    }
}

int
sllmp_key_allows(const sllmp_key_t *k, const char *model_name)
{
    if (k == NULL || k->nmodels == 0) {
        return 1;
    }
    for (size_t i = 0; i < k->nmodels; i++) {
        size_t at, len;

        /* LiteLLM matches a key's wildcard entries against the name asked for, whichever
         * deployment then serves it */
        if (strcmp(k->models[i], model_name) == 0 ||
            (strchr(k->models[i], '*') != NULL &&
             sllmp_pattern_match(k->models[i], model_name, &at, &len))) {
            return 1;
        }
    }
    return 0;
}

int
sllmp_limits_any(const sllmp_limits_t *l)
{
    return l->rpm > 0 || l->tpm > 0 || l->parallel > 0 || l->budget_nano >= 0;
}

static const sllmp_limit_entry_t *
entry_find(const sllmp_limit_entry_t *e, size_t n, const char *name)
{
    for (size_t i = 0; name != NULL && i < n; i++) {
        if (strcmp(e[i].name, name) == 0) {
            return &e[i];
        }
    }
    return NULL;
}

const sllmp_limit_entry_t *
sllmp_conf_team(const sllmp_conf_t *c, const char *name)
{
    return entry_find(c->teams, c->nteams, name);
}

const sllmp_limit_entry_t *
sllmp_conf_user(const sllmp_conf_t *c, const char *name)
{
    const sllmp_limit_entry_t *e = entry_find(c->users, c->nusers, name);

    return e != NULL || name == NULL ? e : entry_find(c->users, c->nusers, "*");
}

int
sllmp_pattern_match(const char *pattern, const char *name, size_t *at, size_t *len)
{
    const char *star = strchr(pattern, '*');
    size_t pre, post, n = strlen(name);

    if (star == NULL) {
        *at = *len = 0;
        return strcmp(pattern, name) == 0;
    }
    pre = (size_t)(star - pattern);
    post = strlen(star + 1);
    /* the star stands for something (an empty model would go upstream), and never for a '*':
     * a client asking for the pattern itself means no model */
    if (n <= pre + post || strncmp(name, pattern, pre) != 0 ||
        strcmp(name + n - post, star + 1) != 0 || memchr(name + pre, '*', n - pre - post)) {
        return 0;
    }
    /* nor for a "." or ".." path segment: the model goes into some providers' URLs (Gemini's
     * keeps its '/'), where libcurl would resolve flash/x/../pro to another model than the
     * pattern serves */
    for (const char *seg = name + pre, *end = name + n - post; seg < end;) {
        const char *slash = memchr(seg, '/', (size_t)(end - seg));
        size_t sl = (size_t)((slash != NULL ? slash : end) - seg);

        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.')) {
            return 0;
        }
        seg += sl + 1;
    }
    *at = pre;
    *len = n - pre - post;
    return 1;
}

const sllmp_deployment_t *
sllmp_conf_serving(const sllmp_conf_t *c, const char *name)
{
    const sllmp_deployment_t *best = NULL;
    size_t at, len;

    for (size_t i = 0; i < c->ndeployments; i++) {
        const sllmp_deployment_t *d = &c->deployments[i];

        if (!d->pattern && strcmp(d->model_name, name) == 0) {
            return d; /* an exact model_name wins over every pattern */
        }
    }
    /* LiteLLM tries its patterns longest first (a stable sort: equal ones in the file's order),
     * so a pattern for gpt-4 models is tried before one for all of openai/, and "*" last */
    for (size_t i = 0; i < c->ndeployments; i++) {
        const sllmp_deployment_t *d = &c->deployments[i];

        if (d->pattern && (best == NULL || strlen(d->model_name) > strlen(best->model_name)) &&
            sllmp_pattern_match(d->model_name, name, &at, &len)) {
            best = d;
        }
    }
    return best;
}

size_t
sllmp_conf_group(const sllmp_conf_t *c, const char *model_name, const sllmp_deployment_t **out,
                 size_t max)
{
    const sllmp_deployment_t *first = sllmp_conf_find(c, model_name, strlen(model_name));
    size_t n = 0;

    if (first == NULL && (first = sllmp_conf_serving(c, model_name)) == NULL) {
        return 0;
    }
    for (size_t i = 0; i < c->ndeployments && n < max; i++) {
        if (strcmp(c->deployments[i].model_name, first->model_name) == 0) {
            out[n++] = &c->deployments[i];
        }
    }
    return n;
}

const sllmp_fallback_t *
sllmp_conf_fallback(const sllmp_conf_t *c, sllmp_fb_kind_t kind, const char *model_name)
{
    const sllmp_deployment_t *d = NULL;

    const sllmp_fallback_t *generic = NULL;

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < c->router.nfallbacks[kind]; i++) {
            if (strcmp(c->router.fallbacks[kind][i].from, model_name) == 0) {
                return &c->router.fallbacks[kind][i];
            }
        }
        /* a model a pattern serves takes the pattern's list when it has none of its own */
        if (pass > 0 || (d = sllmp_conf_serving(c, model_name)) == NULL || !d->pattern) {
            break;
        }
        model_name = d->model_name;
    }
    /* then LiteLLM's generic entry, "*" (the last one, as there) */
    for (size_t i = 0; i < c->router.nfallbacks[kind]; i++) {
        if (strcmp(c->router.fallbacks[kind][i].from, "*") == 0) {
            generic = &c->router.fallbacks[kind][i];
        }
    }
    return generic;
}

const char *
sllmp_conf_route_name(const sllmp_conf_t *c, const char *name)
{
    const sllmp_deployment_t *d = sllmp_conf_serving(c, name);

    if (d != NULL && !d->pattern) {
        return d->model_name;
    }
    for (size_t i = 0; i < c->router.naliases; i++) {
        if (strcmp(c->router.aliases[i].name, name) == 0) {
            return c->router.aliases[i].target;
        }
    }
    return d != NULL ? name : NULL;
}

/* s with its '*' replaced by the len bytes at with, in the arena. */
static char *
star_fill(sllmp_arena_t *a, const char *s, const char *with, size_t len)
{
    const char *star = strchr(s, '*');

    if (star == NULL) {
        return sllmp_arena_strndup(a, s, strlen(s));
    }
    return sllmp_arena_printf(a, "%.*s%.*s%s", (int)(star - s), s, (int)len, with, star + 1);
}

const sllmp_deployment_t *
sllmp_deployment_for(const sllmp_deployment_t *d, const char *name, sllmp_arena_t *a)
{
    sllmp_deployment_t *x;
    size_t at, len;
    char *key;

    if (!d->pattern || !sllmp_pattern_match(d->model_name, name, &at, &len)) {
        return d;
    }
    x = sllmp_arena_alloc(a, sizeof(*x));
    *x = *d;
    x->model = star_fill(a, d->model, name + at, len);
    x->litellm_model = star_fill(a, d->litellm_model, name + at, len);
    if (x->provider == SLLMP_PROVIDER_BEDROCK) {
        /* the client's part may say "converse/...", as a litellm_params.model may */
        route_strip(x->model, bedrock_routes);
        x->messages_api = strstr(x->model, "anthropic.") != NULL;
    }
    if ((x->provider == SLLMP_PROVIDER_OPENAI || x->provider == SLLMP_PROVIDER_AZURE) &&
        (route_strip(x->model, responses_routes) || openai_responses_only(x))) {
        /* the client's part may say "responses/...", or name a model without chat */
        x->chat_via_responses = 1;
    }
    if (x->provider == SLLMP_PROVIDER_AZURE && route_strip(x->model, azure_routes)) {
        /* and "o_series/<deployment>": the URL names the deployment alone */
        x->reasoning = 1;
    }
    if (x->gcp != NULL) {
        vertex_model(x); /* Claude, an OpenAI-compatible partner model or Gemini by the name */
        if (x->provider == SLLMP_PROVIDER_OPENAI && d->provider != SLLMP_PROVIDER_OPENAI) {
            /* the pattern's root is a location's (vertex_params) */
            x->api_base = sllmp_arena_printf(a, "%s/endpoints/openapi", d->api_base);
        }
    }
    if (fireworks_short(x)) {
        x->model = sllmp_arena_printf(a, FIREWORKS_MODELS "%s", x->model);
    }
    if (d->price_per_model) {
        /* never a price_key() with model_info.base_model: that one is fixed (price_per_model 0) */
        key = sllmp_xasprintf("%s/%s", x->provider_name, x->model);
        price_compute(x, key, NULL, d->cost, &x->price);
        free(key);
    }
    return x;
}

const sllmp_deployment_t *
sllmp_conf_find(const sllmp_conf_t *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->ndeployments; i++) {
        const char *n = c->deployments[i].model_name;

        if (strlen(n) == len && memcmp(n, name, len) == 0) {
            return &c->deployments[i];
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- the cache */

typedef struct {
    char *path; /* NULL for the embedded one */
    sllmp_conf_t *conf;
    int64_t checked_ms;
    sllmp_conf_file_t *bad; /* the files of a version that failed, so it is logged once */
    size_t nbad;
} entry_t;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static entry_t *cache;
static size_t ncache;
static int tell_fd = -1; /* a worker's line to its master: the files it read first */

#define MAX_FOLLOWED 64 /* files a master follows for its workers (vhosts naming their own) */

/* 1 when each of the files is as it was when read (one that was not there: still is not). */
static int
files_unchanged(const sllmp_conf_file_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct stat st;

        if (stat(f[i].path, &st) < 0) {
            memset(&st, 0, sizeof(st));
        }
        if (f[i].dev != st.st_dev || f[i].ino != st.st_ino || f[i].size != st.st_size ||
            f[i].mtime.tv_sec != st.st_mtim.tv_sec || f[i].mtime.tv_nsec != st.st_mtim.tv_nsec ||
            f[i].ctime.tv_sec != st.st_ctim.tv_sec || f[i].ctime.tv_nsec != st.st_ctim.tv_nsec) {
            return 0;
        }
    }
    return 1;
}

static void
forget_bad(entry_t *e)
{
    files_free(e->bad, e->nbad);
    e->bad = NULL;
    e->nbad = 0;
}

static void
log_warnings(const sllmp_conf_t *c)
{
    for (size_t i = 0; i < c->nwarnings; i++) {
        sllmp_log(NULL, SLLMP_LOG_WARN, "%s", c->warnings[i]);
    }
}

/* c, which loaded, becomes e's version (its warnings logged, the one it replaces released). */
static void
install(entry_t *e, sllmp_conf_t *c)
{
    log_warnings(c);
    sllmp_conf_unref(e->conf);
    e->conf = c;
    e->checked_ms = sllmp_now_ms();
    forget_bad(e);
}

/*
 * A worker read path before its master did (a file only a vhost names): it tells the master,
 * which follows the file from then on, so that a worker forked after a broken edit starts from
 * the last good version instead of answering 500. One write of at most PIPE_BUF bytes is atomic;
 * a full pipe loses the line, which only leaves that file as it was before.
 */
static void
tell(const char *path)
{
    char line[PIPE_BUF];
    int n;

    if (tell_fd < 0) {
        return;
    }
    n = snprintf(line, sizeof(line), "%s\n", path);
    if (n > 0 && (size_t)n < sizeof(line) && write(tell_fd, line, (size_t)n) < 0) {
        /* EAGAIN: the master is behind; it hears of the file from the next worker */
    }
}

static void
refresh(entry_t *e, char **errmsg)
{
    int64_t now = sllmp_now_ms();
    struct stat st;

    if (e->path == NULL) {
        if (e->conf == NULL) {
            e->conf = sllmp_conf_load_embedded(errmsg);
        }
        return;
    }
    if (e->conf != NULL && now - e->checked_ms < 1000) {
        return;
    }
    e->checked_ms = now;
    if (stat(e->path, &st) < 0) {
        if (e->conf == NULL) {
            *errmsg = sllmp_xasprintf("%s: cannot open: %s", e->path, strerror(errno));
        }
        return;
    }
    /* the YAML or a file it includes changed: each one is looked at */
    if (e->conf != NULL && files_unchanged(e->conf->files, e->conf->nfiles)) {
        return;
    }
    if (e->conf != NULL && e->bad != NULL && files_unchanged(e->bad, e->nbad)) {
        return;
    }
    char *err = NULL;
    sllmp_conf_file_t *bad = NULL;
    size_t nbad = 0;
    sllmp_conf_t *c = load_path(e->path, &err, &bad, &nbad);

    if (c == NULL) {
        forget_bad(e);
        e->bad = bad;
        e->nbad = nbad;
        if (e->conf != NULL) {
            sllmp_log(NULL, SLLMP_LOG_ERROR,
                      "config changed but does not load, keeping the "
                      "previous version: %s",
                      err);
            free(err);
        } else {
            *errmsg = err;
        }
        return;
    }
    if (e->conf != NULL) {
        sllmp_log(NULL, SLLMP_LOG_INFO, "config %s reloaded", e->path);
    } else {
        tell(e->path);
    }
    install(e, c);
}

/* path's entry, made when there is none; NULL or "" is the default. Under cache_mu. */
static entry_t *
entry(const char *path)
{
    entry_t *e;

    if (path == NULL || *path == '\0') {
        path = getenv("SLLMP_CONFIG");
        if (path != NULL && *path == '\0') {
            path = NULL;
        }
    }
    for (size_t i = 0; i < ncache; i++) {
        if ((path == NULL && cache[i].path == NULL) ||
            (path != NULL && cache[i].path != NULL && strcmp(cache[i].path, path) == 0)) {
            return &cache[i];
        }
    }
    cache = sllmp_xrealloc(cache, (ncache + 1) * sizeof(entry_t));
    e = &cache[ncache++];
    memset(e, 0, sizeof(*e));
    e->path = path ? sllmp_xstrdup(path) : NULL;
    return e;
}

sllmp_conf_t *
sllmp_conf_get(const char *path, char **errmsg)
{
    entry_t *e;
    sllmp_conf_t *c;

    *errmsg = NULL;
    pthread_mutex_lock(&cache_mu);
    e = entry(path);
    refresh(e, errmsg);
    c = e->conf;
    if (c != NULL) {
        sllmp_conf_ref(c);
        free(*errmsg);
        *errmsg = NULL;
    }
    pthread_mutex_unlock(&cache_mu);
    return c;
}

void
sllmp_conf_tell_to(int fd)
{
    tell_fd = fd;
}

void
sllmp_conf_follow(const char *path)
{
    char *err = NULL;

    pthread_mutex_lock(&cache_mu);
    if (path == NULL || *path == '\0' || ncache < MAX_FOLLOWED) {
        refresh(entry(path), &err);
    }
    pthread_mutex_unlock(&cache_mu);
    free(err);
}

void
sllmp_conf_follow_all(void)
{
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < ncache; i++) {
        char *err = NULL;

        refresh(&cache[i], &err);
        free(err);
    }
    pthread_mutex_unlock(&cache_mu);
}

sllmp_conf_t *
sllmp_conf_reload(const char *path, char **errmsg)
{
    entry_t *e;
    sllmp_conf_t *c;

    *errmsg = NULL;
    pthread_mutex_lock(&cache_mu);
    e = entry(path);
    c = e->path == NULL ? sllmp_conf_load_embedded(errmsg)
                        : sllmp_conf_load(e->path, NULL, 0, errmsg);
    if (c != NULL) {
        install(e, c);
        sllmp_conf_ref(c);
    }
    pthread_mutex_unlock(&cache_mu);
    return c;
}

void
sllmp_conf_cache_flush(void)
{
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < ncache; i++) {
        sllmp_conf_unref(cache[i].conf);
        free(cache[i].path);
        forget_bad(&cache[i]);
    }
    free(cache);
    cache = NULL;
    ncache = 0;
    pthread_mutex_unlock(&cache_mu);
}

/* ", rpm 60, budget $5 per 1d" */
static void
describe_limits(const sllmp_limits_t *l, FILE *out)
{
    if (l->rpm > 0) {
        fprintf(out, ", rpm %ld", l->rpm);
    }
    if (l->tpm > 0) {
        fprintf(out, ", tpm %ld", l->tpm);
    }
    if (l->parallel > 0) {
        fprintf(out, ", max_parallel %ld", l->parallel);
    }
    if (l->budget_nano >= 0) {
        fprintf(out, ", budget $%g per %s", (double)l->budget_nano / SLLMP_NANO_PER_USD,
                sllmp_period_name(l->budget_period_s));
    }
}

static void
describe_entries(const char *what, const sllmp_limit_entry_t *e, size_t n, FILE *out)
{
    if (n == 0) {
        return;
    }
    fprintf(out, "%s: %zu\n", what, n);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "  - %s", e[i].name);
        describe_limits(&e[i].lim, out);
        fputc('\n', out);
    }
}

/* "  retry_policy: RateLimitErrorRetries 5, ... (else num_retries)"; names: retry_names or
 * fails_names, fallback what applies to the others */
static void
describe_policy(const char *what, const sllmp_retry_policy_t *p, const char *const *names,
                const char *fallback, FILE *out)
{
    int n = 0;

    fprintf(out, "  %s:", what);
    for (int i = 0; i < SLLMP_RETRY_NCLASSES; i++) {
        if (p->retries[i] >= 0) {
            fprintf(out, "%s %s %ld", n++ ? "," : "", names[i], p->retries[i]);
        }
    }
    fprintf(out, n ? " (else %s)\n" : " none (%s)\n", fallback);
}

static void
describe_router(const sllmp_router_conf_t *rc, FILE *out)
{
    static const char *const strategies[] = {"simple-shuffle", "least-busy",
                                             "latency-based-routing"};

    fprintf(out,
            "router: %s, %ld retries (backoff %ld ms doubling to %ld ms, at least %ld ms; "
            "Retry-After waited up to %ld ms), ",
            strategies[rc->strategy], rc->num_retries, rc->backoff_base_ms, rc->backoff_max_ms,
            rc->retry_after_ms, rc->retry_after_max_ms);
    if (rc->disable_cooldowns) {
        fprintf(out, "no cooldowns\n");
    } else {
        fprintf(out, "cooldown %ld ms after %ld failures in a minute\n", rc->cooldown_ms,
                rc->allowed_fails);
    }
    for (int k = 0; k < SLLMP_FB_NKINDS; k++) {
        for (size_t i = 0; i < rc->nfallbacks[k]; i++) {
            const sllmp_fallback_t *fb = &rc->fallbacks[k][i];

            fprintf(out, "  %s: %s ->", fb_names[k], fb->from);
            for (size_t j = 0; j < fb->nto; j++) {
                fprintf(out, " %s", fb->to[j]);
            }
            fputc('\n', out);
        }
    }
    if (rc->tag_filtering) {
        fprintf(out, "  tag filtering: a tagged request goes to deployments with %s of its tags\n",
                rc->tag_match_all ? "all" : "one");
    }
    if (rc->has_policy) {
        describe_policy("retry_policy", &rc->policy, retry_names, "num_retries", out);
    }
    for (size_t i = 0; i < rc->ngroup_policies; i++) {
        char what[512];

        snprintf(what, sizeof(what), "retry_policy of %s", rc->group_policies[i].group);
        describe_policy(what, &rc->group_policies[i].policy, retry_names, "num_retries", out);
    }
    if (rc->has_fails_policy) {
        describe_policy("allowed_fails_policy", &rc->fails_policy, fails_names,
                        "allowed_fails or at once", out);
    }
    for (size_t i = 0; i < rc->naliases; i++) {
        fprintf(out, "  alias: %s -> %s%s\n", rc->aliases[i].name, rc->aliases[i].target,
                rc->aliases[i].hidden ? " (hidden)" : "");
    }
}

/* sllmp check's line for the response cache. */
static void
describe_cache(const sllmp_cache_conf_t *cc, FILE *out)
{
    if (cc->type == SLLMP_CACHE_OFF) {
        fprintf(out, "cache: off\n");
        return;
    }
    if (cc->type == SLLMP_CACHE_REDIS) {
        fprintf(out, "cache: in redis");
    } else {
        fprintf(out, "cache: %s, in files in %s (quota %ld MB)", cc->type_name, cc->dir,
                cc->max_mb);
    }
    char kinds[64];

    snprintf(kinds, sizeof(kinds), "%s%s%s", cc->kinds & SLLMP_CACHE_CHAT ? ", chat" : "",
             cc->kinds & SLLMP_CACHE_COMPLETIONS ? ", text completions" : "",
             cc->kinds & SLLMP_CACHE_EMBEDDINGS ? ", embeddings" : "");
    fprintf(out, ", ttl %lds%s%s%s; caches %s\n", cc->ttl_s, cc->ns ? ", namespace " : "",
            cc->ns ? cc->ns : "", cc->default_off ? ", only requests with cache.use-cache" : "",
            kinds[0] ? kinds + 2 : "nothing");
}

static void
describe_metrics(const sllmp_conf_t *c, FILE *out)
{
    char path[4096];

    if (!c->metrics_enabled) {
        fprintf(out, "metrics: off\n");
    } else {
        sllmp_rundir_file(c->metrics_file, "metrics.db", path, sizeof(path));
        fprintf(out, "metrics: GET /metrics for");
        for (size_t i = 0; i < c->nmetrics_allow; i++) {
            const sllmp_cidr_t *a = &c->metrics_allow[i];
            char ip[INET6_ADDRSTRLEN];

            inet_ntop(a->family, a->addr, ip, sizeof(ip));
            fprintf(out, "%s %s/%d", i ? "," : "", ip, a->bits);
        }
        fprintf(out, "%s%s; counted in %s\n", c->nmetrics_allow ? "" : " no address",
                c->metrics_token ? " and a Bearer token" : "", path);
    }
    fprintf(out, "access log: %s%s\n", c->access_log ? c->access_log : "off",
            c->access_log_set ? "" : " (the default; none under mod_fcgid and CGI)");
}

void
sllmp_conf_describe(const sllmp_conf_t *c, FILE *out)
{
    const char *ca;

    fprintf(out, "config: %s\n", c->path);
    for (size_t i = 1; i < c->nfiles; i++) {
        fprintf(out, "  included: %s\n", c->files[i].path);
    }
    fprintf(out, "models: %zu", c->ndeployments);
    if (c->ndisabled) {
        fprintf(out, " (%zu left out, see warnings)", c->ndisabled);
    }
    fputc('\n', out);
    for (size_t i = 0; i < c->ndeployments; i++) {
        const sllmp_deployment_t *d = &c->deployments[i];

        fprintf(out, "  - %s -> %s model '%s'", d->model_name, d->provider_name, d->model);
        if (d->pattern) {
            const char *star = strchr(d->model_name, '*');

            /* what a client writes, and what goes upstream for it */
            fprintf(out, " (wildcard: %.*s<m>%s", (int)(star - d->model_name), d->model_name,
                    star + 1);
            if (strchr(d->model, '*') != NULL) {
                star = strchr(d->model, '*');
                fprintf(out, " is sent as '%.*s<m>%s'", (int)(star - d->model), d->model, star + 1);
            } else {
                fprintf(out, " is sent as '%s'", d->model);
            }
            fputc(')', out);
        }
        if (d->provider == SLLMP_PROVIDER_MOCK) {
            fprintf(out, ", delay %ld ms", d->mock_delay_ms);
        } else {
            if (d->gcp != NULL) {
                fprintf(out, " at %s, Google tokens of %s%s", d->api_base,
                        d->gcp->kind == SLLMP_GCRED_SERVICE_ACCOUNT ? "the service account "
                        : d->gcp->kind == SLLMP_GCRED_USER          ? "gcloud's user credentials"
                                                                    : "the metadata server",
                        d->gcp->kind == SLLMP_GCRED_SERVICE_ACCOUNT ? d->gcp->client_email : "");
            } else {
                fprintf(out, " at %s, %s", d->api_base,
                        d->provider == SLLMP_PROVIDER_BEDROCK && d->api_key == NULL ? "AWS SigV4"
                        : d->api_key != NULL                                        ? "key set"
                                                                                    : "no key");
            }
            if (d->provider == SLLMP_PROVIDER_AZURE) {
                fprintf(out, ", api-version %s", d->api_version ? d->api_version : "v1");
            }
            if (d->provider == SLLMP_PROVIDER_BEDROCK) {
                fprintf(out, ", region %s", d->aws.region);
                if (d->model_id != NULL) {
                    fprintf(out, ", through %s", d->model_id);
                }
            }
            if (d->messages_api) {
                fprintf(out, ", serves /v1/messages");
            }
            if (d->responses_api) {
                fprintf(out, ", /v1/responses as it is");
            }
            if (d->chat_via_responses) {
                fprintf(out, ", chat through its Responses API");
            }
            for (size_t h = 0; h < d->nheaders; h++) {
                /* the names only: values may be secrets */
                fprintf(out, "%s%.*s", h == 0 ? ", headers " : " ",
                        (int)strcspn(d->headers[h], ":"), d->headers[h]);
            }
            if (d->price_per_model) {
                fprintf(out, ", priced per model from conf/pricing.yaml%s",
                        d->price.known ? " and model_info" : "");
            } else if (d->price.known) {
                fprintf(out, ", $%g/$%g per 1M in/out", d->price.input, d->price.output);
            } else {
                fprintf(out, ", no price");
            }
            if (d->timeout_ms > 0) {
                fprintf(out, ", timeout %ld ms", d->timeout_ms);
            }
            if (d->stream_timeout_ms > 0) {
                fprintf(out, ", stream timeout %ld ms", d->stream_timeout_ms);
            }
        }
        if (d->rpm > 0) {
            fprintf(out, ", rpm %ld", d->rpm);
        }
        if (d->max_parallel > 0) {
            fprintf(out, ", at most %ld in flight", d->max_parallel);
        }
        if (d->tpm > 0) {
            fprintf(out, ", tpm %ld", d->tpm);
        }
        if (d->weight_set) {
            fprintf(out, ", weight %g", d->weight);
        }
        if (d->order > 0) {
            fprintf(out, ", order %ld", d->order);
        }
        for (size_t t = 0; t < d->ntags; t++) {
            fprintf(out, "%s%s", t ? ", " : ", tags ", d->tags[t]);
        }
        if (d->num_retries >= 0) {
            fprintf(out, ", num_retries %ld", d->num_retries);
        }
        if (d->cooldown_ms >= 0) {
            fprintf(out, ", cooldown %ld ms", d->cooldown_ms);
        }
        if (d->defaults != NULL) {
            char *j = cJSON_PrintUnformatted(d->defaults);

            fprintf(out, ", request defaults %s", j != NULL ? j : "?");
            free(j);
        }
        fprintf(out, ", id %s\n", d->id);
    }
    describe_router(&c->router, out);
    fprintf(out, "master key: %s\n",
            c->master_key ? "set"
            : c->nkeys    ? "none"
                          : "none (the gateway is open)");
    fprintf(out, "keys: %zu\n", c->nkeys);
    for (size_t i = 0; i < c->nkeys; i++) {
        const sllmp_key_t *k = &c->keys[i];

        fprintf(out, "  - %s%s%s%s%s, models: ", k->name, k->user ? ", user " : "",
                k->user ? k->user : "", k->team ? ", team " : "", k->team ? k->team : "");
        for (size_t m = 0; m < k->nmodels; m++) {
            fprintf(out, "%s%s", m ? " " : "", k->models[m]);
        }
        fprintf(out, "%s", k->nmodels ? "" : "all");
        for (size_t t = 0; t < k->ntags; t++) {
            fprintf(out, "%s%s", t ? " " : ", tags: ", k->tags[t]);
        }
        if (k->expires) {
            char when[32];
            struct tm tm;

            gmtime_r(&k->expires, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            fprintf(out, ", expires %s", when);
        }
        describe_limits(&k->lim, out);
        fputc('\n', out);
    }
    describe_entries("teams", c->teams, c->nteams, out);
    describe_entries("users", c->users, c->nusers, out);
    if (sllmp_limits_any(&c->global)) {
        fprintf(out, "gateway: every request");
        describe_limits(&c->global, out);
        fputc('\n', out);
    }
    fprintf(out, "pool: %d workers x %d threads, recycle after %ld requests%s\n", c->workers,
            c->threads, c->max_requests, c->max_requests ? "" : " (never)");
    fprintf(out, "limits: body %ld bytes, JSON depth %d\n", c->max_body_bytes, c->max_json_depth);
    fprintf(out,
            "timeouts: connect %ld ms, first byte %ld ms, idle %ld ms, total %ld ms; "
            "heartbeat %ld ms; drain %ld ms\n",
            c->timeouts.connect_ms, c->timeouts.first_byte_ms, c->timeouts.idle_ms,
            c->timeouts.total_ms, c->heartbeat_ms, c->drain_timeout_ms);
    if (c->router.timeout_ms > 0 || c->router.stream_timeout_ms > 0) {
        fprintf(out,
                "  first byte and idle of a deployment without timeout / stream_timeout: "
                "%ld ms, streams %ld ms\n",
                c->router.timeout_ms ? c->router.timeout_ms : c->timeouts.first_byte_ms,
                c->router.stream_timeout_ms ? c->router.stream_timeout_ms
                : c->router.timeout_ms      ? c->router.timeout_ms
                                            : c->timeouts.first_byte_ms);
    }
    if (c->buffer_streams) {
        fprintf(out,
                "streams: held, each sent whole at its end with Content-Length (buffer_streams; "
                "no heartbeats); one not done after %ld ms goes on flushed\n",
                c->buffer_streams_max_ms);
    } else {
        fprintf(out, "streams: flushed event by event\n");
    }
    ca = sllmp_ca_file(c); /* sllmp.ca_file, else what the probe found */
    fprintf(out, "tls: CA certificates from %s\n", ca ? ca : "libcurl's built-in file");
    fprintf(out, "spool: %s (fsync %s, quota %ld MB)\n", c->spool_dir,
            c->spool_fsync ? "on" : "off", c->spool_max_mb);
    if (!c->responses_store) {
        fprintf(out, "responses: not kept (previous_response_id and item_reference refused)\n");
    } else {
        long t = c->responses_ttl_s;
        long unit = t % 86400 == 0 ? 86400 : t % 3600 == 0 ? 3600 : t % 60 == 0 ? 60 : 1;
        char ttl[32];

        snprintf(ttl, sizeof(ttl), "%ld%s", t / unit,
                 unit == 86400  ? "d"
                 : unit == 3600 ? "h"
                 : unit == 60   ? "m"
                                : "s");
        if (sllmp_store_is_redis(c)) {
            fprintf(out, "responses: kept %s in redis\n", ttl);
        } else {
            fprintf(out, "responses: kept %s in %s (quota %ld MB)\n", ttl, c->responses_dir,
                    c->responses_max_mb);
        }
    }
    describe_cache(&c->cache, out);
    describe_metrics(c, out);
    fprintf(out, "langfuse: %s, api %s, capture %s", c->langfuse.host,
            c->langfuse.api == SLLMP_LF_OTEL ? "otel" : "legacy",
            sllmp_capture_name(c->langfuse.capture));
    if (c->langfuse.environment != NULL) {
        fprintf(out, ", environment %s", c->langfuse.environment);
    }
    fprintf(out, ", %zu redaction pattern%s; keys: public %s, secret %s\n", c->langfuse.nredact,
            c->langfuse.nredact == 1 ? "" : "s", c->langfuse.public_key ? "set" : "missing",
            c->langfuse.secret_key ? "set" : "missing");
    if (c->redis_url == NULL) {
        fprintf(out, "redis: none\n");
    } else {
        /* never the password: what stands between the scheme and the @ prints as *** */
        const char *at = strrchr(c->redis_url, '@');
        const char *scheme = strstr(c->redis_url, "://");

        if (at != NULL && scheme != NULL && scheme < at) {
            fprintf(out, "redis: %.*s***%s\n", (int)(scheme + 3 - c->redis_url), c->redis_url, at);
        } else {
            fprintf(out, "redis: %s\n", c->redis_url);
        }
    }
    if (c->limits_backend == SLLMP_BACKEND_REDIS ||
        (c->limits_backend == SLLMP_BACKEND_AUTO && c->redis_url != NULL)) {
        fprintf(out, "limit store: redis (timeout %ld ms, connect %ld ms; when unreachable:",
                c->redis_timeout_ms, c->redis_connect_timeout_ms);
        for (int i = 0; i < SLLMP_LIM_NKINDS; i++) {
            fprintf(out, " %s %s", limit_kinds[i], c->fail_closed[i] ? "closed" : "open");
        }
        fprintf(out, ")");
    } else {
        fprintf(out, "limit store: local file %s",
                c->limits_file ? c->limits_file : "$SLLMP_RUNDIR/limits.db (else var/limits.db)");
    }
    fprintf(out, "; lease %ld ms, %ld output tokens reserved when max_tokens is absent\n",
            c->lease_ms, c->reserve_max_tokens);
    fprintf(out, "cors origins:");
    for (size_t i = 0; i < c->ncors_origins; i++) {
        fprintf(out, " %s", c->cors_origins[i]);
    }
    fprintf(out, "%s\n", c->ncors_origins ? "" : " none");
    for (size_t i = 0; i < c->nbetas; i++) {
        const sllmp_beta_rule_t *b = &c->betas[i];

        fprintf(out, "anthropic-beta %s on %s: %s%s\n", b->flag,
                b->host == SLLMP_BETA_VERTEX ? "vertex_ai" : "bedrock", b->to ? "as " : "held back",
                b->to ? b->to : "");
    }
    for (size_t i = 0; i < c->nwarnings; i++) {
        fprintf(out, "warning: %s\n", c->warnings[i]);
    }
}
