/* kinerjad — the ids of the events stored since the last merge (idset.h).
 *
 * Entries live in insertion order (keys and values in one growing arena), so
 * that the pending ones are the tail; an open-addressing table of entry
 * numbers finds a key. A rollback truncates the tail and rebuilds the table:
 * it follows a failed commit only (a full disk), never the common path. A
 * merge's step drops the oldest entries: they leave the table one by one and
 * the arena keeps their place until the dead outnumber the live, so that a
 * step costs what it drops, not what the set holds. */
#include "idset.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../proto/alloc.h"
#include "../proto/hash.h"

struct entry {
    size_t off; /* in the arena: the value, then the key */
    uint32_t len, hash;
};

struct kj_idset {
    pthread_mutex_t lock;
    uint8_t *arena;
    size_t used, arena_cap;
    struct entry *ents;
    size_t front;                  /* ents[0..front) were dropped */
    size_t n, ents_cap, committed; /* ents[front..committed) are committed */
    uint32_t *slots;               /* entry number + 1; 0: empty */
    size_t n_slots;                /* a power of two, at least twice n */
    uint32_t seed;                 /* random: ids chosen to collide cannot be chosen in advance */
};

kj_idset *kj_idset_new(void)
{
    kj_idset *set = kj_calloc(1, sizeof *set);
    pthread_mutex_init(&set->lock, NULL);
    if (getrandom(&set->seed, sizeof set->seed, 0) != (ssize_t)sizeof set->seed)
        set->seed = 0; /* no entropy: a plain hash still works */
    set->seed ^= KJ_HASH_SEED;
    set->n_slots = 1024;
    set->slots = kj_calloc(set->n_slots, sizeof *set->slots);
    return set;
}

void kj_idset_free(kj_idset *set)
{
    if (!set) return;
    pthread_mutex_destroy(&set->lock);
    free(set->arena);
    free(set->ents);
    free(set->slots);
    free(set);
}

static const uint8_t *key_of(const kj_idset *set, const struct entry *e)
{
    return set->arena + e->off + KJ_IDSET_VAL;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const kj_idset *set, const void *key, size_t len, uint32_t hash)
{
    size_t mask = set->n_slots - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        uint32_t s = set->slots[i];
        if (!s) return i;
        const struct entry *e = &set->ents[s - 1];
        if (e->hash == hash && e->len == len && !memcmp(key_of(set, e), key, len)) return i;
    }
}

static void index_all(kj_idset *set)
{
    memset(set->slots, 0, set->n_slots * sizeof *set->slots);
    for (size_t i = set->front; i < set->n; i++) {
        const struct entry *e = &set->ents[i];
        set->slots[find_slot(set, key_of(set, e), e->len, e->hash)] = (uint32_t)(i + 1);
    }
}

/* The entry number + 1 of key, 0 when absent. */
static uint32_t lookup(const kj_idset *set, const void *key, size_t len)
{
    if (set->n == set->front) return 0; /* most of the time with counted ids: no hash */
    return set->slots[find_slot(set, key, len, kj_hash_bytes(set->seed, key, len))];
}

bool kj_idset_has(const kj_idset *set, const void *key, size_t len)
{
    return lookup(set, key, len) != 0; /* no lock: only this thread changes the set */
}

bool kj_idset_has_committed(kj_idset *set, const void *key, size_t len)
{
    pthread_mutex_lock(&set->lock);
    uint32_t s = lookup(set, key, len);
    bool has = s && s - 1 < set->committed;
    pthread_mutex_unlock(&set->lock);
    return has;
}

static void make_room(kj_idset *set, size_t bytes)
{
    if (set->used + bytes > set->arena_cap) {
        set->arena_cap = set->arena_cap ? set->arena_cap * 2 : 64 * 1024;
        if (set->arena_cap < set->used + bytes) set->arena_cap = set->used + bytes;
        set->arena = kj_realloc(set->arena, set->arena_cap);
    }
    if (set->n == set->ents_cap) {
        set->ents_cap = set->ents_cap ? set->ents_cap * 2 : 1024;
        set->ents = kj_realloc(set->ents, set->ents_cap * sizeof *set->ents);
    }
    if (2 * (set->n + 1) > set->n_slots) {
        set->n_slots *= 2;
        set->slots = kj_realloc(set->slots, set->n_slots * sizeof *set->slots);
        index_all(set);
    }
}

