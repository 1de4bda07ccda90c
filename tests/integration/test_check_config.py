#!/usr/bin/env python3
"""test_check_config.py -- `ctspool check-config [--role ROLE]`.

  all      a file with several problems: each reported on a line of its
           own naming file, line and setting, exit 78, no "ok"; a
           misspelt setting gets the closest known one; no secret in
           any output
  good     a sound file: "FILE: ok", exit 0, nothing on stderr, with
           and without --role all
  serve    no server.api_keys, and allow_unauthenticated on 0.0.0.0:
           refused with --role serve as `ctspool serve` refuses them;
           allow_unauthenticated on 127.0.0.1 passes
  drain    no API key anywhere, a missing api_key_file, a missing
           ca_file: refused with --role drain; $CTSPOOL_API_KEY or a
           readable key file passes
  append   a journal in a directory that does not exist: refused with
           --role append (and every role), not without a role
  writable (root, user nobody) the service user's journal in a directory
           it cannot write (where the -wal and -shm files go): refused
           with --role append naming the directory, and `append` fails
           naming it too, not "attempt to write a readonly database";
           with the directory the user's, both pass
  usage    an unknown role: exit 64
"""

import os
import pwd
import subprocess

import harness as h

SERVER_KEY = "server-key-0123456789-SECRETSRV"
SECRETS = (h.API_KEY, h.STREAM, SERVER_KEY)
NO_ENV_KEY = {"CTSPOOL_API_KEY": "", "CTSPOOL_DATA_STREAM_TOKEN": ""}


def run(env, *args, extra=None):
    e = dict(NO_ENV_KEY)
    e.update(extra or {})
    r = env.run("check-config", *args, env=e)
    for s in SECRETS:
        h.check(s not in r.stdout and s not in r.stderr,
                "check-config %s printed a secret" % " ".join(args))
    return r


def problems(r):
    return [line for line in r.stderr.splitlines() if line]


def expect_ok(env, *args, extra=None):
    r = run(env, *args, extra=extra)
    h.check(r.returncode == 0 and r.stdout == env.config + ": ok\n" and
            r.stderr == "",
            "check-config %s: want ok, got %d %r %r" %
            (" ".join(args), r.returncode, r.stdout, r.stderr))


def expect_refused(env, args, needles, extra=None):
    r = run(env, *args, extra=extra)
    h.check(r.returncode == 78 and r.stdout == "",
            "check-config %s: want 78, got %d %r" %
            (" ".join(args), r.returncode, r.stdout))
    for n in needles:
        h.check(any(n in line for line in problems(r)),
                "check-config %s: no line with %r in %r" %
                (" ".join(args), n, r.stderr))
    return r


def line_of(env, text):
    with open(env.config) as f:
        for i, line in enumerate(f, 1):
            if text in line:
                return i
    raise AssertionError("%r not in the config" % text)


def test_all_reported():
    env = h.Env("chk-all")
    try:
        env.write_config(top={"journl": env.journal, "log_format": "xml"},
                         upload={"poll_ms": "5", "retry_base_ms": 5000,
                                 "retry_max_ms": 1000},
                         server={"listen": "nowhere",
                                 "api_keys": [SERVER_KEY],
                                 "max_body_bytes": 1})
        want = [("journl", "unknown setting 'journl'; did you mean "
                 "'journal'?"),
                ("log_format", "'log_format' must be"),
                ("poll_ms", "'upload.poll_ms' must be an integer"),
                ("retry_base_ms", "'upload.retry_base_ms' (5000) must "
                 "not exceed"),
                ("listen", "'server.listen' must be"),
                ("max_body_bytes", "'server.max_body_bytes' must be")]
        r = expect_refused(env, [], [w for _, w in want])
        lines = problems(r)
        h.check(len(lines) == len(want),
                "one line per problem: %r" % lines)
        for key, w in want:
            at = "%s:%d: " % (env.config, line_of(env, key))
            h.check(any(at in line and w in line for line in lines),
                    "%r reported at %r: %r" % (w, at, lines))
        # A misspelt key inside a group; one too far gets no guess.
        env.write_config(upload={"batch_max_point": 5},
                         server={"api_keys": [SERVER_KEY],
                                 "lisen_on_port": 5})
        r = expect_refused(env, [], [
            "unknown setting 'upload.batch_max_point'; did you mean "
            "'upload.batch_max_points'?",
            "unknown setting 'server.lisen_on_port'"])
        h.check("did you mean" not in problems(r)[-1],
                "no guess for a name far from any: %r" % r.stderr)
        # A bad $CTSPOOL_LOG_LEVEL is one more problem, not the only one.
        r = expect_refused(env, [], [
            "CTSPOOL_LOG_LEVEL: unknown level 'verbose'",
            "unknown setting 'upload.batch_max_point'"],
            extra={"CTSPOOL_LOG_LEVEL": "verbose"})
        h.check(len(problems(r)) == 3, "three problems: %r" % r.stderr)
    finally:
        env.cleanup()


