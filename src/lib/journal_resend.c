/*
 * journal_resend.c -- points to send again once an upload of unknown
 * outcome can no longer land upstream (schema 0008, DESIGN.md section 1).
 *
 * A request that timed out may still be applied upstream later.  If the
 * drainer meanwhile delivered a newer value of one of its points, the
 * late request would overwrite it there while the journal says the newer
 * value was delivered.  The drainer keeps such points in memory
 * (drain/doubt.c) and makes them pending again once the late request can
 * no longer land.  Memory alone does not survive the drainer: so the ack
 * that delivers the newer value also notes the point in table resend, in
 * its own transaction, and the transaction that makes it pending again
 * deletes the note.  A drainer that died in between leaves its notes to
 * the next drainer, which makes them pending once the dead one's landing
 * record has expired (sp_journal_resend_all).
 *
 * Invariant: a point acknowledged while an older value of it may still
 * land upstream is pending, or noted in resend, or (inside the drainer
 * that acknowledged it) in its in-doubt table, which notes it in resend
 * in the same transaction as the ack.
 * Notes of points since deleted (retention, purge) are harmless: making
 * them pending again finds nothing and drops the note.
 */
#include "journal_int.h"

#define SOME_KEYS 256 /* notes read at once by sp_journal_resend_all */

int
sp_jn_resend_note(struct sp_journal *j, const int64_t (*keys)[2], size_t n)
{
    sqlite3_stmt *s;
    int r = SQLITE_OK;

    if (n == 0) {
        return SQLITE_OK;
    }
    s = sp_jn_stmt(j, ST_RESEND_INS);
    if (!s) {
        return sqlite3_errcode(j->db);
    }
    for (size_t i = 0; r == SQLITE_OK && i < n; i++) {
        sqlite3_bind_int64(s, 1, keys[i][0]);
        sqlite3_bind_int64(s, 2, keys[i][1]);
        r = sqlite3_step(s);
        sqlite3_reset(s);
        r = r == SQLITE_DONE ? SQLITE_OK : r;
    }
    return r;
}

/*
 * Inside a transaction: makes point (hour, series) pending again with its
 * current value if it is acknowledged (*done := 1), and drops its note.
 * A pending point (a newer value not sent yet) or a deleted one is left.
 */
static int
repend_one(struct sp_journal *j, int64_t hour, int64_t series, int *done)
{
    sqlite3_stmt *s = sp_jn_stmt(j, ST_PT_ACKED), *u, *del;
    int64_t grp;
    double value;
    int r;

    *done = 0;
    del = sp_jn_stmt(j, ST_RESEND_DEL);
    if (!s || !del) {
        return sqlite3_errcode(j->db);
    }
    sqlite3_bind_int64(del, 1, hour);
    sqlite3_bind_int64(del, 2, series);
    r = sqlite3_step(del);
    sqlite3_reset(del);
    if (r != SQLITE_DONE) {
        return r;
    }
    sqlite3_bind_int64(s, 1, hour);
    sqlite3_bind_int64(s, 2, series);
    r = sqlite3_step(s);
    if (r != SQLITE_ROW) {
        sqlite3_reset(s);
        return r == SQLITE_DONE ? SQLITE_OK : r; /* pending or gone */
    }
    grp = sqlite3_column_int64(s, 0);
    value = sqlite3_column_double(s, 1);
    sqlite3_reset(s);
    /* A new seq: it joins the queue like an update (invariant 3). */
    u = sp_jn_stmt(j, ST_PT_UPD_SEQ);
    if (!u) {
        return sqlite3_errcode(j->db);
    }
    sqlite3_bind_int64(u, 1, hour);
    sqlite3_bind_int64(u, 2, series);
    sqlite3_bind_int64(u, 3, j->next_seq);
    r = sqlite3_step(u);
    sqlite3_reset(u);
    if (r != SQLITE_DONE) {
        return r;
    }
    r = sp_jn_queue_add(j, grp, j->next_seq, hour, series, value);
    if (r != SQLITE_OK) {
        return r;
    }
    j->next_seq++;
    j->pending++;
    *done = 1;
    return SQLITE_OK;
}

/* Inside a transaction: repend_one of keys[0 .. n); *done_n counts
 * the points made pending. */
static int
repend_keys(struct sp_journal *j, const int64_t (*keys)[2], size_t n,
            size_t *done_n)
{
    int r = SQLITE_OK;

    for (size_t i = 0; r == SQLITE_OK && i < n; i++) {
        int done;

        r = repend_one(j, keys[i][0], keys[i][1], &done);
        *done_n += (size_t)done;
    }
    return r;
}

ctspool_rc
sp_journal_repend(struct sp_journal *j, const int64_t (*keys)[2], size_t n,
                  size_t *n_done)
{
    size_t done_n = 0;
    ctspool_rc rc;

    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    rc = sp_jn_finish(j, repend_keys(j, keys, n, &done_n), "re-queue");
    if (rc == CTSPOOL_OK && n_done) {
        *n_done = done_n;
    }
    return rc;
}

/* Reads up to SOME_KEYS notes into keys; *n := how many. */
static int
some_notes(struct sp_journal *j, int64_t (*keys)[2], size_t *n)
{
    sqlite3_stmt *s = sp_jn_stmt(j, ST_RESEND_SOME);
    int r;

    *n = 0;
    if (!s) {
        return sqlite3_errcode(j->db);
    }
    sqlite3_bind_int(s, 1, SOME_KEYS);
    while ((r = sqlite3_step(s)) == SQLITE_ROW && *n < SOME_KEYS) {
        keys[*n][0] = sqlite3_column_int64(s, 0);
        keys[*n][1] = sqlite3_column_int64(s, 1);
        (*n)++;
    }
    sp_jn_done(s);
    return r == SQLITE_DONE ? SQLITE_OK : r;
}

ctspool_rc
sp_journal_resend_all(struct sp_journal *j, size_t *n_notes, size_t *n_done)
{
    int64_t keys[SOME_KEYS][2];
    size_t notes = 0, done_n = 0, n;
    ctspool_rc rc;
    int r;

    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    /* Each round drops the notes it read: the next one reads others. */
    while ((r = some_notes(j, keys, &n)) == SQLITE_OK && n > 0) {
        r = repend_keys(j, (const int64_t(*)[2])keys, n, &done_n);
        if (r != SQLITE_OK) {
            break;
        }
        notes += n;
    }
    rc = sp_jn_finish(j, r, "re-queue");
    if (rc == CTSPOOL_OK) {
        *n_notes = notes;
        *n_done = done_n;
    }
    return rc;
}

ctspool_rc
sp_journal_resend_noted(struct sp_journal *j, int *any)
{
    sqlite3_stmt *s = sp_jn_stmt(j, ST_RESEND_ANY);
    int r;

    *any = 0;
    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "read notes");
    }
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *any = sqlite3_column_int(s, 0);
    }
    sqlite3_reset(s);
    return r == SQLITE_ROW ? CTSPOOL_OK : sp_jn_db_fail(j, r, "read notes");
}
