/* kinerja — the JSON codec (jansson): bodies in, events and msgpack values out.
 * Validation itself is the builder's (decode_internal.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "decode_internal.h"

/* ---- events from JSON ------------------------------------------------------ */

static kj_value value_of(const json_t *j)
{
    kj_value v = {.kind = KJ_V_OTHER};
    switch (json_typeof(j)) {
    case JSON_NULL: v.kind = KJ_V_NIL; break;
    case JSON_TRUE: v.kind = KJ_V_BOOL, v.i = 1; break;
    case JSON_FALSE: v.kind = KJ_V_BOOL; break;
    case JSON_INTEGER: v.kind = KJ_V_INT, v.i = json_integer_value(j); break;
    case JSON_REAL: v.kind = KJ_V_FLOAT; break;
    case JSON_STRING:
        v.kind = KJ_V_STR, v.s = json_string_value(j), v.len = json_string_length(j);
        break;
    case JSON_ARRAY: v.kind = KJ_V_ARRAY; break;
    case JSON_OBJECT: v.kind = KJ_V_MAP; break;
    }
    return v;
}

static kj_meta_status pack_meta_value(msgpack_packer *pk, const kj_boundbuf *bb, const json_t *j,
                                      int depth);

static kj_meta_status pack_meta_container(msgpack_packer *pk, const kj_boundbuf *bb,
                                          const json_t *j, int depth)
{
    kj_meta_status st;
    if (depth >= KJ_META_DEPTH) return KJ_META_TOO_DEEP;
    if (json_is_array(j)) {
        size_t n = json_array_size(j);
        if (n > UINT32_MAX || msgpack_pack_array(pk, n) < 0) return KJ_META_TOO_BIG;
        for (size_t i = 0; i < n; i++)
            if ((st = pack_meta_value(pk, bb, json_array_get(j, i), depth + 1))) return st;
        return KJ_META_OK;
    }
    size_t n = json_object_size(j);
    if (n > UINT32_MAX || msgpack_pack_map(pk, n) < 0) return KJ_META_TOO_BIG;
    for (void *it = json_object_iter((json_t *)j); it;
         it = json_object_iter_next((json_t *)j, it)) {
        const char *key = json_object_iter_key(it);
        if ((st = kj_meta_pack_str(pk, bb, key, json_object_iter_key_len(it)))) return st;
        if ((st = pack_meta_value(pk, bb, json_object_iter_value(it), depth + 1))) return st;
    }
    return KJ_META_OK;
}

/* Encode one value of meta as msgpack into the bounded buffer behind pk (meta
 * is kept as msgpack whatever the body was). Recursion is bounded by
 * KJ_META_DEPTH; every failure returns at once. */
static kj_meta_status pack_meta_value(msgpack_packer *pk, const kj_boundbuf *bb, const json_t *j,
                                      int depth)
{
    int r;
    switch (json_typeof(j)) {
    case JSON_NULL: r = msgpack_pack_nil(pk); break;
    case JSON_TRUE: r = msgpack_pack_true(pk); break;
    case JSON_FALSE: r = msgpack_pack_false(pk); break;
    case JSON_INTEGER: r = msgpack_pack_int64(pk, json_integer_value(j)); break;
    case JSON_REAL:
        if (!isfinite(json_real_value(j))) return KJ_META_BAD_VALUE;
        r = msgpack_pack_double(pk, json_real_value(j));
        break;
    case JSON_STRING: return kj_meta_pack_str(pk, bb, json_string_value(j), json_string_length(j));
    case JSON_ARRAY:
    case JSON_OBJECT: return pack_meta_container(pk, bb, j, depth);
    default: return KJ_META_BAD_VALUE;
    }
    return r < 0 ? KJ_META_TOO_BIG : KJ_META_OK;
}

static void build_meta(kj_builder *b, const json_t *j)
{
    uint8_t buf[KJ_META_MAX];
    kj_boundbuf bb = {.data = buf, .cap = sizeof buf};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &bb, kj_boundbuf_write);
    kj_meta_status st = json_is_object(j) ? pack_meta_container(&pk, &bb, j, 0) : KJ_META_NOT_MAP;
    kj_build_meta(b, st, buf, bb.len);
}

