/* kinerjad — kinerja-live.v1: dashboards subscribe to units and receive a
 * snapshot, then updates, alerts, and answers (live.c). */
#ifndef KJ_LIVE_H
#define KJ_LIVE_H

#include <msgpack.h>

#include "ingest/hub.h"
#include "service.h"
#include "ws.h"

/* Pack the units of `units` (the writer's array) that tok may see (all when
 * tok is NULL); with frame, as {"op":"units","units":[...]}. Shared with the
 * HTTP read API. */
void kj_live_pack_units(msgpack_packer *pk, const msgpack_object *units, const kj_token *tok,
                        bool frame);

#endif
