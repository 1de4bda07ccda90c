/*
 * fuzz_salvage.c -- libFuzzer harness for damaged journals: salvage.c's
 * scan of a damaged file (sp_salvage) and journal_heal.c (a damaged file
 * opened as the journal).  DESIGN.md section 11: no damaged file may
 * wedge the host.
 *
 * The input is a damage, not a file: patches applied to a small journal
 * built once (points of two streams and four aggregation functions,
 * dead letters, acknowledged points noted to send again):
 *
 *   byte 0          flags: bit 0 cuts the file short after the patches
 *   bytes 1-2       (bit 0) the pages kept, big-endian, modulo the file
 *   then, repeated  3-byte big-endian offset (modulo the file's size),
 *                   1-byte length - 1, that many bytes written there
 *
 * Contracts beyond "no crash, no leak, no UB":
 * - salvage ends (libFuzzer's -timeout catches a scan going round) with
 *   OK, its counts within what the file held;
 * - the live journal's invariants (journal_check.c) hold afterwards, and
 *   a second salvage adds nothing;
 * - the damaged file opened as a journal either works or heals to a
 *   fresh journal, and either way takes a new point (unless the damage
 *   is one SQLite cannot see: sound pages, broken invariants; memory
 *   really running out; or a schema version a newer ctspool could have
 *   written: see open_damaged()).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "journal.h"
#include "memwatch.h"
#include "salvage.h"

#define HOUR0 470000
#define N_POINTS 400
#define N_DEAD 3
#define N_TAKEN 40

static char dir[] = "/tmp/fuzz-salvage-XXXXXX";
static char tpl[64], dmg[64], live[64];
static unsigned char *img;
static size_t img_len;

static struct sp_point
point(int k)
{
    static char names[N_POINTS][16];
    struct sp_point p;
    struct sp_err e;

    snprintf(names[k], sizeof(names[k]), "m%d", k % 50);
    memset(&p, 0, sizeof(p));
    p.stream = k % 2 ? "tok-a" : "tok-b";
    p.stream_len = 5;
    p.agg = k % 4;
    p.name = names[k];
    p.name_len = strlen(names[k]);
    p.hour = HOUR0 + k / 50;
    p.value = (double)k;
    if (sp_point_add_dim(&p, "host", 4, "h1", 2, &e) != CTSPOOL_OK ||
        sp_point_finish(&p, &e) != CTSPOOL_OK) {
        fz_fail("point %d: %s", k, e.msg);
    }
    return p;
}

static struct sp_journal *
open_at(const char *path)
{
    struct sp_journal_opts o;
    struct sp_journal *j = NULL;
    struct sp_err e;

    memset(&o, 0, sizeof(o));
    o.path = path;
    if (sp_journal_open(&o, &j, &e) != CTSPOOL_OK) {
        fz_fail("open %s: %s", path, e.msg);
    }
    return j;
}

/* Every file of dir whose name starts with prefix, removed. */
static void
remove_files(const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[512];

    if (!d) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

static void
cleanup(void)
{
    remove_files("");
    rmdir(dir);
}

/* The journal every input damages, built once, read into img. */
static void
init(void)
{
    struct sp_journal *j;
    struct sp_batch b;
    enum sp_put_result res;
    size_t dead_idx[N_DEAD] = {0, 1, 2}, n_acked = 0;
    int64_t notes[2][2];
    FILE *f;
    long n;

    /* As the programs do (main.c): SQLite's "out of memory" with no
     * allocation failing is damage. */
    if (sp_memwatch_install(NULL) != 0) {
        fz_fail("cannot install the allocation counter");
    }
    if (!mkdtemp(dir)) {
        fz_fail("mkdtemp: %s", strerror(errno));
    }
    atexit(cleanup);
    snprintf(tpl, sizeof(tpl), "%s/template.db", dir);
    snprintf(dmg, sizeof(dmg), "%s/damaged.db", dir);
    snprintf(live, sizeof(live), "%s/live.db", dir);
    j = open_at(tpl);
    if (sp_journal_begin(j) != CTSPOOL_OK) {
        fz_fail("begin: %s", sp_journal_errmsg(j));
    }
    for (int k = 0; k < N_POINTS; k++) {
        struct sp_point p = point(k);

        if (sp_journal_put(j, &p, &res) != CTSPOOL_OK) {
            fz_fail("put: %s", sp_journal_errmsg(j));
        }
    }
    if (sp_journal_commit(j) != CTSPOOL_OK) {
        fz_fail("commit: %s", sp_journal_errmsg(j));
    }
    sp_batch_init(&b);
    if (sp_journal_take(j, N_TAKEN, &b) != CTSPOOL_OK || b.n != N_TAKEN) {
        fz_fail("take: %s", sp_journal_errmsg(j));
    }
    for (int i = 0; i < 2; i++) {
        notes[i][0] = b.pts[10 + i].hour;
        notes[i][1] = b.pts[10 + i].series;
    }
    if (sp_journal_dead(j, &b, dead_idx, N_DEAD, 400, "{}", 1700000000) !=
            CTSPOOL_OK ||
        sp_journal_ack_resend(j, &b, N_DEAD, N_TAKEN - N_DEAD, 1700000000,
                              (const int64_t(*)[2])notes, 2,
                              &n_acked) != CTSPOOL_OK) {
        fz_fail("dead/ack: %s", sp_journal_errmsg(j));
    }
    sp_batch_cleanup(&b);
    sp_journal_close(j); /* checkpointed into the file */

    f = fopen(tpl, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0) {
        fz_fail("reading %s", tpl);
    }
    rewind(f);
    img_len = (size_t)n;
    img = malloc(img_len);
    if (!img || fread(img, 1, img_len, f) != img_len) {
        fz_fail("reading %s", tpl);
    }
    fclose(f);
}

/* The damage of data applied to a copy of img, written to dmg. */
static void
write_damaged(const uint8_t *data, size_t size)
{
    unsigned char *buf = malloc(img_len);
    size_t len = img_len, pos = 1;
    FILE *f;

    if (!buf) {
        fz_fail("out of memory");
    }
    memcpy(buf, img, img_len);
    if (size >= 3 && (data[0] & 1)) {
        size_t pages = img_len / 4096;

        len = 4096 * (((size_t)data[1] << 8 | data[2]) % pages + 1);
        pos = 3;
    }
    while (pos + 4 <= size) {
        size_t off = ((size_t)data[pos] << 16 | (size_t)data[pos + 1] << 8 |
                      data[pos + 2]) %
                     img_len;
        size_t n = (size_t)data[pos + 3] + 1;

        pos += 4;
        if (n > size - pos) {
            n = size - pos;
        }
        if (n > img_len - off) {
            n = img_len - off;
        }
        memcpy(buf + off, data + pos, n);
        pos += n;
    }
    f = fopen(dmg, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fz_fail("writing %s", dmg);
    }
    free(buf);
}

/* One new point into the journal at dmg through the C library, as an
 * embedding producer stores it: an append that meets damage moves the
 * journal aside and is stored in the fresh one (api.c). */
static void
append_after(void)
{
    char json[256];
    ctspool *h = NULL;
    ctspool_rc rc = ctspool_open(dmg, CTSPOOL_DURABILITY_NORMAL, &h);

    snprintf(json, sizeof(json),
             "{\"data_stream_token\": \"tok-b\", \"metric_agg_func\": "
             "\"Sum\", \"data\": [{\"timestamp\": %lld, \"metric_name\": "
             "\"m0\", \"metric_value\": 0, \"custom_dimensions\": "
             "{\"host\": \"h1\"}}]}",
             (long long)(HOUR0 + 1000) * 3600);
    if (rc == CTSPOOL_OK) {
        rc = ctspool_append_json(h, json, strlen(json), NULL);
    }
    if (rc != CTSPOOL_OK) {
        fz_fail("a point after the damage: %s: %s", ctspool_strerror(rc),
                ctspool_errmsg(h));
    }
    ctspool_close(h);
}

static void
salvage_checked(struct sp_journal *lj)
{
    struct sp_salvage_report rep, again;
    struct sp_err e;
    char why[128] = "";
    ctspool_rc rc = sp_salvage(lj, dmg, 50, &rep, &e);

    if (rc != CTSPOOL_OK) {
        fz_fail("salvage: %s: %s", ctspool_strerror(rc), e.msg);
    }
    if (rep.pending > N_POINTS || rep.dead > N_DEAD) {
        fz_fail("salvage recovered %llu pending, %llu dead of %d, %d",
                (unsigned long long)rep.pending,
                (unsigned long long)rep.dead, N_POINTS, N_DEAD);
    }
    if (sp_journal_check(lj, why, sizeof(why)) != 0) {
        fz_fail("live journal after salvage: invariant %s", why);
    }
    rc = sp_salvage(lj, dmg, 50, &again, &e);
    if (rc != CTSPOOL_OK || again.pending || again.dead) {
        fz_fail("a second salvage: %s, %llu pending, %llu dead added",
                ctspool_strerror(rc), (unsigned long long)again.pending,
                (unsigned long long)again.dead);
    }
}

static void
open_damaged(void)
{
    struct sp_journal_opts o;
    struct sp_journal *j = NULL;
    struct sp_err e;
    char why[128];
    uint64_t mem0;
    ctspool_rc rc;

    memset(&o, 0, sizeof(o));
    o.path = dmg;
    mem0 = sp_memwatch_failures();
    rc = sp_journal_open(&o, &j, &e);
    if (rc == CTSPOOL_E_CORRUPT) {
        return; /* refused at open: the programs quarantine it there */
    }
    /* Memory really ran out (a size the sanitizer's allocator refused):
     * the open fails and leaves the journal in place, by design. */
    if (rc == CTSPOOL_E_NOMEM && sp_memwatch_failures() != mem0) {
        return;
    }
    /* A schema version a little ahead of this binary's: what a newer
     * ctspool writes, refused by design (migrate.c; README, Upgrades),
     * damaged or not. */
    if (rc == CTSPOOL_E_SCHEMA) {
        return;
    }
    /* Neither SQLite's header nor a table page after it, and no -wal or
     * -shm beside it (this harness writes the main file only): taken for
     * a file that never was a journal, and left as it is (journal_heal.c,
     * can_be_journal), by design. */
    if (rc == CTSPOOL_E_CANTCREATE && strstr(e.msg, "is left as it is")) {
        return;
    }
    if (rc != CTSPOOL_OK) {
        fz_fail("open: %s: %s", ctspool_strerror(rc), e.msg);
    }
    rc = sp_journal_check_pages(j);
    if (rc == CTSPOOL_OK && sp_journal_check(j, why, sizeof(why)) != 0) {
        sp_journal_close(j); /* damage SQLite cannot see */
        return;
    }
    if (rc == CTSPOOL_E_CORRUPT && sp_journal_heal(j) != CTSPOOL_OK) {
        fz_fail("heal: %s", sp_journal_errmsg(j));
    }
    sp_journal_close(j);
    append_after();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sp_journal *lj;

    if (!img) {
        init();
    }
    write_damaged(data, size);
    lj = open_at(live);
    salvage_checked(lj);
    sp_journal_close(lj);
    open_damaged();
    remove_files("damaged.db");
    remove_files("live.db");
    return 0;
}
