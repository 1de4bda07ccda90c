/*
 * landing.h -- until when a drainer's requests may still land upstream
 * (see landing.c).
 */
#ifndef DR_LANDING_H
#define DR_LANDING_H

#include <stdint.h>

/* The longest window a drainer writes: drain.c's request timeout plus
 * twice it as the doubt grace, with upload.request_timeout_ms at its
 * largest (INT_MAX ms).  A record with a longer one was not written by
 * a drainer (a damaged file that still parses) and reads as nothing in
 * flight (landing.c invariant 2): it must not make every later drainer
 * wait for months. */
#define DR_LANDING_WINDOW_MAX (3 * (int64_t)2147483647)

/* Wall-clock time in ms since the epoch (CLOCK_REALTIME). */
int64_t dr_landing_now_ms(void);

/* Reads the record of fd: the time until which a request of the last
 * drainer may still land (0: none, or no readable record), and into
 * *window_ms how long one request could land after it was sent (0 with
 * it: a window over DR_LANDING_WINDOW_MAX is no readable record). */
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
