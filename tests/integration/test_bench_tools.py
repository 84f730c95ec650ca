"""The load generators of `make bench` against a real daemon: every request
they count as acknowledged is in the store, so their figures count real
events. (They print figures; what is asserted here is their honesty.)"""
import os
import re
import subprocess

from conftest import BUILD, INGEST_SECRET, Daemon, metric

OPENLOOP = os.path.join(BUILD, "bench", "bench_openloop")


def test_openloop_counts_only_stored_events(tmp_path):
    d = Daemon(tmp_path, units="").start()
    try:
        for fmt in ("msgpack", "json"):
            before = metric(d, "kinerja_stored_events")
            out = subprocess.run([OPENLOOP, "kinerjad", str(d.port), INGEST_SECRET, "50", "4",
                                  "5000", "1", str(d.proc.pid)],
                                 env={**os.environ, "KJ_BENCH_FORMAT": fmt},
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            m = re.search(r"\((\d+) of (\d+) requests started, \d+ late, (\d+) not ok\)",
                          out.stdout)
            assert m, out.stdout
            requests, due, not_ok = int(m.group(1)), int(m.group(2)), int(m.group(3))
            assert not_ok == 0 and requests == due == 100, out.stdout  # 5,000 events/s, 1 s
            assert metric(d, "kinerja_stored_events") - before == requests * 50
            assert re.search(r"p99 [0-9.]+ .* server [0-9.]+ us CPU per event", out.stdout)
    finally:
        assert d.stop() == 0
    assert not any("AddressSanitizer" in l or "runtime error" in l for l in d.lines)


def test_openloop_reports_a_server_that_is_gone(tmp_path):
    d = Daemon(tmp_path, units="").start()
    port = d.port
    assert d.stop() == 0
    out = subprocess.run([OPENLOOP, "kinerjad", str(port), INGEST_SECRET, "10", "1", "100", "1"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "connect" in out.stderr
