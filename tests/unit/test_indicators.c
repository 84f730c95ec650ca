/* Unit tests of daemon/metrics/indicators.c: status boundaries, achievement, targets
 * and overrides, alerts on change (and none without), over the engine. */
#include <check.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config/config.h"
#include "metrics/indicators.h"
#include "metrics/metrics.h"

static const int64_t T0 = 1773113420500LL; /* 2026-03-10 10:30 in Jakarta */

START_TEST(test_status_higher)
{
    kj_better h = KJ_BETTER_HIGHER;
    ck_assert_int_eq(kj_indicator_status(h, 90, 0.10, true, 90), KJ_STATUS_OK);
    ck_assert_int_eq(kj_indicator_status(h, 90, 0.10, true, 95), KJ_STATUS_OK);
    ck_assert_int_eq(kj_indicator_status(h, 90, 0.10, true, 89.99), KJ_STATUS_WARN);
    ck_assert_int_eq(kj_indicator_status(h, 90, 0.10, true, 81), KJ_STATUS_WARN); /* exactly 10 % */
    ck_assert_int_eq(kj_indicator_status(h, 90, 0.10, true, 80.99), KJ_STATUS_BAD);
    ck_assert_int_eq(kj_indicator_status(h, 90, 0.10, false, 0), KJ_STATUS_NONE);
    ck_assert_int_eq(kj_indicator_status(h, 90, 0, true, 89.9), KJ_STATUS_BAD); /* no amber band */
    ck_assert_int_eq(kj_indicator_status(h, 88.31, 0.10, true, 88.31), KJ_STATUS_OK);
    ck_assert_int_eq(kj_indicator_status(h, 0, 0.10, true, 0), KJ_STATUS_OK);
    ck_assert_int_eq(kj_indicator_status(h, 0.3, 0.1, true, 0.27), KJ_STATUS_WARN); /* 0.3*0.9 */
}
END_TEST

START_TEST(test_status_lower)
{
    kj_better l = KJ_BETTER_LOWER;
    ck_assert_int_eq(kj_indicator_status(l, 900000, 0.10, true, 900000), KJ_STATUS_OK);
    ck_assert_int_eq(kj_indicator_status(l, 900000, 0.10, true, 0), KJ_STATUS_OK);
    ck_assert_int_eq(kj_indicator_status(l, 900000, 0.10, true, 900001), KJ_STATUS_WARN);
    ck_assert_int_eq(kj_indicator_status(l, 900000, 0.10, true, 990000), KJ_STATUS_WARN);
    ck_assert_int_eq(kj_indicator_status(l, 900000, 0.10, true, 990001), KJ_STATUS_BAD);
    ck_assert_int_eq(kj_indicator_status(l, 900000, 0.10, false, 5), KJ_STATUS_NONE);
    ck_assert_int_eq(kj_indicator_status(l, 0, 0.10, true, 0), KJ_STATUS_OK);
    ck_assert_int_eq(kj_indicator_status(l, 0, 0.10, true, 0.5), KJ_STATUS_BAD);
    ck_assert_int_eq(kj_indicator_status(l, 1.1, 0.1, true, 1.21), KJ_STATUS_WARN); /* 1.1*1.1 */
    ck_assert_int_eq(kj_indicator_status(l, 10, 0.25, true, 12.5), KJ_STATUS_WARN);
    ck_assert_int_eq(kj_indicator_status(l, 10, 0.25, true, 12.51), KJ_STATUS_BAD);
}
END_TEST

static double ach(kj_better b, double target, bool has, double value)
{
    double pct = -1;
    return kj_metric_achievement(b, target, has, value, &pct) ? pct : -1;
}

