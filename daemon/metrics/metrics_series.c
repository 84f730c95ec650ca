/* The series read path beyond memory: how many points a request spans (its
 * bound) and where the day buckets older than those in memory lie in the
 * store. The store itself is read by the caller (the engine); this file only
 * knows the keys (metrics.h). */
#include <string.h>

#include "metrics_store.h"
#include "values.h"

static int retention_days(const kj_metrics *m)
{
    return m->cfg && m->cfg->retention_days > 0 ? m->cfg->retention_days : 400;
}

/* The start (UTC ms) of the oldest bucket of res that can be read: memory
 * for minutes and hours, the store's retention for days. */
static int64_t oldest_start(const kj_metrics *m, kj_res res)
{
    if (res != KJ_RES_DAY) return kj_m_bucket_ms(res, kj_m_horizon(m, res));
    return kj_tz_day_start(m->tz, m->today - retention_days(m));
}

/* Buckets of res with start in [lo, hi), for the limit. */
static size_t span(const kj_metrics *m, kj_res res, int64_t lo, int64_t hi)
{
    if (hi <= lo) return 0;
    if (res == KJ_RES_DAY) return (size_t)(kj_tz_day(m->tz, hi - 1) - kj_tz_day(m->tz, lo - 1));
    return (size_t)(kj_floor_div(hi - 1, kj_res_ms(res)) - kj_floor_div(lo - 1, kj_res_ms(res)));
}

/* Day buckets older than memory: keys from the first day of the range up to
 * (not including) the oldest day in memory. */
static void stored_keys(kj_metrics *m, const kj_scope *sc, kj_series_plan *p)
{
    p->lo_len = p->hi_len = 0;
    if (p->res != KJ_RES_DAY || p->from >= p->to) return;
    int32_t first = kj_tz_day(m->tz, p->from), in_memory = kj_m_horizon(m, KJ_RES_DAY);
    if (first >= in_memory) return;
    p->lo_len = kj_m_bucket_key(p->lo, sizeof p->lo, sc, KJ_RES_DAY, first);
    p->hi_len = kj_m_bucket_key(p->hi, sizeof p->hi, sc, KJ_RES_DAY, in_memory);
    if (!p->lo_len || !p->hi_len) p->lo_len = p->hi_len = 0;
}

kj_err kj_metrics_series_plan(kj_metrics *m, const kj_scope_ref *ref, kj_res res, int64_t from,
                              int64_t to, kj_series_plan *plan)
{
    kj_scope *sc = kj_m_find_ref(m, ref);
    if (!sc) return KJ_ERR_NOT_FOUND;
    if ((unsigned)res >= KJ_RES_COUNT) return KJ_ERR_INVALID;
    memset(plan, 0, sizeof *plan);
    plan->res = res;
    int64_t oldest = oldest_start(m, (int)res);
    plan->from = from > oldest ? from : oldest;
    plan->to = to;
    /* Nothing starts after now + max_clock_skew (later events are refused);
     * a minute more for the engine's clock, which trails the wall clock. */
    int64_t skew = m->cfg ? m->cfg->max_clock_skew_ms : 300000;
    int64_t newest = m->now + skew + KJ_MINUTE_MS;
    plan->points = span(m, (int)res, plan->from, to < newest ? to : newest);
    stored_keys(m, sc, plan);
    return plan->points > KJ_SERIES_MAX_POINTS ? KJ_ERR_TOO_BIG : KJ_OK;
}

bool kj_metrics_stored_point(kj_metrics *m, const kj_series_plan *plan, kj_metric metric,
                             const void *key, size_t klen, const void *val, size_t vlen,
                             int64_t *start, double *value)
{
    const uint8_t *k = key;
    if (klen < 10 || k[klen - 9] != KJ_RES_DAY) return false;
    uint64_t ms = 0;
    for (size_t i = klen - 8; i < klen; i++)
        ms = ms << 8 | k[i];
    int64_t day = (int64_t)ms / KJ_DAY_MS;
    if ((int64_t)ms % KJ_DAY_MS || day > INT32_MAX) return false;
    *start = kj_tz_day_start(m->tz, (int32_t)day);
    if (*start < plan->from || *start >= plan->to) return false;
    return kj_metrics_bucket_value(val, vlen, KJ_RES_DAY, metric, value);
}
