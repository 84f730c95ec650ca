/* Unit tests of proto/: event validation (SPEC §3) through both codecs, body
 * framing and limits (SPEC §7), hostile input, and the canonical form.
 *
 * Most rules are written once as a JSON event and checked through both codecs:
 * the JSON text is decoded by kj_json_decode_batch, and converted to msgpack
 * (by this file's own converter) for kj_msgpack_decode_batch; both must give
 * the same per-event error. Cases JSON cannot express (binary, non-string keys,
 * integers over int64, duplicate keys in one map) are built as msgpack bytes. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "event.h"
#include "export.h"
#include "mpread.h"

#define NOW_MS 1700000000000LL
#define TS "1700000000000"
#define MSGLEN 256

/* 64 and 65 identifier characters. */
#define S64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define S65 S64 "x"
#define S256 S64 S64 S64 S64
#define S1024 S256 S256 S256 S256
#define ID_RULE "must be 1-64 characters of A-Z a-z 0-9 . _ : -"

static kj_validate_opts test_opts(void)
{
    return (kj_validate_opts){
        .now_ms = NOW_MS,
        .max_age_ms = 35 * KJ_DAY_MS,
        .max_skew_ms = 5 * 60 * 1000,
        .max_events = KJ_BATCH_MAX,
    };
}

/* ---- helpers: JSON text -> msgpack, decoding with either codec ---------- */

enum codec { JSON, MSGPACK };
static const char *const codec_name[] = {"json", "msgpack"};

static void pack_json(msgpack_packer *pk, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL: msgpack_pack_nil(pk); break;
    case JSON_TRUE: msgpack_pack_true(pk); break;
    case JSON_FALSE: msgpack_pack_false(pk); break;
    case JSON_INTEGER: msgpack_pack_int64(pk, json_integer_value(j)); break;
    case JSON_REAL: msgpack_pack_double(pk, json_real_value(j)); break;
    case JSON_STRING:
        msgpack_pack_str(pk, json_string_length(j));
        msgpack_pack_str_body(pk, json_string_value(j), json_string_length(j));
        break;
    case JSON_ARRAY:
        msgpack_pack_array(pk, json_array_size(j));
        for (size_t i = 0; i < json_array_size(j); i++)
            pack_json(pk, json_array_get(j, i));
        break;
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        msgpack_pack_map(pk, json_object_size(j));
        json_object_foreach((json_t *)j, k, v)
        {
            msgpack_pack_str(pk, strlen(k));
            msgpack_pack_str_body(pk, k, strlen(k));
            pack_json(pk, v);
        }
        break;
    }
    }
}

/* The msgpack form of a JSON text (keys in the same order); malloc'd. */
static char *to_msgpack(const char *json, size_t *len)
{
    json_error_t jerr;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &jerr);
    ck_assert_msg(j != NULL, "test JSON does not parse: %s: %s", jerr.text, json);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_json(&pk, j);
    json_decref(j);
    *len = sb.size;
    return msgpack_sbuffer_release(&sb);
}

/* Two decodings of one body give the same items: the same errors, the same
 * events. Frees both batches. */
static void expect_same_items(kj_err ea, kj_batch *a, char *ma, kj_err eb, kj_batch *b, char *mb)
{
    ck_assert_int_eq(ea, eb);
    char *la = strstr(ma, " at line"), *lb = strstr(mb, " at line");
    if (la && lb) *la = *lb = 0; /* the escape moves the column */
    ck_assert_str_eq(ma, mb);
    if (ea) return;
    ck_assert_uint_eq(a->n, b->n);
    ck_assert_int_eq(a->single, b->single);
    for (size_t i = 0; i < a->n; i++) {
        ck_assert_str_eq(a->items[i].error, b->items[i].error);
        ck_assert_str_eq(a->items[i].ev.id, b->items[i].ev.id);
        if (a->items[i].error[0]) continue;
        msgpack_sbuffer sa, sb;
        msgpack_packer pa, pb;
        msgpack_sbuffer_init(&sa), msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pa, &sa, msgpack_sbuffer_write);
        msgpack_packer_init(&pb, &sb, msgpack_sbuffer_write);
        kj_msgpack_pack_event(&pa, &a->items[i].ev);
        kj_msgpack_pack_event(&pb, &b->items[i].ev);
        ck_assert_uint_eq(sa.size, sb.size);
        ck_assert(memcmp(sa.data, sb.data, sa.size) == 0);
        msgpack_sbuffer_destroy(&sa), msgpack_sbuffer_destroy(&sb);
    }
    kj_batch_free(a);
    kj_batch_free(b);
}

/* A plain msgpack body is read straight from its bytes (proto/mpread.c); the
 * general path goes through msgpack-c's objects. Both must give the same. */
static void expect_same_as_general(const void *mp, size_t len, const kj_validate_opts *o,
                                   kj_err err, const kj_batch *b, const char *msg)
{
    kj_batch *direct = NULL, *general = NULL;
    char md[MSGLEN] = "", mg[MSGLEN] = "";
    kj_err ed = kj_msgpack_decode_batch(mp, len, o, &direct, md, MSGLEN);
    ck_assert_int_eq(ed, err);
    ck_assert_str_eq(md, err ? msg : "");
    ck_assert_uint_eq(direct ? direct->n : 0, b ? b->n : 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    kj_err eg = kj_msgpack_unpack_body(mp, len, &u, mg, MSGLEN);
    if (!eg) eg = kj_msgpack_decode_batch_obj(&u.data, o, &general, mg, MSGLEN);
    msgpack_unpacked_destroy(&u);
    expect_same_items(ed, direct, md, eg, general, mg);
}

static kj_err decode(enum codec c, const char *json, const kj_validate_opts *o, kj_batch **out,
                     char *msg)
{
    if (c == JSON) return kj_json_decode_batch(json, strlen(json), o, out, msg, MSGLEN);
    size_t len;
    char *mp = to_msgpack(json, &len);
    kj_err err = kj_msgpack_decode_batch(mp, len, o, out, msg, MSGLEN);
    expect_same_as_general(mp, len, o, err, *out, msg);
    free(mp);
    return err;
}

/* Decode one event with both codecs and check its error ("" = valid). */
static void expect_event(const char *json, const char *want)
{
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_validate_opts o = test_opts();
        kj_batch *b = NULL;
        char msg[MSGLEN] = "";
        kj_err err = decode(c, json, &o, &b, msg);
        ck_assert_msg(err == KJ_OK, "%s: body of %s refused: %d %s", codec_name[c], json, err, msg);
        ck_assert_uint_eq(b->n, 1);
        ck_assert_msg(strcmp(b->items[0].error, want) == 0, "%s: %s: error \"%s\", want \"%s\"",
                      codec_name[c], json, b->items[0].error, want);
        kj_batch_free(b);
    }
}

/* Decode msgpack bytes holding one event and check its error. */
static void expect_msgpack(const void *buf, size_t len, const char *want)
{
    kj_validate_opts o = test_opts();
    kj_batch *b = NULL;
    char msg[MSGLEN] = "";
    kj_err err = kj_msgpack_decode_batch(buf, len, &o, &b, msg, MSGLEN);
    ck_assert_msg(err == KJ_OK, "body refused: %d %s", err, msg);
    ck_assert_uint_eq(b->n, 1);
    ck_assert_str_eq(b->items[0].error, want);
    expect_same_as_general(buf, len, &o, err, b, msg);
    kj_batch_free(b);
}

/* Expect a whole-body failure from both codecs (json may be NULL for msgpack only). */
static void expect_body(enum codec c, const void *buf, size_t len, kj_err want)
{
    kj_validate_opts o = test_opts();
    kj_batch *b = NULL;
    char msg[MSGLEN] = "";
    kj_err err = c == JSON ? kj_json_decode_batch(buf, len, &o, &b, msg, MSGLEN)
                           : kj_msgpack_decode_batch(buf, len, &o, &b, msg, MSGLEN);
    ck_assert_msg(err == want, "%s: got %d (%s), want %d", codec_name[c], err, msg, want);
    if (err == KJ_OK) {
        kj_batch_free(b);
        return;
    }
    ck_assert_ptr_null(b);
    ck_assert_msg(msg[0] && !strchr(msg, '\n'), "%s: message not one line: \"%s\"", codec_name[c],
                  msg);
}

/* A copy of the JSON object text base with key set to the JSON value text
 * value, or removed when value is NULL. malloc'd. */
