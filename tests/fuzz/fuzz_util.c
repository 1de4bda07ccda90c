/*
 * fuzz_util.c -- contract checks shared by the harnesses (fuzz_util.h).
 * Independent of the code under test where it can be: the JSON writer
 * below is this file's own, not cJSON.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

/* 10000-01-01T00:00:00Z in hours: every accepted hour is below. */
#define HOUR_LIMIT (INT64_C(253402300800) / 3600)

void
fz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz contract broken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

char *
fz_dup(const uint8_t *data, size_t size)
{
    char *d = malloc(size ? size : 1);

    if (!d) {
        fz_fail("out of memory copying %zu bytes", size);
    }
    if (size) {
        memcpy(d, data, size);
    }
    return d;
}

int
fz_wide_refused(const uint8_t *in, size_t in_len, ctspool_rc rc,
                 const struct sp_err *e)
{
    const char *wide = sp_wide_bom(in, in_len);

    if (!wide) {
        return 0;
    }
    if (rc != CTSPOOL_E_INVALID || !strstr(e->msg, wide)) {
        fz_fail("a %s input read as %s: %s", wide, ctspool_errname(rc),
                rc == CTSPOOL_OK ? "" : e->msg);
    }
    fz_check_msg(e, NULL, in, in_len);
    return 1;
}

FILE *
fz_fmemopen(const char *data, size_t size)
{
    static char empty[1];
    FILE *f;

    /* fmemopen() refuses size 0 on some C libraries; an empty input is
     * one byte of buffer with nothing to read in it. */
    f = size ? fmemopen((void *)data, size, "r") : fmemopen(empty, 1, "r");
    if (!f) {
        fz_fail("fmemopen failed");
    }
    if (!size) {
        (void)fgetc(f); /* now at end of input */
    }
    return f;
}

/* ---- a minimal JSON writer, independent of cJSON ----------------------- */

struct out {
    char *buf;
    size_t len, cap;
};

static void
out_put(struct out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        char *b;

        while (o->len + n + 1 > cap) {
            cap *= 2;
        }
        b = realloc(o->buf, cap);
        if (!b) {
            fz_fail("out of memory");
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
out_str(struct out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

/* s[0..n) (valid UTF-8, no NUL) as a JSON string literal. */
static void
out_json_string(struct out *o, const char *s, size_t n)
{
    char esc[8];

    out_put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];

        if (b == '"' || b == '\\') {
            esc[0] = '\\';
            esc[1] = (char)b;
            out_put(o, esc, 2);
        } else if (b < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)b);
            out_put(o, esc, 6);
        } else {
            out_put(o, (const char *)&s[i], 1);
        }
    }
    out_put(o, "\"", 1);
}

/* ---- checks ------------------------------------------------------------ */

static int
utf8_one_line(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < len; i++) {
        if (u[i] < 0x20 || u[i] == 0x7F) {
            return 0;
        }
    }
    return sp_utf8_valid(s, len);
}

void
fz_check_msg(const struct sp_err *e, const char *prefix, const uint8_t *in,
             size_t in_len)
{
    size_t len = strnlen(e->msg, sizeof(e->msg));

    if (len == sizeof(e->msg)) {
        fz_fail("error message is not NUL-terminated");
    }
    if (len == 0) {
        fz_fail("empty error message");
    }
    if (!utf8_one_line(e->msg, len)) {
        fz_fail("error message is not one line of valid UTF-8: %s", e->msg);
    }
    if (prefix && strncmp(e->msg, prefix, strlen(prefix)) != 0) {
        fz_fail("error message does not start with \"%s\": %s", prefix,
                e->msg);
    }
    if (strstr(e->msg, FZ_SECRET_STREAM) &&
        !(in && (memmem(in, in_len, FZ_SECRET_STREAM,
                        strlen(FZ_SECRET_STREAM)) ||
                 memmem(in, in_len, "\\u", 2)))) {
        fz_fail("error message shows the data stream token: %s", e->msg);
    }
}

