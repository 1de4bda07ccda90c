#!/usr/bin/env python3
"""test_events_endpoint.py -- a 404 from the events endpoint that is not
"no team found" (a wrong upload.events_endpoint: upstream answers "not
found" for the path) says nothing of the events: the events group is
parked, saying to check upload.events_endpoint, its events stay pending
(none dead-lettered, `drain --once` exits 75), the points go on; once
the endpoint is right, every event is delivered.  (A 404 "no team
found" is bisected to the events of the unknown team: test_events.)

With no events endpoint at all (upload.endpoint does not end in
streams/ingest to derive it from), the events group is parked too, and
status counts no upload request: none was sent."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HOUR0 = 493300


def main():
    env = h.Env("events-endpoint")
    try:
        mock = h.Mock(env)
        env.write_config(upload={"endpoint": mock.url,
                                 "events_endpoint": mock.base + "/nowhere"})
        events = [{"timestamp": h.hour_str(HOUR0 + i), "type": "deploy",
                   "description": "release %d" % i} for i in range(3)]
        r = env.run("append", "--kind", "events", "--format", "ndjson", "-",
                    input="".join(json.dumps(e) + "\n" for e in events))
        h.check(r.returncode == 0, "append events: " + r.stderr)
        h.append_points(env, [h.point("cpu", 1.0, HOUR0)])

        d = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(d.returncode == 75, "drain --once with a wrong events "
                "path: exit %d: %s" % (d.returncode, d.stderr[-800:]))
        h.check("upload.events_endpoint" in d.stderr,
                "the log says to check upload.events_endpoint: " +
                d.stderr[-800:])
        st = env.status()
        h.check(st.get("pending_events") == 3 and
                st.get("dead_events") == 0 and
                st.get("dead_letters") == 0,
                "events stay pending, none dead: %s" % st)
        h.check(len(mock.points()) == 1, "the point was delivered: %r" %
                mock.points())

        env.write_config(upload={"endpoint": mock.url})
        d = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(d.returncode == 0, "drain --once with the right path: "
                "exit %d: %s" % (d.returncode, d.stderr[-800:]))
        got = sorted(e.get("payload", e).get("description", "")
                     for e in mock.state()["events"])
        h.check(got == ["release 0", "release 1", "release 2"],
                "every event delivered: %r" % mock.state()["events"])
        h.check_no_secrets(env, (h.API_KEY, h.STREAM))
    finally:
        env.cleanup()
    no_endpoint()
    h.finish()


def no_endpoint():
    env = h.Env("events-no-endpoint")
    try:
        mock = h.Mock(env)
        env.write_config(upload={"endpoint": mock.base + "/v2/ingest"})
        r = env.run("append", "--kind", "events", "--format", "ndjson", "-",
                    input=json.dumps({"timestamp": h.hour_str(HOUR0),
                                      "type": "deploy",
                                      "description": "d"}) + "\n")
        h.check(r.returncode == 0, "append an event: " + r.stderr)
        d = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(d.returncode == 75, "drain --once with no events endpoint: "
                "exit %d: %s" % (d.returncode, d.stderr[-800:]))
        h.check("set upload.events_endpoint" in d.stderr and
                "HTTP 404" not in d.stderr,
                "the log says to set upload.events_endpoint, and blames no "
                "404: " + d.stderr[-800:])
        st = env.status()
        sent = {k: st.get(k) for k in st if k.startswith("upload_requests")}
        h.check(st.get("pending_events") == 1 and
                st.get("parked_groups") == 1 and
                set(sent.values()) == {0},
                "the event stays pending, its group parked, no request "
                "counted: %s" % st)
        h.check("events_endpoint" in (st.get("last_upload_error") or ""),
                "the last error names the setting: %s" % st)
        h.check(mock.state()["events"] == [], "nothing reached upstream")
        text = env.run("status")
        h.check("404" not in text.stdout,
                "status blames no 404: " + text.stdout)
    finally:
        env.cleanup()


if __name__ == "__main__":
    main()
