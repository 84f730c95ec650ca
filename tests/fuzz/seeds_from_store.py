"""Seeds for fuzz_agg and fuzz_checkpoint, taken from a store written by the
real daemon: it is started on a temp dir, given a day of mixed events (the
integration tests' generator), stopped cleanly (so that a checkpoint is
written), and its agg table (with the bucket journal over it) and alerts
table are dumped with mdb_dump.

    KJ_BUILD=build python3 tests/fuzz/seeds_from_store.py

writes tests/fuzz/corpus/agg/* (bucket values) and
tests/fuzz/corpus/checkpoint/* (records of fuzz_checkpoint's input format)."""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import expected as X  # noqa: E402
from conftest import Daemon, now_ms  # noqa: E402


def dump(state_dir, table):
    out = subprocess.run(["mdb_dump", "-s", table, state_dir], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    body = out[out.index("HEADER=END") + 1:-1]
    return [(bytes.fromhex(body[i].strip()), bytes.fromhex(body[i + 1].strip()))
            for i in range(0, len(body), 2)]


def with_journal(agg, journal):
    """agg as readers see it: the bucket journal's records (agg_recent, oldest
    first; entries [u16 key length][u32 value length][key][value], little
    endian) over the table, each key's newest value winning."""
    merged = dict(agg)
    for _, rec in journal:
        pos = 0
        while pos < len(rec):
            klen, vlen = struct.unpack_from("<HI", rec, pos)
            key = rec[pos + 6:pos + 6 + klen]
            merged[key] = rec[pos + 6 + klen:pos + 6 + klen + vlen]
            pos += 6 + klen + vlen
    return sorted(merged.items())


def record(kind, key, val):
    return struct.pack(">BBH", kind, len(key), len(val)) + key + val


def main():
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(tmp).start()
        evs = X.generate(7, now_ms() - 3 * 3600_000, n_kasemen=300, n_perizinan=60)
        for i in range(0, len(evs), 500):
            d.post_json(evs[i:i + 500])
        assert d.stop() == 0
        agg = with_journal(dump(d.state_dir, "agg"), dump(d.state_dir, "agg_recent"))
        alerts = dump(d.state_dir, "alerts")
    out_agg = os.path.join(HERE, "corpus", "agg")
    out_ck = os.path.join(HERE, "corpus", "checkpoint")
    os.makedirs(out_agg, exist_ok=True)
    os.makedirs(out_ck, exist_ok=True)
    buckets = [(k, v) for k, v in agg if k[:1] == b"B"]
    for i, (_, v) in enumerate(sorted(buckets, key=lambda kv: -len(kv[1]))[:12]):
        open(os.path.join(out_agg, f"bucket-{i}"), "wb").write(v)
    # the whole small store in one input, and each kind of key alone
    small = [kv for kv in agg if len(kv[0]) < 256 and len(kv[1]) < 65536]
    by_kind = {}
    for k, v in small:
        by_kind.setdefault(k[:1], []).append((k, v))
    for kind, kvs in by_kind.items():
        data = b"".join(record(0, k, v) for k, v in kvs[:40])
        open(os.path.join(out_ck, f"kind-{kind.hex()}"), "wb").write(data)
    data = b"".join(record(0, k, v) for k, v in small[:60])
    data += b"".join(record(1, b"", v) for _, v in alerts[:4] if len(v) < 65536)
    open(os.path.join(out_ck, "store"), "wb").write(data)
    print(f"{len(buckets)} buckets, {len(agg)} agg keys, {len(alerts)} alerts")


if __name__ == "__main__":
    main()
