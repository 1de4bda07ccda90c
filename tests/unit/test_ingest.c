/*
 * test_ingest.c -- serve's request body -> packed points
 * (src/serve/ingest.c, compiled in): what is packed unpacks to exactly
 * the valid points, in order; a rejected payload packs nothing; errors
 * carry the element's index, at most SV_MAX_ERRORS of them listed; the
 * field limits survive the packed layout.  Bodies sit in buffers of
 * exactly their length (no NUL after them), so a read past the end
 * shows under ASan.  The linker wraps realloc and calloc
 * (-Wl,--wrap) to fail allocations on demand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "serve.h"
#include "testutil.h"

#define TOK "tok-0123456789"
#define HOUR 462389 /* 2022-10-01 05:00:00 UTC = 1664600400 s */
#define HEAD "{\"data_stream_token\": \"" TOK "\", \"metric_agg_func\": " \
             "\"Sum\", \"data\": ["
#define PT(name, v) "{\"timestamp\": 1664600400, \"metric_name\": \"" name \
                    "\", \"metric_value\": " v "}"

/* ---- failing allocations ------------------------------------------------- */

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static int fail_realloc, fail_calloc; /* fail the next call */

void *
__wrap_realloc(void *p, size_t n)
{
    if (fail_realloc) {
        fail_realloc = 0;
        return NULL;
    }
    return __real_realloc(p, n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
    if (fail_calloc) {
        fail_calloc = 0;
        return NULL;
    }
    return __real_calloc(n, size);
}

/* ---- helpers ------------------------------------------------------------- */

/* A growing string for large bodies. */
struct str {
    char *p;
    size_t len, cap;
};

static void str_add(struct str *s, const char *fmt, ...) SP_PRINTF(2, 3);

static void
str_add(struct str *s, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(s->p ? s->p + s->len : NULL,
                      s->p ? s->cap - s->len : 0, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if (s->p && (size_t)n < s->cap - s->len) {
            s->len += (size_t)n;
            return;
        }
        s->cap = (s->cap + (size_t)n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        assert_non_null(s->p);
    }
}

/* sv_ingest_parse of body[0..len), from a buffer of exactly len bytes. */
static ctspool_rc
parse_n(struct sv_ingest *in, const char *body, size_t len,
        const struct sp_defaults *d)
{
    char *copy = malloc(len ? len : 1);
    ctspool_rc rc;

    assert_non_null(copy);
    memcpy(copy, body, len);
    sv_ingest_init(in);
    rc = sv_ingest_parse(in, copy, len, d);
    free(copy);
    return rc;
}

static ctspool_rc
parse(struct sv_ingest *in, const char *body, const struct sp_defaults *d)
{
    return parse_n(in, body, strlen(body), d);
}

/* Unpacks every point and compares it with want[0..n). */
static void
assert_points(const struct sv_ingest *in, const char *const *want, size_t n)
{
    struct sp_point p;
    char got[1024];
    size_t off = 0, i = 0;

    while (sv_ingest_point(in, &off, &p)) {
        assert_true(i < n);
        tu_render_point(&p, got, sizeof(got));
        assert_string_equal(got, want[i]);
        i++;
    }
    assert_int_equal(i, n);
    assert_int_equal(in->n_points, n);
    assert_int_equal(off, in->packed.len);
    assert_int_equal(sv_ingest_point(in, &off, &p), 0);
}

/* A rejected payload: nothing packed, and nothing to unpack. */
static void
assert_nothing_packed(const struct sv_ingest *in)
{
    struct sp_point p;
    size_t off = 0;

    assert_int_equal(in->n_points, 0);
    assert_null(in->packed.p);
    assert_int_equal(in->packed.len, 0);
    assert_int_equal(sv_ingest_point(in, &off, &p), 0);
}

/* The payload as a whole is rejected with a message matching want. */
static void
assert_doc_error(const char *body, size_t len, const char *want)
{
    struct sv_ingest in;

    assert_int_equal(parse_n(&in, body, len, NULL), CTSPOOL_OK);
    assert_int_equal(in.has_doc_error, 1);
    assert_msg(in.doc_error.msg, want);
    assert_nothing_packed(&in);
    sv_ingest_cleanup(&in);
}

/* ---- tests --------------------------------------------------------------- */

/* Valid points come out as they went in, dimensions sorted. */
static void
test_ingest_points_round_trip(void **state)
{
    static const char body[] =
        HEAD PT("requests", "12.5") ", "
        "{\"timestamp\": \"2022-10-01T06:00:00Z\", \"metric_name\": "
        "\"lat\\u00e9ncy\", \"metric_value\": \"-0.25\", "
        "\"custom_dimensions\": {\"zone\": \"b\", \"az\": \"\", "
        "\"host\": \"h\\u20ac\"}}, "
        "{\"timestamp\": 1664607600, \"metric_name\": \"x\", "
        "\"metric_value\": 1e300, \"custom_dimensions\": null}]}";
    static const char *const want[] = {
        TOK "|Sum|requests|462389|12.5|",
        TOK "|Sum|lat\xc3\xa9ncy|462390|-0.25|az=,host=h\xe2\x82\xac,zone=b",
        TOK "|Sum|x|462391|1.0000000000000001e+300|"};
    struct sv_ingest in;

    (void)state;
    assert_int_equal(parse(&in, body, NULL), CTSPOOL_OK);
    assert_int_equal(in.has_doc_error, 0);
    assert_int_equal(in.n_invalid, 0);
    assert_int_equal(in.n_errors, 0);
    assert_int_equal(in.n_total, 3);
    assert_string_equal(in.stream, TOK);
    assert_int_equal(in.stream_len, strlen(TOK));
    assert_int_equal(in.agg, SP_AGG_SUM);
    assert_points(&in, want, 3);
    sv_ingest_cleanup(&in);
    /* Cleanup leaves an initialised, empty request. */
    assert_null(in.packed.p);
    assert_null(in.stream);
    assert_null(in.errors);
    assert_int_equal(in.agg, -1);
    assert_int_equal(in.n_total + in.n_points + in.n_invalid, 0);
}

/* Defaults fill what the payload omits; the token is copied. */
static void
test_ingest_defaults(void **state)
{
    static const char no_agg[] = "{\"data\": [" PT("m", "1") "]}";
    static const char no_stream[] =
        "{\"metric_agg_func\": \"Sum\", \"data\": []}";
    char token[] = "default-token-1";
    struct sp_defaults d = {.stream = token, .agg = SP_AGG_MAXIMUM};
    static const char *const want[] = {
        "default-token-1|Maximum|m|462389|1|"};
    struct sv_ingest in;

    (void)state;
    assert_int_equal(parse(&in, "{\"data\": [" PT("m", "1") "]}", &d),
                     CTSPOOL_OK);
    memset(token, 'x', sizeof(token) - 1); /* the request outlives it */
    assert_int_equal(in.has_doc_error, 0);
    assert_points(&in, want, 1);
    sv_ingest_cleanup(&in);

    /* Without defaults, the payload must carry both. */
    assert_doc_error(no_agg, strlen(no_agg), "metric_agg_func: missing*");
    assert_doc_error(no_stream, strlen(no_stream),
                     "data_stream_token: missing*");
}

/*
 * Invalid elements are reported with their index in "data", whatever
 * they are; valid ones around them are counted but nothing is packed.
 */
static void
test_ingest_error_indexes(void **state)
{
    static const char body[] =
        HEAD PT("ok", "1") ", "
        "{\"timestamp\": 1664600401, \"metric_name\": \"a\", "
        "\"metric_value\": 1}, "
        "7, "
        PT("ok", "2") ", "
        "{\"timestamp\": 1664600400, \"metric_name\": \"b\"}, "
        "null, [], \"x\", "
        "{\"timestamp\": 1664600400, \"metric_name\": \"c\", "
        "\"metric_value\": 1, \"custom_dimensions\": "
        "{\"k\": \"1\", \"k\": \"2\"}}, "
        PT("ok", "3") "]}";
    static const size_t want_index[] = {1, 2, 4, 5, 6, 7, 8};
    static const char *const want_msg[] = {
        "timestamp: *",
        "a data element must be a JSON object, not a number",
        "metric_value: missing",
        "a data element must be a JSON object, not null",
        "a data element must be a JSON object, not an array",
        "a data element must be a JSON object, not a string",
        "custom_dimensions: key \"k\" appears twice"};
    struct sv_ingest in;

    (void)state;
    assert_int_equal(parse(&in, body, NULL), CTSPOOL_OK);
    assert_int_equal(in.has_doc_error, 0);
    assert_int_equal(in.n_total, 10);
    assert_int_equal(in.n_invalid, 7);
    assert_int_equal(in.n_errors, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(in.errors[i].index, want_index[i]);
        assert_msg(in.errors[i].msg, want_msg[i]);
    }
    assert_nothing_packed(&in);
    sv_ingest_cleanup(&in);
}

/* Past SV_MAX_ERRORS invalid points, the rest are counted, not listed. */
static void
test_ingest_error_limit(void **state)
{
    struct str s = {NULL, 0, 0};
    struct sv_ingest in;
    size_t listed = 0;

    (void)state;
    str_add(&s, HEAD);
    for (size_t i = 0; i < 300; i++) {
        if (i % 6 == 5) {
            str_add(&s, "%s" PT("ok", "%zu"), i ? ", " : "", i);
        } else {
            str_add(&s, "%s{\"metric_name\": \"bad\", \"metric_value\": 1}",
                    i ? ", " : "");
        }
    }
    str_add(&s, "]}");
    assert_int_equal(parse_n(&in, s.p, s.len, NULL), CTSPOOL_OK);
    assert_int_equal(in.has_doc_error, 0);
    assert_int_equal(in.n_total, 300);
    assert_int_equal(in.n_invalid, 250);
    assert_int_equal(in.n_errors, SV_MAX_ERRORS);
    /* The listed ones are the first SV_MAX_ERRORS, in order. */
    for (size_t i = 0; i < 300 && listed < SV_MAX_ERRORS; i++) {
        if (i % 6 == 5) {
            continue;
        }
        assert_int_equal(in.errors[listed].index, i);
        assert_string_equal(in.errors[listed].msg, "timestamp: missing");
        listed++;
    }
    assert_int_equal(listed, SV_MAX_ERRORS);
    assert_nothing_packed(&in);
    sv_ingest_cleanup(&in);
    free(s.p);
}

/* The document itself is wrong: one message, no point errors. */
static void
test_ingest_doc_errors(void **state)
{
    static const char ok[] = HEAD PT("m", "1") "]}";
    static const struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"", "invalid JSON: parsing stopped at byte offset 0 (the input "
             "ends inside the payload)"},
        {"   ", "invalid JSON: parsing stopped at byte offset 3 (the input "
                "ends inside the payload)"},
        {"{", "invalid JSON: parsing stopped at byte offset 1 (the input "
              "ends inside the payload)"},
        {"{\"data\": [1,]}", "invalid JSON: parsing stopped at byte offset 12 "
         "(parse error: unallowed token at this point in JSON text)"},
        {"nul", "invalid JSON: parsing stopped at byte offset 3 (the input "
                "ends inside the payload)"},
        {"[]", "the payload must be a JSON object, not an array"},
        {"\"x\"", "the payload must be a JSON object, not a string"},
        {"{}", "metric_agg_func: missing*"},
        {"{\"data_stream_token\": \"" TOK "\", \"metric_agg_func\": \"Sum\"}",
         "data: missing (the payload has no \"data\" array)"},
        {"{\"data_stream_token\": \"" TOK "\", \"metric_agg_func\": \"Sum\","
         " \"data\": {}}",
         "data: must be an array, not an object"},
        {"{\"data_stream_token\": \"" TOK "\", \"metric_agg_func\": \"Sum\","
         " \"data\": [], \"data\": []}",
         "data: appears twice in the payload"},
        {"{\"data_stream_token\": \"" TOK "\", \"metric_agg_func\": \"Sum\","
         " \"data\": [], \"extra\": 1}",
         "unknown member \"extra\" in the payload*"},
        {"{\"data_stream_token\": \"" TOK "\", \"metric_agg_func\": \"Avg\","
         " \"data\": []}",
         "metric_agg_func: *"},
        {"{\"data_stream_token\": 5, \"metric_agg_func\": \"Sum\","
         " \"data\": []}",
         "data_stream_token: must be a string, not a number"},
        {"{\"data_stream_token\": \"a\\u0000b\", \"metric_agg_func\": "
         "\"Sum\", \"data\": []}",
         "a string contains \\u0000 (a NUL character) before byte offset 32*"},
    };
    char buf[1024], want[200];
    struct sv_ingest in;
    size_t len = strlen(ok);

    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        assert_doc_error(cases[i].body, strlen(cases[i].body),
                         cases[i].want);
    }
    /* After the object: blanks only.  Points parsed before the trailing
     * text was seen are dropped. */
    memcpy(buf, ok, len);
    memcpy(buf + len, " \r\n\t", 4);
    assert_int_equal(parse_n(&in, buf, len + 4, NULL), CTSPOOL_OK);
    assert_int_equal(in.has_doc_error, 0);
    assert_int_equal(in.n_points, 1);
    sv_ingest_cleanup(&in);
    snprintf(buf, sizeof(buf), "%s x", ok);
    snprintf(want, sizeof(want),
             "unexpected data after the payload object at byte offset %zu "
             "(one payload per request)",
             len);
    assert_doc_error(buf, len + 2, want);
    snprintf(buf, sizeof(buf), "%s%s", ok, ok);
    assert_doc_error(buf, 2 * len, want);
    /* A NUL byte in the body, where a C string would end. */
    memcpy(buf, ok, len);
    buf[len - 3] = '\0';
    assert_doc_error(buf, len, "the input contains a NUL byte at byte offset*");
    memcpy(buf, ok, len);
    buf[len] = '\0';
    memcpy(buf + len + 1, "  ", 2);
    assert_doc_error(buf, len + 3, "unexpected data after the payload*");
}

