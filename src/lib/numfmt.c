/*
 * numfmt.c -- the canonical text of a value: the shortest decimal that
 * strtod() reads back as the same double, always JSON number text, with
 * fast paths for whole numbers and short decimals; and the other way, the
 * double a JSON number's text stands for.  No allocation, no global
 * state.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_int.h"

/*
 * Write the decimal digits of u at the end of tmp[0..tmp_len); returns
 * where they start.
 */
static size_t
put_u64(char *tmp, size_t tmp_len, uint64_t u)
{
    size_t o = tmp_len;

    do {
        tmp[--o] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    return o;
}

/* 10^n for n <= 15: each an exact double (5^15 < 2^53), as the fast
 * paths below need. */
static const double powers_of_ten[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                       1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15};

/* Decimal places format_short_decimal() tries. */
#define SHORT_PLACES 6

/*
 * Fast path of sp_double_format for short decimals (12.5, 0.25, 99.95),
 * the usual metric values: v = m / 10^n with n <= 6 and m below 1e15.
 * Returns the length of the text it put in buf (>= 32 bytes) if that
 * parses back to v: such a text has at most 15 significant digits and
 * lies within half an ulp of v, so it is what %.15g prints (|v| in
 * [1e-4, 1e15): no exponent).  Returns 0 to let the caller take the
 * general path.
 *
 * "Parses back" needs no strtod(): the text is the decimal m / 10^n with
 * m < 2^53 and 10^n <= 1e6, both exact doubles, so the double strtod()
 * rounds it to is the correctly rounded quotient IEEE division gives.
 */
static size_t
format_short_decimal(double v, char *buf)
{
    double a = fabs(v), m = 0, back;
    size_t n_digits = 1, n_frac = 0, len;
    uint64_t mi;
    char *e;

    if (!(a >= 1e-4 && a < 1e15)) {
        return 0;
    }
    for (size_t n = 1; n <= SHORT_PLACES; n++) {
        m = a * powers_of_ten[n];
        if (m >= 1e15) {
            return 0;
        }
        if (m == (double)(uint64_t)m) { /* whole: m < 1e15 */
            n_frac = n;
            break;
        }
    }
    if (n_frac == 0) {
        return 0;
    }
    mi = (uint64_t)m; /* >= 1: a * 10^n >= 1e-3 is whole */
    while (n_frac > 0 && mi % 10 == 0) {
        /* 12.50: a rounding artefact of a * 10^n; drop the zero. */
        mi /= 10;
        n_frac--;
    }
    back = (double)mi / powers_of_ten[n_frac]; /* n_frac 0: / 1, exact */
    if (back != a) {
        return 0; /* a > 0: no -0.0 to tell apart */
    }
    for (uint64_t t = mi; t >= 10; t /= 10) {
        n_digits++;
    }
    /* [-][int digits, or 0][.frac digits], written from its end. */
    len = (signbit(v) ? 1 : 0) + (n_frac ? 1 + n_frac : 0) +
          (n_digits > n_frac ? n_digits - n_frac : 1);
    e = buf + len;
    *e = '\0';
    for (size_t i = 0; i < n_frac; i++) {
        *--e = (char)('0' + mi % 10); /* past mi's digits: zeros */
        mi /= 10;
    }
    if (n_frac) {
        *--e = '.';
    }
    do {
        *--e = (char)('0' + mi % 10);
        mi /= 10;
    } while (mi > 0);
    if (signbit(v)) {
        *--e = '-';
    }
    return len;
}

/*
 * The first of %.15g, %.16g, %.17g that strtod() reads back as the same
 * bits (so -0 stays "-0"), with fast paths for whole numbers and short
 * decimals that print exactly the same text.  Always JSON number text
 * for a finite v.  Returns its length.
 */
size_t
sp_double_format(double v, char *buf, size_t buf_len)
{
    double back;
    size_t len;

    assert(isfinite(v)); /* callers guarantee it */
    if (!buf || buf_len == 0) {
        return 0;
    }
    if (!isfinite(v)) {
        /* Still JSON, and upstream rejects it rather than storing 0. */
        snprintf(buf, buf_len, "null");
        return strlen(buf);
    }
    /* Fast path: whole numbers below 1e15 print as %.15g would. */
    if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v &&
        !(v == 0 && signbit(v)) && buf_len >= 18) {
        char tmp[24];
        int64_t n = (int64_t)v;
        uint64_t u = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
        size_t o = put_u64(tmp, sizeof(tmp), u);

        if (n < 0) {
            tmp[--o] = '-';
        }
        len = sizeof(tmp) - o;
        memcpy(buf, tmp + o, len);
        buf[len] = '\0';
        return len;
    }
    if (buf_len >= 32 && (len = format_short_decimal(v, buf)) > 0) {
        return len;
    }
    /* XXX: snprintf() and strtod() follow LC_NUMERIC; ctspool's programs
     * never change it from "C". */
    for (int prec = 15; prec <= 16; prec++) {
        snprintf(buf, buf_len, "%.*g", prec, v);
        back = strtod(buf, NULL);
        /* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison) */
        if (memcmp(&back, &v, sizeof(v)) == 0) {
            return strlen(buf);
        }
    }
    snprintf(buf, buf_len, "%.17g", v); /* always round-trips */
    return strlen(buf);
}

/*
 * The double strtod(s, NULL) gives for the JSON number text s[0..len)
 * (as yajl accepted it; NUL-terminated), without strtod() for the usual
 * short decimals: with no exponent and at most 15 digits in all, the
 * text is m / 10^n with m < 10^15 < 2^53 and n <= 15, both exact
 * doubles, so the correctly rounded quotient IEEE division
 * gives is what strtod() rounds the decimal to (Clinger's fast path).
 * "-0" and "-0.0" give -0.0, as strtod() does.  Anything else is left
 * to strtod().  XXX: strtod() follows LC_NUMERIC; ctspool's programs
 * never change it from "C", which this path assumes.
 */
double
sp_json_number_value(const char *s, size_t len)
{
    size_t i = 0, n_digits = 0, n_frac = 0;
    int is_neg = 0, in_frac = 0;
    uint64_t m = 0;
    double v;

    if (i < len && s[i] == '-') {
        is_neg = 1;
        i++;
    }
    for (; i < len; i++) {
        char c = s[i];

        if (c >= '0' && c <= '9') {
            if (++n_digits > 15) {
                return strtod(s, NULL);
            }
            m = m * 10 + (uint64_t)(c - '0');
            n_frac += (size_t)in_frac;
        } else if (c == '.' && !in_frac) {
            in_frac = 1;
        } else {
            return strtod(s, NULL); /* an exponent */
        }
    }
    if (n_digits == 0) {
        return strtod(s, NULL); /* not a number yajl passed */
    }
    v = (double)m / powers_of_ten[n_frac];
    return is_neg ? -v : v;
}
