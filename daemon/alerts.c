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

void kj_life_raise(kj_metrics *m, kj_unit *u, kj_alert *a)
{
    /* The same placement twice in one ms (a flap within one evaluation
     * round) takes the next free sequence number: ids stay unique without a
     * counter that a restart would reset differently. */
    uint64_t seq = 0;
    do
        kj_alert_make_id(a, seq++);
    while (find(u, a->id));
    if (m->in_group) {
        undo un = {.kind = UNDO_ALERTS, .u = u, .n = u->n_alerts};
        vec_push(&m->undo, &un, sizeof un);
    }
    append(u, a);
    make_pending(m, a, KJ_ALERT_NEW);
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
    a->note = dup_note(ev->text);
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

void kj_life_load(kj_unit *u, kj_alert *a)
{
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
