/* The metrics engine: events, groups (commit, rollback) and time, the top
 * of daemon/metrics/ and the only file that calls into every layer (the
 * layers are listed in model.h). The model (scopes, units, look-ups) lives in
 * model.c, windows in window.c, persistence in metrics_store.c, packing in
 * metrics_pack.c, indicator evaluation in eval.c. */
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "alerts.h"
#include "eval.h"
#include "feedback.h"
#include "metrics_fold.h"
#include "metrics_ledger.h"
#include "metrics_queue.h"
#include "metrics_store.h"
#include "presence.h"
#include "values.h"
#include "window.h"

#define TABLE_MIN 1024

/* ---- time ---- */

static void set_now(kj_metrics *m, int64_t now)
{
    m->now = now;
    m->now_min = (int32_t)kj_floor_div(now, KJ_MINUTE_MS);
    m->now_hour = (int32_t)kj_floor_div(now, KJ_HOUR_MS);
    if (now >= m->today_start && now < m->tomorrow_start) return;
    m->today = kj_tz_day(m->tz, now);
    m->today_start = kj_tz_day_start(m->tz, m->today);
    m->tomorrow_start = kj_tz_day_start(m->tz, m->today + 1);
}

static int32_t current_bucket(const kj_metrics *m, kj_res res)
{
    return res == KJ_RES_MINUTE ? m->now_min : res == KJ_RES_HOUR ? m->now_hour : m->today;
}

bool kj_metrics_pending(const kj_metrics *m)
{
    return !m->in_group && (m->pending.n > 0 || m->folded.n > 0 || kj_ledger_pending(m));
}

/* ---- the scope table ---- */

static void table_remove(kj_metrics *m, kj_scope *sc)
{
    for (kj_scope **p = &m->table[sc->hash & (m->table_cap - 1)]; *p; p = &(*p)->hnext) {
        if (*p == sc) {
            *p = sc->hnext;
            m->n_scopes--;
            return;
        }
    }
}

static void remove_member(kj_unit *u, kj_scope *e)
{
    for (size_t i = 0; i < u->n_members; i++) {
        if (u->members[i].sc != e) continue;
        free(u->members[i].status);
        free(u->members[i].hold);
        kj_fb_free_member(&u->members[i]);
        memmove(&u->members[i], &u->members[i + 1], (u->n_members - i - 1) * sizeof *u->members);
        u->n_members--;
        break;
    }
    for (uint32_t i = 0; i < e->n_units; i++) {
        if (e->units[i] != u) continue;
        memmove(&e->units[i], &e->units[i + 1], (e->n_units - i - 1) * sizeof *e->units);
        e->n_units--;
        break;
    }
}

/* ---- open buckets ---- */

static void close_open(kj_scope *sc, unsigned i)
{
    kj_agg_reset(&sc->open[i].agg);
    free(sc->open[i].pending);
    sc->open[i] = sc->open[--sc->n_open];
}

/* Free the decoded form of buckets no longer current (they stay encoded). */
static void close_stale(kj_metrics *m, kj_scope *sc)
{
    for (unsigned i = sc->n_open; i-- > 0;) {
        open_bucket *ob = &sc->open[i];
        if (!ob->touched && ob->start < current_bucket(m, ob->res)) close_open(sc, i);
    }
    if (!sc->n_open && sc->open) {
        free(sc->open);
        sc->open = NULL;
        sc->cap_open = 0;
    }
}

/* ---- events ---- */

/* Where an event goes, the same for each of its scopes: worked out once. */
typedef struct ev_plan {
    int32_t start[KJ_RES_COUNT];
    bool kept[KJ_RES_COUNT];   /* within the resolution's horizon */
    int last;                  /* the coarsest resolution it goes into now */
    bool closed[KJ_WIN_COUNT]; /* a late event: into the window's running total */
    bool visible;              /* in today or in a window: readers see it */
} ev_plan;

