/* kinerjad — asking for an event's cache lines ahead of the writer's passes.
 *
 * The writer thread reads events that the service thread wrote, so every
 * first read of one would wait for memory. The loops over a group (admission,
 * the id claim, storing and applying) ask for an event a few places ahead of
 * the one they work on (README, "The writer asks for events ahead"). */
#ifndef KJ_PREFETCH_H
#define KJ_PREFETCH_H

#include <stddef.h>

#include "../proto/event.h"

/* What storing an event and the metrics engine read: its type, time,
 * identifiers and numbers (the ticket, assessment and feedback fields after
 * them are read for those types only). */
#define KJ_EVENT_HOT_BYTES offsetof(kj_event, ticket)
/* Its type, time, id and unit: what admitting it and claiming its id read. */
#define KJ_EVENT_ID_BYTES offsetof(kj_event, employee)

/* Asks for the cache lines of ev's first len bytes. */
static inline void kj_event_prefetch(const kj_event *ev, size_t len)
{
    for (size_t off = 0; off < len; off += 64)
        __builtin_prefetch((const char *)ev + off);
}

#endif
