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
that is a symbolic link is refused.

The group layout (DESIGN section 12): serve's user owns a journal of mode
0660 in a setgid directory, and the drain user (here `daemon`) is in its
group.  A drainer lock of mode 0600 (what root's `drain --once` left
before) is named by `check-config --role drain` as the drain user; root's
next `drain --once` gives the lock the journal's mode, and the drain
user's `drain --once` then works.  Skipped unless run as root.
"""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile

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


def shared_group(env, mock, serve_pw, drain_uid):
    """The group layout (above); the points it drained."""
    gid = serve_pw.pw_gid
    top = tempfile.mkdtemp(prefix="ctspool-shared-")
    try:
        os.chmod(top, 0o711)
        d = os.path.join(top, "spool")
        os.mkdir(d)
        os.chown(d, 0, gid)
        os.chmod(d, 0o2770)
        journal = os.path.join(d, "journal.db")
        cfg = os.path.join(d, "ctspool.cfg")
        with open(cfg, "w") as f:
            f.write('journal = "%s";\njournal_file_mode = "0660";\n'
                    'log_level = "info";\n'
                    'upload: { endpoint = "%s"; api_key = "%s";\n'
                    '  data_stream_token = "%s"; retry_base_ms = 50;\n'
                    '  retry_max_ms = 1000; };\n' %
                    (journal, mock.url, h.API_KEY, h.STREAM))
        os.chown(cfg, 0, gid)
        os.chmod(cfg, 0o640)
        pts = [h.point("grp", i + 0.75, HOUR0 + i) for i in range(7)]
        src = os.path.join(d, "in.ndjson")
        with open(src, "w") as f:
            f.write("".join(h.json.dumps(p) + "\n" for p in pts))
        os.chown(src, serve_pw.pw_uid, gid)

        def run(uid, *args):
            return subprocess.run([h.BIN, "--config", cfg] + list(args),
                                  capture_output=True, text=True,
                                  timeout=120,
                                  preexec_fn=as_user(uid, gid))

        r = run(serve_pw.pw_uid, "append", src)
        h.check(r.returncode == 0, "serve's user appends: " + r.stderr)
        h.check(os.stat(journal).st_mode & 0o777 == 0o660,
                "the journal has journal_file_mode")
        # What root's drain --once left before: a lock of mode 0600.
        lock = journal + "-drain.lock"
        fd = os.open(lock, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        os.chmod(lock, 0o600)
        os.chown(lock, serve_pw.pw_uid, gid)
        r = run(drain_uid, "check-config", "--role", "drain")
        h.check(r.returncode == 78 and "drain.lock" in r.stderr,
                "check-config --role drain names the lock the drain user "
                "cannot open: %d %s" % (r.returncode, r.stderr))
        r = subprocess.run([h.BIN, "--config", cfg, "drain", "--once"],
                           capture_output=True, text=True, timeout=120)
        h.check(r.returncode == 0, "root's drain --once: " + r.stderr)
        st = os.stat(lock)
        h.check(st.st_mode & 0o777 == 0o660 and
                (st.st_uid, st.st_gid) == (serve_pw.pw_uid, gid),
                "root's drain gives the lock the journal's owner and mode: "
                "%o %d:%d" % (st.st_mode & 0o777, st.st_uid, st.st_gid))
        r = run(drain_uid, "check-config", "--role", "drain")
        h.check(r.returncode == 0, "check-config --role drain as the drain "
                "user: %d %s" % (r.returncode, r.stderr))
        more = [h.point("grp2", i + 0.125, HOUR0 + i) for i in range(3)]
        with open(src, "w") as f:
            f.write("".join(h.json.dumps(p) + "\n" for p in more))
        r = run(serve_pw.pw_uid, "append", src)
        h.check(r.returncode == 0, "serve's user appends again: " + r.stderr)
        r = run(drain_uid, "drain", "--once")
        h.check(r.returncode == 0, "the drain user's drain --once: %d %s" %
                (r.returncode, r.stderr))
        return [pts, more]
    finally:
        shutil.rmtree(top, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        h.skip("needs root (to act as root on another user's journal)")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        h.skip("no user 'nobody' here")
    uid, gid = pw.pw_uid, pw.pw_gid
    try:
        drain_uid = pwd.getpwnam("daemon").pw_uid
    except KeyError:
        h.skip("no user 'daemon' here")

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
        return h.expected_state([pts, more, late] +
                                shared_group(env, mock, pw, drain_uid))

    h.drain_test("service-owner", body)


if __name__ == "__main__":
    main()
