/*
 * test_input.c -- input.c: NDJSON, CSV and Cloudthread inputs -> points,
 * the locators of every rejection, the streams list in each format, and
 * format detection by extension and by content (from pipes, which cannot
 * seek; bounded for an input of blanks only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "input_int.h"
#include "sp_int.h"
#include "testutil.h"

#define MAX_SEEN 64

struct seen {
    char pts[MAX_SEEN][512];
    size_t n_pts;
    char errs[MAX_SEEN][600];
    size_t err_index[MAX_SEEN];
    size_t n_errs;
    ctspool_rc point_rc;
};

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    struct seen *s = ctx;

    if (s->n_pts < MAX_SEEN) {
        tu_render_point(p, s->pts[s->n_pts], sizeof(s->pts[0]));
    }
    s->n_pts++;
    return s->point_rc;
}

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    struct seen *s = ctx;

    if (s->n_errs < MAX_SEEN) {
        s->err_index[s->n_errs] = index;
        snprintf(s->errs[s->n_errs], sizeof(s->errs[0]), "%s", e->msg);
    }
    s->n_errs++;
    return CTSPOOL_OK;
}


static const struct sp_defaults defaults = {.stream = "tok-def",
                                            .agg = SP_AGG_SUM};

static FILE *
mem_file(const char *data, size_t len)
{
    FILE *f = tmpfile();

    assert_non_null(f);
    if (len > 0) {
        assert_int_equal(fwrite(data, 1, len, f), len);
    }
    rewind(f);
    return f;
}

/* Read data of len bytes as fmt, named name. */
static ctspool_rc
read_mem(const char *data, size_t len, const char *name, enum sp_format fmt,
         const struct sp_defaults *d, struct seen *s, struct sp_err *e)
{
    FILE *f = mem_file(data, len);
    ctspool_rc rc;

    memset(e, 0, sizeof(*e));
    rc = sp_input_read(f, name, fmt, d, on_point, on_error, s, e);
    fclose(f);
    return rc;
}

/*
 * Read data through a pipe (no seeking, no extension): a child process
 * writes it, so inputs bigger than the pipe buffer work.
 */
static ctspool_rc
read_pipe(const char *data, size_t len, const char *name,
          const struct sp_defaults *d, struct seen *s, struct sp_err *e)
{
    int fds[2], status;
    pid_t pid;
    FILE *f;
    ctspool_rc rc;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        size_t o = 0;

        close(fds[0]);
        while (o < len) {
            ssize_t n = write(fds[1], data + o, len - o);

            if (n <= 0) {
                _exit(1);
            }
            o += (size_t)n;
        }
        _exit(0);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    assert_non_null(f);
    memset(e, 0, sizeof(*e));
    rc = sp_input_read(f, name, SP_FMT_AUTO, d, on_point, on_error, s, e);
    fclose(f);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return rc;
}

#define READ(data, name, fmt, s, e)                                       \
    read_mem((data), sizeof(data) - 1, (name), (fmt), &defaults, (s), (e))

static void
test_format_parse(void **state)
{
    (void)state;
    assert_int_equal(sp_format_parse("auto"), SP_FMT_AUTO);
    assert_int_equal(sp_format_parse("cloudthread"), SP_FMT_CLOUDTHREAD);
    assert_int_equal(sp_format_parse("ndjson"), SP_FMT_NDJSON);
    assert_int_equal(sp_format_parse("csv"), SP_FMT_CSV);
    assert_int_equal(sp_format_parse("CSV"), -1);
    assert_int_equal(sp_format_parse("json"), -1);
    assert_int_equal(sp_format_parse(""), -1);
    assert_int_equal(sp_format_parse(NULL), -1);
}

/* ---- NDJSON ----------------------------------------------------------- */

