/* libFuzzer target: the id index as runs (daemon/store/idruns.c) against a
 * model, a set of ids. The input is a list of operations on 256 ids of two
 * units (counted, zero-padded, without digits, longer than a number): a
 * group inserted at once, some of it known to the caller; an id removed.
 * After each, the ids it named are asked; at the end every id is, and the
 * runs are checked to be apart. All in one write transaction, aborted at
 * the end: no disk. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "store/idruns.h"

#define IDS 256
#define KEY_MAX (2 * KJ_ID_MAX + 1)

static MDB_env *env;
static MDB_dbi dbi;
static uint8_t keys[IDS][KEY_MAX];
static size_t lens[IDS];

static void make_ids(void)
{
    static const char *const odd[] = {
        "x", "7", "07", "q-", "q-0", "q-00", "c-12345678901234567890", "c-2345678901234567890"};
    for (int i = 0; i < IDS; i++) {
        int k = i >> 1;
        char id[KJ_ID_MAX + 1];
        if (k < 80)
            snprintf(id, sizeof id, "n%d", k);
        else if (k < 120)
            snprintf(id, sizeof id, "n%03d", k - 80);
        else
            snprintf(id, sizeof id, "%s", odd[k - 120]);
        const char *unit = i & 1 ? "u2" : "u1";
        size_t ul = strlen(unit), il = strlen(id);
        memcpy(keys[i], unit, ul + 1);
        memcpy(keys[i] + ul + 1, id, il);
        lens[i] = ul + 1 + il;
    }
}

static void open_env(void)
{
    MDB_txn *txn;
    make_ids();
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 1) ||
        mdb_env_open(env, fuzz_dir(), MDB_NOSYNC, 0600) || mdb_txn_begin(env, NULL, 0, &txn) ||
        mdb_dbi_open(txn, "id_runs", MDB_CREATE, &dbi) || mdb_txn_commit(txn))
        abort();
}

static size_t family(int id, uint8_t *fam, uint64_t *num)
{
    return kj_idruns_family(fam, keys[id], lens[id], num);
}

static void ask(MDB_cursor *cur, int id, const bool *stored)
{
    uint8_t fam[KJ_IDRUNS_FAM_MAX];
    uint64_t num;
    size_t flen = family(id, fam, &num);
    bool has;
    if (kj_idruns_has(cur, fam, flen, num, &has) || has != stored[id]) __builtin_trap();
}

/* Every id asked; the runs of each family apart. */
static void check(MDB_cursor *cur, const bool *stored)
{
    for (int id = 0; id < IDS; id++)
        ask(cur, id, stored);
    MDB_val k, v;
    uint8_t prev[KJ_IDRUNS_KEY_MAX];
    size_t plen = 0;
    uint64_t plast = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *key = k.mv_data, *val = v.mv_data;
        uint64_t first = 0, count = v.mv_size ? 0 : 1, stride = 0;
        if (k.mv_size < 10 || k.mv_size > sizeof prev || (v.mv_size && v.mv_size != 16))
            __builtin_trap();
        for (int b = 0; b < 8; b++) {
            first = first << 8 | key[k.mv_size - 8 + b];
            if (v.mv_size) count = count << 8 | val[b], stride = stride << 8 | val[8 + b];
        }
        if (!count || (count > 1 && !stride)) __builtin_trap();
        if (plen == k.mv_size && !memcmp(prev, key, plen - 8) && first <= plast) __builtin_trap();
        memcpy(prev, key, plen = k.mv_size);
        plast = first + (count - 1) * stride;
    }
}

/* Every run that an insert writes by joining runs is told whole: a count,
 * and a stride when it has more than one number. */
static void joined_run(void *ctx, const kj_idruns_run *r)
{
    (void)ctx;
    if (r->count == 0 || (r->count > 1 && r->stride == 0)) __builtin_trap();
}

static const kj_idruns_hook hook = {joined_run, NULL};

/* n ids of the input into the index in one call; the first id is known to
 * the caller when `known` (each copy of it). */
static void insert(MDB_cursor *cur, const uint8_t *pick, size_t n, bool known, bool *stored)
{
    uint8_t fams[64][KJ_IDRUNS_FAM_MAX];
    kj_idruns_ref refs[64];
    bool dup[64], want[64], seen[IDS] = {false};
    for (size_t i = 0; i < n; i++) {
        refs[i] = (kj_idruns_ref){fams[i], 0, (uint32_t)i, 0};
        refs[i].flen = (uint32_t)family(pick[i], fams[i], &refs[i].num);
        dup[i] = known && pick[i] == pick[0];
        want[i] = dup[i] || stored[pick[i]] || seen[pick[i]];
        seen[pick[i]] = true;
    }
    if (kj_idruns_insert(cur, refs, n, dup, &hook)) __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        if (dup[i] != want[i]) __builtin_trap();
        stored[pick[i]] |= !dup[i];
    }
    for (size_t i = 0; i < n; i++) /* and its neighbours, which a split or a join rewrote */
        for (int d = -2; d <= 2; d++)
            ask(cur, (pick[i] + d + IDS) % IDS, stored);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!env) open_env();
    MDB_txn *txn;
    MDB_cursor *cur;
    if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_drop(txn, dbi, 0) ||
        mdb_cursor_open(txn, dbi, &cur))
        abort();
    bool stored[IDS] = {false};
    while (size > 0) {
        uint8_t op = *data++;
        size--;
        if (op & 1) { /* a group: n ids, the next n bytes */
            size_t n = (size_t)(op >> 2) + 1;
            if (n > size) n = size;
            if (n) insert(cur, data, n, op & 2, stored);
            data += n, size -= n;
        } else if (size > 0) { /* a removal */
            uint8_t fam[KJ_IDRUNS_FAM_MAX];
            uint64_t num;
            size_t flen = family(*data, fam, &num);
            if (kj_idruns_del(cur, fam, flen, num)) __builtin_trap();
            stored[*data] = false;
            for (int d = -2; d <= 2; d++)
                ask(cur, (*data + d + IDS) % IDS, stored);
            data++, size--;
        }
    }
    check(cur, stored);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return 0;
}
