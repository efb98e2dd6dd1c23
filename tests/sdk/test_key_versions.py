"""CreateKeyVersion, ListKeyVersions, DescribeKeyVersion and UpdateRotationPolicy
(kms-api.md 3.3, 4.3; kms-sdk-models.md). The rotation and deletion jobs run on the server's
clock; they are tested with an injected clock in crates/service/tests/key_jobs.rs."""
import base64
import datetime

import pytest

import kms_support as ks
from kms_support import (LegacyKms, create_key, create_secret, describe_key, disable_key, expect_error,
                         get_secret_value, put_secret_value, schedule_key_deletion)

req = LegacyKms.request


def m():
    return ks.models()


def create_version(client, key_id):
    return ks.body_map(client.create_key_version(m().CreateKeyVersionRequest(key_id=key_id)))["KeyVersion"]


def describe_version(client, key_id, version_id):
    return ks.body_map(client.describe_key_version(m().DescribeKeyVersionRequest(
        key_id=key_id, key_version_id=version_id)))["KeyVersion"]


def list_versions(client, key_id, **kwargs):
    return ks.body_map(client.list_key_versions(m().ListKeyVersionsRequest(key_id=key_id, **kwargs)))


def update_rotation(client, key_id, enable, interval=None):
    return client.update_rotation_policy(m().UpdateRotationPolicyRequest(
        key_id=key_id, enable_automatic_rotation=enable, rotation_interval=interval))


def encrypt(client, key_id, data):
    return ks.body_map(client.encrypt(m().EncryptRequest(
        key_id=key_id, plaintext=base64.b64encode(data).decode("ascii"))))


def decrypt(client, blob):
    return base64.b64decode(ks.body_map(client.decrypt(m().DecryptRequest(ciphertext_blob=blob)))["Plaintext"])


def test_create_key_version_becomes_primary_and_old_data_still_opens(any_client, unique_name):
    key_id = create_key(any_client)["KeyId"]
    first = describe_key(any_client, key_id)["PrimaryKeyVersion"]
    old = encrypt(any_client, key_id, b"old")
    name = unique_name()
    create_secret(any_client, name, data="under v1", encryption_key_id=key_id)

    v = create_version(any_client, key_id)
    assert set(v) == {"KeyId", "KeyVersionId", "CreationDate"}
    assert v["KeyId"] == key_id and v["KeyVersionId"] != first
    assert abs(ks.parse_time(v["CreationDate"]) - ks.utcnow()) < datetime.timedelta(minutes=1)
    md = describe_key(any_client, key_id)
    assert md["PrimaryKeyVersion"] == v["KeyVersionId"]
    assert md["LastRotationDate"] == v["CreationDate"]

    new = encrypt(any_client, key_id, b"new")
    assert new["KeyVersionId"] == v["KeyVersionId"] and old["KeyVersionId"] == first
    assert decrypt(any_client, old["CiphertextBlob"]) == b"old"
    assert decrypt(any_client, new["CiphertextBlob"]) == b"new"
    put_secret_value(any_client, name, "v2", "under v2")
    assert ks.body_map(get_secret_value(any_client, name, version_id="v1"))["SecretData"] == "under v1"
    assert ks.body_map(get_secret_value(any_client, name))["SecretData"] == "under v2"


def test_list_key_versions_pages_oldest_first_in_the_sdk_shape(kms_client):
    key_id = create_key(kms_client)["KeyId"]
    first = describe_key(kms_client, key_id)["PrimaryKeyVersion"]
    made = [create_version(kms_client, key_id)["KeyVersionId"] for _ in range(2)]
    body = list_versions(kms_client, key_id)
    assert (body["PageNumber"], body["PageSize"], body["TotalCount"]) == (1, 10, 3)
    listed = body["KeyVersions"]["KeyVersion"]
    assert [v["KeyVersionId"] for v in listed] == [first] + made
    assert all(set(v) == {"KeyId", "KeyVersionId", "CreationDate"} and v["KeyId"] == key_id for v in listed)
    page2 = list_versions(kms_client, key_id, page_number=2, page_size=2)
    assert page2["TotalCount"] == 3
    assert [v["KeyVersionId"] for v in page2["KeyVersions"]["KeyVersion"]] == [made[1]]
    typed = kms_client.list_key_versions(m().ListKeyVersionsRequest(key_id=key_id)).body
    assert typed.key_versions.key_version[0].key_version_id == first


@pytest.mark.parametrize("params", [{"page_size": 0}, {"page_size": 101}, {"page_number": 0}])
def test_list_key_versions_rejects_bad_paging(kms_client, params):
    key_id = create_key(kms_client)["KeyId"]
    with expect_error("InvalidParameter", 400):
        list_versions(kms_client, key_id, **params)


def test_describe_key_version(any_client):
    key_id = create_key(any_client)["KeyId"]
    first = describe_key(any_client, key_id)["PrimaryKeyVersion"]
    d = describe_version(any_client, key_id, first)
    assert d == {"KeyId": key_id, "KeyVersionId": first,
                 "CreationDate": describe_key(any_client, key_id)["CreationDate"]}
    with expect_error("Forbidden.ResourceNotFound", 404):
        describe_version(any_client, key_id, "no-such-version")
    with expect_error("Forbidden.KeyNotFound", 404):
        describe_version(any_client, "key-none-such", first)