static char *with(const char *base, const char *key, const char *value)
{
    json_t *o = json_loads(base, 0, NULL);
    ck_assert_ptr_nonnull(o);
    if (value) {
        json_error_t jerr;
        json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
        ck_assert_msg(v != NULL, "test value does not parse: %s", value);
        json_object_set_new(o, key, v);
    } else {
        json_object_del(o, key);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* msgpack bytes built by hand. */
typedef struct mpbuf {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} mpbuf;

static void mp_init(mpbuf *m)
{
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static void mp_str(mpbuf *m, const char *s)
{
    msgpack_pack_str(&m->pk, strlen(s));
    msgpack_pack_str_body(&m->pk, s, strlen(s));
}

static void mp_raw(mpbuf *m, const void *p, size_t len)
{
    msgpack_sbuffer_write(&m->sb, p, len);
}

/* The keys and values of a valid service event, minus `skip` (a key or NULL);
 * returns the number of pairs written. */
static uint32_t mp_service_pairs(mpbuf *m, const char *skip)
{
    static const char *const kv[][2] = {
        {"id", "s1"}, {"type", "service"}, {"unit", "u1"}, {"employee", "e1"}, {"counter", "c1"}};
    uint32_t n = 0;
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (skip && strcmp(skip, kv[i][0]) == 0) continue;
        mp_str(m, kv[i][0]);
        mp_str(m, kv[i][1]);
        n++;
    }
    static const char *const ints[] = {"ts", "wait_ms", "service_ms"};
    for (size_t i = 0; i < 3; i++) {
        if (skip && strcmp(skip, ints[i]) == 0) continue;
        mp_str(m, ints[i]);
        msgpack_pack_int64(&m->pk, i == 0 ? NOW_MS : 1000);
        n++;
    }
    return n;
}

/* A service event with `skip` left out and one extra pair written by extra(). */
static void mp_service_with(mpbuf *m, const char *skip, void (*extra)(mpbuf *))
{
    mpbuf body;
    mp_init(&body);
    uint32_t n = mp_service_pairs(&body, skip) + 1;
    extra(&body);
    mp_init(m);
    msgpack_pack_map(&m->pk, n);
    mp_raw(m, body.sb.data, body.sb.size);
    msgpack_sbuffer_destroy(&body.sb);
}

static void expect_service_with(const char *skip, void (*extra)(mpbuf *), const char *want)
{
    mpbuf m;
    mp_service_with(&m, skip, extra);
    expect_msgpack(m.sb.data, m.sb.size, want);
    msgpack_sbuffer_destroy(&m.sb);
}

/* ---- the valid events of each type -------------------------------------- */

static const char *const base[] = {
    [KJ_EV_TASK] = "{\"id\":\"t1\",\"type\":\"task\",\"ts\":" TS
                   ",\"unit\":\"u1\",\"employee\":\"e1\",\"kind\":\"k1\"}",
    [KJ_EV_SERVICE] = "{\"id\":\"s1\",\"type\":\"service\",\"ts\":" TS
                      ",\"unit\":\"u1\",\"employee\":\"e1\",\"counter\":\"c1\","
                      "\"wait_ms\":1000,\"service_ms\":2000}",
    [KJ_EV_RATING] =
        "{\"id\":\"r1\",\"type\":\"rating\",\"ts\":" TS ",\"unit\":\"u1\",\"score\":4}",
    [KJ_EV_PRESENCE] = "{\"id\":\"p1\",\"type\":\"presence\",\"ts\":" TS
                       ",\"unit\":\"u1\",\"employee\":\"e1\",\"state\":\"available\"}",
    [KJ_EV_TICKET] = "{\"id\":\"k1\",\"type\":\"ticket\",\"ts\":" TS
                     ",\"unit\":\"u1\",\"ticket\":\"A-017\",\"state\":\"issued\"}",
    [KJ_EV_ASSESSMENT] =
        "{\"id\":\"a1\",\"type\":\"assessment\",\"ts\":" TS
        ",\"unit\":\"u1\",\"employee\":\"e1\",\"period\":\"2023-Q4\","
        "\"behaviour\":[\"above\",\"meets\",\"meets\",\"below\",\"above\",\"meets\",\"above\"]}",
    [KJ_EV_FEEDBACK] =
        "{\"id\":\"f1\",\"type\":\"feedback\",\"ts\":" TS
        ",\"unit\":\"u1\",\"employee\":\"e1\",\"kind\":\"praise\",\"text\":\"Bagus\"}",
    [KJ_EV_ACK] =
        "{\"id\":\"a1\",\"type\":\"ack\",\"ts\":" TS ",\"unit\":\"u1\",\"alert\":\"al-1\"}",
};
static const char *const base_id[] = {NULL, "t1", "s1", "r1", "p1", "k1", "a1", "f1", "a1"};

/* A rule: in the base event of `type` (0: every type), set `key` to `value`
 * (JSON text; NULL removes the key) and expect `error` ("" = valid). */
typedef struct rule {
    int type;
    const char *key, *value, *error;
} rule;

#define TASK KJ_EV_TASK
#define SERVICE KJ_EV_SERVICE
#define RATING KJ_EV_RATING
#define PRESENCE KJ_EV_PRESENCE
#define TICKET KJ_EV_TICKET
#define ASSESSMENT KJ_EV_ASSESSMENT
#define BEHAVIOUR_RULE "behaviour: must be an array of 7 levels: below, meets or above"
#define NOTE_RULE "note: must be a UTF-8 string of at most 1024 bytes"
#define FEEDBACK KJ_EV_FEEDBACK
#define ACK KJ_EV_ACK
#define ALL 0

static const rule rules[] = {
    /* common: id */
    {ALL, "id", NULL, "id: required"},
    {ALL, "id", "\"\"", "id: " ID_RULE},
    {ALL, "id", "\"" S64 "\"", ""},
    {ALL, "id", "\"" S65 "\"", "id: " ID_RULE},
    {ALL, "id", "\"a b\"", "id: " ID_RULE},
    {ALL, "id", "\"a/b\"", "id: " ID_RULE},
    {ALL, "id", "\"caf\\u00e9\"", "id: " ID_RULE},
    {ALL, "id", "\"A-z.0_9:x\"", ""},
    {ALL, "id", "17", "id: " ID_RULE},
    {ALL, "id", "null", "id: " ID_RULE},
    /* common: type */
    {ALL, "type", NULL, "type: required"},
    {ALL, "type", "\"shift\"",
     "type: must be one of task, service, rating, presence, ticket, assessment, feedback, ack"},
    {ALL, "type", "\"Task\"",
     "type: must be one of task, service, rating, presence, ticket, assessment, feedback, ack"},
    {ALL, "type", "1",
     "type: must be one of task, service, rating, presence, ticket, assessment, feedback, ack"},
    /* common: ts */
    {ALL, "ts", NULL, "ts: required"},
    {ALL, "ts", "\"" TS "\"", "ts: must be an integer"},
    {ALL, "ts", "1700000000000.0", "ts: must be an integer"},
    {ALL, "ts", "1700000000000.5", "ts: must be an integer"},
    {ALL, "ts", "true", "ts: must be an integer"},
    {ALL, "ts", "1696976000000", ""},                             /* exactly 35 days old */
    {ALL, "ts", "1696975999999", "ts: older than max_event_age"}, /* a ms older */
    {ALL, "ts", "0", "ts: older than max_event_age"},
    {ALL, "ts", "-9223372036854775808", "ts: older than max_event_age"},
    {ALL, "ts", "1700000300000", ""}, /* exactly 5 minutes ahead */
    {ALL, "ts", "1700000300001", "ts: in the future beyond max_clock_skew"},
    {ALL, "ts", "9223372036854775807", "ts: in the future beyond max_clock_skew"},
    /* common: unit */
    {ALL, "unit", NULL, "unit: required"},
    {ALL, "unit", "\"\"", "unit: " ID_RULE},
    {ALL, "unit", "\"" S65 "\"", "unit: " ID_RULE},
    {ALL, "unit", "\"kasemen pelayanan\"", "unit: " ID_RULE},
    {ALL, "unit", "[\"u1\"]", "unit: " ID_RULE},
    {ALL, "unit", "\"kasemen-pelayanan\"", ""},
    /* common: meta */
    {ALL, "meta", "{}", ""},
    {ALL, "meta", "{\"a\":{\"b\":[1,-2,2.5,null,true,false,\"x\"]},\"\\u00e9\":\"\\u00e9\"}", ""},
    {ALL, "meta", "[1]", "meta: must be a map"},
    {ALL, "meta", "\"x\"", "meta: must be a map"},
    {ALL, "meta", "null", "meta: must be a map"},
    /* unknown fields, and the fields of the other types */
    {ALL, "wiat_ms", "1", "wiat_ms: unknown field"},
    {ALL, "ID", "\"x\"", "ID: unknown field"},
    {ALL, "", "1", ": unknown field"},
    {ALL, "a key\nwith a newline", "1", "a?key?with?a?newline: unknown field"},
    {TASK, "counter", "\"c1\"", "counter: unknown field"},
    {TASK, "wait_ms", "1", "wait_ms: unknown field"},
    {TASK, "score", "1", "score: unknown field"},
    {TASK, "state", "\"break\"", "state: unknown field"},
    {TASK, "service", "\"ktp\"", "service: unknown field"},
    {SERVICE, "kind", "\"k\"", "kind: unknown field"},
    {SERVICE, "quality", "1", "quality: unknown field"},
    {SERVICE, "elements", "[1,1,1,1,1,1,1,1,1]", "elements: unknown field"},
    {SERVICE, "source", "\"peer\"", "source: unknown field"},
    {RATING, "wait_ms", "1", "wait_ms: unknown field"},
    {RATING, "outcome", "\"served\"", "outcome: unknown field"},
    {RATING, "state", "\"serving\"", "state: unknown field"},
    {RATING, "kind", "\"k\"", "kind: unknown field"},
    {PRESENCE, "score", "1", "score: unknown field"},
    {PRESENCE, "service", "\"ktp\"", "service: unknown field"},
    {PRESENCE, "duration_ms", "1", "duration_ms: unknown field"},
    /* task */
    {TASK, "employee", NULL, "employee: required"},
    {TASK, "employee", "\"198706152010011002\"", ""},
    {TASK, "employee", "\"" S65 "\"", "employee: " ID_RULE},
    {TASK, "employee", "198706152010011002", "employee: " ID_RULE},
    {TASK, "kind", NULL, "kind: required"},
    {TASK, "kind", "\"surat masuk\"", "kind: " ID_RULE},
    {TASK, "duration_ms", "0", ""},
    {TASK, "duration_ms", "3600000", ""},
    {TASK, "duration_ms", "-1", "duration_ms: must be a non-negative integer"},
    {TASK, "duration_ms", "1.5", "duration_ms: must be a non-negative integer"},
    {TASK, "duration_ms", "5.0", "duration_ms: must be a non-negative integer"},
    {TASK, "duration_ms", "\"5\"", "duration_ms: must be a non-negative integer"},
    {TASK, "due_ts", TS, ""},
    {TASK, "due_ts", "0", ""},
    {TASK, "due_ts", "\"tomorrow\"", "due_ts: must be an integer"},
    {TASK, "due_ts", "1.0e12", "due_ts: must be an integer"},
    {TASK, "quality", "0", ""},
    {TASK, "quality", "100", ""},
    {TASK, "quality", "-1", "quality: must be an integer 0-100"},
    {TASK, "quality", "101", "quality: must be an integer 0-100"},
    {TASK, "quality", "99.5", "quality: must be an integer 0-100"},
    {TASK, "quality", "null", "quality: must be an integer 0-100"},
    /* service */
    {SERVICE, "employee", NULL, "employee: required"},
    {SERVICE, "employee", "\"e 1\"", "employee: " ID_RULE},
    {SERVICE, "counter", NULL, "counter: required"},
    {SERVICE, "counter", "\"loket-3\"", ""},
    {SERVICE, "counter", "\"loket#3\"", "counter: " ID_RULE},
    {SERVICE, "wait_ms", NULL, "wait_ms: required"},
    {SERVICE, "wait_ms", "0", ""},
    {SERVICE, "wait_ms", "-1", "wait_ms: must be a non-negative integer"},
    {SERVICE, "wait_ms", "31622400001", "wait_ms: must be at most 31622400000 (366 days)"},
    {SERVICE, "service_ms", "31622400001", "service_ms: must be at most 31622400000 (366 days)"},
    {TASK, "duration_ms", "31622400001", "duration_ms: must be at most 31622400000 (366 days)"},
    {SERVICE, "wait_ms", "1000.0", "wait_ms: must be a non-negative integer"},
    {SERVICE, "wait_ms", "\"1000\"", "wait_ms: must be a non-negative integer"},
    {SERVICE, "wait_ms", "true", "wait_ms: must be a non-negative integer"},
    {SERVICE, "wait_ms", "null", "wait_ms: must be a non-negative integer"},
    {SERVICE, "wait_ms", "9223372036854775807", "wait_ms: must be at most 31622400000 (366 days)"},
    {SERVICE, "wait_ms", "31622400000", ""},
    {SERVICE, "service_ms", NULL, "service_ms: required"},
    {SERVICE, "service_ms", "-5", "service_ms: must be a non-negative integer"},
    {SERVICE, "service_ms", "{}", "service_ms: must be a non-negative integer"},
    {SERVICE, "service", "\"ktp\"", ""},
    {SERVICE, "service", "\"\"", "service: " ID_RULE},
    {SERVICE, "outcome", "\"served\"", ""},
    {SERVICE, "outcome", "\"no_show\"", ""},
    {SERVICE, "outcome", "\"transferred\"", ""},
    {SERVICE, "outcome", "\"no-show\"", "outcome: must be one of served, no_show, transferred"},
    {SERVICE, "outcome", "0", "outcome: must be one of served, no_show, transferred"},
    /* rating */
    {RATING, "score", NULL, "score: required"},
    {RATING, "score", "1", ""},
    {RATING, "score", "2", ""},
    {RATING, "score", "3", ""},
    {RATING, "score", "0", "score: must be an integer 1-4"},
    {RATING, "score", "5", "score: must be an integer 1-4"},
    {RATING, "score", "-4", "score: must be an integer 1-4"},
    {RATING, "score", "4.0", "score: must be an integer 1-4"},
    {RATING, "score", "\"4\"", "score: must be an integer 1-4"},
    {RATING, "employee", "\"e1\"", ""},
    {RATING, "employee", "\"\"", "employee: " ID_RULE},
    {RATING, "counter", "\"c1\"", ""},
    {RATING, "counter", "\"" S65 "\"", "counter: " ID_RULE},
    {RATING, "service", "\"ktp\"", ""},
    {RATING, "service", "\"k t p\"", "service: " ID_RULE},
    {RATING, "elements", "[1,2,3,4,1,2,3,4,4]", ""},
    {RATING, "elements", "[1,2,3,4,1,2,3,4]", "elements: must be an array of 9 integers 1-4"},
    {RATING, "elements", "[1,2,3,4,1,2,3,4,1,2]", "elements: must be an array of 9 integers 1-4"},
    {RATING, "elements", "[]", "elements: must be an array of 9 integers 1-4"},
    {RATING, "elements", "[0,2,3,4,1,2,3,4,4]", "elements: must be an array of 9 integers 1-4"},
    {RATING, "elements", "[1,2,3,4,1,2,3,4,5]", "elements: must be an array of 9 integers 1-4"},
    {RATING, "elements", "[1,2,3,4,1,2,3,4,\"4\"]", "elements: must be an array of 9 integers 1-4"},
    {RATING, "elements", "[1,2,3,4,1,2,3,4,4.0]", "elements: must be an array of 9 integers 1-4"},
    {RATING, "elements", "{\"U1\":1}", "elements: must be an array of 9 integers 1-4"},
    {RATING, "elements", "4", "elements: must be an array of 9 integers 1-4"},
    {RATING, "source", "\"citizen\"", ""},
    {RATING, "source", "\"peer\"", ""},
    {RATING, "source", "\"supervisor\"", ""},
    {RATING, "source", "\"boss\"", "source: must be one of citizen, peer, supervisor"},
    {RATING, "source", "null", "source: must be one of citizen, peer, supervisor"},
    /* presence */
    {PRESENCE, "employee", NULL, "employee: required"},
    {PRESENCE, "employee", "\"e:1\"", ""},
    {PRESENCE, "state", NULL, "state: required"},
    {PRESENCE, "state", "\"serving\"", ""},
    {PRESENCE, "state", "\"break\"", ""},
    {PRESENCE, "state", "\"offline\"", ""},
    {PRESENCE, "state", "\"away\"", "state: must be one of available, serving, break, offline"},
    {PRESENCE, "state", "3", "state: must be one of available, serving, break, offline"},
    {PRESENCE, "counter", "\"loket-1\"", ""},
    {PRESENCE, "counter", "\"\"", "counter: " ID_RULE},
    {PRESENCE, "ticket", "\"A-1\"", "ticket: unknown field"},
    /* ticket (SPEC §13) */
    {TICKET, "ticket", NULL, "ticket: required"},
    {TICKET, "ticket", "\"\"", "ticket: " ID_RULE},
    {TICKET, "ticket", "\"A 17\"", "ticket: " ID_RULE},
    {TICKET, "ticket", "17", "ticket: " ID_RULE},
    {TICKET, "state", NULL, "state: required"},
    {TICKET, "state", "\"called\"", ""},
    {TICKET, "state", "\"cancelled\"", ""},
    {TICKET, "state", "\"available\"", "state: must be one of issued, called, cancelled"},
    {TICKET, "state", "\"served\"", "state: must be one of issued, called, cancelled"},
    {TICKET, "service", "\"ktp\"", ""},
    {TICKET, "counter", "\"loket-1\"", ""},
    {TICKET, "employee", "\"e1\"", ""},
    {TICKET, "wait_ms", "1", "wait_ms: unknown field"},
    {TICKET, "kind", "\"k\"", "kind: unknown field"},
    {SERVICE, "ticket", "\"A-017\"", ""},
    {SERVICE, "ticket", "\"A/017\"", "ticket: " ID_RULE},
    {TASK, "ticket", "\"A-1\"", "ticket: unknown field"},
    {PRESENCE, "state", "\"issued\"", "state: must be one of available, serving, break, offline"},
    /* assessment (SPEC §15) */
    {ASSESSMENT, "employee", NULL, "employee: required"},
    {ASSESSMENT, "period", NULL, "period: required"},
    {ASSESSMENT, "behaviour", NULL, "behaviour: required"},
    {ASSESSMENT, "period", "\"2026-12\"", ""},
    {ASSESSMENT, "period", "\"2026\"", ""},
    {ASSESSMENT, "period", "\"2026-13\"", "period: must be a period: YYYY-MM, YYYY-Qn or YYYY"},
    {ASSESSMENT, "period", "\"2026-Q5\"", "period: must be a period: YYYY-MM, YYYY-Qn or YYYY"},
    {ASSESSMENT, "period", "\"Q4-2026\"", "period: must be a period: YYYY-MM, YYYY-Qn or YYYY"},
    {ASSESSMENT, "period", "202612", "period: must be a period: YYYY-MM, YYYY-Qn or YYYY"},
    {ASSESSMENT, "behaviour", "[\"meets\",\"meets\",\"meets\",\"meets\",\"meets\",\"meets\"]",
     BEHAVIOUR_RULE},
    {ASSESSMENT, "behaviour",
     "[\"meets\",\"meets\",\"meets\",\"meets\",\"meets\",\"meets\",\"meets\",\"meets\"]",
     BEHAVIOUR_RULE},
    {ASSESSMENT, "behaviour",
     "[\"meets\",\"meets\",\"meets\",\"meets\",\"meets\",\"meets\",\"good\"]", BEHAVIOUR_RULE},
    {ASSESSMENT, "behaviour",
     "[\"meets\",\"meets\",\"meets\",\"meets\",\"meets\",\"meets\",\"none\"]", BEHAVIOUR_RULE},
    {ASSESSMENT, "behaviour", "[2,2,2,2,2,2,2]", BEHAVIOUR_RULE},
    {ASSESSMENT, "behaviour", "\"meets\"", BEHAVIOUR_RULE},
    {ASSESSMENT, "by", "\"198001012000011001\"", ""},
    {ASSESSMENT, "by", "\"a b\"", "by: " ID_RULE},
    {ASSESSMENT, "note", "\"Pelayanan ramah, \\u00e9 \\\"teladan\\\"\"", ""},
    {ASSESSMENT, "note", "\"\"", ""},
    {ASSESSMENT, "note", "17", NOTE_RULE},
    {ASSESSMENT, "counter", "\"loket-1\"", "counter: unknown field"},
    {ASSESSMENT, "behavior", "[]", "behavior: unknown field"},
    /* feedback (SPEC §16) */
    {FEEDBACK, "employee", NULL, "employee: required"},
    {FEEDBACK, "kind", NULL, "kind: required"},
    {FEEDBACK, "kind", "\"coaching\"", ""},
    {FEEDBACK, "kind", "\"dialog\"", ""},
    {FEEDBACK, "kind", "\"scolding\"", "kind: must be one of praise, coaching, dialog"},
    {FEEDBACK, "text", NULL, "text: required"},
    {FEEDBACK, "text", "\"\"", "text: must be a string of 1-1024 bytes"},
    {FEEDBACK, "text", "\"" S1024 "\"", ""},
    {FEEDBACK, "text", "\"" S1024 "x\"", "text: must be a string of 1-1024 bytes"},
    {FEEDBACK, "text", "\"Terima kasih, pelayanan Anda sangat ramah \u2014 pertahankan\"", ""},
    {FEEDBACK, "text", "17", "text: must be a string of 1-1024 bytes"},
    {FEEDBACK, "by", "\"197912042005011002\"", ""},
    {FEEDBACK, "by", "\"a b\"", "by: " ID_RULE},
    {FEEDBACK, "alert", "\"al-7\"", ""},
    {FEEDBACK, "indicator", "\"wait-p90\"", ""},
    {FEEDBACK, "counter", "\"loket-1\"", "counter: unknown field"},
    {FEEDBACK, "note", "\"x\"", "note: unknown field"},
    /* ack */
    {ACK, "alert", NULL, "alert: required"},
    {ACK, "alert", "\"\"", "alert: " ID_RULE},
    {ACK, "note", "\"\"", ""},
    {ACK, "note", "\"" S1024 "\"", ""},
    {ACK, "note", "\"" S1024 "x\"", NOTE_RULE},
    {ACK, "by", "\"e2\"", ""},
    {ACK, "employee", "\"e1\"", "employee: unknown field"},
    {ACK, "text", "\"x\"", "text: unknown field"},
};

#define N_RULES ((int)(sizeof rules / sizeof rules[0]))

static void check_rule(const rule *r, int type)
{
    char *json = with(base[type], r->key, r->value);
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_validate_opts o = test_opts();
        kj_batch *b = NULL;
        char msg[MSGLEN] = "";
        kj_err err = decode(c, json, &o, &b, msg);
        ck_assert_msg(err == KJ_OK, "%s: body of %s refused: %d %s", codec_name[c], json, err, msg);
        ck_assert_uint_eq(b->n, 1);
        const kj_batch_item *it = &b->items[0];
        ck_assert_msg(strcmp(it->error, r->error) == 0, "%s: %s: error \"%s\", want \"%s\"",
                      codec_name[c], json, it->error, r->error);
        if (r->error[0] && strcmp(r->key, "id") != 0) {
            /* A rejected event keeps its (valid) id and nothing else. */
            ck_assert_str_eq(it->ev.id, base_id[type]);
            ck_assert_str_eq(it->ev.unit, "");
            ck_assert_int_eq(it->ev.ts, 0);
            ck_assert_ptr_null(it->ev.meta);
        }
        if (r->error[0] && strcmp(r->key, "id") == 0) ck_assert_str_eq(it->ev.id, "");
        ck_assert_uint_eq(kj_batch_valid_count(b), r->error[0] ? 0 : 1);
        kj_batch_free(b);
    }
    free(json);
}

START_TEST(test_rule)
{
    const rule *r = &rules[_i];
    if (r->type != ALL) {
        check_rule(r, r->type);
        return;
    }
    for (int t = KJ_EV_TASK; t <= KJ_EV_LAST; t++)
        check_rule(r, t);
}
END_TEST

/* ---- decoded values ------------------------------------------------------- */

static kj_batch *decode_ok(enum codec c, const char *json)
{
    kj_validate_opts o = test_opts();
    kj_batch *b = NULL;
    char msg[MSGLEN] = "";
    kj_err err = decode(c, json, &o, &b, msg);
    ck_assert_msg(err == KJ_OK, "%s: %d %s", codec_name[c], err, msg);
    for (size_t i = 0; i < b->n; i++)
        ck_assert_msg(b->items[i].error[0] == '\0', "%s: item %zu: %s", codec_name[c], i,
                      b->items[i].error);
    return b;
}

#define FULL_TASK                                                                                  \
    "{\"id\":\"t1\",\"type\":\"task\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","          \
    "\"kind\":\"surat\",\"duration_ms\":60000,\"due_ts\":1700000100000,\"quality\":87,"            \
    "\"meta\":{\"a\":1}}"
#define FULL_SERVICE                                                                               \
    "{\"id\":\"s1\",\"type\":\"service\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","       \
    "\"counter\":\"loket-3\",\"service\":\"ktp\",\"wait_ms\":600000,\"service_ms\":300000,"        \
    "\"outcome\":\"transferred\"}"
#define FULL_RATING                                                                                \
    "{\"id\":\"r1\",\"type\":\"rating\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","        \
    "\"counter\":\"loket-3\",\"service\":\"ktp\",\"score\":3,\"elements\":[1,2,3,4,4,3,2,1,2],"    \
    "\"source\":\"supervisor\",\"meta\":{\"note\":\"ramah\",\"n\":[1,2.5]}}"
#define FULL_PRESENCE                                                                              \
    "{\"id\":\"p1\",\"type\":\"presence\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","      \
    "\"counter\":\"loket-3\",\"state\":\"break\"}"
#define FULL_TICKET                                                                                \
    "{\"id\":\"k1\",\"type\":\"ticket\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","        \
    "\"counter\":\"loket-3\",\"service\":\"ktp\",\"state\":\"called\",\"ticket\":\"A-017\"}"
#define FULL_ASSESSMENT                                                                            \
    "{\"id\":\"a1\",\"type\":\"assessment\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","    \
    "\"period\":\"2023-11\",\"behaviour\":[\"above\",\"meets\",\"meets\",\"below\",\"above\","     \
    "\"meets\",\"above\"],\"by\":\"s1\","                                                          \
    "\"note\":\"baik, \\\"rajin\\\"\",\"meta\":{\"a\":1}}"
#define FULL_FEEDBACK                                                                              \
    "{\"id\":\"f1\",\"type\":\"feedback\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","      \
    "\"kind\":\"coaching\",\"text\":\"Antrean panjang: buka loket 4\",\"by\":\"e9\","              \
    "\"alert\":\"al-3\",\"indicator\":\"wait-p90\"}"
#define FULL_ACK                                                                                   \
    "{\"id\":\"a1\",\"type\":\"ack\",\"ts\":" TS                                                   \
    ",\"unit\":\"u1\",\"alert\":\"al-3\",\"by\":\"e9\","                                           \
    "\"note\":\"loket 4 dibuka\"}"

START_TEST(test_values_task)
{
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_batch *b = decode_ok(c, FULL_TASK);
        const kj_event *ev = &b->items[0].ev;
        ck_assert_int_eq(ev->type, KJ_EV_TASK);
        ck_assert_str_eq(ev->id, "t1");
        ck_assert_int_eq(ev->ts, NOW_MS);
        ck_assert_str_eq(ev->unit, "u1");
        ck_assert_str_eq(ev->employee, "e1");
        ck_assert_str_eq(ev->kind, "surat");
        ck_assert(ev->has_duration && ev->has_due && ev->has_quality);
        ck_assert_int_eq(ev->duration_ms, 60000);
        ck_assert_int_eq(ev->due_ts, 1700000100000LL);
        ck_assert_int_eq(ev->quality, 87);
        ck_assert_uint_eq(ev->meta_len, 4);
        ck_assert_mem_eq(ev->meta, "\x81\xa1\x61\x01", 4); /* {"a": 1}, re-encoded */
        ck_assert(b->single);
        kj_batch_free(b);
    }
}
END_TEST

