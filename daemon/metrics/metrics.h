/* kinerjad — the in-memory metrics engine (SPEC §4, §5, §7; DESIGN "Metrics").
 *
 * One kj_metrics holds, for every scope (unit:U, employee:E, counter U/C), the
 * buckets of the last hour (minutes), the last 30 days (hours) and the last
 * max_event_age days (local days), running totals of the sliding windows
 * 15m, 1h, 7d and 30d, presence and serving state, each unit's indicator
 * statuses and today's alerts. It knows nothing of sockets or LMDB: the writer
 * thread owns it, feeds it events and time, stores what it reports as dirty,
 * and publishes the frames it packs. Not thread-safe: one owner.
 *
 * Time. Every window is a set of whole buckets: an event counts in a window
 * once its bucket has started and until the bucket leaves.
 *   15m / 1h   minute buckets with start in (now - 15 min, now] / (now - 1 h, now]
 *   today      the local day of now in the configured timezone
 *   7d / 30d   hour buckets with start in (now - 168 h, now] / (now - 720 h, now]
 * Event time places an event: a late event lands in its (older) buckets and
 * counts in every window that still holds them; an event from the future
 * (within max_clock_skew) waits in its bucket and is counted from the minute /
 * hour / day its bucket starts. "now" moves only with kj_metrics_tick, never
 * backwards. An event older than a resolution's horizon (1 h, 30 d, the day
 * horizon) skips that resolution.
 *
 * Call order of the writer, per group of events (one LMDB write transaction):
 *
 *     kj_metrics_tick(m, now);                 outside a group
 *     kj_metrics_begin(m);
 *     kj_metrics_apply(m, ev) ...              each accepted, non-duplicate event
 *     kj_metrics_each_dirty(m, &sink);         store every key it reports
 *     LMDB commit ok ? kj_metrics_commit(m) : kj_metrics_rollback(m);
 *     after commit: kj_metrics_take_alerts, kj_metrics_take_changes + pack
 *
 * On a timer (about once a second, no transaction open): kj_metrics_tick, then
 * if kj_metrics_pending(m) run an empty group (begin, each_dirty, commit) so
 * that the alerts produced by time are stored and can be taken, and the hour
 * and day buckets into which the closed minutes were folded are stored.
 *
 * At start: kj_metrics_new(cfg, now), kj_metrics_load for every stored agg key
 * in key order, kj_metrics_load_alert for every stored alert of today
 * (at >= kj_metrics_today_start), then kj_metrics_tick(m, now).
 *
 * At a clean stop (no group open, nothing after it): kj_metrics_checkpoint
 * stores every scope's window totals, so that the next start reads them
 * instead of merging every stored hour bucket again (the bulk of a start's
 * time). The first group after a start voids the checkpoint in its own
 * transaction, so a crash later never loads stale totals. */
#ifndef KJ_METRICS_H
#define KJ_METRICS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/err.h"
#include "../proto/event.h"
#include "agg.h"
#include "config/config.h"
#include "indicators.h"
#include "metric.h"

typedef struct kj_metrics kj_metrics;

typedef enum kj_scope_kind {
    KJ_SCOPE_UNIT = 'U',
    KJ_SCOPE_EMPLOYEE = 'E',
    KJ_SCOPE_COUNTER = 'C',
} kj_scope_kind;

/* A scope by name. A counter belongs to a unit (counter ids such as "loket-1"
 * repeat across units); unit is ignored for employees (employee ids are
 * national: one employee:E scope across every unit that names E). */
typedef struct kj_scope_ref {
    kj_scope_kind kind;
    const char *unit; /* unit:U -> U; counter -> its unit; employee -> NULL */
    const char *id;   /* U, E or C */
} kj_scope_ref;

/* Parse "unit:U", "employee:E" or "counter:U/C". ref points into s. */
bool kj_scope_parse(const char *s, kj_scope_ref *ref, char *buf, size_t buflen);

/* --- life cycle --- */

/* A new engine at time now (ms). cfg is borrowed: it must stay valid until
 * the next kj_metrics_set_config or kj_metrics_free. The units, members and
 * counters that cfg lists exist from the start. KJ_ERR_CONFIG when the
 * timezone is unknown. */
kj_err kj_metrics_new(const kj_config *cfg, int64_t now, kj_metrics **out);
void kj_metrics_free(kj_metrics *m);

/* Swap the configuration (reload): new units, members, counters, SLAs and
 * indicators apply from now on; all metric state is kept. Indicator statuses
 * carry over by indicator id; new indicators start silently from their current
 * status (no alert storm on reload). KJ_ERR_CONFIG (state unchanged) when the
 * new timezone is unknown; KJ_ERR_BUSY inside a group. */
