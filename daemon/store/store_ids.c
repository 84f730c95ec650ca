/* kinerjad — the id journal's merge into id_runs (store.h): all at once, or
 * in steps over the commits that follow, so that no small commit waits for a
 * whole merge. Writer thread. */
#include <stdlib.h>

#include "store_int.h"

/* The journal's ids into id_runs, and the journal emptied, in txn; once txn
 * commits, the caller calls kj_store_journal_merged. */
int kj_store_merge_journal(kj_store *s, MDB_txn *txn)
{
    kj_idset_entry *list;
    size_t n = kj_idset_sorted(s->recent_ids, &list);
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, s->runs, &cur);
    if (!rc) rc = kj_store_insert_ids(cur, list, n);
    if (cur) mdb_cursor_close(cur);
    free(list);
    return rc ? rc : mdb_drop(txn, s->recent, 0);
}

void kj_store_step_free(struct id_step *m)
{
    free(m->list);
    free(m->data);
    *m = (struct id_step){0};
}

void kj_store_journal_merged(kj_store *s)
{
    kj_idset_clear(s->recent_ids);
    s->journal_next = 0;
    kj_store_step_free(&s->step); /* its ids went in with the rest */
}

/* The journal's records with keys below end, deleted from its front in txn. */
static int drop_journal_front(kj_store *s, MDB_txn *txn, uint64_t end)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, s->recent, &cur);
    if (rc) return rc;
    while (!(rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) && k.mv_size == JOURNAL_KEY &&
           get_be64(k.mv_data) < end)
        if ((rc = mdb_cursor_del(cur, 0))) break;
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Whether this commit merges the whole journal: a big group's, whose clients
 * wait for a long commit anyway (a merge in steps would slow each of their
 * commits instead), or one that finds as many ids again piled up during a
 * merge in steps (the set's bound). Small commits merge in steps. */
bool kj_store_merge_at_once(kj_store *s)
{
    size_t count = kj_idset_count(s->recent_ids);
    size_t fresh = count - kj_idset_committed(s->recent_ids);
    if (s->step.list) return count >= s->step.n + s->merge_at;
    return count >= s->merge_at && fresh >= KJ_STORE_DIRECT_IDS;
}

/* The next step of the merge under way (one begins once id_merge_at ids are
 * committed), in txn: *pos says how far it has gone once txn commits (0: no
 * merge). */
int kj_store_merge_step(kj_store *s, MDB_txn *txn, size_t *pos)
{
    struct id_step *m = &s->step;
    size_t ready = kj_idset_committed(s->recent_ids);
    if (!m->list && ready >= s->merge_at) {
        kj_idset_sorted_copy(s->recent_ids, ready, &m->list, &m->data);
        m->n = ready;
        m->journal_end = s->journal_next; /* the committed ids' records end here */
    }
    *pos = 0;
    if (!m->list) return 0;
    /* a share, or twice the ids that this commit journals, whichever is more:
     * ids that come fast must not pile up into a merge of all at once */
    size_t fresh = kj_idset_count(s->recent_ids) - ready;
    size_t share = (m->n + KJ_STORE_MERGE_STEPS - 1) / KJ_STORE_MERGE_STEPS;
    share = share > 2 * fresh ? share : 2 * fresh;
    size_t end = m->n - m->pos > share ? m->pos + share : m->n;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->runs, &cur);
    if (rc) return rc;
    rc = kj_store_insert_ids(cur, m->list + m->pos, end - m->pos);
    mdb_cursor_close(cur);
    if (!rc && end == m->n) rc = drop_journal_front(s, txn, m->journal_end);
    *pos = end;
    return rc;
}

/* The step that ended at pos committed: the merge ends with its last. */
void kj_store_step_committed(kj_store *s, size_t pos)
{
    struct id_step *m = &s->step;
    if (!pos) return;
    m->pos = pos;
    if (pos < m->n) return;
    kj_idset_drop_front(s->recent_ids, m->n);
    kj_store_step_free(m);
}