START_TEST(test_values_optional_absent)
{
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_batch *b = decode_ok(c, "[" FULL_PRESENCE ","
                                   "{\"id\":\"t1\",\"type\":\"task\",\"ts\":" TS
                                   ",\"unit\":\"u1\",\"employee\":\"e1\",\"kind\":\"k\"}]");
        ck_assert_uint_eq(b->n, 2);
        ck_assert(!b->single);
        const kj_event *p = &b->items[0].ev, *t = &b->items[1].ev;
        ck_assert_int_eq(p->type, KJ_EV_PRESENCE);
        ck_assert_int_eq(p->state, KJ_PRESENCE_BREAK);
        ck_assert_str_eq(p->counter, "loket-3");
        ck_assert(!t->has_duration && !t->has_due && !t->has_quality && !t->has_elements);
        ck_assert_ptr_null(t->meta);
        ck_assert_uint_eq(t->meta_len, 0);
        ck_assert_str_eq(t->counter, "");
        kj_batch_free(b);
    }
}
END_TEST

START_TEST(test_values_service_and_default_outcome)
{
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_batch *b =
            decode_ok(c, "[" FULL_SERVICE ",{\"id\":\"s2\",\"type\":\"service\",\"ts\":" TS
                         ",\"unit\":\"u1\",\"employee\":\"e1\",\"counter\":\"c1\","
                         "\"wait_ms\":0,\"service_ms\":0}]");
        const kj_event *s = &b->items[0].ev, *d = &b->items[1].ev;
        ck_assert_str_eq(s->counter, "loket-3");
        ck_assert_str_eq(s->service, "ktp");
        ck_assert_int_eq(s->wait_ms, 600000);
        ck_assert_int_eq(s->service_ms, 300000);
        ck_assert_int_eq(s->outcome, KJ_OUTCOME_TRANSFERRED);
        ck_assert_int_eq(d->outcome, KJ_OUTCOME_SERVED);
        ck_assert_str_eq(d->service, "");
        kj_batch_free(b);
    }
}
END_TEST

START_TEST(test_values_rating_and_default_source)
{
    static const uint8_t want[KJ_ELEMENTS] = {1, 2, 3, 4, 4, 3, 2, 1, 2};
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_batch *b = decode_ok(c, "[" FULL_RATING ",{\"id\":\"r2\",\"type\":\"rating\",\"ts\":" TS
                                   ",\"unit\":\"u1\",\"score\":1}]");
        const kj_event *r = &b->items[0].ev, *d = &b->items[1].ev;
        ck_assert_int_eq(r->score, 3);
        ck_assert(r->has_elements);
        ck_assert_mem_eq(r->elements, want, KJ_ELEMENTS);
        ck_assert_int_eq(r->source, KJ_SOURCE_SUPERVISOR);
        ck_assert_ptr_nonnull(r->meta);
        ck_assert_int_eq(d->source, KJ_SOURCE_CITIZEN);
        ck_assert(!d->has_elements);
        ck_assert_str_eq(d->employee, "");
        kj_batch_free(b);
    }
}
END_TEST

START_TEST(test_meta_same_bytes_from_both_codecs)
{
    kj_batch *j = decode_ok(JSON, FULL_RATING), *m = decode_ok(MSGPACK, FULL_RATING);
    ck_assert_uint_eq(j->items[0].ev.meta_len, m->items[0].ev.meta_len);
    ck_assert_mem_eq(j->items[0].ev.meta, m->items[0].ev.meta, j->items[0].ev.meta_len);
    kj_batch_free(j);
    kj_batch_free(m);
}
END_TEST

/* ---- identifiers, UTF-8, names ---------------------------------------------- */

START_TEST(test_id_valid)
{
    ck_assert(kj_id_valid("a", 1));
    ck_assert(kj_id_valid(S64, 64));
    ck_assert(!kj_id_valid(S65, 65));
    ck_assert(!kj_id_valid("", 0));
    ck_assert(kj_id_valid("A-Z.a_z:0-9", 11));
    static const char bad[] = " /\\\"'#@!?*+,;=<>()[]{}|~`$%^&\t\n\x7f\x80\xff";
    for (size_t i = 0; i < sizeof bad - 1; i++)
        ck_assert_msg(!kj_id_valid(&bad[i], 1), "0x%02x accepted", (unsigned char)bad[i]);
    ck_assert(!kj_id_valid("a\0b", 3));
}
END_TEST

