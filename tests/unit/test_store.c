/* Unit tests of the LMDB store: idempotency per unit (through the id journal
 * and its merges), the time-ordered raw log and its resumable cursor,
 * retention in steps, the bucket journal against a model of the buckets, and
 * the aggregate pass. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "codec.h"
#include "store/idset.h"
#include "store/store.h"

static char dir[64];

/* The packed forms put so far: the store may read them until the commit
 * (a direct group's raw log is written then), so they live until the store
 * is closed. */
static char **kept;
static size_t n_kept, cap_kept;

static void free_kept(void)
{
    for (size_t i = 0; i < n_kept; i++)
        free(kept[i]);
    free(kept);
    kept = NULL, n_kept = cap_kept = 0;
}

/* ev into the store as the writer puts it: packed first. */
static kj_err put_event(kj_store_txn *t, const kj_event *ev, bool *dup)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    kj_msgpack_pack_event(&pk, ev);
    size_t len = buf.size;
    if (n_kept == cap_kept) kept = realloc(kept, (cap_kept = 2 * cap_kept + 64) * sizeof *kept);
    kept[n_kept++] = msgpack_sbuffer_release(&buf);
    return kj_store_put_event(t, ev, kept[n_kept - 1], len, dup);
}

/* Opens the store in dir; 0: the defaults. */
static kj_store *open_opts(const kj_store_opts *o)
{
    kj_store *s;
    char msg[256];
    ck_assert_int_eq(kj_store_open(o, &s, msg, sizeof msg), KJ_OK);
    return s;
}

/* Every test's duplicate checks go through a filter (idfilter.h). */
static size_t filter_bytes = 1 << 16;

static kj_store *reopen_with(size_t merge_at, size_t agg_merge_bytes)
{
    return open_opts(&(kj_store_opts){.dir = dir,
                                      .map_size = 64ULL << 20,
                                      .id_merge_at = merge_at,
                                      .agg_merge_bytes = agg_merge_bytes,
                                      .id_filter_bytes = filter_bytes});
}

static kj_store *reopen(size_t merge_at)
{
    return reopen_with(merge_at, 0);
}

static kj_store *open_store(void)
{
    snprintf(dir, sizeof dir, "/tmp/kj-test-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return reopen(0);
}

static void close_store(kj_store *s)
{
    char cmd[128];
    kj_store_close(s);
    free_kept();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static kj_event event(const char *unit, const char *id, int64_t ts)
{
    kj_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = KJ_EV_PRESENCE;
    ev.ts = ts;
    snprintf(ev.unit, sizeof ev.unit, "%s", unit);
    snprintf(ev.id, sizeof ev.id, "%s", id);
    snprintf(ev.employee, sizeof ev.employee, "e1");
    return ev;
}

/* Puts n events of unit u with ts = base + i, in one transaction; returns duplicates. */
static int put_events(kj_store *s, const char *u, int n, int64_t base)
{
    kj_store_txn *t;
    int dups = 0;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "ev-%d", i);
        kj_event ev = event(u, id, base + i);
        bool dup;
        ck_assert_int_eq(put_event(t, &ev, &dup), KJ_OK);
        dups += dup;
    }
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    return dups;
}

static kj_store_stats stats_of(kj_store *s)
{
    kj_store_stats st;
    ck_assert_int_eq(kj_store_get_stats(s, &st), KJ_OK);
    return st;
}

static uint64_t stored_events(kj_store *s)
{
    return stats_of(s).events;
}

static int count_event(void *ctx, const kj_event *ev)
{
    (void)ev;
    ++*(int *)ctx;
    return 0;
}

START_TEST(ids_are_unique_per_unit)
{
    kj_store *s = open_store();
    ck_assert_int_eq(put_events(s, "u1", 10, 1000), 0);
    ck_assert_int_eq(put_events(s, "u1", 10, 1000), 10); /* the same ids again */
    ck_assert_int_eq(put_events(s, "u2", 10, 1000), 0);  /* another unit's ids */
    ck_assert_uint_eq(stored_events(s), 20);
    close_store(s);
}
END_TEST

/* The cluster's look-up before publishing: stored ids per unit, items with
 * an error never looked up. */
START_TEST(ids_known_per_unit)
{
    kj_store *s = open_store();
    put_events(s, "u1", 3, 1000); /* ev-0 .. ev-2 */
    kj_batch_item items[4] = {0};
    items[0].ev = event("u1", "ev-1", 1);
    items[1].ev = event("u1", "ev-9", 1);
    items[2].ev = event("u2", "ev-1", 1); /* another unit's id */
    items[3].ev = event("u1", "ev-2", 1);
    snprintf(items[3].error, sizeof items[3].error, "wait_ms: must be a non-negative integer");
    kj_batch b = {.n = 4, .items = items};
    bool known[4] = {true, true, true, true};
    ck_assert_int_eq(kj_store_ids_known(s, &b, known), KJ_OK);
    ck_assert(known[0]);
    ck_assert(!known[1]);
    ck_assert(!known[2]);
    ck_assert(!known[3]);
    close_store(s);
}
END_TEST

static bool known_id(kj_store *s, const char *unit, const char *id)
{
    kj_batch_item item = {0};
    item.ev = event(unit, id, 1);
    kj_batch b = {.n = 1, .items = &item};
    bool known = false;
    ck_assert_int_eq(kj_store_ids_known(s, &b, &known), KJ_OK);
    return known;
}

/* New ids wait in the journal until 8 of them are there; the commit that
 * sees 8 merges them. Duplicates are found on both sides of the merge, and
 * after a reopen, which loads the journal back. */
START_TEST(ids_survive_the_journal_and_its_merge)
{
    kj_store *s = open_store();
    kj_store_close(s);
    s = reopen(8);
    ck_assert_int_eq(put_events(s, "u1", 5, 1000), 0);
    ck_assert_int_eq(put_events(s, "u1", 5, 1000), 5); /* found in the journal */
    ck_assert(known_id(s, "u1", "ev-4"));
    ck_assert_int_eq(put_events(s, "u2", 5, 1000), 0); /* 10 >= 8: this commit merges */
    ck_assert_int_eq(put_events(s, "u1", 5, 1000), 5); /* found in ids */
    ck_assert_int_eq(put_events(s, "u2", 5, 1000), 5);
    ck_assert(known_id(s, "u2", "ev-0"));
    ck_assert_int_eq(put_events(s, "u3", 3, 1000), 0); /* journalled, not merged */
    kj_store_close(s);
    s = reopen(8);
    ck_assert_int_eq(put_events(s, "u3", 3, 1000), 3);
    ck_assert_int_eq(put_events(s, "u1", 5, 1000), 5);
    ck_assert_int_eq(put_events(s, "u2", 5, 1000), 5);
    ck_assert(known_id(s, "u3", "ev-2"));
    ck_assert(!known_id(s, "u3", "ev-3"));
    ck_assert_int_eq(put_events(s, "u3", 6, 1000), 3); /* ev-3..5 new: 9 ids, merged */
    ck_assert_int_eq(put_events(s, "u3", 6, 1000), 6);
    ck_assert_uint_eq(stored_events(s), 16);
    close_store(s);
}
END_TEST

/* A transaction that does not commit leaves no id behind; within one, the
 * second event with an id is the duplicate. */
