/*
 * input_par.c -- NDJSON lines and CSV records judged by helper threads,
 * their results handed on in input order: what the reader calls
 * (on_point, on_error, the reject hook) and when, is exactly what
 * judging every line or record itself would have called, only the work
 * happens on other CPUs.
 *
 * The reader (the calling thread) cuts lines, or has csv.c cut records
 * (quoting makes that sequential), and copies them into jobs of up to
 * JOB_BYTES; a job goes to the helpers once full.  A helper judges every
 * item of a job (sp_input_ndjson_line(), sp_input_csv_row()) into the
 * job's results: points copied (their strings as offsets into the job's
 * arena), errors with their messages, rejected lines and records as
 * places in the job's text.  The reader hands a job's results on once
 * the job is done, oldest job first, and only then reuses its slot.
 * What the reader itself reports (a line over 1 MiB, a record csv.c
 * refuses) goes after everything before it is handed on (sp_par_flush).
 *
 * Invariants: (1) jobs are numbered in input order; slot = number %
 * N_JOBS, and a slot is reused only after its job was handed on.
 * (2) helpers take jobs in number order (next_parse), so the oldest job
 * is always parsed or being parsed.  (3) a job's results are touched
 * by one thread at a time: the helper between taking and finishing it,
 * the reader after (all under lock for the state change).
 *
 * Memory: N_JOBS jobs of about JOB_BYTES of input each, plus what they
 * parse into (bounded by the input's size: a point is never larger than
 * its line).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "input_int.h"

#define JOB_BYTES ((size_t)128 * 1024)
#define N_JOBS 8
#define MAX_THREADS 8

enum job_state { J_FREE, J_FILLING, J_QUEUED, J_PARSING, J_DONE };

/* What one line gave. */
enum res_kind { R_NONE, R_POINT, R_ERROR };

/* A line (NDJSON), or a record whose fields are back to back in text
 * with their lengths at flens[field0 ..], then its raw_len bytes as read
 * (CSV; has_raw 0: not kept). */
struct line {
    size_t off, len; /* in text */
    size_t lineno;
    size_t field0, n_fields;
    size_t raw_len;
    int has_raw;
};

struct res {
    enum res_kind kind;
    size_t idx; /* into pts or errs */
};

struct jerr {
    size_t lineno;
    struct sp_err e;      /* prefixed "line N: " */
    long rej_off;         /* the rejected line in text; -1: none given */
    size_t rej_len;
    int rej_row;          /* CSV: the record goes to the reject hook */
};

struct job {
    enum job_state state;
    uint64_t no;
    struct sp_buf text;
    struct line *lines;
    size_t n_lines, cap_lines;
    size_t *flens; /* CSV: field lengths */
    size_t n_flens, cap_flens;
    /* Results, filled by the helper. */
    struct res *res;        /* one per line */
    struct sp_point *pts;   /* strings as offsets into arena */
    size_t n_pts, cap_pts;
    struct sp_buf arena;
    struct jerr *errs;
    size_t n_errs, cap_errs;
    ctspool_rc fatal;       /* not OK: parsing failed (fatal_e) at line */
    size_t fatal_line;      /* index of the line that failed */
    struct sp_err fatal_e;
    size_t cur;             /* the line being parsed */
};

/* Room for the fields of one CSV record (a thread's own). */
struct fields {
    const char **fv;
    size_t *fl;
    size_t cap;
};

struct sp_par {
    const struct sp_reader *r; /* the reader's callbacks */
    const struct sp_csv_rows *csv; /* NULL: NDJSON lines */
    struct fields emit_f;          /* the reader's, for rejected records */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job jobs[N_JOBS];
    uint64_t next_fill;  /* number of the job being filled */
    uint64_t next_emit;  /* oldest job not yet handed on */
    uint64_t next_parse; /* next job for a helper */
    int stop;
    pthread_t tid[MAX_THREADS];
    unsigned n_threads;
};

/* ---- helpers ---------------------------------------------------------- */

static void *
grow(void *p, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 64;
    void *q;

    if (need <= *cap) {
        return p;
    }
    while (n < need) {
        n *= 2;
    }
    q = realloc(p, n * size);
    if (q) {
        *cap = n;
    }
    return q;
}

