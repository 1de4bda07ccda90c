/*
 * test_landing.c -- unit tests of landing.c, the record in the drainer
 * lock file of until when a drainer's requests may land upstream: the
 * written format and its round trip, rewriting in place, records that
 * read as "nothing in flight", the wait a record imposes (capped at its
 * window when the clock was set back), the sync flag, and the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "landing.h"
#include "testutil.h"

#define RECORD_LEN 64 /* landing.c: bytes, newline included */

struct fx {
    char *dir;
    char *path;
    int fd;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = tu_tmpdir();
    f->path = tu_path(f->dir, "journal.db-drain.lock");
    f->fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(f->fd >= 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    close(f->fd);
    free(f->path);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

/* The file's bytes, NUL-terminated; *len: how many. */
static void
file_text(const struct fx *f, char *buf, size_t cap, size_t *len)
{
    ssize_t n = pread(f->fd, buf, cap - 1, 0);

    assert_true(n >= 0);
    buf[n] = '\0';
    *len = (size_t)n;
}

static void
put_text(struct fx *f, const char *text)
{
    assert_int_equal(ftruncate(f->fd, 0), 0);
    assert_int_equal(pwrite(f->fd, text, strlen(text), 0),
                     (ssize_t)strlen(text));
}

/* ---- writing and reading --------------------------------------------- */

static void
test_round_trip(void **state)
{
    static const char want[] =
        "landing_until_ms=1767225600123 window_ms=30000";
    struct fx *f = *state;
    char buf[256];
    size_t len;
    int64_t window = -7;

    assert_int_equal(dr_landing_write(f->fd, 1767225600123, 30000, 0), 0);
    assert_int_equal(dr_landing_read(f->fd, &window), 1767225600123);
    assert_int_equal(window, 30000);

    /* The format other tools read (tests/integration/test_drain_landing.py,
     * an operator's cat): one line of RECORD_LEN bytes, space-padded. */
    file_text(f, buf, sizeof(buf), &len);
    assert_int_equal(len, RECORD_LEN);
    assert_memory_equal(buf, want, strlen(want));
    for (size_t i = strlen(want); i < RECORD_LEN - 1; i++) {
        assert_int_equal(buf[i], ' ');
    }
    assert_int_equal(buf[RECORD_LEN - 1], '\n');

    assert_int_equal(dr_landing_write(f->fd, 0, 0, 1), 0);
    window = -7;
    assert_int_equal(dr_landing_read(f->fd, &window), 0);
    assert_int_equal(window, 0);
}

/* A shorter record replaces a longer one entirely: no digit of the old
 * one may survive past the new one's end. */
static void
test_rewrite_in_place(void **state)
{
    struct fx *f = *state;
    struct stat sb;
    int64_t window = -7;

    assert_int_equal(dr_landing_write(f->fd, 9999999999999, 999999999, 0),
                     0);
    assert_int_equal(dr_landing_read(f->fd, &window), 9999999999999);
    assert_int_equal(window, 999999999);
    assert_int_equal(dr_landing_write(f->fd, 5, 7, 0), 0);
    assert_int_equal(dr_landing_read(f->fd, &window), 5);
    assert_int_equal(window, 7);
    assert_int_equal(fstat(f->fd, &sb), 0);
    assert_int_equal(sb.st_size, RECORD_LEN);
}

/* Two int64 at their largest do not fit in a record: refused, and the
 * record on disk stays as it was rather than cut short. */
static void
test_too_long_refused(void **state)
{
    static const char longest[] =
        "landing_until_ms=100000000000000000 window_ms=10000000000000000";
    struct fx *f = *state;
    int64_t window = -7;
    char buf[256];
    size_t len;

    /* The longest that fits: 63 characters and the newline. */
    assert_int_equal(dr_landing_write(f->fd, 100000000000000000,
                                      10000000000000000, 0),
                     0);
    file_text(f, buf, sizeof(buf), &len);
    assert_int_equal(len, RECORD_LEN);
    assert_memory_equal(buf, longest, strlen(longest));
    assert_int_equal(buf[RECORD_LEN - 1], '\n');
    assert_int_equal(dr_landing_write(f->fd, 5, 7, 0), 0);
    /* One digit more. */
    assert_int_equal(dr_landing_write(f->fd, 100000000000000000,
                                      100000000000000000, 0),
                     -1);
    assert_int_equal(dr_landing_write(f->fd, INT64_MAX, INT64_MAX, 0), -1);
    assert_int_equal(dr_landing_read(f->fd, &window), 5);
    assert_int_equal(window, 7);
}

/* The record is read at offset 0 whatever the descriptor's offset, and
 * through another descriptor (the next drainer's). */
static void
test_read_from_start(void **state)
{
    struct fx *f = *state;
    int64_t window = -7;
    int fd;

    assert_int_equal(dr_landing_write(f->fd, 123456, 789, 0), 0);
    assert_true(lseek(f->fd, 0, SEEK_END) > 0);
    assert_int_equal(dr_landing_read(f->fd, &window), 123456);
    assert_int_equal(window, 789);
    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    window = -7;
    assert_int_equal(dr_landing_read(fd, &window), 123456);
    assert_int_equal(window, 789);
    close(fd);
}

/* Invariant 2: a record that cannot be parsed is "nothing in flight",
 * window included. */
static void
test_unreadable_reads_as_nothing(void **state)
{
    static const char *const bad[] = {
        "",                                    /* an older ctspool's */
        "\n",
        "garbage\n",
        "\x01garbage landing_until_ms=x\n",
        "landing_until_ms=5\n",                /* no window */
        "landing_until_ms=5 window=6\n",
        "landing_until_ms= window_ms=6\n",
        "landing_until_ms=-5 window_ms=6\n",   /* negative */
        "landing_until_ms=5 window_ms=-6\n",
        "window_ms=6 landing_until_ms=5\n",    /* order */
        "LANDING_UNTIL_MS=5 WINDOW_MS=6\n",
        /* A window no drainer writes (3 x the largest request timeout),
         * with a time that would make the next drainer wait for it. */
        "landing_until_ms=99999999999999 window_ms=6442450942\n",
        "landing_until_ms=99999999999999 window_ms=10000000000000000\n",
    };
    struct fx *f = *state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t window = -7;

        put_text(f, bad[i]);
        assert_int_equal(dr_landing_read(f->fd, &window), 0);
        assert_int_equal(window, 0);
    }
    /* The same bytes well formed do read (the cases above fail for what
     * they show, not for something else). */
    {
        int64_t window = -7;

        put_text(f, "landing_until_ms=5 window_ms=6\n");
        assert_int_equal(dr_landing_read(f->fd, &window), 5);
        assert_int_equal(window, 6);
        /* The longest window a drainer writes. */
        put_text(f, "landing_until_ms=99999999999999 window_ms=6442450941\n");
        assert_int_equal(dr_landing_read(f->fd, &window), 99999999999999);
        assert_int_equal(window, DR_LANDING_WINDOW_MAX);
    }
}

static void
test_unreadable_descriptor(void **state)
{
    struct fx *f = *state;
    int64_t window = -7;
    int fd;

    assert_int_equal(dr_landing_write(f->fd, 5, 6, 0), 0);
    fd = open(f->path, O_WRONLY | O_CLOEXEC); /* cannot be read */
    assert_true(fd >= 0);
    assert_int_equal(dr_landing_read(fd, &window), 0);
    assert_int_equal(window, 0);
    /* ... and a read-only one cannot be written. */
    close(fd);
    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    errno = 0;
    assert_int_equal(dr_landing_write(fd, 9, 9, 0), -1);
    assert_int_equal(errno, EBADF);
    close(fd);
    window = -7;
    assert_int_equal(dr_landing_read(f->fd, &window), 5); /* unchanged */
    assert_int_equal(window, 6);
}

/* sync asks for fdatasync, which /dev/null refuses (EINVAL) although it
 * takes the write: so a write that syncs fails there and one that does
 * not succeeds. */
static void
test_sync_flag(void **state)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    (void)state;
    assert_true(fd >= 0);
    if (fdatasync(fd) == 0) {
        close(fd);
        tu_skip(); /* this system syncs /dev/null: nothing to tell apart */
    }
    assert_int_equal(dr_landing_write(fd, 5, 6, 0), 0);
    errno = 0;
    assert_int_equal(dr_landing_write(fd, 5, 6, 1), -1);
    assert_int_equal(errno, EINVAL);
    close(fd);
}

