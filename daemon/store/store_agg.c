/* kinerjad — the buckets of the metrics engine in the store (store.h): the
 * agg table, the agg journal over it (aggjournal.h), the readers that see
 * both, and the expiry pass. */
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "aggjournal.h"
#include "store_int.h"

#define AGG_KEY_MAX 511 /* LMDB's largest key */

static int load_aggj_record(void *ctx, uint64_t key, const MDB_val *v)
{
    kj_store *s = ctx;
    s->aggj_bytes += v->mv_size;
    s->aggj_entries += kj_aggj_count(v->mv_data, v->mv_size);
    s->aggj_next = key + 1;
    return 0;
}

/* The agg journal's records are read where needed: only its size here. */
int kj_store_aggj_load(kj_store *s)
{
    return kj_journal_walk(s->env, NULL, s->aggj, load_aggj_record, s);
}

/* Into the commit's journal record: the table gets it at a merge. */
kj_err kj_store_put_agg(kj_store_txn *t, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (klen == 0 || klen > AGG_KEY_MAX || vlen > UINT32_MAX) return KJ_ERR_TOO_BIG;
    kj_aggj_append(&t->rec, key, klen, val, vlen);
    t->rec_entries++;
    return KJ_OK;
}

/* A stored bucket in txn (a writer's or a reader's): *val points into the map. */
static kj_err get_agg(MDB_txn *txn, MDB_dbi agg, const void *key, size_t klen, const void **val,
                      size_t *vlen)
{
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(txn, agg, &k, &v);
    if (rc) return map_err(rc);
    *val = v.mv_data;
    *vlen = v.mv_size;
    return KJ_OK;
}

static int view_aggj_record(void *ctx, uint64_t key, const MDB_val *v)
{
    (void)key;
    return kj_aggview_add(ctx, v->mv_data, v->mv_size) ? 0 : MDB_CORRUPTED;
}

/* The agg journal's records in txn, oldest first, into v (finished). */
static int read_aggj(kj_store *s, MDB_txn *txn, kj_aggview *v)
{
    int rc = s->has_aggj ? kj_journal_walk(s->env, txn, s->aggj, view_aggj_record, v) : 0;
    kj_aggview_finish(v);
    return rc;
}

/* Each journalled key's newest value into agg, in key order (neighbours
 * share leaves), then rec's (NULL: none), and the journal emptied, in txn;
 * once txn commits, the caller calls aggj_reset. */
static int merge_aggj(kj_store *s, MDB_txn *txn, const msgpack_sbuffer *rec)
{
    kj_aggview v = {0};
    MDB_cursor *cur = NULL;
    int rc = read_aggj(s, txn, &v);
    if (!rc && rec && !kj_aggview_add(&v, (const uint8_t *)rec->data, rec->size)) rc = EINVAL;
    kj_aggview_finish(&v);
    if (!rc) rc = mdb_cursor_open(txn, s->agg, &cur);
    for (size_t i = 0; i < v.n && !rc; i++) {
        MDB_val k = {v.e[i].klen, (void *)v.e[i].key}, val = {v.e[i].vlen, (void *)v.e[i].val};
        rc = mdb_cursor_put(cur, &k, &val, 0);
    }
    if (cur) mdb_cursor_close(cur);
    kj_aggview_free(&v);
    return rc ? rc : mdb_drop(txn, s->aggj, 0);
}

/* Relaxed atomics: kj_store_get_stats reads the size from another thread. */
static void aggj_set(kj_store *s, size_t bytes, size_t entries, uint64_t next)
{
    __atomic_store_n(&s->aggj_bytes, bytes, __ATOMIC_RELAXED);
    s->aggj_entries = entries;
    s->aggj_next = next;
}

static void aggj_reset(kj_store *s)
{
    aggj_set(s, 0, 0, 0);
}

/* A read in the writer that must see the journal merges it into agg first:
 * rare (an assessment), where a scan of the journal per look-up would not be. */
