/* kinerja — internal to client/: helpers shared by the library's files. */
#ifndef KJ_LIB_SHARED_H
#define KJ_LIB_SHARED_H

#include <stdarg.h>
#include <stdio.h>

/* Write a one-line message into a caller's buffer (msg may be NULL). */
static inline __attribute__((format(printf, 3, 4))) void kj_msgf(char *msg, size_t msglen,
                                                                 const char *fmt, ...)
{
    if (!msg || !msglen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

/* Monotonic milliseconds, for deadlines and back-off. */
#include "clock.h"

/* Validation options for the client side: every rule of SPEC §3 but the
 * clock, which is the daemon's to judge (its clock, its max_event_age). */
#include "event.h"
static inline kj_validate_opts kj_client_validate_opts(size_t max_events)
{
    kj_validate_opts o = kj_validate_defaults();
    o.max_age_ms = INT64_MAX;
    o.max_skew_ms = INT64_MAX;
    o.max_events = max_events;
    return o;
}

/* What client/live.c borrows from a kj_client (client.c). */
typedef struct kj_client kj_client;
struct kj_net;
struct kj_net *kj_client_net(kj_client *c);
int64_t kj_client_timeout_ms(const kj_client *c);
int64_t kj_client_backoff_base_ms(const kj_client *c);
/* The delay before the next attempt after `failures` failed ones: doubling
 * from backoff_base_ms up to backoff_max_ms, with equal jitter. */
int64_t kj_client_backoff_ms(const kj_client *c, unsigned failures);
/* Sets the message kj_client_errmsg returns. */
void kj_client_set_errmsg(kj_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kj_sleep_ms(int64_t ms);

#endif
