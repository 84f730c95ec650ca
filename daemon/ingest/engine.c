#include "engine.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../proto/alloc.h"
#include "../proto/clock.h"
#include "log.h"
#include "metrics/assess.h"
#include "tzclock.h"

#define RETENTION_EVERY_MS 60000 /* look for expired data once a minute */
#define RETENTION_STEP 1000      /* entries deleted per transaction */
#define FILTER_STEP_RUNS 2048    /* id runs a step of the id filter's renewal reads (~1 ms) */
#define AGG_PASS_EVERY_MS 600000 /* a pass over the aggregates every 10 minutes */
#define AGG_SCAN_STEP 20000      /* aggregate keys looked at per transaction */
#define REBUILD_GROUP 20000      /* events per transaction of --rebuild */

/* A unit's live feed: its frame sequence and when it was last pushed. */
typedef struct unit_seq {
    char unit[KJ_ID_MAX + 1];
    uint64_t seq;
    int64_t last_publish_ms; /* monotonic; 0: never */
    bool deferred;           /* changes held back by the current publication */
} unit_seq;

struct kj_engine {
    const kj_config *cfg;
    kj_store *store;
    kj_hub *hub;
    kj_metrics *m;
    unit_seq *seqs;               /* live feed per unit */
    char (*views)[KJ_ID_MAX + 1]; /* on_changes' list of a unit's views, grown to fit */
    size_t cap_views;
    size_t n_seqs, cap_seqs;
    bool changes_waiting;
    /* Alerts committed and not yet pushed: each waits for the update that
     * carries its new status (SPEC §7), oldest first. */
    kj_pub *alerts, **alerts_tail;
    int64_t last_retention_ms;
    bool retention_busy; /* more to delete, or a pass under way: go on soon */
    bool agg_pass;       /* a pass over the aggregates is under way */
    int64_t last_agg_pass_ms;
    /* the live overview (SPEC §14): rows changed since its last frame */
    uint64_t overview_seq;
    int64_t last_overview_ms; /* monotonic */
    char (*overview_dirty)[KJ_ID_MAX + 1];
    size_t n_overview_dirty, cap_overview_dirty;
};

static unit_seq *unit_feed(kj_engine *e, const char *unit)
{
    for (size_t i = 0; i < e->n_seqs; i++)
        if (strcmp(e->seqs[i].unit, unit) == 0) return &e->seqs[i];
    if (e->n_seqs == e->cap_seqs) {
        e->cap_seqs = e->cap_seqs ? e->cap_seqs * 2 : 16;
        e->seqs = kj_realloc(e->seqs, e->cap_seqs * sizeof *e->seqs);
    }
    unit_seq *u = &e->seqs[e->n_seqs++];
    memset(u, 0, sizeof *u);
    snprintf(u->unit, sizeof u->unit, "%s", unit);
    /* Start from the clock so that a restarted daemon's seq keeps rising for
     * viewers that reconnect (they resubscribe and take a snapshot anyway). */
    u->seq = (uint64_t)kj_now_ms() * 1000;
    return u;
}

/* --- loading --- */

static int load_agg(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    kj_engine *e = ctx;
    if (kj_metrics_load(e->m, k, kl, v, vl) != KJ_OK)
        kj_warn("skipping a stored aggregate that does not decode (%zu bytes)", kl);
    return 0;
}

static int load_alert(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl;
    kj_engine *e = ctx;
    if (kj_metrics_load_alert(e->m, v, vl) != KJ_OK)
        kj_warn("skipping a stored alert that does not decode");
    return 0;
}

/* This thread's CPU time: the load's own cost, whatever else the machine does. */
static int64_t cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

