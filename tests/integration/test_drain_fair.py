#!/usr/bin/env python3
"""test_drain_fair.py -- upload groups are served fairly and one bad
data stream token holds back nothing else (DESIGN.md section 6).

- A stream upstream does not know (404) among good ones: a running
  drainer delivers every point of the good streams while the bad
  stream's groups are parked (their points stay pending, no dead
  letter); status and streams say so; a group parked by a one-off 404
  is unparked by the next 2xx.  `streams retire` moves the bad stream's
  points to the dead letters (status 0), `dlq requeue` brings them back,
  and the drainer parks them again.
- Round robin: two groups with a backlog each are sent alternately, not
  one after the other (the receiver's request log, through a recording
  proxy).
- `drain --once` exit codes: 75 when only parked groups hold points, 65
  when it dead-lettered anything (also with parked groups left), 0 then.
- Points of an upload of unknown outcome are counted by status while
  the drainer keeps them in doubt."""

import json
import signal

import harness as h

HOUR0 = 472000
GOOD2 = "second-good-stream-0123456-SECRETG2"
BAD = "unknown-stream-0123456789-SECRETBD"
BAD2 = "another-unknown-stream-000-SECRETB2"
AGGS = ["Sum", "Average", "Maximum", "Minimum"]


def streams(env):
    r = h.run_logged(env, "streams", "--json")
    h.check(r.returncode == 0, "streams --json exited %d: %s" %
            (r.returncode, r.stderr))
    rows = [json.loads(x) for x in r.stdout.splitlines() if x]
    for row in rows:
        h.check(sorted(row) == sorted(["kind", "stream", "metric_agg_func",
                                       "pending", "acked", "dead",
                                       "oldest_pending_age_s", "state",
                                       "reason", "since"]),
                "streams --json keys: %s" % sorted(row))
    return {(x["stream"], x["metric_agg_func"]): x for x in rows}


def masked(token):
    return "****" + token[-4:]


def n404(mock):
    return mock.counters()["requests_by_status"].get("404", 0)


