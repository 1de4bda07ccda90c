/*
 * test_journal.c -- the journal's state machine and invariants
 * (journal.c): upsert, race-safe ack, groups, limits, dead letters,
 * retention, savepoints, schema refusal; the names a take reads.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "event.h"
#include "journal.h"
#include "migrate.h"
#include "testutil.h"

static void
check_invariants(struct tu_journal *f)
{
    int64_t pending = tu_sql1(f->path, "SELECT count(*) FROM queue");
    int64_t meta = tu_sql1(f->path, "SELECT v FROM meta WHERE "
                                    "k = 'pending'");
    int64_t points = tu_sql1(f->path, "SELECT count(*) FROM point");
    int64_t meta_points = tu_sql1(f->path, "SELECT v FROM meta WHERE "
                                           "k = 'points'");
    struct sp_stats st;

    assert_int_equal(pending, meta);
    assert_int_equal(points, meta_points);
    /* Every queue row is the current version of a point. */
    assert_int_equal(tu_sql1(f->path,
                             "SELECT count(*) FROM queue q JOIN point p "
                             "ON p.hour = q.hour AND p.series = q.series "
                             "AND p.seq = q.seq AND p.grp = q.grp "
                             "AND p.value = q.value"),
                     pending);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points + st.pending_events,
                     (uint64_t)pending);
    assert_int_equal(st.acked_points + st.acked_events,
                     (uint64_t)(points - pending));
    /* The checker agrees (journal_check.c). */
    assert_int_equal(sp_journal_check(f->j, NULL, 0), 0);
}

static void
test_created_private_and_wal(void **state)
{
    struct tu_journal *f = *state;
    struct stat sb;

    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(tu_sql1(f->path, "PRAGMA user_version"),
                     sp_schema[sp_schema_count - 1].version);
    assert_int_equal(tu_sql1(f->path, "SELECT journal_mode = 'wal' FROM "
                                      "pragma_journal_mode"),
                     1);
    assert_int_equal(tu_sql1(f->path, "PRAGMA auto_vacuum"), 2);
}

static void
test_upsert_new_updated_unchanged(void **state)
{
    struct tu_journal *f = *state;

    assert_int_equal(tu_put1(f->j, tu_point("tok1", SP_AGG_SUM, "req", 100, 1.0,
                                            "region=eu")),
                     SP_PUT_NEW);
    assert_int_equal(tu_put1(f->j, tu_point("tok1", SP_AGG_SUM, "req", 100, 1.0,
                                            "region=eu")),
                     SP_PUT_UNCHANGED);
    assert_int_equal(tu_put1(f->j, tu_point("tok1", SP_AGG_SUM, "req", 100, 2.0,
                                            "region=eu")),
                     SP_PUT_UPDATED);
    /* Each part of the identity makes a different point. */
    assert_int_equal(tu_put1(f->j, tu_point("tok2", SP_AGG_SUM, "req", 100, 2.0,
                                            "region=eu")),
                     SP_PUT_NEW);
    assert_int_equal(tu_put1(f->j, tu_point("tok1", SP_AGG_AVERAGE, "req", 100,
                                            2.0, "region=eu")),
                     SP_PUT_NEW);
    assert_int_equal(tu_put1(f->j, tu_point("tok1", SP_AGG_SUM, "req", 101, 2.0,
                                            "region=eu")),
                     SP_PUT_NEW);
    assert_int_equal(tu_put1(f->j, tu_point("tok1", SP_AGG_SUM, "req", 100, 2.0,
                                            "region=us")),
                     SP_PUT_NEW);
    assert_int_equal(
        tu_put1(f->j, tu_point("tok1", SP_AGG_SUM, "req", 100, 2.0, NULL)),
        SP_PUT_NEW);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 6);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM series"), 5);
    check_invariants(f);
}

static void
test_ack_is_race_safe(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    size_t n = 0;

    sp_batch_init(&b);
    for (int i = 0; i < 5; i++) {
        tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "m", 100 + i, i, NULL));
    }
    assert_int_equal(sp_journal_take(f->j, 100, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 5);
    /* Point at hour 102 is updated while "in flight". */
    assert_int_equal(
        tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "m", 102, 99, NULL)),
        SP_PUT_UPDATED);
    assert_int_equal(sp_journal_ack(f->j, &b, 0, b.n, 1000, &n), CTSPOOL_OK);
    assert_int_equal(n, 4);
    check_invariants(f);
    assert_int_equal(sp_journal_take(f->j, 100, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.pts[0].hour, 102);
    assert_true(b.pts[0].value == 99.0);
    /* Same value again after the ack: nothing to upload. */
    assert_int_equal(sp_journal_ack(f->j, &b, 0, 1, 1000, &n), CTSPOOL_OK);
    assert_int_equal(
        tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "m", 102, 99, NULL)),
        SP_PUT_UNCHANGED);
    assert_int_equal(sp_journal_take(f->j, 100, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 0);
    /* A new value for an acknowledged point is pending again. */
    assert_int_equal(
        tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "m", 100, 7, NULL)),
        SP_PUT_UPDATED);
    assert_int_equal(sp_journal_take(f->j, 100, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1);
    check_invariants(f);
    sp_batch_cleanup(&b);
}

/* The batch after group grp's points up to seq (sp_journal_take_next),
 * parked groups included. */
static void
take_after(struct sp_journal *j, size_t max, struct sp_batch *b,
           int64_t grp, int64_t seq)
{
    struct sp_take_from from = {grp, seq, INT64_MAX};

    assert_int_equal(sp_journal_take_next(j, max, &from, b), CTSPOOL_OK);
}

/*
 * Groups take turns by id, whichever holds the oldest point; each batch
 * is one group's points in journal order from its oldest.
 */
