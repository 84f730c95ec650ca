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
    if (!rc) rc = kj_store_insert_ids(cur, list, n);
    if (cur) mdb_cursor_close(cur);
    free(list);
    return rc ? rc : mdb_drop(txn, s->recent, 0);
}

void kj_store_journal_merged(kj_store *s)
{
    kj_idset_clear(s->recent_ids);
    s->journal_next = 0;
    s->step = (struct id_step){0}; /* its ids went in with the rest */
}

/* The journal's n oldest records deleted in txn: a record an id, in the set's
 * order. */
static int drop_journal_front(kj_store *s, MDB_txn *txn, size_t n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, s->recent, &cur);
    if (rc) return rc;
    for (size_t i = 0; i < n && !rc; i++)
        if (!(rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST))) rc = mdb_cursor_del(cur, 0);
    mdb_cursor_close(cur);
    return rc;
}

/* Whether this commit merges the whole journal: a big group's, whose clients
 * wait for a long commit anyway (a merge in steps would slow each of their
 * commits instead), or one that finds as many ids again piled up during a
 * merge in steps (the set's bound). Small commits merge in steps. */
bool kj_store_merge_at_once(kj_store *s)
{
    size_t count = kj_idset_count(s->recent_ids);
    size_t fresh = count - kj_idset_committed(s->recent_ids);
    if (s->step.left) return count >= s->step.left + s->merge_at;
    return count >= s->merge_at && fresh >= KJ_STORE_DIRECT_IDS;
}

/* The next step of the merge under way (one begins once id_merge_at ids are
 * committed), in txn: the oldest ids into id_runs, sorted among themselves,
 * and their records out of the journal. *merged says how many once txn
 * commits (0: no merge). */
int kj_store_merge_step(kj_store *s, MDB_txn *txn, size_t *merged)
{
    struct id_step *m = &s->step;
    size_t ready = kj_idset_committed(s->recent_ids);
    if (!m->left && ready >= s->merge_at) {
        size_t share = (ready + KJ_STORE_MERGE_STEPS - 1) / KJ_STORE_MERGE_STEPS;
        *m = (struct id_step){ready, share < KJ_STORE_STEP_IDS ? share : KJ_STORE_STEP_IDS};
    }
    *merged = 0;
    if (!m->left) return 0;
    /* a share, or twice the ids that this commit journals, whichever is more:
     * ids that come fast must not pile up into a merge of all at once */
    size_t fresh = kj_idset_count(s->recent_ids) - ready;
    size_t n = m->share > 2 * fresh ? m->share : 2 * fresh;
    n = n < m->left ? n : m->left;
    kj_idset_entry *list;
    n = kj_idset_sorted(s->recent_ids, n, &list); /* borrowed: no add follows */
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->runs, &cur);
    if (!rc) {
        rc = kj_store_insert_ids(cur, list, n);
        mdb_cursor_close(cur);
    }
    free(list);
    if (!rc) rc = drop_journal_front(s, txn, n);
    *merged = n;
    return rc;
}

/* The step that merged n ids committed: the set lets them go. */
void kj_store_step_committed(kj_store *s, size_t n)
{
    if (!n) return;
    kj_idset_drop_front(s->recent_ids, n);
    s->step.left -= n;
}
