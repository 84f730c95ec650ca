/* kinerjad — the LMDB store (SPEC §6, DESIGN "Storage").
 *
 * One environment in state_dir with named databases:
 *   raw     ts (8, big-endian) + seq (8, big-endian) -> canonical msgpack event
 *   id_runs unit '\0' stem '\0' width number -> count  (idempotency, per unit:
 *           runs of ids that count up, idruns.h)
 *   ids_recent  counter (8, BE) -> raw key + id key (unit '\0' id: the id journal)
 *   agg     bucket key (the metrics engine's)     -> bucket value
 *   agg_recent  counter (8, BE) -> a commit's agg writes (the agg journal)
 *   alerts  at (8, BE) + seq (8, BE)              -> msgpack alert
 *   meta    "schema" -> u32 (KJ_STORE_SCHEMA), "next_seq" -> u64
 *
 * Event ids are unique per unit, not globally: an ingest token for one unit
 * cannot turn another unit's events into duplicates by posting their ids first.
 *
 * A new event's id is appended to the id journal (and kept in memory) rather
 * than inserted into id_runs: an insert at a random place rewrites a leaf and its
 * branch per event, most of a small commit's writes. When the journal holds
 * id_merge_at committed ids, the commits that follow put them into id_runs
 * in key order, a slice each (an eighth, KJ_STORE_STEP_IDS at most, or twice
 * the ids each journals when that is more), then delete their journal
 * records in slices the same way. A whole merge in one small commit held its
 * clients for 6-11 ms; eighths of 16,384 ids, and a deletion of all their
 * records in one commit, still 1.5-3 ms each. Slices in key order share
 * leaves, where the oldest ids first would not: with random ids, that cost
 * 13 % of single events' throughput. Ids that keep coming meanwhile wait
 * for the next merge, or, at id_merge_at of them, go in at once with the
 * rest; so does the journal of a commit of a big group (KJ_STORE_DIRECT_IDS
 * journalled ids or more) that reaches id_merge_at, whose clients wait for a
 * long commit anyway. An open loads the journal back; a retention step that
 * deletes events merges all of it first, so that their ids go with them. A
 * big group whose ids run in sequence (kj_store_expect) puts them into
 * id_runs directly: they share leaves by themselves, and the journal would
 * only write them twice.
 *
 * Before the look-up in id_runs, a duplicate check asks the id filter
 * (idfilter.h, id_filter_bytes): most new ids are told new without it.
 *
 * A commit's agg writes go to the agg journal as one appended record, for the
 * same reason (aggjournal.h): a small group touches a few buckets in each of
 * several scopes, a leaf apiece. When the journal holds agg_merge_bytes or
 * agg_merge_entries writes, the commit that sees it writes each key's newest
 * value into agg in key order.
 * Readers see agg with the journal over it; the writer's rare look-up
 * (kj_store_get_agg) and the expiry pass merge it first.
 *
 * Writes go through one kj_store_txn at a time (LMDB allows one writer); only
 * the daemon's writer thread writes. Readers use short read transactions and
 * never block it. Every function returns a kj_err; KJ_ERR_FULL means the map or
 * the disk is full, the transaction was (or must be) aborted and nothing of it
 * was written. */
#ifndef KJ_STORE_H
#define KJ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/err.h"
#include "../proto/event.h"

/* 2: the journals (ids_recent, agg_recent). 3: the id index as runs
 * (id_runs, idruns.h) in place of an entry per id (ids). A writer upgrades
 * an older store in place, moving its ids at the open; a daemon that reads
 * up to 2 refuses a store of 3, whose ids it would not see (nor the buckets
 * in agg_recent, for one that reads 1). */
#define KJ_STORE_SCHEMA 3
#define KJ_STORE_SCHEMA_OLDEST 1            /* the oldest schema this build opens */
#define KJ_STORE_ID_MERGE_AT 16384          /* the default of id_merge_at */
#define KJ_STORE_MERGE_STEPS 8              /* a merge's steps into id_runs, at least */
#define KJ_STORE_STEP_IDS 256               /* a step's ids at most (~0.2 ms), unless more come */
#define KJ_STORE_AGG_MERGE_BYTES (1u << 20) /* the default of agg_merge_bytes */
#define KJ_STORE_AGG_MERGE_ENTRIES 4096     /* the default of agg_merge_entries */
#define KJ_STORE_DIRECT_IDS 256             /* a group this big may skip the id journal */
#define KJ_STORE_SAMPLES 64                 /* events of a group that kj_store_expect looks at */

typedef struct kj_store kj_store;
typedef struct kj_store_txn kj_store_txn;

