/* Bucket series and the sliding windows built from them.
 *
 * A sliding window is a running total (kj_agg) of the buckets whose start lies
 * in (now - length, now]. When now moves, buckets that leave are subtracted
 * and buckets that enter (future events whose minute or hour has come) are
 * added; a maximum that leaves is recomputed from the buckets that remain. */
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "metrics_int.h"

#define REC_HEAD 4 /* int32 start, then a varint length */

bool kj_series_next(const series *s, uint32_t *off, series_rec *rec)
{
    if (*off >= s->used) return false;
    uint64_t len = 0;
    const uint8_t *p = s->buf + *off;
    memcpy(&rec->start, p, sizeof rec->start);
    size_t vn = kj_varint_get(p + REC_HEAD, s->used - *off - REC_HEAD, &len);
    rec->off = *off;
    rec->data = p + REC_HEAD + vn;
    rec->len = (uint32_t)len;
    *off += REC_HEAD + (uint32_t)vn + (uint32_t)len;
    return true;
}

/* The first record with start >= `start` (rec->off == s->used when none). */
static void seek(const series *s, int32_t start, series_rec *rec)
{
    uint32_t off = 0;
    while (kj_series_next(s, &off, rec))
        if (rec->start >= start) return;
    rec->off = s->used;
    rec->start = INT32_MAX;
}

bool kj_series_find(const series *s, int32_t start, series_rec *rec)
{
    if (!s->n) return false;
    seek(s, start, rec);
    return rec->off < s->used && rec->start == start;
}

static void reserve(series *s, uint32_t need)
{
    if (s->used + need <= s->cap) return;
    uint32_t cap = s->cap ? s->cap + s->cap / 2 : 64;
    if (cap < s->used + need) cap = s->used + need;
    s->buf = kj_realloc(s->buf, cap);
    s->cap = cap;
}

void kj_series_put(series *s, int32_t start, const uint8_t *data, uint32_t len)
{
    series_rec at;
    seek(s, start, &at);
    uint32_t old = 0, pos = at.off;
    if (pos < s->used && at.start == start) old = (uint32_t)(at.data - s->buf) + at.len - pos;
    uint8_t head[REC_HEAD + 10];
    memcpy(head, &start, REC_HEAD);
    uint32_t hn = REC_HEAD + (uint32_t)kj_varint_put(head + REC_HEAD, len);
    uint32_t size = hn + len;
    if (size > old) reserve(s, size - old);
    memmove(s->buf + pos + size, s->buf + pos + old, s->used - pos - old);
    memcpy(s->buf + pos, head, hn);
    memcpy(s->buf + pos + hn, data, len);
    s->used = s->used + size - old;
    if (!old) s->n++;
}

void kj_series_drop_before(series *s, int32_t start)
{
    if (!s->n) return;
    series_rec rec;
    uint32_t off = 0, cut = 0, dropped = 0;
    while (kj_series_next(s, &off, &rec) && rec.start < start) {
        cut = off;
        dropped++;
    }
    if (!dropped) return;
    memmove(s->buf, s->buf + cut, s->used - cut);
    s->used -= cut;
    s->n -= dropped;
    if (!s->n) {
        kj_series_free(s);
    } else if (s->used < s->cap / 4) {
        s->cap = s->used + s->used / 2;
        s->buf = kj_realloc(s->buf, s->cap);
    }
}

void kj_series_free(series *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

static int32_t now_of(const kj_metrics *m, int res)
{
    return res == RES_MINUTE ? m->now_min : m->now_hour;
}

static bool holds_at(int w, int32_t now, int32_t start)
{
    return start <= now && start > now - kj_sw_len[w];
}

bool kj_sw_holds(const kj_metrics *m, int w, int32_t start)
{
    return holds_at(w, now_of(m, kj_sw_res[w]), start);
}

/* The sliding windows of resolution res: [first, first + 2). */
static int first_window(int res)
{
    return res == RES_MINUTE ? SW_15M : SW_7D;
}

void kj_window_rebuild(kj_metrics *m, kj_scope *sc, int res)
{
    int w0 = first_window(res);
    int32_t now = now_of(m, res);
    kj_agg_reset(&sc->win[w0]);
    kj_agg_reset(&sc->win[w0 + 1]);
    series_rec rec;
    uint32_t off = 0;
    while (kj_series_next(&sc->ser[res], &off, &rec)) {
        bool in0 = holds_at(w0, now, rec.start), in1 = holds_at(w0 + 1, now, rec.start);
        if (!in0 && !in1) continue;
        if (kj_agg_decode(&m->scratch, rec.data, rec.len) != KJ_OK) continue;
        if (in0) kj_agg_merge(&sc->win[w0], &m->scratch);
        if (in1) kj_agg_merge(&sc->win[w0 + 1], &m->scratch);
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
        if (!holds_at(w, now, rec.start) || kj_agg_decode_maxes(rec.data, rec.len, max)) continue;
        for (int i = 0; i < 3; i++)
            if (max[i] > best[i]) best[i] = max[i];
    }
    for (int i = 0; i < 3; i++)
        if (lost & (1u << i)) kj_agg_set_max(&sc->win[w], 1u << i, best[i]);
}

bool kj_window_advance(kj_metrics *m, kj_scope *sc, int res, int32_t old_now, int32_t new_now)
{
    int w0 = first_window(res);
    bool changed = false;
    if (new_now - old_now >= kj_sw_len[w0 + 1]) {
        /* Everything left: start afresh from what the series still holds. */
        changed = !kj_agg_empty(&sc->win[w0]) || !kj_agg_empty(&sc->win[w0 + 1]);
        kj_series_drop_before(&sc->ser[res], kj_m_horizon(m, res));
        kj_window_rebuild(m, sc, res);
        return changed || !kj_agg_empty(&sc->win[w0 + 1]);
    }
    unsigned lost[2] = {0, 0};
    series_rec rec;
    uint32_t off = 0;
    while (kj_series_next(&sc->ser[res], &off, &rec)) {
        bool decoded = false;
        for (int k = 0; k < 2; k++) {
            bool was = holds_at(w0 + k, old_now, rec.start);
            bool is = holds_at(w0 + k, new_now, rec.start);
            if (was == is) continue;
            if (!decoded && kj_agg_decode(&m->scratch, rec.data, rec.len) != KJ_OK) break;
            decoded = true;
            changed = true;
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
