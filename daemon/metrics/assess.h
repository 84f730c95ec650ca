/* kinerjad — the latest assessment (SPEC §15) of each (employee, period).
 *
 * An `assessment` event is kept in the raw log like every event; what the
 * rapor needs, the one that counts (the latest by event time; at equal times
 * the later stored), is kept beside the aggregates in the agg database under
 *     'A' employee 0x00 period-name   ->  version, ts, 7 levels, by
 * so that a restart keeps it, and --rebuild, which clears the aggregates and
 * replays the raw log in (ts, seq) order, puts back the same one. The metrics
 * engine skips these keys when it loads, and retention leaves them (one small
 * record per employee and period).
 *
 * Writer thread: kj_assess_put inside the group's transaction (its own
 * earlier writes are seen, so two assessments in one group are ordered too).
 * Readers (the rapor, any thread): kj_assess_key, then kj_assess_decode. */
#ifndef KJ_ASSESS_H
#define KJ_ASSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/event.h"
#include "store/store.h"

#define KJ_ASSESS_KEY_TAG 'A'
#define KJ_ASSESS_KEY_MAX (2 + KJ_ID_MAX + KJ_PERIOD_NAME_MAX)

typedef struct kj_assessment {
    int64_t ts;
    uint8_t behaviour[KJ_BEHAVIOURS]; /* kj_level each */
    char by[KJ_ID_MAX + 1];           /* "" when the event had none */
} kj_assessment;

/* The key of (employee, period) in buf (KJ_ASSESS_KEY_MAX bytes); its length. */
size_t kj_assess_key(uint8_t *buf, const char *employee, const kj_period *p);

/* A stored value; KJ_ERR_DECODE when malformed. */
kj_err kj_assess_decode(const void *val, size_t len, kj_assessment *out);

/* Keep ev (an assessment) when it is at least as late as the stored one for
 * its (employee, period). A store error is returned (the group rolls back). */
kj_err kj_assess_put(kj_store_txn *t, const kj_event *ev);

#endif
