/*
 * test_record.c -- unit tests of record.c (canonical encoding, record ID,
 * hex) against the published test vectors, and of the canonical text
 * forms a point is uploaded with (sp_hour_format, sp_double_format):
 * both must parse back to exactly what was stored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sp_int.h"

/* ---- helpers ---------------------------------------------------------- */

struct kv {
    const char *k;
    const char *v;
};

/* A finished point; strings borrowed from the (static) arguments. */
static void
make_point(struct sp_point *p, const char *name, int agg,
           const struct kv *dims, size_t n)
{
    struct sp_err e = {{0}};

    memset(p, 0, sizeof(*p));
    p->name = name;
    p->name_len = strlen(name);
    p->agg = agg;
    for (size_t i = 0; i < n; i++) {
        if (sp_point_add_dim(p, dims[i].k, strlen(dims[i].k), dims[i].v,
                             strlen(dims[i].v), &e) != CTSPOOL_OK) {
            fail_msg("add_dim: %s", e.msg);
        }
    }
    if (sp_point_finish(p, &e) != CTSPOOL_OK) {
        fail_msg("finish: %s", e.msg);
    }
}

/* Hex record ID of a finished point into out (65 bytes). */
static void
id_hex(const struct sp_point *p, char *out)
{
    uint8_t id[SP_RECORD_ID_LEN];

    assert_int_equal(sp_record_id(p, id), CTSPOOL_OK);
    sp_hex(id, sizeof(id), out);
}

