/*
 * test_journal_batch.c -- sp_journal_resolve + sp_journal_put_resolved
 * must do what sp_journal_put does point by point: the same result for
 * every point and the same final journal (points, values, what is
 * pending, the counters), with the invariants holding.  Two journals
 * take the same pseudo-random transactions, one point by point, one in
 * batches: identities repeat within a batch and across batches, values
 * repeat (unchanged), acknowledged points come back, batches are full
 * (one statement) or not; then both meet a pending limit.  Events
 * (sp_journal_resolve_event) likewise against sp_journal_put_event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "journal.h"
#include "testutil.h"

struct pair {
    struct tu_journal *one, *many; /* sp_journal_put; batched */
};

static int
setup(void **state)
{
    struct pair *p = calloc(1, sizeof(*p));
    void *s;

    assert_non_null(p);
    tu_journal_setup(&s);
    p->one = s;
    tu_journal_setup(&s);
    p->many = s;
    *state = p;
    return 0;
}

static int
teardown(void **state)
{
    struct pair *p = *state;
    void *s = p->one;

    tu_journal_teardown(&s);
    s = p->many;
    tu_journal_teardown(&s);
    free(p);
    return 0;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t
next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Point k of a small pool of identities (so they repeat) and values. */
static struct sp_point
pool_point(char *dim, size_t dim_len)
{
    uint64_t r = next();

    snprintf(dim, dim_len, "host=h%u", (unsigned)(r % 40));
    return tu_point(r >> 8 & 1 ? "tok-a" : "tok-b",
                    (int)(r >> 9 & 3), "req", 490000 + (int64_t)(r >> 12 & 3),
                    (double)(r >> 16 & 3), dim);
}

/* n points into both journals, each in one transaction; results equal. */
static ctspool_rc
both_put(struct pair *p, size_t n, ctspool_rc want)
{
    struct sp_point pts[200];
    char dims[200][32];
    enum sp_put_result r1[200], r2[200];
    struct sp_resolved rv[SP_PUT_BATCH];
    ctspool_rc rc1 = CTSPOOL_OK, rc2 = CTSPOOL_OK;
    size_t nb = 0, base = 0;

    assert_true(n <= 200);
    for (size_t i = 0; i < n; i++) {
        pts[i] = pool_point(dims[i], sizeof(dims[i]));
    }
    assert_int_equal(sp_journal_begin(p->one->j), CTSPOOL_OK);
    for (size_t i = 0; i < n && rc1 == CTSPOOL_OK; i++) {
        rc1 = sp_journal_put(p->one->j, &pts[i], &r1[i]);
    }
    assert_int_equal(sp_journal_begin(p->many->j), CTSPOOL_OK);
    for (size_t i = 0; i < n && rc2 == CTSPOOL_OK; i++) {
        rc2 = sp_journal_resolve(p->many->j, &pts[i], &rv[nb++]);
        if (rc2 == CTSPOOL_OK && (nb == SP_PUT_BATCH || i == n - 1)) {
            rc2 = sp_journal_put_resolved(p->many->j, rv, nb, &r2[base]);
            base += nb;
            nb = 0;
        }
    }
    assert_int_equal(rc1, want);
    assert_int_equal(rc2, want);
    if (want != CTSPOOL_OK) {
        sp_journal_rollback(p->one->j);
        sp_journal_rollback(p->many->j);
        return want;
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r1[i], r2[i]);
    }
    assert_int_equal(sp_journal_commit(p->one->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_commit(p->many->j), CTSPOOL_OK);
    return CTSPOOL_OK;
}

/* Acknowledges the first n pending points of the first group in j. */
static void
ack_some(struct sp_journal *j, size_t n)
{
    struct sp_batch b;

    sp_batch_init(&b);
    assert_int_equal(sp_journal_take(j, n, &b), CTSPOOL_OK);
    if (b.n) {
        assert_int_equal(sp_journal_ack(j, &b, 0, b.n, 1000, NULL),
                         CTSPOOL_OK);
    }
    sp_batch_cleanup(&b);
}

/* The journals hold the same points, values and pending set. */
static void
same_state(struct pair *p)
{
    static const char *const q[] = {
        "SELECT count(*) FROM point",
        "SELECT count(*) FROM queue",
        "SELECT total(value * (hour - 489999) * series) FROM point",
        "SELECT total(value * (hour - 489999) * series * grp) FROM queue",
        "SELECT v FROM meta WHERE k = 'pending'",
        "SELECT v FROM meta WHERE k = 'points'",
        "SELECT v FROM meta WHERE k = 'appended_total'",
        ("SELECT count(*) FROM point p JOIN queue q ON q.grp = p.grp AND "
         "q.seq = p.seq AND q.value = p.value"),
    };
    char why[256];

    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        assert_int_equal(tu_sql1(p->one->path, q[i]), tu_sql1(p->many->path, q[i]));
    }
    assert_int_equal(sp_journal_check(p->many->j, why, sizeof(why)), 0);
    assert_int_equal(sp_journal_check(p->one->j, why, sizeof(why)), 0);
}

