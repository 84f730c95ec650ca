/* kinerjad — the id journal's merge into id_runs (store.h): all at once, or
 * in steps over the commits that follow, so that no small commit waits for a
 * whole merge. Writer thread. */
#include <stdint.h>
#include <stdlib.h>

#include "store_int.h"

/* The journal's ids into id_runs, and the journal emptied, in txn; once txn
 * commits, the caller calls kj_store_journal_merged. */
int kj_store_merge_journal(kj_store *s, MDB_txn *txn)
{
    kj_idset_entry *list;
    size_t n = kj_idset_sorted(s->recent_ids, SIZE_MAX, &list);
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, s->runs, &cur);
    if (!rc) rc = kj_store_insert_ids(s, cur, list, n);
    if (cur) mdb_cursor_close(cur);
    free(list);
    return rc ? rc : mdb_drop(txn, s->recent, 0);
}

void kj_store_journal_merged(kj_store *s)
{
    kj_idset_clear(s->recent_ids);
    s->journal_next = 0;
    kj_store_step_free(&s->step); /* its ids went in with the rest */
}

/* The merge's sorted copy of its ids, once they are all in id_runs. */
static void free_sorted(struct id_step *m)
{
    free(m->list);
    free(m->data);
    m->list = NULL;
    m->data = NULL;
}

void kj_store_step_free(struct id_step *m)
{
    free_sorted(m);
    *m = (struct id_step){0};
}

/* The journal's n oldest records deleted in txn (MDB_NOTFOUND when it has
 * fewer): a record an id, in the set's order. */
static int drop_journal_front(kj_store *s, MDB_txn *txn, size_t n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, s->recent, &cur);
    if (rc) return rc;
    size_t i = 0;
    for (rc = n ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : 0; i < n && !rc; i++)
        rc = kj_store_del_next(cur, &k, &v); /* no seek from the root for each */
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND && i == n ? 0 : rc;
}

/* Whether this commit merges the whole journal: a big group's, whose clients
 * wait for a long commit anyway (a merge in steps would slow each of their
 * commits instead), or one that finds as many ids again piled up during a
 * merge in steps (the set's bound). Small commits merge in steps. */
bool kj_store_merge_at_once(kj_store *s)
{
    size_t count = kj_idset_count(s->recent_ids);
    size_t fresh = count - kj_idset_committed(s->recent_ids);
    if (s->step.n) return count >= s->step.n - s->step.dropped + s->merge_at;
    return count >= s->merge_at && fresh >= KJ_STORE_DIRECT_IDS;
}

/* A step's ids: a KJ_STORE_MERGE_STEPS-th of the merge, KJ_STORE_STEP_IDS at
 * most. */
static size_t step_share(const struct id_step *m)
{
    size_t share = (m->n + KJ_STORE_MERGE_STEPS - 1) / KJ_STORE_MERGE_STEPS;
    return share < KJ_STORE_STEP_IDS ? share : KJ_STORE_STEP_IDS;
}

/* The next step of the merge under way (one begins once id_merge_at ids are
 * committed), in txn: the next slice into id_runs, or, once all are in, the
 * next of their records out of the journal. *done says how many once txn
 * commits (0: no merge). */
int kj_store_merge_step(kj_store *s, MDB_txn *txn, size_t *done)
{
    struct id_step *m = &s->step;
    size_t ready = kj_idset_committed(s->recent_ids);
    if (!m->n && ready >= s->merge_at) { /* a merge begins with them, sorted */
        kj_idset_sorted_copy(s->recent_ids, ready, &m->list, &m->data);
        m->n = ready;
    }
    *done = 0;
    if (!m->n) return 0;
    /* a share, or twice the ids that this commit journals, whichever is more:
     * ids that come fast must not pile up into a merge of all at once */
    size_t fresh = kj_idset_count(s->recent_ids) - ready;
    size_t k = step_share(m) > 2 * fresh ? step_share(m) : 2 * fresh;
    size_t left = m->put < m->n ? m->n - m->put : m->n - m->dropped;
    k = k < left ? k : left;
    int rc;
    if (m->put < m->n) {
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(txn, s->runs, &cur))) return rc;
        rc = kj_store_insert_ids(s, cur, m->list + m->put, k);
        mdb_cursor_close(cur);
    } else {
        rc = drop_journal_front(s, txn, k);
    }
    *done = k;
    return rc;
}

/* The step that did n committed: once every id is in id_runs, the set lets
 * go of those whose records went; the merge ends with the last. */
void kj_store_step_committed(kj_store *s, size_t n)
{
    struct id_step *m = &s->step;
    if (!n) return;
    if (m->put < m->n) {
        m->put += n;
        if (m->put == m->n) free_sorted(m); /* the deletions need only the count */
        return;
    }
    kj_idset_drop_front(s->recent_ids, n);
    m->dropped += n;
    if (m->dropped == m->n) kj_store_step_free(m);
}
