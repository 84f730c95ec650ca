/* Indicator evaluation over the metrics engine's scopes (eval.h): statuses
 * of units and members, alerts raised on a change, the baseline, and the
 * indicator and alert objects of a unit's frames. The pure judgements and the
 * alert codec are in indicators.c. */
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "alerts.h"
#include "metrics_queue.h"
#include "values.h"

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
    const kj_agg *a = kj_m_window_for(m, sc, ic->window, metric);
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
        undo un = {.kind = UNDO_STATUS, .old_status = *slot, .u = u, .p.status = slot};
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

/* Evaluate the indicators of the scopes the group changed. */
void kj_m_evaluate(kj_metrics *m)
{
    if (m->evaluated) return;
    kj_scope **t = m->touched.items;
    for (size_t i = 0; i < m->touched.n; i++) {
        if (!(t[i]->flags & SC_EVAL)) continue;
        t[i]->flags &= (uint8_t)~SC_EVAL;
        kj_ind_eval_scope(m, t[i], false);
    }
    m->evaluated = true;
}
