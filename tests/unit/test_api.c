/*
 * test_api.c -- the public C API (include/ctspool.h) as an embedding
 * program uses it: open, append, append_json, the streams list (set, and
 * from a configuration), stats, errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctspool.h"
#include "testutil.h"

struct fx {
    char *dir;
    char *path;
    ctspool *h;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    f->dir = tu_tmpdir();
    f->path = tu_path(f->dir, "journal.db");
    assert_int_equal(ctspool_open(f->path, 0, &f->h), CTSPOOL_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    ctspool_close(f->h);
    free(f->path);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

static void
test_append_points(void **state)
{
    struct fx *f = *state;
    ctspool_dim dims[] = {{"service", "api"}, {"region", "eu-west-1"}};
    ctspool_point p[2] = {
        {"tok-1234567890", "Sum", "requests", 1664600400, 12.5, dims, 2},
        {NULL, "Average", "cpu", 1664604000, 0.25, NULL, 0},
    };
    ctspool_append_result res;
    ctspool_stats st;

    /* No default stream yet: the second point is invalid, none stored. */
    assert_int_equal(ctspool_append(f->h, p, 2, &res), CTSPOOL_E_INVALID);
    assert_non_null(strstr(ctspool_errmsg(f->h), "point 1"));
    assert_non_null(strstr(ctspool_errmsg(f->h), "data_stream_token"));
    assert_int_equal(ctspool_get_stats(f->h, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points, 0);

    assert_int_equal(ctspool_set_default_stream(f->h, "default-stream-9"),
                     CTSPOOL_OK);
    assert_int_equal(ctspool_append(f->h, p, 2, &res), CTSPOOL_OK);
    assert_int_equal(res.n_new, 2);
    assert_int_equal(ctspool_append(f->h, p, 2, &res), CTSPOOL_OK);
    assert_int_equal(res.n_unchanged, 2);
    p[0].metric_value = 13;
    assert_int_equal(ctspool_append(f->h, p, 1, &res), CTSPOOL_OK);
    assert_int_equal(res.n_updated, 1);
    assert_int_equal(ctspool_get_stats(f->h, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points, 2);
    assert_true(st.oldest_pending_unix > 0);
}

static void
test_validation_through_api(void **state)
{
    struct fx *f = *state;
    ctspool_point p = {"tok-1234567890", "sum", "m", 1664600400, 1, NULL, 0};

    assert_int_equal(ctspool_append(f->h, &p, 1, NULL), CTSPOOL_E_INVALID);
    assert_non_null(strstr(ctspool_errmsg(f->h), "\"Sum\""));
    p.metric_agg_func = "Sum";
    p.timestamp = 1664600401;
    assert_int_equal(ctspool_append(f->h, &p, 1, NULL), CTSPOOL_E_INVALID);
    assert_non_null(strstr(ctspool_errmsg(f->h), "timestamp"));
    p.timestamp = 1664600400;
    p.metric_value = INFINITY;
    assert_int_equal(ctspool_append(f->h, &p, 1, NULL), CTSPOOL_E_INVALID);
    assert_non_null(strstr(ctspool_errmsg(f->h), "metric_value"));
}

static void
test_append_json(void **state)
{
    struct fx *f = *state;
    const char *ok = "{\"data_stream_token\":\"tok-1234567890\","
                     "\"metric_agg_func\":\"Maximum\",\"data\":["
                     "{\"timestamp\":\"2022-10-01 05:00:00\","
                     "\"metric_name\":\"a\",\"metric_value\":1},"
                     "{\"timestamp\":\"2022-10-01T06:00:00Z\","
                     "\"metric_name\":\"a\",\"metric_value\":\"2.5\"}]}";
    const char *bad = "{\"data_stream_token\":\"tok-1234567890\","
                      "\"metric_agg_func\":\"Maximum\",\"data\":["
                      "{\"timestamp\":\"2022-10-01 07:00:00\","
                      "\"metric_name\":\"a\",\"metric_value\":1},"
                      "{\"timestamp\":\"2022-10-01 08:30:00\","
                      "\"metric_name\":\"a\",\"metric_value\":1}]}";
    ctspool_append_result res;
    ctspool_stats st;

    assert_int_equal(ctspool_append_json(f->h, ok, strlen(ok), &res),
                     CTSPOOL_OK);
    assert_int_equal(res.n_new, 2);
    assert_int_equal(ctspool_append_json(f->h, bad, strlen(bad), &res),
                     CTSPOOL_E_INVALID);
    assert_non_null(strstr(ctspool_errmsg(f->h), "data[1]"));
    assert_int_equal(ctspool_append_json(f->h, "{", 1, &res),
                     CTSPOOL_E_INVALID);
    {
        char two[2048];

        snprintf(two, sizeof(two), "%s %s", ok, ok);
        assert_int_equal(ctspool_append_json(f->h, two, strlen(two), &res),
                         CTSPOOL_E_INVALID);
        assert_non_null(strstr(ctspool_errmsg(f->h), "after the payload"));
    }
    assert_int_equal(ctspool_get_stats(f->h, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points, 2);
}

/* Points named m0 .. m(n-1) of one stream and hour, at value v. */
static void
points(ctspool_point *p, char (*names)[8], int n, double v)
{
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "m%d", i);
        p[i] = (ctspool_point){"tok-1234567890", "Sum", names[i],
                               1664600400, v, NULL, 0};
    }
}