/* The arena offset of s[0..n) copied there, as a pointer; or NULL. */
static const char *
arena_put(struct job *jb, const char *s, size_t n)
{
    size_t off = jb->arena.len;

    if (sp_buf_add(&jb->arena, s, n) != 0) {
        return NULL;
    }
    return (const char *)(uintptr_t)(off + 1); /* +1: never NULL */
}

static const char *
arena_ptr(const struct job *jb, const char *off)
{
    return jb->arena.p + ((uintptr_t)off - 1);
}

/* on_point of the helpers' reader: the point copied into the job. */
static ctspool_rc
collect_point(void *ctx, const struct sp_point *p)
{
    struct job *jb = ctx;
    struct sp_point *q;
    struct sp_point *pts;

    pts = grow(jb->pts, &jb->cap_pts, jb->n_pts + 1, sizeof(*pts));
    if (!pts) {
        return CTSPOOL_E_NOMEM;
    }
    jb->pts = pts;
    q = &pts[jb->n_pts];
    *q = *p;
    q->stream = arena_put(jb, p->stream, p->stream_len);
    q->name = arena_put(jb, p->name, p->name_len);
    if (!q->stream || !q->name) {
        return CTSPOOL_E_NOMEM;
    }
    for (size_t i = 0; i < p->n_dims; i++) {
        q->dims[i].key = arena_put(jb, p->dims[i].key, p->dims[i].key_len);
        q->dims[i].val = arena_put(jb, p->dims[i].val, p->dims[i].val_len);
        if (!q->dims[i].key || !q->dims[i].val) {
            return CTSPOOL_E_NOMEM;
        }
    }
    jb->res[jb->cur].kind = R_POINT;
    jb->res[jb->cur].idx = jb->n_pts++;
    return CTSPOOL_OK;
}

static struct jerr *
cur_err(struct job *jb)
{
    struct res *rs = &jb->res[jb->cur];
    struct jerr *errs;

    if (rs->kind == R_ERROR) {
        return &jb->errs[rs->idx];
    }
    errs = grow(jb->errs, &jb->cap_errs, jb->n_errs + 1, sizeof(*errs));
    if (!errs) {
        return NULL;
    }
    jb->errs = errs;
    rs->kind = R_ERROR;
    rs->idx = jb->n_errs++;
    errs[rs->idx].rej_off = -1;
    errs[rs->idx].rej_len = 0;
    errs[rs->idx].rej_row = 0;
    return &errs[rs->idx];
}

/* on_error of the helpers' reader: the message kept for the reader. */
static ctspool_rc
collect_error(void *ctx, size_t line, const struct sp_err *e)
{
    struct job *jb = ctx;
    struct jerr *je = cur_err(jb);

    if (!je) {
        return CTSPOOL_E_NOMEM;
    }
    je->lineno = line;
    je->e = *e;
    return CTSPOOL_OK;
}

/* The reject hook of the helpers' reader: where the line is. */
static void
collect_reject(void *ctx, const char *s, size_t len)
{
    struct job *jb = ctx;
    struct jerr *je = cur_err(jb);

    if (je && s >= jb->text.p && s + len <= jb->text.p + jb->text.len) {
        je->rej_off = (long)(s - jb->text.p);
        je->rej_len = len;
    }
}

/* The CSV reject hook of the helpers' reader: the record is in the job
 * (is_header never: the header is the reader's). */
static void
collect_reject_row(void *ctx, int is_header, const char *const *fields,
                   const size_t *lens, size_t n, const char *raw,
                   size_t raw_len)
{
    struct job *jb = ctx;
    struct jerr *je = cur_err(jb);

    (void)is_header;
    (void)fields;
    (void)lens;
    (void)n;
    (void)raw;
    (void)raw_len;
    if (je) {
        je->rej_row = 1;
    }
}

/* The fields of CSV record ln of jb, into f (grown to hold them); 0, or
 * -1 when out of memory. */