START_TEST(test_utf8_valid)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"", true},
        {"plain", true},
        {"caf\xc3\xa9", true},
        {"\xe2\x82\xac", true},      /* U+20AC */
        {"\xf0\x9f\x98\x80", true},  /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", true},  /* U+10FFFF */
        {"\xef\xbf\xbd", true},      /* U+FFFD */
        {"\x80", false},             /* a lone continuation byte */
        {"\xc3", false},             /* truncated */
        {"\xe2\x82", false},         /* truncated */
        {"\xc0\xaf", false},         /* overlong '/' */
        {"\xc1\xbf", false},         /* overlong */
        {"\xe0\x80\xaf", false},     /* overlong */
        {"\xf0\x80\x80\xaf", false}, /* overlong */
        {"\xed\xa0\x80", false},     /* surrogate U+D800 */
        {"\xed\xbf\xbf", false},     /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", false}, /* U+110000 */
        {"\xf5\x80\x80\x80", false}, /* beyond */
        {"\xff", false},
        {"a\xc3\xa9\xc3", false},
        {"\xc3\x28", false}, /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(kj_utf8_valid(cases[i].s, strlen(cases[i].s)) == cases[i].ok,
                      "case %zu: want %d", i, cases[i].ok);
    ck_assert(kj_utf8_valid("a\0b", 3)); /* NUL is a code point; length counts */
}
END_TEST

START_TEST(test_names)
{
    kj_event_type t;
    kj_presence_state p;
    kj_outcome o;
    kj_source s;
    for (int i = KJ_EV_TASK; i <= KJ_EV_LAST; i++) {
        const char *n = kj_event_type_name(i);
        ck_assert(kj_event_type_parse(n, strlen(n), &t));
        ck_assert_int_eq(t, i);
    }
    for (int i = KJ_PRESENCE_AVAILABLE; i <= KJ_PRESENCE_OFFLINE; i++) {
        const char *n = kj_presence_name(i);
        ck_assert(kj_presence_parse(n, strlen(n), &p));
        ck_assert_int_eq(p, i);
    }
    for (int i = KJ_OUTCOME_SERVED; i <= KJ_OUTCOME_TRANSFERRED; i++) {
        const char *n = kj_outcome_name(i);
        ck_assert(kj_outcome_parse(n, strlen(n), &o));
        ck_assert_int_eq(o, i);
    }
    for (int i = KJ_SOURCE_CITIZEN; i <= KJ_SOURCE_SUPERVISOR; i++) {
        const char *n = kj_source_name(i);
        ck_assert(kj_source_parse(n, strlen(n), &s));
        ck_assert_int_eq(s, i);
    }
    ck_assert_str_eq(kj_event_type_name(KJ_EV_SERVICE), "service");
    ck_assert_str_eq(kj_outcome_name(KJ_OUTCOME_NO_SHOW), "no_show");
    ck_assert_str_eq(kj_source_name(KJ_SOURCE_PEER), "peer");
    ck_assert_str_eq(kj_presence_name(KJ_PRESENCE_BREAK), "break");
    kj_ticket_state ts;
    for (int i = KJ_TICKET_ISSUED; i <= KJ_TICKET_CANCELLED; i++) {
        const char *n = kj_ticket_state_name(i);
        ck_assert(kj_ticket_state_parse(n, strlen(n), &ts));
        ck_assert_int_eq(ts, i);
    }
    ck_assert_str_eq(kj_event_type_name(KJ_EV_TICKET), "ticket");
    ck_assert(!kj_ticket_state_parse("served", 6, &ts));
    ck_assert_str_eq(kj_event_type_name(0), "unknown");
    ck_assert_str_eq(kj_presence_name(99), "unknown");
    ck_assert(!kj_event_type_parse("tas", 3, &t));
    ck_assert(!kj_event_type_parse("taskx", 5, &t));
    ck_assert(!kj_presence_parse("", 0, &p));
}
END_TEST

START_TEST(test_defaults_and_clock)
{
    int64_t before = kj_now_ms();
    kj_validate_opts o = kj_validate_defaults();
    int64_t after = kj_now_ms();
    ck_assert_int_ge(o.now_ms, before);
    ck_assert_int_le(o.now_ms, after);
    ck_assert_int_gt(before, 1600000000000LL); /* ms, not s */
    ck_assert_int_eq(o.max_age_ms, 35 * KJ_DAY_MS);
    ck_assert_int_eq(o.max_skew_ms, 300000);
    ck_assert_uint_eq(o.max_events, KJ_BATCH_MAX);
}
END_TEST

START_TEST(test_batch_free_null)
{
    kj_batch_free(NULL);
    ck_assert_uint_eq(kj_batch_valid_count(NULL), 0);
}
END_TEST

/* ---- msgpack-only cases ------------------------------------------------------- */

static void extra_dup_wait(mpbuf *m)
{
    mp_str(m, "wait_ms");
    msgpack_pack_int64(&m->pk, 5);
}
static void extra_dup_id(mpbuf *m)
{
    mp_str(m, "id");
    mp_str(m, "s2");
}
static void extra_int_key(mpbuf *m)
{
    msgpack_pack_int(&m->pk, 1);
    msgpack_pack_int(&m->pk, 1);
}
static void extra_nil_key(mpbuf *m)
{
    msgpack_pack_nil(&m->pk);
    msgpack_pack_int(&m->pk, 1);
}
static void extra_big_ts(mpbuf *m)
{
    mp_str(m, "ts");
    msgpack_pack_uint64(&m->pk, (uint64_t)INT64_MAX + 1);
}
static void extra_max_u64_wait(mpbuf *m)
{
    mp_str(m, "wait_ms");
    msgpack_pack_uint64(&m->pk, UINT64_MAX);
}
static void extra_float32_ts(mpbuf *m)
{
    mp_str(m, "ts");
    msgpack_pack_float(&m->pk, 1.7e12f);
}
static void extra_float_wait(mpbuf *m)
{
    mp_str(m, "wait_ms");
    msgpack_pack_double(&m->pk, 1000.0);
}
static void extra_bin_unit(mpbuf *m)
{
    mp_str(m, "unit");
    msgpack_pack_bin(&m->pk, 2);
    msgpack_pack_bin_body(&m->pk, "u1", 2);
}
static void extra_bad_utf8_unit(mpbuf *m)
{
    mp_str(m, "unit");
    msgpack_pack_str(&m->pk, 3);
    msgpack_pack_str_body(&m->pk, "u\xff\xfe", 3);
}
static void extra_bad_utf8_key(mpbuf *m)
{
    msgpack_pack_str(&m->pk, 4);
    msgpack_pack_str_body(&m->pk, "k\xff\n\"", 4);
    msgpack_pack_int(&m->pk, 1);
}
static void extra_long_key(mpbuf *m)
{
    char key[300];
    memset(key, 'k', sizeof key);
    msgpack_pack_str(&m->pk, sizeof key);
    msgpack_pack_str_body(&m->pk, key, sizeof key);
    msgpack_pack_int(&m->pk, 1);
}
static void extra_meta_bin(mpbuf *m)
{
    mp_str(m, "meta");
    msgpack_pack_map(&m->pk, 1);
    mp_str(m, "b");
    msgpack_pack_bin(&m->pk, 1);
    msgpack_pack_bin_body(&m->pk, "x", 1);
}
static void extra_meta_ext(mpbuf *m)
{
    mp_str(m, "meta");
    msgpack_pack_map(&m->pk, 1);
    mp_str(m, "e");
    msgpack_pack_ext(&m->pk, 1, 5);
    msgpack_pack_ext_body(&m->pk, "x", 1);
}
static void extra_meta_int_key(mpbuf *m)
{
    mp_str(m, "meta");
    msgpack_pack_map(&m->pk, 1);
    msgpack_pack_int(&m->pk, 1);
    mp_str(m, "x");
}
static void extra_meta_bad_utf8(mpbuf *m)
{
    mp_str(m, "meta");
    msgpack_pack_map(&m->pk, 1);
    mp_str(m, "s");
    msgpack_pack_str(&m->pk, 2);
    msgpack_pack_str_body(&m->pk, "\xc0\xaf", 2);
}
static void extra_meta_bad_utf8_key(mpbuf *m)
{
    mp_str(m, "meta");
    msgpack_pack_map(&m->pk, 1);
    msgpack_pack_str(&m->pk, 1);
    msgpack_pack_str_body(&m->pk, "\xff", 1);
    msgpack_pack_nil(&m->pk);
}
static void extra_meta_nan(mpbuf *m)
{
    mp_str(m, "meta");
    msgpack_pack_map(&m->pk, 1);
    mp_str(m, "f");
    msgpack_pack_double(&m->pk, NAN);
}
static void extra_meta_inf32(mpbuf *m)
{
    mp_str(m, "meta");
    msgpack_pack_map(&m->pk, 1);
    mp_str(m, "f");
    msgpack_pack_float(&m->pk, INFINITY);
}
static void extra_meta_numbers(mpbuf *m)
{
    mp_str(m, "meta");
    msgpack_pack_map(&m->pk, 3);
    mp_str(m, "u");
    msgpack_pack_uint64(&m->pk, UINT64_MAX);
    mp_str(m, "f");
    msgpack_pack_float(&m->pk, 0.5f);
    mp_str(m, "n");
    msgpack_pack_int64(&m->pk, INT64_MIN);
}

START_TEST(test_msgpack_only)
{
    expect_service_with(NULL, extra_dup_wait, "wait_ms: duplicate key");
    expect_service_with(NULL, extra_int_key, "event: keys must be strings");
    expect_service_with(NULL, extra_nil_key, "event: keys must be strings");
    expect_service_with("ts", extra_big_ts, "ts: integer out of range");
    expect_service_with("wait_ms", extra_max_u64_wait, "wait_ms: integer out of range");
    expect_service_with("ts", extra_float32_ts, "ts: must be an integer");
    expect_service_with("wait_ms", extra_float_wait, "wait_ms: must be a non-negative integer");
    expect_service_with("unit", extra_bin_unit, "unit: " ID_RULE);
    expect_service_with("unit", extra_bad_utf8_unit, "unit: " ID_RULE);
    expect_service_with(NULL, extra_bad_utf8_key, "k???: unknown field");
    char long_key[128];
    memset(long_key, 'k', 64); /* names in messages are cut at 64 bytes */
    strcpy(long_key + 64, "...: unknown field");
    expect_service_with(NULL, extra_long_key, long_key);
    expect_service_with(NULL, extra_meta_bin,
                        "meta: binary, extension and non-finite values are not allowed");
    expect_service_with(NULL, extra_meta_ext,
                        "meta: binary, extension and non-finite values are not allowed");
    expect_service_with(NULL, extra_meta_int_key, "meta: keys must be strings");
    expect_service_with(NULL, extra_meta_bad_utf8, "meta: strings must be valid UTF-8");
    expect_service_with(NULL, extra_meta_bad_utf8_key, "meta: strings must be valid UTF-8");
    expect_service_with(NULL, extra_meta_nan,
                        "meta: binary, extension and non-finite values are not allowed");
    expect_service_with(NULL, extra_meta_inf32,
                        "meta: binary, extension and non-finite values are not allowed");
    expect_service_with(NULL, extra_meta_numbers, "");
}
END_TEST

START_TEST(test_msgpack_duplicate_id_names_no_id)
{
    mpbuf m;
    mp_service_with(&m, NULL, extra_dup_id);
    kj_validate_opts o = test_opts();
    kj_batch *b = NULL;
    ck_assert_int_eq(kj_msgpack_decode_batch(m.sb.data, m.sb.size, &o, &b, NULL, 0), KJ_OK);
    ck_assert_str_eq(b->items[0].error, "id: duplicate key");
    ck_assert_str_eq(b->items[0].ev.id, "");
    kj_batch_free(b);
    msgpack_sbuffer_destroy(&m.sb);
}
END_TEST

START_TEST(test_json_duplicate_key_refuses_body)
{
    const char *body = "[{\"id\":\"s1\",\"id\":\"s2\"}]";
    expect_body(JSON, body, strlen(body), KJ_ERR_DECODE);
    body =
        "{\"id\":\"s1\",\"type\":\"rating\",\"ts\":" TS ",\"unit\":\"u\",\"score\":1,\"score\":2}";
    expect_body(JSON, body, strlen(body), KJ_ERR_DECODE);
}
END_TEST

/* A flat body is decoded from its text without jansson's tree; spelling one
 * key with an escape ("\u0069d" for "id") sends the same body through jansson.
 * Both must give the same items: the same errors, the same events. */
static void expect_same_both_ways(const char *plain)
{
    const char *at = strstr(plain, "\"id\"");
    ck_assert_ptr_nonnull(at);
    char escaped[4096];
    snprintf(escaped, sizeof escaped, "%.*s\"\\u0069d\"%s", (int)(at - plain), plain, at + 4);
    kj_validate_opts o = test_opts();
    kj_batch *a = NULL, *b = NULL;
    char ma[MSGLEN] = "", mb[MSGLEN] = "";
    kj_err ea = kj_json_decode_batch(plain, strlen(plain), &o, &a, ma, MSGLEN);
    kj_err eb = kj_json_decode_batch(escaped, strlen(escaped), &o, &b, mb, MSGLEN);
    expect_same_items(ea, a, ma, eb, b, mb);
}

/* Bytes of ev's canonical form equal msgpack-c's own packing of the same
 * values (each in its smallest form), and fit KJ_EVENT_PACKED_MAX. */
static void expect_msgpack_c_bytes(const kj_event *ev)
{
    uint8_t buf[KJ_EVENT_PACKED_MAX];
    size_t n = kj_msgpack_event_bytes(ev, buf);
    ck_assert_uint_le(n, KJ_EVENT_PACKED_MAX);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    ck_assert_int_eq(msgpack_unpack_next(&u, (const char *)buf, n, &off), MSGPACK_UNPACK_SUCCESS);
    ck_assert_uint_eq(off, n);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, u.data);
    ck_assert_uint_eq(sb.size, n);
    ck_assert(memcmp(sb.data, buf, n) == 0);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&u);
}

