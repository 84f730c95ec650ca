/* The life of an alert: ids, acknowledgements (see alerts.h). */
#include "alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"

static kj_alert *find(kj_unit *u, const char *id)
{
    for (size_t i = u->n_alerts; i-- > 0;)
        if (!strcmp(u->alerts[i].id, id)) return &u->alerts[i];
    return NULL;
}

static void append(kj_unit *u, const kj_alert *a)
{
    if (u->n_alerts == u->cap_alerts) {
        u->cap_alerts = u->cap_alerts ? 2 * u->cap_alerts : 8;
        u->alerts = kj_realloc(u->alerts, u->cap_alerts * sizeof *u->alerts);
    }
    u->alerts[u->n_alerts++] = *a;
}

static char *dup_note(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = kj_malloc(n);
    memcpy(d, s, n);
    return d;
}

/* A pending record is a copy that owns its own note: the unit's alert may be
 * trimmed before the record is stored and taken. */
static void make_pending(kj_metrics *m, const kj_alert *a, kj_alert_change change)
{
    kj_alert rec = *a;
    rec.note = dup_note(a->note);
    rec.change = change;
    vec_push(&m->pending, &rec, sizeof rec);
}

static void note_deadline(kj_metrics *m, int64_t at)
{
    if (!m->life_deadline || at < m->life_deadline) m->life_deadline = at;
}

static const kj_indicator_conf *conf_of(const kj_unit *u, const char *indicator)
{
    for (size_t i = 0; i < u->n_inds; i++)
        if (!strcmp(u->inds[i]->id, indicator)) return u->inds[i];
    return NULL;
}

static bool may_escalate(const kj_unit *u, const kj_alert *a, int64_t *due)
{
    const kj_indicator_conf *ic = conf_of(u, a->indicator);
    if (!ic || ic->escalate_after_ms <= 0 || a->to != KJ_STATUS_BAD || a->acked || a->escalated)
        return false;
    *due = a->at + ic->escalate_after_ms;
    return true;
}

/* How many changes of a's indicator in a's scope the unit had today: with
 * the day, what tells this change apart from the others of its scope, the
 * same on every node that applied the same events (a restart keeps it: the
 * day's alerts are loaded back). */
static uint64_t nth_today(const kj_metrics *m, const kj_unit *u, const kj_alert *a)
{
    uint64_t n = 0;
    for (size_t i = 0; i < u->n_alerts; i++) {
        const kj_alert *o = &u->alerts[i];
        n += o->at >= m->today_start && !strcmp(o->indicator, a->indicator) &&
             !strcmp(o->scope, a->scope);
    }
    return n;
}

void kj_life_raise(kj_metrics *m, kj_unit *u, kj_alert *a)
{
    /* A hash that meets another of today's ids takes the next number. */
    uint64_t nth = nth_today(m, u, a);
    do
        kj_alert_make_id(a, m->today, nth++);
    while (find(u, a->id));
    if (m->in_group) {
        undo un = {.kind = UNDO_ALERTS, .u = u, .n = u->n_alerts};
        vec_push(&m->undo, &un, sizeof un);
    }
    append(u, a);
    make_pending(m, a, KJ_ALERT_NEW);
    int64_t due;
    if (may_escalate(u, a, &due)) note_deadline(m, due);
}

kj_err kj_metrics_admit(kj_metrics *m, const kj_event *ev, char *err, size_t errlen)
{
    if (ev->type != KJ_EV_ACK) return KJ_OK;
    kj_scope *sc = kj_m_find(m, KJ_SCOPE_UNIT, ev->unit, ev->unit);
    if (sc && find(sc->unit, ev->alert)) return KJ_OK;
    /* Only today's alerts (the ones a dashboard shows) can be acknowledged. */
    snprintf(err, errlen, "alert: unknown alert");
    return KJ_ERR_NOT_FOUND;
}

void kj_life_ack(kj_metrics *m, kj_unit *u, const kj_event *ev)
{
    kj_alert *a = find(u, ev->alert);
    if (!a || a->acked) return;
    if (m->in_group) {
        undo un = {.kind = UNDO_ACK, .u = u, .n = (size_t)(a - u->alerts)};
        vec_push(&m->undo, &un, sizeof un);
    }
    a->acked = true;
    a->acked_at = ev->ts;
    snprintf(a->acked_by, sizeof a->acked_by, "%s", ev->by);
    a->note = dup_note(ev->note);
    make_pending(m, a, KJ_ALERT_ACKED);
}

