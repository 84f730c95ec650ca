/* The metrics engine's side of the queue (SPEC §13): each unit's kj_queue
 * (queue.c) fed from ticket events and services that name a ticket, saved for
 * rollback once per group, stored as one 'Q' key per ticket and day, loaded
 * back at start, reset at local midnight, and packed as the unit's `queue`.
 *
 * Key: 'Q' unit 0x00 day(be32, local days since 1970-01-01) ticket. Only
 * today's keys are loaded; older days' expire with the next retention pass. */
#include <stdio.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "metrics_queue.h"
#include "presence.h"
#include "queue.h"
#include "values.h"

#define KEY_QUEUE 'Q'
#define QUEUE_KEY_MAX (1 + KJ_ID_MAX + 1 + 4 + KJ_ID_MAX)
#define DEFAULT_MAX_TICKETS 5000

static size_t max_tickets(const kj_metrics *m)
{
    return m->cfg && m->cfg->max_open_tickets ? m->cfg->max_open_tickets : DEFAULT_MAX_TICKETS;
}

static void note(kj_metrics *m, kj_unit *u, const char *ticket, uint32_t count)
{
    kj_queue_note n = {.count = count};
    snprintf(n.unit, sizeof n.unit, "%s", u->sc->id);
    snprintf(n.ticket, sizeof n.ticket, "%s", ticket ? ticket : "");
    vec_push(&m->queue_notes, &n, sizeof n);
}

/* The queue as it was before the group, once per group. */
static void touch(kj_metrics *m, kj_unit *u)
{
    if (!u->queue_touched) {
        u->queue_touched = true;
        u->queue_saved = u->queue ? kj_queue_copy(u->queue) : NULL;
        vec_push(&m->queue_units, &u, sizeof u);
    }
    if (!u->queue) u->queue = kj_queue_new();
}

static kj_queue_step step_of(const kj_event *ev)
{
    if (ev->type == KJ_EV_SERVICE) return KJ_QSTEP_SERVED;
    switch (ev->ticket_state) {
    case KJ_TICKET_CALLED: return KJ_QSTEP_CALLED;
    case KJ_TICKET_CANCELLED: return KJ_QSTEP_CANCELLED;
    default: return KJ_QSTEP_ISSUED;
    }
}

void kj_mq_apply(kj_metrics *m, kj_unit *u, const kj_event *ev)
{
    /* Yesterday's tickets expired at midnight; tomorrow's (within the clock
     * skew) have no queue yet. */
    if (ev->ts < m->today_start || ev->ts >= m->tomorrow_start || !ev->ticket[0]) return;
    touch(m, u);
    char expired[KJ_ID_MAX + 1];
    if (kj_queue_apply(u->queue, ev->ticket, ev->service, step_of(ev), ev->ts, max_tickets(m),
                       expired)) {
        kj_m_mark_changed(m, u->sc);
        u->sc->flags |= SC_EVAL;
        kj_m_touch(m, u->sc, 0);
        m->queue_eval_at = 0; /* the next crossing may be sooner now */
    }
    if (expired[0]) note(m, u, expired, 1);
}

/* ---- groups ---- */

void kj_mq_commit(kj_metrics *m)
{
    kj_unit **list = m->queue_units.items;
    for (size_t i = 0; i < m->queue_units.n; i++) {
        kj_queue_free(list[i]->queue_saved);
        list[i]->queue_saved = NULL;
        list[i]->queue_touched = false;
        kj_queue_clean(list[i]->queue);
    }
    m->queue_units.n = 0;
}

void kj_mq_rollback(kj_metrics *m)
{
    kj_unit **list = m->queue_units.items;
    for (size_t i = 0; i < m->queue_units.n; i++) {
        kj_queue_free(list[i]->queue);
        list[i]->queue = list[i]->queue_saved;
        list[i]->queue_saved = NULL;
        list[i]->queue_touched = false;
    }
    m->queue_units.n = 0;
    m->queue_notes.n = 0; /* the expiries they report did not happen */
}

