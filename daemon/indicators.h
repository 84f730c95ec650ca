/* kinerjad — indicators (IKU) of SPEC §5: status, achievement and alerts.
 *
 * The judgements are pure functions of an indicator's target, direction and
 * margin and a metric value, so they are tested alone. The metrics engine
 * evaluates every indicator that applies to a unit and to each of its members
 * after a group of events and after time moves, and turns every change of
 * status into a kj_alert (kept for today's snapshot, stored, pushed). */
#ifndef KJ_INDICATORS_H
#define KJ_INDICATORS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/err.h"
#include "../proto/event.h"
#include "config.h"

typedef enum kj_status {
    KJ_STATUS_NONE = 0, /* no data */
    KJ_STATUS_OK = 1,   /* meets the target */
    KJ_STATUS_WARN = 2, /* misses it by at most warn_margin of the target */
    KJ_STATUS_BAD = 3,
} kj_status;

/* "none", "ok", "warn", "bad". */
const char *kj_status_name(kj_status s);
bool kj_status_parse(const char *s, size_t len, kj_status *out);

/* The status of value against target. With better = higher, ok when
 * value >= target, warn when value >= target - warn_margin * |target|; with
 * lower, ok when value <= target, warn when value <= target + warn_margin *
 * |target|; else bad. none without a value. Boundaries count as the better
 * side (a relative 1e-9 absorbs binary rounding of e.g. 0.9 * 90). */
kj_status kj_indicator_status(kj_better better, double target, double warn_margin, bool has_value,
                              double value);

/* True when ic applies to unit (units "*" or listed). */
bool kj_indicator_for_unit(const kj_indicator_conf *ic, const char *unit);

/* The target for a scope: the employee's override when there is one, else the
 * indicator's. employee NULL for the unit scope. */
double kj_indicator_target(const kj_indicator_conf *ic, const char *employee);

#define KJ_SCOPE_MAX (9 + KJ_ID_MAX) /* "employee:" + id */

/* A change of status. */
typedef struct kj_alert {
    char unit[KJ_ID_MAX + 1];
    int64_t at; /* ms, the engine's now when it was seen */
    char indicator[KJ_ID_MAX + 1];
    char scope[KJ_SCOPE_MAX + 1]; /* "unit:U" or "employee:E" */
    kj_status from, to;
    bool has_value; /* value nil when false */
    double value;
    double target;
} kj_alert;

/* Pack a as a map: {"unit","at","indicator","scope","from","to","value",
 * "target"}; with frame, {"op":"alert", ...} first (the live `alert` frame). */
void kj_alert_pack(const kj_alert *a, bool frame, msgpack_packer *pk);

/* Parse a packed alert (with or without "op"). KJ_ERR_DECODE when malformed. */
kj_err kj_alert_unpack(const void *buf, size_t len, kj_alert *a);

/* Pack one indicator entry of SPEC §7: {"id","name","scope","metric","window",
 * "value","target","better","status","achievement_pct"}. */
void kj_indicator_pack(msgpack_packer *pk, const kj_indicator_conf *ic, const char *scope,
                       double target, bool has_value, double value);

#endif
