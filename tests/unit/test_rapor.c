/* Unit tests of daemon/rapor/rapor.c: periods against the C library's calendar, and
 * the ratings and predikat of SPEC §15 against an independent implementation
 * written from the SPEC's text, over generated cases: every cell of the
 * matrix, every behaviour vector (ties), every mix of indicator levels up to
 * 9 indicators (n = 0, indicators without data), above_pct edges. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/assess.h"
#include "metrics/indicators.h"
#include "rapor/rapor.h"
#include "tzclock.h"

/* --- the independent implementation (from SPEC §15's words) --- */

static const char *ref_hasil(int above, int meets, int below)
{
    int n = above + meets + below;
    if (n == 0) return "none";
    if ((double)above > n / 2.0 && below == 0) return "above";
    if ((double)below >= n / 2.0) return "below";
    return "meets";
}

/* "The rating is the level given most often; a tie between levels gives meets." */
static const char *ref_perilaku(const char *const v[7])
{
    static const char *const names[] = {"below", "meets", "above"};
    int most = -1, winners = 0;
    const char *winner = NULL;
    for (int l = 0; l < 3; l++) {
        int c = 0;
        for (int i = 0; i < 7; i++)
            c += strcmp(v[i], names[l]) == 0;
        if (c > most)
            most = c, winners = 1, winner = names[l];
        else if (c == most)
            winners++;
    }
    return winners > 1 ? "meets" : winner;
}

/* The SPEC's table, row by row as printed. */
static const char *ref_predikat(const char *hasil, const char *perilaku)
{
    static const char *const rows[3][4] = {
        {"above", "kurang", "baik", "sangat_baik"},
        {"meets", "kurang", "baik", "baik"},
        {"below", "sangat_kurang", "butuh_perbaikan", "butuh_perbaikan"},
    };
    static const char *const cols[3] = {"below", "meets", "above"};
    if (!strcmp(hasil, "none") || !strcmp(perilaku, "none")) return "none";
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            if (!strcmp(rows[r][0], hasil) && !strcmp(cols[c], perilaku)) return rows[r][c + 1];
    return "?";
}

static kj_level lv(int i)
{
    return (kj_level)i;
}

START_TEST(test_predikat_every_cell)
{
    int cells = 0;
    for (int h = KJ_LEVEL_NONE; h <= KJ_LEVEL_ABOVE; h++)
        for (int p = KJ_LEVEL_NONE; p <= KJ_LEVEL_ABOVE; p++) {
            const char *want = ref_predikat(kj_level_name(lv(h)), kj_level_name(lv(p)));
            ck_assert_str_eq(kj_predikat_name(kj_rapor_predikat(lv(h), lv(p))), want);
            cells++;
        }
    ck_assert_int_eq(cells, 16);
    ck_assert_str_eq(kj_predikat_label(KJ_PREDIKAT_KURANG), "Kurang/Misconduct");
    ck_assert_str_eq(kj_predikat_label(KJ_PREDIKAT_SANGAT_BAIK), "Sangat Baik");
    ck_assert_str_eq(kj_predikat_label(KJ_PREDIKAT_BUTUH_PERBAIKAN), "Butuh Perbaikan");
}
END_TEST

START_TEST(test_perilaku_every_vector)
{
    static const char *const names[] = {"below", "meets", "above"};
    int ties = 0;
    for (int code = 0; code < 2187; code++) { /* 3^7 */
        uint8_t b[7];
        const char *v[7];
        for (int i = 0, c = code; i < 7; i++, c /= 3) {
            b[i] = (uint8_t)(c % 3 + 1);
            v[i] = names[c % 3];
        }
        const char *want = ref_perilaku(v);
        const char *got = kj_level_name(kj_rapor_perilaku(b));
        if (strcmp(got, want)) ck_abort_msg("vector %d: got %s, want %s", code, got, want);
        int n[4] = {0};
        for (int i = 0; i < 7; i++)
            n[b[i]]++;
        ties += (n[1] == n[2] && n[1] >= n[3]) || (n[1] == n[3] && n[1] >= n[2]) ||
                (n[2] == n[3] && n[2] >= n[1]);
    }
    ck_assert_int_gt(ties, 0); /* the generated cases hold ties */
    uint8_t tie[7] = {1, 1, 1, 3, 3, 3, 2};
    ck_assert_int_eq(kj_rapor_perilaku(tie), KJ_LEVEL_MEETS);
    uint8_t above[7] = {3, 3, 3, 2, 2, 1, 1};
    ck_assert_int_eq(kj_rapor_perilaku(above), KJ_LEVEL_ABOVE);
    ck_assert_int_eq(kj_rapor_perilaku(NULL), KJ_LEVEL_NONE);
    uint8_t broken[7] = {3, 3, 3, 0, 2, 1, 1};
    ck_assert_int_eq(kj_rapor_perilaku(broken), KJ_LEVEL_NONE);
}
END_TEST

