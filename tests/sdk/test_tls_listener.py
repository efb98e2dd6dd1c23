"""The HTTPS listener of `openkms serve` (--tls-cert, --tls-key, --tls-client-ca, --insecure-http):
TLS only on a TLS port, mutual TLS, certificate reload (SIGHUP and file change) under load with no
failed request, a bad new pair refused while the old one keeps serving, and the refusals and
warnings at start. Each test runs its own server(s)."""
import datetime
import hashlib
import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid

import pytest

import kms_support as ks
from conftest import READY_TIMEOUT, ServerHandle, TlsFiles, free_port, https_get, openkms_binary, tls_init
from rawkms import RawKms

START_FAILURE_TIMEOUT = 20
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RELOAD_TIMEOUT = 15          # the files are polled about every 2 s; SIGHUP is immediate
READERS = 8
VALUE = "served across reloads"


def fingerprint(der):
    return hashlib.sha256(der).hexdigest()[:16]


def raw_over_tls(srv, context):
    return RawKms(srv.tls_endpoint, srv.access_key_id, srv.access_key_secret, context=context)


def bundle(path, *sets):
    """One PEM file trusting the CAs of every given TlsFiles set."""
    path.write_text("".join(s.ca.read_text() for s in sets))
    return path


# The served copies are padded with trailing newlines to fixed sizes, so that a pair can be
# written in place with the size, modification time and inode the server's file watcher compares
# all unchanged: then only SIGHUP can make the server load it.
PADDED = {"server.pem": 8192, "server-key.pem": 2048}


def padded(data, name):
    size = PADDED[name]
    assert len(data) <= size, (name, len(data))
    return data + b"\n" * (size - len(data))


def live_copy(files, live_dir):
    """The server serves copies (live_dir/server.pem, server-key.pem) the tests overwrite."""
    live_dir.mkdir()
    shutil.copy(files.ca, live_dir / "ca.pem")
    for name in PADDED:
        (live_dir / name).write_bytes(padded((files.dir / name).read_bytes(), name))
    os.chmod(live_dir / "server-key.pem", 0o600)
    return TlsFiles(live_dir)


def stamp(path):
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino


def write_unnoticed(path, data):
    """Overwrite in place, restoring the modification time: size, time and inode stay the same."""
    before = os.stat(path)
    with open(path, "r+b") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert stamp(path) == (before.st_size, before.st_mtime_ns, before.st_ino)


def replace_atomically(path, data):
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def install_pair(live, cert_from, key_from, unnoticed=False):
    """Write a cert (chain) and a key over the served files: each replaced atomically (a new
    file), or, with unnoticed=True, written in place where the file watcher cannot see it."""
    put = write_unnoticed if unnoticed else replace_atomically
    put(live.cert, padded(cert_from.cert.read_bytes(), "server.pem"))
    put(live.key, padded(key_from.key.read_bytes(), "server-key.pem"))


def served_leaf(srv, context):
    """The leaf certificate a new connection gets, and the /readyz status on it."""
    status, _, peer = https_get("127.0.0.1", srv.port, "/readyz", context)
    assert status == 200, status
    return peer


def wait_for_leaf(srv, context, want_der, timeout=RELOAD_TIMEOUT):
    """Poll new connections until they get `want_der`; returns the time it was first seen."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = served_leaf(srv, context)
        if seen == want_der:
            return time.monotonic()
        time.sleep(0.1)
    pytest.fail("new connections still get certificate %s, not %s, %ss after the change; log:\n%s"
                % (fingerprint(seen), fingerprint(want_der), timeout, srv.log()))


def no_http_answer(port, context, request=b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n"):
    """Try a TLS connection and one request; returns how it ended: ('handshake', exc),
    ('read', exc), ('eof', b''), or ('http', reply) when an HTTP answer came."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        try:
            sock = context.wrap_socket(raw, server_hostname="localhost")
        except (ssl.SSLError, OSError) as exc:
            return "handshake", exc
        try:
            sock.sendall(request)
            data = sock.recv(65536)
        except (ssl.SSLError, OSError) as exc:
            return "read", exc
        finally:
            sock.close()
        return ("http", data) if data else ("eof", data)
    finally:
        raw.close()


# -- TLS only --------------------------------------------------------------------------------------


def test_a_tls_port_answers_no_plain_http(tls_server):
    s = socket.create_connection(("127.0.0.1", tls_server.port), timeout=10)
    try:
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        reply = b""
        try:
            while len(reply) < 4096:
                data = s.recv(4096)
                if not data:
                    break
                reply += data
        except OSError:
            pass
    finally:
        s.close()
    assert not reply.startswith(b"HTTP/"), "the TLS port answered plain HTTP: %r" % reply[:200]


