"""The metrics engine through the read API (SPEC §4, §6, §7; issue 3):
a few thousand generated events compared field by field with an independent
computation (expected.py), the edges of the windows on the real clock,
equality across a restart, a kill -9 and `kinerjad --rebuild`, retention, and
the read API's answers and permissions.

The data's seed is fixed (KJ_SEED overrides it) and every failure message
starts with it."""
import csv
import io
import json
import os
import subprocess
import time

import msgpack
import pytest
import websocket

import expected as X
from conftest import (ADMIN_SECRET, INGEST_SECRET, KINERJAD, VIEWER_SECRET, Daemon, metric, now_ms,
                      sha)

SEED = int(os.environ.get("KJ_SEED", "20261124"))
MIN, HOUR, DAY = X.MIN, X.HOUR, X.DAY
K, P = X.Population.K, X.Population.P
SITI, BUDI, BOTH = X.Population.SITI, X.Population.BUDI, X.Population.BOTH
KASEMEN_SLA = 300_000
SLA = {K: KASEMEN_SLA}
PERSONAL_SECRET = "personal-secret"
FAR = 2**53  # a "to" beyond any event

UNITS = f"""
units:
  - id: {K}
    name: "Pelayanan Terpadu Kasemen"
    sla_wait_ms: {KASEMEN_SLA}
    members:
      - {{id: "{SITI}", name: "Siti Rahmawati"}}
      - {{id: "{BUDI}", name: "Budi Santoso"}}
    counters:
      - {{id: loket-1, name: "Loket 1"}}
      - {{id: loket-2, name: "Loket 2"}}
  - id: {P}
    name: "Perizinan"
"""

INDICATORS = f"""
indicators:
  - id: sla
    name: "Dilayani dalam batas waktu tunggu"
    metric: services.sla_pct
    window: today
    target: 60
    better: higher
    warn_margin: 0.10
    applies_to: [unit, employee]
    units: "*"
  - id: ikm
    name: "IKM"
    metric: ratings.ikm
    window: 30d
    target: 76.61
    better: higher
    applies_to: [unit]
    units: "*"
  - id: wait-p90
    name: "Waktu tunggu p90"
    metric: services.wait_ms.p90
    window: 1h
    target: 900000
    better: lower
    warn_margin: 0.10
    applies_to: [unit, employee]
    units: "*"
    overrides:
      - employee: "{BUDI}"
        target: 600000
"""

IND_TARGETS = {"sla": 60, "ikm": 76.61, "wait-p90": 900000}
IND_OVERRIDES = {("wait-p90", BUDI): 600000}


def make_daemon(tmp_path, extra=""):
    d = Daemon(tmp_path, units=UNITS, extra=INDICATORS + extra)
    # a personal token: one employee's own view (SPEC §8 / issue 3)
    text = open(d.config_path).read().replace(
        "tokens:\n", "tokens:\n  - {name: siti, sha256: \"%s\", role: viewer, units: [%s], "
        "employee: \"%s\"}\n" % (sha(PERSONAL_SECRET), K, SITI))
    open(d.config_path, "w").write(text)
    return d.start()


@pytest.fixture
def mdaemon(tmp_path):
    d = make_daemon(tmp_path)
    yield d
    if d.alive():
        assert d.stop() == 0, "\n".join(d.lines[-30:])
    assert not any("AddressSanitizer" in l or "runtime error" in l for l in d.lines), \
        "\n".join(d.lines[-60:])


def get(d, path, token=ADMIN_SECRET):
    r, data = d.request("GET", path, token=token)
    ctype = r.getheader("Content-Type") or ""
    body = json.loads(data) if ctype.startswith("application/json") and data else data
    return r.status, body


def snapshot(d, unit, token=ADMIN_SECRET):
    status, body = get(d, f"/api/v1/snapshot?unit={unit}", token)
    assert status == 200, (status, body)
    return body


def series(d, scope, metric, res, frm, to, token=ADMIN_SECRET):
    status, body = get(d, f"/api/v1/series?scope={scope}&metric={metric}&res={res}"
                          f"&from={frm}&to={to}", token)
    assert status == 200, (scope, metric, res, status, body)
    return body["points"]


