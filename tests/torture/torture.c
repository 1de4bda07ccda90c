/*
 * torture.c -- allocation-failure loop over the parsers and a whole
 * append (libcurl's torture idea).  Each scenario runs once to warm
 * global state (SQLite's initialisation) and to record its outcome, then
 * again with allocation 1 failing, then allocation 2, ... until a run
 * attempts fewer allocations than the one meant to fail.
 *
 * Every run must end without a crash, with nothing it allocated still
 * live, and with either CTSPOOL_E_NOMEM or exactly the outcome of the
 * warm run (a legitimate recovery: same code, same points, same
 * rejections).  After each append run the journal must open, pass
 * SQLite's integrity check and hold exactly the points of the calls that
 * returned OK.
 *
 *   torture [-v] [SCENARIO...]   default: all; -v shows each warm run's
 *                                outcome; exit 0, or 1 on a failure
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ctspool.h"
#include "failmalloc.h"
#include "journal_int.h"
#include "sp_int.h"
#include "testutil.h"

#define MAX_RUNS 100000 /* a loop that does not end is a failure */

/* ---- inputs: small, but each feature of its format once --------------- */

static const char payload_json[] =
    "{\"data_stream_token\": \"tok-abcdefgh\", \"metric_agg_func\": \"Sum\",\n"
    " \"data\": [\n"
    "  {\"metric_name\": \"requests\",\n"
    "   \"timestamp\": \"2022-10-01 05:00:00\", \"metric_value\": 12.5,\n"
    "   \"custom_dimensions\": {\"region\": \"eu-west-1\", \"az\": \"b\"}},\n"
    "  {\"metric_name\": \"requests\", \"timestamp\": 1664604000,\n"
    "   \"metric_value\": \"3\"},\n"
    "  {\"metric_name\": \"bad\", \"timestamp\": \"2022-10-01 05:30:00\",\n"
    "   \"metric_value\": 1}\n"
    " ]}\n"
    "{\"metric_agg_func\": \"Maximum\", \"data\": [\n"
    "  {\"metric_name\": \"latency\",\n"
    "   \"timestamp\": \"2022-10-01T07:00:00Z\", \"metric_value\": -0.25}]}\n";

static const char ndjson[] =
    "\xEF\xBB\xBF{\"timestamp\": \"2022-10-01 05:00:00\", \"metric_name\": "
    "\"requests\", \"metric_value\": 12.5, \"custom_dimensions\": "
    "{\"region\": \"eu-west-1\"}}\r\n"
    "\n"
    "{\"timestamp\": \"2022-10-01T06:00:00+00:00\", \"metric_name\": \"r\", "
    "\"metric_value\": \"-0\", \"metric_agg_func\": \"Minimum\", "
    "\"data_stream_token\": \"tok-other123\"}\n"
    "{\"timestamp\": \"2022-10-01 06:00:00\", \"metric_name\": \"\"}\n"
    "not json\n";

static const char csv[] =
    "timestamp,metric_name,metric_value,region,\"a,b\"\r\n"
    "2022-10-01 05:00:00,requests,12.5,eu-west-1,\"x\"\"y\"\r\n"
    "2022-10-01T06:00:00Z,requests,-0,,\r\n"
    "1664600400,\"multi\nline\",7,us,z\r\n"
    "2022-10-01 05:30:00,late,1,,\r\n";

/* ---- what a run produced ---------------------------------------------- */

struct outcome {
    ctspool_rc rc;
    char text[8192]; /* points and rejections, one per line */
    size_t len;
};

static void out_add(struct outcome *o, const char *fmt, ...) SP_PRINTF(2, 3);

static void
out_add(struct outcome *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->len >= sizeof(o->text) - 1) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(o->text + o->len, sizeof(o->text) - o->len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        o->len += (size_t)n;
        if (o->len > sizeof(o->text) - 1) {
            o->len = sizeof(o->text) - 1;
        }
    }
}

static ctspool_rc
on_point(void *ctx, const struct sp_point *p)
{
    char line[1024];

    tu_render_point(p, line, sizeof(line));
    out_add(ctx, "point %s\n", line);
    return CTSPOOL_OK;
}

