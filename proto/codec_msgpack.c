/* kinerja — the msgpack codec: bodies and frames in, the raw log's canonical
 * events out. Validation itself is the builder's (decode_internal.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "decode_internal.h"

/* ---- a bounded unpack ----------------------------------------------------- */

/* Read a big-endian length of w bytes at p[*off]; false when it does not fit. */
static bool read_len(const uint8_t *p, size_t len, size_t *off, size_t w, uint64_t *out)
{
    if (len - *off < w) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < w; i++)
        v = (v << 8) | p[*off + i];
    *off += w;
    *out = v;
    return true;
}

/* The shape of a msgpack value, from its first byte: `width` bytes of length
 * follow (0: the length is `count`, inside the byte); the length counts
 * payload bytes (mult 0) or child values (mult 1 per element, 2 per pair);
 * `skip` more payload bytes follow in any case (numbers, an ext's type). */
typedef struct shape {
    uint8_t width, mult, skip, count;
} shape;

static bool shape_of(uint8_t c, shape *s)
{
    *s = (shape){0};
    if (c <= 0x7f || c >= 0xe0) return true; /* fixint */
    if (c <= 0x9f) {                         /* fixmap, fixarray */
        s->mult = c <= 0x8f ? 2 : 1;
        s->count = c & 0x0f;
        return true;
    }
    if (c <= 0xbf) { /* fixstr */
        s->count = c & 0x1f;
        return true;
    }
    switch (c) {
    case 0xc0:
    case 0xc2:
    case 0xc3: return true; /* nil, false, true */
    case 0xc4:
    case 0xd9: s->width = 1; return true; /* bin 8, str 8 */
    case 0xc5:
    case 0xda: s->width = 2; return true;
    case 0xc6:
    case 0xdb: s->width = 4; return true;
    case 0xc7: *s = (shape){.width = 1, .skip = 1}; return true; /* ext 8 */
    case 0xc8: *s = (shape){.width = 2, .skip = 1}; return true;
    case 0xc9: *s = (shape){.width = 4, .skip = 1}; return true;
    case 0xcc:
    case 0xd0: s->skip = 1; return true; /* uint 8, int 8 */
    case 0xcd:
    case 0xd1: s->skip = 2; return true;
    case 0xca:
    case 0xce:
    case 0xd2: s->skip = 4; return true; /* float 32, (u)int 32 */
    case 0xcb:
    case 0xcf:
    case 0xd3: s->skip = 8; return true;
    case 0xd4: s->skip = 2; return true; /* fixext 1: type + 1 */
    case 0xd5: s->skip = 3; return true;
    case 0xd6: s->skip = 5; return true;
    case 0xd7: s->skip = 9; return true;
    case 0xd8: s->skip = 17; return true;
    case 0xdc: *s = (shape){.width = 2, .mult = 1}; return true; /* array 16 */
    case 0xdd: *s = (shape){.width = 4, .mult = 1}; return true;
    case 0xde: *s = (shape){.width = 2, .mult = 2}; return true; /* map 16 */
    case 0xdf: *s = (shape){.width = 4, .mult = 2}; return true;
    default: return false; /* 0xc1, never used */
    }
}

/* Walk one msgpack value without building it. msgpack-c allocates the objects
 * of a container when it reads its header, so a 5-byte body declaring 2^32
 * elements would ask for ~100 GiB. Here every announced value must be present
 * (at least one byte each) before msgpack-c sees the bytes, which bounds what
 * it allocates by the body's size; counting them lets a lie stop the walk early. */
