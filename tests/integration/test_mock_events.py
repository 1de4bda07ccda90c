#!/usr/bin/env python3
"""test_mock_events.py -- the mock receiver's Event Overlay endpoint
(tests/mock/README.md), by real HTTP requests: a valid event is stored
under its event ID (DESIGN.md section 9), every malformed element gets
400 naming its index, an unknown team gets 404, a refused request
stores nothing, the same event again counts a second write, /api/events
is the same endpoint, the poison_event_type knob refuses its events and
/_mock/reset forgets them.  Points are counted apart from events."""

import hashlib
import json
import struct
import urllib.error
import urllib.request

import harness as h

TS = "2022-10-01 05:00:00"
DEPLOY = {"timestamp": TS, "team_id": 7,
          "payload": {"type": "deploy", "description": "v1.2 to prod",
                      "event_url": "https://ci.example/1"}}
# The first event ID test vector of the mock's --selftest.
DEPLOY_ID = "fdab1d47fe782b52a1896ab94f241b102ae8f4ef289074414699d49ab0e47fa5"


def event_id(ts, team, typ, desc, url):
    """Reference event ID (DESIGN.md section 9), independent of C code."""
    def item(s):
        b = s.encode("utf-8")
        return struct.pack(">I", len(b)) + b
    return hashlib.sha256(item(ts) + item("" if team is None else str(team))
                          + item(typ) + item(desc) + item(url or "")
                          ).hexdigest()


