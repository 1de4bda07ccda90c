/*
 * selftest.c -- `ctspool-mock-receiver --selftest`: checks the record and
 * event IDs against the published test vectors, the timestamp and number
 * formats, ingest and events request validation and the store's
 * counting, so a broken mock is caught before it judges the code under
 * test.
 */
#include "mock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int n_failed;

static void
check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "selftest: FAILED: %s\n", what);
        n_failed++;
    }
}

struct vector {
    const char *name;
    const char *agg;
    const char *dims[6];             /* key, value pairs, NULL-terminated */
    const char *hex;
};

static const struct vector vectors[] = {
    {"requests", "Sum", {"service", "api", "region", "eu-west-1", NULL},
     "8f0a1e399cae4be270f07afa30f2b5bb0d9f4802790f48fb25a4520cfa194caa"},
    {"requests", "Sum", {NULL},
     "ee235505971442a2724ac48ceb1aa36f3bd40a1150a70be5e1fffa5ba00df0e0"},
    {"cpu", "Average", {"host", "edge-7", "Zone", "b", "zone", "a"},
     "2bddb1f280bb137efb3dcf46b5a4504b001838335f5a1dde229e7f37cc7e0e88"},
};

static void
test_record_ids(void)
{
    size_t v, n;

    for (v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
        struct mock_dim dims[MOCK_MAX_DIMS];
        uint8_t rid[MOCK_RID_LEN];
        char hex[MOCK_RID_HEX_LEN + 1];
        const struct vector *t = &vectors[v];

        for (n = 0; n < 3 && t->dims[2 * n]; n++) {
            dims[n].key = t->dims[2 * n];
            dims[n].key_len = strlen(t->dims[2 * n]);
            dims[n].value = t->dims[2 * n + 1];
            dims[n].value_len = strlen(t->dims[2 * n + 1]);
        }
        mock_dims_sort(dims, n);
        mock_record_id(t->name, strlen(t->name), t->agg, dims, n, rid);
        mock_hex(rid, MOCK_RID_LEN, hex);
        if (strcmp(hex, t->hex) != 0) {
            fprintf(stderr, "selftest: record id %zu: got %s\n", v, hex);
        }
        check(strcmp(hex, t->hex) == 0, "record id test vector");
    }
}

static void
test_hours(void)
{
    static const char *const good[] = {
        "2022-10-01 05:00:00", "2024-02-29 23:00:00", "2000-02-29 00:00:00",
        "1970-01-01 00:00:00", "1969-12-31 23:00:00", "0001-01-01 00:00:00",
        "9999-12-31 23:00:00", "1600-03-01 12:00:00", "2400-02-29 06:00:00",
        "2023-12-31 23:00:00", "2024-01-01 00:00:00"};
    static const char *const bad_form[] = {
        "2022-10-01 05:30:00", "2022-10-01T05:00:00", "2022-10-01 05:00",
        "2022-10-01 05:00:00Z", "22-10-01 05:00:00", "2022-1a-01 05:00:00",
        "2022-10-01 05:00:01", "2022-10-01 05:01:00", "2022-10-01 5:00:00",
        ""};
    static const char *const bad_date[] = {
        "2022-02-29 00:00:00", "1900-02-29 00:00:00", "2022-04-31 00:00:00",
        "2022-13-01 00:00:00", "2022-00-10 00:00:00", "2022-01-00 00:00:00",
        "2022-01-01 24:00:00", "0000-01-01 00:00:00", "2022-02-30 00:00:00",
        "2024-02-30 00:00:00", "2100-02-29 00:00:00", "2022-06-31 00:00:00",
        "2022-12-32 00:00:00", "2022-01-01 99:00:00", "9999-12-32 00:00:00"};
    char out[MOCK_TS_LEN + 1];
    int32_t h = 0;
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int rc = mock_parse_hour(good[i], strlen(good[i]), &h);
        check(rc == 0, "valid timestamp accepted");
        mock_format_hour(h, out);
        check(rc == 0 && strcmp(out, good[i]) == 0,
              "timestamp round-trips");
    }
    mock_parse_hour("1970-01-01 01:00:00", MOCK_TS_LEN, &h);
    check(h == 1, "1970-01-01 01:00:00 is hour 1");
    mock_parse_hour("1969-12-31 23:00:00", MOCK_TS_LEN, &h);
    check(h == -1, "1969-12-31 23:00:00 is hour -1");
    mock_parse_hour("2022-10-01 05:00:00", MOCK_TS_LEN, &h);
    check(h == 1664600400 / 3600, "2022-10-01 05:00:00 hour number");
    for (i = 0; i < sizeof(bad_form) / sizeof(bad_form[0]); i++) {
        check(mock_parse_hour(bad_form[i], strlen(bad_form[i]), &h) == -1,
              "malformed timestamp rejected");
    }
    for (i = 0; i < sizeof(bad_date) / sizeof(bad_date[0]); i++) {
        check(mock_parse_hour(bad_date[i], strlen(bad_date[i]), &h) == -2,
              "impossible date rejected");
    }
}

