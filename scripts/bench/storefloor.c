/*
 * storefloor.c -- the storage floors of scripts/bench/append and
 * scripts/bench/events: N rows into a bare table in one transaction
 * (WAL, synchronous=FULL), with prepared inserts.
 *
 *   storefloor DB N points   (key, hour, value), 1,000 keys an hour
 *   storefloor DB N events   (hour, 32-byte ID) holding an element text
 *                            of the form and size of bench/events' events
 *
 * The second is the least a store that finds an event by its ID must
 * write.  Exit 0, or 1-3 at the step that failed.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long n;
    int events;
    uint64_t x = 88172645463325252ull; /* xorshift64: the IDs */

    if (argc != 4) {
        fprintf(stderr, "usage: storefloor DB N points|events\n");
        return 64;
    }
    n = atol(argv[2]);
    events = strcmp(argv[3], "events") == 0;
    if (sqlite3_open(argv[1], &db) ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                     0, 0, 0) ||
        sqlite3_exec(db,
                     events ? "CREATE TABLE e (hour INTEGER, id BLOB, body "
                              "TEXT, PRIMARY KEY (hour, id)) WITHOUT ROWID;"
                            : "CREATE TABLE t (key INTEGER, hour INTEGER, "
                              "value REAL, PRIMARY KEY (hour, key)) "
                              "WITHOUT ROWID;",
                     0, 0, 0) ||
        sqlite3_exec(db, "BEGIN", 0, 0, 0) ||
        sqlite3_prepare_v2(db,
                           events ? "INSERT INTO e VALUES (?1, ?2, ?3)"
                                  : "INSERT INTO t VALUES (?1, ?2, ?3)",
                           -1, &st, 0)) {
        return 1;
    }
    for (long i = 0; i < n; i++) {
        if (events) {
            uint64_t id[4];
            char body[400];

            for (int k = 0; k < 4; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                id[k] = x;
            }
            snprintf(body, sizeof(body),
                     "{\"team_id\":%ld,\"payload\":{\"type\":\"deploy\","
                     "\"description\":\"release %ld of service-%03ld to "
                     "eu-west-1\",\"event_url\":\"https://ci.example/r/%ld\""
                     "}}",
                     i % 7 + 1, i, i % 500, i);
            sqlite3_bind_int64(st, 1, 492000 + i / 1000);
            sqlite3_bind_blob(st, 2, id, sizeof(id), SQLITE_STATIC);
            sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
        } else {
            sqlite3_bind_int64(st, 1, i % 1000);
            sqlite3_bind_int64(st, 2, 492000 + i / 1000);
            sqlite3_bind_double(st, 3, (double)i * 0.25);
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            return 2;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (sqlite3_exec(db, "COMMIT", 0, 0, 0)) {
        return 3;
    }
    sqlite3_close(db);
    return 0;
}
