/*
 * test_payload.c -- payload.c: Cloudthread payload objects and NDJSON
 * lines -> points.  Points are rendered to text
 * ("stream|agg|name|hour|value|k=v,k=v") so each test asserts exact
 * values; errors are asserted with their exact index and message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jscan.h"
#include "sp_int.h"
#include "testutil.h"

#define MAX_SEEN 64

/* What the callbacks saw. */
struct seen {
    char pts[MAX_SEEN][512];
    size_t n_pts;
    char errs[MAX_SEEN][600];
    size_t err_index[MAX_SEEN];
    size_t n_errs;
    ctspool_rc point_rc; /* what on_point returns */
};

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct seen *s = ctx;

    assert_true(s->n_pts < MAX_SEEN);
    tu_render_point(p, s->pts[s->n_pts++], sizeof(s->pts[0]));
    return s->point_rc;
}

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct seen *s = ctx;

    assert_true(s->n_errs < MAX_SEEN);
    s->err_index[s->n_errs] = index;
    snprintf(s->errs[s->n_errs++], sizeof(s->errs[0]), "%s", e->msg);
    return CTSPOOL_OK;
}


static ctspool_rc
parse(const char *json, const struct sp_defaults *d, struct seen *s,
      size_t *consumed, struct sp_err *e)
{
    memset(s, 0, sizeof(*s));
    return sp_payload_parse(json, strlen(json), d, on_point, on_error, s,
                            consumed, e);
}

/* One data element in a payload with agg and stream: its only error. */
static void
assert_element_error(const char *element, const char *msg)
{
    char json[2048];
    struct seen s;
    struct sp_err e;
    size_t used;

    snprintf(json, sizeof(json),
             "{\"data_stream_token\":\"tok-secret-1234\","
             "\"metric_agg_func\":\"Sum\",\"data\":[%s]}",
             element);
    assert_int_equal(parse(json, NULL, &s, &used, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 0);
    assert_int_equal(s.n_errs, 1);
    assert_int_equal(s.err_index[0], 0);
    assert_msg(s.errs[0], msg);
    assert_null(strstr(s.errs[0], "tok-secret"));
}

static void
test_payload_fields(void **state)
{
    const char *json =
        "  {\"data_stream_token\": \"tok-A\", \"metric_agg_func\": \"Sum\",\n"
        "   \"data\": [\n"
        "    {\"timestamp\": \"2022-10-01 05:00:00\", \"metric_name\": "
        "\"requests\", \"metric_value\": 12.5, \"custom_dimensions\": "
        "{\"region\": \"eu-west-1\", \"az\": \"b\"}},\n"
        "    {\"timestamp\": 1664604000, \"metric_name\": \"lat\", "
        "\"metric_value\": \"-3e2\"},\n"
        "    {\"timestamp\": \"2022-10-01T05:00:00Z\", \"metric_name\": "
        "\"x\", \"metric_value\": 0, \"custom_dimensions\": null},\n"
        "    {\"metric_value\": 7, \"custom_dimensions\": {}, "
        "\"metric_name\": \"\\u00e9t\\u00e9\", \"timestamp\": "
        "\"2022-10-01T05:00:00+00:00\"}\n"
        "  ]}  ";
    struct seen s;
    struct sp_err e;
    size_t used = 0;

    (void)state;
    assert_int_equal(parse(json, NULL, &s, &used, &e), CTSPOOL_OK);
    assert_int_equal(s.n_errs, 0);
    assert_int_equal(s.n_pts, 4);
    assert_string_equal(s.pts[0],
                        "tok-A|Sum|requests|462389|12.5|az=b,region=eu-west-1");
    assert_string_equal(s.pts[1], "tok-A|Sum|lat|462390|-300|");
    assert_string_equal(s.pts[2], "tok-A|Sum|x|462389|0|");
    assert_string_equal(s.pts[3], "tok-A|Sum|\xc3\xa9t\xc3\xa9|462389|7|");
    /* Parsing stops right after the object: trailing blanks are left. */
    assert_int_equal(used, strlen(json) - 2);
    /* A byte order mark first is skipped, as append's readers do. */
    {
        char bom[1024];

        snprintf(bom, sizeof(bom), "\xEF\xBB\xBF%s", json);
        assert_int_equal(parse(bom, NULL, &s, &used, &e), CTSPOOL_OK);
        assert_int_equal(s.n_pts, 4);
        assert_int_equal(used, strlen(bom) - 2);
    }
}

static void
test_payload_defaults(void **state)
{
    const char *no_top = "{\"data\":[{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":1}]}";
    const char *null_top = "{\"data_stream_token\":null,\"metric_agg_func\":"
                           "null,\"data\":[{\"timestamp\":\"2022-10-01 "
                           "05:00:00\",\"metric_name\":\"m\","
                           "\"metric_value\":1}]}";
    struct sp_defaults d = {.stream = "tok-default", .agg = SP_AGG_MAXIMUM};
    struct sp_defaults none = {.stream = NULL, .agg = -1};
    struct sp_defaults agg_only = {.stream = "", .agg = SP_AGG_SUM};
    struct seen s;
    struct sp_err e;
    size_t used;

    (void)state;
    assert_int_equal(parse(no_top, &d, &s, &used, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 1);
    assert_string_equal(s.pts[0], "tok-default|Maximum|m|462389|1|");

    assert_int_equal(parse(null_top, &d, &s, &used, &e), CTSPOOL_OK);
    assert_string_equal(s.pts[0], "tok-default|Maximum|m|462389|1|");

    assert_int_equal(parse(no_top, &none, &s, &used, &e),
                     CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "metric_agg_func: missing (not in the "
                               "payload)");
    assert_int_equal(used, strlen(no_top)); /* JSON sound: skippable */
    assert_int_equal(s.n_pts + s.n_errs, 0);

    assert_int_equal(parse(no_top, &agg_only, &s, &used, &e),
                     CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "data_stream_token: missing (not in the "
                               "payload and no default configured)");

    assert_int_equal(parse(no_top, NULL, &s, &used, &e), CTSPOOL_E_INVALID);
}