void kj_life_unack(kj_unit *u, size_t i)
{
    kj_alert *a = &u->alerts[i];
    free(a->note);
    a->note = NULL;
    a->acked = false;
    a->acked_at = 0;
    a->acked_by[0] = '\0';
}

void kj_life_load(kj_metrics *m, kj_unit *u, kj_alert *a)
{
    int64_t due;
    if (may_escalate(u, a, &due)) note_deadline(m, due);
    kj_alert *old = find(u, a->id);
    if (!old) {
        append(u, a);
        return;
    }
    free(old->note);
    *old = *a;
}

void kj_life_free_notes(kj_alert *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].note);
        a[i].note = NULL;
    }
}

/* ---- hold_ms ---- */

static void set_hold(kj_metrics *m, kj_hold *h, uint8_t candidate, int64_t since)
{
    if (m->in_group) {
        undo un = {
            .kind = UNDO_HOLD, .old_status = h->candidate, .p.hold = h, .n = (size_t)h->since};
        vec_push(&m->undo, &un, sizeof un);
    }
    h->candidate = candidate;
    h->since = since;
}

bool kj_life_settled(kj_metrics *m, kj_unit *u, member *mb, size_t i, uint8_t current, kj_status to)
{
    kj_hold **holds = mb ? &mb->hold : &u->hold;
    int64_t hold_ms = u->inds[i]->hold_ms;
    if (to == current || current == STATUS_UNSET || hold_ms <= 0) {
        if (*holds && (*holds)[i].candidate) set_hold(m, &(*holds)[i], 0, 0);
        return true;
    }
    if (!*holds) *holds = kj_calloc(u->n_inds, sizeof **holds); /* zero: nothing held */
    kj_hold *h = &(*holds)[i];
    if (h->candidate != to + 1) set_hold(m, h, (uint8_t)(to + 1), m->now);
    if (m->now - h->since < hold_ms) {
        note_deadline(m, h->since + hold_ms);
        return false;
    }
    set_hold(m, h, 0, 0);
    return true;
}

/* Re-judges slot i when its hold is due; marks the scope changed when its
 * status moved (the next publication carries it). */
static void due_hold(kj_metrics *m, kj_unit *u, size_t i, kj_scope *sc, member *mb)
{
    kj_hold *h = mb ? mb->hold : u->hold;
    if (!h || !h[i].candidate) return;
    int64_t due = h[i].since + u->inds[i]->hold_ms;
    if (m->now < due) {
        note_deadline(m, due);
        return;
    }
    uint8_t *slot = mb ? &mb->status[i] : &u->status[i];
    uint8_t before = *slot;
    m->hooks.eval_slot(m, u, i, sc, mb);
    if (*slot != before) kj_m_mark_changed(m, sc);
}

/* True when a newer alert of the same indicator and scope follows alerts[j]. */
static bool superseded(const kj_unit *u, size_t j)
{
    const kj_alert *a = &u->alerts[j];
    for (size_t k = j + 1; k < u->n_alerts; k++)
        if (!strcmp(u->alerts[k].indicator, a->indicator) && !strcmp(u->alerts[k].scope, a->scope))
            return true;
    return false;
}

static void escalate_due(kj_metrics *m, kj_unit *u)
{
    for (size_t j = 0; j < u->n_alerts; j++) {
        kj_alert *a = &u->alerts[j];
        int64_t due;
        if (!may_escalate(u, a, &due) || superseded(u, j)) continue;
        if (m->now < due) {
            note_deadline(m, due);
            continue;
        }
        a->escalated = true;
        make_pending(m, a, KJ_ALERT_ESCALATED);
    }
}

static void tick_unit(kj_metrics *m, kj_unit *u)
{
    for (size_t i = 0; i < u->n_inds; i++) {
        due_hold(m, u, i, u->sc, NULL);
        for (size_t k = 0; k < u->n_members; k++)
            due_hold(m, u, i, u->members[k].sc, &u->members[k]);
    }
    escalate_due(m, u);
}

void kj_life_tick(kj_metrics *m)
{
    if (!m->life_deadline || m->now < m->life_deadline) return;
    m->life_deadline = 0; /* each pending hold and escalation notes itself again */
    for (size_t i = 0; i < m->table_cap; i++)
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext)
            if (sc->kind == KJ_SCOPE_UNIT) tick_unit(m, sc->unit);
}

int64_t kj_metrics_next_deadline(const kj_metrics *m)
{
    return m->life_deadline;
}

void kj_life_drop_holds(kj_unit *u)
{
    free(u->hold);
    u->hold = NULL;
    for (size_t k = 0; k < u->n_members; k++) {
        free(u->members[k].hold);
        u->members[k].hold = NULL;
    }
}
