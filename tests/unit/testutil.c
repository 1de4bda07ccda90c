/*
 * testutil.c -- helpers shared by the cmocka unit tests.
 */
#include "testutil.h"
#include "sp_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

char *
tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *p;
    size_t n;

    if (!base || !*base)
        base = "/tmp";
    n = strlen(base) + 32;
    p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/ctspool-test-XXXXXX", base);
    if (!mkdtemp(p))
        abort();
    return p;
}

void
tu_rmtree(char *path)
{
    char cmd[4096];

    if (!path)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
    free(path);
}

char *
tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (!p)
        abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void
tu_write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        abort();
}

int
tu_msg_matches(const char *msg, const char *want)
{
    size_t n = strlen(want);

    if (n > 0 && want[n - 1] == '*') {
        return strncmp(msg, want, n - 1) == 0;
    }
    return strcmp(msg, want) == 0;
}

void
tu_render_point(const struct sp_point *p, char *buf, size_t cap)
{
    size_t o;

    o = (size_t)snprintf(buf, cap, "%.*s|%s|%.*s|%lld|%.17g|",
                         (int)p->stream_len, p->stream, sp_agg_name(p->agg),
                         (int)p->name_len, p->name, (long long)p->hour,
                         p->value);
    for (size_t i = 0; i < p->n_dims && o < cap; i++) {
        o += (size_t)snprintf(buf + o, cap - o, "%s%.*s=%.*s",
                              i ? "," : "", (int)p->dims[i].key_len,
                              p->dims[i].key, (int)p->dims[i].val_len,
                              p->dims[i].val);
    }
}

/* ---- the journal fixture -------------------------------------------- */

static void
die(const char *fmt, ...) SP_PRINTF(1, 2);

/* A fixture that cannot go on: says why and aborts (the test fails). */
static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void
tu_journal_open(struct tu_journal *t)
{
    struct sp_journal_opts o = {0};
    struct sp_err e;

    o.path = t->path;
    o.durability_full = 1;
    o.page_size = t->page_size;
    if (sp_journal_open(&o, &t->j, &e) != CTSPOOL_OK) {
        die("tu_journal_open %s: %s", t->path, e.msg);
    }
}

static int
journal_setup(void **state, unsigned page_size)
{
    struct tu_journal *t = calloc(1, sizeof(*t));

    if (!t) {
        abort();
    }
    t->dir = tu_tmpdir();
    t->path = tu_path(t->dir, "journal.db");
    t->page_size = page_size;
    tu_journal_open(t);
    *state = t;
    return 0;
}

int
tu_journal_setup(void **state)
{
    return journal_setup(state, 0);
}

int
tu_journal_setup_4k(void **state)
{
    return journal_setup(state, 4096);
}

int
tu_journal_teardown(void **state)
{
    struct tu_journal *t = *state;

    sp_journal_close(t->j);
    free(t->path);
    tu_rmtree(t->dir);
    free(t);
    return 0;
}

struct sp_point
tu_point(const char *stream, int agg, const char *name, int64_t hour,
         double v, const char *dim)
{
    struct sp_point p;
    struct sp_err e;

    memset(&p, 0, sizeof(p));
    p.stream = stream;
    p.stream_len = strlen(stream);
    p.agg = agg;
    p.name = name;
    p.name_len = strlen(name);
    p.hour = hour;
    p.value = v;
    if (dim) {
        const char *eq = strchr(dim, '=');

        if (!eq || sp_point_add_dim(&p, dim, (size_t)(eq - dim), eq + 1,
                                    strlen(eq + 1), &e) != CTSPOOL_OK) {
            die("tu_point: dimension \"%s\" refused", dim);
        }
    }
    if (sp_point_finish(&p, &e) != CTSPOOL_OK) {
        die("tu_point: %s", e.msg);
    }
    return p;
}

void
tu_fill(struct sp_journal *j, int n, int64_t hour0)
{
    enum sp_put_result res;

    if (sp_journal_begin(j) != CTSPOOL_OK) {
        die("tu_fill: %s", sp_journal_errmsg(j));
    }
    for (int k = 0; k < n; k++) {
        char name[32];
        struct sp_point p;

        snprintf(name, sizeof(name), "m%d", k % 100);
        p = tu_point(k % 2 ? "tok-a" : "tok-b", k % 4, name,
                     hour0 + k / 100, (double)k, "host=h1");
        if (sp_journal_put(j, &p, &res) != CTSPOOL_OK) {
            die("tu_fill: %s", sp_journal_errmsg(j));
        }
    }
    if (sp_journal_commit(j) != CTSPOOL_OK) {
        die("tu_fill: %s", sp_journal_errmsg(j));
    }
}

