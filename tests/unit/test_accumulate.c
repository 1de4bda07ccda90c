/*
 * test_accumulate.c -- local hourly rollup (journal_fold.c sp_journal_fold,
 * DESIGN.md section 10): each aggregation function folds, a fold that
 * leaves the value unchanged does not re-pend (an Average's parts still
 * move), a result that is not finite is refused and changes nothing, a
 * replace resets an Average, a fold while the old value is in flight
 * stays pending; folds held in memory until their transaction writes
 * them (journal_fold.c): many in one transaction, back to the stored
 * value, a replace between folds, a savepoint rolled back (also after a
 * put wrote the folds inside it), more identities than are held at once,
 * and random sequences of all of these against a model;
 * idempotency keys (journal_idem.c); the C API's ctspool_append_ex as an
 * embedder uses it.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctspool.h"
#include "journal.h"
#include "testutil.h"

#define HOUR 470000

static enum sp_put_result
fold1(struct sp_journal *j, int agg, double v)
{
    return tu_fold1(j, tu_point("tok", agg, "m", HOUR, v, "k=v"));
}

/* The stored value of the test's point of agg. */
static double
value_of(struct tu_journal *f, int agg)
{
    char sql[256];
    int64_t milli;

    snprintf(sql, sizeof(sql),
             "SELECT CAST(round(p.value * 1000) AS INTEGER) FROM point p "
             "JOIN grp g ON g.id = p.grp WHERE g.agg = %d",
             agg);
    milli = tu_sql1(f->path, sql);
    return (double)milli / 1000.0;
}

static int64_t
pending(struct tu_journal *f)
{
    return tu_sql1(f->path, "SELECT count(*) FROM queue");
}

/* Drains everything: the batch taken is acknowledged. */
static void
ack_all(struct sp_journal *j)
{
    struct sp_batch b;

    sp_batch_init(&b);
    for (;;) {
        assert_int_equal(sp_journal_take(j, 100, &b), CTSPOOL_OK);
        if (b.n == 0) {
            break;
        }
        assert_int_equal(sp_journal_ack(j, &b, 0, b.n, 1700000000, NULL),
                         CTSPOOL_OK);
    }
    sp_batch_cleanup(&b);
}

static void
test_fold_each_function(void **state)
{
    struct tu_journal *f = *state;
    static const double obs[] = {4, 10, -2, 7.5, 3};

    for (size_t i = 0; i < 5; i++) {
        enum sp_put_result want = i == 0 ? SP_PUT_NEW : SP_PUT_UPDATED;

        assert_int_equal(fold1(f->j, SP_AGG_SUM, obs[i]), want);
        fold1(f->j, SP_AGG_AVERAGE, obs[i]);
        fold1(f->j, SP_AGG_MAXIMUM, obs[i]);
        fold1(f->j, SP_AGG_MINIMUM, obs[i]);
    }
    assert_true(value_of(f, SP_AGG_SUM) == 22.5);
    assert_true(value_of(f, SP_AGG_AVERAGE) == 4.5);
    assert_true(value_of(f, SP_AGG_MAXIMUM) == 10);
    assert_true(value_of(f, SP_AGG_MINIMUM) == -2);
    assert_int_equal(tu_sql1(f->path, "SELECT avg_n FROM point p JOIN grp g "
                                      "ON g.id = p.grp WHERE g.agg = 1"),
                     5);
    assert_int_equal(pending(f), 4);
}

static void
test_fold_unchanged_does_not_repend(void **state)
{
    struct tu_journal *f = *state;

    fold1(f->j, SP_AGG_MAXIMUM, 10);
    fold1(f->j, SP_AGG_AVERAGE, 4);
    fold1(f->j, SP_AGG_AVERAGE, 6);
    ack_all(f->j);
    assert_int_equal(pending(f), 0);
    /* A smaller Maximum; an Average observation equal to the mean. */
    assert_int_equal(fold1(f->j, SP_AGG_MAXIMUM, 3), SP_PUT_UNCHANGED);
    assert_int_equal(fold1(f->j, SP_AGG_AVERAGE, 5), SP_PUT_UNCHANGED);
    assert_int_equal(pending(f), 0);
    assert_int_equal(tu_sql1(f->path, "SELECT avg_n FROM point p JOIN grp g "
                                      "ON g.id = p.grp WHERE g.agg = 1"),
                     3);
    /* ... but the next one counts all three before it. */
    assert_int_equal(fold1(f->j, SP_AGG_AVERAGE, 9), SP_PUT_UPDATED);
    assert_true(value_of(f, SP_AGG_AVERAGE) == 6);
    assert_int_equal(pending(f), 1);
}