typedef struct kj_store_opts {
    const char *dir;        /* created when missing (unless read_only) */
    uint64_t map_size;      /* bytes; the map is virtual, the file grows as needed */
    bool sync_periodic;     /* sync: periodic: commits do not fsync; kj_store_sync does */
    bool read_only;         /* for export and backup next to a running daemon */
    size_t id_merge_at;     /* journal ids that start a merge into id_runs; 0: the default */
    size_t agg_merge_bytes; /* agg journal bytes that start a merge into agg; 0: the default */
    size_t
        agg_merge_entries;  /* or agg journal entries (a reader indexes them all); 0: the default */
    size_t id_filter_bytes; /* the duplicate check's filter (idfilter.h); 0: none */
} kj_store_opts;

/* Open (creating when needed) the environment. On failure writes a one-line
 * reason to msg. A store of another schema version gives KJ_ERR_SCHEMA. */
kj_err kj_store_open(const kj_store_opts *opts, kj_store **out, char *msg, size_t msglen);
void kj_store_close(kj_store *s);

/* Flush to disk (used with sync_periodic and before a clean exit). */
kj_err kj_store_sync(kj_store *s);

/* --- writing (one thread) --- */
kj_err kj_store_begin(kj_store *s, kj_store_txn **out);
/* The n events t is about to store, when the caller knows them: in the
 * order kj_store_put_event will be called for each of them (evs borrowed for
 * the call, the events until the commit). A group of KJ_STORE_DIRECT_IDS or
 * more whose ids count up ("loket3-000123") puts them into id_runs without the
 * journal, here and at once, as runs (idruns.h), when a quarter of KJ_STORE_SAMPLES ids
 * taken evenly through the group, sorted, differ from their neighbours, or
 * from the id after them, only in the last few characters. The second test
 * finds the runs of a group of many clients' batches, whose sample rarely
 * holds two of one batch side by side. Random ids (UUIDs) each dirty a leaf
 * of their own; they are journalled. Once a transaction, before its first
 * event; an error dooms the transaction. */
kj_err kj_store_expect(kj_store_txn *t, const kj_event *const *evs, size_t n);
/* Store ev in the raw log and the id index. *duplicate is set (and nothing is
 * written) when the unit already has an event with this id. packed (len
 * bytes) is ev as kj_msgpack_pack_event writes it, packed by the submitting
 * thread so that the one writer does not; it is read at the commit, which
 * writes the transaction's raw log in key order, and must live until then.
 * In a group that kj_store_expect put into id_runs directly, ev must be the next
 * of its events (KJ_ERR_INVALID otherwise: the store could not tell a
 * duplicate from an id it claimed). */
kj_err kj_store_put_event(kj_store_txn *t, const kj_event *ev, const void *packed, size_t len,
                          bool *duplicate);
kj_err kj_store_put_agg(kj_store_txn *t, const void *key, size_t klen, const void *val,
                        size_t vlen);
/* The value of an agg key as the transaction sees it (its own writes too);
 * *val lives until the next write in t or its end. KJ_ERR_NOT_FOUND. */
kj_err kj_store_get_agg(kj_store_txn *t, const void *key, size_t klen, const void **val,
                        size_t *vlen);
kj_err kj_store_put_alert(kj_store_txn *t, int64_t at, const void *val, size_t vlen);
/* Commit and free t. On failure the transaction is gone and nothing of it stays. */
kj_err kj_store_commit(kj_store_txn *t);
/* Abort and free t; NULL is a no-op. */
void kj_store_abort(kj_store_txn *t);

/* --- reading (any thread; each call uses its own short read transactions) --- */

/* Calls fn for every stored bucket in key order. fn's pointers die when it
 * returns; a non-zero return from fn stops the walk and is returned. */
typedef int (*kj_store_kv_fn)(void *ctx, const void *key, size_t klen, const void *val,
                              size_t vlen);
kj_err kj_store_each_agg(kj_store *s, kj_store_kv_fn fn, void *ctx);
/* Calls fn for the buckets with from <= key < to in key order, at most max of
 * them, in one read transaction (the caller bounds max so that it stays
 * short). */
kj_err kj_store_each_agg_range(kj_store *s, const void *from, size_t flen, const void *to,
                               size_t tlen, size_t max, kj_store_kv_fn fn, void *ctx);
/* One read transaction for many look-ups that must agree with each other (a
 * rapor: day buckets, the fold watermark and pending minutes of many scopes,
 * read as of one commit). Any thread (the environment is MDB_NOTLS), used by
 * one thread at a time. Keep it short: it pins the pages it sees, and the
 * file grows while it is open. Values live until kj_store_reader_end. Begin
 * indexes the agg journal (at most agg_merge_entries writes, ~0.12 us each)
 * for the reads that follow;
 * kj_store_each_agg and kj_store_each_agg_range do the same per call. */
