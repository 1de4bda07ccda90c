/*
 * journal_admin.c -- what operators do to the journal: stats (status),
 * list, and compaction of points acknowledged before the retention
 * cutoff (dead letters: journal_dlq.c).
 *
 * Invariants (journal.c) kept here: (3) a point is acknowledged iff it
 * has no queue row; compaction deletes only such points, and only once
 * their seq was acknowledged before the cutoff (acklog).  (4) compaction
 * is one transaction per chunk of COMPACT_CHUNK points, so producers go
 * on in between.
 */
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "event.h"
#include "journal_int.h"

#define COMPACT_CHUNK 10000

/* ---- operators ------------------------------------------------------- */

int
sp_jn_query_int(struct sp_journal *j, const char *sql, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(j->db, sql, -1, &s, NULL);

    if (r == SQLITE_OK) {
        r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            *out = sqlite3_column_type(s, 0) == SQLITE_NULL
                       ? -1
                       : sqlite3_column_int64(s, 0);
            r = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    return r;
}

/*
 * The group waiting longest (see SP_GRP_WAITING_SQL: one stuck group
 * shows while the others deliver) into st: when, and which.
 */
static int
oldest_group(struct sp_journal *j, struct sp_stats *st)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(j->db,
                               "SELECT t, stream, agg FROM (SELECT "
                               SP_GRP_WAITING_SQL " AS t, g.stream AS "
                               "stream, g.agg AS agg FROM grp g) WHERE t "
                               "IS NOT NULL ORDER BY t, agg LIMIT 1",
                               -1, &s, NULL);

    st->oldest_pending_at = -1;
    st->oldest_pending_group[0] = '\0';
    if (r == SQLITE_OK) {
        r = sqlite3_step(s);
    }
    if (r == SQLITE_ROW) {
        st->oldest_pending_at = sqlite3_column_int64(s, 0);
        sp_group_name((const char *)sqlite3_column_text(s, 1),
                      sqlite3_column_int(s, 2), st->oldest_pending_group,
                      sizeof(st->oldest_pending_group));
        r = SQLITE_DONE;
    }
    sqlite3_finalize(s);
    return r == SQLITE_DONE ? SQLITE_OK : r;
}

/*
 * Moves the events out of st's point counts into its event counts
 * (schema 0007: the events group is grp -1; the partial index
 * point_event holds its point rows).
 */
static int
count_events(struct sp_journal *j, struct sp_stats *st)
{
    int64_t rows = 0, pending = 0, dead = 0;
    int r;

    if ((r = sp_jn_query_int(j, "SELECT count(*) FROM point WHERE grp = -1",
                             &rows)) != SQLITE_OK ||
        (r = sp_jn_query_int(j, "SELECT count(*) FROM queue WHERE grp = -1",
                             &pending)) != SQLITE_OK ||
        (r = sp_jn_query_int(j,
                             "SELECT count(*) FROM dead WHERE series IN "
                             "(SELECT id FROM series WHERE grp = -1)",
                             &dead)) != SQLITE_OK) {
        return r;
    }
    st->pending_events = (uint64_t)pending;
    st->acked_events = rows > pending ? (uint64_t)(rows - pending) : 0;
    st->dead_events = (uint64_t)dead;
    st->pending_points -= st->pending_points >= st->pending_events
                              ? st->pending_events
                              : st->pending_points;
    st->acked_points -= st->acked_points >= st->acked_events
                            ? st->acked_events
                            : st->acked_points;
    st->dead_letters -= st->dead_letters >= st->dead_events
                            ? st->dead_events
                            : st->dead_letters;
    return SQLITE_OK;
}

