/*
 * timefmt.c -- hours since 1970: the timestamp of a point, given as text
 * or as a JSON number, checked and turned into an hour number, and the
 * canonical text of an hour ("YYYY-MM-DD HH:00:00").  Messages follow
 * validate.c's invariants.  No I/O, no allocation, no global state.
 *
 * Invariant: hours count from 1970-01-01T00:00:00Z; dates are computed
 * with the proleptic Gregorian calendar (days_from_civil), never the C
 * library.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sp_int.h"
#include "utf8.h"

/* 10000-01-01T00:00:00Z in Unix seconds: timestamps must be below. */
#define SECS_LIMIT INT64_C(253402300800)
/* Unix seconds that are a date once divided by 1000 were most likely
 * written in milliseconds. */
#define MILLIS_HINT " (it looks like milliseconds: Unix seconds are expected)"

#define TS_EXPECTED                                                       \
    "(expected \"YYYY-MM-DD HH:00:00\", \"YYYY-MM-DDTHH:00:00Z\" or "    \
    "Unix seconds)"
#define HOURLY "upstream takes hourly data"

static const char *const month_names[12] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

/* ---- calendar --------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Inverse of days_from_civil. */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int
is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
days_in_month(unsigned y, unsigned m)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30,
                                            31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29u : mdays[m - 1];
}

/* ---- timestamp -------------------------------------------------------- */

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* n decimal digits at s into *out; 0 if one is not a digit. */
static int
parse_digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;

    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) {
            return 0;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 1;
}

/*
 * Common rules for Unix seconds already known to be >= 0: below the year
 * 10000 and on the hour.  shown: how the input appears in messages.
 */
static ctspool_rc
check_secs(int64_t secs, const char *shown, int64_t *hour, struct sp_err *e)
{
    if (secs >= SECS_LIMIT) {
        sp_err_set(e, "timestamp: %s is after the year 9999%s", shown,
                   secs / 1000 < SECS_LIMIT ? MILLIS_HINT : "");
        return CTSPOOL_E_INVALID;
    }
    if (secs % 3600 != 0) {
        sp_err_set(e,
                   "timestamp: %s is not on the hour: Unix seconds must be "
                   "a multiple of 3600 (" HOURLY ")",
                   shown);
        return CTSPOOL_E_INVALID;
    }
    *hour = secs / 3600;
    return CTSPOOL_OK;
}

/* s is [-]digits: Unix seconds. */
static ctspool_rc
timestamp_secs(const char *s, size_t len, int64_t *hour, struct sp_err *e)
{
    char q[SP_QUOTE_BUF];
    int neg = s[0] == '-';
    int64_t secs = 0;

    for (size_t i = (size_t)neg; i < len; i++) {
        if (secs >= SECS_LIMIT) {
            secs = INT64_MAX; /* more digits to come: far out of range */
            break;
        }
        secs = secs * 10 + (s[i] - '0');
    }
    if (!neg && secs < SECS_LIMIT && secs % 3600 == 0) {
        *hour = secs / 3600;
        return CTSPOOL_OK; /* the common case: no message to prepare */
    }
    sp_utf8_quote(s, len, q, sizeof(q));
    if (neg && secs != 0) {
        sp_err_set(e,
                   "timestamp: %s is before 1970-01-01 (negative Unix "
                   "seconds are not accepted)",
                   q);
        return CTSPOOL_E_INVALID;
    }
    return check_secs(secs, q, hour, e);
}

/*
 * A UTC offset at s: "+HH:MM", "+HHMM" or "+HH" (or '-').  Returns 1 and
 * the minutes east of UTC in *minutes, or 0 if s is not an offset.
 */
static int
parse_offset(const char *s, size_t len, int *minutes)
{
    unsigned hh, mm = 0;

    if (len < 3 || (s[0] != '+' && s[0] != '-') ||
        !parse_digits(s + 1, 2, &hh)) {
        return 0;
    }
    if (len == 6) {
        if (s[3] != ':' || !parse_digits(s + 4, 2, &mm)) {
            return 0;
        }
    } else if (len == 5) {
        if (!parse_digits(s + 3, 2, &mm)) {
            return 0;
        }
    } else if (len != 3) {
        return 0;
    }
    *minutes = (int)(hh * 60 + mm) * (s[0] == '-' ? -1 : 1);
    return 1;
}

/*
 * [-]digits are Unix seconds; anything else must be the date-time form.
 * The space form accepts the same optional "Z" / "+00:00" as the T form.
 * The first rule broken is reported, in this order: format, year, date,
 * hour, offset, minutes, seconds, fraction.
 */
ctspool_rc
sp_valid_timestamp_str(const char *s, size_t len, int64_t *hour,
                       struct sp_err *e)
{
    char q[SP_QUOTE_BUF], why[128];
    unsigned y, mo, d, h, mi, sec;
    int frac_nonzero = 0, off_minutes = 0, has_offset = 0;
    size_t i;

