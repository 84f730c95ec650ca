/* Persistence of the metrics engine without LMDB: the keys and values of
 * what changed (each_dirty), their restoration (load) and retention. Key
 * layouts are documented in metrics.h. */
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "alerts.h"
#include "assess.h"
#include "eval.h"
#include "feedback.h"
#include "metrics_fold.h"
#include "metrics_ledger.h"
#include "metrics_queue.h"
#include "metrics_store.h"
#include "presence.h"
#include "window.h"

#define KEY_MAX (3 + 2 * KJ_ID_MAX + 2 + 9)
#define VALUE_VERSION 1
#define MINUTE_RETAIN 120 /* minutes of minute buckets kept in the store */
#define HOUR_MARGIN 24    /* hours kept beyond the 30-day window */

enum {
    KEY_CHECKPOINT = '!', /* sorts first: the load knows of it before any bucket */
    KEY_BUCKET = 'B',
    KEY_DIRECTORY = 'D',
    KEY_PRESENCE = 'P',
    KEY_SERVING = 'S',
    KEY_WINDOWS = 'W',
};
static const uint8_t checkpoint_key[] = {KEY_CHECKPOINT, 'c', 'k', 'p', 't'};
const uint8_t kj_metrics_fold_key[5] = {KEY_CHECKPOINT, 'f', 'o', 'l', 'd'};
#define fold_key kj_metrics_fold_key

typedef struct keybuf {
    uint8_t b[KEY_MAX];
    size_t n;
} keybuf;

static void put_byte(keybuf *k, uint8_t v)
{
    k->b[k->n++] = v;
}

static void put_str(keybuf *k, const char *s)
{
    size_t n = strlen(s);
    memcpy(k->b + k->n, s, n);
    k->n += n;
}

static void put_be64(keybuf *k, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        put_byte(k, (uint8_t)(v >> (8 * i)));
}

/* kind path 0x00, with path U, E or U/C */
static void put_scope(keybuf *k, const kj_scope *sc)
{
    put_byte(k, sc->kind);
    if (sc->kind == KJ_SCOPE_COUNTER) {
        put_str(k, sc->unit->sc->id);
        put_byte(k, '/');
    }
    put_str(k, sc->id);
    put_byte(k, 0);
}

static void bucket_key(keybuf *k, const kj_scope *sc, kj_res res, int32_t start)
{
    k->n = 0;
    put_byte(k, KEY_BUCKET);
    put_scope(k, sc);
    put_byte(k, (uint8_t)res);
    put_be64(k, (uint64_t)kj_m_bucket_ms(res, start));
}

/* For the series read path (metrics_series.c): a bucket's key in buf. */
size_t kj_m_bucket_key(uint8_t *buf, size_t cap, const kj_scope *sc, kj_res res, int32_t start)
{
    keybuf k;
    bucket_key(&k, sc, res, start);
    if (k.n > cap) return 0;
    memcpy(buf, k.b, k.n);
    return k.n;
}

/* For reads off the writer thread (rapor_read.c): the same key from a
 * scope's name, whether or not the engine knows the scope. */
size_t kj_metrics_bucket_key_of(uint8_t *buf, size_t cap, const kj_scope_ref *ref, kj_res res,
                                int64_t start_ms)
{
    keybuf k = {.n = 0};
    size_t need = 2 + strlen(ref->id) + 1 + 9 + (ref->unit ? strlen(ref->unit) + 1 : 0);
    if (need > cap || need > sizeof k.b || (unsigned)res >= KJ_RES_COUNT || start_ms < 0) return 0;
    put_byte(&k, KEY_BUCKET);
    put_byte(&k, (uint8_t)ref->kind);
    if (ref->kind == KJ_SCOPE_COUNTER) {
        put_str(&k, ref->unit);
        put_byte(&k, '/');
    }
    put_str(&k, ref->id);
    put_byte(&k, 0);
    put_byte(&k, (uint8_t)res);
    put_be64(&k, (uint64_t)start_ms);
    memcpy(buf, k.b, k.n);
    return k.n;
}

bool kj_metrics_fold_decode(const void *val, size_t vlen, int64_t *pending_from_ms)
{
    const uint8_t *v = val;
    kj_reader r = {v, vlen, 1, vlen < 1 || v[0] != VALUE_VERSION};
    int64_t at = (int64_t)kj_rd_varint(&r);
    if (r.bad || r.pos != vlen || at < 0 || at > INT32_MAX) return false;
    *pending_from_ms = at * KJ_MINUTE_MS;
    return true;
}

