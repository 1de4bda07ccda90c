/*
 * test_payload_doc.c -- payload_doc.c: payload objects read in two
 * passes, from memory and from a file through a window, whatever their
 * size and the order of their members.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sp_int.h"
#include "testutil.h"

/* What the callbacks saw: the first point rendered, every value in
 * order checked against its index, the errors counted. */
struct seen {
    char first[512];
    size_t n_pts;
    size_t n_out_of_order;
    size_t n_errs;
    size_t first_err_index;
    char first_err[600];
};

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct seen *s = ctx;

    if (s->n_pts == 0) {
        tu_render_point(p, s->first, sizeof(s->first));
    }
    if (p->value != (double)(s->n_pts + s->n_errs)) {
        s->n_out_of_order++;
    }
    s->n_pts++;
    return CTSPOOL_OK;
}

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct seen *s = ctx;

    if (s->n_errs++ == 0) {
        s->first_err_index = index;
        snprintf(s->first_err, sizeof(s->first_err), "%s", e->msg);
    }
    return CTSPOOL_OK;
}

static const struct sp_defaults *
defaults(void)
{
    static struct sp_defaults d;

    memset(&d, 0, sizeof(d));
    d.agg = SP_AGG_SUM;
    d.stream = "tok_default";
    return &d;
}

/* Element number i: value i, hour i % 24 of a day, name m<i % 100>. */
static int
element(char *buf, size_t cap, size_t i, size_t name_len)
{
    return snprintf(buf, cap,
                    "%s{\"timestamp\": \"2022-10-01 %02zu:00:00\", "
                    "\"metric_name\": \"m%0*zu\", \"metric_value\": %zu}",
                    i ? ", " : "", i % 24, (int)name_len, i % 100, i);
}

static ctspool_rc
parse_mem(const char *json, struct seen *s, size_t *used, struct sp_err *e)
{
    memset(s, 0, sizeof(*s));
    return sp_payload_parse(json, strlen(json), defaults(), on_point,
                            on_error, s, used, e);
}

/* ---- tests ------------------------------------------------------------ */

/* Members after "data" still apply to its elements. */
static void
test_members_after_data(void **state)
{
    struct seen s;
    struct sp_err e;
    size_t used;

    (void)state;
    assert_int_equal(
        parse_mem("{\"data\": [{\"timestamp\": \"2022-10-01 00:00:00\", "
                  "\"metric_name\": \"m\", \"metric_value\": 0}], "
                  "\"metric_agg_func\": \"Maximum\", "
                  "\"data_stream_token\": \"tok_after\"}",
                  &s, &used, &e),
        CTSPOOL_OK);
    assert_int_equal(s.n_pts, 1);
    assert_msg(s.first, "tok_after|Maximum|m|*");
}

/* A problem of the object as a whole, found after its elements: nothing
 * was handed on. */
static void
test_late_problem_hands_nothing_on(void **state)
{
    static const char *const docs[] = {
        "{\"data\": [{\"timestamp\": \"2022-10-01 00:00:00\", "
        "\"metric_name\": \"m\", \"metric_value\": 0}], \"extra\": 1}",
        "{\"data\": [{\"timestamp\": \"2022-10-01 00:00:00\", "
        "\"metric_name\": \"m\", \"metric_value\": 0}], "
        "\"metric_agg_func\": \"Median\"}",
        "{\"data\": [{\"timestamp\": \"2022-10-01 00:00:00\", "
        "\"metric_name\": \"m\", \"metric_value\": 0}], \"data\": []}",
        "{\"data\": [{\"timestamp\": \"2022-10-01 00:00:00\", "
        "\"metric_name\": \"m\", \"metric_value\": 0}], ",
        "{\"data\": [{\"timestamp\": \"2022-10-01 00:00:00\", "
        "\"metric_name\": \"m\", \"metric_value\": 0}]] ",
        /* After a first problem, a member given twice is still taken
         * once (no value leaks: the sanitizer builds check). */
        "{\"x\": 1, \"data_stream_token\": \"tok_a\", "
        "\"data_stream_token\": \"tok_b\", \"data\": []}",
    };
    static const char *const want[] = {
        "unknown member \"extra\" in the payload*",
        "metric_agg_func: *",
        "data: appears twice in the payload",
        ("invalid JSON: parsing stopped at byte offset 88 (the input ends "
         "inside the payload)"),
        "invalid JSON: parsing stopped at byte offset 85 (parse error: after "
        "key and value, inside map, I expect ',' or '}')",
        "unknown member \"x\" in the payload*",
    };
    struct seen s;
    struct sp_err e;
    size_t used;

    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(docs); i++) {
        assert_int_equal(parse_mem(docs[i], &s, &used, &e),
                         CTSPOOL_E_INVALID);
        assert_int_equal(s.n_pts + s.n_errs, 0);
        assert_msg(e.msg, want[i]);
        /* Sound JSON: the caller may go on after it. */
        assert_int_equal(used > 0, i < 3 || i == 5);
    }
}

