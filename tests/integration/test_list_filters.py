#!/usr/bin/env python3
"""test_list_filters.py -- the filters of `ctspool list` (DESIGN.md
section 4): --stream, --metric, --agg, --kind, --since (inclusive),
--until (exclusive) and --limit, alone and combined with each other and
with --pending/--acked/--all and --json.

Points over three streams, three metrics, three aggregation functions
and six hours, some acknowledged (drained to the mock receiver), the
rest pending.  Every filtered listing must be exactly the rows of the
unfiltered one that match, in the same order: nothing missing, nothing
extra.  Bad filter values are usage errors (exit 64) naming the option.
No output shows a whole stream token.
"""

import calendar
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

S2 = "stream-second-0123456789-SECRET2222"
S3 = "stream-third-0123456789-SECRET3333"
STREAMS = [h.STREAM, S2, S3]
MASK = {"****" + s[-4:]: s for s in STREAMS}
HOUR0 = 493100
METRICS = ["cpu", "mem", "disk"]
AGGS = ["Sum", "Average", "Maximum"]


def ts(hour):
    return h.hour_str(hour)


def batch(phase, hours):
    pts = []
    n = 0
    for si, s in enumerate(STREAMS):
        for mi, m in enumerate(METRICS):
            for ai, a in enumerate(AGGS):
                # Not every combination: the filters must tell them apart.
                if (si + mi + ai) % 2:
                    continue
                for hr in hours:
                    n += 1
                    pts.append(h.point(m, n, HOUR0 + hr, agg=a,
                                       dims={"phase": phase}, stream=s))
    return pts


def run_list(env, *flags):
    r = env.run("list", *flags)
    for s in STREAMS + [h.API_KEY]:
        h.check(s not in r.stdout and s not in r.stderr,
                "list %s: shows a whole secret" % " ".join(flags))
    return r


def rows(env, *flags):
    r = run_list(env, "--json", *flags)
    h.check(r.returncode == 0, "list %s: exit %d: %s" %
            (" ".join(flags), r.returncode, r.stderr))
    return [json.loads(x) for x in r.stdout.splitlines() if x]


def key(r):
    return (r["state"], r["stream"], r["record_id"], r["timestamp"])


def expect(env, full, flags, pred):
    got = [key(r) for r in rows(env, *flags)]
    want = [key(r) for r in full if pred(r)]
    h.check(got == want, "list %s: %d rows, want %d; extra %s, "
            "missing %s" % (" ".join(flags), len(got), len(want),
                            sorted(set(got) - set(want))[:3],
                            sorted(set(want) - set(got))[:3]))
    return want


def hour_of(r):
    t = time.strptime(r["timestamp"], "%Y-%m-%d %H:%M:%S")
    return calendar.timegm(t) // 3600 - HOUR0


