/*
 * journal_ckpt.c -- who checkpoints a journal's WAL.
 *
 * A commit appends pages to the WAL; a checkpoint copies them back into
 * the database file (and, with durability "full", fsyncs it) so that the
 * WAL can start over.  By default a connection checkpoints itself after
 * each commit that leaves 1,000 or more pages in the WAL (SQLite's
 * automatic checkpoint), in the thread that committed.
 *
 * serve's writer thread is the serial path of every request: a
 * checkpoint there holds up every request queued behind it (a tenth
 * of serve's CPU samples on 1,000-event bodies).  So a connection can
 * hand its checkpoints on: sp_journal_on_wal() turns its automatic
 * checkpoints off and reports the WAL's size after each of its commits
 * instead; sp_journal_checkpoint(), on another connection in another
 * thread, then runs them.  A PASSIVE checkpoint neither waits for nor
 * blocks writers and readers: it copies what no reader still needs, and
 * the next commit after a complete one starts the WAL over.
 *
 * Invariants:
 * (1) A connection either checkpoints automatically or has an on_wal
 *     callback, never neither: sp_journal_on_wal(j, NULL, NULL) restores
 *     the automatic checkpoints, and a reconnect (journal_heal.c) keeps
 *     the callback.
 * (2) A checkpoint never changes what a reader sees or what is durable:
 *     the WAL is fsynced at every commit with durability "full" whoever
 *     checkpoints.
 */
#include <assert.h>

#include <sqlite3.h>

#include "journal_int.h"

#define AUTO_CHECKPOINT_PAGES 1000 /* SQLite's default */

/* sqlite3_wal_hook()'s callback: called after each commit with the
 * number of pages now in the WAL. */
static int
wal_hook(void *ud, sqlite3 *db, const char *name, int pages)
{
    struct sp_journal *j = ud;

    (void)db;
    (void)name;
    if (j->on_wal) {
        j->on_wal(j->on_wal_ctx, pages);
    }
    return SQLITE_OK;
}

/* Sets j's connection up as j->on_wal says (invariant 1): called when it
 * connects (journal.c) and when the callback changes. */
void
sp_jn_wal_setup(struct sp_journal *j)
{
    if (!j->db) {
        return;
    }
    if (j->on_wal) {
        sqlite3_wal_hook(j->db, wal_hook, j); /* replaces the automatic */
    } else {
        sqlite3_wal_autocheckpoint(j->db, AUTO_CHECKPOINT_PAGES);
    }
}

void
sp_journal_on_wal(struct sp_journal *j, void (*fn)(void *ctx, int pages),
                  void *ctx)
{
    j->on_wal = fn;
    j->on_wal_ctx = ctx;
    sp_jn_wal_setup(j);
}

ctspool_rc
sp_journal_checkpoint(struct sp_journal *j, int *wal_pages, int *copied)
{
    int log = 0, done = 0, r;
    ctspool_rc rc;

    assert(!j->in_txn);
    rc = sp_jn_follow(j); /* the journal now at the path */
    if (rc != CTSPOOL_OK) {
        return rc;
    }
    r = sqlite3_wal_checkpoint_v2(j->db, "main", SQLITE_CHECKPOINT_PASSIVE,
                                  &log, &done);
    if (wal_pages) {
        *wal_pages = log;
    }
    if (copied) {
        *copied = done;
    }
    if ((r & 0xff) == SQLITE_BUSY) {
        return CTSPOOL_E_BUSY; /* another checkpoint is running */
    }
    if (r != SQLITE_OK) {
        return sp_jn_db_fail(j, r, "checkpoint");
    }
    return CTSPOOL_OK;
}