static void
test_batches_equal_single_puts(void **state)
{
    struct pair *p = *state;
    static const size_t sizes[] = {64, 64, 200, 37, 128, 1, 64, 190, 64};

    for (size_t round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            both_put(p, sizes[i], CTSPOOL_OK);
            same_state(p);
            if (i % 3 == 2) {
                /* Acknowledged points: a new value makes them pending. */
                ack_some(p->one->j, 50);
                ack_some(p->many->j, 50);
                same_state(p);
            }
        }
    }
    /* Something of each kind happened. */
    assert_true(tu_sql1(p->many->path, "SELECT count(*) FROM point") > 100);
    assert_true(tu_sql1(p->many->path, "SELECT v FROM meta WHERE "
                                      "k = 'appended_total'") >
                tu_sql1(p->many->path, "SELECT count(*) FROM point"));
}

static void
test_pending_limit(void **state)
{
    struct pair *p = *state;
    int64_t pending;

    both_put(p, 64, CTSPOOL_OK);
    pending = tu_sql1(p->many->path, "SELECT v FROM meta WHERE "
                                    "k = 'pending'");
    /* Room for a few more only: both refuse the same transaction. */
    sp_journal_set_limits(p->one->j, (uint64_t)pending + 3, 0);
    sp_journal_set_limits(p->many->j, (uint64_t)pending + 3, 0);
    rng = 12345;
    assert_int_equal(both_put(p, 64, CTSPOOL_E_FULL), CTSPOOL_E_FULL);
    same_state(p);
    sp_journal_set_limits(p->one->j, 0, 0);
    sp_journal_set_limits(p->many->j, 0, 0);
    both_put(p, 64, CTSPOOL_OK);
    same_state(p);
}

/* n pseudo-random events (a small pool: they repeat) into both
 * journals in one transaction each, one by one and batched. */
static void
both_put_events(struct pair *p, size_t n)
{
    static char desc[200][32];
    struct sp_event ev[200];
    enum sp_put_result r1[200], r2[200];
    struct sp_resolved rv[SP_PUT_BATCH];
    size_t nb = 0, base = 0;

    assert_true(n <= 200);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();

        memset(&ev[i], 0, sizeof(ev[i]));
        snprintf(desc[i], sizeof(desc[i]), "deploy %u", (unsigned)(r % 60));
        ev[i].hour = 490000 + (int64_t)(r >> 8 & 1);
        ev[i].team_id = (int64_t)(r >> 9 & 1) + 7;
        ev[i].type = "deploy";
        ev[i].type_len = 6;
        ev[i].description = desc[i];
        ev[i].description_len = strlen(desc[i]);
    }
    assert_int_equal(sp_journal_begin(p->one->j), CTSPOOL_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sp_journal_put_event(p->one->j, &ev[i], &r1[i]),
                         CTSPOOL_OK);
    }
    assert_int_equal(sp_journal_begin(p->many->j), CTSPOOL_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sp_journal_resolve_event(p->many->j, &ev[i],
                                                  &rv[nb++]),
                         CTSPOOL_OK);
        if (nb == SP_PUT_BATCH || i == n - 1) {
            assert_int_equal(sp_journal_put_resolved(p->many->j, rv, nb,
                                                     &r2[base]),
                             CTSPOOL_OK);
            base += nb;
            nb = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r1[i], r2[i]);
    }
    assert_int_equal(sp_journal_commit(p->one->j), CTSPOOL_OK);
    assert_int_equal(sp_journal_commit(p->many->j), CTSPOOL_OK);
}

static void
test_events_batched(void **state)
{
    struct pair *p = *state;
    static const size_t sizes[] = {64, 200, 64, 13, 128};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        both_put_events(p, sizes[i]);
        same_state(p);
        ack_some(p->one->j, 40); /* acknowledged events stay so */
        ack_some(p->many->j, 40);
        same_state(p);
    }
    /* 469 events from a pool of 240: many were met again (unchanged). */
    assert_true(tu_sql1(p->many->path, "SELECT count(*) FROM point") > 150);
    assert_true(tu_sql1(p->many->path, "SELECT count(*) FROM point") <=
                240);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches_equal_single_puts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pending_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_batched, setup,
                                        teardown),
    };

    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
