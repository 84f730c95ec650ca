/* bench_openloop — request latency at a fixed offered rate, for kinerjad and,
 * to compare, its peers Redis and InfluxDB.
 *
 * Closed-loop clients (bench_ingest, the peers' wrk and redis-benchmark) keep
 * each connection busy, so their latency is mostly Little's law of their own
 * window: C connections of B events at R events/s wait about C*B/R whatever
 * the server does, and redis-benchmark starts its clock when it writes a
 * pipeline. Here a request of BATCH events falls due every BATCH/RATE seconds
 * and starts on an idle connection; its latency runs from when it fell due, so
 * a wait for an idle connection counts too (no coordinated omission). At a
 * rate below both servers' capacity the percentiles compare the servers.
 *
 *   kinerjad  POST /api/v1/events of BATCH service events (fresh ids), msgpack
 *             or, with KJ_BENCH_FORMAT=json, JSON;
 *             done when the answer is read (200 saying "accepted" counts as ok);
 *   redis     BATCH pipelined XADDs, one event each (the harness's command),
 *             done when the BATCH-th reply is read (bulk strings count as ok);
 *   influx    POST /write?db=bench&precision=u of BATCH points of line protocol
 *             (the harness's), done when the answer is read (204 counts as ok).
 *
 * Prints the offered and acknowledged rates; p50/p90/p99/p99.9/max (of the
 * first MAX_REQUESTS); how many requests fell due, started, and started over
 * 1 ms late (no idle connection: the server's capacity is near); given the
 * server's PID its CPU per event; this generator's own; and the CPU time the
 * host stole from the machine. A benchmark: it asserts only that every
 * request was answered and ok.
 *
 * usage: bench_openloop kinerjad|redis|influx PORT TOKEN BATCH CONNS RATE SECONDS [PID]
 *        (TOKEN: kinerjad's ingest token; any word for the peers) */
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
#define MAX_REQUESTS 2000000
#define IN_CAP (1 << 20)    /* answer bytes held: Redis's replies to a pipeline */
#define DRAIN_US 30000000LL /* how long requests in flight may finish after the run */

struct conn {
    int fd;
    bool busy;
    char *req;
    size_t req_len, sent;
    char *in;
    size_t got;
    int replies, errors; /* redis: replies read of this request's BATCH, error replies */
    int64_t due;         /* when the request fell due (µs, monotonic) */
};

enum target { KINERJAD, REDIS, INFLUX };
static const char *const target_names[] = {"kinerjad", "redis", "influx"};

struct run {
    enum target target;
    bool json;
    const char *token;
    char tag[32];
    int batch;
    uint64_t started, done, ok_events, bad;
    int64_t *lat;
    size_t nlat;
    int conns;          /* connections */
    double interval_us; /* between two requests falling due */
    int64_t t0, end;    /* the schedule's start and end (µs, monotonic) */
    uint64_t late;      /* requests started over 1 ms after they fell due */
    int64_t last;       /* when the last request finished (µs, monotonic) */
    int64_t start_us;   /* when the run started (µs, wall clock) */
};

/* kinerjad: one POST of run->batch service events, the k-th request's. */
static char *kinerjad_request(const struct run *run, uint64_t k, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s-%llu", run->tag, (unsigned long long)k);
    bench_service_batch(&sb, run->json, prefix, (unsigned)(k * 7919), run->batch);
    char *req =
        bench_http_post("/api/v1/events", run->json ? "application/json" : "application/msgpack",
                        run->token, &sb, len);
    msgpack_sbuffer_destroy(&sb);
    return req;
}

/* redis: run->batch pipelined XADDs with the fields of the peers' harness
 * (one format a command: the generator's CPU is the peer's to use). */
