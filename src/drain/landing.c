/*
 * landing.c -- a drainer's word to the next drainer of the journal:
 * until when a request it sent may still land upstream.
 *
 * A request abandoned at the timeout (or by SIGTERM, or by the drainer's
 * death) may still be applied upstream later.  Inside one drainer,
 * doubt.c takes care of that.  A drainer started after another one
 * stopped knows nothing of its requests; if it delivered a newer value
 * of a point whose older value was in such a request, and the old
 * request then landed, upstream would keep the older value while the
 * journal says the newer one was delivered.  So every drainer keeps in
 * its lock file (`<journal>-drain.lock`, written only by the holder of
 * its flock) the latest time one of its requests may land:
 *
 *   before a request is sent:  at least now + window (request timeout
 *                              + grace), on disk before the request goes
 *   when idle, and at exit:    the latest doubt deadline, or 0
 *
 * and a drainer that finds a time in the future there waits until then
 * before it uploads anything (drain.c).
 *
 * The record is one fixed-size line rewritten in place with pwrite(2).
 * A raise is synced (fdatasync) before the request goes, so the record
 * also outlives a power loss; drain.c raises it some seconds further
 * than needed, so that a busy drainer syncs it once per that many
 * seconds, not per request.  Lowering it is not synced: a lowering lost
 * to a power loss leaves a higher time, i.e. a longer wait, never a
 * shorter one.
 *
 * Invariants:
 * (1) While a request is in flight, the record on disk says at least the
 *     time it may land until (written and synced before it is sent).
 * (2) A record that cannot be parsed (an older ctspool's empty lock
 *     file, a damaged one), or whose window is longer than any drainer
 *     writes (DR_LANDING_WINDOW_MAX), reads as "nothing in flight": the
 *     lock file is never a reason for a drainer not to start, nor to
 *     wait longer than a request of its predecessor could land.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "landing.h"

#define RECORD_LEN 64 /* bytes, newline included */

int64_t
dr_landing_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
dr_landing_read(int fd, int64_t *window_ms)
{
    char buf[RECORD_LEN + 1];
    int64_t until, window;
    ssize_t n = pread(fd, buf, RECORD_LEN, 0);

    *window_ms = 0;
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    if (sscanf(buf, "landing_until_ms=%" SCNd64 " window_ms=%" SCNd64,
               &until, &window) != 2 ||
        until < 0 || window < 0 || window > DR_LANDING_WINDOW_MAX) {
        return 0; /* invariant 2 */
    }
    *window_ms = window;
    return until;
}

int64_t
dr_landing_wait(int64_t until_ms, int64_t window_ms, int64_t now_ms)
{
    int64_t wait = until_ms - now_ms;

    if (wait > window_ms) {
        wait = window_ms; /* the clock was set back meanwhile */
    }
    return until_ms > 0 && wait > 0 ? wait : 0;
}

int
dr_landing_write(int fd, int64_t until_ms, int64_t window_ms, int sync)
{
    char buf[RECORD_LEN + 1];
    int n = snprintf(buf, sizeof(buf),
                     "landing_until_ms=%" PRId64 " window_ms=%" PRId64,
                     until_ms, window_ms);

    if (n < 0 || n >= RECORD_LEN) {
        return -1; /* unreachable: two int64 fit */
    }
    memset(buf + n, ' ', (size_t)(RECORD_LEN - 1 - n));
    buf[RECORD_LEN - 1] = '\n';
    if (pwrite(fd, buf, RECORD_LEN, 0) != RECORD_LEN) {
        return -1;
    }
    return sync ? fdatasync(fd) : 0;
}