static ctspool_rc
on_error(void *ctx, size_t index, const struct sp_err *e)
{
    out_add(ctx, "error %zu %s\n", index, e->msg);
    return CTSPOOL_OK;
}

/* ---- scenarios: the parsers ------------------------------------------- */

static const struct sp_defaults defaults = {.stream = "tok-default1",
                                            .agg = SP_AGG_AVERAGE};
static FILE *input; /* opened before a run, closed after */

static FILE *
open_input(const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");

    if (!f) {
        perror("fmemopen");
        exit(1);
    }
    return f;
}

static void
close_input(void)
{
    fclose(input);
    input = NULL;
}

/* sp_payload_parse_next, object after object, as input.c calls it. */
static ctspool_rc
run_payload(struct outcome *o)
{
    size_t pos = 0, len = strlen(payload_json), used;
    struct sp_err e;
    ctspool_rc rc;

    while (pos < len) {
        used = 0;
        rc = sp_payload_parse_next(payload_json + pos, len - pos, &defaults,
                                   on_point, on_error, o, NULL, &used, &e);
        if (rc != CTSPOOL_OK) {
            out_add(o, "failed %s\n", e.msg);
            return rc;
        }
        pos += used;
        while (pos < len && payload_json[pos] == '\n') {
            pos++;
        }
    }
    return CTSPOOL_OK;
}

/* sp_payload_parse_line on each line, one scratch for all. */
static ctspool_rc
run_ndjson_lines(struct outcome *o)
{
    struct sp_payload_scratch *scratch = NULL;
    const char *s = ndjson + 3; /* after the BOM */
    ctspool_rc rc = CTSPOOL_OK;

    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = (size_t)(nl - s);
        struct sp_point p;
        struct sp_err e;

        if (len > 0 && s[len - 1] == '\r') {
            len--;
        }
        if (len > 0) {
            rc = sp_payload_parse_line(s, len, &defaults, &scratch, &p, &e);
            if (rc == CTSPOOL_OK) {
                on_point(o, &p);
            } else if (rc == CTSPOOL_E_INVALID) {
                on_error(o, 0, &e);
                rc = CTSPOOL_OK;
            } else {
                break;
            }
        }
        s = nl + 1;
    }
    sp_payload_scratch_free(scratch);
    return rc;
}

static ctspool_rc
read_input(struct outcome *o, const char *name, enum sp_format fmt)
{
    struct sp_err e;
    ctspool_rc rc;

    rc = sp_input_read(input, name, fmt, &defaults, on_point, on_error, o,
                       &e);
    if (rc != CTSPOOL_OK) {
        out_add(o, "failed %s\n", e.msg);
    }
    return rc;
}

static void
prepare_cloudthread(void)
{
    input = open_input(payload_json);
}

static ctspool_rc
run_cloudthread(struct outcome *o)
{
    return read_input(o, "in.json", SP_FMT_CLOUDTHREAD);
}

static void
prepare_ndjson(void)
{
    input = open_input(ndjson);
}

static ctspool_rc
run_ndjson(struct outcome *o)
{
    return read_input(o, "in.ndjson", SP_FMT_NDJSON);
}

static void
prepare_csv(void)
{
    input = open_input(csv);
}

static ctspool_rc
run_csv(struct outcome *o)
{
    return read_input(o, "in.csv", SP_FMT_CSV);
}

/* ---- scenarios: a whole append, into a fresh or an existing journal -- */

static char *dir, *journal;

static const ctspool_dim dims[] = {{"region", "eu-west-1"}, {"az", "b"}};
static const ctspool_point pts[3] = {
    {NULL, "Sum", "requests", 1664600400, 12.5, dims, 2},
    {"tok-other123", "Average", "latency", 1664604000, 0.25, NULL, 0},
    {NULL, "Sum", "requests", 1664604000, 3, dims, 1},
};
/* An existing journal holds pts[0] with another value, and pts[1]: the
 * append then updates one point, leaves one alone and adds one. */
