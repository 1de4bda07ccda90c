/*
 * test_salvage.c -- damaged journals (journal_heal.c, salvage.c): salvage
 * recovers pending points (with the time they were first written), points
 * noted to send again and dead letters but not other acknowledged points,
 * leaves what the live journal holds alone and adds nothing when run
 * again; garbage over pages in the middle costs only the rows there; a
 * quarantine renames the set, the other handle follows it to the fresh
 * journal, and a batch taken before the move acknowledges nothing there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "journal.h"
#include "migrate.h"
#include "salvage.h"
#include "testutil.h"

#define HOUR0 470000

/* A second journal (dir/name), opened like the fixture's. */
static struct sp_journal *
open_other(const char *path)
{
    struct sp_journal_opts o;
    struct sp_journal *j = NULL;
    struct sp_err e;

    memset(&o, 0, sizeof(o));
    o.path = path;
    o.durability_full = 0;
    assert_int_equal(sp_journal_open(&o, &j, &e), CTSPOOL_OK);
    return j;
}

static void
fill(struct sp_journal *j, int n)
{
    tu_fill(j, n, HOUR0);
}

/* A journal "damaged.db" beside f's with n points (fill()), then sql run
 * on it; its path (malloc'd). */
static char *
filled_then(struct tu_journal *f, int n, const char *sql)
{
    char *path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(path);

    fill(src, n);
    sp_journal_close(src);
    tu_sql1(path, sql);
    return path;
}

static void
test_salvage_pending_and_dead(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);
    struct sp_salvage_report rep;
    struct sp_batch b;
    struct sp_err e;
    size_t dead_idx[3] = {0, 1, 2}, n_acked = 0;
    struct sp_point newer;

    fill(src, 1000);
    /* 3 dead letters, then 97 acknowledged: 900 stay pending. */
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(src, 100, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 100);
    assert_int_equal(sp_journal_dead(src, &b, dead_idx, 3, 400,
                                     "{\"error\": \"bad\"}", 1700000000),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_ack(src, &b, 3, 97, 1700000000, &n_acked),
                     CTSPOOL_OK);
    assert_int_equal(n_acked, 97);
    sp_batch_cleanup(&b);
    sp_journal_close(src);

    /* The live journal already holds a newer value of one of them. */
    /* k = 901: tok-a, Average, m1, its group not taken above */
    newer = tu_point("tok-a", 1, "m1", HOUR0 + 9, 4242.0, "host=h1");
    tu_put1(f->j, newer);

    assert_int_equal(sp_salvage(f->j, src_path, 64, &rep, &e), CTSPOOL_OK);
    assert_true(rep.read_anything);
    assert_int_equal(rep.pending, 899);
    assert_int_equal(rep.present, 1);
    assert_int_equal(rep.dead, 3);
    assert_int_equal(rep.unreadable, 0);
    assert_int_equal(rep.pending_expected, 900);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 900);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 3);
    assert_int_equal(tu_sql1(f->path, "SELECT v FROM meta WHERE "
                                      "k = 'pending'"),
                     900);
    assert_int_equal(tu_sql1(f->path, "SELECT CAST(value AS INTEGER) FROM "
                                      "point WHERE value = 4242"),
                     4242);
    assert_int_equal(tu_sql1(f->path, "SELECT status FROM dead LIMIT 1"),
                     400);

    /* Again: nothing new. */
    assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 0);
    assert_int_equal(rep.dead, 0);
    assert_int_equal(rep.present, 903);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 900);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 3);
    free(src_path);
}

/* One salvage into a journal at a time: while another holds
 * JOURNAL-salvage.lock, sp_salvage is refused (E_LOCKED, saying so) and
 * adds nothing; once it is released, the same call recovers all. */
static void
test_salvage_one_at_a_time(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = filled_then(f, 30, "SELECT 1");
    char *lock = tu_path(f->dir, "journal.db-salvage.lock");
    struct sp_salvage_report rep;
    struct sp_err e;
    int fd = open(lock, O_RDWR | O_CREAT, 0600);

    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e),
                     CTSPOOL_E_LOCKED);
    assert_true(tu_msg_matches(e.msg, "another salvage into journal *"));
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 0);
    close(fd);
    assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 30);
    free(lock);
    free(src_path);
}

/* Salvaged points keep the time the damaged journal first wrote them:
 * the age of the oldest pending point does not restart at the salvage,
 * and a point written after it does not make the oldest younger. */
static void
test_salvage_keeps_age(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = filled_then(f, 100, "UPDATE seqtime SET at = 1700000000");
    struct sp_salvage_report rep;
    struct sp_stats st;
    struct sp_err e;

    assert_int_equal(sp_salvage(f->j, src_path, 64, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 100);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.oldest_pending_at, 1700000000);
    tu_put1(f->j, tu_point("tok-a", 0, "later", HOUR0, 1.0, "host=h1"));
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.oldest_pending_at, 1700000000);
    assert_true(tu_sql1(f->path, "SELECT max(at) FROM seqtime") >
                1700000000);
    free(src_path);
}

/* Since when the live journal's group (stream, agg) waits, or -1. */
static int64_t
live_since(struct tu_journal *f, const char *stream, int agg)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT p.since FROM grp_pending p JOIN grp g ON g.id = "
             "p.grp WHERE g.stream = '%s' AND g.agg = %d",
             stream, agg);
    return tu_sql1(f->path, sql);
}

/* Each group keeps its own wait (grp_pending, schema 0010), however
 * young its versions are and whichever groups a transaction holds. */
