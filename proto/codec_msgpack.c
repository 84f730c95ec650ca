/* kinerja — the msgpack codec: bodies and frames in, the raw log's canonical
 * events out. Validation itself is the builder's (decode_internal.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "decode_internal.h"
#include "mpread.h"
#include "mpwalk.h"

/* ---- a bounded unpack ----------------------------------------------------- */

/* Walk the bytes before msgpack-c sees them (mpwalk.h): it allocates the
 * objects of a container when it reads its header, so a 5-byte body declaring
 * 2^32 elements would ask for ~100 GiB. The walk requires every announced
 * value to be present, which bounds what msgpack-c allocates by the body's size. */
static kj_err prescan(const uint8_t *p, size_t len, char *msg, size_t msglen)
{
    size_t bad;
    size_t n = kj_msgpack_walk(p, len, &bad);
    if (!n && bad < len) {
        kj_set_msg(msg, msglen, "body: not valid msgpack (byte 0x%02x at offset %zu)", p[bad], bad);
        return KJ_ERR_DECODE;
    }
    if (!n) {
        kj_set_msg(msg, msglen, "body: not valid msgpack (truncated, or a length beyond the end)");
        return KJ_ERR_DECODE;
    }
    if (n != len) {
        kj_set_msg(msg, msglen, "body: not valid msgpack (%zu bytes after the value)", len - n);
        return KJ_ERR_DECODE;
    }
    return KJ_OK;
}

kj_err kj_msgpack_unpack_body(const void *buf, size_t len, msgpack_unpacked *result, char *msg,
                              size_t msglen)
{
    kj_err err = prescan(buf, len, msg, msglen);
    if (err) return err;
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(result, buf, len, &off);
    if (r == MSGPACK_UNPACK_SUCCESS && off == len) return KJ_OK;
    /* The walk above accepted the bytes, so msgpack-c refused the nesting (its
     * stack is 32 levels) or, rarely, could not allocate. */
    if (r == MSGPACK_UNPACK_NOMEM_ERROR) {
        kj_set_msg(msg, msglen, "body: nested deeper than 32 levels");
        return KJ_ERR_DECODE;
    }
    kj_set_msg(msg, msglen, "body: not valid msgpack");
    return KJ_ERR_DECODE;
}

/* ---- events from objects ---------------------------------------------------- */

static kj_value value_of(const msgpack_object *o)
{
    kj_value v = {.kind = KJ_V_OTHER};
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: v.kind = KJ_V_NIL; break;
    case MSGPACK_OBJECT_BOOLEAN: v.kind = KJ_V_BOOL, v.i = o->via.boolean; break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX)
            v.kind = KJ_V_BIGINT;
        else
            v.kind = KJ_V_INT, v.i = (int64_t)o->via.u64;
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: v.kind = KJ_V_INT, v.i = o->via.i64; break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: v.kind = KJ_V_FLOAT; break;
    case MSGPACK_OBJECT_STR:
        v.kind = KJ_V_STR, v.s = kj_msgpack_str(o), v.len = o->via.str.size;
        break;
    case MSGPACK_OBJECT_ARRAY: v.kind = KJ_V_ARRAY; break;
    case MSGPACK_OBJECT_MAP: v.kind = KJ_V_MAP; break;
    default: break;
    }
    return v;
}

static bool key_is(const msgpack_object *k, const char *name, size_t len)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
           memcmp(kj_msgpack_str(k), name, len) == 0;
}

static kj_meta_status pack_meta_value(msgpack_packer *pk, const kj_boundbuf *bb,
                                      const msgpack_object *o, int depth);

static kj_meta_status pack_meta_container(msgpack_packer *pk, const kj_boundbuf *bb,
                                          const msgpack_object *o, int depth)
{
    kj_meta_status st;
    if (depth >= KJ_META_DEPTH) return KJ_META_TOO_DEEP;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        if (msgpack_pack_array(pk, o->via.array.size) < 0) return KJ_META_TOO_BIG;
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if ((st = pack_meta_value(pk, bb, &o->via.array.ptr[i], depth + 1))) return st;
        return KJ_META_OK;
    }
    if (msgpack_pack_map(pk, o->via.map.size) < 0) return KJ_META_TOO_BIG;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) return KJ_META_BAD_KEY;
        if ((st = kj_meta_pack_str(pk, bb, kj_msgpack_str(&kv->key), kv->key.via.str.size)))
            return st;
        if ((st = pack_meta_value(pk, bb, &kv->val, depth + 1))) return st;
    }
    return KJ_META_OK;
}

