/*
 * test_dlq_fold.c -- dead letters brought back where their identity got a
 * value meanwhile (journal_dlq.c): in accumulate mode the value folded
 * from nothing since is folded with the letter, an Average by its sum
 * and count; a value a replace set is newer and stays; letters of one
 * identity come back in the order they died, and a call that would leave
 * a later letter of an identity behind is refused.  Letters of one
 * identity are first folded among themselves (the later one replaces
 * the earlier, or folds onto it), and only then meet the row: what was
 * observed after the last of them died goes onto all of them.  A point
 * group of ID 0 (the first one after an event: the events group is -1)
 * is a group like any other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "journal.h"
#include "testutil.h"

#define HOUR 470000

static struct sp_point
pt(int agg, double v)
{
    return tu_point("tok", agg, "m", HOUR, v, "k=v");
}

static void
fold1(struct sp_journal *j, int agg, double v)
{
    tu_fold1(j, pt(agg, v));
}

static void
retire(struct sp_journal *j)
{
    tu_retire(j, "tok", 1);
}

static void
requeue_all(struct sp_journal *j, uint64_t want)
{
    uint64_t n = 0;

    assert_int_equal(sp_journal_dlq_requeue(j, NULL, 0, &n), CTSPOOL_OK);
    assert_int_equal(n, want);
}

/* The one point's value, in thousandths, and what is pending and dead. */
static void
check(struct tu_journal *f, int64_t milli, int64_t avg_n)
{
    char sql[128];

    assert_int_equal(tu_sql1(f->path, "SELECT CAST(round(value * 1000) AS "
                                      "INTEGER) FROM point"),
                     milli);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 1);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 1);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 0);
    assert_int_equal(tu_sql1(f->path, "SELECT v FROM meta WHERE k = "
                                      "'pending'"),
                     1);
    if (avg_n) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM point WHERE avg_n = %lld",
                 (long long)avg_n);
    } else {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM point WHERE avg_n IS NULL");
    }
    assert_int_equal(tu_sql1(f->path, sql), 1);
    assert_int_equal(sp_journal_check(f->j, NULL, 0), 0);
}

/* The README's own advice: a stream upstream did not know is retired,
 * observations go on, and `dlq requeue` brings the retired ones back. */
static void
test_sum_retired_then_folded(void **state)
{
    struct tu_journal *f = *state;

    fold1(f->j, SP_AGG_SUM, 10);
    fold1(f->j, SP_AGG_SUM, 20);
    retire(f->j);
    fold1(f->j, SP_AGG_SUM, 5); /* from nothing: 5 */
    requeue_all(f->j, 1);
    check(f, 35000, 0);
    fold1(f->j, SP_AGG_SUM, 1); /* and folds go on from there */
    check(f, 36000, 0);
}

/* An Average dead-lettered by upstream (400), observed again, brought
 * back: its sum and count travel with the letter. */
static void
test_average_dead_then_folded(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    size_t idx = 0;

    fold1(f->j, SP_AGG_AVERAGE, 2);
    fold1(f->j, SP_AGG_AVERAGE, 4);
    fold1(f->j, SP_AGG_AVERAGE, 6);
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1);
    assert_int_equal(sp_journal_dead(f->j, &b, &idx, 1, 400, "{}",
                                     1700000000),
                     CTSPOOL_OK);
    sp_batch_cleanup(&b);
    assert_int_equal(tu_sql1(f->path, "SELECT avg_n FROM dead"), 3);
    fold1(f->j, SP_AGG_AVERAGE, 8);
    requeue_all(f->j, 1);
    check(f, 5000, 4); /* (2 + 4 + 6 + 8) / 4 */
}

/* Without a row the letter comes back whole: value, parts and mark. */
static void
test_average_back_alone(void **state)
{
    struct tu_journal *f = *state;

    fold1(f->j, SP_AGG_AVERAGE, 2);
    fold1(f->j, SP_AGG_AVERAGE, 4);
    fold1(f->j, SP_AGG_AVERAGE, 6);
    retire(f->j);
    requeue_all(f->j, 1);
    check(f, 4000, 3);
    fold1(f->j, SP_AGG_AVERAGE, 8);
    check(f, 5000, 4);
    assert_int_equal(tu_sql1(f->path, "SELECT folded FROM point"), 1);
}

