/* kinerjad — the rules of periodic evaluation (SPEC §15), pure: calendar
 * periods, an indicator's level over a period, the two ratings (hasil kerja,
 * perilaku kerja) and the predikat of PermenPAN-RB 6/2022.
 *
 * Nothing here reads the store or the clock: rapor_read.c gathers a period's
 * values from the stored day buckets and asks these functions for the
 * judgements, so they are tested alone against an independent
 * implementation. Any thread may call them. */
#ifndef KJ_RAPOR_H
#define KJ_RAPOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/event.h"
#include "../proto/period.h"
#include "metrics/indicators.h"
#include "tzclock.h"

/* --- periods --- */

/* The local days of p: first <= day < end (days since 1970-01-01 in the
 * local calendar, kj_tz_day's numbering). */
void kj_period_days(const kj_period *p, int32_t *first, int32_t *end);
/* The period of kind k that holds local day `day`. */
kj_period kj_period_of_day(kj_period_kind k, int32_t day);

/* The period in UTC ms in tz: from = its first local midnight, to = the next
 * period's; final once now >= to (a period not yet ended is provisional). */
void kj_period_span(const kj_period *p, const kj_tz *tz, int64_t now, int64_t *from, int64_t *to,
                    bool *final);

/* --- ratings --- */

/* `above_pct` of the `evaluation` configuration when it is not set. */
#define KJ_ABOVE_PCT_DEFAULT 110.0

/* An indicator's level over a period: above when its achievement (rounded,
 * as kj_metric_achievement gives it) is at least above_pct, else meets for
 * status ok or warn, below for bad; NONE for status none (no data: it does
 * not count). has_achievement false: the achievement is nil (target 0). */
kj_level kj_rapor_indicator_level(kj_status status, bool has_achievement, double achievement_pct,
                                  double above_pct);

/* Hasil kerja from n indicator levels (NONE entries do not count): with c
 * counted, A above and B below: above when A > c/2 and B = 0; below when
 * B >= c/2; otherwise meets; NONE when c = 0. */
kj_level kj_rapor_hasil_kerja(const kj_level *levels, size_t n);

#define KJ_BERAKHLAK 7 /* Berorientasi pelayanan ... Kolaboratif */

/* Perilaku kerja from the 7 BerAKHLAK levels of an assessment: the level
 * given most often, meets when two levels tie for most; NONE when behaviour
 * is NULL (no assessment) or holds a NONE. */
kj_level kj_rapor_perilaku(const uint8_t *behaviour);

typedef enum kj_predikat {
    KJ_PREDIKAT_NONE = 0,
    KJ_PREDIKAT_SANGAT_BAIK,
    KJ_PREDIKAT_BAIK,
    KJ_PREDIKAT_BUTUH_PERBAIKAN,
    KJ_PREDIKAT_KURANG,
    KJ_PREDIKAT_SANGAT_KURANG,
    KJ_PREDIKAT_COUNT
} kj_predikat;

/* The matrix of SPEC §15 (rows hasil kerja, columns perilaku); NONE while
 * either rating is NONE. */
kj_predikat kj_rapor_predikat(kj_level hasil_kerja, kj_level perilaku);
/* "sangat_baik", "baik", "butuh_perbaikan", "kurang", "sangat_kurang", "none". */
const char *kj_predikat_name(kj_predikat p);
/* "Sangat Baik", "Baik", "Butuh Perbaikan", "Kurang/Misconduct",
 * "Sangat Kurang", "" for NONE. */
const char *kj_predikat_label(kj_predikat p);

/* The IKM label of PermenPAN-RB 14/2017 for a grade 'A'..'D' ("Sangat Baik",
 * "Baik", "Kurang Baik", "Tidak Baik"); "" otherwise. */
const char *kj_ikm_label(char grade);

#endif