void kj_mq_free_unit(kj_unit *u)
{
    kj_queue_free(u->queue);
    kj_queue_free(u->queue_saved);
}

/* ---- keys ---- */

typedef struct qkey {
    uint8_t b[QUEUE_KEY_MAX];
    size_t n;
} qkey;

static void key_of(qkey *k, const char *unit, int32_t day, const char *ticket)
{
    size_t ul = strlen(unit), tl = strlen(ticket);
    k->n = 0;
    k->b[k->n++] = KEY_QUEUE;
    memcpy(k->b + k->n, unit, ul);
    k->n += ul;
    k->b[k->n++] = 0;
    for (int i = 3; i >= 0; i--)
        k->b[k->n++] = (uint8_t)((uint32_t)day >> (8 * i));
    memcpy(k->b + k->n, ticket, tl);
    k->n += tl;
}

struct put_ctx {
    kj_metrics *m;
    kj_unit *u;
    const kj_metrics_sink *sink;
};

static kj_err put_ticket(void *ctx, const char *ticket, const uint8_t *rec, size_t len)
{
    struct put_ctx *pc = ctx;
    qkey k;
    key_of(&k, pc->u->sc->id, pc->m->today, ticket);
    return pc->sink->put(pc->sink->ctx, k.b, k.n, rec, len);
}

kj_err kj_mq_dirty(kj_metrics *m, const kj_metrics_sink *sink)
{
    kj_unit **list = m->queue_units.items;
    kj_err err = KJ_OK;
    for (size_t i = 0; i < m->queue_units.n && !err && sink->put; i++) {
        struct put_ctx pc = {m, list[i], sink};
        err = kj_queue_each_dirty(list[i]->queue, put_ticket, &pc);
    }
    return err;
}

/* unit, day and ticket of a 'Q' key; false when malformed. */
static bool parse(const uint8_t *key, size_t klen, char *unit, int32_t *day, char *ticket)
{
    const uint8_t *end = klen > 1 ? memchr(key + 1, 0, klen - 1) : NULL;
    if (!end || key[0] != KEY_QUEUE) return false;
    size_t ul = (size_t)(end - key - 1), rest = klen - ul - 2;
    if (!kj_id_valid((const char *)key + 1, ul) || rest < 5 || rest - 4 > KJ_ID_MAX) return false;
    memcpy(unit, key + 1, ul);
    unit[ul] = '\0';
    uint32_t d = 0;
    for (int i = 0; i < 4; i++)
        d = d << 8 | end[1 + i];
    *day = (int32_t)d;
    memcpy(ticket, end + 5, rest - 4);
    ticket[rest - 4] = '\0';
    return true;
}

bool kj_mq_is_key(const void *key, size_t klen)
{
    return klen > 0 && ((const uint8_t *)key)[0] == KEY_QUEUE;
}

kj_err kj_mq_load(kj_metrics *m, const void *key, size_t klen, const void *val, size_t vlen)
{
    char unit[KJ_ID_MAX + 1], ticket[KJ_ID_MAX + 1];
    int32_t day;
    if (!parse(key, klen, unit, &day, ticket)) return KJ_ERR_DECODE;
    if (day != m->today) return KJ_OK; /* another day's: expired */
    kj_unit *u = kj_m_unit(m, unit, true);
    if (!u->queue) u->queue = kj_queue_new();
    return kj_queue_load(u->queue, ticket, val, vlen, max_tickets(m));
}

bool kj_mq_key_expired(const kj_metrics *m, const void *key, size_t klen)
{
    char unit[KJ_ID_MAX + 1], ticket[KJ_ID_MAX + 1];
    int32_t day;
    return parse(key, klen, unit, &day, ticket) && day < m->today;
}

/* ---- time ---- */

