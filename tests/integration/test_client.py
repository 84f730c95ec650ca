"""The kinerja command and libkinerja against a real kinerjad: posting from flags
and files (WebSocket and HTTP), rejected events, the spool (daemon down, back,
delivered first, once, in order), a client killed in the middle of a spool
flush, and every subcommand end to end."""
import json
import os
import signal
import subprocess
import time

import msgpack
import pytest

import conftest
from conftest import KINERJA, VIEWER_SECRET, now_ms, service_event  # noqa: E402

EMPLOYEE = "198706152010011002"


def env_for(daemon, tmp_path, token=None):
    env = dict(os.environ)
    env.update(KINERJA_URL=daemon.url, KINERJA_TOKEN=token or daemon.token,
               XDG_STATE_HOME=str(tmp_path / "xdg"), NO_COLOR="1")
    return env


def kinerja(env, *args, timeout=120, check=None):
    p = subprocess.run([KINERJA, *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    if check is not None:
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
    return p


def post_json(env, *args, check=0):
    p = kinerja(env, "post", "--json", *args, check=check)
    return json.loads(p.stdout), p


def service_flags(eid=None, ts=None, **kw):
    flags = ["--type", "service", "--unit", "kasemen", "--employee", EMPLOYEE,
             "--counter", "loket-1", "--wait-ms", "120000", "--service-ms", "5m"]
    if eid:
        flags += ["--id", eid]
    if ts:
        flags += ["--ts", str(ts)]
    for k, v in kw.items():
        flags += ["--" + k.replace("_", "-"), str(v)]
    return flags


def spool_dir(tmp_path):
    return tmp_path / "xdg" / "kinerja" / "spool"


def spool_files(tmp_path):
    d = spool_dir(tmp_path)
    return sorted(f for f in os.listdir(d) if f.endswith(".kjs")) if d.exists() else []


def export_ids(env, daemon, *args):
    p = kinerja(env, "export", "--state-dir", daemon.state_dir, "--format", "ndjson", *args,
                check=0)
    return [json.loads(line)["id"] for line in p.stdout.splitlines()]


# --- post ---------------------------------------------------------------------------


def test_post_flags_over_ws_and_http(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    res, _ = post_json(env, *service_flags("flag-1"))
    assert res["accepted"] == 1 and res["duplicates"] == 0
    res, _ = post_json(env, "--http", *service_flags("flag-1"))
    assert res["accepted"] == 0 and res["duplicates"] == 1
    # the default id is fresh every time; the default ts is now
    for _ in range(2):
        res, _ = post_json(env, "--type", "rating", "--unit", "kasemen", "--score", "4",
                           "--elements", "4,4,3,4,4,4,3,4,4")
        assert res["accepted"] == 1
    p = kinerja(env, "post", *service_flags("flag-2"), check=0)
    assert "1 accepted" in p.stdout
    ev = [json.loads(l) for l in kinerja(env, "export", "--state-dir", daemon.state_dir,
                                         "--format", "ndjson", check=0).stdout.splitlines()]
    flag2 = next(e for e in ev if e["id"] == "flag-2")
    assert abs(flag2["ts"] - now_ms()) < 60000 and flag2["service_ms"] == 300000


def test_post_bad_flags_are_usage_errors(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    p = kinerja(env, "post", "--type", "service", "--unit", "kasemen", check=64)
    assert "employee" in p.stderr or "counter" in p.stderr or "wait_ms" in p.stderr
    p = kinerja(env, "post", *service_flags(wait_ms="soon"), check=64)
    assert "wait_ms" in p.stderr
    kinerja(env, "post", "--bogus", check=64)
    kinerja(env, "post", check=64)


def test_rejected_events_exit_2(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    good = [service_event() for _ in range(3)]
    bad_local = dict(service_event(), wiat_ms=5)           # a typo: refused by the client
    bad_daemon = dict(service_event(), ts=now_ms() + 3600_000)  # too far ahead: the daemon's call
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in good[:2] + [bad_local, bad_daemon] + good[2:]))
    res, p = post_json(env, "-f", str(path), check=2)
    assert res["accepted"] == 3 and res["rejected"] == 2
    by_index = {r["index"]: r for r in res["rejects"]}
    assert by_index[2]["id"] == bad_local["id"] and "wiat_ms" in by_index[2]["error"]
    assert by_index[3]["id"] == bad_daemon["id"] and "ts" in by_index[3]["error"]
    p = kinerja(env, "post", "-f", str(path), check=2)
    assert f"rejected 2 {bad_local['id']}: wiat_ms" in p.stderr


@pytest.mark.parametrize("transport", ["ws", "http"])
def test_post_file_every_format(daemon, tmp_path, transport):
    env = env_for(daemon, tmp_path)
    extra = ["--http"] if transport == "http" else []
    evs = [service_event() for _ in range(25_000)]  # several frames of 10,000 at most
    files = {"ndjson": "\n".join(json.dumps(e) for e in evs) + "\n",
             "json": json.dumps(evs, indent=1)}
    (tmp_path / "e.ndjson").write_text(files["ndjson"])
    (tmp_path / "e.json").write_text(files["json"])
    (tmp_path / "e.mp").write_bytes(msgpack.packb(evs))
    res, _ = post_json(env, *extra, "-f", str(tmp_path / "e.ndjson"))
    assert (res["submitted"], res["accepted"], res["duplicates"]) == (25_000, 25_000, 0)
    for name in ("e.json", "e.mp"):
        res, _ = post_json(env, *extra, "-f", str(tmp_path / name))
        assert (res["accepted"], res["duplicates"]) == (0, 25_000)
    # standard input, and a body bigger than 1 MiB in one msgpack array
    p = subprocess.run([KINERJA, "post", "--json", *extra, "-f", "-"], env=env, timeout=120,
                       input=msgpack.packb(evs[:12_000]), capture_output=True)
    assert p.returncode == 0 and json.loads(p.stdout)["duplicates"] == 12_000


def test_unknown_token_fails(daemon, tmp_path):
    env = env_for(daemon, tmp_path, token="not-a-token")
    for extra in ([], ["--http"]):
        p = kinerja(env, "post", *extra, *service_flags(), check=1)
        assert "401" in p.stderr
    assert spool_files(tmp_path) == []  # refused is not unreachable: nothing spooled


# --- the spool ------------------------------------------------------------------------


def test_spool_while_down_then_delivered_first_once_in_order(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    ts = now_ms()  # one ts for all: the raw log then orders them by arrival
    daemon.stop()
    for i in range(3):
        res, p = post_json(env, *service_flags(f"sp-{i}", ts))
        assert res["spooled"] == 1 and res["accepted"] == 0
        assert "spool" in p.stderr and "warning" in p.stderr
    p = kinerja(env, "post", "--no-spool", *service_flags("sp-x", ts), check=1)
    assert f"127.0.0.1:{daemon.port}" in p.stderr
    assert len(spool_files(tmp_path)) >= 1
    daemon.start()
    res, _ = post_json(env, *service_flags("sp-3", ts))
    assert res["spool_accepted"] == 3 and res["spool_duplicates"] == 0
    assert res["accepted"] == 1 and res["spooled"] == 0
    assert spool_files(tmp_path) == []
    res, _ = post_json(env, *service_flags("sp-4", ts))
    assert res["spool_accepted"] == 0 and res["accepted"] == 1  # delivered once only
    ids = [i for i in export_ids(env, daemon, "--unit", "kasemen") if i.startswith("sp-")]
    assert ids == ["sp-0", "sp-1", "sp-2", "sp-3", "sp-4"]


def test_client_killed_during_spool_flush_loses_nothing(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    n = 300_000
    evs = [service_event(eid=f"big-{i}") for i in range(n)]
    (tmp_path / "big.mp").write_bytes(msgpack.packb(evs))
    daemon.stop()
    res, _ = post_json(env, "-f", str(tmp_path / "big.mp"), "--quiet")
    assert res["spooled"] == n
    before = len(spool_files(tmp_path))
    assert before > 10
    daemon.start()
    proc = subprocess.Popen([KINERJA, "post", "--json", *service_flags("after-kill")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(spool_files(tmp_path)) == before and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # some files delivered, others on the way
    proc.wait(10)
    left = len(spool_files(tmp_path))
    assert 0 < left < before, "the flush ended before the kill; make the spool bigger"
    res, _ = post_json(env, *service_flags("after-kill-2"))
    assert res["spool_accepted"] + res["spool_duplicates"] <= n
    assert res["spool_rejected"] == 0 and spool_files(tmp_path) == []
    # every event is in the store exactly once: all duplicates, none new
    res, _ = post_json(env, "-f", str(tmp_path / "big.mp"), "--quiet")
    assert (res["accepted"], res["duplicates"]) == (0, n)
    ids = export_ids(env, daemon, "--unit", "kasemen")
    assert len([i for i in ids if i.startswith("big-")]) == n == len(set(ids) & {e["id"] for e in evs})


def wait_accepted(daemon, at_least, timeout=60):
    """Until the daemon's /metrics counts at_least accepted events (or, on a
    daemon without /metrics, a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, body = daemon.request("GET", "/metrics", token=conftest.ADMIN_SECRET)
        if r.status != 200:
            time.sleep(1)
            return
        accepted = sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
                       if line.startswith("kinerja_events_total") and 'result="accepted"' in line)
        if accepted >= at_least:
            return
        time.sleep(0.02)


def test_daemon_killed_mid_post_loses_nothing(daemon, tmp_path):
    """kill -9 of the daemon in the middle of a big post: the client reconnects
    with back-off, resends what was not acknowledged (at least once) and ends
    with every event answered or spooled; nothing is lost, nothing doubled."""
    env = env_for(daemon, tmp_path)
    n = 300_000
    evs = [service_event(eid=f"mid-{i}") for i in range(n)]
    (tmp_path / "mid.mp").write_bytes(msgpack.packb(evs))
    proc = subprocess.Popen([KINERJA, "post", "--json", "-v", "-f", str(tmp_path / "mid.mp")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_accepted(daemon, 20_000)  # committing has begun
    daemon.kill9()
    daemon.start()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    res = json.loads(out)
    assert res["accepted"] + res["duplicates"] + res["spooled"] == n, res
    assert "retrying" in err  # the attempts are shown with -v
    res, _ = post_json(env, "-f", str(tmp_path / "mid.mp"), "--quiet")
    assert (res["accepted"], res["duplicates"]) == (0, n)
    assert spool_files(tmp_path) == []


def test_spool_full_is_a_clear_error(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    evs = [service_event() for _ in range(20_000)]
    (tmp_path / "e.ndjson").write_text("\n".join(json.dumps(e) for e in evs))
    daemon.stop()
    p = kinerja(env, "post", "--spool-max", "1M", "-f", str(tmp_path / "e.ndjson"), check=1)
    assert "is full" in p.stderr
    kinerja(env, "post", "--spool-max", "lots", *service_flags(), check=64)
    daemon.start()


def test_corrupt_spool_file_is_skipped_with_a_warning(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    daemon.stop()
    post_json(env, *service_flags("c-0"))
    good = spool_files(tmp_path)[-1]
    data = (spool_dir(tmp_path) / good).read_bytes()
    bad = "%020d.kjs" % (int(good.split(".")[0]) + 1)
    (spool_dir(tmp_path) / bad).write_bytes(data[:len(data) // 2])  # half-written
    daemon.start()
    res, p = post_json(env, *service_flags("c-1"))
    assert res["spool_accepted"] == 1 and res["spool_files_bad"] == 1 and res["accepted"] == 1
    assert "set aside" in p.stderr
    assert os.path.exists(spool_dir(tmp_path) / (bad + ".bad"))


# --- the other subcommands ---------------------------------------------------------------


def test_every_subcommand_has_help(tmp_path):
    for cmd in ("post", "simulate", "snapshot", "watch", "export", "backup"):
        p = subprocess.run([KINERJA, cmd, "--help"], capture_output=True, text=True, timeout=10)
        assert p.returncode == 0 and p.stdout.startswith(f"usage: kinerja {cmd}"), (cmd, p.stderr)
    p = subprocess.run([KINERJA, "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and "simulate" in p.stdout
    p = subprocess.run([KINERJA, "frobnicate"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 64


def test_simulate(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    p = kinerja(env, "simulate", "--units", "kasemen,perizinan", "--rate", "400",
                "--duration", "3s", "--seed", "7", "--always-open", check=0)
    assert " 0 dropped" in p.stdout and " 0 rejected" in p.stdout
    events = [json.loads(l) for l in kinerja(env, "export", "--state-dir", daemon.state_dir,
                                             "--format", "ndjson", check=0).stdout.splitlines()]
    assert len(events) > 600
    types = {e["type"] for e in events}
    assert {"service", "presence", "rating"} <= types
    assert {e["unit"] for e in events} == {"kasemen", "perizinan"}
    ratings = [e for e in events if e["type"] == "rating" and "elements" in e]
    assert ratings and all(len(e["elements"]) == 9 for e in ratings)
    # the units of the daemon's own configuration, over HTTP
    p = kinerja(env, "simulate", "--config", daemon.config_path, "--rate", "100",
                "--duration", "1s", "--http", "--always-open", check=0)
    assert " 0 dropped" in p.stdout
    # the units of GET /api/v1/units: a token that may read them (an ingest one may not)
    p = kinerja(env, "simulate", "--duration", "1s", check=1)
    assert "--units" in p.stderr
    aenv = env_for(daemon, tmp_path, token=conftest.ADMIN_SECRET)
    p = kinerja(aenv, "simulate", "--duration", "1s", "--rate", "50", "--always-open", check=0)
    assert " 0 dropped" in p.stdout
    # the day so far, replayed: the same ids each time, so the second adds nothing
    p = kinerja(env, "simulate", "--units", "perizinan", "--backfill", "24h", "--duration", "1s",
                "--rate", "1", check=0)
    assert " 0 duplicates" in p.stdout.splitlines()[0] and "backfill of 24.0 h" in p.stdout
    p = kinerja(env, "simulate", "--units", "perizinan", "--backfill", "24h", "--duration", "1s",
                "--rate", "1", check=0)
    first = p.stdout.splitlines()[0]
    assert " 0 accepted" in first, first
    # SIGINT ends it cleanly
    proc = subprocess.Popen([KINERJA, "simulate", "--units", "kasemen", "--rate", "50",
                             "--always-open"], env=env,
                            stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "accepted" in out


def test_export_and_backup(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    evs = [service_event(eid=f"x-{i}", ts=now_ms() - 3600_000 + i) for i in range(50)]
    evs += [service_event(unit="perizinan", eid=f"y-{i}") for i in range(5)]
    evs[0]["meta"] = {"queue": "A17", "note": "with, comma"}
    assert daemon.post_json(evs)[0] == 200
    p = kinerja(env, "export", "--state-dir", daemon.state_dir, "--format", "csv", check=0)
    csv_text = p.stdout
    lines = csv_text.splitlines()
    assert lines[0].startswith("id,type,ts,unit,employee,counter")
    assert len(lines) == 1 + 55 and lines.count(lines[0]) == 1
    assert '"{""queue"":""A17"",""note"":""with, comma""}"' in csv_text
    ids = export_ids(env, daemon, "--unit", "perizinan")
    assert ids == [f"y-{i}" for i in range(5)]
    ids = export_ids(env, daemon, "--from", str(evs[10]["ts"]), "--to", str(evs[20]["ts"]))
    assert ids == [f"x-{i}" for i in range(10, 20)]
    out = tmp_path / "out.csv"
    kinerja(env, "export", "--state-dir", daemon.state_dir, "--format", "csv", "-o", str(out),
            check=0)
    assert out.read_text() == csv_text
    kinerja(env, "export", "--state-dir", daemon.state_dir, check=64)
    kinerja(env, "export", "--state-dir", str(tmp_path / "none"), "--format", "csv", check=1)

    dest = tmp_path / "backup"
    p = kinerja(env, "backup", "--state-dir", daemon.state_dir, str(dest), check=0)
    assert "55 events" in p.stdout
    kinerja(env, "backup", "--state-dir", daemon.state_dir, str(dest), check=1)  # not empty
    p = kinerja(env, "export", "--state-dir", str(dest), "--format", "csv", check=0)
    assert p.stdout == csv_text


def test_snapshot(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    post_json(env, *service_flags("snap-1"))
    venv = env_for(daemon, tmp_path, token=VIEWER_SECRET)
    p = kinerja(venv, "snapshot", "--unit", "kasemen", "--json", check=0)
    snap = json.loads(p.stdout)
    assert snap["unit"] == "kasemen" and "unit_metrics" in snap
    p = kinerja(venv, "snapshot", "--unit", "kasemen", check=0)
    assert "kasemen" in p.stdout and "served 1" in p.stdout
    p = kinerja(venv, "snapshot", "--unit", "perizinan", check=1)  # not this viewer's unit
    assert "403" in p.stderr or "404" in p.stderr


def test_watch(daemon, tmp_path):
    env = env_for(daemon, tmp_path)
    venv = env_for(daemon, tmp_path, token=VIEWER_SECRET)
    proc = subprocess.Popen([KINERJA, "watch", "--unit", "kasemen", "--plain", "--count", "2"],
                            env=venv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the snapshot first (each frame ends with "--" and is flushed), then our
    # event as an update
    first = []
    for line in proc.stdout:
        if line == "--\n":
            break
        first.append(line)
    assert first, proc.communicate(timeout=30)[1]
    post_json(env, *service_flags("watch-1"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    frames = ["".join(first)] + out.split("--\n")
    assert "kasemen" in frames[0] and "served 1" in frames[1]
    # a refused token ends the watch (exit 1) instead of reconnecting for ever
    p = kinerja(env_for(daemon, tmp_path, token="not-a-token"), "watch", "--unit", "kasemen",
                "--plain", timeout=30, check=1)
    assert "401" in p.stderr


def test_post_and_watch_over_tls(tmp_path):
    from test_tls import make_cert
    cert, key = make_cert(str(tmp_path))
    d = conftest.Daemon(tmp_path, extra=f"tls_cert: {cert}\ntls_key: {key}\n").start()
    try:
        env = env_for(d, tmp_path)
        env["KINERJA_URL"] = f"https://127.0.0.1:{d.port}"
        # an unknown certificate is not trusted: the daemon counts as unavailable
        p = kinerja(env, "post", "--no-spool", *service_flags("tls-0"), check=1)
        assert "SSL" in p.stderr or "TLS" in p.stderr
        env["KINERJA_CA_FILE"] = cert
        for extra in ([], ["--http"]):
            res, _ = post_json(env, *extra, "--no-spool", *service_flags("tls-1"))
            assert res["accepted"] + res["duplicates"] == 1
        venv = dict(env, KINERJA_TOKEN=VIEWER_SECRET)
        p = kinerja(venv, "watch", "--unit", "kasemen", "--plain", "--count", "1", check=0)
        assert "kasemen" in p.stdout
    finally:
        assert d.stop() == 0