kj_err kj_metrics_set_config(kj_metrics *m, const kj_config *cfg);

/* --- time --- */

/* Move now forward (an earlier now is ignored: windows never move back):
 * buckets leave and enter windows, scopes whose window values changed are
 * marked changed, their indicators are evaluated (alerts become pending).
 * Cheap when the minute has not changed. KJ_ERR_BUSY inside a group. */
kj_err kj_metrics_tick(kj_metrics *m, int64_t now);
int64_t kj_metrics_now(const kj_metrics *m);
/* UTC ms of the local midnight that starts today. */
int64_t kj_metrics_today_start(const kj_metrics *m);

/* --- groups (transactions) --- */

/* Start a group. Nested begin is a no-op. */
void kj_metrics_begin(kj_metrics *m);

/* Apply one valid event inside a group: updates the scopes it names (creating
 * units, members and counters first seen). KJ_ERR_INVALID outside a group or
 * for an event without a unit. */
kj_err kj_metrics_apply(kj_metrics *m, const kj_event *ev);

/* Where each_dirty writes. put gets a key of the agg database and its value;
 * put_alert a new alert (at, msgpack entry as in kj_alert_pack). A non-zero
 * return stops the walk and is returned (the writer then rolls back). The
 * pointers die when the callback returns. */
typedef struct kj_metrics_sink {
    void *ctx;
    kj_err (*put)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);
    kj_err (*put_alert)(void *ctx, int64_t at, const void *val, size_t vlen);
} kj_metrics_sink;

/* Evaluate the indicators of what the group changed, then report every key
 * changed since the last commit (buckets, presence, serving, directory) and
 * every alert not yet stored. May be called more than once in a group. */
kj_err kj_metrics_each_dirty(kj_metrics *m, const kj_metrics_sink *sink);

/* The store committed: the group's state becomes the state. */
void kj_metrics_commit(kj_metrics *m);

/* The store aborted: restore exactly the state before kj_metrics_begin
 * (alerts produced by tick before it stay pending). A no-op outside a group. */
void kj_metrics_rollback(kj_metrics *m);

bool kj_metrics_in_group(const kj_metrics *m);

/* True when alerts or folds wait to be stored (produced by tick outside a
 * group). */
bool kj_metrics_pending(const kj_metrics *m);

/* --- persistence (the agg database) --- */

/* Keys are big-endian so that they sort by kind, scope, resolution, start:
 *   'B' kind path 0x00 res start64   a bucket (res 0 minute, 1 hour, 2 day;
 *                                    start in ms; day buckets by local date:
 *                                    days since 1970-01-01 x 86 400 000)
 *   'D' kind path 0x00               a directory entry (unit, unit member,
 *                                    counter) first seen in events
 *   'P' employee 0x00                presence (value and its history: presence.c)
 *   'S' path 0x00                    a counter's serving state (presence.c)
 *   'W' kind path 0x00               a scope's window totals (a checkpoint's)
 *   '!ckpt'                          the checkpoint marker: the now its totals
 *                                    hold at, 0 when events came after it
 *   'A' employee 0x00 period         the latest assessment (assess.h): not
 *                                    the engine's, skipped by the load
 *   '!fold'                          the fold watermark (a minute number): the
 *                                    minute buckets before it are in their
 *                                    hour and day buckets, the later ones not
 * where kind is 'U', 'E' or 'C' and path is U, E, U/E (member) or U/C. */

/* Restore one stored key (in key order, before the first tick). Keys outside
 * the in-memory horizons are skipped. KJ_ERR_DECODE on a malformed key or
 * value (the caller may log and skip it). */
kj_err kj_metrics_load(kj_metrics *m, const void *key, size_t klen, const void *val, size_t vlen);

/* Store the window totals of every scope and the checkpoint's marker (see
 * above). KJ_ERR_BUSY inside a group; a sink error is returned (the caller
 * aborts: the next start then merges the buckets, as after a crash). */
kj_err kj_metrics_checkpoint(kj_metrics *m, const kj_metrics_sink *sink);

/* Inside a group, before an event is stored: KJ_OK when the engine can take
 * it, else a per-event error in err ("alert: unknown alert" for an ack of an
 * alert that is not among today's). */
kj_err kj_metrics_admit(kj_metrics *m, const kj_event *ev, char *err, size_t errlen);

/* The engine's time (ms, as given to kj_metrics_tick) at which a held status
 * or an escalation falls due (SPEC §16); 0 when none waits. The writer ticks
 * by then, without any event. */
int64_t kj_metrics_next_deadline(const kj_metrics *m);

/* How far back a member's feedback is kept (feedback.c): the writer loads
 * the alerts log from today's start minus this at start. */