def part_bad_stream(env, mock):
    """Returns the points the receiver must hold."""
    env.write_config(upload={"endpoint": mock.url, "batch_max_points": 40,
                             "retry_base_ms": 100, "retry_max_ms": 800})
    good, bad = [], []
    for k in range(1200):
        stream = [h.STREAM, GOOD2, BAD][k % 3]
        p = h.point("fair-%d" % (k % 11), k + 0.25, HOUR0 + k // 50,
                    AGGS[k % 4] if stream != BAD else AGGS[k % 2 * 3],
                    {"k": str(k % 50)}, stream)
        (bad if stream == BAD else good).append(p)
    h.append_points(env, good + bad)
    # A one-off 404 for whichever group goes first: parked, then
    # unparked by its next 2xx.
    mock.fault(fail_next=1, fail_status=404)
    d = h.start_logged(env, "drain")
    exp = h.expected_state([good])
    h.wait_until(lambda: mock.points() == exp, 60,
                 "every point of the good streams delivered")
    h.wait_until(lambda: env.status()["pending_points"] == len(bad), 30,
                 "the bad stream's points pending")
    h.check(d.poll() is None, "drainer exited: %s" % d.poll())
    # Parking and unparking are logged after their commits.
    h.wait_until(lambda: " unparked: upstream took its points" in
                 h.read_text(d.log_path), 10,
                 "unparking after a one-off 404 logged")
    h.wait_until(lambda: "group %s/Sum parked for" % masked(BAD) in
                 h.read_text(d.log_path), 10, "parking logged")
    log = h.read_text(d.log_path)
    h.check("404 no stream found" in log, "the 404 not logged")

    st = env.status()
    h.check(st["parked_groups"] == 2 and st["dead_letters"] == 0,
            "status: %s" % st)
    parked = {(x["stream"], x["metric_agg_func"]): x for x in st["parked"]}
    h.check(set(parked) == {(masked(BAD), "Sum"), (masked(BAD), "Minimum")},
            "status.parked: %s" % st["parked"])
    h.check(all(x["pending"] > 0 and "404" in x["reason"] and x["since"]
                for x in parked.values()), "status.parked: %s" % parked)
    r = h.run_logged(env, "status")
    h.check("parked groups:     2" in r.stdout and
            "%s/Minimum" % masked(BAD) in r.stdout,
            "status text:\n" + r.stdout)

    rows = streams(env)
    for key, row in rows.items():
        is_bad = key[0] == masked(BAD)
        h.check(row["kind"] == "points", "kind: %s" % row)
        h.check(row["state"] == ("parked" if is_bad else "ok"),
                "state of %s: %s" % (key, row))
        if is_bad:
            h.check(row["pending"] > 0 and row["acked"] == 0 and
                    row["oldest_pending_age_s"] is not None and
                    row["reason"].startswith("404 no stream found") and
                    row["since"].endswith("Z"), "parked row: %s" % row)
        else:
            h.check(row["pending"] == 0 and row["acked"] > 0 and
                    row["reason"] is None and row["since"] is None and
                    row["oldest_pending_age_s"] is None,
                    "good row: %s" % row)
    h.check(sum(x["acked"] for x in rows.values()) == len(good),
            "acked in streams: %s" % rows)
    r = h.run_logged(env, "streams")
    h.check(r.returncode == 0 and "parked since" in r.stdout and
            masked(BAD) in r.stdout, "streams text:\n" + r.stdout)

    # Retried with a backoff of its own, not given up, not in a loop.
    n0 = n404(mock)
    h.wait_until(lambda: n404(mock) >= n0 + 2, 30, "parked groups retried")

    # Retire: all of the stream's pending points, one transaction.
    r = h.run_logged(env, "streams", "retire", BAD2)
    h.check(r.returncode == 66 and "no upload group" in r.stderr,
            "retire of an unknown token: %d %s" % (r.returncode, r.stderr))
    r = h.run_logged(env, "streams", "retire", BAD, "--agg", "Average")
    h.check(r.returncode == 66, "retire of a missing group: %d" %
            r.returncode)
    r = h.run_logged(env, "streams", "retire", BAD)
    h.check(r.returncode == 0 and ("retired %d pending points" % len(bad))
            in r.stdout, "retire: %d %s %s" % (r.returncode, r.stdout,
                                               r.stderr))
    st = env.status()
    h.check(st["pending_points"] == 0 and st["parked_groups"] == 0 and
            st["dead_letters"] == len(bad), "after retire: %s" % st)
    r = h.run_logged(env, "dlq", "list", "--json")
    dead = [json.loads(x) for x in r.stdout.splitlines() if x]
    h.check(len(dead) == len(bad) and
            all(x["status"] == 0 and x["response"] == "retired by operator"
                for x in dead), "dead letters: %s" % dead[:2])
    h.check({h.point_key(p)[1:] for p in bad} ==
            {(x["record_id"], x["timestamp"]) for x in dead},
            "the dead letters are not the bad stream's points")
    rows = streams(env)
    h.check(all(rows[(masked(BAD), a)]["state"] == "ok" and
                rows[(masked(BAD), a)]["dead"] > 0
                for a in ("Sum", "Minimum")), "after retire: %s" % rows)
    r = h.run_logged(env, "streams", "retire", BAD)
    h.check(r.returncode == 0 and "retired 0 pending points" in r.stdout,
            "second retire: %s" % r.stdout)

    # Requeue: pending again, and parked again by the running drainer.
    r = h.run_logged(env, "dlq", "requeue", "--all")
    h.check(r.returncode == 0, "dlq requeue: %s" % r.stderr)
    h.wait_until(lambda: env.status()["parked_groups"] == 2, 30,
                 "requeued points parked again")
    st = env.status()
    h.check(st["pending_points"] == len(bad) and st["dead_letters"] == 0,
            "after requeue: %s" % st)
    h.compare_state(mock.points(), exp, "receiver after requeue")
    rc, secs = h.stop_proc(d)
    h.check(rc == 0 and secs < 10, "SIGTERM: exit %s after %.1f s" %
            (rc, secs))
    # The bad points are not delivered: the receiver holds the good ones.
    return exp