static void
test_take_round_robin(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    int64_t first;

    sp_batch_init(&b);
    tu_put1(f->j, tu_point("tokB", SP_AGG_MAXIMUM, "a", 10, 1, "k=v"));
    tu_put1(f->j, tu_point("tokA", SP_AGG_SUM, "a", 10, 1, NULL));
    tu_put1(f->j, tu_point("tokB", SP_AGG_MAXIMUM, "b", 10, 2, NULL));
    tu_put1(f->j, tu_point("tokA", SP_AGG_SUM, "b", 10, 2, NULL));
    tu_put1(f->j, tu_point("tokB", SP_AGG_MAXIMUM, "c", 10, 3, NULL));

    assert_int_equal(sp_journal_take(f->j, 2, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.stream, "tokB");
    assert_int_equal(b.agg, SP_AGG_MAXIMUM);
    assert_string_equal(b.pts[0].name, "a");
    assert_string_equal(b.pts[0].dims, "{\"k\":\"v\"}");
    assert_string_equal(b.pts[1].name, "b");
    assert_string_equal(b.pts[1].dims, "{}");
    first = b.grp;
    assert_int_equal(sp_journal_ack(f->j, &b, 0, 2, 5, NULL), CTSPOOL_OK);
    /* tokB/Maximum still has "c", but tokA/Sum's turn comes first. */
    take_after(f->j, 10, &b, first, 0);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.stream, "tokA");
    assert_int_equal(b.agg, SP_AGG_SUM);
    /* After the last group, the first again. */
    take_after(f->j, 10, &b, b.grp, 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.grp, first);
    assert_string_equal(b.pts[0].name, "c");
    /* tokA acknowledged: the group served last comes again, alone. */
    take_after(f->j, 10, &b, first, 0);
    assert_string_equal(b.stream, "tokA");
    assert_int_equal(sp_journal_ack(f->j, &b, 0, b.n, 5, NULL), CTSPOOL_OK);
    take_after(f->j, 10, &b, first, 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.grp, first);
    assert_int_equal(sp_journal_ack(f->j, &b, 0, 1, 5, NULL), CTSPOOL_OK);
    take_after(f->j, 10, &b, first, 0);
    assert_int_equal(b.n, 0);
    sp_batch_cleanup(&b);
    check_invariants(f);
}

/*
 * The batch after one in flight: the in-flight points are skipped, the
 * next group (or, when it is the only one, the rest of this one) comes
 * in journal order, and a newer version of an in-flight point is taken
 * (it has a larger seq).
 */
static void
test_take_after_skips_in_flight(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b, nb;

    sp_batch_init(&b);
    sp_batch_init(&nb);
    tu_put1(f->j, tu_point("tokB", SP_AGG_MAXIMUM, "a", 10, 1, NULL));
    tu_put1(f->j, tu_point("tokB", SP_AGG_MAXIMUM, "b", 10, 2, NULL));
    tu_put1(f->j, tu_point("tokA", SP_AGG_SUM, "a", 10, 1, NULL));
    tu_put1(f->j, tu_point("tokB", SP_AGG_MAXIMUM, "c", 10, 3, NULL));

    assert_int_equal(sp_journal_take(f->j, 2, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.stream, "tokB");
    /* b in flight: tokA/Sum's turn. */
    take_after(f->j, 10, &nb, b.grp, b.pts[1].seq);
    assert_int_equal(nb.n, 1);
    assert_string_equal(nb.stream, "tokA");
    assert_int_equal(sp_journal_ack(f->j, &nb, 0, 1, 5, NULL), CTSPOOL_OK);
    /* tokB alone: the rest after what is in flight. */
    take_after(f->j, 10, &nb, b.grp, b.pts[0].seq);
    assert_int_equal(nb.n, 2);
    assert_string_equal(nb.stream, "tokB");
    assert_string_equal(nb.pts[0].name, "b");
    assert_string_equal(nb.pts[1].name, "c");
    take_after(f->j, 10, &nb, b.grp, b.pts[1].seq);
    assert_int_equal(nb.n, 1);
    assert_string_equal(nb.pts[0].name, "c");
    /* A point of b updated while in flight is in the next batch. */
    tu_put1(f->j, tu_point("tokB", SP_AGG_MAXIMUM, "a", 10, 9, NULL));
    assert_int_equal(sp_journal_ack(f->j, &b, 0, 2, 5, NULL), CTSPOOL_OK);
    take_after(f->j, 10, &nb, b.grp, b.pts[1].seq);
    assert_int_equal(nb.n, 2);
    assert_string_equal(nb.pts[0].name, "c");
    assert_string_equal(nb.pts[1].name, "a");
    assert_true(nb.pts[1].value == 9.0);
    sp_batch_cleanup(&b);
    sp_batch_cleanup(&nb);
    check_invariants(f);
}

static void
test_spool_full_keeps_stored(void **state)
{
    struct tu_journal *f = *state;
    struct sp_point p;
    enum sp_put_result r;

    sp_journal_set_limits(f->j, 3, 0);
    tu_put1(f->j, tu_point("t", SP_AGG_SUM, "m", 1, 1, NULL));
    tu_put1(f->j, tu_point("t", SP_AGG_SUM, "m", 2, 1, NULL));
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    p = tu_point("t", SP_AGG_SUM, "m", 3, 1, NULL);
    assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_OK);
    p = tu_point("t", SP_AGG_SUM, "m", 4, 1, NULL);
    assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_E_FULL);
    /* What was pending before the write, not counting its own. */
    assert_string_equal(sp_journal_errmsg(f->j),
                        "spool full: 2 points pending, "
                        "limits.max_pending_points is 3, and this write "
                        "adds more new points than the 1 left");
    assert_false(sp_journal_full_alone(f->j, 1));
    assert_true(sp_journal_full_alone(f->j, 4)); /* 4 items, limit 3 */
    sp_journal_rollback(f->j);
    /* A write that alone adds more than the limit says so. */
    sp_journal_set_limits(f->j, 1, 0);
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_E_FULL);
    assert_false(sp_journal_full_alone(f->j, 1)); /* 2 pending: wait */
    sp_journal_rollback(f->j);
    sp_journal_set_limits(f->j, 3, 0);
    /* Updating a pending point needs no room. */
    assert_int_equal(tu_put1(f->j, tu_point("t", SP_AGG_SUM, "m", 1, 5, NULL)),
                     SP_PUT_UPDATED);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 2);
    check_invariants(f);
    /* Nor at the limit: an update, or a point put again as it is. */
    tu_put1(f->j, tu_point("t", SP_AGG_SUM, "m", 3, 1, NULL));
    assert_int_equal(tu_put1(f->j, tu_point("t", SP_AGG_SUM, "m", 1, 6, NULL)),
                     SP_PUT_UPDATED);
    assert_int_equal(tu_put1(f->j, tu_point("t", SP_AGG_SUM, "m", 2, 1, NULL)),
                     SP_PUT_UNCHANGED);
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    p = tu_point("t", SP_AGG_SUM, "m", 4, 1, NULL);
    assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_E_FULL);
    sp_journal_rollback(f->j);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 3);
    check_invariants(f);
    /* Byte limit: the journal is already larger than 1 KiB.  What adds
     * points is refused at its first put, and every put after it; what
     * gives space back is not refused. */
    sp_journal_set_limits(f->j, 0, 1024);
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    p = tu_point("t", SP_AGG_SUM, "m", 1, 7, NULL);
    assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_E_FULL);
    assert_non_null(strstr(sp_journal_errmsg(f->j), "max_journal_bytes"));
    p = tu_point("t", SP_AGG_SUM, "m", 8, 1, NULL);
    assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_E_FULL);
    sp_journal_rollback(f->j);
    {
        uint64_t n_deleted = 0, n_purged = 0;

        assert_int_equal(sp_journal_compact(f->j, 0, 0, &n_deleted),
                         CTSPOOL_OK);
        assert_int_equal(sp_journal_dlq_purge(f->j, NULL, 0, &n_purged),
                         CTSPOOL_OK);
    }
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 3);
    sp_journal_set_limits(f->j, 0, 0);
    assert_int_equal(tu_put1(f->j, tu_point("t", SP_AGG_SUM, "m", 9, 1, NULL)),
                     SP_PUT_NEW);
    /* The -wal counts (README: "file plus WAL"): between checkpoints,
     * which serve and the drainer let the -wal grow to, the pages alone
     * would let the disk fill well past the limit. */
    {
        char wal[4096];
        struct stat sb, wb;

        snprintf(wal, sizeof(wal), "%s-wal", f->path);
        assert_int_equal(stat(f->path, &sb), 0);
        assert_int_equal(stat(wal, &wb), 0);
        assert_true(wb.st_size > 8192);
        sp_journal_set_limits(f->j, 0, (uint64_t)(sb.st_size + wb.st_size / 2));
        assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
        p = tu_point("t", SP_AGG_SUM, "m", 10, 1, NULL);
        assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_E_FULL);
        assert_true(tu_msg_matches(sp_journal_errmsg(f->j),
                                   "spool full: journal is *"));
        sp_journal_rollback(f->j);
        sp_journal_set_limits(f->j, 0, 0);
    }
}