static int
record_fields(const struct job *jb, const struct line *ln, struct fields *f)
{
    size_t off = ln->off;

    if (ln->n_fields > f->cap) {
        size_t cap = ln->n_fields + 16;
        const char **fv = realloc(f->fv, cap * sizeof(*fv));
        size_t *fl;

        if (!fv) {
            return -1;
        }
        f->fv = fv;
        fl = realloc(f->fl, cap * sizeof(*fl));
        if (!fl) {
            return -1;
        }
        f->fl = fl;
        f->cap = cap;
    }
    for (size_t k = 0; k < ln->n_fields; k++) {
        f->fl[k] = jb->flens[ln->field0 + k];
        f->fv[k] = jb->text.p + off;
        off += f->fl[k];
    }
    return 0;
}

static void
fields_free(struct fields *f)
{
    free(f->fv);
    free(f->fl);
    memset(f, 0, sizeof(*f));
}

/* Parses every line of jb (a helper, invariant 3). */
static void
parse_job(const struct sp_par *par, struct job *jb,
          struct sp_payload_scratch **scratch, int *stream_ok,
          struct fields *f)
{
    struct sp_reject_hook hook = {jb, collect_reject, collect_reject_row,
                                  NULL};
    struct sp_reader r = {par->r->d, collect_point, collect_error, jb,
                          par->r->reject ? &hook : NULL};

    jb->n_pts = 0;
    jb->n_errs = 0;
    sp_buf_reset(&jb->arena);
    jb->fatal = CTSPOOL_OK;
    jb->res = calloc(jb->n_lines ? jb->n_lines : 1, sizeof(*jb->res));
    if (!jb->res) {
        jb->fatal = CTSPOOL_E_NOMEM;
        jb->fatal_line = 0;
        sp_err_set(&jb->fatal_e, "out of memory");
        return;
    }
    for (jb->cur = 0; jb->cur < jb->n_lines; jb->cur++) {
        const struct line *ln = &jb->lines[jb->cur];
        ctspool_rc rc;

        if (par->csv && record_fields(jb, ln, f) != 0) {
            rc = CTSPOOL_E_NOMEM;
        } else if (par->csv) {
            rc = sp_input_csv_row(&r, par->csv, stream_ok, f->fv, f->fl,
                                  ln->n_fields, NULL, 0, ln->lineno);
        } else {
            rc = sp_input_ndjson_line(&r, scratch, jb->text.p + ln->off,
                                      ln->len, ln->lineno, &jb->fatal_e);
        }
        if (rc != CTSPOOL_OK) {
            /* A collector's own failure is out of memory; else rc is
             * what the line gave the reader. */
            if (rc == CTSPOOL_E_NOMEM) {
                sp_err_set(&jb->fatal_e, "out of memory");
            }
            jb->fatal = rc;
            jb->fatal_line = jb->cur;
            return;
        }
    }
}

static void *
helper_main(void *arg)
{
    struct sp_par *par = arg;
    struct sp_payload_scratch *scratch = NULL;
    struct fields f = {NULL, NULL, 0};
    int stream_ok = 0;

    pthread_mutex_lock(&par->lock);
    for (;;) {
        struct job *jb = &par->jobs[par->next_parse % N_JOBS];

        if (par->stop) {
            break;
        }
        if (jb->state != J_QUEUED || jb->no != par->next_parse) {
            pthread_cond_wait(&par->cond, &par->lock);
            continue;
        }
        jb->state = J_PARSING;
        par->next_parse++;
        pthread_mutex_unlock(&par->lock);
        parse_job(par, jb, &scratch, &stream_ok, &f);
        pthread_mutex_lock(&par->lock);
        jb->state = J_DONE;
        pthread_cond_broadcast(&par->cond);
    }
    pthread_mutex_unlock(&par->lock);
    sp_payload_scratch_free(scratch);
    fields_free(&f);
    return NULL;
}

/* ---- the reader's side ------------------------------------------------ */

static void
job_free(struct job *jb)
{
    sp_buf_cleanup(&jb->text);
    sp_buf_cleanup(&jb->arena);
    free(jb->lines);
    free(jb->flens);
    free(jb->res);
    free(jb->pts);
    free(jb->errs);
    memset(jb, 0, sizeof(*jb));
}

static void
stop_helpers(struct sp_par *par)
{
    pthread_mutex_lock(&par->lock);
    par->stop = 1;
    pthread_cond_broadcast(&par->cond);
    pthread_mutex_unlock(&par->lock);
    for (unsigned i = 0; i < par->n_threads; i++) {
        pthread_join(par->tid[i], NULL);
    }
    par->n_threads = 0;
}

