#!/usr/bin/env python3
"""test_serve_keys.py -- where `ctspool serve` takes its API keys from
(DESIGN.md sections 5, 7, 12): server.api_keys, server.api_keys_file
(one key a line, blank lines and '#' comments ignored) and
$CTSPOOL_SERVER_API_KEYS (comma-separated; it wins over both):

- keys from the file are accepted, a comment line is not a key, any
  other key is 401; the list and the file together both work;
- with the variable set, only its keys are accepted;
- SIGHUP reads the file again: a key removed from it is refused at
  once, a key added accepted; a file that has gone leaves
  the running keys in force, logged naming the file;
- an unreadable file at start is exit 78 naming it (also for
  check-config --role serve);
- no key ever appears in a log or an answer.
"""

import os
import signal

import harness as h

HOUR0 = 474000
K_FILE1 = "file-key-one-0123456789-SECRETF1"
K_FILE2 = "file-key-two-0123456789-SECRETF2"
K_LIST = "list-key-0123456789-SECRETLS"
K_ENV1 = "env-key-one-0123456789-SECRETE1"
K_ENV2 = "env-key-two-0123456789-SECRETE2"
K_COMMENT = "commented-0123456789-SECRETCM"
ALL = [K_FILE1, K_FILE2, K_LIST, K_ENV1, K_ENV2, K_COMMENT]


def write_keys(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


def accepted(srv, key, n=[0]):
    """Status of one ingest request with key."""
    n[0] += 1
    st, _, body = srv.post(h.ingest_payload(
        [h.data_point("k-%d" % n[0], n[0], HOUR0)]), key=key)
    for s in ALL:
        h.check(s not in str(body), "a key in an answer")
    return st


def reload(srv):
    n = srv.log().count("SIGHUP: configuration")
    srv.proc.send_signal(signal.SIGHUP)
    h.wait_until(lambda: srv.log().count("SIGHUP: configuration") > n, 30,
                 "reload logged")


def part_file_and_reload():
    env = h.Env("serve-keys-file")
    try:
        path = os.path.join(env.dir, "server_keys")
        write_keys(path, ["# keys of the producers", "",
                          "  %s  " % K_FILE1, "#%s" % K_COMMENT])
        srv = h.Serve(env, keys=(), server={"api_keys_file": path})
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())
        h.check(accepted(srv, K_FILE1) == 201, "the file's key")
        h.check(accepted(srv, K_COMMENT) == 401, "a comment is no key")
        h.check(accepted(srv, "#" + K_COMMENT) == 401, "nor the line")
        h.check(accepted(srv, K_FILE2) == 401, "an unknown key")
        h.check(accepted(srv, None) == 401, "no key")

        # SIGHUP: the file read again.
        write_keys(path, [K_FILE2])
        reload(srv)
        h.check("configuration reloaded" in srv.log() and
                "server.api_keys_file" in srv.log(),
                "reload names the source: " + srv.log()[-1000:])
        h.check(accepted(srv, K_FILE1) == 401, "removed key refused")
        h.check(accepted(srv, K_FILE2) == 201, "added key accepted")

        # Gone now (unreadable for root too): the running keys stay.
        os.rename(path, path + ".away")
        reload(srv)
        h.check("configuration not reloaded" in srv.log() and
                path in srv.log(), "unreadable file logged: " +
                srv.log()[-1000:])
        h.check(accepted(srv, K_FILE2) == 201, "keys kept in force")
        os.rename(path + ".away", path)

        # The list and the file together.
        srv.keys = [K_LIST]
        env.write_config(server={"listen": "127.0.0.1:%d" % srv.port,
                                 "api_keys": [K_LIST],
                                 "api_keys_file": path})
        reload(srv)
        h.check(accepted(srv, K_LIST) == 201 and
                accepted(srv, K_FILE2) == 201, "list and file both")
        h.check(srv.stop() == 0, "serve: SIGTERM exit 0")
        errors = [l for l in srv.log().splitlines() if "level=error" in l]
        h.check(len(errors) == 1 and "not reloaded" in errors[0],
                "one error, the refused reload: %r" % errors)
        h.check_no_secrets(env, ALL)
    finally:
        env.cleanup()


def part_env():
    env = h.Env("serve-keys-env")
    old = os.environ.get("CTSPOOL_SERVER_API_KEYS")
    try:
        path = os.path.join(env.dir, "server_keys")
        write_keys(path, [K_FILE1])
        os.environ["CTSPOOL_SERVER_API_KEYS"] = " %s,%s " % (K_ENV1, K_ENV2)
        srv = h.Serve(env, keys=[K_LIST], server={"api_keys_file": path})
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())
        h.check(accepted(srv, K_ENV1) == 201 and
                accepted(srv, K_ENV2) == 201, "the variable's keys")
        h.check(accepted(srv, K_FILE1) == 401 and
                accepted(srv, K_LIST) == 401,
                "the variable wins over the file and the list")
        h.check(srv.stop() == 0, "serve: SIGTERM exit 0")
        h.check_no_secrets(env, ALL)
    finally:
        if old is None:
            os.environ.pop("CTSPOOL_SERVER_API_KEYS", None)
        else:
            os.environ["CTSPOOL_SERVER_API_KEYS"] = old
        env.cleanup()


def part_unreadable():
    env = h.Env("serve-keys-missing")
    try:
        path = os.path.join(env.dir, "no-such-keys")
        srv = h.Serve(env, keys=(), server={"api_keys_file": path})
        rc = srv.proc.wait(timeout=30)
        h.check(rc == 78 and path in srv.log() and
                "server.api_keys_file" in srv.log(),
                "missing keys file: exit %s: %s" % (rc, srv.log()))
        r = h.run_logged(env, "check-config", "--role", "serve")
        h.check(r.returncode == 78 and path in r.stderr,
                "check-config --role serve: %d %s" % (r.returncode,
                                                     r.stderr))
    finally:
        env.cleanup()


if __name__ == "__main__":
    part_file_and_reload()
    part_env()
    part_unreadable()
    h.finish()