kj_err kj_store_get_agg(kj_store_txn *t, const void *key, size_t klen, const void **val,
                        size_t *vlen)
{
    kj_store *s = t->s;
    if (t->rec.size || (s->aggj_bytes && !t->aggj_merged)) {
        int rc = merge_aggj(s, t->txn, &t->rec);
        if (rc) return map_err(rc);
        msgpack_sbuffer_clear(&t->rec);
        t->rec_entries = 0;
        t->aggj_merged = true;
    }
    return get_agg(t->txn, s->agg, key, klen, val, vlen);
}

/* This commit's agg writes: appended to the journal, or merged with it into
 * agg when the two reach aggj_merge_at bytes or aggj_merge_entries entries.
 * *merged says which. */
int kj_store_aggj_write(kj_store_txn *t, bool *merged)
{
    kj_store *s = t->s;
    *merged = t->aggj_merged ||
              (t->rec.size && (s->aggj_bytes + t->rec.size >= s->aggj_merge_at ||
                               s->aggj_entries + t->rec_entries >= s->aggj_merge_entries));
    if (!t->rec.size) return 0; /* nothing, or merged by kj_store_get_agg already */
    if (*merged) return merge_aggj(s, t->txn, &t->rec);
    uint8_t key[JOURNAL_KEY];
    put_be64(key, s->aggj_next);
    MDB_val k = {JOURNAL_KEY, key}, v = {t->rec.size, t->rec.data};
    return mdb_put(t->txn, s->aggj, &k, &v, MDB_APPEND);
}

void kj_store_aggj_written(kj_store_txn *t, bool merged)
{
    kj_store *s = t->s;
    if (merged)
        aggj_reset(s);
    else if (t->rec.size)
        aggj_set(s, s->aggj_bytes + t->rec.size, s->aggj_entries + t->rec_entries,
                 s->aggj_next + 1);
}

/* Whether key sorts before to (NULL: no end). */
static bool before_end(const void *key, size_t klen, const void *to, size_t tlen)
{
    return !to || kj_key_cmp(key, klen, to, tlen) < 0;
}

/* fn for each agg key with from <= key < to (from NULL: the first; to NULL:
 * no end), at most max, as cur's table and the journal view v over it show
 * them: the view's value wins. A non-zero return from fn goes to *stop. */
static int each_agg_in(MDB_cursor *cur, const kj_aggview *v, const void *from, size_t flen,
                       const void *to, size_t tlen, size_t max, kj_store_kv_fn fn, void *ctx,
                       int *stop)
{
    MDB_val k = {flen, (void *)from}, val;
    int rc = mdb_cursor_get(cur, &k, &val, flen ? MDB_SET_RANGE : MDB_FIRST);
    size_t i = flen ? kj_aggview_lower_bound(v, from, flen) : 0;
    *stop = 0;
    for (size_t n = 0; !*stop && n < max; n++) {
        bool table = rc == MDB_SUCCESS && before_end(k.mv_data, k.mv_size, to, tlen);
        const kj_aggj_entry *e = i < v->n ? &v->e[i] : NULL;
        if (e && !before_end(e->key, e->klen, to, tlen)) e = NULL;
        if (!table && !e) break;
        int c = !table ? 1 : !e ? -1 : kj_key_cmp(k.mv_data, k.mv_size, e->key, e->klen);
        if (c < 0) {
            *stop = fn(ctx, k.mv_data, k.mv_size, val.mv_data, val.mv_size);
        } else {
            *stop = fn(ctx, e->key, e->klen, e->val, e->vlen);
            i++;
        }
        if (c <= 0) rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT);
    }
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? 0 : rc;
}

/* A read transaction over agg with a cursor and the journal's view. */
struct kj_store_reader {
    kj_store *s;
    MDB_txn *txn;
    MDB_cursor *cur;
    kj_aggview view;
};

kj_err kj_store_reader_begin(kj_store *s, kj_store_reader **out)
{
    kj_store_reader *r = kj_calloc(1, sizeof *r);
    r->s = s;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn);
    if (rc) {
        free(r);
        return map_err(rc);
    }
    if ((rc = mdb_cursor_open(r->txn, s->agg, &r->cur)) || (rc = read_aggj(s, r->txn, &r->view))) {
        kj_store_reader_end(r);
        return map_err(rc);
    }
    *out = r;
    return KJ_OK;
}

