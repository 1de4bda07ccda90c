/*
 * journal_dlq.c -- dead letters brought back (`dlq requeue`) or dropped
 * (`dlq purge`).  A call naming letters is one transaction (invariant 4
 * of journal.c).  A call for all of them (--all, which operators run
 * when everything landed in the dead letters: millions of letters) is
 * one transaction per DLQ_CHUNK_MS of work or DLQ_CHUNK letters,
 * whichever comes first, in ID order, with a pause between two, so that
 * serve's and the drainer's commits go on meanwhile (one transaction
 * held serve's producers and /healthz for 11 s per 400,000 letters).
 * Each commit costs an fsync and a checkpoint's share: 2,000 letters a
 * transaction (about 50 ms) made a call 1.5 to 1.9 times slower; at
 * 250 ms it took as long as one transaction.  Between two chunks every
 * letter not yet reached is still dead, and carry() has moved what the
 * letters already taken hold into their identity's later letters: the
 * journal is what a call for the letters taken so far leaves, and a
 * call cut short is finished by running it again.  Letters that die
 * while it runs are left for the next call (it stops at the highest ID
 * there was when it began).
 *
 * Letters of one identity brought back by one call are first made one,
 * in the order they died (ID order): each is carried into the next one
 * (carry()), which replaces it, or, folded from nothing (accumulate
 * mode, schema 0009), folds onto it and takes its mark "folded from
 * nothing".  The last one carries them all and meets the point row.
 *
 * A letter whose identity has no point row becomes pending with its
 * value, its Average parts and its mark.  Where the identity has a row,
 * the row was written after the letter died (dead-lettering deletes the
 * row), and the two meet by how the row came to be:
 *
 *   folded from nothing    it does not hold the letter's observations:
 *                          the two are folded, the letter first;
 *   a replace set it       it is newer and stays; the letter is dropped
 *                          (invariant 2: the newer value wins).
 *
 * Events (their value is 0, nothing to fold) keep the row, as before.
 *
 * A letter that cannot come back (E_INVALID: folded with its identity's
 * later letter or row, the result is not finite) is refused by meet() or
 * carry() before anything of it is written.  A call naming letters fails
 * whole; a call for all leaves it dead, names it (sp_dlq_left_cb) and
 * goes on, so that one such letter never stops every later call at the
 * same place.  Left behind, it is an older letter of its identity, which
 * a later call brings back onto what the others left.
 *
 * A row brought back by an earlier call from an older letter would count
 * as newer than the letters of its identity left behind (nothing records
 * where a row came from), so a call that would leave a newer letter of
 * an identity behind is refused: letters of one identity come back
 * together, or the newer ones first.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal_int.h"

#define DLQ_CHUNK_MS 250 /* a transaction of a call for all, at most */
#define DLQ_CHUNK 10000  /* and its letters at most (as compaction's) */
/* Between two of them: longer than a waiting writer's nap between tries
 * (journal_busy.c), so that it finds the lock free. */
#define DLQ_PAUSE_NS 3000000L

/* A dead letter as requeue reads it. */
struct letter {
    int64_t hour, series, grp;
    int gone; /* its series or group is gone: it can only go */
    int agg;
    double value;
    int folded, has_avg;
    struct sp_avg avg;
};

/* Dead letter id into *d: SQLITE_ROW, SQLITE_DONE (no such letter), or an
 * error. */
