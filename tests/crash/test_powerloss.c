/*
 * test_powerloss.c -- power-loss simulation for the journal.
 *
 * A test SQLite VFS ("powerloss") wraps the default unix VFS and keeps,
 * for every file, the image it had at its last fsync (the "durable"
 * image) and the writes made since.  A simulated power cut makes every
 * later write and sync fail, then puts the durable images back (mode
 * "drop": unsynced writes vanish; mode "torn": a random prefix of the
 * unsynced writes survives, the last one cut at a random 512-byte sector,
 * as a disk that reorders nothing but loses the tail would).  The -shm
 * file is discarded (it lives in memory on a real power cut).
 *
 * Each round appends many small transactions, cuts the power at a random
 * VFS operation, reopens with the normal VFS and checks:
 *  - durability "full": every transaction whose commit returned OK is
 *    there with its values; the transaction in flight is there entirely
 *    or not at all;
 *  - "normal": a suffix of acknowledged transactions may be lost (counted
 *    and printed), never a partial one;
 *  - PRAGMA integrity_check is "ok" and meta.pending matches the rows.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "journal.h"
#include "testutil.h"

#define MAX_FILES 16
#define SECTOR 512

struct pending_write {
    sqlite3_int64 off;
    int len; /* -1: a truncate to off */
    unsigned char *data;
};

struct tracked {
    char *path;
    unsigned char *durable;
    size_t durable_len;
    int exists_durable;
    struct pending_write *w;
    size_t n_w, cap_w;
};

static struct tracked files[MAX_FILES];
static int crashed;
static long ops_left = -1; /* writes+syncs until the power cut; -1 never */
static sqlite3_vfs *base_vfs;
static sqlite3_vfs pl_vfs;

struct pl_file {
    sqlite3_file base;
    struct tracked *t;
    sqlite3_file *real; /* allocated after this struct */
};

static struct tracked *
track(const char *path)
{
    for (int i = 0; i < MAX_FILES; i++) {
        if (files[i].path && strcmp(files[i].path, path) == 0) {
            return &files[i];
        }
    }
    for (int i = 0; i < MAX_FILES; i++) {
        if (!files[i].path) {
            files[i].path = strdup(path);
            return &files[i];
        }
    }
    abort();
}

static void
clear_pending(struct tracked *t)
{
    for (size_t i = 0; i < t->n_w; i++) {
        free(t->w[i].data);
    }
    t->n_w = 0;
}

static void
forget_all(void)
{
    for (int i = 0; i < MAX_FILES; i++) {
        clear_pending(&files[i]);
        free(files[i].w);
        free(files[i].durable);
        free(files[i].path);
        memset(&files[i], 0, sizeof(files[i]));
    }
}

/* Reads the whole real file into t's durable image. */
static int
snapshot(struct tracked *t)
{
    FILE *f = fopen(t->path, "rb");
    long n;

    free(t->durable);
    t->durable = NULL;
    t->durable_len = 0;
    t->exists_durable = 0;
    if (!f) {
        return errno == ENOENT ? SQLITE_OK : SQLITE_IOERR;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    t->durable = malloc((size_t)n + 1);
    if (n && fread(t->durable, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        return SQLITE_IOERR;
    }
    fclose(f);
    t->durable_len = (size_t)n;
    t->exists_durable = 1;
    return SQLITE_OK;
}

/* Counts an operation; returns nonzero once the power is cut. */
static int
tick(void)
{
    if (crashed) {
        return 1;
    }
    if (ops_left == 0) {
        crashed = 1;
        return 1;
    }
    if (ops_left > 0) {
        ops_left--;
    }
    return 0;
}

static int
pl_close(sqlite3_file *f)
{
    struct pl_file *p = (struct pl_file *)f;
    int rc = p->real->pMethods->xClose(p->real);

    return rc;
}

static int
pl_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xRead(p->real, buf, amt, off);
}

static void
add_pending(struct tracked *t, sqlite3_int64 off, int len, const void *buf)
{
    struct pending_write *w;

    if (t->n_w == t->cap_w) {
        t->cap_w = t->cap_w ? 2 * t->cap_w : 64;
        t->w = realloc(t->w, t->cap_w * sizeof(*t->w));
    }
    w = &t->w[t->n_w++];
    w->off = off;
    w->len = len;
    w->data = NULL;
    if (len > 0) {
        w->data = malloc((size_t)len);
        memcpy(w->data, buf, (size_t)len);
    }
}

static int
pl_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    struct pl_file *p = (struct pl_file *)f;

    if (tick()) {
        return SQLITE_IOERR_WRITE;
    }
    add_pending(p->t, off, amt, buf);
    return p->real->pMethods->xWrite(p->real, buf, amt, off);
}

