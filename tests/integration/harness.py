"""harness.py -- shared helpers for ctspool's integration tests.

Each test gets a fresh temporary directory with its own journal and
config file, runs the real `ctspool` binary (CTSPOOL_BIN) and the real
mock Cloudthread receiver (CTSPOOL_MOCK_BIN), and checks results point by
point.  Only 127.0.0.1 is used.  Every wait is bounded.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.environ.get("CTSPOOL_BIN", "build/ctspool")
MOCK_BIN = os.environ.get("CTSPOOL_MOCK_BIN",
                          "build/tests/mock/ctspool-mock-receiver")
SOURCE_DIR = os.environ.get(
    "CTSPOOL_SOURCE_DIR",
    os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

API_KEY = "test-api-key-0123456789-SECRETKEY"
STREAM = "stream-token-abcdefghij-SECRETTOK"

_failures = []


def check(cond, msg):
    """Records a failed check (the test continues) and prints it."""
    if not cond:
        _failures.append(msg)
        print("FAIL: " + msg, file=sys.stderr)
    return cond


def finish():
    """Exit status of the test: 0 only when no check failed."""
    if _failures:
        print("%d check(s) failed" % len(_failures), file=sys.stderr)
        sys.exit(1)
    print("ok")
    sys.exit(0)


def cfg_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return "%dL" % v if abs(v) > 2**31 - 1 else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(cfg_value(x) for x in v) + "]"
    return json.dumps(v)


class Env:
    """A temporary directory with a journal and a config file."""

    def __init__(self, name="ctspool", **cfg):
        self.dir = tempfile.mkdtemp(prefix="ctspool-it-%s-" % name)
        self.journal = os.path.join(self.dir, "journal.db")
        self.config = os.path.join(self.dir, "ctspool.cfg")
        self.procs = []
        self.write_config(**cfg)

    def write_config(self, top=None, upload=None, server=None, limits=None):
        """Writes the config; each argument is a dict of overrides."""
        t = {"journal": self.journal, "durability": "full",
             "log_level": "info"}
        t.update(top or {})
        u = {"data_stream_token": STREAM, "api_key": API_KEY,
             "retry_base_ms": 50, "retry_max_ms": 1000, "poll_ms": 50}
        u.update(upload or {})
        s = dict(server or {})
        lim = dict(limits or {})
        lines = ["%s = %s;" % (k, cfg_value(v)) for k, v in t.items()]
        for group, d in (("upload", u), ("server", s), ("limits", lim)):
            if d:
                lines.append("%s: {" % group)
                lines += ["  %s = %s;" % (k, cfg_value(v))
                          for k, v in d.items()]
                lines.append("};")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.config, 0o600)

    def cmd(self, *args):
        return [BIN, "--config", self.config] + [str(a) for a in args]

    def run(self, *args, input=None, timeout=300, env=None):
        """Runs ctspool to completion; returns CompletedProcess (text)."""
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(self.cmd(*args), input=input,
                              capture_output=True, text=True,
                              timeout=timeout, env=e)

    def start(self, *args, env=None, stdout=None, stderr=None):
        """Starts ctspool in the background; stopped by cleanup()."""
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.Popen(self.cmd(*args), env=e,
                             stdout=stdout or subprocess.PIPE,
                             stderr=stderr or subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def status(self):
        r = self.run("status", "--json")
        if r.returncode != 0:
            raise RuntimeError("status failed: " + r.stderr)
        return json.loads(r.stdout)

    def list(self, *flags):
        r = self.run("list", "--json", *flags)
        if r.returncode != 0:
            raise RuntimeError("list failed: " + r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines() if line]

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Mock:
    """The mock Cloudthread receiver, started on an ephemeral port."""

    def __init__(self, env, *flags, api_keys=(API_KEY,), tokens=()):
        self.port_file = os.path.join(env.dir, "mock.port")
        self.state_file = os.path.join(env.dir, "mock-state.json")
        args = [MOCK_BIN, "--listen", "127.0.0.1:0", "--port-file",
                self.port_file, "--state-file", self.state_file, "--quiet"]
        for k in api_keys:
            args += ["--api-key", k]
        for t in tokens:
            args += ["--token", t]
        args += list(flags)
        self.log = open(os.path.join(env.dir, "mock.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        env.procs.append(self.proc)
        deadline = time.time() + 10
        while not os.path.exists(self.port_file):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("mock receiver did not start")
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read().strip())
        self.base = "http://127.0.0.1:%d" % self.port
        self.url = self.base + "/streams/ingest"

    def _req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read().decode())

    def fault(self, **knobs):
        return self._req("POST", "/_mock/fault", knobs)

    def reset(self):
        return self._req("POST", "/_mock/reset", {})

    def state(self):
        return self._req("GET", "/_mock/state")

    def counters(self):
        return self._req("GET", "/_mock/counters")

    def points(self):
        """{(token, record_id, timestamp): value} of the receiver."""
        return {(p["data_stream_token"], p["record_id"], p["timestamp"]):
                p["metric_value"] for p in self.state()["points"]}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


def record_id(name, agg, dims):
    """Reference record ID (DESIGN.md section 2), independent of C code."""
    import hashlib
    import struct

    def item(s):
        b = s.encode("utf-8")
        return struct.pack(">I", len(b)) + b

    enc = item(name) + item(agg)
    for k in sorted(dims, key=lambda k: k.encode("utf-8")):
        enc += item(k) + item(dims[k])
    return hashlib.sha256(enc).hexdigest()


def hour_str(h):
    return time.strftime("%Y-%m-%d %H:00:00", time.gmtime(h * 3600))


def wait_for(pred, timeout, interval=0.05):
    """Polls pred() until true or timeout seconds pass; returns pred()."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()