START_TEST(test_achievement)
{
    kj_better h = KJ_BETTER_HIGHER, l = KJ_BETTER_LOWER;
    ck_assert_double_eq(ach(h, 90, true, 45), 50);
    ck_assert_double_eq(ach(h, 90, true, 90), 100);
    ck_assert_double_eq(ach(h, 90, true, 200), 200); /* 222.2 kept within 0..200 */
    ck_assert_double_eq(ach(h, 3, true, 1), 33.33);  /* two decimals */
    ck_assert_double_eq(ach(h, 90, true, 0), 0);
    ck_assert_double_eq(ach(l, 900000, true, 450000), 150); /* (2 - 0.5) x 100 */
    ck_assert_double_eq(ach(l, 900000, true, 900000), 100);
    ck_assert_double_eq(ach(l, 900000, true, 1800000), 0);
    ck_assert_double_eq(ach(l, 900000, true, 2700000), 0); /* -100 kept at 0 */
    ck_assert_double_eq(ach(l, 900000, true, 0), 200);
    ck_assert_double_eq(ach(l, 600000, true, 690000), 85);
    ck_assert_double_eq(ach(h, 0, true, 5), -1); /* target 0: nil */
    ck_assert_double_eq(ach(l, 0, true, 5), -1);
    ck_assert_double_eq(ach(h, 90, false, 5), -1); /* no data: nil */
}
END_TEST

static kj_indicator_conf make_ind(const char *id, const char *metric, kj_window w, double target,
                                  kj_better better)
{
    kj_indicator_conf ic;
    memset(&ic, 0, sizeof ic);
    ic.id = strdup(id);
    ic.name = strdup(id);
    ic.metric = strdup(metric);
    ic.window = w;
    ic.target = target;
    ic.better = better;
    ic.warn_margin = 0.10;
    ic.for_unit = ic.for_employee = true;
    ic.all_units = true;
    return ic;
}

static void add_override(kj_indicator_conf *ic, const char *emp, double target)
{
    ic->overrides = realloc(ic->overrides, (ic->n_overrides + 1) * sizeof *ic->overrides);
    ic->overrides[ic->n_overrides++] = (kj_override){strdup(emp), target};
}

START_TEST(test_targets_and_units)
{
    kj_indicator_conf ic = make_ind("w", "services.wait_ms.p90", KJ_WIN_TODAY, 900000, 0);
    add_override(&ic, "e1", 600000);
    ck_assert_double_eq(kj_indicator_target(&ic, "e1"), 600000);
    ck_assert_double_eq(kj_indicator_target(&ic, "e2"), 900000);
    ck_assert_double_eq(kj_indicator_target(&ic, NULL), 900000);
    ck_assert(kj_indicator_for_unit(&ic, "any"));
    ic.all_units = false;
    ic.units = calloc(1, sizeof *ic.units);
    ic.units[0] = strdup("u1");
    ic.n_units = 1;
    ck_assert(kj_indicator_for_unit(&ic, "u1"));
    ck_assert(!kj_indicator_for_unit(&ic, "u2"));
    kj_config *c;
    kj_config_defaults(&c);
    c->indicators = malloc(sizeof ic);
    c->indicators[0] = ic;
    c->n_indicators = 1;
    kj_config_free(c);
}
END_TEST

START_TEST(test_alert_pack_round_trip)
{
    kj_alert a = {.at = T0,
                  .from = KJ_STATUS_OK,
                  .to = KJ_STATUS_BAD,
                  .has_value = true,
                  .value = 1234567,
                  .target = 900000};
    strcpy(a.unit, "u1");
    strcpy(a.indicator, "wait-p90");
    strcpy(a.scope, "employee:198706152010011002");
    kj_alert_make_id(&a, (int32_t)(T0 / KJ_DAY_MS), 0);
    /* Ids are stored and acknowledged by clients: the hash must never change. */
    ck_assert_str_eq(a.id, "20260310-b8c9ee1c");
    char note[] = "Loket 2 dibuka";
    for (int frame = 0; frame < 4; frame++) {
        /* 2, 3: escalated and acknowledged (SPEC §16) */
        a.escalated = a.acked = frame >= 2;
        a.acked_at = frame >= 2 ? T0 + 5 : 0;
        strcpy(a.acked_by, frame >= 2 ? "e9" : "");
        a.note = frame == 2 ? note : NULL;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        kj_alert_pack(&a, frame & 1, &pk);
        kj_alert b;
        ck_assert_int_eq(kj_alert_unpack(sb.data, sb.size, &b), KJ_OK);
        ck_assert_str_eq(b.id, a.id);
        ck_assert_int_eq(b.escalated, a.escalated);
        ck_assert_int_eq(b.acked, a.acked);
        ck_assert_int_eq(b.acked_at, a.acked_at);
        ck_assert_str_eq(b.acked_by, a.acked_by);
        ck_assert_int_eq(b.note == NULL, a.note == NULL);
        if (a.note) ck_assert_str_eq(b.note, a.note);
        free(b.note);
        ck_assert_str_eq(b.unit, a.unit);
        ck_assert_str_eq(b.indicator, a.indicator);
        ck_assert_str_eq(b.scope, a.scope);
        ck_assert_int_eq(b.at, a.at);
        ck_assert_int_eq(b.from, a.from);
        ck_assert_int_eq(b.to, a.to);
        ck_assert(b.has_value);
        ck_assert_double_eq(b.value, a.value);
        ck_assert_double_eq(b.target, a.target);
        for (size_t cut = 0; cut < sb.size; cut++)
            ck_assert_int_eq(kj_alert_unpack(sb.data, cut, &b), KJ_ERR_DECODE);
        msgpack_sbuffer_destroy(&sb);
    }
    ck_assert_int_eq(kj_alert_unpack("\x81\xa1x\x01", 4, &a), KJ_ERR_DECODE); /* unknown key */
}
END_TEST

