/* Unit tests of client/office.c: the simulated office keeps the hours of a
 * kecamatan, its queue drains (wait p90 of a day between 5 and 30 minutes,
 * with a visible morning peak) and citizens rate it mostly B (SPEC §4 IKM).
 * And the demo's day (client/cmd_simulate_day.c, what `make run` posts) fed
 * to the daemon's metrics engine with examples/demo.yaml's indicators, its
 * clock driven through the day: a handful of real alerts, not dozens. */
#include <check.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cmd_simulate.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "office.h"
#include "tzclock.h"

START_TEST(test_hours)
{
    for (int wd = 1; wd <= 4; wd++) {
        ck_assert(!kj_office_open(wd, 7 * KJ_HOUR_MS + 59 * KJ_MINUTE_MS));
        ck_assert(kj_office_open(wd, 8 * KJ_HOUR_MS));
        ck_assert(!kj_office_open(wd, 12 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS)); /* lunch */
        ck_assert(kj_office_open(wd, 13 * KJ_HOUR_MS));
        ck_assert(kj_office_open(wd, 15 * KJ_HOUR_MS + 59 * KJ_MINUTE_MS));
        ck_assert(!kj_office_open(wd, 16 * KJ_HOUR_MS));
        ck_assert(!kj_office_open(wd, 2 * KJ_HOUR_MS)); /* nobody served at night */
    }
    ck_assert(kj_office_open(5, 11 * KJ_HOUR_MS + 29 * KJ_MINUTE_MS));
    ck_assert(!kj_office_open(5, 11 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS)); /* Friday prayer */
    ck_assert(!kj_office_open(5, 12 * KJ_HOUR_MS + 59 * KJ_MINUTE_MS));
    ck_assert(kj_office_open(5, 16 * KJ_HOUR_MS + 29 * KJ_MINUTE_MS));
    ck_assert(!kj_office_open(5, 16 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS));
    ck_assert(!kj_office_open(0, 10 * KJ_HOUR_MS) && !kj_office_open(6, 10 * KJ_HOUR_MS));
    ck_assert(kj_office_arrivals_per_hour(1, 3 * KJ_HOUR_MS) == 0);
    ck_assert(kj_office_arrivals_per_hour(1, 9 * KJ_HOUR_MS) >
              kj_office_arrivals_per_hour(1, 15 * KJ_HOUR_MS));
}
END_TEST

/* The simulator's hours are in the configured zone (kj_tz_local, as
 * kinerja simulate calls it), not in UTC: a week swept minute by minute in
 * UTC opens at 08:00 local every working day, closes for lunch 12:00-13:00,
 * on Friday runs to 16:30 with the prayer break, and stays shut on Saturday
 * and Sunday. The local time is counted independently from the zone's
 * known offset: Asia/Jayapura is UTC+9 all year; America/New_York moves
 * from UTC-5 to UTC-4 on Sunday 2026-03-08, inside the week swept. */
