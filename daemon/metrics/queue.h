/* kinerjad — one unit's queue of today (SPEC §13): the tickets that citizens
 * took, in event-time order, whatever the order their events arrive in.
 *
 * Owned by the metrics engine on the writer thread (metrics_queue.c holds one
 * per unit that has seen a ticket); pure: no LMDB, no sockets, no clock. The
 * caller gives the time and says when a new day starts.
 *
 * A ticket's state is its latest event by (ts, step), where at equal ts a
 * closing step wins over `issued` (issued < called < served < cancelled). It
 * is *waiting* while that latest event is `issued`. So a `called` that
 * arrives before its `issued` closes it, a late `issued` older than the
 * `called` changes nothing, and a duplicate changes nothing: the state is the
 * same for every order of the same events (what `kinerjad --rebuild`, which
 * replays in ts order, relies on).
 *
 * The bound: at most max_tickets tickets (open or closed) are kept. A new
 * ticket beyond it first pushes out the oldest closed ticket (by its first
 * event: its counts are kept, only the ticket is forgotten), else the ticket
 * waiting longest *expires*: it stops counting as waiting and counts in
 * expired_today. A later event for a forgotten ticket starts a new one.
 * Memory: ~100 bytes per ticket kept, ~500 KiB at the default 5000.
 *
 * Service kinds: at most KJ_QUEUE_KINDS per unit and day; tickets of further
 * kinds count in the unit's totals only. A ticket's kind is the one its
 * `issued` names, else the first that one of its events names. */
#ifndef KJ_QUEUE_H
#define KJ_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/err.h"
#include "../proto/event.h"

#define KJ_QUEUE_KINDS 32
#define KJ_QUEUE_ALL (-1)       /* kj_queue_stats: every kind */
#define KJ_QUEUE_RECORD_MAX 112 /* bytes of one encoded ticket */

typedef struct kj_queue kj_queue;

/* What an event does to its ticket. */
typedef enum kj_queue_step {
    KJ_QSTEP_ISSUED = 0,
    KJ_QSTEP_CALLED = 1,
    KJ_QSTEP_SERVED = 2, /* a service that names the ticket */
    KJ_QSTEP_CANCELLED = 3,
} kj_queue_step;

typedef struct kj_queue_stats {
    uint32_t waiting;
    int64_t oldest_issued_ts; /* valid when waiting > 0 */
    uint32_t issued_today, called_today, cancelled_today, expired_today;
    uint32_t arrivals_last_hour; /* issued in (now - 1 h, now] */
} kj_queue_stats;

kj_queue *kj_queue_new(void);
void kj_queue_free(kj_queue *q);
/* A deep copy (the state before a group, for rollback). */
kj_queue *kj_queue_copy(const kj_queue *q);

/* Fold one event of ticket `ticket` (an identifier) at ts, with its service
 * kind ("" when none). Returns true when the queue changed; *expired is set to
 * the id of a ticket that expired by the bound to make room ("" when none),
 * for the caller's log line. */
bool kj_queue_apply(kj_queue *q, const char *ticket, const char *service, kj_queue_step step,
                    int64_t ts, size_t max_tickets, char expired[KJ_ID_MAX + 1]);

/* A new day: every ticket is forgotten (those still waiting expire).
 * Returns how many were waiting. */
uint32_t kj_queue_new_day(kj_queue *q);

/* The state at now, of one kind (an index below kj_queue_kinds) or of all
 * (KJ_QUEUE_ALL). */
void kj_queue_stats_of(const kj_queue *q, int kind, int64_t now, kj_queue_stats *out);
size_t kj_queue_kinds(const kj_queue *q);
const char *kj_queue_kind_name(const kj_queue *q, size_t kind);
uint32_t kj_queue_waiting(const kj_queue *q);

/* --- persistence: one record per ticket --- */

/* Calls put(ctx, ticket, record, len) for each ticket changed since the last
 * kj_queue_clean (also those forgotten meanwhile), stopping at the first
 * non-zero return, which is returned. */
typedef kj_err (*kj_queue_put_fn)(void *ctx, const char *ticket, const uint8_t *rec, size_t len);
kj_err kj_queue_each_dirty(kj_queue *q, kj_queue_put_fn put, void *ctx);
/* The changes are stored: forget the marks. */
void kj_queue_clean(kj_queue *q);

/* Restore one stored record (any order) under the bound. KJ_ERR_DECODE
 * (queue unchanged) when malformed. */
kj_err kj_queue_load(kj_queue *q, const char *ticket, const uint8_t *rec, size_t len,
                     size_t max_tickets);

#endif
