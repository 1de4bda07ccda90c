#!/usr/bin/env python3
"""test_serve_concurrency.py -- 32 concurrent clients, each sending 100
single-point requests over its own keep-alive connection: every request
is answered 201, every point is in the journal with its value, no error
or warning is logged, and the requests shared commits (group commit:
fewer commits than requests).  Then 64 keep-alive connections at once,
held open together, each answered.  Then 300 idle connections: /metrics
counts them (ctspool_serve_connections) while they are open and not
after; on poll(2) the log says once that "epoll" would serve them
better, on epoll it says nothing.  All of it once for each of
serve's event loops (server.event_loop "poll", the default, and
"epoll"), and the log names the loop in use.
"""

import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Serve, check, data_point, finish,  # noqa: E402
                     ingest_payload, journal_points, parse_metrics,
                     payload_points, wait_for)

CLIENTS = 32
REQUESTS = 100
H0 = 463000
IDLE = 300  # above http.c's POLL_MANY_CONNS
MANY_SAID = "connections are open at once"


def open_connections(srv):
    """serve's gauge of open connections (the asking one included)."""
    _, _, text = srv.get("/metrics")
    values, _ = parse_metrics(text)
    return values.get("ctspool_serve_connections", -1)


def idle_connections(srv, loop):
    """IDLE connections held open and idle: counted, and on poll(2) the
    one warning; none of them counted once closed."""
    socks = []
    try:
        for _ in range(IDLE):
            socks.append(socket.create_connection(("127.0.0.1", srv.port),
                                                  timeout=30))
        check(wait_for(lambda: open_connections(srv) >= IDLE, 60),
              "%d idle connections counted: %r" % (IDLE,
                                                   open_connections(srv)))
        if loop == "epoll":
            check(MANY_SAID not in srv.log(), "epoll: no warning about "
                  "many connections: " + srv.log()[-2000:])
        else:
            check(wait_for(lambda: MANY_SAID in srv.log(), 30),
                  "poll: the log says epoll would serve many connections "
                  "better: " + srv.log()[-2000:])
    finally:
        for s in socks:
            s.close()
    check(wait_for(lambda: open_connections(srv) <= 1, 60),
          "closed connections no longer counted: %r" %
          open_connections(srv))


def client(srv, n, expected, failures, lock):
    conn = srv.connection(timeout=120)
    mine = {}
    try:
        for i in range(REQUESTS):
            p = ingest_payload([data_point("conc", n * 1000 + i + 0.5,
                                           H0 + i, {"client": str(n)})])
            try:
                st, _, body = srv.post(p, conn=conn)
            except Exception as ex:  # noqa: BLE001 -- reported below
                st, body = None, repr(ex)
                conn.close()
                conn = srv.connection(timeout=120)
            if st == 201 and body == {"accepted": 1}:
                mine.update(payload_points(p))
            else:
                with lock:
                    failures.append((n, i, st, body))
    finally:
        conn.close()
    with lock:
        expected.update(mine)


def run(loop):
    """The whole test against serve on event loop loop (None: the
    default)."""
    env = Env("serve-conc-%s" % (loop or "default"))
    try:
        srv = Serve(env, server={"event_loop": loop} if loop else None)
        if not check(srv.proc.poll() is None, "serve started: " + srv.log()):
            return
        check("worker threads on %s," % (loop or "poll") in srv.log(),
              "the log names the event loop: " + srv.log())
        expected, failures, lock = {}, [], threading.Lock()
        threads = [threading.Thread(target=client,
                                    args=(srv, n, expected, failures, lock))
                   for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        check(not any(t.is_alive() for t in threads), "clients finished")
        check(not failures, "%d requests not answered 201, e.g. %r" %
              (len(failures), failures[:3]))
        check(len(expected) == CLIENTS * REQUESTS,
              "%d points answered 201" % len(expected))
        got = journal_points(env)
        missing = [k for k in expected if got.get(k) != expected[k]]
        check(not missing, "%d answered points missing or wrong, e.g. %r" %
              (len(missing), missing[:3]))
        check(len(got) == len(expected), "journal holds %d points, %d "
              "were sent" % (len(got), len(expected)))

        _, _, text = srv.get("/metrics")
        values, bad = parse_metrics(text)
        commits = values.get("ctspool_serve_commits_total", 0)
        reqs = values.get("ctspool_serve_committed_requests_total", 0)
        check(reqs == CLIENTS * REQUESTS,
              "committed requests %r" % reqs)
        check(0 < commits < reqs, "group commit: %r commits for %r "
              "requests" % (commits, reqs))
        print("%s: %d requests in %d commits" % (loop or "poll", reqs,
                                                 commits))

        # 64 keep-alive connections open at once, each used twice.
        conns = [srv.connection(timeout=60) for _ in range(64)]
        try:
            for c in conns:
                c.connect()
            for rnd in range(2):
                for k, c in enumerate(conns):
                    p = ingest_payload([data_point("ka", k, H0 + rnd,
                                                   {"conn": str(k)})])
                    st, _, _ = srv.post(p, conn=c)
                    check(st == 201, "keep-alive connection %d round %d: "
                          "%r" % (k, rnd, st))
        finally:
            for c in conns:
                c.close()

        idle_connections(srv, loop)

        rc = srv.stop()
        check(rc == 0, "serve exit code %r" % rc)
        log = srv.log()
        warned = [ln for ln in log.splitlines() if "level=warn" in ln]
        check(len([ln for ln in warned if MANY_SAID in ln]) ==
              (0 if loop == "epoll" else 1),
              "the warning about many connections, once on poll:\n" +
              "\n".join(warned))
        check("level=error" not in log and
              all(MANY_SAID in ln for ln in warned),
              "errors logged:\n" + log[-3000:])
    finally:
        env.cleanup()


def main():
    for loop in (None, "epoll"):
        run(loop)
    finish()


if __name__ == "__main__":
    main()
