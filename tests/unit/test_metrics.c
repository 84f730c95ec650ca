/* Unit tests of the metrics engine (daemon/metrics/: metrics*.c, model.c,
 * values.c, window.c, agg.c; tzclock.c): every field of SPEC §4 against an independent computation,
 * window edges, time, IKM, presence, rollback and persistence. */
#include <check.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "metrics/presence.h" /* KJ_SERVING_KEEP: a test at the bound */
#include "tzclock.h"

#define JKT_OFF (7 * KJ_HOUR_MS) /* Asia/Jakarta: UTC+7, no DST since 1964 */

/* 2026-03-10 10:30:20.500 in Jakarta (03:30:20.500 UTC). */
static const int64_t T0 = 1773113420500LL;

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static int64_t rnd_in(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* ---- configuration built by hand ---- */

static char *dup(const char *s)
{
    return strdup(s);
}

static void add_unit(kj_config *c, const char *id, int64_t sla, const char **members,
                     const char **counters)
{
    c->units = realloc(c->units, (c->n_units + 1) * sizeof *c->units);
    kj_unit_conf *u = &c->units[c->n_units++];
    memset(u, 0, sizeof *u);
    u->id = dup(id);
    u->name = dup(id);
    u->sla_wait_ms = sla;
    for (; members && *members; members++) {
        u->members = realloc(u->members, (u->n_members + 1) * sizeof *u->members);
        u->members[u->n_members++] = (kj_named){dup(*members), dup(*members)};
    }
    for (; counters && *counters; counters++) {
        u->counters = realloc(u->counters, (u->n_counters + 1) * sizeof *u->counters);
        u->counters[u->n_counters++] = (kj_named){dup(*counters), dup(*counters)};
    }
}

static kj_config *base_config(void)
{
    kj_config *c;
    ck_assert_int_eq(kj_config_defaults(&c), KJ_OK);
    static const char *m1[] = {"e1", "e2", "e3", NULL}, *c1[] = {"c1", "c2", NULL};
    static const char *m2[] = {"e3", "e4", NULL}, *c2[] = {"c1", NULL};
    add_unit(c, "u1", 600000, m1, c1);
    add_unit(c, "u2", 900000, m2, c2);
    return c;
}

static void add_indicator(kj_config *c, const char *id, const char *metric, kj_window w,
                          double target, kj_better better)
{
    c->indicators = realloc(c->indicators, (c->n_indicators + 1) * sizeof *c->indicators);
    kj_indicator_conf *ic = &c->indicators[c->n_indicators++];
    memset(ic, 0, sizeof *ic);
    ic->id = dup(id);
    ic->name = dup(id);
    ic->metric = dup(metric);
    ic->window = w;
    ic->target = target;
    ic->better = better;
    ic->warn_margin = 0.10;
    ic->for_unit = ic->for_employee = true;
    ic->all_units = true;
}

/* ---- events ---- */

static int ev_seq;

static kj_event base_event(kj_event_type type, int64_t ts, const char *unit, const char *emp,
                           const char *ctr)
{
    kj_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.ts = ts;
    snprintf(ev.id, sizeof ev.id, "ev-%d", ev_seq++);
    snprintf(ev.unit, sizeof ev.unit, "%s", unit);
    snprintf(ev.employee, sizeof ev.employee, "%s", emp ? emp : "");
    snprintf(ev.counter, sizeof ev.counter, "%s", ctr ? ctr : "");
    return ev;
}

static kj_event service_ev(int64_t ts, const char *unit, const char *emp, const char *ctr,
                           int64_t wait, int64_t service, kj_outcome outcome)
{
    kj_event ev = base_event(KJ_EV_SERVICE, ts, unit, emp, ctr);
    ev.wait_ms = wait;
    ev.service_ms = service;
    ev.outcome = outcome;
    return ev;
}

static kj_event rating_ev(int64_t ts, const char *unit, int score, const uint8_t *elements,
                          kj_source source)
{
    kj_event ev = base_event(KJ_EV_RATING, ts, unit, NULL, NULL);
    ev.score = score;
    ev.source = source;
    if (elements) {
        ev.has_elements = true;
        memcpy(ev.elements, elements, KJ_ELEMENTS);
    }
    return ev;
}

static kj_event presence_ev(int64_t ts, const char *unit, const char *emp, kj_presence_state st,
                            const char *ctr)
{
    kj_event ev = base_event(KJ_EV_PRESENCE, ts, unit, emp, ctr);
    ev.state = st;
    return ev;
}

static void apply1(kj_metrics *m, const kj_event *ev)
{
    kj_metrics_begin(m);
    ck_assert_int_eq(kj_metrics_apply(m, ev), KJ_OK);
    kj_metrics_commit(m);
}

/* ---- reading packed objects ---- */

typedef struct packed {
    msgpack_sbuffer sb;
    msgpack_unpacked up;
} packed;

static void packed_free(packed *p)
{
    msgpack_unpacked_destroy(&p->up);
    msgpack_sbuffer_destroy(&p->sb);
}

static void unpack(packed *p)
{
    msgpack_unpacked_init(&p->up);
    size_t off = 0;
    ck_assert_int_eq(msgpack_unpack_next(&p->up, p->sb.data, p->sb.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    ck_assert_uint_eq(off, p->sb.size);
}

static void pack_scope(kj_metrics *m, kj_scope_kind kind, const char *unit, const char *id,
                       packed *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
    kj_scope_ref ref = {kind, unit, id};
    ck_assert_int_eq(kj_metrics_pack_scope(m, &ref, &pk), KJ_OK);
    unpack(p);
}

static void pack_snapshot(kj_metrics *m, const char *unit, const char *only, packed *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
    ck_assert_int_eq(kj_metrics_pack_snapshot(m, unit, 7, only, &pk), KJ_OK);
    unpack(p);
}

/* The object at a dot-separated path of map keys, or NULL when absent. */
static const msgpack_object *at(const msgpack_object *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        if (!o || o->type != MSGPACK_OBJECT_MAP) return NULL;
        const msgpack_object *next = NULL;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *key = &o->via.map.ptr[i].key;
            if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen(k) &&
                !memcmp(key->via.str.ptr, k, strlen(k)))
                next = &o->via.map.ptr[i].val;
        }
        o = next;
    }
    return o;
}

static bool is_nil(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_NIL;
}

static double num(const msgpack_object *o, const char *what)
{
    ck_assert_msg(o != NULL, "%s: missing", what);
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)o->via.i64;
    case MSGPACK_OBJECT_FLOAT64:
    case MSGPACK_OBJECT_FLOAT32: return o->via.f64;
    default: ck_abort_msg("%s: not a number (type %d)", what, o->type);
    }
    return 0;
}

static bool str_is(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           !memcmp(o->via.str.ptr, s, strlen(s));
}

/* ---- the independent computation ---- */

typedef struct expect_durations {
    int64_t *v;
    size_t n;
} expect_durations;

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void dur_push(expect_durations *d, int64_t v)
{
    d->v = realloc(d->v, (d->n + 1) * sizeof *d->v);
    d->v[d->n++] = v;
}

static void check_durations(const msgpack_object *o, expect_durations *d, const char *what)
{
    if (!d->n) {
        ck_assert_msg(is_nil(o), "%s: want nil", what);
        return;
    }
    qsort(d->v, d->n, sizeof *d->v, cmp64);
    double sum = 0;
    for (size_t i = 0; i < d->n; i++)
        sum += (double)d->v[i];
    ck_assert_msg(fabs(num(at(o, "avg"), what) - sum / (double)d->n) < 1e-6, "%s avg", what);
    ck_assert_msg(num(at(o, "max"), what) == (double)d->v[d->n - 1], "%s max %f want %lld", what,
                  num(at(o, "max"), what), (long long)d->v[d->n - 1]);
    static const unsigned pcts[] = {50, 90};
    for (int k = 0; k < 2; k++) {
        size_t rank = (pcts[k] * d->n + 99) / 100;
        double want = (double)d->v[rank - 1];
        char key[8];
        snprintf(key, sizeof key, "p%u", pcts[k]);
        double got = num(at(o, key), what);
        ck_assert_msg(fabs(got - want) <= fmax(1.0, want * 0.01), "%s %s got %f want %f", what, key,
                      got, want);
    }
    free(d->v);
    d->v = NULL;
    d->n = 0;
}

typedef struct applied {
    kj_event ev;
    int64_t sla;
} applied;

static bool in_window(const char *w, int64_t ts, int64_t now)
{
    int64_t m = ts / KJ_MINUTE_MS, nm = now / KJ_MINUTE_MS, h = ts / KJ_HOUR_MS,
            nh = now / KJ_HOUR_MS;
    if (!strcmp(w, "15m")) return m <= nm && m > nm - 15;
    if (!strcmp(w, "1h")) return m <= nm && m > nm - 60;
    if (!strcmp(w, "7d")) return h <= nh && h > nh - 168;
    if (!strcmp(w, "30d")) return h <= nh && h > nh - 720;
    return (ts + JKT_OFF) / KJ_DAY_MS == (now + JKT_OFF) / KJ_DAY_MS;
}

static double window_hours(const char *w, int64_t now)
{
    if (!strcmp(w, "15m")) return 0.25;
    if (!strcmp(w, "1h")) return 1;
    if (!strcmp(w, "7d")) return 168;
    if (!strcmp(w, "30d")) return 720;
    int64_t midnight = (now + JKT_OFF) / KJ_DAY_MS * KJ_DAY_MS - JKT_OFF;
    return (double)((now / KJ_MINUTE_MS + 1) * KJ_MINUTE_MS - midnight) / (double)KJ_HOUR_MS;
}

static void close_to(double got, double want, const char *what)
{
    ck_assert_msg(fabs(got - want) <= 1e-9 * fmax(1, fabs(want)), "%s: got %.12f want %.12f", what,
                  got, want);
}

static void check_tasks(const msgpack_object *w, applied **evs, size_t n, const char *what)
{
    size_t count = 0, due = 0, on_time = 0, qn = 0;
    double qsum = 0;
    expect_durations d = {0};
    for (size_t i = 0; i < n; i++) {
        const kj_event *e = &evs[i]->ev;
        if (e->type != KJ_EV_TASK) continue;
        count++;
        if (e->has_due) due++, on_time += e->ts <= e->due_ts;
        if (e->has_quality) qn++, qsum += e->quality;
        if (e->has_duration) dur_push(&d, e->duration_ms);
    }
    const msgpack_object *t = at(w, "tasks");
    if (!count) {
        ck_assert_msg(is_nil(t), "%s tasks: want nil", what);
        return;
    }
    ck_assert_msg(num(at(t, "count"), what) == (double)count, "%s tasks.count", what);
    if (due)
        close_to(num(at(t, "on_time_pct"), what), 100.0 * (double)on_time / (double)due, what);
    else
        ck_assert(is_nil(at(t, "on_time_pct")));
    if (qn)
        close_to(num(at(t, "quality_avg"), what), qsum / (double)qn, what);
    else
        ck_assert(is_nil(at(t, "quality_avg")));
    check_durations(at(t, "duration_ms"), &d, what);
}

static void check_services(const msgpack_object *w, applied **evs, size_t n, double hours,
                           const char *what)
{
    size_t count = 0, no_show = 0, sla_ok = 0;
    expect_durations wait = {0}, service = {0};
    for (size_t i = 0; i < n; i++) {
        const kj_event *e = &evs[i]->ev;
        if (e->type != KJ_EV_SERVICE) continue;
        if (e->outcome == KJ_OUTCOME_NO_SHOW) {
            no_show++;
            continue;
        }
        count++;
        sla_ok += e->wait_ms <= evs[i]->sla;
        dur_push(&wait, e->wait_ms);
        dur_push(&service, e->service_ms);
    }
    const msgpack_object *s = at(w, "services");
    if (!count && !no_show) {
        ck_assert_msg(is_nil(s), "%s services: want nil", what);
        return;
    }
    ck_assert_msg(num(at(s, "count"), what) == (double)count, "%s services.count %f want %zu", what,
                  num(at(s, "count"), what), count);
    ck_assert_msg(num(at(s, "no_show"), what) == (double)no_show, "%s no_show", what);
    if (count)
        close_to(num(at(s, "sla_pct"), what), 100.0 * (double)sla_ok / (double)count, what);
    else
        ck_assert(is_nil(at(s, "sla_pct")));
    close_to(num(at(s, "per_hour"), what), (double)count / hours, what);
    check_durations(at(s, "wait_ms"), &wait, what);
    check_durations(at(s, "service_ms"), &service, what);
}

static int64_t centi_round(double x)
{
    return (int64_t)floor(x * 100.0 + 0.5 + 1e-9);
}