/* A write that alone holds more new points than max_pending_points takes
 * can never be stored: E_INVALID ("split it"), as the CLI's exit 65 and
 * serve's 413, not E_FULL ("retry later"), with nothing pending or with
 * some; a write that fits once the drainer caught up is E_FULL. */
static void
test_too_large_for_limit(void **state)
{
    struct fx *f = *state;
    ctspool_point p[5];
    char names[5][8];

    points(p, names, 5, 1);
    assert_int_equal(ctspool_set_limits(f->h, 3, 0), CTSPOOL_OK);
    assert_int_equal(ctspool_append(f->h, p, 5, NULL), CTSPOOL_E_INVALID);
    assert_true(tu_msg_matches(ctspool_errmsg(f->h), "spool full: this "
                                                     "write alone adds*"));
    assert_int_equal(ctspool_append(f->h, p, 2, NULL), CTSPOOL_OK);
    points(p, names, 5, 2);
    /* Two of them are updates: 3 new points against 1 left. */
    assert_int_equal(ctspool_append(f->h, p, 5, NULL), CTSPOOL_E_INVALID);
    assert_int_equal(ctspool_append(f->h, p + 2, 2, NULL), CTSPOOL_E_FULL);
    assert_true(tu_msg_matches(ctspool_errmsg(f->h), "spool full: 2 points "
                                                     "pending*"));
}

/* The library reads JSON as the CLI and serve do: NUL bytes after the
 * document are refused, not taken for white space. */
static void
test_json_trailing_nul(void **state)
{
    struct fx *f = *state;
    char doc[512];
    int n = snprintf(doc, sizeof(doc),
                     "{\"data_stream_token\":\"tok-1234567890\","
                     "\"metric_agg_func\":\"Sum\",\"data\":[{\"timestamp\":"
                     "1664600400,\"metric_name\":\"a\",\"metric_value\":1}]}"
                     "\n");

    memset(doc + n, 0, 3);
    assert_int_equal(ctspool_append_json(f->h, doc, (size_t)n + 3, NULL),
                     CTSPOOL_E_INVALID);
    assert_true(tu_msg_matches(ctspool_errmsg(f->h), "the input contains a "
                                                     "NUL byte*"));
    assert_int_equal(ctspool_append_json(f->h, doc, (size_t)n, NULL),
                     CTSPOOL_OK);
}

/* Every refused call says why in ctspool_errmsg(), never an older
 * call's reason. */