static void
test_salvage_keeps_group_waits(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = filled_then(
        f, 100,
        "UPDATE grp_pending SET since = (SELECT CASE WHEN g.stream = "
        "'tok-a' AND g.agg = 1 THEN 1700000000 WHEN g.stream = 'tok-b' "
        "AND g.agg = 0 THEN 1700005000 ELSE grp_pending.since END FROM "
        "grp g WHERE g.id = grp_pending.grp)");
    int64_t t0 = (int64_t)time(NULL) - 5;
    struct sp_salvage_report rep;
    struct sp_stats st;
    struct sp_err e;

    assert_int_equal(sp_salvage(f->j, src_path, 64, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 100);
    assert_int_equal(live_since(f, "tok-a", 1), 1700000000);
    assert_int_equal(live_since(f, "tok-b", 0), 1700005000);
    assert_true(live_since(f, "tok-a", 3) >= t0);
    assert_true(live_since(f, "tok-b", 2) >= t0);
    assert_int_equal(sp_journal_stats(f->j, &st), CTSPOOL_OK);
    assert_int_equal(st.oldest_pending_at, 1700000000);
    free(src_path);
}

/* Salvages src_path into f's journal: one pending point, of value,
 * and unreadable items unreadable. */
static void
salvaged_one(struct tu_journal *f, const char *src_path, uint64_t unreadable,
             int64_t value)
{
    struct sp_salvage_report rep;
    struct sp_err e;

    assert_int_equal(sp_salvage(f->j, src_path, 64, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 1);
    assert_int_equal(rep.unreadable, unreadable);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 1);
    assert_int_equal(tu_sql1(f->path, "SELECT CAST(value AS INTEGER) FROM "
                                      "queue"),
                     value);
}

/* A pending row the file's point holds at another version is one deleted
 * (here: replaced by a newer value) that damage brought back into view:
 * left out, so that its older value does not become the pending one. */
static void
test_salvage_leaves_deleted_rows_out(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);

    tu_put1(src, tu_point("tok-a", SP_AGG_SUM, "m", HOUR0, 1.0, "host=h1"));
    tu_put1(src, tu_point("tok-a", SP_AGG_SUM, "m", HOUR0, 2.0, "host=h1"));
    sp_journal_close(src);
    /* The first version's queue row, deleted by the second, is back. */
    tu_sql1(src_path, "INSERT INTO queue (grp, seq, hour, series, value) "
                      "SELECT grp, seq - 1, hour, series, 1.0 FROM point");
    assert_int_equal(tu_sql1(src_path, "SELECT count(*) FROM queue"), 2);

    salvaged_one(f, src_path, 0, 2);
    free(src_path);
}

/* A pending row that contradicts its point row is damaged, one of the
 * two: its value not the point's (a row cut off by a truncation reads
 * zeros), or no point row at its (hour, series) (a garbled hour).  It
 * counts as unreadable; neither its value nor its hour goes upstream. */
static void
test_salvage_contradicting_rows_unreadable(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);

    for (int k = 0; k < 3; k++) {
        char dims[16];

        snprintf(dims, sizeof(dims), "host=h%d", k);
        tu_put1(src, tu_point("tok-a", SP_AGG_SUM, "m", HOUR0, 10.0 + k,
                              dims));
    }
    sp_journal_close(src);
    tu_sql1(src_path, "UPDATE queue SET value = 0 WHERE seq = (SELECT "
                      "min(seq) FROM queue)");
    tu_sql1(src_path, "UPDATE queue SET hour = hour + 35064 WHERE seq = "
                      "(SELECT max(seq) FROM queue)");

    salvaged_one(f, src_path, 2, 11);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point WHERE "
                                      "hour <> 470000"),
                     0);
    free(src_path);
}

/* A point dead-lettered at 30, then set to 5 and 5 acknowledged: salvage
 * makes 5 pending again (to send again), so that a requeue of the letter
 * meets the newer value, as it does in the journal itself, instead of
 * sending 30 over it. */
static void
test_salvage_letter_meets_newer_acked(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);
    struct sp_salvage_report rep;
    struct sp_batch b;
    struct sp_err e;
    size_t idx = 0, n_acked = 0;
    uint64_t n = 0;

    sp_batch_init(&b);
    tu_put1(src, tu_point("tok-a", SP_AGG_SUM, "m", HOUR0, 30.0, "k=v"));
    assert_int_equal(sp_journal_take(src, 10, &b), CTSPOOL_OK);
    assert_int_equal(sp_journal_dead(src, &b, &idx, 1, 400, "{}",
                                     1700000000),
                     CTSPOOL_OK);
    tu_put1(src, tu_point("tok-a", SP_AGG_SUM, "m", HOUR0, 5.0, "k=v"));
    tu_put1(src, tu_point("tok-a", SP_AGG_SUM, "other", HOUR0, 7.0, "k=v"));
    assert_int_equal(sp_journal_take(src, 1, &b), CTSPOOL_OK);
    assert_int_equal(sp_journal_ack(src, &b, 0, 1, 1700000001, &n_acked),
                     CTSPOOL_OK);
    assert_int_equal(n_acked, 1);
    sp_journal_close(src);

    assert_int_equal(sp_salvage(f->j, src_path, 64, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.dead, 1);
    assert_int_equal(rep.pending, 2); /* "other" and the acknowledged 5 */
    assert_int_equal(rep.resend, 1);
    assert_int_equal(rep.present, 0);
    /* Again: nothing new. */
    assert_int_equal(sp_salvage(f->j, src_path, 64, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 0);
    assert_int_equal(rep.dead, 0);
    assert_int_equal(sp_journal_dlq_requeue(f->j, NULL, 0, &n), CTSPOOL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tu_sql1(f->path, "SELECT CAST(value AS INTEGER) FROM "
                                      "point p JOIN series s ON s.id = "
                                      "p.series WHERE s.metric_name = 'm'"),
                     5);
    sp_batch_cleanup(&b);
    free(src_path);
}

/* A dead letter without its time (a row cut off: zeros from there on)
 * counts as unreadable too; the one beside it comes back. */
static void
test_salvage_letter_cut_off_unreadable(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);
    struct sp_salvage_report rep;
    struct sp_err e;

    tu_put1(src, tu_point("tok-a", SP_AGG_SUM, "m", HOUR0, 10.0, "k=v"));
    tu_put1(src, tu_point("tok-b", SP_AGG_SUM, "m", HOUR0, 20.0, "k=v"));
    tu_retire(src, "tok-a", 1);
    tu_retire(src, "tok-b", 1);
    sp_journal_close(src);
    tu_sql1(src_path, "UPDATE dead SET dead_at = 0, value = 16 WHERE id = "
                      "(SELECT min(id) FROM dead)");

    assert_int_equal(sp_salvage(f->j, src_path, 64, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.dead, 1);
    assert_int_equal(rep.unreadable, 1);
    assert_int_equal(tu_sql1(f->path, "SELECT CAST(value AS INTEGER) FROM "
                                      "dead"),
                     20);
    free(src_path);
}

/* Folds v into the Average of "lat" at HOUR0 (accumulate mode). */
static void
fold_avg(struct sp_journal *j, double v)
{
    tu_fold1(j, tu_point("tok-a", SP_AGG_AVERAGE, "lat", HOUR0, v, "host=h1"));
}

/* An Average folded from several observations keeps its sum and count
 * through salvage (DESIGN.md section 10): the next observation averages
 * against all of them, not against the value as a single one.  Parts
 * whose quotient is not the value (a damaged row) are not taken. */
static void
test_salvage_keeps_average_parts(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);
    struct sp_salvage_report rep;
    struct sp_err e;
    sqlite3 *db = NULL;

    fold_avg(src, 2);
    fold_avg(src, 4);
    fold_avg(src, 6);
    /* A second identity whose parts disagree with its value. */
    {
        struct sp_point p = tu_point("tok-a", SP_AGG_AVERAGE, "lat2",
                                     HOUR0, 1, "host=h1");
        enum sp_put_result res;

        assert_int_equal(sp_journal_begin(src), CTSPOOL_OK);
        assert_int_equal(sp_journal_fold(src, &p, &res), CTSPOOL_OK);
        assert_int_equal(sp_journal_commit(src), CTSPOOL_OK);
    }
    sp_journal_close(src);
    assert_int_equal(sqlite3_open(src_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE point SET avg_sum = 7, avg_n = 2 "
                                  "WHERE value = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 2);
    assert_int_equal(tu_sql1(f->path, "SELECT avg_n FROM point WHERE "
                                      "value = 4"),
                     3);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point WHERE "
                                      "value = 1 AND avg_n IS NULL"),
                     1);
    fold_avg(f->j, 8);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point WHERE "
                                      "value = 5 AND avg_sum = 20 AND "
                                      "avg_n = 4"),
                     1);
    free(src_path);
}