/* ---- over the engine ---- */

static kj_config *engine_config(void)
{
    kj_config *c;
    kj_config_defaults(&c);
    c->units = calloc(1, sizeof *c->units);
    c->n_units = 1;
    c->units[0].id = strdup("u1");
    c->units[0].name = strdup("Unit one");
    c->units[0].sla_wait_ms = 600000;
    c->units[0].members = calloc(2, sizeof(kj_named));
    c->units[0].members[0] = (kj_named){strdup("e1"), strdup("E one")};
    c->units[0].members[1] = (kj_named){strdup("e2"), strdup("E two")};
    c->units[0].n_members = 2;
    c->indicators = calloc(3, sizeof *c->indicators);
    c->indicators[0] = make_ind("wait-p90", "services.wait_ms.p90", KJ_WIN_TODAY, 600000, 0);
    add_override(&c->indicators[0], "e1", 300000);
    c->indicators[1] = make_ind("busy", "services.count", KJ_WIN_15M, 1, KJ_BETTER_HIGHER);
    c->indicators[1].for_employee = false;
    c->indicators[2] = make_ind("on-time", "tasks.on_time_pct", KJ_WIN_TODAY, 50, KJ_BETTER_HIGHER);
    c->indicators[2].warn_margin = 0;
    c->n_indicators = 3;
    return c;
}

#define MAX_SEEN 512
static kj_alert seen[MAX_SEEN];
static int n_seen;
static void collect(void *ctx, const kj_alert *a)
{
    (void)ctx;
    if (n_seen < MAX_SEEN) seen[n_seen] = *a;
    n_seen++;
}

static kj_event service(int64_t ts, const char *emp, int64_t wait)
{
    kj_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = KJ_EV_SERVICE;
    ev.ts = ts;
    strcpy(ev.unit, "u1");
    strcpy(ev.employee, emp);
    strcpy(ev.counter, "c1");
    ev.wait_ms = wait;
    ev.service_ms = 1000;
    return ev;
}

static kj_event task(int64_t ts, const char *emp, bool on_time)
{
    kj_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = KJ_EV_TASK;
    ev.ts = ts;
    strcpy(ev.unit, "u1");
    strcpy(ev.employee, emp);
    strcpy(ev.kind, "k");
    ev.has_due = true;
    ev.due_ts = on_time ? ts : ts - 1;
    return ev;
}

static void run(kj_metrics *m, const kj_event *evs, size_t n)
{
    kj_metrics_sink sink = {0};
    kj_metrics_begin(m);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(kj_metrics_apply(m, &evs[i]), KJ_OK);
    ck_assert_int_eq(kj_metrics_each_dirty(m, &sink), KJ_OK);
    kj_metrics_commit(m);
    n_seen = 0;
    kj_metrics_take_alerts(m, collect, NULL);
}

static const kj_alert *find_alert(const char *indicator, const char *scope)
{
    for (int i = 0; i < n_seen && i < MAX_SEEN; i++)
        if (!strcmp(seen[i].indicator, indicator) && !strcmp(seen[i].scope, scope)) return &seen[i];
    return NULL;
}

