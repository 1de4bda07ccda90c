/*
 * test_validate.c -- unit tests of validate.c: every rule of DESIGN.md
 * section 2, each with the exact accept/reject decision and a check that
 * the message names the field and the reason, and that every message is
 * safe to print (no raw control bytes, valid UTF-8, no secret).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sp_int.h"

/* ---- helpers ---------------------------------------------------------- */

/* A message is one printable line of valid UTF-8. */
static void
check_msg_safe(const char *msg)
{
    size_t len = strlen(msg);

    if (len == 0 || len >= sizeof(((struct sp_err *)0)->msg)) {
        fail_msg("bad message length %zu", len);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];

        if (c < 0x20 || c == 0x7F) {
            fail_msg("control byte 0x%02x in message: %s", c, msg);
        }
    }
    if (!sp_utf8_valid(msg, len)) {
        fail_msg("message is not UTF-8: %s", msg);
    }
}

/* msg starts with "field: " and contains every reason fragment. */
static void
check_msg(const char *input, const char *msg, const char *field,
          const char *reason1, const char *reason2)
{
    size_t n = strlen(field);

    check_msg_safe(msg);
    if (strncmp(msg, field, n) != 0 || strncmp(msg + n, ": ", 2) != 0) {
        fail_msg("input \"%s\": message does not start with \"%s: \": %s",
                 input, field, msg);
    }
    if (reason1 && !strstr(msg, reason1)) {
        fail_msg("input \"%s\": message lacks \"%s\": %s", input, reason1,
                 msg);
    }
    if (reason2 && !strstr(msg, reason2)) {
        fail_msg("input \"%s\": message lacks \"%s\": %s", input, reason2,
                 msg);
    }
}

static void
ts_ok(const char *s, int64_t want)
{
    struct sp_err e = {{0}};
    int64_t hour = -12345;
    ctspool_rc rc = sp_valid_timestamp_str(s, strlen(s), &hour, &e);

    if (rc != CTSPOOL_OK) {
        fail_msg("timestamp \"%s\" rejected: %s", s, e.msg);
    }
    if (hour != want) {
        fail_msg("timestamp \"%s\": hour %lld, want %lld", s,
                 (long long)hour, (long long)want);
    }
}

static void
ts_bad_n(const char *s, size_t len, const char *r1, const char *r2)
{
    struct sp_err e = {{0}};
    int64_t hour = -12345;
    ctspool_rc rc = sp_valid_timestamp_str(s, len, &hour, &e);

    if (rc != CTSPOOL_E_INVALID) {
        fail_msg("timestamp \"%s\" accepted (rc %d, hour %lld)", s, (int)rc,
                 (long long)hour);
    }
    assert_int_equal(hour, -12345); /* untouched on failure */
    check_msg(s, e.msg, "timestamp", r1, r2);
}

static void
ts_bad(const char *s, const char *r1, const char *r2)
{
    ts_bad_n(s, strlen(s), r1, r2);
}

static void
tsnum_ok(double v, int64_t want)
{
    struct sp_err e = {{0}};
    int64_t hour = -12345;

    if (sp_valid_timestamp_num(v, &hour, &e) != CTSPOOL_OK) {
        fail_msg("timestamp %.17g rejected: %s", v, e.msg);
    }
    assert_int_equal(hour, want);
}

static void
tsnum_bad(double v, const char *r1, const char *r2)
{
    struct sp_err e = {{0}};
    int64_t hour = -12345;

    if (sp_valid_timestamp_num(v, &hour, &e) != CTSPOOL_E_INVALID) {
        fail_msg("timestamp %.17g accepted", v);
    }
    assert_int_equal(hour, -12345);
    check_msg("(number)", e.msg, "timestamp", r1, r2);
}

static void
value_ok(const char *s, double want)
{
    struct sp_err e = {{0}};
    double v = 999.0;

    if (sp_valid_value_str(s, strlen(s), &v, &e) != CTSPOOL_OK) {
        fail_msg("value \"%s\" rejected: %s", s, e.msg);
    }
    if (memcmp(&v, &want, sizeof(v)) != 0) {
        fail_msg("value \"%s\": got %.17g, want %.17g", s, v, want);
    }
}

static void
value_bad_n(const char *s, size_t len, const char *r1, const char *r2)
{
    struct sp_err e = {{0}};
    double v = 999.0;

    if (sp_valid_value_str(s, len, &v, &e) != CTSPOOL_E_INVALID) {
        fail_msg("value \"%s\" accepted as %.17g", s, v);
    }
    assert_true(v == 999.0);
    check_msg(s, e.msg, "metric_value", r1, r2);
}

static void
value_bad(const char *s, const char *r1, const char *r2)
{
    value_bad_n(s, strlen(s), r1, r2);
}

/* A string of n copies of c (n < 2048), static storage. */
static const char *
repeat(char c, size_t n)
{
    static char buf[4][2048];
    static int slot;
    char *p = buf[slot++ % 4];

    assert_true(n < sizeof(buf[0]));
    memset(p, c, n);
    p[n] = '\0';
    return p;
}

/* ---- metric_agg_func --------------------------------------------------- */