static int
letter_load(struct sp_journal *j, int64_t id, struct letter *d)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(
        j->db,
        "SELECT d.hour, d.series, s.grp, g.agg, d.value, d.folded, "
        "d.avg_sum, d.avg_n FROM dead d LEFT JOIN series s ON "
        "s.id = d.series LEFT JOIN grp g ON g.id = s.grp WHERE d.id = ?1",
        -1, &s, NULL);

    memset(d, 0, sizeof(*d));
    if (r == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        r = sqlite3_step(s);
    }
    if (r == SQLITE_ROW) {
        d->hour = sqlite3_column_int64(s, 0);
        d->series = sqlite3_column_int64(s, 1);
        /* Group IDs start at 0 after an event (the events group is -1):
         * only NULL says gone. */
        d->gone = sqlite3_column_type(s, 2) == SQLITE_NULL ||
                  sqlite3_column_type(s, 3) == SQLITE_NULL;
        d->grp = sqlite3_column_int64(s, 2);
        d->agg = sqlite3_column_int(s, 3);
        d->value = sqlite3_column_double(s, 4);
        d->folded = sqlite3_column_int(s, 5) == 1;
        d->has_avg = sqlite3_column_type(s, 7) == SQLITE_INTEGER &&
                     sqlite3_column_int64(s, 7) >= 1;
        d->avg.sum = sqlite3_column_double(s, 6);
        d->avg.n = sqlite3_column_int64(s, 7);
    }
    sqlite3_finalize(s);
    return r;
}

/* Deletes dead letter id: OK, E_NOTFOUND (j->err: no such letter), or a
 * journal error. */
static ctspool_rc
letter_delete(struct sp_journal *j, int64_t id)
{
    int del = 0;
    ctspool_rc rc = sp_jn_exec_id(j, "DELETE FROM dead WHERE id = ?1", id, 0,
                                  &del);

    if (rc == CTSPOOL_OK && !del) {
        sp_err_set(&j->err, "no dead letter with ID %lld", (long long)id);
        return CTSPOOL_E_NOTFOUND;
    }
    return rc;
}

static enum sp_fold_mark
mark_of(int folded)
{
    return folded ? SP_MARK_SET : SP_MARK_CLEAR;
}

/* The letter d (the last of its identity in this call: carry()) and the
 * row of its identity meet (see the top). */
static ctspool_rc
meet(struct sp_journal *j, int64_t id, const struct letter *d,
     const struct sp_row *row)
{
    ctspool_rc rc;

    if (d->agg == SP_KIND_EVENTS) {
        return CTSPOOL_OK;
    }
    /* Written after the letter died, never by this call: a letter of
     * this identity before d was carried into d, not into the row. */
    assert(row->seq < j->first_seq);
    if (!row->folded) {
        return CTSPOOL_OK;
    }
    rc = sp_jn_fold_under_row(j, d->grp, d->hour, d->series, row, d->agg,
                              d->value, d->has_avg ? &d->avg : NULL,
                              mark_of(d->folded));
    if (rc == CTSPOOL_E_INVALID) {
        sp_err_set(&j->err,
                   "dead letter %lld: folding it with the stored value "
                   "gives a number that is not finite",
                   (long long)id);
    }
    return rc;
}

/* Dead letter id's value becomes f's, with f's parts and the mark
 * folded: SQLITE_OK or an error. */
static int
letter_write(struct sp_journal *j, int64_t id, const struct sp_folded *f,
             int folded)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(j->db,
                               "UPDATE dead SET value = ?2, avg_sum = ?3, "
                               "avg_n = ?4, folded = ?5 WHERE id = ?1",
                               -1, &s, NULL);

    if (r == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_double(s, 2, f->value);
        if (f->has_avg) {
            sqlite3_bind_double(s, 3, f->avg.sum);
            sqlite3_bind_int64(s, 4, f->avg.n);
        }
        sqlite3_bind_int(s, 5, folded);
        r = sqlite3_step(s);
        r = r == SQLITE_DONE ? SQLITE_OK : r;
    }
    sqlite3_finalize(s);
    return r;
}

/*
 * Letter id (d) into next_id, the next letter of its identity (see the
 * top): that one holds d's observations when it was folded from
 * nothing, else it replaced d.  OK, E_INVALID (a fold that is not
 * finite) or a journal error.
 */
