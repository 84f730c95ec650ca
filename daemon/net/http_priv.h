/* kinerjad — what the HTTP modules share (http.c: requests, answers and
 * ingest; api.c: the read API). Service thread only. */
#ifndef KJ_HTTP_PRIV_H
#define KJ_HTTP_PRIV_H

#include "ingest/hub.h"
#include "server_priv.h"
#include "store/store.h"

enum route { ROUTE_NONE, ROUTE_POST_EVENTS };

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

/* Set the answer (copied) and ask for a writeable callback. */
void kj_http_set_answer(struct http_sess *hs, int status, const char *ctype, const void *body,
                        size_t len);
/* An error answer {"error": "..."}, JSON or msgpack as the client asked. */
void kj_http_error(struct http_sess *hs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 0 when the request's token may act (ingest: post events); else an answer
 * (401/403) was set. Sets hs->token. */
int kj_http_authorize(struct http_sess *hs, bool ingest);

/* api.c: GET /api/v1/{units,snapshot,series,events}; 0, or -1 to close. */
int kj_api_request(struct http_sess *hs, const char *uri);
/* api.c: the next part of a streamed export; -1 to close (also when done). */
int kj_api_export_write(struct http_sess *hs);
/* api.c: may tok read the series of scope ("unit:U", "employee:E", "counter:U/C")? */
bool kj_api_scope_allowed(const kj_token *tok, const char *scope);
/* api.c: the session ends: forget queries and exports. */
void kj_api_reset(struct http_sess *hs);

/* api.c's argument and answer helpers, for the endpoints in other files:
 * an argument (false when absent or too long); ?unit= checked against the
 * token (false with an answer set); a msgpack result answered as JSON or
 * msgpack as the request asked. */
bool kj_api_arg(struct http_sess *hs, const char *name, char *buf, int len);
bool kj_api_arg_unit(struct http_sess *hs, char *unit);
void kj_api_answer_frame(struct http_sess *hs, const kj_frame *f);

/* GET /api/v1/rapor (api_rapor.c). */
int kj_api_get_rapor(struct http_sess *hs);

#endif
