/*
 * salvage.c -- recovers the pending points, the points noted to send
 * again (they become pending) and the dead letters of a damaged journal
 * into the live one (DESIGN.md section 11): `ctspool salvage FILE` and
 * the drainer's auto_salvage.
 *
 * The damaged file is read through SQLite only, table by table in key
 * order, a bounded run of rows per query.  When SQLite reports damage
 * the scan looks for the next key it can reach: first the key right
 * after the last row read (a single unreadable row is skipped alone),
 * else keys further and further away (doubling), and then back towards
 * the last failure (bisection), so that a damaged range costs about the
 * rows in its pages.  No page-format reader: Debian's SQLite lacks the
 * dbpage virtual table that `.recover` needs.
 *
 * A file whose 100-byte header is damaged (SQLite: "not a database") is
 * read from a copy with a standard header written over it, for each
 * page size SQLite allows until the schema reads: the header is the only
 * place SQLite keeps the page size, the pages themselves are untouched.
 * The -wal file is copied along.
 *
 * Every item read is checked again by the rules producers obey (a
 * damaged page may also yield rows that look right but are not): an
 * item that fails is counted unreadable.  A pending row whose point the
 * file holds at another version is a deleted one come back into view,
 * and is left out (is_stale_row).  Items go to the live journal
 * in transactions of at most txn_items, so producers wait little; an
 * identity the live journal already holds is left alone (what is there
 * is newer: the live journal was started after the damaged one), unless
 * its value was folded from nothing since (accumulate mode): then the
 * item's observations are folded under it (sp_journal_put_absent()).
 * Each transaction records how far the run went through the table it
 * reads (progress_save()), so running it again, or finishing a run cut
 * short, passes over what was added, and a dead letter already there is
 * not added twice.
 *
 * One salvage into a journal at a time: each holds an exclusive flock
 * on JOURNAL-salvage.lock while it runs (the copy of a damaged header
 * has one name per journal, and two runs at once would read each
 * other's copy).  A second one is refused with E_LOCKED, not queued:
 * the drainer tries again later, an operator when told.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "event.h"
#include "journal.h"
#include "memwatch.h"
#include "migrate.h"
#include "salvage.h"

#define SCAN_ROWS 512
/* Hours before 10000-01-01T00:00:00Z (days 2932897 since 1970). */
#define HOUR_END INT64_C(70389528)

/* A table read in key order: key (k1) or (k1, k2). */
struct scan {
    sqlite3 *db;
    const char *rows_sql;  /* cols: the key, then the row's fields;
                            * ?1, ?2: after this key; ?3: row limit */
    const char *probe_sql; /* the first key after (?1, ?2) */
    int two;               /* the key has two columns */
    int64_t k1_max;        /* two: no key has a larger k1 */
    int64_t k1, k2;        /* the last key read (or before the first) */
    uint64_t skips;        /* damaged places skipped */
    sqlite3_stmt *rows, *probe;
};

typedef ctspool_rc (*row_fn)(void *ctx, sqlite3_stmt *row);

struct sv_grp {
    int64_t id;
    char *stream;
    int agg;
};

/*
 * The damaged file is open twice: db for the scans alone, look for the
 * lookups made between a scan's rows (statements below).  What SQLite
 * reads of a damaged B-tree depends on what the connection read before
 * (its page cache, and the checks a page gets when first loaded): a
 * lookup between two rows of the queue scan could make it stop short of
 * rows it reads otherwise, and the lookups made depend on what the live
 * journal holds (keep_written_at()).  Kept apart, the scans read the
 * same rows on every run, so that a second salvage adds nothing.
 */
struct sv {
    sqlite3 *db;   /* the damaged file, for the scans */
    sqlite3 *look; /* the same, for the lookups */
    struct sp_journal *live;
    size_t txn_items, in_txn;
    uint64_t queue_rows; /* pending rows read, whatever became of them */
    struct sv_grp *grps;
    size_t n_grps, cap_grps;
    sqlite3_stmt *series_get;
    sqlite3_stmt *point_get;  /* a point row (struct pt_row); NULL:
                               * the point table does not read */
    sqlite3_stmt *seqtime_get; /* NULL: no seqtime table readable */
    sqlite3_stmt *since_get;   /* NULL: no grp_pending (before 0010) */
    sqlite3_stmt *queue_get;   /* is (grp, seq) pending? NULL: unread */
    int64_t since_grp, since;  /* its answer for the group read last */
    struct sp_salvage_report *rep;
    struct sp_err *e;
    struct sp_jscan ev_scan; /* the event of the last build_point() */
    /* The damaged file's device, inode and time of last change: */
    uint64_t file_dev, file_ino;
    struct timespec file_mtime;
    /* How far this run has gone through the table it reads (progress
     * kept in the live journal, see progress_save()): */
    const char *tbl; /* its name; NULL: no progress kept */
    row_fn tbl_fn;   /* what each of its rows goes to */
    int has_done;    /* an item of it was handled ... */
    int64_t done_k1, done_k2; /* ... the last one, its key */
    int tbl_two;     /* its key has two columns */
    int has_from;    /* an earlier run committed its items ... */
    int64_t from_k1, from_k2; /* ... up to this key */
};

/*
 * An answer of SQLite reading the damaged file that says "skip this
 * place".  SQLITE_NOMEM too: SQLite answers some damage (a garbled table
 * declaration or record) with "out of memory", and in a file known to
 * be damaged that is by far the likelier cause.  Where the program
 * counts failed allocations (memwatch.c), sp_salvage() answers E_NOMEM
 * when one failed, so a place skipped for a real shortage is read again
 * by the next run.
 */
static int
is_damage(int r)
{
    int p = r & 0xff;

    return p != SQLITE_OK && p != SQLITE_ROW && p != SQLITE_DONE &&
           p != SQLITE_BUSY && p != SQLITE_LOCKED && p != SQLITE_INTERRUPT;
}

/* ---- the scanner ----------------------------------------------------- */

static void
bind_key(sqlite3_stmt *s, int64_t k1, int64_t k2)
{
    sqlite3_bind_int64(s, 1, k1);
    if (sqlite3_bind_parameter_count(s) >= 2) {
        sqlite3_bind_int64(s, 2, k2);
    }
}

/* (a1, a2) comes after (b1, b2) in key order (two: both columns). */
static int
key_after(const struct scan *sc, int64_t a1, int64_t a2, int64_t b1,
          int64_t b2)
{
    return a1 > b1 || (sc->two && a1 == b1 && a2 > b2);
}

/*
 * The first key after (k1, k2): SQLITE_ROW with it in *f1, *f2,
 * SQLITE_DONE when there is none, else the error (damage).  A key that
 * does not come after (k1, k2) is damage too: garbage over a B-tree
 * page can put keys out of order, and a scan that followed one back
 * could go round for ever.
 */
static int
probe(struct scan *sc, int64_t k1, int64_t k2, int64_t *f1, int64_t *f2)
{
    int r;

    if (!sc->probe &&
        (r = sqlite3_prepare_v2(sc->db, sc->probe_sql, -1, &sc->probe,
                                NULL)) != SQLITE_OK) {
        return r;
    }
    bind_key(sc->probe, k1, k2);
    r = sqlite3_step(sc->probe);
    if (r == SQLITE_ROW) {
        *f1 = sqlite3_column_int64(sc->probe, 0);
        *f2 = sc->two ? sqlite3_column_int64(sc->probe, 1) : 0;
        if (!key_after(sc, *f1, *f2, k1, k2)) {
            r = SQLITE_CORRUPT;
        }
    }
    sqlite3_reset(sc->probe);
    return r;
}

/* probe() at c in key column col (1: k2, k1 staying sc->k1; 0: k1,
 * with k2 before any). */
static int
probe_at(struct scan *sc, int col, int64_t c, int64_t *f1, int64_t *f2)
{
    return col ? probe(sc, sc->k1, c, f1, f2)
               : probe(sc, c, sc->two ? INT64_MIN : 0, f1, f2);
}

