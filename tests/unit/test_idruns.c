/* Unit tests of the id index as runs (daemon/store/idruns.h), against a
 * model: a set of id keys. Random groups of ids (counted, strided,
 * interleaved, repeated, zero-padded, without digits, longer than a number)
 * are inserted and removed; every id of the universe is then asked, and the
 * table's runs are checked to be apart (no run's span reaches into the
 * next one's). How few entries a group of counted ids makes is checked on
 * its own: interleaved inserts and removals may leave two runs that one
 * could hold, which costs room, not answers. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "store/idruns.h"

#define UNIVERSE 600
#define KEY_MAX (2 * KJ_ID_MAX + 1)

static char dir[64];
static MDB_env *env;
static MDB_dbi dbi;

/* The ids the tests draw from, as id keys (unit '\0' id), and the model. */
static uint8_t keys[UNIVERSE][KEY_MAX];
static size_t lens[UNIVERSE];
static bool stored[UNIVERSE];
/* Their families and numbers (kj_idruns_family). */
static uint8_t id_fams[UNIVERSE][KJ_IDRUNS_FAM_MAX];
static size_t flens[UNIVERSE];
static uint64_t nums[UNIVERSE];

static size_t id_key(uint8_t *k, const char *unit, const char *id)
{
    size_t ul = strlen(unit), il = strlen(id);
    memcpy(k, unit, ul + 1);
    memcpy(k + ul + 1, id, il);
    return ul + 1 + il;
}

/* Two units; in each, counted ids of two stems, plain and zero-padded
 * (width 4), and a few ids without digits or with more than 18. */
static void make_universe(void)
{
    size_t n = 0;
    for (int u = 0; u < 2; u++) {
        const char *unit = u ? "u2" : "u1";
        char id[KJ_ID_MAX + 1];
        for (int v = 0; v < 140; v++) {
            snprintf(id, sizeof id, "a-%d", v);
            lens[n] = id_key(keys[n], unit, id), n++;
            snprintf(id, sizeof id, "a-%04d", v);
            lens[n] = id_key(keys[n], unit, id), n++;
        }
        for (int v = 0; v < 10; v++) {
            snprintf(id, sizeof id, "b%d", v);
            lens[n] = id_key(keys[n], unit, id), n++;
        }
        const char *odd[] = {"x",
                             "yz",
                             "c-1234567890123456789012",
                             "c-234567890123456789012",
                             "7",
                             "07",
                             "q-",
                             "q-0",
                             "q-00",
                             "q-1"};
        for (size_t i = 0; i < sizeof odd / sizeof *odd; i++)
            lens[n] = id_key(keys[n], unit, odd[i]), n++;
    }
    ck_assert_uint_eq(n, UNIVERSE);
    for (size_t i = 0; i < n; i++)
        flens[i] = kj_idruns_family(id_fams[i], keys[i], lens[i], &nums[i]);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kj-test-idruns-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 2), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, MDB_NOSYNC, 0640), 0);
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "id_runs", MDB_CREATE, &dbi), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    memset(stored, 0, sizeof stored);
    make_universe();
}

static void teardown(void)
{
    char cmd[128];
    mdb_env_close(env);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static MDB_cursor *begin(MDB_txn **txn)
{
    MDB_cursor *cur;
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, txn), 0);
    ck_assert_int_eq(mdb_cursor_open(*txn, dbi, &cur), 0);
    return cur;
}

static void commit(MDB_txn *txn, MDB_cursor *cur)
{
    mdb_cursor_close(cur);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

/* Inserts the universe's ids pick[0..n) in one call; `known` of them are
 * marked known by the caller (as the id journal's are). Checks each id's
 * fate against the model, then adds the new ones to it. */
static void insert(const int *pick, size_t n, const bool *known)
{
    uint8_t fams[n][KJ_IDRUNS_FAM_MAX];
    kj_idruns_ref refs[n];
    bool dup[n], want[n], seen[UNIVERSE] = {false};
    for (size_t i = 0; i < n; i++) {
        refs[i].fam = fams[i];
        refs[i].flen =
            (uint32_t)kj_idruns_family(fams[i], keys[pick[i]], lens[pick[i]], &refs[i].num);
        refs[i].i = (uint32_t)i;
        dup[i] = known[i];
        want[i] = known[i] || stored[pick[i]] || seen[pick[i]];
        seen[pick[i]] = true;
    }
    MDB_txn *txn;
    MDB_cursor *cur = begin(&txn);
    ck_assert_int_eq(kj_idruns_insert(cur, refs, n, dup, NULL), 0);
    commit(txn, cur);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(dup[i] == want[i], "id %.*s: dup %d, want %d", (int)lens[pick[i]],
                      keys[pick[i]], dup[i], want[i]);
        if (!dup[i]) stored[pick[i]] = true;
    }
}

static void del(int id)
{
    uint8_t fam[KJ_IDRUNS_FAM_MAX];
    uint64_t num;
    size_t flen = kj_idruns_family(fam, keys[id], lens[id], &num);
    MDB_txn *txn;
    MDB_cursor *cur = begin(&txn);
    ck_assert_int_eq(kj_idruns_del(cur, fam, flen, num), 0);
    commit(txn, cur);
    stored[id] = false;
}

