/* bench_ingest — load generator for POST /api/v1/events.
 *
 * C keep-alive connections each post msgpack batches of B fresh events and wait
 * for the answer, for S seconds. Prints acknowledged events/s, requests/s and
 * the request latency (POST sent -> answer read, which includes the group
 * commit) p50/p99. A benchmark: it prints figures and asserts nothing but that
 * every answer was 200 with every event accepted. Given the daemon's PID, also
 * the daemon's CPU time per event, and its writer thread's ("kj-writer"): the
 * cost of the store and the metrics engine, whatever else the machine does (the
 * rest is the service thread's: HTTP, decoding); and the bytes its commits
 * wrote per event (pages: what the disk's syncs wait for).
 *
 * KJ_BENCH_FORMAT=json posts the same events as JSON (the harness's other case).
 * KJ_BENCH_IDS=random gives each event a random 32-hex-digit id (as clients
 * that use UUIDs do) instead of tag-connection-request-index, whose ids fall
 * into a few runs of the id index.
 *
 * usage: bench_ingest PORT TOKEN BATCH CONNS SECONDS [TAG [PID]] */
#include <errno.h>
#include <msgpack.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "clock.h"

#define MAX_CONNS 256
#define MAX_LAT 4000000

struct conn {
    int fd;
    char *req;
    size_t req_len, sent;
    char resp[65536];
    size_t got;
    uint64_t n;
    int64_t t0;
};

static bool as_json, random_ids;
static uint64_t id_seq; /* random ids: splitmix64 of distinct numbers never repeat */

/* The id of event i of request n on connection ci. */
static void event_id(char *out, size_t cap, const char *tag, int ci, uint64_t n, int i)
{
    if (!random_ids) {
        snprintf(out, cap, "%s-%d-%llu-%d", tag, ci, (unsigned long long)n, i);
        return;
    }
    uint64_t x = id_seq++ * 2, h[2];
    for (int k = 0; k < 2; k++) { /* splitmix64 */
        x += 0x9e3779b97f4a7c15ULL;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        h[k] = z ^ (z >> 31);
    }
    snprintf(out, cap, "%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1]);
}

/* The same events as build_request's msgpack, as one JSON array. */
static void json_body(msgpack_sbuffer *sb, struct conn *c, int ci, int batch, const char *tag)
{
    int64_t ts = bench_wall_ms();
    msgpack_sbuffer_write(sb, "[", 1);
    for (int i = 0; i < batch; i++) {
        unsigned r = (unsigned)(c->n * 7919 + (unsigned)i * 104729 + (unsigned)ci);
        char ev[400], id[64];
        event_id(id, sizeof id, tag, ci, c->n, i);
        int n = snprintf(ev, sizeof ev,
                         "%s{\"id\":\"%s\",\"type\":\"service\",\"ts\":%lld,"
                         "\"unit\":\"%s\",\"employee\":\"e%u\",\"counter\":\"c%u\","
                         "\"wait_ms\":%u,\"service_ms\":%u}",
                         i ? "," : "", id, (long long)ts, bench_units[r % 8], r % 200, r % 16,
                         1000 + r % 900000, 30000 + r % 600000);
        msgpack_sbuffer_write(sb, ev, (size_t)n);
    }
    msgpack_sbuffer_write(sb, "]", 1);
}

static void build_request(struct conn *c, int ci, int batch, const char *token, const char *tag)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (as_json)
        json_body(&sb, c, ci, batch, tag);
    else
        msgpack_pack_array(&pk, (size_t)batch);
    int64_t ts = bench_wall_ms();
    for (int i = 0; !as_json && i < batch; i++) {
        char id[64];
        event_id(id, sizeof id, tag, ci, c->n, i);
        bench_pack_service(&pk, id, ts,
                           (unsigned)(c->n * 7919 + (unsigned)i * 104729 + (unsigned)ci));
    }
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "POST /api/v1/events HTTP/1.1\r\nHost: bench\r\n"
                      "Content-Type: application/%s\r\nAuthorization: Bearer %s\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      as_json ? "json" : "msgpack", token, sb.size);
    free(c->req);
    c->req = malloc((size_t)hl + sb.size);
    memcpy(c->req, head, (size_t)hl);
    memcpy(c->req + hl, sb.data, sb.size);
    c->req_len = (size_t)hl + sb.size;
    c->sent = 0;
    c->got = 0;
    c->n++;
    msgpack_sbuffer_destroy(&sb);
}

