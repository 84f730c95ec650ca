/* kinerjad — the LMDB store (store.h): the environment, the raw log, the ids
 * and their journal, alerts; the buckets and their journal are in store_agg.c. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../prefetch.h"
#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "idruns.h"
#include "store_int.h"

#define RAW_KEY 16
#define IDS_KEY_MAX (2 * KJ_ID_MAX + 1)
#define EACH_CHUNK 4096     /* raw events read per read transaction */
#define RUN_TAIL 4          /* ids that count up differ in their last few bytes */
#define MIGRATE_CHUNK 16384 /* ids moved from ids into id_runs per transaction */

/* Time keys: the sign bit flipped so that negative times sort first. */
static void time_key(uint8_t *k, int64_t ts, uint64_t seq)
{
    put_be64(k, (uint64_t)ts ^ (1ULL << 63));
    put_be64(k + 8, seq);
}

static int64_t time_of_key(const uint8_t *k)
{
    return (int64_t)(get_be64(k) ^ (1ULL << 63));
}

static size_t id_key(uint8_t *k, const char *unit, const char *id)
{
    size_t ul = strlen(unit), il = strlen(id);
    memcpy(k, unit, ul);
    k[ul] = 0;
    memcpy(k + ul + 1, id, il);
    return ul + 1 + il;
}

/* The family in id_runs of unit's id (idruns.h), and its number. */
static size_t family_of(uint8_t fam[KJ_IDRUNS_FAM_MAX], const char *unit, const char *id,
                        uint64_t *num)
{
    return kj_idruns_family(fam, fam, id_key(fam, unit, id), num);
}

static int open_dbis(kj_store *s, char *msg, size_t msglen)
{
    MDB_txn *txn;
    unsigned flags = s->read_only ? 0 : MDB_CREATE;
    int rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);
    if (rc) goto fail;
    if ((rc = mdb_dbi_open(txn, "raw", flags, &s->raw)) ||
        (rc = mdb_dbi_open(txn, "agg", flags, &s->agg)) ||
        (rc = mdb_dbi_open(txn, "alerts", flags, &s->alerts)) ||
        (rc = mdb_dbi_open(txn, "meta", flags, &s->meta))) {
        mdb_txn_abort(txn);
        goto fail;
    }
    /* Stores of schema 1 have no journals, those of 2 and older no id_runs;
     * a writer creates them. A read-only open (export, backup) of such a
     * store reads agg alone. */
    rc = mdb_dbi_open(txn, "ids_recent", flags, &s->recent);
    if (!rc) rc = mdb_dbi_open(txn, "agg_recent", flags, &s->aggj);
    s->has_aggj = rc == MDB_SUCCESS;
    if (!rc) rc = mdb_dbi_open(txn, "id_runs", flags, &s->runs);
    s->has_runs = rc == MDB_SUCCESS;
    if (!rc && !s->read_only) { /* the ids of a store of schema 2 or older (migrate_ids) */
        rc = mdb_dbi_open(txn, "ids", 0, &s->old_ids);
        s->has_old_ids = rc == MDB_SUCCESS;
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    if (rc && !(rc == MDB_NOTFOUND && s->read_only)) {
        mdb_txn_abort(txn);
        goto fail;
    }
    MDB_val k = {6, "schema"}, v;
    uint32_t ver = 0;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == MDB_SUCCESS && v.mv_size == sizeof ver) memcpy(&ver, v.mv_data, sizeof ver);
    if (rc == MDB_SUCCESS && (ver < KJ_STORE_SCHEMA_OLDEST || ver > KJ_STORE_SCHEMA)) {
        mdb_txn_abort(txn);
        snprintf(msg, msglen, "store schema version %u, this kinerjad reads %u to %u", ver,
                 KJ_STORE_SCHEMA_OLDEST, KJ_STORE_SCHEMA);
        return KJ_ERR_SCHEMA;
    }
    /* A new store, or an older one that the tables above just upgraded (the
     * old ids move at once, before anything is served). */
    if ((rc == MDB_NOTFOUND || ver < KJ_STORE_SCHEMA) && !s->read_only) {
        ver = KJ_STORE_SCHEMA;
        v = (MDB_val){sizeof ver, &ver};
        rc = mdb_put(txn, s->meta, &k, &v, 0);
    }
    if (rc) {
        mdb_txn_abort(txn);
        goto fail;
    }
    rc = mdb_txn_commit(txn);
    if (rc) goto fail;
    return KJ_OK;