static ctspool_rc
carry(struct sp_journal *j, int64_t id, const struct letter *d,
      int64_t next_id)
{
    struct letter next;
    struct sp_folded f;
    int r;

    r = letter_load(j, next_id, &next);
    if (r != SQLITE_ROW) {
        return sp_jn_db_fail(j, r, "dead letters");
    }
    if (!next.folded) {
        return CTSPOOL_OK; /* it replaced d */
    }
    if (sp_jn_fold_merge(d->agg, d->value, d->has_avg ? &d->avg : NULL,
                         next.value, next.has_avg ? &next.avg : NULL,
                         &f) != 0) {
        sp_err_set(&j->err,
                   "dead letter %lld: folding it with dead letter %lld "
                   "gives a number that is not finite",
                   (long long)id, (long long)next_id);
        return CTSPOOL_E_INVALID;
    }
    r = letter_write(j, next_id, &f, d->folded);
    return r == SQLITE_OK ? CTSPOOL_OK : sp_jn_db_fail(j, r, "requeue");
}

/* The IDs of one call, sorted and unique; NULL: every dead letter. */
struct dlq_set {
    const int64_t *ids;
    size_t n;
};

static int
cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/*
 * The letters of d's identity that died after letter id: the first into
 * *next, and the first that set leaves out into *left (0: none; set
 * NULL: the call takes every letter).  SQLITE_OK or an error.
 */
static int
later_letters(struct sp_journal *j, int64_t id, const struct letter *d,
              const struct dlq_set *set, int64_t *next, int64_t *left)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(j->db,
                               "SELECT id FROM dead WHERE series = ?1 AND "
                               "hour = ?2 AND id > ?3 ORDER BY id",
                               -1, &s, NULL);

    *next = *left = 0;
    if (r == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, d->series);
        sqlite3_bind_int64(s, 2, d->hour);
        sqlite3_bind_int64(s, 3, id);
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t other = sqlite3_column_int64(s, 0);

            if (!*next) {
                *next = other;
            }
            if (!set) {
                break;
            }
            if (!bsearch(&other, set->ids, set->n, sizeof(*set->ids),
                         cmp_id)) {
                *left = other;
                break;
            }
        }
        r = r == SQLITE_ROW || r == SQLITE_DONE ? SQLITE_OK : r;
    }
    sqlite3_finalize(s);
    return r;
}

