/* kinerjad — the HTTP session (lws's per-session data of the "http"
 * protocol) and what every HTTP module does with it: set its answer, read its
 * arguments, check its token. http.c (requests, POST /api/v1/events), api.c
 * and api_rapor.c (the read API) and files.c use it; it uses none of them.
 * Service thread only. */
#ifndef KJ_SESSION_H
#define KJ_SESSION_H

#include <jansson.h>
#include <msgpack.h>

#include "ingest/hub.h"
#include "service.h"
#include "store/store.h"

enum route { ROUTE_NONE, ROUTE_POST_EVENTS };

/* The protocol's own state (kj_server.http). */
struct kj_http_state {
    struct http_sess *parked;  /* sessions waiting for room in the ingest queue, in order */
    size_t answers_pending;    /* answers set and not yet fully written */
    size_t bodies_in_progress; /* POST bodies being received */
};

struct http_sess {
    kj_server *srv;
    struct lws *wsi;
    enum route route;
    const kj_token *token; /* NULL when auth is off */
    bool msgpack_in, msgpack_out;
    bool answered;                   /* an answer is set; ignore further body */
    bool receiving;                  /* counted in bodies_in_progress */
    bool h2;                         /* an HTTP/2 stream */
    bool body_done;                  /* HTTP_BODY_COMPLETION seen: lws repeats it (below) */
    uint64_t repeat_turn;            /* the loop turn of the last repeated completion */
    unsigned repeats;                /* repeated completions in that turn */
    bool rx_paused;                  /* reading paused from the body's completion to its answer */
    unsigned long long body_too_big; /* its length, when over max_body: discarded */
    bool body_no_memory;             /* no memory for the body: discarded, then 503 */

    uint8_t *body;
    size_t body_len, body_cap;

    kj_ingest_job *job; /* while the writer has it (or while parked) */
    bool parked;
    struct http_sess *next_parked;

    /* the answer */
    int status;
    const char *ctype;
    uint8_t *out; /* LWS_PRE bytes of headroom, then out_len bytes */
    size_t out_len, out_off;
    bool headers_sent, close_after;
    int retry_after; /* seconds, 0 = no header */

    /* the read API (api.c) */
    kj_query *query;       /* at the writer; its answer becomes ours */
    struct export *export; /* a streamed GET /api/v1/events */
};

/* Set the answer (copied) and ask for a writeable callback. Without the
 * memory for it (its size follows the request), a 503 and a close instead. */
void kj_http_set_answer(struct http_sess *hs, int status, const char *ctype, const void *body,
                        size_t len);
/* An error answer {"error": "..."}, JSON or msgpack as the client asked. */
void kj_http_error(struct http_sess *hs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers in one encoding; each takes (and frees) doc or sb. */
void kj_http_answer_json(struct http_sess *hs, int status, json_t *doc);
void kj_http_answer_msgpack(struct http_sess *hs, int status, msgpack_sbuffer *sb);
void kj_http_answer_text(struct http_sess *hs, int status, const char *text);
/* Copies s (up to cap - 1 bytes) with bytes that would break a one-line
 * UTF-8 answer replaced by '?'. */
void kj_http_clean_text(char *dst, size_t cap, const char *s);
/* A msgpack result of the writer, answered as JSON or msgpack as the request asked. */
void kj_http_answer_frame(struct http_sess *hs, const kj_frame *f);

/* Whether wsi's request head (an HTTP request's or a WebSocket upgrade's) is
 * over KJ_HTTP_HEAD_MAX (service.h). */
int kj_http_head_too_big(struct lws *wsi);
/* Whether header tok contains needle (case aside). */
bool kj_http_header_has(struct lws *wsi, enum lws_token_indexes tok, const char *needle);
/* 0 when the request's token may act (ingest: post events); else an answer
 * (401/403) was set. Sets hs->token. */
int kj_http_authorize(struct http_sess *hs, bool ingest);

/* Query arguments: the value of name (false when absent or too long); an
 * optional integer (false, with an answer set, when malformed); ?unit=
 * checked against the token (false with an answer set). */
bool kj_http_arg(struct http_sess *hs, const char *name, char *buf, int len);
bool kj_http_arg_int(struct http_sess *hs, const char *name, int64_t *out);
bool kj_http_arg_unit(struct http_sess *hs, char *unit);

#endif