static void
fold_at(struct sp_journal *j, int agg, double v)
{
    tu_fold1(j, tu_point("tok-f", agg, "m", HOUR0, v, "k=v"));
}

/* Salvages src (closed here, at src_path) into the fixture's journal, then
 * brings every dead letter back; the one point's value in thousandths. */
static int64_t
salvage_requeue(struct tu_journal *f, struct sp_journal *src,
                const char *src_path, uint64_t pending, uint64_t dead)
{
    struct sp_salvage_report rep;
    struct sp_err e;
    uint64_t n = 0;

    sp_journal_close(src);
    assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, pending);
    assert_int_equal(rep.dead, dead);
    assert_int_equal(sp_journal_dlq_requeue(f->j, NULL, 0, &n), CTSPOOL_OK);
    assert_int_equal(n, dead);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 1);
    assert_int_equal(sp_journal_check(f->j, NULL, 0), 0);
    return tu_sql1(f->path, "SELECT CAST(round(value * 1000) AS INTEGER) "
                            "FROM point");
}

/* Accumulate mode (schema 0009): an Average retired, then observed again
 * from nothing, comes out of salvage as it went in, so `dlq requeue`
 * still folds the two by their sums and counts: (2 + 4 + 10) / 3. */
static void
test_salvage_keeps_fold_origin(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);

    fold_at(src, SP_AGG_AVERAGE, 2);
    fold_at(src, SP_AGG_AVERAGE, 4);
    tu_retire(src, "tok-f", 1);
    fold_at(src, SP_AGG_AVERAGE, 10);
    assert_int_equal(salvage_requeue(f, src, src_path, 1, 1), 5333);
    assert_int_equal(tu_sql1(f->path, "SELECT avg_n FROM point"), 3);
    fold_at(f->j, SP_AGG_AVERAGE, 1); /* folds go on: 17 / 4 */
    assert_int_equal(tu_sql1(f->path, "SELECT CAST(round(value * 1000) AS "
                                      "INTEGER) FROM point"),
                     4250);
    free(src_path);
}

/* Two letters of one Sum, each folded from nothing (10 + 20, retired;
 * 5, retired): salvaged, they come back in the order they died and the
 * later one is folded onto the earlier, as without the damage. */
static void
test_salvage_keeps_letter_marks(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);

    fold_at(src, SP_AGG_SUM, 10);
    fold_at(src, SP_AGG_SUM, 20);
    tu_retire(src, "tok-f", 1);
    fold_at(src, SP_AGG_SUM, 5);
    tu_retire(src, "tok-f", 1);
    assert_int_equal(salvage_requeue(f, src, src_path, 0, 2), 35000);
    free(src_path);
}

/* The letters of test_salvage_keeps_letter_marks, salvaged and
 * requeued, then salvaged again (or a run cut short finished): nothing
 * is added twice, and the Sum stays 35, not 70. */
static void
test_salvage_again_after_requeue(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);
    struct sp_salvage_report rep;
    struct sp_err e;
    uint64_t n = 9;

    fold_at(src, SP_AGG_SUM, 10);
    fold_at(src, SP_AGG_SUM, 20);
    tu_retire(src, "tok-f", 1);
    fold_at(src, SP_AGG_SUM, 5);
    tu_retire(src, "tok-f", 1);
    assert_int_equal(salvage_requeue(f, src, src_path, 0, 2), 35000);
    assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.dead, 0);
    assert_int_equal(rep.present, 2);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM dead"), 0);
    assert_int_equal(sp_journal_dlq_requeue(f->j, NULL, 0, &n), CTSPOOL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tu_sql1(f->path, "SELECT CAST(round(value * 1000) AS "
                                      "INTEGER) FROM point"),
                     35000);
    free(src_path);
}

/* A point folded from nothing in the damaged file comes back new with
 * that mark; salvaged again, it is not folded under itself (7, not 14). */
static void
test_salvage_new_folded_again(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);
    struct sp_salvage_report rep;
    struct sp_err e;

    fold_at(src, SP_AGG_SUM, 7);
    sp_journal_close(src);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e),
                         CTSPOOL_OK);
        assert_int_equal(rep.pending, i ? 0 : 1);
        assert_int_equal(rep.folded, 0);
        assert_int_equal(rep.present, i ? 1 : 0);
        assert_int_equal(tu_sql1(f->path, "SELECT folded FROM point"), 1);
        assert_int_equal(tu_sql1(f->path, "SELECT CAST(value AS INTEGER) "
                                          "FROM point"),
                         7);
    }
    free(src_path);
}

/* A run cut short (here by the spool limit, a transaction per item)
 * and run again: it goes on where the first stopped, and no point that
 * came back folded from nothing is folded under itself. */
static void
test_salvage_cut_short_then_finished(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);
    struct sp_salvage_report rep;
    struct sp_err e;
    char name[8];

    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "q%d", i);
        tu_fold1(src, tu_point("tok-f", SP_AGG_SUM, name, HOUR0, 7, NULL));
    }
    sp_journal_close(src);
    sp_journal_set_limits(f->j, 3, 0);
    assert_int_equal(sp_salvage(f->j, src_path, 1, &rep, &e),
                     CTSPOOL_E_FULL);
    assert_int_equal(rep.pending, 3);
    sp_journal_set_limits(f->j, 0, 0);
    assert_int_equal(sp_salvage(f->j, src_path, 1, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 2);
    assert_int_equal(rep.present, 3);
    assert_int_equal(rep.folded, 0);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point WHERE "
                                      "value = 7 AND folded = 1"),
                     5);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 5);
    free(src_path);
}

