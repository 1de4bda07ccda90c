/*
 * doubt.h -- points whose upload outcome is unknown (see doubt.c).
 */
#ifndef CTSPOOL_DOUBT_H
#define CTSPOOL_DOUBT_H

#include <stddef.h>
#include <stdint.h>

struct doubt;

struct doubt *doubt_new(void);
void doubt_free(struct doubt *t);
size_t doubt_count(const struct doubt *t);
/* Entries acknowledged with another value: to be sent again later. */
size_t doubt_hits(const struct doubt *t);
/* Entries not remembered because memory or the bound ran out. */
uint64_t doubt_dropped(const struct doubt *t);
/* The point (hour, series) was sent with value in a request whose
 * outcome is unknown; remember it until deadline (ms, monotonic). */
void doubt_add(struct doubt *t, int64_t hour, int64_t series, double value,
               int64_t deadline);
/* (hour, series) was acknowledged with value: if another value of it is
 * in doubt, it must be sent again once the doubt expires. */
void doubt_acked(struct doubt *t, int64_t hour, int64_t series,
                 double value);
/* Forgets entries whose deadline passed; writes the keys of those to be
 * sent again into keys (at most max; call again while it returns max). */
size_t doubt_expire(struct doubt *t, int64_t now, int64_t (*keys)[2],
                    size_t max);

#endif