static const ctspool_point preload[2] = {
    {"tok-default1", "Sum", "requests", 1664600400, 11.5, dims, 2},
    {"tok-other123", "Average", "latency", 1664604000, 0.25, NULL, 0},
};
static const char json[] =
    "{\"metric_agg_func\": \"Maximum\", \"data\": ["
    "{\"metric_name\": \"queue\", \"timestamp\": 1664600400, "
    "\"metric_value\": 4},"
    "{\"metric_name\": \"queue\", \"timestamp\": 1664604000, "
    "\"metric_value\": 5, \"custom_dimensions\": {\"q\": \"in\"}}]}";

/* The calls of a run, and the points each adds when it is OK. */
enum { STEP_APPEND, STEP_JSON, STEP_STATS, N_STEPS };
static const char *const step_name[N_STEPS] = {"append", "append_json",
                                               "stats"};
static const uint64_t step_new[2][N_STEPS] = {{3, 2, 0}, {1, 2, 0}};
static ctspool_rc step_rc[N_STEPS];
static int is_preloaded;

static void
remove_journal(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char path[4096];

    for (size_t i = 0; i < SP_ARRAY_LEN(suffix); i++) {
        snprintf(path, sizeof(path), "%s%s", journal, suffix[i]);
        unlink(path);
    }
}

static void
prepare_fresh(void)
{
    remove_journal();
    is_preloaded = 0;
    for (int i = 0; i < N_STEPS; i++) {
        step_rc[i] = CTSPOOL_E_USAGE; /* not run */
    }
}

/* Copies file from to file to; 0 on success. */
static int
copy_file(const char *from, const char *to)
{
    char buf[65536];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    size_t n;
    int bad = !in || !out;

    while (!bad && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
        bad = fwrite(buf, 1, n, out) != n;
    }
    bad |= !in || ferror(in);
    if (in) {
        fclose(in);
    }
    if (out && fclose(out) != 0) {
        bad = 1;
    }
    return bad ? -1 : 0;
}

/* A copy of a journal made once (closed, so without a WAL file). */
static void
prepare_existing(void)
{
    static char *made;
    ctspool_rc rc = CTSPOOL_OK;
    ctspool *h;

    prepare_fresh();
    is_preloaded = 1;
    if (!made) {
        rc = ctspool_open(journal, CTSPOOL_DURABILITY_NORMAL, &h);
        if (rc == CTSPOOL_OK) {
            rc = ctspool_append(h, preload, 2, NULL);
            ctspool_close(h);
        }
        made = tu_path(dir, "preloaded.db");
        if (rc == CTSPOOL_OK && rename(journal, made) != 0) {
            rc = CTSPOOL_E_IO;
        }
    }
    if (rc != CTSPOOL_OK || copy_file(made, journal) != 0) {
        fprintf(stderr, "cannot prepare the journal: %s\n",
                ctspool_errname(rc));
        exit(1);
    }
}

static ctspool_rc
run_append(struct outcome *o)
{
    ctspool_append_result res;
    ctspool_stats st;
    ctspool_rc rc;
    ctspool *h;

    rc = ctspool_open(journal, CTSPOOL_DURABILITY_NORMAL, &h);
    out_add(o, "open %s\n", ctspool_errname(rc));
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    rc = ctspool_set_default_stream(h, "tok-default1");
    if (rc != CTSPOOL_OK) {
        out_add(o, "set_default_stream %s\n", ctspool_errname(rc));
        ctspool_close(h);
        return rc;
    }
    /* After a failed call the handle must still work: go on.  A call
     * that fails although the failure happened in an earlier one means
     * the handle kept a broken state. */
    for (int i = 0; i < N_STEPS; i++) {
        int had_fired = fm_has_fired();

        memset(&res, 0, sizeof(res));
        memset(&st, 0, sizeof(st));
        switch (i) {
        case STEP_APPEND:
            step_rc[i] = ctspool_append(h, pts, 3, &res);
            break;
        case STEP_JSON:
            step_rc[i] = ctspool_append_json(h, json, strlen(json), &res);
            break;
        default:
            step_rc[i] = ctspool_get_stats(h, &st);
            break;
        }
        if (i == STEP_STATS) {
            out_add(o, "stats %s pending %llu\n",
                    ctspool_errname(step_rc[i]),
                    (unsigned long long)st.pending_points);
        } else {
            out_add(o, "%s %s new %llu updated %llu unchanged %llu\n",
                    step_name[i], ctspool_errname(step_rc[i]),
                    (unsigned long long)res.n_new,
                    (unsigned long long)res.n_updated,
                    (unsigned long long)res.n_unchanged);
        }
        if (step_rc[i] != CTSPOOL_OK && had_fired) {
            out_add(o, "%s failed after an earlier call's failure\n",
                    step_name[i]);
            rc = CTSPOOL_E_IO; /* not a legitimate outcome */
        }
    }
    ctspool_close(h);
    /* The first failure that is not E_NOMEM decides. */
    for (int i = 0; i < N_STEPS; i++) {
        if (step_rc[i] != CTSPOOL_OK &&
            (rc == CTSPOOL_OK || rc == CTSPOOL_E_NOMEM)) {
            rc = step_rc[i];
        }
    }
    return rc;
}

