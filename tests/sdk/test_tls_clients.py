"""The official clients reach openkms over HTTPS with their defaults: the protocol left as the SDK
sets it (https), certificate verification on, the generated CA trusted the way each client lets an
application trust a private CA, and nothing else changed. Each does a real round trip.

How each client is pointed at the CA (read from the pinned clients' source):

- alibabacloud-kms20160120 3.3.1 on alibabacloud-tea-openapi 0.4.6 / darabonba-core (V3 and V1
  signatures): `Config(ca=PATH)` (passed to requests as `verify`), or SSL_CERT_FILE (its SSLContext
  comes from ssl.create_default_context(), which loads OpenSSL's default paths, plus certifi).
  REQUESTS_CA_BUNDLE is NOT read (it calls Session.send, which skips requests' environment merge).
- aliyun-python-sdk-core 2.16.1 (+ aliyun-python-sdk-kms 2.16.5, whose request classes set
  protocol https): `AcsClient(verify=PATH)` or ALIBABA_CLOUD_CA_BUNDLE; its vendored requests
  reads neither SSL_CERT_FILE nor REQUESTS_CA_BUNDLE.
- alibabacloud-secretsmanager-client-v2 2.0.0: its KMS client is the Tea SDK; it sets `ca` itself
  only for KMS-instance gateway endpoints (*.cryptoservice.kms.aliyuncs.com, `caFilePath`), so for
  any other endpoint the CA comes from SSL_CERT_FILE, or from a full Config (`ca=`) given to
  DefaultSecretManagerClientBuilder.add_config().
- aliyun-secret-manager-client 0.1.5: builds `AcsClient(..., verify=False)` for KMS endpoints
  (hard-coded), so it never verifies the server; it still uses HTTPS. No setting changes that.
- alibabacloud-credentials 1.0.12 RAM-role provider: AssumeRole over https to `sts_endpoint`
  (host[:port]; default sts.aliyuncs.com, or sts.REGION.aliyuncs.com with sts_region_id /
  ALIBABA_CLOUD_STS_REGION); no CA option: SSL_CERT_FILE (same SSLContext as the Tea SDK).

The Tea runtimes keep one requests.Session per protocol://host:port for the whole process, and
its SSLContext accumulates every CA file any client loaded; the autouse fixture below drops them
around each test so that each test's own trust settings alone decide the outcome.
"""
import json
import socket
import uuid
import warnings

import pytest

import kms_support as ks
from conftest import free_port, tls_init

VALUE = '{"user":"alice","password":"p@ss w0rd&=+%*~ \u5bc6\u7801"}'
VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


def drop_sdk_sessions():
    from darabonba.core import DaraCore
    from Tea.core import TeaCore

    for cache in (DaraCore._sessions, TeaCore._sessions):
        for session in list(cache.values()):
            session.close()
        cache.clear()


@pytest.fixture(autouse=True)
def fresh_sdk_sessions(monkeypatch):
    """No cached SDK sessions and no CA environment variables from the outside."""
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "ALIBABA_CLOUD_CA_BUNDLE",
                "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    drop_sdk_sessions()
    yield
    drop_sdk_sessions()


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    """A second `openkms tls init` set: its CA did not issue the server's certificate."""
    return tls_init(tmp_path_factory.mktemp("other-tls") / "tls")


def tea(srv, **config):
    return ks.https_client(srv.tls_endpoint, srv.access_key_id, srv.access_key_secret, **config)


def make_secret(srv, files, prefix="tls", value=VALUE):
    name = ks.unique(prefix)
    ks.create_secret(tea(srv, ca=str(files.ca)), name, data=value)
    return name


# -- the generated SDK (Tea / darabonba), V3 and V1 ------------------------------------------------


@pytest.mark.parametrize("signature", ["v3", "v1"])
def test_tea_sdk_round_trip_over_default_https_trusting_config_ca(tls_server, tls_files, signature):
    client = tea(tls_server, signature=signature, ca=str(tls_files.ca))
    name = ks.unique("tls-tea-" + signature)
    created = ks.body_map(ks.create_secret(client, name, data=VALUE))
    assert (created["SecretName"], created["VersionId"], created["Arn"]) == (name, "v1", ks.secret_arn(name))
    got = ks.body_map(ks.get_secret_value(client, name))
    assert (got["SecretData"], got["VersionId"]) == (VALUE, "v1")


@pytest.mark.parametrize("signature", ["v3", "v1"])
def test_tea_sdk_trusts_a_ca_from_ssl_cert_file(tls_server, tls_files, monkeypatch, signature):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    client = tea(tls_server, signature=signature)  # no ca in the config at all
    name = ks.unique("tls-env-" + signature)
    ks.create_secret(client, name, data=VALUE)
    assert ks.body_map(ks.get_secret_value(client, name))["SecretData"] == VALUE


