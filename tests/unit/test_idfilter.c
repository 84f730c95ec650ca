/* Unit tests of the filter in front of the id index (daemon/store/idfilter.h):
 * it never says "no" of an id or family it was given, whatever its size, and
 * at ten bits an id it says "no" of nearly every other. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/idfilter.h"

#define IDS 100000

/* Families as kj_idruns_family makes them (unit '\0' stem '\0' width), a
 * hundred of them; numbers spread like random ids' digits. */
static size_t family(uint8_t *fam, unsigned i)
{
    int n = snprintf((char *)fam, 64, "u%u", i % 7);
    fam[n++] = 0;
    n += snprintf((char *)fam + n, 48, "client-%u-", i % 100);
    fam[n++] = 0;
    fam[n++] = 6;
    return (size_t)n;
}

static uint64_t number(unsigned i)
{
    return (uint64_t)i * 2654435761u % 1000000007u;
}

START_TEST(no_id_given_is_called_new)
{
    kj_idfilter *f = kj_idfilter_new(IDS * 10 / 8);
    uint8_t fam[128];
    for (unsigned i = 0; i < IDS; i++)
        kj_idfilter_add(f, fam, family(fam, i), number(i));
    ck_assert_uint_eq(kj_idfilter_added(f), IDS);
    for (unsigned i = 0; i < IDS; i++)
        ck_assert(kj_idfilter_may_have(f, fam, family(fam, i), number(i)));
    unsigned maybe = 0;
    for (unsigned i = IDS; i < 2 * IDS; i++)
        maybe += kj_idfilter_may_have(f, fam, family(fam, i), number(i));
    /* blocked, four bits, ten bits an id: about 1.3 % */
    ck_assert_msg(maybe < IDS / 40, "%u of %d new ids called maybe", maybe, IDS);
    kj_idfilter_free(f);
}
END_TEST

START_TEST(a_family_holds_every_number)
{
    kj_idfilter *f = kj_idfilter_new(1 << 16);
    uint8_t fam[128];
    size_t flen = family(fam, 42);
    kj_idfilter_add_family(f, fam, flen);
    for (uint64_t num = 0; num < 1000; num++)
        ck_assert(kj_idfilter_may_have(f, fam, flen, num * 7919));
    unsigned maybe = 0;
    for (unsigned i = 0; i < 1000; i++)
        if (i % 100 != 42) maybe += kj_idfilter_may_have(f, fam, family(fam, i), number(i));
    ck_assert_uint_lt(maybe, 10);
    kj_idfilter_free(f);
}
END_TEST

/* Smaller than one block: no filter; one block holding far too many ids
 * still calls none of them new. */
START_TEST(a_full_filter_only_says_maybe)
{
    uint8_t fam[128];
    ck_assert_ptr_null(kj_idfilter_new(63));
    ck_assert(kj_idfilter_may_have(NULL, fam, family(fam, 1), 1));
    kj_idfilter_add(NULL, fam, family(fam, 1), 1);
    kj_idfilter *f = kj_idfilter_new(64);
    ck_assert_ptr_nonnull(f);
    for (unsigned i = 0; i < 1000; i++)
        kj_idfilter_add(f, fam, family(fam, i), number(i));
    for (unsigned i = 0; i < 1000; i++)
        ck_assert(kj_idfilter_may_have(f, fam, family(fam, i), number(i)));
    kj_idfilter_free(f);
}
END_TEST

/* A renewed filter takes the old one's place: its bits, its families and
 * its count, the same object for the threads that ask for the count. */
START_TEST(a_filter_takes_another_ones_bits)
{
    kj_idfilter *f = kj_idfilter_new(4096), *next = kj_idfilter_new(4096);
    ck_assert_uint_eq(kj_idfilter_capacity(f), 4096 * 8 / 10);
    ck_assert_uint_eq(kj_idfilter_capacity(NULL), 0);
    uint8_t fam[128];
    for (unsigned i = 0; i < 300; i++)
        kj_idfilter_add(f, fam, family(fam, i), number(i));
    kj_idfilter_add(next, fam, family(fam, 1000), number(1000));
    kj_idfilter_add_family(next, fam, family(fam, 1001));
    kj_idfilter_take(f, next);
    ck_assert_uint_eq(kj_idfilter_added(f), 2);
    ck_assert(kj_idfilter_may_have(f, fam, family(fam, 1000), number(1000)));
    ck_assert(kj_idfilter_may_have(f, fam, family(fam, 1001), 42)); /* the family */
    unsigned maybe = 0; /* the old ids are gone (none of them is of that family) */
    for (unsigned i = 0; i < 300; i++)
        maybe += kj_idfilter_may_have(f, fam, family(fam, i), number(i));
    ck_assert_uint_lt(maybe, 3);
    kj_idfilter_free(f);
}
END_TEST

static Suite *idfilter_suite(void)
{
    Suite *s = suite_create("idfilter");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, no_id_given_is_called_new);
    tcase_add_test(tc, a_family_holds_every_number);
    tcase_add_test(tc, a_full_filter_only_says_maybe);
    tcase_add_test(tc, a_filter_takes_another_ones_bits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(idfilter_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
