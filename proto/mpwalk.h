/* kinerja — walking msgpack bytes without decoding them.
 *
 * The one byte walker of the project: the msgpack codec checks an untrusted
 * body with it before msgpack-c allocates anything (codec_msgpack.c), the
 * direct reader of plain bodies takes its container headers (mpread.c), and
 * the client cuts packets, spool files and input files into events with it
 * (client/packet.c, client/reader.c). It reads nothing but the bytes given,
 * allocates nothing and needs no stack: a count of the values still announced
 * replaces recursion, so any nesting depth costs the same. Pure functions,
 * any thread. */
#ifndef KJ_MPWALK_H
#define KJ_MPWALK_H

#include <stddef.h>
#include <stdint.h>

/* The length in bytes of the one msgpack value that starts at p, or 0 when it
 * is not there whole: truncated, a length or a count beyond the bytes that
 * follow, or the reserved byte 0xc1. On 0, *bad (when not NULL) gets the
 * offset of the reserved byte, or len when the value was cut short. */
size_t kj_msgpack_walk(const uint8_t *p, size_t len, size_t *bad);

/* kj_msgpack_walk without the reason. */
size_t kj_msgpack_skip(const uint8_t *p, size_t len);

/* When p starts an array header (fixarray, array 16, array 32) that fits in
 * len: its element count into *count and the header's length in bytes;
 * otherwise 0 and *count untouched. */
size_t kj_msgpack_array_head(const uint8_t *p, size_t len, uint64_t *count);

/* The same for a map header (fixmap, map 16, map 32): its number of pairs. */
size_t kj_msgpack_map_head(const uint8_t *p, size_t len, uint64_t *count);

#endif