static ctspool_rc
requeue_one(struct sp_journal *j, int64_t id, const struct dlq_set *set,
            uint64_t *count)
{
    struct letter d;
    struct sp_row row;
    int64_t next = 0, newer = 0;
    ctspool_rc rc;
    int r;

    r = letter_load(j, id, &d);
    if (r == SQLITE_DONE) {
        sp_err_set(&j->err, "no dead letter with ID %lld", (long long)id);
        return CTSPOOL_E_NOTFOUND;
    }
    if (r != SQLITE_ROW) {
        return sp_jn_db_fail(j, r, "dead letters");
    }
    if (!d.gone && d.agg != SP_KIND_EVENTS) {
        r = later_letters(j, id, &d, set, &next, &newer);
        if (r != SQLITE_OK) {
            return sp_jn_db_fail(j, r, "dead letters");
        }
        if (newer) {
            sp_err_set(&j->err,
                       "dead letter %lld: dead letter %lld is a later "
                       "value of the same point; requeue them together "
                       "(dlq requeue %lld %lld), or only the later one",
                       (long long)id, (long long)newer, (long long)id,
                       (long long)newer);
            return CTSPOOL_E_INVALID;
        }
        if (next && (rc = carry(j, id, &d, next)) != CTSPOOL_OK) {
            return rc;
        }
    }
    if (!d.gone && !next) {
        r = sp_jn_load_row(j, d.hour, d.series, &row);
        if (r == SQLITE_ROW) {
            rc = meet(j, id, &d, &row);
        } else if (r == SQLITE_DONE) {
            rc = sp_jn_pending_one_more(j);
            if (rc == CTSPOOL_OK) {
                r = sp_jn_point_write(j, ST_PT_INS_AVG, d.grp, d.hour,
                                      d.series, d.value,
                                      d.has_avg ? &d.avg : NULL,
                                      mark_of(d.folded));
                rc = r == SQLITE_OK ? CTSPOOL_OK
                                    : sp_jn_db_fail(j, r, "requeue");
            }
            if (rc == CTSPOOL_OK) {
                j->pending++;
                j->points++;
            }
        } else {
            rc = sp_jn_db_fail(j, r, "point lookup");
        }
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    rc = letter_delete(j, id); /* found above: E_NOTFOUND cannot be */
    if (rc == CTSPOOL_OK) {
        (*count)++;
    }
    return rc;
}

static ctspool_rc
purge_one(struct sp_journal *j, int64_t id, const struct dlq_set *set,
          uint64_t *count)
{
    ctspool_rc rc = letter_delete(j, id);

    (void)set;
    if (rc == CTSPOOL_OK) {
        (*count)++;
    }
    return rc;
}

/* What a call does to one letter: its ID, the call's set, the count. */
typedef ctspool_rc (*dlq_fn)(struct sp_journal *, int64_t,
                             const struct dlq_set *, uint64_t *);

/* fn for each of ids (in ID order, the order the letters died; an ID
 * given twice once), inside the caller's transaction. */
static ctspool_rc
dlq_each(struct sp_journal *j, const int64_t *ids, size_t n_ids, dlq_fn fn,
         uint64_t *count)
{
    int64_t *sorted = malloc(n_ids * sizeof(*sorted));
    struct dlq_set set = {sorted, 0};
    ctspool_rc rc = CTSPOOL_OK;

    if (!sorted) {
        sp_err_set(&j->err, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    memcpy(sorted, ids, n_ids * sizeof(*sorted));
    qsort(sorted, n_ids, sizeof(*sorted), cmp_id);
    for (size_t i = 0; i < n_ids; i++) {
        if (set.n == 0 || sorted[i] != sorted[set.n - 1]) {
            sorted[set.n++] = sorted[i];
        }
    }
    for (size_t i = 0; i < set.n && rc == CTSPOOL_OK; i++) {
        rc = fn(j, sorted[i], &set, count);
    }
    free(sorted);
    return rc;
}

/* Where a call for all reports the letters it leaves dead (NULL: such a
 * letter fails the call). */
struct dlq_left {
    sp_dlq_left_cb cb;
    void *ctx;
};

/* fn for the letters after ID *after up to ID top, in ID order, inside
 * the caller's transaction, until DLQ_CHUNK_MS have passed or DLQ_CHUNK
 * were taken; *after: the last one taken, *more: stopped short, *n_left:
 * the letters fn refused (E_INVALID) and left (see the top). */
static ctspool_rc
dlq_chunk(struct sp_journal *j, int64_t top, int64_t *after, dlq_fn fn,
          const struct dlq_left *left, uint64_t *count, uint64_t *n_left,
          int *more)
{
    int64_t until = sp_clock_ms() + DLQ_CHUNK_MS;
    sqlite3_stmt *s = NULL;
    ctspool_rc rc = CTSPOOL_OK;
    unsigned k = 0;
    int r = sqlite3_prepare_v2(j->db,
                               "SELECT id FROM dead WHERE id > ?1 AND "
                               "id <= ?2 ORDER BY id",
                               -1, &s, NULL);

    *more = 0;
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "dead letters");
    }
    sqlite3_bind_int64(s, 1, *after);
    sqlite3_bind_int64(s, 2, top);
    while (rc == CTSPOOL_OK && (r = sqlite3_step(s)) == SQLITE_ROW) {
        *after = sqlite3_column_int64(s, 0);
        rc = fn(j, *after, NULL, count);
        if (rc == CTSPOOL_E_INVALID && left) {
            left->cb(left->ctx, *after, sp_journal_errmsg(j));
            ++*n_left;
            rc = CTSPOOL_OK; /* nothing of it was written */
        }
        if (++k == DLQ_CHUNK || (k % 64 == 0 && sp_clock_ms() >= until)) {
            *more = 1;
            r = SQLITE_DONE;
            break;
        }
    }
    if (rc == CTSPOOL_OK && r != SQLITE_DONE) {
        rc = sp_jn_db_fail(j, r, "dead letters");
    }
    sqlite3_finalize(s);
    return rc;
}

/* One transaction: fn for ids (n_ids > 0), or for the next chunk of all
 * letters (n_ids == 0: dlq_chunk()).  *count, *n_left: what it
 * committed. */
static ctspool_rc
dlq_txn(struct sp_journal *j, const int64_t *ids, size_t n_ids, dlq_fn fn,
        const struct dlq_left *left, int64_t top, int64_t *after, int *more,
        uint64_t *count, uint64_t *n_left)
{
    uint64_t n = 0, l = 0;
    ctspool_rc rc = sp_journal_begin(j);

    if (rc != CTSPOOL_OK) {
        return rc;
    }
    rc = sp_jn_folds_written(j);
    if (rc == CTSPOOL_OK) {
        rc = n_ids ? dlq_each(j, ids, n_ids, fn, &n)
                   : dlq_chunk(j, top, after, fn, left, &n, &l, more);
    }
    if (rc == CTSPOOL_OK) {
        rc = sp_journal_commit(j);
    } else {
        sp_journal_rollback(j);
    }
    *count = rc == CTSPOOL_OK ? n : 0;
    *n_left = rc == CTSPOOL_OK ? l : 0;
    return rc;
}

/* fn for ids, in one transaction; or for all letters (n_ids == 0), a
 * chunk per transaction.  *count, *n_left: what was committed, also when
 * a chunk after the first failed. */
static ctspool_rc
dlq_call(struct sp_journal *j, const int64_t *ids, size_t n_ids, dlq_fn fn,
         const struct dlq_left *left, uint64_t *count, uint64_t *n_left)
{
    const struct timespec pause = {0, DLQ_PAUSE_NS};
    int64_t top = 0, after = 0;
    uint64_t n = 0, l = 0, total = 0, total_left = 0;
    int more = 0, r;
    ctspool_rc rc = CTSPOOL_OK;

    if (n_ids) {
        rc = dlq_txn(j, ids, n_ids, fn, NULL, 0, &after, &more, &total, &l);
    } else if ((r = sp_jn_query_int(j, "SELECT max(id) FROM dead",
                                    &top)) != SQLITE_OK) {
        rc = sp_jn_db_fail(j, r, "dead letters");
    } else {
        after = INT64_MIN;
        do {
            if (total + total_left > 0) {
                nanosleep(&pause, NULL);
            }
            rc = dlq_txn(j, NULL, 0, fn, left, top, &after, &more, &n, &l);
            total += n;
            total_left += l;
        } while (rc == CTSPOOL_OK && more);
    }
    if (count) {
        *count = total;
    }
    if (n_left) {
        *n_left = total_left;
    }
    return rc;
}

ctspool_rc
sp_journal_dlq_requeue(struct sp_journal *j, const int64_t *ids,
                       size_t n_ids, uint64_t *n_requeued)
{
    return dlq_call(j, ids, n_ids, requeue_one, NULL, n_requeued, NULL);
}

ctspool_rc
sp_journal_dlq_requeue_all(struct sp_journal *j, sp_dlq_left_cb left_cb,
                           void *ctx, uint64_t *n_requeued, uint64_t *n_left)
{
    const struct dlq_left left = {left_cb, ctx};

    return dlq_call(j, NULL, 0, requeue_one, left_cb ? &left : NULL,
                    n_requeued, n_left);
}

ctspool_rc
sp_journal_dlq_purge(struct sp_journal *j, const int64_t *ids, size_t n_ids,
                     uint64_t *n_purged)
{
    return dlq_call(j, ids, n_ids, purge_one, NULL, n_purged, NULL);
}
