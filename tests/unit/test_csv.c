/*
 * test_csv.c -- csv.c, the streaming RFC 4180 reader: quoting, line
 * ends, BOM, blank lines, line numbers, every error and how reading goes
 * on after it, and records straddling the 64 KiB read boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sp_int.h"
#include "testutil.h"

/* A FILE holding len bytes of data, positioned at the start. */
static FILE *
mem_file(const char *data, size_t len)
{
    FILE *f = tmpfile();

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    rewind(f);
    return f;
}

struct rdr {
    FILE *f;
    struct sp_csv *c;
};

static void
rdr_open(struct rdr *r, const char *data, size_t len)
{
    r->f = mem_file(data, len);
    assert_int_equal(sp_csv_open(r->f, &r->c), CTSPOOL_OK);
}

static void
rdr_close(struct rdr *r)
{
    sp_csv_close(r->c);
    fclose(r->f);
}

/*
 * Next record rendered as "line|field|field|..." (fields joined with
 * '|'), or the error message prefixed by "ERR:", or "EOF".
 */
static const char *
next(struct rdr *r, char *out, size_t cap)
{
    const char *const *fv;
    const size_t *fl;
    size_t n = 99, line = 0, o;
    struct sp_err e;
    ctspool_rc rc;

    rc = sp_csv_next(r->c, &fv, &fl, &n, &line, &e);
    if (rc == CTSPOOL_E_NOTFOUND) {
        snprintf(out, cap, "EOF");
        return out;
    }
    if (rc != CTSPOOL_OK) {
        assert_int_equal(rc, CTSPOOL_E_INVALID);
        snprintf(out, cap, "ERR:%s", e.msg);
        return out;
    }
    o = (size_t)snprintf(out, cap, "%zu", line);
    for (size_t i = 0; i < n && o < cap; i++) {
        o += (size_t)snprintf(out + o, cap - o, "|%.*s", (int)fl[i], fv[i]);
    }
    return out;
}

/* Read all of data; expect exactly the records in want (NULL-ended). */
static void
expect_records(const char *data, size_t len, const char *const *want)
{
    struct rdr r;
    char out[4096];

    rdr_open(&r, data, len);
    for (size_t i = 0; want[i]; i++) {
        assert_string_equal(next(&r, out, sizeof(out)), want[i]);
    }
    assert_string_equal(next(&r, out, sizeof(out)), "EOF");
    /* Past the end it stays at the end. */
    assert_string_equal(next(&r, out, sizeof(out)), "EOF");
    rdr_close(&r);
}

#define EXPECT(data, ...)                                                 \
    do {                                                                  \
        const char *const want_[] = {__VA_ARGS__, NULL};                  \
        expect_records((data), sizeof(data) - 1, want_);                  \
    } while (0)

static void
test_csv_plain(void **state)
{
    (void)state;
    EXPECT("a,b,c\n1,2,3\n", "1|a|b|c", "2|1|2|3");
    /* Last line without a line end; empty fields; trailing comma. */
    EXPECT("a,,c\n,,\n1,2,", "1|a||c", "2|||", "3|1|2|");
    EXPECT("single\n", "1|single");
}

static void
test_csv_quoting(void **state)
{
    (void)state;
    EXPECT("\"x,y\",\"he said \"\"hi\"\"\",\"line1\nline2\",plain\n"
           "next,\"\",\"\"\"\",z\n",
           "1|x,y|he said \"hi\"|line1\nline2|plain", "3|next||\"|z");
    /* Quoted fields spanning several lines keep the count right. */
    EXPECT("\"a\n\nb\",c\r\nd,e\n", "1|a\n\nb|c", "4|d|e");
    EXPECT("\"only\"", "1|only");
}

static void
test_csv_line_ends(void **state)
{
    (void)state;
    EXPECT("a,b\r\n1,2\r\n", "1|a|b", "2|1|2");
    EXPECT("\"a\",\"b\"\r\n\"1\",2\r\n", "1|a|b", "2|1|2");
    /* CRLF inside quotes is data; a bare CR is data. */
    EXPECT("\"x\r\ny\",a\rb\r\n", "1|x\r\ny|a\rb");
    /* CR at the very end without LF. */
    EXPECT("a,b\r", "1|a|b");
    EXPECT("a,\"b\"\r", "1|a|b");
}