size_t kj_metrics_member_prefix(uint8_t *buf, size_t cap, const char *unit)
{
    size_t n = strlen(unit);
    if (n + 3 > cap) return 0;
    buf[0] = KEY_DIRECTORY;
    buf[1] = KJ_SCOPE_EMPLOYEE;
    memcpy(buf + 2, unit, n);
    buf[2 + n] = '/';
    return n + 3;
}

/* ---- each_dirty ---- */

static kj_err dirty_buckets(kj_metrics *m, kj_scope *sc, const kj_metrics_sink *sink)
{
    keybuf k;
    for (unsigned i = 0; i < sc->n_open; i++) {
        open_bucket *ob = &sc->open[i];
        if (!ob->touched) continue;
        free(ob->pending);
        uint8_t *enc = kj_m_enc(m, KJ_AGG_ENCODED_MAX);
        ob->pending_len = (uint32_t)kj_agg_encode_kept(&ob->agg, enc);
        ob->pending = kj_malloc(ob->pending_len);
        memcpy(ob->pending, enc, ob->pending_len);
        bucket_key(&k, sc, ob->res, ob->start);
        kj_err err = sink->put(sink->ctx, k.b, k.n, ob->pending, ob->pending_len);
        if (err) return err;
    }
    return KJ_OK;
}

/* presence and serving values are presence.c's */
static kj_err dirty_state(kj_metrics *m, kj_scope *sc, const kj_metrics_sink *sink)
{
    keybuf k = {.n = 0};
    const uint8_t *val;
    size_t vn = kj_presence_value(m, sc, &val);
    if (!vn) return KJ_OK;
    put_byte(&k, sc->kind == KJ_SCOPE_EMPLOYEE ? KEY_PRESENCE : KEY_SERVING);
    if (sc->kind == KJ_SCOPE_COUNTER) {
        put_str(&k, sc->unit->sc->id);
        put_byte(&k, '/');
    }
    put_str(&k, sc->id);
    put_byte(&k, 0);
    return sink->put(sink->ctx, k.b, k.n, val, vn);
}

static kj_err put_directory(const kj_metrics_sink *sink, uint8_t kind, const char *unit,
                            const char *id)
{
    keybuf k = {.n = 0};
    static const uint8_t val[1] = {VALUE_VERSION};
    put_byte(&k, KEY_DIRECTORY);
    put_byte(&k, kind);
    put_str(&k, unit);
    if (id) {
        put_byte(&k, '/');
        put_str(&k, id);
    }
    put_byte(&k, 0);
    return sink->put(sink->ctx, k.b, k.n, val, sizeof val);
}

static kj_err dirty_scope(kj_metrics *m, kj_scope *sc, const kj_metrics_sink *sink)
{
    kj_err err = KJ_OK;
    if (sc->flags & SC_DIRECTORY)
        err = sc->kind == KJ_SCOPE_UNIT
                  ? put_directory(sink, KJ_SCOPE_UNIT, sc->id, NULL)
                  : put_directory(sink, KJ_SCOPE_COUNTER, sc->unit->sc->id, sc->id);
    if (!err && (sc->flags & SC_BUCKETS)) err = dirty_buckets(m, sc, sink);
    if (!err && (sc->flags & SC_PRESENCE)) err = dirty_state(m, sc, sink);
    return err;
}

static kj_err dirty_alerts(kj_metrics *m, const kj_metrics_sink *sink)
{
    if (!sink->put_alert) return KJ_OK;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    kj_alert *a = m->pending.items;
    kj_err err = KJ_OK;
    for (size_t i = 0; i < m->pending.n && !err; i++) {
        msgpack_sbuffer_clear(&sb);
        kj_alert_pack(&a[i], false, &pk);
        err = sink->put_alert(sink->ctx, a[i].at, sb.data, sb.size);
    }
    msgpack_sbuffer_destroy(&sb);
    return err;
}

/* The hour and day buckets that folds since the last save changed: those of
 * the minutes in [fold_saved, fold_min). Stored before the group's own
 * buckets, which include them. */
