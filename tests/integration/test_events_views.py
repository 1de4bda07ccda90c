#!/usr/bin/env python3
"""test_events_views.py -- Event Overlay events in the operator views
(DESIGN.md sections 4, 5 and 9): `status`, `list` (its kind field and
--kind filter), `streams`, `dlq list|requeue|purge`, serve's /metrics and
/healthz/upstream.

Events and points are appended; the drainer uploads them to the mock
receiver, which knows team 7 only: it answers 404 "no team found" for a
request holding team 99 (the drainer bisects it down to that event,
which becomes a dead letter) and 201 for the others.  The events
endpoint is given explicitly (upload.events_endpoint).  Every view must then count and show each kind
apart, and name the events group as such.  No output shows a whole
secret.
"""

import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

BAD_TEAM = 99
HOUR0 = 493100
EVENT_KEYS = {"kind", "event_id", "timestamp", "team_id", "type",
              "description", "event_url", "state"}
DEAD_KEYS = {"id", "status", "response", "dead_at"}


def event(hour, typ, desc, team=None, url=None):
    e = {"timestamp": h.hour_str(hour), "type": typ, "description": desc}
    if team is not None:
        e["team_id"] = team
    if url is not None:
        e["event_url"] = url
    return e


def append_events(env, events):
    text = "".join(json.dumps(e) + "\n" for e in events)
    r = env.run("append", "--kind", "events", "--format", "ndjson", "-",
                input=text)
    h.check(r.returncode == 0, "append --kind events: %d %s" %
            (r.returncode, r.stderr))


def run_ok(env, *args):
    r = env.run(*args)
    h.check(r.returncode == 0, "%s: exit %d: %s" %
            (" ".join(args), r.returncode, r.stderr[-800:]))
    for s in (h.STREAM, h.API_KEY):
        h.check(s not in r.stdout and s not in r.stderr,
                "%s shows a whole secret" % " ".join(args))
    return r


def ndjson(r):
    return [json.loads(x) for x in r.stdout.splitlines() if x]


def counts(env, want):
    st = env.status()
    got = {k: st.get(k) for k in want}
    h.check(got == want, "status --json: %r, want %r" % (got, want))
    return st


def check_event_row(r, dead=False):
    keys = EVENT_KEYS | (DEAD_KEYS if dead else set())
    h.check(set(r) == keys, "event row keys %s, want %s" %
            (sorted(r), sorted(keys)))
    h.check(len(r.get("event_id", "")) == 64, "event_id: %r" % r)


