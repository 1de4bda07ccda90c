/*
 * migrate.c -- brings a journal's schema up to date with the migrations
 * embedded from schema/ (PRAGMA user_version counts them).  Refuses a
 * journal written by a newer ctspool.  Each migration is one
 * transaction, re-checked under the write lock so that processes opening
 * a new journal at the same time migrate it once.
 *
 * A version no ctspool writes (below 0, or so far ahead that it cannot
 * be a newer ctspool's), and a migration that SQLite refuses as SQL
 * (a table or column that is already there: the version says fewer
 * migrations than the tables show), mean a damaged header: E_CORRUPT,
 * which the journal's open turns into a quarantine (journal_heal.c)
 * instead of a journal no process can open.
 *
 * A database whose tables are not a journal's (another application's,
 * named by a slip of the path) is to be left exactly as it is:
 * sp_migrate_is_journal() tells, before anything is written to it.
 */
#include <sqlite3.h>

#include "migrate.h"
#include "sp_int.h"

/* More migrations ahead of this binary than any newer ctspool has. */
#define AHEAD_MAX 1000

static ctspool_rc
user_version(sqlite3 *db, int *out, struct sp_err *e)
{
    sqlite3_stmt *st = NULL;
    ctspool_rc rc = CTSPOOL_E_IO;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sp_err_set(e, "cannot read the journal's schema version: %s",
                   sqlite3_errmsg(db));
        if (sqlite3_errcode(db) == SQLITE_NOTADB ||
            sqlite3_errcode(db) == SQLITE_CORRUPT) {
            rc = CTSPOOL_E_CORRUPT;
        } else if (sqlite3_errcode(db) == SQLITE_NOMEM) {
            rc = CTSPOOL_E_NOMEM;
        }
        goto out;
    }
    *out = sqlite3_column_int(st, 0);
    rc = CTSPOOL_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

int
sp_migrate_is_journal(sqlite3 *db, struct sp_err *e)
{
    sqlite3_stmt *st = NULL;
    int64_t ours = 0, all = 0;
    ctspool_rc rc = CTSPOOL_E_CORRUPT;

    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), coalesce(sum(name IN ('grp', "
                           "'series', 'point', 'queue', 'meta')), 0) FROM "
                           "sqlite_master WHERE type = 'table' AND name "
                           "NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sp_err_set(e, "cannot read the journal's schema: %s",
                   sqlite3_errmsg(db));
        rc = sqlite3_errcode(db) == SQLITE_NOMEM ? CTSPOOL_E_NOMEM : rc;
        goto out;
    }
    all = sqlite3_column_int64(st, 0);
    ours = sqlite3_column_int64(st, 1);
    rc = CTSPOOL_OK;
    if (all > 0 && ours < 5) {
        sp_err_set(e,
                   "it is a SQLite database but not a ctspool journal "
                   "(%lld of its %lld tables are a journal's), and is left "
                   "as it is: point the journal setting at another file",
                   (long long)ours, (long long)all);
        rc = CTSPOOL_E_CANTCREATE;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

int
sp_migrate(sqlite3 *db, struct sp_err *e)
{
    int have = 0;
    int latest = sp_schema_count ? sp_schema[sp_schema_count - 1].version : 0;
    ctspool_rc rc;
    char *msg = NULL;
    int code;

    rc = user_version(db, &have, e);
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (have < 0 || have - latest > AHEAD_MAX) {
        sp_err_set(e,
                   "journal schema version %d is not one any ctspool "
                   "writes: the file header is damaged",
                   have);
        return CTSPOOL_E_CORRUPT;
    }
    if (have > latest) {
        sp_err_set(e,
                   "journal schema version %d is newer than this ctspool "
                   "(knows up to %d); upgrade ctspool",
                   have, latest);
        return CTSPOOL_E_SCHEMA;
    }
    if (have == latest) {
        return CTSPOOL_OK;
    }
    for (size_t i = 0; i < sp_schema_count; i++) {
        const struct sp_migration *m = &sp_schema[i];
        char pragma[64];

        if (m->version <= have) {
            continue;
        }
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) !=
            SQLITE_OK) {
            code = sqlite3_errcode(db);
            goto fail;
        }
        /* Another process may have migrated while we waited. */
        rc = user_version(db, &have, e);
        if (rc != CTSPOOL_OK) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        if (m->version <= have) {
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
            continue;
        }
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
                 m->version);
        if (sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            code = sqlite3_errcode(db); /* before ROLLBACK resets it */
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
        have = m->version;
    }
    return CTSPOOL_OK;
fail:
    code &= 0xff; /* the connection may give extended codes */
    if (code == SQLITE_ERROR || code == SQLITE_CORRUPT ||
        code == SQLITE_NOTADB) {
        sp_err_set(e,
                   "journal schema version %d does not match its tables "
                   "(%s): the file is damaged",
                   have, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return CTSPOOL_E_CORRUPT;
    }
    sp_err_set(e, "cannot migrate the journal schema: %s",
               msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    if (code == SQLITE_NOMEM) {
        return CTSPOOL_E_NOMEM;
    }
    return code == SQLITE_FULL ? CTSPOOL_E_DISKFULL : CTSPOOL_E_IO;
}
