#!/usr/bin/env python3
"""test_drain_proxy.py -- upload.proxy (DESIGN.md section 6): a tiny
real HTTP proxy on 127.0.0.1 that forwards absolute-URI requests and
alone knows where the endpoint's host is (it does not resolve) carries
every request, with the credentials of the proxy URL; upload.proxy wins
over the proxy environment variables (which point at a dead port, and
whose no_proxy says "*"); the
proxy's password is never logged (the start line shows the proxy with
****); a wrong password (407) keeps the points pending and is not
logged either.  The receiver's final state is exact."""

import base64
import http.client
import http.server
import os
import threading
import urllib.parse

import harness as h

HOUR0 = 475000
USER = "spooler"
PASSWORD = "proxy-pass-0123456789-SECRETPXY"
HOST = "ingest.invalid"


class Proxy:
    """Forwards POST http://HOST:PORT/... to 127.0.0.1:PORT; answers
    407 unless Proxy-Authorization carries USER:PASSWORD."""

    def __init__(self):
        self.requests = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self, status, data, extra=None):
                self.send_response(status)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get(
                    "Content-Length", "0")))
                u = urllib.parse.urlsplit(self.path)
                proxy.requests.append({"uri": self.path,
                                       "headers": dict(self.headers)})
                want = "Basic " + base64.b64encode(
                    ("%s:%s" % (USER, PASSWORD)).encode()).decode()
                if self.headers.get("Proxy-Authorization") != want:
                    self.answer(407, b"proxy authentication required",
                                {"Proxy-Authenticate": 'Basic realm="p"'})
                    return
                if u.scheme != "http" or u.hostname != HOST:
                    self.answer(502, b"bad gateway")
                    return
                fwd = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "connection",
                                            "proxy-authorization",
                                            "proxy-connection")}
                c = http.client.HTTPConnection("127.0.0.1", u.port,
                                               timeout=120)
                try:
                    c.request("POST", u.path, body=body, headers=fwd)
                    r = c.getresponse()
                    status, data = r.status, r.read()
                finally:
                    c.close()
                self.answer(status, data,
                            {"Content-Type": "application/json"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def dead_env_proxy():
    dead = "http://127.0.0.1:%d" % h.free_port()
    e = {k: dead for k in ("http_proxy", "HTTP_PROXY", "https_proxy",
                           "HTTPS_PROXY", "all_proxy", "ALL_PROXY")}
    # ... and no_proxy would send everything direct.
    e.update({"no_proxy": "*", "NO_PROXY": "*"})
    return e


def run(env, mock):
    batches = []
    proxy = Proxy()
    endpoint = "http://%s:%d/streams/ingest" % (HOST, mock.port)
    url = "http://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, proxy.port)
    try:
        batches.append([h.point("proxied-%d" % (i % 9), float(i),
                                HOUR0 + i // 9) for i in range(250)])
        h.append_points(env, batches[-1])

        # Through upload.proxy, over the dead environment proxy.
        env.write_config(upload={"endpoint": endpoint, "proxy": url,
                                 "batch_max_points": 100})
        r = h.run_logged(env, "drain", "--once", timeout=120,
                         env=dead_env_proxy())
        h.check(r.returncode == 0, "through upload.proxy: exit %d: %s" %
                (r.returncode, r.stderr[-1000:]))
        uris = [q["uri"] for q in proxy.requests]
        h.check(len(uris) == 3 and all(u == endpoint for u in uris),
                "the proxy saw %s" % uris)
        h.check("through proxy http://****@127.0.0.1:%d" % proxy.port
                in r.stderr, "proxy not stated, masked, at start:\n" +
                r.stderr[:1000])
        h.compare_state(mock.points(), h.expected_state(batches),
                        "through the proxy")

        # A wrong password: 407, nothing dropped, nothing logged of it.
        wrong = "http://%s:%s@127.0.0.1:%d" % (USER, "WRONG" + PASSWORD,
                                                proxy.port)
        env.write_config(upload={"endpoint": endpoint, "proxy": wrong})
        batches.append([h.point("proxied-late", 1.5, HOUR0)])
        h.append_points(env, batches[-1])
        n = len(proxy.requests)
        r = h.run_logged(env, "drain", "--once", timeout=120,
                         env=dead_env_proxy())
        h.check(r.returncode == 69, "407 from the proxy: exit %d: %s" %
                (r.returncode, r.stderr[-1000:]))
        h.check("the proxy refuses our credentials" in r.stderr and
                "upload.proxy" in r.stderr,
                "the 407 names the proxy: " + r.stderr[-1000:])
        h.check(len(proxy.requests) > n, "no request reached the proxy")
        h.check(env.status()["pending_points"] == 1, "point not pending")

        # The file holds a password now: a world-readable one is warned
        # about.
        env.write_config(upload={"endpoint": endpoint, "proxy": url})
        os.chmod(env.config, 0o644)
        r = h.run_logged(env, "drain", "--once", timeout=120,
                         env=dead_env_proxy())
        h.check(r.returncode == 0, "drain --once: exit %d: %s" %
                (r.returncode, r.stderr[-1000:]))
        h.check("holds secrets and is readable by others" in r.stderr,
                "no warning for a proxy password in a 0644 file:\n" +
                r.stderr[:1000])
        os.chmod(env.config, 0o600)
        st = env.status()
        h.check(st["pending_points"] == 0, "pending: %s" %
                st["pending_points"])
        h.check(PASSWORD not in repr(st), "status shows the password")
        r = h.run_logged(env, "check-config", "--role", "drain")
        h.check(r.returncode == 0, "check-config: %s" % r.stderr)
    finally:
        proxy.stop()
    return h.expected_state(batches)


if __name__ == "__main__":
    h.drain_test("drain-proxy", run,
                 secrets=(h.API_KEY, h.STREAM, PASSWORD))
