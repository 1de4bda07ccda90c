/*
 * fuzz_csv.c -- libFuzzer harness for the streaming RFC 4180 reader
 * (csv.c: sp_csv_open / sp_csv_next) and the CSV input format built on it
 * (input.c: header layout, cells -> points).
 *
 * Contracts beyond "no crash, no leak, no UB":
 * - a record's fields (every byte of which is read here, so ASan sees
 *   any stale pointer) never exceed the 1 MiB record bound: the field
 *   bytes plus the commas between them;
 * - line numbers are 1-based, never decrease, and never pass the number
 *   of lines in the input; E_INVALID messages start with "line N: ", N
 *   a line of the record in question;
 * - every call makes progress: the reader reaches E_NOTFOUND within a
 *   bounded number of calls (no record is returned twice forever);
 * - a record's bytes as read (sp_csv_raw(), what `append --rejects`
 *   writes), read again alone, are one record of the same fields;
 * - with sp_input_read(), every accepted row passes fz_check_point().
 *
 * With CTSPOOL_FUZZ_EXPAND=1 in the environment (the fuzz-smoke test
 * sets it; a long fuzzing session may), an input starting with byte 0xFF
 * is expanded before use: its body repeated to 1 MiB - 128 + the second
 * byte, so the 1 MiB record bound is reached, just below or just above,
 * from a small corpus file.  It is off by default because every such
 * input costs a hundred milliseconds or more under ASan and, once in
 * the corpus, slows a session down to a few runs a second.  Only the
 * first CHECK_MAX points of an input get the (costly) full check.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

#define RECORD_MAX ((size_t)1024 * 1024)
#define EXPAND_BASE (RECORD_MAX - 128)
#define CHECK_MAX 64

struct seen {
    const uint8_t *in;
    size_t in_len;
    size_t max_line; /* lines in the (expanded) input */
    size_t n_points, n_errors;
};

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct seen *s = ctx;

    if (s->n_points < CHECK_MAX) {
        fz_check_point(p);
    }
    s->n_points++;
    return CTSPOOL_OK;
}

static void check_line_msg(const struct sp_err *e, size_t first,
                           size_t last, const char *in, size_t in_len);

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct seen *s = ctx;

    check_line_msg(e, index, s->max_line, (const char *)s->in, s->in_len);
    s->n_errors++;
    return CTSPOOL_OK;
}

/*
 * A quoting error names a physical line: the record's first line, or a
 * later one of the same record when a quoted field spans lines and the
 * error comes after its line break ("line N: " with first <= N <= last).
 */
static void
check_line_msg(const struct sp_err *e, size_t first, size_t last,
               const char *in, size_t in_len)
{
    char *end = NULL;
    unsigned long long n;

    fz_check_msg(e, "line ", (const uint8_t *)in, in_len);
    n = strtoull(e->msg + 5, &end, 10);
    if (!end || end == e->msg + 5 || strncmp(end, ": ", 2) != 0 ||
        n < first || n > last) {
        fz_fail("record at line %zu: message names another line: %s", first,
                e->msg);
    }
}

/* The record's bytes raw, read alone (with the LF it lost), give one
 * record of the same n fields. */
static void
check_raw(const char *raw, size_t raw_len, const char *const *fields,
          const size_t *lens, size_t n)
{
    const char *const *f2;
    const size_t *l2;
    size_t n2, line;
    struct sp_csv *c = NULL;
    struct sp_err e;
    char *buf;
    FILE *f;

    /* A byte order mark is one only at the start of an input. */
    if (raw_len >= 3 && memcmp(raw, "\xEF\xBB\xBF", 3) == 0) {
        return;
    }
    buf = malloc(raw_len + 1);
    if (!buf) {
        fz_fail("out of memory");
    }
    memcpy(buf, raw, raw_len);
    buf[raw_len] = '\n';
    f = fz_fmemopen(buf, raw_len + 1);
    if (sp_csv_open(f, &c) != CTSPOOL_OK) {
        fz_fail("sp_csv_open failed");
    }
    if (sp_csv_next(c, &f2, &l2, &n2, &line, &e) != CTSPOOL_OK || n2 != n) {
        fz_fail("a record's bytes as read are not that record again");
    }
    for (size_t i = 0; i < n; i++) {
        if (l2[i] != lens[i] || memcmp(f2[i], fields[i], lens[i]) != 0) {
            fz_fail("field %zu differs in the record's bytes as read", i);
        }
    }
    if (sp_csv_next(c, &f2, &l2, &n2, &line, &e) != CTSPOOL_E_NOTFOUND) {
        fz_fail("a record's bytes as read hold more than that record");
    }
    sp_csv_close(c);
    fclose(f);
    free(buf);
}

