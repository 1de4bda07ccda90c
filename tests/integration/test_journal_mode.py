#!/usr/bin/env python3
"""test_journal_mode.py -- journal_file_mode (DESIGN.md sections 3, 7,
12): a journal created by any command gets that mode whatever the umask
(the documented two-user setup: "0660" for a group shared by serve and
drain), and SQLite gives its -wal and -shm files the same; the default
stays 0600; a mode that gives others access, or no read and write to
the owner, is a configuration error (exit 78).
"""

import os
import stat

import harness as h

HOUR0 = 476000


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def part(file_mode, expect):
    env = h.Env("journal-mode-%s" % (file_mode or "default"))
    old = os.umask(0o077)
    try:
        top = {"journal_file_mode": file_mode} if file_mode else {}
        srv = h.Serve(env, top=top)
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())
        st, _, _ = srv.post(h.ingest_payload(
            [h.data_point("m", 1, HOUR0)]))
        h.check(st == 201, "stored: %d" % st)
        for suffix in ("", "-wal", "-shm"):
            p = env.journal + suffix
            h.check(os.path.exists(p) and mode(p) == expect,
                    "%s: mode %o, expected %o" %
                    (os.path.basename(p),
                     mode(p) if os.path.exists(p) else -1, expect))
        h.check(srv.stop() == 0, "serve: SIGTERM exit 0")
    finally:
        os.umask(old)
        env.cleanup()


def part_refused():
    env = h.Env("journal-mode-bad")
    try:
        for bad in ("0666", "0644", "0400", "0770", "rw", "9600"):
            env.write_config(top={"journal_file_mode": bad})
            r = h.run_logged(env, "check-config")
            h.check(r.returncode == 78 and "journal_file_mode" in r.stderr,
                    "%s: exit %d %s" % (bad, r.returncode, r.stderr))
        r = h.run_logged(env, "append", "/dev/null")
        h.check(r.returncode == 78 and not os.path.exists(env.journal),
                "append with a bad mode: exit %d, no journal" % r.returncode)
    finally:
        env.cleanup()


if __name__ == "__main__":
    part(None, 0o600)
    part("0660", 0o660)
    part("0640", 0o640)
    part_refused()
    h.finish()
