#!/usr/bin/env python3
"""test_append_rejects.py -- `append --rejects FILE` (DESIGN.md section
4): each rejected input record is written to FILE as read, so that it
can be fixed and appended again:

- NDJSON: the rejected lines, byte for byte;
- CSV: the header, then the rejected rows, byte for byte (quotes, CRs
  and line breaks inside quotes as read), also across the reader's
  buffer refills and its parse helpers' jobs;
- Cloudthread: each rejected element of "data" as one NDJSON line with
  its payload's metric_agg_func and data_stream_token;
- with --skip-invalid the valid points are stored; without it nothing
  is, and FILE lists the rejects all the same;
- FILE is mode 0600 and truncated at each run; fixed, it appends
  cleanly; no rejects: an empty FILE;
- /dev/stderr (or /dev/stdout) is written through the stream itself:
  the log file it is redirected to keeps what it held and its mode.
"""

import json
import os
import stat
import subprocess

import harness as h

TOKEN = "doc-stream-token-0123456789-SECRETRJ"


def run(env, path, rejects, *flags):
    return h.run_logged(env, "append", "--rejects", rejects, *flags, path)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def check_common(env, name, good, bad_text, expect, fix, fmt_flags=()):
    """good: how many valid records; bad_text: the input; expect: the
    rejects file's exact text; fix: makes the rejects file valid."""
    path = os.path.join(env.dir, name)
    rej = os.path.join(env.dir, "rejects-" + name)
    with open(path, "w") as f:
        f.write(bad_text)
    with open(rej, "w") as f:
        f.write("stale content of an earlier run\n")
    os.chmod(rej, 0o644)

    # Without --skip-invalid: nothing stored, the rejects written anyway.
    r = run(env, path, rej, *fmt_flags)
    h.check(r.returncode == 65, "%s: exit %d: %s" % (name, r.returncode,
                                                     r.stderr))
    h.check(env.status()["pending_points"] == 0, "%s: nothing stored" % name)
    got = h.read_text(rej)
    h.check(got == expect, "%s: rejects without --skip-invalid:\n%r\n"
            "expected\n%r" % (name, got, expect))
    h.check(mode_of(rej) == 0o600, "%s: mode %o" % (name, mode_of(rej)))

    # With it: the valid points stored, the same rejects.
    r = run(env, path, rej, "--skip-invalid", *fmt_flags)
    h.check(r.returncode == 65 and "written to %s" % rej in r.stderr,
            "%s --skip-invalid: exit %d: %s" % (name, r.returncode, r.stderr))
    h.check(env.status()["pending_points"] == good,
            "%s: %d valid stored: %r" % (name, good, env.status()))
    h.check(h.read_text(rej) == expect, "%s: rejects: %r" %
            (name, h.read_text(rej)))

    # Fixed, they append cleanly; the rejects file is then empty.
    with open(rej) as f:
        fixed = fix(f.read())
    # A Cloudthread document's rejects are NDJSON: named so for auto.
    fixed_path = os.path.join(env.dir, "fixed-" + name.replace(
        ".json", ".ndjson"))
    with open(fixed_path, "w") as f:
        f.write(fixed)
    r = run(env, fixed_path, rej, *fmt_flags)
    h.check(r.returncode == 0, "%s fixed: exit %d: %s" %
            (name, r.returncode, r.stderr))
    h.check(h.read_text(rej) == "", "%s: no rejects: %r" %
            (name, h.read_text(rej)))
    return env.status()["pending_points"]


def part_ndjson():
    env = h.Env("append-rejects-ndjson")
    try:
        ok = json.dumps(h.point("ok", 1, 475000))
        bad1 = '{"timestamp": "yesterday", "metric_name": "b",  ' \
               '"metric_value": 2, "metric_agg_func": "Sum"}'
        bad2 = 'not json at all'
        text = ok + "\n" + bad1 + "\n" + bad2 + "\n"
        n = check_common(env, "in.ndjson", 1, text,
                         bad1 + "\n" + bad2 + "\n",
                         lambda t: t.replace("yesterday",
                                             "2024-01-01 10:00:00")
                         .replace("not json at all\n", ""))
        h.check(n == 2, "ndjson: the fixed line stored: %d" % n)
    finally:
        env.cleanup()


