/* kinerjad — the table of client connections: who may connect, who is
 * evicted to make room, and the deadlines of a request in progress.
 *
 * Owns one record per accepted network connection (HTTP/1, HTTP/2 or
 * WebSocket), in the order they were accepted. Called from the lws callbacks
 * (http.c, ws.c, server.c) on the service thread only; never from another
 * thread.
 *
 * Admission (SPEC §8, issue 17): beyond max_connections_per_address (when
 * set) from one address, or beyond max_connections in all, a new connection
 * takes the place of the oldest one that is not busy — still sending its
 * headers (or idle before its next keep-alive request), dripping a body, or a
 * WebSocket not yet authenticated. Only when there is none is it refused. So
 * a flood of idle sockets, held open and re-opened, pushes only itself out,
 * and /healthz and real clients from the same address still get in. A
 * connection waiting for our answer, or an authenticated WebSocket, is never
 * evicted.
 *
 * Deadlines: header_timeout from accept (or from the answer before, on a
 * keep-alive connection) to the request's headers, and again from the
 * upgrade to a WebSocket's authentication; body_timeout from the headers to
 * the body's last byte. Checked once a second; a late connection is closed.
 * An idle keep-alive connection is thus evictable, like a new one. */
#ifndef KJ_CONNS_H
#define KJ_CONNS_H

#include <stdbool.h>
#include <sys/socket.h>

#include "service.h"

typedef enum kj_conn_phase {
    KJ_CONN_HEADERS, /* accepted or answered, next headers not in (evictable, header deadline) */
    KJ_CONN_BODY,    /* receiving a request body (evictable, body deadline) */
    KJ_CONN_WS_AUTH, /* a WebSocket not yet authenticated (evictable, header deadline) */
    KJ_CONN_BUSY,    /* a whole request is ours to answer, or was answered */
} kj_conn_phase;

/* Starts the table and its once-a-second deadline check. */
void kj_conns_start(kj_server *s);
/* Frees every record (at exit, after the lws context is gone). */
void kj_conns_free(kj_server *s);

/* On LWS_CALLBACK_FILTER_NETWORK_CONNECTION: true when the connection from
 * addr may be accepted (evicting another if needed); false to refuse (the
 * refusal is logged, at most once per 10 s). */
bool kj_conns_admit(kj_server *s, const struct sockaddr *addr);

/* Logs a refusal for a limit reached (why names its key), at most once per
 * 10 s with the count of refusals since: a flood must not flood the log. */
void kj_conns_refused(kj_server *s, const char *why, size_t limit);

/* On LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: records the new network
 * connection (in phase KJ_CONN_HEADERS). */
void kj_conns_add(kj_server *s, struct lws *wsi);

/* On LWS_CALLBACK_WSI_DESTROY of a network connection: forgets it. */
void kj_conns_gone(kj_server *s, struct lws *wsi);

/* A connection (any wsi on it) moved on: headers complete, a body started,
 * a WebSocket authenticated... */
void kj_conns_phase(struct lws *wsi, kj_conn_phase phase);

#endif
