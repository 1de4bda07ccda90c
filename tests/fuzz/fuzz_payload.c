/*
 * fuzz_payload.c -- libFuzzer harness for the Cloudthread payload parser
 * (payload.c: sp_payload_parse) and the whole-input reader around it
 * (input.c: concatenated objects, format detection).
 *
 * Contracts beyond "no crash, no leak, no UB":
 * - every point handed to on_point passes fz_check_point(): re-validation
 *   agrees, hour and value survive their canonical text, the NDJSON form
 *   of the point parses back identical;
 * - every rejection message is one printable line that never shows the
 *   default data stream token;
 * - *consumed never exceeds the input and a failed parse of broken JSON
 *   reports no point;
 * - sp_input_read() in cloudthread format reports exactly the points and
 *   errors that calling sp_payload_parse_next() object by object does (a
 *   byte order mark is skipped only at the input's start);
 * - an object read in one pass (payload_doc.c's one_pass()) hands on the
 *   same points and errors, in the same order, with the same result,
 *   consumed bytes and message, as read in two passes (forced by a
 *   reject hook, with which one_pass() steps aside).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

struct count {
    const uint8_t *in;
    size_t in_len;
    size_t n_points, n_errors;
};

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct count *c = ctx;

    fz_check_point(p);
    c->n_points++;
    return CTSPOOL_OK;
}

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct count *c = ctx;

    (void)index;
    fz_check_msg(e, NULL, c->in, c->in_len);
    c->n_errors++;
    return CTSPOOL_OK;
}

static int
is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Objects one by one, as input.c's cloudthread reader does; returns 0
 * when the input ended in broken JSON. */
static int
parse_all(const char *buf, size_t len, const struct sp_defaults *d,
          struct count *c)
{
    struct sp_err e;
    size_t pos = 0, used;
    ctspool_rc rc;

    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        pos = 3;
    }
    for (;;) {
        size_t before = c->n_points;

        while (pos < len && is_ws(buf[pos])) {
            pos++;
        }
        if (pos == len) {
            return 1;
        }
        used = 0;
        rc = sp_payload_parse_next(buf + pos, len - pos, d, on_point,
                                   on_error, c, NULL, &used, &e);
        if (used > len - pos) {
            fz_fail("consumed %zu of %zu bytes", used, len - pos);
        }
        if (rc == CTSPOOL_OK) {
            if (used == 0) {
                fz_fail("a payload parsed from zero bytes");
            }
            pos += used;
            continue;
        }
        if (rc != CTSPOOL_E_INVALID) {
            fz_fail("sp_payload_parse_next returned %s",
                    ctspool_errname(rc));
        }
        fz_check_msg(&e, NULL, (const uint8_t *)buf, len);
        if (c->n_points != before) {
            fz_fail("a rejected payload reported points");
        }
        if (used == 0) {
            return 0; /* broken JSON ends the input */
        }
        c->n_errors++; /* input.c counts a bad object as one error */
        pos += used;
    }
}

/* The first object of buf read in one pass and in two agree. */
static void
one_pass_agrees(const char *buf, size_t len, const struct sp_defaults *d)
{
    struct fz_trace t1 = {0, 0}, t2 = {0, 0};
    struct sp_err e1, e2;
    size_t used1 = 0, used2 = 0;
    ctspool_rc rc1, rc2;

    rc1 = sp_payload_parse(buf, len, d, fz_trace_point, fz_trace_error, &t1,
                           &used1, &e1);
    rc2 = sp_payload_parse_hooked(buf, len, d, fz_trace_point,
                                  fz_trace_error, &t2, &fz_two_passes,
                                  &used2, &e2);
    fz_trace_agree(rc1, rc2, used1, used2, &t1, &t2, &e1, &e2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sp_defaults with = {.stream = FZ_SECRET_STREAM, .agg = -1};
    struct sp_defaults agg_only = {.stream = NULL, .agg = SP_AGG_AVERAGE};
    struct count direct = {data, size, 0, 0}, via = {data, size, 0, 0};
    struct sp_err e;
    char *buf = fz_dup(data, size);
    int complete;
    ctspool_rc rc;
    FILE *f;

    complete = parse_all(buf, size, &with, &direct);
    one_pass_agrees(buf, size, &with);
    one_pass_agrees(buf, size, &agg_only);

    f = fz_fmemopen(buf, size);
    rc = sp_input_read(f, "fuzz.json", SP_FMT_CLOUDTHREAD, &with, on_point,
                       on_error, &via, &e);
    fclose(f);
    if (rc != CTSPOOL_OK && rc != CTSPOOL_E_INVALID) {
        fz_fail("sp_input_read returned %s", ctspool_errname(rc));
    }
    if (fz_wide_refused(data, size, rc, &e)) {
        free(buf);
        return 0;
    }
    if ((rc == CTSPOOL_OK) != complete || via.n_points != direct.n_points ||
        via.n_errors != direct.n_errors) {
        fz_fail("input.c and payload.c disagree: %d/%zu/%zu vs %d/%zu/%zu",
                rc == CTSPOOL_OK, via.n_points, via.n_errors, complete,
                direct.n_points, direct.n_errors);
    }
    if (rc != CTSPOOL_OK) {
        fz_check_msg(&e, "object ", data, size);
    }

    /* Format detection, and points without a default stream. */
    f = fz_fmemopen(buf, size);
    rc = sp_input_read(f, "-", SP_FMT_AUTO, &agg_only, on_point, on_error,
                       &via, &e);
    fclose(f);
    if (rc != CTSPOOL_OK && rc != CTSPOOL_E_INVALID) {
        fz_fail("sp_input_read (auto) returned %s", ctspool_errname(rc));
    }
    if (rc != CTSPOOL_OK) {
        fz_check_msg(&e, NULL, data, size);
    }
    free(buf);
    return 0;
}