def test_good():
    env = h.Env("chk-good", server={"api_keys": [SERVER_KEY]})
    try:
        expect_ok(env)
        expect_ok(env, "--role", "all")
        expect_ok(env, "--role", "serve", "--role", "drain")
    finally:
        env.cleanup()


def test_serve():
    env = h.Env("chk-serve")
    try:
        expect_ok(env)  # no role: the file alone is sound
        expect_refused(env, ["--role", "serve"],
                       ["serve: server.api_keys is empty"])
        env.write_config(server={"allow_unauthenticated": True,
                                 "listen": "0.0.0.0:8765"})
        r = expect_refused(env, ["--role", "serve"], [
            "serve: server.allow_unauthenticated is only allowed on a "
            "loopback address"])
        # `ctspool serve` refuses the same file for the same reason,
        # before it binds anything.
        s = env.run("serve", env=NO_ENV_KEY, timeout=60)
        reason = problems(r)[0].split("serve: ", 2)[-1]
        h.check(s.returncode == 78 and reason in s.stderr,
                "serve refuses what check-config refuses: %d %r %r" %
                (s.returncode, s.stderr, reason))
        env.write_config(server={"allow_unauthenticated": True,
                                 "listen": "127.0.0.1:8765"})
        expect_ok(env, "--role", "serve")
    finally:
        env.cleanup()


def test_drain():
    env = h.Env("chk-drain", upload={"api_key": ""})
    try:
        expect_ok(env)
        expect_refused(env, ["--role", "drain"],
                       ["drain: no upload API key"])
        expect_ok(env, "--role", "drain",
                  extra={"CTSPOOL_API_KEY": h.API_KEY})
        key_file = os.path.join(env.dir, "api_key")
        env.write_config(upload={"api_key": "", "api_key_file": key_file})
        expect_refused(env, ["--role", "drain"],
                       ["drain: upload.api_key_file: cannot read API "
                        "key file " + key_file])
        with open(key_file, "w") as f:
            f.write(h.API_KEY + "\n")
        os.chmod(key_file, 0o600)
        expect_ok(env, "--role", "drain")
        ca = os.path.join(env.dir, "no-such-ca.pem")
        env.write_config(upload={"ca_file": ca})
        expect_refused(env, ["--role", "drain"],
                       ["drain: upload.ca_file " + ca + " cannot be read"])
        # A directory, or a file without a PEM certificate, is no file
        # curl can take as ca_file.
        env.write_config(upload={"ca_file": env.dir})
        expect_refused(env, ["--role", "drain"],
                       ["drain: upload.ca_file " + env.dir +
                        " is not a PEM file of certificates"])
        with open(ca, "w") as f:
            f.write("not a certificate\n")
        env.write_config(upload={"ca_file": ca})
        expect_refused(env, ["--role", "drain"],
                       ["drain: upload.ca_file " + ca +
                        " holds no PEM certificate"])
    finally:
        env.cleanup()