static void
test_agg_exact(void **state)
{
    static const char *const names[] = {"Sum", "Average", "Maximum",
                                        "Minimum"};
    struct sp_err e = {{0}};

    (void)state;
    for (int i = 0; i < 4; i++) {
        int agg = -1;

        assert_int_equal(sp_valid_agg(names[i], strlen(names[i]), &agg, &e),
                         CTSPOOL_OK);
        assert_int_equal(agg, i);
        assert_string_equal(sp_agg_name(i), names[i]);
    }
    assert_int_equal(SP_AGG_SUM, 0);
    assert_int_equal(SP_AGG_MINIMUM, 3);
    assert_null(sp_agg_name(-1));
    assert_null(sp_agg_name(SP_AGG_N));
    /* Length rules: a prefix or a longer string is not a match. */
    {
        int agg = 7;

        assert_int_equal(sp_valid_agg("Sum", 2, &agg, &e),
                         CTSPOOL_E_INVALID);
        assert_int_equal(sp_valid_agg("Sums", 4, &agg, &e),
                         CTSPOOL_E_INVALID);
        assert_int_equal(sp_valid_agg("Sum\0", 4, &agg, &e),
                         CTSPOOL_E_INVALID);
        assert_non_null(strstr(e.msg, "\\x00"));
        assert_int_equal(agg, 7);
    }
}

static void
test_agg_wrong_case_hint(void **state)
{
    struct sp_err e = {{0}};
    int agg = -1;

    (void)state;
    assert_int_equal(sp_valid_agg("sum", 3, &agg, &e), CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "metric_agg_func: \"sum\" is not valid; did "
                               "you mean \"Sum\"? (expected one of Sum, "
                               "Average, Maximum, Minimum)");
    assert_int_equal(agg, -1);

    assert_int_equal(sp_valid_agg("AVERAGE", 7, &agg, &e),
                     CTSPOOL_E_INVALID);
    check_msg("AVERAGE", e.msg, "metric_agg_func", "did you mean \"Average\"",
              NULL);
    assert_int_equal(sp_valid_agg("maximum", 7, &agg, &e),
                     CTSPOOL_E_INVALID);
    check_msg("maximum", e.msg, "metric_agg_func", "did you mean \"Maximum\"",
              NULL);
    assert_int_equal(sp_valid_agg("MiNiMuM", 7, &agg, &e),
                     CTSPOOL_E_INVALID);
    check_msg("MiNiMuM", e.msg, "metric_agg_func", "did you mean \"Minimum\"",
              NULL);
    /* Common abbreviations get the same kind of hint. */
    assert_int_equal(sp_valid_agg("avg", 3, &agg, &e), CTSPOOL_E_INVALID);
    check_msg("avg", e.msg, "metric_agg_func", "did you mean \"Average\"",
              NULL);
    assert_int_equal(sp_valid_agg("max", 3, &agg, &e), CTSPOOL_E_INVALID);
    check_msg("max", e.msg, "metric_agg_func", "did you mean \"Maximum\"",
              NULL);
}

static void
test_agg_unknown(void **state)
{
    struct sp_err e = {{0}};
    int agg = -1;

    (void)state;
    assert_int_equal(sp_valid_agg("foo", 3, &agg, &e), CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "metric_agg_func: \"foo\" is not valid "
                               "(expected one of Sum, Average, Maximum, "
                               "Minimum)");
    assert_int_equal(sp_valid_agg("Sum ", 4, &agg, &e), CTSPOOL_E_INVALID);
    assert_null(strstr(e.msg, "did you mean"));
    check_msg("Sum ", e.msg, "metric_agg_func", "\"Sum \" is not valid",
              NULL);
    assert_int_equal(sp_valid_agg("", 0, &agg, &e), CTSPOOL_E_INVALID);
    check_msg("", e.msg, "metric_agg_func", "is empty",
              "Sum, Average, Maximum, Minimum");
    assert_int_equal(sp_valid_agg("\x1b[31mSum", 8, &agg, &e),
                     CTSPOOL_E_INVALID);
    check_msg("esc", e.msg, "metric_agg_func", "\\x1b[31mSum", NULL);
    assert_int_equal(agg, -1);
}

/* ---- timestamp --------------------------------------------------------- */

static void
test_timestamp_valid_forms(void **state)
{
    (void)state;
    ts_ok("2022-10-01T05:00:00Z", 462389);
    ts_ok("2022-10-01T05:00:00+00:00", 462389);
    ts_ok("2022-10-01 05:00:00.000", 462389);
    ts_ok("2022-10-01 05:00:00", 462389);
    ts_ok("2022-10-01T05:00:00", 462389);
    ts_ok("2022-10-01T05:00:00.0Z", 462389);
    ts_ok("2022-10-01T05:00:00.000000+00:00", 462389);
    ts_ok("2022-10-01 05:00:00Z", 462389);
    ts_ok("2022-10-01 05:00:00+00:00", 462389);
    ts_ok("1664600400", 462389);
    ts_ok("0", 0);
    ts_ok("-0", 0);
    ts_ok("0000000003600", 1);
    ts_ok("1970-01-01 00:00:00", 0);
    ts_ok("2024-02-29 00:00:00", 474768);
    ts_ok("2000-02-29T12:00:00Z", 264396);
    ts_ok("9999-12-31 23:00:00", 70389527);
    ts_ok("253402297200", 70389527);
}

