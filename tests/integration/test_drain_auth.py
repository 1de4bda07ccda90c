#!/usr/bin/env python3
"""test_drain_auth.py -- credentials and configuration rejected upstream:
401 (`drain --once` exits 69, nothing dead-lettered or dropped, delivery
resumes with the right key), a running drainer keeps retrying at the
maximum backoff, 403 likewise, and 404 (unknown data stream token) parks
the group and is reported as such (`drain --once` exits 75).  A redirect
(not followed) names where it points, credentials hidden, and says to
set upload.endpoint (exits 69, nothing dropped).  No key or token ever
appears in any output."""

import http.server
import sys
import threading
import time

import harness as h

HOUR0 = 470000
WRONG_KEY = "wrong-api-key-0123456789-NOPE"
UNKNOWN = "unknown-stream-token-0000-SECRET3"
REDIRECT_PW = "redirect-password-SECRET4"


def pts(n, name="auth", stream=None):
    return [h.point(name, k + 0.125, HOUR0 + k % 48, "Average",
                    {"k": str(k)}, stream) for k in range(n)]


def no_dead(env, what):
    r = h.run_logged(env, "dlq", "list", "--json")
    h.check(r.returncode == 0 and r.stdout.strip() == "",
            "%s: dead letters exist: %s" % (what, r.stdout[:300]))


def part_401_once(env, mock):
    env.write_config(upload={"endpoint": mock.url, "api_key": WRONG_KEY})
    p = pts(500)
    h.append_points(env, p)
    r = h.run_logged(env, "drain", "--once", timeout=60)
    h.check(r.returncode == 69, "drain --once with a wrong key exited %d" %
            r.returncode)
    h.check("upstream rejects the API key (HTTP 401)" in r.stderr,
            "401 not reported clearly:\n" + r.stderr[-1000:])
    st = env.status()
    h.check(st["pending_points"] == 500, "pending after 401: %s" % st)
    h.check("401" in (st["last_upload_error"] or ""),
            "status.last_upload_error: %r" % st["last_upload_error"])
    no_dead(env, "401")
    # The environment variable wins over the configured key.
    r = h.run_logged(env, "drain", "--once", timeout=60,
                     env={"CTSPOOL_API_KEY": h.API_KEY})
    h.check(r.returncode == 0, "drain --once with the right key exited %d" %
            r.returncode)
    h.compare_state(mock.points(), h.expected_state([p]), "after 401")
    return p


def part_401_daemon(env, mock, before):
    env.write_config(upload={"endpoint": mock.url, "api_key": WRONG_KEY,
                             "retry_base_ms": 10, "retry_max_ms": 400})
    p = pts(300, "auth-daemon")
    h.append_points(env, p)
    def n401():
        return mock.counters()["requests_by_status"].get("401", 0)
    n0 = n401()
    d = h.start_logged(env, "drain")
    ok = h.wait_for(lambda: n401() >= n0 + 3, 10)
    h.check(ok, "running drainer stopped retrying after 401")
    # At the maximum backoff (200-400 ms here), not in a tight loop: three
    # more requests take at least 0.6 s (0.3 s allows for the polling).
    t0 = time.time()
    ok = h.wait_for(lambda: n401() >= n0 + 6, 10, interval=0.01)
    secs = time.time() - t0
    h.check(ok, "running drainer stopped retrying after 401")
    h.check(secs >= 0.3, "3 requests in %.2f s: not at the maximum backoff"
            % secs)
    h.check(d.poll() is None, "drainer exited on 401 (code %s)" % d.poll())
    st = env.status()
    h.check(st["pending_points"] == 300, "pending: %s" % st)
    no_dead(env, "401 daemon")
    rc, secs = h.stop_proc(d)
    h.check(rc == 0 and secs < 5, "SIGTERM: exit %s after %.1f s" %
            (rc, secs))
    env.write_config(upload={"endpoint": mock.url})
    d = h.start_logged(env, "drain")
    exp = h.expected_state([before, p])
    ok = h.wait_for(lambda: mock.points() == exp, 30)
    h.check(ok, "not delivered once the key was fixed")
    h.stop_proc(d)