/*
 * Past damage at (sc->k1, sc->k2), along one key column (col as in
 * probe_at()): probes at 1, 2, 4, ... keys further until one reads,
 * then bisects back between it and the last damaged probe, so that the
 * scan goes on from the first place a seek gets past the damage.  A
 * column runs from its value now to INT64_MAX, k1 of a two-column key
 * to sc->k1_max.  0: (sc->k1, sc->k2) moved there; 1: nothing readable
 * follows; 2: damaged to the column's end; else an SQLite error that
 * is not damage.
 *
 * Invariant: the scan only moves forward, and at most about 128 probes
 * per call, whatever the keys: a damaged place at the very start of a
 * table (k1 = INT64_MIN) is passed as quickly as one anywhere else.
 */
static int
skip_along(struct scan *sc, int col)
{
    int64_t lo = col ? sc->k2 : sc->k1;
    int64_t end = col || !sc->two ? INT64_MAX : sc->k1_max;
    uint64_t step = 1;
    int64_t f1 = 0, f2 = 0;
    int r;

    if (lo >= end) {
        return 2;
    }
    for (;;) {
        uint64_t dist = (uint64_t)end - (uint64_t)lo;
        int64_t c = step >= dist ? end : (int64_t)((uint64_t)lo + step);

        r = probe_at(sc, col, c, &f1, &f2);
        if (r == SQLITE_DONE) {
            return 1;
        }
        if (r == SQLITE_ROW) {
            int64_t bad = (int64_t)((uint64_t)lo + step / 2), good = c;

            while ((uint64_t)good - (uint64_t)bad > 1) {
                int64_t mid = (int64_t)((uint64_t)bad +
                                        ((uint64_t)good - (uint64_t)bad) / 2);

                r = probe_at(sc, col, mid, &f1, &f2);
                if (r == SQLITE_ROW || r == SQLITE_DONE) {
                    good = mid;
                } else if (is_damage(r)) {
                    bad = mid;
                } else {
                    return r;
                }
            }
            if (col) {
                sc->k2 = good;
            } else {
                sc->k1 = good;
                sc->k2 = sc->two ? INT64_MIN : 0;
            }
            return 0;
        }
        if (!is_damage(r)) {
            return r;
        }
        if (c == end) {
            return 2;
        }
        step = step > UINT64_MAX / 2 ? UINT64_MAX : step * 2;
    }
}

/*
 * After damage past the last key read: moves the scan to where it can
 * go on.  0: go on from (sc->k1, sc->k2); 1: nothing readable follows;
 * else an SQLite error that is not damage.
 */
static int
skip_damage(struct scan *sc)
{
    int64_t f1 = 0, f2 = 0;
    int r;

    sc->skips++;
    r = probe(sc, sc->k1, sc->k2, &f1, &f2);
    if (r == SQLITE_ROW) {
        /* Its key is readable, the rest of the row is not: skip it. */
        sc->k1 = f1;
        sc->k2 = f2;
        return 0;
    }
    if (r == SQLITE_DONE) {
        return 1;
    }
    if (!is_damage(r)) {
        return r;
    }
    /* On along the last column of the key, then along the first. */
    r = skip_along(sc, sc->two);
    if (r == 2 && sc->two) {
        r = skip_along(sc, 0);
    }
    return r == 2 ? 1 : r;
}

/* Reads every reachable row after (sc->k1, sc->k2) into fn. */
static ctspool_rc
scan_run(struct scan *sc, row_fn fn, void *ctx, struct sp_err *e)
{
    ctspool_rc rc = CTSPOOL_OK;
    int r;

    r = sqlite3_prepare_v2(sc->db, sc->rows_sql, -1, &sc->rows, NULL);
    for (;;) {
        int n = 0;

        if (r == SQLITE_OK) {
            bind_key(sc->rows, sc->k1, sc->k2);
            sqlite3_bind_int(sc->rows, 3, SCAN_ROWS);
            while ((r = sqlite3_step(sc->rows)) == SQLITE_ROW) {
                int64_t r1 = sqlite3_column_int64(sc->rows, 0);
                int64_t r2 = sc->two ? sqlite3_column_int64(sc->rows, 1)
                                     : 0;

                if (!key_after(sc, r1, r2, sc->k1, sc->k2)) {
                    r = SQLITE_CORRUPT; /* out of order: as in probe() */
                    break;
                }
                sc->k1 = r1;
                sc->k2 = r2;
                n++;
                rc = fn(ctx, sc->rows);
                if (rc != CTSPOOL_OK) {
                    sqlite3_reset(sc->rows);
                    goto out;
                }
            }
            sqlite3_reset(sc->rows);
            if (r == SQLITE_DONE) {
                if (n < SCAN_ROWS) {
                    break;
                }
                r = SQLITE_OK;
                continue;
            }
        }
        if (!is_damage(r)) {
            break;
        }
        /* The statement cannot even be prepared: the schema is gone. */
        if (!sc->rows) {
            break;
        }
        r = skip_damage(sc);
        if (r == 1) {
            r = SQLITE_DONE;
            break;
        }
        if (r != 0) {
            break;
        }
        r = SQLITE_OK;
    }
    if (r != SQLITE_DONE && r != SQLITE_OK && !is_damage(r)) {
        sp_err_set(e, "reading the damaged journal: %s",
                   sqlite3_errstr(r));
        rc = CTSPOOL_E_IO; /* busy, locked, interrupted: not damage */
    }
out:
    sqlite3_finalize(sc->rows);
    sqlite3_finalize(sc->probe);
    sc->rows = sc->probe = NULL;
    return rc;
}

/* ---- the live journal's side ----------------------------------------- */

static ctspool_rc
live_fail(struct sv *v, ctspool_rc rc)
{
    sp_err_set(v->e, "%s", sp_journal_errmsg(v->live));
    return rc;
}

/*
 * The key under which the live journal keeps how far runs went through
 * table tbl of this damaged file: the file by device and inode, which
 * its rename to .salvaged keeps, and by the time it was last written
 * (salvage never writes it), since a file made after this one was
 * deleted may get its inode.  It is kept as an idempotency key
 * (journal_idem.c) that compaction never prunes, and starts with a
 * control character, which no client's key may hold.
 */
static void
progress_key(const struct sv *v, const char *tbl, char *key, size_t n)
{
    snprintf(key, n, "\001salvage %llx:%llx:%lld.%09ld %s",
             (unsigned long long)v->file_dev,
             (unsigned long long)v->file_ino,
             (long long)v->file_mtime.tv_sec, (long)v->file_mtime.tv_nsec,
             tbl);
}

/*
 * Into the open transaction: the key of the last item of v->tbl handled,
 * so that the transaction that commits the items commits how far they
 * went.  A second run of the same file, or one finishing a run cut
 * short, then passes over them (scan_table()): adding them again would
 * bring back letters requeued or purged since, and fold a point that
 * came back folded from nothing under itself.
 */
static ctspool_rc
progress_save(struct sv *v)
{
    char key[96], at[48];
    ctspool_rc rc;

    if (!v->in_txn || !v->tbl || !v->has_done) {
        return CTSPOOL_OK;
    }
    progress_key(v, v->tbl, key, sizeof(key));
    snprintf(at, sizeof(at), "%lld %lld", (long long)v->done_k1,
             (long long)v->done_k2);
    rc = sp_journal_idem_put(v->live, key, at, INT64_MAX);
    return rc == CTSPOOL_OK ? rc : live_fail(v, rc);
}

/*
 * After a run that may have skipped places for want of memory (memwatch):
 * its progress is forgotten (a time before any, so that no run finds it
 * and compaction prunes it), and the next run reads every item again,
 * finding there what was added (best effort: a failure leaves it).
 */
static void
progress_forget(struct sv *v)
{
    static const char *const tbls[] = {"queue", "resend", "dead"};
    ctspool_rc rc = sp_journal_begin(v->live);
    char key[96];

    for (size_t i = 0; rc == CTSPOOL_OK && i < 3; i++) {
        progress_key(v, tbls[i], key, sizeof(key));
        rc = sp_journal_idem_put(v->live, key, "", -1);
    }
    if (rc == CTSPOOL_OK) {
        sp_journal_commit(v->live);
    } else {
        sp_journal_rollback(v->live);
    }
}

/* Commits the open transaction, if any. */
static ctspool_rc
live_commit(struct sv *v)
{
    ctspool_rc rc;

    if (!v->in_txn) {
        return CTSPOOL_OK;
    }
    rc = progress_save(v);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    v->in_txn = 0;
    rc = sp_journal_commit(v->live);
    return rc == CTSPOOL_OK ? rc : live_fail(v, rc);
}