static kj_err put_folded(kj_metrics *m, kj_scope *sc, const kj_metrics_sink *sink)
{
    keybuf k;
    int64_t lo = kj_m_bucket_ms(KJ_RES_MINUTE, m->fold_saved);
    int64_t hi = kj_m_bucket_ms(KJ_RES_MINUTE, m->fold_min) - 1;
    for (int res = KJ_RES_HOUR; res <= KJ_RES_DAY; res++) {
        int32_t first = kj_m_bucket_of(m, res, lo), last = kj_m_bucket_of(m, res, hi);
        series_rec rec;
        uint32_t off = 0;
        while (kj_series_next(&sc->ser[res], &off, &rec) && rec.start <= last) {
            if (rec.start < first) continue;
            bucket_key(&k, sc, res, rec.start);
            kj_err err = sink->put(sink->ctx, k.b, k.n, rec.data, rec.len);
            if (err) return err;
        }
    }
    return KJ_OK;
}

static kj_err put_watermark(const kj_metrics_sink *sink, int32_t fold_min)
{
    uint8_t val[1 + 10];
    size_t n = 0;
    val[n++] = VALUE_VERSION;
    n += kj_varint_put(val + n, (uint64_t)(int64_t)fold_min);
    return sink->put(sink->ctx, fold_key, sizeof fold_key, val, n);
}

/* Folds since the last save, and the watermark that says so (also when no
 * minute had events: a late event into an older minute must not look
 * pending to a restart). The first group of a store writes it too. */
static kj_err dirty_folds(kj_metrics *m, const kj_metrics_sink *sink)
{
    if (m->fold_saved == m->fold_min && m->fold_stored) return KJ_OK;
    m->fold_writing = true;
    if (!sink->put) return KJ_OK; /* a sink that keeps no keys */
    kj_scope **f = m->folded.items;
    kj_err err = KJ_OK;
    for (size_t i = 0; i < m->folded.n && !err; i++)
        err = put_folded(m, f[i], sink);
    return err ? err : put_watermark(sink, m->fold_min);
}

/* The marker of a checkpoint: the now its window totals hold at; 0 voids it. */
static kj_err put_marker(const kj_metrics_sink *sink, int64_t at)
{
    uint8_t val[1 + 10];
    size_t n = 0;
    val[n++] = VALUE_VERSION;
    n += kj_varint_put(val + n, (uint64_t)at);
    return sink->put(sink->ctx, checkpoint_key, sizeof checkpoint_key, val, n);
}

kj_err kj_metrics_each_dirty(kj_metrics *m, const kj_metrics_sink *sink)
{
    kj_err err = KJ_OK;
    if (m->in_group && m->ckpt_stored && sink->put) {
        /* events after a checkpoint make its window totals stale */
        err = put_marker(sink, 0);
        m->ckpt_clearing = true;
    }
    if (m->in_group && !err) err = dirty_folds(m, sink);
    if (m->in_group && !err) {
        kj_m_evaluate(m);
        kj_scope **t = m->touched.items;
        for (size_t i = 0; i < m->touched.n && !err; i++)
            if (sink->put) err = dirty_scope(m, t[i], sink);
        undo *un = m->undo.items;
        for (size_t i = 0; i < m->undo.n && !err; i++) {
            if (un[i].kind != UNDO_MEMBER || !sink->put) continue;
            err = put_directory(sink, KJ_SCOPE_EMPLOYEE, un[i].u->sc->id, un[i].p.scope->id);
        }
        if (!err) err = kj_mq_dirty(m, sink);
        if (!err) err = kj_ledger_dirty(m, sink);
    }
    if (!err && m->in_group) err = kj_fb_store(m, sink);
    return err ? err : dirty_alerts(m, sink);
}

/* ---- the checkpoint of a clean stop ---- */

