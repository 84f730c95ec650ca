"""bench_rapor — the rapor of a large unit over a year (issue 14's measure).

Starts its own kinerjad (a temporary state_dir, a free port, max_event_age and
retention over a year), posts a year of events for one unit of 200 employees
(KJ_BENCH_RAPOR_EVENTS, default 1,000,000: services, ratings and tasks spread
over the last 365 days), then prints:
  - the latency of GET /api/v1/rapor for the year, the quarter and the month
    (median and max of a few requests), and the answer's size;
  - the writer's pause: the ack latency of single events posted back to back
    while year rapors are built (two at a time, the most that run at once),
    against the same without them. The rapor reads on its own worker threads
    in read transactions, so the writer should not pause at all.
A benchmark: it prints figures, it asserts nothing.

usage: bench_rapor.py KINERJAD"""
import hashlib
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import msgpack

kinerjad = sys.argv[1]
n_events = int(os.environ.get("KJ_BENCH_RAPOR_EVENTS", "1000000"))
EMPLOYEES = 200
DAY = 86_400_000
UNIT = "besar"
INGEST, VIEWER = "bench-ingest", "bench-viewer"


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(tmp, port):
    members = "\n".join(f'      - {{id: "e{i:03d}", name: "Pegawai {i}"}}' for i in range(EMPLOYEES))
    return f"""listen: "127.0.0.1:{port}"
state_dir: {tmp}/state
web_root: {tmp}
sync: periodic
log_level: warn
max_event_age: 370d
retention_days: 400
tokens:
  - {{name: ingest, sha256: "{sha(INGEST)}", role: ingest, units: "*"}}
  - {{name: viewer, sha256: "{sha(VIEWER)}", role: viewer, units: "*"}}
units:
  - id: {UNIT}
    name: "Unit besar"
    members:
{members}
indicators:
  - {{id: wait-p90, name: "Waktu tunggu p90", metric: services.wait_ms.p90, window: today,
      target: 900000, better: lower, applies_to: [unit, employee]}}
  - {{id: sla, name: "SLA", metric: services.sla_pct, window: today, target: 90,
      better: higher, applies_to: [unit, employee]}}
  - {{id: on-time, name: "Tepat waktu", metric: tasks.on_time_pct, window: 7d, target: 90,
      better: higher, applies_to: [employee]}}
  - {{id: ikm, name: "IKM", metric: ratings.ikm, window: 30d, target: 88.31,
      better: higher, applies_to: [unit]}}
"""


def start(cfg, port):
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
                 {"Content-Type": "application/msgpack", "Authorization": f"Bearer {INGEST}"})
    r = conn.getresponse()
    r.read()
    return r.status


def year_of_events(now):
    rnd = random.Random(14)
    for i in range(n_events):
        e = f"e{rnd.randrange(EMPLOYEES):03d}"
        ts = now - 60_000 - rnd.randrange(365 * DAY)
        ev = {"id": f"y{i}", "ts": ts, "unit": UNIT, "employee": e}
        k = rnd.random()
        if k < 0.6:
            ev.update(type="service", counter=f"loket-{rnd.randrange(8)}",
                      wait_ms=int(rnd.lognormvariate(13, 0.8)), service_ms=int(rnd.lognormvariate(12.9, 0.5)))
        elif k < 0.85:
            ev.update(type="rating", score=rnd.randint(2, 4),
                      elements=[rnd.randint(2, 4) for _ in range(9)])
        else:
            ev.update(type="task", kind="surat", due_ts=ts + rnd.randrange(-DAY, DAY))
        yield ev


def rapor(port, period):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    c.request("GET", f"/api/v1/rapor?unit={UNIT}&period={period}",
              headers={"Authorization": f"Bearer {VIEWER}"})
    r = c.getresponse()
    body = r.read()
    c.close()
    return (time.perf_counter() - t0) * 1000, r.status, len(body)


def ack_latencies(port, seconds, stop=None):
    """Single events posted back to back on one connection: each ack comes after
    the writer's commit, so a paused writer shows as a long ack."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out, i, until = [], 0, time.monotonic() + seconds
    while time.monotonic() < until and not (stop and stop.is_set()):
        ev = {"id": f"ack-{time.monotonic_ns()}-{i}", "type": "service", "ts": int(time.time() * 1000),
              "unit": UNIT, "employee": "e000", "counter": "loket-0", "wait_ms": 1000, "service_ms": 1000}
        t0 = time.perf_counter()
        post(c, [ev])
        out.append((time.perf_counter() - t0) * 1000)
        i += 1
    c.close()
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


def main():
    tmp = tempfile.mkdtemp(prefix="kinerja-bench-rapor-")
    port = free_port()
    cfg = os.path.join(tmp, "kinerjad.yaml")
    open(cfg, "w").write(config(tmp, port))
    p = start(cfg, port)
    try:
        now = int(time.time() * 1000)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        t0, batch = time.perf_counter(), []
        for ev in year_of_events(now):
            batch.append(ev)
            if len(batch) == 5000:
                post(conn, batch)
                batch = []
        if batch:
            post(conn, batch)
        conn.close()
        print(f"kinerja rapor: {n_events} events over 365 days, one unit of {EMPLOYEES} employees, "
              f"posted in {time.perf_counter() - t0:.1f} s")
        y = time.strftime("%Y", time.localtime())
        m = time.strftime("%Y-%m", time.localtime())
        q = f"{y}-Q{(int(time.strftime('%m')) + 2) // 3}"
        for period in (y, q, m):
            runs = [rapor(port, period) for _ in range(5)]
            ms = [r[0] for r in runs]
            print(f"  rapor {period:8}: {statistics.median(ms):7.1f} ms median, {max(ms):7.1f} ms max "
                  f"(HTTP {runs[0][1]}, {runs[0][2] / 1024:.0f} KiB)")
        base = ack_latencies(port, 3)
        stop = threading.Event()
        built = []

        def builder():
            while not stop.is_set():
                built.append(rapor(port, y)[0])

        threads = [threading.Thread(target=builder) for _ in range(2)]
        for t in threads:
            t.start()
        busy = ack_latencies(port, 5)
        stop.set()
        for t in threads:
            t.join()
        print(f"  writer: single-event ack p50 / p99 / max {pct(base, 50):.2f} / {pct(base, 99):.2f} / "
              f"{max(base):.2f} ms alone, {pct(busy, 50):.2f} / {pct(busy, 99):.2f} / {max(busy):.2f} ms "
              f"while {len(built)} year rapors were built (2 at a time)")
    finally:
        p.terminate()
        p.wait()
        subprocess.run(["rm", "-rf", tmp])


main()
