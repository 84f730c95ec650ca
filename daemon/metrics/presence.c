/* Presence and serving state in event-time order (see presence.h). */
#include "presence.h"

#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "model.h"

#define VALUE_V1 1 /* the state alone (before histories) */
#define VALUE_V2 2 /* base state + history */

/* ---- folding ---- */

static void pres_fold(pres_state *s, const pres_event *e)
{
    bool same =
        s->last.state == e->state && s->last.unit == e->unit && s->last.counter == e->counter;
    if (!same) s->since = e->ts;
    s->last = *e;
}

static void serv_fold(serv_state *s, const serv_event *e)
{
    if (e->kind == SERV_SET && s->employee != e->employee) {
        s->employee = e->employee;
        s->since = e->ts;
    } else if (e->kind == SERV_LEFT && s->employee && s->employee == e->employee) {
        s->employee = NULL;
        s->since = e->ts;
    }
    s->ts = e->ts;
}

static bool before(int64_t ts, uint64_t seq, int64_t ts2, uint64_t seq2)
{
    return ts < ts2 || (ts == ts2 && seq < seq2);
}

/* The counter where an event says its employee serves, or NULL. */
static struct kj_scope *serving_at(const pres_event *e)
{
    return e && e->state == KJ_PRESENCE_SERVING ? e->counter : NULL;
}

static presence *presence_new(void)
{
    presence *p = kj_calloc(1, sizeof *p);
    p->base.last.state = -1;
    p->base.last.ts = INT64_MIN;
    p->cur = p->base;
    return p;
}

static serving *serving_new(void)
{
    serving *s = kj_calloc(1, sizeof *s);
    s->base.ts = INT64_MIN;
    s->cur = s->base;
    return s;
}

/* ---- saving for rollback ---- */

typedef struct saved_state {
    presence *p; /* deep copies, NULL when the scope had none */
    serving *s;
} saved_state;

static void presence_free(presence *p)
{
    if (p) free(p->hist);
    free(p);
}

static void serving_free(serving *s)
{
    if (s) free(s->buf);
    free(s);
}

static presence *presence_copy(const presence *p)
{
    if (!p) return NULL;
    presence *c = kj_malloc(sizeof *c);
    *c = *p;
    c->hist = p->n ? kj_malloc(p->n * sizeof *p->hist) : NULL;
    if (p->n) memcpy(c->hist, p->hist, p->n * sizeof *p->hist);
    c->cap = p->n;
    return c;
}

static serving *serving_copy(const serving *s)
{
    if (!s) return NULL;
    serving *c = kj_malloc(sizeof *c);
    *c = *s;
    c->buf = c->hist = s->n ? kj_malloc(s->n * sizeof *s->hist) : NULL;
    if (s->n) memcpy(c->hist, s->hist, s->n * sizeof *s->hist);
    c->cap = s->n;
    return c;
}

/* Keep the scope's state as it was before the group, once per group. */
static void save(kj_metrics *m, kj_scope *sc)
{
    if (sc->flags & SC_PRESENCE) return;
    kj_m_touch(m, sc, SC_PRESENCE);
    saved_state *s = kj_malloc(sizeof *s);
    s->p = presence_copy(sc->pres);
    s->s = serving_copy(sc->serv);
    sc->saved = s;
}

static void saved_free(saved_state *s)
{
    if (!s) return;
    presence_free(s->p);
    serving_free(s->s);
    free(s);
}

void kj_presence_commit(kj_scope *sc)
{
    saved_free(sc->saved);
    sc->saved = NULL;
}

void kj_presence_rollback(kj_scope *sc)
{
    saved_state *s = sc->saved;
    if (!s) return;
    presence_free(sc->pres);
    serving_free(sc->serv);
    sc->pres = s->p;
    sc->serv = s->s;
    free(s);
    sc->saved = NULL;
}

