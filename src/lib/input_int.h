#ifndef INPUT_INT_H
#define INPUT_INT_H

#include <stddef.h>
#include <stdio.h>

#include "sp_int.h"

#define CHUNK ((size_t)64 * 1024)
#define LINE_MAX_BYTES ((size_t)1024 * 1024) /* an NDJSON line */

extern const char bom[3];

int is_ws(char c);
ctspool_rc read_error(struct sp_err *e);

enum sp_format format_by_name(const char *name);
ctspool_rc sniff(FILE *f, enum sp_format *fmt, char **pre, size_t *pre_len,
                 struct sp_err *e);
FILE *prefixed_open(FILE *f, char *pre, size_t len);

enum { C_TIMESTAMP, C_NAME, C_VALUE, C_AGG, C_STREAM, C_N };

struct csv_col {
    const char *name; /* into the header copy */
    size_t len;
    size_t col;
};

/* What the header row says: where each field is, which are dimensions. */
struct csv_layout {
    char *names;      /* copy of the header fields, back to back */
    size_t n_cols;
    size_t col[C_N];  /* column of each known field, or NO_COL */
    struct csv_col *dims; /* dimension columns in bytewise key order */
    size_t n_dims;
};

void layout_cleanup(struct csv_layout *l);
ctspool_rc layout_init(struct csv_layout *l, const char *const *fields,
                       const size_t *lens, size_t n, size_t line,
                       struct sp_err *e);
ctspool_rc csv_point(const struct csv_layout *l, const struct sp_defaults *d,
                     int *stream_ok, const char *const *fv, const size_t *fl,
                     struct sp_point *p, struct sp_err *e);

#endif /* INPUT_INT_H */
