/* kinerjad — the store's state and the helpers that its two files share:
 * store.c (the environment, the raw log, ids, alerts) and store_agg.c (the
 * buckets and their journal). Internal to daemon/store. */
#ifndef KJ_STORE_INT_H
#define KJ_STORE_INT_H

#include <errno.h>
#include <lmdb.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "idfilter.h"
#include "idruns.h"
#include "idset.h"
#include "journal.h"
#include "store.h"

/* A merge of the id journal in steps, so that no commit, with its clients
 * waiting, takes the whole of it. The ids committed when it began (the set's
 * n oldest) are sorted and copied; the commits that follow put the next of
 * them into id_runs, a slice of neighbours each (which share leaves); then
 * the commits after those delete their journal records from the front, and
 * the set lets the same ids go. A merge that a crash interrupts begins again
 * from the journal's records: ids in id_runs already are found there. */
struct id_step {
    kj_idset_entry *list; /* the ids sorted, until all are in id_runs */
    uint8_t *data;        /* their keys and values */
    size_t n;             /* ids; 0: no merge under way */
    size_t put, dropped;  /* in id_runs, and out of the journal and the set */
};

/* A new id filter filled in steps, once retention has taken away much of
 * what the filter holds (store_filter.c): ids put meanwhile go into both. */
struct filter_renewal {
    kj_idfilter *next;   /* NULL: no renewal under way */
    kj_idruns_pos pos;   /* where its walk of id_runs goes on */
    kj_idruns_hook hook; /* for the inserts meanwhile (kj_store_renewal_hook) */
};

struct kj_store {
    MDB_env *env;
    MDB_dbi raw, runs, agg, alerts, meta; /* runs: the id index (idruns.h) */
    MDB_dbi old_ids;                      /* a store of schema 2's ids, until migrate_ids */
    bool has_old_ids;
    bool has_runs;          /* false: a read-only open of a store older than id_runs */
    MDB_dbi recent;         /* the id journal: counter (8, BE) -> raw key + ids key */
    kj_idset *recent_ids;   /* the journal's ids, for duplicate checks (NULL: read-only) */
    kj_idfilter *id_filter; /* every id of id_runs and the journal, maybe (writer only) */
    size_t id_filter_bytes; /* its size */
    uint64_t forgotten;     /* ids retention deleted since it was made or renewed */
    struct filter_renewal renewal;
    size_t merge_at;           /* ids in the journal that start a merge */
    uint64_t journal_next;     /* the next journal key (writer only) */
    struct id_step step;       /* a merge in steps under way (writer only) */
    MDB_dbi aggj;              /* the agg journal: counter (8, BE) -> a commit's agg writes */
    bool has_aggj;             /* false: a read-only open of a store older than the journal */
    size_t aggj_merge_at;      /* journal bytes that start a merge into agg */
    size_t aggj_merge_entries; /* or journal entries: a reader indexes every one */
    size_t aggj_bytes;         /* in the journal (written by the writer, read by stats) */
    size_t aggj_entries;       /* in the journal (writer only) */
    uint64_t aggj_next;        /* the next journal key (writer only) */
    bool read_only;
    uint8_t agg_pos[512]; /* where the aggregate expiry pass goes on (writer only) */
    size_t agg_pos_len;   /* 0: at the start */
};

struct kj_store_txn {
    kj_store *s;
    MDB_txn *txn;
    uint64_t next_seq; /* sequence for raw-log and alert keys */
    bool seq_changed;
    MDB_cursor *raw_cur;     /* appends to the raw log (put_raw); LMDB closes it with the txn */
    MDB_cursor *journal_cur; /* appends to the id journal */
    uint64_t journal_next;
    bool ids_direct;         /* a big group: ids go straight into id_runs */
    MDB_cursor *runs_cur;    /* on id_runs: look-ups and a direct group's ids */
    struct id_claim *claims; /* its events in the order they are put, and each id's fate */
    size_t n_claims, next_claim;
    struct raw_put *pending; /* the events put, for the raw log at the commit */
    size_t n_pending, cap_pending;
    msgpack_sbuffer rec; /* this commit's agg writes: its journal record */
    size_t rec_entries;  /* and how many they are */
    bool aggj_merged;    /* the agg journal went into agg in this txn */
};

static inline kj_err map_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return KJ_OK;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT: return KJ_ERR_FULL;
    case MDB_NOTFOUND: return KJ_ERR_NOT_FOUND;
    case ENOMEM: return KJ_ERR_NOMEM;
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID: return KJ_ERR_SCHEMA;
    default: return KJ_ERR_IO;
    }
}

/* Deletes the cursor's entry and puts the cursor on the next one, into k and
 * v: MDB_NOTFOUND when none is left (LMDB's cursor stands on the next entry
 * after a delete, or past the end of its page). Errors of the delete are
 * returned as they are. */
static inline int kj_store_del_next(MDB_cursor *cur, MDB_val *k, MDB_val *v)
{
    int rc = mdb_cursor_del(cur, 0);
    if (rc) return rc;
    rc = mdb_cursor_get(cur, k, v, MDB_GET_CURRENT);
    return rc == MDB_NOTFOUND || rc == EINVAL ? mdb_cursor_get(cur, k, v, MDB_NEXT) : rc;
}

/* store_agg.c, for store.c: the agg journal's size and next key at open; a
 * commit's agg writes into txn before it commits (*merged: the journal went
 * into agg); and the journal's counters once it has committed. */
int kj_store_aggj_load(kj_store *s);
int kj_store_aggj_write(kj_store_txn *t, bool *merged);
void kj_store_aggj_written(kj_store_txn *t, bool merged);

/* store.c, for store_ids.c: ids into id_runs through cur (idruns.h). */
int kj_store_insert_ids(kj_store *s, MDB_cursor *cur, const kj_idset_entry *ids, size_t n);

/* store_filter.c, for store.c: the id filter made at the open from id_runs
 * (the journal's ids go in as they load); an id put, and a direct group's
 * ids by their families (refs sorted by family, as kj_idruns_insert leaves
 * them), into it and into a renewal under way. */
int kj_store_fill_filter(kj_store *s, size_t bytes);
void kj_store_filter_add(kj_store *s, const uint8_t *fam, size_t flen, uint64_t num);
void kj_store_filter_families(kj_store *s, const kj_idruns_ref *refs, size_t n);
/* For every insert into id_runs: while a renewal is under way, the runs it
 * joins go into the new filter whole; NULL otherwise. */
const kj_idruns_hook *kj_store_renewal_hook(kj_store *s);

/* store_ids.c, for store.c: the id journal's merge. All of it into id_runs
 * and the journal emptied, in txn (then journal_merged once txn commits);
 * whether a commit does that (merge_at_once), or else the next step of a
 * merge in steps (merge_step, then step_committed with *done once txn
 * commits). */
int kj_store_merge_journal(kj_store *s, MDB_txn *txn);
void kj_store_journal_merged(kj_store *s);
bool kj_store_merge_at_once(kj_store *s);
int kj_store_merge_step(kj_store *s, MDB_txn *txn, size_t *done);
void kj_store_step_committed(kj_store *s, size_t done);
void kj_store_step_free(struct id_step *m);

#endif
