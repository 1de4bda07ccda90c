#!/usr/bin/env python3
"""test_service_owner.py -- root leaves the service user's journal usable.

The journal belongs to a service user (here `nobody`).  An operator runs
`drain --once` and `append` as root against it; afterwards every file
next to the journal (lock file, -wal, -shm) still belongs to the service
user, and the service user's own `drain --once` and `append` work
(before, the root-owned lock file made the service's drainer exit 73 in
a restart loop).  A drainer lock left root-owned by an older version is
given back to the journal's owner by the next root run; a journal root
creates in the service user's directory is the service user's.  A lock file
that is a symbolic link is refused.  Skipped unless run as root.
"""

import os
import pwd
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HOUR0 = 473000


def as_user(uid, gid):
    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return drop


def run_as(env, uid, gid, *args):
    return subprocess.run(env.cmd(*args), capture_output=True, text=True,
                          timeout=120, preexec_fn=as_user(uid, gid))


def owners(env):
    """{file name: (uid, gid)} of the journal's files in env.dir."""
    out = {}
    for name in os.listdir(env.dir):
        if not name.startswith("journal"):
            continue
        st = os.lstat(os.path.join(env.dir, name))
        out[name] = (st.st_uid, st.st_gid)
    return out


def main():
    if os.geteuid() != 0:
        h.skip("needs root (to act as root on another user's journal)")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        h.skip("no user 'nobody' here")
    uid, gid = pw.pw_uid, pw.pw_gid

    def body(env, mock):
        env.write_config(upload={"endpoint": mock.url})
        os.chown(env.dir, uid, gid)
        os.chown(env.config, uid, gid)
        os.chmod(env.dir, 0o700)
        pts = [h.point("svc", i + 0.5, HOUR0 + i) for i in range(20)]
        path = os.path.join(env.dir, "in.ndjson")
        with open(path, "w") as f:
            f.write("".join(h.json.dumps(p) + "\n" for p in pts))
        os.chown(path, uid, gid)

        r = run_as(env, uid, gid, "append", path)
        h.check(r.returncode == 0, "the service user appends: " + r.stderr)
        # An older version's root run left a root-owned lock behind.
        lock = env.journal + "-drain.lock"
        with open(lock, "w"):
            pass
        os.chown(lock, 0, 0)

        more = [h.point("root", i * 2.0, HOUR0 + i) for i in range(10)]
        h.append_points(env, more)                    # as root
        d = h.run_logged(env, "drain", "--once")      # as root
        h.check(d.returncode == 0, "root's drain --once: " + d.stderr)
        bad = {n: o for n, o in owners(env).items() if o != (uid, gid)}
        h.check(not bad, "every file belongs to the service user after "
                "root's commands: %s" % bad)

        late = [h.point("late", i + 0.25, HOUR0 + i) for i in range(5)]
        with open(path, "w") as f:
            f.write("".join(h.json.dumps(p) + "\n" for p in late))
        r = run_as(env, uid, gid, "append", path)
        h.check(r.returncode == 0, "the service user appends after root's "
                "drain: " + r.stderr)
        d = run_as(env, uid, gid, "drain", "--once")
        h.check(d.returncode == 0, "the service user's drain --once after "
                "root's: %d %s" % (d.returncode, d.stderr))

        # Root creates a fresh journal in the service user's directory:
        # it and its -wal/-shm files are the service user's.
        fresh = os.path.join(env.dir, "sub")
        os.mkdir(fresh)
        os.chown(fresh, uid, gid)
        cfg2 = os.path.join(fresh, "fresh.cfg")
        with open(cfg2, "w") as f:
            f.write('journal = "%s";\nupload: { data_stream_token = "%s";'
                    ' };\n' % (os.path.join(fresh, "journal.db"), h.STREAM))
        r = subprocess.run([h.BIN, "--config", cfg2, "append", path],
                           capture_output=True, text=True, timeout=120)
        h.check(r.returncode == 0, "root appends to a new journal: " +
                r.stderr)
        made = {n: (os.lstat(os.path.join(fresh, n)).st_uid,
                    os.lstat(os.path.join(fresh, n)).st_gid)
                for n in os.listdir(fresh) if n.startswith("journal")}
        h.check(made and all(o == (uid, gid) for o in made.values()),
                "a journal root creates is the directory owner's: %s" % made)

        # A symbolic link in the lock's place is refused, not followed.
        os.unlink(lock)
        target = os.path.join(env.dir, "elsewhere")
        os.symlink(target, lock)
        d = h.run_logged(env, "drain", "--once")
        h.check(d.returncode == 73 and "symbolic link" in d.stderr,
                "a symlinked lock is refused: %d %s" % (d.returncode,
                                                       d.stderr))
        h.check(not os.path.exists(target), "the link was not followed")
        return h.expected_state([pts, more, late])

    h.drain_test("service-owner", body)


if __name__ == "__main__":
    main()
