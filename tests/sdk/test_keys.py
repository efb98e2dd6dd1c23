"""CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, EnableKey / DisableKey,
ScheduleKeyDeletion / CancelKeyDeletion (kms-api.md 3.3, kms-sdk-models.md)."""
import datetime

import pytest

import kms_support as ks
from kms_support import (LegacyKms, cancel_key_deletion, create_key, describe_key, disable_key,
                         enable_key, expect_error, schedule_key_deletion)

req = LegacyKms.request

METADATA_FIELDS = {"Arn", "AutomaticRotation", "CreationDate", "Creator", "DKMSInstanceId",
                   "Description", "KeyId", "KeySpec", "KeyState", "KeyUsage", "LastRotationDate",
                   "Origin", "PrimaryKeyVersion", "ProtectionLevel"}


def m():
    return ks.models()


def list_keys(client, **kwargs):
    return ks.body_map(client.list_keys(m().ListKeysRequest(**kwargs)))


def all_key_ids(client):
    ids, page = [], 1
    while True:
        body = list_keys(client, page_number=page, page_size=100)
        ids += [k["KeyId"] for k in body["Keys"]["Key"]]
        if len(ids) >= body["TotalCount"]:
            return ids
        page += 1


# ---- CreateKey / DescribeKey -----------------------------------------------------------------


def test_create_key_returns_full_metadata(any_client):
    before = ks.utcnow()
    md = create_key(any_client, description="orders key")
    assert METADATA_FIELDS <= set(md), md
    assert ks.KEY_ID_RE.match(md["KeyId"]), md
    assert md["Arn"] == ks.key_arn(md["KeyId"])
    assert md["KeySpec"] == "Aliyun_AES_256"
    assert md["KeyUsage"] == "ENCRYPT/DECRYPT"
    assert md["KeyState"] == "Enabled"
    assert md["Origin"] == "Aliyun_KMS"
    assert md["ProtectionLevel"] == "SOFTWARE"
    assert md["AutomaticRotation"] == "Disabled"
    assert md["Description"] == "orders key"
    assert md["Creator"] == ks.ACCOUNT_ID
    assert md["DKMSInstanceId"].startswith("kst-")
    assert md["PrimaryKeyVersion"]
    assert "DeleteDate" not in md and "RotationInterval" not in md
    assert ks.parse_time(md["CreationDate"]) >= before - datetime.timedelta(seconds=5)


def test_create_key_with_everything_the_trace_sends(kms_client):
    # allops-tea-python_21_CreateKey: every optional parameter, Python's "True".
    md = create_key(kms_client, description="k", enable_automatic_rotation=True,
                    key_spec="Aliyun_AES_256", key_usage="ENCRYPT/DECRYPT", origin="Aliyun_KMS",
                    protection_level="SOFTWARE", rotation_interval="365d",
                    tags='[{"TagKey":"k","TagValue":"v"}]')
    assert md["AutomaticRotation"] == "Enabled"
    assert md["RotationInterval"] == "31536000s"
    created = ks.parse_time(md["CreationDate"])
    assert (ks.parse_time(md["NextRotationDate"]) - created).days == 365
    tags = ks.body_map(kms_client.list_resource_tags(m().ListResourceTagsRequest(key_id=md["KeyId"])))
    assert [(t["TagKey"], t["TagValue"]) for t in tags["Tags"]["Tag"]] == [("k", "v")]


def test_create_key_rotation_defaults_to_365_days(kms_client):
    md = create_key(kms_client, enable_automatic_rotation=True)
    assert md["RotationInterval"] == "31536000s"


@pytest.mark.parametrize("interval", ["6d", "366d", "1h", "abc"])
def test_create_key_rejects_rotation_interval_out_of_range(kms_client, interval):
    with expect_error("InvalidParameter", 400):
        create_key(kms_client, enable_automatic_rotation=True, rotation_interval=interval)


@pytest.mark.parametrize("spec", ["RSA_2048", "EC_P256", "aliyun_aes_256", "Aliyun_SM4_X"])
def test_create_key_rejects_other_key_specs_naming_the_supported_one(kms_client, spec):
    with expect_error("InvalidParameter", 400) as e:
        create_key(kms_client, key_spec=spec)
    assert "Aliyun_AES_256" in e.message


