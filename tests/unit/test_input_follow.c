/*
 * test_input_follow.c -- input_src.c and sp_input_read_src(): a source
 * that follows hands on each point as soon as the pipe holds all of it,
 * while the writer keeps the pipe open (NDJSON, CSV, Cloudthread
 * payloads, and NDJSON found by content), also after a byte order mark
 * that came alone; its wake descriptor ends the
 * wait; the prefix read ahead comes first.
 *
 * A reader thread runs sp_input_read_src() on the read end of a pipe;
 * the test writes to the other end and waits (bounded, on a condition
 * variable the callbacks signal) for the points to arrive.  Assertions
 * run on the test's thread only.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sp_int.h"
#include "testutil.h"

#define MAX_SEEN 16
#define WAIT_S 20 /* bound of every wait: a failure, never a delay */

struct follower {
    int fds[2];  /* the input pipe; the test writes to fds[1] */
    int wake[2]; /* written to end a follow read's wait */
    FILE *f;
    struct sp_src src;
    const char *name;
    enum sp_format fmt;
    pthread_t thread;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    char pts[MAX_SEEN][512];
    size_t n_pts;
    char errs[MAX_SEEN][600];
    size_t n_errs;
    int done;
    ctspool_rc rc;
    struct sp_err e;
};

static const struct sp_defaults defaults = {.stream = "tok-def",
                                            .agg = SP_AGG_SUM};

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct follower *fl = ctx;

    pthread_mutex_lock(&fl->lock);
    if (fl->n_pts < MAX_SEEN) {
        tu_render_point(p, fl->pts[fl->n_pts], sizeof(fl->pts[0]));
    }
    fl->n_pts++;
    pthread_cond_broadcast(&fl->cond);
    pthread_mutex_unlock(&fl->lock);
    return CTSPOOL_OK;
}

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct follower *fl = ctx;

    (void)index;
    pthread_mutex_lock(&fl->lock);
    if (fl->n_errs < MAX_SEEN) {
        snprintf(fl->errs[fl->n_errs], sizeof(fl->errs[0]), "%s", e->msg);
    }
    fl->n_errs++;
    pthread_cond_broadcast(&fl->cond);
    pthread_mutex_unlock(&fl->lock);
    return CTSPOOL_OK;
}

static void *
follow_main(void *arg)
{
    struct follower *fl = arg;
    struct sp_err e;
    ctspool_rc rc;

    memset(&e, 0, sizeof(e));
    rc = sp_input_read_src(&fl->src, fl->name, fl->fmt, &defaults, on_point,
                           on_error, fl, &e);
    pthread_mutex_lock(&fl->lock);
    fl->rc = rc;
    fl->e = e;
    fl->done = 1;
    pthread_cond_broadcast(&fl->cond);
    pthread_mutex_unlock(&fl->lock);
    return NULL;
}

static struct follower *
follow_start(const char *name, enum sp_format fmt)
{
    struct follower *fl = calloc(1, sizeof(*fl));

    assert_non_null(fl);
    assert_int_equal(pipe(fl->fds), 0);
    assert_int_equal(pipe(fl->wake), 0);
    fl->f = fdopen(fl->fds[0], "r");
    assert_non_null(fl->f);
    sp_src_init(&fl->src, fl->f, 1, fl->wake[0]);
    fl->name = name;
    fl->fmt = fmt;
    pthread_mutex_init(&fl->lock, NULL);
    pthread_cond_init(&fl->cond, NULL);
    assert_int_equal(pthread_create(&fl->thread, NULL, follow_main, fl), 0);
    return fl;
}

static void
put(struct follower *fl, const char *text)
{
    size_t len = strlen(text), o = 0;

    while (o < len) {
        ssize_t n = write(fl->fds[1], text + o, len - o);

        assert_true(n > 0);
        o += (size_t)n;
    }
}

/* Waits until n_pts + n_errs >= n (or the reader ended); 0 on time-out. */
static int
wait_seen(struct follower *fl, size_t n)
{
    struct timespec until;
    int ok = 1;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_S;
    pthread_mutex_lock(&fl->lock);
    while (fl->n_pts + fl->n_errs < n && !fl->done && ok) {
        ok = pthread_cond_timedwait(&fl->cond, &fl->lock, &until) == 0;
    }
    ok = fl->n_pts + fl->n_errs >= n;
    pthread_mutex_unlock(&fl->lock);
    return ok;
}

/* Ends the input (close: EOF, else wake) and the reader; its result. */
static ctspool_rc
follow_end(struct follower *fl, int wake)
{
    if (wake) {
        assert_int_equal(write(fl->wake[1], "x", 1), 1);
    }
    close(fl->fds[1]);
    pthread_join(fl->thread, NULL);
    assert_true(fl->done);
    return fl->rc;
}

