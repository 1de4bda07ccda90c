/*
 * payload.c -- incoming points: one Cloudthread ingest payload element,
 * or one NDJSON line, read by jscan.c -> struct sp_point.  This file
 * maps JSON types onto the checks of validate.c; every field rule lives
 * there, so all producer paths reject exactly the same points.
 *
 * Invariants:
 * (1) A point's strings borrow from the scratch's scan: valid until the
 *     next line or element, or until the scratch is freed.
 * (2) Unknown fields are rejected, in a data element and at the top of a
 *     payload: upstream is strict, and a misspelled "custom_dimension"
 *     silently dropped would change the record ID of every point.
 * (3) A data_stream_token value never appears in a message, but masked
 *     when it is not in the streams list (validate.c).
 * (4) Input holding a NUL character, raw or as \u0000, is rejected
 *     (jscan.c): strings are NUL-terminated everywhere after this.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#include "payload_int.h"
#include "sp_int.h"
#include "utf8.h"

/* ---- helpers ---------------------------------------------------------- */

/*
 * A key from the input, fit for a message: at most 64 bytes, quotes,
 * backslashes, control characters and bytes that are not UTF-8 escaped.
 * buf must hold 4 * 64 + 8 bytes.
 */
#define SHOW_IN 64
#define SHOW_BUF SP_SHOW_BUF

