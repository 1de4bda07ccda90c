/*
 * fsyncrate.c -- how many fsynced single-row SQLite commits per second
 * this disk does: WAL mode, synchronous=FULL, one INSERT per
 * transaction, for a few seconds.  The yardstick for group commit in
 * scripts/bench/serve (built there with cc).
 *
 *   fsyncrate DB_PATH [SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sqlite3.h>

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    double seconds = argc > 2 ? strtod(argv[2], NULL) : 3.0;
    double t0, t;
    long n = 0;
    int rc = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: fsyncrate DB_PATH [SECONDS]\n");
        return 64;
    }
    if (sqlite3_open(argv[1], &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                     "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY,"
                     " v REAL NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO t (v) VALUES (?1)", -1, &ins,
                           NULL) != SQLITE_OK) {
        fprintf(stderr, "fsyncrate: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    t0 = now_s();
    do {
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
            SQLITE_OK) {
            goto fail;
        }
        sqlite3_bind_double(ins, 1, (double)n);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            goto fail;
        }
        sqlite3_reset(ins);
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            goto fail;
        }
        n++;
        t = now_s() - t0;
    } while (t < seconds);
    printf("%.0f\n", (double)n / t);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "fsyncrate: %s\n", sqlite3_errmsg(db));
out:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return rc;
}
