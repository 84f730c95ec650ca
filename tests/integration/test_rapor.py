"""The rapor of SPEC §15 through GET /api/v1/rapor (issue 14): period values of
every member and of the unit against an independent model (expected.py's
aggregates over the period's events, SPEC §5's judgements, §15's ratings and
predikat written out again here), assessments (the latest by event time),
equality after a restart and after `kinerjad --rebuild`, a period straddling
the retention edge, the personal token's view, and the CSV form.

The data's seed is fixed (KJ_SEED overrides it) and failures name it."""
import csv
import datetime
import io
import json
import math
import os
import subprocess

import pytest

import expected as X
from conftest import (ADMIN_SECRET, INGEST_SECRET, KINERJA, KINERJAD, VIEWER_SECRET, Daemon,
                      now_ms, sha)

SEED = int(os.environ.get("KJ_SEED", "20261204"))
K, P = X.Population.K, X.Population.P
SITI, BUDI, BOTH = X.Population.SITI, X.Population.BUDI, X.Population.BOTH
PERSONAL_SECRET = "personal-secret"
SUPERVISOR_SECRET = "supervisor-secret"  # SPEC §16: an ingest token may not post assessments
KASEMEN_SLA = 300_000
BUDI_NAME = 'Budi "Bud" Santoso, S.Sos'  # CSV quoting: a quote and a comma

UNITS = f"""
units:
  - id: {K}
    name: "Pelayanan Terpadu Kasemen"
    sla_wait_ms: {KASEMEN_SLA}
    members:
      - {{id: "{SITI}", name: "Siti Rahmawati"}}
      - {{id: "{BUDI}", name: '{BUDI_NAME}'}}
    counters:
      - {{id: loket-1, name: "Loket 1"}}
  - id: {P}
    name: "Perizinan"
"""

INDICATORS = f"""
indicators:
  - {{id: sla, name: "SLA", metric: services.sla_pct, window: today, target: 60,
      better: higher, warn_margin: 0.10, applies_to: [unit, employee]}}
  - {{id: ikm, name: "IKM", metric: ratings.ikm, window: 30d, target: 76.61,
      better: higher, applies_to: [unit]}}
  - {{id: wait-p90, name: "Waktu tunggu p90", metric: services.wait_ms.p90, window: 1h,
      target: 900000, better: lower, warn_margin: 0.10, applies_to: [unit, employee],
      overrides: [{{employee: "{BUDI}", target: 600000}}]}}
  - {{id: on-time, name: "Tepat waktu", metric: tasks.on_time_pct, window: 7d, target: 80,
      better: higher, applies_to: [employee], min_samples: 3}}
  - {{id: quality, name: "Mutu", metric: tasks.quality_avg, window: 7d, target: 45,
      better: higher, applies_to: [employee]}}
"""
MEMBER_INDS = ["sla", "wait-p90", "on-time", "quality"]
UNIT_INDS = ["sla", "ikm", "wait-p90"]
CONF = {"sla": (60, "higher", 0.10, 1, "services.sla_pct"),
        "ikm": (76.61, "higher", 0.10, 1, "ratings.ikm"),
        "wait-p90": (900000, "lower", 0.10, 1, "services.wait_ms.p90"),
        "on-time": (80, "higher", 0.10, 3, "tasks.on_time_pct"),
        "quality": (45, "higher", 0.10, 1, "tasks.quality_avg")}
ABOVE_PCT = 105


def make_daemon(tmp_path, extra=""):
    d = Daemon(tmp_path, units=UNITS, extra=INDICATORS +
               f"evaluation: {{period: month, above_pct: {ABOVE_PCT}}}\n" + extra)
    text = open(d.config_path).read().replace(
        "tokens:\n", "tokens:\n  - {name: siti, sha256: \"%s\", role: viewer, units: [%s], "
        "employee: \"%s\"}\n  - {name: atasan, sha256: \"%s\", role: supervisor, units: \"*\"}\n"
        % (sha(PERSONAL_SECRET), K, SITI, sha(SUPERVISOR_SECRET)))
    open(d.config_path, "w").write(text)
    return d


def fail_msg(problems, what):
    return f"seed {SEED}: {what}: {len(problems)} problem(s):\n" + "\n".join(problems[:40])


# --- the model ------------------------------------------------------------------

