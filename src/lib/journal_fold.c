/*
 * journal_fold.c -- accumulate mode (DESIGN.md section 10):
 * sp_journal_fold folds an observation into the value of its identity by
 * the aggregation function.
 *
 * The folds of a transaction are held in memory, one entry per identity
 * (hour, series), and their rows are written once: at commit, before any
 * put that is not a fold (it may read or write the same rows), and when
 * FOLD_MAX identities are held.  Under load
 * many folds of one identity fall into one transaction (serve's group
 * commit, an append of a log file); each then costs a hash lookup instead
 * of a row lookup, a queue delete, a row update and a queue insert.
 *
 * What a caller sees is what folding row by row gave: each fold's result
 * (NEW, UPDATED, UNCHANGED), the counters (pending, points, appended) and
 * limits.max_pending_points are settled at the fold; only the rows wait.
 * A value the transaction changed gets one new version (invariants 2 and
 * 3: a new seq, the old one leaves the queue), even when the last fold
 * brought it back to the stored value: row by row it got one too.
 *
 * Savepoints (serve: one per request): the first change of an entry
 * after a savepoint, a write included, copies it into the undo log; an
 * entry first held after it is logged as new (until the entries are
 * written and forgotten: SQLite then undoes their rows).  Rolling back to
 * the savepoint restores them, as SQLite restores the rows written since.
 * Memory: at most FOLD_MAX entries, and as many copies.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "journal_int.h"

#define FOLD_MAX 8192u     /* identities held at most */
#define FOLD_MIN_CAP 1024u /* slots of a new table (a power of two) */

struct fold_ent {
    int used;
    int in_db;       /* the point has a row (as SQLite holds it now) */
    int versioned;   /* a fold changed the value: a new version is due
                      * (and the stored one left the queue) */
    int parts_moved; /* an Average's parts changed, its value did not */
    int has_avg;     /* avg holds the Average parts (else: value, 1) */
    int64_t hour, series, grp;
    int64_t db_seq; /* the row's seq */
    double value;   /* what the folds left */
    struct sp_avg avg;
    uint64_t sv; /* fold_sv when its undo record was written (0: never) */
};

struct fold_undo {
    int was_new; /* not held at the savepoint: forget it */
    struct fold_ent e; /* else: what it was then */
};

/* ---- the table ------------------------------------------------------- */

/* An entry's place in the order of writing: by (hour, series), as the
 * rows lie. */
struct fold_key {
    int64_t hour, series;
    size_t slot;
};

static int
by_key(const void *a, const void *b)
{
    const struct fold_key *x = a, *y = b;

    if (x->hour != y->hour) {
        return x->hour < y->hour ? -1 : 1;
    }
    return x->series < y->series ? -1 : x->series > y->series;
}

static size_t
slot_of(const struct sp_journal *j, int64_t hour, int64_t series)
{
    uint64_t h = (uint64_t)hour * 0x9e3779b97f4a7c15ull ^
                 (uint64_t)series * 0xc2b2ae3d27d4eb4full;

    h ^= h >> 29;
    return (size_t)h & (j->fold_cap - 1);
}

/* The slot of (hour, series): held there, or the free one it would take.
 * The table has a free slot (at most half full). */
static size_t
find(const struct sp_journal *j, int64_t hour, int64_t series)
{
    size_t i = slot_of(j, hour, series);

    while (j->fold[i].used &&
           (j->fold[i].hour != hour || j->fold[i].series != series)) {
        i = (i + 1) & (j->fold_cap - 1);
    }
    return i;
}

/* Room for one more entry: the table grows to stay at most half full,
 * and the order of writing (sp_jn_fold_settle) with it.  SQLITE_OK or
 * SQLITE_NOMEM. */
static int
reserve(struct sp_journal *j)
{
    struct fold_ent *old = j->fold;
    size_t old_cap = j->fold_cap, cap;
    struct fold_key *order;

    if ((j->fold_n + 1) * 2 <= j->fold_cap) {
        return SQLITE_OK;
    }
    cap = old_cap ? old_cap * 2 : FOLD_MIN_CAP;
    order = realloc(j->fold_order, cap / 2 * sizeof(*order));
    if (!order) {
        return SQLITE_NOMEM;
    }
    j->fold_order = order;
    j->fold = calloc(cap, sizeof(*j->fold));
    if (!j->fold) {
        j->fold = old;
        return SQLITE_NOMEM;
    }
    j->fold_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].used) {
            j->fold[find(j, old[i].hour, old[i].series)] = old[i];
        }
    }
    free(old);
    return SQLITE_OK;
}

