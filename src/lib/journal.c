/*
 * journal.c -- the SQLite journal (WAL): opening it, write transactions
 * and savepoints, limits, and what the other journal files share (the
 * prepared statements, error mapping, meta counters).  The journal files
 * are the only writers of the point, series, grp, grp_state, queue,
 * dead, seqtime and meta tables (schema/):
 *
 *   journal.c        open/close, transactions, limits, drainer lock
 *   journal_put.c    producers: upsert one point (sp_journal_put)
 *   journal_drain.c  the drainer: take a batch, ack, dead-letter, repend
 *   journal_admin.c  operators: stats, list, compact
 *   journal_dlq.c    operators: dead letters requeued or purged
 *   journal_check.c  the invariants below as queries (Debug builds:
 *                    checked at commit)
 *   journal_groups.c upload groups: parked state, per-group view, retire
 *   journal_idem.c   idempotency keys of producer requests
 *   journal_heal.c   damaged journals: quarantine, follow a moved journal
 *   journal_int.h    the handle and helpers these files share
 *
 *   put --> PENDING: point(seq s) + queue(grp, s)
 *    ^         |  --take--> upload --2xx--> ack: queue rows of the run
 *    |         |                     |      sent are deleted (a newer
 *    +-upsert--+ (new value: new     |      value has a new seq: stays)
 *                seq, queue row      +--400/422 isolated--> dead
 *                moved)                     (status, body kept)
 *   dead --requeue--> PENDING (unless a newer value arrived meanwhile;
 *                     in accumulate mode the two fold: journal_dlq.c)
 *   acked (point row, no queue row) --retention passed--> compact
 *
 * Invariants:
 * (1) "Stored" is reported only after COMMIT returns with the configured
 *     synchronous level (FULL: fsynced).
 * (2) (hour, series) is unique, and series is unique per (stream, agg,
 *     record ID): one row per point identity.  An upsert with a new
 *     value makes the point pending at a new seq; an upsert with the same
 *     value (pending or acked) changes nothing.
 * (3) A point is pending iff queue holds (its grp, its seq), and that
 *     row carries the point's (hour, series, value).  An ack deletes the
 *     queue rows of the seq run it sent: a version updated after it was
 *     taken has a new seq outside the run and stays pending.  A
 *     dead-lettering names (hour, series, seq) likewise.
 * (4) Each transition (append call, ack, dead-letter, requeue, compact
 *     step) is one transaction; at every commit meta.pending equals the
 *     rows of queue and meta.points the rows of point.
 * (5) Pending points leave only by ack or dead letter, never silently;
 *     limits refuse new work (E_FULL) and never drop stored points.
 * (6) seq is strictly increasing over the journal's life: meta.next_seq
 *     is read and written under the write lock.
 * (7) grp_pending has a row for exactly the groups that have queue rows
 *     (at every commit: the transaction that gives a group its first
 *     queue row or takes its last sets or clears it).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "journal_int.h"
#include "memwatch.h"
#include "migrate.h"


#define CACHE_KIB_DEFAULT 16384 /* PRAGMA cache_size, unless opts say */
/* A new journal's page size.  Against SQLite's 4 KiB, 8 KiB pages take
 * fewer B-tree levels, page reads and WAL frames per point: append
 * +2-9% points/s, the drainer -10% CPU, serve's single-point load
 * unchanged (scripts/bench); 16 KiB cost single-point requests 4%.  A
 * journal keeps the size it was created with. */
#define PAGE_SIZE_NEW 8192u

#define QROW "(?,?,?,?,?)"
#define QROWS_4 QROW "," QROW "," QROW "," QROW
#define QROWS_16 QROWS_4 "," QROWS_4 "," QROWS_4 "," QROWS_4
#define QROWS_64 QROWS_16 "," QROWS_16 "," QROWS_16 "," QROWS_16
_Static_assert(SP_PUT_BATCH == 64 && QBUF_ROWS == 64, "QROWS_64 rows");

