"""Transport, signatures, authentication order and error shapes (kms-api.md 1 and 2), with raw HTTP."""
import hashlib
import json
import re
import urllib.parse
from pathlib import Path

import pytest

import kms_support as ks
import signer
from kms_support import assert_error_response, assert_success_response, create_secret, expect_error
from rawkms import send, send_raw_socket

DATA = Path(__file__).parent / "data"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def load_trace(name):
    return json.loads((DATA / name).read_text("utf-8"))


@pytest.fixture
def secret(kms_client, unique_name):
    """Name of an existing Generic secret whose value is 'proto-value'."""
    name = unique_name()
    create_secret(kms_client, name, data="proto-value")
    return name


# ---- the test signer itself, against captured SDK requests ------------------------------------


@pytest.mark.parametrize("trace", ["legacy-python_02_GetSecretValue.json", "tea-python-v1_01_CreateSecret.json",
                                   "node-popcore_01_CreateSecret.json"])
def test_signer_v1_reproduces_captured_sdk_signature(trace):
    t = load_trace(trace)
    params = [tuple(p) for p in t["query"]] + [tuple(p) for p in t["form"]]
    sent = dict(params)["Signature"]
    sig, _ = signer.v1_sign(t["method"], params, ks.TRACE_SK)
    assert sig == sent


def test_signer_v1_hmac_matches_documentation_vector():
    # the docs print this StringToSign (with literal '&' separators) and its signature
    sts = ("GET&%2F&AccessKeyId%3Dtestid&Action%3DCreateKey&Format%3Djson&SignatureMethod%3DHMAC-SHA1"
           "&SignatureVersion%3D1.0&Timestamp%3D2016-03-28T03%253A13%253A08Z&Version%3D2016-01-20")
    assert signer.v1_signature("testsecret", sts) == "s/OdVWMTmNGagvWlljdAJ7Itsew="


@pytest.mark.parametrize("trace", ["tea-python-v3_02_GetSecretValue.json", "node-openapi-v3_01_CreateSecret.json"])
def test_signer_v3_reproduces_captured_sdk_signature(trace):
    t = load_trace(trace)
    headers = {k.lower(): v for k, v in t["headers"]}
    _, auth = signer.parse_v3_authorization(headers["authorization"])
    signed = auth["SignedHeaders"].split(";")
    body = (t["body"] or "").encode("utf-8")
    assert hashlib.sha256(body).hexdigest() == headers["x-acs-content-sha256"]
    creq = signer.v3_canonical_request(t["method"], [tuple(p) for p in t["query"]], headers, signed,
                                       headers["x-acs-content-sha256"])
    assert signer.v3_signature(ks.TRACE_SK, signer.v3_string_to_sign(creq)) == auth["Signature"]


# ---- signature failures ------------------------------------------------------------------------


def test_v1_bad_signature_is_signature_does_not_match_with_server_string_to_sign(raw, secret):
    resp = raw.v1("GetSecretValue", {"SecretName": secret}, tamper=True)
    body = assert_error_response(resp, "SignatureDoesNotMatch", 400)
    assert ":" in body["Message"]
    # aliyun-python-sdk-core compares Message.split(':')[1] with its own StringToSign
    assert body["Message"].split(":")[1] == resp.string_to_sign


def test_v3_bad_signature_is_signature_does_not_match_with_colon_in_message(raw, secret):
    resp = raw.v3("GetSecretValue", {"SecretName": secret}, tamper=True)
    body = assert_error_response(resp, "SignatureDoesNotMatch", 400)
    assert ":" in body["Message"]


@pytest.mark.parametrize("style", ["v3", "v1"])
def test_generated_sdk_with_wrong_secret_gets_signature_does_not_match(server, secret, style):
    client = server.client(style, sk="wrongSecret")
    with expect_error("SignatureDoesNotMatch", 400):
        ks.get_secret_value(client, secret)