kj_err kj_engine_new(const kj_config *cfg, kj_store *store, kj_hub *hub, kj_engine **out, char *msg,
                     size_t msglen)
{
    kj_engine *e = kj_calloc(1, sizeof *e);
    e->cfg = cfg;
    e->alerts_tail = &e->alerts;
    e->store = store;
    e->hub = hub;
    int64_t now = kj_now_ms();
    kj_err err = kj_metrics_new(cfg, now, &e->m);
    if (err) {
        snprintf(msg, msglen, "metrics: unknown timezone %s", cfg->timezone);
        goto fail;
    }
    int64_t t0 = kj_mono_ms(), cpu0 = cpu_ms();
    if ((err = kj_store_each_agg(store, load_agg, e)) ||
        (err = kj_store_each_alert(
             store, kj_metrics_today_start(e->m) - KJ_FEEDBACK_DAYS * KJ_DAY_MS, load_alert, e))) {
        snprintf(msg, msglen, "cannot read the stored aggregates: %s", kj_strerror(err));
        goto fail;
    }
    kj_metrics_tick(e->m, now);
    kj_metrics_stats st;
    kj_metrics_get_stats(e->m, &st);
    kj_info("metrics: %zu units, %zu employees, %zu buckets loaded in %lld ms (%lld ms of CPU)",
            st.units, st.employees, st.buckets, (long long)(kj_mono_ms() - t0),
            (long long)(cpu_ms() - cpu0));
    e->last_retention_ms =
        kj_mono_ms() - RETENTION_EVERY_MS + 5000; /* first look soon after start */
    e->last_agg_pass_ms = kj_mono_ms() - AGG_PASS_EVERY_MS + 5000;
    *out = e;
    return KJ_OK;
fail:
    kj_engine_free(e);
    return err;
}

void kj_engine_free(kj_engine *e)
{
    if (!e) return;
    kj_metrics_free(e->m);
    kj_pub_free_list(e->alerts);
    free(e->seqs);
    free(e->views);
    free(e->overview_dirty);
    free(e);
}

/* --- the group commit hooks --- */

static kj_err sink_put(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    return kj_store_put_agg(ctx, k, kl, v, vl);
}

static kj_err sink_alert(void *ctx, int64_t at, const void *v, size_t vl)
{
    return kj_store_put_alert(ctx, at, v, vl);
}

static void hook_begin(void *ctx)
{
    kj_engine *e = ctx;
    /* The group is judged at the time it is written: a hold (SPEC §16) counts
     * from when its status was first seen, not from the last idle tick. */
    if (kj_metrics_tick(e->m, kj_now_ms()) == KJ_OK) e->changes_waiting = true;
    kj_metrics_begin(e->m);
}

static bool hook_admit(void *ctx, kj_batch_item *it)
{
    kj_engine *e = ctx;
    return kj_metrics_admit(e->m, &it->ev, it->error, sizeof it->error) == KJ_OK;
}

static kj_err hook_apply(void *ctx, kj_store_txn *t, const kj_event *ev)
{
    if (ev->type == KJ_EV_ASSESSMENT) {
        kj_err err = kj_assess_put(t, ev);
        if (err) return err;
    }
    return kj_engine_apply(((kj_engine *)ctx)->m, ev);
}

static kj_err hook_persist(void *ctx, kj_store_txn *t)
{
    kj_metrics_sink sink = {t, sink_put, sink_alert};
    return kj_metrics_each_dirty(((kj_engine *)ctx)->m, &sink);
}

static void log_alert(const kj_alert *a)
{
    if (a->change == KJ_ALERT_ACKED)
        kj_info("alert %s acknowledged by %s", a->id, a->acked_by[0] ? a->acked_by : "-");
    else
        kj_info("alert%s: %s %s %s -> %s (value %.2f, target %.2f) id %s",
                a->change == KJ_ALERT_ESCALATED ? " escalated" : "", a->scope, a->indicator,
                kj_status_name(a->from), kj_status_name(a->to), a->has_value ? a->value : 0.0,
                a->target, a->id);
}

/* Logs an alert record at its commit and queues its frame (alert or
 * alert_ack) for the update of its unit. */
static void queue_alert(void *ctx, const kj_alert *a)
{
    kj_engine *e = ctx;
    log_alert(a);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (a->change == KJ_ALERT_ACKED)
        kj_alert_pack_ack(a, &pk);
    else
        kj_alert_pack(a, true, &pk);
    kj_pub *p = kj_pub_new(KJ_PUB_ALERT, a->unit, 0, kj_frame_new(sb.data, sb.size));
    /* an acknowledgement is no alert for the counts of /metrics (live.c) */
    p->alert_to = a->change == KJ_ALERT_ACKED ? -1 : (int)a->to;
    msgpack_sbuffer_destroy(&sb);
    snprintf(p->alert_scope, sizeof p->alert_scope, "%s", a->scope);
    *e->alerts_tail = p;
    e->alerts_tail = &p->next;
}