void kj_presence_free(kj_scope *sc)
{
    presence_free(sc->pres);
    serving_free(sc->serv);
    saved_free(sc->saved);
    sc->pres = NULL;
    sc->serv = NULL;
    sc->saved = NULL;
}

/* ---- histories ---- */

/* Room for one more entry of size bytes in *hist (n used, *cap allocated). */
static void *reserve(void *hist, uint32_t n, uint32_t *cap, size_t size)
{
    if (n < *cap) return hist;
    *cap = *cap ? 2 * *cap : 4;
    return kj_realloc(hist, *cap * size);
}

/* Room for one more piece at the end of s's history: the pieces move back to
 * the start of buf when at least as many have left it, else buf grows. */
static void serv_room(serving *s)
{
    uint32_t off = s->buf ? (uint32_t)(s->hist - s->buf) : 0;
    if (off + s->n < s->cap) return;
    if (off && off >= s->n) {
        memmove(s->buf, s->hist, s->n * sizeof *s->hist);
        off = 0;
    } else {
        s->cap = s->cap ? 2 * s->cap : 4;
        s->buf = kj_realloc(s->buf, s->cap * sizeof *s->buf);
    }
    s->hist = s->buf + off;
}

/* Insert e by (ts, seq); returns its index. */
static uint32_t pres_insert(presence *p, const pres_event *e)
{
    p->hist = reserve(p->hist, p->n, &p->cap, sizeof *p->hist);
    uint32_t i = p->n;
    while (i > 0 && before(e->ts, e->seq, p->hist[i - 1].ts, p->hist[i - 1].seq))
        i--;
    memmove(&p->hist[i + 1], &p->hist[i], (p->n - i) * sizeof *p->hist);
    p->hist[i] = *e;
    p->n++;
    return i;
}

static void pres_trim(presence *p)
{
    while (p->n > KJ_PRESENCE_KEEP) {
        pres_fold(&p->base, &p->hist[0]);
        memmove(&p->hist[0], &p->hist[1], --p->n * sizeof *p->hist);
    }
}

static bool pres_same(const pres_state *a, const pres_state *b)
{
    return a->last.state == b->last.state && a->last.ts == b->last.ts &&
           a->last.unit == b->last.unit && a->last.counter == b->last.counter &&
           a->since == b->since;
}

/* Fold again; a changed state is a change of the employee's object. */
static void pres_update(kj_metrics *m, kj_scope *e)
{
    presence *p = e->pres;
    pres_state was = p->cur;
    p->cur = p->base;
    for (uint32_t i = 0; i < p->n; i++)
        pres_fold(&p->cur, &p->hist[i]);
    if (!pres_same(&was, &p->cur)) kj_m_mark_changed(m, e);
}

/* `appended`: the history changed only by a newest piece at its end, which
 * folds onto the current state (most service events); otherwise the state
 * is folded afresh from the base. Moving the oldest pieces into the base
 * leaves the current state as it is. */
static void serv_update(kj_metrics *m, kj_scope *c, bool appended)
{
    serving *s = c->serv;
    serv_state was = s->cur;
    while (s->n > KJ_SERVING_KEEP) {
        serv_fold(&s->base, &s->hist[0]);
        s->hist++;
        s->n--;
    }
    if (appended) {
        serv_fold(&s->cur, &s->hist[s->n - 1]);
    } else {
        s->cur = s->base;
        for (uint32_t i = 0; i < s->n; i++)
            serv_fold(&s->cur, &s->hist[i]);
    }
    if (was.employee != s->cur.employee || was.since != s->cur.since) kj_m_mark_changed(m, c);
}