static void build_array(kj_builder *b, kj_field f, const json_t *j)
{
    kj_value vals[KJ_ELEMENTS]; /* the longer of elements and behaviour */
    if (!json_is_array(j)) {
        (f == KJ_F_ELEMENTS ? kj_build_elements : kj_build_behaviour)(b, false, 0, NULL);
        return;
    }
    size_t n = json_array_size(j);
    for (size_t i = 0; i < n && i < KJ_ELEMENTS; i++)
        vals[i] = value_of(json_array_get(j, i));
    (f == KJ_F_ELEMENTS ? kj_build_elements : kj_build_behaviour)(b, true, n, vals);
}

static void decode_event(json_t *o, const kj_validate_opts *opts, kj_batch_item *item)
{
    kj_builder b;
    kj_build_begin(&b, item, opts, true);
    if (!json_is_object(o)) {
        kj_build_fail(&b, "event", "must be a map");
        kj_build_end(&b);
        return;
    }
    /* The type decides which keys exist; duplicate keys were refused by the
     * parser, so the lookup finds the only one. */
    json_t *id = json_object_get(o, "id"), *type = json_object_get(o, "type");
    kj_value idv = id ? value_of(id) : (kj_value){0};
    kj_value typev = type ? value_of(type) : (kj_value){0};
    kj_build_prepare(&b, id ? &idv : NULL, type ? &typev : NULL);

    for (void *it = json_object_iter(o); it && !b.failed; it = json_object_iter_next(o, it)) {
        json_t *val = json_object_iter_value(it);
        kj_field f = kj_build_key(&b, json_object_iter_key(it), json_object_iter_key_len(it));
        if (f == KJ_F_META) {
            build_meta(&b, val);
        } else if (f == KJ_F_ELEMENTS || f == KJ_F_BEHAVIOUR) {
            build_array(&b, f, val);
        } else if (f != KJ_F_NONE) {
            kj_value v = value_of(val);
            kj_build_value(&b, f, &v);
        }
    }
    kj_build_end(&b);
}

/* ---- the common body without a document tree ------------------------------------- *
 *
 * Most bodies are arrays of flat events: ASCII strings without escapes,
 * integers, true, false, null. jansson builds a tree of them (an allocation
 * per key and value) only for decode_event to walk it once: for such a body
 * the scanner below hands the same keys and values, in the same order, to
 * the builder straight from the text. Anything else (meta, elements,
 * behaviour, escapes, non-ASCII bytes, fractions, long numbers, duplicate
 * keys, too many events, any syntax error) makes it give up before a single
 * event is built, and jansson decodes the body: its results and messages
 * stay the only ones. */

#define FLAT_KEYS 32 /* keys of one event the scanner takes; an event has fewer */

typedef struct flat_pair {
    const char *key;
    size_t klen;
    kj_value v;
} flat_pair;

typedef struct flat_scan {
    const char *p, *end;
} flat_scan;

static void flat_ws(flat_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static bool flat_char(flat_scan *s, char c)
{
    flat_ws(s);
    if (s->p == s->end || *s->p != c) return false;
    s->p++;
    return true;
}

/* A string of printable ASCII without escapes: its bytes are its value. */
static bool flat_string(flat_scan *s, const char **out, size_t *len)
{
    if (!flat_char(s, '"')) return false;
    const char *start = s->p;
    for (; s->p < s->end; s->p++) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            *out = start, *len = (size_t)(s->p - start);
            s->p++;
            return true;
        }
        if (c < 0x20 || c > 0x7e || c == '\\') return false;
    }
    return false;
}

static bool flat_word(flat_scan *s, const char *w, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0) return false;
    s->p += n;
    return true;
}

/* An integer as jansson reads one: no leading zeros, no fraction or exponent
 * (jansson makes those reals), at most 18 digits (always an int64). */