/* A transaction open for one more item (the previous one committed
 * after txn_items). */
static ctspool_rc
live_ready(struct sv *v)
{
    ctspool_rc rc;

    if (v->in_txn >= v->txn_items) {
        rc = live_commit(v);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    if (!v->in_txn) {
        rc = sp_journal_begin(v->live);
        if (rc != CTSPOOL_OK) {
            return live_fail(v, rc);
        }
    }
    v->in_txn++;
    return CTSPOOL_OK;
}

/* ---- items ----------------------------------------------------------- */

static const struct sv_grp *
grp_find(const struct sv *v, int64_t id)
{
    size_t lo = 0, hi = v->n_grps;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v->grps[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < v->n_grps && v->grps[lo].id == id ? &v->grps[lo] : NULL;
}

static ctspool_rc
grp_row(void *ctx, sqlite3_stmt *row)
{
    struct sv *v = ctx;
    const char *stream = (const char *)sqlite3_column_text(row, 1);
    int agg = sqlite3_column_int(row, 2);
    struct sp_err e;

    if (agg == SP_KIND_EVENTS) {
        if (!stream || stream[0]) {
            return CTSPOOL_OK; /* the events group has no stream */
        }
    } else if (!stream ||
               sp_valid_stream(stream, strlen(stream), &e) != CTSPOOL_OK ||
               agg < 0 || agg > 3) {
        return CTSPOOL_OK; /* its items will count as unreadable */
    }
    if (v->n_grps == v->cap_grps) {
        size_t nc = v->cap_grps ? 2 * v->cap_grps : 16;
        struct sv_grp *ng = realloc(v->grps, nc * sizeof(*ng));

        if (!ng) {
            return CTSPOOL_E_NOMEM;
        }
        v->grps = ng;
        v->cap_grps = nc;
    }
    v->grps[v->n_grps].id = sqlite3_column_int64(row, 0);
    v->grps[v->n_grps].agg = agg;
    if (!(v->grps[v->n_grps].stream = strdup(stream))) {
        return CTSPOOL_E_NOMEM;
    }
    v->n_grps++; /* read in id order: stays sorted */
    return CTSPOOL_OK;
}

/* Forgets the upload groups read (v->grps stays allocated). */
static void
drop_grps(struct sv *v)
{
    for (size_t i = 0; i < v->n_grps; i++) {
        free(v->grps[i].stream);
    }
    v->n_grps = 0;
}

/*
 * The point (series, hour, value) of group grp (0: the series' own) as
 * producers would have stored it, into *p; names and dims point into
 * *json (free with cJSON_Delete), v->ev_scan (an event) and the series
 * statement, valid until the next call.  OK, or E_INVALID when any part
 * is unreadable or wrong.
 */
static ctspool_rc
build_point(struct sv *v, int64_t series, int64_t hour, double value,
            struct sp_point *p, cJSON **json)
{
    const struct sv_grp *g;
    const char *name, *dims;
    const cJSON *d;
    struct sp_err e;
    int r;

    *json = NULL;
    memset(p, 0, sizeof(*p));
    if (hour < 0 || hour >= HOUR_END ||
        sp_valid_value_num(value, &e) != CTSPOOL_OK) {
        return CTSPOOL_E_INVALID;
    }
    sqlite3_reset(v->series_get);
    sqlite3_bind_int64(v->series_get, 1, series);
    r = sqlite3_step(v->series_get);
    if (r != SQLITE_ROW) {
        return CTSPOOL_E_INVALID; /* gone, or damaged (is_damage()) */
    }
    g = grp_find(v, sqlite3_column_int64(v->series_get, 0));
    name = (const char *)sqlite3_column_text(v->series_get, 1);
    dims = (const char *)sqlite3_column_text(v->series_get, 2);
    if (!g || !name || !dims ||
        sp_valid_name(name, strlen(name), &e) != CTSPOOL_OK) {
        return CTSPOOL_E_INVALID;
    }
    if (g->agg == SP_KIND_EVENTS) {
        struct sp_event ev;

        /* An event: its carrier point (event.h), validated again. */
        if (sp_event_from_element(dims, hour, &v->ev_scan, &ev, &e) !=
                CTSPOOL_OK ||
            value != 0.0) {
            return CTSPOOL_E_INVALID;
        }
        sp_event_carry(&ev, p);
        return CTSPOOL_OK;
    }
    *json = cJSON_Parse(dims);
    if (!cJSON_IsObject(*json)) {
        return CTSPOOL_E_INVALID;
    }
    p->stream = g->stream;
    p->stream_len = strlen(g->stream);
    p->agg = g->agg;
    p->name = name;
    p->name_len = strlen(name);
    p->hour = hour;
    p->value = value;
    cJSON_ArrayForEach(d, *json)
    {
        if (!cJSON_IsString(d) || !d->string ||
            sp_point_add_dim(p, d->string, strlen(d->string),
                             d->valuestring, strlen(d->valuestring),
                             &e) != CTSPOOL_OK) {
            return CTSPOOL_E_INVALID;
        }
    }
    return sp_point_finish(p, &e) == CTSPOOL_OK ? CTSPOOL_OK
                                                : CTSPOOL_E_INVALID;
}

/*
 * What became of one item: rc from building it (E_INVALID: counted
 * unreadable) or from the live journal (put: OK, *res into *added or
 * *present; present NULL: one already there is not counted).  Frees
 * json.  OK to go on, else the live journal's error.
 */
static ctspool_rc
item_done(struct sv *v, ctspool_rc rc, enum sp_put_result res,
          uint64_t *added, uint64_t *present, cJSON *json)
{
    cJSON_Delete(json);
    if (rc == CTSPOOL_OK && res == SP_PUT_NEW) {
        ++*added;
    } else if (rc == CTSPOOL_OK) {
        if (present) {
            ++*present;
        }
    } else if (rc == CTSPOOL_E_INVALID) {
        v->rep->unreadable++;
        rc = CTSPOOL_OK;
    } else {
        live_fail(v, rc);
    }
    return rc;
}

/*
 * Whether avg are an Average's parts of value: a count of at least one
 * and a finite sum whose quotient is the value (a replace ends the
 * parts; a damaged row is not to be trusted).
 */
static int
parts_fit(int agg, double value, const struct sp_avg *avg)
{
    return agg == SP_AGG_AVERAGE && avg->n >= 1 && isfinite(avg->sum) &&
           avg->sum / (double)avg->n == value;
}

/*
 * The origin (schema 0009, DESIGN.md section 10) of the damaged file's
 * columns c (avg_sum), c + 1 (avg_n) and c + 2 (folded) of row, into
 * *o: what of it reads (origin_fit() then checks the parts).  Without
 * it the next accumulate fold would average against the value as one
 * observation, and a dead letter brought back would not be folded with
 * what was observed since.
 */
static void
origin_read(sqlite3_stmt *row, int c, struct sp_origin *o)
{
    memset(o, 0, sizeof(*o));
    if (sqlite3_column_type(row, c) == SQLITE_FLOAT &&
        sqlite3_column_type(row, c + 1) == SQLITE_INTEGER) {
        o->avg.sum = sqlite3_column_double(row, c);
        o->avg.n = sqlite3_column_int64(row, c + 1);
        o->has_avg = 1;
    }
    o->folded = sqlite3_column_type(row, c + 2) == SQLITE_INTEGER &&
                sqlite3_column_int64(row, c + 2) == 1;
}

/* Keeps o's Average parts only when they are those of value. */
static void
origin_fit(struct sp_origin *o, int agg, double value)
{
    o->has_avg = o->has_avg && parts_fit(agg, value, &o->avg);
}

/* The damaged file's point row at (hour, series), read once for both
 * of its uses: is_stale_row() and point_origin(). */
struct pt_row {
    int found;     /* it read */
    int absent;    /* it is not there, and nothing failed to read */
    int has_seq;   /* seq is an integer */
    int64_t seq;   /* its version */
    int64_t grp;
    int has_value; /* value is a real */
    double value;
    struct sp_origin o; /* as read (origin_read()) */
};

static void
point_row(struct sv *v, int64_t hour, int64_t series, struct pt_row *pr)
{
    sqlite3_stmt *s = v->point_get;
    int r;

    memset(pr, 0, sizeof(*pr));
    if (!s) {
        return;
    }
    sqlite3_bind_int64(s, 1, hour);
    sqlite3_bind_int64(s, 2, series);
    r = sqlite3_step(s);
    pr->absent = r == SQLITE_DONE;
    if (r == SQLITE_ROW) {
        pr->found = 1;
        pr->grp = sqlite3_column_int64(s, 5);
        pr->has_seq = sqlite3_column_type(s, 0) == SQLITE_INTEGER;
        pr->seq = sqlite3_column_int64(s, 0);
        pr->has_value = sqlite3_column_type(s, 1) == SQLITE_FLOAT;
        pr->value = sqlite3_column_double(s, 1);
        origin_read(s, 2, &pr->o);
    }
    sqlite3_reset(s);
}

/* The origin the point row pr gives the pending value of p: none unless
 * the row holds that value. */
static void
point_origin(const struct pt_row *pr, const struct sp_point *p,
             struct sp_origin *o)
{
    memset(o, 0, sizeof(*o));
    if (pr->found && pr->has_value && pr->value == p->value) {
        *o = pr->o;
        origin_fit(o, p->agg, p->value);
    }
}

/* The point (series, hour, value) pending in the live journal unless it
 * holds that identity, with the Average parts its point row pr gives;
 * counted as item_done() says. */
static ctspool_rc
put_pending(struct sv *v, int64_t series, int64_t hour, double value,
            const struct pt_row *pr, uint64_t *added, uint64_t *present)
{
    struct sp_point p;
    enum sp_put_result res = SP_PUT_UNCHANGED;
    cJSON *json;
    ctspool_rc rc;

    rc = build_point(v, series, hour, value, &p, &json);
    if (rc == CTSPOOL_OK && (rc = live_ready(v)) == CTSPOOL_OK) {
        struct sp_event ev;
        struct sp_origin o;

        if (sp_event_uncarry(&p, &ev)) {
            rc = sp_journal_put_event(v->live, &ev, &res);
        } else {
            point_origin(pr, &p, &o);
            rc = sp_journal_put_absent(v->live, &p, &o, &res);
        }
    }
    if (rc == CTSPOOL_OK && res == SP_PUT_UPDATED) {
        v->rep->folded++;
        present = NULL;
    }
    return item_done(v, rc, res, added, present, json);
}

/* put_pending() of a point to send again: counted in rep->pending and
 * rep->resend. */
static ctspool_rc
put_resend(struct sv *v, int64_t series, int64_t hour, double value,
           const struct pt_row *pr, uint64_t *present)
{
    uint64_t added = 0;
    ctspool_rc rc = put_pending(v, series, hour, value, pr, &added, present);

    v->rep->pending += added;
    v->rep->resend += added;
    return rc;
}

/* The integer s answers for key k, or 0 (none, NULL, or s is NULL). */
static int64_t
lookup_time(sqlite3_stmt *s, int64_t k)
{
    int64_t t = 0;

    if (!s) {
        return 0;
    }
    sqlite3_bind_int64(s, 1, k);
    if (sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
        t = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    return t;
}

/*
 * A pending point added keeps the time the damaged journal says its seq
 * was first written (seqtime), or its group began to wait (grp_pending,
 * schema 0010) if earlier, so that neither the age of the oldest pending
 * point nor its group's wait restarts at the salvage.  A time that does
 * not read (damage, or a schema without it) leaves the salvage's own.
 */
static void
keep_written_at(struct sv *v, int64_t grp, int64_t seq)
{
    int64_t at = lookup_time(v->seqtime_get, seq);

    /* The queue is read in group order: one lookup a group. */
    if (grp != v->since_grp) {
        v->since_grp = grp;
        v->since = lookup_time(v->since_get, grp);
    }
    if (v->since > 0 && (at <= 0 || v->since < at)) {
        at = v->since;
    }
    if (at > 0) {
        sp_journal_set_written_at(v->live, at);
    }
}

/*
 * Is the queue row (hour, series, seq) one the damaged file's point row
 * pr says is not pending?  A pending row carries its point's seq
 * (invariant 3 of journal.c); one of another seq was deleted
 * (acknowledged, or replaced by a newer version) and damage brought it
 * back into view: a page pointer or cell offset garbled onto deleted
 * bytes, which the drainer does not zero (journal.h, keep_deleted).
 * Sending its older value again would overwrite the newer one upstream.
 */
static int
is_stale_row(const struct pt_row *pr, int64_t seq)
{
    return pr->found && pr->has_seq && pr->seq != seq;
}

/*
 * Does the queue row of value contradict its point row pr, which it
 * names by (hour, series) and seq (is_stale_row() said not stale)?  A
 * pending row has a point row of the same version and value (invariants
 * 1 and 3), so either is damaged: a row cut off by a truncation reads
 * zeros, a garbled hour names a point row that is not there.  Neither
 * value can be trusted, and sending one could put upstream a value (or
 * an hour) the journal never held: the row counts as unreadable.  A
 * point row that does not read proves nothing: the row stays.
 */
static int
contradicts(const struct pt_row *pr, double value)
{
    return pr->absent ||
           (pr->found && pr->has_value && pr->value != value);
}

/* queue: grp, seq, hour, series, value. */
static ctspool_rc
pending_row(void *ctx, sqlite3_stmt *row)
{
    struct sv *v = ctx;
    uint64_t before = v->rep->pending;
    struct pt_row pr;
    ctspool_rc rc;

    point_row(v, sqlite3_column_int64(row, 2), sqlite3_column_int64(row, 3),
              &pr);
    if (is_stale_row(&pr, sqlite3_column_int64(row, 1))) {
        return CTSPOOL_OK;
    }
    v->queue_rows++;
    if (contradicts(&pr, sqlite3_column_double(row, 4))) {
        v->rep->unreadable++;
        return CTSPOOL_OK;
    }
    rc = put_pending(v, sqlite3_column_int64(row, 3),
                     sqlite3_column_int64(row, 2),
                     sqlite3_column_double(row, 4), &pr, &v->rep->pending,
                     &v->rep->present);
    if (rc == CTSPOOL_OK && v->rep->pending != before) {
        keep_written_at(v, sqlite3_column_int64(row, 0),
                        sqlite3_column_int64(row, 1));
    }
    return rc;
}

/*
 * resend (a point to send again, schema 0008) and its point's value:
 * hour, series, value (NULL: the point is gone, nothing to send).  The
 * damaged journal's drainer acknowledged that value while an older one
 * was in an upload of unknown outcome; sending it again is what keeps
 * upstream from ending with the older value, so it becomes pending.
 */
static ctspool_rc
resend_row(void *ctx, sqlite3_stmt *row)
{
    struct sv *v = ctx;
    struct pt_row pr;

    if (sqlite3_column_type(row, 2) == SQLITE_NULL) {
        return CTSPOOL_OK;
    }
    point_row(v, sqlite3_column_int64(row, 0), sqlite3_column_int64(row, 1),
              &pr);
    return put_resend(v, sqlite3_column_int64(row, 1),
                      sqlite3_column_int64(row, 0),
                      sqlite3_column_double(row, 2), &pr, &v->rep->present);
}

/* Whether the damaged file's queue holds (grp, seq): 1, 0 (it reads,
 * and does not), -1 (it does not read). */
static int
queue_holds(struct sv *v, int64_t grp, int64_t seq)
{
    sqlite3_stmt *s = v->queue_get;
    int r;

    if (!s) {
        return -1;
    }
    sqlite3_bind_int64(s, 1, grp);
    sqlite3_bind_int64(s, 2, seq);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

/*
 * A dead letter's point (series, hour) got a value after the letter
 * died (dead-lettering deletes the point row), and that value was
 * acknowledged: salvage does not bring acknowledged points back, and
 * `dlq requeue` of the letter would then find no newer value and send
 * the older one over it.  The damaged journal keeps such a point for
 * that reason (compaction, journal_admin.c); salvage makes it pending
 * again, to send again (rep->resend): upstream upserts, so sending it
 * again is harmless, and a requeue meets it as it would have.  A point
 * still pending is the queue scan's.
 */
static ctspool_rc
letter_newer_acked(struct sv *v, int64_t series, int64_t hour)
{
    struct pt_row pr;

    point_row(v, hour, series, &pr);
    if (!pr.found || !pr.has_value || !pr.has_seq ||
        queue_holds(v, pr.grp, pr.seq) == 1) {
        return CTSPOOL_OK;
    }
    /* Not an item of its own: found there already (another letter of
     * the point carried it), it is not counted as present. */
    return put_resend(v, series, hour, pr.value, &pr, NULL);
}

/* dead: id, hour, series, value, status, body, dead_at and, from schema
 * 0009 on, avg_sum, avg_n, folded (NULL before). */
static ctspool_rc
dead_row(void *ctx, sqlite3_stmt *row)
{
    struct sv *v = ctx;
    struct sp_point p;
    enum sp_put_result res = SP_PUT_UNCHANGED;
    const char *body = (const char *)sqlite3_column_text(row, 5);
    int status = sqlite3_column_int(row, 4), is_point = 0;
    cJSON *json;
    ctspool_rc rc;

    rc = build_point(v, sqlite3_column_int64(row, 2),
                     sqlite3_column_int64(row, 1),
                     sqlite3_column_double(row, 3), &p, &json);
    /* Every letter has its time: a row cut off by a truncation reads
     * zeros from where it was cut (its value may be cut too). */
    if (rc == CTSPOOL_OK &&
        (status < 0 || status > 999 || sqlite3_column_int64(row, 6) <= 0)) {
        rc = CTSPOOL_E_INVALID;
    }
    if (rc == CTSPOOL_OK && (rc = live_ready(v)) == CTSPOOL_OK) {
        struct sp_event ev;

        if (sp_event_uncarry(&p, &ev)) {
            rc = sp_journal_put_event_dead(v->live, &ev, status,
                                           body ? body : "",
                                           sqlite3_column_int64(row, 6),
                                           &res);
        } else {
            struct sp_origin o;

            origin_read(row, 7, &o);
            origin_fit(&o, p.agg, p.value);
            rc = sp_journal_put_dead(v->live, &p, &o, status,
                                     body ? body : "",
                                     sqlite3_column_int64(row, 6), &res);
            is_point = 1;
        }
    }
    rc = item_done(v, rc, res, &v->rep->dead, &v->rep->present, json);
    if (rc == CTSPOOL_OK && is_point) {
        rc = letter_newer_acked(v, sqlite3_column_int64(row, 2),
                                sqlite3_column_int64(row, 1));
    }
    return rc;
}

/* ---- the whole ------------------------------------------------------- */

/* The first of the n statements sql that db prepares, or NULL. */
static sqlite3_stmt *
prepare_first(sqlite3 *db, const char *const *sql, size_t n)
{
    sqlite3_stmt *s = NULL;

    for (size_t i = 0; i < n; i++) {
        if (sqlite3_prepare_v2(db, sql[i], -1, &s, NULL) == SQLITE_OK) {
            return s;
        }
    }
    return NULL;
}

/* Whether the damaged file's table has column (and its declaration
 * reads). */
static int
has_column(sqlite3 *db, const char *table, const char *column)
{
    char sql[128];
    sqlite3_stmt *s = NULL;
    int r;

    snprintf(sql, sizeof(sql), "SELECT \"%s\" FROM \"%s\"", column, table);
    r = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    sqlite3_finalize(s);
    return r == SQLITE_OK;
}

/* A point row (struct pt_row): from schema 0009 on, from 0005 on (no
 * mark), before (no origin to carry). */
static const char *const point_sql[] = {
    "SELECT seq, value, avg_sum, avg_n, folded, grp FROM point WHERE "
    "hour = ?1 AND series = ?2",
    "SELECT seq, value, avg_sum, avg_n, NULL, grp FROM point WHERE "
    "hour = ?1 AND series = ?2",
    "SELECT seq, value, NULL, NULL, NULL, grp FROM point WHERE hour = ?1 "
    "AND series = ?2",
};

/* meta k of the damaged file, -1 when unreadable. */
static int64_t
meta_int(sqlite3 *db, const char *k)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = ?1", -1, &s,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW &&
            sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
            v = sqlite3_column_int64(s, 0);
        }
    }
    sqlite3_finalize(s);
    return v;
}

static ctspool_rc
open_db(const char *file, sqlite3 **db, struct sp_err *e)
{
    int r, one = 1;

    /* Read-write for its WAL index, but nothing is written back: no
     * checkpoint on close, and the -wal stays (PERSIST_WAL). */
    r = sqlite3_open_v2(file, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL);
    if (r != SQLITE_OK) {
        sp_err_set(e, "cannot open %s: %s", file,
                   *db ? sqlite3_errmsg(*db) : "out of memory");
        sqlite3_close(*db);
        *db = NULL;
        return r == SQLITE_NOMEM ? CTSPOOL_E_NOMEM : CTSPOOL_E_IO;
    }
    sqlite3_extended_result_codes(*db, 1);
    sqlite3_busy_timeout(*db, 5000);
    sqlite3_db_config(*db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_file_control(*db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
    /* writable_schema: a file shorter than its header says (truncated)
     * is read as far as it goes instead of refused whole. */
    sqlite3_exec(*db,
                 "PRAGMA query_only = 1; PRAGMA cell_size_check = 1; "
                 "PRAGMA writable_schema = 1",
                 NULL, NULL, NULL);
    return CTSPOOL_OK;
}

/* Does db's schema read, with the journal's queue table in it? */
static int
schema_reads(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int ok = 0;

    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM sqlite_schema WHERE "
                           "name = 'queue'",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        ok = sqlite3_column_int(s, 0) == 1;
    }
    sqlite3_finalize(s);
    return ok;
}

/* Copies from to the new file to (created 0600); 0, or -1 with errno. */
static int
copy_file(const char *from, const char *to)
{
    char buf[1 << 16];
    int in = open(from, O_RDONLY | O_CLOEXEC), out, err = 0;
    ssize_t n;

    if (in < 0) {
        return -1;
    }
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        err = errno;
        close(in);
        errno = err;
        return -1;
    }
    while (!err && (n = read(in, buf, sizeof(buf))) > 0) {
        /* A short write is retried: the next one says why (ENOSPC). */
        for (ssize_t done = 0, w; done < n; done += w) {
            w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) {
                w = 0;
            } else if (w <= 0) {
                err = w < 0 ? errno : EIO;
                break;
            }
        }
    }
    if (n < 0) {
        err = errno;
    }
    close(in);
    if (close(out) != 0 && !err) {
        err = errno;
    }
    errno = err;
    return err ? -1 : 0;
}

