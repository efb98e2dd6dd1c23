"""RAM roles and STS 2015-04-01 with the official alibabacloud-ram20150501 and
alibabacloud-sts20150401 SDKs: AssumeRole returns STS.-prefixed temporary credentials whose
SecurityToken (V3 header or V1 parameter) makes KMS requests act as the role session."""
import json
import uuid

import pytest

import kms_support as ks
from test_ram import m, ram_client

TRUST_ACCOUNT = json.dumps({"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::%s:root" % ks.ACCOUNT_ID]}}]})


def sts_client(server, ak=None, sk=None, token=None):
    from alibabacloud_sts20150401.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(access_key_id=ak or server.access_key_id,
                                 access_key_secret=sk or server.access_key_secret, security_token=token,
                                 endpoint=server.endpoint, protocol="http", region_id=ks.REGION)
    return Client(cfg)


def sts_models():
    from alibabacloud_sts20150401 import models
    return models


def kms_with(server, creds, signature="v3"):
    from alibabacloud_kms20160120.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                                 security_token=creds.security_token, endpoint=server.endpoint,
                                 protocol="http", region_id=ks.REGION)
    if signature == "v1":
        cfg.signature_algorithm = "v2"
    return Client(cfg)


@pytest.fixture
def ram(server):
    return ram_client(server)


def new_role(ram, trust=TRUST_ACCOUNT, policies=()):
    name = "role-" + uuid.uuid4().hex[:12]
    ram.create_role(m().CreateRoleRequest(role_name=name, assume_role_policy_document=trust))
    for policy_type, policy_name in policies:
        ram.attach_policy_to_role(m().AttachPolicyToRoleRequest(
            policy_type=policy_type, policy_name=policy_name, role_name=name))
    return name


def role_arn(name):
    return "acs:ram::%s:role/%s" % (ks.ACCOUNT_ID, name)


def default_assumer(server):
    """A RAM user allowed sts:AssumeRole on every role, made once per server: the account's root
    key may not assume roles (as on Alibaba Cloud)."""
    key = getattr(server, "_sts_assumer", None)
    if key is None:
        ram = ram_client(server)
        user = "assumer-" + uuid.uuid4().hex[:12]
        ram.create_user(m().CreateUserRequest(user_name=user))
        policy = "assume-" + uuid.uuid4().hex[:12]
        ram.create_policy(m().CreatePolicyRequest(policy_name=policy, policy_document=json.dumps(
            {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})))
        ram.attach_policy_to_user(m().AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy,
                                                                user_name=user))
        key = ram.create_access_key(m().CreateAccessKeyRequest(user_name=user)).body.access_key
        server._sts_assumer = key
    return key


def assume(server, name, session="session-1", policy=None, duration=None, ak=None, sk=None):
    """AssumeRole as `ak`/`sk`, by default as a RAM user allowed to assume any role."""
    if ak is None:
        key = default_assumer(server)
        ak, sk = key.access_key_id, key.access_key_secret
    req = sts_models().AssumeRoleRequest(role_arn=role_arn(name), role_session_name=session,
                                         policy=policy, duration_seconds=duration)
    return sts_client(server, ak, sk).assume_role(req).body


