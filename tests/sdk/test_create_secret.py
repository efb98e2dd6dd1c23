"""CreateSecret: happy path and every documented parameter limit / error (seed 000, kms-api.md 3.1)."""
import datetime
import json

import pytest

import kms_support as ks
from kms_support import assert_secret_absent, create_secret, expect_error

InvalidParameter = ("InvalidParameter", 400)


def rejected(client, name, **kwargs):
    """CreateSecret must fail with 400 InvalidParameter and leave nothing behind."""
    with expect_error(*InvalidParameter):
        create_secret(client, name, **kwargs)
    assert_secret_absent(client, name)


def rds_kwargs(**extra):
    kw = dict(data=ks.RDS_SECRET_DATA, secret_type="Rds", extended_config=dict(ks.RDS_EXTENDED_CONFIG))
    kw.update(extra)
    return kw


def tags_json(n, prefix="k"):
    return json.dumps([{"TagKey": "%s%d" % (prefix, i), "TagValue": "v%d" % i} for i in range(n)])


# ---- happy path ------------------------------------------------------------------------------


def test_create_secret_returns_arn_name_version_and_generic_type(any_client, unique_name):
    name = unique_name()
    body = ks.body_map(create_secret(any_client, name, data="hello", version_id="v1"))
    assert body["Arn"] == "acs:kms:cn-hangzhou:1234567890123456:secret/%s" % name
    assert body["SecretName"] == name
    assert body["VersionId"] == "v1"
    assert body["SecretType"] == "Generic"
    assert body["RequestId"]


def test_create_secret_value_is_readable_as_acs_current(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="first value", version_id="ver-1")
    body = ks.body_map(ks.get_secret_value(kms_client, name))
    assert (body["SecretData"], body["VersionId"]) == ("first value", "ver-1")
    assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}


def test_create_secret_with_name_containing_slashes_keeps_it_verbatim_in_arn(kms_client, unique_name):
    name = "app/%s/db" % unique_name()
    body = ks.body_map(create_secret(kms_client, name))
    assert body["Arn"] == ks.secret_arn(name)


def test_create_secret_accepts_every_allowed_name_character(kms_client, unique_name):
    name = unique_name("Az09_/+=.-@")
    body = ks.body_map(create_secret(kms_client, name))
    assert body["SecretName"] == name
    assert ks.body_map(ks.get_secret_value(kms_client, name))["SecretData"] == "s3cr3t"


# ---- required parameters ---------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["SecretName", "VersionId", "SecretData"])
def test_create_secret_without_required_parameter_is_missing_parameter(server, unique_name, missing):
    params = {"SecretName": unique_name(), "VersionId": "v1", "SecretData": "x"}
    name = params["SecretName"]
    del params[missing]
    resp = server.raw().v1("CreateSecret", params)
    ks.assert_error_response(resp, "MissingParameter", 400)
    assert_secret_absent(server.client(), name)


# ---- SecretName ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["has space", "hash#tag", "star*", "pct%", "amp&", "colon:x", "q?x",
                                 "comma,x", "back\\slash", "\u540d\u5b57"])
def test_create_secret_rejects_name_with_character_outside_charset(kms_client, unique_name, bad):
    name = unique_name() + bad
    with expect_error(*InvalidParameter):
        create_secret(kms_client, name)
    with expect_error("Forbidden.ResourceNotFound", 404):
        ks.describe_secret(kms_client, name)


def test_create_secret_accepts_name_of_192_chars(kms_client, unique_name):
    base = unique_name()
    name = base + "x" * (192 - len(base))
    assert len(name) == 192
    assert ks.body_map(create_secret(kms_client, name))["SecretName"] == name


def test_create_secret_rejects_name_longer_than_192_chars(kms_client, unique_name):
    base = unique_name()
    name = base + "x" * (193 - len(base))
    assert len(name) == 193
    rejected(kms_client, name)


def test_create_secret_rejects_acs_prefix_for_generic(kms_client, unique_name):
    rejected(kms_client, "acs/" + unique_name())


def test_create_secret_rejects_acs_prefix_for_rds(kms_client, unique_name):
    rejected(kms_client, "acs/" + unique_name(), **rds_kwargs())


# ---- VersionId -------------------------------------------------------------------------------


def test_create_secret_accepts_version_id_of_64_chars(kms_client, unique_name):
    name = unique_name()
    vid = "v" * 64
    assert ks.body_map(create_secret(kms_client, name, version_id=vid))["VersionId"] == vid
    assert ks.body_map(ks.get_secret_value(kms_client, name, version_id=vid))["VersionId"] == vid


def test_create_secret_rejects_version_id_longer_than_64_chars(kms_client, unique_name):
    rejected(kms_client, unique_name(), version_id="v" * 65)


# ---- SecretData ------------------------------------------------------------------------------


