/* kinerja — internal to proto/: a body of plain events read straight from its
 * msgpack bytes.
 *
 * The usual body (an array of maps whose values are numbers, strings, nil,
 * booleans, and arrays of those) is fed to the event builder as it is read:
 * no prescan, no msgpack-c objects. Anything else (a nested map such as
 * `meta`, a non-string key, a map of more than 32 keys, a body that is not
 * valid msgpack or holds more events than allowed) is left to the general path
 * of codec_msgpack.c, which gives every error its message; so this reader only
 * ever answers with events, never with an error of its own. */
#ifndef KJ_MPREAD_H
#define KJ_MPREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "event.h"

/* True with *out set when the body is plain as above; false (nothing
 * allocated) when the general path must decode it. opts as for
 * kj_msgpack_decode_batch, never NULL. */
bool kj_mpread_batch(const void *buf, size_t len, const kj_validate_opts *opts, kj_batch **out);

#endif