static int
pl_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct pl_file *p = (struct pl_file *)f;

    if (tick()) {
        return SQLITE_IOERR_TRUNCATE;
    }
    add_pending(p->t, size, -1, NULL);
    return p->real->pMethods->xTruncate(p->real, size);
}

static int
pl_sync(sqlite3_file *f, int flags)
{
    struct pl_file *p = (struct pl_file *)f;
    int rc;

    if (tick()) {
        return SQLITE_IOERR_FSYNC;
    }
    rc = p->real->pMethods->xSync(p->real, flags);
    if (rc == SQLITE_OK) {
        clear_pending(p->t);
        rc = snapshot(p->t);
    }
    return rc;
}

static int
pl_size(sqlite3_file *f, sqlite3_int64 *out)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xFileSize(p->real, out);
}

static int
pl_lock(sqlite3_file *f, int l)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xLock(p->real, l);
}

static int
pl_unlock(sqlite3_file *f, int l)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xUnlock(p->real, l);
}

static int
pl_check(sqlite3_file *f, int *out)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xCheckReservedLock(p->real, out);
}

static int
pl_fcntl(sqlite3_file *f, int op, void *arg)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xFileControl(p->real, op, arg);
}

static int
pl_sector(sqlite3_file *f)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xSectorSize(p->real);
}

static int
pl_devchar(sqlite3_file *f)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xDeviceCharacteristics(p->real);
}

static int
pl_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xShmMap(p->real, pg, sz, extend, pp);
}

static int
pl_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xShmLock(p->real, off, n, flags);
}

static void
pl_shm_barrier(sqlite3_file *f)
{
    struct pl_file *p = (struct pl_file *)f;

    p->real->pMethods->xShmBarrier(p->real);
}

static int
pl_shm_unmap(sqlite3_file *f, int del)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xShmUnmap(p->real, del);
}

static const sqlite3_io_methods pl_methods = {
    2, /* shm, no mmap fetch: every page goes through xRead/xWrite */
    pl_close, pl_read, pl_write, pl_truncate, pl_sync, pl_size, pl_lock,
    pl_unlock, pl_check, pl_fcntl, pl_sector, pl_devchar, pl_shm_map,
    pl_shm_lock, pl_shm_barrier, pl_shm_unmap, NULL, NULL,
};

static int
pl_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
        int *out_flags)
{
    struct pl_file *p = (struct pl_file *)f;
    struct tracked *t;
    int rc;

    (void)vfs;
    p->real = (sqlite3_file *)(p + 1);
    memset(p->real, 0, (size_t)base_vfs->szOsFile);
    rc = base_vfs->xOpen(base_vfs, name, p->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        p->base.pMethods = NULL;
        return rc;
    }
    p->base.pMethods = &pl_methods;
    t = name ? track(name) : NULL;
    if (t && !t->exists_durable && t->n_w == 0) {
        snapshot(t); /* what existed before we looked is durable */
    }
    if (!t) {
        static struct tracked anon;

        t = &anon; /* temp files: not checked */
    }
    p->t = t;
    return SQLITE_OK;
}

static int
pl_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    struct tracked *t;

    (void)vfs;
    if (tick()) {
        return SQLITE_IOERR_DELETE;
    }
    t = track(name);
    clear_pending(t);
    free(t->durable);
    t->durable = NULL;
    t->durable_len = 0;
    t->exists_durable = 0; /* XXX: as if the directory were synced */
    return base_vfs->xDelete(base_vfs, name, sync_dir);
}