static void
test_usage_errors_say_why(void **state)
{
    struct fx *f = *state;
    ctspool_point p = {"tok-1234567890", "Sum", "m", 1664600401, 1, NULL, 0};
    const char *c1 = "key-\xc2\x85-nel";

    assert_int_equal(ctspool_append(f->h, &p, 1, NULL), CTSPOOL_E_INVALID);
    assert_int_equal(ctspool_get_stats(f->h, NULL), CTSPOOL_E_USAGE);
    assert_true(tu_msg_matches(ctspool_errmsg(f->h), "ctspool_get_stats*"));
    assert_int_equal(ctspool_get_event_stats(f->h, NULL), CTSPOOL_E_USAGE);
    assert_true(tu_msg_matches(ctspool_errmsg(f->h),
                               "ctspool_get_event_stats*"));
    /* A C1 control character (U+0085) in a key, as in a token. */
    p.timestamp = 1664600400;
    assert_int_equal(ctspool_append_ex(f->h, &p, 1, 0, c1, NULL, NULL),
                     CTSPOOL_E_USAGE);
    assert_true(tu_msg_matches(ctspool_errmsg(f->h),
                               "idempotency key: holds a control "
                               "character (byte 4)"));
}

/* Opens path as a user who may read it and not write it: 0 when the
 * open fails with E_CANTCREATE and a message that has want in it. */
static int
open_refused(const char *path, const char *want)
{
    ctspool *h = NULL;
    ctspool_rc rc = ctspool_open(path, 0, &h);

    if (rc == CTSPOOL_OK) {
        fprintf(stderr, "opened %s\n", path);
        ctspool_close(h);
        return 1;
    }
    if (rc != CTSPOOL_E_CANTCREATE || !strstr(ctspool_errmsg(NULL), want)) {
        fprintf(stderr, "%s: %s\n", ctspool_strerror(rc),
                ctspool_errmsg(NULL));
        return 1;
    }
    return 0;
}

/* open_refused() as a user other than root (nobody, in a child process,
 * when the tests run as root: root writes any file). */
