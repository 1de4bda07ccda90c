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

/* cmocka assertion on tu_msg_matches (include <cmocka.h> first). */
#define assert_msg(msg, want)                                             \
    do {                                                                  \
        if (!tu_msg_matches((msg), (want))) {                             \
            fail_msg("message \"%s\" does not match \"%s\"", (msg),       \
                     (want));                                             \
        }                                                                 \
    } while (0)

#endif