static char *redis_request(const struct run *run, uint64_t k, size_t *len)
{
    char *req = malloc((size_t)run->batch * 256), *p = req;
    for (int i = 0; i < run->batch; i++) {
        unsigned r = (unsigned)(k * 7919 + (unsigned)i * 104729);
        char emp[16], wait[16], service[16];
        snprintf(emp, sizeof emp, "e%u", r % 200);
        snprintf(wait, sizeof wait, "%u", 1000 + r % 900000);
        snprintf(service, sizeof service, "%u", 30000 + r % 600000);
        p += sprintf(p,
                     "*15\r\n$4\r\nXADD\r\n$11\r\npeer:events\r\n$1\r\n*\r\n$4\r\nunit\r\n"
                     "$2\r\nu7\r\n$8\r\nemployee\r\n$%zu\r\n%s\r\n$7\r\ncounter\r\n$2\r\nc3\r\n"
                     "$7\r\nwait_ms\r\n$%zu\r\n%s\r\n$10\r\nservice_ms\r\n$%zu\r\n%s\r\n"
                     "$2\r\nts\r\n$13\r\n1795000000000\r\n",
                     strlen(emp), emp, strlen(wait), wait, strlen(service), service);
    }
    *len = (size_t)(p - req);
    return req;
}

/* influx: run->batch points of line protocol, each at a microsecond of its
 * own from the run's start (a point of the same series and time would replace
 * another). */
static char *influx_request(const struct run *run, uint64_t k, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int i = 0; i < run->batch; i++) {
        unsigned r = (unsigned)(k * 7919 + (unsigned)i * 104729);
        char line[200];
        int n =
            snprintf(line, sizeof line,
                     "%sservice,unit=%s,employee=e%u,counter=c%u wait_ms=%ui,service_ms=%ui "
                     "%lld",
                     i ? "\n" : "", bench_units[r % 8], r % 200, r % 16, 1000 + r % 900000,
                     30000 + r % 600000, (long long)(run->start_us + (int64_t)k * run->batch + i));
        msgpack_sbuffer_write(&sb, line, (size_t)n);
    }
    char *req = bench_http_post("/write?db=bench&precision=u", "text/plain", NULL, &sb, len);
    msgpack_sbuffer_destroy(&sb);
    return req;
}

/* Counts the whole RESP replies at the start of in[0..n) into c->replies and
 * c->errors; returns the bytes they took. */
static size_t redis_replies(struct conn *c, const char *in, size_t n)
{
    size_t at = 0;
    for (;;) {
        const char *eol = memmem(in + at, n - at, "\r\n", 2);
        if (!eol) return at;
        size_t next = (size_t)(eol - in) + 2;
        if (in[at] == '$') { /* a bulk string: its length, then its bytes */
            long blen = strtol(in + at + 1, NULL, 10);
            if (blen > 0) next += (size_t)blen + 2;
            if (next > n) return at;
        }
        c->errors += in[at] == '-';
        c->replies++;
        at = next;
    }
}

static void start(struct run *run, struct conn *c, int64_t due)
{
    free(c->req);
    c->req = run->target == REDIS    ? redis_request(run, run->started, &c->req_len)
             : run->target == INFLUX ? influx_request(run, run->started, &c->req_len)
                                     : kinerjad_request(run, run->started, &c->req_len);
    c->sent = c->got = 0;
    c->replies = c->errors = 0;
    c->due = due;
    c->busy = true;
    run->started++;
}

static void finish(struct run *run, struct conn *c, bool ok)
{
    run->last = kj_mono_us();
    if (run->nlat < MAX_REQUESTS) run->lat[run->nlat++] = run->last - c->due;
    run->done++;
    run->bad += !ok;
    run->ok_events += ok ? (uint64_t)run->batch : 0;
    c->busy = false;
}

/* Reads what c's server sent; finishes its request once whole. -1 when the
 * server closed the connection or sent more than it may. */
static int readable(struct run *run, struct conn *c)
{
    ssize_t r = recv(c->fd, c->in + c->got, IN_CAP - 1 - c->got, MSG_DONTWAIT);
    if (r <= 0) return r < 0 && errno == EAGAIN ? 0 : -1;
    c->got += (size_t)r;
    c->in[c->got] = 0;
    if (run->target == REDIS) {
        size_t used = redis_replies(c, c->in, c->got);
        memmove(c->in, c->in + used, c->got - used);
        c->got -= used;
        if (c->replies >= run->batch) finish(run, c, !c->errors);
        return 0;
    }
    int status;
    size_t len = bench_http_answer_len(c->in, c->got, &status);
    if (len)
        finish(run, c,
               run->target == INFLUX ? status == 204
                                     : status == 200 && memmem(c->in, len, "accepted", 8));
    return c->got >= IN_CAP - 1 ? -1 : 0;
}