static void check_ratings(const msgpack_object *w, applied **evs, size_t n, const char *what)
{
    size_t any = 0, cn = 0, pn = 0, sn = 0, en = 0;
    double csum = 0, psum = 0, ssum = 0, nrr_sum[KJ_ELEMENTS] = {0}, esum[KJ_ELEMENTS] = {0};
    for (size_t i = 0; i < n; i++) {
        const kj_event *e = &evs[i]->ev;
        if (e->type != KJ_EV_RATING) continue;
        any++;
        if (e->source == KJ_SOURCE_PEER) {
            pn++, psum += e->score;
            continue;
        }
        if (e->source == KJ_SOURCE_SUPERVISOR) {
            sn++, ssum += e->score;
            continue;
        }
        cn++, csum += e->score;
        for (int k = 0; k < KJ_ELEMENTS; k++)
            nrr_sum[k] += e->has_elements ? e->elements[k] : e->score;
        if (e->has_elements) {
            en++;
            for (int k = 0; k < KJ_ELEMENTS; k++)
                esum[k] += e->elements[k];
        }
    }
    const msgpack_object *r = at(w, "ratings");
    if (!any) {
        ck_assert_msg(is_nil(r), "%s ratings: want nil", what);
        return;
    }
    ck_assert_msg(num(at(r, "count"), what) == (double)cn, "%s ratings.count", what);
    if (cn) {
        close_to(num(at(r, "avg"), what), csum / (double)cn, what);
        double mean_nrr = 0;
        for (int k = 0; k < KJ_ELEMENTS; k++)
            mean_nrr += nrr_sum[k] / (double)cn / 9.0;
        int64_t c = centi_round(25.0 * mean_nrr);
        close_to(num(at(r, "ikm"), what), (double)c / 100.0, what);
        const char *g = c >= 8831 ? "A" : c >= 7661 ? "B" : c >= 6500 ? "C" : "D";
        ck_assert_msg(str_is(at(r, "ikm_grade"), g), "%s grade", what);
    } else {
        ck_assert(is_nil(at(r, "avg")) && is_nil(at(r, "ikm")) && is_nil(at(r, "ikm_grade")));
    }
    const msgpack_object *el = at(r, "ikm_elements");
    if (en) {
        ck_assert_int_eq(el->type, MSGPACK_OBJECT_ARRAY);
        ck_assert_uint_eq(el->via.array.size, KJ_ELEMENTS);
        for (int k = 0; k < KJ_ELEMENTS; k++)
            close_to(num(&el->via.array.ptr[k], what),
                     (double)centi_round(25.0 * esum[k] / (double)en) / 100.0, what);
    } else {
        ck_assert(is_nil(el));
    }
    if (pn)
        close_to(num(at(r, "peer_avg"), what), psum / (double)pn, what);
    else
        ck_assert(is_nil(at(r, "peer_avg")));
    if (sn)
        close_to(num(at(r, "supervisor_avg"), what), ssum / (double)sn, what);
    else
        ck_assert(is_nil(at(r, "supervisor_avg")));
}

static const char *const windows[] = {"15m", "1h", "today", "7d", "30d"};

/* Compare one scope, every window and field, against the events it holds. */
static void check_scope(kj_metrics *m, applied *all, size_t n, kj_scope_kind kind, const char *unit,
                        const char *id, int64_t now)
{
    packed p;
    pack_scope(m, kind, unit, id, &p);
    applied **in = malloc((n + 1) * sizeof *in);
    for (int w = 0; w < 5; w++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const kj_event *e = &all[i].ev;
            bool mine = kind == KJ_SCOPE_UNIT ? !strcmp(e->unit, id)
                        : kind == KJ_SCOPE_EMPLOYEE
                            ? !strcmp(e->employee, id)
                            : !strcmp(e->unit, unit) && !strcmp(e->counter, id);
            if (mine && in_window(windows[w], e->ts, now)) in[k++] = &all[i];
        }
        char what[100];
        snprintf(what, sizeof what, "%c:%s %s", kind, id, windows[w]);
        const msgpack_object *win = at(&p.up.data, windows[w]);
        ck_assert_msg(win && win->type == MSGPACK_OBJECT_MAP, "%s: no window", what);
        check_tasks(win, in, k, what);
        check_services(win, in, k, window_hours(windows[w], now), what);
        check_ratings(win, in, k, what);
    }
    free(in);
    packed_free(&p);
}

static void check_all(kj_metrics *m, applied *all, size_t n, int64_t now)
{
    static const char *units[] = {"u1", "u2"}, *emps[] = {"e1", "e2", "e3", "e4", "e5"};
    for (int i = 0; i < 2; i++)
        check_scope(m, all, n, KJ_SCOPE_UNIT, units[i], units[i], now);
    for (int i = 0; i < 5; i++)
        check_scope(m, all, n, KJ_SCOPE_EMPLOYEE, NULL, emps[i], now);
    check_scope(m, all, n, KJ_SCOPE_COUNTER, "u1", "c1", now);
    check_scope(m, all, n, KJ_SCOPE_COUNTER, "u1", "c2", now);
    check_scope(m, all, n, KJ_SCOPE_COUNTER, "u2", "c1", now);
}

static int64_t random_duration(void)
{
    switch (rnd() % 8) {
    case 0: return 0;
    case 1: return KJ_DAY_MS + rnd_in(0, 1000);
    case 2: return rnd_in(0, 120);
    default: return (int64_t)exp((double)(rnd() % 1000) / 1000.0 * log(3.0 * KJ_HOUR_MS));
    }
}

static kj_event random_event(int64_t now)
{
    static const char *units[] = {"u1", "u2"}, *emps[] = {"e1", "e2", "e3", "e4", "e5"};
    static const char *ctrs[] = {"c1", "c2"};
    int64_t age;
    switch (rnd() % 6) {
    case 0: age = rnd_in(0, 20 * KJ_MINUTE_MS); break;
    case 1: age = rnd_in(0, 2 * KJ_HOUR_MS); break;
    case 2: age = rnd_in(0, 2 * KJ_DAY_MS); break;
    case 3: age = -rnd_in(0, 5 * KJ_MINUTE_MS); break; /* from the future, within the skew */
    default: age = rnd_in(0, 34 * KJ_DAY_MS); break;
    }
    const char *unit = units[rnd() % 2];
    const char *ctr = !strcmp(unit, "u1") ? ctrs[rnd() % 2] : "c1";
    kj_event ev = base_event((kj_event_type)(1 + rnd() % 3), now - age, unit, emps[rnd() % 5],
                             rnd() % 4 ? ctr : NULL);
    switch (ev.type) {
    case KJ_EV_TASK:
        ev.ts = now - age;
        if ((ev.has_duration = rnd() % 4 != 0)) ev.duration_ms = random_duration();
        if ((ev.has_due = rnd() % 2)) ev.due_ts = ev.ts + rnd_in(-KJ_HOUR_MS, KJ_HOUR_MS);
        if ((ev.has_quality = rnd() % 2)) ev.quality = (int32_t)rnd_in(0, 100);
        break;
    case KJ_EV_SERVICE:
        ev.wait_ms = rnd() % 5 ? rnd_in(0, 30 * KJ_MINUTE_MS) : 600000;
        ev.service_ms = random_duration();
        ev.outcome = (kj_outcome)(rnd() % 6 == 0   ? KJ_OUTCOME_NO_SHOW
                                  : rnd() % 6 == 0 ? KJ_OUTCOME_TRANSFERRED
                                                   : KJ_OUTCOME_SERVED);
        if (!ev.counter[0]) snprintf(ev.counter, sizeof ev.counter, "%s", ctr);
        break;
    default:
        ev.score = (int32_t)rnd_in(1, 4);
        ev.source = (kj_source)(rnd() % 5 == 0 ? rnd_in(1, 2) : 0);
        if ((ev.has_elements = rnd() % 2))
            for (int k = 0; k < KJ_ELEMENTS; k++)
                ev.elements[k] = (uint8_t)rnd_in(1, 4);
        if (rnd() % 2) ev.employee[0] = '\0';
        break;
    }
    return ev;
}

static applied *apply_random(kj_metrics *m, size_t n, int64_t now)
{
    applied *all = calloc(n, sizeof *all);
    for (size_t i = 0; i < n;) {
        kj_metrics_begin(m);
        for (size_t g = 0; g < 50 && i < n; g++, i++) {
            all[i].ev = random_event(now);
            all[i].sla = !strcmp(all[i].ev.unit, "u1") ? 600000 : 900000;
            ck_assert_int_eq(kj_metrics_apply(m, &all[i].ev), KJ_OK);
        }
        kj_metrics_commit(m);
    }
    return all;
}

START_TEST(test_fields_random)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    size_t n = 4000;
    applied *all = apply_random(m, n, T0);
    check_all(m, all, n, T0);
    /* Time moves: buckets leave (maxima recomputed), future ones enter,
     * midnight passes (17:00 UTC). */
    static const int64_t later[] = {3 * KJ_MINUTE_MS, 17 * KJ_MINUTE_MS, 61 * KJ_MINUTE_MS,
                                    3 * KJ_HOUR_MS,   14 * KJ_HOUR_MS,   2 * KJ_DAY_MS,
                                    8 * KJ_DAY_MS,    31 * KJ_DAY_MS};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
        ck_assert_int_eq(kj_metrics_tick(m, T0 + later[i]), KJ_OK);
        check_all(m, all, n, T0 + later[i]);
    }
    free(all);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

