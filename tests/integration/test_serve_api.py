#!/usr/bin/env python3
"""test_serve_api.py -- `ctspool serve` answers as DESIGN.md section 5
says, checked with real HTTP requests against a running server:

- accepted payloads are in the journal exactly (point by point);
- every validation failure gives 400 naming the right index, and nothing
  of the payload is stored;
- missing or wrong x-api-key: 401 (whitespace around it is not part of
  it); a compressed body: 415; body over server.max_body_bytes: 413
  (announced by Content-Length, and streamed chunked); wrong method: 405;
  unknown path: 404;
- spool full: 429 with Retry-After, nothing stored;
- /healthz and /metrics answer, and /metrics parses, with the build's
  version and the standard process_* series;
- no secret in answers, metrics or the log; SIGTERM: exit 0.
"""

import gzip
import http.client
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (API_KEY, SERVE_KEY, STREAM, Env, Serve, check,  # noqa
                     data_point, finish, hour_str, ingest_payload,
                     journal_points, parse_metrics, payload_points)

H0 = 462000  # an hour number (2022-09-14)
OTHER_KEY = "second-key-abcdefghijklmnop-XYZW"


def diff(got, exp):
    """A few (key, got, expected) differences of two point maps."""
    keys = [k for k in set(got) | set(exp) if got.get(k) != exp.get(k)]
    return [(k, got.get(k), exp.get(k)) for k in sorted(keys)[:4]]


def post_ok(srv, payload, what):
    st, hdrs, body = srv.post(payload)
    check(st == 201, "%s: status %d, body %r" % (what, st, body))
    check(body == {"accepted": len(payload["data"])},
          "%s: answer %r" % (what, body))
    check(hdrs.get("content-type", "").startswith("application/json"),
          "%s: content-type %r" % (what, hdrs.get("content-type")))


def test_accepted(env, srv, expected):
    """Valid payloads end up in the journal exactly."""
    p1 = ingest_payload([
        data_point("requests", 12.5, H0, {"region": "eu-west-1"}),
        data_point("requests", 7, H0, {"region": "us-east-1", "az": "a"}),
        data_point("latency_ms", "0.25", H0 + 1),
        {"timestamp": (H0 + 2) * 3600, "metric_name": "unix-ts",
         "metric_value": -1.5e-7},
        {"timestamp": hour_str(H0 + 3).replace(" ", "T") + "Z",
         "metric_name": "iso-ts", "metric_value": 3,
         "custom_dimensions": {"k\u00e9y": "v\u00e4lue", "b": "", "a": "x"}},
    ])
    post_ok(srv, p1, "first payload")
    expected.update(payload_points(p1))

    # Same record, different dimension order and value: an update.
    p2 = ingest_payload([
        data_point("requests", 99, H0, {"az": "a", "region": "us-east-1"}),
    ])
    post_ok(srv, p2, "update")
    expected.update(payload_points(p2))

    # The upstream path alias, another aggregation, an explicit token.
    p3 = ingest_payload([data_point("temp", 21.5, H0, {"room": "1"})],
                        agg="Maximum", stream="explicit-stream-token-7777")
    st, _, body = srv.post(p3, path="/api/streams/ingest")
    check(st == 201 and body == {"accepted": 1},
          "/api/streams/ingest: %d %r" % (st, body))
    expected.update(payload_points(p3))

    # An empty data array stores nothing and says so.
    st, _, body = srv.post(ingest_payload([]))
    check(st == 201 and body == {"accepted": 0},
          "empty data: %d %r" % (st, body))

    got = journal_points(env)
    check(got == expected, "journal after accepted payloads: %d points, "
          "expected %d; differences: %r" % (
              len(got), len(expected), diff(got, expected)))
    streams = {(r["metric_name"], r["stream"]) for r in env.list()}
    check(("temp", "****7777") in streams,
          "explicit token stored (masked): %r" % streams)
    check(("requests", "****" + STREAM[-4:]) in streams,
          "default token from the config used: %r" % streams)


