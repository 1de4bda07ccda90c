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
import socket
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

# ctest reports a test that exits with this code as skipped
# (SKIP_RETURN_CODE in tests/CMakeLists.txt).
SKIP_CODE = 77

_failures = []
_skipped = []


def check(cond, msg):
    """Records a failed check (the test continues) and prints it."""
    if not cond:
        _failures.append(msg)
        print("FAIL: " + msg, file=sys.stderr)
    return cond


def skip_part(reason):
    """Part of the test cannot run here: says why; the test goes on, and
    finish() then exits SKIP_CODE (unless a check failed): a test that
    did not run whole does not pass."""
    _skipped.append(reason)
    print("SKIPPED: " + reason)


def skip(reason):
    """The test cannot run (any further) here: says why and ends it, as
    Skipped, or as failed if a check already failed."""
    skip_part(reason)
    finish()


def finish():
    """Exit status of the test: 1 if a check failed, else SKIP_CODE if a
    part could not run, else 0."""
    if _failures:
        print("%d check(s) failed" % len(_failures), file=sys.stderr)
        sys.exit(1)
    if _skipped:
        print("skipped: %d part(s) could not run here" % len(_skipped))
        sys.exit(SKIP_CODE)
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

    def write_config(self, top=None, upload=None, server=None, limits=None,
                     health=None, drain=None):
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
        for group, d in (("upload", u), ("server", s), ("limits", lim),
                         ("health", dict(health or {})),
                         ("drain", dict(drain or {}))):
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
        if not wait_for(lambda: os.path.exists(self.port_file) or
                        self.proc.poll() is not None, 10, 0.02) or \
                not os.path.exists(self.port_file):
            raise RuntimeError("mock receiver did not start")
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


def fill_fs(path):
    """Writes zeros to the new file path until its file system is full."""
    chunk = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError:
                break
    finally:
        os.close(fd)


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


def wait_until(pred, timeout, what, interval=0.05):
    """wait_for(), and a failed check naming what was awaited (and how
    long) when pred() is still false at the deadline."""
    if wait_for(pred, timeout, interval):
        return True
    return check(False, "still not so after %.1f s: %s" % (timeout, what))


_wchan_named = []


def wchan_named():
    """Does this kernel say where a process sleeps (/proc/PID/wchan)?
    Asked once, of a thread of this process that waits on an event."""
    if not _wchan_named:
        import threading
        ev = threading.Event()
        t = threading.Thread(target=ev.wait, args=(30,), daemon=True)
        t.start()
        path = "/proc/%d/task/%d/wchan" % (os.getpid(), t.native_id)
        try:
            _wchan_named.append(wait_for(
                lambda: read_text(path).strip() not in ("", "0"), 5, 0.01))
        except OSError:
            _wchan_named.append(False)
        ev.set()
        t.join()
    return _wchan_named[0]