def period_span(name):
    """from, to (UTC ms of local midnights) of "2026-12", "2026-Q4", "2026"."""
    y = int(name[:4])
    if len(name) == 4:
        first, months = 1, 12
    elif name[5] == "Q":
        first, months = 3 * int(name[6]) - 2, 3
    else:
        first, months = int(name[5:7]), 1
    end_m, end_y = first + months, y
    if end_m > 12:
        end_m, end_y = end_m - 12, y + 1
    return (X.midnight_ms(datetime.date(y, first, 1)),
            X.midnight_ms(datetime.date(end_y, end_m, 1)))


def periods_now(now):
    d = X.local_date(now)
    prev = (d.replace(day=1) - datetime.timedelta(days=1))
    return [f"{d.year}-{d.month:02d}", f"{prev.year}-{prev.month:02d}",
            f"{d.year}-Q{(d.month + 2) // 3}", f"{d.year}"]


def status(better, target, margin, value):
    if value is None:
        return "none"
    t = abs(target)
    if better == "higher":
        if value >= target - 1e-9 * t:
            return "ok"
        return "warn" if value >= target - margin * t - 1e-9 * t else "bad"
    if value <= target + 1e-9 * t:
        return "ok"
    return "warn" if value <= target + margin * t + 1e-9 * t else "bad"


def achievement(better, target, value):
    if value is None or target == 0:
        return None
    a = value / target * 100 if better == "higher" else (2 - value / target) * 100
    return math.floor(min(200.0, max(0.0, a)) * 100 + 0.5) / 100  # half up, as SPEC §5


def level(st, ach):
    if st == "none":
        return None
    if ach is not None and ach >= ABOVE_PCT:
        return "above"
    return "below" if st == "bad" else "meets"


def hasil(levels):
    counted = [l for l in levels if l]
    if not counted:
        return None
    a, b = counted.count("above"), counted.count("below")
    if a > len(counted) / 2 and b == 0:
        return "above"
    return "below" if b >= len(counted) / 2 else "meets"


def perilaku(behaviour):
    if not behaviour:
        return None
    counts = {l: behaviour.count(l) for l in ("below", "meets", "above")}
    top = max(counts.values())
    winners = [l for l, c in counts.items() if c == top]
    return winners[0] if len(winners) == 1 else "meets"


PREDIKAT = {("above", "below"): "kurang", ("above", "meets"): "baik",
            ("above", "above"): "sangat_baik", ("meets", "below"): "kurang",
            ("meets", "meets"): "baik", ("meets", "above"): "baik",
            ("below", "below"): "sangat_kurang", ("below", "meets"): "butuh_perbaikan",
            ("below", "above"): "butuh_perbaikan"}


def model_value(events, metric, min_samples, hours):
    agg = X.aggregate(events, hours, lambda u: KASEMEN_SLA if u == K else X.DEFAULT_SLA)
    if metric == "tasks.on_time_pct":
        n = sum(1 for e in events if e["type"] == "task" and "due_ts" in e)
    elif metric == "tasks.quality_avg":
        n = sum(1 for e in events if e["type"] == "task" and "quality" in e)
    elif metric.startswith("services."):
        n = sum(1 for e in events if e["type"] == "service" and e.get("outcome") != "no_show")
    else:
        n = sum(1 for e in events if e["type"] == "rating" and e.get("source", "citizen") ==
                "citizen")
    if n < min_samples:
        return None, agg
    return X.metric_value(agg, metric), agg


def close(got, want, metric):
    if want is None or got is None:
        return got == want
    if metric.endswith((".p50", ".p90")):
        return abs(got - want) <= max(1.0, 0.01 * abs(want))
    if metric == "ratings.ikm":
        return round(got * 100) == round(want * 100)
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


def check_indicator(ind, ind_id, events, target, hours, where, problems):
    tgt, better, margin, min_samples, metric = CONF[ind_id]
    want, _ = model_value(events, metric, min_samples, hours)
    if ind["id"] != ind_id or ind["target"] != target:
        problems.append(f"{where}: {ind['id']} target {ind['target']}, want {ind_id} {target}")
    if not close(ind["value"], want, metric):
        problems.append(f"{where} {ind_id}: value {ind['value']}, model {want}")
    # the judgements from the value the daemon reports (percentiles are
    # within 1 %, so the model's exact value could sit across a boundary)
    st = status(better, target, margin, ind["value"])
    ach = achievement(better, target, ind["value"])
    if ind["status"] != st or ind["achievement_pct"] != ach or ind["level"] != level(st, ach):
        problems.append(f"{where} {ind_id}: {ind['status']}/{ind['achievement_pct']}/"
                        f"{ind['level']}, want {st}/{ach}/{level(st, ach)}")