START_TEST(test_fields_ticking)
{
    /* Events arrive while time moves minute by minute: the windows follow. */
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    size_t n = 0, cap = 3000;
    applied *all = calloc(cap, sizeof *all);
    int64_t now = T0;
    while (n < cap) {
        now += rnd_in(0, 3 * KJ_MINUTE_MS);
        ck_assert_int_eq(kj_metrics_tick(m, now), KJ_OK);
        kj_metrics_begin(m);
        for (int g = 0; g < 20 && n < cap; g++, n++) {
            all[n].ev = random_event(now);
            if (rnd() % 3) all[n].ev.ts = now - rnd_in(-2 * KJ_MINUTE_MS, 10 * KJ_MINUTE_MS);
            all[n].sla = !strcmp(all[n].ev.unit, "u1") ? 600000 : 900000;
            ck_assert_int_eq(kj_metrics_apply(m, &all[n].ev), KJ_OK);
        }
        kj_metrics_commit(m);
    }
    check_all(m, all, n, now);
    free(all);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

/* ---- window edges ---- */

/* services.count of a unit in a window, -1 for nil. */
static double unit_services(kj_metrics *m, const char *unit, const char *window)
{
    double v = 0;
    kj_scope_ref ref = {KJ_SCOPE_UNIT, unit, unit};
    kj_window w;
    ck_assert(kj_window_parse(window, &w));
    return kj_metrics_value(m, &ref, KJ_M_SERVICES_COUNT, w, &v) ? v : -1;
}

START_TEST(test_edge_15m)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    int64_t minute = T0 / KJ_MINUTE_MS * KJ_MINUTE_MS; /* 10:30:00 local */
    ck_assert_int_eq(kj_metrics_new(cfg, minute + 59999, &m), KJ_OK);
    kj_event ev = service_ev(minute + 59999, "u1", "e1", "c1", 1000, 2000, KJ_OUTCOME_SERVED);
    apply1(m, &ev);
    ck_assert_int_eq((int)unit_services(m, "u1", "15m"), 1);
    /* 14 minutes later, at the end of the 15th bucket: still in */
    kj_metrics_tick(m, minute + 15 * KJ_MINUTE_MS - 1);
    ck_assert_int_eq((int)unit_services(m, "u1", "15m"), 1);
    /* the next ms the bucket leaves 15m (and not 1h) */
    kj_metrics_tick(m, minute + 15 * KJ_MINUTE_MS);
    ck_assert_int_eq((int)unit_services(m, "u1", "15m"), -1);
    ck_assert_int_eq((int)unit_services(m, "u1", "1h"), 1);
    kj_metrics_tick(m, minute + 60 * KJ_MINUTE_MS - 1);
    ck_assert_int_eq((int)unit_services(m, "u1", "1h"), 1);
    kj_metrics_tick(m, minute + 60 * KJ_MINUTE_MS);
    ck_assert_int_eq((int)unit_services(m, "u1", "1h"), -1);
    ck_assert_int_eq((int)unit_services(m, "u1", "7d"), 1);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

START_TEST(test_edge_midnight_jakarta)
{
    /* Jakarta midnight of 2026-03-11 is 2026-03-10 17:00 UTC. */
    kj_config *cfg = base_config();
    kj_metrics *m;
    int64_t midnight = 1773162000000LL;
    ck_assert_int_eq(kj_metrics_new(cfg, midnight - 1, &m), KJ_OK);
    ck_assert_int_eq(kj_metrics_today_start(m), midnight - KJ_DAY_MS);
    kj_event late = service_ev(midnight - 1, "u1", "e1", "c1", 1, 1, KJ_OUTCOME_SERVED);
    kj_event next = service_ev(midnight, "u1", "e1", "c1", 1, 1, KJ_OUTCOME_SERVED);
    next.outcome = KJ_OUTCOME_TRANSFERRED;
    apply1(m, &late);
    apply1(m, &next); /* 1 ms in the future: tomorrow's, not today's */
    ck_assert_int_eq((int)unit_services(m, "u1", "today"), 1);
    ck_assert_int_eq((int)unit_services(m, "u1", "15m"), 1);
    kj_metrics_tick(m, midnight);
    ck_assert_int_eq(kj_metrics_today_start(m), midnight);
    ck_assert_int_eq((int)unit_services(m, "u1", "today"), 1); /* only the 00:00 one */
    ck_assert_int_eq((int)unit_services(m, "u1", "15m"), 2);
    /* a late event from 23:59:59.999 arriving after midnight: yesterday */
    kj_event later = service_ev(midnight - 1, "u1", "e2", "c1", 1, 1, KJ_OUTCOME_SERVED);
    apply1(m, &later);
    ck_assert_int_eq((int)unit_services(m, "u1", "today"), 1);
    ck_assert_int_eq((int)unit_services(m, "u1", "15m"), 3);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

START_TEST(test_late_and_future)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_event late = service_ev(T0 - 2 * KJ_HOUR_MS, "u1", "e1", "c1", 5, 5, KJ_OUTCOME_SERVED);
    apply1(m, &late);
    ck_assert_int_eq((int)unit_services(m, "u1", "15m"), -1);
    ck_assert_int_eq((int)unit_services(m, "u1", "1h"), -1);
    ck_assert_int_eq((int)unit_services(m, "u1", "today"), 1);
    ck_assert_int_eq((int)unit_services(m, "u1", "7d"), 1);
    ck_assert_int_eq((int)unit_services(m, "u1", "30d"), 1);

    /* 4 minutes ahead: today's already, in 15m from its minute on */
    kj_event future = service_ev(T0 + 4 * KJ_MINUTE_MS, "u1", "e1", "c1", 5, 5, KJ_OUTCOME_SERVED);
    apply1(m, &future);
    ck_assert_int_eq((int)unit_services(m, "u1", "today"), 2);
    ck_assert_int_eq((int)unit_services(m, "u1", "15m"), -1);
    kj_metrics_tick(m, T0 + 3 * KJ_MINUTE_MS);
    ck_assert_int_eq((int)unit_services(m, "u1", "15m"), -1);
    kj_metrics_tick(m, future.ts / KJ_MINUTE_MS * KJ_MINUTE_MS);
    ck_assert_int_eq((int)unit_services(m, "u1", "15m"), 1);
    ck_assert_int_eq((int)unit_services(m, "u1", "1h"), 1);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

static int changed_units;
static char changed_names[8][80];
static void count_changes(void *ctx, const kj_changes *ch)
{
    (void)ctx;
    if (changed_units < 8) snprintf(changed_names[changed_units], 80, "%s", kj_changes_unit(ch));
    changed_units++;
}

START_TEST(test_tick_without_events)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_event ev = service_ev(T0, "u2", "e4", "c1", 5, 7, KJ_OUTCOME_SERVED);
    apply1(m, &ev);
    changed_units = 0;
    kj_metrics_take_changes(m, NULL, count_changes, NULL);
    ck_assert_int_eq(changed_units, 1);
    ck_assert_str_eq(changed_names[0], "u2");
    changed_units = 0;
    kj_metrics_take_changes(m, NULL, count_changes, NULL);
    ck_assert_int_eq(changed_units, 0);
    /* within the minute: nothing moves */
    kj_metrics_tick(m, T0 + 1000);
    kj_metrics_take_changes(m, NULL, count_changes, NULL);
    ck_assert_int_eq(changed_units, 0);
    kj_metrics_tick(m, T0 + 20 * KJ_MINUTE_MS);
    ck_assert_int_eq((int)unit_services(m, "u2", "15m"), -1);
    kj_metrics_take_changes(m, NULL, count_changes, NULL);
    ck_assert_int_eq(changed_units, 1);
    kj_metrics_tick(m, T0 + 8 * KJ_DAY_MS);
    ck_assert_int_eq((int)unit_services(m, "u2", "7d"), -1);
    ck_assert_int_eq((int)unit_services(m, "u2", "30d"), 1);
    kj_metrics_tick(m, T0 + 31 * KJ_DAY_MS);
    ck_assert_int_eq((int)unit_services(m, "u2", "30d"), -1);
    /* time never moves back */
    kj_metrics_tick(m, T0);
    ck_assert_int_eq(kj_metrics_now(m), T0 + 31 * KJ_DAY_MS);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

/* ---- IKM ---- */

static void ikm_of(kj_metrics *m, const char *unit, double *ikm, char *grade)
{
    packed p;
    pack_scope(m, KJ_SCOPE_UNIT, unit, unit, &p);
    *ikm = num(at(&p.up.data, "today.ratings.ikm"), "ikm");
    const msgpack_object *g = at(&p.up.data, "today.ratings.ikm_grade");
    ck_assert(g && g->type == MSGPACK_OBJECT_STR && g->via.str.size == 1);
    *grade = g->via.str.ptr[0];
    packed_free(&p);
}

/* n citizen responses whose 9 elements add up to total. */
static void ikm_case(uint64_t total, uint64_t n, int64_t want_centi, char want_grade)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_metrics_begin(m);
    uint64_t left = total;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t rest = n - i - 1, take = left - 9 * rest; /* as much as fits, rest get >= 9 */
        if (take > 36) take = 36;
        uint8_t el[KJ_ELEMENTS];
        for (int k = 0; k < KJ_ELEMENTS; k++) {
            uint64_t v = take / 9 + ((uint64_t)k < take % 9);
            el[k] = (uint8_t)v;
        }
        left -= take;
        kj_event ev = rating_ev(T0, "u1", 3, el, KJ_SOURCE_CITIZEN);
        ck_assert_int_eq(kj_metrics_apply(m, &ev), KJ_OK);
    }
    kj_metrics_commit(m);
    ck_assert_uint_eq(left, 0);
    double ikm;
    char grade;
    ikm_of(m, "u1", &ikm, &grade);
    ck_assert_msg(fabs(ikm - (double)want_centi / 100.0) < 1e-9,
                  "T=%llu n=%llu: ikm %.4f want %.2f", (unsigned long long)total,
                  (unsigned long long)n, ikm, (double)want_centi / 100);
    ck_assert_msg(grade == want_grade, "ikm %.2f: grade %c want %c", ikm, grade, want_grade);
    kj_metrics_free(m);
    kj_config_free(cfg);
}

START_TEST(test_ikm_exact)
{
    int64_t c;
    char g;
    ikm_case(36, 1, 10000, 'A'); /* all 4s: 100.00, not the 99.00 of a 0.11 weight */
    ikm_case(35, 1, 9722, 'A');  /* 25 * 35 / 9 = 97.222 */
    ikm_case(29, 1, 8056, 'B');  /* 80.5555 rounds up */
    ikm_case(81, 8, 2813, 'D');  /* 28.125 exactly: half rounds up */
    ikm_case(279, 8, 9688, 'A'); /* 96.875 */
    ikm_case(9, 1, 2500, 'D');   /* all 1s */
    /* the grade boundaries, from the rounded value */
    struct {
        int64_t centi;
        char grade;
    } bounds[] = {{8831, 'A'}, {8830, 'B'}, {7661, 'B'}, {7660, 'C'}, {6500, 'C'}, {6499, 'D'}};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        bool found = false;
        for (uint64_t n = 1; n <= 400 && !found; n++) {
            for (uint64_t t = 9 * n; t <= 36 * n && !found; t++) {
                if (!kj_ikm(t, n, &c, &g) || c != bounds[b].centi) continue;
                ck_assert_int_eq(g, bounds[b].grade);
                ikm_case(t, n, bounds[b].centi, bounds[b].grade);
                found = true;
            }
        }
        ck_assert_msg(found, "no case for %lld", (long long)bounds[b].centi);
    }
    /* unrounded 88.3055... rounds to 88.31 and is an A; 88.304... is a B */
    ck_assert(kj_ikm(3179, 100, &c, &g)); /* 2500*3179/900 = 8830.55 */
    ck_assert_int_eq(c, 8831);
    ck_assert_int_eq(g, 'A');
    ck_assert(!kj_ikm(0, 0, &c, &g));
}
END_TEST

START_TEST(test_ikm_score_only_and_elements)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    uint8_t el[KJ_ELEMENTS] = {1, 2, 3, 4, 4, 4, 4, 4, 4};
    kj_event a = rating_ev(T0, "u1", 4, NULL, KJ_SOURCE_CITIZEN); /* counts 4 for all 9 */
    kj_event b = rating_ev(T0, "u1", 1, el, KJ_SOURCE_CITIZEN);
    kj_event c = rating_ev(T0, "u1", 2, NULL, KJ_SOURCE_PEER);
    kj_event d = rating_ev(T0, "u1", 3, el, KJ_SOURCE_SUPERVISOR);
    apply1(m, &a);
    apply1(m, &b);
    apply1(m, &c);
    apply1(m, &d);
    packed p;
    pack_scope(m, KJ_SCOPE_UNIT, "u1", "u1", &p);
    const msgpack_object *r = at(&p.up.data, "today.ratings");
    ck_assert_int_eq((int)num(at(r, "count"), "count"), 2);
    close_to(num(at(r, "avg"), "avg"), 2.5, "avg");
    /* NRRs: (4+1)/2, (4+2)/2, (4+3)/2, 4 x6 -> mean (2.5+3+3.5+24)/9 = 33/9; x25 = 91.666 */
    close_to(num(at(r, "ikm"), "ikm"), 91.67, "ikm");
    ck_assert(str_is(at(r, "ikm_grade"), "A"));
    const msgpack_object *e = at(r, "ikm_elements");
    ck_assert_int_eq(e->type, MSGPACK_OBJECT_ARRAY);
    close_to(num(&e->via.array.ptr[0], "U1"), 25.0, "U1"); /* only the response with elements */
    close_to(num(&e->via.array.ptr[3], "U4"), 100.0, "U4");
    close_to(num(at(r, "peer_avg"), "peer"), 2, "peer");
    close_to(num(at(r, "supervisor_avg"), "sup"), 3, "sup");
    packed_free(&p);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

/* ---- presence and serving ---- */

START_TEST(test_presence_latest_by_ts)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_event a = presence_ev(T0 - 10000, "u1", "e1", KJ_PRESENCE_SERVING, "c1");
    kj_event older = presence_ev(T0 - 20000, "u1", "e1", KJ_PRESENCE_OFFLINE, NULL);
    kj_event again = presence_ev(T0 - 5000, "u1", "e1", KJ_PRESENCE_SERVING, "c1");
    apply1(m, &a);
    apply1(m, &older); /* arrives later but happened earlier: no effect */
    apply1(m, &again); /* the same state again: since stays */
    packed p;
    pack_scope(m, KJ_SCOPE_EMPLOYEE, NULL, "e1", &p);
    ck_assert(str_is(at(&p.up.data, "presence.state"), "serving"));
    ck_assert(str_is(at(&p.up.data, "presence.counter"), "c1"));
    ck_assert_int_eq((int64_t)num(at(&p.up.data, "presence.since"), "since"), T0 - 10000);
    ck_assert(is_nil(at(&p.up.data, "today.tasks")));
    packed_free(&p);
    pack_scope(m, KJ_SCOPE_COUNTER, "u1", "c1", &p);
    ck_assert(str_is(at(&p.up.data, "serving.employee"), "e1"));
    ck_assert_int_eq((int64_t)num(at(&p.up.data, "serving.since"), "since"), T0 - 10000);
    packed_free(&p);

    kj_event brk = presence_ev(T0 - 1000, "u1", "e1", KJ_PRESENCE_BREAK, NULL);
    apply1(m, &brk);
    pack_scope(m, KJ_SCOPE_EMPLOYEE, NULL, "e1", &p);
    ck_assert(str_is(at(&p.up.data, "presence.state"), "break"));
    ck_assert(is_nil(at(&p.up.data, "presence.counter")));
    ck_assert_int_eq((int64_t)num(at(&p.up.data, "presence.since"), "since"), T0 - 1000);
    packed_free(&p);
    pack_scope(m, KJ_SCOPE_COUNTER, "u1", "c1", &p);
    ck_assert(is_nil(at(&p.up.data, "serving")));
    packed_free(&p);

    /* A service at c2 by e2 tells who serves there. */
    kj_event s = service_ev(T0, "u1", "e2", "c2", 10, 10, KJ_OUTCOME_SERVED);
    apply1(m, &s);
    pack_scope(m, KJ_SCOPE_COUNTER, "u1", "c2", &p);
    ck_assert(str_is(at(&p.up.data, "serving.employee"), "e2"));
    packed_free(&p);
    /* No presence yet for e2: nil. */
    pack_scope(m, KJ_SCOPE_EMPLOYEE, NULL, "e2", &p);
    ck_assert(is_nil(at(&p.up.data, "presence")));
    packed_free(&p);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