def part_ndjson_crlf():
    """A CRLF line is rejected with its CR: byte for byte."""
    env = h.Env("append-rejects-crlf")
    try:
        ok = json.dumps(h.point("ok", 1, 475000)).encode()
        bad = b'{"timestamp": 1, "metric_name": "b", "metric_value": 2, ' \
              b'"metric_agg_func": "Sum"}'
        path = os.path.join(env.dir, "crlf.ndjson")
        rej = os.path.join(env.dir, "crlf.rej")
        with open(path, "wb") as f:
            f.write(ok + b"\r\n" + bad + b"\r\n" + bad + b"\n")
        r = run(env, path, rej, "--skip-invalid")
        h.check(r.returncode == 65, "crlf: exit %d: %s" % (r.returncode,
                                                          r.stderr))
        with open(rej, "rb") as f:
            got = f.read()
        want = bad + b"\r\n" + bad + b"\n"
        h.check(got == want, "crlf: rejects %r, expected %r" % (got, want))
        h.check(env.status()["pending_points"] == 1, "crlf: the valid one")
    finally:
        env.cleanup()


def csv_row(k, bad):
    """Row k of part_csv_raw's input as bytes, in one of several shapes
    (quoting, CRLF, a line break inside quotes); bad: an invalid value."""
    value = b"oops" if bad else b"%d" % k
    shape = k % 5
    if shape == 0:
        return b"2024-01-01 10:00:00,m%d,%s,Sum,eu\n" % (k, value)
    if shape == 1:
        return b'"2024-01-01 10:00:00","m%d","%s","Sum","eu"\r\n' % (k, value)
    if shape == 2:
        return b'2024-01-01 10:00:00,"m%d, ""q""",%s,Sum,"a\r\nb"\n' % (
            k, value)
    if shape == 3:
        return b"2024-01-01 10:00:00,m%d,%s,Sum,\r\n" % (k, value)
    return b'2024-01-01 10:00:00,m%d,%s,Sum,"x\ny"\r\n' % (k, value)


def part_csv_raw():
    """Rejected rows come back as read, byte for byte, from a small input
    and from one of 60,000 rows (buffer refills, parse helpers)."""
    env = h.Env("append-rejects-csv-raw")
    try:
        header = b"timestamp,metric_name,metric_value,metric_agg_func,region"
        for n_rows in (12, 60000):
            body, want, good = [], [header + b"\r\n"], 0
            for k in range(n_rows):
                bad = k % 7 == 3 or k % 1009 == 0
                row = csv_row(k, bad)
                body.append(row)
                if bad:
                    want.append(row if row.endswith(b"\n") else row + b"\n")
                else:
                    good += 1
                if k % 11 == 5:
                    body.append(b"\n")  # a blank line: not a record
            # The last record without its line end.
            last = b'2024-01-01 10:00:00,"last",oops,Sum,eu'
            body.append(last)
            want.append(last + b"\n")
            path = os.path.join(env.dir, "raw-%d.csv" % n_rows)
            rej = path + ".rej"
            with open(path, "wb") as f:
                f.write(b"\xef\xbb\xbf" + header + b"\r\n" + b"".join(body))
            r = run(env, path, rej, "--skip-invalid")
            h.check(r.returncode == 65, "raw %d: exit %d: %s" %
                    (n_rows, r.returncode, r.stderr[-500:]))
            with open(rej, "rb") as f:
                got = f.read()
            exp = b"".join(want)
            if got != exp:
                at = next((i for i in range(min(len(got), len(exp)))
                           if got[i] != exp[i]), min(len(got), len(exp)))
                h.check(False, "raw %d: rejects differ at byte %d: %r, "
                        "expected %r" % (n_rows, at, got[at - 40:at + 40],
                                         exp[at - 40:at + 40]))
            h.check(env.status()["pending_points"] >= good,
                    "raw %d: the valid rows stored" % n_rows)
    finally:
        env.cleanup()


