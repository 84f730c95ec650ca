/* kinerja — the string hashes (FNV-1a): 32 bits for the hash tables (short
 * keys, no hostile-collision concern beyond what a probe limit bounds), 64
 * bits where a hash is kept (an alert's id): its values must never change. */
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

#define KJ_HASH64_SEED 0xcbf29ce484222325ULL

static inline uint64_t kj_hash64_bytes(uint64_t h, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

#endif
