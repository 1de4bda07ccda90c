/*
 * test_journal_groups.c -- the journal's upload groups (journal_groups.c):
 * a parked group is skipped by the take until its time and counted by
 * status, unparked by the drainer; the per-group view; retirement of a
 * stream's pending points to the dead letters and their requeue;
 * compaction of a group's state; the in-place upgrade of a journal of
 * schema version 2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "journal.h"
#include "migrate.h"
#include "testutil.h"

/* Appends one point (no dimensions) in a transaction of its own. */
static void
put1(struct sp_journal *j, const char *stream, int agg, const char *name,
     int64_t hour, double v)
{
    tu_put1(j, tu_point(stream, agg, name, hour, v, NULL));
}

/* Invariant (4) of journal.c: the counters in meta match the tables. */
static void
check_counts(struct tu_journal *f)
{
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"),
                     tu_sql1(f->path, "SELECT v FROM meta WHERE k = "
                                      "'pending'"));
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"),
                     tu_sql1(f->path, "SELECT v FROM meta WHERE k = "
                                      "'points'"));
}

static int64_t
group_of(struct tu_journal *f, const char *stream, int agg)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT id FROM grp WHERE stream = '%s' AND agg = %d", stream,
             agg);
    return tu_sql1(f->path, sql);
}

static int64_t
take_grp(struct sp_journal *j, int64_t after, int64_t now_ms)
{
    struct sp_take_from from = {after, 0, now_ms};
    struct sp_batch b;
    int64_t grp;

    sp_batch_init(&b);
    assert_int_equal(sp_journal_take_next(j, 100, &from, &b), CTSPOOL_OK);
    grp = b.n ? b.grp : 0;
    sp_batch_cleanup(&b);
    return grp;
}

/* A point of stream tok taken into b (initialised here), its group
 * parked, then the point acknowledged at now: a parked group without
 * pending points. */
static void
park_then_ack(struct tu_journal *f, const char *tok, struct sp_batch *b,
              int64_t now)
{
    sp_batch_init(b);
    put1(f->j, tok, SP_AGG_SUM, "m", 10, 1);
    assert_int_equal(sp_journal_take(f->j, 10, b), CTSPOOL_OK);
    assert_int_equal(sp_journal_group_park(f->j, b->grp, 1, 99, "x"),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_ack(f->j, b, 0, 1, now, NULL), CTSPOOL_OK);
}

/* ---- parking --------------------------------------------------------- */

static void
test_park_skips_until_due(void **state)
{
    struct tu_journal *f = *state;
    struct sp_stats st;
    int64_t a, b, n = -1, next = 0;
    uint64_t parked = 9;
    int was = -1;

    put1(f->j, "tokA", SP_AGG_SUM, "m", 10, 1);
    put1(f->j, "tokB", SP_AGG_SUM, "m", 10, 1);
    a = group_of(f, "tokA", SP_AGG_SUM);
    b = group_of(f, "tokB", SP_AGG_SUM);
    assert_int_equal(sp_journal_group_failures(f->j, a, &n), CTSPOOL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sp_journal_group_park(f->j, a, 1000, 5000,
                                           "404 no stream found"),
                     CTSPOOL_OK);
    /* Skipped before its time, whichever turn it is. */
    assert_int_equal(take_grp(f->j, 0, 4999), b);
    assert_int_equal(take_grp(f->j, b, 4999), b);
    assert_int_equal(take_grp(f->j, 0, 5000), a);
    assert_int_equal(sp_journal_parked(f->j, 4000, &parked, &next),
                     CTSPOOL_OK);
    assert_int_equal(parked, 1);
    assert_int_equal(next, 5000);
    assert_int_equal(sp_journal_parked(f->j, 6000, &parked, &next),
                     CTSPOOL_OK);
    assert_int_equal(parked, 1);
    assert_int_equal(next, -1);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.parked_groups, 1);
    /* Refused again: one more failure, parked since the first. */
    assert_int_equal(sp_journal_group_park(f->j, a, 2000, 9000, "again"),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_group_failures(f->j, a, &n), CTSPOOL_OK);
    assert_int_equal(n, 2);
    assert_int_equal(tu_sql1(f->path, "SELECT parked_since FROM grp_state"),
                     1000);
    assert_int_equal(take_grp(f->j, 0, 8000), b);
    /* A drainer that starts tries parked groups at once. */
    assert_int_equal(sp_journal_groups_retry_now(f->j, &parked),
                     CTSPOOL_OK);
    assert_int_equal(parked, 1);
    assert_int_equal(take_grp(f->j, 0, 8000), a);
    assert_int_equal(sp_journal_group_failures(f->j, a, &n), CTSPOOL_OK);
    assert_int_equal(n, 2);
    /* Unparked: gone from the table and from status. */
    assert_int_equal(sp_journal_group_unpark(f->j, a, &was), CTSPOOL_OK);
    assert_int_equal(was, 1);
    assert_int_equal(sp_journal_group_unpark(f->j, a, &was), CTSPOOL_OK);
    assert_int_equal(was, 0);
    assert_int_equal(sp_journal_group_failures(f->j, a, &n), CTSPOOL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.parked_groups, 0);
    check_counts(f);
}