enum sp_put_result
tu_put1(struct sp_journal *j, struct sp_point p)
{
    enum sp_put_result r = SP_PUT_UNCHANGED;

    if (sp_journal_begin(j) != CTSPOOL_OK ||
        sp_journal_put(j, &p, &r) != CTSPOOL_OK ||
        sp_journal_commit(j) != CTSPOOL_OK) {
        die("tu_put1: %s", sp_journal_errmsg(j));
    }
    return r;
}

enum sp_put_result
tu_fold1(struct sp_journal *j, struct sp_point p)
{
    enum sp_put_result r = SP_PUT_UNCHANGED;

    if (sp_journal_begin(j) != CTSPOOL_OK ||
        sp_journal_fold(j, &p, &r) != CTSPOOL_OK ||
        sp_journal_commit(j) != CTSPOOL_OK) {
        die("tu_fold1: %s", sp_journal_errmsg(j));
    }
    return r;
}

void
tu_retire(struct sp_journal *j, const char *token, uint64_t points)
{
    uint64_t groups = 0, n = 0;

    if (sp_journal_retire(j, token, -1, 1700000000, &groups, &n) !=
        CTSPOOL_OK) {
        die("tu_retire: %s", sp_journal_errmsg(j));
    }
    if (n != points) {
        die("tu_retire: %llu points retired, not %llu",
            (unsigned long long)n, (unsigned long long)points);
    }
}

int64_t
tu_sql1(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;

    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        die("tu_sql1 %s: %s: %s", path, sql, sqlite3_errmsg(db));
    }
    if (sqlite3_step(s) == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

int tu_skipped;

int
tu_exit(int failed)
{
    if (failed)
        return 1;
    return tu_skipped ? 77 : 0;
}

static unsigned
be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* The entry is found through page 1's cell pointers. */
unsigned char *
tu_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n = -1;

    if (fp && fseek(fp, 0, SEEK_END) == 0) {
        n = ftell(fp);
    }
    if (n > 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
        fread(buf, 1, (size_t)n, fp) == (size_t)n) {
        fclose(fp);
        *len = (size_t)n;
        return buf;
    }
    die("tu_read_file %s: cannot read it whole", path);
    return NULL;
}

void
tu_damage_schema_entry(const char *path)
{
    static const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff, 0x7f};
    static const char want[] = "tablepointpoint";
    static unsigned char page[65536];
    unsigned ps, cells;
    long at = -1;
    FILE *fp = fopen(path, "r+b");

    if (!fp || fread(page, 1, 100, fp) != 100)
        die("tu_damage_schema_entry %s: cannot read its header", path);
    ps = be16(page + 16) == 1 ? 65536 : be16(page + 16);
    if (ps != 4096)
        die("tu_damage_schema_entry %s: pages of %u bytes, not 4096: "
            "SQLite would not answer \"out of memory\"", path, ps);
    if (fseek(fp, 0, SEEK_SET) != 0 || fread(page, 1, ps, fp) != ps)
        die("tu_damage_schema_entry %s: cannot read page 1", path);
    if (page[100] != 0x0d)
        die("tu_damage_schema_entry %s: the schema is not one leaf", path);
    cells = be16(page + 103);
    for (unsigned i = 0; i < cells && at < 0; i++) {
        unsigned off = be16(page + 108 + 2 * i);

        if (off + 32 > ps)
            die("tu_damage_schema_entry %s: cell %u out of page", path, i);
        for (unsigned k = 0; k < 16; k++) {
            if (memcmp(page + off + k, want, strlen(want)) == 0) {
                at = (long)off;
                break;
            }
        }
    }
    if (at <= 0 || fseek(fp, at, SEEK_SET) != 0 ||
        fwrite(huge, 1, sizeof(huge), fp) != sizeof(huge) || fclose(fp) != 0)
        die("tu_damage_schema_entry %s: no entry of table point", path);
}
