/* kinerja — internal to proto/: the event builder that both codecs feed.
 *
 * The rules of SPEC §3 (which fields a type has, which are required, the
 * ranges, identifiers, the clock, the error messages) live here and in event.c
 * only. A codec turns each key and value of an event map into a kj_value (no
 * allocation: strings point into the decoded body) and hands them over in the
 * order of the map:
 *
 *     kj_build_begin(&b, item, opts, true);
 *     kj_build_prepare(&b, id_or_NULL, type_or_NULL);    the first "id"/"type"
 *     for each key, value, while !b.failed:
 *         f = kj_build_key(&b, key, key_len);           unknown/duplicate -> fail
 *         KJ_F_META:     the codec packs meta itself, then kj_build_meta()
 *         KJ_F_ELEMENTS: the codec collects the array, then kj_build_elements()
 *         KJ_F_BEHAVIOUR: the same, then kj_build_behaviour()
 *         otherwise:     kj_build_value(&b, f, &value)
 *     kj_build_end(&b);                                  required fields, clock
 *
 * The first error wins; afterwards the item holds only the error and, when it
 * was valid, the event's id (so that the caller can name the rejected event). */
#ifndef KJ_DECODE_INTERNAL_H
#define KJ_DECODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "event.h"

/* Nesting allowed inside `meta`: far beyond any real use, and it keeps the
 * recursion of the meta packers and converters small and bounded. */
#define KJ_META_DEPTH 16

/* Nesting allowed by kj_json_from_msgpack (its own recursion bound). */
#define KJ_JSON_DEPTH 32

typedef enum kj_vkind {
    KJ_V_NIL,
    KJ_V_BOOL,
    KJ_V_INT,    /* fits int64_t: i */
    KJ_V_BIGINT, /* a positive integer above INT64_MAX */
    KJ_V_FLOAT,
    KJ_V_STR, /* s, len: bytes not yet checked for UTF-8 */
    KJ_V_ARRAY,
    KJ_V_MAP,
    KJ_V_OTHER, /* binary, extension types */
} kj_vkind;

typedef struct kj_value {
    kj_vkind kind;
    int64_t i;
    const char *s;
    size_t len;
} kj_value;

/* The fields of SPEC §3; the order is the canonical order on the wire. */
typedef enum kj_field {
    KJ_F_ID,
    KJ_F_TYPE,
    KJ_F_TS,
    KJ_F_UNIT,
    KJ_F_EMPLOYEE,
    KJ_F_COUNTER,
    KJ_F_KIND,
    KJ_F_SERVICE,
    KJ_F_DURATION_MS,
    KJ_F_DUE_TS,
    KJ_F_QUALITY,
    KJ_F_WAIT_MS,
    KJ_F_SERVICE_MS,
    KJ_F_OUTCOME,
    KJ_F_SCORE,
    KJ_F_ELEMENTS,
    KJ_F_SOURCE,
    KJ_F_STATE,
    KJ_F_TICKET,
    KJ_F_META,
    KJ_F_PERIOD, /* assessment (SPEC §15) */
    KJ_F_BEHAVIOUR,
    KJ_F_BY,   /* assessment, feedback, ack */
    KJ_F_NOTE, /* assessment, ack */
    KJ_F_TEXT, /* feedback (SPEC §16) */
    KJ_F_ALERT,
    KJ_F_INDICATOR,
    KJ_F_COUNT,
    KJ_F_NONE = -1, /* kj_build_key failed */
} kj_field;

/* The outcome of packing a `meta` value (codec-specific) for kj_build_meta. */
typedef enum kj_meta_status {
    KJ_META_OK,
    KJ_META_NOT_MAP,
    KJ_META_TOO_BIG,
    KJ_META_TOO_DEEP,
    KJ_META_BAD_UTF8,
    KJ_META_BAD_KEY,   /* a key that is not a string */
    KJ_META_BAD_VALUE, /* binary, extension, a non-finite number */
} kj_meta_status;