def test_the_served_chain_verifies_against_the_generated_ca_for_each_name(tls_server, tls_files):
    ctx = tls_files.client_context()
    for name in ("localhost", "kms.cn-hangzhou.aliyuncs.com", "127.0.0.1"):
        status, body, peer = https_get("127.0.0.1", tls_server.port, "/readyz", ctx, server_hostname=name)
        assert (status, body, peer) == (200, b"ready\n", tls_files.leaf_der()), name
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get("127.0.0.1", tls_server.port, "/readyz", ctx, server_hostname="not-in-the-cert.example")


# -- mutual TLS ------------------------------------------------------------------------------------


@pytest.fixture
def mtls_server(fresh_tls_server, tmp_path):
    files = tls_init(tmp_path / "tls")
    return fresh_tls_server(tls=files, tls_client_ca=files.ca), files


def test_mutual_tls_refuses_a_client_without_a_certificate_in_the_handshake(mtls_server):
    srv, files = mtls_server
    how, detail = no_http_answer(srv.port, files.client_context())
    assert how != "http", "a client without a certificate got an HTTP answer: %r" % (detail,)
    # TLS 1.3: the client's side of the handshake ends before the server checks it, so the
    # server's alert arrives on the first read; TLS 1.2 fails inside do_handshake.
    if isinstance(detail, ssl.SSLError):
        assert "CERTIFICATE" in str(detail).upper() or "ALERT" in str(detail).upper(), detail


def test_mutual_tls_refuses_a_certificate_from_another_ca(mtls_server, tmp_path):
    srv, files = mtls_server
    stranger = tls_init(tmp_path / "stranger")
    ctx = files.client_context()
    ctx.load_cert_chain(str(stranger.client_cert), str(stranger.client_key))
    how, detail = no_http_answer(srv.port, ctx)
    assert how != "http", "a client certificate from another CA got an HTTP answer: %r" % (detail,)


def test_mutual_tls_serves_a_signed_request_from_a_client_with_its_certificate(mtls_server, tmp_path):
    srv, files = mtls_server
    raw = raw_over_tls(srv, files.client_context(with_client_cert=True))
    name = ks.unique("mtls")
    created = ks.assert_success_response(raw.v3("CreateSecret", {"SecretName": name, "VersionId": "v1"},
                                                 form={"SecretData": VALUE}))
    assert created["SecretName"] == name
    got = ks.assert_success_response(raw.v3("GetSecretValue", {"SecretName": name}))
    assert got["SecretData"] == VALUE

    # The Tea SDK presents a client certificate through Config.cert (a PEM file holding the
    # certificate and its key; its sync transport ignores Config.key).
    combined = tmp_path / "client-with-key.pem"
    combined.write_text(files.client_cert.read_text() + files.client_key.read_text())
    client = ks.https_client(srv.tls_endpoint, srv.access_key_id, srv.access_key_secret, ca=str(files.ca),
                             cert=str(combined))
    assert ks.body_map(ks.get_secret_value(client, name))["SecretData"] == VALUE


# -- certificate reload under load -----------------------------------------------------------------


class Readers:
    """READERS threads reading one secret with V3-signed requests over HTTPS: the even ones on
    one keep-alive connection each (a new one only if the server closes it), the odd ones on a
    new connection per request. Every request and the certificate its connection got is recorded."""

    def __init__(self, srv, context, name):
        self.srv = srv
        self.context = context
        self.name = name
        self.raw = raw_over_tls(srv, context)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.records = []   # (connected_at, answered_at, keep_alive, leaf fingerprint, ok, detail)
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(READERS)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a reader thread is stuck"

    def run(self, i):
        keep_alive = i % 2 == 0
        conn, connected_at, leaf = None, None, None
        deadline = time.monotonic() + 120  # bounded even if never told to stop
        while not self.stop.is_set() and time.monotonic() < deadline:
            ok, detail = False, None
            try:
                if conn is None:
                    connected_at = time.monotonic()
                    conn = http.client.HTTPSConnection("localhost", self.srv.port, timeout=30, context=self.context)
                    conn.connect()
                    leaf = fingerprint(conn.sock.getpeercert(binary_form=True))
                method, target, headers, body = self.raw.v3_request("GetSecretValue", {"SecretName": self.name})
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200 and json.loads(data).get("SecretData") == VALUE
                detail = None if ok else (resp.status, data[:300])
                if resp.will_close:
                    conn.close()
                    conn = None
            except Exception as exc:  # recorded; the test fails on any
                detail = repr(exc)
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.records.append((connected_at, time.monotonic(), keep_alive, leaf, ok, detail))
            if not keep_alive and conn is not None:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def snapshot(self):
        with self.lock:
            return list(self.records)