def asleep(p):
    """Is process p asleep in nanosleep() or epoll_wait() (per
    /proc/PID/wchan)?  Not in poll(): libcurl waits for an answer
    there."""
    try:
        with open("/proc/%d/stat" % p.pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open("/proc/%d/wchan" % p.pid) as f:
            wchan = f.read()
    except (OSError, IndexError):
        return False
    return state == "S" and ("nanosleep" in wchan or
                             "epoll_wait" in wchan)


def wait_asleep(p, timeout, what):
    """Waits until process p sleeps in nanosleep() or epoll_wait(): a
    drainer with nothing to do sleeps in epoll_wait() between two looks
    at the journal (nanosleep() where it cannot watch the journal, and
    in a backoff, and while it waits out a predecessor's request: the
    caller knows which it must be).  A failed check at the deadline or
    if p exits; skip_part() where the kernel does not say where a
    process sleeps."""
    if not wchan_named():
        skip_part("cannot tell whether %s: /proc/PID/wchan does not name "
                  "where a process sleeps" % what)
        return False
    ok = wait_until(lambda: p.poll() is not None or asleep(p), timeout,
                    what, interval=0.01)
    if p.poll() is not None:
        return check(False, "%s: the process exited with %s" %
                     (what, p.returncode))
    return ok


# ---- drainer helpers (test_drain_*.py; generic enough for others) --------

import http.client
import http.server
import re
import threading

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:00:00$")


def _outputs(env):
    """Captured (what, text) pairs of ctspool processes of env."""
    if not hasattr(env, "captured"):
        env.captured = []
        env.log_files = []
    return env.captured


def run_logged(e, *args, **kw):
    """e.run() (e: an Env), keeping stdout and stderr for
    check_no_secrets()."""
    r = e.run(*args, **kw)
    _outputs(e).append(("ctspool %s stdout" % " ".join(map(str, args)),
                        r.stdout or ""))
    _outputs(e).append(("ctspool %s stderr" % " ".join(map(str, args)),
                        r.stderr or ""))
    return r


def start_logged(env, *args, env_vars=None, name=None):
    """env.start() with stdout and stderr going to files in env.dir (a
    chatty process never blocks on a full pipe); p.log_path is stderr."""
    _outputs(env)
    n = len(env.log_files)
    base = os.path.join(env.dir, "%s-%d" % (name or args[0], n))
    out = open(base + ".out", "w")
    err = open(base + ".err", "w")
    p = env.start(*args, env=env_vars, stdout=out, stderr=err)
    out.close()
    err.close()
    p.log_path = base + ".err"
    p.out_path = base + ".out"
    env.log_files += [p.out_path, p.log_path]
    return p


def read_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def check_no_secrets(env, secrets):
    """Checks that no secret appears in any captured ctspool output."""
    texts = list(_outputs(env))
    texts += [(p, read_text(p)) for p in env.log_files if os.path.exists(p)]
    ok = True
    for what, text in texts:
        for s in secrets:
            if s and s in text:
                ok = check(False, "secret %r...  appears in %s" %
                           (s[:3], what))
    check(len(texts) > 0, "no ctspool output was captured")
    return ok


def stop_proc(p, sig=signal.SIGTERM, timeout=30):
    """Signals p and waits (bounded); returns (exit code, seconds)."""
    t0 = time.time()
    if p.poll() is None:
        p.send_signal(sig)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)
        rc = None
    return rc, time.time() - t0


def point(name, value, hour, agg="Sum", dims=None, stream=None):
    """One NDJSON point (dict) for `ctspool append --format ndjson`."""
    p = {"timestamp": hour_str(hour), "metric_name": name,
         "metric_value": value, "metric_agg_func": agg,
         "custom_dimensions": dict(dims or {})}
    if stream is not None:
        p["data_stream_token"] = stream
    return p


def append_points(env, points, *flags, check_rc=True):
    """Appends points (dicts) as one NDJSON file; returns the result."""
    path = os.path.join(env.dir, "append-%d.ndjson" % int(time.time() * 1e6))
    with open(path, "w") as f:
        for p in points:
            f.write(json.dumps(p) + "\n")
    r = run_logged(env, "append", "--format", "ndjson", *flags, path)
    os.unlink(path)
    if check_rc:
        check(r.returncode == 0, "append exited %d: %s" %
              (r.returncode, r.stderr[-2000:]))
    return r


def point_key(p, default_stream=STREAM):
    """(token, record_id, timestamp): the identity Mock.points() uses."""
    return (p.get("data_stream_token", default_stream),
            record_id(p["metric_name"], p["metric_agg_func"],
                      p.get("custom_dimensions", {})),
            p["timestamp"])


def expected_state(batches, default_stream=STREAM):
    """Last-write-wins state of points appended in order."""
    exp = {}
    for batch in batches:
        for p in batch:
            exp[point_key(p, default_stream)] = float(p["metric_value"])
    return exp


def compare_state(got, exp, what="receiver state"):
    """Point-by-point comparison; reports a few differences."""
    missing = [k for k in exp if k not in got]
    extra = [k for k in got if k not in exp]
    wrong = [k for k in exp if k in got and got[k] != exp[k]]
    check(not missing, "%s: %d points missing, e.g. %s" %
          (what, len(missing), missing[:2]))
    check(not extra, "%s: %d unexpected points, e.g. %s" %
          (what, len(extra), extra[:2]))
    check(not wrong, "%s: %d wrong values, e.g. %s" %
          (what, len(wrong), [(k, got[k], exp[k]) for k in wrong[:2]]))
    return not (missing or extra or wrong)


def wait_pending(env, n, timeout):
    """Waits until `status` shows exactly n pending points."""
    last = {}

    def pred():
        last["st"] = env.status()
        return last["st"]["pending_points"] == n
    ok = wait_for(pred, timeout, interval=0.1)
    return ok, last.get("st")