static kj_err prescan(const uint8_t *p, size_t len, char *msg, size_t msglen)
{
    size_t off = 0;
    uint64_t pending = 1; /* values announced and not yet read */
    while (pending > 0) {
        shape s;
        if (off >= len) goto truncated;
        if (!shape_of(p[off], &s)) {
            kj_set_msg(msg, msglen, "body: not valid msgpack (byte 0x%02x at offset %zu)", p[off],
                       off);
            return KJ_ERR_DECODE;
        }
        off++;
        uint64_t n = s.count;
        if (s.width && !read_len(p, len, &off, s.width, &n)) goto truncated;
        uint64_t skip = s.skip + (s.mult ? 0 : n);
        pending = pending - 1 + n * s.mult;
        if (skip > len - off || pending > len - off) goto truncated;
        off += skip;
    }
    if (off != len) {
        kj_set_msg(msg, msglen, "body: not valid msgpack (%zu bytes after the value)", len - off);
        return KJ_ERR_DECODE;
    }
    return KJ_OK;

truncated:
    kj_set_msg(msg, msglen, "body: not valid msgpack (truncated, or a length beyond the end)");
    return KJ_ERR_DECODE;
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
        v.kind = KJ_V_STR, v.s = o->via.str.ptr, v.len = o->via.str.size;
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
           memcmp(k->via.str.ptr, name, len) == 0;
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
        if ((st = kj_meta_pack_str(pk, bb, kv->key.via.str.ptr, kv->key.via.str.size))) return st;
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
    case MSGPACK_OBJECT_STR: return kj_meta_pack_str(pk, bb, o->via.str.ptr, o->via.str.size);
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

static void build_elements(kj_builder *b, const msgpack_object *o)
{
    kj_value vals[KJ_ELEMENTS];
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        kj_build_elements(b, false, 0, NULL);
        return;
    }
    size_t n = o->via.array.size;
    for (size_t i = 0; i < n && i < KJ_ELEMENTS; i++)
        vals[i] = value_of(&o->via.array.ptr[i]);
    kj_build_elements(b, true, n, vals);
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
        kj_field f = kj_build_key(&b, kv[i].key.via.str.ptr, kv[i].key.via.str.size);
        if (f == KJ_F_META) {
            build_meta(&b, &kv[i].val);
        } else if (f == KJ_F_ELEMENTS) {
            build_elements(&b, &kv[i].val);
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
    for (size_t i = 0; i < n; i++)
        decode_event(&elems[i], opts, true, &b->items[i]);
    *out = b;
    return KJ_OK;
}

kj_err kj_msgpack_decode_batch(const void *buf, size_t len, const kj_validate_opts *opts,
                               kj_batch **out, char *msg, size_t msglen)
{
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

static void pack_key(msgpack_packer *pk, kj_field f)
{
    const char *name = kj_field_name(f);
    size_t len = strlen(name);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, name, len);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void pack_field(msgpack_packer *pk, const kj_event *ev, kj_field f)
{
    switch (f) {
    case KJ_F_ID: pack_str(pk, ev->id); break;
    case KJ_F_TYPE: pack_str(pk, kj_event_type_name(ev->type)); break;
    case KJ_F_TS: msgpack_pack_int64(pk, ev->ts); break;
    case KJ_F_UNIT: pack_str(pk, ev->unit); break;
    case KJ_F_EMPLOYEE: pack_str(pk, ev->employee); break;
    case KJ_F_COUNTER: pack_str(pk, ev->counter); break;
    case KJ_F_KIND: pack_str(pk, ev->kind); break;
    case KJ_F_SERVICE: pack_str(pk, ev->service); break;
    case KJ_F_DURATION_MS: msgpack_pack_int64(pk, ev->duration_ms); break;
    case KJ_F_DUE_TS: msgpack_pack_int64(pk, ev->due_ts); break;
    case KJ_F_QUALITY: msgpack_pack_int32(pk, ev->quality); break;
    case KJ_F_WAIT_MS: msgpack_pack_int64(pk, ev->wait_ms); break;
    case KJ_F_SERVICE_MS: msgpack_pack_int64(pk, ev->service_ms); break;
    case KJ_F_OUTCOME: pack_str(pk, kj_outcome_name(ev->outcome)); break;
    case KJ_F_SCORE: msgpack_pack_int32(pk, ev->score); break;
    case KJ_F_ELEMENTS:
        msgpack_pack_array(pk, KJ_ELEMENTS);
        for (int i = 0; i < KJ_ELEMENTS; i++)
            msgpack_pack_uint8(pk, ev->elements[i]);
        break;
    case KJ_F_SOURCE: pack_str(pk, kj_source_name(ev->source)); break;
    case KJ_F_STATE: pack_str(pk, kj_presence_name(ev->state)); break;
    case KJ_F_BY: pack_str(pk, ev->by); break;
    case KJ_F_ALERT: pack_str(pk, ev->alert); break;
    case KJ_F_INDICATOR: pack_str(pk, ev->indicator); break;
    case KJ_F_TEXT:
    case KJ_F_NOTE: pack_str(pk, ev->text); break;
    case KJ_F_META: pk->callback(pk->data, (const char *)ev->meta, ev->meta_len); break;
    default: break;
    }
}

void kj_msgpack_pack_event(msgpack_packer *pk, const kj_event *ev)
{
    uint32_t n = 0;
    for (int f = 0; f < KJ_F_COUNT; f++)
        n += kj_field_present(ev, (kj_field)f);
    msgpack_pack_map(pk, n);
    for (int f = 0; f < KJ_F_COUNT; f++) {
        if (!kj_field_present(ev, (kj_field)f)) continue;
        pack_key(pk, (kj_field)f);
        pack_field(pk, ev, (kj_field)f);
    }
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