def two_backlogs(env, tag, n_a, n_b, **upload):
    """Group A (Sum) with n_a points, then group B (Maximum, another
    stream) with n_b: A's whole backlog is older than B's.  The drainer
    sends through a recording proxy to a fresh receiver, 100 points a
    request unless upload (more upload keys) says otherwise.  Returns
    (mock, proxy, a, b)."""
    mock = h.Mock(env)
    proxy = h.RecordingProxy(mock.base)
    keys = {"endpoint": proxy.url, "batch_max_points": 100}
    keys.update(upload)
    env.write_config(upload=keys)
    a = [h.point(tag + "-a", float(k), HOUR0 + k // 10, "Sum", {"k": str(k)})
         for k in range(n_a)]
    b = [h.point(tag + "-b", float(k), HOUR0 + k // 10, "Maximum",
                 {"k": str(k)}, GOOD2) for k in range(n_b)]
    h.append_points(env, a)
    h.append_points(env, b)
    return mock, proxy, a, b


def request_order(proxy):
    """The groups of the requests the proxy saw, in order (S: group A,
    Sum; M: group B, Maximum); the proxy is stopped."""
    seq = "".join(json.loads(q["body"])["metric_agg_func"][0]
                  for q in proxy.requests)
    proxy.stop()
    return seq


def drained_once(env, mock, proxy, a, b, what):
    """`drain --once` of two_backlogs(); every point delivered.  Returns
    request_order()."""
    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 0, "drain --once exited %d: %s" %
            (r.returncode, r.stderr[-1000:]))
    h.compare_state(mock.points(), h.expected_state([a, b]), what)
    seq = request_order(proxy)
    print("%s, request order: %s" % (what, seq))
    return seq


def part_round_robin():
    env = h.Env("drain-fair-rr")
    try:
        mock, proxy, a, b = two_backlogs(env, "rr", 2000, 1500)
        seq = drained_once(env, mock, proxy, a, b, "round robin")
        h.check(seq.count("S") == 20 and seq.count("M") == 15,
                "requests: %s" % seq)
        # While both have points (15 turns each), they alternate.
        h.check(seq[:30] == "SM" * 15, "not alternating: %s" % seq)
        h.check_no_secrets(env, [h.API_KEY, h.STREAM, GOOD2])
    finally:
        env.cleanup()


def part_round_robin_paced():
    """With pacing, a turn is one request: batches of 1,000 points sent
    at 500 points/s would otherwise give each group two requests (two
    seconds) in a row."""
    env = h.Env("drain-fair-pace")
    try:
        mock, proxy, a, b = two_backlogs(env, "pace", 1500, 1500,
                                         batch_max_points=1000,
                                         max_points_per_s=500)
        seq = drained_once(env, mock, proxy, a, b, "paced round robin")
        h.check(seq == "SM" * 3, "not alternating: %s" % seq)
    finally:
        env.cleanup()


def part_round_robin_reloads():
    """A reload between two requests costs no group its turn: each
    request is followed by a SIGHUP while it is in flight (the receiver
    answers slowly), and the two groups still alternate."""
    env = h.Env("drain-fair-hup")
    d = None
    try:
        mock, proxy, a, b = two_backlogs(env, "hup", 1000, 1000)
        mock.fault(delay_ms=150, delay_next=-1)
        d = h.start_logged(env, "drain", name="drain")
        for n in range(1, 13):
            h.wait_until(lambda: len(proxy.requests) >= n, 60,
                         "request %d" % n)
            d.send_signal(signal.SIGHUP)  # while request n is in flight
        mock.fault(delay_ms=0, delay_next=0)
        h.wait_until(lambda: len(proxy.requests) >= 20, 60, "every request")
        h.wait_until(lambda: len(mock.points()) >= len(a) + len(b), 60,
                     "every point delivered")
        h.compare_state(mock.points(), h.expected_state([a, b]),
                        "round robin with reloads")
        seq = request_order(proxy)
        print("request order with reloads: %s" % seq)
        h.check(seq[:20] == "SM" * 10, "not alternating: %s" % seq)
        rc, _ = h.stop_proc(d)
        d = None
        h.check(rc == 0, "SIGTERM: exit %s" % rc)
    finally:
        if d is not None:
            h.stop_proc(d)
        env.cleanup()


