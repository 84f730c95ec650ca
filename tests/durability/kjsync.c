/* kjsync.so — an LD_PRELOAD interposer for the durability test: is an event
 * acknowledged only after the transaction holding it is on stable storage?
 *
 * Preloaded into kinerjad, it
 *   - delays every sync (fdatasync, fsync, msync, and a write to a file opened
 *     with O_DSYNC/O_SYNC, which is how LMDB writes its meta page) by
 *     KJ_SYNC_DELAY_US (default 20000), so that an ack sent too early would
 *     have time to overtake its sync;
 *   - logs, in one global order, each sync's begin and end, each read from a
 *     socket, and each ack: the first send on a connection after it carried
 *     "POST /api/v1/events", and every WebSocket frame holding op "ack".
 *
 * The log (KJ_SYNC_LOG) has one line per record, "SEQ KIND FD ARG":
 *   R fd 0          bytes read from socket fd
 *   B fd kind       a sync began (kind d: fdatasync/fsync, m: msync, w: O_DSYNC write)
 *   E fd kind       that sync returned
 *   A fd rseq       an ack went out on fd; rseq is the last read on fd before it
 * tests/durability/test_ack_order.py reads it. The daemon's own behaviour is
 * unchanged apart from the delay. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_FD 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static unsigned long seq;
static bool dsync_fd[MAX_FD];     /* opened with O_DSYNC or O_SYNC */
static bool post_pending[MAX_FD]; /* a POST /api/v1/events awaits its answer */
static unsigned long last_read[MAX_FD];

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static void record(char kind, int fd, unsigned long arg, unsigned long *out_seq)
{
    static ssize_t (*real_write)(int, const void *, size_t);
    if (!real_write) real_write = REAL(write);
    pthread_mutex_lock(&lock);
    unsigned long s = ++seq;
    if (out_seq) *out_seq = s;
    if (log_fd < 0) {
        const char *path = getenv("KJ_SYNC_LOG");
        log_fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -2;
    }
    if (log_fd >= 0) {
        char line[64];
        int n = snprintf(line, sizeof line, "%lu %c %d %lu\n", s, kind, fd, arg);
        real_write(log_fd, line, (size_t)n);
    }
    pthread_mutex_unlock(&lock);
}

static void delay(void)
{
    static long us = -1;
    if (us < 0) {
        const char *v = getenv("KJ_SYNC_DELAY_US");
        us = v ? atol(v) : 20000;
    }
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static bool is_socket(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static bool contains(const void *buf, size_t len, const char *needle, size_t n)
{
    return len >= n && memmem(buf, len, needle, n) != NULL;
}

/* ---- reads ---------------------------------------------------------------- */

static void on_read(int fd, const void *buf, ssize_t n)
{
    if (n <= 0 || fd < 0 || fd >= MAX_FD || !is_socket(fd)) return;
    unsigned long s;
    record('R', fd, 0, &s);
    last_read[fd] = s;
    if (contains(buf, (size_t)n, "POST /api/v1/events", 19)) post_pending[fd] = true;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t n = REAL(recv)(fd, buf, len, flags);
    on_read(fd, buf, n);
    return n;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *a, socklen_t *al)
{
    ssize_t n = REAL(recvfrom)(fd, buf, len, flags, a, al);
    on_read(fd, buf, n);
    return n;
}

ssize_t read(int fd, void *buf, size_t len)
{
    ssize_t n = REAL(read)(fd, buf, len);
    on_read(fd, buf, n);
    return n;
}

/* ---- sends: which are acks ------------------------------------------------- */

static void on_send(int fd, const void *buf, size_t len)
{
    if (fd < 0 || fd >= MAX_FD || !is_socket(fd)) return;
    /* A WebSocket ack frame (server frames are not masked): {"op": "ack", ...}. */
    bool ws_ack = contains(buf, len,
                           "\xa2op\xa3"
                           "ack",
                           7);
    if (post_pending[fd] || ws_ack) {
        post_pending[fd] = false;
        record('A', fd, last_read[fd], NULL);
    }
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    on_send(fd, buf, len);
    return REAL(send)(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *a,
               socklen_t al)
{
    on_send(fd, buf, len);
    return REAL(sendto)(fd, buf, len, flags, a, al);
}

/* ---- syncs ------------------------------------------------------------------- */

static int synced(char kind, int fd, int rc)
{
    record('E', fd, (unsigned long)kind, NULL);
    return rc;
}

int fdatasync(int fd)
{
    record('B', fd, 'd', NULL);
    delay();
    return synced('d', fd, REAL(fdatasync)(fd));
}

int fsync(int fd)
{
    record('B', fd, 'd', NULL);
    delay();
    return synced('d', fd, REAL(fsync)(fd));
}

int msync(void *addr, size_t len, int flags)
{
    if (!(flags & MS_SYNC)) return REAL(msync)(addr, len, flags);
    record('B', -1, 'm', NULL);
    delay();
    return synced('m', -1, REAL(msync)(addr, len, flags));
}

/* A write to an O_DSYNC file returns once its data is stable: a sync. */
ssize_t write(int fd, const void *buf, size_t len)
{
    if (fd >= 0 && fd < MAX_FD && dsync_fd[fd]) {
        record('B', fd, 'w', NULL);
        delay();
        ssize_t n = REAL(write)(fd, buf, len);
        return synced('w', fd, (int)n), n;
    }
    on_send(fd, buf, len);
    return REAL(write)(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if (fd < 0 || fd >= MAX_FD || !dsync_fd[fd]) return REAL(pwrite)(fd, buf, len, off);
    record('B', fd, 'w', NULL);
    delay();
    ssize_t n = REAL(pwrite)(fd, buf, len, off);
    return synced('w', fd, (int)n), n;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    return pwrite(fd, buf, len, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    if (n > 0) on_send(fd, iov[0].iov_base, iov[0].iov_len);
    return REAL(writev)(fd, iov, n);
}

/* ---- opens: remember O_DSYNC files ---------------------------------------------- */

static int opened(int fd, int flags)
{
    if (fd >= 0 && fd < MAX_FD) {
        dsync_fd[fd] = (flags & (O_DSYNC | O_SYNC)) != 0;
        post_pending[fd] = false;
    }
    return fd;
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
    return opened(REAL(open)(path, flags, mode), flags);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return opened(REAL(open64)(path, flags, mode), flags);
}

int openat(int dir, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return opened(REAL(openat)(dir, path, flags, mode), flags);
}

int close(int fd)
{
    if (fd >= 0 && fd < MAX_FD) dsync_fd[fd] = post_pending[fd] = false;
    return REAL(close)(fd);
}
