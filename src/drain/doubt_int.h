/*
 * doubt_int.h -- the in-doubt table's layout, shared by doubt.c and
 * its unit test.  Nothing else looks inside a struct dr_doubt.
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
};

/* doubt.c */
/* The slot where the probe for (hour, series) starts. */
size_t dr_doubt_home(const struct dr_doubt *t, int64_t hour, int64_t series);
/* The entry of (hour, series), or NULL. */
struct dr_doubt_entry *dr_doubt_find(const struct dr_doubt *t, int64_t hour,
                                     int64_t series);

#endif
