/* The daily ledger (SPEC §14, DESIGN "Round 2 notes"): at local midnight the
 * metrics engine records each indicator's final value and status of the day
 * that ended, per unit and member, one record per unit and day:
 *
 *   key   'L' unit 0x00 day(be32, local days since 1970-01-01)
 *   value version, count (varint), then per entry: scope kind ('U' / 'E'),
 *         scope id and indicator id (length byte + bytes), status byte,
 *         has_value byte, value (8 bytes, IEEE 754, host order) when set
 *
 * kept retention_days (kj_metrics_key_expired). needs_coaching and bad_days
 * come from the unit's own indicators over the days that ended: an
 * indicator over window `today` takes each day's status from that day's
 * bucket (the day's final value, late events included); others take the
 * status the ledger recorded. Days without data do not break a run. */
#include <stdio.h>
#include <string.h>

#include "../proto/alloc.h"
#include "eval.h"
#include "metrics_ledger.h"

#define KEY_LEDGER 'L'
#define LEDGER_VERSION 1
#define LEDGER_KEEP_DAYS 64 /* days of unit statuses kept in memory: the longest run looked at */
#define DEFAULT_COACHING_DAYS 3

/* One unit-scope status of one ended day, for indicators not over `today`. */
typedef struct ledger_status {
    int32_t day;
    uint8_t status;
    char indicator[KJ_ID_MAX + 1];
} ledger_status;

struct kj_ledger_hist {
    ledger_status *s; /* oldest day first */
    size_t n, cap;
};

typedef struct pending_rec {
    uint8_t *key, *val;
    size_t klen, vlen;
} pending_rec;

/* ---- memory ---- */

static void hist_drop_before(kj_ledger_hist *h, int32_t day)
{
    size_t drop = 0;
    while (drop < h->n && h->s[drop].day < day)
        drop++;
    memmove(h->s, h->s + drop, (h->n - drop) * sizeof *h->s);
    h->n -= drop;
}

static void hist_add(kj_unit *u, int32_t day, const char *indicator, uint8_t status)
{
    if (!u->ledger) u->ledger = kj_calloc(1, sizeof *u->ledger);
    kj_ledger_hist *h = u->ledger;
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 16;
        h->s = kj_realloc(h->s, h->cap * sizeof *h->s);
    }
    ledger_status *s = &h->s[h->n++];
    s->day = day;
    s->status = status;
    snprintf(s->indicator, sizeof s->indicator, "%s", indicator);
}

void kj_ledger_free_unit(kj_unit *u)
{
    if (u->ledger) free(u->ledger->s);
    free(u->ledger);
}

void kj_ledger_free(kj_metrics *m)
{
    pending_rec *p = m->ledger_pending.items;
    for (size_t i = 0; i < m->ledger_pending.n; i++) {
        free(p[i].key);
        free(p[i].val);
    }
    free(m->ledger_pending.items);
}

/* ---- the record ---- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t len)
{
    if (b->n + len > b->cap) {
        b->cap = (b->n + len) * 2;
        b->p = kj_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void put_byte(buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_id(buf *b, const char *s)
{
    put_byte(b, (uint8_t)strlen(s));
    put(b, s, strlen(s));
}

static void put_entry(buf *b, kj_scope_kind kind, const char *scope, const char *indicator,
                      uint8_t status, bool has, double v)
{
    put_byte(b, (uint8_t)kind);
    put_id(b, scope);
    put_id(b, indicator);
    put_byte(b, status);
    put_byte(b, has);
    if (has) put(b, &v, sizeof v);
}

static size_t key_of(uint8_t *k, const char *unit, int32_t day)
{
    size_t n = 0, ul = strlen(unit);
    k[n++] = KEY_LEDGER;
    memcpy(k + n, unit, ul);
    n += ul;
    k[n++] = 0;
    for (int i = 3; i >= 0; i--)
        k[n++] = (uint8_t)((uint32_t)day >> (8 * i));
    return n;
}

/* The unit's entries of the day that ends now (statuses as last evaluated;
 * values over the windows as they stand, `today` still the day ending). */
