/* Unit tests of client/office.c: the simulated office keeps the hours of a
 * kecamatan, its queue drains (wait p90 of a day between 5 and 30 minutes,
 * with a visible morning peak) and citizens rate it mostly B (SPEC §4 IKM). */
#include <check.h>

#include "clock.h"
#include "office.h"
#include "tzclock.h"

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

/* The simulator's hours are in the configured zone (kj_tz_local, as
 * kinerja simulate calls it), not in UTC: a week swept minute by minute in
 * UTC opens at 08:00 local every working day, closes for lunch 12:00-13:00,
 * on Friday runs to 16:30 with the prayer break, and stays shut on Saturday
 * and Sunday. The local time is counted independently from the zone's
 * known offset: Asia/Jayapura is UTC+9 all year; America/New_York moves
 * from UTC-5 to UTC-4 on Sunday 2026-03-08, inside the week swept. */
static void week_in_zone(const char *zone, int64_t monday_utc_midnight, int64_t offset_h_before,
                         int64_t offset_h_after, int64_t switch_utc)
{
    kj_tz *tz;
    ck_assert_int_eq(kj_tz_load(zone, &tz), KJ_OK);
    int64_t opened[7] = {0}, open_min[7] = {0}, first[7], last[7];
    bool at_lunch = false, at_prayer = false;
    for (int i = 0; i < 7; i++)
        first[i] = -1, last[i] = -1;
    for (int64_t t = monday_utc_midnight - 2 * KJ_DAY_MS; t < monday_utc_midnight + 8 * KJ_DAY_MS;
         t += KJ_MINUTE_MS) {
        int64_t off = (t < switch_utc ? offset_h_before : offset_h_after) * KJ_HOUR_MS;
        int64_t local = t + off, ms;
        int wd = kj_tz_local(tz, t, &ms);
        ck_assert_int_eq(ms, local % KJ_DAY_MS);
        ck_assert_int_eq(wd, (int)((kj_floor_div(local, KJ_DAY_MS) + 4) % 7));
        if (!kj_office_open(wd, ms)) continue;
        if (t < monday_utc_midnight || t >= monday_utc_midnight + 7 * KJ_DAY_MS) continue;
        open_min[wd]++;
        if (first[wd] < 0) first[wd] = ms;
        last[wd] = ms;
        opened[wd] = 1;
        at_lunch |= wd != 5 && ms >= 12 * KJ_HOUR_MS && ms < 13 * KJ_HOUR_MS;
        at_prayer |= wd == 5 && ms >= 11 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS && ms < 13 * KJ_HOUR_MS;
    }
    ck_assert_msg(!opened[0] && !opened[6], "%s: open at the weekend", zone);
    for (int wd = 1; wd <= 5; wd++) {
        ck_assert_msg(first[wd] == 8 * KJ_HOUR_MS, "%s weekday %d opens at %lld min", zone, wd,
                      (long long)first[wd] / KJ_MINUTE_MS);
        int64_t close = wd == 5 ? 16 * KJ_HOUR_MS + 30 * KJ_MINUTE_MS : 16 * KJ_HOUR_MS;
        ck_assert_int_eq(last[wd], close - KJ_MINUTE_MS);
        /* 8 h less the lunch hour; Friday 8.5 h less 11:30-13:00 */
        ck_assert_int_eq(open_min[wd], 7 * 60);
    }
    ck_assert(!at_lunch && !at_prayer);
    kj_tz_free(tz);
}

START_TEST(test_hours_in_the_zone)
{
    /* Monday 2026-03-09 00:00 local */
    int64_t monday = kj_tz_days_from_civil(2026, 3, 9) * KJ_DAY_MS;
    week_in_zone("Asia/Jayapura", monday - 9 * KJ_HOUR_MS, 9, 9, 0);
    /* DST in America/New_York: 2026-03-08 02:00 EST = 07:00 UTC */
    int64_t dst = kj_tz_days_from_civil(2026, 3, 8) * KJ_DAY_MS + 7 * KJ_HOUR_MS;
    week_in_zone("America/New_York", monday + 4 * KJ_HOUR_MS, -5, -4, dst);
    /* the office's 08:00 in Jayapura is 23:00 UTC the evening before */
    kj_tz *tz;
    ck_assert_int_eq(kj_tz_load("Asia/Jayapura", &tz), KJ_OK);
    int64_t ms;
    int64_t sunday_23z = monday - KJ_HOUR_MS;
    ck_assert_int_eq(kj_tz_local(tz, sunday_23z, &ms), 1);
    ck_assert(kj_office_open(1, ms));
    ck_assert_int_eq(kj_tz_local(tz, sunday_23z - KJ_MINUTE_MS, &ms), 1); /* 07:59 */
    ck_assert(!kj_office_open(1, ms));
    ck_assert_int_eq(kj_tz_local(tz, sunday_23z - 10 * KJ_HOUR_MS, &ms), 0); /* Sun 22:00 */
    ck_assert(!kj_office_open(0, ms));
    kj_tz_free(tz);
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
    tcase_add_test(tc, test_hours_in_the_zone);
    tcase_add_test(tc, test_a_day);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
