"""A power loss, simulated: what the daemon did not sync is gone.

kinerjad runs with build/durability/kjpower.so preloaded (tests/durability/
kjpower.c), which keeps a copy of the state directory that receives only the
writes the daemon made durable (applied at fdatasync/fsync, or at once for
O_DSYNC). Under HTTP and WebSocket load the daemon is killed with SIGKILL; the
copy is then what a machine that lost power would have on disk. A daemon
started on it must open the store, and hold every acknowledged event.

(A block device that drops unsynced writes — dm-flakey on a loop device —
would test the same below the file system; this sandbox has no device-mapper,
see the README.)

With `sync: periodic` (acks before the sync, by design) the same run loses
acknowledged events: the simulation can see a loss."""
import json
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "integration"), HERE]
from conftest import BUILD, KINERJA, Daemon  # noqa: E402
from load import Load  # noqa: E402

SHIM = os.path.join(BUILD, "durability", "kjpower.so")


def start_with_shim(d, copy):
    saved = dict(os.environ)
    os.environ.update(LD_PRELOAD=SHIM, KJ_POWER_DIR=d.state_dir, KJ_POWER_COPY=str(copy))
    try:
        d.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def stored_ids(d):
    p = subprocess.run([KINERJA, "export", "--state-dir", d.state_dir, "--format", "ndjson",
                        "--from", "0"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return {json.loads(line)["id"] for line in p.stdout.splitlines()}


def power_cut(tmp_path, extra="", target=None, batch=10):
    """Run the load, cut the power, start on what survived; returns
    (acknowledged ids, ids in the surviving store, ids in the killed store)."""
    assert os.path.exists(SHIM), "build it: make build/durability/kjpower.so"
    rnd = random.Random(int(os.environ.get("KJ_SEED", time.time_ns())))
    d = Daemon(tmp_path, extra=extra)
    copy = tmp_path / "durable"
    copy.mkdir()
    start_with_shim(d, copy)
    acked = Load(d, "pl", batch).run_until_killed(target or rnd.randint(20, 300) * batch)
    killed = d.state_dir + ".killed"
    os.rename(d.state_dir, killed)
    shutil.copytree(copy, d.state_dir)
    d.start()  # the store opens on what survived
    try:
        survived = stored_ids(d)
    finally:
        assert d.stop() == 0
    os.rename(d.state_dir, d.state_dir + ".survived")
    os.rename(killed, d.state_dir)
    return acked, survived, stored_ids(d)


def test_acknowledged_events_survive_power_loss(tmp_path):
    acked, survived, _ = power_cut(tmp_path)
    missing = acked - survived
    print(f"power loss: {len(acked)} acknowledged, {len(missing)} missing")
    assert not missing, sorted(missing)[:10]


def test_big_batches_survive_power_loss(tmp_path):
    """Batches of 300 counted ids: their groups put the ids into the store at
    once and write the raw log in key order at the commit."""
    acked, survived, _ = power_cut(tmp_path, batch=300)
    missing = acked - survived
    print(f"power loss, batches of 300: {len(acked)} acknowledged, {len(missing)} missing")
    assert not missing, sorted(missing)[:10]


def test_simulation_sees_unsynced_acks_lost(tmp_path):
    acked, survived, in_killed = power_cut(tmp_path, extra="sync: periodic\n", target=500)
    print(f"power loss, sync: periodic: {len(acked)} acknowledged, "
          f"{len(acked - survived)} missing")
    assert acked <= in_killed  # kill -9 alone loses nothing: the page cache has it
    assert acked - survived, "sync: periodic lost nothing: the shim does not drop unsynced writes"
