/*
 * fuzz_ndjson.c -- libFuzzer harness for the NDJSON line parser
 * (payload.c: sp_payload_parse_line) and the streaming NDJSON reader
 * (input.c: line cutting, CR LF, BOM, blank and over-long lines).
 *
 * Contracts beyond "no crash, no leak, no UB":
 * - an accepted line passes fz_check_point() (re-validation agrees, the
 *   canonical forms round-trip, the line rewritten parses identical);
 * - a rejected line's message is one printable line without the default
 *   token; E_INVALID is the only failure for a line;
 * - parsing the same line twice with a warm scratch gives the same answer
 *   (the arena reuse in payload.c must not leak state between lines);
 * - sp_input_read() in ndjson format reports each non-blank line exactly
 *   once, as a point or as an error prefixed "line N: " with N the line's
 *   number, in increasing order.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

struct seen {
    const uint8_t *in;
    size_t in_len;
    size_t n_points, n_errors;
    size_t last_line;
};

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct seen *s = ctx;

    fz_check_point(p);
    s->n_points++;
    return CTSPOOL_OK;
}

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct seen *s = ctx;
    char prefix[40];

    snprintf(prefix, sizeof(prefix), "line %zu: ", index);
    fz_check_msg(e, prefix, s->in, s->in_len);
    if (index <= s->last_line) {
        fz_fail("line %zu reported after line %zu", index, s->last_line);
    }
    s->last_line = index;
    s->n_errors++;
    return CTSPOOL_OK;
}

static int
is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\f' &&
            c != '\v') {
            return 0;
        }
    }
    return 1;
}

/* One line through sp_payload_parse_line, twice with the same scratch;
 * returns 1 if it is a valid point. */
static int
one_line(const char *line, size_t len, struct sp_payload_scratch **scratch,
         const uint8_t *in, size_t in_len)
{
    struct sp_defaults d = {.stream = FZ_SECRET_STREAM, .agg = SP_AGG_SUM};
    struct sp_point p, q;
    struct sp_err e1, e2;
    ctspool_rc rc1, rc2;

    memset(&p, 0, sizeof(p));
    memset(&q, 0, sizeof(q));
    rc1 = sp_payload_parse_line(line, len, &d, scratch, &p, &e1);
    if (rc1 == CTSPOOL_OK) {
        fz_check_point(&p);
    } else if (rc1 == CTSPOOL_E_INVALID) {
        fz_check_msg(&e1, NULL, in, in_len);
    } else {
        fz_fail("sp_payload_parse_line returned %s", ctspool_errname(rc1));
    }
    rc2 = sp_payload_parse_line(line, len, &d, scratch, &q, &e2);
    if (rc1 != rc2 ||
        (rc1 == CTSPOOL_OK && (p.hour != q.hour || p.n_dims != q.n_dims ||
                               p.name_len != q.name_len)) ||
        (rc1 != CTSPOOL_OK && strcmp(e1.msg, e2.msg) != 0)) {
        fz_fail("a warm scratch changed the answer for the same line");
    }
    return rc1 == CTSPOOL_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sp_payload_scratch *scratch = NULL;
    struct sp_defaults d = {.stream = FZ_SECRET_STREAM, .agg = SP_AGG_MAXIMUM};
    struct seen s = {data, size, 0, 0, 0};
    size_t pos = 0, n_lines = 0, n_nonblank = 0, n_valid = 0;
    char *buf = fz_dup(data, size);
    struct sp_err e;
    ctspool_rc rc;
    FILE *f;

    /* Direct: every LF-separated line (fuzz inputs stay far below the
     * 1 MiB line limit input.c enforces). */
    while (pos < size) {
        const char *nl = memchr(buf + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - buf) : size;
        size_t len = end - pos;

        n_lines++;
        if (n_lines == 1 && len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
            pos += 3;
            len -= 3;
        }
        if (len > 0 && buf[pos + len - 1] == '\r') {
            len--;
        }
        if (!is_blank(buf + pos, len)) {
            n_nonblank++;
            n_valid += (size_t)one_line(buf + pos, len, &scratch, data,
                                        size);
        }
        pos = end + 1;
    }
    sp_payload_scratch_free(scratch);

    /* The streaming reader. */
    f = fz_fmemopen(buf, size);
    rc = sp_input_read(f, "fuzz.ndjson", SP_FMT_AUTO, &d, on_point, on_error,
                       &s, &e);
    fclose(f);
    if (fz_wide_refused(data, size, rc, &e)) {
        free(buf);
        return 0;
    }
    if (rc != CTSPOOL_OK) {
        fz_fail("sp_input_read (ndjson) returned %s: %s",
                ctspool_errname(rc), e.msg);
    }
    if (s.n_points + s.n_errors != n_nonblank || s.n_points != n_valid) {
        fz_fail("%zu non-blank lines, %zu valid, but %zu points + %zu "
                "errors",
                n_nonblank, n_valid, s.n_points, s.n_errors);
    }
    free(buf);
    return 0;
}
