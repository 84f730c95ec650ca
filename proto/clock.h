/* kinerja — units of time in milliseconds and the monotonic clock.
 *
 * The one definition of the day, hour and minute in ms for the daemon, the
 * client, the tests and the benches; and the monotonic clock that deadlines,
 * back-off and timings use (never the wall clock, which jumps). Depends on
 * nothing of ours; every function may be called from any thread. */
#ifndef KJ_CLOCK_H
#define KJ_CLOCK_H

#include <stdint.h>
#include <time.h>

#define KJ_SEC_MS 1000LL
#define KJ_MINUTE_MS (60 * KJ_SEC_MS)
#define KJ_HOUR_MS (60 * KJ_MINUTE_MS)
#define KJ_DAY_MS (24 * KJ_HOUR_MS)

/* Milliseconds and microseconds of CLOCK_MONOTONIC: only differences mean
 * anything. */
int64_t kj_mono_ms(void);
int64_t kj_mono_us(void);

/* CLOCK_REALTIME us from now: the deadline pthread's timed waits take
 * (they cannot take the monotonic clock without a condattr). */
struct timespec kj_realtime_after_us(int64_t us);

/* a / b rounded towards minus infinity (b != 0): the bucket, day or minute
 * of a time before 1970 is the one it starts in, as for any other time. */
int64_t kj_floor_div(int64_t a, int64_t b);

#endif
