/*
 * test_memwatch.c -- "out of memory" from SQLite, told apart (memwatch.c):
 * damage SQLite answers that way moves the journal aside at open, where
 * a real shortage fails the open and leaves the journal where it is;
 * salvage that met a real shortage answers E_NOMEM, and a second run
 * completes it without adding anything twice.
 *
 * The counter sits over an allocator of the test's that fails on demand,
 * installed in main() before SQLite starts, as the programs install it.
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
#include "memwatch.h"
#include "salvage.h"
#include "testutil.h"

#define HOUR0 470000

/* ---- an allocator that fails on demand -------------------------------- */

static sqlite3_mem_methods real_mem;
static long fail_in = -1; /* allocations until they fail; -1: never */

static int
must_fail(void)
{
    if (fail_in < 0) {
        return 0;
    }
    if (fail_in > 0) {
        fail_in--;
        return 0;
    }
    return 1; /* and every one after, until fail_in is set again */
}

static void *
t_malloc(int n)
{
    return must_fail() ? NULL : real_mem.xMalloc(n);
}

static void *
t_realloc(void *p, int n)
{
    return must_fail() ? NULL : real_mem.xRealloc(p, n);
}

static void
fill(struct sp_journal *j, int n)
{
    tu_fill(j, n, HOUR0);
}

static size_t
quarantined(const char *path)
{
    char **names = NULL;
    size_t n = 0;
    struct sp_err e;

    assert_int_equal(sp_journal_quarantined(path, &names, &n, &e),
                     CTSPOOL_OK);
    sp_journal_quarantined_free(names, n);
    return n;
}

/* ---- the counter ------------------------------------------------------ */

static void
test_counts_failed_allocations(void **state)
{
    uint64_t before = sp_memwatch_failures();
    void *p;

    (void)state;
    /* A size SQLite refuses itself: "out of memory", nothing failed. */
    p = sqlite3_malloc64((sqlite3_uint64)3 << 30);
    assert_null(p);
    assert_int_equal(sp_memwatch_failures(), before);
    assert_true(sp_memwatch_spurious(before));

    fail_in = 0;
    p = sqlite3_malloc(64);
    fail_in = -1;
    assert_null(p);
    assert_int_equal(sp_memwatch_failures(), before + 1);
    assert_false(sp_memwatch_spurious(before));

    before = sp_memwatch_failures();
    p = sqlite3_malloc(64);
    assert_non_null(p);
    fail_in = 0;
    assert_null(sqlite3_realloc(p, 128));
    fail_in = -1;
    assert_int_equal(sp_memwatch_failures(), before + 1);
    sqlite3_free(p);
    /* Installed already: a second install changes nothing. */
    assert_int_equal(sp_memwatch_install(NULL), 0);
}

/*
 * "Out of memory" with nothing failed is damage only while the counter
 * would have seen a shortage: not past a hard heap limit (SQLite refuses
 * the size itself), nor once another allocator replaced it (after
 * sqlite3_shutdown, as an application may).
 */
static void
test_spurious_only_when_it_would_see(void **state)
{
    sqlite3_mem_methods ours;
    uint64_t before = sp_memwatch_failures();

    (void)state;
    assert_true(sp_memwatch_spurious(before));
    sqlite3_hard_heap_limit64((sqlite3_int64)1 << 40);
    assert_false(sp_memwatch_spurious(before));
    sqlite3_hard_heap_limit64(0);
    assert_true(sp_memwatch_spurious(before));

    assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &ours),
                     SQLITE_OK);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &real_mem),
                     SQLITE_OK);
    assert_false(sp_memwatch_spurious(before));
    assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &ours), SQLITE_OK);
    assert_true(sp_memwatch_spurious(before));
}

/* ---- the journal's open ----------------------------------------------- */

/* Damage SQLite answers with "out of memory": moved aside at open, and
 * the fresh journal takes points; salvage reads every point back, through
 * page 1 of a fresh journal in place of the damaged one (salvage.c). */
