#!/usr/bin/env python3
"""test_serve_reload.py -- SIGHUP re-reads the configuration of `serve`.

Under a steady load of ingest requests, serve is sent SIGHUP after its
config file changed the API keys: from then on the new key is accepted
and the old one refused with 401, no request fails otherwise, and serve
never exits.  A config that does not load keeps the running one in
force; a changed listen address or event loop is logged as needing a
restart; many SIGHUPs in a row under load change nothing else.  A request in
progress keeps the key and default stream it started with.  Every point
answered 201 is in the journal.
"""

import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

NEW_KEY = "serve-key-after-reload-0123456789-NEWKEY"
OTHER_STREAM = "stream-after-reload-0123456789-OTHERTOK"
HOUR0 = 472000


def reloads(srv):
    return srv.log().count("configuration reloaded")


def main():
    env = h.Env("serve-reload")
    stop = threading.Event()
    hup = threading.Event()      # set just before the SIGHUP is sent
    swapped = threading.Event()  # set once the reload was logged
    try:
        srv = h.Serve(env)
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())
        answers, lock = [], threading.Lock()
        stored = {}

        def load(k):
            for i in range(2000):
                if stop.is_set():
                    return
                key = h.SERVE_KEY if k % 2 else NEW_KEY
                after = swapped.is_set()  # started after the swap
                p = h.ingest_payload([h.data_point("load-%d" % k, i,
                                                   HOUR0 + i)])
                try:
                    st, _, _ = srv.post(p, key=key, timeout=30)
                except OSError as ex:
                    st = repr(ex)
                before = not hup.is_set()  # ended before the SIGHUP
                with lock:
                    answers.append((key, st, after, before))
                    if st == 201:
                        stored.update(h.payload_points(p))

        threads = [threading.Thread(target=load, args=(k,))
                   for k in range(4)]
        for t in threads:
            t.start()
        h.check(h.wait_for(lambda: len(answers) > 50, 60),
                "load is running")

        # Keys change: the old key goes, a new one comes.
        srv.server["api_keys"] = [NEW_KEY]
        env.write_config(server=dict(srv.server,
                                     listen="127.0.0.1:%d" % srv.port))
        hup.set()
        srv.proc.send_signal(signal.SIGHUP)
        h.check(h.wait_for(lambda: reloads(srv) >= 1, 30),
                "reload logged: " + srv.log()[-2000:])
        swapped.set()
        with lock:
            mark = len(answers)
        h.check(h.wait_for(lambda: len(answers) > mark + 50, 60),
                "load goes on after the reload")
        st, _, _ = srv.post(h.ingest_payload([h.data_point("n", 1, HOUR0)]),
                            key=NEW_KEY)
        h.check(st == 201, "the new key is accepted (%s)" % st)
        st, _, _ = srv.post(h.ingest_payload([h.data_point("o", 1, HOUR0)]),
                            key=h.SERVE_KEY)
        h.check(st == 401, "the old key is refused (%s)" % st)

        # A broken file: nothing changes, serve keeps running.
        with open(env.config, "a") as f:
            f.write("this is not libconfig\n")
        srv.proc.send_signal(signal.SIGHUP)
        h.check(h.wait_for(lambda: "not reloaded" in srv.log(), 30),
                "a config that does not load is reported: " +
                srv.log()[-1500:])
        st, _, _ = srv.post(h.ingest_payload([h.data_point("b", 2, HOUR0)]),
                            key=NEW_KEY)
        h.check(st == 201, "the running keys stay in force (%s)" % st)

        # A listen change needs a restart: logged, ignored.
        env.write_config(server=dict(srv.server, listen="127.0.0.1:1"))
        n = reloads(srv)
        for _ in range(20):
            srv.proc.send_signal(signal.SIGHUP)
        h.check(h.wait_for(lambda: reloads(srv) >= n + 1 and
                           "server.listen changed" in srv.log(), 30),
                "a listen change is logged as needing a restart")
        st, _, _ = srv.post(h.ingest_payload([h.data_point("c", 3, HOUR0)]),
                            key=NEW_KEY)
        h.check(st == 201, "still listening on the old address (%s)"
                % st)

        # So does a change of event loop.
        env.write_config(server=dict(srv.server, event_loop="epoll"))
        n = reloads(srv)
        srv.proc.send_signal(signal.SIGHUP)
        h.check(h.wait_for(lambda: reloads(srv) >= n + 1 and
                           "server.event_loop changed" in srv.log(), 30),
                "an event loop change is logged as needing a restart")

        # The journal's handle was opened with on_corrupt and the file
        # mode; the daemon with the idempotency window: restart-only.
        env.write_config(top={"on_corrupt": "stop",
                              "journal_file_mode": "0640"},
                         server=dict(srv.server, event_loop="epoll",
                                     idempotency_hours=48))
        n = reloads(srv)
        srv.proc.send_signal(signal.SIGHUP)
        h.check(h.wait_for(lambda: reloads(srv) >= n + 1, 30),
                "reloaded with restart-only changes")
        for what in ("on_corrupt", "journal_file_mode",
                     "server.idempotency_hours"):
            h.check("SIGHUP: %s changed; it takes effect at the next "
                    "restart" % what in srv.log(),
                    "a change of %s is logged as needing a restart" % what)

        stop.set()
        for t in threads:
            t.join(timeout=120)
        h.check(srv.proc.poll() is None, "serve never exited")
        bad = [a for a in answers if a[1] not in (201, 401)]
        h.check(not bad, "only 201 or 401 answers under reloads: %s" %
                bad[:5])
        wrong = [a for a in answers if a[2] and (a[1] == 401) ==
                 (a[0] == NEW_KEY)]
        h.check(not wrong, "after the reload only the new key is accepted: "
                "%d requests" % len(wrong))
        before = [a for a in answers if a[3] and a[0] == h.SERVE_KEY]
        h.check(not [a for a in before if a[1] == 401],
                "before it the old key was never refused: %s" %
                [a for a in before if a[1] == 401][:3])

        # limits.* change at once: lowered below what is pending, a new
        # point is refused (429); raised again, it is stored.
        cfg = dict(srv.server, event_loop="epoll")
        for limit, want in ((1, 429), (1000000, 201)):
            env.write_config(server=cfg,
                             limits={"max_pending_points": limit})
            n = reloads(srv)
            srv.proc.send_signal(signal.SIGHUP)
            h.check(h.wait_for(lambda: reloads(srv) >= n + 1, 30),
                    "reloaded with max_pending_points = %d" % limit)
            pt = h.ingest_payload([h.data_point("lim-%d" % limit, 1,
                                                HOUR0)])
            st, _, body = srv.post(pt, key=NEW_KEY)
            h.check(st == want, "max_pending_points = %d after SIGHUP: %d "
                    "%r" % (limit, st, body))
            if st == 201:
                stored.update(h.payload_points(pt))
        # A request in progress keeps the settings it started with: the
        # key it was let in with, and the default stream its points take,
        # whatever a SIGHUP puts in force before its body ends.
        slow = h.ingest_payload([h.data_point("slow-hup", 7, HOUR0)])
        body = json.dumps(slow).encode()
        s, got = h.post_begun(srv.port, NEW_KEY, len(body))
        h.check(b" 100 " in got.split(b"\r\n")[0],
                "serve asks for the body: %r" % got[:80])
        s.sendall(body[:10])
        env.write_config(server=dict(cfg, api_keys=[h.SERVE_KEY]),
                         upload={"data_stream_token": OTHER_STREAM})
        n = reloads(srv)
        srv.proc.send_signal(signal.SIGHUP)
        h.check(h.wait_for(lambda: reloads(srv) >= n + 1, 30),
                "reloaded with another key and default stream")
        s.sendall(body[10:])
        got = h.read_until(s, b"}")
        s.close()
        h.check(b" 201 " in got.split(b"\r\n")[0],
                "the request started before is stored: %r" % got[:200])
        want = h.payload_points(slow)
        h.check(all(k in h.journal_points(env, "--stream", h.STREAM)
                    for k in want) and
                not any(k in h.journal_points(env, "--stream", OTHER_STREAM)
                        for k in want),
                "under the default stream it started with")
        stored.update(want)

        rc = srv.stop()
        h.check(rc == 0, "serve exits 0 on SIGTERM (%s)" % rc)
        got = h.journal_points(env)
        missing = [k for k in stored if k not in got]
        h.check(not missing, "%d answered points missing from the journal"
                % len(missing))
        log = srv.log()
        h.check("Sanitizer" not in log and "runtime error" not in log,
                "no sanitizer report: " + log[-3000:])
    finally:
        stop.set()
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    main()