/* Re-encode one value of meta into the bounded buffer behind pk. Recursion is
 * bounded by KJ_META_DEPTH; every failure returns at once, so an oversized
 * array is refused after about KJ_META_MAX bytes of work. */
static kj_meta_status pack_meta_value(msgpack_packer *pk, const kj_boundbuf *bb,
                                      const msgpack_object *o, int depth)
{
    int r;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: r = msgpack_pack_nil(pk); break;
    case MSGPACK_OBJECT_BOOLEAN:
        r = o->via.boolean ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: r = msgpack_pack_uint64(pk, o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: r = msgpack_pack_int64(pk, o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
        if (!isfinite(o->via.f64)) return KJ_META_BAD_VALUE;
        r = msgpack_pack_float(pk, (float)o->via.f64);
        break;
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64)) return KJ_META_BAD_VALUE;
        r = msgpack_pack_double(pk, o->via.f64);
        break;
    case MSGPACK_OBJECT_STR: return kj_meta_pack_str(pk, bb, kj_msgpack_str(o), o->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP: return pack_meta_container(pk, bb, o, depth);
    default: return KJ_META_BAD_VALUE; /* binary, extensions: not representable in JSON */
    }
    return r < 0 ? KJ_META_TOO_BIG : KJ_META_OK;
}

static void build_meta(kj_builder *b, const msgpack_object *o)
{
    uint8_t buf[KJ_META_MAX];
    kj_boundbuf bb = {.data = buf, .cap = sizeof buf};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &bb, kj_boundbuf_write);
    kj_meta_status st =
        o->type == MSGPACK_OBJECT_MAP ? pack_meta_container(&pk, &bb, o, 0) : KJ_META_NOT_MAP;
    kj_build_meta(b, st, buf, bb.len);
}

static void build_array(kj_builder *b, kj_field f, const msgpack_object *o)
{
    kj_value vals[KJ_ELEMENTS]; /* the longer of elements and behaviour */
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        (f == KJ_F_ELEMENTS ? kj_build_elements : kj_build_behaviour)(b, false, 0, NULL);
        return;
    }
    size_t n = o->via.array.size;
    for (size_t i = 0; i < n && i < KJ_ELEMENTS; i++)
        vals[i] = value_of(&o->via.array.ptr[i]);
    (f == KJ_F_ELEMENTS ? kj_build_elements : kj_build_behaviour)(b, true, n, vals);
}

static void decode_event(const msgpack_object *o, const kj_validate_opts *opts, bool clock,
                         kj_batch_item *item)
{
    kj_builder b;
    kj_build_begin(&b, item, opts, clock);
    if (o->type != MSGPACK_OBJECT_MAP) {
        kj_build_fail(&b, "event", "must be a map");
        kj_build_end(&b);
        return;
    }
    const msgpack_object_kv *kv = o->via.map.ptr;
    uint32_t n = o->via.map.size;

    /* The type decides which keys exist, so find it (and the id, which names
     * the event in any error) before walking the map in order. */
    const msgpack_object *id = NULL, *type = NULL;
    for (uint32_t i = 0; i < n && !(id && type); i++) {
        if (!id && key_is(&kv[i].key, "id", 2)) id = &kv[i].val;
        if (!type && key_is(&kv[i].key, "type", 4)) type = &kv[i].val;
    }
    kj_value idv = id ? value_of(id) : (kj_value){0};
    kj_value typev = type ? value_of(type) : (kj_value){0};
    kj_build_prepare(&b, id ? &idv : NULL, type ? &typev : NULL);

    for (uint32_t i = 0; i < n && !b.failed; i++) {
        if (kv[i].key.type != MSGPACK_OBJECT_STR) {
            kj_build_bad_key(&b);
            break;
        }
        kj_field f = kj_build_key(&b, kj_msgpack_str(&kv[i].key), kv[i].key.via.str.size);
        if (f == KJ_F_META) {
            build_meta(&b, &kv[i].val);
        } else if (f == KJ_F_ELEMENTS || f == KJ_F_BEHAVIOUR) {
            build_array(&b, f, &kv[i].val);
        } else if (f != KJ_F_NONE) {
            kj_value v = value_of(&kv[i].val);
            kj_build_value(&b, f, &v);
        }
    }
    kj_build_end(&b);
}

/* ---- batches ------------------------------------------------------------------ */

