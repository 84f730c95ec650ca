/* kinerja — events: names, identifiers, UTF-8, batches, and the validation of
 * SPEC §3 behind both codecs (the builder of decode_internal.h). */
#include "event.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "clock.h"
#include "decode_internal.h"

#define STR(x) STR_(x)
#define STR_(x) #x

kj_validate_opts kj_validate_defaults(void)
{
    kj_validate_opts o = {
        .now_ms = kj_now_ms(),
        .max_age_ms = 35 * KJ_DAY_MS,
        .max_skew_ms = 5 * 60 * 1000,
        .max_events = KJ_BATCH_MAX,
    };
    return o;
}

int64_t kj_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

size_t kj_batch_limit(const kj_validate_opts *opts)
{
    return opts->max_events && opts->max_events < KJ_BATCH_MAX ? opts->max_events : KJ_BATCH_MAX;
}

kj_batch *kj_batch_new(size_t n, bool single)
{
    kj_batch *b = kj_calloc(1, sizeof *b);
    /* Not zeroed: kj_build_begin zeroes each item as it is built, while its
     * lines are in the cache (a calloc of 1,000 items wrote ~1 MB twice). */
    if (n && (n > SIZE_MAX / sizeof *b->items || !(b->items = malloc(n * sizeof *b->items)))) {
        free(b);
        return NULL;
    }
    b->single = single;
    return b;
}

void kj_event_release(kj_event *ev)
{
    free(ev->meta);
    free(ev->note);
    free(ev->text);
    ev->meta = NULL, ev->note = NULL, ev->text = NULL;
    ev->meta_len = ev->note_len = 0;
}

void kj_batch_free(kj_batch *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n; i++)
        kj_event_release(&b->items[i].ev);
    free(b->items);
    free(b);
}

size_t kj_batch_valid_count(const kj_batch *b)
{
    size_t n = 0;
    for (size_t i = 0; b && i < b->n; i++)
        n += b->items[i].error[0] == '\0';
    return n;
}

/* ---- identifiers and UTF-8 ---------------------------------------------- */

static bool id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

bool kj_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > KJ_ID_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (!id_char((unsigned char)s[i])) return false;
    return true;
}

bool kj_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false; /* a continuation byte, 0xc0/0xc1 overlongs, above U+10FFFF */
        }
        if (len - i <= n) return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

/* ---- wire names --------------------------------------------------------- */

static const char *const type_names[] = {NULL,     "task",       "service",  "rating", "presence",
                                         "ticket", "assessment", "feedback", "ack"};
static const char *const outcome_names[] = {"served", "no_show", "transferred"};
static const char *const source_names[] = {"citizen", "peer", "supervisor"};
static const char *const presence_names[] = {"available", "serving", "break", "offline"};
static const char *const ticket_state_names[] = {"issued", "called", "cancelled"};
static const char *const level_names[] = {NULL, "below", "meets", "above"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, int v)
{
    return v >= 0 && (size_t)v < n && names[v] ? names[v] : "unknown";
}

/* Index of s in names, or -1. */
static int parse_name(const char *const *names, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strlen(names[i]) == len && memcmp(names[i], s, len) == 0) return (int)i;
    return -1;
}

const char *kj_event_type_name(kj_event_type t)
{
    return name_of(type_names, COUNT(type_names), t);
}
const char *kj_outcome_name(kj_outcome o)
{
    return name_of(outcome_names, COUNT(outcome_names), o);
}
const char *kj_source_name(kj_source s)
{
    return name_of(source_names, COUNT(source_names), s);
}
const char *kj_presence_name(kj_presence_state s)
{
    return name_of(presence_names, COUNT(presence_names), s);
}
const char *kj_ticket_state_name(kj_ticket_state s)
{
    return name_of(ticket_state_names, COUNT(ticket_state_names), s);
}
const char *kj_event_state_name(const kj_event *ev)
{
    return ev->type == KJ_EV_TICKET ? kj_ticket_state_name(ev->ticket_state)
                                    : kj_presence_name(ev->state);
}

const char *kj_level_name(kj_level l)
{
    return l == KJ_LEVEL_NONE ? "none" : name_of(level_names, COUNT(level_names), l);
}