def test_legacy_sdk_with_wrong_secret_raises_server_exception_not_index_error(server, secret):
    from aliyunsdkcore.acs_exception.exceptions import ServerException

    legacy = server.legacy(sk="wrongSecret")
    try:
        legacy.call(ks.LegacyKms.request("GetSecretValue", SecretName=secret))
    except ServerException as e:
        assert e.get_http_status() == 400
        # the core turns SignatureDoesNotMatch into InvalidAccessKeySecret when the server's
        # "string to sign is:<...>" equals its own: proves the message format and the StringToSign
        assert e.get_error_code() == "InvalidAccessKeySecret", (e.get_error_code(), e.get_error_msg())
    else:
        pytest.fail("request with a wrong AccessKeySecret succeeded")


def test_v1_tampered_form_body_is_rejected(raw, unique_name):
    name = unique_name()
    q, _ = raw.v1_params("CreateSecret", {"SecretName": name, "VersionId": "v1"}, form={"SecretData": "original"})
    target = "/?" + urllib.parse.urlencode(list(q.items()))
    resp = send(raw.endpoint, "POST", target, {"Content-Type": "application/x-www-form-urlencoded"},
                b"SecretData=tampered")
    assert_error_response(resp, "SignatureDoesNotMatch", 400)
    ks.assert_secret_absent(ks.generated_client(raw.endpoint, raw.ak, raw.secret), name)


def test_v3_body_not_matching_content_sha256_is_rejected(raw, unique_name):
    name = unique_name()
    method, target, headers, _ = raw.v3_request("CreateSecret", {"SecretName": name, "VersionId": "v1"},
                                                {"SecretData": "original"})
    resp = send(raw.endpoint, method, target, headers, b"SecretData=tampered")
    assert resp.status in ks.CLIENT_4XX, resp
    assert resp.json().get("Code"), resp
    ks.assert_secret_absent(ks.generated_client(raw.endpoint, raw.ak, raw.secret), name)


@pytest.mark.parametrize("version", ["v1", "v3"])
def test_unknown_access_key_id_is_not_found(raw, secret, version):
    if version == "v1":
        resp = raw.v1("GetSecretValue", {"SecretName": secret}, ak="noSuchAccessKey")
    else:
        resp = raw.v3("GetSecretValue", {"SecretName": secret}, ak="noSuchAccessKey")
    assert_error_response(resp, "InvalidAccessKeyId.NotFound", 404)


def test_generated_sdk_with_unknown_access_key_id_gets_404(server, secret):
    with expect_error("InvalidAccessKeyId.NotFound", 404):
        ks.get_secret_value(server.client("v3", ak="noSuchAccessKey"), secret)


# ---- freshness ---------------------------------------------------------------------------------


def test_v1_replayed_signature_nonce_is_rejected(raw, secret):
    nonce, ts = signer.new_nonce(), signer.utc_timestamp()
    first = raw.v1("GetSecretValue", {"SecretName": secret}, nonce=nonce, timestamp=ts)
    assert_success_response(first)
    again = raw.v1("GetSecretValue", {"SecretName": secret}, nonce=nonce, timestamp=ts)
    assert_error_response(again, "SignatureNonceUsed", 400)


def test_v3_replayed_signature_nonce_is_rejected(raw, secret):
    method, target, headers, body = raw.v3_request("GetSecretValue", {"SecretName": secret})
    assert_success_response(send(raw.endpoint, method, target, headers, body))
    assert_error_response(send(raw.endpoint, method, target, headers, body), "SignatureNonceUsed", 400)


@pytest.mark.parametrize("offset_minutes", [-20, 20])
def test_v1_timestamp_outside_15_minutes_is_expired(raw, secret, offset_minutes):
    resp = raw.v1("GetSecretValue", {"SecretName": secret}, timestamp=signer.utc_timestamp(offset_minutes * 60))
    assert_error_response(resp, "InvalidTimeStamp.Expired", 400)