kj_err kj_msgpack_decode_batch_obj(const msgpack_object *obj, const kj_validate_opts *opts,
                                   kj_batch **out, char *msg, size_t msglen)
{
    kj_validate_opts defaults;
    if (!opts) {
        defaults = kj_validate_defaults();
        opts = &defaults;
    }
    size_t limit = kj_batch_limit(opts);
    const msgpack_object *elems = obj;
    size_t n = 1;
    bool single = true;
    if (obj->type == MSGPACK_OBJECT_ARRAY) {
        elems = obj->via.array.ptr, n = obj->via.array.size, single = false;
        if (n > limit) {
            kj_set_msg(msg, msglen, "body: %zu events, over the limit of %zu", n, limit);
            return KJ_ERR_TOO_BIG;
        }
    } else if (obj->type != MSGPACK_OBJECT_MAP) {
        kj_set_msg(msg, msglen, "body: must be an event (a map) or an array of events");
        return KJ_ERR_DECODE;
    }

    kj_batch *b = kj_batch_new(n, single);
    if (!b) {
        kj_set_msg(msg, msglen, "body: out of memory");
        return KJ_ERR_NOMEM;
    }
    for (; b->n < n; b->n++)
        decode_event(&elems[b->n], opts, true, &b->items[b->n]);
    *out = b;
    return KJ_OK;
}

kj_err kj_msgpack_decode_batch(const void *buf, size_t len, const kj_validate_opts *opts,
                               kj_batch **out, char *msg, size_t msglen)
{
    kj_validate_opts defaults;
    if (!opts) defaults = kj_validate_defaults(), opts = &defaults;
    if (kj_mpread_batch(buf, len, opts, out)) return KJ_OK;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    kj_err err = kj_msgpack_unpack_body(buf, len, &u, msg, msglen);
    if (err) goto done;
    err = kj_msgpack_decode_batch_obj(&u.data, opts, out, msg, msglen);
done:
    msgpack_unpacked_destroy(&u);
    return err;
}

/* ---- the canonical form --------------------------------------------------------- */

/* The canonical form is written byte by byte rather than through
 * msgpack_packer: every event the daemon stores is packed once, and a packer
 * call per key and value was a third of the service thread's work on batches.
 * The bytes are the ones msgpack-c writes (the smallest form of each value),
 * which test_proto checks against msgpack-c itself. */
typedef struct out {
    uint8_t *p, *end;
} out;

static void put(out *o, const void *bytes, size_t n)
{
    if ((size_t)(o->end - o->p) < n) { /* KJ_EVENT_PACKED_MAX is too small */
        fprintf(stderr, "kinerja: an event's canonical form passed %d bytes\n",
                KJ_EVENT_PACKED_MAX);
        abort();
    }
    memcpy(o->p, bytes, n);
    o->p += n;
}