static const char *const stmt_sql[ST_N] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT sp_unit",
    [ST_RELEASE] = "RELEASE sp_unit",
    [ST_ROLLBACK_TO] = "ROLLBACK TO sp_unit",
    [ST_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [ST_META_SET] = "UPDATE meta SET v = ?2 WHERE k = ?1",
    [ST_META_ADD] = "UPDATE meta SET v = v + ?2 WHERE k = ?1",
    [ST_GRP_FIND] = "SELECT id FROM grp WHERE stream = ?1 AND agg = ?2",
    [ST_GRP_INS] = "INSERT INTO grp (id, stream, agg) VALUES (?3, ?1, ?2)",
    [ST_SERIES_FIND] = "SELECT id FROM series WHERE grp = ?1 AND "
                       "record_id = ?2",
    [ST_SERIES_INS] = "INSERT INTO series (grp, record_id, metric_name, "
                      "dims) VALUES (?1, ?2, ?3, ?4)",
    [ST_SERIES_ADD] = "INSERT INTO series (grp, record_id, metric_name, "
                      "dims) VALUES (?1, ?2, ?3, ?4) "
                      "ON CONFLICT (grp, record_id) DO NOTHING",
    [ST_PT_INS] = "INSERT INTO point (hour, series, grp, value, seq) "
                  "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    /*
     * SP_PUT_BATCH (64) rows of ST_PT_INS at once.  OR FAIL (here and in
     * ST_Q_INS_MANY): a failed row ends the statement and the caller
     * rolls back (journal.h), so SQLite need not keep a statement
     * journal, a copy of each page the 64 rows touch.
     */
    [ST_PT_INS_MANY] = "INSERT OR FAIL INTO point (hour, series, grp, "
                       "value, seq) VALUES " QROWS_64
                       " ON CONFLICT DO NOTHING",
    [ST_PT_GET] = "SELECT value, seq, avg_sum, avg_n, folded FROM point "
                  "WHERE hour = ?1 AND series = ?2",
    /* ?8: the mark "folded from nothing" (schema 0009): -1 kept, 1 set,
     * 0 cleared (a replace). */
    [ST_PT_UPD] = "UPDATE point SET value = ?3, seq = ?4, avg_sum = ?5, "
                  "avg_n = ?6, folded = CASE ?8 WHEN -1 THEN folded "
                  "WHEN 1 THEN 1 END WHERE hour = ?1 AND series = ?2",
    [ST_PT_AVG] = "UPDATE point SET avg_sum = ?3, avg_n = ?4, folded = "
                  "CASE ?5 WHEN -1 THEN folded WHEN 1 THEN 1 END "
                  "WHERE hour = ?1 AND series = ?2",
    [ST_PT_INS_AVG] = "INSERT INTO point (hour, series, value, seq, "
                      "avg_sum, avg_n, grp, folded) VALUES (?1, ?2, ?3, ?4, "
                      "?5, ?6, ?7, CASE ?8 WHEN 1 THEN 1 END)",
    [ST_PT_UPD_SEQ] = "UPDATE point SET seq = ?3 WHERE hour = ?1 AND "
                      "series = ?2",
    [ST_PT_ACKED] = "SELECT grp, value FROM point p WHERE hour = ?1 AND "
                    "series = ?2 AND NOT EXISTS (SELECT 1 FROM queue q "
                    "WHERE q.grp = p.grp AND q.seq = p.seq)",
    [ST_Q_INS] = "INSERT INTO queue (grp, seq, hour, series, value) "
                 "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_Q_INS_MANY] = "INSERT OR FAIL INTO queue (grp, seq, hour, series, "
                      "value) VALUES " QROWS_64,
    [ST_Q_DEL] = "DELETE FROM queue WHERE grp = ?1 AND seq = ?2",
    [ST_ACKLOG] = "INSERT INTO acklog (grp, minute, hi) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT (grp, minute) DO UPDATE SET "
                  "hi = max(hi, excluded.hi)",
    /* A transaction's first seq ?1 at Unix time ?2, unless the newest
     * row says that second already: the age of a seq is read from the
     * row with the largest seq at or below it, so a row per second
     * answers exactly as a row per transaction would, and a small
     * commit writes one page less. */
    [ST_SEQTIME_INS] = "INSERT OR REPLACE INTO seqtime (seq, at) "
                       "SELECT ?1, ?2 WHERE ?2 IS NOT (SELECT at FROM "
                       "seqtime ORDER BY seq DESC LIMIT 1)",
    /* ?1, ?2: group ?1's rows up to seq ?2 are in flight; ?3, ?4: the
     * id range (sp_journal_take_next); ?5: now (Unix ms), a group parked
     * beyond it is skipped. */
    [ST_TAKE_GRP] =
        "SELECT g.id, g.stream, g.agg FROM grp g "
        "WHERE g.id > ?3 AND g.id <= ?4 AND EXISTS (SELECT 1 FROM queue q "
        "WHERE q.grp = g.id AND q.seq > (CASE g.id WHEN ?1 THEN ?2 "
        "ELSE 0 END)) AND NOT EXISTS (SELECT 1 FROM grp_state p "
        "WHERE p.grp = g.id AND p.parked_until_ms > ?5) "
        "ORDER BY g.id LIMIT 1",
    [ST_TAKE_PTS] = "SELECT q.hour, q.series, q.seq, q.value, "
                    "s.metric_name, s.dims FROM queue q "
                    "JOIN series s ON s.id = q.series "
                    "WHERE q.grp = ?1 AND q.seq > ?3 ORDER BY q.seq LIMIT ?2",
    /* ST_TAKE_PTS without the series: their texts from journal_names.c,
     * or by id. */
    [ST_TAKE_QUEUE] = "SELECT q.hour, q.series, q.seq, q.value FROM queue q "
                      "WHERE q.grp = ?1 AND q.seq > ?3 ORDER BY q.seq "
                      "LIMIT ?2",
    [ST_SERIES_TEXT] = "SELECT metric_name, dims FROM series WHERE id = ?1",
    [ST_ACK] = "DELETE FROM queue WHERE grp = ?1 AND seq BETWEEN ?2 AND ?3",
    [ST_DEAD_INS] = "INSERT INTO dead (hour, series, value, status, body, "
                    "dead_at, folded, avg_sum, avg_n) SELECT hour, series, "
                    "value, ?4, ?5, ?6, folded, avg_sum, avg_n "
                    "FROM point WHERE hour = ?1 AND series = ?2 AND "
                    "seq = ?3 AND EXISTS (SELECT 1 FROM queue WHERE "
                    "grp = point.grp AND seq = ?3)",
    [ST_DEAD_DEL_PT] = "DELETE FROM point WHERE hour = ?1 AND series = ?2 "
                       "AND seq = ?3",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_DEAD_FIND] = "SELECT 1 FROM dead WHERE series = ?1 AND hour = ?2 "
                     "AND value = ?3 AND status = ?4 AND dead_at = ?5",
    [ST_IDEM_GET] = "SELECT at, answer FROM idem WHERE key = ?1 AND "
                    "at >= ?2",
    [ST_IDEM_PUT] = "INSERT OR REPLACE INTO idem (key, at, answer) "
                    "VALUES (?1, ?2, ?3)",
    [ST_IDEM_PRUNE] = "DELETE FROM idem WHERE at < ?1",
    [ST_RESEND_INS] = "INSERT OR IGNORE INTO resend (hour, series) "
                      "VALUES (?1, ?2)",
    [ST_RESEND_DEL] = "DELETE FROM resend WHERE hour = ?1 AND series = ?2",
    [ST_RESEND_SOME] = "SELECT hour, series FROM resend ORDER BY hour, "
                       "series LIMIT ?1",
    [ST_RESEND_ANY] = "SELECT EXISTS (SELECT 1 FROM resend)",
    /* grp_pending (schema 0010): set when the group's queue holds rows
     * (when set, only ever earlier: a salvage brings older points),
     * cleared when it holds none, moved on by an acknowledgement.  ?1
     * group, ?2 Unix time.  A row that would not change is not written
     * (no page to log at every commit). */
    [ST_GP_SET] = "INSERT INTO grp_pending (grp, since) SELECT ?1, ?2 "
                  "WHERE EXISTS (SELECT 1 FROM queue WHERE grp = ?1) "
                  "ON CONFLICT (grp) DO UPDATE SET since = "
                  "excluded.since WHERE excluded.since < since",
    [ST_GP_CLEAR] = "DELETE FROM grp_pending WHERE grp = ?1 AND NOT EXISTS "
                    "(SELECT 1 FROM queue WHERE grp = ?1)",
    [ST_GP_ACKED] = "UPDATE grp_pending SET since = ?2 WHERE grp = ?1 "
                    "AND since < ?2",
    [ST_DEAD_PUT] = "INSERT INTO dead (hour, series, value, status, body, "
                    "dead_at, folded, avg_sum, avg_n) VALUES (?1, ?2, ?3, "
                    "?4, ?5, ?6, CASE ?7 WHEN 1 THEN 1 END, ?8, ?9)",
};