/* SQLite's 100-byte file header for page size ps, WAL mode. */
static void
std_header(unsigned char h[100], unsigned ps)
{
    static const struct {
        int off;
        unsigned v;
    } words[] = {
        {24, 1}, /* change counter (the size at 28 is then ignored) */
        {40, 1}, /* schema cookie */
        {44, 4}, /* schema format */
        {56, 1}, /* UTF-8 */
        {96, SQLITE_VERSION_NUMBER},
    };

    memset(h, 0, 100);
    memcpy(h, "SQLite format 3", 16);
    h[16] = (unsigned char)((ps >> 8) & 0xff); /* 65536 is 0x0001 */
    h[17] = (unsigned char)(ps >> 16 ? 1 : ps & 0xff);
    h[18] = h[19] = 2; /* WAL */
    h[21] = 64;
    h[22] = h[23] = 32;
    for (size_t i = 0; i < SP_ARRAY_LEN(words); i++) {
        unsigned char *p = h + words[i].off;

        p[0] = (unsigned char)(words[i].v >> 24);
        p[1] = (unsigned char)(words[i].v >> 16);
        p[2] = (unsigned char)(words[i].v >> 8);
        p[3] = (unsigned char)words[i].v;
    }
}

static void
remove_copy(const char *copy)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char f[4096];

    for (size_t i = 0; i < SP_ARRAY_LEN(suffix); i++) {
        snprintf(f, sizeof(f), "%s%s", copy, suffix[i]);
        unlink(f);
    }
}

