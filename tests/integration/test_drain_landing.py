"""test_drain_landing.py -- a drainer killed while a request is in flight
leaves that request to upstream, which may apply it late.  The next
drainer must not deliver a newer value of its points before that request
can no longer land (the landing record in the drainer lock file), or the
late request would overwrite it upstream while the journal says the newer
value was delivered.  A drainer that stopped with nothing in flight must
not make the next one wait, and a damaged lock file or a record from a
clock that was set back must not keep a drainer from starting.
"""

import re
import signal
import time

import harness as h

TIMEOUT_MS = 2000           # window: 3 x the request timeout = 6 s
HELD_MS = 3000              # upstream applies the first request this late


def values(mock):
    return sorted(mock.points().values())


def record(lock):
    """(until_ms, window_ms) of the landing record in the lock file."""
    with open(lock) as f:
        m = re.match(r"landing_until_ms=(\d+) window_ms=(\d+)", f.read())
    return (int(m.group(1)), int(m.group(2))) if m else None


def write_record(lock, until_ms, window_ms):
    with open(lock, "w") as f:
        f.write("landing_until_ms=%d window_ms=%d\n" % (until_ms, window_ms))


def waited(p):
    return "waiting" in h.read_text(p.log_path)


def once_without_wait(env, what):
    """Runs drain --once; checks that it exits 0 without waiting."""
    r = h.run_logged(env, "drain", "--once", timeout=60)
    h.check(r.returncode == 0 and "waiting" not in r.stderr,
            "drain --once %s: %d %s" % (what, r.returncode, r.stderr[-1000:]))


def run(env, mock):
    h.quick_drain_config(env, mock, TIMEOUT_MS)
    hour = int(time.time()) // 3600 - 1
    lock = env.journal + "-drain.lock"

    # 1. Killed with a request in flight, then a newer value.
    h.append_points(env, [h.point("landing", 1.0, hour)])
    mock.fault(delay_ms=HELD_MS, delay_next=1)
    d = h.start_logged(env, "drain", name="drain-killed")
    h.check(h.wait_for(lambda: mock.counters()["requests_total"] >= 1,
                       15), "the first request reached upstream")
    t_sent = time.time()
    rec = record(lock)
    h.check(rec is not None and rec[1] == 3 * TIMEOUT_MS and
            rec[0] >= (t_sent - 0.5) * 1000 + 3 * TIMEOUT_MS,
            "in flight, the record covers the request: %r" % (rec,))
    h.stop_proc(d, signal.SIGKILL)
    h.append_points(env, [h.point("landing", 2.0, hour)])
    d = h.start_logged(env, "drain", name="drain-next")
    # Both requests applied: the held one (1.0), then the new one.
    h.check(h.wait_for(
        lambda: mock.counters()["points_accepted"] >= 2, 20),
        "both requests applied: %r" % mock.counters())
    h.check(values(mock) == [2.0],
            "upstream holds the newest value, not the late one: %r" %
            values(mock))
    h.check(waited(d), "the wait is logged: %s" %
            h.read_text(d.log_path)[-1000:])
    h.check(time.time() - t_sent >= HELD_MS / 1000.0,
            "the newer value went after the held request")
    h.wait_pending(env, 0, 15)

    # 2. Killed while idle: the next drainer does not wait.
    h.check(h.wait_for(lambda: record(lock)[0] == 0, 10),
            "idle, the record says nothing may land: %r" %
            (record(lock),))
    h.stop_proc(d, signal.SIGKILL)
    h.append_points(env, [h.point("landing", 3.0, hour)])
    d = h.start_logged(env, "drain", name="drain-after-idle")
    h.check(h.wait_for(lambda: values(mock) == [3.0], 10),
            "delivered at once after an idle kill: %r" % values(mock))
    h.check(not waited(d), "no wait after an idle kill")

    # 3. SIGTERM while idle, then drain --once: no wait either.
    rc, _ = h.stop_proc(d)
    h.check(rc == 0, "drain exited %r on SIGTERM" % rc)
    h.append_points(env, [h.point("landing", 4.0, hour)])
    once_without_wait(env, "after a clean stop")
    h.check(values(mock) == [4.0], "4.0 delivered: %r" % values(mock))

    # 4. A drainer that has not uploaded yet leaves the last one's
    # record alone: idle first, it still waits before its first
    # upload; drain --once with nothing pending leaves it too.
    until = int((time.time() + 6) * 1000)
    write_record(lock, until, 8000)
    once_without_wait(env, "with nothing pending")
    h.check(record(lock) == (until, 8000),
            "the record stays: %r" % (record(lock),))
    d = h.start_logged(env, "drain", name="drain-idle-first")
    h.wait_asleep(d, 10, "the drainer is idle, nothing uploaded yet")
    h.append_points(env, [h.point("landing", 4.5, hour)])
    h.check(h.wait_for(lambda: values(mock) == [4.5], 15),
            "4.5 delivered: %r" % values(mock))
    h.check(time.time() * 1000 >= until,
            "not before the recorded time (%.1f s early)" %
            ((until - time.time() * 1000) / 1000.0))
    h.check(waited(d), "the wait is logged")
    rc, _ = h.stop_proc(d)
    h.check(rc == 0 and record(lock)[0] == 0,
            "stopped idle: nothing may land: %r" % (record(lock),))

    # 5. A damaged lock file is no reason not to start.
    with open(lock, "w") as f:
        f.write("\x00garbage landing_until_ms=x\n")
    h.append_points(env, [h.point("landing", 5.0, hour)])
    once_without_wait(env, "with a damaged lock file")
    h.check(values(mock) == [5.0], "5.0 delivered: %r" % values(mock))

    # 5b. Nor is one that parses but claims a window no drainer writes
    # (over 3 x the largest request timeout): damage, not a month's wait.
    write_record(lock, int((time.time() + 86400 * 60) * 1000),
                 3 * 2147483647 + 1)
    h.append_points(env, [h.point("landing", 5.5, hour)])
    once_without_wait(env, "with a window no drainer writes")
    h.check(values(mock) == [5.5], "5.5 delivered: %r" % values(mock))

    # 6. A record far in the future (the clock was set back): the
    # wait is bounded by the window the record gives.
    write_record(lock, int((time.time() + 86400) * 1000), 1000)
    h.append_points(env, [h.point("landing", 6.0, hour)])
    t0 = time.time()
    r = h.run_logged(env, "drain", "--once", timeout=60)
    took = time.time() - t0
    h.check(r.returncode == 0 and "waiting 1.0 s" in r.stderr,
            "drain --once waits the window only: %d %s" %
            (r.returncode, r.stderr[-1000:]))
    h.check(1.0 <= took < 30, "took %.1f s" % took)
    h.check(values(mock) == [6.0], "6.0 delivered: %r" % values(mock))

    lst = env.list()
    h.check([(p["metric_value"], p["state"]) for p in lst] ==
            [(6.0, "acked")], "journal: %r" % lst)
    return h.expected_state([[h.point("landing", 6.0, hour)]])


if __name__ == "__main__":
    h.drain_test("landing", run)