/* ---- hold_ms against an independent model (SPEC §16) ---- */

#define FLAP_STEPS 240

/* The model: the raw status of the window at each observation (the engine's
 * evaluations: after each tick, after each group), and the rule of §16 read
 * off that history: the status becomes r at an observation t when r differs
 * from the status and the run of observations equal to r that ends at t
 * started at least hold before t. */
typedef struct flap_model {
    int64_t t[2 * FLAP_STEPS + 2];
    kj_status raw[2 * FLAP_STEPS + 2];
    int n;
    kj_status status;
    kj_alert alerts[2 * FLAP_STEPS];
    int n_alerts;
} flap_model;

static kj_status class_of(int64_t max_wait)
{
    return max_wait <= 600000 ? KJ_STATUS_OK : max_wait <= 660000 ? KJ_STATUS_WARN : KJ_STATUS_BAD;
}

/* services.wait_ms.max over 15m: the steps whose minute bucket starts in
 * (now - 15 min, now] (SPEC §4). */
static kj_status window_raw(const int64_t *waits, int upto, int64_t now)
{
    int64_t max = -1;
    for (int j = 0; j <= upto; j++) {
        int64_t bucket = (T0 + j * KJ_MINUTE_MS) / KJ_MINUTE_MS * KJ_MINUTE_MS;
        if (waits[j] >= 0 && bucket > now - 15 * KJ_MINUTE_MS && waits[j] > max) max = waits[j];
    }
    return max < 0 ? KJ_STATUS_NONE : class_of(max);
}

static void observe(flap_model *fm, int64_t now, kj_status raw, int64_t hold)
{
    fm->t[fm->n] = now;
    fm->raw[fm->n++] = raw;
    if (raw == fm->status) return;
    int start = fm->n - 1;
    while (start > 0 && fm->raw[start - 1] == raw)
        start--;
    if (now - fm->t[start] < hold) return;
    fm->alerts[fm->n_alerts++] = (kj_alert){.at = now, .from = fm->status, .to = raw};
    fm->status = raw;
}

/* engine_config's unit with one indicator, the unit's max wait over 15m (the
 * others apply to no unit, so that the configuration still frees them all). */
static kj_config *hold_config(int64_t hold)
{
    kj_config *cfg = engine_config();
    for (size_t i = 0; i < cfg->n_indicators; i++)
        cfg->indicators[i].all_units = false;
    cfg->indicators = realloc(cfg->indicators, (cfg->n_indicators + 1) * sizeof *cfg->indicators);
    kj_indicator_conf *ic = &cfg->indicators[cfg->n_indicators++];
    *ic = make_ind("wait-max", "services.wait_ms.max", KJ_WIN_15M, 600000, 0);
    ic->for_employee = false;
    ic->hold_ms = hold;
    return cfg;
}

static void flap_run(unsigned seed, int64_t hold)
{
    kj_config *cfg = hold_config(hold);
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    static const int64_t classes[] = {300000, 630000, 900000};
    int64_t waits[FLAP_STEPS];
    flap_model fm = {.status = KJ_STATUS_NONE}; /* the start's silent first judgement */
    kj_alert got[2 * FLAP_STEPS];
    int n_got = 0;
    for (int k = 0; k < FLAP_STEPS; k++) {
        int64_t now = T0 + k * KJ_MINUTE_MS;
        seed = seed * 1103515245u + 12345u;
        /* bursts and gaps: sparse data that flaps */
        waits[k] = (seed >> 16) % 3 ? -1 : classes[(seed >> 8) % 3];
        ck_assert_int_eq(kj_metrics_tick(m, now), KJ_OK);
        n_seen = 0;
        if (kj_metrics_pending(m)) run(m, NULL, 0);
        for (int i = 0; i < n_seen; i++)
            got[n_got++] = seen[i];
        observe(&fm, now, window_raw(waits, k - 1, now), hold);
        if (waits[k] < 0) continue;
        kj_event ev = service(now, "e1", waits[k]);
        run(m, &ev, 1);
        for (int i = 0; i < n_seen; i++)
            got[n_got++] = seen[i];
        observe(&fm, now, window_raw(waits, k, now), hold);
    }
    ck_assert_int_gt(fm.n_alerts, 3); /* the series does flap */
    for (int i = 0; i < n_got && i < fm.n_alerts; i++) {
        ck_assert_msg(got[i].at == fm.alerts[i].at && got[i].from == fm.alerts[i].from &&
                          got[i].to == fm.alerts[i].to,
                      "seed %u hold %lld: alert %d: engine %s -> %s at +%lld s, model %s -> %s at "
                      "+%lld s",
                      seed, (long long)hold, i, kj_status_name(got[i].from),
                      kj_status_name(got[i].to), (long long)(got[i].at - T0) / 1000,
                      kj_status_name(fm.alerts[i].from), kj_status_name(fm.alerts[i].to),
                      (long long)(fm.alerts[i].at - T0) / 1000);
    }
    ck_assert_int_eq(n_got, fm.n_alerts);
    kj_metrics_free(m);
    kj_config_free(cfg);
}