static void
test_dead_letters(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    size_t idx[2] = {1, 3};
    uint64_t n = 0;
    struct sp_stats st;

    sp_batch_init(&b);
    for (int i = 0; i < 5; i++) {
        tu_put1(f->j,
                tu_point("t", SP_AGG_SUM, i % 2 ? "bad" : "good", i, i, NULL));
    }
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 5);
    assert_int_equal(sp_journal_dead(f->j, &b, idx, 2, 400,
                                     "{\"message\":\"bad\"}", 77),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.dead_letters, 2);
    assert_int_equal(st.pending_points, 3);
    assert_int_equal(st.requests_4xx, 1);
    check_invariants(f);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead WHERE "
                                      "status = 400 AND body LIKE "
                                      "'%bad%' AND dead_at = 77"),
                     2);
    /* A newer value for one dead identity wins over its requeue. */
    tu_put1(f->j, tu_point("t", SP_AGG_SUM, "bad", 1, 50, NULL));
    assert_int_equal(sp_journal_dlq_requeue(f->j, NULL, 0, &n), CTSPOOL_OK);
    assert_int_equal(n, 2);
    assert_int_equal(tu_sql1(f->path, "SELECT value FROM point WHERE "
                                      "hour = 1"),
                     50);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 0);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 5);
    check_invariants(f);
    /* Purge and unknown IDs.  The answer is kept as UTF-8 text: a byte
     * that is not (0xff) and a character cut at the 4 KiB kept become
     * U+FFFD. */
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    idx[0] = 0;
    {
        char body[6002] = "\xff";

        for (size_t i = 1; i + 2 < sizeof(body); i += 2) {
            memcpy(body + i, "\xc3\xa9", 2);
        }
        body[sizeof(body) - 1] = '\0';
        assert_int_equal(sp_journal_dead(f->j, &b, idx, 1, 422, body, 78),
                         CTSPOOL_OK);
    }
    assert_int_equal(tu_sql1(f->path, "SELECT length(CAST(body AS BLOB)) "
                                      "FROM dead"),
                     4096 + 2 + 2);
    assert_int_equal(tu_sql1(f->path, "SELECT instr(body, char(65533)) = 1 "
                                      "AND substr(body, -1) = char(65533) "
                                      "FROM dead"),
                     1);
    {
        int64_t id = tu_sql1(f->path, "SELECT id FROM dead");
        int64_t bogus = 999;

        assert_int_equal(sp_journal_dlq_purge(f->j, &bogus, 1, &n),
                         CTSPOOL_E_NOTFOUND);
        assert_int_equal(sp_journal_dlq_purge(f->j, &id, 1, &n), CTSPOOL_OK);
        assert_int_equal(n, 1);
    }
    check_invariants(f);
    sp_batch_cleanup(&b);
}

static void
test_compact_retention(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    uint64_t n = 0;

    sp_batch_init(&b);
    for (int i = 0; i < 30; i++) {
        tu_put1(f->j,
                tu_point("t", SP_AGG_SUM, i < 20 ? "old" : "new", i, i, NULL));
    }
    assert_int_equal(sp_journal_take(f->j, 20, &b), CTSPOOL_OK);
    assert_int_equal(sp_journal_ack(f->j, &b, 0, 10, 1000, NULL), CTSPOOL_OK);
    assert_int_equal(sp_journal_ack(f->j, &b, 10, 10, 5000, NULL),
                     CTSPOOL_OK);
    /* The first ten were acknowledged in minute 16 (960-1019 s), maybe
     * at its last second: an hour after 1019 s they are still kept, an
     * hour after the minute's end 1020 s they are deleted. */
    assert_int_equal(sp_journal_compact(f->j, 1019 + 3600, 3600, &n),
                     CTSPOOL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sp_journal_compact(f->j, 1020 + 3600, 3600, &n),
                     CTSPOOL_OK);
    assert_int_equal(n, 10);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 20);
    assert_int_equal(sp_journal_compact(f->j, 9000 + 3600, 3600, &n),
                     CTSPOOL_OK);
    assert_int_equal(n, 10);
    /* "old" series has no point left: gone; pending ones untouched. */
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM series"), 1);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 10);
    /* Caches were reset: the series can come back. */
    assert_int_equal(
        tu_put1(f->j, tu_point("t", SP_AGG_SUM, "old", 0, 1, NULL)),
        SP_PUT_NEW);
    check_invariants(f);
    sp_batch_cleanup(&b);
}

/* Sets the newest seqtime row's time to at; returns its seq. */
static int64_t
seqtime_newest_at(struct tu_journal *f, int64_t at)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "UPDATE seqtime SET at = %lld WHERE seq = (SELECT max(seq) "
             "FROM seqtime) RETURNING seq",
             (long long)at);
    return tu_sql1(f->path, sql);
}

/* seqtime gets a row per second, not per transaction, and still dates
 * every pending seq as a row per transaction would. */