/*
 * A copy of file (and its -wal), named copy, with head[0 .. len) written
 * over its start, opened into *db when its schema reads: OK, E_NOTFOUND
 * when it does not (the copy is removed), or the error of making it.
 */
static ctspool_rc
open_copy_with(const char *file, const char *copy, const unsigned char *head,
               size_t len, sqlite3 **db, struct sp_err *e)
{
    char from[4096], to[4096];
    ctspool_rc rc;
    int fd;

    remove_copy(copy);
    snprintf(from, sizeof(from), "%s-wal", file);
    snprintf(to, sizeof(to), "%s-wal", copy);
    if (copy_file(file, copy) != 0 ||
        (copy_file(from, to) != 0 && errno != ENOENT)) {
        sp_err_set(e, "cannot copy %s to %s: %s", file, copy,
                   strerror(errno));
        rc = errno == ENOSPC ? CTSPOOL_E_DISKFULL : CTSPOOL_E_IO;
        remove_copy(copy);
        return rc;
    }
    fd = open(copy, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || pwrite(fd, head, len, 0) != (ssize_t)len) {
        sp_err_set(e, "cannot write %s: %s", copy, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        remove_copy(copy);
        return CTSPOOL_E_IO;
    }
    close(fd);
    rc = open_db(copy, db, e);
    if (rc == CTSPOOL_OK && schema_reads(*db)) {
        return CTSPOOL_OK;
    }
    sqlite3_close(*db);
    *db = NULL;
    remove_copy(copy);
    return rc == CTSPOOL_OK ? CTSPOOL_E_NOTFOUND : rc;
}

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

/* The first len bytes of the file at path into buf: 0, or -1. */
static int
read_start(const char *path, unsigned char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int ok = fd >= 0 && pread(fd, buf, len, 0) == (ssize_t)len;

    if (fd >= 0) {
        close(fd);
    }
    return ok ? 0 : -1;
}

/* The page size a 100-byte header gives, or 0 when it gives none that
 * SQLite writes (a power of two from 512 to 65536; std_header()'s
 * encoding). */
static unsigned
header_page_size(const unsigned char *h)
{
    unsigned ps = (unsigned)h[16] << 8 | h[17];

    ps = ps == 1 ? 65536 : ps;
    return ps >= 512 && (ps & (ps - 1)) == 0 ? ps : 0;
}

/*
 * Page 1 of a journal made fresh by this ctspool's migrations, in a
 * scratch database named ref, into *page (malloc'd, *ps bytes): of page
 * size want.  Journals are made in auto-vacuum mode (journal.c), where
 * SQLite gives a new table the page after the largest root so far: a
 * table's root page follows from the order the tables were made in,
 * which the migrations fix, not from what the journal holds.  0, or -1.
 */
static int
fresh_page1(const char *ref, unsigned want, unsigned char **page,
            unsigned *ps)
{
    char journal[4096 + 16], pragmas[128];
    unsigned char hdr[100];
    struct sp_err e;
    sqlite3 *db = NULL;
    int ok;

    *page = NULL;
    remove_copy(ref);
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA page_size = %u; PRAGMA auto_vacuum = INCREMENTAL; "
             "PRAGMA journal_mode = DELETE",
             want);
    ok = sqlite3_open_v2(ref, &db, SQLITE_OPEN_READWRITE |
                                        SQLITE_OPEN_CREATE |
                                        SQLITE_OPEN_NOMUTEX,
                         NULL) == SQLITE_OK &&
         sqlite3_exec(db, pragmas, NULL, NULL, NULL) == SQLITE_OK &&
         sp_migrate(db, &e) == CTSPOOL_OK;
    sqlite3_close(db);
    if (ok && read_start(ref, hdr, sizeof(hdr)) == 0 &&
        (*ps = header_page_size(hdr)) != 0) {
        *page = malloc(*ps);
        if (*page && read_start(ref, *page, *ps) != 0) {
            free(*page);
            *page = NULL;
        }
    }
    remove_copy(ref);
    snprintf(journal, sizeof(journal), "%s-journal", ref);
    unlink(journal);
    return *page ? 0 : -1;
}