static void plan_event(const kj_metrics *m, const kj_event *ev, ev_plan *p)
{
    for (int res = 0; res < KJ_RES_COUNT; res++) {
        p->start[res] = kj_m_bucket_of(m, res, ev->ts);
        p->kept[res] = p->start[res] >= kj_m_horizon(m, res);
    }
    /* a pending minute reaches its hour and day when it is folded */
    p->last = p->start[KJ_RES_MINUTE] >= m->fold_min ? KJ_RES_MINUTE : KJ_RES_DAY;
    p->visible = p->start[KJ_RES_DAY] == m->today;
    for (int i = 0; i < KJ_WIN_SLIDING; i++) {
        kj_window w = kj_win_sliding[i];
        int32_t s = p->start[kj_sw_res[w]];
        p->visible |= kj_sw_holds(m, w, s);
        /* the current bucket is read alongside the running total */
        p->closed[w] = kj_sw_closed(m, w, s);
    }
}

/* The buckets an event goes into in sc, opened, by their places in sc->open
 * (a later open may move the array), and their cells asked for: the cells
 * lie in hists spread over megabytes, and asking for all three scopes' before
 * adding to any lets their cache misses overlap instead of following one
 * another. */
static void open_buckets(kj_metrics *m, kj_scope *sc, const kj_event *ev, const ev_plan *p,
                         uint16_t at[KJ_RES_COUNT])
{
    for (int res = 0; res <= p->last; res++)
        if (p->kept[res]) at[res] = (uint16_t)(kj_m_open(m, sc, res, p->start[res]) - sc->open);
    for (int res = 0; res <= p->last; res++)
        if (p->kept[res]) kj_agg_prefetch_event(&sc->open[at[res]].agg, ev);
}

static void add_to_scope(kj_metrics *m, kj_scope *sc, const kj_event *ev, int64_t sla,
                         const ev_plan *p, const uint16_t at[KJ_RES_COUNT])
{
    kj_m_touch(m, sc, SC_BUCKETS);
    if (p->last == KJ_RES_MINUTE) kj_m_pend(m, sc);
    for (int res = 0; res <= p->last; res++) {
        if (!p->kept[res]) continue; /* too old for this resolution */
        open_bucket *ob = &sc->open[at[res]];
        kj_agg_add_event(&ob->agg, ev, sla);
        ob->touched = 1;
    }
    for (int i = 0; i < KJ_WIN_SLIDING; i++)
        if (p->closed[kj_win_sliding[i]]) kj_agg_add_event(&sc->win[kj_win_sliding[i]], ev, sla);
    if (p->visible) {
        kj_m_mark_changed(m, sc);
        sc->flags |= SC_EVAL;
    }
}

kj_err kj_metrics_apply(kj_metrics *m, const kj_event *ev)
{
    if (!m->in_group || !ev->unit[0]) return KJ_ERR_INVALID;
    kj_unit *u = kj_m_unit(m, ev->unit, false);
    kj_scope *e =
        ev->employee[0] ? kj_m_get(m, KJ_SCOPE_EMPLOYEE, NULL, ev->employee, false) : NULL;
    kj_scope *c = ev->counter[0] ? kj_m_counter_of(m, u, ev->counter) : NULL;
    if (e) kj_m_add_member(m, u, e, false);
    m->evaluated = false;
    if (ev->type == KJ_EV_TICKET || (ev->type == KJ_EV_SERVICE && ev->ticket[0]))
        kj_mq_apply(m, u, ev);
    if (ev->type == KJ_EV_TICKET) return KJ_OK;
    if (ev->type == KJ_EV_PRESENCE) {
        if (e) kj_presence_apply(m, u, e, c, ev);
        return KJ_OK;
    }
    if (ev->type == KJ_EV_ACK) kj_life_ack(m, u, ev);
    if (ev->type == KJ_EV_FEEDBACK) kj_fb_note(m, ev);
    if (ev->type == KJ_EV_FEEDBACK || ev->type == KJ_EV_ACK) return KJ_OK; /* no metric */
    if (ev->type == KJ_EV_ASSESSMENT) return KJ_OK; /* no metric: stored by assess.c */
    if (ev->type == KJ_EV_SERVICE && c && e && ev->outcome != KJ_OUTCOME_NO_SHOW)
        kj_presence_note_service(m, c, e, ev->ts);
    ev_plan p;
    plan_event(m, ev, &p);
    kj_scope *sc[] = {u->sc, e, c};
    uint16_t at[3][KJ_RES_COUNT];
    for (int i = 0; i < 3; i++)
        if (sc[i]) open_buckets(m, sc[i], ev, &p, at[i]);
    for (int i = 0; i < 3; i++)
        if (sc[i]) add_to_scope(m, sc[i], ev, u->sla_wait_ms, &p, at[i]);
    return KJ_OK;
}

