/*
 * doubt.h -- points whose upload outcome is unknown (see doubt.c).
 */
#ifndef DR_DOUBT_H
#define DR_DOUBT_H

#include <stddef.h>
#include <stdint.h>

#define DR_DOUBT_MAX (1u << 20) /* entries; beyond: not remembered */

struct dr_doubt;

struct dr_doubt *dr_doubt_new(void);
void dr_doubt_free(struct dr_doubt *t);
size_t dr_doubt_count(const struct dr_doubt *t);
/* Entries acknowledged with another value: to be sent again later. */
size_t dr_doubt_hits(const struct dr_doubt *t);
/* Entries not remembered because memory or DR_DOUBT_MAX ran out. */
uint64_t dr_doubt_dropped(const struct dr_doubt *t);
/* The point (hour, series) was sent with value in a request whose
 * outcome is unknown; remember it until deadline (ms, monotonic). */
void dr_doubt_add(struct dr_doubt *t, int64_t hour, int64_t series,
                  double value, int64_t deadline);
/* (hour, series) was acknowledged with value: if another value of it is
 * in doubt, it must be sent again once the doubt expires. */
void dr_doubt_acked(struct dr_doubt *t, int64_t hour, int64_t series,
                    double value);
/* Forgets entries whose deadline passed; writes the keys of those to be
 * sent again into keys (at most max; call again while it returns max). */
size_t dr_doubt_expire(struct dr_doubt *t, int64_t now, int64_t (*keys)[2],
                       size_t max);

#endif
