/* The msgpack objects and frames of SPEC §7, and series reads; the values
 * they carry come from values.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"

#include "../proto/codec.h"
#include "eval.h"
#include "feedback.h"
#include "metrics_fold.h"
#include "metrics_queue.h"
#include "presence.h"
#include "values.h"

bool kj_scope_parse(const char *s, kj_scope_ref *ref, char *buf, size_t buflen)
{
    static const struct {
        const char *prefix;
        kj_scope_kind kind;
    } kinds[] = {
        {"unit:", KJ_SCOPE_UNIT}, {"employee:", KJ_SCOPE_EMPLOYEE}, {"counter:", KJ_SCOPE_COUNTER}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncmp(s, kinds[i].prefix, n)) continue;
        if (strlen(s + n) + 1 > buflen) return false;
        strcpy(buf, s + n);
        char *slash = strchr(buf, '/');
        if ((kinds[i].kind == KJ_SCOPE_COUNTER) != (slash != NULL)) return false;
        ref->kind = kinds[i].kind;
        ref->unit = kinds[i].kind == KJ_SCOPE_EMPLOYEE ? NULL : buf;
        ref->id = buf;
        if (slash) {
            *slash = '\0';
            ref->id = slash + 1;
        }
        return kj_id_valid(ref->id, strlen(ref->id)) &&
               (!ref->unit || kj_id_valid(ref->unit, strlen(ref->unit)));
    }
    return false;
}

/* ---- series ---- */

/* The hour or day buckets that pending minutes of sc fall in, after `after`,
 * ascending (at most max: the clock skew bounds them to a day's worth). */
static size_t pending_buckets(kj_metrics *m, kj_scope *sc, kj_res res, int32_t after, int32_t *out,
                              size_t max)
{
    size_t n = 0;
    for (unsigned i = 0; i < sc->n_open; i++) {
        const open_bucket *ob = &sc->open[i];
        if (ob->res != KJ_RES_MINUTE || ob->start < m->fold_min) continue;
        int32_t b = kj_m_bucket_of(m, res, kj_m_bucket_ms(KJ_RES_MINUTE, ob->start));
        size_t at = n;
        while (at > 0 && out[at - 1] > b)
            at--;
        if (b <= after || (at > 0 && out[at - 1] == b) || n == max) continue;
        memmove(&out[at + 1], &out[at], (n - at) * sizeof *out);
        out[at] = b;
        n++;
    }
    return n;
}

static int64_t start_ms(const kj_metrics *m, kj_res res, int32_t bucket)
{
    return res == KJ_RES_DAY ? kj_tz_day_start(m->tz, bucket) : kj_m_bucket_ms(res, bucket);
}

/* One point: the bucket's stored aggregate in a, with its pending minutes. */
static void series_point(kj_metrics *m, kj_scope *sc, kj_res res, int32_t bucket, kj_agg *a,
                         kj_metric metric, kj_series_fn fn, void *ctx)
{
    double v;
    if (res != KJ_RES_MINUTE) kj_m_pending(m, sc, res, bucket, a, kj_metric_hists(metric));
    if (kj_metric_value(a, (double)kj_res_ms(res) / (double)KJ_HOUR_MS, metric, &v))
        fn(ctx, start_ms(m, res, bucket), v);
}