/* ---- groups ---- */

static void baseline_if_needed(kj_metrics *m)
{
    if (!m->need_baseline) return;
    m->need_baseline = false;
    kj_ind_baseline(m);
}

void kj_metrics_begin(kj_metrics *m)
{
    if (m->in_group) return;
    kj_m_finish_load(m);
    baseline_if_needed(m);
    m->in_group = true;
    m->evaluated = true;
    m->group_pending = m->pending.n;
}

static void commit_scope(kj_metrics *m, kj_scope *sc)
{
    for (unsigned i = 0; i < sc->n_open; i++) {
        open_bucket *ob = &sc->open[i];
        if (!ob->touched) continue;
        if (!ob->pending) {
            uint8_t *buf = kj_m_enc(m, KJ_AGG_ENCODED_MAX);
            size_t n = kj_agg_encode_kept(&ob->agg, buf);
            kj_series_put(&sc->ser[ob->res], ob->start, buf, (uint32_t)n);
        } else {
            kj_series_put(&sc->ser[ob->res], ob->start, ob->pending, ob->pending_len);
            free(ob->pending);
            ob->pending = NULL;
        }
        ob->touched = 0;
    }
    close_stale(m, sc);
    kj_presence_commit(sc);
    sc->flags &= SC_CHANGED | SC_FOLDED; /* folds are stored by the next save */
}

void kj_metrics_commit(kj_metrics *m)
{
    if (!m->in_group) return;
    kj_m_evaluate(m);
    kj_scope **t = m->touched.items;
    for (size_t i = 0; i < m->touched.n; i++)
        commit_scope(m, t[i]);
    kj_alert *a = m->pending.items;
    for (size_t i = 0; i < m->pending.n; i++) {
        vec_push(&m->committed, &a[i], sizeof a[i]);
        kj_unit *u = kj_m_find(m, KJ_SCOPE_UNIT, a[i].unit, a[i].unit)->unit;
        kj_ind_trim_alerts(m, u);
    }
    m->pending.n = 0;
    m->touched.n = 0;
    m->undo.n = 0;
    kj_fb_commit(m);
    kj_mq_commit(m);
    kj_ledger_commit(m);
    if (m->fold_writing) { /* each_dirty stored the folds */
        kj_scope **f = m->folded.items;
        for (size_t i = 0; i < m->folded.n; i++)
            f[i]->flags &= (uint8_t)~SC_FOLDED;
        m->folded.n = 0;
        m->fold_saved = m->fold_min;
        m->fold_stored = true;
        m->fold_writing = false;
    }
    if (m->ckpt_clearing) m->ckpt_stored = false;
    m->ckpt_clearing = false;
    m->in_group = false;
}

static void rollback_scope(kj_metrics *m, kj_scope *sc)
{
    for (unsigned i = sc->n_open; i-- > 0;)
        if (sc->open[i].touched) close_open(sc, i);
    kj_m_reopen_pending(m, sc);
    if (sc->flags & SC_BUCKETS) {
        kj_window_rebuild(m, sc, KJ_RES_MINUTE);
        kj_window_rebuild(m, sc, KJ_RES_HOUR);
    }
    kj_presence_rollback(sc);
}