static void
test_fold_not_finite_is_refused(void **state)
{
    struct tu_journal *f = *state;
    struct sp_point p = tu_point("tok", SP_AGG_SUM, "m", HOUR, 1.5e308,
                                 "k=v");
    enum sp_put_result res;

    fold1(f->j, SP_AGG_SUM, 1.5e308);
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_fold(f->j, &p, &res), CTSPOOL_E_INVALID);
    assert_non_null(strstr(sp_journal_errmsg(f->j), "metric_value"));
    assert_non_null(strstr(sp_journal_errmsg(f->j), "not finite"));
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(tu_sql1(f->path, "SELECT value = 1.5e308 FROM point"),
                     1);
}

static void
test_replace_resets_average(void **state)
{
    struct tu_journal *f = *state;

    fold1(f->j, SP_AGG_AVERAGE, 2);
    fold1(f->j, SP_AGG_AVERAGE, 4);
    assert_int_equal(tu_put1(f->j, tu_point("tok", SP_AGG_AVERAGE, "m", HOUR,
                                            3, "k=v")),
                     SP_PUT_UNCHANGED); /* the mean already: no new version */
    assert_int_equal(tu_sql1(f->path, "SELECT avg_n IS NULL FROM point"), 1);
    fold1(f->j, SP_AGG_AVERAGE, 5);
    assert_true(value_of(f, SP_AGG_AVERAGE) == 4); /* (3 + 5) / 2 */
}

static void
test_fold_while_in_flight_stays_pending(void **state)
{
    struct tu_journal *f = *state;
    struct sp_batch b;
    size_t n = 0;

    fold1(f->j, SP_AGG_SUM, 1);
    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1);
    fold1(f->j, SP_AGG_SUM, 2); /* while the 1 is being uploaded */
    assert_int_equal(sp_journal_ack(f->j, &b, 0, 1, 1700000000, &n),
                     CTSPOOL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(pending(f), 1);
    assert_int_equal(sp_journal_take(f->j, 10, &b), CTSPOOL_OK);
    assert_int_equal(b.n, 1);
    assert_true(b.pts[0].value == 3);
    sp_batch_cleanup(&b);
}

/* Folds v into the point named name (inside the caller's transaction). */
static enum sp_put_result
fold_in(struct sp_journal *j, int agg, const char *name, double v)
{
    struct sp_point p = tu_point("tok", agg, name, HOUR, v, "k=v");
    enum sp_put_result res = SP_PUT_NEW;

    assert_int_equal(sp_journal_fold(j, &p, &res), CTSPOOL_OK);
    return res;
}

/* The stored value of the point named name, times 1000 (-1: none). */
static int64_t
milli_of(struct tu_journal *f, const char *name)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT coalesce((SELECT CAST(round(p.value * 1000) AS INTEGER) "
             "FROM point p JOIN series s ON s.id = p.series "
             "WHERE s.metric_name = '%s'), -1)",
             name);
    return tu_sql1(f->path, sql);
}

static int64_t
meta_of(struct tu_journal *f, const char *k)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT v FROM meta WHERE k = '%s'", k);
    return tu_sql1(f->path, sql);
}

/* The counters agree with the rows. */
static void
assert_counted(struct tu_journal *f)
{
    assert_int_equal(meta_of(f, "pending"), pending(f));
    assert_int_equal(meta_of(f, "points"),
                     tu_sql1(f->path, "SELECT count(*) FROM point"));
}

