/* kinerjad — the records of the aggregate journal and the view over them
 * (store.c).
 *
 * A commit's writes to the agg table go to the end of the agg journal as one
 * record instead of into the table: every small group rewrites the buckets of
 * the scopes it touches, a leaf (and its branch) of the table each, where one
 * appended record is a page or two. When the journal holds agg_merge_bytes
 * or agg_merge_entries writes, the commit that sees it writes each key's last
 * value into the table, in key order, and empties the journal.
 *
 * A record is a run of entries, each [u16 key length][u32 value length][key]
 * [value], lengths little-endian. A view (kj_aggview) gathers the entries of
 * several records, oldest first, and keeps each key's newest value, sorted by
 * key in memcmp order (LMDB's), so that a read looks in the view before the
 * table. Its pointers are borrowed from the records: valid while they are
 * (a read transaction, or the writer's buffer). */
#ifndef KJ_AGGJOURNAL_H
#define KJ_AGGJOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "journal.h"

/* Appends one entry to rec (grown by msgpack's sbuffer, a byte buffer). */
void kj_aggj_append(msgpack_sbuffer *rec, const void *key, size_t klen, const void *val,
                    size_t vlen);

typedef struct kj_aggj_entry {
    const uint8_t *key, *val;
    uint32_t klen, vlen;
    uint32_t order; /* the record's place, then the entry's: newer is larger */
} kj_aggj_entry;

typedef struct kj_aggview {
    kj_aggj_entry *e;
    size_t n, cap;
    uint32_t next_order;
    bool sorted;
} kj_aggview;

/* The entries of a record (those before a fault, when it is malformed). */
size_t kj_aggj_count(const uint8_t *rec, size_t len);

/* Adds a record's entries (newer than those added before); false when the
 * record is malformed (the view keeps the entries before the fault). */
bool kj_aggview_add(kj_aggview *v, const uint8_t *rec, size_t len);
/* Sorts by key and keeps the newest entry of each key. */
void kj_aggview_finish(kj_aggview *v);
/* The entry of key after kj_aggview_finish, or NULL. */
const kj_aggj_entry *kj_aggview_get(const kj_aggview *v, const void *key, size_t klen);
/* The first entry with key >= from (v->n when none). */
size_t kj_aggview_lower_bound(const kj_aggview *v, const void *from, size_t flen);
void kj_aggview_free(kj_aggview *v);

#endif
