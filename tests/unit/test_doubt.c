/*
 * test_doubt.c -- unit tests of doubt.c, the drainer's table of points
 * whose upload outcome is unknown: expiry at the deadline and in
 * insertion order, what makes an acknowledgement a hit, renewal by a
 * second add, growth of the hash and of its FIFO (wrapped), erasure in
 * any order, extreme keys, the entry bound, and the room the drainer
 * waits for before it takes a batch.  Then the invariant checker
 * (doubt_check.c): each invariant, broken on purpose, is named, and the
 * hook of Debug builds aborts on it, on a large table too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doubt_int.h"

/* Keys are (hour, series); any int64 pair will do. */
static void
key_of(size_t i, int64_t *hour, int64_t *series)
{
    *hour = (int64_t)(i / 64) * 3600000;
    *series = (int64_t)(i % 64) + 1;
}

/*
 * dr_doubt_expire as its contract says to call it: again while it
 * returns max.  A small max runs that loop.  keys must have room for
 * what is due plus max.  Returns how many keys were written.
 */
static size_t
expire_all(struct dr_doubt *t, int64_t now, int64_t (*keys)[2])
{
    enum { MAX = 7 };
    size_t n = 0, k;

    do {
        k = dr_doubt_expire(t, now, keys + n, MAX);
        assert_true(k <= MAX);
        n += k;
    } while (k == MAX);
    /* The checker agrees (doubt_check.c), in every build. */
    assert_int_equal(dr_doubt_check(t, NULL, 0), 0);
    return n;
}

static void
assert_key(const int64_t key[2], int64_t hour, int64_t series)
{
    assert_int_equal(key[0], hour);
    assert_int_equal(key[1], series);
}

/* ---- one entry ------------------------------------------------------- */

static void
test_empty(void **state)
{
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[8][2];

    (void)state;
    assert_non_null(t);
    assert_int_equal(dr_doubt_count(t), 0);
    assert_int_equal(dr_doubt_hits(t), 0);
    assert_int_equal(dr_doubt_dropped(t), 0);
    dr_doubt_acked(t, 1, 2, 3.0); /* nothing in doubt: no hit */
    assert_int_equal(dr_doubt_hits(t), 0);
    assert_int_equal(expire_all(t, INT64_MAX, keys), 0);
    dr_doubt_free(t);
    dr_doubt_free(NULL);
}

static void
test_expires_at_deadline(void **state)
{
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[8][2];

    (void)state;
    dr_doubt_add(t, 10, 20, 1.5, 100);
    assert_int_equal(dr_doubt_count(t), 1);
    assert_int_equal(expire_all(t, 99, keys), 0);
    assert_int_equal(dr_doubt_count(t), 1);
    /* Not acknowledged with another value: forgotten, not reported. */
    assert_int_equal(expire_all(t, 100, keys), 0);
    assert_int_equal(dr_doubt_count(t), 0);
    dr_doubt_acked(t, 10, 20, 2.5); /* forgotten: no longer a hit */
    assert_int_equal(dr_doubt_hits(t), 0);
    dr_doubt_free(t);
}

static void
test_ack_with_another_value_is_a_hit(void **state)
{
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[8][2];

    (void)state;
    dr_doubt_add(t, 10, 20, 1.5, 100);
    dr_doubt_acked(t, 10, 20, 1.5); /* the value in doubt itself */
    assert_int_equal(dr_doubt_hits(t), 0);
    dr_doubt_acked(t, 10, 21, 9.0); /* another series */
    dr_doubt_acked(t, 11, 20, 9.0); /* another hour */
    assert_int_equal(dr_doubt_hits(t), 0);
    dr_doubt_acked(t, 10, 20, 2.5);
    assert_int_equal(dr_doubt_hits(t), 1);
    dr_doubt_acked(t, 10, 20, 3.5); /* an entry is one hit at most */
    dr_doubt_acked(t, 10, 20, 1.5);
    assert_int_equal(dr_doubt_hits(t), 1);
    assert_int_equal(dr_doubt_count(t), 1);

    assert_int_equal(expire_all(t, 99, keys), 0);
    assert_int_equal(dr_doubt_hits(t), 1);
    assert_int_equal(expire_all(t, 100, keys), 1);
    assert_key(keys[0], 10, 20);
    assert_int_equal(dr_doubt_hits(t), 0);
    assert_int_equal(dr_doubt_count(t), 0);
    dr_doubt_free(t);
}