def quick_drain_config(env, mock, request_timeout_ms):
    """A configuration whose drainer uploads to mock with that request
    timeout, retries within 200 ms and polls every 50 ms: for tests of
    requests of unknown outcome (late answers, landing records)."""
    env.write_config(upload={"endpoint": mock.url,
                             "request_timeout_ms": request_timeout_ms,
                             "retry_base_ms": 50, "retry_max_ms": 200,
                             "poll_ms": 50})


def drain_test(name, body, secrets=(API_KEY, STREAM), mock_args=None):
    """Runs body(env, mock), one drain test, in a fresh Env with a mock
    receiver (Mock(env, **mock_args): e.g. tokens= for the streams it
    knows), and ends it as every drain test ends.  body returns the
    state (expected_state()) the receiver must hold at the end, or None
    when the test has no single final state.  Then: every ctspool process
    body left running is stopped with SIGTERM and must exit 0; the
    receiver's points equal that state, point by point; no secret
    appears in any ctspool output captured (run_logged, start_logged);
    env is removed and the test exits through finish()."""
    env = Env(name)
    try:
        mock = Mock(env, **(mock_args or {}))
        exp = body(env, mock)
        for p in env.procs:
            if p is not mock.proc and p.poll() is None:
                rc, secs = stop_proc(p)
                check(rc == 0, "`%s` exited %s on SIGTERM (%.1f s)" %
                      (" ".join(p.args[3:]), rc, secs))
        if exp is not None:
            compare_state(mock.points(), exp, "final receiver state")
        check_no_secrets(env, secrets)
    finally:
        env.cleanup()
    finish()


def mock_faults(mock):
    """The receiver's current fault knobs (GET /_mock/fault)."""
    return mock._req("GET", "/_mock/fault")


class RecordingProxy:
    """An HTTP/1.1 proxy in front of a receiver that records every request
    (path, headers, body, client connection) and forwards it, answering
    with the receiver's status, Retry-After and body.  With target None it
    answers 201 itself (a capture sink)."""

    def __init__(self, target=None):
        self.requests = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with proxy.lock:
                    proxy.requests.append({
                        "path": self.path, "headers": dict(self.headers),
                        "body": body, "client": self.client_address})
                status, hdrs, data = 201, {}, b'{"message":"created"}'
                if proxy.target:
                    c = http.client.HTTPConnection(
                        proxy.target[0], proxy.target[1], timeout=120)
                    try:
                        fwd = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "connection")}
                        c.request("POST", self.path, body=body, headers=fwd)
                        r = c.getresponse()
                        status, data = r.status, r.read()
                        if r.getheader("Retry-After"):
                            hdrs["Retry-After"] = r.getheader("Retry-After")
                    except (OSError, http.client.HTTPException):
                        self.close_connection = True
                        return
                    finally:
                        c.close()
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.target = None
        if target:
            m = re.match(r"http://([^:/]+):(\d+)", target)
            self.target = (m.group(1), int(m.group(2)))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/streams/ingest" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---- serve helpers (test_serve_*.py; generic enough for others) ----------

SERVE_KEY = "serve-key-0123456789-SECRETSRV"


def free_port():
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def data_point(name, value, hour, dims=None):
    """One element of a Cloudthread payload's "data" array."""
    return {"timestamp": hour_str(hour), "metric_name": name,
            "metric_value": value, "custom_dimensions": dict(dims or {})}


def ingest_payload(data, agg="Sum", stream=None):
    """A Cloudthread ingest payload (dict) around data."""
    p = {"metric_agg_func": agg, "data": list(data)}
    if stream is not None:
        p["data_stream_token"] = stream
    return p


def journal_points(env, *flags):
    """{(record_id, timestamp): metric_value} of `list --json` rows."""
    return {(r["record_id"], r["timestamp"]): r["metric_value"]
            for r in env.list(*flags)}


