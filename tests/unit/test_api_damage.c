/*
 * test_api_damage.c -- an application embedding the library: damage
 * that SQLite answers with "out of memory" is damage there too (the
 * journal moved aside, a fresh one takes the append), because the first
 * ctspool_open() of the process watches SQLite's allocator (api.c,
 * memwatch.c).  A program of its own: nothing may start SQLite before
 * that first open, as in an application that uses SQLite only through
 * the library.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ctspool.h"
#include "journal.h"
#include "testutil.h"

static const char doc[] =
    "{\"data_stream_token\": \"tok-a\", \"metric_agg_func\": \"Sum\", "
    "\"data\": [{\"timestamp\": \"2026-01-02 03:00:00\", \"metric_name\": "
    "\"m\", \"metric_value\": 1}, {\"timestamp\": \"2026-01-02 04:00:00\", "
    "\"metric_name\": \"m\", \"metric_value\": 2}]}";

/*
 * Creates the journal at path with 4 KiB pages (tu_damage_schema_entry's)
 * in a child process, so that this one has not started SQLite.
 */
static void
create_4k(const char *path)
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        struct sp_journal_opts o = {0};
        struct sp_journal *j = NULL;
        struct sp_err e;

        o.path = path;
        o.page_size = 4096;
        if (sp_journal_open(&o, &j, &e) != CTSPOOL_OK) {
            fprintf(stderr, "create_4k %s: %s\n", path, e.msg);
            _exit(1);
        }
        sp_journal_close(j);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* What SQLite says of the damaged journal, asked in a child process: "out
 * of memory", the damage this test is about. */
static void
assert_sqlite_says_nomem(const char *path)
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *db = NULL;
        int r = sqlite3_open(path, &db);

        if (r == SQLITE_OK) {
            r = sqlite3_exec(db, "SELECT 1 FROM queue", NULL, NULL, NULL);
        }
        sqlite3_close(db);
        _exit(r == SQLITE_NOMEM ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
test_open_moves_damage_aside(void **state)
{
    char *dir = tu_tmpdir(), *path = tu_path(dir, "journal.db");
    char **names = NULL;
    size_t n = 0;
    struct sp_err e;
    ctspool *h = NULL;

    (void)state;
    create_4k(path);
    assert_int_equal(ctspool_open(path, CTSPOOL_DURABILITY_NORMAL, &h),
                     CTSPOOL_OK);
    assert_int_equal(ctspool_append_json(h, doc, strlen(doc), NULL),
                     CTSPOOL_OK);
    ctspool_close(h); /* checkpointed into the file */
    h = NULL;
    tu_damage_schema_entry(path);
    assert_sqlite_says_nomem(path);

    if (ctspool_open(path, CTSPOOL_DURABILITY_NORMAL, &h) != CTSPOOL_OK) {
        fail_msg("open of a damaged journal: %s", ctspool_errmsg(NULL));
    }
    assert_int_equal(ctspool_append_json(h, doc, strlen(doc), NULL),
                     CTSPOOL_OK);
    ctspool_close(h);
    assert_int_equal(sp_journal_quarantined(path, &names, &n, &e),
                     CTSPOOL_OK);
    assert_int_equal(n, 1);
    sp_journal_quarantined_free(names, n);
    assert_int_equal(tu_sql1(path, "SELECT count(*) FROM queue"), 2);
    free(path);
    tu_rmtree(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_moves_damage_aside),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
