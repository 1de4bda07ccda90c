/*
 * body.c -- the drainer's request bodies: a batch's points as the
 * Cloudthread JSON upstream takes, built in growable byte buffers
 * (struct sbuf).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drain_int.h"

/* ---- buffers --------------------------------------------------------- */

int
sbuf_reserve(struct sbuf *s, size_t extra)
{
    size_t cap;
    char *p;

    if (s->cap - s->len > extra) {
        return 0;
    }
    if (extra > SIZE_MAX / 2 - s->len) {
        return -1;
    }
    cap = s->cap ? s->cap : 4096;
    while (cap - s->len <= extra) {
        cap *= 2;
    }
    p = realloc(s->p, cap);
    if (!p) {
        return -1;
    }
    s->p = p;
    s->cap = cap;
    return 0;
}

int
sbuf_add(struct sbuf *s, const void *data, size_t n)
{
    if (sbuf_reserve(s, n) != 0) {
        return -1;
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = '\0';
    return 0;
}

int
sbuf_adds(struct sbuf *s, const char *str)
{
    return sbuf_add(s, str, strlen(str));
}

/* Appends str as a JSON string literal, escaped as cJSON escapes it. */
static int
sbuf_add_json_string(struct sbuf *s, const char *str)
{
    const unsigned char *c = (const unsigned char *)str;
    char *lit = NULL;
    size_t n = 0;
    int r;

    while (c[n] && c[n] >= 0x20 && c[n] != '"' && c[n] != '\\') {
        n++;
    }
    if (!c[n]) {
        /* Nothing to escape: the usual metric name. */
        if (sbuf_reserve(s, n + 2) != 0) {
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
    r = sbuf_adds(s, lit);
    free(lit);
    return r;
}

/* ---- request bodies -------------------------------------------------- */

/* {"data_stream_token":TOKEN,"metric_agg_func":"Sum","data":[ */
ctspool_rc
dr_body_prefix(struct dr_slot *sl)
{
    struct sbuf *s = &sl->prefix;

    s->len = 0;
    if (sbuf_adds(s, "{\"data_stream_token\":") ||
        sbuf_add_json_string(s, sl->b.stream) ||
        sbuf_adds(s, ",\"metric_agg_func\":\"") ||
        sbuf_adds(s, sp_agg_name(sl->b.agg)) ||
        sbuf_adds(s, "\",\"data\":[")) {
        return CTSPOOL_E_NOMEM;
    }
    return CTSPOOL_OK;
}

static int
add_point(struct dr_drainer *d, struct sbuf *s, const struct sp_batch_point *bp)
{
    char num[40];

    if (bp->hour != d->last_hour || !d->last_hour_text[0]) {
        sp_hour_format(bp->hour, d->last_hour_text,
                       sizeof(d->last_hour_text));
        d->last_hour = bp->hour;
    }
    sp_double_format(bp->value, num, sizeof(num));
    return sbuf_adds(s, "{\"timestamp\":\"") ||
           sbuf_add(s, d->last_hour_text, 19) ||
           sbuf_adds(s, "\",\"metric_name\":") ||
           sbuf_add_json_string(s, bp->name) ||
           sbuf_adds(s, ",\"metric_value\":") || sbuf_adds(s, num) ||
           sbuf_adds(s, ",\"custom_dimensions\":") ||
           sbuf_adds(s, bp->dims) || sbuf_adds(s, "}");
}

/*
 * Builds in s the request for the points sl->b.pts[from ..], at most
 * max_n of them, stopping before the point that would take the body past
 * upload.batch_max_bytes (the first point always goes in).  *n: how many.
 */
ctspool_rc
dr_body_build(struct dr_drainer *d, const struct dr_slot *sl, struct sbuf *s,
              size_t from, size_t max_n, size_t *n)
{
    size_t limit = (size_t)d->cfg->upload.batch_max_bytes;
    size_t k;

    *n = 0;
    s->len = 0;
    if (sbuf_add(s, sl->prefix.p, sl->prefix.len)) {
        return CTSPOOL_E_NOMEM;
    }
    for (k = 0; k < max_n; k++) {
        size_t mark = s->len;

        if ((k > 0 && sbuf_add(s, ",", 1)) ||
            add_point(d, s, &sl->b.pts[from + k])) {
            return CTSPOOL_E_NOMEM;
        }
        if (k > 0 && s->len + 2 > limit) {
            s->len = mark; /* this one goes into the next request */
            break;
        }
    }
    if (sbuf_add(s, "]}", 2)) {
        return CTSPOOL_E_NOMEM;
    }
    *n = k;
    return CTSPOOL_OK;
}
