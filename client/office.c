/* The day of a service office (see office.h). */
#include "office.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define T(h, m) ((h)*KJ_HOUR_MS + (m)*KJ_MINUTE_MS)
#define MAX_DAY_ARRIVALS 4096 /* per counter: far above a day's */

bool kj_office_open(int weekday, int64_t t)
{
    if (weekday < 1 || weekday > 5) return false;
    if (weekday == 5) return t >= T(8, 0) && t < T(16, 30) && !(t >= T(11, 30) && t < T(13, 0));
    return t >= T(8, 0) && t < T(16, 0) && !(t >= T(12, 0) && t < T(13, 0));
}

double kj_office_arrivals_per_hour(int weekday, int64_t t)
{
    /* by half hour from 08:00: the queue at the door, the morning rush, the
     * late morning, the afternoon */
    static const double by_half_hour[18] = {5, 6, 7, 7, 6, 6, 5, 5, 0, 0, 5, 5, 4, 4, 3, 3, 2, 2};
    if (!kj_office_open(weekday, t)) return 0;
    int64_t i = (t - T(8, 0)) / (30 * KJ_MINUTE_MS);
    return i >= 0 && i < 18 ? by_half_hour[i] : 2;
}

double kj_office_element_mean(int i, int64_t wait_ms)
{
    double m = i == KJ_OFFICE_WEAK_ELEMENT ? 2.75 : 3.3;
    if (wait_ms > 30 * KJ_MINUTE_MS)
        m -= 0.6;
    else if (wait_ms > 15 * KJ_MINUTE_MS)
        m -= 0.25;
    return m;
}

/* ---- a day, fast ---- */

typedef struct rng {
    uint64_t s;
} rng;

static double uniform(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return ((r->s * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}

static double normal(rng *r)
{
    double u = uniform(r), v = uniform(r);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-12)) * cos(2 * M_PI * v);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank, as SPEC §4. */
static int64_t p90(int64_t *v, size_t n)
{
    if (!n) return 0;
    qsort(v, n, sizeof *v, cmp_i64);
    size_t rank = (size_t)ceil(0.9 * (double)n);
    return v[rank ? rank - 1 : 0];
}

/* Arrivals by thinning a Poisson process at the peak rate. */
static size_t arrivals(int weekday, size_t n_counters, rng *r, int64_t *at, size_t cap)
{
    double peak = KJ_OFFICE_PEAK_PER_HOUR * (double)n_counters / KJ_HOUR_MS;
    size_t n = 0;
    /* the queue at the door: those who came early take their numbers at 08:00 */
    for (size_t i = 0; i < KJ_OFFICE_AT_THE_DOOR * n_counters && n < cap; i++)
        at[n++] = T(8, 0);
    for (double t = T(8, 0); n < cap;) {
        t += -log(1 - uniform(r)) / peak;
        if (t >= 24 * KJ_HOUR_MS) break;
        double rate = kj_office_arrivals_per_hour(weekday, (int64_t)t);
        if (uniform(r) < rate / KJ_OFFICE_PEAK_PER_HOUR) at[n++] = (int64_t)t;
    }
    return n;
}

/* One queue, first come first served by the first counter free. Citizens
 * who took a number before a break or closing time are still served: the
 * counter finishes its queue, then pauses (no one arrives while closed). */
static int64_t serve_start(int64_t arrival, int64_t free_at)
{
    return arrival > free_at ? arrival : free_at;
}

static void rate(rng *r, int64_t wait, double *sum, size_t *n)
{
    for (int i = 0; i < 9; i++) {
        long e = lround(kj_office_element_mean(i, wait) + 0.55 * normal(r));
        sum[i] += e < 1 ? 1 : e > 4 ? 4 : e;
    }
    (*n)++;
}

void kj_office_simulate_day(int weekday, size_t n_counters, uint64_t seed, kj_office_day *out)
{
    memset(out, 0, sizeof *out);
    rng r = {seed | 1};
    size_t cap = MAX_DAY_ARRIVALS * (n_counters ? n_counters : 1);
    int64_t *at = calloc(cap, sizeof *at), *wait = calloc(cap, sizeof *wait);
    int64_t *by_hour = calloc(cap, sizeof *by_hour), free_at[64] = {0};
    size_t n = arrivals(weekday, n_counters, &r, at, cap), rated = 0;
    double elem[9] = {0};
    for (size_t i = 0; i < n; i++) {
        out->outside_hours += !kj_office_open(weekday, at[i]);
        size_t c = 0;
        for (size_t k = 1; k < n_counters && k < 64; k++)
            if (free_at[k] < free_at[c]) c = k;
        int64_t begin = serve_start(at[i], free_at[c]);
        double svc = KJ_OFFICE_SERVICE_MEDIAN_MS * exp(KJ_OFFICE_SERVICE_SIGMA * normal(&r));
        free_at[c] = begin + (int64_t)svc;
        wait[i] = begin - at[i];
        if (uniform(&r) < 0.6) rate(&r, wait[i], elem, &rated);
    }
    out->arrivals = out->served = n;
    if (n) {
        out->first_arrival = at[0];
        out->last_arrival = at[n - 1];
    }
    for (int h = 8; h < 17; h++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (at[i] / KJ_HOUR_MS == h) by_hour[m++] = wait[i];
        int64_t v = p90(by_hour, m);
        if (v > out->peak_hour_p90_ms) out->peak_hour_p90_ms = v, out->peak_hour = h;
    }
    out->wait_p90_ms = p90(wait, n);
    out->wait_max_ms = n ? wait[n - 1] : 0; /* sorted by p90 */
    double nrr = 0;
    for (int i = 0; i < 9 && rated; i++)
        nrr += elem[i] / (double)rated;
    out->ikm = rated ? 25.0 * nrr / 9.0 : 0;
    free(at);
    free(wait);
    free(by_hour);
}
