"""Managed rotation against the machine's real MariaDB, PostgreSQL and Redis (RotateSecret,
the `openkms db-instance` registry, SingleUser and DoubleUsers, failures)."""

import json
import os
import subprocess
import threading
import time
import uuid

import pytest

import kms_support as ks
from conftest import openkms_binary
from rotation_targets import ENGINES, account_name

m = ks.models()


def cli(server, *args, check=True):
    env = dict(os.environ)
    env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = server.access_key_id
    env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = server.access_key_secret
    proc = subprocess.run([str(openkms_binary()), "db-instance", "--endpoint", server.endpoint, *args],
                          env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def register(server, client, target, address=None):
    """An admin secret and a registered instance for `target`; returns the instance id."""
    instance = "rm-" + uuid.uuid4().hex[:12]
    admin_secret = "admin/" + instance
    ks.create_secret(client, admin_secret, data=json.dumps(target.admin))
    out = cli(server, "add", instance, "--engine", target.engine,
              "--address", address or target.address, "--admin-secret", admin_secret)
    assert json.loads(out.stdout)["DBInstance"]["DBInstanceId"] == instance
    return instance


def rotate(client, name, version_id):
    return ks.body_map(client.rotate_secret(m.RotateSecretRequest(secret_name=name, version_id=version_id)))


def value(client, name, **kw):
    """The credential a version holds, as {"AccountName","AccountPassword"} (a value written at
    CreateSecret in the {"Accounts":[...]} form gives its first account), and the reply."""
    body = ks.body_map(ks.get_secret_value(client, name, **kw))
    data = json.loads(body["SecretData"])
    return (data["Accounts"][0] if "Accounts" in data else data), body


def create_db_secret(client, target, instance, sub_type, account, password):
    name = ks.unique("rot")
    if target.engine == "redis":
        ks.create_secret(client, name, data="$Auto", secret_type="Redis",
                         extended_config={"SecretSubType": sub_type, "InstanceId": instance,
                                          "AccountName": account})
    else:
        data = json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": password}]})
        ks.create_secret(client, name, data=data, secret_type="Rds",
                         extended_config={"SecretSubType": sub_type, "DBInstanceId": instance})
    return name


@pytest.fixture(params=["mysql", "postgresql"])
def sql_target(request):
    return ENGINES[request.param]()


@pytest.fixture(params=["mysql", "postgresql", "redis"])
def any_target(request):
    return ENGINES[request.param]()


def test_single_user_rotation_changes_the_password_and_the_old_one_stops_working(server, kms_client, sql_target):
    instance = register(server, kms_client, sql_target)
    account, old = account_name(), "Init" + uuid.uuid4().hex
    sql_target.create_account(account, old)
    name = create_db_secret(kms_client, sql_target, instance, "SingleUser", account, old)

    body = rotate(kms_client, name, "r1")
    assert body["SecretName"] == name and body["VersionId"] == "r1"
    assert body["Arn"] == ks.secret_arn(name)

    cred, got = value(kms_client, name)
    assert got["VersionId"] == "r1" and "ACSCurrent" in got["VersionStages"]["VersionStage"]
    assert cred["AccountName"] == account and cred["AccountPassword"] != old
    assert sql_target.can_login(account, cred["AccountPassword"])
    assert not sql_target.can_login(account, old)
    _, prev = value(kms_client, name, version_stage="ACSPrevious")
    assert prev["VersionId"] == "v1"
    desc = ks.body_map(ks.describe_secret(kms_client, name))
    assert desc.get("LastRotationDate"), desc


def test_rotate_secret_with_an_existing_version_id_changes_nothing(server, kms_client):
    target = ENGINES["mysql"]()
    instance = register(server, kms_client, target)
    account, pw = account_name(), "Init" + uuid.uuid4().hex
    target.create_account(account, pw)
    name = create_db_secret(kms_client, target, instance, "SingleUser", account, pw)
    rotate(kms_client, name, "r1")
    first, _ = value(kms_client, name)
    again = rotate(kms_client, name, "r1")
    assert again["VersionId"] == "r1"
    second, _ = value(kms_client, name)
    assert first == second
    assert target.can_login(account, first["AccountPassword"])


def test_double_users_rotation_keeps_the_previous_credential_working(server, kms_client, any_target):
    instance = register(server, kms_client, any_target)
    account, pw = account_name(), "Init" + uuid.uuid4().hex
    any_target.create_account(account, pw)
    name = create_db_secret(kms_client, any_target, instance, "DoubleUsers", account, pw)

    seen = []
    for i in range(3):
        rotate(kms_client, name, "r%d" % i)
        cur, _ = value(kms_client, name)
        assert any_target.can_login(cur["AccountName"], cur["AccountPassword"]), (i, cur["AccountName"])
        seen.append(cur["AccountName"])
        if any_target.engine != "redis" or i > 0:
            # Redis starts from $Auto: before its first rotation there is no previous credential.
            prev, _ = value(kms_client, name, version_stage="ACSPrevious")
            assert prev["AccountName"] != cur["AccountName"]
            assert any_target.can_login(prev["AccountName"], prev["AccountPassword"]), (i, prev["AccountName"])
    assert any_target.account_exists(account + "_clone")
    # The two accounts alternate.
    assert seen[0] != seen[1] and seen[0] == seen[2]


def test_rotation_of_a_secret_on_an_unregistered_instance_is_refused_and_changes_nothing(kms_client):
    name = ks.unique("rot")
    data = json.dumps({"Accounts": [{"AccountName": "app", "AccountPassword": "pw"}]})
    ks.create_secret(kms_client, name, data=data, secret_type="Rds",
                     extended_config={"SecretSubType": "SingleUser", "DBInstanceId": "rm-unknown1"})
    with ks.expect_error("Forbidden.ResourceNotFound", 404) as err:
        rotate(kms_client, name, "r1")
    assert "rm-unknown1" in err.message
    ids = ks.body_map(kms_client.list_secret_version_ids(m.ListSecretVersionIdsRequest(secret_name=name)))
    assert [v["VersionId"] for v in ids["VersionIds"]["VersionId"]] == ["v1"]
    desc = ks.body_map(ks.describe_secret(kms_client, name))
    assert desc["AutomaticRotation"] == "Disabled"


def test_rotating_a_generic_secret_is_an_unsupported_operation(kms_client):
    name = ks.unique("rot")
    ks.create_secret(kms_client, name)
    with ks.expect_error("UnsupportedOperation", 400):
        rotate(kms_client, name, "r1")


def test_a_target_that_is_down_leaves_the_secret_on_its_working_credential(server, kms_client):
    target = ENGINES["mysql"]()
    from conftest import free_port

    instance = register(server, kms_client, target, address="127.0.0.1:%d" % free_port())
    account, pw = account_name(), "Init" + uuid.uuid4().hex
    target.create_account(account, pw)
    name = create_db_secret(kms_client, target, instance, "SingleUser", account, pw)
    with ks.expect_error("ServiceUnavailableTemporary", 503) as err:
        rotate(kms_client, name, "r1")
    assert "unreachable" in err.message
    cur, got = value(kms_client, name)
    assert got["VersionId"] == "v1" and cur["AccountPassword"] == pw
    assert target.can_login(account, pw)
    desc = ks.body_map(ks.describe_secret(kms_client, name))
    assert desc["AutomaticRotation"] == "Invalid"
    # The started rotation waits, labelled ACSPending, for the scheduler to retry it.
    _, pending = value(kms_client, name, version_stage="ACSPending")
    assert pending["VersionId"] == "r1"


def test_db_instance_cli_lists_and_removes_and_refuses_bad_input(server, kms_client):
    target = ENGINES["redis"]()
    instance = register(server, kms_client, target)
    listed = json.loads(cli(server, "list").stdout)["DBInstances"]["DBInstance"]
    mine = [i for i in listed if i["DBInstanceId"] == instance]
    assert mine and mine[0]["Engine"] == "redis" and mine[0]["Address"] == target.address
    dup = cli(server, "add", instance, "--engine", "redis", "--address", target.address,
              "--admin-secret", "admin/" + instance, check=False)
    assert dup.returncode != 0 and "Rejected.ResourceExist" in dup.stderr
    bad = cli(server, "add", "rm-x1", "--engine", "oracle", "--address", target.address,
              "--admin-secret", "admin/" + instance, check=False)
    assert bad.returncode != 0 and "InvalidParameter" in bad.stderr
    cli(server, "remove", instance)
    listed = json.loads(cli(server, "list").stdout)["DBInstances"]["DBInstance"]
    assert instance not in [i["DBInstanceId"] for i in listed]


def test_a_client_reconnecting_through_20_double_users_rotations_never_fails_to_log_in(server, kms_client):
    target = ENGINES["mysql"]()
    instance = register(server, kms_client, target)
    account, pw = account_name(), "Init" + uuid.uuid4().hex
    target.create_account(account, pw)
    name = create_db_secret(kms_client, target, instance, "DoubleUsers", account, pw)
    reader = server.client("v3")
    stop = threading.Event()
    logins = {"ok": 0, "failed": 0}

    def reconnect_forever():
        while not stop.is_set():
            cred, _ = value(reader, name)
            key = "ok" if target.can_login(cred["AccountName"], cred["AccountPassword"]) else "failed"
            logins[key] += 1

    t = threading.Thread(target=reconnect_forever)
    t.start()
    try:
        for i in range(20):
            rotate(kms_client, name, "r%02d" % i)
            # Rotations in production are hours apart; here they are spaced well beyond one
            # read-and-login of the client, so each of its logins uses a fresh read.
            time.sleep(0.5)
    finally:
        stop.set()
        t.join(timeout=60)
    print("reconnecting client through 20 DoubleUsers rotations: %(ok)d logins, %(failed)d failed" % logins)
    assert logins["failed"] == 0, logins
    assert logins["ok"] > 20, logins


def test_polardb_secret_rotates_on_its_registered_cluster(server, kms_client):
    target = ENGINES["mysql"]()
    cluster = register(server, kms_client, target)
    account, pw = account_name(), "Init" + uuid.uuid4().hex
    target.create_account(account, pw)
    name = ks.unique("rot")
    ks.create_secret(kms_client, name, data="$Auto", secret_type="PolarDB",
                     extended_config={"SecretSubType": "DoubleUsers", "DBClusterId": cluster,
                                      "DBType": "MySQL", "AccountName": account})
    rotate(kms_client, name, "r1")
    first, _ = value(kms_client, name)
    assert first["AccountName"] == account and target.can_login(account, first["AccountPassword"])
    rotate(kms_client, name, "r2")
    cur, _ = value(kms_client, name)
    prev, _ = value(kms_client, name, version_stage="ACSPrevious")
    assert cur["AccountName"] == account + "_clone"
    assert target.can_login(cur["AccountName"], cur["AccountPassword"])
    assert target.can_login(prev["AccountName"], prev["AccountPassword"])


def test_ram_credentials_rotation_hands_out_a_working_key_and_retires_the_one_before(server, kms_client):
    from test_ram import m as ram_models, new_user, ram_client

    ram = ram_client(server)
    user = new_user(ram, "rot")
    first = ram.create_access_key(ram_models().CreateAccessKeyRequest(user_name=user)).body.access_key
    data = json.dumps({"AccessKeys": [{"AccessKeyId": first.access_key_id,
                                       "AccessKeySecret": first.access_key_secret}]})
    created = ks.body_map(ks.create_secret(kms_client, "$Auto", data=data, secret_type="RAMCredentials",
                                           extended_config={"SecretSubType": "RamUserAccessKey",
                                                            "UserName": user}))
    name = created["SecretName"]
    assert name == "acs/ram/user/" + user

    def key(stage):
        body = ks.body_map(ks.get_secret_value(kms_client, name, version_stage=stage))
        return json.loads(body["SecretData"])

    def authenticates(k):
        client = ks.generated_client(server.endpoint, k["AccessKeyId"], k["AccessKeySecret"])
        try:
            client.list_secrets(ks.models().ListSecretsRequest())
        except Exception as exc:  # noqa: BLE001 - the error code tells which kind of refusal
            code, _, _ = ks.error_code_and_status(exc)
            # A valid key without policies is authenticated, then refused by authorization.
            return code == "Forbidden.NoPermission"
        return True

    rotate(kms_client, name, "r1")
    rotate(kms_client, name, "r2")
    cur, prev = key("ACSCurrent"), key("ACSPrevious")
    assert cur["AccessKeyId"] not in (first.access_key_id, prev["AccessKeyId"])
    assert cur["GenerateTimestamp"].endswith("Z")
    assert authenticates(cur) and authenticates(prev)
    listed = ram.list_access_keys(ram_models().ListAccessKeysRequest(user_name=user)).body.access_keys.access_key
    assert sorted(k.access_key_id for k in listed) == sorted([cur["AccessKeyId"], prev["AccessKeyId"]])
    with ks.expect_error("InvalidAccessKeyId.NotFound", 404):
        ks.generated_client(server.endpoint, first.access_key_id, first.access_key_secret).list_secrets(
            ks.models().ListSecretsRequest())
