/* kinerja — the client's spool (spool.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "lib_shared.h"
#include "spool.h"

#define MAGIC "KJSPOOL1"
#define SUFFIX ".kjs"
/* Files below this size take the next small batch (merged and rewritten):
 * a long outage at a few events per post must not mean a million files. */
#define MERGE_BELOW (256 * 1024)

struct kj_spool {
    char *dir;
    int dirfd;
    int lockfd;
    bool locked;
    kj_spool_limits lim;
};

/* ---- helpers ------------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void file_name(char *buf, size_t cap, uint64_t seq)
{
    snprintf(buf, cap, "%020" PRIu64 SUFFIX, seq);
}

/* "00000000000000000042.kjs" -> 42; false for anything else. */
static bool parse_name(const char *name, uint64_t *seq)
{
    if (strlen(name) != 20 + strlen(SUFFIX) || strcmp(name + 20, SUFFIX) != 0) return false;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *seq = v;
    return true;
}

static bool write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n, len -= (size_t)n;
    }
    return true;
}

static bool read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n, len -= (size_t)n;
    }
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *path)
{
    char *p = kj_strdup(path);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) rc = -1;
        *s = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST) rc = -1;
    free(p);
    return rc;
}

/* ---- open / lock -------------------------------------------------------------- */

kj_err kj_spool_open(const char *dir, const kj_spool_limits *lim, kj_spool **out, char *msg,
                     size_t msglen)
{
    kj_spool *s = kj_calloc(1, sizeof *s);
    s->dirfd = s->lockfd = -1;
    s->dir = kj_strdup(dir);
    s->lim = *lim;
    if (make_dirs(dir) != 0) {
        kj_msgf(msg, msglen, "spool %s: cannot create: %s", dir, strerror(errno));
        goto fail;
    }
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        kj_msgf(msg, msglen, "spool %s: %s", dir, strerror(errno));
        goto fail;
    }
    s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0) {
        kj_msgf(msg, msglen, "spool %s/lock: %s", dir, strerror(errno));
        goto fail;
    }
    *out = s;
    return KJ_OK;
fail:
    kj_spool_free(s);
    return KJ_ERR_IO;
}

void kj_spool_free(kj_spool *s)
{
    if (!s) return;
    if (s->lockfd >= 0) close(s->lockfd); /* drops the flock too */
    if (s->dirfd >= 0) close(s->dirfd);
    free(s->dir);
    free(s);
}