static void log_expiry(void *ctx, const kj_queue_note *n)
{
    (void)ctx;
    if (n->ticket[0])
        kj_warn("queue: unit %s is at max_open_tickets: ticket %s, waiting longest, expired",
                n->unit, n->ticket);
    else
        kj_info("queue: unit %s: %u tickets still waiting expired at midnight", n->unit, n->count);
}

static void hook_commit(void *ctx)
{
    kj_engine *e = ctx;
    kj_metrics_commit(e->m);
    kj_metrics_take_alerts(e->m, queue_alert, e);
    kj_metrics_take_queue_notes(e->m, log_expiry, e);
    e->changes_waiting = true;
}

static void hook_rollback(void *ctx)
{
    kj_metrics_rollback(((kj_engine *)ctx)->m);
}

static void hook_configure(void *ctx, const void *cfg)
{
    kj_engine *e = ctx;
    if (kj_metrics_set_config(e->m, cfg) == KJ_OK)
        e->cfg = cfg;
    else
        kj_error("reload: the metrics engine refused the new configuration (timezone?)");
    e->changes_waiting = true;
}

/* --- between groups --- */

/* Alerts that time produced must be stored before they are pushed. */
static void commit_pending(kj_engine *e)
{
    kj_store_txn *t;
    if (!kj_metrics_pending(e->m) || kj_store_begin(e->store, &t) != KJ_OK) return;
    kj_metrics_begin(e->m);
    kj_err err = hook_persist(e, t);
    if (!err)
        err = kj_store_commit(t);
    else
        kj_store_abort(t);
    if (err) {
        kj_metrics_rollback(e->m);
        kj_warn("cannot store the alerts of a window change: %s", kj_strerror(err));
        return;
    }
    hook_commit(e);
}

struct publish_ctx {
    kj_engine *e;
    kj_pub *head, **tail;
    int64_t now_ms;   /* monotonic, once per publication */
    int64_t wait_ms;  /* until the first held-back unit may go out; 0: none */
    const char *only; /* a snapshot's unit, pushed whatever its interval; NULL: all */
};

static kj_frame *pack_frame(kj_metrics *m, const kj_changes *ch, const char *unit, uint64_t seq,
                            const char *employee, bool snapshot)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (snapshot)
        kj_metrics_pack_snapshot(m, unit, seq, employee, &pk);
    else
        kj_metrics_pack_update(m, ch, seq, employee, &pk);
    kj_frame *f = sb.size ? kj_frame_new(sb.data, sb.size) : NULL;
    msgpack_sbuffer_destroy(&sb);
    return f;
}

static void append(struct publish_ctx *pc, kj_pub *p)
{
    *pc->tail = p;
    pc->tail = &p->next;
}

/* Moves the queued alerts that may go out now (keep false) to the
 * publication, in their order. */
static void append_alerts(struct publish_ctx *pc, bool (*keep)(kj_engine *, const kj_pub *),
                          const char *unit)
{
    kj_engine *e = pc->e;
    kj_pub **pp = &e->alerts;
    while (*pp) {
        kj_pub *a = *pp;
        if ((unit && strcmp(a->unit, unit)) || (keep && keep(e, a))) {
            pp = &a->next;
            continue;
        }
        *pp = a->next;
        a->next = NULL;
        append(pc, a);
    }
    e->alerts_tail = pp;
}

/* Per-unit leading edge (SPEC §7): a unit not pushed for min_push_interval_ms
 * goes out with the commit that changed it; later changes wait for its next
 * slot, gathering meanwhile. */
static bool unit_ready(void *ctx, const char *unit)
{
    struct publish_ctx *pc = ctx;
    if (pc->only) return strcmp(unit, pc->only) == 0;
    unit_seq *u = unit_feed(pc->e, unit);
    int64_t left = u->last_publish_ms + pc->e->cfg->min_push_interval_ms - pc->now_ms;
    if (!u->last_publish_ms || left <= 0) return true;
    u->deferred = true;
    if (!pc->wait_ms || left < pc->wait_ms) pc->wait_ms = left;
    return false;
}

