/*
 * test_journal_event.c -- Event Overlay events in the journal
 * (journal_event.c, schema 0007): stored once per event ID, taken as a
 * batch of the events group with upstream's element, acknowledged, dead
 * lettered, requeued and compacted like points, counted apart from the
 * points by status; and a journal of schema 6 upgraded in place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "event.h"
#include "migrate.h"
#include "testutil.h"

static struct sp_event
event(int64_t hour, int64_t team, const char *type, const char *desc,
      const char *url)
{
    struct sp_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.hour = hour;
    ev.team_id = team;
    ev.type = type;
    ev.type_len = strlen(type);
    ev.description = desc;
    ev.description_len = strlen(desc);
    if (url) {
        ev.url = url;
        ev.url_len = strlen(url);
    }
    return ev;
}

static enum sp_put_result
put_event(struct sp_journal *j, struct sp_event ev)
{
    enum sp_put_result res = SP_PUT_UNCHANGED;

    assert_int_equal(sp_journal_begin(j), CTSPOOL_OK);
    assert_int_equal(sp_journal_put_event(j, &ev, &res), CTSPOOL_OK);
    assert_int_equal(sp_journal_commit(j), CTSPOOL_OK);
    return res;
}

static void
stats(struct sp_journal *j, struct sp_stats *st)
{
    assert_int_equal(sp_journal_stats(j, st), CTSPOOL_OK);
}

static void
test_lifecycle(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    struct sp_stats st;
    size_t idx = 1;
    uint64_t n = 0;

    sp_batch_init(&b);
    assert_int_equal(put_event(f->j, event(100, 7, "deploy", "v1",
                                           "https://ci.example/1")),
                     SP_PUT_NEW);
    assert_int_equal(put_event(f->j, event(100, 0, "incident", "down",
                                           NULL)),
                     SP_PUT_NEW);
    assert_int_equal(put_event(f->j, event(101, 7, "deploy", "v2", NULL)),
                     SP_PUT_NEW);
    /* The same event again: the same ID, nothing to do. */
    assert_int_equal(put_event(f->j, event(100, 7, "deploy", "v1",
                                           "https://ci.example/1")),
                     SP_PUT_UNCHANGED);
    /* Another hour is another event. */
    assert_int_equal(put_event(f->j, event(102, 7, "deploy", "v1",
                                           "https://ci.example/1")),
                     SP_PUT_NEW);
    tu_put1(f->j, tu_point("tok", SP_AGG_SUM, "m", 100, 1.5, NULL));
    stats(f->j, &st);
    assert_int_equal(st.pending_events, 4);
    assert_int_equal(st.pending_points, 1);
    assert_int_equal(st.acked_events, 0);

    /* The events group: id -1, taken first, upstream's element. */
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.grp, SP_GRP_EVENTS_ID);
    assert_int_equal(b.agg, SP_KIND_EVENTS);
    assert_int_equal(b.n, 4);
    assert_string_equal(b.pts[0].name, "deploy");
    assert_string_equal(b.pts[0].dims,
                        "{\"team_id\":7,\"payload\":{\"type\":\"deploy\","
                        "\"description\":\"v1\",\"event_url\":"
                        "\"https://ci.example/1\"}}");
    assert_string_equal(b.pts[1].dims, "{\"payload\":{\"type\":"
                                       "\"incident\",\"description\":"
                                       "\"down\"}}");
    /* One dead (404 no team found), the rest acknowledged. */
    assert_int_equal(sp_journal_dead(f->j, &b, &idx, 1, 404,
                                     "{\"message\":\"no team found\"}", 5),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_ack(f->j, &b, 0, 1, 10, &n), CTSPOOL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sp_journal_ack(f->j, &b, 2, 2, 10, &n), CTSPOOL_OK);
    assert_int_equal(n, 2);
    stats(f->j, &st);
    assert_int_equal(st.pending_events, 0);
    assert_int_equal(st.acked_events, 3);
    assert_int_equal(st.dead_events, 1);
    assert_int_equal(st.dead_letters, 0);
    assert_int_equal(st.pending_points, 1);
    assert_int_equal(st.acked_points, 0);

    /* Acknowledged: appending it again sends nothing. */
    assert_int_equal(put_event(f->j, event(101, 7, "deploy", "v2", NULL)),
                     SP_PUT_UNCHANGED);
    /* Dead, appended again: pending again (as a point would be). */
    assert_int_equal(put_event(f->j, event(100, 0, "incident", "down",
                                           NULL)),
                     SP_PUT_NEW);
    stats(f->j, &st);
    assert_int_equal(st.pending_events, 1);
    assert_int_equal(st.dead_events, 1);
    assert_int_equal(st.acked_events, 3);

    /* Compaction deletes acknowledged events past retention. */
    assert_int_equal(sp_journal_compact(f->j, 1000000, 0, NULL),
                     CTSPOOL_OK);
    stats(f->j, &st);
    assert_int_equal(st.acked_events, 0);
    assert_int_equal(st.pending_events, 1);
    assert_int_equal(st.dead_events, 1);
    sp_batch_cleanup(&b);
}

/* A journal of schema 6 (grp refusing agg 4) takes events once opened. */
static void
test_upgrade_from_6(void **state)
{
    struct tu_journal *f = *state;
    struct sp_stats st;
    sqlite3 *db;

    tu_put1(f->j, tu_point("tok", SP_AGG_MAXIMUM, "m", 100, 2.5, "k=v"));
    sp_journal_close(f->j);
    f->j = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE g6 (id INTEGER PRIMARY KEY, stream TEXT "
                     "NOT NULL, agg INTEGER NOT NULL CHECK (agg BETWEEN 0 "
                     "AND 3), UNIQUE (stream, agg));"
                     "INSERT INTO g6 SELECT id, stream, agg FROM grp;"
                     "DROP TABLE grp; ALTER TABLE g6 RENAME TO grp;"
                     "DROP TABLE resend;" TU_UNDO_0009
                     "PRAGMA user_version = 6",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO grp (id, stream, agg) "
                                      "VALUES (-1, '', 4)",
                                  NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    sqlite3_close(db);
    tu_journal_open(f);
    assert_int_equal(tu_sql1(f->path, "PRAGMA user_version"),
                     sp_schema[sp_schema_count - 1].version);
    assert_int_equal(put_event(f->j, event(100, 0, "deploy", "v1", NULL)),
                     SP_PUT_NEW);
    stats(f->j, &st);
    assert_int_equal(st.pending_points, 1);
    assert_int_equal(st.pending_events, 1);
    /* The point's group kept its id and agg. */
    assert_int_equal(tu_sql1(f->path, "SELECT agg FROM grp WHERE stream = "
                                      "'tok'"),
                     SP_AGG_MAXIMUM);
    /* Only the events group may have agg 4, and only as id -1. */
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM grp WHERE "
                                      "agg = 4 AND id = -1"),
                     1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, tu_journal_setup,
                                        tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_6,
                                        tu_journal_setup,
                                        tu_journal_teardown),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
