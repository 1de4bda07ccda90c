#!/usr/bin/env python3
"""test_serve_health.py -- `GET /healthz/upstream` of `ctspool serve`
(DESIGN.md section 5), against a running server, a running drainer and
the mock receiver:

- nothing pending, or a point stored just now: 200 {"status": "ok"},
  no reasons;
- the oldest pending point has waited longer than
  health.max_undelivered_s (1 s here, set by SIGHUP): 503
  {"status": "unhealthy"} with a reason naming the setting and the
  upload group (its token masked); 200 again
  once the drainer delivered it;
- an upload group parked (the receiver answers 404 for its stream):
  503 naming the group (its token masked) and the 404, while the other
  streams flow; 200 again once the operator retired its points;
- HEAD works, POST is 405 with Allow; no secret in any answer or log.
"""

import json
import signal

import harness as h

HOUR0 = 472000
BAD = "unknown-stream-0123456789-SECRETBD"


def masked(token):
    return "****" + token[-4:]


def upstream(srv):
    """(status, parsed body) of GET /healthz/upstream."""
    st, hdrs, text = srv.get("/healthz/upstream")
    h.check(hdrs.get("content-type", "").startswith("application/json"),
            "content-type %r" % hdrs.get("content-type"))
    try:
        body = json.loads(text)
    except ValueError:
        h.check(False, "not JSON: %r" % text)
        body = {}
    h.check(sorted(body) == ["max_undelivered_s", "oldest_pending_age_s",
                             "parked_groups", "reasons", "status"],
            "keys of the answer: %r" % sorted(body))
    h.check((st == 200) == (body.get("status") == "ok" and
                            body.get("reasons") == []) and
            (st == 503) == (body.get("status") == "unhealthy" and
                            len(body.get("reasons", [])) > 0),
            "status and body agree: %d %r" % (st, body))
    for s in (h.API_KEY, h.STREAM, h.SERVE_KEY, BAD):
        h.check(s not in text, "secret %s... in the answer" % s[:4])
    return st, body


def wait_state(srv, code, what, timeout=30):
    """Waits until /healthz/upstream answers code; returns its body."""
    last = {}

    def pred():
        last["a"] = upstream(srv)
        return last["a"][0] == code
    h.wait_until(pred, timeout, what)
    return last["a"][1]


def reload(env, srv, health):
    """Rewrites serve's config with health and signals SIGHUP."""
    srv.health = health
    env.write_config(top=srv.top, upload=srv.upload, limits=srv.limits,
                     server=dict(srv.server, api_keys=srv.keys,
                                 listen="127.0.0.1:%d" % srv.port),
                     health=health)
    n = srv.log().count("configuration reloaded")
    srv.proc.send_signal(signal.SIGHUP)
    h.wait_until(lambda: srv.log().count("configuration reloaded") > n, 30,
                 "reload logged")


