"""test_drain_late.py -- a request the drainer gave up on (timeout) is
applied by upstream later, after a newer value of the same point was
delivered.  The drainer must send the newer value again once such a late
request can no longer land, so upstream ends with the newest value.
"""

import time

import harness as h


def run(env, mock):
    h.quick_drain_config(env, mock, 1500)
    hour = int(time.time()) // 3600 - 1
    h.append_points(env, [h.point("late", 1.0, hour)])
    mock.fault(delay_ms=3000, delay_next=1)  # upstream slow once
    d = h.start_logged(env, "drain")
    h.check(h.wait_for(lambda: "timed out" in h.read_text(d.log_path),
                       15), "the first request timed out")
    h.append_points(env, [h.point("late", 2.0, hour)])  # an update
    h.wait_pending(env, 0, 15)
    # The slow request lands now and writes 1.0 over 2.0 upstream...
    h.check(h.wait_for(lambda: list(mock.points().values()) == [1.0],
                       10), "the late request landed: %r" %
            list(mock.points().values()))
    # ... and after the grace period (2 x request_timeout_ms) the
    # drainer sends 2.0 again.
    h.check(h.wait_for(lambda: list(mock.points().values()) == [2.0],
                       20), "newest value upstream again: %r" %
            list(mock.points().values()))
    h.check("sending 1 point again" in h.read_text(d.log_path),
            "the re-send is logged")
    h.wait_pending(env, 0, 15)
    lst = env.list()
    h.check([(p["metric_value"], p["state"]) for p in lst] ==
            [(2.0, "acked")], "journal: %r" % lst)
    return h.expected_state([[h.point("late", 2.0, hour)]])


if __name__ == "__main__":
    h.drain_test("late", run)
