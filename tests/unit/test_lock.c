/*
 * test_lock.c -- unit tests of lock.c: one drainer per journal, in
 * other processes and in this one, until the holder closes or dies; the
 * lock file private, kept across drainers (the landing record lives in
 * it) and not inherited by programs the drainer runs; failures to open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lock.h"
#include "testutil.h"

struct fx {
    char *dir;
    char *path;      /* a journal's (need not exist) */
    char *lock_path; /* path-drain.lock */
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = tu_tmpdir();
    f->path = tu_path(f->dir, "journal.db");
    f->lock_path = tu_path(f->dir, "journal.db-drain.lock");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    free(f->path);
    free(f->lock_path);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

static void
test_drainer_lock_exclusive(void **state)
{
    struct fx *f = *state;
    struct sp_err e;
    int fd1 = -1, fd2 = -1;
    pid_t pid;
    int status;

    assert_int_equal(dr_lock_open(f->path, &fd1, &e), CTSPOOL_OK);
    /* flock is per open file: a second process must be refused. */
    pid = fork();
    if (pid == 0) {
        _exit(dr_lock_open(f->path, &fd2, &e) == CTSPOOL_E_LOCKED ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    close(fd1);
    assert_int_equal(dr_lock_open(f->path, &fd2, &e), CTSPOOL_OK);
    close(fd2);
}

/* flock is per open file: the same process opening it again is refused
 * too, and is told why. */
static void
test_second_open_refused(void **state)
{
    struct fx *f = *state;
    struct sp_err e;
    int fd1 = -1, fd2 = 7;

    assert_int_equal(dr_lock_open(f->path, &fd1, &e), CTSPOOL_OK);
    assert_true(fd1 >= 0);
    e.msg[0] = '\0';
    assert_int_equal(dr_lock_open(f->path, &fd2, &e), CTSPOOL_E_LOCKED);
    assert_int_equal(fd2, -1);
    assert_non_null(strstr(e.msg, "another drainer is running"));
    assert_non_null(strstr(e.msg, f->lock_path));
    close(fd1);
}

/* A drainer killed with its lock held (no close): the kernel releases
 * it, and the next drainer starts. */
static void
test_released_when_holder_dies(void **state)
{
    struct fx *f = *state;
    struct sp_err e;
    int fd = -1, status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(dr_lock_open(f->path, &fd, &e) == CTSPOOL_OK ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(dr_lock_open(f->path, &fd, &e), CTSPOOL_OK);
    close(fd);
}

static void
test_file_private_and_not_inherited(void **state)
{
    struct fx *f = *state;
    struct sp_err e;
    struct stat sb;
    mode_t old = umask(022);
    int fd = -1;

    assert_int_equal(dr_lock_open(f->path, &fd, &e), CTSPOOL_OK);
    umask(old);
    assert_int_equal(stat(f->lock_path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(sb.st_size, 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
}

/* The next drainer finds the last one's landing record: opening an
 * existing lock file neither truncates nor rewrites it. */
static void
test_reopen_keeps_contents(void **state)
{
    static const char rec[] = "landing_until_ms=5 window_ms=6\n";
    struct fx *f = *state;
    struct sp_err e;
    char buf[64];
    int fd = -1;

    assert_int_equal(dr_lock_open(f->path, &fd, &e), CTSPOOL_OK);
    assert_int_equal(pwrite(fd, rec, sizeof(rec) - 1, 0),
                     (ssize_t)sizeof(rec) - 1);
    close(fd);
    fd = -1;
    assert_int_equal(dr_lock_open(f->path, &fd, &e), CTSPOOL_OK);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(pread(fd, buf, sizeof(buf) - 1, 0),
                     (ssize_t)sizeof(rec) - 1);
    assert_string_equal(buf, rec);
    close(fd);
}

static void
test_cannot_open(void **state)
{
    struct fx *f = *state;
    struct sp_err e;
    char *long_path = malloc(PATH_MAX);
    char *missing = tu_path(f->dir, "no/such/dir/journal.db");
    int fd = 7;

    assert_non_null(long_path);
    /* Room for the journal's path but not for "-drain.lock" after it. */
    memset(long_path, 'a', PATH_MAX - 5);
    long_path[0] = '/';
    long_path[PATH_MAX - 5] = '\0';
    assert_int_equal(dr_lock_open(long_path, &fd, &e),
                     CTSPOOL_E_CANTCREATE);
    assert_int_equal(fd, -1);
    assert_string_equal(e.msg, "journal path too long");

    fd = 7;
    assert_int_equal(dr_lock_open(missing, &fd, &e), CTSPOOL_E_CANTCREATE);
    assert_int_equal(fd, -1);
    assert_non_null(strstr(e.msg, "cannot open drainer lock"));
    assert_non_null(strstr(e.msg, "no/such/dir/journal.db-drain.lock"));
    free(missing);
    free(long_path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_drainer_lock_exclusive),
        T(test_second_open_refused),
        T(test_released_when_holder_dies),
        T(test_file_private_and_not_inherited),
        T(test_reopen_keeps_contents),
        T(test_cannot_open),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