static void week_in_zone(const char *zone, int64_t monday_utc_midnight, int64_t offset_h_before,
                         int64_t offset_h_after, int64_t switch_utc)
{
    kj_tz *tz;
    ck_assert_int_eq(kj_tz_load(zone, &tz), KJ_OK);
    int64_t opened[7] = {0}, open_min[7] = {0}, first[7], last[7];
    bool at_lunch = false, at_prayer = false;
    for (int i = 0; i < 7; i++)
        first[i] = -1, last[i] = -1;
    for (int64_t t = monday_utc_midnight - 2 * KJ_DAY_MS; t < monday_utc_midnight + 8 * KJ_DAY_MS;
         t += KJ_MINUTE_MS) {
        int64_t off = (t < switch_utc ? offset_h_before : offset_h_after) * KJ_HOUR_MS;
        int64_t local = t + off, ms;
        int wd = kj_tz_local(tz, t, &ms);
        ck_assert_int_eq(ms, local % KJ_DAY_MS);
        ck_assert_int_eq(wd, (int)((kj_floor_div(local, KJ_DAY_MS) + 4) % 7));
        if (!kj_office_open(wd, ms)) continue;
        if (t < monday_utc_midnight || t >= monday_utc_midnight + 7 * KJ_DAY_MS) continue;
        open_min[wd]++;
        if (first[wd] < 0) first[wd] = ms;
        last[wd] = ms;
        opened[wd] = 1;
        at_lunch |= wd != 5 && ms >= 12 * KJ_HOUR_MS && ms < 13 * KJ_HOUR_MS;
        at_prayer |= wd == 5 && ms >= 11 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS && ms < 13 * KJ_HOUR_MS;
    }
    ck_assert_msg(!opened[0] && !opened[6], "%s: open at the weekend", zone);
    for (int wd = 1; wd <= 5; wd++) {
        ck_assert_msg(first[wd] == 8 * KJ_HOUR_MS, "%s weekday %d opens at %lld min", zone, wd,
                      (long long)first[wd] / KJ_MINUTE_MS);
        int64_t close = wd == 5 ? 16 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS : 16 * KJ_HOUR_MS;
        ck_assert_int_eq(last[wd], close - KJ_MINUTE_MS);
        /* 8 h less the lunch hour; Friday 8.5 h less 11:30-13:00 */
        ck_assert_int_eq(open_min[wd], 7 * 60);
    }
    ck_assert(!at_lunch && !at_prayer);
    kj_tz_free(tz);
}

START_TEST(test_hours_in_the_zone)
{
    /* Monday 2026-03-09 00:00 local */
    int64_t monday = kj_tz_days_from_civil(2026, 3, 9) * KJ_DAY_MS;
    week_in_zone("Asia/Jayapura", monday - 9 * KJ_HOUR_MS, 9, 9, 0);
    /* DST in America/New_York: 2026-03-08 02:00 EST = 07:00 UTC */
    int64_t dst = kj_tz_days_from_civil(2026, 3, 8) * KJ_DAY_MS + 7 * KJ_HOUR_MS;
    week_in_zone("America/New_York", monday + 4 * KJ_HOUR_MS, -5, -4, dst);
    /* the office's 08:00 in Jayapura is 23:00 UTC the evening before */
    kj_tz *tz;
    ck_assert_int_eq(kj_tz_load("Asia/Jayapura", &tz), KJ_OK);
    int64_t ms;
    int64_t sunday_23z = monday - KJ_HOUR_MS;
    ck_assert_int_eq(kj_tz_local(tz, sunday_23z, &ms), 1);
    ck_assert(kj_office_open(1, ms));
    ck_assert_int_eq(kj_tz_local(tz, sunday_23z - KJ_MINUTE_MS, &ms), 1); /* 07:59 */
    ck_assert(!kj_office_open(1, ms));
    ck_assert_int_eq(kj_tz_local(tz, sunday_23z - 10 * KJ_HOUR_MS, &ms), 0); /* Sun 22:00 */
    ck_assert(!kj_office_open(0, ms));
    kj_tz_free(tz);
}
END_TEST

START_TEST(test_a_day)
{
    for (int wd = 1; wd <= 5; wd++) {
        for (uint64_t seed = 1; seed <= 20; seed++) {
            kj_office_day d;
            kj_office_simulate_day(wd, 4, seed * 2654435761u, &d);
            ck_assert_uint_gt(d.arrivals, 120);
            ck_assert_uint_eq(d.outside_hours, 0);
            ck_assert_int_ge(d.first_arrival, 8 * KJ_HOUR_MS);
            ck_assert_int_lt(d.last_arrival,
                             (wd == 5 ? 16 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS : 16 * KJ_HOUR_MS));
            ck_assert_msg(d.wait_p90_ms >= 5 * KJ_MINUTE_MS && d.wait_p90_ms <= 30 * KJ_MINUTE_MS,
                          "weekday %d seed %llu: wait p90 %lld s", wd, (unsigned long long)seed,
                          (long long)d.wait_p90_ms / 1000);
            /* the morning rush shows, and the queue drains after it */
            ck_assert_msg(d.peak_hour >= 8 && d.peak_hour <= 11, "peak at %d", d.peak_hour);
            ck_assert_int_gt(d.peak_hour_p90_ms, d.wait_p90_ms);
            ck_assert_msg(d.ikm >= 76.61 && d.ikm < 88.31, "weekday %d seed %llu: IKM %.2f", wd,
                          (unsigned long long)seed, d.ikm);
        }
    }
}
END_TEST