static void
test_payload_element_errors(void **state)
{
    (void)state;
    assert_element_error("{\"timestamp\":true,\"metric_name\":\"m\","
                         "\"metric_value\":1}",
                         "timestamp: must be a string or a number of Unix "
                         "seconds, not a boolean");
    assert_element_error("{\"metric_name\":\"m\",\"metric_value\":1}",
                         "timestamp: missing");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_value\":1}",
                         "metric_name: missing");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\"}",
                         "metric_value: missing");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":5,\"metric_value\":1}",
                         "metric_name: must be a string, not a number");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":[1]}",
                         "metric_value: must be a number or a numeric "
                         "string, not an array");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":1e999}",
                         "metric_value: \"1e999\" is out of range for a "
                         "double");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":\"12.5abc\"}",
                         "metric_value: \"12.5abc\" *");
    assert_element_error("{\"timestamp\":1664604001,\"metric_name\":\"m\","
                         "\"metric_value\":1}",
                         "timestamp: 1664604001 *");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:30:00\","
                         "\"metric_name\":\"m\",\"metric_value\":1}",
                         "timestamp: minutes must be zero*");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":1,"
                         "\"custom_dimensions\":[\"a\"]}",
                         "custom_dimensions: must be an object, not an array");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":1,"
                         "\"custom_dimensions\":{\"region\":3}}",
                         "custom_dimensions: value of \"region\" must be a "
                         "string, not a number");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":1,"
                         "\"custom_dimensions\":{\"a\":\"1\",\"b\":\"2\","
                         "\"a\":\"3\"}}",
                         "custom_dimensions: key \"a\" *");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":1,"
                         "\"custom_dimensions\":{\"k1\":\"v\",\"k2\":\"v\","
                         "\"k3\":\"v\",\"k4\":\"v\",\"k5\":\"v\",\"k6\":\"v\","
                         "\"k7\":\"v\",\"k8\":\"v\",\"k9\":\"v\",\"k10\":\"v\","
                         "\"k11\":\"v\"}}",
                         "custom_dimensions: *");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":1,"
                         "\"custom_dimension\":{}}",
                         "unknown field \"custom_dimension\" (a data element "
                         "has timestamp, metric_name, metric_value and "
                         "custom_dimensions)");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":1,"
                         "\"metric_agg_func\":\"Sum\"}",
                         "unknown field \"metric_agg_func\" in a data "
                         "element (it belongs at the top level of the "
                         "payload)");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_name\":\"n\","
                         "\"metric_value\":1}",
                         "metric_name: appears twice");
    assert_element_error("[1]", "a data element must be a JSON object, not "
                                "an array");
    assert_element_error("{\"timestamp\":\"2022-10-01 05:00:00\","
                         "\"metric_name\":\"m\",\"metric_value\":1,"
                         "\"w\\u00e9ird\\n\\\"key\":1}",
                         "unknown field \"w\xc3\xa9ird\\x0a\\\"key\" (a data "
                         "element has timestamp, metric_name, metric_value "
                         "and custom_dimensions)");
}

