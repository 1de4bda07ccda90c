#!/usr/bin/env python3
"""test_serve_start.py -- when `serve` refuses to start, and how:

- no server.api_keys and no allow_unauthenticated: exit 78;
- allow_unauthenticated on a non-loopback address: exit 78, nothing
  listens;
- an empty key in server.api_keys: exit 78;
- allow_unauthenticated on 127.0.0.1: starts, takes requests without a
  key, says so in its start line;
- the port already taken: a clear message and a non-zero exit;
- SIGINT stops it like SIGTERM (exit 0).
"""

import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Serve, check, data_point, finish,  # noqa: E402
                     free_port, ingest_payload, journal_points,
                     payload_points)


def refuses(env, server, what, needle):
    port = free_port()
    s = {"listen": "127.0.0.1:%d" % port}
    s.update(server)
    env.write_config(server=s)
    r = env.run("serve", timeout=30)
    check(r.returncode == 78, "%s: exit %d (want 78): %s" %
          (what, r.returncode, r.stderr))
    check(needle in r.stderr, "%s: message %r lacks %r" %
          (what, r.stderr, needle))


def main():
    env = Env("serve-start")
    try:
        refuses(env, {"api_keys": []}, "no keys", "server.api_keys")
        refuses(env, {"api_keys": [], "allow_unauthenticated": True,
                      "listen": "0.0.0.0:%d" % free_port()},
                "unauthenticated on 0.0.0.0", "loopback")
        refuses(env, {"api_keys": ["good-key-0123456789", ""]},
                "an empty key", "empty")
        check(not os.path.exists(env.journal),
              "a refused start created the journal")

        srv = Serve(env, keys=(), server={"allow_unauthenticated": True})
        check(srv.proc.poll() is None, "unauthenticated on loopback "
              "started: " + srv.log())
        check("NO AUTHENTICATION" in srv.log(), "start line says there is "
              "no authentication: " + srv.log())
        p = ingest_payload([data_point("open", 1.5, 460000)])
        st, _, body = srv.post(p, key=None)
        check(st == 201, "no key needed: %d %r" % (st, body))
        check(journal_points(env) == payload_points(p), "point stored")

        # A second server on the same port: refused with a clear reason.
        env2 = Env("serve-start-2")
        try:
            env2.write_config(server={"listen": "127.0.0.1:%d" % srv.port,
                                      "api_keys": ["k-0123456789abc"]})
            r = env2.run("serve", timeout=30)
            check(r.returncode != 0 and "in use" in r.stderr,
                  "port taken: exit %d: %s" % (r.returncode, r.stderr))
        finally:
            env2.cleanup()

        rc = srv.stop(sig=signal.SIGINT)
        check(rc == 0, "SIGINT: exit code %r" % rc)
        s = socket.socket()
        try:
            s.settimeout(2)
            refused = s.connect_ex(("127.0.0.1", srv.port)) != 0
        finally:
            s.close()
        check(refused, "port still open after exit")

        r = env.run("serve", "--help")
        check(r.returncode == 0 and "/healthz" in r.stdout,
              "serve --help: %d" % r.returncode)
    finally:
        env.cleanup()
    finish()


if __name__ == "__main__":
    main()
