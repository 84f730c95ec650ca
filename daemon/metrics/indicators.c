/* Indicators: judgements (pure), alerts on the wire, and their evaluation
 * over the metrics engine's scopes. */
#include "indicators.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "alerts.h"
#include "metrics_int.h"
#include "tzclock.h"

static const char *const status_names[] = {"none", "ok", "warn", "bad"};

const char *kj_status_name(kj_status s)
{
    return (unsigned)s <= KJ_STATUS_BAD ? status_names[s] : "?";
}

bool kj_status_parse(const char *s, size_t len, kj_status *out)
{
    for (int i = 0; i <= KJ_STATUS_BAD; i++) {
        if (strlen(status_names[i]) != len || memcmp(s, status_names[i], len)) continue;
        *out = (kj_status)i;
        return true;
    }
    return false;
}

kj_status kj_indicator_status(kj_better better, double target, double warn_margin, bool has_value,
                              double value)
{
    if (!has_value || isnan(value)) return KJ_STATUS_NONE;
    double eps = 1e-9 * fmax(1.0, fabs(target));
    double band = (warn_margin > 0 ? warn_margin : 0) * fabs(target);
    if (better == KJ_BETTER_HIGHER) {
        if (value >= target - eps) return KJ_STATUS_OK;
        return value >= target - band - eps ? KJ_STATUS_WARN : KJ_STATUS_BAD;
    }
    if (value <= target + eps) return KJ_STATUS_OK;
    return value <= target + band + eps ? KJ_STATUS_WARN : KJ_STATUS_BAD;
}

bool kj_indicator_for_unit(const kj_indicator_conf *ic, const char *unit)
{
    if (ic->all_units) return true;
    for (size_t i = 0; i < ic->n_units; i++)
        if (!strcmp(ic->units[i], unit)) return true;
    return false;
}

double kj_indicator_target(const kj_indicator_conf *ic, const char *employee)
{
    for (size_t i = 0; employee && i < ic->n_overrides; i++)
        if (!strcmp(ic->overrides[i].employee, employee)) return ic->overrides[i].target;
    return ic->target;
}

/* ---- msgpack ---- */

static void pack_number(msgpack_packer *pk, bool has, double v)
{
    if (!has)
        msgpack_pack_nil(pk);
    else if (v == floor(v) && fabs(v) < 9e15)
        msgpack_pack_int64(pk, (int64_t)v); /* counts and ms stay integers on the wire */
    else
        msgpack_pack_double(pk, v);
}

static void pack_str_or_nil(msgpack_packer *pk, const char *s)
{
    if (s && s[0])
        kj_pack_str(pk, s);
    else
        msgpack_pack_nil(pk);
}

static void pack_ack_fields(const kj_alert *a, msgpack_packer *pk)
{
    kj_pack_str(pk, "acked_by");
    pack_str_or_nil(pk, a->acked_by);
    kj_pack_str(pk, "acked_at");
    msgpack_pack_int64(pk, a->acked_at);
    kj_pack_str(pk, "note");
    pack_str_or_nil(pk, a->note);
}

void kj_alert_pack(const kj_alert *a, bool frame, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 9 + frame + a->escalated + 3 * a->acked);
    if (frame) {
        kj_pack_str(pk, "op");
        kj_pack_str(pk, "alert");
    }
    kj_pack_str(pk, "id");
    kj_pack_str(pk, a->id);
    kj_pack_str(pk, "unit");
    kj_pack_str(pk, a->unit);
    kj_pack_str(pk, "at");
    msgpack_pack_int64(pk, a->at);
    kj_pack_str(pk, "indicator");
    kj_pack_str(pk, a->indicator);
    kj_pack_str(pk, "scope");
    kj_pack_str(pk, a->scope);
    kj_pack_str(pk, "from");
    kj_pack_str(pk, kj_status_name(a->from));
    kj_pack_str(pk, "to");
    kj_pack_str(pk, kj_status_name(a->to));
    kj_pack_str(pk, "value");
    pack_number(pk, a->has_value, a->value);
    kj_pack_str(pk, "target");
    pack_number(pk, true, a->target);
    if (a->escalated) {
        kj_pack_str(pk, "escalated");
        msgpack_pack_true(pk);
    }
    if (a->acked) pack_ack_fields(a, pk);
}

