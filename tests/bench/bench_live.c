/* bench_live — event-to-viewer latency of the live feed.
 *
 * V viewers (kinerja-live.v1, one lws client context) subscribe to one unit;
 * a poster thread posts service events over HTTP at R events/s in batches
 * every 10 ms, spread over U units (KJ_BENCH_UNITS, default 20: an office
 * ingesting 10,000 events/s, not one unit doing so), noting when each batch
 * was sent and the watched unit's event count after it. Each update carries the unit's count for today, so a
 * viewer's latency for a batch is the arrival of the first frame whose count
 * covers it, minus the batch's send time: POST, commit, coalescing and
 * delivery together. Prints p50/p99 over every (batch, viewer), the daemon's
 * CPU time per frame delivered (from /proc/PID/stat and /metrics), and the
 * daemon's memory per idle viewer. A benchmark: it asserts nothing.
 *
 * usage: bench_live PORT PID VIEWER_TOKEN INGEST_TOKEN VIEWERS RATE SECONDS */
#include <arpa/inet.h>
#include <libwebsockets.h>
#include <msgpack.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCHES 20000
#define MAX_VIEWERS 2000

static int port, pid, nviewers, rate;
static double seconds;
static const char *vtoken, *itoken;
static const char *unit = "bench-unit-0"; /* the watched one */
static int nunits = 20;

static int64_t sent_us[MAX_BATCHES];       /* when batch i was sent */
static int64_t count_after[MAX_BATCHES];   /* the unit's count after batch i */
static atomic_int nbatches;
static int64_t *arrivals;                  /* [viewer][batch]: first arrival covering it */
static int next_pending[MAX_VIEWERS];      /* per viewer: the first batch not yet covered */
static int64_t base_count[MAX_VIEWERS];    /* per viewer: the unit's count in its snapshot */
static atomic_int subscribed;
static atomic_bool posting_done;
static uint64_t frames, frame_bytes;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --- viewers --- */

struct vsess {
    int idx;
    int step; /* 0: send auth, 1: send subscribe, 2: listening */
    bool got_snapshot;
    uint8_t *buf;
    size_t len, cap;
};

static const msgpack_object *get(const msgpack_object *m, const char *k)
{
    if (!m || m->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *key = &m->via.map.ptr[i].key;
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen(k) &&
            !memcmp(key->via.str.ptr, k, key->via.str.size))
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static void on_frame(struct vsess *v, const uint8_t *data, size_t len)
{
    int64_t at = now_us();
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)data, len, NULL) != MSGPACK_UNPACK_SUCCESS) goto out;
    const msgpack_object *op = get(&u.data, "op");
    if (!op || op->type != MSGPACK_OBJECT_STR) goto out;
    const msgpack_object *c = get(get(get(get(&u.data, "unit_metrics"), "today"), "services"), "count");
    bool counted = c && c->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
    if (!v->got_snapshot && op->via.str.size == 8 && !memcmp(op->via.str.ptr, "snapshot", 8)) {
        /* The unit keeps today's events of earlier runs against the same
         * daemon: count from here, or every frame would cover every batch. */
        base_count[v->idx] = counted ? (int64_t)c->via.u64 : 0;
        v->got_snapshot = true;
        atomic_fetch_add(&subscribed, 1);
        goto out;
    }
    if (!counted) goto out;
    frames++;
    frame_bytes += len;
    int n = atomic_load(&nbatches);
    int64_t seen = (int64_t)c->via.u64 - base_count[v->idx];
    while (next_pending[v->idx] < n && count_after[next_pending[v->idx]] <= seen) {
        arrivals[(size_t)v->idx * MAX_BATCHES + (size_t)next_pending[v->idx]] = at;
        next_pending[v->idx]++;
    }
out:
    msgpack_unpacked_destroy(&u);
}

static int send_msg(struct lws *wsi, const char *op)
{
    uint8_t buf[LWS_PRE + 256];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (!strcmp(op, "auth")) {
        msgpack_pack_map(&pk, 2);
        msgpack_pack_str_with_body(&pk, "op", 2), msgpack_pack_str_with_body(&pk, "auth", 4);
        msgpack_pack_str_with_body(&pk, "token", 5);
        msgpack_pack_str_with_body(&pk, vtoken, strlen(vtoken));
    } else {
        msgpack_pack_map(&pk, 2);
        msgpack_pack_str_with_body(&pk, "op", 2), msgpack_pack_str_with_body(&pk, "subscribe", 9);
        msgpack_pack_str_with_body(&pk, "unit", 4);
        msgpack_pack_str_with_body(&pk, unit, strlen(unit));
    }
    memcpy(buf + LWS_PRE, sb.data, sb.size);
    int n = lws_write(wsi, buf + LWS_PRE, sb.size, LWS_WRITE_BINARY);
    msgpack_sbuffer_destroy(&sb);
    return n < 0 ? -1 : 0;
}

