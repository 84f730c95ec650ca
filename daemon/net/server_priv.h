/* kinerjad — state shared by the server's modules (server.c, http.c, files.c,
 * and the WebSocket protocols). Only the service thread touches it, except the
 * atomics marked as such. */
#ifndef KJ_SERVER_PRIV_H
#define KJ_SERVER_PRIV_H

#include <libwebsockets.h>
#include <stdatomic.h>

#include "prom.h"
#include "server.h"

struct http_sess;
struct kj_wsconn;
struct live_unit;
struct live_conn;
struct kj_hub;
struct ev_loop;
struct ev_prepare;
struct kj_conns;
struct kj_cluster;
struct ingest_conn;

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
    struct live_unit *live_units;     /* units that viewers watch (live.c) */
    size_t n_live_units;
    struct kj_overview_sub *overview_subs; /* live overview viewers (overview.c) */
    size_t live_snapshots_asked;           /* live.c: snapshot queries at the writer */
    struct live_conn *live_paused;         /* live.c: viewers waiting for those to come back */
    struct lws_context *ctx;
    struct ev_loop *loop;           /* the epoll loop lws runs on; NULL: lws's own poll() */
    struct ev_prepare *turn_watch;  /* counts loop_turns on loop */
    uint64_t loop_turns;            /* turns of the service loop: tells a callback lws repeats
                                     * without returning to the loop from one it repeats per turn */
    char web_root[4096];            /* realpath of cfg->web_root, "" when it does not exist */
    atomic_bool stopping;           /* set by kj_server_stop from any thread */
    struct http_sess *parked;       /* sessions waiting for room in the ingest queue */
    struct ingest_conn *ws_blocked; /* ingest connections waiting for room (wsingest.c) */
    size_t ingest_clients, live_clients;
    size_t connections;        /* accepted and not yet closed */
    struct kj_conns *conns;    /* the table of connections: admission, deadlines (conns.c) */
    size_t answers_pending;    /* HTTP answers set and not yet fully written */
    size_t bodies_in_progress; /* POST bodies being received */
    kj_stats stats;            /* counters for /metrics: written through prom.h, read by prom.c */
};

/* The lws protocol callbacks. */
int kj_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);
size_t kj_http_sess_size(void);

/* Submits sessions parked on a full ingest queue, in order. */
void kj_http_retry_parked(kj_server *s);
void kj_http_fail_parked(kj_server *s); /* on stop: 503 to every parked session */

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
/* Whether wsi's request head is over KJ_HTTP_HEAD_MAX (http.c). */
int kj_http_head_too_big(struct lws *wsi);

/* A connection ended (LWS_CALLBACK_WSI_DESTROY, whatever its protocol). */
void kj_server_conn_gone(kj_server *s, struct lws *wsi);

/* SIGHUP's work, on the service thread (reload.c). */
void kj_server_do_reload(kj_server *s);

/* The service thread's reaction to a wake-up (lws_cancel_service). */
void kj_server_on_wake(kj_server *s);

/* kinerja-ingest.v1 */
int kj_wsingest_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len);
size_t kj_wsingest_sess_size(void);
void kj_wsingest_retry_blocked(kj_server *s);

/* Static files: 0 when a response was started, -1 to close. */
int kj_files_serve(kj_server *s, struct lws *wsi, const char *uri);

#endif