fail:
    snprintf(msg, msglen, "store: %s", mdb_strerror(rc));
    return map_err(rc);
}

_Static_assert(KJ_IDSET_VAL == RAW_KEY, "the id journal keeps raw keys in the id set");

/* An id key (unit '\0' id) as id_runs and the filter know it. */
struct id_fam {
    uint8_t fam[KJ_IDRUNS_FAM_MAX];
    size_t flen;
    uint64_t num;
};

static void fam_of(struct id_fam *f, const uint8_t *idk, size_t len)
{
    f->flen = kj_idruns_family(f->fam, idk, len, &f->num);
}

static int load_journalled_id(void *ctx, uint64_t key, const MDB_val *v)
{
    kj_store *s = ctx;
    if (v->mv_size <= RAW_KEY || v->mv_size > RAW_KEY + IDS_KEY_MAX) return MDB_CORRUPTED;
    const uint8_t *val = v->mv_data;
    kj_idset_add(s->recent_ids, val + RAW_KEY, v->mv_size - RAW_KEY, val);
    struct id_fam f; /* id_runs gets it at the next merge */
    fam_of(&f, val + RAW_KEY, v->mv_size - RAW_KEY);
    kj_store_filter_add(s, f.fam, f.flen, f.num);
    s->journal_next = key + 1;
    return 0;
}

/* The ids stored since the last merge, back into memory for duplicate
 * checks, and the agg journal's size. */
static int load_journals(kj_store *s)
{
    int rc = kj_journal_walk(s->env, NULL, s->recent, load_journalled_id, s);
    kj_idset_commit(s->recent_ids);
    return rc ? rc : kj_store_aggj_load(s);
}

/* Up to MIGRATE_CHUNK of the old ids table's keys out of it and into
 * id_runs, in txn; *moved tells how many. */
static int move_ids(kj_store *s, MDB_txn *txn, size_t *moved)
{
    MDB_cursor *from, *to;
    int rc = mdb_cursor_open(txn, s->old_ids, &from);
    if (rc) return rc;
    if ((rc = mdb_cursor_open(txn, s->runs, &to))) {
        mdb_cursor_close(from);
        return rc;
    }
    kj_idset_entry *ids = kj_malloc(MIGRATE_CHUNK * sizeof *ids);
    uint8_t *keys = kj_malloc(MIGRATE_CHUNK * (size_t)IDS_KEY_MAX), *p = keys;
    size_t n;
    for (n = 0; n < MIGRATE_CHUNK; n++) {
        MDB_val k, v;
        if ((rc = mdb_cursor_get(from, &k, &v, MDB_FIRST))) break;
        if (k.mv_size > IDS_KEY_MAX) {
            rc = MDB_CORRUPTED; /* ids were checked before they were stored */
            break;
        }
        memcpy(p, k.mv_data, k.mv_size);
        ids[n] = (kj_idset_entry){p, NULL, k.mv_size};
        p += k.mv_size;
        if ((rc = mdb_cursor_del(from, 0))) break;
    }
    if (rc == MDB_NOTFOUND) rc = 0;
    if (!rc) rc = kj_store_insert_ids(s, to, ids, n);
    *moved = n;
    free(keys);
    free(ids);
    mdb_cursor_close(to);
    mdb_cursor_close(from);
    return rc;
}

/* A store of schema 2 or older held an entry per id in ids: they move into
 * id_runs before the store serves anything, a chunk a transaction (a start
 * cut short goes on where it stopped), and the emptied table goes. */
static int migrate_ids(kj_store *s)
{
    while (s->has_old_ids) {
        MDB_txn *txn;
        size_t moved = 0;
        int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc) return rc;
        rc = move_ids(s, txn, &moved);
        if (!rc && moved < MIGRATE_CHUNK) rc = mdb_drop(txn, s->old_ids, 1); /* emptied */
        if (rc) {
            mdb_txn_abort(txn);
            return rc;
        }
        if ((rc = mdb_txn_commit(txn))) return rc;
        s->has_old_ids = moved == MIGRATE_CHUNK;
    }
    return 0;
}