static bool flat_integer(flat_scan *s, kj_value *v)
{
    bool neg = s->p < s->end && *s->p == '-';
    s->p += neg;
    const char *start = s->p;
    uint64_t x = 0; /* unsigned: a longer number wraps (defined), then is given up */
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        x = x * 10 + (uint64_t)(*s->p++ - '0');
    size_t digits = (size_t)(s->p - start);
    if (digits == 0 || digits > 18 || (digits > 1 && *start == '0')) return false;
    if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')) return false;
    *v = (kj_value){.kind = KJ_V_INT, .i = neg ? -(int64_t)x : (int64_t)x};
    return true;
}

static bool flat_value(flat_scan *s, kj_value *v)
{
    flat_ws(s);
    if (s->p == s->end) return false;
    switch (*s->p) {
    case '"': *v = (kj_value){.kind = KJ_V_STR}; return flat_string(s, &v->s, &v->len);
    case 't': *v = (kj_value){.kind = KJ_V_BOOL, .i = 1}; return flat_word(s, "true", 4);
    case 'f': *v = (kj_value){.kind = KJ_V_BOOL}; return flat_word(s, "false", 5);
    case 'n': *v = (kj_value){.kind = KJ_V_NIL}; return flat_word(s, "null", 4);
    default: return flat_integer(s, v);
    }
}

/* Keys whose values are containers: left to jansson. */
static bool flat_container_key(const char *k, size_t n)
{
    return (n == 4 && !memcmp(k, "meta", 4)) || (n == 8 && !memcmp(k, "elements", 8)) ||
           (n == 9 && !memcmp(k, "behaviour", 9));
}

/* One flat object into pairs (text order); false to give up. */
static bool flat_object(flat_scan *s, flat_pair *pairs, size_t *n)
{
    *n = 0;
    if (!flat_char(s, '{')) return false;
    if (flat_char(s, '}')) return true;
    do {
        if (*n == FLAT_KEYS) return false;
        flat_pair *kv = &pairs[*n];
        if (!flat_string(s, &kv->key, &kv->klen) || !flat_char(s, ':')) return false;
        if (flat_container_key(kv->key, kv->klen) || !flat_value(s, &kv->v)) return false;
        for (size_t i = 0; i < *n; i++) /* jansson refuses the whole body */
            if (pairs[i].klen == kv->klen && !memcmp(pairs[i].key, kv->key, kv->klen)) return false;
        ++*n;
    } while (flat_char(s, ','));
    return flat_char(s, '}');
}

static const kj_value *flat_get(const flat_pair *pairs, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < n; i++)
        if (pairs[i].klen == kl && !memcmp(pairs[i].key, key, kl)) return &pairs[i].v;
    return NULL;
}

/* decode_event's steps for a flat object. */
static void decode_flat(const flat_pair *pairs, size_t n, const kj_validate_opts *opts,
                        kj_batch_item *item)
{
    kj_builder b;
    kj_build_begin(&b, item, opts, true);
    kj_build_prepare(&b, flat_get(pairs, n, "id"), flat_get(pairs, n, "type"));
    for (size_t i = 0; i < n && !b.failed; i++) {
        kj_field f = kj_build_key(&b, pairs[i].key, pairs[i].klen);
        if (f != KJ_F_NONE) kj_build_value(&b, f, &pairs[i].v);
    }
    kj_build_end(&b);
}

/* Walks a body of flat events: counts them (b NULL) or decodes them into b.
 * False when the body is not of that kind. */
static bool flat_walk(const char *buf, size_t len, const kj_validate_opts *opts, kj_batch *b,
                      size_t *count, bool *single)
{
    flat_scan s = {buf, buf + len};
    flat_pair pairs[FLAT_KEYS];
    size_t n = 0, np;
    flat_ws(&s);
    *single = s.p < s.end && *s.p == '{';
    if (*single) {
        if (!flat_object(&s, pairs, &np)) return false;
        if (b) decode_flat(pairs, np, opts, &b->items[0]), b->n = 1;
        n = 1;
    } else if (!flat_char(&s, '[')) {
        return false;
    } else if (!flat_char(&s, ']')) {
        do {
            if (!flat_object(&s, pairs, &np)) return false;
            if (b) decode_flat(pairs, np, opts, &b->items[n]), b->n = n + 1;
            n++;
        } while (flat_char(&s, ','));
        if (!flat_char(&s, ']')) return false;
    }
    flat_ws(&s);
    *count = n;
    return s.p == s.end;
}

