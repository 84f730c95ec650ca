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

static void build_request(struct conn *c, int ci, int batch, const char *token, const char *tag)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s-%d-%llu", tag, ci, (unsigned long long)c->n);
    bench_service_batch(&sb, as_json, random_ids ? NULL : prefix,
                        (unsigned)(c->n * 7919 + (unsigned)ci), batch);
    free(c->req);
    c->req = bench_http_post("/api/v1/events", as_json ? "application/json" : "application/msgpack",
                             token, &sb, &c->req_len);
    c->sent = 0;
    c->got = 0;
    c->n++;
    msgpack_sbuffer_destroy(&sb);
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
                c->resp[c->got] = 0;
                if (!bench_http_answer_len(c->resp, c->got, &status)) continue;
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