static void
test_folds_in_one_transaction(void **state)
{
    struct tu_journal *f = *state;

    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "a", 1), SP_PUT_NEW);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "a", 2), SP_PUT_UPDATED);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "a", 3), SP_PUT_UPDATED);
    assert_int_equal(fold_in(f->j, SP_AGG_AVERAGE, "b", 2), SP_PUT_NEW);
    assert_int_equal(fold_in(f->j, SP_AGG_AVERAGE, "b", 4), SP_PUT_UPDATED);
    assert_int_equal(fold_in(f->j, SP_AGG_AVERAGE, "b", 6), SP_PUT_UPDATED);
    assert_int_equal(fold_in(f->j, SP_AGG_MAXIMUM, "c", 5), SP_PUT_NEW);
    assert_int_equal(fold_in(f->j, SP_AGG_MAXIMUM, "c", 1), SP_PUT_UNCHANGED);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(milli_of(f, "a"), 6000);
    assert_int_equal(milli_of(f, "b"), 4000);
    assert_int_equal(milli_of(f, "c"), 5000);
    assert_int_equal(tu_sql1(f->path, "SELECT avg_sum * 10 + avg_n FROM "
                                      "point WHERE avg_n IS NOT NULL"),
                     123);
    assert_int_equal(pending(f), 3);
    assert_int_equal(meta_of(f, "appended_total"), 7); /* as one by one */
    assert_counted(f);

    /* Onto the stored rows: one new version each, the old ones gone. */
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "a", 4), SP_PUT_UPDATED);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "a", 0), SP_PUT_UNCHANGED);
    assert_int_equal(fold_in(f->j, SP_AGG_AVERAGE, "b", 4), SP_PUT_UNCHANGED);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(milli_of(f, "a"), 10000);
    assert_int_equal(tu_sql1(f->path, "SELECT avg_n FROM point WHERE "
                                      "avg_n IS NOT NULL"),
                     4); /* the unchanged mean still counts */
    assert_int_equal(pending(f), 3);
    assert_counted(f);
}

static void
test_fold_back_to_stored_value(void **state)
{
    struct tu_journal *f = *state;

    fold1(f->j, SP_AGG_SUM, 5);
    ack_all(f->j);
    assert_int_equal(pending(f), 0);
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "m", 1), SP_PUT_UPDATED);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "m", -1), SP_PUT_UPDATED);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    /* Row by row the 5 was sent again: so it is here. */
    assert_int_equal(milli_of(f, "m"), 5000);
    assert_int_equal(pending(f), 1);
    assert_counted(f);
}

static void
test_replace_between_folds(void **state)
{
    struct tu_journal *f = *state;
    struct sp_point p = tu_point("tok", SP_AGG_SUM, "a", HOUR, 10, "k=v");
    enum sp_put_result res;

    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "a", 1), SP_PUT_NEW);
    assert_int_equal(sp_journal_put(f->j, &p, &res), CTSPOOL_OK);
    assert_int_equal(res, SP_PUT_UPDATED); /* it sees the fold */
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "a", 1), SP_PUT_UPDATED);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(milli_of(f, "a"), 11000);
    assert_int_equal(pending(f), 1);
    assert_counted(f);
}

