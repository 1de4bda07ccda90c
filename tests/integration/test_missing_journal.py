#!/usr/bin/env python3
"""test_missing_journal.py -- commands that only read or manage a journal
(`status`, `list`, `streams`, `dlq`, `compact`) never create one (DESIGN.md
section 4): a missing journal exits 66 naming its path and the config key, and
nothing is created, not even a -wal or -shm file, nor a missing
directory.  `append` and `serve` still create the journal."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

READERS = [
    ["status"], ["status", "--json"], ["list"], ["list", "--json"],
    ["list", "--pending"],
    ["list", "--stream", "tok", "--agg", "Sum", "--since",
     "2026-01-01 00:00:00", "--limit", "5"],
    ["dlq", "list"], ["dlq", "requeue", "--all"], ["dlq", "purge", "--all"],
    ["compact"], ["streams"],
    ["streams", "--json"],
]


def listing(path):
    """Every file and directory under path, relative."""
    out = set()
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(root, n), path))
    return out


def refuses(env, journal):
    """Each reader: exit 66, the message names journal, the key and the
    config file; the directory is as it was."""
    env.write_config(top={"journal": journal})
    before = listing(env.dir)
    for args in READERS:
        what = " ".join(args)
        r = env.run(*args, timeout=120)
        h.check(r.returncode == 66, "%s: exit %d (want 66): %s" %
                (what, r.returncode, r.stderr))
        want = ('ctspool: %s: journal %s does not exist (config key '
                '"journal" in %s)' % (args[0], journal, env.config))
        h.check(want in r.stderr, "%s: message %r, want %r" %
                (what, r.stderr, want))
        h.check(r.stdout == "", "%s: printed %r" % (what, r.stdout))
        after = listing(env.dir)
        h.check(after == before, "%s: created %s" %
                (what, sorted(after - before)))


def main():
    env = h.Env("missing-journal")
    try:
        refuses(env, env.journal)
        # A mistyped directory: not created either.
        refuses(env, os.path.join(env.dir, "no-such-dir", "journal.db"))

        # append creates the journal; then the readers work on it.
        env.write_config()
        h.append_points(env, [h.point("m", 1.5, 460000)])
        h.check(os.path.exists(env.journal), "append created no journal")
        st = env.status()
        h.check(st["pending_points"] == 1, "status after append: %r" % st)
        for args in READERS:
            r = env.run(*args, timeout=120)
            h.check(r.returncode == 0, "%s on the journal: exit %d: %s" %
                    (" ".join(args), r.returncode, r.stderr))

        # serve creates its journal too.
        served = os.path.join(env.dir, "served.db")
        srv = h.Serve(env, top={"journal": served})
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())
        h.check(os.path.exists(served), "serve created no journal")
        rc = srv.stop()
        h.check(rc == 0, "serve exit code %r" % rc)
    finally:
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    main()