/* value: version, the checkpoint's now, then per window its length and agg */
static kj_err put_windows(kj_metrics *m, kj_scope *sc, const kj_metrics_sink *sink)
{
    bool any = false;
    for (int i = 0; i < KJ_WIN_SLIDING; i++)
        any |= !kj_agg_empty(&sc->win[kj_win_sliding[i]]);
    if (!any) return KJ_OK;
    uint8_t *buf = kj_m_enc(m, 11 + KJ_WIN_SLIDING * (10 + KJ_AGG_ENCODED_MAX));
    size_t n = 0;
    buf[n++] = VALUE_VERSION;
    n += kj_varint_put(buf + n, (uint64_t)m->now);
    for (int i = 0; i < KJ_WIN_SLIDING; i++) {
        const kj_agg *win = &sc->win[kj_win_sliding[i]];
        n += kj_varint_put(buf + n, kj_agg_encoded_size(win));
        n += kj_agg_encode(win, buf + n);
    }
    keybuf k = {.n = 0};
    put_byte(&k, KEY_WINDOWS);
    put_scope(&k, sc);
    return sink->put(sink->ctx, k.b, k.n, buf, n);
}

kj_err kj_metrics_checkpoint(kj_metrics *m, const kj_metrics_sink *sink)
{
    if (m->in_group) return KJ_ERR_BUSY;
    /* the totals hold the folds: the store must too (a save that failed) */
    kj_err err = dirty_folds(m, sink);
    for (size_t i = 0; i < m->table_cap && !err; i++)
        for (kj_scope *sc = m->table[i]; sc && !err; sc = sc->hnext)
            err = put_windows(m, sc, sink);
    return err ? err : put_marker(sink, m->now);
}

/* ---- keys back ---- */

typedef struct parsed_key {
    uint8_t type, kind, res;
    char unit[KJ_ID_MAX + 1], id[KJ_ID_MAX + 1];
    int64_t start;
} parsed_key;