def part_age():
    """Fresh: 200.  Older than max_undelivered_s: 503.  Delivered: 200."""
    env = h.Env("serve-health-age")
    try:
        mock = h.Mock(env)
        srv = h.Serve(env, upload={"endpoint": mock.url})
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())

        st, body = upstream(srv)
        h.check(st == 200 and body["oldest_pending_age_s"] is None and
                body["max_undelivered_s"] == 900 and
                body["parked_groups"] == [],
                "empty journal: %d %r" % (st, body))
        st, _, _ = srv.request("HEAD", "/healthz/upstream", key=None)
        h.check(st == 200, "HEAD /healthz/upstream: %d" % st)
        st, hdrs, _ = srv.request("POST", "/healthz/upstream", body="{}")
        h.check(st == 405 and hdrs.get("allow") == "GET, HEAD",
                "POST /healthz/upstream: %d %r" % (st, hdrs.get("allow")))

        pts = [h.data_point("age-%d" % k, k, HOUR0 + k) for k in range(3)]
        st, _, _ = srv.post(h.ingest_payload(pts))
        h.check(st == 201, "points stored: %d" % st)
        body = wait_state(srv, 200, "a point stored just now is fine")
        h.check(body["max_undelivered_s"] == 900, "default: %r" % body)

        # No drainer runs: the points wait.  With a limit of 1 s the
        # answer turns 503 as soon as they have waited 2 s.
        reload(env, srv, {"max_undelivered_s": 1})
        body = wait_state(srv, 503, "points older than 1 s are reported")
        h.check(body["max_undelivered_s"] == 1 and
                body["oldest_pending_age_s"] > 1 and
                len(body["reasons"]) == 1 and
                "health.max_undelivered_s (1 s)" in body["reasons"][0] and
                "oldest pending point has waited" in body["reasons"][0] and
                "(upload group %s/Sum)" % masked(h.STREAM) in
                body["reasons"][0] and
                body["parked_groups"] == [],
                "age answer: %r" % body)
        st, _, _ = srv.get("/healthz")
        h.check(st == 200, "/healthz stays 200 (the journal is writable): "
                "%d" % st)

        # The drainer delivers them: healthy again.
        d = h.start_logged(env, "drain")
        body = wait_state(srv, 200, "healthy once delivered")
        h.check(body["oldest_pending_age_s"] is None,
                "nothing pending: %r" % body)
        h.compare_state(mock.points(), h.expected_state(
            [[h.point("age-%d" % k, k, HOUR0 + k) for k in range(3)]]),
            "delivered")
        rc, _ = h.stop_proc(d)
        h.check(rc == 0, "drain: SIGTERM exit %s" % rc)
        h.check(srv.stop() == 0, "serve: SIGTERM exit 0")
        h.check("level=error" not in srv.log(),
                "errors logged: " + srv.log()[-2000:])
        h.check_no_secrets(env, [h.API_KEY, h.STREAM, h.SERVE_KEY])
    finally:
        env.cleanup()


def part_parked():
    """A stream upstream does not know: its group is parked, 503 names
    it; the other stream is delivered; retired: 200."""
    env = h.Env("serve-health-parked")
    try:
        mock = h.Mock(env, tokens=(h.STREAM,))
        srv = h.Serve(env, upload={"endpoint": mock.url,
                                   "retry_base_ms": 100,
                                   "retry_max_ms": 800})
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())
        good = [h.data_point("good-%d" % k, k, HOUR0 + k) for k in range(5)]
        bad = [h.data_point("bad-%d" % k, k, HOUR0 + k) for k in range(4)]
        st, _, _ = srv.post(h.ingest_payload(good))
        h.check(st == 201, "good points: %d" % st)
        st, _, _ = srv.post(h.ingest_payload(bad, stream=BAD))
        h.check(st == 201, "points of the unknown stream: %d" % st)

        d = h.start_logged(env, "drain")
        body = wait_state(srv, 503, "the parked group is reported")
        h.check(len(mock.points()) == len(good),
                "the good stream is delivered: %d points" %
                len(mock.points()))
        h.check(len(body["parked_groups"]) == 1 and
                len(body["reasons"]) == 1, "one parked group: %r" % body)
        g = body["parked_groups"][0] if body["parked_groups"] else {}
        h.check(g.get("stream") == masked(BAD) and
                g.get("metric_agg_func") == "Sum" and
                g.get("pending") == len(bad) and
                str(g.get("reason", "")).startswith("404 no stream found")
                and str(g.get("since", "")).endswith("Z"),
                "parked group: %r" % g)
        reason = body["reasons"][0] if body["reasons"] else ""
        h.check(("upload group %s/Sum is parked" % masked(BAD)) in reason
                and "404" in reason, "reason: %r" % reason)
        h.check(body["oldest_pending_age_s"] is not None,
                "the parked points are pending: %r" % body)

        r = h.run_logged(env, "streams", "retire", BAD)
        h.check(r.returncode == 0, "retire: %d %s" % (r.returncode,
                                                      r.stderr))
        body = wait_state(srv, 200, "healthy once the stream is retired")
        h.check(body["parked_groups"] == [], "no parked group: %r" % body)
        rc, _ = h.stop_proc(d)
        h.check(rc == 0, "drain: SIGTERM exit %s" % rc)
        h.check(srv.stop() == 0, "serve: SIGTERM exit 0")
        h.check_no_secrets(env, [h.API_KEY, h.STREAM, h.SERVE_KEY, BAD])
    finally:
        env.cleanup()


if __name__ == "__main__":
    part_age()
    part_parked()
    h.finish()