kj_err kj_store_open(const kj_store_opts *opts, kj_store **out, char *msg, size_t msglen)
{
    kj_store *s = kj_calloc(1, sizeof *s);
    s->read_only = opts->read_only;
    int rc;
    kj_err err = KJ_ERR_IO;
    if (!opts->read_only && mkdir(opts->dir, 0750) != 0 && errno != EEXIST) {
        snprintf(msg, msglen, "cannot create state_dir %s: %s", opts->dir, strerror(errno));
        goto fail;
    }
    if ((rc = mdb_env_create(&s->env))) goto lmdb_fail;
    mdb_env_set_maxdbs(s->env, 12);
    if ((rc = mdb_env_set_mapsize(s->env, opts->map_size))) goto lmdb_fail;
    /* MDB_NOTLS: read transactions are not tied to a thread (lws and writer). */
    unsigned flags = MDB_NOTLS;
    if (opts->read_only) flags |= MDB_RDONLY;
    if (opts->sync_periodic) flags |= MDB_NOSYNC;
    if ((rc = mdb_env_open(s->env, opts->dir, flags, 0640))) goto lmdb_fail;
    if ((err = open_dbis(s, msg, msglen))) goto fail;
    s->merge_at = opts->id_merge_at ? opts->id_merge_at : KJ_STORE_ID_MERGE_AT;
    s->aggj_merge_at = opts->agg_merge_bytes ? opts->agg_merge_bytes : KJ_STORE_AGG_MERGE_BYTES;
    s->aggj_merge_entries =
        opts->agg_merge_entries ? opts->agg_merge_entries : KJ_STORE_AGG_MERGE_ENTRIES;
    if (!opts->read_only) {
        s->recent_ids = kj_idset_new();
        if ((rc = migrate_ids(s)) || (rc = kj_store_fill_filter(s, opts->id_filter_bytes)) ||
            (rc = load_journals(s)))
            goto lmdb_fail;
    }
    *out = s;
    return KJ_OK;
lmdb_fail:
    snprintf(msg, msglen, "cannot open store in %s: %s", opts->dir, mdb_strerror(rc));
    err = map_err(rc);
fail:
    kj_store_close(s);
    return err;
}

void kj_store_close(kj_store *s)
{
    if (!s) return;
    if (s->env) mdb_env_close(s->env);
    kj_idset_free(s->recent_ids);
    kj_idfilter_free(s->id_filter);
    kj_idfilter_free(s->renewal.next);
    kj_store_step_free(&s->step);
    free(s);
}

kj_err kj_store_sync(kj_store *s)
{
    return s->read_only ? KJ_OK : map_err(mdb_env_sync(s->env, 1));
}

kj_err kj_store_begin(kj_store *s, kj_store_txn **out)
{
    kj_store_txn *t = kj_calloc(1, sizeof *t);
    t->s = s;
    int rc = mdb_txn_begin(s->env, NULL, 0, &t->txn);
    if (rc) {
        free(t);
        return map_err(rc);
    }
    MDB_val k = {8, "next_seq"}, v;
    if (mdb_get(t->txn, s->meta, &k, &v) == MDB_SUCCESS && v.mv_size == 8)
        memcpy(&t->next_seq, v.mv_data, 8);
    t->journal_next = s->journal_next;
    msgpack_sbuffer_init(&t->rec);
    *out = t;
    return KJ_OK;
}

/* Events mostly arrive in time order, and every key ends in a new sequence
 * number: such a key goes after the last one, and LMDB appends it by walking
 * down the right edge of the tree instead of comparing keys on every level.
 * An older event (LMDB answers MDB_KEYEXIST, having changed nothing) is
 * inserted where it belongs. */
static int put_raw(kj_store_txn *t, const uint8_t *rawk, const void *val, size_t vlen)
{
    MDB_val k = {RAW_KEY, (void *)rawk}, v = {vlen, (void *)val}; /* LMDB copies it */
    int rc = 0;
    if (!t->raw_cur) rc = mdb_cursor_open(t->txn, t->s->raw, &t->raw_cur);
    if (!rc) rc = mdb_cursor_put(t->raw_cur, &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST) rc = mdb_put(t->txn, t->s->raw, &k, &v, 0); /* older than the last */
    return rc;
}

static int runs_cursor(kj_store_txn *t)
{
    return t->runs_cur ? 0 : mdb_cursor_open(t->txn, t->s->runs, &t->runs_cur);
}

/* Whether the id key is stored: merged into id_runs, or in the journal (this
 * transaction's own writes included). The filter spares most new ids the
 * look-up in id_runs. */
