"""Durability: every acknowledged event survives kill -9 and a restart.

A separate poster process posts batches in a loop and appends the ids of each
batch to a file only after the daemon acknowledged it. The test kills the
daemon at a random moment, restarts it, and re-posts every acknowledged event:
all must come back as duplicates."""
import json
import os
import random
import subprocess
import sys
import time

import msgpack

from conftest import ADMIN_SECRET, Daemon, metric, service_event

POSTER = r"""
import http.client, json, sys, time, os
port, token, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
n = 0
with open(out, "a") as f:
    while True:
        ts = int(time.time() * 1000)
        evs = [{"id": f"crash-{os.getpid()}-{n}-{i}", "type": "service", "ts": ts,
                "unit": "kasemen", "employee": "198706152010011002", "counter": "loket-1",
                "wait_ms": 1000, "service_ms": 2000} for i in range(20)]
        n += 1
        try:
            c.request("POST", "/api/v1/events", json.dumps(evs),
                      {"Content-Type": "application/json", "Authorization": "Bearer " + token})
            r = c.getresponse()
            body = r.read()
        except Exception:
            sys.exit(0)           # the daemon died: stop posting
        if r.status == 200 and json.loads(body)["accepted"] == len(evs):
            f.write(json.dumps(evs) + "\n")
            f.flush()
            print("acked", flush=True)   # tells the test, which reads our stdout
"""


def test_acknowledged_events_survive_kill9(tmp_path):
    rnd = random.Random(int(os.environ.get("KJ_SEED", time.time_ns())))
    d = Daemon(tmp_path).start()
    poster = None
    try:
        acked_file = tmp_path / "acked.ndjson"
        total_acked = 0
        for round_ in range(3):
            poster = subprocess.Popen([sys.executable, "-c", POSTER, str(d.port), d.token,
                                       str(acked_file)], stdout=subprocess.PIPE, text=True)
            # Kill at a random moment: after a random number of acknowledged batches,
            # read from the poster's stdout as they happen.
            for _ in range(rnd.randint(3, 40)):
                assert poster.stdout.readline() == "acked\n", "poster stopped early"
            d.kill9()
            assert poster.wait(30) == 0
            d.start()
            batches = [json.loads(l) for l in acked_file.read_text().splitlines()]
            events = [e for b in batches for e in b]
            total_acked = len(events)
            # re-post in chunks: all duplicates
            for i in range(0, len(events), 5000):
                chunk = events[i:i + 5000]
                status, body, _ = d.post_msgpack(chunk)
                assert status == 200
                assert body["duplicates"] == len(chunk), body
                assert body["accepted"] == 0
        assert total_acked > 0
        assert d.stop() == 0
    finally:
        if poster is not None and poster.poll() is None:
            poster.kill()
            poster.wait()
        d.kill9()  # when an assertion failed on the way: none left behind


def test_ids_in_the_journal_and_merged_survive_kill9(tmp_path):
    """id_merge_events at its floor (256): small posts journal their ids; once
    256 or more are committed, the next 8 commits put a sorted share each into
    the index, and the 8 after those delete their journal records, a share
    each, as the memory lets them go.
    After kill -9, both the merged ids and those still in the journal are
    found: every event comes back as a duplicate, in small posts (the
    journal's way) and in one big post (a big group's ids go to the index
    directly)."""
    d = Daemon(tmp_path, extra="id_merge_events: 256").start()
    try:
        events = [service_event(eid=f"journal-{i}") for i in range(600)]
        conn = d.conn()
        counts = []
        for i in range(0, len(events), 10):
            status, body, _ = d.post_msgpack(events[i:i + 10], conn=conn)
            assert (status, body["accepted"]) == (200, 10), body
            counts.append(metric(d, "kinerja_id_journal_ids"))
        # 260 committed at the 26th post: posts 27-34 put them into the index, 33
        # a step, and posts 35-42 delete their records (29 the last), 10 new a post
        into = [260 + 10 * k for k in range(1, 9)]
        out = [340 + 10 * k - 33 * k for k in range(1, 8)] + [160]
        first = [10 * k for k in range(1, 27)] + into + out
        second = [160 + 10 * k for k in range(1, 11)] + into  # posts 53-60: the next 260
        assert counts == first + second
        # journal-0..519 in the index: three runs, of 1, 2 and 3 digits
        assert metric(d, "kinerja_id_runs") == 3
        d.kill9()
        d.start()
        assert metric(d, "kinerja_id_journal_ids") == 340  # loaded back: a merge begins again
        # the id filter from the index and the journal: journal-0..9 one by one,
        # the runs 10..99 and 100..519 by their families, the journal's 340
        assert metric(d, "kinerja_id_filter_ids") == 10 + 1 + 1 + 340
        conn = d.conn()
        for i in range(0, len(events), 10):
            status, body, _ = d.post_msgpack(events[i:i + 10], conn=conn)
            assert (status, body["duplicates"]) == (200, 10), body
        assert metric(d, "kinerja_id_journal_ids") == 0  # 16 posts: 8 steps in, 8 out
        status, body, _ = d.post_msgpack(events + [service_event(eid="journal-new")])
        assert (status, body["accepted"], body["duplicates"]) == (200, 1, 600), body
        assert metric(d, "kinerja_id_journal_ids") == 0
        assert metric(d, "kinerja_id_runs") == 4  # and journal-new, without digits
        # the big post's four families (digits 1, 2, 3, none), not its 601 ids
        assert metric(d, "kinerja_id_filter_ids") == 352 + 4
        assert d.stop() == 0
    finally:
        d.kill9()  # when an assertion failed on the way: none left behind


def test_buckets_in_the_journal_and_merged_survive_kill9(tmp_path):
    """agg_merge_bytes at its floor (64 KiB): each small post appends the
    buckets it changed to the bucket journal, and the commit that brings it to
    64 KiB writes them into the bucket table. Killed with both holding the
    day's buckets, the daemon loads back the figures it had acknowledged."""
    d = Daemon(tmp_path, extra="agg_merge_bytes: 64KiB").start()
    try:
        conn = d.conn()
        sizes, after_merge = [0], 0
        while after_merge < 5:
            i = len(sizes)
            assert i < 2000, "no merge"
            ev = service_event(eid=f"agg-{i}", wait_ms=60000 + 1000 * i, service_ms=1000 * (i % 50))
            status, body, _ = d.post_msgpack([ev], conn=conn)
            assert (status, body["accepted"]) == (200, 1), body
            sizes.append(metric(d, "kinerja_agg_journal_bytes"))
            if after_merge or sizes[-1] < sizes[-2]:
                after_merge += 1
        assert 0 < max(sizes) < 64 * 1024 and sizes[-1] > 0, sizes
        r, data = d.request("GET", "/api/v1/snapshot?unit=kasemen", token=ADMIN_SECRET)
        before = json.loads(data)["unit_metrics"]["today"]
        assert before["services"]["count"] == len(sizes) - 1, before
        d.kill9()
        d.start()
        assert metric(d, "kinerja_agg_journal_bytes") == sizes[-1]   # loaded back
        r, data = d.request("GET", "/api/v1/snapshot?unit=kasemen", token=ADMIN_SECRET)
        assert r.status == 200
        assert json.loads(data)["unit_metrics"]["today"] == before
        assert d.stop() == 0
    finally:
        d.kill9()  # when an assertion failed on the way: none left behind