/* ---- errors ---------------------------------------------------------- */

static ctspool_rc
rc_from_sqlite(sqlite3 *db, int code)
{
    int primary = code & 0xff;

    /* A WAL index (-shm) that cannot grow is a full disk too. */
    if (primary == SQLITE_FULL || code == SQLITE_IOERR_SHMSIZE ||
        (db && sqlite3_system_errno(db) == ENOSPC)) {
        return CTSPOOL_E_DISKFULL;
    }
    switch (primary) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return CTSPOOL_OK;
    case SQLITE_NOMEM:
        return CTSPOOL_E_NOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CTSPOOL_E_BUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return CTSPOOL_E_CORRUPT;
    case SQLITE_ERROR:
        /* A file format past any SQLite 3 has written (garbage over the
         * header's format numbers): no SQLite reads the file, so it is
         * as damaged as one that is not a database.  SQLite has no code
         * of its own for it, only this message.  At open every SQL error
         * of the first read is damage (sp_jn_connect()); this one also
         * comes when a running process reloads the schema. */
        if (db && strcmp(sqlite3_errmsg(db), "unsupported file format") == 0) {
            return CTSPOOL_E_CORRUPT;
        }
        return CTSPOOL_E_IO;
    case SQLITE_CANTOPEN:
        return CTSPOOL_E_CANTCREATE;
    default:
        return CTSPOOL_E_IO;
    }
}

static void why_not_writable(const char *path, char *why, size_t n);

/* Sets j->err from the connection's last error; returns the rc. */
ctspool_rc
sp_jn_db_fail(struct sp_journal *j, int code, const char *what)
{
    ctspool_rc rc = rc_from_sqlite(j->db, code);

    if (rc == CTSPOOL_E_DISKFULL) {
        sp_err_set(&j->err, "%s: disk full writing journal %s", what,
                   j->path);
    } else if ((code & 0xff) == SQLITE_READONLY) {
        char why[PATH_MAX + 128];

        why_not_writable(j->path, why, sizeof(why));
        sp_err_set(&j->err, "%s: %s (journal %s)", what,
                   *why ? why : sqlite3_errmsg(j->db), j->path);
    } else {
        sp_err_set(&j->err, "%s: %s (journal %s)", what,
                   sqlite3_errmsg(j->db), j->path);
    }
    return rc;
}

/* Ends the transaction of a change: COMMIT when r (a SQLite result code)
 * is SQLITE_OK, else a rollback and the error, what failed in it. */
ctspool_rc
sp_jn_finish(struct sp_journal *j, int r, const char *what)
{
    ctspool_rc rc;

    if (r != SQLITE_OK) {
        rc = sp_jn_db_fail(j, r, what);
        sp_journal_rollback(j);
        return rc;
    }
    return sp_journal_commit(j);
}

const char *
sp_journal_errmsg(const struct sp_journal *j)
{
    return j ? j->err.msg : "no journal";
}

