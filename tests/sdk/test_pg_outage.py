"""PostgreSQL stopped and started again under load (issue 7, failures).

Two nodes share a private PostgreSQL cluster that the tests stop and start (the machine's own
PostgreSQL is never touched). While the database is down every request is answered 503
ServiceUnavailableTemporary within the pool's acquire timeout; once it is back both nodes serve
again without being restarted, and every write answered 200 is there with its value.

Runs in the PostgreSQL pass of scripts/test (OPENKMS_TEST_STORE_URL).
"""
import collections
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

import kms_support as ks
from conftest import free_port, store_base_url
from kms_support import assert_error_response, create_secret, expect_error, get_secret_value, put_secret_value
from test_concurrency import run_all
from write_load import Load

pytestmark = pytest.mark.skipif(
    not store_base_url(),
    reason="runs with the PostgreSQL store: set OPENKMS_TEST_STORE_URL=postgres://... "
           "(scripts/test runs this file on PostgreSQL)")

# The pool waits up to 5 s for a connection (docs/postgres.md), so an outage answer takes about
# that long; an answer slower than this bound is a hang.
ANSWER_BOUND = 15.0
RECOVERY_BOUND = 15.0
# Longer than the acquire timeout (with room to spare): every first attempt is answered 503.
RESTART_AFTER = 8.0


def postgres_bin():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail("these tests start their own PostgreSQL: no /usr/lib/postgresql/*/bin/pg_ctl")
    return found[-1].parent


