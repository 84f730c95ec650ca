/* kinerjad — the store's id filter (idfilter.h): made from id_runs at the
 * open, told of every id put, and renewed in steps once retention has taken
 * away much of what it holds (store.h, kj_store_renew_filter). */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Runs longer than this go into the filter as their family: a client's
 * counted ids may be millions, and the open would set bits for each. */
#define FILTER_RUN_MEMBERS 64

/* A malformed run (count 0) goes in by its family too: its look-ups still
 * reach the index, which reports it, as they did before the filter. */
static void filter_run(void *ctx, const kj_idruns_run *r)
{
    kj_idfilter *f = ctx;
    if (r->count > FILTER_RUN_MEMBERS || r->count == 0) {
        kj_idfilter_add_family(f, r->fam, r->flen);
        return;
    }
    for (uint64_t i = 0, num = r->first; i < r->count; i++, num += r->stride)
        kj_idfilter_add(f, r->fam, r->flen, num);
}

/* Up to max runs of id_runs from pos on into f, in a read transaction of
 * their own (pos->done: all of them). */
static int walk_runs(kj_store *s, kj_idruns_pos *pos, size_t max, kj_idfilter *f)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc) return rc;
    if (!(rc = mdb_cursor_open(txn, s->runs, &cur))) {
        rc = kj_idruns_walk(cur, pos, max, filter_run, f);
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return rc;
}

int kj_store_fill_filter(kj_store *s, size_t bytes)
{
    s->id_filter_bytes = bytes;
    s->id_filter = kj_idfilter_new(bytes);
    if (!s->id_filter) return 0;
    kj_idruns_pos pos = {.len = 0};
    return walk_runs(s, &pos, SIZE_MAX, s->id_filter);
}

void kj_store_filter_add(kj_store *s, const uint8_t *fam, size_t flen, uint64_t num)
{
    kj_idfilter_add(s->id_filter, fam, flen, num);
    if (s->renewal.next) kj_idfilter_add(s->renewal.next, fam, flen, num);
}

/* A direct group's counted ids go into runs, which the index answers for in
 * one look-up: a bit set for each would cost a cache miss an event (a fifth
 * of the writer's time with batches). */
void kj_store_filter_families(kj_store *s, const kj_idruns_ref *refs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i && refs[i].flen == refs[i - 1].flen &&
            !memcmp(refs[i].fam, refs[i - 1].fam, refs[i].flen))
            continue;
        kj_idfilter_add_family(s->id_filter, refs[i].fam, refs[i].flen);
        if (s->renewal.next) kj_idfilter_add_family(s->renewal.next, refs[i].fam, refs[i].flen);
    }
}

const kj_idruns_hook *kj_store_renewal_hook(kj_store *s)
{
    s->renewal.hook = (kj_idruns_hook){filter_run, s->renewal.next};
    return s->renewal.next ? &s->renewal.hook : NULL;
}

/* Worn: it was given at least half the ids it is made for (past that, its
 * "maybe" for new ids grows), and retention has deleted at least half as many
 * since: bits that a new filter would not set. Renewals are at least that
 * many deletions apart. */
static bool worn(const kj_store *s)
{
    uint64_t added = kj_idfilter_added(s->id_filter);
    return added >= kj_idfilter_capacity(s->id_filter) / 2 && s->forgotten >= added / 2;
}

/* A new filter with the journal's ids (not in id_runs yet); id_runs follows
 * in steps, and the ids put meanwhile go into both filters. */
static void begin_renewal(kj_store *s)
{
    kj_idfilter *next = kj_idfilter_new(s->id_filter_bytes);
    kj_idset_entry *ids;
    size_t n = kj_idset_sorted(s->recent_ids, kj_idset_count(s->recent_ids), &ids);
    for (size_t i = 0; i < n; i++) {
        uint8_t fam[KJ_IDRUNS_FAM_MAX];
        uint64_t num;
        size_t flen = kj_idruns_family(fam, ids[i].key, ids[i].len, &num);
        kj_idfilter_add(next, fam, flen, num);
    }
    free(ids);
    s->renewal = (struct filter_renewal){.next = next};
    s->forgotten = 0; /* what retention deletes from now on counts for the next renewal */
}

kj_err kj_store_renew_filter(kj_store *s, size_t max_runs, bool *busy, bool *renewed)
{
    *busy = *renewed = false;
    if (s->read_only || !s->id_filter) return KJ_OK;
    if (!s->renewal.next) {
        if (!worn(s)) return KJ_OK;
        begin_renewal(s);
    }
    int rc = walk_runs(s, &s->renewal.pos, max_runs, s->renewal.next);
    if (rc) /* the old one still holds every id */
        kj_idfilter_free(s->renewal.next);
    else if (s->renewal.pos.done)
        kj_idfilter_take(s->id_filter, s->renewal.next);
    *renewed = !rc && s->renewal.pos.done;
    if (*renewed || rc) s->renewal.next = NULL;
    *busy = s->renewal.next != NULL;
    return map_err(rc);
}