/* Only a group with pending points is parked, and counted as such. */
static void
test_parked_counts_only_pending(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    struct sp_stats st;
    uint64_t parked = 9;
    int64_t next = 0;

    park_then_ack(f, "tokA", &b, 5);
    /* A 404 that comes back after the points left: nothing to park. */
    assert_int_equal(sp_journal_group_unpark(f->j, b.grp, NULL), CTSPOOL_OK);
    assert_int_equal(sp_journal_group_park(f->j, b.grp, 1, 99, "x"),
                     CTSPOOL_OK);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM grp_state"), 0);
    assert_int_equal(sp_journal_group_park(f->j, b.grp, 1, 99, "x"),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_parked(f->j, 0, &parked, &next),
                     CTSPOOL_OK);
    assert_int_equal(parked, 0);
    assert_int_equal(next, -1);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.parked_groups, 0);
    sp_batch_cleanup(&b);
}

/* ---- the per-group view ---------------------------------------------- */

struct seen {
    size_t n;
    struct sp_group_row row[8];
    char stream[8][16], reason[8][64];
};

static ctspool_rc
collect(void *ctx, const struct sp_group_row *r)
{
    struct seen *s = ctx;

    assert_true(s->n < 8);
    s->row[s->n] = *r;
    snprintf(s->stream[s->n], sizeof(s->stream[0]), "%s", r->stream);
    snprintf(s->reason[s->n], sizeof(s->reason[0]), "%s", r->reason);
    s->n++;
    return CTSPOOL_OK;
}

static void
test_groups_view(void **state)
{
    struct tu_journal *f = *state;
    struct seen s;
    struct sp_batch b;
    size_t idx = 0;

    sp_batch_init(&b);
    put1(f->j, "tokA", SP_AGG_SUM, "m", 10, 1);
    put1(f->j, "tokA", SP_AGG_SUM, "m", 11, 1);
    put1(f->j, "tokA", SP_AGG_SUM, "m", 12, 1);
    put1(f->j, "tokB", SP_AGG_MINIMUM, "m", 10, 1);
    /* tokA/Sum: one acknowledged, one dead, one pending. */
    assert_int_equal(sp_journal_take(f->j, 2, &b), CTSPOOL_OK);
    assert_string_equal(b.stream, "tokA");
    assert_int_equal(sp_journal_ack(f->j, &b, 1, 1, 5, NULL), CTSPOOL_OK);
    assert_int_equal(sp_journal_dead(f->j, &b, &idx, 1, 400, "no", 5),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_group_park(f->j, group_of(f, "tokB", 3),
                                           1234, 5678, "404 gone"),
                     CTSPOOL_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(sp_journal_groups(f->j, SP_GROUPS_ALL, collect, &s),
                     CTSPOOL_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.stream[0], "tokA");
    assert_int_equal(s.row[0].agg, SP_AGG_SUM);
    assert_int_equal(s.row[0].pending, 1);
    assert_int_equal(s.row[0].acked, 1);
    assert_int_equal(s.row[0].dead, 1);
    assert_true(s.row[0].oldest_pending_at > 0);
    assert_int_equal(s.row[0].is_parked, 0);
    assert_int_equal(s.row[0].parked_since, -1);
    assert_string_equal(s.reason[0], "");
    assert_string_equal(s.stream[1], "tokB");
    assert_int_equal(s.row[1].pending, 1);
    assert_int_equal(s.row[1].acked, 0);
    assert_int_equal(s.row[1].is_parked, 1);
    assert_int_equal(s.row[1].parked_since, 1234);
    assert_int_equal(s.row[1].parked_until_ms, 5678);
    assert_int_equal(s.row[1].failures, 1);
    assert_string_equal(s.reason[1], "404 gone");
    memset(&s, 0, sizeof(s));
    assert_int_equal(sp_journal_groups(f->j, SP_GROUPS_PARKED, collect, &s),
                     CTSPOOL_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.stream[0], "tokB");
    assert_int_equal(s.row[0].pending, 1);
    sp_batch_cleanup(&b);
}

/* ---- retirement ------------------------------------------------------ */

static void
test_retire_and_requeue(void **state)
{
    struct tu_journal *f = *state;
    uint64_t groups = 0, points = 0, n = 0;
    struct sp_stats st;

    put1(f->j, "dead-stream", SP_AGG_SUM, "a", 10, 1);
    put1(f->j, "dead-stream", SP_AGG_SUM, "b", 10, 2);
    put1(f->j, "dead-stream", SP_AGG_MAXIMUM, "a", 10, 3);
    put1(f->j, "live", SP_AGG_SUM, "a", 10, 4);
    assert_int_equal(sp_journal_group_park(f->j,
                                           group_of(f, "dead-stream", 0),
                                           1, 2, "404"),
                     CTSPOOL_OK);
    /* Nothing matches: nothing changes. */
    assert_int_equal(sp_journal_retire(f->j, "nope", -1, 50, &groups,
                                       &points),
                     CTSPOOL_E_NOTFOUND);
    assert_non_null(strstr(sp_journal_errmsg(f->j), "no upload group"));
    assert_int_equal(sp_journal_retire(f->j, "live", SP_AGG_AVERAGE, 50,
                                       NULL, NULL),
                     CTSPOOL_E_NOTFOUND);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 4);
    /* One aggregation function. */
    assert_int_equal(sp_journal_retire(f->j, "dead-stream", SP_AGG_MAXIMUM,
                                       50, &groups, &points),
                     CTSPOOL_OK);
    assert_int_equal(groups, 1);
    assert_int_equal(points, 1);
    check_counts(f);
    /* All of the stream's groups; the parked one is unparked. */
    assert_int_equal(sp_journal_retire(f->j, "dead-stream", -1, 60, &groups,
                                       &points),
                     CTSPOOL_OK);
    assert_int_equal(groups, 2);
    assert_int_equal(points, 2);
    check_counts(f);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM grp_state"), 0);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead WHERE "
                                      "status = 0 AND body = 'retired by "
                                      "operator'"),
                     3);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points, 1);
    assert_int_equal(st.dead_letters, 3);
    /* Again: the groups exist, nothing is left to move. */
    assert_int_equal(sp_journal_retire(f->j, "dead-stream", -1, 70, &groups,
                                       &points),
                     CTSPOOL_OK);
    assert_int_equal(points, 0);
    /* dlq requeue brings them back with their values. */
    assert_int_equal(sp_journal_dlq_requeue(f->j, NULL, 0, &n), CTSPOOL_OK);
    assert_int_equal(n, 3);
    check_counts(f);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 4);
    assert_int_equal(tu_sql1(f->path, "SELECT sum(value) FROM queue"), 10);
}

