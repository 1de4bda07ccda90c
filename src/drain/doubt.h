/*
 * doubt.h -- points whose upload outcome is unknown (see doubt.c).
 */
#ifndef DR_DOUBT_H
#define DR_DOUBT_H

#include <stddef.h>
#include <stdint.h>

#define DR_DOUBT_MAX (1u << 20) /* entries; the drainer waits for room */

struct dr_doubt;

struct dr_doubt *dr_doubt_new(void);
void dr_doubt_free(struct dr_doubt *t);
size_t dr_doubt_count(const struct dr_doubt *t);
/* Forgets every entry (the dropped count stays). */
void dr_doubt_clear(struct dr_doubt *t);
/* Entries acknowledged with another value: to be sent again later. */
size_t dr_doubt_hits(const struct dr_doubt *t);
/* Entries not remembered because memory or DR_DOUBT_MAX ran out. */
uint64_t dr_doubt_dropped(const struct dr_doubt *t);
/* Room for n more entries?  Always when the table is empty: the drainer
 * takes no batch that could find none (nothing in doubt is forgotten). */
int dr_doubt_has_room(const struct dr_doubt *t, size_t n);
/* The earliest deadline in the table (ms, monotonic; a renewed entry may
 * make it early), or -1 when it is empty. */
int64_t dr_doubt_next_deadline(const struct dr_doubt *t);
/* The point (hour, series) was sent with value in a request whose
 * outcome is unknown; remember it until deadline (ms, monotonic). */
void dr_doubt_add(struct dr_doubt *t, int64_t hour, int64_t series,
                  double value, int64_t deadline);
/* Would an ack of (hour, series) with value make it a hit (another value
 * of it in doubt, and not a hit yet)?  The drainer notes such points in
 * the journal in the ack's transaction (journal_resend.c). */
int dr_doubt_would_hit(const struct dr_doubt *t, int64_t hour,
                       int64_t series, double value);
/* (hour, series) was acknowledged with value: if another value of it is
 * in doubt, it must be sent again once the doubt expires. */
void dr_doubt_acked(struct dr_doubt *t, int64_t hour, int64_t series,
                    double value);
/* Forgets entries whose deadline passed; writes the keys of those to be
 * sent again into keys (at most max; call again while it returns max). */
size_t dr_doubt_expire(struct dr_doubt *t, int64_t now, int64_t (*keys)[2],
                       size_t max);

#endif