/* Nesting deeper than cJSON's limit, and NUL, end the input. */
static void
test_depth_and_nul(void **state)
{
    char doc[4096];
    struct seen s;
    struct sp_err e;
    size_t used, o;

    (void)state;
    o = (size_t)snprintf(doc, sizeof(doc), "{\"data\": [");
    for (int i = 0; i < 1001; i++) {
        doc[o++] = '[';
    }
    doc[o] = '\0';
    assert_int_equal(parse_mem(doc, &s, &used, &e), CTSPOOL_E_INVALID);
    assert_msg(e.msg, "invalid JSON: nested deeper than 1000 levels*");
    assert_int_equal(used, 0);

    memcpy(doc, "{\"data\": [1, 2]}", 17);
    doc[12] = '\0';
    memset(&s, 0, sizeof(s));
    assert_int_equal(sp_payload_parse(doc, 16, defaults(), on_point,
                                      on_error, &s, &used, &e),
                     CTSPOOL_E_INVALID);
    assert_string_equal(e.msg,
                        "the input contains a NUL byte at byte offset 12");
    assert_int_equal(s.n_pts + s.n_errs, 0);
}

/* A temporary file holding text; its descriptor. */
static int
temp_file(const char *text, size_t len)
{
    char path[] = "/tmp/test_payload_doc-XXXXXX";
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    return fd;
}

/*
 * Objects many times the window read from a file: every element comes
 * out, in order, also those cut by the window's edge; the next object
 * starts where the first one ended.
 */
static void
test_file_through_window(void **state)
{
    const size_t n = 60000; /* ~ 6 MiB: three windows */
    size_t cap = n * 120 + 256, len, o;
    char *doc = malloc(cap);
    struct sp_docsrc *ds;
    struct seen s;
    struct sp_err e;
    uint64_t used;
    int fd;

    (void)state;
    assert_non_null(doc);
    o = (size_t)snprintf(doc, cap, "  {\"metric_agg_func\": \"Minimum\", "
                                   "\"data\": [");
    for (size_t i = 0; i < n; i++) {
        o += (size_t)element(doc + o, cap - o, i, 1 + i % 40);
    }
    o += (size_t)snprintf(doc + o, cap - o, "]}\n{\"data\": []} ");
    len = o;
    fd = temp_file(doc, len);
    assert_int_equal(sp_docsrc_open_fd(fd, 2, &ds, &e), CTSPOOL_OK);

    memset(&s, 0, sizeof(s));
    assert_int_equal(sp_payload_parse_at(ds, 0, defaults(), on_point,
                                         on_error, &s, &used, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, n);
    assert_int_equal(s.n_errs, 0);
    assert_int_equal(s.n_out_of_order, 0);
    assert_msg(s.first, "tok_default|Minimum|m0|*");
    assert_int_equal(used, len - 2 - strlen("\n{\"data\": []} "));
    assert_int_equal(sp_docsrc_byte(ds, used, &e), '\n');

    memset(&s, 0, sizeof(s));
    assert_int_equal(sp_payload_parse_at(ds, used + 1, defaults(), on_point,
                                         on_error, &s, &used, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts + s.n_errs, 0);
    assert_int_equal(used, strlen("{\"data\": []}"));
    sp_docsrc_close(ds);
    close(fd);
    free(doc);
}

/* An element over 1 MiB in a file is one invalid point; the elements
 * after it are read on. */
static void
test_file_element_too_long(void **state)
{
    size_t big = (size_t)3 << 20, cap = big + 1024, o;
    char *doc = malloc(cap);
    struct sp_docsrc *ds;
    struct seen s;
    struct sp_err e;
    uint64_t used;
    int fd;

    (void)state;
    assert_non_null(doc);
    o = (size_t)snprintf(doc, cap, "{\"data\": [{\"metric_name\": \"");
    memset(doc + o, 'a', big);
    o += big;
    o += (size_t)snprintf(doc + o, cap - o, "\"}");
    o += (size_t)element(doc + o, cap - o, 1, 1);
    o += (size_t)snprintf(doc + o, cap - o, "]}");
    fd = temp_file(doc, o);
    assert_int_equal(sp_docsrc_open_fd(fd, 0, &ds, &e), CTSPOOL_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(sp_payload_parse_at(ds, 0, defaults(), on_point,
                                         on_error, &s, &used, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_errs, 1);
    assert_int_equal(s.first_err_index, 0);
    assert_msg(s.first_err, "longer than 1048576 bytes*");
    assert_int_equal(s.n_pts, 1);
    assert_int_equal(s.n_out_of_order, 0);
    assert_int_equal(used, o);
    sp_docsrc_close(ds);
    close(fd);
    free(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members_after_data),
        cmocka_unit_test(test_late_problem_hands_nothing_on),
        cmocka_unit_test(test_depth_and_nul),
        cmocka_unit_test(test_file_through_window),
        cmocka_unit_test(test_file_element_too_long),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
