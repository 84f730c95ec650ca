/* kinerja simulate — the day of a kecamatan service office (pure, no I/O):
 * its service hours, how citizens arrive by local time, how long a service
 * takes, how citizens rate it, and a whole day of one unit simulated fast.
 *
 * Used by client/cmd_simulate.c (the demo and its backfill) and by the unit
 * test that checks the day's shape. Times are local: ms since local midnight
 * and a weekday (0 Sunday .. 6 Saturday) in the configured timezone. Not part
 * of the public kinerja.h. Thread-safe (no state). */
#ifndef KJ_OFFICE_H
#define KJ_OFFICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KJ_OFFICE_SERVICE_MEDIAN_MS 330000.0 /* a service at the loket: 5.5 min */
#define KJ_OFFICE_SERVICE_SIGMA 0.3
#define KJ_OFFICE_PEAK_PER_HOUR 10.0 /* bounds kj_office_arrivals_per_hour */
#define KJ_OFFICE_AT_THE_DOOR 6      /* per counter, waiting when the doors open */
#define KJ_OFFICE_WEAK_ELEMENT 7     /* U8, complaint handling: the one that pulls down */

/* True while the counters serve: Mon-Thu 08:00-16:00 without the lunch hour
 * 12:00-13:00; Fri 08:00-16:30 without 11:30-13:00 (Friday prayer and lunch). */
bool kj_office_open(int weekday, int64_t ms_of_day);

/* Citizens arriving per counter and hour at that time (0 while closed): a
 * morning rush (09:00-10:00) close to what a counter serves, on top of the
 * KJ_OFFICE_AT_THE_DOOR per counter who wait for the doors to open; a calmer
 * afternoon. At most KJ_OFFICE_PEAK_PER_HOUR. */
double kj_office_arrivals_per_hour(int weekday, int64_t ms_of_day);

/* The mean level (1-4) a citizen gives IKM element i (0..8) after a wait of
 * wait_ms: mostly "baik", the weak element lower, a long wait lower still. */
double kj_office_element_mean(int i, int64_t wait_ms);

/* A day of one unit with n_counters counters and one queue (numbered tickets),
 * from a seed. */
typedef struct kj_office_day {
    size_t arrivals, served;
    size_t outside_hours;                /* arrivals while closed: 0 by construction, checked */
    int64_t first_arrival, last_arrival; /* ms of day */
    int64_t wait_p90_ms, wait_max_ms;
    int64_t peak_hour_p90_ms; /* the hour with the highest p90 wait */
    int peak_hour;            /* its local hour */
    double ikm;               /* 25 x mean of the 9 element averages (SPEC §4) */
} kj_office_day;

void kj_office_simulate_day(int weekday, size_t n_counters, uint64_t seed, kj_office_day *out);

#endif
