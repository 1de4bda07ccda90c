#!/usr/bin/env python3
"""test_serve_mixed.py -- `serve`, several `append` processes, a running
`drain` and a `status` reader, all at once on one journal: every HTTP
request is answered 201, every append and status exits 0, nothing is
logged as an error (lock contention is waited out), and in the end the
receiver holds exactly the last value of every point, nothing pending.
HTTP clients also update their own earlier points while the drainer may
be uploading the old values (the newer value must win upstream).
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HTTP_CLIENTS = 8
HTTP_REQUESTS = 150
POINTS_PER_REQUEST = 5
APPENDERS = 4
APPEND_FILES = 12
APPEND_POINTS = 300
H0 = 465000


def http_client(srv, n, expected, problems, lock):
    conn = srv.connection(timeout=120)
    mine = {}
    try:
        for i in range(HTTP_REQUESTS):
            # Every third request rewrites the previous request's points.
            base = i - 1 if i % 3 == 2 else i
            data = [h.data_point("http-%d" % n, i * 10 + k + 0.5, H0 + base,
                                 {"k": str(k)})
                    for k in range(POINTS_PER_REQUEST)]
            p = h.ingest_payload(data)
            try:
                st, _, body = srv.post(p, conn=conn)
            except Exception as ex:  # noqa: BLE001 -- reported
                st, body = None, repr(ex)
                conn.close()
                conn = srv.connection(timeout=120)
            if st != 201:
                with lock:
                    problems.append("http client %d request %d: %r %r" %
                                    (n, i, st, body))
                continue
            for d in data:
                mine[(h.STREAM, h.record_id(d["metric_name"], "Sum",
                                            d["custom_dimensions"]),
                      d["timestamp"])] = float(d["metric_value"])
    finally:
        conn.close()
        with lock:
            expected.update(mine)


def appender(env, n, expected, problems, lock):
    mine = {}
    for f in range(APPEND_FILES):
        pts = [h.point("append-%d" % n, f * 1000 + k * 0.5, H0 + f % 3,
                       "Average", {"k": str(k)})
               for k in range(APPEND_POINTS)]
        r = h.append_points(env, pts, check_rc=False)
        if r.returncode != 0:
            with lock:
                problems.append("append %d file %d: exit %d: %s" %
                                (n, f, r.returncode, r.stderr[-500:]))
            continue
        for p in pts:
            mine[h.point_key(p)] = float(p["metric_value"])
    with lock:
        expected.update(mine)


def status_reader(env, stop, problems, lock, counter):
    while not stop.is_set():
        r = env.run("status", "--json", timeout=120)
        counter[0] += 1
        if r.returncode != 0:
            with lock:
                problems.append("status exit %d: %s" %
                                (r.returncode, r.stderr[-500:]))
        stop.wait(0.05)  # paced; ends at once when stopped


def main():
    env = h.Env("serve-mixed")
    try:
        mock = h.Mock(env)
        srv = h.Serve(env, upload={"endpoint": mock.url, "poll_ms": 50,
                                   "batch_max_points": 200})
        if not h.check(srv.proc.poll() is None, "serve started: " +
                       srv.log()):
            h.finish()
        drain = h.start_logged(env, "drain")

        expected, problems, lock = {}, [], threading.Lock()
        stop, n_status = threading.Event(), [0]
        workers = [threading.Thread(target=http_client,
                                    args=(srv, n, expected, problems, lock))
                   for n in range(HTTP_CLIENTS)]
        workers += [threading.Thread(target=appender,
                                     args=(env, n, expected, problems, lock))
                    for n in range(APPENDERS)]
        reader = threading.Thread(target=status_reader,
                                  args=(env, stop, problems, lock, n_status))
        t0 = time.time()
        reader.start()
        for t in workers:
            t.start()
        for t in workers:
            t.join(timeout=300)
        stop.set()
        reader.join(timeout=120)
        h.check(not any(t.is_alive() for t in workers + [reader]),
                "producers finished")
        print("producers done in %.1f s (%d status reads)" %
              (time.time() - t0, n_status[0]))
        h.check(not problems, "%d failures, e.g. %s" %
                (len(problems), problems[:3]))
        n_exp = (HTTP_CLIENTS * (HTTP_REQUESTS - HTTP_REQUESTS // 3) *
                 POINTS_PER_REQUEST + APPENDERS * 3 * APPEND_POINTS)
        h.check(len(expected) == n_exp, "%d distinct points, expected %d" %
                (len(expected), n_exp))

        delivered = h.wait_for(lambda: mock.points() == expected, 120,
                               interval=0.2)
        h.compare_state(mock.points(), expected, "receiver")
        print("all %d points delivered %.1f s after the start" %
              (len(expected), time.time() - t0))
        h.check(delivered, "receiver state did not converge")
        # The receiver holds the points before it answers; the drainer
        # records the acknowledgement after the answer.
        ok, st = h.wait_pending(env, 0, 30)
        h.check(ok, "pending at the end: %s" % st)

        rc, _ = h.stop_proc(drain)
        h.check(rc == 0, "drain exit code %r" % rc)
        h.check(srv.stop() == 0, "serve exit code")
        slog = srv.log()
        dlog = h.read_text(drain.log_path)
        h.check("level=error" not in slog and "level=warn" not in slog,
                "serve logged errors:\n" + slog[-3000:])
        h.check("level=error" not in dlog,
                "drain logged errors:\n" + dlog[-3000:])
        h.check_no_secrets(env, [h.API_KEY, h.STREAM, h.SERVE_KEY])
    finally:
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    main()
