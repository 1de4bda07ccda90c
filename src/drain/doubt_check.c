/*
 * doubt_check.c -- the invariants of doubt.c, checked: dr_doubt_check()
 * verifies all six and names the first one violated, and dr_doubt_ok()
 * is the hook doubt.c calls after each change in builds with
 * CTSPOOL_JOURNAL_CHECK (Debug, like the journal's commit hook): it
 * aborts on a violation.
 *
 * Cost: a full check reads every slot, and probes the hash for every
 * entry and every FIFO record: linear in n_slots + len.  The hook checks
 * after every change while that is small, and on a larger table once the
 * changes since the last check (adds, hits, FIFO records popped) reach a
 * fraction of it.  Amortised, the checks cost at most a constant times
 * the work of the changes, so a table of DR_DOUBT_MAX entries stays fast
 * (test_doubt).  The price: on a large table a broken invariant is seen
 * at the next full check, not at the change that broke it.  Checking a
 * sample at every change instead would miss a wrong count.
 */
#include <stdio.h>
#include <stdlib.h>

#include "doubt_int.h"

/* Up to this many slots and FIFO records, the hook checks every change. */
#define CHECK_EVERY_CHANGE_SIZE 4096u
/* Above: a check once the changes since the last reach 1/N of that. */
#define CHECK_CHANGED_FRACTION 4u

/* The i-th FIFO record from the head. */
static const struct dr_doubt_rec *
rec_at(const struct dr_doubt *t, size_t i)
{
    return &t->fifo[(t->head + i) % t->cap];
}

/* (1) the hash's size and load */
static int
check_size(const struct dr_doubt *t, char *why, size_t why_len)
{
    if (!t->n_slots != !t->slots) {
        snprintf(why, why_len, "n_slots is %zu but slots is %s", t->n_slots,
                 t->slots ? "not NULL" : "NULL");
        return 1;
    }
    if (t->n_slots && ((t->n_slots & (t->n_slots - 1)) ||
                       t->n_slots < DR_DOUBT_SLOTS_MIN)) {
        snprintf(why, why_len, "%zu slots: not a power of two of at least %u",
                 t->n_slots, DR_DOUBT_SLOTS_MIN);
        return 1;
    }
    if (t->n > DR_DOUBT_MAX) {
        snprintf(why, why_len, "%zu entries, more than %u", t->n, DR_DOUBT_MAX);
        return 1;
    }
    if (t->n > t->n_slots / 2) {
        snprintf(why, why_len, "%zu entries in %zu slots: more than half used",
                 t->n, t->n_slots);
        return 1;
    }
    return 0;
}

/* (2) the counts, (3) every entry found from its home slot, once */
static int
check_entries(const struct dr_doubt *t, char *why, size_t why_len)
{
    size_t used = 0, hits = 0;

    for (size_t i = 0; i < t->n_slots; i++) {
        used += t->slots[i].used != 0;
        hits += t->slots[i].used && t->slots[i].hit;
    }
    if (used != t->n) {
        snprintf(why, why_len, "n is %zu but %zu slots are used", t->n, used);
        return 2;
    }
    if (hits != t->n_hit) {
        snprintf(why, why_len, "n_hit is %zu but %zu entries have hit set",
                 t->n_hit, hits);
        return 2;
    }
    /* (1) and (2) hold: a free slot ends every probe. */
    for (size_t i = 0; i < t->n_slots; i++) {
        const struct dr_doubt_entry *e = &t->slots[i], *found;

        if (!e->used) {
            continue;
        }
        found = dr_doubt_find(t, e->hour, e->series);
        if (!found) {
            snprintf(why, why_len,
                     "entry (hour %lld, series %lld) in slot %zu is "
                     "not found from its home slot %zu",
                     (long long)e->hour, (long long)e->series, i,
                     dr_doubt_home(t, e->hour, e->series));
            return 3;
        }
        if (found != e) {
            snprintf(why, why_len,
                     "entry (hour %lld, series %lld) in slot %zu is "
                     "also in slot %zu",
                     (long long)e->hour, (long long)e->series, i,
                     (size_t)(found - t->slots));
            return 3;
        }
    }
    return 0;
}

