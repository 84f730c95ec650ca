"""POST /api/v1/events and /healthz against a real kinerjad: every answer of
SPEC §7, bad input, and the daemon still healthy afterwards."""
import json
import socket

import msgpack
import pytest

from conftest import (ADMIN_SECRET, OTHER_SECRET, VIEWER_SECRET, Daemon, now_ms,
                      service_event)


def test_healthz_without_token(daemon):
    assert daemon.healthz() == (200, "ok\n")


def test_post_one_event_json(daemon):
    status, body, _ = daemon.post_json(service_event())
    assert status == 200, body
    assert body == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_post_array_msgpack_answers_msgpack(daemon):
    evs = [service_event() for _ in range(3)]
    status, body, r = daemon.post_msgpack(evs)
    assert status == 200
    assert r.getheader("Content-Type") == "application/msgpack"
    assert body == {"accepted": 3, "duplicates": 0, "rejected": []}


def test_accept_msgpack_for_json_request(daemon):
    r, data = daemon.request("POST", "/api/v1/events", json.dumps([service_event()]).encode(),
                             {"Content-Type": "application/json",
                              "Accept": "application/msgpack"})
    assert r.status == 200
    assert msgpack.unpackb(data)["accepted"] == 1


def test_partial_acceptance_and_duplicates(daemon):
    first = service_event()
    status, body, _ = daemon.post_json([first])
    assert body["accepted"] == 1
    bad = service_event(wait_ms=-5)
    typo = service_event()
    typo["wiat_ms"] = typo.pop("wait_ms")
    good = service_event()
    status, body, _ = daemon.post_json([first, bad, good, typo])
    assert status == 200
    assert body["accepted"] == 1
    assert body["duplicates"] == 1
    rej = {r["index"]: r for r in body["rejected"]}
    assert set(rej) == {1, 3}
    assert rej[1]["id"] == bad["id"]
    assert rej[1]["error"].startswith("wait_ms:")
    assert "wiat_ms" in rej[3]["error"]
    # the valid one was stored: posting it again is a duplicate
    status, body, _ = daemon.post_json([good])
    assert body == {"accepted": 0, "duplicates": 1, "rejected": []}


def test_same_id_in_another_unit_is_not_a_duplicate(daemon):
    ev = service_event()
    assert daemon.post_json(ev)[1]["accepted"] == 1
    other = dict(ev, unit="perizinan", employee="199001012015031001")
    status, body, _ = daemon.post_json(other)
    assert body == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_keep_alive_many_requests_one_connection(daemon):
    c = daemon.conn()
    for i in range(50):
        status, body, _ = daemon.post_msgpack([service_event()], conn=c)
        assert (status, body["accepted"]) == (200, 1)
    c.close()


@pytest.mark.parametrize("body,ctype,fragment", [
    (b"{not json", "application/json", ""),
    (b"42", "application/json", ""),
    (b'"text"', "application/json", ""),
    (b"\xc1", "application/msgpack", ""),
    (msgpack.packb(42), "application/msgpack", ""),
])
def test_400_undecodable_or_not_events(daemon, body, ctype, fragment):
    r, data = daemon.request("POST", "/api/v1/events", body, {"Content-Type": ctype})
    assert r.status == 400
    err = (msgpack.unpackb(data) if "msgpack" in ctype else json.loads(data))["error"]
    assert err and "\n" not in err


def test_400_truncated_msgpack_every_prefix(daemon):
    body = msgpack.packb([service_event() for _ in range(3)])
    c = daemon.conn()
    for cut in range(1, len(body), 7):
        status, resp, _ = daemon.post_msgpack(None, raw=body[:cut], conn=c)
        assert status == 400, (cut, resp)
    c.close()
    assert daemon.healthz()[0] == 200


def test_invalid_utf8_is_rejected(daemon):
    ev = msgpack.packb(service_event())
    bad = ev.replace(b"loket-1", b"loket\xff1")
    status, body, _ = daemon.post_msgpack(None, raw=bad)
    assert status in (200, 400)
    if status == 200:
        assert body["accepted"] == 0 and len(body["rejected"]) == 1
    raw_json = json.dumps(service_event()).encode().replace(b"loket-1", b"loket\xff1")
    status, body, _ = daemon.post_json(None, raw=raw_json)
    assert status == 400


def test_deep_nesting_100000(daemon):
    depth = 100_000
    status, body, _ = daemon.post_json(None, raw=b"[" * depth + b"]" * depth)
    assert status == 400, body
    status, body, _ = daemon.post_msgpack(None, raw=b"\x91" * depth + b"\xc0")
    assert status == 400, body
    ev = service_event(meta="@@")
    deep_meta = '{"x":' * 2000 + "{}" + "}" * 2000
    raw = json.dumps(ev).replace('"@@"', deep_meta).encode()
    status, body, _ = daemon.post_json(None, raw=raw)
    assert status in (200, 400)
    if status == 200:
        assert body["accepted"] == 0
    assert daemon.healthz()[0] == 200


