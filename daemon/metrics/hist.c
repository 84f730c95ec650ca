#include "hist.h"

#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"

/* Cell layout: ids 0..127 are the values themselves; from 128 on, each power of
 * two 2^e (e = 7..40) has SUB cells of width 2^(e - SUB_BITS). */
#define SUB_BITS 6
#define SUB (1 << SUB_BITS)
#define LINEAR (2 * SUB)
#define TOP_EXP 40
#define N_CELLS (LINEAR + (TOP_EXP - 7) * SUB) /* 2240: the last cell holds 2^40 - 1 */

/* A sparse hist turns dense once it has this many cells and they are packed
 * closely enough that a dense array costs at most 3x the sparse one: dense adds
 * are O(1) instead of a binary search. */
#define DENSE_MIN_CELLS 48
#define DENSE_SLACK 16

/* kj_hist_encode_kept keeps the cell lists of dense hists with at least
 * KEPT_MIN_CELLS cells, in segments of 2^SEG_BITS cells by id: an add dirties
 * one. */
#define KEPT_MIN_CELLS 64
#define SEG_BITS 6
#define SEGS ((N_CELLS + (1 << SEG_BITS) - 1) >> SEG_BITS)
#define ALL_SEGS ((UINT64_C(1) << SEGS) - 1)

struct kj_hist_enc {
    uint64_t dirty; /* segments whose cells changed since the list was made */
    uint8_t *list;  /* the cell list, segment after segment */
    uint32_t cap;
    uint16_t start[SEGS + 1]; /* segment s is list[start[s] .. start[s + 1]) */
    uint16_t from[SEGS];      /* the cell its first delta counts from */
    uint16_t last[SEGS];      /* its last cell, when it has any */
};

static inline void mark_cell(kj_hist *h, unsigned id)
{
    if (h->enc) h->enc->dirty |= UINT64_C(1) << (id >> SEG_BITS);
}

static unsigned cell_of(int64_t v)
{
    if (v < LINEAR) return v < 0 ? 0 : (unsigned)v;
    if (v >= KJ_HIST_MAX_VALUE) v = KJ_HIST_MAX_VALUE - 1;
    unsigned e = 63 - (unsigned)__builtin_clzll((uint64_t)v);
    unsigned m = (unsigned)((uint64_t)v >> (e - SUB_BITS)) & (SUB - 1);
    return LINEAR + (e - 7) * SUB + m;
}

static void cell_bounds(unsigned c, int64_t *lo, int64_t *hi)
{
    if (c < LINEAR) {
        *lo = *hi = c;
        return;
    }
    unsigned e = 7 + (c - LINEAR) / SUB, m = (c - LINEAR) % SUB;
    int64_t width = (int64_t)1 << (e - SUB_BITS);
    *lo = ((int64_t)1 << e) + (int64_t)m * width;
    *hi = *lo + width - 1;
}

/* NULL for a hist without cells: NULL + 0 is undefined in C (UBSan says so). */
static inline uint16_t *sparse_ids(const kj_hist *h)
{
    return h->cells ? (uint16_t *)(h->cells + h->cap) : NULL;
}

static void free_enc(kj_hist *h)
{
    if (!h->enc) return;
    free(h->enc->list);
    free(h->enc);
    h->enc = NULL;
}

void kj_hist_reset(kj_hist *h)
{
    free_enc(h);
    free(h->cells);
    memset(h, 0, sizeof *h);
}

