/* kinerja — calendar periods of SPEC §15 by name: `2026-12` (a month),
 * `2026-Q4` (a quarter), `2026` (a year). The `assessment` event names one;
 * the daemon's rapor (daemon/rapor/rapor.h) places it in the configured zone. Pure,
 * any thread. */
#ifndef KJ_PERIOD_H
#define KJ_PERIOD_H

#include <stdbool.h>
#include <stddef.h>

typedef enum kj_period_kind {
    KJ_PERIOD_MONTH = 0,
    KJ_PERIOD_QUARTER = 1,
    KJ_PERIOD_YEAR = 2,
} kj_period_kind;

typedef struct kj_period {
    kj_period_kind kind;
    int year;  /* 1970..9999 */
    int index; /* month 1-12, quarter 1-4, 0 for a year */
} kj_period;

#define KJ_PERIOD_NAME_MAX 8 /* "2026-Q4" and its NUL */

/* "month", "quarter", "year" (the `evaluation.period` key). */
const char *kj_period_kind_name(kj_period_kind k);
bool kj_period_kind_parse(const char *s, kj_period_kind *out);

/* Parse "YYYY-MM", "YYYY-Qn" or "YYYY" (len bytes at s, no NUL needed)
 * exactly: no spaces, MM two digits, a year from 1970; false otherwise. */
bool kj_period_parse(const char *s, size_t len, kj_period *out);
/* The period's name in buf (at least KJ_PERIOD_NAME_MAX bytes). */
void kj_period_format(const kj_period *p, char *buf, size_t len);

#endif