def test_401_missing_and_unknown_token(daemon):
    status, body, _ = daemon.post_json(service_event(), token="")
    assert status == 401 and "token" in body["error"]
    status, body, _ = daemon.post_json(service_event(), token="wrong-secret")
    assert status == 401 and "unknown token" in body["error"]


def test_403_viewer_and_foreign_unit(daemon):
    status, body, _ = daemon.post_json(service_event(), token=VIEWER_SECRET)
    assert status == 403 and "viewer" in body["error"]
    status, body, _ = daemon.post_json(service_event(unit="kasemen"), token=OTHER_SECRET)
    assert status == 403 and "kasemen" in body["error"]
    status, body, _ = daemon.post_json(service_event(), token=ADMIN_SECRET)
    assert status == 200


def test_413_over_max_body(daemon):
    big = json.dumps([service_event() for _ in range(6000)]).encode()
    assert len(big) > 1024 * 1024
    status, body, _ = daemon.post_json(None, raw=big)
    assert status == 413 and "max_body" in body["error"]
    assert daemon.healthz()[0] == 200


def test_413_over_10000_events(tmp_path):
    d = Daemon(tmp_path, extra="max_body: 8MiB").start()
    try:
        evs = [service_event() for _ in range(10_001)]
        status, body, _ = d.post_msgpack(evs)
        assert status == 413, body
        assert "10000" in body["error"]
        status, body, _ = d.post_msgpack(evs[:10_000])
        assert status == 200 and body["accepted"] == 10_000
    finally:
        assert d.stop() == 0


def test_415_content_type(daemon):
    r, data = daemon.request("POST", "/api/v1/events", b"id=1", {"Content-Type": "text/plain"})
    assert r.status == 415
    assert "Content-Type" in json.loads(data)["error"]


def test_400_empty_body(daemon):
    r, data = daemon.request("POST", "/api/v1/events", b"", {"Content-Type": "application/json"})
    assert r.status == 400


def test_unknown_path_and_method(daemon):
    r, data = daemon.request("GET", "/api/v1/nothing")
    assert r.status == 404
    r, data = daemon.request("POST", "/api/v1/nothing", b"{}", {"Content-Type": "application/json"})
    assert r.status == 404


def test_static_files_stay_inside_web_root(daemon):
    for path in ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd",
                 "/index.html/../../../etc/passwd", "//etc/passwd"]:
        s = socket.create_connection(("127.0.0.1", daemon.port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        assert b"root:" not in data, path


def test_garbage_bytes_then_still_healthy(daemon):
    for junk in [b"\x00\xff" * 1000, b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 100000 + b"\r\n\r\n",
                 b"POST /api/v1/events HTTP/1.1\r\nContent-Length: -1\r\n\r\n"]:
        s = socket.create_connection(("127.0.0.1", daemon.port))
        try:
            s.sendall(junk)
            s.settimeout(5)
            s.recv(100)
        except OSError:
            pass
        s.close()
    assert daemon.healthz() == (200, "ok\n")


def test_503_while_shutting_down(tmp_path):
    d = Daemon(tmp_path).start()
    body = json.dumps([service_event()]).encode()
    s = socket.create_connection(("127.0.0.1", d.port))
    head = (f"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {d.token}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    s.sendall(head + body[:5])
    d.wait_log("receiving")  # the request reached the daemon
    n = len(d.lines)
    d.proc.send_signal(15)
    d.wait_log("committing pending", start=n)
    s.sendall(body[5:])
    s.settimeout(10)
    data = s.recv(65536)
    s.close()
    assert data.startswith(b"HTTP/1.1 503"), data
    assert b"retry-after: 5" in data.lower()
    assert d.proc.wait(20) == 0


def test_auth_false_refused_on_non_loopback(tmp_path):
    d = Daemon(tmp_path, auth=False)
    text = open(d.config_path).read().replace('listen: "127.0.0.1', 'listen: "0.0.0.0')
    open(d.config_path, "w").write(text)
    import subprocess
    from conftest import KINERJAD
    p = subprocess.run([KINERJAD, "-c", d.config_path], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert "auth: false" in p.stderr and "loopback" in p.stderr


def test_auth_false_on_loopback_accepts_without_token(tmp_path):
    d = Daemon(tmp_path, auth=False).start()
    try:
        status, body, _ = d.post_json(service_event(), token="")
        assert status == 200 and body["accepted"] == 1
    finally:
        assert d.stop() == 0


def test_413_announced_huge_body_answered_at_once(daemon):
    s = socket.create_connection(("127.0.0.1", daemon.port))
    s.sendall((f"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Authorization: Bearer {daemon.token}\r\nContent-Length: 100000000000\r\n\r\n"
               ).encode())
    s.settimeout(10)
    data = b""
    while chunk := s.recv(65536):  # the daemon closes after the answer
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 413"), data
    assert b"max_body" in data
    assert daemon.healthz()[0] == 200
