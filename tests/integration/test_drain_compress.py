#!/usr/bin/env python3
"""test_drain_compress.py -- upload.compress = "gzip" (DESIGN.md section
6): every request body goes gzip-compressed with Content-Encoding: gzip
and the receiver, which inflates it, ends up with exactly the points
appended; a receiver that answers 415 to compressed bodies makes the
drainer say so once, send the same points again uncompressed at once
and send every later body uncompressed, with no dead letter, no
credentials error and nothing left pending.  upload.batch_max_bytes
counts uncompressed bytes."""

import json

import harness as h

HOUR0 = 474000


def pts(tag, n, aggs=("Sum", "Maximum")):
    return [h.point("gz-%s-%d" % (tag, i % 40), float(i) + 0.25,
                    HOUR0 + i // 40, aggs[i % len(aggs)],
                    {"host": "h%d" % (i % 3), "region": "eu-west-1"})
            for i in range(n)]


def counters_delta(mock, before):
    c = mock.counters()
    d = {k: c[k] - before[k] for k in ("requests_total", "requests_gzip",
                                       "points_accepted")}
    d["by_status"] = {s: n - before["requests_by_status"].get(s, 0)
                      for s, n in c["requests_by_status"].items()
                      if n != before["requests_by_status"].get(s, 0)}
    return d


def run(env, mock):
    batches = []
    proxy = h.RecordingProxy(mock.base)
    try:
        # Round trip: 600 points, batches of 100, all compressed.
        env.write_config(upload={"endpoint": proxy.url, "compress": "gzip",
                                 "batch_max_points": 100})
        batches.append(pts("round", 600))
        h.append_points(env, batches[-1])
        before = mock.counters()
        r = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(r.returncode == 0, "drain --once: exit %d: %s" %
                (r.returncode, r.stderr[-1000:]))
        d = counters_delta(mock, before)
        h.check(d["requests_total"] >= 6 and
                d["requests_gzip"] == d["requests_total"],
                "gzip requests: %s" % d)
        h.check(d["by_status"] == {"201": d["requests_total"]},
                "answers: %s" % d["by_status"])
        reqs = list(proxy.requests)
        h.check(reqs and all(
            q["headers"].get("Content-Encoding") == "gzip" and
            q["body"][:2] == b"\x1f\x8b" for q in reqs),
            "a request without Content-Encoding: gzip or a gzip body")
        h.check("gzip-compressed" in r.stderr, "compression not stated")
        h.compare_state(mock.points(), h.expected_state(batches),
                        "after the gzip round trip")

        # batch_max_bytes counts uncompressed bytes: about 150 bytes a
        # point, 2048 bytes a request, whatever the compressed size.
        env.write_config(upload={"endpoint": proxy.url, "compress": "gzip",
                                 "batch_max_bytes": 2048})
        batches.append(pts("bytes", 100))
        h.append_points(env, batches[-1])
        mark = len(proxy.requests)
        r = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(r.returncode == 0, "drain --once (2048 bytes): exit %d" %
                r.returncode)
        sizes = [len(json.dumps(p)) for p in batches[-1]]
        n_req = len(proxy.requests) - mark
        h.check(n_req >= sum(sizes) // 2048,
                "%d requests for %d uncompressed bytes in 2048-byte "
                "bodies" % (n_req, sum(sizes)))

        # 415 to compressed bodies: said once, the same batch again
        # uncompressed, then everything uncompressed.
        mock.fault(refuse_gzip=True)
        env.write_config(upload={"endpoint": proxy.url, "compress": "gzip",
                                 "batch_max_points": 100})
        batches.append(pts("refused", 500, ("Sum",)))
        h.append_points(env, batches[-1])
        before = mock.counters()
        mark = len(proxy.requests)
        r = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(r.returncode == 0, "drain --once after 415: exit %d: %s" %
                (r.returncode, r.stderr[-1000:]))
        h.check(r.stderr.count("refuses gzip-compressed") == 1,
                "415 not logged exactly once:\n" + r.stderr[-2000:])
        h.check("rejects the API key" not in r.stderr and
                "misconfiguration" not in r.stderr,
                "415 taken for a credentials error")
        d = counters_delta(mock, before)
        h.check(d["by_status"] == {"415": 1, "201": 5},
                "answers after refuse_gzip: %s" % d["by_status"])
        h.check(d["points_accepted"] == 500, "points: %s" % d)
        reqs = list(proxy.requests)[mark:]
        encs = [q["headers"].get("Content-Encoding") for q in reqs]
        h.check(encs[:1] == ["gzip"] and
                all(e is None for e in encs[1:]),
                "encodings after the 415: %s" % encs)
        if len(reqs) >= 2:
            h.check(json.loads(reqs[1]["body"]) == json.loads(
                __import__("gzip").decompress(reqs[0]["body"])),
                "the refused body was not sent again as it was")
        st = env.status()
        h.check(st.get("upload_requests_4xx", 0) >= 1,
                "the 415 is counted with the 4xx: %s" % st)
        h.check(st["pending_points"] == 0 and st["dead_letters"] == 0,
                "pending %s, dead %s" % (st["pending_points"],
                                          st["dead_letters"]))
    finally:
        proxy.stop()
    return h.expected_state(batches)


if __name__ == "__main__":
    h.drain_test("drain-compress", run)