/* A cleared table forgets entries and hits (the journal they named was
 * replaced) and works as a new one afterwards. */
static void
test_clear(void **state)
{
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[2048][2], hour, series;

    (void)state;
    for (size_t i = 0; i < 1500; i++) { /* past the first sizes */
        key_of(i, &hour, &series);
        dr_doubt_add(t, hour, series, 1.0, 100);
    }
    key_of(7, &hour, &series);
    dr_doubt_acked(t, hour, series, 2.0);
    assert_int_equal(dr_doubt_hits(t), 1);
    dr_doubt_clear(t);
    assert_int_equal(dr_doubt_count(t), 0);
    assert_int_equal(dr_doubt_hits(t), 0);
    assert_int_equal(dr_doubt_check(t, NULL, 0), 0);
    dr_doubt_acked(t, hour, series, 3.0); /* forgotten: no hit */
    assert_int_equal(dr_doubt_hits(t), 0);
    assert_int_equal(expire_all(t, INT64_MAX, keys), 0);
    dr_doubt_add(t, hour, series, 1.0, 200);
    dr_doubt_acked(t, hour, series, 2.0);
    assert_int_equal(expire_all(t, 200, keys), 1);
    assert_key(keys[0], hour, series);
    dr_doubt_free(t);
}

/* Two values in doubt: an ack of either may be undone by the other. */
static void
test_two_values_in_doubt(void **state)
{
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[8][2];

    (void)state;
    dr_doubt_add(t, 1, 1, 1.0, 100);
    dr_doubt_add(t, 1, 1, 2.0, 100);
    dr_doubt_add(t, 2, 2, 1.0, 100);
    dr_doubt_add(t, 2, 2, 2.0, 100);
    dr_doubt_add(t, 3, 3, 1.0, 100); /* the same value twice */
    dr_doubt_add(t, 3, 3, 1.0, 100);
    assert_int_equal(dr_doubt_count(t), 3);
    dr_doubt_acked(t, 1, 1, 1.0);
    assert_int_equal(dr_doubt_hits(t), 1);
    dr_doubt_acked(t, 2, 2, 2.0);
    assert_int_equal(dr_doubt_hits(t), 2);
    dr_doubt_acked(t, 3, 3, 1.0);
    assert_int_equal(dr_doubt_hits(t), 2);

    assert_int_equal(expire_all(t, 100, keys), 2);
    assert_key(keys[0], 1, 1);
    assert_key(keys[1], 2, 2);
    assert_int_equal(dr_doubt_count(t), 0);
    dr_doubt_free(t);
}

/* A second add moves the deadline: the first one's FIFO record is stale
 * and must neither forget the entry nor report it. */
static void
test_readd_renews_deadline(void **state)
{
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[8][2];

    (void)state;
    dr_doubt_add(t, 5, 6, 1.0, 100);
    dr_doubt_acked(t, 5, 6, 2.0);
    dr_doubt_add(t, 5, 6, 1.0, 200);
    assert_int_equal(dr_doubt_count(t), 1);
    assert_int_equal(dr_doubt_hits(t), 1);
    assert_int_equal(expire_all(t, 150, keys), 0);
    assert_int_equal(dr_doubt_count(t), 1);
    assert_int_equal(dr_doubt_hits(t), 1);
    assert_int_equal(expire_all(t, 199, keys), 0);
    assert_int_equal(dr_doubt_count(t), 1);
    assert_int_equal(expire_all(t, 200, keys), 1);
    assert_key(keys[0], 5, 6);
    assert_int_equal(dr_doubt_count(t), 0);
    assert_int_equal(dr_doubt_hits(t), 0);

    /* Added again after expiry: a new entry, without the old hit. */
    dr_doubt_add(t, 5, 6, 1.0, 300);
    assert_int_equal(dr_doubt_count(t), 1);
    assert_int_equal(dr_doubt_hits(t), 0);
    assert_int_equal(expire_all(t, 300, keys), 0);
    assert_int_equal(dr_doubt_count(t), 0);
    dr_doubt_free(t);
}

