#!/usr/bin/env python3
"""test_drain_wake.py -- an idle drainer wakes when another process
commits: with upload.poll_ms = 5000, each point appended one at a time
reaches the receiver far sooner than the next poll would take it, also
after the journal was renamed away and a fresh one took its place (the
drainer watches the journal's directory for its -wal file)."""

import os
import statistics
import time

import harness as h

HOUR0 = 472000
POLL_MS = 5000
ROUNDS = 10


def one_by_one(env, mock, d, name, delays):
    """Appends ROUNDS points one at a time, each awaited at the
    receiver; the delay from append's exit to the receiver holding the
    point goes to delays."""
    for k in range(ROUNDS):
        h.wait_asleep(d, 10, "the drainer is idle before point %d" % k)
        p = h.point(name, k + 0.5, HOUR0, "Sum", {"k": str(k)})
        key = h.point_key(p)
        h.append_points(env, [p])
        t0 = time.time()
        if not h.wait_until(lambda: key in mock.points(), 15,
                            "%s point %d at the receiver" % (name, k),
                            interval=0.005):
            return
        delays.append(time.time() - t0)


def report(what, delays):
    if len(delays) < ROUNDS:
        return
    med = statistics.median(delays)
    print("%s: median %.3f s, max %.3f s" % (what, med, max(delays)))
    h.check(med < 1.0, "%s: median delivery %.3f s with poll_ms %d" %
            (what, med, POLL_MS))
    h.check(max(delays) < POLL_MS / 2000.0,
            "%s: slowest delivery %.3f s with poll_ms %d" %
            (what, max(delays), POLL_MS))


def run(env, mock):
    env.write_config(upload={"endpoint": mock.url, "poll_ms": POLL_MS})
    # The journal exists before the drainer starts, its -wal file not
    # necessarily: the watch is on the directory.
    d = h.start_logged(env, "drain")
    h.check(h.wait_for(lambda: "draining journal" in
                       h.read_text(d.log_path), 10),
            "the drainer did not start")
    delays = []
    one_by_one(env, mock, d, "wake", delays)
    report("appended one by one", delays)

    # Another process moves the journal aside (as a quarantine does) and
    # a fresh one takes its place: the drainer follows the path.
    h.wait_asleep(d, 10, "the drainer is idle before the rename")
    for sfx in ("", "-wal", "-shm"):
        if os.path.exists(env.journal + sfx):
            os.rename(env.journal + sfx,
                      env.journal + ".moved" + sfx)
    delays = []
    one_by_one(env, mock, d, "moved", delays)
    report("after the journal was renamed away", delays)
    return None


if __name__ == "__main__":
    h.drain_test("wake", run)
