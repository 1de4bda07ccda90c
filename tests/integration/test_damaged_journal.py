#!/usr/bin/env python3
"""test_damaged_journal.py -- a damaged journal never wedges the host
(DESIGN.md section 11).  A journal of 100,000 pending points is damaged
in one of several ways (garbage over pages in the middle, a zeroed
header, a truncated file, a damaged -wal, garbage written while a
drainer is at work); then `serve`, `append` and `drain` run on it.  Each
case checks that new points are accepted within seconds and delivered,
that whatever the receiver holds has the right value, that the drainer
salvaged the quarantined journal by itself (no NAME.corrupt-* left) and
that a second salvage adds nothing.  Prints the share of the 100,000
points recovered per damage type.  (A damaged -wal is not detectable:
SQLite ends the log at the first frame whose checksum fails, so the
commits after it are gone; the case checks that nothing wedges.)"""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import harness as h

N = 100000
HOUR0 = 471000
AFTER_HOUR = HOUR0 + 1000
# Least share of the damaged journal's points delivered in the end.  The
# -wal is damaged at its middle: about half its commits come before
# (49-50%, by page size), and those after are gone.
MIN_SHARE = {"garbage-mid": 0.9, "zero-header": 0.9, "truncated": 0.3,
             "wal": 0.45, "during-drain": 0.9}


def points():
    return [h.point("m%d" % (k % 500), float(k), HOUR0 + k // 500, "Sum",
                    {"n": str(k % 500)}) for k in range(N)]


def after_points(tag, n=10):
    return [h.point("after-%s" % tag, float(k) + 0.5, AFTER_HOUR + k, "Sum")
            for k in range(n)]


def as_data(p):
    """An NDJSON point as an element of a payload's "data"."""
    return {k: p[k] for k in ("timestamp", "metric_name", "metric_value",
                              "custom_dimensions")}


def garbage(path, where, size):
    with open(path, "r+b") as f:
        f.seek(where)
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())