static void
test_numbers(void)
{
    static const double values[] = {0.1, 12.5, 1.0 / 3.0, 1e300, -2.5e-300,
                                    5e-324, 123456789012345678.0, 0.0,
                                    1.7976931348623157e308, 100.0};
    char out[MOCK_NUM_LEN];
    size_t i;

    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        mock_format_double(values[i], out);
        check(strtod(out, NULL) == values[i], "number round-trips");
    }
    mock_format_double(0.1, out);
    check(strcmp(out, "0.1") == 0, "0.1 printed shortest");
    mock_format_double(12.5, out);
    check(strcmp(out, "12.5") == 0, "12.5 printed shortest");
    mock_format_double(-0.0, out);
    check(strcmp(out, "-0") == 0, "-0 keeps its sign");
}

static void
test_utf8(void)
{
    check(mock_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14),
          "valid UTF-8 accepted");
    check(!mock_utf8_valid("\xc3", 1), "truncated UTF-8 rejected");
    check(!mock_utf8_valid("\xc0\xaf", 2), "overlong UTF-8 rejected");
    check(!mock_utf8_valid("\xed\xa0\x80", 3), "surrogate rejected");
    check(!mock_utf8_valid("\xff", 1), "0xff rejected");
}

static int
parse(const char *body, const struct mock_ingest_opts *opts,
      struct mock_request *req, struct mock_error *err)
{
    return mock_ingest_parse(body, strlen(body), opts, req, err);
}

