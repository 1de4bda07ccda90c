#!/usr/bin/env python3
"""test_drain_inflight.py -- a point updated while the upload of its
previous value is in flight (the receiver holds the request) ends
upstream with the newest value, and the acknowledgement of the old
upload does not mark the new value as sent (DESIGN.md section 3)."""

import harness as h

HOUR = 465000
DELAY_MS = 6000  # ample for an append under a loaded sanitizer build


def run(env, mock):
    env.write_config(upload={"endpoint": mock.url})
    p1 = h.point("cpu", 1.5, HOUR, "Maximum", {"host": "a"})
    others = [h.point("cpu", float(i), HOUR + 1 + i, "Maximum",
                      {"host": "a"}) for i in range(20)]
    mock.fault(delay_ms=DELAY_MS, delay_next=1)
    h.append_points(env, [p1] + others)
    h.start_logged(env, "drain")  # stopped (exit 0) by drain_test
    # The first request is now held by the receiver for DELAY_MS.
    ok = h.wait_for(lambda: mock.counters()["requests_total"] >= 1, 10)
    h.check(ok, "the drainer sent nothing")
    p2 = dict(p1, metric_value=2.25)
    h.append_points(env, [p2] + others)  # others unchanged
    # The receiver stores a request's points only after the delay: none
    # stored yet means the update happened while the upload was held.
    h.check(not mock.points(),
            "append took longer than the held upload (%d ms): the update "
            "did not happen in flight" % DELAY_MS)
    exp = h.expected_state([[p1] + others, [p2]])
    ok = h.wait_for(lambda: mock.points() == exp, 30)
    h.check(ok, "receiver does not hold the newest value")
    ok, st = h.wait_pending(env, 0, 30)
    h.check(ok, "points left pending: %s" % st)

    rid = h.record_id("cpu", "Maximum", {"host": "a"})
    state = mock.state()
    writes = [p["writes"] for p in state["points"]
              if p["record_id"] == rid and
              p["timestamp"] == h.hour_str(HOUR)]
    h.check(writes == [2], "point written %s times upstream, expected "
            "twice (old value, then new)" % writes)
    rows = [r for r in env.list("--all")
            if r["record_id"] == rid and
            r["timestamp"] == h.hour_str(HOUR)]
    h.check(len(rows) == 1 and rows[0]["state"] == "acked" and
            rows[0]["metric_value"] == 2.25,
            "journal row for the updated point: %s" % rows)
    h.check(sum(1 for r in env.list("--acked")) == 1 + len(others),
            "not every point acknowledged")
    return exp


if __name__ == "__main__":
    h.drain_test("drain-inflight", run)