START_TEST(an_aborted_transaction_forgets_its_ids)
{
    kj_store *s = open_store();
    put_events(s, "u1", 2, 1000);
    kj_store_txn *t;
    bool dup;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    kj_event ev = event("u1", "late-1", 2000);
    ck_assert_int_eq(put_event(t, &ev, &dup), KJ_OK);
    ck_assert(!dup);
    ck_assert_int_eq(put_event(t, &ev, &dup), KJ_OK);
    ck_assert(dup);
    ck_assert(!known_id(s, "u1", "late-1")); /* not committed yet */
    kj_store_abort(t);
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    ck_assert_int_eq(put_event(t, &ev, &dup), KJ_OK);
    ck_assert(!dup);
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    ck_assert(known_id(s, "u1", "late-1"));
    ck_assert_int_eq(put_events(s, "u1", 2, 1000), 2);
    close_store(s);
}
END_TEST

static uint64_t journal_ids(kj_store *s)
{
    return stats_of(s).journal_ids;
}

enum id_shape {
    IDS_COUNTED,   /* ev-0 .. ev-(n-1), of u1 */
    IDS_SCATTERED, /* each behind a hash, as random ids are, of u1 */
    IDS_BATCHES,   /* batches of 1,000 posted by 32 clients, ids client-request-index,
                    * spread over 8 units: counted within each batch only */
};

/* One group of n events announced with kj_store_expect, its ids shaped as
 * asked (event `again` repeats the id of event 0 when it is not 0); returns
 * the duplicates. */
static int put_group_with(kj_store *s, enum id_shape shape, int n, int again)
{
    kj_event *evs = calloc((size_t)n, sizeof *evs);
    const kj_event **list = calloc((size_t)n, sizeof *list);
    for (int i = 0; i < n; i++) {
        char id[64];
        static const char *const units[] = {"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"};
        const char *unit = "u1";
        if (shape == IDS_SCATTERED)
            snprintf(id, sizeof id, "%07u-%d", (unsigned)i * 2654435761u % 1000003u, i);
        else if (shape == IDS_BATCHES) {
            int b = i / 1000;
            snprintf(id, sizeof id, "cl%d-%d-%d", b * 7 % 32, 100 + b, i % 1000);
            unit = units[(i * 5 + b) % 8];
        } else
            snprintf(id, sizeof id, "ev-%d", again && i == again ? 0 : i);
        evs[i] = event(unit, id, 1000 + i);
        list[i] = &evs[i];
    }
    kj_store_txn *t;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    ck_assert_int_eq(kj_store_expect(t, list, (size_t)n), KJ_OK);
    int dups = 0;
    for (int i = 0; i < n; i++) {
        bool dup;
        ck_assert_int_eq(put_event(t, &evs[i], &dup), KJ_OK);
        ck_assert(!again || !dup || i == again); /* the first of two equal ids is stored */
        dups += dup;
    }
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    free(list);
    free(evs);
    return dups;
}

static int put_group(kj_store *s, enum id_shape shape, int n)
{
    return put_group_with(s, shape, n, 0);
}

/* Whatever the filter's size (none, one block soon full, room to spare), no
 * stored id is taken for new: ids put into id_runs by a direct group,
 * journalled, merged, and found in id_runs after a restart (a run longer than
 * the filter takes member by member goes in by its family). */
START_TEST(the_id_filter_never_hides_a_stored_id)
{
    static const size_t sizes[] = {0, 64, 1 << 20};
    filter_bytes = sizes[_i];
    kj_store *s = open_store();
    kj_store_close(s);
    s = reopen(300);
    ck_assert_int_eq(put_group(s, IDS_COUNTED, 1000), 0); /* u1 ev-0..999: one run */
    ck_assert_int_eq(put_group(s, IDS_SCATTERED, 500), 0);
    ck_assert_int_eq(put_events(s, "u2", 40, 5000), 0);
    ck_assert_int_eq(put_events(s, "u3", 10, 5000), 0);
    for (int round = 0; round < 2; round++) {
        /* asked one by one; ev-1000..1009 are new the first time */
        ck_assert_int_eq(put_events(s, "u1", 1010, 0), round ? 1010 : 1000);
        ck_assert_int_eq(put_group(s, IDS_COUNTED, 1000), 1000);
        ck_assert_int_eq(put_group(s, IDS_SCATTERED, 500), 500);
        ck_assert_int_eq(put_events(s, "u2", 40, 5000), 40);
        ck_assert_int_eq(put_events(s, "u3", 10, 5000), 10);
        kj_store_close(s);
        s = reopen(300);
    }
    ck_assert_int_eq(put_events(s, "u2", 50, 5000), 40); /* ev-40..49 are new */
    ck_assert_int_eq(put_events(s, "u1", 1020, 0), 1010);
    /* the journal loaded at the open goes into id_runs and out of the set:
     * new ids bring on a merge, the commits after it its steps */
    ck_assert_int_eq(put_events(s, "u4", 400, 9000), 0);
    for (int i = 0; i < 2 * KJ_STORE_MERGE_STEPS + 2; i++)
        ck_assert_int_eq(put_events(s, "u3", 10, 5000), 10);
    ck_assert_uint_eq(journal_ids(s), 0);
    ck_assert_int_eq(put_group(s, IDS_SCATTERED, 500), 500);
    ck_assert_int_eq(put_events(s, "u2", 50, 5000), 50);
    ck_assert_uint_eq(stored_events(s), 1000 + 500 + 40 + 10 + 10 + 10 + 10 + 400);
    close_store(s);
}
END_TEST

/* A big group whose ids count up puts them into ids at once; one of
 * scattered ids journals them; both ways see each other's ids. */
START_TEST(a_big_group_of_counted_ids_skips_the_journal)
{
    kj_store *s = open_store();
    ck_assert_int_eq(put_events(s, "u1", 10, 1000), 0); /* ev-0..9, journalled */
    ck_assert_uint_eq(journal_ids(s), 10);
    ck_assert_int_eq(put_group(s, IDS_COUNTED, KJ_STORE_DIRECT_IDS + 44), 10);
    ck_assert_uint_eq(journal_ids(s), 10); /* went to ids */
    ck_assert_int_eq(put_events(s, "u1", 20, 1000), 20);
    ck_assert_int_eq(put_group(s, IDS_SCATTERED, KJ_STORE_DIRECT_IDS + 44), 0);
    ck_assert_uint_eq(journal_ids(s), 10 + KJ_STORE_DIRECT_IDS + 44);
    kj_store_close(s);
    s = reopen(0);
    ck_assert_int_eq(put_group(s, IDS_COUNTED, KJ_STORE_DIRECT_IDS + 44), KJ_STORE_DIRECT_IDS + 44);
    ck_assert_int_eq(put_group(s, IDS_SCATTERED, KJ_STORE_DIRECT_IDS + 44),
                     KJ_STORE_DIRECT_IDS + 44);
    close_store(s);
}
END_TEST

/* A group of batches from many clients counts up within each batch, and the
 * sample, sorted by unit first, seldom puts two of one batch side by side:
 * it still skips the journal (it once went to it by the toss of the sample,
 * at three quarters of the speed). */
START_TEST(a_group_of_many_batches_skips_the_journal)
{
    kj_store *s = open_store();
    kj_store_close(s);
    s = reopen_with(100000, 0); /* a journal that does not merge in the test */
    ck_assert_int_eq(put_group(s, IDS_BATCHES, 16000), 0);
    ck_assert_uint_eq(journal_ids(s), 0);
    ck_assert_int_eq(put_group(s, IDS_BATCHES, 16000), 16000); /* seen in ids */
    close_store(s);
}
END_TEST