/*
 * file's schema does not read (page 1 damaged beyond its header hdr): a
 * copy with page 1 of a fresh journal of pages of size bytes
 * (fresh_page1()) in its place, when
 * hdr still says what that page does of the tables (auto-vacuum, the
 * same largest root page): the same migrations made them, so the fresh
 * page names them at their roots.  Salvage then reads the tables as it
 * reads any damaged file.  OK, E_NOTFOUND, or an error.
 */
static ctspool_rc
open_transplanted(const char *file, const unsigned char *hdr, unsigned size,
                  const char *copy, sqlite3 **db, struct sp_err *e)
{
    char ref[4096];
    unsigned char *page = NULL;
    unsigned ps = 0;
    ctspool_rc rc = CTSPOOL_E_NOTFOUND;

    snprintf(ref, sizeof(ref), "%s-ref", copy);
    if (fresh_page1(ref, size, &page, &ps) != 0) {
        return CTSPOOL_E_NOTFOUND;
    }
    if (be32(page + 52) != 0 && memcmp(hdr + 52, page + 52, 4) == 0 &&
        memcmp(hdr + 64, page + 64, 4) == 0) {
        /* The size in the header is then ignored: the file's is used. */
        std_header(page, ps);
        rc = open_copy_with(file, copy, page, ps, db, e);
    }
    free(page);
    return rc;
}

/* The page sizes SQLite allows, this version's (journal.c) first, then
 * the 4 KiB of the journals before it. */
static const unsigned sizes[] = {8192, 4096, 1024, 2048, 16384, 32768, 65536,
                                 512};

#define N_SIZES SP_ARRAY_LEN(sizes)

/*
 * For each of sizes[], into map: does file, read with pages of that
 * size, have a pointer map for page 2?  A journal is in auto-vacuum mode
 * (journal.c), where page 2 maps the pages after it, and page 3 is a
 * table's root: an entry of type 1 (a root page) without a parent page.
 * Elsewhere those five bytes are rarely so: the header's page size
 * garbled, this tells which size the pages have.
 */