START_TEST(test_canonical_bytes)
{
    static char text[KJ_TEXT_MAX + 1], meta[KJ_META_MAX];
    memset(text, 't', KJ_TEXT_MAX);
    /* meta: {"k": <a string filling KJ_META_MAX>} */
    size_t body = KJ_META_MAX - 6;
    memcpy(meta, "\x81\xa1k\xda", 4);
    meta[4] = (char)(body >> 8), meta[5] = (char)(body & 0xff);
    memset(meta + 6, 'm', body);
    for (int type = 1; type <= KJ_EV_LAST; type++) {
        kj_event ev = {.type = (kj_event_type)type, .ts = NOW_MS};
        char *ids[] = {ev.id,      ev.unit,   ev.employee, ev.counter, ev.kind,
                       ev.service, ev.ticket, ev.by,       ev.alert,   ev.indicator};
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
            memset(ids[i], 'a', KJ_ID_MAX);
        ev.has_duration = ev.has_due = ev.has_quality = ev.has_elements = true;
        ev.duration_ms = KJ_DURATION_MAX_MS, ev.due_ts = NOW_MS, ev.quality = 100;
        ev.wait_ms = ev.service_ms = KJ_DURATION_MAX_MS, ev.score = 4;
        memset(ev.elements, 4, sizeof ev.elements);
        memset(ev.behaviour, KJ_LEVEL_ABOVE, sizeof ev.behaviour);
        ev.note = text, ev.note_len = KJ_TEXT_MAX, ev.text = text;
        ev.meta = (uint8_t *)meta, ev.meta_len = sizeof meta;
        expect_msgpack_c_bytes(&ev);
    }
    /* strings at each boundary of msgpack's forms */
    static const size_t lens[] = {0, 31, 32, 255, 256, KJ_TEXT_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        kj_event ev = {.type = KJ_EV_FEEDBACK, .ts = NOW_MS, .text = text};
        strcpy(ev.id, "f"), strcpy(ev.unit, "u");
        text[lens[i]] = '\0';
        expect_msgpack_c_bytes(&ev);
        text[lens[i]] = 't';
    }
    text[KJ_TEXT_MAX] = '\0';
    /* every width of integer, both signs */
    static const int64_t ints[] = {
        0,         -1,  -32, -33, -128, -129,  -32768, -32769,     INT32_MIN,    -2147483649LL,
        INT64_MIN, 127, 128, 255, 256,  65535, 65536,  UINT32_MAX, 4294967296LL, INT64_MAX};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        kj_event ev = {.type = KJ_EV_SERVICE, .ts = ints[i], .wait_ms = ints[i]};
        strcpy(ev.id, "s"), strcpy(ev.unit, "u");
        expect_msgpack_c_bytes(&ev);
    }
}
END_TEST

/* msgpack's wider forms of small values (a writer other than msgpack-c may use
 * them) are plain too: the direct reader takes them and agrees with the
 * general path. */
START_TEST(test_mpread_wide_forms)
{
    static const uint8_t body[] = {
        0x91, 0x88,                             /* [ {8 keys} ] */
        0xa2, 'i',  'd', 0xd9, 0x02, 's',  '1', /* "id": str8 "s1" */
        0xa4, 't',  'y', 'p',  'e',  0xda, 0x00, 0x07, 's',  'e',  'r',  'v',  'i',  'c',  'e',
        0xa2, 't',  's', 0xd3, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* int64 */
        0xa4, 'u',  'n', 'i',  't',  0xdb, 0x00, 0x00, 0x00, 0x01, 'u',  0xa7, 'w',  'a',  'i',
        't',  '_',  'm', 's',  0xd0, 0x05, /* int8 5 */
        0xaa, 's',  'e', 'r',  'v',  'i',  'c',  'e',  '_',  'm',  's',  0xd1, 0x01, 0x00, /* int16
                                                                                            */
        0xa7, 'c',  'o', 'u',  'n',  't',  'e',  'r',  0xa1, 'c',  0xa8, 'e',  'm',  'p',  'l',
        'o',  'y',  'e', 'e',  0xd2, 0x00, 0x00, 0x00, 0x07,
    };
    kj_validate_opts o = test_opts();
    kj_batch *b = NULL;
    ck_assert(kj_mpread_batch(body, sizeof body, &o, &b));
    ck_assert_str_eq(b->items[0].ev.id, "s1");
    ck_assert_str_eq(b->items[0].error, "employee: must be 1-64 characters of A-Z a-z 0-9 . _ : -");
    kj_batch_free(b);
    expect_msgpack(body, sizeof body, "employee: must be 1-64 characters of A-Z a-z 0-9 . _ : -");
    uint8_t fixed[sizeof body];
    memcpy(fixed, body, sizeof body);
    memcpy(fixed + sizeof body - 5,
           "\xa1"
           "e\xc0\xc0\xc0",
           5); /* employee "e", then 3 bytes too many */
    ck_assert(!kj_mpread_batch(fixed, sizeof body, &o, &b));
    fixed[1] = 0x89; /* a 9th key, whose value is binary */
    static const uint8_t more[] = {0xa4, 'k', 'i', 'n', 'd', 0xc4, 0x01, 0x00};
    uint8_t big[sizeof body + sizeof more];
    memcpy(big, fixed, sizeof body - 3);
    memcpy(big + sizeof body - 3, more, sizeof more);
    ck_assert(kj_mpread_batch(big, sizeof body - 3 + sizeof more, &o, &b));
    ck_assert_str_eq(b->items[0].error, "kind: unknown field");
    kj_batch_free(b);
    expect_msgpack(big, sizeof body - 3 + sizeof more, "kind: unknown field");
    /* a uint64 above INT64_MAX */
    memcpy(big + 27, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9);
    expect_msgpack(big, sizeof body - 3 + sizeof more, "ts: integer out of range");
}
END_TEST

/* Which bodies the direct reader takes (the rest go the general way, which
 * the cases above compare it with). */
START_TEST(test_mpread_takes_plain_bodies)
{
    static const struct {
        const char *json;
        bool direct;
    } cases[] = {
        {"[{\"id\":\"s1\",\"type\":\"service\",\"ts\":" TS ",\"unit\":\"u1\",\"wait_ms\":1,"
         "\"service_ms\":2}]",
         true},
        {"{\"id\":\"s1\",\"type\":\"service\",\"ts\":" TS ",\"unit\":\"u1\"}", true},
        {"[{\"id\":\"r1\",\"type\":\"rating\",\"elements\":[1,2,3,4,1,2,3,4,1]}]", true},
        {"[{\"id\":\"n1\",\"ts\":null,\"x\":1.5,\"y\":true,\"z\":-5}]", true},
        {"[{\"id\":\"bad\",\"ts\":-5,\"x\":null,\"y\":1.5,\"z\":true}, 7]", false},
        {"[{\"id\":\"m1\",\"meta\":{\"a\":1}}]", false},
        {"[{\"id\":\"m1\",\"elements\":[[1]]}]", false},
        {"[]", true},
        {"5", false},
    };
    kj_validate_opts o = test_opts();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *mp = to_msgpack(cases[i].json, &len);
        kj_batch *b = NULL;
        bool direct = kj_mpread_batch(mp, len, &o, &b);
        ck_assert_msg(direct == cases[i].direct, "%s: direct %d", cases[i].json, direct);
        if (direct) ck_assert_ptr_nonnull(b);
        kj_batch_free(b);
        /* cut short, or one byte too many: never the direct way */
        b = NULL;
        ck_assert(!kj_mpread_batch(mp, len - 1, &o, &b));
        mp = realloc(mp, len + 1);
        mp[len] = (char)0xc0;
        ck_assert(!kj_mpread_batch(mp, len + 1, &o, &b));
        ck_assert_ptr_null(b);
        free(mp);
    }
    /* a count that the bytes cannot hold is not believed */
    ck_assert(!kj_mpread_batch("\xdd\x00\x00\x27\x10\x80", 6, &o, &(kj_batch *){NULL}));
}
END_TEST

/* The flat scanner sizes a batch by the body's braces; braces inside strings
 * may pass the limit while the events do not. */
START_TEST(test_json_flat_braces_in_strings)
{
    kj_validate_opts o = test_opts();
    o.max_events = 2;
    const char *body = "[{\"id\":\"a\",\"unit\":\"{{{\"},{\"id\":\"b\",\"unit\":\"}{\"}]";
    kj_batch *b = NULL;
    char msg[MSGLEN] = "";
    ck_assert_int_eq(kj_json_decode_batch(body, strlen(body), &o, &b, msg, MSGLEN), KJ_OK);
    ck_assert_uint_eq(b->n, 2);
    ck_assert_str_eq(b->items[1].ev.id, "b");
    kj_batch_free(b);
    body = "[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"}]";
    ck_assert_int_eq(kj_json_decode_batch(body, strlen(body), &o, &b, msg, MSGLEN), KJ_ERR_TOO_BIG);
    /* the shortest bodies of one and two events */
    static const struct {
        const char *body;
        size_t n;
    } shortest[] = {{"{}", 1}, {"[{}]", 1}, {"[{},{}]", 2}, {"[]", 0}};
    for (size_t i = 0; i < sizeof shortest / sizeof shortest[0]; i++) {
        body = shortest[i].body;
        ck_assert_int_eq(kj_json_decode_batch(body, strlen(body), &o, &b, msg, MSGLEN), KJ_OK);
        ck_assert_uint_eq(b->n, shortest[i].n);
        kj_batch_free(b);
    }
}
END_TEST

START_TEST(test_json_flat_same_as_tree)
{
    static const char *bodies[] = {
        "[{\"id\":\"s1\",\"type\":\"service\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","
        "\"counter\":\"c1\",\"wait_ms\":1000,\"service_ms\":30000}]",
        " { \"type\" : \"task\" ,\n\t\"id\":\"t1\", \"ts\":" TS
        ",\"unit\":\"u\",\"employee\":\"e\","
        "\"kind\":\"k\",\"duration_ms\":-5,\"quality\":100 } \r\n",
        "[{\"id\":\"p1\",\"type\":\"presence\",\"ts\":" TS ",\"unit\":\"u\",\"employee\":\"e\","
        "\"state\":\"serving\"},{\"id\":\"r1\",\"type\":\"rating\",\"ts\":" TS ",\"unit\":\"u\","
        "\"score\":4,\"source\":\"peer\"}]",
        "[{\"id\":\"k1\",\"type\":\"ticket\",\"ts\":" TS ",\"unit\":\"u\",\"ticket\":\"A-1\","
        "\"state\":\"issued\",\"service\":\"kk\"}]",
        /* per-event errors: each must be the same message */
        "[{\"id\":\"x1\",\"type\":\"service\",\"ts\":\"" TS "\",\"unit\":\"u\"}]",
        "[{\"id\":\"x2\",\"type\":\"service\",\"ts\":true,\"unit\":\"u\"}]",
        "[{\"id\":\"x3\",\"type\":\"service\",\"ts\":null,\"unit\":\"u\"}]",
        "[{\"id\":\"x4\",\"type\":\"nope\",\"ts\":" TS ",\"unit\":\"u\"}]",
        "[{\"id\":\"x5\",\"ts\":" TS ",\"unit\":\"u\"}]",
        "[{\"id\":\"x6\",\"type\":\"service\",\"ts\":" TS ",\"unit\":\"u\",\"colour\":1}]",
        "[{\"id\":\"x7\",\"type\":\"service\",\"ts\":1,\"unit\":\"u\"}]",
        "[{\"id\":\"bad id!\",\"type\":\"service\",\"ts\":" TS ",\"unit\":\"u\"}]",
        "[{\"id\":7,\"type\":\"service\",\"ts\":" TS ",\"unit\":\"u\"}]",
        "[{\"id\":\"x8\",\"type\":\"rating\",\"ts\":" TS ",\"unit\":\"u\",\"score\":9}]",
        "[{\"id\":\"x9\",\"type\":\"service\",\"ts\":-0,\"unit\":\"u\",\"wait_ms\":-1}]",
        "[{\"id\":\"y1\",\"type\":\"service\",\"ts\":123456789012345678,\"unit\":\"u\"}]",
        "[{\"id\":\"y2\",\"type\":\"service\",\"ts\":1234567890123456789,\"unit\":\"u\"}]",
        "[{\"id\":\"y3\",\"type\":\"service\",\"ts\":1.5,\"unit\":\"u\"}]",
        "[{\"id\":\"y8\",\"type\":\"service\",\"ts\":123456789012345678901234567890,"
        "\"unit\":\"u\"}]",
        "[{\"id\":\"y4\",\"type\":\"service\",\"ts\":" TS ",\"unit\":\"u\",\"employee\":\"\"}]",
        "[{\"id\":\"y5\",\"type\":\"service\",\"ts\":" TS ",\"unit\":\"\\u00e9\"}]",
        "[{\"id\":\"y6\"},5,{}]",
        /* the flat walk gives up after building an event that owns its text */
        "[" FULL_FEEDBACK ",{\"id\":\"w0\",\"type\":\"service\",\"ts\":1.5}]",
        "[{\"id\":\"w1\",\"type\":\"service\",\"ts\":" TS ",\"unit\":\"u{1}\"},{\"id\":\"w2\","
        "\"unit\":\"{{\"}]",
        /* whole-body errors: the same message */
        "[{\"id\":\"z1\",\"type\":\"service\"},]",
        "[{\"id\":\"z2\",\"type\":\"service\"}] x",
        "[{\"id\":\"z3\",\"type\":\"service\",\"type\":\"task\"}]",
        "[{\"id\":\"z4\",\"ts\":01}]",
        "[{\"id\":\"z5\",\"ts\":truex}]",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++)
        expect_same_both_ways(bodies[i]);
}
END_TEST

