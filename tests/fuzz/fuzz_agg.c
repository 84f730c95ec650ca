/* libFuzzer target: the stored-bucket decoder (kj_agg_decode and friends,
 * daemon/metrics/agg.c), which reads every bucket of the store at start. A bucket
 * that decodes encodes back to bytes that decode and encode the same. And the
 * kept encoder of open buckets (kj_agg_encode_kept) writes the plain encoder's
 * bytes through adds, subtractions, merges and copies the input chooses. */
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

/* k's kept encoding is its plain one. */
static void same(kj_agg *k)
{
    static uint8_t plain[KJ_AGG_ENCODED_MAX], kept[KJ_AGG_ENCODED_MAX];
    size_t n = kj_agg_encode(k, plain);
    if (kj_agg_encode_kept(k, kept) != n || memcmp(plain, kept, n)) __builtin_trap();
}

/* A bucket grown by service events read from the input, three bytes each:
 * waits up to ~1 s and durations up to ~4 s, so that its hists turn dense
 * (kept lists are made for dense hists of 64 cells or more). Some events also
 * go into r, which is taken away again now and then; `decoded` (when the input
 * was a bucket) is merged in and taken away at the end. */
static void check_kept(const uint8_t *data, size_t size, const kj_agg *decoded)
{
    kj_agg k = {0}, r = {0}, copy = {0};
    kj_event ev = {.type = KJ_EV_SERVICE};
    for (size_t i = 0; i + 2 < size; i += 3) {
        ev.wait_ms = (int64_t)data[i] << 2 | (data[i + 1] & 3);
        ev.service_ms = (int64_t)data[i + 2] << 4 | data[i + 1] >> 4;
        kj_agg_add_event(&k, &ev, 0);
        if (data[i + 2] & 0x80) kj_agg_add_event(&r, &ev, 0);
        if ((data[i] & 15) == 0) {
            kj_agg_sub(&k, &r);
            kj_agg_reset(&r);
        }
        if (data[i + 1] & 0x40) same(&k);
    }
    same(&k);
    kj_agg_copy(&copy, &k); /* never shares k's kept lists */
    same(&copy);
    if (decoded) {
        kj_agg_merge(&k, decoded);
        same(&k);
        kj_agg_sub(&k, decoded);
        same(&k);
    }
    same(&copy);
    kj_agg_reset(&k);
    kj_agg_reset(&r);
    kj_agg_reset(&copy);
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
    check_kept(data, size, kj_agg_empty(&a) ? NULL : &a);
    kj_agg_reset(&a);
    kj_agg_reset(&b);
    kj_agg_reset(&c);
    return 0;
}