def test_append():
    env = h.Env("chk-append")
    try:
        missing = os.path.join(env.dir, "no-such-dir")
        env.write_config(top={"journal": os.path.join(missing, "j.db")})
        expect_ok(env)
        for role in ("append", "drain", "all"):
            expect_refused(env, ["--role", role],
                           ["journal: cannot create journal",
                            "directory " + missing + " does not exist"])
        h.check(not os.path.exists(missing), "nothing created")
        env.write_config()
        expect_ok(env, "--role", "append")
        h.check(not os.path.exists(env.journal),
                "check-config does not create the journal")
        # A directory where the journal should be is named as such, by
        # check-config and by the command it would refuse.
        os.mkdir(env.journal)
        expect_refused(env, ["--role", "append"],
                       ["is not a regular file (a directory)"])
        r = env.run("status")
        h.check(r.returncode == 73 and "not a regular file" in r.stderr,
                "status on a directory: %d %s" % (r.returncode, r.stderr))
        os.rmdir(env.journal)
    finally:
        env.cleanup()


def test_writable():
    if os.geteuid() != 0:
        h.skip_part("writable: needs root (to act as user nobody)")
        return
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        h.skip_part("writable: no user 'nobody' here")
        return
    env = h.Env("chk-writable")
    try:
        ro = os.path.join(env.dir, "ro")
        os.mkdir(ro, 0o755)
        journal = os.path.join(ro, "j.db")
        env.write_config(top={"journal": journal})
        h.append_points(env, [h.point("w", 1.0, 470000)])
        for suffix in ("-wal", "-shm"):
            if os.path.exists(journal + suffix):
                os.unlink(journal + suffix)
        os.chown(journal, pw.pw_uid, pw.pw_gid)
        os.chown(env.config, pw.pw_uid, pw.pw_gid)
        os.chmod(env.dir, 0o755)

        def as_nobody(*args, stdin=None):
            def drop():
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
            return subprocess.run(env.cmd(*args), input=stdin,
                                  capture_output=True, text=True,
                                  timeout=120, preexec_fn=drop)

        needle = "directory %s is not writable" % ro
        r = as_nobody("check-config", "--role", "append")
        h.check(r.returncode == 78 and needle in r.stderr,
                "check-config --role append as nobody: %d %r" %
                (r.returncode, r.stderr))
        line = ('{"timestamp":"2023-08-17 12:00:00","metric_name":"w2",'
                '"metric_value":2,"metric_agg_func":"Sum"}\n')
        # Exit 73, as below: this user cannot write there (not 74, an
        # I/O error).
        r = as_nobody("append", "-", stdin=line)
        h.check(r.returncode == 73 and needle in r.stderr,
                "append as nobody: %d %r" % (r.returncode, r.stderr))
        os.chown(ro, pw.pw_uid, pw.pw_gid)
        r = as_nobody("check-config", "--role", "append")
        h.check(r.returncode == 0, "with the directory nobody's: %d %r" %
                (r.returncode, r.stderr))
        r = as_nobody("append", "-", stdin=line)
        h.check(r.returncode == 0, "append with the directory nobody's: "
                "%d %r" % (r.returncode, r.stderr))
        # The journal given to root (a restore as root, say): every
        # command names the file, its owner and mode, not SQLite's
        # "unable to open database file".
        os.chown(journal, 0, 0)
        os.chmod(journal, 0o600)
        for args in (("status",), ("list",), ("append", "-")):
            r = as_nobody(*args, stdin=line if args[0] == "append" else None)
            h.check(r.returncode == 73 and
                    "%s is not readable and writable for this user" %
                    journal in r.stderr and "owner uid 0" in r.stderr,
                    "%s on root's journal as nobody: %d %r" %
                    (args[0], r.returncode, r.stderr))
    finally:
        env.cleanup()


def test_usage():
    env = h.Env("chk-usage")
    try:
        r = run(env, "--role", "relay")
        h.check(r.returncode == 64 and "relay" in r.stderr,
                "unknown role: %d %r" % (r.returncode, r.stderr))
    finally:
        env.cleanup()


def main():
    test_all_reported()
    test_good()
    test_serve()
    test_drain()
    test_append()
    test_writable()
    test_usage()
    h.finish()


if __name__ == "__main__":
    main()