static void
test_timestamp_not_on_the_hour(void **state)
{
    (void)state;
    ts_bad("2022-10-01 05:30:00", "minutes must be zero: upstream takes "
                                  "hourly data",
           "\"2022-10-01 05:30:00\"");
    ts_bad("2022-10-01T05:00:01Z", "seconds must be zero", "hourly");
    ts_bad("2022-10-01 05:00:60", "seconds must be zero", NULL);
    ts_bad("2022-10-01 05:00:00.5", "fractions of a second must be zero",
           "hourly");
    ts_bad("2022-10-01T05:00:00.000001Z", "fractions of a second", NULL);
    ts_bad("1664600401", "\"1664600401\"", "multiple of 3600");
    ts_bad("1664601000", "not on the hour", NULL);
}

static void
test_timestamp_offsets(void **state)
{
    (void)state;
    ts_bad("2022-10-01T05:00:00+02:00",
           "only UTC is accepted; offset +02:00 is not",
           "\"2022-10-01T05:00:00+02:00\"");
    ts_bad("2022-10-01T05:00:00-05:00", "offset -05:00 is not", NULL);
    ts_bad("2022-10-01T05:00:00+0530", "offset +0530 is not", NULL);
    ts_bad("2022-10-01T05:00:00+01", "offset +01 is not", NULL);
    ts_bad("2022-10-01 05:00:00+02:00", "only UTC is accepted", NULL);
    /* Zero offsets in other spellings: say how to write UTC. */
    ts_bad("2022-10-01T05:00:00-00:00", "Z or +00:00", "not -00:00");
    ts_bad("2022-10-01T05:00:00+0000", "Z or +00:00", "not +0000");
    ts_bad("2022-10-01T05:00:00+00", "Z or +00:00", "not +00");
}

static void
test_timestamp_dates_must_exist(void **state)
{
    (void)state;
    ts_bad("2022-02-30 00:00:00", "date does not exist",
           "February 2022 has 28 days");
    ts_bad("2023-02-29 00:00:00", "date does not exist",
           "February 2023 has 28 days");
    ts_bad("1900-02-29 00:00:00", "before 1970", NULL);
    ts_bad("2100-02-29 00:00:00", "February 2100 has 28 days", NULL);
    ts_bad("2022-04-31 00:00:00", "April 2022 has 30 days", NULL);
    ts_bad("2022-13-01 00:00:00", "date does not exist", "no month 13");
    ts_bad("2022-00-10 00:00:00", "no month 00", NULL);
    ts_bad("2022-10-00 00:00:00", "no day 00", NULL);
    ts_bad("2022-10-32 00:00:00", "October 2022 has 31 days", NULL);
    ts_bad("2022-10-01 24:00:00", "hour 24 does not exist", "00 to 23");
    ts_bad("2022-10-01T99:00:00Z", "hour 99", NULL);
    ts_bad("1969-12-31 23:00:00", "year 1969 is before 1970", NULL);
    ts_bad("0000-01-01 00:00:00", "before 1970", NULL);
}

static void
test_timestamp_unix_seconds_range(void **state)
{
    (void)state;
    ts_bad("-3600", "before 1970", NULL);
    ts_bad("-1", "before 1970", NULL);
    ts_bad("253402300800", "after the year 9999", NULL);
    ts_bad("99999999999999999999999999999999", "after the year 9999", NULL);
    /* Milliseconds (13 digits today) are named as such; far larger
     * numbers are not. */
    ts_bad("1664604000000", "after the year 9999", "looks like milliseconds");
    {
        struct sp_err e = {{0}};
        int64_t hour;

        assert_int_equal(sp_valid_timestamp_str("99999999999999999999", 20,
                                                 &hour, &e),
                         CTSPOOL_E_INVALID);
        assert_null(strstr(e.msg, "milliseconds"));
        assert_int_equal(sp_valid_timestamp_num(1e20, &hour, &e),
                         CTSPOOL_E_INVALID);
        assert_null(strstr(e.msg, "milliseconds"));
    }
    /* Only plain digits are Unix seconds. */
    ts_bad("+1664600400", "is not a valid timestamp", NULL);
    ts_bad("1664600400.0", "is not a valid timestamp", NULL);
    ts_bad("1664600400 ", "is not a valid timestamp", NULL);
    ts_bad("-", "is not a valid timestamp", NULL);
    ts_bad("--3600", "is not a valid timestamp", NULL);
}

static void
test_timestamp_format_errors(void **state)
{
    static const char *const bad[] = {
        "2022-10-01",
        "2022-10-01T05",
        "2022-10-01T05:00",
        "2022/10/01 05:00:00",
        "2022-10-01x05:00:00",
        "2022-10-01t05:00:00",
        "2022-10-01 05:00:00.",
        "2022-10-01 05:00:00 ",
        " 2022-10-01 05:00:00",
        "2022-10-01 05:00:00ZZ",
        "2022-10-01T05:00:00z",
        "2022-10-01T05:00:00 UTC",
        "2022-10-01T05:00:00+02:00:00",
        "12022-10-01 05:00:00",
        "22-10-01 05:00:00",
        "2022-1-01 05:00:00",
        "2022-10-01 5:00:00",
        "2022-10-01 05:00:0a",
        "now",
        "2022-10-01T05:00:00.0.0",
    };

    (void)state;
    ts_bad("", "is empty", "YYYY-MM-DD HH:00:00");
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        ts_bad(bad[i], "is not a valid timestamp", "YYYY-MM-DD HH:00:00");
    }
    /* An embedded NUL is an error, not an end of string. */
    ts_bad_n("2022-10-01 05:00:00\0", 20, "is not a valid timestamp",
             "\\x00");
}