/* A damaged file deleted after its salvage, and another made at the same
 * path (which may get its inode): the second is another file, and each
 * of its points is added. */
static void
test_salvage_other_file_same_path(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db"), name[8];
    struct sp_salvage_report rep;
    struct sp_err e;

    for (int round = 0; round < 2; round++) {
        struct sp_journal *src = open_other(src_path);
        char side[4096];

        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof(name), "%c%d", round ? 'r' : 'q', i);
            tu_put1(src, tu_point("tok-f", SP_AGG_SUM, name, HOUR0, 1,
                                  NULL));
        }
        sp_journal_close(src);
        assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e),
                         CTSPOOL_OK);
        assert_int_equal(rep.pending, 3);
        assert_int_equal(rep.present, 0);
        for (int i = 0; i < 3; i++) {
            snprintf(side, sizeof(side), "%s%s", src_path,
                     i == 0 ? "" : i == 1 ? "-wal" : "-shm");
            unlink(side);
        }
    }
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 6);
    free(src_path);
}

static int64_t
milli_of(struct tu_journal *f, const char *name)
{
    char sql[200];

    snprintf(sql, sizeof(sql),
             "SELECT CAST(round(p.value * 1000) AS INTEGER) FROM point p "
             "JOIN series s ON s.id = p.series WHERE s.metric_name = '%s'",
             name);
    return tu_sql1(f->path, sql);
}

/* Accumulate mode: observations stored before the quarantine (pending in
 * the damaged file) and since (folded from nothing in the live journal)
 * are folded together, the earlier first, by the function's rules and an
 * Average by its sums and counts; a value a replace set since is newer
 * and stays.  Salvaging the same file again (renamed, as a set is after
 * its salvage) folds nothing twice. */
static void
test_salvage_folds_under_values_since(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    char *renamed = tu_path(f->dir, "damaged.db.salvaged");
    struct sp_journal *src = open_other(src_path);
    struct sp_salvage_report rep;
    struct sp_err e;

    tu_fold1(src, tu_point("tok-f", SP_AGG_SUM, "s", HOUR0, 5, NULL));
    tu_fold1(src, tu_point("tok-f", SP_AGG_SUM, "s", HOUR0, 2, NULL));
    tu_fold1(src, tu_point("tok-f", SP_AGG_AVERAGE, "a", HOUR0, 10, NULL));
    tu_fold1(src, tu_point("tok-f", SP_AGG_AVERAGE, "a", HOUR0, 20, NULL));
    tu_fold1(src, tu_point("tok-f", SP_AGG_MAXIMUM, "x", HOUR0, 50, NULL));
    tu_put1(src, tu_point("tok-f", SP_AGG_SUM, "r", HOUR0, 100, NULL));
    sp_journal_close(src);

    tu_fold1(f->j, tu_point("tok-f", SP_AGG_SUM, "s", HOUR0, 3, NULL));
    tu_fold1(f->j, tu_point("tok-f", SP_AGG_AVERAGE, "a", HOUR0, 60, NULL));
    tu_fold1(f->j, tu_point("tok-f", SP_AGG_MAXIMUM, "x", HOUR0, 7, NULL));
    tu_put1(f->j, tu_point("tok-f", SP_AGG_SUM, "r", HOUR0, 20, NULL));

    assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 0);
    assert_int_equal(rep.folded, 3);
    assert_int_equal(rep.present, 1);
    assert_int_equal(milli_of(f, "s"), 10000);
    assert_int_equal(milli_of(f, "a"), 30000); /* (10 + 20 + 60) / 3 */
    assert_int_equal(milli_of(f, "x"), 50000);
    assert_int_equal(milli_of(f, "r"), 20000);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 4);
    assert_int_equal(sp_journal_check(f->j, NULL, 0), 0);

    assert_int_equal(rename(src_path, renamed), 0);
    assert_int_equal(sp_salvage(f->j, renamed, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.folded, 0);
    assert_int_equal(rep.present, 4);
    assert_int_equal(milli_of(f, "s"), 10000);
    assert_int_equal(milli_of(f, "a"), 30000);
    /* Folds go on from the sums and counts: (90 + 30) / 4. */
    tu_fold1(f->j, tu_point("tok-f", SP_AGG_AVERAGE, "a", HOUR0, 30, NULL));
    assert_int_equal(milli_of(f, "a"), 30000);
    assert_int_equal(tu_sql1(f->path, "SELECT avg_n FROM point p JOIN "
                                      "series s ON s.id = p.series WHERE "
                                      "s.metric_name = 'a'"),
                     4);
    free(src_path);
    free(renamed);
}

/* Points the damaged journal's drainer noted to send again (acknowledged
 * there, not pending) become pending, unless the live journal holds
 * them; a note whose point is gone adds nothing. */
static void
test_salvage_resend_notes(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);
    struct sp_salvage_report rep;
    struct sp_batch b;
    struct sp_err e;
    int64_t notes[4][2];
    size_t n_acked = 0;
    char words[256];

    for (int k = 0; k < 10; k++) {
        char name[8];

        snprintf(name, sizeof(name), "m%d", k);
        tu_put1(src, tu_point("tok-a", SP_AGG_SUM, name, HOUR0, k, NULL));
    }
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(src, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 10);
    for (int i = 0; i < 4; i++) {
        notes[i][0] = b.pts[i].hour;
        notes[i][1] = b.pts[i].series;
    }
    notes[3][0] = HOUR0 + 99; /* no such point */
    assert_int_equal(sp_journal_ack_resend(src, &b, 0, 10, 1700000000,
                                           (const int64_t(*)[2])notes, 4,
                                           &n_acked),
                     CTSPOOL_OK);
    assert_int_equal(n_acked, 10);
    assert_int_equal(tu_sql1(src_path, "SELECT count(*) FROM resend"), 4);
    /* The live journal holds a newer value of the first noted point. */
    tu_put1(f->j, tu_point("tok-a", SP_AGG_SUM, b.pts[0].name,
                           b.pts[0].hour, 4242.0, NULL));
    sp_journal_close(src);

    assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 2);
    assert_int_equal(rep.resend, 2);
    assert_int_equal(rep.present, 1);
    assert_int_equal(rep.unreadable, 0);
    assert_int_equal(rep.pending_expected, 0);
    sp_salvage_describe(&rep, words, sizeof(words));
    assert_non_null(strstr(words, "recovered 2 pending points (2 of them "
                                  "to send again) and 0 dead letters"));
    /* The newer value stays; the other two are pending at their value. */
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 3);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue "
                                      "WHERE value IN (1, 2, 4242)"),
                     3);
    /* Again: nothing new. */
    assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 0);
    assert_int_equal(rep.resend, 0);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 3);
    sp_batch_cleanup(&b);
    free(src_path);
}

