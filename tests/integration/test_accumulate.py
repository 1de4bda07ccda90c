#!/usr/bin/env python3
"""test_accumulate.py -- local hourly rollup (DESIGN.md section 10) with
real processes.

1. Several producers at once, over HTTP (?mode=accumulate) and the CLI
   (append --accumulate), send raw observations of the four aggregation
   functions over three hours while `drain --once` runs now and then; the
   receiver's final values are exact: Sum the total, Maximum / Minimum
   the extremes, Average the mean of every observation.
2. Retries with an idempotency key count once (HTTP: the first answer
   again; CLI: exit 0, "already applied").
3. `serve` is killed with SIGKILL during accumulate traffic; clients
   retry every request that got no answer, with the same key, once it is
   back: the final Sum counts every request exactly once."""

import json
import random
import re
import signal
import threading
import time

import harness as h

HOUR0 = 472000
AGGS = ["Sum", "Average", "Maximum", "Minimum"]


def obs(agg, hour, value):
    return {"timestamp": h.hour_str(hour), "metric_name": "rollup-" + agg,
            "metric_value": value, "metric_agg_func": agg,
            "custom_dimensions": {"host": "edge-1"}}


def expected(sent):
    """(agg, hour) -> the hourly value upstream must end with."""
    by = {}
    for agg, hour, v in sent:
        by.setdefault((agg, hour), []).append(v)
    out = {}
    for (agg, hour), vs in by.items():
        if agg == "Sum":
            out[(agg, hour)] = float(sum(vs))
        elif agg == "Maximum":
            out[(agg, hour)] = float(max(vs))
        elif agg == "Minimum":
            out[(agg, hour)] = float(min(vs))
        else:
            out[(agg, hour)] = float(sum(vs)) / len(vs)
    return out


def receiver_values(mock):
    out = {}
    for p in mock.state()["points"]:
        name = p["metric_name"]
        if not name.startswith("rollup-"):
            continue
        hour = p["timestamp"]
        out[(name[len("rollup-"):], hour)] = p["metric_value"]
    return out


def as_keyed(exp):
    return {(agg, h.hour_str(hour)): v for (agg, hour), v in exp.items()}


def concurrent_producers(env, mock, srv):
    sent, lock = [], threading.Lock()
    errors = []

    def http_producer(seed):
        rnd = random.Random(seed)
        conn = srv.connection()
        for _ in range(60):
            agg = rnd.choice(AGGS)
            picks = [(HOUR0 + rnd.randint(0, 2), rnd.randint(-50, 1000))
                     for _ in range(5)]
            data = [h.data_point("rollup-" + agg, v, hour,
                                 {"host": "edge-1"}) for hour, v in picks]
            st, _, body = srv.request(
                "POST", "/streams/ingest?mode=accumulate",
                h.ingest_payload(data, agg=agg), conn=conn)
            if st != 201:
                errors.append("HTTP %s %s" % (st, body))
                continue
            with lock:
                sent.extend((agg, hour, v) for hour, v in picks)
        conn.close()

    def cli_producer(seed):
        rnd = random.Random(seed)
        for _ in range(12):
            batch = []
            for _ in range(10):
                agg = rnd.choice(AGGS)
                hour = HOUR0 + rnd.randint(0, 2)
                batch.append(dict(obs(agg, hour, rnd.randint(-50, 1000)),
                                  hour=hour))
            r = h.append_points(env, [{k: v for k, v in p.items()
                                       if k != "hour"} for p in batch],
                                "--accumulate", check_rc=False)
            if r.returncode != 0:
                errors.append("append %d: %s" % (r.returncode, r.stderr))
                continue
            with lock:
                sent.extend((p["metric_agg_func"], p["hour"],
                             p["metric_value"]) for p in batch)

    threads = [threading.Thread(target=http_producer, args=(i,))
               for i in range(3)]
    threads += [threading.Thread(target=cli_producer, args=(100 + i,))
                for i in range(2)]
    for t in threads:
        t.start()
    drains = 0
    while any(t.is_alive() for t in threads):
        r = h.run_logged(env, "drain", "--once")
        h.check(r.returncode == 0, "drain --once during the load: %d %s" %
                (r.returncode, r.stderr[-500:]))
        drains += 1
    for t in threads:
        t.join()
    h.check(not errors, "producers failed: %s" % errors[:3])
    r = h.run_logged(env, "drain", "--once")
    h.check(r.returncode == 0, "last drain: %d %s" % (r.returncode,
                                                     r.stderr[-500:]))
    exp = as_keyed(expected(sent))
    got = receiver_values(mock)
    h.check(got == exp, "after %d drains, receiver %s != expected %s" %
            (drains + 1, sorted(got.items())[:4], sorted(exp.items())[:4]))
    print("%d observations from 5 producers, %d drains: %d hourly values "
          "exact" % (len(sent), drains + 1, len(exp)))


