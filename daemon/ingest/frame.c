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

int kj_outq_send(kj_outq *q, struct lws *wsi)
{
    /* Several frames while the socket takes them (a burst of small updates
     * would otherwise wait one service-loop turn each), but never into a
     * choked socket: lws would buffer the rest on the heap. */
    for (int n = 0; n < KJ_OUTQ_BURST && q->count; n++) {
        if (n && lws_send_pipe_choked(wsi)) break;
        kj_frame *f = kj_outq_peek(q);
        if (lws_write(wsi, f->data, f->len, LWS_WRITE_BINARY) < (int)f->len) return -1;
        kj_outq_pop(q);
    }
    if (q->count) lws_callback_on_writable(wsi);
    return 0;
}
