/* kinerja — events from textual fields (kinerja.h).
 *
 * The draft is a JSON object, and finishing it is decoding that object with
 * proto's JSON codec: the rules of SPEC §3 and their error messages live in one
 * place, and a flag-built event is checked exactly as a posted one is. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "kinerja.h"
#include "lib_shared.h"

typedef enum kind { K_STR, K_INT, K_MS, K_TIME, K_ELEMENTS, K_WORDS, K_META } kind;

static const struct field {
    const char *name;
    kind kind;
} fields[] = {
    {"id", K_STR},         {"type", K_STR},        {"ts", K_TIME},       {"unit", K_STR},
    {"employee", K_STR},   {"counter", K_STR},     {"kind", K_STR},      {"service", K_STR},
    {"duration_ms", K_MS}, {"due_ts", K_TIME},     {"quality", K_INT},   {"wait_ms", K_MS},
    {"service_ms", K_MS},  {"outcome", K_STR},     {"score", K_INT},     {"elements", K_ELEMENTS},
    {"source", K_STR},     {"state", K_STR},       {"meta", K_META},     {"ticket", K_STR},
    {"period", K_STR},     {"behaviour", K_WORDS}, {"by", K_STR},        {"note", K_STR},
    {"text", K_STR},       {"alert", K_STR},       {"indicator", K_STR},
};

struct kj_event_draft {
    json_t *obj;
};

kj_err kj_event_draft_new(kj_event_draft **out)
{
    kj_event_draft *d = kj_calloc(1, sizeof *d);
    d->obj = json_object();
    *out = d;
    return KJ_OK;
}

void kj_event_draft_free(kj_event_draft *d)
{
    if (!d) return;
    json_decref(d->obj);
    free(d);
}

static const struct field *lookup(const char *name)
{
    char wire[32];
    size_t n = strlen(name);
    if (n >= sizeof wire) return NULL;
    for (size_t i = 0; i <= n; i++)
        wire[i] = name[i] == '-' ? '_' : name[i];
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!strcmp(fields[i].name, wire)) return &fields[i];
    return NULL;
}

static bool parse_integer(const char *s, int64_t *out)
{
    char *end;
    if (!*s) return false;
    long long v = strtoll(s, &end, 10);
    if (*end) return false;
    *out = v;
    return true;
}

/* A *_ms field: a duration, or a bare number of ms, which the field's own
 * unit makes unambiguous (kj_parse_duration_ms refuses bare numbers). */
static bool parse_ms_field(const char *s, int64_t *out)
{
    char buf[32];
    size_t n = strlen(s);
    if (n && n < sizeof buf - 2 && strspn(s, "0123456789") == n) {
        snprintf(buf, sizeof buf, "%sms", s);
        return kj_parse_duration_ms(buf, out);
    }
    return kj_parse_duration_ms(s, out);
}

/* "4,4,3,4,4,4,3,4,4" -> [4,4,3,...]; the count and range are proto's to check. */
static json_t *parse_elements(const char *s)
{
    json_t *a = json_array();
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',')) {
            json_decref(a);
            return NULL;
        }
        json_array_append_new(a, json_integer(v));
        p = *end ? end + 1 : end;
    }
    return a;
}

/* "above,meets,..." -> ["above","meets",...]; the words are proto's to check. */
static json_t *parse_words(const char *s)
{
    json_t *a = json_array();
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, ",");
        json_array_append_new(a, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return a;
}

static json_t *value_of(const struct field *f, const char *value, char *msg, size_t msglen)
{
    int64_t v;
    json_t *j;
    json_error_t jerr;
    switch (f->kind) {
    case K_STR: return json_string(value);
    case K_INT:
        if (parse_integer(value, &v)) return json_integer(v);
        kj_msgf(msg, msglen, "%s: not an integer: %s", f->name, value);
        return NULL;
    case K_MS:
        if (parse_ms_field(value, &v)) return json_integer(v);
        kj_msgf(msg, msglen, "%s: not a duration (ms, or 90s, 15m, 2h): %s", f->name, value);
        return NULL;
    case K_TIME:
        if (kj_parse_time(value, &v)) return json_integer(v);
        kj_msgf(msg, msglen, "%s: not a time (ms since the epoch, ISO 8601 or now): %s", f->name,
                value);
        return NULL;
    case K_ELEMENTS:
        if ((j = parse_elements(value))) return j;
        kj_msgf(msg, msglen, "elements: not a comma-separated list of integers: %s", value);
        return NULL;
    case K_WORDS: return parse_words(value);
    case K_META:
        if ((j = json_loads(value, JSON_REJECT_DUPLICATES, &jerr))) return j;
        kj_msgf(msg, msglen, "meta: not valid JSON: %s", jerr.text);
        return NULL;
    }
    return NULL;
}

kj_err kj_event_draft_set(kj_event_draft *d, const char *name, const char *value, char *msg,
                          size_t msglen)
{
    const struct field *f = lookup(name);
    if (!f) {
        kj_msgf(msg, msglen, "%s: not a field of an event", name);
        return KJ_ERR_INVALID;
    }
    json_t *v = value_of(f, value, msg, msglen);
    if (!v) return KJ_ERR_INVALID;
    json_object_set_new(d->obj, f->name, v);
    return KJ_OK;
}

kj_err kj_event_draft_finish(kj_event_draft *d, kj_batch **out, char *msg, size_t msglen)
{
    kj_validate_opts opts = kj_client_validate_opts(1);
    json_t *o = json_copy(d->obj);
    kj_batch *b = NULL;
    char *text = NULL;
    kj_err err;
    if (!json_object_get(o, "id")) {
        char id[KJ_ID_MAX + 1];
        kj_event_id_new(id);
        json_object_set_new(o, "id", json_string(id));
    }
    if (!json_object_get(o, "ts")) json_object_set_new(o, "ts", json_integer(kj_now_ms()));
    text = json_dumps(o, JSON_COMPACT);
    if (!text) {
        err = KJ_ERR_NOMEM;
        kj_msgf(msg, msglen, "out of memory");
        goto done;
    }
    if ((err = kj_json_decode_batch(text, strlen(text), &opts, &b, msg, msglen))) goto done;
    if (b->n != 1 || b->items[0].error[0]) {
        kj_msgf(msg, msglen, "%s", b->n ? b->items[0].error : "no event");
        kj_batch_free(b);
        err = KJ_ERR_INVALID;
        goto done;
    }
    *out = b;
done:
    free(text);
    json_decref(o);
    return err;
}
