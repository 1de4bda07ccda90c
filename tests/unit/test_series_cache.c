/*
 * test_series_cache.c -- the producers' series cache (journal_put.c)
 * grows from a small table to its largest and starts over once full,
 * and through all of it every point lands on its own series: a first
 * put of 70,000 records (more than the full cache holds) makes as many
 * series, and putting them all again, in another order, updates each
 * one's point and makes no series more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "journal.h"
#include "testutil.h"

#define N 70000 /* records: more than journal_put.c's CACHE_MAX */

/* Puts record k (name and dimension from k) at hour 10 with value v;
 * returns what the put did. */
static enum sp_put_result
put_record(struct sp_journal *j, long k, double v)
{
    char name[32], dim[32];
    enum sp_put_result res = SP_PUT_UNCHANGED;
    struct sp_point p;

    snprintf(name, sizeof(name), "m%ld", k % 97);
    snprintf(dim, sizeof(dim), "host=h%ld", k);
    p = tu_point("tok", (int)(k % 4), name, 10, v, dim);
    assert_int_equal(sp_journal_put(j, &p, &res), CTSPOOL_OK);
    return res;
}

static void
test_grows_and_starts_over(void **state)
{
    struct tu_journal *f = *state;
    long n_new = 0, n_updated = 0;

    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    for (long k = 0; k < N; k++) {
        n_new += put_record(f->j, k, (double)k) == SP_PUT_NEW;
    }
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(n_new, N);
    /* Again, backwards (the records the cache forgot come first). */
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    for (long k = N - 1; k >= 0; k--) {
        n_updated += put_record(f->j, k, (double)k + 0.5) == SP_PUT_UPDATED;
    }
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(n_updated, N);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM series"), N);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), N);
    /* Each point holds its own record's value: host=hK has K + 0.5. */
    assert_int_equal(tu_sql1(f->path,
                             "SELECT count(*) FROM point p JOIN series s "
                             "ON s.id = p.series WHERE p.value = "
                             "CAST(substr(json_extract(s.dims, '$.host'), "
                             "2) AS INTEGER) + 0.5"),
                     N);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grows_and_starts_over,
                                        tu_journal_setup,
                                        tu_journal_teardown),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