def test_create_secret_accepts_secret_data_of_30720_bytes(kms_client, unique_name):
    name = unique_name()
    data = "d" * 30720
    create_secret(kms_client, name, data=data)
    assert ks.body_map(ks.get_secret_value(kms_client, name))["SecretData"] == data


def test_create_secret_rejects_secret_data_of_30721_bytes(kms_client, unique_name):
    rejected(kms_client, unique_name(), data="d" * 30721)


def test_create_secret_counts_secret_data_limit_in_utf8_bytes_not_characters(kms_client, unique_name):
    ok = "\u20ac" * 10240  # 3 bytes each: exactly 30720 bytes
    assert len(ok.encode("utf-8")) == 30720
    name = unique_name()
    create_secret(kms_client, name, data=ok)
    assert ks.body_map(ks.get_secret_value(kms_client, name))["SecretData"] == ok
    too_long = ok + "a"  # 10241 characters, 30721 bytes
    rejected(kms_client, unique_name(), data=too_long)


@pytest.mark.parametrize("data_type", ["text", "binary"])
def test_create_secret_accepts_secret_data_type_text_and_binary(kms_client, unique_name, data_type):
    name = unique_name()
    create_secret(kms_client, name, data="aGVsbG8=", secret_data_type=data_type)
    assert ks.body_map(ks.get_secret_value(kms_client, name))["SecretDataType"] == data_type


@pytest.mark.parametrize("data_type", ["json", "blob", "base64"])
def test_create_secret_rejects_secret_data_type_other_than_text_or_binary(kms_client, unique_name, data_type):
    rejected(kms_client, unique_name(), secret_data_type=data_type)


# ---- Tags ------------------------------------------------------------------------------------


def test_create_secret_stores_tags(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, tags=tags_json(20))
    body = ks.body_map(ks.describe_secret(kms_client, name, fetch_tags="true"))
    got = sorted((t["TagKey"], t["TagValue"]) for t in body["Tags"]["Tag"])
    assert got == sorted(("k%d" % i, "v%d" % i) for i in range(20))


@pytest.mark.parametrize("tags", ['[{"TagKey":"k","TagValue":"v"}', "not json", '{"TagKey":"k"}'])
def test_create_secret_rejects_tags_that_are_not_a_json_tag_list(kms_client, unique_name, tags):
    rejected(kms_client, unique_name(), tags=tags)


def test_create_secret_rejects_more_than_20_tags(kms_client, unique_name):
    rejected(kms_client, unique_name(), tags=tags_json(21))


@pytest.mark.parametrize("key", ["acs:team", "aliyun-owner"])
def test_create_secret_rejects_tag_key_with_reserved_prefix(kms_client, unique_name, key):
    rejected(kms_client, unique_name(), tags=json.dumps([{"TagKey": key, "TagValue": "v"}]))


def test_create_secret_rejects_tag_value_longer_than_128_chars(kms_client, unique_name):
    rejected(kms_client, unique_name(), tags=json.dumps([{"TagKey": "k", "TagValue": "v" * 129}]))


# ---- rotation / secret types -----------------------------------------------------------------


def test_create_secret_rejects_automatic_rotation_on_generic_secret(kms_client, unique_name):
    rejected(kms_client, unique_name(), enable_automatic_rotation=True, rotation_interval="7d")


def test_create_rds_secret_with_rotation_reports_rotation_settings(kms_client, unique_name):
    name = unique_name()
    before = ks.utcnow()
    body = ks.body_map(create_secret(kms_client, name, enable_automatic_rotation=True, rotation_interval="7d",
                                     **rds_kwargs()))
    after = ks.utcnow()
    assert body["SecretType"] == "Rds"
    assert body["Arn"] == ks.secret_arn(name)
    assert body["AutomaticRotation"] == "Enabled"
    assert body["RotationInterval"] == "604800s"
    nxt = ks.parse_time(body["NextRotationDate"])
    week = datetime.timedelta(days=7)
    slack = datetime.timedelta(seconds=120)
    assert before + week - slack <= nxt <= after + week + slack, body["NextRotationDate"]
    assert isinstance(body["ExtendedConfig"], str)
    ext = json.loads(body["ExtendedConfig"])
    assert ext["SecretSubType"] == "SingleUser"
    assert ext["DBInstanceId"] == ks.RDS_EXTENDED_CONFIG["DBInstanceId"]


def test_create_rds_secret_without_rotation_reports_disabled(kms_client, unique_name):
    body = ks.body_map(create_secret(kms_client, unique_name(), **rds_kwargs()))
    assert body["SecretType"] == "Rds"
    assert body["AutomaticRotation"] == "Disabled"
    assert json.loads(body["ExtendedConfig"])["SecretSubType"] == "SingleUser"


def test_create_rds_secret_without_extended_config_is_rejected(kms_client, unique_name):
    rejected(kms_client, unique_name(), data=ks.RDS_SECRET_DATA, secret_type="Rds")


