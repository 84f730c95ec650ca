/* kinerja — msgpack and JSON codecs for events and batches (SPEC §3, §7).
 *
 * A body is one event (a map) or an array of events. Decoding checks the
 * framing first: bytes that are not msgpack/JSON, a top level that is neither a
 * map nor an array, or more than opts->max_events elements fail the whole body
 * with a one-line message (the caller answers 400 / 413). Otherwise every element
 * becomes an item of the batch, valid or with its own error, and validation of
 * SPEC §3 (fields, types, ranges, identifiers, clock) has been applied.
 *
 * Untrusted input is bounded: nesting depth (msgpack-c and jansson both refuse
 * deep nesting), meta at most KJ_META_MAX bytes encoded, strings checked for
 * UTF-8. */
#ifndef KJ_CODEC_H
#define KJ_CODEC_H

#include <jansson.h>
#include <msgpack.h>
#include <string.h>

#include "event.h"

/* Decode a msgpack body. On success *out owns a new batch (kj_batch_free).
 * On failure returns KJ_ERR_DECODE (not msgpack, trailing bytes, not a
 * map/array) or KJ_ERR_TOO_BIG (too many events) and writes a one-line reason
 * to msg. */
kj_err kj_msgpack_decode_batch(const void *buf, size_t len, const kj_validate_opts *opts,
                               kj_batch **out, char *msg, size_t msglen);

/* The same, for an already unpacked msgpack array or map (a WebSocket frame's
 * `events`). The batch does not borrow from obj. */
kj_err kj_msgpack_decode_batch_obj(const msgpack_object *obj, const kj_validate_opts *opts,
                                   kj_batch **out, char *msg, size_t msglen);

/* Unpack exactly one msgpack value of untrusted bytes (a body, a WebSocket
 * frame) into result, which the caller has msgpack_unpacked_init()ed and will
 * msgpack_unpacked_destroy(); result's strings point into buf. The bytes are
 * walked once before msgpack-c sees them, so that a declared length cannot
 * make it allocate more than about 24 bytes per input byte: every length must
 * fit in the bytes that follow. Returns KJ_ERR_DECODE with a one-line msg for
 * bytes that are not one msgpack value (truncated, trailing bytes, the
 * reserved byte 0xc1) or nest deeper than msgpack-c's 32 levels. */
kj_err kj_msgpack_unpack_body(const void *buf, size_t len, msgpack_unpacked *result, char *msg,
                              size_t msglen);

/* Decode a JSON body; as kj_msgpack_decode_batch. */
kj_err kj_json_decode_batch(const void *buf, size_t len, const kj_validate_opts *opts,
                            kj_batch **out, char *msg, size_t msglen);

/* Pack ev as a canonical msgpack map: fields in a fixed order, absent optional
 * fields left out, meta as stored. This is the raw log's format. */
void kj_msgpack_pack_event(msgpack_packer *pk, const kj_event *ev);

/* The most bytes of one event's canonical form: the largest valid event (a
 * feedback with every identifier of 64 bytes, its text and meta at their
 * limits) takes about 2.6 KB, and any one type with all its fields at their
 * limits fits (test_canonical_bytes). */
#define KJ_EVENT_PACKED_MAX 8192

/* ev's canonical form (as kj_msgpack_pack_event) into buf, which has room for
 * KJ_EVENT_PACKED_MAX bytes; returns its length. */
size_t kj_msgpack_event_bytes(const kj_event *ev, uint8_t *buf);

/* Decode one canonical event (as written by kj_msgpack_pack_event) without the
 * clock checks; meta is allocated with malloc and becomes the caller's
 * (free(ev->meta)). Returns KJ_ERR_DECODE on anything else. */
kj_err kj_msgpack_unpack_event(const void *buf, size_t len, kj_event *ev);

/* A new JSON object of ev, meta included (converted from msgpack). */
json_t *kj_json_from_event(const kj_event *ev);

/* Convert a msgpack object to a new JSON value (maps with non-string keys and
 * binary data become strings). Used for meta and for msgpack -> JSON answers. */
json_t *kj_json_from_msgpack(const msgpack_object *obj);

/* The bytes of a msgpack string object (o->type == MSGPACK_OBJECT_STR).
 * msgpack-c leaves via.str.ptr NULL for an empty string, and NULL is not a
 * string to memcmp, memcpy or jansson (json_stringn(NULL, 0) fails): every
 * conversion of a msgpack string reads it through this, which gives "". */
static inline const char *kj_msgpack_str(const msgpack_object *o)
{
    return o->via.str.ptr ? o->via.str.ptr : "";
}

/* Pack the NUL-terminated string s as a msgpack string. */
static inline void kj_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* The value of key in m when m is a map that has it under a string key; NULL
 * otherwise (m may be NULL). Borrowed from m. */
const msgpack_object *kj_msgpack_get(const msgpack_object *m, const char *key);

#endif
