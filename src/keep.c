/* Kept documents (include/sllmp/keep.h): Redis through the limit store, or files. */
#include "sllmp/keep.h"
#include "sllmp/cache.h"
#include "sllmp/conf.h"
#include "sllmp/log.h"
#include "sllmp/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SWEEP_EVERY_MS 60000
#define TMP_LEFT_S     3600

int
sllmp_keep_id_ok(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;

    /* ours are 32 hex digits; an upstream's (OpenAI's, Azure's) longer; its conversations'
     * ids are conv_ and the same */
    if (n < 5 + 16 || n > 5 + 120 ||
        (strncmp(id, "resp_", 5) != 0 && strncmp(id, "conv_", 5) != 0)) {
        return 0;
    }
    for (const char *p = id + 5; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            return 0;
        }
    }
    return 1;
}

/*
 * A shelf: one kind of document, in Redis or in the files of one directory. The kept responses
 * live a fixed time from their writing (the file's mtime + ttl_s, as sllmp.responses.ttl said
 * when they are read); a cached answer's time is its own (a request may set it), so its file's
 * mtime is the instant it expires.
 */
typedef enum { SHELF_RESPONSES = 0, SHELF_CACHE, SHELF__COUNT } shelf_kind_t;

typedef struct {
    shelf_kind_t kind;
    const char *dir;
    long max_mb;
    long ttl_s;         /* > 0: from the mtime; 0: the mtime is the expiry */
    int redis;          /* in Redis, through the thread's limit store */
    const char *prefix; /* of its names there */
} shelf_t;

static shelf_t
responses_shelf(const sllmp_conf_t *c)
{
    return (shelf_t){SHELF_RESPONSES,    c->responses_dir,        c->responses_max_mb,
                     c->responses_ttl_s, sllmp_store_is_redis(c), ""};
}

static shelf_t
cache_shelf(const sllmp_conf_t *c)
{
    return (shelf_t){
        SHELF_CACHE, c->cache.dir, c->cache.max_mb, 0, c->cache.type == SLLMP_CACHE_REDIS,
        "cache:"};
}

/*
 * Where document id lives: 1 and *redis the Redis store with its name there in name, or NULL
 * for the files; -1 when the shelf is in Redis and st is none (never the files then: the other
 * hosts would not see them).
 */
static int
where(const shelf_t *sh, sllmp_store_t *st, const char *id, sllmp_store_t **redis, char *name,
      size_t len)
{
    *redis = NULL;
    if (!sh->redis) {
        return 1;
    }
    if (st == NULL || st->ops->doc_get == NULL ||
        snprintf(name, len, "%s%s", sh->prefix, id) >= (int)len) {
        return -1;
    }
    *redis = st;
    return 1;
}

static void
file_path(const shelf_t *sh, const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.json", sh->dir, id);
}

static int
expired(const shelf_t *sh, const struct stat *st, time_t now)
{
    return st->st_mtime + sh->ttl_s <= now;
}

/* ---- the sweep: expired files go, the rest is measured for the quota ---- */

static pthread_mutex_t sweep_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t swept_at[SHELF__COUNT];   /* ms (monotonic) of the last sweep; 0: none yet */
static int64_t kept_bytes[SHELF__COUNT]; /* what the last sweep found, plus what was written
                                          * since */