BAD_POINTS = [
    ({"timestamp": hour_str(H0).replace(":00:00", ":30:00"),
      "metric_name": "m", "metric_value": 1}, "timestamp"),
    ({"timestamp": "2023-02-30 01:00:00", "metric_name": "m",
      "metric_value": 1}, "timestamp"),
    ({"timestamp": hour_str(H0), "metric_name": "", "metric_value": 1},
     "metric_name"),
    ({"timestamp": hour_str(H0), "metric_name": "m",
      "metric_value": "12.5abc"}, "metric_value"),
    ({"timestamp": hour_str(H0), "metric_name": "m",
      "metric_value": "NaN"}, "metric_value"),
    ({"timestamp": hour_str(H0), "metric_name": "m", "metric_value": 1,
      "custom_dimensions": {"k%d" % i: "v" for i in range(11)}},
     "custom_dimensions"),
    ({"timestamp": hour_str(H0), "metric_name": "m", "metric_value": 1,
      "custom_dimensions": {"k": 5}}, "custom_dimensions"),
    ({"timestamp": hour_str(H0), "metric_name": "x" * 257,
      "metric_value": 1}, "metric_name"),
    ({"timestamp": hour_str(H0), "metric_value": 1}, "metric_name"),
    ({"timestamp": 1664600400 + 60, "metric_name": "m",
      "metric_value": 1}, "timestamp"),
]


def test_invalid(env, srv, expected):
    """Each invalid point: 400 with its index; nothing of it stored."""
    for n, (bad, field) in enumerate(BAD_POINTS):
        good = [data_point("fresh-%d" % n, i, H0 + 10) for i in range(3)]
        at = n % 4
        data = good[:at] + [bad] + good[at:]
        st, _, body = srv.post(ingest_payload(data))
        ok = check(st == 400, "bad %s (case %d): status %d %r" %
                   (field, n, st, body))
        if ok and check(isinstance(body, dict), "400 body is JSON"):
            errs = body.get("errors")
            check(isinstance(body.get("error"), str) and body["error"],
                  "case %d: 'error' text: %r" % (n, body))
            check(isinstance(errs, list) and len(errs) == 1 and
                  errs[0].get("index") == at and
                  errs[0].get("message", "").startswith(field),
                  "case %d: errors %r (want index %d, field %s)" %
                  (n, errs, at, field))

    # Several invalid points are all listed, in order.
    data = [data_point("multi", 1, H0 + 20), BAD_POINTS[0][0],
            data_point("multi", 2, H0 + 21), BAD_POINTS[3][0],
            BAD_POINTS[4][0]]
    st, _, body = srv.post(ingest_payload(data))
    check(st == 400 and [e["index"] for e in body.get("errors", [])] ==
          [1, 3, 4], "several invalid: %d %r" % (st, body))

    # Very many: the list is capped and says how many more.
    data = [BAD_POINTS[2][0]] * 250
    st, _, body = srv.post(ingest_payload(data))
    check(st == 400 and len(body.get("errors", [])) == 100 and
          body.get("errors_not_listed") == 150,
          "250 invalid: %d, %d listed, %r not listed" %
          (st, len(body.get("errors", [])), body.get("errors_not_listed")))

    # Whole-document problems.
    for raw, what in [(b"{not json", "not JSON"),
                      (b'{"metric_agg_func": "Sum"}', "no data"),
                      (b'{"metric_agg_func": "sum", "data": []}',
                       "agg case"),
                      (b'[1, 2]', "an array"),
                      (b'{"metric_agg_func": "Sum", "data": []} {}',
                       "two objects"),
                      (b'', "empty body")]:
        st, _, body = srv.post(raw)
        check(st == 400 and isinstance(body, dict) and body.get("error")
              and body.get("errors") == [],
              "%s: %d %r" % (what, st, body))

    got = journal_points(env)
    check(got == expected, "invalid payloads stored something: %r" %
          diff(got, expected))


def post_chunked(srv, data):
    """The status serve answers data posted chunked in 1,000-byte pieces
    (the error, if it answers none)."""
    c = srv.connection()
    try:
        c.putrequest("POST", "/streams/ingest")
        c.putheader("x-api-key", SERVE_KEY)
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        for i in range(0, len(data), 1000):
            part = data[i:i + 1000]
            c.send(b"%x\r\n%s\r\n" % (len(part), part))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException) as err:
        return err
    finally:
        c.close()