/* Single-value query through SQLite itself; NULL on failure. */
static char *
query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    char *v = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        v = strdup((const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return v;
}

/* The journal after a run: 0 when it is sound. */
static int
check_append(void)
{
    uint64_t want = is_preloaded ? 2 : 0;
    ctspool_stats st;
    ctspool_rc rc;
    sqlite3 *db = NULL;
    char *v;
    ctspool *h;
    int bad = 0;

    for (int i = 0; i < N_STEPS; i++) {
        if (step_rc[i] == CTSPOOL_OK) {
            want += step_new[is_preloaded][i];
        }
    }
    rc = ctspool_open(journal, CTSPOOL_DURABILITY_NORMAL, &h);
    if (rc != CTSPOOL_OK) {
        fprintf(stderr, "  journal does not open: %s: %s\n",
                ctspool_errname(rc), ctspool_errmsg(NULL));
        return 1;
    }
    rc = ctspool_get_stats(h, &st);
    if (rc != CTSPOOL_OK || st.pending_points != want) {
        fprintf(stderr, "  %s, %llu points pending, %llu expected\n",
                ctspool_errname(rc), (unsigned long long)st.pending_points,
                (unsigned long long)want);
        bad = 1;
    }
    ctspool_close(h);

    if (sqlite3_open_v2(journal, &db, SQLITE_OPEN_READONLY, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "  sqlite3 cannot open the journal\n");
        sqlite3_close(db);
        return 1;
    }
    v = query(db, "PRAGMA integrity_check");
    if (!v || strcmp(v, "ok") != 0) {
        fprintf(stderr, "  integrity_check: %s\n", v ? v : "(failed)");
        bad = 1;
    }
    free(v);
    /* 2: incremental, which compact relies on; set only at creation. */
    v = query(db, "PRAGMA auto_vacuum");
    if (!v || strcmp(v, "2") != 0) {
        fprintf(stderr, "  auto_vacuum is %s, not incremental (2)\n",
                v ? v : "(failed)");
        bad = 1;
    }
    free(v);
    sqlite3_close(db);
    return bad;
}

/* ---- the loop ----------------------------------------------------------- */

struct scenario {
    const char *name;
    void (*prepare)(void);          /* outside the region; may be NULL */
    ctspool_rc (*run)(struct outcome *o);
    void (*finish)(void);           /* outside the region; may be NULL */
    int (*check)(void);             /* after finish; may be NULL */
};

static const struct scenario scenarios[] = {
    {"payload", NULL, run_payload, NULL, NULL},
    {"cloudthread", prepare_cloudthread, run_cloudthread, close_input, NULL},
    {"ndjson-lines", NULL, run_ndjson_lines, NULL, NULL},
    {"ndjson", prepare_ndjson, run_ndjson, close_input, NULL},
    {"csv", prepare_csv, run_csv, close_input, NULL},
    {"append", prepare_fresh, run_append, NULL, check_append},
    {"append-again", prepare_existing, run_append, NULL, check_append},
};

static struct outcome warm, got;
static int is_verbose;

/* One run with allocation fail_at failing (0: none). */
static void
run_once(const struct scenario *s, long fail_at, struct outcome *o,
         struct fm_result *r)
{
    if (s->prepare) {
        s->prepare();
    }
    memset(o, 0, sizeof(*o));
    fm_begin(fail_at);
    o->rc = s->run(o);
    fm_end(r);
    if (s->finish) {
        s->finish();
    }
}

static int
same(const struct outcome *a, const struct outcome *b)
{
    return a->rc == b->rc && a->len == b->len &&
           memcmp(a->text, b->text, a->len) == 0;
}

/* Returns 0 when every run of the scenario passed. */
static int
torture(const struct scenario *s)
{
    struct fm_result r;
    long n;
    int n_bad = 0;

    run_once(s, 0, &warm, &r);
    if (warm.rc != CTSPOOL_OK || (s->check && s->check() != 0)) {
        fprintf(stderr, "%s: fails without any allocation failure: %s\n%s",
                s->name, ctspool_errname(warm.rc), warm.text);
        return 1;
    }
    if (is_verbose) {
        printf("%s, warm run:\n%s", s->name, warm.text);
    }
    for (n = 1; n <= MAX_RUNS; n++) {
        int bad = 0;

        run_once(s, n, &got, &r);
        if (r.n_live) {
            fprintf(stderr, "%s, allocation %ld failing: %zu leaked\n",
                    s->name, n, r.n_live);
            fm_print_live("  ");
            bad = 1;
        }
        if (r.has_fired ? got.rc != CTSPOOL_E_NOMEM && !same(&got, &warm)
                        : !same(&got, &warm)) {
            fprintf(stderr,
                    "%s, allocation %ld failing: %s, expected %s or "
                    "E_NOMEM\n  got:\n%s  warm run:\n%s",
                    s->name, n, ctspool_errname(got.rc),
                    ctspool_errname(warm.rc), got.text, warm.text);
            bad = 1;
        }
        if (s->check && s->check() != 0) {
            fprintf(stderr, "%s, allocation %ld failing: journal unsound\n",
                    s->name, n);
            bad = 1;
        }
        n_bad += bad;
        if (n_bad >= 10) {
            fprintf(stderr, "%s: giving up after 10 failures\n", s->name);
            return 1;
        }
        if (!r.has_fired) {
            break;
        }
    }
    if (n > MAX_RUNS) {
        fprintf(stderr, "%s: still failing allocations after %d runs\n",
                s->name, MAX_RUNS);
        return 1;
    }
    printf("%-12s %5ld allocations, each failed once: %s\n", s->name,
           r.n_allocs, n_bad ? "FAILED" : "ok");
    return n_bad != 0;
}

int
main(int argc, char **argv)
{
    int status = 0, first = 1;
    /* Debug builds check the journal's invariants in every commit; the
     * checker's own queries are not what this loop tests. */
    sp_jn_ok_enabled = 0;

    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        is_verbose = 1;
        first = 2;
    }
    if (fm_install_sqlite() != 0) {
        fprintf(stderr, "torture: SQLite refused SQLITE_CONFIG_MALLOC\n");
        return 1;
    }
    /* On a disk the journal's fsyncs would take most of the time, and
     * durability is not what this test is about: a tmpfs if there is
     * one. */
    if (access("/dev/shm", W_OK | X_OK) == 0) {
        setenv("TMPDIR", "/dev/shm", 1);
    }
    dir = tu_tmpdir();
    journal = tu_path(dir, "journal.db");
    for (size_t i = 0; i < SP_ARRAY_LEN(scenarios); i++) {
        int wanted = argc <= first;

        for (int a = first; a < argc; a++) {
            wanted |= strcmp(argv[a], scenarios[i].name) == 0;
        }
        if (wanted && torture(&scenarios[i]) != 0) {
            status = 1;
        }
    }
    free(journal);
    tu_rmtree(dir);
    return status;
}