/* ---- snapshot shape and the directory ---- */

static bool map_has_exactly(const msgpack_object *o, const char *const *keys, size_t n)
{
    if (!o || o->type != MSGPACK_OBJECT_MAP || o->via.map.size != n) return false;
    for (size_t i = 0; i < n; i++)
        if (!at(o, keys[i])) return false;
    return true;
}

START_TEST(test_snapshot_shape)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    packed p;
    pack_snapshot(m, "u1", NULL, &p);
    static const char *const keys[] = {"op",       "unit",        "seq",          "at",
                                       "timezone", "today_start", "unit_metrics", "members",
                                       "counters", "indicators",  "alerts"};
    ck_assert(map_has_exactly(&p.up.data, keys, 11));
    ck_assert(str_is(at(&p.up.data, "timezone"), "Asia/Jakarta"));
    ck_assert(str_is(at(&p.up.data, "op"), "snapshot"));
    ck_assert_int_eq((int64_t)num(at(&p.up.data, "at"), "at"), T0);
    /* configured members and counters appear with no data */
    static const char *const members[] = {"e1", "e2", "e3"}, *const counters[] = {"c1", "c2"};
    ck_assert(map_has_exactly(at(&p.up.data, "members"), members, 3));
    ck_assert(map_has_exactly(at(&p.up.data, "counters"), counters, 2));
    static const char *const member_keys[] = {"15m", "1h",       "today",   "7d",
                                              "30d", "presence", "feedback"};
    ck_assert(map_has_exactly(at(&p.up.data, "members.e1"), member_keys, 7));
    ck_assert(is_nil(at(&p.up.data, "members.e1.today.tasks")));
    ck_assert(at(&p.up.data, "counters.c1.serving") != NULL);
    static const char *const unit_keys[] = {"15m", "1h", "today", "7d", "30d", "queue"};
    ck_assert(map_has_exactly(at(&p.up.data, "unit_metrics"), unit_keys, 6));
    ck_assert_int_eq((int64_t)num(at(&p.up.data, "unit_metrics.queue.waiting"), "waiting"), 0);
    packed_free(&p);

    /* a unit, member and counter first seen in an event */
    kj_event ev = service_ev(T0, "u9", "x1", "k1", 10, 10, KJ_OUTCOME_SERVED);
    apply1(m, &ev);
    pack_snapshot(m, "u9", NULL, &p);
    static const char *const x[] = {"x1"}, *const k[] = {"k1"};
    ck_assert(map_has_exactly(at(&p.up.data, "members"), x, 1));
    ck_assert(map_has_exactly(at(&p.up.data, "counters"), k, 1));
    ck_assert_int_eq((int)num(at(&p.up.data, "members.x1.today.services.count"), "n"), 1);
    packed_free(&p);

    /* a personal view: only that member */
    pack_snapshot(m, "u1", "e2", &p);
    static const char *const e2[] = {"e2"};
    ck_assert(map_has_exactly(at(&p.up.data, "members"), e2, 1));
    ck_assert(is_nil(at(&p.up.data, "unit_metrics")));
    packed_free(&p);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    ck_assert_int_eq(kj_metrics_pack_snapshot(m, "nope", 1, NULL, &pk), KJ_ERR_NOT_FOUND);
    msgpack_sbuffer_destroy(&sb);

    /* the directory: every unit by id, names from the configuration */
    msgpack_sbuffer_init(&p.sb);
    msgpack_packer_init(&pk, &p.sb, msgpack_sbuffer_write);
    kj_metrics_pack_units(m, &pk);
    unpack(&p);
    ck_assert_int_eq(p.up.data.type, MSGPACK_OBJECT_ARRAY);
    ck_assert_uint_eq(p.up.data.via.array.size, 3);
    const msgpack_object *u9 = &p.up.data.via.array.ptr[2];
    ck_assert(str_is(at(u9, "id"), "u9") && str_is(at(u9, "name"), "u9"));
    const msgpack_object *u1m = at(&p.up.data.via.array.ptr[0], "members");
    ck_assert_uint_eq(u1m->via.array.size, 3);
    ck_assert(str_is(at(&u1m->via.array.ptr[1], "name"), "e2"));
    packed_free(&p);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

typedef struct update_ctx {
    kj_metrics *m;
    packed p;
    int calls;
} update_ctx;

static void pack_update_cb(void *ctx, const kj_changes *ch)
{
    update_ctx *u = ctx;
    msgpack_sbuffer_init(&u->p.sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &u->p.sb, msgpack_sbuffer_write);
    kj_metrics_pack_update(u->m, ch, 8, NULL, &pk);
    unpack(&u->p);
    u->calls++;
}

START_TEST(test_update_frame)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_metrics_take_changes(m, NULL, count_changes, NULL);
    kj_event ev = service_ev(T0, "u1", "e2", NULL, 10, 10, KJ_OUTCOME_SERVED);
    apply1(m, &ev);
    update_ctx u = {m};
    kj_metrics_take_changes(m, NULL, pack_update_cb, &u);
    ck_assert_int_eq(u.calls, 1);
    ck_assert(str_is(at(&u.p.up.data, "op"), "update"));
    static const char *const e2[] = {"e2"};
    ck_assert(map_has_exactly(at(&u.p.up.data, "members"), e2, 1));
    ck_assert(at(&u.p.up.data, "unit_metrics") != NULL);
    ck_assert(at(&u.p.up.data, "counters") == NULL); /* no counter changed */
    ck_assert(at(&u.p.up.data, "indicators") != NULL);
    packed_free(&u.p);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

/* ---- rollback ---- */

/* Every unit's snapshot and every employee's object, as bytes. */
static void state_bytes(kj_metrics *m, msgpack_sbuffer *sb)
{
    static const char *units[] = {"u1", "u2", "u7", "u8"};
    static const char *emps[] = {"e1", "e2", "e3", "e4", "e5", "n1", "n2"};
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    for (size_t i = 0; i < 4; i++)
        if (kj_metrics_pack_snapshot(m, units[i], 1, NULL, &pk)) msgpack_pack_nil(&pk);
    for (size_t i = 0; i < 7; i++) {
        kj_scope_ref ref = {KJ_SCOPE_EMPLOYEE, NULL, emps[i]};
        if (kj_metrics_pack_scope(m, &ref, &pk)) msgpack_pack_nil(&pk);
    }
    kj_metrics_stats st;
    kj_metrics_get_stats(m, &st);
    msgpack_pack_uint64(&pk, st.units);
    msgpack_pack_uint64(&pk, st.employees);
    msgpack_pack_uint64(&pk, st.counters);
    msgpack_pack_uint64(&pk, st.buckets);
    msgpack_pack_uint64(&pk, st.bucket_bytes);
}

static void assert_same_state(kj_metrics *a, kj_metrics *b)
{
    msgpack_sbuffer x, y;
    msgpack_sbuffer_init(&x);
    msgpack_sbuffer_init(&y);
    state_bytes(a, &x);
    state_bytes(b, &y);
    ck_assert_uint_eq(x.size, y.size);
    ck_assert_msg(!memcmp(x.data, y.data, x.size), "states differ");
    msgpack_sbuffer_destroy(&x);
    msgpack_sbuffer_destroy(&y);
}

static void snapshot_self(kj_metrics *m, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    state_bytes(m, sb);
}

static kj_config *indicator_config(void)
{
    kj_config *cfg = base_config();
    add_indicator(cfg, "wait-p90", "services.wait_ms.p90", KJ_WIN_TODAY, 600000, KJ_BETTER_LOWER);
    add_indicator(cfg, "ikm", "ratings.ikm", KJ_WIN_30D, 88.31, KJ_BETTER_HIGHER);
    add_indicator(cfg, "busy", "services.count", KJ_WIN_15M, 3, KJ_BETTER_HIGHER);
    return cfg;
}

START_TEST(test_rollback_restores)
{
    kj_config *cfg = indicator_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_metrics_tick(m, T0);
    free(apply_random(m, 1500, T0));
    kj_event p = presence_ev(T0, "u1", "e1", KJ_PRESENCE_SERVING, "c1");
    apply1(m, &p);
    msgpack_sbuffer before, after;
    snapshot_self(m, &before);

    kj_metrics_begin(m);
    for (int i = 0; i < 500; i++) {
        kj_event ev = random_event(T0);
        ck_assert_int_eq(kj_metrics_apply(m, &ev), KJ_OK);
    }
    kj_event extra[] = {
        service_ev(T0, "u7", "n1", "k1", 999999, 5,
                   KJ_OUTCOME_SERVED),                             /* new unit, member, counter */
        service_ev(T0, "u1", "n2", "c9", 1, 5, KJ_OUTCOME_SERVED), /* new member and counter */
        presence_ev(T0 + 1, "u1", "e1", KJ_PRESENCE_OFFLINE, NULL),
        presence_ev(T0 + 1, "u8", "n1", KJ_PRESENCE_SERVING, "k2"),
        service_ev(T0, "u1", "e5", "c1", 2, 5, KJ_OUTCOME_SERVED),
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        ck_assert_int_eq(kj_metrics_apply(m, &extra[i]), KJ_OK);
    kj_metrics_sink sink = {0};
    ck_assert_int_eq(kj_metrics_each_dirty(m, &sink), KJ_OK); /* evaluates: statuses, alerts */
    kj_metrics_rollback(m);
    ck_assert(!kj_metrics_in_group(m));
    snapshot_self(m, &after);
    ck_assert_uint_eq(before.size, after.size);
    ck_assert_msg(!memcmp(before.data, after.data, before.size), "rollback left traces");
    msgpack_sbuffer_destroy(&before);
    msgpack_sbuffer_destroy(&after);
    /* and the engine goes on */
    apply1(m, &extra[0]);
    ck_assert_int_eq((int)unit_services(m, "u7", "today"), 1);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

/* ---- persistence ---- */

typedef struct kv {
    uint8_t *key, *val;
    size_t klen, vlen;
} kv;

typedef struct table {
    kv *rows;
    size_t n;
    uint8_t **alerts;
    size_t *alert_len;
    size_t n_alerts;
} table;

static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static kj_err table_put(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    table *t = ctx;
    for (size_t i = 0; i < t->n; i++) {
        if (t->rows[i].klen == klen && !memcmp(t->rows[i].key, key, klen)) {
            free(t->rows[i].val);
            t->rows[i].val = malloc(vlen + 1);
            memcpy(t->rows[i].val, val, vlen);
            t->rows[i].vlen = vlen;
            return KJ_OK;
        }
    }
    t->rows = realloc(t->rows, (t->n + 1) * sizeof *t->rows);
    kv *r = &t->rows[t->n++];
    r->key = malloc(klen);
    memcpy(r->key, key, klen);
    r->klen = klen;
    r->val = malloc(vlen + 1);
    memcpy(r->val, val, vlen);
    r->vlen = vlen;
    return KJ_OK;
}

static kj_err table_alert(void *ctx, int64_t at_ms, const void *val, size_t vlen)
{
    table *t = ctx;
    (void)at_ms;
    t->alerts = realloc(t->alerts, (t->n_alerts + 1) * sizeof *t->alerts);
    t->alert_len = realloc(t->alert_len, (t->n_alerts + 1) * sizeof *t->alert_len);
    t->alerts[t->n_alerts] = malloc(vlen);
    memcpy(t->alerts[t->n_alerts], val, vlen);
    t->alert_len[t->n_alerts++] = vlen;
    return KJ_OK;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->rows[i].key);
        free(t->rows[i].val);
    }
    for (size_t i = 0; i < t->n_alerts; i++)
        free(t->alerts[i]);
    free(t->rows);
    free(t->alerts);
    free(t->alert_len);
}

