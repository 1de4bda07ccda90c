/*
 * testutil.h -- helpers shared by the cmocka unit tests: a fresh
 * temporary directory per test, file writing, a journal fixture.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "sp_int.h"

/* mkdtemp under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_tmpdir(void);
/* rm -rf of a directory made by tu_tmpdir; frees path. */
void tu_rmtree(char *path);
/* Join dir and name into a malloc'd path. */
char *tu_path(const char *dir, const char *name);
/* Write len bytes of data to path (mode 0644); aborts on failure. */
void tu_write_file(const char *path, const char *data, size_t len);

/* A point as one comparable line: "stream|agg|name|hour|value|k=v,...". */
void tu_render_point(const struct sp_point *p, char *buf, size_t cap);

/* SQL undoing migration 0010 (schema/0010_group_pending.sql), and with
 * it 0009 (schema/0009_fold_origin.sql): tests that make a journal of an
 * older version drop what they added. */
#define TU_UNDO_0010 "DROP TABLE grp_pending; "
#define TU_UNDO_0009                                                      \
    TU_UNDO_0010                                                          \
    "ALTER TABLE point DROP COLUMN folded; "                              \
    "ALTER TABLE dead DROP COLUMN folded; "                               \
    "ALTER TABLE dead DROP COLUMN avg_sum; "                              \
    "ALTER TABLE dead DROP COLUMN avg_n; "

/*
 * The fixture of the journal's tests: a journal (dir/journal.db) in a
 * temporary directory.  tu_journal_setup and tu_journal_teardown are a
 * cmocka setup and teardown (*state: a struct tu_journal); the helpers
 * below abort when the journal refuses.
 */
struct tu_journal {
    char *dir;
    char *path;
    struct sp_journal *j;
    unsigned page_size; /* of the journal tu_journal_open creates; 0: the
                         * default */
};
int tu_journal_setup(void **state);
/* The same, with 4 KiB pages (journals created before 8 KiB became the
 * default, and tu_damage_schema_entry's). */
int tu_journal_setup_4k(void **state);
int tu_journal_teardown(void **state);
/* Opens t->j on t->path (again, after a close), durability full. */
void tu_journal_open(struct tu_journal *t);
/* A finished point; dim: none (NULL) or one, as "k=v". */
struct sp_point tu_point(const char *stream, int agg, const char *name,
                         int64_t hour, double v, const char *dim);
/* Puts p in a transaction of its own; what the put did. */
enum sp_put_result tu_put1(struct sp_journal *j, struct sp_point p);
/* Folds p (accumulate mode) in a transaction of its own; what it did. */
enum sp_put_result tu_fold1(struct sp_journal *j, struct sp_point p);
/* Retires every group of stream token, which must hold points points. */
void tu_retire(struct sp_journal *j, const char *token, uint64_t points);
/* n distinct points in one transaction: streams "tok-a"/"tok-b" in turn,
 * the four aggregation functions, metric "m<k % 100>", hour
 * hour0 + k / 100, value k, dimension host=h1. */
void tu_fill(struct sp_journal *j, int n, int64_t hour0);
/* The first value of sql's first row, or -1 without a row, read with a
 * connection of its own to the database at path: nothing is taken from
 * the journal's own state. */
int64_t tu_sql1(const char *path, const char *sql);
/* The file at path, whole (malloc'd, *len bytes; not empty). */
unsigned char *tu_read_file(const char *path, size_t *len);
/*
 * Writes over the start of the table `point`'s entry in the schema (page
 * 1) of the journal at path a record length of gigabytes: SQLite then
 * refuses the size and says "out of memory" while loading the schema,
 * with no allocation failing (as tests/fuzz/corpus/salvage/
 * regress-nomem-schema does with more bytes).  That holds of the schema
 * page of a journal with 4 KiB pages (tu_journal_setup_4k); with 8 KiB,
 * SQLite finds the same bytes malformed.  Any other page size fails the
 * test.
 */
void tu_damage_schema_entry(const char *path);

/*
 * msg equals want, or, when want ends in '*', starts with the rest: tests
 * of parsers pin the locator and the field of a message but not the
 * wording validate.c gives the reason.
 */
int tu_msg_matches(const char *msg, const char *want);

/*
 * A test that cannot run here: cmocka's skip(), remembered so that
 * tu_exit() reports the program as skipped (include <cmocka.h> first).
 */
extern int tu_skipped;
#define tu_skip()                                                         \
    do {                                                                  \
        tu_skipped = 1;                                                   \
        skip();                                                           \
    } while (0)

/*
 * Exit status of a test program from cmocka_run_group_tests()'s result
 * (the number of failed tests): 1 if any failed, else 77 (ctest:
 * Skipped) if a test was skipped, else 0.
 */
int tu_exit(int failed);

/* cmocka assertion on tu_msg_matches (include <cmocka.h> first). */
#define assert_msg(msg, want)                                             \
    do {                                                                  \
        if (!tu_msg_matches((msg), (want))) {                             \
            fail_msg("message \"%s\" does not match \"%s\"", (msg),       \
                     (want));                                             \
        }                                                                 \
    } while (0)

#endif
