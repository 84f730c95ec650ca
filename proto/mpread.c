/* kinerja — plain event bodies read straight from msgpack bytes (mpread.h).
 *
 * Every value is read with its bounds checked against the bytes left, so a
 * length or count that lies ends the read (and hands the body to the general
 * path) before anything is allocated for it. The values given to the builder
 * are the ones codec_msgpack.c's value_of makes of msgpack-c's objects. */
#include "mpread.h"

#include <stdint.h>
#include <string.h>

#include "decode_internal.h"
#include "mpwalk.h"

/* Keys of one event map read before it is built: more than any valid event
 * has (KJ_F_COUNT), so only maps that fail anyway take the general path. */
#define KEYS_MAX 32

typedef struct reader {
    const uint8_t *p, *end;
} reader;

/* One key and value of an event map. */
typedef struct entry {
    const char *key;
    size_t key_len;
    kj_value v;                       /* KJ_V_ARRAY for an array ... */
    const uint8_t *array, *array_end; /* ... whose bytes these are */
} entry;

static bool take(reader *r, size_t n, const uint8_t **at)
{
    if ((size_t)(r->end - r->p) < n) return false;
    *at = r->p;
    r->p += n;
    return true;
}

/* A big-endian unsigned number of w bytes. */
static bool uint_be(reader *r, size_t w, uint64_t *v)
{
    const uint8_t *at;
    if (!take(r, w, &at)) return false;
    *v = 0;
    for (size_t i = 0; i < w; i++)
        *v = (*v << 8) | at[i];
    return true;
}

static bool signed_be(reader *r, size_t w, kj_value *v)
{
    uint64_t u;
    if (!uint_be(r, w, &u)) return false;
    int shift = (int)(64 - 8 * w); /* sign-extend from w bytes */
    v->kind = KJ_V_INT;
    v->i = (int64_t)(u << shift) >> shift;
    return true;
}

static bool unsigned_be(reader *r, size_t w, kj_value *v)
{
    uint64_t u;
    if (!uint_be(r, w, &u)) return false;
    v->kind = u > INT64_MAX ? KJ_V_BIGINT : KJ_V_INT;
    v->i = u > INT64_MAX ? 0 : (int64_t)u;
    return true;
}

/* n payload bytes: a string's (kept) or a binary's or extension's (skipped). */
static bool payload(reader *r, uint64_t n, kj_value *v, kj_vkind kind)
{
    const uint8_t *at;
    if (n > (uint64_t)(r->end - r->p) || !take(r, (size_t)n, &at)) return false;
    v->kind = kind;
    if (kind == KJ_V_STR) v->s = (const char *)at, v->len = (size_t)n;
    return true;
}

static bool sized(reader *r, size_t w, size_t extra, kj_value *v, kj_vkind kind)
{
    uint64_t n;
    return uint_be(r, w, &n) && payload(r, n + extra, v, kind);
}

/* A value that is not a container; false for a container or short bytes. */
static bool scalar(reader *r, kj_value *v)
{
    const uint8_t *at;
    if (!take(r, 1, &at)) return false;
    uint8_t c = *at;
    *v = (kj_value){.kind = KJ_V_INT, .i = c >= 0xe0 ? (int8_t)c : c};
    if (c <= 0x7f || c >= 0xe0) return true;
    if (c >= 0xa0 && c <= 0xbf) return payload(r, c & 0x1f, v, KJ_V_STR);
    switch (c) {
    case 0xc0: v->kind = KJ_V_NIL; return true;
    case 0xc2:
    case 0xc3: v->kind = KJ_V_BOOL, v->i = c == 0xc3; return true;
    case 0xcc: return unsigned_be(r, 1, v);
    case 0xcd: return unsigned_be(r, 2, v);
    case 0xce: return unsigned_be(r, 4, v);
    case 0xcf: return unsigned_be(r, 8, v);
    case 0xd0: return signed_be(r, 1, v);
    case 0xd1: return signed_be(r, 2, v);
    case 0xd2: return signed_be(r, 4, v);
    case 0xd3: return signed_be(r, 8, v);
    case 0xca: return payload(r, 4, v, KJ_V_FLOAT);
    case 0xcb: return payload(r, 8, v, KJ_V_FLOAT);
    case 0xd9: return sized(r, 1, 0, v, KJ_V_STR);
    case 0xda: return sized(r, 2, 0, v, KJ_V_STR);
    case 0xdb: return sized(r, 4, 0, v, KJ_V_STR);
    case 0xc4: return sized(r, 1, 0, v, KJ_V_OTHER); /* binary */
    case 0xc5: return sized(r, 2, 0, v, KJ_V_OTHER);
    case 0xc6: return sized(r, 4, 0, v, KJ_V_OTHER);
    case 0xc7: return sized(r, 1, 1, v, KJ_V_OTHER); /* ext: length, type, data */
    case 0xc8: return sized(r, 2, 1, v, KJ_V_OTHER);
    case 0xc9: return sized(r, 4, 1, v, KJ_V_OTHER);
    case 0xd4: return payload(r, 2, v, KJ_V_OTHER); /* fixext: type, data */
    case 0xd5: return payload(r, 3, v, KJ_V_OTHER);
    case 0xd6: return payload(r, 5, v, KJ_V_OTHER);
    case 0xd7: return payload(r, 9, v, KJ_V_OTHER);
    case 0xd8: return payload(r, 17, v, KJ_V_OTHER);
    default: return false; /* containers, and the reserved 0xc1 */
    }
}

