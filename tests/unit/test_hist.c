/* Unit tests of daemon/metrics/hist.c: accuracy against exact nearest-rank percentiles,
 * merge and subtract, and the serialised form. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "metrics/hist.h"

/* A small deterministic generator so that failures reproduce. */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rnd01(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t exact_rank(int64_t *sorted, size_t n, unsigned pct)
{
    size_t rank = (pct * n + 99) / 100;
    if (rank < 1) rank = 1;
    return sorted[rank - 1];
}

/* Checks p1..p100, count, sum and max of h against the values. */
static void check_against(kj_hist *h, int64_t *vals, size_t n, const char *what)
{
    int64_t *s = malloc(n * sizeof *s);
    memcpy(s, vals, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp64);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (uint64_t)s[i];
    ck_assert_uint_eq(kj_hist_count(h), n);
    ck_assert_uint_eq(kj_hist_sum(h), sum);
    ck_assert_int_eq(kj_hist_max(h), s[n - 1]);
    for (unsigned p = 1; p <= 100; p++) {
        int64_t want = exact_rank(s, n, p), got = kj_hist_percentile(h, p);
        int64_t err = got > want ? got - want : want - got;
        int64_t allowed = want / 100 > 1 ? want / 100 : 1;
        ck_assert_msg(err <= allowed, "%s: p%u got %lld want %lld", what, p, (long long)got,
                      (long long)want);
    }
    free(s);
}

static void fill_and_check(int64_t *vals, size_t n, const char *what)
{
    kj_hist h = KJ_HIST_INIT;
    for (size_t i = 0; i < n; i++)
        kj_hist_add(&h, vals[i]);
    check_against(&h, vals, n, what);
    kj_hist_reset(&h);
}

START_TEST(test_random_uniform)
{
    size_t n = 20000;
    int64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (int64_t)(rnd() % (uint64_t)KJ_DAY_MS);
    fill_and_check(v, n, "uniform 0..24h");
    for (size_t i = 0; i < n; i++)
        v[i] = (int64_t)(rnd() % 2000);
    fill_and_check(v, n, "uniform 0..2s");
    free(v);
}
END_TEST

START_TEST(test_random_log_uniform)
{
    for (int round = 0; round < 20; round++) {
        size_t n = 1 + rnd() % 5000;
        int64_t *v = malloc(n * sizeof *v);
        for (size_t i = 0; i < n; i++)
            v[i] = (int64_t)exp(rnd01() * log((double)KJ_DAY_MS * 2));
        fill_and_check(v, n, "log-uniform");
        free(v);
    }
}
END_TEST

START_TEST(test_adversarial)
{
    size_t n = 10001;
    int64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = 0;
    fill_and_check(v, n, "all zero");
    for (size_t i = 0; i < n; i++)
        v[i] = 123457;
    fill_and_check(v, n, "constant");
    for (size_t i = 0; i < n; i++)
        v[i] = KJ_DAY_MS;
    fill_and_check(v, n, "all 24h");
    for (size_t i = 0; i < n; i++)
        v[i] = i % 2 ? 5 : KJ_DAY_MS - 1;
    fill_and_check(v, n, "bimodal 5ms / 24h");
    for (size_t i = 0; i < n; i++)
        v[i] = i < n * 9 / 10 ? 1000 : 3600000 + (int64_t)i;
    fill_and_check(v, n, "90/10 split");
    for (size_t i = 0; i < n; i++) /* Pareto, alpha 1.1: a heavy tail */
        v[i] = (int64_t)(100.0 / pow(1.0 - rnd01(), 1.0 / 1.1));
    fill_and_check(v, n, "heavy tail");
    for (size_t i = 0; i < n; i++) /* every cell boundary neighbourhood */
        v[i] = ((int64_t)1 << (i % 27)) - 1 + (int64_t)(i % 3);
    fill_and_check(v, n, "powers of two");
    v[0] = 777;
    fill_and_check(v, 1, "single value");
    v[0] = KJ_DAY_MS + 1;
    fill_and_check(v, 1, "single 24h+");
    v[0] = 3;
    v[1] = 1000000;
    fill_and_check(v, 2, "two values");
    free(v);
}
END_TEST

START_TEST(test_empty_and_clamp)
{
    kj_hist h = KJ_HIST_INIT;
    ck_assert_int_eq(kj_hist_percentile(&h, 50), 0);
    ck_assert_uint_eq(kj_hist_count(&h), 0);
    kj_hist_add(&h, -5);
    ck_assert_int_eq(kj_hist_max(&h), 0);
    kj_hist_add(&h, INT64_MAX);
    ck_assert_int_eq(kj_hist_max(&h), KJ_HIST_MAX_VALUE - 1);
    ck_assert_int_eq(kj_hist_percentile(&h, 100), KJ_HIST_MAX_VALUE - 1);
    kj_hist_reset(&h);
}
END_TEST

START_TEST(test_merge_sub)
{
    kj_hist a = KJ_HIST_INIT, b = KJ_HIST_INIT, both = KJ_HIST_INIT, m = KJ_HIST_INIT;
    size_t n = 3000;
    int64_t *v = malloc(2 * n * sizeof *v);
    for (size_t i = 0; i < 2 * n; i++) {
        v[i] = (int64_t)exp(rnd01() * log(3600000.0));
        kj_hist_add(i < n ? &a : &b, v[i]);
        kj_hist_add(&both, v[i]);
    }
    kj_hist_merge(&m, &a);
    kj_hist_merge(&m, &b);
    ck_assert(kj_hist_equal(&m, &both));
    check_against(&m, v, 2 * n, "merged");

    bool lost = kj_hist_sub(&m, &b);
    if (kj_hist_max(&b) >= kj_hist_max(&a)) {
        ck_assert(lost);
        kj_hist_set_max(&m, kj_hist_max(&a));
    }
    ck_assert(kj_hist_equal(&m, &a));
    check_against(&m, v, n, "after subtract");

    /* Subtracting everything leaves an empty hist without storage. */
    kj_hist_sub(&m, &a);
    ck_assert_uint_eq(kj_hist_count(&m), 0);
    ck_assert_uint_eq(kj_hist_heap_bytes(&m), 0);

    /* Subtracting a part that does not hold the max keeps max exact. */
    kj_hist small = KJ_HIST_INIT;
    kj_hist_add(&small, 1);
    kj_hist_merge(&m, &a);
    kj_hist_add(&m, 1);
    ck_assert(!kj_hist_sub(&m, &small));
    ck_assert(kj_hist_equal(&m, &a));
    kj_hist_reset(&a);
    kj_hist_reset(&b);
    kj_hist_reset(&both);
    kj_hist_reset(&m);
    kj_hist_reset(&small);
    free(v);
}
END_TEST

/* Values of one shape: none, a few, a narrow range (dense), a wide one
 * (sparse), or a narrow range far from the others (dense, elsewhere). */
static size_t shape_values(int shape, int64_t *v)
{
    size_t n = shape == 0 ? 0 : shape == 1 ? 1 + rnd() % 4 : 50 + rnd() % 400;
    for (size_t i = 0; i < n; i++) {
        switch (shape) {
        case 1: v[i] = (int64_t)(rnd() % 3) * 5000; break;
        case 2: v[i] = 200 + (int64_t)(rnd() % 600); break;
        case 3: v[i] = (int64_t)exp(rnd01() * log(3600000.0)); break;
        default: v[i] = 500000 + (int64_t)(rnd() % 40000); break;
        }
    }
    return n;
}

/* Every pair of shapes merged, either way round and onto itself grown by
 * adds, equals the hist of all the values added one by one: merging takes
 * a different way for an empty, a dense and a sparse hist. */
START_TEST(test_merge_shapes)
{
    int64_t a_v[512], b_v[512], all[1024];
    for (int trial = 0; trial < 40; trial++) {
        for (int sa = 0; sa < 5; sa++) {
            for (int sb = 0; sb < 5; sb++) {
                size_t na = shape_values(sa, a_v), nb = shape_values(sb, b_v);
                kj_hist a = KJ_HIST_INIT, b = KJ_HIST_INIT, want = KJ_HIST_INIT;
                for (size_t i = 0; i < na; i++) {
                    kj_hist_add(&a, a_v[i]);
                    kj_hist_add(&want, a_v[i]);
                    all[i] = a_v[i];
                }
                for (size_t i = 0; i < nb; i++) {
                    kj_hist_add(&b, b_v[i]);
                    kj_hist_add(&want, b_v[i]);
                    all[na + i] = b_v[i];
                }
                kj_hist_merge(&a, &b);
                ck_assert_msg(kj_hist_equal(&a, &want), "shapes %d + %d", sa, sb);
                if (na + nb) check_against(&a, all, na + nb, "merged shapes");
                /* the merged hist still takes adds where they belong */
                kj_hist_add(&a, 7);
                kj_hist_add(&want, 7);
                ck_assert(kj_hist_equal(&a, &want));
                kj_hist_reset(&a);
                kj_hist_reset(&b);
                kj_hist_reset(&want);
            }
        }
    }
}
END_TEST

START_TEST(test_copy)
{
    kj_hist a = KJ_HIST_INIT, c = KJ_HIST_INIT;
    for (int i = 0; i < 500; i++)
        kj_hist_add(&a, i * 37);
    kj_hist_copy(&c, &a);
    ck_assert(kj_hist_equal(&a, &c));
    kj_hist_add(&c, 5);
    ck_assert(!kj_hist_equal(&a, &c));
    kj_hist_reset(&a);
    kj_hist_reset(&c);
}
END_TEST

static void round_trip(kj_hist *h)
{
    uint8_t *buf = malloc(KJ_HIST_ENCODED_MAX);
    size_t n = kj_hist_encode(h, buf);
    ck_assert_uint_eq(n, kj_hist_encoded_size(h));
    kj_hist d = KJ_HIST_INIT;
    size_t used = 0;
    ck_assert_int_eq(kj_hist_decode(&d, buf, n, &used), KJ_OK);
    ck_assert_uint_eq(used, n);
    ck_assert(kj_hist_equal(h, &d));
    uint64_t count, sum;
    int64_t max;
    ck_assert_int_eq(kj_hist_decode_summary(buf, n, &count, &sum, &max, &used), KJ_OK);
    ck_assert_uint_eq(used, n);
    ck_assert_uint_eq(count, kj_hist_count(h));
    ck_assert_uint_eq(sum, kj_hist_sum(h));
    ck_assert_int_eq(max, kj_hist_max(h));
    /* Every truncation is refused, never read past the end. */
    for (size_t cut = 0; cut < n; cut++)
        ck_assert_int_ne(kj_hist_decode(&d, buf, cut, &used), KJ_OK);
    kj_hist_reset(&d);
    free(buf);
}

START_TEST(test_serialise)
{
    kj_hist h = KJ_HIST_INIT;
    round_trip(&h);
    kj_hist_add(&h, 42);
    round_trip(&h);
    ck_assert_uint_le(kj_hist_encoded_size(&h), 2);
    kj_hist_add(&h, KJ_DAY_MS);
    round_trip(&h);
    for (int i = 0; i < 5000; i++) /* dense form */
        kj_hist_add(&h, (int64_t)(rnd() % 600000));
    round_trip(&h);
    kj_hist_add(&h, KJ_HIST_MAX_VALUE + 5);
    round_trip(&h);
    kj_hist_reset(&h);
}
END_TEST

START_TEST(test_decode_garbage)
{
    uint8_t buf[64];
    kj_hist h = KJ_HIST_INIT;
    size_t used;
    for (int round = 0; round < 20000; round++) {
        size_t n = rnd() % sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rnd();
        if (kj_hist_decode(&h, buf, n, &used) == KJ_OK) ck_assert_uint_le(used, n);
    }
    /* count 3 but cells sum to 2 */
    uint8_t bad[] = {3, 10, 5, 2, 4, 1, 1, 4, 1};
    ck_assert_int_eq(kj_hist_decode(&h, bad, sizeof bad, &used), KJ_ERR_DECODE);
    kj_hist_reset(&h);
}
END_TEST

/* Merging from the encoded form gives what decode + merge gives, into one
 * target or two at once, for empty, single, sparse and dense hists. */
START_TEST(test_merge_encoded)
{
    static const int sizes[] = {0, 1, 2, 30, 5000};
    uint8_t *buf = malloc(KJ_HIST_ENCODED_MAX);
    kj_hist a = KJ_HIST_INIT, b = KJ_HIST_INIT, want = KJ_HIST_INIT, src = KJ_HIST_INIT;
    kj_hist dec = KJ_HIST_INIT;
    kj_hist_add(&a, 7); /* targets that already hold something */
    kj_hist_add(&want, 7);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        kj_hist_reset(&src);
        for (int i = 0; i < sizes[k]; i++)
            kj_hist_add(&src, (int64_t)(rnd() % (k % 2 ? 600000 : 3 * KJ_DAY_MS)));
        size_t n = kj_hist_encode(&src, buf), used = 0;
        ck_assert_int_eq(kj_hist_decode(&dec, buf, n, &used), KJ_OK);
        kj_hist_merge(&want, &dec);
        ck_assert_int_eq(kj_hist_merge_encoded(&a, &b, buf, n, &used), KJ_OK);
        ck_assert_uint_eq(used, n);
        ck_assert(kj_hist_equal(&a, &want));
        ck_assert_int_eq(kj_hist_merge_encoded(NULL, NULL, buf, n, &used), KJ_OK);
    }
    ck_assert_uint_eq(kj_hist_count(&b) + 1, kj_hist_count(&a));
    /* count 3 but cells sum to 2: refused */
    uint8_t bad[] = {3, 10, 5, 2, 4, 1, 1, 4, 1};
    size_t used;
    ck_assert_int_eq(kj_hist_merge_encoded(NULL, &b, bad, sizeof bad, &used), KJ_ERR_DECODE);
    free(buf);
    kj_hist_reset(&a);
    kj_hist_reset(&b);
    kj_hist_reset(&want);
    kj_hist_reset(&src);
    kj_hist_reset(&dec);
}
END_TEST