static void
follow_free(struct follower *fl)
{
    sp_src_cleanup(&fl->src);
    fclose(fl->f);
    close(fl->wake[0]);
    close(fl->wake[1]);
    pthread_mutex_destroy(&fl->lock);
    pthread_cond_destroy(&fl->cond);
    free(fl);
}

#define ND_LINE(name)                                                     \
    "{\"timestamp\":1664604000,\"metric_name\":\"" name                   \
    "\",\"metric_value\":1}\n"

static void
test_ndjson_line_while_open(void **state)
{
    struct follower *fl;

    (void)state;
    fl = follow_start("x.ndjson", SP_FMT_AUTO);
    put(fl, ND_LINE("one"));
    assert_true(wait_seen(fl, 1));
    assert_string_equal(fl->pts[0], "tok-def|Sum|one|462390|1|");
    /* A second line, written in two parts: a point once it is whole. */
    put(fl, "{\"timestamp\":1664604000,\"metric_name\":");
    put(fl, "\"two\",\"metric_value\":2}\n");
    assert_true(wait_seen(fl, 2));
    assert_string_equal(fl->pts[1], "tok-def|Sum|two|462390|2|");
    put(fl, "{\"metric_name\":\"bad\"}\n");
    assert_true(wait_seen(fl, 3));
    assert_msg(fl->errs[0], "line 3: *");
    assert_int_equal(follow_end(fl, 0), CTSPOOL_OK);
    assert_int_equal(fl->n_pts, 2);
    follow_free(fl);
}

static void
test_csv_row_while_open(void **state)
{
    struct follower *fl;

    (void)state;
    fl = follow_start("-", SP_FMT_CSV);
    put(fl, "timestamp,metric_name,metric_value,region\n");
    put(fl, "1664604000,c1,5,eu\n");
    assert_true(wait_seen(fl, 1));
    assert_string_equal(fl->pts[0], "tok-def|Sum|c1|462390|5|region=eu");
    put(fl, "1664604000,\"c\"\"2\",6,\r\n");
    assert_true(wait_seen(fl, 2));
    assert_string_equal(fl->pts[1], "tok-def|Sum|c\"2|462390|6|");
    assert_int_equal(follow_end(fl, 0), CTSPOOL_OK);
    assert_int_equal(fl->n_pts, 2);
    follow_free(fl);
}

static void
test_auto_ndjson_while_open(void **state)
{
    struct follower *fl;

    (void)state;
    fl = follow_start("-", SP_FMT_AUTO);
    put(fl, "\n" ND_LINE("auto"));
    assert_true(wait_seen(fl, 1));
    assert_string_equal(fl->pts[0], "tok-def|Sum|auto|462390|1|");
    put(fl, ND_LINE("auto2"));
    assert_true(wait_seen(fl, 2));
    assert_string_equal(fl->pts[1], "tok-def|Sum|auto2|462390|1|");
    assert_int_equal(follow_end(fl, 0), CTSPOOL_OK);
    follow_free(fl);
}

/* Payload objects are parsed one by one as they arrive. */
static void
test_cloudthread_while_open(void **state)
{
    struct follower *fl;

    (void)state;
    fl = follow_start("-", SP_FMT_AUTO);
    put(fl, "\xEF\xBB\xBF{\"data\":[{\"timestamp\":1664604000,"
            "\"metric_name\":\"p}1\",\"metric_value\":1}]}");
    assert_true(wait_seen(fl, 1));
    assert_string_equal(fl->pts[0], "tok-def|Sum|p}1|462390|1|");
    put(fl, " {\"metric_agg_func\":\"Maximum\",\"data\":[{\"timestamp\":");
    put(fl, "1664604000,\"metric_name\":\"p\\\"2\",\"metric_value\":2}]}");
    assert_true(wait_seen(fl, 2));
    assert_string_equal(fl->pts[1], "tok-def|Maximum|p\"2|462390|2|");
    /* Sound JSON with an invalid top level: reported, reading goes on. */
    put(fl, "\n{\"data\":{}}\n");
    assert_true(wait_seen(fl, 3));
    assert_msg(fl->errs[0], "object 3: *");
    /* Broken JSON ends the input, naming where the object starts. */
    put(fl, "{\"data\":[}");
    assert_int_equal(follow_end(fl, 0), CTSPOOL_E_INVALID);
    assert_msg(fl->e.msg, "object 4 (starting at byte offset *");
    assert_int_equal(fl->n_pts, 2);
    follow_free(fl);
}

/* Waits (bounded) until the reader has taken all the pipe holds. */
static int
wait_drained(struct follower *fl)
{
    const struct timespec nap = {0, 2 * 1000 * 1000};

    for (int k = 0; k < WAIT_S * 500; k++) {
        int left = -1;

        if (ioctl(fl->fds[0], FIONREAD, &left) != 0 || left == 0) {
            return left == 0;
        }
        nanosleep(&nap, NULL);
    }
    return 0;
}

/*
 * A UTF-8 byte order mark that arrives alone (the writer's first write;
 * the reader takes it before the rest is written) is skipped, and the
 * points after it are read: in every format, given or found.
 */