START_TEST(test_hasil_every_mix)
{
    /* Every multiset of up to 9 levels, NONE (no data) included, in shuffled
     * order: NONE must not count. */
    int cases = 0;
    for (int none = 0; none <= 3; none++)
        for (int a = 0; a <= 9; a++)
            for (int m = 0; a + m <= 9; m++)
                for (int b = 0; a + m + b <= 9; b++) {
                    kj_level l[12];
                    size_t n = 0;
                    for (int i = 0; i < none; i++)
                        l[n++] = KJ_LEVEL_NONE;
                    for (int i = 0; i < a; i++)
                        l[n++] = KJ_LEVEL_ABOVE;
                    for (int i = 0; i < m; i++)
                        l[n++] = KJ_LEVEL_MEETS;
                    for (int i = 0; i < b; i++)
                        l[n++] = KJ_LEVEL_BELOW;
                    for (size_t i = n; i > 1; i--) { /* a fixed shuffle */
                        size_t j = (i * 7 + (size_t)cases) % i;
                        kj_level t = l[i - 1];
                        l[i - 1] = l[j], l[j] = t;
                    }
                    const char *got = kj_level_name(kj_rapor_hasil_kerja(l, n));
                    const char *want = ref_hasil(a, m, b);
                    if (strcmp(got, want))
                        ck_abort_msg("A=%d M=%d B=%d none=%d: got %s, want %s", a, m, b, none, got,
                                     want);
                    cases++;
                }
    ck_assert_int_gt(cases, 800);
    ck_assert_int_eq(kj_rapor_hasil_kerja(NULL, 0), KJ_LEVEL_NONE);
    /* B = n/2 exactly is below; A > n/2 with one below is not above */
    kj_level half[4] = {KJ_LEVEL_BELOW, KJ_LEVEL_BELOW, KJ_LEVEL_ABOVE, KJ_LEVEL_ABOVE};
    ck_assert_int_eq(kj_rapor_hasil_kerja(half, 4), KJ_LEVEL_BELOW);
    kj_level mostly[4] = {KJ_LEVEL_ABOVE, KJ_LEVEL_ABOVE, KJ_LEVEL_ABOVE, KJ_LEVEL_BELOW};
    ck_assert_int_eq(kj_rapor_hasil_kerja(mostly, 4), KJ_LEVEL_MEETS);
    kj_level exactly_half[2] = {KJ_LEVEL_ABOVE, KJ_LEVEL_MEETS}; /* A = n/2 is not > n/2 */
    ck_assert_int_eq(kj_rapor_hasil_kerja(exactly_half, 2), KJ_LEVEL_MEETS);
}
END_TEST

/* The independent level: the achievement by its definition in SPEC §5
 * (value / target x 100, or (2 - value / target) x 100, within 0..200, two
 * decimals), the status by §5's bands. */
static const char *ref_level(kj_better better, double target, double margin, bool has, double value,
                             double above_pct)
{
    if (!has) return "none";
    double t = fabs(target);
    bool ok =
        better == KJ_BETTER_HIGHER ? value >= target * (1 - 1e-9) : value <= target + 1e-9 * t;
    bool warn = better == KJ_BETTER_HIGHER ? value >= target - margin * t - 1e-9 * t
                                           : value <= target + margin * t + 1e-9 * t;
    if (target != 0) {
        double r = value / target, a = better == KJ_BETTER_HIGHER ? r * 100 : (2 - r) * 100;
        a = a < 0 ? 0 : a > 200 ? 200 : a;
        a = round(a * 100) / 100;
        if (a >= above_pct) return "above";
    }
    return ok || warn ? "meets" : "below";
}

static const char *level_of(kj_better better, double target, double margin, bool has, double value,
                            double above_pct)
{
    kj_status st = kj_indicator_status(better, target, margin, has, value);
    double pct = 0;
    bool has_pct = kj_metric_achievement(better, target, has, value, &pct);
    return kj_level_name(kj_rapor_indicator_level(st, has_pct, pct, above_pct));
}