def canonical_ts(ts):
    """A valid payload timestamp in the journal's canonical form."""
    if isinstance(ts, (int, float)):
        return hour_str(int(ts) // 3600)
    ts = ts.replace("T", " ")
    for suffix in ("Z", "+00:00"):
        if ts.endswith(suffix):
            ts = ts[:-len(suffix)]
    return ts[:19]


def payload_points(payload):
    """{(record_id, timestamp): value} a payload should leave in the
    journal (last value wins within the payload)."""
    agg = payload.get("metric_agg_func", "Sum")
    out = {}
    for d in payload["data"]:
        out[(record_id(d["metric_name"], agg,
                       d.get("custom_dimensions", {})),
             canonical_ts(d["timestamp"]))] = float(d["metric_value"])
    return out


class Serve:
    """`ctspool serve` of env on 127.0.0.1 (a free port), its stderr in a
    file.  server/limits/top/upload/health: config overrides.  Stopped by
    stop() or env.cleanup()."""

    def __init__(self, env, server=None, limits=None, top=None, upload=None,
                 keys=(SERVE_KEY,), start=True, timeout=30, health=None):
        self.env = env
        self.keys = list(keys)
        self.server = dict(server or {})
        self.limits = limits
        self.top = top
        self.upload = upload
        self.health = health
        self.proc = None
        self.port = None
        if start:
            self.start(timeout)

    def start(self, timeout=30):
        """Starts serve; retries on a port taken meanwhile.  Returns
        True once it listens, False if it exited (see log())."""
        for attempt in range(5):
            self.port = free_port()
            s = {"listen": "127.0.0.1:%d" % self.port,
                 "api_keys": self.keys}
            s.update(self.server)
            self.env.write_config(top=self.top, upload=self.upload,
                                  server=s, limits=self.limits,
                                  health=self.health)
            self.proc = start_logged(self.env, "serve", name="serve")
            if wait_for(lambda: "listening on" in self.log() or
                        self.proc.poll() is not None, timeout):
                if "listening on" in self.log():
                    return True
            if "Address already in use" not in self.log():
                return False
        return False

    def log(self):
        """serve's stderr so far."""
        if not self.proc or not os.path.exists(self.proc.log_path):
            return ""
        return read_text(self.proc.log_path)

    def connection(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def request(self, method, path, body=None, key=SERVE_KEY, headers=None,
                conn=None, timeout=60):
        """One request; returns (status, {header: value}, body text).
        body: bytes, str or a JSON-able object.  key None: no x-api-key.
        conn: a keep-alive connection to reuse (else a new one)."""
        c = conn or self.connection(timeout)
        h = dict(headers or {})
        if key is not None:
            h["x-api-key"] = key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read().decode("utf-8", "replace")
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            return r.status, hdrs, data
        finally:
            if conn is None:
                c.close()

    def post(self, payload, key=SERVE_KEY, path="/streams/ingest", **kw):
        """POST an ingest payload; returns (status, headers, parsed JSON
        or the raw text)."""
        st, hdrs, text = self.request("POST", path, payload, key=key, **kw)
        try:
            return st, hdrs, json.loads(text)
        except ValueError:
            return st, hdrs, text

    def get(self, path, **kw):
        return self.request("GET", path, key=None, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Signals serve and waits (bounded); returns its exit code."""
        rc, _ = stop_proc(self.proc, sig, timeout)
        return rc


def read_until(s, marker, limit=65536):
    """Bytes from socket s until marker (or EOF, or limit bytes)."""
    got = b""
    while marker not in got and len(got) < limit:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def post_begun(port, key, body_len):
    """A raw connection to serve on port whose POST /streams/ingest of
    body_len bytes (key as x-api-key) is in progress: its headers sent
    with Expect: 100-continue and serve's 100 received, so serve has read
    them.  (socket, the 100 answer); the caller sends the body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"POST /streams/ingest HTTP/1.1\r\nHost: x\r\n"
              b"x-api-key: " + key.encode() + b"\r\n"
              b"Content-Type: application/json\r\n"
              b"Expect: 100-continue\r\n"
              b"Content-Length: %d\r\n\r\n" % body_len)
    return s, read_until(s, b"\r\n\r\n")


def parse_metrics(text):
    """Prometheus text -> ({name{labels}: float}, [malformed lines])."""
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
                         r'(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
                         r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})?'
                         r' (-?[0-9.eE+-]+|NaN|[+-]Inf)$')
    values, bad = {}, []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            if line.startswith("#") and not re.match(
                    r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line):
                bad.append(line)
            continue
        m = line_re.match(line)
        if not m:
            bad.append(line)
            continue
        values[m.group(1) + (m.group(2) or "")] = float(m.group(4))
    return values, bad