/* One piece of evidence about who serves at c. */
static void serv_add(kj_metrics *m, kj_scope *c, const serv_event *e)
{
    if (c->serv && e->ts < c->serv->base.ts) return; /* older than the history kept */
    save(m, c);
    serving *s = c->serv ? c->serv : (c->serv = serving_new());
    serv_room(s);
    uint32_t i = s->n;
    while (i > 0 && before(e->ts, e->seq, s->hist[i - 1].ts, s->hist[i - 1].seq))
        i--;
    memmove(&s->hist[i + 1], &s->hist[i], (s->n - i) * sizeof *s->hist);
    s->hist[i] = *e;
    s->n++;
    serv_update(m, c, i == s->n - 1);
}

/* Withdraw the LEFT that the presence event (ts, seq) gave c. Once folded
 * into the base it cannot be withdrawn: the base is then what a replay that
 * missed the event between would give. */
static void serv_remove(kj_metrics *m, kj_scope *c, int64_t ts, uint64_t seq)
{
    serving *s = c->serv;
    for (uint32_t i = 0; s && i < s->n; i++) {
        if (s->hist[i].ts != ts || s->hist[i].seq != seq || s->hist[i].kind != SERV_LEFT) continue;
        save(m, c);
        s = c->serv;
        memmove(&s->hist[i], &s->hist[i + 1], (s->n - i - 1) * sizeof *s->hist);
        s->n--;
        serv_update(m, c, false);
        return;
    }
}

/* An employee's event e also says where it no longer serves: a presence that
 * is not "serving at W" right after one that was (prev) is a LEFT at W. */
static kj_scope *left_counter(const pres_event *prev, const pres_event *e)
{
    kj_scope *w = serving_at(prev);
    return w != e->counter ? w : NULL;
}

/* Inserting e between prev and next changes the LEFT that next gives. */
static void relink_next(kj_metrics *m, kj_scope *emp, const pres_event *prev, const pres_event *e,
                        const pres_event *next)
{
    kj_scope *old = left_counter(prev, next), *now = left_counter(e, next);
    if (old == now) return;
    if (old) serv_remove(m, old, next->ts, next->seq);
    if (now) serv_add(m, now, &(serv_event){next->ts, next->seq, emp, SERV_LEFT});
}

void kj_presence_apply(kj_metrics *m, kj_unit *u, kj_scope *e, kj_scope *c, const kj_event *ev)
{
    if (e->pres && ev->ts < e->pres->base.last.ts) return; /* older than the history kept */
    save(m, e);
    presence *p = e->pres ? e->pres : (e->pres = presence_new());
    pres_event pe = {ev->ts, ++m->presence_seq, u, c, (int8_t)ev->state};
    uint32_t i = pres_insert(p, &pe);
    /* copies: serv_add never touches e's history, but stay safe */
    pres_event prev = i > 0 ? p->hist[i - 1] : p->base.last;
    bool has_next = i + 1 < p->n;
    pres_event next = has_next ? p->hist[i + 1] : pe;
    if (c)
        serv_add(m, c,
                 &(serv_event){pe.ts, pe.seq, e,
                               ev->state == KJ_PRESENCE_SERVING ? SERV_SET : SERV_LEFT});
    kj_scope *w = left_counter(&prev, &pe);
    if (w) serv_add(m, w, &(serv_event){pe.ts, pe.seq, e, SERV_LEFT});
    if (has_next) relink_next(m, e, &prev, &pe, &next);
    pres_trim(p);
    pres_update(m, e);
}

void kj_presence_note_service(kj_metrics *m, kj_scope *c, kj_scope *e, int64_t ts)
{
    serv_add(m, c, &(serv_event){ts, ++m->presence_seq, e, SERV_SET});
}

/* ---- stored values ---- */

static size_t put_id(uint8_t *p, const char *s)
{
    size_t n = strlen(s);
    p[0] = (uint8_t)n;
    memcpy(p + 1, s, n);
    return n + 1;
}

static const char *unit_id(const kj_unit *u)
{
    return u ? u->sc->id : "";
}