static void
test_timestamp_message_quoting(void **state)
{
    struct sp_err e = {{0}};
    int64_t hour;
    char input[300];

    (void)state;
    /* Control bytes and invalid UTF-8 are escaped. */
    ts_bad("2022-10-01\n05:00:00", "\\x0a", NULL);
    ts_bad("2022-10-01\xff" "05:00:00", "\\xff", NULL);
    ts_bad("\"2022\\", "\\\"2022\\\\", NULL);
    /* Valid UTF-8 is shown as it is; invisible bidi overrides are not. */
    ts_bad("2022-10-01 05:00:00 \xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9",
           NULL);
    ts_bad("\xe2\x80\xae" "2022", "\\xe2\\x80\\xae", NULL);
    /* Long input is cut, and says so. */
    memset(input, '9', sizeof(input));
    memcpy(input, "x", 1);
    assert_int_equal(
        sp_valid_timestamp_str(input, sizeof(input), &hour, &e),
        CTSPOOL_E_INVALID);
    check_msg("long", e.msg, "timestamp", "\"...", NULL);
    assert_true(strlen(e.msg) < 200);
    /* A UTF-8 sequence cut by the limit is escaped, not split. */
    memset(input, 'a', sizeof(input));
    memcpy(input + 63, "\xc3\xa9", 2);
    assert_int_equal(
        sp_valid_timestamp_str(input, sizeof(input), &hour, &e),
        CTSPOOL_E_INVALID);
    check_msg("cut", e.msg, "timestamp", "a\\xc3\"...", NULL);
}

/* Every day 1970..2400 and a sample up to 9999 agree with timegm(). */
static void
test_timestamp_against_timegm(void **state)
{
    char buf[64];
    struct tm tm;
    struct sp_err e = {{0}};

    (void)state;
    for (int64_t day = 0; day < 2932897; day += day < 157000 ? 1 : 97) {
        int64_t hour = day * 24 + day % 24, got = -1;
        time_t t = (time_t)(hour * 3600);

        assert_non_null(gmtime_r(&t, &tm));
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:00:00Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
        if (sp_valid_timestamp_str(buf, strlen(buf), &got, &e) !=
                CTSPOOL_OK ||
            got != hour) {
            fail_msg("%s: got %lld want %lld (%s)", buf, (long long)got,
                     (long long)hour, e.msg);
        }
    }
}

static void
test_timestamp_num(void **state)
{
    (void)state;
    tsnum_ok(1664600400.0, 462389);
    tsnum_ok(0.0, 0);
    tsnum_ok(-0.0, 0);
    tsnum_ok(253402297200.0, 70389527);
    tsnum_bad(1664600401.0, "1664600401", "multiple of 3600");
    tsnum_bad(1664600400.5, "1664600400.5 is not a whole number", NULL);
    tsnum_bad(-3600.0, "before 1970", NULL);
    tsnum_bad(253402300800.0, "after the year 9999", NULL);
    tsnum_bad(1e300, "after the year 9999", NULL);
    tsnum_bad(1664604000000.0, "after the year 9999",
              "looks like milliseconds");
    tsnum_bad(NAN, "not a finite number", NULL);
    tsnum_bad(INFINITY, "not a finite number", NULL);
    tsnum_bad(-INFINITY, "not a finite number", NULL);
}

/* ---- metric_value ------------------------------------------------------ */

static void
test_value_str_valid(void **state)
{
    char digits[129];

    (void)state;
    value_ok("12.5", 12.5);
    value_ok("-0", -0.0);
    value_ok("0", 0.0);
    value_ok("+1", 1.0);
    value_ok(".5", 0.5);
    value_ok("5.", 5.0);
    value_ok("-12.25e2", -1225.0);
    value_ok("1E-3", 1e-3);
    value_ok("1e+308", 1e308);
    value_ok("1.7976931348623157e308", 1.7976931348623157e308);
    value_ok("5e-324", 5e-324);
    value_ok("1e-400", 0.0); /* underflow: a finite double */
    value_ok("0.1", 0.1);
    /* 128 characters is the longest accepted. */
    memset(digits, '1', 128);
    digits[128] = '\0';
    value_ok(digits, strtod(digits, NULL));
}

