/*
 * landing.h -- until when a drainer's requests may still land upstream
 * (see landing.c).
 */
#ifndef DR_LANDING_H
#define DR_LANDING_H

#include <stdint.h>

/* Wall-clock time in ms since the epoch (CLOCK_REALTIME). */
int64_t dr_landing_now_ms(void);

/* Reads the record of fd: the time until which a request of the last
 * drainer may still land (0: none, or no readable record), and into
 * *window_ms how long one request could land after it was sent. */
int64_t dr_landing_read(int fd, int64_t *window_ms);

/* How long a drainer must wait at now_ms (wall clock) before it
 * uploads, given the record (until_ms, window_ms): until_ms - now_ms, 0
 * when nothing may land any more, and never more than window_ms: the
 * requests it covers were all sent before now_ms (a later until_ms
 * means the clock was set back since it was written). */
int64_t dr_landing_wait(int64_t until_ms, int64_t window_ms,
                        int64_t now_ms);

/* Rewrites the record in place, and with sync waits until it is on
 * disk (fdatasync).  Returns 0, or -1 with errno set. */
int dr_landing_write(int fd, int64_t until_ms, int64_t window_ms, int sync);

#endif
