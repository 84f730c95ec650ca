"""TLS (SPEC §7, issue 6): with tls_cert and tls_key set, the one port serves
HTTPS and WSS only. A self-signed certificate is made with openssl for each test;
clients trust exactly that certificate (hostname checks on, IP 127.0.0.1 is in
its subjectAltName)."""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess

import msgpack
import pytest

from conftest import INGEST_SECRET, KINERJAD, ROOT, Daemon, service_event

# The daemon's log says "https://" from the configuration alone; these tests ask the port.
PLAIN_ANSWER = ("the port answered in plain text, not TLS: the libwebsockets vhost was "
                "created without TLS (LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT must be in the "
                "options of each vhost's lws_context_creation_info, not only the context's)")


def make_cert(tmp):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def tls(tmp_path):
    cert, key = make_cert(str(tmp_path))
    d = Daemon(tmp_path, extra=f"tls_cert: {cert}\ntls_key: {key}\n").start()
    d.cert = cert
    d.ctx = ssl.create_default_context(cafile=cert)
    yield d
    if d.alive():
        code = d.stop()
        assert code == 0, "kinerjad did not exit cleanly:\n" + "\n".join(d.lines[-30:])
    assert not any("AddressSanitizer" in l or "runtime error" in l for l in d.lines), \
        "\n".join(d.lines[-60:])


def https(d, method, path, body=None, headers=None):
    c = http.client.HTTPSConnection("127.0.0.1", d.port, context=d.ctx, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers or {})
    except ssl.SSLError as e:
        if "WRONG_VERSION_NUMBER" in str(e) or "wrong version number" in str(e):
            pytest.fail(f"{PLAIN_ANSWER}: {e}")
        raise
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def test_healthz_over_https(tls):
    r, data = https(tls, "GET", "/healthz")
    assert (r.status, data) == (200, b"ok\n")


def test_post_events_over_https(tls):
    ev = service_event()
    r, data = https(tls, "POST", "/api/v1/events", json.dumps([ev]).encode(),
                    {"Content-Type": "application/json",
                     "Authorization": f"Bearer {INGEST_SECRET}"})
    assert r.status == 200, data
    body = json.loads(data)
    assert body["accepted"] == 1 and body["rejected"] == [], body
    # the same event again is a duplicate: the first was stored
    r, data = https(tls, "POST", "/api/v1/events", msgpack.packb([ev]),
                    {"Content-Type": "application/msgpack",
                     "Authorization": f"Bearer {INGEST_SECRET}"})
    assert r.status == 200, data
    body = msgpack.unpackb(data)
    assert (body["accepted"], body["duplicates"]) == (0, 1), body


def test_plain_http_gets_no_answer(tls):
    """HTTPS only: a plain request on the port is not served (the TLS handshake
    fails and the connection is closed), and the daemon goes on."""
    c = http.client.HTTPConnection("127.0.0.1", tls.port, timeout=10)
    status = None
    try:
        c.request("GET", "/healthz")
        status = c.getresponse().status
    except (http.client.HTTPException, ConnectionError, socket.timeout):
        pass  # no HTTP answer at all: what we want
    finally:
        c.close()
    assert status != 200, PLAIN_ANSWER
    # a plain WebSocket upgrade is not served either
    import websocket
    with pytest.raises(Exception):
        ws = websocket.create_connection(f"ws://127.0.0.1:{tls.port}/",
                                         subprotocols=["kinerja-ingest.v1"],
                                         header=[f"Authorization: Bearer {INGEST_SECRET}"],
                                         timeout=10)
        ws.close()
    assert tls.alive()
    r, data = https(tls, "GET", "/healthz")
    assert (r.status, data) == (200, b"ok\n")


def test_untrusted_certificate_is_refused_by_the_client(tls, tmp_path):
    """The clients above really check the certificate: one that trusts another
    certificate does not connect."""
    (tmp_path / "other").mkdir()
    other, _ = make_cert(str(tmp_path / "other"))
    ctx = ssl.create_default_context(cafile=other)
    c = http.client.HTTPSConnection("127.0.0.1", tls.port, context=ctx, timeout=10)
    try:
        with pytest.raises(ssl.SSLError) as e:
            c.request("GET", "/healthz")
        if "WRONG_VERSION_NUMBER" in str(e.value):
            pytest.fail(PLAIN_ANSWER)
        assert "CERTIFICATE_VERIFY_FAILED" in str(e.value), e.value
    finally:
        c.close()