ctspool_rc
sp_journal_stats(struct sp_journal *j, struct sp_stats *st)
{
    static const struct {
        const char *key;
        size_t off;
    } counters[] = {
        {"appended_total", offsetof(struct sp_stats, appended_total)},
        {"uploaded_total", offsetof(struct sp_stats, uploaded_total)},
        {"dead_total", offsetof(struct sp_stats, dead_total)},
        {"requests_2xx", offsetof(struct sp_stats, requests_2xx)},
        {"requests_4xx", offsetof(struct sp_stats, requests_4xx)},
        {"requests_5xx", offsetof(struct sp_stats, requests_5xx)},
        {"requests_failed", offsetof(struct sp_stats, requests_failed)},
    };
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    ctspool_rc rc = CTSPOOL_OK;
    int r;

    memset(st, 0, sizeof(*st));
    rc = sp_jn_follow(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL);
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "status");
    }
    if ((r = sp_jn_meta_get(j, "pending", &v)) != SQLITE_OK) {
        goto fail;
    }
    st->pending_points = v > 0 ? (uint64_t)v : 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(counters); i++) {
        if ((r = sp_jn_meta_get(j, counters[i].key, &v)) != SQLITE_OK) {
            goto fail;
        }
        *(uint64_t *)(void *)((char *)st + counters[i].off) =
            v > 0 ? (uint64_t)v : 0;
    }
    if ((r = sp_jn_meta_get(j, "last_upload_ok_at", &st->last_upload_ok_at)) !=
            SQLITE_OK ||
        (r = sp_jn_meta_get(j, "last_upload_error_at",
                            &st->last_upload_error_at)) != SQLITE_OK) {
        goto fail;
    }
    if ((r = sp_jn_meta_get(j, "points", &v)) != SQLITE_OK) {
        goto fail;
    }
    /* A point row without a queue row is acknowledged (invariant 3). */
    st->acked_points = (uint64_t)v > st->pending_points
                           ? (uint64_t)v - st->pending_points
                           : 0;
    if ((r = sp_jn_query_int(j, "SELECT count(*) FROM dead", &v)) !=
        SQLITE_OK) {
        goto fail;
    }
    st->dead_letters = (uint64_t)v;
    r = count_events(j, st);
    if (r != SQLITE_OK) {
        goto fail;
    }
    r = oldest_group(j, st);
    if (r != SQLITE_OK) {
        goto fail;
    }
    if (st->pending_points + st->pending_events == 0) {
        st->oldest_pending_at = -1;
        st->oldest_pending_group[0] = '\0';
    }
    r = sp_jn_query_int(j,
                        "SELECT count(*) FROM grp_state p WHERE EXISTS "
                        "(SELECT 1 FROM queue q WHERE q.grp = p.grp)",
                        &v);
    if (r != SQLITE_OK) {
        goto fail;
    }
    st->parked_groups = (uint64_t)v;
    if ((r = sp_jn_meta_get(j, "in_doubt_points", &v)) != SQLITE_OK) {
        goto fail;
    }
    st->in_doubt_points = v > 0 ? (uint64_t)v : 0;
    if ((r = sp_jn_query_int(j, "SELECT count(*) FROM resend", &v)) !=
        SQLITE_OK) {
        goto fail;
    }
    st->resend_points = (uint64_t)v;
    if ((r = sp_jn_read_upload_times(j, st)) != SQLITE_OK) {
        goto fail;
    }
    r = sqlite3_prepare_v2(j->db,
                           "SELECT v FROM meta WHERE k = "
                           "'last_upload_error'",
                           -1, &s, NULL);
    if (r == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) != SQLITE_NULL) {
        snprintf(st->last_upload_error, sizeof(st->last_upload_error),
                 "%s", (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    st->journal_bytes = sp_jn_disk_bytes(j);
    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
    return rc;
fail:
    rc = sp_jn_db_fail(j, r, "status");
    sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/*
 * One state's list query: base (SELECT ... WHERE ...), then the
 * conditions of f on hour_col and the grp (g) and series (s) columns
 * (the kind: the events group's id or any other), then order and, with
 * a limit, LIMIT :limit.  Values are bound, never spliced into the text
 * (the events group's id is a constant).
 */
static void
list_sql(char *sql, size_t cap, const char *base, const char *hour_col,
         const char *order, const struct sp_list_filter *f)
{
    size_t o = (size_t)snprintf(sql, cap, "%s", base);

#define LIST_ADD(...)                                                     \
    o += (size_t)snprintf(sql + o, o < cap ? cap - o : 0, __VA_ARGS__)
    if (f->kind == SP_LIST_KIND_POINTS) {
        LIST_ADD(" AND g.id <> %d", SP_GRP_EVENTS_ID);
    } else if (f->kind == SP_LIST_KIND_EVENTS) {
        LIST_ADD(" AND g.id = %d", SP_GRP_EVENTS_ID);
    }
    if (f->stream) {
        LIST_ADD(" AND g.stream = :stream");
    }
    if (f->agg >= 0) {
        LIST_ADD(" AND g.agg = :agg");
    }
    if (f->metric) { /* an event's series is named by its type */
        LIST_ADD(" AND s.metric_name = :metric AND g.id <> %d",
                 SP_GRP_EVENTS_ID);
    }
    if (f->has_since) {
        LIST_ADD(" AND %s >= :since", hour_col);
    }
    if (f->has_until) {
        LIST_ADD(" AND %s < :until", hour_col);
    }
    LIST_ADD(" ORDER BY %s", order);
    if (f->limit) {
        LIST_ADD(" LIMIT :limit");
    }
#undef LIST_ADD
}

static int
bind_filter(sqlite3_stmt *s, const struct sp_list_filter *f,
            uint64_t remaining)
{
    int r = SQLITE_OK, i;

    if ((i = sqlite3_bind_parameter_index(s, ":stream")) > 0) {
        r = sqlite3_bind_text(s, i, f->stream, -1, SQLITE_STATIC);
    }
    if (r == SQLITE_OK && (i = sqlite3_bind_parameter_index(s, ":agg")) > 0) {
        r = sqlite3_bind_int(s, i, f->agg);
    }
    if (r == SQLITE_OK &&
        (i = sqlite3_bind_parameter_index(s, ":metric")) > 0) {
        r = sqlite3_bind_text(s, i, f->metric, -1, SQLITE_STATIC);
    }
    if (r == SQLITE_OK &&
        (i = sqlite3_bind_parameter_index(s, ":since")) > 0) {
        r = sqlite3_bind_int64(s, i, f->since_hour);
    }
    if (r == SQLITE_OK &&
        (i = sqlite3_bind_parameter_index(s, ":until")) > 0) {
        r = sqlite3_bind_int64(s, i, f->until_hour);
    }
    if (r == SQLITE_OK &&
        (i = sqlite3_bind_parameter_index(s, ":limit")) > 0) {
        r = sqlite3_bind_int64(s, i, remaining > (uint64_t)INT64_MAX
                                         ? INT64_MAX
                                         : (int64_t)remaining);
    }
    return r;
}

static ctspool_rc
list_query(struct sp_journal *j, const char *sql,
           const struct sp_list_filter *f, uint64_t *emitted,
           const char *state, int is_dead, sp_list_cb cb, void *ctx)
{
    sqlite3_stmt *s = NULL;
    ctspool_rc rc = CTSPOOL_OK;
    int r;

    if (f->limit && *emitted >= f->limit) {
        return CTSPOOL_OK;
    }
    r = sqlite3_prepare_v2(j->db, sql, -1, &s, NULL);
    if (r == SQLITE_OK) {
        r = bind_filter(s, f, f->limit - *emitted);
    }
    if (r != SQLITE_OK) {
        sqlite3_finalize(s);
        return sp_jn_db_fail(j, r, "list");
    }
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        struct sp_list_row row;

        memset(&row, 0, sizeof(row));
        row.state = state;
        row.stream = (const char *)sqlite3_column_text(s, 0);
        row.agg = sqlite3_column_int(s, 1);
        row.record_id = sqlite3_column_blob(s, 2);
        row.name = (const char *)sqlite3_column_text(s, 3);
        row.dims = (const char *)sqlite3_column_text(s, 4);
        row.hour = sqlite3_column_int64(s, 5);
        row.value = sqlite3_column_double(s, 6);
        row.at = sqlite3_column_int64(s, 7);
        if (is_dead) {
            row.dead_id = sqlite3_column_int64(s, 8);
            row.status = sqlite3_column_int(s, 9);
            row.body = (const char *)sqlite3_column_text(s, 10);
        }
        if (row.agg == SP_KIND_EVENTS &&
            sqlite3_column_bytes(s, 2) == SP_EVENT_KEY_LEN) {
            row.record_id += 4; /* the event ID, after the hour */
        } else if (sqlite3_column_bytes(s, 2) != SP_RECORD_ID_LEN) {
            rc = CTSPOOL_E_CORRUPT;
            sp_err_set(&j->err, "list: record ID of wrong length");
            break;
        }
        (*emitted)++;
        rc = cb(ctx, &row);
        if (rc != CTSPOOL_OK) {
            break;
        }
    }
    if (rc == CTSPOOL_OK && r != SQLITE_DONE) {
        rc = sp_jn_db_fail(j, r, "list");
    }
    sqlite3_finalize(s);
    return rc;
}

ctspool_rc
sp_journal_list(struct sp_journal *j, unsigned what, sp_list_cb cb,
                void *ctx)
{
    static const struct sp_list_filter all = SP_LIST_FILTER_ALL;

    return sp_journal_list_filtered(j, what, &all, cb, ctx);
}

/*
 * A stream (and aggregation function) goes through grp's (stream, agg)
 * key, then queue's (grp, seq) key for pending points; the hour range
 * through point's (hour, series) key for acknowledged points.  The
 * metric name is compared on the series row each point joins anyway
 * (series has no index on it); dead letters are few and scanned.
 */
ctspool_rc
sp_journal_list_filtered(struct sp_journal *j, unsigned what,
                         const struct sp_list_filter *f, sp_list_cb cb,
                         void *ctx)
{
#define LIST_COLS                                                         \
    "g.stream, g.agg, s.record_id, s.metric_name, s.dims, "
    char sql[1024];
    uint64_t emitted = 0;
    ctspool_rc rc = CTSPOOL_OK;
    int r;

    rc = sp_jn_follow(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL);
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "list");
    }
    if (what & SP_LIST_PENDING) {
        list_sql(sql, sizeof(sql),
                 "SELECT " LIST_COLS "p.hour, p.value, 0 FROM queue q "
                 "JOIN point p ON p.hour = q.hour AND "
                 "p.series = q.series "
                 "JOIN series s ON s.id = p.series "
                 "JOIN grp g ON g.id = q.grp WHERE 1",
                 "q.hour", "q.seq", f);
        rc = list_query(j, sql, f, &emitted, "pending", 0, cb, ctx);
    }
    if (rc == CTSPOOL_OK && (what & SP_LIST_ACKED)) {
        list_sql(sql, sizeof(sql),
                 "SELECT " LIST_COLS "p.hour, p.value, 0 "
                 "FROM point p JOIN series s ON s.id = p.series "
                 "JOIN grp g ON g.id = p.grp "
                 "WHERE NOT EXISTS (SELECT 1 FROM queue q WHERE "
                 "q.grp = p.grp AND q.seq = p.seq)",
                 "p.hour", "p.hour, p.series", f);
        rc = list_query(j, sql, f, &emitted, "acked", 0, cb, ctx);
    }
    if (rc == CTSPOOL_OK && (what & SP_LIST_DEAD)) {
        list_sql(sql, sizeof(sql),
                 "SELECT " LIST_COLS "d.hour, d.value, d.dead_at, "
                 "d.id, d.status, d.body FROM dead d "
                 "JOIN series s ON s.id = d.series "
                 "JOIN grp g ON g.id = s.grp WHERE 1",
                 "d.hour", "d.id", f);
        rc = list_query(j, sql, f, &emitted, "dead", 1, cb, ctx);
    }
    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
    return rc;
#undef LIST_COLS
}

