/* kinerjad — state shared by the server's modules (server.c, http.c, files.c,
 * and the WebSocket protocols). Only the service thread touches it, except the
 * atomics marked as such. */
#ifndef KJ_SERVER_PRIV_H
#define KJ_SERVER_PRIV_H

#include <libwebsockets.h>
#include <stdatomic.h>

#include "server.h"

struct http_sess;
struct kj_wsconn;
struct live_unit;
struct kj_hub;
struct ev_loop;

#define KJ_EVENT_TYPES 7 /* 0 = unknown, then kj_event_type */
#define KJ_RESULTS 4     /* kj_item_result, then 3 = failed (the store refused the group) */

struct kj_server {
    const kj_config *cfg;     /* the one in force; replaced by a reload */
    kj_config **old_cfgs;     /* replaced ones, kept: sessions may still point into them */
    size_t n_old_cfgs;
    struct kj_wsconn *ws_conns; /* every open WebSocket connection */
    bool loopback_only;         /* the listeners in use are all on loopback */
    atomic_bool reload_wanted;  /* set by kj_server_reload from any thread */
    lws_sorted_usec_list_t tick_sul; /* watchdog ping and STATUS */
    uint64_t tick_us;
    uint64_t watchdog_us;
    uint64_t last_accepted;      /* events accepted at the previous tick */
    kj_store *store;
    kj_ingest *ingest;
    struct kj_hub *hub;          /* frames from the writer, queries to it */
    struct live_unit *live_units; /* units that viewers watch (live.c) */
    struct lws_context *ctx;
    struct ev_loop *loop; /* the epoll loop lws runs on; NULL: lws's own poll() */
    char web_root[4096]; /* realpath of cfg->web_root, "" when it does not exist */
    atomic_bool stopping; /* set by kj_server_stop from any thread */
    bool draining;        /* service thread: answering the last jobs */
    struct http_sess *parked; /* sessions waiting for room in the ingest queue */
    void *ws_blocked;         /* ingest connections waiting for room (wsingest.c) */
    size_t ingest_clients, live_clients;
    size_t connections;      /* accepted and not yet closed */
    size_t answers_pending;  /* HTTP answers set and not yet fully written */
    size_t bodies_in_progress; /* POST bodies being received */
    /* counters for /metrics (prom.c) */
    uint64_t http_by_code[500];                      /* [code - 100] */
    uint64_t events_total[KJ_EVENT_TYPES][KJ_RESULTS]; /* [type or 0][kj_item_result or 3] */
    uint64_t updates_sent, updates_dropped;
    uint64_t alerts_by_status[4];
};

/* The lws protocol callbacks. */
int kj_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);
size_t kj_http_sess_size(void);

/* Submits sessions parked on a full ingest queue, in order. */
void kj_http_retry_parked(kj_server *s);
void kj_http_fail_parked(kj_server *s); /* on stop: 503 to every parked session */

/* Counts an HTTP answer for /metrics. */
void kj_server_count_http(kj_server *s, int status);

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
