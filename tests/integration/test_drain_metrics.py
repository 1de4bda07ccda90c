#!/usr/bin/env python3
"""test_drain_metrics.py -- drain.metrics_listen (DESIGN.md section 6):
`ctspool drain` alone, no serve, answers GET /metrics, /healthz and
/healthz/upstream from a thread of its own, rendered by the code serve
uses:

- /metrics parses as Prometheus text, with ctspool_build_info and the
  process_* series of the drainer's own process;
- its counters move after uploads: points uploaded, 2xx requests, the
  upload latency histogram (a request the receiver holds 300 ms lands
  in the buckets above 0.25 s), per-group pending gauges (stream masked);
- /healthz/upstream is 503 naming the group while the receiver answers
  404 for an unknown stream (the group is parked), 200 once the
  operator retired it; ctspool_last_upload_error_timestamp_seconds is
  set by then;
- serve's /metrics shows the same counters and histogram (the drainer
  records them in the journal);
- POST is 405, an unknown path 404;
- an address that cannot be bound is a start-up error: exit 71 naming
  it; no secret in any answer or log.
"""

import json
import socket
import time
import urllib.error
import urllib.request

import harness as h

HOUR0 = 473000
BAD = "unknown-stream-0123456789-SECRETDM"


def masked(token):
    return "****" + token[-4:]


