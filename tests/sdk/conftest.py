"""Fixtures for the openkms black-box suite.

The suite starts the real `openkms serve` (target/debug/openkms, or $OPENKMS_BIN) on a free
loopback port with a fresh data directory, or, when OPENKMS_TEST_ENDPOINT=host:port is set, uses
that running server instead (tests that restart/kill the server or read its data dir are then
skipped, and say so).

With OPENKMS_TEST_STORE_URL=postgres://... every server the suite starts uses the PostgreSQL
store (`--store`), each in a fresh schema of that database (dropped when the session ends);
its data directory then holds only the root key and local files.
"""
import os
import signal
import socket
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


class ServerHandle:
    """One openkms process (or an external endpoint). restart() keeps port and data dir."""

    def __init__(self, data_dir=None, log_dir=None, env_overrides=None, endpoint=None, store_url=None):
        self.external = endpoint is not None
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
        self.port = free_port()
        self.endpoint = "127.0.0.1:%d" % self.port
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
                [str(binary), "serve", "--listen", self.endpoint, "--data-dir", str(self.data_dir),
                 "--account-id", ks.ACCOUNT_ID, "--region", ks.REGION]
                + (["--store", self.store_url] if self.store_url else []),
                env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        return self.process

    def start(self):
        self.spawn()
        self.wait_ready()
        return self

    def stderr(self):
        if not self.stderr_path or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text("utf-8", "replace")

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