/* One group as the writer runs it. */
static void group(kj_metrics *m, table *t, const kj_event *evs, size_t n)
{
    kj_metrics_sink sink = {t, table_put, table_alert};
    kj_metrics_begin(m);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(kj_metrics_apply(m, &evs[i]), KJ_OK);
    ck_assert_int_eq(kj_metrics_each_dirty(m, &sink), KJ_OK);
    kj_metrics_commit(m);
}

START_TEST(test_persistence_round_trip)
{
    kj_config *cfg = indicator_config();
    kj_metrics *a, *b;
    table t = {0};
    int64_t now = T0 - 3 * KJ_DAY_MS;
    ck_assert_int_eq(kj_metrics_new(cfg, now, &a), KJ_OK);
    kj_metrics_tick(a, now);
    for (int round = 0; round < 60; round++) {
        now += rnd_in(0, 2 * KJ_HOUR_MS);
        ck_assert_int_eq(kj_metrics_tick(a, now), KJ_OK);
        if (kj_metrics_pending(a)) group(a, &t, NULL, 0);
        kj_event evs[60];
        for (int i = 0; i < 60; i++) {
            evs[i] = random_event(now);
            if (i % 3 == 0) evs[i].ts = now - rnd_in(-KJ_MINUTE_MS, 20 * KJ_MINUTE_MS);
        }
        evs[0] =
            presence_ev(now, "u1", "e1", (kj_presence_state)(rnd() % 4), rnd() % 2 ? "c1" : NULL);
        evs[1] = presence_ev(now - 5, "u2", "e9", KJ_PRESENCE_SERVING, "c7");
        group(a, &t, evs, 60);
        /* a failed group leaves nothing behind in the table either */
        kj_metrics_begin(a);
        for (int i = 2; i < 10; i++)
            kj_metrics_apply(a, &evs[i]);
        kj_metrics_rollback(a);
    }
    ck_assert_uint_gt(t.n_alerts, 0);
    qsort(t.rows, t.n, sizeof *t.rows, kv_cmp);
    ck_assert_int_eq(kj_metrics_new(cfg, now, &b), KJ_OK);
    for (size_t i = 0; i < t.n; i++)
        ck_assert_int_eq(
            kj_metrics_load(b, t.rows[i].key, t.rows[i].klen, t.rows[i].val, t.rows[i].vlen),
            KJ_OK);
    for (size_t i = 0; i < t.n_alerts; i++)
        ck_assert_int_eq(kj_metrics_load_alert(b, t.alerts[i], t.alert_len[i]), KJ_OK);
    ck_assert_int_eq(kj_metrics_tick(b, now), KJ_OK);
    ck_assert(!kj_metrics_pending(b)); /* a restart raises no alerts */
    assert_same_state(a, b);
    /* and both go on alike */
    kj_metrics_tick(a, now + 50 * KJ_MINUTE_MS);
    kj_metrics_tick(b, now + 50 * KJ_MINUTE_MS);
    kj_event ev =
        service_ev(now + 50 * KJ_MINUTE_MS, "u1", "e2", "c2", 100, 100, KJ_OUTCOME_SERVED);
    apply1(a, &ev);
    apply1(b, &ev);
    assert_same_state(a, b);
    table_free(&t);
    kj_metrics_free(a);
    kj_metrics_free(b);
    kj_config_free(cfg);
}
END_TEST

/* A stored bucket that does not decode is skipped at load, and the windows
 * hold exactly the other buckets (the load merges straight from the stored
 * bytes, so a bad one met halfway must not leave half of itself behind). */
START_TEST(test_load_skips_a_corrupt_bucket)
{
    kj_config *cfg = base_config();
    kj_metrics *a, *b, *c;
    table t = {0};
    int64_t now = T0 - 2 * KJ_DAY_MS;
    ck_assert_int_eq(kj_metrics_new(cfg, now, &a), KJ_OK);
    for (int h = 0; h < 30; h++) {
        now += KJ_HOUR_MS;
        kj_metrics_tick(a, now);
        kj_event evs[20];
        for (int i = 0; i < 20; i++)
            evs[i] = service_ev(now - i * KJ_MINUTE_MS, "u1", "e1", "c1", rnd_in(0, 900000),
                                rnd_in(0, 600000), KJ_OUTCOME_SERVED);
        group(a, &t, evs, 20);
    }
    qsort(t.rows, t.n, sizeof *t.rows, kv_cmp);
    /* an old hour bucket of employee e1, cut in the middle of a hist */
    static const char prefix[] = "BEe1";
    size_t bad = t.n;
    for (size_t i = 0; i < t.n && bad == t.n; i++)
        if (t.rows[i].klen == 14 && !memcmp(t.rows[i].key, prefix, 5) &&
            ((uint8_t *)t.rows[i].key)[5] == 1 && t.rows[i].vlen > 8)
            bad = i;
    ck_assert_uint_lt(bad, t.n);
    ck_assert_int_eq(kj_metrics_new(cfg, now, &b), KJ_OK);
    ck_assert_int_eq(kj_metrics_new(cfg, now, &c), KJ_OK);
    for (size_t i = 0; i < t.n; i++) {
        size_t vlen = i == bad ? t.rows[i].vlen - 3 : t.rows[i].vlen;
        ck_assert_int_eq(kj_metrics_load(b, t.rows[i].key, t.rows[i].klen, t.rows[i].val, vlen),
                         i == bad ? KJ_ERR_DECODE : KJ_OK);
        if (i != bad)
            kj_metrics_load(c, t.rows[i].key, t.rows[i].klen, t.rows[i].val, t.rows[i].vlen);
    }
    kj_metrics_tick(b, now);
    kj_metrics_tick(c, now);
    assert_same_state(b, c);
    table_free(&t);
    kj_metrics_free(a);
    kj_metrics_free(b);
    kj_metrics_free(c);
    kj_config_free(cfg);
}
END_TEST

/* Loads t's rows into a new engine at now (all of them, or without the
 * checkpoint's), then ticks it to now. */
/* Keys a load leaves out, by prefix (NULL-terminated lists). */
static const char *const no_checkpoint[] = {"!ckpt", "W", NULL};
static const char *const no_watermark[] = {"!fold", NULL};

static bool skipped(const kv *row, const char *const *skip)
{
    for (; skip && *skip; skip++)
        if (row->klen >= strlen(*skip) && !memcmp(row->key, *skip, strlen(*skip))) return true;
    return false;
}

/* A start on the table's keys and alerts (but those of skip) at now. */
static kj_metrics *load_table(kj_config *cfg, table *t, int64_t now, const char *const *skip)
{
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, now, &m), KJ_OK);
    qsort(t->rows, t->n, sizeof *t->rows, kv_cmp);
    for (size_t i = 0; i < t->n; i++) {
        if (skipped(&t->rows[i], skip)) continue;
        ck_assert_int_eq(
            kj_metrics_load(m, t->rows[i].key, t->rows[i].klen, t->rows[i].val, t->rows[i].vlen),
            KJ_OK);
    }
    for (size_t i = 0; i < t->n_alerts; i++)
        ck_assert_int_eq(kj_metrics_load_alert(m, t->alerts[i], t->alert_len[i]), KJ_OK);
    ck_assert_int_eq(kj_metrics_tick(m, now), KJ_OK);
    return m;
}

/* The checkpoint of a clean stop gives the state that merging every bucket
 * gives, whether the next start is in the same minute, a few minutes, hours
 * or days later; and the first group after a start voids it. */
START_TEST(test_checkpoint_round_trip)
{
    kj_config *cfg = indicator_config();
    kj_metrics *a;
    table t = {0};
    int64_t now = T0 - 3 * KJ_DAY_MS;
    ck_assert_int_eq(kj_metrics_new(cfg, now, &a), KJ_OK);
    for (int round = 0; round < 40; round++) {
        now += rnd_in(0, 2 * KJ_HOUR_MS);
        kj_metrics_tick(a, now);
        kj_event evs[40];
        for (int i = 0; i < 40; i++)
            evs[i] = random_event(now - rnd_in(0, 50 * KJ_MINUTE_MS));
        group(a, &t, evs, 40);
    }
    now += 7 * KJ_MINUTE_MS; /* a quiet while, then the stop */
    kj_metrics_tick(a, now);
    if (kj_metrics_pending(a)) group(a, &t, NULL, 0);
    kj_metrics_sink sink = {&t, table_put, NULL};
    ck_assert_int_eq(kj_metrics_checkpoint(a, &sink), KJ_OK);
    static const int64_t gaps[] = {0, 3 * KJ_MINUTE_MS, 2 * KJ_HOUR_MS + 10 * KJ_MINUTE_MS,
                                   9 * KJ_DAY_MS};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        kj_metrics *b = load_table(cfg, &t, now + gaps[g], NULL);
        kj_metrics *c = load_table(cfg, &t, now + gaps[g], no_checkpoint);
        assert_same_state(b, c);
        if (!gaps[g]) assert_same_state(a, b); /* later, a has alerts of its own */
        kj_metrics_free(b);
        kj_metrics_free(c);
    }
    /* a start with it, one event: the marker is voided in that group */
    kj_metrics *b = load_table(cfg, &t, now + 9 * KJ_DAY_MS, NULL);
    kj_event ev = service_ev(now + 9 * KJ_DAY_MS, "u1", "e1", "c1", 10, 10, KJ_OUTCOME_SERVED);
    group(b, &t, &ev, 1);
    qsort(t.rows, t.n, sizeof *t.rows, kv_cmp);
    ck_assert_uint_eq(t.rows[0].klen, 5);
    ck_assert_int_eq(memcmp(t.rows[0].key, "!ckpt", 5), 0);
    ck_assert_uint_eq(t.rows[0].vlen, 2);
    ck_assert_uint_eq(((uint8_t *)t.rows[0].val)[1], 0);
    /* so a start after that merges the buckets, and agrees with b */
    kj_metrics *c = load_table(cfg, &t, now + 9 * KJ_DAY_MS, NULL);
    assert_same_state(b, c);
    kj_metrics_free(b);
    kj_metrics_free(c);
    table_free(&t);
    kj_metrics_free(a);
    kj_config_free(cfg);
}
END_TEST

/* Events of the current minute reach their hour and day buckets when the
 * minute is folded, and the store gets those at the next save. A crash
 * between the fold and its save (the store still says the minutes are
 * pending), hours later, gives the same state; so does a store without a
 * watermark (an older build's, which folded every minute it wrote). */
START_TEST(test_fold_survives_a_crash)
{
    kj_config *cfg = base_config(); /* no indicators: alerts of the last tick die with a */
    kj_metrics *a;
    table t = {0};
    int64_t now = T0 - 2 * KJ_DAY_MS;
    ck_assert_int_eq(kj_metrics_new(cfg, now, &a), KJ_OK);
    for (int round = 0; round < 30; round++) {
        now += rnd_in(KJ_MINUTE_MS, 40 * KJ_MINUTE_MS);
        kj_metrics_tick(a, now);
        if (round % 3 && kj_metrics_pending(a)) group(a, &t, NULL, 0); /* else: saved later */
        kj_event evs[40];
        for (int i = 0; i < 40; i++)
            evs[i] = random_event(now + rnd_in(-2 * KJ_MINUTE_MS, 2 * KJ_MINUTE_MS));
        group(a, &t, evs, 40);
    }
    /* the last minutes fold as the clock moves on; the crash comes first */
    now += 3 * KJ_HOUR_MS + 17 * KJ_MINUTE_MS;
    kj_metrics_tick(a, now);
    ck_assert(kj_metrics_pending(a));
    kj_metrics *b = load_table(cfg, &t, now, NULL);
    assert_same_state(a, b);
    /* both go on alike, into a pending minute and a folded one */
    kj_event evs[2] = {
        service_ev(now, "u1", "e2", "c2", 100, 100, KJ_OUTCOME_SERVED),
        service_ev(now - 30 * KJ_MINUTE_MS, "u2", "e3", "c4", 7, 9, KJ_OUTCOME_SERVED)};
    table tb = {0};
    group(a, &t, evs, 2);
    group(b, &tb, evs, 2);
    assert_same_state(a, b);
    table_free(&tb);
    /* once the minute of evs[0] is folded and saved, the store is what an
     * older build wrote in that minute: without a watermark, a start in that
     * minute takes it as folded already */
    now += KJ_MINUTE_MS;
    kj_metrics_tick(a, now);
    group(a, &t, NULL, 0);
    kj_metrics *c = load_table(cfg, &t, now - KJ_MINUTE_MS, no_watermark);
    kj_metrics_tick(c, now);
    assert_same_state(a, c);
    /* a clean stop after a fold whose save failed, the minute's hour closed:
     * the checkpoint's totals hold the fold, so it stores the fold too */
    kj_event last = service_ev(now, "u1", "e1", "c1", 5, 5, KJ_OUTCOME_SERVED);
    group(a, &t, &last, 1);
    now += 2 * KJ_HOUR_MS;
    kj_metrics_tick(a, now);
    ck_assert(kj_metrics_pending(a));
    kj_metrics_sink sink = {&t, table_put, NULL};
    ck_assert_int_eq(kj_metrics_checkpoint(a, &sink), KJ_OK);
    kj_metrics *d = load_table(cfg, &t, now, NULL);
    assert_same_state(a, d);
    kj_metrics_free(d);
    kj_metrics_free(b);
    kj_metrics_free(c);
    table_free(&t);
    kj_metrics_free(a);
    kj_config_free(cfg);
}
END_TEST

