/*
 * fuzz_timestamp.c -- libFuzzer harness for the field parsers of
 * validate.c that read text: sp_valid_timestamp_str (mainly), and on the
 * same bytes sp_valid_value_str and sp_valid_agg.  With exactly 8 bytes
 * of input, those bytes are also a double for sp_valid_timestamp_num.
 *
 * Contracts beyond "no crash, no UB":
 * - an accepted timestamp is an hour in 1970..9999 whose canonical text
 *   (sp_hour_format) is "YYYY-MM-DD HH:00:00" and parses back to the same
 *   hour; an accepted date-time agrees with the C library's timegm() on
 *   the same fields, an accepted number with strtoll();
 * - an accepted value is finite, equals strtod() of the text, and its
 *   canonical text parses back to the same bits;
 * - an accepted aggregation function is one of the four exact names;
 * - every rejection names its field first ("timestamp: ", ...) in one
 *   printable line.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_util.h"

static int
digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static int
num(const char *s, size_t n)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* The Unix seconds the C library gives for the accepted text s. */
static void
reference_check(const char *s, size_t len, int64_t hour)
{
    char tmp[64];
    struct tm tm;
    time_t t;

    if (len > 0 &&
        (digits(s, len) || (s[0] == '-' && digits(s + 1, len - 1)))) {
        long long v;

        if (len >= sizeof(tmp)) {
            /* Leading zeros: the value is what is left after them. */
            size_t i = s[0] == '-' ? 1 : 0;

            while (i < len - 1 && s[i] == '0') {
                i++;
            }
            if (len - i >= sizeof(tmp)) {
                fz_fail("accepted %zu significant digits", len - i);
            }
            memcpy(tmp, s + i, len - i);
            tmp[len - i] = '\0';
        } else {
            memcpy(tmp, s, len);
            tmp[len] = '\0';
        }
        v = strtoll(tmp, NULL, 10);
        if (v != (long long)hour * 3600) {
            fz_fail("\"%.*s\" accepted as hour %lld, strtoll says %lld s",
                    (int)len, s, (long long)hour, v);
        }
        return;
    }
    if (len < 19 || !digits(s, 4) || !digits(s + 5, 2) ||
        !digits(s + 8, 2) || !digits(s + 11, 2) || !digits(s + 14, 2) ||
        !digits(s + 17, 2)) {
        fz_fail("accepted a timestamp of an unknown form: \"%.*s\"",
                (int)(len < 80 ? len : 80), s);
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = num(s, 4) - 1900;
    tm.tm_mon = num(s + 5, 2) - 1;
    tm.tm_mday = num(s + 8, 2);
    tm.tm_hour = num(s + 11, 2);
    tm.tm_min = num(s + 14, 2);
    tm.tm_sec = num(s + 17, 2);
    t = timegm(&tm);
    /* timegm() normalises Feb 30 to Mar 2: an accepted date must not
     * need that. */
    if (tm.tm_mday != num(s + 8, 2) || tm.tm_mon != num(s + 5, 2) - 1 ||
        tm.tm_hour != num(s + 11, 2) || tm.tm_min != 0 || tm.tm_sec != 0) {
        fz_fail("accepted a date-time that does not exist: \"%.*s\"",
                (int)len, s);
    }
    if ((int64_t)t != hour * 3600) {
        fz_fail("\"%.*s\" accepted as hour %lld, timegm says %lld s",
                (int)len, s, (long long)hour, (long long)t);
    }
}

static void
check_hour_text(int64_t hour)
{
    char ts[32];
    int64_t back = -1;
    struct sp_err e;

    if (hour < 0 || hour >= INT64_C(253402300800) / 3600) {
        fz_fail("hour %lld outside 1970..9999", (long long)hour);
    }
    sp_hour_format(hour, ts, sizeof(ts));
    if (strlen(ts) != 19 || !digits(ts, 4) || ts[4] != '-' ||
        !digits(ts + 5, 2) || ts[7] != '-' || !digits(ts + 8, 2) ||
        ts[10] != ' ' || !digits(ts + 11, 2) || strcmp(ts + 13, ":00:00")) {
        fz_fail("hour %lld formats as \"%s\"", (long long)hour, ts);
    }
    if (sp_valid_timestamp_str(ts, 19, &back, &e) != CTSPOOL_OK ||
        back != hour) {
        fz_fail("\"%s\" does not parse back to hour %lld", ts,
                (long long)hour);
    }
}

static void
check_timestamp(const char *s, size_t len, const uint8_t *in, size_t in_len)
{
    int64_t hour = -1;
    struct sp_err e;
    ctspool_rc rc;

    rc = sp_valid_timestamp_str(s, len, &hour, &e);
    if (rc == CTSPOOL_OK) {
        check_hour_text(hour);
        reference_check(s, len, hour);
    } else if (rc == CTSPOOL_E_INVALID) {
        fz_check_msg(&e, "timestamp: ", in, in_len);
    } else {
        fz_fail("sp_valid_timestamp_str returned %s", ctspool_errname(rc));
    }
}

static void
check_value_text(const char *s, size_t len, const uint8_t *in, size_t in_len)
{
    char tmp[256], text[64];
    double v = 0, ref, back = 0;
    struct sp_err e;
    ctspool_rc rc;

    rc = sp_valid_value_str(s, len, &v, &e);
    if (rc == CTSPOOL_E_INVALID) {
        fz_check_msg(&e, "metric_value: ", in, in_len);
        return;
    }
    if (rc != CTSPOOL_OK) {
        fz_fail("sp_valid_value_str returned %s", ctspool_errname(rc));
    }
    if (!isfinite(v) || len >= sizeof(tmp)) {
        fz_fail("accepted value \"%.*s\" is not finite or too long",
                (int)(len < 80 ? len : 80), s);
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    ref = strtod(tmp, NULL);
    if (memcmp(&ref, &v, sizeof(v)) != 0) {
        fz_fail("\"%s\" accepted as %a, strtod says %a", tmp, v, ref);
    }
    sp_double_format(v, text, sizeof(text));
    if (sp_valid_value_str(text, strlen(text), &back, &e) != CTSPOOL_OK ||
        memcmp(&back, &v, sizeof(v)) != 0) {
        fz_fail("canonical text \"%s\" of %a does not parse back", text, v);
    }
}

static void
check_agg(const char *s, size_t len, const uint8_t *in, size_t in_len)
{
    struct sp_err e;
    int agg = -1;
    ctspool_rc rc = sp_valid_agg(s, len, &agg, &e);

    if (rc == CTSPOOL_E_INVALID) {
        fz_check_msg(&e, "metric_agg_func: ", in, in_len);
        return;
    }
    if (rc != CTSPOOL_OK || !sp_agg_name(agg) ||
        strlen(sp_agg_name(agg)) != len ||
        memcmp(sp_agg_name(agg), s, len) != 0) {
        fz_fail("aggregation \"%.*s\" accepted as %d", (int)len, s, agg);
    }
}

static void
check_timestamp_num(const uint8_t *data)
{
    double v;
    int64_t hour = -1;
    struct sp_err e;
    ctspool_rc rc;

    memcpy(&v, data, sizeof(v));
    rc = sp_valid_timestamp_num(v, &hour, &e);
    if (rc == CTSPOOL_E_INVALID) {
        fz_check_msg(&e, "timestamp: ", NULL, 0);
        return;
    }
    if (rc != CTSPOOL_OK || (double)hour * 3600.0 != v) {
        fz_fail("timestamp %a accepted as hour %lld", v, (long long)hour);
    }
    check_hour_text(hour);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_dup(data, size);

    check_timestamp(s, size, data, size);
    check_value_text(s, size, data, size);
    check_agg(s, size, data, size);
    if (size == sizeof(double)) {
        check_timestamp_num(data);
    }
    free(s);
    return 0;
}