/* ---- many entries ---------------------------------------------------- */

/* Keys come out in insertion order, max at a time, and an expiry that
 * stops at max leaves the rest (hit or not) for the next call. */
static void
test_expiry_order_and_max(void **state)
{
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[4][2];

    (void)state;
    for (int64_t i = 0; i < 10; i++) {
        dr_doubt_add(t, 100 - i, i, 1.0, 10 + i);
        if (i % 2 == 0) {
            dr_doubt_acked(t, 100 - i, i, 2.0);
        }
    }
    assert_int_equal(dr_doubt_hits(t), 5);
    assert_int_equal(dr_doubt_expire(t, 1000, keys, 2), 2);
    assert_key(keys[0], 100, 0);
    assert_key(keys[1], 98, 2);
    assert_int_equal(dr_doubt_count(t), 7);
    assert_int_equal(dr_doubt_hits(t), 3);
    assert_int_equal(dr_doubt_expire(t, 1000, keys, 2), 2);
    assert_key(keys[0], 96, 4);
    assert_key(keys[1], 94, 6);
    assert_int_equal(dr_doubt_count(t), 3);
    assert_int_equal(dr_doubt_expire(t, 1000, keys, 2), 1);
    assert_key(keys[0], 92, 8);
    assert_int_equal(dr_doubt_count(t), 0);
    assert_int_equal(dr_doubt_hits(t), 0);
    dr_doubt_free(t);
}

/*
 * 20000 entries: the hash grows from its first size several times and
 * the FIFO with it.  Expiry in steps erases entries in insertion order,
 * i.e. all over the hash; every step must forget exactly the entries
 * due and report exactly the hits among them, and entries not yet due
 * must still be found (an erase that broke a probe chain loses them).
 */
static int
is_hit(size_t i, size_t n)
{
    return i % 3 == 0 || (i >= n / 2 && i % 3 == 2);
}

static void
test_growth_and_erase_keep_entries(void **state)
{
    enum { N = 20000, STEP = 1000 };
    struct dr_doubt *t = dr_doubt_new();
    int64_t (*keys)[2] = calloc(N + 8, sizeof(*keys));
    size_t n_hit = 0, next = 0;
    int64_t h, s;

    (void)state;
    assert_non_null(keys);
    for (size_t i = 0; i < N; i++) {
        key_of(i, &h, &s);
        dr_doubt_add(t, h, s, (double)i, (int64_t)i);
    }
    assert_int_equal(dr_doubt_count(t), N);
    assert_int_equal(dr_doubt_dropped(t), 0);
    for (size_t i = 0; i < N; i++) {
        key_of(i, &h, &s);
        if (i % 3 == 0) {
            dr_doubt_acked(t, h, s, (double)i + 0.5);
            n_hit++;
        } else if (i % 3 == 1) {
            dr_doubt_acked(t, h, s, (double)i); /* same value */
        }
    }
    assert_int_equal(dr_doubt_hits(t), n_hit);

    for (size_t end = STEP; end <= N; end += STEP) {
        size_t n = expire_all(t, (int64_t)end - 1, keys);

        for (size_t k = 0; k < n; k++) {
            while (next < end && !is_hit(next, N)) {
                next++;
            }
            assert_true(next < end);
            key_of(next, &h, &s);
            assert_key(keys[k], h, s);
            next++;
        }
        while (next < end && !is_hit(next, N)) {
            next++;
        }
        assert_int_equal(next, end); /* no hit left unreported */
        assert_int_equal(dr_doubt_count(t), N - end);
        if (end == N / 2) {
            /* Half erased: the rest must all still be found. */
            n_hit = 0;
            for (size_t i = end; i < N; i++) {
                if (i % 3 == 2) {
                    key_of(i, &h, &s);
                    dr_doubt_acked(t, h, s, -1.0);
                }
                n_hit += (size_t)is_hit(i, N);
            }
            assert_int_equal(dr_doubt_hits(t), n_hit);
        }
    }
    assert_int_equal(dr_doubt_count(t), 0);
    assert_int_equal(dr_doubt_hits(t), 0);
    free(keys);
    dr_doubt_free(t);
}