def part_csv():
    env = h.Env("append-rejects-csv")
    try:
        text = ("timestamp,metric_name,metric_value,metric_agg_func,region\n"
                "2024-01-01 10:00:00,ok,1,Sum,eu\n"
                "2024-01-01 10:00:00,\"b, with comma\",oops,Sum,\"us \"\"w\"\"\"\n"
                "2024-01-01 10:00:00,c,3,Median,eu\n")
        expect = ("timestamp,metric_name,metric_value,metric_agg_func,region\n"
                  "2024-01-01 10:00:00,\"b, with comma\",oops,Sum,"
                  "\"us \"\"w\"\"\"\n"
                  "2024-01-01 10:00:00,c,3,Median,eu\n")
        n = check_common(env, "in.csv", 1, text, expect,
                         lambda t: t.replace("oops", "2")
                         .replace("Median", "Maximum"))
        h.check(n == 3, "csv: the fixed rows stored: %d" % n)
        rows = {r["metric_name"]: r for r in env.list()}
        h.check(rows.get("b, with comma", {}).get("custom_dimensions") ==
                {"region": 'us "w"'}, "quoting survived: %r" %
                rows.get("b, with comma"))
    finally:
        env.cleanup()


def part_cloudthread():
    env = h.Env("append-rejects-cloudthread")
    try:
        text = ('{"metric_agg_func": "Average", "data_stream_token": "%s",\n'
                ' "data": [\n'
                '  {"timestamp": "2024-01-01 10:00:00", "metric_name": "ok",'
                ' "metric_value": 1},\n'
                '  {"timestamp": "2024-01-01 10:00:00",\n'
                '   "metric_name": "bad", "metric_value": "x"},\n'
                '  {}\n'
                ' ]}\n' % TOKEN)
        expect = ('{"metric_agg_func":"Average","data_stream_token":"%s",'
                  '"timestamp": "2024-01-01 10:00:00",    "metric_name": '
                  '"bad", "metric_value": "x"}\n'
                  '{"metric_agg_func":"Average","data_stream_token":"%s"}\n'
                  % (TOKEN, TOKEN))

        def fix(t):
            lines = [json.loads(l) for l in t.splitlines()]
            lines[0]["metric_value"] = 5
            lines[1].update(timestamp="2024-01-01 11:00:00",
                            metric_name="was-empty", metric_value=6)
            return "".join(json.dumps(l) + "\n" for l in lines)
        n = check_common(env, "in.json", 1, text, expect, fix,
                         fmt_flags=("--format", "auto"))
        h.check(n == 3, "cloudthread: the fixed elements stored: %d" % n)
        rows = {r["metric_name"]: r for r in env.list()}
        h.check(rows.get("bad", {}).get("metric_agg_func") == "Average" and
                rows.get("bad", {}).get("stream") == "****" + TOKEN[-4:],
                "stream and aggregation kept: %r" % rows.get("bad"))
    finally:
        env.cleanup()


def part_cannot_create():
    env = h.Env("append-rejects-create")
    try:
        path = os.path.join(env.dir, "in.ndjson")
        with open(path, "w") as f:
            f.write(json.dumps(h.point("ok", 1, 475000)) + "\n")
        r = run(env, path, os.path.join(env.dir, "no-dir", "rejects"))
        h.check(r.returncode == 73 and "no-dir" in r.stderr,
                "uncreatable FILE: exit %d: %s" % (r.returncode, r.stderr))
        h.check(env.run("status").returncode in (0, 66),
                "status runs")
    finally:
        env.cleanup()


