"""kinerja-live.v1: snapshots then updates with continuous seq, scoping by
token, coalescing under a burst, a viewer that never reads, alerts, and
protocol violations."""
import os
import re
import signal
import socket
import time

import msgpack
import pytest
import websocket

from conftest import (ADMIN_SECRET, INGEST_SECRET, VIEWER_SECRET, Daemon, anon_rss_kib, metric,
                      service_event, sha)

PROTO = "kinerja-live.v1"
SITI = "198706152010011002"
BUDI = "199001012015031001"


def viewer(d, token=VIEWER_SECRET, header=False, rcvbuf=None):
    opts = {}
    if rcvbuf:
        opts["sockopt"] = ((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf),)
    ws = websocket.create_connection(f"ws://127.0.0.1:{d.port}/", subprotocols=[PROTO],
                                     header=[f"Authorization: Bearer {token}"] if header else [],
                                     timeout=20, **opts)
    if not header and token:
        send(ws, {"op": "auth", "token": token})
    return ws


def send(ws, obj):
    ws.send_binary(msgpack.packb(obj))


def recv(ws):
    return msgpack.unpackb(ws.recv())


def recv_until(ws, pred):
    while True:
        f = recv(ws)
        if pred(f):
            return f


def subscribe(ws, unit="kasemen"):
    send(ws, {"op": "subscribe", "unit": unit})
    snap = recv_until(ws, lambda f: f["op"] in ("snapshot", "error"))
    assert snap["op"] == "snapshot", snap
    return snap


def today_count(frame, scope="unit_metrics"):
    svc = frame[scope]["today"]["services"]
    return svc["count"] if svc else 0


def test_snapshot_then_updates_with_continuous_seq(daemon):
    ws = viewer(daemon)
    snap = subscribe(ws)
    assert snap["unit"] == "kasemen"
    assert set(snap) >= {"seq", "at", "unit_metrics", "members", "counters", "indicators", "alerts"}
    assert set(snap["members"]) == {SITI, BUDI}
    assert set(snap["counters"]) == {"loket-1", "loket-2"}
    assert set(snap["unit_metrics"]) == {"15m", "1h", "today", "7d", "30d", "queue"}
    seq = snap["seq"]
    total = 0
    for i in range(5):
        daemon.post_json([service_event() for _ in range(3)])
        total += 3
        up = recv_until(ws, lambda f: f["op"] == "update")
        assert up["seq"] == seq + 1, (up["seq"], seq)
        seq = up["seq"]
        # only what changed: the unit, Siti and loket-1; each scope whole
        assert set(up.get("members", {})) == {SITI}
        assert set(up.get("counters", {})) == {"loket-1"}
        assert set(up["unit_metrics"]) == {"15m", "1h", "today", "7d", "30d", "queue"}
    assert today_count(up) == total
    assert up["members"][SITI]["today"]["services"]["count"] == total
    ws.close()


def test_units_and_scoping(daemon):
    ws = viewer(daemon)
    send(ws, {"op": "units"})
    units = recv(ws)
    assert units["op"] == "units"
    assert [u["id"] for u in units["units"]] == ["kasemen"]  # the viewer's unit only
    send(ws, {"op": "subscribe", "unit": "perizinan"})
    err = recv(ws)
    assert err["op"] == "error" and "perizinan" in err["error"]
    admin = viewer(daemon, ADMIN_SECRET, header=True)
    send(admin, {"op": "units"})
    assert {u["id"] for u in recv(admin)["units"]} == {"kasemen", "perizinan"}
    ws.close()
    admin.close()


def test_ingest_token_cannot_view(daemon):
    ws = viewer(daemon, INGEST_SECRET)
    send(ws, {"op": "subscribe", "unit": "kasemen"})
    assert recv(ws)["op"] == "error"


