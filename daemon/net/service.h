/* kinerjad — what the service thread's modules share: the server's state,
 * the table by which server.c reaches each protocol (kj_net_proto), and the
 * way in to the writer (kj_server_submit). The protocols (http.c, api.c,
 * files.c, wsingest.c, live.c, ...) depend on this header, never on server.c;
 * server.c depends on them through their kj_net_proto. Only the service thread
 * touches the state, except the atomics marked as such. */
#ifndef KJ_SERVICE_H
#define KJ_SERVICE_H

#include <libwebsockets.h>
#include <stdatomic.h>

#include "prom.h"
#include "server.h"

struct kj_wsconn;
struct kj_http_state;
struct kj_wsingest_state;
struct kj_live_state;
struct kj_hub;
struct ev_loop;
struct ev_prepare;
struct kj_conns;
struct kj_cluster;

struct kj_server {
    const kj_config *cfg; /* the one in force; replaced by a reload */
    kj_config **old_cfgs; /* replaced ones, kept: sessions may still point into them */
    size_t n_old_cfgs;
    struct kj_wsconn *ws_conns;      /* every open WebSocket connection */
    bool loopback_only;              /* the listeners in use are all on loopback */
    atomic_bool reload_wanted;       /* set by kj_server_reload from any thread */
    lws_sorted_usec_list_t tick_sul; /* watchdog ping and STATUS */
    uint64_t tick_us;
    uint64_t watchdog_us;
    uint64_t last_accepted; /* events accepted at the previous tick */
    kj_store *store;
    kj_ingest *ingest;
    struct kj_cluster *cluster;       /* NULL: one node (no `cluster` key) */
    struct kj_hub *hub;               /* frames from the writer, queries to it */
    struct kj_rapor_jobs *rapor_jobs; /* rapor builds on worker threads; made on first use */
    struct kj_http_state *http;       /* each protocol's own state (see kj_net_proto) */
    struct kj_wsingest_state *wsingest;
    struct kj_live_state *live;
    struct lws_context *ctx;
    struct ev_loop *loop;          /* the epoll loop lws runs on; NULL: lws's own poll() */
    struct ev_prepare *turn_watch; /* each turn of loop: loop_turns, kj_ws_turn */
    uint64_t loop_turns;           /* turns of the service loop: tells a callback lws repeats
                                    * without returning to the loop from one it repeats per turn */
    char web_root[4096];           /* realpath of cfg->web_root, "" when it does not exist */
    atomic_bool stopping;          /* set by kj_server_stop from any thread */
    size_t fanout_spent;           /* viewers' bytes written in this loop turn (ws.c) */
    lws_dll2_owner_t fanout_line;  /* viewers waiting for a later turn (ws.c) */
    size_t connections;            /* accepted and not yet closed */
    struct kj_conns *conns;        /* the table of connections: admission, deadlines (conns.c) */
    kj_stats stats; /* counters for /metrics: written through prom.h, read by prom.c */
};

/* One protocol the service thread speaks: http (http.c), kinerja-ingest.v1
 * (wsingest.c), kinerja-live.v1 (live.c). server.c registers it with lws and
 * keeps the callbacks about the connection itself (admission, the table of
 * connections, the writer's wake-up); every other callback goes to .callback.
 * The hooks run at the points of the loop named; each keeps its state in its
 * own struct behind the server's pointer (s->http, s->wsingest, s->live). */
typedef struct kj_net_proto {
    const char *name;
    lws_callback_function *callback;
    size_t sess_size; /* lws's per-session data: the protocol's session */
    size_t rx_buffer_size, tx_packet_size;
    void (*start)(kj_server *s);   /* at kj_server_new: makes its state */
    void (*on_wake)(kj_server *s); /* after the writer's wake-up: work handed back; NULL: none */
    void (*on_stop)(kj_server *s); /* at stop: refuse what waits; NULL: nothing */
    bool (*busy)(
        const kj_server *s);    /* answers still leaving, that the stop waits for; NULL: none */
    void (*free)(kj_server *s); /* at exit, after the lws context */
} kj_net_proto;

extern const kj_net_proto kj_http_proto, kj_wsingest_proto, kj_live_proto;

/* A request's path, query and headers together: over KJ_HTTP_HEAD_MAX bytes
 * the answer is 431. lws 4.1 cannot be asked for a status when its own head
 * buffer (KJ_HTTP_HEAD_BUF, allocated per connection while headers arrive and
 * kept in its pool) overflows: lws_parse() returns LPR_FAIL ("Ran out of
 * header data space", lib/roles/http/parsers.c, lws_pos_in_bounds) and
 * lws_handshake_server() closes the connection (bail_nuke_ah) with no callback
 * between. So that buffer is four times our limit: a head up to about 32 KiB
 * gets its 431, a longer one a close without a status. Headers lws does not
 * know (X-...) fill that buffer too but cannot be listed through the 4.1 API,
 * so KJ_HTTP_HEAD_MAX counts the known ones only. */
#define KJ_HTTP_HEAD_MAX 8192
#define KJ_HTTP_HEAD_BUF (4 * KJ_HTTP_HEAD_MAX)

/* A validated job from a client (HTTP or WebSocket), to the writer or, in a
 * cluster, to JetStream; kj_ingest_submit's answers, plus KJ_ERR_UNAVAILABLE
 * while the cluster's NATS is unreachable (service.c). */
kj_err kj_server_submit(kj_server *s, kj_ingest_job *job);

/* SIGHUP's work, on the service thread (reload.c). */
void kj_server_do_reload(kj_server *s);

/* Static files: 0 when a response was started, -1 to close. */
int kj_files_serve(kj_server *s, struct lws *wsi, const char *uri);

#endif