void kj_alert_pack_ack(const kj_alert *a, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 6);
    kj_pack_str(pk, "op");
    kj_pack_str(pk, "alert_ack");
    kj_pack_str(pk, "unit");
    kj_pack_str(pk, a->unit);
    kj_pack_str(pk, "alert");
    kj_pack_str(pk, a->id);
    pack_ack_fields(a, pk);
}

static bool key_is(const msgpack_object *k, const char *name)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
           !memcmp(kj_msgpack_str(k), name, k->via.str.size);
}

static bool copy_str(const msgpack_object *v, char *dst, size_t cap)
{
    if (v->type != MSGPACK_OBJECT_STR || v->via.str.size >= cap) return false;
    memcpy(dst, kj_msgpack_str(v), v->via.str.size);
    dst[v->via.str.size] = '\0';
    return true;
}

static bool get_number(const msgpack_object *v, double *out)
{
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)v->via.u64; return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)v->via.i64; return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = v->via.f64; return true;
    default: return false;
    }
}

/* The optional fields of SPEC §16 (id, escalation, acknowledgement). */
static bool life_field(const msgpack_object *k, const msgpack_object *v, kj_alert *a, bool *known)
{
    double d;
    *known = true;
    if (key_is(k, "id")) return copy_str(v, a->id, sizeof a->id);
    if (key_is(k, "escalated")) {
        a->escalated = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
        return v->type == MSGPACK_OBJECT_BOOLEAN;
    }
    if (key_is(k, "acked_by")) {
        a->acked = true;
        return v->type == MSGPACK_OBJECT_NIL || copy_str(v, a->acked_by, sizeof a->acked_by);
    }
    if (key_is(k, "acked_at")) {
        if (!get_number(v, &d)) return false;
        a->acked = true, a->acked_at = (int64_t)d;
        return true;
    }
    if (key_is(k, "note")) {
        if (v->type == MSGPACK_OBJECT_NIL) return true;
        if (v->type != MSGPACK_OBJECT_STR || v->via.str.size > KJ_TEXT_MAX || a->note) return false;
        a->note = kj_malloc(v->via.str.size + 1);
        memcpy(a->note, v->via.str.ptr, v->via.str.size);
        a->note[v->via.str.size] = '\0';
        return true;
    }
    *known = false;
    return false;
}

static bool alert_field(const msgpack_object *k, const msgpack_object *v, kj_alert *a, int *seen)
{
    double d;
    bool known;
    if (key_is(k, "op")) return true;
    bool ok = life_field(k, v, a, &known);
    if (known) return ok;
    if (key_is(k, "unit")) return ++*seen, copy_str(v, a->unit, sizeof a->unit);
    if (key_is(k, "indicator")) return ++*seen, copy_str(v, a->indicator, sizeof a->indicator);
    if (key_is(k, "scope")) return ++*seen, copy_str(v, a->scope, sizeof a->scope);
    if (key_is(k, "from") || key_is(k, "to")) {
        ++*seen;
        return v->type == MSGPACK_OBJECT_STR &&
               kj_status_parse(kj_msgpack_str(v), v->via.str.size,
                               key_is(k, "from") ? &a->from : &a->to);
    }
    if (key_is(k, "at")) {
        ++*seen;
        if (!get_number(v, &d)) return false;
        a->at = (int64_t)d;
        return true;
    }
    if (key_is(k, "value")) {
        ++*seen;
        a->has_value = v->type != MSGPACK_OBJECT_NIL;
        return !a->has_value || get_number(v, &a->value);
    }
    if (key_is(k, "target")) return ++*seen, get_number(v, &a->target);
    return false;
}

