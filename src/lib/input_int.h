/*
 * input_int.h -- declarations shared by the readers of append input:
 * input.c, input_detect.c and csv_layout.c.  Their interface is
 * sp_input_read() and sp_input_read_src() in sp_int.h.
 */
#ifndef INPUT_INT_H
#define INPUT_INT_H

#include <stddef.h>
#include <stdio.h>

#include "sp_int.h"

#define SP_INPUT_CHUNK ((size_t)64 * 1024)      /* one read */
#define SP_INPUT_LINE_MAX ((size_t)1024 * 1024) /* an NDJSON line */

/* ---- input.c ---------------------------------------------------------- */
extern const char sp_input_bom[3];
/* JSON whitespace. */
int sp_input_is_ws(char c);
/* "read error: <errno text>"; returns E_IO. */
ctspool_rc sp_input_read_error(struct sp_err *e);
/* A failed sp_buf_read() (rc: E_NOMEM or E_IO) as the readers say it:
 * "out of memory", or as sp_input_read_error(); returns rc. */
ctspool_rc sp_input_read_failed(ctspool_rc rc, struct sp_err *e);

/* ---- input_detect.c --------------------------------------------------- */
/* The format a file name's extension implies, else SP_FMT_AUTO. */
enum sp_format sp_input_format_by_name(const char *name);
/* Reads the start of s until its format is known, then gives the bytes
 * read back to s. */
ctspool_rc sp_input_sniff(struct sp_src *s, enum sp_format *fmt,
                          struct sp_err *e);

/* ---- csv_layout.c ----------------------------------------------------- */
/* The fields of a point a CSV column can hold by name. */
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
    size_t col[SP_COL_N];  /* column of each known field, or (size_t)-1 */
    struct sp_csv_col *dims; /* dimension columns in bytewise key order */
    size_t n_dims;
};

/*
 * The header row (n fields, on line line) -> *l; E_INVALID with the line
 * in e when a name is empty or repeated or a required field is missing,
 * or E_NOMEM.
 */
ctspool_rc sp_csv_layout_init(struct sp_csv_layout *l,
                              const char *const *fields, const size_t *lens,
                              size_t n, size_t line, struct sp_err *e);
void sp_csv_layout_cleanup(struct sp_csv_layout *l);
/* One data row -> p; E_INVALID with the reason (no locator) in e. */
ctspool_rc sp_csv_layout_point(const struct sp_csv_layout *l,
                               const struct sp_defaults *d, int *stream_ok,
                               const char *const *fv, const size_t *fl,
                               struct sp_point *p, struct sp_err *e);

#endif /* INPUT_INT_H */
