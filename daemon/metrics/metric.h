/* kinerjad — what a metric is (SPEC §4, §5): the windows, the bucket
 * resolutions, the metric paths and their names, the value of a metric in an
 * aggregate, the IKM formula and an indicator's achievement.
 *
 * Pure functions over plain values: no state, no allocation, any thread. The
 * configuration (to check indicator metrics and windows), the indicators, the
 * engine's packer and the read API use it; it uses nothing of theirs. */
#ifndef KJ_METRIC_H
#define KJ_METRIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg.h"

/* The windows of SPEC §4, in its order. 15m and 1h slide over minute
 * buckets, 7d and 30d over hour buckets (the engine relies on each pair being
 * adjacent); today is the local calendar day. */
typedef enum kj_window {
    KJ_WIN_15M = 0,
    KJ_WIN_1H,
    KJ_WIN_TODAY,
    KJ_WIN_7D,
    KJ_WIN_30D,
    KJ_WIN_COUNT,
    /* the queue's state now (SPEC §13): an indicator window, not a metrics one */
    KJ_WIN_NOW = KJ_WIN_COUNT
} kj_window;

/* The windows that slide over buckets (all but today), in order. */
#define KJ_WIN_SLIDING 4
extern const kj_window kj_win_sliding[KJ_WIN_SLIDING];

/* "15m", "1h", "today", "7d", "30d", "now" ("?" out of range); parse: false when
 * s is NULL or none of them. */
const char *kj_window_name(kj_window w);
bool kj_window_parse(const char *s, kj_window *out);

/* The resolutions of the buckets (and of series requests): a minute, an
 * hour, a local day. */
typedef enum kj_res { KJ_RES_MINUTE = 0, KJ_RES_HOUR = 1, KJ_RES_DAY = 2, KJ_RES_COUNT } kj_res;

/* "minute", "hour", "day" ("?" out of range); parse: false otherwise. */
const char *kj_res_name(kj_res r);
bool kj_res_parse(const char *s, kj_res *out);
/* The length of a bucket in ms (a day: 24 h; a local day may differ). */
int64_t kj_res_ms(kj_res r);

/* Which way an indicator is better (config `better`). */
typedef enum kj_better { KJ_BETTER_LOWER = 0, KJ_BETTER_HIGHER } kj_better;

/* The numeric metric paths (indicator `metric`, series `metric`). */
typedef enum kj_metric {
    KJ_M_TASKS_COUNT,
    KJ_M_TASKS_ON_TIME_PCT,
    KJ_M_TASKS_QUALITY_AVG,
    KJ_M_TASKS_DURATION_AVG,
    KJ_M_TASKS_DURATION_P50,
    KJ_M_TASKS_DURATION_P90,
    KJ_M_TASKS_DURATION_MAX,
    KJ_M_SERVICES_COUNT,
    KJ_M_SERVICES_NO_SHOW,
    KJ_M_SERVICES_SLA_PCT,
    KJ_M_SERVICES_PER_HOUR,
    KJ_M_SERVICES_WAIT_AVG,
    KJ_M_SERVICES_WAIT_P50,
    KJ_M_SERVICES_WAIT_P90,
    KJ_M_SERVICES_WAIT_MAX,
    KJ_M_SERVICES_SERVICE_AVG,
    KJ_M_SERVICES_SERVICE_P50,
    KJ_M_SERVICES_SERVICE_P90,
    KJ_M_SERVICES_SERVICE_MAX,
    KJ_M_RATINGS_COUNT,
    KJ_M_RATINGS_AVG,
    KJ_M_RATINGS_IKM,
    KJ_M_RATINGS_PEER_AVG,
    KJ_M_RATINGS_SUPERVISOR_AVG,
    KJ_M_RATINGS_IKM_U1, /* ratings.ikm_elements.U1 (or .1) ... U9 */
    KJ_M_RATINGS_IKM_U9 = KJ_M_RATINGS_IKM_U1 + 8,
    KJ_M_QUEUE_WAITING,      /* the unit's queue now, window `now` only (SPEC §13) */
    KJ_M_QUEUE_LONGEST_WAIT, /* ms */
    KJ_M_COUNT
} kj_metric;

/* Parse a numeric metric path of SPEC §4 ("services.wait_ms.p90",
 * "ratings.ikm", "ratings.ikm_elements.U3"); false when unknown. */
bool kj_metric_parse(const char *path, kj_metric *out);
const char *kj_metric_name(kj_metric m); /* canonical path; "?" out of range */

/* The value of metric in the aggregate a (NULL: none) of a window `hours`
 * long (for services.per_hour); false when there is no data (nil). */
bool kj_metric_value(const kj_agg *a, double hours, kj_metric metric, double *out);

/* The samples behind that value: the events it is computed from (for counts
 * and per_hour, those counted); an indicator's min_samples is judged on it. */
uint64_t kj_metric_samples(const kj_agg *a, kj_metric metric);

/* Which hists of an aggregate (KJ_AGG_MAX_* bits) those two read. */
unsigned kj_metric_hists(kj_metric metric);

/* IKM of SPEC §4 from ikm_sum (sum of element values over the citizen
 * responses, 9 x score for a score-only response) and n responses: the index
 * rounded half-up to two decimals, as an integer in hundredths (2500..10000),
 * and its grade 'A'..'D'. False when n is 0. */
bool kj_ikm(uint64_t ikm_sum, uint64_t n, int64_t *centi, char *grade);

/* One IKM element (U1..U9) from the sum of its values over n responses:
 * 25 x its NRR, in hundredths, rounded half up. n must not be 0. */
int64_t kj_ikm_element(uint64_t sum, uint64_t n);

/* scale x num / den into *out; false (nil) when den is 0. */
bool kj_metric_ratio(uint64_t num, uint64_t den, double scale, double *out);

/* achievement_pct: value / target x 100 (higher is better) or
 * (2 - value / target) x 100 (lower is better), clamped to 0..200 and rounded
 * to two decimals. False (nil) without a value or with target 0. */
bool kj_metric_achievement(kj_better better, double target, bool has_value, double value,
                           double *pct);

#endif
