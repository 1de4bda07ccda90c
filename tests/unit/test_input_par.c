/*
 * test_input_par.c -- input_par.c: NDJSON lines and CSV records judged
 * by helper threads must reach the reader exactly as judged by the
 * reader itself: the same points, errors (with their line numbers),
 * rejected lines and records and return code, in the same order.  The
 * inputs span many jobs; NDJSON mixes good points, invalid lines,
 * blanks, CRLF, a line longer than 1 MiB and a last line without LF;
 * CSV mixes invalid values, records with a field too few or too many,
 * quoted fields with commas and line breaks, and bare quotes (refused
 * by the tokenizer, in the reader).  A callback that stops the reading
 * stops it at the same point in both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "input_int.h"
#include "sp_int.h"
#include "testutil.h"

/* Everything the callbacks were given, in order, as text. */
struct trace {
    struct sp_buf log;
    size_t n_pts, n_errs, n_rej;
    size_t stop_after; /* on_point fails (E_IO) after this many; 0: never */
};

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct trace *t = ctx;
    char buf[1024];

    tu_render_point(p, buf, sizeof(buf));
    assert_int_equal(sp_buf_adds(&t->log, "P "), 0);
    assert_int_equal(sp_buf_adds(&t->log, buf), 0);
    assert_int_equal(sp_buf_adds(&t->log, "\n"), 0);
    t->n_pts++;
    return t->stop_after && t->n_pts >= t->stop_after ? CTSPOOL_E_IO
                                                       : CTSPOOL_OK;
}

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct trace *t = ctx;
    char head[64];

    snprintf(head, sizeof(head), "E %zu ", index);
    assert_int_equal(sp_buf_adds(&t->log, head), 0);
    assert_int_equal(sp_buf_adds(&t->log, e->msg), 0);
    assert_int_equal(sp_buf_adds(&t->log, "\n"), 0);
    t->n_errs++;
    return CTSPOOL_OK;
}

static void
on_reject_row(void *ctx, int is_header, const char *const *fields,
              const size_t *lens, size_t n, const char *raw, size_t raw_len)
{
    struct trace *t = ctx;

    assert_int_equal(sp_buf_adds(&t->log, is_header ? "H" : "R"), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sp_buf_adds(&t->log, " ["), 0);
        assert_int_equal(sp_buf_add(&t->log, fields[i], lens[i]), 0);
        assert_int_equal(sp_buf_adds(&t->log, "]"), 0);
    }
    /* The record as read, the same whoever parsed it. */
    assert_non_null(raw);
    assert_int_equal(sp_buf_adds(&t->log, " raw{"), 0);
    assert_int_equal(sp_buf_add(&t->log, raw, raw_len), 0);
    assert_int_equal(sp_buf_adds(&t->log, "}\n"), 0);
    t->n_rej += !is_header;
}

static void
on_reject(void *ctx, const char *s, size_t len)
{
    struct trace *t = ctx;

    assert_int_equal(sp_buf_adds(&t->log, "R "), 0);
    assert_int_equal(sp_buf_add(&t->log, s, len), 0);
    assert_int_equal(sp_buf_adds(&t->log, "\n"), 0);
    t->n_rej++;
}

static const struct sp_defaults defaults = {.stream = "tok-def",
                                            .agg = SP_AGG_SUM};

