"""test_drain_late_moved.py -- as test_drain_late, but the journal is
replaced under the drainer (found damaged, moved aside, a fresh one
started) while its late request may still land.  The newer value, noted
to send again in the damaged journal, comes into the fresh one by
salvage; the drainer must not send it before the late request can no
longer land (its in-doubt table named the old file's points), so
upstream ends with the newest value.
"""

import glob
import os
import sqlite3
import time

import harness as h

TIMEOUT_MS = 3000   # grace: 2 x 3 s after the timeout
HELD_MS = 6000      # upstream applies the first request this late: 3 s
                    # after the timeout, 3 s before the grace ends
FILLERS = 50        # delivered first: the point's series id differs in
                    # the fresh journal


def late_value(mock, hour):
    return mock.points().get(h.point_key(h.point("late", 0.0, hour)))


def damage_seqtime(path):
    """Garbage over the seqtime table's page (only producers' commits
    read it) once the -wal is checkpointed into the file."""
    c = sqlite3.connect(path, isolation_level=None)
    try:
        root = c.execute("SELECT rootpage FROM sqlite_master "
                         "WHERE name = 'seqtime'").fetchone()[0]
        size = c.execute("PRAGMA page_size").fetchone()[0]
        h.check(h.wait_for(lambda: c.execute(
            "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0, 10),
            "the -wal was checkpointed")
    finally:
        c.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * size)
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())


def run(env, mock):
    h.quick_drain_config(env, mock, TIMEOUT_MS)
    hour = int(time.time()) // 3600 - 1
    fillers = [h.point("filler%d" % k, 1.0, hour) for k in range(FILLERS)]
    after = h.point("after", 3.0, hour)
    h.append_points(env, fillers)
    d = h.start_logged(env, "drain")
    h.wait_pending(env, 0, 15)
    mock.fault(delay_ms=HELD_MS, delay_next=1)  # upstream slow once
    h.append_points(env, [h.point("late", 1.0, hour)])
    h.check(h.wait_for(lambda: "timed out" in h.read_text(d.log_path),
                       15), "the first request timed out")
    t_timeout = time.time()
    h.append_points(env, [h.point("late", 2.0, hour)])  # an update
    h.wait_pending(env, 0, 15)
    h.check(env.status().get("resend_points") == 1,
            "the ack of 2.0 noted the point to send again")

    # The journal is found damaged by the next append, which moves it
    # aside and stores its point in a fresh journal.
    damage_seqtime(env.journal)
    h.append_points(env, [after])
    h.check(glob.glob(env.journal + ".corrupt-*") or
            glob.glob(env.journal + ".salvaged-*"),
            "the damaged journal was moved aside")
    if time.time() - t_timeout > (HELD_MS - TIMEOUT_MS) / 1000.0 - 0.5:
        h.skip("the journal was replaced %.1f s after the timeout, too "
               "close to when the late request lands (a slow machine)" %
               (time.time() - t_timeout))
    # The late request lands (1.0) ...
    if not h.wait_for(lambda: late_value(mock, hour) == 1.0, 10):
        h.check(False, "the late request landed: %r" %
                late_value(mock, hour))
    # ... and 2.0, salvaged from the damaged journal, is sent after it.
    h.check(h.wait_for(lambda: late_value(mock, hour) == 2.0, 30),
            "newest value upstream: %r" % late_value(mock, hour))
    log = h.read_text(d.log_path)
    h.check("was replaced while 1 point was in doubt" in log,
            "the wait is logged: %s" % log[-1500:])
    h.check("1 of them to send again" in log,
            "the salvage brought the noted point: %s" % log[-1500:])
    h.wait_pending(env, 0, 15)
    return h.expected_state([fillers + [h.point("late", 2.0, hour), after]])


if __name__ == "__main__":
    h.drain_test("late_moved", run)