def test_personal_view_sees_only_that_member(tmp_path):
    d = Daemon(tmp_path)
    text = open(d.config_path).read().replace(
        "tokens:\n", f'tokens:\n  - {{name: siti, sha256: "{sha("siti-secret")}", role: viewer, '
                     f'units: [kasemen], employee: "{SITI}"}}\n')
    open(d.config_path, "w").write(text)
    d.start()
    try:
        ws = viewer(d, "siti-secret")
        snap = subscribe(ws)
        assert set(snap["members"]) == {SITI}
        assert not snap.get("unit_metrics") and not snap.get("counters")
        seq = snap["seq"]
        d.post_json([service_event(employee=BUDI)])
        up = recv_until(ws, lambda f: f["op"] == "update")
        assert up["seq"] == seq + 1
        assert BUDI not in up.get("members", {})
        assert not up.get("unit_metrics") and not up.get("counters")
        d.post_json([service_event(employee=SITI)])
        up = recv_until(ws, lambda f: f["op"] == "update")
        assert up["seq"] == seq + 2
        assert set(up["members"]) == {SITI}
        ws.close()
    finally:
        assert d.stop() == 0


def test_every_personal_view_of_a_unit_gets_its_update(tmp_path):
    # The writer once listed a unit's views in a fixed array of 64: the 65th
    # personal view and later ones silently got no updates at all.
    n = 70
    members = "".join(f'      - {{id: "e{i:02d}", name: "E {i}"}}\n' for i in range(n))
    units = f"units:\n  - id: kasemen\n    name: K\n    members:\n{members}"
    tokens = "".join(f'  - {{name: p{i}, sha256: "{sha(f"p{i}-secret")}", role: viewer, '
                     f'units: [kasemen], employee: "e{i:02d}"}}\n' for i in range(n))
    d = Daemon(tmp_path, units=units)
    text = open(d.config_path).read().replace("tokens:\n", "tokens:\n" + tokens)
    open(d.config_path, "w").write(text)
    d.start()
    try:
        views = [viewer(d, f"p{i}-secret") for i in range(n)]
        seqs = [subscribe(ws)["seq"] for ws in views]
        d.post_json([service_event(employee="e00")])
        for i, ws in enumerate(views):
            up = recv_until(ws, lambda f: f["op"] == "update")
            assert up["seq"] == seqs[i] + 1, (i, up["seq"], seqs[i])
            assert set(up.get("members", {})) == ({"e00"} if i == 0 else set()), i
        for ws in views:
            ws.close()
    finally:
        assert d.stop() == 0


def test_reload_that_makes_a_token_personal_restarts_the_view(tmp_path):
    d = Daemon(tmp_path)
    line = f'  - {{name: siti, sha256: "{sha("siti-secret")}", role: viewer, units: [kasemen]'
    base = open(d.config_path).read()
    open(d.config_path, "w").write(base.replace("tokens:\n", f"tokens:\n{line}}}\n"))
    d.start()
    try:
        ws = viewer(d, "siti-secret")
        snap = subscribe(ws)
        assert set(snap["members"]) == {SITI, BUDI} and snap["unit_metrics"]
        personal = base.replace("tokens:\n", f'tokens:\n{line}, employee: "{SITI}"}}\n')
        open(d.config_path, "w").write(personal)
        n = len(d.lines)
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("configuration reloaded", start=n)
        snap = recv_until(ws, lambda f: f["op"] == "snapshot")
        assert set(snap["members"]) == {SITI}
        assert not snap.get("unit_metrics") and not snap.get("counters")
        d.post_json([service_event(employee=BUDI)])
        d.post_json([service_event(employee=SITI)])
        up = recv_until(ws, lambda f: f["op"] == "update" and f.get("members"))
        assert set(up["members"]) == {SITI} and not up.get("unit_metrics")
        ws.close()
    finally:
        assert d.stop() == 0