def test_role_lifecycle(ram):
    name = "role-" + uuid.uuid4().hex[:12]
    role = ram.create_role(m().CreateRoleRequest(role_name=name, assume_role_policy_document=TRUST_ACCOUNT,
                                                 description="reads app secrets")).body.role
    assert (role.role_name, role.arn, role.max_session_duration) == (name, role_arn(name), 3600)
    with ks.expect_error("EntityAlreadyExists.Role", 409):
        ram.create_role(m().CreateRoleRequest(role_name=name, assume_role_policy_document=TRUST_ACCOUNT))
    got = ram.get_role(m().GetRoleRequest(role_name=name)).body.role
    assert json.loads(got.assume_role_policy_document) == json.loads(TRUST_ACCOUNT)
    assert got.description == "reads app secrets" and got.role_id == role.role_id
    listed = ram.list_roles(m().ListRolesRequest(max_items=1000)).body.roles.role
    assert name in [r.role_name for r in listed]
    ram.attach_policy_to_role(m().AttachPolicyToRoleRequest(policy_type="System",
                                                            policy_name="AliyunKMSReadOnlyAccess", role_name=name))
    with ks.expect_error("DeleteConflict.Role.Policy", 409):
        ram.delete_role(m().DeleteRoleRequest(role_name=name))
    ram.detach_policy_from_role(m().DetachPolicyFromRoleRequest(policy_type="System",
                                                                policy_name="AliyunKMSReadOnlyAccess", role_name=name))
    ram.delete_role(m().DeleteRoleRequest(role_name=name))
    with ks.expect_error("EntityNotExist.Role", 404):
        ram.get_role(m().GetRoleRequest(role_name=name))
    with ks.expect_error("MalformedPolicyDocument", 400):
        ram.create_role(m().CreateRoleRequest(role_name=name, assume_role_policy_document=json.dumps(
            {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Principal": {"RAM": "*"}}]})))


@pytest.mark.parametrize("signature", ["v3", "v1"])
def test_session_credentials_act_as_the_role(server, kms_client, ram, signature):
    mine, other = "app/" + uuid.uuid4().hex[:12], "db/" + uuid.uuid4().hex[:12]
    ks.create_secret(kms_client, mine, data="role-read")
    ks.create_secret(kms_client, other, data="x")
    policy = "p-" + uuid.uuid4().hex[:12]
    ram.create_policy(m().CreatePolicyRequest(policy_name=policy, policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:GetSecretValue",
                                        "Resource": "acs:kms:*:*:secret/app/*"}]})))
    name = new_role(ram, policies=[("Custom", policy)])
    body = assume(server, name, duration=900)
    creds = body.credentials
    assert creds.access_key_id.startswith("STS.") and creds.security_token
    assert ks.TIME_RE.match(creds.expiration)
    assert body.assumed_role_user.arn == "acs:ram::%s:role/%s/session-1" % (ks.ACCOUNT_ID, name)
    kms = kms_with(server, creds, signature)
    assert ks.get_secret_value(kms, mine).body.secret_data == "role-read"
    with ks.expect_error("Forbidden.NoPermission", 403):
        ks.get_secret_value(kms, other)
    who = sts_client(server, creds.access_key_id, creds.access_key_secret, creds.security_token) \
        .get_caller_identity().body
    assert who.identity_type == "AssumedRoleUser"
    assert who.arn == "acs:ram::%s:assumed-role/%s/session-1" % (ks.ACCOUNT_ID, name)
    assert who.account_id == ks.ACCOUNT_ID and who.role_id


def test_session_policy_only_narrows(server, kms_client, ram):
    a, b = "app/" + uuid.uuid4().hex[:12], "app/" + uuid.uuid4().hex[:12]
    ks.create_secret(kms_client, a, data="a")
    ks.create_secret(kms_client, b, data="b")
    name = new_role(ram, policies=[("System", "AliyunKMSSecretUserAccess")])
    narrow = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": ks.secret_arn(a)}]})
    kms = kms_with(server, assume(server, name, policy=narrow).credentials)
    assert ks.get_secret_value(kms, a).body.secret_data == "a"
    with ks.expect_error("Forbidden.NoPermission", 403):
        ks.get_secret_value(kms, b)
    with ks.expect_error("Forbidden.NoPermission", 403):
        ks.put_secret_value(kms, a, "v2", "new")