def expected_members(events):
    names = {SITI: "Siti Rahmawati", BUDI: BUDI_NAME}
    for e in events:
        if e["unit"] == K and e.get("employee"):
            names.setdefault(e["employee"], e["employee"])
    return sorted(names.items(), key=lambda kv: (kv[1].encode(), kv[0].encode()))


def check_rapor(rapor, events, assessments, name, now, data_from=None):
    """rapor (JSON) against the model; assessments: {(employee, period): levels}."""
    problems = []
    frm, to = period_span(name)
    dfrom = data_from or frm
    hours = max(min(now, to) - dfrom, X.MIN) / X.HOUR
    inside = [e for e in events if dfrom <= e["ts"] < to]
    want_head = {"unit": K, "period": name, "from": frm, "to": to, "data_from": dfrom,
                 "final": rapor["generated_at"] >= to, "above_pct": ABOVE_PCT}
    for k, v in want_head.items():
        if rapor.get(k) != v:
            problems.append(f"{name}: {k} {rapor.get(k)!r}, want {v!r}")
    members = expected_members(events)
    got_members = [(r["employee"], r["name"]) for r in rapor["rows"]]
    if got_members != members:
        problems.append(f"{name}: rows {got_members}, want {members}")
    dist = {p: 0 for p in ("sangat_baik", "baik", "butuh_perbaikan", "kurang", "sangat_kurang",
                           "none")}
    for row in rapor["rows"]:
        emp = row["employee"]
        mine = [e for e in inside if e.get("employee") == emp]
        where = f"{name} {emp}"
        if [i["id"] for i in row["indicators"]] != MEMBER_INDS:
            problems.append(f"{where}: indicators {[i['id'] for i in row['indicators']]}")
            continue
        for ind in row["indicators"]:
            target = 600000 if (ind["id"], emp) == ("wait-p90", BUDI) else CONF[ind["id"]][0]
            check_indicator(ind, ind["id"], mine, target, hours, where, problems)
        h = hasil([i["level"] for i in row["indicators"]])
        p = perilaku(assessments.get((emp, name)))
        pred = PREDIKAT.get((h, p))
        dist[pred or "none"] += 1
        agg = X.aggregate(mine, hours, lambda u: KASEMEN_SLA)
        ev = {"services": (agg["services"] or {}).get("count", 0),
              "tasks": (agg["tasks"] or {}).get("count", 0),
              "ratings": sum(1 for e in mine if e["type"] == "rating")}
        got = (row["hasil_kerja"], row["perilaku"], row["predikat"], row["evidence"])
        if got != (h, p, pred, ev):
            problems.append(f"{where}: {got}, want {(h, p, pred, ev)}")
    unit_events = [e for e in inside if e["unit"] == K]
    for ind in rapor["unit_indicators"]:
        check_indicator(ind, ind["id"], unit_events, CONF[ind["id"]][0], hours, f"{name} unit",
                        problems)
    if [i["id"] for i in rapor["unit_indicators"]] != UNIT_INDS:
        problems.append(f"{name}: unit indicators {[i['id'] for i in rapor['unit_indicators']]}")
    if rapor["distribution"] != dist:
        problems.append(f"{name}: distribution {rapor['distribution']}, want {dist}")
    r = X.aggregate(unit_events, hours, lambda u: KASEMEN_SLA)["ratings"] or {}
    ikm = rapor["ikm"]
    want_ikm = (r.get("ikm"), r.get("ikm_grade"), r.get("count", 0),
                r.get("ikm_elements") or [None] * 9)
    if (ikm["ikm"], ikm["ikm_grade"], ikm["responses"], ikm["elements"]) != want_ikm:
        problems.append(f"{name}: ikm {ikm}, want {want_ikm}")
    labels = {"A": "Sangat Baik", "B": "Baik", "C": "Kurang Baik", "D": "Tidak Baik", None: ""}
    if ikm["label"] != labels[ikm["ikm_grade"]] or len(ikm["element_names"]) != 9:
        problems.append(f"{name}: ikm label {ikm['label']!r} for {ikm['ikm_grade']}")
    return problems