static void
pl_register(void)
{
    base_vfs = sqlite3_vfs_find(NULL);
    pl_vfs = *base_vfs;
    pl_vfs.iVersion = 1;
    pl_vfs.zName = "powerloss";
    pl_vfs.szOsFile = (int)sizeof(struct pl_file) + base_vfs->szOsFile;
    pl_vfs.xOpen = pl_open;
    pl_vfs.xDelete = pl_delete;
    if (sqlite3_vfs_register(&pl_vfs, 0) != SQLITE_OK) {
        abort();
    }
}

static void
write_all(const char *path, const unsigned char *d, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || (n && write(fd, d, n) != (ssize_t)n) || close(fd) != 0) {
        abort();
    }
}

/* The power comes back: durable images, plus (torn) some of the rest. */
static void
restore(int torn, unsigned *seed)
{
    for (int i = 0; i < MAX_FILES; i++) {
        struct tracked *t = &files[i];
        size_t keep;

        if (!t->path) {
            continue;
        }
        if (!t->exists_durable) {
            unlink(t->path);
            continue;
        }
        write_all(t->path, t->durable, t->durable_len);
        if (!torn || t->n_w == 0) {
            continue;
        }
        keep = (size_t)rand_r(seed) % (t->n_w + 1);
        for (size_t k = 0; k < keep; k++) {
            struct pending_write *w = &t->w[k];
            int fd = open(t->path, O_WRONLY);
            int len = w->len;

            if (fd < 0) {
                abort();
            }
            if (len < 0) {
                if (ftruncate(fd, (off_t)w->off) != 0) {
                    abort();
                }
                close(fd);
                continue;
            }
            if (k == keep - 1 && len > SECTOR) {
                len = SECTOR * (1 + rand_r(seed) % (len / SECTOR));
            }
            if (pwrite(fd, w->data, (size_t)len, (off_t)w->off) != len) {
                abort();
            }
            close(fd);
        }
    }
}

static int
integrity_ok(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int ok = 0;

    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        ok = strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return ok;
}

#define SLOTS 8 /* each transaction writes all 8 slots with value = txn */

static void
put_txn(struct sp_journal *j, int txn, int *acked_ok)
{
    struct sp_err e;
    enum sp_put_result r;
    ctspool_rc rc = sp_journal_begin(j);

    *acked_ok = 0;
    for (int s = 0; rc == CTSPOOL_OK && s < SLOTS; s++) {
        struct sp_point p;
        char name[16];

        memset(&p, 0, sizeof(p));
        snprintf(name, sizeof(name), "slot%d", s);
        p.stream = "powerloss-stream";
        p.stream_len = strlen(p.stream);
        p.agg = SP_AGG_SUM;
        p.name = name;
        p.name_len = strlen(name);
        p.hour = 400000 + (txn % 3); /* upserts and new points mixed */
        p.value = txn;
        if (sp_point_finish(&p, &e) != CTSPOOL_OK) {
            abort();
        }
        rc = sp_journal_put(j, &p, &r);
    }
    if (rc == CTSPOOL_OK) {
        rc = sp_journal_commit(j);
    } else {
        sp_journal_rollback(j);
    }
    *acked_ok = rc == CTSPOOL_OK;
}

/*
 * One round; returns the number of acknowledged transactions lost (must
 * be 0 for durability full), or -1 on a violated invariant.
 */
