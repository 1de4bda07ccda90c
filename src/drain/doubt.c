/*
 * doubt.c -- points whose upload outcome is unknown.
 *
 * A request that got no answer (timeout, dropped connection) or a 5xx
 * may still be applied by upstream later.  If a newer value of one of its
 * points is acknowledged meanwhile, that late request would overwrite it
 * upstream while the journal says the newer value was delivered.  So the
 * drainer remembers such points until a grace period has passed; a point
 * acknowledged with another value inside the period is re-sent once the
 * period is over (DESIGN.md section 1: the final state upstream is exact).
 *
 * Entries live in a linear-probing hash keyed by (hour, series) and, in
 * insertion order, in a FIFO of keys: every entry gets the same grace, so
 * deadlines grow with insertion and expiry pops from the head.  Memory is
 * bounded by DR_DOUBT_MAX entries: the drainer takes no new batch unless
 * dr_doubt_has_room() (drain.c), so only a failed allocation makes an
 * entry go unremembered (dr_doubt_dropped).  The layout is doubt_int.h.
 *
 * Invariants (doubt_check.c checks them; Debug builds after each change):
 *  (1) n_slots is 0 (slots NULL: nothing added yet) or a power of two of
 *      at least DR_DOUBT_SLOTS_MIN; n <= DR_DOUBT_MAX and 2 n <= n_slots,
 *      so a free slot ends every probe.
 *  (2) n is the number of used slots, n_hit the number of those with hit
 *      set.
 *  (3) Every entry is found from its home slot: the slots from there to
 *      its own are all used (erase shifts entries back instead of leaving
 *      tombstones), and no other entry has its key.
 *  (4) The FIFO is a ring: fifo is NULL exactly when cap is 0, head < cap
 *      (0 when cap is 0) and len <= cap.
 *  (5) Every entry has a FIFO record with its key and its deadline, so
 *      expiry reaches it.  Other records are stale (the entry was renewed
 *      or forgotten) and skipped.
 *  (6) Deadlines do not decrease from the FIFO's head to its tail: the
 *      drainer gives every add the same grace on the monotonic clock
 *      (deliver.c).  With (5), dr_doubt_next_deadline() is never later
 *      than an entry's deadline, and expiry from the head misses none.
 * Beyond (2), nothing ties the flags several and hit, or n_dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "doubt_int.h"

size_t
dr_doubt_home(const struct dr_doubt *t, int64_t hour, int64_t series)
{
    uint64_t h = (uint64_t)hour * 0x9e3779b97f4a7c15ull ^
                 (uint64_t)series * 0xc2b2ae3d27d4eb4full;

    return (size_t)(h ^ (h >> 29)) & (t->n_slots - 1);
}

struct dr_doubt_entry *
dr_doubt_find(const struct dr_doubt *t, int64_t hour, int64_t series)
{
    size_t i;

    if (!t->n) {
        return NULL;
    }
    for (i = dr_doubt_home(t, hour, series);;
         i = (i + 1) & (t->n_slots - 1)) {
        struct dr_doubt_entry *e = &t->slots[i];

        if (!e->used) {
            return NULL;
        }
        if (e->hour == hour && e->series == series) {
            return e;
        }
    }
}

/* Backward-shift deletion keeps probe chains without tombstones. */
static void
erase(struct dr_doubt *t, struct dr_doubt_entry *e)
{
    size_t i = (size_t)(e - t->slots), j = i;

    for (;;) {
        size_t home;

        t->slots[i].used = 0;
        for (;;) {
            j = (j + 1) & (t->n_slots - 1);
            if (!t->slots[j].used) {
                t->n--;
                return;
            }
            home = dr_doubt_home(t, t->slots[j].hour, t->slots[j].series);
            /* Move j back to i unless its home lies in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
                break;
            }
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}

static int
grow(struct dr_doubt *t)
{
    size_t n = t->n_slots ? t->n_slots * 2 : DR_DOUBT_SLOTS_MIN;
    struct dr_doubt_entry *old = t->slots, *ns = calloc(n, sizeof(*ns));
    size_t old_n = t->n_slots;

    if (!ns) {
        return -1;
    }
    t->slots = ns;
    t->n_slots = n;
    for (size_t i = 0; i < old_n; i++) {
        if (old[i].used) {
            size_t k = dr_doubt_home(t, old[i].hour, old[i].series);

            while (ns[k].used) {
                k = (k + 1) & (n - 1);
            }
            ns[k] = old[i];
        }
    }
    free(old);
    return 0;
}

static int
fifo_push(struct dr_doubt *t, int64_t hour, int64_t series, int64_t deadline)
{
    struct dr_doubt_rec *r;

    if (t->len == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : DR_DOUBT_FIFO_MIN;
        struct dr_doubt_rec *nf = malloc(cap * sizeof(*nf));

        if (!nf) {
            return -1;
        }
        for (size_t i = 0; i < t->len; i++) {
            nf[i] = t->fifo[(t->head + i) % t->cap];
        }
        free(t->fifo);
        t->fifo = nf;
        t->cap = cap;
        t->head = 0;
    }
    r = &t->fifo[(t->head + t->len) % t->cap];
    r->hour = hour;
    r->series = series;
    r->deadline = deadline;
    t->len++;
    return 0;
}

struct dr_doubt *
dr_doubt_new(void)
{
    return calloc(1, sizeof(struct dr_doubt));
}

void
dr_doubt_free(struct dr_doubt *t)
{
    if (t) {
        free(t->slots);
        free(t->fifo);
        free(t);
    }
}

void
dr_doubt_clear(struct dr_doubt *t)
{
    uint64_t dropped = t->n_dropped;

    free(t->slots);
    free(t->fifo);
    memset(t, 0, sizeof(*t));
    t->n_dropped = dropped;
}

size_t
dr_doubt_count(const struct dr_doubt *t)
{
    return t->n;
}

size_t
dr_doubt_hits(const struct dr_doubt *t)
{
    return t->n_hit;
}

uint64_t
dr_doubt_dropped(const struct dr_doubt *t)
{
    return t->n_dropped;
}

int
dr_doubt_has_room(const struct dr_doubt *t, size_t n)
{
    return t->n == 0 || (n <= DR_DOUBT_MAX && t->n <= DR_DOUBT_MAX - n);
}

int64_t
dr_doubt_next_deadline(const struct dr_doubt *t)
{
    return t->len ? t->fifo[t->head].deadline : -1;
}

static void
add(struct dr_doubt *t, int64_t hour, int64_t series, double value,
    int64_t deadline)
{
    struct dr_doubt_entry *e = dr_doubt_find(t, hour, series);

    if (!e) {
        size_t i;

        if (t->n >= DR_DOUBT_MAX ||
            ((t->n + 1) * 2 > t->n_slots && grow(t) != 0)) {
            t->n_dropped++;
            return;
        }
        i = dr_doubt_home(t, hour, series);
        while (t->slots[i].used) {
            i = (i + 1) & (t->n_slots - 1);
        }
        e = &t->slots[i];
        memset(e, 0, sizeof(*e));
        e->used = 1;
        e->hour = hour;
        e->series = series;
        e->value = value;
        t->n++;
    } else if (e->value != value) {
        e->several = 1; /* two values in doubt: any ack may be undone */
    }
    e->deadline = deadline;
    if (fifo_push(t, hour, series, deadline) != 0) {
        if (e->hit) {
            t->n_hit--;
        }
        erase(t, e);
        t->n_dropped++;
    }
}

void
dr_doubt_add(struct dr_doubt *t, int64_t hour, int64_t series, double value,
             int64_t deadline)
{
    add(t, hour, series, value, deadline);
    t->n_changes++;
#ifdef CTSPOOL_JOURNAL_CHECK
    dr_doubt_ok(t);
#endif
}

static int
would_hit(const struct dr_doubt_entry *e, double value)
{
    return e && !e->hit && (e->several || e->value != value);
}

int
dr_doubt_would_hit(const struct dr_doubt *t, int64_t hour, int64_t series,
                   double value)
{
    return would_hit(dr_doubt_find(t, hour, series), value);
}

void
dr_doubt_acked(struct dr_doubt *t, int64_t hour, int64_t series, double value)
{
    struct dr_doubt_entry *e = dr_doubt_find(t, hour, series);

    if (would_hit(e, value)) {
        e->hit = 1;
        t->n_hit++;
        t->n_changes++;
#ifdef CTSPOOL_JOURNAL_CHECK
        dr_doubt_ok(t);
#endif
    }
}

size_t
dr_doubt_expire(struct dr_doubt *t, int64_t now, int64_t (*keys)[2], size_t max)
{
    size_t n = 0;

    while (t->len && t->fifo[t->head].deadline <= now && n < max) {
        struct dr_doubt_rec r = t->fifo[t->head];
        struct dr_doubt_entry *e;

        t->head = (t->head + 1) % t->cap;
        t->len--;
        t->n_changes++;
        e = dr_doubt_find(t, r.hour, r.series);
        if (!e || e->deadline > now) {
            continue; /* stale record: the entry was renewed */
        }
        if (e->hit) {
            keys[n][0] = e->hour;
            keys[n][1] = e->series;
            n++;
            t->n_hit--;
        }
        erase(t, e);
    }
#ifdef CTSPOOL_JOURNAL_CHECK
    dr_doubt_ok(t);
#endif
    return n;
}
