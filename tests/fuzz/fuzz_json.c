/* libFuzzer target: JSON bodies (kj_json_decode_batch). Every accepted event
 * must survive the canonical round trip and convert back to JSON that decodes
 * to a valid event again; anything else traps.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iproto \
 *       tests/fuzz/fuzz_json.c proto/[a-z]*.c $(pkg-config --cflags --libs msgpack jansson) -lm */
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
    free(back.meta);
    msgpack_sbuffer_destroy(&sb);

    json_t *j = kj_json_from_event(ev);
    if (!j) __builtin_trap();
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) __builtin_trap();
    kj_batch *again = NULL;
    if (kj_json_decode_batch(text, strlen(text), &opts, &again, NULL, 0) != KJ_OK ||
        again->n != 1 || again->items[0].error[0])
        __builtin_trap();
    kj_batch_free(again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kj_batch *b = NULL;
    char msg[160];
    kj_err err = kj_json_decode_batch(data, size, &opts, &b, msg, sizeof msg);
    if (err == KJ_OK) {
        for (size_t i = 0; i < b->n; i++)
            if (!b->items[i].error[0]) check_event(&b->items[i].ev);
        kj_batch_free(b);
    } else if (b || !msg[0] || strchr(msg, '\n')) {
        __builtin_trap();
    }
    return 0;
}
