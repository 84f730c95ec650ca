"""`make install` (scripts/install.sh) into a DESTDIR, and what the installed files
must do: every file in its place, a working pkg-config file, an example
configuration that kinerjad accepts, a systemd unit that `systemd-analyze verify`
passes, whose sandbox scores low in `systemd-analyze security` and lets through
every system call the daemon makes."""
import os
import re
import shutil
import socket
import subprocess
import threading

import msgpack
import pytest

from conftest import BUILD, INGEST_SECRET, ROOT, Daemon, service_event

# The score measured for systemd/kinerjad.service is 1.1 (systemd 252); a
# removed protection pushes it up, and the list of open items below catches the
# ones too light to move the total.
MAX_EXPOSURE = 1.5
# What the unit leaves open on purpose (see its header comment): a network
# server with no IP allow list, group-readable files, ProtectClock's rtc ACL.
ACCEPTED_OPEN = {
    "RootDirectory=/RootImage=",
    "PrivateNetwork=",
    "IPAddressDeny=",
    "RestrictAddressFamilies=~AF_(INET|INET6)",
    "RestrictAddressFamilies=~AF_UNIX",
    "DeviceAllow=",
    "UMask=",
}


def makefile_version():
    with open(os.path.join(ROOT, "Makefile")) as f:
        m = re.search(r"^VERSION\s*:?=\s*(\S+)", f.read(), re.M)
    assert m, "no VERSION in the Makefile"
    return m.group(1)


VERSION = makefile_version()
PREFIX = "/usr"