/* Every proper prefix of a valid body is rejected, and packs nothing. */
static void
test_ingest_truncated(void **state)
{
    static const char body[] =
        HEAD PT("m", "1") ", {\"timestamp\": \"2022-10-01 06:00:00\", "
        "\"metric_name\": \"n\\u00e9\", \"metric_value\": \"2.5\", "
        "\"custom_dimensions\": {\"k\": \"v\\\"w\"}}]}";
    size_t len = strlen(body);
    struct sv_ingest in;

    (void)state;
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(parse_n(&in, body, n, NULL), CTSPOOL_OK);
        assert_int_equal(in.has_doc_error, 1);
        assert_msg(in.doc_error.msg, "invalid JSON: *");
        assert_nothing_packed(&in);
        sv_ingest_cleanup(&in);
    }
    assert_int_equal(parse_n(&in, body, len, NULL), CTSPOOL_OK);
    assert_int_equal(in.has_doc_error, 0);
    assert_int_equal(in.n_points, 2);
    sv_ingest_cleanup(&in);
}

/*
 * Each field at its limit survives the packed layout (lengths in 8 and
 * 16 bits); one byte or one pair more is rejected.
 */
static void
test_ingest_limits(void **state)
{
    struct str s = {NULL, 0, 0};
    struct sv_ingest in;
    struct sp_point p;
    size_t off = 0;
    char name[SP_NAME_MAX + 2], key[SP_DIM_KEY_MAX + 2];
    char val[SP_DIM_VAL_MAX + 2];

    (void)state;
    memset(name, 'n', sizeof(name) - 1);
    name[SP_NAME_MAX] = '\0';
    memset(val, 'v', sizeof(val) - 1);
    val[SP_DIM_VAL_MAX] = '\0';
    str_add(&s, HEAD "{\"timestamp\": 1664600400, \"metric_name\": "
                "\"%s\", \"metric_value\": 3, \"custom_dimensions\": {",
            name);
    for (int i = 0; i < SP_MAX_DIMS; i++) {
        memset(key, 'a' + (SP_MAX_DIMS - 1 - i), sizeof(key) - 1);
        key[SP_DIM_KEY_MAX] = '\0';
        str_add(&s, "%s\"%s\": \"%s\"", i ? ", " : "", key, val);
    }
    str_add(&s, "}}]}");
    assert_int_equal(parse_n(&in, s.p, s.len, NULL), CTSPOOL_OK);
    assert_int_equal(in.has_doc_error, 0);
    assert_int_equal(in.n_invalid, 0);
    assert_int_equal(sv_ingest_point(&in, &off, &p), 1);
    assert_int_equal(p.name_len, SP_NAME_MAX);
    assert_memory_equal(p.name, name, SP_NAME_MAX);
    assert_int_equal(p.n_dims, SP_MAX_DIMS);
    for (int i = 0; i < SP_MAX_DIMS; i++) {
        assert_int_equal(p.dims[i].key_len, SP_DIM_KEY_MAX);
        assert_int_equal(p.dims[i].key[0], 'a' + i); /* sorted */
        assert_int_equal(p.dims[i].key[SP_DIM_KEY_MAX - 1], 'a' + i);
        assert_int_equal(p.dims[i].val_len, SP_DIM_VAL_MAX);
        assert_memory_equal(p.dims[i].val, val, SP_DIM_VAL_MAX);
    }
    assert_int_equal(p.hour, HOUR);
    assert_true(p.value == 3);
    assert_int_equal(sv_ingest_point(&in, &off, &p), 0);
    assert_int_equal(off, in.packed.len);
    sv_ingest_cleanup(&in);
    free(s.p);

    /* One more: a name byte, a key byte, a value byte, a pair. */
    memset(&s, 0, sizeof(s));
    name[SP_NAME_MAX] = 'n';
    name[SP_NAME_MAX + 1] = '\0';
    memset(key, 'k', sizeof(key) - 1);
    key[SP_DIM_KEY_MAX + 1] = '\0';
    val[SP_DIM_VAL_MAX] = 'v';
    val[SP_DIM_VAL_MAX + 1] = '\0';
    str_add(&s, HEAD "{\"timestamp\": 1664600400, \"metric_name\": \"%s\", "
                "\"metric_value\": 1}, "
                "{\"timestamp\": 1664600400, \"metric_name\": \"m\", "
                "\"metric_value\": 1, \"custom_dimensions\": {\"%s\": "
                "\"v\"}}, "
                "{\"timestamp\": 1664600400, \"metric_name\": \"m\", "
                "\"metric_value\": 1, \"custom_dimensions\": {\"k\": "
                "\"%s\"}}, "
                "{\"timestamp\": 1664600400, \"metric_name\": \"m\", "
                "\"metric_value\": 1, \"custom_dimensions\": {",
            name, key, val);
    for (int i = 0; i <= SP_MAX_DIMS; i++) {
        str_add(&s, "%s\"k%d\": \"v\"", i ? ", " : "", i);
    }
    str_add(&s, "}}]}");
    assert_int_equal(parse_n(&in, s.p, s.len, NULL), CTSPOOL_OK);
    assert_int_equal(in.n_invalid, 4);
    assert_msg(in.errors[0].msg, "metric_name: *");
    assert_msg(in.errors[1].msg, "custom_dimensions: key *");
    assert_msg(in.errors[2].msg, "custom_dimensions: the value of key *");
    assert_msg(in.errors[3].msg,
               "custom_dimensions: more than 10 pairs (11 given; *");
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(in.errors[i].index, i);
    }
    assert_nothing_packed(&in);
    sv_ingest_cleanup(&in);
    free(s.p);
}