@pytest.mark.parametrize("param", [{"key_usage": "SIGN/VERIFY"}, {"origin": "EXTERNAL"},
                                   {"protection_level": "HSM"}])
def test_create_key_rejects_unsupported_options(kms_client, param):
    with expect_error("InvalidParameter", 400):
        create_key(kms_client, **param)


def test_create_key_description_limit_is_8192(kms_client):
    assert create_key(kms_client, description="d" * 8192)["Description"] == "d" * 8192
    with expect_error("InvalidParameter", 400):
        create_key(kms_client, description="d" * 8193)


def test_create_key_in_unknown_instance_is_refused(kms_client):
    with expect_error("Forbidden.DKMSInstanceNotFound", 403):
        create_key(kms_client, dkmsinstance_id=ks.UNKNOWN_DKMS_INSTANCE)


def test_describe_key_matches_create_and_accepts_arn(any_client):
    md = create_key(any_client, description="x")
    for ref in (md["KeyId"], md["Arn"]):
        d = describe_key(any_client, ref)
        assert d["DeletionProtection"] == "Disabled"
        for f in METADATA_FIELDS:
            assert d[f] == md[f], f


def test_describe_key_of_service_key_works(kms_client, unique_name):
    name = unique_name()
    ks.create_secret(kms_client, name)
    key_id = ks.body_map(ks.describe_secret(kms_client, name))["EncryptionKeyId"]
    d = describe_key(kms_client, key_id)
    assert d["Creator"] == "Service"
    assert d["KeyState"] == "Enabled"


@pytest.mark.parametrize("ref", [ks.UNKNOWN_KEY_ID, "alias/no-such-alias", ks.key_arn(ks.UNKNOWN_KEY_ID),
                                 "acs:kms:cn-hangzhou:9999999999999999:key/key-x", "acs:bogus"])
def test_describe_unknown_key_is_key_not_found(any_client, ref):
    with expect_error("Forbidden.KeyNotFound", 404):
        describe_key(any_client, ref)


def test_describe_key_of_other_account_arn_is_not_found(kms_client):
    md = create_key(kms_client)
    other = "acs:kms:%s:%s:key/%s" % (ks.REGION, "9999999999999999", md["KeyId"])
    with expect_error("Forbidden.KeyNotFound", 404):
        describe_key(kms_client, other)


def test_describe_key_without_key_id_is_missing_parameter(raw):
    resp = raw.v3("DescribeKey", {})
    ks.assert_error_response(resp, "MissingParameter", 400)


def test_legacy_sdk_creates_and_describes_keys(legacy_client):
    md = legacy_client.call(req("CreateKey", Description="legacy"))["KeyMetadata"]
    d = legacy_client.call(req("DescribeKey", KeyId=md["KeyId"]))["KeyMetadata"]
    assert d["Description"] == "legacy" and d["KeyState"] == "Enabled"


# ---- ListKeys ---------------------------------------------------------------------------------


def test_list_keys_pages_user_keys_without_the_service_key(fresh_server):
    srv = fresh_server()
    c = srv.client()
    name = ks.unique()
    ks.create_secret(c, name)
    service_key = ks.body_map(ks.describe_secret(c, name))["EncryptionKeyId"]
    body = list_keys(c)
    assert body["TotalCount"] == 0 and body["Keys"]["Key"] == []
    ids = [create_key(c)["KeyId"] for _ in range(5)]
    first = list_keys(c, page_number=1, page_size=2)
    assert first["TotalCount"] == 5 and first["PageNumber"] == 1 and first["PageSize"] == 2
    assert [k["KeyId"] for k in first["Keys"]["Key"]] == ids[:2]
    assert all(k["KeyArn"] == ks.key_arn(k["KeyId"]) for k in first["Keys"]["Key"])
    third = list_keys(c, page_number=3, page_size=2)
    assert [k["KeyId"] for k in third["Keys"]["Key"]] == ids[4:]
    assert list_keys(c, page_number=4, page_size=2)["Keys"]["Key"] == []
    assert service_key not in all_key_ids(c)
    default = list_keys(c)
    assert default["PageNumber"] == 1 and default["PageSize"] == 10