void kj_idset_add(kj_idset *set, const void *key, size_t len, const uint8_t val[KJ_IDSET_VAL])
{
    uint32_t hash = kj_hash_bytes(set->seed, key, len);
    pthread_mutex_lock(&set->lock);
    make_room(set, KJ_IDSET_VAL + len);
    struct entry *e = &set->ents[set->n];
    *e = (struct entry){set->used, (uint32_t)len, hash};
    memcpy(set->arena + set->used, val, KJ_IDSET_VAL);
    memcpy(set->arena + set->used + KJ_IDSET_VAL, key, len);
    set->used += KJ_IDSET_VAL + len;
    set->slots[find_slot(set, key, len, hash)] = (uint32_t)++set->n;
    pthread_mutex_unlock(&set->lock);
}

void kj_idset_commit(kj_idset *set)
{
    pthread_mutex_lock(&set->lock);
    set->committed = set->n;
    pthread_mutex_unlock(&set->lock);
}

void kj_idset_rollback(kj_idset *set)
{
    pthread_mutex_lock(&set->lock);
    if (set->n > set->committed) {
        set->used = set->ents[set->committed].off;
        set->n = set->committed;
        index_all(set);
    }
    pthread_mutex_unlock(&set->lock);
}

size_t kj_idset_count(kj_idset *set)
{
    pthread_mutex_lock(&set->lock);
    size_t n = set->n - set->front;
    pthread_mutex_unlock(&set->lock);
    return n;
}

size_t kj_idset_committed(kj_idset *set)
{
    pthread_mutex_lock(&set->lock);
    size_t n = set->committed - set->front;
    pthread_mutex_unlock(&set->lock);
    return n;
}

/* Whether slot h lies in the cyclic range (i, j]. */
static bool between(size_t h, size_t i, size_t j)
{
    return i < j ? i < h && h <= j : i < h || h <= j;
}

/* Entry number num + 1 out of the table: the entries after it in its probe
 * run move back where their own probe would find them (no tombstones). */
static void unindex(kj_idset *set, size_t num)
{
    size_t mask = set->n_slots - 1, i = set->ents[num].hash & mask;
    while (set->slots[i] != num + 1)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; set->slots[j]; j = (j + 1) & mask) {
        size_t home = set->ents[set->slots[j] - 1].hash & mask;
        if (!between(home, i, j)) {
            set->slots[i] = set->slots[j];
            i = j;
        }
    }
    set->slots[i] = 0;
}

/* The live entries to the arena's start, once the dropped outnumber them. */
static void compact(kj_idset *set)
{
    size_t off = set->front < set->n ? set->ents[set->front].off : set->used;
    memmove(set->arena, set->arena + off, set->used - off);
    set->used -= off;
    for (size_t i = set->front; i < set->n; i++) {
        set->ents[i - set->front] = set->ents[i];
        set->ents[i - set->front].off -= off;
    }
    set->n -= set->front;
    set->committed -= set->front;
    set->front = 0;
    index_all(set);
}

void kj_idset_drop_front(kj_idset *set, size_t k)
{
    pthread_mutex_lock(&set->lock);
    size_t end = set->front + k < set->committed ? set->front + k : set->committed;
    for (; set->front < end; set->front++)
        unindex(set, set->front);
    if (set->front >= set->n - set->front) compact(set);
    pthread_mutex_unlock(&set->lock);
}

void kj_idset_clear(kj_idset *set)
{
    pthread_mutex_lock(&set->lock);
    set->n = set->committed = set->used = set->front = 0;
    memset(set->slots, 0, set->n_slots * sizeof *set->slots);
    pthread_mutex_unlock(&set->lock);
}

/* What a sort compares: 8 bytes of the key past the prefix that all the
 * sorted keys share, big-endian and zero-padded (so that the integers order
 * as memcmp orders the keys), and the entry; most comparisons end at head,
 * in the array, without reading the key in the arena. */
