#!/usr/bin/env python3
"""test_log_format.py -- the log lines of real processes (DESIGN.md
section 7).

  logfmt   every line of `serve` is `ts=... level=... component=...
           msg=...`, the message quoted and escaped as logfmt says.
  json     with log_format = "json" every line of `drain --once` is one
           JSON object with exactly ts, level, component and msg; a
           SIGHUP that sets log_format switches a running `serve`.
  level    --log-level beats $CTSPOOL_LOG_LEVEL, which beats log_level,
           also across a SIGHUP; a bad --log-level exits 64, a bad
           $CTSPOOL_LOG_LEVEL 78, a bad log_format 78, each saying what
           is wrong.
  outage   the first upload that succeeds after failed ones logs
           "recovered after N s, M points waiting"."""

import http.client
import json
import re
import signal

import harness as h

HOUR = 472000
LEVELS = ("error", "warn", "info", "debug")
LOGFMT_RE = re.compile(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z '
                       r'level=(error|warn|info|debug) component=([a-z-]+) '
                       r'msg=([^ "=\\]+|"(?:[^"\\\x00-\x1f]|\\.)*")$')


def logfmt_lines(text, what):
    """[(level, component, msg)] of text; each line must be logfmt."""
    out = []
    for line in text.splitlines():
        m = LOGFMT_RE.match(line)
        h.check(m is not None, "%s: not a logfmt line: %r" % (what, line))
        if m:
            msg = m.group(3)
            if msg.startswith('"'):
                msg = json.loads(msg)  # the escapes used are JSON's too
            out.append((m.group(1), m.group(2), msg))
    return out


def json_lines(text, what):
    """[{ts, level, component, msg}] of text; each line must be one."""
    out = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        h.check(isinstance(obj, dict) and
                set(obj) == {"ts", "level", "component", "msg"} and
                all(isinstance(v, str) for v in obj.values()) and
                obj["level"] in LEVELS,
                "%s: not a JSON log line: %r" % (what, line))
        if isinstance(obj, dict):
            out.append(obj)
    return out


def start_serve(env, top, env_vars=None, port=None):
    """serve with the config top-level overrides top; (proc, port)."""
    port = port or h.free_port()
    env.write_config(top=top, server={"listen": "127.0.0.1:%d" % port,
                                      "api_keys": [h.SERVE_KEY]})
    p = h.start_logged(env, "serve", env_vars=env_vars, name="serve")
    h.wait_until(lambda: "listening on" in h.read_text(p.log_path) or
                 p.poll() is not None, 30, "serve listening")
    return p, port


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path)
        return c.getresponse().status
    finally:
        c.close()


def test_serve():
    """logfmt, the environment's level over the config's, then a SIGHUP
    to JSON that keeps the environment's level."""
    env = h.Env("log-serve")
    try:
        p, port = start_serve(env, {"log_level": "error"},
                              {"CTSPOOL_LOG_LEVEL": "debug"})
        h.check(get(port, "/healthz") == 200, "healthz answers 200")
        h.wait_until(lambda: "/healthz -> 200" in h.read_text(p.log_path),
                     30, "debug line of GET /healthz")
        lines = logfmt_lines(h.read_text(p.log_path), "serve")
        h.check(any(l[0] == "info" and l[2].startswith("listening on")
                    for l in lines),
                "info line 'listening on' despite log_level = error: %r"
                % lines)
        h.check(("debug", "serve", "GET /healthz -> 200") in lines,
                "debug line of the request: %r" % lines)
        h.check(all(l[1] == "serve" for l in lines), "component=serve")

        before = len(h.read_text(p.log_path).splitlines())
        start_cfg = {"log_level": "error", "log_format": "json"}
        env.write_config(top=start_cfg,
                         server={"listen": "127.0.0.1:%d" % port,
                                 "api_keys": [h.SERVE_KEY]})
        p.send_signal(signal.SIGHUP)
        h.wait_until(lambda: "configuration reloaded" in
                     h.read_text(p.log_path), 30, "SIGHUP reload line")
        h.check(get(port, "/healthz") == 200, "healthz after SIGHUP")
        h.wait_until(lambda: h.read_text(p.log_path).count(
            "/healthz -> 200") >= 2, 30, "debug line after SIGHUP")
        rc, _ = h.stop_proc(p)
        h.check(rc == 0, "serve exits 0 on SIGTERM: %s" % rc)
        after = "\n".join(h.read_text(p.log_path).splitlines()[before:])
        objs = json_lines(after, "serve after SIGHUP")
        h.check(any(o["msg"].startswith("SIGHUP: configuration reloaded")
                    for o in objs), "reload line in JSON: %r" % objs)
        h.check(any(o["level"] == "debug" and
                    o["msg"] == "GET /healthz -> 200" for o in objs),
                "the environment's debug level outlasts the SIGHUP: %r"
                % objs)
    finally:
        env.cleanup()


