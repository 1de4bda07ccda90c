/*
 * input.c -- the input formats of `ctspool append` -> a stream of
 * points: Cloudthread payloads (read whole, or object by object from a
 * following source), NDJSON and CSV (streamed, bounded memory).
 * input_detect.c tells the format when none is given; csv_layout.c maps
 * a CSV header's columns to the fields of a point; input_src.c supplies
 * the bytes (struct sp_src).
 *
 * Every point goes to on_point, or, when invalid, to on_error with a
 * locator in front of the message: "line N: " (NDJSON; CSV: the line
 * where the record starts) or "object K, data[I]: " (cloudthread, K
 * 1-based, I 0-based).  The input is always read to its end, so every
 * error is reported, unless a callback returns non-OK (then that code is
 * returned at once) or the input cannot be read on (returned E_INVALID).
 *
 * Field rules live in validate.c; JSON parsing in payload.c; RFC 4180 in
 * csv.c.  Messages never name the input (the caller prefixes it) and
 * never carry a data_stream_token value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event.h"
#include "input_int.h"
#include "payload_int.h"
#include "sp_int.h"

#define LINE_BUF_MAX (SP_INPUT_LINE_MAX + 2) /* a line with its CR LF */
#define WHOLE_MAX ((size_t)1024 * 1024 * 1024) /* a cloudthread input */
/* A following source's object larger than this goes to a file. */
#define FOLLOW_HOLD ((size_t)8 * 1024 * 1024)

/* The UTF-8 byte order mark, skipped at the start of any input. */
const char sp_input_bom[3] = {'\xEF', '\xBB', '\xBF'};

ctspool_rc
sp_input_read_error(struct sp_err *e)
{
    sp_err_set(e, "read error: %s", strerror(errno));
    return CTSPOOL_E_IO;
}

ctspool_rc
sp_input_read_failed(ctspool_rc rc, struct sp_err *e)
{
    if (rc != CTSPOOL_E_NOMEM) {
        return sp_input_read_error(e);
    }
    sp_err_set(e, "out of memory");
    return rc;
}

/* Once b holds 3 bytes (or all there is), a leading UTF-8 byte order
 * mark is skipped: *pos goes past it.  *bom_done: looked already. */
static void
skip_bom(const struct sp_buf *b, int eof, int *bom_done, size_t *pos)
{
    if (!*bom_done && (b->len >= 3 || eof)) {
        *bom_done = 1;
        if (b->len >= 3 && memcmp(b->p, sp_input_bom, 3) == 0) {
            *pos = 3;
        }
    }
}

/* ---- NDJSON ----------------------------------------------------------- */

/* Report the invalid point on line n: "line N: <pe->msg>". */
static ctspool_rc
report_line(const struct sp_reader *r, size_t n, struct sp_err *pe)
{
    sp_err_prefix(pe, "line %zu: ", n);
    return r->on_error(r->ctx, n, pe);
}

ctspool_rc
sp_input_ndjson_line(const struct sp_reader *r,
                     struct sp_payload_scratch **scratch, const char *line,
                     size_t len, size_t n, struct sp_err *e)
{
    struct sp_point p;
    struct sp_err pe;
    ctspool_rc rc;
    size_t i, whole = len; /* a rejected line is written with its CR */

    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    for (i = 0; i < len && (sp_json_ws(line[i]) || line[i] == '\f' ||
                            line[i] == '\v');
         i++) {
    }
    if (i == len) {
        return CTSPOOL_OK; /* blank */
    }
    if (len > SP_INPUT_LINE_MAX) {
        sp_err_set(&pe, "line longer than 1 MiB");
        return report_line(r, n, &pe);
    }
    if (r->d && r->d->events) {
        struct sp_jscan *js = sp_payload_scan(scratch, &pe);

        rc = js ? sp_event_parse_line(line, len, &p, js, &pe)
                : CTSPOOL_E_NOMEM;
        if (rc == CTSPOOL_OK) {
            return r->on_point(r->ctx, &p);
        }
    } else {
        rc = sp_payload_parse_line(line, len, r->d, scratch, &p, &pe);
        if (rc == CTSPOOL_OK) {
            return r->on_point(r->ctx, &p);
        }
    }
    if (rc == CTSPOOL_E_INVALID) {
        if (r->reject && r->reject->line) {
            r->reject->line(r->reject->ctx, line, whole);
        }
        return report_line(r, n, &pe);
    }
    *e = pe;
    return rc;
}