static int id_stored(kj_store_txn *t, const uint8_t *idk, size_t len, const struct id_fam *f,
                     bool *stored)
{
    *stored = kj_idset_has(t->s->recent_ids, idk, len);
    if (*stored || !kj_idfilter_may_have(t->s->id_filter, f->fam, f->flen, f->num)) return 0;
    int rc = runs_cursor(t);
    return rc ? rc : kj_idruns_has(t->runs_cur, f->fam, f->flen, f->num, stored);
}

/* A new id goes to the end of the journal: one leaf per commit, where an
 * insert into ids would rewrite a leaf (and its branch) per event. */
static int journal_id(kj_store_txn *t, const uint8_t *rawk, const uint8_t *idk, size_t len)
{
    uint8_t key[JOURNAL_KEY], val[RAW_KEY + IDS_KEY_MAX];
    put_be64(key, t->journal_next);
    memcpy(val, rawk, RAW_KEY);
    memcpy(val + RAW_KEY, idk, len);
    MDB_val k = {JOURNAL_KEY, key}, v = {RAW_KEY + len, val};
    int rc = 0;
    if (!t->journal_cur) rc = mdb_cursor_open(t->txn, t->s->recent, &t->journal_cur);
    if (!rc) rc = mdb_cursor_put(t->journal_cur, &k, &v, MDB_APPEND);
    if (rc) return rc;
    t->journal_next++;
    kj_idset_add(t->s->recent_ids, idk, len, rawk);
    return 0;
}

static int val_cmp(const void *a, const void *b)
{
    const MDB_val *x = a, *y = b;
    return kj_key_cmp(x->mv_data, x->mv_size, y->mv_data, y->mv_size);
}

/* Whether two ids (or keys) differ only in their last RUN_TAIL bytes. */
static bool near_ids(const uint8_t *a, size_t la, const uint8_t *b, size_t lb)
{
    size_t cp = 0;
    while (cp < la && cp < lb && a[cp] == b[cp])
        cp++;
    return (la > lb ? la : lb) - cp <= RUN_TAIL;
}

/* The sorted test of ids_in_runs. */
static bool sorted_in_runs(const kj_event *const *sample, size_t n)
{
    uint8_t keys[KJ_STORE_SAMPLES][IDS_KEY_MAX];
    MDB_val v[KJ_STORE_SAMPLES];
    for (size_t i = 0; i < n; i++)
        v[i] = (MDB_val){id_key(keys[i], sample[i]->unit, sample[i]->id), keys[i]};
    qsort(v, n, sizeof *v, val_cmp);
    size_t near = 0;
    for (size_t i = 1; i < n; i++)
        near += near_ids(v[i - 1].mv_data, v[i - 1].mv_size, v[i].mv_data, v[i].mv_size);
    return 4 * near >= n - 1;
}

/* Whether sampled ids run in sequence: at least a quarter of them are near
 * the id after them in the group (whatever its unit: each unit's share of a
 * counted batch is a run too; at a batch's end it is the next batch's), or,
 * once sorted, near their neighbour. */
static bool ids_in_runs(const kj_event *const *sample, const kj_event *const *next, size_t n)
{
    if (n > KJ_STORE_SAMPLES) n = KJ_STORE_SAMPLES;
    size_t near = 0;
    for (size_t i = 0; next && i < n; i++)
        near += next[i] && near_ids((const uint8_t *)sample[i]->id, strlen(sample[i]->id),
                                    (const uint8_t *)next[i]->id, strlen(next[i]->id));
    return n < 2 || 4 * near >= n || sorted_in_runs(sample, n);
}

/* An event of a direct group: the sequence of its raw key, and whether its
 * id was known (or came earlier in the group). */
struct id_claim {
    const kj_event *ev;
    uint64_t seq;
    bool dup;
};

/* An event for the raw log, which takes the transaction's at its commit
 * (put_pending). */
struct raw_put {
    int64_t ts;
    uint64_t seq;
    const void *packed;
    size_t len;
};

/* r for the id key idk (unit '\0' id) of the group's event i: its family
 * written at *p (which may be idk), and *p moved past it. */
static void ref_of(kj_idruns_ref *r, uint8_t **p, const uint8_t *idk, size_t len, size_t i)
{
    r->fam = *p;
    r->flen = (uint32_t)kj_idruns_family(*p, idk, len, &r->num);
    r->i = (uint32_t)i;
    *p += r->flen;
}

/* The ids of a direct group into id_runs, in family and number order: ids
 * that count up join their runs, a look-up and a value written in place for
 * each run (idruns.h). Each event's raw key is fixed here: sequence
 * next_seq plus its place, a duplicate leaving its number unused. */
