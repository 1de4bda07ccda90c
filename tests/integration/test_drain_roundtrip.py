#!/usr/bin/env python3
"""test_drain_roundtrip.py -- `ctspool drain` end to end: all four
aggregation functions and two data stream tokens (the second one given
per line in NDJSON), updates and unchanged re-appends, tiny batch limits.
A recording proxy between drainer and mock receiver checks every request
(headers, body shape, batch limits, one token and one aggregation
function per request, keep-alive), and the receiver's final state must
equal the last-write-wins state computed here independently."""

import json
import sqlite3
import time

import harness as h

STREAM2 = "second-stream-token-klmnopqrs-SECRET2"
AGGS = ["Sum", "Average", "Maximum", "Minimum"]
NAMES = ["requests", "latency ms", 'quote"d\\name',
         "\u00fcn\u00efc\u00f8d\u00e9", "tab\there"]
DIMS = [{}, {"region": "eu-west-1"},
        {"region": "us-east-1", "host": "h-1", "A": "z"},
        {"k%d" % i: "v\"%d\u00e9" % i for i in range(10)}]
VALUES = [12.5, -3.0, 0.1, 1e-300, 1.7976931348623157e308, 123456789.123456789,
          0.0, 2.0 ** 53 + 2, -0.000123]
BATCH_POINTS = 40
BATCH_BYTES = 4096
HOUR0 = 460000  # 2022-06-23


def points_for(stream, salt):
    pts = []
    i = salt
    for agg in AGGS:
        for name in NAMES:
            for dims in DIMS:
                for hr in range(2):
                    i += 1
                    pts.append(h.point(name, VALUES[i % len(VALUES)] + i,
                                       HOUR0 + hr, agg, dims, stream))
    return pts


def check_requests(reqs, appended, first, last):
    """Every recorded request between first and last is well formed."""
    allowed = {}
    for p in appended:
        k = (p["metric_name"], json.dumps(p["custom_dimensions"],
                                          sort_keys=True), p["timestamp"])
        allowed.setdefault(k, set()).add(
            (p.get("data_stream_token", h.STREAM), p["metric_agg_func"]))
    bad = []
    for r in reqs[first:last]:
        hd = {k.lower(): v for k, v in r["headers"].items()}
        if hd.get("x-api-key") != h.API_KEY:
            bad.append("x-api-key header wrong")
        if hd.get("content-type") != "application/json":
            bad.append("Content-Type %r" % hd.get("content-type"))
        if not hd.get("user-agent", "").startswith("ctspool/"):
            bad.append("User-Agent %r" % hd.get("user-agent"))
        body = json.loads(r["body"])
        if set(body) != {"data_stream_token", "metric_agg_func", "data"}:
            bad.append("top-level members %s" % sorted(body))
            continue
        tok, agg, data = (body["data_stream_token"], body["metric_agg_func"],
                          body["data"])
        if not 1 <= len(data) <= BATCH_POINTS:
            bad.append("%d points in one request" % len(data))
        if len(r["body"]) > BATCH_BYTES and len(data) > 1:
            bad.append("body of %d bytes" % len(r["body"]))
        for el in data:
            if not set(el) <= {"timestamp", "metric_name", "metric_value",
                               "custom_dimensions"}:
                bad.append("element members %s" % sorted(el))
            if not h.TS_RE.match(el["timestamp"]):
                bad.append("timestamp %r" % el["timestamp"])
            if not isinstance(el["metric_value"], (int, float)):
                bad.append("metric_value %r" % el["metric_value"])
            k = (el["metric_name"],
                 json.dumps(el["custom_dimensions"], sort_keys=True),
                 el["timestamp"])
            if (tok, agg) not in allowed.get(k, ()):
                bad.append("point %r sent with the wrong token or "
                           "aggregation function %s" % (k, agg))
    h.check(not bad, "%d malformed requests, e.g. %s" % (len(bad), bad[:3]))


def run(env, mock):
    proxy = h.RecordingProxy(mock.base)
    try:
        return run_through(env, mock, proxy)
    finally:
        proxy.stop()