static void
test_ingest_and_store(void)
{
    static const char ok[] =
        "{\"data_stream_token\":\"tok\",\"metric_agg_func\":\"Sum\","
        "\"data\":[{\"timestamp\":\"2022-10-01 05:00:00\","
        "\"metric_name\":\"requests\",\"metric_value\":12.5,"
        "\"custom_dimensions\":{\"service\":\"api\","
        "\"region\":\"eu-west-1\"}},"
        "{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":\"requests\","
        "\"metric_value\":12.5,\"custom_dimensions\":{"
        "\"region\":\"eu-west-1\",\"service\":\"api\"}}]}";
    static const char *const bad[] = {
        "",
        "[]",
        "{\"data_stream_token\":\"tok\",\"metric_agg_func\":\"sum\","
        "\"data\":[{\"timestamp\":\"2022-10-01 05:00:00\","
        "\"metric_name\":\"m\",\"metric_value\":1}]}",
        "{\"data_stream_token\":\"tok\",\"metric_agg_func\":\"Sum\","
        "\"data\":[{\"timestamp\":\"2022-10-01 05:00:00\","
        "\"metric_name\":\"m\",\"metric_value\":\"1\"}]}",
        "{\"data_stream_token\":\"tok\",\"metric_agg_func\":\"Sum\","
        "\"data\":[]}",
        "{\"data_stream_token\":\"tok\",\"metric_agg_func\":\"Sum\","
        "\"data\":[{\"timestamp\":\"2022-10-01 05:00:00\","
        "\"metric_name\":\"m\",\"metric_value\":1e999}]}",
        "{\"data_stream_token\":\"tok\",\"metric_agg_func\":\"Sum\","
        "\"data\":[{\"timestamp\":\"2022-10-01 05:00:00\","
        "\"metric_name\":\"m\",\"metric_value\":1,"
        "\"custom_dimensions\":{\"a\":\"1\",\"a\":\"2\"}}]}",
        "{\"data_stream_token\":\"tok\",\"metric_agg_func\":\"Sum\","
        "\"extra\":1,\"data\":[{\"timestamp\":\"2022-10-01 05:00:00\","
        "\"metric_name\":\"m\",\"metric_value\":1}]}",
    };
    char *tokens[] = {(char *)"tok"};
    struct mock_ingest_opts opts = {0};
    struct mock_request req;
    struct mock_error err;
    struct mock_store *st;
    struct mock_counters *c;
    char hex[MOCK_RID_HEX_LEN + 1];
    size_t i;

    opts.tokens = tokens;
    opts.n_tokens = 1;
    check(parse(ok, &opts, &req, &err) == 0, "valid request accepted");
    check(req.n_points == 2, "valid request has two points");
    if (req.n_points == 2) {
        mock_hex(req.points[1].rid, MOCK_RID_LEN, hex);
        check(strcmp(hex, vectors[0].hex) == 0,
              "record id independent of dimension order");
    }
    st = mock_store_new();
    mock_store_upsert(st, &req);
    mock_request_cleanup(&req);
    c = mock_store_counters(st);
    check(mock_store_n_points(st) == 1, "one key stored");
    check(c->points_new == 1 && c->points_rewritten == 1 &&
              c->points_rewritten_same_value == 1 && c->points_accepted == 2,
          "upsert counters");
    mock_store_clear(st);
    check(mock_store_n_points(st) == 0 && c->points_new == 0,
          "clear forgets everything");
    mock_store_free(st);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i], &opts, &req, &err);
        check(rc == 400, "invalid request rejected with 400");
        check(req.points == NULL, "rejected request yields nothing");
    }
    tokens[0] = (char *)"other";
    check(parse(ok, &opts, &req, &err) == 404, "unknown token is 404");
    opts.n_tokens = 0;
    opts.max_points = 1;
    check(parse(ok, &opts, &req, &err) == 413, "max_points is 413");
    opts.max_points = 0;
    opts.poison_prefix = "req";
    check(parse(ok, &opts, &req, &err) == 400 && err.index == 0 &&
              strcmp(err.message, "invalid metric_name") == 0,
          "poison_prefix is 400 naming index 0");
}

struct event_vector {
    const char *ts;
    int64_t team_id;                 /* 0: absent */
    const char *type;
    const char *description;
    const char *event_url;           /* NULL: absent */
    const char *hex;
};

static const struct event_vector event_vectors[] = {
    {"2022-10-01 05:00:00", 7, "deploy", "v1.2 to prod",
     "https://ci.example/1",
     "fdab1d47fe782b52a1896ab94f241b102ae8f4ef289074414699d49ab0e47fa5"},
    {"2022-10-01 05:00:00", 0, "incident", "db failover", NULL,
     "e30eb6e4244108511a0e490a997e99a91ba41014962b417f6f465cb6db09ac89"},
};

static void
test_event_ids(void)
{
    size_t v;

    for (v = 0; v < sizeof(event_vectors) / sizeof(event_vectors[0]);
         v++) {
        const struct event_vector *t = &event_vectors[v];
        uint8_t eid[MOCK_RID_LEN];
        char hex[MOCK_RID_HEX_LEN + 1];
        int32_t hour = 0;

        check(mock_parse_hour(t->ts, strlen(t->ts), &hour) == 0,
              "event vector timestamp parses");
        mock_event_id(hour, t->team_id, t->type, strlen(t->type),
                      t->description, strlen(t->description), t->event_url,
                      t->event_url ? strlen(t->event_url) : 0, eid);
        mock_hex(eid, MOCK_RID_LEN, hex);
        if (strcmp(hex, t->hex) != 0) {
            fprintf(stderr, "selftest: event id %zu: got %s\n", v, hex);
        }
        check(strcmp(hex, t->hex) == 0, "event id test vector");
    }
}