static void
ptrmap_sizes(const char *file, int map[N_SIZES])
{
    static const unsigned char root_entry[5] = {1, 0, 0, 0, 0};
    int fd = open(file, O_RDONLY | O_CLOEXEC);

    for (size_t i = 0; i < N_SIZES; i++) {
        unsigned char b[5];

        map[i] = fd >= 0 &&
                 pread(fd, b, sizeof(b), (off_t)sizes[i]) == sizeof(b) &&
                 memcmp(b, root_entry, sizeof(b)) == 0;
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* The page size file's header gives, or 0 (header_page_size()). */
static unsigned
header_size(const char *file)
{
    unsigned char h[100];

    return read_start(file, h, sizeof(h)) == 0 ? header_page_size(h) : 0;
}

/* Does map (ptrmap_sizes()) say the pages are not of the size claimed
 * (a header's; 0: none), agreeing with another size and not that one? */
static int
size_contradicted(const int map[N_SIZES], unsigned claimed)
{
    int any = 0, at_claimed = 0;

    for (size_t i = 0; i < N_SIZES; i++) {
        any |= map[i];
        at_claimed |= map[i] && sizes[i] == claimed;
    }
    return claimed && any && !at_claimed;
}

/*
 * file's schema does not read: a copy (named copy, next to the live
 * journal) opened into *db once its schema reads, tried in this order:
 *   a standard header with the page size the damaged one gives, unless
 *   the pointer map (map, ptrmap_sizes()) says otherwise;
 *   page 1 of a fresh journal of that size (open_transplanted()): the
 *   header read, the table declarations did not;
 *   a standard header, then page 1 of a fresh journal, with each other
 *   size the pointer map agrees with;
 *   a standard header with each other page size.
 * The page size the header gives comes first: another size can make a
 * garbled page 1 read as a schema whose tables are not where it says.
 * Page 1 of a fresh journal reads at any size, so it is put in only at a
 * size the pointer map agrees with (at the header's when no size does:
 * the map is damaged too); else the tables would be read at the wrong
 * size.  Sizes are tried from this version's page size (journal.c) and
 * the 4 KiB of journals before it.  OK, or E_NOTFOUND when nothing makes
 * it read.
 */
static ctspool_rc
open_repaired(const char *file, const int map[N_SIZES], const char *copy,
              sqlite3 **db, struct sp_err *e)
{
    unsigned char was[100], hdr[100];
    int has_header = read_start(file, was, sizeof(was)) == 0;
    unsigned claimed = has_header ? header_page_size(was) : 0;
    ctspool_rc rc = CTSPOOL_E_NOTFOUND;

    if (size_contradicted(map, claimed)) {
        claimed = 0;
    }
    if (claimed) {
        std_header(hdr, claimed);
        rc = open_copy_with(file, copy, hdr, sizeof(hdr), db, e);
    }
    if (rc == CTSPOOL_E_NOTFOUND && claimed) {
        rc = open_transplanted(file, was, claimed, copy, db, e);
    }
    /* Pass 0: the sizes the pointer map agrees with; 1: the others. */
    for (int pass = 0; pass < 2 && rc == CTSPOOL_E_NOTFOUND; pass++) {
        for (size_t i = 0; i < N_SIZES && rc == CTSPOOL_E_NOTFOUND; i++) {
            if (sizes[i] == claimed || map[i] != !pass) {
                continue;
            }
            std_header(hdr, sizes[i]);
            rc = open_copy_with(file, copy, hdr, sizeof(hdr), db, e);
            if (rc == CTSPOOL_E_NOTFOUND && has_header && pass == 0) {
                rc = open_transplanted(file, was, sizes[i], copy, db, e);
            }
        }
    }
    return rc;
}

/*
 * Opens file for reading: *db, and *copy (malloc'd, to be removed with
 * remove_copy()) when it is read from a copy with a repaired header.
 */
static ctspool_rc
open_scanned(struct sp_journal *live, const char *file, sqlite3 **db,
             char **copy, struct sp_err *e)
{
    struct stat sb;
    int map[N_SIZES];
    ctspool_rc rc;
    size_t n;

    *db = NULL;
    *copy = NULL;
    if (stat(file, &sb) != 0) {
        sp_err_set(e, "cannot read %s: %s", file, strerror(errno));
        return errno == ENOENT ? CTSPOOL_E_NOINPUT : CTSPOOL_E_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        sp_err_set(e, "%s is not a regular file", file);
        return CTSPOOL_E_NOINPUT;
    }
    ptrmap_sizes(file, map);
    rc = open_db(file, db, e);
    /* A larger page size than the pages' makes an intact page 1 read,
     * and every other page be read at the wrong place. */
    if (rc != CTSPOOL_OK ||
        (schema_reads(*db) && !size_contradicted(map, header_size(file)))) {
        return rc;
    }
    sqlite3_close(*db);
    *db = NULL;
    n = strlen(sp_journal_path(live)) + sizeof(".salvage-header");
    if (!(*copy = malloc(n))) {
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    snprintf(*copy, n, "%s.salvage-header", sp_journal_path(live));
    rc = open_repaired(file, map, *copy, db, e);
    if (rc == CTSPOOL_E_NOTFOUND) {
        /* Nothing reads: go on with the file itself (reads nothing). */
        free(*copy);
        *copy = NULL;
        rc = open_db(file, db, e);
    }
    return rc;
}

/*
 * Opens file for reading: twice (*db, *look: struct sv), and *copy
 * (malloc'd, to be removed with remove_copy()) when it is read from a
 * copy with a repaired header.
 */
static ctspool_rc
open_damaged(struct sp_journal *live, const char *file, sqlite3 **db,
             sqlite3 **look, char **copy, struct sp_err *e)
{
    ctspool_rc rc = open_scanned(live, file, db, copy, e);

    *look = NULL;
    if (rc == CTSPOOL_OK &&
        (rc = open_db(*copy ? *copy : file, look, e)) != CTSPOOL_OK) {
        sqlite3_close(*db);
        *db = NULL;
    }
    return rc;
}

/* A row of v->tbl: passed over when an earlier run committed it (it
 * counts as held already), else to v->tbl_fn; its key noted once done. */
static ctspool_rc
progress_row(void *ctx, sqlite3_stmt *row)
{
    struct sv *v = ctx;
    int64_t k1 = sqlite3_column_int64(row, 0);
    int64_t k2 = v->tbl_two ? sqlite3_column_int64(row, 1) : 0;
    ctspool_rc rc;

    if (v->has_from &&
        (k1 < v->from_k1 || (k1 == v->from_k1 && k2 <= v->from_k2))) {
        v->rep->present++;
        v->queue_rows += v->tbl_fn == pending_row; /* read, as before */
        return CTSPOOL_OK;
    }
    rc = v->tbl_fn(v, row);
    if (rc == CTSPOOL_OK) {
        v->has_done = 1;
        v->done_k1 = k1;
        v->done_k2 = k2;
    }
    return rc;
}

/*
 * Reads one table of the damaged file in key order (struct scan: two,
 * k1_max, rows_sql, probe_sql), each row to fn; counts the damaged
 * places skipped.  tbl (NULL: none): the table's name for the progress
 * the live journal keeps (progress_save()); the items an earlier run
 * committed are passed over.
 */
static ctspool_rc
scan_table(struct sv *v, const char *tbl, int two, int64_t k1_max,
           const char *rows_sql, const char *probe_sql, row_fn fn)
{
    struct scan sc;
    ctspool_rc rc;

    v->tbl = NULL;
    v->has_done = v->has_from = 0;
    if (tbl) {
        char key[96], *answer = NULL;
        long long a, b;
        int64_t at;

        progress_key(v, tbl, key, sizeof(key));
        rc = sp_journal_idem_get(v->live, key, 0, &answer, &at);
        if (rc == CTSPOOL_OK && sscanf(answer, "%lld %lld", &a, &b) == 2) {
            v->has_from = 1;
            v->from_k1 = a;
            v->from_k2 = b;
        }
        free(answer);
        if (rc != CTSPOOL_OK && rc != CTSPOOL_E_NOTFOUND) {
            return live_fail(v, rc);
        }
        v->tbl = tbl;
        v->tbl_fn = fn;
        v->tbl_two = two;
        fn = progress_row;
    }
    memset(&sc, 0, sizeof(sc));
    sc.db = v->db;
    sc.two = two;
    sc.k1_max = k1_max;
    sc.rows_sql = rows_sql;
    sc.probe_sql = probe_sql;
    sc.k1 = INT64_MIN;
    sc.k2 = two ? INT64_MIN : 0;
    rc = scan_run(&sc, fn, v, v->e);
    v->rep->damaged_ranges += sc.skips;
    if (rc == CTSPOOL_OK) {
        rc = progress_save(v); /* the open transaction may take others */
    }
    v->tbl = NULL;
    return rc;
}

/*
 * The salvage lock of live's journal (see the top), as an fd to close
 * when done; -1 with e set (E_LOCKED in *rc when another run holds it).
 * It is taken as the drainer's lock is (sp_lock_take), so the service
 * users can take it in turn.
 */
static int
salvage_lock(struct sp_journal *live, ctspool_rc *rc, struct sp_err *e)
{
    char path[PATH_MAX];
    enum sp_lock_step failed;
    int fd, err;

    if ((size_t)snprintf(path, sizeof(path), "%s-salvage.lock",
                         sp_journal_path(live)) >= sizeof(path)) {
        sp_err_set(e, "journal path too long for its salvage lock");
        *rc = CTSPOOL_E_CANTCREATE;
        return -1;
    }
    fd = sp_lock_take(path, sp_journal_path(live), &failed);
    if (fd >= 0) {
        return fd;
    }
    err = errno;
    *rc = failed == SP_LOCK_FLOCK ? CTSPOOL_E_IO : CTSPOOL_E_CANTCREATE;
    if (failed == SP_LOCK_FLOCK && err == EWOULDBLOCK) {
        sp_err_set(e,
                   "another salvage into journal %s is running (%s held); "
                   "run this one again once it is done",
                   sp_journal_path(live), path);
        *rc = CTSPOOL_E_LOCKED;
    } else {
        sp_err_set(e, "cannot %s the salvage lock %s: %s",
                   failed == SP_LOCK_OPEN    ? "open"
                   : failed == SP_LOCK_ADOPT ? "give the journal's owner to"
                                             : "take",
                   path, strerror(err));
    }
    return -1;
}

static ctspool_rc
salvage_locked(struct sp_journal *live, const char *file, size_t txn_items,
               struct sp_salvage_report *rep, struct sp_err *e)
{
    uint64_t mem0 = sp_memwatch_failures();
    struct sv v;
    int64_t expect_pending;
    char *copy = NULL;
    ctspool_rc rc;

    memset(rep, 0, sizeof(*rep));
    memset(&v, 0, sizeof(v));
    sp_jscan_init(&v.ev_scan);
    v.live = live;
    v.since_grp = INT64_MIN; /* none read yet (events are group -1) */
    v.txn_items = txn_items ? txn_items : 500;
    v.rep = rep;
    v.e = e;
    rc = open_damaged(live, file, &v.db, &v.look, &copy, e);
    if (rc != CTSPOOL_OK) {
        sp_jscan_cleanup(&v.ev_scan);
        if (copy) {
            remove_copy(copy);
            free(copy);
        }
        return rc;
    }
    expect_pending = meta_int(v.db, "pending");
    {
        struct stat sb;

        if (stat(file, &sb) == 0) {
            v.file_dev = (uint64_t)sb.st_dev;
            v.file_ino = (uint64_t)sb.st_ino;
            v.file_mtime = sb.st_mtim;
        }
    }

    rc = scan_table(&v, NULL, 0, 0,
                    "SELECT id, stream, agg FROM grp WHERE id > ?1 "
                    "ORDER BY id LIMIT ?3",
                    "SELECT id FROM grp WHERE id > ?1 ORDER BY id LIMIT 1",
                    grp_row);
    if (rc == CTSPOOL_OK && v.n_grps &&
        sqlite3_prepare_v2(v.look,
                           "SELECT grp, metric_name, dims FROM series "
                           "WHERE id = ?1",
                           -1, &v.series_get, NULL) != SQLITE_OK) {
        drop_grps(&v); /* no series: no item can be rebuilt */
    }
    /* The point rows (point_sql: the mark is absent before schema 0009,
     * the Average parts before 0005, or either is unreadable), the times
     * written. */
    if (rc == CTSPOOL_OK && v.n_grps) {
        v.point_get = prepare_first(v.look, point_sql,
                                    SP_ARRAY_LEN(point_sql));
        if (sqlite3_prepare_v2(v.look,
                               "SELECT at FROM seqtime WHERE seq <= ?1 "
                               "ORDER BY seq DESC LIMIT 1",
                               -1, &v.seqtime_get, NULL) != SQLITE_OK) {
            v.seqtime_get = NULL;
        }
        if (sqlite3_prepare_v2(v.look,
                               "SELECT since FROM grp_pending WHERE grp = ?1",
                               -1, &v.since_get, NULL) != SQLITE_OK) {
            v.since_get = NULL;
        }
        if (sqlite3_prepare_v2(v.look,
                               "SELECT 1 FROM queue WHERE grp = ?1 AND "
                               "seq = ?2",
                               -1, &v.queue_get, NULL) != SQLITE_OK) {
            v.queue_get = NULL;
        }
    }
    if (rc == CTSPOOL_OK && v.n_grps) {
        rc = scan_table(&v, "queue", 1, v.grps[v.n_grps - 1].id,
                        "SELECT grp, seq, hour, series, value FROM queue "
                        "WHERE (grp, seq) > (?1, ?2) ORDER BY grp, seq "
                        "LIMIT ?3",
                        "SELECT grp, seq FROM queue WHERE (grp, seq) > "
                        "(?1, ?2) ORDER BY grp, seq LIMIT 1",
                        pending_row);
    }
    if (rc == CTSPOOL_OK && v.n_grps) {
        /* Absent before schema 0008: the scan then reads nothing. */
        rc = scan_table(&v, "resend", 1, HOUR_END,
                        "SELECT r.hour, r.series, p.value FROM resend r "
                        "LEFT JOIN point p ON p.hour = r.hour AND "
                        "p.series = r.series WHERE (r.hour, r.series) > "
                        "(?1, ?2) ORDER BY r.hour, r.series LIMIT ?3",
                        "SELECT hour, series FROM resend WHERE (hour, "
                        "series) > (?1, ?2) ORDER BY hour, series LIMIT 1",
                        resend_row);
    }
    if (rc == CTSPOOL_OK && v.n_grps) {
        rc = scan_table(&v, "dead", 0, 0,
                        has_column(v.db, "dead", "folded")
                            ? "SELECT id, hour, series, value, status, "
                              "body, dead_at, avg_sum, avg_n, folded FROM "
                              "dead WHERE id > ?1 ORDER BY id LIMIT ?3"
                            : "SELECT id, hour, series, value, status, "
                              "body, dead_at, NULL, NULL, NULL FROM dead "
                              "WHERE id > ?1 ORDER BY id LIMIT ?3",
                        "SELECT id FROM dead WHERE id > ?1 ORDER BY id "
                        "LIMIT 1",
                        dead_row);
    }
    if (rc == CTSPOOL_OK) {
        rc = live_commit(&v);
    } else if (v.in_txn) {
        sp_journal_rollback(live); /* the last run is not counted */
    }
    /* is_damage() took each "out of memory" for damage; with the counter
     * on (memwatch.c), an allocation that failed meanwhile says some may
     * have been a real shortage: what was added stays, and the file must
     * be read again (adding nothing twice), not set aside as done. */
    if (rc == CTSPOOL_OK && sp_memwatch_failures() != mem0) {
        sp_err_set(e,
                   "ran out of memory reading %s: places may have been "
                   "skipped for it; salvage it again",
                   file);
        rc = CTSPOOL_E_NOMEM;
        progress_forget(&v);
    }
    /* Pending rows the damaged file counted but the scan never reached
     * (those it read but could not use are in rep->unreadable already). */
    if (expect_pending >= 0) {
        rep->pending_expected = expect_pending;
        if ((uint64_t)expect_pending > v.queue_rows) {
            rep->unreadable += (uint64_t)expect_pending - v.queue_rows;
        }
    } else {
        rep->pending_expected = -1;
    }
    /* Groups read but none of the items the file holds: nothing. */
    rep->read_anything = v.n_grps > 0 &&
                         (rep->pending || rep->dead || rep->present ||
                          !rep->unreadable);
    drop_grps(&v);
    free(v.grps);
    sp_jscan_cleanup(&v.ev_scan);
    sqlite3_finalize(v.series_get);
    sqlite3_finalize(v.point_get);
    sqlite3_finalize(v.seqtime_get);
    sqlite3_finalize(v.since_get);
    sqlite3_finalize(v.queue_get);
    sqlite3_close(v.look);
    sqlite3_close(v.db);
    if (copy) {
        remove_copy(copy);
        free(copy);
    }
    return rc;
}

ctspool_rc
sp_salvage(struct sp_journal *live, const char *file, size_t txn_items,
           struct sp_salvage_report *rep, struct sp_err *e)
{
    ctspool_rc rc = CTSPOOL_OK;
    int fd;

    memset(rep, 0, sizeof(*rep));
    fd = salvage_lock(live, &rc, e);
    if (fd < 0) {
        return rc;
    }
    rc = salvage_locked(live, file, txn_items, rep, e);
    close(fd); /* and the lock with it */
    return rc;
}

void
sp_salvage_describe(const struct sp_salvage_report *rep, char *buf,
                    size_t n)
{
    char again[64] = "", folded[96] = "";

    if (rep->resend) {
        snprintf(again, sizeof(again), " (%llu of them to send again)",
                 (unsigned long long)rep->resend);
    }
    if (rep->folded) {
        snprintf(folded, sizeof(folded),
                 "; %llu folded into values observed since",
                 (unsigned long long)rep->folded);
    }
    snprintf(buf, n,
             "recovered %llu pending point%s%s and %llu dead letter%s%s; "
             "%llu already in the journal; %llu could not be read (%llu "
             "damaged place%s skipped)",
             (unsigned long long)rep->pending, rep->pending == 1 ? "" : "s",
             again, (unsigned long long)rep->dead, rep->dead == 1 ? "" : "s",
             folded, (unsigned long long)rep->present,
             (unsigned long long)rep->unreadable,
             (unsigned long long)rep->damaged_ranges,
             rep->damaged_ranges == 1 ? "" : "s");
}
