"""test_append.py -- `ctspool append`, `status`, `list` as real processes.

Formats, atomicity (including SIGKILL in the middle of a large append),
concurrent writers, exit codes and messages of DESIGN.md section 4.
"""

import json
import os
import random
import signal
import sqlite3
import subprocess

from harness import (STREAM, Env, check, finish, hour_str, record_id,
                     skip_part, wait_until)

H0 = 492000  # an hour number in 2026


def ndjson_lines(n, series=100, name="m", start=H0, value=lambda i: i):
    out = []
    for i in range(n):
        out.append(json.dumps({
            "timestamp": (start + i // series) * 3600,
            "metric_name": name, "metric_agg_func": "Sum",
            "metric_value": value(i),
            "custom_dimensions": {"series": str(i % series), "host": "h1"}}))
    return "\n".join(out) + "\n"


def listed(env, *flags):
    """{(record_id, timestamp): (value, state)} of `list --json`."""
    return {(p["record_id"], p["timestamp"]): (p["metric_value"], p["state"])
            for p in env.list(*flags)}


def test_formats_and_identity():
    env = Env("formats")
    try:
        payload = {"data_stream_token": STREAM, "metric_agg_func": "Maximum",
                   "data": [{"timestamp": "2026-01-02 03:00:00",
                             "metric_name": "lat", "metric_value": 1.5,
                             "custom_dimensions": {"b": "2", "a": "1"}}]}
        nd = json.dumps({"timestamp": "2026-01-02T04:00:00Z",
                         "metric_name": "cpu", "metric_value": "0.1",
                         "metric_agg_func": "Average"}) + "\n"
        csv = ("timestamp,metric_name,metric_value,metric_agg_func,zone\n"
               "2026-01-02 05:00:00,rows,7,Minimum,\"x,y\"\n"
               "1767330000,rows,8,Minimum,\n")
        for name, text in (("p.json", json.dumps(payload)),
                           ("p.ndjson", nd), ("p.csv", csv)):
            path = os.path.join(env.dir, name)
            with open(path, "w") as f:
                f.write(text)
            r = env.run("append", path)
            check(r.returncode == 0, "append %s: %d %s" % (
                name, r.returncode, r.stderr))
            check("new" in r.stdout, "summary printed: " + r.stdout)
        got = listed(env)
        want = {
            (record_id("lat", "Maximum", {"a": "1", "b": "2"}),
             "2026-01-02 03:00:00"): (1.5, "pending"),
            (record_id("cpu", "Average", {}),
             "2026-01-02 04:00:00"): (0.1, "pending"),
            (record_id("rows", "Minimum", {"zone": "x,y"}),
             "2026-01-02 05:00:00"): (7, "pending"),
            (record_id("rows", "Minimum", {}),
             "2026-01-02 05:00:00"): (8, "pending"),
        }
        check(got == want, "list matches exactly: %r" % (got,))
        # Secrets: the stream is masked in list output.
        r = env.run("list", "--json")
        check(STREAM not in r.stdout, "stream token masked in list")
        # Re-import: unchanged, nothing becomes pending again.
        r = env.run("append", os.path.join(env.dir, "p.csv"))
        check(r.returncode == 0 and "2 unchanged" in r.stdout,
              "re-append unchanged: " + r.stdout)
        st = env.status()
        check(st["pending_points"] == 4, "pending 4: %r" % st)
        for k in ("acked_points", "dead_letters", "journal_bytes",
                  "oldest_pending_age_s", "last_upload_ok_at",
                  "last_upload_error"):
            check(k in st, "status has " + k)
        # The group waiting longest, its token masked.
        check(st.get("oldest_pending_group") in
              ["****%s/%s" % (STREAM[-4:], agg)
               for agg in ("Maximum", "Average", "Minimum")],
              "status names the group waiting longest: %r" %
              st.get("oldest_pending_group"))
    finally:
        env.cleanup()


def test_atomic_and_skip_invalid():
    env = Env("atomic")
    try:
        good = json.dumps({"timestamp": "2026-01-02 03:00:00",
                           "metric_name": "ok", "metric_value": 1,
                           "metric_agg_func": "Sum"})
        bad = json.dumps({"timestamp": "2026-01-02 03:30:00",
                          "metric_name": "bad", "metric_value": 1,
                          "metric_agg_func": "Sum"})
        text = good + "\n" + bad + "\n" + good.replace("ok", "ok2") + "\n"
        r = env.run("append", "--format", "ndjson", "-", input=text)
        check(r.returncode == 65, "invalid input exits 65: %d" %
              r.returncode)
        check("line 2" in r.stderr and "timestamp" in r.stderr,
              "error names line and field: " + r.stderr)
        check("nothing stored" in r.stderr, "says nothing stored")
        check(env.list() == [], "nothing stored")
        r = env.run("append", "--format", "ndjson", "--skip-invalid", "-",
                    input=text)
        check(r.returncode == 65, "--skip-invalid still exits 65")
        names = sorted(p["metric_name"] for p in env.list())
        check(names == ["ok", "ok2"], "valid points stored: %r" % names)
        # Wrong-case aggregation function gets a hint.
        r = env.run("append", "--format", "ndjson", "-",
                    input=good.replace('"Sum"', '"sum"'))
        check(r.returncode == 65 and '"Sum"' in r.stderr,
              "hint for case: " + r.stderr)
        # Missing file: 66, and nothing from the other file is stored.
        p = os.path.join(env.dir, "one.ndjson")
        with open(p, "w") as f:
            f.write(good.replace("ok", "third") + "\n")
        r = env.run("append", p, os.path.join(env.dir, "missing.csv"))
        check(r.returncode == 66, "missing file exits 66: %d" % r.returncode)
        check("missing.csv" in r.stderr, "names the missing file")
        check(len(env.list()) == 2, "nothing stored on 66")
        # An input that cannot be read at all is not called a point.
        hdr = os.path.join(env.dir, "semi.csv")
        with open(hdr, "w") as f:
            f.write("timestamp;metric_name;metric_value\n1;m;1\n")
        r = env.run("append", p, hdr)
        check(r.returncode == 65, "unreadable input exits 65: %d" %
              r.returncode)
        check("1 input could not be read; nothing stored" in r.stderr and
              "invalid point" not in r.stderr and
              "columns are separated by ','" in r.stderr,
              "unreadable input message: " + r.stderr)
        r = env.run("append", "--skip-invalid", p, hdr)
        check(r.returncode == 65 and
              "appended 1 point: 1 new, 0 updated, 0 unchanged; "
              "1 input not read" in r.stdout,
              "--skip-invalid with an unreadable input: %d %s" %
              (r.returncode, r.stdout))
        # A UTF-16 file is named as such, and nothing of the others is
        # stored (whatever --skip-invalid says).
        n = len(env.list())
        u16 = os.path.join(env.dir, "u16.csv")
        with open(u16, "wb") as f:
            f.write("timestamp,metric_name,metric_value\r\n"
                    "2026-01-02 03:00:00,m,1\r\n".encode("utf-16"))
        with open(p.replace("one", "two"), "w") as f:
            f.write(good.replace("ok", "fourth") + "\n")
        r = env.run("append", "--agg", "Sum", "--skip-invalid",
                    p.replace("one", "two"), u16)
        check(r.returncode == 65 and "u16.csv: the input is UTF-16" in
              r.stderr and len(env.list()) == n,
              "UTF-16 input named, nothing stored: %d %s" %
              (r.returncode, r.stderr))
        with open(u16, "rb") as f:
            u16_bytes = f.read()
        # Through a pipe, its format found by its content or given.
        for fmt in ([], ["--format", "csv"], ["--format", "ndjson"],
                    ["--format", "cloudthread"]):
            r = subprocess.run(env.cmd("append", "--agg", "Sum", *fmt, "-"),
                               input=u16_bytes, capture_output=True,
                               timeout=60)
            check(r.returncode == 65 and b"the input is UTF-16" in r.stderr
                  and len(env.list()) == n,
                  "UTF-16 through a pipe named (%s): %d %r" %
                  (fmt, r.returncode, r.stderr))
        # UTF-32 in either byte order is named so, with the iconv that
        # reads it (-f UTF-16 garbles it), as a file and through a pipe.
        text = "timestamp,metric_name,metric_value\n2026-01-02 03:00:00,m,1\n"
        for enc in ("utf-32-le", "utf-32-be"):
            wide = "\ufeff".encode(enc) + text.encode(enc)
            u32 = os.path.join(env.dir, enc + ".csv")
            with open(u32, "wb") as f:
                f.write(wide)
            r = env.run("append", "--agg", "Sum", u32)
            check(r.returncode == 65 and "the input is UTF-32" in r.stderr
                  and "iconv -f UTF-32 -t UTF-8" in r.stderr,
                  "%s file named: %d %s" % (enc, r.returncode, r.stderr))
            for fmt in ([], ["--format", "csv"], ["--format", "ndjson"]):
                r = subprocess.run(env.cmd("append", "--agg", "Sum", *fmt,
                                           "-"), input=wide,
                                   capture_output=True, timeout=60)
                check(r.returncode == 65 and b"the input is UTF-32" in
                      r.stderr and len(env.list()) == n,
                      "%s through a pipe named (%s): %d %r" %
                      (enc, fmt, r.returncode, r.stderr))
    finally:
        env.cleanup()


def test_exit_codes_config_and_full():
    env = Env("codes")
    try:
        env.write_config(upload={"batch_max_pointz": 5})
        r = env.run("status")
        check(r.returncode == 78, "config error exits 78: %d" % r.returncode)
        check("batch_max_pointz" in r.stderr and env.config in r.stderr,
              "message names file and key: " + r.stderr)
        env.write_config(limits={"max_pending_points": 10})
        r = env.run("append", "--format", "ndjson", "-",
                    input=ndjson_lines(5))
        check(r.returncode == 0, "5 fit: " + r.stderr)
        r = env.run("append", "--format", "ndjson", "-",
                    input=ndjson_lines(6, name="more"))
        check(r.returncode == 75, "spool full exits 75: %d" % r.returncode)
        check("spool full" in r.stderr, "says spool full: " + r.stderr)
        check(len(env.list()) == 5, "stored points kept after spool full")
        # More new points than the limit takes at all: 65, not "later".
        r = env.run("append", "--format", "ndjson", "-",
                    input=ndjson_lines(20, name="more"))
        check(r.returncode == 65 and "split it" in r.stderr,
              "over the limit by itself exits 65: %d %s" %
              (r.returncode, r.stderr))
        check(len(env.list()) == 5, "stored points kept after that")
        env.write_config(top={"journal": os.path.join(env.dir, "no", "j.db")})
        r = env.run("append", "--format", "ndjson", "-",
                    input=ndjson_lines(1))
        check(r.returncode == 73, "missing directory exits 73: %d" %
              r.returncode)
        check("does not exist" in r.stderr, r.stderr)
        r = env.run("status")
        check(r.returncode == 66, "status of a missing journal exits 66: "
              "%d" % r.returncode)
        r = env.run("append", "--bogus")
        check(r.returncode == 64, "usage exits 64")
    finally:
        env.cleanup()


def io_bytes(pid):
    """{"read": n, "written": n}: bytes process pid has read and written
    so far (/proc/PID/io), or None where the kernel does not say."""
    try:
        with open("/proc/%d/io" % pid) as f:
            io = dict(line.split(": ") for line in f.read().splitlines())
        return {"read": int(io["rchar"]), "written": int(io["wchar"])}
    except (OSError, KeyError, ValueError):
        return None


def test_sigkill_mid_append_all_or_nothing():
    env = Env("kill")
    try:
        big = os.path.join(env.dir, "big.ndjson")
        with open(big, "w") as f:
            f.write(ndjson_lines(300000, series=1000))
        size = os.path.getsize(big)
        rng = random.Random(7)
        outcomes = set()
        for attempt in range(6):
            # The moment of the kill: once the append has read part of
            # its input, or written part of its transaction (a limit
            # past its end lets it finish).
            if rng.random() < 0.5:
                what, limit = "read", int(size * rng.uniform(0.05, 0.95))
            else:
                what, limit = "written", rng.randint(1, 24) << 20
            p = env.start("append", big)
            seen = {}

            def reached():
                seen["io"] = io_bytes(p.pid)
                return (p.poll() is not None or seen["io"] is None or
                        seen["io"][what] >= limit)
            wait_until(reached, 120, "append %d: %s %d bytes" %
                       (attempt, what, limit), interval=0.002)
            if seen.get("io") is None and p.poll() is None:
                skip_part("no /proc/PID/io: the kill moments are not "
                          "chosen")
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
            st = env.status()
            n = st["pending_points"]
            check(n in (0, 300000), "all or nothing after kill: %d" % n)
            outcomes.add(n)
            if n:
                break
        # The journal still works, and a full append completes.
        r = env.run("append", big)
        check(r.returncode == 0, "append after kills: " + r.stderr)
        check(env.status()["pending_points"] == 300000, "all present")
        db = sqlite3.connect(env.journal, timeout=30)
        try:
            res = db.execute("PRAGMA integrity_check").fetchall()
        finally:
            db.close()
        check(res == [("ok",)], "integrity_check: %r" % res[:3])
        print("kill outcomes seen: %r" % sorted(outcomes))
    finally:
        env.cleanup()


def test_four_concurrent_writers():
    env = Env("concurrent")
    try:
        files = []
        for w in range(4):
            p = os.path.join(env.dir, "w%d.ndjson" % w)
            with open(p, "w") as f:
                f.write(ndjson_lines(50000, series=500, name="w%d" % w))
            files.append(p)
        procs = [env.start("append", p) for p in files]
        for p in procs:
            out, err = p.communicate(timeout=600)
            check(p.returncode == 0, "writer exit %d" % p.returncode)
            check(err.strip() == "", "no error printed: " + err[:300])
        st = env.status()
        check(st["pending_points"] == 200000,
              "all 200000 present: %r" % st["pending_points"])
        got = listed(env, "--pending")
        check(len(got) == 200000, "list shows 200000 distinct points")
    finally:
        env.cleanup()


if __name__ == "__main__":
    test_formats_and_identity()
    test_atomic_and_skip_invalid()
    test_exit_codes_config_and_full()
    test_sigkill_mid_append_all_or_nothing()
    test_four_concurrent_writers()
    finish()
