"""The Debian packages of `make deb`, installed on this machine (a CI box or a
developer's throwaway one: it needs root, and installs, removes and purges the
packages for real), and what an admin then finds: the user, the conffile, a
unit that verifies, a daemon that serves with the installed files, a library
that links, and a store that survives `remove` and goes with `purge` only.

Run by `make check-packages` after `make deb` (KJ_DEB_DIR, default build/deb).
Where systemd runs as PID 1 the service is started by systemctl; elsewhere (a
container) the unit's ExecStart runs as its User=, on a free port."""
import glob
import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEB_DIR = os.path.join(ROOT, os.environ.get("KJ_DEB_DIR", "build/deb"))
PACKAGES = ["kinerjad", "kinerja", "libkinerja0", "libkinerja-dev"]
STATE = "/var/lib/kinerja"
CONF = "/etc/kinerja/kinerjad.yaml"
UNIT = "/lib/systemd/system/kinerjad.service"
SYSTEMD_RUNS = os.path.isdir("/run/systemd/system")

if os.geteuid() != 0:
    pytest.skip("installs packages on this machine: run as root (CI)", allow_module_level=True)


def run(*args, check=True, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=600, **kw)
    if check:
        assert r.returncode == 0, f"{' '.join(args)} ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def apt(*args):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return run("apt-get", "-y", "-q", "--no-install-recommends", *args, env=env)


def installed(pkg):
    r = run("dpkg-query", "-W", "-f=${Status}", pkg, check=False)
    return r.returncode == 0 and "installed" in r.stdout.split()[-1:]


def deb(pkg):
    found = glob.glob(os.path.join(DEB_DIR, f"{pkg}_*.deb"))
    assert len(found) == 1, f"{pkg}: {found} in {DEB_DIR}: run make deb first"
    return found[0]


@pytest.fixture(scope="module")
def packages():
    for pkg in PACKAGES:
        assert not installed(pkg), \
            f"{pkg} is installed already: this test would replace and purge it; remove it first"
    apt("install", *[deb(p) for p in PACKAGES])
    yield
    apt("purge", *PACKAGES)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_user_exists(packages):
    u = pwd.getpwnam("kinerja")
    assert u.pw_dir == STATE
    assert u.pw_shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"), u.pw_shell
    assert u.pw_uid < 1000, f"not a system user: uid {u.pw_uid}"


def test_files_where_debian_puts_them(packages):
    files = set(run("dpkg", "-L", *PACKAGES).stdout.split())
    arch = run("dpkg-architecture", "-qDEB_HOST_MULTIARCH").stdout.strip()
    for f in ["/usr/bin/kinerjad", "/usr/bin/kinerja", UNIT, CONF,
              "/usr/lib/sysusers.d/kinerja.conf", "/usr/share/kinerja/web/index.html",
              "/usr/share/man/man8/kinerjad.8.gz", "/usr/share/man/man1/kinerja.1.gz",
              "/usr/share/man/man5/kinerjad.yaml.5.gz",
              "/usr/share/bash-completion/completions/kinerja",
              "/usr/share/doc/kinerjad/openapi.yaml",
              f"/usr/lib/{arch}/libkinerja.so.0", f"/usr/lib/{arch}/libkinerja.so",
              f"/usr/lib/{arch}/libkinerja.a", f"/usr/lib/{arch}/pkgconfig/kinerja.pc",
              "/usr/include/kinerja/kinerja.h"]:
        assert f in files, f"{f} is not in the packages"
        assert os.path.exists(f), f
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "kinerjad").stdout
    assert CONF in conffiles, conffiles
    assert os.path.islink("/etc/systemd/system/multi-user.target.wants/kinerjad.service"), \
        "the service is not enabled"


