/* kinerjad — members' feedback (SPEC §16): the last KJ_FEEDBACK_KEEP feedback
 * events of each member of a unit within KJ_FEEDBACK_DAYS, newest first, in
 * the member's object of snapshots and updates.
 *
 * Part of the metrics engine (writer thread, model.h): metrics.c notes
 * each feedback event of a group, metrics_store.c stores the group's entries
 * as records of the alerts log (the unit's supervision log: alerts, acks,
 * feedback) and restores them at start; the commit puts them in their
 * members, a rollback forgets them. Not thread-safe. */
#ifndef KJ_FEEDBACK_H
#define KJ_FEEDBACK_H

#include "model.h"

#define KJ_FEEDBACK_KEEP 20 /* entries per member, no older than KJ_FEEDBACK_DAYS (metrics.h) */

typedef struct kj_feedback {
    int64_t ts; /* the event's */
    char id[KJ_ID_MAX + 1];
    char unit[KJ_ID_MAX + 1];
    char employee[KJ_ID_MAX + 1];
    char kind[KJ_ID_MAX + 1];
    char by[KJ_ID_MAX + 1], alert[KJ_ID_MAX + 1], indicator[KJ_ID_MAX + 1]; /* "" when absent */
    char *text; /* heap, owned by the holder */
} kj_feedback;

/* Inside a group: keeps a copy of a feedback event until commit or rollback. */
void kj_fb_note(kj_metrics *m, const kj_event *ev);

/* Inside a group: each noted entry as a record of the alerts log (put_alert). */
kj_err kj_fb_store(kj_metrics *m, const kj_metrics_sink *sink);

/* After the commit: the noted entries go to their members (marked changed). */
void kj_fb_commit(kj_metrics *m);

/* After a rollback: the noted entries are forgotten. */
void kj_fb_rollback(kj_metrics *m);

/* Restores a stored record; false when buf is no feedback record (an alert). */
bool kj_fb_load(kj_metrics *m, const void *buf, size_t len);

/* The member's "feedback" array, newest first, within KJ_FEEDBACK_DAYS of now. */
void kj_fb_pack(const kj_metrics *m, const member *mb, msgpack_packer *pk);

/* Frees a member's entries. */
void kj_fb_free_member(member *mb);

#endif