static void
test_salvage_garbage_mid_file(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src = open_other(src_path);
    struct sp_salvage_report rep;
    struct sp_err e;
    struct stat sb;
    char junk[16384];
    struct sp_batch b;
    size_t dead_idx[3] = {0, 1, 2};
    uint64_t unreadable;
    FILE *fp;

    fill(src, 20000);
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(src, 10, &b), CTSPOOL_OK);
    assert_int_equal(sp_journal_dead(src, &b, dead_idx, 3, 400, "{}",
                                     1700000000),
                     CTSPOOL_OK);
    sp_batch_cleanup(&b);
    sp_journal_close(src); /* checkpointed into the main file */
    assert_int_equal(stat(src_path, &sb), 0);
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (char)(i * 7919 % 251);
    }
    fp = fopen(src_path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (sb.st_size / 2) & ~4095L, SEEK_SET), 0);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    assert_int_equal(fclose(fp), 0);

    assert_int_equal(sp_salvage(f->j, src_path, 500, &rep, &e), CTSPOOL_OK);
    assert_true(rep.read_anything);
    assert_true(rep.pending >= 15000);
    assert_true(rep.pending < 19997);
    assert_int_equal(rep.pending_expected, 19997);
    assert_int_equal(rep.pending + rep.unreadable, 19997);
    assert_int_equal(rep.dead, 3);
    assert_true(rep.damaged_ranges >= 1);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"),
                     (int64_t)rep.pending);
    /* Again: what is held now (dead letters included) is present, and
     * still only the damaged rows count as unread. */
    unreadable = rep.unreadable;
    assert_int_equal(sp_salvage(f->j, src_path, 500, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 0);
    assert_int_equal(rep.present, 19997 - unreadable + 3);
    assert_int_equal(rep.unreadable, unreadable);
    free(src_path);
}

/*
 * A journal whose pages are not the default size (made where SQLite
 * defaults to 8 KiB: made here as journal.c makes one, with that page
 * size), its schema page garbled after an intact header: its tables are
 * still found (page 1 of a fresh journal of its page size in place) and
 * every point read back.
 */
static void
test_salvage_schema_page_other_size(void **state)
{
    struct tu_journal *f = *state;
    char *path = tu_path(f->dir, "damaged.db");
    struct sp_journal *src;
    struct sp_salvage_report rep;
    struct sp_err e;
    unsigned char junk[3000];
    sqlite3 *db = NULL;
    FILE *fp;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA page_size = 8192; "
                                  "PRAGMA auto_vacuum = INCREMENTAL; "
                                  "PRAGMA journal_mode = WAL",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sp_migrate(db, &e), CTSPOOL_OK);
    sqlite3_close(db);
    src = open_other(path);
    fill(src, 500);
    sp_journal_close(src);
    assert_int_equal(tu_sql1(path, "PRAGMA page_size"), 8192);
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (unsigned char)(i * 7919 % 251);
    }
    fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 100, SEEK_SET), 0);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    assert_int_equal(fclose(fp), 0);

    assert_int_equal(sp_salvage(f->j, path, 0, &rep, &e), CTSPOOL_OK);
    assert_true(rep.read_anything);
    assert_int_equal(rep.pending, 500);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 500);
    free(path);
}

/* A journal of page_size bytes a page (0: this version's) with n points,
 * at dir/name; its path (malloc'd). */
static char *
filled_sized(struct tu_journal *f, const char *name, unsigned page_size,
             int n)
{
    char *path = tu_path(f->dir, name);
    struct sp_journal_opts o;
    struct sp_journal *j = NULL;
    struct sp_err e;

    memset(&o, 0, sizeof(o));
    o.path = path;
    o.page_size = page_size;
    assert_int_equal(sp_journal_open(&o, &j, &e), CTSPOOL_OK);
    fill(j, n);
    sp_journal_close(j);
    return path;
}

/* f's live journal removed and made again, empty. */
static void
fresh_live(struct tu_journal *f)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char p[4096];

    sp_journal_close(f->j);
    f->j = NULL;
    for (size_t i = 0; i < SP_ARRAY_LEN(suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    tu_journal_open(f);
}

/* Writes len bytes of b at off of the file at path. */
static void
write_at(const char *path, long off, const void *b, size_t len)
{
    FILE *fp = fopen(path, "r+b");

    assert_non_null(fp);
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    assert_int_equal(fwrite(b, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/*
 * The page size in the header garbled (zero, or another valid size), the
 * rest of page 1 intact or its table declarations garbled too: the
 * pages' size is found (the pointer map) and every point read back, for
 * journals of 8 KiB pages (this version's) and of 4 KiB (before it).
 */
static void
test_salvage_garbled_page_size(void **state)
{
    static const unsigned sizes[] = {0, 4096};
    struct tu_journal *f = *state;
    unsigned char junk[3000];

    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (unsigned char)(i * 7919 % 251);
    }
    for (size_t k = 0; k < SP_ARRAY_LEN(sizes); k++) {
        for (int how = 0; how < 4; how++) {
            char name[32];
            char *path;
            int64_t ps;
            unsigned char field[2] = {0, 0};
            struct sp_salvage_report rep;
            struct sp_err e;

            snprintf(name, sizeof(name), "damaged-%zu-%d.db", k, how);
            path = filled_sized(f, name, sizes[k], 300);
            ps = tu_sql1(path, "PRAGMA page_size");
            assert_int_equal(ps, sizes[k] ? sizes[k] : 8192);
            if (how & 1) {
                /* The other size SQLite could take for it. */
                field[0] = ps == 8192 ? 0x10 : 0x20;
            }
            write_at(path, 16, field, sizeof(field));
            if (how & 2) {
                write_at(path, 100, junk, sizeof(junk));
            }
            if (sp_salvage(f->j, path, 0, &rep, &e) != CTSPOOL_OK) {
                fail_msg("%s: %s", name, e.msg);
            }
            if (rep.pending != 300) {
                fail_msg("%s (pages of %lld bytes, damage %d): %llu of 300 "
                         "points read",
                         name, (long long)ps, how,
                         (unsigned long long)rep.pending);
            }
            assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"),
                             300);
            fresh_live(f); /* every fill() is of the same points */
            free(path);
        }
    }
}

/* ---- random damage ---------------------------------------------------- */

#define DAMAGE_RUNS 48 /* CTSPOOL_TEST_DAMAGE_RUNS=N for a longer hunt */
#define PAGE 4096

/* xorshift64: the same damage for the same run number, on any machine. */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void
junk(unsigned char *p, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (unsigned char)rnd(s);
    }
}

/*
 * Damage number run of img (len bytes, a whole journal) into path, one
 * way out of five by run: garbage over one to three pages, a few bytes
 * changed anywhere past the file header, a page of zeros, garbage over
 * the schema page after the header, or one of those and the file cut
 * short.  Returns how it was damaged, for the failure message.
 */
static const char *
damage_copy(const unsigned char *img, size_t len, const char *path, int run)
{
    static const char *const how[] = {"garbage pages", "changed bytes",
                                      "zeroed page", "schema page",
                                      "cut short"};
    unsigned char *buf = malloc(len);
    size_t n_pages = len / PAGE, out_len = len;
    uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(run + 1);
    FILE *fp;

    assert_non_null(buf);
    assert_true(n_pages > 8);
    memcpy(buf, img, len);
    switch (run % 5) {
    case 0:
        for (int k = 1 + (int)(rnd(&s) % 3); k > 0; k--) {
            junk(buf + (1 + rnd(&s) % (n_pages - 1)) * PAGE, PAGE, &s);
        }
        break;
    case 1:
        for (int k = 1 + (int)(rnd(&s) % 32); k > 0; k--) {
            buf[100 + rnd(&s) % (len - 100)] = (unsigned char)rnd(&s);
        }
        break;
    case 2:
        memset(buf + (1 + rnd(&s) % (n_pages - 1)) * PAGE, 0, PAGE);
        break;
    case 3:
        junk(buf + 100, 50 + rnd(&s) % (PAGE - 150), &s);
        break;
    default:
        junk(buf + (1 + rnd(&s) % (n_pages - 1)) * PAGE, PAGE, &s);
        out_len = PAGE * (2 + rnd(&s) % (n_pages - 2));
        break;
    }
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, out_len, fp), out_len);
    assert_int_equal(fclose(fp), 0);
    free(buf);
    return how[run % 5];
}

