/*
 * ingest.c -- one POST /streams/ingest body -> validated points, packed
 * for the writer thread (POST /events: events, as their carrier points,
 * event.h).  Runs on the HTTP worker that received the
 * body, so parsing and validation (the CPU-heavy part) happen in
 * parallel and the writer only stores.
 *
 * Invariants:
 * (1) The points a writer stores are exactly the valid points of the
 *     payload, in order, after sp_point_finish() (dims sorted, unique).
 * (2) When any point is invalid, or the document is, nothing is packed
 *     for storage (the request is answered 400 and stores nothing).
 * (3) Packed strings are copies: the parse tree is gone once
 *     sv_ingest_parse() returns.
 *
 * Packed point layout (native byte order, unaligned, read with memcpy):
 *   int64 hour, double value, uint16 name_len, uint8 n_dims,
 *   n_dims x (uint8 key_len, uint16 val_len), then the name and each
 *   key and value, in that order.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "serve.h"

#define FIXED_LEN (8 + 8 + 2 + 1)
#define DIM_HDR_LEN (1 + 2)

_Static_assert(SP_NAME_MAX <= UINT16_MAX, "name length fits 16 bits");
_Static_assert(SP_MAX_DIMS <= UINT8_MAX, "dimension count fits 8 bits");
_Static_assert(SP_DIM_KEY_MAX <= UINT8_MAX, "key length fits 8 bits");
_Static_assert(SP_DIM_VAL_MAX <= UINT16_MAX, "value length fits 16 bits");

void
sv_ingest_init(struct sv_ingest *in)
{
    memset(in, 0, sizeof(*in));
    in->agg = -1;
}

void
sv_ingest_cleanup(struct sv_ingest *in)
{
    for (size_t i = 0; i < in->n_errors; i++) {
        free(in->errors[i].msg);
    }
    free(in->errors);
    sp_buf_cleanup(&in->packed);
    free(in->stream);
    sv_ingest_init(in);
}

static ctspool_rc
reserve(struct sv_ingest *in, size_t n)
{
    if (in->packed.cap == 0 && sp_buf_reserve(&in->packed, 4096) != 0) {
        return CTSPOOL_E_NOMEM;
    }
    return sp_buf_reserve(&in->packed, n) == 0 ? CTSPOOL_OK
                                               : CTSPOOL_E_NOMEM;
}

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct sv_ingest *in = ctx;
    uint16_t name_len = (uint16_t)p->name_len;
    uint8_t n_dims = (uint8_t)p->n_dims;
    size_t need = FIXED_LEN + p->name_len + p->n_dims * DIM_HDR_LEN;
    char *d;
    ctspool_rc rc;

    in->n_total++;
    if (in->n_invalid || in->has_doc_error) {
        return CTSPOOL_OK; /* nothing will be stored: validate only */
    }
    if (!in->stream) {
        /* Every point of a payload has the payload's token and agg. */
        in->stream = malloc(p->stream_len + 1);
        if (!in->stream) {
            return CTSPOOL_E_NOMEM;
        }
        memcpy(in->stream, p->stream, p->stream_len);
        in->stream[p->stream_len] = '\0';
        in->stream_len = p->stream_len;
        in->agg = p->agg;
    }
    for (size_t i = 0; i < p->n_dims; i++) {
        need += p->dims[i].key_len + p->dims[i].val_len;
    }
    rc = reserve(in, need);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    /* Written in place, room reserved: the fixed-size pieces are copies
     * the compiler makes inline. */
    d = in->packed.p + in->packed.len;
    d = sp_buf_put(d, &p->hour, 8);
    d = sp_buf_put(d, &p->value, 8);
    d = sp_buf_put(d, &name_len, 2);
    d = sp_buf_put(d, &n_dims, 1);
    for (size_t i = 0; i < p->n_dims; i++) {
        uint8_t kl = (uint8_t)p->dims[i].key_len;
        uint16_t vl = (uint16_t)p->dims[i].val_len;

        d = sp_buf_put(d, &kl, 1);
        d = sp_buf_put(d, &vl, 2);
    }
    d = sp_buf_put(d, p->name, p->name_len);
    for (size_t i = 0; i < p->n_dims; i++) {
        d = sp_buf_put(d, p->dims[i].key, p->dims[i].key_len);
        d = sp_buf_put(d, p->dims[i].val, p->dims[i].val_len);
    }
    assert((size_t)(d - in->packed.p) == in->packed.len + need);
    sp_buf_wrote(&in->packed, d);
    in->n_points++;
    return CTSPOOL_OK;
}

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct sv_ingest *in = ctx;
    struct sv_point_error *pe;

    in->n_total++;
    in->n_invalid++;
    if (in->n_errors >= SV_MAX_ERRORS) {
        return CTSPOOL_OK;
    }
    if (!in->errors) {
        in->errors = calloc(SV_MAX_ERRORS, sizeof(*in->errors));
        if (!in->errors) {
            return CTSPOOL_E_NOMEM;
        }
    }
    pe = &in->errors[in->n_errors];
    pe->index = index;
    pe->msg = strdup(e->msg);
    if (!pe->msg) {
        return CTSPOOL_E_NOMEM;
    }
    in->n_errors++;
    return CTSPOOL_OK;
}