/* Copy an identifier of n bytes; false when it breaks the identifier rule. */
static bool take_id(char *dst, const uint8_t *s, size_t n)
{
    if (n < 1 || n > KJ_ID_MAX || !kj_id_valid((const char *)s, n)) return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

/* path up to the 0x00 at *pos: "A" (into id, and unit when unit_too) or
 * "A/B" (unit A, id B). */
static bool take_path(parsed_key *pk, const uint8_t *k, size_t len, size_t *pos, bool pair)
{
    const uint8_t *end = memchr(k + *pos, 0, len - *pos);
    if (!end) return false;
    const uint8_t *s = k + *pos, *slash = memchr(s, '/', (size_t)(end - s));
    bool ok;
    if (pair)
        ok = slash && take_id(pk->unit, s, (size_t)(slash - s)) &&
             take_id(pk->id, slash + 1, (size_t)(end - slash - 1));
    else
        ok = !slash && take_id(pk->id, s, (size_t)(end - s)) &&
             take_id(pk->unit, s, (size_t)(end - s));
    *pos = (size_t)(end - k) + 1;
    return ok;
}

static bool parse_key(const uint8_t *k, size_t len, parsed_key *pk)
{
    size_t pos = 1;
    memset(pk, 0, sizeof *pk);
    if (len < 3) return false;
    pk->type = k[0];
    switch (pk->type) {
    case KEY_BUCKET:
    case KEY_DIRECTORY:
        pk->kind = k[pos++];
        if (pk->kind != KJ_SCOPE_UNIT && pk->kind != KJ_SCOPE_EMPLOYEE &&
            pk->kind != KJ_SCOPE_COUNTER)
            return false;
        /* bucket E keys name the employee alone; directory E keys U/E */
        if (!take_path(pk, k, len, &pos,
                       pk->kind == KJ_SCOPE_COUNTER ||
                           (pk->type == KEY_DIRECTORY && pk->kind == KJ_SCOPE_EMPLOYEE)))
            return false;
        if (pk->type == KEY_DIRECTORY) return pos == len;
        if (len - pos != 9 || k[pos] >= KJ_RES_COUNT) return false;
        pk->res = k[pos++];
        for (int i = 0; i < 8; i++)
            pk->start = (int64_t)((uint64_t)pk->start << 8 | k[pos++]);
        return pk->start >= 0;
    case KEY_WINDOWS:
        pk->kind = k[pos++];
        if (pk->kind != KJ_SCOPE_UNIT && pk->kind != KJ_SCOPE_EMPLOYEE &&
            pk->kind != KJ_SCOPE_COUNTER)
            return false;
        return take_path(pk, k, len, &pos, pk->kind == KJ_SCOPE_COUNTER) && pos == len;
    case KEY_CHECKPOINT:
        return len == sizeof checkpoint_key &&
               (!memcmp(k, checkpoint_key, len) || !memcmp(k, fold_key, len));
    case KEY_PRESENCE:
        pk->kind = KJ_SCOPE_EMPLOYEE;
        return take_path(pk, k, len, &pos, false) && pos == len;
    case KEY_SERVING:
        pk->kind = KJ_SCOPE_COUNTER;
        return take_path(pk, k, len, &pos, true) && pos == len;
    default: return false;
    }
}

static kj_scope *scope_of_key(kj_metrics *m, const parsed_key *pk)
{
    return kj_m_get(m, (kj_scope_kind)pk->kind, pk->kind == KJ_SCOPE_EMPLOYEE ? NULL : pk->unit,
                    pk->id, true);
}

/* A bucket key ends in res (1 byte) and start (8 bytes, big-endian). */
#define BUCKET_TAIL 9

static bool bucket_start(kj_res res, int64_t start_ms, int32_t *start)
{
    *start = (int32_t)(start_ms / kj_res_ms(res));
    return start_ms >= 0 && start_ms % kj_res_ms(res) == 0;
}

/* The oldest bucket start the load keeps. With a checkpoint, the horizon at
 * its now: buckets that left the windows since must still be there for the
 * first tick to take them out of the totals. */
static int32_t load_horizon(const kj_metrics *m, kj_res res)
{
    int32_t h = kj_m_horizon(m, res);
    /* pending minutes are kept for their fold, however old */
    if (res == KJ_RES_MINUTE && m->fold_stored && m->fold_min < h) h = m->fold_min;
    if (!m->ckpt_now || res == KJ_RES_DAY) return h;
    return h - (kj_m_bucket_of(m, res, m->now) - kj_m_bucket_of(m, res, m->ckpt_now));
}

static kj_err load_into(kj_metrics *m, kj_scope *sc, kj_res res, int32_t start, const uint8_t *val,
                        size_t vlen)
{
    if (res == KJ_RES_MINUTE && start > m->load_newest) m->load_newest = start;
    if (res == KJ_RES_MINUTE && m->fold_stored && start >= m->fold_min) kj_m_pend(m, sc);
    if (m->ckpt_now) { /* the window totals come whole from the checkpoint */
        if (vlen > UINT32_MAX) return KJ_ERR_DECODE;
        kj_series_put(&sc->ser[res], start, val, (uint32_t)vlen);
        return KJ_OK;
    }
    kj_agg *into[2] = {NULL, NULL}; /* the windows of this resolution that hold it */
    for (int i = 0, k = 0; i < KJ_WIN_SLIDING; i++) {
        kj_window w = kj_win_sliding[i];
        if (kj_sw_res[w] == res && kj_sw_closed(m, w, start)) into[k++] = &sc->win[w];
    }
    /* merged straight from its encoding: no decoded copy */
    if (vlen > UINT32_MAX) return KJ_ERR_DECODE;
    if (kj_agg_merge_encoded(into[0], into[1], val, vlen)) {
        if (into[0]) kj_window_rebuild(m, sc, res); /* from the good buckets before it */
        return KJ_ERR_DECODE;
    }
    kj_series_put(&sc->ser[res], start, val, (uint32_t)vlen);
    return KJ_OK;
}

static kj_err load_bucket(kj_metrics *m, const parsed_key *pk, const uint8_t *key, size_t klen,
                          const uint8_t *val, size_t vlen)
{
    int32_t start;
    if (!bucket_start(pk->res, pk->start, &start)) return KJ_ERR_DECODE;
    if (start < load_horizon(m, pk->res)) return KJ_OK; /* expired: the writer deletes it */
    kj_scope *sc = scope_of_key(m, pk);
    m->load_sc = sc;
    m->load_prefix_len = klen - BUCKET_TAIL; /* parse_key checked the length */
    memcpy(m->load_prefix, key, m->load_prefix_len);
    return load_into(m, sc, pk->res, start, val, vlen);
}

/* A bucket key of the same scope as the previous one: its prefix was checked
 * then, only the tail is new. Returns false when the key is not such a one. */
static bool load_same_scope(kj_metrics *m, const uint8_t *key, size_t klen, const uint8_t *val,
                            size_t vlen, kj_err *err)
{
    size_t n = m->load_prefix_len;
    if (!m->load_sc || klen != n + BUCKET_TAIL || memcmp(key, m->load_prefix, n)) return false;
    int res = key[n];
    int64_t start_ms = 0;
    for (int i = 1; i < BUCKET_TAIL; i++)
        start_ms = (int64_t)((uint64_t)start_ms << 8 | key[n + i]);
    int32_t start;
    if (res >= KJ_RES_COUNT || !bucket_start(res, start_ms, &start))
        *err = KJ_ERR_DECODE;
    else if (start < load_horizon(m, res))
        *err = KJ_OK;
    else
        *err = load_into(m, m->load_sc, res, start, val, vlen);
    return true;
}

static kj_err load_state(kj_metrics *m, const parsed_key *pk, const uint8_t *val, size_t vlen)
{
    return kj_presence_load(m, scope_of_key(m, pk), val, vlen);
}

/* The watermark of the folds the store holds (its key sorts before every
 * bucket). */
static kj_err load_watermark(kj_metrics *m, const uint8_t *val, size_t vlen)
{
    kj_reader r = {val, vlen, 1, vlen < 1 || val[0] != VALUE_VERSION};
    int64_t at = (int64_t)kj_rd_varint(&r);
    if (r.bad || r.pos != vlen || at < 0 || at > INT32_MAX || m->load_sc) return KJ_ERR_DECODE;
    m->fold_min = m->fold_saved = (int32_t)at;
    m->fold_stored = true;
    return KJ_OK;
}

/* The marker comes first (its key sorts first). A checkpoint from a later
 * now than the engine's (the clock went back) is not used. */
static kj_err load_checkpoint(kj_metrics *m, const uint8_t *val, size_t vlen)
{
    kj_reader r = {val, vlen, 1, vlen < 1 || val[0] != VALUE_VERSION};
    int64_t at = (int64_t)kj_rd_varint(&r);
    if (r.bad || r.pos != vlen) return KJ_ERR_DECODE;
    if (at <= 0) return KJ_OK; /* voided: events came after it */
    m->ckpt_stored = true;
    if (at <= m->now && !m->load_sc) m->ckpt_now = at;
    return KJ_OK;
}

static kj_err load_windows(kj_metrics *m, const parsed_key *pk, const uint8_t *val, size_t vlen)
{
    kj_reader r = {val, vlen, 1, vlen < 1 || val[0] != VALUE_VERSION};
    int64_t at = (int64_t)kj_rd_varint(&r);
    if (!r.bad && (!m->ckpt_now || at != m->ckpt_now)) return KJ_OK; /* an older one's */
    kj_scope *sc = r.bad ? NULL : scope_of_key(m, pk);
    for (int i = 0; i < KJ_WIN_SLIDING && !r.bad; i++) {
        uint64_t n = kj_rd_varint(&r);
        if (r.bad || n > vlen - r.pos ||
            kj_agg_decode(&sc->win[kj_win_sliding[i]], val + r.pos, (size_t)n))
            r.bad = true;
        r.pos += (size_t)n;
    }
    if (!r.bad && r.pos == vlen) return KJ_OK;
    m->ckpt_broken = true;
    return KJ_ERR_DECODE;
}

/* The checkpoint's window totals move from its now to the engine's, as a
 * tick would have moved them; a broken checkpoint gives way to totals
 * rebuilt from the buckets. */
static void move_checkpoint(kj_metrics *m, kj_scope *sc)
{
    if (m->ckpt_broken) {
        kj_window_rebuild(m, sc, KJ_RES_MINUTE);
        kj_window_rebuild(m, sc, KJ_RES_HOUR);
    } else if (m->ckpt_now) {
        kj_window_advance(m, sc, KJ_RES_MINUTE, kj_m_bucket_of(m, KJ_RES_MINUTE, m->ckpt_now),
                          m->now_min);
        kj_window_advance(m, sc, KJ_RES_HOUR, kj_m_bucket_of(m, KJ_RES_HOUR, m->ckpt_now),
                          m->now_hour);
    }
}

/* After the last key (from the first tick or group). The minutes left
 * pending are folded as of the time the window totals hold at (the
 * checkpoint's, or now's when the load merged the buckets), then the totals
 * move to now. A store without a watermark (an older build's) folded every
 * minute it holds. */
void kj_m_finish_load(kj_metrics *m)
{
    if (!m->loading) return;
    m->loading = false;
    if (!m->fold_stored) {
        int32_t after = m->load_newest == INT32_MIN ? m->now_min : m->load_newest + 1;
        m->fold_min = m->fold_saved = after > m->now_min ? after : m->now_min;
    }
    int32_t ref_hour = m->ckpt_now ? kj_m_bucket_of(m, KJ_RES_HOUR, m->ckpt_now) : m->now_hour;
    kj_m_fold_all(m, m->now_min, ref_hour);
    for (size_t i = 0; i < m->table_cap; i++) {
        for (kj_scope *sc = m->table[i]; sc; sc = sc->hnext) {
            move_checkpoint(m, sc);
            kj_series_drop_before(&sc->ser[KJ_RES_MINUTE], kj_m_horizon(m, KJ_RES_MINUTE));
            kj_m_reopen_pending(m, sc);
        }
    }
    m->ckpt_now = 0;
    m->ckpt_broken = false;
}

kj_err kj_metrics_load(kj_metrics *m, const void *key, size_t klen, const void *val, size_t vlen)
{
    parsed_key pk;
    kj_err err;
    if (m->in_group) return KJ_ERR_BUSY;
    m->loading = true;
    /* assessments live beside the aggregates (assess.h): not the engine's */
    if (klen && *(const uint8_t *)key == KJ_ASSESS_KEY_TAG) return KJ_OK;
    if (load_same_scope(m, key, klen, val, vlen, &err)) return err;
    if (kj_mq_is_key(key, klen)) return kj_mq_load(m, key, klen, val, vlen);
    if (kj_ledger_is_key(key, klen)) return kj_ledger_load(m, key, klen, val, vlen);
    if (!parse_key(key, klen, &pk)) return KJ_ERR_DECODE;
    switch (pk.type) {
    case KEY_BUCKET: return load_bucket(m, &pk, key, klen, val, vlen);
    case KEY_CHECKPOINT:
        return ((const uint8_t *)key)[1] == 'f' ? load_watermark(m, val, vlen)
                                                : load_checkpoint(m, val, vlen);
    case KEY_WINDOWS: return load_windows(m, &pk, val, vlen);
    case KEY_PRESENCE:
    case KEY_SERVING: return load_state(m, &pk, val, vlen);
    default: break;
    }
    if (pk.kind == KJ_SCOPE_EMPLOYEE)
        kj_m_add_member(m, kj_m_unit(m, pk.unit, true),
                        kj_m_get(m, KJ_SCOPE_EMPLOYEE, NULL, pk.id, true), true);
    else
        scope_of_key(m, &pk);
    return KJ_OK;
}

bool kj_metrics_key_expired(const kj_metrics *m, const void *key, size_t klen)
{
    parsed_key pk;
    if (kj_mq_is_key(key, klen)) return kj_mq_key_expired(m, key, klen);
    if (kj_ledger_is_key(key, klen)) return kj_ledger_key_expired(m, key, klen);
    if (!parse_key(key, klen, &pk) || pk.type != KEY_BUCKET) return false;
    if (pk.res == KJ_RES_MINUTE) { /* a pending one stays until its fold is stored */
        int32_t keep = m->now_min - MINUTE_RETAIN;
        return pk.start < (int64_t)(keep < m->fold_saved ? keep : m->fold_saved) * KJ_MINUTE_MS;
    }
    if (pk.res == KJ_RES_HOUR)
        return pk.start < ((int64_t)m->now_hour - kj_sw_len[KJ_WIN_30D] - HOUR_MARGIN) * KJ_HOUR_MS;
    int retention = m->cfg && m->cfg->retention_days > 0 ? m->cfg->retention_days : 400;
    return pk.start < ((int64_t)m->today - retention) * KJ_DAY_MS;
}

kj_err kj_metrics_load_alert(kj_metrics *m, const void *val, size_t vlen)
{
    kj_alert a;
    if (m->in_group) return KJ_ERR_BUSY;
    if (kj_fb_load(m, val, vlen)) return KJ_OK;
    if (kj_alert_unpack(val, vlen, &a)) return KJ_ERR_DECODE;
    if (a.at < m->today_start || !kj_id_valid(a.unit, strlen(a.unit))) {
        free(a.note);
        return KJ_OK;
    }
    kj_unit *u = kj_m_unit(m, a.unit, true);
    kj_life_load(m, u, &a);
    kj_ind_trim_alerts(m, u);
    return KJ_OK;
}