/* Runs sql with ?1 id and ?2 seq (those it has); *changes: the rows it
 * changed.  OK, or a journal error (j->err). */
ctspool_rc
sp_jn_exec_id(struct sp_journal *j, const char *sql, int64_t id,
              int64_t seq, int *changes)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(j->db, sql, -1, &s, NULL);

    if (r == SQLITE_OK) {
        if (sqlite3_bind_parameter_count(s) >= 1) {
            sqlite3_bind_int64(s, 1, id);
        }
        if (sqlite3_bind_parameter_count(s) >= 2) {
            sqlite3_bind_int64(s, 2, seq);
        }
        r = sqlite3_step(s);
    }
    sqlite3_finalize(s);
    if (r != SQLITE_DONE) {
        return sp_jn_db_fail(j, r, "dead letters");
    }
    *changes = sqlite3_changes(j->db);
    return CTSPOOL_OK;
}


/*
 * Deletes, in the key range (lo, hi] of point, the acknowledged points
 * (no queue row) whose seq was acknowledged by minute cut_min, but for
 * those with a dead letter: `dlq requeue` must find the newer value
 * there, or it would make the letter's older one pending again; and
 * for those noted to send again (resend): the note makes the stored
 * value pending once an older upload can no longer land, and without
 * the row that older value would stay upstream.  One transaction.
 * *n: rows deleted.
 */