/* The FIFO is a ring: adds after some expiry wrap around its end, then
 * make it grow while wrapped; insertion order must survive both. */
static void
test_fifo_wraps_and_grows(void **state)
{
    enum { N1 = 1000, DONE = 600, N2 = 1000 };
    struct dr_doubt *t = dr_doubt_new();
    int64_t (*keys)[2] = calloc(N1 + N2 + 8, sizeof(*keys));
    int64_t h, s;
    size_t n;

    (void)state;
    assert_non_null(keys);
    for (size_t i = 0; i < N1; i++) {
        key_of(i, &h, &s);
        dr_doubt_add(t, h, s, 1.0, (int64_t)i);
        dr_doubt_acked(t, h, s, 2.0);
    }
    assert_int_equal(expire_all(t, DONE - 1, keys), DONE);
    for (size_t i = N1; i < N1 + N2; i++) {
        key_of(i, &h, &s);
        dr_doubt_add(t, h, s, 1.0, (int64_t)i);
        dr_doubt_acked(t, h, s, 2.0);
    }
    assert_int_equal(dr_doubt_count(t), N1 + N2 - DONE);
    n = expire_all(t, INT64_MAX, keys);
    assert_int_equal(n, N1 + N2 - DONE);
    for (size_t k = 0; k < n; k++) {
        key_of(DONE + k, &h, &s);
        assert_key(keys[k], h, s);
    }
    assert_int_equal(dr_doubt_count(t), 0);
    free(keys);
    dr_doubt_free(t);
}

static void
test_extreme_keys(void **state)
{
    static const int64_t k[][2] = {
        {INT64_MIN, INT64_MAX}, {INT64_MAX, INT64_MIN}, {-1, -1},
        {0, 0},                 {-1, 0},                {0, -1},
        {INT64_MIN, INT64_MIN}, {INT64_MAX, INT64_MAX},
    };
    enum { N = sizeof(k) / sizeof(k[0]) };
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[N + 8][2];
    size_t n, j = 0;

    (void)state;
    for (size_t i = 0; i < N; i++) {
        dr_doubt_add(t, k[i][0], k[i][1], (double)i, 1);
    }
    assert_int_equal(dr_doubt_count(t), N);
    for (size_t i = 0; i < N; i++) {
        if (i != 3) {
            dr_doubt_acked(t, k[i][0], k[i][1], -1.0);
        }
    }
    assert_int_equal(dr_doubt_hits(t), N - 1);
    n = expire_all(t, 1, keys);
    assert_int_equal(n, N - 1);
    for (size_t i = 0; i < N; i++) {
        if (i != 3) {
            assert_key(keys[j++], k[i][0], k[i][1]);
        }
    }
    assert_int_equal(dr_doubt_count(t), 0);
    dr_doubt_free(t);
}

/* At DR_DOUBT_MAX entries a new point is not remembered (and counted);
 * a point already in doubt is still renewed; room frees up on expiry. */
