#!/usr/bin/env python3
"""test_append_follow.py -- `ctspool append --follow -` on an endless pipe.

While the pipe stays open: three lines written are stored without more
input (the 200 ms commit); a line cut short is not stored until it is
whole; another `append` and `drain --once` work meanwhile (the journal's
write lock is not held while input is awaited); 2,500 lines written at
once all arrive, an invalid one among them listed on stderr and skipped.
Closing the pipe ends it: exit 65 (the invalid line) and the summary's
counts.  A second follower stopped by SIGTERM, right after it has read
its last lines (its /proc/PID/io says so), stores them and exits 0.  The
journal's final state is checked point by point, with each point's state.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HOUR0 = 472000
WAIT = 60  # seconds: a bound, never a delay


def ndjson(pts):
    return "".join(json.dumps(p) + "\n" for p in pts).encode()


class Follower:
    """`ctspool append --follow -` whose stdin the test writes."""

    def __init__(self, env, name):
        self.out_path = os.path.join(env.dir, name + ".out")
        self.err_path = os.path.join(env.dir, name + ".err")
        with open(self.out_path, "w") as out, \
                open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                env.cmd("append", "--follow", "-"), stdin=subprocess.PIPE,
                stdout=out, stderr=err)
        env.procs.append(self.proc)

    def write(self, data):
        fd = self.proc.stdin.fileno()
        while data:
            n = os.write(fd, data)
            data = data[n:]

    def rchar(self):
        """Bytes the process has read so far (any file), or None."""
        try:
            with open("/proc/%d/io" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("rchar:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def out(self):
        return h.read_text(self.out_path)

    def err(self):
        return h.read_text(self.err_path)


def stored(env):
    """{(record_id, timestamp): (value, state)} of the whole journal;
    empty while the follower has not created the journal yet."""
    if not os.path.exists(env.journal):
        return {}
    return {(r["record_id"], r["timestamp"]): (r["metric_value"], r["state"])
            for r in env.list("--all")}


def key(p):
    return (h.record_id(p["metric_name"], p["metric_agg_func"],
                        p["custom_dimensions"]), p["timestamp"])


def wait_stored(env, pts, what):
    want = {key(p): float(p["metric_value"]) for p in pts}

    def pred():
        got = stored(env)
        return all(k in got and got[k][0] == v for k, v in want.items())
    return h.wait_until(pred, WAIT, what, interval=0.05)


def main():
    env = h.Env("append-follow")
    try:
        mock = h.Mock(env)
        env.write_config(upload={"endpoint": mock.url})
        first = [h.point("f-first", i + 0.5, HOUR0 + i) for i in range(3)]
        cut = h.point("f-cut", 4.25, HOUR0, dims={"part": "two"})
        other = [h.point("other", i * 2.0, HOUR0 + i) for i in range(50)]
        many = [h.point("f-many", i + 0.25, HOUR0 + i % 24,
                        dims={"n": str(i)}) for i in range(2500)]

        # Three lines, the pipe kept open: stored by the 200 ms commit.
        f1 = Follower(env, "f1")
        f1.write(ndjson(first))
        wait_stored(env, first, "the first 3 lines are stored while the "
                    "pipe is open")
        h.check(f1.proc.poll() is None, "the follower still runs: " +
                f1.err())

        # A line cut short: waited for, with no lock held meanwhile.
        cut_line = ndjson([cut])
        f1.write(cut_line[:40])
        r = h.append_points(env, other)
        h.check("50 points: 50 new" in r.stdout, "another append stores "
                "its points meanwhile: " + r.stdout)
        d = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(d.returncode == 0, "drain --once works meanwhile: %d %s" %
                (d.returncode, d.stderr[-1500:]))
        exp_mock = {h.point_key(p): p["metric_value"] for p in first + other}
        h.compare_state(mock.points(), exp_mock, "receiver after the drain")
        h.check(key(cut) not in stored(env), "the line cut short is not "
                "stored")
        f1.write(cut_line[40:])
        wait_stored(env, [cut], "the line, once whole, is stored")

        # 2,500 lines at once, one invalid line among them (line 1205).
        bad = b'{"timestamp": 1, "metric_name": "f-bad"}\n'
        f1.write(ndjson(many[:1200]) + bad + ndjson(many[1200:]))
        wait_stored(env, many, "all 2,500 lines are stored")
        h.check(f1.proc.poll() is None, "the follower still runs")
        h.wait_until(lambda: "line 1205: " in f1.err(), WAIT,
                     "the invalid line is listed on stderr")

        # End of input: exit 65 for the invalid line, and the counts.
        f1.proc.stdin.close()
        try:
            rc = f1.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            rc = None
        h.check(rc == 65, "closing the pipe: exit 65, not %s: %s" %
                (rc, f1.err()))
        h.check("appended 2504 points: 2504 new, 0 updated, 0 unchanged; "
                "1 invalid skipped" in f1.out(), "summary: " + f1.out())
        h.check(f1.err().count("ctspool: append: ") == 1,
                "one rejection listed: " + f1.err())

        # SIGTERM once the last lines have been read: they are stored.
        more = [h.point("f-term", i + 0.75, HOUR0 + i) for i in range(5)]
        last = [h.point("f-last", 1.5, HOUR0), h.point("f-last", 2.5,
                                                       HOUR0 + 1),
                dict(first[0], metric_value=99.0)]  # an update
        f2 = Follower(env, "f2")
        f2.write(ndjson(more))
        wait_stored(env, more, "the second follower's lines are stored")
        before = f2.rchar()
        if before is None:
            h.skip_part("/proc/PID/io cannot be read here: the SIGTERM "
                        "case needs to see the lines read")
            f2.proc.stdin.close()
            f2.proc.wait(timeout=WAIT)
        else:
            data = ndjson(last)  # one write(2): one read(2) takes it all
            f2.write(data)
            h.wait_until(lambda: f2.rchar() >= before + len(data), WAIT,
                         "the follower reads its last lines")
            rc, _ = h.stop_proc(f2.proc, timeout=WAIT)
            h.check(rc == 0, "SIGTERM: exit 0, not %s: %s" % (rc, f2.err()))
            h.check("appended 8 points: 7 new, 1 updated, 0 unchanged\n"
                    == f2.out(), "summary: " + f2.out())
            h.check(key(last[0]) in stored(env), "the lines read before "
                    "SIGTERM are stored")
            more += last

        # The journal, point by point: drained ones acknowledged.
        exp = {}
        for p in first + other:
            exp[key(p)] = (float(p["metric_value"]), "acked")
        for p in [cut] + many + more:
            exp[key(p)] = (float(p["metric_value"]), "pending")
        h.compare_state(stored(env), exp, "journal")
    finally:
        env.cleanup()
    small_limit()
    h.finish()


def small_limit():
    """Under a limits.max_pending_points smaller than follow's pieces,
    follow commits pieces of at most half the limit: what fits is stored,
    then "spool full" (exit 75) with what is pending, not a piece too
    large to ever fit."""
    env = h.Env("follow-limit")
    try:
        env.write_config(limits={"max_pending_points": 100})
        pts = [h.point("lim%d" % i, float(i), 470000) for i in range(150)]
        r = env.run("append", "--follow", "--format", "ndjson", "-",
                    input=ndjson(pts).decode())
        h.check(r.returncode == 75 and
                "spool full: 100 points pending" in r.stderr,
                "follow past the limit: exit %d: %s" % (r.returncode,
                                                        r.stderr[-500:]))
        h.check(len(stored(env)) == 100, "100 points stored: %d" %
                len(stored(env)))
    finally:
        env.cleanup()


if __name__ == "__main__":
    main()
