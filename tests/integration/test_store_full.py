"""A full LMDB map: 507 with a one-line reason, nothing half-written, the
daemon keeps serving, and what was acknowledged before is still there."""
from conftest import Daemon, service_event


def test_full_map_gives_507_and_daemon_goes_on(tmp_path):
    d = Daemon(tmp_path, extra="map_size: 1MiB").start()
    acked = []
    status = 200
    for _ in range(200):
        batch = [service_event(meta={"note": "x" * 200}) for _ in range(200)]
        status, body, _ = d.post_msgpack(batch)
        if status != 200:
            break
        assert body["accepted"] == len(batch)
        acked += batch
    assert status == 507, body
    assert "store full" in body["error"]
    assert acked, "the map filled before anything was stored"
    d.wait_log("write transaction failed")
    assert d.healthz() == (503, "store full\n")
    # still serving: static files and answers
    r, _ = d.request("GET", "/healthz")
    assert r.status == 503
    # what was acknowledged is there: all duplicates (a read-only transaction's worth)
    status, body, _ = d.post_msgpack(acked[:100])
    assert status == 200 and body["duplicates"] == 100, body
    assert d.healthz() == (200, "ok\n")  # a commit went through: writable again
    assert d.stop() == 0
    # and after a restart too
    d.start()
    status, body, _ = d.post_msgpack(acked)
    assert status == 200 and body["duplicates"] == len(acked)
    assert d.stop() == 0