START_TEST(test_json_only)
{
    /* Integers beyond int64, NUL in strings, invalid UTF-8: jansson refuses the body. */
    static const char *const bodies[] = {
        "{\"id\":\"s1\",\"ts\":9223372036854775808}",
        "{\"id\":\"s1\",\"ts\":-9223372036854775809}",
        "{\"id\":\"s\\u0000\"}",
        "{\"id\":\"\xff\"}",
        "{\"meta\":{\"a\":\"\xc0\xaf\"}}",
        "{\"id\":\"\\ud800\"}",
        "{\"ts\":1e400}",
        "{\"ts\":NaN}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        expect_body(JSON, bodies[i], strlen(bodies[i]), KJ_ERR_DECODE);
    expect_event("{\"id\":\"s1\",\"type\":\"service\",\"ts\":" TS
                 ",\"unit\":\"u1\",\"employee\":\"e1\","
                 "\"counter\":\"c1\",\"wait_ms\":1e3,\"service_ms\":0}",
                 "wait_ms: must be a non-negative integer");
}
END_TEST

/* ---- body framing and limits --------------------------------------------------- */

START_TEST(test_empty_array)
{
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_batch *b = decode_ok(c, "[]");
        ck_assert_uint_eq(b->n, 0);
        ck_assert(!b->single);
        ck_assert_uint_eq(kj_batch_valid_count(b), 0);
        kj_batch_free(b);
    }
}
END_TEST

START_TEST(test_single_map_and_array_of_one)
{
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_batch *one = decode_ok(c, base[KJ_EV_RATING]);
        ck_assert(one->single);
        ck_assert_uint_eq(one->n, 1);
        kj_batch_free(one);
        char arr[512];
        snprintf(arr, sizeof arr, "[%s]", base[KJ_EV_RATING]);
        kj_batch *a = decode_ok(c, arr);
        ck_assert(!a->single);
        ck_assert_uint_eq(a->n, 1);
        kj_batch_free(a);
    }
}
END_TEST

START_TEST(test_mixed_batch)
{
    char body[2048];
    snprintf(body, sizeof body, "[%s, 1, \"x\", [], null, %s, {}, {\"id\":\"bad id\"}]",
             base[KJ_EV_TASK], base[KJ_EV_SERVICE]);
    static const char *const want[] = {"",
                                       "event: must be a map",
                                       "event: must be a map",
                                       "event: must be a map",
                                       "event: must be a map",
                                       "",
                                       "type: required",
                                       ("id: " ID_RULE)};
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_validate_opts o = test_opts();
        kj_batch *b = NULL;
        char msg[MSGLEN];
        ck_assert_int_eq(decode(c, body, &o, &b, msg), KJ_OK);
        ck_assert_uint_eq(b->n, 8);
        for (size_t i = 0; i < 8; i++)
            ck_assert_msg(strcmp(b->items[i].error, want[i]) == 0,
                          "%s: item %zu: \"%s\" want \"%s\"", codec_name[c], i, b->items[i].error,
                          want[i]);
        ck_assert_uint_eq(kj_batch_valid_count(b), 2);
        ck_assert_str_eq(b->items[5].ev.id, "s1");
        kj_batch_free(b);
    }
}
END_TEST

/* A body of n copies of event, as JSON text and as msgpack. */
static char *repeat_json(const char *event, size_t n)
{
    size_t el = strlen(event);
    char *s = malloc(n * (el + 1) + 3);
    size_t o = 0;
    s[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i) s[o++] = ',';
        memcpy(s + o, event, el);
        o += el;
    }
    s[o++] = ']';
    s[o] = '\0';
    return s;
}

static void check_limit(size_t max_events, size_t n, kj_err want)
{
    char *body = repeat_json(base[KJ_EV_SERVICE], n);
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_validate_opts o = test_opts();
        o.max_events = max_events;
        kj_batch *b = NULL;
        char msg[MSGLEN] = "";
        kj_err err = decode(c, body, &o, &b, msg);
        ck_assert_msg(err == want, "%s: %zu of %zu: %d (%s)", codec_name[c], n, max_events, err,
                      msg);
        if (err == KJ_OK) {
            ck_assert_uint_eq(b->n, n);
            ck_assert_uint_eq(kj_batch_valid_count(b), n);
            kj_batch_free(b);
        } else {
            ck_assert_ptr_null(b);
            ck_assert_msg(strstr(msg, "over the limit") != NULL, "message: %s", msg);
        }
    }
    free(body);
}

START_TEST(test_limit_small)
{
    check_limit(3, 3, KJ_OK);
    check_limit(3, 4, KJ_ERR_TOO_BIG);
    check_limit(1, 1, KJ_OK);
    check_limit(1, 2, KJ_ERR_TOO_BIG);
}
END_TEST

START_TEST(test_limit_default)
{
    check_limit(KJ_BATCH_MAX, KJ_BATCH_MAX, KJ_OK);
    check_limit(KJ_BATCH_MAX, KJ_BATCH_MAX + 1, KJ_ERR_TOO_BIG);
    /* 0 and anything above the protocol's cap mean the cap */
    check_limit(0, KJ_BATCH_MAX + 1, KJ_ERR_TOO_BIG);
    check_limit(KJ_BATCH_MAX * 10, KJ_BATCH_MAX + 1, KJ_ERR_TOO_BIG);
}
END_TEST

START_TEST(test_single_map_within_limit)
{
    /* a single event is one event, whatever the limit */
    kj_validate_opts o = test_opts();
    o.max_events = 1;
    kj_batch *b = NULL;
    const char *s = base[KJ_EV_TASK];
    ck_assert_int_eq(kj_json_decode_batch(s, strlen(s), &o, &b, NULL, 0), KJ_OK);
    kj_batch_free(b);
}
END_TEST

START_TEST(test_not_a_body)
{
    static const char *const json[] = {"",         " ",    "{",    "[",      "[1,",   "5",
                                       "\"x\"",    "null", "true", "{} x",   "[] []", "{}{}",
                                       "\x81\xa1", "nope", "[1,]", "{\"a\"}"};
    for (size_t i = 0; i < sizeof json / sizeof json[0]; i++)
        expect_body(JSON, json[i], strlen(json[i]), KJ_ERR_DECODE);
    static const struct {
        const char *b;
        size_t len;
    } bodies[] = {
        {"", 0},
        {"\xc1", 1},                 /* reserved byte */
        {"\x05", 1},                 /* a number */
        {"\xa1x", 2},                /* a string */
        {"\xc0", 1},                 /* nil */
        {"\xc4\x01x", 3},            /* binary */
        {"\x80\x00", 2},             /* a map, then a trailing byte */
        {"\x90\x90", 2},             /* an array, then another */
        {"\x81", 1},                 /* truncated map */
        {"\x92\xc0", 2},             /* truncated array */
        {"\xdd\xff\xff\xff\xff", 5}, /* 4 G elements declared, none there */
        {"\xdf\xff\xff\xff\xff", 5}, /* 4 G pairs declared */
        {"\xdc\xff\xff\x80", 4},     /* 65535 declared, one there */
        {"\x91\xdb\xff\xff\xff\xff"
         "abc",
         9}, /* a 4 GiB string declared, 3 bytes there */
        {"\x91\xc6\xff\xff\xff\xff"
         "abc",
         9},                                  /* 4 GiB binary */
        {"\x91\xc9\xff\xff\xff\xff\x01x", 8}, /* 4 GiB ext */
        {"\x91\xcb\x00\x00", 4},              /* truncated double */
        {"\x81\xa2id\xc1", 5},                /* reserved byte inside */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        expect_body(MSGPACK, bodies[i].b, bodies[i].len, KJ_ERR_DECODE);
}
END_TEST

/* Every proper prefix of a valid body must fail cleanly (msgpack has no value
 * that is a prefix of another; neither has a JSON array). */
START_TEST(test_every_prefix)
{
    char body[4096];
    snprintf(body, sizeof body, "[%s,%s,%s,%s]", FULL_TASK, FULL_SERVICE, FULL_RATING,
             FULL_PRESENCE);
    size_t len;
    char *packed = to_msgpack(body, &len);
    for (size_t k = 0; k < len; k++) {
        kj_validate_opts o = test_opts();
        kj_batch *b = NULL;
        char msg[MSGLEN] = "";
        /* a copy of exactly k bytes, so that ASan sees any read beyond them */
        char *p = malloc(k ? k : 1);
        memcpy(p, packed, k);
        kj_err err = kj_msgpack_decode_batch(p, k, &o, &b, msg, MSGLEN);
        free(p);
        ck_assert_msg(err == KJ_ERR_DECODE, "prefix %zu of %zu: %d", k, len, err);
        ck_assert_ptr_null(b);
    }
    expect_body(MSGPACK, packed, len, KJ_OK);
    free(packed);
    size_t jl = strlen(body);
    for (size_t k = 0; k < jl; k++) {
        kj_validate_opts o = test_opts();
        kj_batch *b = NULL;
        char *p = malloc(k ? k : 1);
        memcpy(p, body, k);
        kj_err err = kj_json_decode_batch(p, k, &o, &b, NULL, 0);
        free(p);
        ck_assert_msg(err == KJ_ERR_DECODE, "json prefix %zu of %zu: %d", k, jl, err);
    }
}
END_TEST

/* ---- deep nesting ------------------------------------------------------------------ */

#define DEEP 100000

START_TEST(test_deep_msgpack_array)
{
    char *b = malloc(DEEP + 1);
    memset(b, 0x91, DEEP); /* [[[[...nil...]]]] */
    b[DEEP] = (char)0xc0;
    expect_body(MSGPACK, b, DEEP + 1, KJ_ERR_DECODE);
    memset(b, 0x81, DEEP); /* {nil: {nil: ...}} is not even well-formed: also refused */
    expect_body(MSGPACK, b, DEEP + 1, KJ_ERR_DECODE);
    free(b);
}
END_TEST

START_TEST(test_deep_json_array)
{
    char *b = malloc(2 * DEEP);
    memset(b, '[', DEEP);
    memset(b + DEEP, ']', DEEP);
    expect_body(JSON, b, 2 * DEEP, KJ_ERR_DECODE);
    for (size_t i = 0; i < DEEP; i++) /* {"a":{"a":... */
        b[i] = "{\"a\":"[i % 5];
    expect_body(JSON, b, DEEP, KJ_ERR_DECODE);
    free(b);
}
END_TEST

/* A meta value nested `depth` maps deep: {"m":{"m":...{}}}. malloc'd JSON text. */
static char *deep_meta(size_t depth)
{
    char *s = malloc(depth * 6 + 1);
    size_t o = 0;
    for (size_t i = 1; i < depth; i++) {
        memcpy(s + o, "{\"m\":", 5);
        o += 5;
    }
    s[o++] = '{';
    s[o++] = '}';
    memset(s + o, '}', depth - 1);
    o += depth - 1;
    s[o] = '\0';
    return s;
}

START_TEST(test_deep_meta)
{
    char *m16 = deep_meta(16), *m17 = deep_meta(17);
    char *ok = with(base[KJ_EV_TASK], "meta", m16);
    char *deep = with(base[KJ_EV_TASK], "meta", m17);
    expect_event(ok, "");
    expect_event(deep, "meta: nested deeper than 16 levels");
    free(m16), free(m17), free(ok), free(deep);

    /* 40 levels: an error of the event in JSON, of the body in msgpack (msgpack-c
     * stops at 32); 3000 levels: of the body in JSON too (jansson stops at 2048) */
    char *m40 = deep_meta(40), *m3000 = deep_meta(3000);
    char *e40 = with(base[KJ_EV_TASK], "meta", m40);
    kj_validate_opts o = test_opts();
    kj_batch *b = NULL;
    ck_assert_int_eq(kj_json_decode_batch(e40, strlen(e40), &o, &b, NULL, 0), KJ_OK);
    ck_assert_str_eq(b->items[0].error, "meta: nested deeper than 16 levels");
    kj_batch_free(b);
    free(m40), free(e40);
    size_t len;
    mpbuf m;
    mp_init(&m);
    msgpack_pack_map(&m.pk, 1);
    mp_str(&m, "meta");
    for (int i = 0; i < 40; i++) {
        msgpack_pack_map(&m.pk, 1);
        mp_str(&m, "m");
    }
    msgpack_pack_nil(&m.pk);
    expect_body(MSGPACK, m.sb.data, m.sb.size, KJ_ERR_DECODE);
    msgpack_sbuffer_destroy(&m.sb);
    size_t ml = strlen(m3000);
    char *body = malloc(ml + 16);
    len = (size_t)snprintf(body, ml + 16, "{\"meta\":%s}", m3000);
    expect_body(JSON, body, len, KJ_ERR_DECODE);
    free(body), free(m3000);
}
END_TEST

/* ---- huge values ---------------------------------------------------------------- */

/* {"k": "xxx..."} with n x: encoded 1 + 2 + (n < 256 ? 2 : 3) + n bytes. */
static char *meta_of_string(size_t n)
{
    char *s = malloc(n + 16);
    memcpy(s, "{\"k\":\"", 6);
    memset(s + 6, 'x', n);
    memcpy(s + 6 + n, "\"}", 3);
    return s;
}

START_TEST(test_meta_size)
{
    char *m = meta_of_string(KJ_META_MAX - 6), *e = with(base[KJ_EV_PRESENCE], "meta", m);
    expect_event(e, "");
    kj_batch *b = decode_ok(MSGPACK, e);
    ck_assert_uint_eq(b->items[0].ev.meta_len, KJ_META_MAX);
    kj_batch_free(b);
    free(m), free(e);

    m = meta_of_string(KJ_META_MAX - 5), e = with(base[KJ_EV_PRESENCE], "meta", m);
    expect_event(e, "meta: larger than 1024 bytes encoded");
    free(m), free(e);

    m = meta_of_string(1 << 20), e = with(base[KJ_EV_PRESENCE], "meta", m);
    expect_event(e, "meta: larger than 1024 bytes encoded");
    free(m), free(e);

    /* many small values: refused once the encoding passes 1 KiB */
    char *arr = repeat_json("0", 100000);
    size_t al = strlen(arr);
    char *big = malloc(al + 16);
    snprintf(big, al + 16, "{\"a\":%s}", arr);
    e = with(base[KJ_EV_PRESENCE], "meta", big);
    expect_event(e, "meta: larger than 1024 bytes encoded");
    free(arr), free(big), free(e);
}
END_TEST

START_TEST(test_huge_strings)
{
    char *s = malloc((1 << 20) + 3);
    s[0] = '"';
    memset(s + 1, 'a', 1 << 20);
    memcpy(s + 1 + (1 << 20), "\"", 2);
    char *e = with(base[KJ_EV_SERVICE], "id", s);
    expect_event(e, "id: " ID_RULE);
    free(e);
    e = with(base[KJ_EV_SERVICE], "employee", s);
    expect_event(e, "employee: " ID_RULE);
    free(e);
    e = with(base[KJ_EV_SERVICE], "outcome", s);
    expect_event(e, "outcome: must be one of served, no_show, transferred");
    free(e);
    free(s);
}
END_TEST

/* ---- the canonical form -------------------------------------------------------- */

static void assert_events_equal(const kj_event *a, const kj_event *b)
{
    ck_assert_int_eq(a->type, b->type);
    ck_assert_int_eq(a->ts, b->ts);
    ck_assert_str_eq(a->id, b->id);
    ck_assert_str_eq(a->unit, b->unit);
    ck_assert_str_eq(a->employee, b->employee);
    ck_assert_str_eq(a->counter, b->counter);
    ck_assert_str_eq(a->kind, b->kind);
    ck_assert_str_eq(a->service, b->service);
    ck_assert_int_eq(a->has_duration, b->has_duration);
    ck_assert_int_eq(a->has_due, b->has_due);
    ck_assert_int_eq(a->has_quality, b->has_quality);
    ck_assert_int_eq(a->duration_ms, b->duration_ms);
    ck_assert_int_eq(a->due_ts, b->due_ts);
    ck_assert_int_eq(a->quality, b->quality);
    ck_assert_int_eq(a->wait_ms, b->wait_ms);
    ck_assert_int_eq(a->service_ms, b->service_ms);
    ck_assert_int_eq(a->outcome, b->outcome);
    ck_assert_int_eq(a->score, b->score);
    ck_assert_int_eq(a->has_elements, b->has_elements);
    ck_assert_mem_eq(a->elements, b->elements, KJ_ELEMENTS);
    ck_assert_int_eq(a->source, b->source);
    ck_assert_int_eq(a->state, b->state);
    ck_assert_str_eq(a->ticket, b->ticket);
    ck_assert_int_eq(a->ticket_state, b->ticket_state);
    ck_assert_uint_eq(a->meta_len, b->meta_len);
    if (a->meta_len) ck_assert_mem_eq(a->meta, b->meta, a->meta_len);
    ck_assert_int_eq(a->meta == NULL, b->meta == NULL);
    ck_assert_mem_eq(&a->period, &b->period, sizeof a->period);
    ck_assert_mem_eq(a->behaviour, b->behaviour, KJ_BEHAVIOURS);
    ck_assert_str_eq(a->by, b->by);
    ck_assert_int_eq(a->note == NULL, b->note == NULL);
    if (a->note) ck_assert_str_eq(a->note, b->note);
    ck_assert_str_eq(a->alert, b->alert);
    ck_assert_str_eq(a->indicator, b->indicator);
    ck_assert_int_eq(a->text == NULL, b->text == NULL);
    if (a->text) ck_assert_str_eq(a->text, b->text);
}

static const char *const full[] = {NULL,          FULL_TASK,   FULL_SERVICE,    FULL_RATING,
                                   FULL_PRESENCE, FULL_TICKET, FULL_ASSESSMENT, FULL_FEEDBACK,
                                   FULL_ACK};

START_TEST(test_round_trip)
{
    for (int c = JSON; c <= MSGPACK; c++) {
        for (int t = KJ_EV_TASK; t <= KJ_EV_LAST; t++) {
            for (int variant = 0; variant < 2; variant++) {
                kj_batch *b = decode_ok(c, variant ? full[t] : base[t]);
                const kj_event *ev = &b->items[0].ev;
                msgpack_sbuffer sb;
                msgpack_sbuffer_init(&sb);
                msgpack_packer pk;
                msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
                kj_msgpack_pack_event(&pk, ev);

                kj_event back;
                ck_assert_int_eq(kj_msgpack_unpack_event(sb.data, sb.size, &back), KJ_OK);
                assert_events_equal(ev, &back);
                kj_event_release(&back);

                /* the canonical form is a valid body too */
                kj_validate_opts o = test_opts();
                kj_batch *again = NULL;
                ck_assert_int_eq(kj_msgpack_decode_batch(sb.data, sb.size, &o, &again, NULL, 0),
                                 KJ_OK);
                ck_assert_str_eq(again->items[0].error, "");
                assert_events_equal(ev, &again->items[0].ev);
                kj_batch_free(again);
                msgpack_sbuffer_destroy(&sb);
                kj_batch_free(b);
            }
        }
    }
}
END_TEST

/* The canonical key order and the omission of absent optional fields. */
START_TEST(test_canonical_keys)
{
    static const char *const want[] = {
        NULL,
        "id type ts unit employee kind duration_ms due_ts quality meta",
        "id type ts unit employee counter service wait_ms service_ms outcome",
        "id type ts unit employee counter service score elements source meta",
        "id type ts unit employee counter state",
        "id type ts unit employee counter service state ticket",
        "id type ts unit employee meta period behaviour by note",
        "id type ts unit employee kind by text alert indicator",
        "id type ts unit by note alert",
    };
    static const char *const want_min[] = {
        NULL,
        "id type ts unit employee kind",
        "id type ts unit employee counter wait_ms service_ms outcome",
        "id type ts unit score source",
        "id type ts unit employee state",
        "id type ts unit state ticket",
        "id type ts unit employee period behaviour",
        "id type ts unit employee kind text",
        "id type ts unit alert",
    };
    for (int t = KJ_EV_TASK; t <= KJ_EV_LAST; t++) {
        for (int variant = 0; variant < 2; variant++) {
            kj_batch *b = decode_ok(MSGPACK, variant ? full[t] : base[t]);
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            kj_msgpack_pack_event(&pk, &b->items[0].ev);
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t off = 0;
            ck_assert_int_eq(msgpack_unpack_next(&u, sb.data, sb.size, &off),
                             MSGPACK_UNPACK_SUCCESS);
            ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_MAP);
            char keys[256] = "";
            for (uint32_t i = 0; i < u.data.via.map.size; i++) {
                const msgpack_object *k = &u.data.via.map.ptr[i].key;
                ck_assert_int_eq(k->type, MSGPACK_OBJECT_STR);
                if (i) strcat(keys, " ");
                strncat(keys, k->via.str.ptr, k->via.str.size);
            }
            ck_assert_str_eq(keys, variant ? want[t] : want_min[t]);
            msgpack_unpacked_destroy(&u);
            msgpack_sbuffer_destroy(&sb);
            kj_batch_free(b);
        }
    }
}
END_TEST