static void
test_csv_bom_and_blank_lines(void **state)
{
    (void)state;
    EXPECT("\xEF\xBB\xBF"
           "a,b\n1,2\n",
           "1|a|b", "2|1|2");
    EXPECT("\xEF\xBB\xBF\"q\",b\n", "1|q|b");
    EXPECT("\n\na,b\n\r\n\n1,2\n\n", "3|a|b", "6|1|2");
    /* A BOM later in the file is data. */
    EXPECT("a\n\xEF\xBB\xBF"
           "b\n",
           "1|a", "2|\xEF\xBB\xBF"
                  "b");
    {
        const char *const none[] = {NULL};

        expect_records("", 0, none);
        expect_records("\xEF\xBB\xBF", 3, none);
        expect_records("\n\r\n\n", 4, none);
    }
}

static void
test_csv_errors_and_recovery(void **state)
{
    (void)state;
    EXPECT("a,b\n1,\"abc\n2,3\n", "1|a|b",
           "ERR:line 2: unterminated quoted field");
    EXPECT("a,b\"c,d\nx,y\n",
           "ERR:line 1: a quote (\") inside an unquoted field; quote the "
           "whole field and double the quotes in it",
           "2|x|y");
    EXPECT("h\n\"ab\"c,d\nx,y\n", "1|h",
           "ERR:line 2: text after the closing quote of a field (a quoted "
           "field must end at a comma or a line end)",
           "3|x|y");
    EXPECT("\"ab\"\rX,d\nx,y", "ERR:line 1: text after the closing quote of "
                               "a field (a quoted field must end at a comma "
                               "or a line end)",
           "2|x|y");
    /* The error names the line of the stray quote. */
    EXPECT("\"multi\nline\" x\nok\n",
           "ERR:line 2: text after the closing quote of a field (a quoted "
           "field must end at a comma or a line end)",
           "3|ok");
}

static void
test_csv_record_too_long(void **state)
{
    size_t big = 1024 * 1024 + 100, o = 0;
    char *data = malloc(2 * big + 100);
    struct rdr r;
    char out[256];

    (void)state;
    assert_non_null(data);
    o += (size_t)snprintf(data, 100, "h1,h2\n");
    memset(data + o, 'x', big); /* unquoted */
    o += big;
    data[o++] = '\n';
    data[o++] = '"'; /* quoted, with line breaks in it */
    for (size_t i = 0; i < big; i++) {
        data[o++] = i % 1000 == 999 ? '\n' : 'y';
    }
    memcpy(data + o, "\",z\nlast,row\n", 13);
    o += 13;
    rdr_open(&r, data, o);
    assert_string_equal(next(&r, out, sizeof(out)), "1|h1|h2");
    assert_string_equal(next(&r, out, sizeof(out)),
                        "ERR:line 2: record longer than 1 MiB");
    /* A quoted field over lines is given up at 1 MiB (it may be a
     * stray quote, which would take in the rest of the input): reading
     * goes on at the next line, and the later records come back. */
    snprintf(data, 200,
             "ERR:line 3: a quoted field runs on for more than 1 MiB, to "
             "line %zu (a quote without its closing one?): lines 3 to %zu "
             "are skipped",
             (size_t)3 + 1024 * 1024 / 1000, (size_t)3 + 1024 * 1024 / 1000);
    assert_string_equal(next(&r, out, sizeof(out)), data);
    snprintf(data, 100, "%zu|last|row", (size_t)3 + big / 1000 + 1);
    for (int i = 0; i < 10 && strcmp(out, data) != 0; i++) {
        assert_string_not_equal(next(&r, out, sizeof(out)), "EOF");
    }
    assert_string_equal(out, data);
    assert_string_equal(next(&r, out, sizeof(out)), "EOF");
    rdr_close(&r);

    /* A stray quote on one line of a log: the lines it took are named,
     * and those past them come back. */
    o = (size_t)snprintf(data, 100, "a,\"b\n");
    while (o < big + 20000) {
        o += (size_t)snprintf(data + o, 100, "x,%06zu\n", o);
    }
    memcpy(data + o, "ok,1\n", 5);
    o += 5;
    rdr_open(&r, data, o);
    assert_int_equal(strncmp(next(&r, out, sizeof(out)),
                             "ERR:line 1: a quoted field runs on for more "
                             "than 1 MiB",
                             50),
                     0);
    while (strncmp(next(&r, out, sizeof(out)), "EOF", 3) != 0 &&
           !strstr(out, "|ok|1")) {
        /* the x lines past the point it gave up at, as records */
    }
    assert_non_null(strstr(out, "|ok|1"));
    rdr_close(&r);

    /* Exactly at the limit is fine: 1 MiB of content and separators. */
    memset(data, 'a', 1024 * 1024 - 1);
    memcpy(data + 1024 * 1024 - 1, ",\n", 2);
    rdr_open(&r, data, 1024 * 1024 + 1);
    assert_int_equal(strncmp(next(&r, out, sizeof(out)), "1|aaaa", 6), 0);
    assert_string_equal(next(&r, out, sizeof(out)), "EOF");
    rdr_close(&r);
    free(data);
}

