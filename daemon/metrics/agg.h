/* kinerjad — the aggregate of SPEC §4 for one bucket (a minute, an hour or a
 * local day of one scope) or one window: counts, sums and duration histograms
 * from which every metric field is derived.
 *
 * An aggregate is three optional sections, allocated on first use, so that a
 * bucket with a single task costs no ratings storage. Aggregates are mergeable
 * and subtractable (a sliding window is a running total of its buckets) and
 * serialise to a compact byte string, the value stored in LMDB.
 *
 * kj_agg is a plain struct embedded by value; its sections belong to it. */
#ifndef KJ_AGG_H
#define KJ_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/err.h"
#include "../proto/event.h"
#include "hist.h"

typedef struct kj_agg_tasks {
    uint64_t count;
    uint64_t due_n, on_time; /* tasks with a due_ts; of those, ts <= due_ts */
    uint64_t quality_n, quality_sum;
    kj_hist duration; /* tasks with duration_ms */
} kj_agg_tasks;

typedef struct kj_agg_services {
    uint64_t count; /* served + transferred */
    uint64_t no_show;
    uint64_t sla_ok; /* counted services with wait_ms <= sla_wait_ms */
    kj_hist wait, service;
} kj_agg_services;

typedef struct kj_agg_ratings {
    uint64_t cit_n, cit_sum; /* citizen ratings: count, sum of scores */
    uint64_t peer_n, peer_sum;
    uint64_t sup_n, sup_sum;
    /* IKM: sum over citizen responses of their 9 element values (9 x score for
     * a response with only a score); the index is 25 * ikm_sum / (9 * cit_n). */
    uint64_t ikm_sum;
    uint64_t elem_n; /* citizen responses that gave elements */
    uint64_t elem_sum[KJ_ELEMENTS];
} kj_agg_ratings;

typedef struct kj_agg {
    kj_agg_tasks *tasks;       /* NULL: no tasks */
    kj_agg_services *services; /* NULL: no services and no no-shows */
    kj_agg_ratings *ratings;   /* NULL: no ratings */
} kj_agg;

/* The three duration hists as bits: which ones a subtraction may have lost
 * the maximum of, and which ones a view needs (KJ_AGG_HISTS: all). */
enum { KJ_AGG_MAX_DURATION = 1, KJ_AGG_MAX_WAIT = 2, KJ_AGG_MAX_SERVICE = 4, KJ_AGG_HISTS = 7 };

/* Free the sections; a becomes empty. */
void kj_agg_reset(kj_agg *a);

static inline bool kj_agg_empty(const kj_agg *a)
{
    return !a->tasks && !a->services && !a->ratings;
}

/* Add one event (presence events add nothing). sla_wait_ms is the unit's. */
void kj_agg_add_event(kj_agg *a, const kj_event *ev, int64_t sla_wait_ms);

/* Asks for the hist cells that kj_agg_add_event(a, ev) will write (a hint). */
void kj_agg_prefetch_event(const kj_agg *a, const kj_event *ev);

/* a += b. */
void kj_agg_merge(kj_agg *a, const kj_agg *b);
/* a += b for the counters and only the hists in `hists` (KJ_AGG_MAX_* bits):
 * a view built for one metric need not copy cells it never reads. */
void kj_agg_merge_hists(kj_agg *a, const kj_agg *b, unsigned hists);

/* a -= b, where b was merged into a before. Sections that become empty are
 * freed. Returns the KJ_AGG_MAX_* bits of hists whose maximum may have left
 * (see kj_hist_sub); the caller restores them with kj_agg_set_max. */
unsigned kj_agg_sub(kj_agg *a, const kj_agg *b);
void kj_agg_set_max(kj_agg *a, unsigned which, int64_t max);

/* A deep copy (dst's old contents are released). */
void kj_agg_copy(kj_agg *dst, const kj_agg *src);
/* The same with only the hists in `hists`; the others are left empty. */
void kj_agg_copy_hists(kj_agg *dst, const kj_agg *src, unsigned hists);

/* Upper bound of kj_agg_encode's output. */
#define KJ_AGG_ENCODED_MAX (1 + 26 * 10 + 3 * KJ_HIST_ENCODED_MAX)

/* Serialisation (stable: stored in LMDB). kj_agg_encoded_size is exact; encode
 * needs it or KJ_AGG_ENCODED_MAX bytes. */
size_t kj_agg_encoded_size(const kj_agg *a);
size_t kj_agg_encode(const kj_agg *a, uint8_t *buf);
/* The same bytes; its big hists keep them for the next call
 * (kj_hist_encode_kept): for the open buckets that every group re-encodes. */
size_t kj_agg_encode_kept(kj_agg *a, uint8_t *buf);
/* Decode into a (reset first). KJ_ERR_DECODE on malformed input, a empty. */
kj_err kj_agg_decode(kj_agg *a, const uint8_t *buf, size_t len);
/* a += and b += the encoded agg, in one pass and without decoding it into an
 * agg of its own (the load at start does this for every stored hour bucket:
 * into the 7d and the 30d total at once). Either may be NULL; both NULL only
 * checks the input. KJ_ERR_DECODE on malformed input, when a and b may hold
 * part of it: the caller rebuilds them from input known to be good. */
kj_err kj_agg_merge_encoded(kj_agg *a, kj_agg *b, const uint8_t *buf, size_t len);
/* Only the maxima of the three hists (0 where empty), without decoding cells. */
kj_err kj_agg_decode_maxes(const uint8_t *buf, size_t len, int64_t max[3]);

#endif