def test_drain_json():
    env = h.Env("log-drain")
    try:
        mock = h.Mock(env)
        top = {"log_format": "json", "log_level": "debug"}
        env.write_config(top=top, upload={"endpoint": mock.url})
        h.append_points(env, [h.point("m%d" % i, i, HOUR)
                              for i in range(5)])
        r = env.run("drain", "--once", timeout=120,
                    env={"CTSPOOL_LOG_LEVEL": "info"})
        h.check(r.returncode == 0, "drain --once: %d %s" %
                (r.returncode, r.stderr[-2000:]))
        objs = json_lines(r.stderr, "drain --once")
        h.check(len(objs) >= 1, "drain --once logs: %r" % r.stderr)
        h.check(all(o["component"] == "drain" for o in objs),
                "component drain: %r" % objs)
        h.check(all(o["level"] != "debug" for o in objs),
                "CTSPOOL_LOG_LEVEL=info beats log_level debug: %r" % objs)
        h.check(all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
                             o["ts"]) for o in objs), "ts format: %r" % objs)
        h.check(len(mock.points()) == 5,
                "the 5 points arrived")
        # --log-level beats the environment.
        h.append_points(env, [h.point("n", 1, HOUR)])
        r = env.run("--log-level", "error", "drain", "--once", timeout=120,
                    env={"CTSPOOL_LOG_LEVEL": "debug"})
        h.check(r.returncode == 0 and r.stderr == "",
                "--log-level error over CTSPOOL_LOG_LEVEL=debug: %d %r" %
                (r.returncode, r.stderr))
    finally:
        env.cleanup()


def test_bad_values():
    env = h.Env("log-bad")
    try:
        h.append_points(env, [h.point("m", 1, HOUR)])
        r = env.run("--log-level", "loud", "status")
        h.check(r.returncode == 64 and "--log-level" in r.stderr and
                "loud" in r.stderr and r.stdout == "",
                "bad --log-level: %d %r" % (r.returncode, r.stderr))
        r = env.run("status", env={"CTSPOOL_LOG_LEVEL": "loud"})
        h.check(r.returncode == 78 and "CTSPOOL_LOG_LEVEL" in r.stderr and
                "loud" in r.stderr and r.stdout == "",
                "bad CTSPOOL_LOG_LEVEL: %d %r" % (r.returncode, r.stderr))
        r = env.run("--log-level", "debug", "status",
                    env={"CTSPOOL_LOG_LEVEL": "loud"})
        h.check(r.returncode == 0, "--log-level wins over a bad "
                "CTSPOOL_LOG_LEVEL: %d %r" % (r.returncode, r.stderr))
        r = env.run("status", env={"CTSPOOL_LOG_LEVEL": ""})
        h.check(r.returncode == 0, "empty CTSPOOL_LOG_LEVEL is unset: "
                "%d %r" % (r.returncode, r.stderr))
        env.write_config(top={"log_format": "xml"})
        r = env.run("check-config")
        h.check(r.returncode == 78 and "log_format" in r.stderr and
                env.config in r.stderr,
                "bad log_format: %d %r" % (r.returncode, r.stderr))
    finally:
        env.cleanup()


def test_drain_recovered():
    """After failed uploads, the first success logs the outage's end."""
    env = h.Env("log-recovered")
    try:
        mock = h.Mock(env)
        env.write_config(upload={"endpoint": mock.url})
        h.append_points(env, [h.point("r%d" % i, i, HOUR)
                              for i in range(3)])
        mock.fault(fail_next=2, fail_status=429)
        r = env.run("drain", "--once", timeout=120)
        h.check(r.returncode == 0, "drain --once after 2 x 429: %d %s" %
                (r.returncode, r.stderr[-2000:]))
        lines = logfmt_lines(r.stderr, "drain --once")
        failed = [i for i, l in enumerate(lines) if "failed" in l[2]]
        rec = [i for i, l in enumerate(lines)
               if l[2].startswith("recovered after")]
        h.check(len(failed) == 2 and len(rec) == 1 and rec[0] > failed[-1],
                "one 'recovered' line after the 2 failures: %r" % lines)
        if rec:
            level, _, msg = lines[rec[0]]
            h.check(level == "info" and re.match(
                r"^recovered after \d+ s, 0 points waiting$", msg),
                "recovered line: %r" % (lines[rec[0]],))
        # No failure, no such line.
        h.append_points(env, [h.point("r", 9, HOUR)])
        r = env.run("drain", "--once", timeout=120)
        h.check(r.returncode == 0 and "recovered after" not in r.stderr,
                "no outage, no 'recovered': %d %r" %
                (r.returncode, r.stderr))
    finally:
        env.cleanup()


def main():
    test_bad_values()
    test_drain_json()
    test_serve()
    test_drain_recovered()
    h.finish()


if __name__ == "__main__":
    main()