static int
round_once(const char *dir, int full, int torn, unsigned *seed)
{
    char *path = tu_path(dir, "journal.db");
    struct sp_journal_opts o;
    struct sp_journal *j = NULL;
    struct sp_err e;
    int last_acked[3] = {-1, -1, -1}; /* per hour: last acked txn */
    int inflight = -1, lost = 0, n_txn = 5 + rand_r(seed) % 40;
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -f '%s' '%s-wal' '%s-shm'", path, path,
             path);
    if (system(cmd) != 0) {
        abort();
    }
    memset(&o, 0, sizeof(o));
    o.path = path;
    o.durability_full = full;
    o.vfs = "powerloss";
    crashed = 0;
    ops_left = -1;
    if (sp_journal_open(&o, &j, &e) != CTSPOOL_OK) {
        fprintf(stderr, "open: %s\n", e.msg);
        abort();
    }
    ops_left = rand_r(seed) % (n_txn * 6 + 1);
    for (int t = 0; t < n_txn && !crashed; t++) {
        int ok;

        put_txn(j, t, &ok);
        if (ok && !crashed) {
            last_acked[t % 3] = t;
        } else {
            inflight = t;
        }
    }
    crashed = 1;
    sp_journal_close(j);
    restore(torn, seed);
    snprintf(cmd, sizeof(cmd), "%s-shm", path);
    unlink(cmd);
    forget_all();
    crashed = 0;
    ops_left = -1;

    /* Power is back: the normal VFS, as the next ctspool would. */
    o.vfs = NULL;
    if (sp_journal_open(&o, &j, &e) != CTSPOOL_OK) {
        fprintf(stderr, "reopen after power cut: %s\n", e.msg);
        free(path);
        return -1;
    }
    sp_journal_close(j);
    if (!integrity_ok(path)) {
        fprintf(stderr, "integrity_check failed\n");
        free(path);
        return -1;
    }
    if (tu_sql1(path, "SELECT count(*) FROM queue") !=
            tu_sql1(path, "SELECT v FROM meta WHERE k = 'pending'") ||
        tu_sql1(path, "SELECT count(*) FROM point") !=
            tu_sql1(path, "SELECT v FROM meta WHERE k = 'points'")) {
        fprintf(stderr, "meta.pending differs from the rows\n");
        free(path);
        return -1;
    }
    for (int h = 0; h < 3; h++) {
        char sql[256];
        int64_t n, lo, hi;

        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM point WHERE hour = %d", 400000 + h);
        n = tu_sql1(path, sql);
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(min(value), -1) FROM point WHERE hour = %d",
                 400000 + h);
        lo = tu_sql1(path, sql);
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(max(value), -1) FROM point WHERE hour = %d",
                 400000 + h);
        hi = tu_sql1(path, sql);
        /* No partial transaction: all slots of an hour hold one txn. */
        if (lo != hi || (n != 0 && n != SLOTS)) {
            fprintf(stderr, "partial transaction visible at hour %d: "
                            "n=%lld values %lld..%lld\n",
                    h, (long long)n, (long long)lo, (long long)hi);
            free(path);
            return -1;
        }
        if (lo == last_acked[h] || (inflight >= 0 && lo == inflight &&
                                    inflight % 3 == h)) {
            continue; /* exactly the acked state (or the in-flight txn) */
        }
        if (lo < last_acked[h]) {
            if (full) {
                fprintf(stderr, "acknowledged txn %d lost at hour %d "
                                "(found %lld)\n",
                        last_acked[h], h, (long long)lo);
                free(path);
                return -1;
            }
            lost++;
            continue;
        }
        fprintf(stderr, "hour %d holds txn %lld, never written there\n", h,
                (long long)lo);
        free(path);
        return -1;
    }
    free(path);
    return lost;
}

int
main(int argc, char **argv)
{
    int rounds = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 100;
    unsigned seed =
        argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 20261126u;
    char *dir;

    /* Real fsyncs are not what is tested here: tmpfs keeps it fast. */
    if (access("/dev/shm", W_OK) == 0) {
        setenv("TMPDIR", "/dev/shm", 1);
    }
    dir = tu_tmpdir();
    int lost_normal = 0, failures = 0;

    pl_register();
    for (int mode = 0; mode < 4; mode++) {
        int full = mode < 2, torn = mode % 2;

        for (int r = 0; r < rounds; r++) {
            int lost = round_once(dir, full, torn, &seed);

            if (lost < 0) {
                fprintf(stderr, "FAIL: durability %s, %s, round %d\n",
                        full ? "full" : "normal", torn ? "torn" : "drop", r);
                failures++;
            } else if (!full) {
                lost_normal += lost;
            }
        }
        printf("durability %-6s %-4s: %d power cuts\n",
               full ? "full" : "normal", torn ? "torn" : "drop", rounds);
    }
    printf("acknowledged transactions lost: 0 with durability full; "
           "%d (hour slots) with durability normal, as documented\n",
           lost_normal);
    tu_rmtree(dir);
    return failures ? 1 : 0;
}