def test_secret_policy_can_grant_a_role(server, kms_client, ram):
    secret = "app/" + uuid.uuid4().hex[:12]
    ks.create_secret(kms_client, secret, data="granted")
    name = new_role(ram)
    kms = kms_with(server, assume(server, name).credentials)
    with ks.expect_error("Forbidden.NoPermission", 403):
        ks.get_secret_value(kms, secret)
    policy = {"Version": "1", "Statement": [
        {"Effect": "Allow", "Principal": {"RAM": [role_arn(name)]}, "Action": ["kms:GetSecretValue"],
         "Resource": ["*"]}]}
    kms_client.set_secret_policy(ks.models().SetSecretPolicyRequest(secret_name=secret, policy=json.dumps(policy)))
    assert ks.get_secret_value(kms, secret).body.secret_data == "granted"


def test_tokens_are_checked(server, ram):
    name = new_role(ram, policies=[("System", "AliyunKMSReadOnlyAccess")])
    one, two = assume(server, name, "one").credentials, assume(server, name, "two").credentials
    from alibabacloud_kms20160120.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    swapped = Client(open_api_models.Config(
        access_key_id=one.access_key_id, access_key_secret=one.access_key_secret, security_token=two.security_token,
        endpoint=server.endpoint, protocol="http", region_id=ks.REGION))
    with ks.expect_error("InvalidSecurityToken.MismatchWithAccessKey", 400):
        swapped.list_secrets(ks.models().ListSecretsRequest())
    missing = Client(open_api_models.Config(
        access_key_id=one.access_key_id, access_key_secret=one.access_key_secret,
        endpoint=server.endpoint, protocol="http", region_id=ks.REGION))
    with ks.expect_error("InvalidSecurityToken.Malformed", 400):
        missing.list_secrets(ks.models().ListSecretsRequest())
    kms_with(server, one).list_secrets(ks.models().ListSecretsRequest())


def test_who_may_assume_a_role(server, ram):
    user = "u-" + uuid.uuid4().hex[:12]
    ram.create_user(m().CreateUserRequest(user_name=user))
    key = ram.create_access_key(m().CreateAccessKeyRequest(user_name=user)).body.access_key
    trusting_user = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"RAM": ["acs:ram::%s:user/%s" % (ks.ACCOUNT_ID, user)]}}]})
    trusted, untrusted = new_role(ram, trust=trusting_user), new_role(ram)
    # The trust policy is not enough: the user needs sts:AssumeRole from its own policies.
    with ks.expect_error("NoPermission", 403):
        assume(server, trusted, ak=key.access_key_id, sk=key.access_key_secret)
    policy = "p-" + uuid.uuid4().hex[:12]
    ram.create_policy(m().CreatePolicyRequest(policy_name=policy, policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})))
    ram.attach_policy_to_user(m().AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy, user_name=user))
    creds = assume(server, trusted, ak=key.access_key_id, sk=key.access_key_secret).credentials
    assert creds.access_key_id.startswith("STS.")
    # The account-wide trust does not name the user, but defers to its identity policy: allowed.
    assume(server, untrusted, ak=key.access_key_id, sk=key.access_key_secret)
    deny_trust = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::%s:root" % ks.ACCOUNT_ID]}},
        {"Effect": "Deny", "Action": "sts:AssumeRole",
         "Principal": {"RAM": ["acs:ram::%s:user/%s" % (ks.ACCOUNT_ID, user)]}}]})
    denied = new_role(ram, trust=deny_trust)
    with ks.expect_error("NoPermission", 403):
        assume(server, denied, ak=key.access_key_id, sk=key.access_key_secret)
    with ks.expect_error("NoPermission", 403):
        assume(server, untrusted, ak=server.access_key_id, sk=server.access_key_secret)
    with ks.expect_error("EntityNotExist.Role", 404):
        assume(server, "no-such-role")
    with ks.expect_error("InvalidParameter", 400):
        assume(server, trusted, duration=100)
    who = sts_client(server, key.access_key_id, key.access_key_secret).get_caller_identity().body
    assert (who.identity_type, who.arn) == ("RAMUser", "acs:ram::%s:user/%s" % (ks.ACCOUNT_ID, user))
    root = sts_client(server).get_caller_identity().body
    assert (root.identity_type, root.arn) == ("Account", "acs:ram::%s:root" % ks.ACCOUNT_ID)
