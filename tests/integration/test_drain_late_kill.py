"""test_drain_late_kill.py -- as test_drain_late, but the drainer is
killed (SIGKILL) after the late request landed and before its grace
period is over: the re-send of the newer value must not die with it.
The ack of the newer value notes the point in the journal (table resend,
in the ack's transaction); the next drainer waits out the landing record,
then sends the point again, so upstream ends with the newest value.
"""

import signal
import time

import harness as h

TIMEOUT_MS = 3000   # grace: 2 x 3 s after the timeout
HELD_MS = 4500      # upstream applies the first request this late: 1.5 s
                    # after the timeout, 4.5 s before the grace ends


def values(mock):
    return list(mock.points().values())


def run(env, mock):
    h.quick_drain_config(env, mock, TIMEOUT_MS)
    hour = int(time.time()) // 3600 - 1
    h.append_points(env, [h.point("late", 1.0, hour)])
    mock.fault(delay_ms=HELD_MS, delay_next=1)  # upstream slow once
    d = h.start_logged(env, "drain", name="drain-killed")
    h.check(h.wait_for(lambda: "timed out" in h.read_text(d.log_path),
                       15), "the first request timed out")
    t_timeout = time.time()
    h.append_points(env, [h.point("late", 2.0, hour)])  # an update
    h.wait_pending(env, 0, 15)
    st = env.status()
    h.check(st.get("resend_points") == 1,
            "the ack of 2.0 noted the point to send again: %r" %
            st.get("resend_points"))
    # The slow request lands and writes 1.0 over 2.0 upstream.
    if not h.wait_for(lambda: values(mock) == [1.0], 10):
        if values(mock) == [2.0]:
            h.skip("2.0 reached upstream only after the late request "
                   "(a slow machine): nothing was overwritten")
        h.check(False, "the late request landed: %r" % values(mock))
    h.stop_proc(d, signal.SIGKILL)
    if "sending 1 point again" in h.read_text(d.log_path):
        h.skip("the grace period (%d ms) was over before the drainer "
               "could be killed inside it (%.1f s after the timeout)" %
               (2 * TIMEOUT_MS, time.time() - t_timeout))
    h.check(values(mock) == [1.0] and
            env.status().get("resend_points") == 1,
            "killed inside the grace period: upstream has 1.0 (%r), the "
            "note is left" % values(mock))

    d = h.start_logged(env, "drain", name="drain-next")
    h.check(h.wait_for(lambda: values(mock) == [2.0], 30),
            "the next drainer sent the newest value again: %r" %
            values(mock))
    log = h.read_text(d.log_path)
    h.check("waiting" in log, "it waited out the landing record")
    h.check("sending 1 point again: the previous drainer stopped" in log,
            "the re-send is logged: %s" % log[-1500:])
    h.wait_pending(env, 0, 15)
    lst = env.list()
    h.check([(p["metric_value"], p["state"]) for p in lst] ==
            [(2.0, "acked")], "journal: %r" % lst)
    h.check(env.status().get("resend_points") == 0, "no note is left")
    return h.expected_state([[h.point("late", 2.0, hour)]])


if __name__ == "__main__":
    h.drain_test("late_kill", run)
