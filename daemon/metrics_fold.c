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

#include "metrics_int.h"

static bool pending_in(kj_metrics *m, const open_bucket *ob, int res, int32_t start)
{
    return ob->res == RES_MINUTE && ob->start >= m->fold_min &&
           kj_m_bucket_of(m, res, kj_m_bucket_ms(RES_MINUTE, ob->start)) == start;
}

/* The pending minutes of sc inside the bucket (res, start) of an hour or a
 * day: how many hold events; each is merged into `into` unless it is NULL.
 * Pending minutes are always open (decoded). */
size_t kj_m_pending(kj_metrics *m, kj_scope *sc, int res, int32_t start, kj_agg *into)
{
    size_t n = 0;
    for (unsigned i = 0; i < sc->n_open; i++) {
        const open_bucket *ob = &sc->open[i];
        if (!pending_in(m, ob, res, start) || kj_agg_empty(&ob->agg)) continue;
        n++;
        if (into) kj_agg_merge(into, &ob->agg);
    }
    return n;
}

/* The newest minute bucket of sc is pending: a check that needs no walk. */
static bool any_pending(const kj_metrics *m, const kj_scope *sc)
{
    const series *s = &sc->ser[RES_MINUTE];
    series_rec rec;
    uint32_t off = s->last;
    return s->n && kj_series_next(s, &off, &rec) && rec.start >= m->fold_min;
}

/* Merge the stored minute (in m->scratch) into its hour and day buckets;
 * when its hour is closed as of ref_hour (a restart folding what a crash
 * left pending), into the 7d and 30d totals as well, as a late event. */
static void fold_minute(kj_metrics *m, kj_scope *sc, int32_t minute, int32_t ref_hour)
{
    int64_t ms = kj_m_bucket_ms(RES_MINUTE, minute);
    for (int res = RES_HOUR; res <= RES_DAY; res++) {
        int32_t b = kj_m_bucket_of(m, res, ms);
        if (b < kj_m_horizon(m, res)) continue; /* too old to be kept */
        open_bucket *ob = kj_m_open(m, sc, res, b);
        kj_agg_merge(&ob->agg, &m->scratch);
        ob->refolded = 1;
        if (res != RES_HOUR) continue;
        for (int w = SW_7D; w <= SW_30D; w++)
            if (kj_sw_closed_at(w, ref_hour, b)) kj_agg_merge(&sc->win[w], &m->scratch);
    }
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
    if (!any_pending(m, sc)) return;
    bool any = false;
    series_rec rec;
    uint32_t off = 0;
    while (kj_series_next(&sc->ser[RES_MINUTE], &off, &rec) && rec.start < upto) {
        /* decoded afresh: opening an hour may move the open buckets */
        if (rec.start < m->fold_min || kj_agg_decode(&m->scratch, rec.data, rec.len)) continue;
        fold_minute(m, sc, rec.start, ref_hour);
        any = true;
    }
    if (!any) return;
    store_refolded(m, sc);
    if (sc->flags & SC_FOLDED) return;
    sc->flags |= SC_FOLDED;
    vec_push(&m->folded, &sc, sizeof sc);
}

/* Fold every scope's pending minutes before `upto`; called between groups,
 * with the engine's time still that of before the move (the tick) or, at a
 * restart, ref_hour the hour the window totals hold at. */
void kj_m_fold_all(kj_metrics *m, int32_t upto, int32_t ref_hour)
{
    if (upto <= m->fold_min) return;
    for (size_t i = 0; i < m->table_cap; i++)
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext)
            fold_scope(m, sc, upto, ref_hour);
    kj_agg_reset(&m->scratch);
    m->fold_min = upto;
}

/* Open the pending minutes the series holds (after a load, or a rollback
 * that closed the ones its group touched). */
void kj_m_reopen_pending(kj_metrics *m, kj_scope *sc)
{
    if (!any_pending(m, sc)) return;
    series_rec rec;
    uint32_t off = 0;
    while (kj_series_next(&sc->ser[RES_MINUTE], &off, &rec))
        if (rec.start >= m->fold_min) kj_m_open(m, sc, RES_MINUTE, rec.start);
}
