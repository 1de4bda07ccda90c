/*
 * pace.c -- upload.max_points_per_s and upload.max_requests_per_s: the
 * drainer's requests are spaced so that neither rate is exceeded, and
 * a backlog after an outage does not flood upstream (DESIGN.md section
 * 6).  Each limit is a schedule: a request may start once the requests
 * before it have been paid for at that rate (k points cost k / rate
 * seconds, a request 1 / rate); idle time earns no credit, so a burst
 * is at most one request.  A request never carries more than one
 * second's worth of points.  The waits are naps that a stop or a reload
 * request (SIGHUP) ends at once: the caller reloads and builds the
 * request again, so new limits apply to the very next request.
 */
#include <math.h>
#include <stdio.h>

#include "drain_int.h"

/* The limits in force changed (start-up, reload): start afresh. */
static void
sync_limits(struct dr_drainer *d)
{
    struct dr_pace *p = &d->pace;
    const struct sp_config *cfg = d->cfg;

    if (p->points_per_s != cfg->upload.max_points_per_s ||
        p->requests_per_s != cfg->upload.max_requests_per_s) {
        p->points_per_s = cfg->upload.max_points_per_s;
        p->requests_per_s = cfg->upload.max_requests_per_s;
        p->points_due = p->requests_due = 0.0;
    }
}

size_t
dr_pace_cap(const struct dr_drainer *d, size_t n)
{
    long rate = d->cfg->upload.max_points_per_s;

    if (rate > 0 && n > (size_t)rate) {
        return (size_t)rate;
    }
    return n;
}

/* When the next request may start (monotonic ms; 0: at once). */
static double
due_ms(const struct dr_pace *p)
{
    double due = 0.0;

    if (p->points_per_s > 0) {
        due = p->points_due;
    }
    if (p->requests_per_s > 0 && p->requests_due > due) {
        due = p->requests_due;
    }
    return due;
}

int
dr_pace_wait(struct dr_drainer *d, size_t k)
{
    struct dr_pace *p = &d->pace;
    double now;

    for (;;) {
        double due;

        if (dr_stop_flag) {
            return -1;
        }
        if (dr_reload_flag) {
            return 1;
        }
        sync_limits(d);
        due = due_ms(p);
        now = (double)sp_clock_ms();
        if (due <= now) {
            break;
        }
        dr_nap_ms((int64_t)ceil(due - now));
    }
    if (p->points_per_s > 0) {
        /* A body built before a reload lowered the rate costs at most
         * a second. */
        double n = k < (size_t)p->points_per_s ? (double)k
                                                : (double)p->points_per_s;

        p->points_due = fmax(p->points_due, now) +
                        n * 1000.0 / (double)p->points_per_s;
    }
    if (p->requests_per_s > 0) {
        p->requests_due = fmax(p->requests_due, now) +
                          1000.0 / (double)p->requests_per_s;
    }
    return 0;
}

void
dr_pace_text(const struct sp_config *cfg, char *out, size_t len)
{
    long pts = cfg->upload.max_points_per_s;
    long reqs = cfg->upload.max_requests_per_s;

    if (pts > 0 && reqs > 0) {
        snprintf(out, len, "at most %ld points/s and %ld requests/s", pts,
                 reqs);
    } else if (pts > 0) {
        snprintf(out, len, "at most %ld points/s", pts);
    } else if (reqs > 0) {
        snprintf(out, len, "at most %ld requests/s", reqs);
    } else {
        snprintf(out, len, "unpaced");
    }
}
