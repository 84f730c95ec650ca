/* kinerjad — the systemd notify protocol (sd_notify from libsystemd).
 *
 * Every call is a no-op when NOTIFY_SOCKET is not set, so the daemon behaves
 * the same outside systemd. */
#ifndef KJ_NOTIFY_H
#define KJ_NOTIFY_H

#include <stdint.h>

/* READY=1 with a STATUS line: the store is open and the port listens. */
void kj_notify_ready(const char *status);
/* RELOADING=1 before a reload; kj_notify_ready after it. */
void kj_notify_reloading(void);
void kj_notify_stopping(void);
/* WATCHDOG=1 and a fresh STATUS line. */
void kj_notify_watchdog(const char *status);
/* The interval at which to ping (half of WATCHDOG_USEC), 0 when the
 * watchdog is off. */
uint64_t kj_notify_watchdog_interval_us(void);

#endif
