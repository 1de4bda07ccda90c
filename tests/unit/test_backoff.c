/*
 * test_backoff.c -- unit tests of backoff.c: the exponential ceiling and
 * its cap, full-jitter bounds with pinned and real random sources,
 * overflow safety for any attempt number, and Retry-After parsing in the
 * delta-seconds and all three HTTP-date forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "sp_int.h"

/* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example). */
#define RFC_DATE_UNIX 784111777

/* ---- random sources with a pinned answer ----------------------------- */

static uint64_t
rnd_fixed(void *ctx)
{
    return *(const uint64_t *)ctx;
}

/* ---- ceiling ---------------------------------------------------------- */

static void
test_ceiling_doubles_then_caps(void **state)
{
    (void)state;
    assert_int_equal(sp_backoff_ceiling_ms(0, 1000, 300000), 1000);
    assert_int_equal(sp_backoff_ceiling_ms(1, 1000, 300000), 2000);
    assert_int_equal(sp_backoff_ceiling_ms(2, 1000, 300000), 4000);
    assert_int_equal(sp_backoff_ceiling_ms(8, 1000, 300000), 256000);
    assert_int_equal(sp_backoff_ceiling_ms(9, 1000, 300000), 300000);
    assert_int_equal(sp_backoff_ceiling_ms(10, 1000, 300000), 300000);
    assert_int_equal(sp_backoff_ceiling_ms(0, 50, 50), 50);
    assert_int_equal(sp_backoff_ceiling_ms(5, 1, 1), 1);
}

static void
test_ceiling_is_monotonic_and_bounded(void **state)
{
    static const int64_t bases[] = {1, 7, 1000, 123456, INT64_MAX / 3};
    static const int64_t maxes[] = {1, 1000, 300000, INT32_MAX, INT64_MAX};

    (void)state;
    for (size_t b = 0; b < SP_ARRAY_LEN(bases); b++) {
        for (size_t m = 0; m < SP_ARRAY_LEN(maxes); m++) {
            int64_t prev = 0;

            for (unsigned a = 0; a < 200; a++) {
                int64_t c = sp_backoff_ceiling_ms(a, bases[b], maxes[m]);

                assert_true(c >= prev);
                assert_true(c <= maxes[m]);
                assert_true(c >= (bases[b] < maxes[m] ? bases[b]
                                                      : maxes[m]));
                prev = c;
            }
        }
    }
}

static void
test_ceiling_overflow_safety(void **state)
{
    (void)state;
    /* Attempt numbers far past any shift width. */
    assert_int_equal(sp_backoff_ceiling_ms(63, 1000, 300000), 300000);
    assert_int_equal(sp_backoff_ceiling_ms(64, 1000, 300000), 300000);
    assert_int_equal(sp_backoff_ceiling_ms(1000, 1000, 300000), 300000);
    assert_int_equal(sp_backoff_ceiling_ms(UINT_MAX, 1000, 300000), 300000);
    assert_int_equal(sp_backoff_ceiling_ms(UINT_MAX, 1, INT64_MAX),
                     INT64_MAX);
    /* base * 2 would overflow int64_t. */
    assert_int_equal(sp_backoff_ceiling_ms(1, INT64_MAX / 2 + 1, INT64_MAX),
                     INT64_MAX);
    assert_int_equal(sp_backoff_ceiling_ms(62, 1, INT64_MAX),
                     (int64_t)1 << 62);
    /* Degenerate configurations. */
    assert_int_equal(sp_backoff_ceiling_ms(3, 5000, 1000), 1000);
    assert_int_equal(sp_backoff_ceiling_ms(3, -5, 1000), 0);
    assert_int_equal(sp_backoff_ceiling_ms(3, 10, -1), 0);
}

/* ---- full jitter ------------------------------------------------------ */

static void
test_jitter_pinned_bounds(void **state)
{
    uint64_t v;

    (void)state;
    v = 0;
    assert_int_equal(sp_backoff_delay_ms(4, 100, 10000, rnd_fixed, &v), 0);
    /* The ceiling itself is reachable: the range is closed. */
    v = 1600;
    assert_int_equal(sp_backoff_delay_ms(4, 100, 10000, rnd_fixed, &v),
                     1600);
    v = 1601;
    assert_int_equal(sp_backoff_delay_ms(4, 100, 10000, rnd_fixed, &v), 0);
    v = UINT64_MAX;
    for (unsigned a = 0; a < 100; a++) {
        int64_t d = sp_backoff_delay_ms(a, 100, 10000, rnd_fixed, &v);

        assert_true(d >= 0);
        assert_true(d <= sp_backoff_ceiling_ms(a, 100, 10000));
    }
    v = UINT64_MAX;
    assert_true(sp_backoff_delay_ms(UINT_MAX, 1, INT64_MAX, rnd_fixed, &v) >=
                0);
    /* A zero ceiling never divides by zero. */
    assert_int_equal(sp_backoff_delay_ms(7, 0, 0, rnd_fixed, &v), 0);
}