void
sp_journal_err_locate(struct sp_journal *j, const char *what, size_t k)
{
    sp_err_prefix(&j->err, "%s[%zu]: ", what, k);
}

/* ---- statements ------------------------------------------------------ */

/* Statement id, prepared on first use and kept until close (borrowed);
 * NULL on failure, with the reason in the connection's error code. */
sqlite3_stmt *
sp_jn_stmt(struct sp_journal *j, enum stmt_id id)
{
    sqlite3_stmt *s = j->st[id];

    if (!s) {
        if (sqlite3_prepare_v3(j->db, stmt_sql[id], -1,
                               SQLITE_PREPARE_PERSISTENT, &s,
                               NULL) != SQLITE_OK) {
            return NULL;
        }
        j->st[id] = s;
    }
    return s;
}

/* Resets a statement and clears its bindings; NULL: nothing. */
void
sp_jn_done(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

/* Runs a statement expected to return no row. */
static int
exec_stmt(struct sp_journal *j, enum stmt_id id)
{
    sqlite3_stmt *s = sp_jn_stmt(j, id);
    int r;

    if (!s) {
        return sqlite3_errcode(j->db);
    }
    r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? SQLITE_OK : r;
}

/* *v := meta k; -1 when k is missing or NULL. */
int
sp_jn_meta_get(struct sp_journal *j, const char *k, int64_t *v)
{
    sqlite3_stmt *s = sp_jn_stmt(j, ST_META_GET);
    int r;

    if (!s) {
        return sqlite3_errcode(j->db);
    }
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *v = sqlite3_column_type(s, 0) == SQLITE_NULL
                 ? -1
                 : sqlite3_column_int64(s, 0);
        r = SQLITE_OK;
    } else if (r == SQLITE_DONE) {
        *v = -1;
        r = SQLITE_OK;
    }
    sp_jn_done(s);
    return r;
}

/* id ST_META_SET: meta k := v; ST_META_ADD: meta k += v. */
int
sp_jn_meta_set_int(struct sp_journal *j, enum stmt_id id, const char *k,
                   int64_t v)
{
    sqlite3_stmt *s = sp_jn_stmt(j, id);
    int r;

    if (!s) {
        return sqlite3_errcode(j->db);
    }
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, v);
    r = sqlite3_step(s);
    sp_jn_done(s);
    return r == SQLITE_DONE ? SQLITE_OK : r;
}

/* meta k := the text v (copied). */
int
sp_jn_meta_set_text(struct sp_journal *j, const char *k, const char *v)
{
    sqlite3_stmt *s = sp_jn_stmt(j, ST_META_SET);
    int r;

    if (!s) {
        return sqlite3_errcode(j->db);
    }
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, v, -1, SQLITE_TRANSIENT);
    r = sqlite3_step(s);
    sp_jn_done(s);
    return r == SQLITE_DONE ? SQLITE_OK : r;
}

/* ---- open / close ---------------------------------------------------- */

/* sp_owner_adopt() from the directory path is in. */
static int
adopt_dir_owner(int fd, const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int r;

    if (!slash) {
        return sp_owner_adopt(fd, ".");
    }
    dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    r = sp_owner_adopt(fd, dir);
    free(dir);
    return r;
}

/* The directory of the journal at path into dir (n bytes): "." for a
 * bare name. */
static void
dir_of(const char *path, char *dir, size_t n)
{
    const char *slash = strrchr(path, '/');

    if (!slash) {
        snprintf(dir, n, ".");
    } else if (slash == path) {
        snprintf(dir, n, "/");
    } else {
        snprintf(dir, n, "%.*s", (int)(slash - path), path);
    }
}

/* Why this process cannot write the journal at path: its directory (where
 * the -wal and -shm files, the drainer's lock file and quarantined sets
 * are created), the file itself, or its -wal or -shm file, into why; ""
 * when all of them look writable. */
static void
why_not_writable(const char *path, char *why, size_t n)
{
    char dir[PATH_MAX], side[PATH_MAX + 8];
    struct stat sb;
    int exists = stat(path, &sb) == 0;

    *why = '\0';
    if (exists && !S_ISREG(sb.st_mode)) {
        snprintf(why, n, "%s is not a regular file (%s)", path,
                 S_ISDIR(sb.st_mode) ? "a directory" : "a device, pipe or "
                                                       "socket");
        return;
    }
    dir_of(path, dir, sizeof(dir));
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(why, n,
                 "directory %s is not writable for this user (%s): the "
                 "journal's -wal and -shm files are created there",
                 dir, strerror(errno));
        return;
    }
    if (access(path, R_OK | W_OK) != 0 && errno != ENOENT) {
        int err = errno;

        if (exists) {
            snprintf(why, n,
                     "%s is not readable and writable for this user (%s: "
                     "owner uid %u, group gid %u, mode %04o; this process "
                     "runs as uid %u)",
                     path, strerror(err), (unsigned)sb.st_uid,
                     (unsigned)sb.st_gid, (unsigned)(sb.st_mode & 07777),
                     (unsigned)geteuid());
        } else {
            snprintf(why, n, "%s is not writable for this user (%s)", path,
                     strerror(err));
        }
        return;
    }
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof(side), "%s%s", path, i ? "-shm" : "-wal");
        if (access(side, R_OK | W_OK) != 0 && errno != ENOENT) {
            snprintf(why, n, "%s is not writable for this user (%s)", side,
                     strerror(errno));
            return;
        }
    }
}

