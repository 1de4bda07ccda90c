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
/* "read error: <errno text>"; returns E_IO. */
ctspool_rc sp_input_read_error(struct sp_err *e);
/* A failed sp_buf_read() (rc: E_NOMEM or E_IO) as the readers say it:
 * "out of memory", or as sp_input_read_error(); returns rc. */
ctspool_rc sp_input_read_failed(ctspool_rc rc, struct sp_err *e);

/* ---- input_detect.c --------------------------------------------------- */
/*
 * The first bytes of s read ahead (two, four after FF FE or 00 00, or
 * until its end) and given back: E_INVALID, said in e, when they are a
 * UTF-16 or UTF-32 byte order mark (sp_wide_bom); what
 * sp_input_read_failed() says of a read that failed; else OK.
 * sp_input_sniff() refuses the same by itself.
 */
ctspool_rc sp_input_refuse_wide(struct sp_src *s, struct sp_err *e);

/* What a reader hands every point and every error of its input to. */
struct sp_reader {
    const struct sp_defaults *d;
    sp_point_cb on_point;
    sp_error_cb on_error;
    void *ctx;
    const struct sp_reject_hook *reject; /* NULL: none */
};

/*
 * sp_input_ndjson_line -- one NDJSON line (without its LF) number n to
 * r: a point to on_point; an invalid one to the reject hook and to
 * on_error as "line N: <why>"; a blank line nowhere.  What a callback
 * returns, else OK; a failure of the parser itself (E_NOMEM) in e.
 * *scratch: the parser's, kept between calls (one per thread).
 */
ctspool_rc sp_input_ndjson_line(const struct sp_reader *r,
                                struct sp_payload_scratch **scratch,
                                const char *line, size_t len, size_t n,
                                struct sp_err *e);

/* What a CSV input's records are judged by once its header is read. */
struct sp_csv_rows {
    const struct sp_csv_layout *l; /* points: the header's layout; events:
                                    * only l->n_cols */
    int events;
    const size_t *ev_cols; /* events: sp_event_csv_header()'s columns */
};

/*
 * sp_input_csv_row -- one CSV record (n fields, starting on line line;
 * raw[0..raw_len): its bytes as read, or raw NULL) to r as
 * sp_input_ndjson_line does a line: a point, or the record to the reject
 * hook and "line N: <why>" to on_error.  *stream_ok: the layout's note
 * that the default stream passed (one per thread).
 */
ctspool_rc sp_input_csv_row(const struct sp_reader *r,
                            const struct sp_csv_rows *c, int *stream_ok,
                            const char *const *fv, const size_t *fl,
                            size_t n, const char *raw, size_t raw_len,
                            size_t line);

/* ---- input_par.c: NDJSON lines and CSV records judged by helper
 * threads --------------------------------------------------------------- */
/*
 * The lines given to sp_par_line() are parsed by n helper threads; r's
 * callbacks are called by the caller of sp_par_line() and
 * sp_par_flush(), with the same arguments, in the same order, as
 * sp_input_ndjson_line() on each line in turn would.  A line's results
 * are handed on at the latest by the sp_par_flush() after it; what a
 * callback returns (non-OK) or a parser failure (e) is returned by the
 * call handing it on, and then the caller stops (sp_par_end()).
 */
struct sp_par;
/* s->threads helpers for the lines of s (csv NULL), or for its CSV
 * records (sp_input_csv_row() with csv, borrowed); NULL: parse in the
 * caller (no threads asked for, s followed, or none could start). */
struct sp_par *sp_par_start(const struct sp_src *s, const struct sp_reader *r,
                            const struct sp_csv_rows *csv);
ctspool_rc sp_par_line(struct sp_par *par, const char *line, size_t len,
                       size_t lineno, struct sp_err *e);
/* A CSV record, with its bytes as read (raw NULL: not kept). */
ctspool_rc sp_par_row(struct sp_par *par, const char *const *fv,
                      const size_t *fl, size_t n, const char *raw,
                      size_t raw_len, size_t lineno, struct sp_err *e);
ctspool_rc sp_par_flush(struct sp_par *par, struct sp_err *e);
/* Stops the threads; results not handed on are dropped.  NULL: no-op. */
void sp_par_end(struct sp_par *par);

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