static void
test_sync_on_a_file(void **state)
{
    struct fx *f = *state;
    int64_t window = -7;

    assert_int_equal(dr_landing_write(f->fd, 42, 43, 1), 0);
    assert_int_equal(dr_landing_read(f->fd, &window), 42);
    assert_int_equal(window, 43);
}

/* ---- the wait -------------------------------------------------------- */

static void
test_wait(void **state)
{
    (void)state;
    /* Nothing may land: no record, or its time has passed. */
    assert_int_equal(dr_landing_wait(0, 30000, 1000000), 0);
    assert_int_equal(dr_landing_wait(0, 30000, 0), 0);
    assert_int_equal(dr_landing_wait(999999, 30000, 1000000), 0);
    assert_int_equal(dr_landing_wait(1000000, 30000, 1000000), 0);
    /* Until the record's time. */
    assert_int_equal(dr_landing_wait(1000001, 30000, 1000000), 1);
    assert_int_equal(dr_landing_wait(1012345, 30000, 1000000), 12345);
    assert_int_equal(dr_landing_wait(1030000, 30000, 1000000), 30000);
    /* The clock was set back since the record was written: never more
     * than one window. */
    assert_int_equal(dr_landing_wait(1030001, 30000, 1000000), 30000);
    assert_int_equal(dr_landing_wait(9000000, 30000, 1000000), 30000);
    assert_int_equal(dr_landing_wait(INT64_MAX, 30000, 1), 30000);
    assert_int_equal(dr_landing_wait(INT64_MAX, INT64_MAX, 1),
                     INT64_MAX - 1);
}

/* Wall-clock milliseconds: comparable with a record written by another
 * process, so not CLOCK_MONOTONIC. */
static void
test_now_is_wall_clock(void **state)
{
    time_t before, after;
    int64_t now;

    (void)state;
    /* time() may read the kernel's coarse clock, a tick behind the
     * fine one: allow a second on each side (CLOCK_MONOTONIC, here
     * since boot, is nowhere near). */
    before = time(NULL);
    now = dr_landing_now_ms();
    after = time(NULL);
    assert_true(now >= ((int64_t)before - 1) * 1000);
    assert_true(now < ((int64_t)after + 2) * 1000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_round_trip),
        T(test_rewrite_in_place),
        T(test_too_long_refused),
        T(test_read_from_start),
        T(test_unreadable_reads_as_nothing),
        T(test_unreadable_descriptor),
        T(test_sync_on_a_file),
#undef T
        cmocka_unit_test(test_sync_flag),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_now_is_wall_clock),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