void kj_mq_new_day(kj_metrics *m)
{
    for (size_t i = 0; i < m->table_cap; i++) {
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext) {
            if (sc->kind != KJ_SCOPE_UNIT || !sc->unit->queue) continue;
            uint32_t n = kj_queue_new_day(sc->unit->queue);
            if (n) note(m, sc->unit, NULL, n);
            kj_m_mark_changed(m, sc);
            m->hooks.eval_scope(m, sc, false); /* the queue indicators start over */
        }
    }
}

void kj_metrics_take_queue_notes(kj_metrics *m, kj_queue_note_fn fn, void *ctx)
{
    kj_queue_note *n = m->queue_notes.items;
    for (size_t i = 0; i < m->queue_notes.n; i++)
        fn(ctx, &n[i]);
    m->queue_notes.n = 0;
}

/* ---- reading ---- */

bool kj_mq_stats(kj_metrics *m, kj_unit *u, int kind, kj_queue_stats *st)
{
    if (!u->queue) {
        memset(st, 0, sizeof *st);
        return kind == KJ_QUEUE_ALL;
    }
    kj_queue_stats_of(u->queue, kind, m->now, st);
    return true;
}

/* Counters that someone serves at, or where a member is available or serving
 * now: the divisor of est_wait_ms. */
static uint32_t staffed_counters(const kj_unit *u)
{
    uint32_t n = 0;
    for (size_t c = 0; c < u->n_counters; c++) {
        const kj_scope *ctr = u->counters[c];
        bool staffed = ctr->serv && ctr->serv->cur.employee;
        for (size_t i = 0; i < u->n_members && !staffed; i++) {
            const presence *p = u->members[i].sc->pres;
            staffed = p && p->cur.last.counter == ctr &&
                      (p->cur.last.state == KJ_PRESENCE_AVAILABLE ||
                       p->cur.last.state == KJ_PRESENCE_SERVING);
        }
        n += staffed;
    }
    return n;
}

static void pack_stats(msgpack_packer *pk, const kj_queue_stats *st, int64_t now, bool has_avg,
                       double avg_service_ms, uint32_t staffed, size_t extra)
{
    msgpack_pack_map(pk, 9 + extra);
    kj_pack_str(pk, "waiting");
    msgpack_pack_uint32(pk, st->waiting);
    kj_pack_str(pk, "oldest_issued_ts");
    if (st->waiting)
        msgpack_pack_int64(pk, st->oldest_issued_ts);
    else
        msgpack_pack_nil(pk);
    kj_pack_str(pk, "longest_wait_ms");
    msgpack_pack_int64(pk,
                       st->waiting && now > st->oldest_issued_ts ? now - st->oldest_issued_ts : 0);
    kj_pack_str(pk, "est_wait_ms");
    if (has_avg)
        msgpack_pack_int64(pk, (int64_t)(st->waiting * avg_service_ms / (staffed ? staffed : 1)));
    else
        msgpack_pack_nil(pk);
    kj_pack_str(pk, "issued_today");
    msgpack_pack_uint32(pk, st->issued_today);
    kj_pack_str(pk, "called_today");
    msgpack_pack_uint32(pk, st->called_today);
    kj_pack_str(pk, "cancelled_today");
    msgpack_pack_uint32(pk, st->cancelled_today);
    kj_pack_str(pk, "expired_today");
    msgpack_pack_uint32(pk, st->expired_today);
    kj_pack_str(pk, "arrivals_per_hour");
    msgpack_pack_uint32(pk, st->arrivals_last_hour);
}

/* The unit's `queue` object: the totals, and the same per service kind
 * under by_service. est_wait_ms uses the unit's 1h average service time for
 * every kind (services are not kept per kind). */