static void put_be(out *o, uint8_t tag, uint64_t v, int width)
{
    uint8_t b[9] = {tag};
    for (int i = 0; i < width; i++)
        b[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    put(o, b, (size_t)width + 1);
}

/* A map (0x80) or array (0x90) header of n elements. */
static void put_head(out *o, uint8_t fix, uint32_t n)
{
    if (n < 16)
        put(o, &(uint8_t){(uint8_t)(fix | n)}, 1);
    else if (n < 65536)
        put_be(o, fix == 0x80 ? 0xde : 0xdc, n, 2);
    else
        put_be(o, fix == 0x80 ? 0xdf : 0xdd, n, 4);
}

static void put_int(out *o, int64_t v)
{
    if (v >= -32 && v < 128)
        put(o, &(uint8_t){(uint8_t)v}, 1);
    else if (v < 0)
        v >= INT8_MIN    ? put_be(o, 0xd0, (uint64_t)v, 1)
        : v >= INT16_MIN ? put_be(o, 0xd1, (uint64_t)v, 2)
        : v >= INT32_MIN ? put_be(o, 0xd2, (uint64_t)v, 4)
                         : put_be(o, 0xd3, (uint64_t)v, 8);
    else
        v <= UINT8_MAX    ? put_be(o, 0xcc, (uint64_t)v, 1)
        : v <= UINT16_MAX ? put_be(o, 0xcd, (uint64_t)v, 2)
        : v <= UINT32_MAX ? put_be(o, 0xce, (uint64_t)v, 4)
                          : put_be(o, 0xcf, (uint64_t)v, 8);
}

static void put_strn(out *o, const char *s, size_t n)
{
    if (n < 32)
        put(o, &(uint8_t){(uint8_t)(0xa0 | n)}, 1);
    else
        put_be(o, n < 256 ? 0xd9 : n < 65536 ? 0xda : 0xdb, n, n < 256 ? 1 : n < 65536 ? 2 : 4);
    put(o, s, n);
}

static void put_str(out *o, const char *s)
{
    put_strn(o, s, strlen(s));
}

static void put_field(out *o, const kj_event *ev, kj_field f)
{
    switch (f) {
    case KJ_F_ID: put_str(o, ev->id); break;
    case KJ_F_TYPE: put_str(o, kj_event_type_name(ev->type)); break;
    case KJ_F_TS: put_int(o, ev->ts); break;
    case KJ_F_UNIT: put_str(o, ev->unit); break;
    case KJ_F_EMPLOYEE: put_str(o, ev->employee); break;
    case KJ_F_COUNTER: put_str(o, ev->counter); break;
    case KJ_F_KIND: put_str(o, ev->kind); break;
    case KJ_F_SERVICE: put_str(o, ev->service); break;
    case KJ_F_DURATION_MS: put_int(o, ev->duration_ms); break;
    case KJ_F_DUE_TS: put_int(o, ev->due_ts); break;
    case KJ_F_QUALITY: put_int(o, ev->quality); break;
    case KJ_F_WAIT_MS: put_int(o, ev->wait_ms); break;
    case KJ_F_SERVICE_MS: put_int(o, ev->service_ms); break;
    case KJ_F_OUTCOME: put_str(o, kj_outcome_name(ev->outcome)); break;
    case KJ_F_SCORE: put_int(o, ev->score); break;
    case KJ_F_ELEMENTS:
        put_head(o, 0x90, KJ_ELEMENTS);
        for (int i = 0; i < KJ_ELEMENTS; i++)
            put_int(o, ev->elements[i]);
        break;
    case KJ_F_SOURCE: put_str(o, kj_source_name(ev->source)); break;
    case KJ_F_STATE: put_str(o, kj_event_state_name(ev)); break;
    case KJ_F_TICKET: put_str(o, ev->ticket); break;
    case KJ_F_ALERT: put_str(o, ev->alert); break;
    case KJ_F_INDICATOR: put_str(o, ev->indicator); break;
    case KJ_F_TEXT: put_str(o, ev->text); break;
    case KJ_F_META: put(o, ev->meta, ev->meta_len); break;
    case KJ_F_PERIOD: {
        char name[KJ_PERIOD_NAME_MAX];
        kj_period_format(&ev->period, name, sizeof name);
        put_str(o, name);
        break;
    }
    case KJ_F_BEHAVIOUR:
        put_head(o, 0x90, KJ_BEHAVIOURS);
        for (int i = 0; i < KJ_BEHAVIOURS; i++)
            put_str(o, kj_level_name((kj_level)ev->behaviour[i]));
        break;
    case KJ_F_BY: put_str(o, ev->by); break;
    case KJ_F_NOTE: put_str(o, ev->note); break;
    default: break;
    }
}

/* The fields its type allows are asked once each, not every field twice (to
 * count, then to write). */
size_t kj_msgpack_event_bytes(const kj_event *ev, uint8_t *buf)
{
    out o = {buf, buf + KJ_EVENT_PACKED_MAX};
    uint32_t set = kj_fields_present(ev);
    put_head(&o, 0x80, (uint32_t)__builtin_popcount(set));
    for (; set; set &= set - 1) {
        kj_field f = (kj_field)__builtin_ctz(set);
        put_strn(&o, kj_field_name(f), kj_field_name_len(f));
        put_field(&o, ev, f);
    }
    return (size_t)(o.p - buf);
}

void kj_msgpack_pack_event(msgpack_packer *pk, const kj_event *ev)
{
    uint8_t buf[KJ_EVENT_PACKED_MAX];
    pk->callback(pk->data, (const char *)buf, kj_msgpack_event_bytes(ev, buf));
}

kj_err kj_msgpack_unpack_event(const void *buf, size_t len, kj_event *ev)
{
    kj_validate_opts opts = {0}; /* the clock is not checked: old events stay readable */
    kj_batch_item item;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    kj_err err = kj_msgpack_unpack_body(buf, len, &u, NULL, 0);
    if (err) goto done;
    decode_event(&u.data, &opts, false, &item);
    if (item.error[0]) {
        err = KJ_ERR_DECODE;
        goto done;
    }
    *ev = item.ev;
done:
    msgpack_unpacked_destroy(&u);
    return err;
}

const msgpack_object *kj_msgpack_get(const msgpack_object *m, const char *key)
{
    if (!m || m->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
            memcmp(kj_msgpack_str(k), key, kl) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}
