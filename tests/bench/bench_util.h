/* What the bench tools share: a loopback connection, WebSocket framing as a
 * client writes and reads it, and the daemon's CPU time read from /proc.
 * Header-only (static inline): each bench is one program of one .c file. */
#ifndef KJ_BENCH_UTIL_H
#define KJ_BENCH_UTIL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A TCP connection to 127.0.0.1:port with Nagle off; -1 on failure. */
static inline int bench_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static inline int bench_cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The p-quantile (0..1) of n sorted values, in ms (values in µs). */
static inline double bench_ms_at(const int64_t *sorted, size_t n, double p)
{
    if (!n) return 0;
    size_t i = (size_t)((double)n * p);
    return (double)sorted[i < n ? i : n - 1] / 1000;
}

static inline int64_t bench_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void bench_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* The units the load goes to (r % 8 picks one). */
static const char *const bench_units[] = {"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"};

/* One service event with id at ts; r (any number) spreads it over the units,
 * 200 employees, 16 counters and the wait and service times. */
static inline void bench_pack_service(msgpack_packer *pk, const char *id, int64_t ts, unsigned r)
{
    char emp[16], ctr[16];
    snprintf(emp, sizeof emp, "e%u", r % 200);
    snprintf(ctr, sizeof ctr, "c%u", r % 16);
    msgpack_pack_map(pk, 8);
    bench_pack_str(pk, "id"), bench_pack_str(pk, id);
    bench_pack_str(pk, "type"), bench_pack_str(pk, "service");
    bench_pack_str(pk, "ts"), msgpack_pack_int64(pk, ts);
    bench_pack_str(pk, "unit"), bench_pack_str(pk, bench_units[r % 8]);
    bench_pack_str(pk, "employee"), bench_pack_str(pk, emp);
    bench_pack_str(pk, "counter"), bench_pack_str(pk, ctr);
    bench_pack_str(pk, "wait_ms"), msgpack_pack_int64(pk, 1000 + r % 900000);
    bench_pack_str(pk, "service_ms"), msgpack_pack_int64(pk, 30000 + r % 600000);
}

/* The same event as bench_pack_service's, as a JSON object. */
static inline void bench_json_service(msgpack_sbuffer *sb, const char *id, int64_t ts, unsigned r)
{
    char ev[400];
    int n = snprintf(ev, sizeof ev,
                     "{\"id\":\"%s\",\"type\":\"service\",\"ts\":%lld,"
                     "\"unit\":\"%s\",\"employee\":\"e%u\",\"counter\":\"c%u\","
                     "\"wait_ms\":%u,\"service_ms\":%u}",
                     id, (long long)ts, bench_units[r % 8], r % 200, r % 16, 1000 + r % 900000,
                     30000 + r % 600000);
    msgpack_sbuffer_write(sb, ev, (size_t)n);
}

/* A 32-hex-digit id that never repeats in this process (splitmix64 of
 * distinct numbers), as clients that use UUIDs send. */
static inline void bench_random_id(char *out, size_t cap)
{
    static uint64_t seq;
    if (!seq) seq = (uint64_t)bench_wall_ms() << 24 ^ (uint64_t)getpid() << 8;
    uint64_t x = seq++ * 2, h[2];
    for (int k = 0; k < 2; k++) {
        x += 0x9e3779b97f4a7c15ULL;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        h[k] = z ^ (z >> 31);
    }
    snprintf(out, cap, "%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1]);
}

/* A request body of n service events stamped now, msgpack or one JSON array:
 * event i has the id "prefix-i" (a random one when prefix is NULL) and is
 * spread by r0 + i * 104729 (see bench_pack_service). */
static inline void bench_service_batch(msgpack_sbuffer *sb, bool json, const char *prefix,
                                       unsigned r0, int n)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int64_t ts = bench_wall_ms();
    if (json)
        msgpack_sbuffer_write(sb, "[", 1);
    else
        msgpack_pack_array(&pk, (size_t)n);
    for (int i = 0; i < n; i++) {
        char id[96];
        if (prefix)
            snprintf(id, sizeof id, "%s-%d", prefix, i);
        else
            bench_random_id(id, sizeof id);
        unsigned r = r0 + (unsigned)i * 104729;
        if (json && i) msgpack_sbuffer_write(sb, ",", 1);
        if (json)
            bench_json_service(sb, id, ts, r);
        else
            bench_pack_service(&pk, id, ts, r);
    }
    if (json) msgpack_sbuffer_write(sb, "]", 1);
}

/* The head of a POST of n body bytes of content type type to path, with a
 * Bearer token unless token is NULL, into out: its length. */
static inline int bench_http_post_head(char *out, size_t cap, const char *path, const char *type,
                                       const char *token, size_t n)
{
    return snprintf(out, cap,
                    "POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: %s\r\n%s%s%s"
                    "Content-Length: %zu\r\n\r\n",
                    path, type, token ? "Authorization: Bearer " : "", token ? token : "",
                    token ? "\r\n" : "", n);
}