START_TEST(test_hold_against_model)
{
    static const int64_t holds[] = {0, 2 * KJ_MINUTE_MS, 5 * KJ_MINUTE_MS, 150000};
    for (unsigned seed = 1; seed <= 6; seed++)
        for (size_t h = 0; h < sizeof holds / sizeof holds[0]; h++)
            flap_run(seed * 7919u, holds[h]);
}
END_TEST

/* A longer hold means fewer alerts on the same flapping series. */
START_TEST(test_hold_calms_alerts)
{
    int counts[2];
    for (int v = 0; v < 2; v++) {
        kj_config *cfg = hold_config(v ? 10 * KJ_MINUTE_MS : 0);
        kj_metrics *m;
        ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
        counts[v] = 0;
        for (int k = 0; k < 120; k++) {
            ck_assert_int_eq(kj_metrics_tick(m, T0 + k * KJ_MINUTE_MS), KJ_OK);
            n_seen = 0;
            if (kj_metrics_pending(m)) run(m, NULL, 0);
            counts[v] += n_seen;
            if (k % 4) continue;
            kj_event ev = service(T0 + k * KJ_MINUTE_MS, "e1", k % 32 < 16 ? 300000 : 900000);
            run(m, &ev, 1);
            counts[v] += n_seen;
        }
        kj_metrics_free(m);
        kj_config_free(cfg);
    }
    ck_assert_int_gt(counts[0], counts[1]);
}
END_TEST

START_TEST(test_alerts_on_change_only)
{
    kj_config *cfg = engine_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    ck_assert_int_eq(kj_metrics_tick(m, T0), KJ_OK);
    ck_assert(!kj_metrics_pending(m)); /* the start raises nothing */

    kj_event a = service(T0, "e1", 400000);
    run(m, &a, 1);
    /* unit: none -> ok (400000 <= 600000); e1 with its own target 300000:
     * none -> warn (within 10 %? no: 400000 > 330000) -> bad; busy: none -> ok */
    ck_assert_int_eq(n_seen, 3);
    const kj_alert *u = find_alert("wait-p90", "unit:u1");
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(u->from, KJ_STATUS_NONE);
    ck_assert_int_eq(u->to, KJ_STATUS_OK);
    ck_assert_double_eq(u->target, 600000);
    ck_assert_int_eq(u->at, T0);
    const kj_alert *e = find_alert("wait-p90", "employee:e1");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->to, KJ_STATUS_BAD);
    ck_assert_double_eq(e->target, 300000);
    ck_assert(e->has_value);
    ck_assert(fabs(e->value - 400000) <= 4000);
    ck_assert_ptr_nonnull(find_alert("busy", "unit:u1"));

    /* the same again: no status changes, no alerts */
    run(m, &a, 1);
    ck_assert_int_eq(n_seen, 0);

    /* e2 within the amber band of the unit target */
    kj_event b[9];
    for (int i = 0; i < 9; i++)
        b[i] = service(T0, "e2", 650000);
    run(m, b, 9);
    const kj_alert *w = find_alert("wait-p90", "unit:u1");
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(w->from, KJ_STATUS_OK);
    ck_assert_int_eq(w->to, KJ_STATUS_WARN);
    ck_assert_ptr_nonnull(find_alert("wait-p90", "employee:e2")); /* none -> warn */
    ck_assert_int_eq(n_seen, 2);

    /* time: 15m empties, busy goes ok -> none, found by tick, stored later */
    ck_assert_int_eq(kj_metrics_tick(m, T0 + 16 * KJ_MINUTE_MS), KJ_OK);
    ck_assert(kj_metrics_pending(m));
    run(m, NULL, 0);
    ck_assert_int_eq(n_seen, 1);
    ck_assert_str_eq(seen[0].indicator, "busy");
    ck_assert_int_eq(seen[0].to, KJ_STATUS_NONE);
    ck_assert(!seen[0].has_value);
    ck_assert(!kj_metrics_pending(m));
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

