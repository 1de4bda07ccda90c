/*
 * journal_busy.c -- how a journal connection waits for another writer.
 *
 * SQLite lets one writer at a time into a WAL database; a connection
 * that finds the write lock taken calls its busy handler and tries
 * again.  SQLite's own handler (sqlite3_busy_timeout) naps 1, 2, 5, 10,
 * ... up to 100 ms between tries.  That starves a writer that shares the
 * journal with one that commits back to back: serve's group commit
 * under load holds the lock through every fsync and frees it only for
 * the microseconds between two transactions, which a try every 100 ms
 * almost never hits.  Measured with scripts/bench/e2e: while serve took
 * 1,000,000 points, the drainer, whose acknowledgements need the lock,
 * delivered 6,000 to 17,000 of them, and everything waited for the
 * load to end.
 *
 * So the wait here tries again often at first and less often later:
 *
 *   waited < FAST_MS:  a nap of FAST_NAP_US between tries (a gap between
 *                      another writer's transactions is soon found)
 *   later:             a nap of SLOW_NAP_US (a long transaction, say a
 *                      compaction, costs few wake-ups)
 *
 * and gives up (SQLITE_BUSY to the statement) once the connection's
 * timeout has passed since the first try of this wait.
 *
 * Invariant: a wait never ends before the timeout has passed unless the
 * lock was had; it ends at most one nap after it.
 */
#include <time.h>

#include <sqlite3.h>

#include "journal_int.h"

#define FAST_MS 50          /* ms of frequent tries at the start */
#define FAST_NAP_US 100     /* us between them */
#define SLOW_NAP_US 2000    /* us between tries after that */

/* sqlite3_busy_handler()'s callback: n is the number of earlier calls
 * for the same wait.  Returns 1 to try again, 0 to give up. */
static int
on_busy(void *ud, int n)
{
    struct sp_journal *j = ud;
    int64_t now = sp_clock_us(), waited;
    struct timespec nap = {0, 0};

    if (n == 0) {
        j->busy_since_us = now;
    }
    waited = now - j->busy_since_us;
    if (waited >= (int64_t)j->busy_ms * 1000) {
        return 0;
    }
    nap.tv_nsec = (waited < (int64_t)FAST_MS * 1000 ? FAST_NAP_US
                                                     : SLOW_NAP_US) *
                  1000L;
    nanosleep(&nap, NULL);
    return 1;
}

/*
 * sp_jn_busy_set -- j's connection waits up to ms (> 0; else the
 * default, SP_JN_BUSY_MS_DEFAULT) for another writer, as described
 * above.  j->db must be open.
 */
void
sp_jn_busy_set(struct sp_journal *j, int ms)
{
    j->busy_ms = ms > 0 ? ms : SP_JN_BUSY_MS_DEFAULT;
    sqlite3_busy_handler(j->db, on_busy, j);
}