def test_framing(env, srv, expected):
    """Two Content-Length headers, or one beside Transfer-Encoding: where
    the body ends is ambiguous (RFC 9112 section 6.3).  libmicrohttpd
    takes the first and reads what follows as the next request, which a
    proxy before serve would have taken for body (request smuggling):
    answered 400 once, the connection closed, the second request never
    read and nothing stored."""
    inner = json.dumps(ingest_payload([data_point("smuggled", 1, H0 + 40)],
                                      stream="explicit-stream-token-7777"))
    inner = ("POST /streams/ingest HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\n"
             "Content-Length: %d\r\n\r\n%s" % (SERVE_KEY, len(inner), inner))
    for extra in ("Content-Length: %d" % (2 + len(inner)),
                  "Transfer-Encoding: chunked"):
        head = ("POST /streams/ingest HTTP/1.1\r\nHost: x\r\nx-api-key: %s"
                "\r\nContent-Length: 2\r\n%s\r\n\r\n{}" % (SERVE_KEY, extra))
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        got = b""
        try:
            s.sendall((head + inner).encode())
            while True:
                part = s.recv(65536)
                if not part:
                    break
                got += part
        except OSError as err:
            check(False, "%s: %s after %r" % (extra, err, got[:200]))
        finally:
            s.close()
        check(got.startswith(b"HTTP/1.1 400") and
              got.count(b"HTTP/1.1 ") == 1 and
              b"ambiguous request framing" in got,
              "%s: %r" % (extra, got[:600]))
    check(journal_points(env) == expected,
          "a smuggled request was stored: %s" %
          diff(journal_points(env), expected))


def test_targets(env, srv, expected):
    """An absolute-form target (through a proxy) is the same route
    (RFC 9112 section 3.2.2); "%00" in a path is not decoded into a NUL
    that cuts it short."""
    p = ingest_payload([data_point("absolute", 1, H0 + 41)],
                       stream="explicit-stream-token-7777")
    st, _, body = srv.request("POST", "http://127.0.0.1:%d/streams/ingest"
                              "?mode=replace" % srv.port, body=p)
    check(st == 201, "absolute-form target: %d %r" % (st, body))
    for path in ("/healthz%00junk", "/streams/ingest%00x"):
        st, _, body = srv.request("GET" if "healthz" in path else "POST",
                                  path, body=None if "healthz" in path
                                  else p)
        check(st == 404, "%s: %d %r" % (path, st, body))
    expected.update(payload_points(p))


def test_auth_and_limits(env, srv, expected):
    p = ingest_payload([data_point("auth", 1, H0 + 30)])
    for key, what in [(None, "missing key"), ("", "empty key"),
                      ("wrong", "wrong key"),
                      (SERVE_KEY[:-1], "key minus a character"),
                      (SERVE_KEY + "x", "key plus a character"),
                      (SERVE_KEY.lower(), "key in another case")]:
        st, _, body = srv.post(p, key=key)
        check(st == 401, "%s: status %d %r" % (what, st, body))
        check(SERVE_KEY not in str(body), "%s: key echoed" % what)
    st, _, _ = srv.post(p, key=OTHER_KEY)
    check(st == 201, "second configured key: %d" % st)
    expected.update(payload_points(p))
    # Whitespace around the key is not part of it (RFC 9110 5.5).
    ws = ingest_payload([data_point("auth-ws", 2, H0 + 30)])
    st, _, body = srv.post(ws, key=SERVE_KEY + " \t")
    check(st == 201, "key with trailing whitespace: %d %r" % (st, body))
    expected.update(payload_points(ws))

    # A compressed body is refused with 415, as upstream does (a
    # chained drainer then sends it plain); identity is no encoding.
    gz = ingest_payload([data_point("gzip", 3, H0 + 30)])
    st, _, body = srv.request("POST", "/streams/ingest",
                              gzip.compress(json.dumps(gz).encode()),
                              headers={"Content-Encoding": "gzip",
                                       "Content-Type": "application/json"})
    check(st == 415 and "Content-Encoding" in body,
          "gzip body: %d %r" % (st, body))
    st, _, body = srv.post(gz, headers={"Content-Encoding": "identity"})
    check(st == 201, "Content-Encoding: identity: %d %r" % (st, body))
    expected.update(payload_points(gz))

    # UTF-16 (with its byte order mark) is named as such: 400.
    u16 = ingest_payload([data_point("utf16", 4, H0 + 30)])
    st, _, body = srv.request("POST", "/streams/ingest",
                              json.dumps(u16).encode("utf-16"),
                              headers={"Content-Type": "application/json"})
    check(st == 400 and "UTF-16" in body, "UTF-16 body: %d %r" % (st, body))

    # Too large, announced by Content-Length: refused before the body.
    big = ingest_payload([data_point("big-%d" % i, i, H0 + 31)
                          for i in range(700)])
    st, _, body = srv.post(big)
    check(st == 413, "oversized body: %d %r" % (st, body))

    # Too large, streamed without a length (chunked).
    st = post_chunked(srv, json.dumps(big).encode())
    check(st == 413, "oversized chunked body: %r" % (st,))
    # One ending exactly 1 MiB past the limit is still answered 413
    # (README: server.max_body_bytes), in pieces that straddle it.
    st = post_chunked(srv, b"x" * (65536 + 1024 * 1024))
    check(st == 413, "chunked body 1 MiB past the limit: %r" % (st,))

    # A small chunked body is fine.
    small = ingest_payload([data_point("chunked", 5, H0 + 32)])
    c = srv.connection()
    try:
        c.request("POST", "/streams/ingest",
                  body=iter([__import__("json").dumps(small).encode()]),
                  headers={"x-api-key": SERVE_KEY},
                  encode_chunked=True)
        r = c.getresponse()
        check(r.status == 201, "small chunked body: %d" % r.status)
        r.read()
    finally:
        c.close()
    expected.update(payload_points(small))

    st, hdrs, _ = srv.request("GET", "/streams/ingest")
    check(st == 405 and "POST" in hdrs.get("allow", ""),
          "GET ingest: %d %r" % (st, hdrs))
    st, hdrs, _ = srv.request("POST", "/metrics", b"")
    check(st == 405 and "GET" in hdrs.get("allow", ""),
          "POST /metrics: %d %r" % (st, hdrs))
    st, _, _ = srv.request("GET", "/nothing/here")
    check(st == 404, "unknown path: %d" % st)

    got = journal_points(env)
    check(got == expected, "after auth/limit checks: %r" %
          diff(got, expected))


