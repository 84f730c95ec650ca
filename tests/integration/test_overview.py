"""The agency overview (SPEC §14): GET /api/v1/overview scoped by token, and
the live overview subscription with its coalesced frames."""
import json

import msgpack
import websocket

from conftest import ADMIN_SECRET, VIEWER_SECRET, Daemon, service_event, sha, now_ms

TWO_SECRET = "two-units-secret"
UNITS = """
units:
  - {id: kasemen, name: "Pelayanan Terpadu Kasemen",
     counters: [{id: loket-1}], members: [{id: "198706152010011002"}]}
  - {id: perizinan, name: "Perizinan"}
  - {id: walantaka, name: "Kecamatan Walantaka"}
indicators:
  - {id: wait-max, name: "Waktu tunggu", metric: services.wait_ms.max, window: today,
     target: 600000, better: lower, applies_to: [unit]}
"""


def make(tmp_path, extra=""):
    d = Daemon(tmp_path, extra=extra, units=UNITS)
    with open(d.config_path) as f:
        text = f.read()
    text = text.replace("tokens:\n", "tokens:\n  - {name: two, sha256: \"%s\", role: viewer, "
                        "units: [kasemen, walantaka]}\n" % sha(TWO_SECRET), 1)
    with open(d.config_path, "w") as f:
        f.write(text)
    return d.start()


def overview(d, token):
    r, data = d.request("GET", "/api/v1/overview", token=token)
    return r.status, json.loads(data)


def test_overview_rows_and_scoping(tmp_path):
    d = make(tmp_path)
    try:
        d.post_json([service_event(unit="kasemen", wait_ms=900000),
                     service_event(unit="walantaka", wait_ms=60000),
                     {"id": "ov-t1", "type": "ticket", "unit": "kasemen", "ticket": "A-1",
                      "state": "issued", "ts": now_ms() - 60000}], token=ADMIN_SECRET)
        status, body = overview(d, ADMIN_SECRET)
        assert status == 200 and body["at"] > 0
        assert [r["unit"] for r in body["units"]] == ["kasemen", "perizinan", "walantaka"]
        k = body["units"][0]
        assert k["name"] == "Pelayanan Terpadu Kasemen"
        assert k["today"]["services"]["count"] == 1
        assert k["today"]["services"]["wait_ms"]["p90"] >= 890000
        assert k["queue"]["waiting"] == 1 and k["queue"]["longest_wait_ms"] >= 59000
        assert k["indicators"] == {"ok": 0, "warn": 0, "bad": 1, "none": 0}
        assert k["alerts_today"] == 1 and k["unacked_bad"] == 1
        assert k["needs_coaching"] is False and k["bad_days"] == 0
        assert k["today"]["ratings"] == {"ikm": None, "ikm_grade": None}
        assert body["units"][2]["indicators"]["ok"] == 1
        # a token for 2 of the 3 units sees 2 rows
        status, body = overview(d, TWO_SECRET)
        assert status == 200
        assert [r["unit"] for r in body["units"]] == ["kasemen", "walantaka"]
        status, body = overview(d, VIEWER_SECRET)  # kasemen only
        assert [r["unit"] for r in body["units"]] == ["kasemen"]
        assert d.request("GET", "/api/v1/overview", token="")[0].status == 401
        assert d.stop() == 0
    finally:
        d.kill9()


def live(d, token):
    ws = websocket.create_connection(f"ws://127.0.0.1:{d.port}/",
                                     subprotocols=["kinerja-live.v1"], timeout=20)
    ws.send_binary(msgpack.packb({"op": "auth", "token": token}))
    ws.send_binary(msgpack.packb({"op": "subscribe", "overview": True}))
    return ws


def recv(ws):
    return msgpack.unpackb(ws.recv())


def test_live_overview_scoped_and_coalesced(tmp_path):
    d = make(tmp_path, "overview_interval_ms: 1000\n")
    try:
        ws = live(d, TWO_SECRET)
        first = recv(ws)
        assert first["op"] == "overview"
        assert [r["unit"] for r in first["units"]] == ["kasemen", "walantaka"]
        # a burst of posts to all three units: the changed rows it may see,
        # in frames at least overview_interval_ms apart
        frames = []
        for i in range(6):
            for u in ("kasemen", "perizinan", "walantaka"):
                d.post_json([service_event(unit=u)], token=ADMIN_SECRET)
        while True:
            f = recv(ws)
            assert f["op"] == "overview"
            frames.append((now_ms(), f))
            counts = {r["unit"]: r["today"]["services"]["count"] for _, g in frames
                      for r in g["units"]}
            if counts.get("kasemen") == 6 and counts.get("walantaka") == 6:
                break
        seqs = [f["seq"] for _, f in frames]
        assert seqs == list(range(first["seq"] + 1, first["seq"] + 1 + len(seqs))), seqs
        assert all(r["unit"] != "perizinan" for _, f in frames for r in f["units"])
        assert len(frames) <= 3, [f["seq"] for _, f in frames]
        for (t0, _), (t1, _) in zip(frames, frames[1:]):
            assert t1 - t0 >= 800
        # another token: its own first frame, all rows
        ws2 = live(d, ADMIN_SECRET)
        assert recv(ws2)["op"] == "overview"
        ws.close()
        ws2.close()
        assert d.stop() == 0
    finally:
        d.kill9()


def test_cli_simulate_tickets_and_overview(tmp_path):
    """kinerja simulate runs a ticket machine (tickets issued, called, closed by
    services); kinerja overview prints a line per unit the token may see;
    kinerja snapshot shows the queue."""
    import os
    import subprocess
    from conftest import KINERJA
    d = make(tmp_path)
    try:
        env = dict(os.environ, KINERJA_URL=d.url, KINERJA_TOKEN=ADMIN_SECRET)
        r = subprocess.run([KINERJA, "simulate", "--units", "kasemen,walantaka", "--duration",
                            "3s", "--rate", "60", "--seed", "7", "--http", "--always-open"],
                           env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        status, body = overview(d, ADMIN_SECRET)
        r, data = d.request("GET", "/api/v1/snapshot?unit=kasemen", token=ADMIN_SECRET)
        q = json.loads(data)["unit_metrics"]["queue"]
        assert q["issued_today"] > 0 and q["called_today"] > 0, q
        assert q["by_service"], q
        r, data = d.request("GET", "/api/v1/events?unit=kasemen&format=ndjson", token=ADMIN_SECRET)
        evs = [json.loads(l) for l in data.decode().splitlines()]
        assert any(e["type"] == "service" and e.get("ticket") for e in evs)
        assert {e["state"] for e in evs if e["type"] == "ticket"} >= {"issued", "called"}
        out = subprocess.run([KINERJA, "overview"], env=dict(env, KINERJA_TOKEN=TWO_SECRET),
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0].split()[:2] == ["IKU", "unit"]
        assert [l for l in lines[1:] if "Kasemen" in l] and [l for l in lines[1:] if "Walantaka" in l]
        assert not [l for l in lines if "Perizinan" in l]
        out = subprocess.run([KINERJA, "snapshot", "--unit", "kasemen"], env=env,
                             capture_output=True, text=True, timeout=30)
        assert "Queue now" in out.stdout and "all services" in out.stdout
        assert d.stop() == 0
    finally:
        d.kill9()
