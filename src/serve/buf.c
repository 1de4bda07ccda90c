/*
 * buf.c -- a growable text buffer for the answers `serve` builds (JSON
 * error lists, the Prometheus exposition).  An allocation failure is
 * sticky: the buffer stops growing and sv_buf_take() returns NULL, so
 * callers check once at the end.  JSON strings are escaped by cJSON
 * (answers are not a hot path).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "serve.h"

void
sv_buf_init(struct sv_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void
sv_buf_cleanup(struct sv_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Room for n more bytes plus the NUL; 0 or -1 (failed). */
static int
reserve(struct sv_buf *b, size_t n)
{
    size_t cap;
    char *p;

    if (b->has_failed) {
        return -1;
    }
    if (b->cap - b->len > n) {
        return 0;
    }
    cap = b->cap ? b->cap : 256;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2) {
            b->has_failed = 1;
            return -1;
        }
        cap *= 2;
    }
    p = realloc(b->p, cap);
    if (!p) {
        b->has_failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void
sv_buf_add(struct sv_buf *b, const char *s, size_t len)
{
    if (reserve(b, len) != 0) {
        return;
    }
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void
sv_buf_adds(struct sv_buf *b, const char *s)
{
    sv_buf_add(b, s, strlen(s));
}

void
sv_buf_addf(struct sv_buf *b, const char *fmt, ...)
{
    va_list ap, again;
    int n;

    va_start(ap, fmt);
    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    if (n >= 0 && reserve(b, (size_t)n) == 0) {
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s[0..len), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t len)
{
    size_t n;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
    } else {
        return 0;
    }
    if (n > len || !sp_utf8_valid((const char *)s, n)) {
        return 0;
    }
    return n;
}

void
sv_buf_add_json(struct sv_buf *b, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    struct sv_buf clean;
    cJSON *item = NULL;
    char *text = NULL;
    size_t i = 0, n;

    if (b->has_failed) {
        return;
    }
    /* cJSON copies bytes >= 0x80 as they are: only UTF-8 may reach it,
     * for the answer to be valid JSON. */
    sv_buf_init(&clean);
    sv_buf_add(&clean, "", 0);
    while (i < len && u[i] != '\0') {
        n = utf8_len(u + i, len - i);
        if (n) {
            sv_buf_add(&clean, s + i, n);
            i += n;
        } else {
            sv_buf_adds(&clean, "\xEF\xBF\xBD"); /* U+FFFD */
            i++;
        }
    }
    if (!clean.has_failed) {
        item = cJSON_CreateString(clean.p);
    }
    if (item) {
        text = cJSON_PrintUnformatted(item);
    }
    if (text) {
        sv_buf_adds(b, text);
    } else {
        b->has_failed = 1;
    }
    cJSON_free(text);
    cJSON_Delete(item);
    sv_buf_cleanup(&clean);
}

char *
sv_buf_take(struct sv_buf *b, size_t *len)
{
    char *p = NULL;

    if (!b->has_failed && reserve(b, 0) == 0) {
        p = b->p;
        *len = b->len;
        b->p = NULL;
    }
    sv_buf_cleanup(b);
    return p;
}
