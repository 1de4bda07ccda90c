/*
 * csv.c -- streaming RFC 4180 reader: records of fields from a FILE* or
 * an input source (struct sp_src), with bounded memory (64 KiB of input
 * buffer plus the current record, at most 1 MiB).
 *
 * Accepted: quoted fields with "" escapes, commas and line breaks inside
 * quotes, CRLF or LF line ends, a UTF-8 byte order mark at the start, a
 * last record without a line end.  An empty line is not a record (it is
 * skipped).  A bare CR that is not part of CRLF is ordinary data.
 *
 * Errors and how reading goes on (every error names the line):
 * - a quote inside an unquoted field, or text after a closing quote:
 *   E_INVALID; the rest of that physical line is skipped, the next call
 *   starts with the following line.
 * - a record longer than 1 MiB: E_INVALID once the whole record has been
 *   read past (quotes respected); the next call returns the next record.
 *   But a quoted field that runs over lines past 1 MiB (a stray quote
 *   would take in the rest of the input, and a followed log forever):
 *   E_INVALID naming the lines it took, the rest of the line it reached
 *   is skipped, and the next call starts with the following line.
 * - a quoted field still open at the end of the input: E_INVALID
 *   "unterminated quoted field", naming the line where the record
 *   started; the next call returns E_NOTFOUND.
 *
 * Invariant: between calls, the reader is at the start of a record
 * (state REC_START) and rec holds the fields of the last record returned
 * (and raw, when kept, its bytes: in[raw_from .. in_pos) is the part not
 * yet copied there while raw_on).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sp_int.h"

#define IN_CAP ((size_t)64 * 1024)
#define RECORD_MAX ((size_t)1024 * 1024)
#define RAW_MAX (2 * RECORD_MAX) /* quotes may double a record's bytes */

enum state {
    REC_START,   /* before the first byte of a record */
    REC_CR,      /* a CR at the start of a record: blank line or data? */
    FIELD_START, /* before the first byte of a field */
    UNQUOTED,    /* inside an unquoted field */
    QUOTED,      /* inside a quoted field */
    QUOTE,       /* a quote inside a quoted field: end or "" escape */
    QUOTE_CR     /* a CR after a closing quote: must be CRLF */
};

struct sp_csv {
    struct sp_src *src; /* borrowed, or &own */
    struct sp_src own;  /* sp_csv_open(): a plain FILE */
    char *in;
    size_t in_len, in_pos;
    int eof;
    int started; /* BOM check done */

    struct sp_buf rec; /* unescaped field bytes of the current record */
    size_t *starts; /* field i starts at rec + starts[i] */
    size_t *lens;
    const char **fields;
    size_t n_fields, fields_cap;

    size_t line; /* physical line of in[in_pos], 1-based */

    /* sp_csv_keep_raw(): the current record's bytes as read. */
    int keep_raw;
    int raw_on;      /* the record began: in[raw_from ..] is its */
    int raw_over;    /* longer than RAW_MAX: not kept */
    size_t raw_from;
    struct sp_buf raw;
};

/* src NULL: the reader's own source, which the caller fills in. */
static ctspool_rc
csv_new(struct sp_src *src, struct sp_csv **out)
{
    struct sp_csv *c;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (!c) {
        return CTSPOOL_E_NOMEM;
    }
    c->src = src ? src : &c->own;
    c->line = 1;
    c->in = malloc(IN_CAP);
    sp_buf_init(&c->rec);
    /* 4 KiB with the NUL at first. */
    if (!c->in || sp_buf_reserve_max(&c->rec, 4095, RECORD_MAX) != 0) {
        sp_csv_close(c);
        return CTSPOOL_E_NOMEM;
    }
    *out = c;
    return CTSPOOL_OK;
}

ctspool_rc
sp_csv_open(FILE *f, struct sp_csv **out)
{
    ctspool_rc rc = csv_new(NULL, out);

    if (rc == CTSPOOL_OK) {
        sp_src_init(&(*out)->own, f, 0, -1);
    }
    return rc;
}

ctspool_rc
sp_csv_open_src(struct sp_src *src, struct sp_csv **out)
{
    return csv_new(src, out);
}

void
sp_csv_close(struct sp_csv *c)
{
    if (!c) {
        return;
    }
    free(c->in);
    sp_buf_cleanup(&c->rec);
    sp_buf_cleanup(&c->raw);
    free(c->starts);
    free(c->lens);
    free(c->fields);
    sp_src_cleanup(&c->own);
    free(c);
}