static void
test_value_str_invalid(void **state)
{
    static const char *const not_decimal[] = {
        "12.5abc", "0x10", "0X1p3", "1e", "e5", ".", "-", "+", "1.2.3",
        "1,5", "--1", "+-1", "1e+", "1e5.0", "١٢", "12_000", "1 000",
    };
    char digits[130];

    (void)state;
    value_bad("", "is empty", NULL);
    for (size_t i = 0; i < SP_ARRAY_LEN(not_decimal); i++) {
        value_bad(not_decimal[i], "is not a decimal number", NULL);
    }
    value_bad("nan", "\"nan\" is not a finite number", NULL);
    value_bad("NaN", "is not a finite number", NULL);
    value_bad("inf", "\"inf\" is not a finite number", NULL);
    value_bad("-inf", "is not a finite number", NULL);
    value_bad("Infinity", "is not a finite number", NULL);
    value_bad("1e999", "\"1e999\" is out of range for a double", NULL);
    value_bad("-1e999", "is out of range for a double", NULL);
    value_bad(" 1", "\" 1\" is not a number", "spaces");
    value_bad("1 ", "spaces", NULL);
    value_bad("1\n", "\\x0a", "spaces");
    value_bad_n("1\0", 2, "\\x00", NULL);
    memset(digits, '1', 129);
    digits[129] = '\0';
    value_bad(digits, "too long", "128");
}

static void
test_value_num(void **state)
{
    struct sp_err e = {{0}};

    (void)state;
    assert_int_equal(sp_valid_value_num(0.0, &e), CTSPOOL_OK);
    assert_int_equal(sp_valid_value_num(-0.0, &e), CTSPOOL_OK);
    assert_int_equal(sp_valid_value_num(1.7976931348623157e308, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_valid_value_num(5e-324, &e), CTSPOOL_OK);
    assert_int_equal(sp_valid_value_num(NAN, &e), CTSPOOL_E_INVALID);
    check_msg("NaN", e.msg, "metric_value", "not a finite number", NULL);
    assert_int_equal(sp_valid_value_num(INFINITY, &e), CTSPOOL_E_INVALID);
    check_msg("inf", e.msg, "metric_value", "not a finite number", NULL);
    assert_int_equal(sp_valid_value_num(-INFINITY, &e), CTSPOOL_E_INVALID);
}

/* ---- UTF-8 ------------------------------------------------------------- */

static const struct {
    const char *s;
    size_t len;
    int valid;
} utf8_cases[] = {
    {"", 0, 1},
    {"plain ascii", 11, 1},
    {"temp\xc3\xa9rature", 12, 1},          /* U+00E9 */
    {"\xe2\x82\xac", 3, 1},                 /* U+20AC */
    {"\xf0\x9f\x98\x80", 4, 1},             /* U+1F600 */
    {"\xf4\x8f\xbf\xbf", 4, 1},             /* U+10FFFF */
    {"\xed\x9f\xbf", 3, 1},                 /* U+D7FF */
    {"\xee\x80\x80", 3, 1},                 /* U+E000 */
    {"\xc2\x80", 2, 1},                     /* U+0080 */
    {"\xe0\xa0\x80", 3, 1},                 /* U+0800 */
    {"\xf0\x90\x80\x80", 4, 1},             /* U+10000 */
    {"\xc0\xaf", 2, 0},                     /* overlong '/' */
    {"\xc1\xbf", 2, 0},                     /* overlong */
    {"\xe0\x80\xaf", 3, 0},                 /* overlong */
    {"\xe0\x9f\xbf", 3, 0},                 /* overlong U+07FF */
    {"\xf0\x80\x80\xaf", 4, 0},             /* overlong */
    {"\xf0\x8f\xbf\xbf", 4, 0},             /* overlong U+FFFF */
    {"\xed\xa0\x80", 3, 0},                 /* surrogate U+D800 */
    {"\xed\xbf\xbf", 3, 0},                 /* surrogate U+DFFF */
    {"\xed\xa0\xbd\xed\xb8\x80", 6, 0},     /* CESU-8 pair */
    {"\xf4\x90\x80\x80", 4, 0},             /* U+110000 */
    {"\xf5\x80\x80\x80", 4, 0},
    {"\xff", 1, 0},
    {"\xfe", 1, 0},
    {"\x80", 1, 0},                         /* stray continuation */
    {"abc\xe2\x82", 5, 0},                  /* truncated */
    {"\xc3", 1, 0},                         /* truncated */
    {"\xf0\x9f\x98", 3, 0},                 /* truncated */
    {"\xe2\x28\xa1", 3, 0},                 /* bad continuation */
    {"\xc3\xa9\xc3", 3, 0},                 /* cut after a valid one */
};

static void
test_utf8(void **state)
{
    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(utf8_cases); i++) {
        if (sp_utf8_valid(utf8_cases[i].s, utf8_cases[i].len) !=
            utf8_cases[i].valid) {
            fail_msg("utf8 case %zu: expected %d", i, utf8_cases[i].valid);
        }
    }
    /* A NUL byte is valid UTF-8 (U+0000); fields check NUL separately. */
    assert_true(sp_utf8_valid("a\0b", 3));
}