@pytest.mark.parametrize("offset_minutes", [-20, 20])
def test_v3_date_outside_15_minutes_is_expired(raw, secret, offset_minutes):
    resp = raw.v3("GetSecretValue", {"SecretName": secret}, date=signer.utc_timestamp(offset_minutes * 60))
    assert_error_response(resp, "InvalidTimeStamp.Expired", 400)


def test_timestamp_10_minutes_old_is_still_accepted(raw, secret):
    assert_success_response(raw.v1("GetSecretValue", {"SecretName": secret},
                                   timestamp=signer.utc_timestamp(-600)))
    assert_success_response(raw.v3("GetSecretValue", {"SecretName": secret}, date=signer.utc_timestamp(-600)))


def test_v1_unparseable_timestamp_is_illegal_timestamp(raw, secret):
    resp = raw.v1("GetSecretValue", {"SecretName": secret}, timestamp="yesterday")
    assert_error_response(resp, "IllegalTimestamp", 400)


# ---- version and action ------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["v1", "v3"])
def test_wrong_api_version_is_invalid_version(raw, secret, style):
    if style == "v1":
        resp = raw.v1("GetSecretValue", {"SecretName": secret}, version="2015-01-01")
    else:
        resp = raw.v3("GetSecretValue", {"SecretName": secret}, version="2015-01-01")
    assert_error_response(resp, "InvalidVersion", 400)


@pytest.mark.parametrize("style", ["v1", "v3"])
def test_unknown_action_is_invalid_action_not_found(raw, style):
    resp = raw.v1("FrobnicateSecret", {}) if style == "v1" else raw.v3("FrobnicateSecret", {})
    assert_error_response(resp, "InvalidAction.NotFound", 404)


ASYM_PARAMS = {"KeyId": ks.UNKNOWN_KEY_ID, "KeyVersionId": "00000000-0000-0000-0000-000000000000",
               "Algorithm": "RSA_PSS_SHA_256", "Digest": "ZGlnZXN0"}


@pytest.mark.parametrize("style", ["v1", "v3"])
def test_unimplemented_kms_action_is_unsupported_operation(raw, style):
    resp = raw.v1("AsymmetricSign", ASYM_PARAMS) if style == "v1" else raw.v3("AsymmetricSign", ASYM_PARAMS)
    assert_error_response(resp, "UnsupportedOperation", 400)


@pytest.mark.parametrize("action", ["FrobnicateSecret", "AsymmetricSign"])
def test_badly_signed_request_gets_signature_error_before_action_error(raw, action):
    assert_error_response(raw.v1(action, ASYM_PARAMS, tamper=True), "SignatureDoesNotMatch", 400)
    assert_error_response(raw.v3(action, ASYM_PARAMS, tamper=True), "SignatureDoesNotMatch", 400)
    assert_error_response(raw.v1(action, ASYM_PARAMS, ak="noSuchAccessKey"), "InvalidAccessKeyId.NotFound", 404)


@pytest.mark.parametrize("action", ["FrobnicateSecret", "AsymmetricSign", "GetSecretValue"])
def test_unsigned_request_is_incomplete_signature_whatever_the_action(server, action):
    params = {"Action": action, "Version": signer.API_VERSION, "Format": "JSON", "SecretName": "x"}
    params.update(ASYM_PARAMS)
    resp = send(server.endpoint, "GET", "/?" + urllib.parse.urlencode(params))
    assert_error_response(resp, "IncompleteSignature", 400)
    resp = send(server.endpoint, "POST", "/?SecretName=x", {
        "x-acs-action": action, "x-acs-version": signer.API_VERSION, "x-acs-date": signer.utc_timestamp(),
        "x-acs-signature-nonce": signer.new_nonce(), "x-acs-content-sha256": signer.EMPTY_SHA256})
    assert_error_response(resp, "IncompleteSignature", 400)


