/* libFuzzer target: msgpack bodies (kj_msgpack_decode_batch) and raw-log
 * records (kj_msgpack_unpack_event). Every accepted event must survive the
 * canonical round trip and convert to JSON, and the bodies that the direct
 * reader takes (proto/mpread.c) must decode the same through msgpack-c's
 * objects; anything else traps.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iproto \
 *       tests/fuzz/fuzz_msgpack.c proto/[a-z]*.c $(pkg-config --cflags --libs msgpack jansson) -lm
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* A fixed clock, so that a finding replays the same way. */
static const kj_validate_opts opts = {
    .now_ms = 1700000000000LL,
    .max_age_ms = 35LL * 86400000,
    .max_skew_ms = 300000,
    .max_events = KJ_BATCH_MAX,
};

static void check_event(const kj_event *ev)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    kj_msgpack_pack_event(&pk, ev);
    kj_event back;
    if (kj_msgpack_unpack_event(sb.data, sb.size, &back) != KJ_OK) __builtin_trap();
    if (strcmp(back.id, ev->id) != 0 || back.ts != ev->ts || back.type != ev->type ||
        back.meta_len != ev->meta_len ||
        (ev->meta_len && memcmp(back.meta, ev->meta, ev->meta_len)))
        __builtin_trap();
    free(back.meta);
    msgpack_sbuffer_destroy(&sb);

    json_t *j = kj_json_from_event(ev);
    if (!j) __builtin_trap();
    json_decref(j);
}

/* The general path's answer for a body decoded as b (KJ_OK). */
static void check_general(const uint8_t *data, size_t size, const kj_batch *b)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    kj_batch *g = NULL;
    if (kj_msgpack_unpack_body(data, size, &u, NULL, 0) != KJ_OK ||
        kj_msgpack_decode_batch_obj(&u.data, &opts, &g, NULL, 0) != KJ_OK || g->n != b->n ||
        g->single != b->single)
        __builtin_trap();
    for (size_t i = 0; i < b->n; i++) {
        const kj_batch_item *x = &g->items[i], *y = &b->items[i];
        if (strcmp(x->error, y->error) || strcmp(x->ev.id, y->ev.id)) __builtin_trap();
        if (x->error[0]) continue;
        static uint8_t ex[KJ_EVENT_PACKED_MAX], ey[KJ_EVENT_PACKED_MAX];
        size_t nx = kj_msgpack_event_bytes(&x->ev, ex), ny = kj_msgpack_event_bytes(&y->ev, ey);
        if (nx != ny || memcmp(ex, ey, nx)) __builtin_trap(); /* every value the same */
    }
    kj_batch_free(g);
    msgpack_unpacked_destroy(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kj_batch *b = NULL;
    char msg[160];
    kj_err err = kj_msgpack_decode_batch(data, size, &opts, &b, msg, sizeof msg);
    if (err == KJ_OK) {
        check_general(data, size, b);
        for (size_t i = 0; i < b->n; i++)
            if (!b->items[i].error[0]) check_event(&b->items[i].ev);
        kj_batch_free(b);
    } else if (b || !msg[0] || strchr(msg, '\n')) {
        __builtin_trap();
    }

    kj_event ev;
    if (kj_msgpack_unpack_event(data, size, &ev) == KJ_OK) {
        check_event(&ev);
        free(ev.meta);
    }

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (kj_msgpack_unpack_body(data, size, &u, NULL, 0) == KJ_OK) {
        json_t *j = kj_json_from_msgpack(&u.data);
        json_decref(j);
    }
    msgpack_unpacked_destroy(&u);
    return 0;
}