/* What is not UTF-8 becomes U+FFFD, a byte at a time; the rest stays. */
static void
test_utf8_scrub(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        const char *want;
    } cases[] = {
        {"", 0, ""},
        {"plain", 5, "plain"},
        {"caf\xc3\xa9", 5, "caf\xc3\xa9"},
        {"a\xff" "b", 3, "a\xef\xbf\xbd" "b"},
        {"\xe2\x28\xa1", 3, "\xef\xbf\xbd(\xef\xbf\xbd"},
        {"\xc3\xa9\xc3", 3, "\xc3\xa9\xef\xbf\xbd"}, /* cut in two */
    };

    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct sp_buf b;

        sp_buf_init(&b);
        sp_buf_add(&b, "<", 1);
        assert_int_equal(sp_utf8_scrub(cases[i].s, cases[i].len, &b), 0);
        assert_int_equal(b.len, 1 + strlen(cases[i].want));
        assert_string_equal(b.p + 1, cases[i].want);
        assert_true(sp_utf8_valid(b.p, b.len));
        sp_buf_cleanup(&b);
    }
}

/* ---- metric_name ------------------------------------------------------- */

static void
test_name(void **state)
{
    struct sp_err e = {{0}};

    (void)state;
    assert_int_equal(sp_valid_name("requests", 8, &e), CTSPOOL_OK);
    assert_int_equal(sp_valid_name("x", 1, &e), CTSPOOL_OK);
    assert_int_equal(sp_valid_name(repeat('n', 256), 256, &e), CTSPOOL_OK);
    assert_int_equal(sp_valid_name("temp\xc3\xa9rature", 12, &e),
                     CTSPOOL_OK);

    assert_int_equal(sp_valid_name("", 0, &e), CTSPOOL_E_INVALID);
    check_msg("", e.msg, "metric_name", "is empty", NULL);
    assert_int_equal(sp_valid_name(repeat('n', 257), 257, &e),
                     CTSPOOL_E_INVALID);
    check_msg("257", e.msg, "metric_name", "is 257 bytes long",
              "at most 256");
    assert_int_equal(sp_valid_name("a\0b", 3, &e), CTSPOOL_E_INVALID);
    check_msg("a\\0b", e.msg, "metric_name", "NUL byte", "\"a\\x00b\"");
    for (size_t i = 0; i < SP_ARRAY_LEN(utf8_cases); i++) {
        if (utf8_cases[i].valid) {
            continue;
        }
        assert_int_equal(
            sp_valid_name(utf8_cases[i].s, utf8_cases[i].len, &e),
            CTSPOOL_E_INVALID);
        check_msg("bad utf8", e.msg, "metric_name", "is not valid UTF-8",
                  NULL);
    }
    assert_int_equal(sp_valid_name("ab\xed\xa0\x80", 5, &e),
                     CTSPOOL_E_INVALID);
    check_msg("surrogate", e.msg, "metric_name", "byte 0xed at offset 2",
              "\"ab\\xed\\xa0\\x80\"");
}

/* ---- data_stream_token ------------------------------------------------- */

/* The token is a secret: no message may contain any of it. */
static void
stream_bad(const char *s, size_t len, const char *r1)
{
    struct sp_err e = {{0}};

    if (sp_valid_stream(s, len, &e) != CTSPOOL_E_INVALID) {
        fail_msg("stream token of %zu bytes accepted", len);
    }
    check_msg("(secret)", e.msg, "data_stream_token", r1, NULL);
    if (strstr(e.msg, "SECRET") || strstr(e.msg, "ECRE")) {
        fail_msg("message shows the token: %s", e.msg);
    }
}

static void
test_stream(void **state)
{
    char tok[1100];
    struct sp_err e = {{0}};

    (void)state;
    assert_int_equal(sp_valid_stream("tok_12345", 9, &e), CTSPOOL_OK);
    assert_int_equal(sp_valid_stream("t\xc3\xa9", 3, &e), CTSPOOL_OK);
    memset(tok, 'S', sizeof(tok));
    assert_int_equal(sp_valid_stream(tok, SP_STREAM_MAX, &e), CTSPOOL_OK);

    stream_bad("", 0, "is empty");
    memcpy(tok, "SECRET", 6);
    stream_bad(tok, SP_STREAM_MAX + 1, "is 1025 bytes long");
    stream_bad("SECRET\n", 7, "control character");
    stream_bad("SECRET\r\n", 8, "control character");
    stream_bad("SEC\tRET", 7, "control character");
    stream_bad("SECRET\x7f", 7, "control character");
    stream_bad("SECRET\xc2\x85", 8, "control character"); /* U+0085 */
    stream_bad("SECRET\0", 7, "NUL byte");
    stream_bad("SECRET\xc0\xaf", 8, "not valid UTF-8");
    stream_bad("SECRET\xed\xa0\x80", 9, "not valid UTF-8");
}