class PrivateCluster:
    """A PostgreSQL cluster of our own on a free loopback port, trust authentication."""

    def __init__(self):
        self.bin = postgres_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="openkms-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")  # PostgreSQL refuses to run as root
        self.data = self.dir / "data"
        self.port = free_port()
        self.pg("initdb", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D", str(self.data))

    def pg(self, tool, *args, check=True):
        cmd = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise AssertionError("%s failed (%s):\n%s%s\n%s" % (
                tool, result.returncode, result.stdout, result.stderr, self.log()))
        return result

    def log(self):
        path = self.dir / "postgres.log"
        return path.read_text("utf-8", "replace")[-3000:] if path.exists() else ""

    def start(self):
        self.pg("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "postgres.log"), "-w", "-o",
                "-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s" % (self.port, self.dir),
                "start")

    def stop(self, mode="fast"):
        self.pg("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    def running(self):
        return self.pg("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def url(self, database="postgres"):
        return "postgres://postgres@127.0.0.1:%d/%s" % (self.port, database)

    def new_database(self):
        name = "openkms_" + uuid.uuid4().hex[:12]
        subprocess.run(["psql", self.url(), "-qAtc", "CREATE DATABASE " + name], check=True)
        return self.url(name)

    def destroy(self):
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    cluster = None
    try:
        cluster = PrivateCluster()
        cluster.start()
        yield cluster
    finally:
        if cluster is not None:
            cluster.destroy()


@pytest.fixture
def nodes(postgres, fresh_server):
    """Two nodes on a new database of the private cluster, one root key file."""
    if not postgres.running():  # a failed test may have left it stopped
        postgres.start()
    url = postgres.new_database()
    a = fresh_server(store_url=url)
    b = fresh_server(store_url=url, env_overrides={"OPENKMS_ROOT_KEY_FILE": str(a.data_dir / "root.key")})
    return a, b


def wait_until_served(node, name, bound=RECOVERY_BOUND):
    """Polls GetSecretValue until it answers 200; returns when it did."""
    raw = node.raw()
    deadline = time.monotonic() + bound
    while True:
        resp = raw.v3("GetSecretValue", {"SecretName": name})
        if resp.status == 200:
            return time.monotonic()
        assert time.monotonic() < deadline, "%s still answers %s %r %.0fs after PostgreSQL came back" % (
            node.endpoint, resp.status, resp.body[:200], bound)
        time.sleep(0.1)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_during_a_postgres_restart_requests_get_503_and_both_nodes_reconnect_without_losing_a_write(
        postgres, nodes, mode):
    a, b = nodes
    readable = ks.unique("outage")
    create_secret(a.client(), readable, data="read-me")
    load = Load()

    def probe(label, node, action):
        if action == "GetSecretValue":
            return lambda: load.send(label, node.raw(), action, readable)
        return lambda: load.send(label, node.raw(), action, ks.unique("probe"), "v1")

    def outage():
        time.sleep(1.5)
        postgres.stop(mode)
        down = time.monotonic()
        # Sent after PostgreSQL is gone and answered before it is started again: must be 503.
        run_all([probe(label, n, action) for label, n in (("a", a), ("b", b))
                 for action in ("GetSecretValue", "CreateSecret")])
        restarting = time.monotonic()
        postgres.start()
        up = time.monotonic()
        recovered = {label: wait_until_served(n, readable) - up for label, n in (("a", a), ("b", b))}
        time.sleep(1.0)  # load on the recovered nodes
        return down, restarting, up, recovered
    workers = [load.writer(label, node) for label, node in (("a", a), ("a", a), ("b", b), ("b", b))]
    workers += [load.reader(label, node, readable) for label, node in (("a", a), ("b", b))]
    down, restarting, up, recovered = load.run(workers, outage)
    print("PostgreSQL stop -m %s: down %.1f s, nodes served again %s s after it was back; answers:\n%s"
          % (mode, restarting - down, {k: round(v, 2) for k, v in recovered.items()}, load.summary()))

    for x in load.answers:
        assert x.resp is not None, x.describe()
        if not x.ok:
            assert_error_response(x.resp, "ServiceUnavailableTemporary", 503)
        assert x.seconds < ANSWER_BOUND, x.describe()
    during = [x for x in load.answers if x.started > down and x.ended < restarting]
    assert len({(x.node, x.action) for x in during}) >= 4, load.summary(during)
    assert not [x for x in during if x.ok], load.summary(during)
    for label, node in (("a", a), ("b", b)):
        after = [x for x in load.of(label) if x.started > up + recovered[label]]
        assert {x.action for x in after if x.ok} >= {"GetSecretValue", "PutSecretValue"}, load.summary(after)
        assert node.process.poll() is None and node.starts == 1, "the node was not restarted"
    assert load.assert_acknowledged_writes_readable(a.client()) > 0
    load.assert_acknowledged_writes_readable(b.client())
    assert ks.body_map(get_secret_value(b.client(), readable))["SecretData"] == "read-me"


@pytest.fixture
def sdk_attempts(monkeypatch):
    """HTTP requests the generated SDK sends, per calling thread: shows whether it retried."""
    from darabonba.core import DaraCore

    counts = collections.Counter()
    send = DaraCore.do_action

    def counted(*args, **kwargs):
        counts[threading.get_ident()] += 1
        return send(*args, **kwargs)
    monkeypatch.setattr(DaraCore, "do_action", counted)
    return counts


def test_the_sdk_retries_503_only_when_configured_to_and_then_gets_through_a_postgres_restart(
        postgres, nodes, sdk_attempts):
    from darabonba.policy.retry import RetryCondition, RetryOptions
    from darabonba.runtime import RuntimeOptions

    a, b = nodes
    name = ks.unique("outage")
    create_secret(a.client(), name, data="before")
    # A client that retries ServiceUnavailableTemporary with a backoff. The pinned SDK
    # (alibabacloud-tea-openapi 0.4) does so only when its Config has retry_options.
    retrying = ks.generated_client(a.endpoint, *ks.credentials(), retry_options=RetryOptions(
        retryable=True,
        retry_condition=[RetryCondition(error_code=["ServiceUnavailableTemporary"], max_attempts=10,
                                        backoff={"policy": "Fixed", "period": 500})]))
    # The retry knobs of the older Tea runtime: accepted, and ignored by this SDK.
    runtime_retry = RuntimeOptions(autoretry=True, max_attempts=5, backoff_policy="fixed", backoff_period=1)
    legacy_get = ks.LegacyKms.request("GetSecretValue", SecretName=name)

    def counting_attempts(call):
        def run():
            try:
                return "ok", call(), sdk_attempts[threading.get_ident()]
            except Exception as exc:  # noqa: BLE001 - asserted below with expect_error
                return "err", exc, sdk_attempts[threading.get_ident()]
        return run

    def restart_later():
        time.sleep(RESTART_AFTER)
        postgres.start()

    postgres.stop("fast")
    results = run_all([
        counting_attempts(lambda: get_secret_value(a.client(), name)),
        counting_attempts(lambda: a.client().get_secret_value_with_options(
            ks.models().GetSecretValueRequest(secret_name=name), runtime_retry)),
        counting_attempts(lambda: get_secret_value(retrying, name)),
        counting_attempts(lambda: put_secret_value(retrying, name, "during", "written during the outage")),
        lambda: a.legacy().call(legacy_get),
        restart_later,
    ])
    assert results[-1] == ("ok", None), results[-1]
    plain, runtime_knobs, retried_read, retried_write = (r[1] for r in results[:4])

    for outcome, result, attempts in (plain, runtime_knobs):
        assert (outcome, attempts) == ("err", 1), (outcome, result, attempts)
        with expect_error("ServiceUnavailableTemporary", 503):
            raise result
    # aliyun-python-sdk-core retries only the APIs its retry config lists, and it lists none of
    # KMS: the 503 reaches the caller although PostgreSQL was back before a retry would end.
    assert results[4][0] == "err", results[4]
    with expect_error("ServiceUnavailableTemporary", 503):
        raise results[4][1]
    outcome, result, attempts = retried_read
    assert outcome == "ok" and attempts > 1, (outcome, result, attempts)
    assert ks.body_map(result)["SecretData"] == "before"
    outcome, result, attempts = retried_write
    assert outcome == "ok" and attempts > 1, (outcome, result, attempts)
    body = ks.body_map(get_secret_value(b.client(), name, version_id="during"))
    assert body["SecretData"] == "written during the outage"
