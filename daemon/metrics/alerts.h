/* kinerjad — the life of an alert (SPEC §16): ids, acknowledgements, and the
 * time-driven part of a status (hold_ms hysteresis, escalate_after_ms).
 *
 * Part of the metrics engine: it works on the engine's units (model.h),
 * below eval.c: a due hold re-judges its slot through m->hooks. It is called
 * by metrics.c, metrics_store.c and eval.c on the writer thread, which owns
 * the engine; the writer reaches it through kj_metrics_admit and the
 * kj_metrics_* calls of metrics.h. Not thread-safe. */
#ifndef KJ_ALERTS_H
#define KJ_ALERTS_H

#include "model.h"

/* Gives a its id, appends it to u's alerts of today and makes it pending (to
 * be stored, then pushed). Inside a group the append is undone by rollback. */
void kj_life_raise(kj_metrics *m, kj_unit *u, kj_alert *a);

/* Applies an ack event inside a group: the first ack of an alert marks it
 * (acked_by, acked_at, note) and makes a KJ_ALERT_ACKED record pending; a
 * later ack of the same alert changes nothing. An unknown id was refused by
 * kj_metrics_admit before the event was stored. */
void kj_life_ack(kj_metrics *m, kj_unit *u, const kj_event *ev);

/* Restores one stored record (taking a->note): the latest record of an id
 * replaces the earlier one. */
void kj_life_load(kj_metrics *m, kj_unit *u, kj_alert *a);

/* Undoes the ack recorded at u->alerts[i] (rollback). */
void kj_life_unack(kj_unit *u, size_t i);

/* Whether the status of slot i (mb NULL: the unit's own) may become `to`
 * now, from `current`: at once without a hold_ms, for the first judgement
 * (STATUS_UNSET) and when nothing changes; otherwise only once `to` has been
 * seen at every evaluation for hold_ms (the wait is kept in the slot's
 * kj_hold, undone by rollback, and due at the engine's next deadline). */
bool kj_life_settled(kj_metrics *m, kj_unit *u, member *mb, size_t i, uint8_t current,
                     kj_status to);

/* Outside a group, after the clock moved: re-judges the slots whose hold is
 * due and escalates the bad alerts left unacknowledged for escalate_after_ms
 * (a KJ_ALERT_ESCALATED record is made pending). Cheap while nothing is due. */
void kj_life_tick(kj_metrics *m);

/* Forgets u's held changes (a reload, or the unit freed). */
void kj_life_drop_holds(kj_unit *u);

/* Frees what the alerts a[0..n) own (their notes). */
void kj_life_free_notes(kj_alert *a, size_t n);

#endif