/* An assessment's note: 1 KiB of UTF-8 at most (the limit, and one past it);
 * the export writes the new columns last, RFC 4180-quoted. */
START_TEST(test_assessment_note_and_export)
{
    char note[KJ_NOTE_MAX + 4];
    for (size_t len = KJ_NOTE_MAX; len <= KJ_NOTE_MAX + 1; len++) {
        char value[KJ_NOTE_MAX + 8];
        memset(note, 'x', len);
        note[len] = '\0';
        snprintf(value, sizeof value, "\"%s\"", note);
        char *json = with(base[KJ_EV_ASSESSMENT], "note", value);
        for (int c = JSON; c <= MSGPACK; c++) {
            kj_validate_opts o = test_opts();
            kj_batch *b = NULL;
            char msg[MSGLEN] = "";
            ck_assert_int_eq(decode(c, json, &o, &b, msg), KJ_OK);
            ck_assert_str_eq(b->items[0].error, len <= KJ_NOTE_MAX ? "" : NOTE_RULE);
            if (len <= KJ_NOTE_MAX) ck_assert_uint_eq(b->items[0].ev.note_len, len);
            kj_batch_free(b);
        }
        free(json);
    }
    kj_batch *b = decode_ok(JSON, FULL_ASSESSMENT);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ck_assert_int_eq(kj_export_event(f, &b->items[0].ev, true), KJ_OK);
    fclose(f);
    ck_assert_str_eq(
        text, "a1,assessment," TS ",u1,e1,,,,,,,,,,,,,,\"{\"\"a\"\":1}\",,2023-11,"
              "\"above,meets,meets,below,above,meets,above\",s1,\"baik, \"\"rajin\"\"\",,,\n");
    ck_assert_ptr_nonnull(strstr(kj_export_csv_header,
                                 ",meta,ticket,period,behaviour,by,note,text,alert,indicator\n"));
    free(text);
    kj_batch_free(b);
}
END_TEST

START_TEST(test_unpack_event_rejects)
{
    kj_event ev;
    memset(&ev, 0x5a, sizeof ev);
    kj_event untouched = ev;
    ck_assert_int_eq(kj_msgpack_unpack_event("", 0, &ev), KJ_ERR_DECODE);
    ck_assert_int_eq(kj_msgpack_unpack_event("\xc1", 1, &ev), KJ_ERR_DECODE);
    ck_assert_int_eq(kj_msgpack_unpack_event("\x90", 1, &ev), KJ_ERR_DECODE); /* an array */
    size_t len;
    char *mp = to_msgpack("{\"id\":\"t1\",\"type\":\"task\",\"ts\":0,\"unit\":\"u\"}", &len);
    ck_assert_int_eq(kj_msgpack_unpack_event(mp, len, &ev), KJ_ERR_DECODE); /* no employee */
    free(mp);
    mp = to_msgpack(FULL_TASK, &len);
    ck_assert_int_eq(kj_msgpack_unpack_event(mp, len - 1, &ev), KJ_ERR_DECODE);
    ck_assert_mem_eq(&ev, &untouched, sizeof ev); /* out-parameter only on success */
    free(mp);

    /* the raw log keeps events of any age: no clock check */
    mp = to_msgpack("{\"id\":\"t1\",\"type\":\"task\",\"ts\":0,\"unit\":\"u\",\"employee\":\"e\","
                    "\"kind\":\"k\",\"meta\":{\"x\":[1]}}",
                    &len);
    ck_assert_int_eq(kj_msgpack_unpack_event(mp, len, &ev), KJ_OK);
    ck_assert_int_eq(ev.ts, 0);
    ck_assert_uint_eq(ev.meta_len, 5);
    free(ev.meta);
    free(mp);
}
END_TEST

static char *dump(json_t *j)
{
    ck_assert_ptr_nonnull(j);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

START_TEST(test_json_from_event)
{
    static const char *const want[] = {
        NULL,
        "{\"id\":\"t1\",\"type\":\"task\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","
        "\"kind\":\"surat\",\"duration_ms\":60000,\"due_ts\":1700000100000,\"quality\":87,"
        "\"meta\":{\"a\":1}}",
        "{\"id\":\"s1\",\"type\":\"service\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","
        "\"counter\":\"loket-3\",\"service\":\"ktp\",\"wait_ms\":600000,\"service_ms\":300000,"
        "\"outcome\":\"transferred\"}",
        "{\"id\":\"r1\",\"type\":\"rating\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","
        "\"counter\":\"loket-3\",\"service\":\"ktp\",\"score\":3,\"elements\":[1,2,3,4,4,3,2,1,2],"
        "\"source\":\"supervisor\",\"meta\":{\"note\":\"ramah\",\"n\":[1,2.5]}}",
        "{\"id\":\"p1\",\"type\":\"presence\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","
        "\"counter\":\"loket-3\",\"state\":\"break\"}",
        "{\"id\":\"k1\",\"type\":\"ticket\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","
        "\"counter\":\"loket-3\",\"service\":\"ktp\",\"state\":\"called\",\"ticket\":\"A-017\"}",
        "{\"id\":\"a1\",\"type\":\"assessment\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","
        "\"meta\":{\"a\":1},\"period\":\"2023-11\",\"behaviour\":[\"above\",\"meets\",\"meets\","
        "\"below\",\"above\",\"meets\",\"above\"]"
        ",\"by\":\"s1\",\"note\":\"baik, \\\"rajin\\\"\"}",
        "{\"id\":\"f1\",\"type\":\"feedback\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","
        "\"kind\":\"coaching\",\"by\":\"e9\",\"text\":\"Antrean panjang: buka loket 4\","
        "\"alert\":\"al-3\",\"indicator\":\"wait-p90\"}",
        "{\"id\":\"a1\",\"type\":\"ack\",\"ts\":" TS ",\"unit\":\"u1\",\"by\":\"e9\","
        "\"note\":\"loket 4 dibuka\",\"alert\":\"al-3\"}",
    };
    for (int c = JSON; c <= MSGPACK; c++) {
        for (int t = KJ_EV_TASK; t <= KJ_EV_LAST; t++) {
            kj_batch *b = decode_ok(c, full[t]);
            char *s = dump(kj_json_from_event(&b->items[0].ev));
            ck_assert_str_eq(s, want[t]);
            /* and it decodes back to the same event */
            kj_batch *back = decode_ok(JSON, s);
            assert_events_equal(&b->items[0].ev, &back->items[0].ev);
            kj_batch_free(back);
            free(s);
            kj_batch_free(b);
        }
    }
    /* a default that was not sent is written out */
    kj_batch *b = decode_ok(JSON, base[KJ_EV_RATING]);
    char *s = dump(kj_json_from_event(&b->items[0].ev));
    ck_assert_str_eq(s, "{\"id\":\"r1\",\"type\":\"rating\",\"ts\":" TS
                        ",\"unit\":\"u1\",\"score\":4,\"source\":\"citizen\"}");
    free(s);
    /* a stored meta that is not msgpack: no answer rather than a wrong one */
    kj_event ev = b->items[0].ev;
    uint8_t bad[] = {0x81, 0xa1};
    ev.meta = bad, ev.meta_len = sizeof bad;
    ck_assert_ptr_null(kj_json_from_event(&ev));
    kj_batch_free(b);
}
END_TEST

static void check_from_msgpack(const void *buf, size_t len, const char *want)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    ck_assert_int_eq(kj_msgpack_unpack_body(buf, len, &u, NULL, 0), KJ_OK);
    char *s = dump(kj_json_from_msgpack(&u.data));
    ck_assert_str_eq(s, want);
    free(s);
    msgpack_unpacked_destroy(&u);
}