/* ---- the demo's day through the daemon's engine ---- */

typedef struct day_alerts {
    int all, judged; /* judged: between ok, warn and bad (no "none") */
    char lines[64][256];
} day_alerts;

static void count_alert(void *ctx, const kj_alert *a)
{
    day_alerts *d = ctx;
    if (a->change != KJ_ALERT_NEW) return; /* an escalation or an ack of one */
    bool judged = a->from != KJ_STATUS_NONE && a->to != KJ_STATUS_NONE;
    if (judged && d->judged < 64)
        snprintf(d->lines[d->judged], sizeof d->lines[0], "%s %s %s: %s -> %s", a->unit, a->scope,
                 a->indicator, kj_status_name(a->from), kj_status_name(a->to));
    d->all++;
    d->judged += judged;
}

/* Ids are unique within a unit (SPEC §3). */
static int by_id(const void *a, const void *b)
{
    const kj_event *x = a, *y = b;
    int c = strcmp(x->unit, y->unit);
    return c ? c : strcmp(x->id, y->id);
}

static int by_ts(const void *a, const void *b)
{
    const kj_event *x = a, *y = b;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

/* The demo's units, members and counters (as kj_sim_units_from_config). */
static void demo_units(sim *s, const kj_config *cfg)
{
    s->n_units = cfg->n_units;
    s->units = calloc(cfg->n_units, sizeof *s->units);
    for (size_t i = 0; i < cfg->n_units; i++) {
        const kj_unit_conf *uc = &cfg->units[i];
        sim_unit *u = &s->units[i];
        snprintf(u->id, sizeof u->id, "%s", uc->id);
        u->members = calloc(uc->n_members, sizeof *u->members);
        u->n_members = uc->n_members;
        for (size_t k = 0; k < uc->n_members; k++)
            snprintf(u->members[k], KJ_ID_MAX + 1, "%s", uc->members[k].id);
        u->desks = calloc(uc->n_counters, sizeof *u->desks);
        u->n_desks = uc->n_counters;
        for (size_t k = 0; k < uc->n_counters; k++) {
            snprintf(u->desks[k].id, sizeof u->desks[k].id, "%s", uc->counters[k].id);
            snprintf(u->desks[k].service, sizeof u->desks[k].service, "ktp-el");
            u->desks[k].staff = (int)(k % uc->n_members);
        }
    }
}

static const msgpack_object *key(const msgpack_object *map, const char *k)
{
    for (uint32_t i = 0; map && map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++) {
        const msgpack_object *o = &map->via.map.ptr[i].key;
        if (o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(k) &&
            !memcmp(o->via.str.ptr, k, o->via.str.size))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static bool str_eq(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           !memcmp(o->via.str.ptr, s, o->via.str.size);
}

static double as_double(const msgpack_object *o)
{
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (double)o->via.u64;
    if (o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32))
        return o->via.f64;
    return -1;
}

static void unpack_snapshot(kj_metrics *m, const char *unit, msgpack_sbuffer *sb,
                            msgpack_unpacked *up)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    ck_assert_int_eq(kj_metrics_pack_snapshot(m, unit, 1, NULL, &pk), KJ_OK);
    msgpack_unpacked_init(up);
    size_t off = 0;
    ck_assert_int_eq(msgpack_unpack_next(up, sb->data, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
}

/* The index (0 for U1) of the unit's weakest IKM element over 30 days, as the
 * unit page marks it. */
static int weakest_element(kj_metrics *m, const char *unit)
{
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    unpack_snapshot(m, unit, &sb, &up);
    const msgpack_object *el =
        key(key(key(key(&up.data, "unit_metrics"), "30d"), "ratings"), "ikm_elements");
    int weakest = -1;
    for (uint32_t i = 0; el && el->type == MSGPACK_OBJECT_ARRAY && i < el->via.array.size; i++)
        if (weakest < 0 ||
            as_double(&el->via.array.ptr[i]) < as_double(&el->via.array.ptr[weakest]))
            weakest = (int)i;
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return weakest;
}

/* The value of indicator id in the unit's own scope, as the dashboard shows it. */
static double unit_indicator(kj_metrics *m, const char *unit, const char *id)
{
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    unpack_snapshot(m, unit, &sb, &up);
    const msgpack_object *inds = key(&up.data, "indicators");
    char scope[80];
    snprintf(scope, sizeof scope, "unit:%s", unit);
    double v = -1;
    for (uint32_t i = 0; inds && i < inds->via.array.size; i++) {
        const msgpack_object *e = &inds->via.array.ptr[i];
        if (str_eq(key(e, "id"), id) && str_eq(key(e, "scope"), scope))
            v = as_double(key(e, "value"));
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return v;
}

/* The demo's days first..last (local day numbers) through one engine: each
 * day's events in time order, applied a minute at a time with the engine's
 * clock at the minute's end, from 07:00 of the first day (the engine starts
 * before the office opens) to the end of the last. Per day: its alerts, and
 * each unit's wait p90 and IKM at 17:00, after closing. */
#define WEEK 6
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p90 (nearest rank) of the waits of the services whose citizens came in
 * local hour h (-1: any hour). */
static double arrivals_p90_min(const sim *s, const kj_tz *tz, int h)
{
    int64_t *w = malloc((s->n_evs + 1) * sizeof *w);
    size_t n = 0;
    for (size_t i = 0; i < s->n_evs; i++) {
        const kj_event *e = &s->evs[i];
        int64_t ms;
        if (e->type != KJ_EV_SERVICE) continue;
        kj_tz_local(tz, e->ts - e->service_ms - e->wait_ms, &ms);
        if (h < 0 || ms / KJ_HOUR_MS == h) w[n++] = e->wait_ms;
    }
    qsort(w, n, sizeof *w, cmp_i64);
    double v = n ? (double)w[(size_t)ceil(0.9 * (double)n) - 1] / KJ_MINUTE_MS : 0;
    free(w);
    return v;
}

static void demo_days(const kj_config *cfg, const kj_tz *tz, int32_t first, day_alerts *out,
                      double (*wait_p90_min)[3], double (*ikm)[3], int *peak_hour)
{
    sim s = {.rng = 1};
    demo_units(&s, cfg);
    for (int k = 0; k < WEEK; k++) {
        kj_sim_day d = {.start = kj_tz_day_start(tz, first + k)};
        int64_t ms;
        d.weekday = kj_tz_local(tz, d.start + 12 * KJ_HOUR_MS, &ms);
        int y, mo, dd;
        kj_tz_civil_from_days(first + k, &y, &mo, &dd);
        snprintf(d.name, sizeof d.name, "%04d%02d%02d", y % 10000, mo, dd);
        for (size_t i = 0; i < s.n_units; i++)
            kj_sim_replay_day(&s, &s.units[i], &d, d.start, d.start + KJ_DAY_MS - 1, false);
    }
    qsort(s.evs, s.n_evs, sizeof *s.evs, by_ts);
    /* the week's waits by the hour the citizens came: the morning rush shows */
    double peak = 0, all = arrivals_p90_min(&s, tz, -1);
    for (int h = 8; h < 17; h++) {
        double v = arrivals_p90_min(&s, tz, h);
        fprintf(stderr, "demo week: wait p90 of those who came at %02d: %.1f min\n", h, v);
        if (v > peak) peak = v, *peak_hour = h;
    }
    ck_assert_double_gt(peak, all);
    int64_t begin = kj_tz_day_start(tz, first) + 7 * KJ_HOUR_MS;
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, begin, &m), KJ_OK);
    memset(out, 0, WEEK * sizeof *out);
    size_t next = 0;
    for (int64_t t = begin; t < kj_tz_day_start(tz, first + WEEK); t += KJ_MINUTE_MS) {
        int k = kj_tz_day(tz, t) - first;
        ck_assert_int_eq(kj_metrics_tick(m, t + KJ_MINUTE_MS - 1), KJ_OK);
        kj_metrics_begin(m);
        for (; next < s.n_evs && s.evs[next].ts < t + KJ_MINUTE_MS; next++)
            ck_assert_int_eq(kj_metrics_apply(m, &s.evs[next]), KJ_OK);
        kj_metrics_sink sink = {0};
        ck_assert_int_eq(kj_metrics_each_dirty(m, &sink), KJ_OK);
        kj_metrics_commit(m);
        kj_metrics_take_alerts(m, count_alert, &out[k]);
        if (t != kj_tz_day_start(tz, first + k) + 17 * KJ_HOUR_MS) continue;
        for (size_t i = 0; i < s.n_units; i++) { /* the day's figures, after closing */
            wait_p90_min[k][i] = unit_indicator(m, s.units[i].id, "wait-p90") / KJ_MINUTE_MS;
            ikm[k][i] = unit_indicator(m, s.units[i].id, "ikm");
        }
    }
    ck_assert_uint_eq(next, s.n_evs);
    for (size_t i = 0; i < s.n_units; i++) /* the week's weak element: U8, complaints */
        ck_assert_int_eq(weakest_element(m, s.units[i].id), KJ_OFFICE_WEAK_ELEMENT);
    kj_metrics_free(m);
    for (size_t i = 0; i < s.n_units; i++) {
        free(s.units[i].members);
        free(s.units[i].desks);
    }
    free(s.units);
    free(s.evs);
}

START_TEST(test_demo_day_through_the_engine)
{
    kj_config *cfg;
    char err[1024];
    ck_assert_msg(kj_config_load("examples/demo.yaml", &cfg, err, sizeof err) == KJ_OK, "%s", err);
    kj_tz *tz;
    ck_assert_int_eq(kj_tz_load(cfg->timezone, &tz), KJ_OK);
    ck_assert_uint_eq(cfg->n_units, 3);
    /* Monday 2026-03-09 .. Friday 2026-03-13, and the Saturday: closed */
    static day_alerts a[WEEK];
    double p90[WEEK][3], ikm[WEEK][3];
    int32_t monday = kj_tz_days_from_civil(2026, 3, 9);
    int peak_hour = -1;
    demo_days(cfg, tz, monday, a, p90, ikm, &peak_hour);
    ck_assert_msg(peak_hour >= 8 && peak_hour <= 10, "the longest waits at %d", peak_hour);
    int judged = 0;
    for (int k = 0; k < WEEK; k++) {
        fprintf(stderr,
                "demo day %d: %d alerts, %d between judged statuses; wait p90 %.1f %.1f "
                "%.1f min; IKM %.2f %.2f %.2f\n",
                k + 1, a[k].all, a[k].judged, p90[k][0], p90[k][1], p90[k][2], ikm[k][0], ikm[k][1],
                ikm[k][2]);
        for (int i = 0; i < a[k].judged && i < 64; i++)
            fprintf(stderr, "    %s\n", a[k].lines[i]);
    }
    int calm_days = 0;
    for (int i = 0; i < 3; i++) {
        double week[5];
        for (int k = 0; k < 5; k++) {
            week[k] = p90[k][i];
            /* a bad day is a long morning queue, not a queue that never drains */
            ck_assert_msg(week[k] >= 3 && week[k] <= 40, "day %d unit %d: wait p90 %.1f min", k + 1,
                          i, week[k]);
            ck_assert_msg(ikm[k][i] >= 76.61 && ikm[k][i] < 88.31, "day %d unit %d: IKM %.2f (B)",
                          k + 1, i, ikm[k][i]);
        }
        qsort(week, 5, sizeof week[0], cmp_double);
        ck_assert_msg(week[2] >= 5 && week[2] <= 30, "unit %d: the week's median wait p90 %.1f", i,
                      week[2]);
    }
    for (int k = 0; k < 5; k++) {
        /* a handful of real changes a day over the three units: a morning
         * queue walks ok -> warn -> bad -> warn -> ok, no more */
        ck_assert_msg(a[k].judged <= 20, "day %d: %d judged alerts", k + 1, a[k].judged);
        /* with the office's data arriving and the day's windows emptying at
         * midnight (none -> ..., ... -> none), still not hundreds */
        ck_assert_msg(a[k].all <= 60, "day %d: %d alerts", k + 1, a[k].all);
        calm_days += a[k].judged == 0;
        judged += a[k].judged;
    }
    ck_assert_msg(judged >= 10 && judged <= 80, "%d judged alerts in a week", judged);
    ck_assert_int_le(calm_days, 2);
    /* Saturday: the office is closed, nothing is judged anew */
    ck_assert_int_eq(a[5].judged, 0);
    kj_tz_free(tz);
    kj_config_free(cfg);
}
END_TEST

/* The live office (kinerja simulate without --always-open) replays the day
 * in short spans as time passes: the spans together give the events of the
 * day replayed at once, the same ids and times, none twice. */
START_TEST(test_replay_in_spans)
{
    kj_config *cfg;
    char err[1024];
    ck_assert_msg(kj_config_load("examples/demo.yaml", &cfg, err, sizeof err) == KJ_OK, "%s", err);
    sim whole = {.rng = 5}, spans = {.rng = 9};
    demo_units(&whole, cfg);
    demo_units(&spans, cfg);
    kj_sim_day d = {.start = kj_tz_days_from_civil(2026, 3, 10) * KJ_DAY_MS - 7 * KJ_HOUR_MS,
                    .weekday = 2,
                    .name = "20260310"};
    for (size_t i = 0; i < whole.n_units; i++)
        kj_sim_replay_day(&whole, &whole.units[i], &d, d.start, d.start + KJ_DAY_MS - 1, false);
    int64_t from = d.start;
    for (int64_t now = d.start + 777; from < d.start + KJ_DAY_MS; now += 61 * 1000 + 777) {
        if (now > d.start + KJ_DAY_MS - 1) now = d.start + KJ_DAY_MS - 1;
        for (size_t i = 0; i < spans.n_units; i++)
            kj_sim_replay_day(&spans, &spans.units[i], &d, from, now, false);
        from = now + 1;
    }
    ck_assert_uint_gt(whole.n_evs, 1000);
    qsort(whole.evs, whole.n_evs, sizeof *whole.evs, by_id);
    qsort(spans.evs, spans.n_evs, sizeof *spans.evs, by_id);
    ck_assert_uint_eq(spans.n_evs, whole.n_evs);
    for (size_t i = 0; i < whole.n_evs; i++) {
        ck_assert_str_eq(spans.evs[i].unit, whole.evs[i].unit);
        ck_assert_str_eq(spans.evs[i].id, whole.evs[i].id);
        ck_assert_int_eq(spans.evs[i].ts, whole.evs[i].ts);
        ck_assert_int_eq(spans.evs[i].type, whole.evs[i].type);
        ck_assert_int_eq(spans.evs[i].wait_ms, whole.evs[i].wait_ms);
        if (i) ck_assert_int_ne(by_id(&whole.evs[i], &whole.evs[i - 1]), 0);
    }
    for (sim *s = &whole; s; s = s == &whole ? &spans : NULL) {
        for (size_t i = 0; i < s->n_units; i++) {
            free(s->units[i].members);
            free(s->units[i].desks);
        }
        free(s->units);
        free(s->evs);
    }
    kj_config_free(cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("office");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hours);
    tcase_add_test(tc, test_hours_in_the_zone);
    tcase_add_test(tc, test_a_day);
    tcase_add_test(tc, test_demo_day_through_the_engine);
    tcase_add_test(tc, test_replay_in_spans);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
