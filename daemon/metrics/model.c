/* The engine's model (model.h): the scope table and its look-ups, units and
 * members, the group's touched and changed marks, the encode buffer, bucket
 * arithmetic and open buckets. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/hash.h"

#define DEFAULT_SLA_MS 900000

const int32_t kj_sw_len[KJ_WIN_COUNT] = {
    [KJ_WIN_15M] = 15, [KJ_WIN_1H] = 60, [KJ_WIN_7D] = 168, [KJ_WIN_30D] = 720};
const uint8_t kj_sw_res[KJ_WIN_COUNT] = {[KJ_WIN_15M] = KJ_RES_MINUTE,
                                         [KJ_WIN_1H] = KJ_RES_MINUTE,
                                         [KJ_WIN_7D] = KJ_RES_HOUR,
                                         [KJ_WIN_30D] = KJ_RES_HOUR};

void vec_push(vec *v, const void *item, size_t size)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 16;
        v->items = kj_realloc(v->items, v->cap * size);
    }
    memcpy((char *)v->items + v->n * size, item, size);
    v->n++;
}

uint8_t *kj_m_enc(kj_metrics *m, size_t need)
{
    if (need > m->enc_cap) {
        m->enc_cap = need + need / 2;
        m->enc = kj_realloc(m->enc, m->enc_cap);
    }
    return m->enc;
}

int32_t kj_m_bucket_of(const kj_metrics *m, kj_res res, int64_t ts)
{
    if (res == KJ_RES_MINUTE) return (int32_t)kj_floor_div(ts, KJ_MINUTE_MS);
    if (res == KJ_RES_HOUR) return (int32_t)kj_floor_div(ts, KJ_HOUR_MS);
    if (ts >= m->today_start && ts < m->tomorrow_start) return m->today;
    return kj_tz_day(m->tz, ts);
}

int64_t kj_m_bucket_ms(kj_res res, int32_t start)
{
    return (int64_t)start * kj_res_ms(res);
}

/* The oldest bucket start kept in memory (and written) for res. */
int32_t kj_m_horizon(const kj_metrics *m, kj_res res)
{
    if (res == KJ_RES_MINUTE) return m->now_min - kj_sw_len[KJ_WIN_1H] + 1;
    if (res == KJ_RES_HOUR) return m->now_hour - kj_sw_len[KJ_WIN_30D] + 1;
    return m->today - m->day_keep + 1;
}

int64_t kj_metrics_now(const kj_metrics *m)
{
    return m->now;
}

int64_t kj_metrics_today_start(const kj_metrics *m)
{
    return m->today_start;
}

bool kj_metrics_in_group(const kj_metrics *m)
{
    return m->in_group;
}

static uint32_t hash_of(kj_scope_kind kind, const char *unit, const char *id)
{
    uint32_t h = KJ_HASH_SEED ^ (uint32_t)kind;
    if (kind == KJ_SCOPE_COUNTER) h = kj_hash_bytes(kj_hash_str(h, unit), "/", 1);
    return kj_hash_str(h, id);
}

static bool same_scope(const kj_scope *sc, kj_scope_kind kind, const char *unit, const char *id)
{
    return sc->kind == kind && !strcmp(sc->id, id) &&
           (kind != KJ_SCOPE_COUNTER || !strcmp(sc->unit->sc->id, unit));
}

kj_scope *kj_m_find(kj_metrics *m, kj_scope_kind kind, const char *unit, const char *id)
{
    if (kind == KJ_SCOPE_COUNTER && !unit) return NULL;
    uint32_t h = hash_of(kind, unit, id);
    for (kj_scope *sc = m->table[h & (m->table_cap - 1)]; sc; sc = sc->hnext)
        if (sc->hash == h && same_scope(sc, kind, unit, id)) return sc;
    return NULL;
}

