"""GetSecretValue: lookup by name/ARN/version/stage, the fields the caching clients need, round trips."""
import base64
import json
import os

import pytest

import kms_support as ks
from kms_support import create_secret, expect_error, get_secret_value, put_secret_value


def test_get_secret_value_by_name_returns_current_value(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name, data="by-name", version_id="v1")
    body = ks.body_map(get_secret_value(any_client, name))
    assert (body["SecretName"], body["SecretData"], body["VersionId"]) == (name, "by-name", "v1")


def test_get_secret_value_by_arn_returns_current_value(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name, data="by-arn")
    body = ks.body_map(get_secret_value(any_client, ks.secret_arn(name)))
    assert body["SecretData"] == "by-arn"
    assert body["SecretName"] == name


def test_get_secret_value_defaults_to_acs_current_stage(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one", version_id="v1")
    put_secret_value(kms_client, name, "v2", "two")
    body = ks.body_map(get_secret_value(kms_client, name))
    assert (body["VersionId"], body["SecretData"]) == ("v2", "two")
    assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
    explicit = ks.body_map(get_secret_value(kms_client, name, version_stage="ACSCurrent"))
    assert (explicit["VersionId"], explicit["SecretData"]) == ("v2", "two")


def test_get_secret_value_by_version_id_returns_that_version(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one", version_id="v1")
    put_secret_value(kms_client, name, "v2", "two")
    body = ks.body_map(get_secret_value(kms_client, name, version_id="v1"))
    assert (body["VersionId"], body["SecretData"]) == ("v1", "one")
    assert body["VersionStages"] == {"VersionStage": ["ACSPrevious"]}


def test_get_secret_value_acs_previous_after_put_returns_old_version(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one", version_id="v1")
    put_secret_value(kms_client, name, "v2", "two")
    body = ks.body_map(get_secret_value(kms_client, name, version_stage="ACSPrevious"))
    assert (body["VersionId"], body["SecretData"]) == ("v1", "one")
    assert body["VersionStages"] == {"VersionStage": ["ACSPrevious"]}


def test_get_secret_value_with_version_id_and_matching_stage_succeeds(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one", version_id="v1")
    put_secret_value(kms_client, name, "v2", "two")
    body = ks.body_map(get_secret_value(kms_client, name, version_id="v1", version_stage="ACSPrevious"))
    assert body["SecretData"] == "one"


def test_get_secret_value_with_version_id_and_mismatching_stage_is_not_found(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="one", version_id="v1")
    put_secret_value(kms_client, name, "v2", "two")
    with expect_error("Forbidden.ResourceNotFound", 404):
        get_secret_value(kms_client, name, version_id="v2", version_stage="ACSPrevious")
    with expect_error("Forbidden.ResourceNotFound", 404):
        get_secret_value(kms_client, name, version_id="v1", version_stage="ACSCurrent")


def test_get_secret_value_of_unknown_secret_is_not_found(any_client, unique_name):
    with expect_error("Forbidden.ResourceNotFound", 404):
        get_secret_value(any_client, unique_name("never-created"))


def test_get_secret_value_of_unknown_version_or_stage_is_not_found(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name)
    with expect_error("Forbidden.ResourceNotFound", 404):
        get_secret_value(kms_client, name, version_id="no-such-version")
    with expect_error("Forbidden.ResourceNotFound", 404):
        get_secret_value(kms_client, name, version_stage="ACSPrevious")
    with expect_error("Forbidden.ResourceNotFound", 404):
        get_secret_value(kms_client, name, version_stage="custom-label")


def test_get_secret_value_without_secret_name_is_missing_parameter(raw):
    ks.assert_error_response(raw.v1("GetSecretValue", {}), "MissingParameter", 400)


def test_get_secret_value_returns_every_field_caching_clients_need(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data="cache me", version_id="v1")
    body = ks.body_map(get_secret_value(kms_client, name, version_stage="ACSCurrent", fetch_extended_config=True))
    assert body["SecretName"] == name
    assert body["VersionId"] == "v1"
    assert body["SecretData"] == "cache me"
    assert body["SecretDataType"] == "text"
    assert body["SecretType"] == "Generic"
    assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
    assert body["AutomaticRotation"] == "Disabled"
    created = ks.parse_time(body["CreateTime"])
    assert abs((ks.utcnow() - created).total_seconds()) < 900
    assert body["RequestId"]
    assert "Code" not in body


def test_get_secret_value_fetch_extended_config_on_rds_secret_returns_json_string(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data=ks.RDS_SECRET_DATA, secret_type="Rds",
                  extended_config=dict(ks.RDS_EXTENDED_CONFIG))
    body = ks.body_map(get_secret_value(kms_client, name, fetch_extended_config=True))
    assert body["SecretType"] == "Rds"
    assert isinstance(body["ExtendedConfig"], str)
    ext = json.loads(body["ExtendedConfig"])
    assert ext["SecretSubType"] == "SingleUser"
    assert ext["DBInstanceId"] == ks.RDS_EXTENDED_CONFIG["DBInstanceId"]


def test_get_secret_value_without_fetch_extended_config_omits_it(kms_client, unique_name):
    name = unique_name()
    create_secret(kms_client, name, data=ks.RDS_SECRET_DATA, secret_type="Rds",
                  extended_config=dict(ks.RDS_EXTENDED_CONFIG))
    body = ks.body_map(get_secret_value(kms_client, name))
    assert not body.get("ExtendedConfig"), body


def test_binary_secret_round_trips_as_base64(any_client, unique_name):
    name = unique_name()
    raw_bytes = os.urandom(512) + bytes(range(256))
    b64 = base64.b64encode(raw_bytes).decode("ascii")
    create_secret(any_client, name, data=b64, secret_data_type="binary")
    body = ks.body_map(get_secret_value(any_client, name))
    assert body["SecretDataType"] == "binary"
    assert base64.b64decode(body["SecretData"]) == raw_bytes


UNICODE_VALUE = "p\u00e4ss w\u00f6rd \u5bc6\u7801 \u043f\u0430\u0440\u043e\u043b\u044c \U0001f511 &=+%/?#*~\"'\\\n\t<>"


def test_unicode_secret_round_trips_through_generated_sdk(any_client, unique_name):
    name = unique_name()
    create_secret(any_client, name, data=UNICODE_VALUE)
    assert ks.body_map(get_secret_value(any_client, name))["SecretData"] == UNICODE_VALUE


def test_unicode_secret_round_trips_through_legacy_sdk(legacy_client, unique_name):
    name = unique_name()
    legacy_client.call(ks.LegacyKms.request("CreateSecret", SecretName=name, VersionId="v1", SecretData=UNICODE_VALUE))
    body = legacy_client.call(ks.LegacyKms.request("GetSecretValue", SecretName=name))
    assert body["SecretData"] == UNICODE_VALUE


def big_value():
    """Exactly 30720 UTF-8 bytes, heavy on characters that need percent-encoding (~3x in a URL)."""
    unit = "a &=+%/?\u20ac#"  # 11 bytes in UTF-8
    s = unit * (30720 // len(unit.encode("utf-8")))
    s += "z" * (30720 - len(s.encode("utf-8")))
    assert len(s.encode("utf-8")) == 30720
    return s


@pytest.mark.parametrize("style", ["v3", "v1", "legacy"])
def test_secret_of_30720_bytes_round_trips(server, unique_name, style):
    name = unique_name()
    value = big_value()
    if style == "legacy":
        legacy = server.legacy()
        legacy.call(ks.LegacyKms.request("CreateSecret", SecretName=name, VersionId="v1", SecretData=value))
        got = legacy.call(ks.LegacyKms.request("GetSecretValue", SecretName=name))["SecretData"]
    else:
        client = server.client(style)
        create_secret(client, name, data=value)
        got = ks.body_map(get_secret_value(client, name))["SecretData"]
    assert got == value
    # and the value is the same whichever client reads it
    assert ks.body_map(get_secret_value(server.client("v3"), name))["SecretData"] == value
