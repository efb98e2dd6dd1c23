"""The process around the server: a graceful stop under load, a second signal, failed starts
that leave a fresh data dir as found, the per-key rate limit, and the protections that keep
key material out of core dumps. Each test runs its own server (or several) on a fresh data dir.
"""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

import kms_support as ks
from conftest import free_port, openkms_binary
from test_authorization import User
from test_ram import ram_client

WRITERS = 16
# A stop under load takes at most this; the server's own grace is shorter.
GRACE_SECONDS = 10
START_FAILURE_TIMEOUT = 20

# Connection errors: the request got no HTTP answer.
try:
    import requests
    CONNECTION_ERRORS = (OSError, requests.exceptions.ConnectionError)
except ImportError:  # pragma: no cover
    CONNECTION_ERRORS = (OSError,)


def _no_answer(exc):
    """Whether the official client's exception means no HTTP answer came (reset, refused,
    closed without a response), as opposed to an error reply."""
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    code, status, _ = ks.error_code_and_status(exc)
    return status is None


# -- graceful stop --------------------------------------------------------------------------


class Writers:
    """WRITERS threads, each with its own official SDK client, creating secrets and putting
    versions until told to stop or until the server stops answering."""

    def __init__(self, srv):
        self.srv = srv
        self.stop = threading.Event()
        self.lock = threading.Lock()
        # (started, ended, secret, version, value, ok, error)
        self.calls = []

    def run_one(self):
        client = self.srv.client()
        secret, puts = None, 9
        while not self.stop.is_set():
            value = uuid.uuid4().hex
            if puts == 9:
                name, version = ks.unique("sigterm"), "v1"
            else:
                name, version = secret, "p%d" % (puts + 1)
            started = time.monotonic()
            ok, error = False, None
            try:
                if version == "v1":
                    ks.create_secret(client, name, data=value, version_id=version)
                else:
                    ks.put_secret_value(client, name, version, value)
                ok = True
            except Exception as exc:  # recorded and judged below
                error = exc
            with self.lock:
                self.calls.append((started, time.monotonic(), name, version, value, ok, error))
            if ok and version == "v1":
                secret, puts = name, 0
            elif ok:
                puts += 1
            if error is not None and _no_answer(error):
                return  # the server is gone: this writer is done

    def start(self):
        self.threads = [threading.Thread(target=self.run_one, daemon=True) for _ in range(WRITERS)]
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a writer hung"


def test_sigterm_under_write_load_answers_every_request_already_sent(fresh_server):
    srv = fresh_server(env_overrides={"OPENKMS_SHUTDOWN_GRACE": str(GRACE_SECONDS)})
    writers = Writers(srv)
    writers.start()
    time.sleep(2.0)
    proc = srv.process
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=GRACE_SECONDS + 20)
    finally:
        srv.process = None
        writers.join()
    assert rc == 0, "openkms should exit 0 on SIGTERM; stderr:\n" + srv.stderr()
    before = [c for c in writers.calls if c[0] < signalled]
    assert len(before) > WRITERS * 5, "the load did not run: %d calls" % len(before)
    lost = [(c[2], c[3], repr(c[6])) for c in before if not c[5] and _no_answer(c[6])]
    assert not lost, "%d of %d requests sent before SIGTERM got no answer: %s" % (
        len(lost), len(before), lost[:5])
    refused = [(c[2], c[3], ks.error_code_and_status(c[6])) for c in before if not c[5]]
    assert not refused, "requests sent before SIGTERM were refused: %s" % refused[:5]
    # Every acknowledged write is there after a restart, with its value.
    srv.start()
    client = srv.client()
    acknowledged = [c for c in writers.calls if c[5]]
    for _, _, name, version, value, _, _ in acknowledged:
        body = ks.body_map(ks.get_secret_value(client, name, version_id=version))
        assert body["SecretData"] == value, (name, version)


def _hold_a_request_open(srv):
    """A connection whose request head arrived but whose body did not: the drain waits."""
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: openkms\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 100\r\n\r\nAction=")
    return sock


