/* kinerja — walking msgpack bytes (mpwalk.h). */
#include "mpwalk.h"

#include <stdbool.h>

/* Read a big-endian length of w bytes at p[*off]; false when it does not fit. */
static bool read_len(const uint8_t *p, size_t len, size_t *off, size_t w, uint64_t *out)
{
    if (len - *off < w) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < w; i++)
        v = (v << 8) | p[*off + i];
    *off += w;
    *out = v;
    return true;
}

/* The shape of a msgpack value, from its first byte: `width` bytes of length
 * follow (0: the length is `count`, inside the byte); the length counts
 * payload bytes (mult 0) or child values (mult 1 per element, 2 per pair);
 * `skip` more payload bytes follow in any case (numbers, an ext's type). */
typedef struct shape {
    uint8_t width, mult, skip, count;
} shape;

static bool shape_of(uint8_t c, shape *s)
{
    *s = (shape){0};
    if (c <= 0x7f || c >= 0xe0) return true; /* fixint */
    if (c <= 0x9f) {                         /* fixmap, fixarray */
        s->mult = c <= 0x8f ? 2 : 1;
        s->count = c & 0x0f;
        return true;
    }
    if (c <= 0xbf) { /* fixstr */
        s->count = c & 0x1f;
        return true;
    }
    switch (c) {
    case 0xc0:
    case 0xc2:
    case 0xc3: return true; /* nil, false, true */
    case 0xc4:
    case 0xd9: s->width = 1; return true; /* bin 8, str 8 */
    case 0xc5:
    case 0xda: s->width = 2; return true;
    case 0xc6:
    case 0xdb: s->width = 4; return true;
    case 0xc7: *s = (shape){.width = 1, .skip = 1}; return true; /* ext 8 */
    case 0xc8: *s = (shape){.width = 2, .skip = 1}; return true;
    case 0xc9: *s = (shape){.width = 4, .skip = 1}; return true;
    case 0xcc:
    case 0xd0: s->skip = 1; return true; /* uint 8, int 8 */
    case 0xcd:
    case 0xd1: s->skip = 2; return true;
    case 0xca:
    case 0xce:
    case 0xd2: s->skip = 4; return true; /* float 32, (u)int 32 */
    case 0xcb:
    case 0xcf:
    case 0xd3: s->skip = 8; return true;
    case 0xd4: s->skip = 2; return true; /* fixext 1: type + 1 */
    case 0xd5: s->skip = 3; return true;
    case 0xd6: s->skip = 5; return true;
    case 0xd7: s->skip = 9; return true;
    case 0xd8: s->skip = 17; return true;
    case 0xdc: *s = (shape){.width = 2, .mult = 1}; return true; /* array 16 */
    case 0xdd: *s = (shape){.width = 4, .mult = 1}; return true;
    case 0xde: *s = (shape){.width = 2, .mult = 2}; return true; /* map 16 */
    case 0xdf: *s = (shape){.width = 4, .mult = 2}; return true;
    default: return false; /* 0xc1, never used */
    }
}

size_t kj_msgpack_walk(const uint8_t *p, size_t len, size_t *bad)
{
    size_t off = 0;
    uint64_t pending = 1; /* values announced and not yet read */
    while (pending > 0) {
        shape s;
        if (off >= len) goto truncated;
        if (!shape_of(p[off], &s)) {
            if (bad) *bad = off;
            return 0;
        }
        off++;
        uint64_t n = s.count;
        if (s.width && !read_len(p, len, &off, s.width, &n)) goto truncated;
        uint64_t skip = s.skip + (s.mult ? 0 : n);
        pending = pending - 1 + n * s.mult;
        /* every announced value takes at least one byte: a lie stops here */
        if (skip > len - off || pending > len - off) goto truncated;
        off += skip;
    }
    return off;

truncated:
    if (bad) *bad = len;
    return 0;
}

size_t kj_msgpack_skip(const uint8_t *p, size_t len)
{
    return kj_msgpack_walk(p, len, NULL);
}

/* A container header whose children count mult each (1 array, 2 map). */
static size_t container_head(const uint8_t *p, size_t len, uint8_t mult, uint64_t *count)
{
    shape s;
    if (len == 0 || !shape_of(p[0], &s) || s.mult != mult) return 0;
    size_t off = 1;
    uint64_t n = s.count;
    if (s.width && !read_len(p, len, &off, s.width, &n)) return 0;
    *count = n;
    return off;
}

size_t kj_msgpack_array_head(const uint8_t *p, size_t len, uint64_t *count)
{
    return container_head(p, len, 1, count);
}

size_t kj_msgpack_map_head(const uint8_t *p, size_t len, uint64_t *count)
{
    return container_head(p, len, 2, count);
}
