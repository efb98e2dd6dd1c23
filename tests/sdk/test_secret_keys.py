"""Secrets honour the state of their EncryptionKeyId (kms-api.md 3.1, 3.3): a disabled or
pending-deletion key refuses new secrets and versions, a disabled key locks GetSecretValue until
it is enabled again, and a key that protects secrets cannot be scheduled for deletion."""
import kms_support as ks
from kms_support import (cancel_key_deletion, create_alias, create_key, create_secret, describe_key,
                         disable_key, enable_key, expect_error, get_secret_value, put_secret_value,
                         schedule_key_deletion, unique_alias)


def m():
    return ks.models()


def test_secret_sealed_under_user_key_round_trips(any_client, unique_name):
    key_id = create_key(any_client)["KeyId"]
    name = unique_name()
    create_secret(any_client, name, data="under my key", encryption_key_id=key_id)
    assert ks.body_map(ks.describe_secret(any_client, name))["EncryptionKeyId"] == key_id
    put_secret_value(any_client, name, "v2", "second")
    assert ks.body_map(get_secret_value(any_client, name))["SecretData"] == "second"


def test_encryption_key_id_may_be_an_alias_or_arn(kms_client, unique_name):
    key_id = create_key(kms_client)["KeyId"]
    alias = unique_alias()
    create_alias(kms_client, alias, key_id)
    for ref in (alias, ks.key_arn(key_id), ks.alias_arn(alias)):
        name = unique_name()
        create_secret(kms_client, name, encryption_key_id=ref)
        assert ks.body_map(ks.describe_secret(kms_client, name))["EncryptionKeyId"] == key_id
    name = unique_name()
    with expect_error("Forbidden.ResourceNotFound", 404):
        create_secret(kms_client, name, encryption_key_id="alias/none-such-alias")
    ks.assert_secret_absent(kms_client, name)


def test_create_secret_with_disabled_key_is_rejected(kms_client, unique_name):
    key_id = create_key(kms_client)["KeyId"]
    disable_key(kms_client, key_id)
    name = unique_name()
    with expect_error("Rejected.Disabled", 409):
        create_secret(kms_client, name, encryption_key_id=key_id)
    ks.assert_secret_absent(kms_client, name)


def test_create_secret_with_pending_deletion_key_is_rejected(kms_client, unique_name):
    key_id = create_key(kms_client)["KeyId"]
    schedule_key_deletion(kms_client, key_id)
    name = unique_name()
    with expect_error("Rejected.PendingDeletion", 409):
        create_secret(kms_client, name, encryption_key_id=key_id)
    ks.assert_secret_absent(kms_client, name)


def test_disabled_key_locks_put_and_get_until_enabled(any_client, unique_name):
    key_id = create_key(any_client)["KeyId"]
    name = unique_name()
    create_secret(any_client, name, data="locked", encryption_key_id=key_id)
    disable_key(any_client, key_id)
    with expect_error("Rejected.Disabled", 409):
        get_secret_value(any_client, name)
    with expect_error("Rejected.Disabled", 409):
        put_secret_value(any_client, name, "v2", "new")
    # metadata stays readable
    assert ks.body_map(ks.describe_secret(any_client, name))["SecretName"] == name
    enable_key(any_client, key_id)
    assert ks.body_map(get_secret_value(any_client, name))["SecretData"] == "locked"
    put_secret_value(any_client, name, "v2", "new")
    assert ks.body_map(get_secret_value(any_client, name))["SecretData"] == "new"


def test_legacy_sdk_sees_disabled_key_on_get(legacy_client, kms_client, unique_name):
    key_id = create_key(kms_client)["KeyId"]
    name = unique_name()
    create_secret(kms_client, name, encryption_key_id=key_id)
    disable_key(kms_client, key_id)
    with expect_error("Rejected.Disabled", 409):
        legacy_client.call(ks.LegacyKms.request("GetSecretValue", SecretName=name))
    enable_key(kms_client, key_id)


def test_key_protecting_secrets_cannot_be_scheduled_for_deletion(kms_client, unique_name):
    key_id = create_key(kms_client)["KeyId"]
    name = unique_name()
    create_secret(kms_client, name, encryption_key_id=key_id)
    with expect_error("Rejected.StateModifiedFailed", 409) as e:
        schedule_key_deletion(kms_client, key_id)
    assert "1 secret" in e.message
    assert describe_key(kms_client, key_id)["KeyState"] == "Enabled"
    # a secret in its recovery window still depends on the key
    kms_client.delete_secret(m().DeleteSecretRequest(secret_name=name, recovery_window_in_days="7"))
    with expect_error("Rejected.StateModifiedFailed", 409):
        schedule_key_deletion(kms_client, key_id)
    # once the secret is gone for good, the key may go
    kms_client.delete_secret(m().DeleteSecretRequest(secret_name=name, force_delete_without_recovery="true"))
    schedule_key_deletion(kms_client, key_id)
    assert describe_key(kms_client, key_id)["KeyState"] == "PendingDeletion"
    cancel_key_deletion(kms_client, key_id)
    assert describe_key(kms_client, key_id)["KeyState"] == "Enabled"


def test_disabled_key_state_survives_restart_for_secrets(fresh_server):
    srv = fresh_server()
    c = srv.client()
    key_id = create_key(c)["KeyId"]
    create_secret(c, "kept", data="v", encryption_key_id=key_id)
    disable_key(c, key_id)
    srv.restart()
    c = srv.client()
    with expect_error("Rejected.Disabled", 409):
        get_secret_value(c, "kept")
    enable_key(c, key_id)
    assert ks.body_map(get_secret_value(c, "kept"))["SecretData"] == "v"


def test_racing_key_deletion_and_create_secret_never_leave_a_secret_under_a_pending_key(server, kms_client,
                                                                                         unique_name):
    """The key's state is checked inside CreateSecret's write transaction: whichever of the two
    commits first, the other is refused."""
    import threading
    clients = [ks.generated_client(server.endpoint, *ks.credentials()) for _ in range(2)]
    for _ in range(8):
        key_id = create_key(kms_client)["KeyId"]
        name = unique_name()
        barrier = threading.Barrier(2)
        results = {}

        def run(label, fn):
            barrier.wait()
            try:
                fn()
                results[label] = None
            except Exception as exc:  # noqa: BLE001 - asserted below
                results[label] = ks.error_code_and_status(exc)[:2]

        threads = [
            threading.Thread(target=run, args=("delete", lambda: schedule_key_deletion(clients[0], key_id))),
            threading.Thread(target=run, args=("create", lambda: create_secret(clients[1], name,
                                                                                encryption_key_id=key_id))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        state = describe_key(kms_client, key_id)["KeyState"]
        if results["create"] is None:
            assert results["delete"] == ("Rejected.StateModifiedFailed", 409)
            assert state == "Enabled"
            ks.describe_secret(kms_client, name)
        else:
            assert results["create"] == ("Rejected.PendingDeletion", 409)
            assert results["delete"] is None
            assert state == "PendingDeletion"
            ks.assert_secret_absent(kms_client, name)
