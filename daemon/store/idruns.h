/* kinerjad — the id index as runs of counted ids (store.h's id_runs table).
 *
 * Clients number their events: "loket3-000123", "w1-2-57". An index with an
 * entry per id inserts a key per event, splits a leaf every hundred or so,
 * and holds as many keys as the raw log (most of a big group's writer time
 * went there). Here an id is split into a stem and the number its trailing
 * digits spell, and one entry holds a run of numbers a stride apart:
 *
 *   unit '\0' stem '\0' width (1) first (8, BE)  ->  count (8, BE) stride (8, BE)
 *
 * (a run of one id, as random ids make, has no value: its entry is no
 * bigger than the id's own key and raw key were in an index by id).
 * The stride is 1 for a client that posts its own unit's events; a client
 * that posts for ten units in turn gives each unit every tenth number, and
 * each unit a run of stride 10. width is the count of trailing digits (up
 * to 18; more stay in the stem), so "7" and "07" are two ids, as they must
 * be; an id without trailing digits is width 0, number 0, an entry of its
 * own. unit '\0' stem '\0' width is the run's family: its runs sort
 * together, by first number, and never interleave (each run's span, first
 * to last, holds no number of another run), so the run before a number is
 * the only one that may hold it. A client counting up adds to the end of
 * its run: a group of 1,000 such ids is one look-up and one value written
 * in place.
 *
 * The functions take a cursor on the table inside the caller's transaction
 * and return LMDB's codes. */
#ifndef KJ_IDRUNS_H
#define KJ_IDRUNS_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/event.h"

/* unit '\0' stem '\0' width: at most the id key and two bytes more */
#define KJ_IDRUNS_FAM_MAX (2 * KJ_ID_MAX + 3)
#define KJ_IDRUNS_KEY_MAX (KJ_IDRUNS_FAM_MAX + 8)

/* The family of an id key (unit '\0' id) into fam (KJ_IDRUNS_FAM_MAX bytes),
 * and its number; returns the family's length. */
size_t kj_idruns_family(uint8_t *fam, const uint8_t *idk, size_t idlen, uint64_t *num);

/* Whether fam's number num is stored. */
int kj_idruns_has(MDB_cursor *cur, const uint8_t *fam, size_t flen, uint64_t num, bool *has);

/* One id of a group to store, for kj_idruns_insert: its family (in the
 * caller's memory; the insert may point it at an equal family of another
 * ref), number, and index in the caller's group. */
typedef struct kj_idruns_ref {
    const uint8_t *fam;
    uint32_t flen, i;
    uint64_t num;
} kj_idruns_ref;

/* One run of the table: first, first + stride, ... (count numbers; stride 0
 * when count is 1) of the family fam (flen bytes, borrowed for the call).
 * count 0: the entry's value is malformed, its numbers unknown (a look-up
 * there reports MDB_CORRUPTED). */
typedef struct kj_idruns_run {
    const uint8_t *fam;
    size_t flen;
    uint64_t first, count, stride;
} kj_idruns_run;

typedef void (*kj_idruns_fn)(void *ctx, const kj_idruns_run *run);

/* Told of every run that an insert writes by joining runs (whose members
 * may come from a greater key than the run's: a walk in steps may have
 * passed the run's key and not reached theirs). NULL, or fn NULL: nobody. */
typedef struct kj_idruns_hook {
    kj_idruns_fn fn;
    void *ctx;
} kj_idruns_hook;

/* Stores the ids of refs[0..n), in family and number order (it sorts refs):
 * numbers a stride apart go in as one run, joined to the runs they
 * continue. dup is indexed by refs[].i: an id whose dup is true on entry
 * (the caller knows it) is not stored; on return, dup is also true for an
 * id stored before, and for the second of two equal ids (the one with the
 * greater index). */
int kj_idruns_insert(MDB_cursor *cur, kj_idruns_ref *refs, size_t n, bool *dup,
                     const kj_idruns_hook *hook);

/* Removes fam's number num, when stored: the run it is in shrinks, or
 * splits in two. */
int kj_idruns_del(MDB_cursor *cur, const uint8_t *fam, size_t flen, uint64_t num);

/* Calls fn for every run, in key order; LMDB's code when the walk fails. */
int kj_idruns_each(MDB_cursor *cur, kj_idruns_fn fn, void *ctx);

/* Where a walk in steps goes on: the key of the next run to visit (len 0
 * and done false: the first). Runs put or taken away between the steps are
 * met or not, as their keys fall; the others are met once. A run that an
 * insert joins to one whose key the walk has passed is not met: the
 * insert's hook tells of it. */
typedef struct kj_idruns_pos {
    uint8_t key[KJ_IDRUNS_KEY_MAX];
    size_t len;
    bool done;
} kj_idruns_pos;

/* Calls fn for the next max runs from pos on (cur may be in another
 * transaction than the last step's) and moves pos past them. */
int kj_idruns_walk(MDB_cursor *cur, kj_idruns_pos *pos, size_t max, kj_idruns_fn fn, void *ctx);

#endif
