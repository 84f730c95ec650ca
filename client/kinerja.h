/* libkinerja — the C client of kinerjad (SPEC §3, §7, §9).
 *
 * A kj_client posts events to the daemon with acknowledgements, over the
 * WebSocket subprotocol "kinerja-ingest.v1" (the default) or HTTP
 * POST /api/v1/events (the fallback), reconnecting with exponential back-off
 * and jitter. With a spool directory, events that cannot be delivered are kept
 * on disk (fsync'd before the call returns) and every later post delivers them
 * first, in order. Delivery is at least once: an event may reach the daemon
 * twice (a connection lost before its ack), and the daemon's deduplication by
 * event id makes that exactly once in effect.
 *
 * Threads: a kj_client (and a kj_live made from it) belongs to one thread at a
 * time; use one client per thread. Nothing here touches signal handlers; a
 * process that writes to sockets should ignore SIGPIPE itself.
 *
 * Nothing here prints or exits, with one exception: an allocation whose size
 * has a fixed bound (a handle, a packet of at most max_body bytes, a batch of
 * at most KJ_BATCH_MAX events, a message from the daemon of at most 64 MiB)
 * that fails prints one line to stderr and aborts (proto/alloc.c), as the
 * daemon does: nothing useful can go on from there. Memory whose size an input
 * decides (an input file or standard input, a spool file, an event draft's
 * text) is allocated so that a failure is reported as KJ_ERR_NOMEM.
 *
 * libwebsockets' log is process-wide: kj_client_new silences it (the
 * environment variable KINERJA_LWS_LOG=<lws log bits> turns it on, to stderr,
 * for debugging).
 *
 * Errors: functions return a kj_err (0 or negative, proto/err.h) and fill
 * their out-parameters only on success. Where a call can fail for a reason
 * worth telling a person, kj_client_errmsg() gives it as one line.
 *
 *   KJ_ERR_IO        the daemon is unreachable (and there is no spool), or a
 *                    local file or the spool directory failed
 *   KJ_ERR_AUTH      401: missing or unknown token
 *   KJ_ERR_FORBIDDEN 403: the token may not post for that unit / see that
 *   KJ_ERR_INVALID   400 / 415 or a protocol error: a bug on one side
 *   KJ_ERR_TOO_BIG   413 that halving the batch cannot cure (a batch over the
 *                    daemon's max_body is split; one event over it is rejected)
 *   KJ_ERR_FULL      the spool is full (the daemon has been away too long)
 *   KJ_ERR_NOMEM     a large, input-sized allocation failed
 *
 * The daemon being unavailable for a while (connection refused, 503 with
 * Retry-After, 507 store full, a lost connection, an ack timeout, a failed TLS
 * handshake) is not an error where a spool is configured: the events are
 * spooled, the result says how many and kj_client_errmsg() why. */
#ifndef KINERJA_H
#define KINERJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duration.h" /* kj_parse_duration_ms (installed beside this header) */
#include "event.h"    /* kj_event, kj_batch, kj_err */

#define KJ_DEFAULT_URL "http://127.0.0.1:7070"
#define KJ_INGEST_PROTOCOL "kinerja-ingest.v1"
#define KJ_LIVE_PROTOCOL "kinerja-live.v1"

/* ---- events ----------------------------------------------------------------- */

/* Write a fresh event id to out: "<host>.<16 hex>.<counter>", at most
 * KJ_ID_MAX bytes of the identifier alphabet. The hex part is random per
 * process (getrandom, renewed after fork) and the counter is taken under a
 * lock: ids are unique across threads, processes and hosts without any
 * coordination. */
void kj_event_id_new(char out[KJ_ID_MAX + 1]);

/* An event under construction from textual fields (command-line flags,
 * forms): set fields by wire name, then finish into a validated event. */
typedef struct kj_event_draft kj_event_draft;

kj_err kj_event_draft_new(kj_event_draft **out);
void kj_event_draft_free(kj_event_draft *d); /* NULL is a no-op */

/* Set one field. name is the wire name ("wait_ms") or the flag spelling
 * ("wait-ms"). value is text: integers for numbers (durations also as "90s",
 * "15m", "2h"; times also as "now" or ISO 8601 "2024-05-02T09:30:00+07:00"),
 * "4,4,3,4,4,4,3,4,4" for elements, a JSON object for meta. Setting a field
 * twice keeps the last value. Fails with KJ_ERR_INVALID and a one-line
 * "field: reason" in msg for an unknown field or a value that cannot be
 * read; range and type rules are checked by kj_event_draft_finish. */
kj_err kj_event_draft_set(kj_event_draft *d, const char *name, const char *value, char *msg,
                          size_t msglen);

/* Validate the draft by the rules of SPEC §3 (not the clock: that is the
 * daemon's) and return it as a one-event batch, *out owned by the caller
 * (kj_batch_free). Missing id and ts become kj_event_id_new() and now.
 * Fails with KJ_ERR_INVALID and "field: reason" in msg. The draft is left
 * as it was and may be finished again. */