void kj_store_reader_end(kj_store_reader *r)
{
    if (!r) return;
    if (r->cur) mdb_cursor_close(r->cur);
    mdb_txn_abort(r->txn);
    kj_aggview_free(&r->view);
    free(r);
}

kj_err kj_store_reader_get_agg(kj_store_reader *r, const void *key, size_t klen, const void **val,
                               size_t *vlen)
{
    const kj_aggj_entry *e = kj_aggview_get(&r->view, key, klen);
    if (!e) return get_agg(r->txn, r->s->agg, key, klen, val, vlen);
    *val = e->val;
    *vlen = e->vlen;
    return KJ_OK;
}

kj_err kj_store_reader_each_agg(kj_store_reader *r, const void *from, size_t flen, const void *to,
                                size_t tlen, kj_store_kv_fn fn, void *ctx)
{
    int stop, rc = each_agg_in(r->cur, &r->view, from, flen, to, tlen, SIZE_MAX, fn, ctx, &stop);
    return stop ? stop : map_err(rc);
}

kj_err kj_store_each_agg_range(kj_store *s, const void *from, size_t flen, const void *to,
                               size_t tlen, size_t max, kj_store_kv_fn fn, void *ctx)
{
    kj_store_reader *r;
    kj_err err = kj_store_reader_begin(s, &r);
    if (err) return err;
    int stop, rc = each_agg_in(r->cur, &r->view, from, flen, to, tlen, max, fn, ctx, &stop);
    kj_store_reader_end(r);
    return stop ? stop : map_err(rc);
}

kj_err kj_store_each_agg(kj_store *s, kj_store_kv_fn fn, void *ctx)
{
    return kj_store_each_agg_range(s, NULL, 0, NULL, 0, SIZE_MAX, fn, ctx);
}

kj_err kj_store_expire_aggs(kj_store *s, bool (*expired)(void *ctx, const void *key, size_t klen),
                            void *ctx, size_t max_scan, size_t *deleted, bool *pass_done)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    *deleted = 0;
    *pass_done = false;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return map_err(rc);
    /* The journal first, so that the pass sees every bucket where it lives. */
    bool merged = s->aggj_bytes > 0;
    if (merged && (rc = merge_aggj(s, txn, NULL))) goto fail;
    if ((rc = mdb_cursor_open(txn, s->agg, &cur))) goto fail;
    MDB_val k = {s->agg_pos_len, s->agg_pos}, v;
    rc = mdb_cursor_get(cur, &k, &v, s->agg_pos_len ? MDB_SET_RANGE : MDB_FIRST);
    for (size_t n = 0; rc == MDB_SUCCESS && n < max_scan; n++) {
        if (expired(ctx, k.mv_data, k.mv_size)) {
            rc = kj_store_del_next(cur, &k, &v);
            *deleted += rc == MDB_SUCCESS || rc == MDB_NOTFOUND;
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    if (rc == MDB_SUCCESS && k.mv_size <= sizeof s->agg_pos) { /* resume here next time */
        memcpy(s->agg_pos, k.mv_data, k.mv_size);
        s->agg_pos_len = k.mv_size;
    } else {
        s->agg_pos_len = 0; /* the end: the next call starts a new pass */
        *pass_done = true;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) goto fail;
    if ((rc = mdb_txn_commit(txn))) return map_err(rc);
    if (merged) aggj_reset(s);
    return KJ_OK;
fail:
    mdb_txn_abort(txn);
    *deleted = 0;
    return map_err(rc);
}

kj_err kj_store_clear_aggs(kj_store *s)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return map_err(rc);
    if ((rc = mdb_drop(txn, s->agg, 0)) || (rc = mdb_drop(txn, s->aggj, 0))) {
        mdb_txn_abort(txn);
        return map_err(rc);
    }
    if ((rc = mdb_txn_commit(txn))) return map_err(rc);
    aggj_reset(s);
    return KJ_OK;
}
