/*
 * The trace spool's writing side (docs/internals/spool.md, deployment.md §7).
 *
 * A record is one file: written, fdatasync'd, then given its name in new/. Where the filesystem
 * has O_TMPFILE (ext4, xfs, btrfs, tmpfs) the file is made nameless in tmp/ and linked into
 * new/ through /proc/self/fd: one directory change instead of three (a create in tmp/, then a
 * rename out of it into new/, which also takes the filesystem's rename lock), and a writer
 * that dies leaves nothing behind. Elsewhere (no O_TMPFILE, no /proc) it is created in tmp/
 * with O_EXCL and renamed into new/, maildir's way. Either way new/ only ever holds whole
 * records. The name is made durable by syncing new/, and that sync is shared: a thread that linked
 * or renamed waits for one directory sync that started after, and whoever finds none running
 * starts it for everyone waiting (a group commit, as a journal does). The data syncs stay
 * concurrent, which ext4's journal already batches.
 *
 * Each spool directory the process writes to has an entry here, found by path: the mapped
 * spool.state (quota and counters shared with the other processes and the uploader), the open
 * new/ directory, and the group-commit state. Entries live until exit; a config names few.
 */
#include "sllmp/spool.h"
#include "sllmp/log.h"
#include "sllmp/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define STATE_MAGIC 0x315053504d4c4c53ULL /* "SLLMPSP1" as a little-endian int64 */
#define STATE_SIZE  64
#define MAX_DIRS    16
#define WARN_EVERY  10000 /* ms between two warnings of one kind */

typedef struct {
    uint64_t magic;
    int64_t bytes;
    int64_t records;
    int64_t dropped;
    int64_t written;
    int64_t reserved[3];
} state_t;

_Static_assert(sizeof(state_t) == STATE_SIZE, "spool.state is 64 bytes");

typedef struct {
    char *dir;
    state_t *st;    /* mapped spool.state, NULL when it could not be set up */
    int newfd;      /* new/, for the directory syncs and the links */
    int tmpfd;      /* tmp/, where nameless files are made */
    int no_tmpfile; /* O_TMPFILE or the link through /proc failed once: tmp/ and rename */
    int ready;      /* the directories exist */
    int64_t seq;    /* file name sequence */
    int64_t warned_at[3];
    long unwarned[3];

    /* group commit of new/'s sync */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int syncing;
    uint64_t started; /* syncs started */
    uint64_t done;    /* the last one finished */
    int sync_err;     /* errno of the last sync, 0 */
} spool_t;

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static int use_rename; /* sllmp_spool_use_rename() */
static spool_t *table[MAX_DIRS];
static int ntable;