def check_views(env, ev):
    """After the first drain: E0, E1 acked, E2 dead, E3 pending; two
    points acked, one pending."""
    st = counts(env, {"pending_points": 1, "acked_points": 2,
                      "dead_letters": 0, "pending_events": 1,
                      "acked_events": 2, "dead_events": 1})
    h.check(st.get("oldest_pending_age_s") is not None,
            "oldest pending age with pending items: %r" % st)
    text = run_ok(env, "status").stdout
    h.check("events:            1 pending, 2 acknowledged, 1 dead" in text,
            "status text counts events:\n" + text)

    rows = ndjson(run_ok(env, "list", "--json"))
    h.check(len(rows) == 7, "list --json: %d rows, want 7" % len(rows))
    kinds = sorted(r.get("kind") for r in rows)
    h.check(kinds == ["event"] * 4 + ["point"] * 3,
            "kinds: %r" % kinds)
    events = [r for r in rows if r.get("kind") == "event"]
    points = [r for r in rows if r.get("kind") == "point"]
    for r in events:
        check_event_row(r, dead=r.get("state") == "dead")
    for r in points:
        h.check("metric_name" in r and "stream" in r and
                "event_id" not in r, "point row: %r" % r)
    by_desc = {r.get("description"): r for r in events}
    e0 = by_desc.get(ev[0]["description"], {})
    h.check(e0.get("team_id") == 7 and e0.get("type") == "deploy" and
            e0.get("event_url") == ev[0]["event_url"] and
            e0.get("timestamp") == ev[0]["timestamp"] and
            e0.get("state") == "acked", "E0 listed: %r" % e0)
    e1 = by_desc.get(ev[1]["description"], {})
    h.check(e1.get("team_id") is None and e1.get("event_url") is None and
            e1.get("state") == "acked", "E1 listed: %r" % e1)
    e2 = by_desc.get(ev[2]["description"], {})
    h.check(e2.get("state") == "dead" and e2.get("status") == 404 and
            "no team found" in e2.get("response", ""),
            "E2 listed: %r" % e2)
    h.check(by_desc.get(ev[3]["description"], {}).get("state") ==
            "pending", "E3 listed: %r" % by_desc.get(ev[3]["description"]))

    got = ndjson(run_ok(env, "list", "--json", "--kind", "events"))
    h.check(got == events, "--kind events: %r" % got)
    got = ndjson(run_ok(env, "list", "--json", "--kind", "points"))
    h.check(got == points, "--kind points: %r" % got)
    got = ndjson(run_ok(env, "list", "--json", "--kind", "events",
                        "--pending"))
    h.check([r.get("description") for r in got] ==
            [ev[3]["description"]], "--kind events --pending: %r" % got)
    for flags in (["--stream", h.STREAM], ["--agg", "Sum"],
                  ["--metric", "deploy"]):
        got = ndjson(run_ok(env, "list", "--json", *flags))
        h.check(all(r.get("kind") == "point" for r in got),
                "list %s shows events: %r" % (" ".join(flags), got))
    # A dead letter's row has list's columns, state "dead" (`dlq list`
    # shows its ID and upstream's answer).
    table = run_ok(env, "list").stdout.splitlines()
    h.check(table and table[0].split()[0] == "KIND" and
            sum(1 for x in table if x.startswith("event ")) == 4 and
            sum(1 for x in table if x.startswith("point ")) == 3 and
            sum(1 for x in table if x.split()[:2] == ["event", "dead"]) == 1,
            "list table:\n" + "\n".join(table))


    groups = ndjson(run_ok(env, "streams", "--json"))
    eg = [g for g in groups if g.get("kind") == "events"]
    h.check(len(eg) == 1 and eg[0].get("stream") is None and
            eg[0].get("metric_agg_func") is None and
            (eg[0].get("pending"), eg[0].get("acked"), eg[0].get("dead"))
            == (1, 2, 1) and eg[0].get("state") == "ok",
            "streams events row: %r" % groups)
    pg = [g for g in groups if g.get("kind") == "points"]
    h.check(len(pg) == 1 and pg[0].get("metric_agg_func") == "Sum" and
            (pg[0].get("pending"), pg[0].get("acked")) == (1, 2),
            "streams points row: %r" % groups)
    text = run_ok(env, "streams").stdout
    h.check(any(x.split()[:3] == ["events", "-", "-"]
                for x in text.splitlines()), "streams table:\n" + text)


def check_dlq(env, ev):
    dead = ndjson(run_ok(env, "dlq", "list", "--json"))
    h.check(len(dead) == 1 and dead[0].get("kind") == "event" and
            dead[0].get("type") == "incident" and
            dead[0].get("description") == ev[2]["description"] and
            dead[0].get("team_id") == BAD_TEAM, "dlq list --json: %r" % dead)
    if len(dead) != 1:
        return
    check_event_row(dead[0], dead=True)
    text = run_ok(env, "dlq", "list").stdout
    h.check("event" in text and ev[2]["description"] in text and
            "no team found" in text, "dlq list text:\n" + text)
    did = str(dead[0]["id"])
    r = run_ok(env, "dlq", "requeue", did)
    h.check("requeued 1 dead letter" in r.stdout, "requeue: " + r.stdout)
    counts(env, {"pending_events": 2, "dead_events": 0, "dead_letters": 0,
                 "pending_points": 1})
    got = ndjson(run_ok(env, "list", "--json", "--kind", "events",
                        "--pending"))
    h.check(sorted(r.get("description") for r in got) ==
            sorted([ev[2]["description"], ev[3]["description"]]),
            "requeued event pending again: %r" % got)


def make_dead_again(env):
    """The drainer dead-letters the team-99 event again, the rest goes."""
    d = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(d.returncode == 65, "drain --once (dead letter): %d %s" %
            (d.returncode, d.stderr[-1500:]))
    counts(env, {"pending_events": 0, "acked_events": 3, "dead_events": 1,
                 "pending_points": 0, "acked_points": 3,
                 "dead_letters": 0})


