/* kinerjad — a filter in front of the id index (store.c's duplicate check).
 *
 * Nearly every id a client sends is new, and proving that in id_runs is a
 * B-tree descent (a range look-up and a step back) through pages that a
 * random id finds cold: with UUIDs it was a quarter of the writer's time.
 * This Bloom filter holds every id that id_runs holds (and may hold more):
 * when it says "no", the id is new without a look-up; "maybe" goes to the
 * index as before. It never answers "no" for a stored id, so a full filter
 * costs the look-up it would have saved and nothing else.
 *
 * An id is its family and number (idruns.h). A run of many counted ids found
 * at the open goes in as its family alone ("any number of it, maybe"), not
 * member by member. Ids are never taken out (retention's deletions leave
 * them): the store fills a new filter from id_runs at each open, and in
 * steps once retention has emptied the filter (store_filter.c).
 *
 * Blocked: the four bits of an id lie in one 64-byte block, one cache miss a
 * question. Writer thread only. */
#ifndef KJ_IDFILTER_H
#define KJ_IDFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kj_idfilter kj_idfilter;

/* A filter of bytes (rounded down to whole 64-byte blocks); NULL when that
 * is less than one block: no filter, every question goes to the index. */
kj_idfilter *kj_idfilter_new(size_t bytes);
void kj_idfilter_free(kj_idfilter *f); /* NULL is a no-op */

/* One id, by its family (fam, flen bytes) and number. */
void kj_idfilter_add(kj_idfilter *f, const uint8_t *fam, size_t flen, uint64_t num);
/* Every number of a family at once. */
void kj_idfilter_add_family(kj_idfilter *f, const uint8_t *fam, size_t flen);
/* False when the id was never added, neither alone nor by its family. */
bool kj_idfilter_may_have(const kj_idfilter *f, const uint8_t *fam, size_t flen, uint64_t num);

/* Ids and families added since kj_idfilter_new (or the last take); any
 * thread, for /metrics. */
uint64_t kj_idfilter_added(const kj_idfilter *f);
/* The ids it is made for, at 10 bits an id (1.3 % of new ids told "maybe"):
 * past that, "maybe" comes more and more often. */
uint64_t kj_idfilter_capacity(const kj_idfilter *f);

/* f's bits and count become from's (made with f's size), and from is freed:
 * f stays the same object for the threads that ask for its count. */
void kj_idfilter_take(kj_idfilter *f, kj_idfilter *from);

#endif