static void
check_refused(const char *path, const char *want)
{
    pid_t pid;
    int st = 0;

    if (geteuid() != 0) {
        assert_int_equal(open_refused(path, want), 0);
        return;
    }
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(setgid(65534) != 0 || setuid(65534) != 0
                  ? 2
                  : open_refused(path, want));
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* A journal this user can read and not write is refused at open, with
 * the reason, not opened read-only to fail at the first append as an
 * I/O error; a -wal it cannot open is named. */
static void
test_journal_not_writable(void **state)
{
    struct fx *f = *state;
    char side[4096];

    ctspool_close(f->h);
    f->h = NULL;
    assert_int_equal(chmod(f->dir, 0777), 0);
    for (int i = 0; i < 2; i++) {
        int fd;

        snprintf(side, sizeof(side), "%s%s", f->path, i ? "-shm" : "-wal");
        fd = open(side, O_WRONLY | O_CREAT, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(chmod(side, 0666), 0);
    }
    assert_int_equal(chmod(f->path, 0444), 0);
    check_refused(f->path, "is not readable and writable for this user");
    assert_int_equal(chmod(f->path, 0666), 0);
    snprintf(side, sizeof(side), "%s-wal", f->path);
    assert_int_equal(chmod(side, 0), 0);
    check_refused(f->path, "-wal is not writable for this user");
    assert_int_equal(chmod(side, 0600), 0);
}

/* A journal opened by a relative path stays that journal when the
 * process then changes directory (as a daemon does): nothing is made in
 * the new directory, every point is in the first. */
static void
test_relative_path_then_chdir(void **state)
{
    struct fx *f = *state;
    ctspool_point p = {"tok-1234567890", "Sum", "m", 1664600400, 1, NULL,
                       0};
    char *cwd = getcwd(NULL, 0), *a = tu_path(f->dir, "a"),
         *b = tu_path(f->dir, "b"), *in_b = tu_path(f->dir, "b/rel.db");
    ctspool_stats st;
    ctspool *h;

    assert_non_null(cwd);
    assert_int_equal(mkdir(a, 0700), 0);
    assert_int_equal(mkdir(b, 0700), 0);
    assert_int_equal(chdir(a), 0);
    assert_int_equal(ctspool_open("rel.db", 0, &h), CTSPOOL_OK);
    assert_int_equal(ctspool_append(h, &p, 1, NULL), CTSPOOL_OK);
    assert_int_equal(chdir(b), 0);
    p.timestamp = 1664604000;
    assert_int_equal(ctspool_append(h, &p, 1, NULL), CTSPOOL_OK);
    assert_int_equal(ctspool_get_stats(h, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points, 2);
    ctspool_close(h);
    assert_int_equal(access(in_b, F_OK), -1);
    assert_int_equal(chdir(a), 0);
    assert_int_equal(ctspool_open("rel.db", 0, &h), CTSPOOL_OK);
    assert_int_equal(ctspool_get_stats(h, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points, 2);
    ctspool_close(h);
    assert_int_equal(chdir(cwd), 0);
    free(cwd);
    free(a);
    free(b);
    free(in_b);
}

#define UNLISTED(masked)                                                  \
    "data_stream_token: \"" masked "\" is not in the streams list of the " \
    "configuration"

static void
test_streams_list(void **state)
{
    static const char *const list[] = {"tok-listed-0001", "tok-default-0002"};
    static const char *const bad_list[] = {"tok-listed-0001", "bad\ntoken"};
    static const char *const null_list[] = {"tok-listed-0001", NULL};
    struct fx *f = *state;
    ctspool_point p[2] = {
        {"tok-listed-0001", "Sum", "a", 1664600400, 1, NULL, 0},
        {"tok-unlisted-secret-4321", "Sum", "b", 1664600400, 1, NULL, 0},
    };
    const char *json = "{\"data_stream_token\":\"tok-unlisted-secret-4321\","
                       "\"metric_agg_func\":\"Sum\",\"data\":["
                       "{\"timestamp\":1664600400,\"metric_name\":\"a\","
                       "\"metric_value\":1},"
                       "{\"timestamp\":1664600400,\"metric_name\":\"b\","
                       "\"metric_value\":1}]}";
    ctspool_append_result res;
    ctspool_stats st;

    assert_int_equal(ctspool_set_streams(f->h, list, 2), CTSPOOL_OK);
    /* The point's own token, by index; nothing stored. */
    assert_int_equal(ctspool_append(f->h, p, 2, &res), CTSPOOL_E_INVALID);
    assert_string_equal(ctspool_errmsg(f->h), "point 1: " UNLISTED("****4321"));
    /* The default stream as well. */
    p[1].data_stream_token = NULL;
    assert_int_equal(ctspool_set_default_stream(f->h, "other-default-7777"),
                     CTSPOOL_OK);
    assert_int_equal(ctspool_append(f->h, p, 2, &res), CTSPOOL_E_INVALID);
    assert_string_equal(ctspool_errmsg(f->h), "point 1: " UNLISTED("****7777"));
    assert_int_equal(ctspool_append_json(f->h, json, strlen(json), &res),
                     CTSPOOL_E_INVALID);
    assert_string_equal(ctspool_errmsg(f->h), "data[0]: " UNLISTED("****4321"));
    assert_null(strstr(ctspool_errmsg(f->h), "secret"));
    assert_int_equal(ctspool_get_stats(f->h, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points, 0);

    assert_int_equal(ctspool_set_default_stream(f->h, "tok-default-0002"),
                     CTSPOOL_OK);
    assert_int_equal(ctspool_append(f->h, p, 2, &res), CTSPOOL_OK);
    assert_int_equal(res.n_new, 2);

    /* A bad list is refused whole: the old one stays. */
    assert_int_equal(ctspool_set_streams(f->h, bad_list, 2),
                     CTSPOOL_E_INVALID);
    assert_non_null(strstr(ctspool_errmsg(f->h), "streams: entry 1: "));
    assert_int_equal(ctspool_set_streams(f->h, null_list, 2),
                     CTSPOOL_E_USAGE);
    assert_int_equal(ctspool_set_streams(f->h, NULL, 1), CTSPOOL_E_USAGE);
    assert_string_equal(ctspool_errmsg(f->h),
                        "ctspool_set_streams: tokens is NULL");
    assert_int_equal(ctspool_append_json(f->h, json, strlen(json), &res),
                     CTSPOOL_E_INVALID);
    /* A refused call says why, never an older call's reason. */
    assert_int_equal(ctspool_append(f->h, NULL, 3, &res), CTSPOOL_E_USAGE);
    assert_string_equal(ctspool_errmsg(f->h),
                        "ctspool_append: points is NULL");
    assert_int_equal(ctspool_append_json_ex(f->h, json, strlen(json), 0x80,
                                            NULL, &res, NULL),
                     CTSPOOL_E_USAGE);
    assert_string_equal(ctspool_errmsg(f->h),
                        "ctspool_append_json: unknown flags");
    /* NULL text is a usage error at any length, not a parse failure. */
    assert_int_equal(ctspool_append_json(f->h, NULL, 0, &res),
                     CTSPOOL_E_USAGE);
    assert_string_equal(ctspool_errmsg(f->h),
                        "ctspool_append_json: json is NULL");
    assert_int_equal(ctspool_append_events_json(f->h, NULL, 0, &res),
                     CTSPOOL_E_USAGE);
    /* ctspool_open says what it refused. */
    {
        ctspool *h2 = NULL;

        assert_int_equal(ctspool_open("/nonexistent/x.db", 0, NULL),
                         CTSPOOL_E_USAGE);
        assert_string_equal(ctspool_errmsg(NULL),
                            "ctspool_open: out is NULL");
        assert_int_equal(ctspool_open("/nonexistent/x.db", 0xff, &h2),
                         CTSPOOL_E_USAGE);
        assert_null(h2);
        assert_string_equal(ctspool_errmsg(NULL),
                            "ctspool_open: unknown flags");
    }

    /* No list: any token. */
    assert_int_equal(ctspool_set_streams(f->h, NULL, 0), CTSPOOL_OK);
    assert_int_equal(ctspool_append_json(f->h, json, strlen(json), &res),
                     CTSPOOL_OK);
    assert_int_equal(res.n_new, 2);
}

/* ctspool_open_config takes the list from the configuration. */
static void
test_streams_from_config(void **state)
{
    struct fx *f = *state;
    char *cfg = tu_path(f->dir, "ctspool.cfg");
    char text[4096];
    ctspool *h = NULL;
    ctspool_point p = {"tok-unlisted-secret-4321", "Sum", "a", 1664600400, 1,
                       NULL, 0};

    unsetenv("CTSPOOL_DATA_STREAM_TOKEN");
    snprintf(text, sizeof(text),
             "journal = \"%s\";\n"
             "streams = [ \"tok-listed-0001\", \"tok-default-0002\" ];\n"
             "upload: { data_stream_token = \"tok-default-0002\"; };\n",
             f->path);
    tu_write_file(cfg, text, strlen(text));
    assert_int_equal(ctspool_open_config(cfg, &h), CTSPOOL_OK);
    assert_int_equal(ctspool_append(h, &p, 1, NULL), CTSPOOL_E_INVALID);
    assert_string_equal(ctspool_errmsg(h), "point 0: " UNLISTED("****4321"));
    p.data_stream_token = NULL;
    assert_int_equal(ctspool_append(h, &p, 1, NULL), CTSPOOL_OK);
    ctspool_close(h);

    /* A default stream not in the list is a configuration error. */
    snprintf(text, sizeof(text),
             "journal = \"%s\";\n"
             "streams = [ \"tok-listed-0001\" ];\n"
             "upload: { data_stream_token = \"tok-default-0002\"; };\n",
             f->path);
    tu_write_file(cfg, text, strlen(text));
    assert_int_equal(ctspool_open_config(cfg, &h), CTSPOOL_E_CONFIG);
    assert_null(h);
    assert_non_null(strstr(ctspool_errmsg(NULL),
                           "'upload.data_stream_token' is not in 'streams'"));
    free(cfg);
}

static void
test_errors_and_names(void **state)
{
    ctspool *h = NULL;

    (void)state;
    assert_string_equal(ctspool_strerror(CTSPOOL_E_FULL), "spool full");
    assert_string_equal(ctspool_errname(CTSPOOL_E_FULL), "CTSPOOL_E_FULL");
    assert_string_equal(ctspool_strerror((ctspool_rc)999), "unknown error");
    assert_int_equal(ctspool_version(), CTSPOOL_VERSION_NUM);
    assert_int_equal(ctspool_open("/nonexistent-dir/x/journal.db", 0, &h),
                     CTSPOOL_E_CANTCREATE);
    assert_null(h);
    assert_non_null(strstr(ctspool_errmsg(NULL), "does not exist"));
    ctspool_close(NULL);
}

static void
test_append_events(void **state)
{
    struct fx *f = *state;
    ctspool_event ev[2] = {
        {1664600400, 7, "deploy", "v1.2 to prod", "https://ci.example/1"},
        {1664604000, 0, "incident", "db failover", NULL},
    };
    ctspool_event bad[2] = {
        {1664600400, 0, "deploy", "ok", NULL},
        {1664600400, 0, "deploy", "fine", "ftp://x"},
    };
    const char *json =
        "{\"data\": [{\"timestamp\": \"2022-10-01 05:00:00\", "
        "\"team_id\": 7, \"payload\": {\"type\": \"deploy\", "
        "\"description\": \"v1.2 to prod\", \"event_url\": "
        "\"https://ci.example/1\"}}, {\"timestamp\": 1664607600, "
        "\"payload\": {\"type\": \"release\", \"description\": "
        "\"2.0\"}}]}";
    ctspool_append_result res;
    ctspool_event_stats es;
    ctspool_stats st;

    (void)state;
    assert_int_equal(ctspool_append_events(f->h, ev, 2, &res), CTSPOOL_OK);
    assert_int_equal(res.n_new, 2);
    /* The same events again: the same IDs, nothing to send. */
    assert_int_equal(ctspool_append_events(f->h, ev, 2, &res), CTSPOOL_OK);
    assert_int_equal(res.n_new, 0);
    assert_int_equal(res.n_unchanged, 2);
    /* All or none, the first offender named. */
    assert_int_equal(ctspool_append_events(f->h, bad, 2, &res),
                     CTSPOOL_E_INVALID);
    assert_non_null(strstr(ctspool_errmsg(f->h), "event 1: payload.event_url"));
    ev[1].timestamp = 1664604001;
    assert_int_equal(ctspool_append_events(f->h, &ev[1], 1, &res),
                     CTSPOOL_E_INVALID);
    assert_non_null(strstr(ctspool_errmsg(f->h), "event 0: timestamp"));
    /* Upstream's body: the first element is the event stored above. */
    assert_int_equal(ctspool_append_events_json(f->h, json, strlen(json),
                                                &res),
                     CTSPOOL_OK);
    assert_int_equal(res.n_new, 1);
    assert_int_equal(res.n_unchanged, 1);
    assert_int_equal(ctspool_append_events_json(f->h, "{\"data\": [{}]}",
                                                14, &res),
                     CTSPOOL_E_INVALID);
    assert_non_null(strstr(ctspool_errmsg(f->h), "data[0]: "));
    assert_int_equal(ctspool_get_event_stats(f->h, &es), CTSPOOL_OK);
    assert_int_equal(es.pending_events, 3);
    assert_int_equal(es.acked_events, 0);
    assert_int_equal(es.dead_events, 0);
    /* Events are not points. */
    assert_int_equal(ctspool_get_stats(f->h, &st), CTSPOOL_OK);
    assert_int_equal(st.pending_points, 0);
    assert_true(st.oldest_pending_unix > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_points, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation_through_api, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_append_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streams_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streams_from_config, setup,
                                        teardown),
        cmocka_unit_test(test_errors_and_names),
        cmocka_unit_test_setup_teardown(test_append_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_for_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_json_trailing_nul, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors_say_why, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_relative_path_then_chdir,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_not_writable, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