static void
test_bound(void **state)
{
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[16][2], h, s, h0, s0, hx, sx, h5, s5;

    (void)state;
    for (size_t i = 0; i < DR_DOUBT_MAX; i++) {
        key_of(i, &h, &s);
        dr_doubt_add(t, h, s, 1.0, 1);
    }
    assert_int_equal(dr_doubt_count(t), DR_DOUBT_MAX);
    assert_int_equal(dr_doubt_dropped(t), 0);
    key_of(DR_DOUBT_MAX, &hx, &sx);
    dr_doubt_add(t, hx, sx, 1.0, 1);
    assert_int_equal(dr_doubt_count(t), DR_DOUBT_MAX);
    assert_int_equal(dr_doubt_dropped(t), 1);
    key_of(DR_DOUBT_MAX + 1, &h, &s);
    dr_doubt_add(t, h, s, 1.0, 1);
    assert_int_equal(dr_doubt_dropped(t), 2);

    key_of(0, &h0, &s0);
    dr_doubt_add(t, h0, s0, 2.0, 2); /* in doubt already: renewed */
    assert_int_equal(dr_doubt_dropped(t), 2);
    assert_int_equal(dr_doubt_count(t), DR_DOUBT_MAX);
    dr_doubt_acked(t, hx, sx, 3.0); /* not remembered: no hit */
    assert_int_equal(dr_doubt_hits(t), 0);
    key_of(5, &h5, &s5);
    dr_doubt_acked(t, h5, s5, 3.0);
    assert_int_equal(dr_doubt_hits(t), 1);

    assert_int_equal(expire_all(t, 1, keys), 1);
    assert_key(keys[0], h5, s5);
    assert_int_equal(dr_doubt_count(t), 1); /* the renewed one */
    dr_doubt_add(t, hx, sx, 1.0, 2);
    assert_int_equal(dr_doubt_count(t), 2);
    assert_int_equal(dr_doubt_dropped(t), 2);
    assert_int_equal(expire_all(t, 2, keys), 0);
    assert_int_equal(dr_doubt_count(t), 0);
    dr_doubt_free(t);
}

/*
 * The drainer takes a batch only when all of its points fit in the table
 * (dr_doubt_has_room), so that nothing in doubt is forgotten; it waits
 * for the earliest deadline (dr_doubt_next_deadline) meanwhile.
 */
static void
test_room_for_a_batch(void **state)
{
    enum { N = 3000, BATCH = 1000 };
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[16][2], h, s;
    size_t i;

    (void)state;
    assert_true(dr_doubt_has_room(t, BATCH));
    assert_true(dr_doubt_has_room(t, DR_DOUBT_MAX));
    /* Empty: even a batch larger than the table may be taken. */
    assert_true(dr_doubt_has_room(t, (size_t)DR_DOUBT_MAX + 1));
    assert_true(dr_doubt_has_room(t, SIZE_MAX));
    assert_int_equal(dr_doubt_next_deadline(t), -1);
    /* N entries, BATCH a deadline (they grow with insertion). */
    for (i = 0; i < N; i++) {
        key_of(i, &h, &s);
        dr_doubt_add(t, h, s, 1.0, 100 + (int64_t)(i / BATCH));
    }
    assert_int_equal(dr_doubt_next_deadline(t), 100);
    assert_true(dr_doubt_has_room(t, DR_DOUBT_MAX - N));
    assert_false(dr_doubt_has_room(t, DR_DOUBT_MAX - N + 1));
    assert_false(dr_doubt_has_room(t, SIZE_MAX));
    /* The oldest expire: that much more room, the next deadline. */
    assert_int_equal(expire_all(t, 100, keys), 0);
    assert_int_equal(dr_doubt_count(t), N - BATCH);
    assert_int_equal(dr_doubt_next_deadline(t), 101);
    assert_true(dr_doubt_has_room(t, DR_DOUBT_MAX - N + BATCH));
    assert_false(dr_doubt_has_room(t, DR_DOUBT_MAX - N + BATCH + 1));
    /* A renewed entry leaves a stale record first: an early deadline,
     * never a late one. */
    key_of(BATCH, &h, &s);
    dr_doubt_add(t, h, s, 1.0, 500);
    assert_int_equal(dr_doubt_next_deadline(t), 101);
    assert_int_equal(expire_all(t, 102, keys), 0);
    assert_int_equal(dr_doubt_count(t), 1);
    assert_int_equal(dr_doubt_next_deadline(t), 500);
    assert_int_equal(expire_all(t, 500, keys), 0);
    assert_int_equal(dr_doubt_count(t), 0);
    assert_true(dr_doubt_has_room(t, SIZE_MAX));
    dr_doubt_free(t);
}

