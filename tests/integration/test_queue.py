"""The queue now (SPEC §13): each unit's `queue` in the snapshot against an
independent model of the tickets, whatever the order of arrival (late
`issued`, `called` before `issued`, duplicates), across a clean restart, a
kill -9 and `kinerjad --rebuild`, and the max_open_tickets bound."""
import json
import random
import subprocess
import time

from conftest import ADMIN_SECRET, KINERJAD, Daemon, now_ms

MIN = 60_000
HOUR = 60 * MIN
STEPS = {"issued": 0, "called": 1, "served": 2, "cancelled": 3}


def midday_zone():
    """A fixed-offset zone where it is now between 10:00 and 14:00, so that
    the last two hours are all 'today' whenever the test runs."""
    utc_hour = time.gmtime().tm_hour
    for off in range(-12, 15):
        if 10 <= (utc_hour + off) % 24 < 14:
            # POSIX inverts the sign: Etc/GMT-7 is UTC+7
            return f"Etc/GMT{'-' if off > 0 else '+'}{abs(off)}" if off else "Etc/GMT"
    raise AssertionError("no zone")


def make_daemon(tmp_path, extra=""):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return Daemon(tmp_path, extra=f"timezone: {midday_zone()}\n{extra}").start()


def get(d, path, token=ADMIN_SECRET):
    r, data = d.request("GET", path, token=token)
    return r.status, json.loads(data)


def queue_of(d, unit="kasemen"):
    status, body = get(d, f"/api/v1/snapshot?unit={unit}")
    assert status == 200, body
    return body["unit_metrics"]["queue"]


def gen_events(rng, base, n_tickets=60):
    """Tickets of two service kinds issued over the last ~100 minutes; most
    are called and served, a few cancelled, some still waiting."""
    events = []
    for i in range(n_tickets):
        t = f"A-{i:03d}"
        kind = rng.choice(["ktp", "kk"])
        issued = base + rng.randrange(100 * MIN)
        events.append({"type": "ticket", "ticket": t, "state": "issued", "ts": issued,
                       "service": kind})
        fate = rng.random()
        if fate < 0.55:
            called = issued + rng.randrange(1, 20 * MIN)
            events.append({"type": "ticket", "ticket": t, "state": "called", "ts": called,
                           "counter": "loket-1", "employee": "198706152010011002"})
            events.append({"type": "service", "ticket": t, "ts": called + 5 * MIN,
                           "service": kind, "counter": "loket-1",
                           "employee": "198706152010011002", "wait_ms": called - issued,
                           "service_ms": 5 * MIN})
        elif fate < 0.65:
            events.append({"type": "ticket", "ticket": t, "state": "cancelled",
                           "ts": issued + rng.randrange(1, 10 * MIN)})
        elif fate < 0.75:  # served without a `called`
            events.append({"type": "service", "ticket": t, "ts": issued + 3 * MIN,
                           "counter": "loket-1", "employee": "198706152010011002",
                           "wait_ms": 3 * MIN, "service_ms": 60000})
    # a ticket issued again later (a re-issue): the later `issued` counts
    events.append({"type": "ticket", "ticket": "A-000", "state": "issued",
                   "ts": base + 101 * MIN, "service": events[0]["service"]})
    now = now_ms()
    out = []
    for i, e in enumerate(events):
        if e["ts"] > now:
            continue
        e.update(id=f"q-{i}", unit="kasemen")
        out.append(e)
    return out