/* min_samples: below it the status is none (no alert while the window holds
 * too few samples to judge); from it on, the status of SPEC §5. */
START_TEST(test_min_samples)
{
    kj_config *cfg = engine_config();
    cfg->indicators[0].min_samples = 3; /* wait-p90, today */
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    ck_assert_int_eq(kj_metrics_tick(m, T0), KJ_OK);
    kj_event slow = service(T0, "e2", 900000), quick = service(T0, "e2", 100000);
    run(m, &slow, 1); /* bad with one sample, were it judged */
    ck_assert_ptr_null(find_alert("wait-p90", "unit:u1"));
    ck_assert_ptr_null(find_alert("wait-p90", "employee:e2"));
    run(m, &quick, 1);
    ck_assert_ptr_null(find_alert("wait-p90", "unit:u1"));
    run(m, &quick, 1); /* three samples: p90 = 900000, bad */
    const kj_alert *a = find_alert("wait-p90", "unit:u1");
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->from, KJ_STATUS_NONE);
    ck_assert_int_eq(a->to, KJ_STATUS_BAD);
    ck_assert(a->has_value);
    ck_assert_ptr_nonnull(find_alert("wait-p90", "employee:e2"));
    /* the other indicators keep judging from one sample (default 1) */
    kj_event first = task(T0, "e1", true);
    run(m, &first, 1);
    ck_assert_ptr_nonnull(find_alert("on-time", "unit:u1"));
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

static void snapshot(kj_metrics *m, msgpack_sbuffer *sb, msgpack_unpacked *up, const char *only)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    ck_assert_int_eq(kj_metrics_pack_snapshot(m, "u1", 1, only, &pk), KJ_OK);
    msgpack_unpacked_init(up);
    size_t off = 0;
    ck_assert_int_eq(msgpack_unpack_next(up, sb->data, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            !memcmp(k->via.str.ptr, key, k->via.str.size))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static bool is_str(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           !memcmp(o->via.str.ptr, s, o->via.str.size);
}

static double number(const msgpack_object *o)
{
    ck_assert_ptr_nonnull(o);
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (double)o->via.u64;
    if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) return o->via.f64;
    ck_abort_msg("not a number");
    return 0;
}