def test_health_and_metrics(env, srv):
    st, hdrs, body = srv.get("/healthz")
    check(st == 200 and '"ok"' in body, "healthz: %d %r" % (st, body))
    st, hdrs, _ = srv.request("HEAD", "/healthz", key=None)
    check(st == 200, "HEAD /healthz: %d" % st)
    st, hdrs, text = srv.get("/metrics")
    check(st == 200 and hdrs.get("content-type", "").startswith(
        "text/plain"), "metrics: %d %r" % (st, hdrs))
    values, bad = parse_metrics(text)
    check(not bad, "malformed metrics lines: %r" % bad[:5])
    for name in ["ctspool_points_appended_total",
                 "ctspool_points_uploaded_total",
                 "ctspool_points_dead_lettered_total",
                 "ctspool_pending_points",
                 "ctspool_oldest_pending_age_seconds",
                 "ctspool_journal_bytes",
                 'ctspool_upload_requests_total{class="2xx"}',
                 'ctspool_upload_requests_total{class="5xx"}',
                 "ctspool_last_upload_success_timestamp_seconds",
                 'ctspool_http_requests_total{code="200"}',
                 'ctspool_http_requests_total{code="201"}',
                 'ctspool_http_requests_total{code="400"}',
                 'ctspool_http_requests_total{code="401"}',
                 'ctspool_http_requests_total{code="413"}']:
        check(name in values, "metric %s missing" % name)
    st_json = env.status()
    check(values.get("ctspool_pending_points") ==
          st_json["pending_points"],
          "pending_points: metrics %r, status %r" %
          (values.get("ctspool_pending_points"),
           st_json["pending_points"]))
    check(values.get('ctspool_http_requests_total{code="201"}', 0) >= 5,
          "201s counted: %r" %
          values.get('ctspool_http_requests_total{code="201"}'))
    check(values.get('ctspool_http_requests_total{code="401"}', 0) >= 6,
          "401s counted: %r" %
          values.get('ctspool_http_requests_total{code="401"}'))
    check(values.get("ctspool_journal_bytes", 0) > 0, "journal bytes")
    for s in (SERVE_KEY, OTHER_KEY, STREAM, API_KEY):
        check(s not in text, "secret %s... in /metrics" % s[:4])
    test_build_and_process(env, srv, text, values)


