"""SPEC §16: the supervisor role, feedback and ack events, alert ids and
acknowledgements, hysteresis (hold_ms) and escalation (escalate_after_ms)."""
import json
import os
import subprocess
import time

import pytest

from conftest import (ADMIN_SECRET, INGEST_SECRET, KINERJA, KINERJAD, VIEWER_SECRET, Daemon,
                      now_ms, service_event, sha)
from test_live import recv, recv_until, subscribe, viewer

SUPERVISOR_SECRET = "supervisor-kasemen"
SUPERVISOR_B_SECRET = "supervisor-perizinan"
SITI_SECRET = "siti-personal"
SITI = "198706152010011002"
BUDI = "199001012015031001"

_n = [0]


def uid(prefix):
    _n[0] += 1
    return f"{prefix}-{os.getpid()}-{_n[0]}-{time.monotonic_ns()}"


class FeedbackDaemon(Daemon):
    """The test daemon with supervisor and personal tokens added."""

    def write_config(self, extra="", units=None, auth=True):
        from conftest import DEFAULT_UNITS
        super().write_config(extra, units or DEFAULT_UNITS, auth)
        with open(self.config_path) as f:
            text = f.read()
        more = (f'  - {{name: atasan, sha256: "{sha(SUPERVISOR_SECRET)}", role: supervisor, '
                f'units: [kasemen]}}\n'
                f'  - {{name: atasan-b, sha256: "{sha(SUPERVISOR_B_SECRET)}", role: supervisor, '
                f'units: [perizinan]}}\n'
                f'  - {{name: siti, sha256: "{sha(SITI_SECRET)}", role: viewer, '
                f'units: [kasemen], employee: "{SITI}"}}\n')
        with open(self.config_path, "w") as f:
            f.write(text.replace("tokens:\n", "tokens:\n" + more, 1))


def feedback(unit="kasemen", employee=SITI, **kw):
    ev = {"id": uid("fb"), "type": "feedback", "ts": now_ms(), "unit": unit,
          "employee": employee, "kind": "praise", "text": "Pelayanan Anda ramah, terima kasih"}
    ev.update(kw)
    return ev


def ack(alert, unit="kasemen", **kw):
    ev = {"id": uid("ack"), "type": "ack", "ts": now_ms(), "unit": unit, "alert": alert}
    ev.update(kw)
    return ev


@pytest.fixture
def fd(tmp_path):
    d = FeedbackDaemon(tmp_path).start()
    yield d
    if d.alive():
        assert d.stop() == 0


def test_roles(fd):
    # an ingest token may not post the supervisor's types (assessment, of
    # SPEC §15, is covered by the same rule once that type exists)
    for ev in (feedback(), ack("x")):
        status, body, _ = fd.post_json([ev], token=INGEST_SECRET)
        assert status == 403, body
    # a supervisor may, for its unit only, and only those types
    status, body, _ = fd.post_json([feedback(by="197912042005011002")], token=SUPERVISOR_SECRET)
    assert status == 200 and body["accepted"] == 1, body
    status, body, _ = fd.post_json([feedback(unit="perizinan")], token=SUPERVISOR_SECRET)
    assert status == 403, body
    status, body, _ = fd.post_json([feedback(unit="perizinan")], token=SUPERVISOR_B_SECRET)
    assert status == 200 and body["accepted"] == 1, body
    status, body, _ = fd.post_json([service_event()], token=SUPERVISOR_SECRET)
    assert status == 403 and "may not post service events" in body["error"], body
    # a personal token and a viewer may not post at all; admin may
    for tok in (SITI_SECRET, VIEWER_SECRET):
        status, body, _ = fd.post_json([feedback()], token=tok)
        assert status == 403, body
    status, body, _ = fd.post_json([feedback()], token=ADMIN_SECRET)
    assert status == 200 and body["accepted"] == 1, body
    # a supervisor sees its unit like a viewer
    ws = viewer(fd, token=SUPERVISOR_SECRET)
    assert subscribe(ws)["unit"] == "kasemen"


