/* One unit's queue of today, in event-time order (see queue.h). */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/clock.h"
#include "../proto/hash.h"
#include "hist.h"

#define NO_KIND 0xff
#define RECORD_VERSION 1

enum {
    SEEN_ISSUED = 1 << KJ_QSTEP_ISSUED,
    SEEN_CALLED = 1 << KJ_QSTEP_CALLED,
    SEEN_SERVED = 1 << KJ_QSTEP_SERVED,
    SEEN_CANCELLED = 1 << KJ_QSTEP_CANCELLED,
    EXPIRED = 1 << 4, /* pushed out by the bound while waiting */
};

typedef struct ticket {
    int64_t issued_ts; /* of the latest `issued` (SEEN_ISSUED) */
    int64_t last_ts;   /* the latest event, by (ts, step) */
    int64_t first_ts;  /* the earliest event: who goes first at the bound */
    uint8_t last_step;
    uint8_t flags; /* SEEN_*, EXPIRED */
    uint8_t kind;  /* index in kinds, or NO_KIND */
    bool kind_from_issued;
    bool dirty; /* changed since the last kj_queue_clean */
    char id[KJ_ID_MAX + 1];
} ticket;

/* What the tickets that left the table counted, per kind (the last slot:
 * no kind). */
typedef struct counts {
    uint32_t issued, called, cancelled, expired;
} counts;

struct kj_queue {
    ticket *t;
    uint32_t n, cap;
    uint32_t *index; /* open addressing: ticket index + 1, 0 empty */
    uint32_t index_cap;
    char kinds[KJ_QUEUE_KINDS][KJ_ID_MAX + 1];
    uint32_t n_kinds;
    counts gone[KJ_QUEUE_KINDS + 1];
    ticket *left; /* dirty tickets that left the table: still to be stored */
    uint32_t n_left, cap_left;
};

kj_queue *kj_queue_new(void)
{
    return kj_calloc(1, sizeof(kj_queue));
}

void kj_queue_free(kj_queue *q)
{
    if (!q) return;
    free(q->t);
    free(q->index);
    free(q->left);
    free(q);
}

static void *dup_array(const void *src, size_t n, size_t size)
{
    if (!n) return NULL;
    void *p = kj_malloc(n * size);
    memcpy(p, src, n * size);
    return p;
}

kj_queue *kj_queue_copy(const kj_queue *q)
{
    kj_queue *c = kj_malloc(sizeof *c);
    *c = *q;
    c->t = dup_array(q->t, q->n, sizeof *q->t);
    c->cap = q->n;
    c->index = dup_array(q->index, q->index_cap, sizeof *q->index);
    c->left = dup_array(q->left, q->n_left, sizeof *q->left);
    c->cap_left = q->n_left;
    return c;
}

/* ---- the index ---- */

static uint32_t hash_id(const char *s)
{
    return kj_hash_str(KJ_HASH_SEED, s);
}

static void index_put(kj_queue *q, uint32_t i)
{
    uint32_t mask = q->index_cap - 1;
    for (uint32_t s = hash_id(q->t[i].id) & mask;; s = (s + 1) & mask) {
        if (!q->index[s]) {
            q->index[s] = i + 1;
            return;
        }
    }
}

/* At most half full, so that a miss ends soon. */
static void index_rebuild(kj_queue *q, uint32_t min_cap)
{
    uint32_t cap = q->index_cap ? q->index_cap : 64;
    while (cap < 2 * min_cap)
        cap *= 2;
    if (cap != q->index_cap) {
        free(q->index);
        q->index = kj_malloc(cap * sizeof *q->index);
        q->index_cap = cap;
    }
    memset(q->index, 0, cap * sizeof *q->index);
    for (uint32_t i = 0; i < q->n; i++)
        index_put(q, i);
}

static ticket *find(const kj_queue *q, const char *id)
{
    if (!q->index_cap) return NULL;
    uint32_t mask = q->index_cap - 1;
    for (uint32_t s = hash_id(id) & mask; q->index[s]; s = (s + 1) & mask)
        if (!strcmp(q->t[q->index[s] - 1].id, id)) return &q->t[q->index[s] - 1];
    return NULL;
}

/* ---- tickets ---- */

static bool waiting(const ticket *t)
{
    return (t->flags & SEEN_ISSUED) && t->last_step == KJ_QSTEP_ISSUED && !(t->flags & EXPIRED);
}

static uint8_t kind_index(kj_queue *q, const char *service)
{
    if (!service[0]) return NO_KIND;
    for (uint32_t k = 0; k < q->n_kinds; k++)
        if (!strcmp(q->kinds[k], service)) return (uint8_t)k;
    if (q->n_kinds == KJ_QUEUE_KINDS) return NO_KIND;
    memcpy(q->kinds[q->n_kinds], service, strlen(service) + 1);
    return (uint8_t)q->n_kinds++;
}

static counts *gone_of(kj_queue *q, uint8_t kind)
{
    return &q->gone[kind == NO_KIND ? KJ_QUEUE_KINDS : kind];
}

