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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
