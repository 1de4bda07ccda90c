#!/usr/bin/env python3
"""test_serve_slow.py -- slow and stuck clients cannot exhaust `serve`:
200 connections that stop half-way (in the headers, or in a body that
announced 100 kB) do not keep other clients from being answered
promptly, and the server closes the stuck connections itself after its
idle timeout (30 s).
"""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SERVE_KEY, Env, Serve, check, data_point,  # noqa
                     finish, ingest_payload, journal_points,
                     payload_points)

STUCK = 200
IDLE_TIMEOUT_S = 30


def stuck_socket(port, n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if n % 2:
        s.sendall(b"POST /streams/ingest HTTP/1.1\r\nHost: x\r\n")
    else:
        s.sendall(b"POST /streams/ingest HTTP/1.1\r\nHost: x\r\n"
                  b"x-api-key: " + SERVE_KEY.encode() + b"\r\n"
                  b"Content-Length: 100000\r\n\r\n{\"data\": [")
    return s


def main():
    env = Env("serve-slow")
    stuck = []
    try:
        srv = Serve(env)
        if not check(srv.proc.poll() is None, "serve started: " + srv.log()):
            finish()
        stuck = [stuck_socket(srv.port, n) for n in range(STUCK)]

        results, lock = [], threading.Lock()
        expected = {}

        def worker(k):
            for i in range(25):
                p = ingest_payload([data_point("slow-%d" % k, i, 466000 + i)])
                t0 = time.time()
                st, _, _ = srv.post(p, timeout=20)
                with lock:
                    results.append((st, time.time() - t0))
                    if st == 201:
                        expected.update(payload_points(p))
        t0 = time.time()
        threads = [threading.Thread(target=worker, args=(k,))
                   for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        took = time.time() - t0
        check(len(results) == 200 and all(st == 201 for st, _ in results),
              "requests next to stuck clients: %r" %
              sorted({st for st, _ in results}))
        check(took < 15, "200 requests next to %d stuck clients took "
              "%.1f s" % (STUCK, took))
        st, _, _ = srv.get("/healthz")
        check(st == 200, "healthz next to stuck clients: %d" % st)
        check(journal_points(env) == expected, "journal")

        # The server closes idle connections itself.
        deadline = time.time() + IDLE_TIMEOUT_S + 20
        closed = 0
        for s in stuck:
            s.settimeout(max(0.1, deadline - time.time()))
            try:
                s.recv(4096)  # EOF (or a timeout answer): closed
                closed += 1
            except socket.timeout:
                pass
            except OSError:
                closed += 1
        check(closed == STUCK, "%d of %d stuck connections closed by the "
              "server within %d s" % (closed, STUCK, IDLE_TIMEOUT_S + 20))
        check(srv.stop() == 0, "serve exit code")
        log = srv.log()
        check("level=error" not in log and "level=warn" not in log,
              "errors logged:\n" + log[-2000:])
    finally:
        for s in stuck:
            s.close()
        env.cleanup()
    finish()


if __name__ == "__main__":
    main()