bool kj_level_parse(const char *s, size_t len, kj_level *out)
{
    int i = parse_name(level_names, COUNT(level_names), s, len);
    if (i < 0) return false;
    *out = (kj_level)i;
    return true;
}

bool kj_event_type_parse(const char *s, size_t len, kj_event_type *out)
{
    int i = parse_name(type_names, COUNT(type_names), s, len);
    if (i < 0) return false;
    *out = (kj_event_type)i;
    return true;
}

bool kj_outcome_parse(const char *s, size_t len, kj_outcome *out)
{
    int i = parse_name(outcome_names, COUNT(outcome_names), s, len);
    if (i < 0) return false;
    *out = (kj_outcome)i;
    return true;
}

bool kj_source_parse(const char *s, size_t len, kj_source *out)
{
    int i = parse_name(source_names, COUNT(source_names), s, len);
    if (i < 0) return false;
    *out = (kj_source)i;
    return true;
}

bool kj_ticket_state_parse(const char *s, size_t len, kj_ticket_state *out)
{
    int i = parse_name(ticket_state_names, COUNT(ticket_state_names), s, len);
    if (i < 0) return false;
    *out = (kj_ticket_state)i;
    return true;
}

bool kj_presence_parse(const char *s, size_t len, kj_presence_state *out)
{
    int i = parse_name(presence_names, COUNT(presence_names), s, len);
    if (i < 0) return false;
    *out = (kj_presence_state)i;
    return true;
}

/* ---- the builder -------------------------------------------------------- */

#define BIT(f) (1u << (f))
#define COMMON (BIT(KJ_F_ID) | BIT(KJ_F_TYPE) | BIT(KJ_F_TS) | BIT(KJ_F_UNIT))

/* SPEC §3's table: what each type may carry and what it must. */
static const uint32_t allowed[] = {
    [KJ_EV_TASK] = COMMON | BIT(KJ_F_META) | BIT(KJ_F_EMPLOYEE) | BIT(KJ_F_KIND) |
                   BIT(KJ_F_DURATION_MS) | BIT(KJ_F_DUE_TS) | BIT(KJ_F_QUALITY),
    [KJ_EV_SERVICE] = COMMON | BIT(KJ_F_META) | BIT(KJ_F_EMPLOYEE) | BIT(KJ_F_COUNTER) |
                      BIT(KJ_F_WAIT_MS) | BIT(KJ_F_SERVICE_MS) | BIT(KJ_F_SERVICE) |
                      BIT(KJ_F_OUTCOME) | BIT(KJ_F_TICKET),
    [KJ_EV_RATING] = COMMON | BIT(KJ_F_META) | BIT(KJ_F_SCORE) | BIT(KJ_F_EMPLOYEE) |
                     BIT(KJ_F_COUNTER) | BIT(KJ_F_SERVICE) | BIT(KJ_F_ELEMENTS) | BIT(KJ_F_SOURCE),
    [KJ_EV_PRESENCE] =
        COMMON | BIT(KJ_F_META) | BIT(KJ_F_EMPLOYEE) | BIT(KJ_F_STATE) | BIT(KJ_F_COUNTER),
    [KJ_EV_FEEDBACK] = COMMON | BIT(KJ_F_META) | BIT(KJ_F_EMPLOYEE) | BIT(KJ_F_KIND) |
                       BIT(KJ_F_TEXT) | BIT(KJ_F_BY) | BIT(KJ_F_ALERT) | BIT(KJ_F_INDICATOR),
    [KJ_EV_ACK] = COMMON | BIT(KJ_F_META) | BIT(KJ_F_ALERT) | BIT(KJ_F_BY) | BIT(KJ_F_NOTE),
    [KJ_EV_TICKET] = COMMON | BIT(KJ_F_META) | BIT(KJ_F_TICKET) | BIT(KJ_F_STATE) |
                     BIT(KJ_F_SERVICE) | BIT(KJ_F_COUNTER) | BIT(KJ_F_EMPLOYEE),
    [KJ_EV_ASSESSMENT] = COMMON | BIT(KJ_F_META) | BIT(KJ_F_EMPLOYEE) | BIT(KJ_F_PERIOD) |
                         BIT(KJ_F_BEHAVIOUR) | BIT(KJ_F_BY) | BIT(KJ_F_NOTE),
};