static void writable(struct conn *c)
{
    ssize_t w = send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) c->sent += (size_t)w;
}

/* Waits for the sockets until the next request falls due (µs, monotonic). */
static int wait_io(struct conn *cs, struct pollfd *pf, int nconn, int64_t until)
{
    for (int i = 0; i < nconn; i++) {
        pf[i].fd = cs[i].busy ? cs[i].fd : -1;
        pf[i].events = cs[i].sent < cs[i].req_len ? POLLOUT | POLLIN : POLLIN;
    }
    /* at most 5 ms at a time: the kernel lets a poll's timeout run 0.1 %
     * over, 1 ms late on a wait of 1 s */
    int64_t left = until - kj_mono_us();
    left = left < 5000 ? left : 5000;
    struct timespec ts = {.tv_sec = left > 0 ? left / 1000000 : 0,
                          .tv_nsec = left > 0 ? left % 1000000 * 1000 : 0};
    return ppoll(pf, (nfds_t)nconn, &ts, NULL);
}

/* This process's CPU seconds so far (user + system). */
static double process_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time stolen from this virtual machine by its host, and all CPU time, in
 * ticks since boot (/proc/stat): a run with much of it was not on a quiet
 * machine. */
static void machine_ticks(double *steal, double *total)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                     &v[4], &v[5], &v[6], &v[7]) != 8)
        memset(v, 0, sizeof v);
    if (f) fclose(f);
    *steal = (double)v[7], *total = 0;
    for (int i = 0; i < 8; i++)
        *total += (double)v[i];
}

static void report(struct run *run, double rate, long pid, double cpu0, double steal0,
                   double total0)
{
    double el = (double)((run->last > run->end ? run->last : run->end) - run->t0) / 1e6;
    uint64_t fell_due = (uint64_t)((double)(run->end - run->t0 - 1) / run->interval_us) + 1;
    qsort(run->lat, run->nlat, sizeof *run->lat, bench_cmp64);
    const int64_t *l = run->lat;
    size_t n = run->nlat;
    printf("%-8s %s batch %d, %d connections, offered %.0f events/s: %.0f acknowledged/s; latency "
           "from due p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f ms (%llu of %llu requests "
           "started, %llu late, %llu not ok)",
           target_names[run->target],
           run->target == REDIS    ? "XADD   "
           : run->target == INFLUX ? "lp     "
           : run->json             ? "JSON   "
                                   : "msgpack",
           run->batch, run->conns, rate, (double)run->ok_events / el, bench_ms_at(l, n, 0.5),
           bench_ms_at(l, n, 0.9), bench_ms_at(l, n, 0.99), bench_ms_at(l, n, 0.999),
           n ? (double)l[n - 1] / 1000 : 0, (unsigned long long)run->started,
           (unsigned long long)fell_due, (unsigned long long)run->late,
           (unsigned long long)run->bad);
    double cpu1 = pid ? bench_cpu_seconds(pid, NULL) : -1, steal1, total1;
    if (cpu0 >= 0 && cpu1 >= 0 && run->ok_events)
        printf("; server %.2f us CPU per event", (cpu1 - cpu0) * 1e6 / (double)run->ok_events);
    if (run->ok_events) /* this generator's own, on the same cores */
        printf("; generator %.2f", process_cpu_seconds() * 1e6 / (double)run->ok_events);
    machine_ticks(&steal1, &total1);
    if (total1 > total0) printf("; steal %.1f %%", 100 * (steal1 - steal0) / (total1 - total0));
    putchar('\n');
}

/* Starts the requests fallen due by now, each on an idle connection. */
static void start_due(struct run *run, struct conn *cs, int64_t now)
{
    for (int i = 0; i < run->conns && now < run->end; i++) {
        int64_t due = run->t0 + (int64_t)((double)run->started * run->interval_us);
        if (due > now) return;
        if (cs[i].busy) continue;
        run->late += now - due > 1000;
        start(run, &cs[i], due);
        writable(&cs[i]);
    }
}