static void scope_free(kj_scope *sc)
{
    for (int r = 0; r < KJ_RES_COUNT; r++)
        kj_series_free(&sc->ser[r]);
    while (sc->n_open)
        close_open(sc, sc->n_open - 1);
    free(sc->open);
    for (int w = 0; w < KJ_WIN_COUNT; w++)
        kj_agg_reset(&sc->win[w]);
    kj_presence_free(sc);
    free(sc->units);
    free(sc);
}

static void unit_free(kj_unit *u)
{
    kj_life_drop_holds(u);
    for (size_t i = 0; i < u->n_members; i++) {
        free(u->members[i].status);
        kj_fb_free_member(&u->members[i]);
    }
    free(u->members);
    free(u->counters);
    free(u->inds);
    free(u->ind_metric);
    free(u->status);
    kj_life_free_notes(u->alerts, u->n_alerts);
    free(u->alerts);
    kj_mq_free_unit(u);
    kj_ledger_free_unit(u);
    free(u);
}

/* Remove a scope created in a rolled-back group. Its dependents went first:
 * the touched list is in creation order and is walked backwards. */
static void destroy_created(kj_metrics *m, kj_scope *sc)
{
    table_remove(m, sc);
    kj_m_unpend(m, sc);
    if (sc->kind == KJ_SCOPE_COUNTER) {
        kj_unit *u = sc->unit;
        for (size_t i = 0; i < u->n_counters; i++) {
            if (u->counters[i] != sc) continue;
            memmove(&u->counters[i], &u->counters[i + 1],
                    (u->n_counters - i - 1) * sizeof *u->counters);
            u->n_counters--;
            break;
        }
        m->n_counters--;
    } else if (sc->kind == KJ_SCOPE_UNIT) {
        kj_unit **cu = m->changed_units.items;
        for (size_t i = 0; i < m->changed_units.n; i++) {
            if (cu[i] != sc->unit) continue;
            cu[i] = cu[--m->changed_units.n];
            break;
        }
        unit_free(sc->unit);
        m->n_units--;
    } else {
        m->n_employees--;
    }
    scope_free(sc);
}

static void replay_undo(kj_metrics *m)
{
    undo *un = m->undo.items;
    for (size_t i = m->undo.n; i-- > 0;) {
        if (un[i].kind == UNDO_MEMBER)
            remove_member(un[i].u, un[i].p.scope);
        else if (un[i].kind == UNDO_STATUS)
            *un[i].p.status = un[i].old_status;
        else if (un[i].kind == UNDO_ACK)
            kj_life_unack(un[i].u, un[i].n);
        else if (un[i].kind == UNDO_HOLD)
            *un[i].p.hold = (kj_hold){(int64_t)un[i].n, un[i].old_status};
        else
            un[i].u->n_alerts = un[i].n;
    }
    m->undo.n = 0;
}

void kj_metrics_rollback(kj_metrics *m)
{
    if (!m->in_group) return;
    kj_scope **t = m->touched.items;
    for (size_t i = 0; i < m->touched.n; i++)
        if (!(t[i]->flags & SC_CREATED)) rollback_scope(m, t[i]);
    replay_undo(m);
    kj_mq_rollback(m); /* before a unit the group created is freed */
    for (size_t i = m->touched.n; i-- > 0;) {
        if (t[i]->flags & SC_CREATED)
            destroy_created(m, t[i]);
        else
            t[i]->flags &= SC_CHANGED | SC_FOLDED;
    }
    kj_life_free_notes((kj_alert *)m->pending.items + m->group_pending,
                       m->pending.n - m->group_pending);
    m->pending.n = m->group_pending;
    m->touched.n = 0;
    kj_fb_rollback(m);
    m->ckpt_clearing = false;
    m->fold_writing = false;
    m->in_group = false;
}

/* ---- time moves ---- */

