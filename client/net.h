/* kinerja — internal to client/: the only file that talks to libwebsockets.
 *
 * Why lws for both transports: one event loop and one TLS stack for the
 * WebSocket ingest and live feeds and for plain HTTP requests, with https://
 * and wss:// for free. The HTTP side is a blocking call (kj_net_http) that
 * runs the loop until the answer is in; a POST carries at most one batch
 * (1 MiB), so a connection per request costs nothing that matters next to
 * the daemon's commit, and keep-alive is not worth its state.
 *
 * Everything runs on the caller's thread inside kj_net_service(): lws calls
 * back, the callbacks only move bytes into and out of queues here, and the
 * caller looks at the queues when kj_net_service() returns. */
#ifndef KJ_NET_H
#define KJ_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct kj_net kj_net;
typedef struct kj_wsc kj_wsc;

typedef struct kj_net_opts {
    const char *url; /* http[s]:// or ws[s]://host[:port][/prefix] */
    const char *token;
    const char *ca_file;
    bool insecure;
} kj_net_opts;

/* KJ_ERR_INVALID for a URL that cannot be used, KJ_ERR_IO when lws cannot
 * start; msg says why. */
kj_err kj_net_new(const kj_net_opts *o, kj_net **out, char *msg, size_t msglen);
void kj_net_free(kj_net *n);

/* "host:port" of the daemon, for messages. */
const char *kj_net_where(const kj_net *n);

/* Run the loop once: returns when something happened or timeout_ms passed. */
void kj_net_service(kj_net *n, int timeout_ms);

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct kj_http_req {
    const char *method; /* "GET", "POST" */
    const char *path;   /* below the URL's prefix: "/api/v1/events" */
    const char *content_type;
    const char *accept;
    const uint8_t *body; /* borrowed for the call */
    size_t body_len;
    int timeout_ms;
} kj_http_req;

typedef struct kj_http_resp {
    int status;
    char *body; /* malloc'd, NUL-terminated; the caller frees it */
    size_t len;
    char content_type[64];
    int retry_after_s; /* -1 when absent */
} kj_http_resp;

/* Send the request and wait for the whole answer. KJ_OK for any HTTP status;
 * KJ_ERR_IO when there was none (refused, reset, timed out), msg says why. */
kj_err kj_net_http(kj_net *n, const kj_http_req *req, kj_http_resp *resp, char *msg, size_t msglen);
void kj_http_resp_clear(kj_http_resp *r);

/* ---- WebSocket -------------------------------------------------------------- */

typedef enum kj_wsc_state { KJ_WSC_CONNECTING, KJ_WSC_OPEN, KJ_WSC_CLOSED } kj_wsc_state;

/* Start connecting with subprotocol protocol (the token goes in the
 * Authorization header). The result shows in kj_wsc_state after services. */
kj_err kj_wsc_open(kj_net *n, const char *protocol, kj_wsc **out, char *msg, size_t msglen);

/* Close (when open) and free; the connection goes away asynchronously. */
void kj_wsc_free(kj_wsc *ws);

kj_wsc_state kj_wsc_state_of(const kj_wsc *ws);

/* Why it closed: reason text, the HTTP status of a refused upgrade (0 when
 * the connection itself failed: a refusal is then transport trouble), the
 * close code the server sent (0 when none). */
const char *kj_wsc_reason(const kj_wsc *ws);
int kj_wsc_http_status(const kj_wsc *ws);
int kj_wsc_close_code(const kj_wsc *ws);
/* Whether the handshake completed (a failure after it is not a refusal). */
bool kj_wsc_was_open(const kj_wsc *ws);

/* Queue a binary message. Without copy, msg is borrowed: it must stay valid
 * until the message is sent or the ws is freed, and it is never modified (it
 * is masked in a copy). With copy, the ws keeps its own copy at once (small
 * control frames). */
void kj_wsc_send(kj_wsc *ws, uint8_t *msg, size_t len, bool copy);

/* The next complete message received, or NULL: *len bytes, the caller's to
 * free(). */
uint8_t *kj_wsc_recv(kj_wsc *ws, size_t *len);

#endif