/* A direct group puts its ids at once, in key order: an id that comes twice
 * in it is stored the first time and a duplicate the second, and every other
 * event is in the raw log. */
START_TEST(a_direct_group_stores_the_first_of_two_equal_ids)
{
    kj_store *s = open_store();
    int n = KJ_STORE_DIRECT_IDS + 44;
    ck_assert_int_eq(put_group_with(s, IDS_COUNTED, n, n / 2), 1);
    ck_assert_uint_eq(journal_ids(s), 0);
    ck_assert_uint_eq(stored_events(s), (uint64_t)n - 1);
    ck_assert_int_eq(put_group(s, IDS_BATCHES, 16000), 0);
    ck_assert_uint_eq(stored_events(s), (uint64_t)n - 1 + 16000);
    close_store(s);
}
END_TEST

/* After kj_store_expect the store takes its events in the order announced,
 * and refuses another: it cannot tell a duplicate from an event it claimed. */
START_TEST(a_direct_group_refuses_an_event_it_was_not_told_of)
{
    kj_store *s = open_store();
    int n = KJ_STORE_DIRECT_IDS;
    kj_event *evs = calloc((size_t)n + 1, sizeof *evs);
    const kj_event **list = calloc((size_t)n, sizeof *list);
    for (int i = 0; i <= n; i++) {
        char id[32];
        snprintf(id, sizeof id, "ev-%d", i);
        evs[i] = event("u1", id, 1000 + i);
        if (i < n) list[i] = &evs[i];
    }
    kj_store_txn *t;
    bool dup;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    ck_assert_int_eq(kj_store_expect(t, list, (size_t)n), KJ_OK);
    ck_assert_int_eq(put_event(t, &evs[1], &dup), KJ_ERR_INVALID); /* out of order */
    ck_assert_int_eq(put_event(t, &evs[0], &dup), KJ_OK);
    ck_assert(!dup);
    ck_assert_int_eq(put_event(t, &evs[n], &dup), KJ_ERR_INVALID); /* not announced */
    kj_store_abort(t);
    ck_assert_uint_eq(stored_events(s), 0);
    free(list);
    free(evs);
    close_store(s);
}
END_TEST

START_TEST(cursor_resumes_in_time_order)
{
    kj_store *s = open_store();
    put_events(s, "u1", 1000, 5000);
    put_events(s, "u2", 1000, 5000);
    kj_store_cursor c;
    kj_store_cursor_init(&c, 5100, 5300); /* 200 ms of u1 only */
    int n = 0, calls = 0;
    while (!c.done) {
        ck_assert_int_eq(kj_store_cursor_next(s, &c, "u1", 7, count_event, &n), KJ_OK);
        calls++;
    }
    ck_assert_int_eq(n, 200);
    ck_assert_int_ge(calls, 2 * 200 / 7); /* both units' events are walked, 7 at a time */
    close_store(s);
}
END_TEST

/* The raw log appends events in time order and inserts late ones where they
 * belong: read back, every event is there, in time order. */
static int check_order(void *ctx, const kj_event *ev)
{
    int64_t *last = ctx;
    ck_assert_int_ge(ev->ts, last[0]);
    last[0] = ev->ts;
    last[1]++;
    return 0;
}

START_TEST(late_events_take_their_place_in_time)
{
    kj_store *s = open_store();
    put_events(s, "u1", 500, 10000); /* appended */
    put_events(s, "u2", 500, 9800);  /* mostly before the last: inserted */
    kj_store_txn *t;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    const int64_t ts[] = {20000, 5000, 20001, 10250, 20000}; /* late ones within a group */
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "late-%d", i);
        kj_event ev = event("u3", id, ts[i]);
        bool dup;
        ck_assert_int_eq(put_event(t, &ev, &dup), KJ_OK);
        ck_assert(!dup);
    }
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    int64_t seen[2] = {0, 0}; /* the last ts, the count */
    ck_assert_int_eq(kj_store_each_event(s, 0, 30000, NULL, check_order, seen), KJ_OK);
    ck_assert_int_eq(seen[1], 1005);
    ck_assert_int_eq(seen[0], 20001);
    close_store(s);
}
END_TEST

/* A direct group writes its raw log at the commit, in key order: batches of
 * many clients, each of one time, arrive out of time order (the clients'
 * clocks and queues), and two of them are older than the log's last event. */
START_TEST(a_direct_group_of_batches_out_of_time_order_is_stored_whole)
{
    kj_store *s = open_store();
    ck_assert_int_eq(put_events(s, "u1", 10, 50000), 0);
    int batch = 500, batches = 8, n = batch * batches;
    kj_event *evs = calloc((size_t)n, sizeof *evs);
    const kj_event **list = calloc((size_t)n, sizeof *list);
    static const int64_t when[] = {60000, 61000, 60500, 40000, 62000, 49999, 61000, 60000};
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "cl%d-%04d", i / batch, i % batch);
        evs[i] = event("u2", id, when[i / batch]);
        list[i] = &evs[i];
    }
    kj_store_txn *t;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    ck_assert_int_eq(kj_store_expect(t, list, (size_t)n), KJ_OK);
    for (int i = 0; i < n; i++) {
        bool dup;
        ck_assert_int_eq(put_event(t, &evs[i], &dup), KJ_OK);
        ck_assert(!dup);
    }
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    int64_t seen[2] = {0, 0};
    ck_assert_int_eq(kj_store_each_event(s, 0, 100000, NULL, check_order, seen), KJ_OK);
    ck_assert_int_eq(seen[1], 10 + n);
    ck_assert_uint_eq(stored_events(s), (uint64_t)(10 + n));
    int in_u2 = 0; /* every event of the group, and each once */
    ck_assert_int_eq(kj_store_each_event(s, 0, 100000, "u2", count_event, &in_u2), KJ_OK);
    ck_assert_int_eq(in_u2, n);
    ck_assert_int_eq(kj_store_begin(s, &t),
                     KJ_OK); /* and each id is known: again, all duplicates */
    ck_assert_int_eq(kj_store_expect(t, list, (size_t)n), KJ_OK);
    for (int i = 0; i < n; i++) {
        bool dup;
        ck_assert_int_eq(put_event(t, &evs[i], &dup), KJ_OK);
        ck_assert(dup);
    }
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    ck_assert_uint_eq(stored_events(s), (uint64_t)(10 + n));
    free(list);
    free(evs);
    close_store(s);
}
END_TEST

START_TEST(retention_deletes_old_events_in_steps)
{
    kj_store *s = open_store();
    put_events(s, "u1", 2500, 10000);
    size_t deleted;
    ck_assert_int_eq(kj_store_expire_events(s, 12000, 1000, &deleted), KJ_OK);
    ck_assert_uint_eq(deleted, 1000);
    ck_assert_int_eq(kj_store_expire_events(s, 12000, 1000, &deleted), KJ_OK);
    ck_assert_uint_eq(deleted, 1000);
    ck_assert_int_eq(kj_store_expire_events(s, 12000, 1000, &deleted), KJ_OK);
    ck_assert_uint_eq(deleted, 0);
    /* the ids went with them: the same ids are new again, the younger are not */
    ck_assert_int_eq(put_events(s, "u1", 2500, 10000), 500);
    close_store(s);
}
END_TEST