/* A letter of agg 9, then 3 folded from nothing, brought back: want. */
static void
retired_9_then_3(struct tu_journal *f, int agg, int64_t want)
{
    fold1(f->j, agg, 9);
    retire(f->j);
    fold1(f->j, agg, 3);
    requeue_all(f->j, 1);
    check(f, want, 0);
}

/* Maximum and Minimum fold too. */
static void
test_maximum(void **state)
{
    retired_9_then_3(*state, SP_AGG_MAXIMUM, 9000);
}

static void
test_minimum(void **state)
{
    retired_9_then_3(*state, SP_AGG_MINIMUM, 3000);
}

/* Replace mode: the value put since is newer and stays (as before). */
static void
test_replace_newer_stays(void **state)
{
    struct tu_journal *f = *state;

    tu_put1(f->j, pt(SP_AGG_SUM, 30));
    retire(f->j);
    tu_put1(f->j, pt(SP_AGG_SUM, 5));
    requeue_all(f->j, 1);
    check(f, 5000, 0);
    /* A replace after a fold ends the mark: the letter does not fold. */
    retire(f->j);
    fold1(f->j, SP_AGG_SUM, 2);
    tu_put1(f->j, pt(SP_AGG_SUM, 7));
    requeue_all(f->j, 1);
    check(f, 7000, 0);
}

/* Two letters of one identity (30, then 5), in one call: the later one
 * replaces the earlier (put), or, folded from nothing, folds onto it. */
static void
two_letters(struct tu_journal *f, int folded, int64_t want)
{
    for (int i = 0; i < 2; i++) {
        double v = i ? 5 : 30;

        if (folded) {
            fold1(f->j, SP_AGG_SUM, v);
        } else {
            tu_put1(f->j, pt(SP_AGG_SUM, v));
        }
        retire(f->j);
    }
    requeue_all(f->j, 2);
    check(f, want, 0);
}

static void
test_two_letters_replaced(void **state)
{
    two_letters(*state, 0, 5000);
}

static void
test_two_letters_folded(void **state)
{
    two_letters(*state, 1, 35000);
}

/* The same by ID, given out of order and one twice (`dlq requeue 2 1
 * 2`): each letter once, in the order they died. */
static void
test_two_letters_by_id(void **state)
{
    struct tu_journal *f = *state;
    const int64_t ids[] = {2, 1, 2};
    uint64_t n = 0;

    for (int i = 0; i < 2; i++) {
        tu_put1(f->j, pt(SP_AGG_SUM, i ? 5 : 30));
        retire(f->j);
    }
    assert_int_equal(sp_journal_dlq_requeue(f->j, ids, 3, &n), CTSPOOL_OK);
    assert_int_equal(n, 2);
    check(f, 5000, 0);
}

/* `dlq requeue 1`, then `dlq requeue 2`: the first would bring back the
 * older value, which the second would then take for newer than its own
 * and keep.  It is refused, naming the later letter; the later one alone
 * comes back, and then the older one finds it newer and goes. */
static void
test_older_letter_alone_refused(void **state)
{
    struct tu_journal *f = *state;
    const int64_t one = 1, two = 2;
    uint64_t n = 9;

    for (int i = 0; i < 2; i++) {
        tu_put1(f->j, pt(SP_AGG_SUM, i ? 5 : 30));
        retire(f->j);
    }
    assert_int_equal(sp_journal_dlq_requeue(f->j, &one, 1, &n),
                     CTSPOOL_E_INVALID);
    assert_int_equal(n, 0);
    assert_true(tu_msg_matches(sp_journal_errmsg(f->j),
                               "dead letter 1: dead letter 2 is a later "
                               "value of the same point*"));
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 2);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 0);
    assert_int_equal(sp_journal_dlq_requeue(f->j, &two, 1, &n), CTSPOOL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sp_journal_dlq_requeue(f->j, &one, 1, &n), CTSPOOL_OK);
    assert_int_equal(n, 1);
    check(f, 5000, 0);
}

/* Letter 1 (agg, put or folded: v1), letter 2 (put: v2), then v3
 * folded from nothing, all brought back: v2 replaced v1, and v3 was
 * observed after it. */
static void
put_then_folded(struct tu_journal *f, int agg, int fold_first, double v1,
                double v2, double v3, int64_t want)
{
    if (fold_first) {
        fold1(f->j, agg, v1);
    } else {
        tu_put1(f->j, pt(agg, v1));
    }
    retire(f->j);
    tu_put1(f->j, pt(agg, v2));
    retire(f->j);
    fold1(f->j, agg, v3);
    requeue_all(f->j, 2);
    check(f, want, 0);
}