kj_err kj_alert_unpack(const void *buf, size_t len, kj_alert *a)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    kj_err err = KJ_ERR_DECODE;
    memset(a, 0, sizeof *a);
    /* A stored alert is read at start: a damaged one declaring 2^32 elements
     * must not make msgpack-c allocate for them (the bounded unpack refuses). */
    if (kj_msgpack_unpack_body(buf, len, &up, NULL, 0) != KJ_OK ||
        up.data.type != MSGPACK_OBJECT_MAP)
        goto done;
    int seen = 0;
    const msgpack_object_map *map = &up.data.via.map;
    for (uint32_t i = 0; i < map->size; i++)
        if (!alert_field(&map->ptr[i].key, &map->ptr[i].val, a, &seen)) goto done;
    if (seen == 8) err = KJ_OK;
    /* a record of an older build: its own time tells it apart */
    if (!err && !a->id[0])
        kj_alert_make_id(a, (int32_t)kj_floor_div(a->at, KJ_DAY_MS), (uint64_t)a->at);
done:
    if (err) {
        free(a->note);
        a->note = NULL;
    }
    msgpack_unpacked_destroy(&up);
    return err;
}

/* FNV-1a over the fields that place an alert, so that an id says nothing a
 * client could forge meaning into but stays within the identifier rule. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

void kj_alert_make_id(kj_alert *a, int32_t day, uint64_t nth)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv(h, a->unit, strlen(a->unit) + 1);
    h = fnv(h, a->indicator, strlen(a->indicator) + 1);
    h = fnv(h, a->scope, strlen(a->scope) + 1);
    h = fnv(h, &a->from, sizeof a->from);
    h = fnv(h, &a->to, sizeof a->to);
    h = fnv(h, &nth, sizeof nth);
    int y, m, d;
    kj_tz_civil_from_days(day, &y, &m, &d);
    snprintf(a->id, sizeof a->id, "%04d%02d%02d-%08x", y, m, d, (unsigned)(h ^ (h >> 32)));
}

void kj_indicator_pack(msgpack_packer *pk, const kj_indicator_conf *ic, const char *scope,
                       double target, bool has_value, double value, kj_status status,
                       const double *median)
{
    double pct;
    bool has_pct = kj_metric_achievement(ic->better, target, has_value, value, &pct);
    msgpack_pack_map(pk, 10 + (median != NULL));
    if (median) {
        kj_pack_str(pk, "unit_median");
        pack_number(pk, !isnan(*median), *median);
    }
    kj_pack_str(pk, "id");
    kj_pack_str(pk, ic->id);
    kj_pack_str(pk, "name");
    kj_pack_str(pk, ic->name ? ic->name : ic->id);
    kj_pack_str(pk, "scope");
    kj_pack_str(pk, scope);
    kj_pack_str(pk, "metric");
    kj_pack_str(pk, ic->metric);
    kj_pack_str(pk, "window");
    kj_pack_str(pk, kj_window_name(ic->window));
    kj_pack_str(pk, "value");
    pack_number(pk, has_value, value);
    kj_pack_str(pk, "target");
    pack_number(pk, true, target);
    kj_pack_str(pk, "better");
    kj_pack_str(pk, ic->better == KJ_BETTER_HIGHER ? "higher" : "lower");
    kj_pack_str(pk, "status");
    kj_pack_str(pk, kj_status_name(status));
    kj_pack_str(pk, "achievement_pct");
    if (has_pct)
        msgpack_pack_double(pk, pct);
    else
        msgpack_pack_nil(pk);
}

/* ---- evaluation over the engine (see metrics_int.h) ---- */

static void scope_name(char *buf, const kj_scope *sc)
{
    snprintf(buf, KJ_SCOPE_MAX + 1, "%s:%s", sc->kind == KJ_SCOPE_UNIT ? "unit" : "employee",
             sc->id);
}