static int
dim_cmp(const struct sp_dim *a, const struct sp_dim *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = n ? memcmp(a->key, b->key, n) : 0;

    if (c) {
        return c;
    }
    return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static int
bytes_eq(const char *a, size_t a_len, const char *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

/* Two points are the same point, field by field (dims in order). */
static int
point_eq(const struct sp_point *a, const struct sp_point *b)
{
    if (!bytes_eq(a->stream, a->stream_len, b->stream, b->stream_len) ||
        a->agg != b->agg ||
        !bytes_eq(a->name, a->name_len, b->name, b->name_len) ||
        a->hour != b->hour ||
        memcmp(&a->value, &b->value, sizeof(a->value)) != 0 ||
        a->n_dims != b->n_dims) {
        return 0;
    }
    for (size_t i = 0; i < a->n_dims; i++) {
        if (!bytes_eq(a->dims[i].key, a->dims[i].key_len, b->dims[i].key,
                      b->dims[i].key_len) ||
            !bytes_eq(a->dims[i].val, a->dims[i].val_len, b->dims[i].val,
                      b->dims[i].val_len)) {
            return 0;
        }
    }
    return 1;
}

/* The hour's canonical text parses back to the same hour. */
static void
check_hour(int64_t hour)
{
    char ts[32];
    int64_t back = -1;
    struct sp_err e;

    if (hour < 0 || hour >= HOUR_LIMIT) {
        fz_fail("accepted hour %lld is outside 1970..9999", (long long)hour);
    }
    sp_hour_format(hour, ts, sizeof(ts));
    if (strlen(ts) != 19 || ts[4] != '-' || ts[7] != '-' || ts[10] != ' ' ||
        strcmp(ts + 13, ":00:00") != 0) {
        fz_fail("hour %lld formats as \"%s\"", (long long)hour, ts);
    }
    if (sp_valid_timestamp_str(ts, strlen(ts), &back, &e) != CTSPOOL_OK) {
        fz_fail("canonical timestamp \"%s\" rejected: %s", ts, e.msg);
    }
    if (back != hour) {
        fz_fail("\"%s\" parses to hour %lld, not %lld", ts, (long long)back,
                (long long)hour);
    }
}

/* The value's canonical text parses back to the same bits. */
static void
check_value(double v)
{
    char num[64];
    double back = 0;
    struct sp_err e;

    if (!isfinite(v)) {
        fz_fail("accepted a value that is not finite");
    }
    sp_double_format(v, num, sizeof(num));
    if (sp_valid_value_str(num, strlen(num), &back, &e) != CTSPOOL_OK) {
        fz_fail("canonical value \"%s\" rejected: %s", num, e.msg);
    }
    if (memcmp(&back, &v, sizeof(v)) != 0) {
        fz_fail("value %a formats as \"%s\" which parses to %a", v, num,
                back);
    }
}

/* The point as an NDJSON line, parsed again, is the same point. */
static void
check_ndjson_roundtrip(const struct sp_point *p)
{
    struct sp_payload_scratch *scratch = NULL;
    struct sp_defaults none = {.stream = NULL, .agg = -1};
    struct sp_point q;
    struct sp_err e;
    struct out o = {NULL, 0, 0};
    char ts[32], num[64];

    sp_hour_format(p->hour, ts, sizeof(ts));
    sp_double_format(p->value, num, sizeof(num));
    out_str(&o, "{\"timestamp\": \"");
    out_str(&o, ts);
    out_str(&o, "\", \"metric_name\": ");
    out_json_string(&o, p->name, p->name_len);
    out_str(&o, ", \"metric_value\": ");
    out_str(&o, num);
    out_str(&o, ", \"metric_agg_func\": \"");
    out_str(&o, sp_agg_name(p->agg));
    out_str(&o, "\", \"data_stream_token\": ");
    out_json_string(&o, p->stream, p->stream_len);
    out_str(&o, ", \"custom_dimensions\": {");
    /* Reverse order: dimension order in the input must not matter. */
    for (size_t i = p->n_dims; i-- > 0;) {
        out_json_string(&o, p->dims[i].key, p->dims[i].key_len);
        out_str(&o, ": ");
        out_json_string(&o, p->dims[i].val, p->dims[i].val_len);
        if (i > 0) {
            out_str(&o, ", ");
        }
    }
    out_str(&o, "}}");
    memset(&q, 0, sizeof(q));
    if (sp_payload_parse_line(o.buf, o.len, &none, &scratch, &q, &e) !=
        CTSPOOL_OK) {
        fz_fail("the accepted point, written as %s, is rejected: %s", o.buf,
                e.msg);
    }
    if (!point_eq(p, &q)) {
        fz_fail("the accepted point, written as %s, parses differently",
                o.buf);
    }
    sp_payload_scratch_free(scratch);
    free(o.buf);
}

void
fz_check_point(const struct sp_point *p)
{
    uint8_t id[SP_RECORD_ID_LEN];
    struct sp_err e;
    int agg = -1;

    if (!sp_agg_name(p->agg)) {
        fz_fail("accepted point has aggregation %d", p->agg);
    }
    if (sp_valid_agg(sp_agg_name(p->agg), strlen(sp_agg_name(p->agg)), &agg,
                     &e) != CTSPOOL_OK ||
        agg != p->agg) {
        fz_fail("aggregation name does not map back");
    }
    if (!p->name || sp_valid_name(p->name, p->name_len, &e) != CTSPOOL_OK) {
        fz_fail("accepted metric_name fails re-validation");
    }
    if (!p->stream ||
        sp_valid_stream(p->stream, p->stream_len, &e) != CTSPOOL_OK) {
        fz_fail("accepted data_stream_token fails re-validation");
    }
    if (p->n_dims > SP_MAX_DIMS) {
        fz_fail("accepted point has %zu dimensions", p->n_dims);
    }
    for (size_t i = 0; i < p->n_dims; i++) {
        const struct sp_dim *d = &p->dims[i];

        if (sp_valid_dim(d->key, d->key_len, d->val, d->val_len, &e) !=
            CTSPOOL_OK) {
            fz_fail("accepted dimension %zu fails re-validation: %s", i,
                    e.msg);
        }
        if (i > 0 && dim_cmp(&p->dims[i - 1], d) >= 0) {
            fz_fail("dimensions not sorted and unique at %zu", i);
        }
    }
    if (sp_record_id(p, id) != CTSPOOL_OK) {
        fz_fail("record ID refused for an accepted point");
    }
    check_hour(p->hour);
    check_value(p->value);
    check_ndjson_roundtrip(p);
}

/* ---- traces (fuzz_util.h) ---- */

static void
mix(struct fz_trace *t, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        t->h = (t->h ^ s[i]) * UINT64_C(1099511628211);
    }
}

static void
mix_str(struct fz_trace *t, const char *s, size_t n)
{
    mix(t, &n, sizeof(n));
    mix(t, s, n);
}

ctspool_rc
fz_trace_point(void *ctx, const struct sp_point *p)
{
    struct fz_trace *t = ctx;

    mix(t, "P", 1);
    mix_str(t, p->stream, p->stream_len);
    mix(t, &p->agg, sizeof(p->agg));
    mix_str(t, p->name, p->name_len);
    mix(t, &p->hour, sizeof(p->hour));
    mix(t, &p->value, sizeof(p->value));
    mix(t, &p->n_dims, sizeof(p->n_dims));
    for (size_t i = 0; i < p->n_dims; i++) {
        mix_str(t, p->dims[i].key, p->dims[i].key_len);
        mix_str(t, p->dims[i].val, p->dims[i].val_len);
    }
    t->n++;
    return CTSPOOL_OK;
}

ctspool_rc
fz_trace_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct fz_trace *t = ctx;

    mix(t, "E", 1);
    mix(t, &index, sizeof(index));
    mix_str(t, e->msg, strlen(e->msg));
    t->n++;
    return CTSPOOL_OK;
}

static void
ignore_element(void *ctx, const char *s, size_t len, const char *stream,
               size_t stream_len, int agg)
{
    (void)ctx, (void)s, (void)len, (void)stream, (void)stream_len, (void)agg;
}

const struct sp_reject_hook fz_two_passes = {.element = ignore_element};

void
fz_trace_agree(ctspool_rc rc1, ctspool_rc rc2, size_t used1, size_t used2,
               const struct fz_trace *t1, const struct fz_trace *t2,
               const struct sp_err *e1, const struct sp_err *e2)
{
    if (rc1 != rc2 || used1 != used2 || t1->n != t2->n || t1->h != t2->h ||
        (rc1 != CTSPOOL_OK && strcmp(e1->msg, e2->msg) != 0)) {
        fz_fail("one pass and two disagree: rc %d/%d, consumed %zu/%zu, "
                "%zu/%zu reports, %s / %s",
                (int)rc1, (int)rc2, used1, used2, t1->n, t2->n,
                rc1 != CTSPOOL_OK ? e1->msg : "-",
                rc2 != CTSPOOL_OK ? e2->msg : "-");
    }
}
