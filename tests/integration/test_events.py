#!/usr/bin/env python3
"""test_events.py -- Event Overlay events spooled like points (DESIGN.md
section 9), against the mock receiver's strict /events endpoint, which
knows teams 7 and 9 only:

1. round trip: events from `append --kind events` (NDJSON in both
   forms, upstream's document, CSV) and from `serve` (POST /events and
   /api/events), among points; `drain --once` delivers every event once,
   with the ID computed here independently, and every point; one event
   is at every size limit;
2. an identical event appended again is not sent again;
3. an event of an unknown team (404 no team found) and one the receiver
   refuses (400) become dead letters, the others of their requests are
   delivered; `dlq requeue` brings them back;
4. the drainer is killed with SIGKILL while it uploads 6,000 events and
   restarted; the receiver's final events are exactly those appended."""

import hashlib
import json
import os
import random
import signal
import time

import harness as h

HOUR0 = 470000  # 2023-08-13
TEAMS = ("7", "9")


def event_id(hour, team, typ, desc, url):
    """The event ID of DESIGN.md section 9, computed independently."""
    m = hashlib.sha256()
    for item in (h.hour_str(hour), "" if team is None else str(team), typ,
                 desc, url or ""):
        b = item.encode()
        m.update(len(b).to_bytes(4, "big") + b)
    return m.hexdigest()


def element(hour, typ, desc, team=None, url=None):
    """Upstream's data element."""
    e = {"timestamp": h.hour_str(hour),
         "payload": {"type": typ, "description": desc}}
    if team is not None:
        e["team_id"] = team
    if url is not None:
        e["payload"]["event_url"] = url
    return e


def received(mock):
    """{event_id: (timestamp, team_id, type, description, url, writes)}"""
    return {e["event_id"]: (e["timestamp"], e.get("team_id"), e["type"],
                            e["description"], e.get("event_url"),
                            e["writes"])
            for e in mock.state()["events"]}