/* kj_idruns_each's runs: every member a stored id of the universe. */
static void count_members(void *ctx, const kj_idruns_run *r)
{
    size_t *members = ctx;
    for (uint64_t m = 0; m < r->count; m++) {
        uint64_t want = r->first + m * r->stride;
        int found = -1;
        for (int id = 0; id < UNIVERSE && found < 0; id++)
            if (nums[id] == want && flens[id] == r->flen && !memcmp(id_fams[id], r->fam, r->flen))
                found = id;
        ck_assert_msg(found >= 0 && stored[found], "run member %" PRIu64 " is not stored", want);
        ++*members;
    }
}

/* Every id of the universe asked; returns the table's entries after
 * checking that its runs are apart and that kj_idruns_each, and
 * kj_idruns_walk in steps, walk them all. */
static size_t check_all(void)
{
    MDB_txn *txn;
    MDB_cursor *cur = begin(&txn);
    for (int id = 0; id < UNIVERSE; id++) {
        uint8_t fam[KJ_IDRUNS_FAM_MAX];
        uint64_t num;
        size_t flen = kj_idruns_family(fam, keys[id], lens[id], &num);
        bool has;
        ck_assert_int_eq(kj_idruns_has(cur, fam, flen, num, &has), 0);
        ck_assert_msg(has == stored[id], "id %.*s: has %d, stored %d", (int)lens[id], keys[id], has,
                      stored[id]);
    }
    MDB_val k, v, pk = {0, NULL};
    uint64_t plast = 0;
    size_t entries = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), entries++) {
        ck_assert(v.mv_size == 0 || v.mv_size == 16); /* one id, or count and stride */
        const uint8_t *val = v.mv_data, *key = k.mv_data;
        uint64_t first = 0, count = v.mv_size ? 0 : 1, stride = 0;
        for (int b = 0; b < 8; b++) {
            first = first << 8 | key[k.mv_size - 8 + b];
            if (v.mv_size) count = count << 8 | val[b], stride = stride << 8 | val[8 + b];
        }
        ck_assert(count == 1 || (count > 1 && stride > 0));
        if (pk.mv_size == k.mv_size && !memcmp(pk.mv_data, k.mv_data, k.mv_size - 8))
            ck_assert_uint_gt(first, plast);
        pk = k;
        plast = first + (count - 1) * stride;
    }
    size_t members = 0, want = 0;
    ck_assert_int_eq(kj_idruns_each(cur, count_members, &members), 0);
    for (int id = 0; id < UNIVERSE; id++)
        want += stored[id];
    ck_assert_uint_eq(members, want);
    size_t stepped = 0; /* the same walk in steps of 1..5 runs */
    kj_idruns_pos pos = {.len = 0};
    for (size_t max = 1; !pos.done; max = max % 5 + 1)
        ck_assert_int_eq(kj_idruns_walk(cur, &pos, max, count_members, &stepped), 0);
    ck_assert_uint_eq(stepped, want);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return entries;
}

START_TEST(a_counted_group_is_one_run)
{
    int pick[140];
    bool known[140] = {false};
    for (int v = 0; v < 140; v++)
        pick[v] = 2 * (139 - v); /* u1's a-0 .. a-139, given backwards */
    insert(pick, 140, known);
    /* a-0..9, a-10..99, a-100..139: three widths, three runs */
    ck_assert_uint_eq(check_all(), 3);
    insert(pick, 140, known); /* sent again: all duplicates */
    ck_assert_uint_eq(check_all(), 3);
}
END_TEST

/* Every fifth number (a client posting for five units in turn): one run of
 * stride 5. The numbers between are new ids, which split it; removals from
 * its middle, front and end. */
START_TEST(a_strided_group_is_one_run_and_its_gaps_are_new)
{
    int pick[14];
    bool known[14] = {false};
    for (int j = 0; j < 7; j++)
        pick[j] = 2 * (100 + 5 * j) + 1; /* a-0100, a-0105, ... a-0130: width 4 */
    insert(pick, 7, known);
    ck_assert_uint_eq(check_all(), 1);
    for (int j = 0; j < 7; j++)
        pick[j] = 2 * (101 + 5 * j) + 1; /* a-0101 ... a-0131: inside the run's span */
    insert(pick, 7, known);
    check_all();
    del(2 * 110 + 1); /* a-0110 goes: the run it was in splits */
    check_all();
    del(2 * 100 + 1); /* the first of a run */
    del(2 * 131 + 1); /* the last */
    check_all();
}
END_TEST

/* Random groups and removals against the model. */
START_TEST(runs_agree_with_a_set_of_ids)
{
    srand(12345 + (unsigned)_i);
    for (int round = 0; round < 300; round++) {
        int pick[64];
        bool known[64];
        size_t n = 1 + (size_t)(rand() % 64);
        int base = rand() % UNIVERSE, step = 1 + rand() % 12, mode = rand() % 4;
        for (size_t i = 0; i < n; i++) {
            /* counted (and strided) from a base, or anywhere */
            pick[i] = mode ? (base + (int)i * step) % UNIVERSE : rand() % UNIVERSE;
            known[i] = false;
        }
        if (rand() % 4 == 0) { /* some the caller knows: every copy of one id */
            int k = pick[rand() % (int)n];
            for (size_t i = 0; i < n; i++)
                known[i] = pick[i] == k;
        }
        insert(pick, n, known);
        for (int d = rand() % 6; d > 0; d--)
            del(rand() % UNIVERSE);
        check_all();
    }
}
END_TEST

static Suite *idruns_suite(void)
{
    Suite *s = suite_create("idruns");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_counted_group_is_one_run);
    tcase_add_test(tc, a_strided_group_is_one_run_and_its_gaps_are_new);
    tcase_add_loop_test(tc, runs_agree_with_a_set_of_ids, 0, 8);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(idruns_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
