"""test_hostile.py -- `ctspool append` on hostile input (issue 6, part 4).

Every file of tests/hostile/ (see its README.md for the expected outcome
of each), plus inputs generated here because they are too big to commit
(100 MB lines, hundreds of thousands of invalid lines), is appended by a
real `ctspool append` process to a fresh journal that already holds one
point.  For each input the test checks:

- the process exits with one of the documented codes, never by a signal,
  and with the code expected for that input;
- a rejection names the line / row / object and the field (a regular
  expression per input), on stderr lines that are valid UTF-8 without
  control characters (hostile bytes are shown escaped);
- a rejected input leaves the journal exactly as it was; an accepted one
  adds exactly the expected points;
- peak RSS (wait4's ru_maxrss) stays bounded: under 200 MiB for the
  streamed formats (NDJSON, CSV) whatever the input size, and under
  64 MiB for 100 MB of blanks on stdin (format detection reads ahead a
  bounded amount); the cloudthread format is read whole (documented),
  so its bound is a few times the input size.

Known bugs in code outside this test (reported, with the proposed fix)
are checked as XFAIL: they print and do not fail the suite unless
CTSPOOL_STRICT_KNOWN_BUGS=1; a fixed one prints XPASS.
"""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, finish  # noqa: E402

HOSTILE = os.path.join(harness.SOURCE_DIR, "tests", "hostile")
DOCUMENTED_EXITS = {0, 64, 65, 66, 69, 73, 74, 75, 78}
MIB = 1024 * 1024
STREAM_RSS_MAX = 200 * MIB
BLANK_RSS_MAX = 64 * MIB
STRICT = os.environ.get("CTSPOOL_STRICT_KNOWN_BUGS") == "1"


