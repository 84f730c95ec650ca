/* kinerjad — the network side: one libwebsockets context on the configured
 * listeners, serving HTTP (static files, the API) and the WebSocket
 * subprotocols. Everything that touches a connection runs on the service
 * thread that calls kj_server_run. */
#ifndef KJ_SERVER_H
#define KJ_SERVER_H

#include "config.h"
#include "ingest.h"
#include "store.h"

typedef struct kj_server kj_server;

/* Create the context and listen. cfg, store and ingest stay the caller's and
 * must outlive the server. On failure writes a one-line reason to msg. */
kj_err kj_server_new(const kj_config *cfg, kj_store *store, kj_server **out, char *msg,
                     size_t msglen);

/* Hand the writer to the server (after kj_server_new, which gives the wake
 * function the writer needs). */
void kj_server_set_ingest(kj_server *s, kj_ingest *in);

/* For the writer: wakes the service thread (lws_cancel_service). */
void kj_server_wake(void *server);

/* Serve until kj_server_stop; then answer what is pending and return. */
kj_err kj_server_run(kj_server *s);

/* From any thread (a signal thread): begin a clean stop. */
void kj_server_stop(kj_server *s);

void kj_server_free(kj_server *s);

#endif
