/*
 * test_stale.c -- a value older than one acknowledged never comes back:
 * compaction keeps an acknowledged point while a dead letter of its
 * record and hour exists (`dlq requeue` must find the newer value), and
 * keeps every acknowledged point while a quarantined set waits for
 * salvage (salvage adds only what the journal does not hold), and keeps
 * an acknowledged point noted to send again (an older upload of it may
 * still land: the note makes the stored value pending afterwards).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "journal.h"
#include "salvage.h"
#include "testutil.h"

#define HOUR 470000
#define NOW 1700000000

static struct sp_point
pt(double v)
{
    return tu_point("tok", SP_AGG_SUM, "m", HOUR, v, "k=v");
}

/* Takes what is pending (one point) and acknowledges it at NOW. */
static void
send_all(struct sp_journal *j)
{
    struct sp_batch b;
    size_t n = 0;

    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(j, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1);
    assert_int_equal(sp_journal_ack(j, &b, 0, b.n, NOW, &n), CTSPOOL_OK);
    assert_int_equal(n, 1);
    sp_batch_cleanup(&b);
}

/* Compaction two hours after NOW, keeping one hour: *n deleted. */
static uint64_t
compact_later(struct sp_journal *j)
{
    uint64_t n = 0;

    assert_int_equal(sp_journal_compact(j, NOW + 7200, 3600, &n), CTSPOOL_OK);
    return n;
}

/* The one point's value, and how many are pending. */
static void
check(struct tu_journal *f, int64_t value, int64_t pending)
{
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 1);
    assert_int_equal(tu_sql1(f->path, "SELECT CAST(value AS INTEGER) FROM "
                                      "point"),
                     value);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), pending);
    assert_int_equal(sp_journal_check(f->j, NULL, 0), 0);
}

/* 1 refused by upstream (a dead letter), 2 sent since, compaction, then
 * `dlq requeue`: upstream keeps 2. */
static void
test_requeue_after_compaction(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    size_t idx[1] = {0};
    uint64_t n = 0;

    tu_put1(f->j, pt(1));
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(sp_journal_dead(f->j, &b, idx, 1, 400, "{}", NOW),
                     CTSPOOL_OK);
    sp_batch_cleanup(&b);
    tu_put1(f->j, pt(2));
    send_all(f->j);
    assert_int_equal(compact_later(f->j), 0);
    assert_int_equal(sp_journal_dlq_requeue(f->j, NULL, 0, &n), CTSPOOL_OK);
    check(f, 2, 0);
    /* Once the letter is gone, the point goes as any other. */
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 0);
    assert_int_equal(compact_later(f->j), 1);
}

/* 1 pending in a journal found damaged (quarantined), 2 sent from the
 * fresh one, compaction, then salvage: upstream keeps 2. */
static void
test_salvage_after_compaction(void **state)
{
    struct tu_journal *f = *state;
    struct sp_salvage_report rep;
    struct sp_err e;
    char **names = NULL, renamed[4096];
    size_t n = 0;

    tu_put1(f->j, pt(1));
    assert_int_equal(sp_journal_heal(f->j), CTSPOOL_OK);
    tu_put1(f->j, pt(2));
    send_all(f->j);
    assert_int_equal(compact_later(f->j), 0);
    assert_int_equal(sp_journal_quarantined(f->path, &names, &n, &e),
                     CTSPOOL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sp_salvage(f->j, names[0], 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.present, 1);
    assert_int_equal(rep.pending, 0);
    check(f, 2, 0);
    /* Once it is set aside as salvaged, compaction goes on. */
    assert_int_equal(sp_journal_mark_salvaged(names[0], renamed,
                                              sizeof(renamed), &e),
                     CTSPOOL_OK);
    sp_journal_quarantined_free(names, n);
    assert_int_equal(compact_later(f->j), 1);
}

/* 2 acknowledged while an upload of 1 had an unknown outcome (noted to
 * send again), compaction before the note comes due (retention 0, or
 * the drainer's hourly run), then the note: 2 is pending again, and
 * would otherwise have been deleted, leaving 1 upstream for good. */
static void
test_resend_after_compaction(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    int64_t key[1][2];
    size_t n = 0;
    uint64_t deleted = 9;

    tu_put1(f->j, pt(2));
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1);
    key[0][0] = b.pts[0].hour;
    key[0][1] = b.pts[0].series;
    assert_int_equal(sp_journal_ack_resend(f->j, &b, 0, 1, NOW,
                                           (const int64_t(*)[2])key, 1, &n),
                     CTSPOOL_OK);
    sp_batch_cleanup(&b);
    assert_int_equal(sp_journal_compact(f->j, NOW + 60, 0, &deleted),
                     CTSPOOL_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(sp_journal_repend(f->j, (const int64_t(*)[2])key, 1,
                                       &n),
                     CTSPOOL_OK);
    assert_int_equal(n, 1);
    check(f, 2, 1);
    /* Sent again and no longer noted, it goes as any other. */
    send_all(f->j);
    assert_int_equal(compact_later(f->j), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_requeue_after_compaction,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_after_compaction,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_resend_after_compaction,
                                        tu_journal_setup, tu_journal_teardown),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
