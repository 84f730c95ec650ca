/* kinerjad — a Bloom filter in front of the id index (idfilter.h). */
#include "idfilter.h"

#include <stdlib.h>

#include "../proto/alloc.h"
#include "../proto/hash.h"

#define BLOCK_WORDS 8 /* 512 bits: one cache line */
#define PROBES 4
/* A family's mark: numbers have at most 18 digits, so no id has this one. */
#define FAMILY_MARK UINT64_MAX

struct kj_idfilter {
    uint64_t *words;
    size_t blocks;
    uint64_t added;
    bool families; /* any family added: otherwise a question needs not ask for one */
};

kj_idfilter *kj_idfilter_new(size_t bytes)
{
    size_t blocks = bytes / (BLOCK_WORDS * sizeof(uint64_t));
    if (!blocks) return NULL;
    kj_idfilter *f = kj_calloc(1, sizeof *f);
    /* calloc: the pages are the kernel's zero page until an id lands on them */
    f->words = kj_calloc(blocks, BLOCK_WORDS * sizeof(uint64_t));
    f->blocks = blocks;
    return f;
}

void kj_idfilter_free(kj_idfilter *f)
{
    if (!f) return;
    free(f->words);
    free(f);
}

/* MurmurHash3's finalizer: FNV-1a's low bits alone are poorly mixed. */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* The id's block, and its PROBES bits there in *bits (9 bits each: a word
 * of the block and a bit of the word). */
static uint64_t *block_of(const kj_idfilter *f, const uint8_t *fam, size_t flen, uint64_t num,
                          uint64_t *bits)
{
    uint64_t h = mix(kj_hash64_bytes(KJ_HASH64_SEED, fam, flen) ^ mix(num));
    *bits = mix(h ^ 0x9e3779b97f4a7c15ULL);
    /* the high half picks the block, by a multiply rather than a modulo */
    return f->words + (size_t)(((h >> 32) * (uint64_t)f->blocks) >> 32) * BLOCK_WORDS;
}

static void set(kj_idfilter *f, const uint8_t *fam, size_t flen, uint64_t num)
{
    uint64_t bits, *b = block_of(f, fam, flen, num, &bits);
    for (int i = 0; i < PROBES; i++, bits >>= 9)
        b[(bits >> 6) & (BLOCK_WORDS - 1)] |= 1ULL << (bits & 63);
    __atomic_store_n(&f->added, f->added + 1, __ATOMIC_RELAXED); /* /metrics reads it */
}

static bool test(const kj_idfilter *f, const uint8_t *fam, size_t flen, uint64_t num)
{
    uint64_t bits, *b = block_of(f, fam, flen, num, &bits);
    for (int i = 0; i < PROBES; i++, bits >>= 9)
        if (!(b[(bits >> 6) & (BLOCK_WORDS - 1)] >> (bits & 63) & 1)) return false;
    return true;
}

void kj_idfilter_add(kj_idfilter *f, const uint8_t *fam, size_t flen, uint64_t num)
{
    if (f) set(f, fam, flen, num);
}

void kj_idfilter_add_family(kj_idfilter *f, const uint8_t *fam, size_t flen)
{
    if (!f) return;
    set(f, fam, flen, FAMILY_MARK);
    f->families = true;
}

bool kj_idfilter_may_have(const kj_idfilter *f, const uint8_t *fam, size_t flen, uint64_t num)
{
    return !f || test(f, fam, flen, num) || (f->families && test(f, fam, flen, FAMILY_MARK));
}

uint64_t kj_idfilter_added(const kj_idfilter *f)
{
    return f ? __atomic_load_n(&f->added, __ATOMIC_RELAXED) : 0;
}

uint64_t kj_idfilter_capacity(const kj_idfilter *f)
{
    return f ? (uint64_t)f->blocks * BLOCK_WORDS * 64 / 10 : 0;
}

void kj_idfilter_take(kj_idfilter *f, kj_idfilter *from)
{
    free(f->words);
    f->words = from->words;
    f->blocks = from->blocks;
    f->families = from->families;
    __atomic_store_n(&f->added, kj_idfilter_added(from), __ATOMIC_RELAXED);
    free(from);
}
