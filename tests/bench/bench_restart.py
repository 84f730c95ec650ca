"""bench_restart — the metrics engine at office scale (issue 3's measure).

Posts N events (default 1,000,000; KJ_BENCH_MONTH_EVENTS) spread over 500
units, 10,000 employees and 2,000 counters and over the last 30 days, to a
running kinerjad; prints the ingest rate, the daemon's resident memory, then
restarts it (SIGTERM, start again) and prints the time from the start to the
first served snapshot. A benchmark: it prints figures, it asserts nothing.

usage: bench_restart.py KINERJAD CONFIG PORT TOKEN VIEWER_TOKEN"""
import http.client
import os
import random
import signal
import subprocess
import sys
import socket
import time

import msgpack

kinerjad, config, port, token, vtoken = sys.argv[1:6]
port = int(port)
n = int(os.environ.get("KJ_BENCH_MONTH_EVENTS", "1000000"))
rnd = random.Random(7)
now = int(time.time() * 1000)
DAY = 86_400_000


def start():
    p = subprocess.Popen([kinerjad, "-c", config], stderr=subprocess.DEVNULL)
    while True:  # until the port answers (a benchmark: polling is fine here)
        if p.poll() is not None:
            raise SystemExit("kinerjad did not start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.002)


def memory(pid):
    """The daemon's own memory (RssAnon) and the store's pages it has mapped
    (RssFile: LMDB's file, cached by the kernel, given back under pressure)."""
    kib = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, rest = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            kib[key] = int(rest.split()[0])
    return f"{kib['RssAnon'] / 1024:.0f} MiB own + {kib['RssFile'] / 1024:.0f} MiB of mapped store"



def events(count):
    for i in range(count):
        e = rnd.randrange(10_000)
        unit = f"u{e % 500}"
        ev = {"id": f"m{i}", "ts": now - rnd.randrange(30 * DAY - 60_000), "unit": unit,
              "employee": f"e{e}"}
        k = rnd.random()
        if k < 0.7:
            ev.update(type="service", counter=f"c{e % 4}", wait_ms=int(rnd.lognormvariate(12, 1)),
                      service_ms=int(rnd.lognormvariate(12.5, 0.6)))
        elif k < 0.85:
            ev.update(type="rating", score=rnd.randint(1, 4))
        else:
            ev.update(type="task", kind="surat", duration_ms=int(rnd.lognormvariate(14, 1)),
                      due_ts=ev["ts"] + rnd.randrange(-DAY, DAY))
        yield ev


p = start()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
t0 = time.monotonic()
batch = []
for ev in events(n):
    batch.append(ev)
    if len(batch) == 5000:
        conn.request("POST", "/api/v1/events", msgpack.packb(batch),
                     {"Content-Type": "application/msgpack", "Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        r.read()
        batch = []
took = time.monotonic() - t0
print(f"month: {n} events over 500 units, 10,000 employees, 30 days posted at {n / took:,.0f} "
      f"events/s (HTTP, batches of 5,000, one connection, metrics included)")
print(f"month: resident memory {memory(p.pid)}")


def first_snapshot(how):
    """Starts the daemon; prints the time to its first served snapshot."""
    t0 = time.monotonic()
    p = start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", "/api/v1/snapshot?unit=u1", headers={"Authorization": f"Bearer {vtoken}"})
    r = conn.getresponse()
    body = r.read()
    print(f"month: {how}: start to the first served snapshot "
          f"{1000 * (time.monotonic() - t0):.0f} ms (status {r.status}, {len(body)} bytes); "
          f"resident memory then {memory(p.pid)}")
    return p


p.send_signal(signal.SIGTERM)  # a clean stop stores the checkpoint of the window totals
p.wait()
p = first_snapshot("after a clean stop")
# an event voids the checkpoint; after a crash the start merges every bucket
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
fresh = {"id": "after-restart", "type": "rating", "ts": int(time.time() * 1000), "unit": "u1",
         "employee": "e1", "score": 4}
conn.request("POST", "/api/v1/events", msgpack.packb([fresh]),
             {"Content-Type": "application/msgpack", "Authorization": f"Bearer {token}"})
conn.getresponse().read()
p.kill()
p.wait()
p = first_snapshot("after kill -9")
p.send_signal(signal.SIGTERM)
p.wait()