static void
check_id(const char *name, int agg, const struct kv *dims, size_t n,
         const char *want)
{
    struct sp_point p;
    char hex[2 * SP_RECORD_ID_LEN + 1];

    make_point(&p, name, agg, dims, n);
    id_hex(&p, hex);
    assert_string_equal(hex, want);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t
rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static const char VEC1_HEX[] =
    "8f0a1e399cae4be270f07afa30f2b5bb0d9f4802790f48fb25a4520cfa194caa";
static const char VEC2_HEX[] =
    "ee235505971442a2724ac48ceb1aa36f3bd40a1150a70be5e1fffa5ba00df0e0";
static const char VEC3_HEX[] =
    "2bddb1f280bb137efb3dcf46b5a4504b001838335f5a1dde229e7f37cc7e0e88";

static const struct kv vec1_dims[] = {{"service", "api"},
                                      {"region", "eu-west-1"}};
static const struct kv vec3_dims[] = {
    {"host", "edge-7"}, {"Zone", "b"}, {"zone", "a"}};

/* ---- record ID ---------------------------------------------------------- */

static void
test_vectors(void **state)
{
    (void)state;
    check_id("requests", SP_AGG_SUM, vec1_dims, 2, VEC1_HEX);
    check_id("requests", SP_AGG_SUM, NULL, 0, VEC2_HEX);
    check_id("cpu", SP_AGG_AVERAGE, vec3_dims, 3, VEC3_HEX);
}

static void
test_encoding_bytes(void **state)
{
    static const uint8_t want[] = {
        0, 0, 0, 8, 'r', 'e', 'q', 'u', 'e', 's', 't', 's',
        0, 0, 0, 3, 'S', 'u', 'm',
        0, 0, 0, 6, 'r', 'e', 'g', 'i', 'o', 'n',
        0, 0, 0, 9, 'e', 'u', '-', 'w', 'e', 's', 't', '-', '1',
        0, 0, 0, 7, 's', 'e', 'r', 'v', 'i', 'c', 'e',
        0, 0, 0, 3, 'a', 'p', 'i'};
    struct sp_point p;
    uint8_t buf[128];

    (void)state;
    make_point(&p, "requests", SP_AGG_SUM, vec1_dims, 2);
    assert_int_equal(sp_record_encode(&p, NULL, 0), sizeof(want));
    memset(buf, 0xAA, sizeof(buf));
    assert_int_equal(sp_record_encode(&p, buf, sizeof(buf)), sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    assert_int_equal(buf[sizeof(want)], 0xAA);

    /* A short buffer gets what fits and nothing past cap. */
    memset(buf, 0xAA, sizeof(buf));
    assert_int_equal(sp_record_encode(&p, buf, 6), sizeof(want));
    assert_memory_equal(buf, want, 6);
    assert_int_equal(buf[6], 0xAA);

    /* Empty dimension value: a zero length, no bytes. */
    {
        static const struct kv d[] = {{"k", ""}};
        static const uint8_t w2[] = {0, 0, 0, 1, 'm', 0, 0, 0, 7, 'M',
                                     'a', 'x', 'i', 'm', 'u', 'm', 0, 0,
                                     0, 1, 'k', 0, 0, 0, 0};

        make_point(&p, "m", SP_AGG_MAXIMUM, d, 1);
        assert_int_equal(sp_record_encode(&p, buf, sizeof(buf)),
                         sizeof(w2));
        assert_memory_equal(buf, w2, sizeof(w2));
    }
}

static void
test_dimension_order_never_matters(void **state)
{
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    struct kv d[SP_MAX_DIMS];
    char hex[2 * SP_RECORD_ID_LEN + 1], first[2 * SP_RECORD_ID_LEN + 1];
    char keys[SP_MAX_DIMS][16], vals[SP_MAX_DIMS][16];

    (void)state;
    for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 3; j++) {
            d[j] = vec3_dims[perms[i][j]];
        }
        check_id("cpu", SP_AGG_AVERAGE, d, 3, VEC3_HEX);
    }
    d[0] = vec1_dims[1];
    d[1] = vec1_dims[0];
    check_id("requests", SP_AGG_SUM, d, 2, VEC1_HEX);

    /* Ten dimensions, many shuffles: one ID. */
    for (int i = 0; i < SP_MAX_DIMS; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%c%d", 'a' + (i * 7) % 10, i);
        snprintf(vals[i], sizeof(vals[i]), "v%d", i);
        d[i].k = keys[i];
        d[i].v = vals[i];
    }
    {
        struct sp_point p;

        make_point(&p, "m", SP_AGG_MINIMUM, d, SP_MAX_DIMS);
        id_hex(&p, first);
    }
    for (int round = 0; round < 200; round++) {
        struct sp_point p;

        for (int i = SP_MAX_DIMS - 1; i > 0; i--) {
            int j = (int)(rng() % (uint64_t)(i + 1));
            struct kv t = d[i];

            d[i] = d[j];
            d[j] = t;
        }
        make_point(&p, "m", SP_AGG_MINIMUM, d, SP_MAX_DIMS);
        id_hex(&p, hex);
        assert_string_equal(hex, first);
    }
}

static void
test_ids_differ(void **state)
{
    static const struct kv ab_c[] = {{"ab", "c"}};
    static const struct kv a_bc[] = {{"a", "bc"}};
    static const struct kv v2[] = {{"service", "api"},
                                   {"region", "eu-west-2"}};
    char h[6][2 * SP_RECORD_ID_LEN + 1];
    struct sp_point p;

    (void)state;
    make_point(&p, "requests", SP_AGG_AVERAGE, vec1_dims, 2);
    id_hex(&p, h[0]);
    make_point(&p, "requests", SP_AGG_SUM, v2, 2);
    id_hex(&p, h[1]);
    make_point(&p, "Requests", SP_AGG_SUM, vec1_dims, 2);
    id_hex(&p, h[2]);
    /* Length prefixes keep ("ab","c") and ("a","bc") apart. */
    make_point(&p, "m", SP_AGG_SUM, ab_c, 1);
    id_hex(&p, h[3]);
    make_point(&p, "m", SP_AGG_SUM, a_bc, 1);
    id_hex(&p, h[4]);
    make_point(&p, "requests", SP_AGG_SUM, vec1_dims, 1);
    id_hex(&p, h[5]);
    for (int i = 0; i < 6; i++) {
        assert_string_not_equal(h[i], VEC1_HEX);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(h[i], h[j]);
        }
    }
}

