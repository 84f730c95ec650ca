/* kinerjad — what a metric is (metric.h). */
#include "metric.h"

#include <math.h>
#include <string.h>

#include "../proto/clock.h"

static const char *const window_names[KJ_WIN_NOW + 1] = {"15m", "1h", "today", "7d", "30d", "now"};
const kj_window kj_win_sliding[KJ_WIN_SLIDING] = {KJ_WIN_15M, KJ_WIN_1H, KJ_WIN_7D, KJ_WIN_30D};

static const char *const res_names[KJ_RES_COUNT] = {"minute", "hour", "day"};

static int find(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

const char *kj_window_name(kj_window w)
{
    return (unsigned)w <= KJ_WIN_NOW ? window_names[w] : "?";
}

bool kj_window_parse(const char *s, kj_window *out)
{
    int i = find(s, window_names, KJ_WIN_NOW + 1);
    if (i < 0) return false;
    *out = (kj_window)i;
    return true;
}

const char *kj_res_name(kj_res r)
{
    return (unsigned)r < KJ_RES_COUNT ? res_names[r] : "?";
}

bool kj_res_parse(const char *s, kj_res *out)
{
    int i = find(s, res_names, KJ_RES_COUNT);
    if (i < 0) return false;
    *out = (kj_res)i;
    return true;
}

int64_t kj_res_ms(kj_res r)
{
    return r == KJ_RES_MINUTE ? KJ_MINUTE_MS : r == KJ_RES_HOUR ? KJ_HOUR_MS : KJ_DAY_MS;
}

static const char *const metric_names[KJ_M_COUNT] = {
    "tasks.count",
    "tasks.on_time_pct",
    "tasks.quality_avg",
    "tasks.duration_ms.avg",
    "tasks.duration_ms.p50",
    "tasks.duration_ms.p90",
    "tasks.duration_ms.max",
    "services.count",
    "services.no_show",
    "services.sla_pct",
    "services.per_hour",
    "services.wait_ms.avg",
    "services.wait_ms.p50",
    "services.wait_ms.p90",
    "services.wait_ms.max",
    "services.service_ms.avg",
    "services.service_ms.p50",
    "services.service_ms.p90",
    "services.service_ms.max",
    "ratings.count",
    "ratings.avg",
    "ratings.ikm",
    "ratings.peer_avg",
    "ratings.supervisor_avg",
    "ratings.ikm_elements.U1",
    "ratings.ikm_elements.U2",
    "ratings.ikm_elements.U3",
    "ratings.ikm_elements.U4",
    "ratings.ikm_elements.U5",
    "ratings.ikm_elements.U6",
    "ratings.ikm_elements.U7",
    "ratings.ikm_elements.U8",
    "ratings.ikm_elements.U9",
    "queue.waiting",
    "queue.longest_wait_ms",
};

bool kj_metric_parse(const char *path, kj_metric *out)
{
    for (int i = 0; i < KJ_M_COUNT; i++) {
        if (strcmp(path, metric_names[i])) continue;
        *out = (kj_metric)i;
        return true;
    }
    /* ratings.ikm_elements.3 is accepted for U3 */
    static const char elems[] = "ratings.ikm_elements.";
    if (!strncmp(path, elems, sizeof elems - 1)) {
        const char *d = path + sizeof elems - 1;
        if (d[0] >= '1' && d[0] <= '9' && !d[1]) {
            *out = (kj_metric)(KJ_M_RATINGS_IKM_U1 + (d[0] - '1'));
            return true;
        }
    }
    return false;
}

const char *kj_metric_name(kj_metric m)
{
    return (unsigned)m < KJ_M_COUNT ? metric_names[m] : "?";
}

bool kj_ikm(uint64_t ikm_sum, uint64_t n, int64_t *centi, char *grade)
{
    if (!n) return false;
    /* 25 * sum / (9 n) in hundredths, rounded half up, in integers: a float
     * could land 88.309999 on the wrong side of a grade boundary. */
    int64_t c = (int64_t)((5000 * ikm_sum + 9 * n) / (18 * n));
    *centi = c;
    *grade = c >= 8831 ? 'A' : c >= 7661 ? 'B' : c >= 6500 ? 'C' : 'D';
    return true;
}

int64_t kj_ikm_element(uint64_t sum, uint64_t n)
{
    return (int64_t)((5000 * sum + n) / (2 * n));
}

bool kj_metric_ratio(uint64_t num, uint64_t den, double scale, double *out)
{
    if (!den) return false;
    *out = scale * (double)num / (double)den;
    return true;
}

static bool hist_value(const kj_hist *h, int which, double *out)
{
    if (!kj_hist_count(h)) return false;
    if (which == 0) *out = (double)kj_hist_sum(h) / (double)kj_hist_count(h);
    if (which == 1) *out = (double)kj_hist_percentile(h, 50);
    if (which == 2) *out = (double)kj_hist_percentile(h, 90);
    if (which == 3) *out = (double)kj_hist_max(h);
    return true;
}

static bool tasks_value(const kj_agg_tasks *t, kj_metric metric, double *out)
{
    if (!t) return false;
    switch (metric) {
    case KJ_M_TASKS_COUNT: *out = (double)t->count; return true;
    case KJ_M_TASKS_ON_TIME_PCT: return kj_metric_ratio(t->on_time, t->due_n, 100, out);
    case KJ_M_TASKS_QUALITY_AVG: return kj_metric_ratio(t->quality_sum, t->quality_n, 1, out);
    default: return hist_value(&t->duration, metric - KJ_M_TASKS_DURATION_AVG, out);
    }
}

static bool services_value(const kj_agg_services *s, double hours, kj_metric metric, double *out)
{
    if (!s) return false;
    switch (metric) {
    case KJ_M_SERVICES_COUNT: *out = (double)s->count; return true;
    case KJ_M_SERVICES_NO_SHOW: *out = (double)s->no_show; return true;
    case KJ_M_SERVICES_SLA_PCT: return kj_metric_ratio(s->sla_ok, s->count, 100, out);
    case KJ_M_SERVICES_PER_HOUR: *out = (double)s->count / hours; return true;
    default:
        if (metric <= KJ_M_SERVICES_WAIT_MAX)
            return hist_value(&s->wait, metric - KJ_M_SERVICES_WAIT_AVG, out);
        return hist_value(&s->service, metric - KJ_M_SERVICES_SERVICE_AVG, out);
    }
}

static bool ratings_value(const kj_agg_ratings *r, kj_metric metric, double *out)
{
    int64_t centi;
    char grade;
    if (!r) return false;
    switch (metric) {
    case KJ_M_RATINGS_COUNT: *out = (double)r->cit_n; return true;
    case KJ_M_RATINGS_AVG: return kj_metric_ratio(r->cit_sum, r->cit_n, 1, out);
    case KJ_M_RATINGS_PEER_AVG: return kj_metric_ratio(r->peer_sum, r->peer_n, 1, out);
    case KJ_M_RATINGS_SUPERVISOR_AVG: return kj_metric_ratio(r->sup_sum, r->sup_n, 1, out);
    case KJ_M_RATINGS_IKM:
        if (!kj_ikm(r->ikm_sum, r->cit_n, &centi, &grade)) return false;
        *out = (double)centi / 100.0;
        return true;
    default:
        if (!r->elem_n) return false;
        *out = (double)kj_ikm_element(r->elem_sum[metric - KJ_M_RATINGS_IKM_U1], r->elem_n) / 100.0;
        return true;
    }
}

bool kj_metric_value(const kj_agg *a, double hours, kj_metric metric, double *out)
{
    if (!a) return false;
    if (metric <= KJ_M_TASKS_DURATION_MAX) return tasks_value(a->tasks, metric, out);
    if (metric <= KJ_M_SERVICES_SERVICE_MAX) return services_value(a->services, hours, metric, out);
    if (metric <= KJ_M_RATINGS_IKM_U9) return ratings_value(a->ratings, metric, out);
    return false; /* the queue's metrics are a state, not an aggregate's */
}

uint64_t kj_metric_samples(const kj_agg *a, kj_metric metric)
{
    const kj_agg_tasks *t = a ? a->tasks : NULL;
    const kj_agg_services *s = a ? a->services : NULL;
    const kj_agg_ratings *r = a ? a->ratings : NULL;
    if (metric <= KJ_M_TASKS_DURATION_MAX) {
        if (!t) return 0;
        if (metric == KJ_M_TASKS_ON_TIME_PCT) return t->due_n;
        if (metric == KJ_M_TASKS_QUALITY_AVG) return t->quality_n;
        return metric == KJ_M_TASKS_COUNT ? t->count : kj_hist_count(&t->duration);
    }
    if (metric <= KJ_M_SERVICES_SERVICE_MAX) {
        if (!s) return 0;
        return metric == KJ_M_SERVICES_NO_SHOW ? s->count + s->no_show : s->count;
    }
    if (!r) return 0;
    if (metric == KJ_M_RATINGS_PEER_AVG) return r->peer_n;
    if (metric == KJ_M_RATINGS_SUPERVISOR_AVG) return r->sup_n;
    return metric >= KJ_M_RATINGS_IKM_U1 ? r->elem_n : r->cit_n;
}

unsigned kj_metric_hists(kj_metric metric)
{
    if (metric >= KJ_M_TASKS_DURATION_AVG && metric <= KJ_M_TASKS_DURATION_MAX)
        return KJ_AGG_MAX_DURATION;
    if (metric >= KJ_M_SERVICES_WAIT_AVG && metric <= KJ_M_SERVICES_WAIT_MAX)
        return KJ_AGG_MAX_WAIT;
    if (metric >= KJ_M_SERVICES_SERVICE_AVG && metric <= KJ_M_SERVICES_SERVICE_MAX)
        return KJ_AGG_MAX_SERVICE;
    return 0;
}

bool kj_metric_achievement(kj_better better, double target, bool has_value, double value,
                           double *pct)
{
    if (!has_value || target == 0 || isnan(value)) return false;
    double r = value / target;
    double p = better == KJ_BETTER_HIGHER ? r * 100.0 : (2.0 - r) * 100.0;
    p = p < 0 ? 0 : p > 200 ? 200 : p;
    *pct = round(p * 100.0) / 100.0;
    return true;
}