/* Reads every record; returns the number of records returned. */
static size_t
read_records(const char *buf, size_t len)
{
    struct sp_csv *c = NULL;
    const char *const *fields;
    const size_t *lens;
    size_t n, line, last_line = 1, n_records = 0, calls = 0;
    size_t max_line = 1, sum;
    unsigned char x = 0;
    struct sp_err e;
    ctspool_rc rc;
    FILE *f;

    for (size_t i = 0; i < len; i++) {
        max_line += buf[i] == '\n';
    }
    f = fz_fmemopen(buf, len);
    if (sp_csv_open(f, &c) != CTSPOOL_OK) {
        fz_fail("sp_csv_open failed");
    }
    sp_csv_keep_raw(c);
    for (;;) {
        const char *raw;
        size_t raw_len;

        if (++calls > len + 2) {
            fz_fail("sp_csv_next makes no progress (%zu calls, %zu bytes)",
                    calls, len);
        }
        memset(&e, 0, sizeof(e));
        rc = sp_csv_next(c, &fields, &lens, &n, &line, &e);
        if (rc == CTSPOOL_E_NOTFOUND) {
            break;
        }
        if (line < last_line || line > max_line) {
            fz_fail("line %zu after line %zu (input has %zu lines)", line,
                    last_line, max_line);
        }
        last_line = line;
        if (rc == CTSPOOL_E_INVALID) {
            check_line_msg(&e, line, max_line, buf, len);
            continue;
        }
        if (rc != CTSPOOL_OK) {
            fz_fail("sp_csv_next returned %s", ctspool_errname(rc));
        }
        if (n == 0) {
            fz_fail("a record with no field");
        }
        sum = n - 1;
        for (size_t i = 0; i < n; i++) {
            if (lens[i] > RECORD_MAX) {
                fz_fail("field %zu is %zu bytes", i, lens[i]);
            }
            sum += lens[i];
            for (size_t k = 0; k < lens[i]; k++) {
                x ^= (unsigned char)fields[i][k]; /* touch every byte */
            }
        }
        if (sum > RECORD_MAX) {
            fz_fail("record of %zu bytes passed the 1 MiB bound", sum);
        }
        if ((raw = sp_csv_raw(c, &raw_len)) != NULL) {
            check_raw(raw, raw_len, fields, lens, n);
        } else if (sum <= RECORD_MAX / 2) {
            /* Its bytes are at most 3 x 512 KiB: under the 2 MiB kept. */
            fz_fail("a record of %zu bytes not kept as read", sum);
        }
        n_records++;
    }
    /* Reading past the end stays at the end. */
    if (sp_csv_next(c, &fields, &lens, &n, &line, &e) != CTSPOOL_E_NOTFOUND) {
        fz_fail("a record after E_NOTFOUND");
    }
    sp_csv_close(c);
    fclose(f);
    (void)x;
    return n_records;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int expand = -1;
    struct sp_defaults d = {.stream = FZ_SECRET_STREAM, .agg = -1};
    struct seen s = {data, size, 1, 0, 0};
    char *buf;
    size_t len = size, n_records;
    struct sp_err e;
    ctspool_rc rc;
    FILE *f;

    if (expand < 0) {
        const char *v = getenv("CTSPOOL_FUZZ_EXPAND");

        expand = v && strcmp(v, "1") == 0;
    }
    if (expand && size >= 3 && data[0] == 0xFF) {
        size_t body = size - 2;

        len = EXPAND_BASE + data[1];
        buf = malloc(len);
        if (!buf) {
            fz_fail("out of memory");
        }
        for (size_t o = 0; o < len; o += body) {
            memcpy(buf + o, data + 2, len - o < body ? len - o : body);
        }
    } else {
        buf = fz_dup(data, size);
    }
    n_records = read_records(buf, len);
    for (size_t i = 0; i < len; i++) {
        s.max_line += buf[i] == '\n';
    }

    f = fz_fmemopen(buf, len);
    rc = sp_input_read(f, "fuzz.csv", SP_FMT_AUTO, &d, on_point, on_error, &s,
                       &e);
    fclose(f);
    if (rc != CTSPOOL_OK && rc != CTSPOOL_E_INVALID) {
        fz_fail("sp_input_read (csv) returned %s", ctspool_errname(rc));
    }
    if (fz_wide_refused((const uint8_t *)buf, len, rc, &e)) {
        /* nothing read: the records are not counted */
    } else if (rc == CTSPOOL_E_INVALID) {
        /* The header row itself: unreadable, or missing a column. */
        fz_check_msg(&e, "line ", data, size);
    } else if (n_records > 0 && s.n_points + s.n_errors + 1 < n_records) {
        fz_fail("%zu records but %zu points + %zu errors after the header",
                n_records, s.n_points, s.n_errors);
    }
    free(buf);
    return 0;
}