static void
test_largest_point(void **state)
{
    static char name[SP_NAME_MAX + 1];
    static char keys[SP_MAX_DIMS][SP_DIM_KEY_MAX];
    static char vals[SP_MAX_DIMS][SP_DIM_VAL_MAX];
    struct sp_point p;
    struct sp_err e = {{0}};
    uint8_t id[SP_RECORD_ID_LEN];

    (void)state;
    memset(name, 'n', sizeof(name));
    memset(&p, 0, sizeof(p));
    p.name = name;
    p.name_len = SP_NAME_MAX;
    p.agg = SP_AGG_AVERAGE;
    for (int i = 0; i < SP_MAX_DIMS; i++) {
        memset(keys[i], 'a' + i, SP_DIM_KEY_MAX);
        memset(vals[i], 'z' - i, SP_DIM_VAL_MAX);
        assert_int_equal(sp_point_add_dim(&p, keys[i], SP_DIM_KEY_MAX,
                                          vals[i], SP_DIM_VAL_MAX, &e),
                         CTSPOOL_OK);
    }
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_OK);
    assert_int_equal(sp_record_encode(&p, NULL, 0),
                     4 + 256 + 4 + 7 + 10 * (4 + 128 + 4 + 256));
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_OK);

    /* Past the limits: no ID (the point cannot have been validated). */
    p.name_len = SP_NAME_MAX + 1;
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_E_INVALID);
    p.n_dims = 0;
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_E_INVALID);
    p.name_len = SP_NAME_MAX;
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_OK);
    p.n_dims = 1;
    p.dims[0].key_len = SP_DIM_KEY_MAX + 1;
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_E_INVALID);
    p.dims[0].key_len = SP_DIM_KEY_MAX;
    p.dims[0].val_len = SP_DIM_VAL_MAX + 1;
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_E_INVALID);
}

static void
test_id_refuses_unfinished_points(void **state)
{
    struct sp_point p;
    uint8_t id[SP_RECORD_ID_LEN];

    (void)state;
    make_point(&p, "requests", SP_AGG_SUM, vec1_dims, 2);
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_OK);
    /* Unsorted. */
    {
        struct sp_dim t = p.dims[0];

        p.dims[0] = p.dims[1];
        p.dims[1] = t;
    }
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_E_INVALID);
    /* Duplicate keys. */
    p.dims[0] = p.dims[1];
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_E_INVALID);
    /* Bad aggregation function, too many dimensions. */
    make_point(&p, "requests", SP_AGG_SUM, NULL, 0);
    p.agg = SP_AGG_N;
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_E_INVALID);
    p.agg = -1;
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_E_INVALID);
    p.agg = SP_AGG_SUM;
    p.n_dims = SP_MAX_DIMS + 1;
    assert_int_equal(sp_record_id(&p, id), CTSPOOL_E_INVALID);
}

static void
test_hex(void **state)
{
    static const uint8_t in[] = {0x00, 0x0f, 0xab, 0xff, 0x10, 0x9c};
    char out[2 * sizeof(in) + 1];

    (void)state;
    memset(out, 'x', sizeof(out));
    sp_hex(in, sizeof(in), out);
    assert_string_equal(out, "000fabff109c");
    sp_hex(in, 0, out);
    assert_string_equal(out, "");
}

/* ---- canonical timestamp text ------------------------------------------ */

static void
hour_is(int64_t hour, const char *want)
{
    char buf[32];
    struct sp_err e = {{0}};
    int64_t back = -1;

    memset(buf, 'x', sizeof(buf));
    sp_hour_format(hour, buf, 20);
    assert_string_equal(buf, want);
    assert_int_equal(sp_valid_timestamp_str(buf, strlen(buf), &back, &e),
                     CTSPOOL_OK);
    assert_int_equal(back, hour);
}

