"""An event is acknowledged only after its transaction is on stable storage.

kinerjad runs with build/durability/kjsync.so preloaded (tests/durability/
kjsync.c): every sync (fdatasync/fsync/msync, and LMDB's O_DSYNC write of its
meta page) is delayed, and the order of syncs, socket reads and acks (HTTP
answers to POST /api/v1/events, WebSocket ack frames) is logged. For every ack,
a data sync and a meta-page write must both have begun after the last read of
its request and returned before the ack was sent.

The same check on a daemon with `sync: periodic` (acks before any sync, by
design) must find violations: the checker can see an early ack."""
import os
import sys
import threading

import msgpack
import pytest
import websocket

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from conftest import BUILD, Daemon, metric, service_event  # noqa: E402

SHIM = os.path.join(BUILD, "durability", "kjsync.so")


def start_preloaded(d, log, delay_us=20000):
    """Start d with the interposer; the environment is the child's only."""
    saved = dict(os.environ)
    os.environ.update(LD_PRELOAD=SHIM, KJ_SYNC_LOG=str(log), KJ_SYNC_DELAY_US=str(delay_us))
    try:
        d.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def http_client(d, n, results):
    c = d.conn()
    for i in range(n):
        status, body, _ = d.post_json([service_event() for _ in range(5)], conn=c)
        results.append(status == 200 and body["accepted"] == 5)


def ws_client(d, n, results):
    ws = websocket.create_connection(f"ws://127.0.0.1:{d.port}/",
                                     subprotocols=["kinerja-ingest.v1"],
                                     header=[f"Authorization: Bearer {d.token}"], timeout=30)
    for seq in range(1, n + 1):  # one frame at a time: its ack follows its read
        ws.send_binary(msgpack.packb({"op": "events", "seq": seq,
                                      "events": [service_event() for _ in range(5)]}))
        ack = msgpack.unpackb(ws.recv())
        results.append(ack["op"] == "ack" and ack["accepted"] == 5)
    ws.close()


def load(d, rounds=15):
    results = []
    threads = [threading.Thread(target=http_client, args=(d, rounds, results)),
               threading.Thread(target=http_client, args=(d, rounds, results)),
               threading.Thread(target=ws_client, args=(d, rounds, results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 3 * rounds and all(results), results


def violations(log):
    """The acks of the log without a data sync and a meta write between the
    read of their request and their send; also the number of acks."""
    syncs, open_syncs, acks = [], {}, []
    for line in open(log):
        seq, kind, fd, arg = line.split()
        seq, fd, arg = int(seq), int(fd), int(arg)
        if kind == "B":
            open_syncs[(fd, arg)] = seq
        elif kind == "E":
            syncs.append((open_syncs.pop((fd, arg)), seq, chr(arg)))
        elif kind == "A":
            acks.append((seq, fd, arg))
    bad = []
    for seq, fd, read in acks:
        done = {k for b, e, k in syncs if read < b and e < seq}
        if not ({"d", "w"} <= done or "m" in done):
            bad.append((seq, fd, read, sorted(done)))
    return bad, len(acks)


@pytest.fixture
def log(tmp_path):
    return tmp_path / "sync.log"


def test_every_ack_follows_its_sync(tmp_path, log):
    assert os.path.exists(SHIM), "build it: make build/durability/kjsync.so"
    d = Daemon(tmp_path)
    start_preloaded(d, log)
    try:
        load(d)
    finally:
        assert d.stop() == 0
    bad, n = violations(log)
    assert n >= 45, f"only {n} acks seen: the interposer missed sends"
    assert not bad, f"{len(bad)} of {n} acks before their sync: {bad[:5]}"


def test_checker_sees_acks_without_sync(tmp_path, log):
    d = Daemon(tmp_path, extra="sync: periodic\n")
    start_preloaded(d, log)
    try:
        load(d, rounds=5)
    finally:
        assert d.stop() == 0
    bad, n = violations(log)
    assert n >= 15 and len(bad) >= n // 2, (n, bad[:5])


def single_poster(d, n, results):
    c = d.conn()
    for _ in range(n):
        status, body, _ = d.post_json(service_event(), conn=c)
        results.append(status == 200 and body["accepted"] == 1)


def test_concurrent_single_events_share_a_commit(tmp_path, log):
    """Group commit: clients that each post one event and wait for its answer
    share commits (issue 12). With every sync held 20 ms, the others' posts
    queue behind each commit, so a commit holds several events and a data
    sync serves several acks; a writer that committed them one by one (or a
    commit delay that split them) would make a commit and a sync per event."""
    clients, each = 16, 10
    d = Daemon(tmp_path)
    start_preloaded(d, log)
    try:
        results = []
        threads = [threading.Thread(target=single_poster, args=(d, each, results))
                   for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(results) == clients * each and all(results)
        commits = metric(d, "kinerja_commit_seconds_count")
    finally:
        assert d.stop() == 0
    ends = [line.split() for line in open(log) if line.split()[1] == "E"]
    data_syncs = sum(1 for _, _, _, kind in ends if chr(int(kind)) == "d")
    events = clients * each
    assert commits <= events / 4, f"{events} single events took {commits:.0f} commits"
    assert data_syncs <= events / 4, f"{events} single events took {data_syncs} data syncs"
