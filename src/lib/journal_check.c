/*
 * journal_check.c -- the invariants of journal.c as queries:
 * sp_journal_check() verifies the ones a query can see and names the
 * first one violated, and sp_jn_ok() is the commit's hook in builds
 * with CTSPOOL_JOURNAL_CHECK (Debug): it aborts on a violation, before
 * the broken state is committed.
 *
 * What is checked, by invariant number:
 *  (2) every point's series exists and has the point's grp (the point's
 *      identity is its series' (stream, agg, record ID) and its hour);
 *      every series' grp exists.  (hour, series) and (grp, record_id)
 *      being unique is the schema's PRIMARY KEY and UNIQUE.
 *  (3) every queue row (grp, seq) is its point's current version: the
 *      point (hour, series) of the row has that grp and seq, and the
 *      value the row carries.  With queue's key (grp, seq) this is the
 *      "iff": a point is pending exactly when its (grp, seq) is queued.
 *  (4) meta.pending = rows of queue, meta.points = rows of point.
 *  (5) every dead letter's series exists: list and requeue reach a dead
 *      letter through it, so without it the point would be lost
 *      silently.  A dead letter may share its (hour, series) with a
 *      point and its queue row: the identity got a new value after it
 *      was dead-lettered (a requeue then keeps the newer value).
 *  (6) meta.next_seq is above every seq in point, queue, seqtime and
 *      acklog.
 * (1) is about fsync and cannot be seen by a query.
 *
 * Cost: a full check reads point and queue a few times.  The hook does
 * it on every commit while the journal is small, and on a large one
 * once the rows changed by its commits since the last check reach a
 * fraction of the rows there are (amortised: the checks cost at most a
 * constant times the work of the commits), so large tests stay fast.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "journal_int.h"

/* Up to this many point rows, the hook checks every commit. */
#define CHECK_EVERY_COMMIT_ROWS 20000
/* Above: a check once the rows changed since the last reach 1/N. */
#define CHECK_CHANGED_FRACTION 4

/* Runs sql (no parameters); the first row's first n columns as int64
 * into v (NULL columns: INT64_MIN), and as double into dv unless NULL.
 * *found: 1 if there was a row. */
static int
query_row(struct sp_journal *j, const char *sql, int64_t *v, double *dv,
          int n, int *found)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(j->db, sql, -1, &s, NULL);

    *found = 0;
    if (r == SQLITE_OK) {
        r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            for (int i = 0; i < n; i++) {
                v[i] = sqlite3_column_type(s, i) == SQLITE_NULL
                           ? INT64_MIN
                           : sqlite3_column_int64(s, i);
                if (dv) {
                    dv[i] = sqlite3_column_double(s, i);
                }
            }
            *found = 1;
            r = SQLITE_OK;
        } else if (r == SQLITE_DONE) {
            r = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    return r;
}

static int
violated(char *why, size_t why_len, int inv, const char *fmt, ...)
    SP_PRINTF(4, 5);

/* Formats why; returns inv. */
static int
violated(char *why, size_t why_len, int inv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (why_len) {
        vsnprintf(why, why_len, fmt, ap);
    }
    va_end(ap);
    return inv;
}