/* The input: n lines of every kind, in a pattern. */
static void
make_input(struct sp_buf *in, size_t n)
{
    char line[512];

    for (size_t k = 0; k < n; k++) {
        switch (k % 11) {
        case 3: /* invalid value */
            snprintf(line, sizeof(line),
                     "{\"timestamp\":\"2026-02-16 %02zu:00:00\","
                     "\"metric_name\":\"m\",\"metric_value\":\"x%zu\"}\n",
                     k % 24, k);
            break;
        case 5: /* blank */
            snprintf(line, sizeof(line), "   \n");
            break;
        case 7: /* unknown field, CRLF */
            snprintf(line, sizeof(line),
                     "{\"timestamp\":\"2026-02-16 00:00:00\","
                     "\"metric_name\":\"m\",\"metric_value\":1,"
                     "\"metirc\":%zu}\r\n", k);
            break;
        case 9: /* not JSON */
            snprintf(line, sizeof(line), "{\"timestamp\": %zu\n", k);
            break;
        default:
            snprintf(line, sizeof(line),
                     "{\"timestamp\":\"2026-02-16 %02zu:00:00\","
                     "\"metric_name\":\"req.%zu\",\"metric_value\":%zu.5,"
                     "\"custom_dimensions\":{\"host\":\"h-%zu\"}}\n",
                     k % 24, k % 97, k, k % 13);
            break;
        }
        assert_int_equal(sp_buf_adds(in, line), 0);
        if (k == n / 2) {
            /* A line longer than 1 MiB: reported, skipped. */
            size_t len = SP_INPUT_LINE_MAX + 100;
            char *big = malloc(len + 1);

            assert_non_null(big);
            memset(big, 'x', len);
            big[len] = '\n';
            assert_int_equal(sp_buf_add(in, big, len + 1), 0);
            free(big);
        }
    }
    /* The last line without its LF. */
    assert_int_equal(
        sp_buf_adds(in, "{\"timestamp\":\"2026-02-16 01:00:00\","
                        "\"metric_name\":\"last\",\"metric_value\":2}"),
        0);
}

/* A CSV input of n records of every kind, in a pattern. */
static void
make_csv(struct sp_buf *in, size_t n)
{
    char row[512];

    assert_int_equal(sp_buf_adds(in, "timestamp,metric_name,metric_value,"
                                     "region\n"),
                     0);
    for (size_t k = 0; k < n; k++) {
        switch (k % 13) {
        case 2: /* invalid value */
            snprintf(row, sizeof(row), "2026-02-16 %02zu:00:00,m,x%zu,eu\n",
                     k % 24, k);
            break;
        case 4: /* a field too few */
            snprintf(row, sizeof(row), "2026-02-16 00:00:00,m,%zu\n", k);
            break;
        case 6: /* quoted: a comma and a line break inside, CRLF */
            snprintf(row, sizeof(row),
                     "2026-02-16 01:00:00,\"q,%zu\",1.5,\"eu\nwest\"\r\n",
                     k);
            break;
        case 8: /* a bare quote: csv.c refuses the record */
            snprintf(row, sizeof(row), "2026-02-16 01:00:00,a\"b,1,eu\n");
            break;
        case 10: /* a field too many, quoted */
            snprintf(row, sizeof(row),
                     "2026-02-16 02:00:00,m,2,eu,\"%zu\"\n", k);
            break;
        default:
            snprintf(row, sizeof(row),
                     "2026-02-16 %02zu:00:00,req.%zu,%zu.25,r-%zu\n",
                     k % 24, k % 31, k, k % 7);
            break;
        }
        assert_int_equal(sp_buf_adds(in, row), 0);
    }
}

/* Reads in through sp_input_read_src with threads; the trace into t. */
static ctspool_rc
read_fmt(const struct sp_buf *in, enum sp_format fmt, unsigned threads,
         struct trace *t, struct sp_err *e)
{
    struct sp_reject_hook hook = {t, on_reject, on_reject_row, NULL};
    FILE *f = fmemopen(in->p, in->len, "r");
    struct sp_src src;
    ctspool_rc rc;

    assert_non_null(f);
    sp_src_init(&src, f, 0, -1);
    src.reject = &hook;
    src.threads = threads;
    memset(e, 0, sizeof(*e));
    rc = sp_input_read_src(&src, "in", fmt, &defaults, on_point, on_error,
                           t, e);
    sp_src_cleanup(&src);
    fclose(f);
    return rc;
}

static ctspool_rc
read_with(const struct sp_buf *in, unsigned threads, struct trace *t,
          struct sp_err *e)
{
    return read_fmt(in, SP_FMT_NDJSON, threads, t, e);
}

/* Both traces are the same; then frees them. */
static void
assert_same_and_free(struct trace *one, struct trace *many)
{
    assert_int_equal(many->n_pts, one->n_pts);
    assert_int_equal(many->n_errs, one->n_errs);
    assert_int_equal(many->n_rej, one->n_rej);
    assert_int_equal(many->log.len, one->log.len);
    if (one->log.len) {
        assert_memory_equal(many->log.p, one->log.p, one->log.len);
    }
    sp_buf_cleanup(&one->log);
    sp_buf_cleanup(&many->log);
}