#define KJ_FEEDBACK_DAYS 30

/* Restore one stored alert (the msgpack entry given to put_alert); alerts
 * before today are ignored. */
kj_err kj_metrics_load_alert(kj_metrics *m, const void *val, size_t vlen);

/* True when the stored key is past its retention at the engine's now: minute
 * buckets after 2 h, hour buckets after 31 days, day buckets after
 * retention_days. Presence, serving and directory keys never expire. */
bool kj_metrics_key_expired(const kj_metrics *m, const void *key, size_t klen);

/* --- reading --- */

/* The value of metric over one window of a scope; false when there is no
 * data (nil) or the scope is unknown. */
bool kj_metrics_value(kj_metrics *m, const kj_scope_ref *scope, kj_metric metric, kj_window w,
                      double *out);

/* Calls fn(ctx, start, value) for each in-memory bucket of the scope with
 * from <= start < to and data for metric, oldest first: minute buckets cover
 * the last hour, hour buckets 30 days, day buckets max_event_age days (start
 * is the local midnight in UTC ms). Older day buckets are in the store only:
 * kj_metrics_series_plan says where, kj_metrics_stored_point reads each. */
typedef void (*kj_series_fn)(void *ctx, int64_t start, double value);
kj_err kj_metrics_series(kj_metrics *m, const kj_scope_ref *scope, kj_metric metric, kj_res res,
                         int64_t from, int64_t to, kj_series_fn fn, void *ctx);

/* The most points one series request may span: the range [from, to), cut
 * to where buckets of its resolution can exist (minute: the last hour; hour:
 * 30 days; day: retention_days; none beyond now + max_clock_skew), holds at
 * most this many buckets, else the request is refused (400). A year of days,
 * 30 days of hours and an hour of minutes fit; a longer history of days
 * (retention_days over 999) is read in several requests. It keeps the store
 * read of one request (on the writer thread, between groups) to about a
 * millisecond. */
#define KJ_SERIES_MAX_POINTS 1000
#define KJ_SERIES_KEY_MAX 160

/* Where a series request reads: the count of buckets its range may hold
 * (for the bound) and the key range [lo, hi) of the stored day buckets older
 * than those in memory (lo_len 0: none), for kj_store_each_agg_range. */
typedef struct kj_series_plan {
    kj_res res;
    int64_t from, to; /* the request's, from raised to the oldest bucket kept */
    size_t points;
    uint8_t lo[KJ_SERIES_KEY_MAX], hi[KJ_SERIES_KEY_MAX];
    size_t lo_len, hi_len;
} kj_series_plan;

/* KJ_ERR_NOT_FOUND for an unknown scope, KJ_ERR_INVALID for a bad res,
 * KJ_ERR_TOO_BIG when plan->points exceeds KJ_SERIES_MAX_POINTS (plan is
 * filled in every case but the first two, for the error message). */
kj_err kj_metrics_series_plan(kj_metrics *m, const kj_scope_ref *scope, kj_res res, int64_t from,
                              int64_t to, kj_series_plan *plan);

/* One stored day bucket of the plan's range: its start (local midnight, UTC
 * ms) and the value of metric; false when outside [from, to), nil or
 * malformed. */
bool kj_metrics_stored_point(kj_metrics *m, const kj_series_plan *plan, kj_metric metric,
                             const void *key, size_t klen, const void *val, size_t vlen,
                             int64_t *start, double *value);

/* The value of metric in one stored bucket value of resolution res; false
 * when nil or malformed. */
bool kj_metrics_bucket_value(const void *val, size_t vlen, kj_res res, kj_metric metric,
                             double *out);

/* --- reading periods off the writer thread (rapor_read.c) ---
 * A period merges the stored day buckets of its days with the minute buckets
 * at or after the fold watermark (not yet folded into their days), read in
 * one read transaction so that the two agree. */

/* The stored key of a bucket of ref (start in ms: a minute's or hour's start,
 * a day's number x 86 400 000) in buf; 0 when it does not fit cap. */
size_t kj_metrics_bucket_key_of(uint8_t *buf, size_t cap, const kj_scope_ref *ref, kj_res res,
                                int64_t start_ms);
/* The fold watermark's key; its value decoded as the start (ms) of the first
 * minute whose bucket is not yet in its hour and day buckets. A store without
 * the key folded every minute. False when malformed. */
extern const uint8_t kj_metrics_fold_key[5];
bool kj_metrics_fold_decode(const void *val, size_t vlen, int64_t *pending_from_ms);
/* The prefix "D E unit /" of the directory keys of unit's members that events
 * named ('D' 'E' unit/E 0x00); 0 when it does not fit. */
size_t kj_metrics_member_prefix(uint8_t *buf, size_t cap, const char *unit);