static void
test_hour_format(void **state)
{
    char buf[32], want[32];
    struct tm tm;

    (void)state;
    hour_is(0, "1970-01-01 00:00:00");
    hour_is(462389, "2022-10-01 05:00:00");
    hour_is(474768, "2024-02-29 00:00:00");
    hour_is(474767, "2024-02-28 23:00:00");
    hour_is(264396, "2000-02-29 12:00:00");
    hour_is(70389527, "9999-12-31 23:00:00");
    sp_hour_format(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31 23:00:00");

    /* Round trip and agreement with gmtime() over the whole range. */
    for (int64_t h = 0; h < 70389528; h += 1 + (int64_t)(rng() % 2000)) {
        time_t t = (time_t)(h * 3600);
        int64_t back = -1;
        struct sp_err e = {{0}};

        assert_non_null(gmtime_r(&t, &tm));
        strftime(want, sizeof(want), "%Y-%m-%d %H:00:00", &tm);
        sp_hour_format(h, buf, sizeof(buf));
        if (strcmp(buf, want) != 0) {
            fail_msg("hour %lld: \"%s\", want \"%s\"", (long long)h, buf,
                     want);
        }
        if (sp_valid_timestamp_str(buf, strlen(buf), &back, &e) !=
                CTSPOOL_OK ||
            back != h) {
            fail_msg("hour %lld: %s parsed back as %lld (%s)", (long long)h,
                     buf, (long long)back, e.msg);
        }
    }
}

/* ---- canonical value text ---------------------------------------------- */

/* s is JSON number text: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
is_json_number(const char *s)
{
    size_t i = 0;

    if (s[i] == '-') {
        i++;
    }
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    } else {
        return 0;
    }
    if (s[i] == '.') {
        i++;
        if (!(s[i] >= '0' && s[i] <= '9')) {
            return 0;
        }
        while (s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-') {
            i++;
        }
        if (!(s[i] >= '0' && s[i] <= '9')) {
            return 0;
        }
        while (s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    return s[i] == '\0';
}

/* The contract, written plainly: first of %.15g/%.16g/%.17g that
 * parses back to the same bits. */
static void
reference_format(double v, char *buf, size_t len)
{
    for (int prec = 15; prec <= 17; prec++) {
        double back;

        snprintf(buf, len, "%.*g", prec, v);
        back = strtod(buf, NULL);
        if (memcmp(&back, &v, sizeof(v)) == 0) {
            return;
        }
    }
}

static void
check_double(double v)
{
    char buf[32], ref[32];
    double back;

    memset(buf, 'x', sizeof(buf));
    sp_double_format(v, buf, sizeof(buf));
    back = strtod(buf, NULL);
    if (memcmp(&back, &v, sizeof(v)) != 0) {
        fail_msg("%.17g printed as \"%s\" parses back as %.17g", v, buf,
                 back);
    }
    if (!is_json_number(buf)) {
        fail_msg("%.17g printed as \"%s\": not a JSON number", v, buf);
    }
    reference_format(v, ref, sizeof(ref));
    if (strcmp(buf, ref) != 0) {
        fail_msg("%.17g printed as \"%s\", want \"%s\"", v, buf, ref);
    }
}

static void
double_is(double v, const char *want)
{
    char buf[32];

    sp_double_format(v, buf, sizeof(buf));
    assert_string_equal(buf, want);
    check_double(v);
}

static void
test_double_format(void **state)
{
    (void)state;
    double_is(0.1, "0.1");
    double_is(1e308, "1e+308");
    double_is(5e-324, "4.94065645841247e-324");
    double_is(-0.0, "-0");
    double_is(0.0, "0");
    double_is(123456789.123456789, "123456789.12345679");
    double_is(12.5, "12.5");
    double_is(100.0, "100");
    double_is(-42.0, "-42");
    double_is(1.0 / 3.0, "0.3333333333333333");
    double_is(0.1 + 0.2, "0.30000000000000004");
    double_is(999999999999999.0, "999999999999999");
    double_is(-999999999999999.0, "-999999999999999");
    double_is(1e15, "1e+15");
    double_is(9007199254740992.0, "9007199254740992");
    double_is(DBL_MAX, "1.7976931348623157e+308");
    double_is(-DBL_MAX, "-1.7976931348623157e+308");
    double_is(DBL_MIN, "2.2250738585072014e-308");
    double_is(1e21, "1e+21");
    double_is(1e-7, "1e-07");
    double_is(1664600400.0, "1664600400");
    double_is(0.0001, "0.0001");
    double_is(-0.00012, "-0.00012");
    double_is(0.00001, "1e-05");
    double_is(99.95, "99.95");
    double_is(-12.5, "-12.5");
    double_is(123456789012.345, "123456789012.345");
    double_is(99999999999999.9, "99999999999999.9");
    double_is(999999999999999.9, "999999999999999.9");
    double_is(0.1234567, "0.1234567");
    double_is(1.0000001, "1.0000001");
}

static void
test_double_format_random(void **state)
{
    (void)state;
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = rng();
        double v;

        memcpy(&v, &bits, sizeof(v));
        if (isfinite(v)) {
            check_double(v);
        }
        /* Typical metric values: whole numbers and short decimals. */
        check_double((double)((int64_t)(rng() % 2000000001) - 1000000000));
        check_double((double)(int64_t)(rng() >> 14) *
                     (rng() % 2 ? 1.0 : -1.0));
        check_double((double)(rng() % 1000000) / 100.0);
        check_double(-(double)(rng() % 1000000000000000) /
                     pow(10.0, (double)(rng() % 22)));
        check_double((double)(rng() % 100000) *
                     pow(10.0, -(double)(rng() % 9)));
    }
}