def run_install(dest):
    """scripts/install.sh directly (not `make install`, which would build into the
    default build dir and recurse into make)."""
    return subprocess.run(["sh", os.path.join(ROOT, "scripts/install.sh"), str(dest), PREFIX,
                           BUILD, VERSION], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def dest(tmp_path_factory):
    d = tmp_path_factory.mktemp("destdir")
    r = run_install(d)
    assert r.returncode == 0, f"install.sh failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return str(d)


def at(dest, path):
    return os.path.join(dest, path.lstrip("/"))


# ?demo=1 plays a recorded snapshot: kept out of an installed dashboard, where
# it would pass for live data.
DEMO_ONLY = {"demo.js", "fixtures"}


def page_references():
    """The files the dashboard's pages load: relative imports and node_modules paths
    in web/*.html and web/*.js, as paths under the web root. The demo player is
    not installed (DEMO_ONLY), so what only it loads is left out."""
    refs = set()
    web = os.path.join(ROOT, "web")
    for name in os.listdir(web):
        if not name.endswith((".html", ".js")) or name in DEMO_ONLY:
            continue
        with open(os.path.join(web, name)) as f:
            text = f.read()
        for m in re.finditer(r"""(?:from\s+|import\(\s*|src=|href=)['"](\./)?([^'"#?:]+)['"]""", text):
            ref = m.group(2)
            if ref.startswith("/") or "//" in ref or "$" in ref or "{" in ref or ref in DEMO_ONLY:
                continue
            refs.add(ref)
    return refs


def test_every_file_installed(dest):
    for exe in ("/usr/bin/kinerjad", "/usr/bin/kinerja"):
        p = at(dest, exe)
        assert os.path.isfile(p) and os.access(p, os.X_OK), f"{exe} missing or not executable"
    assert os.path.isfile(at(dest, "/usr/lib/libkinerja.a"))
    if os.path.exists(os.path.join(BUILD, "libkinerja.so")):
        assert os.path.isfile(at(dest, "/usr/lib/libkinerja.so"))
    assert os.path.isfile(at(dest, "/usr/include/kinerja/kinerja.h"))
    assert os.path.isfile(at(dest, "/usr/lib/pkgconfig/kinerja.pc"))
    assert os.path.isfile(at(dest, "/usr/lib/systemd/system/kinerjad.service"))
    assert os.path.isfile(at(dest, "/usr/lib/sysusers.d/kinerja.conf"))
    assert os.path.isfile(at(dest, "/etc/kinerja/kinerjad.yaml"))
    for page in ("man8/kinerjad.8", "man1/kinerja.1", "man5/kinerjad.yaml.5"):
        assert os.path.isfile(at(dest, f"/usr/share/man/{page}")), f"{page} not installed"
    assert os.path.isfile(at(dest, "/usr/share/bash-completion/completions/kinerja"))

    web = at(dest, "/usr/share/kinerja/web")
    for name in os.listdir(os.path.join(ROOT, "web")):
        if name.endswith((".html", ".js", ".css", ".svg")) and name not in DEMO_ONLY:
            assert os.path.isfile(os.path.join(web, name)), f"web/{name} not installed"
    for name in DEMO_ONLY:
        assert not os.path.exists(os.path.join(web, name)), f"web/{name} installed"
    refs = page_references()
    assert any(r.startswith("node_modules/") for r in refs), refs
    for ref in refs:
        assert os.path.isfile(os.path.join(web, ref)), f"the dashboard loads {ref}: not installed"
    # only the packages the pages import, not the whole node_modules
    installed = set()
    for top in os.listdir(os.path.join(web, "node_modules")):
        if top.startswith("@"):
            installed |= {f"{top}/{p}" for p in os.listdir(os.path.join(web, "node_modules", top))}
        else:
            installed.add(top)
    imported = {"/".join(r.split("/")[1:3]) if r.split("/")[1].startswith("@") else r.split("/")[1]
                for r in refs if r.startswith("node_modules/")}
    assert installed == imported


def test_unit_and_config_point_into_prefix(dest):
    with open(at(dest, "/usr/lib/systemd/system/kinerjad.service")) as f:
        unit = f.read()
    assert "@" + "bindir@" not in unit
    assert re.search(r"^ExecStart=/usr/bin/kinerjad -c /etc/kinerja/kinerjad.yaml$", unit, re.M)
    with open(at(dest, "/etc/kinerja/kinerjad.yaml")) as f:
        conf = f.read()
    assert re.search(r"^web_root:\s*/usr/share/kinerja/web(\s|$)", conf, re.M), conf[:2000]
    assert re.search(r"^state_dir:\s*/var/lib/kinerja(\s|$)", conf, re.M)


def test_install_again_keeps_the_configuration(dest):
    conf = at(dest, "/etc/kinerja/kinerjad.yaml")
    with open(conf, "a") as f:
        f.write("# an admin's edit\n")
    with open(conf) as f:
        before = f.read()
    r = run_install(dest)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(conf) as f:
        assert f.read() == before, "install.sh overwrote an existing configuration"
    assert "kept" in r.stdout


def test_missing_build_is_a_clear_error(tmp_path):
    r = subprocess.run(["sh", os.path.join(ROOT, "scripts/install.sh"), str(tmp_path / "d"),
                        PREFIX, str(tmp_path / "nobuild"), VERSION],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "missing" in r.stderr and "make" in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "d" / "usr")


def test_pkg_config(dest, tmp_path):
    if not shutil.which("pkg-config"):
        pytest.skip("pkg-config is not installed")
    env = dict(os.environ, PKG_CONFIG_PATH=at(dest, "/usr/lib/pkgconfig"),
               PKG_CONFIG_SYSROOT_DIR=dest)
    r = subprocess.run(["pkg-config", "--cflags", "--libs", "kinerja"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    flags = r.stdout.split()
    assert f"-I{at(dest, '/usr/include/kinerja')}" in flags, flags
    assert f"-L{at(dest, '/usr/lib')}" in flags and "-lkinerja" in flags, flags
    r = subprocess.run(["pkg-config", "--modversion", "kinerja"], env=env,
                       capture_output=True, text=True)
    assert r.stdout.strip() == VERSION, r.stdout + r.stderr

    # The installed header is self-contained and the flags link a program.
    assert os.path.isfile(at(dest, "/usr/include/kinerja/kinerja.h"))
    cc = os.environ.get("CC", "cc")
    if not shutil.which(cc):
        pytest.skip(f"no C compiler ({cc})")
    src = tmp_path / "use.c"
    src.write_text("#include <kinerja.h>\n#include <stdio.h>\n"
                   "int main(void) {\n"
                   "    char id[KJ_ID_MAX + 1];\n"
                   "    kj_event_id_new(id);\n"
                   "    printf(\"%s\\n\", id);\n"
                   "    return 0;\n}\n")
    exe = tmp_path / "use"
    cflags = subprocess.run(["pkg-config", "--cflags", "kinerja"], env=env, capture_output=True,
                            text=True).stdout.split()
    libs = subprocess.run(["pkg-config", "--libs", "kinerja"], env=env, capture_output=True,
                          text=True).stdout.split()
    # a library built with the sanitizers needs them in the program's link too
    san = ["-fsanitize=address,undefined"] if "san" in os.environ.get("KJ_BUILD", "") else []
    r = subprocess.run([cc, "-std=c11", "-Wall", "-Werror", *san, *cflags, str(src), "-o",
                        str(exe), *libs], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # -lkinerja links the shared library where there is one: the loader must
    # find it inside DESTDIR
    run_env = dict(os.environ, LD_LIBRARY_PATH=at(dest, "/usr/lib"))
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=10, env=run_env)
    assert r.returncode == 0 and r.stdout.strip(), r.stdout + r.stderr


def test_example_configuration_checks(dest):
    # --check-config validates keys, values and the time zone; it does not look
    # for web_root or state_dir, so /usr/share/kinerja/web need not exist here.
    conf = at(dest, "/etc/kinerja/kinerjad.yaml")
    r = subprocess.run([at(dest, "/usr/bin/kinerjad"), "--check-config", "-c", conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok" in r.stdout
    example = at(dest, "/usr/share/kinerja/kinerjad.yaml.example")
    r = subprocess.run([at(dest, "/usr/bin/kinerjad"), "--check-config", "-c", example],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def need(tool):
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed")


def test_sysusers_file_parses(dest):
    need("systemd-sysusers")
    r = subprocess.run(["systemd-sysusers", f"--root={dest}", "--dry-run"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "Creating user 'kinerja'" in r.stdout + r.stderr, r.stdout + r.stderr


def test_unit_verifies(dest, tmp_path):
    """systemd-analyze verify checks that ExecStart's program exists at its path on
    this host, and --root= would need the whole of systemd's units inside DESTDIR;
    so the installed unit is verified as a copy whose /usr/bin points into DESTDIR,
    the one difference between the two."""
    need("systemd-analyze")
    with open(at(dest, "/usr/lib/systemd/system/kinerjad.service")) as f:
        unit = f.read()
    bindir = at(dest, "/usr/bin")
    copy = unit.replace("=/usr/bin/kinerjad", f"={bindir}/kinerjad")
    assert copy.count(bindir) == 1, "ExecStart is expected to name /usr/bin/kinerjad once"
    path = tmp_path / "kinerjad.service"
    path.write_text(copy)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and bad values, printing them: both must be clean
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", \
        f"systemd-analyze verify ({r.returncode}):\n{r.stdout}{r.stderr}"


def security(unit_path):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit_path],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert m, f"no exposure score ({r.returncode}):\n{r.stdout}{r.stderr}"
    open_items = set()
    for line in r.stdout.splitlines():
        if line.startswith("✗"):
            open_items.add(line[1:].split()[0])
    return float(m.group(1)), open_items, r.stdout


def test_unit_security_exposure(dest):
    need("systemd-analyze")
    score, open_items, text = security(at(dest, "/usr/lib/systemd/system/kinerjad.service"))
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}:\n{text}"
    assert open_items <= ACCEPTED_OPEN, \
        f"newly exposed: {sorted(open_items - ACCEPTED_OPEN)}\n{text}"


# ---- the unit's system call filter against what the daemon really calls ----

def expand_syscall_group(name, cache={}):
    if name not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                             capture_output=True, text=True).stdout
        calls = set()
        for line in out.splitlines()[1:]:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            calls |= expand_syscall_group(line) if line.startswith("@") else {line}
        cache[name] = calls
    return cache[name]


def unit_syscall_allowlist(unit_text):
    """The effective allow-list of the unit's SystemCallFilter= lines: the first
    (an allow-list) sets it, each ~ line removes from it."""
    allowed = None
    for line in unit_text.splitlines():
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1].strip()
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= expand_syscall_group(item) if item.startswith("@") else {item}
        if deny:
            assert allowed is not None, "a deny-list first: not what this test expects"
            allowed -= names
        else:
            allowed = names if allowed is None else allowed | names
    assert allowed, "no SystemCallFilter= in the unit"
    return allowed


class TracedDaemon(Daemon):
    """kinerjad under strace -f, which writes every system call to a file, with a
    NOTIFY_SOCKET and WATCHDOG_USEC as systemd gives them, so that the notify
    calls are traced too (the datagrams are read and dropped)."""

    def start(self, args=()):
        self.trace = os.path.join(self.tmp, "strace.txt")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(os.path.join(self.tmp, "notify.sock"))
        threading.Thread(target=self._drain_notify, daemon=True).start()
        env = dict(os.environ, NOTIFY_SOCKET=os.path.join(self.tmp, "notify.sock"),
                   WATCHDOG_USEC="1000000")
        self.lines = []
        self.proc = subprocess.Popen(
            ["strace", "-f", "-qq", "-o", self.trace, os.path.join(BUILD, "kinerjad"),
             "-c", self.config_path, *args], env=env,
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, errors="replace")
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.wait_log("listening on", timeout=30)
        return self

    def _drain_notify(self):
        try:
            while self.notify.recv(4096):
                pass
        except OSError:
            pass

    def stop(self, timeout=30):
        # strace's child is the daemon: stop it, strace follows
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            kids = [int(p) for p in f.read().split()]
        for pid in kids:
            os.kill(pid, 15)
        self.proc.wait(timeout)
        try:
            self.notify.shutdown(socket.SHUT_RDWR)  # wakes the drain thread
        except OSError:
            pass
        self.notify.close()
        return self.proc.returncode


def test_syscalls_allowed_by_unit(dest, tmp_path, monkeypatch):
    """Every system call kinerjad makes while starting, serving files, HTTP and
    WebSocket ingest (LMDB commits with fdatasync) and stopping is allowed by the
    installed unit's SystemCallFilter=: a call outside it would fail with EPERM
    only under systemd."""
    need("strace")
    # LeakSanitizer cannot run under ptrace; the leak check is the other tests' job
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    need("systemd-analyze")
    probe = subprocess.run(["strace", "-qq", "-o", "/dev/null", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("strace cannot trace here (ptrace not permitted)")
    with open(at(dest, "/usr/lib/systemd/system/kinerjad.service")) as f:
        allowed = unit_syscall_allowlist(f.read())

    import websocket
    d = TracedDaemon(tmp_path).start()
    try:
        assert d.healthz() == (200, "ok\n")
        status, body, _ = d.post_json([service_event()])
        assert status == 200 and body["accepted"] == 1, body
        r, _ = d.request("GET", "/", token="")
        assert r.status == 200
        ws = websocket.create_connection(f"ws://127.0.0.1:{d.port}/",
                                         subprotocols=["kinerja-ingest.v1"],
                                         header=[f"Authorization: Bearer {INGEST_SECRET}"],
                                         timeout=20)
        try:
            ws.send_binary(msgpack.packb({"op": "events", "seq": 1,
                                          "events": [service_event()]}))
            ack = msgpack.unpackb(ws.recv_data()[1])
            assert ack.get("op") == "ack" and ack.get("accepted") == 1, ack
        finally:
            ws.close()
    finally:
        code = d.stop()
    assert code == 0, "\n".join(d.lines[-30:])

    used = set()
    with open(d.trace) as f:
        for line in f:
            m = re.match(r"\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", line)
            if m and m.group(1) not in ("resumed", "exited", "killed"):
                used.add(m.group(1))
    # execve is strace starting the program; under systemd it happens before the filter
    used.discard("execve")
    for must in ("fdatasync", "mmap", "futex"):
        assert must in allowed, f"{must} (LMDB) is not allowed by the unit"
    assert used, "strace recorded nothing"
    assert used <= allowed, f"kinerjad calls what the unit forbids: {sorted(used - allowed)}"