# ---- response shapes ---------------------------------------------------------------------------


def test_error_body_has_request_id_host_id_code_message_recommend_http_status(raw, unique_name):
    resp = raw.v1("GetSecretValue", {"SecretName": unique_name("never-created")})
    body = assert_error_response(resp, "Forbidden.ResourceNotFound", 404)
    assert UUID_RE.match(body["RequestId"]), body
    assert isinstance(body["HttpStatus"], int)
    assert body["HostId"] and body["Recommend"]
    assert (resp.header("Content-Type") or "").startswith("application/json"), resp.headers


def test_success_bodies_never_contain_code(raw, unique_name):
    name = unique_name()
    bodies = [
        raw.v1("CreateSecret", {"SecretName": name, "VersionId": "v1"}, form={"SecretData": "a"}),
        raw.v1("PutSecretValue", {"SecretName": name, "VersionId": "v2"}, form={"SecretData": "b"}),
        raw.v1("GetSecretValue", {"SecretName": name}),
        raw.v1("DescribeSecret", {"SecretName": name}),
        raw.v1("ListSecretVersionIds", {"SecretName": name}),
        raw.v3("GetSecretValue", {"SecretName": name}),
        raw.v1("DeleteSecret", {"SecretName": name, "ForceDeleteWithoutRecovery": "true"}),
    ]
    for resp in bodies:
        body = assert_success_response(resp)
        assert UUID_RE.match(body["RequestId"]), body
        assert (resp.header("Content-Type") or "").startswith("application/json"), resp.headers


# ---- methods and parameter placement -----------------------------------------------------------


def test_v1_get_with_everything_in_query_works(raw, secret):
    body = assert_success_response(raw.v1("GetSecretValue", {"SecretName": secret}, method="GET"))
    assert body["SecretData"] == "proto-value"


def test_v1_post_with_everything_in_query_and_empty_body_works(raw, secret):
    body = assert_success_response(raw.v1("GetSecretValue", {"SecretName": secret}, method="POST"))
    assert body["SecretData"] == "proto-value"


def test_v1_post_with_everything_in_form_body_works(raw, secret):
    body = assert_success_response(raw.v1_all_in_body("GetSecretValue", {"SecretName": secret}))
    assert body["SecretData"] == "proto-value"


def test_v3_get_and_post_both_work(raw, secret):
    for method in ("GET", "POST"):
        body = assert_success_response(raw.v3("GetSecretValue", {"SecretName": secret}, method=method))
        assert body["SecretData"] == "proto-value"


def test_v1_parameters_split_between_query_and_form_body(raw, unique_name):
    name = unique_name()
    resp = raw.v1("CreateSecret", {"SecretName": name}, form={"VersionId": "split-v", "SecretData": "a b&c=d+e%f"})
    assert_success_response(resp)
    body = assert_success_response(raw.v1("GetSecretValue", {}, form={"SecretName": name}))
    assert (body["VersionId"], body["SecretData"]) == ("split-v", "a b&c=d+e%f")


def test_v3_parameters_split_between_query_and_form_body(raw, unique_name):
    name = unique_name()
    assert_success_response(raw.v3("CreateSecret", {"SecretName": name, "VersionId": "v1"},
                                   {"SecretData": "a b&c=d+e%f*~"}))
    body = assert_success_response(raw.v3("GetSecretValue", {}, {"SecretName": name}))
    assert body["SecretData"] == "a b&c=d+e%f*~"


@pytest.mark.parametrize("style", ["v1", "v3"])
def test_chunked_form_body_works(raw, unique_name, style):
    name = unique_name()
    value = "chunked " * 500
    if style == "v1":
        resp = raw.v1("CreateSecret", {"SecretName": name, "VersionId": "v1"}, form={"SecretData": value},
                      chunked=True)
    else:
        resp = raw.v3("CreateSecret", {"SecretName": name, "VersionId": "v1"}, {"SecretData": value}, chunked=True)
    assert_success_response(resp)
    assert assert_success_response(raw.v1("GetSecretValue", {"SecretName": name}))["SecretData"] == value


