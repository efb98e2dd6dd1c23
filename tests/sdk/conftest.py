"""Fixtures for the openkms black-box suite.

The suite starts the real `openkms serve` (target/debug/openkms, or $OPENKMS_BIN) on a free
loopback port with a fresh data directory, or, when OPENKMS_TEST_ENDPOINT=host:port is set, uses
that running server instead (tests that restart/kill the server or read its data dir are then
skipped, and say so).

With OPENKMS_TEST_STORE_URL=postgres://... every server the suite starts uses the PostgreSQL
store (`--store`), each in a fresh schema of that database (dropped when the session ends);
its data directory then holds only the root key and local files.

TLS: `tls_init()` runs `openkms tls init` and returns the paths it wrote (TlsFiles);
ServerHandle(tls=...) starts `openkms serve --tls-cert ... --tls-key ... [--tls-client-ca ...]`
and waits for /readyz over HTTPS, verifying the server against the generated CA. Fixtures:
`tls_server` (one HTTPS server for the session) and `fresh_tls_server` (private ones).
"""
import os
import signal
import socket
import ssl
import subprocess
import uuid
from pathlib import Path

import pytest

import kms_support as ks
from rawkms import RawKms

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


def external_endpoint():
    return os.environ.get("OPENKMS_TEST_ENDPOINT") or None


def store_base_url():
    return os.environ.get("OPENKMS_TEST_STORE_URL") or None


_pg_schemas = []


def fresh_pg_store(base_url):
    """A new schema in the test database, and the store URL that selects it."""
    schema = "sdk_" + uuid.uuid4().hex[:16]
    subprocess.run(["psql", base_url, "-qAtc", "CREATE SCHEMA %s" % schema], check=True)
    _pg_schemas.append((base_url, schema))
    sep = "&" if "?" in base_url else "?"
    return base_url + sep + "options[search_path]=" + schema


def pytest_sessionfinish(session, exitstatus):
    for base_url, schema in _pg_schemas:
        subprocess.run(["psql", base_url, "-qAtc", "DROP SCHEMA IF EXISTS %s CASCADE" % schema],
                       check=False, env=dict(os.environ, PGOPTIONS="--client-min-messages=warning"))


def openkms_binary():
    return Path(os.environ.get("OPENKMS_BIN") or REPO_ROOT / "target" / "debug" / "openkms")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(AssertionError):
    pass


# -- TLS material --------------------------------------------------------------------------------

TLS_INIT_TIMEOUT = 60
# What the suite's TLS servers are issued for: the loopback name and address the tests dial, and
# the public KMS endpoint that clients without an endpoint setting dial (hosts-file recipe).
DEFAULT_TLS_DNS = ("localhost", "kms.cn-hangzhou.aliyuncs.com")
DEFAULT_TLS_IPS = ("127.0.0.1",)
TLS_CLIENT_NAME = "test-client"


class TlsFiles:
    """The files `openkms tls init --out DIR` writes."""

    def __init__(self, out_dir):
        self.dir = Path(out_dir)
        self.ca = self.dir / "ca.pem"
        self.cert = self.dir / "server.pem"          # leaf first, then the CA: the chain served
        self.key = self.dir / "server-key.pem"
        self.client_cert = self.dir / "client.pem"   # with --client NAME only
        self.client_key = self.dir / "client-key.pem"

    def client_context(self, cafile=None, with_client_cert=False):
        """An ssl context that verifies the server (hostname included) against `cafile`
        (default: this set's CA) and, if asked, presents this set's client certificate."""
        ctx = ssl.create_default_context(cafile=str(cafile or self.ca))
        if with_client_cert:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx

    def leaf_der(self):
        """DER bytes of the server's leaf certificate (first PEM block of server.pem)."""
        text = self.cert.read_text()
        start = text.index("-----BEGIN CERTIFICATE-----")
        end = text.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
        return ssl.PEM_cert_to_DER_cert(text[start:end])


