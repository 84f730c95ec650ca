/* kinerjad — a mergeable, subtractable log-linear histogram of durations in ms.
 *
 * Values 0..127 ms have a cell each (exact); above, every power of two is cut
 * into 64 cells, so a cell is at most 1/64 of its lower bound wide and its
 * midpoint is within 0.8 % of any value in it. Percentiles are nearest-rank
 * estimates within 1 % (relative) or 1 ms of the exact value; count, sum and max
 * are exact. Values above KJ_HIST_MAX_VALUE (about 34 years) are clamped.
 *
 * Storage adapts to the data: a hist with few cells keeps a sorted array of
 * (cell, count) pairs; one with many cells close together switches to a dense
 * array over its range. Both forms behave the same through this interface.
 *
 * A kj_hist is a small value embedded in larger structs; its fields are private
 * to hist.c. Zero-initialised (KJ_HIST_INIT) means empty. Cell counts are 32-bit:
 * one cell saturating needs 4 billion values of the same ms bucket in one window.
 * Not thread-safe; the metrics engine owns its hists. */
#ifndef KJ_HIST_H
#define KJ_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/err.h"

#define KJ_HIST_MAX_VALUE ((int64_t)1 << 40)
/* Upper bound of kj_hist_encode's output for any hist. */
#define KJ_HIST_ENCODED_MAX (5 * 10 + 2304 * 8)

/* The cell list of a big dense hist as last encoded, by segments of cells
 * (hist.c): kj_hist_encode_kept re-encodes only the segments changed since. */
typedef struct kj_hist_enc kj_hist_enc;

typedef struct kj_hist {
    uint64_t count;
    uint64_t sum;
    int64_t max;      /* exact while count > 0; 0 when empty */
    uint32_t *cells;  /* sparse: counts[cap] then uint16 cell ids[cap]; dense: counts[cap] */
    kj_hist_enc *enc; /* NULL unless kj_hist_encode_kept made it */
    uint16_t n;       /* cells with a non-zero count */
    uint16_t cap;
    uint16_t lo; /* dense: cell id of cells[0] */
    uint8_t dense;
    uint8_t pad;
} kj_hist;

#define KJ_HIST_INIT                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

/* Release the storage; h becomes empty and reusable. */
void kj_hist_reset(kj_hist *h);

/* Add one value (negative values count as 0). */
void kj_hist_add(kj_hist *h, int64_t v);

/* Asks for the cache line that kj_hist_add(h, v) will write, when h is dense
 * and already covers v (a hint: it changes nothing). */
void kj_hist_prefetch(const kj_hist *h, int64_t v);

/* h += other. */
void kj_hist_merge(kj_hist *h, const kj_hist *other);

/* h -= other, where other's values were all added to h before. Returns true when
 * h's maximum may have left with other (other->max >= h->max and h is not
 * empty): the caller then knows the true maximum from elsewhere and sets it with
 * kj_hist_set_max. Until then h->max is an upper bound. */
bool kj_hist_sub(kj_hist *h, const kj_hist *other);

void kj_hist_set_max(kj_hist *h, int64_t max);

/* A deep copy of src into dst (dst's old storage is released). */
void kj_hist_copy(kj_hist *dst, const kj_hist *src);

static inline uint64_t kj_hist_count(const kj_hist *h)
{
    return h->count;
}
static inline uint64_t kj_hist_sum(const kj_hist *h)
{
    return h->sum;
}
static inline int64_t kj_hist_max(const kj_hist *h)
{
    return h->max;
}

/* Nearest-rank percentile estimate for pct in 1..100 (the value of rank
 * ceil(pct * count / 100)); 0 for an empty hist. */
int64_t kj_hist_percentile(const kj_hist *h, unsigned pct);

/* True when a and b hold the same values (count, sum, max and every cell). */
bool kj_hist_equal(const kj_hist *a, const kj_hist *b);

/* Bytes of heap storage h holds (for memory accounting in tests). */
size_t kj_hist_heap_bytes(const kj_hist *h);

/* Serialise into buf (at least KJ_HIST_ENCODED_MAX bytes, or
 * kj_hist_encoded_size(h)); returns the bytes written. The format is compact
 * (LEB128 varints, cells delta-coded) and stable: it is stored in LMDB. */
size_t kj_hist_encoded_size(const kj_hist *h);
size_t kj_hist_encode(const kj_hist *h, uint8_t *buf);
/* The same bytes; a big dense hist also keeps them, by segments of cells, and
 * the next call encodes only the segments its adds changed since (an open
 * minute bucket is encoded by every group that touches it, a cell or two of
 * its hundreds changed each time). The copy is freed with the hist. */
size_t kj_hist_encode_kept(kj_hist *h, uint8_t *buf);

/* Parse one encoded hist from buf (len bytes) into h (which must be empty or
 * is reset first); *used gets the bytes consumed. Returns KJ_ERR_DECODE on
 * malformed input, leaving h empty. */
kj_err kj_hist_decode(kj_hist *h, const uint8_t *buf, size_t len, size_t *used);

/* h += and h2 += the encoded hist in buf, in one pass and without decoding it
 * into a hist of its own (loading at start merges ~2 M stored buckets into
 * window totals). Either may be NULL (both: only a check). KJ_ERR_DECODE on
 * malformed input, when h and h2 may hold part of it: the caller rebuilds
 * them from input known to be good. */
kj_err kj_hist_merge_encoded(kj_hist *h, kj_hist *h2, const uint8_t *buf, size_t len, size_t *used);

/* Read only count, sum and max of an encoded hist, skipping its cells. */
kj_err kj_hist_decode_summary(const uint8_t *buf, size_t len, uint64_t *count, uint64_t *sum,
                              int64_t *max, size_t *used);

/* LEB128 helpers shared with the other encoders of the metrics engine. Reading
 * returns the bytes consumed, or 0 when buf ends early or the value is longer
 * than 10 bytes. */
size_t kj_varint_put(uint8_t *buf, uint64_t v);
size_t kj_varint_get_long(const uint8_t *buf, size_t len, uint64_t *v);
static inline size_t kj_varint_get(const uint8_t *buf, size_t len, uint64_t *v)
{
    if (len && buf[0] < 0x80) { /* most cell deltas and counts: one byte, inline */
        *v = buf[0];
        return 1;
    }
    return kj_varint_get_long(buf, len, v);
}
/* Reads LEB128 fields one after another: a bad read sets bad, and every read
 * after it gives 0, so that a decoder checks once at the end. */
typedef struct kj_reader {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
} kj_reader;

static inline uint64_t kj_rd_varint(kj_reader *r)
{
    uint64_t v = 0;
    size_t n = r->bad ? 0 : kj_varint_get(r->p + r->pos, r->len - r->pos, &v);
    r->bad |= n == 0;
    r->pos += n;
    return v;
}

static inline size_t kj_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

#endif
