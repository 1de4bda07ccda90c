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
points recovered per damage type."""

import glob
import json
import os
import signal
import time

import harness as h

N = 100000
HOUR0 = 471000
AFTER_HOUR = HOUR0 + 1000
# Least share of the damaged journal's points delivered in the end.
MIN_SHARE = {"garbage-mid": 0.9, "zero-header": 0.9, "truncated": 0.3,
             "wal": 0.5, "during-drain": 0.9}


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


def fill_through_serve(env, srv, pts):
    """The points through serve, which is then killed: its last commits
    stay in the -wal."""
    for i in range(0, len(pts), 1000):
        data = [as_data(p) for p in pts[i:i + 1000]]
        st, _, body = srv.post(h.ingest_payload(data))
        h.check(st == 201, "serve answered %s: %s" % (st, body))
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)


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


def main():
    kinds = ["garbage-mid", "zero-header", "truncated", "wal",
             "during-drain"]
    for kind in kinds:
        run_case(kind)
    h.finish()


if __name__ == "__main__":
    main()