static bool day_moves(kj_metrics *m, kj_scope *sc, int32_t old_day)
{
    open_bucket *old = kj_m_open_find(sc, KJ_RES_DAY, old_day);
    bool had = old && !kj_agg_empty(&old->agg);
    return had || kj_m_today(m, sc) != NULL;
}

static bool scope_moves(kj_metrics *m, kj_scope *sc, int32_t old_min, int32_t old_hour,
                        int32_t old_day)
{
    bool ch = kj_window_advance(m, sc, KJ_RES_MINUTE, old_min, m->now_min);
    if (old_hour != m->now_hour) ch |= kj_window_advance(m, sc, KJ_RES_HOUR, old_hour, m->now_hour);
    if (old_day != m->today) {
        ch |= day_moves(m, sc, old_day);
        kj_series_drop_before(&sc->ser[KJ_RES_DAY], kj_m_horizon(m, KJ_RES_DAY));
    } else {
        /* services.per_hour of today divides by the hours elapsed */
        const kj_agg *t = kj_m_today(m, sc);
        ch |= t && t->services;
    }
    close_stale(m, sc);
    return ch;
}

static void move_windows(kj_metrics *m, int32_t old_min, int32_t old_hour, int32_t old_day);

kj_err kj_metrics_tick(kj_metrics *m, int64_t now)
{
    if (m->in_group) return KJ_ERR_BUSY;
    kj_m_finish_load(m);
    baseline_if_needed(m);
    if (now <= m->now) return KJ_OK;
    int32_t old_min = m->now_min, old_hour = m->now_hour, old_day = m->today;
    /* as of the old time: the minutes that close are current or later */
    kj_m_fold_all(m, (int32_t)kj_floor_div(now, KJ_MINUTE_MS), old_hour);
    if (now >= m->tomorrow_start) kj_ledger_close_day(m); /* as the day ends */
    set_now(m, now);
    if (old_day != m->today) kj_mq_new_day(m);
    kj_mq_tick(m);
    if (m->now_min != old_min) move_windows(m, old_min, old_hour, old_day);
    kj_life_tick(m); /* after the windows: a held status is judged on fresh values */
    return KJ_OK;
}

static void move_windows(kj_metrics *m, int32_t old_min, int32_t old_hour, int32_t old_day)
{
    for (size_t i = 0; i < m->table_cap; i++) {
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext) {
            if (!scope_moves(m, sc, old_min, old_hour, old_day)) continue;
            kj_m_mark_changed(m, sc);
            kj_ind_eval_scope(m, sc, false);
        }
    }
    if (old_day != m->today) {
        for (size_t i = 0; i < m->table_cap; i++)
            for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext)
                if (sc->kind == KJ_SCOPE_UNIT) kj_ind_trim_alerts(m, sc->unit);
    }
}

/* ---- life cycle ---- */

static void apply_config(kj_metrics *m, const kj_config *old)
{
    for (size_t i = 0; i < m->cfg->n_units; i++) {
        const kj_unit_conf *uc = &m->cfg->units[i];
        kj_unit *u = kj_m_unit(m, uc->id, false);
        for (size_t j = 0; j < uc->n_members; j++)
            kj_m_add_member(m, u, kj_m_get(m, KJ_SCOPE_EMPLOYEE, NULL, uc->members[j].id, false),
                            false);
        for (size_t j = 0; j < uc->n_counters; j++)
            kj_m_get(m, KJ_SCOPE_COUNTER, uc->id, uc->counters[j].id, false);
    }
    for (size_t i = 0; i < m->table_cap; i++) {
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext) {
            if (sc->kind != KJ_SCOPE_UNIT) continue;
            sc->unit->sla_wait_ms = kj_m_sla_of(m, sc->id);
            kj_ind_setup_unit(m, sc->unit, old);
        }
    }
    m->need_baseline = true;
}