def part_once_codes():
    env = h.Env("drain-fair-once")
    try:
        mock = h.Mock(env, tokens=[h.STREAM])
        env.write_config(upload={"endpoint": mock.url})
        good = [h.point("once-%d" % k, k, HOUR0 + k) for k in range(30)]
        bad = [h.point("once-bad-%d" % k, k, HOUR0 + k, stream=BAD)
               for k in range(10)]
        h.append_points(env, good + bad)
        r = h.run_logged(env, "drain", "--once", timeout=60)
        h.check(r.returncode == 75, "only parked groups left: exit %d" %
                r.returncode)
        h.check("only parked upload groups have pending points" in
                r.stderr, "not said:\n" + r.stderr[-1000:])
        h.compare_state(mock.points(), h.expected_state([good]),
                        "--once with a parked group")
        h.check(env.status()["pending_points"] == len(bad),
                "pending after --once")
        # Dead letters win over parked groups: only this run says so.
        poison = [h.point("poison-%d" % k, k, HOUR0 + k) for k in range(3)]
        h.append_points(env, poison)
        mock.fault(poison_prefix="poison-")
        r = h.run_logged(env, "drain", "--once", timeout=60)
        h.check(r.returncode == 65, "dead letters and parked: exit %d" %
                r.returncode)
        h.check(env.status()["dead_letters"] == 3, "dead letters")
        r = h.run_logged(env, "streams", "retire", BAD, "--agg", "Sum")
        h.check(r.returncode == 0, "retire: %s" % r.stderr)
        r = h.run_logged(env, "drain", "--once", timeout=60)
        h.check(r.returncode == 0, "nothing left: exit %d" % r.returncode)
        h.check_no_secrets(env, [h.API_KEY, h.STREAM, BAD])
    finally:
        env.cleanup()


def part_in_doubt():
    env = h.Env("drain-fair-doubt")
    try:
        mock = h.Mock(env)
        env.write_config(upload={"endpoint": mock.url,
                                 "request_timeout_ms": 1500,
                                 "batch_max_points": 25})
        pts = [h.point("doubt-%d" % k, k, HOUR0 + k) for k in range(25)]
        h.append_points(env, pts)
        # The first request times out after its body went out: upstream
        # may still apply it, so its points are in doubt for 3 s.
        mock.fault(delay_ms=5000, delay_next=1)
        d = h.start_logged(env, "drain")
        h.wait_until(lambda: env.status()["in_doubt_points"] == 25, 20,
                     "status counts the points in doubt")
        h.wait_until(lambda: env.status()["in_doubt_points"] == 0, 30,
                     "the doubt expires")
        r = h.run_logged(env, "status")
        h.check("in doubt:          0 points" in r.stdout, r.stdout)
        ok, st = h.wait_pending(env, 0, 30)
        h.check(ok, "pending: %s" % st)
        h.compare_state(mock.points(), h.expected_state([pts]), "doubt")
        rc, _ = h.stop_proc(d)
        h.check(rc == 0, "SIGTERM: exit %s" % rc)
    finally:
        env.cleanup()


if __name__ == "__main__":
    part_round_robin()
    part_round_robin_paced()
    part_round_robin_reloads()
    part_once_codes()
    part_in_doubt()
    h.drain_test("drain-fair", part_bad_stream,
                 secrets=(h.API_KEY, h.STREAM, GOOD2, BAD, BAD2),
                 mock_args={"tokens": (h.STREAM, GOOD2)})