static bool unit_deferred(kj_engine *e, const kj_pub *alert)
{
    return unit_feed(e, alert->unit)->deferred;
}

/* The views of unit into e->views, grown until they fit: they are bounded by
 * the viewers (max_viewers), and a fixed array would starve the views past it. */
static size_t views_of(kj_engine *e, const char *unit)
{
    size_t n;
    while ((n = kj_hub_view_list(e->hub, unit, e->views, e->cap_views)) > e->cap_views) {
        e->cap_views = n + n / 2; /* views may come between two calls: some room */
        e->views = kj_realloc(e->views, e->cap_views * sizeof *e->views);
    }
    return n;
}

/* A unit whose overview row may have changed (deduplicated: at most one
 * entry per unit, so bounded by the units). */
static void overview_mark(kj_engine *e, const char *unit)
{
    for (size_t i = 0; i < e->n_overview_dirty; i++)
        if (!strcmp(e->overview_dirty[i], unit)) return;
    if (e->n_overview_dirty == e->cap_overview_dirty) {
        e->cap_overview_dirty = e->cap_overview_dirty ? 2 * e->cap_overview_dirty : 16;
        e->overview_dirty =
            kj_realloc(e->overview_dirty, e->cap_overview_dirty * sizeof *e->overview_dirty);
    }
    snprintf(e->overview_dirty[e->n_overview_dirty++], KJ_ID_MAX + 1, "%s", unit);
}

/* {"at", "units": [rows]}: the dirty ones, or all. */
static kj_frame *pack_overview(kj_engine *e, bool all)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "at", 2);
    msgpack_pack_int64(&pk, kj_metrics_now(e->m));
    msgpack_pack_str_with_body(&pk, "units", 5);
    if (all) {
        kj_metrics_pack_overview(e->m, &pk);
    } else {
        msgpack_pack_array(&pk, e->n_overview_dirty);
        for (size_t i = 0; i < e->n_overview_dirty; i++)
            if (kj_metrics_pack_overview_row(e->m, e->overview_dirty[i], &pk))
                msgpack_pack_nil(&pk);
    }
    kj_frame *f = kj_frame_new(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return f;
}

/* The changed rows, at most once per overview_interval_ms, when somebody
 * watches the overview. Returns how long to wait for the next (0: none). */
static int64_t publish_overview(kj_engine *e)
{
    if (!e->n_overview_dirty) return 0;
    char views[1][KJ_ID_MAX + 1];
    if (!kj_hub_view_list(e->hub, KJ_HUB_OVERVIEW_VIEW, views, 1)) {
        e->n_overview_dirty = 0; /* a new viewer starts from all rows anyway */
        return 0;
    }
    int64_t since = kj_mono_ms() - e->last_overview_ms, interval = e->cfg->overview_interval_ms;
    if (since < interval) return interval - since;
    kj_pub *p = kj_pub_new(KJ_PUB_OVERVIEW, "", ++e->overview_seq, pack_overview(e, false));
    e->n_overview_dirty = 0;
    e->last_overview_ms = kj_mono_ms();
    kj_hub_publish(e->hub, p);
    return 0;
}

/* Every row: the answer, and in the published stream for live viewers that
 * wait for their first frame (as a unit's snapshot is). */
static void query_overview(kj_engine *e, kj_query *q)
{
    q->result = pack_overview(e, true);
    q->status = 200;
    kj_pub *p = kj_pub_new(KJ_PUB_OVERVIEW, "", e->overview_seq, kj_frame_ref(q->result));
    p->full = true;
    kj_hub_publish(e->hub, p);
}

/* Packs the frames somebody watches: the unit's own for whole-unit viewers,
 * and one per personal view, each with the same seq (even an empty one, so
 * that a personal view's seq stays continuous). A unit nobody watches only
 * moves its seq on. */