static void close_unit(kj_metrics *m, kj_unit *u)
{
    if (!u->n_inds) return;
    buf b = {0};
    put_byte(&b, LEDGER_VERSION);
    size_t entries = 0;
    buf body = {0};
    for (size_t i = 0; i < u->n_inds; i++) {
        double v = 0;
        const kj_indicator_conf *ic = u->inds[i];
        if (ic->for_unit && u->status[i] != STATUS_UNSET) {
            bool has = kj_ind_value(m, u, i, u->sc, &v);
            put_entry(&body, KJ_SCOPE_UNIT, u->sc->id, ic->id, u->status[i], has, v);
            hist_add(u, m->today, ic->id, u->status[i]);
            entries++;
        }
        for (size_t k = 0; ic->for_employee && k < u->n_members; k++) {
            member *mb = &u->members[k];
            if (mb->status[i] == STATUS_UNSET) continue;
            bool has = kj_ind_value(m, u, i, mb->sc, &v);
            put_entry(&body, KJ_SCOPE_EMPLOYEE, mb->sc->id, ic->id, mb->status[i], has, v);
            entries++;
        }
    }
    uint8_t n[10];
    put(&b, n, kj_varint_put(n, entries));
    put(&b, body.p, body.n);
    free(body.p);
    if (u->ledger) hist_drop_before(u->ledger, m->today - LEDGER_KEEP_DAYS);
    pending_rec rec = {kj_malloc(2 * KJ_ID_MAX + 8), b.p, 0, b.n};
    rec.klen = key_of(rec.key, u->sc->id, m->today);
    vec_push(&m->ledger_pending, &rec, sizeof rec);
}

void kj_ledger_close_day(kj_metrics *m)
{
    for (size_t i = 0; i < m->table_cap; i++)
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext)
            if (sc->kind == KJ_SCOPE_UNIT) close_unit(m, sc->unit);
}

kj_err kj_ledger_dirty(kj_metrics *m, const kj_metrics_sink *sink)
{
    pending_rec *p = m->ledger_pending.items;
    kj_err err = KJ_OK;
    for (size_t i = 0; i < m->ledger_pending.n && !err && sink->put; i++)
        err = sink->put(sink->ctx, p[i].key, p[i].klen, p[i].val, p[i].vlen);
    return err;
}

/* Stored: forget them. A rollback keeps them for the next group. */
void kj_ledger_commit(kj_metrics *m)
{
    pending_rec *p = m->ledger_pending.items;
    for (size_t i = 0; i < m->ledger_pending.n; i++) {
        free(p[i].key);
        free(p[i].val);
    }
    m->ledger_pending.n = 0;
}

bool kj_ledger_pending(const kj_metrics *m)
{
    return m->ledger_pending.n > 0;
}

/* ---- keys back ---- */

bool kj_ledger_is_key(const void *key, size_t klen)
{
    return klen > 0 && ((const uint8_t *)key)[0] == KEY_LEDGER;
}

static bool parse_key(const uint8_t *k, size_t klen, char *unit, int32_t *day)
{
    const uint8_t *end = klen > 1 ? memchr(k + 1, 0, klen - 1) : NULL;
    if (!end || (size_t)(k + klen - end) != 5) return false;
    size_t ul = (size_t)(end - k - 1);
    if (!kj_id_valid((const char *)k + 1, ul)) return false;
    memcpy(unit, k + 1, ul);
    unit[ul] = '\0';
    uint32_t d = 0;
    for (int i = 1; i <= 4; i++)
        d = d << 8 | end[i];
    *day = (int32_t)d;
    return true;
}

static bool rd_id(kj_reader *r, char *dst)
{
    if (r->pos >= r->len) return false;
    size_t n = r->p[r->pos++];
    if (n < 1 || n > KJ_ID_MAX || r->len - r->pos < n) return false;
    memcpy(dst, r->p + r->pos, n);
    dst[n] = '\0';
    r->pos += n;
    return kj_id_valid(dst, n);
}