def part_never_over():
    """--rejects never writes over the journal's files or an input (64,
    both intact); an existing file keeps its owner (mode 0600 as any)."""
    env = h.Env("append-rejects-taken")
    try:
        h.append_points(env, [h.point("kept", 1, 475000)])
        path = os.path.join(env.dir, "in.ndjson")
        text = json.dumps(h.point("in", 2, 475001)) + "\n"
        with open(path, "w") as f:
            f.write(text)
        size = os.path.getsize(env.journal)
        for target, what in ((env.journal, "the journal's"),
                             (env.journal + "-wal", "the journal's"),
                             (path, "an input")):
            if not os.path.exists(target):
                continue
            r = run(env, path, target)
            h.check(r.returncode == 64 and what in r.stderr,
                    "--rejects %s: exit %d: %s" % (target, r.returncode,
                                                   r.stderr))
        h.check(os.path.getsize(env.journal) >= size and
                [p["metric_name"] for p in env.list()] == ["kept"],
                "the journal is intact")
        with open(path) as f:
            h.check(f.read() == text, "the input is intact")
        other = os.path.join(env.dir, "other")
        with open(other, "w") as f:
            f.write("old\n")
        os.chmod(other, 0o640)
        owner = (65534, 65534) if os.geteuid() == 0 else None
        if owner:
            os.chown(other, *owner)
        r = run(env, path, other)
        st = os.stat(other)
        h.check(r.returncode == 0 and mode_of(other) == 0o600 and
                st.st_size == 0 and
                (owner is None or (st.st_uid, st.st_gid) == owner),
                "an existing FILE is truncated, its owner kept: exit %d, "
                "mode %o, owner %d:%d: %s" %
                (r.returncode, mode_of(other), st.st_uid, st.st_gid,
                 r.stderr))
    finally:
        env.cleanup()


def part_std_stream():
    """--rejects /dev/stderr with stderr appended to a log file (and
    /dev/stdout likewise): the file keeps its lines and mode, the rejected
    line follows them."""
    env = h.Env("append-rejects-std")
    try:
        path = os.path.join(env.dir, "in.ndjson")
        bad = '{"timestamp":"x","metric_name":"m","metric_value":1}'
        # 60 more, of 175 bytes: more than the stream's buffer, so a row
        # written in halves would be cut by the message about it.
        more = ['{"timestamp":"x","metric_name":"m%02d","metric_value":1,'
                '"custom_dimensions":{"h":"%s"}}' % (k, "h" * 100)
                for k in range(60)]
        with open(path, "w") as f:
            f.write(bad + "\n" + "".join(m + "\n" for m in more))
        for dev, fd in (("/dev/stderr", "stderr"), ("/dev/stdout", "stdout")):
            log = os.path.join(env.dir, fd + ".log")
            with open(log, "w") as f:
                f.write("earlier line 1\nearlier line 2\n")
            os.chmod(log, 0o644)
            with open(log, "a") as f:
                r = subprocess.run(
                    env.cmd("append", "--rejects", dev, "--agg", "Sum",
                            path),
                    stdout=f if fd == "stdout" else subprocess.DEVNULL,
                    stderr=f if fd == "stderr" else subprocess.DEVNULL,
                    timeout=60)
            text = h.read_text(log)
            h.check(r.returncode == 65 and
                    text.startswith("earlier line 1\nearlier line 2\n") and
                    bad + "\n" in text and mode_of(log) == 0o644,
                    "--rejects %s into a log: exit %d, mode %o: %r" %
                    (dev, r.returncode, mode_of(log), text[:2000]))
            lines = set(text.split("\n"))
            cut = [m for m in more if m not in lines]
            h.check(not cut, "--rejects %s: %d rows not whole on a line "
                    "of their own, e.g. %r" % (dev, len(cut),
                                               cut[:1]))
    finally:
        env.cleanup()


if __name__ == "__main__":
    part_std_stream()
    part_ndjson()
    part_ndjson_crlf()
    part_csv()
    part_csv_raw()
    part_cloudthread()
    part_cannot_create()
    part_never_over()
    h.finish()