def tls_init(out_dir, dns=DEFAULT_TLS_DNS, ips=DEFAULT_TLS_IPS, client=TLS_CLIENT_NAME, extra=()):
    """Run `openkms tls init --out out_dir --dns ... --ip ... [--client NAME]`; fail with its output
    if it fails or leaves a file out. Returns TlsFiles."""
    binary = openkms_binary()
    if not binary.exists():
        raise ServerError("openkms binary not found at %s (build it with `cargo build --bin openkms` "
                          "or set OPENKMS_BIN)" % binary)
    cmd = [str(binary), "tls", "init", "--out", str(out_dir)]
    for name in dns:
        cmd += ["--dns", name]
    for ip in ips:
        cmd += ["--ip", ip]
    if client:
        cmd += ["--client", client]
    cmd += list(extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=TLS_INIT_TIMEOUT)
    out = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise ServerError("`%s` exited with %s:\n%s" % (" ".join(cmd), done.returncode, out))
    files = TlsFiles(out_dir)
    wanted = [files.ca, files.cert, files.key] + ([files.client_cert, files.client_key] if client else [])
    missing = [p.name for p in wanted if not p.is_file()]
    if missing:
        raise ServerError("`openkms tls init` did not write %s; output:\n%s" % (", ".join(missing), out))
    return files


def https_get(host, port, path, context, server_hostname="localhost", timeout=5):
    """One GET over TLS on a new connection to host:port, verifying the server as
    `server_hostname`; returns (status, body, peer leaf certificate DER)."""
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        sock = context.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise
    with sock:
        peer = sock.getpeercert(binary_form=True)
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                      % (path, server_hostname)).encode())
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    reply = b"".join(chunks)
    head, _, body = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise OSError("no HTTP response over TLS: %r" % reply[:200])
    return int(head.split(b" ")[1]), body, peer