static ctspool_rc
compact_chunk(struct sp_journal *j, const int64_t lo[2], const int64_t hi[2],
              int64_t cut_min, int *n)
{
    static const char sql[] =
        "DELETE FROM point WHERE (hour, series) > (?1, ?2) AND "
        "(hour, series) <= (?3, ?4) AND seq <= coalesce((SELECT max(hi) "
        "FROM acklog a WHERE a.grp = point.grp AND a.minute <= ?5), 0) "
        "AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.grp = point.grp "
        "AND q.seq = point.seq) AND NOT EXISTS (SELECT 1 FROM dead d "
        "WHERE d.series = point.series AND d.hour = point.hour) AND NOT "
        "EXISTS (SELECT 1 FROM resend r WHERE r.hour = point.hour AND "
        "r.series = point.series)";
    sqlite3_stmt *s = NULL;
    ctspool_rc rc;
    int r;

    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sqlite3_prepare_v2(j->db, sql, -1, &s, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, lo[0]);
        sqlite3_bind_int64(s, 2, lo[1]);
        sqlite3_bind_int64(s, 3, hi[0]);
        sqlite3_bind_int64(s, 4, hi[1]);
        sqlite3_bind_int64(s, 5, cut_min);
        r = sqlite3_step(s);
    }
    sqlite3_finalize(s);
    if (r != SQLITE_DONE) {
        rc = sp_jn_db_fail(j, r, "compact");
        sp_journal_rollback(j);
        return rc;
    }
    *n = sqlite3_changes(j->db);
    j->points -= *n;
    return sp_journal_commit(j);
}

