"""Shared helpers for the black-box suite: constants, client builders, error assertions."""
import contextlib
import datetime
import json
import os
import re
import uuid

import pytest

ACCOUNT_ID = "1234567890123456"
REGION = "cn-hangzhou"
DEFAULT_AK = "testAccessKeyId"
# Root access key secrets are at least 30 characters, as Alibaba issues them (openkms refuses
# shorter ones); the SDK trace captures were signed with TRACE_SK.
DEFAULT_SK = "testAccessKeySecret0123456789abcdef"
TRACE_SK = "testAccessKeySecret"

UNKNOWN_KEY_ID = "key-hzz00000000000000000000"
UNKNOWN_DKMS_INSTANCE = "kst-hzz000000000000000000"

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

RDS_EXTENDED_CONFIG = {"SecretSubType": "SingleUser", "DBInstanceId": "rm-bp1b3dd3a506e0000"}
RDS_SECRET_DATA = '{"Accounts":[{"AccountName":"user1","AccountPassword":"Passw0rd!"}]}'


def secret_arn(name):
    return "acs:kms:%s:%s:secret/%s" % (REGION, ACCOUNT_ID, name)


def unique(prefix="sdk-test"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:16])


def parse_time(value):
    assert isinstance(value, str) and TIME_RE.match(value), "not a YYYY-MM-DDThh:mm:ssZ time: %r" % (value,)
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def credentials():
    """AccessKey the suite signs with. Local servers are started with these values."""
    if os.environ.get("OPENKMS_TEST_ENDPOINT"):
        return (os.environ.get("OPENKMS_ROOT_ACCESS_KEY_ID", DEFAULT_AK),
                os.environ.get("OPENKMS_ROOT_ACCESS_KEY_SECRET", DEFAULT_SK))
    return DEFAULT_AK, DEFAULT_SK


# ---------------------------------------------------------------------------------------------
# clients


def generated_client(endpoint, ak, sk, signature="v3", **config):
    """alibabacloud_kms20160120 Client pointed at a plain-HTTP endpoint (V3, or V1 with 'v1');
    `config` sets further Config fields (retry_options=...)."""
    from alibabacloud_kms20160120.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(access_key_id=ak, access_key_secret=sk, endpoint=endpoint,
                                 protocol="http", region_id=REGION, **config)
    if signature == "v1":
        cfg.signature_algorithm = "v2"
    return Client(cfg)


def https_client(endpoint, ak, sk, signature="v3", **config):
    """alibabacloud_kms20160120 Client as an application configures it for HTTPS: `protocol` left at
    the SDK's default (https); `config` gives the rest (ca=path to trust a private CA, cert=...)."""
    from alibabacloud_kms20160120.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(access_key_id=ak, access_key_secret=sk, endpoint=endpoint, region_id=REGION,
                                 **config)
    if signature == "v1":
        cfg.signature_algorithm = "v2"
    assert cfg.protocol is None, "https_client must leave the protocol at the SDK default"
    return Client(cfg)


class LegacyKms:
    """aliyun-python-sdk-kms request classes on an AcsClient, every request sent over http to endpoint."""

    def __init__(self, endpoint, ak, sk):
        from aliyunsdkcore.client import AcsClient

        self.endpoint = endpoint
        self.client = AcsClient(ak, sk, REGION)

    def prep(self, req):
        req.set_endpoint(self.endpoint)
        req.set_protocol_type("http")
        return req

    def call(self, req):
        """Sends the request; returns the parsed JSON body (raises ServerException on errors)."""
        body = self.client.do_action_with_exception(self.prep(req))
        return json.loads(body.decode("utf-8"))

    @staticmethod
    def request(name, **params):
        """LegacyKms.request('GetSecretValue', SecretName='x') -> request object with setters applied."""
        module = __import__("aliyunsdkkms.request.v20160120.%sRequest" % name, fromlist=["x"])
        req = getattr(module, "%sRequest" % name)()
        for k, v in params.items():
            getattr(req, "set_" + k)(v)
        return req


# ---------------------------------------------------------------------------------------------
# errors


class ErrorInfo:
    code = None
    status = None
    exception = None
    message = None


def error_code_and_status(exc):
    """(code, http status, message) from any client's exception."""
    try:
        from aliyunsdkcore.acs_exception.exceptions import ServerException as LegacyServerException
        from aliyunsdkcore.acs_exception.exceptions import ClientException as LegacyClientException
    except ImportError:  # pragma: no cover
        LegacyServerException = LegacyClientException = ()
    if isinstance(exc, LegacyServerException):
        return exc.get_error_code(), exc.get_http_status(), exc.get_error_msg()
    if isinstance(exc, LegacyClientException):
        return exc.get_error_code(), None, exc.get_error_msg()
    from Tea.exceptions import TeaException

    if isinstance(exc, TeaException):
        data = getattr(exc, "data", None) or {}
        status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None) or data.get("statusCode")
        return getattr(exc, "code", None), status, data.get("Message", getattr(exc, "message", None))
    return None, None, repr(exc)


