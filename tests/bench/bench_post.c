/* bench_post — libkinerja's posting throughput against a running kinerjad.
 *
 * Posts N fresh service events (KJ_BENCH_EVENTS, default 1,000,000) through one
 * kj_client over the WebSocket ingest protocol (a window of 8 frames of up to
 * 10,000 events / 1 MiB), then N more over HTTP POST (one batch at a time), and
 * prints acknowledged events/s for each: the client's encoding, the transport
 * and the daemon's commits together. A benchmark: it prints figures and asserts
 * nothing but that every event was accepted.
 *
 * usage: KINERJA_URL=http://127.0.0.1:PORT KINERJA_TOKEN=T bench_post
 * Without KINERJA_URL it says so and exits 0 (make bench passes them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kinerja.h"

#define CHUNK 10000

static double now_s(void)
{
    return (double)kj_mono_us() / 1e6;
}

static int run(const char *url, const char *token, kj_transport t, const char *name, long n)
{
    kj_client_opts o = {.url = url, .token = token, .transport = t};
    const char *window = getenv("KJ_BENCH_WINDOW"), *bytes = getenv("KJ_BENCH_BATCH_BYTES");
    if (window) o.window = (unsigned)atoi(window);
    if (bytes) o.max_batch_bytes = (size_t)atol(bytes);
    kj_client *c;
    kj_post_result r;
    char msg[300];
    if (kj_client_new(&o, &c, msg, sizeof msg)) {
        fprintf(stderr, "bench_post: %s\n", msg);
        return 1;
    }
    kj_event *evs = calloc(CHUNK, sizeof *evs);
    for (int i = 0; i < CHUNK; i++) {
        evs[i].type = KJ_EV_SERVICE;
        snprintf(evs[i].unit, sizeof evs[i].unit, "bench");
        snprintf(evs[i].employee, sizeof evs[i].employee, "198706152010011%03d", i % 50);
        snprintf(evs[i].counter, sizeof evs[i].counter, "loket-%d", i % 8);
        evs[i].wait_ms = 60000 + i;
        evs[i].service_ms = 300000 + i;
    }
    double t0 = now_s();
    kj_err err = KJ_OK;
    for (long done = 0; done < n && !err; done += CHUNK) {
        size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;
        int64_t ts = kj_now_ms();
        for (size_t i = 0; i < k; i++) {
            kj_event_id_new(evs[i].id);
            evs[i].ts = ts;
        }
        err = kj_client_submit(c, evs, k);
    }
    if (!err) err = kj_client_flush(c, &r);
    double secs = now_s() - t0;
    if (err || r.accepted != (uint64_t)n)
        fprintf(stderr, "bench_post %s: %s (accepted %llu of %ld)\n", name,
                err ? kj_client_errmsg(c) : "not all accepted", (unsigned long long)r.accepted, n);
    else
        printf("bench_post %-4s %ld events in %.2f s: %.0f events/s\n", name, n, secs, n / secs);
    free(evs);
    kj_client_free(c);
    return err ? 1 : 0;
}

int main(void)
{
    const char *url = getenv("KINERJA_URL"), *token = getenv("KINERJA_TOKEN");
    const char *count = getenv("KJ_BENCH_EVENTS");
    long n = count ? strtol(count, NULL, 10) : 1000000;
    if (!url) {
        printf("bench_post: set KINERJA_URL and KINERJA_TOKEN to run it\n");
        return 0;
    }
    if (n <= 0) n = 1000000;
    return run(url, token, KJ_TRANSPORT_WS, "ws", n) |
           run(url, token, KJ_TRANSPORT_HTTP, "http", n);
}