/* The most events a flat body can hold: each has a '{' of its own (strings
 * may hold more), and n of them take 3n - 1 bytes at least ("{}", "[{},{}]"). */
static size_t most_events(const char *p, const char *end)
{
    size_t n = 0, most = ((size_t)(end - p) + 1) / 3;
    for (; n < most && (p = memchr(p, '{', (size_t)(end - p))); p++)
        n++;
    return n;
}

/* The batch of a flat body, or NULL: jansson's turn (also for a body over
 * the limit, whose message is the slow path's). The items are sized by the
 * body's braces, so that it is walked once; only when they pass the limit is
 * it counted first, as strings may hold braces. */
static kj_batch *flat_decode(const void *buf, size_t len, const kj_validate_opts *opts)
{
    size_t n, most = most_events(buf, (const char *)buf + len);
    bool single;
    if (most > kj_batch_limit(opts)) {
        if (!flat_walk(buf, len, opts, NULL, &most, &single) || most > kj_batch_limit(opts))
            return NULL;
    }
    kj_batch *b = kj_batch_new(most, false);
    if (b && !flat_walk(buf, len, opts, b, &n, &single)) {
        kj_batch_free(b); /* the events built before it gave up */
        return NULL;
    }
    if (b) b->n = n, b->single = single;
    return b;
}

/* jansson's message may quote the input: keep it one printable ASCII line. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) *s = '?';
}

kj_err kj_json_decode_batch(const void *buf, size_t len, const kj_validate_opts *opts,
                            kj_batch **out, char *msg, size_t msglen)
{
    kj_validate_opts defaults;
    json_error_t jerr;
    kj_batch *b = NULL;
    kj_err err = KJ_OK;
    if (!opts) {
        defaults = kj_validate_defaults();
        opts = &defaults;
    }
    if ((b = flat_decode(buf, len, opts))) {
        *out = b;
        return KJ_OK;
    }
    size_t limit = kj_batch_limit(opts);
    /* Duplicate keys are refused for the whole body: jansson would otherwise
     * keep the last silently, and an event must not change meaning that way. */
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        printable(jerr.text);
        kj_set_msg(msg, msglen, "body: not valid JSON (%s at line %d column %d)", jerr.text,
                   jerr.line, jerr.column);
        return KJ_ERR_DECODE;
    }
    size_t n = 1;
    bool single = true;
    if (json_is_array(root)) {
        n = json_array_size(root), single = false;
        if (n > limit) {
            kj_set_msg(msg, msglen, "body: %zu events, over the limit of %zu", n, limit);
            err = KJ_ERR_TOO_BIG;
            goto fail;
        }
    } else if (!json_is_object(root)) {
        kj_set_msg(msg, msglen, "body: must be an event (an object) or an array of events");
        err = KJ_ERR_DECODE;
        goto fail;
    }

    if (!(b = kj_batch_new(n, single))) {
        kj_set_msg(msg, msglen, "body: out of memory");
        err = KJ_ERR_NOMEM;
        goto fail;
    }
    for (; b->n < n; b->n++)
        decode_event(single ? root : json_array_get(root, b->n), opts, &b->items[b->n]);
    json_decref(root);
    *out = b;
    return KJ_OK;

fail:
    json_decref(root);
    return err;
}

/* ---- msgpack to JSON ------------------------------------------------------------ */

static json_t *base64(const char *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)data;
    size_t n = (len + 2) / 3 * 4;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len) v |= p[i + 2];
        s[o++] = abc[(v >> 18) & 63];
        s[o++] = abc[(v >> 12) & 63];
        s[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < len ? abc[v & 63] : '=';
    }
    json_t *j = json_stringn_nocheck(s, o);
    free(s);
    return j;
}

