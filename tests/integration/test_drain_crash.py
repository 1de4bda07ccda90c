#!/usr/bin/env python3
"""test_drain_crash.py -- 100,000 pending points; the drainer is killed
with SIGKILL at 20 random moments (the receiver holds each request a
little, so most kills land between sending a batch and acknowledging it)
and restarted, while producers keep updating points.  The receiver's
final state must be exact: every point delivered, each with its latest
value.  Prints how many points were sent more than once."""

import random
import signal
import time

import harness as h

N = 100000
KILLS = 20
HOUR0 = 467000
STREAM2 = "crash-second-stream-token-XYZW9876"
AGGS = ["Sum", "Average", "Maximum", "Minimum"]


def run(env, mock):
    seed = int(time.time())
    rnd = random.Random(seed)
    print("random seed %d" % seed)
    # A short request timeout keeps each restart's wait for the
    # killed drainer's request (3 x the timeout) short.
    env.write_config(upload={"endpoint": mock.url,
                             "batch_max_points": 500, "poll_ms": 20,
                             "request_timeout_ms": 500})
    pts = [h.point("metric-%d" % (k % 97), float(k), HOUR0 + k // 2000,
                   AGGS[k % 4], {"host": "h%d" % (k % 31),
                                 "n": str(k % 2000)},
                   STREAM2 if k % 3 == 0 else None)
           for k in range(N)]
    t0 = time.time()
    h.append_points(env, pts)
    print("appended %d points in %.1f s" % (N, time.time() - t0))
    batches = [pts]
    # Each request is held 15 ms: the drain takes several seconds.
    mock.fault(delay_ms=15, delay_next=-1)
    kills_pending = 0
    for i in range(KILLS):
        # Killed once the k-th request of this drainer has reached the
        # receiver, which holds it: between sending a batch and its
        # acknowledgement.  Its wait for the killed one's request comes
        # first.  A drainer that finds nothing left is killed idle.
        k = rnd.randint(1, 12)
        n0 = mock.counters()["requests_total"]
        d = h.start_logged(env, "drain", name="drain-killed")
        h.wait_until(lambda: mock.counters()["requests_total"] >= n0 + k or
                     env.status()["pending_points"] == 0, 60,
                     "drainer %d sent %d requests (or had none to send)" %
                     (i, k), interval=0.005)
        d.send_signal(signal.SIGKILL)
        d.wait(timeout=10)
        pending = env.status()["pending_points"]
        kills_pending += pending > 0
        if i % 4 == 1:  # producers keep going between crashes
            upd = [dict(p, metric_value=p["metric_value"] + 0.25 + i)
                   for p in rnd.sample(pts, 500)]
            h.append_points(env, upd)
            batches.append(upd)
    print("%d of %d kills hit a drainer with points pending" %
          (kills_pending, KILLS))
    h.check(kills_pending >= KILLS // 2,
            "too few kills while points were pending: %d" % kills_pending)
    mock.fault(delay_ms=0)
    r = h.run_logged(env, "drain", "--once", timeout=300)
    h.check(r.returncode == 0, "final drain --once exited %d: %s" %
            (r.returncode, r.stderr[-2000:]))
    got = mock.points()
    h.check(len(got) == N, "receiver holds %d points, expected %d" %
            (len(got), N))
    st = env.status()
    h.check(st["pending_points"] == 0 and st["dead_letters"] == 0,
            "status after: %s" % st)
    c = mock.counters()
    print("receiver: %d requests, %d points accepted for %d points; "
          "%d points sent twice (same value again), %d rewritten with "
          "a newer value" %
          (c["requests_total"], c["points_accepted"], c["points_new"],
           c["points_rewritten_same_value"],
           c["points_rewritten"] - c["points_rewritten_same_value"]))
    h.check(c["points_new"] == N, "points_new %d" % c["points_new"])
    return h.expected_state(batches)


if __name__ == "__main__":
    h.drain_test("drain-crash", run, secrets=(h.API_KEY, h.STREAM, STREAM2))