/* Takes the entry at slot i out (linear probing: the entries after it in
 * its run move back where their own slot allows). */
static void
slot_clear(struct sp_journal *j, size_t i)
{
    size_t mask = j->fold_cap - 1;

    j->fold[i].used = 0;
    j->fold_n--;
    for (size_t k = (i + 1) & mask; j->fold[k].used; k = (k + 1) & mask) {
        size_t home = slot_of(j, j->fold[k].hour, j->fold[k].series);

        /* k's entry may fill i unless its home lies cyclically in (i, k]. */
        if (i <= k ? (home <= i || home > k) : (home <= i && home > k)) {
            j->fold[i] = j->fold[k];
            j->fold[k].used = 0;
            i = k;
        }
    }
}

/* Frees the table and the order of writing (reserve() makes them anew). */
static void
fold_free_table(struct sp_journal *j)
{
    free(j->fold);
    free(j->fold_order);
    j->fold = NULL;
    j->fold_order = NULL;
    j->fold_cap = 0;
}

/* ---- the undo log ---------------------------------------------------- */

static int
undo_push(struct sp_journal *j, int was_new, const struct fold_ent *e)
{
    struct fold_undo *u;

    if (j->fold_undo_n == j->fold_undo_cap) {
        size_t cap = j->fold_undo_cap ? j->fold_undo_cap * 2 : 64;

        u = realloc(j->fold_undo, cap * sizeof(*u));
        if (!u) {
            return SQLITE_NOMEM;
        }
        j->fold_undo = u;
        j->fold_undo_cap = cap;
    }
    u = &j->fold_undo[j->fold_undo_n++];
    u->was_new = was_new;
    u->e = *e;
    return SQLITE_OK;
}

/* Before entry e changes: its undo record, once per savepoint. */
static int
note_change(struct sp_journal *j, struct fold_ent *e)
{
    int r;

    if (!j->in_savepoint || e->sv == j->fold_sv) {
        return SQLITE_OK;
    }
    r = undo_push(j, 0, e);
    if (r == SQLITE_OK) {
        e->sv = j->fold_sv;
    }
    return r;
}

/* ---- writing the rows ------------------------------------------------ */

/* Writes what the folds made of entry e (a no-op when nothing). */
static int
write_ent(struct sp_journal *j, struct fold_ent *e)
{
    const struct sp_avg *avg = e->has_avg ? &e->avg : NULL;
    int r;

    if (!e->in_db || e->versioned) {
        /* A fold keeps the row's mark; a new row is folded from
         * nothing. */
        r = sp_jn_point_write(j, e->in_db ? ST_PT_UPD : ST_PT_INS_AVG, e->grp,
                              e->hour, e->series, e->value, avg,
                              e->in_db ? SP_MARK_KEEP : SP_MARK_SET);
        if (r != SQLITE_OK) {
            return r;
        }
        e->in_db = 1;
        e->db_seq = j->next_seq - 1;
    } else if (e->parts_moved) {
        /* The value to upload stays: no new version, only the parts. */
        r = sp_jn_point_parts(j, e->hour, e->series, avg, SP_MARK_KEEP);
        if (r != SQLITE_OK) {
            return r;
        }
    }
    e->versioned = e->parts_moved = 0;
    return SQLITE_OK;
}

/* Logs (in a savepoint) and writes entry e when it has changes. */
static int
settle_ent(struct sp_journal *j, struct fold_ent *e)
{
    int r;

    if (!e->versioned && !e->parts_moved && e->in_db) {
        return SQLITE_OK;
    }
    r = note_change(j, e);
    return r == SQLITE_OK ? write_ent(j, e) : r;
}

