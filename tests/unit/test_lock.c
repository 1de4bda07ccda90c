/*
 * test_lock.c -- unit tests of lock.c: one drainer per journal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lock.h"
#include "testutil.h"

struct fx {
    char *dir;
    char *path; /* a journal's: the lock file is path-drain.lock */
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = tu_tmpdir();
    f->path = tu_path(f->dir, "journal.db");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    free(f->path);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_drainer_lock_exclusive),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