static void on_changes(void *ctx, const kj_changes *ch)
{
    struct publish_ctx *pc = ctx;
    kj_engine *e = pc->e;
    const char *unit = kj_changes_unit(ch);
    unit_seq *feed = unit_feed(e, unit);
    uint64_t seq = ++feed->seq;
    feed->last_publish_ms = pc->now_ms;
    overview_mark(e, unit);
    size_t n = views_of(e, unit);
    for (size_t i = 0; i < n; i++) {
        const char *employee = e->views[i][0] ? e->views[i] : NULL;
        kj_pub *p =
            kj_pub_new(KJ_PUB_UPDATE, unit, seq, pack_frame(e->m, ch, unit, seq, employee, false));
        memcpy(p->employee, e->views[i], sizeof p->employee);
        append(pc, p);
    }
    append_alerts(pc, NULL, unit);
}

/* Pushes the units that may go out now (unit_ready), each update followed
 * by its unit's alerts, then the alerts of units without a held-back update.
 * Returns how long until a held-back unit may go (0: nothing waits). */
static int64_t publish_changes(kj_engine *e)
{
    if (!e->changes_waiting && !e->alerts) return 0;
    struct publish_ctx pc = {e, NULL, &pc.head, kj_mono_ms(), 0, NULL};
    for (size_t i = 0; i < e->n_seqs; i++)
        e->seqs[i].deferred = false;
    kj_metrics_take_changes(e->m, unit_ready, on_changes, &pc);
    append_alerts(&pc, unit_deferred, NULL);
    e->changes_waiting = pc.wait_ms > 0;
    if (pc.head) kj_hub_publish(e->hub, pc.head);
    return pc.wait_ms;
}

/* A snapshot holds the unit's state now: what was held back for the unit goes
 * out before it, so that nothing from before a viewer's snapshot (an update,
 * an alert it already lists) reaches that viewer after it. */
static void flush_unit(kj_engine *e, const char *unit)
{
    struct publish_ctx pc = {e, NULL, &pc.head, kj_mono_ms(), 0, unit};
    kj_metrics_take_changes(e->m, unit_ready, on_changes, &pc);
    append_alerts(&pc, NULL, unit);
    if (pc.head) kj_hub_publish(e->hub, pc.head);
}

/* The snapshot is published in the same stream as the updates, so that a
 * viewer sees it in order; the read API takes the same bytes. */
static void query_snapshot(kj_engine *e, kj_query *q)
{
    flush_unit(e, q->unit);
    uint64_t seq = unit_feed(e, q->unit)->seq;
    q->result = pack_frame(e->m, NULL, q->unit, seq, q->employee[0] ? q->employee : NULL, true);
    q->status = q->result ? 200 : 404;
    if (!q->result) {
        snprintf(q->error, sizeof q->error, "no unit %s", q->unit);
        return;
    }
    kj_pub *p = kj_pub_new(KJ_PUB_SNAPSHOT, q->unit, seq, kj_frame_ref(q->result));
    snprintf(p->employee, sizeof p->employee, "%s", q->employee);
    kj_hub_publish(e->hub, p);
}

static void query_units(kj_engine *e, kj_query *q)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    kj_metrics_pack_units(e->m, &pk);
    q->result = kj_frame_new(sb.data, sb.size);
    q->status = 200;
    msgpack_sbuffer_destroy(&sb);
}

struct series_pack {
    msgpack_packer *pk;
    size_t n;
    msgpack_sbuffer points;
    msgpack_packer ppk;
};

static void series_point(void *ctx, int64_t start, double value)
{
    struct series_pack *sp = ctx;
    msgpack_pack_array(&sp->ppk, 2);
    msgpack_pack_int64(&sp->ppk, start);
    msgpack_pack_double(&sp->ppk, value);
    sp->n++;
}

struct stored_ctx {
    kj_engine *e;
    const kj_series_plan *plan;
    kj_metric metric;
    struct series_pack *acc;
};

static int stored_point(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    struct stored_ctx *sc = ctx;
    int64_t start;
    double value;
    if (kj_metrics_stored_point(sc->e->m, sc->plan, sc->metric, k, kl, v, vl, &start, &value))
        series_point(sc->acc, start, value);
    return 0;
}

static kj_frame *pack_series(const kj_series_params *sp, struct series_pack *acc)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "scope", 5);
    msgpack_pack_str_with_body(&pk, sp->scope, strlen(sp->scope));
    msgpack_pack_str_with_body(&pk, "metric", 6);
    msgpack_pack_str_with_body(&pk, sp->metric, strlen(sp->metric));
    msgpack_pack_str_with_body(&pk, "res", 3);
    msgpack_pack_str_with_body(&pk, kj_res_name(sp->res), strlen(kj_res_name(sp->res)));
    msgpack_pack_str_with_body(&pk, "points", 6);
    msgpack_pack_array(&pk, acc->n);
    msgpack_sbuffer_write(&sb, acc->points.data, acc->points.size);
    kj_frame *f = kj_frame_new(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return f;
}