def idempotent_retries(env, srv):
    payload = h.ingest_payload([h.data_point("idem", 5, HOUR0)], agg="Sum")
    path = "/streams/ingest?mode=accumulate"
    first = srv.request("POST", path, payload,
                        headers={"Idempotency-Key": "retry-1"})
    again = srv.request("POST", path, payload,
                        headers={"Idempotency-Key": "retry-1"})
    h.check(first[0] == 201 and again[0] == 201 and
            json.loads(first[2]) == json.loads(again[2]),
            "HTTP retry with the same key: %s / %s" % (first, again))
    st, _, body = srv.request("POST", path, payload,
                              headers={"Idempotency-Key": "x" * 256})
    h.check(st == 400 and "Idempotency-Key" in body, "a 256-byte key: %s %s"
            % (st, body))
    p = [obs("Sum", HOUR0, 7)]
    p[0]["metric_name"] = "idem"
    p[0]["custom_dimensions"] = {}
    r1 = h.append_points(env, p, "--accumulate", "--idempotency-key", "cli-1")
    r2 = h.append_points(env, p, "--accumulate", "--idempotency-key", "cli-1")
    h.check("already applied" in r2.stdout and r2.returncode == 0 and
            r2.stdout.count("\n") == 1 and
            r2.stdout.endswith("); nothing changed\n"),
            "CLI retry, said in one line: %r / %r" % (r1.stdout, r2.stdout))
    rows = [x for x in env.list() if x["metric_name"] == "idem"]
    h.check(len(rows) == 1 and rows[0]["metric_value"] == 12.0,
            "idem: 5 + 7 once each: %s" % rows)
    # The CLI's key replayed over HTTP: the JSON answer HTTP gives.
    st, hdrs, body = srv.request("POST", path, payload,
                                 headers={"Idempotency-Key": "cli-1"})
    h.check(st == 201 and body.startswith("{") and
            json.loads(body) == {"accepted": 1},
            "HTTP replay of the CLI's key: %s %r" % (st, body))
    # A run that stored nothing (its only line invalid, skipped) does not
    # use its key up: the fixed retry is applied.
    bad = "".join(json.dumps(x) + "\n" for x in p)[:-3] + "\n"
    r = env.run("append", "--accumulate", "--skip-invalid",
                "--idempotency-key", "cli-2", "-", input=bad)
    h.check(r.returncode == 65, "the broken run: %d %s" % (r.returncode,
                                                           r.stderr))
    r = h.append_points(env, p, "--accumulate", "--idempotency-key", "cli-2")
    h.check("already applied" not in r.stdout, "the fixed retry: %r" %
            r.stdout)
    rows = [x for x in env.list() if x["metric_name"] == "idem"]
    h.check(len(rows) == 1 and rows[0]["metric_value"] == 19.0,
            "idem: the fixed retry adds 7: %s" % rows)


def refused_fold(env, srv):
    """A fold whose result is not finite: 400 in the full form, naming
    its index in "errors"; nothing of the request stored."""
    path = "/streams/ingest?mode=accumulate"
    big = h.data_point("huge", 1e308, HOUR0 + 5)
    st, _, _ = srv.request("POST", path, h.ingest_payload([big], agg="Sum"))
    h.check(st == 201, "1e308 folded from nothing: %d" % st)
    st, _, body = srv.request("POST", path, h.ingest_payload(
        [h.data_point("fine", 1, HOUR0 + 5), big], agg="Sum"))
    ans = json.loads(body) if body.startswith("{") else {}
    errs = ans.get("errors") or [{}]
    h.check(st == 400 and len(ans.get("errors", [])) == 1 and
            errs[0].get("index") == 1 and
            "not finite" in errs[0].get("message", "") and
            not errs[0]["message"].startswith("data["),
            "a fold not finite: %d %r" % (st, body))
    h.check(not [x for x in env.list() if x["metric_name"] == "fine"],
            "nothing of the refused request is stored")


