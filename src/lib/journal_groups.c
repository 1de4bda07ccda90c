/*
 * journal_groups.c -- the journal's upload groups as a whole: their
 * parked state (table grp_state, schema 0003: a group upstream refuses
 * as a whole waits out its own backoff), the per-group view of `streams`
 * and `status`, the retirement of a stream's pending points by an
 * operator, and the drainer's count of points in doubt.
 *
 *   ok --404--> parked (until_ms, reason, failures n)
 *    ^             |  --404--> parked (new until_ms, failures n+1)
 *    +---2xx-------+  (the drainer: sp_journal_group_unpark)
 *    +---retire----+  (its pending points are dead letters now)
 *
 * Invariants (journal.c) kept here: (4) each change is one transaction.
 * (5) a retirement moves pending points to the dead letters (status 0),
 * where `dlq requeue` finds them; nothing leaves the queue otherwise.
 * Parking never touches the queue: a parked group's points stay pending.
 * Only a group with pending points is parked (its points may have been
 * retired while the request that got the 404 was in flight).
 */
#include <string.h>

#include "journal_int.h"

#define RETIRE_BODY "retired by operator"
#define UNPARK_SQL "DELETE FROM grp_state WHERE grp = ?1"

/* ---- parking (the drainer) ------------------------------------------- */

ctspool_rc
sp_journal_group_failures(struct sp_journal *j, int64_t grp, int64_t *n)
{
    int r;

    *n = 0;
    r = sp_jn_run_ints(j, "SELECT failures FROM grp_state WHERE grp = ?1", &grp,
                 1, n, 1, NULL);
    return r == SQLITE_OK ? CTSPOOL_OK : sp_jn_db_fail(j, r, "group state");
}

ctspool_rc
sp_journal_group_park(struct sp_journal *j, int64_t grp, int64_t now,
                      int64_t until_ms, const char *reason)
{
    sqlite3_stmt *s = NULL;
    ctspool_rc rc;
    int r;

    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sqlite3_prepare_v2(j->db,
                           "INSERT INTO grp_state (grp, parked_since, "
                           "parked_until_ms, reason, failures) "
                           "SELECT ?1, ?2, ?3, ?4, 1 WHERE EXISTS "
                           "(SELECT 1 FROM queue WHERE grp = ?1) "
                           "ON CONFLICT (grp) DO UPDATE SET "
                           "parked_until_ms = excluded.parked_until_ms, "
                           "reason = excluded.reason, "
                           "failures = failures + 1",
                           -1, &s, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, grp);
        sqlite3_bind_int64(s, 2, now);
        sqlite3_bind_int64(s, 3, until_ms);
        sqlite3_bind_text(s, 4, reason, -1, SQLITE_STATIC);
        r = sqlite3_step(s);
        r = r == SQLITE_DONE ? SQLITE_OK : r;
    }
    sqlite3_finalize(s);
    return sp_jn_finish(j, r, "park a group");
}

ctspool_rc
sp_journal_group_unpark(struct sp_journal *j, int64_t grp, int *was)
{
    int changes = 0;
    ctspool_rc rc;
    int r;

    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sp_jn_run_ints(j, UNPARK_SQL, &grp, 1, NULL, 0, &changes);
    rc = sp_jn_finish(j, r, "unpark a group");
    if (rc == CTSPOOL_OK && was) {
        *was = changes > 0;
    }
    return rc;
}

ctspool_rc
sp_journal_groups_retry_now(struct sp_journal *j, uint64_t *n)
{
    int64_t count = 0;
    ctspool_rc rc;
    int r;

    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sp_jn_run_ints(j, "UPDATE grp_state SET parked_until_ms = 0", NULL, 0,
                 NULL, 0, NULL);
    if (r == SQLITE_OK) {
        r = sp_jn_run_ints(j, "SELECT count(*) FROM grp_state", NULL, 0, &count, 1,
                     NULL);
    }
    rc = sp_jn_finish(j, r, "group state");
    if (rc == CTSPOOL_OK && n) {
        *n = (uint64_t)count;
    }
    return rc;
}

