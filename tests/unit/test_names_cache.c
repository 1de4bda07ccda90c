/*
 * test_names_cache.c -- the drainer's cache of series texts
 * (journal_names.c, used by the takes of journal_drain.c): every point
 * taken carries its own series' name and dimensions, whether its take
 * read rows joined to their series or looked the texts up by id, when
 * the cache fills and starts over, and after a compaction has handed
 * the ids of deleted series to new ones.
 *
 * Each point's value is its series number s, and its series is named
 * "m<s % 97>" with dimension host=h<s>, so a point can be checked
 * against its value alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "journal_int.h"
#include "testutil.h"

#define TAKE_MAX 1000

/* Puts series s (named with prefix) at hour h, all in one transaction
 * for s in [s0, s1). */
static void
put_series(struct sp_journal *j, const char *prefix, long s0, long s1,
           int64_t h)
{
    assert_int_equal(sp_journal_begin(j), CTSPOOL_OK);
    for (long s = s0; s < s1; s++) {
        enum sp_put_result res = SP_PUT_UNCHANGED;
        char name[32], dim[32];
        struct sp_point p;

        snprintf(name, sizeof(name), "%s%ld", prefix, s % 97);
        snprintf(dim, sizeof(dim), "host=h%ld", s);
        p = tu_point("tok", (int)(s % 4), name, h, (double)s, dim);
        assert_int_equal(sp_journal_put(j, &p, &res), CTSPOOL_OK);
        assert_int_equal(res, SP_PUT_NEW);
    }
    assert_int_equal(sp_journal_commit(j), CTSPOOL_OK);
}

/*
 * Takes and acknowledges every pending point, checking each one's texts
 * against its value; returns how many.  *by_id: set when a take read the
 * texts by id (not joined), if not NULL.
 */
static long
drain_all(struct sp_journal *j, const char *prefix, int *by_id)
{
    struct sp_batch b;
    long n = 0;

    sp_batch_init(&b);
    for (;;) {
        assert_int_equal(sp_journal_take(j, TAKE_MAX, &b), CTSPOOL_OK);
        if (b.n == 0) {
            break;
        }
        if (by_id && j->names_by_id) {
            *by_id = 1;
        }
        for (size_t i = 0; i < b.n; i++) {
            const struct sp_batch_point *p = &b.pts[i];
            long s = (long)p->value;
            char name[32], dims[64];

            snprintf(name, sizeof(name), "%s%ld", prefix, s % 97);
            snprintf(dims, sizeof(dims), "{\"host\":\"h%ld\"}", s);
            assert_string_equal(p->name, name);
            assert_string_equal(p->dims, dims);
            assert_int_equal(p->dims_len, strlen(dims));
        }
        n += (long)b.n;
        assert_int_equal(sp_journal_ack(j, &b, 0, b.n, 60, NULL),
                         CTSPOOL_OK);
    }
    sp_batch_cleanup(&b);
    return n;
}

/* Series that repeat hour after hour are read by id; 70,000 new ones
 * (more than the cache holds) are read joined again; then the first
 * ones, by id again. */
static void
test_both_ways_and_full(void **state)
{
    struct tu_journal *f = *state;
    int by_id = 0;

    for (int64_t h = 0; h < 30; h++) {
        put_series(f->j, "m", 0, 2000, 1000 + h);
    }
    assert_int_equal(drain_all(f->j, "m", &by_id), 30 * 2000);
    assert_true(by_id);
    assert_true(f->j->names_by_id);

    put_series(f->j, "m", 2000, 72000, 2000);
    assert_int_equal(drain_all(f->j, "m", NULL), 70000);
    assert_false(f->j->names_by_id);
    assert_true(f->j->names_n <= 65536);

    by_id = 0;
    for (int64_t h = 0; h < 10; h++) {
        put_series(f->j, "m", 0, 2000, 3000 + h);
    }
    assert_int_equal(drain_all(f->j, "m", &by_id), 10 * 2000);
    assert_true(by_id);
}

/* A compaction deletes every series; new series, named otherwise, then
 * get the same ids.  The cache, full of the old texts, must not answer
 * for them. */
static void
test_compaction_reuses_ids(void **state)
{
    struct tu_journal *f = *state;
    int by_id = 0;
    uint64_t n = 0;

    for (int64_t h = 0; h < 8; h++) {
        put_series(f->j, "old", 0, 500, 10 + h);
    }
    assert_int_equal(drain_all(f->j, "old", &by_id), 8 * 500);
    assert_true(by_id);
    assert_int_equal(tu_sql1(f->path, "SELECT min(id) FROM series"), 1);

    assert_int_equal(sp_journal_compact(f->j, 1000000, 0, &n), CTSPOOL_OK);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM series"), 0);

    for (int64_t h = 0; h < 2; h++) {
        put_series(f->j, "new", 0, 500, 20 + h);
    }
    assert_int_equal(tu_sql1(f->path, "SELECT min(id) FROM series"), 1);
    assert_int_equal(drain_all(f->j, "new", NULL), 2 * 500);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_both_ways_and_full,
                                        tu_journal_setup,
                                        tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_compaction_reuses_ids,
                                        tu_journal_setup,
                                        tu_journal_teardown),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