static void
sweep(const shelf_t *sh)
{
    time_t now = time(NULL);
    int64_t total = 0;
    struct dirent *e;
    DIR *d = opendir(sh->dir);

    if (d == NULL) {
        kept_bytes[sh->kind] = 0;
        return;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        size_t n = strlen(e->d_name);
        int tmp = e->d_name[0] == '.';

        if ((!tmp && (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        /* a temporary file an hour old is one a killed writer left */
        if (tmp ? st.st_mtime + TMP_LEFT_S <= now : expired(sh, &st, now)) {
            unlinkat(dirfd(d), e->d_name, 0);
        } else {
            total += st.st_size;
        }
    }
    closedir(d);
    kept_bytes[sh->kind] = total;
}

/* Whether len more bytes fit (sweeping first when the last sweep is a minute old). */
static int
room_for(const shelf_t *sh, size_t len)
{
    int64_t now = sllmp_now_ms();
    int fits;

    pthread_mutex_lock(&sweep_lock);
    if (swept_at[sh->kind] == 0 || now - swept_at[sh->kind] >= SWEEP_EVERY_MS) {
        sweep(sh);
        swept_at[sh->kind] = now;
    }
    fits = kept_bytes[sh->kind] + (int64_t)len <= (int64_t)sh->max_mb * 1024 * 1024;
    if (fits) {
        kept_bytes[sh->kind] += (int64_t)len;
    }
    pthread_mutex_unlock(&sweep_lock);
    return fits;
}

/* ---- files ---- */

static int
file_get(const shelf_t *sh, const char *id, sllmp_buf_t *out)
{
    char path[4096], chunk[16384];
    struct stat st;
    ssize_t n;
    int fd;

    file_path(sh, id, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return errno == ENOENT ? 0 : -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    if (expired(sh, &st, time(NULL))) {
        close(fd);
        unlink(path);
        return 0;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        if (sllmp_buf_append(out, chunk, (size_t)n) < 0) {
            n = -1;
            break;
        }
    }
    close(fd);
    return n < 0 ? -1 : 1;
}

static int
file_put(const shelf_t *sh, const char *id, const char *data, size_t len, long ttl_s)
{
    char path[4096], tmp[4096], rnd[17];
    size_t off = 0;
    int fd;

    if (!room_for(sh, len)) {
        return 1;
    }
    if (sllmp_mkdirs(sh->dir) < 0) {
        return -1;
    }
    sllmp_random_hex(rnd, 8);
    file_path(sh, id, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s/.%s.%s", sh->dir, id, rnd);
    fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    if (sh->ttl_s == 0) {
        struct timespec when[2] = {{time(NULL) + ttl_s, 0}, {time(NULL) + ttl_s, 0}};

        if (futimens(fd, when) < 0) {
            off = 0; /* a file that would never expire is not written */
        }
    }
    /* no fsync: a document lost to a crash of the host is only an answer to ask for again */
    if (close(fd) < 0 || off < len || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int
file_del(const shelf_t *sh, const char *id)
{
    char path[4096];

    file_path(sh, id, path, sizeof(path));
    if (unlink(path) < 0) {
        return errno == ENOENT ? 0 : -1;
    }
    return 1;
}

/* Every document of the shelf's directory: how many went, or -1 when it cannot be read. */
static long
file_flush(const shelf_t *sh)
{
    DIR *d = opendir(sh->dir);
    struct dirent *e;
    long n = 0;

    if (d == NULL) {
        return errno == ENOENT ? 0 : -1;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (e->d_name[0] != '.' && len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 &&
            unlinkat(dirfd(d), e->d_name, 0) == 0) {
            n++;
        }
    }
    closedir(d);
    pthread_mutex_lock(&sweep_lock);
    swept_at[sh->kind] = 0; /* measured again at the next write */
    pthread_mutex_unlock(&sweep_lock);
    return n;
}

/* ---- either ---- */

static int
shelf_get(const shelf_t *sh, sllmp_store_t *st, const char *id, sllmp_buf_t *out)
{
    sllmp_store_t *r;
    char name[160];
    int rc = where(sh, st, id, &r, name, sizeof(name));

    if (rc <= 0) {
        return rc;
    }
    return r != NULL ? r->ops->doc_get(r, name, out) : file_get(sh, id, out);
}

static int
shelf_put(const shelf_t *sh, sllmp_store_t *st, const char *id, const char *data, size_t len,
          long ttl_s)
{
    sllmp_store_t *r;
    char name[160];

    if (where(sh, st, id, &r, name, sizeof(name)) <= 0) {
        return -1;
    }
    return r != NULL ? r->ops->doc_put(r, name, data, len, ttl_s)
                     : file_put(sh, id, data, len, ttl_s);
}

static int
shelf_del(const shelf_t *sh, sllmp_store_t *st, const char *id)
{
    sllmp_store_t *r;
    char name[160];
    int rc = where(sh, st, id, &r, name, sizeof(name));

    if (rc <= 0) {
        return rc;
    }
    return r != NULL ? r->ops->doc_del(r, name) : file_del(sh, id);
}

int
sllmp_keep_get(const sllmp_conf_t *c, sllmp_store_t *st, const char *id, sllmp_buf_t *out)
{
    shelf_t sh = responses_shelf(c);

    return sllmp_keep_id_ok(id) ? shelf_get(&sh, st, id, out) : 0;
}

int
sllmp_keep_put(const sllmp_conf_t *c, sllmp_store_t *st, const char *id, const char *data,
               size_t len)
{
    shelf_t sh = responses_shelf(c);

    return sllmp_keep_id_ok(id) ? shelf_put(&sh, st, id, data, len, c->responses_ttl_s) : -1;
}

int
sllmp_keep_del(const sllmp_conf_t *c, sllmp_store_t *st, const char *id)
{
    shelf_t sh = responses_shelf(c);

    return sllmp_keep_id_ok(id) ? shelf_del(&sh, st, id) : 0;
}

int
sllmp_cache_get(const sllmp_conf_t *c, sllmp_store_t *st, const char *hex, sllmp_buf_t *out)
{
    shelf_t sh = cache_shelf(c);

    return shelf_get(&sh, st, hex, out);
}

int
sllmp_cache_put(const sllmp_conf_t *c, sllmp_store_t *st, const char *hex, const char *data,
                size_t len, long ttl_s)
{
    shelf_t sh = cache_shelf(c);

    return shelf_put(&sh, st, hex, data, len, ttl_s);
}

int
sllmp_cache_del(const sllmp_conf_t *c, sllmp_store_t *st, const char *hex)
{
    shelf_t sh = cache_shelf(c);

    return shelf_del(&sh, st, hex);
}

long
sllmp_cache_flush(const sllmp_conf_t *c, sllmp_store_t *st)
{
    shelf_t sh = cache_shelf(c);
    sllmp_store_t *r;
    char name[160];

    if (where(&sh, st, "", &r, name, sizeof(name)) <= 0) {
        return -1;
    }
    if (r == NULL) {
        return file_flush(&sh);
    }
    return r->ops->doc_flush != NULL ? r->ops->doc_flush(r, name) : -1;
}
