/* kinerjad — the network side: one libwebsockets context on the configured
 * listeners, serving HTTP (static files, the API) and the WebSocket
 * subprotocols. Everything that touches a connection runs on the service
 * thread that calls kj_server_run. */
#ifndef KJ_SERVER_H
#define KJ_SERVER_H

#include "config/config.h"
#include "ingest/ingest.h"
#include "store/store.h"

typedef struct kj_server kj_server;

/* Create the context and listen. The server takes cfg (and the configurations
 * that reloads bring) and frees them in kj_server_free; store stays the
 * caller's and must outlive the server. On failure writes a one-line reason to
 * msg (cfg is then the caller's again). */
kj_err kj_server_new(kj_config *cfg, kj_store *store, kj_server **out, char *msg, size_t msglen);

/* Hand the writer to the server (after kj_server_new, which gives the wake
 * function the writer needs). */
void kj_server_set_ingest(kj_server *s, kj_ingest *in);

/* Hand the cluster (SPEC §17) to the server: posted events then go to
 * JetStream instead of the writer. */
struct kj_cluster;
void kj_server_set_cluster(kj_server *s, struct kj_cluster *cl);

/* Hand the mailbox to and from the writer (live feed, read API). */
struct kj_hub;
void kj_server_set_hub(kj_server *s, struct kj_hub *hub);

/* For the writer: wakes the service thread (lws_cancel_service). */
void kj_server_wake(void *server);

/* Serve until kj_server_stop; then answer what is pending and return. */
kj_err kj_server_run(kj_server *s);

/* From any thread (a signal thread): begin a clean stop. */
void kj_server_stop(kj_server *s);

/* From any thread (a signal thread): reload the configuration file. */
void kj_server_reload(kj_server *s);

/* A one-line summary for STATUS= and logs: clients, events/s. */
void kj_server_status(kj_server *s, char *buf, size_t len);

void kj_server_free(kj_server *s);

#endif