def test_wss_ingest(tls):
    import websocket
    try:
        ws = websocket.create_connection(f"wss://127.0.0.1:{tls.port}/",
                                         subprotocols=["kinerja-ingest.v1"],
                                         sslopt={"ca_certs": tls.cert},
                                         header=[f"Authorization: Bearer {INGEST_SECRET}"],
                                         timeout=20)
    except ssl.SSLError as e:
        if "WRONG_VERSION_NUMBER" in str(e) or "wrong version number" in str(e):
            pytest.fail(f"{PLAIN_ANSWER}: {e}")
        raise
    try:
        assert ws.getsubprotocol() == "kinerja-ingest.v1"
        events = [service_event(), service_event()]
        ws.send_binary(msgpack.packb({"op": "events", "seq": 1, "events": events}))
        opcode, data = ws.recv_data()
        assert opcode == websocket.ABNF.OPCODE_BINARY
        ack = msgpack.unpackb(data)
        assert ack["op"] == "ack" and ack["seq"] == 1, ack
        assert (ack["accepted"], ack["duplicates"], ack["rejected"]) == (2, 0, []), ack
        # a second frame on the same TLS connection
        ws.send_binary(msgpack.packb({"op": "events", "seq": 2, "events": events[:1]}))
        ack = msgpack.unpackb(ws.recv_data()[1])
        assert (ack["seq"], ack["accepted"], ack["duplicates"]) == (2, 0, 1), ack
    finally:
        ws.close()


def test_dashboard_over_https_as_a_browser_asks(tls):
    """Browsers offer HTTP/2 by ALPN: whatever the daemon picks, the page and its
    scripts must come back whole. (curl speaks h2; Python's http.client does not.)"""
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    for path, local in (("/", "web/index.html"), ("/app.js", "web/app.js"),
                        ("/node_modules/uplot/dist/uPlot.min.css",
                         "web/node_modules/uplot/dist/uPlot.min.css")):
        if not os.path.exists(os.path.join(ROOT, local)):
            continue
        r = subprocess.run(["curl", "-sS", "--http2", "--cacert", tls.cert, "-o", "-",
                            "-w", "\n%{http_code} %{http_version}",
                            f"https://127.0.0.1:{tls.port}{path}"],
                           capture_output=True, timeout=30)
        body, _, tail = r.stdout.rpartition(b"\n")
        with open(os.path.join(ROOT, local), "rb") as f:
            want = f.read()
        assert r.returncode == 0 and tail.startswith(b"200 "), \
            (f"GET {path} over HTTPS, ALPN h2: curl {r.returncode} {tail!r} {r.stderr!r}; "
             "under HTTP/2 the extra headers given to lws_serve_http_file must be encoded "
             "with lws_add_http_header_by_name (raw \"name: value\\r\\n\" text breaks "
             "the h2 stream), or the vhost must offer only http/1.1 (info.alpn)")
        assert body == want, f"GET {path}: {len(body)} bytes, the file has {len(want)}"
    assert tls.alive()


def test_unusable_certificate_stops_the_start(tmp_path):
    """A certificate that cannot be loaded is an error at start, never a silent
    fall-back to plain HTTP."""
    _, key = make_cert(str(tmp_path))
    missing = os.path.join(str(tmp_path), "missing.pem")
    d = Daemon(tmp_path, extra=f"tls_cert: {missing}\ntls_key: {key}\n")
    proc = subprocess.Popen([KINERJAD, "-c", d.config_path], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, errors="replace")
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        pytest.fail("kinerjad started with a tls_cert that does not exist:\n" + err[-3000:])
    assert proc.returncode != 0, err
    assert "listening on" not in err, err
    assert missing in err, f"the log does not name the certificate:\n{err}"