/* A container header (mpwalk.h): an array's, or with map a map's. */
static bool head(reader *r, bool map, uint64_t *n)
{
    size_t left = (size_t)(r->end - r->p);
    size_t len = map ? kj_msgpack_map_head(r->p, left, n) : kj_msgpack_array_head(r->p, left, n);
    r->p += len;
    return len != 0;
}

/* An array of scalars: its length, and its first `keep` values into vals. */
static bool scalar_array(reader *r, size_t *n, kj_value *vals, size_t keep)
{
    uint64_t len;
    if (!head(r, false, &len) || len > (uint64_t)(r->end - r->p)) return false;
    for (uint64_t i = 0; i < len; i++) {
        kj_value v;
        if (!scalar(r, &v)) return false;
        if (i < keep) vals[i] = v;
    }
    *n = (size_t)len;
    return true;
}

static bool read_entry(reader *r, entry *e)
{
    kj_value key;
    if (!scalar(r, &key) || key.kind != KJ_V_STR) return false;
    e->key = key.s, e->key_len = key.len;
    uint64_t n;
    if (!head(&(reader){r->p, r->end}, false, &n)) return scalar(r, &e->v);
    size_t len;
    e->v = (kj_value){.kind = KJ_V_ARRAY};
    e->array = r->p;
    if (!scalar_array(r, &len, NULL, 0)) return false;
    e->array_end = r->p;
    return true;
}

static const kj_value *first(const entry *e, uint32_t n, const char *key, size_t len)
{
    for (uint32_t i = 0; i < n; i++)
        if (e[i].key_len == len && memcmp(e[i].key, key, len) == 0) return &e[i].v;
    return NULL;
}

/* elements / behaviour, as codec_msgpack.c's build_array. */
static void build_array(kj_builder *b, kj_field f, const entry *e)
{
    kj_value vals[KJ_ELEMENTS]; /* the longer of elements and behaviour */
    size_t n = 0;
    bool is_array = e->v.kind == KJ_V_ARRAY;
    if (is_array) scalar_array(&(reader){e->array, e->array_end}, &n, vals, KJ_ELEMENTS);
    (f == KJ_F_ELEMENTS ? kj_build_elements : kj_build_behaviour)(b, is_array, n, vals);
}

/* Feeds the builder in the order codec_msgpack.c's decode_event does. */
static void build(const entry *e, uint32_t n, const kj_validate_opts *opts, kj_batch_item *item)
{
    kj_builder b;
    kj_build_begin(&b, item, opts, true);
    kj_build_prepare(&b, first(e, n, "id", 2), first(e, n, "type", 4));
    for (uint32_t i = 0; i < n && !b.failed; i++) {
        kj_field f = kj_build_key(&b, e[i].key, e[i].key_len);
        if (f == KJ_F_META)
            kj_build_meta(&b, KJ_META_NOT_MAP, NULL, 0); /* a map is not plain */
        else if (f == KJ_F_ELEMENTS || f == KJ_F_BEHAVIOUR)
            build_array(&b, f, &e[i]);
        else if (f != KJ_F_NONE)
            kj_build_value(&b, f, &e[i].v);
    }
    kj_build_end(&b);
}

static bool read_event(reader *r, const kj_validate_opts *opts, kj_batch_item *item)
{
    entry e[KEYS_MAX];
    uint64_t n;
    if (!head(r, true, &n) || n > KEYS_MAX) return false;
    for (uint32_t i = 0; i < n; i++)
        if (!read_entry(r, &e[i])) return false;
    build(e, (uint32_t)n, opts, item);
    return true;
}

bool kj_mpread_batch(const void *buf, size_t len, const kj_validate_opts *opts, kj_batch **out)
{
    reader r = {buf, (const uint8_t *)buf + len};
    uint64_t n = 1, keys;
    bool single = head(&(reader){r.p, r.end}, true, &keys); /* one event, not an array */
    if (!single &&
        (!head(&r, false, &n) || n > kj_batch_limit(opts) || n > (uint64_t)(r.end - r.p)))
        return false;
    kj_batch *b = kj_batch_new((size_t)n, single);
    if (!b) return false;
    for (; b->n < n; b->n++)
        if (!read_event(&r, opts, &b->items[b->n])) goto general;
    if (r.p == r.end) {
        *out = b;
        return true;
    }
general:
    kj_batch_free(b);
    return false;
}
