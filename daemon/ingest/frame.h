/* kinerjad — encoded WebSocket messages shared among connections.
 *
 * A kj_frame is encoded once (one unit's update, say) and sent to every
 * subscriber: the bytes are immutable after kj_frame_new and refcounted, with
 * LWS_PRE bytes of headroom in front for libwebsockets' framing (it writes the
 * same header there for every receiver, so sharing the headroom is safe on
 * the one service thread). The refcount is atomic because the writer thread
 * creates frames and the service thread drops them.
 *
 * A kj_outq is one connection's queue of frames to send, with its byte total,
 * so that a slow reader's backlog can be bounded. */
#ifndef KJ_FRAME_H
#define KJ_FRAME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

typedef struct kj_frame {
    atomic_int refs;
    size_t len;
    uint8_t *data; /* len bytes, with LWS_PRE writable bytes before */
} kj_frame;

/* A frame holding a copy of bytes (refcount 1). */
kj_frame *kj_frame_new(const void *bytes, size_t len);
/* The same, or NULL without the memory: for frames whose size a client
 * chooses (an ack listing its rejected events). */
kj_frame *kj_frame_try_new(const void *bytes, size_t len);
kj_frame *kj_frame_ref(kj_frame *f);
void kj_frame_unref(kj_frame *f); /* NULL is a no-op */

typedef struct kj_outq {
    kj_frame **items;
    size_t head, count, cap;
    size_t bytes;
} kj_outq;

void kj_outq_push(kj_outq *q, kj_frame *f); /* adds a reference */
kj_frame *kj_outq_peek(const kj_outq *q);   /* NULL when empty */
void kj_outq_pop(kj_outq *q);               /* drops the head's reference */
void kj_outq_clear(kj_outq *q);             /* drops everything, frees storage */

#define KJ_OUTQ_BURST 16     /* writes in one writeable callback, at most */
#define KJ_OUTQ_GATHER 16384 /* bytes of small frames sent in one write */

/* Send from q's head on wsi while the socket is not choked (at most
 * KJ_OUTQ_BURST writes, each of one frame or of as many as fit in
 * KJ_OUTQ_GATHER bytes) and ask for another callback while more is queued.
 * -1 on a write error. */
int kj_outq_send(kj_outq *q, struct lws *wsi);

#endif