def post_all(d, events, batch=400):
    """Posts in batches, alternately with the ingest and the admin token
    (both may post for every unit); every event must be accepted."""
    for i in range(0, len(events), batch):
        chunk = events[i:i + batch]
        token = INGEST_SECRET if (i // batch) % 2 == 0 else ADMIN_SECRET
        status, body, _ = d.post_msgpack(chunk, token=token)
        assert status == 200, (status, body)
        assert body["rejected"] == [] and body["duplicates"] == 0, body
        assert body["accepted"] == len(chunk), body


# --- checking a snapshot against the model ----------------------------------

def _status(better, target, margin, value):
    if value is None:
        return "none"
    band = margin * abs(target)
    if better == "higher":
        return "ok" if value >= target else "warn" if value >= target - band else "bad"
    return "ok" if value <= target else "warn" if value <= target + band else "bad"


IND_CONF = {"sla": ("higher", 0.10, "today", "services.sla_pct", True),
            "ikm": ("higher", 0.0, "30d", "ratings.ikm", False),
            "wait-p90": ("lower", 0.10, "1h", "services.wait_ms.p90", True)}


def check_indicators(snap, want, problems):
    """Each indicator entry: value from the model's metric, target (personal
    overrides), status and achievement_pct (SPEC §5); alerts newest first, a
    chain per indicator and scope whose last `to` is the current status."""
    inds = snap["indicators"]
    seen = set()
    for ind in inds:
        better, margin, window, metric, for_emp = IND_CONF[ind["id"]]
        kind, _, who = ind["scope"].partition(":")
        obj = want["unit_metrics"] if kind == "unit" else want["members"].get(who)
        seen.add((ind["id"], ind["scope"]))
        if obj is None:
            problems.append(f"indicator {ind['id']} for unknown scope {ind['scope']}")
            continue
        value = X.metric_value(obj[window], metric)
        target = IND_OVERRIDES.get((ind["id"], who), IND_TARGETS[ind["id"]])
        where = f"indicators[{ind['id']} {ind['scope']}]"
        if (ind["metric"], ind["window"], ind["better"]) != (metric, window, better):
            problems.append(f"{where}: {ind}")
        X.compare(ind["value"], value, where + "." + metric.rsplit(".", 1)[-1], problems)
        X.compare(ind["target"], float(target), where + ".target", problems)
        # the status of a percentile may differ from the exact value's only
        # where the estimate's tolerance straddles a boundary
        edges = [target, target + margin * target, target - margin * target]
        near = value is not None and metric.endswith(("p50", "p90")) and \
            any(abs(value - e) <= max(1, 0.01 * value) for e in edges)
        if not near and ind["status"] != _status(better, target, margin, value):
            problems.append(f"{where}.status: got {ind['status']}, value {value}, "
                            f"target {target}")
        if ind["value"] is None:
            if ind["achievement_pct"] is not None:
                problems.append(f"{where}.achievement_pct: {ind['achievement_pct']} "
                                "without a value")
        else:
            r = ind["value"] / target
            pct = min(200.0, max(0.0, (r if better == "higher" else 2 - r) * 100))
            if ind["achievement_pct"] is None or abs(ind["achievement_pct"] - pct) > 0.006:
                problems.append(f"{where}.achievement_pct: got {ind['achievement_pct']}, "
                                f"want {pct}")
    want_entries = {(i, f"unit:{snap['unit']}") for i in IND_CONF} | \
        {(i, f"employee:{m}") for i, c in IND_CONF.items() if c[4] for m in want["members"]}
    if seen != want_entries or len(inds) != len(want_entries):
        problems.append(f"indicator entries {sorted(seen)} != {sorted(want_entries)}")
    alerts = snap["alerts"]
    if [a["at"] for a in alerts] != sorted((a["at"] for a in alerts), reverse=True):
        problems.append("alerts are not newest first")
    chains = {}
    for a in reversed(alerts):
        key = (a["indicator"], a["scope"])
        if key in chains and chains[key] != a["from"]:
            problems.append(f"alert chain broken for {key}: {chains[key]} then from {a['from']}")
        chains[key] = a["to"]
    if len(alerts) < 200:   # (the daemon keeps the newest 200 a unit)
        for ind in inds:
            # a scope that appeared after the start took its first status
            # silently (SPEC §16): only a scope with alerts is checked
            last = chains.get((ind["id"], ind["scope"]), None)
            if last is not None and last != ind["status"]:
                problems.append(f"indicator {ind['id']} {ind['scope']} is {ind['status']} but its "
                                f"last alert says {last}")


def check_snapshot(snap, events, unit, problems, indicators=True):
    """Compares every metric field, presence and serving of a snapshot with
    the model at the snapshot's own "at"."""
    want = X.snapshot(events, unit, snap["at"], X.Population.units, SLA)
    for part in ("unit_metrics", "members", "counters"):
        got = snap[part]
        if part == "unit_metrics" and got:  # the queue has its own model (test_queue.py)
            got = {k: v for k, v in got.items() if k != "queue"}
        X.compare(got, want[part], f"{unit}.{part}", problems)
    if indicators:
        check_indicators(snap, want, problems)
    return want


def fail_msg(problems, what=""):
    return f"seed {SEED} {what}: {len(problems)} differences:\n" + "\n".join(problems[:60])


# --- 1. every field against an independent computation ----------------------

def test_snapshot_matches_independent_computation(mdaemon):
    d = mdaemon
    gen_now = now_ms() - 1000
    events = X.generate(SEED, gen_now, sla=SLA)
    assert len(events) > 3000
    post_all(d, events)
    # an event older than max_event_age is refused, naming ts
    too_old = {"id": "too-old", "type": "task", "ts": now_ms() - 35 * DAY - MIN, "unit": K,
               "employee": SITI, "kind": "surat"}
    status, body, _ = d.post_json([too_old])
    assert status == 200 and body["accepted"] == 0, body
    assert body["rejected"][0]["error"].startswith("ts:"), body
    problems = []
    for unit in (K, P):
        snap = snapshot(d, unit)
        assert snap["op"] == "snapshot" and snap["unit"] == unit
        assert snap["at"] >= gen_now
        check_snapshot(snap, events, unit, problems)
    assert not problems, fail_msg(problems, "snapshot vs model")


def test_series_match_posted_events(mdaemon):
    """/api/v1/series: one point per bucket with data, its start and value
    those of the events in it (minute, hour and local-day buckets)."""
    d = mdaemon
    gen_now = now_ms() - 1000
    events = X.generate(SEED + 1, gen_now, n_kasemen=1200, n_perizinan=300, sla=SLA)
    post_all(d, events)
    metrics = ["services.count", "services.no_show", "tasks.count", "services.wait_ms.max",
               "services.service_ms.p90", "services.sla_pct", "services.per_hour",
               "ratings.ikm", "ratings.ikm_elements.U4", "tasks.on_time_pct"]
    scopes = [(f"unit:{K}", lambda e: e["unit"] == K),
              (f"employee:{BOTH}", lambda e: e.get("employee") == BOTH),
              (f"counter:{K}/loket-1", lambda e: e["unit"] == K and e.get("counter") == "loket-1"),
              (f"counter:{P}/loket-1", lambda e: e["unit"] == P and e.get("counter") == "loket-1")]
    problems = []
    for attempt in range(3):
        problems = []
        t0 = now_ms()
        m0, h0 = t0 // MIN, t0 // HOUR
        # what the engine holds in memory: the last hour of minutes, 30 days
        # of hours, 36 local days
        ranges = {"minute": ((m0 - 58) * MIN, m0 * MIN + 10 * MIN, MIN),
                  "hour": ((h0 - 718) * HOUR, FAR, HOUR),
                  "day": (0, FAR, None)}
        for scope, pick in scopes:
            evs = [e for e in events if e["type"] != "presence" and pick(e)]
            for res, (frm, to, size) in ranges.items():
                buckets = {}
                for e in evs:
                    start = X.midnight_ms(X.local_date(e["ts"])) if size is None else \
                        e["ts"] // size * size
                    buckets.setdefault(start, []).append(e)
                hours = {"minute": 1 / 60, "hour": 1, "day": 24}[res]
                for metric in metrics:
                    pts = series(d, scope, metric, res, frm, to)
                    want = []
                    for start in sorted(buckets):
                        if not frm <= start < to:
                            continue
                        v = X.metric_value(X.aggregate(buckets[start], hours,
                                                       lambda u: SLA.get(u, X.DEFAULT_SLA)),
                                           metric)
                        if v is not None:
                            want.append([start, v])
                    where = f"series {scope} {metric} {res}"
                    if [p[0] for p in pts] != [w[0] for w in want]:
                        problems.append(f"{where}: starts {[p[0] for p in pts]} != "
                                        f"{[w[0] for w in want]}")
                        continue
                    for p, w in zip(pts, want):
                        X.compare(p[1], w[1], f"{where} @{p[0]}.{metric.rsplit('.', 1)[-1]}",
                                  problems)
        if now_ms() // MIN == m0:
            break       # the minute buckets cannot have moved while we asked
    assert not problems, fail_msg(problems, "series vs model")
    # every kasemen service counted once in the day series
    day_total = sum(v for _, v in series(d, f"unit:{K}", "services.count", "day", 0, FAR))
    assert day_total == sum(1 for e in events if e["unit"] == K and e["type"] == "service" and
                            e.get("outcome") != "no_show")


# --- 2. window edges on the real clock --------------------------------------

def count(obj, window):
    s = obj[window]["services"]
    return 0 if s is None else s["count"]


def live_connect(d, unit, token=VIEWER_SECRET):
    ws = websocket.create_connection(f"ws://127.0.0.1:{d.port}/", subprotocols=["kinerja-live.v1"],
                                     header=[f"Authorization: Bearer {token}"], timeout=100)
    ws.send_binary(msgpack.packb({"op": "subscribe", "unit": unit}))
    return ws


def test_window_edges_real_clock(mdaemon):
    """Midnight in Asia/Jakarta, the 15-minute and 1-hour edges, a late event
    and events from the future within max_clock_skew: each on a counter of
    its own, so that one snapshot shows where each one counts."""
    d = mdaemon
    posted = []
    for attempt in range(4):
        now = now_ms()
        m, h = now // MIN, now // HOUR
        d0 = X.today_start(now)
        tag = f"a{attempt}"
        cases = {
            "yesterday": d0 - 1,                 # local midnight minus 1 ms
            "midnight": d0,                      # local midnight exactly
            "in15": (m - 14) * MIN,              # first ms of the oldest minute of 15m
            "out15": (m - 14) * MIN - 1,         # last ms of the minute before it
            "in1h": (m - 59) * MIN,
            "out1h": (m - 59) * MIN - 1,
            "in7d": (h - 167) * HOUR,
            "out7d": (h - 167) * HOUR - 1,
            "late": now - 58 * MIN,              # an hour-old counter that was offline
            "future": now + 2 * MIN,             # within max_clock_skew (5 min)
            "soon": (m + 1) * MIN + 200,         # the next minute
        }
        evs = {k: {"id": f"edge-{tag}-{k}", "type": "service", "ts": ts, "unit": K,
                   "employee": SITI, "counter": f"edge-{tag}-{k}", "wait_ms": 1000,
                   "service_ms": 2000} for k, ts in cases.items()}
        # a counter whose 15m maximum sits in the oldest minute of the window:
        # when that minute leaves, the maximum must be the one left behind
        slide = [{"id": f"edge-{tag}-slide-{i}", "type": "service", "ts": (m - 14 + i) * MIN,
                  "unit": K, "employee": SITI, "counter": f"edge-{tag}-slide",
                  "wait_ms": w, "service_ms": 2000} for i, w in ((0, 7_777_777), (1, 5000))]
        # "late" is posted after the others, as a late counter would
        first = [e for k, e in evs.items() if k != "late"] + slide
        status, body, _ = d.post_json(first)
        assert (status, body["accepted"], body["rejected"]) == (200, len(first), []), body
        status, body, _ = d.post_json(evs["late"])
        assert (status, body["accepted"]) == (200, 1), body
        posted += first + [evs["late"]]
        snap = snapshot(d, K)
        at = snap["at"]
        if at // MIN == m and at < cases["soon"] - 200:
            break
    else:
        pytest.fail("could not take a snapshot in the minute of posting")
    c = {k: snap["counters"][f"edge-{tag}-{k}"] for k in cases}
    today = X.local_date(at)
    got = {k: {w: count(c[k], w) for w in X.WINDOWS} for k in cases}

    def want(ts):
        return {w: int(X.in_window(w, ts, at)) for w in X.WINDOWS}

    assert got["yesterday"]["today"] == 0 and got["yesterday"]["7d"] == 1, got["yesterday"]
    assert got["midnight"]["today"] == (1 if X.local_date(d0) == today else 0), got["midnight"]
    assert got["midnight"]["7d"] == 1
    assert (got["in15"]["15m"], got["in15"]["1h"]) == (1, 1), got["in15"]
    assert (got["out15"]["15m"], got["out15"]["1h"]) == (0, 1), got["out15"]
    assert (got["in1h"]["1h"], got["out1h"]["1h"], got["out1h"]["7d"]) == (1, 0, 1)
    assert (got["in7d"]["7d"], got["out7d"]["7d"], got["out7d"]["30d"]) == (1, 0, 1)
    assert (got["late"]["15m"], got["late"]["1h"]) == (0, 1), got["late"]
    assert got["late"]["today"] == int(cases["late"] >= d0)
    # from the future: waits in its minute; the local day (and the hour, when
    # it is the current one) has started, so today counts it already
    assert (got["future"]["15m"], got["future"]["1h"]) == (0, 0), got["future"]
    assert got["future"]["today"] == int(X.local_date(cases["future"]) == today)
    assert got["future"]["7d"] == int(cases["future"] // HOUR <= at // HOUR)
    assert (got["soon"]["15m"], got["soon"]["1h"]) == (0, 0), got["soon"]
    for k, ts in cases.items():
        assert got[k] == want(ts), (k, ts, at, got[k])
    # the unit sees the sum of its counters
    for w in X.WINDOWS:
        assert count(snap["unit_metrics"], w) == sum(X.in_window(w, e["ts"], at) for e in posted)
    # beyond max_clock_skew: refused, naming ts
    status, body, _ = d.post_json({"id": f"edge-{tag}-far", "type": "service",
                                   "ts": now_ms() + 6 * MIN, "unit": K, "employee": SITI,
                                   "counter": "loket-1", "wait_ms": 1, "service_ms": 1})
    assert body["accepted"] == 0 and body["rejected"][0]["error"].startswith("ts:"), body

    # the next minute starts: "soon" enters 15m and 1h, pushed to a live viewer
    ws = live_connect(d, K)
    key = f"edge-{tag}-soon"
    deadline = time.monotonic() + 100
    frame = None
    while time.monotonic() < deadline:
        frame = msgpack.unpackb(ws.recv())
        ctr = (frame.get("counters") or {}).get(key)
        if ctr and ctr["15m"]["services"]:
            break
    else:
        pytest.fail("the future event's minute started but no frame counted it")
    ws.close()
    assert frame["at"] >= cases["soon"] - 200
    assert count(ctr, "15m") == 1 and count(ctr, "1h") == 1
    snap = snapshot(d, K)
    fut = snap["counters"][f"edge-{tag}-future"]
    assert count(fut, "15m") == int(X.in_window("15m", cases["future"], snap["at"]))
    if snap["at"] < cases["future"] // MIN * MIN:
        assert count(fut, "15m") == 0
    # the windows moved with the clock: the 15m maximum left with its minute
    slid = snap["counters"][f"edge-{tag}-slide"]["15m"]["services"]
    assert slid["count"] == 1 and slid["wait_ms"]["max"] == 5000, slid
    # and everything else moved as the model says
    problems = []
    check_snapshot(snap, posted, K, problems)
    assert not problems, fail_msg(problems, "after the minute moved")


# --- 3 and 4. equality across restart, kill -9, --rebuild ---------------------

GATHER_METRICS = ["services.count", "services.wait_ms.p90", "ratings.ikm", "tasks.duration_ms.max",
                  "services.per_hour"]


def gather(d):
    """Every snapshot (both units, and the personal view) and the series of
    every scope; returns (state, the set of minutes of the answers). "seq" and
    "at" are dropped: seq restarts from the clock, "at" is the clock."""
    state, minutes = {}, set()
    for unit in (K, P):
        snap = snapshot(d, unit)
        state[f"at {unit}"] = snap.pop("at")
        minutes.add(state[f"at {unit}"] // MIN)
        snap.pop("seq")
        state[f"snapshot {unit}"] = snap
    mine = snapshot(d, K, token=PERSONAL_SECRET)
    minutes.add(mine.pop("at") // MIN)
    mine.pop("seq")
    state["personal"] = mine
    scopes = [f"unit:{K}", f"unit:{P}"]
    for unit in (K, P):
        snap = state[f"snapshot {unit}"]
        scopes += [f"employee:{e}" for e in snap["members"]]
        scopes += [f"counter:{unit}/{c}" for c in snap["counters"]]
    for scope in sorted(set(scopes)):
        for metric in GATHER_METRICS:
            for res in ("minute", "hour", "day"):
                state[f"series {scope} {metric} {res}"] = series(d, scope, metric, res, 0, FAR)
    minutes.add(now_ms() // MIN)
    return state, minutes


def diff(a, b, path=""):
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only {'before' if k in a else 'after'}")
            else:
                out += diff(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
    elif a != b:
        out.append(f"{path}: before {a!r}, after {b!r}")
    return out


def check_gathered(state, events, what):
    problems = []
    for unit in (K, P):
        snap = dict(state[f"snapshot {unit}"], at=state[f"at {unit}"])
        check_snapshot(snap, events, unit, problems)
    assert not problems, fail_msg(problems, what)


def across(d, events, interrupt):
    """gather, interrupt (stop/kill/rebuild and start), gather again, all in
    one minute (retried when a minute boundary fell in between: the 15m/1h
    windows, today's per_hour and the minute series move with the minute, the
    7d/30d windows with the hour, today with the local day: nothing moves
    within one minute); then both states are equal but for "seq" and "at",
    and each equals the model at its own "at"."""
    for attempt in range(4):
        before, m1 = gather(d)
        interrupt()
        after, m2 = gather(d)
        check_gathered(after, events, "after vs model")
        if len(m1 | m2) == 1:
            break
    else:
        pytest.fail("four attempts each crossed a minute boundary")
    for unit in (K, P):
        del before[f"at {unit}"], after[f"at {unit}"]
    problems = diff(before, after)
    assert not problems, fail_msg(problems, "before vs after")


def posted_daemon(tmp_path, seed, n=1500):
    d = make_daemon(tmp_path)
    events = X.generate(seed, now_ms() - 1000, n_kasemen=n, n_perizinan=n // 4, sla=SLA)
    post_all(d, events)
    return d, events


def test_equal_after_restart_and_kill9(tmp_path):
    d, events = posted_daemon(tmp_path, SEED + 2)
    try:
        def restart():
            assert d.stop() == 0, "\n".join(d.lines[-20:])
            d.start()

        def kill_restart():
            d.kill9()
            d.start()

        across(d, events, restart)
        across(d, events, kill_restart)
        # down while a minute passes: the windows a restart loads are those
        # of the minute it starts in (buckets that left stay out)
        assert d.stop() == 0
        m = now_ms() // MIN
        deadline = time.monotonic() + 70
        while now_ms() // MIN == m and time.monotonic() < deadline:
            time.sleep(0.05)    # the wall clock, not the daemon, is awaited
        d.start()
        state, _ = gather(d)
        check_gathered(state, events, "restarted in a later minute vs model")
        assert d.stop() == 0
    finally:
        d.kill9()


def test_checkpoint_of_a_clean_stop_is_void_once_events_follow(tmp_path):
    """A clean stop stores the window totals and the next start reads them;
    events after that start void them, so that a crash then loads every
    bucket again rather than stale totals."""
    d, events = posted_daemon(tmp_path, SEED + 5, n=600)
    try:
        assert d.stop() == 0
        d.wait_log("checkpoint of the window totals stored")
        d.start()
        more = X.generate(SEED + 6, now_ms() - 1000, n_kasemen=300, n_perizinan=60, sla=SLA)
        # windows are what a checkpoint holds; presence arriving out of order
        # is test_presence_and_serving_out_of_order_arrival's matter
        more = [e for e in more if e["type"] in ("task", "rating")]
        assert len(more) > 50
        post_all(d, more)
        d.kill9()
        d.start()
        state, _ = gather(d)
        check_gathered(state, events + more, "crash after a checkpointed start vs model")
        assert d.stop() == 0
    finally:
        d.kill9()


def rebuild(d):
    r = subprocess.run([KINERJAD, "-c", d.config_path, "--rebuild"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r


def test_equal_after_rebuild(tmp_path):
    d, events = posted_daemon(tmp_path, SEED + 3)
    try:
        def stop_rebuild_start():
            assert d.stop() == 0
            rebuild(d)
            d.start()

        across(d, events, stop_rebuild_start)
        assert d.stop() == 0
    finally:
        d.kill9()


ORDER_PAIRS = [("199203042018012003", "ord-1", "in order"),
               ("198511202009032004", "ord-2", "out of order")]


def post_order_pairs(d):
    """The same presence changes and services for two employees and counters:
    sent in event-time order for the first, out of order for the second (its
    device and counter were offline for a while). Returns t: by event time,
    each employee is available since t + 2000 (the break at t + 1000 ended the
    first availability) and serves at its counter since t + 5000 (BUDI served
    there at t + 4000)."""
    t = now_ms() - 10 * MIN
    for emp, ctr, how in ORDER_PAIRS:
        evs = [
            {"id": f"{emp}-1", "type": "presence", "ts": t, "unit": K, "employee": emp,
             "state": "available"},
            {"id": f"{emp}-2", "type": "presence", "ts": t + 1000, "unit": K, "employee": emp,
             "state": "break"},
            {"id": f"{emp}-3", "type": "presence", "ts": t + 2000, "unit": K, "employee": emp,
             "state": "available"},
            {"id": f"{emp}-s1", "type": "service", "ts": t + 3000, "unit": K, "employee": emp,
             "counter": ctr, "wait_ms": 1, "service_ms": 1},
            {"id": f"{emp}-s2", "type": "service", "ts": t + 4000, "unit": K, "employee": BUDI,
             "counter": ctr, "wait_ms": 1, "service_ms": 1},
            {"id": f"{emp}-s3", "type": "service", "ts": t + 5000, "unit": K, "employee": emp,
             "counter": ctr, "wait_ms": 1, "service_ms": 1},
        ]
        if how == "out of order":
            evs = [evs[0], evs[2], evs[3], evs[5], evs[1], evs[4]]
        for e in evs:
            assert d.post_json(e)[1]["accepted"] == 1
    return t


def order_state(d):
    snap = snapshot(d, K)
    return {how: (snap["members"][emp]["presence"], snap["counters"][ctr]["serving"])
            for emp, ctr, how in ORDER_PAIRS}


def event_time_state(emp, t):
    return ({"state": "available", "since": t + 2000, "counter": None},
            {"employee": emp, "since": t + 5000})


def test_presence_and_serving_in_event_time_after_rebuild(tmp_path):
    """Presence is "from the latest presence event by ts" (SPEC §4), serving is
    the newest evidence by ts: sent in order, and after a --rebuild (which
    replays the raw log in ts order) for both orders of arrival."""
    d = make_daemon(tmp_path)
    try:
        t = post_order_pairs(d)
        emp, _, how = ORDER_PAIRS[0]
        assert order_state(d)[how] == event_time_state(emp, t)
        assert d.stop() == 0
        rebuild(d)
        d.start()
        got = order_state(d)
        for emp, _, how in ORDER_PAIRS:
            assert got[how] == event_time_state(emp, t), (how, got[how])
        assert d.stop() == 0
    finally:
        d.kill9()


def test_presence_and_serving_out_of_order_arrival(tmp_path):
    d = make_daemon(tmp_path)
    try:
        t = post_order_pairs(d)
        emp, _, how = ORDER_PAIRS[1]
        got = order_state(d)[how]
        assert got == event_time_state(emp, t), (
            f"sent out of order: presence and serving {got}, by event time "
            f"{event_time_state(emp, t)} (what --rebuild gives)")
    finally:
        if d.alive():
            assert d.stop() == 0
        d.kill9()


def test_huge_durations_are_refused_or_reported_exactly(mdaemon):
    """SPEC §3 accepts any non-negative integer duration; what is accepted
    must then be reported as posted: max is exact (hist.h says so too)."""
    d = mdaemon
    for w in (31622400000, 31622400001, 2**40, 2**53):
        e = {"id": f"huge-{w}", "type": "service", "ts": now_ms() - 1000, "unit": K,
             "employee": SITI, "counter": f"huge-{w}", "wait_ms": w, "service_ms": 1}
        status, body, _ = d.post_json(e)
        assert status == 200
        if body["accepted"] == 0:
            assert w > 31622400000, ("the 366-day bound itself must be accepted", body)
            assert body["rejected"][0]["error"].startswith("wait_ms: must be at most"), body
            continue
        got = snapshot(d, K)["counters"][f"huge-{w}"]["15m"]["services"]["wait_ms"]
        assert got["max"] == w and got["avg"] == float(w), (w, got)


# --- 5. retention -------------------------------------------------------------

def test_retention_limits_and_expiry(tmp_path):
    """retention_days must cover max_event_age (config limits); with one day of
    retention an event just under a day old is accepted and deleted from the
    raw log when it passes the day, in the first retention step (about 5 s
    after the start), while younger events stay."""
    d = Daemon(tmp_path, units=UNITS, extra="retention_days: 1\n")
    r = subprocess.run([KINERJAD, "-c", d.config_path, "--check-config"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "retention_days" in r.stderr and "max_event_age" in r.stderr, \
        r.stderr
    d.write_config(units=UNITS, extra="retention_days: 1\nmax_event_age: 25h\n")
    r = subprocess.run([KINERJAD, "-c", d.config_path, "--check-config"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "max_event_age" in r.stderr, r.stderr
    d.write_config(units=UNITS, extra="retention_days: 1\nmax_event_age: 1d\n")
    d.start()
    try:
        now = now_ms()
        old = {"id": "old-1", "type": "service", "ts": now - DAY + 1500, "unit": K,
               "employee": SITI, "counter": "loket-1", "wait_ms": 1000, "service_ms": 2000}
        fresh = dict(old, id="fresh-1", ts=now - 1000)
        too_old = dict(old, id="too-old", ts=now - DAY - 1000)
        status, body, _ = d.post_json([old, fresh, too_old])
        assert body["accepted"] == 2 and body["rejected"][0]["id"] == "too-old", body
        assert body["rejected"][0]["error"].startswith("ts:"), body

        def exported():
            status, data = get(d, f"/api/v1/events?unit={K}&format=ndjson&from=0&to={FAR}")
            assert status == 200
            return [json.loads(l)["id"] for l in data.decode().splitlines()]

        assert exported() == ["old-1", "fresh-1"]
        line = d.wait_log("retention: ", timeout=75)
        assert "deleted" in line
        assert exported() == ["fresh-1"]
        # the id went with it: the event is now simply too old, not a duplicate
        status, body, _ = d.post_json(old)
        assert body["duplicates"] == 0 and body["rejected"][0]["error"].startswith("ts:"), body
        # aggregates have their own horizons (hour buckets 31 days): the 7d
        # window still counts the expired raw event
        snap = snapshot(d, K)
        assert count(snap["unit_metrics"], "7d") == 2
        assert d.stop() == 0
    finally:
        d.kill9()


def test_retention_renews_the_id_filter(tmp_path):
    """Ids that retention deletes stay in the id filter until it is renewed.
    With a filter of 4 KiB (made for 3,276 ids), 2,000 events just under a day
    old expire in the first retention steps (about 5 s after the start); then
    the filter is filled anew from the id index and the journal: it holds the
    kept ids alone, which are still duplicates."""
    d = Daemon(tmp_path, units=UNITS,
               extra="retention_days: 1\nmax_event_age: 1d\nid_filter_size: 4KiB\n")
    d.start()
    try:
        now = now_ms()

        def ev(i, ts):  # ids as random as UUIDs: no runs of counted numbers
            return {"id": f"r{(i * 2654435761) % 2**32:08x}x{i}", "type": "service", "ts": ts,
                    "unit": K, "employee": SITI, "counter": "loket-1", "wait_ms": 1000,
                    "service_ms": 2000}

        old = [ev(i, now - DAY + 1500) for i in range(2000)]
        kept = [ev(i, now - 1000) for i in range(2000, 2020)]
        for part in (old[:1000], old[1000:], kept):
            status, body, _ = d.post_json(part)
            assert status == 200 and body["accepted"] == len(part), body
        assert metric(d, "kinerja_id_filter_ids") >= 2020
        line = d.wait_log("id filter: renewed", timeout=75)
        assert metric(d, "kinerja_id_filter_ids") <= len(kept), line
        status, body, _ = d.post_json(kept)
        assert body["accepted"] == 0 and body["duplicates"] == len(kept), body
        assert d.stop() == 0
    finally:
        d.kill9()


def test_series_days_older_than_memory(tmp_path):
    """Day buckets older than those in memory (max_event_age + 1 days) are read
    from the store: posted under max_event_age 10d, read back after a restart
    under 3d, oldest first, none twice at the memory's edge (days 3 and 4).
    A request whose range spans more than 1000 buckets (after cutting it to
    retention_days) is refused with a 400 that says so."""
    d = Daemon(tmp_path, units=UNITS, extra="max_event_age: 10d\nretention_days: 1500\n")
    d.start()
    try:
        now = now_ms()
        events = []
        for i, age in enumerate([9, 8, 5, 4, 3, 2, 0]):
            for j in range(i + 1):
                events.append({"id": f"old-{age}-{j}", "type": "service",
                               "ts": now - age * DAY - 1000 - j, "unit": K, "employee": SITI,
                               "counter": "loket-2", "wait_ms": 1000, "service_ms": 2000})
        status, body, _ = d.post_json(events)
        assert status == 200 and body["accepted"] == len(events), body
        want = {}
        for e in events:
            start = X.midnight_ms(X.local_date(e["ts"]))
            want[start] = want.get(start, 0) + 1
        want = [[start, float(n)] for start, n in sorted(want.items())]
        frm = now - 30 * DAY
        scopes = [f"unit:{K}", f"counter:{K}/loket-2", f"employee:{SITI}"]

        def day_series(scope, a=frm, b=FAR):
            return [[p[0], float(p[1])] for p in
                    series(d, scope, "services.count", "day", a, b)]

        for scope in scopes:
            assert day_series(scope) == want, (scope, "in memory")
        assert d.stop() == 0
        d.write_config(units=UNITS, extra="max_event_age: 3d\nretention_days: 1500\n")
        d.start()
        for scope in scopes:
            assert day_series(scope) == want, (scope, "from the store and memory")
        # a window inside the stored days, and one across the memory's edge
        assert day_series(scopes[0], want[1][0], want[3][0]) == want[1:3]
        assert day_series(scopes[0], want[2][0], want[5][0] + 1) == want[2:6]
        # the bound: 1501 days of retention do not fit in one request
        status, body = get(d, f"/api/v1/series?scope=unit:{K}&metric=services.count&res=day"
                              f"&from=0&to={FAR}")
        assert status == 400 and "at most 1000" in body["error"], (status, body)
        status, body = get(d, f"/api/v1/series?scope=unit:{K}&metric=services.count&res=day"
                              f"&from={now - 999 * DAY}&to={FAR}")
        assert status == 200 and len(body["points"]) == len(want), (status, body)
        assert d.stop() == 0
        # --rebuild recomputes the old days too (its clock follows the raw log)
        rebuild(d)
        d.start()
        for scope in scopes:
            assert day_series(scope) == want, (scope, "after --rebuild")
        assert d.stop() == 0
    finally:
        d.kill9()


# --- 6. the read API ------------------------------------------------------------

def test_read_api_permissions_and_errors(mdaemon):
    d = mdaemon
    now = now_ms()
    evs = [{"id": "k-1", "type": "service", "ts": now - 5000, "unit": K, "employee": SITI,
            "counter": "loket-1", "wait_ms": 1000, "service_ms": 2000},
           {"id": "k-2", "type": "task", "ts": now - 4000, "unit": K, "employee": BUDI,
            "kind": "surat", "quality": 90},
           {"id": "p-1", "type": "service", "ts": now - 3000, "unit": P, "employee": BOTH,
            "counter": "loket-1", "wait_ms": 5, "service_ms": 6}]
    assert d.post_json(evs)[1]["accepted"] == 3

    # units: a viewer sees its units only, an admin every unit
    status, units = get(d, "/api/v1/units", VIEWER_SECRET)
    assert status == 200 and [u["id"] for u in units] == [K], units
    assert units[0]["name"] == "Pelayanan Terpadu Kasemen"
    assert {m["id"] for m in units[0]["members"]} >= {SITI, BUDI}
    assert [c["id"] for c in units[0]["counters"]] == ["loket-1", "loket-2"]
    status, units = get(d, "/api/v1/units", ADMIN_SECRET)
    assert status == 200 and [u["id"] for u in units] == [K, P], units

    # snapshot: the viewer's unit, 403 for another, 404 for an unknown one
    assert snapshot(d, K, VIEWER_SECRET)["unit_metrics"]["15m"]["services"]["count"] == 1
    assert get(d, f"/api/v1/snapshot?unit={P}", VIEWER_SECRET)[0] == 403
    assert get(d, "/api/v1/snapshot?unit=nowhere", ADMIN_SECRET)[0] == 404
    assert get(d, "/api/v1/snapshot", ADMIN_SECRET)[0] == 400
    status, body = get(d, f"/api/v1/series?scope=unit:{P}&metric=services.count&res=hour",
                       VIEWER_SECRET)
    assert status == 403, body

    # a personal token: only that member, no unit_metrics, no counters
    mine = snapshot(d, K, PERSONAL_SECRET)
    assert mine["unit_metrics"] is None and mine["counters"] == {}, mine
    assert list(mine["members"]) == [SITI]
    assert mine["members"][SITI]["15m"]["services"]["count"] == 1
    assert {i["scope"] for i in mine["indicators"]} == {f"employee:{SITI}"}
    assert all(a["scope"] == f"employee:{SITI}" for a in mine["alerts"])
    assert get(d, f"/api/v1/snapshot?unit={P}", PERSONAL_SECRET)[0] == 403
    assert get(d, f"/api/v1/series?scope=employee:{SITI}&metric=services.count&res=minute",
               PERSONAL_SECRET)[0] == 200
    for scope in (f"unit:{K}", f"employee:{BUDI}", f"counter:{K}/loket-1"):
        assert get(d, f"/api/v1/series?scope={scope}&metric=services.count&res=minute",
                   PERSONAL_SECRET)[0] == 403, scope
    status, data = get(d, f"/api/v1/events?unit={K}&format=ndjson&from=0&to={FAR}",
                       PERSONAL_SECRET)
    assert status == 200 and [json.loads(l)["id"] for l in data.decode().splitlines()] == ["k-1"]

    # the ingest token reads nothing; no token is 401
    for path in ("/api/v1/units", f"/api/v1/snapshot?unit={K}",
                 f"/api/v1/series?scope=unit:{K}&metric=services.count&res=hour",
                 f"/api/v1/events?unit={K}&format=csv"):
        assert get(d, path, INGEST_SECRET)[0] == 403, path
        assert get(d, path, "")[0] == 401, path

    # bad questions
    for query, code in [(f"scope=unit:{K}&metric=services.nothing&res=hour", 400),
                        (f"scope=unit:{K}&metric=services.count&res=week", 400),
                        (f"scope=unit:{K}&metric=services.count&res=hour&from=yesterday", 400),
                        (f"scope=team:{K}&metric=services.count&res=hour", 400),
                        (f"scope=counter:{K}&metric=services.count&res=hour", 400),
                        ("scope=employee:199999999999999999&metric=services.count&res=hour", 404),
                        (f"scope=counter:{K}/loket-77&metric=services.count&res=hour", 404),
                        ("scope=unit:nowhere&metric=services.count&res=hour", 404),
                        ("metric=services.count&res=hour", 400)]:
        status, body = get(d, "/api/v1/series?" + query, ADMIN_SECRET)
        assert status == code, (query, status, body)
        assert isinstance(body, dict) and body.get("error"), (query, body)
    assert get(d, f"/api/v1/events?unit={K}&format=xml")[0] == 400
    assert get(d, "/api/v1/nothing")[0] == 404


def test_events_export_csv_and_ndjson(mdaemon):
    """One header line and one line per event of the unit with from <= ts < to,
    in time order; NDJSON the same events, field for field as posted."""
    d = mdaemon
    base = now_ms() - 20 * MIN
    evs = X.generate(SEED + 4, base + 10 * MIN, n_kasemen=300, n_perizinan=100, sla=SLA)
    # a few with characters that CSV must quote
    evs.append({"id": "quoted", "type": "task", "ts": base + MIN, "unit": K, "employee": SITI,
                "kind": "surat", "meta": {"note": "a, \"b\"\nc"}})
    # a ticket (SPEC §13): its own column; cancelled, so that no queue stays open
    evs.append({"id": "tk-1", "type": "ticket", "ts": base + 2 * MIN, "unit": K,
                "ticket": "A-001", "state": "cancelled", "service": "ktp"})
    post_all(d, evs)
    frm, to = base, base + 10 * MIN
    status, data = get(d, f"/api/v1/events?unit={K}&format=csv&from={frm}&to={to}")
    assert status == 200
    text = data.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "type", "ts", "unit", "employee", "counter", "kind", "service",
                       "duration_ms", "due_ts", "quality", "wait_ms", "service_ms", "outcome",
                       "score", "elements", "source", "state", "meta", "ticket",
                       "period", "behaviour", "by", "note",  # later types' columns last
                       "text", "alert", "indicator"]
    assert text.count("id,type,ts") == 1
    want = sorted((e for e in evs if e["unit"] == K and frm <= e["ts"] < to),
                  key=lambda e: e["ts"])
    assert len(want) > 20
    body = rows[1:]
    assert len(body) == len(want)
    assert sorted(r[0] for r in body) == sorted(e["id"] for e in want)
    assert [int(r[2]) for r in body] == sorted(int(r[2]) for r in body), "not in time order"
    by_id = {r[0]: dict(zip(rows[0], r)) for r in body}
    for e in want:
        row = by_id[e["id"]]
        for k, v in e.items():
            if k == "meta":
                assert json.loads(row["meta"]) == v
            elif k == "elements":  # "4,4,3,..." as kinerja export writes them
                assert [int(x) for x in row[k].split(",")] == v
            else:
                assert row[k] == str(v), (e, row)
    status, data = get(d, f"/api/v1/events?unit={K}&format=ndjson&from={frm}&to={to}")
    assert status == 200
    lines = data.decode().splitlines()
    got = [json.loads(l) for l in lines]
    assert [g["id"] for g in got] == [r[0] for r in body]
    posted = {e["id"]: e for e in want}
    for g in got:
        for k, v in posted[g["id"]].items():
            assert g[k] == v, (k, g, posted[g["id"]])
    # from is inclusive, to exclusive
    t = want[0]["ts"]
    status, data = get(d, f"/api/v1/events?unit={K}&format=ndjson&from={t}&to={t + 1}")
    assert {json.loads(l)["id"] for l in data.decode().splitlines()} == \
        {e["id"] for e in want if e["ts"] == t}
    status, data = get(d, f"/api/v1/events?unit={K}&format=csv&from={t}&to={t}")
    assert data.decode().splitlines() == [",".join(rows[0])]
