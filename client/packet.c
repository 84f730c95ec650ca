/* kinerja — encoded batches (frame.h). */
#include <libwebsockets.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "mpwalk.h"
#include "packet.h"

_Static_assert(LWS_PRE + 40 <= KJ_PACKET_HEADROOM, "frame headroom too small for LWS_PRE");

kj_packet *kj_packet_new(size_t cap)
{
    kj_packet *f = kj_calloc(1, sizeof *f);
    f->cap = cap ? cap : 4096;
    f->buf = kj_malloc(KJ_PACKET_HEADROOM + f->cap);
    return f;
}

void kj_packet_free(kj_packet *f)
{
    if (!f) return;
    free(f->buf);
    free(f->index);
    free(f);
}

/* msgpack_packer writes straight into the frame, growing it. */
static int frame_write(void *data, const char *buf, size_t len)
{
    kj_packet *f = data;
    if (f->len + len > f->cap) {
        while (f->len + len > f->cap)
            f->cap *= 2;
        f->buf = kj_realloc(f->buf, KJ_PACKET_HEADROOM + f->cap);
    }
    memcpy(kj_packet_events(f) + f->len, buf, len);
    f->len += len;
    return 0;
}

bool kj_packet_add(kj_packet *f, const kj_event *ev, uint64_t index, size_t max_bytes,
                   size_t max_events)
{
    if (f->count >= max_events) return false;
    size_t before = f->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, f, frame_write);
    kj_msgpack_pack_event(&pk, ev);
    if (f->len > max_bytes && f->count > 0) {
        f->len = before;
        return false;
    }
    /* The index array grows in powers of two alongside the count. */
    if ((f->count & (f->count - 1)) == 0)
        f->index = kj_realloc(f->index, (f->count ? 2 * f->count : 1) * sizeof *f->index);
    f->index[f->count++] = index;
    return true;
}

/* Pack into the headroom's end: the envelope sits right before the events. */
typedef struct head {
    uint8_t bytes[48];
    size_t len;
} head;

static int head_write(void *data, const char *buf, size_t len)
{
    head *h = data;
    memcpy(h->bytes + h->len, buf, len);
    h->len += len;
    return 0;
}

static uint8_t *place(kj_packet *f, const head *h, size_t *len)
{
    uint8_t *start = kj_packet_events(f) - h->len;
    memcpy(start, h->bytes, h->len);
    *len = h->len + f->len;
    return start;
}

uint8_t *kj_packet_ws_message(kj_packet *f, uint64_t seq, size_t *len)
{
    head h = {.len = 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &h, head_write);
    msgpack_pack_map(&pk, 3);
    kj_pack_str(&pk, "op");
    kj_pack_str(&pk, "events");
    kj_pack_str(&pk, "seq");
    msgpack_pack_uint64(&pk, seq);
    kj_pack_str(&pk, "events");
    msgpack_pack_array(&pk, f->count);
    f->seq = seq;
    return place(f, &h, len);
}

uint8_t *kj_packet_http_body(kj_packet *f, size_t *len)
{
    head h = {.len = 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &h, head_write);
    msgpack_pack_array(&pk, f->count);
    return place(f, &h, len);
}

kj_packet *kj_packet_split(kj_packet *f, uint32_t first)
{
    const uint8_t *p = kj_packet_events(f);
    size_t off = 0;
    for (uint32_t i = 0; i < first; i++) {
        size_t n = kj_msgpack_skip(p + off, f->len - off);
        if (!n) return NULL;
        off += n;
    }
    kj_packet *rest = kj_packet_new(f->len - off);
    memcpy(kj_packet_events(rest), p + off, f->len - off);
    rest->len = f->len - off;
    rest->count = f->count - first;
    if (f->index) {
        rest->index = kj_malloc((rest->count ? rest->count : 1) * sizeof *rest->index);
        memcpy(rest->index, f->index + first, rest->count * sizeof *rest->index);
    }
    rest->spool_seq = f->spool_seq;
    rest->first = f->first + first;
    f->len = off;
    f->count = first;
    return rest;
}

/* ---- queues of packets ---- */

void kj_pq_push(kj_packet_queue *q, kj_packet *f)
{
    f->next = NULL;
    if (q->tail)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
    q->count++;
}

void kj_pq_push_front(kj_packet_queue *q, kj_packet *f)
{
    f->next = q->head;
    q->head = f;
    if (!q->tail) q->tail = f;
    q->count++;
}

kj_packet *kj_pq_pop(kj_packet_queue *q)
{
    kj_packet *f = q->head;
    if (!f) return NULL;
    q->head = f->next;
    if (!q->head) q->tail = NULL;
    q->count--;
    f->next = NULL;
    return f;
}

void kj_pq_remove(kj_packet_queue *q, kj_packet *f)
{
    kj_packet **pp = &q->head, *prev = NULL;
    while (*pp && *pp != f)
        prev = *pp, pp = &(*pp)->next;
    if (!*pp) return;
    *pp = f->next;
    if (q->tail == f) q->tail = prev;
    q->count--;
    f->next = NULL;
}

void kj_pq_clear(kj_packet_queue *q)
{
    kj_packet *f;
    while ((f = kj_pq_pop(q)))
        kj_packet_free(f);
}