int
sp_jn_fold_settle(struct sp_journal *j)
{
    struct fold_key *order = j->fold_order;
    size_t n = 0;
    int r = SQLITE_OK;

    if (!j->fold_n) {
        return SQLITE_OK;
    }
    /* In key order the rows go where the last one went; in the table's
     * order they would be spread over the whole index. */
    for (size_t i = 0; i < j->fold_cap; i++) {
        if (j->fold[i].used) {
            order[n].hour = j->fold[i].hour;
            order[n].series = j->fold[i].series;
            order[n++].slot = i;
        }
    }
    qsort(order, n, sizeof(*order), by_key);
    for (size_t i = 0; i < n && r == SQLITE_OK; i++) {
        r = settle_ent(j, &j->fold[order[i].slot]);
    }
    if (r != SQLITE_OK) {
        return r; /* the caller rolls back */
    }
    if (j->fold_cap > FOLD_MIN_CAP && n < j->fold_cap / 16) {
        /* A large transaction is over: small ones need a small table
         * (it is scanned at every commit). */
        fold_free_table(j);
    } else {
        for (size_t i = 0; i < n; i++) {
            j->fold[order[i].slot].used = 0;
        }
    }
    j->fold_n = 0;
    if (j->in_savepoint) {
        /* Entries first held since the savepoint are no longer held;
         * what they wrote, SQLite undoes.  The copies stay. */
        size_t k = 0;

        for (size_t i = 0; i < j->fold_undo_n; i++) {
            if (!j->fold_undo[i].was_new) {
                j->fold_undo[k++] = j->fold_undo[i];
            }
        }
        j->fold_undo_n = k;
    }
    return r;
}

ctspool_rc
sp_jn_folds_written(struct sp_journal *j)
{
    int r = sp_jn_fold_settle(j);

    return r == SQLITE_OK ? CTSPOOL_OK : sp_jn_db_fail(j, r, "fold");
}

/* ---- the transaction ------------------------------------------------- */

void
sp_jn_fold_savepoint(struct sp_journal *j)
{
    assert(!j->in_savepoint);
    j->fold_sv++;
    j->fold_undo_n = 0;
}

void
sp_jn_fold_release(struct sp_journal *j)
{
    j->fold_undo_n = 0;
}

int
sp_jn_fold_rollback_to(struct sp_journal *j)
{
    while (j->fold_undo_n) {
        const struct fold_undo *u = &j->fold_undo[--j->fold_undo_n];
        size_t i;

        /* Each step goes back to a state the table held before, so it
         * does not grow; if it had to and could not, the folds before
         * the savepoint are lost with the whole transaction. */
        if (reserve(j) != SQLITE_OK) {
            return SQLITE_NOMEM;
        }
        i = find(j, u->e.hour, u->e.series);
        if (u->was_new) {
            if (j->fold[i].used) {
                slot_clear(j, i);
            }
            continue;
        }
        if (!j->fold[i].used) {
            j->fold_n++;
        }
        j->fold[i] = u->e;
    }
    return SQLITE_OK;
}

void
sp_jn_fold_reset(struct sp_journal *j)
{
    if (j->fold_n) {
        memset(j->fold, 0, j->fold_cap * sizeof(*j->fold));
        j->fold_n = 0;
    }
    j->fold_undo_n = 0;
}

void
sp_jn_fold_free(struct sp_journal *j)
{
    fold_free_table(j);
    free(j->fold_undo);
    j->fold_undo = NULL;
    j->fold_n = j->fold_undo_n = j->fold_undo_cap = 0;
}

/* ---- folding --------------------------------------------------------- */

int
sp_jn_fold_merge(int agg, double base, const struct sp_avg *base_avg,
                 double later, const struct sp_avg *later_avg,
                 struct sp_folded *f)
{
    memset(f, 0, sizeof(*f));
    switch (agg) {
    case SP_AGG_SUM:
        f->value = base + later;
        break;
    case SP_AGG_MAXIMUM:
        f->value = later > base ? later : base;
        break;
    case SP_AGG_MINIMUM:
        f->value = later < base ? later : base;
        break;
    default: /* Average: keeps sum and count */
        f->has_avg = 1;
        f->avg.sum = (base_avg ? base_avg->sum : base) +
                     (later_avg ? later_avg->sum : later);
        f->avg.n = (base_avg ? base_avg->n : 1) + (later_avg ? later_avg->n : 1);
        f->value = f->avg.sum / (double)f->avg.n;
        break;
    }
    return isfinite(f->value) && (!f->has_avg || isfinite(f->avg.sum)) ? 0
                                                                      : -1;
}

/*
 * Folds observation v of aggregation function agg into entry e's value
 * (an Average's parts: e->avg when e->has_avg, else value, 1) into *f.
 * E_INVALID (j->err) when the result is not finite.
 */
static ctspool_rc
fold(struct sp_journal *j, int agg, const struct fold_ent *e, double v,
     struct sp_folded *f)
{
    double old = e->value;

