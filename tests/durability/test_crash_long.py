"""make check-long (not in CI): KJ_CRASH_ROUNDS (100) rounds of kill -9 under
mixed load — two HTTP posters and a WebSocket poster (ids recorded once
acknowledged) and a `kinerja post` loop whose events are delivered or spooled
(exit 0) and delivered from the spool after each restart. At the end every
acknowledged event must be in the store. Prints the counts."""
import json
import os
import random
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "integration"), HERE]
from conftest import KINERJA, Daemon, now_ms  # noqa: E402
from load import Load  # noqa: E402

ROUNDS = int(os.environ.get("KJ_CRASH_ROUNDS", "0"))


class SpoolPoster:
    """`kinerja post` in a loop, through the daemon's deaths: each run that
    exits 0 has delivered or spooled its events (the spool is fsync'd)."""

    def __init__(self, d, tmp):
        self.env = dict(os.environ, KINERJA_URL=d.url, KINERJA_TOKEN=d.token,
                        XDG_STATE_HOME=str(tmp / "xdg"), NO_COLOR="1")
        self.file = tmp / "spool-batch.json"
        self.acked, self.spooled, self.stop = [], 0, threading.Event()
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def post(self, evs):
        self.file.write_text(json.dumps(evs))
        return subprocess.run([KINERJA, "post", "--json", "-f", str(self.file)], env=self.env,
                              capture_output=True, text=True, timeout=120)

    def run(self):
        for n in range(10**9):
            if self.stop.is_set():
                return
            evs = [{"id": f"sp-{n}-{i}", "type": "service", "ts": now_ms(), "unit": "kasemen",
                    "employee": "198706152010011002", "counter": "loket-1", "wait_ms": 1000,
                    "service_ms": 2000} for i in range(10)]
            p = self.post(evs)
            if p.returncode == 0:
                res = json.loads(p.stdout)
                with self.changed:
                    self.spooled += res["spooled"]
                    self.acked += [e["id"] for e in evs]
                    self.changed.notify_all()
            else:
                time.sleep(0.05)  # refused while starting: try the next batch

    def wait_spooled(self, timeout=30):
        """Until a post spooled its events (the daemon is down)."""
        with self.changed:
            before = self.spooled
            assert self.changed.wait_for(lambda: self.spooled > before, timeout), \
                "kinerja post did not spool while the daemon was down"

    def flush(self):
        """One more post, which delivers the spool first; the spool must end empty."""
        p = self.post([])
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)


@pytest.mark.skipif(ROUNDS <= 0, reason="make check-long sets KJ_CRASH_ROUNDS")
def test_kill9_rounds_under_mixed_load(tmp_path):
    rnd = random.Random(int(os.environ.get("KJ_SEED", time.time_ns())))
    d = Daemon(tmp_path).start()
    spool = SpoolPoster(d, tmp_path)
    spool.thread.start()
    acked = set()
    for r in range(ROUNDS):
        acked |= Load(d, f"r{r}").run_until_killed(rnd.randint(30, 600))
        spool.wait_spooled()  # kinerja post spools while the daemon is down
        d.start()
    spool.stop.set()
    spool.thread.join(180)
    res = spool.flush()
    acked |= set(spool.acked)
    p = subprocess.run([KINERJA, "export", "--state-dir", d.state_dir, "--format", "ndjson",
                        "--from", "0"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    stored = {json.loads(line)["id"] for line in p.stdout.splitlines()}
    assert d.stop() == 0
    missing = acked - stored
    print(f"\ncheck-long: {ROUNDS} rounds of kill -9, {len(acked)} events acknowledged "
          f"({len(spool.acked)} through kinerja post, {spool.spooled} of them spooled while the "
          f"daemon was down), {len(missing)} missing; last flush: {res}")
    assert not missing, sorted(missing)[:10]