static int viewer_cb(struct lws *wsi, enum lws_callback_reasons r, void *user, void *in, size_t len)
{
    struct vsess *v = user;
    switch (r) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        v->idx = (int)(intptr_t)lws_get_opaque_user_data(wsi);
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (v->step > 1) break;
        if (send_msg(wsi, v->step == 0 ? "auth" : "subscribe")) return -1;
        if (++v->step == 1) lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE: /* reassemble fragments, then read the frame */
        if (v->len + len > v->cap) {
            v->cap = v->len + len + 65536;
            v->buf = realloc(v->buf, v->cap);
        }
        memcpy(v->buf + v->len, in, len);
        v->len += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            on_frame(v, v->buf, v->len);
            v->len = 0;
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "viewer connection error: %s\n", in ? (char *)in : "?");
        break;
    case LWS_CALLBACK_CLIENT_CLOSED: free(v->buf); v->buf = NULL; break;
    default: break;
    }
    return 0;
}

static struct lws_protocols protocols[] = {
    {"kinerja-live.v1", viewer_cb, sizeof(struct vsess), 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* --- the poster --- */

static int http_post(int fd, const char *body, size_t len)
{
    char head[512], resp[4096];
    int hl = snprintf(head, sizeof head,
                      "POST /api/v1/events HTTP/1.1\r\nHost: b\r\nContent-Type: application/msgpack\r\n"
                      "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n", itoken, len);
    if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) != hl || send(fd, body, len, MSG_NOSIGNAL) != (ssize_t)len)
        return -1;
    size_t got = 0;
    for (;;) { /* read one answer: headers + Content-Length body */
        ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (r <= 0) return -1;
        got += (size_t)r;
        resp[got] = 0;
        char *end = strstr(resp, "\r\n\r\n"), *cl = strcasestr(resp, "content-length:");
        if (end && cl && got >= (size_t)(end + 4 - resp) + strtoul(cl + 15, NULL, 10)) break;
    }
    return strncmp(resp + 9, "200", 3) ? -1 : 0;
}