static void
test_seqtime_row_per_second(void **state)
{
    struct tu_journal *f = *state;
    struct sp_stats st;
    int64_t rows, first, t0, t1;
    int tries = 0;

    tu_put1(f->j, tu_point("t", SP_AGG_SUM, "a", 1, 1.0, NULL));
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM seqtime"), 1);
    /* An older newest row: the next transaction adds its own. */
    first = seqtime_newest_at(f, 1000);
    assert_true(first > 0);
    t0 = (int64_t)time(NULL);
    tu_put1(f->j, tu_point("t", SP_AGG_SUM, "a", 2, 1.0, NULL));
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM seqtime"), 2);
    assert_true(tu_sql1(f->path, "SELECT at FROM seqtime ORDER BY seq "
                                 "DESC LIMIT 1") >= t0);
    /* A newest row of this second: the next transaction adds none (a
     * try whose put crossed into the next second is made again). */
    do {
        assert_true(++tries < 1000);
        rows = tu_sql1(f->path, "SELECT count(*) FROM seqtime");
        t0 = (int64_t)time(NULL);
        seqtime_newest_at(f, t0);
        tu_put1(f->j, tu_point("t", SP_AGG_SUM, "b", tries, 1.0, NULL));
        t1 = (int64_t)time(NULL);
    } while (t1 != t0);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM seqtime"), rows);
    /* The oldest pending point still reads its own transaction's time. */
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.oldest_pending_at, 1000);
    check_invariants(f);
}

/* A point updated while pending takes a new seq, but its group's wait
 * goes on: from when its queue was last empty (grp_pending), or from its
 * last acknowledgement, to the second, if later.  Uploads of other
 * groups do not hide it; delivered, nothing waits. */
static void
test_pending_age_survives_updates(void **state)
{
    struct tu_journal *f = *state;
    struct sp_take_from from = {0, 0, INT64_MAX};
    struct sp_stats st;
    struct sp_batch b;
    int64_t t0 = (int64_t)time(NULL), stuck;

    tu_put1(f->j, tu_point("t", SP_AGG_MAXIMUM, "g", 1, 1.0, NULL));
    tu_put1(f->j, tu_point("t", SP_AGG_MAXIMUM, "g", 2, 1.0, NULL));
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM grp_pending"),
                     1);
    assert_true(tu_sql1(f->path, "SELECT since FROM grp_pending") >= t0);
    stuck = tu_sql1(f->path, "SELECT grp FROM grp_pending");
    /* As if it became pending long ago, then was updated now. */
    tu_sql1(f->path, "UPDATE grp_pending SET since = 1700000000");
    tu_put1(f->j, tu_point("t", SP_AGG_MAXIMUM, "g", 1, 2.0, NULL));
    assert_int_equal(tu_sql1(f->path, "SELECT since FROM grp_pending"),
                     1700000000);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.oldest_pending_at, 1700000000);
    /* An acknowledgement of some of the group moves its wait on. */
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(f->j, 1, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1);
    assert_int_equal(sp_journal_ack(f->j, &b, 0, 1, 1700000531, NULL),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.oldest_pending_at, 1700000531);
    /* Another group delivering now does not: one stuck group shows. */
    tu_put1(f->j, tu_point("t", SP_AGG_SUM, "other", 1, 1.0, NULL));
    from.grp = stuck;
    assert_int_equal(sp_journal_take_next(f->j, 10, &from, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1);
    assert_true(b.grp != stuck);
    assert_int_equal(sp_journal_ack(f->j, &b, 0, 1, t0, NULL), CTSPOOL_OK);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.oldest_pending_at, 1700000531);
    assert_non_null(strstr(st.oldest_pending_group, "/Maximum"));
    /* Delivered: nothing waits, no group waits. */
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.grp, stuck);
    assert_int_equal(sp_journal_ack(f->j, &b, 0, b.n, t0, NULL), CTSPOOL_OK);
    sp_batch_cleanup(&b);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM grp_pending"),
                     0);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.oldest_pending_at, -1);
    assert_string_equal(st.oldest_pending_group, "");
    check_invariants(f);
}

/* A transaction with more groups than it notes one by one (QGRPS_MAX)
 * still gives each its grp_pending row, and takes them when emptied. */
static void
test_pending_many_groups(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    enum sp_put_result r;
    char tok[16];

    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    for (int k = 0; k < 24; k++) {
        struct sp_point p;

        snprintf(tok, sizeof(tok), "tok-%d", k / 4);
        p = tu_point(tok, k % 4, "m", 1, 1.0, NULL);
        assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_OK);
    }
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM grp_pending"),
                     24);
    check_invariants(f);
    sp_batch_init(&b);
    for (int k = 0; k < 24; k++) {
        assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
        assert_int_equal(b.n, 1);
        assert_int_equal(sp_journal_ack(f->j, &b, 0, 1, 1700000000, NULL),
                         CTSPOOL_OK);
    }
    sp_batch_cleanup(&b);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM grp_pending"),
                     0);
    check_invariants(f);
}

static void
test_savepoint_rollback(void **state)
{
    struct tu_journal *f = *state;
    struct sp_point p;
    enum sp_put_result r;

    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    p = tu_point("t", SP_AGG_SUM, "kept", 1, 1, NULL);
    assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_OK);
    assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
    p = tu_point("t", SP_AGG_SUM, "gone", 1, 1, "x=y");
    assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_OK);
    assert_int_equal(sp_journal_rollback_to(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
    p = tu_point("t", SP_AGG_SUM, "also", 1, 1, NULL);
    assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_OK);
    assert_int_equal(sp_journal_release(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 2);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM series WHERE "
                                      "metric_name = 'gone'"),
                     0);
    check_invariants(f);
    /* The rolled-back series is not served from a stale cache. */
    assert_int_equal(
        tu_put1(f->j, tu_point("t", SP_AGG_SUM, "gone", 1, 1, "x=y")),
        SP_PUT_NEW);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM series WHERE "
                                      "metric_name = 'gone'"),
                     1);
}

/* Puts one point inside the open transaction. */
static enum sp_put_result
put_in(struct sp_journal *j, int64_t hour, double v)
{
    struct sp_point p = tu_point("t", SP_AGG_SUM, "m", hour, v, NULL);
    enum sp_put_result r = SP_PUT_UNCHANGED;

    assert_int_equal(sp_journal_put(j, &p, &r), CTSPOOL_OK);
    return r;
}

/*
 * Queue rows are inserted in groups: updates of points whose rows are
 * still buffered or already inserted, in one transaction and across a
 * savepoint rolled back, leave exactly one queue row per pending point
 * with its newest value (check_invariants compares queue with point).
 */