typedef struct kj_store_reader kj_store_reader;
kj_err kj_store_reader_begin(kj_store *s, kj_store_reader **out);
void kj_store_reader_end(kj_store_reader *r); /* NULL is a no-op */
/* KJ_ERR_NOT_FOUND when the key is absent. */
kj_err kj_store_reader_get_agg(kj_store_reader *r, const void *key, size_t klen, const void **val,
                               size_t *vlen);
/* fn for each agg key with from <= key < to, in key order (unbounded: the
 * caller's range bounds it); a non-zero return from fn stops and is returned. */
kj_err kj_store_reader_each_agg(kj_store_reader *r, const void *from, size_t flen, const void *to,
                                size_t tlen, kj_store_kv_fn fn, void *ctx);

/* Alerts with at >= from, in time order. */
kj_err kj_store_each_alert(kj_store *s, int64_t from, kj_store_kv_fn fn, void *ctx);

/* Calls fn for each raw event with from <= ts < to (and unit, when not NULL),
 * in time order. Walks in chunks of short read transactions so that a month
 * of events never pins old pages for long. fn returns non-zero to stop. */
typedef int (*kj_store_event_fn)(void *ctx, const kj_event *ev);
kj_err kj_store_each_event(kj_store *s, int64_t from, int64_t to, const char *unit,
                           kj_store_event_fn fn, void *ctx);

/* For each valid item of b (error ""), known[i] is set to whether its unit
 * already holds an event with its id; one short read transaction. The
 * cluster's ingest asks this before publishing: JetStream's duplicate window
 * is short, id_runs remembers every stored event. */
kj_err kj_store_ids_known(kj_store *s, const kj_batch *b, bool *known);

/* A resumable walk over the raw log, for streaming an export: each call reads
 * at most max events in its own short read transaction. */
typedef struct kj_store_cursor {
    uint8_t pos[16]; /* the next key to read */
    int64_t to;
    bool done;
} kj_store_cursor;
void kj_store_cursor_init(kj_store_cursor *c, int64_t from, int64_t to);
/* Calls fn for up to max events from the cursor (those of unit only, when
 * not NULL); sets c->done at the end of the range. fn returns 0 to go on,
 * KJ_STORE_PAUSE to end this call before ev (the next call reads ev again:
 * an exporter whose buffer is full), anything else to stop (returned). */
#define KJ_STORE_PAUSE 2
kj_err kj_store_cursor_next(kj_store *s, kj_store_cursor *c, const char *unit, size_t max,
                            kj_store_event_fn fn, void *ctx);

/* Delete raw events (and their ids) with ts < before, at most max per call;
 * *deleted tells how many went. Small steps: never one long transaction. */
kj_err kj_store_expire_events(kj_store *s, int64_t before, size_t max, size_t *deleted);
/* Retention leaves the ids it deletes in the id filter, which would fill
 * with ids long gone (a store that churns random ids): once it has deleted
 * half as many as the filter was given (and that is at least half of what
 * the filter is made for), a new filter is filled from id_runs, max_runs
 * runs a call, and takes the old one's place when the walk ends. *busy: a
 * renewal is under way (call again soon); *renewed: one ended in this call.
 * Call between groups, on the writer thread. */
kj_err kj_store_renew_filter(kj_store *s, size_t max_runs, bool *busy, bool *renewed);
/* Delete alerts with at < before, at most max per call. */
kj_err kj_store_expire_alerts(kj_store *s, int64_t before, size_t max, size_t *deleted);
/* One step of a pass over the aggregates: look at up to max_scan keys from
 * where the last step stopped, delete those for which expired(key) is true,
 * in one short transaction. Expired buckets lie scattered among live ones
 * (keys sort by scope first), so a pass walks everything, a step at a time.
 * *pass_done tells that this step reached the end (the next starts over). */
kj_err kj_store_expire_aggs(kj_store *s, bool (*expired)(void *ctx, const void *key, size_t klen),
                            void *ctx, size_t max_scan, size_t *deleted, bool *pass_done);
/* Delete every aggregate (for --rebuild; alerts are history and stay). */
kj_err kj_store_clear_aggs(kj_store *s);

/* A consistent, compacted copy into dest_dir (created; must be empty). */
kj_err kj_store_backup(kj_store *s, const char *dest_dir, char *msg, size_t msglen);

typedef struct kj_store_stats {
    uint64_t map_size;          /* bytes configured */
    uint64_t used;              /* bytes of the map in use (last page * page size) */
    uint64_t events;            /* entries of the raw log */
    uint64_t journal_ids;       /* ids in the id journal, not merged yet */
    uint64_t id_runs;           /* entries of the id index: runs of counted ids */
    uint64_t id_filter_ids;     /* ids and families put into the id filter since the open */
    uint64_t agg_journal_bytes; /* bucket writes in the agg journal, not merged yet */
} kj_store_stats;
kj_err kj_store_get_stats(kj_store *s, kj_store_stats *out);

#endif