/* Many points: the packed buffer grows past its first guess. */
static void
test_ingest_many_points(void **state)
{
    struct str s = {NULL, 0, 0};
    struct sv_ingest in;
    struct sp_point p;
    size_t off = 0, i = 0;
    char want[64];

    (void)state;
    str_add(&s, HEAD);
    for (i = 0; i < 20000; i++) {
        str_add(&s,
                "%s{\"timestamp\": %zu, \"metric_name\": \"m%zu\", "
                "\"metric_value\": %zu.5, \"custom_dimensions\": "
                "{\"host\": \"h-%zu\", \"a\": \"%zu\"}}",
                i ? "," : "", 1664600400 + 3600 * (i % 50), i % 7, i, i,
                i % 3);
    }
    str_add(&s, "]}");
    assert_int_equal(parse_n(&in, s.p, s.len, NULL), CTSPOOL_OK);
    assert_int_equal(in.has_doc_error, 0);
    assert_int_equal(in.n_points, 20000);
    for (i = 0; sv_ingest_point(&in, &off, &p); i++) {
        assert_int_equal(p.hour, HOUR + (int64_t)(i % 50));
        assert_true(p.value == (double)i + 0.5);
        snprintf(want, sizeof(want), "m%zu", i % 7);
        assert_int_equal(p.name_len, strlen(want));
        assert_memory_equal(p.name, want, p.name_len);
        assert_int_equal(p.n_dims, 2);
        assert_memory_equal(p.dims[0].key, "a", 1);
        snprintf(want, sizeof(want), "h-%zu", i);
        assert_int_equal(p.dims[1].val_len, strlen(want));
        assert_memory_equal(p.dims[1].val, want, p.dims[1].val_len);
    }
    assert_int_equal(i, 20000);
    assert_int_equal(off, in.packed.len);
    sv_ingest_cleanup(&in);
    free(s.p);
}