/* state + 1 (0: none, nothing follows), ts, seq, unit, counter */
static size_t put_pres_event(uint8_t *buf, const pres_event *e)
{
    size_t n = 0;
    buf[n++] = (uint8_t)(e->state + 1);
    if (e->state < 0) return n;
    n += kj_varint_put(buf + n, (uint64_t)e->ts);
    n += kj_varint_put(buf + n, e->seq);
    n += put_id(buf + n, unit_id(e->unit));
    n += put_id(buf + n, e->counter ? e->counter->id : "");
    return n;
}

#define PRES_EVENT_MAX (1 + 2 * 10 + 2 * (KJ_ID_MAX + 1))
#define SERV_EVENT_MAX (3 * 10) /* index and kind, ts, seq; plus one dictionary id */

/* v2: version, base (event, since), n, n events */
static size_t presence_value(const presence *p, uint8_t *buf)
{
    size_t n = 0;
    buf[n++] = VALUE_V2;
    n += put_pres_event(buf + n, &p->base.last);
    n += kj_varint_put(buf + n, (uint64_t)p->base.since);
    n += kj_varint_put(buf + n, p->n);
    for (uint32_t i = 0; i < p->n; i++)
        n += put_pres_event(buf + n, &p->hist[i]);
    return n;
}

/* The distinct employees of a counter's history, at most KJ_SERVING_KEEP, in
 * order of first appearance; found through a table of twice as many slots.
 * The value is encoded for every group that touches the counter, and a search
 * of the list for each event was n^2 compares (3 % of the writer's time with
 * single events). */
#define DICT_BITS 7
#define DICT_SLOTS (1u << DICT_BITS)
_Static_assert(DICT_SLOTS >= 2 * KJ_SERVING_KEEP && KJ_SERVING_KEEP <= 256,
               "DICT_SLOTS: twice the history at least; slot_index: a byte");

typedef struct serv_dict {
    kj_scope *list[KJ_SERVING_KEEP];
    uint32_t n;
    kj_scope *slot[DICT_SLOTS]; /* NULL: free */
    uint8_t slot_index[DICT_SLOTS];
} serv_dict;

static uint32_t serv_index(serv_dict *d, kj_scope *e)
{
    /* Fibonacci hashing: the product's top bits depend on all of the address's. */
    uint32_t h = (uint32_t)((uint64_t)(uintptr_t)e * 0x9E3779B97F4A7C15u >> (64 - DICT_BITS));
    for (uint32_t i = h;; i++) {
        uint32_t k = i & (DICT_SLOTS - 1);
        if (d->slot[k] == e) return d->slot_index[k];
        if (d->slot[k]) continue;
        d->slot[k] = e;
        d->slot_index[k] = (uint8_t)d->n;
        d->list[d->n] = e;
        return d->n++;
    }
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* v2: version, base (ts, since, employee), the history's distinct employees
 * (n, ids), n events oldest first: employee index << 1 | kind, ts minus the
 * previous ts, seq minus the previous seq (zigzag). A counter's value is
 * rewritten by every group that touches it: this keeps it at ~5 bytes an
 * event instead of ~30 with the employee id (an 18-digit NIP) in each. */
static size_t serving_value(const serving *s, uint8_t *buf)
{
    serv_dict d;
    d.n = 0;
    memset(d.slot, 0, sizeof d.slot);
    uint32_t idx[KJ_SERVING_KEEP];
    for (uint32_t i = 0; i < s->n; i++)
        idx[i] = serv_index(&d, s->hist[i].employee);
    size_t n = 0;
    buf[n++] = VALUE_V2;
    n += kj_varint_put(buf + n, (uint64_t)s->base.ts);
    n += kj_varint_put(buf + n, (uint64_t)s->base.since);
    n += put_id(buf + n, s->base.employee ? s->base.employee->id : "");
    n += kj_varint_put(buf + n, d.n);
    for (uint32_t i = 0; i < d.n; i++)
        n += put_id(buf + n, d.list[i]->id);
    n += kj_varint_put(buf + n, s->n);
    int64_t ts = 0, seq = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        const serv_event *e = &s->hist[i];
        n += kj_varint_put(buf + n, (uint64_t)idx[i] << 1 | e->kind);
        n += kj_varint_put(buf + n, zigzag(e->ts - ts));
        n += kj_varint_put(buf + n, zigzag((int64_t)e->seq - seq));
        ts = e->ts;
        seq = (int64_t)e->seq;
    }
    return n;
}