@pytest.mark.parametrize("second,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_second_signal_exits_at_once(fresh_server, second, status):
    srv = fresh_server(env_overrides={"OPENKMS_SHUTDOWN_GRACE": "120"})
    sock = _hold_a_request_open(srv)
    try:
        time.sleep(0.3)
        proc = srv.process
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert proc.poll() is None, "the first signal should wait for the request in flight"
        proc.send_signal(second)
        rc = proc.wait(timeout=5)
        srv.process = None
    finally:
        sock.close()
    assert rc == status, "a second signal exits with 128 + its number; stderr:\n" + srv.stderr()


# -- failed starts --------------------------------------------------------------------------


def _listing(path):
    if not path.exists():
        return None
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _failed_start(data_dir, *args, env=None):
    cmd = [str(openkms_binary()), "serve", "--data-dir", str(data_dir), "--region", ks.REGION] + list(args)
    if "--listen" not in args:
        cmd += ["--listen", "127.0.0.1:%d" % free_port()]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    full_env.update(env or {})
    proc = subprocess.run(cmd, env=full_env, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=START_FAILURE_TIMEOUT)
    return proc.returncode, proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")


def _taken_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


@pytest.mark.parametrize("case", ["port-taken", "metrics-port-taken", "bad-account-id",
                                  "hsm-unreadable", "root-key-too-open"])
@pytest.mark.parametrize("dir_state", ["empty", "absent"])
def test_a_failed_start_leaves_a_fresh_data_dir_as_found(tmp_path, case, dir_state):
    data_dir = tmp_path / "data"
    if dir_state == "empty":
        data_dir.mkdir()
    before = _listing(data_dir)
    taken = _taken_port()
    try:
        port = taken.getsockname()[1]
        args = {
            "port-taken": ["--listen", "127.0.0.1:%d" % port],
            "metrics-port-taken": ["--metrics-listen", "127.0.0.1:%d" % port],
            "bad-account-id": ["--account-id", "abc"],
            "hsm-unreadable": ["--root-of-trust", "pkcs11", "--hsm-module", str(tmp_path / "missing.so"),
                               "--hsm-token-label", "t", "--hsm-pin-file", str(tmp_path / "no-pin")],
            "root-key-too-open": ["--root-key-file", str(tmp_path / "open.key")],
        }[case]
        if case == "root-key-too-open":
            key = tmp_path / "open.key"
            key.write_text("not a key\n")
            key.chmod(0o644)
        rc, out = _failed_start(data_dir, *args)
    finally:
        taken.close()
    assert rc != 0, "openkms should refuse to start (%s); output:\n%s" % (case, out)
    assert "AccessKeySecret" not in out, "a failed start printed a root access key"
    assert _listing(data_dir) == before, "the failed start (%s) changed the data dir:\n%s" % (case, out)


def test_a_start_after_a_failed_one_initialises_normally(tmp_path, fresh_server):
    srv = fresh_server(start=False)
    rc, out = _failed_start(srv.data_dir, "--account-id", "abc")
    assert rc != 0 and "account" in out, out
    assert _listing(srv.data_dir) == []
    srv.start()
    name = ks.unique("after-failure")
    ks.create_secret(srv.client(), name, data="x")
    assert ks.body_map(ks.get_secret_value(srv.client(), name))["SecretData"] == "x"


# -- rate limit -----------------------------------------------------------------------------


def test_rate_limit_throttles_one_key_and_serves_another(fresh_server):
    srv = fresh_server(env_overrides={"OPENKMS_RATE_LIMIT_PER_KEY": "5"})
    other = User(srv, ram_client(srv), system_policy="AliyunKMSSecretAdminAccess")
    time.sleep(1.5)  # the root key's bucket refills after the RAM calls above
    raw = srv.raw()
    answers = [raw.v3("ListSecrets", {}) for _ in range(30)]
    ok = [a for a in answers if a.status == 200]
    throttled = [a for a in answers if a.status == 429]
    assert len(ok) >= 5, [a.status for a in answers]
    assert throttled, "a burst of 30 at 5/s should be throttled: %s" % [a.status for a in answers]
    assert {a.json()["Code"] for a in throttled} == {"Rejected.Throttling"}
    assert len(ok) + len(throttled) == len(answers), [a.status for a in answers]
    # Another key has its own bucket, even while the first one's is empty.
    other_raw = srv.raw(other.key_id, other.key_secret)
    for _ in range(5):
        resp = other_raw.v3("ListSecrets", {})
        assert resp.status == 200, resp
    time.sleep(1.2)
    assert raw.v3("ListSecrets", {}).status == 200, "the bucket refills"


def test_without_a_rate_limit_a_burst_is_served(fresh_server):
    srv = fresh_server()
    raw = srv.raw()
    statuses = [raw.v3("ListSecrets", {}).status for _ in range(50)]
    assert statuses == [200] * 50, statuses


# -- crash dumps and memory locking ---------------------------------------------------------


def _status(pid):
    fields = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    return fields


def _core_limit(pid):
    for line in Path("/proc/%d/limits" % pid).read_text().splitlines():
        if line.startswith("Max core file size"):
            return line.split()[4:6]
    raise AssertionError("no core limit line")


def _wait_port(port, proc, err_path):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError("openkms exited %s:\n%s" % (proc.returncode, Path(err_path).read_text()))
            time.sleep(0.05)
    raise AssertionError("openkms did not start:\n" + Path(err_path).read_text())


def _serve_as(uid, extra_env=None, memlock_bytes=None):
    """Starts openkms under `uid` (the test's own when it is not root) in a fresh dir it owns."""
    base = Path(tempfile.mkdtemp(prefix="openkms-dump-"))
    binary = openkms_binary()
    if uid != os.getuid():
        # The build directory may not be reachable by `uid`: run a copy from the fresh dir.
        copy = base / "openkms"
        copy.write_bytes(binary.read_bytes())
        copy.chmod(0o755)
        binary = copy
        os.chown(base, uid, uid)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    env.update(extra_env or {})
    err_path = base / "stderr.log"

    def drop():
        if memlock_bytes is not None:
            import resource
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (memlock_bytes, memlock_bytes))
        if uid != os.getuid():
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
    err = open(err_path, "wb")
    proc = subprocess.Popen([str(binary), "serve", "--listen", "127.0.0.1:%d" % port,
                             "--data-dir", str(base / "data")],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                            preexec_fn=drop)
    err.close()
    try:
        _wait_port(port, proc, err_path)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, err_path


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_the_process_is_not_dumpable_and_writes_no_core():
    # Root may read any process's memory anyway; the observable is for other uids: the
    # kernel hands a non-dumpable process's /proc files to root, not to the process's uid.
    uid = 65534 if os.getuid() == 0 else os.getuid()
    proc, err = _serve_as(uid)
    try:
        status = _status(proc.pid)
        assert status["Uid"].split()[0] == str(uid), status["Uid"]
        owner = os.stat("/proc/%d/mem" % proc.pid).st_uid
        assert owner == 0, "/proc/<pid>/mem belongs to uid %d: the process is dumpable" % owner
        assert _core_limit(proc.pid) == ["0", "0"]
    finally:
        assert _stop(proc) == 0, Path(err).read_text()


