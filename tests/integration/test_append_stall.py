#!/usr/bin/env python3
"""test_append_stall.py -- a slow producer cannot stall the host.

`ctspool append -` reading from a pipe that stays open (a producer that
has written part of its input and then waits) must not hold the
journal's write lock: meanwhile another `append` stores its points,
`serve` answers an ingest request, and `drain --once` uploads and
acknowledges everything else.  Once the pipe closes, the slow append
stores all of its points in one transaction, and the receiver's final
state equals every point appended, point by point.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HOUR0 = 471000


def main():
    env = h.Env("append-stall")
    slow = None
    try:
        mock = h.Mock(env)
        env.write_config(upload={"endpoint": mock.url})
        srv = h.Serve(env, upload={"endpoint": mock.url})
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())

        slow_pts = [h.point("slow", i + 0.5, HOUR0 + i) for i in range(300)]
        slow = subprocess.Popen(env.cmd("append", "--format", "ndjson", "-"),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        env.procs.append(slow)
        half = len(slow_pts) // 2
        for p in slow_pts[:half]:
            slow.stdin.write(json.dumps(p) + "\n")
        slow.stdin.flush()

        # While the slow producer's pipe stays open:
        other = [h.point("other", i * 2.0, HOUR0 + i) for i in range(200)]
        path = os.path.join(env.dir, "other.ndjson")
        with open(path, "w") as f:
            f.write("".join(json.dumps(p) + "\n" for p in other))
        try:
            r = h.run_logged(env, "append", path, timeout=60)
            h.check(r.returncode == 0, "another append stores its points: "
                    + r.stderr)
        except subprocess.TimeoutExpired:
            h.check(False, "another append waits for the slow one")
            h.finish()
        st, _, _ = srv.post(h.ingest_payload(
            [h.data_point("served", 7.25, HOUR0)]), timeout=60)
        h.check(st == 201, "serve answers while the pipe is open "
                "(%s)" % st)
        d = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(d.returncode == 0, "drain --once uploads and acknowledges "
                "meanwhile: %d %s" % (d.returncode, d.stderr[-1500:]))
        h.check(slow.poll() is None, "the slow append is still reading")
        got = mock.points()
        h.check(len(got) == len(other) + 1,
                "the receiver has the other points (%d of %d)" %
                (len(got), len(other) + 1))
        h.check(env.status()["pending_points"] == 0,
                "nothing of the slow append is stored before its input ends")

        rest = "".join(json.dumps(p) + "\n" for p in slow_pts[half:])
        out, err = slow.communicate(input=rest, timeout=120)
        h.check(slow.returncode == 0, "the slow append exits 0: %s" % err)
        h.check("300 points" in out, "it reports its points: " + out)

        d = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(d.returncode == 0, "second drain: %s" % d.stderr[-1500:])
        exp = {h.point_key(p): p["metric_value"] for p in other + slow_pts}
        exp[(h.STREAM, h.record_id("served", "Sum", {}),
             h.hour_str(HOUR0))] = 7.25
        h.compare_state(mock.points(), exp)
    finally:
        if slow and slow.poll() is None:
            slow.kill()
            slow.wait(timeout=10)
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    main()