/*
 * Put each tricky sequence across the 64 KiB read boundary at every
 * offset around it: a "" escape, a CRLF after a closing quote, a CRLF
 * after an unquoted field, a quoted line break, a comma after a quote.
 */
static void
test_csv_read_boundaries(void **state)
{
    static const char *const tails[] = {
        "\"a\"\"b\",c\r\n", "\"ab\"\r\nz", "ab\r\nz", "\"a\nb\",c\n",
        "\"ab\",\"c\"\n"};
    static const char *const want[] = {"a\"b|c", "ab", "ab", "a\nb|c",
                                       "ab|c"};
    size_t chunk = 64 * 1024;
    char *data = malloc(chunk + 64);
    char *out = malloc(2 * chunk);
    char expect[256];

    (void)state;
    assert_non_null(data);
    assert_non_null(out);
    for (size_t t = 0; t < SP_ARRAY_LEN(tails); t++) {
        for (size_t at = chunk - 8; at <= chunk + 2; at++) {
            struct rdr r;
            size_t tl = strlen(tails[t]), len;

            /* One filler record of at - 1 bytes, then the tail. */
            memset(data, 'f', at - 1);
            data[at - 1] = '\n';
            memcpy(data + at, tails[t], tl);
            len = at + tl;
            rdr_open(&r, data, len);
            next(&r, out, 2 * chunk);
            assert_int_equal(strlen(out), 2 + at - 1);
            snprintf(expect, sizeof(expect), "2|%s", want[t]);
            assert_string_equal(next(&r, out, 2 * chunk), expect);
            if (t == 1 || t == 2) {
                snprintf(expect, sizeof(expect), "3|z");
                assert_string_equal(next(&r, out, 2 * chunk), expect);
            }
            assert_string_equal(next(&r, out, 2 * chunk), "EOF");
            rdr_close(&r);
        }
    }
    free(out);
    free(data);
}

/* Many records through the buffer: every one intact, in order. */
static void
test_csv_many_rows(void **state)
{
    size_t n_rows = 50000, cap = n_rows * 64, o = 0;
    char *data = malloc(cap);
    const char *const *fv;
    const size_t *fl;
    size_t n, line, i;
    struct sp_err e;
    struct rdr r;
    char want[64];

    (void)state;
    assert_non_null(data);
    for (i = 0; i < n_rows; i++) {
        o += (size_t)snprintf(data + o, cap - o,
                              i % 2 ? "%zu,\"q,%zu\",z\r\n" : "%zu,%zu,z\n",
                              i, i);
    }
    rdr_open(&r, data, o);
    for (i = 0; i < n_rows; i++) {
        assert_int_equal(sp_csv_next(r.c, &fv, &fl, &n, &line, &e),
                         CTSPOOL_OK);
        assert_int_equal(n, 3);
        assert_int_equal(line, i + 1);
        snprintf(want, sizeof(want), i % 2 ? "q,%zu" : "%zu", i);
        assert_int_equal(fl[1], strlen(want));
        assert_memory_equal(fv[1], want, fl[1]);
        assert_int_equal(fl[2], 1);
    }
    assert_int_equal(sp_csv_next(r.c, &fv, &fl, &n, &line, &e),
                     CTSPOOL_E_NOTFOUND);
    rdr_close(&r);
    free(data);
}

