/* kinerja — the one string hash of the hash tables (FNV-1a, 32 bits): short
 * keys, no hostile-collision concern beyond what a probe limit bounds. */
#ifndef KJ_HASH_H
#define KJ_HASH_H

#include <stddef.h>
#include <stdint.h>

#define KJ_HASH_SEED 2166136261u

static inline uint32_t kj_hash_bytes(uint32_t h, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static inline uint32_t kj_hash_str(uint32_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

#endif