typedef struct kj_builder {
    kj_batch_item *item;
    const kj_validate_opts *opts;
    bool check_clock; /* false for the raw log (kj_msgpack_unpack_event) */
    bool failed;
    uint32_t seen; /* bit per kj_field */
    int next;      /* where field_lookup starts: after the last key found */
} kj_builder;

/* The wire name of a field ("event" for KJ_F_NONE), and its length. */
const char *kj_field_name(kj_field f);
size_t kj_field_name_len(kj_field f);

/* Whether the canonical form of ev (the raw log, JSON answers) carries field f:
 * the fields of its type that are required or present, in kj_field order. */
bool kj_field_present(const kj_event *ev, kj_field f);
/* The same for every field at once: bit f set when ev carries field f. */
uint32_t kj_fields_present(const kj_event *ev);

/* The events a body may hold: opts->max_events, where 0 or anything above
 * the protocol's KJ_BATCH_MAX means KJ_BATCH_MAX. */
size_t kj_batch_limit(const kj_validate_opts *opts);

/* A new batch with room for n items and none built (n is 0): each decoder
 * builds items[b->n] with kj_build_begin and then counts it, so that
 * kj_batch_free, at any point, releases only built items. NULL when the items
 * cannot be allocated (their number comes from the input, so this is an
 * answer, not an abort). */
kj_batch *kj_batch_new(size_t n, bool single);

/* Write "body: ..." style one-line messages; msg may be NULL. */
void kj_set_msg(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Start an event in item (zeroed by the caller or not: it is reset here). */
void kj_build_begin(kj_builder *b, kj_batch_item *item, const kj_validate_opts *opts,
                    bool check_clock);

/* The first "id" and "type" values of the map (NULL when absent). Fills ev.id
 * when it is valid, decides the type, or fails. */
void kj_build_prepare(kj_builder *b, const kj_value *id, const kj_value *type);

/* A key of the map: returns its field, or KJ_F_NONE after failing the event
 * (unknown for this type, duplicate). key need not be NUL-terminated. */
kj_field kj_build_key(kj_builder *b, const char *key, size_t len);

/* Fail the event because a key was not a string. */
void kj_build_bad_key(kj_builder *b);

/* The value of field f (not meta, not elements). */
void kj_build_value(kj_builder *b, kj_field f, const kj_value *v);

/* `elements`: is_array false when the value was not an array; n its length;
 * vals its first min(n, KJ_ELEMENTS) items. */
void kj_build_elements(kj_builder *b, bool is_array, size_t n, const kj_value *vals);

/* `behaviour`: as kj_build_elements, with KJ_BEHAVIOURS level names. */
void kj_build_behaviour(kj_builder *b, bool is_array, size_t n, const kj_value *vals);

/* `meta`: on KJ_META_OK, len bytes of canonical msgpack (copied). */
void kj_build_meta(kj_builder *b, kj_meta_status st, const uint8_t *buf, size_t len);

/* Check the required fields and the clock; on failure keep only id and error. */
void kj_build_end(kj_builder *b);

/* Fail the event with "what: reason" (used for "event: must be a map"). */
void kj_build_fail(kj_builder *b, const char *what, const char *reason);

/* A bounded output buffer for msgpack_packer: writes past cap fail the packer
 * (returning -1 from the callback) instead of growing, so that oversized meta
 * is refused after at most cap bytes of work. */
typedef struct kj_boundbuf {
    uint8_t *data;
    size_t len, cap;
    bool overflow;
} kj_boundbuf;

int kj_boundbuf_write(void *data, const char *buf, size_t len);

/* Pack a meta string, refusing it when it alone passes the buffer's bound
 * (checked before UTF-8, so a huge string costs nothing) or is not UTF-8.
 * Shared by the JSON and msgpack codecs. */
kj_meta_status kj_meta_pack_str(msgpack_packer *pk, const kj_boundbuf *bb, const char *s,
                                size_t len);

#endif