/* Line n to r: parsed here, or queued for the helper threads (par). */
static ctspool_rc
one_line(struct sp_par *par, const struct sp_reader *r,
         struct sp_payload_scratch **scratch, const char *line, size_t len,
         size_t n, struct sp_err *e)
{
    if (par) {
        return sp_par_line(par, line, len, n, e);
    }
    return sp_input_ndjson_line(r, scratch, line, len, n, e);
}

/*
 * Lines are cut from a buffer refilled in 64 KiB reads; it grows to hold
 * one line of at most 1 MiB.  A longer line is reported and skipped up
 * to its LF; reading goes on with the next line.  With s->threads (not
 * following), the lines are parsed by that many helper threads
 * (input_par.c); every result still reaches r in input order.
 */
static ctspool_rc
read_ndjson(struct sp_src *s, const struct sp_reader *r, struct sp_err *e)
{
    struct sp_payload_scratch *scratch = NULL;
    struct sp_par *par = NULL;
    struct sp_err pe;
    struct sp_buf b;
    char *nl;
    size_t pos = 0, lineno = 0, n;
    int eof = 0, bom_done = 0, skipping = 0;
    ctspool_rc rc = CTSPOOL_OK, read_rc = CTSPOOL_OK;

    par = sp_par_start(s, r, NULL);
    sp_buf_init(&b);
    for (;;) {
        if (bom_done) {
            nl = memchr(b.p + pos, '\n', b.len - pos);
            if (nl) {
                size_t start = pos;

                pos = (size_t)(nl - b.p) + 1;
                lineno++;
                if (skipping) {
                    skipping = 0; /* the tail of a long line */
                    continue;
                }
                rc = one_line(par, r, &scratch, b.p + start,
                              (size_t)(nl - b.p) - start, lineno, e);
                if (rc != CTSPOOL_OK) {
                    goto out;
                }
                continue;
            }
            if (eof) {
                if (pos < b.len && !skipping) {
                    rc = one_line(par, r, &scratch, b.p + pos, b.len - pos,
                                  lineno + 1, e);
                }
                goto done;
            }
            /* No whole line left: keep the partial one, read more. */
            sp_buf_drop(&b, skipping ? b.len : pos);
            pos = 0;
            if (b.len == LINE_BUF_MAX) {
                /* The lines before it first, then its report. */
                rc = par ? sp_par_flush(par, e) : CTSPOOL_OK;
                if (rc != CTSPOOL_OK) {
                    goto out;
                }
                sp_err_set(&pe, "line longer than 1 MiB");
                rc = report_line(r, lineno + 1, &pe);
                if (rc != CTSPOOL_OK) {
                    goto out;
                }
                skipping = 1;
                sp_buf_truncate(&b, 0);
            }
        }
        rc = sp_buf_read(&b, s, LINE_BUF_MAX, &n);
        if (rc != CTSPOOL_OK) {
            read_rc = sp_input_read_failed(rc, &pe);
            rc = CTSPOOL_OK;
            goto done;
        }
        eof = n == 0;
        skip_bom(&b, eof, &bom_done, &pos);
    }
done:
    /* Every line read reaches r before the end (or a read error). */
    if (rc == CTSPOOL_OK && par) {
        rc = sp_par_flush(par, e);
    }
    if (rc == CTSPOOL_OK && read_rc != CTSPOOL_OK) {
        *e = pe;
        rc = read_rc;
    }
out:
    sp_par_end(par);
    sp_payload_scratch_free(scratch);
    sp_buf_cleanup(&b);
    return rc;
}

/* ---- Cloudthread payloads ---------------------------------------------- */

struct ct_ctx {
    const struct sp_reader *r;
    size_t k;        /* 1-based number of the current object */
    int stopped;     /* a callback returned non-OK */
};