static int connect_tcp(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void *poster(void *arg)
{
    (void)arg;
    int fd = connect_tcp();
    int per_batch = rate / 100 > 0 ? rate / 100 : 1;
    int64_t start = now_us(), total = 0; /* events of the watched unit */
    struct timespec wall;
    for (int b = 0; b < MAX_BATCHES && now_us() - start < (int64_t)(seconds * 1e6); b++) {
        int64_t due = start + (int64_t)b * 10000;
        while (now_us() < due) usleep(200);
        clock_gettime(CLOCK_REALTIME, &wall);
        int64_t ts = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, (size_t)per_batch);
        for (int i = 0; i < per_batch; i++) {
            char id[64], emp[16], u[32];
            snprintf(id, sizeof id, "live-%lld-%d-%d", (long long)start, b, i);
            snprintf(emp, sizeof emp, "e%d", (i / nunits) % 40);
            snprintf(u, sizeof u, "bench-unit-%d", i % nunits);
            total += i % nunits == 0;
            msgpack_pack_map(&pk, 8);
            msgpack_pack_str_with_body(&pk, "id", 2), msgpack_pack_str_with_body(&pk, id, strlen(id));
            msgpack_pack_str_with_body(&pk, "type", 4), msgpack_pack_str_with_body(&pk, "service", 7);
            msgpack_pack_str_with_body(&pk, "ts", 2), msgpack_pack_int64(&pk, ts);
            msgpack_pack_str_with_body(&pk, "unit", 4), msgpack_pack_str_with_body(&pk, u, strlen(u));
            msgpack_pack_str_with_body(&pk, "employee", 8), msgpack_pack_str_with_body(&pk, emp, strlen(emp));
            msgpack_pack_str_with_body(&pk, "counter", 7), msgpack_pack_str_with_body(&pk, "loket-1", 7);
            msgpack_pack_str_with_body(&pk, "wait_ms", 7), msgpack_pack_int64(&pk, 1000 + i * 37);
            msgpack_pack_str_with_body(&pk, "service_ms", 10), msgpack_pack_int64(&pk, 60000 + i * 11);
        }
        count_after[b] = total;
        sent_us[b] = now_us();
        atomic_store(&nbatches, b + 1);
        int rc = http_post(fd, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        if (rc) {
            fprintf(stderr, "bench_live: a post failed\n");
            break;
        }
    }
    close(fd);
    atomic_store(&posting_done, true);
    return NULL;
}

static int post_first_event(void)
{
    char body[256];
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int n = snprintf(body, sizeof body,
                     "{\"id\":\"live-first-%ld\",\"type\":\"presence\",\"ts\":%lld,\"unit\":\"%s\","
                     "\"employee\":\"e0\",\"state\":\"available\"}",
                     (long)wall.tv_sec, (long long)wall.tv_sec * 1000, unit);
    int fd = connect_tcp();
    char head[512], resp[2048];
    int hl = snprintf(head, sizeof head,
                      "POST /api/v1/events HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                      "Authorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
                      itoken, n);
    if (fd < 0 || send(fd, head, (size_t)hl, 0) != hl || send(fd, body, (size_t)n, 0) != n ||
        recv(fd, resp, sizeof resp, 0) < 12 || strncmp(resp + 9, "200", 3)) {
        fprintf(stderr, "bench_live: cannot post to the daemon\n");
        return -1;
    }
    close(fd);
    return 0;
}

/* --- daemon figures --- */

static double cpu_seconds(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f)) return 0;
    fclose(f);
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kib(void)
{
    char path[64], line[256];
    long kib = 0;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kib = atol(line + 6);
    if (f) fclose(f);
    return kib;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: bench_live PORT PID VIEWER_TOKEN INGEST_TOKEN VIEWERS RATE SECONDS\n");
        return 2;
    }
    port = atoi(argv[1]), pid = atoi(argv[2]);
    vtoken = argv[3], itoken = argv[4];
    nviewers = atoi(argv[5]), rate = atoi(argv[6]), seconds = atof(argv[7]);
    if (nviewers > MAX_VIEWERS) nviewers = MAX_VIEWERS;
    if (getenv("KJ_BENCH_UNITS")) nunits = atoi(getenv("KJ_BENCH_UNITS"));
    if (nunits < 1) nunits = 1;
    arrivals = calloc((size_t)nviewers * MAX_BATCHES, sizeof *arrivals);
    lws_set_log_level(LLL_ERR, NULL);

    if (post_first_event()) return 1; /* the unit exists from its first event */

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    /* no fd_limit_per_thread: lws would then find connections by a linear scan */
    struct lws_context *ctx = lws_create_context(&info);
    long rss0 = rss_kib();
    for (int i = 0; i < nviewers; i++) {
        struct lws_client_connect_info ci;
        memset(&ci, 0, sizeof ci);
        ci.context = ctx;
        ci.address = "127.0.0.1";
        ci.port = port;
        ci.path = "/";
        ci.host = "127.0.0.1";
        ci.origin = "127.0.0.1";
        ci.protocol = "kinerja-live.v1";
        ci.opaque_user_data = (void *)(intptr_t)i;
        if (!lws_client_connect_via_info(&ci)) fprintf(stderr, "connect %d failed\n", i);
    }
    int64_t t0 = now_us();
    while (atomic_load(&subscribed) < nviewers && now_us() - t0 < 30000000)
        lws_service(ctx, 0);
    long rss1 = rss_kib();
    double per_viewer = nviewers ? (double)(rss1 - rss0) / nviewers : 0;

    double cpu0 = cpu_seconds();
    pthread_t th;
    pthread_create(&th, NULL, poster, NULL);
    while (!atomic_load(&posting_done))
        lws_service(ctx, 0);
    int64_t drain_until = now_us() + 2000000; /* the last updates */
    while (now_us() < drain_until)
        lws_service(ctx, 0);
    pthread_join(th, NULL);
    double cpu = cpu_seconds() - cpu0;

    int nb = atomic_load(&nbatches);
    size_t nlat = 0, missing = 0;
    int64_t *lat = malloc((size_t)nviewers * (size_t)nb * sizeof *lat);
    for (int v = 0; v < nviewers; v++)
        for (int b = 0; b < nb; b++) {
            int64_t a = arrivals[(size_t)v * MAX_BATCHES + (size_t)b];
            if (a) lat[nlat++] = a - sent_us[b];
            else missing++;
        }
    qsort(lat, nlat, sizeof *lat, cmp64);
    printf("live: %4d viewers, %5d events/s over %d units: latency p50 %6.1f ms  p99 %6.1f ms  (%zu samples, %zu "
           "never covered); daemon CPU %.3f s for %llu frames delivered (%.1f KiB each); %.1f KiB "
           "RSS per idle viewer\n",
           nviewers, rate, nunits, nlat ? lat[nlat / 2] / 1000.0 : 0,
           nlat ? lat[(size_t)(nlat * 0.99)] / 1000.0 : 0, nlat, missing, cpu,
           (unsigned long long)frames, frames ? frame_bytes / 1024.0 / (double)frames : 0,
           per_viewer);
    lws_context_destroy(ctx);
    free(lat);
    free(arrivals);
    return 0;
}