static uint8_t *carry_over(const kj_unit *u, const kj_indicator_conf *const *old_inds, size_t n_old,
                           const uint8_t *old_status, uint8_t initial)
{
    if (!u->n_inds) return NULL;
    uint8_t *st = kj_malloc(u->n_inds);
    for (size_t i = 0; i < u->n_inds; i++) {
        st[i] = initial;
        for (size_t j = 0; old_status && j < n_old; j++)
            if (!strcmp(old_inds[j]->id, u->inds[i]->id)) st[i] = old_status[j];
    }
    return st;
}

void kj_ind_setup_member(const kj_unit *u, member *mb, uint8_t initial)
{
    mb->status = carry_over(u, NULL, 0, NULL, initial);
}

void kj_ind_setup_unit(kj_metrics *m, kj_unit *u, const kj_config *old)
{
    (void)old; /* the old indicators are read through u->inds, still valid here */
    const kj_indicator_conf **old_inds = u->inds;
    int *old_metric = u->ind_metric;
    size_t n_old = u->n_inds;
    size_t n = m->cfg ? m->cfg->n_indicators : 0;
    u->inds = n ? kj_calloc(n, sizeof *u->inds) : NULL;
    u->ind_metric = n ? kj_calloc(n, sizeof *u->ind_metric) : NULL;
    u->n_inds = 0;
    for (size_t i = 0; i < n; i++) {
        const kj_indicator_conf *ic = &m->cfg->indicators[i];
        kj_metric metric;
        if (!kj_indicator_for_unit(ic, u->sc->id) || (!ic->for_unit && !ic->for_employee)) continue;
        u->ind_metric[u->n_inds] = kj_metric_parse(ic->metric, &metric) ? (int)metric : -1;
        u->inds[u->n_inds++] = ic;
    }
    /* Every new slot takes its first status silently (SPEC §16: no "none ->"
     * alert for each scope at start, at a reload or when a unit appears).
     * Held changes start over: the indicators' order may have changed. */
    uint8_t initial = STATUS_UNSET;
    kj_life_drop_holds(u);
    uint8_t *st = carry_over(u, old_inds, n_old, u->status, initial);
    free(u->status);
    u->status = st;
    for (size_t i = 0; i < u->n_members; i++) {
        st = carry_over(u, old_inds, n_old, u->members[i].status, initial);
        free(u->members[i].status);
        u->members[i].status = st;
    }
    free(old_inds);
    free(old_metric);
    if (!m->in_group) m->need_baseline = true;
}

/* The indicator's value; none (false) without data or with fewer samples
 * than min_samples: a window with a handful of events flips status on nearly
 * every event otherwise. */
static bool ind_value(kj_metrics *m, const kj_unit *u, size_t i, kj_scope *sc, double *v)
{
    const kj_indicator_conf *ic = u->inds[i];
    if (u->ind_metric[i] < 0) return false;
    kj_metric metric = (kj_metric)u->ind_metric[i];
    if (ic->window == KJ_WIN_NOW) return sc->kind == KJ_SCOPE_UNIT && kj_mq_value(m, u, metric, v);
    const kj_agg *a = kj_m_window(m, sc, ic->window);
    if (ic->min_samples > 1 && kj_metric_samples(a, metric) < ic->min_samples) return false;
    return kj_metric_value(a, kj_m_window_hours(m, ic->window), metric, v);
}

bool kj_ind_value(kj_metrics *m, const kj_unit *u, size_t i, kj_scope *sc, double *v)
{
    return ind_value(m, u, i, sc, v);
}

static void set_status(kj_metrics *m, kj_unit *u, uint8_t *slot, uint8_t to)
{
    if (m->in_group) {
        undo un = {.kind = UNDO_STATUS, .old_status = *slot, .u = u, .p = slot};
        vec_push(&m->undo, &un, sizeof un);
    }
    *slot = to;
}