int
sp_journal_read_only(struct sp_journal *j, char *why, size_t n)
{
    if (sqlite3_db_readonly(j->db, "main") != 1) {
        return 0;
    }
    why_not_writable(j->path, why, n);
    if (!*why) {
        snprintf(why, n, "SQLite opened it read-only");
    }
    return 1;
}

ctspool_rc
sp_journal_check_dir(const char *path, struct sp_err *e)
{
    char dir[PATH_MAX], why[PATH_MAX + 128];
    struct stat sb;
    int found;

    dir_of(path, dir, sizeof(dir));
    found = stat(dir, &sb) == 0;
    if (!found || !S_ISDIR(sb.st_mode)) {
        if (found) {
            sp_err_set(e, "cannot create journal %s: %s is not a directory",
                       path, dir);
        } else {
            sp_err_set(e, "cannot create journal %s: directory %s does not "
                          "exist",
                       path, dir);
        }
        return CTSPOOL_E_CANTCREATE;
    }
    why_not_writable(path, why, sizeof(why));
    if (*why) {
        sp_err_set(e, "cannot write journal %s: %s", path, why);
        return CTSPOOL_E_CANTCREATE;
    }
    return CTSPOOL_OK;
}

static ctspool_rc
create_file(const char *path, unsigned mode, struct sp_err *e)
{
    struct stat sb;
    int fd;

    if (stat(path, &sb) == 0) {
        return CTSPOOL_OK;
    }
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              (mode_t)mode);
    if (fd < 0 && errno == EEXIST) {
        return CTSPOOL_OK; /* another process created it meanwhile */
    }
    if (fd < 0) {
        int err = errno;

        /* A missing directory is named; else errno's reason. */
        if (err != ENOENT || sp_journal_check_dir(path, e) == CTSPOOL_OK) {
            sp_err_set(e, "cannot create journal %s: %s", path,
                       strerror(err));
        }
        return CTSPOOL_E_CANTCREATE;
    }
    /* The mode asked for, whatever the umask (SQLite gives the -wal and
     * -shm files the journal's mode); run as root in a service user's
     * directory, the journal is that user's (and so are they). */
    if (fchmod(fd, (mode_t)mode) != 0 || adopt_dir_owner(fd, path) != 0) {
        int err = errno;

        sp_err_set(e, "cannot give journal %s its mode and its directory's "
                      "owner: %s",
                   path, strerror(err));
        close(fd);
        return err == ENOMEM ? CTSPOOL_E_NOMEM : CTSPOOL_E_CANTCREATE;
    }
    close(fd);
    return CTSPOOL_OK;
}

/* E_NOINPUT when nothing is at path (a missing directory included). */
static ctspool_rc
file_exists(const char *path, struct sp_err *e)
{
    struct stat sb;

    if (stat(path, &sb) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
        sp_err_set(e, "journal %s does not exist", path);
        return CTSPOOL_E_NOINPUT;
    }
    return CTSPOOL_OK; /* anything else: the open says what is wrong */
}

/*
 * Connects j (closed) to the file at j->path: creates it unless
 * must_exist, opens it in WAL mode, records which file it is (dev, ino:
 * journal_heal.c notices a rename) and brings the schema up to date.  A
 * quarantine (journal_heal.c) holds the directory lock exclusively while
 * it renames the set; the open and the first read of the WAL hold it
 * shared, so that no connection pairs a main file with a -wal file of
 * another set.  On failure j->db is closed again, the reason in e.
 */