def test_unit_verifies(packages, tmp_path):
    r = run("systemd-analyze", "verify", "--man=no", UNIT, check=False, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", \
        r.stdout + r.stderr
    r = run("/usr/bin/kinerjad", "--check-config", "-c", CONF)
    assert "ok" in r.stdout


def test_man_pages_open(packages):
    for name in ("kinerjad", "kinerja", "kinerjad.yaml"):
        r = run("man", "--warnings", name, env=dict(os.environ, MANPAGER="cat", MANWIDTH="80"))
        assert r.stderr == "" and "NAME" in r.stdout, name + r.stderr


def test_library_links(packages, tmp_path):
    src = tmp_path / "use.c"
    src.write_text("#include <kinerja.h>\n#include <stdio.h>\n"
                   "int main(void) { char id[KJ_ID_MAX + 1]; kj_event_id_new(id);\n"
                   "    return printf(\"%s\\n\", id) > 0 ? 0 : 1; }\n")
    flags = run("pkg-config", "--cflags", "--libs", "kinerja").stdout.split()
    run("cc", "-std=c11", "-Wall", "-Werror", str(src), "-o", str(tmp_path / "use"), *flags)
    assert "libkinerja.so.0" in run("ldd", str(tmp_path / "use")).stdout
    assert run(str(tmp_path / "use")).stdout.strip()


def get(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_healthy(url, proc=None, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc is None or proc.poll() is None, f"kinerjad exited: {proc.stderr.read()}"
        try:
            if get(url + "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)  # polls a port that is not open yet: no event to wait for
    raise AssertionError(f"{url}/healthz did not answer 200 within {timeout}s")


def post_one(url, token):
    body = ('{"id":"pkg-1","type":"service","ts":%d,"unit":"kasemen-pelayanan",'
            '"employee":"198706152010012002","counter":"loket-1","wait_ms":1,"service_ms":2}'
            % int(time.time() * 1000)).encode()
    req = urllib.request.Request(url + "/api/v1/events", data=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200 and b'"accepted":1' in r.read()


def test_service_starts_and_stores(packages, request):
    """The installed daemon, as the unit runs it, serves the installed dashboard
    and stores an event under /var/lib/kinerja."""
    secret = "package-test-secret"
    with open(CONF) as f:
        conf = f.read()
    # the ops token of the example, with a digest we know the secret of
    conf = conf.replace("0" * 63 + "4", hashlib.sha256(secret.encode()).hexdigest())
    if SYSTEMD_RUNS:
        with open(CONF, "w") as f:
            f.write(conf)
        run("systemctl", "restart", "kinerjad")
        url = "http://127.0.0.1:7070"
        wait_healthy(url)
        assert run("systemctl", "is-active", "kinerjad").stdout.strip() == "active"
        proc = None
    else:
        port = free_port()
        conf = re.sub(r'^listen:.*$', f'listen: "127.0.0.1:{port}"', conf, flags=re.M)
        # pytest's tmp_path is under a root-only directory: the user could not read it
        confdir = tempfile.mkdtemp(prefix="kinerja-pkg-")
        request.addfinalizer(lambda: shutil.rmtree(confdir))
        os.chmod(confdir, 0o755)
        path = os.path.join(confdir, "kinerjad.yaml")
        with open(path, "w") as f:
            f.write(conf)
        os.chmod(path, 0o644)
        # what StateDirectory= and StateDirectoryMode= make
        os.makedirs(STATE, mode=0o750, exist_ok=True)
        shutil.chown(STATE, "kinerja", "kinerja")
        url = f"http://127.0.0.1:{port}"
        # setpriv execs the daemon itself (runuser would stay between, and
        # answer SIGTERM with its own exit status)
        proc = subprocess.Popen(["setpriv", "--reuid=kinerja", "--regid=kinerja", "--init-groups",
                                 "--", "/usr/bin/kinerjad", "-c", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        wait_healthy(url, proc)
    try:
        status, page = get(url + "/")
        assert status == 200 and b"<html" in page.lower()
        post_one(url, secret)
        status, body = get(url + "/metrics", secret)
        assert status == 200 and b"kinerja_stored_events 1" in body, body[:2000]
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, proc.stderr.read()
        else:
            run("systemctl", "stop", "kinerjad")
    assert os.path.exists(os.path.join(STATE, "data.mdb"))
    assert os.stat(os.path.join(STATE, "data.mdb")).st_uid == pwd.getpwnam("kinerja").pw_uid


def test_remove_keeps_the_store_purge_deletes_it(packages):
    """Runs last in this module (pytest keeps the file's order)."""
    assert os.path.exists(os.path.join(STATE, "data.mdb")), "no store to keep: run the whole file"
    apt("remove", "kinerjad")
    assert not os.path.exists("/usr/bin/kinerjad")
    assert os.path.exists(os.path.join(STATE, "data.mdb")), "remove deleted the store"
    assert os.path.exists(CONF), "remove deleted the configuration"
    apt("purge", "kinerjad")
    assert not os.path.exists(STATE), "purge left the store"
    assert not os.path.exists("/etc/kinerja"), "purge left /etc/kinerja"
    assert not os.path.exists("/etc/systemd/system/multi-user.target.wants/kinerjad.service")
    pwd.getpwnam("kinerja")  # Debian keeps system users: files may still be theirs