static int32_t day_keep_of(const kj_config *cfg)
{
    int64_t age = cfg && cfg->max_event_age_ms > 0 ? cfg->max_event_age_ms : 35 * KJ_DAY_MS;
    return (int32_t)((age + KJ_DAY_MS - 1) / KJ_DAY_MS) + 1;
}

kj_err kj_metrics_new(const kj_config *cfg, int64_t now, kj_metrics **out)
{
    kj_tz *tz;
    kj_err err = kj_tz_load(cfg && cfg->timezone ? cfg->timezone : "Asia/Jakarta", &tz);
    if (err) return KJ_ERR_CONFIG;
    kj_metrics *m = kj_calloc(1, sizeof *m);
    m->cfg = cfg;
    m->tz = tz;
    m->day_keep = day_keep_of(cfg);
    m->table_cap = TABLE_MIN;
    m->table = kj_calloc(m->table_cap, sizeof *m->table);
    m->tomorrow_start = m->today_start = 0;
    set_now(m, now);
    m->fold_min = m->fold_saved = m->now_min;
    m->load_newest = INT32_MIN;
    m->hooks = (kj_m_hooks){.setup_unit = kj_ind_setup_unit,
                            .setup_member = kj_ind_setup_member,
                            .eval_slot = kj_ind_eval_slot,
                            .eval_scope = kj_ind_eval_scope};
    if (cfg) apply_config(m, NULL);
    *out = m;
    return KJ_OK;
}

kj_err kj_metrics_set_config(kj_metrics *m, const kj_config *cfg)
{
    if (m->in_group) return KJ_ERR_BUSY;
    kj_tz *tz;
    if (kj_tz_load(cfg->timezone ? cfg->timezone : "Asia/Jakarta", &tz)) return KJ_ERR_CONFIG;
    kj_tz_free(m->tz);
    m->tz = tz;
    /* Day buckets already stored keep the dates they were made with. */
    m->today_start = m->tomorrow_start = 0;
    set_now(m, m->now);
    const kj_config *old = m->cfg;
    m->cfg = cfg;
    m->day_keep = day_keep_of(cfg);
    apply_config(m, old);
    return KJ_OK;
}

void kj_metrics_free(kj_metrics *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->table_cap; i++) {
        for (kj_scope *sc = m->table[i], *next; sc; sc = next) {
            next = sc->hnext;
            if (sc->kind == KJ_SCOPE_UNIT) unit_free(sc->unit);
            scope_free(sc);
        }
    }
    free(m->table);
    free(m->touched.items);
    free(m->undo.items);
    kj_life_free_notes(m->pending.items, m->pending.n);
    kj_life_free_notes(m->committed.items, m->committed.n);
    kj_fb_rollback(m);
    free(m->fb_group.items);
    free(m->pending.items);
    free(m->committed.items);
    free(m->changed_units.items);
    free(m->queue_units.items);
    free(m->queue_notes.items);
    kj_ledger_free(m);
    free(m->folded.items);
    free(m->pend.items);
    kj_agg_reset(&m->scratch);
    kj_agg_reset(&m->view);
    free(m->enc);
    kj_tz_free(m->tz);
    free(m);
}

void kj_metrics_get_stats(const kj_metrics *m, kj_metrics_stats *out)
{
    memset(out, 0, sizeof *out);
    out->units = m->n_units;
    out->employees = m->n_employees;
    out->counters = m->n_counters;
    for (size_t i = 0; i < m->table_cap; i++) {
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext) {
            for (int r = 0; r < KJ_RES_COUNT; r++) {
                out->buckets += sc->ser[r].n;
                out->bucket_bytes += sc->ser[r].used;
            }
        }
    }
}

void kj_metrics_take_alerts(kj_metrics *m, kj_alert_fn fn, void *ctx)
{
    kj_alert *a = m->committed.items;
    for (size_t i = 0; i < m->committed.n; i++) {
        fn(ctx, &a[i]);
        kj_life_free_notes(&a[i], 1);
    }
    m->committed.n = 0;
}
