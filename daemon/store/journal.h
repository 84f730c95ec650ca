/* kinerjad — the store's journal tables (ids_recent, agg_recent): records
 * appended under a counter, 8 bytes big-endian, in commit order. */
#ifndef KJ_JOURNAL_H
#define KJ_JOURNAL_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define JOURNAL_KEY 8

static inline void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* memcmp order over byte strings of two lengths: LMDB's default key order,
 * which the agg journal's view keeps too. */
static inline int kj_key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* Called for each record, oldest first; a non-zero return stops the walk. */
typedef int (*kj_journal_fn)(void *ctx, uint64_t key, const MDB_val *val);

/* fn over the records of dbi in txn (in a read transaction of its own on env
 * when txn is NULL). A key of another size is MDB_CORRUPTED; fn's non-zero
 * return is returned; 0 at the end. */
int kj_journal_walk(MDB_env *env, MDB_txn *txn, MDB_dbi dbi, kj_journal_fn fn, void *ctx);

#endif