def check_metrics(env, mock):
    """serve's /metrics and /healthz/upstream with a parked events group
    (parked here by hand: a 404 of events is bisected, never parked)."""
    dead = ndjson(run_ok(env, "dlq", "list", "--json"))
    db = sqlite3.connect(env.journal, timeout=30)
    try:
        with db:
            db.execute("INSERT INTO grp_state (grp, parked_since, "
                       "parked_until_ms, reason, failures) VALUES "
                       "(-1, ?, 0, 'events endpoint refused', 1)",
                       (int(time.time()),))
    finally:
        db.close()
    # A pending event for the parked group, and a pending point.
    append_events(env, [event(HOUR0 + 9, "deploy", "parked one",
                              team=7)])
    h.append_points(env, [h.point("cpu", 9, HOUR0 + 9)])
    st = counts(env, {"pending_events": 1, "dead_events": 1,
                      "pending_points": 1, "parked_groups": 1})
    parked = st.get("parked", [])
    h.check(len(parked) == 1 and parked[0].get("kind") == "events" and
            parked[0].get("stream") is None and
            parked[0].get("metric_agg_func") is None and
            parked[0].get("pending") == 1, "status parked: %r" % parked)
    text = run_ok(env, "status").stdout
    h.check("  events: 1 pending, parked since" in text,
            "status text parked events:\n" + text)
    text = run_ok(env, "streams").stdout
    h.check(any(x.startswith("events ") and "parked since" in x
                for x in text.splitlines()), "streams parked:\n" + text)

    srv = h.Serve(env, upload={"endpoint": mock.url,
                               "events_endpoint": mock.base + "/events"})
    try:
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())
        code, _, text = srv.get("/metrics")
        v, bad = h.parse_metrics(text)
        h.check(code == 200 and not bad, "/metrics: %d %r" % (code, bad[:3]))
        want = {"ctspool_pending_events": 1, "ctspool_acked_events": 3,
                "ctspool_dead_events": 1, "ctspool_pending_points": 1,
                "ctspool_acked_points": 3, "ctspool_dead_letters": 0,
                'ctspool_group_pending{kind="events"}': 1,
                'ctspool_group_pending{stream="%s",agg="Sum",'
                'kind="points"}' % ("****" + h.STREAM[-4:]): 1}
        got = {k: v.get(k) for k in want}
        h.check(got == want, "/metrics: %r, want %r" % (got, want))
        h.check(h.STREAM not in text and "None" not in text and
                "(null)" not in text, "/metrics text:\n" + text[-2000:])
        code, _, body = srv.get("/healthz/upstream")
        doc = json.loads(body)
        pg = doc.get("parked_groups") or [{}]
        h.check(code == 503 and pg[0].get("kind") == "events" and
                pg[0].get("stream") is None and
                pg[0].get("metric_agg_func") is None and
                any("upload group events is parked" in x and
                    "1 event pending" in x for x in doc.get("reasons", [])),
                "/healthz/upstream: %d %s" % (code, body))
    finally:
        h.check(srv.stop() == 0, "serve: SIGTERM exit 0")

    if dead:
        r = run_ok(env, "dlq", "purge", str(dead[0]["id"]))
        h.check("purged 1 dead letter" in r.stdout, "purge: " + r.stdout)
        counts(env, {"dead_events": 0, "dead_letters": 0})


def main():
    env = h.Env("events-views")
    try:
        mock = h.Mock(env, "--team", "7")
        env.write_config(upload={"endpoint": mock.url,
                                 "events_endpoint": mock.base + "/events"})
        base = HOUR0
        ev = [event(base, "deploy", "v1.2 to prod", team=7,
                    url="https://ci.example.com/run/1"),
              event(base + 1, "incident", "database down"),
              event(base + 2, "incident", "unknown team", team=BAD_TEAM),
              event(base + 3, "deploy", "v1.3 to prod", team=7)]
        append_events(env, ev[:3])
        h.append_points(env, [h.point("cpu", 1, base),
                              h.point("cpu", 2, base + 1)])
        counts(env, {"pending_points": 2, "acked_points": 0,
                     "dead_letters": 0, "pending_events": 3,
                     "acked_events": 0, "dead_events": 0})

        d = h.run_logged(env, "drain", "--once", timeout=120)
        h.check(d.returncode == 65, "drain --once: %d %s" %
                (d.returncode, d.stderr[-1500:]))
        got = mock.state()["events"]
        h.check(len(got) == 2, "events accepted upstream: %r" % got)
        append_events(env, ev[3:])
        h.append_points(env, [h.point("cpu", 3, base + 3)])
        check_views(env, ev)
        check_dlq(env, ev)
        make_dead_again(env)
        check_metrics(env, mock)
        h.check_no_secrets(env, [h.STREAM, h.API_KEY])
        # A team ID beyond a double's 15 digits is listed exactly.
        append_events(env, [event(HOUR0 + 50, "deploy", "big team",
                                  team=5000000000000001)])
        got = run_ok(env, "list", "--json", "--kind", "events", "--pending")
        h.check('"team_id":5000000000000001,' in got.stdout,
                "a large team_id listed exactly: " + got.stdout)
    finally:
        env.cleanup()
    # Only events pending: the oldest's age is on the events line.
    env = h.Env("events-age")
    try:
        append_events(env, [event(HOUR0, "deploy", "alone")])
        text = run_ok(env, "status").stdout
        h.check("pending points:    0\n" in text and
                "events:            1 pending (oldest " in text,
                "status text, only an event pending:\n" + text)
    finally:
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    main()
