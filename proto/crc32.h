/* kinerja — CRC-32 (IEEE), as zlib computes it: the checksum of the client's
 * spool records and of the daemon's commit log records. */
#ifndef KJ_CRC32_H
#define KJ_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* crc carried on over buf (0 to start). Thread-safe. */
uint32_t kj_crc32(uint32_t crc, const void *buf, size_t len);

#endif