/* ---- the invariants (doubt_check.c) --------------------------------- */

/* The checker's verdict on t; its message must contain want. */
static int
checked(const struct dr_doubt *t, const char *want)
{
    char why[256];
    int inv = dr_doubt_check(t, why, sizeof(why));

    if (!strstr(why, want)) {
        fail_msg("checker said \"%s\", expected \"%s\"", why, want);
    }
    return inv;
}

/* Entries 0..n-1, every third one a hit, with deadlines 100 + i; the
 * first ten expired (the FIFO's head moved on) and entry 20 renewed (its
 * first record stale, deadline 120).  The invariants hold. */
static struct dr_doubt *
fill(size_t n)
{
    struct dr_doubt *t = dr_doubt_new();
    int64_t keys[8][2], h, s;

    assert_non_null(t);
    for (size_t i = 0; i < n; i++) {
        key_of(i, &h, &s);
        dr_doubt_add(t, h, s, 1.0, 100 + (int64_t)i);
        if (i % 3 == 0 && i >= 10) {
            dr_doubt_acked(t, h, s, 2.0);
        }
    }
    assert_int_equal(expire_all(t, 109, keys), 0);
    key_of(20, &h, &s);
    dr_doubt_add(t, h, s, 1.0, 100 + (int64_t)n);
    assert_int_equal(dr_doubt_count(t), n - 10);
    assert_int_equal(checked(t, ""), 0);
    return t;
}

/* A used slot whose entry sits in its home slot and whose next slot is
 * free: the end of a probe chain of one. */
static size_t
lone_slot(const struct dr_doubt *t)
{
    for (size_t i = 0; i < t->n_slots; i++) {
        const struct dr_doubt_entry *e = &t->slots[i];

        if (e->used && !e->hit &&
            dr_doubt_home(t, e->hour, e->series) == i &&
            !t->slots[(i + 1) & (t->n_slots - 1)].used) {
            return i;
        }
    }
    fail_msg("no entry alone in its probe chain");
    return 0;
}

static void
break_n_slots(struct dr_doubt *t)
{
    t->n_slots = 1000;
}

static void
break_load(struct dr_doubt *t)
{
    t->n = t->n_slots / 2 + 1;
}

static void
break_n(struct dr_doubt *t)
{
    t->n++;
}

static void
break_n_hit(struct dr_doubt *t)
{
    t->n_hit--;
}

/* The entry of a chain of one moved past the free slot after it. */
static void
break_chain(struct dr_doubt *t)
{
    size_t mask = t->n_slots - 1, i = lone_slot(t), k = (i + 2) & mask;

    while (t->slots[k].used) {
        k = (k + 1) & mask;
    }
    t->slots[k] = t->slots[i];
    t->slots[i].used = 0;
}

/* An entry copied into the free slot after it. */
static void
break_unique(struct dr_doubt *t)
{
    size_t i = lone_slot(t);

    t->slots[(i + 1) & (t->n_slots - 1)] = t->slots[i];
    t->n++;
}

static void
break_head(struct dr_doubt *t)
{
    t->head = t->cap;
}

static void
break_len(struct dr_doubt *t)
{
    t->len = t->cap + 1;
}

/* An entry's deadline moved without a FIFO record for it. */
static void
break_record(struct dr_doubt *t)
{
    int64_t h, s;

    key_of(30, &h, &s);
    dr_doubt_find(t, h, s)->deadline += 1000;
}

/* The stale record of entry 20 (deadline 120), earlier than the one
 * ahead of it. */