START_TEST(test_compact)
{
    /* A single value costs no heap beyond one small array and 2 bytes encoded. */
    kj_hist h = KJ_HIST_INIT;
    kj_hist_add(&h, 300000);
    ck_assert_uint_le(kj_hist_heap_bytes(&h), 12);
    ck_assert_uint_le(kj_hist_encoded_size(&h), 4);
    kj_hist_reset(&h);
}
END_TEST

/* The kept encoding is the plain one, byte for byte, whatever changed in
 * between: adds in one segment or many, cells emptied by a subtraction, a
 * range widened on either side, merges, copies and resets. */
static bool check_kept(kj_hist *h, uint8_t *plain, uint8_t *kept)
{
    size_t n = kj_hist_encode(h, plain);
    ck_assert_uint_eq(kj_hist_encode_kept(h, kept), n);
    ck_assert_mem_eq(kept, plain, n);
    kj_hist bare = KJ_HIST_INIT; /* a copy keeps nothing: less heap when h keeps its list */
    kj_hist_copy(&bare, h);
    bool keeps = kj_hist_heap_bytes(h) > kj_hist_heap_bytes(&bare);
    kj_hist_reset(&bare);
    return keeps;
}

static int64_t kept_value(void)
{
    switch (rnd() % 4) {
    case 0: return (int64_t)(rnd() % 128);           /* the linear cells */
    case 1: return 1000 + (int64_t)(rnd() % 3000);   /* a few segments */
    case 2: return (int64_t)(rnd() % 1800000);       /* a wait of up to 30 min */
    default: return (int64_t)1 << (10 + rnd() % 30); /* far apart */
    }
}