START_TEST(test_snapshot_indicators_and_alerts)
{
    kj_config *cfg = engine_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_event a = service(T0, "e1", 450000);
    run(m, &a, 1);
    kj_event t = task(T0, "e2", false);
    run(m, &t, 1);
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    snapshot(m, &sb, &up, NULL);
    const msgpack_object *inds = get(&up.data, "indicators");
    ck_assert_int_eq(inds->type, MSGPACK_OBJECT_ARRAY);
    /* unit: 3 indicators; e1, e2: wait-p90 and on-time each (busy is unit only) */
    ck_assert_uint_eq(inds->via.array.size, 3 + 2 * 2);
    bool checked = false;
    for (uint32_t i = 0; i < inds->via.array.size; i++) {
        const msgpack_object *x = &inds->via.array.ptr[i];
        static const char *keys[] = {"id",    "name",   "scope",  "metric", "window",
                                     "value", "target", "better", "status", "achievement_pct"};
        bool employee = !strncmp(get(x, "scope")->via.str.ptr, "employee:", 9);
        ck_assert_uint_eq(x->via.map.size, 10 + employee); /* + unit_median */
        if (employee) ck_assert_ptr_nonnull(get(x, "unit_median"));
        for (int k = 0; k < 10; k++)
            ck_assert_ptr_nonnull(get(x, keys[k]));
        if (is_str(get(x, "id"), "wait-p90") && is_str(get(x, "scope"), "employee:e1")) {
            ck_assert_double_eq(number(get(x, "target")), 300000);
            ck_assert(is_str(get(x, "status"), "bad"));
            ck_assert(is_str(get(x, "window"), "today"));
            ck_assert(is_str(get(x, "better"), "lower"));
            double v = number(get(x, "value"));
            double want = round((2 - v / 300000) * 10000) / 100;
            ck_assert_double_eq(number(get(x, "achievement_pct")), want < 0 ? 0 : want);
            checked = true;
        }
        if (is_str(get(x, "id"), "wait-p90") && is_str(get(x, "scope"), "employee:e2")) {
            ck_assert(get(x, "value")->type == MSGPACK_OBJECT_NIL);
            ck_assert(get(x, "achievement_pct")->type == MSGPACK_OBJECT_NIL);
            ck_assert(is_str(get(x, "status"), "none"));
        }
    }
    ck_assert(checked);
    /* alerts, newest first: the task's on-time alert came last */
    const msgpack_object *al = get(&up.data, "alerts");
    ck_assert_uint_ge(al->via.array.size, 4);
    ck_assert(is_str(get(&al->via.array.ptr[0], "indicator"), "on-time"));
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);

    /* a personal view holds only that member's entries and alerts */
    snapshot(m, &sb, &up, "e2");
    inds = get(&up.data, "indicators");
    ck_assert_uint_eq(inds->via.array.size, 2);
    al = get(&up.data, "alerts");
    for (uint32_t i = 0; i < al->via.array.size; i++)
        ck_assert(is_str(get(&al->via.array.ptr[i], "scope"), "employee:e2"));
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

START_TEST(test_alerts_bounded_and_daily)
{
    kj_config *cfg = engine_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    /* flip on-time (target 50 %, no band) ok <-> bad 300 times */
    int on = 0, late = 0, flips = 0;
    for (int i = 0; flips < 300; i++) {
        bool want_ok = flips % 2 == 0;
        kj_event t = task(T0, "e1", want_ok);
        run(m, &t, 1);
        want_ok ? on++ : late++;
        flips += n_seen > 0;
        ck_assert_int_lt(i, 100000);
    }
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    snapshot(m, &sb, &up, NULL);
    ck_assert_uint_eq(get(&up.data, "alerts")->via.array.size, 200);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    /* the next day starts without yesterday's alerts */
    ck_assert_int_eq(kj_metrics_tick(m, T0 + 86400000), KJ_OK);
    run(m, NULL, 0);
    snapshot(m, &sb, &up, NULL);
    const msgpack_object *al = get(&up.data, "alerts");
    for (uint32_t i = 0; i < al->via.array.size; i++)
        ck_assert_int_ge((int64_t)number(get(&al->via.array.ptr[i], "at")), T0 + 86400000 - 60000);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

START_TEST(test_rollback_drops_alerts)
{
    kj_config *cfg = engine_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_event a = service(T0, "e1", 400000);
    kj_metrics_sink sink = {0};
    kj_metrics_begin(m);
    kj_metrics_apply(m, &a);
    kj_metrics_each_dirty(m, &sink);
    kj_metrics_rollback(m);
    n_seen = 0;
    kj_metrics_take_alerts(m, collect, NULL);
    ck_assert_int_eq(n_seen, 0);
    /* applied again for real, the same alerts come (statuses were restored) */
    run(m, &a, 1);
    ck_assert_int_eq(n_seen, 3);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

START_TEST(test_reload_keeps_statuses)
{
    kj_config *cfg = engine_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_event a = service(T0, "e2", 400000);
    run(m, &a, 1);
    ck_assert_int_gt(n_seen, 0);
    /* the same configuration again: nothing to say */
    kj_config *same = engine_config();
    ck_assert_int_eq(kj_metrics_set_config(m, same), KJ_OK);
    kj_config_free(cfg);
    run(m, NULL, 0);
    ck_assert_int_eq(n_seen, 0);
    /* a stricter unit target is a change of status */
    kj_config *strict = engine_config();
    strict->indicators[0].target = 100000;
    ck_assert_int_eq(kj_metrics_set_config(m, strict), KJ_OK);
    kj_config_free(same);
    run(m, NULL, 0);
    ck_assert_ptr_nonnull(find_alert("wait-p90", "unit:u1"));
    ck_assert_int_eq(find_alert("wait-p90", "unit:u1")->to, KJ_STATUS_BAD);
    kj_metrics_free(m);
    kj_config_free(strict);
}
END_TEST

/* Two nodes applying the same stream (SPEC §17) give each alert the same
 * id, though each sees it on its own clock: node b starts later, ticks later
 * and later again before every event, and so stamps a different `at`. The
 * stream flips the same statuses back and forth, so that one placement
 * (scope, indicator, from, to) recurs and must get a new id each time. */
#define NODE_EVENTS 80
typedef struct node_alerts {
    kj_alert a[MAX_SEEN];
    int n;
} node_alerts;

static void node_run(int64_t start, int64_t lag, node_alerts *out)
{
    kj_config *cfg = engine_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, start, &m), KJ_OK);
    out->n = 0;
    for (int k = 0; k < NODE_EVENTS; k++) {
        int64_t ts = T0 + 1000 + k * 20000;
        ck_assert_int_eq(kj_metrics_tick(m, ts + lag + (k % 7) * 313), KJ_OK);
        /* on time, late, late, on time, ...: tasks.on_time_pct crosses 50 % */
        kj_event evs[2] = {task(ts, k % 3 ? "e1" : "e2", (k / 2) % 2 == 0),
                           service(ts, k % 2 ? "e1" : "e2", k % 9 < 4 ? 200000 : 900000)};
        run(m, evs, 2);
        for (int i = 0; i < n_seen && out->n < MAX_SEEN; i++)
            out->a[out->n++] = seen[i];
    }
    kj_metrics_free(m);
    kj_config_free(cfg);
}