static void
test_queue_rows_buffered(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    int64_t h;

    sp_batch_init(&b);
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    for (h = 0; h < 100; h++) {
        assert_int_equal(put_in(f->j, h, (double)h), SP_PUT_NEW);
    }
    assert_int_equal(put_in(f->j, 5, -5), SP_PUT_UPDATED);   /* inserted */
    assert_int_equal(put_in(f->j, 80, -80), SP_PUT_UPDATED); /* buffered */
    assert_int_equal(put_in(f->j, 80, -81), SP_PUT_UPDATED);
    assert_int_equal(put_in(f->j, 99, 99), SP_PUT_UNCHANGED);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    check_invariants(f);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 100);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue WHERE "
                                      "value < 0"),
                     2);

    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(put_in(f->j, 100, 100), SP_PUT_NEW);
    assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
    for (h = 200; h < 270; h++) {
        assert_int_equal(put_in(f->j, h, (double)h), SP_PUT_NEW);
    }
    assert_int_equal(put_in(f->j, 100, -100), SP_PUT_UPDATED);
    assert_int_equal(put_in(f->j, 7, -7), SP_PUT_UPDATED);
    assert_int_equal(sp_journal_rollback_to(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
    assert_int_equal(put_in(f->j, 101, 101), SP_PUT_NEW);
    assert_int_equal(sp_journal_release(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    check_invariants(f);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 102);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue WHERE "
                                      "hour = 100 AND value = 100"),
                     1);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue WHERE "
                                      "hour = 7 AND value = 7"),
                     1);
    /* Journal order: the updated points went to the end. */
    assert_int_equal(sp_journal_take(f->j, 200, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 102);
    assert_int_equal(b.pts[97].hour, 99);
    assert_int_equal(b.pts[98].hour, 5);
    assert_true(b.pts[98].value == -5.0);
    assert_int_equal(b.pts[99].hour, 80);
    assert_true(b.pts[99].value == -81.0);
    assert_int_equal(b.pts[100].hour, 100);
    assert_int_equal(b.pts[101].hour, 101);
    sp_batch_cleanup(&b);
}

static void
test_rollback_stores_nothing(void **state)
{
    struct tu_journal *f = *state;
    struct sp_point p;
    enum sp_put_result r;

    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    for (int i = 0; i < 100; i++) {
        p = tu_point("t", SP_AGG_SUM, "m", i, i, NULL);
        assert_int_equal(sp_journal_put(f->j, &p, &r), CTSPOOL_OK);
    }
    sp_journal_rollback(f->j);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 0);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM series"), 0);
    assert_int_equal(tu_put1(f->j, tu_point("t", SP_AGG_SUM, "m", 1, 1, NULL)),
                     SP_PUT_NEW);
    check_invariants(f);
}

/*
 * A journal of schema version 1 (no value in queue) is migrated on open:
 * every pending point's value is copied into its queue row.
 */
static void
test_migration_fills_queue_values(void **state)
{
    struct tu_journal *f = *state;
    struct sp_journal_opts o = {0};
    struct sp_batch b;
    struct sp_err e;
    sqlite3 *db;

    sp_batch_init(&b);
    tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "m", 100, 1.5, NULL));
    tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "m", 101, 2.5, NULL));
    tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "m", 102, 3.5, NULL));
    tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "m", 100, -7.25, NULL));
    sp_journal_close(f->j);
    f->j = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ALTER TABLE queue DROP COLUMN value; "
                                  "ALTER TABLE point DROP COLUMN avg_sum; "
                                  "ALTER TABLE point DROP COLUMN avg_n; "
                                  TU_UNDO_0009
                                  "DROP TABLE idem; DROP TABLE resend; "
                                  "PRAGMA user_version = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    o.path = f->path;
    o.durability_full = 1;
    assert_int_equal(sp_journal_open(&o, &f->j, &e), CTSPOOL_OK);
    assert_int_equal(tu_sql1(f->path, "PRAGMA user_version"),
                     sp_schema[sp_schema_count - 1].version);
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.pts[0].hour, 101);
    assert_true(b.pts[0].value == 2.5);
    assert_int_equal(b.pts[1].hour, 102);
    assert_true(b.pts[1].value == 3.5);
    assert_int_equal(b.pts[2].hour, 100);
    assert_true(b.pts[2].value == -7.25);
    check_invariants(f);
    sp_batch_cleanup(&b);
}

static void
test_newer_schema_refused(void **state)
{
    struct tu_journal *f = *state;
    struct sp_journal_opts o = {0};
    struct sp_journal *j2 = NULL;
    struct sp_err e;
    sqlite3 *db;

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    o.path = f->path;
    assert_int_equal(sp_journal_open(&o, &j2, &e), CTSPOOL_E_SCHEMA);
    assert_null(j2);
    assert_non_null(strstr(e.msg, "newer"));
}

static void
test_missing_directory(void **state)
{
    struct tu_journal *f = *state;
    struct sp_journal_opts o = {0};
    struct sp_journal *j2 = NULL;
    struct sp_err e;
    char *p = tu_path(f->dir, "nope/journal.db");

    o.path = p;
    assert_int_equal(sp_journal_open(&o, &j2, &e), CTSPOOL_E_CANTCREATE);
    assert_non_null(strstr(e.msg, "does not exist"));
    free(p);
}

/* Runs sql on the journal with a connection of its own: behind the
 * journal's back. */
static void
raw_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* The checker's verdict on f's journal; its message must contain want. */
static int
checked(struct tu_journal *f, const char *want)
{
    char why[512];
    int inv = sp_journal_check(f->j, why, sizeof(why));

    if (!strstr(why, want)) {
        fail_msg("checker said \"%s\", expected \"%s\"", why, want);
    }
    return inv;
}

/* Does the file at path hold the bytes s? */
static int
file_holds(const char *path, const char *s)
{
    size_t n;
    unsigned char *buf = tu_read_file(path, &n);
    int found = memmem(buf, n, s, strlen(s)) != NULL;

    free(buf);
    return found;
}

/*
 * What a handle deletes is zeroed in the file (secure_delete), whatever
 * SQLite's build default, so that a token compact deletes is gone; the
 * drainer's handle (keep_deleted) leaves it: here the body of a dead
 * letter purged.
 */
static void
test_deleted_bytes_zeroed_unless_kept(void **state)
{
    struct tu_journal *f = *state;
    static const char marker[] = "purged-body-5f3a9c";

    for (int keep = 0; keep < 2; keep++) {
        char name[32];
        char *path;
        struct sp_journal_opts o;
        struct sp_journal *j = NULL;
        struct sp_batch b;
        struct sp_err e;
        size_t idx = 0;
        uint64_t n = 0;

        snprintf(name, sizeof(name), "keep%d.db", keep);
        path = tu_path(f->dir, name);
        memset(&o, 0, sizeof(o));
        o.path = path;
        o.keep_deleted = keep;
        assert_int_equal(sp_journal_open(&o, &j, &e), CTSPOOL_OK);
        tu_put1(j, tu_point("t", SP_AGG_SUM, "m", 1, 1, NULL));
        sp_batch_init(&b);
        assert_int_equal(sp_journal_take(j, 10, &b), CTSPOOL_OK);
        assert_int_equal(sp_journal_dead(j, &b, &idx, 1, 400, marker, 1),
                         CTSPOOL_OK);
        sp_batch_cleanup(&b);
        assert_int_equal(sp_journal_dlq_purge(j, NULL, 0, &n), CTSPOOL_OK);
        assert_int_equal(n, 1);
        sp_journal_close(j); /* checkpointed into the file */
        assert_int_equal(file_holds(path, marker), keep);
        free(path);
    }
}