def is_asan_binary():
    try:
        with open(harness.BIN, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


ASAN = is_asan_binary()

# file: (exit code, points added, [regexes stderr must match]).  A
# rejection's regexes name the locator and the field.
CASES = {
    "invalid-utf8-name.ndjson":
        (65, 0, [r"line 1: metric_name: \"bad\\xff\\xfename\" is not valid "
                 r"UTF-8"]),
    "invalid-utf8-overlong.ndjson":
        (65, 0, [r"line 1: custom_dimensions: the value of key \"path\" is "
                 r"not valid UTF-8"]),
    "invalid-utf8-dim.csv":
        (65, 0, [r"line 2: custom_dimensions: the value of key \"region\" "
                 r"is not valid UTF-8"]),
    "lone-surrogate.ndjson": (65, 0, [r"line 1: invalid JSON"]),
    "nul-byte.ndjson": (65, 0, [r"line 1: .*NUL byte"]),
    "nul-escape.ndjson": (65, 0, [r"line 1: .*\\u0000 \(a NUL character\)"]),
    "nul-byte.csv": (65, 0, [r"line 2: metric_name: \"a\\x00b\" contains a "
                             r"NUL byte"]),
    "nul-byte.json": (65, 0, [r"object 1: .*NUL byte"]),
    "number-1e999.ndjson":
        (65, 0, [r"line 1: metric_value: \"1e999\" is out of range for a "
                 r"double"]),
    "number-1e999.csv":
        (65, 0, [r"line 2: metric_value: \"1e999\" is out of range"]),
    "number-1e999-string.json":
        (65, 0, [r"object 1, data\[0\]: metric_value: \"1e999\" is out of "
                 r"range"]),
    "number-nan.csv":
        (65, 0, [r"line 2: metric_value: \"NaN\" is not a finite number",
                 r"line 3: metric_value: \"-Infinity\" is not a finite"]),
    "timestamp-1e999.ndjson":
        (65, 0, [r"line 1: timestamp: is not a finite number"]),
    "minus-zero.ndjson": (0, 1, [r"appended 1 point:"]),
    "minus-zero.csv": (0, 1, [r"appended 1 point:"]),
    "deep-nesting.json": (65, 0, [r"object 1: invalid JSON"]),
    "deep-nesting-object.json": (65, 0, [r"object 1: invalid JSON"]),
    "deep-nesting.ndjson": (65, 0, [r"line 1: invalid JSON"]),
    "unbalanced-quote.csv": (65, 0, [r"line 2: unterminated quoted field"]),
    "stray-quote.csv":
        (65, 0, [r"line 2: a quote \(\"\) inside an unquoted field",
                 r"line 3: text after the closing quote"]),
    "repeated-header.csv":
        (65, 0, [r"line 3: metric_agg_func: \"metric_agg_func\" is not "
                 r"valid"]),
    "duplicate-column.csv":
        (65, 0, [r"line 1: CSV header columns 4 and 5 have the same name"]),
    "bom.csv": (0, 1, []),
    "bom.ndjson": (0, 1, []),
    "bom.json": (0, 1, []),
    "crlf.csv": (0, 2, []),
    "crlf.ndjson": (0, 2, []),
    "empty": (0, 0, [r"appended 0 points"]),
    "empty.csv": (0, 0, []),
    "empty.ndjson": (0, 0, []),
    "empty.json": (0, 0, []),
    "whitespace.csv": (0, 0, []),
    "whitespace.ndjson": (0, 0, []),
    "whitespace.json": (0, 0, []),
    "header-only.csv": (0, 0, []),
    "header-only-no-newline.csv": (0, 0, []),
    "binary-garbage": (65, 0, [r"line 1: "]),
    "trailing-garbage.json":
        (65, 0, [r"object 2 \(starting at byte offset 39\): invalid JSON"]),
    "too-many-dims.ndjson":
        (65, 0, [r"line 1: custom_dimensions: more than 10 pairs"]),
    "long-name.csv":
        (65, 0, [r"line 2: metric_name: .* is 257 bytes long; at most 256"]),
    "many-errors.ndjson":
        (65, 0, [r"line 100: metric_value: \"x\" is not a decimal number",
                 r"\.\.\. and 400 more invalid points"]),
    "controls-and-bidi.ndjson": (0, 1, []),
}

# Known bugs: file -> (expected outcome as CASES, what is wrong).
KNOWN_BUGS = {}

CASES["whitespace"] = (0, 0, [r"appended 0 points"])


class Result:
    pass


def run_append(env, args, stdin_path=None, timeout=600, stdin_pipe=False):
    """Runs `ctspool append ARGS` to completion with os.wait4; returns
    code (None if killed by a signal), signal, stdout, stderr (bytes),
    maxrss in bytes and seconds.  stdin_pipe: stdin_path arrives through
    a pipe (from cat), not as a regular file."""
    out_path = os.path.join(env.dir, "append.out")
    err_path = os.path.join(env.dir, "append.err")
    r = Result()
    t0 = time.time()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        feeder = None
        if stdin_path and stdin_pipe:
            feeder = subprocess.Popen(["cat", stdin_path],
                                      stdout=subprocess.PIPE)
            stdin = feeder.stdout
        else:
            stdin = (open(stdin_path, "rb") if stdin_path
                     else subprocess.DEVNULL)
        try:
            p = subprocess.Popen(env.cmd("append", *args), stdin=stdin,
                                 stdout=out, stderr=err)
        finally:
            if stdin_path:
                stdin.close()
        deadline = time.time() + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.time() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.01)
        p.returncode = 0  # reaped here; keep Popen from waiting again
        if feeder:
            feeder.kill()  # gone already unless append stopped reading
            feeder.wait()
    r.seconds = time.time() - t0
    r.signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    r.code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    r.maxrss = ru.ru_maxrss * 1024
    with open(out_path, "rb") as f:
        r.stdout = f.read()
    with open(err_path, "rb") as f:
        r.stderr = f.read()
    return r


def snapshot(env):
    """Everything `list` shows of the journal (all states)."""
    return sorted(json.dumps(p, sort_keys=True)
                  for p in env.list("--all"))


def seeded_env(name):
    env = harness.Env(name="hostile-" + re.sub(r"[^a-z0-9]+", "-", name))
    harness.append_points(env, [harness.point("seed_point", 1.5, 460000)])
    return env


