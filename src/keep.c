/* Kept responses (include/sllmp/keep.h): Redis through the limit store, or files. */
#include "sllmp/keep.h"
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
 * Where the document id lives: 1 and *redis the Redis store, or NULL for the files; 0 when id is
 * no kept response's name; -1 when the config uses Redis and st is none (never the files then:
 * the other hosts would not see them).
 */
static int
where(const sllmp_conf_t *c, sllmp_store_t *st, const char *id, sllmp_store_t **redis)
{
    *redis = NULL;
    if (!sllmp_keep_id_ok(id)) {
        return 0;
    }
    if (!sllmp_store_is_redis(c)) {
        return 1;
    }
    if (st == NULL || st->ops->doc_get == NULL) {
        return -1;
    }
    *redis = st;
    return 1;
}

static void
file_path(const sllmp_conf_t *c, const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.json", c->responses_dir, id);
}

static int
expired(const struct stat *st, long ttl_s, time_t now)
{
    return st->st_mtime + ttl_s <= now;
}

/* ---- the sweep: expired files go, the rest is measured for the quota ---- */

static pthread_mutex_t sweep_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t swept_at;   /* ms (monotonic) of the last sweep; 0: none yet */
static int64_t kept_bytes; /* what the last sweep found, plus what was written since */

static void
sweep(const sllmp_conf_t *c)
{
    time_t now = time(NULL);
    int64_t total = 0;
    struct dirent *e;
    DIR *d = opendir(c->responses_dir);

    if (d == NULL) {
        kept_bytes = 0;
        return;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        size_t n = strlen(e->d_name);

        int tmp = strncmp(e->d_name, ".resp_", 6) == 0;

        if ((!tmp && (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        /* a temporary file an hour old is one a killed writer left */
        if (tmp ? st.st_mtime + TMP_LEFT_S <= now : expired(&st, c->responses_ttl_s, now)) {
            unlinkat(dirfd(d), e->d_name, 0);
        } else {
            total += st.st_size;
        }
    }
    closedir(d);
    kept_bytes = total;
}

/* Whether len more bytes fit (sweeping first when the last sweep is a minute old). */
static int
room_for(const sllmp_conf_t *c, size_t len)
{
    int64_t now = sllmp_now_ms();
    int fits;

    pthread_mutex_lock(&sweep_lock);
    if (swept_at == 0 || now - swept_at >= SWEEP_EVERY_MS) {
        sweep(c);
        swept_at = now;
    }
    fits = kept_bytes + (int64_t)len <= (int64_t)c->responses_max_mb * 1024 * 1024;
    if (fits) {
        kept_bytes += (int64_t)len;
    }
    pthread_mutex_unlock(&sweep_lock);
    return fits;
}

/* ---- files ---- */

static int
file_get(const sllmp_conf_t *c, const char *id, sllmp_buf_t *out)
{
    char path[4096], chunk[16384];
    struct stat st;
    ssize_t n;
    int fd;

    file_path(c, id, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return errno == ENOENT ? 0 : -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    if (expired(&st, c->responses_ttl_s, time(NULL))) {
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
file_put(const sllmp_conf_t *c, const char *id, const char *data, size_t len)
{
    char path[4096], tmp[4096], rnd[17];
    size_t off = 0;
    int fd;

    if (!room_for(c, len)) {
        return 1;
    }
    if (sllmp_mkdirs(c->responses_dir) < 0) {
        return -1;
    }
    sllmp_random_hex(rnd, 8);
    file_path(c, id, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s/.%s.%s", c->responses_dir, id, rnd);
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
    /* no fsync: a response lost to a crash of the host is only a conversation to send again */
    if (close(fd) < 0 || off < len || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int
file_del(const sllmp_conf_t *c, const char *id)
{
    char path[4096];

    file_path(c, id, path, sizeof(path));
    if (unlink(path) < 0) {
        return errno == ENOENT ? 0 : -1;
    }
    return 1;
}

/* ---- either ---- */

int
sllmp_keep_get(const sllmp_conf_t *c, sllmp_store_t *st, const char *id, sllmp_buf_t *out)
{
    sllmp_store_t *r;
    int rc = where(c, st, id, &r);

    if (rc <= 0) {
        return rc;
    }
    return r != NULL ? r->ops->doc_get(r, id, out) : file_get(c, id, out);
}

int
sllmp_keep_put(const sllmp_conf_t *c, sllmp_store_t *st, const char *id, const char *data,
               size_t len)
{
    sllmp_store_t *r;

    if (where(c, st, id, &r) <= 0) {
        return -1;
    }
    return r != NULL ? r->ops->doc_put(r, id, data, len, c->responses_ttl_s)
                     : file_put(c, id, data, len);
}

int
sllmp_keep_del(const sllmp_conf_t *c, sllmp_store_t *st, const char *id)
{
    sllmp_store_t *r;
    int rc = where(c, st, id, &r);

    if (rc <= 0) {
        return rc;
    }
    return r != NULL ? r->ops->doc_del(r, id) : file_del(c, id);
}