void kj_mq_pack(kj_metrics *m, kj_unit *u, msgpack_packer *pk)
{
    double avg = 0;
    bool has_avg = kj_m_value(m, u->sc, KJ_M_SERVICES_SERVICE_AVG, KJ_WIN_1H, &avg);
    uint32_t staffed = staffed_counters(u);
    kj_queue_stats st;
    kj_mq_stats(m, u, KJ_QUEUE_ALL, &st);
    pack_stats(pk, &st, m->now, has_avg, avg, staffed, 1);
    kj_pack_str(pk, "by_service");
    size_t kinds = u->queue ? kj_queue_kinds(u->queue) : 0;
    msgpack_pack_map(pk, kinds);
    for (size_t k = 0; k < kinds; k++) {
        kj_pack_str(pk, kj_queue_kind_name(u->queue, k));
        kj_queue_stats_of(u->queue, (int)k, m->now, &st);
        pack_stats(pk, &st, m->now, has_avg, avg, staffed, 0);
    }
}

/* ---- indicators on the queue now ---- */

#define QUEUE_EVAL_MS 10000 /* SPEC §13: at least every 10 s */

bool kj_mq_value(kj_metrics *m, const kj_unit *u, kj_metric metric, double *out)
{
    kj_queue_stats st;
    if (!u->queue) return false; /* no ticket today: no data */
    kj_queue_stats_of(u->queue, KJ_QUEUE_ALL, m->now, &st);
    if (metric == KJ_M_QUEUE_WAITING)
        *out = st.waiting;
    else if (metric == KJ_M_QUEUE_LONGEST_WAIT)
        *out =
            st.waiting && m->now > st.oldest_issued_ts ? (double)(m->now - st.oldest_issued_ts) : 0;
    else
        return false;
    return true;
}

/* When the unit's longest wait next crosses a bound of one of its
 * indicators on it (its target, the end of its warn band); INT64_MAX when
 * none is ahead. */
static int64_t next_crossing(const kj_metrics *m, const kj_unit *u, int64_t oldest)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < u->n_inds; i++) {
        if (u->ind_metric[i] != KJ_M_QUEUE_LONGEST_WAIT || !u->inds[i]->for_unit) continue;
        double t = u->inds[i]->target, w = u->inds[i]->warn_margin;
        double bounds[2] = {t, u->inds[i]->better == KJ_BETTER_LOWER ? t * (1 + w) : t * (1 - w)};
        for (int b = 0; b < 2; b++) {
            int64_t at = oldest + (int64_t)bounds[b] + 1;
            if (at > m->now && at < next) next = at;
        }
    }
    return next;
}

static bool has_queue_indicator(const kj_unit *u)
{
    for (size_t i = 0; i < u->n_inds; i++)
        if (u->inds[i]->window == KJ_WIN_NOW && u->inds[i]->for_unit) return true;
    return false;
}

/* Re-evaluate one unit's indicators; a changed status goes out as an update
 * (and its alert after it). */
static void reevaluate(kj_metrics *m, kj_unit *u)
{
    uint8_t before[64];
    size_t n = u->n_inds < sizeof before ? u->n_inds : sizeof before;
    memcpy(before, u->status, n);
    size_t alerts = m->pending.n;
    m->hooks.eval_scope(m, u->sc, false);
    if (memcmp(before, u->status, n) || m->pending.n != alerts) kj_m_mark_changed(m, u->sc);
}

/* Outside groups, from kj_metrics_tick: the waits grow with no event, so the
 * units with open tickets are looked at every QUEUE_EVAL_MS, or sooner when
 * a longest wait crosses a bound before that. */
void kj_mq_tick(kj_metrics *m)
{
    if (m->now < m->queue_eval_at) return;
    int64_t next = m->now + QUEUE_EVAL_MS;
    for (size_t i = 0; i < m->table_cap; i++) {
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext) {
            kj_unit *u = sc->kind == KJ_SCOPE_UNIT ? sc->unit : NULL;
            if (!u || !u->queue || !has_queue_indicator(u)) continue;
            kj_queue_stats st;
            kj_queue_stats_of(u->queue, KJ_QUEUE_ALL, m->now, &st);
            if (!st.waiting) continue;
            reevaluate(m, u);
            int64_t at = next_crossing(m, u, st.oldest_issued_ts);
            if (at < next) next = at;
        }
    }
    m->queue_eval_at = next;
}
