/* bench_metrics — the metrics engine alone: speed of kj_metrics_apply and the
 * memory of a realistic month.
 *
 *   month: 1,000,000 events over 30 days for 10,000 employees in 500 units
 *          (4 counters each), in time order, the clock ticking every simulated
 *          minute, groups of 1,000 events with each_dirty and commit.
 *   burst: 1,000,000 events within one minute (the 300,000 events/s ingest
 *          case: every bucket hot).
 *
 * Prints figures; asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config/config.h"
#include "metrics/metrics.h"

#define UNITS 500
#define PER_UNIT 20
#define COUNTERS 4

/* KJ_BENCH_EVENTS overrides the 1,000,000 events (for profiling),
 * KJ_BENCH_MONTH_ONLY or KJ_BENCH_BURST_ONLY runs one of the two,
 * KJ_BENCH_GROUP the 1,000 events per group (the writer's groups grow to
 * commit_group_events under load). */
static int EVENTS = 1000000;
static int GROUP = 1000;

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    return (double)kj_mono_us() / 1e6;
}

static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n)) kb = strtol(line + n + 1, NULL, 10);
    if (f) fclose(f);
    return kb;
}

static kj_config *make_config(void)
{
    kj_config *c;
    kj_config_defaults(&c);
    c->units = calloc(UNITS, sizeof *c->units);
    c->n_units = UNITS;
    for (int u = 0; u < UNITS; u++) {
        kj_unit_conf *uc = &c->units[u];
        char id[64];
        snprintf(id, sizeof id, "unit-%03d", u);
        uc->id = strdup(id);
        uc->name = strdup(id);
        uc->sla_wait_ms = 900000;
        uc->members = calloc(PER_UNIT, sizeof *uc->members);
        uc->n_members = PER_UNIT;
        for (int e = 0; e < PER_UNIT; e++) {
            snprintf(id, sizeof id, "1987%06d%08d", u, e);
            uc->members[e] = (kj_named){strdup(id), strdup(id)};
        }
        uc->counters = calloc(COUNTERS, sizeof *uc->counters);
        uc->n_counters = COUNTERS;
        for (int k = 0; k < COUNTERS; k++) {
            snprintf(id, sizeof id, "loket-%d", k + 1);
            uc->counters[k] = (kj_named){strdup(id), strdup(id)};
        }
    }
    c->indicators = calloc(2, sizeof *c->indicators);
    c->n_indicators = 2;
    c->indicators[0] = (kj_indicator_conf){.id = strdup("wait-p90"),
                                           .name = strdup("Waktu tunggu p90"),
                                           .metric = strdup("services.wait_ms.p90"),
                                           .window = KJ_WIN_TODAY,
                                           .target = 900000,
                                           .better = KJ_BETTER_LOWER,
                                           .warn_margin = 0.10,
                                           .min_samples = 1,
                                           .for_unit = true,
                                           .for_employee = true,
                                           .all_units = true};
    c->indicators[1] = (kj_indicator_conf){.id = strdup("ikm"),
                                           .name = strdup("IKM"),
                                           .metric = strdup("ratings.ikm"),
                                           .window = KJ_WIN_30D,
                                           .target = 88.31,
                                           .better = KJ_BETTER_HIGHER,
                                           .warn_margin = 0.10,
                                           .min_samples = 1,
                                           .for_unit = true,
                                           .for_employee = true,
                                           .all_units = true};
    return c;
}

static void make_event(kj_event *ev, int64_t ts, const kj_config *c)
{
    int u = (int)(rnd() % UNITS), e = (int)(rnd() % PER_UNIT), k = (int)(rnd() % COUNTERS);
    const kj_unit_conf *uc = &c->units[u];
    memset(ev, 0, sizeof *ev);
    ev->ts = ts;
    snprintf(ev->unit, sizeof ev->unit, "%s", uc->id);
    snprintf(ev->employee, sizeof ev->employee, "%s", uc->members[e].id);
    unsigned r = (unsigned)(rnd() % 100);
    if (r < 60) {
        ev->type = KJ_EV_SERVICE;
        snprintf(ev->counter, sizeof ev->counter, "%s", uc->counters[k].id);
        ev->wait_ms = (int64_t)(rnd() % 1800000);
        ev->service_ms = 30000 + (int64_t)(rnd() % 900000);
        ev->outcome = rnd() % 20 == 0 ? KJ_OUTCOME_NO_SHOW : KJ_OUTCOME_SERVED;
    } else if (r < 85) {
        ev->type = KJ_EV_TASK;
        ev->has_duration = true;
        ev->duration_ms = (int64_t)(rnd() % (4 * 3600000));
        ev->has_due = true;
        ev->due_ts = ts + (int64_t)(rnd() % 7200000) - 3600000;
    } else {
        ev->type = KJ_EV_RATING;
        ev->score = 1 + (int)(rnd() % 4);
        if ((ev->has_elements = rnd() % 2))
            for (int i = 0; i < KJ_ELEMENTS; i++)
                ev->elements[i] = (uint8_t)(1 + rnd() % 4);
    }
}