static bool odd_key(void *ctx, const void *key, size_t klen)
{
    (void)ctx;
    return ((const unsigned char *)key)[klen - 1] % 2;
}

static int count_kv(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    ++*(int *)ctx;
    return 0;
}

START_TEST(aggregate_pass_goes_on_where_it_stopped)
{
    kj_store *s = open_store();
    kj_store_txn *t;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    for (int i = 0; i < 1000; i++) {
        unsigned char key[4] = {'B', (unsigned char)(i >> 8), (unsigned char)i, (unsigned char)i};
        ck_assert_int_eq(kj_store_put_agg(t, key, sizeof key, "v", 1), KJ_OK);
    }
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    size_t deleted, total = 0;
    bool done = false;
    int steps = 0;
    while (!done) {
        ck_assert_int_eq(kj_store_expire_aggs(s, odd_key, NULL, 64, &deleted, &done), KJ_OK);
        ck_assert_uint_le(deleted, 64);
        total += deleted;
        steps++;
    }
    ck_assert_uint_eq(total, 500);
    ck_assert_int_ge(steps, 1000 / 64);
    int left = 0;
    ck_assert_int_eq(kj_store_each_agg(s, count_kv, &left), KJ_OK);
    ck_assert_int_eq(left, 500);
    /* a new pass starts from the beginning and finds nothing more */
    ck_assert_int_eq(kj_store_expire_aggs(s, odd_key, NULL, 10000, &deleted, &done), KJ_OK);
    ck_assert_uint_eq(deleted, 0);
    ck_assert(done);
    close_store(s);
}
END_TEST

/* --- the bucket journal, against a model: key i holds model[i] ("" absent) --- */

#define MODEL_KEYS 300
#define MODEL_MERGE (64u << 10) /* agg_merge_bytes' floor: merges every few commits */

typedef struct model {
    char v[MODEL_KEYS][40];
} model;

static size_t model_key(unsigned char *key, int i)
{
    return (size_t)snprintf((char *)key, 16, "K%04d", i);
}

static int model_index(const void *k, size_t kl)
{
    char buf[16] = {0};
    ck_assert_uint_lt(kl, sizeof buf);
    memcpy(buf, k, kl);
    ck_assert_int_eq(buf[0], 'K');
    return atoi(buf + 1);
}

typedef struct walk {
    const model *m;
    int seen, last;
} walk;

/* Each key once, in order, with the model's value. */
static int check_kv(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    walk *w = ctx;
    int i = model_index(k, kl);
    ck_assert_int_gt(i, w->last);
    ck_assert_str_ne(w->m->v[i], "");
    ck_assert_uint_eq(vl, strlen(w->m->v[i]));
    ck_assert_int_eq(memcmp(v, w->m->v[i], vl), 0);
    w->last = i;
    w->seen++;
    return 0;
}

static int model_count(const model *m, int from, int to)
{
    int n = 0;
    for (int i = from; i < to; i++)
        n += m->v[i][0] != '\0';
    return n;
}

/* Every way of reading agg agrees with the model. */
static void check_model(kj_store *s, const model *m)
{
    walk w = {m, 0, -1};
    ck_assert_int_eq(kj_store_each_agg(s, check_kv, &w), KJ_OK);
    ck_assert_int_eq(w.seen, model_count(m, 0, MODEL_KEYS));
    unsigned char lo[16], hi[16];
    size_t ll = model_key(lo, 50), hl = model_key(hi, 250);
    w = (walk){m, 0, 49};
    ck_assert_int_eq(kj_store_each_agg_range(s, lo, ll, hi, hl, 20, check_kv, &w), KJ_OK);
    ck_assert_int_eq(w.seen, model_count(m, 50, 250) < 20 ? model_count(m, 50, 250) : 20);
    kj_store_reader *r;
    ck_assert_int_eq(kj_store_reader_begin(s, &r), KJ_OK);
    w = (walk){m, 0, 49};
    ck_assert_int_eq(kj_store_reader_each_agg(r, lo, ll, hi, hl, check_kv, &w), KJ_OK);
    ck_assert_int_eq(w.seen, model_count(m, 50, 250));
    for (int i = 0; i < MODEL_KEYS; i += 7) {
        unsigned char k[16];
        const void *v;
        size_t vl, kl = model_key(k, i);
        kj_err err = kj_store_reader_get_agg(r, k, kl, &v, &vl);
        if (!m->v[i][0]) {
            ck_assert_int_eq(err, KJ_ERR_NOT_FOUND);
            continue;
        }
        ck_assert_int_eq(err, KJ_OK);
        ck_assert_uint_eq(vl, strlen(m->v[i]));
        ck_assert_int_eq(memcmp(v, m->v[i], vl), 0);
    }
    kj_store_reader_end(r);
}

/* A commit that writes n keys from first (stepping by step) with values
 * naming round; with abort, it is thrown away and the model is not changed. */
static void write_round(kj_store *s, model *m, int round, int first, int step, int n, bool abort)
{
    kj_store_txn *t;
    model next = *m;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    for (int j = 0; j < n; j++) {
        int i = (first + j * step) % MODEL_KEYS;
        unsigned char k[16];
        size_t kl = model_key(k, i);
        snprintf(next.v[i], sizeof next.v[i], "r%d-k%d-%.*s", round, i, round % 20,
                 "xxxxxxxxxxxxxxxxxxxx");
        ck_assert_int_eq(kj_store_put_agg(t, k, kl, next.v[i], strlen(next.v[i])), KJ_OK);
    }
    if (abort) {
        kj_store_abort(t);
        return;
    }
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    *m = next;
}

START_TEST(buckets_read_the_same_through_the_journal_and_its_merges)
{
    kj_store *s = open_store();
    kj_store_close(s);
    s = reopen_with(0, MODEL_MERGE);
    static model m;
    memset(&m, 0, sizeof m);
    check_model(s, &m);
    /* ~30 bytes an entry, 40 entries a commit: a merge every ~50 commits */
    for (int round = 1; round <= 400; round++) {
        write_round(s, &m, round, round * 13, 7, 40, round % 9 == 0);
        if (round % 37 == 0) check_model(s, &m);
        if (round % 101 == 0) { /* the journal loads back */
            kj_store_close(s);
            s = reopen_with(0, MODEL_MERGE);
            check_model(s, &m);
        }
    }
    check_model(s, &m);
    close_store(s);
}
END_TEST

static uint64_t agg_journal_bytes(kj_store *s)
{
    return stats_of(s).agg_journal_bytes;
}

static kj_store *reopen_entries(size_t entries)
{
    return open_opts(&(kj_store_opts){.dir = dir,
                                      .map_size = 64ULL << 20,
                                      .agg_merge_bytes = 256u << 20,
                                      .agg_merge_entries = entries});
}

/* Small buckets fill agg_merge_bytes with tens of thousands of writes, and a
 * reader indexes each: the journal is merged at agg_merge_entries too, and
 * its count loads back with it. */