ctspool_rc
sp_jn_connect(struct sp_journal *j, struct sp_err *e)
{
    const struct sp_journal_opts *o = &j->opts;
    uint64_t mem0 = sp_memwatch_failures();
    ctspool_rc rc;
    char *msg = NULL;
    const char *reason;
    char pragmas[256], why[PATH_MAX + 128];
    struct sp_err fe;
    int r, one = 1, dir_fd;
    struct stat sb;

    assert(!j->db);
    /* Opened below without SQLITE_OPEN_CREATE: SQLite creates nothing. */
    rc = o->must_exist ? file_exists(j->path, e)
                       : create_file(j->path,
                                     o->file_mode ? o->file_mode : 0600, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    dir_fd = sp_jn_dir_lock(j->path, LOCK_SH);
    r = sqlite3_open_v2(j->path, &j->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, o->vfs);
    if (r != SQLITE_OK) {
        rc = r == SQLITE_NOMEM ? CTSPOOL_E_NOMEM : CTSPOOL_E_CANTCREATE;
        why_not_writable(j->path, why, sizeof(why));
        sp_err_set(e, "cannot open journal %s: %s", j->path,
                   !j->db ? "out of memory"
                   : *why ? why
                          : sqlite3_errmsg(j->db));
        goto out;
    }
    sqlite3_extended_result_codes(j->db, 1);
    sp_jn_busy_set(j, o->busy_timeout_ms);
    /* The -wal and -shm files stay when the last connection closes: a
     * connection to a journal renamed away (quarantined) would otherwise
     * delete, by name, those of the fresh journal now at the path. */
    sqlite3_file_control(j->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
    if (stat(j->path, &sb) == 0) {
        j->dev = sb.st_dev;
        j->ino = sb.st_ino;
    }
    /* Another application's database is left as it is: no WAL mode,
     * no tables, no quarantine.  (A schema that does not read is for
     * the steps below to find.) */
    if (sp_migrate_is_journal(j->db, &fe) == CTSPOOL_E_CANTCREATE) {
        rc = CTSPOOL_E_CANTCREATE;
        sp_err_set(e, "cannot open journal %s: %s", j->path, fe.msg);
        goto out;
    }
    /* Only take effect on an empty file, before journal_mode writes the
     * first page: free pages can then be given back (compact). */
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA page_size = %u; PRAGMA auto_vacuum = INCREMENTAL",
             o->page_size ? o->page_size : PAGE_SIZE_NEW);
    r = sqlite3_exec(j->db, pragmas, NULL, NULL, NULL);
    if (r == SQLITE_NOMEM) {
        rc = CTSPOOL_E_NOMEM; /* else a new journal would lack it for good */
        sp_err_set(e, "cannot open journal %s: out of memory", j->path);
        goto out;
    }
    /* Processes opening a new journal at once all ask for WAL mode; when
     * waiting could deadlock (the switch needs the exclusive lock that
     * another's shared lock holds off), SQLite answers one of them BUSY
     * at once, without its lock wait.  The switch is idempotent: tried
     * again, within that wait. */
    for (int64_t until = sp_clock_ms() + j->busy_ms;;) {
        struct timespec nap = {0, 1000000L}; /* 1 ms */

        sqlite3_free(msg);
        msg = NULL;
        r = sqlite3_exec(j->db, "PRAGMA journal_mode = WAL", NULL, NULL,
                         &msg);
        if ((r & 0xff) != SQLITE_BUSY || sp_clock_ms() >= until) {
            break;
        }
        nanosleep(&nap, NULL);
    }
    if (r != SQLITE_OK) {
        rc = rc_from_sqlite(j->db, sqlite3_extended_errcode(j->db));
        /* This PRAGMA is the first to read the file.  It fails as SQL,
         * or with "string or blob too big", only when the file is not
         * what its header says: a text encoding or a file format no
         * SQLite wrote, garbled table declarations.  That is damage,
         * like "not a database" (which rc_from_sqlite() maps already). */
        if (rc == CTSPOOL_E_IO && ((r & 0xff) == SQLITE_ERROR ||
                                   (r & 0xff) == SQLITE_TOOBIG)) {
            rc = CTSPOOL_E_CORRUPT;
        }
        reason = rc == CTSPOOL_E_DISKFULL ? "disk full"
                 : msg                    ? msg
                                          : sqlite3_errmsg(j->db);
        /* Its -wal or -shm file not readable and writable, or not to be
         * made in its directory: CANTOPEN, and this user's to fix. */
        if ((r & 0xff) == SQLITE_READONLY || (r & 0xff) == SQLITE_CANTOPEN) {
            why_not_writable(j->path, why, sizeof(why));
            reason = *why ? why : reason;
            rc = *why ? CTSPOOL_E_CANTCREATE : rc;
        }
        sp_err_set(e, "cannot open journal %s: %s", j->path, reason);
        goto out;
    }
    sp_jn_dir_unlock(dir_fd);
    dir_fd = -1;
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA synchronous = %s; PRAGMA foreign_keys = OFF;"
             "PRAGMA cache_size = -%d; PRAGMA temp_store = MEMORY;"
             "PRAGMA journal_size_limit = 67108864;"
             "PRAGMA secure_delete = %s;",
             o->durability_full ? "FULL" : "NORMAL",
             o->cache_kib > 0 ? o->cache_kib : CACHE_KIB_DEFAULT,
             o->keep_deleted ? "OFF" : "ON");
    r = sqlite3_exec(j->db, pragmas, NULL, NULL, &msg);
    if (r != SQLITE_OK) {
        rc = rc_from_sqlite(j->db, r);
        sp_err_set(e, "cannot configure journal %s: %s", j->path,
                   msg ? msg : sqlite3_errmsg(j->db));
        goto out;
    }
    rc = (ctspool_rc)sp_migrate(j->db, e);
    /* Prepared now: a rollback must not need memory to run. */
    if (rc == CTSPOOL_OK && !sp_jn_stmt(j, ST_ROLLBACK)) {
        rc = rc_from_sqlite(j->db, sqlite3_errcode(j->db));
        sp_err_set(e, "cannot open journal %s: %s", j->path,
                   sqlite3_errmsg(j->db));
    }
out:
    /* Damage SQLite answers with "out of memory" while it loads the
     * schema (memwatch.c): no allocation failed meanwhile. */
    if (rc == CTSPOOL_E_NOMEM && sp_memwatch_spurious(mem0)) {
        rc = CTSPOOL_E_CORRUPT;
        sp_err_set(e,
                   "cannot open journal %s: SQLite answered \"out of "
                   "memory\" with no allocation failing: the file is "
                   "damaged",
                   j->path);
    }
    sp_jn_dir_unlock(dir_fd);
    sqlite3_free(msg);
    if (rc != CTSPOOL_OK) {
        sp_jn_disconnect(j);
    }
    return rc;
}