/* Good and bad elements mixed: each bad one reported with its index. */
static void
test_payload_mixed(void **state)
{
    const char *json =
        "{\"data_stream_token\":\"tok-B\",\"metric_agg_func\":\"Average\","
        "\"data\":[{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":"
        "\"a\",\"metric_value\":1},{\"timestamp\":\"2022-02-30 05:00:00\","
        "\"metric_name\":\"b\",\"metric_value\":2},{\"timestamp\":"
        "\"2022-10-01 05:00:00\",\"metric_name\":\"c\",\"metric_value\":3},"
        "{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":\"d\","
        "\"metric_value\":null}]}";
    struct seen s;
    struct sp_err e;
    size_t used;

    (void)state;
    assert_int_equal(parse(json, NULL, &s, &used, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 2);
    assert_string_equal(s.pts[0], "tok-B|Average|a|462389|1|");
    assert_string_equal(s.pts[1], "tok-B|Average|c|462389|3|");
    assert_int_equal(s.n_errs, 2);
    assert_int_equal(s.err_index[0], 1);
    assert_msg(s.errs[0], "timestamp: the date does not exist*");
    assert_int_equal(s.err_index[1], 3);
    assert_string_equal(s.errs[1], "metric_value: missing");
}

static void
test_payload_malformed(void **state)
{
    static const struct {
        const char *json;
        const char *msg;
        int sound; /* JSON itself is well-formed: consumed > 0 */
    } cases[] = {
        {"{\"data\": [1, }", "invalid JSON: parsing stopped at byte offset 13 "
         "(parse error: unallowed token at this point in JSON text)",
         0},
        {"hello", "invalid JSON: parsing stopped at byte offset 0 (lexical "
         "error: invalid char in json text)", 0},
        {"", "invalid JSON: parsing stopped at byte offset 0 (the input ends "
             "inside the payload)", 0},
        {"[]", "the payload must be a JSON object, not an array", 1},
        {"{\"metric_agg_func\":\"Sum\",\"data_stream_token\":\"t\"}",
         "data: missing (the payload has no \"data\" array)", 1},
        {"{\"metric_agg_func\":\"Sum\",\"data_stream_token\":\"t\","
         "\"data\":{}}",
         "data: must be an array, not an object", 1},
        {"{\"metric_agg_func\":\"sum\",\"data_stream_token\":\"t\","
         "\"data\":[]}",
         "metric_agg_func: \"sum\" *",
         1},
        {"{\"metric_agg_func\":1,\"data_stream_token\":\"t\",\"data\":[]}",
         "metric_agg_func: must be a string, not a number", 1},
        {"{\"metric_agg_func\":\"Sum\",\"data_stream_token\":7,\"data\":[]}",
         "data_stream_token: must be a string, not a number", 1},
        {"{\"metric_agg_func\":\"Sum\",\"data_stream_token\":\"t\","
         "\"data\":[],\"extra\":1}",
         "unknown member \"extra\" in the payload (it has data_stream_token, "
         "metric_agg_func and data)",
         1},
        {"{\"metric_agg_func\":\"Sum\",\"data_stream_token\":\"t\","
         "\"data\":[],\"data\":[]}",
         "data: appears twice in the payload", 1},
        /* After a byte order mark (skipped, as append's readers do),
         * offsets count from the start of the document, mark included,
         * as append's do. */
        {"\xEF\xBB\xBF{\"data\": [1, }",
         "invalid JSON: parsing stopped at byte offset 16 (parse error: "
         "unallowed token at this point in JSON text)", 0},
        {"\xEF\xBB\xBF[]", "the payload must be a JSON object, not an array",
         1},
        {"{\"metric_agg_func\":\"Sum\",\"data_stream_token\":\"t\","
         "\"data\":[{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":"
         "\"a\\u0000b\",\"metric_value\":1}]}",
         "a string contains \\u0000 (a NUL character) before byte offset 116; "
         "NUL characters are not accepted",
         0},
    };
    struct seen s;
    struct sp_err e;
    size_t used;

    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        ctspool_rc rc = parse(cases[i].json, NULL, &s, &used, &e);

        if (rc != CTSPOOL_E_INVALID || !tu_msg_matches(e.msg, cases[i].msg)) {
            print_error("case %zu: rc %d msg %s\n", i, (int)rc, e.msg);
        }
        assert_int_equal(rc, CTSPOOL_E_INVALID);
        assert_msg(e.msg, cases[i].msg);
        assert_int_equal(s.n_pts + s.n_errs, 0);
        if (cases[i].sound) {
            assert_int_equal(used, strlen(cases[i].json));
        } else {
            assert_int_equal(used, 0);
        }
    }
}

static void
test_payload_token_not_in_messages(void **state)
{
    const char *json = "{\"metric_agg_func\":\"Sum\",\"data_stream_token\":"
                       "\"tok-secret\\n9876\",\"data\":[]}";
    struct seen s;
    struct sp_err e;
    size_t used;

    (void)state;
    assert_int_equal(parse(json, NULL, &s, &used, &e), CTSPOOL_E_INVALID);
    assert_non_null(strstr(e.msg, "data_stream_token:"));
    assert_null(strstr(e.msg, "secret"));
    assert_null(strstr(e.msg, "9876"));
}