def test_certificate_reload_by_sighup_and_by_file_change_under_load_fails_no_request(fresh_tls_server, tmp_path):
    a, b, c = (tls_init(tmp_path / n) for n in ("a", "b", "c"))
    live = live_copy(a, tmp_path / "live")
    srv = fresh_tls_server(tls=live)
    trust = bundle(tmp_path / "trust.pem", a, b, c)
    ctx = ssl.create_default_context(cafile=str(trust))
    name = ks.unique("reload")
    ks.assert_success_response(raw_over_tls(srv, ctx).v3("CreateSecret", {"SecretName": name, "VersionId": "v1"},
                                                         form={"SecretData": VALUE}))
    assert served_leaf(srv, ctx) == a.leaf_der()

    with Readers(srv, ctx, name) as readers:
        time.sleep(1.0)
        # 1. SIGHUP, with the new pair written where the file watcher cannot notice it.
        install_pair(live, b, b, unnoticed=True)
        time.sleep(2.5)  # more than one poll: the watcher has not switched
        assert served_leaf(srv, ctx) == a.leaf_der(), "the server noticed an unnoticeable write"
        srv.process.send_signal(signal.SIGHUP)
        switched_b = wait_for_leaf(srv, ctx, b.leaf_der())
        time.sleep(1.0)
        # 2. File change alone: no signal.
        changing_to_c = time.monotonic()
        install_pair(live, c, c)
        switched_c = wait_for_leaf(srv, ctx, c.leaf_der())
        time.sleep(1.0)
    records = readers.snapshot()

    assert srv.process.poll() is None, "the server exited (SIGHUP must not stop it); log:\n%s" % srv.log()
    log = ANSI.sub("", srv.log())
    for trigger in ("SIGHUP", "file change"):
        assert re.search(r'TLS certificate reloaded.*trigger="?%s' % trigger, log), \
            "no reload by %s in the log:\n%s" % (trigger, log)
    failed = [r for r in records if not r[4]]
    assert not failed, "%d of %d requests failed during the reloads, e.g. %r" % (len(failed), len(records), failed[:5])
    fp = {x: fingerprint(x.leaf_der()) for x in (a, b, c)}
    new_conns = [r for r in records if not r[2]]
    kept = [r for r in records if r[2]]
    assert len(new_conns) >= 20 and len(kept) >= 20, (len(new_conns), len(kept))
    # New connections made after a switch was seen get the new certificate, never an old one.
    after_b = [r for r in new_conns if switched_b < r[0] < changing_to_c]
    after_c = [r for r in new_conns if r[0] > switched_c]
    assert after_b and {r[3] for r in after_b} == {fp[b]}, {r[3] for r in after_b}
    assert after_c and {r[3] for r in after_c} == {fp[c]}, {r[3] for r in after_c}
    # The keep-alive readers were served all along, after both switches too.
    assert any(r[1] > switched_c for r in kept), "no keep-alive request was answered after the second reload"


# "refused the new TLS certificate and key; still serving the previous ones"
BAD_PAIR_LOG = re.compile(r"refused the new TLS certificate", re.IGNORECASE)


def new_log_lines(srv, before):
    return srv.log()[before:].splitlines()


def test_a_new_pair_whose_key_does_not_match_is_refused_and_the_old_one_keeps_serving(fresh_tls_server, tmp_path):
    a, b, c = (tls_init(tmp_path / n) for n in ("a", "b", "c"))
    live = live_copy(a, tmp_path / "live")
    srv = fresh_tls_server(tls=live)
    ctx = ssl.create_default_context(cafile=str(bundle(tmp_path / "trust.pem", a, b, c)))
    name = ks.unique("bad-pair")
    raw = raw_over_tls(srv, ctx)
    ks.assert_success_response(raw.v3("CreateSecret", {"SecretName": name, "VersionId": "v1"},
                                      form={"SecretData": VALUE}))

    # By file change: b's certificate with a's key.
    before = len(srv.log())
    install_pair(live, b, a)
    time.sleep(5)  # more than two polls
    lines = new_log_lines(srv, before)
    assert any(BAD_PAIR_LOG.search(line) for line in lines), \
        "no log line refusing the mismatched pair; new log lines:\n%s" % "\n".join(lines)
    assert served_leaf(srv, ctx) == a.leaf_der(), "a refused pair replaced the served certificate"
    assert ks.assert_success_response(raw.v3("GetSecretValue", {"SecretName": name}))["SecretData"] == VALUE

    # By SIGHUP, the same files: refused again, still serving a's certificate.
    before = len(srv.log())
    srv.process.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    assert srv.process.poll() is None, "the server exited on SIGHUP with a bad pair; log:\n%s" % srv.log()
    lines = new_log_lines(srv, before)
    assert any(BAD_PAIR_LOG.search(line) for line in lines), \
        "no log line refusing the mismatched pair on SIGHUP; new log lines:\n%s" % "\n".join(lines)
    assert served_leaf(srv, ctx) == a.leaf_der()

    # A good pair afterwards is taken up: the refusal did not stop the reloading.
    install_pair(live, c, c)
    wait_for_leaf(srv, ctx, c.leaf_der())
    assert ks.assert_success_response(raw.v3("GetSecretValue", {"SecretName": name}))["SecretData"] == VALUE


