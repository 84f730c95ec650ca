/* Unit tests of libkinerja's parts that need no daemon: event ids, the spool
 * (order, merging, limits, crash safety), events from flags, file formats and
 * the reader, the small parsers, msgpack walking, and the terminal view.
 *
 * The spool's delivery is tested against a one-connection HTTP responder in a
 * child process (fake_daemon), which answers every POST as accepted and
 * records the ids it saw, in order. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec.h"
#include "kinerja.h"
#include "mpwalk.h"
#include "packet.h"
#include "spool.h"
#include "view.h"

#define MSGLEN 300

/* ---- helpers ------------------------------------------------------------------------- */

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/kj-test-client-XXXXXX";
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    return strdup(d);
}

static void remove_tree(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
}

static size_t count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        if (l > s && !strcmp(e->d_name + l - s, suffix)) n++;
    }
    closedir(d);
    return n;
}

/* A valid service event with id "<prefix>-<i>". */
static kj_event service_event(const char *prefix, int i)
{
    /* one ts for every event of the run: the same event packed twice must give
     * the same bytes, even when the clock moves on between the two */
    static int64_t ts;
    if (!ts) ts = kj_now_ms();
    kj_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = KJ_EV_SERVICE;
    ev.ts = ts;
    snprintf(ev.id, sizeof ev.id, "%s-%d", prefix, i);
    snprintf(ev.unit, sizeof ev.unit, "kasemen");
    snprintf(ev.employee, sizeof ev.employee, "198706152010011002");
    snprintf(ev.counter, sizeof ev.counter, "loket-1");
    ev.wait_ms = 1000 + i;
    ev.service_ms = 2000;
    return ev;
}

/* count events packed back to back, as the spool stores them. */
static msgpack_sbuffer pack_events(const char *prefix, int first, int count)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (int i = first; i < first + count; i++) {
        kj_event ev = service_event(prefix, i);
        kj_msgpack_pack_event(&pk, &ev);
    }
    return sb;
}

/* The ids of the events in a spool file, in order, joined by ','. */
static void ids_of(const kj_spool_file *f, char *out, size_t len)
{
    size_t off = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < f->count; i++) {
        size_t n = kj_msgpack_skip(f->events + off, f->len - off);
        ck_assert_uint_gt(n, 0);
        kj_event ev;
        ck_assert_int_eq(kj_msgpack_unpack_event(f->events + off, n, &ev), KJ_OK);
        free(ev.meta);
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "", ev.id);
        off += n;
    }
    ck_assert_uint_eq(off, f->len);
}

static const kj_spool_limits big_limits = {
    .max_bytes = 1 << 30, .file_events = KJ_BATCH_MAX, .file_bytes = 1 << 20};

/* ---- ids ------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

START_TEST(test_id_unique)
{
    enum { N = 100000 };
    char(*ids)[KJ_ID_MAX + 1] = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++) {
        kj_event_id_new(ids[i]);
        ck_assert_msg(kj_id_valid(ids[i], strlen(ids[i])), "invalid id %s", ids[i]);
    }
    qsort(ids, N, sizeof *ids, cmp_str);
    for (int i = 1; i < N; i++)
        ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "duplicate id %s", ids[i]);
    free(ids);
}
END_TEST

/* A forked child must not repeat its parent's ids (same prefix and counter). */
START_TEST(test_id_unique_after_fork)
{
    char parent[KJ_ID_MAX + 1], child[KJ_ID_MAX + 1] = "";
    int fds[2];
    kj_event_id_new(parent); /* the prefix exists before the fork */
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char id[KJ_ID_MAX + 1];
        kj_event_id_new(id);
        ssize_t n = write(fds[1], id, strlen(id) + 1);
        _exit(n > 0 ? 0 : 1);
    }
    kj_event_id_new(parent);
    ck_assert_int_gt(read(fds[0], child, sizeof child), 0);
    waitpid(pid, NULL, 0);
    ck_assert_str_ne(parent, child);
    /* the random parts differ, not only the counters */
    ck_assert_int_ne(strncmp(parent, child, strrchr(parent, '.') - parent), 0);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* ---- spool ------------------------------------------------------------------------------- */