static int claim_ids(kj_store_txn *t, const kj_event *const *evs, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 4 < n) kj_event_prefetch(evs[i + 4], KJ_EVENT_ID_BYTES);
        total += strlen(evs[i]->unit) + 1 + strlen(evs[i]->id) + 2;
    }
    uint8_t *fams = kj_malloc(total ? total : 1), *p = fams;
    kj_idruns_ref *refs = kj_malloc((n ? n : 1) * sizeof *refs);
    bool *dup = kj_malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = id_key(p, evs[i]->unit, evs[i]->id);
        dup[i] = kj_idset_has(t->s->recent_ids, p, len);
        ref_of(&refs[i], &p, p, len, i);
    }
    int rc = runs_cursor(t);
    if (!rc) rc = kj_idruns_insert(t->runs_cur, refs, n, dup, kj_store_renewal_hook(t->s));
    if (!rc) kj_store_filter_families(t->s, refs, n);
    t->claims = kj_malloc((n ? n : 1) * sizeof *t->claims);
    for (size_t i = 0; i < n; i++)
        t->claims[i] = (struct id_claim){evs[i], t->next_seq + i, dup[i]};
    t->n_claims = n;
    t->next_seq += n;
    t->seq_changed = true;
    free(refs);
    free(fams);
    free(dup);
    return rc;
}

kj_err kj_store_expect(kj_store_txn *t, const kj_event *const *evs, size_t n)
{
    if (t->ids_direct) return KJ_ERR_INVALID; /* once a transaction: its ids are claimed */
    const kj_event *sample[KJ_STORE_SAMPLES], *next[KJ_STORE_SAMPLES];
    size_t ns = 0, step = n / KJ_STORE_SAMPLES + 1;
    for (size_t i = 0; i < n && ns < KJ_STORE_SAMPLES; i += step, ns++) {
        sample[ns] = evs[i];
        next[ns] = i + 1 < n ? evs[i + 1] : NULL;
    }
    t->ids_direct = n >= KJ_STORE_DIRECT_IDS && ids_in_runs(sample, next, ns);
    return t->ids_direct ? map_err(claim_ids(t, evs, n)) : KJ_OK;
}

/* Whether ev may be put now: always in a journalled group, the next of its
 * events (*c) in a direct one. */
static bool claimed_next(kj_store_txn *t, const kj_event *ev, const struct id_claim **c)
{
    if (!t->ids_direct) return true;
    if (t->next_claim >= t->n_claims || t->claims[t->next_claim].ev != ev) return false;
    *c = &t->claims[t->next_claim++];
    return true;
}

static void pend(kj_store_txn *t, const struct raw_put *p)
{
    if (t->n_pending == t->cap_pending) {
        t->cap_pending = t->cap_pending ? 2 * t->cap_pending : 64;
        t->pending = kj_realloc(t->pending, t->cap_pending * sizeof *t->pending);
    }
    t->pending[t->n_pending++] = *p;
}

kj_err kj_store_put_event(kj_store_txn *t, const kj_event *ev, const void *packed, size_t len,
                          bool *duplicate)
{
    const struct id_claim *c = NULL;
    if (!claimed_next(t, ev, &c)) return KJ_ERR_INVALID;
    if (c) {
        *duplicate = c->dup;
        if (!c->dup) pend(t, &(struct raw_put){ev->ts, c->seq, packed, len});
        return KJ_OK;
    }
    uint8_t idk[IDS_KEY_MAX], rawk[RAW_KEY];
    time_key(rawk, ev->ts, t->next_seq);
    size_t idlen = id_key(idk, ev->unit, ev->id);
    struct id_fam f;
    fam_of(&f, idk, idlen);
    int rc = id_stored(t, idk, idlen, &f, duplicate);
    if (!rc && !*duplicate) rc = journal_id(t, rawk, idk, idlen);
    if (rc || *duplicate) return map_err(rc);
    /* a rolled-back id stays in the filter: it may say "maybe" of any id */
    kj_store_filter_add(t->s, f.fam, f.flen, f.num);
    pend(t, &(struct raw_put){ev->ts, t->next_seq++, packed, len});
    t->seq_changed = true;
    return KJ_OK;
}

