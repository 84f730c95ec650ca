"""Integration fixtures: a real kinerjad on a free loopback port with its own
temporary state_dir, started and stopped by the test (by PID only)."""
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import msgpack
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("KJ_BUILD", "build"))
KINERJAD = os.path.join(BUILD, "kinerjad")
KINERJA = os.path.join(BUILD, "kinerja")

INGEST_SECRET = "ingest-secret"
VIEWER_SECRET = "viewer-secret"
ADMIN_SECRET = "admin-secret"
OTHER_SECRET = "other-unit-secret"


def sha(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def _ephemeral_low():
    """The lowest port the kernel hands out as an outgoing connection's source
    port (and for bind to port 0)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_ports_given = set()


def free_port():
    """A loopback port that nothing holds, below the ephemeral range. A port
    from bind(("127.0.0.1", 0)) lies in that range, so an outgoing connection
    (a NATS route, a client) may take it as its source port before the server
    it was meant for binds it: a test's nats-server then failed with "address
    already in use". The kernel never picks a source port below the range."""
    low = _ephemeral_low()
    if low <= 12000:  # an unusual range: fall back to the kernel's choice
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    rng = random.Random()
    for _ in range(2000):
        port = rng.randrange(10000, low)
        if port in _ports_given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise AssertionError(f"no free loopback port in 10000..{low - 1}")


def anon_rss_kib(pid):
    """The daemon's anonymous memory (RssAnon): what its buffers and queues
    hold. VmRSS also counts the store's pages it has mapped, page cache that
    grows with the store, not with what a client does."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError(f"no RssAnon in /proc/{pid}/status")


def now_ms():
    return int(time.time() * 1000)


def metric(d, name):
    """The value of an unlabelled series of the daemon's /metrics."""
    r, data = d.request("GET", "/metrics", token=ADMIN_SECRET)
    assert r.status == 200
    return float(re.search(rb"^%s (\S+)$" % name.encode(), data, re.M).group(1))


DEFAULT_UNITS = """
units:
  - id: kasemen
    name: "Pelayanan Terpadu Kasemen"
    members:
      - {id: "198706152010011002", name: "Siti Rahmawati"}
      - {id: "199001012015031001", name: "Budi Santoso"}
    counters:
      - {id: loket-1, name: "Loket 1"}
      - {id: loket-2, name: "Loket 2"}
  - id: perizinan
    name: "Perizinan"
"""


class Daemon:
    """One kinerjad process. stderr is read continuously so that tests can
    wait for a log line (an event) instead of sleeping."""

    def __init__(self, tmp, extra="", units=DEFAULT_UNITS, auth=True):
        self.tmp = str(tmp)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state_dir = os.path.join(self.tmp, "state")
        self.config_path = os.path.join(self.tmp, "kinerjad.yaml")
        self.token = INGEST_SECRET
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.write_config(extra, units, auth)

    def write_config(self, extra="", units=DEFAULT_UNITS, auth=True):
        with open(self.config_path, "w") as f:
            f.write(f"""listen: "127.0.0.1:{self.port}"
state_dir: {self.state_dir}
web_root: {os.path.join(ROOT, 'web')}
log_level: debug
auth: {'true' if auth else 'false'}
tokens:
  - {{name: loket, sha256: "{sha(INGEST_SECRET)}", role: ingest, units: "*"}}
  - {{name: viewer, sha256: "{sha(VIEWER_SECRET)}", role: viewer, units: [kasemen]}}
  - {{name: admin, sha256: "{sha(ADMIN_SECRET)}", role: admin, units: "*"}}
  - {{name: other, sha256: "{sha(OTHER_SECRET)}", role: ingest, units: [perizinan]}}
{units}
{extra}
""")

    def start(self, args=()):
        assert self.proc is None or self.proc.poll() is not None
        self.lines = []
        self.proc = subprocess.Popen([KINERJAD, "-c", self.config_path, *args],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True, errors="replace")
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        # "ready" comes last: the listeners, the writer and a cluster node's
        # consumer are up (sd_notify READY at the same point)
        try:
            self.wait_log(" ready (state_dir ", timeout=60)
        except AssertionError:
            self.kill9()  # the one it started: a test that fails here leaves none behind
            raise
        return self

    def _read(self, proc):
        for line in proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_log(self, needle, timeout=10, start=0):
        """Waits until a log line containing needle appears; returns it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    if needle in line:
                        return line
                if self.proc.poll() is not None and not any(needle in l for l in self.lines):
                    # the reader may still be draining; give it the rest
                    self.cond.wait(0.2)
                    if not any(needle in l for l in self.lines[start:]):
                        raise AssertionError(f"kinerjad exited ({self.proc.returncode}) before "
                                             f"logging {needle!r}:\n" + "\n".join(self.lines[-30:]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no log line {needle!r} within {timeout}s:\n" +
                                         "\n".join(self.lines[-30:]))
                self.cond.wait(left)

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        return self.proc.returncode if self.proc else None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # --- HTTP helpers ---
    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method, path, body=None, headers=None, token=None, conn=None):
        h = dict(headers or {})
        tok = self.token if token is None else token
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        c = conn or self.conn()
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r, data

    def post_json(self, events, token=None, conn=None, raw=None):
        body = raw if raw is not None else json.dumps(events).encode()
        r, data = self.request("POST", "/api/v1/events", body,
                               {"Content-Type": "application/json"}, token, conn)
        return r.status, (json.loads(data) if data else None), r

    def post_msgpack(self, events, token=None, conn=None, raw=None):
        body = raw if raw is not None else msgpack.packb(events)
        r, data = self.request("POST", "/api/v1/events", body,
                               {"Content-Type": "application/msgpack"}, token, conn)
        return r.status, (msgpack.unpackb(data) if data else None), r

    def healthz(self):
        r, data = self.request("GET", "/healthz", token="")
        return r.status, data.decode()


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path).start()
    yield d
    if d.alive():
        code = d.stop()
        assert code == 0, "kinerjad did not exit cleanly:\n" + "\n".join(d.lines[-30:])
    assert not any("AddressSanitizer" in l or "runtime error" in l for l in d.lines), \
        "\n".join(d.lines[-60:])


_seq = [0]


def service_event(unit="kasemen", eid=None, ts=None, **kw):
    _seq[0] += 1
    ev = {"id": eid or f"t-{os.getpid()}-{_seq[0]}-{time.monotonic_ns()}", "type": "service",
          "ts": ts if ts is not None else now_ms(), "unit": unit,
          "employee": "198706152010011002", "counter": "loket-1",
          "wait_ms": 120000, "service_ms": 300000}
    ev.update(kw)
    return ev
