#!/usr/bin/env python3
"""test_streams_list.py -- the `streams` list of the configuration
(DESIGN.md sections 5 and 7): producers may use only the data stream
tokens it lists; an empty list allows any.

append, in every format: a point whose token (its own, or the default) is
not listed is invalid input naming the point, exit 65, nothing stored; an
unlisted --stream is a usage error (64); an unlisted
upload.data_stream_token is a configuration error (78) naming both keys.
serve: 400 naming each index, the answer never holding the whole token;
SIGHUP changes the list at once.  No output ever shows the whole token.
"""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

OTHER = "stream-other-listed-0123456789-OTHER"
UNLISTED = "stream-unlisted-0123456789-SECRET9876"
MASKED = "\"****9876\""
REASON = "is not in the streams list of the configuration"
HOUR0 = 493000


def write(env, name, text):
    path = os.path.join(env.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def inputs(env):
    """Three files, one a format, each with one point of the default
    stream, one of OTHER and two of UNLISTED; and where the unlisted
    ones are (locators as append prints them)."""
    ts = h.hour_str(HOUR0)
    nd = [{"timestamp": ts, "metric_name": "nd-%d" % i,
           "metric_agg_func": "Sum", "metric_value": i}
          for i in range(4)]
    nd[1]["data_stream_token"] = OTHER
    nd[2]["data_stream_token"] = UNLISTED
    nd[3]["data_stream_token"] = UNLISTED
    csv = ("timestamp,metric_name,metric_value,metric_agg_func,"
           "data_stream_token\n"
           "%s,csv-0,0,Sum,\n%s,csv-1,1,Sum,%s\n%s,csv-2,2,Sum,%s\n"
           "%s,csv-3,3,Sum,%s\n" % (ts, ts, OTHER, ts, UNLISTED, ts,
                                    UNLISTED))
    pts = [h.data_point("ct-%d" % i, i, HOUR0) for i in range(2)]
    ct = (json.dumps(h.ingest_payload(pts[:1])) +
          json.dumps(h.ingest_payload(pts[1:], stream=OTHER)) +
          json.dumps(h.ingest_payload(pts, stream=UNLISTED)))
    return [
        (write(env, "in.ndjson", "".join(json.dumps(p) + "\n" for p in nd)),
         ["line 3", "line 4"]),
        (write(env, "in.csv", csv), ["line 4", "line 5"]),
        (write(env, "in.json", ct),
         ["object 3, data[0]", "object 3, data[1]"]),
    ]


def pending(env):
    if not os.path.exists(env.journal):
        return 0
    return env.status()["pending_points"]


def test_append():
    env = h.Env("streams-append", top={"streams": [h.STREAM, OTHER]})
    try:
        for path, where in inputs(env):
            before = pending(env)
            r = h.run_logged(env, "append", path)
            h.check(r.returncode == 65, "%s: exit 65 (%d): %s" %
                    (path, r.returncode, r.stderr[-1500:]))
            for w in where:
                want = "%s: data_stream_token: %s %s" % (w, MASKED, REASON)
                h.check(want in r.stderr, "%s: names %s: %s" %
                        (path, w, r.stderr[-1500:]))
            h.check(pending(env) == before, "%s: nothing stored" % path)
            r = h.run_logged(env, "append", "--skip-invalid", path)
            h.check(r.returncode == 65 and "2 invalid skipped" in r.stdout,
                    "%s: --skip-invalid stores the listed ones: %s %s" %
                    (path, r.stdout, r.stderr[-500:]))
        h.check(pending(env) == 6, "6 listed points stored (%d)" %
                pending(env))
        streams = sorted(p["stream"] for p in env.list())
        h.check(streams == sorted(["****" + h.STREAM[-4:]] * 3 +
                                  ["****" + OTHER[-4:]] * 3),
                "the listed streams only: %r" % streams)

        # --stream: a listed token is fine, another a usage error.
        nd = write(env, "plain.ndjson", json.dumps(
            {"timestamp": h.hour_str(HOUR0 + 1), "metric_name": "s",
             "metric_agg_func": "Sum", "metric_value": 1}) + "\n")
        r = h.run_logged(env, "append", "--stream", UNLISTED, nd)
        h.check(r.returncode == 64, "unlisted --stream: exit 64 (%d)" %
                r.returncode)
        h.check("--stream: data_stream_token: %s %s" % (MASKED, REASON)
                in r.stderr, "unlisted --stream named: " + r.stderr)
        r = h.run_logged(env, "append", "--stream", OTHER, nd)
        h.check(r.returncode == 0, "listed --stream: exit 0 (%d) %s" %
                (r.returncode, r.stderr))
        h.check(pending(env) == 7, "the --stream point is stored")

        # The default stream must be listed: a configuration error.
        env.write_config(top={"streams": [OTHER]})
        for args in (("append", nd), ("check-config",)):
            r = h.run_logged(env, *args)
            h.check(r.returncode == 78, "%s: unlisted default: exit 78 "
                    "(%d)" % (args[0], r.returncode))
            h.check("'upload.data_stream_token' is not in 'streams'" in
                    r.stderr, "%s: both keys named: %s" %
                    (args[0], r.stderr))
        r = h.run_logged(env, "append", nd,
                         env={"CTSPOOL_DATA_STREAM_TOKEN": UNLISTED})
        h.check(r.returncode == 78 and "$CTSPOOL_DATA_STREAM_TOKEN is not "
                "in 'streams'" in r.stderr,
                "an unlisted default from the environment: exit 78 (%d) %s"
                % (r.returncode, r.stderr))

        # An empty list: any token, in every format.
        env.write_config(top={"streams": []})
        for path, _ in inputs(env):
            r = h.run_logged(env, "append", path)
            h.check(r.returncode == 0, "empty list, %s: exit 0 (%d) %s" %
                    (path, r.returncode, r.stderr[-500:]))
        h.check(pending(env) == 13, "the unlisted points are stored with "
                "an empty list (%d)" % pending(env))
        h.check_no_secrets(env, [UNLISTED, OTHER, h.STREAM])
    finally:
        env.cleanup()


def test_serve():
    env = h.Env("streams-serve")
    try:
        srv = h.Serve(env, top={"streams": [h.STREAM, OTHER]})
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())
        data = [h.data_point("s-%d" % i, i, HOUR0) for i in range(3)]
        data[1]["metric_value"] = "not a number"

        st, _, text = srv.request("POST", "/streams/ingest",
                                  h.ingest_payload(data, stream=UNLISTED))
        h.check(st == 400, "unlisted token: 400 (%s)" % st)
        h.check(UNLISTED not in text and "SECRET" not in text,
                "the answer does not show the token: " + text)
        try:
            body = json.loads(text)
        except ValueError:
            body = {}
        errs = {e["index"]: e["message"] for e in body.get("errors", [])}
        want = "data_stream_token: %s %s" % (MASKED, REASON)
        h.check(errs.get(0) == want and errs.get(2) == want,
                "points 0 and 2 named with the reason: %r" % body)
        h.check(errs.get(1, "").startswith("metric_value"),
                "point 1: its own error first: %r" % body)

        good = [h.data_point("g", 1, HOUR0)]
        for stream in (None, OTHER, h.STREAM):
            st, _, body = srv.post(h.ingest_payload(good, stream=stream))
            h.check(st in (200, 201), "listed %s: stored (%s %r)" %
                    ("default" if stream is None else "token", st, body))

        # SIGHUP: the new list applies at once.
        def reload_with(streams):
            n = srv.log().count("configuration reloaded")
            env.write_config(top={"streams": streams}, server={
                "listen": "127.0.0.1:%d" % srv.port, "api_keys": srv.keys})
            srv.proc.send_signal(signal.SIGHUP)
            h.check(h.wait_for(lambda: srv.log().count(
                "configuration reloaded") > n, 30),
                "reload logged: " + srv.log()[-1500:])

        reload_with([UNLISTED, h.STREAM])
        st, _, body = srv.post(h.ingest_payload(good, stream=UNLISTED))
        h.check(st in (200, 201), "after SIGHUP the new token is listed "
                "(%s %r)" %
                (st, body))
        st, _, body = srv.post(h.ingest_payload(good, stream=OTHER))
        h.check(st == 400 and "****" + OTHER[-4:] in json.dumps(body),
                "after SIGHUP the dropped token is refused (%s %r)" %
                (st, body))
        reload_with([])
        st, _, body = srv.post(h.ingest_payload(good, stream=OTHER))
        h.check(st in (200, 201), "an empty list: any token (%s %r)" %
                (st, body))

        rc = srv.stop()
        h.check(rc == 0, "serve exits 0 (%s)" % rc)
        h.check(len(env.list()) == 3, "only the accepted points stored: %r"
                % env.list())
        log = srv.log()
        h.check(UNLISTED not in log and OTHER not in log,
                "the log shows no token")
        h.check("Sanitizer" not in log and "runtime error" not in log,
                "no sanitizer report: " + log[-3000:])
    finally:
        env.cleanup()


if __name__ == "__main__":
    test_append()
    test_serve()
    h.finish()
