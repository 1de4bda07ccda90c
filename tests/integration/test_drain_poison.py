#!/usr/bin/env python3
"""test_drain_poison.py -- points upstream refuses with 400 (the
receiver's poison_prefix) are isolated by bisection and land in the dead
letters with status and response body (`drain --once` exits 65);
everything else is delivered and pending reaches 0.  `dlq requeue --all` makes them pending again, and
once upstream accepts them they are delivered.  A point refused alone is
recorded as the last upload error too."""

import json
import sqlite3
import subprocess

import harness as h

N = 3000
HOUR0 = 468000
AGGS = ["Sum", "Average", "Maximum", "Minimum"]
# First point, last point, two neighbours, a few scattered.
POISON_AT = [0, 7, 8, 611, 1500, 1501, 2222, 2998, N - 1]
BATCH = 200


def check_json_utf8(env):
    """A letter's body as a journal written before the drainer kept it as
    UTF-8 may hold it (upstream's bytes as sent, or cut inside a
    character): `dlq list --json` still prints UTF-8, U+FFFD in place."""
    db = sqlite3.connect(env.journal)
    db.execute("UPDATE dead SET body = CAST(x'7b226d223a22ff22c3' AS TEXT) "
               "WHERE id = (SELECT min(id) FROM dead)")
    db.commit()
    db.close()
    r = subprocess.run(env.cmd("dlq", "list", "--json"), capture_output=True,
                       timeout=60)
    h.check(r.returncode == 0, "dlq list exited %d" % r.returncode)
    try:
        dead = [json.loads(x) for x in r.stdout.decode("utf-8").splitlines()]
    except (UnicodeDecodeError, ValueError) as err:
        h.check(False, "dlq list --json: not UTF-8 JSON: %s" % err)
        return
    h.check(any(d["response"] == '{"m":"\ufffd"\ufffd' for d in dead),
            "bytes not UTF-8 as U+FFFD: %s" % [d["response"] for d in dead
                                               if "m" in d["response"]])


def run(env, mock):
    env.write_config(upload={"endpoint": mock.url,
                             "batch_max_points": BATCH})
    pts = []
    for k in range(N):
        name = ("poison-%d" % k) if k in POISON_AT else "ok-%d" % (k % 13)
        pts.append(h.point(name, k + 0.5, HOUR0 + k // 100,
                           AGGS[k % 4], {"i": str(k % 100)}))
    poison = [p for p in pts if p["metric_name"].startswith("poison-")]
    good = [p for p in pts if not p["metric_name"].startswith("poison-")]
    h.append_points(env, pts)
    mock.fault(poison_prefix="poison-")

    r = h.run_logged(env, "drain", "--once", timeout=120)
    # 65: points were dead-lettered in this run.
    h.check(r.returncode == 65, "drain --once exited %d: %s" %
            (r.returncode, r.stderr[-2000:]))
    h.compare_state(mock.points(), h.expected_state([good]),
                    "receiver with poison on")
    st = env.status()
    h.check(st["pending_points"] == 0, "pending: %s" % st)
    h.check(st["dead_letters"] == len(poison), "dead letters: %s" % st)

    r = h.run_logged(env, "dlq", "list", "--json")
    h.check(r.returncode == 0, "dlq list exited %d" % r.returncode)
    dead = [json.loads(x) for x in r.stdout.splitlines() if x]
    got = {(d["record_id"], d["timestamp"]) for d in dead}
    want = {h.point_key(p)[1:] for p in poison}
    h.check(got == want, "dead letters %d, expected %d poison points" %
            (len(got), len(want)))
    h.check(all(d["status"] == 400 for d in dead),
            "statuses %s" % {d["status"] for d in dead})
    h.check(all("metric_name" in d.get("response", "") for d in dead),
            "response body not kept: %s" % dead[:1])
    check_json_utf8(env)
    c = mock.counters()
    n_req = c["requests_total"]
    # Bisection: about 2 log2(BATCH) requests per offender, not one
    # request per point of an affected batch.
    print("%d requests for %d points, %d of them poison" %
          (n_req, N, len(poison)))
    h.check(n_req <= N // BATCH + len(poison) * 2 * 9,
            "%d requests: bisection too slow" % n_req)
    log = "\n".join(t for w, t in h._outputs(env) if "drain" in w)
    h.check("dead letter" in log and "HTTP 400" in log,
            "dead-lettering not logged")

    r = h.run_logged(env, "dlq", "requeue", "--all")
    h.check(r.returncode == 0, "dlq requeue exited %d: %s" %
            (r.returncode, r.stderr))
    st = env.status()
    h.check(st["pending_points"] == len(poison) and
            st["dead_letters"] == 0, "after requeue: %s" % st)

    mock.fault(poison_prefix=None)
    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 0, "second drain --once exited %d" %
            r.returncode)
    st = env.status()
    h.check(st["pending_points"] == 0 and st["dead_letters"] == 0,
            "at the end: %s" % st)

    # A point refused in a request of its own is the last error too,
    # whatever the batch size (no bisection step records it before).
    mock.fault(poison_prefix="poison-")
    lone = [h.point("poison-lone", 1.0, HOUR0, "Sum", {"i": "0"})]
    h.append_points(env, lone)
    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 65, "lone poison: exit %d" % r.returncode)
    err = env.status()["last_upload_error"] or ""
    h.check(err.startswith("HTTP 400") and '"poison-lone"' in err and
            "refused alone" in err, "last error after a lone refusal: %r" %
            err)
    mock.fault(poison_prefix=None)
    r = h.run_logged(env, "dlq", "requeue", "--all")
    h.check(r.returncode == 0, "requeue the lone one: %d" % r.returncode)
    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 0, "lone one delivered: exit %d" % r.returncode)
    return h.expected_state([pts, lone])


if __name__ == "__main__":
    h.drain_test("drain-poison", run)