/* The points oldest first: day buckets older than memory from the store (one
 * short read transaction, at most KJ_SERIES_MAX_POINTS keys), then memory's. */
static kj_err read_series(kj_engine *e, const kj_scope_ref *ref, kj_metric metric,
                          const kj_series_plan *plan, struct series_pack *acc)
{
    struct stored_ctx ctx = {e, plan, metric, acc};
    kj_err err = KJ_OK;
    if (plan->lo_len)
        err = kj_store_each_agg_range(e->store, plan->lo, plan->lo_len, plan->hi, plan->hi_len,
                                      KJ_SERIES_MAX_POINTS, stored_point, &ctx);
    if (!err)
        err = kj_metrics_series(e->m, ref, metric, plan->res, plan->from, plan->to, series_point,
                                acc);
    return err;
}

/* Why a plan was refused, in q (400 / 404). */
static void series_refused(kj_query *q, kj_err err, const kj_series_plan *plan)
{
    const kj_series_params *sp = q->params;
    q->status = err == KJ_ERR_NOT_FOUND ? 404 : 400;
    if (err == KJ_ERR_NOT_FOUND)
        snprintf(q->error, sizeof q->error, "no such scope: %s", sp->scope);
    else if (err == KJ_ERR_TOO_BIG)
        snprintf(q->error, sizeof q->error,
                 "from, to: %zu %s buckets in range, at most %d per request", plan->points,
                 kj_res_name(sp->res), KJ_SERIES_MAX_POINTS);
    else
        snprintf(q->error, sizeof q->error, "res: must be minute, hour or day");
}

static void query_series(kj_engine *e, kj_query *q)
{
    kj_series_params *sp = q->params;
    kj_scope_ref ref;
    char buf[KJ_ID_MAX * 2 + 16];
    kj_metric metric;
    kj_series_plan plan;
    q->status = 400;
    if (!kj_scope_parse(sp->scope, &ref, buf, sizeof buf)) {
        snprintf(q->error, sizeof q->error, "scope: must be unit:U, employee:E or counter:U/C");
        return;
    }
    if (!kj_metric_parse(sp->metric, &metric)) {
        snprintf(q->error, sizeof q->error, "metric: unknown metric %s", sp->metric);
        return;
    }
    kj_err err = kj_metrics_series_plan(e->m, &ref, sp->res, sp->from, sp->to, &plan);
    if (err) {
        series_refused(q, err, &plan);
        return;
    }
    struct series_pack acc = {0};
    msgpack_sbuffer_init(&acc.points);
    msgpack_packer_init(&acc.ppk, &acc.points, msgpack_sbuffer_write);
    err = read_series(e, &ref, metric, &plan, &acc);
    if (err) {
        q->status = 500;
        snprintf(q->error, sizeof q->error, "series: reading the stored buckets failed: %s",
                 kj_strerror(err));
    } else {
        q->result = pack_series(sp, &acc);
        q->status = 200;
    }
    msgpack_sbuffer_destroy(&acc.points);
}

static void answer_queries(kj_engine *e)
{
    kj_query *q = kj_hub_take_queries(e->hub);
    while (q) {
        kj_query *next = q->next;
        switch (q->kind) {
        case KJ_Q_SNAPSHOT: query_snapshot(e, q); break;
        case KJ_Q_UNITS: query_units(e, q); break;
        case KJ_Q_SERIES: query_series(e, q); break;
        case KJ_Q_OVERVIEW: query_overview(e, q); break;
        case KJ_Q_RAPOR: q->status = 500; break; /* a rapor worker's, never asked here */
        }
        kj_hub_answer(e->hub, q);
        q = next;
    }
}

static bool key_expired(void *ctx, const void *key, size_t klen)
{
    return kj_metrics_key_expired(ctx, key, klen);
}

/* A step of the id filter's renewal (store.h), which retention's deletions
 * bring on; true while it goes on. */