static void
test_payload_empty_data(void **state)
{
    struct seen s;
    struct sp_err e;
    size_t used;

    (void)state;
    assert_int_equal(parse("{\"metric_agg_func\":\"Minimum\","
                           "\"data_stream_token\":\"t\",\"data\":[]}",
                           NULL, &s, &used, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts + s.n_errs, 0);
}

/* Two objects back to back: *consumed lets the caller go on. */
static void
test_payload_concatenated(void **state)
{
    const char *json =
        "{\"metric_agg_func\":\"Sum\",\"data_stream_token\":\"t1\",\"data\":"
        "[{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":\"a\","
        "\"metric_value\":1}]}\n"
        "{\"metric_agg_func\":\"Minimum\",\"data_stream_token\":\"t2\","
        "\"data\":[{\"timestamp\":\"2022-10-01 06:00:00\",\"metric_name\":"
        "\"b\",\"metric_value\":2}]}";
    struct seen s;
    struct sp_err e;
    size_t used, first;

    (void)state;
    assert_int_equal(parse(json, NULL, &s, &used, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 1);
    assert_string_equal(s.pts[0], "t1|Sum|a|462389|1|");
    first = used;
    assert_int_equal(json[first], '\n');
    assert_int_equal(parse(json + first, NULL, &s, &used, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 1);
    assert_string_equal(s.pts[0], "t2|Minimum|b|462390|2|");
    assert_int_equal(first + used, strlen(json));
}

static void
test_payload_callback_stops(void **state)
{
    const char *json =
        "{\"metric_agg_func\":\"Sum\",\"data_stream_token\":\"t\",\"data\":["
        "{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":\"a\","
        "\"metric_value\":1},{\"timestamp\":\"2022-10-01 05:00:00\","
        "\"metric_name\":\"b\",\"metric_value\":1}]}";
    struct seen s;
    struct sp_err e;
    size_t used;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.point_rc = CTSPOOL_E_FULL;
    assert_int_equal(sp_payload_parse(json, strlen(json), NULL, on_point,
                                      on_error, &s, &used, &e),
                     CTSPOOL_E_FULL);
    assert_int_equal(s.n_pts, 1);
}

/*
 * A plain object in memory is read in one pass, its points held until
 * its '}' (payload_doc.c); "data" first makes it two passes.  Both
 * readings hand on the same points and errors, in the same order, and a
 * problem anywhere in the object hands on nothing.
 */
#define OP_EL(i)                                                          \
    "{\"timestamp\":\"2022-10-01 0" #i ":00:00\",\"metric_name\":"      \
    "\"caf\\u00e9 \\\"q\\\" " #i "\",\"metric_value\":" #i ".5,"        \
    "\"custom_dimensions\":{\"host\":\"h\\/" #i "\",\"dc\":\"x\"}}"
#define OP_BAD "{\"timestamp\":\"2022-02-30 05:00:00\",\"metric_name\":" \
               "\"b\",\"metric_value\":2}"
#define OP_DATA "[" OP_EL(1) ", " OP_BAD ",\n" OP_EL(2) "," OP_EL(3) ", 7 ]"
#define OP_TOP "\"metric_agg_func\":\"Maximum\",\"data_stream_token\":\"tk\""

static void
test_payload_one_pass(void **state)
{
    static const char one[] = "{" OP_TOP ",\"data\":" OP_DATA "}";
    static const char two[] = "{\"data\":" OP_DATA "," OP_TOP "}";
    static const struct {
        const char *json;
        const char *msg;
    } broken[] = {
        {"{" OP_TOP ",\"data\":" OP_DATA ",\"x\":1}",
         "unknown member \"x\" in the payload*"},
        {"{" OP_TOP ",\"data\":" OP_DATA, "invalid JSON: *"},
        {"{" OP_TOP ",\"data\":" OP_DATA " 1}", "invalid JSON: *"},
        {"{" OP_TOP ",\"data\":[" OP_EL(1) " " OP_EL(2) "]}",
         "invalid JSON: *"},
        {"{" OP_TOP ",\"data\":[" OP_EL(1) ",]}", "invalid JSON: *"},
        {"{" OP_TOP ",\"data\":[" OP_EL(1) ",{\"metric_name\":\"\\u0000\"}]}",
         "a string contains \\u0000*"},
        {"{" OP_TOP ",\"data\":" OP_DATA ",\"data\":[]}",
         "data: appears twice in the payload"},
    };
    static struct seen a, b;
    struct sp_err e;
    size_t used;

    (void)state;
    assert_int_equal(parse(one, NULL, &a, &used, &e), CTSPOOL_OK);
    assert_int_equal(used, strlen(one));
    assert_int_equal(parse(two, NULL, &b, &used, &e), CTSPOOL_OK);
    assert_int_equal(used, strlen(two));
    assert_int_equal(a.n_pts, 3);
    assert_int_equal(a.n_errs, 2);
    assert_int_equal(a.n_pts, b.n_pts);
    assert_int_equal(a.n_errs, b.n_errs);
    for (size_t i = 0; i < a.n_pts; i++) {
        assert_string_equal(a.pts[i], b.pts[i]);
    }
    for (size_t i = 0; i < a.n_errs; i++) {
        assert_int_equal(a.err_index[i], b.err_index[i]);
        assert_string_equal(a.errs[i], b.errs[i]);
    }
    assert_int_equal(a.err_index[0], 1);
    assert_int_equal(a.err_index[1], 4);
    assert_non_null(strstr(a.pts[2], "caf\xc3\xa9 \"q\" 3"));

    for (size_t i = 0; i < SP_ARRAY_LEN(broken); i++) {
        ctspool_rc rc = parse(broken[i].json, NULL, &a, &used, &e);

        if (rc != CTSPOOL_E_INVALID || !tu_msg_matches(e.msg, broken[i].msg)) {
            print_error("case %zu: rc %d msg %s\n", i, (int)rc, e.msg);
        }
        assert_int_equal(rc, CTSPOOL_E_INVALID);
        assert_int_equal(a.n_pts + a.n_errs, 0);
    }
}

/* Nesting: an element as deep as the first pass allows is read; one
 * level more fails the object, as in two passes. */
static void
test_payload_one_pass_depth(void **state)
{
    static char json[8192];
    static struct seen s;
    const char *head = "{" OP_TOP ",\"data\":[" OP_EL(1) ",";
    struct sp_err e;
    size_t used;

    (void)state;
    for (int extra = 0; extra < 2; extra++) {
        /* Object and "data" are 2 levels; the element's object 1 more. */
        int arrays = SP_JSON_DEPTH_MAX - 3 + extra;
        size_t n = (size_t)snprintf(json, sizeof(json), "%s{\"x\":", head);

        for (int i = 0; i < arrays; i++) {
            json[n++] = '[';
        }
        for (int i = 0; i < arrays; i++) {
            json[n++] = ']';
        }
        n += (size_t)snprintf(json + n, sizeof(json) - n, "}]}");
        assert_true(n < sizeof(json));
        if (extra == 0) {
            assert_int_equal(parse(json, NULL, &s, &used, &e), CTSPOOL_OK);
            assert_int_equal(s.n_pts, 1);
            assert_int_equal(s.n_errs, 1);
        } else {
            assert_int_equal(parse(json, NULL, &s, &used, &e),
                             CTSPOOL_E_INVALID);
            assert_msg(e.msg, "invalid JSON: nested deeper than *");
            assert_int_equal(s.n_pts + s.n_errs, 0);
        }
    }
}

/* The payload's token not in the streams list: each point is rejected
 * by its index, the token masked; a listed one, or an empty list, is
 * fine. */
static void
test_payload_streams_list(void **state)
{
    static char *const listed[] = {"tok-listed-0001", "tok-default-0002"};
    static const char fmt[] =
        "{%s\"metric_agg_func\":\"Sum\",\"data\":["
        "{\"timestamp\":1664604000,\"metric_name\":\"a\",\"metric_value\":1},"
        "{\"timestamp\":1664604000,\"metric_name\":\"b\"},"
        "{\"timestamp\":1664604000,\"metric_name\":\"c\",\"metric_value\":3}"
        "]}";
    struct sp_defaults d = {.stream = "tok-default-0002", .agg = -1,
                            .streams = listed, .n_streams = 2};
    struct seen s;
    struct sp_err e;
    size_t used;
    char json[1024];

    (void)state;
    snprintf(json, sizeof(json), fmt,
             "\"data_stream_token\":\"tok-secret-unlisted-9876\",");
    assert_int_equal(parse(json, &d, &s, &used, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 0);
    assert_int_equal(s.n_errs, 3);
    assert_int_equal(s.err_index[0], 0);
    assert_string_equal(s.errs[0],
                        "data_stream_token: \"****9876\" is not in the "
                        "streams list of the configuration");
    assert_int_equal(s.err_index[1], 1);
    assert_string_equal(s.errs[1], "metric_value: missing");
    assert_int_equal(s.err_index[2], 2);
    assert_string_equal(s.errs[2], s.errs[0]);

    /* Listed: the payload's own, or the default. */
    snprintf(json, sizeof(json), fmt,
             "\"data_stream_token\":\"tok-listed-0001\",");
    assert_int_equal(parse(json, &d, &s, &used, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 2);
    assert_string_equal(s.pts[0], "tok-listed-0001|Sum|a|462390|1|");
    assert_int_equal(s.n_errs, 1);
    snprintf(json, sizeof(json), fmt, "");
    assert_int_equal(parse(json, &d, &s, &used, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 2);
    assert_string_equal(s.pts[1], "tok-default-0002|Sum|c|462390|3|");

    /* Empty list: any token. */
    d.n_streams = 0;
    snprintf(json, sizeof(json), fmt,
             "\"data_stream_token\":\"tok-secret-unlisted-9876\",");
    assert_int_equal(parse(json, &d, &s, &used, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 2);
    assert_int_equal(s.n_errs, 1);
}

/* ---- NDJSON lines ---------------------------------------------------- */

static ctspool_rc
line(struct sp_payload_scratch **scratch, const char *text,
     const struct sp_defaults *d, char *out, size_t cap, struct sp_err *e)
{
    struct sp_point p;
    ctspool_rc rc;

    rc = sp_payload_parse_line(text, strlen(text), d, scratch, &p, e);
    if (rc == CTSPOOL_OK) {
        tu_render_point(&p, out, cap);
    }
    return rc;
}

static void
test_line_fields_and_defaults(void **state)
{
    struct sp_payload_scratch *sc = NULL;
    struct sp_defaults d = {.stream = "tok-def", .agg = SP_AGG_SUM};
    struct sp_defaults none = {.stream = NULL, .agg = -1};
    struct sp_err e;
    char out[512];

    (void)state;
    assert_int_equal(line(&sc,
                          "{\"timestamp\":\"2022-10-01 05:00:00\","
                          "\"metric_name\":\"requests\",\"metric_value\":"
                          "12.5,\"custom_dimensions\":{\"service\":"
                          "\"checkout\",\"env\":\"prod\",\"region\":"
                          "\"eu\"}}",
                          &d, out, sizeof(out), &e),
                     CTSPOOL_OK);
    assert_string_equal(
        out, "tok-def|Sum|requests|462389|12.5|env=prod,region=eu,"
             "service=checkout");
    /* Line's own agg and stream win over the defaults. */
    assert_int_equal(line(&sc,
                          "{\"metric_agg_func\":\"Maximum\","
                          "\"data_stream_token\":\"tok-line\",\"timestamp\":"
                          "1664604000,\"metric_name\":\"m\","
                          "\"metric_value\":\"4\"}",
                          &d, out, sizeof(out), &e),
                     CTSPOOL_OK);
    assert_string_equal(out, "tok-line|Maximum|m|462390|4|");
    assert_int_equal(line(&sc,
                          "{\"metric_agg_func\":\"Maximum\","
                          "\"data_stream_token\":\"tok-line\",\"timestamp\":"
                          "1664604000,\"metric_name\":\"m\","
                          "\"metric_value\":\"4\"}",
                          &none, out, sizeof(out), &e),
                     CTSPOOL_OK);
    assert_int_equal(line(&sc,
                          "{\"timestamp\":1664604000,\"metric_name\":\"m\","
                          "\"metric_value\":4}",
                          &none, out, sizeof(out), &e),
                     CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "metric_agg_func: missing (not in the line, "
                               "and no --agg default)");
    assert_int_equal(line(&sc,
                          "{\"metric_agg_func\":\"Sum\",\"timestamp\":"
                          "1664604000,\"metric_name\":\"m\","
                          "\"metric_value\":4}",
                          &none, out, sizeof(out), &e),
                     CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "data_stream_token: missing (not in the line "
                               "and no default configured)");
    sp_payload_scratch_free(sc);
    sp_payload_scratch_free(NULL);
}

static void
test_line_errors(void **state)
{
    static const struct {
        const char *line;
        const char *msg;
    } cases[] = {
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\",\"metric_value\":4}"
         " x",
         "invalid JSON: unexpected text after the object at byte offset 59 "
         "(one point per line)"},
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\",\"metric_value\":4}"
         "{}",
         "invalid JSON: unexpected text after the object at byte offset 59 "
         "(one point per line)"},
        {"{\"timestamp\":1664604000,", "invalid JSON: parsing stopped at "
                                       "byte offset 24 (the input ends "
                                       "inside the value)"},
        {"[1,2]", "the line must be a JSON object, not an array"},
        {"{\"metric_agg_func\":\"Sum\",\"data_stream_token\":\"t\",\"data\":"
         "[]}",
         "unknown field \"data\" (this looks like a Cloudthread payload, not "
         "an NDJSON point: use the cloudthread format)"},
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\",\"metric_value\":4,"
         "\"tags\":{}}",
         "unknown field \"tags\" (a line has timestamp, metric_name, "
         "metric_value, custom_dimensions, metric_agg_func and "
         "data_stream_token)"},
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\",\"metric_value\":4,"
         "\"metric_agg_func\":\"avg\"}",
         "metric_agg_func: \"avg\" *"},
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\",\"metric_value\":4,"
         "\"metric_agg_func\":false}",
         "metric_agg_func: must be a string, not a boolean"},
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\",\"metric_value\":4,"
         "\"data_stream_token\":\"\"}",
         "data_stream_token: *"},
        {"{\"timestamp\":1664604000,\"metric_name\":\"\\u0000\","
         "\"metric_value\":4}",
         "a string contains \\u0000 (a NUL character) at byte offset 39; NUL "
         "characters are not accepted"},
        {"{\"timestamp\":1664604000.5,\"metric_name\":\"m\","
         "\"metric_value\":4}",
         "timestamp: 1664604000.5 *"},
    };
    struct sp_payload_scratch *sc = NULL;
    struct sp_defaults d = {.stream = "tok-def", .agg = SP_AGG_SUM};
    struct sp_err e;
    char out[512];

    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        ctspool_rc rc = line(&sc, cases[i].line, &d, out, sizeof(out), &e);

        if (rc != CTSPOOL_E_INVALID || !tu_msg_matches(e.msg, cases[i].msg)) {
            print_error("case %zu: rc %d msg %s\n", i, (int)rc, e.msg);
        }
        assert_int_equal(rc, CTSPOOL_E_INVALID);
        assert_msg(e.msg, cases[i].msg);
    }
    /* A raw NUL byte inside a string. */
    {
        static const char raw[] = "{\"timestamp\":1664604000,\"metric_name\":"
                                  "\"a\0b\",\"metric_value\":4}";
        struct sp_point p;

        assert_int_equal(sp_payload_parse_line(raw, sizeof(raw) - 1, &d, &sc,
                                               &p, &e),
                         CTSPOOL_E_INVALID);
        assert_string_equal(e.msg, "the input contains a NUL byte at byte "
                                   "offset 40");
    }
    /* "\\u0000" is an escaped backslash then text: not a NUL. */
    assert_int_equal(line(&sc,
                          "{\"timestamp\":1664604000,\"metric_name\":"
                          "\"a\\\\u0000\",\"metric_value\":4}",
                          &d, out, sizeof(out), &e),
                     CTSPOOL_OK);
    assert_string_equal(out, "tok-def|Sum|a\\u0000|462390|4|");
    sp_payload_scratch_free(sc);
}