/* sp_json_number_value(text) gives the bits strtod() gives. */
static void
number_is_strtod(const char *text)
{
    double got = sp_json_number_value(text, strlen(text));
    double want = strtod(text, NULL);

    /* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison) */
    if (memcmp(&got, &want, sizeof(got)) != 0) {
        fail_msg("%s: %.17g, strtod() %.17g", text, got, want);
    }
}

static void
test_json_number_value(void **state)
{
    static const char *const texts[] = {
        "0", "-0", "0.0", "-0.0", "1", "-1", "34.25", "0.1", "0.3",
        "1.5", "99.95", "123456789012345", "999999999999999",
        "1234567890123456", "9007199254740993", "0.000000000000001",
        "0.0000000000000001", "1.00000000000000000000001", "1e3",
        "1E-3", "-2.5e+10", "1.7976931348623157e308", "1e400", "-1e400",
        "4.9e-324", "2.2250738585072014e-308", "0.30000000000000004",
        "123456.789012345", "12345678901234.5", "-0.000001"};
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        number_is_strtod(texts[i]);
    }
    for (int i = 0; i < 200000; i++) {
        uint64_t m = rng() % 10000000000000000ull; /* up to 16 digits */
        int n_int = (int)(rng() % 17);
        int len = snprintf(buf, sizeof(buf), "%s%llu", rng() % 2 ? "-" : "",
                           (unsigned long long)m);
        char *digits = buf + (buf[0] == '-');
        int n_digits = len - (buf[0] == '-');

        /* The point somewhere among the digits (none: a whole number). */
        if (n_int > 0 && n_int < n_digits && digits[0] != '0') {
            memmove(digits + n_int + 1, digits + n_int,
                    (size_t)(n_digits - n_int + 1));
            digits[n_int] = '.';
        } else if (n_int == 0 && rng() % 2) {
            /* 0.000ddd */
            int zeros = (int)(rng() % 8);

            memmove(digits + 2 + zeros, digits, (size_t)n_digits + 1);
            digits[0] = '0';
            digits[1] = '.';
            memset(digits + 2, '0', (size_t)zeros);
        }
        number_is_strtod(buf);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_encoding_bytes),
        cmocka_unit_test(test_dimension_order_never_matters),
        cmocka_unit_test(test_ids_differ),
        cmocka_unit_test(test_largest_point),
        cmocka_unit_test(test_id_refuses_unfinished_points),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_hour_format),
        cmocka_unit_test(test_double_format),
        cmocka_unit_test(test_double_format_random),
        cmocka_unit_test(test_json_number_value),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
