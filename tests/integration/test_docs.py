"""The man pages and the bash completion against the programs they describe:
kinerjad.yaml(5) documents every key of examples/kinerjad.yaml (the file that
shows every key the daemon takes), kinerja(1) every subcommand and every flag
that `kinerja CMD --help` lists, kinerjad(8) every option; each page renders
without a groff warning; the completion offers the subcommands, each one's
flags, and the units the daemon serves."""
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ADMIN_SECRET, BUILD, INGEST_SECRET, ROOT, Daemon

MAN = os.path.join(ROOT, "docs/man")
PAGES = ["kinerjad.8", "kinerja.1", "kinerjad.yaml.5"]
COMPLETION = os.path.join(ROOT, "client/kinerja.bash-completion")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


def page(name):
    with open(os.path.join(MAN, name)) as f:
        return f.read()


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, **kw)


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_without_warnings(name):
    path = os.path.join(MAN, name)
    r = run("groff", "-ww", "-man", "-Tutf8", "-z", path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = run("man", "--warnings", "-l", path, env=dict(os.environ, MANPAGER="cat", PAGER="cat",
                                                       MANWIDTH="80"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert len(r.stdout.splitlines()) > 30, r.stdout


def example_keys(node, prefix=""):
    """Every key path of the example configuration: top-level keys as they
    are, keys of list items under their list's name (tokens.role,
    units.members.id)."""
    keys = set()
    items = node if isinstance(node, list) else [node]
    for item in items:
        if not isinstance(item, dict):
            continue
        for k, v in item.items():
            path = f"{prefix}{k}"
            keys.add(path)
            if isinstance(v, (dict, list)):
                keys |= example_keys(v, path + ".")
    return keys


def documented_terms(text):
    """The .TP terms of each subsection: {"": top-level terms, "tokens": ...}."""
    terms, section, lines = {"": set()}, "", text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".SS "):
            section = line[4:].strip()
            terms.setdefault(section, set())
        elif line.startswith(".SH "):
            section = ""
        elif line == ".TP" and i + 1 < len(lines):
            m = re.match(r"\.BR? (\S+)", lines[i + 1])
            if m:
                terms[section].add(m.group(1).replace("\\-", "-"))
    return terms


def example_config():
    """examples/kinerjad.yaml with its commented-out cluster block taken in:
    the block is left out by default (a node without NATS) but documents the
    keys all the same (as tests/unit/test_config.c reads it)."""
    with open(os.path.join(ROOT, "examples/kinerjad.yaml")) as f:
        lines, inside = [], False
        for line in f:
            if line.startswith("# cluster:"):
                inside = True
            elif inside and not line.startswith("#   "):
                inside = False
            lines.append(line[2:] if inside else line)
    return yaml.safe_load("".join(lines))


def test_config_page_documents_every_key():
    keys = example_keys(example_config())
    assert {"listen", "tokens.sha256", "units.members.id", "indicators.overrides.target",
            "evaluation.above_pct", "cluster.nats", "cluster.publish_timeout"} <= keys
    terms = documented_terms(page("kinerjad.yaml.5"))
    missing = []
    for key in sorted(keys):
        top, _, rest = key.partition(".")
        if rest:
            ok = rest in terms.get(top, set())
        else:
            ok = key in terms[""]
        if not ok:
            missing.append(key)
    assert not missing, f"keys of examples/kinerjad.yaml missing from kinerjad.yaml(5): {missing}"
    # and nothing more: a key the daemon would refuse as unknown is not documented
    documented = set(terms[""]) | {f"{sec}.{t}" for sec, ts in terms.items() if sec for t in ts}
    assert documented - keys == set(), f"documented but not a key: {sorted(documented - keys)}"


def help_text(*args):
    r = run(os.path.join(BUILD, args[0]), *args[1:], "--help")
    return r.stdout + r.stderr


def subcommands():
    cmds = re.findall(r"^  ([a-z]+)\s{2,}", help_text("kinerja"), re.M)
    assert len(cmds) >= 6, cmds
    return cmds


def long_flags(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))


def test_kinerja_page_has_every_subcommand_and_flag():
    text = page("kinerja.1")
    sections = set(re.findall(r"^\.SS (\S+)$", text, re.M))
    plain = text.replace("\\-", "-")
    for cmd in subcommands():
        assert cmd in sections, f"kinerja(1) has no section for {cmd}"
        for flag in long_flags(help_text("kinerja", cmd)) - {"--help"}:
            assert flag in plain, f"kinerja(1) does not mention {cmd} {flag}"


def test_kinerjad_page_has_every_option():
    plain = page("kinerjad.8").replace("\\-", "-")
    flags = long_flags(help_text("kinerjad"))
    assert {"--config", "--check-config", "--rebuild"} <= flags
    for flag in flags:
        assert flag in plain, f"kinerjad(8) does not mention {flag}"


def complete(line, env=None):
    """What the completion offers for the words of line (the last one being completed)."""
    if not os.path.exists(BASH_COMPLETION):
        pytest.fail(f"{BASH_COMPLETION} is missing: scripts/deps.sh test installs bash-completion")
    words = line.split(" ")
    script = (f"source {BASH_COMPLETION}; source {COMPLETION}; "
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
              f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}; _kinerja; "
              "printf '%s\\n' \"${COMPREPLY[@]}\"")
    r = run("bash", "-c", script, env=dict(os.environ, **(env or {})))
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_completion_offers_subcommands_and_every_flag():
    assert complete("kinerja ") >= set(subcommands())
    assert complete("kinerja sn") == {"snapshot"}
    for cmd in subcommands():
        offered = complete(f"kinerja {cmd} -")
        flags = long_flags(help_text("kinerja", cmd))
        assert flags <= offered, f"kinerja {cmd}: not completed: {sorted(flags - offered)}"
    assert complete("kinerja post --type ") == {"task", "service", "rating", "presence",
                                                 "ticket", "assessment", "feedback", "ack"}
    assert complete("kinerja feedback --kind ") == {"praise", "coaching", "dialog"}
    assert complete("kinerja post --type feedback --kind ") == {"praise", "coaching", "dialog"}
    assert complete("kinerja post --type task --kind ") == set()
    assert complete("kinerja post --type presence --state ") == {"available", "serving", "break",
                                                                 "offline"}
    assert complete("kinerja post --type ticket --state ") == {"issued", "called", "cancelled"}
    assert complete("kinerja export --format ") == {"csv", "ndjson"}
    assert complete("kinerja rapor --format ") == {"text", "json", "csv"}