/* Runs the schedule, then lets the requests in flight finish. 0, or -1 when
 * a server closed a connection. */
static int drive(struct run *run, struct conn *cs, struct pollfd *pf)
{
    int64_t drain = run->end + DRAIN_US;
    for (int64_t now = run->t0; now < drain && (now < run->end || run->done < run->started);
         now = kj_mono_us()) {
        start_due(run, cs, now);
        /* until the next request falls due; when it is due already (every
         * connection busy), until an answer: spinning would take the
         * server's CPU */
        int64_t next = run->t0 + (int64_t)((double)run->started * run->interval_us);
        if (wait_io(cs, pf, run->conns, now < run->end && next > now ? next : drain) < 0 &&
            errno != EINTR)
            return 0;
        for (int i = 0; i < run->conns; i++) {
            if (pf[i].revents & POLLOUT) writable(&cs[i]);
            if (pf[i].revents & (POLLIN | POLLHUP | POLLERR) && readable(run, &cs[i]) < 0) {
                fprintf(stderr, "bench_openloop: connection %d closed by the server\n", i);
                return -1;
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int target = 0;
    while (argc >= 8 && target < 3 && strcmp(argv[1], target_names[target]))
        target++;
    if (argc < 8 || target == 3) {
        fprintf(stderr, "usage: bench_openloop kinerjad|redis|influx PORT TOKEN BATCH CONNS RATE "
                        "SECONDS [PID]\n");
        return 2;
    }
    const char *format = getenv("KJ_BENCH_FORMAT");
    struct run run = {.target = (enum target)target,
                      .json = format && !strcmp(format, "json"),
                      .token = argv[3],
                      .batch = atoi(argv[4])};
    int port = atoi(argv[2]), nconn = run.conns = atoi(argv[5]);
    double rate = atof(argv[6]), seconds = atof(argv[7]);
    long pid = argc > 8 ? atol(argv[8]) : 0;
    if (run.batch < 1 || run.batch > 4000 || nconn < 1 || nconn > MAX_CONNS || rate <= 0) {
        fprintf(stderr, "bench_openloop: BATCH 1..4000, CONNS 1..%d, RATE > 0\n", MAX_CONNS);
        return 2;
    }
    run.lat = malloc(MAX_REQUESTS * sizeof *run.lat);
    run.start_us = bench_wall_ms() * 1000;
    snprintf(run.tag, sizeof run.tag, "o%lld", (long long)bench_wall_ms());
    struct conn *cs = calloc((size_t)nconn, sizeof *cs);
    struct pollfd *pf = calloc((size_t)nconn, sizeof *pf);
    int status = 1;
    for (int i = 0; i < nconn; i++)
        cs[i].fd = -1;
    for (int i = 0; i < nconn; i++) {
        cs[i].in = malloc(IN_CAP);
        if ((cs[i].fd = bench_connect(port)) < 0) {
            perror("bench_openloop: connect");
            goto out;
        }
    }
    double cpu0 = pid ? bench_cpu_seconds(pid, NULL) : -1, steal0, total0;
    machine_ticks(&steal0, &total0);
    run.interval_us = 1e6 * run.batch / rate;
    run.t0 = kj_mono_us();
    run.end = run.t0 + (int64_t)(seconds * 1e6);
    if (drive(&run, cs, pf) < 0) goto out;
    report(&run, rate, pid, cpu0, steal0, total0);
    if (run.done < run.started)
        fprintf(stderr, "bench_openloop: %llu requests unanswered\n",
                (unsigned long long)(run.started - run.done));
    status = run.bad || run.done < run.started ? 1 : 0;
out:
    for (int i = 0; i < nconn; i++) {
        if (cs[i].fd >= 0) close(cs[i].fd);
        free(cs[i].req);
        free(cs[i].in);
    }
    free(cs);
    free(pf);
    free(run.lat);
    return status;
}