/* Index of the first sparse entry whose id is >= id. */
static unsigned sparse_find(const kj_hist *h, unsigned id)
{
    const uint16_t *ids = sparse_ids(h);
    unsigned a = 0, b = h->n;
    /* Most adds hit the largest or a recent cell; check the end first. */
    if (b && ids[b - 1] < id) return b;
    while (a < b) {
        unsigned mid = (a + b) / 2;
        if (ids[mid] < id)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

static void sparse_grow(kj_hist *h, unsigned cap)
{
    uint32_t *cells = kj_malloc(cap * (sizeof(uint32_t) + sizeof(uint16_t)));
    uint16_t *ids = (uint16_t *)(cells + cap);
    if (h->n) {
        memcpy(cells, h->cells, h->n * sizeof(uint32_t));
        memcpy(ids, sparse_ids(h), h->n * sizeof(uint16_t));
    }
    free(h->cells);
    h->cells = cells;
    h->cap = (uint16_t)cap;
}

static void to_dense(kj_hist *h, unsigned lo, unsigned hi)
{
    unsigned cap = hi - lo + 1;
    uint32_t *cells = kj_calloc(cap, sizeof(uint32_t));
    const uint16_t *ids = sparse_ids(h);
    for (unsigned i = 0; i < h->n; i++)
        cells[ids[i] - lo] = h->cells[i];
    free(h->cells);
    h->cells = cells;
    h->cap = (uint16_t)cap;
    h->lo = (uint16_t)lo;
    h->dense = 1;
}

static void maybe_densify(kj_hist *h)
{
    if (h->n < DENSE_MIN_CELLS) return;
    const uint16_t *ids = sparse_ids(h);
    unsigned range = ids[h->n - 1] - ids[0] + 1u;
    if (range * sizeof(uint32_t) <= 3u * h->n * (sizeof(uint32_t) + sizeof(uint16_t)))
        to_dense(h, ids[0] > DENSE_SLACK ? ids[0] - DENSE_SLACK : 0,
                 ids[h->n - 1] + DENSE_SLACK < N_CELLS ? ids[h->n - 1] + DENSE_SLACK : N_CELLS - 1);
}

/* Make the dense range cover id, with some slack so that a drifting range
 * does not reallocate on every add. */
static void dense_cover(kj_hist *h, unsigned id)
{
    unsigned lo = h->lo, hi = h->lo + h->cap - 1u;
    if (id >= lo && id <= hi) return;
    unsigned nlo = id < lo ? (id > DENSE_SLACK ? id - DENSE_SLACK : 0) : lo;
    unsigned nhi = id > hi ? (id + DENSE_SLACK < N_CELLS ? id + DENSE_SLACK : N_CELLS - 1) : hi;
    uint32_t *cells = kj_calloc(nhi - nlo + 1, sizeof(uint32_t));
    memcpy(cells + (lo - nlo), h->cells, h->cap * sizeof(uint32_t));
    free(h->cells);
    h->cells = cells;
    h->cap = (uint16_t)(nhi - nlo + 1);
    h->lo = (uint16_t)nlo;
}

static void add_cell(kj_hist *h, unsigned id, uint32_t k)
{
    mark_cell(h, id);
    if (h->dense) {
        dense_cover(h, id);
        uint32_t *c = &h->cells[id - h->lo];
        if (*c == 0) h->n++;
        *c += k;
        return;
    }
    unsigned i = sparse_find(h, id);
    if (i < h->n && sparse_ids(h)[i] == id) {
        h->cells[i] += k;
        return;
    }
    if (h->n == h->cap) sparse_grow(h, h->cap ? 2u * h->cap : 2u);
    uint16_t *ids = sparse_ids(h);
    memmove(h->cells + i + 1, h->cells + i, (h->n - i) * sizeof(uint32_t));
    memmove(ids + i + 1, ids + i, (h->n - i) * sizeof(uint16_t));
    h->cells[i] = k;
    ids[i] = (uint16_t)id;
    h->n++;
    maybe_densify(h);
}

void kj_hist_add(kj_hist *h, int64_t v)
{
    if (v < 0) v = 0;
    if (v >= KJ_HIST_MAX_VALUE) v = KJ_HIST_MAX_VALUE - 1;
    add_cell(h, cell_of(v), 1);
    h->count++;
    h->sum += (uint64_t)v;
    if (v > h->max) h->max = v;
}

void kj_hist_prefetch(const kj_hist *h, int64_t v)
{
    if (!h->dense) return;
    unsigned id = cell_of(v < 0 ? 0 : v);
    if (id >= h->lo && id - h->lo < h->cap) __builtin_prefetch(&h->cells[id - h->lo], 1);
}

/* Calls fn for every non-empty cell in ascending order. */
#define EACH_CELL(h, id, k, body)                                                                  \
    do {                                                                                           \
        if ((h)->dense) {                                                                          \
            for (unsigned ec_i = 0; ec_i < (h)->cap; ec_i++) {                                     \
                if (!(h)->cells[ec_i]) continue;                                                   \
                unsigned id = (h)->lo + ec_i;                                                      \
                uint32_t k = (h)->cells[ec_i];                                                     \
                body;                                                                              \
            }                                                                                      \
        } else {                                                                                   \
            const uint16_t *ec_ids = sparse_ids(h);                                                \
            for (unsigned ec_i = 0; ec_i < (h)->n; ec_i++) {                                       \
                unsigned id = ec_ids[ec_i];                                                        \
                uint32_t k = (h)->cells[ec_i];                                                     \
                body;                                                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* The lowest and highest non-empty cells of a hist that has some. */
static void cell_range(const kj_hist *h, unsigned *lo, unsigned *hi)
{
    if (!h->dense) {
        *lo = sparse_ids(h)[0];
        *hi = sparse_ids(h)[h->n - 1];
        return;
    }
    unsigned a = 0, b = h->cap - 1u;
    while (a < b && !h->cells[a])
        a++;
    while (b > a && !h->cells[b])
        b--;
    *lo = h->lo + a;
    *hi = h->lo + b;
}

/* Both sorted, so one pass writes their union: an add per cell would search
 * for each one and shift the cells after it. */
static void sparse_merge(kj_hist *h, const kj_hist *other)
{
    unsigned cap = (unsigned)h->n + other->n, i = 0, n = 0;
    uint32_t *cells = kj_malloc(cap * (sizeof(uint32_t) + sizeof(uint16_t)));
    uint16_t *ids = (uint16_t *)(cells + cap);
    const uint16_t *mine = sparse_ids(h);
    EACH_CELL(other, id, k, {
        while (i < h->n && mine[i] < id) {
            cells[n] = h->cells[i];
            ids[n++] = mine[i++];
        }
        bool same = i < h->n && mine[i] == id;
        cells[n] = same ? h->cells[i++] + k : k;
        ids[n++] = (uint16_t)id;
    });
    for (; i < h->n; i++, n++) {
        cells[n] = h->cells[i];
        ids[n] = mine[i];
    }
    if (n < cap) { /* cells both had: a long-lived total (a window) keeps no slack */
        memmove(cells + n, ids, n * sizeof(uint16_t));
        cells = kj_realloc(cells, n * (sizeof(uint32_t) + sizeof(uint16_t)));
        cap = n;
    }
    free(h->cells);
    h->cells = cells;
    h->cap = (uint16_t)cap;
    h->n = (uint16_t)n;
    maybe_densify(h);
}

/* Merging is how views are built (today, a window with its pending minutes)
 * and minutes folded: into an empty hist it is a copy, into a dense one the
 * range is widened once, and a sparse one is merged in one pass unless only
 * a few cells come. */
void kj_hist_merge(kj_hist *h, const kj_hist *other)
{
    if (!other->count) return;
    if (!h->count) {
        kj_hist_copy(h, other);
        return;
    }
    if (h->dense) {
        unsigned lo, hi;
        cell_range(other, &lo, &hi);
        dense_cover(h, lo);
        dense_cover(h, hi);
        EACH_CELL(other, id, k, add_cell(h, id, k));
    } else if (other->n > 4) {
        sparse_merge(h, other);
    } else {
        EACH_CELL(other, id, k, add_cell(h, id, k));
    }
    h->count += other->count;
    h->sum += other->sum;
    if (other->max > h->max) h->max = other->max;
}

static void sub_cell(kj_hist *h, unsigned id, uint32_t k)
{
    if (h->dense) {
        if (id < h->lo || id >= (unsigned)h->lo + h->cap) return;
        uint32_t *c = &h->cells[id - h->lo];
        if (!*c) return;
        mark_cell(h, id);
        *c = *c > k ? *c - k : 0;
        if (!*c) h->n--;
        return;
    }
    unsigned i = sparse_find(h, id);
    uint16_t *ids = sparse_ids(h);
    if (i >= h->n || ids[i] != id) return;
    if (h->cells[i] > k) {
        h->cells[i] -= k;
        return;
    }
    memmove(h->cells + i, h->cells + i + 1, (h->n - i - 1) * sizeof(uint32_t));
    memmove(ids + i, ids + i + 1, (h->n - i - 1) * sizeof(uint16_t));
    h->n--;
}

/* The upper bound of the highest non-empty cell. */
static int64_t top_bound(const kj_hist *h)
{
    unsigned top = 0;
    EACH_CELL(h, id, k, (void)k; top = id);
    int64_t lo, hi;
    cell_bounds(top, &lo, &hi);
    return hi;
}

bool kj_hist_sub(kj_hist *h, const kj_hist *other)
{
    if (!other->count) return false;
    EACH_CELL(other, id, k, sub_cell(h, id, k));
    h->count = h->count > other->count ? h->count - other->count : 0;
    h->sum = h->sum > other->sum ? h->sum - other->sum : 0;
    if (!h->count || !h->n) {
        kj_hist_reset(h);
        return false;
    }
    if (other->max < h->max) return false;
    int64_t bound = top_bound(h);
    if (bound < h->max) h->max = bound;
    return true;
}

void kj_hist_set_max(kj_hist *h, int64_t max)
{
    h->max = h->count ? max : 0;
}

void kj_hist_copy(kj_hist *dst, const kj_hist *src)
{
    if (dst == src) return;
    kj_hist_reset(dst);
    *dst = *src;
    dst->enc = NULL;
    if (!src->cells) return;
    size_t bytes = src->cap * (src->dense ? sizeof(uint32_t) : sizeof(uint32_t) + sizeof(uint16_t));
    dst->cells = kj_malloc(bytes);
    memcpy(dst->cells, src->cells, bytes);
}

int64_t kj_hist_percentile(const kj_hist *h, unsigned pct)
{
    if (!h->count) return 0;
    if (pct > 100) pct = 100;
    uint64_t rank = (pct * h->count + 99) / 100;
    if (rank < 1) rank = 1;
    if (rank == h->count) return h->max;
    uint64_t seen = 0;
    unsigned hit = 0;
    EACH_CELL(h, id, k, {
        seen += k;
        if (seen >= rank) {
            hit = id;
            break;
        }
    });
    int64_t lo, hi;
    cell_bounds(hit, &lo, &hi);
    int64_t v = lo + (hi - lo) / 2;
    /* The exact max sits in the top cell: never report beyond it. */
    return v > h->max ? h->max : v;
}

bool kj_hist_equal(const kj_hist *a, const kj_hist *b)
{
    if (a->count != b->count || a->sum != b->sum || a->n != b->n) return false;
    if (a->count && a->max != b->max) return false;
    unsigned ids[N_CELLS];
    uint32_t ks[N_CELLS];
    unsigned n = 0, i = 0;
    bool same = true;
    EACH_CELL(a, id, k, {
        ids[n] = id;
        ks[n++] = k;
    });
    EACH_CELL(b, id, k, {
        if (i >= n || ids[i] != id || ks[i] != k) {
            same = false;
            break;
        }
        i++;
    });
    return same && i == n;
}

size_t kj_hist_heap_bytes(const kj_hist *h)
{
    size_t kept = h->enc ? sizeof *h->enc + h->enc->cap : 0;
    if (!h->cells) return kept;
    return kept + h->cap * (h->dense ? sizeof(uint32_t) : sizeof(uint32_t) + sizeof(uint16_t));
}

size_t kj_varint_put(uint8_t *buf, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    buf[n++] = (uint8_t)v;
    return n;
}

size_t kj_varint_get_long(const uint8_t *buf, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        x |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
        if (!(buf[i] & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

/* Encoded form: count; if 1, the value; else sum, max, cells, bytes of the cell
 * list, then per cell (id delta, count). The byte length lets readers that want
 * only the summary skip the cells. */
static size_t cells_size(const kj_hist *h)
{
    size_t n = 0;
    unsigned prev = 0;
    EACH_CELL(h, id, k, {
        n += kj_varint_size(id - prev) + kj_varint_size(k);
        prev = id;
    });
    return n;
}

/* The cell list's byte length is written as a 3-byte varint (padded when
 * shorter: LEB128 readers accept it) so that cells can be written in one pass,
 * straight after it. A list never exceeds N_CELLS * 7 bytes < 2^21. */
#define CELLS_LEN_BYTES 3

static size_t header(const kj_hist *h, uint8_t *buf)
{
    size_t n = kj_varint_put(buf, h->count);
    n += kj_varint_put(buf + n, h->sum);
    n += kj_varint_put(buf + n, (uint64_t)h->max);
    return n + kj_varint_put(buf + n, h->n);
}

size_t kj_hist_encoded_size(const kj_hist *h)
{
    if (h->count <= 1) return kj_varint_size(h->count) + (h->count ? kj_varint_size(h->sum) : 0);
    uint8_t head[40];
    return header(h, head) + CELLS_LEN_BYTES + cells_size(h);
}

/* A cell as two varints: mostly a one-byte delta and a count of one or two
 * bytes, written here without kj_varint_put's loop (a busy minute bucket's
 * hists are re-encoded by every group that touches them). */
static inline uint8_t *put_cell(uint8_t *p, unsigned delta, uint32_t k)
{
    if (delta < 0x80)
        *p++ = (uint8_t)delta;
    else
        p += kj_varint_put(p, delta);
    if (k < 0x80) {
        *p++ = (uint8_t)k;
    } else if (k < 0x4000) {
        p[0] = (uint8_t)(k | 0x80);
        p[1] = (uint8_t)(k >> 7);
        p += 2;
    } else {
        p += kj_varint_put(p, k);
    }
    return p;
}

static uint8_t *put_cells(const kj_hist *h, uint8_t *p)
{
    unsigned prev = 0;
    EACH_CELL(h, id, k, {
        p = put_cell(p, id - prev, k);
        prev = id;
    });
    return p;
}

/* The cells of segment s of a dense hist, the first counted from *prev. */
static uint8_t *put_segment(const kj_hist *h, unsigned s, unsigned *prev, uint8_t *p)
{
    unsigned a = s << SEG_BITS, b = a + (1u << SEG_BITS), end = (unsigned)h->lo + h->cap;
    if (a < h->lo) a = h->lo;
    if (b > end) b = end;
    for (unsigned id = a; id < b; id++) {
        uint32_t k = h->cells[id - h->lo];
        if (!k) continue;
        p = put_cell(p, id - *prev, k);
        *prev = id;
    }
    return p;
}

/* A run of the kept list (none yet on the first call: memcpy from NULL is
 * undefined even for no bytes). */
static inline uint8_t *copy_run(uint8_t *p, const kj_hist_enc *c, size_t from, size_t len)
{
    if (len) memcpy(p, c->list + from, len);
    return p + len;
}

/* put_cells from the kept list: a segment is copied when no add changed it
 * and its first delta still counts from the same cell; neighbours that are
 * both copied are one run, contiguous in the old list and in the new. */
static uint8_t *put_cells_kept(kj_hist *h, uint8_t *p)
{
    kj_hist_enc *c = h->enc;
    if (!c) {
        c = h->enc = kj_calloc(1, sizeof *c);
        c->dirty = ALL_SEGS;
    }
    uint8_t *list = p;
    uint16_t start[SEGS + 1];
    size_t run_from = 0, run_len = 0;
    unsigned prev = 0;
    for (unsigned s = 0; s < SEGS; s++) {
        size_t len = c->start[s + 1] - c->start[s];
        start[s] = (uint16_t)(p - list + run_len);
        if (!(c->dirty >> s & 1) && (len == 0 || c->from[s] == prev)) {
            if (!run_len) run_from = c->start[s];
            run_len += len;
            if (len) prev = c->last[s];
            continue;
        }
        p = copy_run(p, c, run_from, run_len);
        run_len = 0;
        c->from[s] = (uint16_t)prev;
        uint8_t *q = p;
        p = put_segment(h, s, &prev, p);
        if (p != q) c->last[s] = (uint16_t)prev;
    }
    p = copy_run(p, c, run_from, run_len);
    start[SEGS] = (uint16_t)(p - list);
    size_t n = (size_t)(p - list);
    if (n > c->cap) {
        c->cap = (uint32_t)(n + n / 4);
        c->list = kj_realloc(c->list, c->cap);
    }
    memcpy(c->list, list, n);
    memcpy(c->start, start, sizeof start);
    c->dirty = 0;
    return p;
}

/* kj_hist_encode, with the cells from put_cells or put_cells_kept. */
static size_t encode(const kj_hist *h, kj_hist *keep, uint8_t *buf)
{
    size_t n = kj_varint_put(buf, h->count);
    if (h->count == 0) return n;
    if (h->count == 1) return n + kj_varint_put(buf + n, h->sum);
    n = header(h, buf);
    uint8_t *len = buf + n;
    uint8_t *p =
        keep ? put_cells_kept(keep, len + CELLS_LEN_BYTES) : put_cells(h, len + CELLS_LEN_BYTES);
    size_t cells = (size_t)(p - len) - CELLS_LEN_BYTES;
    len[0] = (uint8_t)(cells | 0x80);
    len[1] = (uint8_t)((cells >> 7) | 0x80);
    len[2] = (uint8_t)(cells >> 14);
    return (size_t)(p - buf);
}

size_t kj_hist_encode(const kj_hist *h, uint8_t *buf)
{
    return encode(h, NULL, buf);
}

size_t kj_hist_encode_kept(kj_hist *h, uint8_t *buf)
{
    bool keep = h->dense && (h->enc || h->n >= KEPT_MIN_CELLS);
    return encode(h, keep ? h : NULL, buf);
}

/* Reads one varint at *pos, advancing it; false when malformed. */
static bool get(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
    size_t n = kj_varint_get(buf + *pos, len - *pos, v);
    *pos += n;
    return n != 0;
}

kj_err kj_hist_decode_summary(const uint8_t *buf, size_t len, uint64_t *count, uint64_t *sum,
                              int64_t *max, size_t *used)
{
    size_t pos = 0;
    uint64_t c, s = 0, m = 0, n, bytes;
    if (!get(buf, len, &pos, &c)) return KJ_ERR_DECODE;
    if (c == 1) {
        if (!get(buf, len, &pos, &s) || s >= (uint64_t)KJ_HIST_MAX_VALUE) return KJ_ERR_DECODE;
        m = s;
    } else if (c > 1) {
        if (!get(buf, len, &pos, &s) || !get(buf, len, &pos, &m) || !get(buf, len, &pos, &n) ||
            !get(buf, len, &pos, &bytes) || bytes > len - pos || m >= (uint64_t)KJ_HIST_MAX_VALUE)
            return KJ_ERR_DECODE;
        pos += bytes;
    }
    *count = c;
    *sum = s;
    *max = (int64_t)m;
    *used = pos;
    return KJ_OK;
}

/* Walks n encoded cells, checking them; adds each to h and h2 (either may be
 * NULL). */
static kj_err walk_cells(kj_hist *h, kj_hist *h2, const uint8_t *buf, size_t len, uint64_t n,
                         uint64_t count)
{
    size_t pos = 0;
    uint64_t id = 0, total = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t delta, k;
        if (!get(buf, len, &pos, &delta) || !get(buf, len, &pos, &k)) return KJ_ERR_DECODE;
        if ((i && !delta) || !k || k > UINT32_MAX) return KJ_ERR_DECODE;
        id += delta;
        if (id >= N_CELLS) return KJ_ERR_DECODE;
        if (h) add_cell(h, (unsigned)id, (uint32_t)k);
        if (h2) add_cell(h2, (unsigned)id, (uint32_t)k);
        total += k;
    }
    if (pos != len || total != count) return KJ_ERR_DECODE;
    return KJ_OK;
}

static kj_err decode_cells(kj_hist *h, const uint8_t *buf, size_t len, uint64_t n)
{
    return walk_cells(h, NULL, buf, len, n, h->count);
}

/* The cell list of an encoded hist with count > 1: its cell count and bytes. */
static kj_err cell_list(const uint8_t *buf, size_t len, uint64_t *n, size_t *start, uint64_t *bytes)
{
    size_t pos = 0;
    uint64_t skip;
    for (int i = 0; i < 3; i++)
        get(buf, len, &pos, &skip);
    get(buf, len, &pos, n);
    get(buf, len, &pos, bytes);
    if (*n == 0 || *n > N_CELLS) return KJ_ERR_DECODE;
    *start = pos;
    return KJ_OK;
}

static void add_summary(kj_hist *h, uint64_t count, uint64_t sum, int64_t max)
{
    h->count += count;
    h->sum += sum;
    if (max > h->max) h->max = max;
}

kj_err kj_hist_merge_encoded(kj_hist *h, kj_hist *h2, const uint8_t *buf, size_t len, size_t *used)
{
    uint64_t count, sum, n = 0, bytes = 0;
    int64_t max;
    size_t end, start = 0;
    kj_err err = kj_hist_decode_summary(buf, len, &count, &sum, &max, &end);
    if (!err && count > 1) err = cell_list(buf, len, &n, &start, &bytes);
    if (err) return err;
    *used = end;
    if (count == 1) {
        if (h) kj_hist_add(h, max);
        if (h2) kj_hist_add(h2, max);
        return KJ_OK;
    }
    if (count == 0) return KJ_OK;
    if ((err = walk_cells(h, h2, buf + start, (size_t)bytes, n, count))) return err;
    if (h) add_summary(h, count, sum, max);
    if (h2) add_summary(h2, count, sum, max);
    return KJ_OK;
}

kj_err kj_hist_decode(kj_hist *h, const uint8_t *buf, size_t len, size_t *used)
{
    kj_hist_reset(h);
    uint64_t count, sum;
    int64_t max;
    size_t end;
    kj_err err = kj_hist_decode_summary(buf, len, &count, &sum, &max, &end);
    if (err) return err;
    if (count == 1) {
        kj_hist_add(h, max);
    } else if (count > 1) {
        size_t pos;
        uint64_t n, bytes;
        if (cell_list(buf, len, &n, &pos, &bytes)) return KJ_ERR_DECODE;
        h->count = count;
        h->sum = sum;
        h->max = max;
        if (n > DENSE_MIN_CELLS) sparse_grow(h, (unsigned)n);
        err = decode_cells(h, buf + pos, (size_t)bytes, n);
        if (err) goto fail;
    }
    *used = end;
    return KJ_OK;
fail:
    kj_hist_reset(h);
    return err;
}