struct sort_item {
    uint64_t head;
    const struct entry *e;
};

struct sort_ctx {
    const kj_idset *set;
    size_t skip; /* the shared prefix */
};

static int item_cmp(const void *a, const void *b, void *ctx)
{
    const struct sort_item *x = a, *y = b;
    if (x->head != y->head) return x->head < y->head ? -1 : 1;
    const struct sort_ctx *c = ctx;
    size_t xl = x->e->len - c->skip, yl = y->e->len - c->skip, n = xl < yl ? xl : yl;
    int r = memcmp(key_of(c->set, x->e) + c->skip, key_of(c->set, y->e) + c->skip, n);
    return r ? r : (xl > yl) - (xl < yl);
}

/* By head, a byte at a time from the last (a stable radix sort: no call a
 * comparison), then the runs of equal heads by their keys' rest. */
static void sort_items(struct sort_item *items, size_t n, struct sort_ctx *ctx)
{
    struct sort_item *tmp = kj_malloc((n ? n : 1) * sizeof *tmp), *from = items, *to = tmp;
    for (int shift = 0; shift < 64; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[(from[i].head >> shift & 0xff) + 1]++;
        if (n && count[(from[0].head >> shift & 0xff) + 1] == n) continue; /* all alike */
        for (int d = 0; d < 256; d++)
            count[d + 1] += count[d];
        for (size_t i = 0; i < n; i++)
            to[count[from[i].head >> shift & 0xff]++] = from[i];
        struct sort_item *t = from;
        from = to, to = t;
    }
    if (from != items) memcpy(items, from, n * sizeof *items);
    free(tmp);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && items[j].head == items[i].head; j++) {
        }
        if (j - i > 1) qsort_r(items + i, j - i, sizeof *items, item_cmp, ctx);
    }
}

/* The longest prefix that the n entries from the front share. */
static size_t shared_prefix(const kj_idset *set, size_t n)
{
    const struct entry *first = &set->ents[set->front];
    const uint8_t *k0 = key_of(set, first);
    size_t skip = first->len;
    for (size_t i = 1; i < n && skip; i++) {
        const struct entry *e = &set->ents[set->front + i];
        const uint8_t *k = key_of(set, e);
        size_t j = 0, m = e->len < skip ? e->len : skip;
        while (j < m && k[j] == k0[j])
            j++;
        skip = j;
    }
    return skip;
}

size_t kj_idset_sorted(const kj_idset *set, size_t n, kj_idset_entry **out)
{
    n = n < set->n - set->front ? n : set->n - set->front;
    struct sort_ctx ctx = {set, n ? shared_prefix(set, n) : 0};
    struct sort_item *items = kj_malloc((n ? n : 1) * sizeof *items);
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &set->ents[set->front + i];
        const uint8_t *k = key_of(set, e) + ctx.skip;
        uint64_t head = 0;
        for (size_t j = 0; j < 8; j++)
            head = head << 8 | (j < e->len - ctx.skip ? k[j] : 0);
        items[i] = (struct sort_item){head, e};
    }
    sort_items(items, n, &ctx);
    kj_idset_entry *list = kj_malloc((n ? n : 1) * sizeof *list);
    for (size_t i = 0; i < n; i++)
        list[i] = (kj_idset_entry){key_of(set, items[i].e), set->arena + items[i].e->off,
                                   items[i].e->len};
    free(items);
    *out = list;
    return n;
}

void kj_idset_sorted_copy(const kj_idset *set, size_t n, kj_idset_entry **out, uint8_t **data)
{
    kj_idset_entry *list;
    n = kj_idset_sorted(set, n, &list);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += KJ_IDSET_VAL + list[i].len;
    uint8_t *p = *data = kj_malloc(total ? total : 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, list[i].val, KJ_IDSET_VAL);
        memcpy(p + KJ_IDSET_VAL, list[i].key, list[i].len);
        list[i].val = p, list[i].key = p + KJ_IDSET_VAL;
        p += KJ_IDSET_VAL + list[i].len;
    }
    *out = list;
}
