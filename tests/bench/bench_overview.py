"""bench_overview — the agency overview at province scale (SPEC §14, issue 13).

Starts its own kinerjad (sync: full, overview_interval_ms 1000) on a free port,
posts events to 500 units at a steady rate, and measures for two phases of the
same length: 100 live overview viewers, then none. Prints the overview frames
and rows each viewer received per second, the bytes, and the daemon's CPU per
second in each phase: the difference is what the viewers cost. A benchmark:
it prints figures, it asserts nothing.

usage: bench_overview.py KINERJAD  (KJ_BENCH_SECONDS, default 5; KJ_BENCH_RATE,
events/s, default 2000)"""
import hashlib
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import msgpack
import websocket

kinerjad = sys.argv[1]
secs = float(os.environ.get("KJ_BENCH_SECONDS", "5"))
rate = int(os.environ.get("KJ_BENCH_RATE", "2000"))
UNITS, VIEWERS = 500, 100
SECRET = "bench-overview"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(tmp, port):
    cfg = os.path.join(tmp, "kinerjad.yaml")
    with open(cfg, "w") as f:
        f.write(f"""listen: "127.0.0.1:{port}"
state_dir: {tmp}/state
sync: full
log_level: warn
max_connections: 4096
max_viewers: 2000
overview_interval_ms: 1000
tokens:
  - {{name: bench, sha256: "{hashlib.sha256(SECRET.encode()).hexdigest()}", role: admin, units: "*"}}
indicators:
  - {{id: wait, metric: services.wait_ms.p90, window: today, target: 900000, better: lower}}
""")
    p = subprocess.Popen([kinerjad, "-c", cfg], stderr=subprocess.DEVNULL)
    while True:  # until the port answers (a benchmark: polling is fine here)
        if p.poll() is not None:
            raise SystemExit("kinerjad did not start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.01)


def post(conn, events):
    conn.request("POST", "/api/v1/events", msgpack.packb(events),
                 {"Content-Type": "application/msgpack", "Authorization": f"Bearer {SECRET}"})
    conn.getresponse().read()


seq = [0]


def batch(rnd, n):
    now = int(time.time() * 1000)
    out = []
    for _ in range(n):
        seq[0] += 1
        u = rnd.randrange(UNITS)
        out.append({"id": f"ob-{seq[0]}", "type": "service", "ts": now, "unit": f"unit-{u:03d}",
                    "employee": f"e-{u:03d}-{rnd.randrange(8)}", "counter": f"loket-{rnd.randrange(4)}",
                    "wait_ms": rnd.randrange(60000, 1800000), "service_ms": 300000})
    return out


def load(conn, rnd, seconds):
    """Posts `rate` events a second in batches of 100 for `seconds`."""
    t0 = time.monotonic()
    sent = 0
    while time.monotonic() - t0 < seconds:
        post(conn, batch(rnd, 100))
        sent += 100
        ahead = sent / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)


class Viewer(threading.Thread):
    def __init__(self, port):
        super().__init__(daemon=True)
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/",
                                              subprotocols=["kinerja-live.v1"], timeout=30)
        self.ws.send_binary(msgpack.packb({"op": "auth", "token": SECRET}))
        self.ws.send_binary(msgpack.packb({"op": "subscribe", "overview": True}))
        self.frames = self.rows = self.bytes = 0
        self.counting = False

    def run(self):
        try:
            while True:
                data = self.ws.recv()
                if self.counting:
                    f = msgpack.unpackb(data)
                    self.frames += 1
                    self.rows += len(f.get("units", []))
                    self.bytes += len(data)
        except Exception:
            return


def main():
    tmp = tempfile.mkdtemp()
    port = free_port()
    p = start(tmp, port)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        rnd = random.Random(7)
        for _ in range(UNITS // 100):  # every unit exists before the viewers come
            post(conn, batch(rnd, 100))
        viewers = [Viewer(port) for _ in range(VIEWERS)]
        for v in viewers:
            v.start()
        load(conn, rnd, 1.5)  # the first (full) frames arrive meanwhile
        for v in viewers:
            v.counting = True
        c0, t0 = cpu_s(p.pid), time.monotonic()
        load(conn, rnd, secs)
        with_v, span = cpu_s(p.pid) - c0, time.monotonic() - t0
        frames = sum(v.frames for v in viewers) / len(viewers) / span
        rows = sum(v.rows for v in viewers) / max(1, sum(v.frames for v in viewers))
        kib = sum(v.bytes for v in viewers) / span / 1024
        for v in viewers:
            v.ws.close()
        load(conn, rnd, 1.0)  # the viewers leave
        c0, t0 = cpu_s(p.pid), time.monotonic()
        load(conn, rnd, secs)
        without, span2 = cpu_s(p.pid) - c0, time.monotonic() - t0
        print(f"overview: {UNITS} units, {rate} events/s, {VIEWERS} live overview viewers: "
              f"{frames:.2f} frames/s per viewer, {rows:.0f} rows per frame, "
              f"{kib:.0f} KiB/s to all viewers")
        print(f"overview: daemon CPU {100 * with_v / span:.1f}% with the viewers, "
              f"{100 * without / span2:.1f}% without: the viewers cost "
              f"{100 * (with_v / span - without / span2):.1f}% of a core")
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


main()