def get(port, path, method="GET"):
    """(status, headers, text) of one request to the drainer."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 method=method,
                                 data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return (r.status, {k.lower(): v for k, v in r.getheaders()},
                    r.read().decode())
    except urllib.error.HTTPError as e:
        return (e.code, {k.lower(): v for k, v in e.headers.items()},
                e.read().decode())


def metrics(port):
    st, hdrs, text = get(port, "/metrics")
    h.check(st == 200 and hdrs.get("content-type", "").startswith(
        "text/plain; version=0.0.4"), "GET /metrics: %d %r" %
        (st, hdrs.get("content-type")))
    values, bad = h.parse_metrics(text)
    h.check(not bad, "malformed lines: %r" % bad[:3])
    for s in (h.API_KEY, h.STREAM, BAD):
        h.check(s not in text, "secret %s... in /metrics" % s[:4])
    return values, text


def upstream(port):
    st, _, text = get(port, "/healthz/upstream")
    for s in (h.API_KEY, h.STREAM, BAD):
        h.check(s not in text, "secret %s... in /healthz/upstream" % s[:4])
    try:
        return st, json.loads(text)
    except ValueError:
        h.check(False, "not JSON: %r" % text)
        return st, {}


def start_drain(env, port, mock, **upload):
    u = {"endpoint": mock.url, "retry_base_ms": 100, "retry_max_ms": 800}
    u.update(upload)
    env.write_config(upload=u,
                     drain={"metrics_listen": "127.0.0.1:%d" % port})
    d = h.start_logged(env, "drain")
    h.wait_until(lambda: "metrics: serving" in h.read_text(d.log_path) or
                 d.poll() is not None, 30, "drain serves metrics")
    return d


def part_metrics():
    env = h.Env("drain-metrics")
    try:
        mock = h.Mock(env, tokens=(h.STREAM,))
        port = h.free_port()
        d = start_drain(env, port, mock)
        h.check(d.poll() is None, "drain started: " +
                h.read_text(d.log_path))

        values, text = metrics(port)
        r = env.run("--version")
        version = r.stdout.split()[-1] if r.returncode == 0 else "?"
        h.check(values.get('ctspool_build_info{version="%s"}' % version)
                == 1, "build_info: %r" % version)
        for name, typ in (("ctspool_points_uploaded_total", "counter"),
                          ("ctspool_upload_duration_seconds", "histogram"),
                          ("ctspool_last_upload_error_timestamp_seconds",
                           "gauge"),
                          ("process_resident_memory_bytes", "gauge"),
                          ("process_open_fds", "gauge")):
            h.check("# TYPE %s %s\n" % (name, typ) in text,
                    "TYPE of %s" % name)
        h.check(values.get("ctspool_upload_duration_seconds_count") == 0 and
                values.get("ctspool_points_uploaded_total") == 0 and
                values.get("ctspool_last_upload_error_timestamp_seconds")
                == 0, "nothing uploaded yet: %r" %
                {k: v for k, v in values.items() if "upload" in k})
        st, _, body = get(port, "/healthz")
        h.check(st == 200 and json.loads(body) == {"status": "ok"},
                "/healthz: %d %s" % (st, body))
        st, body = upstream(port)
        h.check(st == 200 and body.get("status") == "ok",
                "/healthz/upstream, nothing pending: %d %r" % (st, body))
        st, hdrs, _ = get(port, "/metrics", method="POST")
        h.check(st == 405 and hdrs.get("allow") == "GET, HEAD",
                "POST /metrics: %d %r" % (st, hdrs.get("allow")))
        st, _, _ = get(port, "/streams/ingest")
        h.check(st == 404, "the drainer takes no points: %d" % st)
        st, _, _ = get(port, "/metrics", method="HEAD")
        h.check(st == 200, "HEAD /metrics: %d" % st)

        # Uploads held 300 ms by the receiver: counters and histogram move.
        mock.fault(delay_ms=300, delay_next=-1)
        pts = [h.point("m-%d" % k, k, HOUR0 + k) for k in range(20)]
        h.append_points(env, pts)
        ok, st = h.wait_pending(env, 0, 60)
        h.check(ok, "delivered: %r" % st)
        last = {}

        def moved():
            last["v"], _ = metrics(port)
            return last["v"].get("ctspool_points_uploaded_total") == 20
        h.wait_until(moved, 30, "uploaded counter moved")
        v = last["v"]
        n = v.get("ctspool_upload_duration_seconds_count", 0)
        h.check(n >= 1 and v.get("ctspool_upload_requests_total"
                                 '{class="2xx"}', 0) >= 1,
                "requests counted: %r" % n)
        h.check(v.get('ctspool_upload_duration_seconds_bucket{le="0.25"}')
                == 0 and
                v.get('ctspool_upload_duration_seconds_bucket{le="0.5"}')
                == n and
                v.get('ctspool_upload_duration_seconds_bucket{le="+Inf"}')
                == n and
                v.get("ctspool_upload_duration_seconds_sum", 0) >= 0.3 * n,
                "histogram of 300 ms requests: %r" %
                {k: x for k, x in v.items() if "duration" in k})
        # Per-group gauges are read at most every 10 s.
        h.wait_until(lambda: metrics(port)[0].get(
            'ctspool_group_pending{stream="%s",agg="Sum",'
            'kind="points"}' %
            masked(h.STREAM)) == 0, 30, "the group's pending gauge")
        mock.fault(delay_ms=0, delay_next=0)

        # serve's /metrics shows what the drainer recorded in the journal.
        srv = h.Serve(env, upload={"endpoint": mock.url})
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())
        st, _, text = srv.get("/metrics")
        sv, bad_lines = h.parse_metrics(text)
        h.check(st == 200 and not bad_lines, "serve /metrics: %d %r" %
                (st, bad_lines[:3]))
        for k in ("ctspool_upload_duration_seconds_count",
                  'ctspool_upload_duration_seconds_bucket{le="0.5"}',
                  "ctspool_points_uploaded_total"):
            h.check(sv.get(k) == v.get(k), "serve and drain agree on %s: "
                    "%r %r" % (k, sv.get(k), v.get(k)))
        h.check(sv.get('ctspool_group_pending{stream="%s",agg="Sum",'
                       'kind="points"}' %
                       masked(h.STREAM)) == 0, "serve's group gauge: %r" %
                [k for k in sv if "group_pending" in k])
        h.check(srv.stop() == 0, "serve: SIGTERM exit 0")

        # A stream the receiver does not know: parked, 503 names it.
        bad = [h.point("b-%d" % k, k, HOUR0 + k, stream=BAD)
               for k in range(3)]
        h.append_points(env, bad)
        last = {}

        def parked():
            last["a"] = upstream(port)
            return last["a"][0] == 503
        h.wait_until(parked, 30, "/healthz/upstream 503 for a parked group")
        body = last["a"][1]
        g = (body.get("parked_groups") or [{}])[0]
        h.check(g.get("stream") == masked(BAD) and g.get("pending") == 3 and
                str(g.get("reason", "")).startswith("404"),
                "parked group: %r" % body)

        def gauges():
            last["v"], _ = metrics(port)
            return last["v"].get('ctspool_group_pending{stream="%s",'
                                 'agg="Sum",kind="points"}' %
                                 masked(BAD)) == 3
        h.wait_until(gauges, 30, "the parked group's pending gauge")
        v = last["v"]
        h.check(v.get("ctspool_upload_groups_parked") == 1 and
                v.get("ctspool_last_upload_error_timestamp_seconds", 0) >
                time.time() - 120, "parked, error time: %r" %
                {k: x for k, x in v.items() if "parked" in k or
                 "error" in k})

        r = h.run_logged(env, "streams", "retire", BAD)
        h.check(r.returncode == 0, "retire: %s" % r.stderr)
        h.wait_until(lambda: upstream(port)[0] == 200, 30,
                     "/healthz/upstream 200 once retired")
        rc, _ = h.stop_proc(d)
        h.check(rc == 0, "drain: SIGTERM exit %s" % rc)
        log = h.read_text(d.log_path)
        h.check("level=error" not in log, "errors logged: " + log[-2000:])
        h.check_no_secrets(env, [h.API_KEY, h.STREAM, BAD])
    finally:
        env.cleanup()


def part_bind_failure():
    """The address is taken: exit 71 (as serve's server.listen) naming
    it, before any upload."""
    env = h.Env("drain-metrics-bind")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        mock = h.Mock(env)
        env.write_config(upload={"endpoint": mock.url},
                         drain={"metrics_listen": "127.0.0.1:%d" % port})
        h.append_points(env, [h.point("x", 1, HOUR0)])
        r = h.run_logged(env, "drain", timeout=60)
        h.check(r.returncode == 71, "exit %d: %s" % (r.returncode,
                                                     r.stderr))
        h.check("127.0.0.1:%d" % port in r.stderr and
                "drain.metrics_listen" in r.stderr,
                "the message names the address: %r" % r.stderr)
        h.check(len(mock.points()) == 0, "nothing uploaded")
        r = h.run_logged(env, "check-config", "--role", "drain")
        h.check(r.returncode == 0, "a resolvable address passes "
                "check-config: %s" % r.stderr)
        env.write_config(upload={"endpoint": mock.url},
                         drain={"metrics_listen": "nonsense"})
        r = h.run_logged(env, "check-config")
        h.check(r.returncode == 78 and "drain.metrics_listen" in r.stderr,
                "a malformed address is a configuration error: %d %s" %
                (r.returncode, r.stderr))
    finally:
        s.close()
        env.cleanup()


if __name__ == "__main__":
    part_metrics()
    part_bind_failure()
    h.finish()
