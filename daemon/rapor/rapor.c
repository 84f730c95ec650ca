/* The rules of periodic evaluation (rapor.h): periods and ratings. */
#include "rapor.h"

#include <stdio.h>
#include <string.h>

/* The first month of p and the count of its months. */
static void months_of(const kj_period *p, int *first, int *count)
{
    *first = p->kind == KJ_PERIOD_MONTH     ? p->index
             : p->kind == KJ_PERIOD_QUARTER ? 3 * p->index - 2
                                            : 1;
    *count = p->kind == KJ_PERIOD_MONTH ? 1 : p->kind == KJ_PERIOD_QUARTER ? 3 : 12;
}

void kj_period_days(const kj_period *p, int32_t *first, int32_t *end)
{
    int m, n;
    months_of(p, &m, &n);
    int end_m = m + n, end_y = p->year;
    if (end_m > 12) end_m -= 12, end_y++;
    *first = kj_tz_days_from_civil(p->year, m, 1);
    *end = kj_tz_days_from_civil(end_y, end_m, 1);
}

kj_period kj_period_of_day(kj_period_kind k, int32_t day)
{
    int y, m, d;
    kj_tz_civil_from_days(day, &y, &m, &d);
    kj_period p = {k, y, k == KJ_PERIOD_MONTH ? m : k == KJ_PERIOD_QUARTER ? (m + 2) / 3 : 0};
    return p;
}

void kj_period_span(const kj_period *p, const kj_tz *tz, int64_t now, int64_t *from, int64_t *to,
                    bool *final)
{
    int32_t first, end;
    kj_period_days(p, &first, &end);
    *from = kj_tz_day_start(tz, first);
    *to = kj_tz_day_start(tz, end);
    *final = now >= *to;
}

/* --- ratings --- */

kj_level kj_rapor_indicator_level(kj_status status, bool has_achievement, double achievement_pct,
                                  double above_pct)
{
    if (status == KJ_STATUS_NONE) return KJ_LEVEL_NONE;
    if (has_achievement && achievement_pct >= above_pct) return KJ_LEVEL_ABOVE;
    return status == KJ_STATUS_BAD ? KJ_LEVEL_BELOW : KJ_LEVEL_MEETS;
}

kj_level kj_rapor_hasil_kerja(const kj_level *levels, size_t n)
{
    size_t counted = 0, above = 0, below = 0;
    for (size_t i = 0; i < n; i++) {
        counted += levels[i] != KJ_LEVEL_NONE;
        above += levels[i] == KJ_LEVEL_ABOVE;
        below += levels[i] == KJ_LEVEL_BELOW;
    }
    if (!counted) return KJ_LEVEL_NONE;
    /* Twice the count against n keeps "more than half" exact for odd n. */
    if (2 * above > counted && below == 0) return KJ_LEVEL_ABOVE;
    if (2 * below >= counted) return KJ_LEVEL_BELOW;
    return KJ_LEVEL_MEETS;
}

kj_level kj_rapor_perilaku(const uint8_t *behaviour)
{
    if (!behaviour) return KJ_LEVEL_NONE;
    unsigned count[4] = {0};
    for (int i = 0; i < KJ_BERAKHLAK; i++) {
        if (behaviour[i] < KJ_LEVEL_BELOW || behaviour[i] > KJ_LEVEL_ABOVE) return KJ_LEVEL_NONE;
        count[behaviour[i]]++;
    }
    kj_level best = KJ_LEVEL_BELOW;
    bool tie = false;
    for (int l = KJ_LEVEL_MEETS; l <= KJ_LEVEL_ABOVE; l++) {
        if (count[l] > count[best])
            best = (kj_level)l, tie = false;
        else if (count[l] == count[best])
            tie = true;
    }
    return tie ? KJ_LEVEL_MEETS : best;
}

kj_predikat kj_rapor_predikat(kj_level hasil_kerja, kj_level perilaku)
{
    /* [hasil][perilaku], each below / meets / above */
    static const kj_predikat matrix[3][3] = {
        {KJ_PREDIKAT_SANGAT_KURANG, KJ_PREDIKAT_BUTUH_PERBAIKAN, KJ_PREDIKAT_BUTUH_PERBAIKAN},
        {KJ_PREDIKAT_KURANG, KJ_PREDIKAT_BAIK, KJ_PREDIKAT_BAIK},
        {KJ_PREDIKAT_KURANG, KJ_PREDIKAT_BAIK, KJ_PREDIKAT_SANGAT_BAIK},
    };
    if (hasil_kerja < KJ_LEVEL_BELOW || hasil_kerja > KJ_LEVEL_ABOVE || perilaku < KJ_LEVEL_BELOW ||
        perilaku > KJ_LEVEL_ABOVE)
        return KJ_PREDIKAT_NONE;
    return matrix[hasil_kerja - 1][perilaku - 1];
}

static const char *const predikat_names[] = {"none",   "sangat_baik",  "baik", "butuh_perbaikan",
                                             "kurang", "sangat_kurang"};
static const char *const predikat_labels[] = {
    "", "Sangat Baik", "Baik", "Butuh Perbaikan", "Kurang/Misconduct", "Sangat Kurang"};

const char *kj_predikat_name(kj_predikat p)
{
    return (unsigned)p < KJ_PREDIKAT_COUNT ? predikat_names[p] : "none";
}

const char *kj_predikat_label(kj_predikat p)
{
    return (unsigned)p < KJ_PREDIKAT_COUNT ? predikat_labels[p] : "";
}

const char *kj_ikm_label(char grade)
{
    switch (grade) {
    case 'A': return "Sangat Baik";
    case 'B': return "Baik";
    case 'C': return "Kurang Baik";
    case 'D': return "Tidak Baik";
    default: return "";
    }
}