size_t kj_presence_value(kj_metrics *m, const kj_scope *sc, const uint8_t **out)
{
    uint8_t *buf;
    size_t n = 0;
    if (sc->kind == KJ_SCOPE_EMPLOYEE && sc->pres) {
        buf = kj_m_enc(m, 1 + PRES_EVENT_MAX + 20 + sc->pres->n * PRES_EVENT_MAX);
        n = presence_value(sc->pres, buf);
    } else if (sc->kind == KJ_SCOPE_COUNTER && sc->serv) {
        buf = kj_m_enc(m, 1 + 30 + KJ_ID_MAX + 1 + 10 +
                              sc->serv->n * (KJ_ID_MAX + 1 + SERV_EVENT_MAX));
        n = serving_value(sc->serv, buf);
    }
    if (n) *out = m->enc;
    return n;
}

typedef struct reader {
    kj_reader in;
    kj_metrics *m;
} reader;

static uint64_t rd_varint(reader *r)
{
    return kj_rd_varint(&r->in);
}

static uint8_t rd_byte(reader *r)
{
    if (r->in.bad || r->in.pos >= r->in.len) {
        r->in.bad = true;
        return 0;
    }
    return r->in.p[r->in.pos++];
}

/* A length-prefixed identifier, possibly empty. */
static void rd_id(reader *r, char *dst)
{
    size_t n = rd_byte(r);
    dst[0] = '\0';
    if (r->in.bad || !n) return;
    if (n > KJ_ID_MAX || n > r->in.len - r->in.pos ||
        !kj_id_valid((const char *)r->in.p + r->in.pos, n)) {
        r->in.bad = true;
        return;
    }
    memcpy(dst, r->in.p + r->in.pos, n);
    dst[n] = '\0';
    r->in.pos += n;
}

/* unit and counter ids of a presence event, as scopes (created at load) */
static void rd_place(reader *r, pres_event *e)
{
    char unit[KJ_ID_MAX + 1], counter[KJ_ID_MAX + 1];
    rd_id(r, unit);
    rd_id(r, counter);
    if (r->in.bad) return;
    e->unit = unit[0] ? kj_m_unit(r->m, unit, true) : NULL;
    e->counter =
        unit[0] && counter[0] ? kj_m_get(r->m, KJ_SCOPE_COUNTER, unit, counter, true) : NULL;
}

static kj_scope *rd_employee(reader *r)
{
    char id[KJ_ID_MAX + 1];
    rd_id(r, id);
    return !r->in.bad && id[0] ? kj_m_get(r->m, KJ_SCOPE_EMPLOYEE, NULL, id, true) : NULL;
}

static void rd_pres_event(reader *r, pres_event *e)
{
    uint8_t st = rd_byte(r);
    *e = (pres_event){.ts = INT64_MIN, .state = -1};
    if (r->in.bad || !st) return;
    r->in.bad |= st - 1 > KJ_PRESENCE_OFFLINE;
    e->state = (int8_t)(st - 1);
    e->ts = (int64_t)rd_varint(r);
    e->seq = rd_varint(r);
    rd_place(r, e);
    if (e->seq > r->m->presence_seq) r->m->presence_seq = e->seq;
}

static void load_presence_v1(reader *r, presence *p)
{
    uint8_t st = rd_byte(r);
    r->in.bad |= st > KJ_PRESENCE_OFFLINE;
    p->base.last.state = (int8_t)st;
    p->base.since = (int64_t)rd_varint(r);
    p->base.last.ts = (int64_t)rd_varint(r);
    rd_place(r, &p->base.last);
}