# --- helpers ----------------------------------------------------------------------

def get(d, path, token=ADMIN_SECRET):
    r, data = d.request("GET", path, token=token)
    ctype = r.getheader("Content-Type") or ""
    return r.status, (json.loads(data) if ctype.startswith("application/json") else data)


def rapor(d, name=None, token=ADMIN_SECRET, fmt=None):
    q = f"/api/v1/rapor?unit={K}" + (f"&period={name}" if name else "") + \
        (f"&format={fmt}" if fmt else "")
    status, body = get(d, q, token)
    assert status == 200, (q, status, body)
    return body


def post_all(d, events, batch=500):
    """Assessments with the supervisor's token, the rest with the ingest token."""
    for i in range(0, len(events), batch):
        part = events[i:i + batch]
        for token, evs in ((INGEST_SECRET, [e for e in part if e["type"] != "assessment"]),
                           (SUPERVISOR_SECRET, [e for e in part if e["type"] == "assessment"])):
            if not evs:
                continue
            status, body, _ = d.post_msgpack(evs, token=token)
            assert status == 200 and body["accepted"] == len(evs), body


def assessment_events(now):
    """Two for Siti this month (the later by event time posted first: it must
    still count), a tie for Budi (meets), one for Siti last month."""
    cur, prev = periods_now(now)[:2]
    up = ["above"] * 4 + ["meets"] * 3
    down = ["below"] * 7
    tie = ["below", "below", "below", "above", "above", "above", "meets"]
    evs = [
        {"id": "as-1", "type": "assessment", "ts": now - 1000, "unit": K, "employee": SITI,
         "period": cur, "behaviour": up, "by": BUDI, "note": "Teladan, \"ramah\""},
        {"id": "as-2", "type": "assessment", "ts": now - 5000, "unit": K, "employee": SITI,
         "period": cur, "behaviour": down},
        {"id": "as-3", "type": "assessment", "ts": now - 2000, "unit": K, "employee": BUDI,
         "period": cur, "behaviour": tie},
        {"id": "as-4", "type": "assessment", "ts": now - 3000, "unit": K, "employee": SITI,
         "period": prev, "behaviour": down},
    ]
    want = {(SITI, cur): up, (BUDI, cur): tie, (SITI, prev): down}
    return evs, want


def posted(tmp_path, seed, extra=""):
    d = make_daemon(tmp_path, extra).start()
    now = now_ms() - 1000
    events = X.generate(seed, now, n_kasemen=1500, n_perizinan=300, sla={K: KASEMEN_SLA})
    post_all(d, events)
    asm, want = assessment_events(now)
    post_all(d, asm)
    return d, events, want


# --- tests ------------------------------------------------------------------------

def test_rapor_matches_model(tmp_path):
    d, events, assessed = posted(tmp_path, SEED)
    try:
        now = now_ms()
        problems = []
        for name in periods_now(now):
            problems += check_rapor(rapor(d, name), events, assessed, name, now)
        # no period: the current one of evaluation.period (month)
        current = rapor(d)
        problems += check_rapor(current, events, assessed, periods_now(now)[0], now)
        assert not problems, fail_msg(problems, "rapor vs model")
        assert current["rows"][[r["employee"] for r in current["rows"]].index(SITI)][
            "assessment"]["by"] == BUDI
        assert d.stop() == 0
    finally:
        d.kill9()


def without_clock(r):
    r = dict(r)
    r.pop("generated_at")
    return r


