/*
 * backoff.c -- how long the drainer waits before retrying an upload:
 * capped exponential backoff with "full jitter", and the parser of the
 * HTTP Retry-After header.  Pure functions (no clock, no global random
 * state: both are parameters), so tests can pin every branch.
 *
 *   ceiling(n) = min(max, base * 2^n)      n = 0, 1, 2, ... failures - 1
 *   delay(n)   = uniform in [0, ceiling(n)]
 *
 * Invariants: (1) 0 <= delay(n) <= ceiling(n) <= max for every n,
 * including n near UINT_MAX (no overflow, no undefined shift).
 * (2) ceiling(n) is non-decreasing in n.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sp_int.h"

#define RETRY_AFTER_MAX_MS (INT64_MAX / 2)

int64_t
sp_backoff_ceiling_ms(unsigned attempt, int64_t base_ms, int64_t max_ms)
{
    int64_t c;

    if (max_ms < 0) {
        max_ms = 0;
    }
    if (base_ms < 0) {
        base_ms = 0;
    }
    if (base_ms >= max_ms) {
        return max_ms;
    }
    /* base < max here, so base * 2^attempt > max once attempt >= 63. */
    if (attempt >= 63) {
        return max_ms;
    }
    c = base_ms;
    for (unsigned i = 0; i < attempt; i++) {
        if (c > max_ms / 2) {
            return max_ms;
        }
        c *= 2;
    }
    return c < max_ms ? c : max_ms;
}

int64_t
sp_backoff_delay_ms(unsigned attempt, int64_t base_ms, int64_t max_ms,
                    sp_rand_fn rnd, void *ctx)
{
    int64_t ceiling = sp_backoff_ceiling_ms(attempt, base_ms, max_ms);

    if (ceiling <= 0) {
        return 0;
    }
    /* The modulo bias is below 2^-30 for any ceiling a config allows. */
    return (int64_t)(rnd(ctx) % ((uint64_t)ceiling + 1));
}

uint64_t
sp_rand_splitmix64(void *state)
{
    uint64_t *s = state;
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Parses an HTTP-date in one of the three forms RFC 9110 allows. */
static int
parse_http_date(const char *s, int64_t *out)
{
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate (preferred) */
        "%A, %d-%b-%y %H:%M:%S GMT", /* obsolete RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* obsolete asctime() */
    };

    for (size_t i = 0; i < SP_ARRAY_LEN(formats); i++) {
        struct tm tm;
        const char *end;

        memset(&tm, 0, sizeof(tm));
        end = strptime(s, formats[i], &tm);
        if (!end) {
            continue;
        }
        while (isspace((unsigned char)*end)) {
            end++;
        }
        if (*end) {
            continue;
        }
        *out = (int64_t)timegm(&tm);
        return 0;
    }
    return -1;
}

ctspool_rc
sp_retry_after_parse(const char *value, int64_t now, int64_t *delay_ms)
{
    const char *p = value;
    char buf[64];
    size_t len;
    int64_t when;

    *delay_ms = -1;
    if (!p) {
        return CTSPOOL_E_INVALID;
    }
    while (isspace((unsigned char)*p)) {
        p++;
    }
    len = strlen(p);
    while (len > 0 && isspace((unsigned char)p[len - 1])) {
        len--;
    }
    if (len == 0) {
        return CTSPOOL_E_INVALID;
    }
    if (isdigit((unsigned char)p[0])) {
        int64_t secs = 0;
        size_t i;

        for (i = 0; i < len && isdigit((unsigned char)p[i]); i++) {
            if (secs < RETRY_AFTER_MAX_MS / 1000) {
                secs = secs * 10 + (p[i] - '0');
            }
        }
        if (i != len) {
            return CTSPOOL_E_INVALID; /* "1.5", "10s", "1 2" */
        }
        if (secs > RETRY_AFTER_MAX_MS / 1000) {
            secs = RETRY_AFTER_MAX_MS / 1000;
        }
        *delay_ms = secs * 1000;
        return CTSPOOL_OK;
    }
    if (len >= sizeof(buf)) {
        return CTSPOOL_E_INVALID;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (parse_http_date(buf, &when) != 0) {
        return CTSPOOL_E_INVALID;
    }
    if (when <= now) {
        *delay_ms = 0;
    } else if (when - now > RETRY_AFTER_MAX_MS / 1000) {
        *delay_ms = RETRY_AFTER_MAX_MS;
    } else {
        *delay_ms = (when - now) * 1000;
    }
    return CTSPOOL_OK;
}