static const uint32_t required[] = {
    [KJ_EV_TASK] = COMMON | BIT(KJ_F_EMPLOYEE) | BIT(KJ_F_KIND),
    [KJ_EV_SERVICE] =
        COMMON | BIT(KJ_F_EMPLOYEE) | BIT(KJ_F_COUNTER) | BIT(KJ_F_WAIT_MS) | BIT(KJ_F_SERVICE_MS),
    [KJ_EV_RATING] = COMMON | BIT(KJ_F_SCORE),
    [KJ_EV_PRESENCE] = COMMON | BIT(KJ_F_EMPLOYEE) | BIT(KJ_F_STATE),
    [KJ_EV_FEEDBACK] = COMMON | BIT(KJ_F_EMPLOYEE) | BIT(KJ_F_KIND) | BIT(KJ_F_TEXT),
    [KJ_EV_ACK] = COMMON | BIT(KJ_F_ALERT),
    [KJ_EV_TICKET] = COMMON | BIT(KJ_F_TICKET) | BIT(KJ_F_STATE),
    [KJ_EV_ASSESSMENT] = COMMON | BIT(KJ_F_EMPLOYEE) | BIT(KJ_F_PERIOD) | BIT(KJ_F_BEHAVIOUR),
};

static const struct {
    const char *name;
    size_t len;
} fields[KJ_F_COUNT] = {
#define F(f, s) [f] = {s, sizeof(s) - 1}
    F(KJ_F_ID, "id"),
    F(KJ_F_TYPE, "type"),
    F(KJ_F_TS, "ts"),
    F(KJ_F_UNIT, "unit"),
    F(KJ_F_EMPLOYEE, "employee"),
    F(KJ_F_COUNTER, "counter"),
    F(KJ_F_KIND, "kind"),
    F(KJ_F_SERVICE, "service"),
    F(KJ_F_DURATION_MS, "duration_ms"),
    F(KJ_F_DUE_TS, "due_ts"),
    F(KJ_F_QUALITY, "quality"),
    F(KJ_F_WAIT_MS, "wait_ms"),
    F(KJ_F_SERVICE_MS, "service_ms"),
    F(KJ_F_OUTCOME, "outcome"),
    F(KJ_F_SCORE, "score"),
    F(KJ_F_ELEMENTS, "elements"),
    F(KJ_F_SOURCE, "source"),
    F(KJ_F_STATE, "state"),
    F(KJ_F_TICKET, "ticket"),
    F(KJ_F_META, "meta"),
    F(KJ_F_PERIOD, "period"),
    F(KJ_F_BEHAVIOUR, "behaviour"),
    F(KJ_F_BY, "by"),
    F(KJ_F_NOTE, "note"),
    F(KJ_F_TEXT, "text"),
    F(KJ_F_ALERT, "alert"),
    F(KJ_F_INDICATOR, "indicator"),
#undef F
};

static const char ID_RULE[] = "must be 1-64 characters of A-Z a-z 0-9 . _ : -";

const char *kj_field_name(kj_field f)
{
    return f >= 0 && f < KJ_F_COUNT ? fields[f].name : "event";
}

size_t kj_field_name_len(kj_field f)
{
    return f >= 0 && f < KJ_F_COUNT ? fields[f].len : 5;
}

bool kj_field_present(const kj_event *ev, kj_field f)
{
    if (ev->type < KJ_EV_TASK || ev->type > KJ_EV_LAST || f < 0 || f >= KJ_F_COUNT ||
        !(allowed[ev->type] & BIT(f)))
        return false;
    switch (f) {
    case KJ_F_EMPLOYEE: return ev->employee[0] != '\0';
    case KJ_F_COUNTER: return ev->counter[0] != '\0';
    case KJ_F_KIND: return ev->kind[0] != '\0';
    case KJ_F_SERVICE: return ev->service[0] != '\0';
    case KJ_F_TICKET: return ev->ticket[0] != '\0';
    case KJ_F_DURATION_MS: return ev->has_duration;
    case KJ_F_DUE_TS: return ev->has_due;
    case KJ_F_QUALITY: return ev->has_quality;
    case KJ_F_ELEMENTS: return ev->has_elements;
    case KJ_F_META: return ev->meta != NULL;
    case KJ_F_BY: return ev->by[0] != '\0';
    case KJ_F_NOTE: return ev->note != NULL;
    case KJ_F_ALERT: return ev->alert[0] != '\0';
    case KJ_F_INDICATOR: return ev->indicator[0] != '\0';
    case KJ_F_TEXT: return ev->text != NULL;
    default: return true; /* required, or an enum with a default */
    }
}

