/* libFuzzer target: the stored-bucket decoder (kj_agg_decode and friends,
 * daemon/agg.c), which reads every bucket of the store at start. A bucket
 * that decodes encodes back to one that decodes equal. */
#include <stdlib.h>
#include <string.h>

#include "agg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kj_agg a = {0}, b = {0}, c = {0};
    int64_t max[3];
    kj_agg_decode_maxes(data, size, max);
    if (kj_agg_decode(&a, data, size) == KJ_OK) {
        size_t n = kj_agg_encoded_size(&a);
        uint8_t *buf = malloc(n ? n : 1);
        if (kj_agg_encode(&a, buf) != n) __builtin_trap();
        if (kj_agg_decode(&b, buf, n) != KJ_OK || !kj_agg_equal(&a, &b)) __builtin_trap();
        kj_agg_merge_encoded(&b, &c, data, size);
        free(buf);
    }
    kj_agg_reset(&a);
    kj_agg_reset(&b);
    kj_agg_reset(&c);
    return 0;
}