static void
test_bom_alone_first(void **state)
{
    static const struct {
        enum sp_format fmt;
        const char *rest;
    } cases[] = {
        {SP_FMT_CSV, "timestamp,metric_name,metric_value\n"
                     "1664604000,b1,1\n1664604000,b2,2\n"},
        {SP_FMT_NDJSON, ND_LINE("b1") ND_LINE("b2")},
        {SP_FMT_CLOUDTHREAD, "{\"data\":[{\"timestamp\":1664604000,"
                             "\"metric_name\":\"b1\",\"metric_value\":1},"
                             "{\"timestamp\":1664604000,\"metric_name\":"
                             "\"b2\",\"metric_value\":2}]}"},
        {SP_FMT_AUTO, ND_LINE("b1") ND_LINE("b2")},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct follower *fl = follow_start("-", cases[i].fmt);

        put(fl, "\xEF\xBB\xBF");
        assert_true(wait_drained(fl));
        put(fl, cases[i].rest);
        if (!wait_seen(fl, 2)) {
            fail_msg("format %d: %zu points, %zu errors (%s)",
                     (int)cases[i].fmt, fl->n_pts, fl->n_errs,
                     fl->n_errs ? fl->errs[0] : "");
        }
        assert_int_equal(follow_end(fl, 0), CTSPOOL_OK);
        assert_int_equal(fl->n_pts, 2);
        assert_int_equal(fl->n_errs, 0);
        assert_memory_equal(fl->pts[0], "tok-def|Sum|b1|", 15);
        follow_free(fl);
    }
}

/* Following, as reading a file: a byte order mark before a later object
 * is broken JSON, not skipped. */
static void
test_bom_later_refused(void **state)
{
    struct follower *fl;

    (void)state;
    fl = follow_start("-", SP_FMT_CLOUDTHREAD);
    put(fl, "\xEF\xBB\xBF{\"data\":[{\"timestamp\":1664604000,"
            "\"metric_name\":\"m1\",\"metric_value\":1}]}\n");
    assert_true(wait_seen(fl, 1));
    put(fl, "\xEF\xBB\xBF{\"data\":[{\"timestamp\":1664604000,"
            "\"metric_name\":\"m2\",\"metric_value\":2}]}\n");
    assert_int_equal(follow_end(fl, 0), CTSPOOL_E_INVALID);
    assert_int_equal(fl->n_pts, 1);
    assert_int_equal(fl->n_errs, 0);
    assert_msg(fl->e.msg, "object 2 (starting at byte offset 75): invalid "
                          "JSON: *");
    follow_free(fl);
}

/*
 * The wake descriptor ends a read that waits for input: E_IO, and the
 * line cut short is not made a point.
 */
static void
test_wake_ends_wait(void **state)
{
    struct follower *fl;

    (void)state;
    fl = follow_start("-", SP_FMT_NDJSON);
    put(fl, ND_LINE("w1"));
    assert_true(wait_seen(fl, 1));
    put(fl, "{\"timestamp\":1664604000,\"metric_name\":\"w2\",\"metric_va");
    assert_int_equal(write(fl->wake[1], "x", 1), 1);
    pthread_join(fl->thread, NULL);
    assert_int_equal(fl->rc, CTSPOOL_E_IO);
    assert_msg(fl->e.msg, "read error: *");
    assert_int_equal(fl->n_pts, 1);
    assert_int_equal(fl->n_errs, 0);
    close(fl->fds[1]);
    follow_free(fl);
}

/* The prefix comes first, then the FILE; fmemopen has no descriptor to
 * follow: it is read with fread. */
static void
test_src_prefix(void **state)
{
    static char text[] = "world";
    struct sp_src s;
    char buf[16], *pre;
    FILE *f;

    (void)state;
    f = fmemopen(text, 5, "r");
    assert_non_null(f);
    sp_src_init(&s, f, 1, -1);
    pre = malloc(6);
    assert_non_null(pre);
    memcpy(pre, "hello ", 6);
    sp_src_unread(&s, pre, 6);
    assert_int_equal(sp_src_read(&s, buf, 4), 4);
    assert_memory_equal(buf, "hell", 4);
    assert_int_equal(sp_src_read(&s, buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "o ", 2);
    assert_int_equal(sp_src_read(&s, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(sp_src_read(&s, buf, sizeof(buf)), 0);
    sp_src_cleanup(&s);
    fclose(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ndjson_line_while_open),
        cmocka_unit_test(test_csv_row_while_open),
        cmocka_unit_test(test_auto_ndjson_while_open),
        cmocka_unit_test(test_cloudthread_while_open),
        cmocka_unit_test(test_bom_alone_first),
        cmocka_unit_test(test_bom_later_refused),
        cmocka_unit_test(test_wake_ends_wait),
        cmocka_unit_test(test_src_prefix),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