kj_err kj_event_draft_finish(kj_event_draft *d, kj_batch **out, char *msg, size_t msglen);

/* ---- reading events from files ------------------------------------------------ */

typedef enum kj_format {
    KJ_FORMAT_UNKNOWN = 0,
    KJ_FORMAT_JSON,    /* JSON: one array of events, or objects one after another
                          (NDJSON is the case of one object per line) */
    KJ_FORMAT_MSGPACK, /* msgpack: maps one after another, or arrays of maps */
} kj_format;

/* Guess the format of an input from its first bytes (leading whitespace and a
 * UTF-8 BOM are skipped): '[' or '{' is JSON, a msgpack map or array header is
 * msgpack, anything else (or nothing) is unknown. */
kj_format kj_format_detect(const void *buf, size_t len);

typedef struct kj_reader kj_reader;

/* Open path ("-" for standard input) and detect its format. Regular files
 * are mapped, not read into memory, so that inputs of millions of events cost
 * no more than their pages. KJ_ERR_IO (cannot open/read), KJ_ERR_DECODE
 * (unknown format), with a reason in msg. */
kj_err kj_reader_open(const char *path, kj_reader **out, char *msg, size_t msglen);
void kj_reader_free(kj_reader *r); /* NULL is a no-op */

kj_format kj_reader_format(const kj_reader *r);

/* The next at most max (<= KJ_BATCH_MAX) events, decoded and validated as
 * kj_event_draft_finish does, as a new batch (*out owned by the caller). An
 * element that is not a valid event is an item with its error and keeps its
 * place: invalid JSON in one line of NDJSON is that element's error, and the
 * reader goes on with the next; brackets or quotes that never close end the
 * element at the next line. Malformed msgpack is one error item, then the end
 * (msgpack has no lines to resynchronise on). *first is the index in the
 * input of the batch's first item. Returns KJ_ERR_NOT_FOUND at the end. */
kj_err kj_reader_next(kj_reader *r, size_t max, kj_batch **out, uint64_t *first);

/* Bytes consumed so far and the total size (0 when unknown: a pipe). */
void kj_reader_position(const kj_reader *r, uint64_t *done, uint64_t *total);

/* ---- the client --------------------------------------------------------------- */

typedef enum kj_transport {
    KJ_TRANSPORT_AUTO = 0, /* WebSocket; HTTP for good when the server refuses the
                              upgrade, and for the rest of a post after a failed
                              handshake or an error frame (HTTP's status says why) */
    KJ_TRANSPORT_WS,
    KJ_TRANSPORT_HTTP,
} kj_transport;

/* One event the daemon (or the local validation) refused. */
typedef struct kj_reject {
    uint64_t index;    /* the event's index in this post (see kj_client_submit), or
                          in its spool file when from_spool */
    bool from_spool;   /* an event of an earlier post, delivered from the spool */
    const char *id;    /* the event id ("" when unknown) */
    const char *error; /* "field: reason" */
} kj_reject;

/* What happened to the events of one post. */
typedef struct kj_post_result {
    uint64_t submitted;  /* events handed to this post, valid or not */
    uint64_t accepted;   /* stored by the daemon */
    uint64_t duplicates; /* the daemon had them already (an earlier delivery) */
    uint64_t rejected;   /* invalid: locally or by the daemon, reported to on_reject */
    uint64_t spooled;    /* kept in the spool: the daemon was unavailable */
    /* Events of earlier posts that this post delivered from the spool. */
    uint64_t spool_accepted, spool_duplicates, spool_rejected;
    uint64_t spool_files_bad; /* corrupt spool files set aside (see on_warning) */
} kj_post_result;

typedef enum kj_warning {
    KJ_WARN_RETRY, /* an attempt failed; the next comes after a back-off delay */
    KJ_WARN_SPOOL, /* a spool file is corrupt (set aside) or cannot be removed */
} kj_warning;

typedef struct kj_client_opts {
    const char *url;   /* http[s]:// or ws[s]://host[:port][/prefix]; NULL: KJ_DEFAULT_URL */
    const char *token; /* sent as "Authorization: Bearer TOKEN"; NULL: none */
    kj_transport transport;

    const char *spool_dir;    /* NULL: no spool, an unreachable daemon fails the post */
    uint64_t spool_max_bytes; /* 0: 256 MiB; a post that would pass it fails (KJ_ERR_FULL) */

    size_t max_batch_events; /* per frame / body; 0: KJ_BATCH_MAX */
    size_t max_batch_bytes;  /* per frame / body; 0: 1 MiB (the daemon's max_body) */
    unsigned window;         /* WebSocket frames awaiting their ack; 0: 8 */

    unsigned attempts;        /* connection attempts in one post before spooling; 0: 5 */
    unsigned backoff_base_ms; /* first delay; doubled per failure; 0: 100 */
    unsigned backoff_max_ms;  /* 0: 30000 */
    unsigned timeout_ms;      /* connect, and wait for one ack / answer; 0: 30000 */

    const char *ca_file; /* TLS: CA bundle; NULL: the system's */
    bool tls_insecure;   /* TLS: accept self-signed and mismatched certificates */

    /* Called from inside submit / flush, on the calling thread. The pointers
     * in the arguments live until the callback returns. */
    void (*on_reject)(void *ud, const kj_reject *r);
    void (*on_progress)(void *ud, const kj_post_result *so_far); /* after each answer */
    void (*on_warning)(void *ud, kj_warning kind, const char *msg);
    void *ud;
} kj_client_opts;