START_TEST(test_alert_ids_same_on_two_nodes)
{
    static node_alerts a, b;
    node_run(T0, 0, &a);
    node_run(T0 + 4321, 1500, &b);
    ck_assert_int_gt(a.n, 6);
    ck_assert_int_eq(a.n, b.n);
    int repeats = 0, other_at = 0;
    for (int i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.a[i].scope, b.a[i].scope);
        ck_assert_str_eq(a.a[i].indicator, b.a[i].indicator);
        ck_assert_int_eq(a.a[i].to, b.a[i].to);
        ck_assert_msg(!strcmp(a.a[i].id, b.a[i].id), "alert %d: %s on one node, %s on the other", i,
                      a.a[i].id, b.a[i].id);
        other_at += a.a[i].at != b.a[i].at;
        ck_assert_int_eq(strncmp(a.a[i].id, "20260310-", 9), 0); /* the local day of T0 */
        for (int j = 0; j < i; j++) {
            ck_assert_str_ne(a.a[j].id, a.a[i].id);
            repeats += !strcmp(a.a[j].scope, a.a[i].scope) &&
                       !strcmp(a.a[j].indicator, a.a[i].indicator) && a.a[j].from == a.a[i].from &&
                       a.a[j].to == a.a[i].to;
        }
    }
    ck_assert_int_eq(other_at, a.n); /* the clocks differed every time */
    ck_assert_int_gt(repeats, 0);
}
END_TEST

static Suite *indicators_suite(void)
{
    Suite *s = suite_create("indicators");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_status_higher);
    tcase_add_test(tc, test_status_lower);
    tcase_add_test(tc, test_achievement);
    tcase_add_test(tc, test_targets_and_units);
    tcase_add_test(tc, test_alert_pack_round_trip);
    tcase_add_test(tc, test_alerts_on_change_only);
    tcase_add_test(tc, test_min_samples);
    tcase_add_test(tc, test_snapshot_indicators_and_alerts);
    tcase_add_test(tc, test_alerts_bounded_and_daily);
    tcase_add_test(tc, test_rollback_drops_alerts);
    tcase_add_test(tc, test_reload_keeps_statuses);
    tcase_add_test(tc, test_hold_against_model);
    tcase_add_test(tc, test_hold_calms_alerts);
    tcase_add_test(tc, test_alert_ids_same_on_two_nodes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(indicators_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