/* The streams list: exact bytes and length, the token masked. */
static void
test_stream_listed(void **state)
{
    static char *const list[] = {"tok-one-1234", "tok-two-\xc3\xa9\xc3\xa9"};
    struct sp_defaults d = {.agg = -1, .streams = list, .n_streams = 2};
    struct sp_defaults any = {.agg = -1};
    struct sp_err e = {{0}};

    (void)state;
    assert_int_equal(sp_valid_stream_listed(NULL, "x", 1, &e), CTSPOOL_OK);
    assert_int_equal(sp_valid_stream_listed(&any, "x", 1, &e), CTSPOOL_OK);
    assert_int_equal(sp_valid_stream_listed(&d, "tok-one-1234", 12, &e),
                     CTSPOOL_OK);
    /* Lengths rule: a prefix of a longer input is not the token. */
    assert_int_equal(sp_valid_stream_listed(&d, "tok-one-12345", 12, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_valid_stream_listed(&d, "tok-one-12345", 13, &e),
                     CTSPOOL_E_INVALID);
    check_msg_safe(e.msg);
    assert_string_equal(e.msg, "data_stream_token: \"****2345\" is not in "
                               "the streams list of the configuration");
    assert_int_equal(sp_valid_stream_listed(&d, "tok-one-123", 11, &e),
                     CTSPOOL_E_INVALID);
    assert_int_equal(sp_valid_stream_listed(&d, "TOK-one-1234", 12, &e),
                     CTSPOOL_E_INVALID);
    /* 8 bytes or fewer: nothing shown. */
    assert_int_equal(sp_valid_stream_listed(&d, "SECRET12", 8, &e),
                     CTSPOOL_E_INVALID);
    assert_null(strstr(e.msg, "12"));
    /* The last 4 characters (not bytes). */
    assert_int_equal(
        sp_valid_stream_listed(&d, "tok-two-\xc3\xa9\xc3\xa9x", 13, &e),
        CTSPOOL_E_INVALID);
    check_msg_safe(e.msg);
    assert_non_null(strstr(e.msg, "\"****-\xc3\xa9\xc3\xa9x\""));
    assert_int_equal(
        sp_valid_stream_listed(&d, "tok-two-\xc3\xa9\xc3\xa9", 12, &e),
        CTSPOOL_OK);
}

/* ---- custom_dimensions -------------------------------------------------- */

static void
dim_bad(const char *k, size_t kl, const char *v, size_t vl, const char *r1,
        const char *r2)
{
    struct sp_err e = {{0}};

    if (sp_valid_dim(k, kl, v, vl, &e) != CTSPOOL_E_INVALID) {
        fail_msg("dimension accepted (key %zu bytes, value %zu bytes)", kl,
                 vl);
    }
    check_msg("dim", e.msg, "custom_dimensions", r1, r2);
}

static void
test_dim_rules(void **state)
{
    struct sp_err e = {{0}};

    (void)state;
    assert_int_equal(sp_valid_dim("region", 6, "eu-west-1", 9, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_valid_dim("region", 6, "", 0, &e), CTSPOOL_OK);
    assert_int_equal(sp_valid_dim(repeat('k', 128), 128, repeat('v', 256),
                                  256, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_valid_dim("r\xc3\xa9gion", 7, "\xe2\x82\xac", 3, &e),
                     CTSPOOL_OK);

    dim_bad("", 0, "x", 1, "key is empty", NULL);
    dim_bad(repeat('k', 129), 129, "x", 1, "is 129 bytes long",
            "at most 128");
    dim_bad("region", 6, repeat('v', 257), 257,
            "the value of key \"region\" is 257 bytes long", "at most 256");
    dim_bad("reg\xc0\xafion", 8, "x", 1, "key \"reg\\xc0\\xafion\"",
            "not valid UTF-8");
    dim_bad("region", 6, "eu\xed\xa0\x80", 5, "value of key \"region\"",
            "not valid UTF-8");
    dim_bad("re\0gion", 7, "x", 1, "NUL byte", NULL);
    dim_bad("region", 6, "e\0u", 3, "value of key \"region\"", "NUL byte");
}

static void
test_add_dim_limit(void **state)
{
    static const char *const keys[] = {"k0", "k1", "k2", "k3", "k4", "k5",
                                       "k6", "k7", "k8", "k9", "k10"};
    struct sp_point p;
    struct sp_err e = {{0}};

    (void)state;
    memset(&p, 0, sizeof(p));
    for (size_t i = 0; i < SP_MAX_DIMS; i++) {
        assert_int_equal(sp_point_add_dim(&p, keys[i], strlen(keys[i]), "v",
                                          1, &e),
                         CTSPOOL_OK);
    }
    assert_int_equal(p.n_dims, 10);
    assert_int_equal(sp_point_add_dim(&p, "k10", 3, "v", 1, &e),
                     CTSPOOL_E_INVALID);
    check_msg("11", e.msg, "custom_dimensions", "more than 10 pairs", NULL);
    assert_int_equal(p.n_dims, 10);
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_OK);
    assert_int_equal(p.n_dims, 10);

    /* add_dim validates: a bad pair is not appended. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(sp_point_add_dim(&p, "", 0, "v", 1, &e),
                     CTSPOOL_E_INVALID);
    check_msg("empty", e.msg, "custom_dimensions", "key is empty", NULL);
    assert_int_equal(sp_point_add_dim(&p, repeat('k', 129), 129, "v", 1, &e),
                     CTSPOOL_E_INVALID);
    assert_int_equal(sp_point_add_dim(&p, "k", 1, repeat('v', 257), 257, &e),
                     CTSPOOL_E_INVALID);
    assert_int_equal(p.n_dims, 0);

    /* No dimensions at all is fine. */
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_OK);
    assert_int_equal(p.n_dims, 0);
}

static void
test_finish_sorts_bytewise(void **state)
{
    static const char *const in[] = {"b", "zone", "ab", "\xc3\xa9t\xc3\xa9",
                                     "Zone", "a", "B", "region", "r", "_"};
    static const char *const want[] = {"B", "Zone", "_", "a", "ab",
                                       "b", "r", "region", "zone",
                                       "\xc3\xa9t\xc3\xa9"};
    struct sp_point p;
    struct sp_err e = {{0}};

    (void)state;
    memset(&p, 0, sizeof(p));
    for (size_t i = 0; i < SP_ARRAY_LEN(in); i++) {
        assert_int_equal(sp_point_add_dim(&p, in[i], strlen(in[i]), in[i],
                                          strlen(in[i]), &e),
                         CTSPOOL_OK);
    }
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_OK);
    assert_int_equal(p.n_dims, SP_ARRAY_LEN(want));
    for (size_t i = 0; i < SP_ARRAY_LEN(want); i++) {
        assert_int_equal(p.dims[i].key_len, strlen(want[i]));
        assert_memory_equal(p.dims[i].key, want[i], strlen(want[i]));
        /* Values travel with their keys. */
        assert_ptr_equal(p.dims[i].val, p.dims[i].key);
    }
    /* Finishing again changes nothing. */
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_OK);
    assert_memory_equal(p.dims[0].key, "B", 1);
}