static void load_presence_v2(reader *r, presence *p)
{
    rd_pres_event(r, &p->base.last);
    p->base.since = (int64_t)rd_varint(r);
    uint64_t n = rd_varint(r);
    r->in.bad |= n > KJ_PRESENCE_KEEP;
    for (uint64_t i = 0; i < n && !r->in.bad; i++) {
        p->hist = reserve(p->hist, p->n, &p->cap, sizeof *p->hist);
        rd_pres_event(r, &p->hist[p->n]);
        r->in.bad |= p->hist[p->n].state < 0;
        p->n++;
    }
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void load_serving_v2(reader *r, serving *s)
{
    s->base.ts = (int64_t)rd_varint(r);
    s->base.since = (int64_t)rd_varint(r);
    s->base.employee = rd_employee(r);
    kj_scope *dict[KJ_SERVING_KEEP];
    uint64_t nd = rd_varint(r);
    r->in.bad |= nd > KJ_SERVING_KEEP;
    for (uint64_t i = 0; i < nd && !r->in.bad; i++)
        r->in.bad |= !(dict[i] = rd_employee(r));
    uint64_t n = rd_varint(r);
    r->in.bad |= n > KJ_SERVING_KEEP;
    int64_t ts = 0, seq = 0;
    for (uint64_t i = 0; i < n && !r->in.bad; i++) {
        serv_room(s);
        serv_event *e = &s->hist[s->n++];
        uint64_t head = rd_varint(r);
        e->kind = (uint8_t)(head & 1);
        /* unsigned sums: a corrupt value wraps instead of overflowing */
        e->ts = ts = (int64_t)((uint64_t)ts + (uint64_t)unzigzag(rd_varint(r)));
        e->seq = (uint64_t)(seq = (int64_t)((uint64_t)seq + (uint64_t)unzigzag(rd_varint(r))));
        r->in.bad |= (head >> 1) >= nd;
        e->employee = r->in.bad ? NULL : dict[head >> 1];
        if (e->seq > r->m->presence_seq) r->m->presence_seq = e->seq;
    }
}

static void load_serving_v1(reader *r, serving *s)
{
    s->base.since = (int64_t)rd_varint(r);
    s->base.ts = (int64_t)rd_varint(r);
    s->base.employee = rd_employee(r);
}

kj_err kj_presence_load(kj_metrics *m, kj_scope *sc, const uint8_t *val, size_t vlen)
{
    reader r = {{val, vlen, 0, false}, m};
    uint8_t version = rd_byte(&r);
    presence *p = NULL;
    serving *s = NULL;
    if (sc->kind == KJ_SCOPE_EMPLOYEE) {
        p = presence_new();
        if (version == VALUE_V1)
            load_presence_v1(&r, p);
        else if (version == VALUE_V2)
            load_presence_v2(&r, p);
        else
            r.in.bad = true;
    } else {
        s = serving_new();
        if (version == VALUE_V1)
            load_serving_v1(&r, s);
        else if (version == VALUE_V2)
            load_serving_v2(&r, s);
        else
            r.in.bad = true;
    }
    if (r.in.bad || r.in.pos != vlen) {
        presence_free(p);
        serving_free(s);
        return KJ_ERR_DECODE;
    }
    if (p) {
        presence_free(sc->pres);
        p->cur = p->base;
        for (uint32_t i = 0; i < p->n; i++)
            pres_fold(&p->cur, &p->hist[i]);
        sc->pres = p;
    } else {
        serving_free(sc->serv);
        s->cur = s->base;
        for (uint32_t i = 0; i < s->n; i++)
            serv_fold(&s->cur, &s->hist[i]);
        sc->serv = s;
    }
    return KJ_OK;
}
