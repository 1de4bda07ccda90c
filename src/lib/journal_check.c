/*
 * journal_check.c -- the invariants of journal.c as queries:
 * sp_journal_check() verifies the ones a query can see and names the
 * first one violated, and sp_jn_ok() is the commit's hook in builds
 * with CTSPOOL_JOURNAL_CHECK (Debug): it aborts on a violation, before
 * the broken state is committed.
 *
 * What is checked, by invariant number (checks[] below has a row with
 * a query for each way one can be broken):
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
 *  (7) grp_pending has a row for each group with queue rows, and for no
 *      other.
 * (1) is about fsync and cannot be seen by a query.
 *
 * Cost: a full check reads point and queue a few times.  The hook does
 * it on every commit while the journal is small, and on a large one
 * once the rows changed by its commits since the last check reach a
 * fraction of the rows there are (amortised: the checks cost at most a
 * constant times the work of the commits), so large tests stay fast.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal_int.h"

/* Up to this many point rows, the hook checks every commit. */
#define CHECK_EVERY_COMMIT_ROWS 20000
/* Above: a check once the rows changed since the last reach 1/N. */
#define CHECK_CHANGED_FRACTION 4

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

/*
 * The checks, a row for each way an invariant can be broken, run in this
 * order.  A row's query returns no row while the invariant holds, else
 * the first violation it finds (when there are several, the first row
 * that finds one names it): its columns, which the row's message prints
 * in order.  A message converts with %lld (an integer column; NULL as
 * INT64_MIN), %.17g (a real one) or %s (text), and nothing else.
 */
static const struct check {
    int inv;           /* the invariant's number (the list above) */
    const char *about; /* what the row checks */
    const char *sql;
    const char *msg;
} checks[] = {
    {4, "meta.pending counts the queue rows",
     "SELECT p, n FROM (SELECT (SELECT v FROM meta WHERE k = 'pending') "
     "AS p, (SELECT count(*) FROM queue) AS n) WHERE p IS NOT n",
     "meta.pending is %lld but queue has %lld rows"},
    {4, "meta.points counts the point rows",
     "SELECT p, n FROM (SELECT (SELECT v FROM meta WHERE k = 'points') "
     "AS p, (SELECT count(*) FROM point) AS n) WHERE p IS NOT n",
     "meta.points is %lld but point has %lld rows"},
    {6, "meta.next_seq is above every seq in use",
     "SELECT n, what, hi FROM (SELECT (SELECT v FROM meta WHERE "
     "k = 'next_seq') AS n), (SELECT 1 AS o, 'point.seq' AS what, "
     "(SELECT max(seq) FROM point) AS hi UNION ALL SELECT 2, 'queue.seq', "
     "(SELECT max(seq) FROM queue) UNION ALL SELECT 3, 'seqtime.seq', "
     "(SELECT max(seq) FROM seqtime) UNION ALL SELECT 4, 'acklog.hi', "
     "(SELECT max(hi) FROM acklog)) "
     "WHERE hi IS NOT NULL AND (n IS NULL OR hi >= n) ORDER BY o LIMIT 1",
     "meta.next_seq is %lld but %s %lld is in use"},
    {7, "each group with queue rows has its grp_pending row",
     "SELECT g.id FROM grp g WHERE EXISTS (SELECT 1 FROM queue q WHERE "
     "q.grp = g.id) AND NOT EXISTS (SELECT 1 FROM grp_pending p WHERE "
     "p.grp = g.id) LIMIT 1",
     "group %lld has queue rows but no grp_pending row"},
    {7, "no grp_pending row without queue rows",
     "SELECT p.grp FROM grp_pending p WHERE NOT EXISTS (SELECT 1 FROM "
     "queue q WHERE q.grp = p.grp) LIMIT 1",
     "grp_pending has a row for group %lld, which has no queue rows"},
    {6, "meta.next_seq is at least 1",
     "SELECT n FROM (SELECT (SELECT v FROM meta WHERE k = 'next_seq') "
     "AS n) WHERE n IS NULL OR n < 1",
     "meta.next_seq is %lld"},
    {3, "each queue row has its point",
     "SELECT q.grp, q.seq, q.hour, q.series FROM queue q WHERE NOT EXISTS "
     "(SELECT 1 FROM point p WHERE p.hour = q.hour AND "
     "p.series = q.series) LIMIT 1",
     "queue row (grp %lld, seq %lld) names point (hour %lld, series %lld), "
     "which does not exist"},
    {3, "each queue row is its point's current version",
     "SELECT q.grp, q.seq, q.hour, q.series, p.grp, p.seq FROM queue q "
     "JOIN point p ON p.hour = q.hour AND p.series = q.series "
     "WHERE p.grp IS NOT q.grp OR p.seq IS NOT q.seq LIMIT 1",
     "queue row (grp %lld, seq %lld) is not the current version of point "
     "(hour %lld, series %lld): that is grp %lld, seq %lld"},
    {3, "each queue row carries its point's value",
     "SELECT q.grp, q.seq, q.value, q.hour, q.series, p.value FROM queue q "
     "JOIN point p ON p.hour = q.hour AND p.series = q.series "
     "AND p.grp = q.grp AND p.seq = q.seq WHERE p.value IS NOT q.value "
     "LIMIT 1",
     "queue row (grp %lld, seq %lld) carries value %.17g, its point (hour "
     "%lld, series %lld) %.17g"},
    {2, "each point has its series",
     "SELECT p.hour, p.series FROM point p WHERE NOT EXISTS "
     "(SELECT 1 FROM series s WHERE s.id = p.series) LIMIT 1",
     "point (hour %lld, series %lld) has no series row"},
    {2, "a point's grp is its series' grp",
     "SELECT p.hour, p.series, p.grp, s.grp FROM point p "
     "JOIN series s ON s.id = p.series WHERE s.grp IS NOT p.grp LIMIT 1",
     "point (hour %lld, series %lld) has grp %lld, its series grp %lld"},
    {2, "a series' grp exists",
     "SELECT s.id, s.grp FROM series s WHERE NOT EXISTS "
     "(SELECT 1 FROM grp g WHERE g.id = s.grp) LIMIT 1",
     "series %lld names grp %lld, which does not exist"},
    {5, "a dead letter's series exists",
     "SELECT d.id, d.series FROM dead d WHERE NOT EXISTS "
     "(SELECT 1 FROM series s WHERE s.id = d.series) LIMIT 1",
     "dead letter %lld names series %lld, which does not exist"},
};

