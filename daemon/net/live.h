/* kinerjad — kinerja-live.v1: dashboards subscribe to units and receive a
 * snapshot, then updates, alerts, and answers (live.c). */
#ifndef KJ_LIVE_H
#define KJ_LIVE_H

#include <msgpack.h>

#include "ingest/hub.h"
#include "server_priv.h"
#include "ws.h"

int kj_live_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);
size_t kj_live_sess_size(void);

/* Hand the writer's published frames to the subscribers; frees the list. */
void kj_live_on_published(kj_server *s, kj_pub *list);

/* Pack the units of `units` (the writer's array) that tok may see (all when
 * tok is NULL); with frame, as {"op":"units","units":[...]}. Shared with the
 * HTTP read API. */
void kj_live_pack_units(msgpack_packer *pk, const msgpack_object *units, const kj_token *tok,
                        bool frame);

/* At exit. */
void kj_live_free_units(kj_server *s);

/* For another frame to a viewer (ws of a kinerja-live.v1 connection): true
 * when its unsent frames are past viewer_backlog, which were then dropped
 * (its units and overview start again from a snapshot once it drains), so the
 * frame must not be queued either. */
bool kj_live_backlog_full(kj_wsconn *ws);

#endif