    if (sp_jn_fold_merge(agg, old, e->has_avg ? &e->avg : NULL, v, NULL,
                         f) != 0) {
        char a[32], b[32];

        sp_double_format(v, a, sizeof(a));
        sp_double_format(f->has_avg && e->has_avg ? e->avg.sum : old, b,
                         sizeof(b));
        sp_err_set(&j->err,
                   "metric_value: folding %s into the stored %s%s (%s) "
                   "gives a number that is not finite",
                   a, f->has_avg ? "sum " : "", b, sp_agg_name(agg));
        return CTSPOOL_E_INVALID;
    }
    return CTSPOOL_OK;
}

/*
 * The entry of rv's identity, *slot: held already, or read from its row
 * and held now.  Without a row the observation is the value: the entry
 * is held as a new point (*res NEW: the fold is done, *slot unset).
 */
static ctspool_rc
hold(struct sp_journal *j, const struct sp_resolved *rv, size_t *slot,
     enum sp_put_result *res, int *done)
{
    struct sp_row row = {0, 0, 0, 0, 0, 0};
    struct fold_ent e;
    ctspool_rc rc;
    int r;

    *done = 0;
    if (j->fold_cap) {
        *slot = find(j, rv->hour, rv->series);
        if (j->fold[*slot].used) {
            return CTSPOOL_OK;
        }
    }
    memset(&e, 0, sizeof(e));
    e.used = 1;
    e.hour = rv->hour;
    e.series = rv->series;
    e.grp = rv->grp;
    r = sp_jn_load_row(j, rv->hour, rv->series, &row);
    if (r == SQLITE_DONE) {
        rc = sp_jn_pending_one_more(j);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
        e.value = rv->value;
    } else if (r == SQLITE_ROW) {
        e.in_db = 1;
        e.db_seq = row.seq;
        e.value = row.value;
        e.has_avg = row.had_avg;
        e.avg.sum = row.sum;
        e.avg.n = row.n;
    }
    if (r == SQLITE_ROW || r == SQLITE_DONE) {
        r = reserve(j);
    }
    if (r == SQLITE_OK && j->in_savepoint) {
        e.sv = j->fold_sv;
        r = undo_push(j, 1, &e);
    }
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "point lookup");
    }
    *slot = find(j, rv->hour, rv->series);
    j->fold[*slot] = e;
    j->fold_n++;
    if (!e.in_db) {
        sp_jn_count_new(j);
        *res = SP_PUT_NEW;
        *done = 1;
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_journal_fold(struct sp_journal *j, const struct sp_point *p,
                enum sp_put_result *res)
{
    struct sp_resolved rv;
    struct fold_ent *e;
    struct sp_folded f;
    size_t slot = 0;
    ctspool_rc rc;
    int done = 0, changed, r;

    if (j->fold_n >= FOLD_MAX) {
        r = sp_jn_fold_settle(j);
        if (r != SQLITE_OK) {
            return sp_jn_db_fail(j, r, "fold");
        }
    }
    rc = sp_journal_resolve(j, p, &rv);
    if (rc == CTSPOOL_OK) {
        rc = hold(j, &rv, &slot, res, &done);
    }
    if (rc != CTSPOOL_OK || done) {
        return rc;
    }
    e = &j->fold[slot];
    rc = fold(j, p->agg, e, p->value, &f);
    if (rc != CTSPOOL_OK) {
        return rc; /* nothing changed */
    }
    changed = f.value != e->value;
    if (!changed && !f.has_avg && !e->has_avg) {
        *res = SP_PUT_UNCHANGED;
        return CTSPOOL_OK;
    }
    r = note_change(j, e);
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "fold");
    }
    if (changed && e->in_db && !e->versioned) {
        /* The stored version leaves the queue now, as row by row. */
        rc = sp_jn_unqueue(j, e->grp, e->db_seq);
        if (rc != CTSPOOL_OK) {
            return rc; /* E_FULL: nothing changed */
        }
    }
    *res = changed ? SP_PUT_UPDATED : SP_PUT_UNCHANGED;
    if (changed) {
        e->versioned = 1;
        j->appended++;
    } else {
        e->parts_moved = 1;
    }
    e->value = f.value;
    e->has_avg = f.has_avg;
    e->avg = f.avg;
    return CTSPOOL_OK;
}