kj_err kj_store_put_alert(kj_store_txn *t, int64_t at, const void *val, size_t vlen)
{
    uint8_t key[RAW_KEY];
    time_key(key, at, t->next_seq++);
    t->seq_changed = true;
    MDB_val k = {RAW_KEY, key}, v = {vlen, (void *)val};
    return map_err(mdb_put(t->txn, t->s->alerts, &k, &v, 0));
}

static void txn_free(kj_store_txn *t)
{
    msgpack_sbuffer_destroy(&t->rec);
    free(t->claims);
    free(t->pending);
    free(t);
}

/* n id keys into id_runs through cur (kj_idruns_insert sorts them): the
 * journal's, which are new, and a migrated store's. */
int kj_store_insert_ids(kj_store *s, MDB_cursor *cur, const kj_idset_entry *ids, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ids[i].len + 2;
    uint8_t *fams = kj_malloc(total ? total : 1), *p = fams;
    kj_idruns_ref *refs = kj_malloc((n ? n : 1) * sizeof *refs);
    bool *dup = kj_calloc(n ? n : 1, 1);
    for (size_t i = 0; i < n; i++)
        ref_of(&refs[i], &p, ids[i].key, ids[i].len, i);
    int rc = kj_idruns_insert(cur, refs, n, dup, kj_store_renewal_hook(s));
    free(dup);
    free(refs);
    free(fams);
    return rc;
}

static bool key_before(const struct raw_put *a, const struct raw_put *b)
{
    return a->ts != b->ts ? a->ts < b->ts : a->seq < b->seq;
}

/* Where the run of raw keys that starts at v[i] ends: it goes on while no
 * key comes before the one ahead of it (so that equal keys, which unique
 * sequences rule out, could not make a run that never ends). */
static size_t run_end(const struct raw_put *v, size_t i, size_t n)
{
    while (++i < n && !key_before(&v[i], &v[i - 1])) {
    }
    return i;
}

/* v[0..n) by raw key, in v or in tmp (the one returned): rising runs are
 * merged pair by pair, so a group of k batches takes log2(k) passes. */
static struct raw_put *sort_by_key(struct raw_put *v, struct raw_put *tmp, size_t n)
{
    while (run_end(v, 0, n) < n) {
        for (size_t i = 0; i < n;) {
            size_t mid = run_end(v, i, n), end = mid < n ? run_end(v, mid, n) : n;
            for (size_t a = i, b = mid, o = i; o < end; o++)
                tmp[o] = b == end || (a < mid && !key_before(&v[b], &v[a])) ? v[a++] : v[b++];
            i = end;
        }
        struct raw_put *was = v;
        v = tmp, tmp = was;
    }
    return v;
}

/* The transaction's events into the raw log at its commit, in key order: a
 * group's batches come from clients whose clocks and queues interleave them,
 * and an event put behind a later one is no append but a descent from the
 * root and a split in the middle of the log's last page (most of a 32-client
 * run's were). */
static int put_pending(kj_store_txn *t)
{
    if (!t->n_pending) return 0;
    struct raw_put *tmp = kj_malloc(t->n_pending * sizeof *tmp);
    const struct raw_put *v = sort_by_key(t->pending, tmp, t->n_pending);
    int rc = 0;
    for (size_t i = 0; i < t->n_pending && !rc; i++) {
        uint8_t rawk[RAW_KEY];
        time_key(rawk, v[i].ts, v[i].seq);
        rc = put_raw(t, rawk, v[i].packed, v[i].len);
    }
    free(tmp);
    return rc;
}

kj_err kj_store_commit(kj_store_txn *t)
{
    kj_store *s = t->s;
    int rc = put_pending(t);
    if (!rc && t->seq_changed) {
        MDB_val k = {8, "next_seq"}, v = {8, &t->next_seq};
        rc = mdb_put(t->txn, s->meta, &k, &v, 0);
    }
    bool merge = !rc && kj_store_merge_at_once(s), aggs_merged = false;
    size_t stepped = 0;
    if (merge)
        rc = kj_store_merge_journal(s, t->txn);
    else if (!rc)
        rc = kj_store_merge_step(s, t->txn, &stepped);
    if (!rc) rc = kj_store_aggj_write(t, &aggs_merged);
    if (rc)
        mdb_txn_abort(t->txn);
    else
        rc = mdb_txn_commit(t->txn); /* aborts by itself on failure */
    if (rc) {
        kj_idset_rollback(s->recent_ids);
    } else if (merge) {
        kj_store_journal_merged(s);
    } else {
        kj_idset_commit(s->recent_ids);
        s->journal_next = t->journal_next;
        kj_store_step_committed(s, stepped);
    }
    if (!rc) kj_store_aggj_written(t, aggs_merged);
    txn_free(t);
    return map_err(rc);
}

