/* kinerjad — the id index as runs of counted ids (idruns.h). */
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/hash.h"
#include "idruns.h"
#include "journal.h"

#define WIDTH_MAX 18     /* trailing digits read as a number: 10^18 - 1 fits 64 bits */
#define VALUE 16         /* a run's value: count and stride, big-endian; none for one id */
#define STRIDE_MAX 1024u /* numbers further apart than this do not make a run */

size_t kj_idruns_family(uint8_t *fam, const uint8_t *idk, size_t idlen, uint64_t *num)
{
    size_t width = 0;
    while (width < WIDTH_MAX && width < idlen && idk[idlen - 1 - width] >= '0' &&
           idk[idlen - 1 - width] <= '9')
        width++;
    size_t stem = idlen - width;
    uint64_t v = 0;
    for (size_t i = stem; i < idlen; i++)
        v = v * 10 + (uint64_t)(idk[i] - '0');
    *num = v;
    memmove(fam, idk, stem); /* fam may be idk: the number is read */
    fam[stem] = 0;
    fam[stem + 1] = (uint8_t)width;
    return stem + 2;
}

static size_t run_key(uint8_t *k, const uint8_t *fam, size_t flen, uint64_t first)
{
    memcpy(k, fam, flen);
    put_be64(k + flen, first);
    return flen + 8;
}

/* A run: first, first + stride, ... (count numbers); ours: of the family
 * asked about (read from the table), or one being stored. A run of one
 * number has stride 0: it may join a run of any stride. */
struct run {
    bool ours;
    uint64_t first, count, stride;
};

static uint64_t last_of(const struct run *r)
{
    return r->first + (r->count - 1) * r->stride;
}

static bool holds(const struct run *r, uint64_t num)
{
    return r->ours && num >= r->first && num <= last_of(r) &&
           (num == r->first || (r->stride && (num - r->first) % r->stride == 0));
}

static int read_run(const MDB_val *k, const MDB_val *v, const uint8_t *fam, size_t flen,
                    struct run *r)
{
    r->ours = k->mv_size == flen + 8 && memcmp(k->mv_data, fam, flen) == 0;
    if (!r->ours) return 0;
    r->first = get_be64((const uint8_t *)k->mv_data + flen);
    if (v->mv_size == 0) {
        r->count = 1, r->stride = 0;
        return 0;
    }
    if (v->mv_size != VALUE) return MDB_CORRUPTED;
    r->count = get_be64(v->mv_data);
    r->stride = get_be64((const uint8_t *)v->mv_data + 8);
    return r->count > 1 && r->stride ? 0 : MDB_CORRUPTED;
}

/* fam's runs around num: *next, the first that starts at num or after it;
 * *prev, the one before that (the only one that may hold num, else). */
static int neighbours(MDB_cursor *cur, const uint8_t *fam, size_t flen, uint64_t num,
                      struct run *prev, struct run *next)
{
    uint8_t key[KJ_IDRUNS_KEY_MAX];
    MDB_val k = {run_key(key, fam, flen, num), key}, v;
    *prev = *next = (struct run){0};
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS) {
        if ((rc = read_run(&k, &v, fam, flen, next))) return rc;
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    } else if (rc == MDB_NOTFOUND) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    }
    if (rc == MDB_NOTFOUND) return 0;
    return rc ? rc : read_run(&k, &v, fam, flen, prev);
}

/* Whether b (after a) continues a: one stride on, the stride of both. */
static bool continues(const struct run *a, const struct run *b)
{
    uint64_t gap = b->first - last_of(a);
    return a->ours && b->ours && gap <= STRIDE_MAX && (a->count == 1 || a->stride == gap) &&
           (b->count == 1 || b->stride == gap);
}

/* a with b after it, when continues(a, b). */
static struct run joined(const struct run *a, const struct run *b)
{
    return (struct run){true, a->first, a->count + b->count, b->first - last_of(a)};
}

static int put_run(MDB_cursor *cur, const uint8_t *fam, size_t flen, const struct run *r)
{
    uint8_t key[KJ_IDRUNS_KEY_MAX], val[VALUE];
    put_be64(val, r->count);
    put_be64(val + 8, r->stride);
    MDB_val k = {run_key(key, fam, flen, r->first), key}, v = {r->count == 1 ? 0 : VALUE, val};
    return mdb_cursor_put(cur, &k, &v, 0);
}

static int del_run(MDB_cursor *cur, const uint8_t *fam, size_t flen, uint64_t first)
{
    uint8_t key[KJ_IDRUNS_KEY_MAX];
    MDB_val k = {run_key(key, fam, flen, first), key};
    return mdb_del(mdb_cursor_txn(cur), mdb_cursor_dbi(cur), &k, NULL);
}

/* Stores r, whose span holds no stored number, between its neighbours: a
 * run that it continues grows (its value rewritten in place, the common
 * case of a client counting up), one that continues it joins it. */