/* An empty "data" array is a valid payload of no points. */
static void
test_ingest_empty_data(void **state)
{
    struct sv_ingest in;

    (void)state;
    assert_int_equal(parse(&in, HEAD "]}", NULL), CTSPOOL_OK);
    assert_int_equal(in.has_doc_error, 0);
    assert_int_equal(in.n_total, 0);
    assert_int_equal(in.n_invalid, 0);
    assert_null(in.stream);
    assert_points(&in, NULL, 0);
    sv_ingest_cleanup(&in);
}

/* Out of memory is E_NOMEM, and cleanup frees what was made. */
static void
test_ingest_nomem(void **state)
{
    static const char good[] = HEAD PT("m", "1") "]}";
    /* "data" first: read in two passes, nothing held (payload_doc.c) */
    static const char good2[] = "{\"data\": [" PT("m", "1") "], "
                                "\"data_stream_token\": \"" TOK "\", "
                                "\"metric_agg_func\": \"Sum\"}";
    static const char bad[] = HEAD "1]}";
    struct sv_ingest in;

    (void)state;
    fail_realloc = 1; /* the points held until the object is read */
    assert_int_equal(parse(&in, good, NULL), CTSPOOL_E_NOMEM);
    assert_int_equal(in.n_total, 0);
    sv_ingest_cleanup(&in);
    fail_realloc = 1; /* the packed buffer */
    assert_int_equal(parse(&in, good2, NULL), CTSPOOL_E_NOMEM);
    sv_ingest_cleanup(&in);
    assert_int_equal(parse(&in, good2, NULL), CTSPOOL_OK);
    assert_int_equal(in.n_total, 1);
    sv_ingest_cleanup(&in);
    fail_calloc = 1; /* the error list */
    assert_int_equal(parse(&in, bad, NULL), CTSPOOL_E_NOMEM);
    sv_ingest_cleanup(&in);
    assert_int_equal(fail_realloc + fail_calloc, 0);
    assert_int_equal(parse(&in, bad, NULL), CTSPOOL_OK);
    assert_int_equal(in.n_errors, 1);
    sv_ingest_cleanup(&in);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_points_round_trip),
        cmocka_unit_test(test_ingest_defaults),
        cmocka_unit_test(test_ingest_error_indexes),
        cmocka_unit_test(test_ingest_error_limit),
        cmocka_unit_test(test_ingest_doc_errors),
        cmocka_unit_test(test_ingest_truncated),
        cmocka_unit_test(test_ingest_limits),
        cmocka_unit_test(test_ingest_many_points),
        cmocka_unit_test(test_ingest_empty_data),
        cmocka_unit_test(test_ingest_nomem),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
