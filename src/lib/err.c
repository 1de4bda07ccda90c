/*
 * err.c -- the result-code table (generated from CTSPOOL_ERRORS) and
 * formatting of error detail (struct sp_err).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_int.h"

struct rc_entry {
    ctspool_rc rc;
    const char *name;
    const char *text;
};

static const struct rc_entry rc_table[] = {
#define X(name, num, text) {CTSPOOL_##name, "CTSPOOL_" #name, text},
    CTSPOOL_ERRORS(X)
#undef X
};

static const struct rc_entry *
rc_find(ctspool_rc rc)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(rc_table); i++) {
        if (rc_table[i].rc == rc) {
            return &rc_table[i];
        }
    }
    return NULL;
}

CTSPOOL_EXTERN const char *
ctspool_strerror(ctspool_rc rc)
{
    const struct rc_entry *e = rc_find(rc);

    return e ? e->text : "unknown error";
}

CTSPOOL_EXTERN const char *
ctspool_errname(ctspool_rc rc)
{
    const struct rc_entry *e = rc_find(rc);

    return e ? e->name : "CTSPOOL_E_UNKNOWN";
}

CTSPOOL_EXTERN unsigned
ctspool_version(void)
{
    return CTSPOOL_VERSION_NUM;
}

CTSPOOL_EXTERN const char *
ctspool_version_string(void)
{
    return CTSPOOL_VERSION_STRING;
}

void
sp_err_set(struct sp_err *e, const char *fmt, ...)
{
    va_list ap;

    if (!e) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

void
sp_err_prefix(struct sp_err *e, const char *fmt, ...)
{
    char buf[sizeof(e->msg)];
    size_t n, old_len;
    int w;
    va_list ap;

    if (!e) {
        return;
    }
    va_start(ap, fmt);
    w = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (w < 0) {
        return;
    }
    n = strlen(buf);
    old_len = strnlen(e->msg, sizeof(e->msg) - 1);
    if (n + old_len > sizeof(buf) - 1) {
        old_len = sizeof(buf) - 1 - n; /* truncate the tail */
    }
    memcpy(buf + n, e->msg, old_len);
    buf[n + old_len] = '\0';
    memcpy(e->msg, buf, n + old_len + 1);
}

void
sp_err_offsets_from(struct sp_err *e, uint64_t base)
{
    static const char mark[] = "byte offset ";
    char out[sizeof(e->msg)];
    const char *s = e->msg, *hit;
    size_t n = 0;

    while ((hit = strstr(s, mark)) != NULL && n < sizeof(out)) {
        const char *digits = hit + sizeof(mark) - 1;
        char *end;
        unsigned long long v;

        if (!isdigit((unsigned char)*digits)) {
            break;
        }
        v = strtoull(digits, &end, 10);
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%.*s%llu",
                              (int)(digits - s), s,
                              v + (unsigned long long)base);
        s = end;
    }
    if (n >= sizeof(out)) {
        return; /* would not fit: the message stays as it was */
    }
    snprintf(out + n, sizeof(out) - n, "%s", s);
    memcpy(e->msg, out, sizeof(out));
}