def damage(env, kind):
    path = env.journal
    size = os.path.getsize(path)
    if kind in ("garbage-mid", "during-drain"):
        garbage(path, (size // 2) & ~4095, 32768)
    elif kind == "zero-header":
        with open(path, "r+b") as f:
            f.write(b"\0" * 100)
    elif kind == "truncated":
        os.truncate(path, (size * 6 // 10) & ~4095)
    elif kind == "wal":
        wal = path + "-wal"
        wsize = os.path.getsize(wal)
        h.check(wsize > 1 << 20, "the -wal holds %d bytes" % wsize)
        garbage(wal, wsize // 2, 32768)


def status(env):
    """`status --json` (it checks the pages and may quarantine): the
    object, or None when it exits non-zero."""
    r = h.run_logged(env, "status", "--json")
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def quarantined(env):
    return [f for f in glob.glob(env.journal + ".corrupt-*")
            if not f.endswith(("-wal", "-shm"))]


READER = ("import sqlite3, sys\n"
          "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
          "c.execute('BEGIN')\n"
          "c.execute('SELECT count(*) FROM meta').fetchall()\n"
          "print('reading', flush=True)\n"
          "sys.stdin.read()\n")


def fill_through_serve(env, srv, pts):
    """The points through serve, which is then killed, while a reader
    (killed too) holds a snapshot from before: no checkpoint copies
    them into the main file, all of them stay in the -wal."""
    reader = subprocess.Popen([sys.executable, "-c", READER, env.journal],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    h.check(reader.stdout.readline().strip() == "reading", "reader")
    for i in range(0, len(pts), 1000):
        data = [as_data(p) for p in pts[i:i + 1000]]
        st, _, body = srv.post(h.ingest_payload(data))
        h.check(st == 201, "serve answered %s: %s" % (st, body))
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    reader.kill()
    reader.wait(timeout=10)


def run_case(kind):
    env = h.Env("damaged-" + kind)
    try:
        mock = h.Mock(env)
        upload = {"endpoint": mock.url, "batch_max_points": 1000,
                  "poll_ms": 50}
        env.write_config(upload=upload)
        pts = points()
        exp = h.expected_state([pts])
        if kind == "wal":
            fill_through_serve(env, h.Serve(env, upload=upload), pts)
        else:
            h.append_points(env, pts)
        drain = None
        if kind == "during-drain":
            # The drainer is at work (slow receiver) when it happens.
            mock.fault(delay_ms=30, delay_next=-1)
            drain = h.start_logged(env, "drain", name="drain")
            h.wait_until(lambda: mock.counters()["requests_total"] >= 5, 60,
                         "the drainer's first requests")
        damage(env, kind)
        if kind == "during-drain":
            mock.fault(delay_ms=0)
        srv = h.Serve(env, upload=upload)
        h.check(srv.proc.poll() is None, "serve started: %s" % srv.log())
        if drain is None:
            drain = h.start_logged(env, "drain", name="drain")

        # New points are taken at once, by append and by serve.
        t0 = time.time()
        a = after_points(kind + "-append")
        h.append_points(env, a)
        s = after_points(kind + "-serve")
        st, _, body = srv.post(h.ingest_payload([as_data(p) for p in s]))
        h.check(st == 201, "serve after the damage: %s %s" % (st, body))
        took = time.time() - t0
        h.check(took < 30, "new points took %.1f s to be accepted" % took)
        new = h.expected_state([a, s])

        def settled():
            got = mock.points()
            if any(k not in got for k in new):
                return False
            st = status(env)
            return (st is not None and st["pending_points"] == 0 and
                    not st["quarantined"] and not quarantined(env))
        h.wait_until(settled, 300, "new points delivered, the damaged "
                     "journal salvaged, nothing pending")
        got = mock.points()
        wrong = [k for k in got if k in exp and got[k] != exp[k]]
        extra = [k for k in got if k not in exp and k not in new]
        h.check(not wrong, "%d points with a wrong value" % len(wrong))
        h.check(not extra, "%d points never appended" % len(extra))
        h.check(all(got.get(k) == v for k, v in new.items()),
                "new points delivered with their values")
        share = sum(1 for k in exp if k in got) / float(N)
        print("%-13s %6.1f %% of %d points recovered and delivered" %
              (kind, 100 * share, N))
        h.check(share >= MIN_SHARE[kind], "%s: only %.1f %% recovered" %
                (kind, 100 * share))

        # The drainer renamed what it salvaged; a second salvage adds
        # nothing.
        done = [f for f in glob.glob(env.journal + ".salvaged-*")
                if not f.endswith(("-wal", "-shm"))]
        if kind != "wal":
            h.check(done, "a salvaged journal is there")
        for f in done:
            r = h.run_logged(env, "salvage", f)
            h.check(r.returncode in (0, 74) and
                    "recovered 0 pending points and 0 dead letters"
                    in r.stdout + r.stderr or r.returncode == 74,
                    "second salvage of %s: %d %s %s" %
                    (f, r.returncode, r.stdout, r.stderr))
        logs = h.read_text(drain.log_path) + srv.log()
        if kind not in ("wal",):
            h.check("salvage" in logs and "damaged" in
                    logs + "".join(t for _, t in env.captured),
                    "the logs name the damage and the salvage")
        for p in (drain, srv.proc):
            rc, _ = h.stop_proc(p)
            h.check(rc == 0, "`%s` exited %s on SIGTERM" %
                    (" ".join(p.args[3:]), rc))
    finally:
        env.cleanup()


def stop_and_list():
    """on_corrupt = "stop": every command exits 74 naming the file, which
    stays where it is; then the default: `list` exits 74 (not 0 after
    "malformed") naming the quarantine file and the salvage command."""
    env = h.Env("damaged-stop")
    try:
        env.write_config(top={"on_corrupt": "stop"})
        h.append_points(env, points()[:20000])
        damage(env, "garbage-mid")
        for args in (("status",), ("list", "--pending")):
            r = h.run_logged(env, *args)
            h.check(r.returncode == 74 and env.journal in r.stderr and
                    "on_corrupt" in r.stderr,
                    "%s with on_corrupt = stop: %d %s" %
                    (args[0], r.returncode, r.stderr[-500:]))
        # An append that meets no damaged page commits as usual.
        r = h.run_logged(env, "append", "--format", "ndjson", "-",
                         input=json.dumps(after_points("stop")[0]) + "\n")
        h.check(r.returncode in (0, 74), "append: %d %s" %
                (r.returncode, r.stderr[-500:]))
        h.check(not quarantined(env) and os.path.exists(env.journal),
                "on_corrupt = stop leaves the journal in place")
        # A journal that does not even open: serve and drain exit 74.
        for suffix in ("-wal", "-shm", ""):
            if os.path.exists(env.journal + suffix):
                os.rename(env.journal + suffix,
                          env.journal + ".keep" + suffix)
        h.append_points(env, after_points("stop-zero"))
        damage(env, "zero-header")
        env.write_config(top={"on_corrupt": "stop"},
                         server={"listen": "127.0.0.1:%d" % h.free_port(),
                                 "api_keys": [h.SERVE_KEY]})
        for args in (("serve",), ("drain", "--once")):
            r = h.run_logged(env, *args, timeout=60)
            h.check(r.returncode == 74 and "on_corrupt" in r.stderr,
                    "%s on a damaged journal, on_corrupt = stop: %d %s" %
                    (args[0], r.returncode, r.stderr[-500:]))
        h.check(not quarantined(env), "nothing moved with stop")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(env.journal + ".keep" + suffix):
                os.replace(env.journal + ".keep" + suffix,
                           env.journal + suffix)
            elif os.path.exists(env.journal + suffix):
                os.unlink(env.journal + suffix)

        env.write_config()
        r = h.run_logged(env, "list", "--pending")
        q = quarantined(env)
        h.check(r.returncode == 74 and len(q) == 1 and q[0] in r.stderr and
                "ctspool salvage" in r.stderr,
                "list on a damaged journal: %d %s" %
                (r.returncode, r.stderr[-500:]))
        r = h.run_logged(env, "status")
        h.check(r.returncode == 66 and q[0] in r.stderr,
                "status names the quarantined journal: %d %s" %
                (r.returncode, r.stderr[-500:]))
        r = h.run_logged(env, "salvage", q[0])
        h.check(r.returncode == 0 and "renamed it to" in r.stdout,
                "salvage by hand: %d %s %s" % (r.returncode, r.stdout,
                                               r.stderr))
        st = status(env)
        h.check(st is not None and 19000 < st["pending_points"] <= 20001 and
                not st["quarantined"], "after salvage: %s" % st)
    finally:
        env.cleanup()


def stop_while_serving():
    """on_corrupt = "stop" and the journal damaged under a running serve:
    it stops with exit 74, the journal where it was, and its log says
    why it stops (not a SIGTERM nobody sent)."""
    env = h.Env("damaged-serving")
    try:
        env.write_config(top={"on_corrupt": "stop"})
        pts = points()
        h.append_points(env, pts[:20000])
        srv = h.Serve(env, top={"on_corrupt": "stop"})
        h.check(srv.proc.poll() is None, "serve started: %s" % srv.log())
        damage(env, "garbage-mid")
        for i in range(0, 20000, 4000):
            if srv.proc.poll() is not None:
                break
            data = [dict(as_data(p), metric_value=p["metric_value"] + 0.5)
                    for p in pts[i:i + 4000]]
            try:
                srv.post(h.ingest_payload(data), timeout=30)
            except OSError:
                pass  # closed as it stops
        h.check(h.wait_for(lambda: srv.proc.poll() is not None, 60),
                "serve stops on the damage")
        log = srv.log()
        h.check(srv.proc.returncode == 74 and
                "stopping for the damaged journal" in log and
                "SIGTERM received" not in log,
                "serve's stop on a damaged journal: %s\n%s" %
                (srv.proc.returncode, log[-1500:]))
        h.check(not quarantined(env) and os.path.exists(env.journal),
                "on_corrupt = stop leaves the journal in place")
    finally:
        env.cleanup()


def main():
    stop_and_list()
    stop_while_serving()
    kinds = ["garbage-mid", "zero-header", "truncated", "wal",
             "during-drain"]
    for kind in kinds:
        run_case(kind)
    h.finish()


if __name__ == "__main__":
    main()