/* --- alerts and the live feed --- */

/* Calls fn for each alert committed since the last call (oldest first), to
 * push, log and count it. */
typedef void (*kj_alert_fn)(void *ctx, const kj_alert *a);
void kj_metrics_take_alerts(kj_metrics *m, kj_alert_fn fn, void *ctx);

/* The set of a unit's scopes changed since the last take; valid only inside
 * the kj_metrics_take_changes callback. */
typedef struct kj_changes kj_changes;
const char *kj_changes_unit(const kj_changes *ch);
/* True when the change set holds employee E's object (for personal views). */
bool kj_changes_has_employee(const kj_changes *ch, const char *employee);

/* Calls fn once per unit with changed scopes (by events or by time) for
 * which ready (when not NULL) says yes, and forgets those changes; a unit that
 * is not ready keeps its changes, and gathers more, for a later take. */
typedef void (*kj_changes_fn)(void *ctx, const kj_changes *ch);
typedef bool (*kj_changes_ready_fn)(void *ctx, const char *unit);
void kj_metrics_take_changes(kj_metrics *m, kj_changes_ready_fn ready, kj_changes_fn fn, void *ctx);

/* Pack a whole frame map of SPEC §7 with "at" = the engine's now:
 *   {"op":"snapshot","unit","seq","at","unit_metrics","members","counters",
 *    "indicators","alerts"}                        (alerts today's, newest first)
 *   {"op":"update","unit","seq","at", ["unit_metrics"], ["members"],
 *    ["counters"], "indicators"}                   (only what changed)
 * With only_employee set (a personal view) only that member's object, its
 * indicators and alerts are packed, and no unit_metrics or counters.
 * KJ_ERR_NOT_FOUND for an unknown unit (the snapshot). */
kj_err kj_metrics_pack_snapshot(kj_metrics *m, const char *unit, uint64_t seq,
                                const char *only_employee, msgpack_packer *pk);
void kj_metrics_pack_update(kj_metrics *m, const kj_changes *ch, uint64_t seq,
                            const char *only_employee, msgpack_packer *pk);

/* One scope's object: {"15m": W, "1h": W, "today": W, "7d": W, "30d": W}
 * plus "presence" for an employee and "serving" for a counter; each W is
 * {"tasks": T|nil, "services": S|nil, "ratings": R|nil}. KJ_ERR_NOT_FOUND for
 * an unknown scope (nothing packed). */
kj_err kj_metrics_pack_scope(kj_metrics *m, const kj_scope_ref *scope, msgpack_packer *pk);

/* Pack every unit, sorted by id, for `units` answers:
 *   [{"id", "name", "members": [{"id", "name"}], "counters": [{"id", "name"}]}]
 * Names come from the configuration; what events created has its id as name. */
void kj_metrics_pack_units(kj_metrics *m, msgpack_packer *pk);

/* --- the agency overview (SPEC §14; metrics_overview.c) --- */

/* One unit's row: {"unit","name","today":{"services":{"count","sla_pct",
 * "wait_ms":{"p90"}},"ratings":{"ikm","ikm_grade"},"tasks":{"on_time_pct"}},
 * "queue":{"waiting","longest_wait_ms"},"indicators":{"ok","warn","bad",
 * "none"},"alerts_today","unacked_bad","needs_coaching","bad_days"}.
 * KJ_ERR_NOT_FOUND (nothing packed) for an unknown unit. */
kj_err kj_metrics_pack_overview_row(kj_metrics *m, const char *unit, msgpack_packer *pk);
/* Every unit's row, sorted by id, as an array. */
void kj_metrics_pack_overview(kj_metrics *m, msgpack_packer *pk);

/* --- the queue (SPEC §13; metrics_queue.c) --- */

/* Tickets that expired: one by max_open_tickets (ticket set, count 1), or
 * those still waiting at local midnight (ticket "", count n). For the log. */
typedef struct kj_queue_note {
    char unit[KJ_ID_MAX + 1];
    char ticket[KJ_ID_MAX + 1];
    uint32_t count;
} kj_queue_note;
typedef void (*kj_queue_note_fn)(void *ctx, const kj_queue_note *n);
/* Calls fn for each expiry since the last call (after a commit or a tick). */
void kj_metrics_take_queue_notes(kj_metrics *m, kj_queue_note_fn fn, void *ctx);

/* --- accounting --- */

typedef struct kj_metrics_stats {
    size_t units, employees, counters;
    size_t buckets;      /* in memory, all resolutions */
    size_t bucket_bytes; /* their encoded size */
} kj_metrics_stats;
void kj_metrics_get_stats(const kj_metrics *m, kj_metrics_stats *out);

#endif