START_TEST(the_bucket_journal_merges_at_agg_merge_entries)
{
    kj_store *s = open_store();
    kj_store_close(s);
    s = reopen_entries(256);
    static model m;
    memset(&m, 0, sizeof m);
    write_round(s, &m, 1, 0, 1, 100, false);
    write_round(s, &m, 2, 100, 1, 100, false); /* 200 writes journalled */
    uint64_t bytes = agg_journal_bytes(s);
    ck_assert_uint_gt(bytes, 0);
    kj_store_close(s);
    s = reopen_entries(256);
    ck_assert_uint_eq(agg_journal_bytes(s), bytes);
    write_round(s, &m, 3, 200, 1, 55, false); /* 255: one short */
    ck_assert_uint_gt(agg_journal_bytes(s), bytes);
    write_round(s, &m, 4, 0, 1, 1, false); /* 256: merged */
    ck_assert_uint_eq(agg_journal_bytes(s), 0);
    check_model(s, &m);
    close_store(s);
}
END_TEST

START_TEST(the_writer_reads_its_own_bucket_writes)
{
    kj_store *s = open_store();
    static model m;
    memset(&m, 0, sizeof m);
    write_round(s, &m, 1, 0, 1, 100, false); /* journalled */
    kj_store_txn *t;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    ck_assert_int_eq(kj_store_put_agg(t, "K0005", 5, "new", 3), KJ_OK);
    const void *v;
    size_t vl;
    ck_assert_int_eq(kj_store_get_agg(t, "K0005", 5, &v, &vl), KJ_OK);
    ck_assert_uint_eq(vl, 3);
    ck_assert_int_eq(memcmp(v, "new", 3), 0);
    ck_assert_int_eq(kj_store_get_agg(t, "K0006", 5, &v, &vl), KJ_OK);
    ck_assert_uint_eq(vl, strlen(m.v[6]));
    ck_assert_int_eq(kj_store_get_agg(t, "K0400", 5, &v, &vl), KJ_ERR_NOT_FOUND);
    ck_assert_int_eq(kj_store_put_agg(t, "K0007", 5, "newer", 5), KJ_OK); /* after the merge */
    kj_store_abort(t); /* the merge goes with it */
    check_model(s, &m);
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    ck_assert_int_eq(kj_store_get_agg(t, "K0007", 5, &v, &vl), KJ_OK);
    ck_assert_int_eq(kj_store_put_agg(t, "K0007", 5, "newer", 5), KJ_OK);
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    strcpy(m.v[7], "newer");
    write_round(s, &m, 2, 3, 3, 50, false); /* journalled after a merged commit */
    check_model(s, &m);
    kj_store_close(s);
    s = reopen(0);
    check_model(s, &m);
    close_store(s);
}
END_TEST

START_TEST(a_bucket_key_too_long_for_lmdb_is_refused)
{
    kj_store *s = open_store();
    kj_store_txn *t;
    unsigned char big[512] = {'K'};
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    ck_assert_int_eq(kj_store_put_agg(t, big, 511, "v", 1), KJ_OK);
    ck_assert_int_eq(kj_store_put_agg(t, big, 512, "v", 1), KJ_ERR_TOO_BIG);
    ck_assert_int_eq(kj_store_put_agg(t, big, 0, "v", 1), KJ_ERR_TOO_BIG);
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    close_store(s);
}
END_TEST

START_TEST(expiry_and_clearing_reach_journalled_buckets)
{
    kj_store *s = open_store();
    kj_store_txn *t;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    for (int i = 0; i < 1000; i++) { /* far past the merge: into the table */
        unsigned char key[4] = {'B', (unsigned char)(i >> 8), (unsigned char)i, (unsigned char)i};
        char val[1100] = {0};
        ck_assert_int_eq(kj_store_put_agg(t, key, sizeof key, val, sizeof val), KJ_OK);
    }
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    for (int i = 1000; i < 1100; i++) { /* a small commit: journalled */
        unsigned char key[4] = {'B', (unsigned char)(i >> 8), (unsigned char)i, (unsigned char)i};
        ck_assert_int_eq(kj_store_put_agg(t, key, sizeof key, "v", 1), KJ_OK);
    }
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    size_t deleted, total = 0;
    bool done = false;
    while (!done) {
        ck_assert_int_eq(kj_store_expire_aggs(s, odd_key, NULL, 300, &deleted, &done), KJ_OK);
        total += deleted;
    }
    ck_assert_uint_eq(total, 550);
    int left = 0;
    ck_assert_int_eq(kj_store_each_agg(s, count_kv, &left), KJ_OK);
    ck_assert_int_eq(left, 550);
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    ck_assert_int_eq(kj_store_put_agg(t, "Z", 1, "v", 1), KJ_OK);
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    ck_assert_int_eq(kj_store_clear_aggs(s), KJ_OK);
    left = 0;
    ck_assert_int_eq(kj_store_each_agg(s, count_kv, &left), KJ_OK);
    ck_assert_int_eq(left, 0);
    kj_store_close(s);
    s = reopen(0);
    ck_assert_int_eq(kj_store_each_agg(s, count_kv, &left), KJ_OK);
    ck_assert_int_eq(left, 0);
    close_store(s);
}
END_TEST

/* The "schema" of the closed store in dir: set to ver when ver != 0; returned. */
static uint32_t store_schema(uint32_t ver)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val k = {6, "schema"}, v = {sizeof ver, &ver};
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 8), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, 0, 0640), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    if (ver) ck_assert_int_eq(mdb_put(txn, meta, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_get(txn, meta, &k, &v), 0);
    ck_assert_uint_eq(v.mv_size, sizeof ver);
    memcpy(&ver, v.mv_data, sizeof ver);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    return ver;
}

START_TEST(schema_1_is_upgraded_and_a_newer_one_refused)
{
    kj_store *s = open_store();
    kj_store_close(s);
    ck_assert_uint_eq(store_schema(0), KJ_STORE_SCHEMA);
    store_schema(1); /* as the daemons before the journals wrote it */
    kj_store_opts ro = {dir, 64ULL << 20, false, true};
    char msg[256];
    ck_assert_int_eq(kj_store_open(&ro, &s, msg, sizeof msg), KJ_OK);
    kj_store_close(s);
    ck_assert_uint_eq(store_schema(0), 1); /* a read-only open changes nothing */
    kj_store_close(reopen(0));
    ck_assert_uint_eq(store_schema(0), KJ_STORE_SCHEMA);
    store_schema(KJ_STORE_SCHEMA + 1);
    kj_store_opts o = {dir, 64ULL << 20, false, false};
    ck_assert_int_eq(kj_store_open(&o, &s, msg, sizeof msg), KJ_ERR_SCHEMA);
    ck_assert_str_eq(msg, "store schema version 4, this kinerjad reads 1 to 3");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The ids table of a store of schema 2 (an entry per id) with n counted
 * ids of u1 and one without digits, written as the daemons before id_runs
 * wrote it; *had tells whether it is there when ids is NULL. */
static void old_ids(int n, bool *had)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi ids;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 12), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, 0, 0640), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    if (had) {
        *had = mdb_dbi_open(txn, "ids", 0, &ids) == MDB_SUCCESS;
    } else {
        ck_assert_int_eq(mdb_dbi_open(txn, "ids", MDB_CREATE, &ids), 0);
        uint8_t raw[16] = {0};
        for (int i = 0; i <= n; i++) {
            char key[32];
            int len = i < n ? snprintf(key, sizeof key, "u1%cev-%d", 0, i)
                            : snprintf(key, sizeof key, "u1%clegacy", 0);
            MDB_val k = {(size_t)len, key}, v = {sizeof raw, raw};
            ck_assert_int_eq(mdb_put(txn, ids, &k, &v, 0), 0);
        }
    }
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static int put_one(kj_store *s, const char *unit, const char *id)
{
    kj_store_txn *t;
    bool dup;
    kj_event ev = event(unit, id, 5000);
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    ck_assert_int_eq(put_event(t, &ev, &dup), KJ_OK);
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    return dup;
}

