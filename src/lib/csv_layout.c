/*
 * csv_layout.c -- the columns of a CSV input: the header row -> where
 * each field of a point is and which columns are custom dimensions (in
 * key order), and a data row -> a point checked with validate.c's rules
 * (its stream against the streams list last).
 * Messages carry no locator: the reader (input.c) puts the line in front.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "input_int.h"
#include "sp_int.h"

#define NO_COL ((size_t)-1)

static const char *const col_names[SP_COL_N] = {
    "timestamp", "metric_name", "metric_value", "metric_agg_func",
    "data_stream_token"};

static int
col_cmp(const void *a, const void *b)
{
    const struct sp_csv_col *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n > 0 ? memcmp(x->name, y->name, n) : 0;

    if (c != 0) {
        return c;
    }
    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }
    return x->col < y->col ? -1 : (x->col > y->col);
}

void
sp_csv_layout_cleanup(struct sp_csv_layout *l)
{
    free(l->names);
    free(l->dims);
    memset(l, 0, sizeof(*l));
}

/* Why a header that lacks column k may lack it: "" when no reason shows.
 * A header of one column holding ';' was written for another separator;
 * a column named like k but for case was written for another tool. */
static const char *
header_hint(const char *const *fields, const size_t *lens, size_t n,
            size_t k)
{
    size_t want = strlen(col_names[k]);

    if (n == 1 && memchr(fields[0], ';', lens[0])) {
        return " (the header is one column holding ';': columns are "
               "separated by ',')";
    }
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == want && strncasecmp(fields[i], col_names[k],
                                           want) == 0) {
            return " (column names are lower case)";
        }
    }
    return "";
}

ctspool_rc
sp_csv_layout_init(struct sp_csv_layout *l, const char *const *fields,
                   const size_t *lens, size_t n, size_t line,
                   struct sp_err *e)
{
    struct sp_csv_col *all = NULL;
    size_t total = 0, o = 0, i, k;
    ctspool_rc rc = CTSPOOL_E_INVALID;

    memset(l, 0, sizeof(*l));
    for (k = 0; k < SP_COL_N; k++) {
        l->col[k] = NO_COL;
    }
    l->n_cols = n;
    for (i = 0; i < n; i++) {
        total += lens[i];
    }
    l->names = malloc(total + 1);
    all = calloc(n, sizeof(*all));
    l->dims = calloc(n, sizeof(*l->dims));
    if (!l->names || !all || !l->dims) {
        sp_err_set(e, "out of memory");
        rc = CTSPOOL_E_NOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (lens[i] == 0) {
            sp_err_set(e, "line %zu: CSV header column %zu has an empty name",
                       line, i + 1);
            goto out;
        }
        memcpy(l->names + o, fields[i], lens[i]);
        all[i].name = l->names + o;
        all[i].len = lens[i];
        all[i].col = i;
        o += lens[i];
    }
    qsort(all, n, sizeof(*all), col_cmp);
    for (i = 1; i < n; i++) {
        if (all[i].len == all[i - 1].len &&
            memcmp(all[i].name, all[i - 1].name, all[i].len) == 0) {
            sp_err_set(e,
                       "line %zu: CSV header columns %zu and %zu have the "
                       "same name",
                       line, all[i - 1].col + 1, all[i].col + 1);
            goto out;
        }
    }
    /* all[] is in key order: dimensions come out sorted. */
    for (i = 0; i < n; i++) {
        for (k = 0; k < SP_COL_N; k++) {
            if (all[i].len == strlen(col_names[k]) &&
                memcmp(all[i].name, col_names[k], all[i].len) == 0) {
                break;
            }
        }
        if (k < SP_COL_N) {
            l->col[k] = all[i].col;
        } else {
            l->dims[l->n_dims++] = all[i];
        }
    }
    for (k = 0; k <= SP_COL_VALUE; k++) {
        if (l->col[k] == NO_COL) {
            sp_err_set(e, "line %zu: CSV header has no '%s' column%s", line,
                       col_names[k], header_hint(fields, lens, n, k));
            goto out;
        }
    }
    rc = CTSPOOL_OK;
out:
    free(all);
    if (rc != CTSPOOL_OK) {
        sp_csv_layout_cleanup(l);
    }
    return rc;
}

/* One data row -> p; E_INVALID with the reason (no locator) in e. */
ctspool_rc
sp_csv_layout_point(const struct sp_csv_layout *l,
                    const struct sp_defaults *d, int *stream_ok,
                    const char *const *fv, const size_t *fl,
                    struct sp_point *p, struct sp_err *e)
{
    size_t c;
    ctspool_rc rc;

    p->n_dims = 0;
    p->name = fv[l->col[SP_COL_NAME]];
    p->name_len = fl[l->col[SP_COL_NAME]];
    rc = sp_valid_name(p->name, p->name_len, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    c = l->col[SP_COL_AGG];
    if (c != NO_COL && fl[c] > 0) {
        rc = sp_valid_agg(fv[c], fl[c], &p->agg, e);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    } else if (d && d->agg >= 0 && d->agg < SP_AGG_N) {
        p->agg = d->agg;
    } else {
        sp_err_set(e, "metric_agg_func: missing (%s, and no --agg default)",
                   c == NO_COL ? "no metric_agg_func column"
                               : "the cell is empty");
        return CTSPOOL_E_INVALID;
    }
    c = l->col[SP_COL_TIMESTAMP];
    rc = sp_valid_timestamp_str(fv[c], fl[c], &p->hour, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    c = l->col[SP_COL_VALUE];
    rc = sp_valid_value_str(fv[c], fl[c], &p->value, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    for (size_t i = 0; i < l->n_dims; i++) {
        c = l->dims[i].col;
        if (fl[c] == 0) {
            continue; /* empty cell: dimension absent */
        }
        rc = sp_point_add_dim(p, l->dims[i].name, l->dims[i].len, fv[c],
                              fl[c], e);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    rc = sp_point_finish(p, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    c = l->col[SP_COL_STREAM];
    if (c != NO_COL && fl[c] > 0) {
        p->stream = fv[c];
        p->stream_len = fl[c];
        rc = sp_valid_stream(p->stream, p->stream_len, e);
    } else if (!d || !d->stream || !d->stream[0]) {
        sp_err_set(e, "data_stream_token: missing (%s and no default "
                      "configured)",
                   c == NO_COL ? "no data_stream_token column"
                               : "the cell is empty");
        return CTSPOOL_E_INVALID;
    } else {
        p->stream = d->stream;
        p->stream_len = strlen(d->stream);
        if (!*stream_ok) {
            rc = sp_valid_stream(p->stream, p->stream_len, e);
            *stream_ok = rc == CTSPOOL_OK;
        }
    }
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    return sp_valid_stream_listed(d, p->stream, p->stream_len, e);
}