@pytest.mark.parametrize("params", [{"page_size": 0}, {"page_size": 101}, {"page_number": 0}])
def test_list_keys_rejects_bad_paging(kms_client, params):
    with expect_error("InvalidParameter", 400):
        list_keys(kms_client, **params)


def test_list_keys_filters_as_traced(fresh_server):
    c = fresh_server().client()
    enabled = create_key(c)["KeyId"]
    disabled = create_key(c)["KeyId"]
    pending = create_key(c, tags='[{"TagKey":"env","TagValue":"prod"}]')["KeyId"]
    disable_key(c, disabled)
    schedule_key_deletion(c, pending)
    ks.create_alias(c, "alias/filtered", enabled)
    # allops-tea-python_23_ListKeys sends exactly this.
    body = list_keys(c, page_number=1, page_size=10,
                     filters='[{"Key":"KeyState","Values":["Enabled","PendingDeletion"]}]')
    assert body["TotalCount"] == 2
    assert [k["KeyId"] for k in body["Keys"]["Key"]] == [enabled, pending]
    page2 = list_keys(c, page_number=2, page_size=1,
                      filters='[{"Key":"KeyState","Values":["Enabled","PendingDeletion"]}]')
    assert [k["KeyId"] for k in page2["Keys"]["Key"]] == [pending]

    def ids(filters):
        return [k["KeyId"] for k in list_keys(c, filters=filters)["Keys"]["Key"]]

    assert ids('[{"Key":"AliasName","Values":["alias/filtered"]}]') == [enabled]
    assert ids('[{"Key":"TagKey","Values":["env"]},{"Key":"KeyState","Values":["PendingDeletion"]}]') == [pending]
    assert ids('[{"Key":"TagKey","Values":["env"]},{"Key":"KeyState","Values":["Enabled"]}]') == []
    assert ids('[{"Key":"CreatorType","Values":["User"]}]') == [enabled, disabled, pending]
    assert ids('[{"Key":"KeyId","Values":["%s"]}]' % disabled) == [disabled]


@pytest.mark.parametrize("filters", ["{", '[{"Key":"Bogus","Values":["x"]}]', '[{"Key":"KeyState","Values":[]}]'])
def test_list_keys_rejects_malformed_filters(kms_client, filters):
    with expect_error("InvalidParameter", 400):
        list_keys(kms_client, filters=filters)


# ---- UpdateKeyDescription --------------------------------------------------------------------


def test_update_key_description(any_client):
    md = create_key(any_client, description="old")
    any_client.update_key_description(m().UpdateKeyDescriptionRequest(key_id=md["KeyId"], description="new"))
    assert describe_key(any_client, md["KeyId"])["Description"] == "new"


def test_update_key_description_errors(kms_client):
    md = create_key(kms_client)
    with expect_error("InvalidParameter", 400):
        kms_client.update_key_description(m().UpdateKeyDescriptionRequest(key_id=md["KeyId"], description="d" * 8193))
    with expect_error("Forbidden.KeyNotFound", 404):
        kms_client.update_key_description(m().UpdateKeyDescriptionRequest(key_id=ks.UNKNOWN_KEY_ID, description="d"))
    with expect_error("MissingParameter", 400):
        kms_client.update_key_description(m().UpdateKeyDescriptionRequest(key_id=md["KeyId"]))


# ---- EnableKey / DisableKey ------------------------------------------------------------------


def test_disable_and_enable_key(any_client):
    key_id = create_key(any_client)["KeyId"]
    disable_key(any_client, key_id)
    assert describe_key(any_client, key_id)["KeyState"] == "Disabled"
    disable_key(any_client, key_id)  # idempotent
    enable_key(any_client, key_id)
    assert describe_key(any_client, key_id)["KeyState"] == "Enabled"
    enable_key(any_client, key_id)


def test_enable_disable_unknown_key(kms_client):
    with expect_error("Forbidden.KeyNotFound", 404):
        enable_key(kms_client, ks.UNKNOWN_KEY_ID)
    with expect_error("Forbidden.KeyNotFound", 404):
        disable_key(kms_client, ks.UNKNOWN_KEY_ID)


