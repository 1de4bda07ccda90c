/*
 * journal_idem.c -- idempotency keys of producer requests (DESIGN.md
 * section 10): a request that carries a key seen within
 * server.idempotency_hours gets the first answer again and changes
 * nothing.  The key is written in the transaction of the request's items,
 * so a key is stored exactly when its items are; compaction prunes the
 * old ones.
 */
#include <stdlib.h>
#include <string.h>

#include "journal_int.h"

ctspool_rc
sp_journal_idem_get(struct sp_journal *j, const char *key, int64_t min_at,
                    char **answer, int64_t *at)
{
    sqlite3_stmt *s = sp_jn_stmt(j, ST_IDEM_GET);
    ctspool_rc rc = CTSPOOL_E_NOTFOUND;
    int r;

    *answer = NULL;
    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "idempotency key");
    }
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, min_at);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(s, 1);

        *at = sqlite3_column_int64(s, 0);
        *answer = strdup(a ? a : "");
        rc = *answer ? CTSPOOL_OK : CTSPOOL_E_NOMEM;
    } else if (r != SQLITE_DONE) {
        rc = sp_jn_db_fail(j, r, "idempotency key");
    }
    sp_jn_done(s);
    return rc;
}

ctspool_rc
sp_journal_idem_put(struct sp_journal *j, const char *key,
                    const char *answer, int64_t now)
{
    sqlite3_stmt *s = sp_jn_stmt(j, ST_IDEM_PUT);
    int r;

    if (!s) {
        return sp_jn_db_fail(j, sqlite3_errcode(j->db), "idempotency key");
    }
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_text(s, 3, answer, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    sp_jn_done(s);
    return r == SQLITE_DONE ? CTSPOOL_OK
                            : sp_jn_db_fail(j, r, "idempotency key");
}

ctspool_rc
sp_journal_idem_prune(struct sp_journal *j, int64_t before, uint64_t *n)
{
    sqlite3_stmt *s;
    ctspool_rc rc;
    int r;

    *n = 0;
    rc = sp_journal_begin(j);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    s = sp_jn_stmt(j, ST_IDEM_PRUNE);
    if (!s) {
        rc = sp_jn_db_fail(j, sqlite3_errcode(j->db), "idempotency keys");
        sp_journal_rollback(j);
        return rc;
    }
    sqlite3_bind_int64(s, 1, before);
    r = sqlite3_step(s);
    sp_jn_done(s);
    if (r != SQLITE_DONE) {
        rc = sp_jn_db_fail(j, r, "idempotency keys");
        sp_journal_rollback(j);
        return rc;
    }
    *n = (uint64_t)sqlite3_changes(j->db);
    return sp_journal_commit(j);
}
