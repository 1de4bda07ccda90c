/*
 * test_buf.c -- struct sp_buf (buf.c): growth, the NUL after the
 * contents, sticky failure, sizes that would wrap, reset and reuse,
 * truncation, growth bounded by a maximum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sp_int.h"
#include "testutil.h"

static void
test_grows_and_terminates(void **state)
{
    struct sp_buf b;
    char big[1000];

    (void)state;
    sp_buf_init(&b);
    assert_null(b.p);
    assert_int_equal(sp_buf_adds(&b, "abc"), 0);
    assert_string_equal(b.p, "abc");
    assert_int_equal(b.len, 3);
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 100; i++) {
        assert_int_equal(sp_buf_add(&b, big, sizeof(big)), 0);
        assert_int_equal(b.p[b.len], '\0');
        assert_true(b.cap > b.len);
    }
    assert_int_equal(b.len, 3 + 100 * sizeof(big));
    assert_memory_equal(b.p, "abcxxx", 6);
    sp_buf_cleanup(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void
test_binary_and_empty(void **state)
{
    struct sp_buf b;
    const char bin[4] = {'a', '\0', 'b', '\0'};

    (void)state;
    sp_buf_init(&b);
    assert_int_equal(sp_buf_add(&b, NULL, 0), 0);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    assert_int_equal(sp_buf_add(&b, bin, sizeof(bin)), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.p, bin, 4);
    sp_buf_cleanup(&b);
}

static void
test_addf(void **state)
{
    struct sp_buf b;
    char want[600];

    (void)state;
    sp_buf_init(&b);
    assert_int_equal(sp_buf_addf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal(b.p, "42-x");
    /* Longer than the first allocation: the retry path. */
    memset(want, 'y', 500);
    want[500] = '\0';
    assert_int_equal(sp_buf_addf(&b, "%s", want), 0);
    assert_int_equal(b.len, 504);
    assert_string_equal(b.p + 4, want);
    sp_buf_cleanup(&b);
}

static void
test_wrap_refused_and_sticky(void **state)
{
    struct sp_buf b;

    (void)state;
    sp_buf_init(&b);
    assert_int_equal(sp_buf_adds(&b, "keep"), 0);
    assert_int_equal(sp_buf_reserve(&b, SIZE_MAX - 2), -1);
    assert_true(b.has_failed);
    /* Sticky: nothing more is added, the contents stay as they were. */
    assert_int_equal(sp_buf_adds(&b, "more"), -1);
    assert_int_equal(sp_buf_addf(&b, "%d", 1), -1);
    assert_string_equal(b.p, "keep");
    assert_int_equal(b.len, 4);
    assert_int_equal(sp_buf_reserve(&b, SIZE_MAX / 2), -1);
    /* Reset clears the failure and keeps the memory. */
    sp_buf_reset(&b);
    assert_false(b.has_failed);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    assert_int_equal(sp_buf_adds(&b, "again"), 0);
    assert_string_equal(b.p, "again");
    sp_buf_cleanup(&b);
}

static void
test_truncate(void **state)
{
    struct sp_buf b;

    (void)state;
    sp_buf_init(&b);
    sp_buf_truncate(&b, 0); /* nothing held, nothing allocated */
    assert_null(b.p);
    assert_int_equal(sp_buf_adds(&b, "abcdef"), 0);
    sp_buf_truncate(&b, 3);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.p, "abc");
    /* Never longer: the bytes after len are not the contents. */
    sp_buf_truncate(&b, 5);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.p, "abc");
    assert_int_equal(sp_buf_adds(&b, "xy"), 0);
    assert_string_equal(b.p, "abcxy");
    sp_buf_truncate(&b, 0);
    assert_string_equal(b.p, "");
    sp_buf_cleanup(&b);
}

static void
test_reserve_max(void **state)
{
    struct sp_buf b;
    char big[100];

    (void)state;
    sp_buf_init(&b);
    /* A first allocation no larger than max bytes and the NUL. */
    assert_int_equal(sp_buf_reserve_max(&b, 3, 10), 0);
    assert_int_equal(b.cap, 11);
    assert_string_equal(b.p, "");
    sp_buf_cleanup(&b);

    sp_buf_init(&b);
    memset(big, 'x', sizeof(big));
    assert_int_equal(sp_buf_reserve_max(&b, 100, 1000), 0);
    assert_int_equal(b.cap, 256); /* doubling as sp_buf_reserve() */
    assert_int_equal(sp_buf_add(&b, big, 100), 0);
    assert_int_equal(sp_buf_reserve_max(&b, 200, 1000), 0);
    assert_int_equal(b.cap, 512);
    /* Doubling would pass max: growth stops at room for max bytes. */
    assert_int_equal(sp_buf_reserve_max(&b, 900, 1000), 0);
    assert_int_equal(b.cap, 1001);
    for (int i = 1; i < 10; i++) {
        assert_int_equal(sp_buf_add(&b, big, sizeof(big)), 0);
    }
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.cap, 1001);
    assert_int_equal(b.p[1000], '\0');
    assert_int_equal(sp_buf_reserve_max(&b, 0, 1000), 0);
    /* Past max: refused, and sticky. */
    assert_int_equal(sp_buf_reserve_max(&b, 1, 1000), -1);
    assert_true(b.has_failed);
    assert_int_equal(sp_buf_adds(&b, "y"), -1);
    assert_int_equal(b.len, 1000);
    sp_buf_reset(&b);
    /* A max past SIZE_MAX / 2 is SIZE_MAX / 2: no wrap. */
    assert_int_equal(sp_buf_reserve_max(&b, SIZE_MAX - 2, SIZE_MAX), -1);
    sp_buf_cleanup(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_and_terminates),
        cmocka_unit_test(test_binary_and_empty),
        cmocka_unit_test(test_addf),
        cmocka_unit_test(test_wrap_refused_and_sticky),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_reserve_max),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
