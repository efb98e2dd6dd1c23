"""Two nodes on one PostgreSQL store (issue: scale out). Runs when the suite's servers use the
PostgreSQL store (OPENKMS_TEST_STORE_URL); the concurrency checks of test_concurrency.py with
the clients split across the two nodes."""
import time

import pytest

import kms_support as ks
import signer
from kms_support import (assert_error_response, assert_success_response, create_secret,
                         get_secret_value, put_secret_value)
from conftest import store_base_url
from test_concurrency import assert_stage_invariants, run_all, versions
from write_load import Load

pytestmark = pytest.mark.skipif(
    not store_base_url(),
    reason="two nodes need a shared store: set OPENKMS_TEST_STORE_URL=postgres://... "
           "(scripts/test runs this file on PostgreSQL)")


@pytest.fixture
def two_nodes(fresh_server):
    """Two servers on one store and one root key file; the first initialises the store."""
    a = fresh_server()
    b = fresh_server(store_url=a.store_url, env_overrides={"OPENKMS_ROOT_KEY_FILE": str(a.data_dir / "root.key")})
    return a, b


def test_a_write_on_one_node_is_read_on_the_other(two_nodes, unique_name):
    a, b = two_nodes
    name = unique_name()
    create_secret(a.client(), name, data="from-a")
    assert ks.body_map(get_secret_value(b.client(), name))["SecretData"] == "from-a"
    put_secret_value(b.client(), name, "v2", "from-b")
    assert ks.body_map(get_secret_value(a.client(), name))["SecretData"] == "from-b"
    assert not list(b.data_dir.glob("openkms.db*")), "the second node keeps no store of its own"


def test_concurrent_puts_split_across_nodes_keep_every_version_and_one_current(two_nodes, unique_name):
    a, b = two_nodes
    name = unique_name()
    create_secret(a.client(), name)
    clients = [ks.generated_client((a, b)[i % 2].endpoint, *ks.credentials()) for i in range(9)]

    def put(i):
        return lambda: clients[i].put_secret_value(ks.models().PutSecretValueRequest(
            secret_name=name, version_id=f"c{i}", secret_data=f"value-{i}"))
    results = run_all([put(i) for i in range(9)])
    assert all(r[0] == "ok" for r in results), results
    for node in (a, b):
        listed = versions(node.client(), name)
        assert sorted(v["VersionId"] for v in listed) == sorted(["v1"] + [f"c{i}" for i in range(9)])
        assert_stage_invariants(node.client(), name, listed)


def test_concurrent_creates_of_one_name_on_both_nodes_have_one_winner(two_nodes, unique_name):
    a, b = two_nodes
    name = unique_name()
    clients = [ks.generated_client((a, b)[i % 2].endpoint, *ks.credentials()) for i in range(6)]

    def create(i):
        return lambda: create_secret(clients[i], name, data=f"value-{i}")
    results = run_all([create(i) for i in range(6)])
    winners = [i for i, r in enumerate(results) if r[0] == "ok"]
    assert len(winners) == 1, results
    for i, r in enumerate(results):
        if i not in winners:
            assert ks.error_code_and_status(r[1])[:2] == ("Rejected.ResourceExist", 409), r
    expected = "value-%d" % winners[0]
    for node in (a, b):
        assert ks.body_map(get_secret_value(node.client(), name))["SecretData"] == expected


def test_a_node_killed_under_write_load_loses_no_acknowledged_write_and_the_other_keeps_serving(two_nodes):
    a, b = two_nodes
    load = Load()

    def kill_a():
        time.sleep(1.5)
        a.kill9()
        killed = time.monotonic()
        time.sleep(1.5)  # B alone under load
        return killed
    # A's writers hardly pause, so the kill most likely cuts a request in flight.
    writers = [load.writer("a", a, pause=0.01) for _ in range(3)] + [load.writer("b", b) for _ in range(2)]
    killed = load.run(writers, kill_a)

    # A answered 200 until it died, then nothing at all: never an error answer.
    assert any(x.ok for x in load.of("a")), load.summary()
    assert all(x.ok or x.resp is None for x in load.of("a")), load.summary()
    assert all(x.ok for x in load.of("b")), load.summary()
    assert any(x.started > killed for x in load.of("b")), load.summary()
    assert load.assert_acknowledged_writes_readable(b.client()) > 0
    a.start()
    load.assert_acknowledged_writes_readable(a.client())


def test_a_nonce_used_on_one_node_is_refused_by_the_other(two_nodes, unique_name):
    a, b = two_nodes
    name = unique_name()
    create_secret(a.client(), name)
    nonce, ts = signer.new_nonce(), signer.utc_timestamp()
    first = a.raw().v1("GetSecretValue", {"SecretName": name}, nonce=nonce, timestamp=ts)
    assert_success_response(first)
    again = b.raw().v1("GetSecretValue", {"SecretName": name}, nonce=nonce, timestamp=ts)
    assert_error_response(again, "SignatureNonceUsed", 400)
