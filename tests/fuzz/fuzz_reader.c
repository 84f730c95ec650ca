/* libFuzzer target: the client's file reader (kinerja post --file): format
 * detection, NDJSON / JSON array / msgpack stream splitting and each
 * element's decoding. Every input ends (KJ_ERR_NOT_FOUND) after at most one
 * batch per element, and items keep their place (first counts up). */
#include <stdlib.h>

#include "fuzz_util.h"
#include "kinerja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("events.in", data, size);
    kj_reader *r = NULL;
    char msg[256];
    if (kj_reader_open(path, &r, msg, sizeof msg) != KJ_OK) return 0;
    uint64_t first, next = 0;
    kj_batch *b;
    size_t rounds = 0;
    kj_err err;
    while ((err = kj_reader_next(r, 7, &b, &first)) == KJ_OK) {
        if (first != next || b->n == 0 || b->n > 7) __builtin_trap();
        next += b->n;
        kj_batch_free(b);
        if (++rounds > size + 1) __builtin_trap(); /* no progress */
    }
    if (err != KJ_ERR_NOT_FOUND && err != KJ_ERR_NOMEM) __builtin_trap();
    kj_reader_free(r);
    return 0;
}
