/*
 * test_journal_resend.c -- points to send again (journal_resend.c,
 * schema 0008): an ack notes them in its own transaction (a failed ack
 * notes nothing), sp_journal_repend makes the acknowledged ones pending
 * and drops their notes, and sp_journal_resend_all does that for every
 * note left, pending and deleted points included, for a drainer that
 * follows one that died before it could.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "journal.h"
#include "testutil.h"

static int64_t
notes(const struct tu_journal *f)
{
    return tu_sql1(f->path, "SELECT count(*) FROM resend");
}

static uint64_t
pending(struct sp_journal *j)
{
    struct sp_stats st;

    assert_int_equal(sp_journal_stats(j, &st), CTSPOOL_OK);
    return st.pending_points;
}

/* Takes every pending point (one group) and acks them, noting the keys
 * of those at indexes note[0 .. n_note) to send again. */
static void
take_ack(struct sp_journal *j, const size_t *note, size_t n_note,
         int64_t (*keys)[2])
{
    struct sp_batch b;

    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(j, 1000, &b), CTSPOOL_OK);
    assert_true(b.n > 0);
    for (size_t i = 0; i < n_note; i++) {
        keys[i][0] = b.pts[note[i]].hour;
        keys[i][1] = b.pts[note[i]].series;
    }
    assert_int_equal(sp_journal_ack_resend(j, &b, 0, b.n, 1700000000,
                                           (const int64_t(*)[2])keys, n_note,
                                           NULL),
                     CTSPOOL_OK);
    sp_batch_cleanup(&b);
}

static void
test_ack_notes_repend_drops(void **state)
{
    struct tu_journal *f = *state;
    const size_t second[] = {1};
    int64_t keys[1][2];
    size_t done_n = 99;
    struct sp_stats st;
    int any = -1;

    assert_int_equal(sp_journal_resend_noted(f->j, &any), CTSPOOL_OK);
    assert_int_equal(any, 0);
    tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "a", 10, 1, NULL));
    tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "b", 10, 2, NULL));
    take_ack(f->j, second, 1, keys);
    assert_int_equal(notes(f), 1);
    assert_int_equal(sp_journal_resend_noted(f->j, &any), CTSPOOL_OK);
    assert_int_equal(any, 1);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.resend_points, 1);
    assert_int_equal(st.pending_points, 0);
    /* The doubt is over: pending again, note gone, in one transaction. */
    assert_int_equal(sp_journal_repend(f->j, (const int64_t(*)[2])keys, 1,
                                       &done_n),
                     CTSPOOL_OK);
    assert_int_equal(done_n, 1);
    assert_int_equal(notes(f), 0);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points, 1);
    assert_int_equal(st.resend_points, 0);
    /* A repend of a point not noted changes no note. */
    take_ack(f->j, NULL, 0, keys);
    assert_int_equal(sp_journal_repend(f->j, (const int64_t(*)[2])keys, 1,
                                       &done_n),
                     CTSPOOL_OK);
    assert_int_equal(done_n, 1);
    assert_int_equal(notes(f), 0);
}

/*
 * A drainer died with notes: the next one makes the acknowledged points
 * pending, leaves a pending one (its newer value goes anyway) and drops
 * a note of a point since deleted; everything in one call, more notes
 * than one round reads.
 */
static void
test_resend_all(void **state)
{
    struct tu_journal *f = *state;
    enum { N = 600 }; /* more than journal_resend.c's SOME_KEYS */
    static size_t idx[N];
    static int64_t keys[N][2];
    size_t n_notes = 0, done_n = 0;
    char name[16];
    int any = -1;

    for (size_t i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "m%zu", i);
        tu_put1(f->j, tu_point("tok", SP_AGG_SUM, name, 10, 1, NULL));
        idx[i] = i;
    }
    take_ack(f->j, idx, N, keys);
    assert_int_equal(notes(f), N);
    /* m0 gets a newer value (pending); a note of a point never stored. */
    tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "m0", 10, 5, NULL));
    assert_int_equal(tu_sql1(f->path, "INSERT INTO resend VALUES (99, 99) "
                                      "RETURNING 1"),
                     1);
    assert_int_equal(sp_journal_resend_all(f->j, &n_notes, &done_n),
                     CTSPOOL_OK);
    assert_int_equal(n_notes, N + 1);
    assert_int_equal(done_n, N - 1);
    assert_int_equal(notes(f), 0);
    assert_int_equal(pending(f->j), N);
    assert_int_equal(sp_journal_resend_noted(f->j, &any), CTSPOOL_OK);
    assert_int_equal(any, 0);
    /* Nothing left: nothing done. */
    assert_int_equal(sp_journal_resend_all(f->j, &n_notes, &done_n),
                     CTSPOOL_OK);
    assert_int_equal(n_notes, 0);
    assert_int_equal(done_n, 0);
}

/* A batch taken from a journal since moved aside acknowledges nothing
 * and notes nothing (sp_journal_ack's generation check). */
static void
test_stale_batch_notes_nothing(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    int64_t keys[1][2];

    tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "a", 10, 1, NULL));
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    keys[0][0] = b.pts[0].hour;
    keys[0][1] = b.pts[0].series;
    b.gen++;
    assert_int_equal(sp_journal_ack_resend(f->j, &b, 0, 1, 1700000000,
                                           (const int64_t(*)[2])keys, 1,
                                           NULL),
                     CTSPOOL_OK);
    sp_batch_cleanup(&b);
    assert_int_equal(notes(f), 0);
    assert_int_equal(pending(f->j), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ack_notes_repend_drops,
                                        tu_journal_setup,
                                        tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_resend_all, tu_journal_setup,
                                        tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_stale_batch_notes_nothing,
                                        tu_journal_setup,
                                        tu_journal_teardown),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