static void count_into(counts *c, const ticket *t)
{
    c->issued += !!(t->flags & SEEN_ISSUED);
    c->called += !!(t->flags & (SEEN_CALLED | SEEN_SERVED));
    c->cancelled += !!(t->flags & SEEN_CANCELLED);
    c->expired += !!(t->flags & EXPIRED);
}

/* Remove ticket i from the table; its counts stay. A change not yet stored
 * goes to `left` so that the store learns it. */
static void forget(kj_queue *q, uint32_t i)
{
    ticket *t = &q->t[i];
    count_into(gone_of(q, t->kind), t);
    if (t->dirty) {
        if (q->n_left == q->cap_left) {
            q->cap_left = q->cap_left ? 2 * q->cap_left : 8;
            q->left = kj_realloc(q->left, q->cap_left * sizeof *q->left);
        }
        q->left[q->n_left++] = *t;
    }
    q->t[i] = q->t[--q->n];
    index_rebuild(q, q->n);
}

/* The ticket to make room with: the oldest closed one, else the one waiting
 * longest (which expires). */
static uint32_t victim(const kj_queue *q, bool *expires)
{
    uint32_t best = UINT32_MAX, oldest_open = 0;
    for (uint32_t i = 0; i < q->n; i++) {
        const ticket *t = &q->t[i];
        if (waiting(t)) {
            if (t->issued_ts < q->t[oldest_open].issued_ts || !waiting(&q->t[oldest_open]))
                oldest_open = i;
        } else if (best == UINT32_MAX || t->first_ts < q->t[best].first_ts) {
            best = i;
        }
    }
    *expires = best == UINT32_MAX;
    return *expires ? oldest_open : best;
}

static void make_room(kj_queue *q, size_t max_tickets, char expired[KJ_ID_MAX + 1])
{
    while (q->n > 0 && q->n >= max_tickets) {
        bool expires;
        uint32_t i = victim(q, &expires);
        if (expires) {
            q->t[i].flags |= EXPIRED;
            q->t[i].dirty = true;
            if (expired) memcpy(expired, q->t[i].id, KJ_ID_MAX + 1);
        }
        forget(q, i);
    }
}

static ticket *add(kj_queue *q, const char *id, int64_t ts)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 16;
        q->t = kj_realloc(q->t, q->cap * sizeof *q->t);
    }
    ticket *t = &q->t[q->n];
    memset(t, 0, sizeof *t);
    t->kind = NO_KIND;
    t->first_ts = ts;
    t->last_ts = INT64_MIN;
    snprintf(t->id, sizeof t->id, "%s", id);
    q->n++;
    if (2 * q->n > q->index_cap)
        index_rebuild(q, q->n);
    else
        index_put(q, q->n - 1);
    return t;
}

static bool later(int64_t ts, uint8_t step, const ticket *t)
{
    return ts > t->last_ts || (ts == t->last_ts && step > t->last_step);
}

/* Fold one event into t; true when anything about it changed. */
static bool fold(kj_queue *q, ticket *t, const char *service, kj_queue_step step, int64_t ts)
{
    ticket before = *t;
    t->flags |= (uint8_t)(1u << step);
    if (step == KJ_QSTEP_ISSUED && (!(before.flags & SEEN_ISSUED) || ts > t->issued_ts))
        t->issued_ts = ts;
    if (later(ts, (uint8_t)step, t)) {
        t->last_ts = ts;
        t->last_step = (uint8_t)step;
    }
    if (ts < t->first_ts) t->first_ts = ts;
    if (service[0] && !t->kind_from_issued && (step == KJ_QSTEP_ISSUED || t->kind == NO_KIND)) {
        t->kind = kind_index(q, service);
        t->kind_from_issued = step == KJ_QSTEP_ISSUED;
    }
    bool changed = memcmp(&before, t, sizeof before) != 0;
    t->dirty |= changed;
    return changed;
}

bool kj_queue_apply(kj_queue *q, const char *id, const char *service, kj_queue_step step,
                    int64_t ts, size_t max_tickets, char expired[KJ_ID_MAX + 1])
{
    if (expired) expired[0] = '\0';
    ticket *t = find(q, id);
    if (!t) {
        make_room(q, max_tickets ? max_tickets : 1, expired);
        t = add(q, id, ts);
    }
    return fold(q, t, service, step, ts);
}

uint32_t kj_queue_new_day(kj_queue *q)
{
    uint32_t n = kj_queue_waiting(q);
    free(q->t);
    free(q->index);
    free(q->left);
    memset(q, 0, sizeof *q);
    return n;
}

/* ---- reading ---- */

static bool of_kind(uint8_t t_kind, int kind)
{
    return kind == KJ_QUEUE_ALL || t_kind == kind;
}

static void add_counts(kj_queue_stats *s, const counts *c)
{
    s->issued_today += c->issued;
    s->called_today += c->called;
    s->cancelled_today += c->cancelled;
    s->expired_today += c->expired;
}