/*
 * Make in[in_pos] available.  Returns OK (1 or more bytes, or c->eof set
 * and none), or E_IO.  The first fill skips a UTF-8 BOM.
 */
static ctspool_rc
fill(struct sp_csv *c, struct sp_err *e)
{
    ssize_t n;

    /* Again when the first read held the BOM alone (a followed pipe). */
    while (c->in_pos >= c->in_len && !c->eof) {
        c->in_pos = 0;
        c->in_len = 0;
        do {
            n = sp_src_read(c->src, c->in + c->in_len, IN_CAP - c->in_len);
            if (n < 0) {
                sp_err_set(e, "read error: %s", strerror(errno));
                return CTSPOOL_E_IO;
            }
            c->in_len += (size_t)n;
            if (n == 0) {
                c->eof = 1;
            }
            /* A pipe may deliver the BOM's bytes one at a time. */
        } while (!c->started && !c->eof && c->in_len < 3);
        if (!c->started) {
            c->started = 1;
            if (c->in_len >= 3 && memcmp(c->in, "\xEF\xBB\xBF", 3) == 0) {
                c->in_pos = 3;
            }
        }
    }
    return CTSPOOL_OK;
}

void
sp_csv_keep_raw(struct sp_csv *c)
{
    c->keep_raw = 1;
}

const char *
sp_csv_raw(const struct sp_csv *c, size_t *len)
{
    if (!c->keep_raw || c->raw_over) {
        *len = 0;
        return NULL;
    }
    *len = c->raw.len;
    return c->raw.p ? c->raw.p : "";
}

/* The record's bytes in[raw_from .. upto) to raw (once it began). */
static void
raw_take(struct sp_csv *c, size_t upto)
{
    size_t n = upto - c->raw_from;

    if (!c->raw_on || c->raw_over || n == 0) {
        return;
    }
    /* RAW_MAX and the LF that may end the record (record: drops it). */
    if (sp_buf_reserve_max(&c->raw, n, RAW_MAX + 1) != 0 ||
        sp_buf_add(&c->raw, c->in + c->raw_from, n) != 0) {
        c->raw_over = 1; /* too long, or no memory: fields only */
    }
    c->raw_from = upto;
}

/* The record's first byte is in[at] (its bytes from there on are kept,
 * when kept at all). */
static void
raw_begin(struct sp_csv *c, size_t at)
{
    c->raw_on = c->keep_raw;
    c->raw_from = at;
}

/* The record's length as RECORD_MAX counts it: fields and commas. */
static size_t
rec_size(const struct sp_csv *c)
{
    return c->rec.len + (c->n_fields > 0 ? c->n_fields - 1 : 0);
}

/* Append n bytes to the record, unless it is already too long. */
static ctspool_rc
rec_put(struct sp_csv *c, const char *s, size_t n, int *too_long)
{
    if (*too_long) {
        return CTSPOOL_OK;
    }
    if (n > RECORD_MAX - rec_size(c)) {
        *too_long = 1;
        return CTSPOOL_OK;
    }
    if (sp_buf_reserve_max(&c->rec, n, RECORD_MAX) != 0 ||
        sp_buf_add(&c->rec, s, n) != 0) {
        return CTSPOOL_E_NOMEM;
    }
    return CTSPOOL_OK;
}

/* Begin a field at the end of the record. */
static ctspool_rc
field_begin(struct sp_csv *c, int *too_long)
{
    if (*too_long) {
        return CTSPOOL_OK;
    }
    if (c->n_fields > 0 && rec_size(c) + 1 > RECORD_MAX) {
        *too_long = 1;
        return CTSPOOL_OK;
    }
    if (c->n_fields == c->fields_cap) {
        size_t cap = c->fields_cap ? c->fields_cap * 2 : 32;
        size_t *st = realloc(c->starts, cap * sizeof(*st));
        size_t *ln;
        const char **fl;

        if (!st) {
            return CTSPOOL_E_NOMEM;
        }
        c->starts = st;
        ln = realloc(c->lens, cap * sizeof(*ln));
        if (!ln) {
            return CTSPOOL_E_NOMEM;
        }
        c->lens = ln;
        fl = realloc(c->fields, cap * sizeof(*fl));
        if (!fl) {
            return CTSPOOL_E_NOMEM;
        }
        c->fields = fl;
        c->fields_cap = cap;
    }
    c->starts[c->n_fields++] = c->rec.len;
    return CTSPOOL_OK;
}