START_TEST(test_spool_order)
{
    char *dir = temp_dir(), msg[MSGLEN], ids[4096];
    kj_spool *s;
    kj_spool_limits lim = big_limits;
    lim.file_events = 3; /* no merging across batches of 3 */
    ck_assert_int_eq(kj_spool_open(dir, &lim, &s, msg, sizeof msg), KJ_OK);
    ck_assert_int_eq(kj_spool_lock(s, msg, sizeof msg), KJ_OK);
    for (int b = 0; b < 3; b++) {
        msgpack_sbuffer sb = pack_events("e", b * 3, 3);
        ck_assert_int_eq(kj_spool_append(s, (uint8_t *)sb.data, sb.size, 3, msg, sizeof msg),
                         KJ_OK);
        msgpack_sbuffer_destroy(&sb);
    }
    uint64_t *seqs, bytes, pending;
    size_t n;
    ck_assert_int_eq(kj_spool_list(s, &seqs, &n, &bytes, msg, sizeof msg), KJ_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert(seqs[0] < seqs[1] && seqs[1] < seqs[2]);
    ck_assert_int_eq(kj_spool_pending(s, &pending, msg, sizeof msg), KJ_OK);
    ck_assert_uint_eq(pending, 9);
    const char *want[] = {"e-0,e-1,e-2", "e-3,e-4,e-5", "e-6,e-7,e-8"};
    for (size_t i = 0; i < n; i++) {
        kj_spool_file f;
        ck_assert_int_eq(kj_spool_read(s, seqs[i], &f, msg, sizeof msg), KJ_OK);
        ids_of(&f, ids, sizeof ids);
        ck_assert_str_eq(ids, want[i]);
        kj_spool_file_clear(&f);
    }
    /* removing the oldest keeps the rest in order; a new file goes last */
    ck_assert_int_eq(kj_spool_remove(s, seqs[0], msg, sizeof msg), KJ_OK);
    ck_assert_int_eq(kj_spool_remove(s, seqs[0], msg, sizeof msg), KJ_OK); /* gone: fine */
    msgpack_sbuffer sb = pack_events("e", 9, 1);
    ck_assert_int_eq(kj_spool_append(s, (uint8_t *)sb.data, sb.size, 1, msg, sizeof msg), KJ_OK);
    msgpack_sbuffer_destroy(&sb);
    free(seqs);
    kj_spool_free(s);

    /* a new process sees the same order */
    ck_assert_int_eq(kj_spool_open(dir, &lim, &s, msg, sizeof msg), KJ_OK);
    ck_assert_int_eq(kj_spool_lock(s, msg, sizeof msg), KJ_OK);
    ck_assert_int_eq(kj_spool_list(s, &seqs, &n, NULL, msg, sizeof msg), KJ_OK);
    ck_assert_uint_eq(n, 3);
    kj_spool_file f;
    ck_assert_int_eq(kj_spool_read(s, seqs[2], &f, msg, sizeof msg), KJ_OK);
    ids_of(&f, ids, sizeof ids);
    ck_assert_str_eq(ids, "e-9");
    kj_spool_file_clear(&f);
    free(seqs);
    kj_spool_free(s);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_spool_merges_small_batches)
{
    char *dir = temp_dir(), msg[MSGLEN], ids[4096];
    kj_spool *s;
    ck_assert_int_eq(kj_spool_open(dir, &big_limits, &s, msg, sizeof msg), KJ_OK);
    for (int i = 0; i < 5; i++) {
        msgpack_sbuffer sb = pack_events("m", i, 1);
        ck_assert_int_eq(kj_spool_append(s, (uint8_t *)sb.data, sb.size, 1, msg, sizeof msg),
                         KJ_OK);
        msgpack_sbuffer_destroy(&sb);
    }
    uint64_t *seqs;
    size_t n;
    ck_assert_int_eq(kj_spool_list(s, &seqs, &n, NULL, msg, sizeof msg), KJ_OK);
    ck_assert_uint_eq(n, 1);
    kj_spool_file f;
    ck_assert_int_eq(kj_spool_read(s, seqs[0], &f, msg, sizeof msg), KJ_OK);
    ck_assert_uint_eq(f.count, 5);
    ids_of(&f, ids, sizeof ids);
    ck_assert_str_eq(ids, "m-0,m-1,m-2,m-3,m-4");
    kj_spool_file_clear(&f);
    free(seqs);
    kj_spool_free(s);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_spool_full)
{
    char *dir = temp_dir(), msg[MSGLEN];
    kj_spool *s;
    kj_spool_limits lim = big_limits;
    lim.max_bytes = 2000;
    ck_assert_int_eq(kj_spool_open(dir, &lim, &s, msg, sizeof msg), KJ_OK);
    msgpack_sbuffer sb = pack_events("f", 0, 30); /* well over 2000 bytes */
    ck_assert_uint_gt(sb.size, 2000);
    ck_assert_int_eq(kj_spool_append(s, (uint8_t *)sb.data, sb.size, 30, msg, sizeof msg),
                     KJ_ERR_FULL);
    ck_assert_ptr_nonnull(strstr(msg, "full"));
    ck_assert_uint_eq(count_files(dir, ".kjs"), 0); /* nothing half-added */
    msgpack_sbuffer_destroy(&sb);
    kj_spool_free(s);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Make file seq of dir half-written: keep its first `keep` bytes. */
static void truncate_spool_file(const char *dir, uint64_t seq, off_t keep)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%020llu.kjs", dir, (unsigned long long)seq);
    ck_assert_int_eq(truncate(path, keep), 0);
}

START_TEST(test_spool_half_written_file_is_set_aside)
{
    char *dir = temp_dir(), msg[MSGLEN], path[512];
    kj_spool *s;
    kj_spool_limits lim = big_limits;
    lim.file_events = 2;
    ck_assert_int_eq(kj_spool_open(dir, &lim, &s, msg, sizeof msg), KJ_OK);
    ck_assert_int_eq(kj_spool_lock(s, msg, sizeof msg), KJ_OK);
    for (int b = 0; b < 3; b++) {
        msgpack_sbuffer sb = pack_events("h", b * 2, 2);
        ck_assert_int_eq(kj_spool_append(s, (uint8_t *)sb.data, sb.size, 2, msg, sizeof msg),
                         KJ_OK);
        msgpack_sbuffer_destroy(&sb);
    }
    truncate_spool_file(dir, 2, KJ_SPOOL_HEADER + 10); /* the middle file */
    /* a stale tmp file from a writer that died before its rename */
    snprintf(path, sizeof path, "%s/tmp.12345.9", dir);
    FILE *t = fopen(path, "w");
    fputs("partial", t);
    fclose(t);

    uint64_t *seqs;
    size_t n;
    ck_assert_int_eq(kj_spool_list(s, &seqs, &n, NULL, msg, sizeof msg), KJ_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(access(path, F_OK), -1); /* removed under the lock */
    kj_spool_file f;
    ck_assert_int_eq(kj_spool_read(s, seqs[0], &f, msg, sizeof msg), KJ_OK);
    kj_spool_file_clear(&f);
    ck_assert_int_eq(kj_spool_read(s, seqs[1], &f, msg, sizeof msg), KJ_ERR_DECODE);
    ck_assert_ptr_nonnull(strstr(msg, "half-written"));
    ck_assert_int_eq(kj_spool_read(s, seqs[2], &f, msg, sizeof msg), KJ_OK);
    kj_spool_file_clear(&f);
    free(seqs);
    ck_assert_int_eq(kj_spool_list(s, &seqs, &n, NULL, msg, sizeof msg), KJ_OK);
    ck_assert_uint_eq(n, 2); /* set aside as .bad, kept for inspection */
    ck_assert_uint_eq(count_files(dir, ".bad"), 1);
    free(seqs);

    /* a flipped byte is caught by the checksum */
    snprintf(path, sizeof path, "%s/%020d.kjs", dir, 3);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    char c;
    ck_assert_int_eq(pread(fd, &c, 1, KJ_SPOOL_HEADER + 5), 1);
    c ^= 0x20;
    ck_assert_int_eq(pwrite(fd, &c, 1, KJ_SPOOL_HEADER + 5), 1);
    close(fd);
    ck_assert_int_eq(kj_spool_read(s, 3, &f, msg, sizeof msg), KJ_ERR_DECODE);
    ck_assert_ptr_nonnull(strstr(msg, "checksum"));
    kj_spool_free(s);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- a fake daemon for the client ------------------------------------------------------ */

/* Answers `requests` POSTs on one listening socket: each as 200 with every
 * event accepted, and the ids seen appended to ids_path, one per line. */
static void fake_daemon(int lfd, const char *ids_path, int requests)
{
    FILE *ids = fopen(ids_path, "a");
    for (int r = 0; r < requests; r++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) _exit(1);
        static char buf[4 << 20];
        size_t len = 0, body_at = 0, clen = 0;
        while (len < sizeof buf) {
            ssize_t n = read(fd, buf + len, sizeof buf - len);
            if (n <= 0) break;
            len += (size_t)n;
            char *end = memmem(buf, len, "\r\n\r\n", 4);
            if (!end) continue;
            body_at = (size_t)(end - buf) + 4;
            char *cl = strcasestr(buf, "content-length:");
            clen = cl ? strtoul(cl + 15, NULL, 10) : 0;
            if (len >= body_at + clen) break;
        }
        msgpack_unpacked u;
        size_t off = 0;
        uint32_t count = 0;
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, buf + body_at, clen, &off) == MSGPACK_UNPACK_SUCCESS &&
            u.data.type == MSGPACK_OBJECT_ARRAY) {
            count = u.data.via.array.size;
            for (uint32_t i = 0; i < count; i++) {
                const msgpack_object *m = &u.data.via.array.ptr[i];
                for (uint32_t k = 0; k < m->via.map.size; k++)
                    if (m->via.map.ptr[k].key.via.str.size == 2 &&
                        !memcmp(m->via.map.ptr[k].key.via.str.ptr, "id", 2))
                        fprintf(ids, "%.*s\n", (int)m->via.map.ptr[k].val.via.str.size,
                                m->via.map.ptr[k].val.via.str.ptr);
            }
        }
        msgpack_unpacked_destroy(&u);
        fflush(ids);
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        msgpack_pack_str_with_body(&pk, "accepted", 8);
        msgpack_pack_uint32(&pk, count);
        msgpack_pack_str_with_body(&pk, "duplicates", 10);
        msgpack_pack_uint32(&pk, 0);
        msgpack_pack_str_with_body(&pk, "rejected", 8);
        msgpack_pack_array(&pk, 0);
        char head[200];
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 200 OK\r\nContent-Type: application/msgpack\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          sb.size);
        if (write(fd, head, (size_t)hl) < 0 || write(fd, sb.data, sb.size) < 0) _exit(1);
        msgpack_sbuffer_destroy(&sb);
        close(fd);
    }
    fclose(ids);
    _exit(0);
}