START_TEST(test_indicator_level_generated)
{
    /* Personal targets are just other targets here: the level depends on the
     * target it is given. Values sweep across the edges around each target. */
    static const double targets[] = {90, 900000, 600000, 4, 0.5, 0, 100};
    static const double above[] = {100, 105, 110, 110.01, 150, 200};
    int cases = 0, seen_above = 0, seen_below = 0;
    for (int b = 0; b < 2; b++) {
        kj_better better = b ? KJ_BETTER_LOWER : KJ_BETTER_HIGHER;
        for (size_t t = 0; t < sizeof targets / sizeof *targets; t++)
            for (size_t a = 0; a < sizeof above / sizeof *above; a++)
                for (int step = -400; step <= 400; step++) {
                    double target = targets[t];
                    double value = target == 0 ? step / 100.0 : target * (1 + step / 2000.0);
                    const char *want = ref_level(better, target, 0.1, true, value, above[a]);
                    const char *got = level_of(better, target, 0.1, true, value, above[a]);
                    if (strcmp(got, want))
                        ck_abort_msg("better=%d target=%g value=%.10g above_pct=%g: got %s want %s",
                                     b, target, value, above[a], got, want);
                    seen_above += !strcmp(got, "above");
                    seen_below += !strcmp(got, "below");
                    cases++;
                }
    }
    ck_assert_int_gt(seen_above, 0);
    ck_assert_int_gt(seen_below, 0);
    ck_assert_str_eq(level_of(KJ_BETTER_HIGHER, 90, 0.1, false, 0, 110), "none");
    /* the edge itself: 99 of 90 is 110.00 %, above at 110, not at 110.01 */
    ck_assert_str_eq(level_of(KJ_BETTER_HIGHER, 90, 0.1, true, 99, 110), "above");
    ck_assert_str_eq(level_of(KJ_BETTER_HIGHER, 90, 0.1, true, 99, 110.01), "meets");
    /* lower is better: 540000 against 600000 is 110 % */
    ck_assert_str_eq(level_of(KJ_BETTER_LOWER, 600000, 0.1, true, 540000, 110), "above");
    /* 109.98 %; 540001 would round to 110.00 and be above */
    ck_assert_str_eq(level_of(KJ_BETTER_LOWER, 600000, 0.1, true, 540100, 110), "meets");
    ck_assert_str_eq(level_of(KJ_BETTER_LOWER, 600000, 0.1, true, 660001, 110), "below");
}
END_TEST

/* --- periods --- */

static int32_t libc_day(int y, int m, int d)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    return (int32_t)(timegm(&tm) / 86400);
}

START_TEST(test_period_days)
{
    for (int y = 1970; y <= 2200; y++) {
        for (int m = 1; m <= 12; m++) {
            kj_period p = {KJ_PERIOD_MONTH, y, m};
            int32_t first, end;
            kj_period_days(&p, &first, &end);
            ck_assert_int_eq(first, libc_day(y, m, 1));
            ck_assert_int_eq(end, m == 12 ? libc_day(y + 1, 1, 1) : libc_day(y, m + 1, 1));
            kj_period back = kj_period_of_day(KJ_PERIOD_MONTH, end - 1);
            ck_assert_int_eq(back.year, y);
            ck_assert_int_eq(back.index, m);
            kj_period q = kj_period_of_day(KJ_PERIOD_QUARTER, first);
            ck_assert_int_eq(q.index, (m - 1) / 3 + 1);
        }
        kj_period q4 = {KJ_PERIOD_QUARTER, y, 4}, yr = {KJ_PERIOD_YEAR, y, 0};
        int32_t f, e;
        kj_period_days(&q4, &f, &e);
        ck_assert_int_eq(f, libc_day(y, 10, 1));
        ck_assert_int_eq(e, libc_day(y + 1, 1, 1));
        kj_period_days(&yr, &f, &e);
        ck_assert_int_eq(f, libc_day(y, 1, 1));
        ck_assert_int_eq(e - f, libc_day(y + 1, 1, 1) - libc_day(y, 1, 1));
    }
}
END_TEST

START_TEST(test_period_parse)
{
    static const char *const good[] = {"2026-12", "2026-Q4", "2026", "1970-01", "2027-Q1", "9999"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        kj_period p;
        char buf[KJ_PERIOD_NAME_MAX];
        ck_assert_msg(kj_period_parse(good[i], strlen(good[i]), &p), "%s", good[i]);
        kj_period_format(&p, buf, sizeof buf);
        ck_assert_str_eq(buf, good[i]);
    }
    static const char *const bad[] = {"",        "2026-13",  "2026-00", "2026-Q0", "2026-Q5",
                                      "2026-1",  "2026-012", "26",      "1969",    "2026-q4",
                                      " 2026",   "2026 ",    "2026-",   "2026-Q",  "20x6",
                                      "2026/12", "12-2026"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kj_period p;
        ck_assert_msg(!kj_period_parse(bad[i], strlen(bad[i]), &p), "accepted \"%s\"", bad[i]);
    }
    kj_period_kind k;
    ck_assert(kj_period_kind_parse("quarter", &k) && k == KJ_PERIOD_QUARTER);
    ck_assert(!kj_period_kind_parse("week", &k));
}
END_TEST

