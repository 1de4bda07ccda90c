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

/* Rewrites the record in place, and with sync waits until it is on
 * disk (fdatasync).  Returns 0, or -1 with errno set. */
int dr_landing_write(int fd, int64_t until_ms, int64_t window_ms, int sync);

#endif
