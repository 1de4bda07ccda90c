/*
 * buf.c -- the growable byte buffer every part of ctspool builds text
 * and bytes in (request bodies, answers, input lines, batch arenas), and
 * reads input into (sp_buf_read()).
 *
 * Invariants:
 * (1) While cap > 0, p[len] == '\0': the contents are always a C string
 *     too (binary contents may hold NULs of their own).
 * (2) Growth never wraps: a size that would pass SIZE_MAX fails.
 * (3) A failure is sticky: has_failed stays set (until sp_buf_reset),
 *     later additions do nothing and return -1, so a caller may check
 *     once at the end.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_int.h"

#define FIRST_CAP 256
#define READ_FIRST_CAP ((size_t)64 * 1024) /* sp_buf_read(): one read */

void
sp_buf_init(struct sp_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void
sp_buf_cleanup(struct sp_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void
sp_buf_reset(struct sp_buf *b)
{
    b->len = 0;
    b->has_failed = 0;
    if (b->cap) {
        b->p[0] = '\0';
    }
}

void
sp_buf_truncate(struct sp_buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->p[len] = '\0'; /* invariant 1 */
    }
}

void
sp_buf_drop(struct sp_buf *b, size_t n)
{
    if (n >= b->len) {
        sp_buf_truncate(b, 0);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    sp_buf_truncate(b, b->len - n);
}

int
sp_buf_reserve_max(struct sp_buf *b, size_t n, size_t max)
{
    size_t cap;
    char *p;

    if (b->has_failed) {
        return -1;
    }
    if (b->cap > b->len && b->cap - b->len > n) {
        return 0;
    }
    if (max > SIZE_MAX / 2) {
        max = SIZE_MAX / 2; /* invariant 2: max + 1 cannot wrap */
    }
    if (b->len > max || n > max - b->len) {
        b->has_failed = 1;
        return -1;
    }
    cap = b->cap ? b->cap : FIRST_CAP;
    if (cap > max) {
        cap = max + 1; /* a first allocation for a small buffer */
    }
    while (cap - b->len <= n) {
        /* Doubling, up to room for max bytes: b->len + n <= max. */
        cap = cap <= max / 2 ? cap * 2 : max + 1;
    }
    p = realloc(b->p, cap);
    if (!p) {
        b->has_failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    b->p[b->len] = '\0';
    return 0;
}

int
sp_buf_reserve_exact(struct sp_buf *b, size_t n)
{
    char *p;

    if (b->has_failed) {
        return -1;
    }
    if (b->cap > b->len && b->cap - b->len > n) {
        return 0;
    }
    if (n > SIZE_MAX - 1 - b->len) {
        b->has_failed = 1; /* invariant 2 */
        return -1;
    }
    p = realloc(b->p, b->len + n + 1);
    if (!p) {
        b->has_failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = b->len + n + 1;
    b->p[b->len] = '\0';
    return 0;
}

/* sp_buf_add() (sp_int.h) when b must grow first (or has failed). */
int
sp_buf_add_grow(struct sp_buf *b, const void *data, size_t n)
{
    if (sp_buf_reserve(b, n) != 0) {
        return -1;
    }
    if (n) {
        memcpy(b->p + b->len, data, n);
    }
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int
sp_buf_addf(struct sp_buf *b, const char *fmt, ...)
{
    va_list ap, again;
    int n, r = -1;

    va_start(ap, fmt);
    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    if (n >= 0 && sp_buf_reserve(b, (size_t)n) == 0) {
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, again);
        b->len += (size_t)n;
        r = 0;
    } else if (n < 0) {
        b->has_failed = 1;
    }
    va_end(again);
    va_end(ap);
    return r;
}

ctspool_rc
sp_buf_read(struct sp_buf *b, struct sp_src *s, size_t max, size_t *n)
{
    size_t left, room;
    ssize_t r;

    *n = 0;
    if (b->has_failed) {
        return CTSPOOL_E_NOMEM;
    }
    if (b->len >= max) {
        return CTSPOOL_E_FULL;
    }
    left = max - b->len;
    if (b->cap <= b->len + 1) {
        /* No room: double the capacity, at first to READ_FIRST_CAP. */
        room = b->cap ? b->cap : READ_FIRST_CAP - 1;
        if (sp_buf_reserve_max(b, room < left ? room : left, max) != 0) {
            return CTSPOOL_E_NOMEM;
        }
    }
    room = b->cap - b->len - 1;
    r = sp_src_read(s, b->p + b->len, room < left ? room : left);
    if (r < 0) {
        return CTSPOOL_E_IO; /* errno says why */
    }
    b->len += (size_t)r;
    b->p[b->len] = '\0';
    *n = (size_t)r;
    return CTSPOOL_OK;
}