static bool renew_filter(kj_engine *e)
{
    bool renewing, renewed;
    kj_err err = kj_store_renew_filter(e->store, FILTER_STEP_RUNS, &renewing, &renewed);
    kj_store_stats st;
    if (err)
        kj_warn("id filter: renewal stopped (%s): the filter as it was stays", kj_strerror(err));
    else if (renewed && kj_store_get_stats(e->store, &st) == KJ_OK)
        kj_info("id filter: renewed from the id index, %llu ids and families in it",
                (unsigned long long)st.id_filter_ids);
    return renewing;
}

/* One small step of retention; true when there is more to do now. Raw events
 * and alerts expire from the front of their time-ordered logs; aggregates are
 * scattered by scope, so they go in passes over the whole table, a bounded
 * step at a time, and only every AGG_PASS_EVERY_MS (the shortest-lived, the
 * minute buckets, live two hours). */
static bool retention_step(kj_engine *e)
{
    int64_t now = kj_metrics_now(e->m);
    int64_t horizon = now - (int64_t)e->cfg->retention_days * KJ_DAY_MS;
    size_t n = 0, total = 0;
    bool busy = false;
    if (kj_store_expire_events(e->store, horizon, RETENTION_STEP, &n) == KJ_OK) total += n;
    busy |= n >= RETENTION_STEP;
    if (kj_store_expire_alerts(e->store, horizon, RETENTION_STEP, &n) == KJ_OK) total += n;
    busy |= n >= RETENTION_STEP;
    busy |= renew_filter(e);
    if (e->agg_pass || kj_mono_ms() - e->last_agg_pass_ms >= AGG_PASS_EVERY_MS) {
        bool done = true;
        if (kj_store_expire_aggs(e->store, key_expired, e->m, AGG_SCAN_STEP, &n, &done) == KJ_OK)
            total += n;
        e->agg_pass = !done;
        if (done) e->last_agg_pass_ms = kj_mono_ms();
        busy |= e->agg_pass;
    }
    if (total) kj_debug("retention: %zu entries deleted", total);
    return busy;
}

static int64_t hook_between(void *ctx, kj_store *s)
{
    (void)s;
    kj_engine *e = ctx;
    if (kj_metrics_tick(e->m, kj_now_ms()) == KJ_OK) e->changes_waiting = true;
    kj_metrics_take_queue_notes(e->m, log_expiry, e);
    commit_pending(e);
    answer_queries(e);
    int64_t wait_ms = publish_changes(e);
    int64_t overview_ms = publish_overview(e);
    if (overview_ms && (!wait_ms || overview_ms < wait_ms)) wait_ms = overview_ms;
    if (e->retention_busy || kj_mono_ms() - e->last_retention_ms >= RETENTION_EVERY_MS) {
        e->retention_busy = retention_step(e);
        e->last_retention_ms = kj_mono_ms();
    }
    if (e->retention_busy) return 1000;           /* 1 ms: let producers in between the steps */
    if (!wait_ms) wait_ms = 1000;                 /* the clock: windows move without events */
    int64_t due = kj_metrics_next_deadline(e->m); /* a hold or an escalation (SPEC §16) */
    if (due) {
        int64_t left = due - kj_now_ms();
        if (left < wait_ms) wait_ms = left > 1 ? left : 1;
    }
    return wait_ms * 1000;
}

/* At a clean stop, the writer gone: see kj_metrics_checkpoint. */
kj_err kj_engine_checkpoint(kj_engine *e)
{
    int64_t t0 = kj_mono_ms();
    kj_store_txn *t;
    kj_err err = kj_store_begin(e->store, &t);
    if (!err) {
        kj_metrics_sink sink = {t, sink_put, NULL};
        err = kj_metrics_checkpoint(e->m, &sink);
        err = err ? (kj_store_abort(t), err) : kj_store_commit(t);
    }
    if (err)
        kj_warn("no checkpoint (%s): the next start merges every stored bucket", kj_strerror(err));
    else
        kj_info("checkpoint of the window totals stored in %lld ms",
                (long long)(kj_mono_ms() - t0));
    return err;
}