def check_stderr_clean(what, r):
    try:
        text = r.stderr.decode("utf-8")
    except UnicodeDecodeError as e:
        check(False, "%s: stderr is not valid UTF-8 (%s)" % (what, e))
        return
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n") or
           0x7F <= ord(c) <= 0x9F]
    check(not bad, "%s: stderr holds control characters %r" %
          (what, sorted(set(bad))[:5]))


def check_outcome(what, r, exp_code, regexes, rss_max):
    """Common checks; returns True when the expected code came back."""
    ok = check(r.signal is None,
               "%s: killed by signal %s" % (what, r.signal))
    ok &= check(r.code in DOCUMENTED_EXITS,
                "%s: undocumented exit code %s" % (what, r.code))
    ok &= check(r.code == exp_code, "%s: exit %s, expected %d; stderr: %s" %
                (what, r.code, exp_code, r.stderr[-600:]))
    text = (r.stdout + r.stderr).decode("utf-8", "replace")
    for rx in regexes:
        ok &= check(re.search(rx, text) is not None,
                    "%s: output does not match /%s/: %s" %
                    (what, rx, text[-800:]))
    check_stderr_clean(what, r)
    ok &= check(r.maxrss < rss_max, "%s: peak RSS %.1f MiB over %.1f MiB" %
                (what, r.maxrss / MIB, rss_max / MIB))
    return ok


def print_result(name, r, ok):
    """One line per case: exit code, time, peak RSS, verdict."""
    print("%-34s exit %-3s %6.2fs  rss %6.1f MiB  %s" %
          (name, r.code, r.seconds, r.maxrss / MIB,
           "ok" if ok else "FAILED"))


def run_case(name, path, exp, args=(), stdin_path=None,
             rss_max=STREAM_RSS_MAX, stdin_pipe=False):
    """Appends path (or stdin_path on stdin) to a seeded journal and
    checks exp = (exit code, points added, regexes)."""
    exp_code, exp_added, regexes = exp
    env = seeded_env(name)
    try:
        before = snapshot(env)
        argv = list(args) + ([path] if path else [])
        r = run_append(env, argv, stdin_path=stdin_path,
                       stdin_pipe=stdin_pipe)
        ok = check_outcome(name, r, exp_code, regexes, rss_max)
        after = snapshot(env)
        if exp_added == 0:
            ok &= check(after == before,
                        "%s: the journal changed although nothing was "
                        "to be stored" % name)
        else:
            ok &= check(len(after) == len(before) + exp_added and
                        set(before) <= set(after),
                        "%s: %d points before, %d after, expected %d "
                        "added" % (name, len(before), len(after),
                                   exp_added))
        print_result(name, r, ok)
        return ok, after
    finally:
        env.cleanup()


def known_bug(name, path, exp, why):
    env = seeded_env(name)
    try:
        before = snapshot(env)
        r = run_append(env, [path])
        text = (r.stdout + r.stderr).decode("utf-8", "replace")
        fixed = (r.code == exp[0] and all(re.search(x, text) for x in exp[2])
                 and len(snapshot(env)) == len(before) + exp[1])
    finally:
        env.cleanup()
    report_known_bug(name, fixed, why)


def report_known_bug(name, fixed, why):
    if fixed:
        print("XPASS %s: fixed? remove it from KNOWN_BUGS (%s)" % (name, why))
    elif STRICT:
        check(False, "known bug %s: %s" % (name, why))
    else:
        print("XFAIL %s: known bug: %s" % (name, why))


# ---- the committed corpus ----------------------------------------------