static int join(MDB_cursor *cur, const uint8_t *fam, size_t flen, struct run r,
                const struct run *prev, const struct run *next, const kj_idruns_hook *hook)
{
    if (continues(prev, &r)) r = joined(prev, &r);
    if (continues(&r, next)) {
        int rc = del_run(cur, fam, flen, next->first);
        if (rc) return rc;
        r = joined(&r, next);
    }
    int rc = put_run(cur, fam, flen, &r);
    if (!rc && hook && hook->fn)
        hook->fn(hook->ctx, &(kj_idruns_run){fam, flen, r.first, r.count, r.stride});
    return rc;
}

/* prev, whose span holds num but not as a member, as two runs: the
 * numbers before num (*below) and after it (*above). */
static int split(MDB_cursor *cur, const uint8_t *fam, size_t flen, struct run prev, uint64_t num,
                 struct run *below, struct run *above)
{
    uint64_t n = (num - prev.first) / prev.stride + 1; /* members below num */
    *below = (struct run){true, prev.first, n, prev.stride};
    *above = (struct run){true, prev.first + n * prev.stride, prev.count - n, prev.stride};
    int rc = put_run(cur, fam, flen, below);
    return rc ? rc : put_run(cur, fam, flen, above);
}

int kj_idruns_has(MDB_cursor *cur, const uint8_t *fam, size_t flen, uint64_t num, bool *has)
{
    struct run prev, next;
    int rc = neighbours(cur, fam, flen, num, &prev, &next);
    *has = !rc && (holds(&prev, num) || holds(&next, num));
    return rc;
}

/* One number: a duplicate when stored; else stored, inside the span of
 * another run (which splits around it) or between two. */
static int add_one(MDB_cursor *cur, const kj_idruns_ref *r, bool *dup, const kj_idruns_hook *hook)
{
    struct run prev, next, one = {true, r->num, 1, 0};
    int rc = neighbours(cur, r->fam, r->flen, r->num, &prev, &next);
    if (rc) return rc;
    if (holds(&prev, r->num) || holds(&next, r->num)) {
        dup[r->i] = true;
        return 0;
    }
    if (prev.ours && last_of(&prev) > r->num &&
        (rc = split(cur, r->fam, r->flen, prev, r->num, &prev, &next)))
        return rc;
    return join(cur, r->fam, r->flen, one, &prev, &next, hook);
}

/* refs[0..n): new ids of one family, numbers run's. One look-up and write
 * when no stored run reaches into its span; else (a group sent again, or
 * part of it, or clients whose numbers interleave) id by id. */
static int store_run(MDB_cursor *cur, const kj_idruns_ref *refs, size_t n, const struct run *run,
                     bool *dup, const kj_idruns_hook *hook)
{
    struct run prev, next;
    int rc = neighbours(cur, refs->fam, refs->flen, run->first, &prev, &next);
    if (rc) return rc;
    if (!(next.ours && next.first <= last_of(run)) && !(prev.ours && last_of(&prev) >= run->first))
        return join(cur, refs->fam, refs->flen, *run, &prev, &next, hook);
    for (size_t j = 0; j < n && !rc; j++)
        rc = add_one(cur, &refs[j], dup, hook);
    return rc;
}

/* After sort_refs, equal families are one pointer. */
static int fam_cmp(const kj_idruns_ref *x, const kj_idruns_ref *y)
{
    return x->fam == y->fam ? 0 : kj_key_cmp(x->fam, x->flen, y->fam, y->flen);
}