    if (len == 0) {
        sp_err_set(e, "timestamp: is empty " TS_EXPECTED);
        return CTSPOOL_E_INVALID;
    }
    i = s[0] == '-' ? 1 : 0;
    if (i < len) {
        while (i < len && is_digit(s[i])) {
            i++;
        }
        if (i == len) {
            return timestamp_secs(s, len, hour, e);
        }
    }
    if (len < 19 || s[4] != '-' || s[7] != '-' ||
        (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' ||
        !parse_digits(s, 4, &y) || !parse_digits(s + 5, 2, &mo) ||
        !parse_digits(s + 8, 2, &d) || !parse_digits(s + 11, 2, &h) ||
        !parse_digits(s + 14, 2, &mi) || !parse_digits(s + 17, 2, &sec)) {
        goto bad_format;
    }
    i = 19;
    if (i < len && s[i] == '.') {
        size_t start = ++i;

        while (i < len && is_digit(s[i])) {
            frac_nonzero |= s[i] != '0';
            i++;
        }
        if (i == start) {
            goto bad_format;
        }
    }
    if (i < len) {
        if (s[i] == 'Z' && i + 1 == len) {
            i++;
        } else if (parse_offset(s + i, len - i, &off_minutes)) {
            has_offset = 1;
        } else {
            goto bad_format;
        }
    }
    if (y < 1970) {
        snprintf(why, sizeof(why), "year %u is before 1970", y);
        goto fail;
    }
    if (mo < 1 || mo > 12) {
        snprintf(why, sizeof(why),
                 "the date does not exist: there is no month %02u", mo);
        goto fail;
    }
    if (d == 0) {
        snprintf(why, sizeof(why),
                 "the date does not exist: there is no day 00");
        goto fail;
    }
    if (d > days_in_month(y, mo)) {
        snprintf(why, sizeof(why),
                 "the date does not exist: %s %u has %u days",
                 month_names[mo - 1], y, days_in_month(y, mo));
        goto fail;
    }
    if (h > 23) {
        snprintf(why, sizeof(why),
                 "hour %02u does not exist: hours run from 00 to 23", h);
        goto fail;
    }
    if (has_offset) {
        /* parse_offset() let through only sign, digits and ':'. */
        int off_len = (int)(len - i);

        if (off_minutes != 0) {
            snprintf(why, sizeof(why),
                     "only UTC is accepted; offset %.*s is not (convert "
                     "the time to UTC)",
                     off_len, s + i);
            goto fail;
        }
        if (off_len != 6 || s[i] != '+') {
            snprintf(why, sizeof(why),
                     "write the UTC offset as Z or +00:00, not %.*s",
                     off_len, s + i);
            goto fail;
        }
    }
    if (mi != 0) {
        snprintf(why, sizeof(why), "minutes must be zero: " HOURLY);
        goto fail;
    }
    if (sec != 0) {
        snprintf(why, sizeof(why), "seconds must be zero: " HOURLY);
        goto fail;
    }
    if (frac_nonzero) {
        snprintf(why, sizeof(why),
                 "fractions of a second must be zero: " HOURLY);
        goto fail;
    }
    *hour = days_from_civil(y, mo, d) * 24 + h;
    return CTSPOOL_OK;

fail:
    sp_err_set(e, "timestamp: %s (got %s)", why,
               sp_utf8_quote(s, len, q, sizeof(q)));
    return CTSPOOL_E_INVALID;

bad_format:
    sp_err_set(e, "timestamp: %s is not a valid timestamp " TS_EXPECTED,
               sp_utf8_quote(s, len, q, sizeof(q)));
    return CTSPOOL_E_INVALID;
}

ctspool_rc
sp_valid_timestamp_num(double v, int64_t *hour, struct sp_err *e)
{
    char num[32];

    if (!isfinite(v)) {
        sp_err_set(e, "timestamp: is not a finite number " TS_EXPECTED);
        return CTSPOOL_E_INVALID;
    }
    sp_double_format(v, num, sizeof(num));
    if (v < 0) {
        sp_err_set(e,
                   "timestamp: %s is before 1970-01-01 (negative Unix "
                   "seconds are not accepted)",
                   num);
        return CTSPOOL_E_INVALID;
    }
    if (v >= (double)SECS_LIMIT) {
        sp_err_set(e, "timestamp: %s is after the year 9999%s", num,
                   v / 1000 < (double)SECS_LIMIT ? MILLIS_HINT : "");
        return CTSPOOL_E_INVALID;
    }
    if (v != floor(v)) {
        sp_err_set(e,
                   "timestamp: %s is not a whole number of seconds "
                   "(" HOURLY ")",
                   num);
        return CTSPOOL_E_INVALID;
    }
    return check_secs((int64_t)v, num, hour, e);
}

/* ---- canonical text --------------------------------------------------- */

/* Write v (0 <= v < 10^width) as width zero-padded digits at p. */
static void
put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Exact for years 0..9999; other hours still give NUL-terminated text. */
void
sp_hour_format(int64_t hour, char *buf, size_t buf_len)
{
    int64_t days = hour / 24, y;
    int64_t hh = hour % 24;
    unsigned m, d;

    if (!buf || buf_len == 0) {
        return;
    }
    if (hh < 0) {
        hh += 24;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999 || buf_len < 20) {
        /* Not from a validated point, or a short buffer: still text. */
        snprintf(buf, buf_len, "%04lld-%02u-%02u %02u:00:00", (long long)y,
                 m, d, (unsigned)hh);
        return;
    }
    put_digits(buf, (unsigned)y, 4);
    buf[4] = '-';
    put_digits(buf + 5, m, 2);
    buf[7] = '-';
    put_digits(buf + 8, d, 2);
    buf[10] = ' ';
    put_digits(buf + 11, (unsigned)hh, 2);
    memcpy(buf + 13, ":00:00", 7); /* with the NUL */
}
