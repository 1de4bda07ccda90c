/*
 * record.c -- a point's record identity (DESIGN.md section 2): the
 * canonical encoding of (metric_name, metric_agg_func, dimensions in
 * bytewise key order) and its SHA-256, the record ID upstream keys data
 * by.  The only OpenSSL user.
 *
 * Invariants:
 * (1) Each item is a 4-byte big-endian length followed by its bytes, in
 *     the order name, aggregation function name, then key, value for
 *     every dimension.  Changing this changes every record ID.
 * (2) A point within the limits of sp_int.h encodes into ENC_MAX bytes,
 *     so sp_record_id() needs no heap buffer of its own.
 */
#include <openssl/evp.h>
#include <string.h>

#include "sp_int.h"

/* Longest aggregation function name ("Average", "Maximum", "Minimum"). */
#define AGG_NAME_MAX 7

/* Canonical encoding of the largest point the limits allow. */
#define ENC_MAX                                                           \
    (4 + SP_NAME_MAX + 4 + AGG_NAME_MAX +                                 \
     SP_MAX_DIMS * (4 + SP_DIM_KEY_MAX + 4 + SP_DIM_VAL_MAX))

/* Copy what fits of src[0..n) to buf at off (cap bytes in buf). */
static void
put_bytes(uint8_t *buf, size_t cap, size_t off, const void *src, size_t n)
{
    size_t room;

    if (off >= cap || n == 0) {
        return;
    }
    room = cap - off;
    memcpy(buf + off, src, n < room ? n : room);
}

/* Append one length-prefixed item; returns the offset after it. */
static size_t
put_item(uint8_t *buf, size_t cap, size_t off, const char *s, size_t len)
{
    uint8_t hdr[4];
    uint32_t n = (uint32_t)len;

    /* Validated fields are a few hundred bytes at most. */
    hdr[0] = (uint8_t)(n >> 24);
    hdr[1] = (uint8_t)(n >> 16);
    hdr[2] = (uint8_t)(n >> 8);
    hdr[3] = (uint8_t)n;
    put_bytes(buf, cap, off, hdr, sizeof(hdr));
    put_bytes(buf, cap, off + sizeof(hdr), s, len);
    return off + sizeof(hdr) + len;
}

size_t
sp_record_encode(const struct sp_point *p, uint8_t *buf, size_t cap)
{
    const char *agg = sp_agg_name(p->agg);
    size_t n_dims = p->n_dims < SP_MAX_DIMS ? p->n_dims : SP_MAX_DIMS;
    size_t off = 0;

    if (!agg) {
        agg = ""; /* not a validated point; sp_record_id refuses it */
    }
    off = put_item(buf, cap, off, p->name, p->name_len);
    off = put_item(buf, cap, off, agg, strlen(agg));
    for (size_t i = 0; i < n_dims; i++) {
        off = put_item(buf, cap, off, p->dims[i].key, p->dims[i].key_len);
        off = put_item(buf, cap, off, p->dims[i].val, p->dims[i].val_len);
    }
    return off;
}


/* p is within the limits and finished: the ID is well defined. */
static int
point_ok(const struct sp_point *p)
{
    if (!sp_agg_name(p->agg) || p->n_dims > SP_MAX_DIMS ||
        p->name_len > SP_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < p->n_dims; i++) {
        if (p->dims[i].key_len > SP_DIM_KEY_MAX ||
            p->dims[i].val_len > SP_DIM_VAL_MAX) {
            return 0;
        }
        if (i > 0 && sp_dim_cmp(&p->dims[i - 1], &p->dims[i]) >= 0) {
            return 0;
        }
    }
    return 1;
}

/*
 * sp_record_id -- SHA-256 of the canonical encoding into out.  p:
 * borrowed, finished (dims sorted and unique) and within the limits.
 * Returns OK; E_INVALID when p is not (a programming error upstream of
 * here: an ID of an unsorted point would silently differ); E_NOMEM when
 * OpenSSL fails (it only fails allocating).
 */
ctspool_rc
sp_record_id(const struct sp_point *p, uint8_t out[SP_RECORD_ID_LEN])
{
    uint8_t buf[ENC_MAX];
    unsigned int md_len = 0;
    size_t n;

    if (!point_ok(p)) {
        return CTSPOOL_E_INVALID;
    }
    n = sp_record_encode(p, buf, sizeof(buf));
    if (n > sizeof(buf)) {
        return CTSPOOL_E_INVALID; /* unreachable: point_ok bounds it */
    }
    if (EVP_Digest(buf, n, out, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len != SP_RECORD_ID_LEN) {
        return CTSPOOL_E_NOMEM;
    }
    return CTSPOOL_OK;
}

void
sp_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0F];
    }
    out[2 * len] = '\0';
}