@contextlib.contextmanager
def expect_error(code, status):
    """with expect_error('Forbidden.ResourceNotFound', 404): client.call(...)

    code/status None means "any"; status may be a range() for "any 4xx"."""
    info = ErrorInfo()
    try:
        yield info
    except Exception as exc:  # noqa: BLE001 - we classify every client's exception type
        if isinstance(exc, (AssertionError, pytest.fail.Exception, pytest.skip.Exception)):
            raise
        info.exception = exc
        info.code, info.status, info.message = error_code_and_status(exc)
        want = (code, status)
        ok_code = code is None or info.code == code
        ok_status = status is None or (info.status in status if isinstance(status, range) else info.status == status)
        assert ok_code and ok_status, "expected error %r, got code=%r status=%r from %s: %r" % (
            want, info.code, info.status, type(exc).__name__, exc)
    else:
        pytest.fail("expected error %s (HTTP %s) but the call succeeded" % (code, status))


CLIENT_4XX = range(400, 500)


def assert_error_response(resp, code, status):
    """Raw response: exact status and Code, plus the full error body shape (kms-api.md 1.5)."""
    assert resp is not None, "server dropped the connection instead of answering"
    body = resp.json()
    assert (resp.status, body.get("Code")) == (status, code), "expected %s %s, got %s %r" % (
        status, code, resp.status, body)
    for field in ("RequestId", "HostId", "Code", "Message", "Recommend", "HttpStatus"):
        assert field in body, "error body lacks %s: %r" % (field, body)
    assert body["HttpStatus"] == status, body
    assert isinstance(body["Message"], str) and body["Message"], body
    return body


def assert_success_response(resp):
    assert resp is not None, "server dropped the connection instead of answering"
    assert resp.status == 200, "expected 200, got %s %r" % (resp.status, resp.body[:500])
    body = resp.json()
    assert "Code" not in body, "success body must not contain Code: %r" % body
    assert body.get("RequestId"), body
    return body


# ---------------------------------------------------------------------------------------------
# generated-SDK shortcuts


def models():
    from alibabacloud_kms20160120 import models as m

    return m


def body_map(resp):
    """The SDK's parsed body as a dict; fails if the SDK could not map the JSON onto its model."""
    assert resp.body is not None, "SDK could not parse the response body into its model (wrong nesting?)"
    return resp.body.to_map()


def create_secret(client, name, data="s3cr3t", version_id="v1", **kwargs):
    req = models().CreateSecretRequest(secret_name=name, version_id=version_id, secret_data=data, **kwargs)
    return client.create_secret(req)


def get_secret_value(client, name, **kwargs):
    return client.get_secret_value(models().GetSecretValueRequest(secret_name=name, **kwargs))


def describe_secret(client, name, **kwargs):
    return client.describe_secret(models().DescribeSecretRequest(secret_name=name, **kwargs))


def put_secret_value(client, name, version_id, data, **kwargs):
    return client.put_secret_value(models().PutSecretValueRequest(
        secret_name=name, version_id=version_id, secret_data=data, **kwargs))


def assert_secret_absent(client, name):
    """DescribeSecret and GetSecretValue both say 404 Forbidden.ResourceNotFound."""
    with expect_error("Forbidden.ResourceNotFound", 404):
        describe_secret(client, name)
    with expect_error("Forbidden.ResourceNotFound", 404):
        get_secret_value(client, name)


# ---------------------------------------------------------------------------------------------
# keys and aliases


KEY_ID_RE = re.compile(r"^key-[a-z0-9]+$")


def key_arn(key_id):
    return "acs:kms:%s:%s:key/%s" % (REGION, ACCOUNT_ID, key_id)


def alias_arn(alias_name):
    return "acs:kms:%s:%s:alias/%s" % (REGION, ACCOUNT_ID, alias_name[len("alias/"):])


def unique_alias(prefix="sdk-test"):
    return "alias/%s-%s" % (prefix, uuid.uuid4().hex[:16])


def create_key(client, **kwargs):
    """CreateKey; returns the KeyMetadata dict."""
    return body_map(client.create_key(models().CreateKeyRequest(**kwargs)))["KeyMetadata"]


def describe_key(client, key_id):
    return body_map(client.describe_key(models().DescribeKeyRequest(key_id=key_id)))["KeyMetadata"]


def disable_key(client, key_id):
    return client.disable_key(models().DisableKeyRequest(key_id=key_id))


def enable_key(client, key_id):
    return client.enable_key(models().EnableKeyRequest(key_id=key_id))


def schedule_key_deletion(client, key_id, days=7):
    return client.schedule_key_deletion(models().ScheduleKeyDeletionRequest(
        key_id=key_id, pending_window_in_days=days))


def cancel_key_deletion(client, key_id):
    return client.cancel_key_deletion(models().CancelKeyDeletionRequest(key_id=key_id))


def create_alias(client, alias_name, key_id):
    return client.create_alias(models().CreateAliasRequest(alias_name=alias_name, key_id=key_id))