/* Number, then the order of arrival: of two equal ids the first comes first. */
static int num_cmp(const void *a, const void *b)
{
    const kj_idruns_ref *x = a, *y = b;
    if (x->num != y->num) return x->num < y->num ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int fam_ptr_cmp(const void *a, const void *b)
{
    return fam_cmp(*(const kj_idruns_ref *const *)a, *(const kj_idruns_ref *const *)b);
}

/* Each ref's family as an index of first[], the first ref of each family
 * (whose pointer the others take); returns the count of families. */
static size_t index_families(kj_idruns_ref *refs, size_t n, uint32_t *fam, kj_idruns_ref **first)
{
    size_t cap = 64, nf = 0;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *slot = kj_calloc(cap, sizeof *slot); /* a family's index + 1; 0: empty */
    for (size_t k = 0; k < n; k++) {
        kj_idruns_ref *r = &refs[k];
        size_t j = kj_hash_bytes(KJ_HASH_SEED, r->fam, r->flen) & (cap - 1);
        while (slot[j] &&
               kj_key_cmp(first[slot[j] - 1]->fam, first[slot[j] - 1]->flen, r->fam, r->flen))
            j = (j + 1) & (cap - 1);
        if (!slot[j]) {
            first[nf] = r;
            slot[j] = (uint32_t)++nf;
        }
        fam[k] = slot[j] - 1;
        r->fam = first[fam[k]]->fam;
    }
    free(slot);
    return nf;
}

/* refs in family, number and arrival order. A group's ids are a few dozen
 * families (unit and stem), each mostly counting up in arrival order: the
 * families are sorted, the refs put in their family's place in the order
 * they came (a counting sort), and a family sorted by number only when it
 * is not in order already. One qsort of all refs compared the families'
 * bytes some 50,000 times for 4,000 ids, a tenth of the writer's time. */
static void sort_refs(kj_idruns_ref *refs, size_t n)
{
    uint32_t *fam = kj_malloc(n * sizeof *fam);
    kj_idruns_ref **first = kj_malloc(n * sizeof *first), *out = kj_malloc(n * sizeof *out);
    size_t nf = index_families(refs, n, fam, first);
    size_t *pos = kj_calloc(nf, sizeof *pos); /* by family index: its count, then its place */
    size_t *start = kj_malloc((nf + 1) * sizeof *start); /* by sorted place: where it begins */
    for (size_t k = 0; k < n; k++)
        pos[fam[k]]++;
    qsort(first, nf, sizeof *first, fam_ptr_cmp);
    start[0] = 0;
    for (size_t f = 0; f < nf; f++) {
        size_t idx = fam[first[f] - refs];
        start[f + 1] = start[f] + pos[idx];
        pos[idx] = start[f];
    }
    for (size_t k = 0; k < n; k++)
        out[pos[fam[k]]++] = refs[k];
    for (size_t f = 0; f < nf; f++) {
        kj_idruns_ref *slice = out + start[f];
        size_t len = start[f + 1] - start[f], j = 1;
        while (j < len && num_cmp(&slice[j - 1], &slice[j]) < 0)
            j++;
        if (j < len) qsort(slice, len, sizeof *slice, num_cmp);
    }
    memcpy(refs, out, n * sizeof *refs);
    free(start);
    free(pos);
    free(out);
    free(first);
    free(fam);
}

int kj_idruns_insert(MDB_cursor *cur, kj_idruns_ref *refs, size_t n, bool *dup,
                     const kj_idruns_hook *hook)
{
    if (n) sort_refs(refs, n);
    struct run run = {0}; /* refs[k - run.count, k): new ids, numbers a stride apart */
    int rc = 0;
    for (size_t k = 0; k < n && !rc; k++) {
        const kj_idruns_ref *r = &refs[k];
        bool same = k && !fam_cmp(r - 1, r);
        if (same && r[-1].num == r->num) dup[r->i] = true;
        struct run one = {!dup[r->i], r->num, 1, 0};
        if (run.count && !(same && continues(&run, &one))) {
            rc = store_run(cur, r - run.count, run.count, &run, dup, hook);
            run = (struct run){0};
        }
        if (one.ours) run = run.count ? joined(&run, &one) : one;
    }
    return rc || !run.count ? rc : store_run(cur, refs + n - run.count, run.count, &run, dup, hook);
}

int kj_idruns_del(MDB_cursor *cur, const uint8_t *fam, size_t flen, uint64_t num)
{
    struct run prev, next;
    int rc =
        neighbours(cur, fam, flen, num + 1, &prev, &next); /* prev: the run from num or before */
    if (rc || !holds(&prev, num)) return rc;
    if (num == prev.first) {
        rc = del_run(cur, fam, flen, prev.first);
    } else {
        struct run below = {true, prev.first, (num - prev.first) / prev.stride, prev.stride};
        rc = put_run(cur, fam, flen, &below);
    }
    if (rc || num == last_of(&prev)) return rc;
    uint64_t skip = num == prev.first ? 1 : (num - prev.first) / prev.stride + 1;
    struct run above = {true, num + prev.stride, prev.count - skip, prev.stride};
    return put_run(cur, fam, flen, &above);
}

int kj_idruns_walk(MDB_cursor *cur, kj_idruns_pos *pos, size_t max, kj_idruns_fn fn, void *ctx)
{
    if (pos->done) return 0;
    MDB_val k = {pos->len, pos->key}, v;
    int rc = mdb_cursor_get(cur, &k, &v, pos->len ? MDB_SET_RANGE : MDB_FIRST);
    for (size_t i = 0; rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        /* shorter: no family (two bytes at least); longer: never put. No look-up finds either */
        if (k.mv_size < 8 + 2 || k.mv_size > sizeof pos->key) continue;
        if (i++ == max) break;
        size_t flen = k.mv_size - 8;
        struct run r;
        if (read_run(&k, &v, k.mv_data, flen, &r)) r.count = r.stride = 0; /* malformed */
        fn(ctx, &(kj_idruns_run){k.mv_data, flen, r.first, r.count, r.stride});
    }
    if (rc == MDB_SUCCESS) {
        memcpy(pos->key, k.mv_data, k.mv_size); /* the next one, not visited yet */
        pos->len = k.mv_size;
        return 0;
    }
    if (rc != MDB_NOTFOUND) return rc;
    pos->done = true;
    return 0;
}

int kj_idruns_each(MDB_cursor *cur, kj_idruns_fn fn, void *ctx)
{
    kj_idruns_pos pos = {.len = 0};
    return kj_idruns_walk(cur, &pos, SIZE_MAX, fn, ctx);
}
