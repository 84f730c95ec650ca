"""Operations: /metrics, SIGHUP reload, and the systemd notify protocol
against a NOTIFY_SOCKET datagram socket that the test owns."""
import os
import re
import signal
import socket
import subprocess
import threading

import msgpack
import websocket

from conftest import ADMIN_SECRET, INGEST_SECRET, KINERJAD, VIEWER_SECRET, Daemon, service_event, sha


def parse_prom(text):
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return values


def test_metrics_counts_what_was_posted(daemon):
    r, data = daemon.request("GET", "/metrics", token="")
    assert r.status == 401
    r, data = daemon.request("GET", "/metrics", token=VIEWER_SECRET)
    assert r.status == 403
    evs = [service_event() for _ in range(7)]
    daemon.post_json(evs)
    daemon.post_json(evs[:3] + [service_event(wait_ms=-1)])
    daemon.post_json(None, raw=b"nonsense")
    r, data = daemon.request("GET", "/metrics", token=ADMIN_SECRET)
    assert r.status == 200
    assert r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    m = parse_prom(data.decode())
    assert m['kinerja_events_total{type="service",result="accepted"}'] == 7
    assert m['kinerja_events_total{type="service",result="duplicate"}'] == 3
    # a rejected event's type may be unknown (it may be what was wrong)
    assert sum(v for k, v in m.items() if k.startswith("kinerja_events_total") and
               'result="rejected"' in k) == 1
    assert m['kinerja_http_requests_total{code="200"}'] >= 2
    assert m['kinerja_http_requests_total{code="400"}'] == 1
    assert m['kinerja_http_requests_total{code="401"}'] == 1
    assert m['kinerja_http_requests_total{code="403"}'] == 1
    assert m["kinerja_commit_seconds_count"] >= 2
    assert m['kinerja_commit_seconds_bucket{le="+Inf"}'] == m["kinerja_commit_seconds_count"]
    assert m["kinerja_stored_events"] == 7
    assert m["kinerja_lmdb_map_size_bytes"] == 8 * 2**30
    assert 0 < m["kinerja_lmdb_used_bytes"] < m["kinerja_lmdb_map_size_bytes"]
    assert m['kinerja_build_info{version="0.1.0"}'] == 1
    assert m["kinerja_ingest_queue_depth"] == 0
    assert "kinerja_live_clients" in m and "kinerja_updates_dropped_total" in m


def test_reload_good_and_bad_configuration(daemon):
    ws = websocket.create_connection(f"ws://127.0.0.1:{daemon.port}/",
                                     subprotocols=["kinerja-ingest.v1"],
                                     header=[f"Authorization: Bearer {INGEST_SECRET}"], timeout=20)
    new_secret = "fresh-secret"
    good = open(daemon.config_path).read().replace(
        "tokens:\n", f'tokens:\n  - {{name: fresh, sha256: "{sha(new_secret)}", role: ingest, units: "*"}}\n')
    open(daemon.config_path, "w").write(good)
    n = len(daemon.lines)
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_log("configuration reloaded", start=n)
    assert daemon.post_json(service_event(), token=new_secret)[0] == 200
    # the open connection survived the reload and still works
    ws.send_binary(msgpack.packb({"op": "events", "seq": 1, "events": [service_event()]}))
    assert msgpack.unpackb(ws.recv())["accepted"] == 1
    # a bad configuration is logged with its line, and the old one kept
    open(daemon.config_path, "w").write(good + "\nlog_levle: debug\n")
    n = len(daemon.lines)
    daemon.proc.send_signal(signal.SIGHUP)
    line = daemon.wait_log("log_levle", start=n)
    assert re.search(r"kinerjad\.yaml:\d+: log_levle", line), line
    daemon.wait_log("running configuration is kept", start=n)
    assert daemon.post_json(service_event(), token=new_secret)[0] == 200
    ws.close()


def test_reload_revokes_removed_token_on_open_connection(daemon):
    ws = websocket.create_connection(f"ws://127.0.0.1:{daemon.port}/",
                                     subprotocols=["kinerja-ingest.v1"],
                                     header=[f"Authorization: Bearer {INGEST_SECRET}"], timeout=20)
    text = open(daemon.config_path).read()
    text = "\n".join(l for l in text.splitlines() if "name: loket" not in l)
    open(daemon.config_path, "w").write(text)
    n = len(daemon.lines)
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_log("configuration reloaded", start=n)
    frame = ws.recv_frame()
    assert msgpack.unpackb(frame.data)["error"].startswith("token revoked")
    assert ws.recv_frame().opcode == websocket.ABNF.OPCODE_CLOSE
    assert daemon.post_json(service_event())[0] == 401


class NotifySocket:
    """A NOTIFY_SOCKET the test owns: collects the daemon's datagrams."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(30)

    def next(self):
        return self.sock.recv(4096).decode()

    def wait_for(self, key):
        """Reads datagrams until one has key (e.g. "READY=1"); returns them all."""
        seen = []
        while True:
            msg = self.next()
            seen.append(msg)
            if key in msg.split("\n"):
                return seen


def test_sd_notify_protocol(tmp_path):
    d = Daemon(tmp_path)
    ns = NotifySocket(str(tmp_path / "notify.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=ns.path, WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)  # unset: sd_watchdog_enabled() accepts any pid
    d.proc = subprocess.Popen([KINERJAD, "-c", d.config_path], env=env, stderr=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, text=True)
    threading.Thread(target=d._read, args=(d.proc,), daemon=True).start()
    try:
        ready = ns.wait_for("READY=1")[-1]
        assert "STATUS=" in ready
        # the watchdog pings at half of WATCHDOG_USEC, with a status line
        ping = ns.wait_for("WATCHDOG=1")[-1]
        assert re.search(r"STATUS=.*events/s", ping), ping
        ns.wait_for("WATCHDOG=1")
        d.proc.send_signal(signal.SIGHUP)
        msgs = ns.wait_for("RELOADING=1")
        msgs = ns.wait_for("READY=1")
        d.proc.send_signal(signal.SIGTERM)
        ns.wait_for("STOPPING=1")
        assert d.proc.wait(20) == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