/* Bytes of the UTF-8 sequence that a lead byte announces (1 for a bad lead). */
static size_t utf8_seq_len(unsigned char c)
{
    return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/* A JSON string of s; bytes that are not UTF-8 become U+FFFD (jansson refuses
 * them, and a display of foreign data should not fail for one bad byte). */
static json_t *string_of(const char *s, size_t len)
{
    if (kj_utf8_valid(s, len)) return json_stringn_nocheck(s, len);
    char *d = malloc(len * 3 + 1);
    if (!d) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq_len((unsigned char)s[i]);
        if (k <= len - i && kj_utf8_valid(s + i, k)) {
            memcpy(d + o, s + i, k);
            o += k, i += k;
        } else {
            memcpy(d + o, "\xef\xbf\xbd", 3);
            o += 3, i += 1;
        }
    }
    json_t *j = json_stringn_nocheck(d, o);
    free(d);
    return j;
}

static json_t *from_msgpack(const msgpack_object *o, int depth);

/* Write o as compact JSON-like text to f: scalars as JSON, containers
 * written here, so that a key nested in a key is written once, as it is. A
 * key made into a string and then dumped again inside its parent's key would
 * have its escapes doubled at every level: 53 bytes of maps nested as keys
 * 26 deep made gigabytes of backslashes. This keeps the text linear in o. */
static bool key_text(FILE *f, const msgpack_object *o, int depth)
{
    if (depth >= KJ_JSON_DEPTH) return false;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        fputc('[', f);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i) fputc(',', f);
            if (!key_text(f, &o->via.array.ptr[i], depth + 1)) return false;
        }
        return fputc(']', f) != EOF;
    }
    if (o->type == MSGPACK_OBJECT_MAP) {
        fputc('{', f);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i) fputc(',', f);
            if (!key_text(f, &o->via.map.ptr[i].key, depth + 1)) return false;
            fputc(':', f);
            if (!key_text(f, &o->via.map.ptr[i].val, depth + 1)) return false;
        }
        return fputc('}', f) != EOF;
    }
    json_t *v = from_msgpack(o, depth);
    int r = v ? json_dumpf(v, f, JSON_ENCODE_ANY | JSON_COMPACT) : -1;
    json_decref(v);
    return r == 0;
}

/* A map key as a string: strings as they are, anything else as its compact
 * text (1 -> "1", [1,2] -> "[1,2]", {"a":{[1]:2}} -> "{\"a\":{[1]:2}}": keys
 * inside a key are not quoted again). */
static json_t *key_of(const msgpack_object *k, int depth)
{
    if (k->type == MSGPACK_OBJECT_STR) return string_of(kj_msgpack_str(k), k->via.str.size);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    bool ok = key_text(f, k, depth);
    if (fclose(f) != 0) ok = false;
    json_t *j = ok ? json_stringn_nocheck(text, len) : NULL;
    free(text);
    return j;
}

static json_t *container_from_msgpack(const msgpack_object *o, int depth)
{
    if (depth >= KJ_JSON_DEPTH) return NULL;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        json_t *a = json_array();
        for (uint32_t i = 0; a && i < o->via.array.size; i++) {
            json_t *v = from_msgpack(&o->via.array.ptr[i], depth + 1);
            if (!v || json_array_append_new(a, v)) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    json_t *m = json_object();
    for (uint32_t i = 0; m && i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        json_t *k = key_of(&kv->key, depth + 1);
        json_t *v = k ? from_msgpack(&kv->val, depth + 1) : NULL;
        int r = v ? json_object_setn_new_nocheck(m, json_string_value(k), json_string_length(k), v)
                  : -1;
        json_decref(k);
        if (r) {
            json_decref(m);
            return NULL;
        }
    }
    return m;
}

/* Recursion is bounded by KJ_JSON_DEPTH: NULL beyond it, whatever built obj. */
static json_t *from_msgpack(const msgpack_object *o, int depth)
{
    char num[24];
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 <= INT64_MAX) return json_integer((json_int_t)o->via.u64);
        /* Beyond json_int_t: a decimal string keeps every digit. */
        snprintf(num, sizeof num, "%" PRIu64, o->via.u64);
        return json_string(num);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return isfinite(o->via.f64) ? json_real(o->via.f64) : json_null();
    case MSGPACK_OBJECT_STR: return string_of(kj_msgpack_str(o), o->via.str.size);
    case MSGPACK_OBJECT_BIN: return base64(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_EXT: return base64(o->via.ext.ptr, o->via.ext.size);
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP: return container_from_msgpack(o, depth);
    }
    return NULL;
}