/* A whole POST of body (see bench_http_post_head), malloc'd; *len its length. */
static inline char *bench_http_post(const char *path, const char *type, const char *token,
                                    const msgpack_sbuffer *body, size_t *len)
{
    char head[512];
    int hl = bench_http_post_head(head, sizeof head, path, type, token, body->size);
    char *req = malloc((size_t)hl + body->size);
    memcpy(req, head, (size_t)hl);
    memcpy(req + hl, body->data, body->size);
    *len = (size_t)hl + body->size;
    return req;
}

/* A whole HTTP answer at the start of buf (got bytes, NUL-terminated)? Its
 * length with *status set, or 0 while it is incomplete. */
static inline size_t bench_http_answer_len(const char *buf, size_t got, int *status)
{
    const char *end = strstr(buf, "\r\n\r\n");
    if (!end) return 0;
    *status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "content-length:");
    size_t total = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
    return got >= total ? total : 0;
}

/* Sends the upgrade request for subprotocol proto (token: a Bearer header
 * when not NULL). Returns 0 when all of it was sent. */
static inline int ws_send_upgrade(int fd, const char *proto, const char *token)
{
    char req[768];
    int n = snprintf(req, sizeof req,
                     "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n%s%s%s\r\n",
                     proto, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "");
    return n > 0 && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

/* Writes one masked client frame (len < 65536) into out (room for len + 8):
 * its length. */
static inline size_t ws_frame(uint8_t *out, int opcode, const void *payload, size_t len)
{
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    size_t h = 0;
    out[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        out[h++] = (uint8_t)(0x80 | len);
    } else {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(len >> 8), out[h++] = (uint8_t)len;
    }
    memcpy(out + h, key, 4), h += 4;
    for (size_t i = 0; i < len; i++)
        out[h + i] = ((const uint8_t *)payload)[i] ^ key[i % 4];
    return h + len;
}

/* One whole server frame at p (n bytes available): its length, or 0 when
 * incomplete; *head and *plen say where its payload is. */
static inline size_t ws_frame_len(const uint8_t *p, size_t n, size_t *head, uint64_t *plen)
{
    if (n < 2) return 0;
    *plen = p[1] & 0x7f;
    *head = 2;
    if (*plen == 126) {
        if (n < 4) return 0;
        *plen = (uint64_t)p[2] << 8 | p[3], *head = 4;
    } else if (*plen == 127) {
        if (n < 10) return 0;
        *plen = 0;
        for (int i = 0; i < 8; i++)
            *plen = *plen << 8 | p[2 + i];
        *head = 10;
    }
    return n - *head < *plen ? 0 : *head + (size_t)*plen;
}

/* CPU seconds (user + system) in a /proc stat file; -1 when unreadable. */
static inline double bench_stat_cpu(const char *path)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    char *p = f && fgets(buf, sizeof buf, f) ? strrchr(buf, ')') : NULL;
    unsigned long ut, st; /* fields 14 and 15, after "(comm)" */
    double secs = -1;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
        secs = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    if (f) fclose(f);
    return secs;
}

/* CPU seconds of process pid, or of its thread whose name starts with thread
 * (e.g. "kj-writer") when not NULL; -1 when not found. */
static inline double bench_cpu_seconds(long pid, const char *thread)
{
    char path[600], name[32];
    if (!thread) {
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        return bench_stat_cpu(path);
    }
    double secs = -1;
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *d = opendir(path);
    for (struct dirent *t; d && secs < 0 && (t = readdir(d));) {
        snprintf(path, sizeof path, "/proc/%ld/task/%s/comm", pid, t->d_name);
        FILE *f = fopen(path, "r");
        bool match = f && fgets(name, sizeof name, f) && !strncmp(name, thread, strlen(thread));
        if (f) fclose(f);
        if (!match) continue;
        snprintf(path, sizeof path, "/proc/%ld/task/%s/stat", pid, t->d_name);
        secs = bench_stat_cpu(path);
    }
    if (d) closedir(d);
    return secs;
}

/* Bytes process pid passed to write(2) and pwrite(2) (wchar of /proc/PID/io):
 * for kinerjad, the pages LMDB writes at its commits (sockets are written
 * with send(2), not counted). Not write_bytes: the kernel accounts that per
 * page-cache folio dirtied, a folio can span many pages, and it counted 2-5x
 * the bytes LMDB wrote (strace's pwrite64 sums agree with wchar). -1 when
 * unreadable. */
static inline double bench_write_bytes(long pid)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%ld/io", pid);
    FILE *f = fopen(path, "r");
    double bytes = -1;
    unsigned long long v;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "wchar: %llu", &v) == 1) bytes = (double)v;
    if (f) fclose(f);
    return bytes;
}

/* Appends "; commits wrote N bytes per event" since wb0 (bench_write_bytes of
 * pid before the run), when /proc lets us read it. */
static inline void bench_print_written(long pid, double wb0, double events)
{
    double wb1 = bench_write_bytes(pid);
    if (wb0 >= 0 && wb1 >= 0 && events > 0)
        printf("; commits wrote %.0f bytes per event", (wb1 - wb0) / events);
}

#endif