ctspool_rc
sp_journal_parked(struct sp_journal *j, int64_t now_ms, uint64_t *n,
                  int64_t *next_ms)
{
    int64_t v[2] = {0, -1}; /* count, earliest end */
    int r = sp_jn_run_ints(j,
                     "SELECT count(*), min(CASE WHEN p.parked_until_ms > ?1 "
                     "THEN p.parked_until_ms END) FROM grp_state p WHERE "
                     "EXISTS (SELECT 1 FROM queue q WHERE q.grp = p.grp)",
                     &now_ms, 1, v, 2, NULL);

    *n = (uint64_t)v[0];
    *next_ms = v[1];
    return r == SQLITE_OK ? CTSPOOL_OK : sp_jn_db_fail(j, r, "parked groups");
}

/* ---- the per-group view (streams, status) ---------------------------- */

/* Columns: id, stream, agg, pending, points, dead, oldest pending at,
 * parked since, parked until, reason, failures. */
static const char groups_all_sql[] =
    "WITH pc AS (SELECT grp, count(*) AS n FROM point GROUP BY grp), "
    "qc AS (SELECT grp, count(*) AS n FROM queue GROUP BY grp), "
    "dc AS (SELECT s.grp AS grp, count(*) AS n FROM dead d "
    "JOIN series s ON s.id = d.series GROUP BY s.grp) "
    "SELECT g.id, g.stream, g.agg, coalesce(qc.n, 0), coalesce(pc.n, 0), "
    "coalesce(dc.n, 0), " SP_GRP_WAITING_SQL ", p.parked_since, "
    "p.parked_until_ms, "
    "p.reason, p.failures FROM grp g "
    "LEFT JOIN qc ON qc.grp = g.id LEFT JOIN pc ON pc.grp = g.id "
    "LEFT JOIN dc ON dc.grp = g.id LEFT JOIN grp_state p ON p.grp = g.id "
    "ORDER BY g.id";

static const char groups_parked_sql[] =
    "SELECT g.id, g.stream, g.agg, (SELECT count(*) FROM queue q "
    "WHERE q.grp = g.id), 0, 0, " SP_GRP_WAITING_SQL ", p.parked_since, "
    "p.parked_until_ms, p.reason, p.failures "
    "FROM grp_state p JOIN grp g ON g.id = p.grp ORDER BY g.id";

/* Pending counts only (/metrics): one pass over the queue's index. */
static const char groups_pending_sql[] =
    "WITH qc AS (SELECT grp, count(*) AS n FROM queue GROUP BY grp) "
    "SELECT g.id, g.stream, g.agg, coalesce(qc.n, 0), 0, 0, NULL, NULL, "
    "NULL, NULL, NULL FROM grp g LEFT JOIN qc ON qc.grp = g.id "
    "ORDER BY g.id";

ctspool_rc
sp_journal_groups(struct sp_journal *j, enum sp_groups_what what,
                  sp_group_cb cb, void *ctx)
{
    sqlite3_stmt *s = NULL;
    ctspool_rc rc = CTSPOOL_OK;
    int r;

    rc = sp_jn_follow(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL);
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "upload groups");
    }
    r = sqlite3_prepare_v2(j->db,
                           what == SP_GROUPS_PARKED    ? groups_parked_sql
                           : what == SP_GROUPS_PENDING ? groups_pending_sql
                                                       : groups_all_sql,
                           -1, &s, NULL);
    while (r == SQLITE_OK && (r = sqlite3_step(s)) == SQLITE_ROW) {
        struct sp_group_row g;
        int64_t points;

        memset(&g, 0, sizeof(g));
        g.grp = sqlite3_column_int64(s, 0);
        g.stream = (const char *)sqlite3_column_text(s, 1);
        g.agg = sqlite3_column_int(s, 2);
        g.pending = (uint64_t)sqlite3_column_int64(s, 3);
        points = sqlite3_column_int64(s, 4);
        g.acked = (uint64_t)points > g.pending ? (uint64_t)points - g.pending
                                               : 0;
        g.dead = (uint64_t)sqlite3_column_int64(s, 5);
        g.oldest_pending_at = sqlite3_column_type(s, 6) == SQLITE_NULL ||
                                      g.pending == 0
                                  ? -1
                                  : sqlite3_column_int64(s, 6);
        g.is_parked = sqlite3_column_type(s, 7) != SQLITE_NULL;
        g.parked_since = g.is_parked ? sqlite3_column_int64(s, 7) : -1;
        g.parked_until_ms = g.is_parked ? sqlite3_column_int64(s, 8) : -1;
        g.reason = g.is_parked ? (const char *)sqlite3_column_text(s, 9)
                               : "";
        g.failures = g.is_parked ? sqlite3_column_int64(s, 10) : 0;
        if (!g.stream || !g.reason) {
            rc = CTSPOOL_E_NOMEM;
            break;
        }
        rc = cb(ctx, &g);
        if (rc != CTSPOOL_OK) {
            break;
        }
        r = SQLITE_OK;
    }
    if (rc == CTSPOOL_OK && r != SQLITE_DONE) {
        rc = sp_jn_db_fail(j, r, "upload groups");
    }
    sqlite3_finalize(s);
    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* ---- retirement (operators) ------------------------------------------ */