static ctspool_rc
ct_point(void *ctx, const struct sp_point *p)
{
    struct ct_ctx *c = ctx;
    ctspool_rc rc = c->r->on_point(c->r->ctx, p);

    c->stopped = rc != CTSPOOL_OK;
    return rc;
}

static ctspool_rc
ct_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct ct_ctx *c = ctx;
    struct sp_err pe = *e;
    ctspool_rc rc;

    sp_err_prefix(&pe, "object %zu, data[%zu]: ", c->k, index);
    rc = c->r->on_error(c->r->ctx, index, &pe);
    c->stopped = rc != CTSPOOL_OK;
    return rc;
}

/*
 * What became of the k-th payload object (c->k counts it), which started
 * at input offset at and was parsed with result rc into pe: an object
 * whose JSON is sound but whose top level is invalid (bad
 * metric_agg_func, no "data"...; used > 0) is one error, reported with
 * index 0 and the locator "object K: ".  Broken JSON returns E_INVALID
 * (e): it ends the input.
 */
static ctspool_rc
ct_result(struct ct_ctx *c, ctspool_rc rc, uint64_t at, uint64_t used,
          struct sp_err *pe, struct sp_err *e)
{
    if (c->stopped || rc == CTSPOOL_OK) {
        return rc;
    }
    if (rc == CTSPOOL_E_INVALID && used > 0) {
        sp_err_prefix(pe, "object %zu: ", c->k);
        return c->r->on_error(c->r->ctx, 0, pe);
    }
    *e = *pe;
    if (rc == CTSPOOL_E_INVALID && at > 0) {
        sp_err_offsets_from(e, at);
        sp_err_prefix(e, "object %zu (starting at byte offset %llu): ", c->k,
                      (unsigned long long)at);
    } else if (rc == CTSPOOL_E_INVALID) {
        sp_err_prefix(e, "object %zu: ", c->k);
    }
    return rc;
}

/* The next payload object, held whole at buf[pos..len) (whitespace
 * already skipped); base: the input's offset of buf[0].  OK: go on after
 * *used bytes. */
