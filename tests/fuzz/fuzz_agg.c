/* libFuzzer target: the stored-bucket decoder (kj_agg_decode and friends,
 * daemon/metrics/agg.c), which reads every bucket of the store at start. A bucket
 * that decodes encodes back to bytes that decode and encode the same. */
#include <stdlib.h>
#include <string.h>

#include "metrics/agg.h"

/* a's encoding, in a new buffer of *n bytes (the canonical form: equal
 * buckets encode equal). */
static uint8_t *encoded(const kj_agg *a, size_t *n)
{
    *n = kj_agg_encoded_size(a);
    uint8_t *buf = malloc(*n ? *n : 1);
    if (kj_agg_encode(a, buf) != *n) __builtin_trap();
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kj_agg a = {0}, b = {0}, c = {0};
    int64_t max[3];
    kj_agg_decode_maxes(data, size, max);
    if (kj_agg_decode(&a, data, size) == KJ_OK) {
        size_t n, m;
        uint8_t *buf = encoded(&a, &n);
        if (kj_agg_decode(&b, buf, n) != KJ_OK) __builtin_trap();
        uint8_t *again = encoded(&b, &m);
        if (m != n || memcmp(buf, again, n)) __builtin_trap();
        kj_agg_merge_encoded(&b, &c, data, size);
        free(buf);
        free(again);
    }
    kj_agg_reset(&a);
    kj_agg_reset(&b);
    kj_agg_reset(&c);
    return 0;
}
