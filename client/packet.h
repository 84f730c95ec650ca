/* kinerja — internal to client/: batches of encoded events on their way to the
 * daemon, and the msgpack walking that the reader and the spool need.
 *
 * A kj_packet holds count canonical msgpack events back to back, with headroom
 * in front for LWS_PRE and the envelope: {"op":"events","seq":N,"events":[ for
 * a WebSocket frame, the array header alone for an HTTP body. The envelope is
 * written into the headroom when the frame is sent, so the events are encoded
 * once and never copied (also not when they come from a spool file). */
#ifndef KJ_PACKET_H
#define KJ_PACKET_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* LWS_PRE (16 in lws 4.1, checked in net.c) plus the longest envelope (36). */
#define KJ_PACKET_HEADROOM 64

typedef struct kj_packet {
    struct kj_packet *next;
    uint8_t *buf;    /* KJ_PACKET_HEADROOM + cap bytes */
    size_t len, cap; /* bytes of events after the headroom */
    uint32_t count;
    uint64_t *index;    /* per event: its index in the post; NULL for spool frames */
    uint64_t spool_seq; /* the spool file of these events, or 0 */
    uint64_t first;     /* spool frames: index in the file of the first event */
    uint64_t seq;       /* WebSocket seq of the last send */
} kj_packet;

kj_packet *kj_packet_new(size_t cap);
void kj_packet_free(kj_packet *f); /* NULL is a no-op */

/* The events bytes. */
static inline uint8_t *kj_packet_events(const kj_packet *f)
{
    return f->buf + KJ_PACKET_HEADROOM;
}

/* Append one event packed canonically, with its index. Returns false (and
 * leaves f as it was) when it would pass max_bytes bytes or max_events. */
bool kj_packet_add(kj_packet *f, const kj_event *ev, uint64_t index, size_t max_bytes,
                   size_t max_events);

/* Write the envelope into the headroom; returns where the message starts (at
 * least LWS_PRE after buf) and its total length in *len. */
uint8_t *kj_packet_ws_message(kj_packet *f, uint64_t seq, size_t *len);
uint8_t *kj_packet_http_body(kj_packet *f, size_t *len);

/* Split f after its first `first` events into a new frame holding the rest
 * (for a daemon whose limits are lower than ours). Returns NULL on a malformed
 * event stream. */
kj_packet *kj_packet_split(kj_packet *f, uint32_t first);

/* A FIFO of packets linked through their next field; a packet is in at most
 * one queue. The queue owns nothing: kj_pq_clear frees what it holds. */
typedef struct kj_packet_queue {
    kj_packet *head, *tail;
    size_t count;
} kj_packet_queue;

void kj_pq_push(kj_packet_queue *q, kj_packet *f);
void kj_pq_push_front(kj_packet_queue *q, kj_packet *f);
kj_packet *kj_pq_pop(kj_packet_queue *q);            /* NULL when empty */
void kj_pq_remove(kj_packet_queue *q, kj_packet *f); /* f may be absent */
void kj_pq_clear(kj_packet_queue *q);                /* frees every packet */

#endif