def test_filters():
    env = h.Env("list-filters")
    try:
        mock = h.Mock(env)
        env.write_config(upload={"endpoint": mock.url})
        acked = batch("a", range(0, 3))
        h.append_points(env, acked)
        d = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(d.returncode == 0, "drain --once: %d %s" %
                (d.returncode, d.stderr[-1500:]))
        pending = batch("p", range(0, 6))
        h.append_points(env, pending)

        full = rows(env)
        h.check(len(full) == len(acked) + len(pending),
                "unfiltered: %d rows, want %d" %
                (len(full), len(acked) + len(pending)))
        n_pend = sum(1 for r in full if r["state"] == "pending")
        h.check(n_pend == len(pending), "pending rows: %d, want %d" %
                (n_pend, len(pending)))
        h.check(all(r["stream"] in MASK for r in full),
                "every row's stream is one of the masks")
        h.check(all(r["state"] in ("pending", "acked") for r in full),
                "only pending and acknowledged rows")

        # Single filters.
        for s in STREAMS:
            m = "****" + s[-4:]
            w = expect(env, full, ["--stream", s],
                       lambda r, m=m: r["stream"] == m)
            h.check(len(w) > 0, "stream %s has rows" % m)
        expect(env, full, ["--stream", "stream-absent-0123456789-XXXX"],
               lambda r: False)
        expect(env, full, ["--stream", S2[:-1]], lambda r: False)
        for m in METRICS:
            expect(env, full, ["--metric", m],
                   lambda r, m=m: r["metric_name"] == m)
        expect(env, full, ["--metric", "CPU"], lambda r: False)
        for a in AGGS + ["Minimum"]:
            expect(env, full, ["--agg", a],
                   lambda r, a=a: r["metric_agg_func"] == a)
        expect(env, full, ["--kind", "points"], lambda r: True)
        expect(env, full, ["--kind", "events"], lambda r: False)
        expect(env, full, ["--since", ts(HOUR0 + 2)],
               lambda r: hour_of(r) >= 2)
        expect(env, full, ["--until", ts(HOUR0 + 2)],
               lambda r: hour_of(r) < 2)
        expect(env, full, ["--since", ts(HOUR0 + 1), "--until",
                           ts(HOUR0 + 4)],
               lambda r: 1 <= hour_of(r) < 4)
        expect(env, full, ["--since", ts(HOUR0 + 3), "--until",
                           ts(HOUR0 + 3)], lambda r: False)
        # The other timestamp forms of the input.
        iso = ts(HOUR0 + 1).replace(" ", "T") + "Z"
        expect(env, full, ["--since", iso, "--until",
                           str((HOUR0 + 5) * 3600)],
               lambda r: 1 <= hour_of(r) < 5)

        # Combined, also with the state options.
        expect(env, full, ["--pending", "--stream", S2, "--agg", "Sum"],
               lambda r: r["state"] == "pending" and
               r["stream"] == "****2222" and r["metric_agg_func"] == "Sum")
        expect(env, full, ["--acked", "--metric", "mem", "--since",
                           ts(HOUR0 + 1)],
               lambda r: r["state"] == "acked" and
               r["metric_name"] == "mem" and hour_of(r) >= 1)
        w = expect(env, full, ["--all", "--stream", S3, "--metric", "disk",
                               "--agg", "Maximum", "--until",
                               ts(HOUR0 + 2)],
                   lambda r: r["stream"] == "****3333" and
                   r["metric_name"] == "disk" and
                   r["metric_agg_func"] == "Maximum" and hour_of(r) < 2)
        h.check(len(w) == 4, "the combination matches 2 hours of both "
                "phases (%d rows)" % len(w))
        expect(env, full, ["--stream", h.STREAM, "--metric", "mem",
                           "--agg", "Average", "--kind", "points"],
               lambda r: r["stream"] == "****" + h.STREAM[-4:] and
               r["metric_name"] == "mem" and
               r["metric_agg_func"] == "Average")
        expect(env, full, ["--stream", h.STREAM, "--kind", "events"],
               lambda r: False)

        # --limit: the first N rows, across the states too.
        for n in (1, 3, n_pend, n_pend + 2, len(full), len(full) + 5):
            got = [key(r) for r in rows(env, "--limit", str(n))]
            h.check(got == [key(r) for r in full[:n]],
                    "--limit %d: %d rows, the first ones" % (n, len(got)))
        got = [key(r) for r in rows(env, "--acked", "--limit", "2",
                                    "--metric", "cpu")]
        want = [key(r) for r in full if r["state"] == "acked" and
                r["metric_name"] == "cpu"][:2]
        h.check(got == want and len(got) == 2, "--acked --limit 2 "
                "--metric cpu: %s" % got)

        # The table: a header, then one line per row.
        r = run_list(env, "--stream", S2, "--agg", "Sum", "--limit", "2")
        lines = r.stdout.splitlines()
        h.check(r.returncode == 0 and len(lines) == 3 and
                lines[0].startswith("KIND") and
                all("****2222" in x for x in lines[1:]),
                "table: header and 2 rows: %r" % r.stdout)
        r = run_list(env, "--kind", "events")
        h.check(r.returncode == 0 and r.stdout.splitlines()[1:] == [],
                "table --kind events: the header only: %r" % r.stdout)
    finally:
        env.cleanup()


BAD = [
    (["--agg", "Median"], "--agg"),
    (["--agg", ""], "--agg"),
    (["--agg", "maximum"], "--agg"),
    (["--limit", "0"], "--limit"),
    (["--limit", "-1"], "--limit"),
    (["--limit", "+3"], "--limit"),
    (["--limit", "3x"], "--limit"),
    (["--limit", ""], "--limit"),
    (["--limit", "99999999999999999999999"], "--limit"),
    (["--since", "2026-13-01 00:00:00"], "--since"),
    (["--since", "2026-01-01 00:30:00"], "--since"),
    (["--until", "yesterday"], "--until"),
    (["--until", ""], "--until"),
    (["--kind", "metrics"], "--kind"),
    (["--stream", ""], "--stream"),
    (["--metric", ""], "--metric"),
    (["--limit"], "--limit"),
]


def test_usage():
    env = h.Env("list-usage")
    try:
        h.append_points(env, [h.point("cpu", 1, HOUR0)])
        for flags, opt in BAD:
            for extra in ([], ["--json"]):
                r = run_list(env, *(extra + flags))
                what = " ".join(extra + flags)
                h.check(r.returncode == 64, "list %s: exit %d (want 64)" %
                        (what, r.returncode))
                h.check(opt in r.stderr, "list %s: message names %s: %r" %
                        (what, opt, r.stderr))
                h.check(r.stdout == "", "list %s: printed %r" %
                        (what, r.stdout))
        r = run_list(env, "--help")
        for opt in ("--stream", "--metric", "--agg", "--kind", "--since",
                    "--until", "--limit", "inclusive", "exclusive"):
            h.check(opt in r.stdout, "list --help mentions %s" % opt)
    finally:
        env.cleanup()


if __name__ == "__main__":
    test_filters()
    test_usage()
    h.finish()