START_TEST(test_json_from_msgpack)
{
    mpbuf m;
    mp_init(&m);
    msgpack_pack_map(&m.pk, 9);
    msgpack_pack_int(&m.pk, 7); /* a number key */
    msgpack_pack_nil(&m.pk);
    mp_str(&m, "bin");
    msgpack_pack_bin(&m.pk, 4);
    msgpack_pack_bin_body(&m.pk, "\x00\x01\xfe\xff", 4);
    mp_str(&m, "big");
    msgpack_pack_uint64(&m.pk, UINT64_MAX);
    mp_str(&m, "neg");
    msgpack_pack_int64(&m.pk, INT64_MIN);
    mp_str(&m, "bad");
    msgpack_pack_str(&m.pk, 3);
    msgpack_pack_str_body(&m.pk, "a\xffz", 3);
    mp_str(&m, "nan");
    msgpack_pack_double(&m.pk, NAN);
    mp_str(&m, "f");
    msgpack_pack_float(&m.pk, 0.25f);
    msgpack_pack_array(&m.pk, 2); /* an array key */
    msgpack_pack_true(&m.pk);
    msgpack_pack_false(&m.pk);
    msgpack_pack_int(&m.pk, 1);
    mp_str(&m, "ext");
    msgpack_pack_ext(&m.pk, 3, 9);
    msgpack_pack_ext_body(&m.pk, "abc", 3);
    check_from_msgpack(m.sb.data, m.sb.size,
                       "{\"7\":null,\"bin\":\"AAH+/w==\",\"big\":\"18446744073709551615\","
                       "\"neg\":-9223372036854775808,\"bad\":\"a\xef\xbf\xbdz\",\"nan\":null,"
                       "\"f\":0.25,\"[true,false]\":1,\"ext\":\"YWJj\"}");
    msgpack_sbuffer_destroy(&m.sb);
}
END_TEST

/* Depth of kj_json_from_msgpack is its own: objects built by hand, not by msgpack-c. */
START_TEST(test_json_from_msgpack_depth)
{
    enum { N = 100 };
    msgpack_object *o = calloc(N, sizeof *o);
    for (int i = 0; i < N; i++) {
        o[i].type = MSGPACK_OBJECT_ARRAY;
        o[i].via.array.size = i + 1 < N ? 1 : 0;
        o[i].via.array.ptr = i + 1 < N ? &o[i + 1] : NULL;
    }
    ck_assert_ptr_null(kj_json_from_msgpack(&o[0]));      /* 100 deep */
    ck_assert_ptr_null(kj_json_from_msgpack(&o[N - 33])); /* 33 deep */
    char *s = dump(kj_json_from_msgpack(&o[N - 32]));     /* 32 deep */
    ck_assert_uint_eq(strlen(s), 64);
    free(s);
    free(o);
}
END_TEST

/* msgpack-c gives a NULL pointer for an empty string: an empty key or value
 * in meta must still convert (issue 17: such an event was stored, then the
 * export dropped it or stopped at it). Empty keys are valid meta. */
START_TEST(test_empty_strings_convert)
{
    static const char body[] =
        "{\"id\":\"t1\",\"type\":\"task\",\"ts\":" TS ",\"unit\":\"u1\",\"employee\":\"e1\","
        "\"kind\":\"surat\",\"meta\":{\"\":1,\"a\":\"\",\"b\":{\"\":[\"\"]}}}";
    static const char meta[] = "\"meta\":{\"\":1,\"a\":\"\",\"b\":{\"\":[\"\"]}}}";
    for (int c = JSON; c <= MSGPACK; c++) {
        kj_batch *b = decode_ok(c, body);
        const kj_event *ev = &b->items[0].ev;
        char *s = dump(kj_json_from_event(ev));
        ck_assert_ptr_nonnull(strstr(s, meta));
        free(s);
        /* through the raw log's form too, as the export reads it */
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        kj_msgpack_pack_event(&pk, ev);
        kj_event back;
        ck_assert_int_eq(kj_msgpack_unpack_event(sb.data, sb.size, &back), KJ_OK);
        for (int csv = 0; csv <= 1; csv++) {
            char *line;
            size_t len;
            ck_assert_int_eq(kj_export_line(&back, csv, &line, &len), KJ_OK);
            ck_assert_uint_eq(len, strlen(line));
            ck_assert_ptr_nonnull(strstr(line, csv ? "\"{\"\"\"\":1,\"\"a\"\":\"\"\"\"," : meta));
            free(line);
        }
        free(back.meta);
        msgpack_sbuffer_destroy(&sb);
        kj_batch_free(b);
    }
    /* a key that is not a string, holding empty strings */
    check_from_msgpack("\x81\x81\xa0\xa0\xa0", 5, "{\"{\\\"\\\":\\\"\\\"}\":\"\"}");
}
END_TEST

/* An event that cannot be converted is an error, and nothing of it is written. */
START_TEST(test_export_refuses_bad_meta)
{
    kj_batch *b = decode_ok(JSON, base[KJ_EV_RATING]);
    kj_event ev = b->items[0].ev;
    uint8_t bad[] = {0x81, 0xa1};
    ev.meta = bad, ev.meta_len = sizeof bad;
    char buf[256] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ck_assert_int_eq(kj_export_event(f, &ev, true), KJ_ERR_DECODE);
    ck_assert_int_eq(kj_export_event(f, &ev, false), KJ_ERR_DECODE);
    fclose(f);
    ck_assert_str_eq(buf, "");
    kj_batch_free(b);
}
END_TEST

/* Maps nested as keys: the text of a key is linear in its size (it was
 * exponential: every level doubled the escapes of the one inside). */
START_TEST(test_json_from_msgpack_keys_linear)
{
    enum { DEPTH = 26 };
    uint8_t buf[2 * DEPTH + 2];
    size_t n = 0;
    for (int i = 0; i < DEPTH; i++)
        buf[n++] = 0x81; /* a map of one pair, whose key is the next map */
    buf[n++] = 0xa1, buf[n++] = 'x';
    for (int i = 0; i < DEPTH; i++)
        buf[n++] = 0xc0; /* the values */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    ck_assert_int_eq(kj_msgpack_unpack_body(buf, n, &u, NULL, 0), KJ_OK);
    char *s = dump(kj_json_from_msgpack(&u.data));
    ck_assert_uint_lt(strlen(s), 12 * DEPTH);
    free(s);
    msgpack_unpacked_destroy(&u);

    /* keys deeper than KJ_JSON_DEPTH in all: no answer */
    uint8_t deep[2 * 40 + 2];
    n = 0;
    for (int i = 0; i < 40; i++)
        deep[n++] = 0x81;
    deep[n++] = 0xc0;
    for (int i = 0; i < 40; i++)
        deep[n++] = 0xc0;
    msgpack_unpacked_init(&u);
    if (kj_msgpack_unpack_body(deep, n, &u, NULL, 0) == KJ_OK)
        ck_assert_ptr_null(kj_json_from_msgpack(&u.data));
    msgpack_unpacked_destroy(&u);
}
END_TEST

START_TEST(test_decode_batch_obj)
{
    size_t len;
    char body[1024];
    snprintf(body, sizeof body, "{\"op\":\"events\",\"seq\":1,\"events\":[%s,%s]}",
             base[KJ_EV_TASK], base[KJ_EV_SERVICE]);
    char *mp = to_msgpack(body, &len);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    ck_assert_int_eq(kj_msgpack_unpack_body(mp, len, &u, NULL, 0), KJ_OK);
    const msgpack_object *events = &u.data.via.map.ptr[2].val;
    kj_validate_opts o = test_opts();
    kj_batch *b = NULL;
    ck_assert_int_eq(kj_msgpack_decode_batch_obj(events, &o, &b, NULL, 0), KJ_OK);
    msgpack_unpacked_destroy(&u);
    free(mp); /* the batch does not borrow from the frame */
    ck_assert_uint_eq(b->n, 2);
    ck_assert_uint_eq(kj_batch_valid_count(b), 2);
    ck_assert_str_eq(b->items[1].ev.counter, "c1");
    kj_batch_free(b);

    msgpack_object num = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 5};
    char msg[MSGLEN] = "";
    ck_assert_int_eq(kj_msgpack_decode_batch_obj(&num, &o, &b, msg, sizeof msg), KJ_ERR_DECODE);
    ck_assert_str_eq(msg, "body: must be an event (a map) or an array of events");
}
END_TEST

START_TEST(test_null_opts_mean_defaults)
{
    char body[512];
    int64_t now = kj_now_ms();
    snprintf(body, sizeof body,
             "{\"id\":\"r\",\"type\":\"rating\",\"ts\":%lld,\"unit\":\"u\",\"score\":2}",
             (long long)now);
    kj_batch *b = NULL;
    ck_assert_int_eq(kj_json_decode_batch(body, strlen(body), NULL, &b, NULL, 0), KJ_OK);
    ck_assert_str_eq(b->items[0].error, "");
    kj_batch_free(b);
}
END_TEST

START_TEST(test_body_messages)
{
    char msg[MSGLEN];
    kj_batch *b = NULL;
    kj_validate_opts o = test_opts();
    kj_json_decode_batch("5", 1, &o, &b, msg, sizeof msg);
    ck_assert_str_eq(msg, "body: must be an event (an object) or an array of events");
    kj_json_decode_batch("{\x01", 2, &o, &b, msg, sizeof msg);
    ck_assert_msg(strncmp(msg, "body: not valid JSON (", 22) == 0, "%s", msg);
    kj_msgpack_decode_batch("\x80\x80", 2, &o, &b, msg, sizeof msg);
    ck_assert_str_eq(msg, "body: not valid msgpack (1 bytes after the value)");
    char deep[40];
    memset(deep, 0x91, sizeof deep - 1);
    deep[sizeof deep - 1] = (char)0xc0;
    kj_msgpack_decode_batch(deep, sizeof deep, &o, &b, msg, sizeof msg);
    ck_assert_str_eq(msg, "body: nested deeper than 32 levels");
    /* a short buffer truncates, never overflows */
    char tiny[8];
    kj_msgpack_decode_batch("\xc1", 1, &o, &b, tiny, sizeof tiny);
    ck_assert_str_eq(tiny, "body: n");
}
END_TEST

static Suite *proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc;

    tc = tcase_create("rules");
    tcase_add_loop_test(tc, test_rule, 0, N_RULES);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, test_values_task);
    tcase_add_test(tc, test_values_optional_absent);
    tcase_add_test(tc, test_values_service_and_default_outcome);
    tcase_add_test(tc, test_values_rating_and_default_source);
    tcase_add_test(tc, test_meta_same_bytes_from_both_codecs);
    suite_add_tcase(s, tc);

    tc = tcase_create("helpers");
    tcase_add_test(tc, test_id_valid);
    tcase_add_test(tc, test_utf8_valid);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_defaults_and_clock);
    tcase_add_test(tc, test_batch_free_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("codec-specific");
    tcase_add_test(tc, test_msgpack_only);
    tcase_add_test(tc, test_msgpack_duplicate_id_names_no_id);
    tcase_add_test(tc, test_json_duplicate_key_refuses_body);
    tcase_add_test(tc, test_json_only);
    tcase_add_test(tc, test_json_flat_same_as_tree);
    tcase_add_test(tc, test_json_flat_braces_in_strings);
    tcase_add_test(tc, test_mpread_takes_plain_bodies);
    tcase_add_test(tc, test_canonical_bytes);
    tcase_add_test(tc, test_mpread_wide_forms);
    suite_add_tcase(s, tc);

    tc = tcase_create("bodies");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_empty_array);
    tcase_add_test(tc, test_single_map_and_array_of_one);
    tcase_add_test(tc, test_mixed_batch);
    tcase_add_test(tc, test_limit_small);
    tcase_add_test(tc, test_limit_default);
    tcase_add_test(tc, test_single_map_within_limit);
    tcase_add_test(tc, test_not_a_body);
    tcase_add_test(tc, test_every_prefix);
    tcase_add_test(tc, test_decode_batch_obj);
    tcase_add_test(tc, test_null_opts_mean_defaults);
    tcase_add_test(tc, test_body_messages);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_deep_msgpack_array);
    tcase_add_test(tc, test_deep_json_array);
    tcase_add_test(tc, test_deep_meta);
    tcase_add_test(tc, test_meta_size);
    tcase_add_test(tc, test_huge_strings);
    suite_add_tcase(s, tc);

    tc = tcase_create("canonical");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_canonical_keys);
    tcase_add_test(tc, test_assessment_note_and_export);
    tcase_add_test(tc, test_unpack_event_rejects);
    tcase_add_test(tc, test_json_from_event);
    tcase_add_test(tc, test_json_from_msgpack);
    tcase_add_test(tc, test_json_from_msgpack_depth);
    tcase_add_test(tc, test_empty_strings_convert);
    tcase_add_test(tc, test_export_refuses_bad_meta);
    tcase_add_test(tc, test_json_from_msgpack_keys_linear);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proto_suite());
    srunner_run_all(sr, CK_NORMAL); /* prints check's summary line */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