@pytest.mark.parametrize("trust", ["another-ca", "default-trust-store"])
def test_tea_sdk_refuses_a_server_certificate_its_trust_did_not_issue(tls_server, tls_files, other_ca, trust):
    """Verification is on: a wrong CA, or none (certifi + system store), fails the handshake and
    the request never reaches the server."""
    config = {"ca": str(other_ca.ca)} if trust == "another-ca" else {}
    name = ks.unique("tls-refused")
    with pytest.raises(Exception) as info:
        ks.create_secret(tea(tls_server, **config), name, data="must not be stored")
    assert VERIFY_FAILED in str(info.value), "expected a certificate verification failure, got %r" % info.value
    drop_sdk_sessions()
    ks.assert_secret_absent(tea(tls_server, ca=str(tls_files.ca)), name)


# -- aliyun-python-sdk-core + aliyun-python-sdk-kms (classic) --------------------------------------


def legacy_request(name, endpoint, **params):
    req = ks.LegacyKms.request(name, **params)
    req.set_endpoint(endpoint)
    return req


@pytest.mark.parametrize("trust", ["verify-argument", "ALIBABA_CLOUD_CA_BUNDLE"])
def test_classic_sdk_round_trip_over_its_default_https(tls_server, tls_files, monkeypatch, trust):
    from aliyunsdkcore.client import AcsClient

    kwargs = {}
    if trust == "verify-argument":
        kwargs["verify"] = str(tls_files.ca)
    else:
        monkeypatch.setenv("ALIBABA_CLOUD_CA_BUNDLE", str(tls_files.ca))
    client = AcsClient(tls_server.access_key_id, tls_server.access_key_secret, ks.REGION, **kwargs)
    name = ks.unique("tls-classic")
    create = legacy_request("CreateSecret", tls_server.tls_endpoint, SecretName=name, VersionId="v1",
                            SecretData=VALUE)
    assert create.get_protocol_type() == "https", "aliyun-python-sdk-kms requests default to https"
    created = json.loads(client.do_action_with_exception(create))
    assert (created["SecretName"], created["VersionId"]) == (name, "v1")
    got = json.loads(client.do_action_with_exception(
        legacy_request("GetSecretValue", tls_server.tls_endpoint, SecretName=name)))
    assert got["SecretData"] == VALUE


@pytest.mark.parametrize("trust", ["another-ca", "default-trust-store"])
def test_classic_sdk_refuses_a_server_certificate_its_trust_did_not_issue(tls_server, tls_files, other_ca, trust):
    from aliyunsdkcore.acs_exception.exceptions import ClientException
    from aliyunsdkcore.client import AcsClient

    kwargs = {"verify": str(other_ca.ca)} if trust == "another-ca" else {}
    client = AcsClient(tls_server.access_key_id, tls_server.access_key_secret, ks.REGION, auto_retry=False, **kwargs)
    name = ks.unique("tls-classic-refused")
    with pytest.raises(ClientException) as info:
        client.do_action_with_exception(legacy_request("CreateSecret", tls_server.tls_endpoint, SecretName=name,
                                                       VersionId="v1", SecretData="must not be stored"))
    assert info.value.get_error_code() == "SDK.HttpError" and VERIFY_FAILED in str(info.value), info.value
    ks.assert_secret_absent(tea(tls_server, ca=str(tls_files.ca)), name)


# -- the caching clients --------------------------------------------------------------------------


def cache_env(monkeypatch, srv, region_info):
    """The caching clients' documented environment configuration (credentials_type=ak)."""
    monkeypatch.setenv("cache_client_region_id", json.dumps([region_info]))
    monkeypatch.setenv("credentials_type", "ak")
    monkeypatch.setenv("credentials_access_key_id", srv.access_key_id)
    monkeypatch.setenv("credentials_access_secret", srv.access_key_secret)


@pytest.fixture
def in_empty_dir(tmp_path, monkeypatch):
    """The caching clients also read ./secretsmanager.properties: run them where there is none."""
    monkeypatch.chdir(tmp_path)


def test_secretsmanager_client_v2_from_environment_reads_a_secret(tls_server, tls_files, monkeypatch, in_empty_dir):
    from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import \
        SecretManagerCacheClientBuilder

    name = make_secret(tls_server, tls_files, "tls-cache-v2")
    cache_env(monkeypatch, tls_server, {"regionId": ks.REGION, "endpoint": tls_server.tls_endpoint})
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    client = SecretManagerCacheClientBuilder.new_client()
    try:
        info = client.get_secret_info(name)
        assert (info.secret_name, info.secret_value, info.version_id) == (name, VALUE, "v1")
        assert client.get_secret_value(name) == VALUE
    finally:
        client.close()