kj_err kj_spool_lock(kj_spool *s, char *msg, size_t msglen)
{
    if (s->locked) return KJ_OK;
    while (flock(s->lockfd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        kj_msgf(msg, msglen, "spool %s: cannot lock: %s", s->dir, strerror(errno));
        return KJ_ERR_IO;
    }
    s->locked = true;
    return KJ_OK;
}

void kj_spool_unlock(kj_spool *s)
{
    if (!s || !s->locked) return;
    flock(s->lockfd, LOCK_UN);
    s->locked = false;
}

/* ---- listing ------------------------------------------------------------------ */

/* Walk the directory: collect the sequence numbers, their total size, and
 * remove tmp files, which under the lock can only be a dead writer's. */
kj_err kj_spool_list(kj_spool *s, uint64_t **seqs, size_t *n, uint64_t *bytes, char *msg,
                     size_t msglen)
{
    int fd = dup(s->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        kj_msgf(msg, msglen, "spool %s: %s", s->dir, strerror(errno));
        return KJ_ERR_IO;
    }
    rewinddir(d);
    size_t len = 0, cap = 16;
    uint64_t *v = kj_malloc(cap * sizeof *v), total = 0, seq;
    struct dirent *e;
    struct stat st;
    while ((e = readdir(d))) {
        if (s->locked && !strncmp(e->d_name, "tmp.", 4)) {
            unlinkat(s->dirfd, e->d_name, 0);
            continue;
        }
        if (!parse_name(e->d_name, &seq)) continue;
        if (fstatat(s->dirfd, e->d_name, &st, 0) == 0) total += (uint64_t)st.st_size;
        if (len == cap) v = kj_realloc(v, (cap *= 2) * sizeof *v);
        v[len++] = seq;
    }
    closedir(d);
    qsort(v, len, sizeof *v, cmp_u64);
    *seqs = v;
    *n = len;
    if (bytes) *bytes = total;
    return KJ_OK;
}

/* ---- reading ------------------------------------------------------------------ */

/* Rename a corrupt file out of the way, keeping it for whoever investigates. */
static void set_aside(kj_spool *s, const char *name)
{
    char bad[64];
    snprintf(bad, sizeof bad, "%s.bad", name);
    if (renameat(s->dirfd, name, s->dirfd, bad) != 0) unlinkat(s->dirfd, name, 0);
    fsync(s->dirfd);
}

kj_err kj_spool_read(kj_spool *s, uint64_t seq, kj_spool_file *out, char *msg, size_t msglen)
{
    char name[48];
    uint8_t head[KJ_SPOOL_HEADER];
    struct stat st;
    uint8_t *buf = NULL;
    const char *why = NULL;
    kj_err err = KJ_ERR_IO;
    file_name(name, sizeof name, seq);
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        kj_msgf(msg, msglen, "spool %s/%s: %s", s->dir, name, strerror(errno));
        return errno == ENOENT ? KJ_ERR_NOT_FOUND : KJ_ERR_IO;
    }
    if (fstat(fd, &st) != 0) goto io_fail;
    if (st.st_size < KJ_SPOOL_HEADER || !read_all(fd, head, sizeof head)) {
        why = "truncated header";
        goto corrupt;
    }
    uint32_t count = get32(head + 8), len = get32(head + 12), crc = get32(head + 16);
    if (memcmp(head, MAGIC, 8) != 0) {
        why = "not a spool file";
        goto corrupt;
    }
    if ((uint64_t)st.st_size != (uint64_t)KJ_SPOOL_HEADER + len) {
        why = "size does not match its header (half-written?)";
        goto corrupt;
    }
    buf = malloc(len ? len : 1);
    if (!buf) {
        err = KJ_ERR_NOMEM;
        kj_msgf(msg, msglen, "spool %s/%s: out of memory", s->dir, name);
        goto done;
    }
    if (!read_all(fd, buf, len)) goto io_fail;
    if (kj_crc32(0, buf, len) != crc || count == 0) {
        why = "checksum mismatch";
        goto corrupt;
    }
    *out = (kj_spool_file){.seq = seq, .count = count, .events = buf, .len = len};
    buf = NULL;
    err = KJ_OK;
    goto done;
io_fail:
    kj_msgf(msg, msglen, "spool %s/%s: %s", s->dir, name, strerror(errno));
    goto done;
corrupt:
    kj_msgf(msg, msglen, "spool %s/%s: %s; set aside as %s.bad", s->dir, name, why, name);
    set_aside(s, name);
    err = KJ_ERR_DECODE;
done:
    free(buf);
    close(fd);
    return err;
}

void kj_spool_file_clear(kj_spool_file *f)
{
    free(f->events);
    *f = (kj_spool_file){0};
}

kj_err kj_spool_remove(kj_spool *s, uint64_t seq, char *msg, size_t msglen)
{
    char name[48];
    file_name(name, sizeof name, seq);
    /* No directory fsync: should the removal be lost in a crash, the file is
     * sent again and the daemon answers duplicates. */
    if (unlinkat(s->dirfd, name, 0) != 0 && errno != ENOENT) {
        kj_msgf(msg, msglen, "spool %s/%s: cannot remove: %s", s->dir, name, strerror(errno));
        return KJ_ERR_IO;
    }
    return KJ_OK;
}

