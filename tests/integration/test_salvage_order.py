#!/usr/bin/env python3
"""test_salvage_order.py -- quarantined journals are salvaged newest
first (DESIGN.md section 11).  Every point of a set quarantined later was
written after every point of an older set, and salvage adds only what
the journal does not hold; so salvaging the older set first would keep
its older value of a point.  `ctspool salvage OLDER` salvages the newer
sets first by itself (and says so); the drainer's auto_salvage takes the
newest first.  The receiver must end with the newest value of each
point."""

import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HOUR0 = 474000


def quarantined(env):
    return sorted(f for f in glob.glob(env.journal + ".corrupt-*")
                  if not f.endswith(("-wal", "-shm")))


def quarantine(env):
    """Zeroes the journal's header; `status` then moves the set aside."""
    before = set(quarantined(env))
    with open(env.journal, "r+b") as f:
        f.write(b"\0" * 100)
    h.run_logged(env, "status")
    new = set(quarantined(env)) - before
    h.check(len(new) == 1, "status quarantined the damaged journal: %s" %
            sorted(new))


def stored(env, name):
    r = h.run_logged(env, "list", "--json")
    h.check(r.returncode == 0, "list --json: " + r.stderr)
    vals = [json.loads(line)["metric_value"] for line in r.stdout.splitlines()
            if line.strip() and json.loads(line)["metric_name"] == name]
    return vals


def main():
    def body(env, mock):
        env.write_config(upload={"endpoint": mock.url})
        # By hand: two sets of the point p, 1 then 2; the older named.
        h.append_points(env, [h.point("p", 1.0, HOUR0)])
        quarantine(env)
        h.append_points(env, [h.point("p", 2.0, HOUR0)])
        quarantine(env)
        older, newer = quarantined(env)[0], quarantined(env)[1]
        r = h.run_logged(env, "salvage", older)
        h.check(r.returncode == 0, "salvage of the older set: %d %s" %
                (r.returncode, r.stderr))
        h.check("salvaging %s first" % newer in r.stdout,
                "salvage says it takes the newer set first: " + r.stdout)
        h.check(quarantined(env) == [], "both sets are salvaged: %s" %
                quarantined(env))
        h.check(stored(env, "p") == [2.0], "the journal holds p = 2: %s" %
                stored(env, "p"))

        # The drainer, by itself: q is 3, then 4, in two sets.
        h.append_points(env, [h.point("q", 3.0, HOUR0)])
        quarantine(env)
        h.append_points(env, [h.point("q", 4.0, HOUR0)])
        quarantine(env)
        d = h.run_logged(env, "drain", "--once")
        h.check(d.returncode == 0, "drain --once: %d %s" % (d.returncode,
                                                            d.stderr))
        h.check(quarantined(env) == [], "the drainer salvaged both sets")
        return h.expected_state([[h.point("p", 2.0, HOUR0),
                                  h.point("q", 4.0, HOUR0)]])

    h.drain_test("salvage-order", body)


if __name__ == "__main__":
    main()