/* One entry; only the unit's own go to memory. */
static bool load_entry(kj_reader *r, kj_unit *u, int32_t day)
{
    char scope[KJ_ID_MAX + 1], indicator[KJ_ID_MAX + 1];
    if (r->pos >= r->len) return false;
    uint8_t kind = r->p[r->pos++];
    if (!rd_id(r, scope) || !rd_id(r, indicator) || r->len - r->pos < 2) return false;
    uint8_t status = r->p[r->pos++], has = r->p[r->pos++];
    if (status > KJ_STATUS_BAD || has > 1 || (has && r->len - r->pos < sizeof(double)))
        return false;
    r->pos += has ? sizeof(double) : 0;
    if (kind == KJ_SCOPE_UNIT) hist_add(u, day, indicator, status);
    return true;
}

kj_err kj_ledger_load(kj_metrics *m, const void *key, size_t klen, const void *val, size_t vlen)
{
    char unit[KJ_ID_MAX + 1];
    int32_t day;
    if (!parse_key(key, klen, unit, &day)) return KJ_ERR_DECODE;
    if (day < m->today - LEDGER_KEEP_DAYS || day >= m->today) return KJ_OK;
    kj_reader r = {val, vlen, 1, vlen < 1 || ((const uint8_t *)val)[0] != LEDGER_VERSION};
    uint64_t n = kj_rd_varint(&r);
    if (r.bad) return KJ_ERR_DECODE;
    kj_unit *u = kj_m_unit(m, unit, true);
    size_t before = u->ledger ? u->ledger->n : 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!load_entry(&r, u, day)) {
            u->ledger->n = before; /* the record whole, or nothing of it */
            return KJ_ERR_DECODE;
        }
    }
    return r.pos == vlen ? KJ_OK : KJ_ERR_DECODE;
}

bool kj_ledger_key_expired(const kj_metrics *m, const void *key, size_t klen)
{
    char unit[KJ_ID_MAX + 1];
    int32_t day;
    int retention = m->cfg && m->cfg->retention_days > 0 ? m->cfg->retention_days : 400;
    return parse_key(key, klen, unit, &day) && day < m->today - retention;
}

/* ---- needs_coaching ---- */

/* The status indicator i of u ended day d with: from the day's bucket for
 * `today` indicators, else from the ledger; KJ_STATUS_NONE when unknown. */
static kj_status day_status(kj_metrics *m, kj_unit *u, size_t i, int32_t d)
{
    const kj_indicator_conf *ic = u->inds[i];
    if (ic->window != KJ_WIN_TODAY) {
        for (size_t k = 0; u->ledger && k < u->ledger->n; k++) {
            const ledger_status *s = &u->ledger->s[k];
            if (s->day == d && !strcmp(s->indicator, ic->id)) return (kj_status)s->status;
        }
        return KJ_STATUS_NONE;
    }
    series_rec rec;
    double v = 0;
    if (u->ind_metric[i] < 0 || !kj_series_find(&u->sc->ser[KJ_RES_DAY], d, &rec) ||
        kj_agg_decode(&m->scratch, rec.data, rec.len))
        return KJ_STATUS_NONE;
    kj_metric metric = (kj_metric)u->ind_metric[i];
    bool has =
        (ic->min_samples <= 1 || kj_metric_samples(&m->scratch, metric) >= ic->min_samples) &&
        kj_metric_value(&m->scratch, 24, metric, &v);
    return kj_indicator_status(ic->better, kj_indicator_target(ic, NULL), ic->warn_margin, has, v);
}

/* The longest run, back from yesterday, of days that one of the unit's own
 * indicators ended `bad` (days without its data skipped). */
void kj_ledger_coaching(kj_metrics *m, kj_unit *u, uint32_t *bad_days, bool *needs)
{
    uint32_t best = 0;
    for (size_t i = 0; i < u->n_inds; i++) {
        if (!u->inds[i]->for_unit) continue;
        uint32_t run = 0;
        for (int32_t d = m->today - 1; d >= m->today - LEDGER_KEEP_DAYS; d--) {
            kj_status s = day_status(m, u, i, d);
            if (s == KJ_STATUS_NONE) continue;
            if (s != KJ_STATUS_BAD) break;
            run++;
        }
        if (run > best) best = run;
    }
    int after = m->cfg && m->cfg->coaching_after_days > 0 ? m->cfg->coaching_after_days
                                                          : DEFAULT_COACHING_DAYS;
    *bad_days = best;
    *needs = best >= (uint32_t)after;
}