/* The older letter, folded onto the row first, changed its value: the
 * later letter then replaced the row, and the 5 folded since was lost
 * (100 instead of 105). */
static void
test_folded_put_folded(void **state)
{
    put_then_folded(*state, SP_AGG_SUM, 1, 30, 100, 5, 105000);
}

/* The older letter left the row's value (max(21, 39) = 39) and cleared
 * its mark: the later letter was then taken for older than a value a
 * replace set, and dropped (39 instead of 43). */
static void
test_put_put_folded_maximum(void **state)
{
    put_then_folded(*state, SP_AGG_MAXIMUM, 0, 21, 43, 39, 43000);
}

/* The same with a Sum and 0 (39 instead of 82). */
static void
test_put_put_folded_sum_zero(void **state)
{
    put_then_folded(*state, SP_AGG_SUM, 0, 0, 43, 39, 82000);
}

/* Three letters: folded 1, folded 2, put 10, folded 4, then 8 folded
 * from nothing: 10 + 4 + 8. */
static void
test_chain_of_letters(void **state)
{
    struct tu_journal *f = *state;

    fold1(f->j, SP_AGG_SUM, 1);
    retire(f->j);
    fold1(f->j, SP_AGG_SUM, 2);
    retire(f->j);
    tu_put1(f->j, pt(SP_AGG_SUM, 10));
    retire(f->j);
    fold1(f->j, SP_AGG_SUM, 4);
    retire(f->j);
    fold1(f->j, SP_AGG_SUM, 8);
    requeue_all(f->j, 4);
    check(f, 22000, 0);
}

/* requeue --all commits 10,000 letters at a time (or fewer, each 250 ms):
 * a chain of letters of one point across two transactions folds as in
 * one (letters 10000, 10001, 10002), and every other letter comes back. */
static void
test_chain_across_chunks(void **state)
{
    struct tu_journal *f = *state;

    tu_fill(f->j, 19998, HOUR + 10); /* 9,999 on each of tok-a, tok-b */
    tu_retire(f->j, "tok-a", 9999); /* letters 1 .. 9999 */
    fold1(f->j, SP_AGG_SUM, 1);
    retire(f->j); /* 10000, the last of the first transaction */
    fold1(f->j, SP_AGG_SUM, 2);
    retire(f->j);
    fold1(f->j, SP_AGG_SUM, 4);
    retire(f->j);
    tu_retire(f->j, "tok-b", 9999); /* 10003 .. 20001 */
    fold1(f->j, SP_AGG_SUM, 8);
    assert_int_equal(tu_sql1(f->path, "SELECT max(id) FROM dead"), 20001);
    requeue_all(f->j, 20001);
    assert_int_equal(tu_sql1(f->path, "SELECT CAST(round(p.value * 1000) "
                                      "AS INTEGER) FROM point p JOIN series "
                                      "s ON s.id = p.series WHERE "
                                      "s.metric_name = 'm'"),
                     15000);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 0);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 19999);
    assert_int_equal(tu_sql1(f->path, "SELECT v FROM meta WHERE k = "
                                      "'pending'"),
                     19999);
    assert_int_equal(sp_journal_check(f->j, NULL, 0), 0);
}

struct left {
    int64_t ids[4];
    char why[4][256];
    size_t n;
};

static void
on_left(void *ctx, int64_t id, const char *why)
{
    struct left *l = ctx;

    assert_true(l->n < 4);
    l->ids[l->n] = id;
    snprintf(l->why[l->n], sizeof(l->why[0]), "%s", why);
    l->n++;
}

/* A letter that cannot come back (its fold with the next letter of its
 * point is not finite): a call naming it fails whole; requeue --all
 * leaves it dead as it was, names it, and brings back all the others,
 * across transactions (it is the last letter of the first one); again,
 * it meets the value the others left, and stays. */