/* Closes j's connection (statements, caches); j->db is NULL after. */
void
sp_jn_disconnect(struct sp_journal *j)
{
    if (j->in_txn) {
        sp_journal_rollback(j);
    }
    for (int i = 0; i < ST_N; i++) {
        sqlite3_finalize(j->st[i]);
        j->st[i] = NULL;
    }
    sqlite3_close(j->db);
    j->db = NULL;
    sp_jn_cache_clear(j);
    j->cache_epoch = 0;
    sp_jn_names_clear(j); /* the path may now name another journal */
    j->names_by_id = 0; /* until takes show the cache would hold */
    j->names_sampled = j->names_missed = 0;
    j->changes_seen = 0;
}

/*
 * path made absolute against the working directory (a copy; NULL: no
 * memory).  The journal is found again by its path (a reconnection, the
 * same-file check), and a process that changes directory after opening
 * it must not then find, or make, another journal there.  Without a
 * working directory the path is kept as given.
 */
static char *
absolute_path(const char *path)
{
    char *cwd, *abs;
    size_t n;

    if (path[0] == '/' || !(cwd = getcwd(NULL, 0))) {
        return strdup(path);
    }
    n = strlen(cwd) + 1 + strlen(path) + 1;
    abs = malloc(n);
    if (abs) {
        snprintf(abs, n, "%s%s%s", cwd,
                 cwd[0] && cwd[strlen(cwd) - 1] == '/' ? "" : "/", path);
    }
    free(cwd);
    return abs;
}

ctspool_rc
sp_journal_open(const struct sp_journal_opts *o, struct sp_journal **out,
                struct sp_err *e)
{
    struct sp_journal *j;
    ctspool_rc rc;