/*
 * One point into the journal at path through the C library, as an
 * embedding producer stores it: an append that meets damage moves the
 * journal aside and is stored in the fresh one (api.c).  The reason of
 * a failure into why.
 */
static ctspool_rc
append_after(const char *path, char *why, size_t why_len)
{
    char json[256];
    ctspool *h = NULL;
    ctspool_rc rc = ctspool_open(path, CTSPOOL_DURABILITY_NORMAL, &h);

    snprintf(json, sizeof(json),
             "{\"data_stream_token\": \"tok-c\", \"metric_agg_func\": "
             "\"Sum\", \"data\": [{\"timestamp\": %lld, \"metric_name\": "
             "\"after\", \"metric_value\": 1}]}",
             (long long)HOUR0 * 3600);
    if (rc == CTSPOOL_OK) {
        rc = ctspool_append_json(h, json, strlen(json), NULL);
    }
    snprintf(why, why_len, "%s", ctspool_errmsg(h));
    ctspool_close(h);
    return rc;
}

/*
 * Whatever the damage, salvage answers (never crashes, never imports
 * what the live journal's invariants refuse) and takes nothing twice;
 * a journal opened on the damaged file either works or is moved aside
 * for a fresh one that works.
 */
static void
test_salvage_random_damage(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = tu_path(f->dir, "source.db");
    struct sp_journal *src = open_other(src_path);
    struct sp_batch b;
    size_t dead_idx[3] = {0, 1, 2}, n_acked = 0;
    int64_t notes[2][2];
    const char *env = getenv("CTSPOOL_TEST_DAMAGE_RUNS");
    int runs = env && atoi(env) > 0 ? atoi(env) : DAMAGE_RUNS;
    unsigned char *img;
    size_t len;

    fill(src, 3000);
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(src, 50, &b), CTSPOOL_OK);
    for (int i = 0; i < 2; i++) {
        notes[i][0] = b.pts[10 + i].hour;
        notes[i][1] = b.pts[10 + i].series;
    }
    assert_int_equal(sp_journal_dead(src, &b, dead_idx, 3, 400, "{}",
                                     1700000000),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_ack_resend(src, &b, 3, 47, 1700000000,
                                           (const int64_t(*)[2])notes, 2,
                                           &n_acked),
                     CTSPOOL_OK);
    sp_batch_cleanup(&b);
    sp_journal_close(src);
    img = tu_read_file(src_path, &len);

    for (int run = 0; run < runs; run++) {
        char name[32], why[128] = "";
        char *path;
        const char *how;
        struct sp_salvage_report rep, again;
        struct sp_journal_opts o;
        struct sp_journal *j = NULL;
        struct sp_err e;
        ctspool_rc rc;
        int bad;

        snprintf(name, sizeof(name), "damaged-%d.db", run);
        path = tu_path(f->dir, name);
        how = damage_copy(img, len, path, run);
        rc = sp_salvage(f->j, path, 100, &rep, &e);
        if (rc != CTSPOOL_OK) {
            fail_msg("run %d (%s): salvage: %s: %s", run, how,
                     ctspool_strerror(rc), e.msg);
        }
        bad = sp_journal_check(f->j, why, sizeof(why));
        if (bad) {
            fail_msg("run %d (%s): live journal: invariant %s", run, how,
                     why);
        }
        assert_true(rep.pending <= 2950 + 2);
        assert_true(rep.dead <= 3);
        /* Again: nothing added, whatever the first run could read. */
        assert_int_equal(sp_salvage(f->j, path, 100, &again, &e),
                         CTSPOOL_OK);
        if (again.pending || again.dead) {
            fail_msg("run %d (%s): a second salvage added %llu pending, "
                     "%llu dead",
                     run, how, (unsigned long long)again.pending,
                     (unsigned long long)again.dead);
        }

        /*
         * Opened as the journal: it works, or heals to a fresh one, and
         * the C library then stores a point there.  Not when the damage
         * is one SQLite cannot see (a changed value: the
         * pages are sound, journal.c's invariants are not), which debug
         * builds' commit check would take for a bug of ours.
         */
        memset(&o, 0, sizeof(o));
        o.path = path;
        rc = sp_journal_open(&o, &j, &e);
        if (rc == CTSPOOL_OK) {
            rc = sp_journal_check_pages(j);
            if (rc == CTSPOOL_OK && sp_journal_check(j, why, sizeof(why))) {
                sp_journal_close(j);
                free(path);
                continue;
            }
            if (rc == CTSPOOL_E_CORRUPT) {
                rc = sp_journal_heal(j);
                if (rc != CTSPOOL_OK) {
                    fail_msg("run %d (%s): heal: %s", run, how,
                             sp_journal_errmsg(j));
                }
            }
            sp_journal_close(j);
            rc = append_after(path, why, sizeof(why));
            if (rc != CTSPOOL_OK) {
                fail_msg("run %d (%s): a point after the damage: %s: %s",
                         run, how, ctspool_strerror(rc), why);
            }
        } else if (rc != CTSPOOL_E_CORRUPT) {
            fail_msg("run %d (%s): open: %s: %s", run, how,
                     ctspool_strerror(rc), e.msg);
        }
        free(path);
    }
    free(img);
    free(src_path);
}