static int listen_any(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int warnings_seen;
static void count_warning(void *ud, kj_warning kind, const char *msg)
{
    (void)ud, (void)msg;
    if (kind == KJ_WARN_SPOOL) warnings_seen++;
}

/* Daemon away: post spools (fsync'd) and succeeds. A corrupt spool file is
 * skipped with a warning. Daemon back: the next post delivers the spool first,
 * in order, then its own events. */
START_TEST(test_client_spools_and_delivers_in_order)
{
    char *dir = temp_dir(), spool[600], url[64], ids_path[600], msg[MSGLEN];
    int port, lfd = listen_any(&port);
    close(lfd); /* nobody listens on port now: connection refused */
    snprintf(spool, sizeof spool, "%s/spool", dir);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(ids_path, sizeof ids_path, "%s/ids", dir);

    kj_client_opts o = {.url = url,
                        .spool_dir = spool,
                        .transport = KJ_TRANSPORT_HTTP,
                        .attempts = 2,
                        .backoff_base_ms = 10,
                        .max_batch_events = 4,
                        .on_warning = count_warning};
    kj_client *c;
    kj_post_result r;
    ck_assert_int_eq(kj_client_new(&o, &c, msg, sizeof msg), KJ_OK);
    kj_event evs[10];
    for (int i = 0; i < 10; i++)
        evs[i] = service_event("s", i);
    ck_assert_int_eq(kj_client_post(c, evs, 6, &r), KJ_OK);
    ck_assert_uint_eq(r.spooled, 6);
    ck_assert_uint_eq(r.accepted, 0);
    ck_assert_ptr_nonnull(strstr(kj_client_errmsg(c), "unavailable"));
    kj_client_free(c);

    /* a second process: the back-off state is fresh, the spool is on disk */
    ck_assert_int_eq(kj_client_new(&o, &c, msg, sizeof msg), KJ_OK);
    ck_assert_int_eq(kj_client_post(c, evs + 6, 2, &r), KJ_OK);
    ck_assert_uint_eq(r.spooled, 2);
    uint64_t pending;
    ck_assert_int_eq(kj_client_spool_pending(c, &pending), KJ_OK);
    ck_assert_uint_eq(pending, 8);
    kj_client_free(c);

    /* an extra, corrupt file between good ones: written, then cut short */
    kj_spool *s;
    kj_spool_limits lim = big_limits;
    lim.file_events = 1;
    ck_assert_int_eq(kj_spool_open(spool, &lim, &s, msg, sizeof msg), KJ_OK);
    uint64_t *seqs;
    size_t n;
    ck_assert_int_eq(kj_spool_lock(s, msg, sizeof msg), KJ_OK);
    msgpack_sbuffer sb = pack_events("bad", 0, 3);
    ck_assert_int_eq(kj_spool_append(s, (uint8_t *)sb.data, sb.size, 3, msg, sizeof msg), KJ_OK);
    msgpack_sbuffer_destroy(&sb);
    ck_assert_int_eq(kj_spool_list(s, &seqs, &n, NULL, msg, sizeof msg), KJ_OK);
    truncate_spool_file(spool, seqs[n - 1], 30);
    free(seqs);
    kj_spool_free(s);

    /* the daemon is back */
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    pid_t pid = fork();
    if (pid == 0) fake_daemon(lfd, ids_path, 3); /* 8 spooled + 2 new in batches of 4 */
    close(lfd);

    warnings_seen = 0;
    ck_assert_int_eq(kj_client_new(&o, &c, msg, sizeof msg), KJ_OK);
    ck_assert_int_eq(kj_client_post(c, evs + 8, 2, &r), KJ_OK);
    ck_assert_uint_eq(r.spool_accepted, 8);
    ck_assert_uint_eq(r.accepted, 2);
    ck_assert_uint_eq(r.spooled, 0);
    ck_assert_uint_eq(r.spool_files_bad, 1);
    ck_assert_int_eq(warnings_seen, 1);
    ck_assert_int_eq(kj_client_spool_pending(c, &pending), KJ_OK);
    ck_assert_uint_eq(pending, 0);
    kj_client_free(c);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    FILE *f = fopen(ids_path, "r");
    char line[128];
    for (int i = 0; i < 10; i++) {
        char want[32];
        snprintf(want, sizeof want, "s-%d\n", i);
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        ck_assert_str_eq(line, want);
    }
    ck_assert_ptr_null(fgets(line, sizeof line, f)); /* each once */
    fclose(f);
    ck_assert_uint_eq(count_files(spool, ".bad"), 1);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_client_no_spool_fails)
{
    char url[64], msg[MSGLEN];
    int port, lfd = listen_any(&port);
    close(lfd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    kj_client_opts o = {.url = url, .attempts = 2, .backoff_base_ms = 10};
    kj_client *c;
    kj_post_result r;
    kj_event ev = service_event("n", 0);
    ck_assert_int_eq(kj_client_new(&o, &c, msg, sizeof msg), KJ_OK);
    ck_assert_int_eq(kj_client_post(c, &ev, 1, &r), KJ_ERR_IO);
    ck_assert_uint_eq(r.spooled, 0);
    ck_assert_ptr_nonnull(strstr(kj_client_errmsg(c), "127.0.0.1"));
    kj_client_free(c);

    o.url = "ftp://example.org";
    ck_assert_int_eq(kj_client_new(&o, &c, msg, sizeof msg), KJ_ERR_INVALID);
    o.url = "http://host:99999";
    ck_assert_int_eq(kj_client_new(&o, &c, msg, sizeof msg), KJ_ERR_INVALID);
}
END_TEST

/* ---- events from flags ------------------------------------------------------------------ */

static kj_err finish(kj_event_draft *d, kj_batch **b, char *msg)
{
    return kj_event_draft_finish(d, b, msg, MSGLEN);
}

START_TEST(test_draft_service)
{
    kj_event_draft *d;
    kj_batch *b;
    char msg[MSGLEN];
    kj_event_draft_new(&d);
    const char *flags[][2] = {
        {"type", "service"},        {"unit", "kasemen"},   {"employee", "198706152010011002"},
        {"counter", "loket-3"},     {"wait-ms", "90s"},    {"service-ms", "420000"},
        {"outcome", "transferred"}, {"service", "ktp-el"}, {"meta", "{\"queue\": \"A17\"}"}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        ck_assert_int_eq(kj_event_draft_set(d, flags[i][0], flags[i][1], msg, MSGLEN), KJ_OK);
    int64_t before = kj_now_ms();
    ck_assert_int_eq(finish(d, &b, msg), KJ_OK);
    const kj_event *ev = &b->items[0].ev;
    ck_assert_int_eq(ev->type, KJ_EV_SERVICE);
    ck_assert_str_eq(ev->unit, "kasemen");
    ck_assert_str_eq(ev->counter, "loket-3");
    ck_assert_int_eq(ev->wait_ms, 90000);
    ck_assert_int_eq(ev->service_ms, 420000);
    ck_assert_int_eq(ev->outcome, KJ_OUTCOME_TRANSFERRED);
    ck_assert_str_eq(ev->service, "ktp-el");
    ck_assert_ptr_nonnull(ev->meta);
    ck_assert(ev->ts >= before && ev->ts <= kj_now_ms()); /* --ts defaults to now */
    ck_assert(kj_id_valid(ev->id, strlen(ev->id)));       /* --id to a fresh id */
    char first_id[KJ_ID_MAX + 1];
    snprintf(first_id, sizeof first_id, "%s", ev->id);
    kj_batch_free(b);
    ck_assert_int_eq(finish(d, &b, msg), KJ_OK); /* again: a new id */
    ck_assert_str_ne(b->items[0].ev.id, first_id);
    kj_batch_free(b);
    kj_event_draft_free(d);
}
END_TEST

START_TEST(test_draft_rating_task_presence)
{
    kj_event_draft *d;
    kj_batch *b;
    char msg[MSGLEN];
    kj_event_draft_new(&d);
    kj_event_draft_set(d, "type", "rating", msg, MSGLEN);
    kj_event_draft_set(d, "unit", "kasemen", msg, MSGLEN);
    kj_event_draft_set(d, "score", "4", msg, MSGLEN);
    kj_event_draft_set(d, "elements", "4,4,3,4,4,4,3,4,4", msg, MSGLEN);
    kj_event_draft_set(d, "source", "supervisor", msg, MSGLEN);
    kj_event_draft_set(d, "ts", "2024-05-02T09:30:00+07:00", msg, MSGLEN);
    kj_event_draft_set(d, "id", "rate-1", msg, MSGLEN);
    ck_assert_int_eq(finish(d, &b, msg), KJ_OK);
    const kj_event *ev = &b->items[0].ev;
    ck_assert_int_eq(ev->score, 4);
    ck_assert(ev->has_elements);
    ck_assert_int_eq(ev->elements[2], 3);
    ck_assert_int_eq(ev->source, KJ_SOURCE_SUPERVISOR);
    ck_assert_int_eq(ev->ts, 1714617000000LL);
    ck_assert_str_eq(ev->id, "rate-1");
    kj_batch_free(b);
    kj_event_draft_free(d);

    kj_event_draft_new(&d);
    kj_event_draft_set(d, "type", "task", msg, MSGLEN);
    kj_event_draft_set(d, "unit", "kasemen", msg, MSGLEN);
    kj_event_draft_set(d, "employee", "e1", msg, MSGLEN);
    kj_event_draft_set(d, "kind", "surat-masuk", msg, MSGLEN);
    kj_event_draft_set(d, "due_ts", "1714617000000", msg, MSGLEN);
    kj_event_draft_set(d, "duration-ms", "2h", msg, MSGLEN);
    kj_event_draft_set(d, "quality", "95", msg, MSGLEN);
    ck_assert_int_eq(finish(d, &b, msg), KJ_OK);
    ck_assert(b->items[0].ev.has_due && b->items[0].ev.due_ts == 1714617000000LL);
    ck_assert_int_eq(b->items[0].ev.duration_ms, 7200000);
    ck_assert_int_eq(b->items[0].ev.quality, 95);
    kj_batch_free(b);
    kj_event_draft_free(d);

    kj_event_draft_new(&d);
    kj_event_draft_set(d, "type", "presence", msg, MSGLEN);
    kj_event_draft_set(d, "unit", "kasemen", msg, MSGLEN);
    kj_event_draft_set(d, "employee", "e1", msg, MSGLEN);
    kj_event_draft_set(d, "state", "break", msg, MSGLEN);
    ck_assert_int_eq(finish(d, &b, msg), KJ_OK);
    ck_assert_int_eq(b->items[0].ev.state, KJ_PRESENCE_BREAK);
    kj_batch_free(b);
    kj_event_draft_free(d);
}
END_TEST

START_TEST(test_draft_errors_name_the_field)
{
    kj_event_draft *d;
    kj_batch *b;
    char msg[MSGLEN];
    kj_event_draft_new(&d);
    ck_assert_int_eq(kj_event_draft_set(d, "wiat-ms", "5", msg, MSGLEN), KJ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(msg, "wiat-ms"));
    ck_assert_int_eq(kj_event_draft_set(d, "wait-ms", "abc", msg, MSGLEN), KJ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(msg, "wait_ms"));
    ck_assert_int_eq(kj_event_draft_set(d, "ts", "yesterday", msg, MSGLEN), KJ_ERR_INVALID);
    ck_assert_int_eq(kj_event_draft_set(d, "elements", "4,x", msg, MSGLEN), KJ_ERR_INVALID);
    ck_assert_int_eq(kj_event_draft_set(d, "meta", "{oops", msg, MSGLEN), KJ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(msg, "meta"));

    kj_event_draft_set(d, "type", "service", msg, MSGLEN);
    kj_event_draft_set(d, "unit", "kasemen", msg, MSGLEN);
    kj_event_draft_set(d, "employee", "e1", msg, MSGLEN);
    kj_event_draft_set(d, "counter", "loket-1", msg, MSGLEN);
    kj_event_draft_set(d, "wait-ms", "100", msg, MSGLEN);
    ck_assert_int_eq(finish(d, &b, msg), KJ_ERR_INVALID); /* service_ms missing */
    ck_assert_ptr_nonnull(strstr(msg, "service_ms"));
    kj_event_draft_set(d, "service-ms", "100", msg, MSGLEN);
    kj_event_draft_set(d, "score", "3", msg, MSGLEN); /* not a field of a service */
    ck_assert_int_eq(finish(d, &b, msg), KJ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(msg, "score"));
    kj_event_draft_free(d);

    kj_event_draft_new(&d);
    kj_event_draft_set(d, "type", "rating", msg, MSGLEN);
    kj_event_draft_set(d, "unit", "bad unit!", msg, MSGLEN);
    kj_event_draft_set(d, "score", "9", msg, MSGLEN);
    ck_assert_int_eq(finish(d, &b, msg), KJ_ERR_INVALID);
    ck_assert(strstr(msg, "unit") || strstr(msg, "score"));
    kj_event_draft_free(d);
}
END_TEST

/* ---- formats and the reader --------------------------------------------------------------- */

START_TEST(test_format_detect)
{
    ck_assert_int_eq(kj_format_detect("[{\"id\":1}]", 10), KJ_FORMAT_JSON);
    ck_assert_int_eq(kj_format_detect("  \n{\"id\":1}\n{}", 13), KJ_FORMAT_JSON);
    ck_assert_int_eq(kj_format_detect("\xEF\xBB\xBF{}", 5), KJ_FORMAT_JSON);
    ck_assert_int_eq(kj_format_detect("\x81\xa2id\x01", 5), KJ_FORMAT_MSGPACK);
    ck_assert_int_eq(kj_format_detect("\x91\x80", 2), KJ_FORMAT_MSGPACK);
    ck_assert_int_eq(kj_format_detect("\xdc\x00\x01\x80", 4), KJ_FORMAT_MSGPACK);
    ck_assert_int_eq(kj_format_detect("\xde\x00\x00", 3), KJ_FORMAT_MSGPACK);
    ck_assert_int_eq(kj_format_detect("id,type\n", 8), KJ_FORMAT_UNKNOWN);
    ck_assert_int_eq(kj_format_detect("", 0), KJ_FORMAT_UNKNOWN);
    ck_assert_int_eq(kj_format_detect("   ", 3), KJ_FORMAT_UNKNOWN);
}
END_TEST

static char *write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = malloc(600);
    snprintf(path, 600, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

#define EV(id, wait)                                                                               \
    "{\"id\":\"" id "\",\"type\":\"service\",\"ts\":1714617000000,\"unit\":\"kasemen\","           \
    "\"employee\":\"e1\",\"counter\":\"loket-1\",\"wait_ms\":" wait ",\"service_ms\":5}"

/* Read the whole file with chunks of max; returns the items' ids (or "!" +
 * the start of the error) joined by ','. */
static void read_all(const char *path, size_t max, char *out, size_t len, kj_format *fmt)
{
    kj_reader *r;
    kj_batch *b;
    uint64_t first, expect = 0;
    char msg[MSGLEN];
    ck_assert_int_eq(kj_reader_open(path, &r, msg, sizeof msg), KJ_OK);
    *fmt = kj_reader_format(r);
    out[0] = '\0';
    while (kj_reader_next(r, max, &b, &first) == KJ_OK) {
        ck_assert_uint_eq(first, expect);
        ck_assert_uint_le(b->n, max);
        for (size_t i = 0; i < b->n; i++) {
            const kj_batch_item *it = &b->items[i];
            snprintf(out + strlen(out), len - strlen(out), "%s%s%.12s", strlen(out) ? "," : "",
                     it->error[0] ? "!" : "", it->error[0] ? it->error : it->ev.id);
        }
        expect += b->n;
        kj_batch_free(b);
    }
    uint64_t done, total;
    kj_reader_position(r, &done, &total);
    ck_assert_uint_eq(done, total);
    kj_reader_free(r);
}

START_TEST(test_reader_json)
{
    char *dir = temp_dir(), out[2048];
    kj_format fmt;
    const char nd[] = EV("a", "1") "\n" EV("b", "-5") "\n{\"id\": \"c\", oops\n" EV("d", "2") "\n";
    char *p = write_file(dir, "e.ndjson", nd, strlen(nd));
    read_all(p, 2, out, sizeof out, &fmt);
    ck_assert_int_eq(fmt, KJ_FORMAT_JSON);
    /* b invalid by the rules, c not JSON at all; a and d go through */
    ck_assert_str_eq(out, "a,!wait_ms: mus,!event: not v,d");
    free(p);

    const char arr[] = "[" EV("a", "1") ",\n " EV("b", "2") ", " EV("c", "3") "]\n";
    p = write_file(dir, "e.json", arr, strlen(arr));
    read_all(p, 10, out, sizeof out, &fmt);
    ck_assert_str_eq(out, "a,b,c");
    free(p);

    /* a '}' or ']' with nothing open is one error, then the next line (it was
     * read again and again: an endless stream of errors, found by fuzz_reader) */
    const char stray[] = EV("a", "1") "\n}\n]\n" EV("b", "2") "\n";
    p = write_file(dir, "stray.ndjson", stray, strlen(stray));
    read_all(p, 10, out, sizeof out, &fmt);
    ck_assert_str_eq(out, "a,!event: not v,!event: not v,b");
    free(p);

    const char one[] = EV("solo", "1");
    p = write_file(dir, "one.json", one, strlen(one));
    read_all(p, 10, out, sizeof out, &fmt);
    ck_assert_str_eq(out, "solo");
    free(p);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_reader_msgpack)
{
    char *dir = temp_dir(), out[2048];
    kj_format fmt;
    /* an array of three events, then two loose maps */
    msgpack_sbuffer all, evs = pack_events("p", 0, 3), more = pack_events("q", 0, 2);
    msgpack_packer pk;
    msgpack_sbuffer_init(&all);
    msgpack_packer_init(&pk, &all, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_sbuffer_write(&all, evs.data, evs.size);
    msgpack_sbuffer_write(&all, more.data, more.size);
    char *p = write_file(dir, "e.mp", all.data, all.size);
    read_all(p, 2, out, sizeof out, &fmt);
    ck_assert_int_eq(fmt, KJ_FORMAT_MSGPACK);
    ck_assert_str_eq(out, "p-0,p-1,p-2,q-0,q-1");
    free(p);
    /* cut short: the good ones, then one error, then the end */
    p = write_file(dir, "cut.mp", all.data, all.size - 7);
    read_all(p, 10, out, sizeof out, &fmt);
    ck_assert_str_eq(out, "p-0,p-1,p-2,q-0,!event: not v");
    free(p);
    msgpack_sbuffer_destroy(&all);
    msgpack_sbuffer_destroy(&evs);
    msgpack_sbuffer_destroy(&more);

    char msg[MSGLEN];
    kj_reader *r;
    p = write_file(dir, "csv", "a,b\n", 4);
    ck_assert_int_eq(kj_reader_open(p, &r, msg, sizeof msg), KJ_ERR_DECODE);
    free(p);
    ck_assert_int_eq(kj_reader_open("/nonexistent/x", &r, msg, sizeof msg), KJ_ERR_IO);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- parsers, msgpack walking, packets ------------------------------------------------------ */

START_TEST(test_parsers)
{
    int64_t v;
    /* one parser with the daemon's rules: a bare number other than 0 is refused */
    ck_assert(kj_parse_duration_ms("1500ms", &v) && v == 1500);
    ck_assert(!kj_parse_duration_ms("1500", &v));
    ck_assert(kj_parse_duration_ms("90s", &v) && v == 90000);
    ck_assert(kj_parse_duration_ms("15m", &v) && v == 900000);
    ck_assert(kj_parse_duration_ms("2h", &v) && v == 7200000);
    ck_assert(kj_parse_duration_ms("35d", &v) && v == 35 * 86400000LL);
    ck_assert(!kj_parse_duration_ms("-5", &v) && !kj_parse_duration_ms("5x", &v) &&
              !kj_parse_duration_ms("", &v));
    ck_assert(!kj_parse_duration_ms("99999999999999999999", &v));
    ck_assert(kj_parse_time("1714617000000", &v) && v == 1714617000000LL);
    ck_assert(kj_parse_time("2024-05-02T02:30:00Z", &v) && v == 1714617000000LL);
    ck_assert(kj_parse_time("2024-05-02T09:30:00+07:00", &v) && v == 1714617000000LL);
    ck_assert(kj_parse_time("2024-05-02T09:30:00.250+0700", &v) && v == 1714617000250LL);
    ck_assert(kj_parse_time("2024-05-02", &v) && v == 1714608000000LL);
    ck_assert(kj_parse_time("now", &v) && v > 1700000000000LL);
    ck_assert(!kj_parse_time("2024-13-02", &v) && !kj_parse_time("tomorrow", &v));
}
END_TEST

START_TEST(test_msgpack_skip_and_split)
{
    msgpack_sbuffer sb = pack_events("k", 0, 5);
    size_t off = 0;
    for (int i = 0; i < 5; i++) {
        size_t n = kj_msgpack_skip((uint8_t *)sb.data + off, sb.size - off);
        ck_assert_uint_gt(n, 0);
        off += n;
    }
    ck_assert_uint_eq(off, sb.size);
    ck_assert_uint_eq(kj_msgpack_skip((uint8_t *)sb.data, 10), 0); /* truncated */
    ck_assert_uint_eq(kj_msgpack_skip((const uint8_t *)"\xc1", 1), 0);
    ck_assert_uint_eq(kj_msgpack_skip((const uint8_t *)"\xdd\xff\xff\xff\xff", 5), 0);

    kj_packet *p = kj_packet_new(16);
    for (int i = 0; i < 5; i++) {
        kj_event ev = service_event("k", i);
        ck_assert(kj_packet_add(p, &ev, (uint64_t)i * 10, 1 << 20, 100));
    }
    ck_assert_uint_eq(p->len, sb.size);
    ck_assert_int_eq(memcmp(kj_packet_events(p), sb.data, sb.size), 0);
    kj_packet *rest = kj_packet_split(p, 2);
    ck_assert_uint_eq(p->count, 2);
    ck_assert_uint_eq(rest->count, 3);
    ck_assert_uint_eq(rest->index[0], 20); /* indices follow their events */
    ck_assert_uint_eq(p->len + rest->len, sb.size);

    /* a WebSocket message is one msgpack map with the events array */
    size_t len;
    uint8_t *m = kj_packet_ws_message(rest, 77, &len);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    off = 0;
    ck_assert_int_eq(msgpack_unpack_next(&u, (char *)m, len, &off), MSGPACK_UNPACK_SUCCESS);
    ck_assert_uint_eq(off, len);
    ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_MAP);
    ck_assert_uint_eq(u.data.via.map.size, 3);
    ck_assert_uint_eq(u.data.via.map.ptr[1].val.via.u64, 77);
    ck_assert_uint_eq(u.data.via.map.ptr[2].val.via.array.size, 3);
    msgpack_unpacked_destroy(&u);
    /* a packet refuses events past its limits */
    kj_event ev = service_event("k", 9);
    ck_assert(!kj_packet_add(rest, &ev, 99, 1 << 20, 3));
    ck_assert(!kj_packet_add(rest, &ev, 99, rest->len + 10, 100));
    kj_packet_free(p);
    kj_packet_free(rest);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- view --------------------------------------------------------------------------------- */

START_TEST(test_view_render_and_apply)
{
    json_t *state = NULL;
    json_t *snap = json_loads(
        "{\"op\":\"snapshot\",\"unit\":\"kasemen\",\"seq\":1,\"at\":1714617000000,"
        "\"unit_metrics\":{\"today\":{\"services\":{\"count\":3,\"wait_ms\":{\"p90\":750000}}}},"
        "\"members\":{\"e1\":{\"name\":\"Siti\",\"presence\":{\"state\":\"serving\","
        "\"since\":1714616990000,\"counter\":\"loket-1\"}}},"
        "\"counters\":{\"loket-1\":{\"serving\":{\"employee\":\"e1\",\"since\":1714616748000}}},"
        "\"indicators\":[{\"id\":\"wait-p90\",\"name\":\"Waktu tunggu p90\",\"metric\":"
        "\"services.wait_ms.p90\",\"value\":750000,\"target\":900000,\"status\":\"ok\"}],"
        "\"alerts\":[]}",
        0, NULL);
    ck_assert(kj_view_apply(&state, snap, NULL, 0));
    kj_view_opts o = {.now_ms = 1714617000000LL, .status = "live"};
    char *text = kj_view_render(state, &o);
    ck_assert_ptr_nonnull(strstr(text, "served 3"));
    ck_assert_ptr_nonnull(strstr(text, "wait p90 12m30s"));
    ck_assert_ptr_nonnull(strstr(text, "serving  Siti"));
    ck_assert_ptr_nonnull(strstr(text, "for 4m12s"));
    ck_assert_ptr_nonnull(strstr(text, "ok"));
    ck_assert_ptr_null(strstr(text, "\033[")); /* no colour unless asked */
    free(text);

    /* an update replaces a member whole; an alert is prepended */
    json_t *upd = json_loads("{\"op\":\"update\",\"seq\":2,\"members\":{\"e1\":{\"name\":\"Siti\","
                             "\"presence\":{\"state\":\"break\"}}}}",
                             0, NULL);
    ck_assert(kj_view_apply(&state, upd, NULL, 0));
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(state, "members"), "e1"), "presence"),
            "state")),
        "break");
    json_t *al =
        json_loads("{\"op\":\"alert\",\"indicator\":\"wait-p90\",\"to\":\"bad\"}", 0, NULL);
    ck_assert(kj_view_apply(&state, al, NULL, 0));
    ck_assert_uint_eq(json_array_size(json_object_get(state, "alerts")), 1);
    char err[64] = "";
    json_t *e = json_loads("{\"op\":\"error\",\"error\":\"unknown unit\"}", 0, NULL);
    ck_assert(!kj_view_apply(&state, e, err, sizeof err));
    ck_assert_str_eq(err, "unknown unit");
    o.width = 20;
    o.color = true;
    text = kj_view_render(state, &o);
    ck_assert_ptr_nonnull(strstr(text, "\033["));
    free(text);
    json_decref(snap);
    json_decref(upd);
    json_decref(al);
    json_decref(e);
    json_decref(state);

    char d[32];
    kj_view_duration(d, sizeof d, 750000);
    ck_assert_str_eq(d, "12m30s");
    kj_view_duration(d, sizeof d, 7260000);
    ck_assert_str_eq(d, "2h01m");
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_id_unique);
    tcase_add_test(tc, test_id_unique_after_fork);
    tcase_add_test(tc, test_spool_order);
    tcase_add_test(tc, test_spool_merges_small_batches);
    tcase_add_test(tc, test_spool_full);
    tcase_add_test(tc, test_spool_half_written_file_is_set_aside);
    tcase_add_test(tc, test_client_spools_and_delivers_in_order);
    tcase_add_test(tc, test_client_no_spool_fails);
    tcase_add_test(tc, test_draft_service);
    tcase_add_test(tc, test_draft_rating_task_presence);
    tcase_add_test(tc, test_draft_errors_name_the_field);
    tcase_add_test(tc, test_format_detect);
    tcase_add_test(tc, test_reader_json);
    tcase_add_test(tc, test_reader_msgpack);
    tcase_add_test(tc, test_parsers);
    tcase_add_test(tc, test_msgpack_skip_and_split);
    tcase_add_test(tc, test_view_render_and_apply);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(client_suite());
    srunner_run_all(sr, CK_NORMAL); /* prints check's summary line */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