def test_corpus():
    files = sorted(f for f in os.listdir(HOSTILE) if f != "README.md")
    for f in files:
        check(f in CASES or f in KNOWN_BUGS,
              "tests/hostile/%s has no expected outcome here" % f)
    for f in files:
        path = os.path.join(HOSTILE, f)
        if f in KNOWN_BUGS:
            known_bug(f, path, *KNOWN_BUGS[f])
            continue
        if f not in CASES:
            continue
        ok, after = run_case(f, path, CASES[f])
        if f.startswith("minus-zero") and ok:
            vals = [json.loads(p)["metric_value"] for p in after
                    if "minus_zero" in json.loads(p)["metric_name"]]
            check(vals == [0], "%s: -0 stored as %r, expected 0" % (f, vals))
    # The same bytes on stdin, format by content or by --format.
    run_case("nul-byte.ndjson on stdin", "-",
             CASES["nul-byte.ndjson"], args=("--format", "ndjson"),
             stdin_path=os.path.join(HOSTILE, "nul-byte.ndjson"))
    run_case("stray-quote.csv on stdin", None, CASES["stray-quote.csv"],
             stdin_path=os.path.join(HOSTILE, "stray-quote.csv"))
    # Content detection: only '{' first means JSON, so 100000 '[' on
    # stdin is taken as a CSV header (still rejected, exit 65).
    run_case("deep-nesting.json on stdin", None,
             (65, 0, [r"<stdin>: line 1: CSV header has no 'timestamp' "
                      r"column"]),
             stdin_path=os.path.join(HOSTILE, "deep-nesting.json"))
    run_case("deep-nesting.json --format cloudthread", "-",
             CASES["deep-nesting.json"], args=("--format", "cloudthread"),
             stdin_path=os.path.join(HOSTILE, "deep-nesting.json"))
    # One call, several inputs: a hostile one means nothing is stored.
    run_case("bom.ndjson + nul-byte.csv", os.path.join(HOSTILE,
                                                      "nul-byte.csv"),
             (65, 0, [r"nul-byte\.csv: line 2: metric_name"]),
             args=(os.path.join(HOSTILE, "bom.ndjson"),))
    # --skip-invalid stores the valid rows and still exits 65.
    run_case("repeated-header.csv --skip-invalid",
             os.path.join(HOSTILE, "repeated-header.csv"),
             (65, 2, [r"line 3: metric_agg_func", r"2 new",
                      r"1 invalid skipped"]),
             args=("--skip-invalid",))


# ---- generated inputs ----------------------------------------------------

