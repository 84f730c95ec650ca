/* kinerjad — what both WebSocket subprotocols share: authentication (header
 * on the upgrade, or a first {"op":"auth"} frame), reassembly of fragmented
 * messages up to max_frame, the outgoing queue, and error frames followed by
 * a close with a fitting code (1003 not msgpack/binary, 1008 policy, 1009 too
 * big). */
#ifndef KJ_WS_H
#define KJ_WS_H

#include <msgpack.h>

#include "../proto/codec.h"
#include "ingest/frame.h"
#include "service.h"

typedef struct kj_wsconn {
    kj_server *srv;
    struct lws *wsi;
    const kj_token *token; /* NULL when auth is off */
    bool authed;
    uint8_t *rx; /* the message being reassembled */
    size_t rx_len, rx_cap;
    bool rx_dropping; /* the rest of an over-long message */
    kj_outq out;
    int close_code;  /* close once out is sent; 0 = stay open */
    bool overflowed; /* frames that cannot be dropped passed viewer_backlog: close now */
    bool counted;    /* established, so counted in the server's clients */
    bool paced;      /* a viewer: its writes share fanout_turn_bytes per loop turn */
    lws_dll2_t line; /* in kj_server.fanout_line: waiting for a later turn */
    struct kj_wsconn *next, *prev; /* every open WebSocket (kj_server.ws_conns) */
    /* Called with each whole, well-formed message (kj_ws_on_receive). */
    void (*on_message)(struct kj_wsconn *c, const msgpack_object *m);
    /* Called after a reload gave this connection a new token (live.c re-checks
     * its subscriptions); may be NULL. */
    void (*token_changed)(struct kj_wsconn *c);
    /* Called when kj_ws_backlog_full dropped the unsent frames (live.c starts
     * its views again from snapshots); may be NULL. */
    void (*backlog_dropped)(struct kj_wsconn *c);
} kj_wsconn;

/* On LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: reads a bearer header. Returns
 * -1 to refuse the upgrade (a token that is presented and wrong, or not
 * allowed the role). */
int kj_ws_filter(kj_wsconn *c, struct lws *wsi, kj_server *s, bool ingest);

/* On LWS_CALLBACK_RECEIVE: collects the fragment. Returns 1 with *msg set
 * (unpacked; the caller destroys it) when a whole, well-formed msgpack map
 * arrived, 0 when more is to come or the message was refused (an error is then
 * queued), -1 to close now. Handles {"op":"auth"} itself. */
int kj_ws_receive(kj_wsconn *c, const void *in, size_t len, msgpack_unpacked *msg);

/* On LWS_CALLBACK_RECEIVE: kj_ws_receive, on_message with a whole message,
 * then kj_ws_received's answer. */
int kj_ws_on_receive(kj_wsconn *c, const void *in, size_t len);

/* kj_ws_receive without reading lws's state (what it calls; the fuzz target
 * calls it directly): final when this fragment ends the message, binary the
 * message's opcode, ingest the subprotocol (for a first-frame auth). */
int kj_ws_collect(kj_wsconn *c, const void *in, size_t len, bool final, bool binary, bool ingest,
                  msgpack_unpacked *msg);

/* At the start of each turn of the service loop: the viewers' share starts
 * again, and the viewers waiting longest get writeable callbacks for about
 * that many bytes of their frames. One thread reads posts, answers them and
 * writes every viewer's frames: a thousand viewers written in one turn made
 * a post wait tens of milliseconds; now a turn holds at most
 * fanout_turn_bytes of them (and one burst of kj_outq_send more). */
void kj_ws_turn(kj_server *s);

/* Queue a frame that cannot be dropped like an update (an error, an answer).
 * It counts against viewer_backlog: past that many bytes unsent, the client
 * provokes frames faster than it reads them, so its queue is dropped and the
 * connection marked overflowed (closed now, 1008: kj_ws_received). Returns
 * whether f was queued. */
bool kj_ws_send_kept(kj_wsconn *c, kj_frame *f);

/* For another frame that may be dropped (an update): true when the unsent
 * frames are past viewer_backlog, which were then dropped (backlog_dropped
 * is called), so the frame must not be queued either. */
bool kj_ws_backlog_full(kj_wsconn *c);

/* After a received message was handled: -1 (close now, with the close
 * reason set) when it overflowed the connection's queue, else 0. */
int kj_ws_received(kj_wsconn *c);

/* The string at key in map m, or NULL (len in *n). */
const char *kj_ws_str(const msgpack_object *m, const char *key, size_t *n);

/* Queue {"op":"error","error":...} (kj_ws_send_kept); with close_code, close
 * after it. */
void kj_ws_error(kj_wsconn *c, int close_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Send a frame (adds a reference): at once on an idle connection, else
 * queued behind its backlog. A paced connection (a viewer) writes only
 * while the loop turn's fanout_turn_bytes last; past them it waits in line
 * for kj_ws_turn. */
void kj_ws_send(kj_wsconn *c, kj_frame *f);
/* Queue a frame (adds a reference) and ask for a writeable callback: for
 * frames that come in runs (the acks of one group commit), which that
 * callback then sends in one write. */
void kj_ws_queue(kj_wsconn *c, kj_frame *f);

/* On LWS_CALLBACK_SERVER_WRITEABLE: send what is queued (kj_outq_send), or
 * wait in line when a paced connection's turn is spent; -1 to close. */
int kj_ws_writeable(kj_wsconn *c);

/* On LWS_CALLBACK_ESTABLISHED: joins the server's list of connections and
 * counts itself in *clients. */
void kj_ws_established(kj_wsconn *c, struct lws *wsi, size_t *clients);

/* On LWS_CALLBACK_CLOSED (also for an upgrade that was refused and never
 * established): leaves the list and the count, frees buffers. */
void kj_ws_closed(kj_wsconn *c, size_t *clients);

/* Refuse an upgrade with an HTTP status and a one-line reason (in
 * LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION); returns the value to return. */
int kj_ws_refuse(struct lws *wsi, int status, const char *reason);

/* After a reload: every connection's token is looked up again by name in the
 * new configuration; a connection whose token is gone, or may no longer do
 * what its protocol does, gets an error and is closed (1008). */
void kj_ws_reauthorize_all(kj_server *s);

#endif