static void
test_same_results(void **state)
{
    struct sp_buf in;
    struct trace one, many;
    struct sp_err e1, e2;

    (void)state;
    sp_buf_init(&in);
    make_input(&in, 40000); /* about 4 MiB: many jobs, every slot reused */
    memset(&one, 0, sizeof(one));
    memset(&many, 0, sizeof(many));
    assert_int_equal(read_with(&in, 0, &one, &e1), CTSPOOL_OK);
    assert_int_equal(read_with(&in, 3, &many, &e2), CTSPOOL_OK);
    /* Every kind of line was met. */
    assert_true(one.n_pts > 25000);
    assert_true(one.n_errs > 10000);
    assert_int_equal(one.n_rej, one.n_errs - 1); /* the long line: none */
    assert_non_null(strstr(one.log.p, "line longer than 1 MiB"));
    assert_non_null(strstr(one.log.p, "|last|"));
    assert_same_and_free(&one, &many);
    sp_buf_cleanup(&in);
}

static void
test_callback_stops(void **state)
{
    struct sp_buf in;
    struct trace one, many;
    struct sp_err e1, e2;

    (void)state;
    sp_buf_init(&in);
    make_input(&in, 30000);
    memset(&one, 0, sizeof(one));
    memset(&many, 0, sizeof(many));
    one.stop_after = many.stop_after = 12345;
    assert_int_equal(read_with(&in, 0, &one, &e1), CTSPOOL_E_IO);
    assert_int_equal(read_with(&in, 2, &many, &e2), CTSPOOL_E_IO);
    assert_int_equal(one.n_pts, 12345);
    assert_same_and_free(&one, &many);
    sp_buf_cleanup(&in);
}

static void
test_small_inputs(void **state)
{
    static const char *inputs[] = {
        "",
        "\n\n",
        "{\"timestamp\":\"2026-02-16 00:00:00\",\"metric_name\":\"a\","
        "\"metric_value\":1}",
        "{\"timestamp\":\"2026-02-16 00:00:00\",\"metric_name\":\"a\","
        "\"metric_value\":1}\nnot json\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct sp_buf in;
        struct trace one, many;
        struct sp_err e1, e2;

        sp_buf_init(&in);
        assert_int_equal(sp_buf_reserve(&in, 1), 0);
        assert_int_equal(sp_buf_adds(&in, inputs[i]), 0);
        memset(&one, 0, sizeof(one));
        memset(&many, 0, sizeof(many));
        assert_int_equal(read_with(&in, 0, &one, &e1),
                         read_with(&in, 2, &many, &e2));
        assert_same_and_free(&one, &many);
        sp_buf_cleanup(&in);
    }
}

static void
test_csv_same_results(void **state)
{
    struct sp_buf in;
    struct trace one, many;
    struct sp_err e1, e2;

    (void)state;
    sp_buf_init(&in);
    make_csv(&in, 60000); /* about 2.6 MiB: many jobs */
    memset(&one, 0, sizeof(one));
    memset(&many, 0, sizeof(many));
    assert_int_equal(read_fmt(&in, SP_FMT_CSV, 0, &one, &e1), CTSPOOL_OK);
    assert_int_equal(read_fmt(&in, SP_FMT_CSV, 3, &many, &e2), CTSPOOL_OK);
    assert_true(one.n_pts > 40000);
    assert_true(one.n_errs > 15000);
    assert_non_null(strstr(one.log.p, "a quote (\") inside"));
    assert_non_null(strstr(one.log.p, "has 3 fields, the header has 4"));
    assert_non_null(strstr(one.log.p, "|q,6|"));
    assert_non_null(strstr(one.log.p, "region=eu\nwest"));
    assert_same_and_free(&one, &many);
    /* A callback that stops: the same place in both. */
    memset(&one, 0, sizeof(one));
    memset(&many, 0, sizeof(many));
    one.stop_after = many.stop_after = 23456;
    assert_int_equal(read_fmt(&in, SP_FMT_CSV, 0, &one, &e1), CTSPOOL_E_IO);
    assert_int_equal(read_fmt(&in, SP_FMT_CSV, 2, &many, &e2), CTSPOOL_E_IO);
    assert_int_equal(one.n_pts, 23456);
    assert_same_and_free(&one, &many);
    sp_buf_cleanup(&in);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_results),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_small_inputs),
        cmocka_unit_test(test_csv_same_results),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