def model(events, now):
    """The queue as SPEC §13 defines it, computed from scratch."""
    tickets = {}
    for e in events:
        step = "served" if e["type"] == "service" else e["state"]
        t = tickets.setdefault(e["ticket"], {"events": [], "kind": None})
        t["events"].append((e["ts"], STEPS[step]))
        if step == "issued" and e.get("service"):
            t["kind"] = e["service"]
    for e in events:  # the kind from another event where no `issued` names one
        t = tickets[e["ticket"]]
        if t["kind"] is None and e.get("service"):
            t["kind"] = e["service"]

    def stats(selected):
        waiting = [max(ts for ts, s in t["events"] if s == 0) for t in selected
                   if max(t["events"])[1] == 0]
        issued = [max(ts for ts, s in t["events"] if s == 0) for t in selected
                  if any(s == 0 for _, s in t["events"])]
        return {
            "waiting": len(waiting),
            "oldest_issued_ts": min(waiting) if waiting else None,
            "issued_today": len(issued),
            "called_today": sum(any(s in (1, 2) for _, s in t["events"]) for t in selected),
            "cancelled_today": sum(any(s == 3 for _, s in t["events"]) for t in selected),
            "expired_today": 0,
            "arrivals_per_hour": sum(now - HOUR < ts <= now for ts in issued),
        }

    all_t = list(tickets.values())
    out = stats(all_t)
    kinds = sorted({t["kind"] for t in all_t if t["kind"]})
    out["by_service"] = {k: stats([t for t in all_t if t["kind"] == k]) for k in kinds}
    return out


def comparable(q):
    """The parts that do not move with the clock."""
    keep = ("waiting", "oldest_issued_ts", "issued_today", "called_today", "cancelled_today",
            "expired_today")
    out = {k: q[k] for k in keep}
    out["by_service"] = {k: {f: v[f] for f in keep} for k, v in q["by_service"].items()}
    return out


def check(q, events, now, what):
    want = model(events, now)
    assert comparable(q) == comparable(want), what
    # arrivals in the last hour: the daemon's "now" is within a few seconds of ours
    assert abs(q["arrivals_per_hour"] - want["arrivals_per_hour"]) <= 1, what
    if q["waiting"]:
        assert q["longest_wait_ms"] >= now - q["oldest_issued_ts"] - 5000, what


def post_shuffled(d, rng, events):
    """Shuffled (so `called` often comes before `issued`), in batches, with
    every fifth batch posted twice (duplicates by id)."""
    evs = events[:]
    rng.shuffle(evs)
    for i in range(0, len(evs), 25):
        batch = evs[i:i + 25]
        for _ in range(2 if i % 125 == 0 else 1):
            status, body, _ = d.post_json(batch, token=ADMIN_SECRET)
            assert status == 200 and not body["rejected"], body


def test_queue_against_model_in_any_order(tmp_path):
    base = now_ms() - 105 * MIN
    orders = []
    for seed in (1, 2):
        rng = random.Random(seed)
        events = gen_events(random.Random(7), base)
        d = make_daemon(tmp_path / f"s{seed}")
        try:
            post_shuffled(d, rng, events)
            q = queue_of(d)
            check(q, events, now_ms(), f"seed {seed}")
            assert q["waiting"] > 3 and q["by_service"].keys() == {"ktp", "kk"}
            orders.append(comparable(q))
            assert d.stop() == 0
        finally:
            d.kill9()
    assert orders[0] == orders[1]


