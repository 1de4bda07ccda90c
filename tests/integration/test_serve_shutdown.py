#!/usr/bin/env python3
"""test_serve_shutdown.py -- `serve` stops cleanly whatever is in flight.

A client sends its headers and 10 bytes of a body, SIGTERM arrives, and
the rest of the body comes only after serve has given up waiting for it
(its writer already stopped).  serve must refuse that request with 503,
store nothing of it, still answer and store a request that was whole
before the signal, refuse new connections from the signal on, and exit
0; in the sanitizer build any use of the
stopped writer after it was freed aborts serve instead.
"""

import json
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SERVE_KEY, Env, Serve, check, data_point,  # noqa
                     finish, ingest_payload, journal_points, payload_points,
                     post_begun, read_until, stop_proc, wait_for)

LATE = "still arriving after"


def main():
    env = Env("serve-shutdown")
    s = None
    try:
        srv = Serve(env)
        if not check(srv.proc.poll() is None, "serve started: " + srv.log()):
            finish()
        whole = ingest_payload([data_point("whole", 1.5, 470000)])
        st, _, _ = srv.post(whole)
        check(st == 201, "a whole request is stored (%s)" % st)

        late = ingest_payload([data_point("late", 2.5, 470001)])
        body = json.dumps(late).encode()
        # 100 Continue: serve has read the headers, the request is in
        # progress before the signal.
        s, cont = post_begun(srv.port, SERVE_KEY, len(body))
        check(b" 100 " in cont.split(b"\r\n")[0],
              "serve asks for the body: %r" % cont[:80])
        s.sendall(body[:10])

        srv.proc.send_signal(signal.SIGTERM)
        check(wait_for(lambda: LATE in srv.log() or
                       srv.proc.poll() is not None, 60),
              "serve says a request is still arriving: " + srv.log())
        check(srv.proc.poll() is None,
              "serve still runs after its writer stopped: " + srv.log())
        # It listens no more: a new connection is refused at once (it
        # used to wait in the backlog until serve exited, then reset).
        try:
            c = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            c.settimeout(10)
            try:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                got = c.recv(100)
            except OSError as err:
                got = err
            c.close()
            check(False, "a new connection while stopping is accepted: %r"
                  % (got,))
        except ConnectionRefusedError:
            pass

        s.sendall(body[10:])
        answer = read_until(s, b"}")
        head = answer.split(b"\r\n")[0]
        check(b" 503 " in head,
              "the late request is refused with 503: %r" % answer[:200])
        s.close()
        s = None

        rc, _ = stop_proc(srv.proc, signal.SIGTERM, 60)
        log = srv.log()
        check(rc == 0, "serve exits 0 (got %s): %s" % (rc, log[-2000:]))
        check("Sanitizer" not in log and "runtime error" not in log,
              "no sanitizer report: " + log[-3000:])

        got = journal_points(env)
        exp = payload_points(whole)
        check(got == exp, "the journal holds the whole request only: "
              "%r != %r" % (got, exp))
    finally:
        if s:
            s.close()
        env.cleanup()
    finish()


if __name__ == "__main__":
    main()