/* A retirement of group ?1 at time ?2, in this order: its pending points
 * to the dead letters, the points deleted while the queue still names
 * them (invariant (3): its rows are their current versions), then the
 * queue rows and the group's parked state. */
static const char *const retire_sql[] = {
    ("INSERT INTO dead (hour, series, value, status, body, dead_at, "
     "folded, avg_sum, avg_n) SELECT q.hour, q.series, q.value, 0, '"
     RETIRE_BODY "', ?2, p.folded, p.avg_sum, p.avg_n FROM queue q "
     "LEFT JOIN point p ON p.hour = q.hour AND p.series = q.series "
     "WHERE q.grp = ?1 ORDER BY q.seq"),
    ("DELETE FROM point WHERE (hour, series) IN "
     "(SELECT hour, series FROM queue WHERE grp = ?1)"),
    "DELETE FROM queue WHERE grp = ?1",
    UNPARK_SQL,
};

/* Moves group grp's pending points to the dead letters; *moved: how
 * many.  Inside the caller's transaction.  A SQLite result code. */
static int
retire_group(struct sp_journal *j, int64_t grp, int64_t now, int *moved)
{
    const int64_t v[2] = {grp, now};
    int r = SQLITE_OK;

    sp_jn_grp_touched(j, grp);
    for (size_t i = 0; r == SQLITE_OK && i < SP_ARRAY_LEN(retire_sql); i++) {
        r = sp_jn_run_ints(j, retire_sql[i], v, 2, NULL, 0, i == 0 ? moved : NULL);
    }
    return r;
}

ctspool_rc
sp_journal_retire(struct sp_journal *j, const char *stream, int agg,
                  int64_t now, uint64_t *n_groups, uint64_t *n_points)
{
    sqlite3_stmt *s = NULL;
    uint64_t groups = 0, points = 0;
    ctspool_rc rc;
    int r;

    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    /* The matching groups first: retiring one changes the tables read. */
    r = sqlite3_prepare_v2(j->db,
                           "SELECT id FROM grp WHERE stream = ?1 AND "
                           "(?2 < 0 OR agg = ?2) ORDER BY id",
                           -1, &s, NULL);
    if (r == SQLITE_OK) {
        int64_t ids[SP_AGG_N];

        sqlite3_bind_text(s, 1, stream, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, agg);
        while (groups < SP_ARRAY_LEN(ids) &&
               (r = sqlite3_step(s)) == SQLITE_ROW) {
            ids[groups++] = sqlite3_column_int64(s, 0);
        }
        sqlite3_finalize(s);
        r = r == SQLITE_ROW || r == SQLITE_DONE ? SQLITE_OK : r;
        for (uint64_t i = 0; r == SQLITE_OK && i < groups; i++) {
            int moved = 0;

            r = retire_group(j, ids[i], now, &moved);
            points += (uint64_t)moved;
        }
    }
    if (r == SQLITE_OK && groups == 0) {
        sp_journal_rollback(j);
        sp_err_set(&j->err, "no upload group has that data stream token%s",
                   agg >= 0 ? " and aggregation function" : "");
        return CTSPOOL_E_NOTFOUND;
    }
    if (r == SQLITE_OK) {
        j->pending -= (int64_t)points;
        j->points -= (int64_t)points;
    }
    rc = sp_jn_finish(j, r, "retire");
    if (rc == CTSPOOL_OK) {
        if (n_groups) {
            *n_groups = groups;
        }
        if (n_points) {
            *n_points = points;
        }
    }
    return rc;
}

/* ---- points in doubt (the drainer) ----------------------------------- */

ctspool_rc
sp_journal_note_doubt(struct sp_journal *j, uint64_t n)
{
    ctspool_rc rc;
    int r;

    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sp_jn_meta_set_int(j, ST_META_SET, "in_doubt_points", (int64_t)n);
    return sp_jn_finish(j, r, "record points in doubt");
}