/* The token of a group compaction deletes is zeroed in the file, also
 * by a handle that keeps what it deletes otherwise (the drainer's, which
 * compacts hourly). */
static void
test_compact_zeroes_tokens(void **state)
{
    struct tu_journal *f = *state;
    static const char token[] = "tok-marker-9e1d77";
    char *path = tu_path(f->dir, "kept.db");
    struct sp_journal_opts o;
    struct sp_journal *j = NULL;
    struct sp_batch b;
    struct sp_err e;
    uint64_t n = 0;

    memset(&o, 0, sizeof(o));
    o.path = path;
    o.keep_deleted = 1;
    assert_int_equal(sp_journal_open(&o, &j, &e), CTSPOOL_OK);
    tu_put1(j, tu_point(token, SP_AGG_SUM, "m", 1, 1, NULL));
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(j, 10, &b), CTSPOOL_OK);
    assert_int_equal(sp_journal_ack(j, &b, 0, 1, 60, NULL), CTSPOOL_OK);
    sp_batch_cleanup(&b);
    assert_int_equal(sp_journal_compact(j, 1000000, 0, &n), CTSPOOL_OK);
    assert_int_equal(n, 1);
    sp_journal_close(j);
    assert_int_equal(tu_sql1(path, "SELECT count(*) FROM grp"), 0);
    assert_false(file_holds(path, token));
    free(path);
}

/* Three pending points at hours 0..2, one acked at hour 3, one dead
 * letter at hour 4 (all of stream "t", metric "m"). */
static void
fill_states(struct tu_journal *f)
{
    struct sp_batch b;
    size_t idx = 1;

    sp_batch_init(&b);
    tu_put1(f->j, tu_point("t", SP_AGG_SUM, "m", 3, 3, NULL));
    tu_put1(f->j, tu_point("t", SP_AGG_SUM, "d", 4, 4, NULL));
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 2);
    assert_int_equal(sp_journal_dead(f->j, &b, &idx, 1, 400, "bad", 1),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_ack(f->j, &b, 0, 1, 1, NULL), CTSPOOL_OK);
    for (int i = 0; i < 3; i++) {
        tu_put1(f->j, tu_point("t", SP_AGG_SUM, "m", i, i, NULL));
    }
    sp_batch_cleanup(&b);
    assert_int_equal(checked(f, ""), 0);
}

/* Each checked invariant, broken behind the journal's back, is named. */
static void
test_checker_finds_broken_invariants(void **state)
{
    struct tu_journal *f = *state;
    static const struct {
        const char *sql;
        int inv;
        const char *want;
    } cases[] = {
        /* (4) a queue row deleted, meta.pending not */
        {"DELETE FROM queue WHERE hour = 1",
         4, "meta.pending is 3 but queue has 2 rows"},
        {"UPDATE meta SET v = 9 WHERE k = 'points'",
         4, "meta.points is 9 but point has 4 rows"},
        /* (6) */
        {"UPDATE meta SET v = 3 WHERE k = 'next_seq'",
         6, "but point.seq"},
        /* (3) a queue row carrying another value, or naming another
         * version of its point */
        {"UPDATE queue SET value = 42 WHERE hour = 2",
         3, "carries value 42, its point (hour 2"},
        {"UPDATE point SET seq = seq + 100 WHERE hour = 0; "
         "UPDATE meta SET v = v + 100 WHERE k = 'next_seq'",
         3, "is not the current version of point (hour 0"},
        {"DELETE FROM point WHERE hour = 1; "
         "UPDATE meta SET v = v - 1 WHERE k = 'points'",
         3, "which does not exist"},
        /* (2) an acked point in another group than its series */
        {"UPDATE point SET grp = grp + 7 WHERE hour = 3",
         2, "its series grp"},
        {"DELETE FROM grp",
         2, "which does not exist"},
        /* (5) a dead letter's record gone */
        {"DELETE FROM series WHERE metric_name = 'd'",
         5, "dead letter 1 names series"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (i > 0) { /* a fresh journal for each case */
            sp_journal_close(f->j);
            tu_rmtree(f->dir);
            free(f->path);
            f->dir = tu_tmpdir();
            f->path = tu_path(f->dir, "journal.db");
            tu_journal_open(f);
        }
        fill_states(f);
        raw_sql(f->path, cases[i].sql);
        if (checked(f, cases[i].want) != cases[i].inv) {
            fail_msg("case %zu: not invariant %d", i, cases[i].inv);
        }
    }
}

/* The commit hook of Debug builds (CTSPOOL_JOURNAL_CHECK) aborts with
 * the invariant's number before committing; other builds commit. */
static void
test_commit_hook_aborts(void **state)
{
    struct tu_journal *f = *state;
    char *err = tu_path(f->dir, "stderr.txt");
    pid_t pid;
    int status;

    fill_states(f);
    raw_sql(f->path, "DELETE FROM queue WHERE hour = 1");
    sp_journal_close(f->j);
    f->j = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sp_journal_opts o = {0};
        struct sp_journal *j = NULL;
        struct sp_err e;
        enum sp_put_result res;
        struct sp_point p = tu_point("t", SP_AGG_SUM, "m", 9, 9, NULL);

        signal(SIGABRT, SIG_DFL); /* not cmocka's handler */
        if (!freopen(err, "w", stderr)) {
            _exit(2);
        }
        o.path = f->path;
        if (sp_journal_open(&o, &j, &e) != CTSPOOL_OK ||
            sp_journal_begin(j) != CTSPOOL_OK ||
            sp_journal_put(j, &p, &res) != CTSPOOL_OK) {
            _exit(3);
        }
        _exit(sp_journal_commit(j) == CTSPOOL_OK ? 0 : 4);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
#ifdef CTSPOOL_JOURNAL_CHECK
    {
        FILE *fp = fopen(err, "r");
        char line[1024] = "";

        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
        assert_non_null(fp);
        assert_non_null(fgets(line, sizeof(line), fp));
        fclose(fp);
        assert_non_null(strstr(line, "invariant (4)"));
        assert_non_null(strstr(line, "meta.pending is 4 but queue has 3"));
    }
    /* Nothing of the broken transaction was committed. */
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 4);
#else
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#endif
    tu_journal_open(f);
    free(err);
}

