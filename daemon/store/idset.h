/* kinerjad — the ids of the events stored since the last merge (store.c).
 *
 * The store keeps a new event's id here and in an appended journal table
 * instead of inserting it into the id index at once: an insert at a random
 * place rewrites a whole B-tree leaf and its branch on every commit, while a
 * merge of thousands of sorted ids shares their leaves. The set answers the
 * duplicate checks for the ids not merged yet.
 *
 * Keys are byte strings (the id index's key); each carries a 16-byte value
 * (the raw-log key) for the merge. Keys added since the last kj_idset_commit
 * are pending: kj_idset_rollback drops them when their transaction fails.
 * One thread (the writer) changes the set and asks kj_idset_has; others ask
 * kj_idset_has_committed and kj_idset_count (a mutex orders them with the
 * writer's changes). */
#ifndef KJ_IDSET_H
#define KJ_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KJ_IDSET_VAL 16

typedef struct kj_idset kj_idset;

kj_idset *kj_idset_new(void);
void kj_idset_free(kj_idset *set); /* NULL is a no-op */

/* Whether key is in the set, pending or committed: the writer's own question. */
bool kj_idset_has(const kj_idset *set, const void *key, size_t len);
/* Whether key is in the set and committed; any thread. */
bool kj_idset_has_committed(kj_idset *set, const void *key, size_t len);
/* Adds a key that is not in the set (the caller asked kj_idset_has), pending. */
void kj_idset_add(kj_idset *set, const void *key, size_t len, const uint8_t val[KJ_IDSET_VAL]);
void kj_idset_commit(kj_idset *set);
void kj_idset_rollback(kj_idset *set);
/* Keys, pending ones included. */
size_t kj_idset_count(kj_idset *set);
/* Committed keys: the oldest entries, kj_idset_count's first ones. */
size_t kj_idset_committed(kj_idset *set);
void kj_idset_clear(kj_idset *set);
/* Removes the k oldest entries (at most the committed ones): the ids that a
 * step of a merge has put into the id index. It costs about what it drops. */
void kj_idset_drop_front(kj_idset *set, size_t k);

/* One entry, borrowed: valid until the set changes. */
typedef struct kj_idset_entry {
    const uint8_t *key, *val;
    size_t len;
} kj_idset_entry;
/* The n oldest entries (all: n at least kj_idset_count), pending ones too,
 * sorted by key in memcmp order (LMDB's), into *out (the caller frees it);
 * returns how many. */
size_t kj_idset_sorted(const kj_idset *set, size_t n, kj_idset_entry **out);
/* The same with their keys and values copied into *data: they stay valid as
 * the set changes. The caller frees both. */
void kj_idset_sorted_copy(const kj_idset *set, size_t n, kj_idset_entry **out, uint8_t **data);

#endif