static ctspool_rc
ct_object(struct ct_ctx *c, const char *buf, size_t len, size_t pos,
          size_t base, size_t *used, struct sp_err *e)
{
    struct sp_err pe;
    ctspool_rc rc;

    c->k++;
    *used = 0;
    rc = sp_payload_parse_next(buf + pos, len - pos, c->r->d, ct_point,
                               ct_error, c, c->r->reject, used, &pe);
    return ct_result(c, rc, base + pos, *used, &pe, e);
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * A descriptor from which the rest of s can be read twice, and the
 * offset there of s's next byte.  A regular file is read in place;
 * anything else (a pipe) is copied to an anonymous file in s->spill_dir
 * first (*own: close *fd when done).
 */
static ctspool_rc
rereadable(struct sp_src *s, int *fd, int *own, uint64_t *base,
           struct sp_err *e)
{
    const char *dir = s->spill_dir ? s->spill_dir : getenv("TMPDIR");
    char why[128] = "";
    struct stat st;
    off_t pos;
    char *buf;
    ssize_t n;

    *own = 0;
    *fd = fileno(s->f);
    if (!s->is_follow && fstat(*fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (pos = ftello(s->f)) >= 0 &&
        (uint64_t)pos >= s->pre_len - s->pre_pos) {
        *base = (uint64_t)pos - (s->pre_len - s->pre_pos);
        return CTSPOOL_OK;
    }
    if (!dir || !dir[0]) {
        dir = "/tmp";
    }
    *fd = sp_tmpfd(dir, why, sizeof(why));
    if (*fd < 0) {
        sp_err_set(e, "cannot create a file in %s to read the input from: "
                   "%s", dir, why);
        return CTSPOOL_E_IO;
    }
    *own = 1;
    *base = 0;
    buf = malloc(SP_INPUT_CHUNK);
    if (!buf) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    while ((n = sp_src_read(s, buf, SP_INPUT_CHUNK)) > 0) {
        if (write_all(*fd, buf, (size_t)n) != 0) {
            sp_err_set(e, "cannot copy the input to %s: %s", dir,
                       strerror(errno));
            free(buf);
            return errno == ENOSPC ? CTSPOOL_E_DISKFULL : CTSPOOL_E_IO;
        }
    }
    free(buf);
    return n < 0 ? sp_input_read_error(e) : CTSPOOL_OK;
}

/* Payload objects, whitespace-separated, each read twice in bounded
 * memory (payload_doc.c). */
static ctspool_rc
read_cloudthread(struct sp_src *s, const struct sp_reader *r, struct sp_err *e)
{
    struct ct_ctx c = {r, 0, 0};
    struct sp_docsrc *ds = NULL;
    uint64_t base, off = 0, used;
    int fd = -1, own = 0, ch;
    struct sp_err pe;
    ctspool_rc rc;

    rc = rereadable(s, &fd, &own, &base, e);
    if (rc == CTSPOOL_OK) {
        rc = sp_docsrc_open_fd(fd, base, &ds, e);
    }
    if (rc != CTSPOOL_OK) {
        goto out;
    }
    sp_docsrc_set_reject(ds, r->reject);
    if (sp_docsrc_byte(ds, 0, e) == 0xEF && sp_docsrc_byte(ds, 1, e) == 0xBB &&
        sp_docsrc_byte(ds, 2, e) == 0xBF) {
        off = 3;
    }
    for (;;) {
        while ((ch = sp_docsrc_byte(ds, off, e)) >= 0 &&
               sp_json_ws((char)ch)) {
            off++;
        }
        if (ch == -2) {
            rc = CTSPOOL_E_IO;
            goto out;
        }
        if (ch == -1) {
            break;
        }
        c.k++;
        rc = sp_payload_parse_at(ds, off, r->d, ct_point, ct_error, &c,
                                 &used, &pe);
        rc = ct_result(&c, rc, off, used, &pe, e);
        if (rc != CTSPOOL_OK) {
            goto out;
        }
        off += used;
    }
    rc = CTSPOOL_OK;
out:
    sp_docsrc_close(ds);
    if (own) {
        close(fd);
    }
    return rc;
}

/* How far the end of a JSON value has been looked for. */
struct ct_scan {
    size_t at; /* next byte to look at, from the value's start */
    size_t depth;
    int in_str, esc, is_scalar;
};

/* A byte that cannot continue a number or a literal. */
static int
ends_scalar(char c)
{
    return sp_json_ws(c) || c == '{' || c == '}' || c == '[' ||
           c == ']' || c == '"' || c == ',' || c == ':';
}

/*
 * Whether s[0..len), the start of a JSON value (not whitespace), holds
 * all of it; then *end is its length.  sc (zeroed for a new value) keeps
 * the scan between calls as bytes arrive, so each byte is looked at once.
 * Objects, arrays and strings end with their closing character, anything
 * else before a byte that cannot continue it (broken JSON ends somewhere:
 * the parser then says what is wrong).
 */
/*
 * Byte ch at the value's offset sc->at: 0 the value goes on, 1 it ends
 * after ch, 2 it ended before ch (a scalar).  Does not advance sc->at.
 */
static int
ct_scan_byte(struct ct_scan *sc, char ch)
{
    if (sc->at == 0 && ch != '{' && ch != '[' && ch != '"') {
        sc->is_scalar = 1;
    } else if (sc->is_scalar) {
        return ends_scalar(ch) ? 2 : 0;
    } else if (sc->in_str) {
        if (sc->esc) {
            sc->esc = 0;
        } else if (ch == '\\') {
            sc->esc = 1;
        } else if (ch == '"') {
            sc->in_str = 0;
            return sc->depth == 0;
        }
    } else if (ch == '"') {
        sc->in_str = 1;
    } else if (ch == '{' || ch == '[') {
        sc->depth++;
    } else if ((ch == '}' || ch == ']') && --sc->depth == 0) {
        return 1;
    }
    return 0;
}

static int
ct_value_end(const char *s, size_t len, struct ct_scan *sc, size_t *end)
{
    for (; sc->at < len; sc->at++) {
        int r = ct_scan_byte(sc, s[sc->at]);

        if (r) {
            *end = r == 1 ? sc->at + 1 : sc->at;
            return 1;
        }
    }
    return 0;
}

/*
 * A following source's object larger than FOLLOW_HOLD bytes: the part
 * read so far, b->p[pos..len) (scanned by sc), and the rest up to its
 * end go to an unlinked file in s->spill_dir, from which it is parsed
 * like any document (payload_doc.c: bounded memory).  What was read
 * past its end is left in b (from b->p[0]).  *size: the object's size.
 */
static ctspool_rc
ct_object_spilled(struct ct_ctx *c, struct sp_src *s, struct sp_buf *b,
                  size_t pos, struct ct_scan *sc, uint64_t base,
                  uint64_t *size, struct sp_err *e)
{
    const char *dir = s->spill_dir ? s->spill_dir : getenv("TMPDIR");
    struct sp_docsrc *ds = NULL;
    char why[128] = "", *chunk = NULL;
    uint64_t total = b->len - pos, used = 0;
    size_t n = 0, k = 0;
    int fd, found = 0;
    struct sp_err pe;
    ctspool_rc rc = CTSPOOL_OK;

    if (!dir || !dir[0]) {
        dir = "/tmp";
    }
    fd = sp_tmpfd(dir, why, sizeof(why));
    if (fd < 0) {
        sp_err_set(e, "cannot create a file in %s to read the input from: "
                   "%s", dir, why);
        return CTSPOOL_E_IO;
    }
    if (write_all(fd, b->p + pos, b->len - pos) != 0 ||
        !(chunk = malloc(SP_INPUT_CHUNK))) {
        goto write_failed;
    }
    sp_buf_reset(b);
    while (!found) {
        ssize_t r = sp_src_read(s, chunk, SP_INPUT_CHUNK);

        if (r < 0) {
            rc = sp_input_read_error(e);
            goto out;
        }
        if (r == 0) {
            break; /* cut short: the parse says where */
        }
        n = (size_t)r;
        for (k = 0; k < n && !found; k++, sc->at++) {
            int end = ct_scan_byte(sc, chunk[k]);

            if (end) {
                found = 1;
                k += end == 1; /* k: the object's bytes in this chunk */
                break;
            }
        }
        if (total + k > WHOLE_MAX) {
            sp_err_set(e, "object %zu: larger than 1 GiB", c->k + 1);
            rc = CTSPOOL_E_INVALID;
            goto out;
        }
        if (write_all(fd, chunk, k) != 0) {
            goto write_failed;
        }
        total += k;
    }
    if (found && sp_buf_add(b, chunk + k, n - k) != 0) {
        sp_err_set(e, "out of memory");
        rc = CTSPOOL_E_NOMEM;
        goto out;
    }
    rc = sp_docsrc_open_fd(fd, 0, &ds, e);
    if (rc == CTSPOOL_OK) {
        c->k++;
        rc = sp_payload_parse_at(ds, 0, c->r->d, ct_point, ct_error, c,
                                 &used, &pe);
        rc = ct_result(c, rc, base + pos, used, &pe, e);
    }
    *size = total;
    goto out;
write_failed:
    sp_err_set(e, "cannot copy the input to %s: %s", dir, strerror(errno));
    rc = errno == ENOSPC ? CTSPOOL_E_DISKFULL : CTSPOOL_E_IO;
out:
    sp_docsrc_close(ds);
    free(chunk);
    close(fd);
    return rc;
}

/*
 * Payload objects as they arrive (a following source): each is parsed
 * once all of it has been read, so only the object being read is held in
 * memory, up to FOLLOW_HOLD bytes; a larger one goes on to a file
 * (ct_object_spilled).  Otherwise as read_cloudthread.
 */
static ctspool_rc
read_cloudthread_follow(struct sp_src *s, const struct sp_reader *r,
                        struct sp_err *e)
{
    struct ct_ctx c = {r, 0, 0};
    struct ct_scan sc;
    struct sp_buf b;
    size_t pos = 0, base = 0, end, used, n;
    int eof = 0, bom_done = 0;
    ctspool_rc rc = CTSPOOL_OK;

    sp_buf_init(&b);
    memset(&sc, 0, sizeof(sc));
    for (;;) {
        while (bom_done) {
            pos = sp_json_ws_end(b.p, b.len, pos);
            if (pos == b.len ||
                (!ct_value_end(b.p + pos, b.len - pos, &sc, &end) && !eof)) {
                break; /* no more, or not all of the next one yet */
            }
            rc = ct_object(&c, b.p, b.len, pos, base, &used, e);
            if (rc != CTSPOOL_OK) {
                goto out;
            }
            pos += used;
            memset(&sc, 0, sizeof(sc));
        }
        if (eof) {
            goto out;
        }
        /* Keep the object being read, read more. */
        sp_buf_drop(&b, pos);
        base += pos;
        pos = 0;
        if (bom_done && b.len > FOLLOW_HOLD) {
            uint64_t size = 0;

            rc = ct_object_spilled(&c, s, &b, 0, &sc, base, &size, e);
            if (rc != CTSPOOL_OK) {
                goto out;
            }
            base += size;
            memset(&sc, 0, sizeof(sc));
            continue; /* b: what followed it */
        }
        rc = sp_buf_read(&b, s, WHOLE_MAX + 1, &n);
        if (rc == CTSPOOL_E_FULL) {
            sp_err_set(e, "object %zu: larger than 1 GiB", c.k + 1);
            rc = CTSPOOL_E_INVALID;
            goto out;
        }
        if (rc != CTSPOOL_OK) {
            rc = sp_input_read_failed(rc, e);
            goto out;
        }
        eof = n == 0;
        skip_bom(&b, eof, &bom_done, &pos);
    }
out:
    sp_buf_cleanup(&b);
    return rc;
}

/* ---- CSV -------------------------------------------------------------- */

ctspool_rc
sp_input_csv_row(const struct sp_reader *r, const struct sp_csv_rows *c,
                 int *stream_ok, const char *const *fv, const size_t *fl,
                 size_t n, const char *raw, size_t raw_len, size_t line)
{
    struct sp_point p;
    struct sp_err pe;

    if (n != c->l->n_cols) {
        sp_err_set(&pe, "has %zu field%s, the header has %zu", n,
                   n == 1 ? "" : "s", c->l->n_cols);
    } else if ((c->events ? sp_event_csv_row(c->ev_cols, fv, fl, &p, &pe)
                          : sp_csv_layout_point(c->l, r->d, stream_ok, fv,
                                                fl, &p, &pe)) ==
               CTSPOOL_OK) {
        return r->on_point(r->ctx, &p);
    }
    if (r->reject && r->reject->row) {
        r->reject->row(r->reject->ctx, 0, fv, fl, n, raw, raw_len);
    }
    return report_line(r, line, &pe);
}

/*
 * The header row, then every record.  With s->threads (not following),
 * the records, cut here, are judged by that many helper threads
 * (input_par.c); every result still reaches r in input order.
 */
static ctspool_rc
read_csv(struct sp_src *s, const struct sp_reader *r, struct sp_err *e)
{
    struct sp_csv *csv = NULL;
    struct sp_csv_layout l;
    struct sp_csv_rows rows = {&l, 0, NULL};
    struct sp_par *par = NULL;
    struct sp_err pe;
    const char *const *fv;
    const size_t *fl;
    const char *raw;
    size_t n, line, raw_len, ev_cols[SP_EVENT_CSV_COLS];
    int stream_ok = 0;
    ctspool_rc rc;

    memset(&l, 0, sizeof(l));
    rows.events = r->d && r->d->events;
    rows.ev_cols = ev_cols;
    rc = sp_csv_open_src(s, &csv);
    if (rc != CTSPOOL_OK) {
        sp_err_set(e, "out of memory");
        goto out;
    }
    if (r->reject && r->reject->row) {
        sp_csv_keep_raw(csv); /* rejected records go out as read */
    }
    rc = sp_csv_next(csv, &fv, &fl, &n, &line, e);
    if (rc == CTSPOOL_E_NOTFOUND) {
        rc = CTSPOOL_OK; /* empty input: no points */
        goto out;
    }
    if (rc != CTSPOOL_OK) {
        goto out;
    }
    if (rows.events) {
        rc = sp_event_csv_header(fv, fl, n, ev_cols, e);
        if (rc != CTSPOOL_OK) {
            sp_err_prefix(e, "line %zu: ", line);
        }
        l.n_cols = n;
    } else {
        rc = sp_csv_layout_init(&l, fv, fl, n, line, e);
    }
    if (rc != CTSPOOL_OK) {
        goto out;
    }
    if (r->reject && r->reject->row) {
        raw = sp_csv_raw(csv, &raw_len);
        r->reject->row(r->reject->ctx, 1, fv, fl, n, raw, raw_len);
    }
    par = sp_par_start(s, r, &rows);
    for (;;) {
        rc = sp_csv_next(csv, &fv, &fl, &n, &line, &pe);
        if (rc == CTSPOOL_E_NOTFOUND) {
            break;
        }
        if (rc != CTSPOOL_OK) {
            /* What csv.c says comes after the records before it. */
            ctspool_rc csv_rc = rc;

            rc = par ? sp_par_flush(par, e) : CTSPOOL_OK;
            if (rc == CTSPOOL_OK && csv_rc == CTSPOOL_E_INVALID) {
                rc = r->on_error(r->ctx, line, &pe); /* it names the line */
            } else if (rc == CTSPOOL_OK) {
                *e = pe;
                rc = csv_rc;
            }
        } else {
            raw = sp_csv_raw(csv, &raw_len);
            rc = par ? sp_par_row(par, fv, fl, n, raw, raw_len, line, e)
                     : sp_input_csv_row(r, &rows, &stream_ok, fv, fl, n, raw,
                                        raw_len, line);
        }
        if (rc != CTSPOOL_OK) {
            goto out;
        }
    }
    rc = par ? sp_par_flush(par, e) : CTSPOOL_OK;
out:
    sp_par_end(par);
    sp_csv_layout_cleanup(&l);
    sp_csv_close(csv);
    return rc;
}

/* ---- entry ------------------------------------------------------------ */

ctspool_rc
sp_input_read_src(struct sp_src *s, const char *name, enum sp_format fmt,
                  const struct sp_defaults *d, sp_point_cb on_point,
                  sp_error_cb on_error, void *ctx, struct sp_err *e)
{
    struct sp_reader r = {d, on_point, on_error, ctx, s->reject};
    ctspool_rc rc;

    if (fmt == SP_FMT_AUTO) {
        fmt = sp_input_format_by_name(name);
    }
    /* Sniffing refuses a UTF-16 or UTF-32 input by itself; a format that
     * needs no sniffing is looked at for that alone. */
    rc = fmt == SP_FMT_AUTO ? sp_input_sniff(s, &fmt, e)
                            : sp_input_refuse_wide(s, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    switch (fmt) {
    case SP_FMT_CLOUDTHREAD:
        if (s->is_follow) {
            return read_cloudthread_follow(s, &r, e);
        }
        return read_cloudthread(s, &r, e);
    case SP_FMT_NDJSON:
        return read_ndjson(s, &r, e);
    case SP_FMT_CSV:
        return read_csv(s, &r, e);
    default:
        sp_err_set(e, "unknown input format %d", (int)fmt);
        return CTSPOOL_E_USAGE;
    }
}

ctspool_rc
sp_input_read(FILE *f, const char *name, enum sp_format fmt,
              const struct sp_defaults *d, sp_point_cb on_point,
              sp_error_cb on_error, void *ctx, struct sp_err *e)
{
    struct sp_src s;
    ctspool_rc rc;

    sp_src_init(&s, f, 0, -1);
    rc = sp_input_read_src(&s, name, fmt, d, on_point, on_error, ctx, e);
    sp_src_cleanup(&s);
    return rc;
}
