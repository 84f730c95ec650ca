/* kinerjad — who may do what: bearer tokens (their SHA-256 and the
 * constant-time match), roles, units, and the directory check of
 * strict_directory. Called on the service thread by HTTP and the WebSocket
 * protocols; reads an immutable kj_config. */
#ifndef KJ_ACCESS_H
#define KJ_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "../proto/event.h"
#include "config.h"

/* For a batch about to be stored by tok (NULL when auth is off): returns false
 * and writes a one-line reason when tok may not post for one of its units (the
 * whole request is refused: 403); otherwise marks events that strict_directory
 * refuses with their own error and returns true. */
bool kj_access_check_batch(const kj_config *cfg, const kj_token *tok, kj_batch *b, char *msg,
                           size_t msglen);

/* True when tok (NULL: auth off) may post events of type t: an ingest token
 * anything but the supervisor's types (feedback, assessment, ack), a
 * supervisor only those, an admin everything, a viewer nothing. */
bool kj_access_may_post_type(const kj_token *tok, kj_event_type t);

/* The token whose sha256 is the digest of secret (len bytes), or NULL. Every
 * token is compared in full, in constant time: how long it takes tells nothing
 * about how close a guess came. */
const kj_token *kj_access_token(const kj_config *cfg, const char *secret, size_t len);

/* The token of an "Authorization: Bearer T" value, or NULL. */
const kj_token *kj_access_bearer(const kj_config *cfg, const char *header, size_t len);

#endif
