#!/usr/bin/env python3
"""test_serve_bigbody.py -- a 16 MiB ingest body costs `serve` a small
multiple of its size (README.md: the body, the accepted points packed,
and the parser's few MiB), not the several times a JSON tree of it
would; every point of it is stored, and a body whose last member is
wrong stores none of them (DESIGN.md section 5).  The growth is read
from serve's own VmHWM in /proc."""

import json

import harness as h

MIB = 1024 * 1024


def vm_hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM for pid %d" % pid)


def sanitized():
    with open(h.BIN, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def body_of(n, tail=""):
    data = [h.data_point("big-body-%d" % (i % 1000), float(i),
                         470000 + i // 1000,
                         {"host": "edge-%03d" % (i % 997),
                          "region": "eu-west-1"})
            for i in range(n)]
    text = json.dumps(h.ingest_payload(data))
    return (text[:-1] + tail + "}").encode()


def main():
    env = h.Env("serve-bigbody")
    try:
        s = h.Serve(env, server={"max_body_bytes": 64 * MIB})
        h.check(s.proc.poll() is None, "serve did not start: " + s.log())
        n = 105000
        body = body_of(n)
        h.check(len(body) >= 16 * MIB, "body is %d bytes" % len(body))

        before = vm_hwm(s.proc.pid)
        # Invalid as a whole, found after "data": nothing stored.
        bad = body_of(n, ', "extra": 1')
        st, _, ans = s.post(bad)
        h.check(st == 400, "bad body: %s %s" % (st, str(ans)[:200]))
        h.check("unknown member" in str(ans), "bad body answer: %s" %
                str(ans)[:200])
        h.check(env.status()["pending_points"] == 0,
                "a rejected body stored points")

        st, _, ans = s.post(body, timeout=300)
        after = vm_hwm(s.proc.pid)
        h.check(st == 201 and ans == {"accepted": n},
                "big body: %s %s" % (st, str(ans)[:200]))
        h.check(env.status()["pending_points"] == n,
                "pending after the big body: %d" %
                env.status()["pending_points"])
        grown = after - before
        print("body %.1f MiB, serve peak RSS grew %.1f MiB" %
              (len(body) / MIB, grown / MIB))
        if sanitized():
            print("sanitizer build: memory bound not checked")
        else:
            h.check(grown <= 4 * len(body),
                    "serve grew %.1f MiB for a %.1f MiB body (more than "
                    "4 times)" % (grown / MIB, len(body) / MIB))
        h.check(s.stop() == 0, "serve did not stop cleanly: " + s.log())
    finally:
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    main()
