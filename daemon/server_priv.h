/* kinerjad — state shared by the server's modules (server.c, http.c, files.c,
 * and the WebSocket protocols). Only the service thread touches it, except the
 * atomics marked as such. */
#ifndef KJ_SERVER_PRIV_H
#define KJ_SERVER_PRIV_H

#include <libwebsockets.h>
#include <stdatomic.h>

#include "server.h"

struct http_sess;

struct kj_server {
    const kj_config *cfg;
    kj_store *store;
    kj_ingest *ingest;
    struct lws_context *ctx;
    char web_root[4096]; /* realpath of cfg->web_root, "" when it does not exist */
    atomic_bool stopping; /* set by kj_server_stop from any thread */
    bool draining;        /* service thread: answering the last jobs */
    struct http_sess *parked; /* sessions waiting for room in the ingest queue */
    void *ws_blocked;         /* ingest connections waiting for room (wsingest.c) */
    size_t ingest_clients, live_clients;
    size_t connections;      /* accepted and not yet closed */
    size_t answers_pending;  /* HTTP answers set and not yet fully written */
    size_t bodies_in_progress; /* POST bodies being received */
    uint64_t http_requests[6]; /* by class: 1xx..5xx, index 0 unused */
};

/* The lws protocol callbacks. */
int kj_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);
size_t kj_http_sess_size(void);

/* Submits sessions parked on a full ingest queue, in order. */
void kj_http_retry_parked(kj_server *s);
void kj_http_fail_parked(kj_server *s); /* on stop: 503 to every parked session */

/* A connection ended (LWS_CALLBACK_WSI_DESTROY, whatever its protocol). */
void kj_server_conn_gone(kj_server *s);

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
