#!/usr/bin/env python3
"""test_drain_control.py -- running the drainer: a second drainer on the
same journal exits 75 while the first runs; SIGTERM/SIGINT stop it within
a few seconds whether it is idle, waiting in a backoff or holding a
request in flight (the unacknowledged points stay pending); new points
are noticed within poll_ms; command-line usage errors exit 64."""

import time

import harness as h

HOUR0 = 471000


def pts(n, name):
    return [h.point(name, k + 0.75, HOUR0 + k % 24, "Sum", {"k": str(k)})
            for k in range(n)]


def started(d):
    return "draining journal" in h.read_text(d.log_path)


def sigint_in_flight(env, mock, args, want_rc):
    """SIGINT to `ctspool ARGS` while its request is in flight (the
    receiver counts a request once it has it whole, then holds it):
    exit want_rc within 5 s (the answer's 0.8 s grace, then the exit of
    a sanitizer build on a busy machine), the 50 points still pending."""
    what = " ".join(args)
    mock.fault(delay_ms=60000, delay_next=1)
    n0 = mock.counters()["requests_total"]
    d = h.start_logged(env, *args)
    h.check(h.wait_for(lambda: mock.counters()["requests_total"] > n0,
                       10), "request not sent (%s)" % what)
    rc, secs = h.stop_proc(d, h.signal.SIGINT)
    h.check(rc == want_rc and secs < 5,
            "SIGINT in flight (%s): exit %s after %.2f s" % (what, rc, secs))
    st = env.status()
    h.check(st["pending_points"] == 50, "pending after abort (%s): %s" %
            (what, st))


def run(env, mock):
    # A short request timeout: a drainer started after one that left
    # a request in flight or in doubt waits up to 3 x the timeout.
    env.write_config(upload={"endpoint": mock.url, "poll_ms": 200,
                             "request_timeout_ms": 1000})

    # Usage.
    r = h.run_logged(env, "drain", "--bogus")
    h.check(r.returncode == 64, "drain --bogus exited %d" % r.returncode)
    r = h.run_logged(env, "drain", "extra")
    h.check(r.returncode == 64, "drain extra exited %d" % r.returncode)
    r = h.run_logged(env, "drain", "--help")
    h.check(r.returncode == 0 and "--once" in r.stdout,
            "drain --help: %d" % r.returncode)

    # One drainer per journal.
    d = h.start_logged(env, "drain")
    h.check(h.wait_for(lambda: started(d), 10), "drainer did not start")
    for args in (("drain", "--once"), ("drain",)):
        r = h.run_logged(env, *args, timeout=30)
        h.check(r.returncode == 75, "second `%s` exited %d" %
                (" ".join(args), r.returncode))
        h.check("another drainer" in r.stderr,
                "no clear message:\n" + r.stderr)

    # Idle: new points are noticed within poll_ms (200 ms).
    h.wait_asleep(d, 10, "the drainer is idle (empty journal)")
    a = pts(5, "idle")
    h.append_points(env, a)
    t0 = time.time()
    exp = h.expected_state([a])
    h.check(h.wait_for(lambda: mock.points() == exp, 10, 0.02),
            "idle drainer did not pick up new points")
    lat = time.time() - t0
    print("picked up %.2f s after the append returned" % lat)
    h.check(lat < 1.5, "took %.2f s with poll_ms 200" % lat)

    # SIGTERM while idle.
    ok, st = h.wait_pending(env, 0, 10)
    h.check(ok, "the idle drainer did not acknowledge: %s" % st)
    h.wait_asleep(d, 10, "the drainer is idle again")
    rc, secs = h.stop_proc(d)
    h.check(rc == 0 and secs < 2, "idle SIGTERM: exit %s after %.2f s" %
            (rc, secs))

    # SIGINT while a request is in flight: aborted, points stay pending;
    # the daemon exits 0, drain --once (it did not finish) 75.
    b = pts(50, "inflight")
    h.append_points(env, b)
    sigint_in_flight(env, mock, ["drain"], 0)
    sigint_in_flight(env, mock, ["drain", "--once"], 75)

    # SIGTERM during a long backoff.
    env.write_config(upload={"endpoint": mock.url, "poll_ms": 200,
                             "request_timeout_ms": 1000,
                             "retry_base_ms": 60000,
                             "retry_max_ms": 120000})
    mock.fault(fail_next=1000, fail_status=503)
    d = h.start_logged(env, "drain")
    h.check(h.wait_for(lambda: "retry 1 in" in h.read_text(d.log_path),
                       10), "no failure logged")
    rc, secs = h.stop_proc(d)
    h.check(rc == 0 and secs < 2, "SIGTERM in backoff: exit %s after "
            "%.2f s" % (rc, secs))
    mock.fault(fail_next=0)

    # Whatever stayed pending is delivered by the next drainer.
    env.write_config(upload={"endpoint": mock.url})
    r = h.run_logged(env, "drain", "--once", timeout=60)
    h.check(r.returncode == 0, "final drain --once exited %d" %
            r.returncode)
    return h.expected_state([a, b])


if __name__ == "__main__":
    h.drain_test("drain-ctl", run)
