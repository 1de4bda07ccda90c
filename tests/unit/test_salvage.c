/*
 * test_salvage.c -- damaged journals (journal_heal.c, salvage.c): salvage
 * recovers pending points, points noted to send again and dead letters
 * but not other acknowledged points,
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal.h"
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

/* n points of stream "tok-a"/"tok-b" in one transaction. */
static void
fill(struct sp_journal *j, int n)
{
    enum sp_put_result res;

    assert_int_equal(sp_journal_begin(j), CTSPOOL_OK);
    for (int k = 0; k < n; k++) {
        char name[32];
        struct sp_point p;

        snprintf(name, sizeof(name), "m%d", k % 100);
        p = tu_point(k % 2 ? "tok-a" : "tok-b", k % 4, name,
                     HOUR0 + k / 100, (double)k, "host=h1");
        assert_int_equal(sp_journal_put(j, &p, &res), CTSPOOL_OK);
    }
    assert_int_equal(sp_journal_commit(j), CTSPOOL_OK);
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
        cmocka_unit_test_setup_teardown(test_salvage_resend_notes,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_garbage_mid_file,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_nothing_readable,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_heal_moves_and_others_follow,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_heal_stop_leaves_it,
                                        tu_journal_setup, tu_journal_teardown),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