START_TEST(test_encode_kept)
{
    uint8_t *plain = malloc(KJ_HIST_ENCODED_MAX), *kept = malloc(KJ_HIST_ENCODED_MAX);
    kj_hist h = KJ_HIST_INIT, other = KJ_HIST_INIT, copy = KJ_HIST_INIT;
    unsigned kept_rounds = 0;
    for (int round = 0; round < 4000; round++) {
        unsigned op = (unsigned)(rnd() % 16), adds = 1 + (unsigned)(rnd() % 8);
        if (op < 10) { /* a group's adds */
            for (unsigned i = 0; i < adds; i++)
                kj_hist_add(&h, kept_value());
        } else if (op < 12) { /* a merge, then the same values taken out again */
            kj_hist_reset(&other);
            for (unsigned i = 0; i < 10 * adds; i++)
                kj_hist_add(&other, kept_value());
            kj_hist_merge(&h, &other);
            check_kept(&h, plain, kept);
            if (op == 11 && kj_hist_sub(&h, &other)) kj_hist_set_max(&h, kj_hist_max(&h));
        } else if (op == 12) { /* a copy has its own: both stay right */
            kj_hist_copy(&copy, &h);
            check_kept(&copy, plain, kept);
            kj_hist_add(&copy, kept_value());
            check_kept(&copy, plain, kept);
        } else if (op == 13 && rnd() % 64 == 0) {
            kj_hist_reset(&h);
        } else if (op == 14) { /* into the top cell and the lowest */
            kj_hist_add(&h, KJ_HIST_MAX_VALUE - 1);
            kj_hist_add(&h, 0);
        }
        kept_rounds += check_kept(&h, plain, kept);
    }
    ck_assert_uint_gt(kept_rounds, 2000); /* the kept path was taken, not only the plain one */
    kj_hist_reset(&h);
    kj_hist_reset(&other);
    kj_hist_reset(&copy);
    ck_assert_uint_eq(kj_hist_heap_bytes(&h), 0);
    free(plain);
    free(kept);
}
END_TEST