void kj_store_abort(kj_store_txn *t)
{
    if (!t) return;
    mdb_txn_abort(t->txn);
    kj_idset_rollback(t->s->recent_ids);
    txn_free(t);
}

static kj_err each_in(kj_store *s, MDB_dbi dbi, const void *from, size_t flen, kj_store_kv_fn fn,
                      void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc) return map_err(rc);
    if ((rc = mdb_cursor_open(txn, dbi, &cur))) {
        mdb_txn_abort(txn);
        return map_err(rc);
    }
    MDB_val k = {flen, (void *)from}, v;
    int stop = 0;
    rc = mdb_cursor_get(cur, &k, &v, flen ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == MDB_SUCCESS && !stop) {
        stop = fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (stop) return stop;
    return rc == MDB_NOTFOUND ? KJ_OK : map_err(rc);
}

/* The journal's ids are asked before ids' read transaction begins: a merge
 * empties the set only after its commit, so an id leaving the one is already
 * in the other. */
kj_err kj_store_ids_known(kj_store *s, const kj_batch *b, bool *known)
{
    for (size_t i = 0; i < b->n; i++) {
        const kj_event *ev = &b->items[i].ev;
        uint8_t idk[IDS_KEY_MAX];
        known[i] = !b->items[i].error[0] && s->recent_ids &&
                   kj_idset_has_committed(s->recent_ids, idk, id_key(idk, ev->unit, ev->id));
    }
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc) return map_err(rc);
    if ((rc = mdb_cursor_open(txn, s->runs, &cur))) {
        mdb_txn_abort(txn);
        return map_err(rc);
    }
    for (size_t i = 0; i < b->n && !rc; i++) {
        const kj_event *ev = &b->items[i].ev;
        if (b->items[i].error[0] || known[i]) continue;
        uint8_t fam[KJ_IDRUNS_FAM_MAX];
        uint64_t num;
        size_t flen = family_of(fam, ev->unit, ev->id, &num);
        rc = kj_idruns_has(cur, fam, flen, num, &known[i]);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc ? map_err(rc) : KJ_OK;
}

kj_err kj_store_each_alert(kj_store *s, int64_t from, kj_store_kv_fn fn, void *ctx)
{
    uint8_t key[RAW_KEY];
    time_key(key, from, 0);
    return each_in(s, s->alerts, key, sizeof key, fn, ctx);
}

void kj_store_cursor_init(kj_store_cursor *c, int64_t from, int64_t to)
{
    time_key(c->pos, from, 0);
    c->to = to;
    c->done = from >= to;
}

kj_err kj_store_cursor_next(kj_store *s, kj_store_cursor *c, const char *unit, size_t max,
                            kj_store_event_fn fn, void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    if (c->done) return KJ_OK;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc) return map_err(rc);
    if ((rc = mdb_cursor_open(txn, s->raw, &cur))) {
        mdb_txn_abort(txn);
        return map_err(rc);
    }
    MDB_val k = {RAW_KEY, c->pos}, v;
    kj_err err = KJ_OK;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (size_t n = 0; rc == MDB_SUCCESS; n++) {
        if (n == max) {
            memcpy(c->pos, k.mv_data, RAW_KEY); /* resume here */
            goto out;
        }
        if (time_of_key(k.mv_data) >= c->to) break;
        kj_event ev;
        if (kj_msgpack_unpack_event(v.mv_data, v.mv_size, &ev) != KJ_OK) {
            err = KJ_ERR_IO; /* a stored event we cannot read is corruption */
            goto out;
        }
        int stop = (!unit || strcmp(unit, ev.unit) == 0) ? fn(ctx, &ev) : 0;
        kj_event_release(&ev);
        if (stop == KJ_STORE_PAUSE) {
            memcpy(c->pos, k.mv_data, RAW_KEY);
            goto out;
        }
        if (stop) {
            err = stop;
            goto out;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) err = map_err(rc);
    c->done = true;
out:
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return err;
}

kj_err kj_store_each_event(kj_store *s, int64_t from, int64_t to, const char *unit,
                           kj_store_event_fn fn, void *ctx)
{
    kj_store_cursor c;
    kj_store_cursor_init(&c, from, to);
    kj_err err = KJ_OK;
    while (!c.done && err == KJ_OK)
        err = kj_store_cursor_next(s, &c, unit, EACH_CHUNK, fn, ctx);
    return err;
}