static void table_grow(kj_metrics *m)
{
    size_t cap = m->table_cap * 2;
    kj_scope **t = kj_calloc(cap, sizeof *t);
    for (size_t i = 0; i < m->table_cap; i++) {
        for (kj_scope *sc = m->table[i], *next; sc; sc = next) {
            next = sc->hnext;
            sc->hnext = t[sc->hash & (cap - 1)];
            t[sc->hash & (cap - 1)] = sc;
        }
    }
    free(m->table);
    m->table = t;
    m->table_cap = cap;
}

void kj_m_touch(kj_metrics *m, kj_scope *sc, uint8_t flag)
{
    if (!m->in_group) return;
    if (!(sc->flags & SC_TOUCHED)) {
        sc->flags |= SC_TOUCHED;
        vec_push(&m->touched, &sc, sizeof sc);
    }
    sc->flags |= flag;
}

static kj_scope *scope_new(kj_metrics *m, kj_scope_kind kind, const char *id, uint32_t h)
{
    kj_scope *sc = kj_calloc(1, sizeof *sc);
    sc->kind = (uint8_t)kind;
    sc->hash = h;
    snprintf(sc->id, sizeof sc->id, "%s", id); /* ids are checked: at most KJ_ID_MAX */
    if (m->n_scopes + 1 > m->table_cap) table_grow(m);
    sc->hnext = m->table[h & (m->table_cap - 1)];
    m->table[h & (m->table_cap - 1)] = sc;
    m->n_scopes++;
    /* A scope first seen in a group disappears again if the group rolls back;
     * units and counters get a directory key so that they survive a restart
     * even without buckets. */
    if (m->in_group) kj_m_touch(m, sc, SC_CREATED | (kind != KJ_SCOPE_EMPLOYEE ? SC_DIRECTORY : 0));
    return sc;
}

int64_t kj_m_sla_of(const kj_metrics *m, const char *unit_id)
{
    const kj_unit_conf *uc = m->cfg ? kj_config_unit(m->cfg, unit_id) : NULL;
    return uc && uc->sla_wait_ms > 0 ? uc->sla_wait_ms : DEFAULT_SLA_MS;
}

kj_unit *kj_m_unit(kj_metrics *m, const char *id, bool from_load)
{
    return kj_m_get(m, KJ_SCOPE_UNIT, id, id, from_load)->unit;
}

kj_scope *kj_m_get(kj_metrics *m, kj_scope_kind kind, const char *unit_id, const char *id,
                   bool from_load)
{
    kj_scope *sc = kj_m_find(m, kind, unit_id, id);
    if (sc) return sc;
    (void)from_load; /* loading happens outside groups: nothing to undo or store */
    kj_unit *owner = kind == KJ_SCOPE_COUNTER ? kj_m_unit(m, unit_id, from_load) : NULL;
    sc = scope_new(m, kind, id, hash_of(kind, unit_id, id));
    if (kind == KJ_SCOPE_UNIT) {
        kj_unit *u = kj_calloc(1, sizeof *u);
        u->sc = sc;
        u->sla_wait_ms = kj_m_sla_of(m, id);
        sc->unit = u;
        m->hooks.setup_unit(m, u, NULL);
        m->n_units++;
    } else if (kind == KJ_SCOPE_COUNTER) {
        sc->unit = owner;
        if (owner->n_counters == owner->cap_counters) {
            owner->cap_counters = owner->cap_counters ? 2 * owner->cap_counters : 4;
            owner->counters =
                kj_realloc(owner->counters, owner->cap_counters * sizeof *owner->counters);
        }
        size_t at = owner->n_counters;
        while (at > 0 && strcmp(owner->counters[at - 1]->id, id) > 0)
            at--;
        memmove(&owner->counters[at + 1], &owner->counters[at],
                (owner->n_counters - at) * sizeof *owner->counters);
        owner->counters[at] = sc;
        owner->n_counters++;
        m->n_counters++;
    } else {
        m->n_employees++;
    }
    return sc;
}