/* A busy minute's hist: hundreds of cells kept, one add re-encodes one
 * segment, and the result decodes to the same hist. */
START_TEST(test_encode_kept_busy)
{
    uint8_t *buf = malloc(KJ_HIST_ENCODED_MAX);
    kj_hist h = KJ_HIST_INIT;
    for (int i = 0; i < 20000; i++)
        kj_hist_add(&h, (int64_t)(rnd() % 1800000));
    for (int i = 0; i < 200; i++) {
        kj_hist_add(&h, (int64_t)(rnd() % 1800000));
        size_t n = kj_hist_encode_kept(&h, buf), used = 0;
        kj_hist d = KJ_HIST_INIT;
        ck_assert_int_eq(kj_hist_decode(&d, buf, n, &used), KJ_OK);
        ck_assert_uint_eq(used, n);
        ck_assert(kj_hist_equal(&h, &d));
        kj_hist_reset(&d);
    }
    kj_hist_reset(&h);
    free(buf);
}
END_TEST

static Suite *hist_suite(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_random_uniform);
    tcase_add_test(tc, test_random_log_uniform);
    tcase_add_test(tc, test_adversarial);
    tcase_add_test(tc, test_empty_and_clamp);
    tcase_add_test(tc, test_merge_sub);
    tcase_add_test(tc, test_merge_shapes);
    tcase_add_test(tc, test_copy);
    tcase_add_test(tc, test_serialise);
    tcase_add_test(tc, test_decode_garbage);
    tcase_add_test(tc, test_compact);
    tcase_add_test(tc, test_merge_encoded);
    tcase_add_test(tc, test_encode_kept);
    tcase_add_test(tc, test_encode_kept_busy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
