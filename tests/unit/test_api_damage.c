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

#include <cmocka.h>

#include "ctspool.h"
#include "journal.h"
#include "testutil.h"

static const char doc[] =
    "{\"data_stream_token\": \"tok-a\", \"metric_agg_func\": \"Sum\", "
    "\"data\": [{\"timestamp\": \"2026-01-02 03:00:00\", \"metric_name\": "
    "\"m\", \"metric_value\": 1}, {\"timestamp\": \"2026-01-02 04:00:00\", "
    "\"metric_name\": \"m\", \"metric_value\": 2}]}";

static void
test_open_moves_damage_aside(void **state)
{
    char *dir = tu_tmpdir(), *path = tu_path(dir, "journal.db");
    char **names = NULL;
    size_t n = 0;
    struct sp_err e;
    ctspool *h = NULL;

    (void)state;
    assert_int_equal(ctspool_open(path, CTSPOOL_DURABILITY_NORMAL, &h),
                     CTSPOOL_OK);
    assert_int_equal(ctspool_append_json(h, doc, strlen(doc), NULL),
                     CTSPOOL_OK);
    ctspool_close(h); /* checkpointed into the file */
    h = NULL;
    tu_damage_schema_entry(path);

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