static void
test_savepoint_rolls_folds_back(void **state)
{
    struct tu_journal *f = *state;
    struct sp_point d = tu_point("tok", SP_AGG_SUM, "d", HOUR, 9, "k=v");
    enum sp_put_result res;

    fold1(f->j, SP_AGG_SUM, 1); /* "m" stored: 1 */
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    /* The first request stays. */
    assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "a", 1), SP_PUT_NEW);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "b", 10), SP_PUT_NEW);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "m", 1), SP_PUT_UPDATED);
    assert_int_equal(sp_journal_release(f->j), CTSPOOL_OK);
    /* The second changes them, writes them (a replace put), changes
     * them again, and is rolled back. */
    assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "a", 2), SP_PUT_UPDATED);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "c", 7), SP_PUT_NEW);
    assert_int_equal(sp_journal_put(f->j, &d, &res), CTSPOOL_OK);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "a", 100), SP_PUT_UPDATED);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "m", 100), SP_PUT_UPDATED);
    assert_int_equal(sp_journal_rollback_to(f->j), CTSPOOL_OK);
    /* The third folds on what the first left. */
    assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "b", 5), SP_PUT_UPDATED);
    assert_int_equal(sp_journal_rollback_to(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
    assert_int_equal(fold_in(f->j, SP_AGG_SUM, "b", 1), SP_PUT_UPDATED);
    assert_int_equal(sp_journal_release(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(milli_of(f, "a"), 1000);
    assert_int_equal(milli_of(f, "b"), 11000);
    assert_int_equal(milli_of(f, "m"), 2000);
    assert_int_equal(milli_of(f, "c"), -1);
    assert_int_equal(milli_of(f, "d"), -1);
    assert_int_equal(pending(f), 3);
    assert_counted(f);
}

/* More identities than one transaction holds (journal_fold.c FOLD_MAX),
 * outside and inside a savepoint. */
static void
test_many_identities(void **state)
{
    struct tu_journal *f = *state;
    enum { N = 20000 };
    char name[32];

    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i += round ? 7 : 1) {
            snprintf(name, sizeof(name), "m%d", i);
            assert_int_equal(fold_in(f->j, SP_AGG_SUM, name, 1),
                             round ? SP_PUT_UPDATED : SP_PUT_NEW);
        }
    }
    assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        fold_in(f->j, SP_AGG_SUM, name, 1000);
        snprintf(name, sizeof(name), "n%d", i);
        fold_in(f->j, SP_AGG_SUM, name, 1000);
    }
    assert_int_equal(sp_journal_rollback_to(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM point"), N);
    assert_int_equal(tu_sql1(f->path, "SELECT sum(value) FROM point"),
                     N + (N + 6) / 7);
    assert_int_equal(pending(f), N);
    assert_counted(f);
}

/* ---- random operations against a model ------------------------------ */

enum { M_IDS = 12, M_STEPS = 4000 };

/* What one record's point should hold. */
struct model_pt {
    int exists;
    double value;
    int has_avg;
    double sum;
    int64_t n;
};

/* DESIGN.md section 10, written out once more for the test. */
static void
model_fold(struct model_pt *m, int agg, double v)
{
    if (!m->exists) {
        m->exists = 1;
        m->value = v;
        return;
    }
    switch (agg) {
    case SP_AGG_SUM:
        m->value += v;
        break;
    case SP_AGG_MAXIMUM:
        m->value = v > m->value ? v : m->value;
        break;
    case SP_AGG_MINIMUM:
        m->value = v < m->value ? v : m->value;
        break;
    default:
        m->sum = (m->has_avg ? m->sum : m->value) + v;
        m->n = (m->has_avg ? m->n : 1) + 1;
        m->has_avg = 1;
        m->value = m->sum / (double)m->n;
        break;
    }
}

static void
model_check(struct tu_journal *f, const struct model_pt *m)
{
    char name[16], sql[256];

    for (int id = 0; id < M_IDS; id++) {
        snprintf(name, sizeof(name), "r%d", id);
        assert_int_equal(milli_of(f, name),
                         m[id].exists ? llround(m[id].value * 1000) : -1);
        if (!m[id].exists) {
            continue;
        }
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(p.avg_n, 0) FROM point p JOIN series s ON "
                 "s.id = p.series WHERE s.metric_name = '%s'",
                 name);
        assert_int_equal(tu_sql1(f->path, sql), m[id].has_avg ? m[id].n : 0);
    }
    assert_counted(f);
}

/*
 * Folds, replace puts, savepoints released or rolled back to, commits,
 * rollbacks and acknowledgements in a random order (a fixed seed): after
 * every commit the journal holds what the model says.
 */
static void
test_folds_against_a_model(void **state)
{
    struct tu_journal *f = *state;
    struct model_pt now[M_IDS], at_sp[M_IDS], committed[M_IDS];
    uint64_t rng = 0x5eed;
    int in_txn = 0, in_sp = 0, commits = 0;

    memset(now, 0, sizeof(now));
    memset(committed, 0, sizeof(committed));
    for (int step = 0; step < M_STEPS; step++) {
        unsigned op, id;
        double v;
        char name[16];
        enum sp_put_result res;

        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        op = (unsigned)(rng >> 33) % 100;
        id = (unsigned)(rng >> 45) % M_IDS;
        v = (double)((int)((rng >> 55) % 9) - 2);
        snprintf(name, sizeof(name), "r%u", id);
        if (!in_txn) {
            assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
            in_txn = 1;
        }
        if (op < 60) {
            fold_in(f->j, (int)(id % 4), name, v);
            model_fold(&now[id], (int)(id % 4), v);
        } else if (op < 66) {
            struct sp_point p = tu_point("tok", (int)(id % 4), name, HOUR, v,
                                         "k=v");

            assert_int_equal(sp_journal_put(f->j, &p, &res), CTSPOOL_OK);
            memset(&now[id], 0, sizeof(now[id]));
            now[id].exists = 1;
            now[id].value = v;
        } else if (op < 76 && !in_sp) {
            assert_int_equal(sp_journal_savepoint(f->j), CTSPOOL_OK);
            memcpy(at_sp, now, sizeof(now));
            in_sp = 1;
        } else if (op < 82 && in_sp) {
            assert_int_equal(sp_journal_release(f->j), CTSPOOL_OK);
            in_sp = 0;
        } else if (op < 88 && in_sp) {
            assert_int_equal(sp_journal_rollback_to(f->j), CTSPOOL_OK);
            memcpy(now, at_sp, sizeof(now));
            in_sp = 0;
        } else if (op < 97 && !in_sp) {
            assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
            in_txn = 0;
            commits++;
            memcpy(committed, now, sizeof(now));
            model_check(f, now);
            if (op >= 94) {
                ack_all(f->j); /* folds then bring acknowledged ones back */
                assert_int_equal(pending(f), 0);
            }
        } else if (!in_sp) {
            sp_journal_rollback(f->j);
            in_txn = 0;
            memcpy(now, committed, sizeof(now));
        }
    }
    if (in_sp) {
        assert_int_equal(sp_journal_release(f->j), CTSPOOL_OK);
    }
    if (in_txn) {
        assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    }
    model_check(f, now);
    assert_true(commits > 100);
}

static void
test_idempotency_keys(void **state)
{
    struct tu_journal *f = *state;
    char *answer = NULL;
    int64_t at = 0;
    uint64_t n = 0;

    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_idem_get(f->j, "k1", 0, &answer, &at),
                     CTSPOOL_E_NOTFOUND);
    assert_int_equal(sp_journal_idem_put(f->j, "k1", "first", 1000),
                     CTSPOOL_OK);
    assert_int_equal(sp_journal_commit(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_begin(f->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_idem_get(f->j, "k1", 900, &answer, &at),
                     CTSPOOL_OK);
    assert_string_equal(answer, "first");
    assert_int_equal(at, 1000);
    free(answer);
    /* Older than the window: as if never seen. */
    assert_int_equal(sp_journal_idem_get(f->j, "k1", 1001, &answer, &at),
                     CTSPOOL_E_NOTFOUND);
    sp_journal_rollback(f->j);
    assert_int_equal(sp_journal_idem_prune(f->j, 1001, &n), CTSPOOL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tu_sql1(f->path, "SELECT count(*) FROM idem"), 0);
}

static void
test_api_accumulate_with_key(void **state)
{
    struct tu_journal *f = *state;
    ctspool_point pts[2];
    ctspool_append_result res;
    ctspool *h = NULL;
    int applied = -1;

    sp_journal_close(f->j);
    f->j = NULL;
    memset(pts, 0, sizeof(pts));
    for (size_t i = 0; i < 2; i++) {
        pts[i].data_stream_token = "tok-embed";
        pts[i].metric_agg_func = "Sum";
        pts[i].metric_name = "requests";
        pts[i].timestamp = 1664600400; /* 2022-10-01 05:00:00 UTC */
        pts[i].metric_value = 2.5;
    }
    assert_int_equal(ctspool_open(f->path, 0, &h), CTSPOOL_OK);
    assert_int_equal(ctspool_append_ex(h, pts, 2, CTSPOOL_APPEND_ACCUMULATE,
                                       "req-1", &res, &applied),
                     CTSPOOL_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(res.n_new, 1);
    assert_int_equal(res.n_updated, 1);
    /* A retry with the same key changes nothing. */
    assert_int_equal(ctspool_append_ex(h, pts, 2, CTSPOOL_APPEND_ACCUMULATE,
                                       "req-1", &res, &applied),
                     CTSPOOL_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(res.n_new + res.n_updated, 0);
    assert_int_equal(ctspool_append_ex(h, pts, 1, CTSPOOL_APPEND_ACCUMULATE,
                                       "req-2", &res, NULL),
                     CTSPOOL_OK);
    assert_int_equal(tu_sql1(f->path, "SELECT CAST(value * 10 AS INTEGER) "
                                      "FROM point"),
                     75);
    assert_int_equal(ctspool_append_ex(h, pts, 1, 0x80, NULL, &res, NULL),
                     CTSPOOL_E_USAGE);
    assert_int_equal(ctspool_append_ex(h, pts, 1, 0, "", &res, NULL),
                     CTSPOOL_E_USAGE);
    ctspool_close(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fold_each_function,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_fold_unchanged_does_not_repend,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_fold_not_finite_is_refused,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_replace_resets_average,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(
            test_fold_while_in_flight_stays_pending, tu_journal_setup,
            tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_folds_in_one_transaction,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_fold_back_to_stored_value,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_replace_between_folds,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_savepoint_rolls_folds_back,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_many_identities,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_folds_against_a_model,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_keys,
                                        tu_journal_setup, tu_journal_teardown),
        cmocka_unit_test_setup_teardown(test_api_accumulate_with_key,
                                        tu_journal_setup, tu_journal_teardown),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