kj_err kj_metrics_series(kj_metrics *m, const kj_scope_ref *ref, kj_metric metric, kj_res res,
                         int64_t from, int64_t to, kj_series_fn fn, void *ctx)
{
    kj_scope *sc = kj_m_find_ref(m, ref);
    if (!sc) return KJ_ERR_NOT_FOUND;
    if ((unsigned)res >= KJ_RES_COUNT || (unsigned)metric >= KJ_M_COUNT) return KJ_ERR_INVALID;
    series_rec rec;
    uint32_t off = 0;
    int32_t last = INT32_MIN;
    kj_agg a = {0};
    while (kj_series_next(&sc->ser[res], &off, &rec)) {
        int64_t start = start_ms(m, (int)res, rec.start);
        last = rec.start;
        if (start < from || start >= to || kj_agg_decode(&a, rec.data, rec.len)) continue;
        series_point(m, sc, (int)res, rec.start, &a, metric, fn, ctx);
    }
    /* hours and days so far only in pending minutes: none is older than a
     * stored bucket (later ones exist only as pending minutes) */
    int32_t more[64];
    size_t n = res == KJ_RES_MINUTE ? 0 : pending_buckets(m, sc, (int)res, last, more, 64);
    for (size_t i = 0; i < n; i++) {
        int64_t start = start_ms(m, (int)res, more[i]);
        if (start < from || start >= to) continue;
        kj_agg_reset(&a);
        series_point(m, sc, (int)res, more[i], &a, metric, fn, ctx);
    }
    kj_agg_reset(&a);
    return KJ_OK;
}

/* ---- msgpack ---- */

static void pack_ratio(msgpack_packer *pk, uint64_t num, uint64_t den, double scale)
{
    double v;
    if (kj_metric_ratio(num, den, scale, &v))
        msgpack_pack_double(pk, v);
    else
        msgpack_pack_nil(pk);
}

static void pack_durations(msgpack_packer *pk, const kj_hist *h)
{
    if (!kj_hist_count(h)) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 4);
    kj_pack_str(pk, "avg");
    msgpack_pack_double(pk, (double)kj_hist_sum(h) / (double)kj_hist_count(h));
    kj_pack_str(pk, "p50");
    msgpack_pack_int64(pk, kj_hist_percentile(h, 50));
    kj_pack_str(pk, "p90");
    msgpack_pack_int64(pk, kj_hist_percentile(h, 90));
    kj_pack_str(pk, "max");
    msgpack_pack_int64(pk, kj_hist_max(h));
}

static void pack_tasks(msgpack_packer *pk, const kj_agg_tasks *t)
{
    msgpack_pack_map(pk, 4);
    kj_pack_str(pk, "count");
    msgpack_pack_uint64(pk, t->count);
    kj_pack_str(pk, "on_time_pct");
    pack_ratio(pk, t->on_time, t->due_n, 100);
    kj_pack_str(pk, "quality_avg");
    pack_ratio(pk, t->quality_sum, t->quality_n, 1);
    kj_pack_str(pk, "duration_ms");
    pack_durations(pk, &t->duration);
}

static void pack_services(msgpack_packer *pk, const kj_agg_services *s, double hours)
{
    msgpack_pack_map(pk, 6);
    kj_pack_str(pk, "count");
    msgpack_pack_uint64(pk, s->count);
    kj_pack_str(pk, "no_show");
    msgpack_pack_uint64(pk, s->no_show);
    kj_pack_str(pk, "sla_pct");
    pack_ratio(pk, s->sla_ok, s->count, 100);
    kj_pack_str(pk, "per_hour");
    msgpack_pack_double(pk, (double)s->count / hours);
    kj_pack_str(pk, "wait_ms");
    pack_durations(pk, &s->wait);
    kj_pack_str(pk, "service_ms");
    pack_durations(pk, &s->service);
}

