"""docs/openapi.yaml against the daemon: a valid OpenAPI 3.1 document (checked
by @seriousme/openapi-schema-validator from npm, in tests/docs), every path the
daemon serves described and nothing more, its example bodies accepted by a
running daemon, and the daemon's real answers valid against its schemas
(python3-jsonschema)."""
import glob
import json
import os
import re
import subprocess

import jsonschema
import pytest
import yaml

from conftest import ADMIN_SECRET, ROOT, Daemon, now_ms, service_event

SPEC = os.path.join(ROOT, "docs/openapi.yaml")
VALIDATOR = os.path.join(ROOT, "tests/docs/node_modules/@seriousme/openapi-schema-validator/"
                         "bin/validate-api-cli.js")
METHODS = ("get", "post", "put", "patch", "delete")

# A unit known to the daemon, and the old events of the examples (2024) accepted.
EXAMPLE_UNITS = """
units:
  - id: kasemen-pelayanan
    name: "Pelayanan Terpadu Kasemen"
    members:
      - {id: "198706152010011002", name: "Siti Rahmawati"}
    counters:
      - {id: loket-1, name: "Loket 1"}
  - id: kasemen
    name: "Kasemen"
indicators:
  - {id: wait-p90, name: "Waktu tunggu p90", metric: services.wait_ms.p90, window: today,
     target: 900000, better: lower, warn_margin: 0.1, applies_to: [unit, employee]}
"""
EXAMPLE_LIMITS = "max_event_age: 3650d\nretention_days: 3650\n"


def served_paths():
    """The one list of the paths kinerjad serves: every literal route in
    daemon/**/*.c ("/api/v1/...", "/healthz", "/metrics"), and "/" for the
    dashboard's static files. A route added to the daemon appears here by
    itself, so the document cannot fall behind it."""
    paths = {"/"}
    for src in glob.glob(os.path.join(ROOT, "daemon", "**", "*.c"), recursive=True):
        with open(src) as f:
            text = f.read()
        paths |= set(re.findall(r'"(/api/v\d+/[a-z_]+|/healthz|/metrics)"', text))
    return paths


@pytest.fixture(scope="module")
def spec():
    with open(SPEC) as f:
        return yaml.safe_load(f)


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def schema_of(spec, ref):
    """A validator for the component schema named by ref, with the whole
    document as its root so that its $refs resolve."""
    root = dict(spec)
    root["$ref"] = ref
    return jsonschema.Draft202012Validator(root)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("openapi"), extra=EXAMPLE_LIMITS, units=EXAMPLE_UNITS)
    d.token = ADMIN_SECRET
    d.start()
    yield d
    assert d.stop() == 0, "\n".join(d.lines[-30:])


