"""More than one machine (SPEC §17): kinerjad nodes over real nats-server
processes with JetStream, on free loopback ports and temporary directories,
every process killed by its own PID.

- events posted to node A appear in node B's snapshot and live feed;
- duplicates posted to both nodes are counted once;
- kill -9 of one NATS server (R3) and of node B under load: every event whose
  post was acknowledged is in B's export after it restarts and catches up,
  and in A's;
- NATS down: ingest answers 503 and the client spools; NATS back: everything
  is delivered.

Skipped only when nats-server is not installed (scripts/deps.sh test installs
it, so CI runs these)."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import ADMIN_SECRET, KINERJA, KINERJAD, Daemon, free_port, now_ms, service_event
from test_live import recv_until, subscribe, today_count, viewer
from test_ws_ingest import connect as ws_connect
from test_ws_ingest import recv as ws_recv
from test_ws_ingest import send as ws_send

NATS_SERVER = shutil.which("nats-server")
pytestmark = pytest.mark.skipif(
    NATS_SERVER is None,
    reason="nats-server is not installed: the cluster tests need it (scripts/deps.sh test)")


class NatsServer:
    """One nats-server with JetStream; in a cluster when routes are given."""

    def __init__(self, tmp, name, port=None, cluster_port=None, routes=(), tls=None):
        self.name = name
        self.port = port or free_port()
        self.cluster_port = cluster_port
        self.url = f"nats://127.0.0.1:{self.port}"
        self.monitor_port = free_port()  # /jsz: what the server holds and delivered
        self.dir = os.path.join(str(tmp), name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "nats.conf")
        self.routes = list(routes)
        self.tls = tls  # {cert_file, key_file, ca_file}: clients need TLS and a certificate
        self.proc = None
        self.log = os.path.join(self.dir, "nats.log")
        self.write_conf()

    def write_conf(self):
        cluster = ""
        if self.cluster_port:
            routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.routes)
            cluster = (f"cluster {{\n  name: kj\n  listen: 127.0.0.1:{self.cluster_port}\n"
                       f"  routes: [{routes}]\n}}\n")
        if self.tls:
            keys = "".join(f'  {k}: "{v}"\n' for k, v in self.tls.items())
            cluster += f"tls {{\n{keys}  verify: true\n  timeout: 5\n}}\n"
        with open(self.conf, "w") as f:
            f.write(f"server_name: {self.name}\nlisten: 127.0.0.1:{self.port}\n"
                    f"jetstream {{\n  store_dir: \"{self.dir}/js\"\n  max_memory_store: 64MB\n"
                    f"  max_file_store: 1GB\n}}\nhttp: 127.0.0.1:{self.monitor_port}\n{cluster}")

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([NATS_SERVER, "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open(self.log) as f:
                if f.read().count("Server is ready") > self.starts:
                    self.starts += 1
                    return self
            assert self.proc.poll() is None, open(self.log).read()[-3000:]
            time.sleep(0.05)
        raise AssertionError("nats-server not ready:\n" + open(self.log).read()[-3000:])

    starts = 0

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()


    def consumers(self):
        """{durable name: its /jsz record} of every consumer this server holds."""
        url = (f"http://127.0.0.1:{self.monitor_port}/jsz?accounts=true&streams=true"
               "&consumers=true&config=true")
        with urllib.request.urlopen(url, timeout=10) as r:
            jsz = json.load(r)
        return {c["name"]: c for acc in jsz.get("account_details", [])
                for st in acc.get("stream_detail", []) for c in st.get("consumer_detail", [])}


def nats_cluster(tmp, n=3):
    ports = [free_port() for _ in range(n)]
    servers = [NatsServer(tmp, f"n{i + 1}", cluster_port=ports[i],
                          routes=[p for j, p in enumerate(ports) if j != i]) for i in range(n)]
    threads = [threading.Thread(target=s.start) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A start that failed in its thread would only warn: stop the others (the
    # caller has not taken them yet) and say which one and why.
    failed = [s for s in servers if s.proc is None or s.proc.poll() is not None]
    if failed:
        for s in servers:
            s.stop()
        raise AssertionError(f"nats-server {failed[0].name} did not start:\n" +
                             open(failed[0].log).read()[-3000:])
    return servers


def node(tmp, name, servers, replicas, units='"*"', more=""):
    urls = ", ".join(f'"{s.url}"' for s in servers)
    home = os.path.join(str(tmp), name)
    os.makedirs(home, exist_ok=True)
    d = Daemon(home, extra=f"cluster:\n  nats: [{urls}]\n  replicas: {replicas}\n  node: {name}\n"
                     f"  publish_timeout: 10s\n  units: {units}\n" + more)
    d.start()
    d.wait_log("cluster: consuming", timeout=60)
    return d


def lag(d):
    status, text = d.healthz()
    assert status == 200, text
    for line in text.splitlines():
        if line.startswith("cluster:"):
            return int(line.split("lag ")[1].split()[0]), "nats connected" in line
    raise AssertionError(text)


def wait_caught_up(d, timeout=60):
    """Waits until d is connected with a lag of 0. That lag may predate the
    last publish (see wait_exported): to see a post's events applied, await
    the events themselves (wait_exported, wait_count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n, connected = lag(d)
        if n == 0 and connected:
            return
        time.sleep(0.1)
    raise AssertionError(f"lag {lag(d)} after {timeout}s:\n" + "\n".join(d.lines[-30:]))


def wait_exported(d, ids, timeout=60):
    """Until every id is in d's store (its export), or the timeout. A lag of 0
    is read from the server between fetches and may predate the last publish:
    the events themselves are what to await."""
    deadline = time.monotonic() + timeout
    while not set(ids) <= export_ids(d) and time.monotonic() < deadline:
        time.sleep(0.1)


def snapshot_count(d, unit="kasemen"):
    r, data = d.request("GET", f"/api/v1/snapshot?unit={unit}", token=ADMIN_SECRET)
    assert r.status == 200, data
    return today_count(json.loads(data))


def wait_count(d, want, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if snapshot_count(d) >= want:
            return snapshot_count(d)
        time.sleep(0.05)
    return snapshot_count(d)


def export_ids(d):
    p = subprocess.run([KINERJA, "export", "--state-dir", d.state_dir, "--format", "ndjson"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return {json.loads(line)["id"] for line in p.stdout.splitlines()}


@pytest.fixture
def procs():
    """Every process a test starts, stopped (by PID) at its end; a node must
    stop cleanly (exit 0) whatever NATS did."""
    started = []
    yield started
    codes = {}
    for p in reversed(started):
        if isinstance(p, Daemon):
            if p.alive():
                codes[p.state_dir] = p.stop()
            assert not any("AddressSanitizer" in l or "runtime error" in l for l in p.lines), \
                "\n".join(p.lines[-60:])
        else:
            p.stop()
    assert all(c == 0 for c in codes.values()), codes


@pytest.fixture
def r3(tmp_path, procs):
    servers = nats_cluster(tmp_path / "nats")
    procs.extend(servers)
    a = node(tmp_path, "node-a", servers, 3)
    procs.append(a)
    b = node(tmp_path, "node-b", servers, 3)
    procs.append(b)
    return servers, a, b


def test_events_posted_to_a_reach_b_snapshot_and_live_feed(r3):
    servers, a, b = r3
    ws = viewer(b)
    snap = subscribe(ws)
    before = today_count(snap)
    events = [service_event() for _ in range(25)]
    status, body, _ = a.post_json(events)
    assert status == 200 and body["accepted"] == 25 and body["duplicates"] == 0, body
    # B's live feed carries A's events (applied from the stream, one writer path).
    frame = recv_until(ws, lambda f: f["op"] == "update" and "unit_metrics" in f and
                       today_count(f) >= before + 25)
    assert today_count(frame) == before + 25
    assert snapshot_count(b) == before + 25
    wait_caught_up(b)
    assert {e["id"] for e in events} <= export_ids(b)
    ws.close()


WAIT_IND = """indicators:
  - id: wait-p90
    name: "Waktu tunggu p90"
    metric: services.wait_ms.p90
    window: today
    target: 600000
    better: lower
    applies_to: [unit, employee]
"""


def test_an_ack_made_on_one_node_finds_the_alert_on_the_other(tmp_path, procs):
    """SPEC §16/§17: a node raises an alert from the stream with the id every
    node gives it, not one of its own clock: B, started after A raised it,
    applies the event seconds later and names the alert as A does, so an
    ack posted to A is applied on B."""
    nats = NatsServer(tmp_path / "nats", "solo").start()
    procs.append(nats)
    a = node(tmp_path, "node-a", [nats], 1, more=WAIT_IND)
    procs.append(a)
    wa = viewer(a)
    subscribe(wa)
    status, body, _ = a.post_json([service_event(wait_ms=2_000_000)])
    assert status == 200 and body["accepted"] == 1, body
    on_a = {}
    while len(on_a) < 2:
        f = recv_until(wa, lambda f: f["op"] == "alert")
        on_a[f["scope"]] = (f["id"], f["at"])
    b = node(tmp_path, "node-b", [nats], 1, more=WAIT_IND)
    procs.append(b)
    wait_caught_up(b)
    wb = viewer(b)
    on_b = {x["scope"]: (x["id"], x["at"]) for x in subscribe(wb)["alerts"]}
    assert {k: v[0] for k, v in on_b.items()} == {k: v[0] for k, v in on_a.items()}
    assert on_b["unit:kasemen"][1] > on_a["unit:kasemen"][1]  # seen later, on B's clock
    alert = on_a["unit:kasemen"][0]
    ev = {"id": f"ack-{os.getpid()}-{time.monotonic_ns()}", "type": "ack", "ts": now_ms(),
          "unit": "kasemen", "alert": alert, "by": "197912042005011002"}
    status, body, _ = a.post_json([ev], token=ADMIN_SECRET)
    assert status == 200 and body["accepted"] == 1, body
    f = recv_until(wb, lambda f: f["op"] == "alert_ack")
    assert f["alert"] == alert and f["acked_by"] == "197912042005011002"
    [mine] = [x for x in subscribe(viewer(b))["alerts"] if x["id"] == alert]
    assert mine["acked_by"] == "197912042005011002"
    wa.close()
    wb.close()


def test_duplicates_posted_to_both_nodes_counted_once(r3):
    servers, a, b = r3
    events = [service_event() for _ in range(40)]
    answers = {}

    def post(d):
        answers[d.state_dir] = d.post_json(events)

    threads = [threading.Thread(target=post, args=(d,)) for d in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bodies = [answers[d.state_dir][1] for d in (a, b)]
    assert all(answers[d.state_dir][0] == 200 for d in (a, b)), answers
    assert sum(x["accepted"] for x in bodies) == 40, bodies
    assert sum(x["duplicates"] for x in bodies) == 40, bodies
    # Once more, later: the ids table (not only JetStream's window) says duplicate.
    assert wait_count(a, 40) == 40 and wait_count(b, 40) == 40
    status, body, _ = b.post_json(events[:5])
    assert status == 200 and body == {"accepted": 0, "duplicates": 5, "rejected": []}, body
    assert snapshot_count(a) == 40 and snapshot_count(b) == 40


class Poster:
    """Posts batches to a node until stopped; keeps the ids of every batch
    that was acknowledged (200), sends a batch again after a 503."""

    def __init__(self, d, batch=20):
        self.d, self.batch = d, batch
        self.acked, self.answers = set(), {}
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        pending = None
        while not self.stop_flag.is_set():
            pending = pending or [service_event() for _ in range(self.batch)]
            try:
                status, body, _ = self.d.post_json(pending)
            except OSError:
                status, body = 0, None
            self.answers[status] = self.answers.get(status, 0) + 1
            if status == 200:
                assert body["accepted"] + body["duplicates"] == len(pending), body
                self.acked |= {e["id"] for e in pending}
                pending = None
            else:
                time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(60)

    def wait_acked(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while len(self.acked) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.acked) >= n, (len(self.acked), self.answers)


def test_kill9_of_a_nats_server_and_of_node_b_under_load(r3, tmp_path):
    servers, a, b = r3
    with Poster(a) as poster:
        poster.wait_acked(200)
        servers[2].kill9()  # one of three: the stream keeps its quorum
        poster.wait_acked(len(poster.acked) + 200)
        b.kill9()
        poster.wait_acked(len(poster.acked) + 200)
    acked = poster.acked
    b.start()
    b.wait_log("cluster: consuming", timeout=60)
    wait_exported(b, acked)
    wait_exported(a, acked)
    wait_caught_up(b)
    wait_caught_up(a)
    missing_b = acked - export_ids(b)
    missing_a = acked - export_ids(a)
    assert not missing_b, f"{len(missing_b)} acknowledged events not in B's store"
    assert not missing_a, f"{len(missing_a)} acknowledged events not in A's store"
    # ...and counted once in each node's metrics.
    assert snapshot_count(a) == snapshot_count(b) >= len(acked)


def test_nats_down_503_then_the_client_spools_and_delivers(tmp_path, procs):
    nats = NatsServer(tmp_path / "nats", "solo").start()
    procs.append(nats)
    a = node(tmp_path, "node-a", [nats], 1)
    procs.append(a)
    nats.kill9()
    a.wait_log("disconnected from NATS", timeout=20)
    status, body, r = a.post_json([service_event()])
    assert status == 503 and r.getheader("Retry-After"), (status, body)
    assert "NATS" in body["error"]
    _, connected = lag(a)
    assert not connected
    # Reads keep serving.
    assert snapshot_count(a) == 0
    env = dict(os.environ, KINERJA_URL=a.url, KINERJA_TOKEN=a.token,
               XDG_STATE_HOME=str(tmp_path / "xdg"), NO_COLOR="1")
    ts = now_ms()
    ids = [f"spooled-{i}" for i in range(3)]
    events = tmp_path / "events.ndjson"
    events.write_text("".join(json.dumps(service_event(eid=i, ts=ts)) + "\n" for i in ids))
    # One post of three events: the client tries a few times, then spools them all.
    p = subprocess.run([KINERJA, "post", "--json", "-f", str(events)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["spooled"] == 3, p.stdout
    nats.start()
    a.wait_log("connected to NATS", timeout=30, start=len(a.lines) - 1)
    deadline = time.monotonic() + 30
    while not lag(a)[1] and time.monotonic() < deadline:
        time.sleep(0.1)
    p = subprocess.run([KINERJA, "post", "--json", "--type", "service", "--unit", "kasemen",
                        "--employee", "198706152010011002", "--counter", "loket-1",
                        "--wait-ms", "1000", "--service-ms", "2000", "--id", "after",
                        "--ts", str(ts)], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["spool_accepted"] == 3 and res["accepted"] == 1, res
    wait_exported(a, ids + ["after"])
    assert set(ids + ["after"]) <= export_ids(a)
    assert wait_count(a, 4) == 4


def test_websocket_ingest_acks_after_jetstream(r3):
    servers, a, b = r3
    ws = ws_connect(a)
    events = [service_event() for _ in range(10)]
    ws_send(ws, {"op": "events", "seq": 1, "events": events})
    ws_send(ws, {"op": "events", "seq": 2, "events": events[:3]})
    acks = [ws_recv(ws), ws_recv(ws)]
    assert [x["seq"] for x in acks] == [1, 2], acks
    assert acks[0]["accepted"] == 10 and acks[0]["duplicates"] == 0, acks
    assert acks[1]["accepted"] == 0 and acks[1]["duplicates"] == 3, acks
    ws.close()
    assert wait_count(b, 10) == 10


def test_max_inflight_at_its_limit(tmp_path, procs):
    """max_inflight: 1 — posts wait their turn (parked, as on a full writer
    queue) and a batch bigger than the bound still goes when nothing else is
    out; every post is answered, every event counted once."""
    nats = NatsServer(tmp_path / "nats", "solo").start()
    procs.append(nats)
    home = tmp_path / "node-a"
    home.mkdir()
    a = Daemon(home, extra=f'cluster:\n  nats: ["{nats.url}"]\n  replicas: 1\n'
                           f'  node: node-a\n  max_inflight: 1\n')
    a.start()
    procs.append(a)
    a.wait_log("cluster: consuming", timeout=30)
    answers = []

    def poster(n):
        for _ in range(n):
            answers.append(a.post_json([service_event()]))

    threads = [threading.Thread(target=poster, args=(5,)) for _ in range(12)]
    for t in threads:
        t.start()
    big = a.post_json([service_event() for _ in range(50)])
    for t in threads:
        t.join()
    assert big[0] == 200 and big[1]["accepted"] == 50, big[:2]
    assert len(answers) == 60 and all(x[0] == 200 and x[1]["accepted"] == 1 for x in answers)
    assert wait_count(a, 110) == 110
    r, data = a.request("GET", "/metrics", token=ADMIN_SECRET)
    assert b"kinerja_cluster_publish_inflight 0\n" in data
    assert b'kinerja_cluster_published_total{result="accepted"} 110\n' in data


def test_clean_stop_under_load_answers_and_keeps_every_acked_event(tmp_path, procs):
    nats = NatsServer(tmp_path / "nats", "solo").start()
    procs.append(nats)
    a = node(tmp_path, "node-a", [nats], 1)
    procs.append(a)
    with Poster(a, batch=50) as poster:
        poster.wait_acked(500)
        assert a.stop() == 0, "\n".join(a.lines[-30:])  # publishes in flight: answered, exit 0
    a.start()
    a.wait_log("cluster: consuming", timeout=30)
    wait_exported(a, poster.acked)
    assert poster.acked <= export_ids(a)


# What SIGTERM may take with NATS gone: the stop waits 2 s for PubAcks and the
# consumer's request in flight, then closes the connection (cluster.c).
STOP_BOUND_S = 5


@pytest.mark.parametrize("how", ["kill9", "frozen"])
def test_sigterm_with_nats_gone_exits_0_within_the_bound(tmp_path, procs, how):
    """NATS killed (its socket closes) or frozen with SIGSTOP (a host that
    stopped answering: the socket stays open, nothing comes back) under load:
    SIGTERM still stops the node, exit 0, within STOP_BOUND_S."""
    nats = NatsServer(tmp_path / "nats", "solo").start()
    procs.append(nats)
    a = node(tmp_path, "node-a", [nats], 1)
    procs.append(a)
    try:
        with Poster(a, batch=50) as poster:
            poster.wait_acked(300)
            if how == "kill9":
                nats.kill9()
            else:
                nats.proc.send_signal(signal.SIGSTOP)
            t0 = time.monotonic()
            a.proc.send_signal(signal.SIGTERM)
            try:
                rc = a.proc.wait(STOP_BOUND_S)
            except subprocess.TimeoutExpired:
                rc = None
            took = time.monotonic() - t0
    finally:
        if nats.proc.poll() is None:
            nats.proc.send_signal(signal.SIGCONT)
    assert rc == 0, (rc, took, "\n".join(a.lines[-30:]))
    assert any("stopped" in l for l in a.lines[-10:]), "\n".join(a.lines[-30:])


def test_a_node_with_a_list_of_units_consumes_only_those(tmp_path, procs):
    """units: [perizinan, "kasemen.x"] — one durable consumer per unit,
    filtered on its subject: the server never delivers other units' events to
    node B (its consumers' delivered counts), and B stores only its units'."""
    nats = NatsServer(tmp_path / "nats", "solo").start()
    procs.append(nats)
    a = node(tmp_path, "node-a", [nats], 1)
    b = node(tmp_path, "node-b", [nats], 1, units='[perizinan, "kasemen.x"]')
    procs.extend([a, b])
    mine = [service_event(unit="perizinan") for _ in range(5)]
    others = [service_event() for _ in range(600)]  # more than one fetch of others
    status, body, _ = a.post_json(others + mine)
    assert status == 200 and body["accepted"] == 605, body
    wait_caught_up(a)
    want = {e["id"] for e in mine}
    wait_exported(b, want)
    wait_caught_up(b)
    assert export_ids(b) == want
    assert len(export_ids(a)) == 605
    consumers = nats.consumers()
    assert "node-b" not in consumers, sorted(consumers)
    mine_c = consumers["node-b_perizinan"]
    assert mine_c["config"]["filter_subject"] == "kinerja.ev.perizinan"
    assert mine_c["delivered"]["consumer_seq"] == 5, mine_c  # not one of the 600
    dotted = consumers["node-b_kasemen_2ex"]  # '.' encoded: names never collide
    assert dotted["config"]["filter_subject"] == "kinerja.ev.kasemen.x"
    assert dotted["delivered"]["consumer_seq"] == 0, dotted
    assert consumers["node-a"]["config"]["filter_subject"] == "kinerja.ev.>"
    assert consumers["node-a"]["delivered"]["consumer_seq"] == 605


def test_a_node_starts_while_nats_is_down(tmp_path, procs):
    nats = NatsServer(tmp_path / "nats", "solo")  # not started yet
    home = tmp_path / "node-a"
    home.mkdir()
    a = Daemon(home, extra=f'cluster:\n  nats: ["{nats.url}"]\n  replicas: 1\n  node: node-a\n')
    a.start()
    procs.append(a)
    a.wait_log("is not reachable yet: serving reads")
    assert lag(a) == (0, False)
    assert a.post_json([service_event()])[0] == 503
    assert snapshot_count(a) == 0  # reads serve
    nats.start()
    procs.append(nats)
    a.wait_log("cluster: consuming", timeout=30)
    status, body, _ = a.post_json([service_event()])
    assert status == 200 and body["accepted"] == 1, body
    assert wait_count(a, 1) == 1


def test_reload_keeps_the_running_cluster(tmp_path, procs):
    """SIGHUP with other cluster keys: logged by name as needing a restart;
    the node keeps publishing and consuming as node-a, over every unit."""
    nats = NatsServer(tmp_path / "nats", "solo").start()
    procs.append(nats)
    a = node(tmp_path, "node-a", [nats], 1)
    procs.append(a)
    with open(a.config_path) as f:
        text = f.read()
    with open(a.config_path, "w") as f:
        f.write(text.replace("node: node-a", "node: node-z")
                .replace('\n  units: "*"\n', "\n  units: [perizinan]\n"))
    a.proc.send_signal(signal.SIGHUP)
    line = a.wait_log("reload: cluster.node, cluster.units changed")
    assert "restart kinerjad to apply it; the running cluster keeps its settings" in line, line
    a.wait_log("configuration reloaded")
    status, body, _ = a.post_json([service_event()])  # kasemen: not in the new list
    assert status == 200 and body["accepted"] == 1, body
    assert wait_count(a, 1) == 1
    consumers = nats.consumers()
    assert set(consumers) == {"node-a"}, sorted(consumers)
    assert consumers["node-a"]["delivered"]["consumer_seq"] == 1


def test_rebuild_reads_the_local_raw_log_and_a_new_state_dir_the_stream(tmp_path, procs):
    """--rebuild in a cluster recomputes from the node's own raw log, with
    NATS down (it never connects); the node then resumes its consumer where
    it stopped. Rebuilding from the stream is a new state_dir: the node's
    consumer, which delivered events before, starts over and the node builds
    itself from the stream's first event."""
    nats = NatsServer(tmp_path / "nats", "solo").start()
    procs.append(nats)
    a = node(tmp_path, "node-a", [nats], 1)
    procs.append(a)
    first = [service_event() for _ in range(30)]
    assert a.post_json(first)[1]["accepted"] == 30
    assert wait_count(a, 30) == 30
    assert a.stop() == 0
    nats.kill9()
    p = subprocess.run([KINERJAD, "-c", a.config_path, "--rebuild"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "every aggregate recomputed from 30 stored events" in p.stderr, p.stderr
    assert "cluster:" not in p.stderr, p.stderr  # NATS is never asked
    nats.start()
    a.start()
    a.wait_log("cluster: consuming", timeout=30)
    assert snapshot_count(a) == 30  # the rebuilt aggregates
    second = [service_event() for _ in range(5)]
    assert a.post_json(second)[1]["accepted"] == 5
    assert wait_count(a, 35) == 35
    c = nats.consumers()["node-a"]
    assert c["delivered"]["consumer_seq"] == 35, c  # resumed, nothing delivered twice

    assert a.stop() == 0
    shutil.rmtree(a.state_dir)
    a.start()
    a.wait_log("starting it over from the stream's first event", timeout=30)
    a.wait_log("cluster: consuming", timeout=30)
    ids = {e["id"] for e in first + second}
    wait_exported(a, ids)
    assert export_ids(a) == ids
    assert wait_count(a, 35) == 35


def make_ca(d, name):
    """A throwaway CA (openssl CLI): its certificate's path and a signer of
    leaf certificates for loopback."""
    d.mkdir(parents=True, exist_ok=True)
    key, crt = d / f"{name}.key", d / f"{name}.crt"

    def openssl(*args):
        p = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "1", "-subj", f"/CN={name}", "-keyout", key, "-out", crt)

    def leaf(cn, ext):
        lkey, csr, lcrt, extf = (d / f"{cn}.key", d / f"{cn}.csr", d / f"{cn}.crt",
                                 d / f"{cn}.ext")
        extf.write_text(ext + "\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", f"/CN={cn}", "-keyout", lkey, "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", crt, "-CAkey", key, "-CAcreateserial",
                "-days", "1", "-extfile", extf, "-out", lcrt)
        return lcrt, lkey

    return crt, leaf


OPENSSL = shutil.which("openssl")


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_tls_to_nats_with_a_client_certificate(tmp_path, procs):
    """nats-server on loopback asks for TLS and a client certificate (verify:
    true), from a CA made here: a node with tls_ca, tls_cert and tls_key
    publishes and consumes over it; a node that trusts another CA is never
    connected (the server's certificate is checked), ingest answers 503."""
    ca, leaf = make_ca(tmp_path / "pki", "kj-test-ca")
    srv_crt, srv_key = leaf("nats", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                    "extendedKeyUsage=serverAuth")
    cli_crt, cli_key = leaf("node-a", "extendedKeyUsage=clientAuth")
    nats = NatsServer(tmp_path / "nats", "solo", tls={"cert_file": srv_crt,
                                                      "key_file": srv_key,
                                                      "ca_file": ca}).start()
    procs.append(nats)
    tls_keys = f"  tls_ca: {ca}\n  tls_cert: {cli_crt}\n  tls_key: {cli_key}\n"
    home = tmp_path / "node-a"
    home.mkdir()
    a = Daemon(home, extra=f'cluster:\n  nats: ["tls://127.0.0.1:{nats.port}"]\n  replicas: 1\n'
                           f'  node: node-a\n{tls_keys}')
    a.start()
    procs.append(a)
    a.wait_log("cluster: consuming", timeout=30)
    status, body, _ = a.post_json([service_event() for _ in range(3)])
    assert status == 200 and body["accepted"] == 3, body
    assert wait_count(a, 3) == 3
    assert nats.consumers()["node-a"]["delivered"]["consumer_seq"] == 3

    other_ca, other_leaf = make_ca(tmp_path / "pki-other", "other-ca")
    o_crt, o_key = other_leaf("node-b", "extendedKeyUsage=clientAuth")
    home = tmp_path / "node-b"
    home.mkdir()
    b = Daemon(home, extra=f'cluster:\n  nats: ["nats://127.0.0.1:{nats.port}"]\n  replicas: 1\n'
                           f'  node: node-b\n  tls_ca: {other_ca}\n  tls_cert: {o_crt}\n'
                           f'  tls_key: {o_key}\n')
    b.start()
    procs.append(b)
    b.wait_log("is not reachable yet: serving reads", timeout=30)
    assert lag(b) == (0, False)
    assert b.post_json([service_event()])[0] == 503
    assert "node-b" not in nats.consumers()
    # Refused in the handshake (the server logs it), not merely unreachable.
    deadline = time.monotonic() + 10
    while "TLS handshake error" not in open(nats.log).read() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = open(nats.log).read()
    assert "TLS required for client connections" in log and "TLS handshake error" in log, log


def test_without_cluster_nothing_changes(tmp_path):
    """No cluster key: /healthz is the single node's, no cluster metrics."""
    d = Daemon(tmp_path).start()
    try:
        assert d.healthz() == (200, "ok\n")
        r, data = d.request("GET", "/metrics", token=ADMIN_SECRET)
        assert b"kinerja_cluster" not in data
    finally:
        d.stop()