START_TEST(test_period_span_jakarta)
{
    kj_tz *tz;
    ck_assert_int_eq(kj_tz_load("Asia/Jakarta", &tz), KJ_OK);
    kj_period p;
    ck_assert(kj_period_parse("2026-12", 7, &p));
    int64_t from, to;
    bool final;
    /* 2026-12-01 00:00 WIB = 2026-11-30 17:00 UTC */
    kj_period_span(&p, tz, 1796083200000LL, &from, &to, &final);
    ck_assert_int_eq(from, 1796058000000LL);
    ck_assert_int_eq(to, 1798736400000LL); /* 2027-01-01 00:00 WIB */
    ck_assert(!final);
    kj_period_span(&p, tz, to, &from, &to, &final);
    ck_assert(final); /* ended exactly at its end */
    kj_period_span(&p, tz, to - 1, &from, &to, &final);
    ck_assert(!final);
    kj_tz_free(tz);
    ck_assert_str_eq(kj_ikm_label('A'), "Sangat Baik");
    ck_assert_str_eq(kj_ikm_label('D'), "Tidak Baik");
}
END_TEST

/* --- the latest assessment per (employee, period), in a real store --- */

static kj_event assessment(int64_t ts, uint8_t level, const char *period)
{
    kj_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = KJ_EV_ASSESSMENT;
    ev.ts = ts;
    snprintf(ev.employee, sizeof ev.employee, "e1");
    ck_assert(kj_period_parse(period, strlen(period), &ev.period));
    memset(ev.behaviour, level, KJ_BEHAVIOURS);
    return ev;
}

static uint8_t stored_level(kj_store *s, const char *period)
{
    kj_period p;
    ck_assert(kj_period_parse(period, strlen(period), &p));
    uint8_t key[KJ_ASSESS_KEY_MAX];
    size_t klen = kj_assess_key(key, "e1", &p);
    kj_store_reader *r;
    ck_assert_int_eq(kj_store_reader_begin(s, &r), KJ_OK);
    const void *v;
    size_t vlen;
    uint8_t level = 0;
    kj_assessment a;
    if (kj_store_reader_get_agg(r, key, klen, &v, &vlen) == KJ_OK) {
        ck_assert_int_eq(kj_assess_decode(v, vlen, &a), KJ_OK);
        level = a.behaviour[0];
    }
    kj_store_reader_end(r);
    return level;
}

START_TEST(test_assess_latest_by_time)
{
    char dir[] = "/tmp/kj-test-assess-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    kj_store_opts o = {dir, 16ULL << 20, false, false};
    kj_store *s;
    char msg[256];
    ck_assert_int_eq(kj_store_open(&o, &s, msg, sizeof msg), KJ_OK);
    kj_store_txn *t;
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    kj_event late = assessment(2000, KJ_LEVEL_ABOVE, "2026-12");
    kj_event early = assessment(1000, KJ_LEVEL_BELOW, "2026-12");
    kj_event other = assessment(500, KJ_LEVEL_MEETS, "2026-Q4");
    ck_assert_int_eq(kj_assess_put(t, &late), KJ_OK);
    ck_assert_int_eq(kj_assess_put(t, &early), KJ_OK); /* arrives later, older by time */
    ck_assert_int_eq(kj_assess_put(t, &other), KJ_OK);
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    ck_assert_int_eq(stored_level(s, "2026-12"), KJ_LEVEL_ABOVE);
    ck_assert_int_eq(stored_level(s, "2026-Q4"), KJ_LEVEL_MEETS);
    ck_assert_int_eq(stored_level(s, "2026"), 0);
    /* equal times: the later stored counts (the raw log's order) */
    kj_event same = assessment(2000, KJ_LEVEL_MEETS, "2026-12");
    ck_assert_int_eq(kj_store_begin(s, &t), KJ_OK);
    ck_assert_int_eq(kj_assess_put(t, &same), KJ_OK);
    ck_assert_int_eq(kj_store_commit(t), KJ_OK);
    ck_assert_int_eq(stored_level(s, "2026-12"), KJ_LEVEL_MEETS);
    kj_store_close(s);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rapor");
    TCase *tc = tcase_create("rapor");
    tcase_add_test(tc, test_predikat_every_cell);
    tcase_add_test(tc, test_perilaku_every_vector);
    tcase_add_test(tc, test_hasil_every_mix);
    tcase_add_test(tc, test_indicator_level_generated);
    tcase_add_test(tc, test_period_days);
    tcase_add_test(tc, test_period_parse);
    tcase_add_test(tc, test_period_span_jakarta);
    tcase_add_test(tc, test_assess_latest_by_time);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