def post(mock, body, path="/events"):
    """POST body (an object, or bytes as they are) the way ctspool does;
    returns (status, parsed answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(mock.base + path, data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("User-Agent", "ctspool/test")
    req.add_header("x-api-key", h.API_KEY)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


def ev(typ="t", desc="d", url=None, team=None, **extra):
    e = {"timestamp": TS, "payload": {"type": typ, "description": desc}}
    if url is not None:
        e["payload"]["event_url"] = url
    if team is not None:
        e["team_id"] = team
    e.update(extra)
    return e


def events(mock):
    return {e["event_id"]: e for e in mock.state()["events"]}


def run(mock):
    # 201 and the stored event.
    st, ans = post(mock, {"data": [DEPLOY]})
    h.check(st == 201 and ans.get("count") == 1, "valid event: %s %s" %
            (st, ans))
    h.check(event_id(TS, 7, "deploy", "v1.2 to prod",
                     "https://ci.example/1") == DEPLOY_ID,
            "reference event ID differs from the test vector")
    got = events(mock)
    h.check(list(got) == [DEPLOY_ID], "stored event IDs: %s" % list(got))
    h.check(got.get(DEPLOY_ID) == {
        "event_id": DEPLOY_ID, "timestamp": TS, "team_id": 7,
        "type": "deploy", "description": "v1.2 to prod",
        "event_url": "https://ci.example/1", "writes": 1},
        "stored event: %s" % got.get(DEPLOY_ID))

    # 400: each refused request names the bad element and stores
    # nothing (the first element is valid: nothing of a refused request
    # is kept).
    before = mock.state()
    cases = [
        ("unknown member", ev(colour="red")),
        ("decscription", {"timestamp": TS, "payload": {
            "type": "t", "decscription": "d"}}),
        ("team_id 1.5", ev(team=1.5)),
        ("team_id string", ev(team="7")),
        ("team_id 0", ev(team=0)),
        ("team_id negative", ev(team=-3)),
        ("team_id null", ev(team_id=None)),
        ("missing payload", {"timestamp": TS}),
        ("url ftp://x", ev(url="ftp://x")),
        ("url without host", ev(url="https://")),
        ("empty type", ev(typ="")),
        ("type of 257 bytes", ev(typ="t" * 257)),
        ("empty description", ev(desc="")),
        ("1001-code-point description", ev(desc="\u00e9" * 1001)),
        ("minutes in timestamp", ev(timestamp="2022-10-01 05:30:00")),
        ("no such date", ev(timestamp="2022-02-30 05:00:00")),
    ]
    for what, bad in cases:
        st, ans = post(mock, {"data": [ev("ok-first"), bad]})
        h.check(st == 400 and isinstance(ans, dict) and
                ans.get("index") == 1 and
                ans.get("message", "").startswith("data[1]"),
                "%s: %s %s" % (what, st, ans))
    st, ans = post(mock, {"data": [ev("\u00e9" * 10, "\u00e9" * 1000)]})
    h.check(st == 201, "1000-code-point description: %s %s" % (st, ans))
    for what, body in (("no data", {}), ("empty data", {"data": []}),
                       ("extra member", {"data": [ev()], "x": 1}),
                       ("not JSON", b"{\"data\":")):
        st, ans = post(mock, body)
        h.check(st == 400, "%s: %s %s" % (what, st, ans))
    _, ans = post(mock, {"data": [cases[1][1]]})
    h.check('"description"' in ans.get("message", ""),
            "no spelling hint: %s" % ans)

    # 404: the first element of an unknown team; validation comes first.
    st, ans = post(mock, {"data": [DEPLOY, ev(team=8), ev(team=9)]})
    h.check(st == 404 and ans == {"message": "no team found", "index": 1},
            "team 8: %s %s" % (st, ans))
    st, ans = post(mock, {"data": [ev(team=8), ev(team=1.5)]})
    h.check(st == 400 and ans.get("index") == 1,
            "400 before 404: %s %s" % (st, ans))
    after = mock.state()
    h.check(len(after["events"]) == len(before["events"]) + 1,
            "a refused request stored something: %d events before, %d "
            "after (one accepted meanwhile)" %
            (len(before["events"]), len(after["events"])))
    h.check(event_id(TS, None, "ok-first", "d", None) not in events(mock),
            "the valid element of a refused request was stored")

    # The same event again: a second write, no new event.
    c0 = mock.counters()
    st, _ = post(mock, {"data": [DEPLOY]})
    h.check(st == 201, "DEPLOY again: %s" % st)
    h.check(events(mock)[DEPLOY_ID]["writes"] == 2, "writes after resend")
    c1 = mock.counters()
    h.check(c1["events_rewritten"] == c0["events_rewritten"] + 1 and
            c1["events_new"] == c0["events_new"],
            "counters after resend: %s" % c1)

    # /api/events is the same endpoint.
    st, _ = post(mock, {"data": [ev("incident", "db failover")]},
                 "/api/events")
    h.check(st == 201, "/api/events: %s" % st)
    inc = event_id(TS, None, "incident", "db failover", None)
    h.check(events(mock).get(inc, {}).get("writes") == 1,
            "event via /api/events not stored")

    # poison_event_type, shown by GET /_mock/fault.
    mock.fault(poison_event_type="bad-")
    h.check(mock._req("GET", "/_mock/fault").get("poison_event_type") ==
            "bad-", "poison_event_type not shown")
    st, ans = post(mock, {"data": [ev("fine"), ev("bad-one")]})
    h.check(st == 400 and ans == {"message": "invalid type", "index": 1},
            "poison: %s %s" % (st, ans))
    mock.fault(poison_event_type=None)
    st, _ = post(mock, {"data": [ev("bad-one")]})
    h.check(st == 201, "poison cleared: %s" % st)

    # The shared fault knobs apply to events too.
    mock.fault(fail_next=1, fail_status=503)
    st, _ = post(mock, {"data": [ev("after-fail")]})
    h.check(st == 503, "fail_next on events: %s" % st)
    mock.fault(max_points=1)
    st, ans = post(mock, {"data": [ev("a"), ev("b")]})
    h.check(st == 413, "max_points on events: %s %s" % (st, ans))
    mock.fault(max_points=0)

    # Counters: events apart from points.
    c = mock.counters()
    h.check(c["requests_total"] == 0 and c["points_accepted"] == 0,
            "events counted as ingest requests: %s" % c)
    h.check(c["event_requests_by_status"].get("503") == 1 and
            c["event_requests_by_status"].get("413") == 1 and
            c["event_requests_by_status"].get("404") == 1 and
            c["event_requests_total"] ==
            sum(c["event_requests_by_status"].values()),
            "event request counters: %s" % c)

    # Reset forgets events, counters and the knob.
    mock.fault(poison_event_type="x")
    mock.reset()
    s = mock.state()
    h.check(s["events"] == [] and s["counters"]["event_requests_total"] == 0
            and s["counters"]["events_new"] == 0, "after reset: %s" % s)
    h.check(mock._req("GET", "/_mock/fault").get("poison_event_type") is
            None, "reset kept poison_event_type")


def main():
    env = h.Env("mock-events")
    try:
        mock = h.Mock(env, "--team", "7")
        run(mock)
        mock.stop()
        h.check(mock.proc.returncode == 0, "mock exit %s" %
                mock.proc.returncode)
    finally:
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    main()
