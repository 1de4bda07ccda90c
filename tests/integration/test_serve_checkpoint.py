#!/usr/bin/env python3
"""test_serve_checkpoint.py -- serve's WAL is checkpointed by its
checkpoint thread, not by the writer (ckpt.c): after enough 1,000-point
requests to fill the WAL past 1,000 pages several times, the debug log
shows the checkpointer's checkpoints and none by the writer; the WAL
file stays far below the size all those commits would give it unchecked;
every point answered is in the journal; serve stops cleanly.  Also with
a reader holding a transaction open meanwhile (a drainer or `status`
reading), which keeps the WAL from starting over: serve still answers
and stores everything.
"""

import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, Serve, check, data_point, finish,  # noqa: E402
                     ingest_payload, journal_points, payload_points,
                     wait_for)

REQUESTS = 120
PER_REQ = 1000
H0 = 471000
CKPT_SAID = "msg=\"checkpoint: "
WRITER_SAID = "checkpoint by the writer"


def load(srv, tag, first_hour):
    """REQUESTS bodies of PER_REQ new points; {key: value} answered 201."""
    expected = {}
    conn = srv.connection(timeout=120)
    try:
        for i in range(REQUESTS):
            p = ingest_payload([data_point("ckpt.%s.%d" % (tag, k), i + k,
                                           first_hour + i,
                                           {"host": "h%04d" % k})
                                for k in range(PER_REQ)])
            st, _, body = srv.post(p, conn=conn)
            check(st == 201 and body == {"accepted": PER_REQ},
                  "request %d answered %r %r" % (i, st, body))
            if st == 201:
                expected.update(payload_points(p))
    finally:
        conn.close()
    return expected


def main():
    env = Env("serve-ckpt")
    try:
        srv = Serve(env, top={"log_level": "debug"})
        if not check(srv.proc.poll() is None, "serve started: " + srv.log()):
            return
        wal = env.journal + "-wal"
        expected = load(srv, "a", H0)
        check(wait_for(lambda: CKPT_SAID in srv.log(), 30),
              "the checkpoint thread checkpointed: " + srv.log()[-2000:])
        check(WRITER_SAID not in srv.log(),
              "the writer did not have to checkpoint")
        # Unchecked, 120,000 points would leave a WAL of tens of MB.
        size = os.path.getsize(wal)
        check(size < 16 * 1024 * 1024, "WAL file %d bytes" % size)

        # A reader keeps a snapshot: the WAL cannot start over meanwhile.
        ro = sqlite3.connect(env.journal)
        ro.execute("BEGIN")
        ro.execute("SELECT count(*) FROM point").fetchone()
        expected.update(load(srv, "b", H0 + REQUESTS))
        ro.rollback()
        ro.close()

        got = journal_points(env)
        missing = [k for k in expected if got.get(k) != expected[k]]
        check(len(expected) == 2 * REQUESTS * PER_REQ,
              "%d points answered 201" % len(expected))
        check(not missing, "%d answered points missing or wrong, e.g. %r" %
              (len(missing), missing[:3]))
        rc = srv.stop()
        check(rc == 0, "serve exit code %r" % rc)
        log = srv.log()
        check("level=error" not in log and "level=warn" not in log,
              "errors logged:\n" + log[-3000:])
    finally:
        env.cleanup()
    finish()


if __name__ == "__main__":
    main()
