/* kinerja — the events of SPEC §3: types, validation, and batches.
 *
 * A kj_event is a plain value: identifiers are stored inline (NUL-terminated,
 * at most KJ_ID_MAX bytes), optional numbers carry a has_ flag, and the only
 * heap part is the encoded `meta` map, owned by the batch that holds the event.
 *
 * Decoding (codec.h) produces a kj_batch: one slot per element of the
 * body, each either a valid event or a one-line error naming the field, so that a
 * batch is accepted partially (SPEC §7). */
#ifndef KJ_EVENT_H
#define KJ_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "period.h"

#define KJ_ID_MAX 64                     /* identifiers are 1..64 bytes of [A-Za-z0-9._:-] */
#define KJ_NAME_MAX 200                  /* display names, UTF-8 bytes */
#define KJ_META_MAX 1024                 /* encoded size of `meta` */
#define KJ_BATCH_MAX 10000               /* events in one body or frame */
#define KJ_ELEMENTS 9                    /* IKM elements U1..U9 */
#define KJ_BEHAVIOURS 7                  /* BerAKHLAK values of an assessment */
#define KJ_NOTE_MAX 1024                 /* bytes of an assessment's note */
#define KJ_ERROR_MAX 160                 /* bytes of one per-event error message */
#define KJ_DURATION_MAX_MS 31622400000LL /* 366 days: the longest duration accepted */
#define KJ_TEXT_MAX 1024 /* bytes of a feedback's text or an ack's note (SPEC §16) */

typedef enum kj_event_type {
    KJ_EV_TASK = 1,
    KJ_EV_SERVICE = 2,
    KJ_EV_RATING = 3,
    KJ_EV_PRESENCE = 4,
    KJ_EV_TICKET = 5,     /* SPEC §13: a queue ticket's issued / called / cancelled */
    KJ_EV_ASSESSMENT = 6, /* SPEC §15: a supervisor's BerAKHLAK levels for a period */
    KJ_EV_FEEDBACK = 7,   /* SPEC §16: a supervisor's feedback to an employee */
    KJ_EV_ACK = 8,        /* SPEC §16: an alert acknowledged */
} kj_event_type;
#define KJ_EV_LAST KJ_EV_ACK /* the highest kj_event_type */

typedef enum kj_outcome {
    KJ_OUTCOME_SERVED = 0, /* the default */
    KJ_OUTCOME_NO_SHOW = 1,
    KJ_OUTCOME_TRANSFERRED = 2,
} kj_outcome;

typedef enum kj_source {
    KJ_SOURCE_CITIZEN = 0, /* the default */
    KJ_SOURCE_PEER = 1,
    KJ_SOURCE_SUPERVISOR = 2,
} kj_source;

typedef enum kj_presence_state {
    KJ_PRESENCE_AVAILABLE = 0,
    KJ_PRESENCE_SERVING = 1,
    KJ_PRESENCE_BREAK = 2,
    KJ_PRESENCE_OFFLINE = 3,
} kj_presence_state;

typedef enum kj_ticket_state {
    KJ_TICKET_ISSUED = 0,
    KJ_TICKET_CALLED = 1,
    KJ_TICKET_CANCELLED = 2,
} kj_ticket_state;
/* The three levels of SPEC §15: an assessment's BerAKHLAK values, and in the
 * daemon an indicator's level and the ratings over a period. NONE is nil
 * (never on the wire as a level). */
typedef enum kj_level {
    KJ_LEVEL_NONE = 0,
    KJ_LEVEL_BELOW = 1,
    KJ_LEVEL_MEETS = 2,
    KJ_LEVEL_ABOVE = 3,
} kj_level;