START_TEST(test_keys_and_retention)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    table t = {0};
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_event ev = service_ev(T0, "u1", "e1", "c1", 10, 10, KJ_OUTCOME_SERVED);
    group(m, &t, &ev, 1);
    /* the minute bucket of unit, employee and counter, the counter's serving
     * state and the fold watermark (a store's first group); their hour and
     * day buckets wait for the minute's fold */
    ck_assert_uint_eq(t.n, 5);
    ck_assert(!kj_metrics_pending(m));
    ck_assert_int_eq(kj_metrics_tick(m, T0 + KJ_MINUTE_MS), KJ_OK);
    ck_assert(kj_metrics_pending(m));
    group(m, &t, NULL, 0);
    ck_assert(!kj_metrics_pending(m));
    /* then the hour and day buckets, and the fold's watermark */
    ck_assert_uint_eq(t.n, 11);
    qsort(t.rows, t.n, sizeof *t.rows, kv_cmp);
    ck_assert_int_eq(memcmp(t.rows[0].key, "!fold", 5), 0);
    static const char minute_key[] = "BEe1\0\0";
    ck_assert_int_eq(memcmp(t.rows[4].key, minute_key, 5), 0); /* !fold, B C.. x 3, then B E e1 */
    for (size_t i = 0; i < t.n; i++)
        ck_assert(!kj_metrics_key_expired(m, t.rows[i].key, t.rows[i].klen));
    ck_assert_int_eq(kj_metrics_tick(m, T0 + 3 * KJ_HOUR_MS), KJ_OK);
    size_t expired = 0;
    for (size_t i = 0; i < t.n; i++)
        expired += kj_metrics_key_expired(m, t.rows[i].key, t.rows[i].klen);
    ck_assert_uint_eq(expired, 3); /* the minute buckets */
    kj_metrics_tick(m, T0 + 32 * KJ_DAY_MS);
    expired = 0;
    for (size_t i = 0; i < t.n; i++)
        expired += kj_metrics_key_expired(m, t.rows[i].key, t.rows[i].klen);
    ck_assert_uint_eq(expired, 6); /* and the hour buckets */
    kj_metrics_tick(m, T0 + 401 * KJ_DAY_MS);
    expired = 0;
    for (size_t i = 0; i < t.n; i++)
        expired += kj_metrics_key_expired(m, t.rows[i].key, t.rows[i].klen);
    ck_assert_uint_eq(expired, 9); /* serving and the watermark never expire */
    /* garbage is refused, never crashes */
    static const uint8_t bad[][12] = {{'B', 'U', 'u', 0, 9}, {'X'}, {'P', 0}, {'B', 'Q', 'x', 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(kj_metrics_load(m, bad[i], sizeof bad[i], "x", 1), KJ_ERR_DECODE);
    table_free(&t);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

/* ---- presence and serving in any order of arrival ---- */

/* Presence and service events of four employees at three counters, with
 * distinct ts, oldest first. */
static size_t presence_story(kj_event *evs, size_t max)
{
    static const char *emps[] = {"e1", "e2", "e3", "e4"};
    size_t n = 0;
    for (int64_t ts = T0 - 40 * KJ_MINUTE_MS; n < max; ts += rnd_in(1, 60000)) {
        const char *emp = emps[rnd() % 4];
        const char *unit = !strcmp(emp, "e4") || (!strcmp(emp, "e3") && rnd() % 2) ? "u2" : "u1";
        const char *ctr = !strcmp(unit, "u2") ? "c1" : rnd() % 2 ? "c1" : "c2";
        if (rnd() % 10 < 7)
            evs[n++] =
                presence_ev(ts, unit, emp, (kj_presence_state)(rnd() % 4), rnd() % 4 ? ctr : NULL);
        else
            evs[n++] = service_ev(ts, unit, emp, ctr, 10, 10,
                                  rnd() % 5 ? KJ_OUTCOME_SERVED : KJ_OUTCOME_NO_SHOW);
    }
    return n;
}

static void shuffle(kj_event *evs, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rnd() % i);
        kj_event t = evs[i - 1];
        evs[i - 1] = evs[j];
        evs[j] = t;
    }
}

/* SPEC §4: presence from the latest presence event by ts, serving from the
 * newest evidence by ts. Any order of arrival, in groups of any size, with
 * groups rolled back and sent again, and a restart from the stored keys in
 * the middle, gives what a replay in ts order (--rebuild) gives. */
START_TEST(test_presence_any_arrival_order)
{
    kj_config *cfg = base_config();
    kj_event story[48], sent[48];
    size_t n = presence_story(story, 48);
    kj_metrics *want;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &want), KJ_OK);
    kj_metrics_tick(want, T0);
    table wt = {0};
    group(want, &wt, story, n); /* ts order */
    msgpack_sbuffer expect;
    snapshot_self(want, &expect);
    for (int round = 0; round < 40; round++) {
        memcpy(sent, story, sizeof story);
        shuffle(sent, n);
        kj_metrics *m;
        ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
        kj_metrics_tick(m, T0);
        table t = {0};
        for (size_t i = 0, k; i < n; i += k) {
            k = (size_t)rnd_in(1, 5);
            if (k > n - i) k = n - i;
            if (rnd() % 4 == 0) { /* the store failed: the group comes again */
                kj_metrics_begin(m);
                for (size_t j = 0; j < k; j++)
                    kj_metrics_apply(m, &sent[i + j]);
                kj_metrics_rollback(m);
            }
            group(m, &t, &sent[i], k);
            if (i < n / 2 && i + k >= n / 2) { /* a restart half way */
                kj_metrics_free(m);
                m = load_table(cfg, &t, T0, NULL);
            }
        }
        msgpack_sbuffer got;
        snapshot_self(m, &got);
        ck_assert_msg(got.size == expect.size && !memcmp(got.data, expect.data, got.size),
                      "round %d: the order of arrival changed the state", round);
        msgpack_sbuffer_destroy(&got);
        kj_metrics *again = load_table(cfg, &t, T0, NULL);
        assert_same_state(again, want);
        kj_metrics_free(again);
        kj_metrics_free(m);
        table_free(&t);
    }
    msgpack_sbuffer_destroy(&expect);
    table_free(&wt);
    kj_metrics_free(want);
    kj_config_free(cfg);
}
END_TEST

static void expect_serving(kj_metrics *m, const char *emp, int64_t since)
{
    packed p;
    pack_scope(m, KJ_SCOPE_COUNTER, "u1", "c1", &p);
    ck_assert(str_is(at(&p.up.data, "serving.employee"), emp));
    ck_assert_int_eq((int64_t)num(at(&p.up.data, "serving.since"), "since"), since);
    packed_free(&p);
}

/* A counter keeps its last KJ_SERVING_KEEP pieces of evidence: past that
 * bound, many times over (its storage moves back and grows), the oldest fold
 * into its base; a group rolled back leaves it as it was; evidence older than
 * what is kept is ignored, a late piece within it is placed by ts; a restart
 * gives the same state. */
START_TEST(test_serving_history_at_its_bound)
{
    static const char *emps[] = {"e1", "e2", "e3", "e4"};
    enum { N = 3 * KJ_SERVING_KEEP + 5 };
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_metrics_tick(m, T0);
    table t = {0};
    kj_event evs[N];
    int64_t t0 = T0 - 30 * KJ_MINUTE_MS;
    for (int i = 0; i < N; i++)
        evs[i] = service_ev(t0 + i * 1000, "u1", emps[i % 4], "c1", 10, 10, KJ_OUTCOME_SERVED);
    for (int i = 0; i < N; i += 7) {
        int k = N - i < 7 ? N - i : 7;
        if (i == 2 * KJ_SERVING_KEEP / 7 * 7) { /* past the bound: rolled back, sent again */
            kj_metrics_begin(m);
            for (int j = 0; j < k; j++)
                kj_metrics_apply(m, &evs[i + j]);
            kj_metrics_rollback(m);
            expect_serving(m, emps[(i - 1) % 4], t0 + (i - 1) * 1000);
        }
        group(m, &t, &evs[i], (size_t)k);
    }
    int64_t last = t0 + (N - 1) * 1000;
    expect_serving(m, emps[(N - 1) % 4], last);
    /* older than the kept history (the first event's time): no effect */
    kj_event old = service_ev(t0, "u1", "e9", "c1", 10, 10, KJ_OUTCOME_SERVED);
    group(m, &t, &old, 1);
    expect_serving(m, emps[(N - 1) % 4], last);
    /* late, but within it: placed before the newest piece, which still decides */
    kj_event late = service_ev(last - 500, "u1", "e9", "c1", 10, 10, KJ_OUTCOME_SERVED);
    group(m, &t, &late, 1);
    expect_serving(m, emps[(N - 1) % 4], last);
    kj_event next = service_ev(last + 1000, "u1", "e9", "c1", 10, 10, KJ_OUTCOME_SERVED);
    group(m, &t, &next, 1);
    expect_serving(m, "e9", last + 1000);
    msgpack_sbuffer before, after;
    snapshot_self(m, &before);
    kj_metrics *again = load_table(cfg, &t, T0, NULL);
    snapshot_self(again, &after);
    ck_assert(before.size == after.size && !memcmp(before.data, after.data, before.size));
    expect_serving(again, "e9", last + 1000);
    msgpack_sbuffer_destroy(&before);
    msgpack_sbuffer_destroy(&after);
    kj_metrics_free(again);
    kj_metrics_free(m);
    table_free(&t);
    kj_config_free(cfg);
}
END_TEST

static int64_t presence_since(kj_metrics *m, const char *emp)
{
    packed p;
    pack_scope(m, KJ_SCOPE_EMPLOYEE, NULL, emp, &p);
    int64_t since = (int64_t)num(at(&p.up.data, "presence.since"), "since");
    packed_free(&p);
    return since;
}

/* The history is bounded (KJ_PRESENCE_KEEP = 32 events): a late event among
 * the kept ones is placed, an older one is ignored as before. */
START_TEST(test_presence_history_bound)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    table t = {0};
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_metrics_tick(m, T0);
    int64_t ts0 = T0 - 40 * KJ_MINUTE_MS;
    for (int i = 0; i < 40; i++) {
        kj_event ev = presence_ev(ts0 + i * KJ_MINUTE_MS, "u1", "e1", KJ_PRESENCE_AVAILABLE, NULL);
        group(m, &t, &ev, 1);
    }
    ck_assert_int_eq(presence_since(m, "e1"), ts0);
    /* events 0..7 are folded: a break after event 5 comes too late */
    kj_event old = presence_ev(ts0 + 5 * KJ_MINUTE_MS + 1, "u1", "e1", KJ_PRESENCE_BREAK, NULL);
    group(m, &t, &old, 1);
    ck_assert_int_eq(presence_since(m, "e1"), ts0);
    /* a break after event 20 splits the run: available again since event 21 */
    kj_event late = presence_ev(ts0 + 20 * KJ_MINUTE_MS + 1, "u1", "e1", KJ_PRESENCE_BREAK, NULL);
    group(m, &t, &late, 1);
    ck_assert_int_eq(presence_since(m, "e1"), ts0 + 21 * KJ_MINUTE_MS);
    kj_metrics *again = load_table(cfg, &t, T0, NULL);
    assert_same_state(again, m);
    /* and the restored history still places late events */
    kj_event later = presence_ev(ts0 + 30 * KJ_MINUTE_MS + 1, "u1", "e1", KJ_PRESENCE_BREAK, NULL);
    apply1(m, &later);
    apply1(again, &later);
    ck_assert_int_eq(presence_since(again, "e1"), ts0 + 31 * KJ_MINUTE_MS);
    assert_same_state(again, m);
    kj_metrics_free(again);
    table_free(&t);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

/* ---- time zones ---- */

