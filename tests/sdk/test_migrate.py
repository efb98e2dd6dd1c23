"""`openkms migrate --from <data dir> --to postgres://...` (issue: scale out): an installation
moves from the embedded store to PostgreSQL and a node on the copy serves everything it held,
with the same root of trust. Runs in the PostgreSQL pass (OPENKMS_TEST_STORE_URL)."""
import base64
import json
import os
import subprocess
import uuid

import pytest

import kms_support as ks
from conftest import fresh_pg_store, openkms_binary, store_base_url
from test_authorization import User, allow
from test_ram import ram_client
from test_rotation import cli
from tls_servers import TestCA

pytestmark = pytest.mark.skipif(
    not store_base_url(),
    reason="the copy needs a PostgreSQL database: set OPENKMS_TEST_STORE_URL=postgres://... "
           "(scripts/test runs this file on PostgreSQL)")


def migrate(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    return subprocess.run([str(openkms_binary()), "migrate", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def sqlite_server(fresh_server):
    """A node on the embedded store, whatever store the rest of this pass uses."""
    h = fresh_server(start=False)
    h.store_url = None
    return h.start()


def node_on(fresh_server, store_url, data_dir):
    h = fresh_server(start=False, env_overrides={"OPENKMS_ROOT_KEY_FILE": str(data_dir / "root.key")})
    h.store_url = store_url
    return h.start()


def versions(client, name):
    resp = client.list_secret_version_ids(ks.models().ListSecretVersionIdsRequest(
        secret_name=name, include_deprecated="true"))
    return {v["VersionId"]: sorted(v["VersionStages"]["VersionStage"])
            for v in ks.body_map(resp)["VersionIds"]["VersionId"]}


def test_a_migrated_installation_serves_its_secrets_keys_and_identities_from_postgres(
        sqlite_server, fresh_server, tmp_path):
    src = sqlite_server
    c = src.client()
    app = "app/" + uuid.uuid4().hex[:12]
    ks.create_secret(c, app, data="one", description="migrated",
                     tags=json.dumps([{"TagKey": "team", "TagValue": "payments"}]))
    ks.put_secret_value(c, app, "v2", "two")
    ks.put_secret_value(c, app, "v3", "three", version_stages=json.dumps(["canary"]))
    gone = "gone/" + uuid.uuid4().hex[:12]
    ks.create_secret(c, gone, data="x")
    c.delete_secret(ks.models().DeleteSecretRequest(secret_name=gone, recovery_window_in_days="7"))
    purged = "purged/" + uuid.uuid4().hex[:12]
    ks.create_secret(c, purged, data="y")
    c.delete_secret(ks.models().DeleteSecretRequest(secret_name=purged, force_delete_without_recovery="true"))
    key_id = ks.create_key(c)["KeyId"]
    alias = ks.unique_alias()
    ks.create_alias(c, alias, key_id)
    blob = ks.body_map(c.encrypt(ks.models().EncryptRequest(
        key_id=alias, plaintext=base64.b64encode(b"sealed before").decode(),
        encryption_context={"app": "billing"})))["CiphertextBlob"]
    under_key = "keyed/" + uuid.uuid4().hex[:12]
    ks.create_secret(c, under_key, data="under my key", encryption_key_id=key_id)
    ram = ram_client(src)
    user = User(src, ram, [allow("kms:GetSecretValue", "acs:kms:*:*:secret/app/*")])
    assert ks.body_map(ks.get_secret_value(user.kms, app))["SecretData"] == "two"
    before = versions(c, app)
    # Registered database instances keep their TLS settings (mode and CA text).
    admin = "admin/" + uuid.uuid4().hex[:12]
    ks.create_secret(c, admin, data=json.dumps({"AccountName": "root", "AccountPassword": ""}))
    ca = TestCA(tmp_path)
    tls_instance, plain_instance = "rm-tls" + uuid.uuid4().hex[:8], "rm-plain" + uuid.uuid4().hex[:8]
    cli(src, "add", tls_instance, "--engine", "mysql", "--address", "db.invalid:3306", "--admin-secret", admin,
        "--tls-ca-file", str(ca.path))
    cli(src, "add", plain_instance, "--engine", "redis", "--address", "127.0.0.1:6379", "--admin-secret", admin)
    src.stop()

    target = fresh_pg_store(store_base_url())
    done = migrate("--from", src.data_dir, "--to", target)
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout, done.stdout
    assert "secret_versions" in done.stdout and "root.key" in done.stdout, done.stdout

    node = node_on(fresh_server, target, src.data_dir)
    n = node.client()
    assert ks.body_map(ks.get_secret_value(n, app))["SecretData"] == "two"
    assert ks.body_map(ks.get_secret_value(n, app, version_stage="ACSPrevious"))["SecretData"] == "one"
    assert ks.body_map(ks.get_secret_value(n, app, version_stage="canary"))["SecretData"] == "three"
    assert versions(n, app) == before
    described = ks.body_map(ks.describe_secret(n, app, fetch_tags="true"))
    assert described["Description"] == "migrated"
    assert described["Tags"]["Tag"] == [{"TagKey": "team", "TagValue": "payments"}]
    assert ks.body_map(ks.get_secret_value(n, under_key))["SecretData"] == "under my key"
    plain = ks.body_map(n.decrypt(ks.models().DecryptRequest(
        ciphertext_blob=blob, encryption_context={"app": "billing"})))["Plaintext"]
    assert base64.b64decode(plain) == b"sealed before"
    assert ks.describe_key(n, alias)["KeyId"] == key_id
    # The recovery window carried over: the deleted secret is still there to restore.
    n.restore_secret(ks.models().RestoreSecretRequest(secret_name=gone))
    assert ks.body_map(ks.get_secret_value(n, gone))["SecretData"] == "x"
    # The RAM user's access key and policy came along (its secret was sealed, never re-made).
    user_kms = ks.generated_client(node.endpoint, user.key_id, user.key_secret)
    assert ks.body_map(ks.get_secret_value(user_kms, app))["SecretData"] == "two"
    with ks.expect_error("Forbidden.NoPermission", 403):
        ks.get_secret_value(user_kms, gone)
    # And the copy takes writes: a new version, and a new secret (the id sequence moved past
    # every copied id, the force-deleted secret's included).
    ks.put_secret_value(n, app, "v4", "four")
    assert ks.body_map(ks.get_secret_value(n, app))["SecretData"] == "four"
    after = "after/" + uuid.uuid4().hex[:12]
    ks.create_secret(n, after, data="new")
    assert ks.body_map(ks.get_secret_value(n, after))["SecretData"] == "new"
    ks.assert_secret_absent(n, purged)
    instances = {i["DBInstanceId"]: i for i in json.loads(cli(node, "list").stdout)["DBInstances"]["DBInstance"]}
    assert (instances[tls_instance]["TlsMode"], instances[tls_instance]["TlsCaConfigured"]) == ("verify-identity", True)
    assert (instances[plain_instance]["TlsMode"], instances[plain_instance]["TlsCaConfigured"]) == ("disabled", False)


def test_migrate_refuses_a_database_that_already_holds_data_and_leaves_it_as_it_was(
        sqlite_server, fresh_server):
    name = "kept/" + uuid.uuid4().hex[:12]
    ks.create_secret(sqlite_server.client(), name, data="first copy")
    sqlite_server.stop()
    target = fresh_pg_store(store_base_url())
    assert migrate("--from", sqlite_server.data_dir, "--to", target).returncode == 0

    again = migrate("--from", sqlite_server.data_dir, "--to", target)
    assert again.returncode != 0
    assert "not empty" in again.stderr, again.stderr
    node = node_on(fresh_server, target, sqlite_server.data_dir)
    listed = ks.body_map(node.client().list_secrets(ks.models().ListSecretsRequest()))
    assert listed["TotalCount"] == 1
    assert ks.body_map(ks.get_secret_value(node.client(), name))["SecretData"] == "first copy"


def test_migrate_names_a_data_dir_without_an_embedded_store(tmp_path):
    done = migrate("--from", tmp_path, "--to", fresh_pg_store(store_base_url()))
    assert done.returncode != 0
    assert "no embedded store at %s" % (tmp_path / "openkms.db") in done.stderr, done.stderr


def test_migrate_refuses_a_target_that_is_not_postgres(sqlite_server, tmp_path):
    done = migrate("--from", sqlite_server.data_dir, "--to", "mysql://root@127.0.0.1/test")
    assert done.returncode != 0
    assert "postgres://" in done.stderr, done.stderr