static void pack_ratings(msgpack_packer *pk, const kj_agg_ratings *r)
{
    int64_t centi;
    char grade;
    bool has_ikm = kj_ikm(r->ikm_sum, r->cit_n, &centi, &grade);
    msgpack_pack_map(pk, 7);
    kj_pack_str(pk, "count");
    msgpack_pack_uint64(pk, r->cit_n);
    kj_pack_str(pk, "avg");
    pack_ratio(pk, r->cit_sum, r->cit_n, 1);
    kj_pack_str(pk, "ikm");
    if (has_ikm)
        msgpack_pack_double(pk, (double)centi / 100.0);
    else
        msgpack_pack_nil(pk);
    kj_pack_str(pk, "ikm_grade");
    if (has_ikm) {
        msgpack_pack_str(pk, 1);
        msgpack_pack_str_body(pk, &grade, 1);
    } else {
        msgpack_pack_nil(pk);
    }
    kj_pack_str(pk, "ikm_elements");
    if (r->elem_n) {
        msgpack_pack_array(pk, KJ_ELEMENTS);
        for (int i = 0; i < KJ_ELEMENTS; i++)
            msgpack_pack_double(pk, (double)kj_ikm_element(r->elem_sum[i], r->elem_n) / 100.0);
    } else {
        msgpack_pack_nil(pk);
    }
    kj_pack_str(pk, "peer_avg");
    pack_ratio(pk, r->peer_sum, r->peer_n, 1);
    kj_pack_str(pk, "supervisor_avg");
    pack_ratio(pk, r->sup_sum, r->sup_n, 1);
}

static void pack_window(msgpack_packer *pk, const kj_agg *a, double hours)
{
    msgpack_pack_map(pk, 3);
    kj_pack_str(pk, "tasks");
    if (a && a->tasks)
        pack_tasks(pk, a->tasks);
    else
        msgpack_pack_nil(pk);
    kj_pack_str(pk, "services");
    if (a && a->services)
        pack_services(pk, a->services, hours);
    else
        msgpack_pack_nil(pk);
    kj_pack_str(pk, "ratings");
    if (a && a->ratings)
        pack_ratings(pk, a->ratings);
    else
        msgpack_pack_nil(pk);
}

static void pack_presence(msgpack_packer *pk, const presence *p)
{
    if (!p || p->cur.last.state < 0) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 3);
    kj_pack_str(pk, "state");
    kj_pack_str(pk, kj_presence_name((kj_presence_state)p->cur.last.state));
    kj_pack_str(pk, "since");
    msgpack_pack_int64(pk, p->cur.since);
    kj_pack_str(pk, "counter");
    if (p->cur.last.counter)
        kj_pack_str(pk, p->cur.last.counter->id);
    else
        msgpack_pack_nil(pk);
}

static void pack_serving(msgpack_packer *pk, const serving *s)
{
    if (!s || !s->cur.employee) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 2);
    kj_pack_str(pk, "employee");
    kj_pack_str(pk, s->cur.employee->id);
    kj_pack_str(pk, "since");
    msgpack_pack_int64(pk, s->cur.since);
}

/* mb: the member whose object this is (its feedback is packed), or NULL. */
static void pack_scope(kj_metrics *m, kj_scope *sc, const member *mb, msgpack_packer *pk)
{
    msgpack_pack_map(pk, KJ_WIN_COUNT + 1 + (mb != NULL));
    if (mb) {
        kj_pack_str(pk, "feedback");
        kj_fb_pack(m, mb, pk);
    }
    for (int w = 0; w < KJ_WIN_COUNT; w++) {
        kj_pack_str(pk, kj_window_name((kj_window)w));
        pack_window(pk, kj_m_window(m, sc, (kj_window)w), kj_m_window_hours(m, (kj_window)w));
    }
    if (sc->kind == KJ_SCOPE_EMPLOYEE) {
        kj_pack_str(pk, "presence");
        pack_presence(pk, sc->pres);
    } else if (sc->kind == KJ_SCOPE_COUNTER) {
        kj_pack_str(pk, "serving");
        pack_serving(pk, sc->serv);
    } else {
        kj_pack_str(pk, "queue");
        kj_mq_pack(m, sc->unit, pk);
    }
}

kj_err kj_metrics_pack_scope(kj_metrics *m, const kj_scope_ref *ref, msgpack_packer *pk)
{
    kj_scope *sc = kj_m_find_ref(m, ref);
    if (!sc) return KJ_ERR_NOT_FOUND;
    pack_scope(m, sc, NULL, pk);
    return KJ_OK;
}