START_TEST(test_tz_against_libc)
{
    static const char *zones[] = {
        "Asia/Jakarta",     "Asia/Makassar", "Asia/Jayapura",       "Europe/Berlin",
        "America/New_York", "Asia/Kolkata",  "Australia/Lord_Howe", "UTC"};
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        kj_tz *tz;
        ck_assert_int_eq(kj_tz_load(zones[z], &tz), KJ_OK);
        setenv("TZ", zones[z], 1);
        tzset();
        for (int i = 0; i < 20000; i++) {
            time_t t = (time_t)rnd_in(0, 4102444800LL); /* 1970 .. 2100 */
            struct tm tm;
            localtime_r(&t, &tm);
            ck_assert_int_eq(kj_tz_offset_ms(tz, (int64_t)t * 1000), (int64_t)tm.tm_gmtoff * 1000);
        }
        for (int32_t d = 20000; d < 20400; d++) {
            int64_t s = kj_tz_day_start(tz, d);
            ck_assert_int_eq(kj_tz_day(tz, s), d);
            ck_assert_int_eq(kj_tz_day(tz, s - 1), d - 1);
        }
        kj_tz_free(tz);
    }
    kj_tz *tz;
    ck_assert_int_eq(kj_tz_load("../etc/passwd", &tz), KJ_ERR_CONFIG);
    ck_assert_int_eq(kj_tz_load("Nowhere/Atlantis", &tz), KJ_ERR_CONFIG);
    ck_assert_int_eq(kj_tz_load("Asia/Jakarta", &tz), KJ_OK);
    ck_assert_int_eq(kj_tz_day_start(tz, kj_tz_day(tz, T0)), 1773075600000LL); /* 17:00 UTC */
    kj_tz_free(tz);
}
END_TEST

/* A version-1 zone file of one type with offset off (seconds east). */
static void write_zone(const char *path, int32_t off)
{
    uint8_t z[44 + 6 + 4] = "TZif";
    z[20 + 4 * 4 + 3] = 1, z[20 + 5 * 4 + 3] = 4; /* typecnt 1, charcnt 4 */
    for (int i = 0; i < 4; i++)
        z[44 + i] = (uint8_t)((uint32_t)off >> (24 - 8 * i));
    memcpy(z + 50, "ZZZ", 4);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(z, 1, sizeof z, f), sizeof z);
    fclose(f);
}

/* Offsets beyond RFC 8536's range (-25 h .. +26 h) are a damaged file, not a
 * day that starts years away (found by fuzz_tzif). */
START_TEST(test_tz_refuses_wild_offsets)
{
    char dir[] = "/tmp/kj-tz-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/Zone", dir);
    setenv("TZDIR", dir, 1);
    kj_tz *tz;
    write_zone(path, 25200);
    ck_assert_int_eq(kj_tz_load("Zone", &tz), KJ_OK);
    ck_assert_int_eq(kj_tz_offset_ms(tz, T0), 25200000);
    kj_tz_free(tz);
    write_zone(path, 471604252);
    ck_assert_int_eq(kj_tz_load("Zone", &tz), KJ_ERR_DECODE);
    write_zone(path, -90000);
    ck_assert_int_eq(kj_tz_load("Zone", &tz), KJ_ERR_DECODE);
    unsetenv("TZDIR");
    remove(path);
    remove(dir); /* empty: remove() is rmdir() */
}
END_TEST

/* ---- series, values, reload ---- */

static int series_points;
static double series_sum;
static void on_point(void *ctx, int64_t start, double v)
{
    (void)ctx;
    (void)start;
    series_points++;
    series_sum += v;
}

START_TEST(test_series_and_reload)
{
    kj_config *cfg = base_config();
    kj_metrics *m;
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_metrics_begin(m);
    for (int i = 0; i < 5; i++) {
        kj_event ev =
            service_ev(T0 - i * KJ_HOUR_MS, "u1", "e1", "c1", 1000, 1000, KJ_OUTCOME_SERVED);
        kj_metrics_apply(m, &ev);
    }
    kj_metrics_commit(m);
    kj_scope_ref ref;
    char buf[160];
    ck_assert(kj_scope_parse("unit:u1", &ref, buf, sizeof buf));
    series_points = 0;
    series_sum = 0;
    ck_assert_int_eq(
        kj_metrics_series(m, &ref, KJ_M_SERVICES_COUNT, KJ_RES_HOUR, 0, INT64_MAX, on_point, NULL),
        KJ_OK);
    ck_assert_int_eq(series_points, 5);
    ck_assert(series_sum == 5);
    ck_assert(kj_scope_parse("counter:u1/c1", &ref, buf, sizeof buf));
    ck_assert_str_eq(ref.unit, "u1");
    ck_assert_str_eq(ref.id, "c1");
    ck_assert(!kj_scope_parse("counter:c1", &ref, buf, sizeof buf));
    ck_assert(!kj_scope_parse("floor:1", &ref, buf, sizeof buf));
    kj_metric mt;
    ck_assert(kj_metric_parse("services.wait_ms.p90", &mt));
    ck_assert_int_eq(mt, KJ_M_SERVICES_WAIT_P90);
    ck_assert(kj_metric_parse("ratings.ikm_elements.3", &mt));
    ck_assert_int_eq(mt, KJ_M_RATINGS_IKM_U1 + 2);
    ck_assert(!kj_metric_parse("services.wiat_ms.p90", &mt));

    /* reload: a new unit appears, the old state stays; a bad zone is refused */
    kj_config *next = base_config();
    static const char *m3[] = {"z1", NULL};
    add_unit(next, "u3", 1000, m3, NULL);
    ck_assert_int_eq(kj_metrics_set_config(m, next), KJ_OK);
    kj_config_free(cfg);
    ck_assert_int_eq((int)unit_services(m, "u1", "today"), 5);
    packed p;
    pack_snapshot(m, "u3", NULL, &p);
    ck_assert(at(&p.up.data, "members.z1") != NULL);
    packed_free(&p);
    kj_config *bad = base_config();
    free(bad->timezone);
    bad->timezone = strdup("Mars/Olympus");
    ck_assert_int_eq(kj_metrics_set_config(m, bad), KJ_ERR_CONFIG);
    kj_config_free(bad);
    ck_assert_int_eq((int)unit_services(m, "u1", "today"), 5);
    kj_metrics_free(m);
    kj_config_free(next);
}
END_TEST

/* ---- restarts at random against an engine that never restarts ---- */

typedef struct fz_pts {
    int n;
    int64_t s[8192];
    double v[8192];
} fz_pts;

static void fz_point(void *ctx, int64_t start, double v)
{
    fz_pts *p = ctx;
    if (p->n < 8192) {
        p->s[p->n] = start;
        p->v[p->n] = v;
    }
    p->n++;
}

static void fz_series_same(kj_metrics *a, kj_metrics *b, const char *what)
{
    static const char *scopes[] = {"unit:u1", "unit:u2", "employee:e1", "employee:e3",
                                   "counter:u1/c1"};
    static const kj_metric metrics[] = {KJ_M_SERVICES_COUNT, KJ_M_TASKS_COUNT,
                                        KJ_M_SERVICES_WAIT_P90};
    fz_pts *pa = malloc(sizeof *pa), *pb = malloc(sizeof *pb);
    for (size_t s = 0; s < sizeof scopes / sizeof *scopes; s++) {
        kj_scope_ref ref;
        char buf[160];
        ck_assert(kj_scope_parse(scopes[s], &ref, buf, sizeof buf));
        for (int res = 0; res < 3; res++) {
            for (size_t k = 0; k < sizeof metrics / sizeof *metrics; k++) {
                pa->n = pb->n = 0;
                kj_err ea =
                    kj_metrics_series(a, &ref, metrics[k], (kj_res)res, 0, INT64_MAX, fz_point, pa);
                kj_err eb =
                    kj_metrics_series(b, &ref, metrics[k], (kj_res)res, 0, INT64_MAX, fz_point, pb);
                ck_assert_int_eq(ea, eb);
                ck_assert_msg(pa->n == pb->n, "%s: %s res %d metric %d: %d points vs %d", what,
                              scopes[s], res, (int)metrics[k], pa->n, pb->n);
                for (int i = 0; i < pa->n && i < 8192; i++)
                    ck_assert_msg(pa->s[i] == pb->s[i] && pa->v[i] == pb->v[i],
                                  "%s: %s res %d metric %d point %d: (%lld %g) vs (%lld %g)", what,
                                  scopes[s], res, (int)metrics[k], i, (long long)pa->s[i], pa->v[i],
                                  (long long)pb->s[i], pb->v[i]);
            }
        }
    }
    free(pa);
    free(pb);
}

static void fz_expire(kj_metrics *m, table *t)
{
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (kj_metrics_key_expired(m, t->rows[i].key, t->rows[i].klen)) {
            free(t->rows[i].key);
            free(t->rows[i].val);
        } else {
            t->rows[w++] = t->rows[i];
        }
    }
    t->n = w;
}

static kj_event fz_event(int64_t now)
{
    kj_event ev = random_event(now);
    switch (rnd() % 8) {
    case 0:
        ev.ts = now + rnd_in(0, KJ_DAY_MS - KJ_MINUTE_MS);
        break; /* far future, within a day's skew */
    case 1:
    case 2:
    case 3: ev.ts = now + rnd_in(-3 * KJ_MINUTE_MS, 2 * KJ_MINUTE_MS); break;
    default: break;
    }
    if (ev.type == KJ_EV_TASK && ev.has_due) ev.due_ts = ev.ts + 1000;
    return ev;
}

/* An engine restarted at random (kill -9 at any group boundary, with or
 * without the last folds saved; a clean stop with its checkpoint, the save
 * before it done or failed; starts hours later), with rolled-back groups,
 * late events and events up to a day ahead, across Jakarta midnights and with
 * retention deleting keys, agrees with one that never restarts: snapshots,
 * and the minute, hour and day series. (Written by the review of the fold.) */
START_TEST(test_restart_fuzz)
{
    kj_config *cfg = base_config();
    cfg->max_clock_skew_ms = KJ_DAY_MS;
    kj_metrics *a, *r;
    table t = {0}, tr = {0};
    int64_t now = 1773162000000LL - 3 * KJ_HOUR_MS; /* 3 h before a Jakarta midnight */
    ck_assert_int_eq(kj_metrics_new(cfg, now, &a), KJ_OK);
    ck_assert_int_eq(kj_metrics_new(cfg, now, &r), KJ_OK);
    char what[64];
    for (int round = 0; round < 400; round++) {
        switch (rnd() % 10) {
        case 0: now += rnd_in(0, 3 * KJ_HOUR_MS); break;
        case 1: now += rnd_in(0, 10 * KJ_MINUTE_MS); break;
        default: now += rnd_in(0, 70000); break;
        }
        kj_metrics_tick(a, now);
        kj_metrics_tick(r, now);
        if (kj_metrics_pending(r)) group(r, &tr, NULL, 0);
        if (rnd() % 3 && kj_metrics_pending(a)) group(a, &t, NULL, 0);
        kj_event evs[30];
        size_t n = (size_t)rnd_in(0, 30);
        for (size_t i = 0; i < n; i++)
            evs[i] = fz_event(now);
        if (rnd() % 6 == 0 && n) { /* a failed group */
            kj_metrics_begin(a);
            for (size_t i = 0; i < n; i++)
                kj_metrics_apply(a, &evs[i]);
            table junk = {0};
            kj_metrics_sink sink = {&junk, table_put, table_alert};
            kj_metrics_each_dirty(a, &sink);
            kj_metrics_rollback(a);
            table_free(&junk);
        }
        group(a, &t, evs, n);
        group(r, &tr, evs, n);
        if (rnd() % 5 == 0) fz_expire(a, &t);
        int what_now = (int)(rnd() % 12);
        if (what_now == 0) { /* kill -9 */
            kj_metrics_free(a);
            a = load_table(cfg, &t, now, NULL);
            snprintf(what, sizeof what, "round %d crash", round);
        } else if (what_now == 1) {              /* clean stop, start a while later */
            now += rnd_in(0, 90 * KJ_MINUTE_MS); /* the last tick before the stop */
            kj_metrics_tick(a, now);
            kj_metrics_tick(r, now);
            if (kj_metrics_pending(r)) group(r, &tr, NULL, 0);
            if (rnd() % 2 && kj_metrics_pending(a)) group(a, &t, NULL, 0); /* else: failed */
            kj_metrics_sink sink = {&t, table_put, NULL};
            ck_assert_int_eq(kj_metrics_checkpoint(a, &sink), KJ_OK);
            kj_metrics_free(a);
            now += rnd_in(0, 2 * KJ_HOUR_MS);
            a = load_table(cfg, &t, now, NULL);
            kj_metrics_tick(r, now);
            if (kj_metrics_pending(r)) group(r, &tr, NULL, 0);
            snprintf(what, sizeof what, "round %d checkpoint", round);
        } else if (what_now == 2) { /* crash, start a while later */
            kj_metrics_free(a);
            now += rnd_in(0, 2 * KJ_HOUR_MS);
            a = load_table(cfg, &t, now, NULL);
            kj_metrics_tick(r, now);
            if (kj_metrics_pending(r)) group(r, &tr, NULL, 0);
            snprintf(what, sizeof what, "round %d late crash", round);
        } else {
            snprintf(what, sizeof what, "round %d", round);
        }
        assert_same_state(a, r);
        fz_series_same(a, r, what);
    }
    kj_metrics_free(a);
    kj_metrics_free(r);
    table_free(&t);
    table_free(&tr);
    kj_config_free(cfg);
}
END_TEST