def test_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1."), spec["openapi"]
    assert os.path.exists(VALIDATOR), \
        "the validator is missing: make tests/docs/node_modules/.ok (npm ci in tests/docs)"
    r = subprocess.run(["node", VALIDATOR, SPEC], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["valid"] is True, r.stdout + r.stderr


def test_validator_rejects_a_broken_document(spec, tmp_path):
    """The check above can fail: the same document with a path's responses gone is refused."""
    broken = json.loads(json.dumps(spec))
    del broken["paths"]["/healthz"]["get"]["responses"]
    broken["paths"]["/healthz"]["get"]["parameters"] = [{"name": "x"}]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    r = subprocess.run(["node", VALIDATOR, str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r.stdout


def test_every_served_path_is_documented_and_nothing_more(spec):
    served = served_paths()
    assert {"/api/v1/events", "/api/v1/units", "/healthz", "/metrics"} <= served, served
    documented = set(spec["paths"])
    assert served - documented == set(), f"served but not in docs/openapi.yaml: {served - documented}"
    assert documented - served == set(), f"in docs/openapi.yaml but not served: {documented - served}"


def resolve(spec, obj):
    while "$ref" in obj:
        node = spec
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def test_every_documented_operation_is_answered(spec, daemon):
    """Each documented method and path gets an answer from the daemon that the
    document lists for it (with the admin token and the example parameters);
    each undocumented method on a served path gets 404 or 405."""
    for path, method, op in operations(spec):
        params = [f"{resolve(spec, p)['name']}={resolve(spec, p)['example']}"
                  for p in op.get("parameters", []) if resolve(spec, p).get("required")]
        url = path + ("?" + "&".join(params) if params else "")
        body, headers = None, {}
        if method == "post":
            body, headers = b"[]", {"Content-Type": "application/json"}
        r, _ = daemon.request(method.upper(), url, body, headers)
        assert str(r.status) in op["responses"], f"{method.upper()} {url}: {r.status} not documented"
        assert r.status < 400, f"{method.upper()} {url}: {r.status}"
    for path in served_paths():
        documented = {m for m in METHODS if m in spec["paths"].get(path, {})}
        for method in set(("get", "post")) - documented:
            r, _ = daemon.request(method.upper(), path, b"" if method == "post" else None)
            assert r.status in (404, 405), f"{method.upper()} {path}: {r.status}, not documented"


def request_examples(spec):
    body = spec["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    return body["examples"]


def test_example_bodies_are_accepted(spec, daemon):
    examples = request_examples(spec)
    assert len(examples) >= 2
    types = set()
    for name, ex in examples.items():
        value = ex["value"]
        events = value if isinstance(value, list) else [value]
        types |= {e["type"] for e in events}
        schema_of(spec, "#/components/schemas/EventOrBatch").validate(value)
        status, body, _ = daemon.post_json(value)
        assert status == 200, (name, status, body)
        assert body == {"accepted": len(events), "duplicates": 0, "rejected": []}, (name, body)
    assert types == {"task", "service", "rating", "presence", "ticket", "assessment",
                     "feedback"}, types


def test_event_schema_refuses_what_the_daemon_refuses(spec, daemon):
    """A typo'd field and an out-of-range score: rejected by the schema and by the daemon."""
    validator = schema_of(spec, "#/components/schemas/Event")
    for bad in (service_event(unit="kasemen", wiat_ms=1),
                {"id": "r-bad", "type": "rating", "ts": now_ms(), "unit": "kasemen", "score": 5},
                {"id": "t-bad", "type": "ticket", "ts": now_ms(), "unit": "kasemen", "ticket": "A-1",
                 "state": "served"},
                {"id": "a-bad", "type": "assessment", "ts": now_ms(), "unit": "kasemen",
                 "employee": "198706152010011002", "period": "2024-11",
                 "behaviour": ["meets"] * 6}):
        assert not validator.is_valid(bad), bad
        status, body, _ = daemon.post_json([bad])
        assert status == 200 and body["accepted"] == 0 and len(body["rejected"]) == 1, body


def test_answers_match_the_schemas(spec, daemon):
    now = now_ms()
    status, body, _ = daemon.post_json([
        service_event(unit="kasemen-pelayanan"),
        {"id": "q-open", "type": "ticket", "ts": now, "unit": "kasemen-pelayanan",
         "ticket": "B-001", "state": "issued", "service": "ktp"},
        {"id": "as-now", "type": "assessment", "ts": now, "unit": "kasemen-pelayanan",
         "employee": "198706152010011002", "period": "2024-11",
         "behaviour": ["above", "meets", "meets", "above", "meets", "above", "meets"],
         "by": "197001011990011001"}])
    assert status == 200 and body["accepted"] == 3, body
    schema_of(spec, "#/components/schemas/PostResult").validate(body)
    reads = {
        "/api/v1/units": "#/paths/~1api~1v1~1units/get/responses/200/content/application~1json/schema",
        "/api/v1/snapshot?unit=kasemen-pelayanan": "#/components/schemas/Snapshot",
        "/api/v1/overview": "#/components/schemas/Overview",
        "/api/v1/rapor?unit=kasemen-pelayanan&period=2024-11": "#/components/schemas/Rapor",
        "/api/v1/rapor?unit=kasemen-pelayanan": "#/components/schemas/Rapor",
        f"/api/v1/series?scope=unit:kasemen-pelayanan&metric=services.wait_ms.p90&res=minute"
        f"&from={now - 3600000}&to={now + 60000}": "#/components/schemas/Series",
    }
    for url, ref in reads.items():
        r, data = daemon.request("GET", url)
        assert r.status == 200, (url, r.status, data)
        doc = json.loads(data)
        schema_of(spec, ref).validate(doc)
    r, data = daemon.request("GET", "/api/v1/snapshot?unit=kasemen-pelayanan")
    snap = json.loads(data)
    assert snap["indicators"] and snap["alerts"], "the snapshot has no indicator or alert to check"
    assert snap["unit_metrics"]["queue"]["by_service"]["ktp"]["waiting"] >= 1, snap["unit_metrics"]
    r, data = daemon.request("GET", "/api/v1/rapor?unit=kasemen-pelayanan&period=2024-11")
    rapor = json.loads(data)
    assert [row["perilaku"] for row in rapor["rows"]] == ["meets"], rapor["rows"]
    r, data = daemon.request("GET", "/api/v1/nope")
    assert r.status == 404
    schema_of(spec, "#/components/schemas/Error").validate(json.loads(data))


def ws_open(daemon, proto):
    import websocket
    return websocket.create_connection(f"ws://127.0.0.1:{daemon.port}/", subprotocols=[proto],
                                       header=[f"Authorization: Bearer {ADMIN_SECRET}"],
                                       timeout=20)


def ws_send(ws, frame):
    import msgpack
    ws.send_binary(msgpack.packb(frame))


class Frames:
    """Every frame a connection received, in order; take(op) waits for the next
    one of that op not taken yet (frames of other ops stay in the list)."""

    def __init__(self, ws):
        self.ws, self.all, self.taken = ws, [], set()

    def take(self, op):
        import msgpack
        i = 0
        while True:
            while i < len(self.all):
                if self.all[i].get("op") == op and i not in self.taken:
                    self.taken.add(i)
                    return self.all[i]
                i += 1
            self.all.append(msgpack.unpackb(self.ws.recv()))


def test_websocket_frames_match_the_schemas(spec, daemon):
    """The frame schemas against real frames of both subprotocols: what a client
    sends is valid by the document and accepted, what the daemon sends is valid."""
    check = lambda name, frame: schema_of(spec, f"#/components/schemas/{name}").validate(frame)  # noqa: E731
    live = ws_open(daemon, "kinerja-live.v1")
    ingest = ws_open(daemon, "kinerja-ingest.v1")
    frames, acks = Frames(live), Frames(ingest)
    try:
        for req in ({"op": "units"}, {"op": "subscribe", "unit": "kasemen-pelayanan"},
                    {"op": "subscribe", "overview": True}):
            check("LiveRequestFrame", req)
            ws_send(live, req)
        check("UnitsFrame", frames.take("units"))
        snap = frames.take("snapshot")
        check("SnapshotFrame", snap)
        overview = frames.take("overview")
        check("OverviewFrame", overview)
        assert {row["unit"] for row in overview["units"]} >= {"kasemen", "kasemen-pelayanan"}

        # a wait far over the target: an update, and an alert as the status turns bad
        frame = {"op": "events", "seq": 7, "events": [
            service_event(unit="kasemen-pelayanan", wait_ms=5 * 3600 * 1000)]}
        check("IngestEventsFrame", frame)
        ws_send(ingest, frame)
        ack = acks.take("ack")
        check("AckFrame", ack)
        assert ack["seq"] == 7 and ack["accepted"] == 1, ack

        update = frames.take("update")
        check("UpdateFrame", update)
        assert update["seq"] == snap["seq"] + 1 and "unit_metrics" in update, update
        alert = frames.take("alert")
        check("AlertFrame", alert)
        assert alert["to"] == "bad", alert
        # a supervisor's acknowledgement of it: the event by the schema, the frame too
        ack_event = {"id": "ack-1", "type": "ack", "ts": now_ms(), "unit": "kasemen-pelayanan",
                     "alert": alert["id"], "by": "197001011990011001", "note": "ditangani"}
        check("Event", ack_event)
        ws_send(ingest, {"op": "events", "seq": 8, "events": [ack_event]})
        assert acks.take("ack")["accepted"] == 1
        acked = frames.take("alert_ack")
        check("AlertAckFrame", acked)
        assert acked["alert"] == alert["id"] and acked["note"] == "ditangani", acked
        changed = frames.take("overview")
        check("OverviewFrame", changed)
        assert changed["seq"] == overview["seq"] + 1, changed
        assert "kasemen-pelayanan" in {row["unit"] for row in changed["units"]}, changed

        ws_send(live, {"op": "subscribe", "unit": "no such unit!"})
        check("ErrorFrame", frames.take("error"))
        for f in frames.all:
            name = {"alert": "AlertFrame", "update": "UpdateFrame", "error": "ErrorFrame",
                    "units": "UnitsFrame", "snapshot": "SnapshotFrame",
                    "overview": "OverviewFrame", "alert_ack": "AlertAckFrame"}[f["op"]]
            check(name, f)
    finally:
        live.close()
        ingest.close()