def test_key_version_actions_accept_aliases(kms_client):
    key_id = create_key(kms_client)["KeyId"]
    alias = ks.unique_alias()
    ks.create_alias(kms_client, alias, key_id)
    v = create_version(kms_client, alias)
    assert v["KeyId"] == key_id
    assert describe_version(kms_client, ks.alias_arn(alias), v["KeyVersionId"])["KeyId"] == key_id
    assert list_versions(kms_client, alias)["TotalCount"] == 2


def test_create_key_version_errors(kms_client, unique_name):
    disabled = create_key(kms_client)["KeyId"]
    disable_key(kms_client, disabled)
    with expect_error("Rejected.Disabled", 409):
        create_version(kms_client, disabled)
    pending = create_key(kms_client)["KeyId"]
    schedule_key_deletion(kms_client, pending)
    with expect_error("Rejected.PendingDeletion", 409):
        create_version(kms_client, pending)
    with expect_error("Forbidden.KeyNotFound", 404):
        create_version(kms_client, "key-none-such")
    name = unique_name()
    create_secret(kms_client, name)
    service_key = ks.body_map(ks.describe_secret(kms_client, name))["EncryptionKeyId"]
    with expect_error("Forbidden.NoPermission", 403):
        create_version(kms_client, service_key)
    assert list_versions(kms_client, service_key)["TotalCount"] == 1
    assert list_versions(kms_client, disabled)["TotalCount"] == 1


def test_key_version_actions_need_their_parameters(raw):
    ks.assert_error_response(raw.v3("CreateKeyVersion", {}), "MissingParameter", 400)
    ks.assert_error_response(raw.v3("DescribeKeyVersion", {"KeyId": "k"}), "MissingParameter", 400)
    ks.assert_error_response(raw.v3("ListKeyVersions", {}), "MissingParameter", 400)


def test_legacy_sdk_creates_and_lists_key_versions(legacy_client):
    key_id = legacy_client.call(req("CreateKey"))["KeyMetadata"]["KeyId"]
    v = legacy_client.call(req("CreateKeyVersion", KeyId=key_id))["KeyVersion"]
    listed = legacy_client.call(req("ListKeyVersions", KeyId=key_id))["KeyVersions"]["KeyVersion"]
    assert listed[-1]["KeyVersionId"] == v["KeyVersionId"]


# ---- UpdateRotationPolicy ---------------------------------------------------------------------


def test_update_rotation_policy_turns_rotation_on_and_off(any_client):
    key_id = create_key(any_client)["KeyId"]
    md = describe_key(any_client, key_id)
    assert md["AutomaticRotation"] == "Disabled" and "NextRotationDate" not in md
    update_rotation(any_client, key_id, True, "30d")
    md = describe_key(any_client, key_id)
    assert md["AutomaticRotation"] == "Enabled"
    assert md["RotationInterval"] == "2592000s"
    last = ks.parse_time(md["LastRotationDate"])
    assert ks.parse_time(md["NextRotationDate"]) - last == datetime.timedelta(days=30)
    # A new version restarts the interval.
    v = create_version(any_client, key_id)
    md = describe_key(any_client, key_id)
    assert md["LastRotationDate"] == v["CreationDate"]
    assert (ks.parse_time(md["NextRotationDate"]) - ks.parse_time(v["CreationDate"])).days == 30
    update_rotation(any_client, key_id, False)
    md = describe_key(any_client, key_id)
    assert md["AutomaticRotation"] == "Disabled"
    assert "NextRotationDate" not in md and "RotationInterval" not in md


@pytest.mark.parametrize("interval", ["6d", "366d", "0s", "7x"])
def test_update_rotation_policy_rejects_intervals_outside_7_to_365_days(kms_client, interval):
    key_id = create_key(kms_client)["KeyId"]
    with expect_error("InvalidParameter", 400):
        update_rotation(kms_client, key_id, True, interval)
    assert describe_key(kms_client, key_id)["AutomaticRotation"] == "Disabled"


def test_update_rotation_policy_errors(kms_client, raw, unique_name):
    key_id = create_key(kms_client)["KeyId"]
    with expect_error("InvalidParameter", 400):
        update_rotation(kms_client, key_id, True)
    ks.assert_error_response(raw.v3("UpdateRotationPolicy", {"KeyId": key_id}), "MissingParameter", 400)
    with expect_error("Forbidden.KeyNotFound", 404):
        update_rotation(kms_client, "key-none-such", True, "7d")
    pending = create_key(kms_client)["KeyId"]
    schedule_key_deletion(kms_client, pending)
    with expect_error("Rejected.PendingDeletion", 409):
        update_rotation(kms_client, pending, True, "7d")
    name = unique_name()
    create_secret(kms_client, name)
    service_key = ks.body_map(ks.describe_secret(kms_client, name))["EncryptionKeyId"]
    with expect_error("Forbidden.NoPermission", 403):
        update_rotation(kms_client, service_key, True, "7d")
    disabled = create_key(kms_client)["KeyId"]
    disable_key(kms_client, disabled)
    update_rotation(kms_client, disabled, True, "7d")
    assert describe_key(kms_client, disabled)["AutomaticRotation"] == "Enabled"