def _memlock_unlimited_or_capable():
    import resource
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    return soft == resource.RLIM_INFINITY or os.getuid() == 0


def test_memory_is_locked_where_allowed_and_a_warning_says_so_where_not():
    proc, err = _serve_as(os.getuid())
    try:
        locked_kb = int(_status(proc.pid)["VmLck"].split()[0])
        rss_kb = int(_status(proc.pid)["VmRSS"].split()[0])
    finally:
        assert _stop(proc) == 0, Path(err).read_text()
    if _memlock_unlimited_or_capable():
        assert locked_kb > 0, "VmLck is 0 although mlockall is allowed:\n" + Path(err).read_text()
    else:
        assert locked_kb == 0
        assert "memory is not locked" in Path(err).read_text()
    # Locked on fault: the resident set stays small (tens of MB, not the locked address space).
    assert rss_kb < 200 * 1024, rss_kb

    proc, err = _serve_as(os.getuid(), {"OPENKMS_DISABLE_MLOCK": "true"})
    try:
        assert int(_status(proc.pid)["VmLck"].split()[0]) == 0
    finally:
        assert _stop(proc) == 0, Path(err).read_text()
    assert "memory is not locked" not in Path(err).read_text()


def test_without_the_right_to_lock_memory_one_warning_is_logged_and_the_server_runs():
    if os.getuid() != 0:
        pytest.skip("needs root to start the server as another user without CAP_IPC_LOCK")
    proc, err = _serve_as(65534, memlock_bytes=64 * 1024)
    try:
        assert int(_status(proc.pid)["VmLck"].split()[0]) == 0
    finally:
        assert _stop(proc) == 0, Path(err).read_text()
    text = Path(err).read_text()
    assert text.count("memory is not locked") == 1, text


def test_sigint_stops_gracefully_too(fresh_server):
    srv = fresh_server()
    name = ks.unique("sigint")
    ks.create_secret(srv.client(), name, data="kept")
    proc, srv.process = srv.process, None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, srv.stderr()
    srv.start()
    assert ks.body_map(ks.get_secret_value(srv.client(), name))["SecretData"] == "kept"


def test_background_jobs_are_counted_in_metrics(fresh_server):
    import urllib.request
    port = free_port()
    srv = fresh_server(env_overrides={"OPENKMS_METRICS_LISTEN": "127.0.0.1:%d" % port})
    deadline = time.monotonic() + 20
    text = ""
    while time.monotonic() < deadline:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
        if all('openkms_jobs_total{job="%s",outcome="ok"}' % job in text
               for job in ("cache_refresh", "secret_purge", "key_rotation", "key_deletion",
                           "secret_rotation", "nonce_purge")):
            return
        time.sleep(0.5)
    raise AssertionError("every job's first pass should be counted:\n" + text)