def test_completion_offers_the_daemons_units(tmp_path):
    if not shutil.which("curl"):
        pytest.fail("curl is missing: the completion asks the daemon through it")
    d = Daemon(tmp_path).start()
    try:
        env = {"KINERJA_URL": d.url, "KINERJA_TOKEN": INGEST_SECRET}
        # the ingest token may not read: nothing, and no error
        assert complete("kinerja watch --unit ", env) == set()
        env["KINERJA_TOKEN"] = ADMIN_SECRET
        assert complete("kinerja watch --unit ", env) == {"kasemen", "perizinan"}
        assert complete("kinerja snapshot --unit per", env) == {"perizinan"}
    finally:
        assert d.stop() == 0


# ---- examples/prometheus: the alert rules and the Grafana dashboard ----

PROM = os.path.join(ROOT, "examples/prometheus")


def promtool(*args):
    if not shutil.which("promtool"):
        pytest.fail("promtool is missing: scripts/deps.sh test installs prometheus")
    return run("promtool", *args, cwd=PROM)


def test_alert_rules_check_and_fire():
    r = promtool("check", "rules", "kinerja-alerts.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    # the unit tests beside them: each rule fires on its input and not on health
    r = promtool("test", "rules", "kinerja-alerts.test.yml")
    assert r.returncode == 0, r.stdout + r.stderr


def exported_series(text):
    names = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
    return names


def test_rules_and_dashboard_name_only_exported_series(tmp_path):
    import json
    with open(os.path.join(PROM, "kinerja-alerts.yml")) as f:
        rules = yaml.safe_load(f)
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    with open(os.path.join(PROM, "kinerja-dashboard.json")) as f:
        board = json.load(f)
    panel_exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len(panel_exprs) >= 10
    # a node of a NATS JetStream cluster: it exports every series a node without
    # one does, and the kinerja_cluster_* ones (SPEC section 17)
    if not shutil.which("nats-server"):
        pytest.fail("nats-server is missing: scripts/deps.sh test installs it")
    from test_cluster import NatsServer
    nats = NatsServer(tmp_path / "nats", "solo").start()
    try:
        home = tmp_path / "node"
        home.mkdir()
        d = Daemon(home, extra=f'cluster:\n  nats: ["{nats.url}"]\n  replicas: 1\n'
                                            f'  node: docs-1\n').start()
        try:
            d.wait_log("cluster: consuming", timeout=60)
            r, body = d.request("GET", "/metrics", token=ADMIN_SECRET)
            assert r.status == 200
        finally:
            assert d.stop() == 0
    finally:
        nats.stop()
    exported = exported_series(body.decode())
    assert {"kinerja_commit_seconds_bucket", "kinerja_cluster_lag_events"} <= exported
    named = set()
    for e in exprs + panel_exprs:
        named |= set(re.findall(r"\b(kinerja_[a-z_]+)", e))
    assert named - exported == set(), f"series not exported by kinerjad: {sorted(named - exported)}"
    # and the board shows every series the daemon exports
    on_board = set()
    for e in panel_exprs:
        on_board |= set(re.findall(r"\b(kinerja_[a-z_]+)", e))
    # (a histogram's name stands for its _bucket series; the build is the
    # board's instance list)
    left_out = {n for n in exported if n + "_bucket" not in exported} - on_board
    assert left_out <= {"kinerja_build_info"}, f"not on the Grafana board: {sorted(left_out)}"
