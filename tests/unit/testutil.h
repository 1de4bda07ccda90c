/*
 * testutil.h -- helpers shared by the cmocka unit tests: a fresh
 * temporary directory per test, file writing.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>

/* mkdtemp under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_tmpdir(void);
/* rm -rf of a directory made by tu_tmpdir; frees path. */
void tu_rmtree(char *path);
/* Join dir and name into a malloc'd path. */
char *tu_path(const char *dir, const char *name);
/* Write len bytes of data to path (mode 0644); aborts on failure. */
void tu_write_file(const char *path, const char *data, size_t len);

struct sp_point;
/* A point as one comparable line: "stream|agg|name|hour|value|k=v,...". */
void tu_render_point(const struct sp_point *p, char *buf, size_t cap);

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
