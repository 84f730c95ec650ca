/* Metric values (SPEC §4) read from the model (values.h): today's aggregate,
 * the sliding windows with their current bucket and pending minutes, a
 * metric's value over a window, and the sorted unit list. */
#include "values.h"

#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "metrics_fold.h"

/* Today's aggregate of sc (NULL: none), decoding its day bucket on first
 * use; with pending minutes, their sum in m->view (valid until the next
 * read: every reader uses it at once), holding only the hists in `hists`. */
static const kj_agg *today(kj_metrics *m, kj_scope *sc, unsigned hists)
{
    const kj_agg *day = NULL;
    open_bucket *ob = kj_m_open_find(sc, KJ_RES_DAY, m->today);
    series_rec rec;
    if (ob)
        day = &ob->agg;
    else if (kj_series_find(&sc->ser[KJ_RES_DAY], m->today, &rec))
        day = &kj_m_open(m, sc, KJ_RES_DAY, m->today)->agg;
    if (!kj_m_pending(m, sc, KJ_RES_DAY, m->today, NULL, 0)) return day;
    if (day)
        kj_agg_copy_hists(&m->view, day, hists);
    else
        kj_agg_reset(&m->view);
    kj_m_pending(m, sc, KJ_RES_DAY, m->today, &m->view, hists);
    return &m->view;
}

const kj_agg *kj_m_today(kj_metrics *m, kj_scope *sc)
{
    return today(m, sc, KJ_AGG_HISTS);
}

/* The current bucket of a sliding window's resolution, NULL when empty. */
static const kj_agg *current(kj_metrics *m, kj_scope *sc, int sw)
{
    int res = kj_sw_res[sw];
    int32_t now = res == KJ_RES_MINUTE ? m->now_min : m->now_hour;
    open_bucket *ob = kj_m_open_find(sc, res, now);
    if (ob) return kj_agg_empty(&ob->agg) ? NULL : &ob->agg;
    series_rec rec;
    if (!kj_series_find(&sc->ser[res], now, &rec)) return NULL;
    return &kj_m_open(m, sc, res, now)->agg;
}

/* A window's aggregate, as today() for the hists in `hists`. */
static const kj_agg *window(kj_metrics *m, kj_scope *sc, kj_window w, unsigned hists)
{
    if (w == KJ_WIN_TODAY) return today(m, sc, hists);
    int sw = w; /* a sliding window */
    const kj_agg *cur = current(m, sc, sw);
    /* the current hour of 7d and 30d: with its pending minutes */
    bool pending =
        kj_sw_res[sw] == KJ_RES_HOUR && kj_m_pending(m, sc, KJ_RES_HOUR, m->now_hour, NULL, 0);
    if (!cur && !pending) return &sc->win[sw];
    if (kj_agg_empty(&sc->win[sw]) && !pending) return cur;
    /* valid until the next call: every reader uses it at once */
    kj_agg_copy_hists(&m->view, &sc->win[sw], hists);
    if (cur) kj_agg_merge_hists(&m->view, cur, hists);
    if (pending) kj_m_pending(m, sc, KJ_RES_HOUR, m->now_hour, &m->view, hists);
    return &m->view;
}

const kj_agg *kj_m_window(kj_metrics *m, kj_scope *sc, kj_window w)
{
    return window(m, sc, w, KJ_AGG_HISTS);
}

/* Indicators are judged after every group, each on one metric: its view
 * copies only the hist that metric reads (none for a count or a rating). */
const kj_agg *kj_m_window_for(kj_metrics *m, kj_scope *sc, kj_window w, kj_metric metric)
{
    return window(m, sc, w, kj_metric_hists(metric));
}

/* services.per_hour divides by the window's length; for today by the hours
 * since local midnight, counting the current minute as a whole one (the
 * engine's time moves by minutes). */
double kj_m_window_hours(const kj_metrics *m, kj_window w)
{
    switch (w) {
    case KJ_WIN_15M: return 0.25;
    case KJ_WIN_1H: return 1;
    case KJ_WIN_7D: return 168;
    case KJ_WIN_30D: return 720;
    default: break;
    }
    int64_t elapsed = ((int64_t)m->now_min + 1) * KJ_MINUTE_MS - m->today_start;
    if (elapsed < KJ_MINUTE_MS) elapsed = KJ_MINUTE_MS;
    return (double)elapsed / (double)KJ_HOUR_MS;
}

bool kj_m_value(kj_metrics *m, kj_scope *sc, kj_metric metric, kj_window w, double *out)
{
    return kj_metric_value(kj_m_window(m, sc, w), kj_m_window_hours(m, w), metric, out);
}

kj_scope *kj_m_find_ref(kj_metrics *m, const kj_scope_ref *ref)
{
    if (!ref || !ref->id) return NULL;
    return kj_m_find(m, ref->kind, ref->kind == KJ_SCOPE_UNIT ? ref->id : ref->unit, ref->id);
}

bool kj_metrics_value(kj_metrics *m, const kj_scope_ref *ref, kj_metric metric, kj_window w,
                      double *out)
{
    kj_scope *sc = kj_m_find_ref(m, ref);
    return sc && (unsigned)w < KJ_WIN_COUNT && kj_m_value(m, sc, metric, w, out);
}

bool kj_metrics_bucket_value(const void *val, size_t vlen, kj_res res, kj_metric metric,
                             double *out)
{
    kj_agg a = {0};
    if ((unsigned)res >= KJ_RES_COUNT || kj_agg_decode(&a, val, vlen)) return false;
    bool ok = kj_metric_value(&a, (double)kj_res_ms(res) / (double)KJ_HOUR_MS, metric, out);
    kj_agg_reset(&a);
    return ok;
}

static int unit_cmp(const void *a, const void *b)
{
    return strcmp((*(kj_unit *const *)a)->sc->id, (*(kj_unit *const *)b)->sc->id);
}

kj_unit **kj_m_units_sorted(kj_metrics *m, size_t *n)
{
    kj_unit **list = kj_calloc(m->n_units + 1, sizeof *list);
    *n = 0;
    for (size_t i = 0; i < m->table_cap; i++)
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext)
            if (sc->kind == KJ_SCOPE_UNIT && *n < m->n_units) list[(*n)++] = sc->unit;
    qsort(list, *n, sizeof *list, unit_cmp);
    return list;
}