/*
 * Whether a quarantined set of the journal waits for salvage (or the
 * sets cannot be listed): it may hold older values of points
 * acknowledged since, which salvage would bring back once compaction
 * deleted them (salvage adds only what the journal does not hold), so
 * acknowledged points are kept until then.
 */
static int
salvage_waits(struct sp_journal *j)
{
    struct sp_err e;
    char **names = NULL;
    size_t n = 0;

    if (sp_journal_quarantined(j->path, &names, &n, &e) != CTSPOOL_OK) {
        sp_log(SP_LOG_WARN, "compaction keeps acknowledged points: %s",
               e.msg);
        return 1;
    }
    if (n) {
        sp_log(SP_LOG_WARN,
               "compaction keeps acknowledged points while %s%s waits "
               "for salvage: it may hold older values of them",
               names[0], n > 1 ? " (and more)" : "");
    }
    sp_journal_quarantined_free(names, n);
    return n > 0;
}

/* The key COMPACT_CHUNK rows after lo, or +infinity: *last set. */
static ctspool_rc
chunk_end(struct sp_journal *j, const int64_t lo[2], int64_t hi[2],
          int *last)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(j->db,
                               "SELECT hour, series FROM point WHERE "
                               "(hour, series) > (?1, ?2) ORDER BY hour, "
                               "series LIMIT 1 OFFSET ?3",
                               -1, &s, NULL);

    if (r == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, lo[0]);
        sqlite3_bind_int64(s, 2, lo[1]);
        sqlite3_bind_int(s, 3, COMPACT_CHUNK - 1);
        r = sqlite3_step(s);
    }
    *last = r != SQLITE_ROW;
    if (r == SQLITE_ROW) {
        hi[0] = sqlite3_column_int64(s, 0);
        hi[1] = sqlite3_column_int64(s, 1);
    } else {
        hi[0] = INT64_MAX;
        hi[1] = INT64_MAX;
    }
    sqlite3_finalize(s);
    return r == SQLITE_ROW || r == SQLITE_DONE
               ? CTSPOOL_OK
               : sp_jn_db_fail(j, r, "compact");
}

