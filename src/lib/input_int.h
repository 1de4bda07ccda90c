#ifndef INPUT_INT_H
#define INPUT_INT_H

#include <stddef.h>
#include <stdio.h>

#include "sp_int.h"

#define SP_INPUT_CHUNK ((size_t)64 * 1024)
#define SP_INPUT_LINE_MAX ((size_t)1024 * 1024) /* an NDJSON line */

extern const char sp_input_bom[3];

int sp_input_is_ws(char c);
ctspool_rc sp_input_read_error(struct sp_err *e);

enum sp_format sp_input_format_by_name(const char *name);
ctspool_rc sp_input_sniff(FILE *f, enum sp_format *fmt, char **pre,
                          size_t *pre_len, struct sp_err *e);
FILE *sp_input_prefixed_open(FILE *f, char *pre, size_t len);

enum {
    SP_COL_TIMESTAMP,
    SP_COL_NAME,
    SP_COL_VALUE,
    SP_COL_AGG,
    SP_COL_STREAM,
    SP_COL_N
};

struct sp_csv_col {
    const char *name; /* into the header copy */
    size_t len;
    size_t col;
};

/* What the header row says: where each field is, which are dimensions. */
struct sp_csv_layout {
    char *names;      /* copy of the header fields, back to back */
    size_t n_cols;
    size_t col[SP_COL_N];  /* column of each known field, or NO_COL */
    struct sp_csv_col *dims; /* dimension columns in bytewise key order */
    size_t n_dims;
};

void sp_csv_layout_cleanup(struct sp_csv_layout *l);
ctspool_rc sp_csv_layout_init(struct sp_csv_layout *l,
                              const char *const *fields, const size_t *lens,
                              size_t n, size_t line, struct sp_err *e);
ctspool_rc sp_csv_layout_point(const struct sp_csv_layout *l,
                               const struct sp_defaults *d, int *stream_ok,
                               const char *const *fv, const size_t *fl,
                               struct sp_point *p, struct sp_err *e);

#endif /* INPUT_INT_H */