/* Keys are (pointer, length), not C strings: order by the bytes given. */
static void
test_finish_uses_lengths(void **state)
{
    static const char buf[] = "bab";
    struct sp_point p;
    struct sp_err e = {{0}};

    (void)state;
    memset(&p, 0, sizeof(p));
    assert_int_equal(sp_point_add_dim(&p, buf, 2, "1", 1, &e), CTSPOOL_OK);
    assert_int_equal(sp_point_add_dim(&p, buf + 1, 2, "2", 1, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_point_add_dim(&p, buf + 1, 1, "3", 1, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_OK);
    assert_memory_equal(p.dims[0].val, "3", 1); /* "a" */
    assert_memory_equal(p.dims[1].val, "2", 1); /* "ab" */
    assert_memory_equal(p.dims[2].val, "1", 1); /* "ba" */

    /* "a" and "ab" share bytes but are different keys. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(sp_point_add_dim(&p, buf + 1, 2, "x", 1, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_point_add_dim(&p, buf + 1, 1, "y", 1, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_point_add_dim(&p, buf + 1, 1, "z", 1, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "custom_dimensions: key \"a\" appears twice");
}

static void
test_finish_rejects_duplicates(void **state)
{
    struct sp_point p;
    struct sp_err e = {{0}};

    (void)state;
    memset(&p, 0, sizeof(p));
    assert_int_equal(sp_point_add_dim(&p, "region", 6, "eu", 2, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_point_add_dim(&p, "host", 4, "a", 1, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_point_add_dim(&p, "region", 6, "us", 2, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_E_INVALID);
    assert_string_equal(e.msg,
                        "custom_dimensions: key \"region\" appears twice");

    /* Same value twice is still a duplicate; case differs is not. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(sp_point_add_dim(&p, "a", 1, "x", 1, &e), CTSPOOL_OK);
    assert_int_equal(sp_point_add_dim(&p, "a", 1, "x", 1, &e), CTSPOOL_OK);
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_E_INVALID);
    memset(&p, 0, sizeof(p));
    assert_int_equal(sp_point_add_dim(&p, "zone", 4, "a", 1, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_point_add_dim(&p, "Zone", 4, "b", 1, &e),
                     CTSPOOL_OK);
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_OK);

    /* A prefix is not a duplicate. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(sp_point_add_dim(&p, "ab", 2, "x", 1, &e), CTSPOOL_OK);
    assert_int_equal(sp_point_add_dim(&p, "a", 1, "y", 1, &e), CTSPOOL_OK);
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_OK);
    assert_int_equal(p.dims[0].key_len, 1);

    /* A point filled by hand past the limit is refused. */
    memset(&p, 0, sizeof(p));
    p.n_dims = SP_MAX_DIMS + 1;
    assert_int_equal(sp_point_finish(&p, &e), CTSPOOL_E_INVALID);
    check_msg("11", e.msg, "custom_dimensions", "more than 10 pairs", NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_listed),
        cmocka_unit_test(test_agg_exact),
        cmocka_unit_test(test_agg_wrong_case_hint),
        cmocka_unit_test(test_agg_unknown),
        cmocka_unit_test(test_timestamp_valid_forms),
        cmocka_unit_test(test_timestamp_not_on_the_hour),
        cmocka_unit_test(test_timestamp_offsets),
        cmocka_unit_test(test_timestamp_dates_must_exist),
        cmocka_unit_test(test_timestamp_unix_seconds_range),
        cmocka_unit_test(test_timestamp_format_errors),
        cmocka_unit_test(test_timestamp_message_quoting),
        cmocka_unit_test(test_timestamp_against_timegm),
        cmocka_unit_test(test_timestamp_num),
        cmocka_unit_test(test_value_str_valid),
        cmocka_unit_test(test_value_str_invalid),
        cmocka_unit_test(test_value_num),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_utf8_scrub),
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_dim_rules),
        cmocka_unit_test(test_add_dim_limit),
        cmocka_unit_test(test_finish_sorts_bytewise),
        cmocka_unit_test(test_finish_uses_lengths),
        cmocka_unit_test(test_finish_rejects_duplicates),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