struct sp_par *
sp_par_start(const struct sp_src *s, const struct sp_reader *r,
             const struct sp_csv_rows *csv)
{
    unsigned n_threads = s->threads > MAX_THREADS ? MAX_THREADS : s->threads;
    struct sp_par *par;

    if (!n_threads || s->is_follow) {
        return NULL; /* a followed line goes on as it arrives */
    }
    par = calloc(1, sizeof(*par));
    if (!par) {
        return NULL;
    }
    par->r = r;
    par->csv = csv;
    pthread_mutex_init(&par->lock, NULL);
    pthread_cond_init(&par->cond, NULL);
    par->jobs[0].state = J_FILLING; /* before any helper looks */
    for (unsigned i = 0; i < n_threads; i++) {
        if (pthread_create(&par->tid[par->n_threads], NULL, helper_main,
                           par) == 0) {
            par->n_threads++;
        }
    }
    if (par->n_threads == 0) {
        sp_par_end(par);
        return NULL; /* the caller parses itself */
    }
    return par;
}

void
sp_par_end(struct sp_par *par)
{
    if (!par) {
        return;
    }
    stop_helpers(par);
    for (size_t i = 0; i < N_JOBS; i++) {
        job_free(&par->jobs[i]);
    }
    fields_free(&par->emit_f);
    pthread_cond_destroy(&par->cond);
    pthread_mutex_destroy(&par->lock);
    free(par);
}

/* Hands the results of job jb on to the reader's callbacks, in order. */
static ctspool_rc
emit(struct sp_par *par, struct job *jb, struct sp_err *e)
{
    const struct sp_reader *r = par->r;
    size_t end = jb->fatal != CTSPOOL_OK ? jb->fatal_line : jb->n_lines;
    ctspool_rc rc = CTSPOOL_OK;

    for (size_t i = 0; i < end && rc == CTSPOOL_OK; i++) {
        const struct res *rs = &jb->res[i];

        if (rs->kind == R_POINT) {
            struct sp_point p = jb->pts[rs->idx];

            p.stream = arena_ptr(jb, p.stream);
            p.name = arena_ptr(jb, p.name);
            for (size_t k = 0; k < p.n_dims; k++) {
                p.dims[k].key = arena_ptr(jb, p.dims[k].key);
                p.dims[k].val = arena_ptr(jb, p.dims[k].val);
            }
            rc = r->on_point(r->ctx, &p);
        } else if (rs->kind == R_ERROR) {
            struct jerr *je = &jb->errs[rs->idx];

            if (je->rej_off >= 0 && r->reject && r->reject->line) {
                r->reject->line(r->reject->ctx, jb->text.p + je->rej_off,
                                je->rej_len);
            }
            if (je->rej_row && r->reject && r->reject->row) {
                const struct line *ln = &jb->lines[i];
                /* The record's bytes follow its fields in text. */
                const char *raw = jb->text.p + ln->off + ln->len -
                                  ln->raw_len;

                if (record_fields(jb, ln, &par->emit_f) != 0) {
                    sp_err_set(e, "out of memory");
                    return CTSPOOL_E_NOMEM;
                }
                r->reject->row(r->reject->ctx, 0, par->emit_f.fv,
                               par->emit_f.fl, ln->n_fields,
                               ln->has_raw ? raw : NULL, ln->raw_len);
            }
            rc = r->on_error(r->ctx, je->lineno, &je->e);
        }
    }
    if (rc == CTSPOOL_OK && jb->fatal != CTSPOOL_OK) {
        *e = jb->fatal_e;
        rc = jb->fatal;
    }
    return rc;
}