static void
test_ndjson(void **state)
{
    static const char data[] =
        "\xEF\xBB\xBF"
        "{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":\"a\","
        "\"metric_value\":1,\"custom_dimensions\":{\"z\":\"1\",\"y\":\"2\"}}"
        "\r\n"
        "\n"
        "   \t \r\n"
        "{\"timestamp\":1664604000,\"metric_name\":\"b\",\"metric_value\":"
        "\"2.5\",\"metric_agg_func\":\"Minimum\",\"data_stream_token\":"
        "\"tok-line\"}\n"
        "{\"timestamp\":\"2022-10-01 05:00:01\",\"metric_name\":\"c\","
        "\"metric_value\":3}\n"
        "not json\r\n"
        "{\"timestamp\":1664604000,\"metric_name\":\"d\",\"metric_value\":4,"
        "\"custom_dimensions\":{\"r\":5}}\n"
        "{\"timestamp\":1664604000,\"metric_name\":\"e\",\"metric_value\":5}";
    struct seen s = {0};
    struct sp_err e;

    (void)state;
    assert_int_equal(READ(data, "in.ndjson", SP_FMT_NDJSON, &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 3);
    assert_string_equal(s.pts[0], "tok-def|Sum|a|462389|1|y=2,z=1");
    assert_string_equal(s.pts[1], "tok-line|Minimum|b|462390|2.5|");
    assert_string_equal(s.pts[2], "tok-def|Sum|e|462390|5|");
    assert_int_equal(s.n_errs, 3);
    assert_int_equal(s.err_index[0], 5);
    assert_msg(s.errs[0], "line 5: timestamp: seconds must be zero*");
    assert_int_equal(s.err_index[1], 6);
    assert_string_equal(s.errs[1],
                        "line 6: invalid JSON: parsing stopped at byte "
                        "offset 0 (lexical error: invalid string in json "
                        "text)");
    assert_int_equal(s.err_index[2], 7);
    assert_string_equal(s.errs[2], "line 7: custom_dimensions: value of "
                                   "\"r\" must be a string, not a number");
}

static void
test_ndjson_no_defaults(void **state)
{
    static const char data[] = "{\"timestamp\":1664604000,\"metric_name\":"
                               "\"a\",\"metric_value\":1}\n";
    struct sp_defaults none = {.stream = NULL, .agg = -1};
    struct seen s = {0};
    struct sp_err e;

    (void)state;
    assert_int_equal(read_mem(data, sizeof(data) - 1, "-", SP_FMT_NDJSON,
                              &none, &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 0);
    assert_int_equal(s.n_errs, 1);
    assert_string_equal(s.errs[0], "line 1: metric_agg_func: missing (not "
                                   "in the line, and no --agg default)");
}

/* Lines up to 1 MiB pass; longer ones are reported and skipped. */
static void
test_ndjson_long_lines(void **state)
{
    static const char obj[] = "{\"timestamp\":1664604000,\"metric_name\":"
                              "\"%s\",\"metric_value\":1}";
    size_t mib = 1024 * 1024, cap = 6 * mib, o = 0;
    char *data = malloc(cap);
    struct seen s = {0};
    struct sp_err e;
    FILE *f;
    int n;

    (void)state;
    assert_non_null(data);
    /* line 1: exactly 1 MiB (blanks after the object), CRLF */
    n = snprintf(data + o, cap - o, obj, "one");
    memset(data + o + n, ' ', mib - (size_t)n);
    o += mib;
    memcpy(data + o, "\r\n", 2);
    o += 2;
    /* line 2: 1 MiB + 1 */
    n = snprintf(data + o, cap - o, obj, "two");
    memset(data + o + n, ' ', mib + 1 - (size_t)n);
    o += mib + 1;
    data[o++] = '\n';
    /* line 3: fine */
    o += (size_t)snprintf(data + o, cap - o, obj, "three");
    data[o++] = '\n';
    /* line 4: 2.5 MiB, longer than the buffer can ever hold */
    n = snprintf(data + o, cap - o, obj, "four");
    memset(data + o + n, ' ', 2 * mib + mib / 2 - (size_t)n);
    o += 2 * mib + mib / 2;
    data[o++] = '\n';
    o += (size_t)snprintf(data + o, cap - o, obj, "five");
    f = mem_file(data, o);
    assert_int_equal(sp_input_read(f, "x.jsonl", SP_FMT_AUTO, &defaults,
                                   on_point, on_error, &s, &e),
                     CTSPOOL_OK);
    fclose(f);
    assert_int_equal(s.n_pts, 3);
    assert_string_equal(s.pts[0], "tok-def|Sum|one|462390|1|");
    assert_string_equal(s.pts[1], "tok-def|Sum|three|462390|1|");
    assert_string_equal(s.pts[2], "tok-def|Sum|five|462390|1|");
    assert_int_equal(s.n_errs, 2);
    assert_int_equal(s.err_index[0], 2);
    assert_string_equal(s.errs[0], "line 2: line longer than 1 MiB");
    assert_int_equal(s.err_index[1], 4);
    assert_string_equal(s.errs[1], "line 4: line longer than 1 MiB");
    free(data);
}

/* ---- CSV -------------------------------------------------------------- */

static void
test_csv(void **state)
{
    static const char data[] =
        "\xEF\xBB\xBF"
        "timestamp,metric_name,metric_value,region,metric_agg_func,env,"
        "data_stream_token\r\n"
        "2022-10-01 05:00:00,req,12.5,eu-west-1,,prod,\r\n"
        "2022-10-01T06:00:00Z,\"a,b\",-1,\"x \"\"q\"\"\",Maximum,,tok-row\r\n"
        "1664604000,multi,2,\"line1\nline2\",Average,dev,\r\n"
        "2022-10-01 05:00:00,short,1\r\n"
        "2022-10-01 05:30:00,bad,1,,,,\r\n"
        "2022-10-01 05:00:00,q\"x,1,,,,\r\n"
        "2022-10-01 05:00:00,nodims,0,,,,\r\n"
        "2022-10-01 05:00:00,badagg,0,,sum,,\r\n"
        "2022-10-01 05:00:00,\"unterminated,1,,,,\r\n";
    struct seen s = {0};
    struct sp_err e;

    (void)state;
    assert_int_equal(READ(data, "in.csv", SP_FMT_CSV, &s, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 4);
    assert_string_equal(s.pts[0], "tok-def|Sum|req|462389|12.5|env=prod,"
                                  "region=eu-west-1");
    assert_string_equal(s.pts[1],
                        "tok-row|Maximum|a,b|462390|-1|region=x \"q\"");
    assert_string_equal(s.pts[2],
                        "tok-def|Average|multi|462390|2|env=dev,region="
                        "line1\nline2");
    assert_string_equal(s.pts[3], "tok-def|Sum|nodims|462389|0|");
    assert_int_equal(s.n_errs, 5);
    assert_int_equal(s.err_index[0], 6);
    assert_string_equal(s.errs[0], "line 6: has 3 fields, the header has 7");
    assert_int_equal(s.err_index[1], 7);
    assert_msg(s.errs[1], "line 7: timestamp: minutes must be zero*");
    assert_int_equal(s.err_index[2], 8);
    assert_string_equal(s.errs[2],
                        "line 8: a quote (\") inside an unquoted field; quote "
                        "the whole field and double the quotes in it");
    assert_int_equal(s.err_index[3], 10);
    assert_msg(s.errs[3], "line 10: metric_agg_func: \"sum\" *");
    assert_int_equal(s.err_index[4], 11);
    assert_string_equal(s.errs[4], "line 11: unterminated quoted field");
}

static void
test_csv_defaults_missing(void **state)
{
    static const char data[] = "metric_value,metric_name,timestamp\n"
                               "1,m,1664604000\n";
    static const char empty_cells[] =
        "metric_value,metric_name,timestamp,metric_agg_func,"
        "data_stream_token\n"
        "1,m,1664604000,,\n"
        "1,m,1664604000,Sum,\n";
    struct sp_defaults none = {.stream = NULL, .agg = -1};
    struct seen s = {0};
    struct sp_err e;

    (void)state;
    assert_int_equal(read_mem(data, sizeof(data) - 1, NULL, SP_FMT_CSV,
                              &none, &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 0);
    assert_int_equal(s.n_errs, 1);
    assert_string_equal(s.errs[0], "line 2: metric_agg_func: missing (no "
                                   "metric_agg_func column, and no --agg "
                                   "default)");
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_mem(empty_cells, sizeof(empty_cells) - 1, NULL,
                              SP_FMT_CSV, &none, &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_errs, 2);
    assert_string_equal(s.errs[0], "line 2: metric_agg_func: missing (the "
                                   "cell is empty, and no --agg default)");
    assert_string_equal(s.errs[1], "line 3: data_stream_token: missing (the "
                                   "cell is empty and no default "
                                   "configured)");
    memset(&s, 0, sizeof(s));
    assert_int_equal(READ(data, NULL, SP_FMT_CSV, &s, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 1);
    assert_string_equal(s.pts[0], "tok-def|Sum|m|462390|1|");
}

static void
test_csv_bad_header(void **state)
{
    static const struct {
        const char *data;
        const char *msg;
    } cases[] = {
        {"timestamp,metric_name,value\n1664604000,m,1\n",
         "line 1: CSV header has no 'metric_value' column"},
        {"metric_name,metric_value\n",
         "line 1: CSV header has no 'timestamp' column"},
        {"\n\ntimestamp,metric_value\n",
         "line 3: CSV header has no 'metric_name' column"},
        {"timestamp,metric_name,metric_value,region,env,region\n",
         "line 1: CSV header columns 4 and 6 have the same name"},
        {"timestamp,metric_name,metric_value,timestamp\n",
         "line 1: CSV header columns 1 and 4 have the same name"},
        {"timestamp,metric_name,,metric_value\n",
         "line 1: CSV header column 3 has an empty name"},
        {"timestamp,metric_name,\"metric_value\n",
         "line 1: unterminated quoted field"},
        /* Hints: another separator, another case. */
        {"timestamp;metric_name;metric_value\n1664604000;m;1\n",
         "line 1: CSV header has no 'timestamp' column (the header is one "
         "column holding ';': columns are separated by ',')"},
        {"Timestamp,metric_name,metric_value\n",
         "line 1: CSV header has no 'timestamp' column (column names are "
         "lower case)"},
    };
    struct seen s;
    struct sp_err e;

    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        memset(&s, 0, sizeof(s));
        assert_int_equal(read_mem(cases[i].data, strlen(cases[i].data),
                                  "h.csv", SP_FMT_AUTO, &defaults, &s, &e),
                         CTSPOOL_E_INVALID);
        assert_string_equal(e.msg, cases[i].msg);
        assert_int_equal(s.n_pts + s.n_errs, 0);
    }
}

/* ---- Cloudthread ------------------------------------------------------ */

static void
test_cloudthread(void **state)
{
    static const char data[] =
        "{\"data_stream_token\":\"tok-1\",\"metric_agg_func\":\"Sum\","
        "\"data\":[{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":"
        "\"a\",\"metric_value\":1}]}\n"
        "\n"
        "{\"metric_agg_func\":\"Average\",\"data\":["
        "{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":\"b\","
        "\"metric_value\":2,\"custom_dimensions\":{\"k\":\"v\"}},"
        "{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":\"c\"},"
        "{\"timestamp\":\"2022-10-01 05:00:00\",\"metric_name\":\"d\","
        "\"metric_value\":4,\"metric_agg_func\":\"Sum\"}]}"
        "{\"metric_agg_func\":\"Total\",\"data\":[]}"
        "  {\"data\":[{\"timestamp\":1664604000,\"metric_name\":\"e\","
        "\"metric_value\":5}]}\n";
    struct seen s = {0};
    struct sp_err e;

    (void)state;
    assert_int_equal(READ(data, "p.json", SP_FMT_CLOUDTHREAD, &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 3);
    assert_string_equal(s.pts[0], "tok-1|Sum|a|462389|1|");
    assert_string_equal(s.pts[1], "tok-def|Average|b|462389|2|k=v");
    assert_string_equal(s.pts[2], "tok-def|Sum|e|462390|5|");
    assert_int_equal(s.n_errs, 3);
    assert_int_equal(s.err_index[0], 1);
    assert_string_equal(s.errs[0], "object 2, data[1]: metric_value: missing");
    assert_int_equal(s.err_index[1], 2);
    assert_string_equal(s.errs[1],
                        "object 2, data[2]: unknown field \"metric_agg_func\" "
                        "in a data element (it belongs at the top level of "
                        "the payload)");
    assert_int_equal(s.err_index[2], 0);
    assert_msg(s.errs[2], "object 3: metric_agg_func: \"Total\" *");
}

static void
test_cloudthread_broken(void **state)
{
    static const char two[] =
        "{\"data_stream_token\":\"t\",\"metric_agg_func\":\"Sum\",\"data\":"
        "[{\"timestamp\":1664604000,\"metric_name\":\"a\",\"metric_value\":"
        "1}]}\n"
        "{\"data\": [}";
    static const char first[] = "\n  {\"data\": [}";
    static const char bom_only[] = "\xEF\xBB\xBF \n";
    /* A byte order mark only starts an input, never a later object. */
    static const char bom_later[] =
        "{\"data\":[{\"timestamp\":1664604000,\"metric_name\":\"a\","
        "\"metric_value\":1}]}\n\xEF\xBB\xBF{\"data\":[]}";
    struct seen s = {0};
    struct sp_err e;

    (void)state;
    assert_int_equal(READ(two, NULL, SP_FMT_CLOUDTHREAD, &s, &e),
                     CTSPOOL_E_INVALID);
    assert_int_equal(s.n_pts, 1);
    /* Offsets count from the input's start, the object's too. */
    assert_string_equal(e.msg, "object 2 (starting at byte offset 119): "
                               "invalid JSON: parsing stopped at byte "
                               "offset 129 (parse error: unallowed token at "
                               "this point in JSON text)");
    memset(&s, 0, sizeof(s));
    assert_int_equal(READ(first, NULL, SP_FMT_CLOUDTHREAD, &s, &e),
                     CTSPOOL_E_INVALID);
    assert_string_equal(e.msg, "object 1 (starting at byte offset 3): "
                               "invalid JSON: parsing stopped at byte "
                               "offset 13 (parse error: unallowed token at "
                               "this point in JSON text)");
    memset(&s, 0, sizeof(s));
    assert_int_equal(READ(bom_only, NULL, SP_FMT_CLOUDTHREAD, &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts + s.n_errs, 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(READ(bom_later, NULL, SP_FMT_CLOUDTHREAD, &s, &e),
                     CTSPOOL_E_INVALID);
    assert_int_equal(s.n_pts, 1);
    assert_int_equal(s.n_errs, 0);
    assert_msg(e.msg, "object 2 (starting at byte offset 71): invalid JSON: "
                      "parsing stopped at byte offset 71 *");
}

/* ---- detection -------------------------------------------------------- */

static const char ct_text[] =
    "{\n  \"metric_agg_func\": \"Sum\",\n  \"data_stream_token\": \"t\",\n"
    "  \"data\": [{\"timestamp\": 1664604000, \"metric_name\": \"ct\", "
    "\"metric_value\": 1}]\n}\n";
static const char nd_text[] =
    "{\"metric_agg_func\": \"Sum\", \"data_stream_token\": \"t\", "
    "\"timestamp\": 1664604000, \"metric_name\": \"nd\", \"metric_value\": "
    "1}\n";
static const char nd_nested_text[] =
    "{\"custom_dimensions\": {\"data\": \"x\"}, \"timestamp\": 1664604000, "
    "\"metric_name\": \"nd\", \"metric_value\": 1}\n";
static const char nd_only_top_text[] =
    "{\"metric_agg_func\": \"Sum\", \"data_stream_token\": \"t\"}\n";
static const char csv_text[] =
    "timestamp,metric_name,metric_value\n1664604000,csv,1\n";

static void
test_auto_by_extension(void **state)
{
    char *dir = tu_tmpdir();
    struct seen s;
    struct sp_err e;
    static const struct {
        const char *file;
        const char *text;
        const char *first; /* first point, or first error */
    } cases[] = {
        {"a.json", ct_text, "t|Sum|ct|462390|1|"},
        {"a.JSON", ct_text, "t|Sum|ct|462390|1|"},
        {"a.ndjson", nd_text, "t|Sum|nd|462390|1|"},
        {"a.jsonl", nd_text, "t|Sum|nd|462390|1|"},
        {"a.csv", csv_text, "tok-def|Sum|csv|462390|1|"},
        /* The extension wins over the content. */
        {"nd.json", nd_text,
         "object 1: unknown member \"timestamp\" in the payload (it has "
         "data_stream_token, metric_agg_func and data)"},
        {"csv.ndjson", "timestamp,metric_name,metric_value\n",
         "line 1: invalid JSON: parsing stopped at byte offset 0 (lexical "
         "error: invalid string in json text)"},
        /* No known extension: the content decides. */
        {"dir.v1/data", ct_text, "t|Sum|ct|462390|1|"},
        {"x.txt", nd_text, "t|Sum|nd|462390|1|"},
        {".csv", nd_text, "t|Sum|nd|462390|1|"},
    };

    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        char *path = tu_path(dir, cases[i].file);
        FILE *f;
        ctspool_rc rc;

        if (strchr(cases[i].file, '/')) {
            char *sub = tu_path(dir, "dir.v1");

            mkdir(sub, 0700);
            free(sub);
        }
        tu_write_file(path, cases[i].text, strlen(cases[i].text));
        f = fopen(path, "rb");
        assert_non_null(f);
        memset(&s, 0, sizeof(s));
        rc = sp_input_read(f, path, SP_FMT_AUTO, &defaults, on_point,
                           on_error, &s, &e);
        fclose(f);
        if (s.n_pts + s.n_errs != 1 ||
            strcmp(s.n_pts ? s.pts[0] : s.errs[0], cases[i].first) != 0) {
            print_error("case %s: rc %d pts %zu errs %zu: %s\n",
                        cases[i].file, (int)rc, s.n_pts, s.n_errs,
                        s.n_pts ? s.pts[0] : s.errs[0]);
        }
        assert_int_equal(rc, CTSPOOL_OK);
        assert_int_equal(s.n_pts + s.n_errs, 1);
        assert_string_equal(s.n_pts ? s.pts[0] : s.errs[0], cases[i].first);
        free(path);
    }
    tu_rmtree(dir);
}

static void
test_auto_by_content_pipe(void **state)
{
    static const struct {
        const char *text;
        const char *first;
    } cases[] = {
        {ct_text, "t|Sum|ct|462390|1|"},
        {nd_text, "t|Sum|nd|462390|1|"},
        {nd_nested_text, "tok-def|Sum|nd|462390|1|data=x"},
        {nd_only_top_text, "line 1: metric_name: missing"},
        {csv_text, "tok-def|Sum|csv|462390|1|"},
        {"\xEF\xBB\xBF\n \r\n{\"data\":[{\"timestamp\":1664604000,"
         "\"metric_name\":\"bom\",\"metric_value\":1}]}",
         "tok-def|Sum|bom|462390|1|"},
        {"\xEF\xBB\xBF"
         "timestamp,metric_name,metric_value\n1664604000,bomcsv,1\n",
         "tok-def|Sum|bomcsv|462390|1|"},
    };
    const char *names[] = {"-", NULL, "stdin"};
    struct seen s;
    struct sp_err e;

    (void)state;
    for (size_t n = 0; n < SP_ARRAY_LEN(names); n++) {
        for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
            memset(&s, 0, sizeof(s));
            assert_int_equal(read_pipe(cases[i].text, strlen(cases[i].text),
                                       names[n], &defaults, &s, &e),
                             CTSPOOL_OK);
            assert_int_equal(s.n_pts + s.n_errs, 1);
            assert_string_equal(s.n_pts ? s.pts[0] : s.errs[0],
                                cases[i].first);
        }
    }
    /* Empty input: no points, no errors. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_pipe("", 0, "-", &defaults, &s, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts + s.n_errs, 0);
}

/* data through a pipe, format by content, gives one point, pt, and one
 * error, matching err (tu_msg_matches). */
static void
assert_pipe_gives(const char *data, size_t len, const char *pt,
                  const char *err)
{
    struct seen s;
    struct sp_err e;

    memset(&s, 0, sizeof(s));
    assert_int_equal(read_pipe(data, len, "-", &defaults, &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 1);
    assert_string_equal(s.pts[0], pt);
    assert_int_equal(s.n_errs, 1);
    assert_msg(s.errs[0], err);
}

/*
 * Content detection that needs several reads: 200 KB of blank lines
 * before the first byte, and a first NDJSON line of 100 KB.  Every byte
 * looked at must still reach the parser.
 */
static void
test_auto_by_content_big(void **state)
{
    size_t blank = 200 * 1000, cap = blank + 300 * 1000, o = 0;
    char *data = malloc(cap);
    struct seen s;
    struct sp_err e;

    (void)state;
    assert_non_null(data);
    memset(data, '\n', blank);
    o = blank;
    o += (size_t)snprintf(data + o, cap - o, "%s", ct_text);
    o += (size_t)snprintf(data + o, cap - o, "%s", ct_text);
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_pipe(data, o, "-", &defaults, &s, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 2);
    assert_int_equal(s.n_errs, 0);
    assert_string_equal(s.pts[1], "t|Sum|ct|462390|1|");

    /* NDJSON whose first line is 100 KB: a long metric_name first. */
    o = 0;
    o += (size_t)snprintf(data + o, cap - o, "{\"metric_name\":\"");
    memset(data + o, 'n', 100 * 1000);
    o += 100 * 1000;
    o += (size_t)snprintf(data + o, cap - o,
                          "\",\"timestamp\":1664604000,\"metric_value\":1}\n"
                          "%s",
                          nd_text);
    assert_pipe_gives(data, o, "t|Sum|nd|462390|1|", "line 1: metric_name: *");

    /* A payload whose "data" member comes after 100 KB: detection reads
     * on until it sees it.  (The token is too long: one object error.) */
    o = 0;
    o += (size_t)snprintf(data + o, cap - o, "{\"data_stream_token\":\"");
    memset(data + o, 's', 100 * 1000);
    o += 100 * 1000;
    o += (size_t)snprintf(data + o, cap - o,
                          "\",\"metric_agg_func\":\"Sum\",\"data\":[]}");
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_pipe(data, o, "-", &defaults, &s, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 0);
    assert_int_equal(s.n_errs, 1);
    assert_msg(s.errs[0], "object 1: data_stream_token: *");
    assert_null(strstr(s.errs[0], "sss"));

    /* CSV after many blank lines. */
    memset(data, '\n', blank);
    o = blank;
    o += (size_t)snprintf(data + o, cap - o, "%s", csv_text);
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_pipe(data, o, "-", &defaults, &s, &e), CTSPOOL_OK);
    assert_int_equal(s.n_pts, 1);
    assert_int_equal(s.n_errs, 0);
    free(data);
}

/*
 * Only blanks, more than format detection holds (1 MiB and 64 KiB):
 * what it reads ahead stays bounded whatever the size of the input, and
 * the answer is that of any blank input, NDJSON (no points).  Nothing
 * is lost: the source still yields every byte, and a line after such a
 * run keeps its number.
 */
static void
test_auto_by_content_blanks(void **state)
{
    static const char *const runs[] = {"\n", " ", "\r\n", " \t\n"};
    size_t len = 8 * 1024 * 1024, o;
    char *data = malloc(len + 1000);
    char got[65536];
    struct sp_src src;
    enum sp_format fmt;
    struct sp_err e;

    (void)state;
    assert_non_null(data);
    for (size_t r = 0; r < SP_ARRAY_LEN(runs); r++) {
        size_t run = strlen(runs[r]), total = 0;
        ssize_t n;
        FILE *f;

        for (o = 0; o < len; o++) {
            data[o] = runs[r][o % run];
        }
        f = mem_file(data, len);
        sp_src_init(&src, f, 0, -1);
        memset(&e, 0, sizeof(e));
        assert_int_equal(sp_input_sniff(&src, &fmt, &e), CTSPOOL_OK);
        assert_int_equal(fmt, SP_FMT_NDJSON);
        assert_true(src.pre_len <= 2 * 1024 * 1024);
        while ((n = sp_src_read(&src, got, sizeof(got))) > 0) {
            for (ssize_t i = 0; i < n; i++) {
                if (got[i] != runs[r][(total + (size_t)i) % run]) {
                    fail_msg("run %zu: byte %zu", r, total + (size_t)i);
                }
            }
            total += (size_t)n;
        }
        assert_int_equal(n, 0);
        assert_int_equal(total, len);
        sp_src_cleanup(&src);
        fclose(f);
    }

    /* 2 MiB of blank lines, then NDJSON: line numbers count them all. */
    len = 2 * 1024 * 1024;
    memset(data, '\n', len);
    o = len;
    o += (size_t)snprintf(data + o, 1000, "%s{\"metric_name\":\"x\"}\n",
                          nd_text);
    assert_pipe_gives(data, o, "t|Sum|nd|462390|1|", "line 2097154: *");
    free(data);
}

/* ---- the streams list ------------------------------------------------ */

static char *const listed[] = {"tok-listed-0001", "tok-default-0002"};

#define UNLISTED_MSG(where, masked)                                       \
    where ": data_stream_token: \"" masked "\" is not in the streams list " \
          "of the configuration"

/* Only listed tokens, the point's own or the default; the rejection
 * names the point and shows the token masked. */
static void
test_streams_list(void **state)
{
    static const char nd[] =
        "{\"timestamp\":1664604000,\"metric_name\":\"a\",\"metric_value\":1}\n"
        "{\"timestamp\":1664604000,\"metric_name\":\"b\",\"metric_value\":1,"
        "\"data_stream_token\":\"tok-listed-0001\"}\n"
        "{\"timestamp\":1664604000,\"metric_name\":\"c\",\"metric_value\":1,"
        "\"data_stream_token\":\"secret-unlisted-5678\"}\n"
        "{\"timestamp\":1664604000,\"metric_name\":\"d\",\"metric_value\":1,"
        "\"data_stream_token\":\"short\"}\n"
        "{\"timestamp\":1664604001,\"metric_name\":\"e\",\"metric_value\":1,"
        "\"data_stream_token\":\"secret-unlisted-5678\"}\n";
    static const char csv[] =
        "timestamp,metric_name,metric_value,data_stream_token\n"
        "1664604000,a,1,\n"
        "1664604000,b,1,tok-listed-0001\n"
        "1664604000,c,1,secret-unlisted-5678\n"
        "1664604000,d,1,short\n"
        "1664604001,e,1,secret-unlisted-5678\n";
    static const char ct[] =
        "{\"data_stream_token\":\"secret-unlisted-5678\",\"data\":["
        "{\"timestamp\":1664604000,\"metric_name\":\"a\",\"metric_value\":1},"
        "{\"timestamp\":1664604001,\"metric_name\":\"b\",\"metric_value\":1},"
        "{\"timestamp\":1664604000,\"metric_name\":\"c\",\"metric_value\":1}"
        "]}"
        "{\"data\":[{\"timestamp\":1664604000,\"metric_name\":\"d\","
        "\"metric_value\":1}]}"
        "{\"data_stream_token\":\"tok-listed-0001\",\"data\":["
        "{\"timestamp\":1664604000,\"metric_name\":\"e\",\"metric_value\":1}"
        "]}";
    struct sp_defaults d = {.stream = "tok-default-0002", .agg = SP_AGG_SUM,
                            .streams = listed, .n_streams = 2};
    struct seen s;
    struct sp_err e;

    (void)state;
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_mem(nd, sizeof(nd) - 1, NULL, SP_FMT_NDJSON, &d,
                              &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 2);
    assert_string_equal(s.pts[0], "tok-default-0002|Sum|a|462390|1|");
    assert_string_equal(s.pts[1], "tok-listed-0001|Sum|b|462390|1|");
    assert_int_equal(s.n_errs, 3);
    assert_int_equal(s.err_index[0], 3);
    assert_string_equal(s.errs[0], UNLISTED_MSG("line 3", "****5678"));
    assert_int_equal(s.err_index[1], 4);
    assert_string_equal(s.errs[1], UNLISTED_MSG("line 4", "****"));
    /* Any other error of the point comes first. */
    assert_msg(s.errs[2], "line 5: timestamp: *");

    memset(&s, 0, sizeof(s));
    assert_int_equal(read_mem(csv, sizeof(csv) - 1, NULL, SP_FMT_CSV, &d, &s,
                              &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 2);
    assert_string_equal(s.pts[0], "tok-default-0002|Sum|a|462390|1|");
    assert_string_equal(s.pts[1], "tok-listed-0001|Sum|b|462390|1|");
    assert_int_equal(s.n_errs, 3);
    assert_int_equal(s.err_index[0], 4);
    assert_string_equal(s.errs[0], UNLISTED_MSG("line 4", "****5678"));
    assert_int_equal(s.err_index[1], 5);
    assert_string_equal(s.errs[1], UNLISTED_MSG("line 5", "****"));
    assert_msg(s.errs[2], "line 6: timestamp: *");

    /* A payload's token: each of its points is rejected. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_mem(ct, sizeof(ct) - 1, NULL, SP_FMT_CLOUDTHREAD,
                              &d, &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 2);
    assert_string_equal(s.pts[0], "tok-default-0002|Sum|d|462390|1|");
    assert_string_equal(s.pts[1], "tok-listed-0001|Sum|e|462390|1|");
    assert_int_equal(s.n_errs, 3);
    assert_int_equal(s.err_index[0], 0);
    assert_string_equal(s.errs[0],
                        UNLISTED_MSG("object 1, data[0]", "****5678"));
    assert_int_equal(s.err_index[1], 1);
    assert_msg(s.errs[1], "object 1, data[1]: timestamp: *");
    assert_int_equal(s.err_index[2], 2);
    assert_string_equal(s.errs[2],
                        UNLISTED_MSG("object 1, data[2]", "****5678"));
    for (size_t i = 0; i < s.n_errs; i++) {
        assert_null(strstr(s.errs[i], "secret-unlisted"));
    }
}

/* A default stream not in the list rejects the points that use it, in
 * every format (the default is checked once, the list every time). */
static void
test_streams_list_default(void **state)
{
    static const char nd[] =
        "{\"timestamp\":1664604000,\"metric_name\":\"a\",\"metric_value\":1}\n"
        "{\"timestamp\":1664604000,\"metric_name\":\"b\",\"metric_value\":1}\n"
        "{\"timestamp\":1664604000,\"metric_name\":\"c\",\"metric_value\":1,"
        "\"data_stream_token\":\"tok-listed-0001\"}\n";
    static const char csv[] = "timestamp,metric_name,metric_value\n"
                              "1664604000,a,1\n1664604000,b,1\n";
    static const char ct[] =
        "{\"data\":[{\"timestamp\":1664604000,\"metric_name\":\"a\","
        "\"metric_value\":1}]}";
    struct sp_defaults d = {.stream = "other-default-4321",
                            .agg = SP_AGG_SUM, .streams = listed,
                            .n_streams = 2};
    struct seen s;
    struct sp_err e;

    (void)state;
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_mem(nd, sizeof(nd) - 1, NULL, SP_FMT_NDJSON, &d,
                              &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 1);
    assert_int_equal(s.n_errs, 2);
    assert_string_equal(s.errs[0], UNLISTED_MSG("line 1", "****4321"));
    assert_string_equal(s.errs[1], UNLISTED_MSG("line 2", "****4321"));

    memset(&s, 0, sizeof(s));
    assert_int_equal(read_mem(csv, sizeof(csv) - 1, NULL, SP_FMT_CSV, &d, &s,
                              &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 0);
    assert_int_equal(s.n_errs, 2);
    assert_string_equal(s.errs[0], UNLISTED_MSG("line 2", "****4321"));
    assert_string_equal(s.errs[1], UNLISTED_MSG("line 3", "****4321"));

    memset(&s, 0, sizeof(s));
    assert_int_equal(read_mem(ct, sizeof(ct) - 1, NULL, SP_FMT_CLOUDTHREAD,
                              &d, &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 0);
    assert_int_equal(s.n_errs, 1);
    assert_string_equal(s.errs[0],
                        UNLISTED_MSG("object 1, data[0]", "****4321"));

    /* An empty list: any token. */
    d.n_streams = 0;
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_mem(nd, sizeof(nd) - 1, NULL, SP_FMT_NDJSON, &d,
                              &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 3);
    assert_int_equal(s.n_errs, 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_mem(csv, sizeof(csv) - 1, NULL, SP_FMT_CSV, &d, &s,
                              &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(read_mem(ct, sizeof(ct) - 1, NULL, SP_FMT_CLOUDTHREAD,
                              &d, &s, &e),
                     CTSPOOL_OK);
    assert_int_equal(s.n_pts, 1);
}

/* A callback's non-OK code stops the read at once, in every format. */
static void
test_callback_stops(void **state)
{
    static const char nd2[] =
        "{\"timestamp\":1664604000,\"metric_name\":\"a\",\"metric_value\":1}\n"
        "{\"timestamp\":1664604000,\"metric_name\":\"b\",\"metric_value\":1}\n";
    static const char csv2[] = "timestamp,metric_name,metric_value\n"
                               "1664604000,a,1\n1664604000,b,1\n";
    static const char ct2[] =
        "{\"data\":[{\"timestamp\":1664604000,\"metric_name\":\"a\","
        "\"metric_value\":1}]}"
        "{\"data\":[{\"timestamp\":1664604000,\"metric_name\":\"b\","
        "\"metric_value\":1}]}";
    struct seen s;
    struct sp_err e;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.point_rc = CTSPOOL_E_FULL;
    assert_int_equal(READ(nd2, NULL, SP_FMT_NDJSON, &s, &e), CTSPOOL_E_FULL);
    assert_int_equal(s.n_pts, 1);
    memset(&s, 0, sizeof(s));
    s.point_rc = CTSPOOL_E_FULL;
    assert_int_equal(READ(csv2, NULL, SP_FMT_CSV, &s, &e), CTSPOOL_E_FULL);
    assert_int_equal(s.n_pts, 1);
    memset(&s, 0, sizeof(s));
    s.point_rc = CTSPOOL_E_INVALID;
    assert_int_equal(READ(ct2, NULL, SP_FMT_CLOUDTHREAD, &s, &e),
                     CTSPOOL_E_INVALID);
    assert_int_equal(s.n_pts, 1);
    assert_int_equal(s.n_errs, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_ndjson),
        cmocka_unit_test(test_ndjson_no_defaults),
        cmocka_unit_test(test_ndjson_long_lines),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_csv_defaults_missing),
        cmocka_unit_test(test_csv_bad_header),
        cmocka_unit_test(test_cloudthread),
        cmocka_unit_test(test_cloudthread_broken),
        cmocka_unit_test(test_auto_by_extension),
        cmocka_unit_test(test_auto_by_content_pipe),
        cmocka_unit_test(test_auto_by_content_big),
        cmocka_unit_test(test_auto_by_content_blanks),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_streams_list),
        cmocka_unit_test(test_streams_list_default),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