def test_coalescing_under_a_burst(tmp_path):
    d = Daemon(tmp_path, extra="min_push_interval_ms: 200").start()
    try:
        ws = viewer(d)
        seq0 = subscribe(ws)["seq"]
        c = d.conn()
        t0 = time.monotonic()
        total = 0
        for _ in range(150):
            d.post_msgpack([service_event() for _ in range(10)], conn=c)
            total += 10
        elapsed = time.monotonic() - t0
        updates = []
        while True:
            f = recv(ws)
            if f["op"] == "update":
                updates.append(f)
                if today_count(f) == total:
                    break
        # at most one update per 200 ms over the burst (+2 for the edges),
        # far fewer than the 150 commits, and seq stays continuous
        assert len(updates) <= elapsed / 0.2 + 2, (len(updates), elapsed)
        assert [u["seq"] for u in updates] == list(range(seq0 + 1, seq0 + 1 + len(updates)))
    finally:
        assert d.stop() == 0


def test_viewers_share_each_loop_turn(tmp_path):
    """At the smallest fanout_turn_bytes, 40 viewers' updates exceed every
    turn's share: they wait in line for later turns, and each viewer still
    receives every update, in order, none dropped, with a viewer among them
    that never reads."""
    d = Daemon(tmp_path, extra="fanout_turn_bytes: 16KiB\nmin_push_interval_ms: 0").start()
    try:
        stuck = viewer(d, rcvbuf=4096)
        send(stuck, {"op": "subscribe", "unit": "kasemen"})  # and never read
        viewers = [viewer(d) for _ in range(40)]
        seqs = [subscribe(ws)["seq"] for ws in viewers]
        c = d.conn()
        total = 0
        for i in range(10):
            d.post_msgpack([service_event(employee=f"e{i * 20 + k}", counter=f"c{k}")
                            for k in range(20)], conn=c)
            total += 20
            for n, ws in enumerate(viewers):
                up = recv_until(ws, lambda f: f["op"] in ("update", "snapshot"))
                assert (up["op"], up["seq"]) == ("update", seqs[n] + 1), (n, up["op"], up["seq"])
                assert today_count(up) == total
                seqs[n] = up["seq"]
        assert metric(d, "kinerja_fanout_waits_total") > 0, "no viewer waited for a later turn"
        assert metric(d, "kinerja_updates_dropped_total") == 0
        # viewers that leave while they wait in line (freed then: ASan's case)
        d.post_msgpack([service_event(employee=f"e{k}") for k in range(20)], conn=c)
        for ws in viewers[1:]:
            ws.close()
        stuck.close()
        assert recv_until(viewers[0], lambda f: f["op"] == "update")["seq"] == seqs[0] + 1
        viewers[0].close()
    finally:
        assert d.stop() == 0


def test_viewer_that_never_reads(tmp_path):
    d = Daemon(tmp_path, extra="viewer_backlog: 256KiB\nmin_push_interval_ms: 0").start()
    try:
        slow = viewer(d, rcvbuf=4096)
        send(slow, {"op": "subscribe", "unit": "kasemen"})  # and never read
        fast = viewer(d)
        subscribe(fast)
        c = d.conn()
        rss0 = None
        total = received = i = 0
        # Post until the fast viewer has received far more than the kernel's
        # socket buffers (4 MiB) can hold for the slow one.
        while received < 12 * 2**20:
            d.post_msgpack([service_event(employee=f"e{(i * 10 + k) % 300}",
                                          counter=f"c{(i * 10 + k) % 100}") for k in range(10)],
                           conn=c)
            total += 10
            i += 1
            while True:
                data = fast.recv()
                received += len(data)
                f = msgpack.unpackb(data)
                if f["op"] in ("update", "snapshot") and today_count(f) == total:
                    break
            if i == 20:
                rss0 = anon_rss_kib(d.proc.pid)
        grown = anon_rss_kib(d.proc.pid) - rss0
        dropped = metric(d, "kinerja_updates_dropped_total")
        assert dropped > 0, "the slow viewer's backlog was never dropped"
        # (under ASan freed memory sits in its quarantine: RSS says nothing there)
        if "san" not in os.environ.get("KJ_BUILD", ""):
            assert grown < 24 * 1024, f"daemon grew by {grown} KiB while a viewer did not read"
        # the slow viewer reads now: after what its socket held, a fresh snapshot
        # (not the dropped updates), then it follows to the final state
        frames = [recv(slow)]
        while not (frames[-1]["op"] in ("update", "snapshot") and today_count(frames[-1]) == total):
            frames.append(recv(slow))
        assert [f["op"] for f in frames[1:]].count("snapshot") >= 1
        seqs = [f["seq"] for f in frames if f["op"] in ("update", "snapshot")]
        assert seqs == sorted(seqs)
    finally:
        assert d.stop() == 0