/* (4) the ring, (6) deadlines in order */
static int
check_fifo(const struct dr_doubt *t, char *why, size_t why_len)
{
    if (!t->cap != !t->fifo) {
        snprintf(why, why_len, "cap is %zu but fifo is %s", t->cap,
                 t->fifo ? "not NULL" : "NULL");
        return 4;
    }
    if (t->cap ? t->head >= t->cap : t->head != 0) {
        snprintf(why, why_len, "the FIFO's head is %zu, its capacity %zu",
                 t->head, t->cap);
        return 4;
    }
    if (t->len > t->cap) {
        snprintf(why, why_len,
                 "the FIFO holds %zu records, its capacity is %zu", t->len,
                 t->cap);
        return 4;
    }
    for (size_t i = 1; i < t->len; i++) {
        const struct dr_doubt_rec *r = rec_at(t, i);

        if (r->deadline < rec_at(t, i - 1)->deadline) {
            snprintf(why, why_len,
                     "FIFO record %zu (hour %lld, series %lld) has "
                     "deadline %lld, the one ahead of it %lld",
                     i, (long long)r->hour, (long long)r->series,
                     (long long)r->deadline,
                     (long long)rec_at(t, i - 1)->deadline);
            return 6;
        }
    }
    return 0;
}

/* (5) every entry has the FIFO record of its deadline */
static int
check_records(const struct dr_doubt *t, char *why, size_t why_len)
{
    unsigned char *seen;
    int inv = 0;

    if (!t->n) {
        return 0;
    }
    seen = calloc(t->n_slots / 8 + 1, 1);
    if (!seen) {
        snprintf(why, why_len,
                 "cannot check the in-doubt table: out of memory");
        return -1;
    }
    for (size_t i = 0; i < t->len; i++) {
        const struct dr_doubt_rec *r = rec_at(t, i);
        const struct dr_doubt_entry *e =
            dr_doubt_find(t, r->hour, r->series);

        if (e && e->deadline == r->deadline) {
            size_t k = (size_t)(e - t->slots);

            seen[k / 8] |= (unsigned char)(1u << (k % 8));
        }
    }
    for (size_t k = 0; k < t->n_slots && !inv; k++) {
        const struct dr_doubt_entry *e = &t->slots[k];

        if (e->used && !(seen[k / 8] & (1u << (k % 8)))) {
            snprintf(why, why_len,
                     "entry (hour %lld, series %lld) has no FIFO "
                     "record with its deadline %lld",
                     (long long)e->hour, (long long)e->series,
                     (long long)e->deadline);
            inv = 5;
        }
    }
    free(seen);
    return inv;
}

int
dr_doubt_check(const struct dr_doubt *t, char *why, size_t why_len)
{
    int inv;

    if ((inv = check_size(t, why, why_len)) != 0 ||
        (inv = check_entries(t, why, why_len)) != 0 ||
        (inv = check_fifo(t, why, why_len)) != 0 ||
        (inv = check_records(t, why, why_len)) != 0) {
        return inv;
    }
    if (why_len) {
        why[0] = '\0';
    }
    return 0;
}

/*
 * The hook (CTSPOOL_JOURNAL_CHECK), after each change: prints the
 * invariant violated with its numbers and aborts; returns when they
 * hold, when it did not check (the cost note above) or when it could not
 * (out of memory).
 */
void
dr_doubt_ok(struct dr_doubt *t)
{
    char why[256];
    uint64_t changed = t->n_changes - t->changes_checked;
    size_t size = t->n_slots + t->len;
    int inv;

    if (!changed || (size > CHECK_EVERY_CHANGE_SIZE &&
                     changed * CHECK_CHANGED_FRACTION < size)) {
        return;
    }
    t->changes_checked = t->n_changes;
    inv = dr_doubt_check(t, why, sizeof(why));
    if (inv > 0) {
        fprintf(stderr,
                "ctspool: in-doubt table: invariant (%d) of doubt.c "
                "violated: %s\n",
                inv, why);
        fflush(stderr);
        abort();
    }
}