def test_secretsmanager_client_v2_with_a_config_naming_the_ca_reads_a_secret(tls_server, tls_files, in_empty_dir):
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_credentials.models import Config as CredentialConfig
    from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import \
        SecretManagerCacheClientBuilder
    from alibabacloud_secretsmanager_client_v2.service.default_secret_manager_client_builder import \
        DefaultSecretManagerClientBuilder
    from alibabacloud_tea_openapi import models as open_api_models

    name = make_secret(tls_server, tls_files, "tls-cache-v2-config")
    credential = CredentialClient(CredentialConfig(type="access_key", access_key_id=tls_server.access_key_id,
                                                   access_key_secret=tls_server.access_key_secret))
    config = open_api_models.Config(region_id=ks.REGION, endpoint=tls_server.tls_endpoint, credential=credential,
                                    ca=str(tls_files.ca))
    secret_client = DefaultSecretManagerClientBuilder.standard().add_config(config).build()
    client = SecretManagerCacheClientBuilder.new_cache_client_builder(secret_client).build()
    try:
        assert client.get_secret_value(name) == VALUE
    finally:
        client.close()


def test_aliyun_secret_manager_client_reads_a_secret_over_https_without_verifying(tls_server, tls_files,
                                                                                  monkeypatch, in_empty_dir):
    """aliyun-secret-manager-client 0.1.5 builds its KMS AcsClient with verify=False: it reaches
    openkms over HTTPS (the warning urllib3 gives for an unverified HTTPS request proves both),
    but trusts any certificate; no setting of the client turns verification on."""
    from alibaba_cloud_secretsmanager_client.secret_manager_cache_client_builder import \
        SecretManagerCacheClientBuilder

    name = make_secret(tls_server, tls_files, "tls-cache-v1")
    cache_env(monkeypatch, tls_server, {"regionId": ks.REGION, "endpoint": tls_server.tls_endpoint})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = SecretManagerCacheClientBuilder.new_client()
        try:
            info = client.get_secret_info(name)
        finally:
            client.close()
    assert (info.secret_name, info.secret_value, info.version_id) == (name, VALUE, "v1")
    unverified = [w for w in caught if "Unverified HTTPS request" in str(w.message)]
    assert unverified, "expected the client to use HTTPS (without verification); warnings: %r" % (
        [str(w.message) for w in caught],)


# -- alibabacloud-credentials: RAM role via STS AssumeRole over HTTPS -----------------------------


def ram_over_https(srv, files):
    from alibabacloud_ram20150501.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    return Client(open_api_models.Config(access_key_id=srv.access_key_id, access_key_secret=srv.access_key_secret,
                                         endpoint=srv.tls_endpoint, region_id=ks.REGION, ca=str(files.ca)))


def role_reading_app_secrets(srv, files):
    """A RAM role trusted by the account, allowed kms:GetSecretValue on secret/app/*, and a RAM
    user allowed to assume it (the root key may not). Returns (role ARN, user's access key)."""
    from alibabacloud_ram20150501 import models as m

    ram = ram_over_https(srv, files)
    suffix = uuid.uuid4().hex[:12]
    read_policy, assume_policy = "tls-read-" + suffix, "tls-assume-" + suffix
    ram.create_policy(m.CreatePolicyRequest(policy_name=read_policy, policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:GetSecretValue",
                                        "Resource": "acs:kms:*:*:secret/app/*"}]})))
    role = "tls-role-" + suffix
    trust = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::%s:root" % ks.ACCOUNT_ID]}}]})
    ram.create_role(m.CreateRoleRequest(role_name=role, assume_role_policy_document=trust))
    ram.attach_policy_to_role(m.AttachPolicyToRoleRequest(policy_type="Custom", policy_name=read_policy,
                                                          role_name=role))
    user = "tls-assumer-" + suffix
    ram.create_user(m.CreateUserRequest(user_name=user))
    ram.create_policy(m.CreatePolicyRequest(policy_name=assume_policy, policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})))
    ram.attach_policy_to_user(m.AttachPolicyToUserRequest(policy_type="Custom", policy_name=assume_policy,
                                                          user_name=user))
    key = ram.create_access_key(m.CreateAccessKeyRequest(user_name=user)).body.access_key
    return "acs:ram::%s:role/%s" % (ks.ACCOUNT_ID, role), key


