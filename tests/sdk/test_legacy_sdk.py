"""The legacy SDK (aliyun-python-sdk-kms request classes on aliyun-python-sdk-core): V1 signature,
every parameter in the URL query, POST with an empty body."""
import json

import pytest

import kms_support as ks
from kms_support import LegacyKms, expect_error

req = LegacyKms.request


def test_legacy_create_secret_returns_arn_and_version(legacy_client, unique_name):
    name = unique_name()
    body = legacy_client.call(req("CreateSecret", SecretName=name, VersionId="v1", SecretData="legacy-value",
                                  SecretDataType="text", Description="made by the legacy sdk",
                                  Tags='[{"TagKey":"env","TagValue":"test"}]'))
    assert body["Arn"] == ks.secret_arn(name)
    assert (body["SecretName"], body["VersionId"], body["SecretType"]) == (name, "v1", "Generic")
    assert "Code" not in body


def test_legacy_get_secret_value_returns_value_and_stages(legacy_client, unique_name):
    name = unique_name()
    legacy_client.call(req("CreateSecret", SecretName=name, VersionId="v1", SecretData="legacy-value"))
    body = legacy_client.call(req("GetSecretValue", SecretName=name, VersionStage="ACSCurrent",
                                  FetchExtendedConfig=True))
    assert (body["SecretName"], body["SecretData"], body["VersionId"]) == (name, "legacy-value", "v1")
    assert body["SecretDataType"] == "text"
    assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
    ks.parse_time(body["CreateTime"])


def test_legacy_describe_secret_with_tags(legacy_client, unique_name):
    name = unique_name()
    legacy_client.call(req("CreateSecret", SecretName=name, VersionId="v1", SecretData="x", Description="desc",
                           Tags='[{"TagKey":"env","TagValue":"test"}]'))
    body = legacy_client.call(req("DescribeSecret", SecretName=name, FetchTags="true"))
    assert body["Arn"] == ks.secret_arn(name)
    assert body["Description"] == "desc"
    assert body["Tags"] == {"Tag": [{"TagKey": "env", "TagValue": "test"}]}


def test_legacy_put_secret_value_moves_current_stage(legacy_client, unique_name):
    name = unique_name()
    legacy_client.call(req("CreateSecret", SecretName=name, VersionId="v1", SecretData="one"))
    body = legacy_client.call(req("PutSecretValue", SecretName=name, VersionId="v2", SecretData="two"))
    assert body["VersionId"] == "v2"
    assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
    cur = legacy_client.call(req("GetSecretValue", SecretName=name))
    assert (cur["VersionId"], cur["SecretData"]) == ("v2", "two")
    prev = legacy_client.call(req("GetSecretValue", SecretName=name, VersionStage="ACSPrevious"))
    assert (prev["VersionId"], prev["SecretData"]) == ("v1", "one")


def test_legacy_sdk_value_is_readable_by_generated_sdk(legacy_client, kms_client, unique_name):
    name = unique_name()
    value = json.dumps({"user": "alice", "password": "p@ss w0rd&=+%"})
    legacy_client.call(req("CreateSecret", SecretName=name, VersionId="v1", SecretData=value))
    assert ks.body_map(ks.get_secret_value(kms_client, name))["SecretData"] == value


def test_legacy_unknown_secret_raises_server_exception_with_404(legacy_client, unique_name):
    from aliyunsdkcore.acs_exception.exceptions import ServerException

    with expect_error("Forbidden.ResourceNotFound", 404) as err:
        legacy_client.call(req("GetSecretValue", SecretName=unique_name("never-created")))
    assert isinstance(err.exception, ServerException)
    assert err.exception.get_request_id()


def test_legacy_duplicate_create_raises_resource_exist(legacy_client, unique_name):
    name = unique_name()
    legacy_client.call(req("CreateSecret", SecretName=name, VersionId="v1", SecretData="x"))
    with expect_error("Rejected.ResourceExist", 409):
        legacy_client.call(req("CreateSecret", SecretName=name, VersionId="v1", SecretData="x"))


def test_legacy_invalid_parameter_raises_server_exception_with_400(legacy_client, unique_name):
    with expect_error("InvalidParameter", 400):
        legacy_client.call(req("CreateSecret", SecretName=unique_name(), VersionId="v1", SecretData="x",
                               SecretDataType="json"))
