#!/usr/bin/env python3
"""test_drain_tls.py -- transport settings of the drainer: TLS peer
verification is on by default (a self-signed upstream is refused and
the points stay pending), upload.ca_file adds a CA so that the same
upstream is accepted, and the usual proxy environment variables are
honoured (requests to an unresolvable host go through http_proxy)."""

import http.server
import os
import ssl
import subprocess
import sys
import threading

import harness as h

HOUR = 473000


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    paths = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        Sink.paths.append(self.path)
        data = b'{"message":"created"}'
        self.send_response(201)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(tls_dir=None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    srv.daemon_threads = True
    if tls_dir:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(tls_dir, "cert.pem"),
                            os.path.join(tls_dir, "key.pem"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def make_cert(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", os.path.join(d, "key.pem"),
                    "-out", os.path.join(d, "cert.pem"), "-days", "2",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)


def no_proxy_env():
    return {k: "" for k in ("http_proxy", "HTTP_PROXY", "https_proxy",
                            "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                            "no_proxy", "NO_PROXY")}


def main():
    env = h.Env("drain-tls")
    servers = []
    try:
        make_cert(env.dir)
        tls = serve(env.dir)
        servers.append(tls)
        url = "https://127.0.0.1:%d/streams/ingest" % tls.server_address[1]
        env.write_config(upload={"endpoint": url, "retry_base_ms": 10,
                                 "retry_max_ms": 50})
        h.append_points(env, [h.point("tls", 1.0, HOUR)])
        r = h.run_logged(env, "drain", "--once", timeout=60,
                         env=no_proxy_env())
        h.check(r.returncode == 75, "self-signed upstream: exit %d" %
                r.returncode)
        h.check("certificate" in r.stderr.lower(),
                "TLS failure not explained:\n" + r.stderr[-1000:])
        h.check(env.status()["pending_points"] == 1, "point not pending")
        h.check(not Sink.paths, "a request went through unverified TLS")

        env.write_config(upload={"endpoint": url, "ca_file":
                                 os.path.join(env.dir, "cert.pem")})
        r = h.run_logged(env, "drain", "--once", timeout=60,
                         env=no_proxy_env())
        h.check(r.returncode == 0, "with ca_file: exit %d: %s" %
                (r.returncode, r.stderr[-1000:]))
        h.check(len(Sink.paths) == 1, "requests: %s" % Sink.paths)

        env.write_config(upload={"endpoint": url, "ca_file":
                                 os.path.join(env.dir, "missing.pem")})
        r = h.run_logged(env, "drain", "--once", timeout=60)
        h.check(r.returncode == 78 and "ca_file" in r.stderr,
                "unreadable ca_file: exit %d: %s" % (r.returncode,
                                                     r.stderr))

        # Proxy: the endpoint's host does not resolve; http_proxy does.
        proxy = serve()
        servers.append(proxy)
        Sink.paths = []
        env.write_config(upload={"endpoint":
                                 "http://ingest.invalid:9/streams/ingest"})
        h.append_points(env, [h.point("proxied", 2.0, HOUR)])
        pe = no_proxy_env()
        pe["http_proxy"] = "http://127.0.0.1:%d" % proxy.server_address[1]
        r = h.run_logged(env, "drain", "--once", timeout=60, env=pe)
        h.check(r.returncode == 0, "through http_proxy: exit %d: %s" %
                (r.returncode, r.stderr[-1000:]))
        h.check(Sink.paths == ["http://ingest.invalid:9/streams/ingest"],
                "proxy saw %s" % Sink.paths)
        h.check_no_secrets(env, [h.API_KEY, h.STREAM])
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    sys.exit(main())