static void assert_known(kj_store *s, const char *unit, char prefix, int n, int stride)
{
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%c%d", prefix, i * stride);
        ck_assert_msg(known_id(s, unit, id), "%s not known", id);
    }
}

/* The id set against a model: ids added, committed, rolled back and dropped
 * from the front in random pieces (so that its table moves entries back over
 * the holes and its arena compacts); every id is asked after every change,
 * and the oldest come back sorted. */
START_TEST(the_id_set_lets_its_oldest_go)
{
    enum { N = 3000 };
    kj_idset *set = kj_idset_new();
    static char ids[N][16];
    size_t front = 0, committed = 0, n = 0;
    uint8_t val[KJ_IDSET_VAL] = {0};
    srand(7);
    while (n < N || front < n) {
        int op = rand() % 8;
        if (op < 5 && n < N) { /* an add, pending */
            snprintf(ids[n], sizeof ids[n], "%x", (unsigned)rand());
            if (kj_idset_has(set, ids[n], strlen(ids[n]))) continue; /* drawn twice */
            kj_idset_add(set, ids[n], strlen(ids[n]), val);
            n++;
        } else if (op == 5) {
            kj_idset_commit(set);
            committed = n;
        } else if (op == 6 && rand() % 8 == 0) {
            kj_idset_rollback(set);
            n = committed;
        } else if (op == 7) {
            size_t k = (size_t)rand() % 200;
            kj_idset_drop_front(set, k);
            front = front + k < committed ? front + k : committed;
        }
        ck_assert_uint_eq(kj_idset_count(set), n - front);
        ck_assert_uint_eq(kj_idset_committed(set), committed - front);
        for (size_t i = front > 50 ? front - 50 : 0; i < n; i++)
            ck_assert_msg(kj_idset_has(set, ids[i], strlen(ids[i])) == (i >= front), "%zu", i);
    }
    kj_idset_entry *list;
    size_t k = kj_idset_sorted(set, 40, &list);
    ck_assert_uint_eq(k, 0);
    free(list);
    for (size_t i = 0; i < 100; i++) {
        snprintf(ids[i], sizeof ids[i], "z%03zu", 99 - i);
        kj_idset_add(set, ids[i], strlen(ids[i]), val);
    }
    k = kj_idset_sorted(set, 40, &list); /* z099 .. z060, sorted: z060 first */
    ck_assert_uint_eq(k, 40);
    for (size_t i = 0; i < k; i++)
        ck_assert(list[i].len == 4 && !memcmp(list[i].key, ids[39 - i], 4));
    free(list);
    kj_idset_free(set);
}
END_TEST

static int key_order(const void *a, const void *b)
{
    const kj_idset_entry *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The set's sort (a radix sort of 8 bytes past the shared prefix, then the
 * ties) against qsort with memcmp: keys of four bytes 0x00, 'a', 'b' and
 * 0xff, often each other's prefixes, and equal in their first 8 bytes. */
START_TEST(the_id_set_sorts_as_memcmp_does)
{
    enum { N = 2000 };
    kj_idset *set = kj_idset_new();
    static uint8_t keys[N][24];
    static const uint8_t alphabet[] = {0x00, 'a', 'b', 0xff};
    uint8_t val[KJ_IDSET_VAL] = {0};
    size_t n = 0;
    srand(11);
    for (int tries = 0; tries < 4 * N && n < N; tries++) {
        size_t len = 5 + (size_t)rand() % 19;
        memcpy(keys[n], "unit", 4);
        for (size_t j = 4; j < len; j++)
            keys[n][j] = alphabet[rand() % 4];
        if (kj_idset_has(set, keys[n], len)) continue;
        kj_idset_add(set, keys[n], len, val);
        n++;
    }
    kj_idset_commit(set);
    kj_idset_drop_front(set, 100); /* sorted from the front on */
    kj_idset_entry *got, *want;
    uint8_t *data;
    size_t k = kj_idset_sorted(set, SIZE_MAX, &want);
    ck_assert_uint_eq(k, n - 100);
    qsort(want, k, sizeof *want, key_order);
    kj_idset_sorted_copy(set, SIZE_MAX, &got, &data);
    for (size_t i = 0; i < k; i++)
        ck_assert_msg(got[i].len == want[i].len && !memcmp(got[i].key, want[i].key, got[i].len),
                      "%zu", i);
    free(got);
    free(data);
    free(want);
    kj_idset_free(set);
}
END_TEST

/* Once merge_at ids are committed, the next KJ_STORE_MERGE_STEPS commits put
 * a sorted share each into id_runs, and the ones after those delete their
 * journal records, a share each, as the set lets them go. Every id is known
 * before, during and after the merge, and after a reopen in its middle (the
 * merge begins again over the journal); merge_at ids more, come meanwhile, go
 * in at once with the rest, and so does a big group's commit. */
START_TEST(the_id_journal_merges_in_steps)
{
    kj_store *s = open_store();
    kj_store_close(s);
    s = reopen(16);
    char id[32];
    for (int i = 0; i < 16; i++) {
        snprintf(id, sizeof id, "a%d", i * 7);
        ck_assert(!put_one(s, "u1", id));
    }
    for (int step = 1; step <= 3; step++) { /* the merge's first three steps */
        snprintf(id, sizeof id, "b%d", step);
        ck_assert(!put_one(s, "u1", id));
        ck_assert_uint_eq(journal_ids(s), 16 + (unsigned)step); /* kept until deleted */
        assert_known(s, "u1", 'a', 16, 7);
        ck_assert(known_id(s, "u1", id));
    }
    kj_store_close(s);
    s = reopen(16); /* the journal loads back whole; the merge begins again */
    ck_assert_uint_eq(journal_ids(s), 19);
    assert_known(s, "u1", 'a', 16, 7);
    /* 19 ids, 3 a step: 7 steps into id_runs, then 7 out of the journal */
    const unsigned left[] = {19, 19, 19, 19, 19, 19, 19, 16, 13, 10, 7, 4, 1, 0};
    for (size_t step = 0; step < sizeof left / sizeof *left; step++) {
        ck_assert(put_one(s, "u1", "a0")); /* a duplicate: no new id, a step */
        ck_assert_uint_eq(journal_ids(s), left[step]);
        assert_known(s, "u1", 'a', 16, 7);
        ck_assert(known_id(s, "u1", "b1") && known_id(s, "u1", "b3"));
    }
    kj_store_close(s);
    s = reopen(16);
    ck_assert_uint_eq(journal_ids(s), 0); /* the records went with their steps */
    assert_known(s, "u1", 'a', 16, 7);
    ck_assert(put_one(s, "u1", "b3"));
    ck_assert(!put_one(s, "u1", "b4"));
    for (int i = 0; i < 15; i++) { /* with b4: 16 committed */
        snprintf(id, sizeof id, "c%d", i);
        ck_assert(!put_one(s, "u2", id));
    }
    ck_assert_int_eq(put_events(s, "u2", 1, 1000), 0); /* a merge begins: 17 */
    ck_assert_uint_eq(journal_ids(s), 17);
    ck_assert_int_eq(put_events(s, "u2", 16, 1000), 1); /* 32: all at once */
    ck_assert_uint_eq(journal_ids(s), 0);
    assert_known(s, "u2", 'c', 15, 1);
    ck_assert_int_eq(put_events(s, "u2", 16, 1000), 16);
    ck_assert(put_one(s, "u1", "b4"));
    ck_assert_int_eq(put_events(s, "u4", KJ_STORE_DIRECT_IDS, 1000), 0); /* a big group's */
    ck_assert_uint_eq(journal_ids(s), 0);                                /* commit: at once */
    ck_assert_int_eq(put_events(s, "u4", KJ_STORE_DIRECT_IDS, 1000), KJ_STORE_DIRECT_IDS);
    close_store(s);
}
END_TEST