def test_rapor_equal_after_restart_and_rebuild(tmp_path):
    d, events, assessed = posted(tmp_path, SEED + 1)
    try:
        names = periods_now(now_ms())
        before = {n: without_clock(rapor(d, n)) for n in names}
        assert d.stop() == 0
        d.start()
        after = {n: without_clock(rapor(d, n)) for n in names}
        assert after == before, "rapor changed across a restart"
        assert d.stop() == 0
        r = subprocess.run([KINERJAD, "-c", d.config_path, "--rebuild"], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        d.start()
        rebuilt = {n: without_clock(rapor(d, n)) for n in names}
        for n in names:
            assert rebuilt[n] == before[n], f"rapor {n} changed across --rebuild"
        now = now_ms()
        problems = []
        for n in names:
            problems += check_rapor(dict(rebuilt[n], generated_at=now), events, assessed, n, now)
        assert not problems, fail_msg(problems, "rebuilt rapor vs model")
        assert d.stop() == 0
    finally:
        d.kill9()


def test_rapor_straddling_the_retention_edge(tmp_path):
    d, events, assessed = posted(tmp_path, SEED + 2)
    try:
        assert d.stop() == 0
        # keep 10 days from now on: last month straddles the edge, older
        # months are gone, whether or not the expiry pass has run yet
        text = open(d.config_path).read() + "retention_days: 10\nmax_event_age: 10d\n"
        open(d.config_path, "w").write(text)
        d.start()
        now = now_ms()
        edge = X.midnight_ms(X.local_date(now) - datetime.timedelta(days=10))
        cur, prev = periods_now(now)[:2]
        problems = []
        for name in (cur, prev):
            frm, _ = period_span(name)
            got = rapor(d, name)
            problems += check_rapor(got, events, assessed, name, now, data_from=max(frm, edge))
        assert not problems, fail_msg(problems, "rapor at the retention edge vs model")
        old = X.local_date(edge) - datetime.timedelta(days=40)
        status, body = get(d, f"/api/v1/rapor?unit={K}&period={old.year}-{old.month:02d}")
        assert status == 400 and "retention_days" in body["error"], (status, body)
        assert d.stop() == 0
    finally:
        d.kill9()


def test_rapor_scope_errors_and_csv(tmp_path):
    d, events, assessed = posted(tmp_path, SEED + 3)
    try:
        cur = periods_now(now_ms())[0]
        whole = rapor(d, cur)
        mine = rapor(d, cur, token=PERSONAL_SECRET)
        assert [r["employee"] for r in mine["rows"]] == [SITI]
        assert mine["rows"][0] == [r for r in whole["rows"] if r["employee"] == SITI][0]
        for hidden in ("distribution", "ikm", "unit_indicators"):
            assert hidden not in mine, hidden
        assert rapor(d, cur, token=VIEWER_SECRET)["rows"] == whole["rows"]
        for path, code in ((f"/api/v1/rapor?unit={P}&period={cur}", 403),
                           (f"/api/v1/rapor?unit={K}&period=2026-13", 400),
                           (f"/api/v1/rapor?unit={K}&period={cur}{'x' * 40}", 400),
                           (f"/api/v1/rapor?unit={K}&period={cur}&format=xml", 400),
                           (f"/api/v1/rapor?unit=nowhere&period={cur}", 404),
                           ("/api/v1/rapor?period=2026", 400)):
            status, body = get(d, path, token=VIEWER_SECRET if code == 403 else ADMIN_SECRET)
            assert status == code, (path, status, body)
        status, _ = get(d, f"/api/v1/rapor?unit={K}", token=INGEST_SECRET)
        assert status == 403
        text = rapor(d, cur, fmt="csv").decode()
        lines = text.splitlines()
        header = ("employee,name,period,hasil_kerja,perilaku,predikat,services,tasks,ratings,"
                  "feedback," + ",".join(f"{i}.{p}" for i in MEMBER_INDS
                                         for p in ("value", "target", "achievement_pct",
                                                   "level")))
        assert lines[0] == header
        assert len(lines) == 1 + len(whole["rows"]) and text.endswith("\n")
        assert '"Budi ""Bud"" Santoso, S.Sos"' in text
        parsed = list(csv.DictReader(io.StringIO(text)))
        for row, want in zip(parsed, whole["rows"]):
            assert (row["employee"], row["name"], row["period"]) == \
                (want["employee"], want["name"], cur)
            assert row["predikat"] == (want["predikat"] or "")
            assert row["hasil_kerja"] == (want["hasil_kerja"] or "")
            assert int(row["services"]) == want["evidence"]["services"]
            for ind in want["indicators"]:
                v = row[f"{ind['id']}.value"]
                assert (float(v) if v else None) == ind["value"], (row, ind)
                assert row[f"{ind['id']}.level"] == (ind["level"] or "")
        personal_csv = rapor(d, cur, token=PERSONAL_SECRET, fmt="csv").decode().splitlines()
        assert len(personal_csv) == 2 and personal_csv[1].startswith(SITI + ",")
        assert d.stop() == 0
    finally:
        d.kill9()


def test_kinerja_rapor_command(tmp_path):
    d, events, assessed = posted(tmp_path, SEED + 4)
    try:
        cur = periods_now(now_ms())[0]
        env = dict(os.environ, KINERJA_URL=d.url, KINERJA_TOKEN=ADMIN_SECRET,
                   XDG_STATE_HOME=str(tmp_path / "xdg"))

        def run(*args):
            return subprocess.run([KINERJA, "rapor", *args], env=env, capture_output=True,
                                  text=True, timeout=60)

        p = run("--unit", K, "--period", cur, "--format", "csv")
        assert p.returncode == 0, p.stderr
        assert p.stdout == rapor(d, cur, fmt="csv").decode()
        p = run("--unit", K, "--period", cur, "--format", "json")
        assert p.returncode == 0 and without_clock(json.loads(p.stdout)) == \
            without_clock(rapor(d, cur))
        p = run("--unit", K, "--period", cur)
        assert p.returncode == 0 and "IKM " in p.stdout, p.stdout
        lines = p.stdout.splitlines()
        for row in rapor(d, cur)["rows"]:
            line = [l for l in lines if l.startswith(row["employee"] + " ")]
            assert len(line) == 1 and line[0].endswith(row["predikat_label"] or "-"), (row, line)
        # an assessment from flags: BUDI's perilaku becomes above, his predikat follows
        post = subprocess.run([KINERJA, "post", "--no-spool", "--type", "assessment", "--unit", K,
                               "--employee", BUDI, "--period", cur, "--behaviour",
                               "above,above,above,above,meets,meets,below", "--by", SITI,
                               "--note", "Rapi, \"tepat\""],
                              env=dict(env, KINERJA_TOKEN=SUPERVISOR_SECRET), capture_output=True,
                              text=True, timeout=60)
        assert post.returncode == 0, post.stderr
        budi = [r for r in rapor(d, cur)["rows"] if r["employee"] == BUDI][0]
        assert budi["perilaku"] == "above" and budi["assessment"]["by"] == SITI, budi
        p = run("--unit", K, "--period", "2026-13")
        assert p.returncode == 64 and "--period" in p.stderr
        p = run("--unit", "nowhere", "--period", cur)
        assert p.returncode == 1 and "HTTP 404" in p.stderr, p.stderr
        assert d.stop() == 0
    finally:
        d.kill9()


def test_demo_backfill_fills_the_quarter(tmp_path):
    """make run's demo: `kinerja simulate --backfill quarter` against the demo
    configuration leaves a full rapor for the quarter at once: every member
    has a perilaku and a predikat, and the unit an IKM."""
    port = Daemon(tmp_path).port
    demo = open(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "demo.yaml")).read()
    demo = demo.replace('listen: "127.0.0.1:7070"', f'listen: "127.0.0.1:{port}"')
    demo = demo.replace("state_dir: ./var/demo", f"state_dir: {tmp_path / 'var'}")
    demo = demo.replace("web_root: ./web", f"web_root: {tmp_path}")
    cfg = tmp_path / "demo.yaml"
    cfg.write_text(demo)
    d = Daemon(tmp_path)
    d.port, d.url, d.config_path = port, f"http://127.0.0.1:{port}", str(cfg)
    d.start()
    try:
        env = dict(os.environ, KINERJA_URL=d.url, KINERJA_TOKEN="demo-ingest",
                   XDG_STATE_HOME=str(tmp_path / "xdg"))
        p = subprocess.run([KINERJA, "simulate", "--config", str(cfg), "--backfill", "quarter",
                            "--duration", "1s", "--rate", "1", "--supervisor-token", "demo-atasan"],
                           env=env, capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        assert "0 duplicates" in p.stdout and "assessments" in p.stdout, p.stdout
        status, r = get(d, "/api/v1/rapor?unit=pelayanan-terpadu", token="demo-admin")
        assert status == 200, r
        assert r["kind"] == "quarter" and r["period"].split("-Q")[1] in "1234"
        assert len(r["rows"]) == 6, [x["employee"] for x in r["rows"]]
        for row in r["rows"]:
            assert row["perilaku"] and row["predikat"] and row["hasil_kerja"], row
            assert row["evidence"]["tasks"] > 0, row
        assert sum(r["distribution"].values()) == 6 and r["distribution"]["none"] == 0
        assert r["ikm"]["responses"] > 0 and r["ikm"]["ikm_grade"] in "ABCD"
        assert d.stop() == 0
    finally:
        d.kill9()