/* mb NULL: the unit's own slot. A change waits out hold_ms (alerts.c)
 * before it becomes the status and an alert. */
static void eval_slot(kj_metrics *m, kj_unit *u, size_t i, kj_scope *sc, member *mb, bool silent)
{
    const kj_indicator_conf *ic = u->inds[i];
    uint8_t *slot = mb ? &mb->status[i] : &u->status[i];
    double v = 0, target = kj_indicator_target(ic, sc->kind == KJ_SCOPE_EMPLOYEE ? sc->id : NULL);
    bool has = ind_value(m, u, i, sc, &v);
    kj_status to = kj_indicator_status(ic->better, target, ic->warn_margin, has, v);
    if (!kj_life_settled(m, u, mb, i, *slot, to) || *slot == to) return;
    if (!silent && *slot != STATUS_UNSET) {
        kj_alert a = {.at = m->now,
                      .from = (kj_status)*slot,
                      .to = to,
                      .has_value = has,
                      .value = v,
                      .target = target};
        snprintf(a.unit, sizeof a.unit, "%s", u->sc->id);
        snprintf(a.indicator, sizeof a.indicator, "%s", ic->id);
        scope_name(a.scope, sc);
        kj_life_raise(m, u, &a);
    }
    set_status(m, u, slot, (uint8_t)to);
}

void kj_ind_eval_slot(kj_metrics *m, kj_unit *u, size_t i, kj_scope *sc, member *mb)
{
    eval_slot(m, u, i, sc, mb, false);
}

static member *member_of(kj_unit *u, const kj_scope *e)
{
    for (size_t i = 0; i < u->n_members; i++)
        if (u->members[i].sc == e) return &u->members[i];
    return NULL;
}

void kj_ind_eval_scope(kj_metrics *m, kj_scope *sc, bool silent)
{
    if (sc->kind == KJ_SCOPE_UNIT) {
        kj_unit *u = sc->unit;
        for (size_t i = 0; i < u->n_inds; i++)
            if (u->inds[i]->for_unit) eval_slot(m, u, i, sc, NULL, silent);
        return;
    }
    if (sc->kind != KJ_SCOPE_EMPLOYEE) return;
    for (uint32_t k = 0; k < sc->n_units; k++) {
        kj_unit *u = sc->units[k];
        member *mb = member_of(u, sc);
        for (size_t i = 0; mb && i < u->n_inds; i++)
            if (u->inds[i]->for_employee) eval_slot(m, u, i, sc, mb, silent);
    }
}

void kj_ind_baseline(kj_metrics *m)
{
    for (size_t i = 0; i < m->table_cap; i++) {
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext) {
            if (sc->kind != KJ_SCOPE_UNIT) continue;
            kj_unit *u = sc->unit;
            for (size_t j = 0; j < u->n_inds; j++)
                if (u->inds[j]->for_unit) eval_slot(m, u, j, sc, NULL, false);
            for (size_t k = 0; k < u->n_members; k++)
                for (size_t j = 0; j < u->n_inds; j++)
                    if (u->inds[j]->for_employee)
                        eval_slot(m, u, j, u->members[k].sc, &u->members[k], false);
        }
    }
}

static bool shown(const kj_scope *sc, const char *only_employee)
{
    return !only_employee || (sc->kind == KJ_SCOPE_EMPLOYEE && !strcmp(sc->id, only_employee));
}