def write_big(path, head, size, tail, fill=b"a"):
    chunk = (fill * (MIB // len(fill) + 1))[:MIB]
    with open(path, "wb") as f:
        f.write(head)
        for _ in range(size // MIB):
            f.write(chunk)
        f.write(tail)


def test_generated():
    tmp = harness.Env(name="hostile-gen")
    big = 100 * MIB
    try:
        after = (b'{"timestamp": "2022-10-01 06:00:00", "metric_name": '
                 b'"after", "metric_value": 2, "metric_agg_func": "Sum"}\n')
        path = os.path.join(tmp.dir, "line-100mb.ndjson")
        write_big(path, b'{"timestamp": "2022-10-01 05:00:00", '
                        b'"metric_value": 1, "metric_agg_func": "Sum", '
                        b'"metric_name": "', big, b'"}\n' + after)
        run_case("100 MB NDJSON line", path,
                 (65, 0, [r"line 1: line longer than 1 MiB"]))
        run_case("100 MB NDJSON line --skip-invalid", path,
                 (65, 1, [r"line 1: line longer than 1 MiB", r"1 new"]),
                 args=("--skip-invalid",))
        run_case("100 MB NDJSON line on stdin", None,
                 (65, 0, [r"<stdin>: line 1: line longer than 1 MiB"]),
                 stdin_path=path)
        os.unlink(path)

        path = os.path.join(tmp.dir, "record-100mb.csv")
        write_big(path, b"timestamp,metric_name,metric_value,"
                        b"metric_agg_func\n2022-10-01 05:00:00,\"", big,
                  b"\",1,Sum\n2022-10-01 06:00:00,after_csv,2,Sum\n")
        run_case("100 MB CSV record", path,
                 (65, 0, [r"line 2: record longer than 1 MiB"]))
        run_case("100 MB CSV record --skip-invalid", path,
                 (65, 1, [r"line 2: record longer than 1 MiB", r"1 new"]),
                 args=("--skip-invalid",))
        os.unlink(path)

        # A cloudthread element over 1 MiB is one invalid point; only the
        # string itself is held whole (yajl keeps a string in one piece).
        path = os.path.join(tmp.dir, "payload-100mb.json")
        write_big(path, b'{"metric_agg_func": "Sum", "data": [{"timestamp": '
                        b'"2022-10-01 05:00:00", "metric_value": 1, '
                        b'"metric_name": "', big, b'"}]}\n')
        run_case("100 MB cloudthread string", path,
                 (65, 0, [r"object 1, data\[0\]: longer than 1048576 "
                          r"bytes"]),
                 rss_max=(5 if ASAN else 3) * big + 128 * MIB)
        os.unlink(path)


        # An events document larger than the 64 MiB it used to be held
        # whole up to: read in bounded memory, from a file and on stdin
        # (spilled to a file), every event stored.
        path = os.path.join(tmp.dir, "events-76mb.json")
        n_events = 25000
        with open(path, "w") as f:
            f.write('{"data": [')
            for i in range(n_events):
                f.write(("," if i else "") + json.dumps(
                    {"timestamp": "2022-10-01 05:00:00", "team_id": 7,
                     "payload": {"type": "deploy",
                                 "description": "%07d" % i + "d" * 993,
                                 "event_url": "https://ci.example/" +
                                 "u" * 1982}}))
            f.write("]}\n")
        check(os.path.getsize(path) > 70 * MIB, "events document too small")
        for name, args, stdin in (
                ("76 MB events document", ("--kind", "events", path), None),
                ("76 MB events document on stdin",
                 ("--kind", "events", "--format", "cloudthread", "-"),
                 path)):
            # Counted by status: listing 76 MB of events would grow this
            # process, and wait4's peak RSS of the next children with it.
            env = seeded_env(name)
            try:
                r = run_append(env, list(args), stdin_path=stdin,
                               stdin_pipe=bool(stdin))
                # Under AddressSanitizer, freed memory waits in its
                # quarantine (256 MiB): what churns counts there.
                ok = check_outcome(name, r, 0,
                                   [r"appended %d" % n_events],
                                   STREAM_RSS_MAX + (256 * MIB if ASAN
                                                     else 0))
                got = env.status().get("pending_events")
                ok &= check(got == n_events, "%s: %r events pending, "
                            "expected %d" % (name, got, n_events))
                print_result(name, r, ok)
            finally:
                env.cleanup()
        os.unlink(path)

        # The NDJSON line bound, exactly: 1 MiB (with or without its CR)
        # is a line, one byte more is not, also as the last line.
        base = ('{"timestamp": "2022-10-01 05:00:00", "metric_name": '
                '"edge%d", "metric_value": 1, "metric_agg_func": "Sum"%s}')

        def sized(i, total):
            return base % (i, " " * (total - len(base % (i, ""))))
        path = os.path.join(tmp.dir, "edges.ndjson")
        with open(path, "w", newline="") as f:
            f.write(sized(1, MIB) + "\n" + sized(2, MIB) + "\r\n" +
                    sized(3, MIB + 1) + "\n" + sized(4, MIB - 1) + "\r\n" +
                    sized(5, 100) + "\n" + sized(6, MIB + 1))
        run_case("NDJSON lines around 1 MiB", path,
                 (65, 4, [r"line 3: line longer than 1 MiB",
                          r"line 6: line longer than 1 MiB", r"4 new"]),
                 args=("--skip-invalid",))
        os.unlink(path)

        # Only blanks on stdin: format detection (by content) reads ahead
        # a bounded amount whatever the size, and the answer is that of
        # any blank input: blank lines are no points; a line of 100 MB of
        # spaces is too long for NDJSON.
        path = os.path.join(tmp.dir, "blank-lines-100mb")
        write_big(path, b"", big, b"", fill=b" " * 1023 + b"\n")
        run_case("100 MB of blank lines on stdin", None,
                 (0, 0, [r"appended 0 points"]), stdin_path=path,
                 rss_max=BLANK_RSS_MAX)
        write_big(path, b"", big, b"", fill=b" ")
        run_case("100 MB of spaces on stdin", None,
                 (65, 0, [r"<stdin>: line 1: line longer than 1 MiB"]),
                 stdin_path=path, rss_max=BLANK_RSS_MAX)
        os.unlink(path)

        # Many invalid lines: errors are counted, not kept.
        path = os.path.join(tmp.dir, "invalid-lines.ndjson")
        with open(path, "w") as f:
            line = ('{"timestamp": "2022-10-01 05:00:00", "metric_name": '
                    '"m", "metric_value": "x"}\n')
            f.write(line * 200000)
        run_case("200000 invalid NDJSON lines", path,
                 (65, 0, [r"\.\.\. and 199900 more invalid points"]))
        os.unlink(path)
    finally:
        tmp.cleanup()


# ---- display of accepted hostile text --------------------------------------

def test_list_escapes_controls():
    """Valid UTF-8 may hold control characters (an accepted metric name);
    `ctspool list` must not send them raw to a terminal."""
    env = seeded_env("list-controls")
    try:
        name = "esc\x1b]0;pwned\x07\x1b[31mred"
        harness.append_points(env, [harness.point(name, 1, 460001)])
        r = subprocess.run(env.cmd("list"), capture_output=True, timeout=60)
        check(r.returncode == 0, "list exited %d" % r.returncode)
        raw = b"\x1b" in r.stdout or b"\x07" in r.stdout
        check(not raw, "list (table) prints control characters raw")
        check(b"\\x1b]0;pwned\\x07" in r.stdout,
              "list (table) shows them escaped: %r" % r.stdout[-200:])
        # The JSON form escapes them (cJSON).
        r = subprocess.run(env.cmd("list", "--json"), capture_output=True,
                           timeout=60)
        check(b"\x1b" not in r.stdout,
              "list --json prints a raw ESC character")
    finally:
        env.cleanup()


def large_documents(tmpdir):
    """A large payload document, from a file and through a pipe (copied
    to the journal's directory first), and with --follow (held in memory
    up to 8 MiB, then copied likewise): memory stays bounded, not a
    multiple of the document (README.md).  Counted with `status`, not
    listed: the test's own memory must stay small, as wait4() reports
    the largest of the test's RSS (before exec) and the child's."""
    n_doc = 200000
    path = os.path.join(tmpdir, "payload-large.json")
    with open(path, "w") as f:
        f.write('{"data": [')
        for i in range(n_doc):
            f.write('%s{"timestamp": "2022-10-%02d %02d:00:00", '
                    '"metric_name": "doc%d", "metric_value": %d, '
                    '"custom_dimensions": {"host": "edge-%d"}}' %
                    ("," if i else "", 1 + i // 24 % 28, i % 24,
                     i % 1000, i, i // 1000))
        f.write('], "metric_agg_func": "Sum"}\n')
    # Under ASan, freed memory waits in its quarantine (256 MiB) and has
    # shadow memory besides: the bound there only catches a runaway.
    rss_max = (1024 if ASAN else 64) * MIB
    for name, args, pipe in (
            ("%d-point cloudthread document" % n_doc, (path,), False),
            ("the same through a pipe", ("--format", "cloudthread", "-"),
             True),
            ("the same through a pipe, --follow",
             ("--follow", "--format", "cloudthread", "-"), True)):
        env = seeded_env(name)
        try:
            r = run_append(env, list(args),
                           stdin_path=path if pipe else None,
                           stdin_pipe=pipe)
            good = check_outcome(name, r, 0, [r"%d new" % n_doc], rss_max)
            pending = env.status()["pending_points"]
            good &= check(pending == n_doc + 1,
                          "%s: %d points pending, expected %d" %
                          (name, pending, n_doc + 1))
            good &= check(not [n for n in os.listdir(env.dir)
                               if n.startswith(".ctspool-tmp")],
                          "%s: a scratch file was left behind" % name)
            print_result(name, r, good)
        finally:
            env.cleanup()
    os.unlink(path)


def main():
    print("binary: %s%s" % (harness.BIN, " (ASan)" if ASAN else ""))
    # First: wait4() reports this process's own peak RSS as a floor.
    tmp = harness.Env(name="hostile-docs")
    try:
        large_documents(tmp.dir)
    finally:
        tmp.cleanup()
    test_corpus()
    test_generated()
    test_list_escapes_controls()
    finish()


if __name__ == "__main__":
    main()
