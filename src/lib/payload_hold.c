/*
 * payload_hold.c -- points and element errors of a payload object held
 * until the object is known sound, then handed on in their order
 * (payload_doc.c reads plain objects in memory in one pass this way).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"

#define HELD_POINT ((size_t)-1)

/*
 * The hold is one buffer of records, one per element: a struct held,
 * then for a point its name and, per dimension, the key's and the
 * value's length (uint32_t each) and bytes.  An element's error is in
 * errs.  The stream is the object's (or static): it outlives the hold,
 * so only its pointer is kept.
 */
struct held {
    size_t index;
    size_t err; /* HELD_POINT, or its error in errs[] */
    const char *stream;
    size_t stream_len;
    int agg;
    int64_t hour;
    double value;
    uint32_t name_len;
    uint32_t n_dims;
};

void
sp_hold_init(struct sp_hold *h)
{
    memset(h, 0, sizeof(*h));
    sp_buf_init(&h->rec);
}

void
sp_hold_free(struct sp_hold *h)
{
    sp_buf_cleanup(&h->rec);
    free(h->errs);
}

/* s[0..len) at d as hold_text() reads it; returns where the next bytes
 * go. */
static char *
put_text(char *d, const char *s, size_t len)
{
    uint32_t n = (uint32_t)len;

    d = sp_buf_put(d, &n, sizeof(n));
    return sp_buf_put(d, s, len);
}

int
sp_hold_add(struct sp_hold *h, size_t index, const struct sp_point *p,
            const struct sp_err *pe)
{
    struct held x;
    size_t need;
    char *d;

    memset(&x, 0, sizeof(x));
    x.index = index;
    x.err = HELD_POINT;
    if (!p) {
        if (h->n_errs == h->cap_errs) {
            size_t cap = h->cap_errs ? h->cap_errs * 2 : 8;
            struct sp_err *v = realloc(h->errs, cap * sizeof(*v));

            if (!v) {
                return -1;
            }
            h->errs = v;
            h->cap_errs = cap;
        }
        h->errs[h->n_errs] = *pe;
        x.err = h->n_errs++;
        sp_buf_add(&h->rec, &x, sizeof(x));
        return h->rec.has_failed ? -1 : 0;
    }
    /* Names and dimensions are validated far below 4 GiB. */
    x.stream = p->stream;
    x.stream_len = p->stream_len;
    x.agg = p->agg;
    x.hour = p->hour;
    x.value = p->value;
    x.name_len = (uint32_t)p->name_len;
    x.n_dims = (uint32_t)p->n_dims;
    need = sizeof(x) + p->name_len;
    for (size_t i = 0; i < p->n_dims; i++) {
        need += 2 * sizeof(uint32_t) + p->dims[i].key_len +
                p->dims[i].val_len;
    }
    /* One reservation, then written in place. */
    if (sp_buf_reserve(&h->rec, need) != 0) {
        return -1;
    }
    d = h->rec.p + h->rec.len;
    d = sp_buf_put(d, &x, sizeof(x));
    d = sp_buf_put(d, p->name, p->name_len);
    for (size_t i = 0; i < p->n_dims; i++) {
        d = put_text(d, p->dims[i].key, p->dims[i].key_len);
        d = put_text(d, p->dims[i].val, p->dims[i].val_len);
    }
    assert((size_t)(d - h->rec.p) == h->rec.len + need);
    sp_buf_wrote(&h->rec, d);
    return 0;
}

/* The string at *at in h->rec (hold_text()); *at moves past it. */
static const char *
unhold_text(const struct sp_hold *h, size_t *at, size_t *len)
{
    uint32_t n;
    const char *s;

    memcpy(&n, h->rec.p + *at, sizeof(n));
    s = h->rec.p + *at + sizeof(n);
    *at += sizeof(n) + n;
    *len = n;
    return s;
}

ctspool_rc
sp_hold_flush(const struct sp_hold *h, sp_point_cb on_point,
              sp_error_cb on_error, void *ctx)
{
    ctspool_rc rc = CTSPOOL_OK;
    size_t at = 0;

    while (at < h->rec.len && rc == CTSPOOL_OK) {
        struct held x;
        struct sp_point p;

        memcpy(&x, h->rec.p + at, sizeof(x));
        at += sizeof(x);
        if (x.err != HELD_POINT) {
            rc = on_error(ctx, x.index, &h->errs[x.err]);
            continue;
        }
        p.stream = x.stream;
        p.stream_len = x.stream_len;
        p.agg = x.agg;
        p.hour = x.hour;
        p.value = x.value;
        p.name = h->rec.p + at;
        p.name_len = x.name_len;
        at += x.name_len;
        p.n_dims = x.n_dims;
        for (size_t i = 0; i < p.n_dims; i++) {
            p.dims[i].key = unhold_text(h, &at, &p.dims[i].key_len);
            p.dims[i].val = unhold_text(h, &at, &p.dims[i].val_len);
        }
        rc = on_point(ctx, &p);
    }
    return rc;
}