typedef struct kj_client kj_client;

/* Create a client from opts (copied; nothing in opts is borrowed after the
 * call). Nothing is connected yet. KJ_ERR_INVALID: a malformed URL or option;
 * KJ_ERR_IO: the spool directory cannot be created or locked. msg says why. */
kj_err kj_client_new(const kj_client_opts *opts, kj_client **out, char *msg, size_t msglen);

/* Close the connection and free c. Events submitted after the last flush and
 * not acknowledged are dropped (they were never reported as delivered): flush
 * first. NULL is a no-op. */
void kj_client_free(kj_client *c);

/* The reason of the last failure of c, or why its last post spooled, as one
 * line; "" when none. Valid until the next call on c. */
const char *kj_client_errmsg(const kj_client *c);

/* Queue n events of the current post. The first submit of a post delivers
 * the spool first. The events are encoded at once (evs may be reused when the
 * call returns) and sent as frames fill; the call blocks only while the window
 * of frames in flight is full. Index i of this call is event number
 * submitted + i of the post (kj_reject.index). Errors are those of
 * kj_client_flush; after an error the post is over (its result is still
 * returned by the next flush). */
kj_err kj_client_submit(kj_client *c, const kj_event *evs, size_t n);

/* As kj_client_submit for a decoded batch: items with an error are reported
 * as rejected (locally, never sent) and keep their place in the indices. */
kj_err kj_client_submit_batch(kj_client *c, const kj_batch *b);

/* End the post: send what is queued and wait until every event is answered
 * by the daemon or written to the spool and fsync'd. Fills *res (may be NULL)
 * with the whole post's counts, then starts a new post. Fails with the codes
 * at the top of this file; events not delivered by then are neither spooled
 * nor acknowledged (res says how many were). */
kj_err kj_client_flush(kj_client *c, kj_post_result *res);

/* kj_client_submit + kj_client_flush. n == 0 only delivers the spool. */
kj_err kj_client_post(kj_client *c, const kj_event *evs, size_t n, kj_post_result *res);

/* Events waiting in the spool (0 without one); counts the files' headers. */
kj_err kj_client_spool_pending(kj_client *c, uint64_t *events);

/* ---- reading from the daemon ------------------------------------------------ */

/* GET path_and_query (e.g. "/api/v1/snapshot?unit=U") with the token and
 * "Accept: accept" (NULL: application/json). On success (any HTTP status)
 * *status is the status, *body a NUL-terminated copy of the body owned by the
 * caller (free()), *len its length. KJ_ERR_IO when the daemon is unreachable. */
kj_err kj_client_get(kj_client *c, const char *path_and_query, const char *accept, int *status,
                     char **body, size_t *len);

/* A live feed over "kinerja-live.v1": subscribe to units, receive frames. */
typedef struct kj_live kj_live;

/* Start a live feed through c's connection settings (c must outlive it). The
 * connection is made by the first kj_live_recv. */
kj_err kj_live_new(kj_client *c, kj_live **out);
void kj_live_free(kj_live *l); /* NULL is a no-op */

/* Subscribe to unit: sent now when connected, and again after every
 * reconnection. KJ_ERR_INVALID for a bad identifier. */
kj_err kj_live_subscribe(kj_live *l, const char *unit);

/* Wait up to timeout_ms for the next frame. KJ_OK: *frame (msgpack, *len
 * bytes) stays valid until the next call on l. KJ_ERR_BUSY: nothing arrived in
 * time. KJ_ERR_IO: the connection was lost or cannot be made (errmsg on the
 * client says why); the next call reconnects after a back-off delay and
 * subscribes again. KJ_ERR_AUTH / KJ_ERR_FORBIDDEN: refused. */
kj_err kj_live_recv(kj_live *l, int timeout_ms, const uint8_t **frame, size_t *len);

/* ---- small shared parsers ------------------------------------------------------ */

/* Durations ("1500ms", "90s", "15m", "2h", "7d" -> ms): kj_parse_duration_ms
 * of duration.h, the daemon's own parser, with its rules (a unit is required;
 * only "0" may go without). */

/* A time: ms since the epoch ("1714616400000"), "now", or ISO 8601 /
 * RFC 3339 ("2024-05-02T09:30:00Z", "...+07:00", a date "2024-05-02" is its
 * midnight UTC). false when it cannot be read. */
bool kj_parse_time(const char *s, int64_t *out);

#endif
