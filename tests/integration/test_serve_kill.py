#!/usr/bin/env python3
"""test_serve_kill.py -- `serve` SIGKILLed while 16 clients are posting:
every request that had been answered 201 before the kill is in the
journal afterwards, point by point (the answer is sent only after the
commit).  Then serve restarts on the same journal and keeps working.
Done three times, killing at different moments (after 400, 1200 and
2800 answered requests).  Last, SIGTERM under the same load: serve exits
0 within seconds, every request it answered 201 is stored, the others
got 503 or a closed connection, nothing is logged as an error.
"""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Serve, check, data_point, finish,  # noqa: E402
                     ingest_payload, journal_points, payload_points,
                     wait_until)

CLIENTS = 16


def client(srv, n, rnd, acked, stop, lock, answered):
    conn = srv.connection(timeout=30)
    i = 0
    mine = {}
    try:
        while not stop.is_set():
            size = 1 + (i * 7 + n) % 40  # 1 to 40 points per request
            p = ingest_payload([
                data_point("kill-%d-%d" % (rnd, n), n + k * 0.25, 470000 + i,
                           {"point": str(k)})
                for k in range(size)])
            try:
                st, _, body = srv.post(p, conn=conn)
            except Exception:  # noqa: BLE001 -- the server was killed
                break
            if st == 201 and body == {"accepted": size}:
                mine.update(payload_points(p))
                answered[0] += 1
            i += 1
    finally:
        conn.close()
        with lock:
            acked.update(mine)


def one_round(env, rnd, kill_at, all_acked, sig=signal.SIGKILL):
    srv = Serve(env)
    if not check(srv.proc.poll() is None, "round %d: serve started: %s" %
                 (rnd, srv.log())):
        return
    acked, stop, lock = {}, threading.Event(), threading.Lock()
    answered = [0]
    threads = [threading.Thread(target=client,
                                args=(srv, n, rnd, acked, stop, lock,
                                      answered))
               for n in range(CLIENTS)]
    for t in threads:
        t.start()
    # The moment of the kill: once kill_at requests were answered 201
    # (under load, with sanitizers or parallel tests, that takes longer).
    wait_until(lambda: answered[0] >= kill_at, 120,
               "round %d: %d requests answered" % (rnd, kill_at))
    t0 = time.time()
    srv.proc.send_signal(sig)
    rc = srv.proc.wait(timeout=60)
    took = time.time() - t0
    stop.set()
    for t in threads:
        t.join(timeout=60)
    check(not any(t.is_alive() for t in threads),
          "round %d: clients finished" % rnd)
    check(len(acked) > 0, "round %d: some requests were answered before "
          "the kill" % rnd)
    all_acked.update(acked)
    got = journal_points(env)
    lost = [k for k in all_acked if got.get(k) != all_acked[k]]
    check(not lost, "round %d: %d of %d points answered 201 are missing "
          "or wrong after SIGKILL, e.g. %r" %
          (rnd, len(lost), len(all_acked), lost[:3]))
    if sig == signal.SIGTERM:
        log = srv.log()
        check(rc == 0, "SIGTERM under load: exit code %r" % rc)
        check(took < 15, "SIGTERM under load took %.1f s" % took)
        check("level=error" not in log and "level=warn" not in log,
              "SIGTERM under load logged errors:\n" + log[-2000:])
    print("round %d: %d points answered 201 before signal %d, all "
          "present; %d in the journal" % (rnd, len(acked), sig, len(got)))


def main():
    env = Env("serve-kill")
    all_acked = {}
    try:
        for rnd, kill_at in enumerate([400, 1200, 2800]):
            one_round(env, rnd, kill_at, all_acked)
        one_round(env, 3, 1000, all_acked, sig=signal.SIGTERM)
        # The journal is healthy: serve starts again and stores.
        srv = Serve(env)
        p = ingest_payload([data_point("after", 1, 470000)])
        st, _, _ = srv.post(p)
        check(st == 201, "after the kills: %r" % st)
        all_acked.update(payload_points(p))
        got = journal_points(env)
        check(all(got.get(k) == v for k, v in all_acked.items()),
              "after restart: answered points missing")
        st = env.status()
        check(st["pending_points"] == len(got),
              "status pending %r, journal %d" %
              (st["pending_points"], len(got)))
        check(srv.stop() == 0, "final serve exit code")
    finally:
        env.cleanup()
    finish()


if __name__ == "__main__":
    main()