def test_build_and_process(env, srv, text, values):
    """ctspool_build_info and the standard process_* series, each with
    HELP and TYPE, with values that fit this serve process."""
    r = env.run("--version")
    version = r.stdout.split()[-1] if r.returncode == 0 else "?"
    check(values.get('ctspool_build_info{version="%s"}' % version) == 1,
          "ctspool_build_info for %s: %r" % (version, [
              k for k in values if k.startswith("ctspool_build_info")]))
    types = {"ctspool_build_info": "gauge",
             "process_cpu_seconds_total": "counter",
             "process_resident_memory_bytes": "gauge",
             "process_virtual_memory_bytes": "gauge",
             "process_open_fds": "gauge", "process_max_fds": "gauge",
             "process_start_time_seconds": "gauge"}
    for name, typ in types.items():
        check("# TYPE %s %s\n" % (name, typ) in text and
              "# HELP %s " % name in text, "HELP/TYPE of %s" % name)
        if name != "ctspool_build_info":
            check(name in values, "metric %s missing" % name)
    now = time.time()
    rss = values.get("process_resident_memory_bytes", 0)
    vm = values.get("process_virtual_memory_bytes", 0)
    check(rss > 1024 * 1024 and vm >= rss,
          "memory: resident %r, virtual %r" % (rss, vm))
    with open("/proc/%d/status" % srv.proc.pid) as f:
        vmrss = [int(line.split()[1]) * 1024 for line in f
                 if line.startswith("VmRSS:")]
    check(vmrss and 0.5 * vmrss[0] < rss < 2 * vmrss[0],
          "resident memory %r, /proc/PID/status says %r" % (rss, vmrss))
    start = values.get("process_start_time_seconds", 0)
    check(now - 3600 < start <= now + 1,
          "start time %r, now %r" % (start, now))
    cpu = values.get("process_cpu_seconds_total", -1)
    check(0 <= cpu < now - start + 60, "cpu seconds %r" % cpu)
    fds, max_fds = (values.get("process_open_fds", 0),
                    values.get("process_max_fds", 0))
    n_fds = len(os.listdir("/proc/%d/fd" % srv.proc.pid))
    check(3 <= fds <= max_fds and abs(fds - n_fds) <= 8,
          "open fds %r (of %r), /proc/PID/fd lists %d" %
          (fds, max_fds, n_fds))


def test_spool_full():
    """limits.max_pending_points reached: 429 + Retry-After (413 for a
    request over the limit by itself), nothing of the refused request
    stored, other requests unaffected."""
    env = Env("serve-full")
    try:
        srv = Serve(env, limits={"max_pending_points": 5})
        check(srv.proc.poll() is None, "serve (full) started: " + srv.log())
        p = ingest_payload([data_point("f", i, H0 + i) for i in range(4)])
        st, _, _ = srv.post(p)
        check(st == 201, "4 of 5: %d" % st)
        over = ingest_payload([data_point("g", i, H0 + i) for i in range(2)])
        st, hdrs, body = srv.post(over)
        check(st == 429, "over the limit: %d %r" % (st, body))
        check(hdrs.get("retry-after", "").isdigit() and
              int(hdrs["retry-after"]) > 0,
              "Retry-After: %r" % hdrs.get("retry-after"))
        check("spool full" in str(body) and "4 points pending" in str(body),
              "429 says spool full, with what is pending: %r" % body)
        # A request that alone holds more new points than the limit can
        # never fit: 413, no Retry-After.
        huge = ingest_payload([data_point("k", i, H0 + i) for i in range(6)])
        st, hdrs, body = srv.post(huge)
        check(st == 413 and "retry-after" not in hdrs and
              "split it" in str(body),
              "a request over the limit by itself: %d %r %r" %
              (st, hdrs.get("retry-after"), body))
        one = ingest_payload([data_point("h", 1, H0)])
        st, _, _ = srv.post(one)
        check(st == 201, "the fifth point still fits: %d" % st)
        exp = payload_points(p)
        exp.update(payload_points(one))
        got = journal_points(env)
        check(got == exp, "spool full stored %d points, expected %d" %
              (len(got), len(exp)))
        check(srv.stop() == 0, "serve (full) exit code")
    finally:
        env.cleanup()


def main():
    env = Env("serve-api")
    try:
        srv = Serve(env, keys=(SERVE_KEY, OTHER_KEY),
                    server={"max_body_bytes": 65536})
        if not check(srv.proc.poll() is None and "listening on" in
                     srv.log(), "serve started: " + srv.log()):
            finish()
        expected = {}
        test_accepted(env, srv, expected)
        test_invalid(env, srv, expected)
        test_auth_and_limits(env, srv, expected)
        test_framing(env, srv, expected)
        test_targets(env, srv, expected)
        test_health_and_metrics(env, srv)
        rc = srv.stop()
        log = srv.log()
        check(rc == 0, "SIGTERM: exit code %r" % rc)
        check("stopped" in log, "shutdown logged")
        check("level=error" not in log and "level=warn" not in log,
              "errors or warnings logged:\n" + log[-3000:])
        for s in (SERVE_KEY, OTHER_KEY, STREAM, API_KEY,
                  "explicit-stream-token-7777"):
            check(s not in log, "secret %s... in the log" % s[:4])
        check(journal_points(env) == expected,
              "journal changed after shutdown")
    finally:
        env.cleanup()
    test_spool_full()
    finish()


if __name__ == "__main__":
    main()
