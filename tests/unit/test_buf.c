/*
 * test_buf.c -- struct sp_buf (buf.c): growth, the NUL after the
 * contents, sticky failure, sizes that would wrap, reset and reuse,
 * truncation, growth bounded by a maximum, dropping the front, reading
 * an input source into it (limit, read error, the bytes read ahead).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_int.h"
#include "testutil.h"

static void
test_grows_and_terminates(void **state)
{
    struct sp_buf b;
    char big[1000];

    (void)state;
    sp_buf_init(&b);
    assert_null(b.p);
    assert_int_equal(sp_buf_adds(&b, "abc"), 0);
    assert_string_equal(b.p, "abc");
    assert_int_equal(b.len, 3);
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 100; i++) {
        assert_int_equal(sp_buf_add(&b, big, sizeof(big)), 0);
        assert_int_equal(b.p[b.len], '\0');
        assert_true(b.cap > b.len);
    }
    assert_int_equal(b.len, 3 + 100 * sizeof(big));
    assert_memory_equal(b.p, "abcxxx", 6);
    sp_buf_cleanup(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void
test_binary_and_empty(void **state)
{
    struct sp_buf b;
    const char bin[4] = {'a', '\0', 'b', '\0'};

    (void)state;
    sp_buf_init(&b);
    assert_int_equal(sp_buf_add(&b, NULL, 0), 0);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    assert_int_equal(sp_buf_add(&b, bin, sizeof(bin)), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.p, bin, 4);
    sp_buf_cleanup(&b);
}

static void
test_addf(void **state)
{
    struct sp_buf b;
    char want[600];

    (void)state;
    sp_buf_init(&b);
    assert_int_equal(sp_buf_addf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal(b.p, "42-x");
    /* Longer than the first allocation: the retry path. */
    memset(want, 'y', 500);
    want[500] = '\0';
    assert_int_equal(sp_buf_addf(&b, "%s", want), 0);
    assert_int_equal(b.len, 504);
    assert_string_equal(b.p + 4, want);
    sp_buf_cleanup(&b);
}

static void
test_wrap_refused_and_sticky(void **state)
{
    struct sp_buf b;

    (void)state;
    sp_buf_init(&b);
    assert_int_equal(sp_buf_adds(&b, "keep"), 0);
    assert_int_equal(sp_buf_reserve(&b, SIZE_MAX - 2), -1);
    assert_true(b.has_failed);
    /* Sticky: nothing more is added, the contents stay as they were. */
    assert_int_equal(sp_buf_adds(&b, "more"), -1);
    assert_int_equal(sp_buf_addf(&b, "%d", 1), -1);
    assert_string_equal(b.p, "keep");
    assert_int_equal(b.len, 4);
    assert_int_equal(sp_buf_reserve(&b, SIZE_MAX / 2), -1);
    /* Reset clears the failure and keeps the memory. */
    sp_buf_reset(&b);
    assert_false(b.has_failed);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    assert_int_equal(sp_buf_adds(&b, "again"), 0);
    assert_string_equal(b.p, "again");
    sp_buf_cleanup(&b);
}

/* b holds exactly want, and the NUL after it. */
static void
assert_holds(const struct sp_buf *b, const char *want)
{
    assert_int_equal(b->len, strlen(want));
    assert_string_equal(b->p, want);
}

static void
test_truncate_and_drop(void **state)
{
    struct sp_buf b;

    (void)state;
    sp_buf_init(&b);
    /* Nothing held, nothing allocated. */
    sp_buf_truncate(&b, 0);
    sp_buf_drop(&b, 5);
    assert_null(b.p);
    assert_int_equal(sp_buf_adds(&b, "abcdef"), 0);
    sp_buf_truncate(&b, 3);
    assert_holds(&b, "abc");
    /* Never longer: the bytes after len are not the contents. */
    sp_buf_truncate(&b, 5);
    assert_holds(&b, "abc");
    assert_int_equal(sp_buf_adds(&b, "xyz"), 0);
    sp_buf_drop(&b, 0);
    assert_holds(&b, "abcxyz");
    sp_buf_drop(&b, 2);
    assert_holds(&b, "cxyz");
    sp_buf_drop(&b, 9);
    assert_holds(&b, "");
    assert_int_equal(sp_buf_adds(&b, "ab"), 0);
    sp_buf_truncate(&b, 0);
    assert_holds(&b, "");
    sp_buf_cleanup(&b);
}