/* A store of schema 2 keeps an entry per id in ids: the open moves them
 * into id_runs (more than one transaction's worth here), drops ids and
 * says 3; every one of them is still a duplicate, and so are the ids of its
 * id journal, merged into id_runs later. */
START_TEST(schema_2_ids_move_into_runs_at_the_open)
{
    kj_store *s = open_store();
    ck_assert_int_eq(put_events(s, "u3", 6, 1000), 0); /* in the id journal, as schema 2 kept it */
    kj_store_close(s);
    old_ids(20000, NULL);
    store_schema(2);
    s = reopen(8); /* the commits after the next merge the journal into id_runs */
    ck_assert_int_eq(put_events(s, "u3", 8, 1000), 6);
    for (int i = 0; i < 2 * KJ_STORE_MERGE_STEPS && journal_ids(s); i++)
        ck_assert_int_eq(put_events(s, "u3", 8, 1000), 8);
    ck_assert_uint_eq(journal_ids(s), 0);
    ck_assert_int_eq(put_events(s, "u3", 8, 1000), 8);
    ck_assert_int_eq(put_events(s, "u1", 10, 1000), 10);
    ck_assert_int_eq(put_group(s, IDS_COUNTED, 20000), 20000);
    ck_assert(put_one(s, "u1", "legacy"));
    ck_assert(!put_one(s, "u1", "ev-20000"));
    ck_assert(!put_one(s, "u2", "ev-5")); /* ids are per unit */
    kj_store_close(s);
    bool had;
    old_ids(0, &had);
    ck_assert(!had);
    ck_assert_uint_eq(store_schema(0), KJ_STORE_SCHEMA);
    close_store(reopen(0));
}
END_TEST

/* Retention forgets the ids of the events it deletes, from the front of
 * their run (test_idruns removes from its middle); the ids after them stay. */
START_TEST(retention_frees_the_ids_it_deletes_from_a_run)
{
    kj_store *s = open_store();
    ck_assert_int_eq(put_group(s, IDS_COUNTED, 400), 0); /* ev-i at ts 1000 + i */
    ck_assert(put_one(s, "u1", "ev-150"));
    size_t deleted;
    ck_assert_int_eq(kj_store_expire_events(s, 1000 + 120, 1000, &deleted), KJ_OK);
    ck_assert_uint_eq(deleted, 120);
    ck_assert(!put_one(s, "u1", "ev-5"));   /* freed; stored again, at ts 5000 */
    ck_assert(put_one(s, "u1", "ev-120"));  /* kept */
    ck_assert(put_one(s, "u1", "ev-5"));    /* and now stored */
    ck_assert(!put_one(s, "u1", "ev-400")); /* after the run */
    close_store(s);
}
END_TEST

/* A store whose id filter (4 KiB: made for 3,276 ids) was given 2,048 ids,
 * then retention deleted 1,500 of them: worn. a4, first in key order (the
 * renewal's walk meets it first), holds the runs {3j, 3j + 1} (j < PAIRS);
 * u1 keeps IDS_SCATTERED's ids 1,500..1,999. The journal is empty. */
enum { PAIRS = 24 };
static kj_store *worn_store(void)
{
    filter_bytes = 4096;
    kj_store *s = open_store();
    filter_bytes = 1 << 16; /* the others' size, when the tests share a process */
    for (int j = 0; j < PAIRS; j++)
        for (int k = 0; k < 2; k++) {
            char id[32];
            snprintf(id, sizeof id, "n-%d", 3 * j + k);
            ck_assert(!put_one(s, "a4", id));
        }
    ck_assert_int_eq(put_group(s, IDS_SCATTERED, 2000), 0); /* ts 1000 + i */
    size_t deleted, total = 0;
    do { /* it merges the journal first */
        ck_assert_int_eq(kj_store_expire_events(s, 1000 + 1500, 1000, &deleted), KJ_OK);
        total += deleted;
    } while (deleted);
    ck_assert_uint_eq(total, 1500);
    ck_assert_uint_eq(journal_ids(s), 0);
    return s;
}

/* Renews the filter to its end, max_runs a step; returns the steps, after
 * calling between(s, step) after each step but the last. */
static int renew(kj_store *s, size_t max_runs, void (*between)(kj_store *s, int step))
{
    bool busy, renewed;
    int steps = 0;
    for (;;) {
        ck_assert_int_eq(kj_store_renew_filter(s, max_runs, &busy, &renewed), KJ_OK);
        ck_assert(renewed == !busy);
        steps++;
        if (!busy) return steps;
        if (between) between(s, steps - 1);
    }
}

/* What worn_store keeps is stored (u1's 500 and more = kept), and the
 * deleted ids are new again: no stored id is ever taken for new. */
static void assert_kept(kj_store *s, int want)
{
    ck_assert_int_eq(put_group(s, IDS_SCATTERED, 2000), want);
}

/* Once retention has deleted half of what a worn filter holds, a new one is
 * filled from id_runs and the journal, in steps, and takes its place: it
 * holds what is stored, no more. */
START_TEST(a_worn_id_filter_is_renewed_with_the_journals_ids)
{
    kj_store *s = worn_store();
    uint64_t before = stats_of(s).id_filter_ids;
    ck_assert_uint_ge(before, 2048);
    bool busy, renewed;
    ck_assert_int_eq(kj_store_renew_filter(s, 0, &busy, &renewed), KJ_OK); /* worn: begins */
    ck_assert(busy && !renewed);
    close_store(s);

    s = worn_store();
    for (int i = 0; i < 10; i++) { /* journalled, and there all along */
        char id[32];
        snprintf(id, sizeof id, "j-%d", i);
        ck_assert(!put_one(s, "b5", id));
    }
    ck_assert_uint_eq(journal_ids(s), 10);
    ck_assert_int_gt(renew(s, 64, NULL), 1);
    ck_assert_uint_eq(journal_ids(s), 10);
    uint64_t after = stats_of(s).id_filter_ids;
    ck_assert_uint_lt(after, before / 2);
    size_t deleted; /* one more of u1's, and the journal's ids into id_runs */
    ck_assert_int_eq(kj_store_expire_events(s, 1000 + 1500 + 1, 1000, &deleted), KJ_OK);
    ck_assert_uint_eq(deleted, 1);
    ck_assert_uint_eq(journal_ids(s), 0);
    for (int i = 0; i < 10; i++) {
        char id[32];
        snprintf(id, sizeof id, "j-%d", i);
        ck_assert(put_one(s, "b5", id));
    }
    assert_kept(s, 499);
    ck_assert_int_eq(kj_store_renew_filter(s, 64, &busy, &renewed), KJ_OK); /* not worn again */
    ck_assert(!busy && !renewed);
    close_store(s);
}
END_TEST

