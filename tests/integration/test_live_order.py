"""The live feed's timing contract (SPEC §7): the leading edge is per unit, and
an alert never reaches a viewer before the update carrying its new status."""
import msgpack
import websocket

from conftest import ADMIN_SECRET, Daemon, service_event

PROTO = "kinerja-live.v1"


def viewer(d):
    ws = websocket.create_connection(f"ws://127.0.0.1:{d.port}/", subprotocols=[PROTO],
                                     header=[f"Authorization: Bearer {ADMIN_SECRET}"], timeout=20)
    return ws


def send(ws, obj):
    ws.send_binary(msgpack.packb(obj))


def recv_until(ws, pred):
    while True:
        f = msgpack.unpackb(ws.recv())
        if pred(f):
            return f


def subscribe(ws, unit):
    send(ws, {"op": "subscribe", "unit": unit})
    assert recv_until(ws, lambda f: f["op"] in ("snapshot", "error"))["op"] == "snapshot"


def test_leading_edge_is_per_unit(tmp_path):
    """A minute-long push interval: a unit's first change still goes out at
    once, even right after another unit was pushed (the recv timeout, 20 s,
    is far below the interval)."""
    d = Daemon(tmp_path, extra="min_push_interval_ms: 60000").start()
    try:
        ws = viewer(d)
        subscribe(ws, "kasemen")
        subscribe(ws, "perizinan")
        d.post_json([service_event(unit="kasemen")])
        assert recv_until(ws, lambda f: f["op"] == "update")["unit"] == "kasemen"
        d.post_json([service_event(unit="perizinan", employee="e-1", counter="c-1")])
        assert recv_until(ws, lambda f: f["op"] == "update")["unit"] == "perizinan"
    finally:
        assert d.stop() == 0


def test_alert_follows_the_update_with_its_status(tmp_path):
    d = Daemon(tmp_path, extra="""indicators:
  - id: wait-p90
    name: "Waktu tunggu p90"
    metric: services.wait_ms.p90
    window: today
    target: 600000
    better: lower
    applies_to: [unit]
""").start()
    try:
        ws = viewer(d)
        subscribe(ws, "kasemen")
        d.post_json([service_event(wait_ms=2_000_000)])
        status = "none"
        while True:
            f = msgpack.unpackb(ws.recv())
            if f["op"] == "update":
                status = [i["status"] for i in f["indicators"] if i["id"] == "wait-p90"][0]
            if f["op"] == "alert":
                assert f["to"] == "bad"
                assert status == "bad", "the alert came before the update carrying its status"
                break
    finally:
        assert d.stop() == 0