static void
test_salvage_nothing_readable(void **state)
{
    struct tu_journal *f = *state;
    char *path = tu_path(f->dir, "not-a-journal");
    struct sp_salvage_report rep;
    struct sp_err e;

    tu_write_file(path, "hello, not a database\n", 22);
    assert_int_equal(sp_salvage(f->j, path, 0, &rep, &e), CTSPOOL_OK);
    assert_false(rep.read_anything);
    free(path);
    path = tu_path(f->dir, "missing.db");
    assert_int_equal(sp_salvage(f->j, path, 0, &rep, &e),
                     CTSPOOL_E_NOINPUT);
    free(path);
}

/* A file whose groups read but none of its pending points (their pages
 * lost): it read nothing of what it holds. */
static void
test_salvage_none_of_its_points(void **state)
{
    struct tu_journal *f = *state;
    char *src_path = filled_then(f, 40, "DELETE FROM queue");
    struct sp_salvage_report rep;
    struct sp_err e;

    assert_int_equal(sp_salvage(f->j, src_path, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.unreadable, 40);
    assert_false(rep.read_anything);
    free(src_path);
}

static void
test_heal_moves_and_others_follow(void **state)
{
    struct tu_journal *f = *state;
    struct sp_journal *other = open_other(f->path);
    struct sp_batch b;
    char **names = NULL, renamed[4096];
    size_t n = 0, n_acked = 99;
    uint64_t gen = sp_journal_gen(other);
    struct sp_err e;

    fill(f->j, 10);
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(other, 5, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 3); /* the first group's: k = 0, 4, 8 */

    /* As after SQLITE_CORRUPT: the set is moved aside, a fresh one
     * started at the path. */
    assert_int_equal(sp_journal_heal(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_quarantined(f->path, &names, &n, &e),
                     CTSPOOL_OK);
    assert_int_equal(n, 1);
    assert_non_null(strstr(names[0], "journal.db.corrupt-"));
    assert_int_equal(access(names[0], F_OK), 0);
    assert_int_equal(tu_sql1(names[0], "SELECT count(*) FROM queue"), 10);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 0);

    /* The other handle follows at its next transaction; its batch from
     * the old journal acknowledges nothing in the new one. */
    fill(f->j, 3);
    assert_int_equal(sp_journal_ack(other, &b, 0, 3, 1700000000, &n_acked),
                     CTSPOOL_OK);
    assert_int_equal(n_acked, 0);
    assert_true(sp_journal_gen(other) != gen);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 3);
    assert_int_equal(sp_journal_take(other, 100, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1); /* the first group's of the fresh journal */

    assert_int_equal(sp_journal_mark_salvaged(names[0], renamed,
                                              sizeof(renamed), &e),
                     CTSPOOL_OK);
    assert_non_null(strstr(renamed, "journal.db.salvaged-"));
    assert_int_equal(access(renamed, F_OK), 0);
    sp_journal_quarantined_free(names, n);
    assert_int_equal(sp_journal_quarantined(f->path, &names, &n, &e),
                     CTSPOOL_OK);
    assert_int_equal(n, 0);
    sp_journal_quarantined_free(names, n);
    sp_batch_cleanup(&b);
    sp_journal_close(other);
}

/* Moved aside, salvaged, moved aside and salvaged again within one
 * second: the second set gets a name of its own (NAME.salvaged-STAMP-2),
 * not a failure that would leave it listed as quarantined. */
static void
test_heal_twice_in_a_second(void **state)
{
    struct tu_journal *f = *state;
    char renamed[2][4096];
    struct sp_err e;

    for (int i = 0; i < 2; i++) {
        char **names = NULL;
        size_t n = 0;

        fill(f->j, 3);
        assert_int_equal(sp_journal_heal(f->j), CTSPOOL_OK);
        assert_int_equal(sp_journal_quarantined(f->path, &names, &n, &e),
                         CTSPOOL_OK);
        assert_int_equal(n, 1);
        assert_int_equal(sp_journal_mark_salvaged(names[0], renamed[i],
                                                  sizeof(renamed[i]), &e),
                         CTSPOOL_OK);
        assert_int_equal(access(renamed[i], F_OK), 0);
        sp_journal_quarantined_free(names, n);
    }
    assert_string_not_equal(renamed[0], renamed[1]);
}

/*
 * Opens f's journal, which a damaged header makes the open move aside:
 * the journal at the path is fresh, one set is quarantined, and salvage
 * brings back its n_pending points; the set is then marked salvaged.
 */
static void
reopen_moved_aside(struct tu_journal *f, uint64_t n_pending)
{
    struct sp_salvage_report rep;
    char **names = NULL, renamed[4096];
    size_t n = 0;
    struct sp_err e;

    tu_journal_open(f); /* fails the test unless it opens */
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 0);
    assert_int_equal(sp_journal_quarantined(f->path, &names, &n, &e),
                     CTSPOOL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sp_salvage(f->j, names[0], 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, n_pending);
    assert_int_equal(sp_journal_mark_salvaged(names[0], renamed,
                                              sizeof(renamed), &e),
                     CTSPOOL_OK);
    sp_journal_quarantined_free(names, n);
}

/* Garbage over the header's schema format number (SQLite: "unsupported
 * file format") or over its text encoding and the fields around it
 * (SQLite: "attached databases must use the same text encoding ..."):
 * damage too, the journal is moved aside at open, and salvage reads the
 * points back. */
static void
test_heal_bad_header_fields(void **state)
{
    static const struct {
        long at;
        size_t len;
        unsigned char bytes[32];
    } damage[] = {
        {44, 4, {0x8c, 0x8c, 0x8c, 0x8c}}, /* schema format */
        /* Bytes 52-83 as fuzz_salvage garbled them (largest root page,
         * text encoding, user version, incremental vacuum, ...). */
        {52, 32, {0x00, 0x00, 0x00, 0x6b, 0x00, 0x13, 0x7d, 0x00,
                  0x2e, 0x00, 0x24, 0xad, 0x00, 0x86, 0x00, 0x65,
                  0x46, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f,
                  0x6e, 0x6f, 0x2a, 0x20, 0x2e, 0x61, 0x00, 0x00}}};
    struct tu_journal *f = *state;

    for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        FILE *fp;

        fill(f->j, 10);
        sp_journal_close(f->j); /* checkpointed into the file */
        f->j = NULL;
        fp = fopen(f->path, "r+b");
        assert_non_null(fp);
        assert_int_equal(fseek(fp, damage[i].at, SEEK_SET), 0);
        assert_int_equal(fwrite(damage[i].bytes, 1, damage[i].len, fp),
                         damage[i].len);
        assert_int_equal(fclose(fp), 0);

        reopen_moved_aside(f, 10);
    }
}