/* The checks, in a transaction (read or the caller's write one). */
static int
check_all(struct sp_journal *j, char *why, size_t why_len)
{
    int64_t v[8] = {0};
    double dv[8] = {0};
    int found, r;

    /* (4) the counters */
    r = query_row(j,
                  "SELECT (SELECT v FROM meta WHERE k = 'pending'), "
                  "(SELECT count(*) FROM queue), "
                  "(SELECT v FROM meta WHERE k = 'points'), "
                  "(SELECT count(*) FROM point)",
                  v, NULL, 4, &found);
    if (r != SQLITE_OK) {
        goto fail;
    }
    if (v[0] != v[1]) {
        return violated(why, why_len, 4,
                        "meta.pending is %lld but queue has %lld rows",
                        (long long)v[0], (long long)v[1]);
    }
    if (v[2] != v[3]) {
        return violated(why, why_len, 4,
                        "meta.points is %lld but point has %lld rows",
                        (long long)v[2], (long long)v[3]);
    }

    /* (6) next_seq above every seq in use */
    r = query_row(j,
                  "SELECT (SELECT v FROM meta WHERE k = 'next_seq'), "
                  "(SELECT max(seq) FROM point), "
                  "(SELECT max(seq) FROM queue), "
                  "(SELECT max(seq) FROM seqtime), "
                  "(SELECT max(hi) FROM acklog)",
                  v, NULL, 5, &found);
    if (r != SQLITE_OK) {
        goto fail;
    }
    for (int i = 1; i < 5; i++) {
        static const char *const what[] = {"", "point.seq", "queue.seq",
                                           "seqtime.seq", "acklog.hi"};

        if (v[i] != INT64_MIN && v[i] >= v[0]) {
            return violated(why, why_len, 6,
                            "meta.next_seq is %lld but %s %lld is in use",
                            (long long)v[0], what[i], (long long)v[i]);
        }
    }
    if (v[0] < 1) {
        return violated(why, why_len, 6, "meta.next_seq is %lld",
                        (long long)v[0]);
    }

    /* (3) each queue row is its point's current version */
    r = query_row(j,
                  "SELECT q.grp, q.seq, q.hour, q.series, p.grp, p.seq, "
                  "q.value, p.value FROM queue q LEFT JOIN point p ON "
                  "p.hour = q.hour AND p.series = q.series "
                  "WHERE p.grp IS NOT q.grp OR p.seq IS NOT q.seq OR "
                  "p.value IS NOT q.value LIMIT 1",
                  v, dv, 8, &found);
    if (r != SQLITE_OK) {
        goto fail;
    }
    if (found && v[5] == INT64_MIN) {
        return violated(why, why_len, 3,
                        "queue row (grp %lld, seq %lld) names point (hour "
                        "%lld, series %lld), which does not exist",
                        (long long)v[0], (long long)v[1], (long long)v[2],
                        (long long)v[3]);
    }
    if (found && (v[4] != v[0] || v[5] != v[1])) {
        return violated(why, why_len, 3,
                        "queue row (grp %lld, seq %lld) is not the "
                        "current version of point (hour %lld, series "
                        "%lld): that is grp %lld, seq %lld",
                        (long long)v[0], (long long)v[1], (long long)v[2],
                        (long long)v[3], (long long)v[4], (long long)v[5]);
    }
    if (found) {
        return violated(why, why_len, 3,
                        "queue row (grp %lld, seq %lld) carries value %.17g, "
                        "its point (hour %lld, series %lld) %.17g",
                        (long long)v[0], (long long)v[1], dv[6],
                        (long long)v[2], (long long)v[3], dv[7]);
    }

    /* (2) a point's grp is its series' grp; a series' grp exists */
    r = query_row(j,
                  "SELECT p.hour, p.series, p.grp, s.grp FROM point p "
                  "LEFT JOIN series s ON s.id = p.series "
                  "WHERE s.grp IS NOT p.grp LIMIT 1",
                  v, NULL, 4, &found);
    if (r != SQLITE_OK) {
        goto fail;
    }
    if (found) {
        if (v[3] == INT64_MIN) {
            return violated(why, why_len, 2,
                            "point (hour %lld, series %lld) has no series "
                            "row",
                            (long long)v[0], (long long)v[1]);
        }
        return violated(why, why_len, 2,
                        "point (hour %lld, series %lld) has grp %lld, its "
                        "series grp %lld",
                        (long long)v[0], (long long)v[1], (long long)v[2],
                        (long long)v[3]);
    }
    r = query_row(j,
                  "SELECT s.id, s.grp FROM series s WHERE NOT EXISTS "
                  "(SELECT 1 FROM grp g WHERE g.id = s.grp) LIMIT 1",
                  v, NULL, 2, &found);
    if (r != SQLITE_OK) {
        goto fail;
    }
    if (found) {
        return violated(why, why_len, 2,
                        "series %lld names grp %lld, which does not exist",
                        (long long)v[0], (long long)v[1]);
    }

    /* (5) a dead letter keeps its series */
    r = query_row(j,
                  "SELECT d.id, d.series FROM dead d WHERE NOT EXISTS "
                  "(SELECT 1 FROM series s WHERE s.id = d.series) LIMIT 1",
                  v, NULL, 2, &found);
    if (r != SQLITE_OK) {
        goto fail;
    }
    if (found) {
        return violated(why, why_len, 5,
                        "dead letter %lld names series %lld, which does "
                        "not exist",
                        (long long)v[0], (long long)v[1]);
    }
    if (why_len) {
        why[0] = '\0';
    }
    return 0;
fail:
    return violated(why, why_len, -1, "cannot check the journal: %s",
                    sqlite3_errmsg(j->db));
}

int
sp_journal_check(struct sp_journal *j, char *why, size_t why_len)
{
    int own = sqlite3_get_autocommit(j->db);
    int inv;

    /* Inside a write transaction, only with the queue rows inserted. */
    if (j->in_txn && j->qbuf_n) {
        return violated(why, why_len, -1,
                        "cannot check the journal: queue rows buffered");
    }
    if (own && sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        return violated(why, why_len, -1, "cannot check the journal: %s",
                        sqlite3_errmsg(j->db));
    }
    inv = check_all(j, why, why_len);
    if (own) {
        sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
    }
    return inv;
}

/*
 * The commit's hook (CTSPOOL_JOURNAL_CHECK): in the write transaction,
 * queue rows and meta written, before COMMIT.  Prints the invariant
 * violated with its numbers and aborts; returns when they hold or when
 * a query failed (I/O, memory: the commit will tell).
 */
int sp_jn_ok_enabled = 1;

void
sp_jn_ok(struct sp_journal *j)
{
    char why[512];
    int inv;

    if (!sp_jn_ok_enabled) {
        return;
    }
    sqlite3_int64 changed = sqlite3_total_changes64(j->db) - j->changes_seen;

    /* A large journal: only once enough changed (the cost note above). */
    if (j->points > CHECK_EVERY_COMMIT_ROWS &&
        changed * CHECK_CHANGED_FRACTION < j->points) {
        return;
    }
    j->changes_seen += changed;
    inv = sp_journal_check(j, why, sizeof(why));
    if (inv > 0) {
        fprintf(stderr,
                "ctspool: journal %s: invariant (%d) of journal.c "
                "violated at commit: %s\n",
                j->path, inv, why);
        fflush(stderr);
        abort();
    }
}
