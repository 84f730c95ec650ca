/* kinerjad — local calendar days in a named time zone, read from the TZ
 * database (TZif files under /usr/share/zoneinfo, or $TZDIR).
 *
 * The metrics engine needs "today from local midnight" in the configured zone
 * while the process itself keeps whatever TZ it has: setting TZ with setenv is
 * not thread-safe and would change every other module's notion of local time.
 * So the zone is read once into a kj_tz and queried without global state.
 * Times beyond the file's last transition follow its POSIX TZ footer (fixed
 * offsets and the M-month DST rules that current zones use).
 *
 * A kj_tz is immutable after kj_tz_load: any thread may query it. */
#ifndef KJ_TZCLOCK_H
#define KJ_TZCLOCK_H

#include <stdint.h>

#include "../proto/clock.h"
#include "../proto/err.h"

typedef struct kj_tz kj_tz;

/* Load zone name ("Asia/Jakarta", "UTC"). KJ_ERR_CONFIG when the name is not a
 * zone of the database (or tries to leave it with ".."), KJ_ERR_DECODE when
 * the file is not TZif. */
kj_err kj_tz_load(const char *name, kj_tz **out);
void kj_tz_free(kj_tz *tz);

/* Local time minus UTC, in ms, at the instant utc_ms. */
int64_t kj_tz_offset_ms(const kj_tz *tz, int64_t utc_ms);

/* The local calendar day holding utc_ms, as days since 1970-01-01 (local). */
int32_t kj_tz_day(const kj_tz *tz, int64_t utc_ms);

/* The local wall clock at utc_ms: returns the weekday (0 Sunday .. 6
 * Saturday) and sets *ms_of_day to the ms since local 00:00 as a clock on the
 * wall shows it (08:00 is 8 h, on a DST day too). For the simulated office's
 * hours (kinerja simulate). */
int kj_tz_local(const kj_tz *tz, int64_t utc_ms, int64_t *ms_of_day);

/* The first instant (UTC ms) of local day `day`: local midnight, or the end of
 * a DST gap when midnight does not exist that day. */
int64_t kj_tz_day_start(const kj_tz *tz, int32_t day);

/* The proleptic Gregorian calendar, without a zone: local day numbers (days
 * since 1970-01-01) to and from year, month 1-12 and day 1-31. For calendar
 * periods (rapor.c). */
int32_t kj_tz_days_from_civil(int y, int m, int d);
void kj_tz_civil_from_days(int32_t day, int *y, int *m, int *d);

#endif