# -- refusals and warnings at start ----------------------------------------------------------------


def start_and_expect_exit(tmp_path, *args, listen=None):
    """Run `openkms serve` expecting it to exit; returns (exit status, output)."""
    data_dir = tmp_path / ("data-" + uuid.uuid4().hex[:8])
    data_dir.mkdir()
    cmd = [str(openkms_binary()), "serve", "--data-dir", str(data_dir), "--account-id", ks.ACCOUNT_ID,
           "--region", ks.REGION, "--listen", listen or "127.0.0.1:%d" % free_port()] + [str(a) for a in args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    env["OPENKMS_ROOT_ACCESS_KEY_ID"], env["OPENKMS_ROOT_ACCESS_KEY_SECRET"] = ks.credentials()
    try:
        done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=START_FAILURE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail("openkms kept running with %s; output:\n%s" % (
            " ".join(str(a) for a in args), ((exc.stdout or b"") + (exc.stderr or b"")).decode("utf-8", "replace")))
    return done.returncode, done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")


def test_a_non_loopback_listener_without_tls_is_refused_unless_insecure_http_is_given(tmp_path):
    rc, out = start_and_expect_exit(tmp_path, listen="0.0.0.0:%d" % free_port())
    assert rc != 0, out
    assert "--tls-cert" in out and "--insecure-http" in out, \
        "the refusal should name --tls-cert and --insecure-http:\n%s" % out

    data_dir = tmp_path / "insecure"
    data_dir.mkdir()
    srv = ServerHandle(data_dir=data_dir, log_dir=tmp_path, listen_host="0.0.0.0", extra_args=["--insecure-http"])
    try:
        srv.start()  # plain HTTP, dialled on 127.0.0.1
        name = ks.unique("insecure-http")
        ks.create_secret(srv.client(), name, data=VALUE)
        assert ks.body_map(ks.get_secret_value(srv.client(), name))["SecretData"] == VALUE
    finally:
        srv.stop()


def test_a_key_that_does_not_match_its_certificate_is_refused_at_start(tmp_path):
    a, b = tls_init(tmp_path / "a"), tls_init(tmp_path / "b")
    rc, out = start_and_expect_exit(tmp_path, "--tls-cert", a.cert, "--tls-key", b.key)
    assert rc != 0, out
    assert str(b.key) in out and re.search(r"does not belong|does not match", out, re.IGNORECASE), out


@pytest.mark.parametrize("case", ["missing-file", "a-directory"])
def test_an_unreadable_key_file_is_refused_at_start(tmp_path, case):
    a = tls_init(tmp_path / "a")
    key = tmp_path / "missing-key.pem" if case == "missing-file" else tmp_path / "key-dir"
    if case == "a-directory":
        key.mkdir()
    rc, out = start_and_expect_exit(tmp_path, "--tls-cert", a.cert, "--tls-key", key)
    assert rc != 0, out
    assert str(key) in out and re.search(r"cannot read", out, re.IGNORECASE), out


def make_expired_set(out_dir):
    """CA (valid) + server certificate for localhost/127.0.0.1 that expired yesterday."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out_dir.mkdir()
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired-test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=10)).not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    files = TlsFiles(out_dir)
    files.ca.write_bytes(ca.public_bytes(pem))
    files.cert.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    files.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.chmod(files.key, 0o600)
    return files


def test_an_expired_certificate_starts_with_a_warning_and_is_served(fresh_tls_server, tmp_path):
    files = make_expired_set(tmp_path / "old-set")
    srv = fresh_tls_server(tls=files, start=False)
    srv.spawn()
    deadline = time.monotonic() + READY_TIMEOUT
    outcome = None
    while time.monotonic() < deadline:
        if srv.process.poll() is not None:
            pytest.fail("openkms refused to start with an expired certificate (it should warn); log:\n%s" % srv.log())
        try:
            https_get("127.0.0.1", srv.port, "/readyz", files.client_context())
            outcome = "verified"  # an expired certificate must not verify
            break
        except ssl.SSLCertVerificationError as exc:
            outcome = exc
            break
        except OSError:
            time.sleep(0.05)
    assert isinstance(outcome, ssl.SSLCertVerificationError) and "expired" in str(outcome).lower(), outcome
    # (the test's own paths contain "expired": match the warning itself)
    assert re.search(r"certificate has expired", srv.log(), re.IGNORECASE), \
        "no warning naming the expiry in the log:\n%s" % srv.log()