void kj_queue_stats_of(const kj_queue *q, int kind, int64_t now, kj_queue_stats *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < q->n; i++) {
        const ticket *t = &q->t[i];
        if (!of_kind(t->kind, kind)) continue;
        counts c = {0};
        count_into(&c, t);
        add_counts(out, &c);
        if ((t->flags & SEEN_ISSUED) && t->issued_ts > now - KJ_HOUR_MS && t->issued_ts <= now)
            out->arrivals_last_hour++;
        if (!waiting(t)) continue;
        if (!out->waiting || t->issued_ts < out->oldest_issued_ts)
            out->oldest_issued_ts = t->issued_ts;
        out->waiting++;
    }
    for (int k = 0; k <= KJ_QUEUE_KINDS; k++)
        if (kind == KJ_QUEUE_ALL || k == kind) add_counts(out, &q->gone[k]);
}

size_t kj_queue_kinds(const kj_queue *q)
{
    return q->n_kinds;
}

const char *kj_queue_kind_name(const kj_queue *q, size_t kind)
{
    return kind < q->n_kinds ? q->kinds[kind] : "";
}

uint32_t kj_queue_waiting(const kj_queue *q)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < q->n; i++)
        n += waiting(&q->t[i]);
    return n;
}

/* ---- records ----
 * version, flags, last_step, last_ts, first_ts, [issued_ts when SEEN_ISSUED],
 * kind length, kind bytes. Times are today's: positive, as varints. */

static size_t encode(const kj_queue *q, const ticket *t, uint8_t *buf)
{
    size_t n = 0;
    buf[n++] = RECORD_VERSION;
    buf[n++] = t->flags | (t->kind_from_issued ? 0x80 : 0);
    buf[n++] = t->last_step;
    n += kj_varint_put(buf + n, (uint64_t)t->last_ts);
    n += kj_varint_put(buf + n, (uint64_t)t->first_ts);
    if (t->flags & SEEN_ISSUED) n += kj_varint_put(buf + n, (uint64_t)t->issued_ts);
    const char *kind = t->kind == NO_KIND ? "" : q->kinds[t->kind];
    size_t len = strlen(kind);
    buf[n++] = (uint8_t)len;
    memcpy(buf + n, kind, len);
    return n + len;
}

kj_err kj_queue_each_dirty(kj_queue *q, kj_queue_put_fn put, void *ctx)
{
    uint8_t rec[KJ_QUEUE_RECORD_MAX];
    kj_err err = KJ_OK;
    for (uint32_t i = 0; i < q->n_left && !err; i++)
        err = put(ctx, q->left[i].id, rec, encode(q, &q->left[i], rec));
    for (uint32_t i = 0; i < q->n && !err; i++)
        if (q->t[i].dirty) err = put(ctx, q->t[i].id, rec, encode(q, &q->t[i], rec));
    return err;
}

void kj_queue_clean(kj_queue *q)
{
    for (uint32_t i = 0; i < q->n; i++)
        q->t[i].dirty = false;
    q->n_left = 0;
}

static bool decode(kj_queue *q, const uint8_t *rec, size_t len, ticket *t)
{
    kj_reader r = {rec, len, 3, len < 4 || rec[0] != RECORD_VERSION};
    if (r.bad) return false;
    t->flags = rec[1] & 0x1f;
    t->kind_from_issued = rec[1] & 0x80;
    t->last_step = rec[2];
    t->last_ts = (int64_t)kj_rd_varint(&r);
    t->first_ts = (int64_t)kj_rd_varint(&r);
    if (t->flags & SEEN_ISSUED) t->issued_ts = (int64_t)kj_rd_varint(&r);
    if (r.bad || r.pos >= len || t->last_step > KJ_QSTEP_CANCELLED || t->last_ts < 0 ||
        t->first_ts < 0 || t->issued_ts < 0)
        return false;
    size_t klen = rec[r.pos++];
    if (klen > KJ_ID_MAX || len - r.pos != klen) return false;
    char kind[KJ_ID_MAX + 1];
    memcpy(kind, rec + r.pos, klen);
    kind[klen] = '\0';
    if (klen && !kj_id_valid(kind, klen)) return false;
    t->kind = kind_index(q, kind);
    return true;
}

kj_err kj_queue_load(kj_queue *q, const char *id, const uint8_t *rec, size_t len,
                     size_t max_tickets)
{
    ticket t = {0};
    if (!kj_id_valid(id, strlen(id)) || !decode(q, rec, len, &t)) return KJ_ERR_DECODE;
    snprintf(t.id, sizeof t.id, "%s", id);
    if ((t.flags & EXPIRED) || find(q, id)) { /* it left the table: only its counts */
        count_into(gone_of(q, t.kind), &t);
        return KJ_OK;
    }
    make_room(q, max_tickets ? max_tickets : 1, NULL);
    ticket *slot = add(q, id, t.first_ts);
    *slot = t;
    return KJ_OK;
}