static void
test_unfoldable_left_dead(void **state)
{
    struct tu_journal *f = *state;
    const int64_t bad = 10000;
    struct left l = {{0}, {{0}}, 0};
    uint64_t n = 9, n_left = 9;

    tu_fill(f->j, 19998, HOUR + 10); /* 9,999 on each of tok-a, tok-b */
    tu_retire(f->j, "tok-a", 9999); /* letters 1 .. 9999 */
    fold1(f->j, SP_AGG_SUM, 1.5e308);
    retire(f->j); /* 10000 */
    fold1(f->j, SP_AGG_SUM, 1.5e308);
    retire(f->j); /* 10001 */
    tu_retire(f->j, "tok-b", 9999); /* 10002 .. 20000 */
    fold1(f->j, SP_AGG_SUM, 1); /* from nothing: 10001 folds onto it */
    assert_int_equal(sp_journal_dlq_requeue(f->j, &bad, 1, &n),
                     CTSPOOL_E_INVALID);
    assert_int_equal(n, 0);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 20000);

    assert_int_equal(sp_journal_dlq_requeue_all(f->j, on_left, &l, &n,
                                                &n_left),
                     CTSPOOL_OK);
    assert_int_equal(n, 19999);
    assert_int_equal(n_left, 1);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.ids[0], bad);
    assert_true(tu_msg_matches(l.why[0], "dead letter 10000: folding it "
                                         "with dead letter 10001 gives a "
                                         "number that is not finite"));
    assert_int_equal(tu_sql1(f->path, "SELECT id FROM dead"), bad);
    assert_int_equal(tu_sql1(f->path, "SELECT value = 1.5e308 FROM dead"),
                     1);
    assert_int_equal(tu_sql1(f->path, "SELECT p.value = 1.5e308 + 1 FROM "
                                      "point p JOIN series s ON s.id = "
                                      "p.series WHERE s.metric_name = 'm'"),
                     1);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 19999);
    assert_int_equal(tu_sql1(f->path, "SELECT v FROM meta WHERE k = "
                                      "'pending'"),
                     19999);
    assert_int_equal(sp_journal_check(f->j, NULL, 0), 0);

    assert_int_equal(sp_journal_dlq_requeue_all(f->j, on_left, &l, &n,
                                                &n_left),
                     CTSPOOL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(n_left, 1);
    assert_int_equal(l.n, 2);
    assert_true(tu_msg_matches(l.why[1], "dead letter 10000: folding it "
                                         "with the stored value gives a "
                                         "number that is not finite"));
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 1);
    /* Without a place to name it, it fails the call. */
    assert_int_equal(sp_journal_dlq_requeue_all(f->j, NULL, NULL, &n,
                                                &n_left),
                     CTSPOOL_E_INVALID);
    assert_int_equal(n + n_left, 0);
}

/* An event first: the events group is -1, and the first point group
 * gets ID 0.  Its letters were taken for letters of a series gone, and
 * deleted without coming back. */
static void
test_group_zero(void **state)
{
    struct tu_journal *f = *state;
    enum sp_put_result res;
    struct sp_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.hour = HOUR;
    ev.type = "deploy";
    ev.type_len = 6;
    ev.description = "v1";
    ev.description_len = 2;
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_put_event(f->j, &ev, &res), CTSPOOL_OK);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    tu_put1(f->j, pt(SP_AGG_SUM, 5));
    assert_int_equal(tu_sql1(f->path, "SELECT min(id) FROM grp WHERE id >= "
                                      "0"),
                     0);
    assert_int_equal(tu_sql1(f->path, "SELECT grp FROM series WHERE "
                                      "metric_name = 'm'"),
                     0);
    retire(f->j);
    fold1(f->j, SP_AGG_SUM, 7);
    requeue_all(f->j, 1);
    assert_int_equal(tu_sql1(f->path, "SELECT CAST(value AS INTEGER) FROM "
                                      "point WHERE grp = 0"),
                     12);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue WHERE "
                                      "grp = 0"),
                     1);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 0);
    assert_int_equal(sp_journal_check(f->j, NULL, 0), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_journal_setup, \
                                              tu_journal_teardown)
        T(test_sum_retired_then_folded),
        T(test_average_dead_then_folded),
        T(test_average_back_alone),
        T(test_maximum),
        T(test_minimum),
        T(test_replace_newer_stays),
        T(test_two_letters_replaced),
        T(test_two_letters_folded),
        T(test_two_letters_by_id),
        T(test_older_letter_alone_refused),
        T(test_folded_put_folded),
        T(test_put_put_folded_maximum),
        T(test_put_put_folded_sum_zero),
        T(test_chain_of_letters),
        T(test_unfoldable_left_dead),
        T(test_chain_across_chunks),
        T(test_group_zero),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