class ServerHandle:
    """One openkms process (or an external endpoint). restart() keeps port and data dir."""

    def __init__(self, data_dir=None, log_dir=None, env_overrides=None, endpoint=None, store_url=None,
                 tls=None, tls_client_ca=None, port=None, extra_args=(), listen_host="127.0.0.1"):
        self.external = endpoint is not None
        # TLS (None: plain HTTP, as before): TlsFiles whose cert/key the server serves, and an
        # optional CA file passed as --tls-client-ca (mutual TLS).
        self.tls = tls
        self.tls_client_ca = tls_client_ca
        self.extra_args = list(extra_args)
        self.listen_host = listen_host  # --listen HOST:port; clients still dial 127.0.0.1
        self.data_dir = Path(data_dir) if data_dir else None
        self.log_dir = Path(log_dir) if log_dir else None
        self.process = None
        self.store_url = None
        self.starts = 0
        self.stderr_path = None
        self.access_key_id, self.access_key_secret = ks.credentials()
        if self.external:
            self.endpoint = endpoint
            return
        self.port = port or free_port()
        self.endpoint = "127.0.0.1:%d" % self.port
        # what HTTPS clients dial: a name in the certificate (the address is in it too)
        self.tls_endpoint = "localhost:%d" % self.port
        base_url = store_base_url()
        self.store_url = store_url or (fresh_pg_store(base_url) if base_url else None)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
        env["OPENKMS_ROOT_ACCESS_KEY_ID"] = self.access_key_id
        env["OPENKMS_ROOT_ACCESS_KEY_SECRET"] = self.access_key_secret
        env.update(env_overrides or {})
        if "OPENKMS_ROOT_ACCESS_KEY_ID" in (env_overrides or {}):
            self.access_key_id = env["OPENKMS_ROOT_ACCESS_KEY_ID"]
            self.access_key_secret = env["OPENKMS_ROOT_ACCESS_KEY_SECRET"]
        self.env = env

    # -- lifecycle ------------------------------------------------------------------------

    def require_local(self, why="this test"):
        if self.external:
            pytest.skip("%s needs a server started by the suite (restart/kill/data dir); "
                        "skipped because OPENKMS_TEST_ENDPOINT is set" % why)

    def spawn(self):
        """Start the process without waiting for readiness."""
        self.require_local()
        binary = openkms_binary()
        if not binary.exists():
            raise ServerError("openkms binary not found at %s (build it with `cargo build --bin openkms` "
                              "or set OPENKMS_BIN)" % binary)
        self.starts += 1
        self.stderr_path = self.log_dir / ("stderr-%d.log" % self.starts)
        stdout_path = self.log_dir / ("stdout-%d.log" % self.starts)
        with open(stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [str(binary), "serve", "--listen", "%s:%d" % (self.listen_host, self.port),
                 "--data-dir", str(self.data_dir),
                 "--account-id", ks.ACCOUNT_ID, "--region", ks.REGION]
                + (["--store", self.store_url] if self.store_url else [])
                + self.tls_args() + self.extra_args,
                env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        return self.process

    def tls_args(self):
        if self.tls is None:
            return []
        args = ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        if self.tls_client_ca:
            args += ["--tls-client-ca", str(self.tls_client_ca)]
        return args

    def start(self):
        self.spawn()
        if self.tls is None:
            self.wait_ready()
        else:
            self.wait_ready_tls()
        return self

    def stderr(self):
        if not self.stderr_path or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text("utf-8", "replace")

    def log(self):
        """Everything the current process wrote so far (stderr, then stdout)."""
        text = self.stderr()
        if self.stderr_path is not None:
            out = self.log_dir / ("stdout-%d.log" % self.starts)
            if out.exists():
                text += out.read_text("utf-8", "replace")
        return text

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Poll-connect until the port accepts; fail with stderr if the process exits."""
        waited = 0.0
        step = 0.05
        while waited < timeout:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                pass
            try:
                rc = self.process.wait(timeout=step)  # doubles as the poll interval
            except subprocess.TimeoutExpired:
                waited += step
                continue
            raise ServerError("openkms exited with status %s before accepting connections; stderr:\n%s"
                              % (rc, self.stderr()))
        self.process.kill()
        self.process.wait()
        raise ServerError("openkms did not accept connections on %s within %ss; stderr:\n%s"
                          % (self.endpoint, timeout, self.stderr()))

    def wait_ready_tls(self, timeout=READY_TIMEOUT, cafile=None):
        """Poll GET /readyz over HTTPS (server verified against the CA, or `cafile`; the client
        certificate presented when the server asks for one) until it answers 200."""
        ctx = self.tls.client_context(cafile=cafile, with_client_cert=bool(self.tls_client_ca))
        waited = 0.0
        step = 0.05
        last = None
        while waited < timeout:
            try:
                status, body, _ = https_get("127.0.0.1", self.port, "/readyz", ctx)
                if status == 200:
                    return
                last = "HTTP %s %r" % (status, body[:200])
            except (OSError, ssl.SSLError) as exc:  # not listening yet, or not (yet) TLS
                last = repr(exc)
            try:
                rc = self.process.wait(timeout=step)
            except subprocess.TimeoutExpired:
                waited += step
                continue
            raise ServerError("openkms exited with status %s before answering /readyz over HTTPS; stderr:\n%s"
                              % (rc, self.stderr()))
        self.process.kill()
        self.process.wait()
        raise ServerError("openkms did not answer /readyz over HTTPS on %s within %ss (last: %s); stderr:\n%s"
                          % (self.endpoint, timeout, last, self.stderr()))

    def stop(self):
        """SIGTERM and wait; returns the exit status (None if not running)."""
        if self.external or self.process is None:
            return None
        proc, self.process = self.process, None
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ServerError("openkms did not exit within %ss of SIGTERM; stderr:\n%s"
                              % (STOP_TIMEOUT, self.stderr()))

    def kill9(self):
        self.require_local()
        proc, self.process = self.process, None
        proc.send_signal(signal.SIGKILL)
        return proc.wait()

    def restart(self):
        self.require_local()
        self.stop()
        return self.start()

    # -- clients --------------------------------------------------------------------------

    def client(self, signature="v3", ak=None, sk=None):
        return ks.generated_client(self.endpoint, ak or self.access_key_id, sk or self.access_key_secret, signature)

    def legacy(self, ak=None, sk=None):
        return ks.LegacyKms(self.endpoint, ak or self.access_key_id, sk or self.access_key_secret)

    def raw(self, ak=None, sk=None):
        return RawKms(self.endpoint, ak or self.access_key_id, sk or self.access_key_secret)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared server for the whole session."""
    ext = external_endpoint()
    if ext:
        yield ServerHandle(endpoint=ext)
        return
    base = tmp_path_factory.mktemp("openkms-session")
    data_dir = base / "data"
    data_dir.mkdir()
    handle = ServerHandle(data_dir=data_dir, log_dir=base)
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture
def fresh_server(tmp_path_factory):
    """Factory for private servers (own port, own fresh data dir); all stopped after the test.

    fresh_server() -> started ServerHandle; fresh_server(start=False) -> not started yet;
    fresh_server(store_url=...) -> on that store instead of a fresh one (a second node)."""
    if external_endpoint():
        pytest.skip("needs private servers started by the suite; skipped because OPENKMS_TEST_ENDPOINT is set")
    handles = []

    def make(env_overrides=None, start=True, store_url=None):
        base = tmp_path_factory.mktemp("openkms-fresh")
        data_dir = base / "data"
        data_dir.mkdir()
        h = ServerHandle(data_dir=data_dir, log_dir=base, env_overrides=env_overrides, store_url=store_url)
        handles.append(h)
        if start:
            h.start()
        return h

    yield make
    for h in handles:
        if h.process is not None:
            h.process.kill()
            h.process.wait()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """`openkms tls init --out DIR --dns localhost --dns kms.cn-hangzhou.aliyuncs.com --ip 127.0.0.1
    --client test-client`, once for the session."""
    if external_endpoint():
        pytest.skip("needs the suite's own TLS server; skipped because OPENKMS_TEST_ENDPOINT is set")
    return tls_init(tmp_path_factory.mktemp("openkms-tls") / "tls")


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory, tls_files):
    """One HTTPS-only server for the session (--tls-cert/--tls-key from `tls_files`)."""
    base = tmp_path_factory.mktemp("openkms-tls-session")
    data_dir = base / "data"
    data_dir.mkdir()
    handle = ServerHandle(data_dir=data_dir, log_dir=base, tls=tls_files)
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture
def fresh_tls_server(tmp_path_factory):
    """Factory for private HTTPS servers: fresh_tls_server(tls=TlsFiles | None, tls_client_ca=...,
    port=..., start=True); with tls=None a new `tls init` set is made for it. All are killed
    after the test."""
    if external_endpoint():
        pytest.skip("needs private servers started by the suite; skipped because OPENKMS_TEST_ENDPOINT is set")
    handles = []

    def make(tls=None, tls_client_ca=None, port=None, start=True, env_overrides=None, extra_args=(),
             listen_host="127.0.0.1"):
        base = tmp_path_factory.mktemp("openkms-fresh-tls")
        data_dir = base / "data"
        data_dir.mkdir()
        if tls is None:
            tls = tls_init(base / "tls")
        h = ServerHandle(data_dir=data_dir, log_dir=base, tls=tls, tls_client_ca=tls_client_ca, port=port,
                         env_overrides=env_overrides, extra_args=extra_args, listen_host=listen_host)
        handles.append(h)
        if start:
            h.start()
        return h

    yield make
    for h in handles:
        if h.process is not None:
            h.process.kill()
            h.process.wait()


@pytest.fixture
def kms_client(server):
    """Generated SDK (alibabacloud_kms20160120), default V3 signature."""
    return server.client("v3")


@pytest.fixture
def kms_client_v1(server):
    """Generated SDK with signature_algorithm='v2' (V1 HMAC-SHA1 RPC path)."""
    return server.client("v1")


@pytest.fixture(params=["v3", "v1"])
def any_client(request, server):
    """The generated SDK once with each signature algorithm."""
    return server.client(request.param)


@pytest.fixture
def legacy_client(server):
    """aliyun-python-sdk-kms request classes on AcsClient (V1, everything in the URL)."""
    return server.legacy()


@pytest.fixture
def raw(server):
    return server.raw()


@pytest.fixture
def unique_name():
    """unique_name() / unique_name('prefix') -> a fresh, valid secret name."""
    def make(prefix="sdk-test"):
        return "%s-%s" % (prefix, uuid.uuid4().hex[:16])
    return make