def test_feedback_durable_exported_and_rebuilt(fd, tmp_path):
    ev = feedback(kind="coaching", text="Antrean pagi panjang — buka loket 2 lebih awal",
                  by="197912042005011002", indicator="wait-p90")
    status, body, _ = fd.post_json([ev], token=SUPERVISOR_SECRET)
    assert status == 200 and body["accepted"] == 1, body
    status, body, _ = fd.post_json([ev], token=SUPERVISOR_SECRET)
    assert body["duplicates"] == 1
    status, body, _ = fd.post_json([feedback(kind="scolding")], token=SUPERVISOR_SECRET)
    assert body["rejected"][0]["error"] == "kind: must be one of praise, coaching, dialog"
    assert fd.stop() == 0
    out = subprocess.run([KINERJA, "export", "--state-dir", fd.state_dir, "--format", "ndjson"],
                         capture_output=True, text=True, check=True).stdout
    got = [json.loads(line) for line in out.splitlines()]
    assert {k: v for k, v in got[0].items()} == ev
    out = subprocess.run([KINERJA, "export", "--state-dir", fd.state_dir, "--format", "csv"],
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0].endswith(",meta,ticket,period,behaviour,by,note,text,alert,indicator")
    r = subprocess.run([KINERJAD, "-c", fd.config_path, "--rebuild"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr


WAIT_IND = """indicators:
  - id: wait-p90
    name: "Waktu tunggu p90"
    metric: services.wait_ms.p90
    window: today
    target: 600000
    better: lower
    warn_margin: 0.10
    applies_to: [unit]
"""


def test_ack(tmp_path):
    d = FeedbackDaemon(tmp_path, extra=WAIT_IND).start()
    try:
        ws = viewer(d)
        subscribe(ws)
        d.post_json([service_event(wait_ms=120_000)])
        d.post_json([service_event(wait_ms=2_000_000) for _ in range(3)])
        alert = recv_until(ws, lambda f: f["op"] == "alert" and f["to"] == "bad")
        assert alert["id"] and "acked_by" not in alert
        # an unknown id is a per-event rejection naming the field
        status, body, _ = d.post_json([ack("1-deadbeef"), ack(alert["id"], unit="perizinan")],
                                      token=ADMIN_SECRET)
        assert status == 200 and body["accepted"] == 0
        assert [r["error"] for r in body["rejected"]] == ["alert: unknown alert"] * 2
        # a supervisor of another unit may not
        status, body, _ = d.post_json([ack(alert["id"])], token=SUPERVISOR_B_SECRET)
        assert status == 403
        ev = ack(alert["id"], by="197912042005011002", note="Loket 2 dibuka")
        status, body, _ = d.post_json([ev], token=SUPERVISOR_SECRET)
        assert status == 200 and body["accepted"] == 1, body
        frame = recv_until(ws, lambda f: f["op"] == "alert_ack")
        assert frame == {"op": "alert_ack", "unit": "kasemen", "alert": alert["id"],
                         "acked_by": "197912042005011002", "acked_at": ev["ts"],
                         "note": "Loket 2 dibuka"}
        d.wait_log(f"alert {alert['id']} acknowledged by 197912042005011002")
        # a second ack changes nothing
        status, body, _ = d.post_json([ack(alert["id"], note="lagi")], token=SUPERVISOR_SECRET)
        assert body["accepted"] == 1

        def acked(snap):
            mine = [a for a in snap["alerts"] if a["id"] == alert["id"]]
            assert len(mine) == 1, snap["alerts"]
            return mine[0]
        a = acked(subscribe(viewer(d)))
        assert (a["acked_by"], a["acked_at"], a["note"]) == ("197912042005011002", ev["ts"],
                                                              "Loket 2 dibuka")
        assert d.stop() == 0
        d.start()
        a = acked(subscribe(viewer(d)))
        assert a["note"] == "Loket 2 dibuka" and a["to"] == "bad"
    finally:
        assert d.stop() == 0


def test_ack_of_an_older_alert(tmp_path):
    """An alert that a later change of the same scope followed can still be
    acknowledged, and the snapshot keeps it acknowledged (over a restart too)."""
    d = FeedbackDaemon(tmp_path, extra=WAIT_IND).start()
    try:
        ws = viewer(d)
        subscribe(ws)
        d.post_json([service_event(wait_ms=2_000_000)])
        older = recv_until(ws, lambda f: f["op"] == "alert" and f["to"] == "bad")
        d.post_json([service_event(wait_ms=120_000) for _ in range(20)])
        recv_until(ws, lambda f: f["op"] == "alert" and f["to"] == "ok")
        d.post_json([service_event(wait_ms=2_000_000) for _ in range(20)])
        latest = recv_until(ws, lambda f: f["op"] == "alert" and f["to"] == "bad")
        assert latest["scope"] == older["scope"] and latest["id"] != older["id"]
        ev = ack(older["id"], by="197912042005011002", note="sudah dibahas pagi tadi")
        status, body, _ = d.post_json([ev, ack("20261205-0badf00d")], token=SUPERVISOR_SECRET)
        assert status == 200 and body["accepted"] == 1, body
        assert body["rejected"] == [{"index": 1, "id": body["rejected"][0]["id"],
                                     "error": "alert: unknown alert"}], body
        frame = recv_until(ws, lambda f: f["op"] == "alert_ack")
        assert frame["alert"] == older["id"] and frame["note"] == "sudah dibahas pagi tadi"

        def check(snap):
            by_id = {a["id"]: a for a in snap["alerts"] if a["scope"] == older["scope"]}
            assert len(by_id) == 3, snap["alerts"]
            assert by_id[older["id"]]["acked_by"] == "197912042005011002"
            assert by_id[older["id"]]["acked_at"] == ev["ts"]
            assert [a for a in by_id.values() if "acked_by" in a] == [by_id[older["id"]]]
        check(subscribe(viewer(d)))
        assert d.stop() == 0
        d.start()
        check(subscribe(viewer(d)))
    finally:
        assert d.stop() == 0


def test_escalation(tmp_path):
    d = FeedbackDaemon(tmp_path, extra=WAIT_IND.replace("applies_to: [unit]", """applies_to: [unit, employee]
    escalate_after_ms: 1500""")).start()
    try:
        ws = viewer(d)
        subscribe(ws)
        d.post_json([service_event(wait_ms=2_000_000)])
        first = {}
        while len(first) < 2:
            f = recv_until(ws, lambda f: f["op"] == "alert")
            assert not f.get("escalated"), f
            first[f["scope"]] = f
        unit_alert, siti_alert = first["unit:kasemen"], first[f"employee:{SITI}"]
        status, body, _ = d.post_json([ack(unit_alert["id"])], token=SUPERVISOR_SECRET)
        assert body["accepted"] == 1, body
        # the unacknowledged one escalates after escalate_after_ms, without any event
        f = recv_until(ws, lambda f: f["op"] == "alert" and f.get("escalated"))
        t = now_ms()
        assert f["id"] == siti_alert["id"] and f["scope"] == f"employee:{SITI}"
        assert t - siti_alert["at"] >= 1500
        d.wait_log(f"alert escalated: employee:{SITI} wait-p90")
        assert not any("alert escalated: unit:kasemen" in l for l in d.lines)
        snap = subscribe(viewer(d))
        by_id = {a["id"]: a for a in snap["alerts"]}
        assert by_id[siti_alert["id"]]["escalated"] is True
        assert "escalated" not in by_id[unit_alert["id"]]
        assert d.stop() == 0
        d.start()
        by_id = {a["id"]: a for a in subscribe(viewer(d))["alerts"]}
        assert by_id[siti_alert["id"]]["escalated"] is True
    finally:
        assert d.stop() == 0


def test_hold_delays_the_alert(tmp_path):
    d = FeedbackDaemon(tmp_path, extra=WAIT_IND.replace("applies_to: [unit]", """applies_to: [unit]
    hold_ms: 1200""")).start()
    try:
        ws = viewer(d)
        subscribe(ws)
        t0 = now_ms()
        d.post_json([service_event(wait_ms=2_000_000)])
        # the update carries the value at once, the status only after the hold
        f = recv_until(ws, lambda f: f["op"] == "update")
        ind = [i for i in f["indicators"] if i["id"] == "wait-p90"][0]
        assert ind["value"] >= 1_900_000 and ind["status"] == "none"
        f = recv_until(ws, lambda f: f["op"] == "alert")
        assert (f["from"], f["to"]) == ("none", "bad") and f["at"] - t0 >= 1200
    finally:
        assert d.stop() == 0


def test_members_carry_their_feedback(fd):
    t = now_ms()
    evs = [feedback(employee=SITI, ts=t - 3000, text="satu"),
           feedback(employee=SITI, ts=t - 1000, kind="coaching", text="dua", alert="x-1",
                    indicator="wait-p90", by="197912042005011002"),
           feedback(employee=BUDI, ts=t - 2000, kind="dialog", text="rahasia Budi"),
           feedback(employee=SITI, ts=t - 40 * 86_400_000 + 600_000, text="terlalu lama")]
    status, body, _ = fd.post_json(evs[:3], token=SUPERVISOR_SECRET)
    assert body["accepted"] == 3, body
    status, body, _ = fd.post_json(evs[3:], token=SUPERVISOR_SECRET)
    assert body["rejected"][0]["error"] == "ts: older than max_event_age" or body["accepted"] == 1

    def check(snap):
        siti = snap["members"][SITI]["feedback"]
        assert [f["text"] for f in siti] == ["dua", "satu"]
        assert siti[0] == {"id": evs[1]["id"], "ts": t - 1000, "kind": "coaching", "text": "dua",
                           "by": "197912042005011002", "alert": "x-1", "indicator": "wait-p90"}
        assert [f["text"] for f in snap["members"][BUDI]["feedback"]] == ["rahasia Budi"]
    check(subscribe(viewer(fd, token=SUPERVISOR_SECRET)))
    # the personal view: only Siti's own object, and none of Budi's feedback
    mine = viewer(fd, token=SITI_SECRET)
    snap = subscribe(mine)
    assert list(snap["members"]) == [SITI]
    assert "rahasia Budi" not in json.dumps(snap)
    fd.post_json([feedback(employee=BUDI, text="rahasia kedua")], token=SUPERVISOR_SECRET)
    fd.post_json([feedback(employee=SITI, text="tiga")], token=SUPERVISOR_SECRET)
    f = recv_until(mine, lambda f: f["op"] == "update" and SITI in f.get("members", {}))
    assert f["members"][SITI]["feedback"][0]["text"] == "tiga"
    assert "rahasia" not in json.dumps(f)
    # kept over a restart
    assert fd.stop() == 0
    fd.start()
    snap = subscribe(viewer(fd, token=SUPERVISOR_SECRET))
    assert [f["text"] for f in snap["members"][SITI]["feedback"]] == ["tiga", "dua", "satu"]
    assert [f["text"] for f in snap["members"][BUDI]["feedback"]] == ["rahasia kedua",
                                                                      "rahasia Budi"]


def test_feedback_bounded(fd):
    t = now_ms() - 100_000
    evs = [feedback(ts=t + i, text=f"n{i}") for i in range(25)]
    status, body, _ = fd.post_json(evs, token=ADMIN_SECRET)
    assert body["accepted"] == 25
    got = subscribe(viewer(fd))["members"][SITI]["feedback"]
    assert [f["text"] for f in got] == [f"n{i}" for i in range(24, 4, -1)]


def kinerja(d, token, *args):
    env = dict(os.environ, KINERJA_URL=d.url, KINERJA_TOKEN=token)
    return subprocess.run([KINERJA, *args, "--no-spool"], env=env, capture_output=True,
                          text=True, timeout=30)


def test_feedback_and_ack_commands(tmp_path):
    d = FeedbackDaemon(tmp_path, extra=WAIT_IND).start()
    try:
        r = kinerja(d, SUPERVISOR_SECRET, "feedback", "--unit", "kasemen", "--employee", SITI,
                    "--kind", "praise", "--text", "Terima kasih atas pelayanannya",
                    "--by", "197912042005011002")
        assert r.returncode == 0, r.stderr
        snap = subscribe(viewer(d))
        assert snap["members"][SITI]["feedback"][0]["text"] == "Terima kasih atas pelayanannya"
        r = kinerja(d, SUPERVISOR_SECRET, "feedback", "--unit", "kasemen", "--employee", SITI,
                    "--kind", "teguran", "--text", "x")
        # checked before sending, as every flag-built event (a usage error)
        assert r.returncode == 64 and "kind: must be one of praise, coaching, dialog" in r.stderr
        r = kinerja(d, SUPERVISOR_SECRET, "ack", "--unit", "kasemen", "--alert", "1-00000000")
        assert r.returncode == 2 and "alert: unknown alert" in r.stderr, r.stderr
        ws = viewer(d)
        subscribe(ws)
        d.post_json([service_event(wait_ms=2_000_000)])
        alert = recv_until(ws, lambda f: f["op"] == "alert")
        r = kinerja(d, INGEST_SECRET, "ack", "--unit", "kasemen", "--alert", alert["id"])
        assert r.returncode == 1 and "may not post ack events" in r.stderr, r.stderr
        r = kinerja(d, SUPERVISOR_SECRET, "ack", "--unit", "kasemen", "--alert", alert["id"],
                    "--note", "sudah ditangani")
        assert r.returncode == 0, r.stderr
        f = recv_until(ws, lambda f: f["op"] == "alert_ack")
        assert f["alert"] == alert["id"] and f["note"] == "sudah ditangani"
        r = subprocess.run([KINERJA, "ack", "-h"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: kinerja ack" in r.stdout
    finally:
        assert d.stop() == 0


def test_personal_view_has_the_unit_median(tmp_path):
    d = FeedbackDaemon(tmp_path, extra=WAIT_IND.replace("applies_to: [unit]",
                                                        "applies_to: [unit, employee]")).start()
    try:
        third = "199203042018012003"
        d.post_json([service_event(wait_ms=100_000, employee=SITI),
                     service_event(wait_ms=400_000, employee=BUDI),
                     service_event(wait_ms=900_000, employee=third)])
        snap = subscribe(viewer(d, token=SITI_SECRET))
        [ind] = [i for i in snap["indicators"] if i["id"] == "wait-p90"]
        assert ind["scope"] == f"employee:{SITI}" and ind["value"] == pytest.approx(100_000, rel=0.01)
        assert ind["unit_median"] == pytest.approx(400_000, rel=0.01)
        unit = [i for i in subscribe(viewer(d))["indicators"] if i["scope"] == "unit:kasemen"]
        assert unit and all("unit_median" not in i for i in unit)
    finally:
        assert d.stop() == 0


def test_simulated_supervisor_acks_and_coaches(tmp_path):
    d = FeedbackDaemon(tmp_path, extra=WAIT_IND.replace("applies_to: [unit]",
                                                        "applies_to: [unit, employee]")).start()
    try:
        ws = viewer(d)
        subscribe(ws)
        d.post_json([service_event(wait_ms=2_000_000)])
        alerts = [recv_until(ws, lambda f: f["op"] == "alert") for _ in range(2)]
        env = dict(os.environ, KINERJA_URL=d.url, KINERJA_TOKEN=INGEST_SECRET)
        r = subprocess.run([KINERJA, "simulate", "--units", "kasemen", "--always-open",
                            "--rate", "0.01", "--duration", "2s", "--seed", "3",
                            "--supervisor-token", SUPERVISOR_SECRET, "--supervisor-after", "0"],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        acked = {recv_until(ws, lambda f: f["op"] == "alert_ack")["alert"] for _ in range(2)}
        assert acked == {a["id"] for a in alerts}
        snap = subscribe(viewer(d))
        coaching = [f for f in snap["members"][SITI]["feedback"] if f["kind"] == "coaching"]
        assert coaching and coaching[0]["alert"] in acked
    finally:
        assert d.stop() == 0