/* ---- compaction, points in doubt, migration -------------------------- */

static void
test_compact_drops_state_of_gone_groups(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    uint64_t n = 0;

    park_then_ack(f, "gone", &b, 60);
    assert_int_equal(sp_journal_compact(f->j, 1000000, 3600, &n), CTSPOOL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM grp"), 0);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM grp_state"), 0);
    sp_batch_cleanup(&b);
}

static void
test_note_doubt(void **state)
{
    struct tu_journal *f = *state;
    struct sp_stats st;

    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.in_doubt_points, 0);
    assert_int_equal(sp_journal_note_doubt(f->j, 1234), CTSPOOL_OK);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.in_doubt_points, 1234);
}

/* A journal of schema version 2 is upgraded in place on open. */
static void
test_upgrade_from_version_2(void **state)
{
    struct tu_journal *f = *state;
    struct sp_stats st;
    sqlite3 *db;

    put1(f->j, "tok", SP_AGG_SUM, "m", 100, 1.5);
    put1(f->j, "tok", SP_AGG_SUM, "m", 101, 2.5);
    sp_journal_close(f->j);
    f->j = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ALTER TABLE point DROP COLUMN avg_sum; "
                                  "ALTER TABLE point DROP COLUMN avg_n; "
                                  TU_UNDO_0009
                                  "DROP TABLE idem; DROP TABLE resend; "
                                  "DROP TABLE grp_state; DELETE FROM meta "
                                  "WHERE k = 'in_doubt_points'; "
                                  "PRAGMA user_version = 2",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    tu_journal_open(f);
    assert_int_equal(tu_sql1(f->path, "PRAGMA user_version"),
                     sp_schema[sp_schema_count - 1].version);
    assert_true(sp_schema[sp_schema_count - 1].version >= 3);
    assert_int_equal(tu_sql1(f->path, "SELECT v FROM meta WHERE k = "
                                      "'in_doubt_points'"),
                     0);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points, 2);
    assert_int_equal(st.parked_groups, 0);
    assert_int_equal(sp_journal_group_park(f->j, 1, 1, 2, "x"),
                     CTSPOOL_OK);
    check_counts(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn)                                                                  \
    cmocka_unit_test_setup_teardown(fn, tu_journal_setup, tu_journal_teardown)
        T(test_park_skips_until_due),
        T(test_parked_counts_only_pending),
        T(test_groups_view),
        T(test_retire_and_requeue),
        T(test_compact_drops_state_of_gone_groups),
        T(test_note_doubt),
        T(test_upgrade_from_version_2),
#undef T
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