def test_v1_space_as_plus_or_percent20_and_literal_star_both_verify(raw, unique_name):
    name = unique_name()
    raw_value = "with space*star"
    for i, quote_via in enumerate((urllib.parse.quote_plus, urllib.parse.quote)):
        q, _ = raw.v1_params("CreateSecret" if i == 0 else "PutSecretValue",
                             {"SecretName": name, "VersionId": "v%d" % i, "SecretData": raw_value + str(i)})
        target = "/?" + urllib.parse.urlencode(list(q.items()), quote_via=quote_via, safe="*")
        assert_success_response(send(raw.endpoint, "POST", target))
    body = assert_success_response(raw.v1("GetSecretValue", {"SecretName": name}))
    assert body["SecretData"] == raw_value + "1"


def test_unknown_extra_parameters_are_ignored(raw, secret):
    resp = raw.v1("GetSecretValue", {"SecretName": secret, "RegionId": "cn-hangzhou", "SignatureType": "",
                                     "SomethingNew": "ignored"})
    assert assert_success_response(resp)["SecretData"] == "proto-value"


def test_put_method_is_unsupported_http_method(raw, secret):
    q, _ = raw.v1_params("GetSecretValue", {"SecretName": secret}, method="PUT")
    resp = send(raw.endpoint, "PUT", "/?" + urllib.parse.urlencode(list(q.items())))
    assert_error_response(resp, "UnsupportedHTTPMethod", 403)
    resp = send(raw.endpoint, "PUT", "/", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=b")
    assert_error_response(resp, "UnsupportedHTTPMethod", 403)


@pytest.mark.parametrize("flag,expected", [("True", True), ("true", True), ("TRUE", True),
                                           ("False", False), ("false", False)])
def test_fetch_extended_config_boolean_parses_case_insensitively(raw, kms_client, unique_name, flag, expected):
    name = unique_name()
    create_secret(kms_client, name, data=ks.RDS_SECRET_DATA, secret_type="Rds",
                  extended_config=dict(ks.RDS_EXTENDED_CONFIG))
    body = assert_success_response(raw.v1("GetSecretValue", {"SecretName": name, "FetchExtendedConfig": flag}))
    if expected:
        assert json.loads(body["ExtendedConfig"])["SecretSubType"] == "SingleUser"
    else:
        assert not body.get("ExtendedConfig"), body


def test_oversized_body_gets_a_4xx_answer_not_a_dropped_connection(raw, unique_name):
    name = unique_name()
    body = signer.form_encode({"SecretData": "x" * (2 * 1024 * 1024)}).encode()
    method, target, headers, body = raw.v3_request("CreateSecret", {"SecretName": name, "VersionId": "v1"},
                                                   body=body)
    head = "%s %s HTTP/1.1\r\n" % (method, target)
    headers = dict(headers)
    headers["Content-Length"] = str(len(body))
    headers["Connection"] = "close"
    head += "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
    resp = send_raw_socket(raw.endpoint, head.encode(), body)
    assert resp is not None, "server dropped the connection without an HTTP answer"
    assert resp.status in ks.CLIENT_4XX, resp
    ks.assert_secret_absent(ks.generated_client(raw.endpoint, raw.ak, raw.secret), name)


def test_long_query_string_of_100_kib_is_accepted(raw, unique_name):
    name = unique_name()
    value = "%&+ " * 7680  # 30720 bytes, ~90 KiB once percent-encoded in the URL
    assert_success_response(raw.v1("CreateSecret", {"SecretName": name, "VersionId": "v1", "SecretData": value}))
    assert assert_success_response(raw.v1("GetSecretValue", {"SecretName": name}))["SecretData"] == value
