#!/usr/bin/env python3
"""test_drain_split.py -- HTTP 413 below the configured batch size: the
receiver refuses requests of more than 37 points while batches are 1000;
the drainer splits them and delivers everything without dead letters,
learning the size so that only a handful of requests are refused.  Then a
receiver with a small body limit: ordinary points are delivered by
splitting, and a single point too large even alone becomes a dead letter
with status 413 (`drain --once` exits 65); when that point alone was the
cause, the learned request size comes back."""

import json
import sys

import harness as h

HOUR0 = 469000
AGGS = ["Sum", "Average", "Maximum", "Minimum"]


def part_max_points():
    env = h.Env("drain-413")
    try:
        mock = h.Mock(env)
        env.write_config(upload={"endpoint": mock.url,
                                 "batch_max_points": 1000})
        pts = [h.point("split", k * 1.25, HOUR0 + k // 500, AGGS[k % 4],
                       {"k": str(k % 500)}) for k in range(5000)]
        h.append_points(env, pts)
        mock.fault(max_points=37)
        r = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(r.returncode == 0, "drain --once exited %d: %s" %
                (r.returncode, r.stderr[-2000:]))
        h.compare_state(mock.points(), h.expected_state([pts]))
        st = env.status()
        h.check(st["pending_points"] == 0 and st["dead_letters"] == 0,
                "status: %s" % st)
        c = mock.counters()
        n413 = c["requests_by_status"].get("413", 0)
        print("max_points 37: %d requests, %d of them 413" %
              (c["requests_total"], n413))
        h.check(0 < n413 <= 12, "%d requests refused with 413" % n413)
        h.check("at most" in r.stderr, "learned request size not logged")
    finally:
        env.cleanup()


def part_body_limit():
    env = h.Env("drain-413b")
    try:
        mock = h.Mock(env, "--max-body-bytes", "2500")
        env.write_config(upload={"endpoint": mock.url,
                                 "batch_max_points": 100})
        pts = [h.point("small", float(k), HOUR0, AGGS[k % 4],
                       {"k": str(k)}) for k in range(400)]
        huge = h.point("huge", 1.0, HOUR0 + 1, "Sum",
                       {"d%d" % i: "x" * 250 for i in range(10)})
        pts.insert(150, huge)
        h.append_points(env, pts)
        r = h.run_logged(env, "drain", "--once", timeout=120)
        # 65: a point was dead-lettered in this run.
        h.check(r.returncode == 65, "drain --once exited %d: %s" %
                (r.returncode, r.stderr[-2000:]))
        good = [p for p in pts if p is not huge]
        h.compare_state(mock.points(), h.expected_state([good]))
        r = h.run_logged(env, "dlq", "list", "--json")
        dead = [json.loads(x) for x in r.stdout.splitlines() if x]
        h.check(len(dead) == 1 and dead[0]["metric_name"] == "huge" and
                dead[0]["status"] == 413, "dead letters: %s" % dead)
        st = env.status()
        h.check(st["pending_points"] == 0, "status: %s" % st)
    finally:
        h.check_no_secrets(env, [h.API_KEY, h.STREAM])
        env.cleanup()


def part_lone_point():
    """Batches that fit, but for one point too large alone: it becomes a
    dead letter, and the request size it drove down comes back (the 413s
    were its own), so the rest does not go one point per request."""
    env = h.Env("drain-413c")
    try:
        mock = h.Mock(env, "--max-body-bytes", "2048")
        env.write_config(upload={"endpoint": mock.url,
                                 "batch_max_points": 20})
        pts = [h.point("m%d" % k, float(k), HOUR0, "Sum") for k in range(200)]
        huge = h.point("huge", 1.0, HOUR0 + 1, "Sum",
                       {"d%d" % i: "x" * 250 for i in range(10)})
        h.append_points(env, [huge] + pts)
        r = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(r.returncode == 65, "drain --once exited %d: %s" %
                (r.returncode, r.stderr[-2000:]))
        h.check("back to requests of up to 20 points" in r.stderr,
                "the size comes back: " + r.stderr[-2000:])
        h.compare_state(mock.points(), h.expected_state([pts]))
        n = mock.counters()["requests_total"]
        h.check(n <= 30, "%d requests for 200 points in batches of 20" % n)
    finally:
        h.check_no_secrets(env, [h.API_KEY, h.STREAM])
        env.cleanup()


def main():
    part_max_points()
    part_body_limit()
    part_lone_point()
    h.finish()


if __name__ == "__main__":
    sys.exit(main())