/* must_exist: a missing journal is E_NOINPUT and nothing is created. */
static void
test_must_exist_creates_nothing(void **state)
{
    struct tu_journal *f = *state;
    struct sp_journal_opts o = {0};
    struct sp_journal *j2 = NULL;
    struct sp_err e;
    char *dir = tu_tmpdir();
    char *p = tu_path(dir, "journal.db");
    char *deeper = tu_path(dir, "nope/journal.db");
    char cmd[4096];

    o.must_exist = 1;
    o.path = p;
    assert_int_equal(sp_journal_open(&o, &j2, &e), CTSPOOL_E_NOINPUT);
    assert_null(j2);
    assert_non_null(strstr(e.msg, "does not exist"));
    assert_non_null(strstr(e.msg, p));
    o.path = deeper;
    assert_int_equal(sp_journal_open(&o, &j2, &e), CTSPOOL_E_NOINPUT);
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", dir);
    assert_int_equal(system(cmd), 0); /* the directory is still empty */
    /* An existing journal opens as usual. */
    o.path = f->path;
    assert_int_equal(sp_journal_open(&o, &j2, &e), CTSPOOL_OK);
    sp_journal_close(j2);
    free(p);
    free(deeper);
    tu_rmtree(dir);
}

/* sp_list_cb: appends "state stream agg name hour;" to a struct rows. */
struct rows {
    char text[2048];
    size_t n;
};

static ctspool_rc
collect_row(void *ctx, const struct sp_list_row *r)
{
    struct rows *o = ctx;
    size_t len = strlen(o->text);

    snprintf(o->text + len, sizeof(o->text) - len, "%s %s %d %s %lld;",
             r->state, r->stream, r->agg, r->name, (long long)r->hour);
    o->n++;
    return CTSPOOL_OK;
}

static const char *
list_f(struct tu_journal *t, unsigned what, const struct sp_list_filter *f,
       struct rows *o)
{
    memset(o, 0, sizeof(*o));
    assert_int_equal(sp_journal_list_filtered(t->j, what, f, collect_row, o),
                     CTSPOOL_OK);
    return o->text;
}

/* Every filter of list, alone and together, over pending and dead. */
static void
test_list_filtered(void **state)
{
    struct tu_journal *f = *state;
    const unsigned all = SP_LIST_PENDING | SP_LIST_ACKED | SP_LIST_DEAD;
    struct sp_list_filter q = SP_LIST_FILTER_ALL;
    struct sp_batch b;
    size_t idx[1] = {0};
    struct rows o;

    sp_batch_init(&b);
    tu_put1(f->j, tu_point("ta", SP_AGG_SUM, "cpu", 10, 1, NULL));
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(sp_journal_dead(f->j, &b, idx, 1, 400, "no", 5),
                     CTSPOOL_OK);
    tu_put1(f->j, tu_point("ta", SP_AGG_SUM, "cpu", 11, 2, NULL));
    tu_put1(f->j, tu_point("ta", SP_AGG_MAXIMUM, "cpu", 12, 3, NULL));
    tu_put1(f->j, tu_point("tb", SP_AGG_SUM, "mem", 13, 4, NULL));
    tu_put1(f->j, tu_point("tab", SP_AGG_SUM, "cpu", 14, 5, NULL));

    assert_string_equal(list_f(f, all, &q, &o),
                        "pending ta 0 cpu 11;pending ta 2 cpu 12;"
                        "pending tb 0 mem 13;pending tab 0 cpu 14;"
                        "dead ta 0 cpu 10;");
    q.stream = "ta";
    assert_string_equal(list_f(f, all, &q, &o),
                        "pending ta 0 cpu 11;pending ta 2 cpu 12;"
                        "dead ta 0 cpu 10;");
    q.agg = SP_AGG_SUM;
    assert_string_equal(list_f(f, all, &q, &o),
                        "pending ta 0 cpu 11;dead ta 0 cpu 10;");
    q.stream = NULL;
    q.metric = "cpu";
    assert_string_equal(list_f(f, all, &q, &o),
                        "pending ta 0 cpu 11;pending tab 0 cpu 14;"
                        "dead ta 0 cpu 10;");
    q.has_since = 1;
    q.since_hour = 11;
    q.has_until = 1;
    q.until_hour = 14;
    assert_string_equal(list_f(f, all, &q, &o), "pending ta 0 cpu 11;");
    q.since_hour = 10;
    assert_string_equal(list_f(f, SP_LIST_DEAD, &q, &o), "dead ta 0 cpu 10;");
    q.metric = "CPU";
    assert_string_equal(list_f(f, all, &q, &o), "");
    /* The limit counts rows over the states. */
    q = (struct sp_list_filter)SP_LIST_FILTER_ALL;
    q.limit = 4;
    assert_string_equal(list_f(f, all, &q, &o),
                        "pending ta 0 cpu 11;pending ta 2 cpu 12;"
                        "pending tb 0 mem 13;pending tab 0 cpu 14;");
    q.limit = 5;
    assert_int_equal((list_f(f, all, &q, &o), o.n), 5);
    q.limit = 2;
    q.metric = "cpu";
    assert_string_equal(list_f(f, all, &q, &o),
                        "pending ta 0 cpu 11;pending ta 2 cpu 12;");
    q.limit = 1;
    assert_string_equal(list_f(f, SP_LIST_DEAD, &q, &o), "dead ta 0 cpu 10;");
    /* Unfiltered list is the filtered one with nothing set. */
    memset(&o, 0, sizeof(o));
    assert_int_equal(sp_journal_list(f->j, SP_LIST_PENDING, collect_row, &o),
                     CTSPOOL_OK);
    assert_int_equal(o.n, 4);
    check_invariants(f);
    sp_batch_cleanup(&b);
}

/* --kind of list: the events group's rows, or every other group's. */
static void
test_list_kind(void **state)
{
    struct tu_journal *f = *state;
    const unsigned all = SP_LIST_PENDING | SP_LIST_ACKED | SP_LIST_DEAD;
    struct sp_list_filter q = SP_LIST_FILTER_ALL;
    struct sp_event ev;
    enum sp_put_result res;
    struct rows o;

    memset(&ev, 0, sizeof(ev));
    ev.hour = 12;
    ev.type = "deploy";
    ev.type_len = 6;
    ev.description = "v1";
    ev.description_len = 2;
    tu_put1(f->j, tu_point("ta", SP_AGG_SUM, "cpu", 11, 2, NULL));
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_put_event(f->j, &ev, &res), CTSPOOL_OK);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(res, SP_PUT_NEW);

    assert_string_equal(list_f(f, all, &q, &o),
                        "pending ta 0 cpu 11;pending  4 deploy 12;");
    q.kind = SP_LIST_KIND_POINTS;
    assert_string_equal(list_f(f, all, &q, &o), "pending ta 0 cpu 11;");
    q.kind = SP_LIST_KIND_EVENTS;
    assert_string_equal(list_f(f, all, &q, &o), "pending  4 deploy 12;");
    q.stream = "ta";
    assert_string_equal(list_f(f, all, &q, &o), "");
    /* The metric name filter is for points: an event's type is no
     * metric name. */
    q = (struct sp_list_filter)SP_LIST_FILTER_ALL;
    q.metric = "deploy";
    assert_string_equal(list_f(f, all, &q, &o), "");
    check_invariants(f);
}