/* slot: the scope's status byte (STATUS_UNSET before its first judgement). */
static void pack_entry(kj_metrics *m, kj_unit *u, size_t i, kj_scope *sc, uint8_t slot,
                       const double *median, msgpack_packer *pk)
{
    const kj_indicator_conf *ic = u->inds[i];
    char name[KJ_SCOPE_MAX + 1];
    double v = 0, target = kj_indicator_target(ic, sc->kind == KJ_SCOPE_EMPLOYEE ? sc->id : NULL);
    bool has = ind_value(m, u, i, sc, &v);
    kj_status st = slot != STATUS_UNSET
                       ? (kj_status)slot
                       : kj_indicator_status(ic->better, target, ic->warn_margin, has, v);
    scope_name(name, sc);
    kj_indicator_pack(pk, ic, name, target, has, v, st, median);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of indicator i's value over u's members that have one (NaN
 * when none has): a personal view compares its own value with it. */
static double member_median(kj_metrics *m, kj_unit *u, size_t i, double *scratch)
{
    size_t n = 0;
    for (size_t k = 0; k < u->n_members; k++)
        if (ind_value(m, u, i, u->members[k].sc, &scratch[n])) n++;
    if (!n) return NAN;
    qsort(scratch, n, sizeof *scratch, cmp_double);
    return n % 2 ? scratch[n / 2] : (scratch[n / 2 - 1] + scratch[n / 2]) / 2;
}

void kj_ind_pack(kj_metrics *m, kj_unit *u, const char *only_employee, msgpack_packer *pk)
{
    double *medians = u->n_inds ? kj_calloc(u->n_inds, sizeof *medians) : NULL;
    double *scratch = u->n_members ? kj_calloc(u->n_members, sizeof *scratch) : NULL;
    for (size_t i = 0; i < u->n_inds; i++)
        if (u->inds[i]->for_employee) medians[i] = member_median(m, u, i, scratch);
    free(scratch);
    size_t n = 0, per_unit = 0, per_member = 0;
    for (size_t i = 0; i < u->n_inds; i++) {
        per_unit += u->inds[i]->for_unit;
        per_member += u->inds[i]->for_employee;
    }
    if (shown(u->sc, only_employee)) n += per_unit;
    for (size_t k = 0; k < u->n_members; k++)
        n += shown(u->members[k].sc, only_employee) ? per_member : 0;
    msgpack_pack_array(pk, n);
    for (size_t i = 0; shown(u->sc, only_employee) && i < u->n_inds; i++)
        if (u->inds[i]->for_unit) pack_entry(m, u, i, u->sc, u->status[i], NULL, pk);
    for (size_t k = 0; k < u->n_members; k++) {
        if (!shown(u->members[k].sc, only_employee)) continue;
        for (size_t i = 0; i < u->n_inds; i++)
            if (u->inds[i]->for_employee)
                pack_entry(m, u, i, u->members[k].sc, u->members[k].status[i], &medians[i], pk);
    }
    free(medians);
}

static bool alert_shown(const kj_alert *a, const char *only_employee)
{
    return !only_employee ||
           (!strncmp(a->scope, "employee:", 9) && !strcmp(a->scope + 9, only_employee));
}

void kj_ind_pack_alerts(kj_metrics *m, kj_unit *u, const char *only_employee, msgpack_packer *pk)
{
    (void)m;
    size_t n = 0;
    for (size_t i = 0; i < u->n_alerts; i++)
        n += alert_shown(&u->alerts[i], only_employee);
    msgpack_pack_array(pk, n);
    for (size_t i = u->n_alerts; i-- > 0;)
        if (alert_shown(&u->alerts[i], only_employee)) kj_alert_pack(&u->alerts[i], false, pk);
}

void kj_ind_trim_alerts(kj_metrics *m, kj_unit *u)
{
    size_t drop = 0;
    while (drop < u->n_alerts && u->alerts[drop].at < m->today_start)
        drop++;
    if (u->n_alerts - drop > ALERTS_PER_UNIT) drop = u->n_alerts - ALERTS_PER_UNIT;
    if (!drop) return;
    kj_life_free_notes(u->alerts, drop);
    memmove(u->alerts, u->alerts + drop, (u->n_alerts - drop) * sizeof *u->alerts);
    u->n_alerts -= drop;
}