uint32_t kj_fields_present(const kj_event *ev)
{
    if (ev->type < KJ_EV_TASK || ev->type > KJ_EV_LAST) return 0;
    uint32_t set = 0;
    for (uint32_t m = allowed[ev->type]; m; m &= m - 1) {
        kj_field f = (kj_field)__builtin_ctz(m);
        if (kj_field_present(ev, f)) set |= BIT(f);
    }
    return set;
}

void kj_set_msg(char *msg, size_t msglen, const char *fmt, ...)
{
    if (!msg || msglen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

/* The field named key, looked for from b->next on: keys in the canonical
 * order (clients that pack events as the store does) are found at the
 * first or second try. */
static kj_field field_lookup(kj_builder *b, const char *key, size_t len)
{
    for (int i = 0; i < KJ_F_COUNT; i++) {
        int f = (b->next + i) % KJ_F_COUNT;
        if (fields[f].len == len && memcmp(fields[f].name, key, len) == 0) {
            b->next = (f + 1) % KJ_F_COUNT;
            return (kj_field)f;
        }
    }
    return KJ_F_NONE;
}

void kj_build_fail(kj_builder *b, const char *what, const char *reason)
{
    if (b->failed) return;
    b->failed = true;
    snprintf(b->item->error, KJ_ERROR_MAX, "%s: %s", what, reason);
}

static void fail_field(kj_builder *b, kj_field f, const char *reason)
{
    kj_build_fail(b, kj_field_name(f), reason);
}

void kj_build_begin(kj_builder *b, kj_batch_item *item, const kj_validate_opts *opts,
                    bool check_clock)
{
    memset(item, 0, sizeof *item);
    *b = (kj_builder){.item = item, .opts = opts, .check_clock = check_clock};
}

static bool copy_ident(kj_builder *b, kj_field f, const kj_value *v, char *dst)
{
    if (v->kind != KJ_V_STR || !kj_id_valid(v->s, v->len)) {
        fail_field(b, f, ID_RULE);
        return false;
    }
    memcpy(dst, v->s, v->len);
    dst[v->len] = '\0';
    return true;
}

void kj_build_prepare(kj_builder *b, const kj_value *id, const kj_value *type)
{
    kj_event *ev = &b->item->ev;
    if (id && !copy_ident(b, KJ_F_ID, id, ev->id)) return;
    if (!type) {
        fail_field(b, KJ_F_TYPE, "required");
        return;
    }
    if (type->kind != KJ_V_STR || !kj_event_type_parse(type->s, type->len, &ev->type))
        fail_field(b, KJ_F_TYPE,
                   "must be one of task, service, rating, presence, ticket, assessment, "
                   "feedback, ack");
}

/* A key for an error message: only identifier characters survive, so that the
 * message stays one printable line whatever the client sent. */
static void printable_key(char *dst, size_t cap, const char *key, size_t len)
{
    size_t n = len < cap - 4 ? len : cap - 4;
    for (size_t i = 0; i < n; i++)
        dst[i] = id_char((unsigned char)key[i]) ? key[i] : '?';
    if (n < len)
        memcpy(dst + n, "...", 4);
    else
        dst[n] = '\0';
}

kj_field kj_build_key(kj_builder *b, const char *key, size_t len)
{
    if (b->failed) return KJ_F_NONE;
    kj_field f = field_lookup(b, key, len);
    if (f == KJ_F_NONE || !(allowed[b->item->ev.type] & BIT(f))) {
        char name[KJ_ID_MAX + 4];
        printable_key(name, sizeof name, key, len);
        kj_build_fail(b, name, "unknown field");
        return KJ_F_NONE;
    }
    if (b->seen & BIT(f)) {
        /* Which of two ids is meant is unknowable: name none. */
        if (f == KJ_F_ID) b->item->ev.id[0] = '\0';
        fail_field(b, f, "duplicate key");
        return KJ_F_NONE;
    }
    b->seen |= BIT(f);
    return f;
}

void kj_build_bad_key(kj_builder *b)
{
    kj_build_fail(b, "event", "keys must be strings");
}

/* An integer field: on success *out is set; lo/hi bound it; msg names the rule. */
static bool get_int(kj_builder *b, kj_field f, const kj_value *v, int64_t lo, int64_t hi,
                    const char *msg, int64_t *out)
{
    if (v->kind == KJ_V_BIGINT && hi == INT64_MAX) {
        fail_field(b, f, "integer out of range");
        return false;
    }
    if (v->kind != KJ_V_INT || v->i < lo || v->i > hi) {
        fail_field(b, f, msg);
        return false;
    }
    *out = v->i;
    return true;
}

static bool get_name(kj_builder *b, kj_field f, const kj_value *v,
                     bool (*parse)(const char *, size_t, void *), void *out, const char *msg)
{
    if (v->kind != KJ_V_STR || !parse(v->s, v->len, out)) {
        fail_field(b, f, msg);
        return false;
    }
    return true;
}

/* Adapters so that the typed parsers fit one signature. */
static bool parse_outcome(const char *s, size_t len, void *out)
{
    return kj_outcome_parse(s, len, out);
}
static bool parse_source(const char *s, size_t len, void *out)
{
    return kj_source_parse(s, len, out);
}
static bool parse_state(const char *s, size_t len, void *out)
{
    return kj_presence_parse(s, len, out);
}
static bool parse_ticket_state(const char *s, size_t len, void *out)
{
    return kj_ticket_state_parse(s, len, out);
}

static const char NONNEG[] = "must be a non-negative integer";

/* feedback's kind is a closed list (SPEC §16); a task's is the client's own. */
static bool feedback_kind(const kj_value *v)
{
    static const char *const kinds[] = {"praise", "coaching", "dialog"};
    for (size_t i = 0; v->kind == KJ_V_STR && i < COUNT(kinds); i++)
        if (strlen(kinds[i]) == v->len && !memcmp(kinds[i], v->s, v->len)) return true;
    return false;
}

/* Feedback's text: UTF-8, 1..KJ_TEXT_MAX bytes, copied to the heap
 * (kj_event_release frees it). */
static void get_text(kj_builder *b, kj_field f, const kj_value *v)
{
    if (v->kind != KJ_V_STR || v->len < 1 || v->len > KJ_TEXT_MAX) {
        fail_field(b, f, "must be a string of 1-" STR(KJ_TEXT_MAX) " bytes");
        return;
    }
    if (!kj_utf8_valid(v->s, v->len)) {
        fail_field(b, f, "must be valid UTF-8");
        return;
    }
    char *t = kj_malloc(v->len + 1);
    memcpy(t, v->s, v->len);
    t[v->len] = '\0';
    b->item->ev.text = t;
}

/* A duration: non-negative, and at most KJ_DURATION_MAX_MS. The bound keeps
 * every accepted value exactly representable in the metrics (and a "wait" of
 * a year or more is a broken clock, not a queue). */
static bool get_duration(kj_builder *b, kj_field f, const kj_value *v, int64_t *out)
{
    int64_t n;
    if (!get_int(b, f, v, 0, INT64_MAX, NONNEG, &n)) return false;
    if (n > KJ_DURATION_MAX_MS) {
        fail_field(b, f, "must be at most 31622400000 (366 days)");
        return false;
    }
    *out = n;
    return true;
}

/* An assessment's or an ack's note: 1 KiB of UTF-8 at most, copied (the batch owns it). */
static void build_note(kj_builder *b, const kj_value *v)
{
    kj_event *ev = &b->item->ev;
    if (v->kind != KJ_V_STR || v->len > KJ_NOTE_MAX || !kj_utf8_valid(v->s, v->len)) {
        fail_field(b, KJ_F_NOTE, "must be a UTF-8 string of at most " STR(KJ_NOTE_MAX) " bytes");
        return;
    }
    ev->note = kj_malloc(v->len + 1);
    memcpy(ev->note, v->s, v->len);
    ev->note[v->len] = '\0';
    ev->note_len = v->len;
}

void kj_build_value(kj_builder *b, kj_field f, const kj_value *v)
{
    kj_event *ev = &b->item->ev;
    int64_t n;
    if (b->failed) return;
    switch (f) {
    case KJ_F_ID:
    case KJ_F_TYPE: break; /* decided by kj_build_prepare */
    case KJ_F_TS: get_int(b, f, v, INT64_MIN, INT64_MAX, "must be an integer", &ev->ts); break;
    case KJ_F_UNIT: copy_ident(b, f, v, ev->unit); break;
    case KJ_F_EMPLOYEE: copy_ident(b, f, v, ev->employee); break;
    case KJ_F_COUNTER: copy_ident(b, f, v, ev->counter); break;
    case KJ_F_KIND:
        if (ev->type == KJ_EV_FEEDBACK && !feedback_kind(v))
            fail_field(b, f, "must be one of praise, coaching, dialog");
        else
            copy_ident(b, f, v, ev->kind);
        break;
    case KJ_F_BY: copy_ident(b, f, v, ev->by); break;
    case KJ_F_ALERT: copy_ident(b, f, v, ev->alert); break;
    case KJ_F_INDICATOR: copy_ident(b, f, v, ev->indicator); break;
    case KJ_F_TEXT: get_text(b, f, v); break;
    case KJ_F_SERVICE: copy_ident(b, f, v, ev->service); break;
    case KJ_F_DURATION_MS: ev->has_duration = get_duration(b, f, v, &ev->duration_ms); break;
    case KJ_F_DUE_TS:
        ev->has_due = get_int(b, f, v, INT64_MIN, INT64_MAX, "must be an integer", &ev->due_ts);
        break;
    case KJ_F_QUALITY:
        if (get_int(b, f, v, 0, 100, "must be an integer 0-100", &n)) {
            ev->has_quality = true;
            ev->quality = (int32_t)n;
        }
        break;
    case KJ_F_WAIT_MS: get_duration(b, f, v, &ev->wait_ms); break;
    case KJ_F_SERVICE_MS: get_duration(b, f, v, &ev->service_ms); break;
    case KJ_F_OUTCOME:
        get_name(b, f, v, parse_outcome, &ev->outcome,
                 "must be one of served, no_show, transferred");
        break;
    case KJ_F_SCORE:
        if (get_int(b, f, v, 1, 4, "must be an integer 1-4", &n)) ev->score = (int32_t)n;
        break;
    case KJ_F_SOURCE:
        get_name(b, f, v, parse_source, &ev->source, "must be one of citizen, peer, supervisor");
        break;
    case KJ_F_STATE:
        if (ev->type == KJ_EV_TICKET)
            get_name(b, f, v, parse_ticket_state, &ev->ticket_state,
                     "must be one of issued, called, cancelled");
        else
            get_name(b, f, v, parse_state, &ev->state,
                     "must be one of available, serving, break, offline");
        break;
    case KJ_F_TICKET: copy_ident(b, f, v, ev->ticket); break;
    case KJ_F_PERIOD:
        if (v->kind != KJ_V_STR || !kj_period_parse(v->s, v->len, &ev->period))
            fail_field(b, f, "must be a period: YYYY-MM, YYYY-Qn or YYYY");
        break;
    case KJ_F_NOTE: build_note(b, v); break;
    case KJ_F_ELEMENTS:
    case KJ_F_BEHAVIOUR:
    case KJ_F_META:
    case KJ_F_COUNT:
    case KJ_F_NONE: kj_build_fail(b, "event", "internal error: field without a value rule"); break;
    }
}

void kj_build_elements(kj_builder *b, bool is_array, size_t n, const kj_value *vals)
{
    static const char msg[] = "must be an array of 9 integers 1-4";
    if (b->failed) return;
    if (!is_array || n != KJ_ELEMENTS) {
        fail_field(b, KJ_F_ELEMENTS, msg);
        return;
    }
    for (size_t i = 0; i < KJ_ELEMENTS; i++) {
        if (vals[i].kind != KJ_V_INT || vals[i].i < 1 || vals[i].i > 4) {
            fail_field(b, KJ_F_ELEMENTS, msg);
            return;
        }
        b->item->ev.elements[i] = (uint8_t)vals[i].i;
    }
    b->item->ev.has_elements = true;
}

void kj_build_behaviour(kj_builder *b, bool is_array, size_t n, const kj_value *vals)
{
    static const char msg[] = "must be an array of 7 levels: below, meets or above";
    if (b->failed) return;
    if (!is_array || n != KJ_BEHAVIOURS) {
        fail_field(b, KJ_F_BEHAVIOUR, msg);
        return;
    }
    for (size_t i = 0; i < KJ_BEHAVIOURS; i++) {
        kj_level l;
        if (vals[i].kind != KJ_V_STR || !kj_level_parse(vals[i].s, vals[i].len, &l)) {
            fail_field(b, KJ_F_BEHAVIOUR, msg);
            return;
        }
        b->item->ev.behaviour[i] = (uint8_t)l;
    }
}

void kj_build_meta(kj_builder *b, kj_meta_status st, const uint8_t *buf, size_t len)
{
    kj_event *ev = &b->item->ev;
    if (b->failed) return;
    switch (st) {
    case KJ_META_OK:
        ev->meta = kj_malloc(len);
        memcpy(ev->meta, buf, len);
        ev->meta_len = len;
        return;
    case KJ_META_NOT_MAP: fail_field(b, KJ_F_META, "must be a map"); return;
    case KJ_META_TOO_BIG:
        fail_field(b, KJ_F_META, "larger than " STR(KJ_META_MAX) " bytes encoded");
        return;
    case KJ_META_TOO_DEEP:
        fail_field(b, KJ_F_META, "nested deeper than " STR(KJ_META_DEPTH) " levels");
        return;
    case KJ_META_BAD_UTF8: fail_field(b, KJ_F_META, "strings must be valid UTF-8"); return;
    case KJ_META_BAD_KEY: fail_field(b, KJ_F_META, "keys must be strings"); return;
    case KJ_META_BAD_VALUE:
        fail_field(b, KJ_F_META, "binary, extension and non-finite values are not allowed");
        return;
    }
}

static int64_t add_sat(int64_t a, int64_t d)
{
    if (d > 0 && a > INT64_MAX - d) return INT64_MAX;
    if (d < 0 && a < INT64_MIN - d) return INT64_MIN;
    return a + d;
}

static void check_required(kj_builder *b)
{
    uint32_t missing = required[b->item->ev.type] & ~b->seen;
    for (int f = 0; missing && f < KJ_F_COUNT; f++) {
        if (missing & BIT(f)) {
            fail_field(b, (kj_field)f, "required");
            return;
        }
    }
}

static void check_clock(kj_builder *b)
{
    const kj_validate_opts *o = b->opts;
    int64_t ts = b->item->ev.ts;
    if (ts < add_sat(o->now_ms, -o->max_age_ms))
        fail_field(b, KJ_F_TS, "older than max_event_age");
    else if (ts > add_sat(o->now_ms, o->max_skew_ms))
        fail_field(b, KJ_F_TS, "in the future beyond max_clock_skew");
}

void kj_build_end(kj_builder *b)
{
    if (!b->failed) check_required(b);
    if (!b->failed && b->check_clock) check_clock(b);
    if (!b->failed) return;

    /* A rejected event keeps its error and id only: no half-filled fields. */
    kj_event *ev = &b->item->ev;
    char id[sizeof ev->id];
    memcpy(id, ev->id, sizeof id);
    kj_event_release(ev);
    memset(ev, 0, sizeof *ev);
    memcpy(ev->id, id, sizeof id);
}

int kj_boundbuf_write(void *data, const char *buf, size_t len)
{
    kj_boundbuf *bb = data;
    if (bb->overflow || len > bb->cap - bb->len) {
        bb->overflow = true;
        return -1;
    }
    memcpy(bb->data + bb->len, buf, len);
    bb->len += len;
    return 0;
}

kj_meta_status kj_meta_pack_str(msgpack_packer *pk, const kj_boundbuf *bb, const char *s,
                                size_t len)
{
    /* Size before UTF-8, so that a megabyte string costs nothing to refuse. */
    if (len > bb->cap) return KJ_META_TOO_BIG;
    if (!kj_utf8_valid(s, len)) return KJ_META_BAD_UTF8;
    if (msgpack_pack_str(pk, len) < 0 || msgpack_pack_str_body(pk, s, len) < 0)
        return KJ_META_TOO_BIG;
    return KJ_META_OK;
}