kj_err kj_spool_pending(kj_spool *s, uint64_t *events, char *msg, size_t msglen)
{
    uint64_t *seqs, total = 0;
    size_t n;
    kj_err err = kj_spool_list(s, &seqs, &n, NULL, msg, msglen);
    if (err) return err;
    for (size_t i = 0; i < n; i++) {
        char name[48];
        uint8_t head[KJ_SPOOL_HEADER];
        file_name(name, sizeof name, seqs[i]);
        int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        if (read_all(fd, head, sizeof head) && !memcmp(head, MAGIC, 8)) total += get32(head + 8);
        close(fd);
    }
    free(seqs);
    *events = total;
    return KJ_OK;
}

/* ---- writing ------------------------------------------------------------------ */

/* Write header + old + add to a tmp file, fsync it and rename it to seq's
 * name, then fsync the directory: all of it is on disk, or none of it. */
static kj_err write_file(kj_spool *s, uint64_t seq, const kj_spool_file *old, const uint8_t *add,
                         size_t add_len, uint32_t add_count, char *msg, size_t msglen)
{
    char name[48], tmp[64];
    uint8_t head[KJ_SPOOL_HEADER];
    size_t old_len = old ? old->len : 0;
    uint32_t count = (old ? old->count : 0) + add_count;
    uint32_t crc = kj_crc32(old ? kj_crc32(0, old->events, old_len) : 0, add, add_len);
    file_name(name, sizeof name, seq);
    snprintf(tmp, sizeof tmp, "tmp.%ld.%" PRIu64, (long)getpid(), seq);
    memcpy(head, MAGIC, 8);
    put32(head + 8, count);
    put32(head + 12, (uint32_t)(old_len + add_len));
    put32(head + 16, crc);

    int fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) goto fail;
    bool ok = write_all(fd, head, sizeof head) && (!old || write_all(fd, old->events, old_len)) &&
              write_all(fd, add, add_len) && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    errno = saved;
    if (!ok || renameat(s->dirfd, tmp, s->dirfd, name) != 0 || fsync(s->dirfd) != 0) goto fail;
    return KJ_OK;
fail:
    kj_msgf(msg, msglen, "spool %s: cannot write %s: %s", s->dir, name, strerror(errno));
    unlinkat(s->dirfd, tmp, 0);
    return errno == ENOSPC || errno == EDQUOT ? KJ_ERR_FULL : KJ_ERR_IO;
}

kj_err kj_spool_append(kj_spool *s, const uint8_t *events, size_t len, uint32_t count, char *msg,
                       size_t msglen)
{
    uint64_t *seqs = NULL, bytes = 0;
    size_t n = 0;
    kj_spool_file last = {0};
    kj_err err;
    if (!s->locked && (err = kj_spool_lock(s, msg, msglen))) return err;
    if ((err = kj_spool_list(s, &seqs, &n, &bytes, msg, msglen))) return err;
    if (bytes + KJ_SPOOL_HEADER + len > s->lim.max_bytes) {
        kj_msgf(msg, msglen,
                "spool %s is full (%" PRIu64 " of %" PRIu64
                " bytes used): the daemon has been unreachable for too long",
                s->dir, bytes, s->lim.max_bytes);
        err = KJ_ERR_FULL;
        goto done;
    }
    uint64_t seq = n ? seqs[n - 1] + 1 : 1;
    if (n) {
        /* Merge into the last file when it is small and the result still
         * fits in one frame. A corrupt last file is set aside by the read. */
        struct stat st;
        char name[48];
        file_name(name, sizeof name, seqs[n - 1]);
        if (fstatat(s->dirfd, name, &st, 0) == 0 && st.st_size < MERGE_BELOW &&
            (uint64_t)st.st_size - KJ_SPOOL_HEADER + len <= s->lim.file_bytes &&
            kj_spool_read(s, seqs[n - 1], &last, NULL, 0) == KJ_OK) {
            if (last.count + (size_t)count <= s->lim.file_events)
                seq = seqs[n - 1];
            else
                kj_spool_file_clear(&last);
        }
    }
    err = write_file(s, seq, last.events ? &last : NULL, events, len, count, msg, msglen);
done:
    kj_spool_file_clear(&last);
    free(seqs);
    return err;
}