static void
test_reserve_max(void **state)
{
    struct sp_buf b;
    char big[100];

    (void)state;
    sp_buf_init(&b);
    /* A first allocation no larger than max bytes and the NUL. */
    assert_int_equal(sp_buf_reserve_max(&b, 3, 10), 0);
    assert_int_equal(b.cap, 11);
    assert_string_equal(b.p, "");
    sp_buf_cleanup(&b);

    sp_buf_init(&b);
    memset(big, 'x', sizeof(big));
    assert_int_equal(sp_buf_reserve_max(&b, 100, 1000), 0);
    assert_int_equal(b.cap, 256); /* doubling as sp_buf_reserve() */
    assert_int_equal(sp_buf_add(&b, big, 100), 0);
    assert_int_equal(sp_buf_reserve_max(&b, 200, 1000), 0);
    assert_int_equal(b.cap, 512);
    /* Doubling would pass max: growth stops at room for max bytes. */
    assert_int_equal(sp_buf_reserve_max(&b, 900, 1000), 0);
    assert_int_equal(b.cap, 1001);
    for (int i = 1; i < 10; i++) {
        assert_int_equal(sp_buf_add(&b, big, sizeof(big)), 0);
    }
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.cap, 1001);
    assert_int_equal(b.p[1000], '\0');
    assert_int_equal(sp_buf_reserve_max(&b, 0, 1000), 0);
    /* Past max: refused, and sticky. */
    assert_int_equal(sp_buf_reserve_max(&b, 1, 1000), -1);
    assert_true(b.has_failed);
    assert_int_equal(sp_buf_adds(&b, "y"), -1);
    assert_int_equal(b.len, 1000);
    sp_buf_reset(&b);
    /* A max past SIZE_MAX / 2 is SIZE_MAX / 2: no wrap. */
    assert_int_equal(sp_buf_reserve_max(&b, SIZE_MAX - 2, SIZE_MAX), -1);
    sp_buf_cleanup(&b);
}

/* A buffer and the source it reads. */
struct reading {
    FILE *f;
    struct sp_src src;
    struct sp_buf b;
    size_t n; /* what the last read said */
};

/* A temporary file of len bytes, byte i 'a' + i % 26. */
static FILE *
file_of(size_t len)
{
    FILE *f = tmpfile();

    assert_non_null(f);
    for (size_t i = 0; i < len; i++) {
        assert_int_not_equal(fputc('a' + (int)(i % 26), f), EOF);
    }
    rewind(f);
    return f;
}

/* f: transferred (closed by reading_close). */
static void
reading_open(struct reading *r, FILE *f, int is_follow, int wake_fd)
{
    r->f = f;
    sp_src_init(&r->src, f, is_follow, wake_fd);
    sp_buf_init(&r->b);
    r->n = 99;
}

static void
reading_close(struct reading *r)
{
    sp_buf_cleanup(&r->b);
    sp_src_cleanup(&r->src);
    fclose(r->f);
}

static ctspool_rc
read_some(struct reading *r, size_t max)
{
    return sp_buf_read(&r->b, &r->src, max, &r->n);
}

/* The contents are the file's bytes from offset from on. */
static void
assert_pattern(const struct sp_buf *b, size_t from)
{
    for (size_t i = 0; i < b->len; i++) {
        if (b->p[i] != 'a' + (int)((from + i) % 26)) {
            fail_msg("byte %zu is %d", i, b->p[i]);
        }
    }
    assert_int_equal(b->p[b->len], '\0');
}

static void
test_read_to_end(void **state)
{
    const size_t len = 300 * 1000;
    struct reading r;
    size_t n_reads = 0;

    (void)state;
    reading_open(&r, file_of(len), 0, -1);
    assert_int_equal(read_some(&r, SIZE_MAX), CTSPOOL_OK);
    /* The first read: 64 KiB with the NUL. */
    assert_int_equal(r.n, 64 * 1024 - 1);
    assert_int_equal(r.b.cap, 64 * 1024);
    do {
        assert_int_equal(read_some(&r, SIZE_MAX), CTSPOOL_OK);
        assert_true(n_reads++ < 100);
    } while (r.n > 0);
    assert_int_equal(r.b.len, len);
    assert_int_equal(r.b.cap, 512 * 1024); /* doubled when full */
    assert_pattern(&r.b, 0);
    /* At the end, it stays there. */
    assert_int_equal(read_some(&r, SIZE_MAX), CTSPOOL_OK);
    assert_int_equal(r.n, 0);
    reading_close(&r);
}