def test_alert_on_status_change(tmp_path):
    d = Daemon(tmp_path, extra="""indicators:
  - id: wait-p90
    name: "Waktu tunggu p90"
    metric: services.wait_ms.p90
    window: today
    target: 600000
    better: lower
    warn_margin: 0.10
    applies_to: [unit]
""").start()
    try:
        ws = viewer(d)
        snap = subscribe(ws)
        ind = [i for i in snap["indicators"] if i["id"] == "wait-p90"]
        assert ind and ind[0]["status"] == "none" and ind[0]["scope"] == "unit:kasemen"
        d.post_json([service_event(wait_ms=2_000_000) for _ in range(3)])
        alert = recv_until(ws, lambda f: f["op"] == "alert")
        assert alert["indicator"] == "wait-p90" and alert["scope"] == "unit:kasemen"
        assert (alert["from"], alert["to"]) == ("none", "bad")
        assert alert["target"] == 600000 and alert["value"] == pytest.approx(2_000_000, rel=0.01)
        d.wait_log("alert: unit:kasemen wait-p90 none -> bad")
        ws2 = viewer(d)
        snap = subscribe(ws2)
        assert snap["alerts"][0]["indicator"] == "wait-p90"
        assert [i["status"] for i in snap["indicators"] if i["id"] == "wait-p90"] == ["bad"]
        r, data = d.request("GET", "/metrics", token=ADMIN_SECRET)
        assert b'kinerja_alerts_total{to="bad"} 1' in data
    finally:
        assert d.stop() == 0


def test_protocol_violations(daemon):
    from test_ws_ingest import recv_close
    ws = viewer(daemon)
    ws.send("subscribe please")
    assert recv_close(ws)[0] == 1003
    ws = viewer(daemon)
    send(ws, {"op": "explode"})
    assert recv_close(ws)[0] == 1008
    ws = viewer(daemon, token=None)
    send(ws, {"op": "subscribe", "unit": "kasemen"})
    code, frames = recv_close(ws)
    assert code == 1008 and "auth" in frames[0]["error"]
    ws = viewer(daemon)
    ws.send_binary(msgpack.packb({"op": "units", "pad": "x" * 2_000_000}))
    assert recv_close(ws)[0] == 1009
    assert daemon.healthz()[0] == 200


def test_max_viewers(tmp_path):
    d = Daemon(tmp_path, extra="max_viewers: 3").start()
    try:
        held = [viewer(d) for _ in range(3)]
        with pytest.raises(websocket.WebSocketException):
            viewer(d)
        d.wait_log("max_viewers (3) reached")
        for ws in held:
            ws.close()
    finally:
        assert d.stop() == 0


def test_refused_upgrades_answer_and_do_not_leak_the_viewer_count(tmp_path):
    d = Daemon(tmp_path, extra="max_viewers: 2").start()
    try:
        for _ in range(5):  # refused upgrades: an HTTP status, not a hang-up
            with pytest.raises(websocket.WebSocketBadStatusException) as e:
                viewer(d, token="wrong", header=True)
            assert e.value.status_code == 401
        held = [viewer(d), viewer(d)]  # the refusals took no viewer places
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            viewer(d)
        assert e.value.status_code == 503
        n = len(d.lines)
        held.pop().close()
        d.wait_log("connection gone", start=n)
        r, data = d.request("GET", "/metrics", token=ADMIN_SECRET)
        assert re.search(rb"^kinerja_live_clients 1$", data, re.M), data
    finally:
        assert d.stop() == 0