static void pack_head(kj_metrics *m, const char *op, kj_unit *u, uint64_t seq, size_t pairs,
                      msgpack_packer *pk)
{
    msgpack_pack_map(pk, 4 + pairs);
    kj_pack_str(pk, "op");
    kj_pack_str(pk, op);
    kj_pack_str(pk, "unit");
    kj_pack_str(pk, u->sc->id);
    kj_pack_str(pk, "seq");
    msgpack_pack_uint64(pk, seq);
    kj_pack_str(pk, "at");
    msgpack_pack_int64(pk, m->now);
}

static bool member_shown(const member *mb, const char *only_employee, bool changed_only)
{
    if (only_employee && strcmp(mb->sc->id, only_employee)) return false;
    return !changed_only || (mb->sc->flags & SC_CHANGED);
}

static void pack_members(kj_metrics *m, kj_unit *u, const char *only, bool changed_only,
                         msgpack_packer *pk)
{
    size_t n = 0;
    for (size_t i = 0; i < u->n_members; i++)
        n += member_shown(&u->members[i], only, changed_only);
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < u->n_members; i++) {
        if (!member_shown(&u->members[i], only, changed_only)) continue;
        kj_pack_str(pk, u->members[i].sc->id);
        pack_scope(m, u->members[i].sc, &u->members[i], pk);
    }
}

static void pack_counters(kj_metrics *m, kj_unit *u, bool changed_only, msgpack_packer *pk)
{
    size_t n = 0;
    for (size_t i = 0; i < u->n_counters; i++)
        n += !changed_only || (u->counters[i]->flags & SC_CHANGED);
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < u->n_counters; i++) {
        if (changed_only && !(u->counters[i]->flags & SC_CHANGED)) continue;
        kj_pack_str(pk, u->counters[i]->id);
        pack_scope(m, u->counters[i], NULL, pk);
    }
}

kj_err kj_metrics_pack_snapshot(kj_metrics *m, const char *unit_id, uint64_t seq,
                                const char *only_employee, msgpack_packer *pk)
{
    kj_scope *usc = kj_m_find(m, KJ_SCOPE_UNIT, unit_id, unit_id);
    if (!usc) return KJ_ERR_NOT_FOUND;
    kj_unit *u = usc->unit;
    pack_head(m, "snapshot", u, seq, 7, pk);
    /* where "today" starts, so that a dashboard in another time zone draws
     * the same day (its hours, its midnight) as the metrics count it */
    kj_pack_str(pk, "timezone");
    kj_pack_str(pk, m->cfg && m->cfg->timezone ? m->cfg->timezone : "Asia/Jakarta");
    kj_pack_str(pk, "today_start");
    msgpack_pack_int64(pk, kj_metrics_today_start(m));
    kj_pack_str(pk, "unit_metrics");
    if (only_employee)
        msgpack_pack_nil(pk);
    else
        pack_scope(m, usc, NULL, pk);
    kj_pack_str(pk, "members");
    pack_members(m, u, only_employee, false, pk);
    kj_pack_str(pk, "counters");
    if (only_employee)
        msgpack_pack_map(pk, 0);
    else
        pack_counters(m, u, false, pk);
    kj_pack_str(pk, "indicators");
    kj_ind_pack(m, u, only_employee, pk);
    kj_pack_str(pk, "alerts");
    kj_ind_pack_alerts(m, u, only_employee, pk);
    return KJ_OK;
}

const char *kj_changes_unit(const kj_changes *ch)
{
    return ch->u->sc->id;
}

bool kj_changes_has_employee(const kj_changes *ch, const char *employee)
{
    for (size_t i = 0; i < ch->u->n_members; i++)
        if (member_shown(&ch->u->members[i], employee, true)) return true;
    return false;
}

static bool any_counter_changed(const kj_unit *u)
{
    for (size_t i = 0; i < u->n_counters; i++)
        if (u->counters[i]->flags & SC_CHANGED) return true;
    return false;
}