def part_403(env, mock, before):
    env.write_config(upload={"endpoint": mock.url})
    p = pts(10, "auth-403")
    h.append_points(env, p)
    mock.fault(fail_next=1, fail_status=403)
    r = h.run_logged(env, "drain", "--once", timeout=60)
    h.check(r.returncode == 69, "403: exit %d" % r.returncode)
    h.check("upstream rejects the API key (HTTP 403)" in r.stderr,
            "403 not reported clearly")
    r = h.run_logged(env, "drain", "--once", timeout=60)
    h.check(r.returncode == 0, "after 403: exit %d" % r.returncode)
    h.compare_state(mock.points(), h.expected_state(before + [p]),
                    "after 403")


class Redirect(http.server.BaseHTTPRequestHandler):
    """Answers every POST with 308 to a URL holding credentials."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(308)
        self.send_header("Location", "https://ops:%s@api.example.net/v2/"
                         "streams/ingest" % REDIRECT_PW)
        self.send_header("Content-Length", "0")
        self.end_headers()


def part_redirect(env, mock, before):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        env.write_config(upload={"endpoint": "http://127.0.0.1:%d/streams/"
                                 "ingest" % srv.server_address[1]})
        p = pts(10, "auth-308")
        h.append_points(env, p)
        r = h.run_logged(env, "drain", "--once", timeout=60)
        h.check(r.returncode == 69, "308: exit %d" % r.returncode)
        h.check("upstream redirects upload.endpoint" in r.stderr and
                "a redirect to https://****@api.example.net/v2/streams/"
                "ingest" in r.stderr and
                "set upload.endpoint" in r.stderr,
                "308 not explained:\n" + r.stderr[-1000:])
        h.check(REDIRECT_PW not in r.stderr, "the redirect's password "
                "was logged")
        st = env.status()
        h.check("a redirect to" in (st["last_upload_error"] or "") and
                REDIRECT_PW not in (st["last_upload_error"] or ""),
                "last error after 308: %s" % st["last_upload_error"])
        no_dead(env, "308")
    finally:
        srv.shutdown()
        srv.server_close()
    env.write_config(upload={"endpoint": mock.url})
    r = h.run_logged(env, "drain", "--once", timeout=60)
    h.check(r.returncode == 0, "after 308: exit %d" % r.returncode)
    h.compare_state(mock.points(), h.expected_state(before + [p]),
                    "after 308")
    return p


def part_404():
    env = h.Env("drain-404")
    try:
        mock = h.Mock(env, tokens=[h.STREAM])
        env.write_config(upload={"endpoint": mock.url})
        h.append_points(env, pts(20, "lost", UNKNOWN))
        r = h.run_logged(env, "drain", "--once", timeout=60)
        # The group is parked, not the drainer: only parked groups left.
        h.check(r.returncode == 75, "404: exit %d" % r.returncode)
        h.check("group ****" in r.stderr and "parked" in r.stderr and
                "404 no stream found" in r.stderr and
                "check upload.endpoint" in r.stderr,
                "404 not explained:\n" + r.stderr[-1000:])
        st = env.status()
        h.check(st["pending_points"] == 20, "pending after 404: %s" % st)
        no_dead(env, "404")
        return env
    except Exception:
        env.cleanup()
        raise


def main():
    env = h.Env("drain-auth")
    env404 = None
    try:
        mock = h.Mock(env)
        a = part_401_once(env, mock)
        b = pts(300, "auth-daemon")
        part_401_daemon(env, mock, a)
        c = pts(10, "auth-403")
        part_403(env, mock, [a, b])
        part_redirect(env, mock, [a, b, c])
        env404 = part_404()
        for e in (env, env404):
            h.check_no_secrets(e, [h.API_KEY, h.STREAM, WRONG_KEY, UNKNOWN,
                                   REDIRECT_PW])
    finally:
        env.cleanup()
        if env404:
            env404.cleanup()
    h.finish()


if __name__ == "__main__":
    sys.exit(main())