static void
test_spurious_nomem_at_open_is_damage(void **state)
{
    struct tu_journal *f = *state;
    struct sp_salvage_report rep;
    char **names = NULL;
    size_t n = 0;
    struct sp_err e;

    fill(f->j, 20);
    sp_journal_close(f->j); /* checkpointed into the file */
    f->j = NULL;
    tu_damage_schema_entry(f->path);
    /* What SQLite says of it, to show the test damages what it means to. */
    {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "SELECT 1 FROM queue", NULL, NULL,
                                      NULL),
                         SQLITE_NOMEM);
        sqlite3_close(db);
    }
    tu_journal_open(f); /* fails the test unless it opens */
    assert_int_equal(quarantined(f->path), 1);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 0);
    fill(f->j, 3);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 3);

    assert_int_equal(sp_journal_quarantined(f->path, &names, &n, &e),
                     CTSPOOL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sp_salvage(f->j, names[0], 0, &rep, &e), CTSPOOL_OK);
    sp_journal_quarantined_free(names, n);
    assert_true(rep.read_anything);
    assert_int_equal(rep.pending + rep.present, 20);
    assert_int_equal(rep.unreadable, 0);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 20);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), 20);
}

/* A real shortage at open: E_NOMEM, whichever allocation fails, and the
 * journal stays where it is with every point. */
static void
test_real_shortage_at_open_stays(void **state)
{
    struct tu_journal *f = *state;
    int nomem = 0;

    fill(f->j, 20);
    sp_journal_close(f->j);
    f->j = NULL;
    for (long at = 0; at < 400; at++) {
        struct sp_journal_opts o;
        struct sp_journal *j = NULL;
        struct sp_err e;
        ctspool_rc rc;

        memset(&o, 0, sizeof(o));
        o.path = f->path;
        fail_in = at;
        rc = sp_journal_open(&o, &j, &e);
        fail_in = -1;
        if (rc == CTSPOOL_OK) {
            sp_journal_close(j);
            break; /* past every allocation of the open */
        }
        assert_int_equal(rc, CTSPOOL_E_NOMEM);
        assert_int_equal(quarantined(f->path), 0);
        nomem++;
    }
    assert_true(nomem > 10); /* the loop did reach into the open */
    tu_journal_open(f);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 20);
}

/* ---- salvage ---------------------------------------------------------- */

/* Salvage short of memory says so (E_NOMEM, so that auto_salvage tries
 * again rather than setting the file aside as done); the next run
 * completes it, adding nothing twice. */
static void
test_salvage_shortage_says_nomem(void **state)
{
    struct tu_journal *f = *state;
    char *src = tu_path(f->dir, "other.db");
    struct sp_journal_opts o;
    struct sp_journal *sj = NULL;
    struct sp_salvage_report rep;
    struct sp_err e;
    int nomem = 0;
    ctspool_rc rc = CTSPOOL_E_NOMEM;
    char why[512];

    memset(&o, 0, sizeof(o));
    o.path = src;
    assert_int_equal(sp_journal_open(&o, &sj, &e), CTSPOOL_OK);
    fill(sj, 600);
    sp_journal_close(sj);

    for (long at = 25; rc != CTSPOOL_OK && at < 100000; at += at / 4) {
        fail_in = at;
        rc = sp_salvage(f->j, src, 100, &rep, &e);
        fail_in = -1;
        if (rc != CTSPOOL_OK) {
            if (rc != CTSPOOL_E_NOMEM) {
                fail_msg("failure at %ld: rc %d: %s", at, (int)rc, e.msg);
            }
            nomem++;
        }
        if (sp_journal_check(f->j, why, sizeof(why)) != 0) {
            fail_msg("invariant broken after a failure at %ld: %s", at, why);
        }
    }
    assert_int_equal(rc, CTSPOOL_OK);
    assert_true(nomem > 5);
    assert_int_equal(sp_salvage(f->j, src, 0, &rep, &e), CTSPOOL_OK);
    assert_int_equal(rep.pending, 0);
    assert_int_equal(rep.present, 600);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM queue"), 600);
    free(src);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_failed_allocations),
        cmocka_unit_test(test_spurious_only_when_it_would_see),
        cmocka_unit_test_setup_teardown(test_spurious_nomem_at_open_is_damage,
                                        tu_journal_setup_4k,
                                        tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_real_shortage_at_open_stays,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_salvage_shortage_says_nomem,
                                        tu_journal_setup, tu_journal_teardown),
    };
    sqlite3_mem_methods m;

    /* Before SQLite starts, as the programs do (main.c). */
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem) != SQLITE_OK) {
        return 1;
    }
    m = real_mem;
    m.xMalloc = t_malloc;
    m.xRealloc = t_realloc;
    if (sp_memwatch_install(&m) != 0) {
        fprintf(stderr, "cannot install the allocation counter\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