def write(env, name, text):
    path = os.path.join(env.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def append_events(env, name, text, *flags, rc=0):
    r = h.run_logged(env, "append", "--kind", "events", *flags,
                     write(env, name, text))
    h.check(r.returncode == rc, "append %s exited %d (expected %d): %s" %
            (name, r.returncode, rc, r.stderr[-2000:]))
    return r


def round_trip(env, mock):
    exp = {}

    def want(hour, typ, desc, team=None, url=None):
        exp[event_id(hour, team, typ, desc, url)] = (
            h.hour_str(hour), team, typ, desc, url)

    # NDJSON: upstream's element and the flat form, mixed.
    lines = []
    for k in range(40):
        hour, typ, desc = HOUR0 + k % 5, "deploy", "build %d to prod" % k
        team = 7 if k % 2 else None
        url = "https://ci.example/%d" % k if k % 3 == 0 else None
        want(hour, typ, desc, team, url)
        if k % 2:
            lines.append(json.dumps(element(hour, typ, desc, team, url)))
        else:
            flat = {"timestamp": h.hour_str(hour), "type": typ,
                    "description": desc}
            if team is not None:
                flat["team_id"] = team
            if url is not None:
                flat["event_url"] = url
            lines.append(json.dumps(flat))
    append_events(env, "ev.ndjson", "\n".join(lines) + "\n")
    # Upstream's document, with Unicode, detected by content.
    doc = {"data": [element(HOUR0 + 1, "incident", "Überlast ✓ %d" % k,
                            team=9) for k in range(10)]}
    for e in doc["data"]:
        want(HOUR0 + 1, "incident", e["payload"]["description"], 9)
    append_events(env, "ev-doc", json.dumps(doc))
    # CSV, quoted fields, an empty team_id and event_url.
    csv = ["timestamp,type,description,event_url,team_id"]
    for k in range(10):
        desc = 'release "%d", final' % k
        csv.append('%s,release,"%s",%s,%s' % (
            h.hour_str(HOUR0 + 2), desc.replace('"', '""'),
            "https://rel.example/%d" % k if k % 2 else "",
            "9" if k % 3 else ""))
        want(HOUR0 + 2, "release", desc, 9 if k % 3 else None,
             "https://rel.example/%d" % k if k % 2 else None)
    append_events(env, "ev.csv", "\n".join(csv) + "\n")
    # An event at every limit of section 9 (a 256-byte type, 1,000 code
    # points of 4 bytes, a 2,048-byte URL): larger than a point can be.
    typ, desc = "t" * 256, "\U0001F680" * 1000
    url = "https://max.example/" + "u" * (2048 - 20)
    want(HOUR0 + 4, typ, desc, 9, url)
    append_events(env, "ev-max.ndjson",
                  json.dumps(element(HOUR0 + 4, typ, desc, 9, url)) + "\n")
    # Points in the same journal, in two groups.
    pts = [h.point("cpu", float(k), HOUR0 + k % 3, "Sum" if k % 2 else
                   "Maximum", {"host": "h%d" % k}) for k in range(50)]
    h.append_points(env, pts)

    # serve: both routes; a bad event stores nothing of its request.
    srv = h.Serve(env, upload=upload_cfg(mock))
    h.check(srv.proc.poll() is None, "serve did not start: " + srv.log())
    body = {"data": [element(HOUR0 + 3, "deploy", "via serve %d" % k, 7)
                     for k in range(5)]}
    st, _, ans = srv.post(body, path="/events")
    h.check(st == 201 and ans == {"accepted": 5}, "POST /events: %s %s" %
            (st, ans))
    st, _, ans = srv.post({"data": [element(HOUR0 + 3, "deploy",
                                            "via /api/events")]},
                          path="/api/events")
    h.check(st == 201, "POST /api/events: %s %s" % (st, ans))
    for e in body["data"]:
        want(HOUR0 + 3, "deploy", e["payload"]["description"], 7)
    want(HOUR0 + 3, "deploy", "via /api/events")
    bad = {"data": [element(HOUR0 + 3, "deploy", "fine"),
                    {"timestamp": h.hour_str(HOUR0), "payload": {
                        "type": "x", "decscription": "typo"}}]}
    st, _, ans = srv.post(bad, path="/events")
    h.check(st == 400 and ans["errors"][0]["index"] == 1 and
            "description" in ans["errors"][0]["message"],
            "a bad event: %s %s" % (st, ans))
    h.check(srv.stop() == 0, "serve exit")

    st = env.status()
    h.check(st["pending_events"] == len(exp) and
            st["pending_points"] == len(pts),
            "status before the drain: %s (expected %d events)" %
            (st, len(exp)))
    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 0, "drain --once exited %d: %s" %
            (r.returncode, r.stderr[-2000:]))
    got = received(mock)
    h.check({k: v[:5] for k, v in got.items()} == exp,
            "receiver events differ: %d received, %d expected; missing %s"
            " extra %s" % (len(got), len(exp),
                           [exp[k] for k in exp if k not in got][:2],
                           [got[k] for k in got if k not in exp][:2]))
    h.check(all(v[5] == 1 for v in got.values()),
            "an event was sent twice in a clean run")
    h.compare_state(mock.points(), h.expected_state([pts]))
    st = env.status()
    h.check(st["pending_events"] == 0 and st["acked_events"] == len(exp),
            "status after the drain: %s" % st)

    # Identical events again: nothing new, nothing sent.
    r = append_events(env, "ev-again.ndjson", "\n".join(lines) + "\n")
    h.check("0 new" in r.stdout and "40 unchanged" in r.stdout,
            "re-append: %s" % r.stdout)
    n0 = mock.counters()["event_requests_total"]
    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 0 and
            mock.counters()["event_requests_total"] == n0,
            "identical events were sent again (exit %d)" % r.returncode)
    return exp, pts


def dead_letters(env, mock, exp):
    # Team 8 is unknown upstream: 404 no team found, one event.  A type
    # the receiver refuses: 400.  The other events flow.
    mock.fault(poison_event_type="poison")
    lines = [json.dumps(element(HOUR0 + 4, "deploy", "ok %d" % k, 7))
             for k in range(30)]
    lines.insert(11, json.dumps(element(HOUR0 + 4, "deploy", "lost", 8)))
    lines.insert(20, json.dumps(element(HOUR0 + 4, "poison", "bad")))
    append_events(env, "ev-dead.ndjson", "\n".join(lines) + "\n")
    for k in range(30):
        exp[event_id(HOUR0 + 4, 7, "deploy", "ok %d" % k, None)] = (
            h.hour_str(HOUR0 + 4), 7, "deploy", "ok %d" % k, None)
    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 65, "drain --once with dead letters exited %d:"
            " %s" % (r.returncode, r.stderr[-2000:]))
    got = received(mock)
    h.check({k: v[:5] for k, v in got.items()} == exp,
            "after dead-lettering: %d received, %d expected" %
            (len(got), len(exp)))
    st = env.status()
    h.check(st["dead_events"] == 2 and st["pending_events"] == 0 and
            st["dead_letters"] == 0,
            "status with 2 dead events: %s" % st)
    r = h.run_logged(env, "dlq", "list", "--json")
    dl = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    bodies = sorted(str(d.get("status")) for d in dl)
    h.check(r.returncode == 0 and bodies == ["400", "404"],
            "dlq list: %s" % r.stdout[-2000:])
    # Back to pending; the receiver takes the poisoned type now.
    mock.fault(poison_event_type="")
    r = h.run_logged(env, "dlq", "requeue", "--all")
    h.check(r.returncode == 0, "dlq requeue: " + r.stderr)
    return exp