/* What the JSON scanner (jscan.c) must refuse, keep apart or get right
 * that a tree parser would have given for free. */
static void
test_scan_edges(void **state)
{
    static const struct {
        const char *line;
        const char *msg; /* NULL: accepted, out == point */
        const char *point;
    } cases[] = {
        /* A surrogate pair is one character; lone halves are refused
         * (yajl alone would turn them into '?' or into non-UTF-8). */
        {"{\"timestamp\":1664604000,\"metric_name\":\"a\\ud83d\\ude00\","
         "\"metric_value\":1}",
         NULL, "tok-def|Sum|a\xf0\x9f\x98\x80|462390|1|"},
        {"{\"timestamp\":1664604000,\"metric_name\":\"a\\ud800\","
         "\"metric_value\":1}",
         "invalid JSON: a string holds a lone UTF-16 surrogate (\\ud800), "
         "which is not a character", NULL},
        {"{\"timestamp\":1664604000,\"metric_name\":\"a\\uD800\\u0041\","
         "\"metric_value\":1}",
         "invalid JSON: a string holds a lone UTF-16 surrogate (\\ud800)*",
         NULL},
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\","
         "\"custom_dimensions\":{\"k\":\"\\udc00\"},\"metric_value\":1}",
         "invalid JSON: a string holds a lone UTF-16 surrogate (\\udc00)*",
         NULL},
        /* Numbers: strict JSON, read as strtod() reads them. */
        {"{\"timestamp\":1.6646004e9,\"metric_name\":\"m\","
         "\"metric_value\":-5e-1}",
         NULL, "tok-def|Sum|m|462389|-0.5|"},
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\","
         "\"metric_value\":01}",
         "invalid JSON: parsing stopped at byte offset 57 (parse error: "
         "after key and value, inside map, I expect ',' or '}')", NULL},
        /* The root is not an object. */
        {"123", "the line must be a JSON object, not a number", NULL},
        {" \"s\" ", "the line must be a JSON object, not a string", NULL},
        {"null", "the line must be a JSON object, not null", NULL},
        /* Members of a dimension's value are not dimensions. */
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\","
         "\"custom_dimensions\":{\"a\":{\"b\":\"c\"}},\"metric_value\":1}",
         "custom_dimensions: value of \"a\" must be a string, not an object",
         NULL},
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\","
         "\"custom_dimensions\":{\"a\":\"x\",\"b\":[\"c\",{\"d\":\"e\"}]},"
         "\"metric_value\":1}",
         "custom_dimensions: value of \"b\" must be a string, not an array",
         NULL},
        /* The count is of all pairs, not only of those kept. */
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\","
         "\"custom_dimensions\":{\"a\":\"1\",\"b\":\"1\",\"c\":\"1\",\"d\":"
         "\"1\",\"e\":\"1\",\"f\":\"1\",\"g\":\"1\",\"h\":\"1\",\"i\":\"1\","
         "\"j\":\"1\",\"k\":\"1\",\"l\":\"1\"},\"metric_value\":1}",
         "custom_dimensions: more than 10 pairs (12 given; upstream accepts "
         "at most 10)",
         NULL},
        {"{\"timestamp\":1664604000,\"metric_name\":\"m\","
         "\"metric_value\":1,\"custom_dimensions\":{}}",
         NULL, "tok-def|Sum|m|462390|1|"},
    };
    struct sp_payload_scratch *sc = NULL;
    struct sp_defaults d = {.stream = "tok-def", .agg = SP_AGG_SUM};
    struct sp_err e;
    char out[512], big[8192];
    size_t n;

    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        ctspool_rc rc = line(&sc, cases[i].line, &d, out, sizeof(out), &e);

        if (cases[i].msg) {
            if (rc != CTSPOOL_E_INVALID ||
                !tu_msg_matches(e.msg, cases[i].msg)) {
                print_error("case %zu: rc %d msg %s\n", i, (int)rc, e.msg);
            }
            assert_int_equal(rc, CTSPOOL_E_INVALID);
            assert_msg(e.msg, cases[i].msg);
        } else {
            if (rc != CTSPOOL_OK) {
                print_error("case %zu: %s\n", i, e.msg);
            }
            assert_int_equal(rc, CTSPOOL_OK);
            assert_string_equal(out, cases[i].point);
        }
    }
    /* 100 members: the first unknown one is named, though not all are
     * kept. */
    n = (size_t)snprintf(big, sizeof(big), "{\"timestamp\":1664604000,"
                         "\"metric_name\":\"m\",\"metric_value\":1");
    for (int i = 0; i < 100; i++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n, ",\"x%d\":%d", i, i);
    }
    snprintf(big + n, sizeof(big) - n, "}");
    assert_int_equal(line(&sc, big, &d, out, sizeof(out), &e),
                     CTSPOOL_E_INVALID);
    assert_msg(e.msg, "unknown field \"x0\" *");
    /* 1,000 levels are JSON; 1,001 are refused. */
    for (int depth = 1000; depth <= 1001; depth++) {
        n = (size_t)snprintf(big, sizeof(big), "{\"timestamp\":1664604000,"
                             "\"metric_name\":\"m\",\"metric_value\":");
        for (int i = 1; i < depth; i++) {
            big[n++] = '[';
        }
        for (int i = 1; i < depth; i++) {
            big[n++] = ']';
        }
        snprintf(big + n, sizeof(big) - n, "}");
        assert_int_equal(line(&sc, big, &d, out, sizeof(out), &e),
                         CTSPOOL_E_INVALID);
        assert_msg(e.msg, depth == 1000
                              ? "metric_value: must be a number or a "
                                "numeric string, not an array"
                              : "invalid JSON: nested deeper than 1000 "
                                "levels at byte offset *");
    }
    sp_payload_scratch_free(sc);
    /* In a payload a lone surrogate makes its element invalid, and only
     * it: the elements around it are stored. */
    {
        struct seen s;
        size_t used;

        assert_int_equal(
            parse("{\"data_stream_token\":\"t\",\"metric_agg_func\":\"Sum\","
                  "\"data\":[{\"timestamp\":1664604000,\"metric_name\":\"a\","
                  "\"metric_value\":1},{\"timestamp\":1664604000,"
                  "\"metric_name\":\"\\udfff\",\"metric_value\":1},"
                  "{\"timestamp\":1664604000,\"metric_name\":\"c\","
                  "\"metric_value\":3}]}",
                  NULL, &s, &used, &e),
            CTSPOOL_OK);
        assert_int_equal(s.n_pts, 2);
        assert_int_equal(s.n_errs, 1);
        assert_int_equal(s.err_index[0], 1);
        assert_msg(s.errs[0], "invalid JSON: a string holds a lone UTF-16 "
                              "surrogate (\\udfff)*");
    }
}