/* Length of the current (last) field so far. */
static size_t
field_len(const struct sp_csv *c)
{
    return c->rec.len - c->starts[c->n_fields - 1];
}

/* A CR that ends the field ends its line (CRLF, or a last line at the
 * end of the input): it is not data. */
static void
rec_drop_cr(struct sp_csv *c, int too_long)
{
    if (!too_long && field_len(c) > 0 &&
        c->rec.p[c->rec.len - 1] == '\r') {
        sp_buf_truncate(&c->rec, c->rec.len - 1);
    }
}

/*
 * Skip the rest of the physical line after a quoting error.  Returns OK
 * or E_IO.
 */
static ctspool_rc
skip_line(struct sp_csv *c, struct sp_err *e)
{
    const char *nl;
    ctspool_rc rc;

    for (;;) {
        rc = fill(c, e);
        if (rc != CTSPOOL_OK || c->in_pos == c->in_len) {
            return rc;
        }
        nl = memchr(c->in + c->in_pos, '\n', c->in_len - c->in_pos);
        if (nl) {
            c->in_pos = (size_t)(nl - c->in) + 1;
            c->line++;
            return CTSPOOL_OK;
        }
        c->in_pos = c->in_len;
    }
}

/* Count of '\n' in s[0..n). */
static size_t
count_nl(const char *s, size_t n)
{
    size_t k = 0;
    const char *p = s, *end = s + n;

    while (p < end) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p) {
            break;
        }
        k++;
        p++;
    }
    return k;
}

ctspool_rc
sp_csv_next(struct sp_csv *c, const char *const **fields,
            const size_t **lens, size_t *n_fields, size_t *line,
            struct sp_err *e)
{
    enum state st = REC_START;
    size_t start_line = c->line;
    int too_long = 0;
    ctspool_rc rc = CTSPOOL_OK;
    const char *p, *end, *q;
    size_t room;
    char ch;

