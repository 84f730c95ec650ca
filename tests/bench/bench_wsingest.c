/* bench_wsingest — load generator for the kinerja-ingest.v1 WebSocket.
 *
 * C connections each send frames of one event ({"op": "events", "seq": N,
 * "events": [e]}) and keep W of them unacknowledged (W = 1: send, wait for
 * the ack, send again — Redis's "pipeline 1"; the daemon reads at most 16
 * frames ahead of its acks per connection). Prints acknowledged events/s, the
 * frame-to-ack latency p50/p99 (which includes the fsync'd group commit) and,
 * given the daemon's PID, its CPU per event (whole process, and the writer
 * thread alone) and the bytes its commits wrote per event. A benchmark: it
 * prints figures and asserts nothing but that every ack accepted its event.
 *
 * usage: bench_wsingest PORT TOKEN CONNS WINDOW SECONDS [PID] */
#include <errno.h>
#include <msgpack.h>
#include <poll.h>
#include <time.h>

#include "bench_util.h"
#include "clock.h"

#define MAX_CONNS 256
#define MAX_WINDOW 64
#define MAX_LAT 4000000

struct conn {
    int fd, idx;
    bool upgraded;
    uint64_t next_seq, acked;
    int64_t sent_us[MAX_WINDOW]; /* by seq % window */
    uint8_t in[65536];
    size_t got;
};

static int window;
static const char *tag;
static int64_t *lat;
static size_t nlat;
static uint64_t events, rejected;