typedef struct sink_count {
    size_t keys, bytes;
} sink_count;

static kj_err count_put(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    sink_count *s = ctx;
    (void)k;
    (void)v;
    s->keys++;
    s->bytes += kl + vl;
    return KJ_OK;
}

static kj_err count_alert(void *ctx, int64_t at, const void *v, size_t vl)
{
    (void)at;
    (void)v;
    ((sink_count *)ctx)->bytes += vl;
    return KJ_OK;
}

static void count_alerts(void *ctx, const kj_alert *a)
{
    (void)a;
    (*(size_t *)ctx)++;
}

static void drop_changes(void *ctx, const kj_changes *ch)
{
    (void)ctx;
    (void)ch;
}

/* Runs EVENTS events from start over span ms; prints what it measured. */
static void run(const char *name, kj_config *cfg, int64_t start, int64_t span)
{
    kj_metrics *m;
    long rss0 = status_kb("VmRSS:");
    if (kj_metrics_new(cfg, start, &m)) {
        fprintf(stderr, "bench_metrics: kj_metrics_new failed\n");
        exit(1);
    }
    kj_event *evs = malloc(GROUP * sizeof *evs);
    sink_count sc = {0};
    size_t alerts = 0;
    kj_metrics_sink sink = {&sc, count_put, count_alert};
    double t_apply = 0, t_all = now_s();
    for (int done = 0; done < EVENTS; done += GROUP) {
        int64_t now = start + (int64_t)((double)span * done / EVENTS);
        kj_metrics_tick(m, now);
        for (int i = 0; i < GROUP; i++) /* a few seconds late, as counters send */
            make_event(&evs[i], now - (int64_t)(rnd() % 5000), cfg);
        kj_metrics_begin(m);
        double t = now_s();
        for (int i = 0; i < GROUP; i++)
            kj_metrics_apply(m, &evs[i]);
        t_apply += now_s() - t;
        kj_metrics_each_dirty(m, &sink);
        kj_metrics_commit(m);
        kj_metrics_take_alerts(m, count_alerts, &alerts);
        kj_metrics_take_changes(m, NULL, drop_changes, NULL);
    }
    t_all = now_s() - t_all;
    kj_metrics_stats st;
    kj_metrics_get_stats(m, &st);
    printf("%s: %d events, %zu units, %zu employees, %zu counters\n", name, EVENTS, st.units,
           st.employees, st.counters);
    printf("  apply only          %10.0f events/s (%.0f ns/event)\n", EVENTS / t_apply,
           t_apply * 1e9 / EVENTS);
    printf("  apply+dirty+commit  %10.0f events/s (groups of %d, ticks, change sets)\n",
           EVENTS / t_all, GROUP);
    printf("  dirty keys          %zu (%.1f MiB of keys and values written)\n", sc.keys,
           (double)sc.bytes / 1048576.0);
    printf("  alerts              %zu\n", alerts);
    printf("  buckets in memory   %zu (%.1f MiB encoded)\n", st.buckets,
           (double)st.bucket_bytes / 1048576.0);
    printf("  RSS                 %.1f MiB (engine ~%.1f MiB; peak %.1f MiB)\n",
           status_kb("VmRSS:") / 1024.0, (status_kb("VmRSS:") - rss0) / 1024.0,
           status_kb("VmHWM:") / 1024.0);
    double t = now_s();
    kj_metrics_tick(m, start + span + 60000);
    printf("  one minute tick     %.1f ms\n", (now_s() - t) * 1e3);
    t = now_s();
    kj_metrics_tick(m, start + span + 3600000);
    printf("  one hour tick       %.1f ms\n", (now_s() - t) * 1e3);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    t = now_s();
    for (int u = 0; u < UNITS; u++) {
        msgpack_sbuffer_clear(&sb);
        kj_metrics_pack_snapshot(m, cfg->units[u].id, 1, NULL, &pk);
    }
    printf("  snapshot            %.0f us per unit, %zu bytes\n", (now_s() - t) * 1e6 / UNITS,
           sb.size);
    msgpack_sbuffer_destroy(&sb);
    free(evs);
    kj_metrics_free(m);
}

int main(void)
{
    const char *g = getenv("KJ_BENCH_GROUP"), *n = getenv("KJ_BENCH_EVENTS");
    if (g && atoi(g) > 0) GROUP = atoi(g);
    if (n && atoi(n) >= GROUP) EVENTS = atoi(n) / GROUP * GROUP;
    kj_config *cfg = make_config();
    int64_t end = 1773113420500LL;
    if (!getenv("KJ_BENCH_BURST_ONLY")) run("month", cfg, end - 30 * KJ_DAY_MS, 30 * KJ_DAY_MS);
    if (!getenv("KJ_BENCH_MONTH_ONLY")) run("burst", cfg, end, 60000);
    kj_config_free(cfg);
    return 0;
}