/* ---- waiting for another writer (journal_busy.c) ---------------------- */

/* A second writer: takes the write lock of the database at path and
 * gives it back hold_ms later. */
struct holder {
    const char *path;
    int hold_ms;
    int fd; /* written once the lock is held */
};

static void *
hold_lock(void *arg)
{
    struct holder *h = arg;
    struct timespec nap = {h->hold_ms / 1000, (h->hold_ms % 1000) * 1000000L};
    sqlite3 *db = NULL;

    if (sqlite3_open(h->path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        write(h->fd, "x", 1) != 1) {
        abort();
    }
    nanosleep(&nap, NULL); /* the lock is held this long: the subject */
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return NULL;
}

static struct sp_journal *
open_with_wait(const char *path, int busy_ms)
{
    struct sp_journal_opts o = {0};
    struct sp_journal *j = NULL;
    struct sp_err e;

    o.path = path;
    o.durability_full = 1;
    o.busy_timeout_ms = busy_ms;
    assert_int_equal(sp_journal_open(&o, &j, &e), CTSPOOL_OK);
    return j;
}

/* sp_journal_begin(j) while another connection holds the write lock
 * for hold_ms: its result, and in *waited how long it took (ms). */
static ctspool_rc
begin_while_held(struct sp_journal *j, const char *path, int hold_ms,
                 int64_t *waited)
{
    struct holder h = {path, hold_ms, -1};
    pthread_t th;
    ctspool_rc rc;
    int64_t t0;
    int fds[2];
    char c;

    assert_int_equal(pipe(fds), 0);
    h.fd = fds[1];
    assert_int_equal(pthread_create(&th, NULL, hold_lock, &h), 0);
    assert_int_equal(read(fds[0], &c, 1), 1); /* the lock is held */
    t0 = sp_clock_ms();
    rc = sp_journal_begin(j);
    *waited = sp_clock_ms() - t0;
    if (rc == CTSPOOL_OK) {
        sp_journal_rollback(j);
    }
    pthread_join(th, NULL);
    close(fds[0]);
    close(fds[1]);
    return rc;
}

/*
 * A writer waits for the lock as long as its timeout and no longer; a
 * lock given back meanwhile is taken.
 */
static void
test_lock_wait(void **state)
{
    struct tu_journal *f = *state;
    struct sp_journal *j = open_with_wait(f->path, 300);
    int64_t waited;

    /* Held longer than the timeout: E_BUSY, not before 300 ms, and not
     * only when the holder lets go. */
    assert_int_equal(begin_while_held(j, f->path, 1500, &waited),
                     CTSPOOL_E_BUSY);
    assert_true(waited >= 300);
    assert_true(waited < 1500);
    sp_journal_close(j);

    /* Held a while, well within the timeout: the lock is had. */
    j = open_with_wait(f->path, 10000);
    assert_int_equal(begin_while_held(j, f->path, 60, &waited),
                     CTSPOOL_OK);
    assert_true(waited < 10000);
    sp_journal_close(j);
}

/* Puts the points named "s<i>" for i in [from, to) step step, each at
 * hours HOUR0 .. HOUR0 + hours - 1, value v, in one transaction. */
static void
put_named(struct sp_journal *j, int from, int to, int step, int hours,
          double v)
{
    char name[16], dim[32];
    enum sp_put_result res;

    assert_int_equal(sp_journal_begin(j), CTSPOOL_OK);
    for (int i = from; i < to; i += step) {
        for (int h = 0; h < hours; h++) {
            struct sp_point p;

            snprintf(name, sizeof(name), "s%d", i);
            snprintf(dim, sizeof(dim), "d=%d", i);
            p = tu_point("tok", SP_AGG_SUM, name, 470000 + h, v, dim);
            assert_int_equal(sp_journal_put(j, &p, &res), CTSPOOL_OK);
        }
    }
    assert_int_equal(sp_journal_commit(j), CTSPOOL_OK);
}

/* Every point of a take names its own series: read as a run of ids or
 * one by one, a series shared by several points, ids of the run that
 * are not in the take. */
static void
test_take_names_points(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    char want[32];
    /* from, to, step, hours: one run with gaps; spread ids */
    static const int takes[][4] = {{10, 40, 2, 3}, {0, 100, 33, 2}};

    put_named(f->j, 0, 100, 1, 1, 1); /* series ids 1 .. 100 */
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(f->j, 1000, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 100);
    assert_int_equal(sp_journal_ack(f->j, &b, 0, b.n, 1700000000, NULL),
                     CTSPOOL_OK);
    for (size_t t = 0; t < 2; t++) {
        const int *k = takes[t];
        size_t n = 0;

        put_named(f->j, k[0], k[1], k[2], k[3], 2 + (double)t);
        assert_int_equal(sp_journal_take(f->j, 1000, &b), CTSPOOL_OK);
        for (int i = k[0]; i < k[1]; i += k[2]) {
            n += (size_t)k[3];
        }
        assert_int_equal(b.n, n);
        for (size_t i = 0; i < b.n; i++) {
            int id = atoi(b.pts[i].name + 1);

            assert_true(b.pts[i].name[0] == 's');
            assert_true(id >= k[0] && id < k[1] && (id - k[0]) % k[2] == 0);
            snprintf(want, sizeof(want), "{\"d\":\"%d\"}", id);
            assert_string_equal(b.pts[i].dims, want);
            assert_int_equal(b.pts[i].series, id + 1);
        }
        assert_int_equal(sp_journal_ack(f->j, &b, 0, b.n, 1700000000, NULL),
                         CTSPOOL_OK);
    }
    sp_batch_cleanup(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn)                                                                  \
    cmocka_unit_test_setup_teardown(fn, tu_journal_setup, tu_journal_teardown)
        T(test_created_private_and_wal),
        T(test_upsert_new_updated_unchanged),
        T(test_ack_is_race_safe),
        T(test_take_round_robin),
        T(test_take_after_skips_in_flight),
        T(test_spool_full_keeps_stored),
        T(test_dead_letters),
        T(test_compact_retention),
        T(test_deleted_bytes_zeroed_unless_kept),
        T(test_compact_zeroes_tokens),
        T(test_seqtime_row_per_second),
        T(test_pending_age_survives_updates),
        T(test_pending_many_groups),
        T(test_savepoint_rollback),
        T(test_rollback_stores_nothing),
        T(test_queue_rows_buffered),
        T(test_migration_fills_queue_values),
        T(test_newer_schema_refused),
        T(test_missing_directory),
        T(test_must_exist_creates_nothing),
        T(test_checker_finds_broken_invariants),
        T(test_commit_hook_aborts),
        T(test_list_filtered),
        T(test_list_kind),
        T(test_lock_wait),
        T(test_take_names_points),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
