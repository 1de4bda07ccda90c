/*
 * canon.c -- canonical forms the mock receiver agrees on with upstream:
 * the record and event IDs (SHA-256 of a length-prefixed encoding), the
 * hourly
 * timestamp "YYYY-MM-DD HH:00:00", numbers printed so they read back to
 * the same double, and JSON string escaping.  Also the abort-on-OOM
 * allocation helpers and the growable buffer every other file uses.
 *
 * Pure functions apart from the SHA-256 handle fetched once by
 * mock_canon_init(); everything here is thread-safe after that.
 */
#include "mock.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

static EVP_MD *sha256_md;

void *
mock_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p) {
        fprintf(stderr, "ctspool-mock-receiver: out of memory (%zu bytes)\n",
                n);
        abort();
    }
    return p;
}

void *
mock_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q) {
        fprintf(stderr, "ctspool-mock-receiver: out of memory (%zu bytes)\n",
                n);
        abort();
    }
    return q;
}

char *
mock_xstrdup(const char *s)
{
    size_t len = strlen(s);
    char *p = mock_xmalloc(len + 1);

    memcpy(p, s, len + 1);
    return p;
}

void
mock_buf_reserve(struct mock_buf *b, size_t extra)
{
    size_t need;

    if (extra > SIZE_MAX - b->len - 1) {
        fprintf(stderr, "ctspool-mock-receiver: buffer size overflow\n");
        abort();
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    b->p = mock_xrealloc(b->p, cap);
    b->cap = cap;
}

void
mock_buf_add(struct mock_buf *b, const void *data, size_t len)
{
    mock_buf_reserve(b, len);
    if (len) {
        memcpy(b->p + b->len, data, len);
    }
    b->len += len;
    b->p[b->len] = '\0';
}

void
mock_buf_adds(struct mock_buf *b, const char *s)
{
    mock_buf_add(b, s, strlen(s));
}

void
mock_buf_printf(struct mock_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    mock_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void
mock_buf_json_string(struct mock_buf *b, const char *s, size_t len)
{
    static const char hexd[] = "0123456789abcdef";
    size_t i, run = 0;

    /* Worst case every byte becomes \u00XX. */
    mock_buf_reserve(b, len * 6 + 2);
    b->p[b->len++] = '"';
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        memcpy(b->p + b->len, s + i - run, run);
        b->len += run;
        run = 0;
        b->p[b->len++] = '\\';
        switch (c) {
        case '"':
        case '\\':
            b->p[b->len++] = (char)c;
            break;
        case '\n':
            b->p[b->len++] = 'n';
            break;
        case '\r':
            b->p[b->len++] = 'r';
            break;
        case '\t':
            b->p[b->len++] = 't';
            break;
        default:
            b->p[b->len++] = 'u';
            b->p[b->len++] = '0';
            b->p[b->len++] = '0';
            b->p[b->len++] = hexd[c >> 4];
            b->p[b->len++] = hexd[c & 15];
            break;
        }
    }
    memcpy(b->p + b->len, s + len - run, run);
    b->len += run;
    b->p[b->len++] = '"';
    b->p[b->len] = '\0';
}

void
mock_buf_cleanup(struct mock_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

int
mock_canon_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    return sha256_md ? 0 : -1;
}

void
mock_canon_cleanup(void)
{
    EVP_MD_free(sha256_md);
    sha256_md = NULL;
}

static size_t
put_item(unsigned char *out, const char *s, size_t len)
{
    out[0] = (unsigned char)(len >> 24);
    out[1] = (unsigned char)(len >> 16);
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
    memcpy(out + 4, s, len);
    return len + 4;
}

void
mock_record_id(const char *name, size_t name_len, const char *agg,
               const struct mock_dim *dims, size_t n_dims,
               uint8_t out[MOCK_RID_LEN])
{
    /* Bounded by the validation limits: 4+256, 4+7, 10 x (4+128+4+256). */
    unsigned char enc[8192];
    size_t len = 0, i;
    unsigned int md_len = 0;

    if (name_len > MOCK_MAX_NAME_LEN || strlen(agg) > 16 ||
        n_dims > MOCK_MAX_DIMS) {
        abort();
    }
    len += put_item(enc + len, name, name_len);
    len += put_item(enc + len, agg, strlen(agg));
    for (i = 0; i < n_dims; i++) {
        if (dims[i].key_len > MOCK_MAX_KEY_LEN ||
            dims[i].value_len > MOCK_MAX_NAME_LEN) {
            abort();
        }
        len += put_item(enc + len, dims[i].key, dims[i].key_len);
        len += put_item(enc + len, dims[i].value, dims[i].value_len);
    }
    if (!EVP_Digest(enc, len, out, &md_len, sha256_md, NULL) ||
        md_len != MOCK_RID_LEN) {
        fprintf(stderr, "ctspool-mock-receiver: SHA-256 failed\n");
        abort();
    }
}

void
mock_event_id(int32_t hour, int64_t team_id, const char *type,
              size_t type_len, const char *desc, size_t desc_len,
              const char *url, size_t url_len, uint8_t out[MOCK_RID_LEN])
{
    /* Bounded by the limits: 4+19, 4+20, 4+256, 4+4000, 4+2048. */
    unsigned char enc[8192];
    char ts[MOCK_TS_LEN + 1], team[24] = "";
    size_t len = 0;
    unsigned int md_len = 0;

    if (type_len > MOCK_MAX_TYPE_LEN ||
        desc_len > 4 * MOCK_MAX_DESC_CHARS || url_len > MOCK_MAX_URL_LEN) {
        abort();
    }
    mock_format_hour(hour, ts);
    if (team_id > 0) {
        snprintf(team, sizeof(team), "%lld", (long long)team_id);
    }
    len += put_item(enc + len, ts, MOCK_TS_LEN);
    len += put_item(enc + len, team, strlen(team));
    len += put_item(enc + len, type, type_len);
    len += put_item(enc + len, desc, desc_len);
    len += put_item(enc + len, url ? url : "", url ? url_len : 0);
    if (!EVP_Digest(enc, len, out, &md_len, sha256_md, NULL) ||
        md_len != MOCK_RID_LEN) {
        fprintf(stderr, "ctspool-mock-receiver: SHA-256 failed\n");
        abort();
    }
}

static int
dim_cmp(const struct mock_dim *a, const struct mock_dim *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);

    if (c != 0) {
        return c;
    }
    return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

void
mock_dims_sort(struct mock_dim *dims, size_t n_dims)
{
    size_t i, j;

    /* Insertion sort: at most MOCK_MAX_DIMS entries. */
    for (i = 1; i < n_dims; i++) {
        struct mock_dim d = dims[i];
        for (j = i; j > 0 && dim_cmp(&dims[j - 1], &d) > 0; j--) {
            dims[j] = dims[j - 1];
        }
        dims[j] = d;
    }
}

void
mock_hex(const uint8_t *bytes, size_t len, char *out)
{
    static const char hexd[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = hexd[bytes[i] >> 4];
        out[2 * i + 1] = hexd[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

static int
digits(const char *s, size_t n, unsigned *out)
{
    size_t i;
    unsigned v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/*
 * The calendar is the C library's (timegm, gmtime_r), not a copy of the
 * code under test: a date exists when it survives the round trip through
 * time_t unchanged (timegm moves Feb 30 to March, hour 24 to the next
 * day, and so on).
 */
int
mock_parse_hour(const char *s, size_t len, int32_t *hour)
{
    unsigned y, mo, d, h;
    struct tm tm, back;
    time_t t;

    if (len != MOCK_TS_LEN || s[4] != '-' || s[7] != '-' || s[10] != ' ' ||
        s[13] != ':' || s[16] != ':' || digits(s, 4, &y) ||
        digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || memcmp(s + 13, ":00:00", 6) != 0) {
        return -1;
    }
    if (y < 1) {
        return -2; /* years 0001-9999 */
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = (int)y - 1900;
    tm.tm_mon = (int)mo - 1;
    tm.tm_mday = (int)d;
    tm.tm_hour = (int)h;
    t = timegm(&tm);
    if (t == (time_t)-1 || !gmtime_r(&t, &back) ||
        back.tm_year != (int)y - 1900 || back.tm_mon != (int)mo - 1 ||
        back.tm_mday != (int)d || back.tm_hour != (int)h) {
        return -2;
    }
    *hour = (int32_t)(t / 3600);
    return 0;
}

static void
put_digits(char *out, unsigned v, int n)
{
    while (n-- > 0) {
        out[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

void
mock_format_hour(int32_t hour, char *out)
{
    time_t t = (time_t)hour * 3600;
    struct tm tm;

    memcpy(out, "0000-00-00 00:00:00", MOCK_TS_LEN + 1);
    if (!gmtime_r(&t, &tm)) {
        return;
    }
    put_digits(out, (unsigned)(tm.tm_year + 1900), 4);
    put_digits(out + 5, (unsigned)tm.tm_mon + 1, 2);
    put_digits(out + 8, (unsigned)tm.tm_mday, 2);
    put_digits(out + 11, (unsigned)tm.tm_hour, 2);
}

void
mock_format_double(double v, char out[MOCK_NUM_LEN])
{
    static const int precisions[] = {15, 16, 17};
    size_t i;

    for (i = 0; i < 3; i++) {
        snprintf(out, MOCK_NUM_LEN, "%.*g", precisions[i], v);
        if (strtod(out, NULL) == v && signbit(strtod(out, NULL)) ==
            signbit(v)) {
            return;
        }
    }
}

int
mock_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        size_t n, k;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n) {
            return 0;
        }
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

size_t
mock_utf8_count(const char *s, size_t len)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}