const char *
sp_payload_show(const char *s, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    size_t len = strlen(s);
    size_t n = len < SHOW_IN ? len : SHOW_IN;
    int utf8 = sp_utf8_valid(s, len);
    size_t o = 0;

    buf[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];

        if (b == '"' || b == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)b;
        } else if (b < 0x20 || b == 0x7F || (b >= 0x80 && !utf8)) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[b >> 4];
            buf[o++] = hex[b & 0x0F];
        } else {
            buf[o++] = (char)b;
        }
    }
    if (n < len && utf8) {
        /* Do not end in the middle of a UTF-8 sequence. */
        while (o > 1 && ((unsigned char)buf[o - 1] & 0xC0) == 0x80) {
            o--;
        }
        if (o > 1 && (unsigned char)buf[o - 1] >= 0xC0) {
            o--;
        }
    }
    buf[o++] = '"';
    if (n < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- one data element / NDJSON line ----------------------------------- */

enum field {
    F_TIMESTAMP,
    F_NAME,
    F_VALUE,
    F_DIMS,
    F_AGG,    /* NDJSON lines only */
    F_STREAM, /* NDJSON lines only */
    F_N
};

static const char *const field_names[F_N] = {
    "timestamp",         "metric_name",     "metric_value",
    "custom_dimensions", "metric_agg_func", "data_stream_token"};

/* Where a point's fields come from, for messages. */
enum origin { IN_PAYLOAD, IN_LINE };

/* Index of key[0..key_len) in field_names, or -1.  The first byte and
 * the length pick the candidate: this runs for every member of every
 * line.  A key holds no NUL (jscan.c refuses them). */
static int
field_lookup(const char *key, size_t key_len)
{
    int i;

    switch (key[0]) {
    case 't':
        i = F_TIMESTAMP;
        break;
    case 'm':
        i = key_len == 11   ? F_NAME
            : key_len == 12 ? F_VALUE
            : key_len == 15 ? F_AGG
                            : -1;
        break;
    case 'c':
        i = F_DIMS;
        break;
    case 'd':
        i = F_STREAM;
        break;
    default:
        return -1;
    }
    if (i >= 0 && strlen(field_names[i]) == key_len &&
        memcmp(key, field_names[i], key_len) == 0) {
        return i;
    }
    return -1;
}

static ctspool_rc
unknown_field(const char *key, enum origin o, struct sp_err *e)
{
    char q[SHOW_BUF];
    int f = field_lookup(key, strlen(key));

    sp_payload_show(key, q);
    if (o == IN_PAYLOAD && (f == F_AGG || f == F_STREAM)) {
        sp_err_set(e,
                   "unknown field %s in a data element (it belongs at the "
                   "top level of the payload)",
                   q);
    } else if (o == IN_LINE && strcmp(key, "data") == 0) {
        sp_err_set(e,
                   "unknown field %s (this looks like a Cloudthread "
                   "payload, not an NDJSON point: use the cloudthread "
                   "format)",
                   q);
    } else if (o == IN_PAYLOAD) {
        sp_err_set(e,
                   "unknown field %s (a data element has timestamp, "
                   "metric_name, metric_value and custom_dimensions)",
                   q);
    } else {
        sp_err_set(e,
                   "unknown field %s (a line has timestamp, metric_name, "
                   "metric_value, custom_dimensions, metric_agg_func and "
                   "data_stream_token)",
                   q);
    }
    return CTSPOOL_E_INVALID;
}

/* item, when not NULL, is a present non-null member. */
static int
present(const struct sp_jnode *item)
{
    return item && item->type != SP_J_NULL;
}

/*
 * The double a JSON number (its text, as yajl read it) stands for:
 * strtod(), rounding as it does (sp_json_number_value); out of range
 * gives an infinity, which validate.c refuses.  XXX: strtod() follows
 * LC_NUMERIC, as in validate.c; ctspool's programs never set it.
 */
static double
json_number(const struct sp_jnode *item)
{
    return sp_json_number_value(item->s, item->len);
}

static ctspool_rc
take_timestamp(const struct sp_jnode *item, struct sp_point *p, struct sp_err *e)
{
    if (!present(item)) {
        sp_err_set(e, "timestamp: missing");
        return CTSPOOL_E_INVALID;
    }
    if (item->type == SP_J_STRING) {
        return sp_valid_timestamp_str(item->s, item->len, &p->hour,
                                      e);
    }
    /* The contract says "a JSON integer": any number whose value is a
     * whole multiple of 3600 is the same integer, so 1.6646004e9 passes;
     * validate.c rejects fractions. */
    if (item->type == SP_J_NUMBER) {
        return sp_valid_timestamp_num(json_number(item), &p->hour, e);
    }
    sp_err_set(e,
               "timestamp: must be a string or a number of Unix seconds, "
               "not %s",
               sp_jtype_name(item->type));
    return CTSPOOL_E_INVALID;
}

static ctspool_rc
take_name(const struct sp_jnode *item, struct sp_point *p, struct sp_err *e)
{
    if (!present(item)) {
        sp_err_set(e, "metric_name: missing");
        return CTSPOOL_E_INVALID;
    }
    if (item->type != SP_J_STRING) {
        sp_err_set(e, "metric_name: must be a string, not %s",
                   sp_jtype_name(item->type));
        return CTSPOOL_E_INVALID;
    }
    p->name = item->s;
    p->name_len = item->len;
    return sp_valid_name(p->name, p->name_len, e);
}

static ctspool_rc
take_value(const struct sp_jnode *item, struct sp_point *p, struct sp_err *e)
{
    if (!present(item)) {
        sp_err_set(e, "metric_value: missing");
        return CTSPOOL_E_INVALID;
    }
    if (item->type == SP_J_NUMBER) {
        p->value = json_number(item);
        if (!isfinite(p->value)) {
            char q[SP_QUOTE_BUF];

            /* A JSON number is finite as written: only its size fails. */
            sp_err_set(e, "metric_value: %s is out of range for a double",
                       sp_utf8_quote(item->s, item->len, q, sizeof(q)));
            return CTSPOOL_E_INVALID;
        }
        return CTSPOOL_OK;
    }
    if (item->type == SP_J_STRING) {
        return sp_valid_value_str(item->s, item->len, &p->value, e);
    }
    sp_err_set(e, "metric_value: must be a number or a numeric string, not %s",
               sp_jtype_name(item->type));
    return CTSPOOL_E_INVALID;
}

static ctspool_rc
take_dims(const struct sp_jscan *js, const struct sp_jnode *item,
          struct sp_point *p, struct sp_err *e)
{
    char q[SHOW_BUF];
    ctspool_rc rc;

    p->n_dims = 0;
    if (!present(item)) {
        return CTSPOOL_OK;
    }
    if (item->type != SP_J_OBJECT) {
        sp_err_set(e, "custom_dimensions: must be an object, not %s",
                   sp_jtype_name(item->type));
        return CTSPOOL_E_INVALID;
    }
    if (item->n_members > SP_MAX_DIMS) {
        sp_err_set(e, "custom_dimensions: more than %d pairs (%zu given; "
                      "upstream accepts at most %d)",
                   SP_MAX_DIMS, item->n_members, SP_MAX_DIMS);
        return CTSPOOL_E_INVALID;
    }
    /* All members are kept (SP_MAX_DIMS < SP_JSCAN_KEEP), duplicate keys
     * too: sp_point_finish() reports them. */
    for (size_t i = 0; i < item->n_kept; i++) {
        const struct sp_jnode *c = sp_jscan_member(js, item, i);

        if (c->type != SP_J_STRING) {
            sp_err_set(e,
                       "custom_dimensions: value of %s must be a string, "
                       "not %s",
                       sp_payload_show(c->key, q), sp_jtype_name(c->type));
            return CTSPOOL_E_INVALID;
        }
        rc = sp_point_add_dim(p, c->key, c->key_len, c->s, c->len, e);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    return CTSPOOL_OK;
}

/* An optional string member of a line or a payload: agg or stream. */
static ctspool_rc
take_agg(const struct sp_jnode *item, int dflt, enum origin o, int *agg,
         struct sp_err *e)
{
    if (!present(item)) {
        if (dflt >= 0 && dflt < SP_AGG_N) {
            *agg = dflt;
            return CTSPOOL_OK;
        }
        /* A line's default comes from `append --agg`; a payload has
         * none but its own. */
        sp_err_set(e, "metric_agg_func: missing (not in the %s%s)",
                   o == IN_LINE ? "line" : "payload",
                   o == IN_LINE ? ", and no --agg default" : "");
        return CTSPOOL_E_INVALID;
    }
    if (item->type != SP_J_STRING) {
        sp_err_set(e, "metric_agg_func: must be a string, not %s",
                   sp_jtype_name(item->type));
        return CTSPOOL_E_INVALID;
    }
    return sp_valid_agg(item->s, item->len, agg,
                        e);
}

/* The default stream, NULL when none is configured. */
static const char *
default_stream(const struct sp_defaults *d)
{
    return d && d->stream && d->stream[0] ? d->stream : NULL;
}

/*
 * The default stream passes sp_valid_stream() once per scratch rather
 * than once per line: *ok remembers the last one that passed (NULL:
 * none; payloads pass NULL and check it once per payload anyway).
 */
static ctspool_rc
take_stream(const struct sp_jnode *item, const struct sp_defaults *d, enum origin o,
            const char **ok, struct sp_point *p, struct sp_err *e)
{
    ctspool_rc rc;

    if (!present(item)) {
        p->stream = default_stream(d);
        if (!p->stream) {
            sp_err_set(e,
                       "data_stream_token: missing (not in the %s and no "
                       "default configured)",
                       o == IN_LINE ? "line" : "payload");
            return CTSPOOL_E_INVALID;
        }
        p->stream_len = strlen(p->stream);
        if (ok && *ok == p->stream) {
            return CTSPOOL_OK;
        }
        rc = sp_valid_stream(p->stream, p->stream_len, e);
        if (rc == CTSPOOL_OK && ok) {
            *ok = p->stream;
        }
        return rc;
    }
    if (item->type == SP_J_STRING) {
        p->stream = item->s;
        p->stream_len = item->len;
    } else {
        sp_err_set(e, "data_stream_token: must be a string, not %s",
                   sp_jtype_name(item->type));
        return CTSPOOL_E_INVALID;
    }
    return sp_valid_stream(p->stream, p->stream_len, e);
}

/*
 * Fill p from the data element / NDJSON line obj.  For a payload
 * element, p->stream and p->agg are already set from the payload; for a
 * line they come from the line, else from d.  Last, the stream must be
 * in d's streams list.
 */
static ctspool_rc
element_point(const struct sp_jscan *js, enum origin o,
              const struct sp_defaults *d, const char **stream_ok,
              struct sp_point *p, struct sp_err *e)
{
    const struct sp_jnode *obj = &js->root;
    const struct sp_jnode *f[F_N] = {NULL};
    int n_fields = o == IN_LINE ? F_N : F_DIMS + 1;
    ctspool_rc rc;
    int i;

    if (obj->type != SP_J_OBJECT) {
        sp_err_set(e, "%s must be a JSON object, not %s",
                   o == IN_LINE ? "the line" : "a data element",
                   sp_jtype_name(obj->type));
        return CTSPOOL_E_INVALID;
    }
    /* More members than kept: one of those kept is unknown or twice. */
    for (size_t m = 0; m < obj->n_kept; m++) {
        const struct sp_jnode *c = sp_jscan_member(js, obj, m);

        i = field_lookup(c->key, c->key_len);
        if (i < 0 || i >= n_fields) {
            return unknown_field(c->key, o, e);
        }
        if (f[i]) {
            sp_err_set(e, "%s: appears twice", field_names[i]);
            return CTSPOOL_E_INVALID;
        }
        f[i] = c;
    }
    p->n_dims = 0;
    rc = take_name(f[F_NAME], p, e);
    if (rc == CTSPOOL_OK && o == IN_LINE) {
        rc = take_agg(f[F_AGG], d ? d->agg : -1, o, &p->agg, e);
    }
    if (rc == CTSPOOL_OK) {
        rc = take_timestamp(f[F_TIMESTAMP], p, e);
    }
    if (rc == CTSPOOL_OK) {
        rc = take_value(f[F_VALUE], p, e);
    }
    if (rc == CTSPOOL_OK) {
        rc = take_dims(js, f[F_DIMS], p, e);
    }
    if (rc == CTSPOOL_OK) {
        rc = sp_point_finish(p, e);
    }
    if (rc == CTSPOOL_OK && o == IN_LINE) {
        rc = take_stream(f[F_STREAM], d, o, stream_ok, p, e);
    }
    /* Per point, so that a payload's token not in the list names each
     * of its points, like any other invalid field. */
    if (rc == CTSPOOL_OK) {
        rc = sp_valid_stream_listed(d, p->stream, p->stream_len, e);
    }
    return rc;
}

/* ---- payload elements (payload_doc.c reads the objects) -------------- */

ctspool_rc
sp_payload_base(const struct sp_jnode *agg, const struct sp_jnode *stream,
                const struct sp_defaults *d, struct sp_point *base,
                struct sp_err *e)
{
    ctspool_rc rc;

    memset(base, 0, sizeof(*base));
    rc = take_agg(agg, d ? d->agg : -1, IN_PAYLOAD, &base->agg, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    return take_stream(stream, d, IN_PAYLOAD, NULL, base, e);
}

/* ---- NDJSON lines ----------------------------------------------------- */

/*
 * Kept from line to line, so a warm parse allocates nothing.  XXX: the
 * default stream is checked once per address: the caller must not change
 * the text d->stream points to while it uses this scratch.
 */
struct sp_payload_scratch {
    struct sp_jscan scan;
    const char *stream_ok; /* default stream that passed the check */
};

static struct sp_payload_scratch *
scratch_get(struct sp_payload_scratch **scratch, struct sp_err *e)
{
    if (!*scratch) {
        *scratch = calloc(1, sizeof(**scratch));
        if (!*scratch) {
            sp_err_set(e, "out of memory");
        } else {
            sp_jscan_init(&(*scratch)->scan);
        }
    }
    return *scratch;
}

ctspool_rc
sp_payload_parse_line(const char *line, size_t len,
                      const struct sp_defaults *d,
                      struct sp_payload_scratch **scratch,
                      struct sp_point *p, struct sp_err *e)
{
    struct sp_payload_scratch *s = scratch_get(scratch, e);
    ctspool_rc rc;

    if (!s) {
        return CTSPOOL_E_NOMEM;
    }
    rc = sp_jscan_line(&s->scan, line, len, "point", e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    return element_point(&s->scan, IN_LINE, d, &s->stream_ok, p, e);
}

/* See payload_int.h. */
ctspool_rc
sp_payload_element(const char *buf, size_t len, size_t *end,
                   const struct sp_defaults *d,
                   struct sp_payload_scratch **scratch, struct sp_point *p,
                   struct sp_err *e)
{
    struct sp_payload_scratch *s = scratch_get(scratch, e);
    ctspool_rc rc;

    *end = 0;
    if (!s) {
        return CTSPOOL_E_NOMEM;
    }
    rc = sp_jscan_value(&s->scan, buf, len, end, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    return element_point(&s->scan, IN_PAYLOAD, d, NULL, p, e);
}

struct sp_jscan *
sp_payload_scan(struct sp_payload_scratch **scratch, struct sp_err *e)
{
    struct sp_payload_scratch *s = scratch_get(scratch, e);

    return s ? &s->scan : NULL;
}

void
sp_payload_scratch_free(struct sp_payload_scratch *s)
{
    if (!s) {
        return;
    }
    sp_jscan_cleanup(&s->scan);
    free(s);
}