/* ---- the queue (SPEC §13) ---- */

static kj_event ticket_ev(int64_t ts, const char *ticket, kj_ticket_state st, const char *service)
{
    kj_event ev = base_event(KJ_EV_TICKET, ts, "u1", NULL, NULL);
    snprintf(ev.ticket, sizeof ev.ticket, "%s", ticket);
    snprintf(ev.service, sizeof ev.service, "%s", service);
    ev.ticket_state = st;
    return ev;
}

/* waiting, expired_today, issued_today, called_today, cancelled_today and
 * oldest_issued_ts (0: nil) of u1's queue. */
static void assert_queue(kj_metrics *m, const int64_t want[6], const char *what)
{
    static const char *const f[] = {"waiting",      "expired_today",   "issued_today",
                                    "called_today", "cancelled_today", "oldest_issued_ts"};
    packed p;
    pack_snapshot(m, "u1", NULL, &p);
    for (int i = 0; i < 6; i++) {
        char path[64];
        snprintf(path, sizeof path, "unit_metrics.queue.%s", f[i]);
        const msgpack_object *o = at(&p.up.data, path);
        int64_t got = is_nil(o) ? 0 : (int64_t)num(o, path);
        ck_assert_msg(got == want[i], "%s: %s = %lld, want %lld", what, f[i], (long long)got,
                      (long long)want[i]);
    }
    packed_free(&p);
}

static void count_note(void *ctx, const kj_queue_note *n)
{
    *(uint32_t *)ctx += n->count;
}

/* The bound (a closed ticket makes room first, then the one waiting longest
 * expires), a rollback, a reload from the stored keys, and local midnight. */
START_TEST(test_queue_bound_reload_midnight)
{
    kj_config *cfg = base_config();
    cfg->max_open_tickets = 4;
    kj_metrics *m;
    table t = {0};
    ck_assert_int_eq(kj_metrics_new(cfg, T0, &m), KJ_OK);
    kj_metrics_tick(m, T0);
    kj_event evs[] = {
        ticket_ev(T0 - 30 * KJ_MINUTE_MS, "A1", KJ_TICKET_ISSUED, "ktp"),
        ticket_ev(T0 - 25 * KJ_MINUTE_MS, "A2", KJ_TICKET_CALLED, ""),   /* before its issued: */
        ticket_ev(T0 - 20 * KJ_MINUTE_MS, "A2", KJ_TICKET_ISSUED, "kk"), /* waiting again */
        ticket_ev(T0 - 10 * KJ_MINUTE_MS, "A3", KJ_TICKET_ISSUED, "ktp"),
        ticket_ev(T0 - 5 * KJ_MINUTE_MS, "A3", KJ_TICKET_CANCELLED, ""),
        ticket_ev(T0 - 40 * KJ_MINUTE_MS, "A4", KJ_TICKET_ISSUED, "ktp"),
    };
    group(m, &t, evs, 6);
    assert_queue(m, (int64_t[]){3, 0, 4, 1, 1, T0 - 40 * KJ_MINUTE_MS}, "four tickets");
    kj_event more[] = {ticket_ev(T0 - KJ_MINUTE_MS, "A5", KJ_TICKET_ISSUED, "ktp"),
                       ticket_ev(T0 - 2 * KJ_MINUTE_MS, "A6", KJ_TICKET_ISSUED, "ktp")};
    group(m, &t, more, 1); /* A3, closed, leaves the table; its counts stay */
    assert_queue(m, (int64_t[]){4, 0, 5, 1, 1, T0 - 40 * KJ_MINUTE_MS}, "at the bound");
    group(m, &t, more + 1, 1); /* A4, waiting longest, expires */
    assert_queue(m, (int64_t[]){4, 1, 6, 1, 1, T0 - 30 * KJ_MINUTE_MS}, "beyond the bound");
    uint32_t notes = 0;
    kj_metrics_take_queue_notes(m, count_note, &notes);
    ck_assert_uint_eq(notes, 1);

    kj_event dropped = ticket_ev(T0 - 50 * KJ_MINUTE_MS, "A7", KJ_TICKET_ISSUED, "");
    kj_metrics_begin(m);
    ck_assert_int_eq(kj_metrics_apply(m, &dropped), KJ_OK);
    kj_metrics_rollback(m);
    assert_queue(m, (int64_t[]){4, 1, 6, 1, 1, T0 - 30 * KJ_MINUTE_MS}, "after a rollback");

    kj_metrics *b = load_table(cfg, &t, T0, NULL);
    assert_queue(b, (int64_t[]){4, 1, 6, 1, 1, T0 - 30 * KJ_MINUTE_MS}, "reloaded");
    kj_metrics_free(b);

    /* Asia/Jakarta's midnight after T0 (10:30 local) */
    int64_t midnight = ((T0 + JKT_OFF) / KJ_DAY_MS + 1) * KJ_DAY_MS - JKT_OFF;
    kj_metrics_tick(m, midnight + 1000);
    notes = 0;
    kj_metrics_take_queue_notes(m, count_note, &notes);
    ck_assert_uint_eq(notes, 4);
    assert_queue(m, (int64_t[]){0, 0, 0, 0, 0, 0}, "after midnight");
    kj_event late = ticket_ev(midnight - KJ_MINUTE_MS, "A8", KJ_TICKET_ISSUED, "");
    group(m, &t, &late, 1); /* yesterday's: expired already */
    assert_queue(m, (int64_t[]){0, 0, 0, 0, 0, 0}, "a late ticket of yesterday");
    b = load_table(cfg, &t, midnight + 1000, NULL);
    assert_queue(b, (int64_t[]){0, 0, 0, 0, 0, 0}, "reloaded after midnight");
    size_t expired = 0;
    for (size_t i = 0; i < t.n; i++)
        expired +=
            t.rows[i].key[0] == 'Q' && kj_metrics_key_expired(b, t.rows[i].key, t.rows[i].klen);
    ck_assert_uint_eq(expired, 6); /* yesterday's tickets A1-A6 */
    kj_metrics_free(b);
    table_free(&t);
    kj_metrics_free(m);
    kj_config_free(cfg);
}
END_TEST

/* bad_days and needs_coaching of u1's overview row. */
static void assert_coaching(kj_metrics *m, uint32_t bad_days, bool needs, const char *what)
{
    packed p;
    msgpack_sbuffer_init(&p.sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p.sb, msgpack_sbuffer_write);
    ck_assert_int_eq(kj_metrics_pack_overview_row(m, "u1", &pk), KJ_OK);
    unpack(&p);
    const msgpack_object *nc = at(&p.up.data, "needs_coaching");
    ck_assert_msg((uint32_t)num(at(&p.up.data, "bad_days"), "bad_days") == bad_days,
                  "%s: bad_days %g, want %u", what, num(at(&p.up.data, "bad_days"), "bad_days"),
                  bad_days);
    ck_assert_msg(nc && nc->type == MSGPACK_OBJECT_BOOLEAN && nc->via.boolean == needs,
                  "%s: needs_coaching", what);
    packed_free(&p);
}

/* The daily ledger: a record per unit and day at local midnight, kept across
 * a restart; a 7d indicator's run comes from it, a today indicator's from
 * the day buckets; a good day ends the run. */
START_TEST(test_ledger_across_midnights_and_restart)
{
    for (int window = 0; window < 2; window++) {
        kj_config *cfg = base_config();
        add_indicator(cfg, "wait", "services.wait_ms.max", window ? KJ_WIN_TODAY : KJ_WIN_7D, 1000,
                      KJ_BETTER_LOWER);
        cfg->indicators[0].for_employee = false;
        kj_metrics *m;
        table t = {0};
        int64_t now = T0 - 5 * KJ_DAY_MS;
        ck_assert_int_eq(kj_metrics_new(cfg, now, &m), KJ_OK);
        kj_metrics_tick(m, now);
        for (int d = 0; d < 4; d++) { /* four bad days, each at 10:30 local */
            kj_event ev = service_ev(now, "u1", "e1", "c1", 5000, 1000, KJ_OUTCOME_SERVED);
            group(m, &t, &ev, 1);
            now += KJ_DAY_MS;
            kj_metrics_tick(m, now);
            group(m, &t, NULL, 0); /* the ledger's record is stored by the next group */
        }
        size_t records = 0;
        for (size_t i = 0; i < t.n; i++)
            records += t.rows[i].key[0] == 'L' && !memcmp(t.rows[i].key + 1, "u1", 3);
        ck_assert_uint_eq(records, 4);
        /* the 7d window still holds the bad days: the day's own status is bad
         * too, so the run counts every ended day */
        assert_coaching(m, 4, true, window ? "today" : "7d");
        kj_metrics *b = load_table(cfg, &t, now, NULL);
        assert_coaching(b, 4, true, "after a restart");
        kj_metrics_free(b);
        cfg->coaching_after_days = 5;
        assert_coaching(m, 4, false, "coaching_after_days 5");
        kj_metrics_free(m);
        table_free(&t);
        kj_config_free(cfg);
    }
}
END_TEST

/* A good day ends a run (today's indicator, from the day buckets). */
START_TEST(test_ledger_good_day_ends_the_run)
{
    kj_config *cfg = base_config();
    add_indicator(cfg, "wait", "services.wait_ms.max", KJ_WIN_TODAY, 1000, KJ_BETTER_LOWER);
    kj_metrics *m;
    table t = {0};
    int64_t now = T0 - 5 * KJ_DAY_MS;
    ck_assert_int_eq(kj_metrics_new(cfg, now, &m), KJ_OK);
    kj_metrics_tick(m, now);
    int64_t waits[] = {5000, 5000, 500, 5000}; /* bad, bad, ok, bad */
    for (int d = 0; d < 4; d++) {
        kj_event ev = service_ev(now, "u1", "e1", "c1", waits[d], 1000, KJ_OUTCOME_SERVED);
        group(m, &t, &ev, 1);
        now += KJ_DAY_MS;
        kj_metrics_tick(m, now);
    }
    assert_coaching(m, 1, false, "bad, bad, ok, bad");
    now += 2 * KJ_DAY_MS; /* two days without data do not end a run */
    kj_metrics_tick(m, now);
    assert_coaching(m, 1, false, "then two empty days");
    kj_metrics_free(m);
    table_free(&t);
    kj_config_free(cfg);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fields_random);
    tcase_add_test(tc, test_fields_ticking);
    tcase_add_test(tc, test_edge_15m);
    tcase_add_test(tc, test_edge_midnight_jakarta);
    tcase_add_test(tc, test_late_and_future);
    tcase_add_test(tc, test_tick_without_events);
    tcase_add_test(tc, test_ikm_exact);
    tcase_add_test(tc, test_ikm_score_only_and_elements);
    tcase_add_test(tc, test_presence_latest_by_ts);
    tcase_add_test(tc, test_snapshot_shape);
    tcase_add_test(tc, test_update_frame);
    tcase_add_test(tc, test_rollback_restores);
    tcase_add_test(tc, test_persistence_round_trip);
    tcase_add_test(tc, test_keys_and_retention);
    tcase_add_test(tc, test_load_skips_a_corrupt_bucket);
    tcase_add_test(tc, test_checkpoint_round_trip);
    tcase_add_test(tc, test_fold_survives_a_crash);
    tcase_add_test(tc, test_presence_any_arrival_order);
    tcase_add_test(tc, test_serving_history_at_its_bound);
    tcase_add_test(tc, test_presence_history_bound);
    tcase_add_test(tc, test_tz_against_libc);
    tcase_add_test(tc, test_tz_refuses_wild_offsets);
    tcase_add_test(tc, test_series_and_reload);
    tcase_add_test(tc, test_restart_fuzz);
    tcase_add_test(tc, test_queue_bound_reload_midnight);
    tcase_add_test(tc, test_ledger_across_midnights_and_restart);
    tcase_add_test(tc, test_ledger_good_day_ends_the_run);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(metrics_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