    sp_buf_reset(&c->rec);
    c->n_fields = 0;
    *n_fields = 0;
    *line = start_line;
    sp_buf_reset(&c->raw);
    c->raw_on = 0;
    c->raw_over = 0;
    for (;;) {
        if (c->in_pos >= c->in_len) {
            raw_take(c, c->in_len); /* before fill() reuses in */
            rc = fill(c, e);
            if (rc != CTSPOOL_OK) {
                return rc;
            }
            c->raw_from = c->in_pos;
        }
        if (c->in_pos == c->in_len) {
            break; /* end of input */
        }
        p = c->in + c->in_pos;
        end = c->in + c->in_len;
        switch (st) {
        case REC_START:
            start_line = c->line;
            if (*p == '\n') {
                c->line++; /* empty line: not a record */
                c->in_pos++;
            } else if (*p == '\r') {
                c->in_pos++;
                st = REC_CR;
            } else {
                raw_begin(c, c->in_pos);
                st = FIELD_START;
            }
            continue;
        case REC_CR:
            if (*p == '\n') {
                c->line++;
                c->in_pos++;
                st = REC_START;
                continue;
            }
            /* The CR was data of the first field (read into in[] before
             * the last fill, perhaps). */
            raw_begin(c, c->in_pos);
            if (c->raw_on && sp_buf_add(&c->raw, "\r", 1) != 0) {
                c->raw_over = 1;
            }
            rc = field_begin(c, &too_long);
            if (rc == CTSPOOL_OK) {
                rc = rec_put(c, "\r", 1, &too_long);
            }
            if (rc != CTSPOOL_OK) {
                goto nomem;
            }
            st = UNQUOTED;
            continue;
        case FIELD_START:
            rc = field_begin(c, &too_long);
            if (rc != CTSPOOL_OK) {
                goto nomem;
            }
            if (*p == '"') {
                c->in_pos++;
                st = QUOTED;
            } else {
                st = UNQUOTED;
            }
            continue;
        case UNQUOTED:
            q = p;
            while (q < end && *q != ',' && *q != '\n' && *q != '"') {
                q++;
            }
            rc = rec_put(c, p, (size_t)(q - p), &too_long);
            if (rc != CTSPOOL_OK) {
                goto nomem;
            }
            c->in_pos = (size_t)(q - c->in);
            if (q == end) {
                continue;
            }
            c->in_pos++;
            if (*q == ',') {
                st = FIELD_START;
                continue;
            }
            if (*q == '\n') {
                rec_drop_cr(c, too_long);
                c->line++;
                goto record;
            }
            sp_err_set(e,
                       "line %zu: a quote (\") inside an unquoted field; "
                       "quote the whole field and double the quotes in it",
                       c->line);
            goto bad_quoting;
        case QUOTED:
            q = memchr(p, '"', (size_t)(end - p));
            if (!q) {
                q = end;
            }
            room = too_long ? 0 : RECORD_MAX - rec_size(c);
            if (!too_long && (size_t)(q - p) > room &&
                (c->line > start_line || memchr(p, '\n', room))) {
                /* A quote without its closing one makes every later
                 * line part of one field: a followed log would never
                 * be read again.  Given up where the record passes
                 * 1 MiB, on the line it reached. */
                c->line += count_nl(p, room);
                c->in_pos = (size_t)(p + room - c->in);
                sp_err_set(e,
                           "line %zu: a quoted field runs on for more than "
                           "1 MiB, to line %zu (a quote without its closing "
                           "one?): lines %zu to %zu are skipped",
                           start_line, c->line, start_line, c->line);
                goto bad_quoting;
            }
            c->line += count_nl(p, (size_t)(q - p));
            rc = rec_put(c, p, (size_t)(q - p), &too_long);
            if (rc != CTSPOOL_OK) {
                goto nomem;
            }
            c->in_pos = (size_t)(q - c->in);
            if (q < end) {
                c->in_pos++;
                st = QUOTE;
            }
            continue;
        case QUOTE:
            ch = *p;
            c->in_pos++;
            if (ch == '"') {
                rc = rec_put(c, "\"", 1, &too_long);
                if (rc != CTSPOOL_OK) {
                    goto nomem;
                }
                st = QUOTED;
                continue;
            }
            if (ch == ',') {
                st = FIELD_START;
                continue;
            }
            if (ch == '\n') {
                c->line++;
                goto record;
            }
            if (ch == '\r') {
                st = QUOTE_CR;
                continue;
            }
            c->in_pos--;
            sp_err_set(e,
                       "line %zu: text after the closing quote of a field "
                       "(a quoted field must end at a comma or a line "
                       "end)",
                       c->line);
            goto bad_quoting;
        case QUOTE_CR:
            if (*p == '\n') {
                c->in_pos++;
                c->line++;
                goto record;
            }
            sp_err_set(e,
                       "line %zu: text after the closing quote of a field "
                       "(a quoted field must end at a comma or a line "
                       "end)",
                       c->line);
            goto bad_quoting;
        }
    }

    /* End of input. */
    switch (st) {
    case REC_START:
    case REC_CR:
        return CTSPOOL_E_NOTFOUND;
    case FIELD_START:
        /* "a,b," then EOF: the last field is empty. */
        rc = field_begin(c, &too_long);
        if (rc != CTSPOOL_OK) {
            goto nomem;
        }
        break;
    case UNQUOTED:
        rec_drop_cr(c, too_long);
        break;
    case QUOTED:
        sp_err_set(e, "line %zu: unterminated quoted field", start_line);
        *line = start_line;
        return CTSPOOL_E_INVALID;
    case QUOTE:
    case QUOTE_CR:
        break;
    }

record:
    *line = start_line;
    raw_take(c, c->in_pos);
    if (c->raw.len && c->raw.p[c->raw.len - 1] == '\n') {
        sp_buf_truncate(&c->raw, c->raw.len - 1); /* its LF, not data */
    }
    if (c->raw.len > RAW_MAX) {
        c->raw_over = 1; /* the same bound with a LF or at the end */
    }
    if (too_long) {
        sp_err_set(e, "line %zu: record longer than 1 MiB", start_line);
        return CTSPOOL_E_INVALID;
    }
    for (size_t i = 0; i < c->n_fields; i++) {
        size_t next = i + 1 < c->n_fields ? c->starts[i + 1] : c->rec.len;

        c->fields[i] = c->rec.p + c->starts[i];
        c->lens[i] = next - c->starts[i];
    }
    *fields = c->fields;
    *lens = c->lens;
    *n_fields = c->n_fields;
    return CTSPOOL_OK;

bad_quoting:
    *line = start_line;
    rc = skip_line(c, e);
    return rc == CTSPOOL_OK ? CTSPOOL_E_INVALID : rc;

nomem:
    sp_err_set(e, "line %zu: out of memory", start_line);
    return rc;
}