typedef struct kj_event {
    kj_event_type type;
    int64_t ts; /* ms since the Unix epoch, UTC */
    char id[KJ_ID_MAX + 1];
    char unit[KJ_ID_MAX + 1];
    char employee[KJ_ID_MAX + 1]; /* "" when absent */
    char counter[KJ_ID_MAX + 1];  /* "" when absent */
    char kind[KJ_ID_MAX + 1];     /* task: category; "" otherwise */
    char service[KJ_ID_MAX + 1];  /* service / rating: service kind; "" when absent */

    /* task */
    bool has_duration, has_due, has_quality;
    int64_t duration_ms, due_ts;
    int32_t quality; /* 0..100 */

    /* service */
    int64_t wait_ms, service_ms;
    kj_outcome outcome;

    /* rating */
    int32_t score; /* 1..4 */
    bool has_elements;
    uint8_t elements[KJ_ELEMENTS]; /* each 1..4 */
    kj_source source;

    /* presence */
    kj_presence_state state;

    /* ticket; a service may name the ticket it closes ("" when absent) */
    char ticket[KJ_ID_MAX + 1];
    kj_ticket_state ticket_state;
    /* assessment: the period, the 7 BerAKHLAK levels (kj_level) in SPEC §15's
     * order. `by` (who gave it; "" when absent) and `note` (UTF-8, NULL when
     * absent, owned like meta) are shared by assessment, feedback and ack
     * (an ack's note is at most KJ_TEXT_MAX bytes). */
    kj_period period;
    uint8_t behaviour[KJ_BEHAVIOURS];
    char by[KJ_ID_MAX + 1];
    char *note;
    size_t note_len;

    /* feedback (kind holds praise | coaching | dialog) and ack; "" when absent */
    char alert[KJ_ID_MAX + 1];     /* the alert answered (feedback) or acknowledged (ack) */
    char indicator[KJ_ID_MAX + 1]; /* feedback: the indicator it is about */
    /* feedback's `text` (1..KJ_TEXT_MAX bytes), UTF-8, NUL-terminated; NULL
     * when absent. Owned like meta. */
    char *text;

    /* `meta`, re-encoded as msgpack (also when the body was JSON); NULL when
     * absent. Owned by the enclosing kj_batch. */
    uint8_t *meta;
    size_t meta_len;
} kj_event;

/* The limits that validation checks against the clock. */
typedef struct kj_validate_opts {
    int64_t now_ms;      /* the current time */
    int64_t max_age_ms;  /* ts older than now - max_age is rejected (default 35 d) */
    int64_t max_skew_ms; /* ts newer than now + max_skew is rejected (default 5 min) */
    size_t max_events;   /* events in one batch; at most KJ_BATCH_MAX */
} kj_validate_opts;

/* Defaults of SPEC §11 with now_ms set to the current time. */
kj_validate_opts kj_validate_defaults(void);

/* One decoded element of a body: a valid event, or an error. */
typedef struct kj_batch_item {
    kj_event ev;
    char error[KJ_ERROR_MAX]; /* "" when ev is valid, else "field: reason" */
} kj_batch_item;

typedef struct kj_batch {
    size_t n;
    kj_batch_item *items;
    bool single; /* the body was one event (a map), not an array */
} kj_batch;

/* Frees what an event owns (meta, note, text); the event stays a valid value
 * without them. For events decoded one at a time (kj_msgpack_unpack_event). */
void kj_event_release(kj_event *ev);

/* Frees the batch, its items and what they own. NULL is a no-op. */
void kj_batch_free(kj_batch *b);

/* Number of items whose error is empty. */
size_t kj_batch_valid_count(const kj_batch *b);

/* True when s (len bytes) follows the identifier rule. */
bool kj_id_valid(const char *s, size_t len);

/* True when s (len bytes) is well-formed UTF-8 (no overlongs, no surrogates). */
bool kj_utf8_valid(const char *s, size_t len);

/* Names used on the wire ("task", "served", "citizen", "available", ...). */
const char *kj_event_type_name(kj_event_type t);
const char *kj_outcome_name(kj_outcome o);
const char *kj_source_name(kj_source s);
const char *kj_presence_name(kj_presence_state s);
const char *kj_ticket_state_name(kj_ticket_state s);
/* The wire value of `state`: a presence's or a ticket's, by ev->type. */
const char *kj_event_state_name(const kj_event *ev);
const char *kj_level_name(kj_level l); /* "below", "meets", "above"; "none" for NONE */

/* Parse a wire name; returns false for an unknown name. */
bool kj_event_type_parse(const char *s, size_t len, kj_event_type *out);
bool kj_presence_parse(const char *s, size_t len, kj_presence_state *out);
bool kj_outcome_parse(const char *s, size_t len, kj_outcome *out);
bool kj_source_parse(const char *s, size_t len, kj_source *out);
bool kj_ticket_state_parse(const char *s, size_t len, kj_ticket_state *out);
bool kj_level_parse(const char *s, size_t len, kj_level *out); /* not "none" */

/* The current wall-clock time in ms since the epoch. */
int64_t kj_now_ms(void);

#endif
