#!/usr/bin/env python3
"""test_drain_reload.py -- SIGHUP re-reads a running drainer's
configuration while producers keep appending (DESIGN.md section 12):
a new API key is used from the next request on, and so are a new batch
size and log level; a file that does not load keeps the running
configuration; a changed journal or endpoint is logged and ignored; a
drainer waiting out a 401 at a long maximum backoff resumes at once when
a SIGHUP brings the right key.  The drainer never exits on SIGHUP, and
the receiver's final state is exact."""

import json
import os
import signal
import subprocess
import threading
import time

import harness as h

HOUR0 = 471000
KEY_B = "second-api-key-0123456789-SECRETB"
WRONG = "wrong-api-key-0123456789-NOPE-XYZ"


class Producer:
    """Appends batches of points in a thread until stopped, with a
    configuration file of its own (the drainer's is rewritten)."""

    def __init__(self, env):
        self.env = env
        self.config = os.path.join(env.dir, "producer.cfg")
        with open(env.config) as src, open(self.config, "w") as dst:
            dst.write(src.read())
        os.chmod(self.config, 0o600)
        self.batches = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        path = os.path.join(self.env.dir, "producer.ndjson")
        k = 0
        while not self.stop_ev.is_set():
            b = [h.point("reload-%d" % (k % 7), float(k * 1000 + i),
                         HOUR0 + i % 24, ["Sum", "Maximum"][k % 2],
                         {"i": str(i)}) for i in range(150)]
            with open(path, "w") as f:
                f.write("".join(json.dumps(p) + "\n" for p in b))
            r = subprocess.run([h.BIN, "--config", self.config, "append",
                                "--format", "ndjson", path],
                               capture_output=True, text=True, timeout=120)
            h.check(r.returncode == 0, "append exited %d: %s" %
                    (r.returncode, r.stderr[-500:]))
            if r.returncode == 0:
                self.batches.append(b)
            k += 1
            self.stop_ev.wait(0.05)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(timeout=60)


def key_of(req):
    for k, v in req["headers"].items():
        if k.lower() == "x-api-key":
            return v
    return None


def n_points(req):
    return len(json.loads(req["body"])["data"])


def log_has(d, text):
    return text in h.read_text(d.log_path)


def sighup(d, what):
    h.check(d.poll() is None, "drainer exited before SIGHUP (%s): %s" %
            (what, d.poll()))
    n = h.read_text(d.log_path).count("SIGHUP: configuration")
    d.send_signal(signal.SIGHUP)
    h.wait_until(lambda: h.read_text(d.log_path).count(
        "SIGHUP: configuration") > n, 20, "SIGHUP answered (%s)" % what)
    h.check(d.poll() is None, "drainer exited on SIGHUP (%s): %s" %
            (what, d.poll()))


def run(env, mock):
    proxy = h.RecordingProxy(mock.base)
    up = {"endpoint": proxy.url, "batch_max_points": 50}
    env.write_config(upload=up)
    prod = Producer(env)
    try:
        d = h.start_logged(env, "drain")
        h.wait_until(lambda: len(proxy.requests) >= 5, 30,
                     "5 requests with the first key")

        # A new key, batch size and log level take effect at once.
        env.write_config(top={"log_level": "debug"},
                         upload=dict(up, api_key=KEY_B,
                                     batch_max_points=7))
        sighup(d, "new key")
        h.check(log_has(d, "SIGHUP: configuration reloaded from " +
                        env.config), "reload not logged")
        h.wait_until(lambda: any(key_of(r) == KEY_B
                                 for r in list(proxy.requests)), 30,
                     "a request with the new key")
        h.wait_until(lambda: log_has(d, "level=debug"), 30,
                     "debug lines after log_level = debug")
        reqs = list(proxy.requests)
        first_b = [i for i, r in enumerate(reqs) if key_of(r) == KEY_B][0]
        h.check(all(key_of(r) == h.API_KEY for r in reqs[:first_b]),
                "unexpected keys before the reload")
        h.check(all(key_of(r) == KEY_B for r in reqs[first_b:]),
                "the old key was sent after the first request with the "
                "new one")
        # Nothing is in flight at a reload: every request from the
        # first with the new key on was built after it.
        late = [n_points(r) for r in reqs[first_b:]]
        h.check(all(n <= 7 for n in late),
                "requests after the reload carry %s points (batch 7)" %
                sorted(set(late))[-3:])
        mark = len(reqs)

        # A file that does not load: the running configuration stays.
        with open(env.config, "w") as f:
            f.write("upload: { api_key = ; \n")
        sighup(d, "broken file")
        h.check(log_has(d, "SIGHUP: configuration not reloaded, the "
                        "previous one stays in force"),
                "broken configuration not reported")
        h.wait_until(lambda: len(proxy.requests) >= mark + 5, 30,
                     "uploads go on after a broken configuration")
        h.check(all(key_of(r) == KEY_B
                    for r in list(proxy.requests)[mark:]),
                "key changed by a configuration that did not load")

        # Journal and endpoint need a restart: logged, ignored.
        env.journal_moved = os.path.join(env.dir, "elsewhere.db")
        env.write_config(top={"journal": env.journal_moved,
                              "on_corrupt": "stop",
                              "journal_file_mode": "0640"},
                         upload=dict(up, api_key=KEY_B,
                                     endpoint=mock.url + "/nowhere"))
        mark = len(proxy.requests)
        sighup(d, "restart-only settings")
        for what in ("journal", "upload.endpoint", "on_corrupt",
                     "journal_file_mode"):
            h.check(log_has(d, "SIGHUP: %s changed; it takes effect at "
                            "the next restart" % what),
                    "%s change not reported" % what)
        h.wait_until(lambda: len(proxy.requests) >= mark + 5, 30,
                     "uploads go on to the running endpoint")
        h.check(not os.path.exists(env.journal_moved),
                "a journal was created at the new path")

        # A wrong key: 401, then a wait of up to a minute; the right
        # key by SIGHUP ends the wait.
        prod.stop()
        env.write_config(upload=dict(up, api_key=WRONG,
                                     retry_max_ms=60000))
        sighup(d, "wrong key")
        last = [h.point("reload-last", float(i), HOUR0 + i, "Sum")
                for i in range(20)]
        h.append_points(env, last)
        prod.batches.append(last)
        h.wait_until(lambda: log_has(d, "upstream rejects the API key"),
                     30, "401 after the wrong key")
        # In its wait of 30 to 60 s now.
        h.wait_asleep(d, 10, "the drainer waits after the 401")
        env.write_config(upload=dict(up, api_key=KEY_B))
        t0 = time.time()
        sighup(d, "key fixed")
        ok, st = h.wait_pending(env, 0, 20)
        h.check(ok, "pending not 0 after the key was fixed: %s" % st)
        print("delivered %.1f s after the key was fixed" %
              (time.time() - t0))
        h.check(d.poll() is None, "drainer exited: %s" % d.poll())
    finally:
        prod.stop()
        proxy.stop()
    return h.expected_state(prod.batches)


if __name__ == "__main__":
    h.drain_test("drain-reload", run,
                 secrets=(h.API_KEY, h.STREAM, KEY_B, WRONG),
                 mock_args={"api_keys": (h.API_KEY, KEY_B)})