def run_through(env, mock, proxy):
    env.write_config(upload={"endpoint": proxy.url,
                             "batch_max_points": BATCH_POINTS,
                             "batch_max_bytes": BATCH_BYTES})
    a = points_for(None, 0)
    b = points_for(STREAM2, 1000)
    # Interleaved: the journal holds eight groups in mixed order.
    mixed = [p for pair in zip(a, b) for p in pair]
    upd = [dict(p, metric_value=p["metric_value"] / 2 + 1)
           for p in mixed[::7]]
    same = mixed[1::5]  # unchanged values: nothing to upload again
    h.append_points(env, mixed)
    h.append_points(env, upd)
    h.append_points(env, same)
    batches = [mixed, upd, same]

    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 0, "drain --once exited %d: %s" %
            (r.returncode, r.stderr[-2000:]))
    n_first = len(proxy.requests)
    h.compare_state(mock.points(), h.expected_state(batches),
                    "after drain --once")
    check_requests(proxy.requests, mixed + upd, 0, n_first)
    clients = {r["client"] for r in proxy.requests[:n_first]}
    h.check(len(clients) == 1,
            "drain --once used %d connections for %d requests "
            "(keep-alive expected)" % (len(clients), n_first))
    h.check(n_first >= len(mixed) // BATCH_POINTS,
            "only %d requests for %d points" % (n_first, len(mixed)))
    st = env.status()
    h.check(st["pending_points"] == 0, "pending after --once: %s" % st)
    h.check(st["acked_points"] == len(h.expected_state(batches)),
            "acked %d, expected %d" %
            (st["acked_points"], len(h.expected_state(batches))))
    c = mock.counters()
    h.check(set(c["requests_by_status"]) == {"201"},
            "receiver answered %s" % c["requests_by_status"])

    # A running drainer picks up new work within poll_ms.
    d = h.start_logged(env, "drain")
    more = [dict(p, metric_value=-p["metric_value"]) for p in mixed[::3]]
    h.wait_asleep(d, 10, "the drainer is idle (nothing pending)")
    t0 = time.time()
    h.append_points(env, more)
    batches.append(more)
    exp = h.expected_state(batches)
    ok = h.wait_for(lambda: mock.points() == exp, 30, interval=0.05)
    h.check(ok, "running drainer did not deliver the updates")
    print("updates delivered %.2f s after append" % (time.time() - t0))
    ok, st = h.wait_pending(env, 0, 30)
    h.check(ok, "running drainer did not acknowledge: %s" % st)
    rc, secs = h.stop_proc(d)
    h.check(rc == 0, "drainer exited %s on SIGTERM" % rc)
    h.compare_state(mock.points(), exp, "after the running drainer")
    check_requests(proxy.requests, mixed + upd + more, n_first,
                   len(proxy.requests))
    st = env.status()
    h.check(st["pending_points"] == 0, "pending at the end: %s" % st)
    h.check(st["last_upload_ok_at"] is not None,
            "status shows no last upload: %s" % st)
    log = h.read_text(d.log_path)
    h.check("draining journal" in log and "****" in log,
            "start line missing or not masked:\n" + log[:500])
    h.check("uploaded" in log and "points/s" in log,
            "no summary line:\n" + log[-500:])

    # Compaction runs when the drainer starts and says what it did.  A
    # point acknowledged less than twice the request timeout (and a
    # minute) ago stays, whatever retain_acked_hours says: a request of
    # unknown outcome may still land, and the drainer then sends again,
    # by its (hour, series ID), what was acknowledged since with a newer
    # value.  The acknowledgements are then made older.
    n_acked = st["acked_points"]
    env.write_config(top={"retain_acked_hours": 0},
                     upload={"endpoint": proxy.url,
                             "request_timeout_ms": 5000})
    r = h.run_logged(env, "drain", "--once", timeout=60)
    h.check(r.returncode == 0, "drain --once exited %d" % r.returncode)
    st = env.status()
    h.check(st["acked_points"] == n_acked,
            "acknowledged just now, compacted: %s" % st)
    db = sqlite3.connect(env.journal)
    db.execute("UPDATE acklog SET minute = minute - 1000")
    db.commit()
    db.close()
    r = h.run_logged(env, "drain", "--once", timeout=60)
    h.check(r.returncode == 0, "drain --once exited %d" % r.returncode)
    h.check("compaction: deleted %d acknowledged points and events" %
            n_acked in r.stderr, "compaction not logged:\n" + r.stderr)
    st = env.status()
    h.check(st["acked_points"] == 0 and st["pending_points"] == 0,
            "after compaction: %s" % st)
    return exp


if __name__ == "__main__":
    h.drain_test("drain-rt", run, secrets=(h.API_KEY, h.STREAM, STREAM2))