def test_enable_or_disable_pending_key_is_rejected(kms_client):
    key_id = create_key(kms_client)["KeyId"]
    schedule_key_deletion(kms_client, key_id)
    with expect_error("Rejected.PendingDeletion", 409):
        enable_key(kms_client, key_id)
    with expect_error("Rejected.PendingDeletion", 409):
        disable_key(kms_client, key_id)


def test_service_key_cannot_be_changed(kms_client, unique_name):
    name = unique_name()
    ks.create_secret(kms_client, name)
    key_id = ks.body_map(ks.describe_secret(kms_client, name))["EncryptionKeyId"]
    with expect_error("Forbidden.NoPermission", 403):
        disable_key(kms_client, key_id)
    with expect_error("Forbidden.NoPermission", 403):
        schedule_key_deletion(kms_client, key_id)
    assert describe_key(kms_client, key_id)["KeyState"] == "Enabled"


# ---- ScheduleKeyDeletion / CancelKeyDeletion -------------------------------------------------


def test_schedule_and_cancel_key_deletion(any_client):
    key_id = create_key(any_client)["KeyId"]
    disable_key(any_client, key_id)
    before = ks.utcnow()
    schedule_key_deletion(any_client, key_id, 30)
    d = describe_key(any_client, key_id)
    assert d["KeyState"] == "PendingDeletion"
    delta = ks.parse_time(d["DeleteDate"]) - before
    assert 30 * 86400 - 5 <= delta.total_seconds() <= 30 * 86400 + 5, d
    cancel_key_deletion(any_client, key_id)
    d = describe_key(any_client, key_id)
    assert d["KeyState"] == "Enabled" and "DeleteDate" not in d


@pytest.mark.parametrize("days", [6, 367, 0])
def test_schedule_key_deletion_window_is_7_to_366(kms_client, days):
    key_id = create_key(kms_client)["KeyId"]
    with expect_error("InvalidParameter", 400):
        schedule_key_deletion(kms_client, key_id, days)
    assert describe_key(kms_client, key_id)["KeyState"] == "Enabled"


@pytest.mark.parametrize("days", [7, 366])
def test_schedule_key_deletion_window_bounds_accepted(kms_client, days):
    key_id = create_key(kms_client)["KeyId"]
    schedule_key_deletion(kms_client, key_id, days)
    assert describe_key(kms_client, key_id)["KeyState"] == "PendingDeletion"


def test_schedule_key_deletion_errors(kms_client):
    with expect_error("Forbidden.KeyNotFound", 404):
        schedule_key_deletion(kms_client, ks.UNKNOWN_KEY_ID)
    key_id = create_key(kms_client)["KeyId"]
    schedule_key_deletion(kms_client, key_id)
    first = describe_key(kms_client, key_id)["DeleteDate"]
    with expect_error("Rejected.PendingDeletion", 409):
        schedule_key_deletion(kms_client, key_id, 30)
    assert describe_key(kms_client, key_id)["DeleteDate"] == first
    with expect_error("MissingParameter", 400):
        kms_client.schedule_key_deletion(m().ScheduleKeyDeletionRequest(key_id=key_id))


def test_cancel_deletion_of_key_not_pending_is_state_modified_failed(kms_client):
    key_id = create_key(kms_client)["KeyId"]
    with expect_error("Rejected.StateModifiedFailed", 409):
        cancel_key_deletion(kms_client, key_id)
    with expect_error("Forbidden.KeyNotFound", 404):
        cancel_key_deletion(kms_client, ks.UNKNOWN_KEY_ID)


def test_key_state_survives_restart(fresh_server):
    srv = fresh_server()
    c = srv.client()
    a = create_key(c, description="a", enable_automatic_rotation=True, rotation_interval="30d")
    b = create_key(c)["KeyId"]
    disable_key(c, a["KeyId"])
    schedule_key_deletion(c, b, 10)
    srv.restart()
    c = srv.client()
    da = describe_key(c, a["KeyId"])
    assert da["KeyState"] == "Disabled" and da["RotationInterval"] == "2592000s"
    assert describe_key(c, b)["KeyState"] == "PendingDeletion"
