/* Unit tests of client/office.c: the simulated office keeps the hours of a
 * kecamatan, its queue drains (wait p90 of a day between 5 and 30 minutes,
 * with a visible morning peak) and citizens rate it mostly B (SPEC §4 IKM). */
#include <check.h>

#include "clock.h"
#include "office.h"

START_TEST(test_hours)
{
    for (int wd = 1; wd <= 4; wd++) {
        ck_assert(!kj_office_open(wd, 7 * KJ_HOUR_MS + 59 * KJ_MINUTE_MS));
        ck_assert(kj_office_open(wd, 8 * KJ_HOUR_MS));
        ck_assert(!kj_office_open(wd, 12 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS)); /* lunch */
        ck_assert(kj_office_open(wd, 13 * KJ_HOUR_MS));
        ck_assert(kj_office_open(wd, 15 * KJ_HOUR_MS + 59 * KJ_MINUTE_MS));
        ck_assert(!kj_office_open(wd, 16 * KJ_HOUR_MS));
        ck_assert(!kj_office_open(wd, 2 * KJ_HOUR_MS)); /* nobody served at night */
    }
    ck_assert(kj_office_open(5, 11 * KJ_HOUR_MS + 29 * KJ_MINUTE_MS));
    ck_assert(!kj_office_open(5, 11 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS)); /* Friday prayer */
    ck_assert(!kj_office_open(5, 12 * KJ_HOUR_MS + 59 * KJ_MINUTE_MS));
    ck_assert(kj_office_open(5, 16 * KJ_HOUR_MS + 29 * KJ_MINUTE_MS));
    ck_assert(!kj_office_open(5, 16 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS));
    ck_assert(!kj_office_open(0, 10 * KJ_HOUR_MS) && !kj_office_open(6, 10 * KJ_HOUR_MS));
    ck_assert(kj_office_arrivals_per_hour(1, 3 * KJ_HOUR_MS) == 0);
    ck_assert(kj_office_arrivals_per_hour(1, 9 * KJ_HOUR_MS) >
              kj_office_arrivals_per_hour(1, 15 * KJ_HOUR_MS));
}
END_TEST

START_TEST(test_a_day)
{
    for (int wd = 1; wd <= 5; wd++) {
        for (uint64_t seed = 1; seed <= 20; seed++) {
            kj_office_day d;
            kj_office_simulate_day(wd, 4, seed * 2654435761u, &d);
            ck_assert_uint_gt(d.arrivals, 150);
            ck_assert_uint_eq(d.outside_hours, 0);
            ck_assert_int_ge(d.first_arrival, 8 * KJ_HOUR_MS);
            ck_assert_int_lt(d.last_arrival,
                             (wd == 5 ? 16 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS : 16 * KJ_HOUR_MS));
            ck_assert_msg(d.wait_p90_ms >= 5 * KJ_MINUTE_MS && d.wait_p90_ms <= 30 * KJ_MINUTE_MS,
                          "weekday %d seed %llu: wait p90 %lld s", wd, (unsigned long long)seed,
                          (long long)d.wait_p90_ms / 1000);
            /* the morning rush shows, and the queue drains after it */
            ck_assert_msg(d.peak_hour >= 8 && d.peak_hour <= 11, "peak at %d", d.peak_hour);
            ck_assert_int_gt(d.peak_hour_p90_ms, d.wait_p90_ms);
            ck_assert_msg(d.ikm >= 76.61 && d.ikm < 88.31, "weekday %d seed %llu: IKM %.2f", wd,
                          (unsigned long long)seed, d.ikm);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("office");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hours);
    tcase_add_test(tc, test_a_day);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