/* Column i of s's row, printed by the conversion spec starts with, into
 * out; returns the conversion's length, 0 when it is none of these. */
static size_t
convert(sqlite3_stmt *s, int i, const char *spec, char *out, size_t out_len)
{
    if (strncmp(spec, "%lld", 4) == 0) {
        snprintf(out, out_len, "%lld",
                 sqlite3_column_type(s, i) == SQLITE_NULL
                     ? (long long)INT64_MIN
                     : (long long)sqlite3_column_int64(s, i));
        return 4;
    }
    if (strncmp(spec, "%.17g", 5) == 0) {
        snprintf(out, out_len, "%.17g", sqlite3_column_double(s, i));
        return 5;
    }
    if (strncmp(spec, "%s", 2) == 0) {
        const unsigned char *t = sqlite3_column_text(s, i);

        snprintf(out, out_len, "%s", t ? (const char *)t : "");
        return 2;
    }
    return 0;
}

/* c's message with the columns of s's row, into why (why_len > 0). */
static void
format_row(const struct check *c, sqlite3_stmt *s, char *why, size_t why_len)
{
    const char *m = c->msg;
    size_t len = 0;
    int col = 0;

    why[0] = '\0';
    while (*m && len + 1 < why_len) {
        size_t n = strcspn(m, "%");

        if (n) {
            snprintf(why + len, why_len - len, "%.*s", (int)n, m);
        } else if ((n = convert(s, col, m, why + len, why_len - len)) != 0) {
            col++;
        } else {
            assert(!"a conversion checks[] may not use");
            return;
        }
        m += n;
        len += strlen(why + len);
    }
}

/* Runs c's query: 0 when it returns no row, else c->inv with why set;
 * -1 when the query failed. */
static int
run_check(struct sp_journal *j, const struct check *c, char *why,
          size_t why_len)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(j->db, c->sql, -1, &s, NULL);
    int inv = 0;

    if (r == SQLITE_OK) {
        r = sqlite3_step(s);
    }
    if (r == SQLITE_ROW) {
        if (why_len) {
            format_row(c, s, why, why_len);
        }
        inv = c->inv;
    } else if (r != SQLITE_DONE) {
        inv = violated(why, why_len, -1,
                       "cannot check the journal: %s (checking that %s)",
                       sqlite3_errmsg(j->db), c->about);
    }
    sqlite3_finalize(s);
    return inv;
}

/* The checks, in a transaction (read or the caller's write one). */
static int
check_all(struct sp_journal *j, char *why, size_t why_len)
{
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        int inv = run_check(j, &checks[i], why, why_len);

        if (inv) {
            return inv;
        }
    }
    if (why_len) {
        why[0] = '\0';
    }
    return 0;
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