/* Reads data's one record with its bytes kept: 1 and them in *raw (a
 * copy, freed by the caller) when kept, else 0. */
static int
read_raw(const char *data, size_t len, char **raw, size_t *raw_len)
{
    const char *const *fv;
    const size_t *fl;
    const char *p;
    size_t n, line;
    struct sp_err e;
    struct rdr r;
    int kept;

    rdr_open(&r, data, len);
    sp_csv_keep_raw(r.c);
    assert_int_equal(sp_csv_next(r.c, &fv, &fl, &n, &line, &e), CTSPOOL_OK);
    p = sp_csv_raw(r.c, raw_len);
    kept = p != NULL;
    *raw = kept ? malloc(*raw_len + 1) : NULL;
    if (kept) {
        assert_non_null(*raw);
        memcpy(*raw, p, *raw_len);
    }
    rdr_close(&r);
    return kept;
}

/* Each record's bytes as read, without its LF: quotes, CRs, line breaks
 * in quotes, across the 64 KiB refills; not past 2 MiB, whether a LF or
 * the end of the input follows. */
static void
test_csv_raw(void **state)
{
    static const char text[] = "\xEF\xBB\xBF\n\"a\",\"b\"\"c\"\r\n"
                               "\n\rx,\"y\r\nz\"\r\n"
                               "last,row";
    static const char *const want[] = {"\"a\",\"b\"\"c\"\r",
                                       "\rx,\"y\r\nz\"\r", "last,row"};
    const size_t two_mib = (size_t)2 << 20;
    const char *const *fv;
    const size_t *fl;
    const char *p;
    size_t n, line, len;
    struct sp_err e;
    struct rdr r;
    char *big, *raw;

    (void)state;
    rdr_open(&r, text, sizeof(text) - 1);
    assert_null(sp_csv_raw(r.c, &len)); /* not asked for */
    assert_int_equal(len, 0);
    sp_csv_keep_raw(r.c);
    for (size_t i = 0; i < SP_ARRAY_LEN(want); i++) {
        assert_int_equal(sp_csv_next(r.c, &fv, &fl, &n, &line, &e),
                         CTSPOOL_OK);
        p = sp_csv_raw(r.c, &len);
        assert_non_null(p);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(p, want[i], len);
    }
    rdr_close(&r);

    /* Quoted fields of doubled quotes, under 1 MiB of field bytes:
     * exactly 2 MiB as read (one field of 1 MiB - 1 quotes), then a byte
     * more (one of 1 MiB - 2, then an empty quoted one). */
    big = malloc(two_mib + 4);
    assert_non_null(big);
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t rec = two_mib + extra;

        if (extra == 0) {
            memset(big, '"', rec);
        } else {
            memset(big, '"', two_mib - 2);
            memcpy(big + two_mib - 2, ",\"\"", 3);
        }
        for (int with_lf = 0; with_lf <= 1; with_lf++) {
            big[rec] = '\n';
            if (read_raw(big, rec + (size_t)with_lf, &raw, &len)) {
                assert_int_equal(extra, 0);
                assert_int_equal(len, rec);
                assert_memory_equal(raw, big, rec);
                free(raw);
            } else {
                assert_int_equal(extra, 1);
            }
        }
    }
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_plain),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_line_ends),
        cmocka_unit_test(test_csv_bom_and_blank_lines),
        cmocka_unit_test(test_csv_errors_and_recovery),
        cmocka_unit_test(test_csv_record_too_long),
        cmocka_unit_test(test_csv_read_boundaries),
        cmocka_unit_test(test_csv_many_rows),
        cmocka_unit_test(test_csv_raw),
    };

    sp_csv_close(NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