def test_create_secret_rejects_unknown_secret_type(kms_client, unique_name):
    rejected(kms_client, unique_name(), secret_type="Mongo")


def test_create_secret_rejects_rotation_enabled_without_interval(kms_client, unique_name):
    rejected(kms_client, unique_name(), enable_automatic_rotation=True, **rds_kwargs())


@pytest.mark.parametrize("interval", ["5h", "8761h", "21599s", "366d", "7", "7x", "-7d", "d"])
def test_create_secret_rejects_rotation_interval_outside_6h_to_8760h(kms_client, unique_name, interval):
    rejected(kms_client, unique_name(), enable_automatic_rotation=True, rotation_interval=interval, **rds_kwargs())


@pytest.mark.parametrize("interval,seconds", [("6h", "21600s"), ("365d", "31536000s"), ("8760h", "31536000s"),
                                              ("360m", "21600s"), ("604800s", "604800s"), ("30d", "2592000s")])
def test_create_secret_accepts_rotation_interval_within_range_and_normalises_to_seconds(
        kms_client, unique_name, interval, seconds):
    body = ks.body_map(create_secret(kms_client, unique_name(), enable_automatic_rotation=True,
                                     rotation_interval=interval, **rds_kwargs()))
    assert body["RotationInterval"] == seconds
    assert body["AutomaticRotation"] == "Enabled"


# ---- Policy ----------------------------------------------------------------------------------


def policy_doc(actions=("kms:*",)):
    return {"Version": "1", "Statement": [{"Sid": "test", "Effect": "Allow",
                                           "Principal": {"RAM": ["acs:ram::%s:*" % ks.ACCOUNT_ID]},
                                           "Action": list(actions), "Resource": ["*"]}]}


def policy_of_size(n):
    """A valid policy document of exactly n bytes (padding is JSON whitespace)."""
    text = json.dumps(policy_doc(["kms:GetSecretValue"] * ((n - 300) // 22 + 1)))
    while len(text) > n - 10:
        doc = json.loads(text)
        doc["Statement"][0]["Action"].pop()
        text = json.dumps(doc)
    text = text[:-1] + " " * (n - len(text)) + "}"
    assert len(text.encode("utf-8")) == n
    json.loads(text)
    return text


def test_create_secret_accepts_valid_policy(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, policy=json.dumps(policy_doc()))
    assert ks.body_map(ks.get_secret_value(kms_client, name))["SecretData"] == "s3cr3t"


@pytest.mark.parametrize("policy", ["not json", '{"Version":"1","Statement":[', "[]"])
def test_create_secret_rejects_policy_that_is_not_a_json_policy(kms_client, unique_name, policy):
    rejected(kms_client, unique_name(), policy=policy)


def test_create_secret_accepts_policy_of_32768_bytes(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, policy=policy_of_size(32768))
    assert ks.body_map(ks.get_secret_value(kms_client, name))["SecretData"] == "s3cr3t"


def test_create_secret_rejects_policy_larger_than_32768_bytes(kms_client, unique_name):
    rejected(kms_client, unique_name(), policy=policy_of_size(32769))


# ---- DKMS instance / key ---------------------------------------------------------------------


def test_create_secret_with_unknown_dkms_instance_is_forbidden(kms_client, unique_name):
    name = unique_name()
    with expect_error("Forbidden.DKMSInstanceNotFound", 403):
        create_secret(kms_client, name, dkmsinstance_id=ks.UNKNOWN_DKMS_INSTANCE)
    assert_secret_absent(kms_client, name)


def test_create_secret_with_unknown_encryption_key_is_not_found(kms_client, unique_name):
    name = unique_name()
    with expect_error("Forbidden.ResourceNotFound", 404):
        create_secret(kms_client, name, encryption_key_id=ks.UNKNOWN_KEY_ID)
    assert_secret_absent(kms_client, name)


def test_create_secret_without_encryption_key_uses_the_service_key(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    body = ks.body_map(ks.describe_secret(kms_client, name))
    assert body["EncryptionKeyId"], body


# ---- uniqueness ------------------------------------------------------------------------------


def test_create_secret_with_existing_name_is_rejected_as_resource_exist(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="original")
    with expect_error("Rejected.ResourceExist", 409):
        create_secret(kms_client, name, data="second", version_id="v2")
    body = ks.body_map(ks.get_secret_value(kms_client, name))
    assert (body["SecretData"], body["VersionId"]) == ("original", "v1")


def test_rejected_create_leaves_name_free_for_a_valid_create(kms_client, unique_name):
    name = unique_name()
    rejected(kms_client, name, tags=tags_json(21))
    body = ks.body_map(create_secret(kms_client, name, data="ok"))
    assert body["SecretName"] == name
    assert ks.body_map(ks.get_secret_value(kms_client, name))["SecretData"] == "ok"
