/*
 * body.c -- the drainer's request bodies: a batch's points as the
 * Cloudthread JSON upstream takes (its events as the Event Overlay's), built in the shared growable byte
 * buffer (struct sp_buf).  A hot path: a name with nothing to escape is
 * copied straight in.
 */
#include <stdlib.h>
#include <string.h>

#include "drain_int.h"

/* The length of str's start that a JSON string literal holds as it is
 * (no control character, quote or backslash): strlen(str) when all. */
static size_t
plain_len(const char *str)
{
    const unsigned char *c = (const unsigned char *)str;
    size_t n = 0;

    while (c[n] >= 0x20 && c[n] != '"' && c[n] != '\\') {
        n++; /* the NUL stops it too */
    }
    return n;
}

/* Appends str as a JSON string literal, escaped as cJSON escapes it. */
static int
add_json_string(struct sp_buf *s, const char *str)
{
    char *lit = NULL;
    size_t n = plain_len(str);
    int r;

    if (!str[n]) {
        /* Nothing to escape: the usual metric name. */
        if (sp_buf_reserve(s, n + 2) != 0) {
            return -1;
        }
        s->p[s->len++] = '"';
        memcpy(s->p + s->len, str, n);
        s->len += n;
        s->p[s->len++] = '"';
        s->p[s->len] = '\0';
        return 0;
    }
    if (sp_json_string(str, &lit) != CTSPOOL_OK) {
        return -1;
    }
    r = sp_buf_adds(s, lit);
    free(lit);
    return r;
}

/* ---- request bodies -------------------------------------------------- */

/* {"data_stream_token":TOKEN,"metric_agg_func":"Sum","data":[ , or for
 * the events group upstream's {"data":[ */
ctspool_rc
dr_body_prefix(struct dr_slot *sl)
{
    struct sp_buf *s = &sl->prefix;

    sp_buf_reset(s);
    if (sl->b.agg == SP_KIND_EVENTS) {
        return sp_buf_adds(s, "{\"data\":[") ? CTSPOOL_E_NOMEM : CTSPOOL_OK;
    }
    if (sp_buf_adds(s, "{\"data_stream_token\":") ||
        add_json_string(s, sl->b.stream) ||
        sp_buf_adds(s, ",\"metric_agg_func\":\"") ||
        sp_buf_adds(s, sp_agg_name(sl->b.agg)) ||
        sp_buf_adds(s, "\",\"data\":[")) {
        return CTSPOOL_E_NOMEM;
    }
    return CTSPOOL_OK;
}

/*
 * A point's element: {"timestamp":"...","metric_name":...,
 * "metric_value":...,"custom_dimensions":{...}}.  Its pieces are measured
 * first and copied in after one reservation: a body holds a thousand of
 * these, and checking the room for each of its nine pieces cost more
 * than the copies.  A name with something to escape takes the way of
 * add_json_string().
 */
static int
add_metric(struct dr_drainer *d, struct sp_buf *s,
           const struct sp_batch_point *bp)
{
    static const char k_ts[] = "{\"timestamp\":\"";
    static const char k_name[] = "\",\"metric_name\":";
    static const char k_value[] = ",\"metric_value\":";
    static const char k_dims[] = ",\"custom_dimensions\":";
    size_t name_len = plain_len(bp->name), num_len, need;
    char num[40], *w;

    num_len = sp_double_format(bp->value, num, sizeof(num));
    if (bp->name[name_len]) {
        /* Something to escape (the stop above was not the NUL). */
        return sp_buf_adds(s, k_ts) ||
               sp_buf_add(s, d->last_hour_text, 19) ||
               sp_buf_adds(s, k_name) || add_json_string(s, bp->name) ||
               sp_buf_adds(s, k_value) || sp_buf_adds(s, num) ||
               sp_buf_adds(s, k_dims) || sp_buf_adds(s, bp->dims) ||
               sp_buf_adds(s, "}");
    }
    need = sizeof(k_ts) - 1 + 19 + sizeof(k_name) - 1 + name_len + 2 +
           sizeof(k_value) - 1 + num_len + sizeof(k_dims) - 1 +
           bp->dims_len + 1;
    if (sp_buf_reserve(s, need) != 0) {
        return -1;
    }
    w = s->p + s->len;
    w = sp_buf_put(w, k_ts, sizeof(k_ts) - 1);
    w = sp_buf_put(w, d->last_hour_text, 19);
    w = sp_buf_put(w, k_name, sizeof(k_name) - 1);
    *w++ = '"';
    w = sp_buf_put(w, bp->name, name_len);
    *w++ = '"';
    w = sp_buf_put(w, k_value, sizeof(k_value) - 1);
    w = sp_buf_put(w, num, num_len);
    w = sp_buf_put(w, k_dims, sizeof(k_dims) - 1);
    w = sp_buf_put(w, bp->dims, bp->dims_len);
    *w++ = '}';
    sp_buf_wrote(s, w);
    return 0;
}

static int
add_point(struct dr_drainer *d, struct sp_buf *s,
          const struct sp_batch_point *bp, int is_event)
{
    if (bp->hour != d->last_hour || !d->last_hour_text[0]) {
        sp_hour_format(bp->hour, d->last_hour_text,
                       sizeof(d->last_hour_text));
        d->last_hour = bp->hour;
    }
    if (is_event) {
        /* The stored element without its timestamp (schema 0007):
         * {"team_id":7,"payload":{...}} goes on after it. */
        return sp_buf_adds(s, "{\"timestamp\":\"") ||
               sp_buf_add(s, d->last_hour_text, 19) ||
               sp_buf_adds(s, "\",") || sp_buf_adds(s, bp->dims + 1);
    }
    return add_metric(d, s, bp);
}

/*
 * Builds in s the request for the points sl->b.pts[from ..], at most
 * max_n of them, stopping before the point that would take the body past
 * upload.batch_max_bytes (the first point always goes in).  *n: how many.
 */
ctspool_rc
dr_body_build(struct dr_drainer *d, const struct dr_slot *sl,
              struct sp_buf *s, size_t from, size_t max_n, size_t *n)
{
    size_t limit = (size_t)d->cfg->upload.batch_max_bytes;
    size_t k;

    *n = 0;
    sp_buf_reset(s);
    if (sp_buf_add(s, sl->prefix.p, sl->prefix.len)) {
        return CTSPOOL_E_NOMEM;
    }
    for (k = 0; k < max_n; k++) {
        size_t mark = s->len;

        if ((k > 0 && sp_buf_add(s, ",", 1)) ||
            add_point(d, s, &sl->b.pts[from + k],
                      sl->b.agg == SP_KIND_EVENTS)) {
            return CTSPOOL_E_NOMEM;
        }
        if (k > 0 && s->len + 2 > limit) {
            sp_buf_truncate(s, mark); /* this one: the next request */
            break;
        }
    }
    if (sp_buf_add(s, "]}", 2)) {
        return CTSPOOL_E_NOMEM;
    }
    *n = k;
    return CTSPOOL_OK;
}