def kill_during_traffic(env, mock, srv):
    n_threads, per = 4, 150
    answered, lock = set(), threading.Lock()

    def client(t):
        conn = None
        for i in range(per):
            key = "kill-%d-%d" % (t, i)
            payload = h.ingest_payload(
                [h.data_point("counted", 1, HOUR0 + 5)], agg="Sum")
            try:
                conn = conn or srv.connection(timeout=10)
                st, _, _ = srv.request(
                    "POST", "/streams/ingest?mode=accumulate", payload,
                    headers={"Idempotency-Key": key}, conn=conn)
            except OSError:
                conn = None
                continue
            if st == 201:
                with lock:
                    answered.add(key)

    threads = [threading.Thread(target=client, args=(t,))
               for t in range(n_threads)]
    for t in threads:
        t.start()
    h.wait_until(lambda: len(answered) >= 150, 120,
                 "150 requests answered before the kill")
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    for t in threads:
        t.join(timeout=120)
    n_before = len(answered)
    h.check(srv.start(), "serve restarted: " + srv.log()[-500:])
    # Every request that got no answer is sent again with its key; the
    # ones answered before may be sent again too (a client that is not
    # sure): either way each counts once.
    conn = srv.connection()
    for t in range(n_threads):
        for i in range(per):
            key = "kill-%d-%d" % (t, i)
            if key in answered and i % 2:
                continue
            st, _, body = srv.request(
                "POST", "/streams/ingest?mode=accumulate",
                h.ingest_payload([h.data_point("counted", 1, HOUR0 + 5)],
                                 agg="Sum"),
                headers={"Idempotency-Key": key}, conn=conn)
            h.check(st == 201, "retry of %s: %s %s" % (key, st, body))
    conn.close()
    r = h.run_logged(env, "drain", "--once")
    h.check(r.returncode == 0, "drain after the kill: %d %s" %
            (r.returncode, r.stderr[-500:]))
    got = [p["metric_value"] for p in mock.state()["points"]
           if p["metric_name"] == "counted"]
    h.check(got == [float(n_threads * per)],
            "kill -9 during accumulate traffic: receiver %s, expected %d "
            "(%d answered before the kill)" % (got, n_threads * per,
                                               n_before))
    print("serve killed after %d of %d requests answered; with retries "
          "the hourly Sum is exactly %d" % (n_before, n_threads * per,
                                            n_threads * per))


def requeue_past_unfoldable():
    """Two dead letters of one point whose fold is not finite: `dlq
    requeue --all` names the one that cannot come back, leaves it dead,
    brings back the others and exits 65; run again, it meets the value
    the others left and stays; purged, nothing is left."""
    env = h.Env("accumulate-requeue")
    try:
        env.write_config()
        hour = h.hour_str(HOUR0)

        def retired(names):
            pts = [{"timestamp": hour, "metric_name": n, "metric_value": v,
                    "metric_agg_func": "Sum"} for n, v in names]
            r = h.run_logged(env, "append", "--accumulate", "--format",
                             "ndjson", "-",
                             input="".join(json.dumps(p) + "\n"
                                           for p in pts))
            h.check(r.returncode == 0, "append: %s" % r.stderr[-300:])
            r = h.run_logged(env, "streams", "retire", h.STREAM)
            h.check(r.returncode == 0, "retire: %s" % r.stderr[-300:])
        retired([("f%d" % i, 1) for i in range(30)] + [("x", 1.5e308)])
        retired([("x", 1.5e308)] + [("g%d" % i, 2) for i in range(30)])
        r = h.run_logged(env, "dlq", "requeue", "--all")
        bad = re.search(r"dead letter (\d+): folding it with dead letter "
                        r"\d+ gives a number that is not finite; it stays "
                        r"dead\n", r.stderr)
        st = env.status()
        h.check(r.returncode == 65 and bad and
                "requeued 61 dead letters" in r.stdout and
                "1 dead letter left dead: purge it" in r.stderr and
                st["pending_points"] == 61 and st["dead_letters"] == 1,
                "requeue --all past a letter that cannot fold: %d %s %s" %
                (r.returncode, r.stdout + r.stderr[-500:], st))
        pending = {p["metric_name"]: p["metric_value"]
                   for p in env.list("--pending")}
        h.check(len(pending) == 61 and pending["x"] == 1.5e308 and
                all(pending["f%d" % i] == 1 and pending["g%d" % i] == 2
                    for i in range(30)),
                "values after requeue --all: %s" % sorted(pending.items()))
        r = h.run_logged(env, "dlq", "requeue", "--all")
        h.check(r.returncode == 65 and
                "dead letter %s: folding it with the stored value gives a "
                "number that is not finite; it stays dead" % bad.group(1)
                in r.stderr and "requeued 0 dead letters" in r.stdout,
                "requeue --all again: %d %s" %
                (r.returncode, r.stdout + r.stderr[-500:]))
        r = h.run_logged(env, "dlq", "purge", bad.group(1))
        h.check(r.returncode == 0, "purge the letter: %s" % r.stderr)
        r = h.run_logged(env, "dlq", "requeue", "--all")
        st = env.status()
        h.check(r.returncode == 0 and "requeued 0 dead letters" in r.stdout
                and r.stderr == "" and st["pending_points"] == 61 and
                st["dead_letters"] == 0,
                "requeue --all after the purge: %d %s %s" %
                (r.returncode, r.stdout + r.stderr, st))
    finally:
        env.cleanup()


def main():
    requeue_past_unfoldable()
    env = h.Env("accumulate")
    try:
        mock = h.Mock(env)
        upload = {"endpoint": mock.url, "batch_max_points": 50,
                  "poll_ms": 50}
        srv = h.Serve(env, upload=upload)
        h.check(srv.proc.poll() is None, "serve started: " + srv.log())
        concurrent_producers(env, mock, srv)
        idempotent_retries(env, srv)
        refused_fold(env, srv)
        kill_during_traffic(env, mock, srv)
        rc = srv.stop()
        h.check(rc == 0, "serve exited %s on SIGTERM" % rc)
    finally:
        env.cleanup()
    h.finish()


if __name__ == "__main__":
    main()