static int
mkdir0700(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

int
sllmp_spool_prepare(const char *dir)
{
    static const char *const subs[] = {"tmp", "new", "failed"};
    char path[4096];

    /* the spool itself, with its parents (var/spool under make run) */
    if (sllmp_mkdirs(dir) < 0) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
        if (mkdir0700(path) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Maps dir/spool.state, creating it (under flock, so two creators agree) when missing. */
static state_t *
map_state(const char *dir, int create)
{
    char path[4096];
    struct stat sb;
    state_t *st;
    int fd;

    snprintf(path, sizeof(path), "%s/spool.state", dir);
    fd = open(path, (create ? O_RDWR | O_CREAT : O_RDWR) | O_CLOEXEC, 0600);
    if (fd < 0) {
        return NULL;
    }
    if (flock(fd, LOCK_EX) < 0 || fstat(fd, &sb) < 0) {
        close(fd);
        return NULL;
    }
    if (sb.st_size < STATE_SIZE && ftruncate(fd, STATE_SIZE) < 0) {
        close(fd);
        return NULL;
    }
    st = mmap(NULL, STATE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (st == MAP_FAILED) {
        close(fd);
        return NULL;
    }
    if (st->magic != STATE_MAGIC) {
        /* new, or not ours: start from zero (the uploader recounts new/ at its next run) */
        memset(st, 0, sizeof(*st));
        st->magic = STATE_MAGIC;
    }
    flock(fd, LOCK_UN);
    close(fd); /* the mapping stays */
    return st;
}

/*
 * The entry of dir; *ready says whether its directories and state are usable. With create, the
 * directories and spool.state are made when missing (the pool's writes); without, an absent
 * spool stays absent (the uploader and the reports never create one, as another user).
 */
static spool_t *
spool_get(const char *dir, int create, int *ready)
{
    spool_t *s = NULL;

    *ready = 0;
    pthread_mutex_lock(&table_mu);
    for (int i = 0; i < ntable; i++) {
        if (strcmp(table[i]->dir, dir) == 0) {
            s = table[i];
            break;
        }
    }
    if (s == NULL && ntable < MAX_DIRS) {
        s = sllmp_xcalloc(1, sizeof(*s));
        s->dir = sllmp_xstrdup(dir);
        s->newfd = -1;
        s->tmpfd = -1;
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        table[ntable++] = s;
    }
    pthread_mutex_unlock(&table_mu);
    if (s == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    if (!s->ready) {
        /* retried on each write until it works: the directory may appear later */
        if (!create || sllmp_spool_prepare(dir) == 0) {
            char path[4096];
            int fd;
            state_t *st;

            snprintf(path, sizeof(path), "%s/new", dir);
            fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            st = fd >= 0 ? map_state(dir, create) : NULL;
            if (fd >= 0 && st != NULL) {
                /* a reset's fds and mapping are left to the threads that may still use them */
                snprintf(path, sizeof(path), "%s/tmp", dir);
                s->tmpfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                s->newfd = fd;
                s->st = st;
                s->ready = 1;
            } else if (fd >= 0) {
                close(fd);
            }
        }
    }
    *ready = s->ready;
    pthread_mutex_unlock(&s->mu);
    return s;
}

/* A warning at most every WARN_EVERY ms per kind and process, with how many were held back. */
static void
warn(spool_t *s, int kind, const char *reqid, const char *what, int err)
{
    int64_t now = sllmp_now_ms();
    long held;

    pthread_mutex_lock(&s->mu);
    if (s->warned_at[kind] != 0 && now - s->warned_at[kind] < WARN_EVERY) {
        s->unwarned[kind]++;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    held = s->unwarned[kind];
    s->unwarned[kind] = 0;
    s->warned_at[kind] = now;
    pthread_mutex_unlock(&s->mu);
    sllmp_log(reqid, SLLMP_LOG_WARN,
              "spool %s: %s%s%s; the trace record is dropped (%ld more since the last warning)",
              s->dir, what, err ? ": " : "", err ? strerror(err) : "", held);
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            if (w == 0) {
                errno = EIO;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Whether the directory open as fd was removed (errno is kept). */
static int
removed(int fd)
{
    int err = errno;
    struct stat sb;
    int gone = fstat(fd, &sb) == 0 && sb.st_nlink == 0;

    errno = err;
    return gone;
}

/*
 * What a failure of O_TMPFILE or of the link means: the disk's own refusals fail the record (-1,
 * errno kept); anything else says this system cannot (no O_TMPFILE on this filesystem, no /proc
 * or none for us): 1, and the tmp/-and-rename way from now on.
 */
static int
cannot(spool_t *s)
{
    if (errno == ENOSPC || errno == EDQUOT || errno == EIO || errno == EROFS || errno == EMFILE ||
        errno == ENFILE || errno == ENOMEM) {
        return -1;
    }
    __atomic_store_n(&s->no_tmpfile, 1, __ATOMIC_RELAXED);
    return 1;
}

/*
 * Writes a record as a nameless file in tmp/ and links it into new/ as name. 0 when done; -1
 * with errno when it failed (ENOENT: the spool was removed); 1 when the record must take the
 * tmp/-and-rename way (for good when this system cannot: see cannot()).
 */
static int
write_linked(spool_t *s, const char *name, const char *data, size_t len, int fsync_on)
{
    char proc[64];
    int fd, err;

    if (s->tmpfd < 0) {
        return 1; /* tmp/ would not open (EMFILE?): this record the other way */
    }
    fd = openat(s->tmpfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (removed(s->tmpfd) || errno == ENOENT || errno == ENOTDIR) {
            errno = ENOENT; /* removed (the kernel may say EPERM): the caller makes it again */
            return -1;
        }
        return cannot(s);
    }
    if (write_all(fd, data, len) < 0 || (fsync_on && fdatasync(fd) < 0)) {
        goto fail;
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, s->newfd, name, AT_SYMLINK_FOLLOW) < 0) {
        err = errno;
        close(fd);
        if (removed(s->newfd) || (err == ENOENT && access("/proc/self/fd", X_OK) == 0)) {
            errno = ENOENT;
            return -1;
        }
        errno = err;
        return cannot(s); /* no /proc, or it is closed to us (EACCES under a policy) */
    }
    close(fd); /* the record is in new/ whatever close says */
    return 0;

fail:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

/* Waits for a sync of new/ that started after the caller's link or rename. 0, or -1 with errno. */
static int
sync_dir(spool_t *s)
{
    uint64_t need;
    int err = 0;

    pthread_mutex_lock(&s->mu);
    /* a sync already running may have missed our rename: we need the one after it */
    need = s->started + 1;
    while (s->done < need) {
        if (!s->syncing) {
            uint64_t mine = ++s->started;

            s->syncing = 1;
            pthread_mutex_unlock(&s->mu);
            err = fsync(s->newfd) < 0 ? errno : 0;
            pthread_mutex_lock(&s->mu);
            s->syncing = 0;
            s->done = mine;
            s->sync_err = err;
            pthread_cond_broadcast(&s->cv);
        } else {
            pthread_cond_wait(&s->cv, &s->mu);
        }
    }
    err = s->sync_err;
    pthread_mutex_unlock(&s->mu);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

sllmp_spool_rc_t
sllmp_spool_write(const char *dir, const char *data, size_t len, int fsync_on, int64_t max_bytes,
                  const char *reqid)
{
    int ready, again = 1;
    spool_t *s = spool_get(dir, 1, &ready);
    char name[96], tmp[4200], dst[4200];
    struct timeval tv;
    int64_t seq;
    unsigned rnd;
    int fd, rc;

retry:
    if (s == NULL || !ready) {
        if (s != NULL) {
            warn(s, 0, reqid, "cannot create the spool directories", errno);
        } else {
            sllmp_log(reqid, SLLMP_LOG_WARN, "too many spool directories; record dropped");
        }
        return SLLMP_SPOOL_FAILED;
    }
    /* the record's bytes are taken before it is written, so writers at once (the workers of
     * the pool) cannot each find the room only one of them has */
    if (__atomic_fetch_add(&s->st->bytes, (int64_t)len, __ATOMIC_RELAXED) + (int64_t)len >
            max_bytes &&
        max_bytes > 0) {
        __atomic_fetch_sub(&s->st->bytes, (int64_t)len, __ATOMIC_RELAXED);
        __atomic_fetch_add(&s->st->dropped, 1, __ATOMIC_RELAXED);
        warn(s, 1, reqid, "full (sllmp.spool.max_mb reached)", 0);
        return SLLMP_SPOOL_FULL;
    }
    gettimeofday(&tv, NULL);
    seq = __atomic_add_fetch(&s->seq, 1, __ATOMIC_RELAXED);
    sllmp_random(&rnd, sizeof(rnd));
    snprintf(name, sizeof(name), "%010lld.%06ld.%ld.%lld.%08x.json", (long long)tv.tv_sec,
             (long)tv.tv_usec, (long)getpid(), (long long)seq, rnd);
    snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
    snprintf(dst, sizeof(dst), "%s/new/%s", dir, name);

    fd = -1;
    rc = 1;
    if (!__atomic_load_n(&use_rename, __ATOMIC_RELAXED) &&
        !__atomic_load_n(&s->no_tmpfile, __ATOMIC_RELAXED)) {
        rc = write_linked(s, name, data, len, fsync_on);
    }
    if (rc == 0) {
        goto written;
    }
    if (rc > 0) {
        fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    } /* else write_linked's errno stands for the open's: ENOENT, a removed spool */
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR) && again) {
        /* the spool was removed under us: make it again, once */
        again = 0;
        __atomic_fetch_sub(&s->st->bytes, (int64_t)len, __ATOMIC_RELAXED);
        pthread_mutex_lock(&s->mu);
        s->ready = 0;
        pthread_mutex_unlock(&s->mu);
        s = spool_get(dir, 1, &ready);
        if (s != NULL && ready) {
            goto retry;
        }
        if (s == NULL) {
            sllmp_log(reqid, SLLMP_LOG_WARN, "too many spool directories; record dropped");
            return SLLMP_SPOOL_FAILED;
        }
        errno = ENOENT;
        goto failed;
    }
    if (fd < 0) {
        goto unreserve;
    }
    if (write_all(fd, data, len) < 0 || (fsync_on && fdatasync(fd) < 0)) {
        int err = errno;

        close(fd);
        unlink(tmp);
        errno = err;
        goto unreserve;
    }
    if (close(fd) < 0 || rename(tmp, dst) < 0) {
        int err = errno;

        unlink(tmp);
        errno = err;
        goto unreserve;
    }
written:
    if (fsync_on && sync_dir(s) < 0) {
        /* the record is in new/ and will be uploaded; only its durability is in doubt */
        warn(s, 2, reqid, "syncing new/ failed", errno);
    }
    __atomic_fetch_add(&s->st->records, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->st->written, 1, __ATOMIC_RELAXED);
    return SLLMP_SPOOL_WRITTEN;

unreserve:
    __atomic_fetch_sub(&s->st->bytes, (int64_t)len, __ATOMIC_RELAXED);
failed:
    __atomic_fetch_add(&s->st->dropped, 1, __ATOMIC_RELAXED);
    warn(s, 0, reqid, "cannot write a record", errno);
    return SLLMP_SPOOL_FAILED;
}

void
sllmp_spool_use_rename(int on)
{
    __atomic_store_n(&use_rename, on, __ATOMIC_RELAXED);
}

/* The state of dir for the uploader and the reports, mapped once per process. */
static state_t *
state_of(const char *dir)
{
    int ready;
    spool_t *s = spool_get(dir, 0, &ready);

    return s != NULL && ready ? s->st : NULL;
}

int
sllmp_spool_stats(const char *dir, sllmp_spool_stats_t *out)
{
    char path[4096];
    state_t *st;

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "%s/spool.state", dir);
    if (access(path, F_OK) < 0) {
        return -1; /* reading does not create a spool */
    }
    st = state_of(dir);
    if (st == NULL) {
        return -1;
    }
    out->bytes = __atomic_load_n(&st->bytes, __ATOMIC_RELAXED);
    out->records = __atomic_load_n(&st->records, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n(&st->dropped, __ATOMIC_RELAXED);
    out->written = __atomic_load_n(&st->written, __ATOMIC_RELAXED);
    return 0;
}

void
sllmp_spool_forget(const char *dir, int64_t bytes, int64_t records)
{
    state_t *st = state_of(dir);

    if (st != NULL) {
        __atomic_fetch_sub(&st->bytes, bytes, __ATOMIC_RELAXED);
        __atomic_fetch_sub(&st->records, records, __ATOMIC_RELAXED);
    }
}

void
sllmp_spool_recount(const char *dir, int64_t bytes, int64_t records)
{
    state_t *st = state_of(dir);

    if (st != NULL) {
        __atomic_store_n(&st->bytes, bytes, __ATOMIC_RELAXED);
        __atomic_store_n(&st->records, records, __ATOMIC_RELAXED);
    }
}
