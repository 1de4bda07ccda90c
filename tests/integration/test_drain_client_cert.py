#!/usr/bin/env python3
"""test_drain_client_cert.py -- upload.client_cert and upload.client_key
(DESIGN.md section 6): an upstream that requires a TLS client
certificate (a Python ssl server, certificates made with openssl)
refuses a drainer without one (the points stay pending) and takes the
points of a drainer with one, seeing that certificate; one of the two
settings alone is a configuration error naming both; check-config
--role drain reports a client certificate or key that cannot be
read."""

import http.server
import os
import ssl
import subprocess
import sys
import threading

import harness as h

HOUR = 476000


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        cert = self.connection.getpeercert() or {}
        cn = [v for rdn in cert.get("subject", ()) for k, v in rdn
              if k == "commonName"]
        Sink.seen.append(cn)
        data = b'{"message":"created"}'
        self.send_response(201)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def make_cert(d, name, cn):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", os.path.join(d, name + "-key.pem"),
                    "-out", os.path.join(d, name + ".pem"), "-days", "2",
                    "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + "-key.pem")


def serve(server_cert, server_key, client_ca):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server_cert, server_key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(client_ca)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def no_proxy_env():
    return {k: "" for k in ("http_proxy", "HTTP_PROXY", "https_proxy",
                            "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                            "no_proxy", "NO_PROXY")}


def main():
    env = h.Env("drain-client-cert")
    srv = None
    try:
        try:
            s_cert, s_key = make_cert(env.dir, "server", "127.0.0.1")
            c_cert, c_key = make_cert(env.dir, "client", "ctspool-client")
        except (OSError, subprocess.SubprocessError) as e:
            h.skip("cannot make certificates with openssl: %s" % e)
        srv = serve(s_cert, s_key, c_cert)
        url = "https://127.0.0.1:%d/streams/ingest" % srv.server_address[1]
        # TLS 1.3 refuses a missing client certificate after the client
        # sent its request: that request is of unknown outcome, and the
        # next drainer waits out its window (3 x request_timeout_ms and
        # a bit), kept short here.
        base = {"endpoint": url, "ca_file": s_cert, "retry_base_ms": 10,
                "retry_max_ms": 50, "request_timeout_ms": 1000}
        h.append_points(env, [h.point("mtls", 1.0, HOUR)])

        # No client certificate: the handshake fails, nothing is sent.
        env.write_config(upload=base)
        r = h.run_logged(env, "drain", "--once", timeout=120,
                         env=no_proxy_env())
        h.check(r.returncode == 75, "without a client certificate: exit "
                "%d: %s" % (r.returncode, r.stderr[-1000:]))
        h.check(env.status()["pending_points"] == 1, "point not pending")
        h.check(not Sink.seen, "a request went through without a client "
                "certificate")

        # With one: delivered, and upstream saw it.
        env.write_config(upload=dict(base, client_cert=c_cert,
                                     client_key=c_key))
        r = h.run_logged(env, "check-config", "--role", "drain")
        h.check(r.returncode == 0, "check-config: %d %s" %
                (r.returncode, r.stderr))
        r = h.run_logged(env, "drain", "--once", timeout=120,
                         env=no_proxy_env())
        h.check(r.returncode == 0, "with a client certificate: exit %d: "
                "%s" % (r.returncode, r.stderr[-1000:]))
        h.check(Sink.seen == [["ctspool-client"]],
                "upstream saw client certificates %s" % Sink.seen)
        h.check(env.status()["pending_points"] == 0, "point pending")

        # One of the two alone: a configuration error naming both.
        for only in ({"client_cert": c_cert}, {"client_key": c_key}):
            env.write_config(upload=dict(base, **only))
            r = h.run_logged(env, "drain", "--once", timeout=60)
            h.check(r.returncode == 78 and "'upload.client_cert' and "
                    "'upload.client_key' go together" in r.stderr and
                    env.config + ":" in r.stderr,
                    "%s alone: exit %d: %s" % (list(only), r.returncode,
                                                r.stderr))
            r = h.run_logged(env, "check-config", "--role", "drain")
            h.check(r.returncode == 78 and
                    r.stderr.count("go together") == 1,
                    "check-config, %s alone: %d %s" %
                    (list(only), r.returncode, r.stderr))

        # Files that cannot be read: check-config --role drain and drain.
        missing = os.path.join(env.dir, "missing-key.pem")
        env.write_config(upload=dict(base, client_cert=c_cert,
                                     client_key=missing))
        r = h.run_logged(env, "check-config", "--role", "drain")
        h.check(r.returncode == 78 and "drain: upload.client_key " +
                missing + " cannot be read" in r.stderr,
                "check-config, missing key: %d %s" %
                (r.returncode, r.stderr))
        r = h.run_logged(env, "check-config")
        h.check(r.returncode == 0, "check-config without --role reads no "
                "certificate: %d %s" % (r.returncode, r.stderr))
        r = h.run_logged(env, "drain", "--once", timeout=60)
        h.check(r.returncode == 78 and "upload.client_key" in r.stderr,
                "drain, missing key: exit %d: %s" % (r.returncode,
                                                     r.stderr))
        env.write_config(upload=dict(base, client_cert=missing,
                                     client_key=c_key))
        r = h.run_logged(env, "check-config", "--role", "drain")
        h.check(r.returncode == 78 and "drain: upload.client_cert " +
                missing + " cannot be read" in r.stderr,
                "check-config, missing certificate: %d %s" %
                (r.returncode, r.stderr))
        h.check_no_secrets(env, [h.API_KEY, h.STREAM])
    finally:
        if srv:
            srv.shutdown()
            srv.server_close()
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    sys.exit(main())