kj_ingest_hooks kj_engine_hooks(kj_engine *e)
{
    kj_ingest_hooks h = {
        .ctx = e,
        .begin = hook_begin,
        .admit = hook_admit,
        .apply = hook_apply,
        .persist = hook_persist,
        .commit = hook_commit,
        .rollback = hook_rollback,
        .between = hook_between,
        .configure = hook_configure,
    };
    return h;
}

/* --- rebuild --- */

struct rebuild {
    const kj_config *cfg;
    int64_t now;
    kj_store *store;
    kj_metrics *m;
    kj_store_txn *t;
    size_t in_txn, total;
    kj_err err;
};

/* Alerts are history: a rebuild keeps the stored ones and makes none. */
static kj_err drop_alert(void *ctx, int64_t at, const void *v, size_t vl)
{
    (void)ctx, (void)at, (void)v, (void)vl;
    return KJ_OK;
}

static void ignore_alert(void *ctx, const kj_alert *a)
{
    (void)ctx, (void)a;
}

static kj_err rebuild_flush(struct rebuild *r)
{
    if (!r->t) return KJ_OK;
    kj_metrics_sink sink = {r->t, sink_put, drop_alert};
    kj_err err = kj_metrics_each_dirty(r->m, &sink);
    if (!err)
        err = kj_store_commit(r->t);
    else
        kj_store_abort(r->t);
    r->t = NULL;
    if (err) return err;
    kj_metrics_commit(r->m);
    kj_metrics_take_alerts(r->m, ignore_alert, NULL);
    kj_metrics_take_queue_notes(r->m, log_expiry, NULL);
    r->in_txn = 0;
    return KJ_OK;
}

/* The raw log comes in time order. The engine's clock follows it a day at a
 * time, so that every day bucket is within the engine's horizon while its
 * events arrive and is stored, however old (up to retention_days); at the end
 * the clock moves on to now. */
static kj_err rebuild_clock(struct rebuild *r, int64_t ts)
{
    int64_t to = ts < r->now ? ts : r->now;
    if (!r->m) return kj_metrics_new(r->cfg, to, &r->m);
    if (to < kj_metrics_today_start(r->m) + KJ_DAY_MS) return KJ_OK;
    kj_err err = rebuild_flush(r);
    return err ? err : kj_metrics_tick(r->m, to);
}

static kj_err rebuild_begin(struct rebuild *r)
{
    if (r->t) return KJ_OK;
    kj_err err = kj_store_begin(r->store, &r->t);
    if (!err) kj_metrics_begin(r->m);
    return err;
}

static int rebuild_event(void *ctx, const kj_event *ev)
{
    struct rebuild *r = ctx;
    if ((r->err = rebuild_clock(r, ev->ts)) || (r->err = rebuild_begin(r))) return 1;
    if ((r->err = kj_metrics_apply(r->m, ev))) return 1;
    if (ev->type == KJ_EV_ASSESSMENT && (r->err = kj_assess_put(r->t, ev))) return 1;
    r->total++;
    if (++r->in_txn >= REBUILD_GROUP && (r->err = rebuild_flush(r))) return 1;
    return 0;
}

kj_err kj_engine_rebuild(const kj_config *cfg, kj_store *store, size_t *events, char *msg,
                         size_t msglen)
{
    struct rebuild r = {cfg, kj_now_ms(), store, NULL, NULL, 0, 0, KJ_OK};
    kj_err err = kj_store_clear_aggs(store);
    if (!err) {
        err = kj_store_each_event(store, INT64_MIN, INT64_MAX, NULL, rebuild_event, &r);
        if (r.err) err = r.err;
    }
    if (!err) err = rebuild_clock(&r, r.now); /* no events: the engine is made here */
    if (!err) err = rebuild_flush(&r);
    if (!err) err = kj_metrics_tick(r.m, r.now);
    if (!err && kj_metrics_pending(r.m)) err = rebuild_begin(&r); /* the last tick's folds */
    if (!err) err = rebuild_flush(&r);
    if (r.t) {
        kj_store_abort(r.t);
        kj_metrics_rollback(r.m);
    }
    if (err)
        snprintf(msg, msglen, "rebuild failed after %zu events: %s", r.total, kj_strerror(err));
    kj_metrics_free(r.m);
    *events = r.total;
    return err;
}