/* Opening path fails with E_CANTCREATE, naming it as no journal, and
 * leaves the file as it was: same bytes, nothing moved aside. */
static void
open_refused_untouched(const char *path, const char *what)
{
    struct sp_journal_opts o = {0};
    struct sp_journal *j = NULL;
    struct sp_err e;
    char **names = NULL, before[8192], after[8192];
    size_t n = 0, len;
    FILE *fp = fopen(path, "rb");

    assert_non_null(fp);
    len = fread(before, 1, sizeof(before), fp);
    fclose(fp);
    o.path = path;
    assert_int_equal(sp_journal_open(&o, &j, &e), CTSPOOL_E_CANTCREATE);
    assert_null(j);
    if (!strstr(e.msg, what) || !strstr(e.msg, "is left as it is")) {
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, what);
    }
    fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(after, 1, sizeof(after), fp), len);
    fclose(fp);
    assert_memory_equal(before, after, len);
    assert_int_equal(sp_journal_quarantined(path, &names, &n, &e),
                     CTSPOOL_OK);
    assert_int_equal(n, 0);
    sp_journal_quarantined_free(names, n);
}

/* A file that never was a journal -- text, another application's
 * SQLite database -- named as the journal is refused and left alone,
 * where a journal whose header is gone (zeroed: test_damaged_journal),
 * or that is garbage beside its -shm file, is moved aside. */
static void
test_heal_not_a_journal(void **state)
{
    struct tu_journal *f = *state;
    char *text = tu_path(f->dir, "notes.txt");
    char *other = tu_path(f->dir, "app.db");
    char buf[4096];
    sqlite3 *db = NULL;

    tu_write_file(text, "important notes\n", 16);
    open_refused_untouched(text, "not a ctspool journal (no SQLite");
    /* Whole 512-byte pages of text are no journal either. */
    memset(buf, 'x', sizeof(buf));
    tu_write_file(text, buf, sizeof(buf));
    open_refused_untouched(text, "not a ctspool journal (no SQLite");

    /* Beside a -shm file (a journal keeps it once opened), garbage is
     * a journal damaged past recognition: moved aside. */
    {
        char *shm = tu_path(f->dir, "notes.txt-shm");
        struct sp_journal_opts o = {0};
        struct sp_journal *j = NULL;
        char **names = NULL;
        size_t n = 0;
        struct sp_err e;

        tu_write_file(shm, "", 0);
        o.path = text;
        assert_int_equal(sp_journal_open(&o, &j, &e), CTSPOOL_OK);
        sp_journal_close(j);
        assert_int_equal(sp_journal_quarantined(text, &names, &n, &e),
                         CTSPOOL_OK);
        assert_int_equal(n, 1);
        sp_journal_quarantined_free(names, n);
        free(shm);
    }

    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE users (id, name); "
                                      "CREATE TABLE meta (k, v); "
                                      "PRAGMA user_version = 3",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    open_refused_untouched(other,
                           "a SQLite database but not a ctspool journal");
    free(text);
    free(other);
}

/* A schema version no ctspool writes, or one that says fewer
 * migrations than the tables show: a damaged header, moved aside at open
 * (a merely newer version is refused instead: test_journal). */
static void
test_heal_schema_version(void **state)
{
    static const char *const versions[] = {"3", "0", "-5", "771761325"};
    struct tu_journal *f = *state;

    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        char sql[64];

        fill(f->j, 10);
        sp_journal_close(f->j);
        f->j = NULL;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %s", versions[i]);
        tu_sql1(f->path, sql);
        reopen_moved_aside(f, 10);
    }
}

static void
test_heal_stop_leaves_it(void **state)
{
    struct tu_journal *f = *state;
    struct sp_journal_opts o;
    struct sp_journal *j = NULL;
    struct sp_err e;
    char **names = NULL;
    size_t n = 0;

    memset(&o, 0, sizeof(o));
    o.path = f->path;
    o.corrupt_stop = 1;
    assert_int_equal(sp_journal_open(&o, &j, &e), CTSPOOL_OK);
    assert_int_equal(sp_journal_heal(j), CTSPOOL_E_CORRUPT);
    assert_non_null(strstr(sp_journal_errmsg(j), "on_corrupt"));
    assert_int_equal(sp_journal_quarantined(f->path, &names, &n, &e),
                     CTSPOOL_OK);
    assert_int_equal(n, 0);
    sp_journal_close(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_salvage_pending_and_dead,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_one_at_a_time,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_keeps_age,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_keeps_group_waits,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_leaves_deleted_rows_out,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(
            test_salvage_contradicting_rows_unreadable, tu_journal_setup,
            tu_journal_teardown),
        cmocka_unit_test_setup_teardown(
            test_salvage_letter_cut_off_unreadable, tu_journal_setup,
            tu_journal_teardown),
        cmocka_unit_test_setup_teardown(
            test_salvage_letter_meets_newer_acked, tu_journal_setup,
            tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_keeps_average_parts,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_keeps_fold_origin,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_keeps_letter_marks,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(
            test_salvage_folds_under_values_since, tu_journal_setup,
            tu_journal_teardown),
        cmocka_unit_test_setup_teardown(
            test_salvage_again_after_requeue, tu_journal_setup,
            tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_new_folded_again,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(
            test_salvage_cut_short_then_finished, tu_journal_setup,
            tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_other_file_same_path,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_resend_notes,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_garbage_mid_file,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_schema_page_other_size,
                                        tu_journal_setup,
                                        tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_garbled_page_size,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_random_damage,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_nothing_readable,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_none_of_its_points,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_heal_moves_and_others_follow,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_heal_twice_in_a_second,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_heal_not_a_journal,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_heal_bad_header_fields,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_heal_schema_version,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_heal_stop_leaves_it,
                                        tu_journal_setup, tu_journal_teardown),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