static void
break_order(struct dr_doubt *t)
{
    struct dr_doubt_rec *r = &t->fifo[(t->head + 10) % t->cap];
    int64_t h, s;

    key_of(20, &h, &s);
    assert_int_equal(r->hour, h);
    assert_int_equal(r->series, s);
    assert_int_equal(r->deadline, 120);
    r->deadline = 7;
}

static const struct {
    void (*corrupt)(struct dr_doubt *t);
    int inv;
    const char *want;
} breaks[] = {
    {break_n_slots, 1, "1000 slots: not a power of two of at least 1024"},
    {break_load, 1, "513 entries in 1024 slots: more than half used"},
    {break_n, 2, "n is 41 but 40 slots are used"},
    {break_n_hit, 2, "n_hit is 12 but 13 entries have hit set"},
    {break_chain, 3, "is not found from its home slot"},
    {break_unique, 3, "is also in slot"},
    {break_head, 4, "the FIFO's head is 1024, its capacity 1024"},
    {break_len, 4, "the FIFO holds 1025 records, its capacity is 1024"},
    {break_record, 5, "has no FIFO record with its deadline 1130"},
    {break_order, 6, "FIFO record 10 (hour 0, series 21) has deadline 7, "
                     "the one ahead of it 119"},
};

/* Each invariant, broken behind the table's back, is named. */
static void
test_checker_finds_broken_invariants(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
        struct dr_doubt *t = fill(50);

        breaks[i].corrupt(t);
        if (checked(t, breaks[i].want) != breaks[i].inv) {
            fail_msg("case %zu: not invariant %d", i, breaks[i].inv);
        }
        dr_doubt_free(t);
    }
}

/*
 * A child fills a table of n entries, breaks invariant (2) and then adds
 * up to more entries.  Returns its wait status; its first line on stderr
 * goes into line.
 */
static int
hook_run(size_t n, size_t more, char *line, size_t line_len)
{
    int fds[2], status;
    pid_t pid;
    FILE *fp;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct dr_doubt *t = fill(n);
        int64_t h, s;

        signal(SIGABRT, SIG_DFL); /* not cmocka's handler */
        if (dup2(fds[1], 2) < 0) {
            _exit(2);
        }
        break_n_hit(t);
        for (size_t i = n; i < n + more; i++) {
            key_of(i, &h, &s);
            dr_doubt_add(t, h, s, 1.0, 100 + (int64_t)n);
        }
        _exit(0);
    }
    close(fds[1]);
    fp = fdopen(fds[0], "r");
    assert_non_null(fp);
    line[0] = '\0';
    if (!fgets(line, (int)line_len, fp)) {
        line[0] = '\0';
    }
    fclose(fp);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* The hook of Debug builds (CTSPOOL_JOURNAL_CHECK) aborts at the first
 * change after the break on a small table, and within a fraction of its
 * size in changes on a large one; other builds go on. */
static void
test_hook_aborts(void **state)
{
    static const size_t n[] = {50, 20000};
    char line[512];

    (void)state;
    for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
        int status = hook_run(n[i], n[i] == 50 ? 1 : n[i], line,
                              sizeof(line));

#ifdef CTSPOOL_JOURNAL_CHECK
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
        assert_non_null(strstr(line, "in-doubt table: invariant (2) of "
                                     "doubt.c violated: n_hit is"));
#else
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_string_equal(line, "");
#endif
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_expires_at_deadline),
        cmocka_unit_test(test_ack_with_another_value_is_a_hit),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_two_values_in_doubt),
        cmocka_unit_test(test_readd_renews_deadline),
        cmocka_unit_test(test_expiry_order_and_max),
        cmocka_unit_test(test_growth_and_erase_keep_entries),
        cmocka_unit_test(test_fifo_wraps_and_grows),
        cmocka_unit_test(test_extreme_keys),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_room_for_a_batch),
        cmocka_unit_test(test_checker_finds_broken_invariants),
        cmocka_unit_test(test_hook_aborts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