/* A line's token, or the default, must be in the streams list. */
static void
test_line_streams_list(void **state)
{
    static char *const listed[] = {"tok-listed-0001"};
    struct sp_payload_scratch *sc = NULL;
    struct sp_defaults d = {.stream = "tok-default-unlisted-5555",
                            .agg = SP_AGG_SUM, .streams = listed,
                            .n_streams = 1};
    struct sp_err e;
    char out[512];

    (void)state;
    assert_int_equal(line(&sc,
                          "{\"data_stream_token\":\"tok-listed-0001\","
                          "\"timestamp\":1664604000,\"metric_name\":\"m\","
                          "\"metric_value\":1}",
                          &d, out, sizeof(out), &e),
                     CTSPOOL_OK);
    assert_string_equal(out, "tok-listed-0001|Sum|m|462390|1|");
    assert_int_equal(line(&sc,
                          "{\"data_stream_token\":\"tok-listed-00012\","
                          "\"timestamp\":1664604000,\"metric_name\":\"m\","
                          "\"metric_value\":1}",
                          &d, out, sizeof(out), &e),
                     CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "data_stream_token: \"****0012\" is not in "
                               "the streams list of the configuration");
    /* The default, twice: its validity is remembered, not its listing. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(line(&sc,
                              "{\"timestamp\":1664604000,\"metric_name\":"
                              "\"m\",\"metric_value\":1}",
                              &d, out, sizeof(out), &e),
                         CTSPOOL_E_INVALID);
        assert_string_equal(e.msg,
                            "data_stream_token: \"****5555\" is not in "
                            "the streams list of the configuration");
    }
    sp_payload_scratch_free(sc);
}

/* A line far bigger than the arena's first chunk, between small ones. */
static void
test_line_scratch_reuse(void **state)
{
    struct sp_payload_scratch *sc = NULL;
    struct sp_defaults d = {.stream = "tok", .agg = SP_AGG_SUM};
    struct sp_err e;
    char out[512];
    char *big;
    size_t o = 0, cap = 200000;

    (void)state;
    big = malloc(cap);
    assert_non_null(big);
    o += (size_t)snprintf(big + o, cap - o,
                          "{\"timestamp\":1664604000,\"metric_name\":\"%0*d\","
                          "\"metric_value\":1,\"custom_dimensions\":{",
                          200, 0);
    for (int i = 0; i < 10; i++) {
        o += (size_t)snprintf(big + o, cap - o, "%s\"k%d\":\"%0*d\"",
                              i ? "," : "", i, 250, i);
    }
    /* Blanks after the object are fine, also 100 KB of them. */
    o += (size_t)snprintf(big + o, cap - o, "}}");
    memset(big + o, ' ', 100000);
    big[o + 100000] = '\0';
    for (int round = 0; round < 3; round++) {
        assert_int_equal(line(&sc,
                              "{\"timestamp\":1664604000,\"metric_name\":"
                              "\"small\",\"metric_value\":1}",
                              &d, out, sizeof(out), &e),
                         CTSPOOL_OK);
        assert_string_equal(out, "tok|Sum|small|462390|1|");
        assert_int_equal(line(&sc, big, &d, out, sizeof(out), &e),
                         CTSPOOL_OK);
        assert_int_equal(strncmp(out, "tok|Sum|0000", 12), 0);
    }
    /* The point borrows from the scratch: still valid here. */
    {
        struct sp_point p;

        assert_int_equal(sp_payload_parse_line(big, strlen(big), &d, &sc,
                                               &p, &e),
                         CTSPOOL_OK);
        assert_int_equal(p.n_dims, 10);
        assert_int_equal(p.dims[9].val_len, 250);
        assert_int_equal(p.dims[9].val[249], '9');
        assert_int_equal(p.name_len, 200);
    }
    free(big);
    sp_payload_scratch_free(sc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_fields),
        cmocka_unit_test(test_payload_defaults),
        cmocka_unit_test(test_payload_element_errors),
        cmocka_unit_test(test_payload_mixed),
        cmocka_unit_test(test_payload_malformed),
        cmocka_unit_test(test_payload_token_not_in_messages),
        cmocka_unit_test(test_payload_empty_data),
        cmocka_unit_test(test_payload_concatenated),
        cmocka_unit_test(test_payload_callback_stops),
        cmocka_unit_test(test_payload_one_pass),
        cmocka_unit_test(test_payload_one_pass_depth),
        cmocka_unit_test(test_payload_streams_list),
        cmocka_unit_test(test_line_streams_list),
        cmocka_unit_test(test_line_fields_and_defaults),
        cmocka_unit_test(test_line_errors),
        cmocka_unit_test(test_scan_edges),
        cmocka_unit_test(test_line_scratch_reuse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