/* A complete answer in c->resp? Returns its total length, 0 if incomplete. */
static size_t answer_len(struct conn *c, int *status)
{
    c->resp[c->got < sizeof c->resp ? c->got : sizeof c->resp - 1] = 0;
    char *end = strstr(c->resp, "\r\n\r\n");
    if (!end) return 0;
    *status = atoi(c->resp + 9);
    char *cl = strcasestr(c->resp, "content-length:");
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
    size_t total = (size_t)(end + 4 - c->resp) + body;
    return c->got >= total ? total : 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_ingest PORT TOKEN BATCH CONNS SECONDS [TAG [PID]]\n");
        return 2;
    }
    int port = atoi(argv[1]), batch = atoi(argv[3]), nconn = atoi(argv[4]);
    double seconds = atof(argv[5]);
    const char *token = argv[2];
    const char *format = getenv("KJ_BENCH_FORMAT");
    as_json = format && !strcmp(format, "json");
    const char *ids = getenv("KJ_BENCH_IDS");
    random_ids = ids && !strcmp(ids, "random");
    id_seq = (uint64_t)bench_wall_ms() << 24 ^ (uint64_t)getpid() << 8;
    char tag[32];
    snprintf(tag, sizeof tag, "%s%lld", argc > 6 ? argv[6] : "b", (long long)bench_wall_ms());
    if (nconn > MAX_CONNS) nconn = MAX_CONNS;
    struct conn *cs = calloc((size_t)nconn, sizeof *cs);
    struct pollfd *pf = calloc((size_t)nconn, sizeof *pf);
    int64_t *lat = malloc(MAX_LAT * sizeof *lat);
    size_t nlat = 0;
    uint64_t events = 0, requests = 0, bad = 0;
    for (int i = 0; i < nconn; i++) {
        if ((cs[i].fd = bench_connect(port)) < 0) {
            perror("bench_ingest: connect");
            return 1;
        }
        build_request(&cs[i], i, batch, token, tag);
        cs[i].t0 = kj_mono_us();
    }
    long pid = argc > 7 ? atol(argv[7]) : 0;
    double cpu0 = pid ? bench_cpu_seconds(pid, NULL) : -1;
    double wcpu0 = pid ? bench_cpu_seconds(pid, "kj-writer") : -1;
    double wb0 = pid ? bench_write_bytes(pid) : -1;
    int64_t start = kj_mono_us(), stop = start + (int64_t)(seconds * 1e6);
    while (kj_mono_us() < stop) {
        for (int i = 0; i < nconn; i++) {
            pf[i].fd = cs[i].fd;
            pf[i].events = cs[i].sent < cs[i].req_len ? POLLOUT : POLLIN;
        }
        if (poll(pf, (nfds_t)nconn, 100) < 0) break;
        for (int i = 0; i < nconn; i++) {
            struct conn *c = &cs[i];
            if (pf[i].revents & POLLOUT) {
                ssize_t w = send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL);
                if (w > 0) c->sent += (size_t)w;
            } else if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = recv(c->fd, c->resp + c->got, sizeof c->resp - 1 - c->got, 0);
                if (r <= 0) {
                    fprintf(stderr, "connection %d closed by the daemon\n", i);
                    return 1;
                }
                c->got += (size_t)r;
                int status;
                if (!answer_len(c, &status)) continue;
                bool ok = status == 200 && strstr(c->resp, "accepted");
                bad += !ok;
                if (nlat < MAX_LAT) lat[nlat++] = kj_mono_us() - c->t0;
                requests++;
                events += ok ? (uint64_t)batch : 0; /* acknowledged ones only */
                build_request(c, i, batch, token, tag);
                c->t0 = kj_mono_us();
            }
        }
    }
    double el = (double)(kj_mono_us() - start) / 1e6;
    qsort(lat, nlat, sizeof *lat, bench_cmp64);
    double p50 = bench_ms_at(lat, nlat, 0.5), p99 = bench_ms_at(lat, nlat, 0.99);
    printf("%s batch %5d, %3d connections: %9.0f events/s  %8.0f requests/s  latency p50 %.2f ms  "
           "p99 %.2f ms  (%llu requests, %llu not 200)\n",
           as_json ? "json   " : "msgpack", batch, nconn, (double)events / el,
           (double)requests / el, p50, p99, (unsigned long long)requests, (unsigned long long)bad);
    double cpu1 = pid ? bench_cpu_seconds(pid, NULL) : -1;
    double wcpu1 = pid ? bench_cpu_seconds(pid, "kj-writer") : -1;
    if (cpu0 >= 0 && cpu1 >= 0 && wcpu0 >= 0 && wcpu1 >= 0 && events) {
        printf("    daemon: %.2f us of CPU per event (writer thread %.2f)",
               (cpu1 - cpu0) * 1e6 / (double)events, (wcpu1 - wcpu0) * 1e6 / (double)events);
        bench_print_written(pid, wb0, (double)events);
        putchar('\n');
    }
    for (int i = 0; i < nconn; i++) {
        close(cs[i].fd);
        free(cs[i].req);
    }
    free(cs);
    free(pf);
    free(lat);
    return bad ? 1 : 0;
}