/* The same service event as bench_ingest's, in a frame of its own. */
static int send_event(struct conn *c)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint64_t n = c->next_seq;
    char id[64];
    snprintf(id, sizeof id, "%s-%d-%llu", tag, c->idx, (unsigned long long)n);
    msgpack_pack_map(&pk, 3);
    bench_pack_str(&pk, "op"), bench_pack_str(&pk, "events");
    bench_pack_str(&pk, "seq"), msgpack_pack_uint64(&pk, n);
    bench_pack_str(&pk, "events"), msgpack_pack_array(&pk, 1);
    bench_pack_service(&pk, id, bench_wall_ms(), (unsigned)(n * 7919 + (unsigned)c->idx * 104729));
    uint8_t frame[1024];
    size_t len = sb.size < sizeof frame - 8 ? ws_frame(frame, 2, sb.data, sb.size) : 0;
    msgpack_sbuffer_destroy(&sb);
    c->sent_us[n % (uint64_t)window] = kj_mono_us();
    c->next_seq++;
    return len && send(c->fd, frame, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int64_t map_int(const msgpack_object *m, const char *key, int64_t dflt)
{
    for (uint32_t i = 0; m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
            !memcmp(kv->key.via.str.ptr, key, strlen(key)) &&
            kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            return (int64_t)kv->val.via.u64;
    }
    return dflt;
}

/* An ack: count it, note its latency, and send the next frame. */
static int on_ack(struct conn *c, const uint8_t *p, size_t n)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = -1;
    if (msgpack_unpack_next(&u, (const char *)p, n, NULL) == MSGPACK_UNPACK_SUCCESS) {
        int64_t seq = map_int(&u.data, "seq", -1), ok = map_int(&u.data, "accepted", 0);
        if (seq >= 0) {
            if (nlat < MAX_LAT)
                lat[nlat++] = kj_mono_us() - c->sent_us[(uint64_t)seq % (uint64_t)window];
            events += (uint64_t)ok;
            rejected += ok != 1;
            c->acked++;
            rc = send_event(c);
        } else {
            fprintf(stderr, "connection %d: not an ack: %.*s\n", c->idx, (int)n, p);
        }
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

static int on_readable(struct conn *c)
{
    ssize_t r = recv(c->fd, c->in + c->got, sizeof c->in - c->got, 0);
    if (r <= 0) return -1;
    c->got += (size_t)r;
    size_t off = 0, head, n;
    if (!c->upgraded) {
        uint8_t *end = memmem(c->in, c->got, "\r\n\r\n", 4);
        if (!end) return 0;
        if (memcmp(c->in, "HTTP/1.1 101", 12)) return -1;
        c->upgraded = true;
        off = (size_t)(end + 4 - c->in);
        for (int i = 0; i < window; i++)
            if (send_event(c)) return -1;
    }
    uint64_t plen;
    while ((n = ws_frame_len(c->in + off, c->got - off, &head, &plen))) {
        if ((c->in[off] & 0x0f) == 2 && on_ack(c, c->in + off + head, (size_t)plen)) return -1;
        off += n;
    }
    memmove(c->in, c->in + off, c->got - off);
    c->got -= off;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_wsingest PORT TOKEN CONNS WINDOW SECONDS [PID]\n");
        return 2;
    }
    int port = atoi(argv[1]), nconn = atoi(argv[3]);
    const char *token = argv[2];
    window = atoi(argv[4]);
    double seconds = atof(argv[5]);
    long pid = argc > 6 ? atol(argv[6]) : 0;
    if (nconn < 1 || nconn > MAX_CONNS || window < 1 || window > MAX_WINDOW) {
        fprintf(stderr, "bench_wsingest: 1..%d connections, window 1..%d\n", MAX_CONNS, MAX_WINDOW);
        return 2;
    }
    char tagbuf[32];
    snprintf(tagbuf, sizeof tagbuf, "w%lld", (long long)bench_wall_ms());
    tag = tagbuf;
    lat = malloc(MAX_LAT * sizeof *lat);
    struct conn *cs = calloc((size_t)nconn, sizeof *cs);
    struct pollfd *pf = calloc((size_t)nconn, sizeof *pf);
    for (int i = 0; i < nconn; i++) {
        cs[i].idx = i;
        if ((cs[i].fd = bench_connect(port)) < 0 ||
            ws_send_upgrade(cs[i].fd, "kinerja-ingest.v1", token)) {
            perror("bench_wsingest: connect");
            return 1;
        }
        pf[i] = (struct pollfd){.fd = cs[i].fd, .events = POLLIN};
    }
    double cpu0 = pid ? bench_cpu_seconds(pid, NULL) : -1;
    double wcpu0 = pid ? bench_cpu_seconds(pid, "kj-writer") : -1;
    double wb0 = pid ? bench_write_bytes(pid) : -1;
    int64_t start = kj_mono_us(), stop = start + (int64_t)(seconds * 1e6);
    while (kj_mono_us() < stop) {
        if (poll(pf, (nfds_t)nconn, 100) < 0 && errno != EINTR) break;
        for (int i = 0; i < nconn; i++)
            if ((pf[i].revents & (POLLIN | POLLHUP | POLLERR)) && on_readable(&cs[i])) {
                fprintf(stderr, "bench_wsingest: connection %d failed or closed\n", i);
                return 1;
            }
    }
    double el = (double)(kj_mono_us() - start) / 1e6;
    qsort(lat, nlat, sizeof *lat, bench_cmp64);
    printf("ws ingest, 1 event a frame, %3d connections, window %2d: %9.0f events/s  "
           "ack p50 %.2f ms  p99 %.2f ms  (%llu acks, %llu not accepted)\n",
           nconn, window, (double)events / el, bench_ms_at(lat, nlat, 0.5),
           bench_ms_at(lat, nlat, 0.99), (unsigned long long)nlat, (unsigned long long)rejected);
    double cpu1 = pid ? bench_cpu_seconds(pid, NULL) : -1;
    double wcpu1 = pid ? bench_cpu_seconds(pid, "kj-writer") : -1;
    if (cpu0 >= 0 && cpu1 >= 0 && wcpu0 >= 0 && wcpu1 >= 0 && events) {
        printf("    daemon: %.2f us of CPU per event (writer thread %.2f)",
               (cpu1 - cpu0) * 1e6 / (double)events, (wcpu1 - wcpu0) * 1e6 / (double)events);
        bench_print_written(pid, wb0, (double)events);
        putchar('\n');
    }
    for (int i = 0; i < nconn; i++)
        close(cs[i].fd);
    free(cs);
    free(pf);
    free(lat);
    return rejected ? 1 : 0;
}
