"""Each listener binds exactly the address it is given (SPEC §8): the kernel's
own table of listening sockets is read, and a wildcard fails the test."""
import socket
import subprocess

import pytest

from conftest import KINERJAD, Daemon

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp*


def listeners(port):
    """(family, address) of every socket listening on port, from /proc/net."""
    found = []
    for fam, path in (("ipv4", "/proc/net/tcp"), ("ipv6", "/proc/net/tcp6")):
        with open(path) as f:
            next(f)
            for line in f:
                local, state = line.split()[1], line.split()[3]
                addr, p = local.split(":")
                if state != LISTEN or int(p, 16) != port:
                    continue
                raw = bytes.fromhex(addr)
                if fam == "ipv4":
                    found.append((fam, socket.inet_ntop(socket.AF_INET, raw[::-1])))
                else:  # four host-order 32-bit words
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.append((fam, socket.inet_ntop(socket.AF_INET6, words)))
    return found


def start_on(tmp_path, host, auth=True):
    d = Daemon(tmp_path, auth=auth)
    text = open(d.config_path).read()
    with open(d.config_path, "w") as f:
        f.write(text.replace(f'"127.0.0.1:{d.port}"', f'"{host}:{d.port}"'))
    return d.start()


@pytest.mark.parametrize("host,want", [
    ("127.0.0.1", ("ipv4", "127.0.0.1")),
    ("127.0.0.2", ("ipv4", "127.0.0.2")),
    ("[::1]", ("ipv6", "::1")),
    ("[::ffff:127.0.0.1]", ("ipv4", "127.0.0.1")),  # a mapped address is its IPv4 address
])
def test_binds_exactly_the_configured_address(tmp_path, host, want):
    d = start_on(tmp_path, host)
    try:
        assert listeners(d.port) == [want]
        line = d.wait_log("listening on")
        shown = want[1] if want[0] == "ipv4" else f"[{want[1]}]"
        assert f"://{shown}:{d.port}/" in line, line
    finally:
        d.stop()


def test_a_name_is_resolved_at_start_and_auth_off_judged_on_the_bound_address(tmp_path):
    d = start_on(tmp_path, "localhost", auth=False)
    try:
        got = listeners(d.port)
        assert len(got) == 1 and got[0][1] in ("127.0.0.1", "::1"), got
    finally:
        d.stop()


def test_a_name_that_resolves_to_nothing_is_a_configuration_error(tmp_path):
    d = Daemon(tmp_path)
    text = open(d.config_path).read()
    with open(d.config_path, "w") as f:
        f.write(text.replace("127.0.0.1:", "no-such-host.invalid:"))
    r = subprocess.run([KINERJAD, "-c", d.config_path, "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "listen" in r.stderr and "resolves to no address" in r.stderr, r.stderr


def test_auth_off_refused_on_a_wildcard(tmp_path):
    d = Daemon(tmp_path, auth=False)
    text = open(d.config_path).read()
    with open(d.config_path, "w") as f:
        f.write(text.replace("127.0.0.1:", "0.0.0.0:"))
    r = subprocess.run([KINERJAD, "-c", d.config_path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and "auth: false" in r.stderr, r.stderr
    assert listeners(d.port) == []
