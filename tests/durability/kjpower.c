/* kjpower.so — an LD_PRELOAD shim that simulates a power loss for the
 * durability test: it keeps, beside the daemon's state directory, a copy that
 * receives only what the daemon made durable.
 *
 * Every write (write, pwrite, writev) to a file in KJ_POWER_DIR goes to the
 * real file as usual and is also remembered as pending for that file. A sync
 * of the file (fdatasync or fsync on any of its descriptors) applies its
 * pending writes, in order, to the same file in KJ_POWER_COPY; a write to a
 * descriptor opened with O_DSYNC/O_SYNC (LMDB's meta page) is applied at
 * once. What was pending when the daemon is killed is what the page cache
 * would have lost to a power cut: the copy never sees it. The test then starts
 * a daemon on the copy.
 *
 * Not modelled: writes through a shared mmap (LMDB writes pages with write
 * calls unless MDB_WRITEMAP, which kinerjad does not use), a sync that is
 * itself torn (the copy applies a sync's writes whole), and lock.mdb (shared
 * memory, rebuilt at every open). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FD 4096
#define MAX_FILES 16

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

typedef struct pending {
    int file;
    off_t off;
    size_t len;
    struct pending *next;
    unsigned char data[];
} pending;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char files[MAX_FILES][NAME_MAX + 1]; /* basenames in the watched dir */
static int copy_fd[MAX_FILES];
static size_t n_files;
static int file_of_fd[MAX_FD]; /* index + 1; 0: not watched */
static bool dsync[MAX_FD];
static pending *head, **tail = &head;

/* The watched file path names (in KJ_POWER_DIR, not lock.mdb), or -1. */
static int watched(int dirfd, const char *path)
{
    const char *dir = getenv("KJ_POWER_DIR"), *copy = getenv("KJ_POWER_COPY");
    if (!dir || !copy || !path) return -1;
    char full[PATH_MAX];
    if (path[0] != '/' && dirfd != AT_FDCWD) return -1;
    snprintf(full, sizeof full, "%s", path);
    const char *slash = strrchr(full, '/');
    if (!slash || (size_t)(slash - full) != strlen(dir) || strncmp(full, dir, strlen(dir)))
        return -1;
    const char *base = slash + 1;
    if (!strcmp(base, "lock.mdb")) return -1;
    for (size_t i = 0; i < n_files; i++)
        if (!strcmp(files[i], base)) return (int)i;
    if (n_files == MAX_FILES) abort();
    snprintf(files[n_files], sizeof files[n_files], "%s", base);
    char cp[PATH_MAX];
    snprintf(cp, sizeof cp, "%s/%s", copy, base);
    copy_fd[n_files] = REAL(open)(cp, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (copy_fd[n_files] < 0) abort();
    return (int)n_files++;
}

static int opened(int fd, int dirfd, const char *path, int flags)
{
    if (fd < 0 || fd >= MAX_FD) return fd;
    pthread_mutex_lock(&lock);
    int f = watched(dirfd, path);
    file_of_fd[fd] = f + 1;
    dsync[fd] = (flags & (O_DSYNC | O_SYNC)) != 0;
    pthread_mutex_unlock(&lock);
    return fd;
}

static void apply(int file, off_t off, const void *buf, size_t len)
{
    if (REAL(pwrite)(copy_fd[file], buf, len, off) != (ssize_t)len) abort();
}

/* A write of len bytes at off to fd succeeded: durable now (O_DSYNC), or
 * pending until the file's next sync. */
static void wrote(int fd, off_t off, const struct iovec *iov, int n, size_t len)
{
    if (fd < 0 || fd >= MAX_FD || !file_of_fd[fd] || !len) return;
    pthread_mutex_lock(&lock);
    int file = file_of_fd[fd] - 1;
    pending *p = malloc(sizeof *p + len);
    if (!p) abort();
    *p = (pending){.file = file, .off = off, .len = len};
    size_t at = 0;
    for (int i = 0; i < n && at < len; i++) {
        size_t k = iov[i].iov_len < len - at ? iov[i].iov_len : len - at;
        memcpy(p->data + at, iov[i].iov_base, k);
        at += k;
    }
    if (dsync[fd]) {
        apply(file, off, p->data, len);
        free(p);
    } else {
        *tail = p;
        tail = &p->next;
    }
    pthread_mutex_unlock(&lock);
}

/* fd's file was synced: its pending writes reach the copy, in order. */
static void synced(int fd)
{
    if (fd < 0 || fd >= MAX_FD || !file_of_fd[fd]) return;
    pthread_mutex_lock(&lock);
    int file = file_of_fd[fd] - 1;
    pending **pp = &head;
    while (*pp) {
        pending *p = *pp;
        if (p->file != file) {
            pp = &p->next;
            continue;
        }
        apply(file, p->off, p->data, p->len);
        *pp = p->next;
        free(p);
    }
    tail = pp;
    while (*tail)
        tail = &(*tail)->next;
    pthread_mutex_unlock(&lock);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    ssize_t n = REAL(pwrite)(fd, buf, len, off);
    struct iovec v = {(void *)buf, len};
    if (n > 0) wrote(fd, off, &v, 1, (size_t)n);
    return n;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    return pwrite(fd, buf, len, off);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    bool w = fd >= 0 && fd < MAX_FD && file_of_fd[fd];
    off_t off = w ? lseek(fd, 0, SEEK_CUR) : 0;
    ssize_t n = REAL(write)(fd, buf, len);
    struct iovec v = {(void *)buf, len};
    if (w && n > 0) wrote(fd, off, &v, 1, (size_t)n);
    return n;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    bool w = fd >= 0 && fd < MAX_FD && file_of_fd[fd];
    off_t off = w ? lseek(fd, 0, SEEK_CUR) : 0;
    ssize_t n = REAL(writev)(fd, iov, cnt);
    if (w && n > 0) wrote(fd, off, iov, cnt, (size_t)n);
    return n;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    ssize_t n = REAL(pwritev)(fd, iov, cnt, off);
    if (n > 0) wrote(fd, off, iov, cnt, (size_t)n);
    return n;
}

int fdatasync(int fd)
{
    int rc = REAL(fdatasync)(fd);
    if (rc == 0) synced(fd);
    return rc;
}

int fsync(int fd)
{
    int rc = REAL(fsync)(fd);
    if (rc == 0) synced(fd);
    return rc;
}

static mode_t mode_of(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return opened(REAL(open)(path, flags, mode), AT_FDCWD, path, flags);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return opened(REAL(open64)(path, flags, mode), AT_FDCWD, path, flags);
}

int openat(int dir, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return opened(REAL(openat)(dir, path, flags, mode), dir, path, flags);
}

int close(int fd)
{
    if (fd >= 0 && fd < MAX_FD) file_of_fd[fd] = 0, dsync[fd] = false;
    return REAL(close)(fd);
}