def kill_during_upload(env, mock, exp):
    rnd = random.Random(int(time.time()))
    # 120 requests of 100: eight drainers killed after 1 to 6 requests
    # each (a few more where polling is slow, as under sanitizers)
    # never send them all, so every kill finds events pending.
    n = 12000
    lines = []
    for k in range(n):
        hour = HOUR0 + 10 + k // 600
        e = element(hour, "tick", "event %d" % k, int(rnd.choice(TEAMS)),
                    "https://x.example/%d" % k if k % 5 == 0 else None)
        lines.append(json.dumps(e))
        p = e["payload"]
        exp[event_id(hour, e["team_id"], "tick", p["description"],
                     p.get("event_url"))] = (
            e["timestamp"], e["team_id"], "tick", p["description"],
            p.get("event_url"))
    append_events(env, "ev-many.ndjson", "\n".join(lines) + "\n")
    mock.fault(delay_ms=40, delay_next=-1)
    kills = 0
    for i in range(8):
        k = rnd.randint(1, 6)
        n0 = mock.counters()["event_requests_total"]
        d = h.start_logged(env, "drain", name="drain-killed")
        h.wait_until(lambda: mock.counters()["event_requests_total"] >=
                     n0 + k or env.status()["pending_events"] == 0, 60,
                     "drainer %d sent %d event requests" % (i, k),
                     interval=0.005)
        d.send_signal(signal.SIGKILL)
        d.wait(timeout=10)
        kills += env.status()["pending_events"] > 0
    h.check(kills >= 4, "too few kills while events were pending: %d" %
            kills)
    mock.fault(delay_ms=0)
    r = h.run_logged(env, "drain", "--once", timeout=300)
    h.check(r.returncode == 0, "final drain exited %d: %s" %
            (r.returncode, r.stderr[-2000:]))
    got = received(mock)
    missing = [k for k in exp if k not in got]
    extra = [k for k in got if k not in exp]
    wrong = [k for k in exp if k in got and got[k][:5] != exp[k]]
    h.check(not missing and not extra and not wrong,
            "final events: %d missing, %d extra, %d wrong" %
            (len(missing), len(extra), len(wrong)))
    twice = sum(1 for v in got.values() if v[5] > 1)
    print("%d kills with events pending; %d events received twice" %
          (kills, twice))
    st = env.status()
    h.check(st["pending_events"] == 0 and st["dead_events"] == 0,
            "status at the end: %s" % st)


def upload_cfg(mock):
    """Small batches; a short request timeout keeps the wait of a
    restarted drainer for the killed one's request short."""
    return {"endpoint": mock.url, "batch_max_points": 100, "poll_ms": 20,
            "request_timeout_ms": 2000}


def run(env, mock):
    env.write_config(upload=upload_cfg(mock))
    exp, pts = round_trip(env, mock)
    exp = dead_letters(env, mock, exp)
    # After the requeue, team 8 is still unknown: its event dies again;
    # the poisoned one is delivered now.
    r = h.run_logged(env, "drain", "--once", timeout=120)
    h.check(r.returncode == 65, "drain after requeue exited %d" %
            r.returncode)
    exp[event_id(HOUR0 + 4, None, "poison", "bad", None)] = (
        h.hour_str(HOUR0 + 4), None, "poison", "bad", None)
    h.check(env.status()["dead_events"] == 1, "one event stays dead")
    r = h.run_logged(env, "dlq", "purge", "--all")
    h.check(r.returncode == 0, "dlq purge: " + r.stderr)
    kill_during_upload(env, mock, exp)
    return h.expected_state([pts])


def main():
    env = h.Env("events")
    try:
        mock = h.Mock(env, *[x for t in TEAMS for x in ("--team", t)])
        exp = run(env, mock)
        for p in env.procs:
            if p is not mock.proc and p.poll() is None:
                rc, _ = h.stop_proc(p)
                h.check(rc == 0, "a ctspool process exited %s" % rc)
        h.compare_state(mock.points(), exp, "final receiver points")
        h.check_no_secrets(env, (h.API_KEY, h.STREAM))
    finally:
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    main()