void kj_metrics_pack_update(kj_metrics *m, const kj_changes *ch, uint64_t seq,
                            const char *only_employee, msgpack_packer *pk)
{
    kj_unit *u = ch->u;
    bool unit_part = !only_employee && (u->sc->flags & SC_CHANGED);
    bool members = kj_changes_has_employee(ch, only_employee);
    bool counters = !only_employee && any_counter_changed(u);
    pack_head(m, "update", u, seq, 1 + unit_part + members + counters, pk);
    if (unit_part) {
        kj_pack_str(pk, "unit_metrics");
        pack_scope(m, u->sc, NULL, pk);
    }
    if (members) {
        kj_pack_str(pk, "members");
        pack_members(m, u, only_employee, true, pk);
    }
    if (counters) {
        kj_pack_str(pk, "counters");
        pack_counters(m, u, true, pk);
    }
    kj_pack_str(pk, "indicators");
    kj_ind_pack(m, u, only_employee, pk);
}

void kj_metrics_take_changes(kj_metrics *m, kj_changes_ready_fn ready, kj_changes_fn fn, void *ctx)
{
    kj_unit **cu = m->changed_units.items;
    for (size_t i = 0; i < m->changed_units.n; i++) {
        if (ready && !ready(ctx, cu[i]->sc->id)) continue;
        kj_changes ch = {m, cu[i]};
        fn(ctx, &ch);
        cu[i]->changed = false; /* taken: its flags are cleared below */
    }
    /* Flags cleared after every callback: an employee listed in two units
     * stays changed for the second. */
    size_t kept = 0;
    for (size_t i = 0; i < m->changed_units.n; i++) {
        kj_unit *u = cu[i];
        if (u->changed) {
            cu[kept++] = u;
            continue;
        }
        u->sc->flags &= (uint8_t)~SC_CHANGED;
        for (size_t j = 0; j < u->n_members; j++)
            u->members[j].sc->flags &= (uint8_t)~SC_CHANGED;
        for (size_t j = 0; j < u->n_counters; j++)
            u->counters[j]->flags &= (uint8_t)~SC_CHANGED;
    }
    m->changed_units.n = kept;
}

/* ---- the directory ---- */

static const char *name_in(const kj_named *list, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i].id, id)) return list[i].name ? list[i].name : id;
    return id;
}

static void pack_named(msgpack_packer *pk, const char *id, const char *name)
{
    msgpack_pack_map(pk, 2);
    kj_pack_str(pk, "id");
    kj_pack_str(pk, id);
    kj_pack_str(pk, "name");
    kj_pack_str(pk, name);
}

static void pack_unit_entry(kj_metrics *m, kj_unit *u, msgpack_packer *pk)
{
    const kj_unit_conf *uc = m->cfg ? kj_config_unit(m->cfg, u->sc->id) : NULL;
    msgpack_pack_map(pk, 4);
    kj_pack_str(pk, "id");
    kj_pack_str(pk, u->sc->id);
    kj_pack_str(pk, "name");
    kj_pack_str(pk, uc && uc->name ? uc->name : u->sc->id);
    kj_pack_str(pk, "members");
    msgpack_pack_array(pk, u->n_members);
    for (size_t i = 0; i < u->n_members; i++) {
        const char *id = u->members[i].sc->id;
        pack_named(pk, id, uc ? name_in(uc->members, uc->n_members, id) : id);
    }
    kj_pack_str(pk, "counters");
    msgpack_pack_array(pk, u->n_counters);
    for (size_t i = 0; i < u->n_counters; i++) {
        const char *id = u->counters[i]->id;
        pack_named(pk, id, uc ? name_in(uc->counters, uc->n_counters, id) : id);
    }
}

void kj_metrics_pack_units(kj_metrics *m, msgpack_packer *pk)
{
    size_t n;
    kj_unit **list = kj_m_units_sorted(m, &n);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        pack_unit_entry(m, list[i], pk);
    free(list);
}