/* After the renewal's walk has passed a4's run j (one run a step), an id
 * joins it to run j + 1, whose key the walk has not reached: the joined run
 * goes into the new filter whole. Retention's merge of the journal puts the
 * id into id_runs (and deletes one more of u1's). */
static void join_behind_the_walk(kj_store *s, int step)
{
    if (step >= PAIRS - 1) return;
    char id[32];
    snprintf(id, sizeof id, "n-%d", 3 * step + 2);
    ck_assert(!put_one(s, "a4", id));
    size_t deleted;
    ck_assert_int_eq(kj_store_expire_events(s, 1000 + 1500 + step + 1, 1000, &deleted), KJ_OK);
    ck_assert_uint_eq(deleted, 1);
    ck_assert_uint_eq(journal_ids(s), 0);
}

START_TEST(runs_joined_behind_the_renewals_walk_reach_the_new_filter)
{
    kj_store *s = worn_store();
    ck_assert_int_gt(renew(s, 1, join_behind_the_walk), PAIRS);
    for (int n = 0; n < 3 * PAIRS; n++) {
        char id[32];
        snprintf(id, sizeof id, "n-%d", n);
        bool stored = n % 3 != 2 || n / 3 < PAIRS - 1;
        ck_assert_msg(put_one(s, "a4", id) == stored, "a4 %s", id);
    }
    assert_kept(s, 500 - (PAIRS - 1));
    close_store(s);
}
END_TEST

/* A record of agg_recent that ends inside an entry (a bug, or a disk that
 * lied) is reported on read, never read past. */
/* Writes n entries into the closed store's table db, past the store's checks
 * (a bug, or a disk that lied). */
static void put_behind_the_store(const char *db, const MDB_val *keys, const MDB_val *vals, size_t n)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 12), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, 0, 0640), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(mdb_put(txn, dbi, (MDB_val *)&keys[i], (MDB_val *)&vals[i], 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

START_TEST(a_malformed_bucket_record_is_an_error)
{
    kj_store *s = open_store();
    kj_store_close(s);
    uint8_t key[8] = {0}, rec[] = {5, 0, 200, 0, 0, 0, 'K', '0', '0', '0', '1', 'v'};
    MDB_val k = {sizeof key, key}, v = {sizeof rec, rec};
    put_behind_the_store("agg_recent", &k, &v, 1);
    s = reopen(0);
    int n = 0;
    ck_assert_int_eq(kj_store_each_agg(s, count_kv, &n), KJ_ERR_IO);
    ck_assert_int_eq(n, 0);
    kj_store_reader *r;
    ck_assert_int_eq(kj_store_reader_begin(s, &r), KJ_ERR_IO);
    close_store(s);
}
END_TEST

/* A malformed entry of id_runs does not keep the store from opening (the id
 * filter's fill steps over it): an id whose look-up reaches it is refused
 * with an error, as before the filter; ids of other families are stored. */
START_TEST(a_malformed_id_run_is_reported_where_it_is_asked)
{
    kj_store *s = open_store();
    kj_store_close(s);
    /* u1 "ev-" width 1 from 5, with a value of 5 bytes (16 or none are valid);
     * and a key too short to hold a family */
    static const uint8_t bad_key[] = {'u', '1', 0, 'e', 'v', '-', 0, 1, 0, 0, 0, 0, 0, 0, 0, 5};
    static const uint8_t short_key[] = {'u', 0, 1};
    static const uint8_t bad_val[5] = {1, 2, 3, 4, 5};
    const MDB_val keys[] = {{sizeof bad_key, (void *)bad_key},
                            {sizeof short_key, (void *)short_key}};
    const MDB_val vals[] = {{sizeof bad_val, (void *)bad_val}, {0, NULL}};
    put_behind_the_store("id_runs", keys, vals, 2);
    s = reopen(0);
    kj_store_txn *t;
    bool dup;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    kj_event ev = event("u1", "ev-5", 1000);
    ck_assert_int_ne(put_event(t, &ev, &dup), KJ_OK);
    kj_store_abort(t);
    ck_assert(!put_one(s, "u1", "other-5")); /* new */
    close_store(s);
}
END_TEST

START_TEST(backup_is_a_working_copy)
{
    kj_store *s = open_store();
    put_events(s, "u1", 100, 1000);
    char dest[96], msg[256];
    snprintf(dest, sizeof dest, "%s/copy", dir);
    ck_assert_int_eq(kj_store_backup(s, dest, msg, sizeof msg), KJ_OK);
    kj_store_opts o = {dest, 64ULL << 20, false, true};
    kj_store *copy;
    ck_assert_int_eq(kj_store_open(&o, &copy, msg, sizeof msg), KJ_OK);
    int n = 0;
    ck_assert_int_eq(kj_store_each_event(copy, 0, INT64_MAX, NULL, count_event, &n), KJ_OK);
    ck_assert_int_eq(n, 100);
    kj_store_close(copy);
    close_store(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ids_are_unique_per_unit);
    tcase_add_test(tc, ids_known_per_unit);
    tcase_add_test(tc, ids_survive_the_journal_and_its_merge);
    tcase_add_test(tc, an_aborted_transaction_forgets_its_ids);
    tcase_add_loop_test(tc, the_id_filter_never_hides_a_stored_id, 0, 3);
    tcase_add_test(tc, a_big_group_of_counted_ids_skips_the_journal);
    tcase_add_test(tc, a_group_of_many_batches_skips_the_journal);
    tcase_add_test(tc, a_direct_group_stores_the_first_of_two_equal_ids);
    tcase_add_test(tc, a_direct_group_refuses_an_event_it_was_not_told_of);
    tcase_add_test(tc, cursor_resumes_in_time_order);
    tcase_add_test(tc, late_events_take_their_place_in_time);
    tcase_add_test(tc, a_direct_group_of_batches_out_of_time_order_is_stored_whole);
    tcase_add_test(tc, retention_deletes_old_events_in_steps);
    tcase_add_test(tc, aggregate_pass_goes_on_where_it_stopped);
    tcase_add_test(tc, buckets_read_the_same_through_the_journal_and_its_merges);
    tcase_add_test(tc, the_bucket_journal_merges_at_agg_merge_entries);
    tcase_add_test(tc, the_writer_reads_its_own_bucket_writes);
    tcase_add_test(tc, a_bucket_key_too_long_for_lmdb_is_refused);
    tcase_add_test(tc, expiry_and_clearing_reach_journalled_buckets);
    tcase_add_test(tc, schema_1_is_upgraded_and_a_newer_one_refused);
    tcase_add_test(tc, schema_2_ids_move_into_runs_at_the_open);
    tcase_add_test(tc, the_id_set_lets_its_oldest_go);
    tcase_add_test(tc, the_id_set_sorts_as_memcmp_does);
    tcase_add_test(tc, the_id_journal_merges_in_steps);
    tcase_add_test(tc, retention_frees_the_ids_it_deletes_from_a_run);
    tcase_add_test(tc, a_worn_id_filter_is_renewed_with_the_journals_ids);
    tcase_add_test(tc, runs_joined_behind_the_renewals_walk_reach_the_new_filter);
    tcase_add_test(tc, a_malformed_bucket_record_is_an_error);
    tcase_add_test(tc, a_malformed_id_run_is_reported_where_it_is_asked);
    tcase_add_test(tc, backup_is_a_working_copy);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