static void
test_read_limit(void **state)
{
    const size_t max = 100 * 1000;
    struct reading r;
    size_t n_reads = 0;
    ctspool_rc rc;

    (void)state;
    reading_open(&r, file_of(2 * max), 0, -1);
    for (;;) {
        rc = read_some(&r, max);
        if (rc != CTSPOOL_OK) {
            break;
        }
        assert_true(r.n > 0);
        assert_true(n_reads++ < 100);
    }
    /* Full: max bytes held, room for no more, nothing read. */
    assert_int_equal(rc, CTSPOOL_E_FULL);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.b.len, max);
    assert_int_equal(r.b.cap, max + 1);
    assert_false(r.b.has_failed);
    assert_pattern(&r.b, 0);
    /* Room made at the front: reading goes on where it stopped. */
    sp_buf_drop(&r.b, 10);
    assert_int_equal(read_some(&r, max), CTSPOOL_OK);
    assert_int_equal(r.n, 10);
    assert_int_equal(r.b.cap, max + 1);
    assert_pattern(&r.b, 10);
    reading_close(&r);
}

/* What was read ahead (sp_src_unread) comes first, then the FILE. */
static void
test_read_ahead_first(void **state)
{
    struct reading r;
    char *pre = malloc(3);

    (void)state;
    assert_non_null(pre);
    memcpy(pre, "xyz", 3);
    reading_open(&r, file_of(26), 0, -1);
    sp_src_unread(&r.src, pre, 3);
    assert_int_equal(read_some(&r, SIZE_MAX), CTSPOOL_OK);
    assert_int_equal(r.n, 3);
    assert_int_equal(read_some(&r, SIZE_MAX), CTSPOOL_OK);
    assert_int_equal(r.n, 26);
    assert_memory_equal(r.b.p, "xyzabc", 6);
    assert_int_equal(read_some(&r, SIZE_MAX), CTSPOOL_OK);
    assert_int_equal(r.n, 0);
    reading_close(&r);
}

/* A read that fails: E_IO, errno kept, the contents as they were. */
static void
test_read_error(void **state)
{
    struct reading r;
    int fds[2], wake[2];
    FILE *f;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pipe(wake), 0);
    f = fdopen(fds[0], "r");
    assert_non_null(f);
    /* A following source woken while it waits for input. */
    reading_open(&r, f, 1, wake[0]);
    assert_int_equal(sp_buf_adds(&r.b, "kept"), 0);
    assert_int_equal(write(wake[1], "x", 1), 1);
    errno = 0;
    assert_int_equal(read_some(&r, SIZE_MAX), CTSPOOL_E_IO);
    assert_int_equal(errno, ECANCELED);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.b.len, 4);
    assert_string_equal(r.b.p, "kept");
    assert_false(r.b.has_failed);
    reading_close(&r);
    close(fds[1]);
    close(wake[0]);
    close(wake[1]);
}

/* A buffer that has failed reads nothing: E_NOMEM, the input left. */
static void
test_read_after_failure(void **state)
{
    struct reading r;

    (void)state;
    reading_open(&r, file_of(26), 0, -1);
    assert_int_equal(sp_buf_reserve(&r.b, SIZE_MAX), -1);
    assert_int_equal(read_some(&r, SIZE_MAX), CTSPOOL_E_NOMEM);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.b.len, 0);
    sp_buf_reset(&r.b);
    assert_int_equal(read_some(&r, SIZE_MAX), CTSPOOL_OK);
    assert_int_equal(r.n, 26);
    assert_pattern(&r.b, 0);
    reading_close(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_and_terminates),
        cmocka_unit_test(test_binary_and_empty),
        cmocka_unit_test(test_addf),
        cmocka_unit_test(test_wrap_refused_and_sticky),
        cmocka_unit_test(test_truncate_and_drop),
        cmocka_unit_test(test_reserve_max),
        cmocka_unit_test(test_read_to_end),
        cmocka_unit_test(test_read_limit),
        cmocka_unit_test(test_read_ahead_first),
        cmocka_unit_test(test_read_error),
        cmocka_unit_test(test_read_after_failure),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