static int
parse_events(const char *body, const struct mock_ingest_opts *opts,
             struct mock_event_request *req, struct mock_error *err)
{
    return mock_events_parse(body, strlen(body), opts, req, err);
}

#define EV_TS "\"timestamp\":\"2022-10-01 05:00:00\""
#define EV_DEPLOY "{" EV_TS ",\"team_id\":7,\"payload\":{\"type\":" \
    "\"deploy\",\"description\":\"v1.2 to prod\",\"event_url\":"    \
    "\"https://ci.example/1\"}}"
#define EV_INCIDENT "{" EV_TS ",\"payload\":{\"description\":"        \
    "\"db failover\",\"type\":\"incident\"}}"

static void
test_events_and_store(void)
{
    static const char ok[] =
        "{\"data\":[" EV_DEPLOY "," EV_INCIDENT "," EV_DEPLOY "]}";
    static const char *const bad[] = {
        "{\"data\":[]}",
        "{\"data\":[" EV_INCIDENT "],\"extra\":1}",
        "{\"data\":[" EV_INCIDENT "],\"data\":[" EV_INCIDENT "]}",
        "{\"data\":[{" EV_TS ",\"payload\":{\"type\":\"t\","
        "\"decscription\":\"d\"}}]}",
        "{\"data\":[{" EV_TS ",\"team_id\":1.5,\"payload\":{"
        "\"type\":\"t\",\"description\":\"d\"}}]}",
        "{\"data\":[{" EV_TS ",\"team_id\":\"7\",\"payload\":{"
        "\"type\":\"t\",\"description\":\"d\"}}]}",
        "{\"data\":[{" EV_TS ",\"team_id\":0,\"payload\":{"
        "\"type\":\"t\",\"description\":\"d\"}}]}",
        "{\"data\":[{" EV_TS ",\"team_id\":null,\"payload\":{"
        "\"type\":\"t\",\"description\":\"d\"}}]}",
        "{\"data\":[{" EV_TS "}]}",
        "{\"data\":[{\"timestamp\":\"2022-02-29 00:00:00\",\"payload\":"
        "{\"type\":\"t\",\"description\":\"d\"}}]}",
        "{\"data\":[{" EV_TS ",\"payload\":{\"type\":\"\","
        "\"description\":\"d\"}}]}",
        "{\"data\":[{" EV_TS ",\"payload\":{\"type\":\"t\","
        "\"description\":\"\"}}]}",
        "{\"data\":[{" EV_TS ",\"payload\":{\"type\":\"t\","
        "\"description\":\"d\",\"event_url\":\"ftp://x\"}}]}",
        "{\"data\":[{" EV_TS ",\"payload\":{\"type\":\"t\","
        "\"description\":\"d\",\"event_url\":\"https://\"}}]}",
        "{\"data\":[{" EV_TS ",\"payload\":{\"type\":\"t\","
        "\"description\":\"d\",\"event_url\":\"http:///a\"}}]}",
        "{\"data\":[{" EV_TS ",\"payload\":{\"type\":\"t\","
        "\"description\":\"d\",\"extra\":1}}]}",
        "{\"data\":[" EV_INCIDENT ",{" EV_TS ",\"payload\":{\"type\":"
        "\"t\",\"type\":\"u\",\"description\":\"d\"}}]}",
    };
    static const int64_t teams[] = {7};
    struct mock_ingest_opts opts = {0};
    struct mock_event_request req;
    struct mock_error err;
    struct mock_store *st;
    struct mock_counters *c;
    char hex[MOCK_RID_HEX_LEN + 1], desc[1100 * 2 + 64], *body;
    size_t i;
    int rc;

    opts.teams = teams;
    opts.n_teams = 1;
    check(parse_events(ok, &opts, &req, &err) == 0, "valid events accepted");
    check(req.n_events == 3, "valid events request has three events");
    if (req.n_events == 3) {
        mock_hex(req.events[0].eid, MOCK_RID_LEN, hex);
        check(strcmp(hex, event_vectors[0].hex) == 0,
              "event id of a parsed event");
        mock_hex(req.events[1].eid, MOCK_RID_LEN, hex);
        check(strcmp(hex, event_vectors[1].hex) == 0,
              "event id of a parsed event without team and url");
    }
    st = mock_store_new();
    mock_store_add_events(st, &req);
    mock_event_request_cleanup(&req);
    c = mock_store_counters(st);
    check(mock_store_n_events(st) == 2, "two events stored");
    check(c->events_new == 2 && c->events_rewritten == 1 &&
              c->events_accepted == 3 && c->points_accepted == 0,
          "event counters");
    mock_store_clear(st);
    check(mock_store_n_events(st) == 0 && c->events_new == 0,
          "clear forgets events");
    mock_store_free(st);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = parse_events(bad[i], &opts, &req, &err);
        if (rc != 400) {
            fprintf(stderr, "selftest: bad event body %zu: %d\n", i, rc);
        }
        check(rc == 400, "invalid events request rejected with 400");
        check(req.events == NULL, "rejected events request yields nothing");
    }
    rc = parse_events(bad[3], &opts, &req, &err);
    check(strstr(err.message, "\"description\"") != NULL,
          "decscription gets a spelling hint");
    rc = parse_events(bad[sizeof(bad) / sizeof(bad[0]) - 1], &opts, &req,
                      &err);
    check(err.index == 1 && strncmp(err.message, "data[1]", 7) == 0,
          "a bad element is named by its index");

    /* 1000 code points (2 bytes each) pass, 1001 do not. */
    for (i = 0; i < 1001; i++) {
        memcpy(desc + 2 * i, "\xc3\xa9", 2);
    }
    body = mock_xmalloc(sizeof(desc) + 128);
    snprintf(body, sizeof(desc) + 128,
             "{\"data\":[{" EV_TS ",\"payload\":{\"type\":\"t\","
             "\"description\":\"%.*s\"}}]}", 2000, desc);
    check(parse_events(body, &opts, &req, &err) == 0,
          "1000-character description accepted");
    mock_event_request_cleanup(&req);
    snprintf(body, sizeof(desc) + 128,
             "{\"data\":[{" EV_TS ",\"payload\":{\"type\":\"t\","
             "\"description\":\"%.*s\"}}]}", 2002, desc);
    check(parse_events(body, &opts, &req, &err) == 400,
          "1001-character description rejected");
    free(body);

    /* Every element is validated before any team is looked up. */
    opts.teams = (const int64_t[]){8};
    check(parse_events(ok, &opts, &req, &err) == 404 && err.index == 0 &&
              strcmp(err.message, "no team found") == 0,
          "unknown team is 404 naming index 0");
    rc = parse_events("{\"data\":[" EV_DEPLOY ",{" EV_TS "}]}", &opts, &req,
                      &err);
    check(rc == 400 && err.index == 1, "400 before 404");
    opts.n_teams = 0;
    check(parse_events(ok, &opts, &req, &err) == 0,
          "any team accepted with no --team");
    mock_event_request_cleanup(&req);
    opts.max_points = 2;
    check(parse_events(ok, &opts, &req, &err) == 413, "max_points is 413");
    opts.max_points = 0;
    opts.poison_event_type = "inc";
    check(parse_events(ok, &opts, &req, &err) == 400 && err.index == 1 &&
              strcmp(err.message, "invalid type") == 0,
          "poison_event_type is 400 naming index 1");
}

int
mock_selftest(void)
{
    n_failed = 0;
    test_record_ids();
    test_hours();
    test_numbers();
    test_utf8();
    test_ingest_and_store();
    test_event_ids();
    test_events_and_store();
    if (n_failed) {
        fprintf(stderr, "selftest: %d check(s) failed\n", n_failed);
        return 1;
    }
    printf("selftest: ok\n");
    return 0;
}