static ctspool_rc
compact(struct sp_journal *j, int64_t now, int64_t retain_s,
        uint64_t *n_deleted)
{
    int64_t cutoff = now - retain_s;
    /* acklog knows an acknowledgement's minute, not its second: the
     * minutes that ended by the cutoff (minute m ends at 60 (m + 1)),
     * so nothing acknowledged less than retain_s ago is deleted.  A
     * floor division, for a cutoff before 1970 in tests. */
    int64_t cut_min = (cutoff >= 0 ? cutoff / 60 : -((59 - cutoff) / 60)) - 1;
    int64_t lo[2] = {INT64_MIN, INT64_MIN}, hi[2];
    int64_t n_old = 0;
    uint64_t total = 0;
    int changes = 0, last = 0;
    ctspool_rc rc = CTSPOOL_OK;
    int r;

    /*
     * Walk point in key order, a chunk per short transaction so
     * producers keep going in between.  Skipped when nothing was
     * acknowledged before the cutoff, and while a quarantined set waits
     * for salvage.
     */
    r = sp_jn_query_int(j, "SELECT count(*) FROM acklog", &n_old);
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "compact");
    }
    if (n_old > 0 && salvage_waits(j)) {
        n_old = 0;
    }
    while (n_old > 0 && !last) {
        rc = chunk_end(j, lo, hi, &last);
        if (rc == CTSPOOL_OK) {
            rc = compact_chunk(j, lo, hi, cut_min, &changes);
        }
        if (rc != CTSPOOL_OK) {
            return rc;
        }
        total += (uint64_t)changes;
        lo[0] = hi[0];
        lo[1] = hi[1];
    }
    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (total) {
        rc = sp_jn_exec_id(j,
                     "DELETE FROM series WHERE id NOT IN (SELECT series "
                     "FROM point UNION SELECT series FROM dead)",
                     0, 0, &changes);
        if (rc == CTSPOOL_OK && changes) {
            rc = sp_jn_exec_id(j,
                         "DELETE FROM grp WHERE id NOT IN (SELECT grp FROM "
                         "series)",
                         0, 0, &changes);
            if (rc == CTSPOOL_OK) {
                rc = sp_jn_exec_id(j,
                             "DELETE FROM grp_state WHERE grp NOT IN "
                             "(SELECT id FROM grp)",
                             0, 0, &changes);
            }
            /* Other processes' series caches are now stale. */
            if (rc == CTSPOOL_OK) {
                r = sp_jn_meta_set_int(j, ST_META_ADD, "epoch", 1);
                if (r != SQLITE_OK) {
                    rc = sp_jn_db_fail(j, r, "compact");
                }
            }
            sp_jn_cache_clear(j);
        }
    }
    if (rc == CTSPOOL_OK) {
        /* seqtime rows older than the oldest pending point's are unused */
        rc = sp_jn_exec_id(j,
                     "DELETE FROM seqtime WHERE seq < coalesce((SELECT "
                     "max(seq) FROM seqtime WHERE seq <= coalesce((SELECT "
                     "min((SELECT seq FROM queue WHERE grp = g.id "
                     "ORDER BY seq LIMIT 1)) FROM grp g), ?1)), 0)",
                     INT64_MAX, 0, &changes);
    }
    if (rc == CTSPOOL_OK) {
        /* Per group, only the newest acklog row before the cutoff still
         * matters (it bounds every older one). */
        rc = sp_jn_exec_id(j,
                     "DELETE FROM acklog WHERE minute <= ?1 AND hi < "
                     "(SELECT max(hi) FROM acklog a WHERE a.grp = "
                     "acklog.grp AND a.minute <= ?1)",
                     cut_min, 0, &changes);
    }
    if (rc == CTSPOOL_OK) {
        rc = sp_journal_commit(j);
    } else {
        sp_journal_rollback(j);
    }
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sqlite3_exec(j->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
    if (r == SQLITE_OK) {
        r = sqlite3_exec(j->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
                         NULL, NULL);
    }
    if (r != SQLITE_OK && (r & 0xff) != SQLITE_BUSY) {
        return sp_jn_db_fail(j, r, "compact");
    }
    if (n_deleted) {
        *n_deleted = total;
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_journal_compact(struct sp_journal *j, int64_t now, int64_t retain_s,
                   uint64_t *n_deleted)
{
    ctspool_rc rc;
    int r;

    /* What compaction deletes holds the tokens of groups nothing refers
     * to anymore: zeroed, also on a handle that keeps what it deletes
     * (the drainer's, journal.h). */
    if (j->opts.keep_deleted) {
        r = sqlite3_exec(j->db, "PRAGMA secure_delete = ON", NULL, NULL,
                         NULL);
        if (r != SQLITE_OK) {
            return sp_jn_db_fail(j, r, "compact");
        }
    }
    rc = compact(j, now, retain_s, n_deleted);
    if (j->opts.keep_deleted) {
        sqlite3_exec(j->db, "PRAGMA secure_delete = OFF", NULL, NULL, NULL);
    }
    return rc;
}
