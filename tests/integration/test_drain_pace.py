#!/usr/bin/env python3
"""test_drain_pace.py -- pacing of the drainer (DESIGN.md section 6):
upload.max_points_per_s and upload.max_requests_per_s cap the rate at
which a backlog reaches the receiver, as the receiver sees it (its
counters, polled); a request carries at most a second's worth of
points; SIGHUP changes the rates at once (DESIGN.md section 12); SIGTERM
stops a paced drainer within a few seconds.  Lower bounds on the time
the backlog takes are ones an unpaced drainer misses by far; upper
bounds are generous.  The receiver's final state is exact."""

import signal
import time

import harness as h

HOUR0 = 472000


def backlog(env, tag, n):
    pts = [h.point("pace-%s-%d" % (tag, i % 50), float(i), HOUR0 + i // 50)
           for i in range(n)]
    h.append_points(env, pts)
    return pts


def base(mock):
    c = mock.counters()
    return c["points_accepted"], c["requests_total"]


def watch(mock, start, n, timeout):
    """Polls the receiver until n more points than start[0] arrived:
    (seconds from the first arrival to the last, requests they took);
    None when they did not all arrive within timeout."""
    seen = {}

    def pred():
        c = mock.counters()
        got = c["points_accepted"] - start[0]
        now = time.time()
        if got > 0 and "first" not in seen:
            seen["first"] = now
        seen["requests"] = c["requests_total"] - start[1]
        return got >= n
    if not h.wait_until(pred, timeout, "%d points at the receiver" % n,
                        interval=0.02):
        return None
    return time.time() - seen["first"], seen["requests"]


def stop(d, what):
    rc, secs = h.stop_proc(d)
    h.check(rc == 0, "%s: exit %s on SIGTERM" % (what, rc))
    return secs


def run(env, mock):
    batches = []
    up = {"endpoint": mock.url, "batch_max_points": 100}

    # Points: 3000 at 1000/s in requests of 100 take about 2.9 s.
    env.write_config(upload=dict(up, max_points_per_s=1000))
    batches.append(backlog(env, "points", 3000))
    start = base(mock)
    d = h.start_logged(env, "drain")
    r = watch(mock, start, 3000, 120)
    if r:
        print("3000 points at 1000/s: %.2f s, %d requests" % r)
        h.check(r[0] >= 2.0, "3000 points at max_points_per_s = 1000 "
                "arrived within %.2f s" % r[0])
        h.check(r[1] == 30, "requests of batch 100: %d" % r[1])
    stop(d, "points paced")
    h.check("at most 1000 points/s" in h.read_text(d.log_path),
            "pacing not stated at start")

    # Requests: 30 requests at 10/s take about 2.9 s.
    env.write_config(upload=dict(up, max_requests_per_s=10))
    batches.append(backlog(env, "requests", 3000))
    start = base(mock)
    d = h.start_logged(env, "drain")
    r = watch(mock, start, 3000, 120)
    if r:
        print("30 requests at 10/s: %.2f s" % r[0])
        h.check(r[0] >= 2.0, "30 requests at max_requests_per_s = 10 "
                "arrived within %.2f s" % r[0])
    stop(d, "requests paced")

    # A batch is cut to the points budget: 1000 points at 250/s with
    # batches of 1000 go as 4 requests, about 3 s apart in all.
    env.write_config(upload=dict(up, batch_max_points=1000,
                                 max_points_per_s=250))
    batches.append(backlog(env, "cut", 1000))
    start = base(mock)
    d = h.start_logged(env, "drain")
    r = watch(mock, start, 1000, 120)
    if r:
        print("1000 points at 250/s, batch 1000: %.2f s, %d requests" % r)
        h.check(r[1] == 4, "requests cut to 250 points: %d" % r[1])
        h.check(r[0] >= 2.0, "1000 points at 250/s arrived within %.2f s"
                % r[0])
    stop(d, "cut batches")

    # SIGHUP: from 20 points/s (150 s for 3000) to unlimited, at once.
    env.write_config(upload=dict(up, max_points_per_s=20))
    batches.append(backlog(env, "reload", 3000))
    start = base(mock)
    d = h.start_logged(env, "drain")
    h.wait_until(lambda: mock.counters()["points_accepted"] > start[0],
                 60, "the first paced request")
    n = mock.counters()["points_accepted"] - start[0]
    h.check(n < 3000, "the backlog went out unpaced: %d" % n)
    env.write_config(upload=dict(up, max_points_per_s=0))
    t0 = time.time()
    d.send_signal(signal.SIGHUP)
    r = watch(mock, start, 3000, 60)
    if r:
        print("unpaced by SIGHUP: all delivered %.2f s after it" %
              (time.time() - t0))
    h.check("unpaced" in h.read_text(d.log_path),
            "the reload does not state the pacing")
    h.check(d.poll() is None, "drainer exited on SIGHUP: %s" % d.poll())
    stop(d, "reloaded")

    # SIGTERM ends a paced drainer's wait: 1 point/s, stopped mid-way.
    env.write_config(upload=dict(up, max_points_per_s=1))
    batches.append(backlog(env, "term", 100))
    start = base(mock)
    d = h.start_logged(env, "drain")
    h.wait_until(lambda: mock.counters()["points_accepted"] > start[0],
                 60, "the first request at 1 point/s")
    h.wait_asleep(d, 10, "the drainer waits for its pace")
    secs = stop(d, "paced at 1 point/s")
    h.check(secs < 5, "SIGTERM took %.1f s" % secs)
    left = h.wait_pending(env, 0, 0)[1]["pending_points"]
    h.check(0 < left < 100, "pending after the stop: %d" % left)
    env.write_config(upload=up)
    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 0, "drain --once: exit %d: %s" %
            (r.returncode, r.stderr[-1000:]))
    return h.expected_state(batches)


if __name__ == "__main__":
    h.drain_test("drain-pace", run)
