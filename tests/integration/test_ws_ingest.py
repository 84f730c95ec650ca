"""kinerja-ingest.v1: events frames, acks after the commit, auth by header or
first frame, protocol violations, flow control."""
import msgpack
import pytest
import websocket

from conftest import VIEWER_SECRET, Daemon, service_event

PROTO = "kinerja-ingest.v1"


def connect(d, token=None, header=True, subprotocols=(PROTO,)):
    headers = [f"Authorization: Bearer {token or d.token}"] if header else []
    ws = websocket.create_connection(f"ws://127.0.0.1:{d.port}/", subprotocols=list(subprotocols),
                                     header=headers, timeout=20)
    return ws


def send(ws, obj):
    ws.send_binary(msgpack.packb(obj))


def recv(ws):
    op, data = ws.recv_data()
    assert op == websocket.ABNF.OPCODE_BINARY, (op, data)
    return msgpack.unpackb(data)


def recv_close(ws):
    """Reads until the close frame; returns (code, [frames before it])."""
    frames = []
    while True:
        frame = ws.recv_frame()  # raw: no automatic close reply to a closed socket
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big"), frames
        frames.append(msgpack.unpackb(frame.data))


def test_events_and_acks_in_order(daemon):
    ws = connect(daemon)
    assert ws.subprotocol == PROTO
    evs = [[service_event() for _ in range(10)] for _ in range(20)]
    for seq, batch in enumerate(evs, 1):
        send(ws, {"op": "events", "seq": seq, "events": batch})
    acks = [recv(ws) for _ in evs]
    assert sorted(a["seq"] for a in acks) == list(range(1, 21))
    assert all(a["op"] == "ack" and a["accepted"] == 10 and a["duplicates"] == 0 for a in acks)
    send(ws, {"op": "events", "seq": 99, "events": evs[0] + [service_event(score=3)]})
    ack = recv(ws)
    assert ack["seq"] == 99 and ack["duplicates"] == 10 and ack["accepted"] == 0
    assert ack["rejected"][0]["index"] == 10 and "score" in ack["rejected"][0]["error"]
    ws.close()
    # the events went through the same store: HTTP sees them as duplicates
    status, body, _ = daemon.post_msgpack(evs[1])
    assert body["duplicates"] == 10


def test_auth_by_first_frame(daemon):
    ws = connect(daemon, header=False)
    send(ws, {"op": "auth", "token": daemon.token})
    send(ws, {"op": "events", "seq": 1, "events": [service_event()]})
    assert recv(ws)["accepted"] == 1
    ws.close()


def test_unauthenticated_frame_is_closed_1008(daemon):
    ws = connect(daemon, header=False)
    send(ws, {"op": "events", "seq": 1, "events": [service_event()]})
    code, frames = recv_close(ws)
    assert code == 1008
    assert frames and frames[0]["op"] == "error" and "auth" in frames[0]["error"]


def test_wrong_first_frame_token_closed_1008(daemon):
    ws = connect(daemon, header=False)
    send(ws, {"op": "auth", "token": "nope"})
    code, frames = recv_close(ws)
    assert code == 1008 and "unknown token" in frames[0]["error"]


def test_bad_header_token_refuses_upgrade(daemon):
    with pytest.raises(websocket.WebSocketException):
        connect(daemon, token="nope")
    with pytest.raises(websocket.WebSocketException):
        connect(daemon, token=VIEWER_SECRET)


def test_upgrade_without_our_subprotocol_is_refused(daemon):
    with pytest.raises(websocket.WebSocketException):
        connect(daemon, subprotocols=())
    with pytest.raises(websocket.WebSocketException):
        connect(daemon, subprotocols=("chat",))
    assert daemon.healthz()[0] == 200


def test_text_frame_closed_1003(daemon):
    ws = connect(daemon)
    ws.send('{"op":"events"}')
    code, frames = recv_close(ws)
    assert code == 1003 and "binary" in frames[0]["error"]


def test_garbage_and_unknown_op(daemon):
    ws = connect(daemon)
    ws.send_binary(b"\xc1\xc1")
    code, _ = recv_close(ws)
    assert code == 1003
    ws = connect(daemon)
    send(ws, {"op": "dance"})
    code, frames = recv_close(ws)
    assert code == 1008 and "dance" in frames[0]["error"]


def test_over_max_frame_closed_1009(tmp_path):
    d = Daemon(tmp_path, extra="max_frame: 64KiB").start()
    try:
        ws = connect(d)
        send(ws, {"op": "events", "seq": 1, "events": [service_event(meta={"x": "y" * 500})
                                                       for _ in range(200)]})
        code, frames = recv_close(ws)
        assert code == 1009 and "max_frame" in frames[0]["error"]
        assert d.healthz()[0] == 200
    finally:
        assert d.stop() == 0


def test_flow_control_many_frames_without_reading(daemon):
    """A producer that sends far more than the in-flight window without
    reading acks is slowed, not buffered: every frame is still acked."""
    ws = connect(daemon)
    n = 300
    for seq in range(n):
        send(ws, {"op": "events", "seq": seq, "events": [service_event() for _ in range(50)]})
    seen = set()
    while len(seen) < n:
        a = recv(ws)
        assert a["op"] == "ack" and a["accepted"] == 50
        seen.add(a["seq"])
    ws.close()


def test_acks_written_together_are_whole_frames(daemon):
    """The acks of one group commit go out in one write when they fit: short
    acks (7-bit lengths), long ones listing rejected events (16-bit lengths)
    and ones too long to gather, in the order of the frames, each whole."""
    ws = connect(daemon)
    bad = {0: 0, 1: 3, 2: 60, 3: 400}  # rejected events per frame: ack sizes ~40 B .. 20 KiB
    frames = []
    for seq in range(48):
        nbad = bad[seq % 4]
        frames.append([service_event()] + [service_event(score=3) for _ in range(nbad)])
    for seq, evs in enumerate(frames):
        send(ws, {"op": "events", "seq": seq, "events": evs})
    acks = [recv(ws) for _ in frames]
    assert [a["seq"] for a in acks] == list(range(48))
    for a in acks:
        assert a["accepted"] == 1 and len(a["rejected"]) == bad[a["seq"] % 4]
    ws.close()


def test_max_connections_limit(tmp_path):
    import socket
    d = Daemon(tmp_path, extra="max_connections: 5").start()
    try:
        held = [connect(d) for _ in range(5)]
        # the sixth is refused: the daemon closes it without an answer
        s = socket.create_connection(("127.0.0.1", d.port))
        s.settimeout(10)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100) == b""  # closed without an answer...
        except ConnectionResetError:
            pass  # ...or reset, when our request was still unread
        s.close()
        d.wait_log("max_connections (5) reached")
        # one goes away: room for another
        held.pop().close()
        d.wait_log("wsi destroyed")
        assert d.healthz()[0] == 200
        for ws in held:
            ws.close()
    finally:
        assert d.stop() == 0
