/* bench_disk — the floor this disk puts under a durable commit, in the
 * directory given (make bench passes the daemon's): what one commit of single
 * events could cost at best, written the way LMDB writes it and the way a
 * write-ahead log would.
 *
 * - an LMDB commit: N pages at scattered offsets (copy-on-write puts each
 *   dirty page where a free one was), fdatasync, then the meta page through
 *   an O_DSYNC descriptor: two waits for the disk;
 * - a log append: one record written after the last and fdatasync: one wait;
 *   at the end of the file (which grows: the sync then also writes the inode,
 *   as an append-only file like Redis's does) or into space allocated before.
 *
 * Prints the median and p99 of each; asserts nothing.
 *
 * usage: bench_disk DIR [ROUNDS]   (500 rounds a case) */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "clock.h"

#define PAGE 4096
#define FILE_PAGES 16384 /* 64 MiB: scattered pages land far apart */

static void report(const char *what, int64_t *us, int n)
{
    qsort(us, (size_t)n, sizeof *us, bench_cmp64);
    printf("  %-44s p50 %6.0f us  p99 %6.0f us\n", what, (double)us[n / 2],
           (double)us[n * 99 / 100]);
}

/* A file of FILE_PAGES written and synced, so that later writes allocate
 * nothing (as in a store that has grown). */
static int make_file(const char *path, const uint8_t *page)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    for (int i = 0; i < FILE_PAGES; i++)
        if (pwrite(fd, page, PAGE, (off_t)i * PAGE) != PAGE) {
            close(fd);
            return -1;
        }
    return fsync(fd) ? (close(fd), -1) : fd;
}

static int lmdb_commits(int fd, int dsync_fd, const uint8_t *page, int pages, int64_t *us, int n)
{
    unsigned r = 12345;
    for (int i = 0; i < n; i++) {
        int64_t t0 = kj_mono_us();
        for (int p = 0; p < pages; p++) {
            r = r * 1103515245u + 12345u;
            off_t at = (off_t)(2 + (r >> 8) % (FILE_PAGES - 2)) * PAGE;
            if (pwrite(fd, page, PAGE, at) != PAGE) return -1;
        }
        if (fdatasync(fd) || pwrite(dsync_fd, page, 128, (off_t)(i % 2) * PAGE) != 128) return -1;
        us[i] = kj_mono_us() - t0;
    }
    return 0;
}

static int log_appends(int fd, const uint8_t *page, size_t len, int64_t *us, int n)
{
    off_t end = 0;
    for (int i = 0; i < n; i++) {
        int64_t t0 = kj_mono_us();
        if (pwrite(fd, page, len, end) != (ssize_t)len || fdatasync(fd)) return -1;
        end += (off_t)len;
        us[i] = kj_mono_us() - t0;
    }
    return 0;
}

static void lmdb_cases(int fd, int dsync_fd, const uint8_t *page, int64_t *us, int n, int *rc)
{
    static const int pages[] = {1, 4, 16};
    for (size_t i = 0; !*rc && i < sizeof pages / sizeof *pages; i++) {
        char what[80];
        snprintf(what, sizeof what, "LMDB's way: %d scattered page%s, 2 syncs", pages[i],
                 pages[i] > 1 ? "s" : "");
        if (!(*rc = lmdb_commits(fd, dsync_fd, page, pages[i], us, n))) report(what, us, n);
    }
}

static void log_case(const char *what, int fd, const uint8_t *page, size_t len, int64_t *us, int n,
                     int *rc)
{
    if (!*rc && !(*rc = log_appends(fd, page, len, us, n))) report(what, us, n);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_disk DIR [ROUNDS]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 500;
    if (n < 10) return 2;
    char data[4096], wal[4096];
    snprintf(data, sizeof data, "%s/bench-disk-data", argv[1]);
    snprintf(wal, sizeof wal, "%s/bench-disk-log", argv[1]);
    static uint8_t page[PAGE];
    memset(page, 0x5a, sizeof page);
    int64_t *us = malloc((size_t)n * sizeof *us);
    int fd = make_file(data, page), dsync_fd = open(data, O_WRONLY | O_DSYNC);
    int log_fd = open(wal, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int rc = fd < 0 || dsync_fd < 0 || log_fd < 0 || !us;
    printf("disk floor under a commit (%s, %d rounds a case)\n", argv[1], n);
    lmdb_cases(fd, dsync_fd, page, us, n, &rc);
    log_case("a log's way: 200 bytes at the end, 1 sync", log_fd, page, 200, us, n, &rc);
    log_case("a log's way: 200 bytes, allocated, 1 sync", fd, page, 200, us, n, &rc);
    log_case("a log's way: 4 KiB, allocated, 1 sync", fd, page, PAGE, us, n, &rc);
    if (rc) perror("bench_disk");
    if (fd >= 0) close(fd);
    if (dsync_fd >= 0) close(dsync_fd);
    if (log_fd >= 0) close(log_fd);
    unlink(data);
    unlink(wal);
    free(us);
    return rc;
}
