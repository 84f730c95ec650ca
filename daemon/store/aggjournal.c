/* kinerjad — the records of the aggregate journal and the view over them
 * (aggjournal.h). */
#include "aggjournal.h"

#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"

#define ENTRY_HEAD 6 /* u16 key length, u32 value length */

void kj_aggj_append(msgpack_sbuffer *rec, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    uint8_t head[ENTRY_HEAD];
    head[0] = (uint8_t)klen;
    head[1] = (uint8_t)(klen >> 8);
    for (int i = 0; i < 4; i++)
        head[2 + i] = (uint8_t)(vlen >> (8 * i));
    msgpack_sbuffer_write(rec, (const char *)head, sizeof head);
    msgpack_sbuffer_write(rec, key, klen);
    msgpack_sbuffer_write(rec, val, vlen);
}

/* The entry at *pos, and *pos past it; false at the end or on a fault
 * (*bad then says which). */
static bool next_entry(const uint8_t *rec, size_t len, size_t *pos, kj_aggj_entry *e, bool *bad)
{
    *bad = false;
    if (*pos == len) return false;
    if (len - *pos < ENTRY_HEAD) return !(*bad = true);
    const uint8_t *h = rec + *pos;
    e->klen = (uint32_t)h[0] | (uint32_t)h[1] << 8;
    e->vlen = (uint32_t)h[2] | (uint32_t)h[3] << 8 | (uint32_t)h[4] << 16 | (uint32_t)h[5] << 24;
    size_t rest = len - *pos - ENTRY_HEAD;
    if (e->klen == 0 || e->klen > rest || e->vlen > rest - e->klen) return !(*bad = true);
    e->key = h + ENTRY_HEAD;
    e->val = e->key + e->klen;
    *pos += ENTRY_HEAD + e->klen + e->vlen;
    return true;
}

size_t kj_aggj_count(const uint8_t *rec, size_t len)
{
    kj_aggj_entry e;
    size_t pos = 0, n = 0;
    bool bad;
    while (next_entry(rec, len, &pos, &e, &bad))
        n++;
    return n;
}

bool kj_aggview_add(kj_aggview *v, const uint8_t *rec, size_t len)
{
    kj_aggj_entry e;
    size_t pos = 0;
    bool bad;
    v->sorted = false;
    while (next_entry(rec, len, &pos, &e, &bad)) {
        if (v->n == v->cap) {
            v->cap = v->cap ? 2 * v->cap : 64;
            v->e = kj_realloc(v->e, v->cap * sizeof *v->e);
        }
        e.order = v->next_order++;
        v->e[v->n++] = e;
    }
    return !bad;
}

/* By key, and the newest first among equal keys. */
static int entry_cmp(const void *a, const void *b)
{
    const kj_aggj_entry *x = a, *y = b;
    int c = kj_key_cmp(x->key, x->klen, y->key, y->klen);
    return c ? c : (x->order < y->order) - (x->order > y->order);
}

void kj_aggview_finish(kj_aggview *v)
{
    if (v->sorted) return;
    if (v->n > 1) qsort(v->e, v->n, sizeof *v->e, entry_cmp); /* v->e may be NULL */
    size_t out = 0;
    for (size_t i = 0; i < v->n; i++)
        if (out == 0 ||
            kj_key_cmp(v->e[out - 1].key, v->e[out - 1].klen, v->e[i].key, v->e[i].klen) != 0)
            v->e[out++] = v->e[i];
    v->n = out;
    v->sorted = true;
}

size_t kj_aggview_lower_bound(const kj_aggview *v, const void *from, size_t flen)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kj_key_cmp(v->e[mid].key, v->e[mid].klen, from, flen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const kj_aggj_entry *kj_aggview_get(const kj_aggview *v, const void *key, size_t klen)
{
    size_t i = kj_aggview_lower_bound(v, key, klen);
    if (i < v->n && kj_key_cmp(v->e[i].key, v->e[i].klen, key, klen) == 0) return &v->e[i];
    return NULL;
}

void kj_aggview_free(kj_aggview *v)
{
    free(v->e);
    *v = (kj_aggview){0};
}
