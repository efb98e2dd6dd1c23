"""The listener against hostile clients (issue 13), on the real binary over raw sockets.

These are robustness tests, not timing tests: every bound has a wide margin. Exact costs live in
docs/benchmarks.md. Servers here are private (fresh_server) and started with short deadlines
through the OPENKMS_* variables of the serve flags, so the tests are quick.
"""
import os
import resource
import selectors
import socket
import subprocess
import time
import uuid

import pytest

import kms_support as ks
import signer
from conftest import ServerHandle, free_port, openkms_binary

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the command: state is field 3, utime 14, stime 15 (1-based in proc(5))
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def connect(endpoint, timeout=10):
    host, port = endpoint.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_until_closed(sock, timeout=20):
    """Everything the server sends until it closes (or `timeout`); None if still open then."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)
    except ConnectionResetError:
        return b"".join(chunks)
    except socket.timeout:
        return None


def status_of(raw):
    assert raw, "no answer"
    return int(raw.split(b" ", 2)[1])


class LimitedServer(ServerHandle):
    """A ServerHandle whose process starts under a file descriptor limit."""

    def __init__(self, nofile, **kw):
        super().__init__(**kw)
        self.nofile = nofile

    def spawn(self):
        binary = openkms_binary()
        self.starts += 1
        self.stderr_path = self.log_dir / ("stderr-%d.log" % self.starts)
        stdout_path = self.log_dir / ("stdout-%d.log" % self.starts)
        nofile = self.nofile

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        with open(stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [str(binary), "serve", "--listen", self.endpoint, "--data-dir", str(self.data_dir),
                 "--account-id", ks.ACCOUNT_ID, "--region", ks.REGION]
                + (["--store", self.store_url] if self.store_url else []),
                env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, preexec_fn=limit)
        return self.process


@pytest.fixture
def raise_own_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 5000:
        pytest.skip("needs 5000 file descriptors for the client side; the hard limit is %d" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_trickling_and_silent_connections_do_not_stall_a_normal_client(fresh_server, raise_own_fd_limit):
    srv = fresh_server(env_overrides={"OPENKMS_HEAD_TIMEOUT": "3"})
    client = srv.client()
    name = "listener-%s" % uuid.uuid4().hex[:12]
    ks.create_secret(client, name, data="still-served")

    trickling = []
    for _ in range(2000):
        s = connect(srv.endpoint)
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: ")
        s.setblocking(False)
        trickling.append(s)
    silent = [connect(srv.endpoint) for _ in range(200)]
    opened = time.monotonic()

    # A normal client is served while all of them are open.
    started = time.monotonic()
    assert ks.get_secret_value(client, name).body.secret_data == "still-served"
    assert time.monotonic() - started < 20, "served promptly, with a wide margin"

    # Trickle one byte per second on every connection: each read is far within any per-read
    # timeout, so only a deadline for the whole head closes them.
    open_socks = set(trickling)
    answers = {}
    while open_socks and time.monotonic() - opened < 40:
        for s in list(open_socks):
            try:
                s.send(b"a")
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                open_socks.discard(s)
                continue
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                open_socks.discard(s)
                continue
            if data:
                answers[s] = answers.get(s, b"") + data
            else:
                open_socks.discard(s)
        time.sleep(1)
    assert not open_socks, "%d trickling connections were still open after 40 s" % len(open_socks)
    assert time.monotonic() - opened < 40
    got_408 = sum(1 for a in answers.values() if a.startswith(b"HTTP/1.1 408"))
    assert got_408 > 1000, "most trickling connections were answered 408 (got %d)" % got_408
    for s in silent:
        assert read_until_closed(s, timeout=30) is not None, "silent connections are closed too"
    for s in trickling + silent:
        s.close()
    assert ks.get_secret_value(client, name).body.secret_data == "still-served"


def distinct_names(count):
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    names = list(alphabet)
    names += [a + b for a in alphabet for b in alphabet]
    names += [a + b + c for a in alphabet for b in alphabet for c in alphabet]
    return names[:count]


def many_names_body():
    body = "&".join(distinct_names(240_000)).encode()
    assert len(body) <= 1024 * 1024
    return body


def post_form(endpoint, body):
    s = connect(endpoint, timeout=30)
    s.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n"
              b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body)
    raw = read_until_closed(s, timeout=30)
    s.close()
    return raw


def test_a_body_of_240000_distinct_names_is_refused_at_once(server):
    body = many_names_body()
    pid = server.process.pid if server.process else None
    before = cpu_seconds(pid) if pid else None
    raw = post_form(server.endpoint, body)
    assert status_of(raw) == 400, raw[:300]
    assert b"InvalidParameter" in raw and b"more than 1000 parameters" in raw, raw[:500]
    if pid:
        # Wide margin: the quadratic check took minutes; the capped decode takes milliseconds.
        assert cpu_seconds(pid) - before < 2.0


def test_a_v3_claim_repeating_a_signed_header_is_refused_without_memory_growth(server, raw):
    server.require_local("reading the server's RSS")
    method, target, headers, body = raw.v3_request("GetSecretValue", form={"SecretName": "x"})
    auth = headers["Authorization"]
    prefix, rest = auth.split("SignedHeaders=", 1)
    signed, after = rest.split(",", 1)
    # 100 000 names of a 20 KB header in a 220 KB head (under the 256 KiB head limit, so the
    # claim itself is what refuses it): built naively, a 2 GB canonical request.
    repeated = ";".join([signed] + ["b"] * 100_000)
    headers["Authorization"] = prefix + "SignedHeaders=" + repeated + "," + after
    headers["b"] = "v" * 20_000
    head = "%s %s HTTP/1.1\r\n" % (method, target)
    head += "".join("%s: %s\r\n" % kv for kv in headers.items())
    head += "content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    pid = server.process.pid
    rss_before = rss_kib(pid)
    s = connect(server.endpoint, timeout=30)
    s.sendall(head.encode() + body)
    answer = read_until_closed(s, timeout=30)
    s.close()
    assert status_of(answer) == 400, answer[:300]
    assert b"IncompleteSignature" in answer, answer[:500]
    grown_mib = (rss_kib(pid) - rss_before) / 1024
    assert grown_mib < 16, "RSS grew by %.1f MiB" % grown_mib


@pytest.mark.parametrize("max_connections", [None, 10_000], ids=["derived-cap", "cap-above-fd-limit"])
def test_running_out_of_descriptors_neither_spins_nor_floods_the_log(tmp_path, max_connections):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {"OPENKMS_HEAD_TIMEOUT": "60"}
    if max_connections:
        env["OPENKMS_MAX_CONNECTIONS"] = str(max_connections)
    srv = LimitedServer(256, data_dir=data_dir, log_dir=tmp_path, env_overrides=env)
    srv.start()
    try:
        client = srv.client()
        name = "fd-%s" % uuid.uuid4().hex[:12]
        ks.create_secret(client, name, data="back")
        pid = srv.process.pid
        started = time.monotonic()
        socks = []
        for _ in range(400):
            # Non-blocking: past the backlog a connect would wait for SYN retries.
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", srv.port))
            socks.append(s)
        time.sleep(0.5)
        before = cpu_seconds(pid)
        time.sleep(5)
        spent = cpu_seconds(pid) - before
        assert spent < 2.0, "the server used %.2f s of CPU in 5 s while out of descriptors" % spent
        for s in socks:
            s.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                assert ks.get_secret_value(client, name).body.secret_data == "back"
                break
            except AssertionError:
                raise
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        lines = srv.stderr().splitlines()
        noisy = [l for l in lines if "accept" in l or "connection cap" in l]
        # At most one warning of a kind per 10 s, each with the count it stands for.
        allowed = 2 * (2 + (time.monotonic() - started) / 10)
        assert len(noisy) <= allowed, noisy
        assert len(lines) < 60, "%d log lines" % len(lines)
    finally:
        srv.process.kill()
        srv.process.wait()


SMUGGLING = {
    "length-and-chunked": b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunked-and-length": b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n",
    "signed-length": b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: +5\r\n\r\nhello",
    "chunked-on-http-1.0": b"POST / HTTP/1.0\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("shape", sorted(SMUGGLING))
def test_smuggling_shapes_get_400_and_the_connection_closes(server, shape):
    s = connect(server.endpoint)
    s.sendall(SMUGGLING[shape] + b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
    raw = read_until_closed(s, timeout=20)
    s.close()
    assert raw is not None, "the connection is closed"
    assert status_of(raw) == 400, raw
    assert raw.count(b"HTTP/1.1 ") == 1, "nothing after the 400 is served: %r" % raw


def get(endpoint, path):
    s = connect(endpoint)
    s.sendall(b"GET %s HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n" % path.encode())
    raw = read_until_closed(s)
    s.close()
    return status_of(raw), raw.split(b"\r\n\r\n", 1)[1]


def test_health_endpoints_answer_on_the_api_listener(server):
    assert get(server.endpoint, "/healthz") == (200, b"ok\n")
    assert get(server.endpoint, "/readyz") == (200, b"ready\n")


def test_health_endpoints_and_metrics_on_the_metrics_listener(fresh_server):
    port = free_port()
    srv = fresh_server(env_overrides={"OPENKMS_METRICS_LISTEN": "127.0.0.1:%d" % port})
    metrics = "127.0.0.1:%d" % port
    for _ in range(3):
        assert get(srv.endpoint, "/healthz")[0] == 200
    client = srv.client()
    with pytest.raises(Exception):
        ks.describe_secret(client, "no-such-%s" % uuid.uuid4().hex[:8])
    assert get(metrics, "/healthz") == (200, b"ok\n")
    assert get(metrics, "/readyz") == (200, b"ready\n")
    status, text = get(metrics, "/metrics")
    assert status == 200
    assert b"openkms_requests_total" in text
    assert b"healthz" not in text and b"readyz" not in text, "health checks are not counted as actions"
    assert get(metrics, "/other")[0] == 404