static void
test_jitter_covers_the_whole_range(void **state)
{
    uint64_t seed = 42;

    (void)state;
    for (unsigned a = 0; a < 12; a++) {
        int64_t ceiling = sp_backoff_ceiling_ms(a, 100, 100000);
        int64_t lo = INT64_MAX, hi = -1;
        double sum = 0;
        const int n = 20000;

        for (int i = 0; i < n; i++) {
            int64_t d = sp_backoff_delay_ms(a, 100, 100000,
                                            sp_rand_splitmix64, &seed);

            assert_true(d >= 0 && d <= ceiling);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            sum += (double)d;
        }
        /* Full jitter: from (about) 0 to (about) the ceiling, mean half. */
        assert_true(lo <= ceiling / 50);
        assert_true(hi >= ceiling - ceiling / 50);
        assert_true(sum / n > ceiling * 0.45 && sum / n < ceiling * 0.55);
    }
}

static void
test_splitmix_differs_per_seed(void **state)
{
    uint64_t a = 1, b = 2;

    (void)state;
    assert_true(sp_rand_splitmix64(&a) != sp_rand_splitmix64(&b));
    assert_true(sp_rand_splitmix64(&a) != sp_rand_splitmix64(&a));
}

/* ---- Retry-After ------------------------------------------------------ */

static int64_t
ra(const char *v, int64_t now)
{
    int64_t ms = 12345;
    ctspool_rc rc = sp_retry_after_parse(v, now, &ms);

    if (rc != CTSPOOL_OK) {
        assert_int_equal(rc, CTSPOOL_E_INVALID);
        assert_int_equal(ms, -1);
        return -1;
    }
    assert_true(ms >= 0);
    return ms;
}

static void
test_retry_after_delta_seconds(void **state)
{
    (void)state;
    assert_int_equal(ra("120", 0), 120000);
    assert_int_equal(ra("0", 0), 0);
    assert_int_equal(ra("  7 \t", 0), 7000);
    assert_int_equal(ra("0001", 0), 1000);
    /* Absurd values saturate instead of overflowing. */
    assert_int_equal(ra("99999999999999999999999999", 0), INT64_MAX / 2 /
                                                             1000 * 1000);
    assert_true(ra("9223372036854775807", 0) > 0);
}

static void
test_retry_after_invalid(void **state)
{
    int64_t ms;

    (void)state;
    assert_int_equal(ra("", 0), -1);
    assert_int_equal(ra("   ", 0), -1);
    assert_int_equal(ra("-1", 0), -1);
    assert_int_equal(ra("+5", 0), -1);
    assert_int_equal(ra("1.5", 0), -1);
    assert_int_equal(ra("10s", 0), -1);
    assert_int_equal(ra("1 2", 0), -1);
    assert_int_equal(ra("soon", 0), -1);
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT tomorrow", 0), -1);
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37", 0), -1);
    assert_int_equal(ra("Sun, 31 Foo 1994 08:49:37 GMT", 0), -1);
    assert_int_equal(sp_retry_after_parse(NULL, 0, &ms), CTSPOOL_E_INVALID);
    assert_int_equal(ms, -1);
}

static void
test_retry_after_http_dates(void **state)
{
    (void)state;
    /* IMF-fixdate, 30 s ahead of now. */
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE_UNIX - 30),
                     30000);
    /* Obsolete RFC 850 and asctime forms name the same instant. */
    assert_int_equal(ra("Sunday, 06-Nov-94 08:49:37 GMT", RFC_DATE_UNIX - 30),
                     30000);
    assert_int_equal(ra("Sun Nov  6 08:49:37 1994", RFC_DATE_UNIX - 30),
                     30000);
    assert_int_equal(ra(" Sun, 06 Nov 1994 08:49:37 GMT ", RFC_DATE_UNIX - 1),
                     1000);
    /* Now or in the past: retry right away. */
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE_UNIX), 0);
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE_UNIX + 99),
                     0);
    /* A far-future date is a (large) delay, not an overflow. */
    assert_true(ra("Fri, 31 Dec 9999 23:59:59 GMT", 0) > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceiling_doubles_then_caps),
        cmocka_unit_test(test_ceiling_is_monotonic_and_bounded),
        cmocka_unit_test(test_ceiling_overflow_safety),
        cmocka_unit_test(test_jitter_pinned_bounds),
        cmocka_unit_test(test_jitter_covers_the_whole_range),
        cmocka_unit_test(test_splitmix_differs_per_seed),
        cmocka_unit_test(test_retry_after_delta_seconds),
        cmocka_unit_test(test_retry_after_invalid),
        cmocka_unit_test(test_retry_after_http_dates),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
