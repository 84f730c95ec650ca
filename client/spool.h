/* kinerja — the client's spool: events kept on disk while the daemon is away.
 *
 * Internal to libkinerja (the unit tests use it too). A spool is a directory
 * of files named by an increasing sequence number, "00000000000000000042.kjs",
 * each holding a batch of canonical msgpack events:
 *
 *     "KJSPOOL1"  count (u32, big-endian)  len (u32)  crc32 of the events (u32)
 *     len bytes: count events, one canonical msgpack map after another
 *
 * A file is written as "tmp.*", fsync'd, renamed into place and the directory
 * fsync'd: a crash leaves either the whole file or none (stale tmp files are
 * removed by the next writer). A file whose size, magic or checksum is wrong
 * (a disk fault, a hand-copied spool) is renamed "*.bad" and skipped: it is
 * never deleted, never sent, and never stops the files after it.
 *
 * A file is removed only after all its events are acknowledged, so a process
 * killed while flushing loses nothing: the next one sends the file again and
 * the daemon reports what arrived twice as duplicates.
 *
 * Every function except kj_spool_open/free/pending needs the lock (an
 * exclusive flock on DIR/lock), which orders the processes sharing a spool. */
#ifndef KJ_SPOOL_H
#define KJ_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "crc32.h" /* kj_crc32: the spool's checksum (fuzz_spool computes it too) */
#include "err.h"

#define KJ_SPOOL_HEADER 20

typedef struct kj_spool kj_spool;

typedef struct kj_spool_limits {
    uint64_t max_bytes; /* all files together */
    size_t file_events; /* events per file: a file fits in one frame */
    size_t file_bytes;  /* bytes of events per file */
} kj_spool_limits;

/* Open (creating it, mode 0700) the spool in dir. KJ_ERR_IO with a reason. */
kj_err kj_spool_open(const char *dir, const kj_spool_limits *lim, kj_spool **out, char *msg,
                     size_t msglen);
void kj_spool_free(kj_spool *s); /* releases the lock; NULL is a no-op */

/* Take / release the lock; taking it twice is harmless. Blocks while another
 * process holds it. */
kj_err kj_spool_lock(kj_spool *s, char *msg, size_t msglen);
void kj_spool_unlock(kj_spool *s);

/* Append count events (len bytes of canonical msgpack) durably: when this
 * returns KJ_OK they are on disk. Small batches are merged into the last file
 * (rewritten whole and renamed over it, so still all-or-nothing) to keep the
 * number of files down. KJ_ERR_FULL when the spool would pass max_bytes,
 * KJ_ERR_IO on a file-system failure; nothing is added then. */
kj_err kj_spool_append(kj_spool *s, const uint8_t *events, size_t len, uint32_t count, char *msg,
                       size_t msglen);

/* The sequence numbers of the files, oldest first: *seqs is the caller's
 * (free()). *bytes (may be NULL) is their total size. */
kj_err kj_spool_list(kj_spool *s, uint64_t **seqs, size_t *n, uint64_t *bytes, char *msg,
                     size_t msglen);

typedef struct kj_spool_file {
    uint64_t seq;
    uint32_t count;
    uint8_t *events; /* malloc'd, len bytes */
    size_t len;
} kj_spool_file;

/* Read and verify one file. KJ_ERR_DECODE: it was corrupt and has been set
 * aside as "*.bad" (msg says which and why); KJ_ERR_NOT_FOUND: it is gone;
 * KJ_ERR_NOMEM, KJ_ERR_IO. */
kj_err kj_spool_read(kj_spool *s, uint64_t seq, kj_spool_file *out, char *msg, size_t msglen);
void kj_spool_file_clear(kj_spool_file *f);

/* Remove a delivered file. A file already gone is not an error. */
kj_err kj_spool_remove(kj_spool *s, uint64_t seq, char *msg, size_t msglen);

/* Events in the spool, from the files' headers (no lock needed). */
kj_err kj_spool_pending(kj_spool *s, uint64_t *events, char *msg, size_t msglen);

#endif
