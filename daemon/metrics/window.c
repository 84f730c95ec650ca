/* The sliding windows built from the bucket series (buckets.c).
 *
 * A sliding window holds the buckets whose start lies in (now - length, now].
 * Its running total (kj_agg win[w]) covers the *closed* ones, all but the
 * current bucket: most events land in the current bucket, so apply updates
 * one aggregate per resolution instead of one per window, and a read adds the
 * current bucket (kj_m_window). When now moves, the old current bucket joins
 * the totals, buckets that leave are subtracted, and a maximum that leaves is
 * recomputed from the buckets that remain. */
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "window.h"

static int32_t now_of(const kj_metrics *m, kj_res res)
{
    return res == KJ_RES_MINUTE ? m->now_min : m->now_hour;
}

static bool holds_at(int w, int32_t now, int32_t start)
{
    return start <= now && start > now - kj_sw_len[w];
}

/* In the running total: inside the window and not the current bucket. */
bool kj_sw_closed_at(int w, int32_t now, int32_t start)
{
    return start != now && holds_at(w, now, start);
}

bool kj_sw_holds(const kj_metrics *m, int w, int32_t start)
{
    return holds_at(w, now_of(m, kj_sw_res[w]), start);
}

bool kj_sw_closed(const kj_metrics *m, int w, int32_t start)
{
    return kj_sw_closed_at(w, now_of(m, kj_sw_res[w]), start);
}

/* The sliding windows of resolution res: [first, first + 2). */
static int first_window(kj_res res)
{
    return res == KJ_RES_MINUTE ? KJ_WIN_15M : KJ_WIN_7D;
}

void kj_window_rebuild(kj_metrics *m, kj_scope *sc, kj_res res)
{
    int w0 = first_window(res);
    int32_t now = now_of(m, res);
    kj_agg_reset(&sc->win[w0]);
    kj_agg_reset(&sc->win[w0 + 1]);
    series_rec rec;
    uint32_t off = 0;
    while (kj_series_next(&sc->ser[res], &off, &rec)) {
        bool in0 = kj_sw_closed_at(w0, now, rec.start),
             in1 = kj_sw_closed_at(w0 + 1, now, rec.start);
        /* checked first: a record that does not decode is left out whole */
        if ((!in0 && !in1) || kj_agg_merge_encoded(NULL, NULL, rec.data, rec.len)) continue;
        kj_agg_merge_encoded(in0 ? &sc->win[w0] : NULL, in1 ? &sc->win[w0 + 1] : NULL, rec.data,
                             rec.len);
    }
}

/* After a subtraction lost the maximum of some hists of window w: the true
 * maxima are those of the buckets still inside. */
static void restore_maxes(kj_metrics *m, kj_scope *sc, int w, unsigned lost)
{
    int64_t best[3] = {0, 0, 0}, max[3];
    int32_t now = now_of(m, kj_sw_res[w]);
    series_rec rec;
    uint32_t off = 0;
    while (kj_series_next(&sc->ser[kj_sw_res[w]], &off, &rec)) {
        if (!kj_sw_closed_at(w, now, rec.start) || kj_agg_decode_maxes(rec.data, rec.len, max))
            continue;
        for (int i = 0; i < 3; i++)
            if (max[i] > best[i]) best[i] = max[i];
    }
    for (int i = 0; i < 3; i++)
        if (lost & (1u << i)) kj_agg_set_max(&sc->win[w], 1u << i, best[i]);
}

bool kj_window_advance(kj_metrics *m, kj_scope *sc, kj_res res, int32_t old_now, int32_t new_now)
{
    int w0 = first_window(res);
    bool changed = false;
    series_rec rec;
    uint32_t off = 0;
    if (new_now - old_now >= kj_sw_len[w0 + 1]) {
        /* Everything left: start afresh from what the series still holds. */
        while (kj_series_next(&sc->ser[res], &off, &rec))
            changed |= holds_at(w0 + 1, old_now, rec.start) || holds_at(w0 + 1, new_now, rec.start);
        kj_series_drop_before(&sc->ser[res], kj_m_horizon(m, res));
        kj_window_rebuild(m, sc, res);
        return changed;
    }
    unsigned lost[2] = {0, 0};
    while (kj_series_next(&sc->ser[res], &off, &rec)) {
        bool decoded = false;
        for (int k = 0; k < 2; k++) {
            /* what a reader sees changes when a bucket enters or leaves; the
             * old current bucket moving into the total changes nothing */
            changed |= holds_at(w0 + k, old_now, rec.start) != holds_at(w0 + k, new_now, rec.start);
            bool was = kj_sw_closed_at(w0 + k, old_now, rec.start);
            bool is = kj_sw_closed_at(w0 + k, new_now, rec.start);
            if (was == is) continue;
            if (!decoded && kj_agg_decode(&m->scratch, rec.data, rec.len) != KJ_OK) break;
            decoded = true;
            if (is)
                kj_agg_merge(&sc->win[w0 + k], &m->scratch);
            else
                lost[k] |= kj_agg_sub(&sc->win[w0 + k], &m->scratch);
        }
    }
    kj_series_drop_before(&sc->ser[res], kj_m_horizon(m, res));
    for (int k = 0; k < 2; k++)
        if (lost[k]) restore_maxes(m, sc, w0 + k, lost[k]);
    return changed;
}
