/* kinerjad — presence of employees and serving state of counters (SPEC §4),
 * independent of the order in which their events arrive. Private to the
 * metrics engine: presence.c uses only the model (model.h); metrics_queue.c
 * reads these types, metrics_pack.c and metrics_store.c pack and store them,
 * metrics.c applies, commits and rolls back.
 *
 * An employee's presence is the fold, in event-time order, of its presence
 * events; a counter's serving state the fold of its evidence: SET (a
 * served/transferred service there, a presence `serving` there) and LEFT
 * (that employee's presence says it is no longer serving there). Each scope
 * keeps the newest events of that fold by (ts, arrival), and the fold of
 * everything older (`base`), so that a late event is placed where it belongs
 * and the state is folded again: the result equals a replay in ts order (what
 * `kinerjad --rebuild` does), whatever the order of arrival.
 *
 * The bound: KJ_PRESENCE_KEEP events per employee, KJ_SERVING_KEEP per
 * counter. An event older than the oldest event kept (older than `base`)
 * cannot be placed any more and is ignored for presence / serving (it still
 * counts in the metrics), as every late event was before. 32 presence changes
 * are several working days of one employee; 64 pieces of evidence are two or
 * three busy hours of one counter: a device offline for that long still has
 * its backlog placed exactly. Memory: 40 bytes per kept presence event,
 * 32 per kept serving event, allocated as used (~1.3 KiB for an employee with
 * a full history). */
#ifndef KJ_PRESENCE_H
#define KJ_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/err.h"
#include "../proto/event.h"

#define KJ_PRESENCE_KEEP 32
#define KJ_SERVING_KEEP 64

struct kj_metrics;
struct kj_scope;
struct kj_unit;

typedef struct pres_event {
    int64_t ts;
    uint64_t seq;             /* arrival order: breaks ties of equal ts */
    struct kj_unit *unit;     /* the event's unit */
    struct kj_scope *counter; /* the counter scope it names, or NULL */
    int8_t state;             /* kj_presence_state, or -1 for none */
} pres_event;

typedef struct pres_state {
    pres_event last; /* the latest event folded (state -1: none yet) */
    int64_t since;   /* when its state (state, unit, counter) began */
} pres_state;

typedef struct presence {
    pres_state base;  /* the fold of the events dropped from hist */
    pres_state cur;   /* base + hist: what is shown */
    pres_event *hist; /* oldest first by (ts, seq); at most KJ_PRESENCE_KEEP */
    uint32_t n, cap;
} presence;

enum { SERV_SET = 0, SERV_LEFT = 1 };

typedef struct serv_event {
    int64_t ts;
    uint64_t seq;
    struct kj_scope *employee;
    uint8_t kind; /* SERV_SET, SERV_LEFT */
} serv_event;

typedef struct serv_state {
    struct kj_scope *employee; /* NULL: nobody */
    int64_t since;
    int64_t ts; /* the newest evidence folded (INT64_MIN: none) */
} serv_state;

typedef struct serving {
    serv_state base, cur;
    serv_event *hist; /* oldest first by (ts, seq); at most KJ_SERVING_KEEP */
    uint32_t n;
    /* hist lies in buf (cap pieces): the oldest pieces leave by moving hist
     * forward, and the rest moves back to buf's start only when the end is
     * reached, not at every service event once the history is full */
    serv_event *buf;
    uint32_t cap;
} serving;

/* A presence event of employee e in unit u, at counter c (or NULL). Inside a
 * group: the scopes it changes are saved for rollback and marked dirty. */
void kj_presence_apply(struct kj_metrics *m, struct kj_unit *u, struct kj_scope *e,
                       struct kj_scope *c, const kj_event *ev);

/* A served or transferred service of employee e at counter c at ts. */
void kj_presence_note_service(struct kj_metrics *m, struct kj_scope *c, struct kj_scope *e,
                              int64_t ts);

/* Groups: forget the saved state (commit) or put it back (rollback). */
void kj_presence_commit(struct kj_scope *sc);
void kj_presence_rollback(struct kj_scope *sc);
/* Free a scope's presence, serving and saved state. */
void kj_presence_free(struct kj_scope *sc);

/* The stored value of an employee's presence ('P' key) or a counter's
 * serving state ('S' key) in the engine's encode buffer; 0 when the scope has
 * none. *out is valid until the next use of that buffer. */
size_t kj_presence_value(struct kj_metrics *m, const struct kj_scope *sc, const uint8_t **out);

/* Restore a stored value (version 1, the state alone, or 2, with history)
 * into sc, an employee or a counter; outside groups, at load. KJ_ERR_DECODE
 * (sc unchanged) when malformed. */
kj_err kj_presence_load(struct kj_metrics *m, struct kj_scope *sc, const uint8_t *val, size_t vlen);

#endif