def test_ram_role_credentials_assume_role_over_https_and_read_a_secret(tls_server, tls_files, monkeypatch):
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_credentials.models import Config as CredentialConfig

    mine = make_secret(tls_server, tls_files, "app/tls-role")
    other = make_secret(tls_server, tls_files, "db/tls-role")
    role_arn, key = role_reading_app_secrets(tls_server, tls_files)
    # The provider has no CA option: it trusts what OpenSSL's default paths name.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    credential = CredentialClient(CredentialConfig(
        type="ram_role_arn", access_key_id=key.access_key_id, access_key_secret=key.access_key_secret,
        role_arn=role_arn, role_session_name="tls-session", sts_endpoint=tls_server.tls_endpoint))
    temporary = credential.get_credential()
    assert temporary.access_key_id.startswith("STS.") and temporary.security_token, temporary
    client = ks.https_client(tls_server.tls_endpoint, None, None, credential=credential, ca=str(tls_files.ca))
    assert ks.body_map(ks.get_secret_value(client, mine))["SecretData"] == VALUE
    with ks.expect_error("Forbidden.NoPermission", 403):
        ks.get_secret_value(client, other)


# -- the hosts-file recipe: clients that only know a region ---------------------------------------

PUBLIC_HOSTS = ("kms.%s.aliyuncs.com" % ks.REGION, "sts.%s.aliyuncs.com" % ks.REGION)


def _can_bind_443():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 443))
        return True, None
    except OSError as exc:
        return False, exc
    finally:
        s.close()


def test_clients_configured_with_only_a_region_reach_openkms_through_a_hosts_entry(fresh_tls_server, tmp_path,
                                                                                 monkeypatch, in_empty_dir):
    """An application that sets only the region dials kms.cn-hangzhou.aliyuncs.com:443 (KMS) and
    sts.cn-hangzhou.aliyuncs.com:443 (AssumeRole), with no way to change the port. A hosts-file
    entry sends those names to openkms, whose certificate carries them. The hosts file is
    simulated in-process by patching socket.getaddrinfo (editing /etc/hosts in CI is not an
    option); openkms listens on port 443 itself, which root may bind. Without that right (a
    developer's unprivileged run) the patched resolver also maps port 443 to the server's port,
    and the test says so; it never skips."""
    from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider
    from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import \
        SecretManagerCacheClientBuilder
    from alibabacloud_secretsmanager_client_v2.service.default_secret_manager_client_builder import \
        DefaultSecretManagerClientBuilder

    files = tls_init(tmp_path / "tls", dns=("localhost",) + PUBLIC_HOSTS)
    bindable, why = _can_bind_443()
    port = 443 if bindable else free_port()
    if not bindable:
        print("port 443 cannot be bound here (%s): the simulated hosts entry also redirects port 443 to %d"
              % (why, port))
    srv = fresh_tls_server(tls=files, port=port)
    name = make_secret(srv, files, "app/tls-hosts")
    role_arn, key = role_reading_app_secrets(srv, files)

    real_getaddrinfo = socket.getaddrinfo
    dialed = []

    def hosts_file_getaddrinfo(host, port_, family=0, type=0, proto=0, flags=0):
        text = host.decode() if isinstance(host, bytes) else host
        if text in PUBLIC_HOSTS:
            dialed.append((text, port_))
            return real_getaddrinfo("127.0.0.1", port if int(port_) == 443 else port_, socket.AF_INET, type, proto,
                                    flags)
        return real_getaddrinfo(host, port_, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", hosts_file_getaddrinfo)
    monkeypatch.setenv("SSL_CERT_FILE", str(files.ca))

    # The generated SDK with a region and no endpoint.
    tea_client = ks.https_client(None, srv.access_key_id, srv.access_key_secret)
    assert ks.body_map(ks.get_secret_value(tea_client, name))["SecretData"] == VALUE

    # The v2 caching client with a region only, on RAM-role credentials from STS in that region.
    provider = RamRoleArnCredentialsProvider(access_key_id=key.access_key_id, access_key_secret=key.access_key_secret,
                                             role_arn=role_arn, role_session_name="hosts-file",
                                             sts_region_id=ks.REGION)
    secret_client = DefaultSecretManagerClientBuilder.standard().with_region(ks.REGION) \
        .with_credentials_provider(provider).build()
    client = SecretManagerCacheClientBuilder.new_cache_client_builder(secret_client).build()
    try:
        assert client.get_secret_value(name) == VALUE
    finally:
        client.close()
    assert {(h, int(p)) for h, p in dialed} == {(h, 443) for h in PUBLIC_HOSTS}, dialed
