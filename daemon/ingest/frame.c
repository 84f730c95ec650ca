#include "frame.h"

#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"

static kj_frame *frame_init(kj_frame *f, const void *bytes, size_t len)
{
    atomic_init(&f->refs, 1);
    f->len = len;
    f->data = (uint8_t *)(f + 1) + LWS_PRE;
    memcpy(f->data, bytes, len);
    return f;
}

kj_frame *kj_frame_new(const void *bytes, size_t len)
{
    return frame_init(kj_malloc(sizeof(kj_frame) + LWS_PRE + len), bytes, len);
}

kj_frame *kj_frame_try_new(const void *bytes, size_t len)
{
    kj_frame *f = malloc(sizeof *f + LWS_PRE + len);
    return f ? frame_init(f, bytes, len) : NULL;
}

kj_frame *kj_frame_ref(kj_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void kj_frame_unref(kj_frame *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) free(f);
}

void kj_outq_push(kj_outq *q, kj_frame *f)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 4;
        kj_frame **items = kj_malloc(cap * sizeof *items);
        for (size_t i = 0; i < q->count; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->cap = cap;
        q->head = 0;
    }
    q->items[(q->head + q->count) % q->cap] = kj_frame_ref(f);
    q->count++;
    q->bytes += f->len;
}

kj_frame *kj_outq_peek(const kj_outq *q)
{
    return q->count ? q->items[q->head] : NULL;
}

void kj_outq_pop(kj_outq *q)
{
    if (!q->count) return;
    kj_frame *f = q->items[q->head];
    q->bytes -= f->len;
    q->head = (q->head + 1) % q->cap;
    q->count--;
    kj_frame_unref(f);
}

void kj_outq_clear(kj_outq *q)
{
    while (q->count)
        kj_outq_pop(q);
    free(q->items);
    memset(q, 0, sizeof *q);
}

_Static_assert(KJ_OUTQ_GATHER < 65536, "gathered frames have 7- or 16-bit lengths");

/* A server frame's header (FIN, binary, unmasked) for len < 65536 bytes: its
 * size. */
static size_t ws_head(uint8_t *h, size_t len)
{
    h[0] = 0x82;
    if (len < 126) {
        h[1] = (uint8_t)len;
        return 2;
    }
    h[1] = 126, h[2] = (uint8_t)(len >> 8), h[3] = (uint8_t)len;
    return 4;
}

/* The frames at q's head that fit in buf together, framed: their count (0 if
 * fewer than two fit) and in *len their bytes. */
static size_t gather(const kj_outq *q, uint8_t *buf, size_t cap, size_t *len)
{
    size_t n = 0, at = 0;
    *len = 0;
    if (q->count < 2) return 0;
    for (; n < q->count; n++) {
        const kj_frame *f = q->items[(q->head + n) % q->cap];
        if (at + 4 + f->len > cap) break;
        at += ws_head(buf + at, f->len);
        memcpy(buf + at, f->data, f->len);
        at += f->len;
    }
    *len = at;
    return n > 1 ? n : 0;
}

/* Several small frames (a pipelining producer's acks, a burst of updates) go
 * out framed here in one write — one send each would cost a system call per
 * frame. LWS_WRITE_HTTP writes the bytes as they are; lws keeps whatever the
 * socket does not take and sends it before the next writeable callback, so
 * frames never interleave with its own control frames. */
static int send_gathered(kj_outq *q, struct lws *wsi, uint8_t *buf, size_t len, size_t n)
{
    if (lws_write(wsi, buf, len, LWS_WRITE_HTTP) < (int)len) return -1;
    while (n--)
        kj_outq_pop(q);
    return 0;
}

int kj_outq_send(kj_outq *q, struct lws *wsi)
{
    static _Thread_local uint8_t buf[LWS_PRE + KJ_OUTQ_GATHER];
    /* Several writes while the socket takes them (a burst of updates would
     * otherwise wait one service-loop turn each), but never into a choked
     * socket: lws would buffer the rest on the heap. */
    for (int n = 0; n < KJ_OUTQ_BURST && q->count; n++) {
        if (n && lws_send_pipe_choked(wsi)) break;
        size_t len, frames = gather(q, buf + LWS_PRE, KJ_OUTQ_GATHER, &len);
        if (frames) {
            if (send_gathered(q, wsi, buf + LWS_PRE, len, frames)) return -1;
            continue;
        }
        kj_frame *f = kj_outq_peek(q);
        if (lws_write(wsi, f->data, f->len, LWS_WRITE_BINARY) < (int)f->len) return -1;
        kj_outq_pop(q);
    }
    if (q->count) lws_callback_on_writable(wsi);
    return 0;
}
