#!/usr/bin/env python3
"""test_drain_outage.py -- 50 failed requests (503s, dropped connections,
429s without and with Retry-After in both the delta-seconds and the
HTTP-date form), each round followed by recovery: everything is
delivered, no point lost, Retry-After honoured, one log line per failure
and the failures recorded for `status`."""

import email.utils
import time

import harness as h

HOUR0 = 466000
CHUNK = 300

# (faults, minimum seconds the round must take because of Retry-After)
ROUNDS = [({"drop_next": 4, "fail_next": 4, "fail_status": 503}, 0)] * 4 + [
    ({"fail_next": 8, "fail_status": 429, "retry_after": None}, 0),
    ({"fail_next": 3, "fail_status": 429, "retry_after": "1"}, 2.7),
    ("date", 1.5),
    ({"drop_next": 3, "fail_next": 2, "fail_status": 503,
      "retry_after": None}, 0),
]


def run(env, mock):
    env.write_config(upload={"endpoint": mock.url, "retry_base_ms": 10,
                             "retry_max_ms": 1000, "poll_ms": 20,
                             "batch_max_points": 100})
    d = h.start_logged(env, "drain")
    batches = []
    n_failures = 0
    for i, (faults, min_secs) in enumerate(ROUNDS):
        if faults == "date":
            when = email.utils.formatdate(time.time() + 3, usegmt=True)
            faults = {"fail_next": 2, "fail_status": 429,
                      "retry_after": when}
        mock.fault(**faults)
        n_failures += faults.get("drop_next", 0) + faults["fail_next"]
        pts = [h.point("req", float(i * CHUNK + k), HOUR0 + k % 24,
                       ["Sum", "Average", "Maximum", "Minimum"][k % 4],
                       {"round": str(i), "k": str(k)})
               for k in range(CHUNK)]
        if batches:  # and update some points of the previous round
            pts += [dict(p, metric_value=p["metric_value"] + 0.5)
                    for p in batches[-1][::10]]
        t0 = time.time()
        h.append_points(env, pts)
        batches.append(pts)

        def done():
            f = h.mock_faults(mock)
            return (f["fail_next"] == 0 and f["drop_next"] == 0 and
                    env.status()["pending_points"] == 0)
        ok = h.wait_for(done, 60, interval=0.05)
        secs = time.time() - t0
        h.check(ok, "round %d (%s) did not recover" % (i, faults))
        h.check(secs >= min_secs, "round %d took %.2f s: Retry-After "
                "not honoured (expected >= %.1f s)" % (i, secs, min_secs))
        print("round %d: %s recovered in %.2f s" % (i, faults, secs))
    h.check(n_failures == 50, "test set up %d failures" % n_failures)

    c = mock.counters()
    failed = (c["connections_dropped"] +
              sum(v for k, v in c["requests_by_status"].items()
                  if k != "201"))
    h.check(failed == 50, "receiver counted %d failed requests: %s" %
            (failed, c))
    st = env.status()
    h.check(st["pending_points"] == 0, "pending: %s" % st)
    h.check(st["last_upload_error"], "no last_upload_error in status")
    rc, secs = h.stop_proc(d)
    h.check(rc == 0, "drainer exited %s" % rc)
    log = h.read_text(d.log_path)
    lines = [x for x in log.splitlines() if "upload of" in x and
             "failed" in x]
    # A dropped connection may be retried once by libcurl itself on a
    # reused connection, so there may be fewer lines than failures.
    h.check(len(lines) >= 40, "%d failure log lines for 50 failures" %
            len(lines))
    h.check("Retry-After 1.0 s" in log, "Retry-After not logged")
    h.check("HTTP 503" in log and "HTTP 429" in log,
            "statuses not logged")
    return h.expected_state(batches)


if __name__ == "__main__":
    h.drain_test("drain-outage", run)
