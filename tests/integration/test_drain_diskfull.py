"""test_drain_diskfull.py -- the drainer when its journal's disk is full.

With root and a working `mount -t tmpfs` (else skipped, exit 77): the
journal lives on a 4 MiB tmpfs.  A first point is delivered by `drain
--once` (which writes the drainer's lock file), 500 points are
appended, the WAL is checkpointed and truncated by a connection that
stays open (so that the -wal and -shm files stay, and a write must grow
the WAL, as after appends filled the disk), and a filler file then takes
every byte left.  A drainer
started then uploads the first request's points, which upstream takes,
and cannot record the acknowledgement (SQLITE_FULL).  It must:

- keep that acknowledgement and record it again, with backoff, before it
  uploads anything more: while the disk stays full the receiver sees no
  further request, however many times the drainer tries (the log shows
  the tries; upstream is not sent the same points over and over);
- once the filler is removed, record it ("recorded the acknowledgement"),
  deliver the rest, and end with every point at the receiver with its
  value and nothing pending;
- exit 0 on SIGTERM.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

N = 500
BATCH = 100
HOUR = 470100


def tries(p):
    return h.read_text(p.log_path).count("cannot record it (recorded again")


def run(env, mock, mnt):
    journal = os.path.join(mnt, "journal.db")
    env.write_config(top={"journal": journal},
                     upload={"endpoint": mock.url, "batch_max_points": BATCH,
                             "retry_base_ms": 50, "retry_max_ms": 400,
                             "poll_ms": 50})
    first = [h.point("first", 1.5, HOUR)]
    pts = [h.point("df%03d" % i, i + 0.25, HOUR + i % 5) for i in range(N)]
    # The lock file (its landing record) is written before the disk
    # fills.
    h.append_points(env, first)
    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 0, "drain --once: exit %d: %s" %
            (r.returncode, r.stderr[-500:]))
    h.append_points(env, pts)
    db = sqlite3.connect(journal, timeout=30)
    try:
        run_full(env, mock, mnt, db, journal)
    finally:
        db.close()
    return h.expected_state([first, pts])


def run_full(env, mock, mnt, db, journal):
    ck = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    wal = journal + "-wal"
    h.check(ck[0] == 0 and (not os.path.exists(wal) or
                            os.path.getsize(wal) == 0) and
            os.path.exists(journal + "-shm"),
            "the WAL is checkpointed and empty, its index open: %r" % (ck,))
    n0 = mock.counters()["requests_total"]
    held = len(mock.points())

    filler = os.path.join(mnt, "filler")
    h.fill_fs(filler)
    d = h.start_logged(env, "drain", name="drain-full")
    h.wait_until(lambda: tries(d) >= 4, 60,
                 "the drainer tries to record the acknowledgement 4 times")
    sent = mock.counters()["requests_total"] - n0
    got = len(mock.points()) - held
    h.check(sent <= 2, "disk full: %d requests, expected the first one and "
            "at most the one in flight beside it" % sent)
    h.check(got in (BATCH, 2 * BATCH),
            "upstream holds %d points of the first requests" % got)
    st = env.status()
    h.check(st["pending_points"] == N, "nothing recorded yet: %d pending" %
            st["pending_points"])

    os.unlink(filler)
    ok, st = h.wait_pending(env, 0, 120)
    h.check(ok, "everything delivered once the disk has room: %r" % (st,))
    h.check("recorded the acknowledgement of %d points" % BATCH in
            h.read_text(d.log_path), "the owed acknowledgement is logged")
    rc, _ = h.stop_proc(d)
    h.check(rc == 0, "drain exited %r on SIGTERM" % rc)
    total = mock.counters()["requests_total"] - n0
    h.check(total <= N // BATCH + 2, "%d requests for %d batches" %
            (total, N // BATCH))


def main():
    if os.geteuid() != 0:
        h.skip("the drainer on a full disk: not root (mount needs root)")
    if not shutil.which("mount") or not shutil.which("umount"):
        h.skip("the drainer on a full disk: mount or umount is not "
               "installed (Debian package mount)")
    mnt = tempfile.mkdtemp(prefix="ctspool-drain-diskfull-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700",
                        "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        h.skip("the drainer on a full disk: mount -t tmpfs failed: %s" %
               r.stderr.strip())
    env = h.Env("drain-diskfull")
    try:
        mock = h.Mock(env)
        exp = run(env, mock, mnt)
        h.compare_state(mock.points(), exp, "final receiver state")
        h.check_no_secrets(env, (h.API_KEY, h.STREAM))
    finally:
        env.cleanup()
        if subprocess.run(["umount", mnt], capture_output=True).returncode:
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        os.rmdir(mnt)
    h.finish()


if __name__ == "__main__":
    main()
