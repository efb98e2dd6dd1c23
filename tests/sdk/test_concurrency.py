"""Stage-label and naming invariants under concurrent writers (issue: secrets lifecycle)."""
import threading

import kms_support as ks
from kms_support import create_secret, expect_error, get_secret_value


def run_all(fns):
    """Starts every fn at the same moment (barrier) and returns their results or exceptions."""
    barrier = threading.Barrier(len(fns))
    results = [None] * len(fns)

    def worker(i, fn):
        barrier.wait()
        try:
            results[i] = ("ok", fn())
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the caller
            results[i] = ("err", exc)

    threads = [threading.Thread(target=worker, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def versions(client, name):
    req = ks.models().ListSecretVersionIdsRequest(secret_name=name, include_deprecated="true", page_size=100)
    return ks.body_map(client.list_secret_version_ids(req))["VersionIds"]["VersionId"]


def concurrent_puts(server, name, n):
    clients = [ks.generated_client(server.endpoint, *ks.credentials()) for _ in range(n)]

    def put(i):
        return lambda: clients[i].put_secret_value(ks.models().PutSecretValueRequest(
            secret_name=name, version_id=f"c{i}", secret_data=f"value-{i}"))
    return run_all([put(i) for i in range(n)])


def assert_stage_invariants(client, name, listed):
    stages = [s for v in listed for s in (v.get("VersionStages") or {}).get("VersionStage") or []]
    assert stages.count("ACSCurrent") == 1
    assert stages.count("ACSPrevious") == 1
    ids = [v["VersionId"] for v in listed]
    assert len(ids) == len(set(ids))
    for vid in ids:
        body = ks.body_map(get_secret_value(client, name, version_id=vid))
        expected = "s3cr3t" if vid == "v1" else "value-" + vid[1:]
        assert body["SecretData"] == expected


def test_nine_concurrent_puts_keep_all_ten_versions_with_one_current_and_one_previous(server, kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    results = concurrent_puts(server, name, 9)
    assert all(r[0] == "ok" for r in results), results
    listed = versions(kms_client, name)
    assert sorted(v["VersionId"] for v in listed) == sorted(["v1"] + [f"c{i}" for i in range(9)])
    assert_stage_invariants(kms_client, name, listed)


def test_twenty_concurrent_puts_keep_exactly_ten_versions(server, kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    results = concurrent_puts(server, name, 20)
    assert all(r[0] == "ok" for r in results), results
    listed = versions(kms_client, name)
    assert len(listed) == 10
    assert_stage_invariants(kms_client, name, listed)
    current = ks.body_map(get_secret_value(kms_client, name))
    assert current["VersionStages"]["VersionStage"][0] == "ACSCurrent"


def test_ten_concurrent_creates_of_one_name_have_one_winner(server, kms_client, unique_name):
    name = unique_name()
    clients = [ks.generated_client(server.endpoint, *ks.credentials()) for _ in range(10)]

    def create(i):
        return lambda: create_secret(clients[i], name, data=f"d{i}")
    results = run_all([create(i) for i in range(10)])
    wins = [r for r in results if r[0] == "ok"]
    losses = [r[1] for r in results if r[0] == "err"]
    assert len(wins) == 1
    assert len(losses) == 9
    for exc in losses:
        code, status, _ = ks.error_code_and_status(exc)
        assert (code, status) == ("Rejected.ResourceExist", 409)
    assert get_secret_value(kms_client, name).body.secret_data.startswith("d")
