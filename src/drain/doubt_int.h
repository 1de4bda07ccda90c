/*
 * doubt_int.h -- the in-doubt table's layout, shared by doubt.c, its
 * invariant checker doubt_check.c and their unit test (which breaks the
 * invariants on purpose).  Nothing else looks inside a struct dr_doubt.
 */
#ifndef DR_DOUBT_INT_H
#define DR_DOUBT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "doubt.h"

#define DR_DOUBT_SLOTS_MIN 1024u /* the hash's first size */
#define DR_DOUBT_FIFO_MIN 1024u  /* the FIFO's first capacity */

/* A hash slot: an entry when used. */
struct dr_doubt_entry {
    int64_t hour, series;
    int64_t deadline;
    double value;
    unsigned char used, several, hit;
};

/* A FIFO record: the key an add was given, with its deadline. */
struct dr_doubt_rec {
    int64_t hour, series, deadline;
};

struct dr_doubt {
    struct dr_doubt_entry *slots;
    size_t n_slots, n;
    size_t n_hit; /* entries with hit set */
    struct dr_doubt_rec *fifo;
    size_t head, len, cap;
    uint64_t n_dropped;
    /* Adds, hits and FIFO records popped so far, and that count at the
     * checker's last full check (doubt_check.c: how often it checks). */
    uint64_t n_changes, changes_checked;
};

/* doubt.c */
/* The slot where the probe for (hour, series) starts. */
size_t dr_doubt_home(const struct dr_doubt *t, int64_t hour, int64_t series);
/* The entry of (hour, series), or NULL. */
struct dr_doubt_entry *dr_doubt_find(const struct dr_doubt *t, int64_t hour,
                                     int64_t series);

/* doubt_check.c */
/* Verifies the invariants of doubt.c: 0 when they hold, else the number
 * of the first one violated, with the details in why (may be NULL with
 * why_len 0); -1 when out of memory. */
int dr_doubt_check(const struct dr_doubt *t, char *why, size_t why_len);
/* The hook of builds with CTSPOOL_JOURNAL_CHECK (Debug), after each
 * change: aborts when an invariant of doubt.c is broken. */
void dr_doubt_ok(struct dr_doubt *t);

#endif