json_t *kj_json_from_msgpack(const msgpack_object *obj)
{
    return from_msgpack(obj, 0);
}

/* ---- events to JSON --------------------------------------------------------------- */

static json_t *meta_json(const kj_event *ev)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    json_t *j = NULL;
    if (kj_msgpack_unpack_body(ev->meta, ev->meta_len, &u, NULL, 0) == KJ_OK)
        j = kj_json_from_msgpack(&u.data);
    msgpack_unpacked_destroy(&u);
    return j;
}

static json_t *field_json(const kj_event *ev, kj_field f)
{
    switch (f) {
    case KJ_F_ID: return json_string(ev->id);
    case KJ_F_TYPE: return json_string(kj_event_type_name(ev->type));
    case KJ_F_TS: return json_integer(ev->ts);
    case KJ_F_UNIT: return json_string(ev->unit);
    case KJ_F_EMPLOYEE: return json_string(ev->employee);
    case KJ_F_COUNTER: return json_string(ev->counter);
    case KJ_F_KIND: return json_string(ev->kind);
    case KJ_F_SERVICE: return json_string(ev->service);
    case KJ_F_DURATION_MS: return json_integer(ev->duration_ms);
    case KJ_F_DUE_TS: return json_integer(ev->due_ts);
    case KJ_F_QUALITY: return json_integer(ev->quality);
    case KJ_F_WAIT_MS: return json_integer(ev->wait_ms);
    case KJ_F_SERVICE_MS: return json_integer(ev->service_ms);
    case KJ_F_OUTCOME: return json_string(kj_outcome_name(ev->outcome));
    case KJ_F_SCORE: return json_integer(ev->score);
    case KJ_F_ELEMENTS: {
        json_t *a = json_array();
        for (int i = 0; a && i < KJ_ELEMENTS; i++)
            json_array_append_new(a, json_integer(ev->elements[i]));
        return a;
    }
    case KJ_F_SOURCE: return json_string(kj_source_name(ev->source));
    case KJ_F_STATE: return json_string(kj_event_state_name(ev));
    case KJ_F_TICKET: return json_string(ev->ticket);
    case KJ_F_ALERT: return json_string(ev->alert);
    case KJ_F_INDICATOR: return json_string(ev->indicator);
    case KJ_F_TEXT: return json_string(ev->text);
    case KJ_F_META: return meta_json(ev);
    case KJ_F_PERIOD: {
        char name[KJ_PERIOD_NAME_MAX];
        kj_period_format(&ev->period, name, sizeof name);
        return json_string(name);
    }
    case KJ_F_BEHAVIOUR: {
        json_t *a = json_array();
        for (int i = 0; a && i < KJ_BEHAVIOURS; i++)
            json_array_append_new(a, json_string(kj_level_name((kj_level)ev->behaviour[i])));
        return a;
    }
    case KJ_F_BY: return json_string(ev->by);
    case KJ_F_NOTE: return json_stringn(ev->note, ev->note_len);
    default: return NULL;
    }
}

json_t *kj_json_from_event(const kj_event *ev)
{
    json_t *o = json_object();
    for (int f = 0; o && f < KJ_F_COUNT; f++) {
        if (!kj_field_present(ev, (kj_field)f)) continue;
        json_t *v = field_json(ev, (kj_field)f);
        /* NULL: out of memory, or a stored meta that is not msgpack. */
        if (!v || json_object_set_new_nocheck(o, kj_field_name((kj_field)f), v)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}