/* Waits for the oldest job and hands it on; its slot is free after. */
static ctspool_rc
emit_oldest(struct sp_par *par, struct sp_err *e)
{
    struct job *jb = &par->jobs[par->next_emit % N_JOBS];
    ctspool_rc rc;

    pthread_mutex_lock(&par->lock);
    while (jb->state != J_DONE) {
        pthread_cond_wait(&par->cond, &par->lock);
    }
    pthread_mutex_unlock(&par->lock);
    rc = emit(par, jb, e);
    free(jb->res);
    jb->res = NULL;
    jb->n_lines = 0;
    jb->n_flens = 0;
    sp_buf_reset(&jb->text);
    pthread_mutex_lock(&par->lock);
    jb->state = J_FREE;
    pthread_mutex_unlock(&par->lock);
    par->next_emit++;
    return rc;
}

/* Queues the job being filled (if it holds lines) and starts the next. */
static ctspool_rc
dispatch(struct sp_par *par, struct sp_err *e)
{
    struct job *jb = &par->jobs[par->next_fill % N_JOBS];
    ctspool_rc rc = CTSPOOL_OK;

    if (jb->n_lines == 0) {
        return CTSPOOL_OK;
    }
    pthread_mutex_lock(&par->lock);
    jb->no = par->next_fill;
    jb->state = J_QUEUED;
    pthread_cond_broadcast(&par->cond);
    pthread_mutex_unlock(&par->lock);
    par->next_fill++;
    /* Invariant 1: the next slot is free once its old job is handed on. */
    if (par->next_fill - par->next_emit >= N_JOBS) {
        rc = emit_oldest(par, e);
    }
    pthread_mutex_lock(&par->lock);
    par->jobs[par->next_fill % N_JOBS].state = J_FILLING;
    pthread_mutex_unlock(&par->lock);
    return rc;
}

/* Adds an item of the job being filled: its bytes text[off ..] (added
 * already), its line, its fields (CSV); the job goes to the helpers
 * once it holds JOB_BYTES. */
static ctspool_rc
add_item(struct sp_par *par, struct job *jb, size_t off, size_t lineno,
         size_t n_fields, int has_raw, size_t raw_len, struct sp_err *e)
{
    struct line *lines;

    lines = grow(jb->lines, &jb->cap_lines, jb->n_lines + 1, sizeof(*lines));
    if (!lines) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    jb->lines = lines;
    lines[jb->n_lines].off = off;
    lines[jb->n_lines].len = jb->text.len - off;
    lines[jb->n_lines].lineno = lineno;
    lines[jb->n_lines].field0 = jb->n_flens - n_fields;
    lines[jb->n_lines].n_fields = n_fields;
    lines[jb->n_lines].has_raw = has_raw;
    lines[jb->n_lines].raw_len = raw_len;
    jb->n_lines++;
    return jb->text.len >= JOB_BYTES ? dispatch(par, e) : CTSPOOL_OK;
}

ctspool_rc
sp_par_line(struct sp_par *par, const char *line, size_t len, size_t lineno,
            struct sp_err *e)
{
    struct job *jb = &par->jobs[par->next_fill % N_JOBS];
    size_t off = jb->text.len;

    if (sp_buf_add(&jb->text, line, len) != 0) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    return add_item(par, jb, off, lineno, 0, 0, 0, e);
}

ctspool_rc
sp_par_row(struct sp_par *par, const char *const *fv, const size_t *fl,
           size_t n, const char *raw, size_t raw_len, size_t lineno,
           struct sp_err *e)
{
    struct job *jb = &par->jobs[par->next_fill % N_JOBS];
    size_t off = jb->text.len;
    size_t *flens;

    flens = grow(jb->flens, &jb->cap_flens, jb->n_flens + n, sizeof(*flens));
    if (!flens) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    jb->flens = flens;
    for (size_t k = 0; k < n; k++) {
        if (sp_buf_add(&jb->text, fv[k], fl[k]) != 0) {
            sp_err_set(e, "out of memory");
            return CTSPOOL_E_NOMEM;
        }
        flens[jb->n_flens + k] = fl[k];
    }
    jb->n_flens += n;
    if (raw && sp_buf_add(&jb->text, raw, raw_len) != 0) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    return add_item(par, jb, off, lineno, n, raw != NULL, raw_len, e);
}

ctspool_rc
sp_par_flush(struct sp_par *par, struct sp_err *e)
{
    ctspool_rc rc = dispatch(par, e);

    while (rc == CTSPOOL_OK && par->next_emit < par->next_fill) {
        rc = emit_oldest(par, e);
    }
    return rc;
}