/* What else goes with a deleted entry (a raw event's id), or NULL. */
typedef void (*on_expire_fn)(kj_store *s, MDB_txn *txn, const MDB_val *v);

/* Deletes up to max entries with a time key before `before` from the front of
 * a time-ordered table (the raw log, the alerts), in one transaction. */
static kj_err expire_front(kj_store *s, MDB_dbi dbi, int64_t before, on_expire_fn on_expire,
                           size_t max, size_t *deleted)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    *deleted = 0;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return map_err(rc);
    if ((rc = mdb_cursor_open(txn, dbi, &cur))) goto fail;
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    /* Ids of events about to go must be in id_runs, where forget_id finds them. */
    bool merge = on_expire && rc == MDB_SUCCESS && time_of_key(k.mv_data) < before &&
                 kj_idset_count(s->recent_ids) > 0;
    if (merge && !(rc = kj_store_merge_journal(s, txn)))
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS && *deleted < max && time_of_key(k.mv_data) < before) {
        if (on_expire) on_expire(s, txn, &v);
        rc = kj_store_del_next(cur, &k, &v);
        *deleted += rc == MDB_SUCCESS || rc == MDB_NOTFOUND;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) goto fail;
    if ((rc = mdb_txn_commit(txn))) {
        *deleted = 0;
        return map_err(rc);
    }
    if (merge) kj_store_journal_merged(s);
    return KJ_OK;
fail:
    mdb_txn_abort(txn);
    *deleted = 0;
    return map_err(rc);
}

/* An expired event's id goes too: the id may be used again. */
static void forget_id(kj_store *s, MDB_txn *txn, const MDB_val *v)
{
    kj_event ev;
    if (kj_msgpack_unpack_event(v->mv_data, v->mv_size, &ev) != KJ_OK) return;
    uint8_t fam[KJ_IDRUNS_FAM_MAX];
    uint64_t num;
    size_t flen = family_of(fam, ev.unit, ev.id, &num);
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, s->runs, &cur) == MDB_SUCCESS) {
        kj_idruns_del(cur, fam, flen, num);
        mdb_cursor_close(cur);
        s->forgotten++; /* its bits stay in the filter until it is renewed */
    }
    kj_event_release(&ev);
}

kj_err kj_store_expire_events(kj_store *s, int64_t before, size_t max, size_t *deleted)
{
    return expire_front(s, s->raw, before, forget_id, max, deleted);
}

kj_err kj_store_expire_alerts(kj_store *s, int64_t before, size_t max, size_t *deleted)
{
    return expire_front(s, s->alerts, before, NULL, max, deleted);
}

kj_err kj_store_backup(kj_store *s, const char *dest_dir, char *msg, size_t msglen)
{
    if (mkdir(dest_dir, 0750) != 0 && errno != EEXIST) {
        snprintf(msg, msglen, "cannot create %s: %s", dest_dir, strerror(errno));
        return KJ_ERR_IO;
    }
    int rc = mdb_env_copy2(s->env, dest_dir, MDB_CP_COMPACT);
    if (rc) snprintf(msg, msglen, "backup to %s: %s", dest_dir, mdb_strerror(rc));
    return map_err(rc);
}

kj_err kj_store_get_stats(kj_store *s, kj_store_stats *out)
{
    MDB_envinfo info;
    MDB_stat st, raw, runs = {0};
    MDB_txn *txn;
    int rc = mdb_env_info(s->env, &info);
    if (!rc) rc = mdb_env_stat(s->env, &st);
    if (!rc) rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc) return map_err(rc);
    rc = mdb_stat(txn, s->raw, &raw);
    if (!rc && s->has_runs) rc = mdb_stat(txn, s->runs, &runs);
    mdb_txn_abort(txn);
    if (rc) return map_err(rc);
    out->map_size = info.me_mapsize;
    out->used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    out->events = raw.ms_entries;
    out->journal_ids = s->recent_ids ? kj_idset_count(s->recent_ids) : 0;
    out->id_runs = runs.ms_entries;
    out->id_filter_ids = kj_idfilter_added(s->id_filter);
    out->agg_journal_bytes = __atomic_load_n(&s->aggj_bytes, __ATOMIC_RELAXED);
    return KJ_OK;
}