def rebuild(d):
    r = subprocess.run([KINERJAD, "-c", d.config_path, "--rebuild"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_queue_survives_restart_kill_and_rebuild(tmp_path):
    rng = random.Random(3)
    events = gen_events(rng, now_ms() - 105 * MIN)
    d = make_daemon(tmp_path)
    try:
        post_shuffled(d, rng, events)
        before = comparable(queue_of(d))
        assert before["waiting"] > 0
        assert d.stop() == 0
        d.start()
        assert comparable(queue_of(d)) == before, "clean restart"
        # one more ticket, then kill -9: it was acknowledged, so it is there
        extra = {"id": "q-late", "type": "ticket", "unit": "kasemen", "ticket": "B-001",
                 "state": "issued", "ts": now_ms() - MIN}
        assert d.post_json([extra], token=ADMIN_SECRET)[0] == 200
        after = comparable(queue_of(d))
        assert after["waiting"] == before["waiting"] + 1
        d.kill9()
        d.start()
        assert comparable(queue_of(d)) == after, "kill -9"
        assert d.stop() == 0
        rebuild(d)
        d.start()
        assert comparable(queue_of(d)) == after, "--rebuild"
        check(queue_of(d), events + [extra], now_ms(), "after all")
        assert d.stop() == 0
    finally:
        d.kill9()


def test_max_open_tickets_expires_the_oldest(tmp_path):
    d = make_daemon(tmp_path, "max_open_tickets: 3\n")
    try:
        t0 = now_ms() - 30 * MIN
        evs = [{"id": f"m-{i}", "type": "ticket", "unit": "kasemen", "ticket": f"C-{i}",
                "state": "issued", "ts": t0 + i * MIN} for i in range(5)]
        assert d.post_json(evs[:3], token=ADMIN_SECRET)[0] == 200
        q = queue_of(d)
        assert (q["waiting"], q["expired_today"]) == (3, 0)
        assert q["oldest_issued_ts"] == t0
        assert d.post_json(evs[3:], token=ADMIN_SECRET)[0] == 200
        d.wait_log("ticket C-1, waiting longest, expired")
        q = queue_of(d)
        assert (q["waiting"], q["expired_today"], q["issued_today"]) == (3, 2, 5)
        assert q["oldest_issued_ts"] == t0 + 2 * MIN
        assert d.stop() == 0
        d.start()
        q = queue_of(d)
        assert (q["waiting"], q["expired_today"], q["issued_today"]) == (3, 2, 5)
        assert d.stop() == 0
    finally:
        d.kill9()


def test_timer_alert_without_any_event(tmp_path):
    """queue.longest_wait_ms with window now: the wait grows with no event,
    and the daemon warns on its own: the update that carries the new status,
    then the alert, for warn and then for bad."""
    import msgpack
    import websocket
    d = make_daemon(tmp_path, """indicators:
  - id: antre
    name: "Tunggu terlama"
    metric: queue.longest_wait_ms
    window: now
    target: 3000
    better: lower
    warn_margin: 0.5
""")
    try:
        ws = websocket.create_connection(f"ws://127.0.0.1:{d.port}/",
                                         subprotocols=["kinerja-live.v1"], timeout=20)
        ws.send_binary(msgpack.packb({"op": "auth", "token": ADMIN_SECRET}))
        ws.send_binary(msgpack.packb({"op": "subscribe", "unit": "kasemen"}))
        frames = []

        def until(pred):
            while True:
                f = msgpack.unpackb(ws.recv())
                frames.append(f)
                if pred(f):
                    return f

        snap = until(lambda f: f["op"] == "snapshot")
        assert [i["status"] for i in snap["indicators"]] == ["none"]
        issued = now_ms() - 500
        assert d.post_json([{"id": "tt-1", "type": "ticket", "unit": "kasemen", "ticket": "A-1",
                             "state": "issued", "ts": issued}], token=ADMIN_SECRET)[0] == 200
        until(lambda f: f["op"] == "alert" and f["to"] == "ok")
        posted = len(frames)
        warn = until(lambda f: f["op"] == "alert" and f["to"] == "warn")
        bad = until(lambda f: f["op"] == "alert" and f["to"] == "bad")
        assert warn["from"] == "ok" and bad["from"] == "warn"
        assert 3000 < warn["value"] <= 4500 + 1000 and bad["value"] > 4500
        # each alert came after an update that carries its status, and no
        # event was posted after the ticket
        for alert in (warn, bad):
            i = frames.index(alert)
            updates = [f for f in frames[posted:i] if f["op"] == "update"]
            assert updates and updates[-1]["indicators"][0]["status"] == alert["to"]
            assert updates[-1]["unit_metrics"]["queue"]["waiting"] == 1
        # the warning came within a second or two of the crossing, not 10 s later
        assert now_ms() - issued < 4500 + 3000
        d.wait_log("alert: unit:kasemen antre warn -> bad")
        ws.close()
        assert d.stop() == 0
    finally:
        d.kill9()