void kj_m_add_member(kj_metrics *m, kj_unit *u, kj_scope *e, bool from_load)
{
    for (uint32_t i = 0; i < e->n_units; i++) /* an employee is in one unit or a few */
        if (e->units[i] == u) return;
    if (u->n_members == u->cap_members) {
        u->cap_members = u->cap_members ? 2 * u->cap_members : 8;
        u->members = kj_realloc(u->members, u->cap_members * sizeof *u->members);
    }
    /* Sorted by id: a restart (which loads in key order) rebuilds the same
     * order, and frames list members the same way every time. */
    size_t at = u->n_members;
    while (at > 0 && strcmp(u->members[at - 1].sc->id, e->id) > 0)
        at--;
    memmove(&u->members[at + 1], &u->members[at], (u->n_members - at) * sizeof *u->members);
    u->n_members++;
    member *mb = &u->members[at];
    mb->sc = e;
    /* Every member takes its first status silently, a new one as much as a
     * configured or restored one: a member that appears is no change of
     * status (SPEC §16: no "none -> bad" for each newcomer). */
    mb->hold = NULL;
    mb->feedback = NULL;
    mb->n_feedback = 0;
    m->hooks.setup_member(u, mb, STATUS_UNSET);
    if (!m->in_group || from_load) m->need_baseline = true;
    e->units = kj_realloc(e->units, (e->n_units + 1) * sizeof *e->units);
    e->units[e->n_units++] = u;
    if (m->in_group) {
        undo un = {.kind = UNDO_MEMBER, .u = u, .p.scope = e};
        vec_push(&m->undo, &un, sizeof un);
        kj_m_touch(m, e, 0);
    }
}

void kj_m_mark_changed(kj_metrics *m, kj_scope *sc)
{
    sc->flags |= SC_CHANGED;
    kj_unit *one = sc->unit;
    kj_unit **list = sc->kind == KJ_SCOPE_EMPLOYEE ? sc->units : &one;
    size_t n = sc->kind == KJ_SCOPE_EMPLOYEE ? sc->n_units : 1;
    for (size_t i = 0; i < n; i++) {
        if (list[i]->changed) continue;
        list[i]->changed = true;
        vec_push(&m->changed_units, &list[i], sizeof list[i]);
    }
}

open_bucket *kj_m_open_find(kj_scope *sc, kj_res res, int32_t start)
{
    for (unsigned i = 0; i < sc->n_open; i++)
        if (sc->open[i].start == start && sc->open[i].res == res) return &sc->open[i];
    return NULL;
}

open_bucket *kj_m_open(kj_metrics *m, kj_scope *sc, kj_res res, int32_t start)
{
    (void)m;
    open_bucket *ob = kj_m_open_find(sc, res, start);
    if (ob) return ob;
    if (sc->n_open == sc->cap_open) {
        sc->cap_open = (uint16_t)(sc->cap_open ? 2 * sc->cap_open : 4);
        sc->open = kj_realloc(sc->open, sc->cap_open * sizeof *sc->open);
    }
    ob = &sc->open[sc->n_open++];
    memset(ob, 0, sizeof *ob);
    ob->start = start;
    ob->res = (uint8_t)res;
    series_rec rec;
    if (kj_series_find(&sc->ser[res], start, &rec)) kj_agg_decode(&ob->agg, rec.data, rec.len);
    return ob;
}

/* A counter of u: with its unit known, the look-up compares the unit by
 * pointer (every service event looks one up). */
kj_scope *kj_m_counter_of(kj_metrics *m, kj_unit *u, const char *id)
{
    uint32_t h = hash_of(KJ_SCOPE_COUNTER, u->sc->id, id);
    for (kj_scope *sc = m->table[h & (m->table_cap - 1)]; sc; sc = sc->hnext)
        if (sc->hash == h && sc->unit == u && sc->kind == KJ_SCOPE_COUNTER && !strcmp(sc->id, id))
            return sc;
    return kj_m_get(m, KJ_SCOPE_COUNTER, u->sc->id, id, false);
}
