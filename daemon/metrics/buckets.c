/* A scope's bucket series of one resolution (buckets.h): records packed in
 * one buffer, oldest first. Pure: it knows nothing of the engine. */
#include "buckets.h"

#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "hist.h"

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
    uint32_t off = s->last;
    if (s->n && kj_series_next(s, &off, rec) && rec->start <= start) {
        if (rec->start == start) return;
        rec->off = s->used;
        rec->start = INT32_MAX;
        return;
    }
    off = 0;
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
    uint32_t old = 0, pos = at.off, end = s->used;
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
    if (pos == end) /* appended */
        s->last = pos;
    else if (pos < s->last || !old) /* inserted or resized before the newest */
        s->last = s->last + size - old;
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
    s->last = s->n ? s->last - cut : 0;
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
