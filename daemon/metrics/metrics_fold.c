/* Minute buckets folded into their hour and day buckets.
 *
 * An event in the current minute (or a later one) goes into its minute
 * bucket only; when the clock leaves the minute, the tick merges the whole
 * minute into its hour and day buckets at once. That is a third of the
 * histogram adds per event, and an hour or day bucket is encoded and stored
 * once a minute instead of by every group that touches it. A late event, in
 * a minute already folded, goes into all three as before.
 *
 * Until its fold a minute is pending: a read of its hour or day (today, the
 * current hour of the 7d and 30d windows, the series) adds it. The store
 * holds the watermark of its last saved fold with the buckets it covers, so
 * that a restart knows which stored minutes are in their hours and days
 * already (metrics_store.c). */
#include <string.h>

#include "metrics_fold.h"
#include "window.h"

static bool pending_in(kj_metrics *m, const open_bucket *ob, kj_res res, int32_t start)
{
    return ob->res == KJ_RES_MINUTE && ob->start >= m->fold_min &&
           kj_m_bucket_of(m, res, kj_m_bucket_ms(KJ_RES_MINUTE, ob->start)) == start;
}

/* The pending minutes of sc inside the bucket (res, start) of an hour or a
 * day: how many hold events; each is merged into `into` (with the hists in
 * `hists`, KJ_AGG_MAX_* bits) unless it is NULL. Pending minutes are always
 * open (decoded). */
size_t kj_m_pending(kj_metrics *m, kj_scope *sc, kj_res res, int32_t start, kj_agg *into,
                    unsigned hists)
{
    size_t n = 0;
    for (unsigned i = 0; i < sc->n_open; i++) {
        const open_bucket *ob = &sc->open[i];
        if (!pending_in(m, ob, res, start) || kj_agg_empty(&ob->agg)) continue;
        n++;
        if (into) kj_agg_merge_hists(into, &ob->agg, hists);
    }
    return n;
}

/* The newest minute bucket of sc starts at `from` or later: a check that
 * needs no walk. */
static bool minutes_from(const kj_scope *sc, int32_t from)
{
    const series *s = &sc->ser[KJ_RES_MINUTE];
    series_rec rec;
    uint32_t off = s->last;
    return s->n && kj_series_next(s, &off, &rec) && rec.start >= from;
}

/* Merge the minute into its hour and day buckets; when its hour is closed
 * as of ref_hour (a restart folding what a crash left pending), into the 7d
 * and 30d totals as well, as a late event. */
static void fold_minute(kj_metrics *m, kj_scope *sc, const series_rec *rec, int32_t ref_hour)
{
    int64_t ms = kj_m_bucket_ms(KJ_RES_MINUTE, rec->start);
    int32_t b[2];
    bool kept[2];
    for (int k = 0; k < 2; k++) { /* opened first: opening may move sc->open */
        b[k] = kj_m_bucket_of(m, KJ_RES_HOUR + k, ms);
        kept[k] = b[k] >= kj_m_horizon(m, KJ_RES_HOUR + k); /* else too old to be kept */
        if (kept[k]) kj_m_open(m, sc, KJ_RES_HOUR + k, b[k]);
    }
    /* outside a group an open bucket equals its record: no decode */
    const open_bucket *mo = kj_m_open_find(sc, KJ_RES_MINUTE, rec->start);
    const kj_agg *a = &m->scratch;
    if (mo)
        a = &mo->agg;
    else if (kj_agg_decode(&m->scratch, rec->data, rec->len))
        return;
    for (int k = 0; k < 2; k++) {
        if (!kept[k]) continue;
        open_bucket *ob = kj_m_open_find(sc, KJ_RES_HOUR + k, b[k]);
        kj_agg_merge(&ob->agg, a);
        ob->refolded = 1;
    }
    for (int w = KJ_WIN_7D; w <= KJ_WIN_30D; w++)
        if (kept[0] && kj_sw_closed_at(w, ref_hour, b[0])) kj_agg_merge(&sc->win[w], a);
}

/* The changed hour and day buckets take their new encoding. */
static void store_refolded(kj_metrics *m, kj_scope *sc)
{
    for (unsigned i = 0; i < sc->n_open; i++) {
        open_bucket *ob = &sc->open[i];
        if (!ob->refolded) continue;
        uint8_t *buf = kj_m_enc(m, KJ_AGG_ENCODED_MAX);
        size_t n = kj_agg_encode(&ob->agg, buf);
        kj_series_put(&sc->ser[ob->res], ob->start, buf, (uint32_t)n);
        ob->refolded = 0;
    }
}

static void fold_scope(kj_metrics *m, kj_scope *sc, int32_t upto, int32_t ref_hour)
{
    if (!minutes_from(sc, m->fold_min)) return;
    bool any = false;
    series_rec rec;
    uint32_t off = 0;
    while (kj_series_next(&sc->ser[KJ_RES_MINUTE], &off, &rec) && rec.start < upto) {
        if (rec.start < m->fold_min) continue;
        fold_minute(m, sc, &rec, ref_hour);
        any = true;
    }
    if (!any) return;
    store_refolded(m, sc);
    if (sc->flags & SC_FOLDED) return;
    sc->flags |= SC_FOLDED;
    vec_push(&m->folded, &sc, sizeof sc);
}

/* Fold the pending minutes before `upto` of every scope listed in m->pend
 * (the only ones that can have any); called between groups, with the
 * engine's time still that of before the move (the tick) or, at a restart,
 * ref_hour the hour the window totals hold at. */
void kj_m_fold_all(kj_metrics *m, int32_t upto, int32_t ref_hour)
{
    if (upto <= m->fold_min) return;
    kj_scope **p = m->pend.items;
    size_t kept = 0;
    for (size_t i = 0; i < m->pend.n; i++) {
        fold_scope(m, p[i], upto, ref_hour);
        if (minutes_from(p[i], upto)) /* still pending ones: later minutes */
            p[kept++] = p[i];
        else
            p[i]->pend_listed = false;
    }
    m->pend.n = kept;
    kj_agg_reset(&m->scratch);
    m->fold_min = upto;
}

/* sc may have pending minutes: the next fold looks at it. */
void kj_m_pend(kj_metrics *m, kj_scope *sc)
{
    if (sc->pend_listed) return;
    sc->pend_listed = true;
    vec_push(&m->pend, &sc, sizeof sc);
}

/* A scope about to be freed leaves the list. */
void kj_m_unpend(kj_metrics *m, kj_scope *sc)
{
    kj_scope **p = m->pend.items;
    for (size_t i = 0; sc->pend_listed && i < m->pend.n; i++) {
        if (p[i] != sc) continue;
        p[i] = p[--m->pend.n];
        sc->pend_listed = false;
    }
}

/* Open the pending minutes the series holds (after a load, or a rollback
 * that closed the ones its group touched). */
void kj_m_reopen_pending(kj_metrics *m, kj_scope *sc)
{
    if (!minutes_from(sc, m->fold_min)) return;
    series_rec rec;
    uint32_t off = 0;
    while (kj_series_next(&sc->ser[KJ_RES_MINUTE], &off, &rec))
        if (rec.start >= m->fold_min) kj_m_open(m, sc, KJ_RES_MINUTE, rec.start);
}