    *out = NULL;
    j = calloc(1, sizeof(*j));
    if (!j || !(j->path = absolute_path(o->path)) ||
        (o->vfs && !(j->vfs = strdup(o->vfs)))) {
        if (j) {
            free(j->path);
        }
        free(j);
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    j->opts = *o;
    j->opts.path = j->path;
    j->opts.vfs = j->vfs;
    j->max_pending = o->max_pending_points;
    j->max_bytes = o->max_journal_bytes;
    rc = sp_jn_connect(j, e);
    if (rc == CTSPOOL_E_CORRUPT) {
        rc = sp_jn_heal_at_open(j, e); /* journal_heal.c */
    }
    if (rc != CTSPOOL_OK) {
        sp_journal_close(j);
        return rc;
    }
    *out = j;
    return CTSPOOL_OK;
}

void
sp_journal_close(struct sp_journal *j)
{
    if (!j) {
        return;
    }
    sp_jn_disconnect(j);
    free(j->cache);
    sp_jn_names_free(j);
    sp_jn_fold_free(j);
    sp_buf_cleanup(&j->scratch);
    EVP_MD_CTX_free(j->md_ctx);
    free(j->path);
    free(j->vfs);
    free(j);
}

void
sp_journal_set_limits(struct sp_journal *j, uint64_t max_pending,
                      uint64_t max_bytes)
{
    j->max_pending = max_pending;
    j->max_bytes = max_bytes;
}

/* The size of path followed by suffix; 0 when missing. */
static uint64_t
file_size(const char *path, const char *suffix)
{
    char buf[PATH_MAX];
    struct stat sb;

    snprintf(buf, sizeof(buf), "%s%s", path, suffix);
    return stat(buf, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

uint64_t
sp_jn_disk_bytes(const struct sp_journal *j)
{
    return file_size(j->path, "") + file_size(j->path, "-wal");
}

/* ---- transactions ---------------------------------------------------- */

/* E_FULL when the journal has reached limits.max_journal_bytes (0: no
 * limit): its file and its -wal, which the processes keeping it open
 * (serve, the drainer) let grow between checkpoints (sp_jn_disk_bytes).
 * Restarts the count of puts until the next check, which is the next
 * put once the journal was found full. */
ctspool_rc
sp_jn_check_bytes(struct sp_journal *j)
{
    uint64_t bytes;

    j->puts_since_check = 1;
    if (!j->max_bytes) {
        return CTSPOOL_OK;
    }
    bytes = sp_jn_disk_bytes(j);
    if (bytes >= j->max_bytes) {
        j->puts_since_check = 0;
        j->full_pending = j->full_alone = 0;
        sp_err_set(&j->err,
                   "spool full: journal is %llu bytes with its -wal, "
                   "limits.max_journal_bytes is %llu",
                   (unsigned long long)bytes,
                   (unsigned long long)j->max_bytes);
        return CTSPOOL_E_FULL;
    }
    return CTSPOOL_OK;
}

ctspool_rc
sp_journal_begin(struct sp_journal *j)
{
    int64_t epoch = 0;
    int r;
    ctspool_rc rc;

    assert(!j->in_txn);
    /* A journal moved aside while we waited for the lock: once more, on
     * the journal now at the path. */
    for (int tries = 0;; tries++) {
        rc = sp_jn_follow(j);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
        /* A transaction this handle ended but SQLite did not (the
         * rollback could not run): ended now, or nothing can begin. */
        if (!sqlite3_get_autocommit(j->db) &&
            (r = exec_stmt(j, ST_ROLLBACK)) != SQLITE_OK &&
            !sqlite3_get_autocommit(j->db)) {
            return sp_jn_db_fail(j, r, "cannot end an unfinished transaction");
        }
        r = exec_stmt(j, ST_BEGIN);
        if (r != SQLITE_OK) {
            return sp_jn_db_fail(j, r, "cannot begin a write transaction");
        }
        j->in_txn = 1;
        if (tries || sp_jn_same_file(j)) {
            break;
        }
        sp_journal_rollback(j);
    }
    j->in_savepoint = 0;
    j->cache_dirty = 0;
    j->appended = 0;
    j->written_at = 0;
    j->qbuf_n = 0;
    j->qgrps_n = 0;
    j->qgrps_last = 0;
    j->qgrps_over = 0;
    sp_jn_fold_reset(j);
    if ((r = sp_jn_meta_get(j, "next_seq", &j->next_seq)) != SQLITE_OK ||
        (r = sp_jn_meta_get(j, "pending", &j->pending)) != SQLITE_OK ||
        (r = sp_jn_meta_get(j, "points", &j->points)) != SQLITE_OK ||
        (r = sp_jn_meta_get(j, "epoch", &epoch)) != SQLITE_OK) {
        rc = sp_jn_db_fail(j, r, "cannot read journal state");
        goto fail;
    }
    if (j->next_seq < 1 || j->pending < 0 || j->points < 0) {
        sp_err_set(&j->err, "journal %s: meta table damaged", j->path);
        rc = CTSPOOL_E_CORRUPT;
        goto fail;
    }
    j->first_seq = j->next_seq;
    /* The write lock is ours: meta stays as read until we write it. */
    j->pending_begin = j->pending;
    j->points_begin = j->points;
    if (epoch != j->cache_epoch) {
        sp_jn_cache_clear(j); /* another process compacted series away */
        j->cache_epoch = epoch;
    }
    /* The first put checks the size: past limits.max_journal_bytes only
     * what adds points is refused, not what gives space back (compact,
     * dlq purge) or records what was sent. */
    j->puts_since_check = 0;
    return CTSPOOL_OK;
fail:
    sp_journal_rollback(j);
    return rc;
}

ctspool_rc
sp_journal_commit(struct sp_journal *j)
{
    int r;

    assert(j->in_txn && !j->in_savepoint);
    r = sp_jn_fold_settle(j);
    if (r == SQLITE_OK) {
        r = sp_jn_queue_flush(j);
    }
    if (r == SQLITE_OK) {
        r = sp_jn_flush_meta(j);
    }
#ifdef CTSPOOL_JOURNAL_CHECK
    if (r == SQLITE_OK) {
        sp_jn_ok(j); /* aborts on a broken invariant: nothing committed */
    }
#endif
    if (r == SQLITE_OK) {
        r = exec_stmt(j, ST_COMMIT);
    }
    if (r != SQLITE_OK) {
        ctspool_rc rc = sp_jn_db_fail(j, r, "cannot commit");

        sp_journal_rollback(j);
        return rc;
    }
    j->in_txn = 0;
    sp_jn_upload_times_done(j, 1);
    return CTSPOOL_OK;
}

void
sp_journal_rollback(struct sp_journal *j)
{
    if (!j->in_txn) {
        return;
    }
    /* A failed COMMIT may already have ended the transaction.  The
     * statement is prepared at connect (sp_jn_connect()), so that a
     * shortage of memory cannot keep it from running; should it still
     * fail, the transaction (and the write lock) stays open until the
     * next sp_journal_begin() ends it. */
    if (!sqlite3_get_autocommit(j->db)) {
        exec_stmt(j, ST_ROLLBACK);
    }
    j->in_txn = 0;
    j->in_savepoint = 0;
    j->qbuf_n = 0;
    sp_jn_fold_reset(j);
    sp_jn_upload_times_done(j, 0);
    if (j->cache_dirty) {
        sp_jn_cache_clear(j);
    }
}

ctspool_rc
sp_journal_savepoint(struct sp_journal *j)
{
    int r;

    assert(j->in_txn && !j->in_savepoint);
    sp_jn_fold_savepoint(j);
    r = sp_jn_queue_flush(j); /* what is buffered now is before the savepoint */
    if (r == SQLITE_OK) {
        r = exec_stmt(j, ST_SAVEPOINT);
    }
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "savepoint");
    }
    j->in_savepoint = 1;
    j->sv_next_seq = j->next_seq;
    j->sv_pending = j->pending;
    j->sv_points = j->points;
    j->sv_appended = j->appended;
    return CTSPOOL_OK;
}

ctspool_rc
sp_journal_release(struct sp_journal *j)
{
    int r;

    assert(j->in_savepoint);
    r = sp_jn_queue_flush(j);
    if (r == SQLITE_OK) {
        r = exec_stmt(j, ST_RELEASE);
    }
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "release savepoint");
    }
    j->in_savepoint = 0;
    sp_jn_fold_release(j);
    return CTSPOOL_OK;
}

ctspool_rc
sp_journal_rollback_to(struct sp_journal *j)
{
    int r;

    assert(j->in_savepoint);
    j->qbuf_n = 0; /* all added since the savepoint */
    r = exec_stmt(j, ST_ROLLBACK_TO);
    if (r == SQLITE_OK) {
        r = exec_stmt(j, ST_RELEASE);
    }
    j->in_savepoint = 0;
    j->next_seq = j->sv_next_seq;
    j->pending = j->sv_pending;
    j->points = j->sv_points;
    j->appended = j->sv_appended;
    if (j->cache_dirty) {
        sp_jn_cache_clear(j);
    }
    if (r == SQLITE_OK) {
        r = sp_jn_fold_rollback_to(j);
    }
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "rollback to savepoint");
    }
    return CTSPOOL_OK;
}
