#!/usr/bin/env python3
"""test_serve_slow.py -- slow and stuck clients cannot exhaust `serve`:
200 connections that stop half-way (in the headers, or in a body that
announced 100 kB) do not keep other clients from being answered
promptly, and the server closes the stuck connections itself after its
idle timeout (30 s).  Clients that send their request headers a byte at
a time, each byte within the idle timeout (on a fresh connection, or
after a first request on a kept-alive one), are closed once their
headers have taken 60 s.
"""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SERVE_KEY, Env, Serve, check, data_point,  # noqa
                     finish, ingest_payload, journal_points,
                     payload_points, wait_until)

STUCK = 200
IDLE_TIMEOUT_S = 30
HEADERS_DEADLINE_S = 60
DRIBBLERS = 20


def stuck_socket(port, n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if n % 2:
        s.sendall(b"POST /streams/ingest HTTP/1.1\r\nHost: x\r\n")
    else:
        s.sendall(b"POST /streams/ingest HTTP/1.1\r\nHost: x\r\n"
                  b"x-api-key: " + SERVE_KEY.encode() + b"\r\n"
                  b"Content-Length: 100000\r\n\r\n{\"data\": [")
    return s


def dribble(port, n, out):
    """Headers a byte every 5 s; out[n]: seconds from the start of the
    wait for headers until the server closed, or what went wrong."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        if n % 2:  # kept alive after a first request
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
                part = s.recv(4096)
                if not part:
                    out[n] = "closed after its first request"
                    return
                got += part
        s.sendall(b"POST /streams/ingest HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        t0 = time.time()
        s.settimeout(5)
        while time.time() - t0 < HEADERS_DEADLINE_S + 40:
            try:
                part = s.recv(4096)
            except socket.timeout:
                s.sendall(b"a")
                continue
            out[n] = time.time() - t0 if not part else "answered %r" % part
            return
        out[n] = "still open after %d s" % (HEADERS_DEADLINE_S + 40)
    except OSError as err:  # reset while sending: closed too
        out[n] = time.time() - t0 if "t0" in locals() else str(err)
    finally:
        s.close()


def main():
    env = Env("serve-slow")
    stuck = []
    dribbled = {}
    try:
        srv = Serve(env)
        if not check(srv.proc.poll() is None, "serve started: " + srv.log()):
            finish()
        dribblers = [threading.Thread(target=dribble,
                                      args=(srv.port, n, dribbled))
                     for n in range(DRIBBLERS)]
        for t in dribblers:
            t.start()
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

        # Headers a byte at a time: closed at the headers' deadline.
        for t in dribblers:
            t.join(timeout=HEADERS_DEADLINE_S + 60)
        took = sorted(v for v in dribbled.values()
                      if isinstance(v, float))
        check(len(took) == DRIBBLERS and
              HEADERS_DEADLINE_S - 5 <= took[0] and
              took[-1] <= HEADERS_DEADLINE_S + 20,
              "dribbling clients closed after %s s (expected about %d)" %
              (dribbled, HEADERS_DEADLINE_S))
        # The reaper logs after it has shut the sockets down: a client
        # can see its EOF before the line is written.
        wait_until(lambda: "sent no complete request headers within 60 s"
                   in srv.log(), 10, "the closing logged")
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