ctspool_rc
sv_ingest_parse(struct sv_ingest *in, const char *body, size_t len,
                const struct sp_defaults *d)
{
    size_t consumed = 0;
    ctspool_rc rc;

    /* Packed points never outgrow the JSON they came from: one
     * allocation in the common case. */
    rc = reserve(in, len < 4096 ? 256 : len / 2);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (d && d->events) {
        in->stream = strdup(""); /* the carriers' (event.h) */
        in->agg = SP_KIND_EVENTS;
        if (!in->stream) {
            return CTSPOOL_E_NOMEM;
        }
        rc = sp_event_parse_doc(body, len, on_point, on_error, in, NULL,
                                &consumed, &in->doc_error);
    } else {
        rc = sp_payload_parse(body, len, d, on_point, on_error, in,
                              &consumed, &in->doc_error);
    }
    if (rc == CTSPOOL_E_INVALID) {
        in->has_doc_error = 1;
        rc = CTSPOOL_OK;
    } else if (rc == CTSPOOL_OK &&
               !sp_json_blank(body + consumed, len - consumed)) {
        in->has_doc_error = 1;
        sp_err_set(&in->doc_error,
                   "unexpected data after the payload object at byte offset "
                   "%zu (one payload per request)",
                   consumed);
    }
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (in->has_doc_error || in->n_invalid) {
        /* Invariant 2: nothing of a rejected payload is stored. */
        sp_buf_cleanup(&in->packed);
        in->n_points = 0;
    }
    return CTSPOOL_OK;
}

int
sv_ingest_point(const struct sv_ingest *in, size_t *off, struct sp_point *p)
{
    const uint8_t *s, *str;
    uint16_t name_len, vl;
    uint8_t n_dims, kl;

    if (*off >= in->packed.len) {
        return 0; /* packed.p may be NULL: no arithmetic on it */
    }
    s = (const uint8_t *)in->packed.p + *off;
    p->stream = in->stream;
    p->stream_len = in->stream_len;
    p->agg = in->agg;
    memcpy(&p->hour, s, 8);
    memcpy(&p->value, s + 8, 8);
    memcpy(&name_len, s + 16, 2);
    memcpy(&n_dims, s + 18, 1);
    s += FIXED_LEN;
    str = s + (size_t)n_dims * DIM_HDR_LEN;
    p->name = (const char *)str;
    p->name_len = name_len;
    str += name_len;
    p->n_dims = n_dims;
    for (size_t i = 0; i < n_dims; i++) {
        memcpy(&kl, s, 1);
        memcpy(&vl, s + 1, 2);
        s += DIM_HDR_LEN;
        p->dims[i].key = (const char *)str;
        p->dims[i].key_len = kl;
        str += kl;
        p->dims[i].val = (const char *)str;
        p->dims[i].val_len = vl;
        str += vl;
    }
    *off = (size_t)(str - (const uint8_t *)in->packed.p);
    return 1;
}
