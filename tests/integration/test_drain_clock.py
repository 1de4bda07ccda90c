#!/usr/bin/env python3
"""test_drain_clock.py -- a wall clock stepped back (an NTP step, an
operator's `date`) does not stall a parked group: parkings are kept in
wall-clock time (other processes show them), so a group parked before
a step back of two hours would wait two hours more; the drainer sees the
step and tries its parked groups again at once, logging it.

The drainer runs under libfaketime (Debian's faketime package), its
wall clock read from a file the test rewrites and its monotonic clock
left real.  Skipped (77) where libfaketime is not installed."""

import glob
import os
import sys
import time

import harness as h

KNOWN = "known-stream-token-0123456789ab"


def faketime_lib():
    libs = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") +
                  glob.glob("/usr/lib/faketime/libfaketimeMT.so.1"))
    return libs[0] if libs else None


def requests(mock):
    return mock.counters()["requests_total"]


def main():
    lib = faketime_lib()
    if not lib:
        h.skip("libfaketime is not installed (apt-get install faketime)")
    env = h.Env("drain-clock")
    try:
        mock = h.Mock(env, tokens=[KNOWN])
        env.write_config(upload={"endpoint": mock.url, "retry_base_ms": 100,
                                 "retry_max_ms": 1000, "poll_ms": 100})
        h.append_points(env, [h.point("clock", 1.0, 470000)])
        clock = os.path.join(env.dir, "clock")
        with open(clock, "w") as f:
            f.write("+2h\n")
        p = h.start_logged(env, "drain", env_vars={
            "LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": clock,
            "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1"})
        # The default stream is unknown upstream: 404, parked, retried
        # at most a second apart.
        h.wait_until(lambda: requests(mock) >= 2, 30,
                     "the parked group is retried")
        # Replaced whole (libfaketime rereads the file on every call:
        # written in place, it could read it empty or half written).
        with open(clock + ".new", "w") as f:
            f.write("+0\n")
        os.replace(clock + ".new", clock)
        n = requests(mock)
        h.wait_until(lambda: requests(mock) >= n + 2, 30,
                     "the parked group is retried after the clock stepped "
                     "back two hours (%d requests before)" % n)
        h.wait_until(lambda: "the wall clock stepped back" in
                     h.read_text(p.log_path), 10, "the step is logged")
        text = h.read_text(p.log_path)
        h.check("parked upload groups are tried again now" in text,
                "the log says the parked groups are tried again: " +
                text[-1500:])
        rc, _ = h.stop_proc(p)
        h.check(rc == 0, "drainer exit %r on SIGTERM" % rc)
        h.check(env.status()["pending_points"] == 1,
                "the point stays pending")
    finally:
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    sys.exit(main())
