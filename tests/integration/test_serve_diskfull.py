#!/usr/bin/env python3
"""test_serve_diskfull.py -- the journal's file system fills up under
`serve`: the request that does not fit is answered 507 (not 500), the
server keeps running, /healthz turns 503, every request answered 201
before is in the journal, and SIGTERM still exits 0.

The journal lives on a 1 MiB tmpfs mounted in a private mount namespace
(`unshare -m`), so the test needs root (or CAP_SYS_ADMIN) and unshare;
without them it says why and reports Skipped (exit 77).
"""

import json
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SCRIPT = r'''
set -u
mount -t tmpfs -o size=1m,mode=0700 ctspool-full "$FS" || exit 90
"$BIN" --config "$CFG" serve 2> "$LOG" &
echo $! > "$PIDFILE"
wait $!
rc=$?
"$BIN" --config "$CFG" list --json > "$LIST" 2>> "$LOG"
echo $rc > "$RCFILE"
'''


def why_no_unshare():
    """None if a tmpfs can be mounted in a private mount namespace here,
    else why not."""
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs (unshare -m)"
    for tool in ("unshare", "mount"):
        if not shutil.which(tool):
            return "%s is not installed (Debian package %s)" % (
                tool, "util-linux" if tool == "unshare" else "mount")
    r = subprocess.run(["unshare", "-m", "sh", "-c",
                        "mount -t tmpfs -o size=64k t /mnt 2>/dev/null "
                        "|| mount -t tmpfs -o size=64k t /tmp"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return "cannot mount a tmpfs under unshare -m: %s" % r.stderr.strip()
    return None


def grow_disk(pid_file, fs, srv, accepted):
    """Room made (the tmpfs grown to 8 MiB, in serve's mount namespace):
    /healthz says 200 again before any write, which a load balancer
    would not send while it says 503; then a write is stored."""
    if not shutil.which("nsenter"):
        h.skip_part("nsenter is not installed (Debian package util-linux)")
        return
    with open(pid_file) as f:
        pid = f.read().strip()
    r = subprocess.run(["nsenter", "-t", pid, "-m", "mount", "-o",
                        "remount,size=8m", fs],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        h.skip_part("cannot grow the tmpfs: %s" % r.stderr.strip())
        return
    h.wait_until(lambda: srv.get("/healthz")[0] == 200, 30,
                 "healthz 200 once room was made")
    p = h.ingest_payload([h.data_point("after-%d" % k, 1, 460000 + k)
                          for k in range(10)])
    st, _, body = srv.post(p)
    if h.check(st == 201, "a write once room was made: %d %r" % (st, body)):
        accepted.update(h.payload_points(p))


def main():
    why = why_no_unshare()
    if why:
        h.skip(why)
    env = h.Env("serve-full-disk")
    proc = None
    try:
        fs = os.path.join(env.dir, "fs")
        os.mkdir(fs)
        journal = os.path.join(fs, "journal.db")
        port = h.free_port()
        env.write_config(top={"journal": journal},
                         server={"listen": "127.0.0.1:%d" % port,
                                 "api_keys": [h.SERVE_KEY]})
        files = {k: os.path.join(env.dir, k) for k in
                 ("serve.log", "pid", "list.json", "rc")}
        e = dict(os.environ, FS=fs, BIN=h.BIN, CFG=env.config,
                 LOG=files["serve.log"], PIDFILE=files["pid"],
                 LIST=files["list.json"], RCFILE=files["rc"])
        proc = subprocess.Popen(["unshare", "-m", "sh", "-c", SCRIPT],
                                env=e)
        env.procs.append(proc)

        def log():
            return h.read_text(files["serve.log"]) \
                if os.path.exists(files["serve.log"]) else ""
        h.wait_for(lambda: "listening on" in log() or
                   proc.poll() is not None, 30)
        if not h.check("listening on" in log(), "serve started: " + log()):
            h.finish()
        srv = h.Serve(env, start=False)
        srv.port = port

        accepted, statuses = {}, []
        for i in range(400):
            p = h.ingest_payload([
                h.data_point("fill-%d" % i, k + 0.5, 460000 + k,
                             {"pad": "x" * 200, "n": str(k)})
                for k in range(200)])
            st, hdrs, body = srv.post(p)
            statuses.append(st)
            if st == 201:
                accepted.update(h.payload_points(p))
            elif st == 507:
                break
            else:
                h.check(False, "request %d: %d %r" % (i, st, body))
                break
        h.check(statuses and statuses[-1] == 507,
                "disk full answered 507: %r" % statuses[-5:])
        h.check(len(accepted) > 0, "some requests fit before the disk "
                "was full")
        # Still running; still refusing with 507 (not 500).
        st, _, body = srv.post(h.ingest_payload([
            h.data_point("more-%d" % k, 1, 460000, {"pad": "y" * 250})
            for k in range(300)]))
        h.check(st == 507, "second request on a full disk: %d %r" %
                (st, body))
        st, _, body = srv.get("/healthz")
        h.check(st == 503, "healthz on a full disk: %d %r" % (st, body))
        st, _, body = srv.get("/healthz")
        h.check(st == 503, "healthz on a full disk, again: %d %r" %
                (st, body))
        grow_disk(files["pid"], fs, srv, accepted)
        st, _, text = srv.get("/metrics")
        h.check(st == 200 and 'ctspool_http_requests_total{code="507"}'
                in text, "metrics on a full disk: %d" % st)

        with open(files["pid"]) as f:
            os.kill(int(f.read().strip()), signal.SIGTERM)
        proc.wait(timeout=60)
        with open(files["rc"]) as f:
            rc = int(f.read().strip())
        h.check(rc == 0, "serve exit code after SIGTERM: %d" % rc)
        rows = [json.loads(line) for line in
                h.read_text(files["list.json"]).splitlines() if line]
        got = {(r["record_id"], r["timestamp"]): r["metric_value"]
               for r in rows}
        missing = [k for k in accepted if got.get(k) != accepted[k]]
        h.check(not missing, "%d of %d points answered 201 are missing" %
                (len(missing), len(accepted)))
        slog = log()
        h.check("507" in slog and "level=warn" in slog,
                "the 507 was logged as a warning:\n" + slog[-2000:])
        h.check("level=error" not in slog.replace("list", ""),
                "errors logged:\n" + slog[-2000:])
        print("%d points stored before the disk was full; 507 after %d "
              "requests" % (len(accepted), len(statuses)))
        if os.environ.get("CTSPOOL_TEST_VERBOSE"):
            print(slog)
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    main()
