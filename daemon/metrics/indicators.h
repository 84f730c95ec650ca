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
#include "config/config.h"

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

#define KJ_ALERT_ID_MAX 31 /* "<yyyymmdd>-<8 hex>" (kj_alert_make_id) */

/* Why an alert record was made (SPEC §16: the life of an alert). The alerts
 * table is a log of records; the latest record of an id is the alert. */
typedef enum kj_alert_change {
    KJ_ALERT_NEW = 0,       /* a change of status: the `alert` frame */
    KJ_ALERT_ESCALATED = 1, /* a bad not acknowledged in time: `alert` with escalated */
    KJ_ALERT_ACKED = 2,     /* acknowledged: the `alert_ack` frame */
} kj_alert_change;

/* A change of status, and what happened to it since. */
typedef struct kj_alert {
    char id[KJ_ALERT_ID_MAX + 1]; /* stable and unique: an ack names it */
    char unit[KJ_ID_MAX + 1];
    int64_t at; /* ms, the engine's now when it was seen */
    char indicator[KJ_ID_MAX + 1];
    char scope[KJ_SCOPE_MAX + 1]; /* "unit:U" or "employee:E" */
    kj_status from, to;
    bool has_value; /* value nil when false */
    double value;
    double target;
    bool escalated;
    bool acked;
    int64_t acked_at;             /* the ack event's ts */
    char acked_by[KJ_ID_MAX + 1]; /* the ack's `by`, "" when absent */
    char *note;                   /* the ack's note or NULL; heap, owned by the holder */
    kj_alert_change change;       /* of the record; not packed */
} kj_alert;

/* Pack a as a map: {"id","unit","at","indicator","scope","from","to","value",
 * "target"}, then "escalated": true when it is, and "acked_by", "acked_at",
 * "note" when acknowledged; with frame, {"op":"alert", ...} first (the live
 * `alert` frame). */
void kj_alert_pack(const kj_alert *a, bool frame, msgpack_packer *pk);

/* The live {"op":"alert_ack","unit","alert","acked_by","acked_at","note"}. */
void kj_alert_pack_ack(const kj_alert *a, msgpack_packer *pk);

/* Parse a packed alert (with or without "op"). KJ_ERR_DECODE when malformed.
 * a->note is allocated when present (the caller frees it). A record of an
 * older build without "id" gets one derived from its fields. */
kj_err kj_alert_unpack(const void *buf, size_t len, kj_alert *a);

/* Sets a->id to "<yyyymmdd>-<8 hex>": the local day (days since 1970-01-01 in
 * `timezone`) and a hash of the unit, indicator, scope, from, to and nth, the
 * number of earlier changes of that indicator in that scope that day. Every
 * part follows from the stream of events, none from the clock of the node
 * that saw the change (`at`), so that two nodes applying the same stream
 * give an alert the same id and an ack made on one finds it on the other
 * (SPEC §16, §17). */
void kj_alert_make_id(kj_alert *a, int32_t day, uint64_t nth);

/* Pack one indicator entry of SPEC §7: {"id","name","scope","metric","window",
 * "value","target","better","status","achievement_pct"}. status is the
 * scope's (which lags the value by the indicator's hold_ms). With median
 * (an employee's entry) also "unit_median": the median of the value over the
 * unit's members with one, nil when none has (SPEC §16 "Anda vs median unit"). */
void kj_indicator_pack(msgpack_packer *pk, const kj_indicator_conf *ic, const char *scope,
                       double target, bool has_value, double value, kj_status status,
                       const double *median);

#endif
